/*
 * model_bpf.h - records and maps shared by bpf/model.bpf.c (the syscall
 * model check, `emt-capture --model`) and capture/model_bpf.c.  Fixed-
 * width types, explicit padding, sizes checked at compile time.
 *
 * At every syscall entry of a followed thread the program forms the
 * window of the thread's last N syscalls (N = the model's depth, the
 * start of the thread's sequence being MODEL_START) and looks it up in
 * `model_trans` under the program the thread runs (its executable's
 * (dev, inode) in `model_progs`, which user space filled from the
 * executables whose SHA-256 the model names).  A window not there is an
 * alert: one MODEL_REC_ALERT record in the main emt ring, then the action
 * (cfg_action): hold the process (SIGSTOP on its way back to user mode)
 * for user space to capture it, or kill it.
 */
#ifndef EMT_MODEL_BPF_H
#define EMT_MODEL_BPF_H

#ifdef __bpf__
/* vmlinux.h provides __u16.. __u64. */
#else
#include <linux/types.h>
#endif

/* Record type, after enum emt_rec_type's and the recorder's in the same
 * ring: bpf_engine.c hands it to capture/model_bpf.c. */
#define MODEL_REC_ALERT 0x200u

#define MODEL_DEPTH_MAX 3u
#define MODEL_START     0xffffu /* the window slot before a thread's first call */
#define MODEL_OTHER     0xfffeu /* a syscall number >= MODEL_NR_MAX (never allowed) */
#define MODEL_NR_MAX    1024u

/* cfg_action */
#define MODEL_ACT_CAPTURE 1u    /* hold: user space captures, then resumes */
#define MODEL_ACT_STOP    2u    /* hold: user space captures and leaves it stopped */
#define MODEL_ACT_KILL    3u    /* SIGKILL from the kernel side */

/* model_progs: the executable's inode and device (the kernel's s_dev
 * encoding: major << 20 | minor) -> program number (1..). */
struct model_prog_key {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

/* model_trans: a window allowed for program `prog`; nr[0..depth) the
 * syscalls oldest first, the rest 0.  Value: __u8 1. */
struct model_trans_key {
	__u32 prog;
	__u16 nr[MODEL_DEPTH_MAX];
	__u16 pad;
};

/* model_threads: per thread, its program and last calls.  Made at the
 * thread's first checked syscall, dropped when its process execs; the
 * tgid tells an entry of a tid that was reused by another process. */
struct model_thread {
	__u64 ino;              /* the executable it was found running */
	__u32 dev;
	__u32 prog;             /* 0: not in the model (not checked) */
	__u16 h[MODEL_DEPTH_MAX - 1]; /* last calls, oldest first */
	__u32 tgid;
};

/* model_rate: per process, the alerts of the current second. */
struct model_rate {
	__u64 win_ns;           /* start of the one-second window */
	__u32 count;            /* alerts raised in it */
	__u32 suppressed;       /* suppressed since the last alert raised */
};

/* struct pt_regs of the syscall entry, in that order: r15 r14 r13 r12 bp
 * bx r11 r10 r9 r8 ax cx dx si di orig_ax ip cs flags sp ss. */
#define MODEL_NREGS 21u

struct model_rec_alert {
	__u32 type;             /* MODEL_REC_ALERT */
	__u32 pid;              /* tgid */
	__u32 tid;
	__u32 prog;             /* model_progs value */
	__u64 time_ns;          /* bpf_ktime_get_boot_ns at the entry */
	__u16 nr[MODEL_DEPTH_MAX]; /* the window, oldest first; depth used */
	__u16 depth;
	__u32 action;           /* MODEL_ACT_* taken */
	__u32 suppressed;       /* of this process since its previous alert */
	__u64 regs[MODEL_NREGS];
	__u64 fs_base, gs_base;
};

#ifndef __bpf__
_Static_assert(sizeof(struct model_prog_key) == 16, "model_prog_key size");
_Static_assert(sizeof(struct model_trans_key) == 12, "model_trans_key size");
_Static_assert(sizeof(struct model_thread) == 24, "model_thread size");
_Static_assert(sizeof(struct model_rate) == 16, "model_rate size");
_Static_assert(sizeof(struct model_rec_alert) == 40 + 8 * MODEL_NREGS + 16,
	       "model_rec_alert size");
#endif

#endif /* EMT_MODEL_BPF_H */
