/*
 * util.c - helpers of the format library: enum names, hashing, hex,
 * messages, the v1 schema and the ledger's canonical text.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "internal.h"

const char *const emt_trigger_names[] = {
	NULL, "mprotect", "mmap", "first-exec-fault", "munmap", "exit",
	"exec", "baseline", "sample", "protect-w",
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

struct emt_sha *emt_sha_new(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
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
	EVP_DigestInit_ex((EVP_MD_CTX *)s, EVP_sha256(), NULL);
}

void emt_sha_free(struct emt_sha *s)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)s);
}

void emt_sha256(const void *data, size_t len, uint8_t out[EMT_SHA256_LEN])
{
	unsigned int olen = EMT_SHA256_LEN;

	/* One-shot EVP_Digest avoids a context allocation per call. */
	if (EVP_Digest(data, len, out, &olen, EVP_sha256(), NULL) != 1)
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

	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
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
	"CREATE TABLE captures(\n"
	"  seq INTEGER PRIMARY KEY CHECK(seq >= 1),\n"
	"  region_id INTEGER NOT NULL REFERENCES regions(id),\n"
	"  version INTEGER NOT NULL CHECK(version >= 1),\n"
	"  pid INTEGER NOT NULL CHECK(pid BETWEEN 0 AND 4294967295),\n"
	"  tid INTEGER NOT NULL CHECK(tid BETWEEN 0 AND 4294967295),\n"
	"  trigger_name TEXT NOT NULL CHECK(trigger_name IN ('mprotect', 'mmap',"
	" 'first-exec-fault', 'munmap', 'exit', 'exec', 'baseline', 'sample',"
	" 'protect-w')),\n"
	"  prot_before INTEGER NOT NULL,\n"
	"  prot_after INTEGER NOT NULL,\n"
	"  addr INTEGER NOT NULL,\n"
	"  size INTEGER NOT NULL CHECK(size BETWEEN 0 AND 4294967296),\n"
	"  time_ns INTEGER NOT NULL,\n"
	"  chunk_size INTEGER NOT NULL CHECK(chunk_size BETWEEN 4096 AND 1048576"
	" AND (chunk_size & (chunk_size - 1)) = 0),\n"
	"  nchunks INTEGER NOT NULL CHECK(nchunks >= 0),\n"
	"  stored_bytes INTEGER NOT NULL CHECK(stored_bytes >= 0),\n"
	"  sha256 BLOB NOT NULL CHECK(length(sha256) = 32),\n"
	"  ledger BLOB NOT NULL CHECK(length(ledger) = 32),\n"
	"  UNIQUE(region_id, version)\n"
	") STRICT;\n"
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

int emt_schema_statement(const char *name, const char **sql, size_t *len)
{
	const char *p = emt_schema_sql;
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
