/*
 * reader.c - emt_reader_*: reads a format v1 archive treated as hostile.
 *
 * The file is opened read-only and immutable (no locks, no journal
 * replay into the evidence).  A crashed writer's WAL is replayed on a
 * private copy instead.  SQLite runs in defensive mode, with untrusted
 * schema, views and triggers disabled, and the schema is checked before
 * any query.  Every size read from the file is checked before it is used
 * to allocate or decompress.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "internal.h"

#define CHAIN_MAX (EMT_DELTA_DEPTH_MAX + 1)
/* Decoded chunk cache: 64 slots of at most 256 KiB (16 MiB at most). */
#define DCACHE_SLOTS 64
#define DCACHE_CHUNK_MAX (256u << 10)

struct dcache {
	int64_t id;             /* 0 = empty */
	uint32_t size;
	uint8_t depth;
	uint8_t *buf;
	size_t cap;
};

struct emt_reader {
	sqlite3 *db;
	char err[EMT_ERRMSG_MAX];
	char tmpdir[256];       /* private copy of a crashed archive, or "" */
	char follow_reason[32]; /* emt_reader_follow_reason's answer */
	int links_table;        /* injection_links: 0 not looked up, 1 there, 2 absent */
	uint32_t major, minor;
	int sealed;
	int ledger_v2;          /* features_required names ledger-v2 */
	int64_t anchor_boot, anchor_real;
	int have_anchor;
	char *meta_val;
	size_t meta_len;        /* bytes of meta_val, NULs included */
	char *region_path;
	ZSTD_DCtx *dctx;
	struct emt_sha *sha;
	uint8_t *lvl[CHAIN_MAX];        /* decode buffers per delta level */
	size_t lvl_cap[CHAIN_MAX];
	uint8_t *chunkbuf;              /* one chunk, for the fd path */
	struct dcache dc[DCACHE_SLOTS]; /* see dcache_find */
	sqlite3_stmt *st_cap, *st_cc, *st_chunk, *st_chain, *st_meta,
		*st_regs, *st_gaps, *st_region;
};

struct emt_capture_iter {
	struct emt_reader *r;
	sqlite3_stmt *st;
	uint64_t last_seq;
};

enum row_kind { ROW_PROC, ROW_REGION, ROW_EVENT, ROW_LOSS, ROW_INJECTION, ROW_SYSCALL,
	ROW_MODEL_PROGRAM, ROW_ALERT };

struct emt_row_iter {
	struct emt_reader *r;
	sqlite3_stmt *st;
	enum row_kind kind;
	int64_t last_id;        /* rows come in id order; see row_step */
	int started;
	char *s1, *s2, *s3;     /* copies of hostile strings, NUL-terminated */
};

/* Columns the reader relies on, per table (SPEC.md "tables"). */
static const struct {
	const char *table;
	const char *cols[17];
} required_tables[] = {
	{ "meta", { "key", "value" } },
	{ "processes", { "id", "pid", "ppid", "start_ns", "exit_ns", "exit_status",
			 "has_exit", "exe", "cmdline" } },
	{ "regions", { "id", "process_id", "pid", "backing", "start", "length",
		       "created_ns", "gone_ns", "path", "inode", "dev", "offset", "prot" } },
	{ "chunks", { "id", "hash", "size", "encoding", "base_id", "depth",
		      "first_seq", "data" } },
	{ "captures", { "seq", "region_id", "version", "pid", "tid", "trigger_name",
			"prot_before", "prot_after", "addr", "size", "time_ns",
			"chunk_size", "nchunks", "stored_bytes", "sha256", "ledger" } },
	{ "capture_chunks", { "seq", "idx", "chunk_id" } },
	{ "gaps", { "seq", "offset", "length", "reason", "err" } },
	{ "regs", { "seq", "arch", "data" } },
	{ "events", { "id", "time_ns", "pid", "tid", "syscall", "addr", "len", "prot",
		      "flags", "fd", "ret", "seq", "detail" } },
	{ "losses", { "id", "kind", "pid", "count", "first_ns", "last_ns" } },
};

const char *emt_reader_errmsg(const struct emt_reader *r)
{
	return r ? r->err : "no reader";
}

static int db_err(struct emt_reader *r, const char *what)
{
	int rc = sqlite3_errcode(r->db);

	emt_fmt(r->err, sizeof(r->err), "%s: %s", what, sqlite3_errmsg(r->db));
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
	case SQLITE_ERROR:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

static int prep(struct emt_reader *r, sqlite3_stmt **st, const char *sql)
{
	if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return db_err(r, "prepare");
	return 0;
}

static void rm_tmpdir(struct emt_reader *r)
{
	char p[512];

	if (!r->tmpdir[0])
		return;
	static const char *const names[] = { "a.emt", "a.emt-wal", "a.emt-shm", "a.emt-journal" };

	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", r->tmpdir, names[i]);
		unlink(p);
	}
	rmdir(r->tmpdir);
	r->tmpdir[0] = '\0';
}

void emt_reader_close(struct emt_reader *r)
{
	if (!r)
		return;
	/* after the NULL check: &r->x of a NULL r is undefined (UBSan) */
	sqlite3_stmt **sts[] = { &r->st_cap, &r->st_cc, &r->st_chunk, &r->st_chain,
		&r->st_meta, &r->st_regs, &r->st_gaps, &r->st_region };

	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++)
		sqlite3_finalize(*sts[i]);
	if (r->db)
		sqlite3_close(r->db);
	rm_tmpdir(r);
	ZSTD_freeDCtx(r->dctx);
	emt_sha_free(r->sha);
	for (size_t i = 0; i < CHAIN_MAX; i++)
		free(r->lvl[i]);
	free(r->chunkbuf);
	for (size_t i = 0; i < DCACHE_SLOTS; i++)
		free(r->dc[i].buf);
	free(r->meta_val);
	free(r->region_path);
	free(r);
}

static int copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in, out, err = 0;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		err = -errno;
		close(in);
		return err;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t m = write(out, buf + off, (size_t)(n - off));

			if (m < 0) {
				err = -errno;
				goto done;
			}
			off += m;
		}
	}
	if (n < 0)
		err = -errno;
done:
	close(in);
	if (close(out) < 0 && !err)
		err = -errno;
	return err;
}

/* Percent-encodes a path for a file: URI (SQLite decodes %HH).  The
 * size is counted first and the URI written into exactly that much. */
static int uri_escapes(unsigned char ch)
{
	return ch == '%' || ch == '?' || ch == '#' || ch < 0x21 || ch >= 0x7f;
}

static char *uri_for(const char *path)
{
	static const char head[] = "file:", tail[] = "?immutable=1";
	static const char hex[] = "0123456789ABCDEF";
	size_t size = sizeof(head) - 1 + sizeof(tail);
	char *u, *p;

	for (const char *s = path; *s; s++) {
		if (size > SIZE_MAX - 3)
			return NULL;    /* cannot be had anyway: as ENOMEM */
		size += uri_escapes((unsigned char)*s) ? 3 : 1;
	}
	u = malloc(size);
	if (!u)
		return NULL;
	memcpy(u, head, sizeof(head) - 1);
	p = u + sizeof(head) - 1;
	for (const char *s = path; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (uri_escapes(ch)) {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 0xf];
		} else {
			*p++ = (char)ch;
		}
	}
	memcpy(p, tail, sizeof(tail));
	return u;
}

/* Value of meta `key` as a NUL-terminated copy (r->meta_len holds its
 * real length, which an embedded NUL makes longer than strlen), or NULL. */
static const char *meta_get(struct emt_reader *r, const char *key)
{
	const unsigned char *v;

	free(r->meta_val);
	r->meta_val = NULL;
	r->meta_len = 0;
	sqlite3_bind_text(r->st_meta, 1, key, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(r->st_meta) == SQLITE_ROW &&
	    (v = sqlite3_column_text(r->st_meta, 0)) != NULL) {
		int len = sqlite3_column_bytes(r->st_meta, 0);

		r->meta_val = malloc((size_t)len + 1);
		if (r->meta_val) {
			memcpy(r->meta_val, v, (size_t)len);
			r->meta_val[len] = '\0';
			r->meta_len = (size_t)len;
		}
	}
	sqlite3_reset(r->st_meta);
	return r->meta_val;
}

/* A library-written meta value (a number, a hex digest, "1"): one with
 * an embedded NUL is not one the library wrote, and read as C string it
 * would pass for its prefix ("1\0junk" as "1"), so it counts as absent. */
static const char *meta_lib(struct emt_reader *r, const char *key)
{
	const char *v = meta_get(r, key);

	return v && memchr(v, '\0', r->meta_len) ? NULL : v;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

/* The archive passed identification (SPEC.md section 2) but SQLite
 * cannot read it: that is a damaged emt archive, not a foreign file. */
static int damaged(struct emt_reader *r, const char *path)
{
	emt_fmt(r->err, sizeof(r->err), "'%s': damaged archive: %s", path,
		sqlite3_errmsg(r->db));
	return -EBADMSG;
}

static int check_schema(struct emt_reader *r, const char *path)
{
	sqlite3_stmt *st = NULL;
	int err = 0, rc;

	if (prep(r, &st, "SELECT type FROM sqlite_schema WHERE name = ?1"))
		return damaged(r, path);
	for (size_t t = 0; t < sizeof(required_tables) / sizeof(required_tables[0]); t++) {
		const char *name = required_tables[t].table;
		const unsigned char *type;

		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			err = damaged(r, path);
		} else if (rc != SQLITE_ROW ||
			   !(type = sqlite3_column_text(st, 0)) || strcmp((const char *)type, "table")) {
			emt_fmt(r->err, sizeof(r->err), "table '%s' missing or not a table", name);
			err = -EBADMSG;
		}
		sqlite3_reset(st);
		if (err)
			break;
		/* pragma_table_info lists declared columns: a crafted table
		 * lacking one would make later queries fail half way. */
		char sql[128];
		sqlite3_stmt *ti = NULL;

		snprintf(sql, sizeof(sql), "SELECT 1 FROM pragma_table_info('%s') WHERE name = ?1", name);
		if (prep(r, &ti, sql)) {
			err = damaged(r, path);
			break;
		}
		for (size_t c = 0; required_tables[t].cols[c]; c++) {
			sqlite3_bind_text(ti, 1, required_tables[t].cols[c], -1, SQLITE_STATIC);
			rc = sqlite3_step(ti);
			if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
				err = damaged(r, path);
			} else if (rc != SQLITE_ROW) {
				emt_fmt(r->err, sizeof(r->err), "table '%s' lacks column '%s'",
					name, required_tables[t].cols[c]);
				err = -EBADMSG;
			}
			sqlite3_reset(ti);
			if (err)
				break;
		}
		sqlite3_finalize(ti);
		if (err)
			break;
	}
	sqlite3_finalize(st);
	return err;
}

static int feature_known(const char *f, size_t n)
{
	const char *k = EMT_FEATURES_KNOWN;

	while (*k) {
		size_t m = strcspn(k, ",");

		if (m == n && strncmp(k, f, n) == 0)
			return 1;
		k += m;
		if (*k == ',')
			k++;
	}
	return 0;
}

static int pragma_u32(struct emt_reader *r, const char *sql, uint32_t *out)
{
	sqlite3_stmt *st = NULL;
	int err = 0;

	if (prep(r, &st, sql))
		return -EBADMSG;
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = (uint32_t)sqlite3_column_int64(st, 0);
	else
		err = db_err(r, sql);
	sqlite3_finalize(st);
	return err;
}

/* Checks meta.features_required (SPEC.md section 3) byte by byte: a C
 * string walk would stop at an embedded NUL and let "zstd\0quantum"
 * through as "zstd". */
static int check_features(struct emt_reader *r)
{
	const char *v = meta_get(r, "features_required");
	size_t len = r->meta_len, i = 0;

	r->ledger_v2 = 0;
	if (!v)
		return 0;
	if (memchr(v, '\0', len)) {
		emt_fmt(r->err, sizeof(r->err),
			"meta features_required holds a NUL byte: damaged archive");
		return -EBADMSG;
	}
	while (i < len) {
		size_t n = 0;

		while (i + n < len && v[i + n] != ',')
			n++;
		if (n && !feature_known(v + i, n)) {
			emt_fmt(r->err, sizeof(r->err),
				"written by a newer emt (required feature '%.*s'); upgrade emt to read it",
				(int)(n > 64 ? 64 : n), v + i);
			return -EPROTONOSUPPORT;
		}
		if (n == 9 && memcmp(v + i, "ledger-v2", 9) == 0)
			r->ledger_v2 = 1;
		i += n + 1;
	}
	return 0;
}

static int reader_setup(struct emt_reader *r, const char *path, int hdr_ok)
{
	uint32_t appid = 0, uv = 0;
	const char *v;
	uint64_t u;
	int err;

	err = pragma_u32(r, "PRAGMA application_id", &appid);
	if (err) {
		/* PRAGMA application_id loads the schema: a file whose header
		 * says emt but whose pages SQLite rejects (truncated, pages
		 * overwritten) is damaged evidence.  Without a valid header
		 * (only possible with a WAL) it is not ours. */
		if (hdr_ok)
			return damaged(r, path);
		emt_fmt(r->err, sizeof(r->err), "not an emt archive");
		return -ENOTSUP;
	}
	if (appid != EMT_APPLICATION_ID) {
		emt_fmt(r->err, sizeof(r->err), "not an emt archive");
		return -ENOTSUP;
	}
	err = pragma_u32(r, "PRAGMA user_version", &uv);
	if (err)
		return damaged(r, path);
	if (uv > EMT_FORMAT_MAJOR) {
		emt_fmt(r->err, sizeof(r->err),
			"written by a newer emt (format %u); upgrade emt to read it", uv);
		return -EPROTONOSUPPORT;
	}
	if (uv == 0) {
		emt_fmt(r->err, sizeof(r->err), "archive has no format version");
		return -EBADMSG;
	}
	err = check_schema(r, path);
	if (err)
		return err;
	err = prep(r, &r->st_meta, "SELECT value FROM meta WHERE key = ?1");
	if (err)
		return err;
	v = meta_lib(r, "format_major");
	if (parse_u64(v, &u) || u == 0 || u > UINT32_MAX) {
		emt_fmt(r->err, sizeof(r->err), "meta format_major missing or invalid");
		return -EBADMSG;
	}
	r->major = (uint32_t)u;
	v = meta_lib(r, "format_minor");
	r->minor = parse_u64(v, &u) == 0 && u <= UINT32_MAX ? (uint32_t)u : 0;
	if (r->major > EMT_FORMAT_MAJOR) {
		emt_fmt(r->err, sizeof(r->err),
			"written by a newer emt (format %u); upgrade emt to read it", r->major);
		return -EPROTONOSUPPORT;
	}
	if (r->major != uv) {
		emt_fmt(r->err, sizeof(r->err), "format version %u in meta disagrees with %u in header",
			r->major, uv);
		return -EBADMSG;
	}
	err = check_features(r);
	if (err)
		return err;
	v = meta_lib(r, "sealed");
	r->sealed = v && strcmp(v, "1") == 0 && meta_lib(r, "seal_ledger_head");
	uint64_t bt, rt;

	if (!parse_u64(meta_lib(r, "clock_boottime_ns"), &bt) &&
	    !parse_u64(meta_lib(r, "clock_realtime_ns"), &rt) &&
	    bt <= INT64_MAX && rt <= INT64_MAX) {
		r->anchor_boot = (int64_t)bt;
		r->anchor_real = (int64_t)rt;
		r->have_anchor = 1;
	}

	err = prep(r, &r->st_cap,
		   "SELECT seq, region_id, version, pid, tid, trigger_name, prot_before,"
		   " prot_after, addr, size, time_ns, sha256, stored_bytes,"
		   " (SELECT count(*) FROM gaps g WHERE g.seq = c.seq),"
		   " EXISTS(SELECT 1 FROM regs x WHERE x.seq = c.seq),"
		   " chunk_size, nchunks, ledger FROM captures c WHERE seq = ?1");
	err = err ? err : prep(r, &r->st_cc,
		   "SELECT idx, chunk_id FROM capture_chunks WHERE seq = ?1 ORDER BY idx");
	err = err ? err : prep(r, &r->st_chunk,
		   "SELECT hash, size, encoding, base_id, depth, data FROM chunks WHERE id = ?1");
	err = err ? err : prep(r, &r->st_chain,
		   "SELECT base_id, depth, encoding, size FROM chunks WHERE id = ?1");
	err = err ? err : prep(r, &r->st_regs, "SELECT arch, data FROM regs WHERE seq = ?1");
	err = err ? err : prep(r, &r->st_gaps,
		   "SELECT seq, offset, length, reason, err FROM gaps WHERE seq = ?1 ORDER BY offset");
	err = err ? err : prep(r, &r->st_region,
		   "SELECT id, process_id, pid, backing, start, length, created_ns, gone_ns,"
		   " path, inode, dev, offset, prot,"
		   " (SELECT count(*) FROM captures c WHERE c.region_id = g.id)"
		   " FROM regions g WHERE id = ?1");
	return err;
}

/* Salt of a WAL file's header (bytes 16..23): it changes whenever the
 * writer restarts the WAL after a checkpoint. */
static int wal_salt(const char *wal, uint8_t salt[8])
{
	uint8_t h[32];
	int fd = open(wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h))
		return -ENODATA;
	memcpy(salt, h + 16, 8);
	return 0;
}

/* One attempt of emt_reader_open.  Sets *again when the archive changed
 * under the copy (a live writer checkpointed, restarted or removed its
 * WAL): the copy may mix two states, so the caller tries again. */
static struct emt_reader *reader_open_once(const char *path, char **errmsg, int *again,
					   int last)
{
	struct emt_reader *r;
	uint8_t salt0[8] = { 0 }, salt1[8], salt2[8];
	unsigned char hdr[100];
	char wal[4096], *uri = NULL, *real = NULL;
	struct stat st;
	int fd, err = 0, flags, have_wal, hdr_ok;
	ssize_t n;

	if (errmsg)
		*errmsg = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		errno = ENOMEM;
		return NULL;
	}
	if (!path) {
		err = -EINVAL;
		emt_fmt(r->err, sizeof(r->err), "no archive path given");
		goto fail;
	}
	/* The WAL lives beside the real file, not beside a symlink to it:
	 * resolve first, or a crashed archive opened through a link would
	 * silently lose every capture still in its WAL. */
	real = realpath(path, NULL);
	if (!real) {
		err = -errno;
		emt_fmt(r->err, sizeof(r->err), "cannot open '%s': %s", path, strerror(-err));
		goto fail;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		emt_fmt(r->err, sizeof(r->err), "cannot open '%s': %s", path, strerror(-err));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		err = -ENOTSUP;
		emt_fmt(r->err, sizeof(r->err), "'%s': not an emt archive (not a regular file)", path);
		goto fail;
	}
	n = read(fd, hdr, sizeof(hdr));
	close(fd);
	hdr_ok = n == (ssize_t)sizeof(hdr) && memcmp(hdr, "SQLite format 3", 16) == 0 &&
		 ((uint32_t)hdr[68] << 24 | (uint32_t)hdr[69] << 16 | (uint32_t)hdr[70] << 8 |
		  hdr[71]) == EMT_APPLICATION_ID;
	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", real) >= sizeof(wal)) {
		err = -ENAMETOOLONG;
		emt_fmt(r->err, sizeof(r->err), "cannot open '%s': %s", path, strerror(-err));
		goto fail;
	}
	/* A WAL that exists but cannot be used is refused, never skipped:
	 * it may hold the last committed captures, and reading without it
	 * would show an older archive as if complete. */
	have_wal = 0;
	if (lstat(wal, &st) == 0) {
		if (S_ISLNK(st.st_mode) || !S_ISREG(st.st_mode)) {
			err = S_ISLNK(st.st_mode) ? -ELOOP : -EINVAL;
			emt_fmt(r->err, sizeof(r->err),
				"'%s': its WAL '%s' is %s: refusing to read the archive without it",
				path, wal, S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file");
			goto fail;
		}
		if (access(wal, R_OK) < 0) {
			err = -errno;
			emt_fmt(r->err, sizeof(r->err),
				"'%s': cannot read its WAL '%s' (%s): refusing to read the archive without it",
				path, wal, strerror(-err));
			goto fail;
		}
		/* SQLite itself ignores an empty WAL. */
		have_wal = st.st_size > 0;
	} else if (errno != ENOENT) {
		err = -errno;
		emt_fmt(r->err, sizeof(r->err), "'%s': cannot check for its WAL '%s': %s",
			path, wal, strerror(-err));
		goto fail;
	}
	/* Decide from the header alone before SQLite sees the file.  With a
	 * WAL, page 1 may only be current in the WAL: PRAGMA application_id
	 * decides after replay instead. */
	if (!have_wal && !hdr_ok) {
		err = -ENOTSUP;
		emt_fmt(r->err, sizeof(r->err), "'%s': not an emt archive", path);
		goto fail;
	}
	r->dctx = ZSTD_createDCtx();
	r->sha = emt_sha_new();
	if (!r->dctx || !r->sha) {
		err = -ENOMEM;
		emt_fmt(r->err, sizeof(r->err), "out of memory");
		goto fail;
	}
	/* A window of 2^21 covers a 1 MiB chunk plus a 1 MiB base: anything
	 * asking for more is not ours. */
	ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, 21);

	if (have_wal) {
		char dst[512];

		snprintf(r->tmpdir, sizeof(r->tmpdir), "%s/emt-read.XXXXXX",
			 getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 200 ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(r->tmpdir)) {
			err = -errno;
			r->tmpdir[0] = '\0';
			emt_fmt(r->err, sizeof(r->err), "cannot make a private copy of '%s': %s",
				path, strerror(-err));
			goto fail;
		}
		/* A writer may be running: the WAL's salt before the copy, in
		 * the copy and after it must agree, or the main file may hold
		 * pages checkpointed from frames the copied WAL lacks. */
		err = wal_salt(wal, salt0);
		snprintf(dst, sizeof(dst), "%s/a.emt", r->tmpdir);
		err = err ? err : copy_file(real, dst);
		if (!err) {
			snprintf(dst, sizeof(dst), "%s/a.emt-wal", r->tmpdir);
			err = copy_file(wal, dst);
		}
		if (!err && (wal_salt(dst, salt1) || wal_salt(wal, salt2) ||
			     memcmp(salt0, salt1, 8) || memcmp(salt0, salt2, 8)))
			err = -EAGAIN;
		if (err == -ENOENT || err == -ENODATA || err == -EAGAIN) {
			*again = 1;
			err = -EAGAIN;
			emt_fmt(r->err, sizeof(r->err), "'%s' kept changing while a private copy was made",
				path);
			goto fail;
		}
		if (err) {
			emt_fmt(r->err, sizeof(r->err), "cannot make a private copy of '%s': %s",
				path, strerror(-err));
			goto fail;
		}
		snprintf(dst, sizeof(dst), "%s/a.emt", r->tmpdir);
		/* Read-write on the copy so SQLite can replay the WAL. */
		flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW;
		if (sqlite3_open_v2(dst, &r->db, flags, NULL) != SQLITE_OK)
			goto dbfail;
	} else {
		uri = uri_for(real);
		if (!uri) {
			err = -ENOMEM;
			goto fail;
		}
		flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
		if (sqlite3_open_v2(uri, &r->db, flags, NULL) != SQLITE_OK)
			goto dbfail;
	}
	emt_db_harden(r->db);
	sqlite3_limit(r->db, SQLITE_LIMIT_LENGTH, 8 << 20);
	err = reader_setup(r, path, hdr_ok);
	if (err) {
		/* A copy that SQLite finds inconsistent while the WAL moved on
		 * is a torn copy, not damage. */
		if (have_wal && (wal_salt(wal, salt2) || memcmp(salt0, salt2, 8)))
			*again = 1;
		goto fail;
	}
	free(uri);
	free(real);
	return r;

dbfail:
	err = -EIO;
	emt_fmt(r->err, sizeof(r->err), "cannot open '%s': %s", path,
		r->db ? sqlite3_errmsg(r->db) : "out of memory");
fail:
	free(uri);
	free(real);
	if (errmsg && (!*again || last))
		*errmsg = strdup(r->err[0] ? r->err : strerror(-err));
	emt_reader_close(r);
	errno = -err;
	return NULL;
}

struct emt_reader *emt_reader_open(const char *path, char **errmsg)
{
	/* About 2 s of a live writer checkpointing under us, then give up. */
	for (int i = 0;; i++) {
		int again = 0;
		struct emt_reader *r = reader_open_once(path, errmsg, &again, i == 100);
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if (r || !again || i == 100)
			return r;
		nanosleep(&ts, NULL);
	}
}

/* ---------------------------------------------------------------- summary */

static uint64_t count_sql(struct emt_reader *r, const char *sql, int *err)
{
	sqlite3_stmt *st = NULL;
	uint64_t v = 0;

	if (prep(r, &st, sql)) {
		*err = -EBADMSG;
		return 0;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(st, 0);
	else
		*err = db_err(r, "summary");
	sqlite3_finalize(st);
	return v;
}

int emt_reader_summary(struct emt_reader *r, struct emt_summary *s)
{
	uint64_t u;
	int err = 0;

	if (!r || !s)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->format_major = r->major;
	s->format_minor = r->minor;
	s->sealed = (uint32_t)r->sealed;
	if (!parse_u64(meta_get(r, "start_ns"), &u))
		s->start_ns = u;
	if (r->sealed && !parse_u64(meta_get(r, "stop_ns"), &u))
		s->stop_ns = u;
	s->processes = count_sql(r, "SELECT count(*) FROM processes", &err);
	s->regions = count_sql(r, "SELECT count(*) FROM regions", &err);
	s->captures = count_sql(r, "SELECT count(*) FROM captures", &err);
	s->events = count_sql(r, "SELECT count(*) FROM events", &err);
	s->gaps = count_sql(r, "SELECT count(*) FROM gaps", &err);
	s->losses = count_sql(r, "SELECT total(count) FROM losses", &err);
	s->raw_bytes = count_sql(r, "SELECT total(size) FROM captures", &err);
	s->stored_bytes = count_sql(r, "SELECT total(stored_bytes) FROM captures", &err);
	return err;
}

const char *emt_reader_meta(struct emt_reader *r, const char *key)
{
	const char *v;

	if (!r || !key) {
		errno = EINVAL;
		return NULL;
	}
	v = meta_get(r, key);
	if (!v)
		errno = ENOENT;
	return v;
}

int64_t emt_reader_wall_ns(struct emt_reader *r, uint64_t time_ns)
{
	if (!r || !r->have_anchor)
		return (int64_t)time_ns;
	return (int64_t)time_ns - r->anchor_boot + r->anchor_real;
}

static uint64_t boot_from_wall(struct emt_reader *r, uint64_t wall)
{
	int64_t v;

	if (!r->have_anchor)
		return wall;
	v = (int64_t)wall - r->anchor_real + r->anchor_boot;
	return v < 0 ? 0 : (uint64_t)v;
}

/* ---------------------------------------------------------------- captures */

/* Columns 0..14 of st_cap and of the iterator query share this layout. */
static void capture_from_row(sqlite3_stmt *st, struct emt_capture *c)
{
	const char *tn = (const char *)sqlite3_column_text(st, 5);
	const void *h;
	int t;

	memset(c, 0, sizeof(*c));
	c->seq = (uint64_t)sqlite3_column_int64(st, 0);
	c->region_id = sqlite3_column_int64(st, 1);
	c->version = (uint32_t)sqlite3_column_int64(st, 2);
	c->pid = (uint32_t)sqlite3_column_int64(st, 3);
	c->tid = (uint32_t)sqlite3_column_int64(st, 4);
	t = emt_trigger_parse(tn);
	c->trigger = t > 0 ? (uint32_t)t : 0;
	c->prot_before = (uint32_t)sqlite3_column_int64(st, 6);
	c->prot_after = (uint32_t)sqlite3_column_int64(st, 7);
	c->addr = (uint64_t)sqlite3_column_int64(st, 8);
	c->size = (uint64_t)sqlite3_column_int64(st, 9);
	c->time_ns = (uint64_t)sqlite3_column_int64(st, 10);
	h = sqlite3_column_blob(st, 11);
	if (h && sqlite3_column_bytes(st, 11) == EMT_SHA256_LEN)
		memcpy(c->sha256, h, EMT_SHA256_LEN);
	c->stored_bytes = (uint64_t)sqlite3_column_int64(st, 12);
	c->ngaps = (uint32_t)sqlite3_column_int64(st, 13);
	c->has_regs = (uint32_t)sqlite3_column_int64(st, 14);
}

struct emt_capture_iter *emt_reader_captures(struct emt_reader *r,
					     const struct emt_filter *f)
{
	char sql[1024];
	size_t n;
	struct emt_capture_iter *it;
	int i = 1;

	if (!r) {
		errno = EINVAL;
		return NULL;
	}
	n = (size_t)snprintf(sql, sizeof(sql),
		"SELECT seq, region_id, version, pid, tid, trigger_name, prot_before,"
		" prot_after, addr, size, time_ns, sha256, stored_bytes,"
		" (SELECT count(*) FROM gaps g WHERE g.seq = c.seq),"
		" EXISTS(SELECT 1 FROM regs x WHERE x.seq = c.seq)"
		" FROM captures c WHERE 1");
#define ADD(cond) n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND " cond)
	if (f) {
		if (f->pid) ADD("pid = ?");
		if (f->trigger) ADD("trigger_name = ?");
		if (f->region_id) ADD("region_id = ?");
		if (f->since_ns) ADD("time_ns >= ?");
		if (f->until_ns) ADD("time_ns <= ?");
		if (f->min_size) ADD("size >= ?");
		if (f->seq_from) ADD("seq >= ?");
		if (f->seq_to) ADD("seq <= ?");
	}
#undef ADD
	snprintf(sql + n, sizeof(sql) - n, " ORDER BY seq");
	it = calloc(1, sizeof(*it));
	if (!it) {
		errno = ENOMEM;
		return NULL;
	}
	it->r = r;
	if (sqlite3_prepare_v2(r->db, sql, -1, &it->st, NULL) != SQLITE_OK) {
		errno = -db_err(r, "captures");
		free(it);
		return NULL;
	}
	if (f) {
		if (f->pid) sqlite3_bind_int64(it->st, i++, f->pid);
		if (f->trigger) {
			const char *tn = emt_trigger_name((enum emt_trigger)f->trigger);

			sqlite3_bind_text(it->st, i++, tn ? tn : "", -1, SQLITE_STATIC);
		}
		if (f->region_id) sqlite3_bind_int64(it->st, i++, f->region_id);
		if (f->since_ns) sqlite3_bind_int64(it->st, i++, (int64_t)boot_from_wall(r, f->since_ns));
		if (f->until_ns) sqlite3_bind_int64(it->st, i++, (int64_t)boot_from_wall(r, f->until_ns));
		if (f->min_size) sqlite3_bind_int64(it->st, i++, (int64_t)f->min_size);
		if (f->seq_from) sqlite3_bind_int64(it->st, i++, (int64_t)f->seq_from);
		if (f->seq_to) sqlite3_bind_int64(it->st, i++, (int64_t)f->seq_to);
	}
	return it;
}

int emt_capture_iter_next(struct emt_capture_iter *it, struct emt_capture *c)
{
	int rc;

	if (!it || !c)
		return -EINVAL;
	rc = sqlite3_step(it->st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_err(it->r, "captures");
	capture_from_row(it->st, c);
	/* A damaged b-tree can return rows again: never loop on it. */
	if (c->seq <= it->last_seq) {
		emt_fmt(it->r->err, sizeof(it->r->err),
			"captures table damaged: capture %" PRIu64 " after %" PRIu64, c->seq, it->last_seq);
		return -EBADMSG;
	}
	it->last_seq = c->seq;
	return 1;
}

void emt_capture_iter_free(struct emt_capture_iter *it)
{
	if (!it)
		return;
	sqlite3_finalize(it->st);
	free(it);
}

int emt_reader_capture(struct emt_reader *r, uint64_t seq, struct emt_capture *c)
{
	int rc, err = 0;

	if (!r || !c)
		return -EINVAL;
	sqlite3_bind_int64(r->st_cap, 1, (int64_t)seq);
	rc = sqlite3_step(r->st_cap);
	if (rc == SQLITE_ROW) {
		capture_from_row(r->st_cap, c);
	} else if (rc == SQLITE_DONE) {
		emt_fmt(r->err, sizeof(r->err), "capture %" PRIu64 ": no such capture", seq);
		err = -ENOENT;
	} else {
		err = db_err(r, "capture");
	}
	sqlite3_reset(r->st_cap);
	return err;
}

/* Grows decode buffer `i` to `n` bytes (n <= EMT_CHUNK_SIZE_MAX). */
static uint8_t *lvl_buf(struct emt_reader *r, size_t i, size_t n)
{
	if (r->lvl_cap[i] < n) {
		uint8_t *p = realloc(r->lvl[i], n);

		if (!p)
			return NULL;
		r->lvl[i] = p;
		r->lvl_cap[i] = n;
	}
	return r->lvl[i];
}

/* Decodes one zstd frame of exactly `size` bytes into out, optionally
 * with a raw prefix.  With `partial`, bytes decoded before an error stay
 * in `out`.  Returns 0 or -EBADMSG with r->err set. */
static int zdecode(struct emt_reader *r, int64_t id, const void *src, size_t srclen,
		   const void *prefix, size_t nprefix, uint8_t *out, size_t size)
{
	unsigned long long fcs = ZSTD_getFrameContentSize(src, srclen);
	ZSTD_inBuffer in = { src, srclen, 0 };
	ZSTD_outBuffer ob = { out, size, 0 };
	size_t ret;

	if (fcs == ZSTD_CONTENTSIZE_ERROR || fcs == ZSTD_CONTENTSIZE_UNKNOWN || fcs != size ||
	    fcs > EMT_CHUNK_SIZE_MAX) {
		emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": frame content size does not match", id);
		return -EBADMSG;
	}
	ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
	if (prefix && ZSTD_isError(ZSTD_DCtx_refPrefix(r->dctx, prefix, nprefix))) {
		emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": bad delta base", id);
		return -EBADMSG;
	}
	/* Streaming keeps whatever decodes before damage (for `force`). */
	do {
		ret = ZSTD_decompressStream(r->dctx, &ob, &in);
		if (ZSTD_isError(ret)) {
			emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": %s", id,
				ZSTD_getErrorName(ret));
			return -EBADMSG;
		}
	} while (ret != 0 && in.pos < in.size && ob.pos < ob.size);
	if (ret != 0) {
		/* Output full but the frame (checksum) not finished. */
		uint8_t extra;
		ZSTD_outBuffer eb = { &extra, 1, 0 };

		while (ret != 0 && in.pos < in.size) {
			ret = ZSTD_decompressStream(r->dctx, &eb, &in);
			if (ZSTD_isError(ret) || eb.pos) {
				emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": %s", id,
					ZSTD_isError(ret) ? ZSTD_getErrorName(ret) : "too much data");
				return -EBADMSG;
			}
		}
	}
	if (ret != 0 || ob.pos != size || in.pos != in.size) {
		emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": truncated or trailing data", id);
		return -EBADMSG;
	}
	return 0;
}

/* Chunks decoded and verified lately, by id: versions of a region are
 * delta chains over the same bases, and without this every capture's
 * read decodes its whole chain again (up to 17 frames per chunk).  The
 * reader's file cannot change under it (immutable, or a private copy),
 * so a verified chunk stays verified. */
static struct dcache *dcache_find(struct emt_reader *r, int64_t id)
{
	struct dcache *d = &r->dc[(uint64_t)id % DCACHE_SLOTS];

	return id > 0 && d->id == id ? d : NULL;
}

static void dcache_put(struct emt_reader *r, int64_t id, uint8_t depth, const uint8_t *p,
		       size_t n)
{
	struct dcache *d = &r->dc[(uint64_t)id % DCACHE_SLOTS];

	if (id <= 0 || n > DCACHE_CHUNK_MAX)
		return;
	if (d->cap < n) {
		uint8_t *nb = realloc(d->buf, n);

		if (!nb)
			return;         /* a cache: doing without is fine */
		d->buf = nb;
		d->cap = n;
	}
	memcpy(d->buf, p, n);
	d->id = id;
	d->size = (uint32_t)n;
	d->depth = depth;
}

/* Decodes chunk `id` (expected `size` bytes) into `out`, resolving its
 * delta chain root first.  Verifies every chunk of the chain against
 * its hash. */
static int chunk_decode(struct emt_reader *r, int64_t id, uint64_t size, uint8_t *out)
{
	int64_t chain[CHAIN_MAX];
	uint64_t sizes[CHAIN_MAX];
	uint8_t depths[CHAIN_MAX];
	size_t n = 0;
	int64_t cur = id;
	int64_t want_depth = -1;
	struct dcache *hit = NULL;
	int err = 0;

	/* Walk to the root: depth must fall by exactly one per step, which
	 * also rules out cycles.  A chunk already decoded and verified ends
	 * the walk early: its bytes are the prefix of the level above. */
	for (;;) {
		int rc;

		hit = dcache_find(r, cur);
		if (hit) {
			if (want_depth >= 0 && hit->depth != want_depth) {
				emt_fmt(r->err, sizeof(r->err),
					"stored chunk %" PRId64 ": bad encoding, depth or size", cur);
				return -EBADMSG;
			}
			break;
		}
		if (n == CHAIN_MAX) {
			emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": delta chain too long", id);
			return -EBADMSG;
		}
		sqlite3_bind_int64(r->st_chain, 1, cur);
		rc = sqlite3_step(r->st_chain);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(r->st_chain);
			if (rc == SQLITE_DONE) {
				emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": missing", cur);
				return -EBADMSG;
			}
			return db_err(r, "chunk");
		}
		int64_t base = sqlite3_column_int64(r->st_chain, 0);
		int base_null = sqlite3_column_type(r->st_chain, 0) == SQLITE_NULL;
		int64_t depth = sqlite3_column_int64(r->st_chain, 1);
		const char *enc = (const char *)sqlite3_column_text(r->st_chain, 2);
		int64_t csize = sqlite3_column_int64(r->st_chain, 3);
		int delta = enc && strcmp(enc, "zstd-delta") == 0;
		int plain = enc && strcmp(enc, "zstd") == 0;

		sqlite3_reset(r->st_chain);
		if ((!delta && !plain) || (want_depth >= 0 && depth != want_depth) ||
		    depth < 0 || depth > EMT_DELTA_DEPTH_MAX || (plain && depth != 0) ||
		    (delta && (depth == 0 || base_null)) || csize < 1 ||
		    csize > (int64_t)EMT_CHUNK_SIZE_MAX) {
			emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": bad encoding, depth or size", cur);
			return -EBADMSG;
		}
		chain[n] = cur;
		sizes[n] = (uint64_t)csize;
		depths[n] = (uint8_t)depth;
		n++;
		if (plain)
			break;
		want_depth = depth - 1;
		cur = base;
	}
	uint64_t top = n ? sizes[0] : hit->size;

	if (top != size) {
		emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": size %" PRIu64 ", expected %" PRIu64,
			id, top, size);
		return -EBADMSG;
	}
	if (!n) {
		memcpy(out, hit->buf, (size_t)size);
		return 0;
	}
	/* Decode root (or the cached base) first; level k's output is level
	 * k-1's prefix. */
	const uint8_t *prefix = hit ? hit->buf : NULL;
	size_t nprefix = hit ? hit->size : 0;

	for (size_t k = n; k-- > 0;) {
		uint8_t *dst = k == 0 ? out : lvl_buf(r, k, sizes[k]);
		uint8_t h[EMT_SHA256_LEN];

		if (!dst)
			return -ENOMEM;
		sqlite3_bind_int64(r->st_chunk, 1, chain[k]);
		if (sqlite3_step(r->st_chunk) != SQLITE_ROW) {
			err = db_err(r, "chunk");
			sqlite3_reset(r->st_chunk);
			return err;
		}
		const void *hash = sqlite3_column_blob(r->st_chunk, 0);
		int hlen = sqlite3_column_bytes(r->st_chunk, 0);
		const void *data = sqlite3_column_blob(r->st_chunk, 5);
		int dlen = sqlite3_column_bytes(r->st_chunk, 5);

		if (!hash || hlen != EMT_SHA256_LEN || !data) {
			emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": bad hash or data column", chain[k]);
			err = -EBADMSG;
		} else {
			err = zdecode(r, chain[k], data, (size_t)dlen, prefix, nprefix, dst, sizes[k]);
			if (!err) {
				emt_sha256(dst, sizes[k], h);
				if (memcmp(h, hash, EMT_SHA256_LEN) != 0) {
					emt_fmt(r->err, sizeof(r->err), "stored chunk %" PRId64 ": hash mismatch", chain[k]);
					err = -EBADMSG;
				}
			}
		}
		sqlite3_reset(r->st_chunk);
		if (err) {
			if (k != 0)     /* the base is bad: nothing of `out` is valid */
				memset(out, 0, size);
			return err;
		}
		dcache_put(r, chain[k], depths[k], dst, (size_t)sizes[k]);
		prefix = dst;
		nprefix = sizes[k];
	}
	return 0;
}

/* Walks the chunks of capture `seq`, handing each decoded chunk to `emit`.
 * Damaged chunks are reported in r->err (the first one), zero-filled
 * (or partially decoded) and walking continues when `force`. */
typedef int (*emit_fn)(void *ctx, uint64_t off, const uint8_t *p, size_t n);

static int capture_walk(struct emt_reader *r, uint64_t seq, uint8_t *direct,
			emit_fn emit, void *ctx, int force, uint64_t *size_out)
{
	uint64_t size, cs, nchunks, expect_idx = 0;
	uint8_t want[EMT_SHA256_LEN], got[EMT_SHA256_LEN];
	char first_err[EMT_ERRMSG_MAX] = "";
	int damaged = 0, rc, err = 0;

	sqlite3_bind_int64(r->st_cap, 1, (int64_t)seq);
	rc = sqlite3_step(r->st_cap);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(r->st_cap);
		if (rc == SQLITE_DONE) {
			emt_fmt(r->err, sizeof(r->err), "capture %" PRIu64 ": no such capture", seq);
			return -ENOENT;
		}
		return db_err(r, "capture");
	}
	size = (uint64_t)sqlite3_column_int64(r->st_cap, 9);
	cs = (uint64_t)sqlite3_column_int64(r->st_cap, 15);
	nchunks = (uint64_t)sqlite3_column_int64(r->st_cap, 16);
	const void *h = sqlite3_column_blob(r->st_cap, 11);
	int hl = sqlite3_column_bytes(r->st_cap, 11);

	if (h && hl == EMT_SHA256_LEN)
		memcpy(want, h, EMT_SHA256_LEN);
	sqlite3_reset(r->st_cap);
	if (!h || hl != EMT_SHA256_LEN || size > EMT_CAPTURE_SIZE_MAX || cs < 4096 ||
	    cs > EMT_CHUNK_SIZE_MAX || (cs & (cs - 1)) || nchunks != (size + cs - 1) / cs) {
		emt_fmt(r->err, sizeof(r->err), "capture %" PRIu64 ": inconsistent size, chunk size or hash",
			seq);
		return -EBADMSG;
	}
	if (size_out)
		*size_out = size;
	if (!direct && !r->chunkbuf) {
		r->chunkbuf = malloc(EMT_CHUNK_SIZE_MAX);
		if (!r->chunkbuf)
			return -ENOMEM;
	}
	emt_sha_final(r->sha, got);     /* resets the context */

	sqlite3_bind_int64(r->st_cc, 1, (int64_t)seq);
	/* st_cc stays active while chunks are decoded with other
	 * statements: SQLite allows that for reads. */
	for (;;) {
		rc = sqlite3_step(r->st_cc);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			err = db_err(r, "capture chunks");
			goto out;
		}
		uint64_t idx = (uint64_t)sqlite3_column_int64(r->st_cc, 0);
		int64_t cid = sqlite3_column_int64(r->st_cc, 1);

		if (idx != expect_idx || idx >= nchunks) {
			/* Missing or extra chunk rows: positions after this one
			 * cannot be trusted. */
			snprintf(first_err, sizeof(first_err),
				 "capture %" PRIu64 ": chunk list broken at index %" PRIu64, seq, expect_idx);
			damaged = 1;
			break;
		}
		uint64_t off = idx * cs;
		size_t n = (size_t)(size - off < cs ? size - off : cs);
		uint8_t *dst = direct ? direct + off : r->chunkbuf;
		int e = chunk_decode(r, cid, n, dst);

		if (e == -ENOMEM || e == -EIO) {
			err = e;
			goto out;
		}
		if (e) {
			if (!damaged)
				snprintf(first_err, sizeof(first_err), "capture %" PRIu64 ": chunk %" PRIu64 ": %.400s",
					 seq, idx, r->err);
			damaged = 1;
			if (!force) {
				err = -EBADMSG;
				goto out;
			}
		}
		emt_sha_update(r->sha, dst, n);
		if (emit) {
			e = emit(ctx, off, dst, n);
			if (e) {
				err = e;
				goto out;
			}
		}
		expect_idx++;
	}
	if (expect_idx != nchunks) {
		if (!damaged)
			snprintf(first_err, sizeof(first_err), "capture %" PRIu64 ": %" PRIu64
				 " of %" PRIu64 " chunks missing", seq, nchunks - expect_idx, nchunks);
		damaged = 1;
		if (force && (emit || direct)) {
			/* Zero-fill what is missing so the output has the
			 * capture's size (verify needs no output). */
			for (uint64_t i = expect_idx; i < nchunks; i++) {
				uint64_t off = i * cs;
				size_t n = (size_t)(size - off < cs ? size - off : cs);
				uint8_t *dst = direct ? direct + off : r->chunkbuf;

				memset(dst, 0, n);
				if (emit && (err = emit(ctx, off, dst, n)) != 0)
					goto out;
			}
		}
	}
	emt_sha_final(r->sha, got);
	if (!damaged && memcmp(got, want, EMT_SHA256_LEN) != 0) {
		snprintf(first_err, sizeof(first_err), "capture %" PRIu64 ": content hash mismatch", seq);
		damaged = 1;
	}
	if (damaged)
		err = -EBADMSG;
out:
	if (err == -EBADMSG && first_err[0])
		memcpy(r->err, first_err, sizeof(r->err));
	sqlite3_reset(r->st_cc);
	return err;
}

int emt_reader_read_capture(struct emt_reader *r, uint64_t seq, void *buf,
			    size_t cap, int force)
{
	struct emt_capture c;
	int err;

	if (!r || (!buf && cap))
		return -EINVAL;
	err = emt_reader_capture(r, seq, &c);
	if (err)
		return err;
	if (c.size > cap) {
		emt_fmt(r->err, sizeof(r->err), "capture %" PRIu64 ": %" PRIu64
			" bytes do not fit in a buffer of %zu", seq, c.size, cap);
		return -EINVAL;
	}
	if (c.size)
		memset(buf, 0, (size_t)c.size);
	return capture_walk(r, seq, c.size ? buf : NULL, NULL, NULL, force, NULL);
}

static int emit_fd(void *ctx, uint64_t off, const uint8_t *p, size_t n)
{
	int fd = *(int *)ctx;

	(void)off;
	while (n) {
		ssize_t m = write(fd, p, n);

		if (m < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += m;
		n -= (size_t)m;
	}
	return 0;
}

int emt_reader_write_capture(struct emt_reader *r, uint64_t seq, int fd, int force)
{
	int err;

	if (!r || fd < 0)
		return -EINVAL;
	err = capture_walk(r, seq, NULL, emit_fd, &fd, force, NULL);
	if (err && err != -EBADMSG && err != -ENOENT && !strstr(r->err, "capture"))
		emt_fmt(r->err, sizeof(r->err), "capture %" PRIu64 ": write failed: %s", seq,
			strerror(-err));
	return err;
}

int emt_reader_regs(struct emt_reader *r, uint64_t seq, struct emt_regs_x86_64 *regs)
{
	int rc, err = 0;

	if (!r || !regs)
		return -EINVAL;
	sqlite3_bind_int64(r->st_regs, 1, (int64_t)seq);
	rc = sqlite3_step(r->st_regs);
	if (rc == SQLITE_ROW) {
		const char *arch = (const char *)sqlite3_column_text(r->st_regs, 0);
		const uint8_t *d = sqlite3_column_blob(r->st_regs, 1);
		int n = sqlite3_column_bytes(r->st_regs, 1);

		if (!arch || strcmp(arch, EMT_ARCH_X86_64) != 0 || !d || n != EMT_REGS_X86_64_LEN) {
			emt_fmt(r->err, sizeof(r->err), "capture %" PRIu64 ": bad register record", seq);
			err = -EBADMSG;
		} else {
			uint64_t *v = (uint64_t *)regs;

			for (size_t i = 0; i < EMT_REGS_X86_64_LEN / 8; i++) {
				v[i] = 0;
				for (size_t b = 0; b < 8; b++)
					v[i] |= (uint64_t)d[i * 8 + b] << (8 * b);
			}
		}
	} else if (rc == SQLITE_DONE) {
		emt_fmt(r->err, sizeof(r->err), "capture %" PRIu64 ": no registers", seq);
		err = -ENOENT;
	} else {
		err = db_err(r, "registers");
	}
	sqlite3_reset(r->st_regs);
	return err;
}

int emt_reader_gaps(struct emt_reader *r, uint64_t seq, struct emt_gap **gaps, size_t *ngaps)
{
	struct emt_gap *v = NULL;
	size_t n = 0, cap = 0;
	int rc, err = 0;

	if (!r || !gaps || !ngaps)
		return -EINVAL;
	*gaps = NULL;
	*ngaps = 0;
	sqlite3_bind_int64(r->st_gaps, 1, (int64_t)seq);
	while ((rc = sqlite3_step(r->st_gaps)) == SQLITE_ROW) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct emt_gap *nv;

			/* A capture of 4 GiB has at most 2^20 pages. */
			if (nc > (1u << 21)) {
				emt_fmt(r->err, sizeof(r->err), "capture %" PRIu64 ": too many gaps", seq);
				err = -E2BIG;
				break;
			}
			nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		int reason = emt_gap_reason_parse((const char *)sqlite3_column_text(r->st_gaps, 3));

		v[n].seq = seq;
		v[n].offset = (uint64_t)sqlite3_column_int64(r->st_gaps, 1);
		v[n].length = (uint64_t)sqlite3_column_int64(r->st_gaps, 2);
		v[n].reason = reason > 0 ? (uint32_t)reason : 0;
		v[n].err = (int32_t)sqlite3_column_int64(r->st_gaps, 4);
		n++;
	}
	if (!err && rc != SQLITE_DONE)
		err = db_err(r, "gaps");
	sqlite3_reset(r->st_gaps);
	if (err) {
		free(v);
		return err;
	}
	*gaps = v;
	*ngaps = n;
	return 0;
}

/* ---------------------------------------------------------------- rows */

static struct emt_row_iter *row_iter(struct emt_reader *r, enum row_kind kind,
				     const char *sql, uint32_t pid)
{
	struct emt_row_iter *it;

	if (!r) {
		errno = EINVAL;
		return NULL;
	}
	it = calloc(1, sizeof(*it));
	if (!it) {
		errno = ENOMEM;
		return NULL;
	}
	it->r = r;
	it->kind = kind;
	if (sqlite3_prepare_v2(r->db, sql, -1, &it->st, NULL) != SQLITE_OK) {
		errno = -db_err(r, "rows");
		free(it);
		return NULL;
	}
	if (sqlite3_bind_parameter_count(it->st) >= 1)
		sqlite3_bind_int64(it->st, 1, pid);
	return it;
}

/* Copies a column as a NUL-terminated string (hostile bytes kept; an
 * embedded NUL truncates, which SPEC.md allows). */
static const char *col_str_max(sqlite3_stmt *st, int i, char **slot, size_t max)
{
	const void *p;
	int n;

	free(*slot);
	*slot = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return NULL;
	p = sqlite3_column_blob(st, i);
	n = sqlite3_column_bytes(st, i);
	if (n < 0 || (size_t)n > max)
		n = (int)max;
	*slot = malloc((size_t)n + 1);
	if (!*slot)
		return NULL;
	if (n)
		memcpy(*slot, p, (size_t)n);
	(*slot)[n] = '\0';
	return *slot;
}

static const char *col_str(sqlite3_stmt *st, int i, char **slot)
{
	return col_str_max(st, i, slot, EMT_STRING_MAX);
}

static int row_step(struct emt_row_iter *it, enum row_kind kind)
{
	int rc;

	if (!it || it->kind != kind)
		return -EINVAL;
	rc = sqlite3_step(it->st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_err(it->r, "rows");
	/* Every row query orders by id (column 0, or 4 for losses): a
	 * damaged b-tree that returns rows again must not loop forever. */
	int64_t id = sqlite3_column_int64(it->st, kind == ROW_LOSS ? 4 : 0);

	if (it->started && id <= it->last_id) {
		emt_fmt(it->r->err, sizeof(it->r->err), "table damaged: row %" PRId64 " after %" PRId64,
			id, it->last_id);
		return -EBADMSG;
	}
	it->started = 1;
	it->last_id = id;
	return 1;
}

struct emt_row_iter *emt_reader_processes(struct emt_reader *r)
{
	return row_iter(r, ROW_PROC,
			"SELECT id, pid, ppid, start_ns, exit_ns, exit_status, has_exit, exe,"
			" cmdline FROM processes ORDER BY id", 0);
}

int emt_process_iter_next(struct emt_row_iter *it, struct emt_process *p)
{
	int ret = row_step(it, ROW_PROC);
	sqlite3_stmt *st;

	if (ret <= 0 || !p)
		return p ? ret : -EINVAL;
	st = it->st;
	memset(p, 0, sizeof(*p));
	p->id = sqlite3_column_int64(st, 0);
	p->pid = (uint32_t)sqlite3_column_int64(st, 1);
	p->ppid = (uint32_t)sqlite3_column_int64(st, 2);
	p->start_ns = (uint64_t)sqlite3_column_int64(st, 3);
	p->exit_ns = (uint64_t)sqlite3_column_int64(st, 4);
	p->exit_status = (int32_t)sqlite3_column_int64(st, 5);
	p->has_exit = sqlite3_column_int64(st, 6) != 0;
	p->exe = col_str(st, 7, &it->s1);
	p->cmdline = col_str(st, 8, &it->s2);
	return 1;
}

static void region_from_row(sqlite3_stmt *st, struct emt_region *rg, char **slot)
{
	int b = emt_backing_parse((const char *)sqlite3_column_text(st, 3));

	memset(rg, 0, sizeof(*rg));
	rg->id = sqlite3_column_int64(st, 0);
	rg->process_id = sqlite3_column_int64(st, 1);
	rg->pid = (uint32_t)sqlite3_column_int64(st, 2);
	rg->backing = b > 0 ? (uint32_t)b : 0;
	rg->start = (uint64_t)sqlite3_column_int64(st, 4);
	rg->length = (uint64_t)sqlite3_column_int64(st, 5);
	rg->created_ns = (uint64_t)sqlite3_column_int64(st, 6);
	rg->gone_ns = (uint64_t)sqlite3_column_int64(st, 7);
	rg->path = col_str(st, 8, slot);
	rg->inode = (uint64_t)sqlite3_column_int64(st, 9);
	rg->dev = (uint64_t)sqlite3_column_int64(st, 10);
	rg->offset = (uint64_t)sqlite3_column_int64(st, 11);
	rg->prot = (uint32_t)sqlite3_column_int64(st, 12);
	rg->nversions = (uint32_t)sqlite3_column_int64(st, 13);
}

#define REGION_COLS "id, process_id, pid, backing, start, length, created_ns, gone_ns," \
	" path, inode, dev, offset, prot," \
	" (SELECT count(*) FROM captures c WHERE c.region_id = g.id)"

struct emt_row_iter *emt_reader_regions(struct emt_reader *r, uint32_t pid)
{
	if (pid)
		return row_iter(r, ROW_REGION, "SELECT " REGION_COLS
				" FROM regions g WHERE pid = ?1 ORDER BY id", pid);
	return row_iter(r, ROW_REGION, "SELECT " REGION_COLS " FROM regions g ORDER BY id", 0);
}

int emt_region_iter_next(struct emt_row_iter *it, struct emt_region *rg)
{
	int ret = row_step(it, ROW_REGION);

	if (ret <= 0 || !rg)
		return rg ? ret : -EINVAL;
	region_from_row(it->st, rg, &it->s1);
	return 1;
}

int emt_reader_region(struct emt_reader *r, int64_t id, struct emt_region *rg)
{
	int rc, err = 0;

	if (!r || !rg)
		return -EINVAL;
	sqlite3_bind_int64(r->st_region, 1, id);
	rc = sqlite3_step(r->st_region);
	if (rc == SQLITE_ROW) {
		/* The path is valid until the next emt_reader_region call. */
		region_from_row(r->st_region, rg, &r->region_path);
	} else if (rc == SQLITE_DONE) {
		emt_fmt(r->err, sizeof(r->err), "region %" PRId64 ": no such region", id);
		err = -ENOENT;
	} else {
		err = db_err(r, "region");
	}
	sqlite3_reset(r->st_region);
	return err;
}

struct emt_row_iter *emt_reader_events(struct emt_reader *r, uint32_t pid)
{
	if (pid)
		return row_iter(r, ROW_EVENT, "SELECT id, time_ns, pid, tid, syscall, addr, len,"
				" prot, flags, fd, ret, seq, detail FROM events WHERE pid = ?1"
				" ORDER BY id", pid);
	return row_iter(r, ROW_EVENT, "SELECT id, time_ns, pid, tid, syscall, addr, len,"
			" prot, flags, fd, ret, seq, detail FROM events ORDER BY id", 0);
}

int emt_event_iter_next(struct emt_row_iter *it, struct emt_event *e)
{
	int ret = row_step(it, ROW_EVENT);
	sqlite3_stmt *st;

	if (ret <= 0 || !e)
		return e ? ret : -EINVAL;
	st = it->st;
	memset(e, 0, sizeof(*e));
	e->id = sqlite3_column_int64(st, 0);
	e->time_ns = (uint64_t)sqlite3_column_int64(st, 1);
	e->pid = (uint32_t)sqlite3_column_int64(st, 2);
	e->tid = (uint32_t)sqlite3_column_int64(st, 3);
	e->syscall = col_str(st, 4, &it->s1);
	if (!e->syscall)
		e->syscall = "";
	e->addr = (uint64_t)sqlite3_column_int64(st, 5);
	e->len = (uint64_t)sqlite3_column_int64(st, 6);
	e->prot = (uint64_t)sqlite3_column_int64(st, 7);
	e->flags = (uint64_t)sqlite3_column_int64(st, 8);
	e->fd = sqlite3_column_int64(st, 9);
	e->ret = sqlite3_column_int64(st, 10);
	e->seq = (uint64_t)sqlite3_column_int64(st, 11);
	e->detail = col_str(st, 12, &it->s2);
	return 1;
}

struct emt_row_iter *emt_reader_losses(struct emt_reader *r)
{
	return row_iter(r, ROW_LOSS, "SELECT last_ns, kind, count, pid, id FROM losses ORDER BY id", 0);
}

int emt_loss_iter_next(struct emt_row_iter *it, struct emt_loss *l)
{
	int ret = row_step(it, ROW_LOSS);
	sqlite3_stmt *st;

	if (ret <= 0 || !l)
		return l ? ret : -EINVAL;
	st = it->st;
	memset(l, 0, sizeof(*l));
	l->time_ns = (uint64_t)sqlite3_column_int64(st, 0);
	l->kind = col_str(st, 1, &it->s1);
	if (!l->kind)
		l->kind = "";
	l->count = (uint64_t)sqlite3_column_int64(st, 2);
	l->pid = (uint32_t)sqlite3_column_int64(st, 3);
	return 1;
}

void emt_row_iter_free(struct emt_row_iter *it)
{
	if (!it)
		return;
	sqlite3_finalize(it->st);
	free(it->s1);
	free(it->s2);
	free(it->s3);
	free(it);
}

/* ---------------------------------------------------------------- verify */

/* Reports beyond this many of one kind are summed up in one line: a
 * wholesale rewrite must not flood the analyst (or the caller's memory). */
#define VERIFY_DETAIL_MAX 100

struct vctx {
	emt_verify_report_fn report;
	void *ctx;
	int problems;
};

static void vreport(struct vctx *v, const char *item, const char *msg)
{
	v->problems++;
	if (v->report)
		v->report(v->ctx, item, msg);
}

/* Whether `text` is `canon` with `x` inserted at `ip`, and `x` cannot
 * change the meaning of what surrounds it: it starts with ',' (so it
 * does not extend the column before it, e.g. into a generated column),
 * and holds no ';' or comment and balanced parentheses (so it cannot end
 * the statement early and drop our constraints or STRICT). */
static int inserted_at(const char *canon, size_t clen, const char *text, size_t tlen, size_t ip)
{
	size_t xlen = tlen - clen;
	const char *x = text + ip;
	int depth = 0;

	if (!ip || memcmp(text, canon, ip) || memcmp(text + ip + xlen, canon + ip, clen - ip) ||
	    x[0] != ',')
		return 0;
	for (size_t i = 0; i < xlen; i++) {
		if (x[i] == ';' || (i + 1 < xlen && ((x[i] == '-' && x[i + 1] == '-') ||
						     (x[i] == '/' && x[i + 1] == '*'))))
			return 0;
		if (x[i] == '(')
			depth++;
		if (x[i] == ')' && --depth < 0)
			return 0;
	}
	return depth == 0;
}

/* Whether `text` is `canon` (the statement of this minor) extended the
 * way SPEC.md section 3 allows a newer minor to: further columns after
 * the last column definition, where SQLite's ALTER TABLE ADD COLUMN puts
 * them (right after that definition when table constraints follow, else
 * right before the closing parenthesis).  Everything of ours, CHECKs
 * and STRICT included, is then still there, in place. */
static int schema_extends(const char *canon, size_t clen, const char *text, size_t tlen)
{
	size_t ip = 0, close = 0;

	if (tlen == clen)
		return memcmp(canon, text, clen) == 0;
	if (tlen < clen || strncmp(canon, "CREATE TABLE ", 13))
		return 0;
	/* Our statements put one item per line; column definitions are
	 * the lines "  name ..." (table constraints are upper case), and
	 * the statement ends "\n) STRICT...". */
	for (size_t i = 0; i + 3 < clen; i++) {
		if (canon[i] == '\n' && canon[i + 1] == ' ' && canon[i + 2] == ' ' &&
		    canon[i + 3] >= 'a' && canon[i + 3] <= 'z') {
			size_t e = i + 1;

			while (e < clen && canon[e] != '\n')
				e++;
			if (e > i + 1 && canon[e - 1] == ',')
				e--;
			ip = e;
		}
		if (canon[i] == '\n' && canon[i + 1] == ')')
			close = i + 1;
	}
	return inserted_at(canon, clen, text, tlen, ip) ||
	       inserted_at(canon, clen, text, tlen, close);
}

/* Format v1 writers create no trigger and no view, and create each table
 * and index exactly as emt_schema_sql (and, from 1.1, emt_schema_sql_1_1)
 * says (minors only add, so an archive of a minor up to ours must match
 * exactly; one of a newer minor may have columns appended, see
 * schema_extends): anything
 * else was added or altered after the capture.  Nothing planted ever runs
 * (triggers and views are disabled on open), but the analyst must learn
 * that the file was tampered with.  Unknown tables and indexes are
 * allowed (SPEC.md section 3) and not reported. */
static void verify_schema(struct emt_reader *r, struct vctx *v)
{
	sqlite3_stmt *q = NULL;
	char item[EMT_ERRMSG_MAX], msg[EMT_ERRMSG_MAX];
	int rc;

	if (prep(r, &q, "SELECT type, name, sql FROM sqlite_schema")) {
		vreport(v, "schema", r->err);
		return;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *type = (const char *)sqlite3_column_text(q, 0);
		const char *name = (const char *)sqlite3_column_text(q, 1);
		const char *text = (const char *)sqlite3_column_text(q, 2);
		int tlen = sqlite3_column_bytes(q, 2);
		const char *canon;
		size_t clen;

		if (!type || !name)
			continue;
		if (!strcmp(type, "trigger") || !strcmp(type, "view")) {
			emt_fmt(item, sizeof(item), "schema %s '%s'", type, name);
			vreport(v, item, "planted: format v1 archives have none (never run by readers)");
			continue;
		}
		if (!text || !emt_schema_statement(name, r->minor, &canon, &clen))
			continue;
		if (r->minor > EMT_FORMAT_MINOR ? schema_extends(canon, clen, text, (size_t)tlen)
		    : ((size_t)tlen == clen && memcmp(canon, text, clen) == 0))
			continue;
		emt_fmt(item, sizeof(item), "schema %s '%s'", type, name);
		if (r->minor > EMT_FORMAT_MINOR)
			emt_fmt(msg, sizeof(msg), "altered: not the statement of format %u.%u"
				" with columns appended (archive says minor %u)",
				EMT_FORMAT_MAJOR, EMT_FORMAT_MINOR, r->minor);
		else
			emt_fmt(msg, sizeof(msg), "altered: differs from format %u.%u",
				EMT_FORMAT_MAJOR, r->minor);
		vreport(v, item, msg);
	}
	if (rc != SQLITE_DONE)
		vreport(v, "schema", sqlite3_errmsg(r->db));
	sqlite3_finalize(q);
}

/* ledger-v2 digests of the rows a capture's entry covers (SPEC.md
 * section 9).  Region and process digests repeat across a region's
 * versions: a small cache keyed by region id saves two queries each. */
#define VCACHE 256
struct vledger {
	sqlite3_stmt *gaps, *regs, *region, *proc;
	struct {
		int64_t id;
		uint8_t region[EMT_SHA256_LEN], proc[EMT_SHA256_LEN];
	} cache[VCACHE];
};

static void vledger_free(struct vledger *vl)
{
	sqlite3_finalize(vl->gaps);
	sqlite3_finalize(vl->regs);
	sqlite3_finalize(vl->region);
	sqlite3_finalize(vl->proc);
	free(vl);
}

static struct vledger *vledger_new(struct emt_reader *r)
{
	struct vledger *vl = calloc(1, sizeof(*vl));
	int err;

	if (!vl)
		return NULL;
	err = prep(r, &vl->gaps, "SELECT offset, length, reason, err FROM gaps WHERE seq = ?1"
		   " ORDER BY offset");
	err = err ? err : prep(r, &vl->regs, "SELECT arch, data FROM regs WHERE seq = ?1");
	err = err ? err : prep(r, &vl->region,
			       "SELECT process_id, pid, backing, start, length, created_ns, path,"
			       " inode, dev, offset, prot FROM regions WHERE id = ?1");
	err = err ? err : prep(r, &vl->proc,
			       "SELECT pid, ppid, start_ns, exe, cmdline FROM processes"
			       " WHERE id = (SELECT process_id FROM regions WHERE id = ?1)");
	if (err) {
		vledger_free(vl);
		return NULL;
	}
	return vl;
}

static int digest_of(sqlite3_stmt *st, int64_t key, uint8_t out[EMT_SHA256_LEN])
{
	sqlite3_bind_int64(st, 1, key);
	return emt_rows_digest(st, out) == SQLITE_OK ? 0 : -EIO;
}

/* Entry of the capture row `q` (columns of the verify query) after
 * `prev`, by the v2 rules.  Integers come straight from the columns, so
 * a value outside its C type (a pid of 2^32 + 5) cannot pass for the
 * one the writer covered. */
static int ledger_v2_entry(struct vledger *vl, sqlite3_stmt *q, const uint8_t prev[EMT_SHA256_LEN],
			   uint8_t next[EMT_SHA256_LEN])
{
	struct emt_ledger_row lr;
	struct emt_line text;
	uint8_t dg[4][EMT_SHA256_LEN];
	int64_t rid = sqlite3_column_int64(q, 1);
	size_t slot = (size_t)((uint64_t)rid % VCACHE);
	int err;

	lr.seq = sqlite3_column_int64(q, 0);
	lr.region_id = rid;
	lr.version = sqlite3_column_int64(q, 2);
	lr.pid = sqlite3_column_int64(q, 3);
	lr.tid = sqlite3_column_int64(q, 4);
	lr.trigger = (const char *)sqlite3_column_blob(q, 5);
	lr.trigger_len = (size_t)sqlite3_column_bytes(q, 5);
	if (!lr.trigger)
		lr.trigger_len = 0;
	lr.prot_before = sqlite3_column_int64(q, 6);
	lr.prot_after = sqlite3_column_int64(q, 7);
	lr.addr = sqlite3_column_int64(q, 8);
	lr.size = sqlite3_column_int64(q, 9);
	lr.time_ns = sqlite3_column_int64(q, 10);
	lr.chunk_size = sqlite3_column_int64(q, 12);
	err = digest_of(vl->gaps, lr.seq, dg[0]);
	err = err ? err : digest_of(vl->regs, lr.seq, dg[1]);
	if (err)
		return err;
	if (vl->cache[slot].id != rid || rid == 0) {
		err = digest_of(vl->region, rid, vl->cache[slot].region);
		err = err ? err : digest_of(vl->proc, rid, vl->cache[slot].proc);
		if (err) {
			vl->cache[slot].id = 0;
			return err;
		}
		vl->cache[slot].id = rid;
	}
	memcpy(dg[2], vl->cache[slot].region, EMT_SHA256_LEN);
	memcpy(dg[3], vl->cache[slot].proc, EMT_SHA256_LEN);
	emt_ledger_text_v2(&text, &lr, (const uint8_t (*)[EMT_SHA256_LEN])dg);
	emt_ledger_step(prev, text.buf, text.n, sqlite3_column_blob(q, 11), next);
	return 0;
}

/* Lowercase hex of exactly `n` bytes (the form the writer uses). */
static int unhex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (!s || slen != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			char ch = s[2 * i + (size_t)k];

			v <<= 4;
			if (ch >= '0' && ch <= '9')
				v |= (unsigned)(ch - '0');
			else if (ch >= 'a' && ch <= 'f')
				v |= (unsigned)(ch - 'a' + 10);
			else
				return -EINVAL;
		}
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int unhex32(const char *s, uint8_t out[EMT_SHA256_LEN])
{
	return s ? unhex(s, strlen(s), out, EMT_SHA256_LEN) : -EINVAL;
}

/* The tables of emt_digest_tables the archive's minor has: each one's
 * rows must digest to its meta key, which meta's digest (and so the
 * seal) covers. */
static void verify_digest_tables(struct emt_reader *r, struct vctx *v)
{
	char key[96], msg[EMT_ERRMSG_MAX];

	for (const struct emt_digest_table *t = emt_digest_tables; t->table; t++) {
		sqlite3_stmt *st = NULL;
		uint8_t d[EMT_SHA256_LEN], want[EMT_SHA256_LEN];

		if (r->minor < t->since_minor)
			continue;
		emt_digest_key(t, key, sizeof(key));
		if (unhex32(meta_lib(r, key), want)) {
			emt_fmt(msg, sizeof(msg), "meta %s missing or not a digest", key);
			vreport(v, "seal", msg);
		} else if (prep(r, &st, t->sql) || emt_rows_digest(st, d) != SQLITE_OK) {
			emt_fmt(msg, sizeof(msg), "cannot read the %s table: %s", t->table,
				sqlite3_errmsg(r->db));
			vreport(v, "seal", msg);
		} else if (memcmp(d, want, EMT_SHA256_LEN) != 0) {
			emt_fmt(msg, sizeof(msg), "%s table differs from the seal (%s)", t->table, key);
			vreport(v, "seal", msg);
		}
		sqlite3_finalize(st);
	}
}

/* The v2 seal (SPEC.md section 10).  Each table digest is recomputed
 * and compared with its key, which names what changed; seal_sha256 is
 * then checked against the recorded values it covers, so it only fails
 * (and is only reported) when the seal keys themselves disagree. */
static void verify_seal_v2(struct emt_reader *r, struct vctx *v)
{
	uint8_t dg[8][EMT_SHA256_LEN], rec[8][EMT_SHA256_LEN], head[EMT_SHA256_LEN];
	uint8_t seal[EMT_SHA256_LEN], want_seal[EMT_SHA256_LEN];
	char hex[2 * EMT_SHA256_LEN + 1], msg[EMT_ERRMSG_MAX];
	int recorded = 1;
	uint64_t n;

	_Static_assert(sizeof(dg) / sizeof(dg[0]) >= 5, "seal tables");
	for (size_t i = 0; i < emt_seal_table_count; i++) {
		sqlite3_stmt *st = NULL;
		const char *want = meta_lib(r, emt_seal_tables[i].key);

		if (unhex32(want, rec[i])) {
			emt_fmt(msg, sizeof(msg), "meta %s missing or not a digest", emt_seal_tables[i].key);
			vreport(v, "seal", msg);
			recorded = 0;
		}
		if (prep(r, &st, emt_seal_tables[i].sql) || emt_rows_digest(st, dg[i]) != SQLITE_OK) {
			emt_fmt(msg, sizeof(msg), "cannot read the %s table: %s",
				emt_seal_tables[i].table, sqlite3_errmsg(r->db));
			vreport(v, "seal", msg);
		} else if (want && recorded) {
			emt_hex(dg[i], EMT_SHA256_LEN, hex);
			if (strcmp(want, hex) != 0) {
				emt_fmt(msg, sizeof(msg), "%s table differs from the seal (%s)",
					emt_seal_tables[i].table, emt_seal_tables[i].key);
				vreport(v, "seal", msg);
			}
		}
		sqlite3_finalize(st);
	}
	verify_digest_tables(r, v);
	if (!recorded || unhex32(meta_lib(r, "seal_ledger_head"), head) ||
	    parse_u64(meta_lib(r, "seal_captures"), &n))
		return;         /* already reported */
	emt_seal_digest(n, head, (const uint8_t (*)[EMT_SHA256_LEN])rec, seal);
	if (unhex32(meta_lib(r, "seal_sha256"), want_seal))
		vreport(v, "seal", "meta seal_sha256 missing or not a digest");
	else if (memcmp(seal, want_seal, EMT_SHA256_LEN) != 0)
		vreport(v, "seal", "seal_sha256 does not match the other seal values");
}

/* Chunks no capture references, directly or as a delta base of one it
 * references: the writer never leaves any (a chunk goes in with its
 * capture, all or nothing), so one is what is left of a deleted
 * capture or a planted chunk.  Each is also decoded and hash-checked, so
 * the report says whether its bytes are intact. */
static int verify_orphans(struct emt_reader *r, struct vctx *v)
{
	sqlite3_stmt *q = NULL;
	uint8_t *buf = NULL;
	char item[64], msg[EMT_ERRMSG_MAX];
	uint64_t n = 0;
	int rc, err = 0;

	if (prep(r, &q, "WITH RECURSIVE used(id) AS ("
		 " SELECT chunk_id FROM capture_chunks"
		 " UNION SELECT c.base_id FROM chunks c JOIN used u ON c.id = u.id"
		 " WHERE c.base_id IS NOT NULL)"
		 " SELECT id, size FROM chunks WHERE id NOT IN (SELECT id FROM used) ORDER BY id")) {
		vreport(v, "chunks", r->err);
		return 0;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(q, 0);
		int64_t size = sqlite3_column_int64(q, 1);

		if (++n > VERIFY_DETAIL_MAX)
			continue;
		snprintf(item, sizeof(item), "stored chunk %" PRId64, id);
		vreport(v, item, "referenced by no capture (left from a deleted capture, or planted)");
		if (size < 1 || size > (int64_t)EMT_CHUNK_SIZE_MAX) {
			vreport(v, item, "size out of range");
			continue;
		}
		if (!buf && !(buf = malloc(EMT_CHUNK_SIZE_MAX))) {
			err = -ENOMEM;
			break;
		}
		err = chunk_decode(r, id, (uint64_t)size, buf);
		if (err == -EBADMSG) {
			const char *m = r->err;
			size_t il = strlen(item);

			if (strncmp(m, item, il) == 0 && m[il] == ':')
				m += il + 2;
			vreport(v, item, m);
		} else if (err) {
			break;
		}
		err = 0;
	}
	if (!err && rc != SQLITE_DONE && rc != SQLITE_ROW)
		vreport(v, "chunks", sqlite3_errmsg(r->db));
	if (n > VERIFY_DETAIL_MAX) {
		emt_fmt(msg, sizeof(msg), "%" PRIu64 " more chunks referenced by no capture", n - VERIFY_DETAIL_MAX);
		vreport(v, "chunks", msg);
	}
	sqlite3_finalize(q);
	free(buf);
	return err;
}

/* Structure of the rows that hang off captures and regions. */
static void verify_rows(struct emt_reader *r, struct vctx *v)
{
	sqlite3_stmt *q = NULL;
	char item[64], msg[EMT_ERRMSG_MAX];

	/* Gaps must belong to a capture, fit in it, start on a page. */
	if (prep(r, &q, "SELECT g.seq, g.offset, c.seq IS NULL, g.offset % 4096 <> 0"
		 " FROM gaps g LEFT JOIN captures c ON c.seq = g.seq"
		 " WHERE c.seq IS NULL OR g.offset < 0 OR g.length < 1 OR g.length > c.size"
		 " OR g.offset > c.size - g.length OR g.offset % 4096 <> 0"
		 " OR g.reason NOT IN ('unreadable', 'unmapped', 'truncated', 'limit')") == 0) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			int64_t off = sqlite3_column_int64(q, 1);

			snprintf(item, sizeof(item), "capture %" PRId64, (int64_t)sqlite3_column_int64(q, 0));
			if (sqlite3_column_int(q, 2))
				emt_fmt(msg, sizeof(msg), "gap at offset %" PRId64 " of a capture that does not exist", off);
			else if (sqlite3_column_int(q, 3))
				emt_fmt(msg, sizeof(msg), "gap at offset %" PRId64 " is not page aligned", off);
			else
				emt_fmt(msg, sizeof(msg), "gap at offset %" PRId64 " outside the capture or bad reason", off);
			vreport(v, item, msg);
		}
		sqlite3_finalize(q);
	}
	if (prep(r, &q, "SELECT x.seq FROM regs x LEFT JOIN captures c ON c.seq = x.seq"
		 " WHERE c.seq IS NULL OR (x.arch = 'x86_64' AND length(x.data) <> 224)") == 0) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			snprintf(item, sizeof(item), "capture %" PRId64, (int64_t)sqlite3_column_int64(q, 0));
			vreport(v, item, "register record without capture or of the wrong size");
		}
		sqlite3_finalize(q);
	}
	/* Versions of a region must be 1..K without holes. */
	if (prep(r, &q, "SELECT region_id, count(*), max(version) FROM captures GROUP BY region_id"
		 " HAVING count(*) <> max(version) OR min(version) <> 1") == 0) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			snprintf(item, sizeof(item), "region %" PRId64, (int64_t)sqlite3_column_int64(q, 0));
			vreport(v, item, "capture versions are not 1..K");
		}
		sqlite3_finalize(q);
	}
	/* A region's range must not wrap past 2^64 (u64 arithmetic in C:
	 * SQLite's integers are signed). */
	if (prep(r, &q, "SELECT id, start, length FROM regions ORDER BY id") == 0) {
		while (sqlite3_step(q) == SQLITE_ROW) {
			uint64_t start = (uint64_t)sqlite3_column_int64(q, 1);
			uint64_t len = (uint64_t)sqlite3_column_int64(q, 2);

			if ((unsigned __int128)start + len > ((unsigned __int128)1 << 64)) {
				snprintf(item, sizeof(item), "region %" PRId64, (int64_t)sqlite3_column_int64(q, 0));
				vreport(v, item, "range wraps past the end of the address space");
			}
		}
		sqlite3_finalize(q);
	}
}

int emt_reader_verify(struct emt_reader *r, emt_verify_report_fn report,
		      void *ctx, struct emt_verify_stats *st)
{
	struct vctx v = { report, ctx, 0 };
	struct emt_verify_stats s = { 0 };
	struct vledger *vl = NULL;
	sqlite3_stmt *q = NULL;
	uint8_t prev[EMT_SHA256_LEN] = { 0 };
	uint64_t expect_seq = 1;
	char item[64], msg[EMT_ERRMSG_MAX];
	int rc, err = 0;

	if (!r)
		return -EINVAL;
	s.sealed = (uint32_t)r->sealed;

	/* SQLite's own structure first: a broken b-tree explains the rest.
	 * integrity_check, unlike quick_check, also reads every index and
	 * checks it against its table (a damaged index page would make
	 * seq or time filters miss rows); bounded, like the reports. */
	if (prep(r, &q, "PRAGMA integrity_check(100)"))
		return -EIO;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(q, 0);

		if (t && strcmp(t, "ok") != 0)
			vreport(&v, "database", t);
	}
	if (rc != SQLITE_DONE)
		vreport(&v, "database", sqlite3_errmsg(r->db));
	sqlite3_finalize(q);
	q = NULL;
	verify_schema(r, &v);

	s.chunks = count_sql(r, "SELECT count(*) FROM chunks", &err);
	err = 0;
	if (r->ledger_v2 && !(vl = vledger_new(r)))
		return -EIO;

	/* Captures in seq order: contiguity, references, content, ledger. */
	if (prep(r, &q, "SELECT c.seq, c.region_id, c.version, c.pid, c.tid, c.trigger_name,"
		 " c.prot_before, c.prot_after, c.addr, c.size, c.time_ns, c.sha256, c.chunk_size,"
		 " c.ledger, g.id IS NOT NULL, g.start, g.length"
		 " FROM captures c LEFT JOIN regions g ON g.id = c.region_id ORDER BY c.seq")) {
		if (vl)
			vledger_free(vl);
		return -EIO;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct emt_capture c;
		const char *tn = (const char *)sqlite3_column_text(q, 5);
		const void *h = sqlite3_column_blob(q, 11);
		const void *lg = sqlite3_column_blob(q, 13);
		uint8_t next[EMT_SHA256_LEN];
		int t;

		memset(&c, 0, sizeof(c));
		c.seq = (uint64_t)sqlite3_column_int64(q, 0);
		c.region_id = sqlite3_column_int64(q, 1);
		c.version = (uint32_t)sqlite3_column_int64(q, 2);
		c.pid = (uint32_t)sqlite3_column_int64(q, 3);
		c.tid = (uint32_t)sqlite3_column_int64(q, 4);
		t = emt_trigger_parse(tn);
		c.trigger = t > 0 ? (uint32_t)t : 0;
		c.prot_before = (uint32_t)sqlite3_column_int64(q, 6);
		c.prot_after = (uint32_t)sqlite3_column_int64(q, 7);
		c.addr = (uint64_t)sqlite3_column_int64(q, 8);
		c.size = (uint64_t)sqlite3_column_int64(q, 9);
		c.time_ns = (uint64_t)sqlite3_column_int64(q, 10);
		uint32_t cs = (uint32_t)sqlite3_column_int64(q, 12);
		int region_ok = sqlite3_column_int(q, 14);
		uint64_t rstart = (uint64_t)sqlite3_column_int64(q, 15);
		uint64_t rlen = (uint64_t)sqlite3_column_int64(q, 16);
		unsigned __int128 end = (unsigned __int128)c.addr + c.size;

		snprintf(item, sizeof(item), "capture %" PRIu64, c.seq);
		/* ORDER BY seq on the rowid: a repeat or step back means a
		 * damaged b-tree that may loop; stop walking it. */
		if (c.seq < expect_seq) {
			vreport(&v, "captures", "table damaged: rows repeat or go back");
			break;
		}
		s.captures++;
		if (c.seq != expect_seq) {
			emt_fmt(msg, sizeof(msg), "sequence gap: expected %" PRIu64, expect_seq);
			vreport(&v, item, msg);
		}
		expect_seq = c.seq + 1;
		if (!region_ok)
			vreport(&v, item, "references a missing region");
		if (!t || t < 0)
			vreport(&v, item, "unknown trigger");
		/* SPEC.md section 5.4: inside its region as recorded. */
		if (end > ((unsigned __int128)1 << 64)) {
			vreport(&v, item, "address range wraps past the end of the address space");
		} else if (region_ok && (c.addr < rstart ||
					 end > (unsigned __int128)rstart + rlen)) {
			emt_fmt(msg, sizeof(msg), "0x%" PRIx64 "-0x%" PRIx64 " is not inside region %"
				PRId64 " (0x%" PRIx64 "-0x%" PRIx64 ")", c.addr,
				(uint64_t)end, c.region_id, rstart, rstart + rlen);
			vreport(&v, item, msg);
		}
		if (!h || sqlite3_column_bytes(q, 11) != EMT_SHA256_LEN ||
		    !lg || sqlite3_column_bytes(q, 13) != EMT_SHA256_LEN) {
			vreport(&v, item, "bad hash column");
			continue;
		}
		memcpy(c.sha256, h, EMT_SHA256_LEN);
		if (vl) {
			err = ledger_v2_entry(vl, q, prev, next);
			if (err) {
				vreport(&v, item, sqlite3_errmsg(r->db));
				memcpy(next, lg, EMT_SHA256_LEN);
				err = 0;
			}
		} else {
			char text[EMT_LEDGER_TEXT_MAX];
			size_t tl = emt_ledger_text(text, sizeof(text), &c, cs);

			emt_ledger_step(prev, text, tl, c.sha256, next);
		}
		if (memcmp(next, lg, EMT_SHA256_LEN) != 0) {
			vreport(&v, item, vl ? "ledger entry does not chain (capture row, gaps, registers,"
				" region or process altered, or a capture reordered or deleted)"
				: "ledger entry does not chain (altered, reordered or deleted capture)");
			/* Resynchronise so one bad row is one report. */
			memcpy(prev, lg, EMT_SHA256_LEN);
		} else {
			memcpy(prev, next, EMT_SHA256_LEN);
		}
		s.ledger_entries++;
		err = capture_walk(r, c.seq, NULL, NULL, NULL, 1, NULL);
		if (err == -EBADMSG || err == -ENOENT) {
			const char *m = r->err;
			size_t il = strlen(item);

			/* Drop the "capture N: " prefix: item names it. */
			if (strncmp(m, item, il) == 0 && m[il] == ':')
				m += il + 2;
			vreport(&v, item, m);
		} else if (err) {
			sqlite3_finalize(q);
			if (vl)
				vledger_free(vl);
			return err;
		}
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		vreport(&v, "captures", sqlite3_errmsg(r->db));
	sqlite3_finalize(q);
	if (vl)
		vledger_free(vl);

	if (r->sealed) {
		char hex[2 * EMT_SHA256_LEN + 1];
		const char *head = meta_lib(r, "seal_ledger_head");
		uint64_t n;

		emt_hex(prev, EMT_SHA256_LEN, hex);
		if (!head || strcmp(head, hex) != 0)
			vreport(&v, "seal", "ledger head does not match the captures");
		if (parse_u64(meta_lib(r, "seal_captures"), &n) || n != s.captures) {
			emt_fmt(msg, sizeof(msg), "sealed with a different number of captures than the %"
				PRIu64 " present", s.captures);
			vreport(&v, "seal", msg);
		}
		if (r->ledger_v2)
			verify_seal_v2(r, &v);
	}
	verify_rows(r, &v);
	err = verify_orphans(r, &v);
	if (err)
		return err;
	if (st)
		*st = s;
	return v.problems;
}

/* ---------------------------------------------------------------- signature */

/* Whether features_optional names the signature feature (bytewise, as
 * check_features reads features_required). */
static int names_signature(struct emt_reader *r)
{
	const char *v = meta_get(r, "features_optional");
	size_t len = r->meta_len, i = 0, fl = strlen(EMT_FEATURE_SIGNATURE);

	while (v && i < len) {
		size_t n = 0;

		while (i + n < len && v[i + n] != ',')
			n++;
		if (n == fl && memcmp(v + i, EMT_FEATURE_SIGNATURE, fl) == 0)
			return 1;
		i += n + 1;
	}
	return 0;
}

/* The checkpoints in id order (SPEC.md 10.2): each must follow the one
 * before (id, prev hash, seq not going back), name a ledger entry the
 * captures table holds, and verify with `key`.  The valid ones before
 * the first that does not are the chain that counts. */
static void verify_checkpoints(struct emt_reader *r, const struct emt_key *key,
			       struct vctx *v, struct emt_sig_info *in,
			       uint8_t last_meta[EMT_SHA256_LEN])
{
	sqlite3_stmt *q = NULL;
	uint8_t prev[EMT_SHA256_LEN] = { 0 };
	char item[64], msg[EMT_ERRMSG_MAX], text[EMT_SIGN_TEXT_MAX * 2];
	int64_t expect_id = 1, last_seq = 0;
	int broken = 0, rc;
	uint64_t bad = 0;

	if (prep(r, &q, "SELECT k.id, k.seq, k.ledger, k.time_ns, k.meta_sha256, k.prev, k.signature,"
		 " (SELECT c.ledger FROM captures c WHERE c.seq = k.seq),"
		 " typeof(k.seq) = 'integer' AND typeof(k.time_ns) = 'integer'"
		 " FROM checkpoints k ORDER BY k.id")) {
		emt_fmt(msg, sizeof(msg), "cannot read the checkpoints table: %s", r->err);
		vreport(v, "signature", msg);
		return;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct emt_checkpoint_row c = { 0 };
		const void *lg = sqlite3_column_blob(q, 2), *mt = sqlite3_column_blob(q, 4);
		const void *pv = sqlite3_column_blob(q, 5), *sg = sqlite3_column_blob(q, 6);
		const void *cl = sqlite3_column_blob(q, 7);
		const char *why = NULL;
		size_t n = 0;

		c.id = sqlite3_column_int64(q, 0);
		c.seq = sqlite3_column_int64(q, 1);
		c.time_ns = sqlite3_column_int64(q, 3);
		in->checkpoints++;
		snprintf(item, sizeof(item), "checkpoint %" PRId64, c.id);
		if (c.id < expect_id) {
			vreport(v, "checkpoints", "table damaged: rows repeat or go back");
			break;
		}
		if (!sqlite3_column_int(q, 8) || !lg || sqlite3_column_bytes(q, 2) != EMT_SHA256_LEN ||
		    !mt || sqlite3_column_bytes(q, 4) != EMT_SHA256_LEN ||
		    !pv || sqlite3_column_bytes(q, 5) != EMT_SHA256_LEN ||
		    !sg || sqlite3_column_bytes(q, 6) != EMT_SIGNATURE_LEN) {
			why = "malformed row (a column of the wrong type or size)";
		} else {
			memcpy(c.ledger, lg, EMT_SHA256_LEN);
			memcpy(c.meta, mt, EMT_SHA256_LEN);
			memcpy(c.prev, pv, EMT_SHA256_LEN);
			n = emt_checkpoint_text(text, sizeof(text), &c, in->key_sha256);
			if (emt_key_verify(key, text, n, sg) != 1)
				why = "signature does not verify (the row was changed after signing,"
				      " or signed with another key)";
			else if (c.id != expect_id)
				why = "out of sequence: an earlier checkpoint is missing";
			else if (memcmp(c.prev, prev, EMT_SHA256_LEN) != 0)
				why = "does not chain to the checkpoint before it";
			else if (c.seq < last_seq)
				why = "covers fewer captures than the checkpoint before it";
			else if (c.seq > 0 && (!cl || sqlite3_column_bytes(q, 7) != EMT_SHA256_LEN))
				why = "names a capture that is not in the archive (captures deleted)";
			else if (c.seq > 0 ? memcmp(cl, c.ledger, EMT_SHA256_LEN) != 0
				 : memcmp(c.ledger, (const uint8_t[EMT_SHA256_LEN]){ 0 }, EMT_SHA256_LEN) != 0)
				why = "its ledger entry is not the one the captures table holds"
				      " (captures altered, reordered or replaced)";
		}
		if (why) {
			if (++bad <= VERIFY_DETAIL_MAX)
				vreport(v, item, why);
			broken = 1;
		} else if (!broken) {
			in->checkpoints_valid++;
			in->covered = (uint64_t)c.seq;
			in->last_checkpoint_ns = (uint64_t)c.time_ns;
			memcpy(last_meta, c.meta, EMT_SHA256_LEN);
			last_seq = c.seq;
		}
		/* Resynchronise on the stored row, as the ledger check does, so
		 * that one altered checkpoint is one report. */
		if (n)
			emt_sha256(text, n, prev);
		expect_id = c.id + 1;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		vreport(v, "checkpoints", sqlite3_errmsg(r->db));
	if (bad > VERIFY_DETAIL_MAX) {
		emt_fmt(msg, sizeof(msg), "%" PRIu64 " more checkpoints that do not verify",
			bad - VERIFY_DETAIL_MAX);
		vreport(v, "checkpoints", msg);
	}
	sqlite3_finalize(q);
}

int emt_reader_verify_signature(struct emt_reader *r, const struct emt_key *trusted,
				emt_verify_report_fn report, void *ctx,
				struct emt_sig_info *info)
{
	struct vctx v = { report, ctx, 0 };
	struct emt_sig_info in = { 0 };
	struct emt_key *stored = NULL;
	const struct emt_key *key = NULL;
	uint8_t fp[EMT_SHA256_LEN], last_meta[EMT_SHA256_LEN] = { 0 }, now_meta[EMT_SHA256_LEN];
	char msg[EMT_ERRMSG_MAX];
	const char *val;
	int err = 0;

	if (!r)
		return -EINVAL;
	in.captures = count_sql(r, "SELECT count(*) FROM captures", &err);
	if (err)
		return err;
	val = meta_lib(r, "sign_key_sha256");
	if (!val) {
		/* Stripping every signing key from meta turns a signed archive
		 * into an unsigned one; the feature name is one more place a
		 * careless forger forgets (a careful one is caught only by
		 * --key, which requires a signature). */
		if (names_signature(r)) {
			vreport(&v, "signature", "features_optional names " EMT_FEATURE_SIGNATURE
				" but meta sign_key_sha256 is missing: signing data removed");
			in.status = EMT_SIG_INVALID;
		}
		goto out;
	}
	if (unhex(val, r->meta_len, fp, EMT_SHA256_LEN) == 0)
		memcpy(in.key_sha256, val, sizeof(in.key_sha256));
	else
		vreport(&v, "signature", "meta sign_key_sha256 is not a key fingerprint (64 hex digits)");
	val = meta_lib(r, "sign_algorithm");
	if (!val || strcmp(val, "ed25519") != 0)
		vreport(&v, "signature", "meta sign_algorithm missing or not 'ed25519'");
	val = meta_get(r, "sign_public_key");
	if (!val) {
		vreport(&v, "signature", "meta sign_public_key missing");
	} else if (!(stored = emt_key_from_pem(val, r->meta_len, 0, msg, sizeof(msg),
					       "meta sign_public_key"))) {
		if (errno == ENOMEM)
			return -ENOMEM;
		vreport(&v, "signature", msg);
	} else if (strcmp(emt_key_fingerprint(stored), in.key_sha256) != 0) {
		vreport(&v, "signature", "meta sign_public_key is not the key sign_key_sha256 names");
		emt_key_free(stored);
		stored = NULL;
	}
	if (trusted) {
		if (in.key_sha256[0] && strcmp(emt_key_fingerprint(trusted), in.key_sha256) != 0) {
			emt_fmt(msg, sizeof(msg), "signed with key sha256 %s, not with the trusted key"
				" (sha256 %s)", in.key_sha256, emt_key_fingerprint(trusted));
			vreport(&v, "signature", msg);
		} else if (in.key_sha256[0]) {
			key = trusted;
			in.trusted = 1;
		}
	} else {
		key = stored;
	}
	if (key)
		verify_checkpoints(r, key, &v, &in, last_meta);
	if (r->sealed) {
		const char *seal = meta_lib(r, "seal_sha256");
		char sealhex[2 * EMT_SHA256_LEN + 1] = "";
		uint8_t sig[EMT_SIGNATURE_LEN], sd[EMT_SHA256_LEN];

		if (seal && unhex32(seal, sd) == 0)
			memcpy(sealhex, seal, sizeof(sealhex));
		val = meta_lib(r, "seal_signature");
		if (!val) {
			vreport(&v, "signature", "sealed without a signature (meta seal_signature missing)");
		} else if (unhex(val, r->meta_len, sig, EMT_SIGNATURE_LEN)) {
			vreport(&v, "signature", "meta seal_signature is not a 64-byte signature in hex");
		} else if (!sealhex[0]) {
			vreport(&v, "signature", "meta seal_sha256 missing or not a digest: nothing to check");
		} else if (key) {
			char text[EMT_SIGN_TEXT_MAX];
			size_t n = emt_signature_text(text, sizeof(text), sealhex, in.key_sha256);

			if (emt_key_verify(key, text, n, sig) == 1) {
				in.covered = in.captures;
				in.meta_covered = 1;
			} else {
				emt_fmt(msg, sizeof(msg), "the seal's signature does not verify with the %s key"
					" (seal_sha256 or seal_signature changed after signing)",
					trusted ? "trusted" : "stored");
				vreport(&v, "signature", msg);
			}
		}
	} else if (meta_get(r, "seal_signature")) {
		/* The writer stores it only in the sealing transaction, with
		 * sealed = 1: an unsealed archive holding one had its seal
		 * state changed, which would leave what only the seal covers
		 * (events, losses, exits) unchecked. */
		vreport(&v, "signature", "meta seal_signature present but the archive reads as unsealed:"
			" seal state altered");
	} else if (in.checkpoints_valid) {
		sqlite3_stmt *st = NULL;

		if (prep(r, &st, emt_seal_tables[0].sql) == 0 &&
		    emt_rows_digest(st, now_meta) == SQLITE_OK)
			in.meta_covered = memcmp(now_meta, last_meta, EMT_SHA256_LEN) == 0;
		sqlite3_finalize(st);
	}
	if (v.problems || !key)
		in.status = EMT_SIG_INVALID;
	else
		in.status = r->sealed ? EMT_SIG_VALID : EMT_SIG_CHECKPOINT;
	/* The writer commits no capture and no meta change without a
	 * checkpoint in the same transaction, so in an untouched unsealed
	 * archive the last one covers everything: what it does not cover
	 * was added after it, or the checkpoints covering it were removed.
	 * The valid run still stands (status), as far as it goes. */
	if (in.status == EMT_SIG_CHECKPOINT && in.covered < in.captures) {
		emt_fmt(msg, sizeof(msg), "captures %" PRIu64 "-%" PRIu64 " are covered by no signed"
			" checkpoint (the writer commits none without one): added after the last"
			" checkpoint, or its checkpoints removed", in.covered + 1, in.captures);
		vreport(&v, "signature", msg);
	}
	if (in.status == EMT_SIG_CHECKPOINT && !in.meta_covered)
		vreport(&v, "signature", "meta differs from the last signed checkpoint's"
			" (the writer commits no change without one): changed after it");
out:
	emt_key_free(stored);
	if (info)
		*info = in;
	return v.problems;
}

/* ------------------------------------------------------------ injections */
/* Format 1.2, SPEC.md section 15.  Older archives have none of these
 * tables: they read as empty. */

/* Whether the archive has table `name` (1), not (0), or -errno. */
static int has_table(struct emt_reader *r, const char *name)
{
	sqlite3_stmt *st = NULL;
	int rc, ret;

	if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM sqlite_schema WHERE type = 'table'"
			       " AND name = ?1", -1, &st, NULL) != SQLITE_OK)
		return db_err(r, "schema");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_err(r, "schema");
	sqlite3_finalize(st);
	return ret;
}

struct emt_row_iter *emt_reader_injections(struct emt_reader *r)
{
	int have = r ? has_table(r, "injections") : -EINVAL;

	if (have < 0) {
		errno = -have;
		return NULL;
	}
	return row_iter(r, ROW_INJECTION, have ?
			"SELECT id, time_ns, writer_pid, writer_tid, victim_pid, method, addr,"
			" length, word, seq FROM injections ORDER BY id" :
			"SELECT 1 WHERE 0", 0);
}

int emt_injection_iter_next(struct emt_row_iter *it, struct emt_injection *inj)
{
	int ret = row_step(it, ROW_INJECTION);
	sqlite3_stmt *st;

	if (ret <= 0 || !inj)
		return inj ? ret : -EINVAL;
	st = it->st;
	memset(inj, 0, sizeof(*inj));
	inj->id = sqlite3_column_int64(st, 0);
	inj->time_ns = (uint64_t)sqlite3_column_int64(st, 1);
	inj->writer_pid = (uint32_t)sqlite3_column_int64(st, 2);
	inj->writer_tid = (uint32_t)sqlite3_column_int64(st, 3);
	inj->victim_pid = (uint32_t)sqlite3_column_int64(st, 4);
	inj->method = (uint32_t)emt_inject_method_parse(col_str(st, 5, &it->s1));
	inj->addr = (uint64_t)sqlite3_column_int64(st, 6);
	inj->length = (uint64_t)sqlite3_column_int64(st, 7);
	inj->has_word = sqlite3_column_type(st, 8) != SQLITE_NULL;
	inj->word = (uint64_t)sqlite3_column_int64(st, 8);
	inj->seq = (uint64_t)sqlite3_column_int64(st, 9);
	return 1;
}

/* The first row of `sql` (on `table`, which the archive has if `have`)
 * with `key` bound, as int64 column 0 into *v and (if txt) column 1
 * copied into txt[cap]: 1, 0 if no row or no table, or -errno. */
static int lookup_row(struct emt_reader *r, int have, const char *table, const char *sql,
		      int64_t key, int64_t *v, char *txt, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int rc, ret;

	if (have <= 0)
		return have;
	if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(r, table);
	sqlite3_bind_int64(st, 1, key);
	rc = sqlite3_step(st);
	ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_err(r, table);
	if (ret == 1) {
		*v = sqlite3_column_int64(st, 0);
		if (txt) {
			const unsigned char *t = sqlite3_column_text(st, 1);

			snprintf(txt, cap, "%s", t ? (const char *)t : "");
		}
	}
	sqlite3_finalize(st);
	return ret;
}

int emt_reader_capture_injection(struct emt_reader *r, uint64_t seq, int64_t *injection_id)
{
	if (!r || !injection_id || seq > INT64_MAX)
		return -EINVAL;
	/* Asked once per capture by listings: the schema once. */
	if (!r->links_table) {
		int have = has_table(r, "injection_links");

		if (have < 0)
			return have;
		r->links_table = have ? 1 : 2;
	}
	return lookup_row(r, r->links_table == 1, "injection_links", "SELECT injection_id FROM injection_links"
			  " WHERE seq = ?1", (int64_t)seq, injection_id, NULL, 0);
}

int emt_reader_follow_reason(struct emt_reader *r, int64_t process_id,
			     const char **reason, int64_t *injection_id)
{
	int ret;

	if (!r || !reason || !injection_id)
		return -EINVAL;
	ret = lookup_row(r, has_table(r, "follow_reasons"), "follow_reasons", "SELECT injection_id, reason FROM follow_reasons"
			 " WHERE process_id = ?1", process_id, injection_id, r->follow_reason,
			 sizeof(r->follow_reason));
	*reason = ret == 1 ? r->follow_reason : NULL;
	return ret;
}
/* ------------------------------------------------------------ syscalls */

#define SYSCALL_COLS "id, time_ns, exit_ns, pid, tid, uid, gid, nr, name, args, args_text," \
	" ret, returned, flags"

struct emt_row_iter *emt_reader_syscalls(struct emt_reader *r, uint32_t pid)
{
	sqlite3_stmt *st = NULL;
	int have = 0;

	if (!r) {
		errno = EINVAL;
		return NULL;
	}
	/* Archives before 1.2 have no such table: no rows. */
	if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM sqlite_schema WHERE type = 'table'"
			       " AND name = 'syscalls'", -1, &st, NULL) == SQLITE_OK)
		have = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	if (!have)
		return row_iter(r, ROW_SYSCALL, "SELECT 0 WHERE 0", 0);
	if (pid)
		return row_iter(r, ROW_SYSCALL, "SELECT " SYSCALL_COLS " FROM syscalls"
				" WHERE pid = ?1 ORDER BY id", pid);
	return row_iter(r, ROW_SYSCALL, "SELECT " SYSCALL_COLS " FROM syscalls ORDER BY id", 0);
}

int emt_syscall_iter_next(struct emt_row_iter *it, struct emt_syscall *s)
{
	int ret = row_step(it, ROW_SYSCALL);
	sqlite3_stmt *st;

	if (ret <= 0 || !s)
		return s ? ret : -EINVAL;
	st = it->st;
	memset(s, 0, sizeof(*s));
	s->id = sqlite3_column_int64(st, 0);
	s->time_ns = (uint64_t)sqlite3_column_int64(st, 1);
	s->exit_ns = (uint64_t)sqlite3_column_int64(st, 2);
	s->pid = (uint32_t)sqlite3_column_int64(st, 3);
	s->tid = (uint32_t)sqlite3_column_int64(st, 4);
	s->uid = (uint32_t)sqlite3_column_int64(st, 5);
	s->gid = (uint32_t)sqlite3_column_int64(st, 6);
	s->nr = (uint32_t)sqlite3_column_int64(st, 7);
	s->name = col_str(st, 8, &it->s1);
	s->args = col_str_max(st, 9, &it->s2, EMT_SYSCALL_TEXT_MAX);
	s->text = col_str_max(st, 10, &it->s3, EMT_SYSCALL_TEXT_MAX);
	s->ret = sqlite3_column_int64(st, 11);
	s->returned = (uint32_t)sqlite3_column_int64(st, 12);
	s->flags = (uint32_t)sqlite3_column_int64(st, 13);
	if (!s->name)
		s->name = "";
	if (!s->args)
		s->args = "[]";
	if (!s->text)
		s->text = "";
	return 1;
}

/* ------------------------------------------------------------ alerts */
/* Format 1.2, SPEC.md section 16.  Archives without the tables (older,
 * or 1.2 ones written before they were added) read as empty. */

struct emt_row_iter *emt_reader_model_programs(struct emt_reader *r)
{
	int have = r ? has_table(r, "model_programs") : -EINVAL;

	if (have < 0) {
		errno = -have;
		return NULL;
	}
	return row_iter(r, ROW_MODEL_PROGRAM, have ?
			"SELECT id, sha256, path, inode, dev, transitions, checked"
			" FROM model_programs ORDER BY id" : "SELECT 1 WHERE 0", 0);
}

int emt_model_program_iter_next(struct emt_row_iter *it, struct emt_model_program_row *p)
{
	int ret = row_step(it, ROW_MODEL_PROGRAM);
	sqlite3_stmt *st;
	const char *h;

	if (ret <= 0 || !p)
		return p ? ret : -EINVAL;
	st = it->st;
	memset(p, 0, sizeof(*p));
	p->id = sqlite3_column_int64(st, 0);
	h = col_str(st, 1, &it->s1);
	snprintf(p->sha256, sizeof(p->sha256), "%s", h ? h : "");
	p->path = col_str(st, 2, &it->s2);
	if (!p->path)
		p->path = "";
	p->inode = (uint64_t)sqlite3_column_int64(st, 3);
	p->dev = (uint64_t)sqlite3_column_int64(st, 4);
	p->transitions = (uint64_t)sqlite3_column_int64(st, 5);
	p->checked = (uint32_t)sqlite3_column_int64(st, 6);
	return 1;
}

struct emt_row_iter *emt_reader_alerts(struct emt_reader *r)
{
	int have = r ? has_table(r, "alerts") : -EINVAL;

	if (have < 0) {
		errno = -have;
		return NULL;
	}
	return row_iter(r, ROW_ALERT, have ?
			"SELECT id, time_ns, pid, tid, program_id, depth, nr, name, syscalls, rip,"
			" action, suppressed FROM alerts ORDER BY id" : "SELECT 1 WHERE 0", 0);
}

int emt_alert_iter_next(struct emt_row_iter *it, struct emt_alert *a)
{
	int ret = row_step(it, ROW_ALERT);
	sqlite3_stmt *st;

	if (ret <= 0 || !a)
		return a ? ret : -EINVAL;
	st = it->st;
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, 0);
	a->time_ns = (uint64_t)sqlite3_column_int64(st, 1);
	a->pid = (uint32_t)sqlite3_column_int64(st, 2);
	a->tid = (uint32_t)sqlite3_column_int64(st, 3);
	a->program_id = sqlite3_column_int64(st, 4);
	a->depth = (uint32_t)sqlite3_column_int64(st, 5);
	a->nr = (uint32_t)sqlite3_column_int64(st, 6);
	a->name = col_str(st, 7, &it->s1);
	a->syscalls = col_str(st, 8, &it->s2);
	a->rip = (uint64_t)sqlite3_column_int64(st, 9);
	a->action = (uint32_t)emt_alert_action_parse(col_str(st, 10, &it->s3));
	a->suppressed = (uint64_t)sqlite3_column_int64(st, 11);
	if (!a->name)
		a->name = "";
	if (!a->syscalls)
		a->syscalls = "[]";
	return 1;
}

int emt_reader_alert_captures(struct emt_reader *r, int64_t alert_id, uint64_t *seqs,
			      size_t cap)
{
	sqlite3_stmt *st = NULL;
	int have, n = 0, rc;

	if (!r || (!seqs && cap))
		return -EINVAL;
	have = has_table(r, "alert_captures");
	if (have <= 0)
		return have;
	if (sqlite3_prepare_v2(r->db, "SELECT seq FROM alert_captures WHERE alert_id = ?1"
			       " ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
		return db_err(r, "alert_captures");
	sqlite3_bind_int64(st, 1, alert_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < INT32_MAX) {
		if ((size_t)n < cap)
			seqs[n] = (uint64_t)sqlite3_column_int64(st, 0);
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		n = db_err(r, "alert_captures");
	sqlite3_finalize(st);
	return n;
}
