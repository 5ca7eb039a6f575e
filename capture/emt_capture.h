/*
 * emt_capture.h - the capture engine library: public API used by
 * tools/emt-capture.c.
 *
 * Life cycle: emt_capture_open() -> emt_capture_start() ->
 * emt_capture_poll() until it returns 0 -> emt_capture_close().
 * emt_capture_request_stop() may be called from a signal handler.
 *
 * Conventions as in format/emt_archive.h: 0 or -errno, NULL with errno,
 * never prints or exits; messages kept on the handle (emt_capture_errmsg).
 */
#ifndef EMT_CAPTURE_H
#define EMT_CAPTURE_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum emt_mode {
	EMT_MODE_BPF = 1,
	EMT_MODE_PTRACE = 2,
};

/* How much a message of a library the capture uses says. */
enum emt_log_level {
	EMT_LOG_WARN = 0,
	EMT_LOG_INFO = 1,
	EMT_LOG_DEBUG = 2,
	EMT_LOG_NOTICE = 3,     /* for the user at once, whatever the level
				 * asked (a target left stopped at an alert) */
};
/* Receives one message of a library the capture uses (in bpf mode:
 * libbpf's, the verifier's log included), printf-style, usually ending
 * in a newline.  The capture library itself never prints: where these
 * go is the tool's choice. */
typedef void emt_log_fn(void *arg, enum emt_log_level level, const char *fmt,
			va_list ap);

struct emt_capture_opts {
	size_t   sz;              /* sizeof(struct emt_capture_opts) */
	int      mode;            /* enum emt_mode; 0 = EMT_MODE_BPF */
	const char *output;       /* archive path (required) */
	int      force;           /* overwrite an existing archive */
	pid_t    pid;             /* attach to this process, or 0 */
	char *const *argv;        /* launch this command (NULL-terminated), or NULL */
	int      no_follow;       /* do not follow children / exec */
	int      capture_files;   /* also copy exec mappings of regular files */
	int      lossless;        /* 1 on, 0 off, -1 default (on when launching) */
	uint32_t rwx_interval_ms; /* sample live RWX regions, 0 = off */
	uint32_t duration_ms;     /* stop after this long, 0 = until target exits */
	uint32_t ringbuf_bytes;   /* BPF ring size, 0 = default */
	int32_t  zstd_level;      /* 0 = archive default */
	uint32_t chunk_size;      /* 0 = archive default */
	const char *options_text; /* command line as given, stored in meta */
	int      attach_filter;   /* ptrace -p: install the seccomp filter in the
				   * target (it outlives the capture) */
	emt_log_fn *log;          /* libraries' messages, NULL = dropped; libbpf
				   * has one callback per process, so the
				   * session opened last gets them */
	void    *log_arg;         /* passed to log */
	const struct emt_key *sign_key; /* sign the archive (SPEC.md 10.2), or NULL;
				   * the archive keeps its own reference */
	/* --syscalls (README "Recording syscalls"): */
	const char *syscalls;     /* names and groups to record, or NULL */
	uint32_t syscall_bytes;   /* buffers of read/write-like calls: bytes
				   * recorded per buffer, 0 = none */
	/* --model (SPEC.md section 16; bpf mode only): */
	const char *model;        /* syscall model file (emt-learn), or NULL */
	int      on_alert;        /* enum emt_alert_action; 0 = capture */
	uint32_t alert_rate;      /* alerts per process and second, 0 = default (5) */
};

/* The session handle.  (Not "struct emt_capture": that name is the
 * archive's capture record in emt_archive.h, and tools include both.) */
struct emt_capture_handle;

/* Validates options and the environment (privileges, BTF, tracefs,
 * target existence, output not existing) and creates the archive.  Does not
 * start the target.  NULL with errno on failure; *errmsg gets a malloc'd
 * message (e.g. "need root or CAP_BPF and CAP_PERFMON"). */
struct emt_capture_handle *emt_capture_open(const struct emt_capture_opts *o,
				     char **errmsg);

/* Loads/attaches the mechanism and launches or attaches to the target.
 * For a launched command, the target runs no instruction of the command
 * before capture is armed. */
int emt_capture_start(struct emt_capture_handle *c);

/* Processes events for at most timeout_ms.  Returns 1 while capturing, 0
 * when the capture has ended (targets gone, duration reached or stop
 * requested), or -errno on a fatal error (the archive keeps what was
 * committed). */
int emt_capture_poll(struct emt_capture_handle *c, int timeout_ms);

/* Async-signal-safe: asks the next emt_capture_poll() to end the capture. */
void emt_capture_request_stop(struct emt_capture_handle *c);

struct emt_capture_stats {
	uint64_t elapsed_ns;
	uint64_t processes;        /* followed so far */
	uint64_t live_processes;
	uint64_t captures;
	uint64_t raw_bytes;
	uint64_t stored_bytes;
	uint64_t lost_events;
	uint64_t gaps;
	uint64_t events;
};
void emt_capture_stats(struct emt_capture_handle *c, struct emt_capture_stats *st);

/* Exit status (wait(2) status) of a launched command, -1 if unknown. */
int emt_capture_target_status(struct emt_capture_handle *c);

/* Ends the capture: detaches from targets (restoring anything the engine
 * changed; a launched command that is still running is killed with its
 * whole tree), writes everything still queued and records why it ended
 * (meta stop_reason).  Statistics are final afterwards.  Idempotent;
 * emt_capture_close calls it.  Returns 0 or -errno (message in
 * emt_capture_errmsg). */
int emt_capture_stop(struct emt_capture_handle *c);

/* Stops (emt_capture_stop), seals the archive and frees the handle.  A
 * capture whose start failed before anything was captured leaves no
 * archive.  Returns 0 or -errno; *errmsg as above. */
int emt_capture_close(struct emt_capture_handle *c, char **errmsg);

/* emt_capture_close that also copies the archive's seal digest (meta
 * seal_sha256, SPEC.md section 10) to `seal` on success, for recording
 * out of band.  `seal` may be NULL. */
int emt_capture_close_seal(struct emt_capture_handle *c, char **errmsg,
			   uint8_t seal[32]);

const char *emt_capture_errmsg(const struct emt_capture_handle *c);

/* A warning the engine left for the user (for example: attached in ptrace
 * mode without a seccomp filter, so every system call of the target
 * stops it), or NULL.  Valid until the handle is closed. */
const char *emt_capture_warning(const struct emt_capture_handle *c);

#ifdef __cplusplus
}
#endif
#endif /* EMT_CAPTURE_H */
