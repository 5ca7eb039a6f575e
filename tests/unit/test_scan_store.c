/*
 * test_scan_store.c - the contract of emt_scan_store_* (SPEC.md section
 * 14): what it refuses, what a run leaves, reruns that replace, a run
 * that is not committed leaving nothing, and an archive that still
 * verifies with its seal afterwards.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "emt_archive.h"
#include "emt_scan_store.h"
#include "tests/lib/tl.h"

/* A sealed archive with one capture at `path`. */
static void mk_archive(const char *path)
{
	struct emt_writer_opts o = { .sz = sizeof(o) };
	struct emt_process p = { .pid = 77, .ppid = 1, .start_ns = 1, .exe = "/bin/x" };
	struct emt_region r = { .pid = 77, .backing = EMT_BACKING_ANON, .start = 0x10000,
				.length = 4096, .created_ns = 2, .prot = 5 };
	struct emt_capture c = { .pid = 77, .tid = 77, .trigger = EMT_TRIGGER_MPROTECT,
				 .prot_before = 3, .prot_after = 5, .addr = 0x10000,
				 .size = 4096, .time_ns = 3 };
	static uint8_t data[4096];
	struct emt_writer *w = emt_writer_create(path, &o, NULL);

	assert_non_null(w);
	tl_fill_code(data, sizeof(data), 5);
	assert_int_equal(emt_writer_add_process(w, &p), 0);
	r.process_id = p.id;
	assert_int_equal(emt_writer_add_region(w, &r), 0);
	c.region_id = r.id;
	assert_int_equal(emt_writer_add_capture(w, &c, data, NULL, 0, NULL), 0);
	assert_int_equal(emt_writer_close(w, NULL), 0);
}

static int64_t count(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void exec_sql(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void run_once(const char *path, uint8_t tag, size_t nmatches, int commit)
{
	struct emt_scan_run run = { .rules_path = "r.yar", .engine = "yara 4.2.3",
				    .scanned_ns = 1, .captures = 1 };
	struct emt_scan_match m = { .seq = 1, .rule_ns = "default", .rule = "r",
				    .string_id = "$a", .offset = 16, .length = 4,
				    .address = 0x10010 };
	char *msg = NULL;
	struct emt_scan_store *s = emt_scan_store_open(path, &msg);

	if (!s)
		print_error("open: %s\n", msg ? msg : "?");
	free(msg);
	assert_non_null(s);
	memset(run.rules_sha256, tag, sizeof(run.rules_sha256));
	assert_int_equal(emt_scan_store_begin(s, &run), 0);
	assert_int_equal(emt_scan_store_begin(s, &run), -EINVAL);  /* one run at a time */
	for (size_t i = 0; i < nmatches; i++)
		assert_int_equal(emt_scan_store_add(s, &m), 0);
	if (commit)
		assert_int_equal(emt_scan_store_commit(s), 0);
	emt_scan_store_close(s);
}

static void verify_intact(const char *path)
{
	struct emt_verify_stats st;
	struct emt_reader *r = emt_reader_open(path, NULL);

	assert_non_null(r);
	assert_int_equal(emt_reader_verify(r, NULL, NULL, &st), 0);
	assert_int_equal(st.sealed, 1);
	emt_reader_close(r);
}

static void test_runs(void **state)
{
	char *a = tl_path("runs.emt"), *j = tl_path("runs.emt-journal");

	(void)state;
	mk_archive(a);
	run_once(a, 1, 3, 1);
	assert_int_equal(count(a, "SELECT count(*) FROM scans"), 1);
	assert_int_equal(count(a, "SELECT matches FROM scans"), 3);
	assert_int_equal(count(a, "SELECT count(*) FROM scan_matches WHERE address = 65552"), 3);
	/* same rules: replaced */
	run_once(a, 1, 2, 1);
	assert_int_equal(count(a, "SELECT count(*) FROM scans"), 1);
	assert_int_equal(count(a, "SELECT count(*) FROM scan_matches"), 2);
	/* other rules: beside */
	run_once(a, 2, 1, 1);
	assert_int_equal(count(a, "SELECT count(*) FROM scans"), 2);
	assert_int_equal(count(a, "SELECT count(*) FROM scan_matches"), 3);
	/* not committed: nothing of it, not even the deletion of the old run */
	run_once(a, 2, 5, 0);
	assert_int_equal(count(a, "SELECT count(*) FROM scan_matches"), 3);
	verify_intact(a);
	assert_int_equal(access(j, F_OK), -1);
	free(a);
	free(j);
}

static void test_refusals(void **state)
{
	char *a = tl_path("ref.emt"), *b = tl_path("wal.emt"), *wal = tl_path("wal.emt-wal");
	char *none = tl_path("none.emt"), *msg = NULL;
	struct emt_scan_store *s;

	(void)state;
	s = emt_scan_store_open(none, &msg);
	assert_null(s);
	assert_int_equal(errno, ENOENT);
	assert_non_null(msg);
	free(msg);

	/* not an archive */
	assert_int_equal(tl_write_file(a, "hello", 5), 0);
	assert_null(emt_scan_store_open(a, NULL));
	assert_int_equal(errno, ENOTSUP);
	unlink(a);

	/* a -wal beside it, even empty: a writer may still be there */
	mk_archive(b);
	assert_int_equal(tl_write_file(wal, "", 0), 0);
	assert_null(emt_scan_store_open(b, &msg));
	assert_int_equal(errno, EBUSY);
	assert_non_null(strstr(msg, "WAL file is beside it"));
	free(msg);
	unlink(wal);

	/* a table of ours with another statement */
	mk_archive(a);
	exec_sql(a, "CREATE TABLE scan_matches(x)");
	assert_null(emt_scan_store_open(a, &msg));
	assert_int_equal(errno, EBADMSG);
	assert_non_null(strstr(msg, "table 'scan_matches' is not the one of SPEC.md"));
	free(msg);

	assert_null(emt_scan_store_open(NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_string_equal(emt_scan_store_errmsg(NULL), "no store");
	emt_scan_store_close(NULL);
	free(a);
	free(b);
	free(wal);
	free(none);
}

/* A planted trigger on our table must not run: the store disables them. */
static void test_planted_trigger(void **state)
{
	char *a = tl_path("trig.emt");

	(void)state;
	mk_archive(a);
	run_once(a, 1, 1, 1);
	exec_sql(a, "CREATE TRIGGER t AFTER INSERT ON scan_matches BEGIN DELETE FROM captures; END");
	run_once(a, 3, 1, 1);
	assert_int_equal(count(a, "SELECT count(*) FROM captures"), 1);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_planted_trigger),
	};
	int rc;

	tl_tmpdir();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tl_tmpdir_cleanup();
	return rc;
}
