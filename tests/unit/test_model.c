/*
 * test_model.c - syscall models (format/model.c, model_learn.c; SPEC.md
 * section 16): learning windows at each depth, the model file written and
 * read back, the parser's refusals with their errno and message, learning
 * from strace logs and from an archive's syscalls table, and the alert
 * tables (model_programs, alerts, alert_captures) written, read back and
 * covered by the seal.
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

#include "emt_archive.h"
#include "emt_model.h"
#include "format/internal.h"
#include "tests/lib/tl.h"

#define EXE "/bin/true"         /* an executable every host has */

/* Whether program 0 of m has the window names[0..depth). */
static int has(const struct emt_model *m, const char *a, const char *b, const char *c)
{
	const char *want[3] = { a, b, c };
	const struct emt_model_prog *p = emt_model_program(m, 0);

	for (size_t t = 0; p && t < p->ntrans; t++) {
		const char *n[3];
		int same = 1;

		assert_int_equal(emt_model_transition(m, 0, t, n), 0);
		for (int k = 0; k < emt_model_depth(m); k++)
			same &= !strcmp(n[k], want[k]);
		if (same)
			return 1;
	}
	return 0;
}

static void learn_seq(struct emt_model *m, int prog, const char *const *calls)
{
	struct emt_model_seq q;

	emt_model_seq_begin(&q, prog);
	for (; *calls; calls++)
		assert_int_equal(emt_model_step(m, &q, *calls, 1), 1);
}

static const char *const seq1[] = { "brk", "mmap", "read", "read", "write", "exit_group", NULL };

static void test_depths(void **state)
{
	char err[256];
	(void)state;
	assert_null(emt_model_new(0));
	assert_int_equal(errno, EINVAL);
	assert_null(emt_model_new(4));
	for (int d = 1; d <= 3; d++) {
		struct emt_model *m = emt_model_new(d);
		int p;

		assert_non_null(m);
		p = emt_model_prog_for_path(m, EXE, err, sizeof(err));
		assert_true(p >= 0);
		learn_seq(m, p, seq1);
		const struct emt_model_prog *pp = emt_model_program(m, 0);

		assert_non_null(pp);
		assert_int_equal(pp->calls, 6);
		/* Distinct windows: depth 1 {brk mmap read write exit_group};
		 * depth 2 adds the start; depth 3 likewise. */
		assert_int_equal(pp->ntrans, d == 1 ? 5 : d == 2 ? 6 : 6);
		if (d == 1)
			assert_true(has(m, "read", NULL, NULL));
		if (d == 2) {
			assert_true(has(m, "^", "brk", NULL));
			assert_true(has(m, "read", "read", NULL));
			assert_false(has(m, "brk", "read", NULL));
		}
		if (d == 3) {
			assert_true(has(m, "^", "^", "brk"));
			assert_true(has(m, "^", "brk", "mmap"));
			assert_true(has(m, "read", "read", "write"));
		}
		/* Checking: a learned sequence passes, a foreign window fails. */
		struct emt_model_seq q;

		emt_model_seq_begin(&q, p);
		for (const char *const *c = seq1; *c; c++)
			assert_int_equal(emt_model_step(m, &q, *c, 0), 1);
		emt_model_seq_begin(&q, p);
		assert_int_equal(emt_model_step(m, &q, "brk", 0), 1);
		assert_int_equal(emt_model_step(m, &q, "connect", 0), 0);
		/* A name never seen, and the marker, are no calls. */
		assert_int_equal(emt_model_step(m, &q, "^", 1), -EINVAL);
		assert_int_equal(emt_model_step(m, &q, "Bad-Name", 1), -EINVAL);
		emt_model_free(m);
	}
}

static void test_json_round_trip(void **state)
{
	struct emt_model *m = emt_model_new(2), *back;
	char err[256], *text = NULL, *text2 = NULL;
	(void)state;
	int p = emt_model_prog_for_path(m, EXE, err, sizeof(err));

	assert_true(p >= 0);
	learn_seq(m, p, seq1);
	assert_int_equal(emt_model_add_source(m, "archive", "run \"1\".emt",
					      "0000000000000000000000000000000000000000000000000000000000000000"), 0);
	assert_int_equal(emt_model_json(m, &text), 0);
	assert_non_null(strstr(text, "\"format\": \"emt-syscall-model\""));
	assert_non_null(strstr(text, "[\"^\", \"brk\"]"));
	assert_non_null(strstr(text, "run \\\"1\\\".emt"));
	back = emt_model_parse(text, strlen(text), err, sizeof(err));
	assert_non_null(back);
	assert_int_equal(emt_model_depth(back), 2);
	assert_int_equal(emt_model_nprograms(back), 1);
	assert_string_equal(emt_model_program(back, 0)->sha256, emt_model_program(m, 0)->sha256);
	assert_int_equal(emt_model_program(back, 0)->ntrans, 6);
	assert_int_equal(emt_model_program(back, 0)->calls, 6);
	assert_true(has(back, "write", "exit_group", NULL));
	/* The same content gives the same text. */
	assert_int_equal(emt_model_json(back, &text2), 0);
	assert_string_equal(text, text2);
	/* The file reader: and the file's SHA-256. */
	char *path = tl_path("m.json"), sha[65];

	assert_int_equal(tl_write_file(path, text, strlen(text)), 0);
	emt_model_free(back);
	back = emt_model_load(path, sha, err, sizeof(err));
	assert_non_null(back);
	uint8_t d[32];
	char hex[65];

	emt_sha256(text, strlen(text), d);
	emt_hex(d, 32, hex);
	assert_string_equal(sha, hex);
	emt_model_free(back);
	assert_null(emt_model_load("/nonexistent/m.json", sha, err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, "cannot read '/nonexistent/m.json'"));
	free(path);
	free(text);
	free(text2);
	emt_model_free(m);
}

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEAD "{\"format\": \"emt-syscall-model\", \"version\": 1, \"arch\": \"x86_64\", "
#define PROG(tr) "\"programs\": [{\"sha256\": \"" SHA "\", \"path\": \"/bin/x\", \"transitions\": " tr "}]}"

static void test_parse_refusals(void **state)
{
	static const struct {
		const char *text;
		int err;
		const char *msg;
	} bad[] = {
		{ "", EINVAL, "not JSON" },
		{ "{\"format\": 1", EINVAL, "not JSON" },
		{ "[]", EINVAL, "top level is not an object" },
		{ "{\"format\": \"other\"}", EINVAL, "\"format\" is not" },
		{ "{\"format\": \"emt-syscall-model\"}", EINVAL, "\"version\"" },
		{ "{\"format\": \"emt-syscall-model\", \"version\": 2}", EPROTONOSUPPORT, "newer" },
		{ "{\"format\": \"emt-syscall-model\", \"version\": 1, \"arch\": \"arm64\"}", EINVAL, "arch" },
		{ HEAD "\"depth\": 4, \"programs\": []}", EINVAL, "\"depth\"" },
		{ HEAD "\"depth\": 0, \"programs\": []}", EINVAL, "\"depth\"" },
		{ HEAD "\"depth\": 2}", EINVAL, "\"programs\" is not an array" },
		{ HEAD "\"depth\": 2, \"programs\": [1]}", EINVAL, "programs[0] is not an object" },
		{ HEAD "\"depth\": 2, \"programs\": [{\"sha256\": \"ABC\", \"path\": \"/x\", \"transitions\": []}]}",
		  EINVAL, "\"sha256\"" },
		{ HEAD "\"depth\": 2, \"programs\": [{\"sha256\": \"" SHA "\", \"path\": \"\", \"transitions\": []}]}",
		  EINVAL, "\"path\"" },
		{ HEAD "\"depth\": 2, \"programs\": [{\"sha256\": \"" SHA "\", \"path\": \"/x\", \"inode\": -1,"
		  " \"transitions\": []}]}", EINVAL, "non-negative" },
		{ HEAD "\"depth\": 2, " PROG("{}"), EINVAL, "\"transitions\" is not an array" },
		{ HEAD "\"depth\": 2, " PROG("[[\"read\"]]"), EINVAL, "not an array of 2 names" },
		{ HEAD "\"depth\": 2, " PROG("[[\"read\", 5]]"), EINVAL, "not a syscall name" },
		{ HEAD "\"depth\": 2, " PROG("[[\"read\", \"^\"]]"), EINVAL, "start marker" },
		{ HEAD "\"depth\": 3, " PROG("[[\"read\", \"^\", \"write\"]]"), EINVAL, "start marker" },
		{ HEAD "\"depth\": 2, " PROG("[[\"read\", \"Write\"]]"), EINVAL, "not a syscall name" },
		{ HEAD "\"depth\": 2, \"programs\": [{\"sha256\": \"" SHA "\", \"path\": \"/x\", \"transitions\": []},"
		  " {\"sha256\": \"" SHA "\", \"path\": \"/y\", \"transitions\": []}]}", EINVAL, "twice" },
		{ HEAD "\"depth\": 2, \"depth\": 3, \"programs\": []}", EINVAL, "not JSON" },
		{ HEAD "\"depth\": 2, \"sources\": [{\"kind\": \"x\"}], \"programs\": []}", EINVAL, "sources[0]" },
	};
	char err[512];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		errno = 0;
		struct emt_model *m = emt_model_parse(bad[i].text, strlen(bad[i].text), err, sizeof(err));

		if (m || errno != bad[i].err || !strstr(err, bad[i].msg))
			fail_msg("case %zu: model %p errno %d (want %d) message '%s' (want '%s')", i,
				 (void *)m, errno, bad[i].err, err, bad[i].msg);
	}
	/* Accepted: the smallest model, and duplicates of a transition. */
	const char *ok = HEAD "\"depth\": 2, " PROG("[[\"^\", \"read\"], [\"^\", \"read\"]]");
	struct emt_model *m = emt_model_parse(ok, strlen(ok), err, sizeof(err));

	assert_non_null(m);
	assert_int_equal(emt_model_program(m, 0)->ntrans, 1);
	emt_model_free(m);
	const char *ok3 = HEAD "\"depth\": 3, " PROG("[[\"^\", \"^\", \"read\"]]");

	m = emt_model_parse(ok3, strlen(ok3), err, sizeof(err));
	assert_non_null(m);
	emt_model_free(m);
}

static void test_strace(void **state)
{
	/* strace -f -ttt -o: the tracer's child before its execve (no
	 * program), an unfinished clone whose child speaks first, a signal
	 * line, an exit line, a failed execve, a name the ABI lacks. */
	const char *log =
		"100 1700000000.000001 execve(\"/nonexistent\", [\"x\"], 0x7ffc /* 1 var */) = -1 ENOENT (No such file or directory)\n"
		"100 1700000000.000002 execve(\"" EXE "\", [\"true\"], 0x7ffc /* 1 var */) = 0\n"
		"100 1700000000.000003 brk(NULL) = 0x55d\n"
		"100 1700000000.000004 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD <unfinished ...>\n"
		"101 1700000000.000005 getpid() = 101\n"
		"100 1700000000.000006 <... clone resumed>, child_tidptr=0x7f) = 101\n"
		"101 1700000000.000007 exit_group(0) = ?\n"
		"101 1700000000.000008 +++ exited with 0 +++\n"
		"100 1700000000.000009 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---\n"
		"100 1700000000.000010 newfangled_call() = 0\n"
		"100 1700000000.000011 wait4(-1, NULL, 0, NULL) = 101\n"
		"100 1700000000.000012 exit_group(0) = ?\n";
	struct emt_model_learn_stats st = { 0 };
	struct emt_model *m = emt_model_new(2);
	char err[256] = "";
	(void)state;

	assert_int_equal(emt_model_learn_strace(m, log, strlen(log), "t.log", &st, err, sizeof(err)), 0);
	assert_int_equal(emt_model_nprograms(m), 1);
	assert_non_null(strstr(emt_model_program(m, 0)->path, "true"));
	assert_int_equal(st.no_image, 2);       /* the two execve of the tracer's child */
	assert_int_equal(st.threads, 2);
	assert_int_equal(st.calls, 6);
	assert_true(has(m, "^", "brk", NULL));
	assert_true(has(m, "brk", "clone", NULL));
	assert_true(has(m, "^", "getpid", NULL));     /* the child's own sequence */
	assert_true(has(m, "getpid", "exit_group", NULL));
	assert_true(has(m, "clone", "wait4", NULL));  /* newfangled_call skipped */
	assert_false(has(m, "clone", "getpid", NULL));
	emt_model_free(m);

	m = emt_model_new(2);
	assert_int_equal(emt_model_learn_strace(m, "hello\nworld\n", 12, "x.txt", &st, err, sizeof(err)),
			 -ENODATA);
	assert_non_null(strstr(err, "'x.txt': no syscall lines"));
	emt_model_free(m);
}

/* An archive with one launched process of EXE (exec at t=100) whose
 * thread 7 makes brk, mmap, exit_group, a second thread 8 makes getpid;
 * a syscall before the exec (the launcher's) belongs to no program. */
static char *learn_archive_path(int with_rows)
{
	char *path = tl_path(with_rows ? "learn.emt" : "empty.emt");
	struct emt_writer_opts o = { .sz = sizeof(o), .flags = EMT_CREATE_FORCE };
	char *msg = NULL;
	struct emt_writer *w = emt_writer_create(path, &o, &msg);
	struct emt_process p = { .pid = 7, .ppid = 1, .start_ns = 100, .exe = EXE };
	static const struct { uint64_t t; uint32_t tid; uint32_t nr; const char *name; } rows[] = {
		{ 50, 7, 59, "execve" }, { 110, 7, 12, "brk" }, { 120, 8, 39, "getpid" },
		{ 130, 7, 9, "mmap" }, { 140, 7, 5, "newfstat" }, { 150, 7, 231, "exit_group" },
	};

	assert_non_null(w);
	assert_int_equal(emt_writer_add_process(w, &p), 0);
	for (size_t i = 0; with_rows && i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct emt_syscall s = { .time_ns = rows[i].t, .pid = 7, .tid = rows[i].tid,
					 .nr = rows[i].nr, .name = rows[i].name, .args = "[]", .text = "" };

		assert_int_equal(emt_writer_add_syscalls(w, &s, 1), 0);
	}
	assert_int_equal(emt_writer_close(w, &msg), 0);
	return path;
}

static void test_archive(void **state)
{
	char *path = learn_archive_path(1), *msg = NULL, err[256] = "";
	struct emt_reader *r = emt_reader_open(path, &msg);
	struct emt_model_learn_stats st = { 0 };
	struct emt_model *m = emt_model_new(2);
	(void)state;

	assert_non_null(r);
	assert_int_equal(emt_model_learn_archive(m, r, path, &st, err, sizeof(err)), 0);
	assert_int_equal(st.no_image, 1);
	assert_int_equal(st.calls, 5);
	assert_int_equal(st.threads, 2);
	assert_true(has(m, "^", "brk", NULL));
	assert_true(has(m, "^", "getpid", NULL));
	assert_true(has(m, "brk", "mmap", NULL));
	/* The ABI's name of number 5, not the tracepoint's. */
	assert_true(has(m, "mmap", "fstat", NULL));
	assert_true(has(m, "fstat", "exit_group", NULL));
	assert_false(has(m, "brk", "getpid", NULL));
	emt_reader_close(r);
	emt_model_free(m);
	free(path);

	path = learn_archive_path(0);
	r = emt_reader_open(path, &msg);
	m = emt_model_new(2);
	assert_non_null(r);
	assert_int_equal(emt_model_learn_archive(m, r, "empty.emt", &st, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "no recorded syscalls"));
	emt_reader_close(r);
	emt_model_free(m);
	free(path);
}

static int problems;

static void count_problem(void *ctx, const char *item, const char *msg)
{
	(void)ctx;
	(void)item;
	(void)msg;
	problems++;
}

static void test_alert_tables(void **state)
{
	char *path = tl_path("alerts.emt"), *msg = NULL;
	struct emt_writer_opts o = { .sz = sizeof(o), .flags = EMT_CREATE_FORCE };
	struct emt_writer *w = emt_writer_create(path, &o, &msg);
	struct emt_process p = { .pid = 7, .ppid = 1, .start_ns = 10 };
	uint8_t buf[4096];
	(void)state;

	assert_non_null(w);
	assert_int_equal(emt_writer_add_process(w, &p), 0);
	struct emt_region rg = { .process_id = p.id, .pid = 7, .backing = EMT_BACKING_ANON,
				 .start = 0x10000, .length = 0x1000, .prot = 5 };
	assert_int_equal(emt_writer_add_region(w, &rg), 0);
	memset(buf, 0xcc, sizeof(buf));
	struct emt_capture c = { .region_id = rg.id, .pid = 7, .tid = 7, .trigger = EMT_TRIGGER_ALERT,
				 .addr = 0x10000, .size = sizeof(buf), .time_ns = 20 };
	assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), 0);

	struct emt_model_program_row pr = { .path = "/bin/x", .inode = 5, .dev = 2049,
					    .transitions = 40, .checked = 1 };
	assert_int_equal(emt_writer_add_model_program(w, &pr), -EINVAL);   /* no sha256 */
	memcpy(pr.sha256, SHA, 65);
	assert_int_equal(emt_writer_add_model_program(w, &pr), 0);
	assert_int_equal(pr.id, 1);
	struct emt_alert a = {
		.time_ns = 19, .pid = 7, .tid = 7, .program_id = pr.id, .depth = 2, .nr = 41,
		.name = "socket", .syscalls = "[{\"nr\": 1, \"name\": \"write\"}, {\"nr\": 41, \"name\": \"socket\"}]",
		.rip = 0x10013, .action = EMT_ALERT_CAPTURE, .suppressed = 3,
	};
	struct emt_alert bad = a;

	bad.depth = 4;
	assert_int_equal(emt_writer_add_alert(w, &bad), -EINVAL);
	bad = a;
	bad.action = 9;
	assert_int_equal(emt_writer_add_alert(w, &bad), -EINVAL);
	assert_int_equal(emt_writer_add_alert(w, &a), 0);
	assert_int_equal(emt_writer_link_alert(w, c.seq, a.id), 0);
	assert_int_equal(emt_writer_link_alert(w, c.seq, a.id), -EEXIST);
	assert_int_equal(emt_writer_close(w, &msg), 0);

	struct emt_reader *r = emt_reader_open(path, &msg);
	struct emt_row_iter *it;
	struct emt_alert ra;
	struct emt_model_program_row rp;
	uint64_t seqs[4];

	assert_non_null(r);
	it = emt_reader_model_programs(r);
	assert_int_equal(emt_model_program_iter_next(it, &rp), 1);
	assert_string_equal(rp.sha256, SHA);
	assert_string_equal(rp.path, "/bin/x");
	assert_int_equal(rp.dev, 2049);
	assert_int_equal(rp.checked, 1);
	assert_int_equal(emt_model_program_iter_next(it, &rp), 0);
	emt_row_iter_free(it);
	it = emt_reader_alerts(r);
	assert_int_equal(emt_alert_iter_next(it, &ra), 1);
	assert_string_equal(ra.name, "socket");
	assert_string_equal(ra.syscalls, a.syscalls);
	assert_int_equal(ra.rip, 0x10013);
	assert_int_equal(ra.action, EMT_ALERT_CAPTURE);
	assert_int_equal(ra.suppressed, 3);
	assert_int_equal(ra.depth, 2);
	assert_int_equal(emt_alert_iter_next(it, &ra), 0);
	emt_row_iter_free(it);
	assert_int_equal(emt_reader_alert_captures(r, a.id, seqs, 4), 1);
	assert_int_equal(seqs[0], c.seq);
	assert_int_equal(emt_reader_alert_captures(r, 99, seqs, 4), 0);
	problems = 0;
	assert_int_equal(emt_reader_verify(r, count_problem, NULL, NULL), 0);
	assert_int_equal(problems, 0);
	emt_reader_close(r);

	/* The seal covers the rows: one changed is damage. */
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE alerts SET rip = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	r = emt_reader_open(path, &msg);
	assert_non_null(r);
	problems = 0;
	emt_reader_verify(r, count_problem, NULL, NULL);
	assert_true(problems > 0);
	emt_reader_close(r);
	free(path);
	assert_string_equal(emt_alert_action_name(EMT_ALERT_KILL), "kill");
	assert_int_equal(emt_alert_action_parse("stop"), EMT_ALERT_STOP);
	assert_int_equal(emt_alert_action_parse("nope"), EMT_ALERT_UNKNOWN);
	assert_int_equal(emt_syscall_nr("connect"), 42);
	assert_string_equal(emt_syscall_name(42), "connect");
	assert_null(emt_syscall_name(100000));
}

static int teardown(void **state)
{
	(void)state;
	tl_tmpdir_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_depths),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_strace),
		cmocka_unit_test(test_archive),
		cmocka_unit_test(test_alert_tables),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
