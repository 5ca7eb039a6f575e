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
/* Bytes of register blob: 28 little-endian u64 (struct emt_regs_x86_64). */
#define EMT_REGS_X86_64_LEN (28 * 8)
/* Required features this library implements (meta "features_required"). */
#define EMT_FEATURES_KNOWN "zstd,zstd-delta,ledger-v1"

/* Canonical ledger entry text buffer size (see SPEC.md "ledger"). */
#define EMT_LEDGER_TEXT_MAX 512

/* The schema of format v1: every statement of the file's creation. */
extern const char *const emt_schema_sql;
/* Finds the statement of emt_schema_sql that creates table or index
 * `name`, as SQLite keeps it in sqlite_schema.sql (no trailing ';').
 * Returns 1 with *sql and *len pointing into emt_schema_sql (not
 * NUL-terminated), or 0 if format v1 has no such object. */
int emt_schema_statement(const char *name, const char **sql, size_t *len);

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

/* printf into a fixed message buffer. */
void emt_fmt(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Streaming SHA-256 (OpenSSL EVP), so the library has one hashing path. */
struct emt_sha;
struct emt_sha *emt_sha_new(void);
void emt_sha_update(struct emt_sha *s, const void *p, size_t n);
void emt_sha_final(struct emt_sha *s, uint8_t out[EMT_SHA256_LEN]);
void emt_sha_free(struct emt_sha *s);

#endif /* EMT_FORMAT_INTERNAL_H */
