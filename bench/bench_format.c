/*
 * bench_format - archive library throughput on real x86-64 code.
 *
 * Corpus: the .text sections of the shared libraries in
 * /usr/lib/x86_64-linux-gnu, luajit and this build's own binaries, up to
 * CORPUS_MAX bytes, in a fixed (sorted) order.  Reports, on the same data
 * in the same run:
 *   - in-process zstd (one thread, per chunk, same level) and SHA-256
 *     (OpenSSL) speeds, then the `zstd -b` and `sha256sum` commands;
 *   - archive write speed (MB/s of raw capture bytes, hashing,
 *     compression and SQLite included, create to sealed close), stored
 *     ratio and read speed (every capture read back and verified), for
 *     chunk sizes 16/64/256 KiB and zstd levels 1/3/6;
 *   - the delta gain on polymorphic versions (few bytes changed);
 *   - listing 100,000 captures and extracting one capture.
 * MB = 10^6 bytes.  Usage: bench_format [CORPUS_MiB] (default 48).
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "emt_archive.h"
#include "tests/lib/tl.h"

static uint8_t *corpus;
static size_t corpus_len, corpus_max;
static int nfiles;

/* CPU time of this process: the machine may be shared, and the writer
 * and the reference compressors all run on one thread here, so CPU
 * seconds compare them fairly.  Wall time is reported too. */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends the .text section of an ELF64 file to the corpus. */
static void add_text(const char *path)
{
	size_t n;
	uint8_t *f;
	struct stat st;

	if (corpus_len >= corpus_max || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)sizeof(Elf64_Ehdr) || st.st_size > (200 << 20))
		return;
	f = tl_read_file(path, &n);
	if (!f)
		return;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_machine != EM_X86_64 || eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > n || eh->e_shstrndx >= eh->e_shnum)
		goto out;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(f + eh->e_shoff);
	const Elf64_Shdr *strs = &sh[eh->e_shstrndx];

	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_PROGBITS || strs->sh_offset + sh[i].sh_name + 6 > n)
			continue;
		if (strcmp((const char *)f + strs->sh_offset + sh[i].sh_name, ".text") != 0)
			continue;
		uint64_t len = sh[i].sh_size;

		if (sh[i].sh_offset + len > n)
			break;
		if (len > corpus_max - corpus_len)
			len = corpus_max - corpus_len;
		memcpy(corpus + corpus_len, f + sh[i].sh_offset, len);
		corpus_len += len;
		nfiles++;
		break;
	}
out:
	free(f);
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_dir(const char *dir, const char *must_contain)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (must_contain && !strstr(e->d_name, must_contain)))
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmpstr);
	for (size_t i = 0; i < n; i++) {
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		add_text(p);
		free(names[i]);
	}
	free(names);
}

struct result {
	double write_s, read_s, write_wall;
	uint64_t stored, file_bytes;
};

/* Writes the corpus as captures of `capsz` bytes (one region each), then
 * reads every capture back. */
static int run_archive(const char *path, uint32_t chunk, int level, size_t capsz,
		       struct result *res)
{
	struct emt_writer_opts o = { .sz = sizeof(o), .chunk_size = chunk, .zstd_level = level,
				     .flags = EMT_CREATE_FORCE };
	char *msg = NULL;
	double t0 = now(), tw0 = wall();
	struct emt_writer *w = emt_writer_create(path, &o, &msg);
	struct emt_process p = { .pid = 1 };
	struct emt_writer_stats st;
	uint64_t ncap = 0;

	if (!w) {
		fprintf(stderr, "bench_format: %s\n", msg);
		return -1;
	}
	emt_writer_add_process(w, &p);
	for (size_t off = 0; off < corpus_len; off += capsz) {
		size_t n = corpus_len - off < capsz ? corpus_len - off : capsz;
		struct emt_region rg = { .process_id = p.id, .pid = 1, .backing = EMT_BACKING_ANON,
					 .start = 0x10000000ull + off, .length = n };
		struct emt_capture c = { .pid = 1, .trigger = EMT_TRIGGER_MPROTECT,
					 .addr = rg.start, .size = n };

		if (emt_writer_add_region(w, &rg))
			return -1;
		c.region_id = rg.id;
		if (emt_writer_add_capture(w, &c, corpus + off, NULL, 0, NULL)) {
			fprintf(stderr, "bench_format: %s\n", emt_writer_errmsg(w));
			return -1;
		}
		ncap++;
	}
	emt_writer_stats(w, &st);
	if (emt_writer_close(w, &msg)) {
		fprintf(stderr, "bench_format: close: %s\n", msg);
		return -1;
	}
	res->write_s = now() - t0;
	res->write_wall = wall() - tw0;
	res->stored = st.stored_bytes;
	struct stat sb;

	res->file_bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;

	uint8_t *buf = malloc(capsz);
	double t1 = now();
	struct emt_reader *r = emt_reader_open(path, &msg);

	if (!r) {
		fprintf(stderr, "bench_format: %s\n", msg);
		return -1;
	}
	for (uint64_t s = 1; s <= ncap; s++)
		if (emt_reader_read_capture(r, s, buf, capsz, 0)) {
			fprintf(stderr, "bench_format: read: %s\n", emt_reader_errmsg(r));
			return -1;
		}
	emt_reader_close(r);
	res->read_s = now() - t1;
	free(buf);
	return 0;
}

static double mbps(uint64_t bytes, double s)
{
	return (double)bytes / 1e6 / s;
}

/* One-thread zstd on the corpus cut in `chunk` pieces, like the writer. */
static double zstd_speed(uint32_t chunk, int level, uint64_t *out)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(chunk);
	uint8_t *dst = malloc(cap);
	double t0 = now();

	*out = 0;
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	for (size_t off = 0; off < corpus_len; off += chunk) {
		size_t n = corpus_len - off < chunk ? corpus_len - off : chunk;

		*out += ZSTD_compress2(cc, dst, cap, corpus + off, n);
	}
	double t = now() - t0;

	ZSTD_freeCCtx(cc);
	free(dst);
	return mbps(corpus_len, t);
}

/* The writer's unavoidable CPU work without SQLite: per-chunk SHA-256
 * (dedupe key), whole-capture SHA-256 and zstd, on 1 MiB captures. */
static double core_speed(uint32_t chunk, int level)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(chunk);
	uint8_t *dst = malloc(cap), h[32];
	double t0 = now();

	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	for (size_t off = 0; off < corpus_len; off += chunk) {
		size_t n = corpus_len - off < chunk ? corpus_len - off : chunk;

		emt_sha256(corpus + off, n, h);
		ZSTD_compress2(cc, dst, cap, corpus + off, n);
	}
	for (size_t off = 0; off < corpus_len; off += 1 << 20) {
		size_t n = corpus_len - off < (1 << 20) ? corpus_len - off : (1 << 20);

		emt_sha256(corpus + off, n, h);
	}
	double t = now() - t0;

	ZSTD_freeCCtx(cc);
	free(dst);
	return mbps(corpus_len, t);
}

/* Compression MB/s (wall) that `zstd -b` reports for one level and block
 * size on the corpus file, or 0 if it cannot be run or parsed. */
static double zstd_cli_speed(const char *cpath, int level, uint32_t block)
{
	char cmd[8192], line[512];
	double best = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "zstd -b%d -B%u -i2 '%s' 2>&1 | tr '\\r' '\\n' | grep 'MB/s, ' | tail -n 1",
		 level, block, cpath);
	f = popen(cmd, "r");
	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f)) {
		/* "... (x2.099),  172.5 MB/s,  776.7 MB/s" */
		char *p = strstr(line, "),");

		if (p)
			best = strtod(p + 2, NULL);
	}
	pclose(f);
	return best;
}

static void shell(const char *what, const char *cmd)
{
	double t0 = wall();
	int rc = system(cmd);
	double t = wall() - t0;

	printf("  %-44s %.0f MB/s (wall %.3f s)%s\n", what, mbps(corpus_len, t), t,
	       rc ? " (failed)" : "");
}

static void bench_delta(const char *dir)
{
	size_t n = 1 << 20;
	enum { NV = 50 };
	printf("\ndelta: one 1 MiB region of real code, %d versions, 16 bytes changed per version\n", NV);
	for (int nd = 0; nd <= 1; nd++) {
		char path[4096];
		struct emt_writer_opts o = { .sz = sizeof(o), .no_delta = (uint32_t)nd,
					     .flags = EMT_CREATE_FORCE };
		uint8_t *d = malloc(n);
		uint64_t x = 12345;

		snprintf(path, sizeof(path), "%s/delta%d.emt", dir, nd);
		memcpy(d, corpus, n < corpus_len ? n : corpus_len);
		double t0 = now();
		struct emt_writer *w = emt_writer_create(path, &o, NULL);
		struct emt_process p = { .pid = 1 };
		struct emt_writer_stats st;

		emt_writer_add_process(w, &p);
		struct emt_region rg = { .process_id = p.id, .pid = 1, .backing = EMT_BACKING_ANON,
					 .start = 0x1000, .length = n };

		emt_writer_add_region(w, &rg);
		for (int v = 0; v < NV; v++) {
			struct emt_capture c = { .region_id = rg.id, .pid = 1,
						 .trigger = EMT_TRIGGER_MPROTECT, .addr = 0x1000, .size = n };

			for (int k = 0; k < 16; k++) {
				x = x * 6364136223846793005ull + 1442695040888963407ull;
				d[(x >> 20) % n] ^= (uint8_t)(x >> 8);
			}
			emt_writer_add_capture(w, &c, d, NULL, 0, NULL);
		}
		emt_writer_stats(w, &st);
		emt_writer_close(w, NULL);
		double t = now() - t0;

		printf("  %-10s stored %9" PRIu64 " bytes for %d MiB raw (%.1f KiB/version), "
		       "%" PRIu64 " new chunks, %" PRIu64 " delta, %.3f s\n",
		       nd ? "no delta" : "delta", st.stored_bytes, NV,
		       (double)st.stored_bytes / NV / 1024, st.chunks_new, st.chunks_delta, t);
		free(d);
	}
}

static void bench_listing(const char *dir)
{
	char path[4096];
	enum { N = 100000 };
	struct emt_writer_opts o = { .sz = sizeof(o), .flags = EMT_CREATE_FORCE };
	uint8_t buf[4096];
	struct emt_process p = { .pid = 1 };

	snprintf(path, sizeof(path), "%s/list.emt", dir);
	double t0 = now();
	struct emt_writer *w = emt_writer_create(path, &o, NULL);

	emt_writer_add_process(w, &p);
	int64_t rids[64];

	for (int i = 0; i < 64; i++) {
		struct emt_region rg = { .process_id = p.id, .pid = 1, .backing = EMT_BACKING_ANON,
					 .start = 0x100000ull * (uint64_t)(i + 1), .length = 4096 };

		emt_writer_add_region(w, &rg);
		rids[i] = rg.id;
	}
	for (int k = 0; k < N; k++) {
		struct emt_capture c = { .region_id = rids[k % 64], .pid = 1, .tid = 1,
					 .trigger = EMT_TRIGGER_MPROTECT,
					 .addr = 0x100000ull * (uint64_t)(k % 64 + 1), .size = sizeof(buf),
					 .time_ns = (uint64_t)k };

		memcpy(buf, corpus + ((size_t)k * 4096) % (corpus_len - 4096), 4096);
		memcpy(buf, &k, sizeof(k));
		emt_writer_add_capture(w, &c, buf, NULL, 0, NULL);
	}
	emt_writer_close(w, NULL);
	double tw = now() - t0;

	/* What emt-ls does: open, summary, iterate every capture.  These
	 * targets are about waiting users: wall time. */
	t0 = wall();
	struct emt_reader *r = emt_reader_open(path, NULL);
	struct emt_summary s;
	struct emt_capture c;
	uint64_t cnt = 0, sum = 0;

	emt_reader_summary(r, &s);
	struct emt_capture_iter *it = emt_reader_captures(r, NULL);

	while (emt_capture_iter_next(it, &c) == 1) {
		cnt++;
		sum += c.size + c.ngaps;
	}
	emt_capture_iter_free(it);
	emt_reader_close(r);
	double tl = wall() - t0;

	/* What emt-extract of one capture does: open, read, close. */
	t0 = wall();
	r = emt_reader_open(path, NULL);
	int rc = emt_reader_read_capture(r, N / 2, buf, sizeof(buf), 0);

	emt_reader_close(r);
	double tx = wall() - t0;

	/* Full verification (every chunk, hash and ledger entry). */
	t0 = wall();
	r = emt_reader_open(path, NULL);
	int problems = emt_reader_verify(r, NULL, NULL, NULL);

	emt_reader_close(r);
	double tv = wall() - t0;

	printf("\nlisting: %d captures of 4 KiB written in %.2f CPU s\n", N, tw);
	printf("  open + summary + iterate all %" PRIu64 " captures: %.3f s (target < 2 s)\n", cnt, tl);
	printf("  open + read one capture + close: %.2f ms (target < 50 ms)%s\n", tx * 1e3,
	       rc ? " FAILED" : "");
	printf("  open + verify all: %.2f s (%d problems)\n", tv, problems);
	(void)sum;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 48;
	double w0 = wall();
	const char *dir = tl_tmpdir();
	char cpath[4096], cmd[8192], apath[4096];
	static const uint32_t chunks[] = { 16384, 65536, 262144 };
	static const int levels[] = { 1, 3, 6 };

	corpus_max = mib << 20;
	corpus = malloc(corpus_max);
	add_dir("/usr/lib/x86_64-linux-gnu", ".so");
	add_text("/usr/bin/luajit");
	{
		/* This build's own tools (run from the top of the tree). */
		char bdir[4096];
		const char *b = getenv("BUILD");

		snprintf(bdir, sizeof(bdir), "%s/bin", b && *b ? b : "build");
		add_dir(bdir, NULL);
	}
	if (corpus_len < (1 << 20)) {
		fprintf(stderr, "bench_format: found only %zu bytes of code\n", corpus_len);
		return 1;
	}
	snprintf(cpath, sizeof(cpath), "%s/corpus.bin", dir);
	tl_write_file(cpath, corpus, corpus_len);

	printf("bench_format: emt %s, corpus %.1f MB of .text from %d ELF files\n",
	       emt_version(), (double)corpus_len / 1e6, nfiles);
	printf("speeds are MB/s (10^6 bytes) per CPU second of this process unless marked wall;\n"
	       "load average at start: ");
	fflush(stdout);
	if (system("cut -d' ' -f1-3 /proc/loadavg") != 0)
		printf("?\n");
	{
		uint8_t h[32];
		double t0 = now();

		emt_sha256(corpus, corpus_len, h);
		printf("\nreference speeds on the same data (one thread):\n");
		printf("  SHA-256 (OpenSSL EVP, in process)            %.0f MB/s\n",
		       mbps(corpus_len, now() - t0));
	}
	for (size_t l = 0; l < 3; l++) {
		uint64_t out;
		double sp = zstd_speed(65536, levels[l], &out);

		printf("  zstd -%d, 64 KiB blocks (in process)          %.0f MB/s, ratio %.3f\n",
		       levels[l], sp, (double)corpus_len / (double)out);
	}
	snprintf(cmd, sizeof(cmd), "sha256sum '%s' >/dev/null", cpath);
	shell("sha256sum corpus (command)", cmd);
	snprintf(cmd, sizeof(cmd), "zstd -q -3 -T1 -f -o /dev/null '%s' 2>/dev/null", cpath);
	shell("zstd -3 -T1 corpus (command)", cmd);
	fflush(stdout);
	for (size_t l = 0; l < 3; l++) {
		/* zstd -b: compression and decompression MB/s (wall, 1 thread). */
		printf("  zstd -b%d -B65536 (command):", levels[l]);
		fflush(stdout);
		snprintf(cmd, sizeof(cmd), "zstd -b%d -B65536 -i2 '%s' 2>&1 | tr '\\r' '\\n' |"
			 " grep 'MB/s, ' | tail -n 1 | sed 's/.*: *//'", levels[l], cpath);
		if (system(cmd) != 0)
			printf(" failed\n");
	}

	if (argc > 2 && strcmp(argv[2], "write") == 0) {
		/* Profiling aid: only the default configuration's write. */
		struct result res;

		snprintf(apath, sizeof(apath), "%s/a.emt", dir);
		for (int i = 0; i < 5; i++)
			if (run_archive(apath, 0, 0, 1 << 20, &res))
				return 1;
		printf("core (2x SHA-256 + zstd, no SQLite) %.0f MB/s\n", core_speed(65536, 3));
		printf("write %.0f MB/s per CPU s, %.0f MB/s wall, stored ratio %.3f, file ratio %.3f\n",
		       mbps(corpus_len, res.write_s), mbps(corpus_len, res.write_wall),
		       (double)corpus_len / (double)res.stored, (double)corpus_len / (double)res.file_bytes);
		tl_tmpdir_cleanup();
		return 0;
	}
	printf("\narchive: corpus as 1 MiB captures (one region each, no dedupe)\n");
	printf("  write cpu: MB/s per CPU second (both writer threads counted), compared\n"
	       "  with one-thread zstd at the same level and chunk size in process (CPU time);\n"
	       "  write wall: MB/s of elapsed time, compared with `zstd -bL -B<chunk>` run just\n"
	       "  before it (wall, one thread); read: every capture read back and verified (CPU).\n");
	printf("  %-6s %-5s %10s %9s %10s %8s %9s %9s %9s %11s\n", "chunk", "level", "write cpu",
	       "% of zstd", "write wall", "zstd -b", "% of it", "read", "ratio", "file ratio");
	for (size_t c = 0; c < 3; c++) {
		for (size_t l = 0; l < 3; l++) {
			struct result res;
			uint64_t out;
			double zs = zstd_speed(chunks[c], levels[l], &out);
			double zb = zstd_cli_speed(cpath, levels[l], chunks[c]);

			snprintf(apath, sizeof(apath), "%s/a.emt", dir);
			if (run_archive(apath, chunks[c], levels[l], 1 << 20, &res))
				return 1;
			double ws = mbps(corpus_len, res.write_s);

			double ww = mbps(corpus_len, res.write_wall);

			printf("  %4uK  %-5d %10.0f %8.0f%% %10.0f %8.0f %8.0f%% %9.0f %9.3f %11.3f\n",
			       chunks[c] / 1024, levels[l], ws, 100 * ws / zs, ww, zb,
			       zb > 0 ? 100 * ww / zb : 0.0, mbps(corpus_len, res.read_s),
			       (double)corpus_len / (double)res.stored,
			       (double)corpus_len / (double)res.file_bytes);
			fflush(stdout);
		}
	}
	bench_delta(dir);
	bench_listing(dir);
	tl_tmpdir_cleanup();
	free(corpus);
	printf("\ndefaults chosen from these figures: chunk 64 KiB, zstd level 3 (SPEC.md section 13)\n");
	printf("total wall time %.1f s\n", wall() - w0);
	return 0;
}
