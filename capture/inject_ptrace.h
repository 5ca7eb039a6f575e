/*
 * inject_ptrace.h - injections in ptrace mode: the writes a followed
 * process makes into other processes, seen at its own system calls.
 *
 * A seccomp filter added next to ptrace mode's own (inject_ptrace_filter)
 * stops the target at ptrace(PTRACE_POKETEXT/POKEDATA/POKEUSER/SETREGS/
 * SETREGSET/SETFPREGS), process_vm_writev, pwrite64, pwritev and
 * pwritev2; at the call's exit the write is over and the victim's bytes
 * are captured (inject.h), the victim followed from then on if the
 * engine can (inject_follow_fn).  write(2) and writev(2) are too frequent
 * to stop at, and seccomp cannot tell their file: the same filter stops
 * at the calls that can make a /proc/PID/mem descriptor (open and openat
 * asking for write access, openat2, creat), and when one did
 * (inject_ptrace_mem_fd) the engine adds a filter for write, writev and
 * the dups (dup, dup2, dup3, fcntl F_DUPFD*) of that descriptor alone
 * (inject_ptrace_fd_filter): a dup makes a new one only of one.  A
 * descriptor received from another process (SCM_RIGHTS, pidfd_getfd) is
 * not seen (SPEC.md 15).
 */
#ifndef EMT_CAPTURE_INJECT_PTRACE_H
#define EMT_CAPTURE_INJECT_PTRACE_H

#include <stdint.h>
#include <sys/types.h>

#include "x86_64.h"

struct emt_session;
struct writeq;

/* Builds the filter into caller-owned *f (installed like ptrace mode's
 * filter, in the launched target before exec).  Returns 0. */
int inject_ptrace_filter(struct x86_64_filter *f);

/* Builds into *f the filter that traces write, writev and the dups of fd
 * alone, added to a process that made fd a /proc/PID/mem descriptor.
 * Returns 0. */
int inject_ptrace_fd_filter(struct x86_64_filter *f, int fd);

/* The descriptor that call nr(a) of process pid, at its exit with result
 * ret, made on a /proc/PID/mem file (an open or a dup), or -1. */
int inject_ptrace_mem_fd(pid_t pid, long nr, const uint64_t a[6], int64_t ret);

/* Whether the call nr(a) of process pid, stopped at its entry, may write
 * into another process, so that its exit must be seen. */
int inject_ptrace_wants(pid_t pid, long nr, const uint64_t a[6]);

/* The engine's part of an injection (issue 15: "a victim not yet
 * followed becomes followed from that moment"): called once per call that
 * wrote into `victim` (a process id), before the victim's bytes are read,
 * with the writer's pid and tid.  Returns the victim's process row
 * (sink_process_id) if the victim became followed by this call, 0 if not
 * (followed already, or it cannot be: the engine records why), or -errno
 * (fatal, the session's message set). */
typedef int64_t (*inject_follow_fn)(void *ctx, pid_t writer, pid_t writer_tid,
				    pid_t victim);

/* The exit, with result ret, of call nr(a) of thread tid of process pid
 * (stopped there): records and captures what it wrote, if it wrote into
 * another process.  follow (may be NULL) is asked first to follow the
 * victim; the row it returns gets its follow reason with the first
 * injections row of the call.  Returns 0 or -errno with the session's
 * message. */
int inject_ptrace_exit(struct emt_session *s, struct writeq *q, pid_t pid, pid_t tid,
		       long nr, const uint64_t a[6], int64_t ret,
		       inject_follow_fn follow, void *follow_ctx);

#endif /* EMT_CAPTURE_INJECT_PTRACE_H */
