/*
 * util.c - helpers of the format library: enum names, hashing, hex,
 * messages, the v1 schema and the ledger's canonical text.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

const char *const emt_trigger_names[] = {
	NULL, "mprotect", "mmap", "first-exec-fault", "munmap", "exit",
	"exec", "baseline", "sample", "protect-w", "inject", "alert",
};
const size_t emt_trigger_count =
	sizeof(emt_trigger_names) / sizeof(emt_trigger_names[0]);

const char *const emt_backing_names[] = {
	NULL, "anon", "memfd", "file", "deleted", "shared", "other",
};
const size_t emt_backing_count =
	sizeof(emt_backing_names) / sizeof(emt_backing_names[0]);

const char *const emt_gap_names[] = {
	NULL, "unreadable", "unmapped", "truncated", "limit",
};
const size_t emt_gap_count = sizeof(emt_gap_names) / sizeof(emt_gap_names[0]);

const char *emt_enum_name(const char *const *names, size_t n, uint32_t v)
{
	return v > 0 && v < n ? names[v] : NULL;
}

int emt_enum_parse(const char *const *names, size_t n, const char *s)
{
	if (!s)
		return -EINVAL;
	for (size_t i = 1; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

const char *emt_trigger_name(enum emt_trigger t)
{
	return emt_enum_name(emt_trigger_names, emt_trigger_count, (uint32_t)t);
}

const char *emt_backing_name(enum emt_backing b)
{
	return emt_enum_name(emt_backing_names, emt_backing_count, (uint32_t)b);
}

const char *emt_gap_reason_name(enum emt_gap_reason r)
{
	return emt_enum_name(emt_gap_names, emt_gap_count, (uint32_t)r);
}

int emt_trigger_parse(const char *s)
{
	return emt_enum_parse(emt_trigger_names, emt_trigger_count, s);
}

int emt_backing_parse(const char *s)
{
	return emt_enum_parse(emt_backing_names, emt_backing_count, s);
}

int emt_gap_reason_parse(const char *s)
{
	return emt_enum_parse(emt_gap_names, emt_gap_count, s);
}

const char *emt_version(void)
{
#ifdef EMT_VERSION
	return EMT_VERSION;
#else
	return "0.0.0";
#endif
}

void emt_fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

void emt_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* SHA-256 fetched from the provider once: EVP_sha256() makes OpenSSL 3
 * look the algorithm up again (under locks) on every digest, which cost
 * more than hashing a ledger line or a small chunk. */
static EVP_MD *sha_md;
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha_fetch(void)
{
	sha_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256_md(void)
{
	pthread_once(&sha_once, sha_fetch);
	return sha_md ? sha_md : EVP_sha256();
}

struct emt_sha *emt_sha_new(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx && EVP_DigestInit_ex(ctx, sha256_md(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return (struct emt_sha *)ctx;
}

void emt_sha_update(struct emt_sha *s, const void *p, size_t n)
{
	EVP_DigestUpdate((EVP_MD_CTX *)s, p, n);
}

void emt_sha_final(struct emt_sha *s, uint8_t out[EMT_SHA256_LEN])
{
	unsigned int len = EMT_SHA256_LEN;

	EVP_DigestFinal_ex((EVP_MD_CTX *)s, out, &len);
	/* Ready for reuse: callers hash many chunks with one context. */
	EVP_DigestInit_ex((EVP_MD_CTX *)s, sha256_md(), NULL);
}

void emt_sha_free(struct emt_sha *s)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)s);
}

void emt_sha256(const void *data, size_t len, uint8_t out[EMT_SHA256_LEN])
{
	unsigned int olen = EMT_SHA256_LEN;

	/* One-shot EVP_Digest avoids a context allocation per call. */
	if (EVP_Digest(data, len, out, &olen, sha256_md(), NULL) != 1)
		memset(out, 0, EMT_SHA256_LEN);
}

size_t emt_ledger_text(char *buf, size_t cap, const struct emt_capture *c,
		       uint32_t chunk_size)
{
	const char *tn = emt_trigger_name((enum emt_trigger)c->trigger);
	int n;

	/* SPEC.md "ledger": fixed field order, decimal, single spaces, the
	 * unsigned value of every integer.  Any change is a new format. */
	n = snprintf(buf, cap,
		     "emt-ledger-v1 %" PRIu64 " %" PRId64 " %" PRIu32 " %" PRIu32
		     " %" PRIu32 " %s %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64
		     " %" PRIu64 " %" PRIu32,
		     c->seq, c->region_id, c->version, c->pid, c->tid,
		     tn ? tn : "?", c->prot_before, c->prot_after, c->addr,
		     c->size, c->time_ns, chunk_size);
	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}

void emt_ledger_step(const uint8_t prev[EMT_SHA256_LEN], const char *text,
		     size_t len, const uint8_t content[EMT_SHA256_LEN],
		     uint8_t next[EMT_SHA256_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int olen = EMT_SHA256_LEN;

	if (!ctx || EVP_DigestInit_ex(ctx, sha256_md(), NULL) != 1) {
		memset(next, 0, EMT_SHA256_LEN);
		EVP_MD_CTX_free(ctx);
		return;
	}
	EVP_DigestUpdate(ctx, prev, EMT_SHA256_LEN);
	EVP_DigestUpdate(ctx, text, len);
	EVP_DigestUpdate(ctx, content, EMT_SHA256_LEN);
	EVP_DigestFinal_ex(ctx, next, &olen);
	EVP_MD_CTX_free(ctx);
}

/* ---------------------------------------------------------------- ledger-v2
 * Row lines and digests (SPEC.md section 9): each field of a row is
 * written the same way whatever its column, so that writer, verifier and
 * an independent reader cannot disagree on a rendering rule. */

static void line_sep(struct emt_line *l)
{
	if (l->n && l->n < sizeof(l->buf))
		l->buf[l->n++] = ' ';
}

void emt_line_int(struct emt_line *l, int64_t v)
{
	char d[20];     /* 2^64 - 1 has 20 digits */
	size_t n = 0, room;
	uint64_t u = (uint64_t)v;

	line_sep(l);
	/* By hand: snprintf cost more than the rest of a ledger entry, and
	 * the seal formats every row of every table it covers.  The bytes
	 * are those of "%" PRIu64, also where the line is full: what fits
	 * and a NUL, the length clamped to the buffer (as snprintf did). */
	do {
		d[sizeof(d) - ++n] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	room = sizeof(l->buf) - l->n;
	if (room) {
		size_t k = n < room ? n : room - 1;

		memcpy(l->buf + l->n, d + sizeof(d) - n, k);
		l->buf[l->n + k] = '\0';
	}
	l->n = l->n + n < sizeof(l->buf) ? l->n + n : sizeof(l->buf);
}

void emt_line_str(struct emt_line *l, const char *s, size_t len)
{
	line_sep(l);
	if (len > sizeof(l->buf) - l->n)
		len = sizeof(l->buf) - l->n;
	memcpy(l->buf + l->n, s, len);
	l->n += len;
}

void emt_line_bytes(struct emt_line *l, const void *p, size_t len)
{
	uint8_t h[EMT_SHA256_LEN];
	char hex[2 * EMT_SHA256_LEN + 1];

	if (!p) {
		emt_line_str(l, "-", 1);
		return;
	}
	emt_sha256(p, len, h);
	emt_hex(h, EMT_SHA256_LEN, hex);
	emt_line_str(l, hex, 2 * EMT_SHA256_LEN);
}

void emt_line_digest(struct emt_line *l, const uint8_t d[EMT_SHA256_LEN])
{
	char hex[2 * EMT_SHA256_LEN + 1];

	emt_hex(d, EMT_SHA256_LEN, hex);
	emt_line_str(l, hex, 2 * EMT_SHA256_LEN);
}

void emt_line_end(struct emt_line *l, struct emt_sha *sha)
{
	if (l->n < sizeof(l->buf))
		l->buf[l->n++] = '\n';
	emt_sha_update(sha, l->buf, l->n);
	l->n = 0;
}

int emt_rows_digest(sqlite3_stmt *st, uint8_t out[EMT_SHA256_LEN])
{
	struct emt_sha *sha = emt_sha_new();
	struct emt_line l = { .n = 0 };
	int rc, ncol = sqlite3_column_count(st);

	if (!sha)
		return SQLITE_NOMEM;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < ncol; i++) {
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				emt_line_int(&l, sqlite3_column_int64(st, i));
				break;
			case SQLITE_NULL:
				emt_line_str(&l, "-", 1);
				break;
			case SQLITE_TEXT:
			case SQLITE_BLOB: {
				/* column_blob of an empty value is NULL: still
				 * a value, the hash of no bytes. */
				const void *p = sqlite3_column_blob(st, i);
				int n = sqlite3_column_bytes(st, i);

				emt_line_bytes(&l, p ? p : "", (size_t)(n > 0 ? n : 0));
				break;
			}
			default:
				/* REAL: no column of the format holds one; a
				 * mark that no writer produces. */
				emt_line_str(&l, "?", 1);
				break;
			}
		}
		emt_line_end(&l, sha);
	}
	sqlite3_reset(st);
	emt_sha_final(sha, out);
	emt_sha_free(sha);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

void emt_ledger_text_v2(struct emt_line *l, const struct emt_ledger_row *row,
			const uint8_t (*digests)[EMT_SHA256_LEN])
{
	/* SPEC.md section 9: field order of v1, then the four digests. */
	l->n = 0;
	emt_line_str(l, "emt-ledger-v2", 13);
	emt_line_int(l, row->seq);
	emt_line_int(l, row->region_id);
	emt_line_int(l, row->version);
	emt_line_int(l, row->pid);
	emt_line_int(l, row->tid);
	emt_line_str(l, row->trigger, row->trigger_len);
	emt_line_int(l, row->prot_before);
	emt_line_int(l, row->prot_after);
	emt_line_int(l, row->addr);
	emt_line_int(l, row->size);
	emt_line_int(l, row->time_ns);
	emt_line_int(l, row->chunk_size);
	for (int i = 0; i < 4; i++)
		emt_line_digest(l, digests[i]);
}

static int gap_cmp(const void *a, const void *b)
{
	const struct emt_gap *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* SHA-256 of no bytes: the gaps and registers digests of most captures
 * (no gap, no registers), taken from here rather than hashed for each. */
static const uint8_t sha256_empty[EMT_SHA256_LEN] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
	0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

int emt_gaps_digest(const struct emt_gap *gaps, size_t n, uint8_t out[EMT_SHA256_LEN])
{
	struct emt_sha *sha;
	struct emt_gap *v = NULL;
	struct emt_line l = { .n = 0 };

	if (!n) {
		memcpy(out, sha256_empty, EMT_SHA256_LEN);
		return 0;
	}
	sha = emt_sha_new();
	if (!sha)
		return -ENOMEM;
	/* In offset order, as the verifier reads them back. */
	v = malloc(n * sizeof(*v));
	if (!v) {
		emt_sha_free(sha);
		return -ENOMEM;
	}
	memcpy(v, gaps, n * sizeof(*v));
	qsort(v, n, sizeof(*v), gap_cmp);
	for (size_t i = 0; i < n; i++) {
		const char *rn = emt_gap_reason_name((enum emt_gap_reason)v[i].reason);

		emt_line_int(&l, (int64_t)v[i].offset);
		emt_line_int(&l, (int64_t)v[i].length);
		emt_line_bytes(&l, rn ? rn : "", rn ? strlen(rn) : 0);
		emt_line_int(&l, v[i].err);
		emt_line_end(&l, sha);
	}
	free(v);
	emt_sha_final(sha, out);
	emt_sha_free(sha);
	return 0;
}

void emt_regs_digest(const uint8_t *blob, size_t len, uint8_t out[EMT_SHA256_LEN])
{
	struct emt_line l = { .n = 0 };

	if (!blob) {
		memcpy(out, sha256_empty, EMT_SHA256_LEN);
		return;
	}
	emt_line_bytes(&l, EMT_ARCH_X86_64, strlen(EMT_ARCH_X86_64));
	emt_line_bytes(&l, blob, len);
	l.buf[l.n++] = '\n';
	emt_sha256(l.buf, l.n, out);
}

void emt_region_digest(const struct emt_region *r, const char *backing, size_t path_len,
		       uint8_t out[EMT_SHA256_LEN])
{
	struct emt_line l = { .n = 0 };

	emt_line_int(&l, r->process_id);
	emt_line_int(&l, r->pid);
	emt_line_bytes(&l, backing, strlen(backing));
	emt_line_int(&l, (int64_t)r->start);
	emt_line_int(&l, (int64_t)r->length);
	emt_line_int(&l, (int64_t)r->created_ns);
	emt_line_bytes(&l, r->path, path_len);
	emt_line_int(&l, (int64_t)r->inode);
	emt_line_int(&l, (int64_t)r->dev);
	emt_line_int(&l, (int64_t)r->offset);
	emt_line_int(&l, r->prot);
	l.buf[l.n++] = '\n';
	emt_sha256(l.buf, l.n, out);
}

void emt_process_digest(const struct emt_process *p, size_t exe_len, size_t cmd_len,
			uint8_t out[EMT_SHA256_LEN])
{
	struct emt_line l = { .n = 0 };

	emt_line_int(&l, p->pid);
	emt_line_int(&l, p->ppid);
	emt_line_int(&l, (int64_t)p->start_ns);
	emt_line_bytes(&l, p->exe, exe_len);
	emt_line_bytes(&l, p->cmdline, cmd_len);
	l.buf[l.n++] = '\n';
	emt_sha256(l.buf, l.n, out);
}

const struct emt_seal_table emt_seal_tables[] = {
	{ "seal_meta_sha256", "meta",
	  "SELECT key, value FROM meta WHERE key <> 'sealed' AND substr(key, 1, 5) <> 'seal_'"
	  " ORDER BY key" },
	{ "seal_processes_sha256", "processes",
	  "SELECT id, pid, ppid, start_ns, exit_ns, exit_status, has_exit, exe, cmdline"
	  " FROM processes ORDER BY id" },
	{ "seal_regions_sha256", "regions",
	  "SELECT id, process_id, pid, backing, start, length, created_ns, gone_ns, path,"
	  " inode, dev, offset, prot FROM regions ORDER BY id" },
	{ "seal_events_sha256", "events",
	  "SELECT id, time_ns, pid, tid, syscall, addr, len, prot, flags, fd, ret, seq, detail"
	  " FROM events ORDER BY id" },
	{ "seal_losses_sha256", "losses",
	  "SELECT id, kind, pid, count, first_ns, last_ns FROM losses ORDER BY id" },
};
const size_t emt_seal_table_count = sizeof(emt_seal_tables) / sizeof(emt_seal_tables[0]);

const struct emt_digest_table emt_digest_tables[] = {
	/* Injections (SPEC.md section 15). */
	{ "injections", "SELECT id, time_ns, writer_pid, writer_tid, victim_pid, method, addr,"
	  " length, word, seq FROM injections ORDER BY id", 2 },
	{ "injection_links", "SELECT seq, injection_id FROM injection_links ORDER BY seq", 2 },
	{ "follow_reasons", "SELECT process_id, reason, injection_id FROM follow_reasons"
	  " ORDER BY process_id", 2 },
	{ "syscalls",
	  "SELECT id, time_ns, exit_ns, pid, tid, uid, gid, nr, name, args, args_text, ret,"
	  " returned, flags FROM syscalls ORDER BY id", 2 },
	/* Syscall models and alerts (SPEC.md section 16). */
	{ "model_programs", "SELECT id, sha256, path, inode, dev, transitions, checked"
	  " FROM model_programs ORDER BY id", 2 },
	{ "alerts", "SELECT id, time_ns, pid, tid, program_id, depth, nr, name, syscalls, rip,"
	  " action, suppressed FROM alerts ORDER BY id", 2 },
	{ "alert_captures", "SELECT seq, alert_id FROM alert_captures ORDER BY seq", 2 },
	{ NULL, NULL, 0 },
};

void emt_digest_key(const struct emt_digest_table *t, char *out, size_t cap)
{
	snprintf(out, cap, "digest_%s_sha256", t->table);
}

void emt_seal_digest(uint64_t captures, const uint8_t head[EMT_SHA256_LEN],
		     const uint8_t (*tables)[EMT_SHA256_LEN], uint8_t out[EMT_SHA256_LEN])
{
	struct emt_line l = { .n = 0 };

	emt_line_str(&l, "emt-seal-v2", 11);
	emt_line_int(&l, (int64_t)captures);
	emt_line_digest(&l, head);
	for (size_t i = 0; i < emt_seal_table_count; i++)
		emt_line_digest(&l, tables[i]);
	emt_sha256(l.buf, l.n, out);
}

/* The captures statement around its trigger CHECK, which 1.2 changed:
 * the two statements are these with the CHECK of their minor between. */
#define CAPTURES_SQL_HEAD \
	"CREATE TABLE captures(\n" \
	"  seq INTEGER PRIMARY KEY CHECK(seq >= 1),\n" \
	"  region_id INTEGER NOT NULL REFERENCES regions(id),\n" \
	"  version INTEGER NOT NULL CHECK(version >= 1),\n" \
	"  pid INTEGER NOT NULL CHECK(pid BETWEEN 0 AND 4294967295),\n" \
	"  tid INTEGER NOT NULL CHECK(tid BETWEEN 0 AND 4294967295),\n" \
	"  trigger_name TEXT NOT NULL CHECK("
#define CAPTURES_SQL_TAIL \
	"  prot_before INTEGER NOT NULL,\n" \
	"  prot_after INTEGER NOT NULL,\n" \
	"  addr INTEGER NOT NULL,\n" \
	"  size INTEGER NOT NULL CHECK(size BETWEEN 0 AND 4294967296),\n" \
	"  time_ns INTEGER NOT NULL,\n" \
	"  chunk_size INTEGER NOT NULL CHECK(chunk_size BETWEEN 4096 AND 1048576" \
	" AND (chunk_size & (chunk_size - 1)) = 0),\n" \
	"  nchunks INTEGER NOT NULL CHECK(nchunks >= 0),\n" \
	"  stored_bytes INTEGER NOT NULL CHECK(stored_bytes >= 0),\n" \
	"  sha256 BLOB NOT NULL CHECK(length(sha256) = 32),\n" \
	"  ledger BLOB NOT NULL CHECK(length(ledger) = 32),\n" \
	"  UNIQUE(region_id, version)\n" \
	") STRICT;\n"

/* Format v1 schema.  STRICT tables keep types honest; the CHECKs state
 * SPEC.md's limits so a buggy writer fails loudly instead of producing a
 * file readers refuse.  u64 values are stored as the int64 with the same
 * bits (SPEC.md "integers"). */
const char *const emt_schema_sql =
	"CREATE TABLE meta(\n"
	"  key TEXT PRIMARY KEY NOT NULL,\n"
	"  value BLOB NOT NULL\n"
	") STRICT;\n"
	"CREATE TABLE processes(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  pid INTEGER NOT NULL CHECK(pid BETWEEN 0 AND 4294967295),\n"
	"  ppid INTEGER NOT NULL CHECK(ppid BETWEEN 0 AND 4294967295),\n"
	"  start_ns INTEGER NOT NULL,\n"
	"  exit_ns INTEGER NOT NULL DEFAULT 0,\n"
	"  exit_status INTEGER NOT NULL DEFAULT 0,\n"
	"  has_exit INTEGER NOT NULL DEFAULT 0 CHECK(has_exit IN (0, 1)),\n"
	"  exe BLOB,\n"
	"  cmdline BLOB\n"
	") STRICT;\n"
	"CREATE TABLE regions(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  process_id INTEGER NOT NULL REFERENCES processes(id),\n"
	"  pid INTEGER NOT NULL CHECK(pid BETWEEN 0 AND 4294967295),\n"
	"  backing TEXT NOT NULL CHECK(backing IN ('anon', 'memfd', 'file',"
	" 'deleted', 'shared', 'other')),\n"
	"  start INTEGER NOT NULL,\n"
	"  length INTEGER NOT NULL,\n"
	"  created_ns INTEGER NOT NULL,\n"
	"  gone_ns INTEGER NOT NULL DEFAULT 0,\n"
	"  path BLOB,\n"
	"  inode INTEGER NOT NULL DEFAULT 0,\n"
	"  dev INTEGER NOT NULL DEFAULT 0,\n"
	"  offset INTEGER NOT NULL DEFAULT 0,\n"
	"  prot INTEGER NOT NULL DEFAULT 0\n"
	") STRICT;\n"
	"CREATE INDEX regions_pid ON regions(pid, id);\n"
	"CREATE TABLE chunks(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  hash BLOB NOT NULL UNIQUE CHECK(length(hash) = 32),\n"
	"  size INTEGER NOT NULL CHECK(size BETWEEN 1 AND 1048576),\n"
	"  encoding TEXT NOT NULL CHECK(encoding IN ('zstd', 'zstd-delta')),\n"
	"  base_id INTEGER REFERENCES chunks(id),\n"
	"  depth INTEGER NOT NULL CHECK(depth BETWEEN 0 AND 16),\n"
	"  first_seq INTEGER NOT NULL,\n"
	"  data BLOB NOT NULL,\n"
	"  CHECK((encoding = 'zstd' AND base_id IS NULL AND depth = 0) OR\n"
	"        (encoding = 'zstd-delta' AND base_id IS NOT NULL AND depth >= 1))\n"
	") STRICT;\n"
	CAPTURES_SQL_HEAD
	"trigger_name IN ('mprotect', 'mmap',"
	" 'first-exec-fault', 'munmap', 'exit', 'exec', 'baseline', 'sample',"
	" 'protect-w')),\n"
	CAPTURES_SQL_TAIL
	"CREATE INDEX captures_pid ON captures(pid, seq);\n"
	"CREATE INDEX captures_time ON captures(time_ns);\n"
	"CREATE TABLE capture_chunks(\n"
	"  seq INTEGER NOT NULL REFERENCES captures(seq),\n"
	"  idx INTEGER NOT NULL CHECK(idx >= 0),\n"
	"  chunk_id INTEGER NOT NULL REFERENCES chunks(id),\n"
	"  PRIMARY KEY(seq, idx)\n"
	") STRICT, WITHOUT ROWID;\n"
	"CREATE TABLE gaps(\n"
	"  seq INTEGER NOT NULL REFERENCES captures(seq),\n"
	"  offset INTEGER NOT NULL CHECK(offset >= 0),\n"
	"  length INTEGER NOT NULL CHECK(length >= 1),\n"
	"  reason TEXT NOT NULL CHECK(reason IN ('unreadable', 'unmapped',"
	" 'truncated', 'limit')),\n"
	"  err INTEGER NOT NULL DEFAULT 0,\n"
	"  PRIMARY KEY(seq, offset)\n"
	") STRICT, WITHOUT ROWID;\n"
	"CREATE TABLE regs(\n"
	"  seq INTEGER PRIMARY KEY REFERENCES captures(seq),\n"
	"  arch TEXT NOT NULL,\n"
	"  data BLOB NOT NULL CHECK(arch <> 'x86_64' OR length(data) = 224)\n"
	") STRICT;\n"
	"CREATE TABLE events(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  time_ns INTEGER NOT NULL,\n"
	"  pid INTEGER NOT NULL CHECK(pid BETWEEN 0 AND 4294967295),\n"
	"  tid INTEGER NOT NULL CHECK(tid BETWEEN 0 AND 4294967295),\n"
	"  syscall TEXT NOT NULL,\n"
	"  addr INTEGER NOT NULL DEFAULT 0,\n"
	"  len INTEGER NOT NULL DEFAULT 0,\n"
	"  prot INTEGER NOT NULL DEFAULT 0,\n"
	"  flags INTEGER NOT NULL DEFAULT 0,\n"
	"  fd INTEGER NOT NULL DEFAULT -1,\n"
	"  ret INTEGER NOT NULL DEFAULT 0,\n"
	"  seq INTEGER NOT NULL DEFAULT 0,\n"
	"  detail BLOB\n"
	") STRICT;\n"
	"CREATE INDEX events_pid ON events(pid, id);\n"
	"CREATE TABLE losses(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  kind TEXT NOT NULL,\n"
	"  pid INTEGER NOT NULL CHECK(pid BETWEEN 0 AND 4294967295),\n"
	"  count INTEGER NOT NULL CHECK(count >= 0),\n"
	"  first_ns INTEGER NOT NULL,\n"
	"  last_ns INTEGER NOT NULL,\n"
	"  UNIQUE(kind, pid)\n"
	") STRICT;\n";

/* Signed checkpoints (SPEC.md section 10.2), new in 1.1: the writer
 * creates the table in every archive, empty unless it signs. */
const char *const emt_schema_sql_1_1 =
	"CREATE TABLE checkpoints(\n"
	"  id INTEGER PRIMARY KEY CHECK(id >= 1),\n"
	"  seq INTEGER NOT NULL CHECK(seq >= 0),\n"
	"  ledger BLOB NOT NULL CHECK(length(ledger) = 32),\n"
	"  time_ns INTEGER NOT NULL,\n"
	"  meta_sha256 BLOB NOT NULL CHECK(length(meta_sha256) = 32),\n"
	"  prev BLOB NOT NULL CHECK(length(prev) = 32),\n"
	"  signature BLOB NOT NULL CHECK(length(signature) = 64)\n"
	") STRICT;\n";

/* Format 1.2: the captures statement with the triggers 1.2 added (it
 * replaces 1.0's in place, the one change of an existing statement a
 * minor has made: SPEC.md section 3), then the tables 1.2 added, run
 * after those of 1.1. */
const char *const emt_schema_sql_1_2 =
	/* Equality tests, not IN: SQLite 3.40 builds a temporary b-tree of
	 * an IN list for every row it checks, about 40,000 instructions of
	 * the 390,000 a 4 KiB capture costs the writer (callgrind,
	 * bench/results/throughput_profile.txt). */
	CAPTURES_SQL_HEAD
	"trigger_name = 'mprotect' OR trigger_name = 'mmap'"
	" OR trigger_name = 'first-exec-fault' OR trigger_name = 'munmap'"
	" OR trigger_name = 'exit' OR trigger_name = 'exec'"
	" OR trigger_name = 'baseline' OR trigger_name = 'sample'"
	" OR trigger_name = 'protect-w' OR trigger_name = 'inject'"
	" OR trigger_name = 'alert'),\n"
	CAPTURES_SQL_TAIL
	/* Injections (SPEC.md section 15). */
	"CREATE TABLE injections(\n"
	"  id INTEGER PRIMARY KEY CHECK(id >= 1),\n"
	"  time_ns INTEGER NOT NULL,\n"
	"  writer_pid INTEGER NOT NULL CHECK(writer_pid BETWEEN 0 AND 4294967295),\n"
	"  writer_tid INTEGER NOT NULL CHECK(writer_tid BETWEEN 0 AND 4294967295),\n"
	"  victim_pid INTEGER NOT NULL CHECK(victim_pid BETWEEN 0 AND 4294967295),\n"
	"  method TEXT NOT NULL CHECK(method IN ('process_vm_writev', 'ptrace-poketext',"
	" 'ptrace-pokedata', 'ptrace-pokeuser', 'ptrace-setregs', 'ptrace-setfpregs',"
	" 'proc-mem')),\n"
	"  addr INTEGER NOT NULL,\n"
	"  length INTEGER NOT NULL CHECK(length BETWEEN 0 AND 4294967296),\n"
	"  word INTEGER,\n"
	"  seq INTEGER NOT NULL CHECK(seq >= 0)\n"
	") STRICT;\n"
	"CREATE INDEX injections_victim ON injections(victim_pid, id);\n"
	"CREATE TABLE injection_links(\n"
	"  seq INTEGER PRIMARY KEY CHECK(seq >= 1),\n"
	"  injection_id INTEGER NOT NULL CHECK(injection_id >= 1)\n"
	") STRICT;\n"
	"CREATE TABLE follow_reasons(\n"
	"  process_id INTEGER PRIMARY KEY CHECK(process_id >= 1),\n"
	"  reason TEXT NOT NULL CHECK(reason IN ('injected')),\n"
	"  injection_id INTEGER NOT NULL CHECK(injection_id >= 0)\n"
	") STRICT;\n"
	"CREATE TABLE syscalls(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  time_ns INTEGER NOT NULL,\n"
	"  exit_ns INTEGER NOT NULL DEFAULT 0,\n"
	"  pid INTEGER NOT NULL CHECK(pid BETWEEN 0 AND 4294967295),\n"
	"  tid INTEGER NOT NULL CHECK(tid BETWEEN 0 AND 4294967295),\n"
	"  uid INTEGER NOT NULL CHECK(uid BETWEEN 0 AND 4294967295),\n"
	"  gid INTEGER NOT NULL CHECK(gid BETWEEN 0 AND 4294967295),\n"
	"  nr INTEGER NOT NULL CHECK(nr BETWEEN 0 AND 4294967295),\n"
	"  name TEXT NOT NULL,\n"
	"  args TEXT NOT NULL,\n"
	"  args_text TEXT NOT NULL,\n"
	"  ret INTEGER NOT NULL DEFAULT 0,\n"
	"  returned INTEGER NOT NULL CHECK(returned IN (0, 1)),\n"
	"  flags INTEGER NOT NULL DEFAULT 0 CHECK(flags BETWEEN 0 AND 15)\n"
	") STRICT;\n"
	"CREATE INDEX syscalls_pid ON syscalls(pid, id);\n"
	/* Syscall models and alerts (SPEC.md section 16). */
	"CREATE TABLE model_programs(\n"
	"  id INTEGER PRIMARY KEY CHECK(id >= 1),\n"
	"  sha256 TEXT NOT NULL CHECK(length(sha256) = 64),\n"
	"  path BLOB NOT NULL,\n"
	"  inode INTEGER NOT NULL,\n"
	"  dev INTEGER NOT NULL,\n"
	"  transitions INTEGER NOT NULL CHECK(transitions >= 0),\n"
	"  checked INTEGER NOT NULL CHECK(checked IN (0, 1))\n"
	") STRICT;\n"
	"CREATE TABLE alerts(\n"
	"  id INTEGER PRIMARY KEY CHECK(id >= 1),\n"
	"  time_ns INTEGER NOT NULL,\n"
	"  pid INTEGER NOT NULL CHECK(pid BETWEEN 0 AND 4294967295),\n"
	"  tid INTEGER NOT NULL CHECK(tid BETWEEN 0 AND 4294967295),\n"
	"  program_id INTEGER NOT NULL CHECK(program_id >= 1),\n"
	"  depth INTEGER NOT NULL CHECK(depth BETWEEN 1 AND 3),\n"
	"  nr INTEGER NOT NULL CHECK(nr BETWEEN 0 AND 4294967295),\n"
	"  name TEXT NOT NULL,\n"
	"  syscalls TEXT NOT NULL,\n"
	"  rip INTEGER NOT NULL,\n"
	"  action TEXT NOT NULL CHECK(action IN ('capture', 'stop', 'kill')),\n"
	"  suppressed INTEGER NOT NULL CHECK(suppressed >= 0)\n"
	") STRICT;\n"
	"CREATE INDEX alerts_pid ON alerts(pid, id);\n"
	"CREATE TABLE alert_captures(\n"
	"  seq INTEGER PRIMARY KEY CHECK(seq >= 1),\n"
	"  alert_id INTEGER NOT NULL CHECK(alert_id >= 1)\n"
	") STRICT;\n";

static int schema_find(const char *p, const char *name, const char **sql, size_t *len)
{
	size_t nl = strlen(name);

	while (*p) {
		const char *end = strstr(p, ";\n");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *q = p;

		/* "CREATE TABLE name(" or "CREATE INDEX name ON ..." */
		if (!strncmp(q, "CREATE TABLE ", 13) || !strncmp(q, "CREATE INDEX ", 13)) {
			q += 13;
			if ((size_t)(p + n - q) > nl && !strncmp(q, name, nl) &&
			    (q[nl] == '(' || q[nl] == ' ')) {
				*sql = p;
				*len = n;
				return 1;
			}
		}
		p += n;
		if (*p)
			p += 2;
	}
	return 0;
}

void emt_db_harden(sqlite3 *db)
{
	sqlite3_extended_result_codes(db, 1);
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_TRIGGER, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_VIEW, 0, NULL);
	sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
	sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
}

int emt_schema_statement(const char *name, uint32_t minor, const char **sql, size_t *len)
{
	/* Newest first: 1.2 replaced 1.0's captures statement. */
	return (minor >= 2 && schema_find(emt_schema_sql_1_2, name, sql, len)) ||
	       schema_find(emt_schema_sql, name, sql, len) ||
	       (minor >= 1 && schema_find(emt_schema_sql_1_1, name, sql, len));
}

/* The name a statement creates ("CREATE TABLE name(" or "CREATE INDEX
 * name ON"), copied to `out`; 0 if it is neither. */
static int statement_name(const char *p, size_t n, char *out, size_t cap)
{
	size_t i = 13, k = 0;

	if (n < 14 || (strncmp(p, "CREATE TABLE ", 13) && strncmp(p, "CREATE INDEX ", 13)))
		return 0;
	while (i < n && p[i] != '(' && p[i] != ' ' && k + 1 < cap)
		out[k++] = p[i++];
	out[k] = '\0';
	return k > 0;
}

/* Appends to `out` (NULL: only counts) the statements of `text` in
 * order, each replaced by the one of the same name that `minor` defines
 * (emt_schema_statement) and, with `skip_known`, leaving out those an
 * earlier text already created.  Returns the bytes appended. */
static size_t schema_emit(const char *text, uint32_t minor, int skip_known, char *out)
{
	size_t total = 0;

	for (const char *p = text; *p;) {
		const char *end = strstr(p, ";\n");
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char name[64];
		const char *sql = p;
		size_t len = n;

		if (statement_name(p, n, name, sizeof(name))) {
			if (skip_known && (schema_find(emt_schema_sql, name, &sql, &len) ||
					   schema_find(emt_schema_sql_1_1, name, &sql, &len))) {
				p += n + (end ? 2 : 0);
				continue;
			}
			emt_schema_statement(name, minor, &sql, &len);
		}
		if (out) {
			memcpy(out + total, sql, len);
			memcpy(out + total + len, ";\n", 2);
		}
		total += len + 2;
		p += n + (end ? 2 : 0);
	}
	return total;
}

char *emt_schema_create_sql(uint32_t minor)
{
	const char *texts[] = { emt_schema_sql, emt_schema_sql_1_1, emt_schema_sql_1_2 };
	size_t n = 0, k = 0;
	char *out;

	for (uint32_t m = 0; m <= minor && m < 3; m++)
		n += schema_emit(texts[m], minor, m >= 2, NULL);
	out = malloc(n + 1);
	if (!out)
		return NULL;
	for (uint32_t m = 0; m <= minor && m < 3; m++)
		k += schema_emit(texts[m], minor, m >= 2, out + k);
	out[k] = '\0';
	return out;
}

/* ---- Injections (SPEC.md section 15) ---- */

static const char *const inject_method_names[] = {
	[EMT_INJECT_VM_WRITEV] = "process_vm_writev",
	[EMT_INJECT_POKETEXT] = "ptrace-poketext",
	[EMT_INJECT_POKEDATA] = "ptrace-pokedata",
	[EMT_INJECT_POKEUSER] = "ptrace-pokeuser",
	[EMT_INJECT_SETREGS] = "ptrace-setregs",
	[EMT_INJECT_SETFPREGS] = "ptrace-setfpregs",
	[EMT_INJECT_PROC_MEM] = "proc-mem",
};

const char *emt_inject_method_name(enum emt_inject_method m)
{
	if ((unsigned)m == 0 ||
	    (unsigned)m >= sizeof(inject_method_names) / sizeof(inject_method_names[0]))
		return NULL;
	return inject_method_names[m];
}

enum emt_inject_method emt_inject_method_parse(const char *name)
{
	for (unsigned m = 1; name && m < sizeof(inject_method_names) /
					  sizeof(inject_method_names[0]); m++)
		if (!strcmp(name, inject_method_names[m]))
			return (enum emt_inject_method)m;
	return EMT_INJECT_UNKNOWN;
}
