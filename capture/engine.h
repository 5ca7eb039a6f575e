/*
 * engine.h - internal interface between the mode-independent capture
 * session (capture/session.c) and a capture mechanism (bpf_engine.c,
 * ptrace_engine.c).  Not installed; tools use emt_capture.h only.
 *
 * The session owns the options, the archive sink (sink.h: processes,
 * regions, versions, captures, events, losses) and the stop flag.  An
 * engine owns its mechanism (BPF objects, ptrace state) and reports what it
 * sees through the sink.
 */
#ifndef EMT_CAPTURE_ENGINE_H
#define EMT_CAPTURE_ENGINE_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "emt_capture.h"

struct emt_sink;

/* Mode-independent state shared with the engine. */
struct emt_session {
	struct emt_capture_opts opts;   /* copied; argv/strings owned by caller */
	struct emt_sink *sink;
	volatile sig_atomic_t stop;     /* set by emt_capture_request_stop() */
	uint64_t start_ns;              /* CLOCK_BOOTTIME at start */
	pid_t    root_pid;              /* launched or attached target */
	int      root_status;           /* wait status of a launched target, -1 unknown */
	int      lossless;              /* resolved from opts.lossless */
	uint64_t live_processes;        /* maintained by the engine */
	char     errmsg[2560];          /* last error, lowercase (may hold verifier lines) */
	char     warning[1536];         /* for the user, "" if none (emt_session_warn) */
	void    *engine_priv;           /* engine's own state */
};

/* Formats a warning for the user into s->warning (the last one wins). */
void emt_session_warn(struct emt_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Formats a message into s->errmsg and returns `err` (a negative errno). */
int emt_session_fail(struct emt_session *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct emt_engine_ops {
	const char *name;               /* "bpf", "ptrace" */
	/* Checks privileges/kernel features; no side effects on targets. */
	int (*check)(struct emt_session *s);
	/* Optional: does what needs privileges before the archive and its
	 * threads exist (so that the engine can drop privileges first).
	 * s->sink is NULL here.  On failure the session calls free. */
	int (*prepare)(struct emt_session *s);
	/* Arms the mechanism and launches/attaches.  A launched command must
	 * not execute before capture is armed. */
	int (*start)(struct emt_session *s);
	/* Handles events for at most timeout_ms; 1 running, 0 ended, -errno. */
	int (*poll)(struct emt_session *s, int timeout_ms);
	/* Undoes everything done to targets (restore protections, detach);
	 * kills a launched target only if the capture failed.  Idempotent. */
	int (*stop)(struct emt_session *s);
	void (*free)(struct emt_session *s);
};

extern const struct emt_engine_ops emt_bpf_engine;
extern const struct emt_engine_ops emt_ptrace_engine;

#endif /* EMT_CAPTURE_ENGINE_H */
