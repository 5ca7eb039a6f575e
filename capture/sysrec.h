/*
 * sysrec.h - the syscall recorder (emt-capture --syscalls), shared by both
 * engines.  Not installed.
 *
 *  - sysrec_layout.c: the kernel's description of every syscall, read
 *    from the tracepoint format files under events/syscalls/ of tracefs,
 *    and what the recorder reads behind each argument (struct sr_layout,
 *    bpf/syscalls_bpf.h); syscall lists and groups.
 *  - sysrec_nr.c: x86-64 syscall numbers by name (the kernel headers').
 *  - sysrec_render.c: a finished call (values, memory read behind its
 *    pointers) as typed JSON and as strace-like text.
 *  - sysrec_rows.c: finished calls batched into archive rows.
 *  - sysrec_bpf.c: the BPF side (bpf/syscalls.bpf.c): load, attach, pair
 *    entry and exit records.
 *  - sysrec_ptrace.c: the ptrace side: seccomp numbers, reading
 *    arguments from registers and memory at the stops.
 *
 * Functions return 0 or a negative errno and keep a message in the
 * caller's buffer; nothing prints.
 */
#ifndef EMT_CAPTURE_SYSREC_H
#define EMT_CAPTURE_SYSREC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/syscalls_bpf.h"

struct emt_writer;

/* ------------------------------------------------------------ layout */

#define SYSREC_NAME_MAX 48
#define SYSREC_TYPE_MAX 48

/* Group bits of --syscalls. */
#define SYSREC_G_FILE    0x1u   /* takes a path name or a file descriptor */
#define SYSREC_G_NET     0x2u
#define SYSREC_G_PROCESS 0x4u
#define SYSREC_G_IPC     0x8u

/* One syscall as its sys_enter_NAME format file describes it. */
struct sysrec_format {
	char name[SYSREC_NAME_MAX];             /* without sys_enter_/sys_ */
	uint32_t nargs;
	char arg_name[SR_NARGS][SYSREC_NAME_MAX];
	char arg_type[SR_NARGS][SYSREC_TYPE_MAX];
};

/*
 * Parses the text of a sys_enter_NAME format file (`len` bytes, need not
 * be NUL-terminated, may not contain a NUL): the name line and the argument fields after
 * __syscall_nr, which must be 8 bytes each at offsets 16, 24, ...
 * Returns 0, or -EINVAL (not a syscall entry format: the name, a field
 * or an offset is missing or malformed, too many arguments, an over-long
 * name or type), with *f zeroed.
 */
int sysrec_format_parse(const char *text, size_t len, struct sysrec_format *f);

/*
 * What to read behind each argument of `f`, from the argument types and
 * names (strings, string arrays, struct sockaddr, buffers with a length
 * argument, the fixed structs of openat2 and clone3).  Buffers of
 * read/write-like calls are read only if buf_bytes > 0, at most that many
 * bytes (and at most SR_SEG_MAX).  Never fails.
 */
void sysrec_layout_of(const struct sysrec_format *f, uint32_t buf_bytes,
		      struct sr_layout *lay);

/* The groups `f` belongs to (SYSREC_G_*). */
uint32_t sysrec_groups_of(const struct sysrec_format *f);

/* A syscall the recorder knows: its description, number and layout. */
struct sysrec_sc {
	struct sysrec_format fmt;
	int nr;                                 /* -1: no number known */
	struct sr_layout lay;
	uint32_t groups;
	int chosen;
	int noexit;                             /* no exit record: exit, exit_group,
						 * rt_sigreturn (sysrec_layout.c) */
};

struct sysrec_table {
	struct sysrec_sc *sc;                   /* sorted by name */
	size_t n;
	int16_t by_nr[SR_MAX_NR];               /* index into sc, -1 none */
	char tracefs[128];                      /* where the formats were read */
	size_t unnumbered;                      /* formats without a number */
};

/*
 * Reads every events/syscalls/sys_enter_* format under tracefs (the first
 * of /sys/kernel/tracing and /sys/kernel/debug/tracing that has them; if
 * neither does, mounts tracefs on /sys/kernel/tracing when root).  `dir`
 * non-NULL: read that directory (of sys_enter_NAME/format files) instead,
 * mounting nothing (tests).  Returns 0 or -errno with msg set: -ENOENT
 * (no tracefs and it could not be mounted), -EINVAL (a format that does
 * not parse, named), -ENOMEM.  Free with sysrec_table_free.
 */
int sysrec_table_load(struct sysrec_table *t, const char *dir, uint32_t buf_bytes,
		      char *msg, size_t cap);
void sysrec_table_free(struct sysrec_table *t);

/* The syscall of number nr, or NULL. */
const struct sysrec_sc *sysrec_by_nr(const struct sysrec_table *t, uint64_t nr);

/*
 * Marks the syscalls of `list` chosen: comma-separated names (without
 * sys_) and groups (file, net, process, ipc, all).  Returns the number
 * chosen (> 0), or -EINVAL with msg naming the first unknown word, an
 * empty list or a syscall without a number.
 */
int sysrec_choose(struct sysrec_table *t, const char *list, char *msg, size_t cap);

/* x86-64 number of syscall `name`, or -1 (sysrec_nr.c). */
int sysrec_nr_of(const char *name);

/* ------------------------------------------------------------ calls */

/* Memory read behind one argument (a segment of bpf/syscalls_bpf.h, or
 * the same filled by the ptrace side). */
struct sysrec_seg {
	uint8_t arg, status;    /* SR_ST_* */
	uint8_t late;           /* input memory read at exit: not readable at entry */
	uint8_t pad;
	uint16_t idx;
	int32_t err;            /* -errno for SR_ST_FAULT */
	uint32_t len;
	const uint8_t *data;    /* len bytes, owned by the caller */
};

/* Flags of a call (archive column syscalls.flags, SPEC.md). */
#define SYSREC_F_CUT        0x1u  /* a string, array or buffer was cut short */
#define SYSREC_F_UNREADABLE 0x2u  /* memory behind an argument could not be read */
#define SYSREC_F_NOENTRY    0x4u  /* the entry was lost: arguments unknown */
#define SYSREC_F_NOROOM     0x8u  /* the record had no room for some memory */

struct sysrec_call {
	uint64_t time_ns, exit_ns;
	uint32_t pid, tid, uid, gid;
	uint32_t nr;
	uint64_t args[SR_NARGS];
	int64_t  ret;
	int      returned;
	uint32_t flags;         /* SYSREC_F_* known before rendering */
	const struct sysrec_seg *segs;
	size_t   nsegs;
};

/* A growing string.  Functions set `failed` instead of returning errors
 * (out of memory); the user checks it once. */
struct sysrec_str {
	char  *s;
	size_t len, cap;
	int    failed;
};
void sysrec_str_add(struct sysrec_str *b, const char *p, size_t n);
void sysrec_str_printf(struct sysrec_str *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sysrec_str_free(struct sysrec_str *b);

/*
 * Renders call `c` of syscall `sc` (NULL: unknown to the table, the six
 * values are shown): `json` gets the typed JSON array of its arguments,
 * `text` the strace-like argument list (without name and parentheses).
 * Returns the SYSREC_F_* flags of what the memory segments said (cut,
 * unreadable, no room) or'ed with c->flags; 0 with json->failed or
 * text->failed set if memory ran out.
 */
uint32_t sysrec_render(const struct sysrec_sc *sc, const struct sysrec_call *c,
		       struct sysrec_str *json, struct sysrec_str *text);

/* ------------------------------------------------------------ rows */

struct sysrec_rows;

/* Batches rows for `w` (the archive writer); NULL with errno. */
struct sysrec_rows *sysrec_rows_new(struct emt_writer *w);
/* Renders `c` and queues its row; writes a full batch.  Returns 0 or
 * -errno (the writer's message in emt_writer_errmsg). */
int sysrec_rows_add(struct sysrec_rows *rs, const struct sysrec_sc *sc,
		    const struct sysrec_call *c);
/* Writes what is queued.  Returns 0 or -errno. */
int sysrec_rows_flush(struct sysrec_rows *rs);
/* Rows written so far. */
uint64_t sysrec_rows_count(const struct sysrec_rows *rs);
/* Frees, dropping rows not flushed (the writer may be gone).  NULL
 * accepted. */
void sysrec_rows_free(struct sysrec_rows *rs);

/* ------------------------------------------------------------ bpf */

struct sysrec_bpf;

/* The main object's maps the recorder shares (bpf/emt.bpf.c). */
struct sysrec_bpf_maps {
	int followed_fd, rb_fd, stats_fd, lost_fd;
};

/* The maps of the main object's skeleton (emt.skel.h) to share. */
struct emt_bpf;
void sysrec_bpf_maps_of(const struct emt_bpf *skel, struct sysrec_bpf_maps *m);

/*
 * Opens bpf/syscalls.bpf.c sharing `maps`, loads it with the layouts of
 * the chosen syscalls of `t` (which must outlive the handle) and
 * attaches its programs to their sys_enter_NAME/sys_exit_NAME
 * tracepoints.  Returns the handle, or NULL with errno and msg set.
 */
struct sysrec_bpf *sysrec_bpf_open(const struct sysrec_table *t,
				   const struct sysrec_bpf_maps *maps,
				   char *msg, size_t cap);

/* For bpf-check: loads the recorder's programs sharing `maps`, asking
 * the verifier for its statistics, into st[0..*n) (at most max), and
 * unloads them.  Returns 0, or -errno with msg set (a refused program:
 * its stat has loaded == 0). */
struct emt_bpf_prog_stat;
int sysrec_bpf_verify(const struct sysrec_bpf_maps *maps, struct emt_bpf_prog_stat *st,
		      unsigned max, unsigned *n, char *msg, size_t cap);

/* Handles one ring record of type SR_REC_ENTER/SR_REC_EXIT (`size`
 * bytes).  Finished calls go to `rs`.  Returns 0 or -errno. */
int sysrec_bpf_record(struct sysrec_bpf *sb, struct sysrec_rows *rs,
		      const void *data, size_t size);

/* The threads of process `pid` will make no further syscall (it exited;
 * pid 0: the capture ends, every thread): their calls in progress are
 * written as not returned.  Returns 0 or -errno. */
int sysrec_bpf_flush(struct sysrec_bpf *sb, struct sysrec_rows *rs, uint32_t pid);

/* Detaches the programs (no further records); idempotent. */
void sysrec_bpf_detach(struct sysrec_bpf *sb);

/* Entry records without a matching exit and exits without an entry. */
uint64_t sysrec_bpf_unpaired(const struct sysrec_bpf *sb);

/* Detaches and frees.  NULL accepted. */
void sysrec_bpf_close(struct sysrec_bpf *sb);

/* ------------------------------------------------------------ ptrace */

struct sysrec_pt;
struct sock_fprog;

/* The seccomp filter that adds a tracer stop (SECCOMP_RET_TRACE) for
 * every chosen syscall of `t` and allows the rest, to be stacked on the
 * engine's own.  prog->filter is malloc'd (the caller frees it).
 * Returns 0, -EINVAL (none chosen) or -ENOMEM. */
int sysrec_pt_filter(const struct sysrec_table *t, struct sock_fprog *prog);
/* The ptrace recorder writing to `rs`; NULL with errno. */
struct sysrec_pt *sysrec_pt_new(const struct sysrec_table *t, struct sysrec_rows *rs);
/* Thread tid of pid is at the entry stop of syscall nr with `args`:
 * records it if chosen (reading the memory behind its arguments).
 * Returns 1 if the exit stop is wanted, 0 if not chosen, -errno. */
int sysrec_pt_enter(struct sysrec_pt *p, pid_t pid, pid_t tid, uint64_t nr,
		    const uint64_t args[SR_NARGS], uint64_t time_ns);
/* ... at the exit stop with `ret`: writes the call.  0 or -errno. */
int sysrec_pt_exit(struct sysrec_pt *p, pid_t tid, int64_t ret, uint64_t time_ns);
/* Thread tid is at its exec event stop (former: the thread that called
 * execve, whose id it took): the execve's exit stop is still to come.
 * Returns 1 if a recorded call of tid is in progress (ask for its exit
 * stop), else 0. */
int sysrec_pt_exec(struct sysrec_pt *p, pid_t former, pid_t tid);
/* Thread tid is gone (0: all threads, the capture ends): its call in
 * progress is written as not returned.  0 or -errno. */
int sysrec_pt_gone(struct sysrec_pt *p, pid_t tid);
void sysrec_pt_free(struct sysrec_pt *p);

/* ------------------------------------------------------------ session */

struct emt_session;
struct sysrec_session;

/* The recorder of a capture session (sysrec_session.c), for the engines.
 * All return 0 or -errno with the session's message set
 * (emt_session_fail); every function accepts a NULL recorder (no
 * --syscalls) and then does nothing. */

/* Reads the syscall descriptions and chooses s->opts.syscalls.  *out is
 * NULL when no list was given. */
int sysrec_session_open(struct emt_session *s, struct sysrec_session **out);
/* BPF mode: loads and attaches the recorder sharing `maps`. */
int sysrec_session_attach_bpf(struct emt_session *s, struct sysrec_session *ss,
			      const struct sysrec_bpf_maps *maps);
/* Once the archive exists: its writer for the rows, the meta keys. */
int sysrec_session_start(struct emt_session *s, struct sysrec_session *ss);
/* A ring record of type SR_REC_ENTER/SR_REC_EXIT. */
int sysrec_session_record(struct sysrec_session *ss, const void *data, size_t size);
/* Process `pid` exited: its threads' calls in progress never return. */
int sysrec_session_gone(struct sysrec_session *ss, uint32_t pid);
/* Stops recording (detaches; the caller then reads the ring one last
 * time). */
void sysrec_session_detach(struct sysrec_session *ss);
/* Writes every call still in progress and the counts (meta, losses). */
int sysrec_session_end(struct emt_session *s, struct sysrec_session *ss);
/* ptrace mode: the filter to stack on the engine's (sysrec_pt_filter),
 * and the ptrace recorder once started (NULL before, or without a list). */
int sysrec_session_filter(struct emt_session *s, struct sysrec_session *ss,
			  struct sock_fprog *prog);
struct sysrec_pt *sysrec_session_ptrace(struct sysrec_session *ss);
void sysrec_session_free(struct sysrec_session *ss);

#endif /* EMT_CAPTURE_SYSREC_H */
