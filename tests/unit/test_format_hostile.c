/*
 * test_format_hostile.c - dedupe, delta chains, damage detection, version
 * refusal and hostile archives.  Damage is planted with the sqlite3 API
 * directly, the way an attacker or a bad disk would.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <zstd.h>

#include "emt_archive.h"
#include "tests/lib/tl.h"

#define NCAP 3
#define CAPSZ (3 * 65536 + 1000)

static int quiet_count;
static void count_report(void *ctx, const char *item, const char *msg)
{
	(void)item; (void)msg;
	(*(int *)ctx)++;
	quiet_count++;
}

static void print_report(void *ctx, const char *item, const char *msg)
{
	(void)ctx;
	print_error("verify: %s: %s\n", item, msg);
}

/* Writes an archive of NCAP captures of one region: version k is the
 * base code with byte k flipped, so later versions are deltas. */
static char *mk_archive(const char *name, uint8_t data[NCAP][CAPSZ], int seal)
{
	char *path = tl_path(name);
	struct emt_writer *w;
	struct emt_process p = { .pid = 10, .ppid = 1 };
	struct emt_region rg = { .pid = 10, .backing = EMT_BACKING_MEMFD, .start = 0x10000,
				 .length = CAPSZ, .path = "memfd:jit" };

	unlink(path);
	w = emt_writer_create(path, NULL, NULL);
	assert_non_null(w);
	assert_int_equal(emt_writer_add_process(w, &p), 0);
	rg.process_id = p.id;
	assert_int_equal(emt_writer_add_region(w, &rg), 0);
	for (int k = 0; k < NCAP; k++) {
		struct emt_capture c = { .region_id = rg.id, .pid = 10, .tid = 10,
					 .trigger = EMT_TRIGGER_MPROTECT, .addr = 0x10000,
					 .size = CAPSZ, .time_ns = 100 + (uint64_t)k };

		tl_fill_code(data[k], CAPSZ, 77);
		for (int j = 0; j < k; j++)
			data[k][1000 + 70000 * j] ^= 0xff;
		assert_int_equal(emt_writer_add_capture(w, &c, data[k], NULL, 0, NULL), 0);
	}
	if (seal) {
		assert_int_equal(emt_writer_close(w, NULL), 0);
	} else {
		assert_int_equal(emt_writer_commit(w), 0);
		emt_writer_abandon(w);
	}
	return path;
}

static void sql(const char *path, const char *q)
{
	sqlite3 *db;
	char *err = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		print_error("sql %s: %s\n", q, err);
	assert_null(err);
	sqlite3_close(db);
}

/* Replaces chunks.data of chunk `id` with `blob`, bypassing CHECKs. */
static void set_chunk_data(const char *path, int64_t id, const void *blob, int n)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE chunks SET data = ? WHERE id = ?", -1,
					    &st, NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, blob, n, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void *get_chunk_data(const char *path, int64_t id, int *n)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	void *out;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT data FROM chunks WHERE id = ?", -1,
					    &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	*n = sqlite3_column_bytes(st, 0);
	out = malloc((size_t)*n);
	memcpy(out, sqlite3_column_blob(st, 0), (size_t)*n);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static int64_t sql_int(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static struct emt_reader *open_ok(const char *path)
{
	char *msg = NULL;
	struct emt_reader *r = emt_reader_open(path, &msg);

	if (!r)
		print_error("open %s: %s\n", path, msg);
	free(msg);
	assert_non_null(r);
	return r;
}

static int read_rc(struct emt_reader *r, uint64_t seq, uint8_t *buf, int force)
{
	return emt_reader_read_capture(r, seq, buf, CAPSZ, force);
}

static uint8_t (*data)[CAPSZ];

static void test_dedupe(void **state)
{
	char *path = tl_path("dedupe.emt");
	struct emt_writer *w = emt_writer_create(path, NULL, NULL);
	struct emt_writer_stats st;
	size_t n = 8 * 65536;
	uint8_t *d = malloc(n), *back = malloc(n);
	(void)state;

	tl_fill_random(d, n, 5);
	/* Same bytes in 2 processes x 2 regions x 2 versions. */
	for (uint32_t pid = 1; pid <= 2; pid++) {
		struct emt_process p = { .pid = pid };

		assert_int_equal(emt_writer_add_process(w, &p), 0);
		for (int k = 0; k < 2; k++) {
			struct emt_region rg = { .process_id = p.id, .pid = pid,
						 .backing = EMT_BACKING_ANON,
						 .start = 0x1000000ull * (uint64_t)(k + 1), .length = n };

			assert_int_equal(emt_writer_add_region(w, &rg), 0);
			for (int v = 0; v < 2; v++) {
				struct emt_capture c = { .region_id = rg.id, .pid = pid,
							 .trigger = EMT_TRIGGER_SAMPLE,
							 .addr = rg.start, .size = n };

				assert_int_equal(emt_writer_add_capture(w, &c, d, NULL, 0, NULL), 0);
			}
		}
	}
	emt_writer_stats(w, &st);
	assert_int_equal(st.captures, 8);
	assert_int_equal(st.chunks_new, 8);
	assert_int_equal(st.chunks_dedup, 56);
	assert_int_equal(emt_writer_close(w, NULL), 0);
	assert_int_equal(sql_int(path, "SELECT count(*) FROM chunks"), 8);
	/* Random data does not compress: stored once is ~n bytes. */
	assert_true(sql_int(path, "SELECT sum(length(data)) FROM chunks") < (int64_t)(n + n / 50));

	struct emt_reader *r = open_ok(path);

	for (uint64_t s = 1; s <= 8; s++) {
		assert_int_equal(emt_reader_read_capture(r, s, back, n, 0), 0);
		assert_memory_equal(back, d, n);
	}
	assert_int_equal(emt_reader_verify(r, print_report, NULL, NULL), 0);
	emt_reader_close(r);
	free(d);
	free(back);
	free(path);
}

static void test_delta_chain(void **state)
{
	char *path = tl_path("delta.emt");
	struct emt_writer *w = emt_writer_create(path, NULL, NULL);
	struct emt_writer_stats st;
	enum { NV = 40 };
	size_t n = 2 * 65536 + 5000;
	uint8_t *d = malloc(n), *back = malloc(n);
	uint8_t hashes[NV][EMT_SHA256_LEN];
	struct emt_process p = { .pid = 3 };
	(void)state;

	assert_int_equal(emt_writer_add_process(w, &p), 0);
	struct emt_region rg = { .process_id = p.id, .pid = 3, .backing = EMT_BACKING_ANON,
				 .start = 0x400000, .length = n };

	assert_int_equal(emt_writer_add_region(w, &rg), 0);
	tl_fill_random(d, n, 9);        /* incompressible: only deltas help */
	for (int v = 0; v < NV; v++) {
		struct emt_capture c = { .region_id = rg.id, .pid = 3, .trigger = EMT_TRIGGER_MPROTECT,
					 .addr = 0x400000, .size = n };

		/* Polymorphic: a few bytes per chunk change per version. */
		for (size_t off = 0; off < n; off += 65536)
			d[off + (size_t)v * 13 % 4000] ^= (uint8_t)(v + 1);
		assert_int_equal(emt_writer_add_capture(w, &c, d, NULL, 0, NULL), 0);
		assert_int_equal(c.version, v + 1);
		memcpy(hashes[v], c.sha256, EMT_SHA256_LEN);
	}
	emt_writer_stats(w, &st);
	/* Every version but the chain restarts at depth 16 is a delta. */
	assert_true(st.chunks_delta >= (NV - 1) * 3 - 9);
	/* Incompressible data stored in full only when a chain restarts
	 * (versions 1, 18, 35), small deltas otherwise: 40 plain versions
	 * would take 40 n. */
	assert_true(st.stored_bytes < 3 * n + n / 4);
	assert_int_equal(emt_writer_close(w, NULL), 0);
	assert_true(sql_int(path, "SELECT max(depth) FROM chunks") <= EMT_DELTA_DEPTH_MAX);
	assert_true(sql_int(path, "SELECT max(depth) FROM chunks") >= 2);

	struct emt_reader *r = open_ok(path);
	uint8_t h[EMT_SHA256_LEN];

	for (int v = 0; v < NV; v++) {
		assert_int_equal(emt_reader_read_capture(r, (uint64_t)v + 1, back, n, 0), 0);
		emt_sha256(back, n, h);
		assert_memory_equal(h, hashes[v], EMT_SHA256_LEN);
	}
	assert_memory_equal(back, d, n);
	assert_int_equal(emt_reader_verify(r, print_report, NULL, NULL), 0);
	emt_reader_close(r);
	free(d);
	free(back);
	free(path);
}

static void test_corrupt_chunk(void **state)
{
	char *path = mk_archive("corrupt.emt", data, 1);
	uint8_t *buf = malloc(CAPSZ);
	int n, problems = 0;
	(void)state;

	/* Capture 1 holds chunks 1..4 (plain). Flip a byte in chunk 2. */
	uint8_t *blob = get_chunk_data(path, 2, &n);

	blob[n / 2] ^= 0x01;
	set_chunk_data(path, 2, blob, n);
	free(blob);

	struct emt_reader *r = open_ok(path);

	assert_int_equal(read_rc(r, 1, buf, 0), -EBADMSG);
	assert_non_null(strstr(emt_reader_errmsg(r), "capture 1"));
	assert_non_null(strstr(emt_reader_errmsg(r), "chunk 1"));
	/* force: undamaged chunks are delivered exactly. */
	assert_int_equal(read_rc(r, 1, buf, 1), -EBADMSG);
	assert_memory_equal(buf, data[0], 65536);
	assert_memory_equal(buf + 2 * 65536, data[0] + 2 * 65536, CAPSZ - 2 * 65536);
	assert_true(emt_reader_verify(r, count_report, &problems, NULL) > 0);
	assert_true(problems >= 1);
	emt_reader_close(r);
	free(buf);
	free(path);
}

static void test_missing_and_resized(void **state)
{
	char *path = mk_archive("missing.emt", data, 1);
	uint8_t *buf = malloc(CAPSZ);
	(void)state;

	sql(path, "DELETE FROM chunks WHERE id = 3");
	struct emt_reader *r = open_ok(path);

	assert_int_equal(read_rc(r, 1, buf, 0), -EBADMSG);
	assert_non_null(strstr(emt_reader_errmsg(r), "missing"));
	emt_reader_close(r);

	free(path);
	path = mk_archive("resized.emt", data, 1);
	/* A chunk row claiming another size than its frame. */
	sql(path, "UPDATE chunks SET size = 4096 WHERE id = 1");
	r = open_ok(path);
	assert_int_equal(read_rc(r, 1, buf, 0), -EBADMSG);
	emt_reader_close(r);

	/* A capture row whose size disagrees with its chunk list. */
	sql(path, "UPDATE chunks SET size = 65536 WHERE id = 1; UPDATE captures SET size = size + 70000 WHERE seq = 2");
	r = open_ok(path);
	int problems = 0;

	assert_int_equal(read_rc(r, 1, buf, 0), 0);
	assert_int_equal(read_rc(r, 2, buf, 0), -EINVAL);  /* does not fit */
	assert_true(emt_reader_verify(r, count_report, &problems, NULL) >= 2); /* + ledger */
	emt_reader_close(r);
	free(buf);
	free(path);
}

static void test_zstd_bomb(void **state)
{
	char *path = mk_archive("bomb.emt", data, 1);
	size_t big = 64u << 20;
	uint8_t *zeros = calloc(1, big), *buf = malloc(CAPSZ);
	size_t cap = ZSTD_compressBound(big);
	uint8_t *z = malloc(cap);
	size_t zn = ZSTD_compress(z, cap, zeros, big, 19);
	(void)state;

	assert_false(ZSTD_isError(zn));
	assert_true(zn < 1 << 20);
	set_chunk_data(path, 1, z, (int)zn);
	struct emt_reader *r = open_ok(path);

	assert_int_equal(read_rc(r, 1, buf, 0), -EBADMSG);
	assert_non_null(strstr(emt_reader_errmsg(r), "content size"));
	emt_reader_close(r);
	free(zeros);
	free(z);
	free(buf);
	free(path);
}

static void test_tamper_ledger(void **state)
{
	char *path = mk_archive("tamper.emt", data, 1);
	int problems = 0;
	(void)state;

	/* Changing a row field (not the bytes) breaks the ledger only. */
	sql(path, "UPDATE captures SET pid = 11 WHERE seq = 2");
	struct emt_reader *r = open_ok(path);

	assert_true(emt_reader_verify(r, count_report, &problems, NULL) > 0);
	emt_reader_close(r);
	free(path);

	/* Gaps outside their capture, registers of the wrong size: each
	 * is reported, and (ledger-v2) breaks its capture's entry. */
	path = mk_archive("gaps.emt", data, 1);
	sql(path, "INSERT INTO gaps VALUES(1, 4096, 1000000, 'limit', 0);"
		  "PRAGMA ignore_check_constraints = 1;"
		  "INSERT INTO regs VALUES(2, 'x86_64', x'0102')");
	r = open_ok(path);
	problems = 0;
	assert_int_equal(emt_reader_verify(r, count_report, &problems, NULL), 4);
	struct emt_regs_x86_64 regs;

	assert_int_equal(emt_reader_regs(r, 2, &regs), -EBADMSG);
	emt_reader_close(r);
	free(path);

	/* Deleting the last capture of a sealed archive is seen by the seal. */
	path = mk_archive("trunc.emt", data, 1);
	sql(path, "DELETE FROM capture_chunks WHERE seq = 3; DELETE FROM captures WHERE seq = 3");
	r = open_ok(path);
	problems = 0;
	assert_true(emt_reader_verify(r, count_report, &problems, NULL) > 0);
	emt_reader_close(r);
	free(path);
}

/* An archive whose captures have everything ledger-v2 and the v2 seal
 * cover: gaps, registers, a file-backed region, events, a loss. */
static char *mk_rich(const char *name)
{
	char *path = tl_path(name);
	struct emt_writer *w;
	struct emt_process p = { .pid = 20, .ppid = 1, .exe = "/usr/bin/jit", .cmdline = "jit -x" };
	struct emt_region rg = { .pid = 20, .backing = EMT_BACKING_FILE, .start = 0x400000,
				 .length = 0x3000, .path = "/opt/jit/code.bin", .inode = 7, .dev = 8 };
	struct emt_gap gap = { .offset = 0x1000, .length = 0x1000, .reason = EMT_GAP_UNREADABLE,
			       .err = EFAULT };
	struct emt_regs_x86_64 regs = { .rip = 0x400010, .rsp = 0x7ffc0000 };
	struct emt_loss l = { .time_ns = 9, .kind = "ringbuf", .count = 2, .pid = 20 };
	static uint8_t buf[0x3000];

	unlink(path);
	w = emt_writer_create(path, NULL, NULL);
	assert_non_null(w);
	assert_int_equal(emt_writer_set_meta(w, "target_cmdline", "jit -x"), 0);
	assert_int_equal(emt_writer_add_process(w, &p), 0);
	rg.process_id = p.id;
	assert_int_equal(emt_writer_add_region(w, &rg), 0);
	for (int k = 0; k < 3; k++) {
		struct emt_capture c = { .region_id = rg.id, .pid = 20, .tid = 21,
					 .trigger = EMT_TRIGGER_MPROTECT, .addr = 0x400000,
					 .size = sizeof(buf), .time_ns = 10 + (uint64_t)k };
		struct emt_event e = { .time_ns = 10 + (uint64_t)k, .pid = 20, .tid = 21,
				       .syscall = "mprotect", .addr = 0x400000, .len = sizeof(buf),
				       .prot = 5, .fd = -1, .detail = "x" };

		tl_fill_code(buf, sizeof(buf), 5 + (uint64_t)k);
		memset(buf + 0x1000, 0, 0x1000);
		assert_int_equal(emt_writer_add_capture(w, &c, buf, &gap, 1, k == 1 ? &regs : NULL), 0);
		e.seq = c.seq;
		assert_int_equal(emt_writer_add_event(w, &e), 0);
	}
	assert_int_equal(emt_writer_add_loss(w, &l), 0);
	assert_int_equal(emt_writer_process_exit(w, p.id, 50, 0), 0);
	assert_int_equal(emt_writer_region_gone(w, rg.id, 50), 0);
	assert_int_equal(emt_writer_close(w, NULL), 0);
	return path;
}

struct seen {
	int problems, captures[4], seal;
	char seal_msg[256];
};

static void seen_report(void *ctx, const char *item, const char *msg)
{
	struct seen *x = ctx;
	unsigned seq;

	x->problems++;
	if (sscanf(item, "capture %u", &seq) == 1 && seq < 4)
		x->captures[seq]++;
	if (!strcmp(item, "seal")) {
		x->seal++;
		snprintf(x->seal_msg, sizeof(x->seal_msg), "%s", msg);
	}
}

/* Each row ledger-v2 or the v2 seal covers, edited after the fact, is
 * reported: by the entry of the capture that covers it, by the seal for
 * what is written after the captures. */
static void test_ledger_v2_coverage(void **state)
{
	static const struct {
		const char *sql;
		unsigned captures;      /* bit k: capture k's entry breaks */
		const char *seal;       /* table the seal names, NULL none */
	} edits[] = {
		{ "DELETE FROM gaps WHERE seq = 2", 1u << 2, NULL },
		{ "UPDATE gaps SET reason = 'limit' WHERE seq = 3", 1u << 3, NULL },
		{ "UPDATE regs SET data = zeroblob(224) WHERE seq = 2", 1u << 2, NULL },
		{ "DELETE FROM regs WHERE seq = 2", 1u << 2, NULL },
		/* Every capture of the region, or of its process. */
		{ "UPDATE regions SET path = CAST('/usr/lib/libc.so.6' AS BLOB)", 0xe, "regions" },
		{ "UPDATE regions SET backing = 'anon'", 0xe, "regions" },
		{ "UPDATE regions SET inode = 8", 0xe, "regions" },
		{ "UPDATE regions SET gone_ns = 49", 0, "regions" },
		{ "UPDATE processes SET exe = CAST('/bin/true' AS BLOB)", 0xe, "processes" },
		{ "UPDATE processes SET exit_status = 9", 0, "processes" },
		{ "UPDATE meta SET value = CAST('innocent' AS BLOB) WHERE key = 'target_cmdline'", 0, "meta" },
		{ "UPDATE meta SET value = CAST('1' AS BLOB) WHERE key = 'stop_ns'", 0, "meta" },
		{ "INSERT INTO meta VALUES('note', CAST('x' AS BLOB))", 0, "meta" },
		{ "UPDATE events SET detail = CAST('y' AS BLOB) WHERE id = 2", 0, "events" },
		{ "DELETE FROM events WHERE id = 3", 0, "events" },
		{ "UPDATE losses SET count = 0", 0, "losses" },
		{ "UPDATE captures SET pid = 4294967296 + 20 WHERE seq = 1", 1u << 1, NULL },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *path = mk_rich("rich.emt");
		struct seen x;
		char q[512];
		unsigned got = 0;

		snprintf(q, sizeof(q), "PRAGMA ignore_check_constraints = 1; %s", edits[i].sql);
		sql(path, q);
		struct emt_reader *r = open_ok(path);

		memset(&x, 0, sizeof(x));
		int rc = emt_reader_verify(r, seen_report, &x, NULL);

		for (int k = 1; k < 4; k++)
			got |= x.captures[k] ? 1u << k : 0;
		if (rc <= 0 || got != edits[i].captures ||
		    (edits[i].seal ? !strstr(x.seal_msg, edits[i].seal) : x.seal != 0))
			print_error("edit '%s': %d problems, captures 0x%x (want 0x%x), seal '%s'\n",
				    edits[i].sql, rc, got, edits[i].captures, x.seal_msg);
		assert_true(rc > 0);
		assert_int_equal(got, edits[i].captures);
		if (edits[i].seal)
			assert_non_null(strstr(x.seal_msg, edits[i].seal));
		else
			assert_int_equal(x.seal, 0);
		emt_reader_close(r);
		free(path);
	}

	/* The untouched archive verifies, and only a reset seal state turns
	 * the seal checks off (the archive then reads as unsealed). */
	char *path = mk_rich("rich.emt");
	struct emt_reader *r = open_ok(path);
	struct emt_summary s;

	assert_int_equal(emt_reader_verify(r, print_report, NULL, NULL), 0);
	emt_reader_close(r);
	sql(path, "UPDATE meta SET value = CAST('0' AS BLOB) WHERE key = 'sealed';"
		  "UPDATE meta SET value = CAST('innocent' AS BLOB) WHERE key = 'target_cmdline'");
	r = open_ok(path);
	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.sealed, 0);
	assert_int_equal(emt_reader_verify(r, print_report, NULL, NULL), 0);
	emt_reader_close(r);
	free(path);
}

/* Recomputes capture `seq`'s ledger-v1 entry from its row, as SPEC.md
 * section 9.1 says (independently of the library's code). */
static void v1_entry(sqlite3_stmt *st, const uint8_t prev[32], uint8_t out[32])
{
	char text[512];
	uint8_t buf[512 + 64];
	int n = snprintf(text, sizeof(text), "emt-ledger-v1 %lld %lld %lld %lld %lld %s %lld %lld %llu %lld %llu %lld",
			 (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1),
			 (long long)sqlite3_column_int64(st, 2), (long long)sqlite3_column_int64(st, 3),
			 (long long)sqlite3_column_int64(st, 4), (const char *)sqlite3_column_text(st, 5),
			 (long long)sqlite3_column_int64(st, 6), (long long)sqlite3_column_int64(st, 7),
			 (unsigned long long)sqlite3_column_int64(st, 8), (long long)sqlite3_column_int64(st, 9),
			 (unsigned long long)sqlite3_column_int64(st, 10), (long long)sqlite3_column_int64(st, 11));

	memcpy(buf, prev, 32);
	memcpy(buf + 32, text, (size_t)n);
	memcpy(buf + 32 + n, sqlite3_column_blob(st, 12), 32);
	emt_sha256(buf, (size_t)n + 64, out);
}

/* An archive of a ledger-v1 writer (made here by rewriting the chain
 * and seal the v1 way) verifies by the v1 rules; as before, v1 does not
 * cover gaps (that is what v2 is for), but it does cover the row. */
static void test_ledger_v1_still_verifies(void **state)
{
	char *path = mk_rich("v1.emt");
	sqlite3 *db;
	sqlite3_stmt *st, *up;
	uint8_t prev[32] = { 0 }, next[32];
	char hex[65];
	(void)state;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE meta SET value = CAST('zstd,zstd-delta,ledger-v1' AS BLOB)"
				      " WHERE key = 'features_required';"
				      "DELETE FROM meta WHERE key LIKE 'seal\\_%sha256' ESCAPE '\\'",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, region_id, version, pid, tid, trigger_name,"
					    " prot_before, prot_after, addr, size, time_ns, chunk_size, sha256"
					    " FROM captures ORDER BY seq", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE captures SET ledger = ? WHERE seq = ?", -1,
					    &up, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		v1_entry(st, prev, next);
		sqlite3_bind_blob(up, 1, next, 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(up, 2, sqlite3_column_int64(st, 0));
		assert_int_equal(sqlite3_step(up), SQLITE_DONE);
		sqlite3_reset(up);
		memcpy(prev, next, 32);
	}
	sqlite3_finalize(st);
	sqlite3_finalize(up);
	emt_hex(prev, 32, hex);
	assert_int_equal(sqlite3_prepare_v2(db, "UPDATE meta SET value = CAST(? AS BLOB) WHERE key = 'seal_ledger_head'",
					    -1, &up, NULL), SQLITE_OK);
	sqlite3_bind_text(up, 1, hex, -1, SQLITE_TRANSIENT);
	assert_int_equal(sqlite3_step(up), SQLITE_DONE);
	sqlite3_finalize(up);
	sqlite3_close(db);

	struct emt_reader *r = open_ok(path);
	struct seen x = { 0 };

	assert_int_equal(emt_reader_verify(r, print_report, NULL, NULL), 0);
	emt_reader_close(r);
	sql(path, "DELETE FROM gaps WHERE seq = 2");
	r = open_ok(path);
	assert_int_equal(emt_reader_verify(r, print_report, NULL, NULL), 0);
	emt_reader_close(r);
	sql(path, "UPDATE captures SET tid = 22 WHERE seq = 3");
	r = open_ok(path);
	assert_true(emt_reader_verify(r, seen_report, &x, NULL) > 0);
	assert_true(x.captures[3] > 0);
	emt_reader_close(r);
	free(path);
}

static void test_unsealed(void **state)
{
	char *path = mk_archive("unsealed.emt", data, 0);
	struct emt_summary s;
	struct emt_verify_stats vs;
	uint8_t *buf = malloc(CAPSZ);
	(void)state;

	struct emt_reader *r = open_ok(path);

	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.sealed, 0);
	assert_int_equal(s.captures, NCAP);
	assert_int_equal(emt_reader_verify(r, print_report, NULL, &vs), 0);
	assert_int_equal(vs.sealed, 0);
	for (int k = 0; k < NCAP; k++) {
		assert_int_equal(read_rc(r, (uint64_t)k + 1, buf, 0), 0);
		assert_memory_equal(buf, data[k], CAPSZ);
	}
	emt_reader_close(r);
	free(buf);
	free(path);
}

/* What SIGKILL leaves: a writer that committed NCAP captures and died
 * without closing, so they are only in the WAL beside the file. */
static char *mk_crashed(const char *name)
{
	char *path = tl_path(name), wal[4096];
	struct stat st;
	int status;
	pid_t pid;

	unlink(path);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct emt_writer *w = emt_writer_create(path, NULL, NULL);
		struct emt_process p = { .pid = 10, .ppid = 1 };
		struct emt_region rg = { .pid = 10, .backing = EMT_BACKING_ANON,
					 .start = 0x10000, .length = CAPSZ };

		if (!w || emt_writer_add_process(w, &p))
			_exit(3);
		rg.process_id = p.id;
		if (emt_writer_add_region(w, &rg))
			_exit(3);
		for (int k = 0; k < NCAP; k++) {
			struct emt_capture c = { .region_id = rg.id, .pid = 10, .tid = 10,
						 .trigger = EMT_TRIGGER_MPROTECT,
						 .addr = 0x10000, .size = CAPSZ };

			tl_fill_code(data[k], CAPSZ, 99 + (uint64_t)k);
			if (emt_writer_add_capture(w, &c, data[k], NULL, 0, NULL))
				_exit(4);
		}
		_exit(emt_writer_commit(w) ? 5 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (int k = 0; k < NCAP; k++)
		tl_fill_code(data[k], CAPSZ, 99 + (uint64_t)k);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 0);
	return path;
}

static void expect_refused(const char *path, int err, const char *needle)
{
	char *msg = NULL;
	struct emt_reader *r = emt_reader_open(path, &msg);

	assert_null(r);
	assert_int_equal(errno, err);
	assert_non_null(msg);
	if (needle && !strstr(msg, needle))
		print_error("message '%s' lacks '%s'\n", msg, needle);
	if (needle)
		assert_non_null(strstr(msg, needle));
	free(msg);
}

static uint64_t count_captures(const char *path)
{
	struct emt_reader *r = open_ok(path);
	struct emt_summary s;

	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(emt_reader_verify(r, print_report, NULL, NULL), 0);
	emt_reader_close(r);
	return s.captures;
}

/* The WAL of a crashed archive is found beside the real file whatever
 * the path given, and one that exists but cannot be used is refused,
 * never skipped (skipping it showed a crashed archive as empty). */
static void test_wal_beside_real_file(void **state)
{
	char *path = mk_crashed("crashed.emt");
	char *dir = tl_path("elsewhere"), link[4096], rel[4096], wal[4096], moved[4096];
	uint8_t *buf = malloc(CAPSZ);
	(void)state;

	assert_int_equal(count_captures(path), NCAP);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(link, sizeof(link), "%s/link.emt", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(count_captures(link), NCAP);
	snprintf(rel, sizeof(rel), "%s/rel.emt", dir);
	assert_int_equal(symlink("../crashed.emt", rel), 0);
	assert_int_equal(count_captures(rel), NCAP);

	struct emt_reader *r = open_ok(link);

	for (int k = 0; k < NCAP; k++) {
		assert_int_equal(read_rc(r, (uint64_t)k + 1, buf, 0), 0);
		assert_memory_equal(buf, data[k], CAPSZ);
	}
	emt_reader_close(r);

	/* A WAL that is a symlink (here to the real WAL), a directory or
	 * a FIFO: refused with a message naming it. */
	snprintf(wal, sizeof(wal), "%s-wal", path);
	snprintf(moved, sizeof(moved), "%s-wal.moved", path);
	assert_int_equal(rename(wal, moved), 0);
	assert_int_equal(symlink(moved, wal), 0);
	expect_refused(path, ELOOP, "WAL");
	expect_refused(link, ELOOP, "symbolic link");
	assert_int_equal(unlink(wal), 0);
	assert_int_equal(mkdir(wal, 0700), 0);
	expect_refused(link, EINVAL, "not a regular file");
	assert_int_equal(rmdir(wal), 0);
	assert_int_equal(mkfifo(wal, 0600), 0);
	expect_refused(path, EINVAL, "WAL");
	assert_int_equal(unlink(wal), 0);
	assert_int_equal(rename(moved, wal), 0);
	assert_int_equal(count_captures(link), NCAP);
	free(buf);
	free(dir);
	free(path);
}

static void test_versions(void **state)
{
	char *path;
	(void)state;

	path = mk_archive("v2.emt", data, 1);
	sql(path, "PRAGMA user_version = 2");
	expect_refused(path, EPROTONOSUPPORT, "newer emt");
	free(path);

	path = mk_archive("v2meta.emt", data, 1);
	sql(path, "UPDATE meta SET value = CAST('2' AS BLOB) WHERE key = 'format_major'");
	expect_refused(path, EPROTONOSUPPORT, "newer emt");
	free(path);

	path = mk_archive("feat.emt", data, 1);
	sql(path, "UPDATE meta SET value = CAST(value || ',time-travel' AS BLOB)"
		  " WHERE key = 'features_required'");
	expect_refused(path, EPROTONOSUPPORT, "time-travel");
	free(path);

	/* Unknown optional features, tables and meta keys are ignored (in
	 * an unsealed archive: in a sealed one, editing meta afterwards is
	 * tampering the seal reports). */
	path = mk_archive("minor.emt", data, 0);
	sql(path, "UPDATE meta SET value = CAST('sparkles' AS BLOB) WHERE key = 'features_optional';"
		  "UPDATE meta SET value = CAST('7' AS BLOB) WHERE key = 'format_minor';"
		  "CREATE TABLE future(x); INSERT INTO meta VALUES('future_key', CAST('v' AS BLOB))");
	struct emt_reader *r = open_ok(path);
	struct emt_summary s;

	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.format_minor, 7);
	assert_int_equal(emt_reader_verify(r, print_report, NULL, NULL), 0);
	emt_reader_close(r);
	free(path);

	/* SPEC.md section 3: a newer minor may append columns (ALTER TABLE
	 * ADD COLUMN puts them after the last column, before the table
	 * constraints); anything else in a known statement is alteration,
	 * whatever minor the archive claims. */
	static const struct {
		const char *minor, *sql;
		int problems;
	} alt[] = {
		{ "7", "ALTER TABLE captures ADD COLUMN extra INTEGER", 0 },
		{ "7", "ALTER TABLE captures ADD COLUMN extra INTEGER;"
		       " ALTER TABLE meta ADD COLUMN note TEXT", 0 },
		{ "0", "ALTER TABLE captures ADD COLUMN extra INTEGER", 1 },
		{ "7", "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql ="
		       " replace(sql, 'CHECK(seq >= 1)', '') WHERE name = 'captures'", 1 },
		/* The comment swallows the table CHECK on encodings. */
		{ "7", "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql,"
		       " '  data BLOB NOT NULL', '  data BLOB NOT NULL, x INTEGER) STRICT /*')"
		       " WHERE name = 'chunks'", 1 },
		{ "7", "PRAGMA writable_schema = ON; UPDATE sqlite_schema SET sql = replace(sql,"
		       " 'ledger BLOB NOT NULL CHECK(length(ledger) = 32)',"
		       " 'ledger BLOB NOT NULL CHECK(length(ledger) = 32) GENERATED ALWAYS AS (x''00'')')"
		       " WHERE name = 'captures'", -1 },
	};

	for (size_t i = 0; i < sizeof(alt) / sizeof(alt[0]); i++) {
		char q[1024];

		path = mk_archive("alter.emt", data, 0);
		snprintf(q, sizeof(q), "UPDATE meta SET value = CAST('%s' AS BLOB) WHERE key = 'format_minor'; %s",
			 alt[i].minor, alt[i].sql);
		sql(path, q);
		if (alt[i].problems < 0) {
			/* A generated column is not a stored one: refused. */
			expect_refused(path, EBADMSG, "lacks column");
			free(path);
			continue;
		}
		r = open_ok(path);
		int problems = 0;

		int got = emt_reader_verify(r, count_report, &problems, NULL);

		if (got != alt[i].problems)
			print_error("schema case %zu: %d problems\n", i, got);
		assert_int_equal(got, alt[i].problems);
		emt_reader_close(r);
		free(path);
	}

	/* A NUL inside the list must not end the walk early and hide the
	 * unknown feature after it. */
	path = mk_archive("featnul.emt", data, 1);
	sql(path, "UPDATE meta SET value = CAST(CAST(value AS BLOB) || x'00' || ',time-travel' AS BLOB)"
		  " WHERE key = 'features_required'");
	expect_refused(path, EBADMSG, "NUL");
	free(path);
	path = mk_archive("featnul2.emt", data, 1);
	sql(path, "UPDATE meta SET value = CAST(x'00' || ',' || CAST(value AS BLOB) AS BLOB)"
		  " WHERE key = 'features_required'");
	expect_refused(path, EBADMSG, "NUL");
	free(path);

	/* "sealed" must be exactly "1", not a C string that starts so. */
	path = mk_archive("sealnul.emt", data, 0);
	sql(path, "INSERT OR REPLACE INTO meta VALUES('sealed', CAST('1' || x'00' || 'x' AS BLOB));"
		  "INSERT OR REPLACE INTO meta VALUES('seal_ledger_head', CAST('00' AS BLOB))");
	r = open_ok(path);
	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.sealed, 0);
	emt_reader_close(r);
	free(path);

	path = mk_archive("appid.emt", data, 1);
	sql(path, "PRAGMA application_id = 1234");
	expect_refused(path, ENOTSUP, "not an emt archive");
	free(path);
}

static void test_planted_schema(void **state)
{
	char *path;
	uint8_t *buf = malloc(CAPSZ);
	(void)state;

	/* A view standing in for a table is refused before any query. */
	path = mk_archive("view.emt", data, 1);
	sql(path, "ALTER TABLE captures RENAME TO c2; CREATE VIEW captures AS SELECT * FROM c2");
	expect_refused(path, EBADMSG, "captures");
	free(path);

	path = mk_archive("nocol.emt", data, 1);
	sql(path, "ALTER TABLE events DROP COLUMN detail");
	expect_refused(path, EBADMSG, "detail");
	free(path);

	/* Triggers and extra views elsewhere never run: reads still work,
	 * and verify reports each planted object (the unknown table is
	 * allowed: SPEC.md lets later minors add tables). */
	path = mk_archive("trig.emt", data, 1);
	sql(path, "CREATE TABLE log(x);"
		  "CREATE TRIGGER t AFTER INSERT ON log BEGIN DELETE FROM chunks; END;"
		  "CREATE VIEW v AS SELECT * FROM chunks");
	struct emt_reader *r = open_ok(path);
	int problems = 0;

	assert_int_equal(read_rc(r, 2, buf, 0), 0);
	assert_memory_equal(buf, data[1], CAPSZ);
	assert_int_equal(emt_reader_verify(r, count_report, &problems, NULL), 2);
	assert_int_equal(problems, 2);
	emt_reader_close(r);
	free(path);

	/* A known table whose schema text was edited: same columns, so it
	 * opens and reads, but verify names the table. */
	path = mk_archive("altered.emt", data, 1);
	sql(path, "PRAGMA writable_schema = ON;"
		  "UPDATE sqlite_schema SET sql = replace(sql, 'CHECK(seq >= 1)', '')"
		  " WHERE name = 'captures';"
		  "PRAGMA writable_schema = OFF");
	r = open_ok(path);
	problems = 0;
	assert_int_equal(read_rc(r, 2, buf, 0), 0);
	assert_int_equal(emt_reader_verify(r, count_report, &problems, NULL), 1);
	emt_reader_close(r);
	free(path);

	/* Delta chains that loop or lie about depth. */
	path = mk_archive("loop.emt", data, 1);
	int64_t did = sql_int(path, "SELECT id FROM chunks WHERE encoding = 'zstd-delta' LIMIT 1");
	char q[256];

	snprintf(q, sizeof(q), "PRAGMA ignore_check_constraints = 1;"
		 " UPDATE chunks SET base_id = %lld, depth = 1 WHERE id = %lld",
		 (long long)did, (long long)did);
	sql(path, q);
	r = open_ok(path);
	problems = 0;
	assert_true(emt_reader_verify(r, count_report, &problems, NULL) > 0);
	emt_reader_close(r);
	free(path);

	/* Truncated file: the header still identifies it (SPEC.md section
	 * 2), so it is a damaged emt archive, never "not an emt archive":
	 * refused as damaged, or opened with the damage found by verify. */
	path = mk_archive("trunc2.emt", data, 1);
	assert_int_equal(truncate(path, 16384 * 3), 0);
	char *msg = NULL;

	r = emt_reader_open(path, &msg);
	if (r) {
		problems = 0;
		assert_true(emt_reader_verify(r, count_report, &problems, NULL) > 0);
		emt_reader_close(r);
	} else {
		assert_int_equal(errno, EBADMSG);
		assert_non_null(msg);
		assert_non_null(strstr(msg, "damaged archive"));
	}
	free(msg);
	free(path);

	/* Cut inside the schema: SQLite cannot even load it. */
	path = mk_archive("trunc3.emt", data, 1);
	assert_int_equal(truncate(path, 4096), 0);
	expect_refused(path, EBADMSG, "damaged archive: database disk image is malformed");
	free(path);
	free(buf);
}

static int setup(void **state)
{
	(void)state;
	data = malloc(sizeof(*data) * NCAP);
	return data ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(data);
	tl_tmpdir_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedupe),
		cmocka_unit_test(test_delta_chain),
		cmocka_unit_test(test_corrupt_chunk),
		cmocka_unit_test(test_missing_and_resized),
		cmocka_unit_test(test_zstd_bomb),
		cmocka_unit_test(test_tamper_ledger),
		cmocka_unit_test(test_ledger_v2_coverage),
		cmocka_unit_test(test_ledger_v1_still_verifies),
		cmocka_unit_test(test_unsealed),
		cmocka_unit_test(test_wal_beside_real_file),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_planted_schema),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
