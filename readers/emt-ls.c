/*
 * emt-ls - list the captures, regions or syscall timeline of an archive.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "emtcli.h"

static const char usage_text[] =
"Usage: emt-ls [OPTION]... ARCHIVE\n"
"List the code captures of an emt archive: a header describing the session,\n"
"then one row per capture (times are wall-clock UTC; RIP: where a\n"
"first-exec-fault capture began executing).\n"
"\n"
"  -r, --regions          list regions with their version counts instead\n"
"  -e, --events           print the syscall timeline instead: the memory\n"
"                         syscalls and, in time order with them, the calls\n"
"                         recorded by emt-capture --syscalls, strace-like\n"
"  -s, --syscall=NAMES    with --events: only these syscalls (comma-separated)\n"
"  -P, --processes        list processes (pid, parent, times, exit status,\n"
"                         executable, command line) instead\n"
"  -I, --injections       list writes into a process by another (writer,\n"
"                         victim, method, address, length, capture) instead\n"
"  -A, --alerts           list syscall model alerts (emt-capture --model:\n"
"                         process, the last N syscalls, RIP, action, the\n"
"                         captures made) instead\n"
"  -j, --json             one JSON object per line (jq-friendly), no header\n"
"  -n, --no-header        omit the session header\n"
"  -W, --width=COLS       fit every line in COLS columns (0 = full rows, never\n"
"                         cut); default: the terminal's width, full rows\n"
"                         otherwise\n"
CLI_COMMON_HELP
"\n"
"%s"
"\n"
"--pid applies to every listing (--injections: writer or victim), --region\n"
"also to --regions, --since and --until also to --events, --injections and\n"
"--alerts;\n"
"the other filters apply to captures only.\n"
"\n"
"Examples:\n"
"  emt-ls case.emt\n"
"  emt-ls --pid 4242 --trigger mprotect --min-size 64k case.emt\n"
"  emt-ls --since '2026-11-22 05:08:08' --json case.emt | jq -r .sha256\n"
"  emt-ls --regions case.emt\n"
"  emt-ls --events --pid 4242 case.emt\n"
"  emt-ls --events --syscall openat,connect case.emt\n"
"  emt-ls --events --json case.emt | jq -r 'select(.args) | .args | fromjson'\n"
"  emt-ls --processes --json case.emt | jq -r .cmdline\n"
"  emt-ls --injections --pid 4242 case.emt\n"
"  emt-ls --alerts --json case.emt | jq -r '.syscalls[].name'\n"
"\n"
"Exit status: 0 success, 1 failure (unreadable or damaged archive),\n"
"2 usage error.\n";

enum { OPT_FIRST = CLI_OPT_FIRST_FREE };

struct opts {
	struct emt_filter f;
	int regions, events, processes, json, no_header, width, width_set;
	int injections, alerts;
	int capture_only_filter;   /* a filter that --regions/--events ignore */
	int event_filter;          /* --since/--until */
	const char *syscalls;      /* --syscall NAMES, or NULL */
	const char *path;
};

/* Capture rows: full 146 columns; "mid" rows (92) are narrow rows with
 * the RIP column; narrow rows (79) drop TID and the end address, show
 * sizes in K/M/G, the time of day only, and put the RIP of a capture
 * that has one on a line of its own. */
#define FULL_ROW_WIDTH 146
#define MID_ROW_WIDTH  92
/* Listings ending in free text (path, detail, command line) use their
 * full layout when that leaves the text at least this many columns. */
#define TAIL_MIN 32
/* Fixed part of full rows of --regions (122), --events (118) and
 * --processes (77). */
#define REGIONS_FIXED 122
#define EVENTS_FIXED 118
#define PROCESSES_FIXED 77
/* Full rows of --injections. */
#define INJECTIONS_FULL 122
/* Fixed part of full rows of --alerts (the window and program follow). */
#define ALERTS_FIXED 86

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static void header_line(struct cli_row *w, const char *label, const char *value)
{
	cli_row_printf(w, "%-10s ", label);
	cli_row_escaped(w, value);
	cli_row_end(w);
}

/* " (KIND N, ...)": what was lost, summed over processes (emt-ls --json
 * --losses would be the place for the per-process rows). */
static void print_loss_kinds(struct emt_reader *r, struct cli_row *w)
{
	struct { char kind[48]; uint64_t n; } k[8];
	size_t nk = 0, more = 0;
	struct emt_row_iter *it = emt_reader_losses(r);
	struct emt_loss l;

	if (!it)
		return;
	while (emt_loss_iter_next(it, &l) == 1) {
		size_t i;
		const char *kind = l.kind ? l.kind : "?";

		for (i = 0; i < nk && strncmp(k[i].kind, kind, sizeof(k[i].kind) - 1); i++)
			;
		if (i == nk) {
			if (nk == sizeof(k) / sizeof(k[0])) {
				more++;
				continue;
			}
			snprintf(k[nk].kind, sizeof(k[nk].kind), "%s", kind);
			k[nk++].n = 0;
		}
		k[i].n += l.count;
	}
	emt_row_iter_free(it);
	/* By name, so the line does not depend on the order rows were added. */
	for (size_t i = 1; i < nk; i++)
		for (size_t j = i; j > 0 && strcmp(k[j - 1].kind, k[j].kind) > 0; j--) {
			char t[sizeof(k[0].kind)];
			uint64_t tn = k[j].n;

			memcpy(t, k[j].kind, sizeof(t));
			memcpy(k[j].kind, k[j - 1].kind, sizeof(t));
			k[j].n = k[j - 1].n;
			memcpy(k[j - 1].kind, t, sizeof(t));
			k[j - 1].n = tn;
		}
	for (size_t i = 0; i < nk; i++) {
		cli_row_printf(w, "%s", i ? ", " : " (");
		cli_row_escaped(w, k[i].kind);
		cli_row_printf(w, " %" PRIu64, k[i].n);
	}
	if (nk)
		cli_row_printf(w, "%s)", more ? ", ..." : "");
}

/* Prints the session header; returns 0 or a negative errno. */
static int print_header(struct emt_reader *r, const char *path, int width)
{
	struct emt_summary s;
	struct emt_row_iter *it;
	struct emt_process p;
	struct cli_row w;
	char tbuf[CLI_TIME_BUFSZ], line[256];
	const char *v;
	uint64_t npids = 0;
	uint32_t shown[16];
	int rc;

	rc = emt_reader_summary(r, &s);
	if (rc < 0)
		return rc;
	cli_row_init(&w, stdout, width);
	header_line(&w, "archive", path);
	snprintf(line, sizeof(line), "%" PRIu32 ".%" PRIu32 ", %s", s.format_major,
		 s.format_minor, s.sealed ? "sealed" : "unsealed (not closed cleanly)");
	header_line(&w, "format", line);
	/* What the archive claims; whether it holds is emt-verify's
	 * question (this listing checks nothing). */
	v = emt_reader_meta(r, "sign_algorithm");
	if (v) {
		char alg[32];

		/* each emt_reader_meta() call ends the last one's string */
		snprintf(alg, sizeof(alg), "%s", v);
		v = emt_reader_meta(r, "sign_key_sha256");
		snprintf(line, sizeof(line), "%s, key sha256 %s (check: emt-verify --key)", alg,
			 v ? v : "?");
		header_line(&w, "signed", line);
	}
	v = emt_reader_meta(r, "target_cmdline");
	header_line(&w, "target", v ? v : "-");

	cli_row_printf(&w, "%-10s ", "pids");
	it = emt_reader_processes(r);
	if (!it) {
		rc = -errno;
		goto out;
	}
	while ((rc = emt_process_iter_next(it, &p)) > 0) {
		/* a process that execs keeps its pid but gets a new row */
		int seen = 0;

		for (uint64_t i = 0; i < npids && i < 16; i++)
			seen |= shown[i] == p.pid;
		if (seen)
			continue;
		if (npids < 16) {
			shown[npids] = p.pid;
			cli_row_printf(&w, "%s%" PRIu32, npids ? " " : "", p.pid);
		}
		npids++;
	}
	emt_row_iter_free(it);
	if (rc < 0)
		goto out;
	if (npids > 16)
		cli_row_printf(&w, " ... (%" PRIu64 " processes in all)", s.processes);
	if (npids == 0)
		cli_row_printf(&w, "-");
	cli_row_end(&w);

	v = emt_reader_meta(r, "mode");
	header_line(&w, "mode", v ? v : "-");
	/* Which kernel hooks a bpf capture used (SPEC.md meta bpf_hooks):
	 * what the timeline's return values mean depends on it. */
	v = emt_reader_meta(r, "bpf_hooks");
	if (v) {
		char hooks[64];
		const char *tp;

		/* The reader's meta value lives until its next call. */
		snprintf(hooks, sizeof(hooks), "%s", v);
		tp = emt_reader_meta(r, "bpf_tracepoints");
		cli_row_printf(&w, "%-10s ", "hooks");
		cli_row_escaped(&w, hooks);
		if (tp) {
			cli_row_printf(&w, " (tracepoint prototypes ");
			cli_row_escaped(&w, tp);
			cli_row_printf(&w, ")");
		}
		cli_row_end(&w);
	}
	/* What alerts were judged against (SPEC.md section 16). */
	v = emt_reader_meta(r, "model_sha256");
	if (v) {
		char sha[72], depth[16] = "?", act[16] = "?", chk[48] = "?";

		snprintf(sha, sizeof(sha), "%s", v);
		if ((v = emt_reader_meta(r, "model_depth")))
			snprintf(depth, sizeof(depth), "%s", v);
		if ((v = emt_reader_meta(r, "model_on_alert")))
			snprintf(act, sizeof(act), "%s", v);
		if ((v = emt_reader_meta(r, "model_programs_checked")))
			snprintf(chk, sizeof(chk), "%s", v);
		v = emt_reader_meta(r, "model_alerts");
		snprintf(line, sizeof(line), "sha256 %s, depth %s, on alert %s, programs checked %s,"
			 " %s alert%s", sha, depth, act, chk, v ? v : "?",
			 v && !strcmp(v, "1") ? "" : "s");
		header_line(&w, "model", line);
	}
	v = emt_reader_meta(r, "host");
	header_line(&w, "host", v ? v : "-");
	v = emt_reader_meta(r, "kernel");
	header_line(&w, "kernel", v ? v : "-");
	cli_row_printf(&w, "%-10s %s UTC", "start",
		       cli_fmt_time(tbuf, emt_reader_wall_ns(r, s.start_ns), CLI_TIME_MS));
	cli_row_end(&w);
	if (s.stop_ns) {
		uint64_t d = s.stop_ns >= s.start_ns ? s.stop_ns - s.start_ns : 0;

		cli_row_printf(&w, "%-10s %s UTC", "stop",
			       cli_fmt_time(tbuf, emt_reader_wall_ns(r, s.stop_ns), CLI_TIME_MS));
		cli_row_end(&w);
		cli_row_printf(&w, "%-10s %" PRIu64 ".%03" PRIu64 " s", "duration",
			       d / 1000000000, d % 1000000000 / 1000000);
		cli_row_end(&w);
	} else {
		cli_row_printf(&w, "%-10s - (unsealed)", "stop");
		cli_row_end(&w);
		cli_row_printf(&w, "%-10s -", "duration");
		cli_row_end(&w);
	}
	cli_row_printf(&w, "%-10s %" PRIu64 " process%s, %" PRIu64 " region%s, %" PRIu64
		       " capture%s, %" PRIu64 " event%s", "counts",
		       s.processes, s.processes == 1 ? "" : "es",
		       s.regions, plural(s.regions), s.captures, plural(s.captures),
		       s.events, plural(s.events));
	cli_row_end(&w);
	cli_row_printf(&w, "%-10s %" PRIu64 " raw, %" PRIu64 " stored", "bytes",
		       s.raw_bytes, s.stored_bytes);
	if (s.stored_bytes)
		cli_row_printf(&w, " (%.2fx)", (double)s.raw_bytes / (double)s.stored_bytes);
	cli_row_end(&w);
	cli_row_printf(&w, "%-10s %" PRIu64 " event%s", "lost", s.losses, plural(s.losses));
	if (s.losses)
		print_loss_kinds(r, &w);
	cli_row_end(&w);
	cli_row_printf(&w, "%-10s %" PRIu64, "gaps", s.gaps);
	cli_row_end(&w);
	cli_row_end(&w);
	rc = 0;
out:
	cli_row_release(&w);
	return rc;
}

/* The output of one listing: rows cut to the width, or with --json one
 * JSON object a row; and what it lists, read by one of two iterators. */
struct listing {
	struct cli_row w;
	struct cli_json *j;             /* NULL without --json */
	struct emt_row_iter *rows;      /* regions, events or processes */
	struct emt_capture_iter *caps;  /* or captures */
};

/* Releases `l`; returns the exit status of a listing whose reading
 * ended with `rc` (a negative errno is said here). */
static int listing_end(struct listing *l, struct emt_reader *r, int rc)
{
	emt_row_iter_free(l->rows);
	emt_capture_iter_free(l->caps);
	cli_json_free(l->j);
	cli_row_release(&l->w);
	return rc < 0 ? cli_read_failed(r, rc) : CLI_EXIT_OK;
}

/* Starts a listing of what `rows` or `caps` reads (the other is NULL),
 * as the reader returned it: NULL when that failed, errno saying why.
 * Returns 0, or CLI_EXIT_FAIL after saying why, with nothing left to
 * release. */
static int listing_start(struct listing *l, struct emt_reader *r, const struct opts *o,
			 struct emt_row_iter *rows, struct emt_capture_iter *caps)
{
	if (!rows && !caps)
		return cli_read_failed(r, -errno);
	l->rows = rows;
	l->caps = caps;
	l->j = NULL;
	cli_row_init(&l->w, stdout, o->width);
	if (o->json && !(l->j = cli_json_new(stdout)))
		return listing_end(l, r, -ENOMEM);
	return 0;
}

static int list_captures(struct emt_reader *r, const struct opts *o)
{
	struct emt_capture c;
	struct listing l;
	char tbuf[CLI_TIME_BUFSZ], pbuf[4], sbuf[16], trig[24], rip[24];
	char hex[2 * EMT_SHA256_LEN + 1];
	int full = o->width == 0 || o->width >= FULL_ROW_WIDTH;
	int mid = !full && o->width >= MID_ROW_WIDTH;
	int rc;

	if (listing_start(&l, r, o, NULL, emt_reader_captures(r, &o->f)))
		return CLI_EXIT_FAIL;
	if (!l.j && full) {
		cli_row_printf(&l.w, "%6s %6s %3s %-23s %7s %7s %-25s %10s %-4s %-16s %-12s %s",
			       "SEQ", "REGION", "VER", "TIME", "PID", "TID",
			       "ADDRESS-RANGE", "SIZE", "PROT", "TRIGGER", "RIP", "SHA256");
		cli_row_end(&l.w);
	} else if (!l.j) {
		cli_row_printf(&l.w, "%6s %4s %3s %-12s %6s %-12s %5s %-4s %-10s %s%s", "SEQ",
			       "REG", "VER", "TIME", "PID", "ADDRESS", "SIZE", "PROT",
			       "TRIGGER", mid ? "RIP          " : "", "SHA256");
		cli_row_end(&l.w);
	}
	while ((rc = emt_capture_iter_next(l.caps, &c)) > 0) {
		int64_t wall = emt_reader_wall_ns(r, c.time_ns);
		struct emt_regs_x86_64 regs;
		int has_rip = 0;

		if (l.j) {
			int64_t inj = 0;

			cli_json_start_object(l.j);
			rc = cli_json_capture_fields(l.j, r, &c);
			/* The injection whose bytes this capture shows
			 * (format 1.2, SPEC.md 15): only if there is one,
			 * as rip. */
			if (rc >= 0 && c.trigger != EMT_TRIGGER_INJECT)
				rc = emt_reader_capture_injection(r, c.seq, &inj);
			if (rc > 0)
				cli_json_ki64(l.j, "injection", inj);
			cli_json_end_object(l.j);
			if (rc < 0)
				break;
			continue;
		}
		/* where a first-exec-fault capture began executing; a
		 * snapshot that cannot be read shows as none here and as
		 * damage in emt-verify */
		if (c.has_regs && emt_reader_regs(r, c.seq, &regs) == 0) {
			has_rip = 1;
			snprintf(rip, sizeof(rip), "%012" PRIx64, regs.rip);
		} else {
			snprintf(rip, sizeof(rip), "-");
		}
		emt_hex(c.sha256, EMT_SHA256_LEN, hex);
		if (full) {
			hex[16] = '\0';
			cli_row_printf(&l.w, "%6" PRIu64 " %6" PRId64 " %3" PRIu32 " %-23s %7" PRIu32
				       " %7" PRIu32 " %012" PRIx64 "-%012" PRIx64 " %10" PRIu64
				       " %-4s %-16s %-12s %s", c.seq, c.region_id, c.version,
				       cli_fmt_time(tbuf, wall, CLI_TIME_MS), c.pid, c.tid,
				       c.addr, c.addr + c.size, c.size,
				       cli_fmt_prot(pbuf, c.prot_after),
				       cli_trigger_name(trig, c.trigger), rip, hex);
			cli_row_end(&l.w);
			continue;
		}
		hex[8] = '\0';
		cli_row_printf(&l.w, "%6" PRIu64 " %4" PRId64 " %3" PRIu32 " %-12s %6" PRIu32
			       " %012" PRIx64 " %5s %-4s %-10s ", c.seq,
			       c.region_id, c.version,
			       cli_fmt_time(tbuf, wall, CLI_TIME_TOD_MS), c.pid,
			       c.addr, cli_fmt_size(sbuf, c.size),
			       cli_fmt_prot(pbuf, c.prot_after),
			       cli_trigger_short(trig, c.trigger));
		if (mid)
			cli_row_printf(&l.w, "%-12s ", rip);
		cli_row_printf(&l.w, "%s", hex);
		cli_row_end(&l.w);
		if (!mid && has_rip) {
			/* under ADDRESS, so it reads as an address of the row above */
			cli_row_printf(&l.w, "%31s rip %s", "", rip);
			cli_row_end(&l.w);
		}
	}
	return listing_end(&l, r, rc);
}

static int list_regions(struct emt_reader *r, const struct opts *o)
{
	struct emt_region g;
	struct listing l;
	char pbuf[4], sbuf[16], t1[CLI_TIME_BUFSZ], t2[CLI_TIME_BUFSZ];
	int full = o->width == 0 || o->width >= REGIONS_FIXED + TAIL_MIN;
	enum cli_time_style ts = o->json ? CLI_TIME_ISO_NS : full ? CLI_TIME_MS : CLI_TIME_TOD_MS;
	int rc;

	if (listing_start(&l, r, o, emt_reader_regions(r, o->f.pid), NULL))
		return CLI_EXIT_FAIL;
	if (!l.j && full) {
		cli_row_printf(&l.w, "%6s %7s %-25s %10s %-4s %-7s %8s %-23s %-23s %s",
			       "REGION", "PID", "ADDRESS-RANGE", "LENGTH", "PROT",
			       "BACKING", "VERSIONS", "CREATED", "GONE", "PATH");
		cli_row_end(&l.w);
	} else if (!l.j) {
		/* narrow: start address, human size, creation time of day */
		cli_row_printf(&l.w, "%6s %7s %-12s %5s %-4s %-7s %3s %-12s %s", "REGION",
			       "PID", "ADDRESS", "SIZE", "PROT", "BACKING", "VER", "CREATED",
			       "PATH");
		cli_row_end(&l.w);
	}
	while ((rc = emt_region_iter_next(l.rows, &g)) > 0) {
		const char *backing = emt_backing_name((enum emt_backing)g.backing);

		if (o->f.region_id && g.id != o->f.region_id)
			continue;
		cli_fmt_time(t1, emt_reader_wall_ns(r, g.created_ns), ts);
		if (g.gone_ns)
			cli_fmt_time(t2, emt_reader_wall_ns(r, g.gone_ns), ts);
		if (l.j) {
			cli_json_start_object(l.j);
			cli_json_ki64(l.j, "region", g.id);
			cli_json_ki64(l.j, "process", g.process_id);
			cli_json_ku64(l.j, "pid", g.pid);
			cli_json_khex(l.j, "addr", g.start);
			cli_json_khex(l.j, "end", g.start + g.length);
			cli_json_ku64(l.j, "length", g.length);
			cli_json_kstr(l.j, "prot", cli_fmt_prot(pbuf, g.prot));
			cli_json_kstr(l.j, "backing", backing ? backing : "unknown");
			cli_json_kstr(l.j, "path", g.path);
			cli_json_ku64(l.j, "inode", g.inode);
			cli_json_ku64(l.j, "dev", g.dev);
			cli_json_ku64(l.j, "offset", g.offset);
			cli_json_ku64(l.j, "versions", g.nversions);
			cli_json_kstr(l.j, "created", t1);
			cli_json_name(l.j, "gone");
			if (g.gone_ns)
				cli_json_string(l.j, t2);
			else
				cli_json_null(l.j);
			cli_json_end_object(l.j);
			continue;
		}
		if (full)
			cli_row_printf(&l.w, "%6" PRId64 " %7" PRIu32 " %012" PRIx64 "-%012" PRIx64
				       " %10" PRIu64 " %-4s %-7s %8" PRIu32 " %-23s %-23s ",
				       g.id, g.pid, g.start, g.start + g.length, g.length,
				       cli_fmt_prot(pbuf, g.prot), backing ? backing : "unknown",
				       g.nversions, t1, g.gone_ns ? t2 : "-");
		else
			cli_row_printf(&l.w, "%6" PRId64 " %7" PRIu32 " %012" PRIx64 " %5s %-4s %-7s %3"
				       PRIu32 " %-12s ", g.id, g.pid, g.start,
				       cli_fmt_size(sbuf, g.length), cli_fmt_prot(pbuf, g.prot),
				       backing ? backing : "unknown", g.nversions, t1);
		cli_row_escaped(&l.w, g.path);
		cli_row_end(&l.w);
	}
	return listing_end(&l, r, rc);
}

/* Whether wall-clock time `wall` is inside --since/--until. */
static int in_window(const struct opts *o, int64_t wall)
{
	if (o->f.since_ns && (wall < 0 || (uint64_t)wall < o->f.since_ns))
		return 0;
	return !(o->f.until_ns && wall >= 0 && (uint64_t)wall > o->f.until_ns);
}

/* ------------------------------------------------ recorded syscalls */

/* Whether `name` is in the comma-separated --syscall list (no list: all). */
static int syscall_wanted(const struct opts *o, const char *name)
{
	size_t n = strlen(name);

	if (!o->syscalls)
		return 1;
	for (const char *p = o->syscalls; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && !strncmp(p, name, n))
			return 1;
		p += l + (e ? 1 : 0);
	}
	return 0;
}

/* Syscalls whose return value is an address (shown in hex, as strace). */
static int returns_address(const char *name)
{
	return !strcmp(name, "mmap") || !strcmp(name, "brk") || !strcmp(name, "mremap") ||
	       !strcmp(name, "shmat");
}

static const char *restart_name(int64_t e)
{
	switch (e) {
	case 512: return "ERESTARTSYS";
	case 513: return "ERESTARTNOINTR";
	case 514: return "ERESTARTNOHAND";
	case 516: return "ERESTART_RESTARTBLOCK";
	default: return "E?";
	}
}

/* One row of the syscalls table: "TIME PID TID name(args) = ret". */
static void print_syscall(struct listing *l, struct emt_reader *r, const struct emt_syscall *sc,
			  int full)
{
	char tbuf[CLI_TIME_BUFSZ], esc[64];
	int64_t wall = emt_reader_wall_ns(r, sc->time_ns);

	if (l->j) {
		cli_json_start_object(l->j);
		cli_json_kstr(l->j, "source", "syscalls");
		cli_json_ki64(l->j, "id", sc->id);
		cli_json_kstr(l->j, "time", cli_fmt_time(tbuf, wall, CLI_TIME_ISO_NS));
		cli_json_ku64(l->j, "boottime_ns", sc->time_ns);
		cli_json_ku64(l->j, "exit_boottime_ns", sc->exit_ns);
		cli_json_ku64(l->j, "pid", sc->pid);
		cli_json_ku64(l->j, "tid", sc->tid);
		cli_json_ku64(l->j, "uid", sc->uid);
		cli_json_ku64(l->j, "gid", sc->gid);
		cli_json_ku64(l->j, "nr", sc->nr);
		cli_json_kstr(l->j, "syscall", sc->name);
		cli_json_kstr(l->j, "args", sc->args);
		cli_json_kstr(l->j, "text", sc->text);
		cli_json_ki64(l->j, "ret", sc->ret);
		cli_json_kbool(l->j, "returned", (int)sc->returned);
		cli_json_ku64(l->j, "flags", sc->flags);
		cli_json_end_object(l->j);
		return;
	}
	cli_escape_str(esc, sizeof(esc), sc->name);
	if (full)
		cli_row_printf(&l->w, "%-23s %7" PRIu32 " %7" PRIu32 " ",
			       cli_fmt_time(tbuf, wall, CLI_TIME_MS), sc->pid, sc->tid);
	else
		cli_row_printf(&l->w, "%-12s %7" PRIu32 " ",
			       cli_fmt_time(tbuf, wall, CLI_TIME_TOD_MS), sc->pid);
	cli_row_printf(&l->w, "%s(", esc);
	/* The writer's text is printable ASCII already escaped as strace
	 * does; anything else (a damaged or forged archive) is shown as
	 * \xHH rather than escaped twice. */
	for (const char *p = sc->text; *p;) {
		char chunk[256];
		size_t n = 0;

		while (*p && n + 5 < sizeof(chunk)) {
			unsigned char ch = (unsigned char)*p++;

			if (ch >= 0x20 && ch < 0x7f)
				chunk[n++] = (char)ch;
			else
				n += (size_t)snprintf(chunk + n, sizeof(chunk) - n, "\\x%02x", ch);
		}
		chunk[n] = '\0';
		cli_row_printf(&l->w, "%s", chunk);
	}
	if (!sc->returned)
		cli_row_printf(&l->w, ") = ?");
	else if (sc->ret <= -512 && sc->ret >= -516)
		/* The kernel's restart codes, seen by a tracer at the exit of
		 * a call a signal interrupted (the call is then restarted). */
		cli_row_printf(&l->w, ") = ? %s", restart_name(-sc->ret));
	else if (sc->ret < 0 && sc->ret >= -4095) {
		const char *en = strerrorname_np((int)-sc->ret);

		cli_row_printf(&l->w, ") = -1 %s (%s)", en ? en : "E?", strerror((int)-sc->ret));
	} else if (returns_address(sc->name))
		cli_row_printf(&l->w, ") = %#" PRIx64, (uint64_t)sc->ret);
	else
		cli_row_printf(&l->w, ") = %" PRId64, sc->ret);
	if (sc->flags & EMT_SYSCALL_F_CUT)
		cli_row_printf(&l->w, " <cut short>");
	if (sc->flags & EMT_SYSCALL_F_UNREADABLE)
		cli_row_printf(&l->w, " <unreadable memory>");
	if (sc->flags & EMT_SYSCALL_F_NOROOM)
		cli_row_printf(&l->w, " <not all memory recorded>");
	if (sc->flags & EMT_SYSCALL_F_NOENTRY)
		cli_row_printf(&l->w, " <entry lost>");
	cli_row_end(&l->w);
}

/* The next recorded syscall that passes the filters: 1, 0 at the end,
 * or -errno. */
static int next_syscall(struct emt_row_iter *it, struct emt_reader *r, const struct opts *o,
			struct emt_syscall *sc)
{
	int rc;

	while ((rc = emt_syscall_iter_next(it, sc)) > 0) {
		int64_t wall = emt_reader_wall_ns(r, sc->time_ns);

		if (!syscall_wanted(o, sc->name))
			continue;
		if (o->f.since_ns && (wall < 0 || (uint64_t)wall < o->f.since_ns))
			continue;
		if (o->f.until_ns && wall >= 0 && (uint64_t)wall > o->f.until_ns)
			continue;
		return 1;
	}
	return rc;
}

static int list_events(struct emt_reader *r, const struct opts *o)
{
	struct emt_row_iter *sys = emt_reader_syscalls(r, o->f.pid);
	struct emt_syscall sc;
	int have_sc;
	struct emt_event e;
	struct listing l;
	char tbuf[CLI_TIME_BUFSZ], pbuf[4], sbuf[16], seq[24], esc[64];
	int full = o->width == 0 || o->width >= EVENTS_FIXED + TAIL_MIN;
	int rc;

	if (!sys)
		return cli_read_failed(r, -errno);
	if (listing_start(&l, r, o, emt_reader_events(r, o->f.pid), NULL)) {
		emt_row_iter_free(sys);
		return CLI_EXIT_FAIL;
	}
	have_sc = next_syscall(sys, r, o, &sc);
	if (!l.j && full) {
		cli_row_printf(&l.w, "%-23s %7s %7s %-10s %-14s %10s %-4s %8s %4s %14s %6s %s",
			       "TIME", "PID", "TID", "SYSCALL", "ADDRESS", "LENGTH", "PROT",
			       "FLAGS", "FD", "RET", "SEQ", "DETAIL");
		cli_row_end(&l.w);
	} else if (!l.j) {
		/* narrow: no TID, FLAGS, FD, RET; time of day, human length */
		cli_row_printf(&l.w, "%-12s %7s %-10s %-12s %5s %-4s %5s %s", "TIME", "PID",
			       "SYSCALL", "ADDRESS", "LEN", "PROT", "SEQ", "DETAIL");
		cli_row_end(&l.w);
	}
	for (;;) {
		rc = emt_event_iter_next(l.rows, &e);
		/* Recorded syscalls that came first, in time order. */
		while (have_sc > 0 && (rc <= 0 || sc.time_ns < e.time_ns)) {
			print_syscall(&l, r, &sc, full);
			have_sc = next_syscall(sys, r, o, &sc);
		}
		if (have_sc < 0 && rc >= 0)
			rc = have_sc;
		if (rc <= 0)
			break;

		int64_t wall = emt_reader_wall_ns(r, e.time_ns);

		if (!in_window(o, wall) || !syscall_wanted(o, e.syscall))
			continue;
		if (l.j) {
			cli_json_start_object(l.j);
			cli_json_ki64(l.j, "id", e.id);
			cli_json_kstr(l.j, "time", cli_fmt_time(tbuf, wall, CLI_TIME_ISO_NS));
			cli_json_ku64(l.j, "boottime_ns", e.time_ns);
			cli_json_ku64(l.j, "pid", e.pid);
			cli_json_ku64(l.j, "tid", e.tid);
			cli_json_kstr(l.j, "syscall", e.syscall);
			cli_json_khex(l.j, "addr", e.addr);
			cli_json_ku64(l.j, "len", e.len);
			cli_json_kstr(l.j, "prot", cli_fmt_prot(pbuf, (uint32_t)e.prot));
			cli_json_khex(l.j, "flags", e.flags);
			cli_json_ki64(l.j, "fd", e.fd);
			cli_json_ki64(l.j, "ret", e.ret);
			cli_json_name(l.j, "seq");
			if (e.seq)
				cli_json_u64(l.j, e.seq);
			else
				cli_json_null(l.j);
			cli_json_kstr(l.j, "detail", e.detail);
			cli_json_end_object(l.j);
			continue;
		}
		if (e.seq)
			snprintf(seq, sizeof(seq), "%" PRIu64, e.seq);
		else
			snprintf(seq, sizeof(seq), "-");
		/* syscall names come from the archive: escape, then pad */
		cli_escape_str(esc, sizeof(esc), e.syscall);
		if (full)
			cli_row_printf(&l.w, "%-23s %7" PRIu32 " %7" PRIu32 " %-10s 0x%012" PRIx64
				       " %10" PRIu64 " %-4s %8" PRIx64 " %4" PRId64 " %14" PRId64
				       " %6s ", cli_fmt_time(tbuf, wall, CLI_TIME_MS), e.pid,
				       e.tid, esc, e.addr, e.len,
				       cli_fmt_prot(pbuf, (uint32_t)e.prot), e.flags, e.fd,
				       e.ret, seq);
		else
			cli_row_printf(&l.w, "%-12s %7" PRIu32 " %-10s %012" PRIx64 " %5s %-4s %5s ",
				       cli_fmt_time(tbuf, wall, CLI_TIME_TOD_MS), e.pid, esc,
				       e.addr, cli_fmt_size(sbuf, e.len),
				       cli_fmt_prot(pbuf, (uint32_t)e.prot), seq);
		cli_row_escaped(&l.w, e.detail);
		cli_row_end(&l.w);
	}
	emt_row_iter_free(sys);
	return listing_end(&l, r, rc);
}

static int list_processes(struct emt_reader *r, const struct opts *o)
{
	struct emt_process p;
	struct listing l;
	char t1[CLI_TIME_BUFSZ], t2[CLI_TIME_BUFSZ], st[32];
	int full = o->width == 0 || o->width >= PROCESSES_FIXED + TAIL_MIN;
	enum cli_time_style ts = o->json ? CLI_TIME_ISO_NS : full ? CLI_TIME_MS : CLI_TIME_TOD_MS;
	int rc;

	if (listing_start(&l, r, o, emt_reader_processes(r), NULL))
		return CLI_EXIT_FAIL;
	if (!l.j) {
		/* narrow: times of day, so the command line keeps room */
		cli_row_printf(&l.w, "%7s %7s %-*s %-*s %-*s %s", "PID", "PPID",
			       full ? 23 : 12, "START", full ? 23 : 12, "EXIT",
			       full ? 12 : 9, "STATUS", "EXE  CMDLINE");
		cli_row_end(&l.w);
	}
	while ((rc = emt_process_iter_next(l.rows, &p)) > 0) {
		int exited = p.has_exit || p.exit_ns;

		if (o->f.pid && p.pid != o->f.pid)
			continue;
		cli_fmt_time(t1, emt_reader_wall_ns(r, p.start_ns), ts);
		if (exited)
			cli_fmt_time(t2, emt_reader_wall_ns(r, p.exit_ns), ts);
		/* wait(2) status as a shell would say it */
		if (!exited)
			snprintf(st, sizeof(st), "-");
		else if ((p.exit_status & 0x7f) == 0)
			snprintf(st, sizeof(st), "exit %d", (p.exit_status >> 8) & 0xff);
		else
			snprintf(st, sizeof(st), "signal %d", p.exit_status & 0x7f);
		if (l.j) {
			cli_json_start_object(l.j);
			cli_json_ki64(l.j, "process", p.id);
			cli_json_ku64(l.j, "pid", p.pid);
			cli_json_ku64(l.j, "ppid", p.ppid);
			cli_json_kstr(l.j, "start", t1);
			cli_json_name(l.j, "exit");
			if (exited)
				cli_json_string(l.j, t2);
			else
				cli_json_null(l.j);
			cli_json_name(l.j, "status");
			if (exited)
				cli_json_string(l.j, st);
			else
				cli_json_null(l.j);
			cli_json_kstr(l.j, "exe", p.exe);
			cli_json_kstr(l.j, "cmdline", p.cmdline);
			/* Followed because of an injection (format 1.2,
			 * SPEC.md 15): only then. */
			const char *why = NULL;
			int64_t inj = 0;

			rc = emt_reader_follow_reason(r, p.id, &why, &inj);
			if (rc < 0)
				break;
			if (rc) {
				cli_json_kstr(l.j, "follow_reason", why);
				cli_json_ki64(l.j, "follow_injection", inj);
			}
			cli_json_end_object(l.j);
			continue;
		}
		cli_row_printf(&l.w, "%7" PRIu32 " %7" PRIu32 " %-*s %-*s %-*s ", p.pid, p.ppid,
			       full ? 23 : 12, t1, full ? 23 : 12, exited ? t2 : "-",
			       full ? 12 : 9, st);
		cli_row_escaped(&l.w, p.exe);
		cli_row_printf(&l.w, "  ");
		cli_row_escaped(&l.w, p.cmdline);
		cli_row_end(&l.w);
	}
	return listing_end(&l, r, rc);
}

/* --injections: one row per write into a process by another. */
static int list_injections(struct emt_reader *r, const struct opts *o)
{
	struct emt_injection in;
	struct listing l;
	char tbuf[CLI_TIME_BUFSZ], seq[24], word[24], sbuf[16];
	int full = o->width == 0 || o->width >= INJECTIONS_FULL;
	int rc;

	if (listing_start(&l, r, o, emt_reader_injections(r), NULL))
		return CLI_EXIT_FAIL;
	if (!l.j && full) {
		cli_row_printf(&l.w, "%5s %-23s %7s %7s %7s %-17s %-14s %8s %-18s %6s", "ID",
			       "TIME", "WRITER", "TID", "VICTIM", "METHOD", "ADDRESS",
			       "LENGTH", "WORD", "SEQ");
		cli_row_end(&l.w);
	} else if (!l.j) {
		cli_row_printf(&l.w, "%5s %-12s %7s %7s %-17s %-12s %5s %6s", "ID", "TIME",
			       "WRITER", "VICTIM", "METHOD", "ADDRESS", "LEN", "SEQ");
		cli_row_end(&l.w);
	}
	while ((rc = emt_injection_iter_next(l.rows, &in)) > 0) {
		int64_t wall = emt_reader_wall_ns(r, in.time_ns);
		const char *m = emt_inject_method_name((enum emt_inject_method)in.method);

		if (o->f.pid && in.writer_pid != o->f.pid && in.victim_pid != o->f.pid)
			continue;
		if (!in_window(o, wall))
			continue;
		if (!m)
			m = "unknown";
		if (l.j) {
			cli_json_start_object(l.j);
			cli_json_ki64(l.j, "id", in.id);
			cli_json_kstr(l.j, "time", cli_fmt_time(tbuf, wall, CLI_TIME_ISO_NS));
			cli_json_ku64(l.j, "boottime_ns", in.time_ns);
			cli_json_ku64(l.j, "writer_pid", in.writer_pid);
			cli_json_ku64(l.j, "writer_tid", in.writer_tid);
			cli_json_ku64(l.j, "victim_pid", in.victim_pid);
			cli_json_kstr(l.j, "method", m);
			cli_json_khex(l.j, "addr", in.addr);
			cli_json_ku64(l.j, "length", in.length);
			cli_json_name(l.j, "word");
			if (in.has_word)
				cli_json_hex(l.j, in.word);
			else
				cli_json_null(l.j);
			cli_json_name(l.j, "seq");
			if (in.seq)
				cli_json_u64(l.j, in.seq);
			else
				cli_json_null(l.j);
			cli_json_end_object(l.j);
			continue;
		}
		snprintf(seq, sizeof(seq), in.seq ? "%" PRIu64 : "-", in.seq);
		if (in.has_word)
			snprintf(word, sizeof(word), "0x%016" PRIx64, in.word);
		else
			snprintf(word, sizeof(word), "-");
		if (full)
			cli_row_printf(&l.w, "%5" PRId64 " %-23s %7" PRIu32 " %7" PRIu32 " %7" PRIu32
				       " %-17s 0x%012" PRIx64 " %8" PRIu64 " %-18s %6s", in.id,
				       cli_fmt_time(tbuf, wall, CLI_TIME_MS), in.writer_pid,
				       in.writer_tid, in.victim_pid, m, in.addr, in.length,
				       word, seq);
		else
			cli_row_printf(&l.w, "%5" PRId64 " %-12s %7" PRIu32 " %7" PRIu32
				       " %-17s %012" PRIx64 " %5s %6s", in.id,
				       cli_fmt_time(tbuf, wall, CLI_TIME_TOD_MS), in.writer_pid,
				       in.victim_pid, m, in.addr, cli_fmt_size(sbuf, in.length),
				       seq);
		cli_row_end(&l.w);
	}
	return listing_end(&l, r, rc);
}


/* The model_programs rows of r (paths copied), for --alerts. */
struct progs {
	int64_t *id;
	char **path;
	size_t n;
};

static void progs_free(struct progs *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->path[i]);
	free(p->id);
	free(p->path);
}

static int progs_read(struct emt_reader *r, struct progs *p)
{
	struct emt_row_iter *it = emt_reader_model_programs(r);
	struct emt_model_program_row row;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!it)
		return -errno;
	while ((rc = emt_model_program_iter_next(it, &row)) > 0) {
		int64_t *ni = realloc(p->id, (p->n + 1) * sizeof(*ni));
		char **np = ni ? realloc(p->path, (p->n + 1) * sizeof(*np)) : NULL;

		if (ni)
			p->id = ni;
		if (np)
			p->path = np;
		if (!ni || !np || !(p->path[p->n] = strdup(row.path))) {
			rc = -ENOMEM;
			break;
		}
		p->id[p->n++] = row.id;
	}
	emt_row_iter_free(it);
	return rc < 0 ? rc : 0;
}

static const char *progs_path(const struct progs *p, int64_t id)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->id[i] == id)
			return p->path[i];
	return "?";
}

/* --alerts: one row per syscall model alert.  Its syscalls column is
 * JSON from the archive (hostile): parsed, and only its names and
 * numbers shown, escaped. */
static int list_alerts(struct emt_reader *r, const struct opts *o)
{
	struct emt_alert a;
	struct listing l;
	struct progs pr;
	char tbuf[CLI_TIME_BUFSZ], seqs[96], name[80];
	int full = o->width == 0 || o->width >= ALERTS_FIXED + TAIL_MIN;
	int rc = progs_read(r, &pr);

	if (rc < 0) {
		progs_free(&pr);
		return cli_read_failed(r, rc);
	}
	if (listing_start(&l, r, o, emt_reader_alerts(r), NULL)) {
		progs_free(&pr);
		return CLI_EXIT_FAIL;
	}
	if (!l.j && full) {
		cli_row_printf(&l.w, "%5s %-23s %7s %7s %-7s %-14s %-12s %s", "ID", "TIME", "PID",
			       "TID", "ACTION", "RIP", "CAPTURES", "SYSCALLS  PROGRAM");
		cli_row_end(&l.w);
	} else if (!l.j) {
		cli_row_printf(&l.w, "%5s %-12s %7s %-7s %-12s %s", "ID", "TIME", "PID", "ACTION",
			       "RIP", "SYSCALLS");
		cli_row_end(&l.w);
	}
	while ((rc = emt_alert_iter_next(l.rows, &a)) > 0) {
		int64_t wall = emt_reader_wall_ns(r, a.time_ns);
		const char *act = emt_alert_action_name((enum emt_alert_action)a.action);
		uint64_t sq[8];
		int ns = emt_reader_alert_captures(r, a.id, sq, 8);
		json_t *win = json_loads(a.syscalls, JSON_REJECT_DUPLICATES, NULL);
		size_t k = 0;

		if (o->f.pid && a.pid != o->f.pid) {
			json_decref(win);
			continue;
		}
		if (!in_window(o, wall)) {
			json_decref(win);
			continue;
		}
		if (ns < 0) {
			json_decref(win);
			rc = ns;
			break;
		}
		if (!act)
			act = "unknown";
		if (!json_is_array(win)) {
			json_decref(win);
			win = NULL;
		}
		if (l.j) {
			cli_json_start_object(l.j);
			cli_json_ki64(l.j, "id", a.id);
			cli_json_kstr(l.j, "time", cli_fmt_time(tbuf, wall, CLI_TIME_ISO_NS));
			cli_json_ku64(l.j, "boottime_ns", a.time_ns);
			cli_json_ku64(l.j, "pid", a.pid);
			cli_json_ku64(l.j, "tid", a.tid);
			cli_json_kstr(l.j, "program", progs_path(&pr, a.program_id));
			cli_json_ki64(l.j, "program_id", a.program_id);
			cli_json_ku64(l.j, "depth", a.depth);
			cli_json_ku64(l.j, "nr", a.nr);
			cli_json_kstr(l.j, "name", a.name);
			cli_json_name(l.j, "syscalls");
			cli_json_start_array(l.j);
			for (size_t i = 0; win && i < json_array_size(win); i++) {
				json_t *e = json_array_get(win, i), *nr = json_object_get(e, "nr");
				json_t *nm = json_object_get(e, "name");

				cli_json_start_object(l.j);
				cli_json_name(l.j, "nr");
				if (json_is_integer(nr))
					cli_json_i64(l.j, (int64_t)json_integer_value(nr));
				else
					cli_json_null(l.j);
				cli_json_kstr(l.j, "name", json_is_string(nm) ? json_string_value(nm) : "?");
				cli_json_end_object(l.j);
			}
			cli_json_end_array(l.j);
			cli_json_khex(l.j, "rip", a.rip);
			cli_json_kstr(l.j, "action", act);
			cli_json_ku64(l.j, "suppressed", a.suppressed);
			cli_json_name(l.j, "captures");
			cli_json_start_array(l.j);
			for (int i = 0; i < ns && i < 8; i++)
				cli_json_u64(l.j, sq[i]);
			cli_json_end_array(l.j);
			cli_json_end_object(l.j);
			json_decref(win);
			continue;
		}
		seqs[0] = '\0';
		for (int i = 0; i < ns && i < 8 && k + 24 < sizeof(seqs); i++)
			k += (size_t)snprintf(seqs + k, sizeof(seqs) - k, "%s%" PRIu64, i ? "," : "", sq[i]);
		if (ns > 8)
			snprintf(seqs + k, sizeof(seqs) - k, ",...");
		if (!ns)
			snprintf(seqs, sizeof(seqs), "-");
		if (full)
			cli_row_printf(&l.w, "%5" PRId64 " %-23s %7" PRIu32 " %7" PRIu32 " %-7s"
				       " 0x%012" PRIx64 " %-12s ", a.id,
				       cli_fmt_time(tbuf, wall, CLI_TIME_MS), a.pid, a.tid, act,
				       a.rip, seqs);
		else
			cli_row_printf(&l.w, "%5" PRId64 " %-12s %7" PRIu32 " %-7s %012" PRIx64 " ",
				       a.id, cli_fmt_time(tbuf, wall, CLI_TIME_TOD_MS), a.pid, act,
				       a.rip);
		for (size_t i = 0; win && i < json_array_size(win); i++) {
			json_t *nm = json_object_get(json_array_get(win, i), "name");

			snprintf(name, sizeof(name), "%s", json_is_string(nm) ? json_string_value(nm) : "?");
			if (i)
				cli_row_printf(&l.w, " -> ");
			cli_row_escaped(&l.w, name);
		}
		if (!win)
			cli_row_escaped(&l.w, a.syscalls);
		if (a.suppressed)
			cli_row_printf(&l.w, " (+%" PRIu64 " suppressed)", a.suppressed);
		if (full) {
			cli_row_printf(&l.w, "  ");
			cli_row_escaped(&l.w, progs_path(&pr, a.program_id));
		}
		cli_row_end(&l.w);
		json_decref(win);
	}
	progs_free(&pr);
	return listing_end(&l, r, rc);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "regions",   0, NULL, 'r' },
		{ "events",    0, NULL, 'e' },
		{ "processes", 0, NULL, 'P' },
		{ "injections", 0, NULL, 'I' },
		{ "alerts",    0, NULL, 'A' },
		{ "json",      0, NULL, 'j' },
		{ "no-header", 0, NULL, 'n' },
		{ "width",     1, NULL, 'W' },
		{ "syscall",   1, NULL, 's' },
		CLI_FILTER_LONGOPTS_END,
	};
	struct opts o;
	struct emt_reader *r;
	uint32_t w;
	int c, rc;

	cli_init("emt-ls", argv);
	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "rePIAjnW:s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o.regions = 1; break;
		case 'e': o.events = 1; break;
		case 'P': o.processes = 1; break;
		case 'I': o.injections = 1; break;
		case 'A': o.alerts = 1; break;
		case 'j': o.json = 1; break;
		case 'n': o.no_header = 1; break;
		case 's':
			if (!*optarg || optarg[0] == ',' || strstr(optarg, ",,"))
				return cli_bad_value("syscall", optarg,
						     "expected syscall names separated by commas");
			o.syscalls = optarg;
			break;
		case 'W':
			if (cli_parse_u32(optarg, &w) || w > 100000)
				return cli_bad_value("width", optarg,
						     "expected a number of columns (0 = full rows)");
			o.width = (int)w;
			o.width_set = 1;
			break;
		default:
			rc = cli_filter_common_opt(&o.f, c, optarg, usage_text);
			if (rc != CLI_OPT_TAKEN)
				return rc;
			if (c == CLI_OPT_TRIGGER || c == CLI_OPT_MIN_SIZE)
				o.capture_only_filter = 1;
			if (c == CLI_OPT_REGION)
				o.event_filter |= 2;
			if (c == CLI_OPT_SINCE || c == CLI_OPT_UNTIL)
				o.event_filter |= 1;
			break;
		}
	}
	o.path = cli_archive_operand(argc, argv);
	if (!o.path)
		return CLI_EXIT_USAGE;
	if (o.regions + o.events + o.processes + o.injections + o.alerts > 1)
		return cli_usage("--regions, --events, --processes, --injections and --alerts are"
				 " exclusive");
	if ((o.regions || o.events || o.processes || o.injections || o.alerts) &&
	    o.capture_only_filter)
		return cli_usage("--trigger and --min-size apply to captures only");
	if (o.injections && (o.event_filter & 2))
		return cli_usage("--region does not apply to --injections");
	if (o.alerts && (o.event_filter & 2))
		return cli_usage("--region does not apply to --alerts");
	if (o.processes && o.event_filter)
		return cli_usage("--processes takes no --region, --since or --until");
	if (o.regions && (o.event_filter & 1))
		return cli_usage("--since and --until do not apply to --regions");
	if (o.syscalls && !o.events)
		return cli_usage("--syscall applies to --events only");
	if (o.events && (o.event_filter & 2))
		return cli_usage("--region does not apply to --events");
	if (cli_filter_check(&o.f))
		return CLI_EXIT_USAGE;
	if (!o.width_set)
		o.width = cli_term_width();
	cli_set_archive(o.path);

	r = cli_open_archive(o.path);
	if (!r)
		return CLI_EXIT_FAIL;
	rc = 0;
	if (!o.json && !o.no_header) {
		rc = print_header(r, o.path, o.width);
		if (rc < 0)
			rc = cli_read_failed(r, rc);
	}
	if (rc == 0) {
		if (o.processes)
			rc = list_processes(r, &o);
		else if (o.regions)
			rc = list_regions(r, &o);
		else if (o.events)
			rc = list_events(r, &o);
		else if (o.injections)
			rc = list_injections(r, &o);
		else if (o.alerts)
			rc = list_alerts(r, &o);
		else
			rc = list_captures(r, &o);
	}
	emt_reader_close(r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("cannot write output: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return rc;
}
