/*
 * emt-capture - record every byte of code a process generates at run time
 * into an emt archive.  Thin CLI over capture/emt_capture.h.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emt_capture.h"
#include "emtcli.h"

static struct emt_capture_handle *g_cap;
/* A stop asked for before the capture handle exists (a SIGTERM while the
 * archive is being created on a loaded machine) must not kill us with
 * the default action: it is kept and honoured once the handle exists. */
static volatile sig_atomic_t g_stop_pending;

static void on_signal(int sig)
{
	(void)sig;
	g_stop_pending = 1;
	if (g_cap)
		emt_capture_request_stop(g_cap);
}

static void catch_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* libbpf's messages (the verifier's log included), shown only when
 * EMT_BPF_DEBUG is set (emt-capture(1)): a refused program is named
 * in the error message anyway.  Notices (a target left stopped at an
 * alert) are always shown. */
__attribute__((format(printf, 3, 0)))
static void log_debug(void *arg, enum emt_log_level level, const char *fmt, va_list ap)
{
	(void)arg;
	if (level == EMT_LOG_NOTICE || getenv("EMT_BPF_DEBUG"))
		vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: emt-capture [OPTIONS] -o ARCHIVE -- CMD [ARGS...]\n"
"       emt-capture [OPTIONS] -o ARCHIVE -p PID\n"
"\n"
"Records every byte of code that CMD (or process PID) makes executable at\n"
"run time into ARCHIVE: W->X mprotect transitions, executable mmaps of\n"
"memfds and deleted files, and writable+executable regions.\n"
"\n"
"Options:\n"
"  -o, --output FILE       archive to create (required)\n"
"  -p, --pid PID           attach to a running process instead of launching\n"
"  -m, --mode MODE         bpf (default) or ptrace\n"
"      --follow            follow children and exec'd images (default)\n"
"      --no-follow         capture only the launched or attached process\n"
"      --capture-files     also copy exec mappings of regular files\n"
"      --rwx-interval MS   sample live RWX regions every MS milliseconds\n"
"  -d, --duration SECS     stop after SECS seconds (fractions allowed)\n"
"      --lossless          hold the target rather than drop events\n"
"                          (default when launching a command)\n"
"      --no-lossless       drop and count events when the ring is full\n"
"                          (default when attaching)\n"
"      --ringbuf-size SIZE ring buffer size, power of two (default 64M)\n"
"      --attach-filter     ptrace mode with -p: install the seccomp filter in\n"
"                          the target (it then stays under a pass-through\n"
"                          tracer after the capture; see emt-capture(1))\n"
"      --zstd-level N      archive compression level\n"
"      --sign-key KEY.pem  sign the archive with this Ed25519 private key\n"
"                          (emt-keygen; mode 0600): every commit gets a\n"
"                          signed checkpoint, the seal a signature\n"
"      --syscalls LIST     also record these syscalls with their arguments:\n"
"                          names (openat,connect) or groups file, net,\n"
"                          process, ipc, all (README \"Recording syscalls\")\n"
"      --syscall-bytes N   with --syscalls: record up to N bytes (max 4096)\n"
"                          of read/write-like buffers (default 0: none)\n"
"      --model MODEL.json  check every syscall of the followed processes\n"
"                          against this syscall model (emt-learn; bpf mode\n"
"                          only): a transition not in it is an alert\n"
"      --on-alert ACTION   capture (default: capture the process's anonymous,\n"
"                          memfd and RWX executable memory and registers,\n"
"                          then resume it), stop (capture, then leave it\n"
"                          stopped for a debugger) or kill\n"
"      --alert-rate N[/s]  alerts per process and second at most (default 5);\n"
"                          more are counted as losses of kind alert-rate\n"
"  -f, --force             replace an existing archive\n"
"  -q, --quiet             no progress line and no summary\n"
"  -h, --help              show this help\n"
"  -V, --version           show the version\n"
"\n"
"Examples:\n"
"  emt-capture -o case.emt -- ./sample --flag\n"
"  emt-capture -o lua.emt -- luajit bench.lua\n"
"  emt-capture -p 1234 -o attach.emt --duration 60\n"
"  emt-capture --mode ptrace -o node.emt -- node app.js\n"
"  emt-capture --sign-key case-key.pem -o case.emt -- ./app\n"
"  emt-capture --syscalls file,net -o calls.emt -- curl -s http://127.0.0.1:8000/\n"
"  emt-capture --model gzip.json --on-alert stop -o case.emt -- gzip -k f.txt\n"
"\n"
"The capture ends when CMD and its followed descendants have exited, after\n"
"--duration, or on SIGINT/SIGTERM; the archive is then sealed.  Exit status:\n"
"0 when the archive was sealed, 1 on failure, 2 on usage errors.  Needs root\n"
"(or CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_KILL) in bpf mode.\n");
}

/* Progress line: elapsed, processes, captures, raw/stored bytes, losses,
 * gaps.  Written with \r so it refreshes in place. */
static void progress(struct emt_capture_handle *c, int final)
{
	struct emt_capture_stats st;
	char raw[16], stored[16];

	emt_capture_stats(c, &st);
	cli_fmt_size(raw, st.raw_bytes);
	cli_fmt_size(stored, st.stored_bytes);
	fprintf(stderr, "%s%s: %.1fs  processes %llu (%llu live)  captures %llu"
		"  raw %s  stored %s  lost %llu  gaps %llu%s",
		final ? "" : "\r", cli_prog(), (double)st.elapsed_ns / 1e9,
		(unsigned long long)st.processes,
		(unsigned long long)st.live_processes,
		(unsigned long long)st.captures, raw, stored,
		(unsigned long long)st.lost_events,
		(unsigned long long)st.gaps, final ? "\n" : "\033[K");
	fflush(stderr);
}

static char *join_args(int argc, char **argv)
{
	size_t len = 1;
	for (int i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);
		if (i)
			*p++ = ' ';
		memcpy(p, argv[i], n);
		p += n;
	}
	*p = '\0';
	return s;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum {
	OPT_FOLLOW = 256, OPT_NO_FOLLOW, OPT_CAPTURE_FILES, OPT_RWX_INTERVAL,
	OPT_LOSSLESS, OPT_NO_LOSSLESS, OPT_RINGBUF, OPT_ZSTD, OPT_ATTACH_FILTER,
	OPT_SIGN_KEY,
	OPT_SYSCALLS, OPT_SYSCALL_BYTES, OPT_MODEL, OPT_ON_ALERT, OPT_ALERT_RATE,
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "no-follow", no_argument, NULL, OPT_NO_FOLLOW },
		{ "capture-files", no_argument, NULL, OPT_CAPTURE_FILES },
		{ "rwx-interval", required_argument, NULL, OPT_RWX_INTERVAL },
		{ "duration", required_argument, NULL, 'd' },
		{ "lossless", no_argument, NULL, OPT_LOSSLESS },
		{ "no-lossless", no_argument, NULL, OPT_NO_LOSSLESS },
		{ "ringbuf-size", required_argument, NULL, OPT_RINGBUF },
		{ "zstd-level", required_argument, NULL, OPT_ZSTD },
		{ "attach-filter", no_argument, NULL, OPT_ATTACH_FILTER },
		{ "sign-key", required_argument, NULL, OPT_SIGN_KEY },
		{ "syscalls", required_argument, NULL, OPT_SYSCALLS },
		{ "syscall-bytes", required_argument, NULL, OPT_SYSCALL_BYTES },
		{ "model", required_argument, NULL, OPT_MODEL },
		{ "on-alert", required_argument, NULL, OPT_ON_ALERT },
		{ "alert-rate", required_argument, NULL, OPT_ALERT_RATE },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct emt_capture_opts o = { .sz = sizeof(o), .mode = EMT_MODE_BPF,
				      .lossless = -1 };
	int quiet = 0, opt;
	const char *sign_key = NULL;
	uint32_t u32;
	uint64_t u64;

	cli_init("emt-capture", argv);
	catch_stop_signals();
	/* Before any thread or SQLite use (emt_archive.h). */
	(void)emt_writer_global_init();
	while ((opt = getopt_long(argc, argv, "+o:p:m:d:fqhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			if (!*optarg)
				return cli_usage("empty output archive name");
			o.output = optarg;
			break;
		case 'p':
			if (cli_parse_u32(optarg, &u32) || u32 == 0 || u32 > 0x3fffffff)
				return cli_usage("invalid pid '%s'", optarg);
			o.pid = (pid_t)u32;
			break;
		case 'm':
			if (strcmp(optarg, "bpf") == 0)
				o.mode = EMT_MODE_BPF;
			else if (strcmp(optarg, "ptrace") == 0)
				o.mode = EMT_MODE_PTRACE;
			else
				return cli_usage("invalid mode '%s' (bpf or ptrace)", optarg);
			break;
		case OPT_FOLLOW:
			o.no_follow = 0;
			break;
		case OPT_NO_FOLLOW:
			o.no_follow = 1;
			break;
		case OPT_CAPTURE_FILES:
			o.capture_files = 1;
			break;
		case OPT_RWX_INTERVAL:
			if (cli_parse_u32(optarg, &o.rwx_interval_ms))
				return cli_usage("invalid interval '%s' (milliseconds)", optarg);
			break;
		case 'd': {
			char *end;
			errno = 0;
			double d = strtod(optarg, &end);
			if (errno || *end || end == optarg || !(d > 0) || d > 4e6)
				return cli_usage("invalid duration '%s' (seconds)", optarg);
			o.duration_ms = (uint32_t)(d * 1000 + 0.5);
			if (o.duration_ms == 0)
				o.duration_ms = 1;
			break;
		}
		case OPT_LOSSLESS:
			o.lossless = 1;
			break;
		case OPT_NO_LOSSLESS:
			o.lossless = 0;
			break;
		case OPT_RINGBUF:
			if (cli_parse_size(optarg, &u64) || u64 < 16384 || u64 > (1ull << 31) ||
			    (u64 & (u64 - 1)))
				return cli_usage("invalid ring buffer size '%s' (power of two, 16k..2g)",
						 optarg);
			o.ringbuf_bytes = (uint32_t)u64;
			break;
		case OPT_ZSTD: {
			char *end;
			long l = strtol(optarg, &end, 10);
			if (*end || end == optarg || l < -7 || l > 22)
				return cli_usage("invalid zstd level '%s'", optarg);
			o.zstd_level = (int32_t)l;
			break;
		}
		case OPT_ATTACH_FILTER:
			o.attach_filter = 1;
			break;
		case OPT_SIGN_KEY:
			if (!*optarg)
				return cli_usage("empty signing key file name");
			sign_key = optarg;
			break;
		case OPT_SYSCALLS:
			if (!*optarg)
				return cli_usage("empty syscall list (names or groups: file, net, "
						 "process, ipc, all)");
			o.syscalls = optarg;
			break;
		case OPT_SYSCALL_BYTES:
			if (cli_parse_size(optarg, &u64) || u64 > 4096)
				return cli_usage("invalid buffer size '%s' (0..4096 bytes)", optarg);
			o.syscall_bytes = (uint32_t)u64;
			break;
		case OPT_MODEL:
			if (!*optarg)
				return cli_usage("empty model file name");
			o.model = optarg;
			break;
		case OPT_ON_ALERT:
			o.on_alert = (int)emt_alert_action_parse(optarg);
			if (!o.on_alert)
				return cli_usage("invalid --on-alert '%s' (capture, stop or kill)", optarg);
			break;
		case OPT_ALERT_RATE: {
			char rate[32];
			size_t n = strlen(optarg);

			/* N or N/s */
			snprintf(rate, sizeof(rate), "%s", optarg);
			if (n > 2 && n < sizeof(rate) && !strcmp(rate + n - 2, "/s"))
				rate[n - 2] = '\0';
			if (cli_parse_u32(rate, &u32) || u32 == 0 || u32 > 1000000)
				return cli_usage("invalid --alert-rate '%s' (N or N/s, 1..1000000)",
						 optarg);
			o.alert_rate = u32;
			break;
		}
		case 'f':
			o.force = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			cli_print_version();
			return CLI_EXIT_OK;
		default:
			return cli_usage("unknown option");
		}
	}
	if (!o.output)
		return cli_usage("no output archive given (-o ARCHIVE)");
	if (optind < argc)
		o.argv = &argv[optind];
	if (o.pid && o.argv)
		return cli_usage("give either -p PID or a command, not both");
	if (!o.pid && !o.argv)
		return cli_usage("no command to launch and no -p PID");
	if (o.syscall_bytes && !o.syscalls)
		return cli_usage("--syscall-bytes needs --syscalls");
	if (o.model && o.mode == EMT_MODE_PTRACE)
		return cli_usage("--model needs bpf mode: ptrace mode does not check syscall models");
	if ((o.on_alert || o.alert_rate) && !o.model)
		return cli_usage("--on-alert and --alert-rate need --model");
	if (o.attach_filter && (!o.pid || o.mode != EMT_MODE_PTRACE))
		return cli_usage("--attach-filter needs --mode ptrace and -p PID");

	char *msg = NULL;
	struct emt_key *key = NULL;
	if (sign_key) {
		char esc[512];

		/* Before anything is created or run: a capture that cannot be
		 * signed as asked must not start unsigned. */
		key = emt_key_load_private(sign_key, &msg);
		if (!key) {
			cli_error("%s", cli_escape_str(esc, sizeof(esc), msg ? msg : strerror(errno)));
			free(msg);
			return CLI_EXIT_FAIL;
		}
		o.sign_key = key;
	}

	char *opts_text = join_args(argc, argv);
	o.options_text = opts_text;
	o.log = log_debug;

	struct emt_capture_handle *c = emt_capture_open(&o, &msg);
	if (!c) {
		cli_error("%s", msg ? msg : strerror(errno));
		free(msg);
		free(opts_text);
		emt_key_free(key);
		return CLI_EXIT_FAIL;
	}
	g_cap = c;
	int show = !quiet && isatty(STDERR_FILENO);
	int rc = CLI_EXIT_OK, err = 0, started = 0;
	if (g_stop_pending) {
		/* Asked to stop before anything was armed: no command is
		 * launched and no target touched, and, as for any capture
		 * that never started, no archive is left. */
		emt_capture_request_stop(c);
		if (!quiet)
			fprintf(stderr, "%s: stopped before the capture started\n", cli_prog());
	} else if ((err = emt_capture_start(c)) < 0) {
		cli_error("%s", emt_capture_errmsg(c));
		rc = CLI_EXIT_FAIL;
	} else {
		uint64_t last = mono_ms();

		started = 1;
		const char *warn = emt_capture_warning(c);

		if (warn && !quiet)
			fprintf(stderr, "%s: warning: %s\n", cli_prog(), warn);
		while ((err = emt_capture_poll(c, 50)) > 0) {
			if (show && mono_ms() - last >= 1000) {
				progress(c, 0);
				last = mono_ms();
			}
		}
		if (show)
			fputs("\r\033[K", stderr);
		if (err < 0) {
			cli_error("%s", emt_capture_errmsg(c));
			rc = CLI_EXIT_FAIL;
		}
	}
	/* Everything queued is written before the summary counts it. */
	err = emt_capture_stop(c);
	if (err < 0 && rc == CLI_EXIT_OK) {
		cli_error("%s", emt_capture_errmsg(c));
		rc = CLI_EXIT_FAIL;
	}
	int status = emt_capture_target_status(c);
	if (!quiet && started)
		progress(c, 1);
	uint8_t seal[32];
	err = emt_capture_close_seal(c, &msg, seal);
	g_cap = NULL;
	if (err < 0) {
		cli_error("%s", msg ? msg : strerror(-err));
		rc = CLI_EXIT_FAIL;
	}
	free(msg);
	if (!quiet && o.argv && status >= 0) {
		if (WIFEXITED(status))
			fprintf(stderr, "%s: '%s' exited with status %d\n", cli_prog(),
				o.argv[0], WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			fprintf(stderr, "%s: '%s' killed by signal %d (%s)\n", cli_prog(),
				o.argv[0], WTERMSIG(status), strsignal(WTERMSIG(status)));
	}
	if (!quiet && rc == CLI_EXIT_OK && started) {
		char hex[65];

		emt_hex(seal, sizeof(seal), hex);
		/* Written down elsewhere, the digest proves later that the
		 * archive is the one sealed here (emt-verify recomputes it). */
		fprintf(stderr, "%s: archive '%s' sealed, seal sha256 %s\n", cli_prog(),
			o.output, hex);
		if (key)
			fprintf(stderr, "%s: seal signed with key sha256 %s\n", cli_prog(),
				emt_key_fingerprint(key));
	} else if (!started && access(o.output, F_OK) != 0) {
		fprintf(stderr, "%s: nothing captured, no archive written\n", cli_prog());
	}
	free(opts_text);
	emt_key_free(key);
	return rc;
}
