/*
 * x86_64.h - the x86-64 specifics of the ptrace engine: register snapshot
 * conversion, the syscall ABI (argument registers), the seccomp filter that
 * selects the memory syscalls, and remote syscalls executed in a stopped
 * tracee by reusing a `syscall` instruction that already exists in it.
 *
 * Nothing else in capture/ knows register names or opcode bytes.
 * Conventions as in emt_archive.h: 0 or -errno, never prints.
 */
#ifndef EMT_CAPTURE_X86_64_H
#define EMT_CAPTURE_X86_64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#include "emt_archive.h"

#include <linux/filter.h>

/* Fills *out from the ptrace register set `u`; fault_addr is the faulting
 * address of the SIGSEGV being handled (0 if none). */
void x86_64_regs_snapshot(const struct user_regs_struct *u,
			  uint64_t fault_addr, struct emt_regs_x86_64 *out);

/* Program counter of `u`. */
uint64_t x86_64_pc(const struct user_regs_struct *u);

/* 1 if the thread of `u` entered the kernel by a system call (it is
 * stopped inside or at the end of one), 0 for a fault or an interrupt. */
int x86_64_in_syscall(const struct user_regs_struct *u);

/* Syscall argument i (0..5) of the syscall ABI (rdi rsi rdx r10 r8 r9);
 * set_syscall_arg changes it in `u` (the caller writes `u` back with
 * PTRACE_SETREGS).  i > 5 reads 0 / writes nothing. */
uint64_t x86_64_syscall_arg(const struct user_regs_struct *u, unsigned i);
void x86_64_set_syscall_arg(struct user_regs_struct *u, unsigned i,
			    uint64_t v);

/* 1 if a fault at fault_addr may be the fetch of the instruction at the
 * program counter: x86 reports the first inaccessible byte of the
 * instruction, which lies within the longest instruction (15 bytes) from
 * rip.  A write close after rip looks the same; the engine disambiguates. */
int x86_64_maybe_fetch_fault(const struct user_regs_struct *u,
			     uint64_t fault_addr);

/* The seccomp filter of ptrace mode, built into caller-owned storage *f
 * (f->prog points into f->insns, so f must outlive its use):
 * SECCOMP_RET_TRACE for mprotect, pkey_mprotect and the mmap calls with
 * PROT_EXEC or MAP_FIXED of the native ABI, and for every
 * syscall of another ABI (i386 `int 0x80`, x32) so that no memory syscall
 * escapes unseen; SECCOMP_RET_ALLOW for the rest.  An mprotect whose
 * unused 4th and 5th arguments carry `cookie` (lo/hi words of r10, then
 * of r8) is allowed: the tracer's own remote calls
 * (x86_64_cookie_args).  Returns 0. */
struct x86_64_filter {
	struct sock_filter insns[48];
	struct sock_fprog prog;
};
int x86_64_seccomp_filter(const uint32_t cookie[4], struct x86_64_filter *f);

/* The second filter, added to a process once it has code worth tracking
 * (x86_64_remote_seccomp): SECCOMP_RET_TRACE for munmap and mremap.
 * Code-free processes thus never stop on their frequent unmaps. */
int x86_64_unmap_filter(struct x86_64_filter *f);

/* Puts `cookie` into syscall arguments 3 and 4 of args[6], as the filter
 * expects them. */
void x86_64_cookie_args(const uint32_t cookie[4], uint64_t args[6]);

/* 1 if a syscall reported by PTRACE_GET_SYSCALL_INFO with this audit arch
 * and number is of the native x86-64 ABI (not i386, not x32). */
int x86_64_native_syscall(uint32_t arch, uint64_t nr);

/* Finds the address of a `syscall` instruction (0f 05) in pid's memory for
 * remote syscalls: in the vDSO first, else in a file-backed r-x mapping.
 * Ranges for which skip(ctx, start, end) returns non-zero (code the target
 * may rewrite) are not used.  Returns 0 with *addr set, -ENOENT if there is
 * none, or -errno (-ESRCH if pid is gone). */
int x86_64_find_syscall_insn(pid_t pid,
			     int (*skip)(void *ctx, uint64_t start, uint64_t end),
			     void *ctx, uint64_t *addr);

/* Outcome of a remote syscall beyond its return value. */
struct x86_64_remote {
	/* Signals that arrived for the thread during the call and were held
	 * back; the caller must deliver them when it resumes the thread. */
	int      sigs[8];
	size_t   nsigs;
	int      lost_sigs;     /* held-back signals beyond sigs[] */
	/* If the thread died during the call: its wait status (the caller
	 * processes the exit as if waitpid had returned it). */
	int      died;
	int      status;
};

/* Executes syscall nr(args) in thread tid, which must be in a ptrace stop
 * other than a syscall-entry/seccomp stop (a signal-delivery stop, an
 * event stop, a group stop).  All registers are saved and restored, so a
 * thread stopped while inside an interrupted syscall (orig_rax >= 0, rax
 * -ERESTART*) restarts it normally when resumed.  The instruction at
 * insn_addr (from x86_64_find_syscall_insn) is stepped over with
 * PTRACE_SINGLESTEP; the target's code is never written.  Other stops of
 * tid during the call (a seccomp stop for the call itself, a pending
 * interrupt, signals) are handled here; signals are held back in *out.
 * Returns 0 with *ret set to the syscall's return value (a negative errno
 * on failure), -ESRCH if the thread died (out->died, out->status), or
 * -errno if ptrace failed. */
int x86_64_remote_syscall(pid_t tid, uint64_t insn_addr, long nr,
			  const uint64_t args[6], int64_t *ret,
			  struct x86_64_remote *out);

/* x86_64_remote_syscall for a thread whose current registers the caller
 * has just read into *cur (they are restored from there, not read again);
 * cur may be NULL. */
int x86_64_remote_syscall_regs(pid_t tid, uint64_t insn_addr, long nr,
			       const uint64_t args[6],
			       const struct user_regs_struct *cur,
			       int64_t *ret, struct x86_64_remote *out);

/* Executes the instruction at `rip` of thread tid, which must be in a
 * signal-delivery stop about to execute it (the signal is not
 * delivered), with PTRACE_SINGLESTEP: until rip changes (a rep string
 * instruction runs all its iterations; at most 4096 steps).  Signals that
 * arrive meanwhile are held back in *out as for remote syscalls.  Returns
 * 0 when done, with the registers after it in *after; 1 if the
 * instruction faulted (SIGSEGV, not delivered: the thread is in that
 * signal-delivery stop) with the fault address in *segv_addr and the
 * registers in *after; -ESRCH if the thread died (out->died, out->status);
 * -errno if ptrace failed. */
int x86_64_step(pid_t tid, uint64_t rip, struct user_regs_struct *after,
		uint64_t *segv_addr, struct x86_64_remote *out);

/* The trampoline: a two-page mapping the engine adds to a target (code
 * page read+exec, data page read+write) to run a system call in a thread
 * without stopping it a second time.  The thread is resumed at the code
 * page with only its rip changed; the stub saves the registers the call
 * changes (rax rcx rdx rsi rdi r8 r10 r11) to the data page, loads the
 * call from it, executes `syscall`, stores the result, restores the
 * registers and jumps back to the saved rip (the flags survive
 * syscall/sysret; orig_rax is left as the call set it, which matters to
 * nothing once the thread is back in user mode).  Nothing is written to
 * the target's own memory. */
#define X86_64_TRAMP_SIZE 8192u
/* Calls the trampoline keeps (x86_64_tramp_slot_set), entered with one
 * SETREGS each (x86_64_tramp_enter_slot). */
#define X86_64_TRAMP_SLOTS 64u

/* Writes the trampoline's code for a mapping at `tramp` into buf (at
 * least 4096 bytes).  Returns its length (0 if cap is too small). */
size_t x86_64_tramp_code(uint64_t tramp, uint8_t *buf, size_t cap);

/* Sends stopped thread tid (a signal-delivery or event stop outside a
 * system call, registers *cur) through the trampoline at `tramp` to run
 * syscall nr(args 0-4) and come back to cur->rip with every register as
 * in *cur.  The thread runs when the caller resumes it (with no signal).
 * Returns 0 or -errno. */
int x86_64_tramp_enter(pid_t tid, uint64_t tramp,
		       const struct user_regs_struct *cur, long nr,
		       const uint64_t args[6]);

/* Stores syscall nr(args 0-4) as call k (< X86_64_TRAMP_SLOTS) of the
 * trampoline at `tramp` of thread tid's process.  Returns 0 or -errno. */
int x86_64_tramp_slot_set(pid_t tid, uint64_t tramp, unsigned k, long nr,
			  const uint64_t args[6]);

/* As x86_64_tramp_enter, running call k (set before) with one SETREGS and
 * no write to the target's memory: the return address travels in
 * gs_base, which the stub puts back to 0.  Only for a thread whose
 * gs_base is 0, on a CPU and kernel with user FSGSBASE; otherwise
 * -EINVAL (use x86_64_tramp_enter).  Returns 0 or -errno. */
int x86_64_tramp_enter_slot(pid_t tid, uint64_t tramp,
			    const struct user_regs_struct *cur, unsigned k);

/* 1 if a thread with registers cur can enter a slot: its gs_base is 0
 * and user mode may use rdgsbase/wrgsbase here (AT_HWCAP2). */
int x86_64_tramp_slot_ok(const struct user_regs_struct *cur);

/* Where registers u stand in the trampoline at `tramp`: 0 outside it
 * (done, or never entered), 1 before its syscall (not executed yet), 2
 * after it (the call ran, the registers are not all restored yet).
 * Either way inside, the thread's own registers are those it entered
 * with. */
int x86_64_tramp_state(const struct user_regs_struct *u, uint64_t tramp);

/* The return value of the last call through the trampoline at `tramp` of
 * pid.  Returns 0 with *ret, or -errno. */
int x86_64_tramp_ret(pid_t pid, uint64_t tramp, int64_t *ret);

/* Installs filter f in the process of stopped thread tid (as
 * x86_64_remote_syscall, same stop requirements; a syscall-exit stop is
 * fine too): the program is copied below the red zone of tid's stack
 * (saved and restored around the call) and seccomp(SET_MODE_FILTER,
 * flags) is executed there.  *ret is seccomp's return value.  Returns 0,
 * -ESRCH (out->died) or -errno. */
int x86_64_remote_seccomp(pid_t tid, uint64_t insn_addr,
			  const struct x86_64_filter *f, uint32_t flags,
			  int64_t *ret, struct x86_64_remote *out);

#endif /* EMT_CAPTURE_X86_64_H */
