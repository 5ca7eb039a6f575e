/*
 * test_format.c - round trips through the archive library: every record
 * type written is read back and compared with what was written.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "emt_archive.h"
#include "tests/lib/tl.h"

struct expect {
	uint64_t seq;
	size_t size;
	uint8_t *data;
};

static void report_fail(void *ctx, const char *item, const char *msg)
{
	(void)ctx;
	print_error("verify: %s: %s\n", item, msg);
}

static struct emt_writer *mk_writer(const char *path, uint32_t chunk, uint32_t no_delta)
{
	struct emt_writer_opts o = { .sz = sizeof(o), .chunk_size = chunk, .no_delta = no_delta };
	char *msg = NULL;
	struct emt_writer *w = emt_writer_create(path, &o, &msg);

	if (!w)
		print_error("create %s: %s\n", path, msg ? msg : "?");
	free(msg);
	assert_non_null(w);
	return w;
}

static int64_t add_proc_region(struct emt_writer *w, uint32_t pid, uint64_t start, uint64_t len)
{
	struct emt_process p = { .pid = pid, .ppid = 1, .start_ns = 100, .exe = "/bin/true",
				 .cmdline = "true --x" };
	struct emt_region r = { .pid = pid, .backing = EMT_BACKING_ANON, .start = start,
				.length = len, .created_ns = 200, .prot = 7 };

	assert_int_equal(emt_writer_add_process(w, &p), 0);
	assert_true(p.id > 0);
	r.process_id = p.id;
	assert_int_equal(emt_writer_add_region(w, &r), 0);
	assert_true(r.id > 0);
	return r.id;
}

static void check_read(struct emt_reader *r, uint64_t seq, const uint8_t *want, size_t n)
{
	uint8_t *buf = malloc(n ? n : 1);
	struct emt_capture c;
	uint8_t h[EMT_SHA256_LEN];

	assert_non_null(buf);
	assert_int_equal(emt_reader_capture(r, seq, &c), 0);
	assert_int_equal(c.size, n);
	emt_sha256(want, n, h);
	assert_memory_equal(c.sha256, h, EMT_SHA256_LEN);
	if (emt_reader_read_capture(r, seq, buf, n, 0) != 0)
		print_error("read %llu: %s\n", (unsigned long long)seq, emt_reader_errmsg(r));
	assert_int_equal(emt_reader_read_capture(r, seq, buf, n, 0), 0);
	if (n)
		assert_memory_equal(buf, want, n);
	free(buf);

	/* Streaming path, through a memfd. */
	int fd = memfd_create("cap", 0);

	assert_true(fd >= 0);
	assert_int_equal(emt_reader_write_capture(r, seq, fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)n);
	if (n) {
		uint8_t *m = malloc(n);

		assert_int_equal(pread(fd, m, n, 0), (ssize_t)n);
		assert_memory_equal(m, want, n);
		free(m);
	}
	close(fd);
}

static void test_round_trip(void **state)
{
	char *path = tl_path("rt.emt");
	struct emt_writer *w = mk_writer(path, 0, 0);
	size_t n1 = 200000, n2 = 4096 * 3 + 17;
	uint8_t *d1 = calloc(1, n1), *d2 = malloc(n2);
	struct emt_gap gap = { .offset = 65536, .length = 8192, .reason = EMT_GAP_UNREADABLE,
			       .err = EFAULT };
	struct emt_regs_x86_64 regs, rregs;
	struct emt_capture c1 = { 0 }, c2 = { 0 }, c0 = { 0 }, c;
	struct emt_event ev = { .time_ns = 5, .pid = 42, .tid = 43, .syscall = "mprotect",
				.addr = 0x1000, .len = 4096, .prot = 5, .fd = -1, .detail = "x\x01y" };
	struct emt_loss l = { .time_ns = 9, .kind = "ringbuf", .count = 3, .pid = 42 };
	int64_t rid;
	(void)state;

	tl_fill_code(d1, n1, 1);
	memset(d1 + 65536, 0, 8192);
	tl_fill_random(d2, n2, 2);
	tl_fill_random(&regs, sizeof(regs), 3);

	rid = add_proc_region(w, 42, 0x7f0000000000ull, n1);
	assert_int_equal(emt_writer_set_meta(w, "mode", "bpf"), 0);
	assert_int_equal(emt_writer_set_meta(w, "format_major", "9"), -EINVAL);

	c1.region_id = rid; c1.pid = 42; c1.tid = 43; c1.trigger = EMT_TRIGGER_MPROTECT;
	c1.prot_before = 3; c1.prot_after = 5; c1.addr = 0x7f0000000000ull; c1.size = n1;
	c1.time_ns = 1000;
	assert_int_equal(emt_writer_add_capture(w, &c1, d1, &gap, 1, &regs), 0);
	assert_int_equal(c1.seq, 1);
	assert_int_equal(c1.version, 1);

	c2 = c1; c2.size = n2; c2.time_ns = 2000; c2.trigger = EMT_TRIGGER_EXIT;
	assert_int_equal(emt_writer_add_capture(w, &c2, d2, NULL, 0, NULL), 0);
	assert_int_equal(c2.seq, 2);
	assert_int_equal(c2.version, 2);

	/* Size-0 captures are allowed (SPEC.md): no chunks, hash of "". */
	c0 = c1; c0.size = 0; c0.time_ns = 3000;
	assert_int_equal(emt_writer_add_capture(w, &c0, NULL, NULL, 0, NULL), 0);
	assert_int_equal(c0.seq, 3);

	ev.seq = 1;
	assert_int_equal(emt_writer_add_event(w, &ev), 0);
	assert_int_equal(emt_writer_add_loss(w, &l), 0);
	assert_int_equal(emt_writer_add_loss(w, &l), 0);
	assert_int_equal(emt_writer_region_gone(w, rid, 4000), 0);
	assert_int_equal(emt_writer_process_exit(w, 1, 5000, 256), 0);

	char *msg = NULL;

	assert_int_equal(emt_writer_close(w, &msg), 0);
	free(msg);

	/* A clean close leaves one file. */
	char side[4096];
	struct stat st;

	snprintf(side, sizeof(side), "%s-wal", path);
	assert_int_equal(lstat(side, &st), -1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	struct emt_reader *r = emt_reader_open(path, &msg);

	if (!r)
		print_error("open: %s\n", msg);
	assert_non_null(r);
	struct emt_summary s;

	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.sealed, 1);
	assert_int_equal(s.captures, 3);
	assert_int_equal(s.processes, 1);
	assert_int_equal(s.regions, 1);
	assert_int_equal(s.events, 1);
	assert_int_equal(s.gaps, 1);
	assert_int_equal(s.losses, 6);
	assert_int_equal(s.raw_bytes, n1 + n2);
	assert_true(s.stop_ns >= s.start_ns && s.start_ns > 0);
	assert_string_equal(emt_reader_meta(r, "mode"), "bpf");
	assert_null(emt_reader_meta(r, "nope"));

	check_read(r, 1, d1, n1);
	check_read(r, 2, d2, n2);
	check_read(r, 3, d1, 0);

	assert_int_equal(emt_reader_regs(r, 1, &rregs), 0);
	assert_memory_equal(&rregs, &regs, sizeof(regs));
	assert_int_equal(emt_reader_regs(r, 2, &rregs), -ENOENT);

	struct emt_gap *gaps;
	size_t ng;

	assert_int_equal(emt_reader_gaps(r, 1, &gaps, &ng), 0);
	assert_int_equal(ng, 1);
	assert_int_equal(gaps[0].offset, 65536);
	assert_int_equal(gaps[0].length, 8192);
	assert_int_equal(gaps[0].reason, EMT_GAP_UNREADABLE);
	assert_int_equal(gaps[0].err, EFAULT);
	free(gaps);

	/* Iteration and filters. */
	struct emt_capture_iter *it = emt_reader_captures(r, NULL);
	uint64_t seqs = 0;
	int k = 0;

	while (emt_capture_iter_next(it, &c) == 1) {
		seqs = seqs * 10 + c.seq;
		k++;
	}
	emt_capture_iter_free(it);
	assert_int_equal(seqs, 123);
	struct emt_filter f = { .trigger = EMT_TRIGGER_EXIT };

	it = emt_reader_captures(r, &f);
	assert_int_equal(emt_capture_iter_next(it, &c), 1);
	assert_int_equal(c.seq, 2);
	assert_int_equal(c.trigger, EMT_TRIGGER_EXIT);
	assert_int_equal(c.addr, 0x7f0000000000ull);
	assert_int_equal(c.pid, 42);
	assert_int_equal(c.tid, 43);
	assert_int_equal(c.prot_before, 3);
	assert_int_equal(c.prot_after, 5);
	assert_int_equal(c.has_regs, 0);
	assert_int_equal(emt_capture_iter_next(it, &c), 0);
	emt_capture_iter_free(it);
	memset(&f, 0, sizeof(f));
	f.min_size = 100000;
	it = emt_reader_captures(r, &f);
	assert_int_equal(emt_capture_iter_next(it, &c), 1);
	assert_int_equal(c.seq, 1);
	assert_int_equal(c.ngaps, 1);
	assert_int_equal(c.has_regs, 1);
	assert_int_equal(emt_capture_iter_next(it, &c), 0);
	emt_capture_iter_free(it);
	/* Time filter is in wall ns: capture 2 at boot 2000. */
	memset(&f, 0, sizeof(f));
	f.since_ns = (uint64_t)emt_reader_wall_ns(r, 1500);
	f.until_ns = (uint64_t)emt_reader_wall_ns(r, 2500);
	it = emt_reader_captures(r, &f);
	assert_int_equal(emt_capture_iter_next(it, &c), 1);
	assert_int_equal(c.seq, 2);
	assert_int_equal(emt_capture_iter_next(it, &c), 0);
	emt_capture_iter_free(it);

	/* Rows. */
	struct emt_row_iter *ri = emt_reader_processes(r);
	struct emt_process p;

	assert_int_equal(emt_process_iter_next(ri, &p), 1);
	assert_int_equal(p.pid, 42);
	assert_string_equal(p.exe, "/bin/true");
	assert_string_equal(p.cmdline, "true --x");
	assert_int_equal(p.has_exit, 1);
	assert_int_equal(p.exit_status, 256);
	assert_int_equal(emt_process_iter_next(ri, &p), 0);
	emt_row_iter_free(ri);

	struct emt_region rg;

	ri = emt_reader_regions(r, 42);
	assert_int_equal(emt_region_iter_next(ri, &rg), 1);
	assert_int_equal(rg.nversions, 3);
	assert_int_equal(rg.gone_ns, 4000);
	assert_int_equal(rg.backing, EMT_BACKING_ANON);
	assert_int_equal(emt_region_iter_next(ri, &rg), 0);
	emt_row_iter_free(ri);
	ri = emt_reader_regions(r, 7);
	assert_int_equal(emt_region_iter_next(ri, &rg), 0);
	emt_row_iter_free(ri);
	assert_int_equal(emt_reader_region(r, rid, &rg), 0);
	assert_int_equal(rg.start, 0x7f0000000000ull);
	assert_int_equal(emt_reader_region(r, 99, &rg), -ENOENT);

	struct emt_event e;

	ri = emt_reader_events(r, 0);
	assert_int_equal(emt_event_iter_next(ri, &e), 1);
	assert_string_equal(e.syscall, "mprotect");
	assert_string_equal(e.detail, "x\x01y");
	assert_int_equal(e.seq, 1);
	assert_int_equal(e.fd, -1);
	assert_int_equal(emt_event_iter_next(ri, &e), 0);
	emt_row_iter_free(ri);

	struct emt_loss lo;

	ri = emt_reader_losses(r);
	assert_int_equal(emt_loss_iter_next(ri, &lo), 1);
	assert_string_equal(lo.kind, "ringbuf");
	assert_int_equal(lo.count, 6);
	assert_int_equal(emt_loss_iter_next(ri, &lo), 0);
	emt_row_iter_free(ri);

	struct emt_verify_stats vs;

	assert_int_equal(emt_reader_verify(r, report_fail, NULL, &vs), 0);
	assert_int_equal(vs.captures, 3);
	assert_int_equal(vs.ledger_entries, 3);
	assert_int_equal(vs.sealed, 1);
	emt_reader_close(r);
	free(d1);
	free(d2);
	free(path);
}

/* Chunks equal to the previous version's at the same offset are that
 * version's chunks, taken without hashing them: each version below reads
 * back byte for byte, verifies, and adds only the chunks that changed.
 * Covers the first base (decoded back from the archive), later bases (a
 * copy), a partial last chunk, a shorter and a longer version, and a
 * change in a chunk's last byte only. */
static void test_unchanged_chunks(void **state)
{
	char *path = tl_path("same.emt");
	struct emt_writer *w = mk_writer(path, 4096, 0);
	const uint64_t base = 0x7f0000000000ull;
	size_t cap = 4096 * 6 + 200, sizes[7];
	uint8_t *v[7];
	/* chunks added by each version */
	static const uint64_t want_new[7] = { 7, 1, 1, 0, 1, 1, 0 };
	struct emt_writer_stats st, prev = { 0 };
	int64_t rid;
	(void)state;

	rid = add_proc_region(w, 42, base, cap);
	for (int i = 0; i < 7; i++)
		assert_non_null(v[i] = malloc(cap));
	tl_fill_random(v[0], cap, 11);
	sizes[0] = 4096 * 6 + 100;
	memcpy(v[1], v[0], cap);
	v[1][2 * 4096 + 7] ^= 1;                /* chunk 2 */
	sizes[1] = sizes[0];
	memcpy(v[2], v[1], cap);
	v[2][5 * 4096] ^= 1;                    /* chunk 5 */
	sizes[2] = sizes[0];
	memcpy(v[3], v[2], cap);
	sizes[3] = 4096 * 6;                    /* the partial chunk gone */
	memcpy(v[4], v[3], cap);
	sizes[4] = 4096 * 6 + 200;              /* a new partial chunk */
	memcpy(v[5], v[4], cap);
	v[5][4095] ^= 0x80;                     /* chunk 0's last byte */
	sizes[5] = sizes[4];
	memcpy(v[6], v[5], cap);
	/* a shorter tail: the first version's last chunk again, found by
	 * its hash (not at the same length in version 6) */
	sizes[6] = 4096 * 6 + 100;

	for (int i = 0; i < 7; i++) {
		struct emt_capture c = { .region_id = rid, .pid = 42, .tid = 42,
					 .trigger = EMT_TRIGGER_MPROTECT, .prot_before = 3,
					 .prot_after = 5, .addr = base, .size = sizes[i],
					 .time_ns = 1000 + (uint64_t)i };

		assert_int_equal(emt_writer_add_capture(w, &c, v[i], NULL, 0, NULL), 0);
		emt_writer_stats(w, &st);
		if (st.chunks_new - prev.chunks_new != want_new[i])
			print_error("version %d: %llu new chunks\n", i + 1,
				    (unsigned long long)(st.chunks_new - prev.chunks_new));
		assert_int_equal(st.chunks_new - prev.chunks_new, want_new[i]);
		prev = st;
	}
	assert_int_equal(emt_writer_close(w, NULL), 0);

	struct emt_reader *r = emt_reader_open(path, NULL);
	struct emt_verify_stats vs;

	assert_non_null(r);
	for (int i = 0; i < 7; i++)
		check_read(r, (uint64_t)i + 1, v[i], sizes[i]);
	assert_int_equal(emt_reader_verify(r, report_fail, NULL, &vs), 0);
	assert_int_equal(vs.captures, 7);
	emt_reader_close(r);
	for (int i = 0; i < 7; i++)
		free(v[i]);
	free(path);
}

static void test_create_safety(void **state)
{
	char *path = tl_path("safe.emt"), *link = tl_path("link.emt");
	struct emt_writer_opts o = { .sz = sizeof(o) };
	struct emt_writer *w;
	char *msg = NULL;
	(void)state;

	assert_int_equal(tl_write_file(path, "x", 1), 0);
	w = emt_writer_create(path, NULL, &msg);
	assert_null(w);
	assert_int_equal(errno, EEXIST);
	assert_non_null(msg);
	free(msg);
	assert_int_equal(symlink(path, link), 0);
	o.flags = EMT_CREATE_FORCE;
	w = emt_writer_create(link, &o, NULL);
	assert_null(w);
	assert_int_equal(errno, ELOOP);
	w = emt_writer_create(path, &o, NULL);
	assert_non_null(w);
	assert_int_equal(emt_writer_close(w, NULL), 0);
	o.chunk_size = 1000;
	free(path);
	path = tl_path("bad.emt");
	w = emt_writer_create(path, &o, NULL);
	assert_null(w);
	assert_int_equal(errno, EINVAL);
	free(path);
	free(link);
}

static void test_not_archive(void **state)
{
	char *path = tl_path("plain.txt");
	char *msg = NULL;
	char junk[4096];
	(void)state;

	memset(junk, 'a', sizeof(junk));
	assert_int_equal(tl_write_file(path, junk, sizeof(junk)), 0);
	assert_null(emt_reader_open(path, &msg));
	assert_int_equal(errno, ENOTSUP);
	assert_non_null(strstr(msg, "not an emt archive"));
	free(msg);
	assert_null(emt_reader_open("/nonexistent/x.emt", NULL));
	assert_int_equal(errno, ENOENT);
	free(path);
}

static volatile sig_atomic_t usr1_handled;
static void on_usr1(int sig)
{
	(void)sig;
	usr1_handled = 1;
}

/* The writer's helper thread must not take process-directed signals that
 * the application waits for with sigtimedwait() (the ptrace engine does
 * so for SIGCHLD after the archive exists). */
static void test_helper_blocks_signals(void **state)
{
	char *path = tl_path("sig.emt");
	struct emt_writer *w = mk_writer(path, 0, 0);
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct timespec ts = { 2, 0 };
	sigset_t set, old;
	(void)state;

	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (int i = 0; i < 20; i++) {
		usr1_handled = 0;
		kill(getpid(), SIGUSR1);
		assert_int_equal(sigtimedwait(&set, NULL, &ts), SIGUSR1);
		assert_int_equal(usr1_handled, 0);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	signal(SIGUSR1, SIG_DFL);
	assert_int_equal(emt_writer_close(w, NULL), 0);
	free(path);
}

/* The worked ledger-v2 computation of SPEC.md section 9: the writer's
 * entry for this exact capture must be the one printed there (an
 * independent implementation, tests/integration/spec_reader.py, checks
 * the same vector from the SPEC's own text). */
static void test_ledger_vector(void **state)
{
	static const char entry_hex[] =
		"a24872d707bb313b9842efdc9274bf8888b5b37be51c2d7bf0366b07ddbf2e0b";
	char *path = tl_path("vector.emt");
	struct emt_writer *w = mk_writer(path, 0, 0);
	struct emt_process p = { .pid = 1000, .ppid = 1, .start_ns = 10, .exe = "/usr/bin/jit",
				 .cmdline = "jit -x" };
	struct emt_region rg = { .pid = 1000, .backing = EMT_BACKING_MEMFD,
				 .start = 0x7f0000000000ull, .length = 8192, .created_ns = 4000,
				 .path = "memfd:jit (deleted)", .inode = 4711, .dev = 2049, .prot = 7 };
	struct emt_capture c = { .pid = 1000, .tid = 1001, .trigger = EMT_TRIGGER_MPROTECT,
				 .prot_before = 3, .prot_after = 5, .addr = 0x7f0000000000ull,
				 .size = 8192, .time_ns = 5000 };
	struct emt_gap gap = { .offset = 4096, .length = 4096, .reason = EMT_GAP_UNREADABLE,
			       .err = 14 };
	struct emt_regs_x86_64 regs;
	uint64_t *rv = (uint64_t *)&regs;
	uint8_t data[8192], head[EMT_SHA256_LEN], seal[EMT_SHA256_LEN];
	char hex[2 * EMT_SHA256_LEN + 1];
	(void)state;

	for (size_t i = 0; i < sizeof(regs) / 8; i++)
		rv[i] = i;
	memset(data, 0xc3, 4096);
	memset(data + 4096, 0, 4096);
	assert_int_equal(emt_writer_ledger_head(w, head), 0);
	emt_hex(head, sizeof(head), hex);
	assert_string_equal(hex, "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(emt_writer_add_process(w, &p), 0);
	assert_int_equal(p.id, 1);
	rg.process_id = p.id;
	assert_int_equal(emt_writer_add_region(w, &rg), 0);
	assert_int_equal(rg.id, 1);
	c.region_id = rg.id;
	assert_int_equal(emt_writer_add_capture(w, &c, data, &gap, 1, &regs), 0);
	assert_int_equal(emt_writer_ledger_head(w, head), 0);
	emt_hex(head, sizeof(head), hex);
	assert_string_equal(hex, entry_hex);
	assert_int_equal(emt_writer_close_seal(w, seal, NULL), 0);

	struct emt_reader *r = emt_reader_open(path, NULL);

	assert_non_null(r);
	assert_string_equal(emt_reader_meta(r, "seal_ledger_head"), entry_hex);
	emt_hex(seal, sizeof(seal), hex);
	assert_string_equal(emt_reader_meta(r, "seal_sha256"), hex);
	assert_string_equal(emt_reader_meta(r, "features_required"), "zstd,zstd-delta,ledger-v2");
	assert_int_equal(emt_reader_verify(r, report_fail, NULL, NULL), 0);
	emt_reader_close(r);
	free(path);
}

/* The triggers 1.2 added (SPEC.md section 6) are written, read back and
 * pass verification: the 1.2 captures statement admits them. */
static void test_triggers_1_2(void **state)
{
	char *path = tl_path("trig12.emt");
	struct emt_writer *w = mk_writer(path, 0, 0);
	int64_t rid = add_proc_region(w, 5, 0x10000, 0x2000);
	uint8_t buf[0x1000];
	struct emt_capture c = { .region_id = rid, .pid = 5, .trigger = EMT_TRIGGER_INJECT,
				 .addr = 0x10000, .size = 0x1000 };
	struct emt_summary s;
	(void)state;

	memset(buf, 0x90, sizeof(buf));
	assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), 0);
	c.trigger = EMT_TRIGGER_ALERT;
	c.addr = 0x11000;
	assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), 0);
	assert_int_equal(emt_writer_close(w, NULL), 0);

	struct emt_reader *r = emt_reader_open(path, NULL);
	struct emt_capture_iter *it;

	assert_non_null(r);
	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.format_minor, 2);
	it = emt_reader_captures(r, NULL);
	assert_int_equal(emt_capture_iter_next(it, &c), 1);
	assert_int_equal(c.trigger, EMT_TRIGGER_INJECT);
	assert_int_equal(emt_capture_iter_next(it, &c), 1);
	assert_int_equal(c.trigger, EMT_TRIGGER_ALERT);
	emt_capture_iter_free(it);
	assert_string_equal(emt_trigger_name(EMT_TRIGGER_INJECT), "inject");
	assert_string_equal(emt_trigger_name(EMT_TRIGGER_ALERT), "alert");
	assert_int_equal(emt_reader_verify(r, report_fail, NULL, NULL), 0);
	emt_reader_close(r);
	free(path);
}

/* What the writer refuses, so that it never writes what verify calls
 * damage: captures outside their region, gaps off a page, regions of a
 * process that is not in, regions that wrap. */
static void test_writer_refuses(void **state)
{
	char *path = tl_path("refuse.emt");
	struct emt_writer *w = mk_writer(path, 0, 0);
	int64_t rid = add_proc_region(w, 5, 0x10000, 0x4000);
	uint8_t buf[0x5000] = { 0 };
	struct emt_capture c = { .region_id = rid, .pid = 5, .trigger = EMT_TRIGGER_MPROTECT,
				 .addr = 0x10000, .size = 0x4000 };
	struct emt_gap g = { .offset = 100, .length = 4096, .reason = EMT_GAP_UNREADABLE };
	struct emt_region bad = { .process_id = 99, .pid = 5, .backing = EMT_BACKING_ANON,
				  .start = 0x1000, .length = 0x1000 };
	(void)state;

	assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), 0);
	c.addr = 0xf000;
	assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), -EINVAL);
	c.addr = 0x11000;
	assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), -EINVAL);
	c.size = 0x3000;
	assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), 0);
	c.addr = 0x14000;
	c.size = 0;
	assert_int_equal(emt_writer_add_capture(w, &c, buf, NULL, 0, NULL), 0);
	c.addr = 0x10000;
	c.size = 0x2000;
	assert_int_equal(emt_writer_add_capture(w, &c, buf, &g, 1, NULL), -EINVAL);
	assert_non_null(strstr(emt_writer_errmsg(w), "page aligned"));
	g.offset = 4096;
	assert_int_equal(emt_writer_add_capture(w, &c, buf, &g, 1, NULL), 0);
	assert_int_equal(emt_writer_add_region(w, &bad), -ENOENT);
	bad.process_id = 1;
	bad.start = 0xfffffffffffff000ull;
	bad.length = 0x2000;
	assert_int_equal(emt_writer_add_region(w, &bad), -EINVAL);
	bad.length = 0x1000;
	assert_int_equal(emt_writer_add_region(w, &bad), 0);
	assert_int_equal(emt_writer_close(w, NULL), 0);

	struct emt_reader *r = emt_reader_open(path, NULL);

	assert_non_null(r);
	assert_int_equal(emt_reader_verify(r, report_fail, NULL, NULL), 0);
	emt_reader_close(r);
	free(path);
}

/* A capture that fails after some of its rows are in (two gaps at one
 * offset: the second gap row breaks the gaps table's key, after the
 * chunks, chunk list and capture row went in) leaves nothing of itself:
 * the next capture takes its seq, stores the same bytes as new chunks
 * (none deduplicated against the removed ones), and the archive
 * verifies (no chunk without a capture). */
static void test_capture_fails_part_way(void **state)
{
	char *path = tl_path("partway.emt");
	struct emt_writer *w = mk_writer(path, 4096, 0);
	int64_t rid = add_proc_region(w, 5, 0x10000, 0x4000);
	static uint8_t a[0x4000], b[0x4000];
	struct emt_capture c = { .region_id = rid, .pid = 5, .trigger = EMT_TRIGGER_MPROTECT,
				 .addr = 0x10000, .size = 0x4000 };
	struct emt_gap g[2] = {
		{ .offset = 4096, .length = 4096, .reason = EMT_GAP_UNREADABLE },
		{ .offset = 4096, .length = 4096, .reason = EMT_GAP_UNREADABLE },
	};
	(void)state;

	tl_fill_random(a, sizeof(a), 1);
	tl_fill_random(b, sizeof(b), 2);
	memset(b + 4096, 0, 4096);
	assert_int_equal(emt_writer_add_capture(w, &c, a, NULL, 0, NULL), 0);
	assert_int_equal(c.seq, 1);
	assert_int_not_equal(emt_writer_add_capture(w, &c, b, g, 2, NULL), 0);
	assert_int_equal(c.seq, 0);
	assert_int_equal(emt_writer_add_capture(w, &c, b, NULL, 0, NULL), 0);
	assert_int_equal(c.seq, 2);
	assert_int_equal(c.version, 2);
	assert_int_equal(emt_writer_close(w, NULL), 0);

	struct emt_reader *r = emt_reader_open(path, NULL);
	struct emt_summary s;

	assert_non_null(r);
	assert_int_equal(emt_reader_verify(r, report_fail, NULL, NULL), 0);
	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.captures, 2);
	assert_int_equal(s.gaps, 0);
	check_read(r, 1, a, sizeof(a));
	check_read(r, 2, b, sizeof(b));
	emt_reader_close(r);
	free(path);
}

/* The reader opens a sealed archive through a file: URI that
 * percent-encodes its path.  A path made of nothing but bytes that need
 * encoding gives the longest URI for its length (3 bytes a byte), the
 * case an undersized buffer would get wrong (under ASan: at once). */
static void test_open_escaped_path(void **state)
{
	static const char bad[] = "%?# \x01\x7f\xff";
	char name[200 + 1], *dir, *path;
	size_t n = 0;
	(void)state;

	while (n + sizeof(bad) - 1 < sizeof(name))
		for (size_t i = 0; i < sizeof(bad) - 1; i++)
			name[n++] = bad[i];
	name[n] = '\0';
	dir = tl_path(name);
	assert_int_equal(mkdir(dir, 0700), 0);
	path = malloc(strlen(dir) + sizeof("/%#?.emt"));
	assert_non_null(path);
	snprintf(path, strlen(dir) + sizeof("/%#?.emt"), "%s/%%#?.emt", dir);

	struct emt_writer *w = mk_writer(path, 0, 0);

	add_proc_region(w, 7, 0x10000, 0x1000);
	assert_int_equal(emt_writer_close(w, NULL), 0);

	char *msg = NULL;
	struct emt_reader *r = emt_reader_open(path, &msg);

	if (!r)
		print_error("open: %s\n", msg ? msg : "?");
	free(msg);
	assert_non_null(r);
	assert_int_equal(emt_reader_verify(r, report_fail, NULL, NULL), 0);
	emt_reader_close(r);
	free(path);
	free(dir);
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
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_unchanged_chunks),
		cmocka_unit_test(test_create_safety),
		cmocka_unit_test(test_not_archive),
		cmocka_unit_test(test_helper_blocks_signals),
		cmocka_unit_test(test_ledger_vector),
		cmocka_unit_test(test_writer_refuses),
		cmocka_unit_test(test_capture_fails_part_way),
		cmocka_unit_test(test_triggers_1_2),
		cmocka_unit_test(test_open_escaped_path),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
