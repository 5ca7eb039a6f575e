/*
 * mkreaders - writes, through the public writer API, the archives the
 * reader tests need and fixtures/archives does not hold.  Each archive's
 * content is fixed (only times vary), so the tests check exact values.
 *
 *   mkreaders gaps OUT.emt
 *     one process (pid 7000), region 1 at 0x10000000, 16 KiB, 3 versions:
 *       v1 = seq 1: 0x90 everywhere, no gap
 *       v2 = seq 2: byte +0x10 = 0x2a, +0x3000..+0x3004 = 0xc3;
 *                   gap +0x1000..+0x2000 (unreadable, EFAULT), whose
 *                   zeros differ from v1's 0x90 but are not content
 *       v3 = seq 3: as v2, +0x2000 = 0x01; gap +0x1000..+0x2000
 *                   (unreadable) and +0x3000..+0x4000 (unmapped)
 *     region 2 at 0x20000000, 8 KiB, 1 version (seq 4): 0x90, gap at
 *       +0x1000..+0x2000 (truncated), a first-exec-fault capture with
 *       registers, rip 0x20000123
 *     region 3 at 0x30000000, 8 KiB, 2 versions (seq 5, 6): 0x90, equal
 *       but for +0x1000..+0x2000, which v2 could not read (unreadable):
 *       no captured byte changed, yet not known to be identical
 *
 *   mkreaders strings OUT.emt
 *     every string readers print holds invisible or look-alike
 *     characters that must be escaped (U+061C, U+200B..U+200F, U+00AD,
 *     U+2060..U+2064, U+FEFF, U+E0041 tags, U+00A0, U+3000, U+034F,
 *     U+FE0F, U+180E), wide characters (CJK), and bytes that are not
 *     UTF-8; see the strings below.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "emt_archive.h"

static struct emt_writer *w;
static uint64_t t0;

static void ck(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "mkreaders: %s: %s\n", what, emt_writer_errmsg(w));
		exit(1);
	}
}

static int64_t add_region(int64_t proc, uint32_t pid, uint64_t start, uint64_t len,
			  const char *path)
{
	struct emt_region r = { .process_id = proc, .pid = pid,
				.backing = path ? EMT_BACKING_FILE : EMT_BACKING_ANON,
				.start = start, .length = len, .created_ns = t0 + 1000,
				.path = path, .prot = PROT_READ | PROT_EXEC };

	ck(emt_writer_add_region(w, &r), "add region");
	return r.id;
}

static void add_capture(int64_t rid, uint32_t pid, uint32_t trigger, uint64_t addr,
			const uint8_t *data, uint64_t size, const struct emt_gap *g,
			size_t ng, const struct emt_regs_x86_64 *regs, uint64_t at)
{
	struct emt_capture c = { .region_id = rid, .pid = pid, .tid = pid,
				 .trigger = trigger, .prot_before = PROT_READ | PROT_WRITE,
				 .prot_after = PROT_READ | PROT_EXEC, .addr = addr,
				 .size = size, .time_ns = t0 + at };

	ck(emt_writer_add_capture(w, &c, data, g, ng, regs), "add capture");
}

static void gaps_archive(void)
{
	struct emt_process p = { .pid = 7000, .ppid = 1, .start_ns = t0,
				 .exe = "/usr/bin/gapper", .cmdline = "gapper" };
	static uint8_t b[16384];
	struct emt_gap g2 = { .offset = 0x1000, .length = 0x1000,
			      .reason = EMT_GAP_UNREADABLE, .err = EFAULT };
	struct emt_gap g3[2] = {
		{ .offset = 0x1000, .length = 0x1000, .reason = EMT_GAP_UNREADABLE, .err = EFAULT },
		{ .offset = 0x3000, .length = 0x1000, .reason = EMT_GAP_UNMAPPED, .err = 0 },
	};
	struct emt_gap g4 = { .offset = 0x1000, .length = 0x1000,
			      .reason = EMT_GAP_TRUNCATED, .err = 0 };
	struct emt_regs_x86_64 regs;
	int64_t r1, r2, r3;

	ck(emt_writer_add_process(w, &p), "add process");
	r1 = add_region(p.id, 7000, 0x10000000, sizeof(b), NULL);
	r2 = add_region(p.id, 7000, 0x20000000, 8192, NULL);
	r3 = add_region(p.id, 7000, 0x30000000, 8192, NULL);

	memset(b, 0x90, sizeof(b));
	add_capture(r1, 7000, EMT_TRIGGER_MPROTECT, 0x10000000, b, sizeof(b), NULL, 0,
		    NULL, 2000);
	/* v2: two real changes, and a page the archive holds as zeros that
	 * must not count as 4096 changed bytes */
	b[0x10] = 0x2a;
	memset(b + 0x3000, 0xc3, 4);
	memset(b + 0x1000, 0, 0x1000);
	add_capture(r1, 7000, EMT_TRIGGER_MPROTECT, 0x10000000, b, sizeof(b), &g2, 1,
		    NULL, 3000);
	/* v3: one more change; the page v2 had at +0x3000 is now gone */
	b[0x2000] = 0x01;
	memset(b + 0x3000, 0, 0x1000);
	add_capture(r1, 7000, EMT_TRIGGER_MPROTECT, 0x10000000, b, sizeof(b), g3, 2,
		    NULL, 4000);

	memset(b, 0x90, 8192);
	memset(b + 0x1000, 0, 0x1000);
	memset(&regs, 0, sizeof(regs));
	regs.rip = 0x20000123;
	regs.fault_addr = 0x20000123;
	add_capture(r2, 7000, EMT_TRIGGER_FIRST_EXEC_FAULT, 0x20000000, b, 8192, &g4, 1,
		    &regs, 5000);

	memset(b, 0x90, 8192);
	add_capture(r3, 7000, EMT_TRIGGER_MPROTECT, 0x30000000, b, 8192, NULL, 0, NULL, 6000);
	memset(b + 0x1000, 0, 0x1000);
	add_capture(r3, 7000, EMT_TRIGGER_MPROTECT, 0x30000000, b, 8192, &g2, 1, NULL, 7000);
}

/* Escaped in tables; the comment under each gives the code points. */
#define INVIS_EXE "/usr/bin/py\xd8\x9cthon\xe2\x80\x8b"
	/* U+061C after "py", U+200B at the end */
#define INVIS_CMD "rm\xc2\xad -rf\xe2\x81\xa0 /\xef\xbb\xbf \xe2\x80\x8c\xe2\x80\x8d\xe2\x80\x8e" \
	"\xe2\x80\x8f\xe2\x81\xa1\xe2\x81\xa4 \xf3\xa0\x81\x81\xf3\xa0\x81\xbf end"
	/* U+00AD, U+2060, U+FEFF, U+200C U+200D U+200E U+200F U+2061 U+2064,
	 * U+E0041 U+E007F */
#define INVIS_PATH "/tmp/a\xc2\xa0" "b\xe3\x80\x80" "c\xcd\x8f" "d\xef\xb8\x8f" "e\xe1\xa0\x8e" \
	"\xe4\xb8\xad\xe6\x96\x87\xe5\x90\x8d\xe5\xad\x97\xe4\xb8\xad\xe6\x96\x87\xe5\x90\x8d" \
	"\xe5\xad\x97.so"
	/* U+00A0, U+3000, U+034F, U+FE0F, U+180E, then 8 CJK characters */
#define INVIS_DETAIL "memfd:\xe2\x81\xa2jit\xe2\x81\xa3 \xff\xfe bad"
	/* U+2062, U+2063, then bytes 0xff 0xfe (not UTF-8) */

static void strings_archive(void)
{
	struct emt_process p = { .pid = 7100, .ppid = 1, .start_ns = t0,
				 .exe = INVIS_EXE, .cmdline = INVIS_CMD };
	struct emt_event e = { .time_ns = t0 + 1500, .pid = 7100, .tid = 7100,
			       .syscall = "mmap", .addr = 0x30000000, .len = 4096,
			       .prot = PROT_READ | PROT_EXEC, .fd = -1, .detail = INVIS_DETAIL };
	static uint8_t b[4096];
	int64_t r;

	ck(emt_writer_set_meta(w, "target_cmdline", INVIS_CMD), "meta");
	ck(emt_writer_set_meta(w, "host", "host\xe2\x80\x8b" "1"), "meta");
	ck(emt_writer_add_process(w, &p), "add process");
	r = add_region(p.id, 7100, 0x30000000, sizeof(b), INVIS_PATH);
	memset(b, 0xc3, sizeof(b));
	add_capture(r, 7100, EMT_TRIGGER_MMAP, 0x30000000, b, sizeof(b), NULL, 0, NULL, 2000);
	e.seq = 1;
	ck(emt_writer_add_event(w, &e), "add event");
}

int main(int argc, char **argv)
{
	struct emt_writer_opts o = { .sz = sizeof(o), .flags = EMT_CREATE_FORCE };
	struct timespec ts;
	char *msg = NULL;

	if (argc != 3 || (strcmp(argv[1], "gaps") && strcmp(argv[1], "strings"))) {
		fprintf(stderr, "usage: mkreaders gaps|strings OUT.emt\n");
		return 2;
	}
	w = emt_writer_create(argv[2], &o, &msg);
	if (!w) {
		fprintf(stderr, "mkreaders: cannot create '%s': %s\n", argv[2], msg);
		free(msg);
		return 1;
	}
	clock_gettime(CLOCK_BOOTTIME, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	ck(emt_writer_set_meta(w, "mode", "synthetic"), "meta");
	if (!strcmp(argv[1], "gaps"))
		gaps_archive();
	else
		strings_archive();
	if (emt_writer_close(w, &msg) < 0) {
		fprintf(stderr, "mkreaders: cannot close '%s': %s\n", argv[2], msg);
		free(msg);
		return 1;
	}
	return 0;
}
