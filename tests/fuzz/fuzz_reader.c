/*
 * fuzz_reader.c - libFuzzer target for the archive reader.
 *
 * The input is an archive file.  It is written to a private temporary
 * file, opened with emt_reader_open and walked completely: summary, meta,
 * every iterator, every capture read into a buffer and to a file, its
 * registers and gaps, then a full verify.  Any crash, sanitizer report or
 * leak is a bug; error returns are expected.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emt_archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore_report(void *ctx, const char *item, const char *msg)
{
	/* Touch the strings so a dangling pointer shows up under ASan. */
	*(size_t *)ctx += strlen(item) + strlen(msg);
}

static void walk(struct emt_reader *r)
{
	struct emt_summary s;
	struct emt_capture c;
	struct emt_capture_iter *it;
	struct emt_row_iter *ri;
	size_t sink = 0;

	emt_reader_summary(r, &s);
	static const char *const keys[] = { "format_major", "host", "start_ns", "sealed", "mode" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = emt_reader_meta(r, keys[i]);

		if (v)
			sink += strlen(v);
	}
	ri = emt_reader_processes(r);
	if (ri) {
		struct emt_process p;

		while (emt_process_iter_next(ri, &p) == 1)
			sink += (p.exe ? strlen(p.exe) : 0) + (p.cmdline ? strlen(p.cmdline) : 0);
		emt_row_iter_free(ri);
	}
	ri = emt_reader_regions(r, 0);
	if (ri) {
		struct emt_region rg, one;

		while (emt_region_iter_next(ri, &rg) == 1) {
			sink += rg.path ? strlen(rg.path) : 0;
			if (emt_reader_region(r, rg.id, &one) == 0 && one.path)
				sink += strlen(one.path);
		}
		emt_row_iter_free(ri);
	}
	ri = emt_reader_events(r, 0);
	if (ri) {
		struct emt_event e;

		while (emt_event_iter_next(ri, &e) == 1)
			sink += strlen(e.syscall) + (e.detail ? strlen(e.detail) : 0);
		emt_row_iter_free(ri);
	}
	ri = emt_reader_losses(r);
	if (ri) {
		struct emt_loss l;

		while (emt_loss_iter_next(ri, &l) == 1)
			sink += strlen(l.kind);
		emt_row_iter_free(ri);
	}
	it = emt_reader_captures(r, NULL);
	if (it) {
		int n = 0;

		while (emt_capture_iter_next(it, &c) == 1 && n++ < 1000) {
			struct emt_regs_x86_64 regs;
			struct emt_gap *gaps = NULL;
			size_t ng = 0;

			emt_reader_regs(r, c.seq, &regs);
			if (emt_reader_gaps(r, c.seq, &gaps, &ng) == 0)
				free(gaps);
			/* Only sizes a fuzzer input can plausibly back. */
			if (c.size <= (16u << 20)) {
				void *buf = malloc(c.size ? c.size : 1);

				if (buf) {
					emt_reader_read_capture(r, c.seq, buf, c.size, 0);
					emt_reader_read_capture(r, c.seq, buf, c.size, 1);
					free(buf);
				}
			}
			int fd = c.size <= (16u << 20) ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;

			if (fd >= 0) {
				emt_reader_write_capture(r, c.seq, fd, 1);
				close(fd);
			}
		}
		emt_capture_iter_free(it);
	}
	struct emt_filter f = { .pid = 1, .trigger = EMT_TRIGGER_MPROTECT, .min_size = 1,
				.since_ns = 1, .until_ns = UINT64_MAX / 2, .seq_from = 1, .seq_to = 100 };

	it = emt_reader_captures(r, &f);
	if (it) {
		while (emt_capture_iter_next(it, &c) == 1)
			sink += c.size & 1;
		emt_capture_iter_free(it);
	}
	struct emt_verify_stats vs;

	emt_reader_verify(r, ignore_report, &sink, &vs);
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/emt-fuzz.XXXXXX";
	int fd = mkstemp(path);
	char *msg = NULL;
	struct emt_reader *r;

	if (fd < 0)
		return 0;
	for (size_t off = 0; off < size;) {
		ssize_t m = write(fd, data + off, size - off);

		if (m <= 0)
			break;
		off += (size_t)m;
	}
	close(fd);
	r = emt_reader_open(path, &msg);
	free(msg);
	if (r) {
		walk(r);
		emt_reader_close(r);
	}
	unlink(path);
	return 0;
}
