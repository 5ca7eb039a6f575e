/*
 * check-recall - compares an emt archive with the ground truth printed by
 * a fixture (EMT-TRUTH lines, protocol in fixtures/fixture.h).
 *
 * For every truth image it looks for a capture of the same pid whose range
 * covers the image and whose bytes over the image hash to the truth
 * SHA-256.  Bytes that fall in a recorded gap of that capture do not count:
 * a gap is "not captured", even if the truth bytes happen to be zero.
 *
 * Captures are read one at a time in seq order, and only if they cover an
 * image still missing, so memory stays bounded by the largest capture and
 * each capture is decoded at most once.  Images are indexed by range (pid,
 * addr, size), and within a range by SHA-256, so that a capture hashes each
 * range it covers once whatever the number of versions: a polymorphic
 * fixture prints 100,000 versions of one page.
 *
 * With --require-regs, an image found in a first-exec-fault capture (ptrace
 * mode) also needs that capture's register snapshot, rip inside the range.
 *
 * Exit: 0 all required images found (and, with --require-gapless, no
 * capture has gaps; with --require-regs, no bad snapshot); 1 otherwise;
 * 2 usage or I/O error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emt_archive.h"

#define PROG "check-recall"

struct image {
	uint32_t pid, tid;
	uint64_t addr, size;
	uint8_t  sha[EMT_SHA256_LEN];
	char     kind[32];
	uint32_t version;
	unsigned line;
	int      required;      /* 0: superseded, --final-only-kind */
	int      found;
	uint64_t seq;           /* capture that matched */
	uint32_t trigger;
	uint64_t gap_seq;       /* a covering capture with a gap over it */
	int      bad_regs;      /* --require-regs: found, but no usable rip */
	uint64_t rip;
};

static struct image *imgs;
static size_t nimgs, capimgs;

static char **final_kinds;
static size_t nfinal_kinds;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [--verbose] [--require-gapless] [--final-only-kind=K]... ARCHIVE TRUTHFILE\n"
		"\n"
		"Checks that every EMT-TRUTH image of TRUTHFILE (fixture output) was\n"
		"captured byte-exact in ARCHIVE.\n"
		"\n"
		"  -v, --verbose            FOUND/MISSING per image, with capture seq and trigger\n"
		"  -g, --require-gapless    also fail if any capture of the archive has gaps\n"
		"  -f, --final-only-kind=K  for images of kind K, require only the highest\n"
		"                           version of each (pid, addr) range (repeatable)\n"
		"  -r, --require-regs       images found in first-exec-fault captures need a\n"
		"                           register snapshot whose rip lies in the capture\n"
		"\n"
		"examples:\n"
		"  fx_wx > truth.txt; " PROG " case.emt truth.txt\n"
		"  " PROG " --final-only-kind=rwx bpf.emt rwx-truth.txt\n");
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes `len` hex digits into out (len/2 bytes); -1 if not hex. */
static int unhex(const char *s, size_t len, uint8_t *out)
{
	if (len % 2)
		return -1;
	for (size_t i = 0; i < len; i += 2) {
		int h = hexval(s[i]), l = hexval(s[i + 1]);
		if (h < 0 || l < 0)
			return -1;
		out[i / 2] = (uint8_t)(h << 4 | l);
	}
	return 0;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
	char buf[32], *end;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	unsigned long long v = strtoull(buf, &end, 0);
	if (errno || *end || buf[0] == '-')
		return -1;
	*out = v;
	return 0;
}

/* Parses one EMT-TRUTH line (without the prefix) into *im.  Returns NULL or
 * a static description of what is wrong. */
static const char *parse_truth(char *s, struct image *im)
{
	uint64_t pid = 0, tid = 0, ver = 0;
	int have = 0;           /* bits: pid addr size hash kind version */
	const char *hexv = NULL;        /* hex= value, decoded after the loop */
	size_t hexvlen = 0;

	memset(im, 0, sizeof(*im));
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		char *tok = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
		if (tok == s)
			break;
		char *eq = memchr(tok, '=', (size_t)(s - tok));
		if (!eq)
			continue;
		size_t klen = (size_t)(eq - tok), vlen = (size_t)(s - eq - 1);
		const char *v = eq + 1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(tok, k, klen) == 0)
		if (KEY("pid")) {
			if (parse_u64(v, vlen, &pid) || pid == 0 || pid > UINT32_MAX)
				return "bad pid";
			have |= 1;
		} else if (KEY("tid")) {
			if (parse_u64(v, vlen, &tid) || tid > UINT32_MAX)
				return "bad tid";
		} else if (KEY("addr")) {
			if (parse_u64(v, vlen, &im->addr))
				return "bad addr";
			have |= 2;
		} else if (KEY("size")) {
			if (parse_u64(v, vlen, &im->size) || im->size == 0)
				return "bad size";
			have |= 4;
		} else if (KEY("sha256")) {
			if (vlen != 64 || unhex(v, 64, im->sha))
				return "bad sha256 (want 64 hex digits)";
			have |= 8;
		} else if (KEY("hex")) {
			hexv = v;
			hexvlen = vlen;
		} else if (KEY("kind")) {
			if (vlen == 0 || vlen >= sizeof(im->kind))
				return "bad kind";
			memcpy(im->kind, v, vlen);
			have |= 16;
		} else if (KEY("version")) {
			if (parse_u64(v, vlen, &ver) || ver == 0 || ver > UINT32_MAX)
				return "bad version";
			have |= 32;
		}
#undef KEY
	}
	if (hexv && !(have & 8)) {
		if (!(have & 4) || hexvlen != 2 * im->size)
			return "hex length does not match size";
		uint8_t *bytes = malloc(hexvlen / 2);
		if (!bytes)
			return "out of memory";
		int bad = unhex(hexv, hexvlen, bytes);
		if (!bad)
			emt_sha256(bytes, hexvlen / 2, im->sha);
		free(bytes);
		if (bad)
			return "bad hex bytes";
		have |= 8;
	}
	if ((have & 63) != 63)
		return "missing field (need pid addr size sha256|hex kind version)";
	if (im->addr + im->size < im->addr)
		return "range wraps";
	im->pid = (uint32_t)pid;
	im->tid = (uint32_t)tid;
	im->version = (uint32_t)ver;
	return NULL;
}

/* Reads TRUTHFILE; returns 0 or -1 after printing why. */
static int load_truth(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, PROG ": cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned lineno = 0;
	int rc = 0;
	static const char prefix[] = "EMT-TRUTH ";
	while ((n = getline(&line, &cap, f)) > 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
			continue;
		struct image im;
		const char *why = parse_truth(line + sizeof(prefix) - 1, &im);
		if (why) {
			fprintf(stderr, PROG ": '%s' line %u: %s\n", path, lineno, why);
			rc = -1;
			break;
		}
		im.line = lineno;
		im.required = 1;
		if (nimgs == capimgs) {
			size_t nc = capimgs ? 2 * capimgs : 64;
			struct image *ni = realloc(imgs, nc * sizeof(*ni));
			if (!ni) {
				fprintf(stderr, PROG ": out of memory\n");
				rc = -1;
				break;
			}
			imgs = ni;
			capimgs = nc;
		}
		imgs[nimgs++] = im;
	}
	if (rc == 0 && ferror(f)) {
		fprintf(stderr, PROG ": cannot read '%s': %s\n", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	if (rc == 0 && nimgs == 0) {
		/* An empty truth file would "pass" anything. */
		fprintf(stderr, PROG ": '%s': no EMT-TRUTH lines\n", path);
		rc = -1;
	}
	return rc;
}

static int is_final_only(const char *kind)
{
	for (size_t i = 0; i < nfinal_kinds; i++)
		if (strcmp(final_kinds[i], kind) == 0)
			return 1;
	return 0;
}

/* Orders images by range: pid, addr, size. */
static int cmp_range(const struct image *x, const struct image *y)
{
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return 0;
}

/* Orders images by range, then kind, then version, then truth line. */
static int cmp_final(const void *a, const void *b)
{
	const struct image *x = *(const struct image *const *)a;
	const struct image *y = *(const struct image *const *)b;
	int k = cmp_range(x, y);

	if (!k)
		k = strcmp(x->kind, y->kind);
	if (k)
		return k;
	if (x->version != y->version)
		return x->version < y->version ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* --final-only-kind: of each (pid, addr, size, kind) group, only the
 * highest version stays required (the last printed of equal versions).
 * Returns 0 or -1 when out of memory. */
static int apply_final_only(void)
{
	if (!nfinal_kinds)
		return 0;
	struct image **v = malloc(nimgs * sizeof(*v));
	if (!v)
		return -1;
	for (size_t i = 0; i < nimgs; i++)
		v[i] = &imgs[i];
	qsort(v, nimgs, sizeof(*v), cmp_final);
	for (size_t i = 0; i + 1 < nimgs; i++) {
		const struct image *a = v[i], *b = v[i + 1];
		if (is_final_only(a->kind) && cmp_range(a, b) == 0 &&
		    strcmp(a->kind, b->kind) == 0)
			v[i]->required = 0;
	}
	free(v);
	return 0;
}

/* The images of one (pid, addr, size) range, sorted by SHA-256. */
struct range {
	uint32_t pid;
	uint64_t addr, size;
	struct image **by_sha;
	size_t n, missing;      /* missing: images not found yet */
	uint64_t gap_seq;       /* last covering capture with a gap over it */
};

static struct range *ranges;
static size_t nranges;
static struct image **img_index;

static int cmp_range_sha(const void *a, const void *b)
{
	const struct image *x = *(const struct image *const *)a;
	const struct image *y = *(const struct image *const *)b;
	int k = cmp_range(x, y);

	return k ? k : memcmp(x->sha, y->sha, EMT_SHA256_LEN);
}

/* Builds ranges[] sorted by (pid, addr, size); returns 0 or -1 (memory). */
static int build_index(void)
{
	img_index = malloc(nimgs * sizeof(*img_index));
	ranges = malloc(nimgs * sizeof(*ranges));
	if (!img_index || !ranges)
		return -1;
	for (size_t i = 0; i < nimgs; i++)
		img_index[i] = &imgs[i];
	qsort(img_index, nimgs, sizeof(*img_index), cmp_range_sha);
	for (size_t i = 0; i < nimgs; i++) {
		const struct image *im = img_index[i];
		struct range *g = nranges ? &ranges[nranges - 1] : NULL;
		if (!g || cmp_range(g->by_sha[0], im) != 0) {
			g = &ranges[nranges++];
			memset(g, 0, sizeof(*g));
			g->pid = im->pid;
			g->addr = im->addr;
			g->size = im->size;
			g->by_sha = &img_index[i];
		}
		g->n++;
		g->missing++;
	}
	return 0;
}

/* First range of pid with addr >= lo, or nranges. */
static size_t first_range(uint32_t pid, uint64_t lo)
{
	size_t a = 0, b = nranges;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (ranges[m].pid < pid || (ranges[m].pid == pid && ranges[m].addr < lo))
			a = m + 1;
		else
			b = m;
	}
	return a;
}

static int overlaps_gap(const struct emt_gap *g, size_t ng, uint64_t off,
			uint64_t len)
{
	for (size_t i = 0; i < ng; i++)
		if (g[i].offset < off + len && off < g[i].offset + g[i].length)
			return 1;
	return 0;
}

/* A first-execution capture must say where execution was: rip inside the
 * captured range. */
static void check_regs(struct emt_reader *r, const struct emt_capture *c,
		       struct image *im)
{
	struct emt_regs_x86_64 regs;
	if (emt_reader_regs(r, c->seq, &regs) < 0) {
		im->bad_regs = 1;
		return;
	}
	im->rip = regs.rip;
	if (regs.rip < c->addr || regs.rip >= c->addr + c->size)
		im->bad_regs = 1;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "require-gapless", no_argument, NULL, 'g' },
		{ "final-only-kind", required_argument, NULL, 'f' },
		{ "require-regs", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int verbose = 0, gapless = 0, want_regs = 0, opt;
	while ((opt = getopt_long(argc, argv, "vgf:rh", lopts, NULL)) != -1) {
		switch (opt) {
		case 'v': verbose = 1; break;
		case 'r': want_regs = 1; break;
		case 'g': gapless = 1; break;
		case 'f': {
			char **nk = realloc(final_kinds, (nfinal_kinds + 1) * sizeof(*nk));
			if (!nk) {
				fprintf(stderr, PROG ": out of memory\n");
				return 2;
			}
			final_kinds = nk;
			final_kinds[nfinal_kinds++] = optarg;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	const char *apath = argv[optind], *tpath = argv[optind + 1];
	if (load_truth(tpath))
		return 2;
	if (apply_final_only() || build_index()) {
		fprintf(stderr, PROG ": out of memory for %zu truth images\n", nimgs);
		return 2;
	}

	char *err = NULL;
	struct emt_reader *r = emt_reader_open(apath, &err);
	if (!r) {
		fprintf(stderr, PROG ": cannot open '%s': %s\n", apath,
			err ? err : strerror(errno));
		free(err);
		return 2;
	}

	int status = 0;         /* 2 on I/O error */
	uint8_t *buf = NULL;
	size_t bufcap = 0;
	uint64_t ncaps = 0, ngapcaps = 0;
	struct emt_capture_iter *it = emt_reader_captures(r, NULL);
	if (!it) {
		fprintf(stderr, PROG ": '%s': cannot list captures: %s\n", apath,
			emt_reader_errmsg(r));
		emt_reader_close(r);
		return 2;
	}
	struct emt_capture c;
	int rc;
	while ((rc = emt_capture_iter_next(it, &c)) == 1) {
		ncaps++;
		struct emt_gap *gaps = NULL;
		size_t ngaps = 0;
		if (c.ngaps) {
			ngapcaps++;
			printf("gaps: capture %llu (pid %u addr %#llx size %llu) has %u gap(s)\n",
			       (unsigned long long)c.seq, c.pid,
			       (unsigned long long)c.addr, (unsigned long long)c.size,
			       c.ngaps);
			if (emt_reader_gaps(r, c.seq, &gaps, &ngaps) < 0) {
				fprintf(stderr, PROG ": capture %llu: cannot read gaps: %s\n",
					(unsigned long long)c.seq, emt_reader_errmsg(r));
				status = 2;
				break;
			}
		}
		int loaded = 0;
		uint64_t cend = c.addr + c.size;
		for (size_t gi = first_range(c.pid, c.addr);
		     gi < nranges && status != 2; gi++) {
			struct range *g = &ranges[gi];
			if (g->pid != c.pid || g->addr >= cend)
				break;
			if (!g->missing || g->addr + g->size > cend)
				continue;
			uint64_t off = g->addr - c.addr;
			if (overlaps_gap(gaps, ngaps, off, g->size)) {
				g->gap_seq = c.seq;
				continue;
			}
			if (!loaded) {
				if (c.size > SIZE_MAX) {
					status = 2;
					break;
				}
				if (c.size > bufcap) {
					free(buf);
					bufcap = (size_t)c.size;
					buf = malloc(bufcap ? bufcap : 1);
					if (!buf) {
						fprintf(stderr, PROG ": out of memory for capture %llu (%llu bytes)\n",
							(unsigned long long)c.seq,
							(unsigned long long)c.size);
						status = 2;
						break;
					}
				}
				int e = emt_reader_read_capture(r, c.seq, buf, bufcap, 0);
				if (e < 0) {
					fprintf(stderr, PROG ": capture %llu: cannot read: %s\n",
						(unsigned long long)c.seq,
						emt_reader_errmsg(r));
					status = 2;
					break;
				}
				loaded = 1;
			}
			uint8_t sha[EMT_SHA256_LEN];
			emt_sha256(buf + off, (size_t)g->size, sha);
			/* lower bound of sha among the range's images */
			size_t a = 0, b = g->n;
			while (a < b) {
				size_t m = a + (b - a) / 2;
				if (memcmp(g->by_sha[m]->sha, sha, EMT_SHA256_LEN) < 0)
					a = m + 1;
				else
					b = m;
			}
			for (; a < g->n && !memcmp(g->by_sha[a]->sha, sha, EMT_SHA256_LEN); a++) {
				struct image *im = g->by_sha[a];
				if (im->found)
					continue;
				im->found = 1;
				im->seq = c.seq;
				im->trigger = c.trigger;
				g->missing--;
				if (want_regs && c.trigger == EMT_TRIGGER_FIRST_EXEC_FAULT)
					check_regs(r, &c, im);
			}
		}
		free(gaps);
		if (status == 2)
			break;
	}
	if (rc < 0 && status != 2) {
		fprintf(stderr, PROG ": '%s': cannot list captures: %s\n", apath,
			emt_reader_errmsg(r));
		status = 2;
	}
	emt_capture_iter_free(it);
	free(buf);
	emt_reader_close(r);
	if (status == 2)
		return 2;

	for (size_t gi = 0; gi < nranges; gi++)
		for (size_t k = 0; k < ranges[gi].n; k++)
			ranges[gi].by_sha[k]->gap_seq = ranges[gi].gap_seq;
	free(img_index);
	free(ranges);

	size_t req = 0, found = 0, badregs = 0;
	for (size_t i = 0; i < nimgs; i++) {
		struct image *im = &imgs[i];
		char hex[2 * EMT_SHA256_LEN + 1];
		emt_hex(im->sha, EMT_SHA256_LEN, hex);
		if (im->required) {
			req++;
			found += im->found != 0;
			badregs += im->found && im->bad_regs;
		}
		if (!verbose && (im->found || !im->required) && !im->bad_regs)
			continue;
		const char *what = im->found ? "FOUND" : im->required ? "MISSING" : "superseded";
		printf("%-10s pid=%u tid=%u addr=%#llx size=%llu kind=%s version=%u sha256=%.16s... (truth line %u)",
		       what, im->pid, im->tid, (unsigned long long)im->addr,
		       (unsigned long long)im->size, im->kind, im->version,
		       hex, im->line);
		if (im->found) {
			const char *t = emt_trigger_name((enum emt_trigger)im->trigger);
			printf(" seq=%llu trigger=%s", (unsigned long long)im->seq,
			       t ? t : "?");
			if (im->bad_regs && im->rip)
				printf(" BAD-REGS rip=%#llx outside the capture",
				       (unsigned long long)im->rip);
			else if (im->bad_regs)
				printf(" BAD-REGS no register snapshot");
			else if (im->rip)
				printf(" rip=%#llx", (unsigned long long)im->rip);
		} else if (im->gap_seq) {
			printf(" (capture %llu covers it but has a gap there)",
			       (unsigned long long)im->gap_seq);
		}
		putchar('\n');
	}
	printf("recall: %zu/%zu images found (%.1f%%)", found, req,
	       req ? 100.0 * (double)found / (double)req : 0.0);
	if (nimgs != req)
		printf(", %zu superseded versions not required", nimgs - req);
	printf("; %llu captures, %llu with gaps", (unsigned long long)ncaps,
	       (unsigned long long)ngapcaps);
	if (want_regs)
		printf("; %zu found without a usable register snapshot", badregs);
	putchar('\n');
	if (found != req || badregs)
		return 1;
	if (gapless && ngapcaps)
		return 1;
	return 0;
}
