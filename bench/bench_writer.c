/*
 * bench_writer - CPU cost of the archive writer per capture, for the
 * shapes of bench_throughput.sh, without a target or an engine: what
 * emt-capture's writer thread spends, measured alone so that a change to
 * format/ can be judged in a quiet run instead of through the noise of a
 * traced target.
 *
 *   poly     one 4 KiB region, each version 8 bytes different (a delta)
 *   unique   one 4 KiB region, each version new pseudo-random bytes
 *   mcode    one 64 KiB region, each version one more 512-byte "trace"
 *   cache    one 4 MiB code cache (php's JIT buffer, a JVM code heap),
 *            each version one more 512-byte "trace": 64 chunks of which
 *            one changed
 *
 * Each capture comes with the two mprotect events that make it (RW, RX),
 * as in a traced run.  Reports CPU microseconds (all threads of the
 * process: the writer's helper and committer too) and wall microseconds
 * per capture, from create to sealed close.
 *
 * usage: bench_writer [N [SHAPE...]]   (N captures per shape, default
 *        20000; poly, unique and mcode unless named: a profiler then sees
 *        one; cache only when named, it writes N x 4 MiB); the archives
 *        go in a directory under $TMPDIR (default /tmp)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "emt_archive.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		uint64_t v = rnd();
		memcpy(p + i, &v, 8);
	}
}

/* Runs one shape; returns 0 or -1 after printing why. */
static int run(const char *shape, unsigned n, const char *dir)
{
	size_t size = !strcmp(shape, "mcode") ? 65536 : !strcmp(shape, "cache") ? 4u << 20 : 4096;
	uint64_t base = 0x7f0000000000ull;
	char path[4096], *msg = NULL;
	uint8_t *buf = calloc(1, size);
	struct emt_writer *w;
	uint8_t seal[EMT_SHA256_LEN];
	int err = 0;

	if (!buf)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.emt", dir, shape);
	fill(buf, size);
	double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_s(CLOCK_MONOTONIC);

	w = emt_writer_create(path, NULL, &msg);
	if (!w) {
		fprintf(stderr, "bench_writer: cannot create '%s': %s\n", path, msg ? msg : strerror(errno));
		free(msg);
		free(buf);
		return -1;
	}
	struct emt_process pr = { .pid = 4242, .ppid = 1, .start_ns = 1, .exe = "/bench", .cmdline = "bench" };
	err = emt_writer_add_process(w, &pr);
	struct emt_region rg = {
		.process_id = pr.id, .pid = 4242, .backing = EMT_BACKING_ANON,
		.start = base, .length = size, .created_ns = 2, .prot = PROT_READ | PROT_EXEC,
	};
	if (!err)
		err = emt_writer_add_region(w, &rg);
	for (unsigned i = 0; i < n && !err; i++) {
		uint64_t t = 1000 + (uint64_t)i * 10;

		if (strcmp(shape, "poly") == 0) {
			uint64_t v = rnd();
			memcpy(buf + 64 + (i % 64) * 8, &v, 8);
		} else if (strcmp(shape, "unique") == 0) {
			fill(buf, size);
		} else {
			fill(buf + (i * 512) % size, 512);
		}
		struct emt_event e = {
			.time_ns = t, .pid = 4242, .tid = 4242, .syscall = "mprotect",
			.addr = base, .len = size, .prot = PROT_READ | PROT_WRITE, .fd = -1,
		};
		err = emt_writer_add_event(w, &e);
		struct emt_capture c = {
			.region_id = rg.id, .pid = 4242, .tid = 4242,
			.trigger = EMT_TRIGGER_MPROTECT, .prot_before = PROT_READ | PROT_WRITE,
			.prot_after = PROT_READ | PROT_EXEC, .addr = base, .size = size,
			.time_ns = t + 1,
		};
		if (!err)
			err = emt_writer_add_capture(w, &c, buf, NULL, 0, NULL);
		e.time_ns = t + 1;
		e.prot = PROT_READ | PROT_EXEC;
		e.seq = c.seq;
		if (!err)
			err = emt_writer_add_event(w, &e);
	}
	if (err) {
		fprintf(stderr, "bench_writer: %s: %s\n", shape, emt_writer_errmsg(w));
		emt_writer_abandon(w);
		free(buf);
		return -1;
	}
	err = emt_writer_close_seal(w, seal, &msg);
	double c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID), t1 = clock_s(CLOCK_MONOTONIC);

	free(buf);
	if (err) {
		fprintf(stderr, "bench_writer: %s: close: %s\n", shape, msg ? msg : strerror(-err));
		free(msg);
		return -1;
	}
	printf("  %-7s %7u captures of %5zu bytes  %7.1f us CPU  %7.1f us wall per capture\n",
	       shape, n, size, (c1 - c0) * 1e6 / n, (t1 - t0) * 1e6 / n);
	unlink(path);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
	const char *tmp = getenv("TMPDIR");
	char dir[1024];
	static const char *const all[] = { "poly", "unique", "mcode" };
	const char *const *shapes = all;
	size_t nshapes = sizeof(all) / sizeof(all[0]);
	int rc = 0;

	if (argc > 2) {
		shapes = (const char *const *)argv + 2;
		nshapes = (size_t)argc - 2;
	}
	for (size_t i = 0; i < nshapes; i++)
		if (strcmp(shapes[i], "poly") && strcmp(shapes[i], "unique") &&
		    strcmp(shapes[i], "mcode") && strcmp(shapes[i], "cache"))
			n = 0;
	if (n == 0) {
		fprintf(stderr, "usage: bench_writer [N [poly|unique|mcode|cache...]]\n");
		return 2;
	}
	(void)emt_writer_global_init();        /* as emt-capture does */
	/* TMPDIR: a script that kills a run cleans up after it. */
	tmp = tmp && *tmp ? tmp : "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/emt-bench-writer.XXXXXX", tmp) >= sizeof(dir)) {
		fprintf(stderr, "bench_writer: TMPDIR '%.64s...': too long\n", tmp);
		return 1;
	}
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench_writer: cannot create a directory in '%s': %s\n", tmp,
			strerror(errno));
		return 1;
	}
	printf("# bench_writer: archive writer cost per capture (with its 2 events), create to seal\n");
	for (size_t i = 0; i < nshapes; i++)
		if (run(shapes[i], n, dir))
			rc = 1;
	rmdir(dir);
	return rc;
}
