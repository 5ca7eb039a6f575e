/*
 * mkarchive - writes a synthetic archive through the library, or extracts
 * every capture of an archive with the library (for comparison with
 * independent readers such as tests/integration/spec_reader.py).
 *
 *   mkarchive [options] OUT.emt
 *     -n N      captures (default 12)
 *     -s SEED   content seed (default 1)
 *     -c BYTES  chunk size (default: library default)
 *     -l LEVEL  zstd level (default: library default)
 *     -z BYTES  largest capture (default 300000)
 *     -D        no delta chunks
 *     -u        leave the archive unsealed (abandon instead of close)
 *     -k KEY    sign with the Ed25519 private key in KEY (PEM)
 *     -C        commit after every capture (one checkpoint each when signing)
 *   mkarchive -x ARCHIVE DIR   write DIR/<seq>.bin for every capture
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emt_archive.h"
#include "tests/lib/tl.h"

static int extract(const char *arch, const char *dir)
{
	char *msg = NULL;
	struct emt_reader *r = emt_reader_open(arch, &msg);
	struct emt_capture_iter *it;
	struct emt_capture c;
	int bad = 0;

	if (!r) {
		fprintf(stderr, "mkarchive: cannot open '%s': %s\n", arch, msg);
		free(msg);
		return 1;
	}
	it = emt_reader_captures(r, NULL);
	while (it && emt_capture_iter_next(it, &c) == 1) {
		char p[4096];
		int fd;

		snprintf(p, sizeof(p), "%s/%" PRIu64 ".bin", dir, c.seq);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || emt_reader_write_capture(r, c.seq, fd, 0) != 0) {
			fprintf(stderr, "mkarchive: capture %" PRIu64 ": %s\n", c.seq,
				emt_reader_errmsg(r));
			bad = 1;
		}
		if (fd >= 0)
			close(fd);
	}
	emt_capture_iter_free(it);
	emt_reader_close(r);
	return bad;
}

int main(int argc, char **argv)
{
	struct emt_writer_opts o = { .sz = sizeof(o) };
	uint64_t seed = 1, maxsz = 300000;
	unsigned ncap = 12;
	int unsealed = 0, commit_each = 0, opt;
	struct emt_key *key = NULL;
	char *msg = NULL;

	if (argc == 4 && strcmp(argv[1], "-x") == 0)
		return extract(argv[2], argv[3]);
	while ((opt = getopt(argc, argv, "n:s:c:l:z:Duk:C")) != -1) {
		switch (opt) {
		case 'n': ncap = (unsigned)strtoul(optarg, NULL, 0); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'c': o.chunk_size = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'l': o.zstd_level = (int32_t)strtol(optarg, NULL, 0); break;
		case 'z': maxsz = strtoull(optarg, NULL, 0); break;
		case 'D': o.no_delta = 1; break;
		case 'u': unsealed = 1; break;
		case 'C': commit_each = 1; break;
		case 'k':
			key = emt_key_load_private(optarg, &msg);
			if (!key) {
				fprintf(stderr, "mkarchive: %s\n", msg);
				return 1;
			}
			o.sign_key = key;
			break;
		default:
			fprintf(stderr, "usage: mkarchive [-n N] [-s SEED] [-c CHUNK] [-l LEVEL] [-z MAX] [-D] [-u] [-k KEY] [-C] OUT\n"
					"       mkarchive -x ARCHIVE DIR\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "mkarchive: one output path expected\n");
		return 2;
	}
	o.flags = EMT_CREATE_FORCE;
	struct emt_writer *w = emt_writer_create(argv[optind], &o, &msg);

	emt_key_free(key);      /* the writer keeps its own reference */

	if (!w) {
		fprintf(stderr, "mkarchive: %s\n", msg);
		return 1;
	}
	emt_writer_set_meta(w, "mode", "synthetic");
	emt_writer_set_meta(w, "target_cmdline", "mkarchive \xff\x01 test");

	struct emt_process p[2] = {
		{ .pid = 1000, .ppid = 1, .start_ns = 10, .exe = "/usr/bin/jit", .cmdline = "jit -x" },
		{ .pid = 1001, .ppid = 1000, .start_ns = 20, .exe = "/tmp/\xc3(bad", .cmdline = NULL },
	};
	struct emt_region rg[3];
	uint8_t *base[3], *buf = malloc(maxsz);

	for (int i = 0; i < 2; i++)
		if (emt_writer_add_process(w, &p[i]))
			return 1;
	for (int i = 0; i < 3; i++) {
		memset(&rg[i], 0, sizeof(rg[i]));
		rg[i].process_id = p[i % 2].id;
		rg[i].pid = p[i % 2].pid;
		rg[i].backing = i == 2 ? EMT_BACKING_MEMFD : EMT_BACKING_ANON;
		rg[i].path = i == 2 ? "memfd:jit (deleted)" : NULL;
		rg[i].start = 0x7f0000000000ull + 0x1000000ull * (uint64_t)i;
		rg[i].length = maxsz;
		rg[i].created_ns = 30;
		rg[i].prot = 7;
		if (emt_writer_add_region(w, &rg[i]))
			return 1;
		base[i] = malloc(maxsz);
		tl_fill_code(base[i], maxsz, seed * 10 + (uint64_t)i);
	}
	for (unsigned k = 1; k <= ncap; k++) {
		int i = (int)(k % 3);
		/* Sizes vary, including partial last chunks and page-sized. */
		uint64_t sz = k % 5 == 0 ? 4096 : maxsz - (uint64_t)(k * 977) % (maxsz / 3);
		struct emt_capture c = { .region_id = rg[i].id, .pid = rg[i].pid, .tid = rg[i].pid + 1,
					 .trigger = k % 4 == 0 ? EMT_TRIGGER_EXIT : EMT_TRIGGER_MPROTECT,
					 .prot_before = 3, .prot_after = 5, .addr = rg[i].start,
					 .size = sz, .time_ns = 1000 + k };
		struct emt_gap g = { .offset = 4096, .length = 4096, .reason = EMT_GAP_UNREADABLE,
				     .err = EFAULT };
		struct emt_regs_x86_64 regs;
		int with_gap = k % 3 == 1 && sz > 8192;

		/* Polymorphic versions: a few bytes change each time. */
		for (int j = 0; j < 6; j++)
			base[i][(k * 7919 + (unsigned)j * 104729) % sz] ^= (uint8_t)k;
		memcpy(buf, base[i], sz);
		if (with_gap)
			memset(buf + 4096, 0, 4096);
		tl_fill_random(&regs, sizeof(regs), k);
		if (emt_writer_add_capture(w, &c, buf, with_gap ? &g : NULL, with_gap,
					   k % 2 ? &regs : NULL)) {
			fprintf(stderr, "mkarchive: capture %u: %s\n", k, emt_writer_errmsg(w));
			return 1;
		}
		struct emt_event e = { .time_ns = 1000 + k, .pid = rg[i].pid, .tid = rg[i].pid,
				       .syscall = "mprotect", .addr = rg[i].start, .len = sz,
				       .prot = 5, .fd = -1, .seq = c.seq };

		emt_writer_add_event(w, &e);
		if (commit_each)
			emt_writer_commit(w);
	}
	struct emt_loss l = { .time_ns = 5000, .kind = "ringbuf", .count = 2, .pid = 1000 };

	emt_writer_add_loss(w, &l);
	emt_writer_process_exit(w, p[1].id, 6000, 0);
	emt_writer_region_gone(w, rg[1].id, 6000);
	for (int i = 0; i < 3; i++)
		free(base[i]);
	free(buf);
	if (unsealed) {
		emt_writer_commit(w);
		emt_writer_abandon(w);
		return 0;
	}
	if (emt_writer_close(w, &msg)) {
		fprintf(stderr, "mkarchive: close: %s\n", msg);
		return 1;
	}
	return 0;
}
