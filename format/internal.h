/*
 * internal.h - private declarations shared by the format library's
 * writer, reader and helpers.  Nothing here is part of the contract;
 * SPEC.md and emt_archive.h are.
 */
#ifndef EMT_FORMAT_INTERNAL_H
#define EMT_FORMAT_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <sqlite3.h>

#include "emt_archive.h"

#define EMT_ERRMSG_MAX 512
/* Default zstd level; chosen by bench/bench_format.c (SPEC.md "compression"). */
#define EMT_ZSTD_LEVEL_DEFAULT 3
/* Gap offsets are multiples of this (SPEC.md section 5.7). */
#define EMT_PAGE_ALIGN 4096u
/* Bytes of register blob: 28 little-endian u64 (struct emt_regs_x86_64). */
#define EMT_REGS_X86_64_LEN (28 * 8)
/* Required features this library implements (meta "features_required"),
 * and those its writer names: it writes the ledger of SPEC.md section 9
 * (ledger-v2) and still verifies archives of earlier writers (ledger-v1). */
#define EMT_FEATURES_KNOWN "zstd,zstd-delta,ledger-v1,ledger-v2"
#define EMT_FEATURES_WRITTEN "zstd,zstd-delta,ledger-v2"
/* Optional feature of a signed archive (SPEC.md section 10.2): a reader
 * that ignores it still reads everything; a verifier that knows it
 * checks the signature and the checkpoints. */
#define EMT_FEATURE_SIGNATURE "signature-v1"

/* Canonical ledger entry text buffer size (see SPEC.md "ledger"). */
#define EMT_LEDGER_TEXT_MAX 512

/* The schema of format v1: every statement of the file's creation, those
 * of 1.0 and those 1.1 added (run after them, in this order). */
extern const char *const emt_schema_sql;
extern const char *const emt_schema_sql_1_1;
extern const char *const emt_schema_sql_1_2;
/* The statements that create an archive of minor version `minor`, in
 * the order a writer runs them (SPEC.md Appendix A): 1.0's, each
 * replaced by the newer statement of that name a later minor up to
 * `minor` defines, then those 1.1 added, then those 1.2 added.  Returns
 * a malloc'd string the caller frees, or NULL (ENOMEM). */
char *emt_schema_create_sql(uint32_t minor);
/* Finds the statement that creates table or index `name` in an archive
 * of minor version `minor` (1.1 objects are unknown to a 1.0 archive), as
 * SQLite keeps it in sqlite_schema.sql (no trailing ';').  Returns 1 with
 * *sql and *len pointing into the schema text (not NUL-terminated), or 0
 * if that minor has no such object. */
int emt_schema_statement(const char *name, uint32_t minor, const char **sql, size_t *len);

/* Names of the string enums, indexed by value (index 0 unused). */
const char *emt_enum_name(const char *const *names, size_t n, uint32_t v);
int emt_enum_parse(const char *const *names, size_t n, const char *s);
extern const char *const emt_trigger_names[];
extern const size_t emt_trigger_count;
extern const char *const emt_backing_names[];
extern const size_t emt_backing_count;
extern const char *const emt_gap_names[];
extern const size_t emt_gap_count;
int emt_backing_parse(const char *s);
int emt_gap_reason_parse(const char *s);

/* Writes the canonical ledger text of a capture row into `buf` and
 * returns its length (SPEC.md "ledger"). */
size_t emt_ledger_text(char *buf, size_t cap, const struct emt_capture *c,
		       uint32_t chunk_size);
/* next = SHA-256(prev || text || content_sha). */
void emt_ledger_step(const uint8_t prev[EMT_SHA256_LEN], const char *text,
		     size_t len, const uint8_t content[EMT_SHA256_LEN],
		     uint8_t next[EMT_SHA256_LEN]);

/* ledger-v2 (SPEC.md section 9).  A row line renders each field of a
 * row: integers as the unsigned decimal of their 64 stored bits, TEXT
 * and BLOB values as the hex SHA-256 of their bytes, NULL as "-";
 * fields are separated by one space and the line ends with "\n".  A
 * rows digest is the SHA-256 of the lines of a query's rows. */
#define EMT_LINE_MAX 1024
struct emt_line {
	char buf[EMT_LINE_MAX];
	size_t n;
};
struct emt_sha;
void emt_line_int(struct emt_line *l, int64_t v);
/* Appends `len` bytes as they are (enum names, fixed words). */
void emt_line_str(struct emt_line *l, const char *s, size_t len);
/* Appends the hex SHA-256 of `len` bytes at p, or "-" if p is NULL. */
void emt_line_bytes(struct emt_line *l, const void *p, size_t len);
void emt_line_digest(struct emt_line *l, const uint8_t d[EMT_SHA256_LEN]);
/* Terminates the line, feeds it to `sha` and empties `l`. */
void emt_line_end(struct emt_line *l, struct emt_sha *sha);
/* Steps `st` to its end (then resets it) and writes the digest of its
 * rows.  Returns SQLITE_OK or the SQLite error that stopped it. */
int emt_rows_digest(sqlite3_stmt *st, uint8_t out[EMT_SHA256_LEN]);

/* The stored values of a capture row that its v2 entry covers. */
struct emt_ledger_row {
	int64_t seq, region_id, version, pid, tid, prot_before, prot_after;
	int64_t addr, size, time_ns, chunk_size;
	const char *trigger;
	size_t trigger_len;
};
/* Canonical text of a v2 entry into `l` (no newline); digests are, in
 * order, the capture's gaps, registers, region and process digests. */
void emt_ledger_text_v2(struct emt_line *l, const struct emt_ledger_row *row,
			const uint8_t (*digests)[EMT_SHA256_LEN]);
/* The writer's side of those digests, from the values it binds (they
 * equal the rows digests of SPEC.md's queries over what it stored).
 * Gaps need not be sorted; -ENOMEM if the sorted copy fails. */
int emt_gaps_digest(const struct emt_gap *gaps, size_t n, uint8_t out[EMT_SHA256_LEN]);
void emt_regs_digest(const uint8_t *blob, size_t len, uint8_t out[EMT_SHA256_LEN]);
void emt_region_digest(const struct emt_region *r, const char *backing, size_t path_len,
		       uint8_t out[EMT_SHA256_LEN]);
void emt_process_digest(const struct emt_process *p, size_t exe_len, size_t cmd_len,
			uint8_t out[EMT_SHA256_LEN]);

/* The tables the v2 seal covers: meta key and the query whose rows
 * digest it holds (SPEC.md section 10). */
struct emt_seal_table {
	const char *key;
	const char *table;
	const char *sql;
};
extern const struct emt_seal_table emt_seal_tables[];
extern const size_t emt_seal_table_count;
/* The tables added from 1.2 on whose rows are capture evidence: the
 * writer stores the digest of each query's rows (emt_rows_digest) in
 * meta key "digest_TABLE_sha256" when it seals, before the meta digest,
 * so the seal and a signature cover them through meta and a verifier of
 * an older minor still checks everything it knows (SPEC.md 10.1).
 * Terminated by an entry whose table is NULL. */
struct emt_digest_table {
	const char *table;
	const char *sql;        /* SELECT every column ... ORDER BY a unique key */
	uint32_t since_minor;   /* archives of a lower minor lack the table */
};
extern const struct emt_digest_table emt_digest_tables[];
/* The meta key of t's digest, "digest_TABLE_sha256", into out[cap]. */
void emt_digest_key(const struct emt_digest_table *t, char *out, size_t cap);

/* seal_sha256: SHA-256 of "emt-seal-v2 CAPTURES HEAD D1 ... Dn", the
 * table digests in emt_seal_tables order. */
void emt_seal_digest(uint64_t captures, const uint8_t head[EMT_SHA256_LEN],
		     const uint8_t (*tables)[EMT_SHA256_LEN], uint8_t out[EMT_SHA256_LEN]);

/* ---- signatures (sign.c, SPEC.md section 10.2) */

/* Parses a PEM key held in memory (a file's bytes or meta
 * sign_public_key, which is hostile): an unencrypted PKCS#8 private key
 * if `want_private`, else a SubjectPublicKeyInfo public key; Ed25519
 * only.  `name` (e.g. "'k.pem'") starts the message written to `err` on
 * failure.  Returns the key or NULL with errno set (EINVAL, E2BIG,
 * ENOMEM). */
struct emt_key *emt_key_from_pem(const char *pem, size_t len, int want_private,
				 char *err, size_t errcap, const char *name);
/* A second handle on the same key (for a writer that outlives the
 * caller's), or NULL on ENOMEM. */
struct emt_key *emt_key_dup(const struct emt_key *k);
int emt_key_has_private(const struct emt_key *k);
/* The public key as SubjectPublicKeyInfo PEM text, owned by the key. */
const char *emt_key_public_pem(const struct emt_key *k);
/* Ed25519 signature of `n` bytes: 0, -EINVAL (no private key), -ENOMEM,
 * -EIO. */
int emt_key_sign(const struct emt_key *k, const void *msg, size_t n,
		 uint8_t sig[EMT_SIGNATURE_LEN]);
/* 1 if `sig` is k's signature of the message, 0 if not, -errno. */
int emt_key_verify(const struct emt_key *k, const void *msg, size_t n,
		   const uint8_t sig[EMT_SIGNATURE_LEN]);

/* "emt-signature-v1 SEAL KEY" into buf; returns its length. */
#define EMT_SIGN_TEXT_MAX 256
size_t emt_signature_text(char *buf, size_t cap, const char *seal_hex, const char *key_hex);
/* A checkpoints row as stored (SPEC.md 10.2) and its signed text
 * "emt-checkpoint-v1 ID SEQ LEDGER TIME_NS META PREV KEY". */
struct emt_checkpoint_row {
	int64_t id, seq, time_ns;
	uint8_t ledger[EMT_SHA256_LEN], meta[EMT_SHA256_LEN], prev[EMT_SHA256_LEN];
};
size_t emt_checkpoint_text(char *buf, size_t cap, const struct emt_checkpoint_row *c,
			   const char *key_hex);

/* printf into a fixed message buffer. */
void emt_fmt(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Streaming SHA-256 (OpenSSL EVP), so the library has one hashing path. */
struct emt_sha;
struct emt_sha *emt_sha_new(void);
void emt_sha_update(struct emt_sha *s, const void *p, size_t n);
void emt_sha_final(struct emt_sha *s, uint8_t out[EMT_SHA256_LEN]);
void emt_sha_free(struct emt_sha *s);

/* Sets up a connection to a file that may be hostile, before any query:
 * extended result codes, defensive mode, trusted_schema off, triggers,
 * views and extensions disabled, no ATTACH (SPEC.md section 11). */
void emt_db_harden(sqlite3 *db);

/* ---- syscall models (model.c, model_learn.c) */
struct emt_model;
/* The program whose executable is at `path` (identified now), added if
 * new.  Returns its index, stable while learning (until the model is
 * listed), or -errno with err set. */
int emt_model_prog_for_path(struct emt_model *m, const char *path, char *err, size_t cap);
/* Counts one more thread sequence of program `prog`. */
void emt_model_count_thread(struct emt_model *m, int prog);

#endif /* EMT_FORMAT_INTERNAL_H */
