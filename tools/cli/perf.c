/*
 * perf.c - perf map and jitdump files from an archive, so that perf
 * report can name samples that fell into captured code after the fact.
 *
 * perf-PID.map (jit-interface.txt) is the simple form: lines
 * "START SIZE NAME", hex without 0x, for samples in anonymous memory of
 * process PID.  jit-PID.dump (jitdump-specification.txt) carries the code
 * bytes and a time per load, so perf inject --jit can tell versions of
 * one address apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "captures.h"
#include "emtcli.h"
#include "perf.h"

#define JITDUMP_MAGIC    0x4A695444u    /* "JiTD" read as a native u32 */
#define JITDUMP_VERSION  1u
#define JIT_CODE_LOAD    0u
#define EM_X86_64_MACH   62u            /* elf.h EM_X86_64 */

struct jitdump_header {
	uint32_t magic, version, total_size, elf_mach, pad1, pid;
	uint64_t timestamp, flags;
};
_Static_assert(sizeof(struct jitdump_header) == 40, "jitdump header is 40 bytes");

struct jitdump_load {
	uint32_t id, total_size;        /* record prefix */
	uint64_t timestamp;
	uint32_t pid, tid;
	uint64_t vma, code_addr, code_size, code_index;
	/* then the NUL-terminated name and code_size bytes */
};
_Static_assert(sizeof(struct jitdump_load) == 56, "prefix 16 + load 40 bytes");

void cli_perf_name(char buf[CLI_PERF_NAME_MAX], const struct emt_capture *c)
{
	snprintf(buf, CLI_PERF_NAME_MAX, "emt:r%" PRId64 "v%" PRIu32 ":seq%" PRIu64,
		 c->region_id, c->version, c->seq);
}

static int by_pid_seq(const void *a, const void *b)
{
	const struct emt_capture *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Creates DIR/NAME for writing; never follows a symlink, replaces only
 * with `force`.  Returns the stream or NULL after printing why. */
static FILE *create_out(int dirfd, const char *dir, const char *name, int force)
{
	char esc[512];
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
			(force ? O_TRUNC : O_EXCL), 0644);
	FILE *f;

	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		cli_error("cannot create '%s/%s': %s%s", cli_escape_str(esc, sizeof(esc), dir),
			  name, strerror(errno), errno == EEXIST ? " (use --force to overwrite)" : "");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return f;
}

/* Closes `f` and reports the file; returns 0 or -1 after printing. */
static int finish_out(FILE *f, const char *dir, const char *name)
{
	char esc[512];
	int bad = ferror(f);

	if (fclose(f) != 0 || bad) {
		cli_error("cannot write '%s/%s': %s", cli_escape_str(esc, sizeof(esc), dir), name,
			  strerror(errno ? errno : EIO));
		return -1;
	}
	/* stdout: the files written, for scripts (cp "$f" /tmp) */
	printf("%s/%s\n", cli_escape_str(esc, sizeof(esc), dir), name);
	return 0;
}

/* ------------------------------------------------------------------ */
/* perf map                                                            */

struct span {
	uint64_t start, end;
	size_t cap;             /* index of the capture naming it */
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Adds [start, end) to the sorted disjoint union `u` (*nu entries, room
 * for one more) and merges what now touches. */
static void union_add(struct span *u, size_t *nu, uint64_t start, uint64_t end)
{
	size_t n = *nu, out = 0;

	u[n++] = (struct span){ .start = start, .end = end };
	qsort(u, n, sizeof(*u), span_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out && u[i].start <= u[out - 1].end) {
			if (u[i].end > u[out - 1].end)
				u[out - 1].end = u[i].end;
			continue;
		}
		u[out++] = u[i];
	}
	*nu = out;
}

/* Writes the map of captures c[0..n) (one pid, seq order).  Latest first:
 * each capture keeps the addresses no later capture took. */
static int write_map(const struct emt_capture *c, size_t n, int dirfd, const char *dir,
		     int force)
{
	struct span *u = calloc(n + 1, sizeof(*u));
	struct span *out = NULL;
	size_t nu = 0, no = 0, ocap = 0;
	char name[64], sym[CLI_PERF_NAME_MAX];
	FILE *f;
	int rc = -1;

	if (!u)
		goto oom;
	for (size_t k = n; k-- > 0;) {
		uint64_t a = c[k].addr, b = c[k].addr + c[k].size, cur = a;

		if (c[k].size == 0 || b < a)
			continue;
		for (size_t i = 0; i <= nu && cur < b; i++) {
			uint64_t stop = i < nu ? u[i].start : b;

			if (i < nu && u[i].end <= cur)
				continue;
			if (stop > b)
				stop = b;
			if (stop > cur) {
				if (no == ocap) {
					size_t ncap = ocap ? ocap * 2 : 64;
					struct span *ns = realloc(out, ncap * sizeof(*ns));

					if (!ns)
						goto oom;
					out = ns;
					ocap = ncap;
				}
				out[no++] = (struct span){ .start = cur, .end = stop, .cap = k };
			}
			if (i < nu && u[i].end > cur)
				cur = u[i].end;
		}
		union_add(u, &nu, a, b);
	}
	qsort(out, no, sizeof(*out), span_cmp);
	snprintf(name, sizeof(name), "perf-%" PRIu32 ".map", c[0].pid);
	f = create_out(dirfd, dir, name, force);
	if (!f)
		goto out;
	for (size_t i = 0; i < no; i++) {
		cli_perf_name(sym, &c[out[i].cap]);
		fprintf(f, "%" PRIx64 " %" PRIx64 " %s\n", out[i].start,
			out[i].end - out[i].start, sym);
	}
	rc = finish_out(f, dir, name);
	goto out;
oom:
	cli_error("cannot build the map of pid %" PRIu32 ": %s", c[0].pid, strerror(ENOMEM));
out:
	free(u);
	free(out);
	return rc;
}

/* ------------------------------------------------------------------ */
/* jitdump                                                             */

struct clock_map {
	int64_t boot, mono;     /* anchors read together at creation */
};

static uint64_t to_mono(const struct clock_map *cm, uint64_t boot_ns)
{
	return (uint64_t)((int64_t)boot_ns - cm->boot + cm->mono);
}

static int read_anchors(struct emt_reader *r, struct clock_map *cm)
{
	uint64_t b, m;
	const char *v = emt_reader_meta(r, "clock_boottime_ns");

	if (!v || cli_parse_u64(v, &b) || b > INT64_MAX)
		return -1;
	v = emt_reader_meta(r, "clock_monotonic_ns");
	if (!v || cli_parse_u64(v, &m) || m > INT64_MAX)
		return -1;
	cm->boot = (int64_t)b;
	cm->mono = (int64_t)m;
	return 0;
}

/* Writes the jitdump of captures c[0..n) (one pid, seq order). */
static int write_jitdump(struct emt_reader *r, const struct emt_capture *c, size_t n,
			 const struct clock_map *cm, uint64_t start_ns, int dirfd,
			 const char *dir, int force)
{
	struct jitdump_header h = {
		.magic = JITDUMP_MAGIC, .version = JITDUMP_VERSION, .total_size = sizeof(h),
		.elf_mach = EM_X86_64_MACH, .pid = c[0].pid,
		.timestamp = to_mono(cm, start_ns),
	};
	char name[64], sym[CLI_PERF_NAME_MAX], emsg[512];
	uint8_t *buf = NULL;
	size_t cap = 0;
	int failed = 0, rc;
	FILE *f;

	snprintf(name, sizeof(name), "jit-%" PRIu32 ".dump", c[0].pid);
	f = create_out(dirfd, dir, name, force);
	if (!f)
		return -1;
	fwrite(&h, sizeof(h), 1, f);
	for (size_t i = 0; i < n; i++) {
		struct jitdump_load l;
		size_t nlen;

		cli_perf_name(sym, &c[i]);
		nlen = strlen(sym) + 1;
		if (c[i].size == 0)
			continue;
		if (c[i].size > UINT32_MAX - sizeof(l) - nlen) {
			cli_warn("'%s': capture %" PRIu64 ": %" PRIu64 " bytes do not fit a jitdump"
				 " record; left out", cli_archive(), c[i].seq, c[i].size);
			continue;
		}
		rc = cli_capture_bytes(r, &c[i], &buf, &cap);
		if (rc < 0) {
			cli_error("'%s': capture %" PRIu64 ": %s; left out of '%s'", cli_archive(),
				  c[i].seq, rc == -ENOMEM || rc == -E2BIG ? strerror(-rc) :
				  cli_escape_str(emsg, sizeof(emsg),
						 cli_capture_reason(emt_reader_errmsg(r), c[i].seq, rc)),
				  name);
			failed = 1;
			continue;
		}
		if (c[i].ngaps)
			cli_warn("'%s': capture %" PRIu64 ": has gaps (pages not captured), written"
				 " as zeros", cli_archive(), c[i].seq);
		l = (struct jitdump_load){
			.id = JIT_CODE_LOAD, .total_size = (uint32_t)(sizeof(l) + nlen + c[i].size),
			.timestamp = to_mono(cm, c[i].time_ns), .pid = c[i].pid, .tid = c[i].tid,
			.vma = c[i].addr, .code_addr = c[i].addr, .code_size = c[i].size,
			.code_index = c[i].seq,
		};
		fwrite(&l, sizeof(l), 1, f);
		fwrite(sym, 1, nlen, f);
		fwrite(buf, 1, (size_t)c[i].size, f);
	}
	free(buf);
	if (finish_out(f, dir, name) < 0)
		return -1;
	return failed ? -1 : 0;
}

static int export(struct emt_reader *r, const struct emt_filter *f,
		  enum cli_perf_format fmt, const char *dir, int force)
{
	struct emt_capture *list = NULL;
	struct emt_summary s = { 0 };
	struct clock_map cm = { 0 };
	size_t n = 0;
	char esc[512];
	const char *m;
	int dirfd = -1, failed = 0, rc;

	rc = cli_capture_list(r, f, &list, &n);
	if (rc < 0) {
		m = emt_reader_errmsg(r);
		cli_error("cannot read '%s': %s", cli_archive(),
			  cli_escape_str(esc, sizeof(esc), rc != -ENOMEM && m && *m ?
					 cli_skip_prefix(m, cli_archive()) : strerror(-rc)));
		return CLI_EXIT_FAIL;
	}
	if (n == 0) {
		cli_error("'%s': no captures to export", cli_archive());
		goto fail;
	}
	if (fmt == CLI_PERF_JITDUMP) {
		if (read_anchors(r, &cm) < 0) {
			/* perf's jitdump times are CLOCK_MONOTONIC; without the
			 * anchors there is no honest conversion */
			cli_error("'%s': no clock anchors (meta clock_boottime_ns,"
				  " clock_monotonic_ns): cannot give jitdump times", cli_archive());
			goto fail;
		}
		if (emt_reader_summary(r, &s) < 0 || !s.start_ns)
			s.start_ns = list[0].time_ns;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		cli_error("cannot open directory '%s': %s", cli_escape_str(esc, sizeof(esc), dir),
			  strerror(errno));
		goto fail;
	}
	qsort(list, n, sizeof(*list), by_pid_seq);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && list[j].pid == list[i].pid; j++)
			;
		if (fmt == CLI_PERF_MAP)
			rc = write_map(list + i, j - i, dirfd, dir, force);
		else
			rc = write_jitdump(r, list + i, j - i, &cm, s.start_ns, dirfd, dir, force);
		failed |= rc < 0;
	}
	close(dirfd);
	free(list);
	return failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
fail:
	free(list);
	return CLI_EXIT_FAIL;
}

int cli_perf_export(const char *path, const struct emt_filter *f,
		    enum cli_perf_format fmt, const char *dir, int force)
{
	struct emt_reader *r;
	int rc;

	if (dir && !*dir)
		return cli_usage("empty directory name");
	cli_set_archive(path);
	r = cli_open_archive(path);
	if (!r)
		return CLI_EXIT_FAIL;
	rc = export(r, f, fmt, dir ? dir : ".", force);
	emt_reader_close(r);
	return rc;
}
