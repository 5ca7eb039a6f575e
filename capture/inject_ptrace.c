/*
 * inject_ptrace.c - a followed process's writes into others, in ptrace
 * mode (inject_ptrace.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <time.h>

#include <linux/audit.h>
#include <linux/elf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "engine.h"
#include "inject.h"
#include "inject_ptrace.h"
#include "proc.h"
#include "sink.h"

#ifndef PTRACE_SETREGSET
#define PTRACE_SETREGSET 0x4205
#endif

/* A conditional jump at q[n] to absolute instructions t (true) and f. */
static void jump_to(struct sock_filter *q, uint8_t n, uint32_t k, uint8_t t, uint8_t f)
{
	q[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k,
					    (uint8_t)(t - n - 1), (uint8_t)(f - n - 1));
}

int inject_ptrace_filter(struct x86_64_filter *f)
{
	/* Always traced: the writes, and the calls that may make a new
	 * /proc/PID/mem descriptor without a flag that tells (openat2's
	 * flags are behind a pointer; creat).  A dup can make one only of
	 * one: inject_ptrace_fd_filter. */
	static const uint32_t calls[] = {
		__NR_process_vm_writev, __NR_pwrite64, __NR_pwritev, __NR_pwritev2,
		__NR_openat2, __NR_creat,
	};
	static const uint32_t reqs[] = {
		PTRACE_POKETEXT, PTRACE_POKEDATA, PTRACE_POKEUSER, PTRACE_SETREGS,
		PTRACE_SETFPREGS, PTRACE_SETREGSET,
	};
	const uint32_t lds = BPF_LD | BPF_W | BPF_ABS;
	const uint32_t arg0 = offsetof(struct seccomp_data, args);
	const uint8_t nc = sizeof(calls) / sizeof(calls[0]), nr = sizeof(reqs) / sizeof(reqs[0]);
	/* arch, nr, 3 dispatches, calls, then the blocks: ptrace's request,
	 * open's and openat's access mode (a read-only open never writes,
	 * and most opens are); trace; allow. */
	const uint8_t ptr = (uint8_t)(6 + nc), open = (uint8_t)(ptr + 1 + nr);
	const uint8_t openat = (uint8_t)(open + 3);
	const uint8_t trace = (uint8_t)(openat + 3), allow = (uint8_t)(trace + 1);
	struct sock_filter *q = f->insns;
	uint8_t n = 0;

	_Static_assert(6 + 6 + 1 + 6 + 3 + 3 + 2 <= sizeof(f->insns) / sizeof(f->insns[0]),
		       "filter buffer too small");
	/* Other ABIs are traced by the first filter already. */
	q[n++] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, arch));
	jump_to(q, n, AUDIT_ARCH_X86_64, (uint8_t)(n + 1), allow), n++;
	q[n++] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, nr));
	jump_to(q, n, __NR_ptrace, ptr, (uint8_t)(n + 1)), n++;
	jump_to(q, n, __NR_open, open, (uint8_t)(n + 1)), n++;
	jump_to(q, n, __NR_openat, openat, (uint8_t)(n + 1)), n++;
	for (uint8_t i = 0; i < nc; i++, n++)
		jump_to(q, n, calls[i], trace, i + 1 < nc ? (uint8_t)(n + 1) : allow);
	q[n++] = (struct sock_filter)BPF_STMT(lds, arg0);
	for (uint8_t i = 0; i < nr; i++, n++)
		jump_to(q, n, reqs[i], trace, i + 1 < nr ? (uint8_t)(n + 1) : allow);
	/* The low word of a 64-bit argument is the int the kernel reads. */
	q[n++] = (struct sock_filter)BPF_STMT(lds, arg0 + 1 * 8);
	q[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, O_ACCMODE);
	jump_to(q, n, O_RDONLY, allow, trace), n++;
	q[n++] = (struct sock_filter)BPF_STMT(lds, arg0 + 2 * 8);
	q[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, O_ACCMODE);
	jump_to(q, n, O_RDONLY, allow, trace), n++;
	q[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	q[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f->prog.len = n;
	f->prog.filter = f->insns;
	return 0;
}

int inject_ptrace_fd_filter(struct x86_64_filter *f, int fd)
{
	static const uint32_t on_fd[] = {
		__NR_write, __NR_writev, __NR_dup, __NR_dup2, __NR_dup3,
	};
	const uint32_t lds = BPF_LD | BPF_W | BPF_ABS;
	const uint32_t arg0 = offsetof(struct seccomp_data, args);
	const uint8_t nf = sizeof(on_fd) / sizeof(on_fd[0]);
	/* arch, nr, the calls, fcntl; their fd; fcntl's fd, then its cmd. */
	const uint8_t chk = (uint8_t)(3 + nf + 1), fc = (uint8_t)(chk + 2);
	const uint8_t trace = (uint8_t)(fc + 5), allow = (uint8_t)(trace + 1);
	struct sock_filter *q = f->insns;
	uint8_t n = 0;

	_Static_assert(3 + 5 + 1 + 2 + 5 + 2 <= sizeof(f->insns) / sizeof(f->insns[0]),
		       "filter buffer too small");
	q[n++] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, arch));
	jump_to(q, n, AUDIT_ARCH_X86_64, (uint8_t)(n + 1), allow), n++;
	q[n++] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, nr));
	for (uint8_t i = 0; i < nf; i++, n++)
		jump_to(q, n, on_fd[i], chk, (uint8_t)(n + 1));
	jump_to(q, n, __NR_fcntl, fc, allow), n++;
	q[n++] = (struct sock_filter)BPF_STMT(lds, arg0);
	jump_to(q, n, (uint32_t)fd, trace, allow), n++;
	q[n++] = (struct sock_filter)BPF_STMT(lds, arg0);
	jump_to(q, n, (uint32_t)fd, (uint8_t)(n + 1), allow), n++;
	q[n++] = (struct sock_filter)BPF_STMT(lds, arg0 + 1 * 8);
	jump_to(q, n, F_DUPFD, trace, (uint8_t)(n + 1)), n++;
	jump_to(q, n, F_DUPFD_CLOEXEC, trace, allow), n++;
	q[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	q[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	f->prog.len = n;
	f->prog.filter = f->insns;
	return 0;
}

static int is_ptrace_write(uint64_t req)
{
	return req == PTRACE_POKETEXT || req == PTRACE_POKEDATA || req == PTRACE_POKEUSER ||
	       req == PTRACE_SETREGS || req == PTRACE_SETFPREGS || req == PTRACE_SETREGSET;
}

/* fcntl(fd, F_DUPFD*): the fcntl commands that make a descriptor (cmd
 * is the kernel's 32-bit int). */
static int is_dupfd(const uint64_t a[6])
{
	return (uint32_t)a[1] == F_DUPFD || (uint32_t)a[1] == F_DUPFD_CLOEXEC;
}

int inject_ptrace_wants(pid_t pid, long nr, const uint64_t a[6])
{
	switch (nr) {
	case SYS_ptrace:
		return is_ptrace_write(a[0]);
	case SYS_open:
	case SYS_openat:
		/* As the filter: a read-only open makes no descriptor to write
		 * through (this stop may be one of an unfiltered process). */
		if (((uint32_t)a[nr == SYS_open ? 1 : 2] & O_ACCMODE) == O_RDONLY)
			return 0;
		/* fall through */
	case SYS_openat2:
	case SYS_creat:
	case SYS_process_vm_writev:
		/* An open's file is known at its exit (inject_ptrace_mem_fd). */
		return 1;
	case SYS_fcntl:
		if (!is_dupfd(a))
			return 0;
		/* fall through */
	case SYS_dup:
	case SYS_dup2:
	case SYS_dup3:
	case SYS_write:
	case SYS_writev:
	case SYS_pwrite64:
	case SYS_pwritev:
	case SYS_pwritev2:
		/* Mostly files: only /proc/PID/mem is worth the exit stop. */
		return inject_mem_fd_victim(pid, a[0]) > 0;
	}
	return 0;
}

int inject_ptrace_mem_fd(pid_t pid, long nr, const uint64_t a[6], int64_t ret)
{
	switch (nr) {
	case SYS_fcntl:
		/* Other commands return flags, owners...: not descriptors. */
		if (!is_dupfd(a))
			return -1;
		/* fall through */
	case SYS_open:
	case SYS_openat:
	case SYS_openat2:
	case SYS_creat:
	case SYS_dup:
	case SYS_dup2:
	case SYS_dup3:
		if (ret >= 0 && ret <= INT32_MAX && inject_mem_fd_victim(pid, (uint64_t)ret) > 0)
			return (int)ret;
	}
	return -1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The registers PTRACE_SETREGS (data = a[3]) or PTRACE_SETREGSET
 * (NT_PRSTATUS, iovec at a[3]) of pid gave, into *w.  0 or -errno. */
static int set_regs_of(pid_t pid, long req, const uint64_t a[6], struct inject_write *w)
{
	struct user_regs_struct u;
	struct emt_gap *gaps = NULL;
	size_t ng = 0;
	uint64_t at = a[3];

	if (req == PTRACE_SETREGSET) {
		struct iovec v;

		if (a[2] != NT_PRSTATUS || inject_read_iovs(pid, a[3], 1, &v, 1) != 1 ||
		    v.iov_len < sizeof(u))
			return -EINVAL;
		at = (uint64_t)(uintptr_t)v.iov_base;
	}
	int err = proc_read_mem(pid, at, sizeof(u), &u, &gaps, &ng);

	free(gaps);
	if (err || ng)
		return err ? err : -EFAULT;
	x86_64_regs_snapshot(&u, 0, &w->regs);
	w->has_regs = 1;
	w->addr = u.rip;
	w->len = 0;
	return 0;
}

int inject_ptrace_exit(struct emt_session *s, struct writeq *q, pid_t pid, pid_t tid,
		       long nr, const uint64_t a[6], int64_t ret,
		       inject_follow_fn follow, void *follow_ctx)
{
	struct inject_write w = { .writer = pid, .writer_tid = tid, .time_ns = now_ns() };
	struct iovec v[INJECT_MAX_WRITES];
	int n = 0, err = 0;

	if (ret < 0 && ret > -4096)
		return 0;       /* nothing written */
	switch (nr) {
	case SYS_ptrace:
		w.victim = (pid_t)a[1];
		switch (a[0]) {
		case PTRACE_POKETEXT:
		case PTRACE_POKEDATA:
			w.method = a[0] == PTRACE_POKETEXT ? EMT_INJECT_POKETEXT : EMT_INJECT_POKEDATA;
			w.has_word = 1;
			w.word = a[3];
			v[n++] = (struct iovec){ (void *)(uintptr_t)a[2], 8 };
			break;
		case PTRACE_POKEUSER:
			/* An offset in the user area (registers, debug
			 * registers): the row alone. */
			w.method = EMT_INJECT_POKEUSER;
			w.has_word = 1;
			w.word = a[3];
			w.no_capture = 1;
			v[n++] = (struct iovec){ (void *)(uintptr_t)a[2], 8 };
			break;
		case PTRACE_SETREGS:
		case PTRACE_SETREGSET:
			w.method = EMT_INJECT_SETREGS;
			if (set_regs_of(pid, (long)a[0], a, &w))
				return 0;       /* not the general registers, or unreadable */
			break;
		case PTRACE_SETFPREGS:
			w.method = EMT_INJECT_SETFPREGS;
			w.no_capture = 1;
			break;
		default:
			return 0;
		}
		break;
	case SYS_process_vm_writev: {
		uint64_t left = (uint64_t)ret;  /* bytes written, in iovec order */
		int k;

		w.method = EMT_INJECT_VM_WRITEV;
		w.victim = (pid_t)a[0];
		k = inject_read_iovs(pid, a[3], a[4] > INJECT_IOV_MAX ? INJECT_IOV_MAX : a[4],
				     v, INJECT_MAX_WRITES);
		for (int i = 0; i < k && left; i++, n++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		if (k < 0)
			return 0;
		break;
	}
	case SYS_write:
	case SYS_writev:
	case SYS_pwrite64:
	case SYS_pwritev:
	case SYS_pwritev2: {
		/* The bytes land one after the other from the offset or, for
		 * write, writev and pwritev2 at -1, from the file position,
		 * which the write moved past them. */
		uint64_t at = a[3];

		if (nr == SYS_write || nr == SYS_writev ||
		    (nr == SYS_pwritev2 && a[3] == UINT64_MAX)) {
			if (inject_fd_pos(pid, a[0], &at) < 0)
				return 0;
			at -= (uint64_t)ret;
		}
		w.method = EMT_INJECT_PROC_MEM;
		w.victim = inject_mem_fd_victim(pid, a[0]);
		v[n++] = (struct iovec){ (void *)(uintptr_t)at, (size_t)ret };
		break;
	}
	default:
		return 0;
	}
	if (w.victim <= 0)
		return 0;
	int tg = proc_read_tgid(w.victim);

	if (tg > 0)
		w.victim = tg;
	/* Followed before its bytes are read: they are then read from a
	 * stopped victim, after its baseline, and the capture carries the
	 * follow reason (inject_capture). */
	if (follow && w.victim != pid) {
		int64_t id = follow(follow_ctx, pid, tid, w.victim);

		if (id < 0)
			return (int)id;
		w.follow_process_id = id;
	}
	if (w.method == EMT_INJECT_SETREGS || w.method == EMT_INJECT_SETFPREGS)
		return inject_capture(s, q, &w);
	for (int i = 0; i < n && !err; i++) {
		if (!v[i].iov_len)
			continue;
		w.addr = (uint64_t)(uintptr_t)v[i].iov_base;
		w.len = v[i].iov_len;
		err = inject_capture(s, q, &w);
		w.follow_process_id = 0;        /* the reason once, with the first range */
	}
	return err;
}
