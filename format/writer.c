/*
 * writer.c - emt_writer_*: creates and fills a format v1 archive.
 *
 * One SQLite connection in WAL mode (synchronous=NORMAL: a SIGKILL loses
 * nothing committed; a power cut may lose the last batch, never corrupts).
 * Captures go into a batch transaction committed at most commit_ms after
 * it opened; a capture that fails part way has its rows deleted again
 * (undo_capture), so a failing capture leaves no half rows.  In-memory
 * state (dedupe index, per-region previous version for deltas, ledger
 * head) only advances once a capture's rows are in; a failed COMMIT
 * leaves it out of step with the file, so the writer then refuses
 * further work ("broken") rather than write dangling references.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "internal.h"
#include "pool.h"

/* Previous version of a region, kept as raw bytes so the next version's
 * chunks can be delta-encoded against the same offsets without reading
 * the archive back.  Bounded by DELTA_CACHE_MAX in total. */
struct wregion {
	int64_t  id;
	uint64_t start, length;         /* as recorded: captures lie inside */
	uint8_t  ident[EMT_SHA256_LEN]; /* region digest (SPEC.md section 9) */
	uint8_t  proc[EMT_SHA256_LEN];  /* its process's digest */
	uint32_t nversions;
	uint32_t chunk_size;
	uint64_t addr, size;
	uint8_t *data;          /* previous version's bytes if has_base */
	uint64_t data_cap;
	int has_base;
	/* The previous version is the region's first: its bytes were not
	 * kept (most regions never get a second version), but they can be
	 * decoded from the archive when one comes (load_base). */
	int lazy_base;
	int64_t *chunk_ids;     /* chunk id per chunk of the previous version */
	uint8_t *depths;
};

struct hslot {
	uint8_t  hash[EMT_SHA256_LEN];
	int64_t  id;            /* 0 empty, -1 tombstone */
	uint8_t  depth;
};

#define DELTA_CACHE_MAX (512ull << 20)
/* Chunks processed together: enough to keep two threads busy, bounded so
 * the window's output buffers stay near 4 MiB whatever the chunk size. */
#define WIN_BYTES (2u << 20)
#define WIN_MAX 32
_Static_assert(WIN_MAX <= POOL_BATCH_MAX, "a window is one pool batch");

enum { JOB_KNOWN, JOB_DUP, JOB_NEW };

/* One chunk of the current window. */
struct chunk_job {
	const uint8_t *p;
	size_t n;
	uint8_t hash[EMT_SHA256_LEN];
	int state, dup_of;
	int same;               /* equal to the previous version's chunk here */
	const uint8_t *base;    /* delta candidate, NULL if none */
	size_t nbase;
	int64_t base_id;
	uint8_t base_depth;
	int use_delta, err;
	size_t zerr;
	uint8_t *out, *out2;    /* two frames per job: delta and plain */
	size_t clen;
};


struct emt_writer {
	pthread_mutex_t mu;
	sqlite3 *db;
	char err[EMT_ERRMSG_MAX];
	int broken;             /* 0, or the -errno every call now returns */
	char broken_msg[EMT_ERRMSG_MAX];

	uint32_t chunk_size;
	int32_t  level;
	uint32_t commit_ms;
	uint32_t no_delta;

	int in_batch;
	uint64_t batch_start_ms;
	/* The committer thread commits a batch once it is commit_ms old,
	 * whether or not the caller calls in again (a quiet target must
	 * not keep its last captures uncommitted).  It waits on cv_batch
	 * with w->mu. */
	pthread_t committer;
	pthread_cond_t cv_batch;
	int committer_on, committer_stop;

	uint64_t next_seq;
	uint8_t  ledger[EMT_SHA256_LEN];

	/* Signing (SPEC.md 10.2): every commit carries a checkpoint. */
	struct emt_key *key;
	int64_t  cp_id;                 /* id of the last checkpoint written */
	uint8_t  cp_prev[EMT_SHA256_LEN]; /* SHA-256 of its text */

	ZSTD_CCtx *cctx[2];     /* one per pool thread (tid 0, 1) */
	size_t   cbuf_cap;      /* capacity of each job's output buffers */
	struct chunk_job *jobs; /* WIN_MAX per window */
	uint8_t *jobbufs;
	uint32_t win;           /* chunks per window */
	struct pool *pool;

	struct hslot *ht;
	size_t   ht_cap, ht_used;

	struct wregion *regions;        /* indexed by region id */
	size_t   nregions_cap;
	/* Process digests indexed by process id (proc_known[id] set once
	 * the row is in): a region's captures cover its process. */
	uint8_t (*proc_dig)[EMT_SHA256_LEN];
	uint8_t *proc_known;
	size_t   nprocs_cap;
	uint64_t delta_cache_bytes;

	sqlite3_stmt *st_chunk, *st_cc, *st_cap, *st_gap, *st_regs,
		*st_event, *st_proc, *st_exit, *st_region, *st_gone, *st_loss,
		*st_meta, *st_chunk_data, *st_cp, *st_cp_meta;
	sqlite3_stmt *st_syscall;       /* 1.2 syscalls table, prepared on first use */
	ZSTD_DCtx *dctx;        /* load_base, created on first use */

	struct emt_writer_stats stats;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* From now on every call fails with `err` and the message of the first
 * failure: the batch is gone from the file but rows of it (process and
 * region ids, chunks known for dedupe, the ledger head) are still in
 * memory, and writing on would reference rows that do not exist. */
static void mark_broken(struct emt_writer *w, int err)
{
	if (w->broken)
		return;
	w->broken = err ? err : -EIO;
	w->in_batch = 0;
	memcpy(w->broken_msg, w->err, sizeof(w->broken_msg));
}

/* Maps an SQLite result to -errno and records the message. */
static int db_fail(struct emt_writer *w, int rc, const char *what)
{
	int err;

	emt_fmt(w->err, sizeof(w->err), "%s: %s", what, sqlite3_errmsg(w->db));
	switch (rc & 0xff) {
	case SQLITE_FULL:
		err = -ENOSPC;
		break;
	case SQLITE_NOMEM:
		err = -ENOMEM;
		break;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
		err = -EINVAL;
		break;
	default:
		err = -EIO;
		break;
	}
	/* On I/O errors, disk full or out of memory SQLite may roll back the
	 * whole transaction, not just the statement. */
	if (w->in_batch && sqlite3_get_autocommit(w->db))
		mark_broken(w, err);
	return err;
}

static int exec_sql(struct emt_writer *w, const char *sql)
{
	int rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(w, rc, sql);
}

static int step_done(struct emt_writer *w, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	return db_fail(w, rc, what);
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_blob(st, i, s, (int)strnlen(s, EMT_STRING_MAX),
				  SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	sqlite3_bind_int64(st, i, (sqlite3_int64)v);
}

static int batch_begin(struct emt_writer *w)
{
	int err;

	if (w->in_batch)
		return 0;
	err = exec_sql(w, "BEGIN IMMEDIATE");
	if (err)
		return err;
	w->in_batch = 1;
	w->batch_start_ms = mono_ms();
	pthread_cond_signal(&w->cv_batch);
	return 0;
}

static int write_checkpoint(struct emt_writer *w);

static int batch_commit(struct emt_writer *w)
{
	int rc, err = 0;

	if (!w->in_batch)
		return 0;
	/* In the batch's own transaction: a checkpoint and the captures it
	 * covers are committed together or not at all. */
	if (w->key)
		err = write_checkpoint(w);
	rc = err ? SQLITE_ERROR : sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		err = err ? err : db_fail(w, rc, "commit");

		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		mark_broken(w, err);
		return err;
	}
	w->in_batch = 0;
	return 0;
}

/* Signs the state the open batch is about to commit (SPEC.md 10.2):
 * captures 1..next_seq-1 through the ledger head, and meta through its
 * digest (the seal's meta query), chained to the previous checkpoint. */
static int write_checkpoint(struct emt_writer *w)
{
	struct emt_checkpoint_row c = { 0 };
	uint8_t sig[EMT_SIGNATURE_LEN];
	char text[EMT_SIGN_TEXT_MAX * 2];
	size_t n;
	int rc, err;

	c.id = w->cp_id + 1;
	c.seq = (int64_t)(w->next_seq - 1);
	c.time_ns = (int64_t)clock_ns(CLOCK_BOOTTIME);
	memcpy(c.ledger, w->ledger, EMT_SHA256_LEN);
	memcpy(c.prev, w->cp_prev, EMT_SHA256_LEN);
	rc = emt_rows_digest(w->st_cp_meta, c.meta);
	if (rc != SQLITE_OK)
		return db_fail(w, rc, "checkpoint meta digest");
	n = emt_checkpoint_text(text, sizeof(text), &c, emt_key_fingerprint(w->key));
	err = emt_key_sign(w->key, text, n, sig);
	if (err) {
		emt_fmt(w->err, sizeof(w->err), "checkpoint %" PRId64 ": cannot sign", c.id);
		return err;
	}
	sqlite3_bind_int64(w->st_cp, 1, c.id);
	sqlite3_bind_int64(w->st_cp, 2, c.seq);
	sqlite3_bind_blob(w->st_cp, 3, c.ledger, EMT_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(w->st_cp, 4, c.time_ns);
	sqlite3_bind_blob(w->st_cp, 5, c.meta, EMT_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(w->st_cp, 6, c.prev, EMT_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(w->st_cp, 7, sig, EMT_SIGNATURE_LEN, SQLITE_STATIC);
	err = step_done(w, w->st_cp, "checkpoint");
	if (err)
		return err;
	w->cp_id = c.id;
	emt_sha256(text, n, w->cp_prev);
	return 0;
}

static int check_usable(struct emt_writer *w)
{
	if (w->broken) {
		/* The cause first: it is what the user can act on. */
		emt_fmt(w->err, sizeof(w->err), "%.400s (archive writing stopped)", w->broken_msg);
		return w->broken;
	}
	return 0;
}

/* ---------------------------------------------------------------- committer */

static void *committer_main(void *arg)
{
	struct emt_writer *w = arg;

	pthread_mutex_lock(&w->mu);
	while (!w->committer_stop) {
		if (!w->in_batch || w->broken) {
			pthread_cond_wait(&w->cv_batch, &w->mu);
			continue;
		}
		uint64_t due = w->batch_start_ms + w->commit_ms, now = mono_ms();

		if (now >= due) {
			/* A failure marks the writer broken: the next call
			 * returns it, with the message. */
			batch_commit(w);
			continue;
		}
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((due - now) / 1000);
		ts.tv_nsec += (long)((due - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cv_batch, &w->mu, &ts);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static int committer_start(struct emt_writer *w)
{
	sigset_t all, old;
	int rc;

	/* Like the pool's helper, it takes no signal meant for the
	 * application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->committer, NULL, committer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	w->committer_on = 1;
	return 0;
}

/* Stops and joins the committer (call without w->mu held). */
static void committer_stop(struct emt_writer *w)
{
	if (!w->committer_on)
		return;
	pthread_mutex_lock(&w->mu);
	w->committer_stop = 1;
	pthread_cond_broadcast(&w->cv_batch);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->committer, NULL);
	w->committer_on = 0;
}

/* ---------------------------------------------------------------- dedupe */

static size_t ht_index(const uint8_t *h, size_t cap)
{
	uint64_t v;

	memcpy(&v, h, sizeof(v));       /* SHA-256 bytes are already uniform */
	return (size_t)v & (cap - 1);
}

static struct hslot *ht_find(struct emt_writer *w, const uint8_t *h)
{
	size_t i = ht_index(h, w->ht_cap);

	for (;;) {
		struct hslot *s = &w->ht[i];

		if (s->id == 0)
			return NULL;
		if (s->id > 0 && memcmp(s->hash, h, EMT_SHA256_LEN) == 0)
			return s;
		i = (i + 1) & (w->ht_cap - 1);
	}
}

static int ht_insert(struct emt_writer *w, const uint8_t *h, int64_t id,
		     uint8_t depth);

static int ht_grow(struct emt_writer *w)
{
	struct hslot *old = w->ht;
	size_t oldcap = w->ht_cap;
	size_t cap = oldcap ? oldcap * 2 : 4096;

	w->ht = calloc(cap, sizeof(*w->ht));
	if (!w->ht) {
		w->ht = old;
		return -ENOMEM;
	}
	w->ht_cap = cap;
	w->ht_used = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].id > 0)
			ht_insert(w, old[i].hash, old[i].id, old[i].depth);
	free(old);
	return 0;
}

static int ht_insert(struct emt_writer *w, const uint8_t *h, int64_t id,
		     uint8_t depth)
{
	size_t i;

	if ((w->ht_used + 1) * 4 >= w->ht_cap * 3) {
		int err = ht_grow(w);

		if (err)
			return err;
	}
	i = ht_index(h, w->ht_cap);
	while (w->ht[i].id > 0)
		i = (i + 1) & (w->ht_cap - 1);
	if (w->ht[i].id == 0)
		w->ht_used++;
	memcpy(w->ht[i].hash, h, EMT_SHA256_LEN);
	w->ht[i].id = id;
	w->ht[i].depth = depth;
	return 0;
}

static void ht_remove(struct emt_writer *w, const uint8_t *h)
{
	struct hslot *s = ht_find(w, h);

	if (s)
		s->id = -1;     /* tombstone keeps probe chains intact */
}

/* ---------------------------------------------------------------- create */

static int remove_stale(const char *path, const char *suffix, char *err,
			size_t errcap)
{
	char p[4096];
	struct stat st;

	if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffix) >= sizeof(p))
		return -ENAMETOOLONG;
	if (lstat(p, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	/* SQLite would open (and follow) these: a planted symlink or old
	 * WAL must never end up in the new evidence file. */
	if (!S_ISREG(st.st_mode)) {
		emt_fmt(err, errcap, "cannot create '%s': '%s' exists and is not a regular file",
			path, p);
		return S_ISLNK(st.st_mode) ? -ELOOP : -EEXIST;
	}
	if (unlink(p) < 0)
		return -errno;
	return 0;
}

static int read_small_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

static int put_meta(struct emt_writer *w, const char *k, const char *v)
{
	sqlite3_bind_text(w->st_meta, 1, k, -1, SQLITE_TRANSIENT);
	/* BLOB: values such as the target's command line are bytes, not
	 * necessarily UTF-8. */
	sqlite3_bind_blob(w->st_meta, 2, v, (int)strnlen(v, EMT_STRING_MAX), SQLITE_TRANSIENT);
	return step_done(w, w->st_meta, "meta");
}

static int put_meta_u64(struct emt_writer *w, const char *k, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return put_meta(w, k, buf);
}

static int prepare(struct emt_writer *w, sqlite3_stmt **st, const char *sql)
{
	int rc = sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
				    st, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(w, rc, "prepare");
}

static int prepare_all(struct emt_writer *w)
{
	int err = 0;

	err = err ? err : prepare(w, &w->st_chunk,
		"INSERT INTO chunks(hash, size, encoding, base_id, depth, first_seq, data)"
		" VALUES(?, ?, ?, ?, ?, ?, ?)");
	err = err ? err : prepare(w, &w->st_cc,
		"INSERT INTO capture_chunks(seq, idx, chunk_id) VALUES(?, ?, ?)");
	err = err ? err : prepare(w, &w->st_cap,
		"INSERT INTO captures(seq, region_id, version, pid, tid, trigger_name,"
		" prot_before, prot_after, addr, size, time_ns, chunk_size, nchunks,"
		" stored_bytes, sha256, ledger)"
		" VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	err = err ? err : prepare(w, &w->st_gap,
		"INSERT INTO gaps(seq, offset, length, reason, err) VALUES(?, ?, ?, ?, ?)");
	err = err ? err : prepare(w, &w->st_regs,
		"INSERT INTO regs(seq, arch, data) VALUES(?, ?, ?)");
	err = err ? err : prepare(w, &w->st_event,
		"INSERT INTO events(time_ns, pid, tid, syscall, addr, len, prot, flags,"
		" fd, ret, seq, detail) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	err = err ? err : prepare(w, &w->st_proc,
		"INSERT INTO processes(pid, ppid, start_ns, exit_ns, exit_status,"
		" has_exit, exe, cmdline) VALUES(?, ?, ?, ?, ?, ?, ?, ?)");
	err = err ? err : prepare(w, &w->st_exit,
		"UPDATE processes SET exit_ns = ?, exit_status = ?, has_exit = 1 WHERE id = ?");
	err = err ? err : prepare(w, &w->st_region,
		"INSERT INTO regions(process_id, pid, backing, start, length, created_ns,"
		" gone_ns, path, inode, dev, offset, prot)"
		" VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	err = err ? err : prepare(w, &w->st_gone,
		"UPDATE regions SET gone_ns = ? WHERE id = ?");
	err = err ? err : prepare(w, &w->st_loss,
		"INSERT INTO losses(kind, pid, count, first_ns, last_ns) VALUES(?, ?, ?, ?, ?)"
		" ON CONFLICT(kind, pid) DO UPDATE SET count = count + excluded.count,"
		" last_ns = max(last_ns, excluded.last_ns)");
	err = err ? err : prepare(w, &w->st_meta,
		"INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
	err = err ? err : prepare(w, &w->st_chunk_data,
		"SELECT data FROM chunks WHERE id = ? AND encoding = 'zstd'");
	err = err ? err : prepare(w, &w->st_cp,
		"INSERT INTO checkpoints(id, seq, ledger, time_ns, meta_sha256, prev, signature)"
		" VALUES(?, ?, ?, ?, ?, ?, ?)");
	/* emt_seal_tables[0] is meta: a checkpoint covers meta as the seal
	 * does. */
	err = err ? err : prepare(w, &w->st_cp_meta, emt_seal_tables[0].sql);
	return err;
}

/* Switches to WAL mode and checks that it took: SQLite keeps the old
 * mode, without an error, where the WAL's shared memory cannot be set up
 * (some network and FUSE filesystems).  Capturing on in DELETE mode
 * would give up the crash guarantees of SPEC.md section 10 unnoticed, so
 * that is refused (no fallback). */
static int wal_mode(struct emt_writer *w)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode;
	int rc, err = 0;

	rc = sqlite3_prepare_v2(w->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(w, rc, "journal mode");
	rc = sqlite3_step(st);
	mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err = db_fail(w, rc, "journal mode");
	} else if (!mode || sqlite3_stricmp((const char *)mode, "wal") != 0) {
		emt_fmt(w->err, sizeof(w->err),
			"the filesystem does not support SQLite's WAL mode (journal mode stays '%s'),"
			" which crash safety needs: write the archive to a local filesystem",
			mode ? (const char *)mode : "?");
		err = -ENOTSUP;
	}
	sqlite3_finalize(st);
	return err;
}

static int init_archive(struct emt_writer *w)
{
	struct utsname u;
	char buf[256];
	int err;

	/* Page size must be set before the first table exists.  Larger pages
	 * mean fewer overflow pages per compressed chunk. */
	err = exec_sql(w, "PRAGMA page_size = 4096");
	if (err)
		return err;
	err = exec_sql(w, "BEGIN IMMEDIATE");
	if (err)
		return err;
	snprintf(buf, sizeof(buf), "PRAGMA application_id = %u; PRAGMA user_version = %d",
		 EMT_APPLICATION_ID, EMT_FORMAT_MAJOR);
	err = exec_sql(w, buf);
	if (!err) {
		char *schema = emt_schema_create_sql(EMT_FORMAT_MINOR);

		if (!schema)
			emt_fmt(w->err, sizeof(w->err), "out of memory creating the schema");
		err = schema ? exec_sql(w, schema) : -ENOMEM;
		free(schema);
	}
	err = err ? err : prepare_all(w);
	if (err)
		goto fail;

	uint64_t rt = clock_ns(CLOCK_REALTIME);
	uint64_t bt = clock_ns(CLOCK_BOOTTIME);
	uint64_t mt = clock_ns(CLOCK_MONOTONIC);

	err = put_meta_u64(w, "format_major", EMT_FORMAT_MAJOR);
	err = err ? err : put_meta_u64(w, "format_minor", EMT_FORMAT_MINOR);
	snprintf(buf, sizeof(buf), "emt %s", emt_version());
	err = err ? err : put_meta(w, "writer_version", buf);
	err = err ? err : put_meta(w, "features_required", EMT_FEATURES_WRITTEN);
	err = err ? err : put_meta(w, "features_optional", w->key ? EMT_FEATURE_SIGNATURE : "");
	if (w->key) {
		/* Covered by the meta digest of every checkpoint and of the
		 * seal: the signatures bind the key they are made with. */
		err = err ? err : put_meta(w, "sign_algorithm", "ed25519");
		err = err ? err : put_meta(w, "sign_public_key", emt_key_public_pem(w->key));
		err = err ? err : put_meta(w, "sign_key_sha256", emt_key_fingerprint(w->key));
	}
	if (!err && uname(&u) == 0) {
		err = put_meta(w, "host", u.nodename);
		err = err ? err : put_meta(w, "kernel", u.release);
		err = err ? err : put_meta(w, "arch", u.machine);
	}
	if (!err && read_small_file("/proc/sys/kernel/random/boot_id", buf, sizeof(buf)) == 0)
		err = put_meta(w, "boot_id", buf);
	err = err ? err : put_meta_u64(w, "clock_realtime_ns", rt);
	err = err ? err : put_meta_u64(w, "clock_boottime_ns", bt);
	err = err ? err : put_meta_u64(w, "clock_monotonic_ns", mt);
	err = err ? err : put_meta_u64(w, "start_ns", bt);
	err = err ? err : put_meta_u64(w, "chunk_size", w->chunk_size);
	snprintf(buf, sizeof(buf), "%d", w->level);
	err = err ? err : put_meta(w, "zstd_level", buf);
	err = err ? err : put_meta(w, "sealed", "0");
	if (err)
		goto fail;
	err = exec_sql(w, "COMMIT");
	if (err)
		goto fail;
	return 0;
fail:
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

/* Opens the placed archive for capturing.  Schema and identification
 * were written in rollback mode (init_archive), so the main file carries
 * them even if the writer dies before its first checkpoint; captures then
 * go through the WAL. */
static int start_archive(struct emt_writer *w, const char *path)
{
	int rc, err;

	/* NOMUTEX: every use of w->db is under w->mu already, and SQLite's
	 * own connection mutex cost a quarter of the writer's CPU per 4 KiB
	 * capture on this VM (bench/bench_writer: 45 -> 29 us). */
	rc = sqlite3_open_v2(path, &w->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		emt_fmt(w->err, sizeof(w->err), "%s",
			w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
		return -EIO;
	}
	sqlite3_extended_result_codes(w->db, 1);
	err = prepare_all(w);
	err = err ? err : wal_mode(w);
	err = err ? err : exec_sql(w, "PRAGMA synchronous = NORMAL");
	/* A batch (commit_ms of captures, events and their index entries)
	 * mostly fits in a 16 MiB page cache; SQLite's default 2 MiB spilled
	 * and re-read pages of busy seconds (pread calls down 28% on 20,000
	 * fx_poly versions). */
	err = err ? err : exec_sql(w, "PRAGMA cache_size = -16384");
	/* SQLite's statement journals (inside the batch, a statement that
	 * writes several b-trees keeps one) stay in memory rather than in a
	 * temporary file: no bytes of the archive in a file beside it, and
	 * no pwrite calls for them (two per capture when each capture was
	 * its own SAVEPOINT). */
	err = err ? err : exec_sql(w, "PRAGMA temp_store = MEMORY");
	return err;
}

static void free_regions(struct emt_writer *w)
{
	for (size_t i = 0; i < w->nregions_cap; i++) {
		free(w->regions[i].data);
		free(w->regions[i].chunk_ids);
		free(w->regions[i].depths);
	}
	free(w->regions);
	w->regions = NULL;
	w->nregions_cap = 0;
}

/* Finalizes every statement and closes the connection (w->db NULL). */
static void close_db(struct emt_writer *w)
{
	sqlite3_stmt **sts[] = { &w->st_chunk, &w->st_cc, &w->st_cap, &w->st_gap,
		&w->st_regs, &w->st_event, &w->st_proc, &w->st_exit, &w->st_region,
		&w->st_gone, &w->st_loss, &w->st_meta, &w->st_chunk_data,
		&w->st_cp, &w->st_cp_meta, &w->st_syscall };

	for (size_t i = 0; i < sizeof(sts) / sizeof(sts[0]); i++) {
		sqlite3_finalize(*sts[i]);
		*sts[i] = NULL;
	}
	if (w->db)
		sqlite3_close(w->db);
	w->db = NULL;
}

static void writer_free(struct emt_writer *w)
{
	committer_stop(w);
	close_db(w);
	pool_free(w->pool);
	ZSTD_freeCCtx(w->cctx[0]);
	ZSTD_freeCCtx(w->cctx[1]);
	ZSTD_freeDCtx(w->dctx);
	free(w->jobs);
	free(w->jobbufs);
	free(w->ht);
	free(w->proc_dig);
	free(w->proc_known);
	free_regions(w);
	emt_key_free(w->key);
	pthread_cond_destroy(&w->cv_batch);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

/* SQLite's files beside a database: stale ones are refused or removed
 * before an archive is created, and a failed creation removes its own. */
static const char *const side_sfx[] = { "-wal", "-shm", "-journal" };

/* Gives the finished file `tmp` the name `path`, never replacing a file
 * made there meanwhile: renameat2(RENAME_NOREPLACE), or where the
 * filesystem lacks it, link(2) and unlink(2).  0 or -errno (-EEXIST). */
static int place_file(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -errno;
	if (link(tmp, path) < 0)
		return -errno;
	unlink(tmp);
	return 0;
}

static void set_errmsg(char **errmsg, const char *msg)
{
	if (errmsg)
		*errmsg = strdup(msg);
}

struct emt_writer *emt_writer_create(const char *path,
				     const struct emt_writer_opts *opts,
				     char **errmsg)
{
	struct emt_writer_opts o = { 0 };
	struct emt_writer *w = NULL;
	char msg[EMT_ERRMSG_MAX] = "", tmp[PATH_MAX + 32];
	struct stat st;
	int err, fd, rc, placed = 0;

	if (errmsg)
		*errmsg = NULL;
	if (!path || !*path) {
		set_errmsg(errmsg, "no output path given");
		errno = EINVAL;
		return NULL;
	}
	if (opts) {
		size_t n = opts->sz && opts->sz < sizeof(o) ? opts->sz : sizeof(o);

		memcpy(&o, opts, n);
	}
	if (!o.chunk_size)
		o.chunk_size = EMT_CHUNK_SIZE_DEFAULT;
	if (o.chunk_size < 4096 || o.chunk_size > EMT_CHUNK_SIZE_MAX ||
	    (o.chunk_size & (o.chunk_size - 1))) {
		emt_fmt(msg, sizeof(msg), "chunk size %u: not a power of 2 between 4096 and %u",
			o.chunk_size, EMT_CHUNK_SIZE_MAX);
		err = -EINVAL;
		goto fail;
	}
	if (!o.zstd_level)
		o.zstd_level = EMT_ZSTD_LEVEL_DEFAULT;
	if (o.zstd_level < ZSTD_minCLevel() || o.zstd_level > ZSTD_maxCLevel()) {
		emt_fmt(msg, sizeof(msg), "zstd level %d out of range", o.zstd_level);
		err = -EINVAL;
		goto fail;
	}
	if (!o.commit_ms)
		o.commit_ms = 1000;
	if (o.sign_key && !emt_key_has_private(o.sign_key)) {
		emt_fmt(msg, sizeof(msg), "the signing key is a public key: signing needs the private key");
		err = -EINVAL;
		goto fail;
	}

	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			emt_fmt(msg, sizeof(msg), "cannot create '%s': it is a symbolic link", path);
			err = -ELOOP;
			goto fail;
		}
		if (!(o.flags & EMT_CREATE_FORCE)) {
			emt_fmt(msg, sizeof(msg), "cannot create '%s': file exists", path);
			err = -EEXIST;
			goto fail;
		}
		if (!S_ISREG(st.st_mode)) {
			emt_fmt(msg, sizeof(msg), "cannot create '%s': not a regular file", path);
			err = -EEXIST;
			goto fail;
		}
		if (unlink(path) < 0) {
			err = -errno;
			emt_fmt(msg, sizeof(msg), "cannot replace '%s': %s", path, strerror(-err));
			goto fail;
		}
	}
	for (size_t i = 0; i < sizeof(side_sfx) / sizeof(side_sfx[0]); i++) {
		err = remove_stale(path, side_sfx[i], msg, sizeof(msg));
		if (err) {
			if (!msg[0])
				emt_fmt(msg, sizeof(msg), "cannot create '%s': %s", path, strerror(-err));
			goto fail;
		}
	}
	/* The archive is built under a temporary name and put in place only
	 * once its schema and identification are committed: a writer killed
	 * during creation leaves no file at `path` that is not an archive
	 * (at most a NAME.creating-XXXXXX that holds nothing captured). */
	if (snprintf(tmp, sizeof(tmp), "%s.creating-XXXXXX", path) >= (int)sizeof(tmp)) {
		err = -ENAMETOOLONG;
		emt_fmt(msg, sizeof(msg), "cannot create '%s': %s", path, strerror(-err));
		goto fail;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		emt_fmt(msg, sizeof(msg), "cannot create '%s': %s", path, strerror(-err));
		goto fail;
	}
	close(fd);

	w = calloc(1, sizeof(*w));
	if (!w) {
		err = -ENOMEM;
		emt_fmt(msg, sizeof(msg), "out of memory");
		unlink(tmp);
		goto fail;
	}
	pthread_mutex_init(&w->mu, NULL);
	{
		pthread_condattr_t ca;

		/* Deadlines on the monotonic clock: a wall-clock step must
		 * not delay a commit (or make one early). */
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&w->cv_batch, &ca);
		pthread_condattr_destroy(&ca);
	}
	w->chunk_size = o.chunk_size;
	w->level = o.zstd_level;
	w->commit_ms = o.commit_ms;
	w->no_delta = o.no_delta;
	w->next_seq = 1;
	if (o.sign_key && !(w->key = emt_key_dup(o.sign_key))) {
		err = -ENOMEM;
		emt_fmt(msg, sizeof(msg), "out of memory");
		goto fail_file;
	}
	w->win = WIN_BYTES / o.chunk_size;
	if (w->win < 2)
		w->win = 2;
	if (w->win > WIN_MAX)
		w->win = WIN_MAX;
	w->cbuf_cap = ZSTD_compressBound(o.chunk_size);
	w->jobs = calloc(w->win, sizeof(*w->jobs));
	w->jobbufs = malloc(2 * (size_t)w->win * w->cbuf_cap);
	w->cctx[0] = ZSTD_createCCtx();
	w->cctx[1] = ZSTD_createCCtx();
	if (!w->cctx[0] || !w->cctx[1] || !w->jobs || !w->jobbufs || ht_grow(w)) {
		err = -ENOMEM;
		emt_fmt(msg, sizeof(msg), "out of memory");
		goto fail_file;
	}
	for (size_t j = 0; j < w->win; j++) {
		w->jobs[j].out = w->jobbufs + 2 * j * w->cbuf_cap;
		w->jobs[j].out2 = w->jobs[j].out + w->cbuf_cap;
	}
	for (int t = 0; t < 2; t++) {
		ZSTD_CCtx_setParameter(w->cctx[t], ZSTD_c_compressionLevel, w->level);
		ZSTD_CCtx_setParameter(w->cctx[t], ZSTD_c_checksumFlag, 1);
		ZSTD_CCtx_setParameter(w->cctx[t], ZSTD_c_contentSizeFlag, 1);
	}
	/* NULL (no thread) is fine: the pool then runs inline. */
	w->pool = pool_new();

	rc = sqlite3_open_v2(tmp, &w->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		err = -EIO;
		emt_fmt(msg, sizeof(msg), "cannot open '%s': %s", tmp,
			w->db ? sqlite3_errmsg(w->db) : sqlite3_errstr(rc));
		goto fail_file;
	}
	sqlite3_extended_result_codes(w->db, 1);
	/* The writer is the only connection; waiting for a lock would only
	 * hide a second writer, which is a bug. */
	err = init_archive(w);
	close_db(w);
	if (err) {
		emt_fmt(msg, sizeof(msg), "cannot initialise '%s': %s", path, w->err);
		goto fail_file;
	}
	err = place_file(tmp, path);
	if (err) {
		emt_fmt(msg, sizeof(msg), "cannot create '%s': %s", path,
			err == -EEXIST ? "file exists" : strerror(-err));
		goto fail_file;
	}
	placed = 1;
	err = start_archive(w, path);
	if (err) {
		emt_fmt(msg, sizeof(msg), "cannot open '%s': %s", path, w->err);
		goto fail_file;
	}
	err = committer_start(w);
	if (err) {
		emt_fmt(msg, sizeof(msg), "cannot start the commit thread: %s", strerror(-err));
		goto fail_file;
	}
	return w;

fail_file:
	writer_free(w);
	w = NULL;
	/* Only what this call made: before it is placed, `path` may be
	 * someone else's file. */
	unlink(placed ? path : tmp);
	for (size_t i = 0; i < sizeof(side_sfx) / sizeof(side_sfx[0]); i++) {
		char p[sizeof(tmp) + 16];

		snprintf(p, sizeof(p), "%s%s", placed ? path : tmp, side_sfx[i]);
		unlink(p);
	}
fail:
	if (w)
		writer_free(w);
	set_errmsg(errmsg, msg[0] ? msg : strerror(-err));
	errno = -err;
	return NULL;
}

/* ---------------------------------------------------------------- rows */

const char *emt_writer_errmsg(const struct emt_writer *w)
{
	return w ? w->err : "no writer";
}

static int reserved_key(const char *k)
{
	static const char *const prefixes[] = { "format_", "seal", "clock_", "features_", "sign_" };
	static const char *const exact[] = { "start_ns", "stop_ns", "writer_version",
		"chunk_size", "zstd_level" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(k, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(k, exact[i]) == 0)
			return 1;
	return 0;
}

int emt_writer_set_meta(struct emt_writer *w, const char *key, const char *value)
{
	int err;

	if (!w || !key || !value || !*key)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	if (reserved_key(key)) {
		emt_fmt(w->err, sizeof(w->err), "meta key '%s' is reserved", key);
		err = -EINVAL;
	} else if (strlen(key) > 256 || strlen(value) > EMT_STRING_MAX) {
		emt_fmt(w->err, sizeof(w->err), "meta key '%s': too long", key);
		err = -E2BIG;
	} else {
		err = check_usable(w);
		err = err ? err : batch_begin(w);
		err = err ? err : put_meta(w, key, value);
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

/* Makes room for process id `id` in the digest table. */
static int procs_reserve(struct emt_writer *w, int64_t id)
{
	size_t cap = w->nprocs_cap ? w->nprocs_cap : 64;
	uint8_t (*nd)[EMT_SHA256_LEN];
	uint8_t *nk;

	if (id <= 0)
		return -EINVAL;
	if ((uint64_t)id < w->nprocs_cap)
		return 0;
	while (cap <= (uint64_t)id)
		cap *= 2;
	nd = realloc(w->proc_dig, cap * sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	w->proc_dig = nd;
	nk = realloc(w->proc_known, cap);
	if (!nk)
		return -ENOMEM;
	memset(nk + w->nprocs_cap, 0, cap - w->nprocs_cap);
	w->proc_known = nk;
	w->nprocs_cap = cap;
	return 0;
}

int emt_writer_add_process(struct emt_writer *w, struct emt_process *p)
{
	int err;

	if (!w || !p)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	/* Room first: failing after the insert would leave a row the
	 * caller was told does not exist.  The writer only inserts, so the
	 * new row's id is the count of rows + 1. */
	if (!err && procs_reserve(w, (int64_t)w->stats.processes + 1)) {
		emt_fmt(w->err, sizeof(w->err), "out of memory");
		err = -ENOMEM;
	}
	err = err ? err : batch_begin(w);
	if (!err) {
		sqlite3_stmt *st = w->st_proc;
		size_t exe_len = p->exe ? strnlen(p->exe, EMT_STRING_MAX) : 0;
		size_t cmd_len = p->cmdline ? strnlen(p->cmdline, EMT_STRING_MAX) : 0;

		sqlite3_bind_int64(st, 1, p->pid);
		sqlite3_bind_int64(st, 2, p->ppid);
		bind_u64(st, 3, p->start_ns);
		bind_u64(st, 4, p->exit_ns);
		sqlite3_bind_int64(st, 5, p->exit_status);
		sqlite3_bind_int64(st, 6, p->has_exit ? 1 : 0);
		bind_str(st, 7, p->exe);
		bind_str(st, 8, p->cmdline);
		err = step_done(w, st, "process");
		if (!err) {
			int64_t id = sqlite3_last_insert_rowid(w->db);

			/* Only if rowids were not dense (they are): stop
			 * rather than keep a row without its digest. */
			if (procs_reserve(w, id)) {
				emt_fmt(w->err, sizeof(w->err), "out of memory");
				err = -ENOMEM;
				mark_broken(w, err);
			} else {
				emt_process_digest(p, exe_len, cmd_len, w->proc_dig[id]);
				w->proc_known[id] = 1;
				p->id = id;
				w->stats.processes++;
			}
		}
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

int emt_writer_process_exit(struct emt_writer *w, int64_t process_id,
			    uint64_t exit_ns, int32_t status)
{
	int err;

	if (!w || process_id <= 0)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	err = err ? err : batch_begin(w);
	if (!err) {
		bind_u64(w->st_exit, 1, exit_ns);
		sqlite3_bind_int64(w->st_exit, 2, status);
		sqlite3_bind_int64(w->st_exit, 3, process_id);
		err = step_done(w, w->st_exit, "process exit");
		if (!err && sqlite3_changes(w->db) == 0) {
			emt_fmt(w->err, sizeof(w->err), "process %" PRId64 ": no such process", process_id);
			err = -ENOENT;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

static struct wregion *wregion_get(struct emt_writer *w, int64_t id)
{
	if (id <= 0 || (uint64_t)id >= w->nregions_cap || w->regions[id].id != id)
		return NULL;
	return &w->regions[id];
}

/* Makes room for region id `id` in w->regions. */
static int regions_reserve(struct emt_writer *w, int64_t id)
{
	size_t cap = w->nregions_cap ? w->nregions_cap : 64;
	struct wregion *nr;

	if (id <= 0)
		return -EINVAL;
	if ((uint64_t)id < w->nregions_cap)
		return 0;
	while (cap <= (uint64_t)id)
		cap *= 2;
	nr = realloc(w->regions, cap * sizeof(*nr));
	if (!nr)
		return -ENOMEM;
	memset(nr + w->nregions_cap, 0, (cap - w->nregions_cap) * sizeof(*nr));
	w->regions = nr;
	w->nregions_cap = cap;
	return 0;
}

int emt_writer_add_region(struct emt_writer *w, struct emt_region *r)
{
	const char *bn;
	int err;

	if (!w || !r)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	bn = emt_backing_name((enum emt_backing)r->backing);
	if (!bn) {
		emt_fmt(w->err, sizeof(w->err), "region: unknown backing %u", r->backing);
		err = -EINVAL;
		goto out;
	}
	if (r->length > UINT64_MAX - r->start + 1 && r->start != 0) {
		emt_fmt(w->err, sizeof(w->err), "region at 0x%" PRIx64 ": %" PRIu64
			" bytes wrap past the end of the address space", r->start, r->length);
		err = -EINVAL;
		goto out;
	}
	/* Its captures' ledger entries cover the process row: it must be
	 * in already (SPEC.md section 9). */
	if (r->process_id <= 0 || (uint64_t)r->process_id >= w->nprocs_cap ||
	    !w->proc_known[r->process_id]) {
		emt_fmt(w->err, sizeof(w->err), "region: no such process %" PRId64, r->process_id);
		err = -ENOENT;
		goto out;
	}
	err = check_usable(w);
	if (err)
		goto out;
	/* Room first (the new id is the count of rows + 1): a failure after
	 * the insert would leave a row in the batch that the caller was told
	 * does not exist. */
	if (regions_reserve(w, (int64_t)w->stats.regions + 1)) {
		emt_fmt(w->err, sizeof(w->err), "out of memory");
		err = -ENOMEM;
		goto out;
	}
	err = batch_begin(w);
	if (err)
		goto out;
	sqlite3_stmt *st = w->st_region;
	size_t path_len = r->path ? strnlen(r->path, EMT_STRING_MAX) : 0;

	sqlite3_bind_int64(st, 1, r->process_id);
	sqlite3_bind_int64(st, 2, r->pid);
	sqlite3_bind_text(st, 3, bn, -1, SQLITE_STATIC);
	bind_u64(st, 4, r->start);
	bind_u64(st, 5, r->length);
	bind_u64(st, 6, r->created_ns);
	bind_u64(st, 7, r->gone_ns);
	bind_str(st, 8, r->path);
	bind_u64(st, 9, r->inode);
	bind_u64(st, 10, r->dev);
	bind_u64(st, 11, r->offset);
	sqlite3_bind_int64(st, 12, r->prot);
	err = step_done(w, st, "region");
	if (err)
		goto out;
	int64_t id = sqlite3_last_insert_rowid(w->db);

	/* Only if rowids were not dense (they are): stop rather than keep a
	 * row the writer cannot describe. */
	if (regions_reserve(w, id)) {
		emt_fmt(w->err, sizeof(w->err), "out of memory");
		err = -ENOMEM;
		mark_broken(w, err);
		goto out;
	}
	struct wregion *rg = &w->regions[id];

	rg->id = id;
	rg->start = r->start;
	rg->length = r->length;
	emt_region_digest(r, bn, path_len, rg->ident);
	memcpy(rg->proc, w->proc_dig[r->process_id], EMT_SHA256_LEN);
	r->id = id;
	w->stats.regions++;
out:
	pthread_mutex_unlock(&w->mu);
	return err;
}

int emt_writer_region_gone(struct emt_writer *w, int64_t region_id,
			   uint64_t gone_ns)
{
	int err;

	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	if (!err && !wregion_get(w, region_id)) {
		emt_fmt(w->err, sizeof(w->err), "region %" PRId64 ": no such region", region_id);
		err = -ENOENT;
	}
	err = err ? err : batch_begin(w);
	if (!err) {
		bind_u64(w->st_gone, 1, gone_ns);
		sqlite3_bind_int64(w->st_gone, 2, region_id);
		err = step_done(w, w->st_gone, "region gone");
	}
	if (!err) {
		/* No later version will need this one as a delta base. */
		struct wregion *rg = wregion_get(w, region_id);

		w->delta_cache_bytes -= rg->data_cap;
		free(rg->data);
		rg->data = NULL;
		rg->data_cap = 0;
		rg->has_base = 0;
		rg->lazy_base = 0;
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

int emt_writer_add_event(struct emt_writer *w, struct emt_event *e)
{
	int err;

	if (!w || !e || !e->syscall)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	err = err ? err : batch_begin(w);
	if (!err) {
		sqlite3_stmt *st = w->st_event;

		bind_u64(st, 1, e->time_ns);
		sqlite3_bind_int64(st, 2, e->pid);
		sqlite3_bind_int64(st, 3, e->tid);
		sqlite3_bind_text(st, 4, e->syscall, (int)strnlen(e->syscall, 256), SQLITE_TRANSIENT);
		bind_u64(st, 5, e->addr);
		bind_u64(st, 6, e->len);
		bind_u64(st, 7, e->prot);
		bind_u64(st, 8, e->flags);
		sqlite3_bind_int64(st, 9, e->fd);
		sqlite3_bind_int64(st, 10, e->ret);
		bind_u64(st, 11, e->seq);
		bind_str(st, 12, e->detail);
		err = step_done(w, st, "event");
		if (!err) {
			e->id = sqlite3_last_insert_rowid(w->db);
			w->stats.events++;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

int emt_writer_add_loss(struct emt_writer *w, const struct emt_loss *l)
{
	int err;

	if (!w || !l || !l->kind)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	err = err ? err : batch_begin(w);
	if (!err) {
		sqlite3_stmt *st = w->st_loss;

		sqlite3_bind_text(st, 1, l->kind, (int)strnlen(l->kind, 256), SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, l->pid);
		bind_u64(st, 3, l->count);
		bind_u64(st, 4, l->time_ns);
		bind_u64(st, 5, l->time_ns);
		err = step_done(w, st, "loss");
		if (!err)
			w->stats.losses += l->count;
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

/* ---------------------------------------------------------------- captures */

/* With a base, the frame is a zstd "patch-from" frame: the base is a
 * raw-content prefix, so `zstd -d --patch-from=BASE` decodes it (SPEC.md
 * "delta").  Returns the frame size or a zstd error code. */
static size_t compress_chunk(ZSTD_CCtx *cctx, uint8_t *dst, size_t cap, const void *src,
			     size_t n, const void *base, size_t nbase)
{
	size_t r;

	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_only);
	if (base) {
		r = ZSTD_CCtx_refPrefix(cctx, base, nbase);
		if (ZSTD_isError(r))
			return r;
	}
	return ZSTD_compress2(cctx, dst, cap, src, n);
}

struct win_ctx {
	struct emt_writer *w;
	struct chunk_job *jobs;
	size_t todo[WIN_MAX];
};

static void hash_one(void *ctx, size_t j, int tid)
{
	struct win_ctx *wc = ctx;
	struct chunk_job *jb = &wc->jobs[j];

	(void)tid;
	if (!jb->same)
		emt_sha256(jb->p, jb->n, jb->hash);
}

static void compress_one(void *ctx, size_t k, int tid)
{
	struct win_ctx *wc = ctx;
	struct emt_writer *w = wc->w;
	struct chunk_job *jb = &wc->jobs[wc->todo[k]];
	ZSTD_CCtx *cctx = w->cctx[tid];
	size_t r, plain;

	jb->err = 0;
	jb->use_delta = 0;
	if (jb->base) {
		r = compress_chunk(cctx, jb->out2, w->cbuf_cap, jb->p, jb->n, jb->base, jb->nbase);
		if (!ZSTD_isError(r)) {
			/* A small delta means few changed bytes: no need to try
			 * a plain frame.  Otherwise keep the smaller. */
			if (r <= jb->n / 16)
				goto delta;
			plain = compress_chunk(cctx, jb->out, w->cbuf_cap, jb->p, jb->n, NULL, 0);
			if (ZSTD_isError(plain) || r + r / 8 < plain)
				goto delta;
			jb->clen = plain;
			return;
		}
	}
	r = compress_chunk(cctx, jb->out, w->cbuf_cap, jb->p, jb->n, NULL, 0);
	if (ZSTD_isError(r)) {
		jb->err = 1;
		jb->zerr = r;
		return;
	}
	jb->clen = r;
	return;
delta:
	/* out2 holds the frame: swap so `out` is always the one kept. */
	{
		uint8_t *t = jb->out;

		jb->out = jb->out2;
		jb->out2 = t;
	}
	jb->clen = r;
	jb->use_delta = 1;
}

struct whole_job {
	const uint8_t *data;
	uint64_t size;
	uint8_t *out;
};

static void whole_hash_job(void *ctx)
{
	struct whole_job *wj = ctx;

	emt_sha256(wj->data, wj->size, wj->out);
}

/* Gives rg->data room for `size` bytes within DELTA_CACHE_MAX. */
static int base_reserve(struct emt_writer *w, struct wregion *rg, uint64_t size)
{
	if (rg->data_cap < size) {
		uint64_t extra = size - rg->data_cap;
		uint8_t *nd;

		if (w->delta_cache_bytes + extra > DELTA_CACHE_MAX)
			return -ENOSPC;
		nd = realloc(rg->data, size);
		if (!nd)
			return -ENOMEM;
		rg->data = nd;
		rg->data_cap = size;
		w->delta_cache_bytes += extra;
	}
	return 0;
}

/* Decodes the previous (first) version of `rg` from the archive into
 * rg->data, for a second version to be delta-encoded against it.  Only
 * plain chunks are decoded (a first version's chunks are plain unless
 * deduplicated against some other region's delta chunk); a chunk that
 * is not is marked as no base (depth EMT_DELTA_DEPTH_MAX).  Costs one
 * decompression of a version, only for regions that do get a second
 * one, instead of a copy of every first version. */
static void load_base(struct emt_writer *w, struct wregion *rg)
{
	uint64_t cs = rg->chunk_size, n = (rg->size + cs - 1) / cs;

	rg->lazy_base = 0;
	if (!w->dctx && !(w->dctx = ZSTD_createDCtx()))
		return;
	if (base_reserve(w, rg, rg->size))
		return;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = i * cs;
		size_t len = (size_t)(rg->size - off < cs ? rg->size - off : cs), r = 0;
		int ok = 0;

		if (rg->depths[i] == 0) {
			sqlite3_bind_int64(w->st_chunk_data, 1, rg->chunk_ids[i]);
			if (sqlite3_step(w->st_chunk_data) == SQLITE_ROW) {
				const void *src = sqlite3_column_blob(w->st_chunk_data, 0);
				int sn = sqlite3_column_bytes(w->st_chunk_data, 0);

				if (src && sn > 0)
					r = ZSTD_decompressDCtx(w->dctx, rg->data + off, len, src, (size_t)sn);
				ok = src && sn > 0 && !ZSTD_isError(r) && r == len;
			}
			sqlite3_reset(w->st_chunk_data);
		}
		if (!ok)
			rg->depths[i] = EMT_DELTA_DEPTH_MAX;
	}
	rg->has_base = 1;
}

/* Cheap test whether a delta against the same offset of the previous
 * version can pay: polymorphic and patched code keeps most 8-byte words
 * in place.  Unrelated content skips the second compression. */
static int similar(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	size_t n = na < nb ? na : nb, step, same = 0;

	if (n < 1024)
		return 1;
	step = (n - 8) / 63;
	for (size_t i = 0; i < 64; i++)
		same += memcmp(a + i * step, b + i * step, 8) == 0;
	return same >= 16;
}

/* The register record as stored: 28 little-endian u64 (SPEC.md 5.8). */
static void regs_blob(const struct emt_regs_x86_64 *regs, uint8_t blob[EMT_REGS_X86_64_LEN])
{
	const uint64_t *v = (const uint64_t *)regs;

	_Static_assert(sizeof(struct emt_regs_x86_64) == EMT_REGS_X86_64_LEN,
		       "register blob layout");
	for (size_t i = 0; i < EMT_REGS_X86_64_LEN / 8; i++)
		for (size_t b = 0; b < 8; b++)
			blob[i * 8 + b] = (uint8_t)(v[i] >> (8 * b));
}

struct newchunk {
	uint8_t hash[EMT_SHA256_LEN];
	int64_t id;
	uint8_t depth;
};

/* Deletes what a capture that failed part way put in the open batch: its
 * rows by seq and its new chunks (ids from first_chunk on, 0 if none:
 * chunks are only added by captures, under w->mu, with ids that grow).
 * So a capture is all or nothing in the batch (SPEC.md section 10)
 * without a SAVEPOINT around each one: a savepoint made SQLite copy
 * every page the capture touched into its sub-journal, in 1 KiB pieces
 * malloc'd and freed at each RELEASE (temp_store = MEMORY), for a
 * rollback that almost never comes (bench/bench_writer: 27,000 of
 * 390,000 instructions per 4 KiB capture).  If SQLite lost the batch, or a delete fails, the writer
 * stops (mark_broken): it cannot tell what the batch still holds. */
static void undo_capture(struct emt_writer *w, uint64_t seq, int64_t first_chunk)
{
	static const char *const sql[] = {
		"DELETE FROM regs WHERE seq = ?1", "DELETE FROM gaps WHERE seq = ?1",
		"DELETE FROM captures WHERE seq = ?1",
		"DELETE FROM capture_chunks WHERE seq = ?1",
		"DELETE FROM chunks WHERE id >= ?2",
	};
	size_t n = sizeof(sql) / sizeof(sql[0]) - (first_chunk ? 0 : 1);
	int rc = SQLITE_OK;

	if (w->broken)
		return;
	if (sqlite3_get_autocommit(w->db)) {
		/* The failure rolled the whole batch back. */
		mark_broken(w, -EIO);
		return;
	}
	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		sqlite3_stmt *st = NULL;

		rc = sqlite3_prepare_v2(w->db, sql[i], -1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
			if (i + 1 == n && first_chunk)
				sqlite3_bind_int64(st, 2, first_chunk);
			rc = sqlite3_step(st);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
		sqlite3_finalize(st);
	}
	if (rc != SQLITE_OK) {
		char msg[EMT_ERRMSG_MAX];

		/* Keep the capture's own failure first in the message. */
		memcpy(msg, w->err, sizeof(msg));
		emt_fmt(w->err, sizeof(w->err), "%.300s; then removing its rows: %s", msg,
			sqlite3_errmsg(w->db));
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		mark_broken(w, -EIO);
	}
}

static int add_capture_locked(struct emt_writer *w, struct emt_capture *c,
			      const uint8_t *data, const struct emt_gap *gaps,
			      size_t ngaps, const struct emt_regs_x86_64 *regs)
{
	struct wregion *rg = wregion_get(w, c->region_id);
	const char *tn = emt_trigger_name((enum emt_trigger)c->trigger);
	uint32_t cs = w->chunk_size;
	uint64_t nchunks = (c->size + cs - 1) / cs;
	struct newchunk *added = NULL;
	size_t nadded = 0;
	int64_t *ids = NULL;
	uint8_t *depths = NULL;
	uint64_t stored = 0, n_new = 0, n_dedup = 0, n_delta = 0;
	int use_base;
	struct emt_line text;
	uint8_t ledger[EMT_SHA256_LEN], regblob[EMT_REGS_X86_64_LEN];
	struct pool_batch batch;
	/* Outside the window loop: a batch still running on the helper when
	 * an insert fails is ended at rollback, after leaving the loop. */
	struct win_ctx wc = { .w = w, .jobs = w->jobs };
	int batch_on = 0;
	int64_t first_chunk = 0;        /* id of the capture's first new chunk */
	int err;

	if (!rg) {
		emt_fmt(w->err, sizeof(w->err), "capture: no such region %" PRId64, c->region_id);
		return -ENOENT;
	}
	if (!tn) {
		emt_fmt(w->err, sizeof(w->err), "capture: unknown trigger %u", c->trigger);
		return -EINVAL;
	}
	if (c->size > EMT_CAPTURE_SIZE_MAX) {
		emt_fmt(w->err, sizeof(w->err), "capture of %" PRIu64 " bytes: over the %llu byte limit",
			c->size, EMT_CAPTURE_SIZE_MAX);
		return -E2BIG;
	}
	if (c->size && !data)
		return -EINVAL;
	/* SPEC.md section 5.4: a capture lies inside its region as
	 * recorded (so also never wraps past 2^64). */
	if (c->addr < rg->start || c->addr - rg->start > rg->length ||
	    c->size > rg->length - (c->addr - rg->start)) {
		emt_fmt(w->err, sizeof(w->err), "capture of 0x%" PRIx64 "+%" PRIu64
			": outside region %" PRId64 " (0x%" PRIx64 "+%" PRIu64 ")",
			c->addr, c->size, rg->id, rg->start, rg->length);
		return -EINVAL;
	}
	for (size_t i = 0; i < ngaps; i++) {
		if (!emt_gap_reason_name((enum emt_gap_reason)gaps[i].reason) ||
		    !gaps[i].length || gaps[i].offset > c->size ||
		    gaps[i].length > c->size - gaps[i].offset || gaps[i].offset % EMT_PAGE_ALIGN) {
			emt_fmt(w->err, sizeof(w->err),
				"capture: gap %zu outside the capture, not page aligned or bad reason", i);
			return -EINVAL;
		}
	}
	err = check_usable(w);
	if (err)
		return err;

	ids = calloc(nchunks ? nchunks : 1, sizeof(*ids));
	depths = calloc(nchunks ? nchunks : 1, 1);
	added = calloc(nchunks ? nchunks : 1, sizeof(*added));
	if (!ids || !depths || !added) {
		err = -ENOMEM;
		goto out;
	}
	err = batch_begin(w);
	if (err)
		goto out;

	c->seq = w->next_seq;
	c->version = rg->nversions + 1;
	/* Delta bases: same offsets of the previous version, so only when
	 * the layout is the same (same start and chunk size). */
	use_base = !w->no_delta && (rg->has_base || rg->lazy_base) && rg->addr == c->addr &&
		   rg->chunk_size == cs;
	if (use_base && !rg->has_base)
		load_base(w, rg);
	use_base = use_base && rg->has_base;

	/* Whole-capture hash in the background while chunks are processed. */
	struct whole_job wj = { .data = data, .size = c->size, .out = c->sha256 };
	int async = c->size >= (256u << 10);

	if (async)
		pool_async(w->pool, whole_hash_job, &wj);

	/* Chunks go by windows: hash all (parallel), decide dedupe (in
	 * order), compress the new ones (parallel), insert (in order). */
	for (uint64_t ws = 0; ws < nchunks; ws += w->win) {
		size_t nw = (size_t)(nchunks - ws < w->win ? nchunks - ws : w->win);
		size_t nnew = 0;
		struct chunk_job *jobs = w->jobs;

		for (size_t j = 0; j < nw; j++) {
			uint64_t i = ws + j, off = i * cs;

			jobs[j].p = data + off;
			jobs[j].n = (size_t)(c->size - off < cs ? c->size - off : cs);
			/* A chunk equal byte for byte to the previous version's
			 * at the same offset is that version's chunk: no SHA-256
			 * (a JIT's code cache of many chunks gains a trace and
			 * keeps the others; php's 16 MiB buffer is 256 chunks).
			 * Only where rg->data holds those bytes: load_base marks
			 * the chunks it did not decode with the maximum depth. */
			jobs[j].same = 0;
			if (use_base && off < rg->size && rg->depths[i] < EMT_DELTA_DEPTH_MAX) {
				uint64_t prev = rg->size - off < cs ? rg->size - off : cs;

				jobs[j].same = prev == jobs[j].n &&
					       memcmp(jobs[j].p, rg->data + off, jobs[j].n) == 0;
			}
		}
		pool_for(w->pool, nw, hash_one, &wc);
		for (size_t j = 0; j < nw; j++) {
			struct chunk_job *jb = &jobs[j];
			uint64_t i = ws + j, off = i * cs;
			struct hslot *sl = jb->same ? NULL : ht_find(w, jb->hash);

			jb->dup_of = -1;
			jb->base = NULL;
			if (jb->same) {
				ids[i] = rg->chunk_ids[i];
				depths[i] = rg->depths[i];
				n_dedup++;
				jb->state = JOB_KNOWN;
				continue;
			}
			if (sl) {
				ids[i] = sl->id;
				depths[i] = sl->depth;
				n_dedup++;
				jb->state = JOB_KNOWN;
				continue;
			}
			/* Repeated content inside this window is stored once. */
			for (size_t k = 0; k < j; k++)
				if (jobs[k].state == JOB_NEW &&
				    memcmp(jobs[k].hash, jb->hash, EMT_SHA256_LEN) == 0) {
					jb->dup_of = (int)k;
					break;
				}
			if (jb->dup_of >= 0) {
				jb->state = JOB_DUP;
				n_dedup++;
				continue;
			}
			jb->state = JOB_NEW;
			wc.todo[nnew++] = j;
			if (use_base && off < rg->size) {
				size_t nb = (size_t)(rg->size - off < cs ? rg->size - off : cs);

				if (rg->depths[i] < EMT_DELTA_DEPTH_MAX &&
				    similar(jb->p, jb->n, rg->data + off, nb)) {
					jb->base = rg->data + off;
					jb->nbase = nb;
					jb->base_id = rg->chunk_ids[i];
					jb->base_depth = rg->depths[i];
				}
			}
		}
		/* Compress on both threads while inserting each chunk as soon
		 * as it is ready: the SQLite work overlaps the helper's
		 * compression instead of following it. */
		batch.fn = compress_one;
		batch.ctx = &wc;
		batch.n = nnew;
		pool_begin(w->pool, &batch);
		batch_on = 1;
		size_t knew = 0;

		for (size_t j = 0; j < nw; j++) {
			struct chunk_job *jb = &jobs[j];
			uint64_t i = ws + j;

			if (jb->state == JOB_KNOWN)
				continue;
			if (jb->state == JOB_DUP) {
				ids[i] = ids[ws + (uint64_t)jb->dup_of];
				depths[i] = depths[ws + (uint64_t)jb->dup_of];
				continue;
			}
			pool_until(w->pool, &batch, knew++);
			if (jb->err) {
				emt_fmt(w->err, sizeof(w->err), "zstd: %s", ZSTD_getErrorName(jb->zerr));
				err = -EIO;
				goto rollback;
			}
			int64_t base_id = jb->use_delta ? jb->base_id : 0;
			uint8_t depth = jb->use_delta ? (uint8_t)(jb->base_depth + 1) : 0;
			sqlite3_stmt *st = w->st_chunk;

			sqlite3_bind_blob(st, 1, jb->hash, EMT_SHA256_LEN, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)jb->n);
			sqlite3_bind_text(st, 3, base_id ? "zstd-delta" : "zstd", -1, SQLITE_STATIC);
			if (base_id)
				sqlite3_bind_int64(st, 4, base_id);
			else
				sqlite3_bind_null(st, 4);
			sqlite3_bind_int64(st, 5, depth);
			bind_u64(st, 6, c->seq);
			sqlite3_bind_blob(st, 7, jb->out, (int)jb->clen, SQLITE_STATIC);
			err = step_done(w, st, "chunk");
			if (err)
				goto rollback;
			ids[i] = sqlite3_last_insert_rowid(w->db);
			if (!first_chunk)
				first_chunk = ids[i];
			depths[i] = depth;
			/* Visible to later windows of this capture at once. */
			err = ht_insert(w, jb->hash, ids[i], depth);
			if (err)
				goto rollback;
			memcpy(added[nadded].hash, jb->hash, EMT_SHA256_LEN);
			nadded++;
			stored += jb->clen;
			n_new++;
			if (base_id)
				n_delta++;
		}
		pool_end(w->pool, &batch);
		batch_on = 0;
	}
	for (uint64_t i = 0; i < nchunks; i++) {
		bind_u64(w->st_cc, 1, c->seq);
		bind_u64(w->st_cc, 2, i);
		sqlite3_bind_int64(w->st_cc, 3, ids[i]);
		err = step_done(w, w->st_cc, "capture chunk");
		if (err)
			goto rollback;
	}

	if (async) {
		pool_wait(w->pool);
		async = 0;
	} else if (nchunks == 1 && !w->jobs[0].same) {
		/* One chunk: the capture's hash is the chunk's, computed
		 * above (SHA-256 is a third of a small capture's cost). */
		memcpy(c->sha256, w->jobs[0].hash, EMT_SHA256_LEN);
	} else {
		emt_sha256(data, c->size, c->sha256);
	}
	/* ledger-v2 entry: the row, its gaps, registers, region and
	 * process (SPEC.md section 9). */
	{
		struct emt_ledger_row lr = {
			.seq = (int64_t)c->seq, .region_id = c->region_id,
			.version = c->version, .pid = c->pid, .tid = c->tid,
			.prot_before = c->prot_before, .prot_after = c->prot_after,
			.addr = (int64_t)c->addr, .size = (int64_t)c->size,
			.time_ns = (int64_t)c->time_ns, .chunk_size = cs,
			.trigger = tn, .trigger_len = strlen(tn),
		};
		uint8_t dg[4][EMT_SHA256_LEN];

		err = emt_gaps_digest(gaps, ngaps, dg[0]);
		if (err) {
			emt_fmt(w->err, sizeof(w->err), "out of memory");
			goto rollback;
		}
		if (regs)
			regs_blob(regs, regblob);
		emt_regs_digest(regs ? regblob : NULL, sizeof(regblob), dg[1]);
		memcpy(dg[2], rg->ident, EMT_SHA256_LEN);
		memcpy(dg[3], rg->proc, EMT_SHA256_LEN);
		emt_ledger_text_v2(&text, &lr, dg);
		emt_ledger_step(w->ledger, text.buf, text.n, c->sha256, ledger);
	}

	sqlite3_stmt *st = w->st_cap;

	bind_u64(st, 1, c->seq);
	sqlite3_bind_int64(st, 2, c->region_id);
	sqlite3_bind_int64(st, 3, c->version);
	sqlite3_bind_int64(st, 4, c->pid);
	sqlite3_bind_int64(st, 5, c->tid);
	sqlite3_bind_text(st, 6, tn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, c->prot_before);
	sqlite3_bind_int64(st, 8, c->prot_after);
	bind_u64(st, 9, c->addr);
	bind_u64(st, 10, c->size);
	bind_u64(st, 11, c->time_ns);
	sqlite3_bind_int64(st, 12, cs);
	bind_u64(st, 13, nchunks);
	bind_u64(st, 14, stored);
	sqlite3_bind_blob(st, 15, c->sha256, EMT_SHA256_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 16, ledger, EMT_SHA256_LEN, SQLITE_STATIC);
	err = step_done(w, st, "capture");
	if (err)
		goto rollback;

	for (size_t i = 0; i < ngaps; i++) {
		bind_u64(w->st_gap, 1, c->seq);
		bind_u64(w->st_gap, 2, gaps[i].offset);
		bind_u64(w->st_gap, 3, gaps[i].length);
		sqlite3_bind_text(w->st_gap, 4,
				  emt_gap_reason_name((enum emt_gap_reason)gaps[i].reason),
				  -1, SQLITE_STATIC);
		sqlite3_bind_int64(w->st_gap, 5, gaps[i].err);
		err = step_done(w, w->st_gap, "gap");
		if (err)
			goto rollback;
	}
	if (regs) {
		bind_u64(w->st_regs, 1, c->seq);
		sqlite3_bind_text(w->st_regs, 2, EMT_ARCH_X86_64, -1, SQLITE_STATIC);
		sqlite3_bind_blob(w->st_regs, 3, regblob, sizeof(regblob), SQLITE_TRANSIENT);
		err = step_done(w, w->st_regs, "registers");
		if (err)
			goto rollback;
	}
	/* Committed to the batch: advance memory state. */
	w->next_seq++;
	memcpy(w->ledger, ledger, EMT_SHA256_LEN);
	rg->nversions++;
	c->stored_bytes = stored;
	c->ngaps = (uint32_t)ngaps;
	c->has_regs = regs != NULL;
	w->stats.captures++;
	w->stats.raw_bytes += c->size;
	w->stats.stored_bytes += stored;
	w->stats.chunks_new += n_new;
	w->stats.chunks_dedup += n_dedup;
	w->stats.chunks_delta += n_delta;
	w->stats.gaps += ngaps;

	/* Keep this version as the next one's delta base if it fits.  A
	 * first version is not copied (lazy_base: decoded back if a second
	 * one comes): most regions have one version, and copying them all
	 * cost a page fault per fresh page plus the copy (up to a fifth of
	 * the writer's profile samples on 1 MiB captures).  The buffer is
	 * reused across versions. */
	free(rg->chunk_ids);
	free(rg->depths);
	rg->chunk_ids = ids;
	rg->depths = depths;
	ids = NULL;
	depths = NULL;
	rg->addr = c->addr;
	rg->size = c->size;
	rg->chunk_size = cs;
	rg->has_base = 0;
	rg->lazy_base = 0;
	if (!w->no_delta && c->size) {
		if (c->version == 1)
			rg->lazy_base = 1;
		else if (base_reserve(w, rg, c->size) == 0) {
			memcpy(rg->data, data, c->size);
			rg->has_base = 1;
		}
	}
	err = 0;
	goto out;

rollback:
	if (batch_on)
		pool_end(w->pool, &batch);
	if (async)
		pool_wait(w->pool);
	undo_capture(w, c->seq, first_chunk);
	for (size_t i = 0; i < nadded; i++)
		ht_remove(w, added[i].hash);
	c->seq = 0;
	c->version = 0;
out:
	free(ids);
	free(depths);
	free(added);
	if (!err && w->in_batch && mono_ms() - w->batch_start_ms >= w->commit_ms)
		err = batch_commit(w);
	return err;
}

int emt_writer_global_init(void)
{
	return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK ? 0 : -EBUSY;
}

int emt_writer_add_capture(struct emt_writer *w, struct emt_capture *c,
			   const void *data, const struct emt_gap *gaps,
			   size_t ngaps, const struct emt_regs_x86_64 *regs)
{
	int err;

	if (!w || !c || (ngaps && !gaps))
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = add_capture_locked(w, c, data, gaps, ngaps, regs);
	pthread_mutex_unlock(&w->mu);
	return err;
}

int emt_writer_tick(struct emt_writer *w)
{
	int ret = 0;

	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	if (w->in_batch && mono_ms() - w->batch_start_ms >= w->commit_ms) {
		ret = batch_commit(w);
		if (!ret)
			ret = 1;
	}
	pthread_mutex_unlock(&w->mu);
	return ret;
}

int emt_writer_commit(struct emt_writer *w)
{
	int err;

	if (!w)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	err = err ? err : batch_commit(w);
	pthread_mutex_unlock(&w->mu);
	return err;
}

void emt_writer_stats(struct emt_writer *w, struct emt_writer_stats *st)
{
	if (!w || !st)
		return;
	pthread_mutex_lock(&w->mu);
	*st = w->stats;
	pthread_mutex_unlock(&w->mu);
}

int emt_writer_ledger_head(struct emt_writer *w, uint8_t out[EMT_SHA256_LEN])
{
	if (!w || !out)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	memcpy(out, w->ledger, EMT_SHA256_LEN);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* Writes the seal (SPEC.md section 10) in the open batch: stop time,
 * the digests of the tables the ledger does not cover, the ledger head
 * and the digest of them all.  The digests are computed from the rows
 * as stored, by the same queries the verifier runs. */
static int write_seal(struct emt_writer *w, uint8_t seal[EMT_SHA256_LEN])
{
	uint8_t dg[8][EMT_SHA256_LEN];
	char hex[2 * EMT_SHA256_LEN + 1];
	uint64_t ncap = w->next_seq - 1;
	int err;

	_Static_assert(sizeof(dg) / sizeof(dg[0]) >= 5, "seal tables");
	err = put_meta_u64(w, "stop_ns", clock_ns(CLOCK_BOOTTIME));
	/* The tables 1.2 added are covered through meta (SPEC.md 10.1), so
	 * their digests go in before meta's own is taken. */
	for (const struct emt_digest_table *t = emt_digest_tables; !err && t->table; t++) {
		sqlite3_stmt *st = NULL;
		uint8_t d[EMT_SHA256_LEN];
		char key[96];
		int rc = sqlite3_prepare_v2(w->db, t->sql, -1, &st, NULL);

		if (rc == SQLITE_OK)
			rc = emt_rows_digest(st, d);
		sqlite3_finalize(st);
		if (rc != SQLITE_OK) {
			err = db_fail(w, rc, "seal digest");
			break;
		}
		emt_hex(d, EMT_SHA256_LEN, hex);
		emt_digest_key(t, key, sizeof(key));
		err = put_meta(w, key, hex);
	}
	for (size_t i = 0; !err && i < emt_seal_table_count; i++) {
		sqlite3_stmt *st = NULL;
		int rc = sqlite3_prepare_v2(w->db, emt_seal_tables[i].sql, -1, &st, NULL);

		if (rc == SQLITE_OK)
			rc = emt_rows_digest(st, dg[i]);
		sqlite3_finalize(st);
		if (rc != SQLITE_OK)
			err = db_fail(w, rc, "seal digest");
	}
	for (size_t i = 0; !err && i < emt_seal_table_count; i++) {
		emt_hex(dg[i], EMT_SHA256_LEN, hex);
		err = put_meta(w, emt_seal_tables[i].key, hex);
	}
	if (err)
		return err;
	emt_seal_digest(ncap, w->ledger, (const uint8_t (*)[EMT_SHA256_LEN])dg, seal);
	err = put_meta_u64(w, "seal_captures", ncap);
	emt_hex(w->ledger, EMT_SHA256_LEN, hex);
	err = err ? err : put_meta(w, "seal_ledger_head", hex);
	emt_hex(seal, EMT_SHA256_LEN, hex);
	err = err ? err : put_meta(w, "seal_sha256", hex);
	if (!err && w->key) {
		/* seal_* keys are outside the meta digest, so the signature
		 * does not sign itself (SPEC.md 10.2). */
		char text[EMT_SIGN_TEXT_MAX], sighex[2 * EMT_SIGNATURE_LEN + 1];
		uint8_t sig[EMT_SIGNATURE_LEN];
		size_t n = emt_signature_text(text, sizeof(text), hex, emt_key_fingerprint(w->key));

		err = emt_key_sign(w->key, text, n, sig);
		if (err)
			emt_fmt(w->err, sizeof(w->err), "seal: cannot sign");
		emt_hex(sig, EMT_SIGNATURE_LEN, sighex);
		err = err ? err : put_meta(w, "seal_signature", sighex);
	}
	err = err ? err : put_meta(w, "sealed", "1");
	return err;
}

int emt_writer_close_seal(struct emt_writer *w, uint8_t seal_out[EMT_SHA256_LEN],
			  char **errmsg)
{
	uint8_t seal[EMT_SHA256_LEN];
	int err;

	if (errmsg)
		*errmsg = NULL;
	if (!w)
		return 0;
	/* No background commit from here on: a seal that fails half way
	 * must not be committed. */
	committer_stop(w);
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	err = err ? err : batch_commit(w);
	err = err ? err : batch_begin(w);
	err = err ? err : write_seal(w, seal);
	err = err ? err : batch_commit(w);
	if (!err) {
		/* Fold the WAL into the file and leave no side files: the
		 * archive is then one self-contained file. */
		int rc = sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
						   NULL, NULL);

		if (rc != SQLITE_OK)
			err = db_fail(w, rc, "checkpoint");
		else
			err = exec_sql(w, "PRAGMA journal_mode = DELETE");
	}
	if (!err && seal_out)
		memcpy(seal_out, seal, EMT_SHA256_LEN);
	if (err && errmsg)
		*errmsg = strdup(w->err);
	pthread_mutex_unlock(&w->mu);
	writer_free(w);
	return err;
}

int emt_writer_close(struct emt_writer *w, char **errmsg)
{
	return emt_writer_close_seal(w, NULL, errmsg);
}

void emt_writer_abandon(struct emt_writer *w)
{
	if (!w)
		return;
	committer_stop(w);
	/* A crash leaves the open batch uncommitted: so does this.  Closing
	 * the connection would checkpoint and delete the WAL, which a real
	 * crash does not do, but the committed content is the same. */
	if (w->in_batch)
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
	writer_free(w);
}

/* ------------------------------------------------------------ injections */
/* Format 1.2, SPEC.md section 15.  Rare rows: each statement is prepared
 * when used. */

/* Runs `sql` with the int64 values v[0..n) bound to ?1..?n, plus the text
 * `txt` at ?(n+1) if not NULL, inside the current batch.  Sets *rowid to
 * the row's id if not NULL. */
static int insert_row(struct emt_writer *w, const char *sql, const int64_t *v, int n,
		      const char *txt, int null_at, int64_t *rowid, const char *what)
{
	sqlite3_stmt *st = NULL;
	int err;

	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	err = err ? err : batch_begin(w);
	if (!err) {
		int rc = sqlite3_prepare_v2(w->db, sql, -1, &st, NULL);

		err = rc == SQLITE_OK ? 0 : db_fail(w, rc, what);
	}
	if (!err) {
		for (int i = 0; i < n; i++) {
			if (i + 1 == null_at)
				sqlite3_bind_null(st, i + 1);
			else
				sqlite3_bind_int64(st, i + 1, v[i]);
		}
		if (txt)
			sqlite3_bind_text(st, n + 1, txt, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);

		if ((rc & 0xff) == SQLITE_CONSTRAINT && sqlite3_extended_errcode(w->db) ==
		    SQLITE_CONSTRAINT_PRIMARYKEY)
			err = -EEXIST;
		else if (rc != SQLITE_DONE)
			err = db_fail(w, rc, what);
		else if (rowid)
			*rowid = sqlite3_last_insert_rowid(w->db);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&w->mu);
	return err;
}

int emt_writer_add_injection(struct emt_writer *w, struct emt_injection *inj)
{
	const char *m = inj ? emt_inject_method_name((enum emt_inject_method)inj->method) : NULL;

	if (!w || !inj || !m || inj->length > EMT_CAPTURE_SIZE_MAX)
		return -EINVAL;
	int64_t v[] = {
		(int64_t)inj->time_ns, inj->writer_pid, inj->writer_tid, inj->victim_pid,
		(int64_t)inj->addr, (int64_t)inj->length, (int64_t)inj->word,
		(int64_t)inj->seq,
	};
	return insert_row(w, "INSERT INTO injections(time_ns, writer_pid, writer_tid, victim_pid,"
			  " addr, length, word, seq, method) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7,"
			  " ?8, ?9)", v, 8, m, inj->has_word ? 0 : 7, &inj->id, "injection");
}

int emt_writer_link_injection(struct emt_writer *w, uint64_t seq, int64_t injection_id)
{
	if (!w || seq == 0 || seq > INT64_MAX || injection_id < 1)
		return -EINVAL;
	int64_t v[] = { (int64_t)seq, injection_id };

	return insert_row(w, "INSERT INTO injection_links(seq, injection_id) VALUES(?1, ?2)",
			  v, 2, NULL, 0, NULL, "injection link");
}

int emt_writer_add_follow_reason(struct emt_writer *w, int64_t process_id,
				 const char *reason, int64_t injection_id)
{
	if (!w || process_id < 1 || !reason || strcmp(reason, "injected") || injection_id < 0)
		return -EINVAL;
	int64_t v[] = { process_id, injection_id };

	return insert_row(w, "INSERT INTO follow_reasons(process_id, injection_id, reason)"
			  " VALUES(?1, ?2, ?3)", v, 2, reason, 0, NULL, "follow reason");
}
/* ------------------------------------------------------------ syscalls */

int emt_writer_add_syscalls(struct emt_writer *w, const struct emt_syscall *rows, size_t n)
{
	int err;

	if (!w || (!rows && n))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!rows[i].name || !rows[i].args || !rows[i].text)
			return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	if (!err && !w->st_syscall)
		err = prepare(w, &w->st_syscall,
			"INSERT INTO syscalls(time_ns, exit_ns, pid, tid, uid, gid, nr, name,"
			" args, args_text, ret, returned, flags)"
			" VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	err = err ? err : batch_begin(w);
	for (size_t i = 0; !err && i < n; i++) {
		const struct emt_syscall *r = &rows[i];
		sqlite3_stmt *st = w->st_syscall;

		bind_u64(st, 1, r->time_ns);
		bind_u64(st, 2, r->exit_ns);
		sqlite3_bind_int64(st, 3, r->pid);
		sqlite3_bind_int64(st, 4, r->tid);
		sqlite3_bind_int64(st, 5, r->uid);
		sqlite3_bind_int64(st, 6, r->gid);
		sqlite3_bind_int64(st, 7, r->nr);
		sqlite3_bind_text(st, 8, r->name, (int)strnlen(r->name, 256), SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 9, r->args, (int)strnlen(r->args, EMT_SYSCALL_TEXT_MAX),
				  SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 10, r->text, (int)strnlen(r->text, EMT_SYSCALL_TEXT_MAX),
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 11, r->ret);
		sqlite3_bind_int64(st, 12, r->returned ? 1 : 0);
		sqlite3_bind_int64(st, 13, r->flags);
		err = step_done(w, st, "syscall");
	}
	pthread_mutex_unlock(&w->mu);
	return err;
}

/* ------------------------------------------------------------ alerts */
/* Format 1.2, SPEC.md section 16.  Rare rows, like the injections'. */

static const char *const alert_actions[] = { NULL, "capture", "stop", "kill" };

const char *emt_alert_action_name(enum emt_alert_action a)
{
	return (unsigned)a < sizeof(alert_actions) / sizeof(alert_actions[0])
	       ? alert_actions[a] : NULL;
}

enum emt_alert_action emt_alert_action_parse(const char *name)
{
	for (unsigned i = 1; name && i < sizeof(alert_actions) / sizeof(alert_actions[0]); i++)
		if (!strcmp(name, alert_actions[i]))
			return (enum emt_alert_action)i;
	return EMT_ALERT_UNKNOWN;
}

static int is_hex64(const char *s)
{
	size_t i = 0;

	for (; s[i] && i < 65; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

int emt_writer_add_model_program(struct emt_writer *w, struct emt_model_program_row *p)
{
	sqlite3_stmt *st = NULL;
	int err;

	if (!w || !p || !p->path || !is_hex64(p->sha256))
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	err = err ? err : batch_begin(w);
	if (!err) {
		int rc = sqlite3_prepare_v2(w->db, "INSERT INTO model_programs(sha256, path, inode,"
					    " dev, transitions, checked) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
					    -1, &st, NULL);

		err = rc == SQLITE_OK ? 0 : rc == SQLITE_ERROR ? -ENOTSUP : db_fail(w, rc, "model program");
	}
	if (!err) {
		sqlite3_bind_text(st, 1, p->sha256, 64, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, p->path, (int)strnlen(p->path, EMT_STRING_MAX), SQLITE_STATIC);
		bind_u64(st, 3, p->inode);
		bind_u64(st, 4, p->dev);
		bind_u64(st, 5, p->transitions);
		sqlite3_bind_int64(st, 6, p->checked ? 1 : 0);
		err = step_done(w, st, "model program");
		if (!err)
			p->id = sqlite3_last_insert_rowid(w->db);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&w->mu);
	return err;
}

int emt_writer_add_alert(struct emt_writer *w, struct emt_alert *a)
{
	const char *act = a ? emt_alert_action_name((enum emt_alert_action)a->action) : NULL;
	sqlite3_stmt *st = NULL;
	int err;

	if (!w || !a || !act || !a->name || !a->syscalls || a->depth < 1 || a->depth > 3 ||
	    a->program_id < 1)
		return -EINVAL;
	pthread_mutex_lock(&w->mu);
	err = check_usable(w);
	err = err ? err : batch_begin(w);
	if (!err) {
		int rc = sqlite3_prepare_v2(w->db, "INSERT INTO alerts(time_ns, pid, tid, program_id,"
					    " depth, nr, name, syscalls, rip, action, suppressed)"
					    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
					    -1, &st, NULL);

		err = rc == SQLITE_OK ? 0 : db_fail(w, rc, "alert");
	}
	if (!err) {
		bind_u64(st, 1, a->time_ns);
		sqlite3_bind_int64(st, 2, a->pid);
		sqlite3_bind_int64(st, 3, a->tid);
		sqlite3_bind_int64(st, 4, a->program_id);
		sqlite3_bind_int64(st, 5, a->depth);
		sqlite3_bind_int64(st, 6, a->nr);
		sqlite3_bind_text(st, 7, a->name, (int)strnlen(a->name, 256), SQLITE_STATIC);
		sqlite3_bind_text(st, 8, a->syscalls, (int)strnlen(a->syscalls, EMT_STRING_MAX),
				  SQLITE_STATIC);
		bind_u64(st, 9, a->rip);
		sqlite3_bind_text(st, 10, act, -1, SQLITE_STATIC);
		bind_u64(st, 11, a->suppressed);
		err = step_done(w, st, "alert");
		if (!err)
			a->id = sqlite3_last_insert_rowid(w->db);
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&w->mu);
	return err;
}

int emt_writer_link_alert(struct emt_writer *w, uint64_t seq, int64_t alert_id)
{
	if (!w || seq == 0 || seq > INT64_MAX || alert_id < 1)
		return -EINVAL;
	int64_t v[] = { (int64_t)seq, alert_id };

	return insert_row(w, "INSERT INTO alert_captures(seq, alert_id) VALUES(?1, ?2)",
			  v, 2, NULL, 0, NULL, "alert capture");
}
