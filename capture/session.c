/*
 * session.c - the mode-independent capture session (emt_capture.h):
 * validates options, creates the archive sink and dispatches to the
 * engine chosen by opts.mode (engine.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "sink.h"

/* The ptrace engine (ptrace_engine.c) is declared in engine.h; a plain
 * reference, since a weak one would not pull it out of the static
 * library. */

struct emt_capture_handle {
	struct emt_session s;           /* first: engines get &c->s */
	const struct emt_engine_ops *ops;
	int started;
	int stopped;            /* poll returned <= 0 */
	int start_failed;
	int engine_stopped;     /* ops->stop ran */
	int stop_err;
	int failed;             /* poll or stop returned an error */
};

static uint64_t boottime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Returns 0 if `file` names an executable the way execvp would find it. */
static int find_executable(const char *file)
{
	char path[4096];
	const char *dirs;

	if (strchr(file, '/'))
		return access(file, X_OK) == 0 ? 0 : -errno;
	dirs = getenv("PATH");
	if (!dirs || !*dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	while (*dirs) {
		size_t n = strcspn(dirs, ":");
		if (n > 0 && n + strlen(file) + 2 <= sizeof(path)) {
			snprintf(path, sizeof(path), "%.*s/%s", (int)n, dirs, file);
			if (access(path, X_OK) == 0)
				return 0;
		}
		dirs += n;
		if (*dirs == ':')
			dirs++;
	}
	return -ENOENT;
}

static char *join_argv(char *const *argv)
{
	size_t len = 1;
	for (size_t i = 0; argv[i]; i++)
		len += strlen(argv[i]) + 1;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	for (size_t i = 0; argv[i]; i++) {
		size_t n = strlen(argv[i]);
		if (i)
			*p++ = ' ';
		memcpy(p, argv[i], n);
		p += n;
	}
	*p = '\0';
	return s;
}

static int fail_open(struct emt_capture_handle *c, int err, char **errmsg)
{
	if (errmsg)
		*errmsg = strdup(c->s.errmsg[0] ? c->s.errmsg : strerror(-err));
	if (c->ops && c->ops->free)
		c->ops->free(&c->s);
	free(c);
	errno = -err;
	return err;
}

struct emt_capture_handle *emt_capture_open(const struct emt_capture_opts *o,
				     char **errmsg)
{
	struct emt_capture_handle *c = calloc(1, sizeof(*c));
	struct emt_session *s;
	struct stat st;
	int err;

	if (errmsg)
		*errmsg = NULL;
	if (!c) {
		if (errmsg)
			*errmsg = strdup("out of memory");
		errno = ENOMEM;
		return NULL;
	}
	s = &c->s;
	if (!o || o->sz < sizeof(*o)) {
		fail_open(c, emt_session_fail(s, -EINVAL, "bad options size"), errmsg);
		return NULL;
	}
	s->opts = *o;
	s->root_status = -1;
	if (!o->output || !*o->output) {
		fail_open(c, emt_session_fail(s, -EINVAL, "no output archive given"), errmsg);
		return NULL;
	}
	if ((o->pid > 0) == (o->argv && o->argv[0])) {
		fail_open(c, emt_session_fail(s, -EINVAL,
			  "give either a command to launch or a pid to attach to"), errmsg);
		return NULL;
	}
	s->lossless = o->lossless < 0 ? (o->argv != NULL) : !!o->lossless;

	switch (o->mode ? o->mode : EMT_MODE_BPF) {
	case EMT_MODE_BPF:
		c->ops = &emt_bpf_engine;
		break;
	case EMT_MODE_PTRACE:
		/* The model is checked by a BPF program at every syscall; the
		 * seccomp filter cannot keep a per-thread history. */
		if (o->model) {
			fail_open(c, emt_session_fail(s, -ENOTSUP, "--model needs bpf mode"
				  " (ptrace mode does not check syscall models)"), errmsg);
			return NULL;
		}
		c->ops = &emt_ptrace_engine;
		if (!c->ops) {
			fail_open(c, emt_session_fail(s, -ENOTSUP, "ptrace mode not built"), errmsg);
			return NULL;
		}
		break;
	default:
		fail_open(c, emt_session_fail(s, -EINVAL, "unknown mode %d", o->mode), errmsg);
		return NULL;
	}

	/* Target checks before privileges: a typo is the likelier mistake. */
	if (o->pid > 0) {
		if (kill(o->pid, 0) < 0 && errno == ESRCH) {
			fail_open(c, emt_session_fail(s, -ESRCH, "no process with pid %d",
				  (int)o->pid), errmsg);
			return NULL;
		}
	} else if ((err = find_executable(o->argv[0])) < 0) {
		fail_open(c, emt_session_fail(s, err, "cannot execute '%s': %s",
			  o->argv[0], strerror(-err)), errmsg);
		return NULL;
	}
	if (!o->force && lstat(o->output, &st) == 0) {
		fail_open(c, emt_session_fail(s, -EEXIST,
			  "archive '%s' exists (use --force to replace it)", o->output), errmsg);
		return NULL;
	}
	if (c->ops->check && (err = c->ops->check(s)) < 0) {
		fail_open(c, err, errmsg);
		return NULL;
	}
	if (c->ops->prepare && (err = c->ops->prepare(s)) < 0) {
		fail_open(c, err, errmsg);
		return NULL;
	}

	struct emt_writer_opts wo = {
		.sz = sizeof(wo),
		.chunk_size = o->chunk_size,
		.zstd_level = o->zstd_level,
		.flags = o->force ? EMT_CREATE_FORCE : 0,
		.sign_key = o->sign_key,
	};
	s->sink = sink_open(s, &wo);
	if (!s->sink) {
		err = -errno;
		fail_open(c, err, errmsg);
		return NULL;
	}
	struct emt_writer *w = sink_writer(s->sink);
	err = emt_writer_set_meta(w, "mode", c->ops->name);
	if (!err && o->options_text)
		err = emt_writer_set_meta(w, "options", o->options_text);
	if (!err && o->argv) {
		char *cmd = join_argv(o->argv);
		err = cmd ? emt_writer_set_meta(w, "target_cmdline", cmd) : -ENOMEM;
		free(cmd);
	} else if (!err) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)o->pid);
		err = emt_writer_set_meta(w, "target_pid", pid);
	}
	if (!err)
		err = emt_writer_set_meta(w, "lossless", s->lossless ? "1" : "0");
	if (err) {
		emt_session_fail(s, err, "cannot write meta to '%s': %s", o->output,
				 emt_writer_errmsg(w));
		sink_close(s->sink);
		unlink(o->output);
		fail_open(c, err, errmsg);
		return NULL;
	}
	return c;
}

int emt_capture_start(struct emt_capture_handle *c)
{
	if (c->started)
		return emt_session_fail(&c->s, -EALREADY, "capture already started");
	c->started = 1;
	c->s.start_ns = boottime_ns();
	int err = c->ops->start(&c->s);

	if (err < 0)
		c->start_failed = 1;
	return err;
}

int emt_capture_poll(struct emt_capture_handle *c, int timeout_ms)
{
	struct emt_session *s = &c->s;
	int ret, err;

	if (!c->started || c->stopped)
		return 0;
	if (s->opts.duration_ms &&
	    boottime_ns() - s->start_ns >= (uint64_t)s->opts.duration_ms * 1000000ull)
		s->stop = 1;
	/* The engine sees s->stop, drains what is pending and returns 0. */
	ret = c->ops->poll(s, timeout_ms);
	err = sink_tick(s->sink);
	if (ret >= 0 && err < 0)
		ret = err;
	if (ret <= 0)
		c->stopped = 1;
	if (ret < 0)
		c->failed = 1;
	return ret;
}

int emt_capture_stop(struct emt_capture_handle *c)
{
	struct emt_session *s = &c->s;

	if (!c->started || c->engine_stopped)
		return c->stop_err;
	c->engine_stopped = 1;
	c->stopped = 1;
	if (c->ops->stop)
		c->stop_err = c->ops->stop(s);
	if (c->stop_err < 0)
		c->failed = 1;
	/* Why the capture ended, for the analyst (SPEC.md meta). */
	if (s->sink && !c->start_failed) {
		char why[sizeof(s->errmsg) + 16];

		if (c->failed)
			snprintf(why, sizeof(why), "error: %s", s->errmsg);
		else if (s->opts.duration_ms && s->stop &&
			 boottime_ns() - s->start_ns >= (uint64_t)s->opts.duration_ms * 1000000ull)
			snprintf(why, sizeof(why), "duration");
		else if (s->stop)
			snprintf(why, sizeof(why), "stopped");
		else
			snprintf(why, sizeof(why), "targets exited");
		emt_writer_set_meta(sink_writer(s->sink), "stop_reason", why);
	}
	return c->stop_err;
}

void emt_capture_request_stop(struct emt_capture_handle *c)
{
	c->s.stop = 1;
}

void emt_capture_stats(struct emt_capture_handle *c, struct emt_capture_stats *st)
{
	struct emt_writer_stats ws;

	memset(st, 0, sizeof(*st));
	if (c->s.start_ns)
		st->elapsed_ns = boottime_ns() - c->s.start_ns;
	st->live_processes = c->s.live_processes;
	if (!c->s.sink)
		return;
	emt_writer_stats(sink_writer(c->s.sink), &ws);
	st->processes = ws.processes;
	st->captures = ws.captures;
	st->raw_bytes = ws.raw_bytes;
	st->stored_bytes = ws.stored_bytes;
	st->lost_events = ws.losses;
	st->gaps = ws.gaps;
	st->events = ws.events;
}

int emt_capture_target_status(struct emt_capture_handle *c)
{
	return c->s.root_status;
}

int emt_capture_close_seal(struct emt_capture_handle *c, char **errmsg,
			   uint8_t seal[EMT_SHA256_LEN])
{
	int ret = 0, err, discard;
	struct emt_writer_stats ws;

	if (errmsg)
		*errmsg = NULL;
	if (!c)
		return 0;
	err = emt_capture_stop(c);
	if (err < 0)
		ret = err;
	if (errmsg && ret)
		*errmsg = strdup(c->s.errmsg);
	if (c->ops->free)
		c->ops->free(&c->s);
	/* The capture's own cost (its threads, not the target, which is a
	 * child and would be in RUSAGE_CHILDREN), for benchmarks and for
	 * an analyst judging how much the capture slowed the machine. */
	if (c->s.sink) {
		struct rusage ru;
		char cpu[96];

		if (getrusage(RUSAGE_SELF, &ru) == 0) {
			snprintf(cpu, sizeof(cpu), "user_s=%ld.%03ld sys_s=%ld.%03ld",
				 (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec / 1000,
				 (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec / 1000);
			(void)emt_writer_set_meta(sink_writer(c->s.sink), "capture_cpu", cpu);
		}
	}
	/* A capture that never started holds nothing: leave no archive that
	 * would look like a clean, empty capture. */
	memset(&ws, 0, sizeof(ws));
	if (c->s.sink)
		emt_writer_stats(sink_writer(c->s.sink), &ws);
	discard = (!c->started || c->start_failed) && ws.captures == 0;
	err = sink_close_seal(c->s.sink, seal, discard);
	if (discard && c->s.sink) {
		char p[4096];

		unlink(c->s.opts.output);
		snprintf(p, sizeof(p), "%s-wal", c->s.opts.output);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", c->s.opts.output);
		unlink(p);
	}
	if (err < 0 && !ret) {
		ret = err;
		if (errmsg)
			*errmsg = strdup(c->s.errmsg);
	}
	free(c);
	return ret;
}

int emt_capture_close(struct emt_capture_handle *c, char **errmsg)
{
	return emt_capture_close_seal(c, errmsg, NULL);
}

const char *emt_capture_warning(const struct emt_capture_handle *c)
{
	return c && c->s.warning[0] ? c->s.warning : NULL;
}

const char *emt_capture_errmsg(const struct emt_capture_handle *c)
{
	return c->s.errmsg;
}
