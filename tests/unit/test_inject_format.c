/*
 * test_inject_format.c - the injection tables of format 1.2 (SPEC.md 15) through
 * the library: rows written are read back as written, the refusals, the
 * seal covering them, an archive of an older format reading as having
 * none; and capture/inject_links, which links later captures.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "capture/inject_links.h"
#include "emt_archive.h"
#include "tests/lib/tl.h"

static int problems;

static void count_problem(void *ctx, const char *item, const char *msg)
{
	(void)ctx;
	(void)item;
	(void)msg;
	problems++;
}

/* An archive at `path` with one process (pid 7), a region, a capture
 * (seq 1) and two injections, the second linked to capture seq 2. */
static void write_archive(const char *path)
{
	struct emt_writer_opts o = { .sz = sizeof(o) };
	char *msg = NULL;
	struct emt_writer *w = emt_writer_create(path, &o, &msg);
	struct emt_process p = { .pid = 7, .ppid = 1, .start_ns = 10 };
	uint8_t buf[4096];

	assert_non_null(w);
	assert_int_equal(emt_writer_add_process(w, &p), 0);
	struct emt_region rg = { .process_id = p.id, .pid = 7, .backing = EMT_BACKING_ANON,
				 .start = 0x10000, .length = 0x1000, .prot = 3 };
	assert_int_equal(emt_writer_add_region(w, &rg), 0);
	memset(buf, 0xcc, sizeof(buf));
	for (int i = 0; i < 2; i++) {
		struct emt_capture c = { .region_id = rg.id, .pid = 7, .tid = 7,
					 .trigger = i ? EMT_TRIGGER_MPROTECT : EMT_TRIGGER_INJECT,
					 .addr = 0x10000, .size = sizeof(buf), .time_ns = 20 + i };
		buf[0] = (uint8_t)i;
		assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), 0);
	}
	struct emt_injection a = {
		.time_ns = 15, .writer_pid = 9, .writer_tid = 10, .victim_pid = 7,
		.method = EMT_INJECT_POKETEXT, .addr = 0x10008, .length = 8,
		.word = 0xdeadbeefcafef00dull, .has_word = 1, .seq = 1,
	};
	struct emt_injection b = {
		.time_ns = 16, .writer_pid = 9, .writer_tid = 9, .victim_pid = 7,
		.method = EMT_INJECT_VM_WRITEV, .addr = 0x10000, .length = 64, .seq = 0,
	};
	assert_int_equal(emt_writer_add_injection(w, &a), 0);
	assert_int_equal(a.id, 1);
	assert_int_equal(emt_writer_add_injection(w, &b), 0);
	assert_int_equal(b.id, 2);
	assert_int_equal(emt_writer_link_injection(w, 2, b.id), 0);
	assert_int_equal(emt_writer_add_follow_reason(w, p.id, "injected", a.id), 0);

	/* Refusals: nothing of them is written. */
	struct emt_injection bad = b;
	bad.method = 99;
	assert_int_equal(emt_writer_add_injection(w, &bad), -EINVAL);
	bad.method = EMT_INJECT_UNKNOWN;
	assert_int_equal(emt_writer_add_injection(w, &bad), -EINVAL);
	bad = b;
	bad.length = EMT_CAPTURE_SIZE_MAX + 1;
	assert_int_equal(emt_writer_add_injection(w, &bad), -EINVAL);
	assert_int_equal(emt_writer_add_injection(NULL, &b), -EINVAL);
	assert_int_equal(emt_writer_link_injection(w, 2, b.id), -EEXIST);
	assert_int_equal(emt_writer_link_injection(w, 0, b.id), -EINVAL);
	assert_int_equal(emt_writer_link_injection(w, 1, 0), -EINVAL);
	assert_int_equal(emt_writer_add_follow_reason(w, p.id, "injected", a.id), -EEXIST);
	assert_int_equal(emt_writer_add_follow_reason(w, p.id, "bored", a.id), -EINVAL);
	assert_int_equal(emt_writer_add_follow_reason(w, 0, "injected", a.id), -EINVAL);
	/* The writer is still usable after them. */
	assert_int_equal(emt_writer_close(w, &msg), 0);
	free(msg);
}

static void test_round_trip(void **state)
{
	char *path = tl_path("inject.emt");
	struct emt_injection in;
	int64_t id = 0;
	const char *why = NULL;
	(void)state;

	write_archive(path);
	struct emt_reader *r = emt_reader_open(path, NULL);

	assert_non_null(r);
	struct emt_row_iter *it = emt_reader_injections(r);

	assert_non_null(it);
	assert_int_equal(emt_injection_iter_next(it, &in), 1);
	assert_int_equal(in.id, 1);
	assert_int_equal(in.method, EMT_INJECT_POKETEXT);
	assert_int_equal(in.writer_pid, 9);
	assert_int_equal(in.writer_tid, 10);
	assert_int_equal(in.victim_pid, 7);
	assert_int_equal(in.addr, 0x10008);
	assert_int_equal(in.length, 8);
	assert_true(in.has_word);
	assert_true(in.word == 0xdeadbeefcafef00dull);
	assert_int_equal(in.seq, 1);
	assert_int_equal(emt_injection_iter_next(it, &in), 1);
	assert_int_equal(in.method, EMT_INJECT_VM_WRITEV);
	assert_false(in.has_word);
	assert_int_equal(in.seq, 0);
	assert_int_equal(emt_injection_iter_next(it, &in), 0);
	/* An iterator of another kind is refused. */
	assert_int_equal(emt_loss_iter_next(it, NULL), -EINVAL);
	emt_row_iter_free(it);
	assert_int_equal(emt_reader_capture_injection(r, 2, &id), 1);
	assert_int_equal(id, 2);
	assert_int_equal(emt_reader_capture_injection(r, 1, &id), 0);
	assert_int_equal(emt_reader_follow_reason(r, 1, &why, &id), 1);
	assert_string_equal(why, "injected");
	assert_int_equal(id, 1);
	assert_int_equal(emt_reader_follow_reason(r, 2, &why, &id), 0);
	problems = 0;
	assert_int_equal(emt_reader_verify(r, count_problem, NULL, NULL), 0);
	assert_int_equal(problems, 0);
	emt_reader_close(r);
	free(path);
}

/* Each table's digest is in the seal: a changed row is damage. */
static void test_sealed(void **state)
{
	static const char *const edits[] = {
		"UPDATE injections SET word = 1 WHERE id = 1",
		"UPDATE injection_links SET injection_id = 1",
		"DELETE FROM follow_reasons",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *path = tl_path("inject-edit.emt");
		sqlite3 *db;

		write_archive(path);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, edits[i], NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		struct emt_reader *r = emt_reader_open(path, NULL);

		assert_non_null(r);
		problems = 0;
		emt_reader_verify(r, count_problem, NULL, NULL);
		if (problems == 0)
			print_error("'%s' not detected\n", edits[i]);
		assert_true(problems > 0);
		emt_reader_close(r);
		remove(path);
		free(path);
	}
}

/* An archive without the tables (format 1.0): no injections, no links. */
static void test_older_format(void **state)
{
	char *path = tl_path("old.emt");
	struct emt_injection in;
	int64_t id = 0;
	const char *why = NULL;
	sqlite3 *db;
	(void)state;

	write_archive(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE injections; DROP TABLE injection_links;"
				      " DROP TABLE follow_reasons", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct emt_reader *r = emt_reader_open(path, NULL);

	assert_non_null(r);
	struct emt_row_iter *it = emt_reader_injections(r);

	assert_non_null(it);
	assert_int_equal(emt_injection_iter_next(it, &in), 0);
	emt_row_iter_free(it);
	assert_int_equal(emt_reader_capture_injection(r, 2, &id), 0);
	assert_int_equal(emt_reader_follow_reason(r, 1, &why, &id), 0);
	assert_null(why);
	emt_reader_close(r);
	free(path);
}

static void test_method_names(void **state)
{
	(void)state;
	for (int m = EMT_INJECT_VM_WRITEV; m <= EMT_INJECT_PROC_MEM; m++) {
		const char *n = emt_inject_method_name((enum emt_inject_method)m);

		assert_non_null(n);
		assert_int_equal(emt_inject_method_parse(n), m);
	}
	assert_null(emt_inject_method_name(EMT_INJECT_UNKNOWN));
	assert_null(emt_inject_method_name((enum emt_inject_method)(EMT_INJECT_PROC_MEM + 1)));
	assert_int_equal(emt_inject_method_parse("ptrace-poke"), EMT_INJECT_UNKNOWN);
	assert_int_equal(emt_inject_method_parse(NULL), EMT_INJECT_UNKNOWN);
}

static void test_links(void **state)
{
	struct inject_links *l = inject_links_new();
	(void)state;

	assert_non_null(l);
	assert_int_equal(inject_links_add(l, 7, 0x1000, 8, 1), 0);
	assert_int_equal(inject_links_add(l, 7, 0x1004, 64, 2), 0);
	assert_int_equal(inject_links_add(l, 8, 0x1000, 8, 3), 0);
	assert_int_equal(inject_links_add(l, 7, UINT64_MAX - 4, 100, 4), 0);  /* clamped */
	assert_int_equal(inject_links_find(l, 7, 0, 0x1000), 0);         /* ends before */
	assert_int_equal(inject_links_find(l, 7, 0, 0x1001), 1);
	assert_int_equal(inject_links_find(l, 7, 0x1000, 0x1000), 2);    /* the latest */
	assert_int_equal(inject_links_find(l, 8, 0x1000, 0x1000), 3);
	assert_int_equal(inject_links_find(l, 9, 0x1000, 0x1000), 0);
	assert_int_equal(inject_links_find(l, 7, UINT64_MAX - 1, 1), 4);
	inject_links_forget(l, 7);
	assert_int_equal(inject_links_find(l, 7, 0x1000, 0x1000), 0);
	assert_int_equal(inject_links_find(l, 8, 0x1000, 0x1000), 3);
	inject_links_free(l);
	inject_links_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_older_format),
		cmocka_unit_test(test_method_names),
		cmocka_unit_test(test_links),
	};
	int rc;

	tl_tmpdir();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	tl_tmpdir_cleanup();
	return rc;
}
