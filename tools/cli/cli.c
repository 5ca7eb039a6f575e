/*
 * cli.c - messages, strict parsing and formatting shared by the tools.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "emtcli.h"

static const char *prog = "emt";

void cli_init(const char *name, char **argv)
{
	prog = name;
	if (argv && argv[0])
		argv[0] = (char *)name;
}

const char *cli_prog(void)
{
	return prog;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: warning: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return cli_try_help();
}

int cli_bad_value(const char *opt, const char *arg, const char *what)
{
	char esc[256];

	return cli_usage("invalid value '%s' for --%s: %s",
			 cli_escape_str(esc, sizeof(esc), arg), opt, what);
}

int cli_try_help(void)
{
	fprintf(stderr, "try '%s --help' for more information\n", prog);
	return CLI_EXIT_USAGE;
}

int cli_common_opt(int opt, const char *usage)
{
	switch (opt) {
	case 'h':
		fputs(usage, stdout);
		return CLI_EXIT_OK;
	case 'V':
		cli_print_version();
		return CLI_EXIT_OK;
	}
	return cli_try_help();
}

const char *cli_archive_operand(int argc, char **argv)
{
	if (optind >= argc) {
		cli_usage("missing archive operand");
		return NULL;
	}
	if (optind + 1 < argc) {
		cli_usage("too many operands: expected one archive");
		return NULL;
	}
	return argv[optind];
}

void cli_print_version(void)
{
	printf("%s (emt) %s\narchive format %d.%d\n", prog, EMT_VERSION,
	       EMT_FORMAT_MAJOR, EMT_FORMAT_MINOR);
}

static char archive_esc[512] = "archive";
static const char *archive_path = "";

void cli_set_archive(const char *path)
{
	archive_path = path;
	cli_escape_str(archive_esc, sizeof(archive_esc), path);
}

const char *cli_capture_reason(const char *msg, uint64_t seq, int err)
{
	char item[40];

	if (!msg || !*msg)
		return strerror(err < 0 ? -err : err);
	snprintf(item, sizeof(item), "capture %" PRIu64, seq);
	return cli_skip_prefix(cli_skip_prefix(msg, archive_path), item);
}

const char *cli_archive(void)
{
	return archive_esc;
}

struct emt_reader *cli_open_archive(const char *path)
{
	char *msg = NULL;
	char esc[512], emsg[512];
	struct emt_reader *r;
	int err;

	r = emt_reader_open(path, &msg);
	if (r)
		return r;
	err = errno;
	cli_error("cannot open '%s': %s", cli_escape_str(esc, sizeof(esc), path),
		  cli_escape_str(emsg, sizeof(emsg), cli_open_reason(msg, err, path)));
	free(msg);
	errno = err;
	return NULL;
}

int cli_read_failed(struct emt_reader *r, int err)
{
	char emsg[512];
	const char *m = emt_reader_errmsg(r);

	/* ENOMEM of our own comes with no message on the handle */
	cli_error("cannot read '%s': %s", archive_esc,
		  cli_escape_str(emsg, sizeof(emsg),
				 err != -ENOMEM && m && *m ? cli_skip_prefix(m, archive_path) :
				 strerror(-err)));
	return CLI_EXIT_FAIL;
}

const char *cli_open_reason(const char *msg, int err, const char *path)
{
	const char *m = msg ? msg : strerror(err);

	/* the library may already say "cannot open 'PATH': ..." */
	if (!strncmp(m, "cannot open '", 13) && cli_skip_prefix(m + 12, path) != m + 12)
		return cli_skip_prefix(m + 12, path);
	return cli_skip_prefix(m, path);
}

const char *cli_skip_prefix(const char *msg, const char *name)
{
	size_t n = strlen(name);

	if (msg[0] == '\'' && !strncmp(msg + 1, name, n) && !strncmp(msg + 1 + n, "': ", 3))
		return msg + n + 4;
	if (!strncmp(msg, name, n) && !strncmp(msg + n, ": ", 2))
		return msg + n + 2;
	return msg;
}

/* ------------------------------------------------------------------ */

int cli_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned base = 10, d;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
		if (!*p)
			return -EINVAL;
	}
	for (; *p; p++) {
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return -EINVAL;
		if (v > (UINT64_MAX - d) / base)
			return -ERANGE;
		v = v * base + d;
	}
	*out = v;
	return 0;
}

int cli_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;
	int err = cli_parse_u64(s, &v);

	if (err)
		return err;
	if (v > UINT32_MAX)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = 0;
	unsigned shift = 0;
	const char *suf;
	uint64_t v;
	int err;

	if (!s)
		return -EINVAL;
	/* Split at the first byte that cannot belong to a number (hex digits
	 * and 'x' included, so "0x1000" stays whole). */
	while (s[n] && (isxdigit((unsigned char)s[n]) || s[n] == 'x' || s[n] == 'X')) {
		/* b/B after digits is a unit, not a hex digit, unless hex */
		if ((s[n] == 'b' || s[n] == 'B') &&
		    !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
			break;
		n++;
	}
	if (n == 0 || n >= sizeof(num))
		return n ? -ERANGE : -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	suf = s + n;
	switch (*suf) {
	case '\0': break;
	case 'k': case 'K': shift = 10; suf++; break;
	case 'm': case 'M': shift = 20; suf++; break;
	case 'g': case 'G': shift = 30; suf++; break;
	case 'b': case 'B': break;
	default: return -EINVAL;
	}
	if (shift && (!strcmp(suf, "ib") || !strcmp(suf, "iB")))
		suf += 2;
	else if (!strcmp(suf, "b") || !strcmp(suf, "B"))
		suf++;
	if (*suf)
		return -EINVAL;
	err = cli_parse_u64(num, &v);
	if (err)
		return err;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

/* Reads exactly `n` decimal digits. */
static int digits(const char **pp, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*pp)[i]))
			return -EINVAL;
		v = v * 10 + ((*pp)[i] - '0');
	}
	*pp += n;
	*out = v;
	return 0;
}

/* Parses ".fraction" (1..9 digits) into ns. */
static int fraction(const char **pp, uint64_t *ns)
{
	const char *p = *pp;
	uint64_t v = 0;
	int n = 0;

	*ns = 0;
	if (*p != '.')
		return 0;
	p++;
	while (isdigit((unsigned char)*p)) {
		if (++n > 9)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (n == 0)
		return -EINVAL;
	for (; n < 9; n++)
		v *= 10;
	*ns = v;
	*pp = p;
	return 0;
}

int cli_parse_time(const char *s, uint64_t *out)
{
	const char *p = s;
	struct tm tm, chk;
	uint64_t ns = 0, secs;
	time_t t;

	if (!s || !*s)
		return -EINVAL;
	if (*p == '@') {
		char num[24];
		size_t n = strspn(p + 1, "0123456789");

		if (n == 0 || n >= sizeof(num))
			return n ? -ERANGE : -EINVAL;
		memcpy(num, p + 1, n);
		num[n] = '\0';
		if (cli_parse_u64(num, &secs))
			return -EINVAL;
		p += 1 + n;
		if (fraction(&p, &ns) || *p)
			return -EINVAL;
		if (secs > UINT64_MAX / 1000000000ull - 1)
			return -ERANGE;
		*out = secs * 1000000000ull + ns;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (digits(&p, 4, &tm.tm_year) || *p++ != '-' ||
	    digits(&p, 2, &tm.tm_mon) || *p++ != '-' ||
	    digits(&p, 2, &tm.tm_mday))
		return -EINVAL;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (digits(&p, 2, &tm.tm_hour) || *p++ != ':' ||
		    digits(&p, 2, &tm.tm_min))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &tm.tm_sec) || fraction(&p, &ns))
				return -EINVAL;
		}
	}
	if (*p == 'Z')
		p++;
	if (*p)
		return -EINVAL;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	chk = tm;
	t = timegm(&tm);
	/* timegm normalises 2026-02-31 into March: refuse what moved. */
	if (t < 0 || tm.tm_mday != chk.tm_mday || tm.tm_mon != chk.tm_mon ||
	    tm.tm_hour != chk.tm_hour || tm.tm_min != chk.tm_min ||
	    tm.tm_sec != chk.tm_sec)
		return -EINVAL;
	*out = (uint64_t)t * 1000000000ull + ns;
	return 0;
}

/* ------------------------------------------------------------------ */

char *cli_fmt_time(char *buf, int64_t wall_ns, enum cli_time_style style)
{
	int64_t secs = wall_ns / 1000000000;
	int64_t ns = wall_ns % 1000000000;
	time_t t;
	struct tm tm;

	if (ns < 0) {           /* floor division for times before 1970 */
		ns += 1000000000;
		secs--;
	}
	t = (time_t)secs;
	if (!gmtime_r(&t, &tm)) {
		snprintf(buf, CLI_TIME_BUFSZ, "?");
		return buf;
	}
	switch (style) {
	case CLI_TIME_TOD_MS:
		snprintf(buf, CLI_TIME_BUFSZ, "%02d:%02d:%02d.%03d", tm.tm_hour,
			 tm.tm_min, tm.tm_sec, (int)(ns / 1000000));
		break;
	case CLI_TIME_ISO_NS:
		snprintf(buf, CLI_TIME_BUFSZ, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, (int)ns);
		break;
	case CLI_TIME_MS:
	default:
		snprintf(buf, CLI_TIME_BUFSZ, "%04d-%02d-%02d %02d:%02d:%02d.%03d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, (int)(ns / 1000000));
		break;
	}
	return buf;
}

char *cli_fmt_prot(char *buf, uint32_t prot)
{
	buf[0] = (prot & PROT_READ) ? 'r' : '-';
	buf[1] = (prot & PROT_WRITE) ? 'w' : '-';
	buf[2] = (prot & PROT_EXEC) ? 'x' : '-';
	buf[3] = '\0';
	return buf;
}

char *cli_fmt_size(char *buf, uint64_t n)
{
	static const char units[] = "KMGTPE";
	uint64_t div = 1024;
	int u = 0;

	if (n < 10000) {
		snprintf(buf, 16, "%" PRIu64, n);
		return buf;
	}
	while (u < 5 && n / div >= 1024) {
		div *= 1024;
		u++;
	}
	if (n % div == 0 || n / div >= 100)
		snprintf(buf, 16, "%" PRIu64 "%c", (n + div / 2) / div, units[u]);
	else
		snprintf(buf, 16, "%.1f%c", (double)n / (double)div, units[u]);
	return buf;
}

const char *cli_trigger_name(char *buf, uint32_t trigger)
{
	const char *s = emt_trigger_name((enum emt_trigger)trigger);

	if (s)
		return s;
	snprintf(buf, 24, "unknown(%" PRIu32 ")", trigger);
	return buf;
}

const char *cli_trigger_short(char *buf, uint32_t trigger)
{
	switch (trigger) {
	case EMT_TRIGGER_FIRST_EXEC_FAULT: return "exec-fault";
	case EMT_TRIGGER_PROTECT_W:        return "protect-w";
	default: {
		char tmp[24];

		const char *name = cli_trigger_name(tmp, trigger);
		size_t n = strnlen(name, 10);

		memcpy(buf, name, n);
		buf[n] = '\0';
		return buf;
	}
	}
}

int cli_term_width(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO))
		return 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}
