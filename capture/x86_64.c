/*
 * x86_64.c - x86-64 specifics of the ptrace engine (x86_64.h).
 */
#include <asm/hwcap2.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
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

int x86_64_in_syscall(const struct user_regs_struct *u)
{
	/* The kernel sets orig_rax to the syscall number at entry and to -1
	 * for exceptions and interrupts. */
	return (int64_t)u->orig_rax >= 0;
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

/* Filter layout (jump offsets count from the next instruction). */
enum {
	F_ARCH, F_ARCH_JEQ, F_ARCH_TRACE, F_NR, F_X32, F_MPROTECT, F_PKEY,
	F_MMAP,
	F_C0, F_C0_JEQ, F_C1, F_C1_JEQ, F_C2, F_C2_JEQ, F_C3, F_C3_JEQ,
	F_M_PROT, F_M_EXEC, F_M_FLAGS, F_M_FIXED,
	F_ALLOW, F_TRACE, F_LEN
};
#define JMP(at, to) ((uint8_t)((to) - (at) - 1))
#define ARG_LO(i) ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (i)))
#define ARG_HI(i) (ARG_LO(i) + 4)

int x86_64_seccomp_filter(const uint32_t cookie[4], struct x86_64_filter *f)
{
	_Static_assert(F_LEN <= sizeof(f->insns) / sizeof(f->insns[0]),
		       "filter buffer too small");
	struct sock_filter *q = f->insns;
	const uint32_t lds = BPF_LD | BPF_W | BPF_ABS;
	const uint32_t jeq = BPF_JMP | BPF_JEQ | BPF_K;

	q[F_ARCH] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, arch));
	q[F_ARCH_JEQ] = (struct sock_filter)BPF_JUMP(jeq, AUDIT_ARCH_X86_64,
		JMP(F_ARCH_JEQ, F_NR), JMP(F_ARCH_JEQ, F_ARCH_TRACE));
	q[F_ARCH_TRACE] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	q[F_NR] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, nr));
	q[F_X32] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT,
		JMP(F_X32, F_TRACE), 0);
	q[F_MPROTECT] = (struct sock_filter)BPF_JUMP(jeq, __NR_mprotect, JMP(F_MPROTECT, F_C0), 0);
	q[F_PKEY] = (struct sock_filter)BPF_JUMP(jeq, __NR_pkey_mprotect, JMP(F_PKEY, F_TRACE), 0);
	q[F_MMAP] = (struct sock_filter)BPF_JUMP(jeq, __NR_mmap, JMP(F_MMAP, F_M_PROT),
		JMP(F_MMAP, F_ALLOW));
	/* mprotect carrying the cookie in its unused argument registers is
	 * the tracer's own remote call: letting it through saves a stop per
	 * transition.  The cookie is random per session and the target
	 * cannot read its own filter without CAP_SYS_ADMIN. */
	for (int i = 0; i < 4; i++) {
		int at = F_C0 + 2 * i;
		uint32_t off = i < 2 ? (i == 0 ? ARG_LO(3) : ARG_HI(3))
				     : (i == 2 ? ARG_LO(4) : ARG_HI(4));
		q[at] = (struct sock_filter)BPF_STMT(lds, off);
		q[at + 1] = (struct sock_filter)BPF_JUMP(jeq, cookie[i],
			i == 3 ? JMP(at + 1, F_ALLOW) : 0, JMP(at + 1, F_TRACE));
	}
	/* A non-fixed mmap without PROT_EXEC (malloc, thread stacks) cannot
	 * create or replace code. */
	q[F_M_PROT] = (struct sock_filter)BPF_STMT(lds, ARG_LO(2));
	q[F_M_EXEC] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC,
		JMP(F_M_EXEC, F_TRACE), 0);
	q[F_M_FLAGS] = (struct sock_filter)BPF_STMT(lds, ARG_LO(3));
	q[F_M_FIXED] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MAP_FIXED,
		JMP(F_M_FIXED, F_TRACE), JMP(F_M_FIXED, F_ALLOW));
	q[F_ALLOW] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	q[F_TRACE] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	f->prog.len = F_LEN;
	f->prog.filter = f->insns;
	return 0;
}

int x86_64_unmap_filter(struct x86_64_filter *f)
{
	struct sock_filter *q = f->insns;
	const uint32_t lds = BPF_LD | BPF_W | BPF_ABS;
	const uint32_t jeq = BPF_JMP | BPF_JEQ | BPF_K;
	int n = 0;

	/* Other ABIs are traced by the first filter already. */
	q[n++] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, arch));
	q[n++] = (struct sock_filter)BPF_JUMP(jeq, AUDIT_ARCH_X86_64, 0, 4);
	q[n++] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, nr));
	q[n++] = (struct sock_filter)BPF_JUMP(jeq, __NR_munmap, 2, 0);
	q[n++] = (struct sock_filter)BPF_JUMP(jeq, __NR_mremap, 1, 0);
	q[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	q[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	f->prog.len = (unsigned short)n;
	f->prog.filter = f->insns;
	return 0;
}

void x86_64_cookie_args(const uint32_t cookie[4], uint64_t args[6])
{
	args[3] = (uint64_t)cookie[0] | (uint64_t)cookie[1] << 32;
	args[4] = (uint64_t)cookie[2] | (uint64_t)cookie[3] << 32;
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
	return x86_64_remote_syscall_regs(tid, insn_addr, nr, args, NULL, ret, out);
}

int x86_64_remote_syscall_regs(pid_t tid, uint64_t insn_addr, long nr,
			       const uint64_t args[6],
			       const struct user_regs_struct *cur,
			       int64_t *ret, struct x86_64_remote *out)
{
	struct user_regs_struct saved, r;
	int err = -EIO;

	memset(out, 0, sizeof(*out));
	/* The caller usually has just read them (to snapshot a fault): one
	 * ptrace call fewer on every transition. */
	if (cur)
		saved = *cur;
	else if (ptrace(PTRACE_GETREGS, tid, 0, &saved) < 0)
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

int x86_64_remote_seccomp(pid_t tid, uint64_t insn_addr,
			  const struct x86_64_filter *f, uint32_t flags,
			  int64_t *ret, struct x86_64_remote *out)
{
	struct user_regs_struct r;
	size_t ilen = (size_t)f->prog.len * sizeof(struct sock_filter);
	/* The target's struct sock_fprog: u16 len, padding, u64 pointer. */
	uint8_t img[16 + sizeof(f->insns)], saved[sizeof(img)];
	size_t len = 16 + ilen;
	int err;

	memset(out, 0, sizeof(*out));
	if (ilen > sizeof(f->insns))
		return -EINVAL;
	if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
		return -errno;
	/* Scratch below the 128-byte red zone: what the ABI leaves free for
	 * signal frames; saved and put back anyway. */
	uint64_t at = (r.rsp - 128 - len - 64) & ~(uint64_t)15;
	uint64_t fptr = at + 16;
	uint16_t plen = f->prog.len;
	memset(img, 0, 16);
	memcpy(img, &plen, sizeof(plen));
	memcpy(img + 8, &fptr, sizeof(fptr));
	memcpy(img + 16, f->insns, ilen);
	struct iovec lv = { saved, len }, rv = { (void *)(uintptr_t)at, len };
	if (process_vm_readv(tid, &lv, 1, &rv, 1, 0) != (ssize_t)len)
		return -EFAULT;
	lv.iov_base = img;
	if (process_vm_writev(tid, &lv, 1, &rv, 1, 0) != (ssize_t)len)
		return -EFAULT;
	uint64_t args[6] = { SECCOMP_SET_MODE_FILTER, flags, at, 0, 0, 0 };
	err = x86_64_remote_syscall(tid, insn_addr, SYS_seccomp, args, ret, out);
	if (err != -ESRCH) {
		lv.iov_base = saved;
		process_vm_writev(tid, &lv, 1, &rv, 1, 0);
	}
	return err;
}

int x86_64_step(pid_t tid, uint64_t rip, struct user_regs_struct *after,
		uint64_t *segv_addr, struct x86_64_remote *out)
{
	int err;

	memset(out, 0, sizeof(*out));
	/* A rep-prefixed string instruction traps after every iteration
	 * with rip unchanged: step on until it is done, bounded (an
	 * instruction that jumps to itself never is). */
	for (int tries = 0; tries < 4096; tries++) {
		int st;
		if (ptrace(PTRACE_SINGLESTEP, tid, 0, 0) < 0)
			return -errno;
		if ((err = wait_tid(tid, &st)) < 0)
			return err;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			out->died = 1;
			out->status = st;
			return -ESRCH;
		}
		if (!WIFSTOPPED(st))
			continue;
		int sig = WSTOPSIG(st);
		if ((st >> 16) != 0 || sig == (SIGTRAP | 0x80))
			continue;       /* event/group stop: step on */
		if (sig == SIGSEGV) {
			siginfo_t si;
			if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) < 0)
				return -errno;
			if (ptrace(PTRACE_GETREGS, tid, 0, after) < 0)
				return -errno;
			*segv_addr = (uint64_t)(uintptr_t)si.si_addr;
			return 1;
		}
		if (sig == SIGTRAP) {
			if (ptrace(PTRACE_GETREGS, tid, 0, after) < 0)
				return -errno;
			if (after->rip != rip)
				return 0;
			continue;
		}
		if (out->nsigs < sizeof(out->sigs) / sizeof(out->sigs[0]))
			out->sigs[out->nsigs++] = sig;
		else
			out->lost_sigs++;
	}
	return 0;
}

/* Data page layout of the trampoline (offsets from tramp + 4096): the
 * generic call (written by x86_64_tramp_enter), the return address, the
 * result, the registers the stub saves before loading the call, and the
 * calls of the slots (x86_64_tramp_slot_set), 48 bytes each. */
enum {
	TD_NR = 0x00, TD_A0 = 0x08, TD_RIP = 0x30, TD_RET = 0x38,
	TD_SAVE = 0x40,         /* rax rcx rdx rsi rdi r8 r10 r11 */
	TD_SLOTS = 0x100, TD_SLOT_LEN = 0x30
};
/* Code page layout: the generic entry, the slot entries, then the common
 * part that loads the call rcx points to and runs it. */
#define TRAMP_SLOT0      32u
#define TRAMP_SLOT_LEN   48u
#define TRAMP_COMMON     (TRAMP_SLOT0 + X86_64_TRAMP_SLOTS * TRAMP_SLOT_LEN)
#define TRAMP_SYSCALL_AT (TRAMP_COMMON + 65u)  /* offset of its `syscall` */
#define TRAMP_CODE_LEN   (TRAMP_COMMON + 136u)
_Static_assert(TRAMP_CODE_LEN <= 4096, "trampoline code fits its page");
_Static_assert(TD_SLOTS + X86_64_TRAMP_SLOTS * TD_SLOT_LEN <= 4096,
	       "trampoline slots fit the data page");

/* Emits `op [rip + (target - end of instruction)]` (op is 2 or 3 bytes,
 * the last one a ModRM with mod=00 rm=101). */
static uint8_t *rip_rel(uint8_t *q, uint64_t at, const uint8_t *op, size_t n,
			uint64_t target)
{
	memcpy(q, op, n);
	int32_t d = (int32_t)(int64_t)(target - (at + n + 4));
	memcpy(q + n, &d, 4);
	return q + n + 4;
}

/* Emits `jmp rel32` to target. */
static uint8_t *jmp_rel(uint8_t *q, uint64_t at, uint64_t target)
{
	int32_t d = (int32_t)(int64_t)(target - (at + 5));
	*q++ = 0xe9;
	memcpy(q, &d, 4);
	return q + 4;
}

size_t x86_64_tramp_code(uint64_t tramp, uint8_t *buf, size_t cap)
{
	/* REX and ModRM (rip-relative) of the saved registers, in the
	 * TD_SAVE order: rax rcx rdx rsi rdi r8 r10 r11. */
	static const uint8_t sreg[8][2] = {
		{ 0x48, 0x05 }, { 0x48, 0x0d }, { 0x48, 0x15 }, { 0x48, 0x35 },
		{ 0x48, 0x3d }, { 0x4c, 0x05 }, { 0x4c, 0x15 }, { 0x4c, 0x1d },
	};
	/* mov reg, [rcx + 8i]: rax (nr), rdi rsi rdx r10 r8 (args 0-4). */
	static const uint8_t load[6][4] = {
		{ 0x48, 0x8b, 0x01, 0 }, { 0x48, 0x8b, 0x79, 0x08 },
		{ 0x48, 0x8b, 0x71, 0x10 }, { 0x48, 0x8b, 0x51, 0x18 },
		{ 0x4c, 0x8b, 0x51, 0x20 }, { 0x4c, 0x8b, 0x41, 0x28 },
	};
	uint64_t data = tramp + 4096, common = tramp + TRAMP_COMMON;
	uint8_t *q = buf, op[3];

	if (cap < TRAMP_CODE_LEN)
		return 0;
	memset(buf, 0xcc, TRAMP_CODE_LEN);     /* padding traps */
#define AT() (tramp + (uint64_t)(q - buf))
#define SAVE(i) do {                                    /* mov [save + 8i], reg */ \
		op[0] = sreg[i][0]; op[1] = 0x89; op[2] = sreg[i][1];            \
		q = rip_rel(q, AT(), op, 3, data + TD_SAVE + 8 * (uint64_t)(i)); \
	} while (0)
#define LEA_RCX(target) do {                            /* lea rcx, [target] */ \
		op[0] = 0x48; op[1] = 0x8d; op[2] = 0x0d;                        \
		q = rip_rel(q, AT(), op, 3, (target));                           \
	} while (0)
	/* Generic entry: the call at TD_NR, the return address at TD_RIP,
	 * both written by the tracer. */
	SAVE(0);
	SAVE(1);
	LEA_RCX(data + TD_NR);
	q = jmp_rel(q, AT(), common);
	/* Slot entries: the call in slot k, the return address in gs_base
	 * (set by the tracer, which saw it 0), so that a flip costs the
	 * tracer one SETREGS.  No instruction here changes the flags. */
	for (unsigned k = 0; k < X86_64_TRAMP_SLOTS; k++) {
		q = buf + TRAMP_SLOT0 + k * TRAMP_SLOT_LEN;
		SAVE(0);
		SAVE(1);
		static const uint8_t rdgs[5] = { 0xf3, 0x48, 0x0f, 0xae, 0xc8 };  /* rdgsbase rax */
		static const uint8_t zero[5] = { 0xb8, 0, 0, 0, 0 };              /* mov eax, 0 */
		static const uint8_t wrgs[5] = { 0xf3, 0x48, 0x0f, 0xae, 0xd8 };  /* wrgsbase rax */
		memcpy(q, rdgs, 5);
		q += 5;
		op[0] = 0x48; op[1] = 0x89; op[2] = 0x05;       /* mov [rip_slot], rax */
		q = rip_rel(q, AT(), op, 3, data + TD_RIP);
		memcpy(q, zero, 5);
		q += 5;
		memcpy(q, wrgs, 5);
		q += 5;
		LEA_RCX(data + TD_SLOTS + k * (uint64_t)TD_SLOT_LEN);
		q = jmp_rel(q, AT(), common);
		if (q - buf != TRAMP_SLOT0 + (k + 1) * TRAMP_SLOT_LEN)
			return 0;       /* the layout constants are wrong */
	}
	q = buf + TRAMP_COMMON;
	for (int i = 2; i < 8; i++)
		SAVE(i);
	for (int i = 0; i < 6; i++) {
		size_t n = i ? 4 : 3;
		memcpy(q, load[i], n);
		q += n;
	}
	if (q - buf != TRAMP_SYSCALL_AT)
		return 0;
	*q++ = 0x0f;                            /* syscall */
	*q++ = 0x05;
	op[0] = 0x48; op[1] = 0x89; op[2] = 0x05;       /* mov [ret], rax */
	q = rip_rel(q, AT(), op, 3, data + TD_RET);
	for (int i = 0; i < 8; i++) {           /* mov reg, [save + 8i] */
		op[0] = sreg[i][0]; op[1] = 0x8b; op[2] = sreg[i][1];
		q = rip_rel(q, AT(), op, 3, data + TD_SAVE + 8 * (uint64_t)i);
	}
	op[0] = 0xff; op[1] = 0x25;             /* jmp [rip_slot] */
	q = rip_rel(q, AT(), op, 2, data + TD_RIP);
#undef LEA_RCX
#undef SAVE
#undef AT
	return q - buf == TRAMP_CODE_LEN ? TRAMP_CODE_LEN : 0;
}

int x86_64_tramp_enter(pid_t tid, uint64_t tramp,
		       const struct user_regs_struct *cur, long nr,
		       const uint64_t args[6])
{
	uint64_t call[7] = {
		(uint64_t)nr, args[0], args[1], args[2], args[3], args[4], cur->rip,
	};
	struct iovec l = { call, sizeof(call) };
	struct iovec r = { (void *)(uintptr_t)(tramp + 4096 + TD_NR), sizeof(call) };

	/* The stub saves and loads the registers itself: only rip changes
	 * here (one word instead of the whole register set). */
	if (process_vm_writev(tid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(call))
		return errno ? -errno : -EFAULT;
	if (ptrace(PTRACE_POKEUSER, tid,
		   (void *)offsetof(struct user_regs_struct, rip), (void *)(uintptr_t)tramp) < 0)
		return -errno;
	return 0;
}

int x86_64_tramp_slot_set(pid_t tid, uint64_t tramp, unsigned k, long nr,
			  const uint64_t args[6])
{
	uint64_t call[6] = { (uint64_t)nr, args[0], args[1], args[2], args[3], args[4] };
	struct iovec l = { call, sizeof(call) };
	struct iovec r = { (void *)(uintptr_t)(tramp + 4096 + TD_SLOTS + k * (uint64_t)TD_SLOT_LEN),
			   sizeof(call) };

	if (k >= X86_64_TRAMP_SLOTS)
		return -EINVAL;
	if (process_vm_writev(tid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(call))
		return errno ? -errno : -EFAULT;
	return 0;
}

int x86_64_tramp_enter_slot(pid_t tid, uint64_t tramp,
			    const struct user_regs_struct *cur, unsigned k)
{
	struct user_regs_struct u = *cur;

	if (k >= X86_64_TRAMP_SLOTS || !x86_64_tramp_slot_ok(cur))
		return -EINVAL;
	u.rip = tramp + TRAMP_SLOT0 + k * TRAMP_SLOT_LEN;
	u.gs_base = cur->rip;
	return ptrace(PTRACE_SETREGS, tid, 0, &u) < 0 ? -errno : 0;
}

int x86_64_tramp_slot_ok(const struct user_regs_struct *cur)
{
	static int have = -1;

	if (have < 0)
		have = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
	return have && cur->gs_base == 0;
}

int x86_64_tramp_state(const struct user_regs_struct *u, uint64_t tramp)
{
	if (u->rip >= tramp && u->rip <= tramp + TRAMP_SYSCALL_AT)
		return 1;
	if (u->rip > tramp + TRAMP_SYSCALL_AT && u->rip < tramp + TRAMP_CODE_LEN)
		return 2;
	return 0;
}

int x86_64_tramp_ret(pid_t pid, uint64_t tramp, int64_t *ret)
{
	struct iovec l = { ret, sizeof(*ret) };
	struct iovec r = { (void *)(uintptr_t)(tramp + 4096 + TD_RET), sizeof(*ret) };

	if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(*ret))
		return errno ? -errno : -EFAULT;
	return 0;
}
