/*
 * filter.c - the capture filters every reader accepts.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "emtcli.h"

const char cli_filter_help[] =
"Filters (captures must match all given):\n"
"      --pid=PID          captures of process PID\n"
"      --region=ID        captures of region ID (emt-ls -r lists them)\n"
"      --trigger=NAME     mprotect, mmap, first-exec-fault, munmap, exit,\n"
"                         exec, baseline, sample, protect-w, inject or alert\n"
"      --since=TIME       taken at or after TIME (UTC: 2026-11-22T05:08:08.5Z,\n"
"                         '2026-11-22 05:08', 2026-11-22 or @EPOCH[.frac])\n"
"      --until=TIME       taken at or before TIME\n"
"      --min-size=SIZE    at least SIZE bytes (suffixes k, m, g: 64k)\n";

static int bad(const char *opt, const char *arg, int err, const char *what)
{
	cli_bad_value(opt, arg, err == -ERANGE ? "out of range" : what);
	return -1;
}

int cli_filter_opt(struct emt_filter *f, int opt, const char *arg)
{
	uint64_t v;
	uint32_t u;
	int err, t;

	switch (opt) {
	case CLI_OPT_PID:
		err = cli_parse_u32(arg, &u);
		if (err || u == 0)
			return bad("pid", arg, err, "expected a process id > 0");
		f->pid = u;
		return 1;
	case CLI_OPT_REGION:
		err = cli_parse_u64(arg, &v);
		if (err || v == 0 || v > INT64_MAX)
			return bad("region", arg, err, "expected a region id > 0");
		f->region_id = (int64_t)v;
		return 1;
	case CLI_OPT_TRIGGER:
		t = emt_trigger_parse(arg);
		if (t <= 0)
			return bad("trigger", arg, 0, "unknown trigger");
		f->trigger = (uint32_t)t;
		return 1;
	case CLI_OPT_SINCE:
	case CLI_OPT_UNTIL:
		err = cli_parse_time(arg, &v);
		if (err)
			return bad(opt == CLI_OPT_SINCE ? "since" : "until", arg,
				   err, "expected a UTC time such as 2026-11-22T05:08:08Z");
		if (opt == CLI_OPT_SINCE)
			f->since_ns = v;
		else
			f->until_ns = v ? v : 1;  /* 0 would mean "any" */
		return 1;
	case CLI_OPT_MIN_SIZE:
		err = cli_parse_size(arg, &v);
		if (err)
			return bad("min-size", arg, err, "expected a size such as 4096 or 64k");
		f->min_size = v;
		return 1;
	}
	return 0;
}

int cli_filter_common_opt(struct emt_filter *f, int opt, const char *arg,
			  const char *usage)
{
	const char *mark = strstr(usage, "%s");
	int rc;

	if (opt == 'h' && mark) {
		fwrite(usage, 1, (size_t)(mark - usage), stdout);
		fputs(cli_filter_help, stdout);
		fputs(mark + 2, stdout);
		return CLI_EXIT_OK;
	}
	rc = cli_filter_opt(f, opt, arg);
	if (rc < 0)
		return CLI_EXIT_USAGE;
	if (rc > 0)
		return CLI_OPT_TAKEN;
	return cli_common_opt(opt, usage);
}

int cli_filter_check(const struct emt_filter *f)
{
	if (f->since_ns && f->until_ns && f->since_ns > f->until_ns) {
		cli_usage("--since is later than --until");
		return -1;
	}
	return 0;
}

int cli_seq_opt(const char *arg, uint64_t *seq)
{
	uint64_t v;

	if (cli_parse_u64(arg, &v) || v == 0 || v > INT64_MAX) {
		cli_bad_value("seq", arg, "expected a sequence number > 0");
		return -1;
	}
	*seq = v;
	return 0;
}
