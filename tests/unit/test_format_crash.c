/*
 * test_format_crash.c - a writer killed with SIGKILL at 50 points spread
 * over a whole run, close and seal included; a quiet writer killed after
 * its commit interval; a full disk.
 *
 * The child adds captures and, after each emt_writer_commit() returns,
 * reports the last committed seq to the parent through a pipe; it also
 * reports when it starts closing and when the close returned.  The parent
 * times one run to the end first, then kills 50 runs at points spread
 * uniformly over that time, and checks that each archive opens, reads as
 * unsealed (or sealed if the close had returned), verifies, and holds
 * every reported capture byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "emt_archive.h"
#include "tests/lib/tl.h"

#define RUNS 50
#define NREG 3
#define NCAP 400
#define MAXSZ (40 * 4096)
/* Pipe markers besides committed seqs. */
#define MARK_CLOSING (UINT64_MAX - 1)
#define MARK_DONE UINT64_MAX

/* Content of capture `seq` of run `run`: a per-region code image with a
 * few bytes changed per seq, so versions dedupe and delta-encode. */
static size_t cap_size(uint64_t run, uint64_t seq)
{
	return 4096 * (1 + (size_t)((run * 31 + seq * 7) % 40));
}

static void cap_data(uint64_t run, uint64_t seq, uint8_t *buf, size_t n)
{
	uint64_t rgn = seq % NREG;

	tl_fill_code(buf, n, run * 100 + rgn);
	for (int k = 0; k < 8; k++)
		buf[(seq * 2654435761u + (uint64_t)k * 977) % n] ^= (uint8_t)(seq + 1);
}

static void child(const char *path, uint64_t run, int wfd)
{
	struct emt_writer_opts o = { .sz = sizeof(o), .commit_ms = 5 };
	struct emt_writer *w = emt_writer_create(path, &o, NULL);
	struct emt_process p = { .pid = 100 };
	int64_t rid[NREG];
	static uint8_t buf[MAXSZ];
	uint64_t zero = 0, mark;

	if (!w || emt_writer_add_process(w, &p))
		_exit(3);
	for (int i = 0; i < NREG; i++) {
		struct emt_region rg = { .process_id = p.id, .pid = 100,
					 .backing = EMT_BACKING_ANON,
					 .start = 0x100000ull * (uint64_t)(i + 1), .length = MAXSZ };

		if (emt_writer_add_region(w, &rg))
			_exit(3);
		rid[i] = rg.id;
	}
	if (emt_writer_commit(w) || write(wfd, &zero, sizeof(zero)) != sizeof(zero))
		_exit(3);
	for (uint64_t seq = 1; seq <= NCAP; seq++) {
		size_t n = cap_size(run, seq);
		struct emt_capture c = { .region_id = rid[seq % NREG], .pid = 100, .tid = 101,
					 .trigger = EMT_TRIGGER_MPROTECT,
					 .addr = 0x100000ull * (seq % NREG + 1), .size = n,
					 .time_ns = seq };

		cap_data(run, seq, buf, n);
		if (emt_writer_add_capture(w, &c, buf, NULL, 0, NULL) || c.seq != seq)
			_exit(4);
		if (seq % 3 == 0 || (seq * run) % 5 == 0) {
			if (emt_writer_commit(w))
				_exit(5);
			if (write(wfd, &seq, sizeof(seq)) != sizeof(seq))
				_exit(6);
		}
	}
	mark = MARK_CLOSING;
	if (write(wfd, &mark, sizeof(mark)) != sizeof(mark))
		_exit(6);
	if (emt_writer_close(w, NULL))
		_exit(7);
	mark = MARK_DONE;
	if (write(wfd, &mark, sizeof(mark)) != sizeof(mark))
		_exit(6);
	_exit(0);
}

static int problems;
static void report(void *ctx, const char *item, const char *msg)
{
	(void)ctx;
	problems++;
	print_error("verify: %s: %s\n", item, msg);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* What the parent learnt of one run. */
struct run {
	uint64_t last;          /* last seq reported committed */
	int closing, done;      /* close started / returned */
	uint64_t t_closing, t_done;     /* ns after the first commit */
	uint64_t t_seq[NCAP + 1];       /* when seq was reported, 0 = not */
};

/* Reads markers until `deadline` (absolute ns, 0 = until EOF). */
static void read_marks(int fd, struct run *rs, uint64_t t0, uint64_t deadline)
{
	uint64_t v;

	for (;;) {
		if (deadline) {
			uint64_t now = now_ns();
			struct pollfd pf = { .fd = fd, .events = POLLIN };

			if (now >= deadline)
				return;
			if (poll(&pf, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
				continue;
		}
		if (read(fd, &v, sizeof(v)) != sizeof(v))
			return;
		if (v == MARK_CLOSING) {
			rs->closing = 1;
			rs->t_closing = now_ns() - t0;
			/* A close takes milliseconds: a waiting caller must
			 * get the chance to kill inside it at once. */
			if (deadline)
				return;
		} else if (v == MARK_DONE) {
			rs->done = 1;
			rs->t_done = now_ns() - t0;
		} else {
			rs->last = v;
			if (v <= NCAP)
				rs->t_seq[v] = now_ns() - t0;
		}
	}
}

/* Starts run `run`; returns the child's pid once it committed its
 * regions, with *t0 the time of that. */
static pid_t start_run(const char *path, uint64_t run, int *rfd, uint64_t *t0)
{
	int fds[2];
	pid_t pid;
	uint64_t v;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child(path, run, fds[1]);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &v, sizeof(v)), sizeof(v));
	*t0 = now_ns();
	*rfd = fds[0];
	return pid;
}

/* The archive must open, verify, be sealed if the close returned, and
 * hold every capture reported committed (every capture it holds, in
 * fact) byte for byte; reading must leave the file and its WAL alone. */
static void check_archive(const char *path, uint64_t run, const struct run *rs, int *sealed_out)
{
	static uint8_t want[MAXSZ], got[MAXSZ];
	char walp[4096], *msg = NULL;
	size_t n0 = 0, w0 = 0, n1 = 0, w1 = 0;
	struct emt_summary s;

	snprintf(walp, sizeof(walp), "%s-wal", path);
	uint8_t *f0 = tl_read_file(path, &n0), *wl0 = tl_read_file(walp, &w0);
	struct emt_reader *r = emt_reader_open(path, &msg);

	if (!r)
		print_error("run %llu: open: %s\n", (unsigned long long)run, msg);
	assert_non_null(r);
	free(msg);
	assert_int_equal(emt_reader_summary(r, &s), 0);
	if (rs->done)
		assert_int_equal(s.sealed, 1);
	*sealed_out = (int)s.sealed;
	assert_true(s.captures >= rs->last);
	if (s.sealed)
		assert_int_equal(s.captures, NCAP);
	problems = 0;
	assert_int_equal(emt_reader_verify(r, report, NULL, NULL), 0);
	for (uint64_t seq = 1; seq <= s.captures; seq++) {
		size_t n = cap_size(run, seq);

		cap_data(run, seq, want, n);
		assert_int_equal(emt_reader_read_capture(r, seq, got, sizeof(got), 0), 0);
		assert_memory_equal(got, want, n);
	}
	emt_reader_close(r);
	uint8_t *f1 = tl_read_file(path, &n1), *wl1 = tl_read_file(walp, &w1);

	assert_non_null(f0);
	assert_non_null(f1);
	assert_int_equal(n0, n1);
	assert_memory_equal(f0, f1, n0);
	assert_int_equal(w0, w1);
	if (w0)
		assert_memory_equal(wl0, wl1, w0);
	free(f0);
	free(f1);
	free(wl0);
	free(wl1);
}

static void test_kill9(void **state)
{
	unsigned seed = (unsigned)time(NULL);
	int sealed_runs = 0, with_commits = 0, in_close = 0, before_commit = 0, finished = 0;
	struct run timing = { 0 };
	uint64_t t0, total, t_close;
	int fd, status;
	pid_t pid;
	(void)state;

	/* One run to the end: how long the whole run and its close take. */
	char *path = tl_path("timing.emt");

	pid = start_run(path, 0, &fd, &t0);
	read_marks(fd, &timing, t0, 0);
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(timing.closing && timing.done);
	total = timing.t_done;
	t_close = timing.t_closing;
	int sealed;

	check_archive(path, 0, &timing, &sealed);
	assert_int_equal(sealed, 1);
	free(path);
	print_message("kill9 seed %u: a run takes %.1f ms, its close %.1f ms\n", seed,
		      (double)total / 1e6, (double)(total - t_close) / 1e6);

	/* Kill k at the middle of the k-th of RUNS equal slices of the
	 * timing run (plus a little jitter), on the timing run's timeline:
	 * a kill point is reached as "report R of the child (a commit, or
	 * the start of the close), then the time that followed R in the
	 * timing run".  So a run going faster or slower under load than the
	 * timing run still gets its kills spread over all its phases, the
	 * close included. */
	srand(seed);
	uint64_t slice = total / RUNS;
	int nclose = 0, close_hit = 0;

	for (uint64_t k = 0; k < RUNS; k++)
		nclose += slice * k + slice / 2 >= t_close;
	for (uint64_t run = 1; run <= RUNS; run++) {
		char name[64];
		struct run rs = { 0 };
		uint64_t k = run - 1, at = slice * k + slice / 2 + (uint64_t)rand() % (slice / 4 + 1);
		uint64_t anchor = 0, t_anchor = 0;      /* seq to wait for, its time */

		/* A close shorter than 3 slices still gets 3 kills. */
		if (nclose < 3 && k >= RUNS - 3)
			at = t_close + (total - t_close) * (k - (RUNS - 3) + 1) / 4;
		int at_close = at >= t_close;

		/* The first kill of the close comes right on its report:
		 * the close takes milliseconds, the kill microseconds, so at
		 * least one kill lands inside it however fast this run's
		 * close is. */
		if (at_close && !close_hit) {
			at = t_close;
			close_hit = 1;
		}

		if (at_close) {
			t_anchor = t_close;
		} else {
			for (uint64_t q = 1; q <= NCAP; q++)
				if (timing.t_seq[q] && timing.t_seq[q] <= at) {
					anchor = q;
					t_anchor = timing.t_seq[q];
				}
		}
		snprintf(name, sizeof(name), "crash%llu.emt", (unsigned long long)run);
		path = tl_path(name);
		pid = start_run(path, run, &fd, &t0);
		while (at_close ? !rs.closing && !rs.done : rs.last < anchor && !rs.closing) {
			uint64_t before = rs.last;

			read_marks(fd, &rs, t0, now_ns() + 20000000ull);
			if (rs.last == before && !rs.closing && waitpid(pid, &status, WNOHANG) == pid)
				fail_msg("run %llu: child died early", (unsigned long long)run);
		}
		read_marks(fd, &rs, t0, now_ns() + (at - t_anchor));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* Everything reported before death was committed. */
		read_marks(fd, &rs, t0, 0);
		close(fd);
		if (WIFEXITED(status))
			assert_int_equal(WEXITSTATUS(status), 0);
		check_archive(path, run, &rs, &sealed);
		sealed_runs += sealed;
		with_commits += rs.last > 0 && !rs.closing;
		before_commit += rs.last == 0 && !rs.closing;
		in_close += rs.closing && !rs.done;
		finished += rs.done;
		free(path);
	}
	print_message("kill9: %d runs: %d killed while adding captures with some committed,"
		      " %d before any commit, %d during close or seal (%d of all runs read sealed),"
		      " %d finished before the kill\n",
		      RUNS, with_commits, before_commit, in_close, sealed_runs, finished);
	/* The kills must have hit what they are meant to: most runs with
	 * committed captures at stake, and the close itself. */
	assert_true(with_commits >= RUNS / 2);
	assert_true(in_close >= 1);
}

/* SPEC.md section 10: captures are committed at most commit_ms after
 * their batch opened even if the caller never calls in again.  A writer
 * that adds one capture and goes quiet, killed well after the interval,
 * must have it in the archive. */
static void test_quiet_writer(void **state)
{
	char *path = tl_path("quiet.emt");
	static uint8_t buf[3 * 4096], got[3 * 4096];
	int fds[2], status;
	pid_t pid;
	char c;
	(void)state;

	tl_fill_code(buf, sizeof(buf), 42);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct emt_writer *w = emt_writer_create(path, NULL, NULL);      /* commit_ms 1000 */
		struct emt_process p = { .pid = 7 };
		struct emt_region rg = { .pid = 7, .backing = EMT_BACKING_ANON, .start = 0x1000,
					 .length = sizeof(buf) };
		struct emt_capture cap = { .pid = 7, .trigger = EMT_TRIGGER_MPROTECT,
					   .addr = 0x1000, .size = sizeof(buf) };

		close(fds[0]);
		if (!w || emt_writer_add_process(w, &p))
			_exit(3);
		rg.process_id = p.id;
		if (emt_writer_add_region(w, &rg) || emt_writer_commit(w))
			_exit(3);
		cap.region_id = rg.id;
		if (emt_writer_add_capture(w, &cap, buf, NULL, 0, NULL))
			_exit(4);
		if (write(fds[1], "a", 1) != 1)
			_exit(5);
		sleep(4);       /* killed before it wakes up */
		_exit(6);
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	struct timespec ts = { 2, 500000000L };

	nanosleep(&ts, NULL);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	close(fds[0]);

	struct emt_reader *r = emt_reader_open(path, NULL);
	struct emt_summary s;

	assert_non_null(r);
	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.captures, 1);
	assert_int_equal(emt_reader_read_capture(r, 1, got, sizeof(got), 0), 0);
	assert_memory_equal(got, buf, sizeof(buf));
	problems = 0;
	assert_int_equal(emt_reader_verify(r, report, NULL, NULL), 0);
	emt_reader_close(r);
	free(path);
}

/* Disk full (RLIMIT_FSIZE, write(2) fails with EFBIG): the writer must
 * report the failure, keep reporting it on every later call instead of
 * writing rows that reference a rolled-back batch, and leave an archive
 * that opens, verifies and holds every capture committed before.  Batches
 * of 4 MiB exceed SQLite's page cache, so the failure happens in the middle
 * of a batch (cache spill), where SQLite rolls the transaction back. */
static void test_disk_full(void **state)
{
	char *path = tl_path("full.emt");
	int fds[2];
	pid_t pid;
	(void)state;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 9 << 20, 9 << 20 };
		static uint8_t buf[256 << 10];
		struct emt_writer_opts o = { .sz = sizeof(o), .no_delta = 1 };
		struct emt_writer *w;
		struct emt_process p = { .pid = 7 };
		int err = 0;
		uint64_t committed = 0;

		close(fds[0]);
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		w = emt_writer_create(path, &o, NULL);
		if (!w || emt_writer_add_process(w, &p))
			_exit(3);
		for (uint64_t k = 1; k < 200 && !err; k++) {
			struct emt_region rg = { .process_id = p.id, .pid = 7,
						 .backing = EMT_BACKING_ANON,
						 .start = k << 24, .length = sizeof(buf) };
			struct emt_capture c = { .pid = 7, .trigger = EMT_TRIGGER_MPROTECT,
						 .addr = k << 24, .size = sizeof(buf) };

			err = emt_writer_add_region(w, &rg);
			if (err)
				break;
			c.region_id = rg.id;
			tl_fill_random(buf, sizeof(buf), k);    /* incompressible */
			err = emt_writer_add_capture(w, &c, buf, NULL, 0, NULL);
			if (!err && k % 16 == 0) {
				err = emt_writer_commit(w);
				if (!err)
					committed = c.seq;
			}
		}
		/* Later captures must either fail or be stored consistently
		 * (an old bug autocommitted them after the batch was lost,
		 * leaving a sequence gap and missing regions). */
		for (uint64_t k = 300; k < 303; k++) {
			struct emt_region rg = { .process_id = p.id, .pid = 7,
						 .backing = EMT_BACKING_ANON,
						 .start = k << 24, .length = 4096 };
			struct emt_capture c = { .pid = 7, .trigger = EMT_TRIGGER_MPROTECT,
						 .addr = k << 24, .size = 4096 };

			if (emt_writer_add_region(w, &rg) == 0) {
				c.region_id = rg.id;
				tl_fill_random(buf, 4096, k);
				emt_writer_add_capture(w, &c, buf, NULL, 0, NULL);
			}
		}
		int err2 = emt_writer_process_exit(w, p.id, 1, 0);
		int err3 = emt_writer_commit(w);
		char *msg = NULL;
		int err4 = emt_writer_close(w, &msg);
		uint64_t rep[5] = { committed, (uint64_t)-err, (uint64_t)-err2, (uint64_t)-err3,
				    (uint64_t)-err4 };

		free(msg);
		if (write(fds[1], rep, sizeof(rep)) != sizeof(rep))
			_exit(6);
		_exit(0);
	}
	close(fds[1]);
	uint64_t rep[5] = { 0 };
	int status;

	assert_int_equal(read(fds[0], rep, sizeof(rep)), sizeof(rep));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	print_message("disk full: %llu captures committed, errors %llu %llu %llu %llu\n",
		      (unsigned long long)rep[0], (unsigned long long)rep[1],
		      (unsigned long long)rep[2], (unsigned long long)rep[3],
		      (unsigned long long)rep[4]);
	assert_true(rep[0] >= 16);
	assert_true(rep[1] != 0);       /* the limit was hit */
	assert_true(rep[4] != 0);       /* no seal on a full disk */

	struct emt_reader *r = emt_reader_open(path, NULL);
	struct emt_summary s;
	static uint8_t got[256 << 10], want[256 << 10];

	assert_non_null(r);
	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.sealed, 0);
	assert_true(s.captures >= rep[0]);
	problems = 0;
	assert_int_equal(emt_reader_verify(r, report, NULL, NULL), 0);
	for (uint64_t seq = 1; seq <= s.captures && seq <= rep[0]; seq++) {
		tl_fill_random(want, sizeof(want), seq);
		assert_int_equal(emt_reader_read_capture(r, seq, got, sizeof(got), 0), 0);
		assert_memory_equal(got, want, sizeof(want));
	}
	emt_reader_close(r);
	free(path);
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
		cmocka_unit_test(test_kill9),
		cmocka_unit_test(test_quiet_writer),
		cmocka_unit_test(test_disk_full),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
