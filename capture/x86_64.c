/*
 * x86_64.c - x86-64 specifics of the ptrace engine (x86_64.h).
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "proc.h"
#include "x86_64.h"

/* The longest x86 instruction. */
#define X86_MAX_INSN 15u

void x86_64_regs_snapshot(const struct user_regs_struct *u,
			  uint64_t fault_addr, struct emt_regs_x86_64 *o)
{
	o->r15 = u->r15; o->r14 = u->r14; o->r13 = u->r13; o->r12 = u->r12;
	o->rbp = u->rbp; o->rbx = u->rbx; o->r11 = u->r11; o->r10 = u->r10;
	o->r9 = u->r9; o->r8 = u->r8; o->rax = u->rax; o->rcx = u->rcx;
	o->rdx = u->rdx; o->rsi = u->rsi; o->rdi = u->rdi;
	o->orig_rax = u->orig_rax;
	o->rip = u->rip; o->cs = u->cs; o->eflags = u->eflags; o->rsp = u->rsp;
	o->ss = u->ss; o->fs_base = u->fs_base; o->gs_base = u->gs_base;
	o->ds = u->ds; o->es = u->es; o->fs = u->fs; o->gs = u->gs;
	o->fault_addr = fault_addr;
}

uint64_t x86_64_pc(const struct user_regs_struct *u)
{
	return u->rip;
}

uint64_t x86_64_syscall_arg(const struct user_regs_struct *u, unsigned i)
{
	switch (i) {
	case 0: return u->rdi;
	case 1: return u->rsi;
	case 2: return u->rdx;
	case 3: return u->r10;
	case 4: return u->r8;
	case 5: return u->r9;
	default: return 0;
	}
}

void x86_64_set_syscall_arg(struct user_regs_struct *u, unsigned i,
			    uint64_t v)
{
	switch (i) {
	case 0: u->rdi = v; break;
	case 1: u->rsi = v; break;
	case 2: u->rdx = v; break;
	case 3: u->r10 = v; break;
	case 4: u->r8 = v; break;
	case 5: u->r9 = v; break;
	default: break;
	}
}

int x86_64_maybe_fetch_fault(const struct user_regs_struct *u,
			     uint64_t fault_addr)
{
	return fault_addr >= u->rip && fault_addr - u->rip < X86_MAX_INSN;
}

#define X32_SYSCALL_BIT 0x40000000u

/* Instruction 15 is the shared "trace" return, 14 "allow"; jump offsets
 * count from the next instruction.  A non-fixed mmap without PROT_EXEC
 * (malloc, thread stacks) is allowed: it cannot create or replace code. */
#define TO_TRACE(idx) (14 - (idx))
#define TRACE_IF(nr, idx) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), TO_TRACE(idx), 0)
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
static struct sock_filter filter_insns[] = {
	/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	/* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
	/* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	/* 4 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, TO_TRACE(4), 0),
	/* 5 */ TRACE_IF(__NR_mprotect, 5),
	/* 6 */ TRACE_IF(__NR_pkey_mprotect, 6),
	/* 7 */ TRACE_IF(__NR_munmap, 7),
	/* 8 */ TRACE_IF(__NR_mremap, 8),
	/* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 14 - 10),
	/* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(2)),
	/* 11 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, TO_TRACE(11), 0),
	/* 12 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(3)),
	/* 13 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MAP_FIXED, TO_TRACE(13), 0),
	/* 14 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* 15 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
};
static const struct sock_fprog filter_prog = {
	.len = sizeof(filter_insns) / sizeof(filter_insns[0]),
	.filter = filter_insns,
};

const struct sock_fprog *x86_64_seccomp_filter(void)
{
	return &filter_prog;
}

int x86_64_native_syscall(uint32_t arch, uint64_t nr)
{
	return arch == AUDIT_ARCH_X86_64 && nr < X32_SYSCALL_BIT;
}

/* Searches [m->start, m->end) of pid for the bytes 0f 05. */
static int scan_for_syscall(pid_t pid, const struct proc_map *m,
			    uint64_t *addr)
{
	enum { BUF = 64 * 1024, LIMIT = 4 * 1024 * 1024 };
	uint8_t *buf = malloc(BUF);
	uint64_t a = m->start, end = m->end;
	int ret = -ENOENT;

	if (!buf)
		return -ENOMEM;
	if (end - a > LIMIT)
		end = a + LIMIT;
	while (a < end && ret == -ENOENT) {
		uint64_t n = end - a > BUF ? BUF : end - a;
		struct emt_gap *gaps = NULL;
		size_t ngaps = 0;
		int err = proc_read_mem(pid, a, n, buf, &gaps, &ngaps);
		if (err < 0) {
			ret = err;
			break;
		}
		/* Gap pages read as zeros, so they never match. */
		for (uint64_t i = 0; i + 1 < n; i++) {
			if (buf[i] == 0x0f && buf[i + 1] == 0x05) {
				*addr = a + i;
				ret = 0;
				break;
			}
		}
		free(gaps);
		/* Overlap by one byte: an instruction across two reads. */
		a += n > 1 ? n - 1 : n;
	}
	free(buf);
	return ret;
}

int x86_64_find_syscall_insn(pid_t pid,
			     int (*skip)(void *ctx, uint64_t start, uint64_t end),
			     void *ctx, uint64_t *addr)
{
	struct proc_map *maps;
	size_t n;
	int err = proc_maps_read(pid, &maps, &n);

	if (err < 0)
		return err;
	err = -ENOENT;
	/* The vDSO first: it is never written by the target, the same in
	 * every process, and has syscall fallbacks. */
	for (int pass = 0; pass < 2 && err == -ENOENT; pass++) {
		for (size_t i = 0; i < n && err == -ENOENT; i++) {
			const struct proc_map *m = &maps[i];
			int vdso = strcmp(m->path, "[vdso]") == 0;
			if (!(m->prot & 4 /* PROT_EXEC */) || !(m->prot & 1))
				continue;
			if (pass == 0 ? !vdso : (vdso || m->path[0] != '/' || m->inode == 0))
				continue;
			if (m->prot & 2 /* PROT_WRITE */)
				continue;
			if (skip && skip(ctx, m->start, m->end))
				continue;
			int e = scan_for_syscall(pid, m, addr);
			if (e != -ENOENT)
				err = e;
		}
	}
	proc_maps_free(maps, n);
	return err;
}

static int wait_tid(pid_t tid, int *status)
{
	for (;;) {
		pid_t w = waitpid(tid, status, __WALL);
		if (w == tid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
	}
}

int x86_64_remote_syscall(pid_t tid, uint64_t insn_addr, long nr,
			  const uint64_t args[6], int64_t *ret,
			  struct x86_64_remote *out)
{
	struct user_regs_struct saved, r;
	int err = -EIO;

	memset(out, 0, sizeof(*out));
	if (ptrace(PTRACE_GETREGS, tid, 0, &saved) < 0)
		return -errno;
	r = saved;
	r.rax = (uint64_t)nr;
	/* orig_rax -1: the kernel must not treat the stop we resume from as
	 * an interrupted syscall to restart (rip -= 2) while we step. */
	r.orig_rax = (uint64_t)-1;
	for (unsigned i = 0; i < 6; i++)
		x86_64_set_syscall_arg(&r, i, args[i]);
	r.rip = insn_addr;
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0)
		return -errno;
	/* Bounded: each iteration is a stop of this thread; a thread
	 * receiving a storm of signals must not hang the tracer. */
	for (int tries = 0; tries < 256; tries++) {
		int st;
		if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) < 0) {
			err = -errno;
			goto restore;
		}
		if ((err = wait_tid(tid, &st)) < 0)
			goto restore;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			out->died = 1;
			out->status = st;
			return -ESRCH;
		}
		if (!WIFSTOPPED(st))
			continue;
		int sig = WSTOPSIG(st);
		if ((st >> 16) != 0 || sig == (SIGTRAP | 0x80))
			continue;       /* seccomp/event/group stop: step on */
		if (sig == SIGTRAP) {
			if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0) {
				err = -errno;
				goto restore;
			}
			if (r.rip == insn_addr + 2) {
				*ret = (int64_t)r.rax;
				err = 0;
				goto restore;
			}
			continue;       /* not executed yet */
		}
		if (out->nsigs < sizeof(out->sigs) / sizeof(out->sigs[0]))
			out->sigs[out->nsigs++] = sig;
		else
			out->lost_sigs++;
	}
	err = -EAGAIN;
restore:
	if (ptrace(PTRACE_SETREGS, tid, 0, &saved) < 0 && !err)
		err = -errno;
	return err;
}
