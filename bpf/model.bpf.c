// SPDX-License-Identifier: GPL-2.0
/*
 * model.bpf.c - the syscall model check (emt-capture --model, SPEC.md
 * section 16; shared definitions in model_bpf.h).
 *
 * One program on the raw sys_enter tracepoint (tp_btf), loaded and
 * attached only when a model is given: it runs at every syscall of the
 * system while attached (the tracepoint's slow path), and returns at
 * once for processes that are not followed; and one on
 * sched_process_exec, which starts the sequences of a new image.  The
 * followed set, the ring and the loss counters are the main object's
 * (bpf/emt.bpf.c), shared by bpf_map__reuse_fd.
 *
 * The check runs before the syscall does anything; the hold it asks for
 * (SIGSTOP) takes effect on the thread's way back to user mode, after
 * the call, so user space captures the process as that call left it.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "emt_bpf.h"
#include "model_bpf.h"

#define SIGKILL 9
#define SIGSTOP 19
#define NR_RT_SIGRETURN 15

/* Set by user space between open and load. */
const volatile __u32 cfg_depth = 2;
const volatile __u32 cfg_action = MODEL_ACT_CAPTURE;
const volatile __u32 cfg_rate = 5;      /* alerts per process and second */

/* Reused from the main object. */
#include "shared_maps.bpf.h"

/* The model's own (sizes set by user space from the model). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct model_prog_key);
	__type(value, __u32);
} model_progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct model_trans_key);
	__type(value, __u8);
} model_trans SEC(".maps");

/* LRU: a thread that exits leaves its entry to be reused. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct model_thread);
} model_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct model_rate);
} model_rate SEC(".maps");

/* The state of the current thread, made at its first checked syscall
 * (a new thread, or the first after its process's execve, which drops
 * the entry: emt_model_exec).  The executable is read only then: the
 * per-syscall path is two hash lookups. */
static __always_inline struct model_thread *thread_state(__u32 tgid, __u32 tid)
{
	struct model_thread *st = bpf_map_lookup_elem(&model_threads, &tid);

	if (st && st->tgid == tgid)
		return st;

	struct task_struct *t = bpf_get_current_task_btf();
	struct inode *ino = BPF_CORE_READ(t, mm, exe_file, f_inode);
	struct model_thread fresh = {};

	if (!ino)
		return NULL;
	fresh.ino = BPF_CORE_READ(ino, i_ino);
	fresh.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	fresh.tgid = tgid;

	struct model_prog_key pk = { fresh.ino, fresh.dev, 0 };
	__u32 *prog = bpf_map_lookup_elem(&model_progs, &pk);

	fresh.prog = prog ? *prog : 0;
	fresh.h[0] = fresh.h[1] = MODEL_START;
	bpf_map_update_elem(&model_threads, &tid, &fresh, BPF_ANY);
	return bpf_map_lookup_elem(&model_threads, &tid);
}

/* Whether this process may raise one more alert now; counts the one it
 * may not as a loss ("alert-rate"). */
static __always_inline int rate_ok(__u32 tgid, __u64 now, __u32 *suppressed)
{
	struct model_rate *r = bpf_map_lookup_elem(&model_rate, &tgid);

	if (!r) {
		struct model_rate fresh = { now, 1, 0 };

		bpf_map_update_elem(&model_rate, &tgid, &fresh, BPF_ANY);
		*suppressed = 0;
		return 1;
	}
	if (now - r->win_ns >= 1000000000ull) {
		r->win_ns = now;
		r->count = 0;
	}
	if (r->count >= cfg_rate) {
		r->suppressed++;
		emt_count_loss(EMT_LOSS_ALERT);
		return 0;
	}
	r->count++;
	*suppressed = r->suppressed;
	r->suppressed = 0;
	return 1;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(emt_model_enter, struct pt_regs *regs, long id)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32, tid = (__u32)pt;

	/* rt_sigreturn ends a signal handler, after whatever call the
	 * signal happened to follow: in no window (emt_model.h). */
	if (id == NR_RT_SIGRETURN || !bpf_map_lookup_elem(&followed, &tgid))
		return 0;
	struct model_thread *st = thread_state(tgid, tid);

	if (!st || !st->prog)
		return 0;
	__u16 nr = (id >= 0 && id < MODEL_NR_MAX) ? (__u16)id : MODEL_OTHER;
	struct model_trans_key k = { st->prog, { 0, 0, 0 }, 0 };

	if (cfg_depth == 1) {
		k.nr[0] = nr;
	} else if (cfg_depth == 2) {
		k.nr[0] = st->h[1];
		k.nr[1] = nr;
	} else {
		k.nr[0] = st->h[0];
		k.nr[1] = st->h[1];
		k.nr[2] = nr;
	}
	st->h[0] = st->h[1];
	st->h[1] = nr;
	if (bpf_map_lookup_elem(&model_trans, &k))
		return 0;

	__u64 now = bpf_ktime_get_boot_ns();
	__u32 suppressed = 0;

	if (!rate_ok(tgid, now, &suppressed)) {
		/* Still killed: a rate limit must not spare a process. */
		if (cfg_action == MODEL_ACT_KILL)
			bpf_send_signal(SIGKILL);
		return 0;
	}
	struct model_rec_alert *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);

	if (cfg_action == MODEL_ACT_KILL)
		bpf_send_signal(SIGKILL);
	if (!r) {
		emt_count_rb_fail();
		return 0;
	}
	r->type = MODEL_REC_ALERT;
	r->pid = tgid;
	r->tid = tid;
	r->prog = k.prog;
	r->time_ns = now;
	r->nr[0] = k.nr[0];
	r->nr[1] = k.nr[1];
	r->nr[2] = k.nr[2];
	r->depth = (__u16)cfg_depth;
	r->action = cfg_action;
	r->suppressed = suppressed;
	r->regs[0] = regs->r15;
	r->regs[1] = regs->r14;
	r->regs[2] = regs->r13;
	r->regs[3] = regs->r12;
	r->regs[4] = regs->bp;
	r->regs[5] = regs->bx;
	r->regs[6] = regs->r11;
	r->regs[7] = regs->r10;
	r->regs[8] = regs->r9;
	r->regs[9] = regs->r8;
	r->regs[10] = regs->ax;
	r->regs[11] = regs->cx;
	r->regs[12] = regs->dx;
	r->regs[13] = regs->si;
	r->regs[14] = regs->di;
	r->regs[15] = regs->orig_ax;
	r->regs[16] = regs->ip;
	r->regs[17] = regs->cs;
	r->regs[18] = regs->flags;
	r->regs[19] = regs->sp;
	r->regs[20] = regs->ss;
	struct task_struct *t = bpf_get_current_task_btf();

	r->fs_base = BPF_CORE_READ(t, thread.fsbase);
	r->gs_base = BPF_CORE_READ(t, thread.gsbase);
	/* The hold: the whole process stops on its way back to user mode,
	 * and user space must see this record at once to serve it. */
	if (cfg_action != MODEL_ACT_KILL)
		bpf_send_signal_thread(SIGSTOP);
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* A new image: its threads start new sequences (the exec'ing thread,
 * by its old and its new tid; the others are gone). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(emt_model_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tid = (__u32)p->pid, old = (__u32)old_pid;

	bpf_map_delete_elem(&model_threads, &tid);
	if (old != tid)
		bpf_map_delete_elem(&model_threads, &old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
