/*
 * inject.h - writes of code or data into a process by another (issue
 * 15), the part both engines share: what an engine saw written is
 * captured from the victim, after the write, as new versions of the
 * regions it landed in (trigger "inject"), each with its injections row
 * (SPEC.md 15).  The engines find the writes (bpf: capture/inject_bpf.c,
 * ptrace: the tracee's syscalls) and make the victim followed when it
 * was not.
 */
#ifndef EMT_CAPTURE_INJECT_H
#define EMT_CAPTURE_INJECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "emt_archive.h"

struct emt_session;
struct writeq;

/* At most this many writes are taken from one call (iovecs of
 * process_vm_writev, writev on /proc/PID/mem); the rest are counted as
 * loss "inject-iov". */
#define INJECT_MAX_WRITES 64
#define INJECT_IOV_MAX    1024          /* the kernel's UIO_MAXIOV */

/* One write into a victim. */
struct inject_write {
	pid_t    writer, writer_tid, victim;
	enum emt_inject_method method;
	uint64_t addr, len;     /* the range written; SETREGS: the new rip, 0 */
	int      has_word;
	uint64_t word;          /* PTRACE_POKE*: the word */
	uint64_t time_ns;
	int      has_regs;      /* SETREGS: the registers set, captured with the page at rip */
	struct emt_regs_x86_64 regs;
	int64_t  follow_process_id; /* > 0: the victim's process row, followed since this write */
	int      no_capture;    /* the row alone: POKEUSER (addr is an offset in the user
				 * area), SETFPREGS */
};

/* Captures the victim's memory as write *w left it: for each mapping the
 * range touches, its pages in that mapping (at least the page at rip for
 * SETREGS) as one capture with trigger "inject" and the injections row of
 * that part of the range, queued on q.  A range that is not mapped (the
 * write failed, the victim is gone) still gets its row, without a capture
 * (seq 0).  The caller makes sure the write is over (the writer is held).
 * Returns 0 or -errno with the session's message set. */
int inject_capture(struct emt_session *s, struct writeq *q, const struct inject_write *w);

/* The iovec array [iov, iov+cnt) of pid (cnt cut to cap) into v.
 * Returns how many were read, or -errno (-EFAULT: not readable). */
struct iovec;
int inject_read_iovs(pid_t pid, uint64_t iov, uint64_t cnt, struct iovec *v, size_t cap);

/* The pid of the /proc/PID/mem (or /proc/PID/task/TID/mem) that fd of pid
 * is open on, or -errno (-EINVAL: another file). */
int inject_mem_fd_victim(pid_t pid, uint64_t fd);

/* The file position of fd of pid, from /proc/PID/fdinfo, into *pos.
 * Returns 0 or -errno. */
int inject_fd_pos(pid_t pid, uint64_t fd, uint64_t *pos);

#endif /* EMT_CAPTURE_INJECT_H */
