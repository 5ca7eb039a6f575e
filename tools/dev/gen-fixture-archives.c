/*
 * gen-fixture-archives - writes the sample and hostile archives the reader
 * tests use, through the format library's writer API only.
 *
 *   gen-fixture-archives [-f] DIR         sample + hostile archives in DIR
 *   gen-fixture-archives --many N FILE    one archive of N captures (bench)
 *
 * Everything the tests compare is fixed here (pids, addresses, bytes,
 * times relative to the archive's start, host and kernel meta); what the
 * library stamps itself (start time, boot id) varies between runs, so the
 * golden tests normalise wall-clock times.
 *
 * The hostile archives that need changes inside the database (sizes that
 * disagree, missing chunks, planted triggers, a zstd bomb ...) are made
 * with SQLite directly: this developer program plays the attacker; the
 * reader tools themselves never use SQL.  The byte patterns below are
 * the ground truth of the emt-diff tests: keep tests/integration/
 * test_readers*.sh in step with them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zstd.h>

#include "emt_archive.h"

#define MS 1000000ull

static const char *prog = "gen-fixture-archives";
static int force;
static uint64_t t0;     /* CLOCK_BOOTTIME right after create */

static void __attribute__((noreturn)) die(const char *what, const char *msg)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, msg ? msg : strerror(errno));
	exit(1);
}

static uint64_t boottime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct emt_writer *create(const char *dir, const char *name)
{
	struct emt_writer_opts o = { .sz = sizeof(o) };
	char path[4096], *msg = NULL;
	struct emt_writer *w;

	o.flags = force ? EMT_CREATE_FORCE : 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	w = emt_writer_create(path, &o, &msg);
	if (!w)
		die(path, msg);
	t0 = boottime();
	return w;
}

static void ck(struct emt_writer *w, int rc, const char *what)
{
	if (rc < 0)
		die(what, emt_writer_errmsg(w));
}

static void meta(struct emt_writer *w, const char *k, const char *v)
{
	ck(w, emt_writer_set_meta(w, k, v), k);
}

static int64_t process(struct emt_writer *w, uint32_t pid, uint32_t ppid,
		       const char *exe, const char *cmdline, uint64_t at)
{
	struct emt_process p = { .pid = pid, .ppid = ppid, .start_ns = t0 + at,
				 .exe = exe, .cmdline = cmdline };

	ck(w, emt_writer_add_process(w, &p), "add process");
	return p.id;
}

static int64_t region(struct emt_writer *w, int64_t proc, uint32_t pid,
		      uint32_t backing, uint64_t start, uint64_t len,
		      uint32_t prot, const char *path, uint64_t at)
{
	struct emt_region r = { .process_id = proc, .pid = pid, .backing = backing,
				.start = start, .length = len, .created_ns = t0 + at,
				.path = path, .prot = prot };

	if (path) {
		r.inode = 4711;
		r.dev = 0x801;
	}
	ck(w, emt_writer_add_region(w, &r), "add region");
	return r.id;
}

static uint64_t capture(struct emt_writer *w, int64_t rid, uint32_t pid,
			uint32_t tid, uint32_t trigger, uint32_t before,
			uint32_t after, uint64_t addr, uint64_t size, uint64_t at,
			const void *data, const struct emt_gap *gaps, size_t ngaps,
			const struct emt_regs_x86_64 *regs)
{
	struct emt_capture c = { .region_id = rid, .pid = pid, .tid = tid,
				 .trigger = trigger, .prot_before = before,
				 .prot_after = after, .addr = addr, .size = size,
				 .time_ns = t0 + at };

	ck(w, emt_writer_add_capture(w, &c, data, gaps, ngaps, regs), "add capture");
	return c.seq;
}

static void event(struct emt_writer *w, uint32_t pid, uint32_t tid,
		  const char *sc, uint64_t addr, uint64_t len, uint64_t prot,
		  uint64_t seq, const char *detail, uint64_t at)
{
	struct emt_event e = { .time_ns = t0 + at, .pid = pid, .tid = tid,
			       .syscall = sc, .addr = addr, .len = len,
			       .prot = prot, .flags = 0x22, .fd = -1, .ret = 0,
			       .seq = seq, .detail = detail };

	ck(w, emt_writer_add_event(w, &e), "add event");
}

static void finish(struct emt_writer *w, const char *what)
{
	char *msg = NULL;

	if (emt_writer_close(w, &msg) < 0)
		die(what, msg);
}

/* ------------------------------------------------------------------ */
/* sample.emt: two processes, five regions, eight captures.            */

#define R1 0x7f00dead0000ull   /* anon, 3 versions (polymorphic) */
#define R2 0x7f00beef0000ull   /* memfd, first-exec fault with registers */
#define R3 0x7f00cafe0000ull   /* child's anon region with a gap, at exit */
#define R4 0x7f00dead1000ull   /* remapped over R1's second page, munmap */
#define R5 0x7f00f00d0000ull   /* 2 versions with changes 4 bytes apart */

/* push rbp; mov rbp,rsp; mov eax,1; pop rbp; ret */
static const uint8_t fn_v1[] = { 0x55, 0x48, 0x89, 0xe5, 0xb8, 0x01, 0x00,
				 0x00, 0x00, 0x5d, 0xc3 };
/* xor rax,rax; inc rax; ret; nop */
static const uint8_t page2_v2[] = { 0x48, 0x31, 0xc0, 0x48, 0xff, 0xc0, 0xc3, 0x90 };
/* jmp R1+0x1000 (rel32 = 0x1000 - 0x25) */
static const uint8_t jmp_v3[] = { 0xe9, 0xdb, 0x0f, 0x00, 0x00 };
/* xor eax,eax; mov ecx,0x29; add eax,0x90a5cb3b; dec ecx; jne -9; ret
 * (fx_poly's loop); v2 changes the count and the addend */
static const uint8_t loop_v1[] = { 0x31, 0xc0, 0xb9, 0x29, 0x00, 0x00, 0x00, 0x05,
				   0x3b, 0xcb, 0xa5, 0x90, 0xff, 0xc9, 0x75, 0xf7, 0xc3 };
static const uint8_t loop_v2_count = 0x39;
static const uint8_t loop_v2_add[] = { 0x95, 0x9f, 0xd1, 0x68 };
/* mov rax,60; xor edi,edi; syscall */
static const uint8_t exit_code[] = { 0x48, 0xc7, 0xc0, 0x3c, 0x00, 0x00, 0x00,
				     0x31, 0xff, 0x0f, 0x05 };

static void gen_sample(const char *dir)
{
	struct emt_writer *w = create(dir, "sample.emt");
	static uint8_t v[3][0x2000], m[0x1000], c3[0x3000], c4[0x2000], l[2][0x1000];
	struct emt_regs_x86_64 regs;
	struct emt_gap gap = { .offset = 0x1000, .length = 0x1000,
			       .reason = EMT_GAP_UNREADABLE, .err = EFAULT };
	struct emt_loss loss = { .kind = "ringbuf", .count = 3, .pid = 4242 };
	int64_t p1, p2, r1, r2, r3, r4, r5;
	uint64_t s;
	const uint32_t RX = PROT_READ | PROT_EXEC, RW = PROT_READ | PROT_WRITE;

	meta(w, "mode", "ptrace");
	meta(w, "target_cmdline", "fx_poly --rounds 3");
	meta(w, "options", "--mode ptrace -o sample.emt -- fx_poly --rounds 3");
	meta(w, "host", "fixture-host");
	meta(w, "kernel", "6.1.0-fixture");

	/* Region 1: v1 function at 0x10; v2 changes the immediate (1 byte at
	 * 0x15) and writes 7 bytes at 0x1000; v3 writes a jmp at 0x20. */
	memset(v[0], 0x90, sizeof(v[0]));
	memcpy(v[0] + 0x10, fn_v1, sizeof(fn_v1));
	memcpy(v[1], v[0], sizeof(v[0]));
	v[1][0x15] = 0x2a;
	memcpy(v[1] + 0x1000, page2_v2, sizeof(page2_v2));
	memcpy(v[2], v[1], sizeof(v[1]));
	memcpy(v[2] + 0x20, jmp_v3, sizeof(jmp_v3));

	memset(m, 0xcc, sizeof(m));
	memcpy(m + 0x20, exit_code, sizeof(exit_code));
	memset(c3, 0xc3, 0x1000);               /* gap page stays zero */
	memset(c3 + 0x2000, 0xcc, 0x1000);
	memcpy(c4, v[2] + 0x1000, 0x1000);
	memset(c4 + 0x1000, 0xcc, 0x1000);
	memset(&regs, 0, sizeof(regs));
	regs.rip = R2 + 0x20;
	regs.rsp = 0x7ffc00001000;
	regs.cs = 0x33;
	regs.ss = 0x2b;
	regs.eflags = 0x246;
	regs.fault_addr = R2 + 0x20;

	p1 = process(w, 4242, 1, "/usr/lib/emt/fx_poly", "fx_poly --rounds 3", 1 * MS);
	p2 = process(w, 4243, 4242, "/usr/lib/emt/fx_poly", "fx_poly --child", 3 * MS);
	r1 = region(w, p1, 4242, EMT_BACKING_ANON, R1, 0x2000, RX, NULL, 2 * MS);
	event(w, 4242, 4242, "mmap", R1, 0x2000, RW, 0, NULL, 2 * MS);
	s = capture(w, r1, 4242, 4242, EMT_TRIGGER_MPROTECT, RW, RX, R1, 0x2000,
		    10 * MS, v[0], NULL, 0, NULL);
	event(w, 4242, 4242, "mprotect", R1, 0x2000, RX, s, NULL, 10 * MS);
	r2 = region(w, p1, 4242, EMT_BACKING_MEMFD, R2, 0x1000, RX,
		    "memfd:jit-code (deleted)", 12 * MS);
	event(w, 4242, 4242, "mmap", R2, 0x1000, RX, 0, "memfd:jit-code", 12 * MS);
	capture(w, r2, 4242, 4244, EMT_TRIGGER_FIRST_EXEC_FAULT, RX, RX, R2,
		0x1000, 15 * MS, m, NULL, 0, &regs);
	s = capture(w, r1, 4242, 4244, EMT_TRIGGER_MPROTECT, RW, RX, R1, 0x2000,
		    20 * MS, v[1], NULL, 0, NULL);
	event(w, 4242, 4244, "mprotect", R1, 0x2000, RX, s, NULL, 20 * MS);
	r3 = region(w, p2, 4243, EMT_BACKING_ANON, R3, 0x3000,
		    PROT_READ | PROT_WRITE | PROT_EXEC, NULL, 22 * MS);
	capture(w, r3, 4243, 4243, EMT_TRIGGER_EXIT, RX | PROT_WRITE,
		RX | PROT_WRITE, R3, 0x3000, 25 * MS, c3, &gap, 1, NULL);
	event(w, 4243, 4243, "exit", 0, 0, 0, 4, "status 0", 25 * MS);
	ck(w, emt_writer_process_exit(w, p2, t0 + 25 * MS, 0), "process exit");
	ck(w, emt_writer_region_gone(w, r3, t0 + 25 * MS), "region gone");
	s = capture(w, r1, 4242, 4242, EMT_TRIGGER_MPROTECT, RW, RX, R1, 0x2000,
		    30 * MS, v[2], NULL, 0, NULL);
	event(w, 4242, 4242, "mprotect", R1, 0x2000, RX, s, NULL, 30 * MS);
	ck(w, emt_writer_region_gone(w, r1, t0 + 32 * MS), "region gone");
	r4 = region(w, p1, 4242, EMT_BACKING_ANON, R4, 0x2000, RX, NULL, 32 * MS);
	s = capture(w, r4, 4242, 4242, EMT_TRIGGER_MUNMAP, RX, 0, R4, 0x2000,
		    35 * MS, c4, NULL, 0, NULL);
	event(w, 4242, 4242, "munmap", R4, 0x2000, 0, s, NULL, 35 * MS);

	/* Region 5: two changes close enough to share one diff hunk. */
	memset(l[0], 0xcc, sizeof(l[0]));
	memcpy(l[0], loop_v1, sizeof(loop_v1));
	memcpy(l[1], l[0], sizeof(l[0]));
	l[1][3] = loop_v2_count;
	memcpy(l[1] + 8, loop_v2_add, sizeof(loop_v2_add));
	r5 = region(w, p1, 4242, EMT_BACKING_ANON, R5, 0x1000, RX, NULL, 36 * MS);
	capture(w, r5, 4242, 4242, EMT_TRIGGER_MPROTECT, RW, RX, R5, 0x1000,
		37 * MS, l[0], NULL, 0, NULL);
	capture(w, r5, 4242, 4242, EMT_TRIGGER_MPROTECT, RW, RX, R5, 0x1000,
		38 * MS, l[1], NULL, 0, NULL);
	loss.time_ns = t0 + 33 * MS;
	ck(w, emt_writer_add_loss(w, &loss), "add loss");
	/* the times above are in the near future: let them pass, so that
	 * the stop time the library records comes after them */
	usleep(40 * 1000);
	finish(w, "sample.emt");
}

/* Strings a hostile target controls, full of terminal escapes, fake
 * table rows, bidi overrides and bytes that are not UTF-8. */
static void gen_hostile_strings(const char *dir)
{
	struct emt_writer *w = create(dir, "hostile-strings.emt");
	static uint8_t code[0x1000];
	int64_t p, r;
	uint64_t s;

	memset(code, 0xc3, sizeof(code));
	meta(w, "mode", "bpf\x1b[2J\x1b[H");
	meta(w, "target_cmdline", "evil \x1b[31mRED\x1b[0m\n     1      1   1 fake-row\t\xff\xfe\"quoted\"\\");
	meta(w, "host", "host\r\x07\xc3\x28");
	meta(w, "kernel", "6.1\xe2\x80\xae" "cba");
	p = process(w, 666, 1, "/tmp/\x1b]0;pwned\x07", "evil\n\x01\x7f\xc0\xaf", MS);
	r = region(w, p, 666, EMT_BACKING_FILE, 0x400000, 0x1000,
		   PROT_READ | PROT_EXEC, "/tmp/a\nb\x1b[1m\xe2\x80\xae\xed\xa0\x80\xf4\x90\x80\x80.so", 2 * MS);
	s = capture(w, r, 666, 666, EMT_TRIGGER_MMAP, 0, PROT_READ | PROT_EXEC,
		    0x400000, 0x1000, 3 * MS, code, NULL, 0, NULL);
	event(w, 666, 666, "mm\x1b[7map", 0x400000, 0x1000, PROT_READ | PROT_EXEC, s,
	      "\x1b]52;c;cm0gLXJmIH4=\x07 detail\x9b" "31m", 3 * MS);
	finish(w, "hostile-strings.emt");
}

/* Committed captures, then a writer that never closes: what a crash
 * leaves.  Readers must show it as unsealed, not as damaged. */
static void gen_unsealed(const char *dir)
{
	struct emt_writer *w = create(dir, "unsealed.emt");
	static uint8_t code[0x1000];
	int64_t p, r;

	memset(code, 0x90, sizeof(code));
	meta(w, "mode", "bpf");
	meta(w, "target_cmdline", "crashed-session");
	meta(w, "host", "fixture-host");
	meta(w, "kernel", "6.1.0-fixture");
	p = process(w, 5000, 1, "/bin/true", "true", MS);
	r = region(w, p, 5000, EMT_BACKING_ANON, 0x10000000, 0x1000,
		   PROT_READ | PROT_EXEC, NULL, 2 * MS);
	capture(w, r, 5000, 5000, EMT_TRIGGER_MPROTECT, PROT_READ | PROT_WRITE,
		PROT_READ | PROT_EXEC, 0x10000000, 0x1000, 3 * MS, code, NULL, 0, NULL);
	code[0] = 0xc3;
	capture(w, r, 5000, 5000, EMT_TRIGGER_MPROTECT, PROT_READ | PROT_WRITE,
		PROT_READ | PROT_EXEC, 0x10000000, 0x1000, 4 * MS, code, NULL, 0, NULL);
	ck(w, emt_writer_commit(w), "commit");
	emt_writer_abandon(w);
}

/* What SIGKILL leaves: committed captures in the WAL beside the file,
 * the connection never closed.  Exits the process. */
static void __attribute__((noreturn)) gen_crash(const char *path)
{
	struct emt_writer_opts o = { .sz = sizeof(o) };
	static uint8_t code[0x1000];
	char *msg = NULL;
	struct emt_writer *w;
	int64_t p, r;

	o.flags = force ? EMT_CREATE_FORCE : 0;
	w = emt_writer_create(path, &o, &msg);
	if (!w)
		die(path, msg);
	t0 = boottime();
	meta(w, "mode", "ptrace");
	meta(w, "target_cmdline", "killed-session");
	p = process(w, 6000, 1, "/bin/victim", "victim", MS);
	r = region(w, p, 6000, EMT_BACKING_ANON, 0x20000000, 0x1000,
		   PROT_READ | PROT_EXEC, NULL, 2 * MS);
	for (int i = 0; i < 3; i++) {
		memset(code, 0x90 + i, sizeof(code));
		capture(w, r, 6000, 6000, EMT_TRIGGER_MPROTECT, PROT_READ | PROT_WRITE,
			PROT_READ | PROT_EXEC, 0x20000000, 0x1000, (3 + i) * MS, code,
			NULL, 0, NULL);
	}
	ck(w, emt_writer_commit(w), "commit");
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* --spec-cases: archives for the independent reader's edge cases      */
/* (tests/integration/test_format_spec_reader.sh).                     */

static struct emt_writer *create_chunked(const char *dir, const char *name, uint32_t chunk)
{
	struct emt_writer_opts o = { .sz = sizeof(o), .chunk_size = chunk };
	char path[4096], *msg = NULL;
	struct emt_writer *w;

	o.flags = force ? EMT_CREATE_FORCE : 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	w = emt_writer_create(path, &o, &msg);
	if (!w)
		die(path, msg);
	t0 = boottime();
	return w;
}

/* Fills `n` bytes with code-like content from `seed` (xorshift over a
 * few instruction patterns: compressible, and distinct per seed). */
static void fill_code(uint8_t *p, size_t n, uint64_t seed)
{
	static const uint8_t pat[][4] = { { 0x48, 0x89, 0xe5, 0x90 }, { 0x55, 0xc3, 0xcc, 0x90 },
					  { 0xe8, 0x00, 0x00, 0x00 }, { 0x0f, 0x1f, 0x40, 0x00 } };
	uint64_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i += 4) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		for (size_t k = 0; k < 4 && i + k < n; k++)
			p[i + k] = x % 5 ? pat[x % 4][k] : (uint8_t)(x >> (8 * k));
	}
}

static void gen_spec_cases(const char *dir)
{
	static uint8_t buf[0x4000];
	struct emt_gap gap = { .offset = 0x1000, .length = 0x1000,
			       .reason = EMT_GAP_UNMAPPED, .err = 0 };
	struct emt_regs_x86_64 regs = { .rip = 0x30001000, .rsp = 0x7ffc0000, .fault_addr = 0x30001000 };
	const uint32_t RX = PROT_READ | PROT_EXEC, RW = PROT_READ | PROT_WRITE;
	struct emt_writer *w;
	int64_t p, r;

	if (mkdir(dir, 0755) && errno != EEXIST)
		die(dir, NULL);
	/* A size-0 capture (range vanished) between ordinary ones. */
	w = create_chunked(dir, "zero.emt", 0);
	p = process(w, 8000, 1, "/bin/zero", "zero", MS);
	r = region(w, p, 8000, EMT_BACKING_ANON, 0x30000000, sizeof(buf), RX, NULL, 2 * MS);
	fill_code(buf, sizeof(buf), 1);
	capture(w, r, 8000, 8000, EMT_TRIGGER_MPROTECT, RW, RX, 0x30000000, sizeof(buf),
		3 * MS, buf, NULL, 0, NULL);
	capture(w, r, 8000, 8000, EMT_TRIGGER_MUNMAP, RX, 0, 0x30000000, 0, 4 * MS, NULL,
		NULL, 0, NULL);
	memset(buf + 0x1000, 0, 0x1000);
	capture(w, r, 8000, 8001, EMT_TRIGGER_FIRST_EXEC_FAULT, RW, RX, 0x30000000, 0x2000,
		5 * MS, buf, &gap, 1, &regs);
	capture(w, r, 8000, 8000, EMT_TRIGGER_EXIT, RX, RX, 0x30003000, 0, 6 * MS, NULL,
		NULL, 0, NULL);
	finish(w, "zero.emt");

	/* 1 MiB chunks (the largest allowed): versions of 2.5 MiB that
	 * change a few bytes (deltas against a 1 MiB base), one of
	 * exactly 1 MiB. */
	size_t n = (5u << 20) / 2;
	uint8_t *big = malloc(n);

	if (!big)
		die("mib.emt", "out of memory");
	w = create_chunked(dir, "mib.emt", 1u << 20);
	p = process(w, 8100, 1, "/bin/mib", "mib", MS);
	r = region(w, p, 8100, EMT_BACKING_ANON, 0x40000000, 4u << 20, RX, NULL, 2 * MS);
	fill_code(big, n, 2);
	for (int v = 0; v < 3; v++) {
		for (int k = 0; k < 16; k++)
			big[((size_t)v * 7919 + (size_t)k * 160001) % n] ^= (uint8_t)(v + 1);
		capture(w, r, 8100, 8100, EMT_TRIGGER_MPROTECT, RW, RX, 0x40000000, n,
			(3 + (uint64_t)v) * MS, big, NULL, 0, NULL);
	}
	capture(w, r, 8100, 8100, EMT_TRIGGER_SAMPLE, RX, RX, 0x40000000, 1u << 20,
		7 * MS, big, NULL, 0, NULL);
	free(big);
	finish(w, "mib.emt");
}

/* --hold: what a SIGKILL leaves, for real: commits captures, says so on
 * stdout, adds one more and waits to be killed (the caller sends
 * SIGKILL; nothing here closes the archive). */
static void __attribute__((noreturn)) gen_hold(const char *path)
{
	struct emt_writer_opts o = { .sz = sizeof(o) };
	static uint8_t code[0x3000];
	struct emt_gap gap = { .offset = 0x1000, .length = 0x1000,
			       .reason = EMT_GAP_UNREADABLE, .err = EFAULT };
	struct emt_regs_x86_64 regs = { .rip = 0x50000010, .rsp = 0x7ffc1000 };
	const uint32_t RX = PROT_READ | PROT_EXEC, RW = PROT_READ | PROT_WRITE;
	char *msg = NULL;
	struct emt_writer *w;
	int64_t p, r;
	int i;

	o.flags = force ? EMT_CREATE_FORCE : 0;
	w = emt_writer_create(path, &o, &msg);
	if (!w)
		die(path, msg);
	t0 = boottime();
	meta(w, "mode", "ptrace");
	meta(w, "target_cmdline", "killed-for-real");
	p = process(w, 9000, 1, "/bin/victim", "victim --jit", MS);
	r = region(w, p, 9000, EMT_BACKING_MEMFD, 0x50000000, sizeof(code), RX, "memfd:jit", 2 * MS);
	for (i = 0; i < 5; i++) {
		fill_code(code, sizeof(code), 10);
		code[0x20 + (size_t)i] ^= 0xff;
		if (i == 2)
			memset(code + 0x1000, 0, 0x1000);
		capture(w, r, 9000, 9000 + (uint32_t)i, EMT_TRIGGER_MPROTECT, RW, RX, 0x50000000,
			sizeof(code), (3 + (uint64_t)i) * MS, code, i == 2 ? &gap : NULL, i == 2,
			i % 2 ? &regs : NULL);
	}
	ck(w, emt_writer_commit(w), "commit");
	printf("committed %d\n", i);
	fflush(stdout);
	code[0] ^= 1;
	capture(w, r, 9000, 9000, EMT_TRIGGER_EXIT, RX, RX, 0x50000000, sizeof(code),
		9 * MS, code, NULL, 0, NULL);
	for (;;)
		pause();
}

/* ------------------------------------------------------------------ */
/* Byte-level damage of a copy of sample.emt (no SQL needed).          */

static uint8_t *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		die(path, NULL);
	buf = malloc((size_t)len + 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		die(path, NULL);
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static void spill(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL), 0600);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd))
		die(path, NULL);
}

static void gen_damaged(const char *dir)
{
	static const uint8_t zmagic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
	char path[4096];
	uint8_t *b, *c;
	size_t n, i;

	snprintf(path, sizeof(path), "%s/sample.emt", dir);
	b = slurp(path, &n);
	c = malloc(n);
	if (!c || n < 4096)
		die(path, "too small");

	/* user_version (SQLite header offset 60, big endian) = major 2 */
	memcpy(c, b, n);
	c[60] = 0; c[61] = 0; c[62] = 0; c[63] = 2;
	spill(dir, "newer-major.emt", c, n);

	/* application_id (offset 68) of another application */
	memcpy(c, b, n);
	memcpy(c + 68, "\x0f\x05\x00\x01", 4);
	spill(dir, "foreign-app.emt", c, n);

	/* One byte of the last zstd frame's payload flipped: a stored chunk
	 * no longer matches its hash (the SQLite structure is intact). */
	memcpy(c, b, n);
	for (i = n - 16; i > 4096; i--)
		if (!memcmp(c + i, zmagic, 4))
			break;
	if (i <= 4096)
		die(path, "no zstd frame found");
	c[i + 8] ^= 0x55;
	spill(dir, "bad-chunk.emt", c, n);

	/* Cut in half: pages referenced by the schema are missing. */
	spill(dir, "truncated.emt", b, n / 2 < 4096 ? 4096 : n / 2 / 4096 * 4096);

	spill(dir, "not-an-archive.emt", (const uint8_t *)"not an archive\n", 15);
	free(b);
	free(c);
}

/* Copies sample.emt to NAME and runs `sql` on the copy; `blob` (if any)
 * is bound to the statement's single parameter. */
static void sql_variant(const char *dir, const char *name, const char *sql,
			const void *blob, size_t blob_len)
{
	char path[4096];
	sqlite3 *db;
	sqlite3_stmt *st;
	uint8_t *b;
	size_t n;
	const char *tail = sql;

	snprintf(path, sizeof(path), "%s/sample.emt", dir);
	b = slurp(path, &n);
	spill(dir, name, b, n);
	free(b);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
		die(path, sqlite3_errmsg(db));
	while (tail && *tail) {
		if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK)
			die(path, sqlite3_errmsg(db));
		if (!st)
			break;
		if (blob && sqlite3_bind_parameter_count(st) == 1)
			sqlite3_bind_blob(st, 1, blob, (int)blob_len, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			die(path, sqlite3_errmsg(db));
		sqlite3_finalize(st);
	}
	if (sqlite3_close(db) != SQLITE_OK)
		die(path, "close failed");
}

static void gen_sql_hostile(const char *dir)
{
	size_t big = 256u << 20, cap = ZSTD_compressBound(big), len;
	uint8_t *zeros = calloc(1, big), *bomb = malloc(cap);

	if (!zeros || !bomb)
		die("zstd bomb", "out of memory");
	/* 256 MiB of zeros in a few KiB, stored where a 4 KiB chunk belongs */
	len = ZSTD_compress(bomb, cap, zeros, big, 19);
	if (ZSTD_isError(len))
		die("zstd bomb", ZSTD_getErrorName(len));
	free(zeros);
	sql_variant(dir, "zstd-bomb.emt",
		    "UPDATE chunks SET data = ? WHERE id = "
		    "(SELECT chunk_id FROM capture_chunks WHERE seq = 2)", bomb, len);
	free(bomb);

	sql_variant(dir, "size-mismatch.emt",
		    "UPDATE captures SET size = 1048576 WHERE seq = 1", NULL, 0);
	sql_variant(dir, "missing-chunk.emt",
		    "DELETE FROM chunks WHERE id = "
		    "(SELECT chunk_id FROM capture_chunks WHERE seq = 2)", NULL, 0);
	sql_variant(dir, "bad-hash.emt",
		    "UPDATE captures SET sha256 = zeroblob(32) WHERE seq = 2", NULL, 0);
	sql_variant(dir, "delta-loop.emt",
		    "UPDATE chunks SET base_id = id WHERE encoding = 'zstd-delta'", NULL, 0);
	sql_variant(dir, "planted-trigger.emt",
		    "CREATE TRIGGER evil AFTER UPDATE ON meta BEGIN DELETE FROM captures; END;"
		    "CREATE VIEW evil_view AS SELECT seq, hex(sha256) FROM captures;", NULL, 0);
	/* Same columns, so readers still open it; the CHECK on the hash is
	 * gone (writable_schema plays an attacker editing the schema text). */
	sql_variant(dir, "schema-altered.emt",
		    "PRAGMA writable_schema = ON;"
		    "UPDATE sqlite_schema SET sql = replace(sql, "
		    "'sha256 BLOB NOT NULL CHECK(length(sha256) = 32)', 'sha256 BLOB NOT NULL') "
		    "WHERE name = 'captures';"
		    "PRAGMA writable_schema = OFF;", NULL, 0);
	sql_variant(dir, "newer-feature.emt",
		    "UPDATE meta SET value = CASE WHEN typeof(value) = 'blob' "
		    "THEN CAST(value || ',quantum-chunks' AS BLOB) "
		    "ELSE value || ',quantum-chunks' END "
		    "WHERE key = 'features_required'", NULL, 0);
	sql_variant(dir, "reordered.emt",
		    "UPDATE captures SET time_ns = time_ns + 1 WHERE seq = 3", NULL, 0);

	/* What ledger-v2 and the v2 seal cover beyond the capture rows
	 * (SPEC.md sections 9 and 10): each edit must be reported. */
	sql_variant(dir, "gap-deleted.emt",
		    "DELETE FROM gaps WHERE seq = 4", NULL, 0);
	sql_variant(dir, "region-path.emt",
		    "UPDATE regions SET path = CAST('/usr/lib/x86_64-linux-gnu/libc.so.6' AS BLOB),"
		    " backing = 'file' WHERE id = 2", NULL, 0);
	sql_variant(dir, "regs-zeroed.emt",
		    "UPDATE regs SET data = zeroblob(224) WHERE seq = 2", NULL, 0);
	sql_variant(dir, "meta-changed.emt",
		    "UPDATE meta SET value = CAST('fx_poly --help' AS BLOB) WHERE key = 'target_cmdline'",
		    NULL, 0);
	sql_variant(dir, "process-exe.emt",
		    "UPDATE processes SET exe = CAST('/usr/bin/true' AS BLOB) WHERE id = 2", NULL, 0);
	/* A chunk no capture references, whose bytes do not match its hash. */
	sql_variant(dir, "orphan-chunk.emt",
		    "INSERT INTO chunks(hash, size, encoding, base_id, depth, first_seq, data)"
		    " SELECT zeroblob(32), size, encoding, NULL, 0, first_seq, data FROM chunks"
		    " WHERE id = (SELECT chunk_id FROM capture_chunks WHERE seq = 2)", NULL, 0);
}

/* ------------------------------------------------------------------ */
/* --many: N captures of 4 KiB over N/100 regions, each version changing
 * a few bytes, as a JIT would (bench/bench_readers.sh). */

static void gen_many(const char *path, uint64_t n)
{
	struct emt_writer_opts o = { .sz = sizeof(o) };
	struct emt_writer *w;
	static uint8_t buf[4096];
	char *msg = NULL;
	int64_t p, r = 0;
	uint64_t per = 100;

	o.flags = force ? EMT_CREATE_FORCE : 0;
	w = emt_writer_create(path, &o, &msg);
	if (!w)
		die(path, msg);
	t0 = boottime();
	meta(w, "mode", "bpf");
	meta(w, "target_cmdline", "bench-many");
	p = process(w, 7000, 1, "/usr/bin/bench", "bench", 0);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t addr = 0x7f0000000000ull + (i / per) * 0x10000;

		if (i % per == 0) {
			memset(buf, 0x90, sizeof(buf));
			r = region(w, p, 7000, EMT_BACKING_ANON, addr, sizeof(buf),
				   PROT_READ | PROT_EXEC, NULL, i * 1000);
		}
		/* a few bytes per version, seeded by i: distinct contents */
		for (int k = 0; k < 8; k++)
			buf[(i * 37 + (uint64_t)k * 509) % sizeof(buf)] = (uint8_t)(i >> (k % 4 * 8));
		capture(w, r, 7000, 7000, EMT_TRIGGER_MPROTECT, PROT_READ | PROT_WRITE,
			PROT_READ | PROT_EXEC, addr, sizeof(buf), i * 1000 + 500, buf,
			NULL, 0, NULL);
	}
	finish(w, path);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", 0, NULL, 'f' },
		{ "many",  1, NULL, 'n' },
		{ "crash", 0, NULL, 'c' },
		{ "hold",  0, NULL, 'H' },
		{ "spec-cases", 0, NULL, 's' },
		{ "help",  0, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t many = 0;
	char *end;
	int c, crash = 0, hold = 0, spec = 0;

	while ((c = getopt_long(argc, argv, "fn:chHs", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': force = 1; break;
		case 'c': crash = 1; break;
		case 'H': hold = 1; break;
		case 's': spec = 1; break;
		case 'n':
			errno = 0;
			many = strtoull(optarg, &end, 10);
			if (errno || *end || many == 0) {
				fprintf(stderr, "%s: invalid count '%s'\n", prog, optarg);
				return 2;
			}
			break;
		case 'h':
			printf("Usage: %s [-f] DIR\n       %s [-f] --many N FILE\n"
			       "       %s [-f] --crash FILE\n       %s [-f] --hold FILE\n"
			       "       %s [-f] --spec-cases DIR\n"
			       "Writes the reader test archives into DIR (sample, hostile,\n"
			       "damaged), one archive of N captures, an archive left as a\n"
			       "killed writer leaves it (WAL beside it), a writer that\n"
			       "prints 'committed N' and waits for SIGKILL, or the spec\n"
			       "reader's edge cases (zero.emt, mib.emt).  -f overwrites.\n",
			       prog, prog, prog, prog, prog);
			return 0;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "%s: expected one operand (try --help)\n", prog);
		return 2;
	}
	if (many) {
		gen_many(argv[optind], many);
		return 0;
	}
	if (crash)
		gen_crash(argv[optind]);
	if (hold)
		gen_hold(argv[optind]);
	if (spec) {
		gen_spec_cases(argv[optind]);
		return 0;
	}
	if (mkdir(argv[optind], 0755) && errno != EEXIST)
		die(argv[optind], NULL);
	gen_sample(argv[optind]);
	gen_hostile_strings(argv[optind]);
	gen_unsealed(argv[optind]);
	gen_damaged(argv[optind]);
	gen_sql_hostile(argv[optind]);
	return 0;
}
