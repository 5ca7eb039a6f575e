// SPDX-License-Identifier: GPL-2.0
/*
 * syscalls.bpf.c - the syscall recorder (emt-capture --syscalls).
 *
 * Two programs, attached by user space (capture/sysrec_bpf.c) once per
 * chosen syscall to its own tracepoints syscalls/sys_enter_NAME and
 * sys_exit_NAME, never to the raw sys_enter/sys_exit: a syscall nobody
 * chose runs no program.  The context is the tracepoint's record, whose
 * first fields are the same for every syscall (the common header, then
 * the syscall number at offset 8; sys_exit_*: the return value at 16).
 * Arguments are taken from the thread's user registers rather than the
 * record, whose size depends on the syscall's argument count (reading
 * past it would make the attach fail).
 *
 * The followed set, the ring and the loss counters are the main
 * object's (bpf/emt.bpf.c), shared by bpf_map__reuse_fd: followed-ness
 * and loss accounting stay one.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "emt_bpf.h"
#include "syscalls_bpf.h"

/* Wake the consumer when this much waits in the ring (set by user space:
 * the main object's threshold). */
const volatile __u64 cfg_wake_bytes = 1 << 20;

/* Reused from the main object. */
#include "shared_maps.bpf.h"

/* The recorder's own. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SR_MAX_NR);
	__type(key, __u32);
	__type(value, struct sr_layout);
} sr_layouts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct sr_pending);
} sr_pending SEC(".maps");

/* One record being built per program and CPU (too large for the stack;
 * a program runs at most once per CPU at a time, see emt.bpf.c). */
struct sr_buf {
	__u32 faulted;          /* arguments whose memory could not be read */
	__u32 pad;
	struct sr_rec r;
	/* Slack after SR_DATA_MAX: a read's size is bounded for the
	 * verifier by a mask (SEG_MASK), which admits twice SR_SEG_MAX. */
	__u8 data[SR_DATA_MAX + 2 * SR_SEG_MAX + 16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct sr_buf);
} sr_scratch SEC(".maps");

/* The part of a sys_enter_* / sys_exit_* record every syscall shares. */
struct sr_tp {
	__u64 common;
	__s32 nr;
	__u32 pad;
	__s64 ret;              /* sys_exit_* only */
};

#define SEG_MASK (2 * SR_SEG_MAX - 1)
/* x &= SEG_MASK on the very register passed to a helper: the compiler
 * would drop a C mask it can prove redundant, and the verifier then sees
 * a copy bounded, not the register. */
#define SEG_BOUND(x) asm volatile("%[v] &= %[m]" : [v] "+r"(x) : [m] "i"(SEG_MASK))
#define OFF_BOUND(x) asm volatile("%[v] &= %[m]" : [v] "+r"(x) : [m] "i"(SR_DATA_MAX - 1))

/* Room for a segment header and at least one byte at `off`? */
#define SEG_FITS(off) ((off) <= SR_DATA_MAX - sizeof(struct sr_seg) - 8)

static __always_inline __u32 seg_end(__u32 off, __u32 len)
{
	return off + sizeof(struct sr_seg) + ((len + 7) & ~7u);
}

static __always_inline __u32 seg_room(__u32 off, __u32 max)
{
	__u32 room = SR_DATA_MAX - off - sizeof(struct sr_seg);

	if (max == 0 || max > SR_SEG_MAX)
		max = SR_SEG_MAX;
	return room < max ? room : max;
}

/* Starts a segment of argument `arg` at `off` (the caller checked
 * SEG_FITS and bounded off). */
static __always_inline struct sr_seg *seg_begin(struct sr_buf *b, __u32 off, __u32 arg, __u32 idx)
{
	struct sr_seg *sg = (struct sr_seg *)&b->data[off];

	sg->arg = arg;
	sg->idx = idx;
	sg->err = 0;
	sg->status = SR_ST_OK;
	sg->len = 0;
	return sg;
}

/* A segment with no payload at `off` (the caller checked SEG_FITS). */
static __always_inline __u32 put_empty(struct sr_buf *b, __u32 off, __u32 arg, __u32 idx,
				       __u32 status, long err)
{
	struct sr_seg *sg;

	OFF_BOUND(off);
	sg = seg_begin(b, off, arg, idx);
	sg->status = status;
	sg->err = (__s16)err;
	return seg_end(off, 0);
}

/* BPF functions take five arguments: put_str's argument index, element
 * and bound in one. */
#define STR_TAG(arg, idx, max) ((arg) | ((idx) << 8) | ((__u32)(max) << 16))

/* A segment whose read failed with `err`: remembered for the exit's
 * second try. */
static __always_inline __u32 seg_fault(struct sr_buf *b, struct sr_seg *sg, __u32 off,
				       __u32 arg, long err)
{
	b->faulted |= 1u << (arg & 7);
	sg->status = SR_ST_FAULT;
	sg->err = (__s16)err;
	return seg_end(off, 0);
}

/* Copies the string at `up` into a segment.  bpf_probe_read_user_str
 * returns `room` both for a string that filled the room exactly and for
 * one it cut: the byte after the last one copied tells which.  Returns
 * the offset after the segment. */
/* Global (verified once, not per call site): the caller's loop over six
 * arguments stays cheap to verify. */
__noinline __u32 put_str(struct sr_buf *b, __u32 off, __u32 tag, __u64 up)
{
	__u32 arg = tag & 0xff, idx = (tag >> 8) & 0xff, max = tag >> 16;
	struct sr_seg *sg;
	__u32 room;
	long n;
	char c = 0;

	if (!b)
		return off;
	if (!SEG_FITS(off))
		return off;
	OFF_BOUND(off);
	room = seg_room(off, max);
	if (room < 1 || room > SR_SEG_MAX)
		return off;
	sg = seg_begin(b, off, arg, idx);
	SEG_BOUND(room);
	n = bpf_probe_read_user_str(&b->data[off + sizeof(*sg)], room, (const void *)up);
	if (n < 0)
		return seg_fault(b, sg, off, arg, n);
	if (n == room && bpf_probe_read_user(&c, 1, (const void *)(up + room - 1)) == 0 && c)
		sg->status = SR_ST_CUT;
	sg->len = n > 0 ? n - 1 : 0;
	return seg_end(off, sg->len);
}

/* Copies `want` bytes at `up` into a segment, as many as fit. */
__noinline __u32 put_mem(struct sr_buf *b, __u32 off, __u32 tag, __u64 up, __u64 want)
{
	__u32 arg = tag & 0xff, max = tag >> 16;
	struct sr_seg *sg;
	__u32 room, n;
	long err;

	if (!b)
		return off;
	if (!SEG_FITS(off))
		return off;
	OFF_BOUND(off);
	room = seg_room(off, max);
	sg = seg_begin(b, off, arg, 0);
	n = want < room ? (__u32)want : room;
	if (want > n)
		sg->status = SR_ST_CUT;
	if (n == 0 || n > SR_SEG_MAX)
		return seg_end(off, 0);
	SEG_BOUND(n);
	err = bpf_probe_read_user(&b->data[off + sizeof(*sg)], n, (const void *)up);
	if (err < 0)
		return seg_fault(b, sg, off, arg, err);
	sg->len = n;
	return seg_end(off, n);
}

struct strv_ctx {
	struct sr_buf *b;
	__u64 array;            /* user address of the pointer array */
	__u32 off;
	__u32 arg;
	__u32 done;
	__u32 max;
};

/* bpf_loop callback: element i of a string array. */
static long strv_one(__u32 i, void *data)
{
	struct strv_ctx *c = data;
	__u64 p = 0;
	long err;

	/* Keeps room for the NOROOM segment that says the array was cut. */
	if (!SEG_FITS(c->off + sizeof(struct sr_seg))) {
		c->done = 2;
		return 1;
	}
	err = bpf_probe_read_user(&p, sizeof(p), (const void *)(c->array + 8ull * i));
	if (err < 0) {
		c->b->faulted |= 1u << (c->arg & 7);
		c->off = put_empty(c->b, c->off, c->arg, i, SR_ST_FAULT, err);
		c->done = 1;
		return 1;
	}
	if (!p) {
		c->done = 1;
		return 1;
	}
	c->off = put_str(c->b, c->off, STR_TAG(c->arg, i, c->max), p);
	return 0;
}

static __always_inline __u32 put_strv(struct sr_buf *b, __u32 off, __u32 arg, __u64 up,
				      __u32 max)
{
	struct strv_ctx c = { .b = b, .array = up, .off = off, .arg = arg, .max = max };
	long n;

	if (!up || !SEG_FITS(off))
		return off;
	n = bpf_loop(SR_STRV_MAX, strv_one, &c, 0);
	/* Ran out of elements to read, or of room, before the NULL. */
	if (!c.done && SEG_FITS(c.off))
		c.off = put_empty(b, c.off, arg, (__u32)n, SR_ST_MORE, 0);
	else if (c.done == 2 && SEG_FITS(c.off))
		c.off = put_empty(b, c.off, arg, (__u32)n, SR_ST_NOROOM, 0);
	return c.off;
}

/* The length of the memory behind an argument of spec `s`, from the
 * argument values and the return value.  SR_K_MEM_OUTP: the int that
 * argument len_arg points to. */
static __always_inline __u64 spec_len(const struct sr_argspec *s, const __u64 *args, __s64 ret)
{
	__u32 k = s->len_arg;
	int v = 0;

	if (k == SR_LEN_RET)
		return ret > 0 ? (__u64)ret : 0;
	if (k == SR_LEN_FIXED)
		return s->max;
	if (k >= SR_NARGS)
		return 0;
	if (s->kind == SR_K_MEM_OUTP) {
		if (bpf_probe_read_user(&v, sizeof(v), (const void *)args[k]) < 0 || v < 0)
			return 0;
		return (__u64)v;
	}
	return args[k];
}

#define ARG_EXIT 0x100u         /* put_arg: the exit side */
#define ARG_IN   0x200u         /* put_arg: read input memory */

/* The memory behind argument (tag & 0xff) of spec `spec` (a struct
 * sr_argspec passed by value), at the side the tag says.  Global, so
 * verified once: the loop over six arguments stays cheap to verify. */
__noinline __u32 put_arg(struct sr_buf *b, __u32 off, __u32 spec, __u32 tag, __s64 ret)
{
	struct sr_argspec s;
	__u32 i = tag & 0xff;
	__u64 v;

	if (!b || i >= SR_NARGS)
		return off;
	__builtin_memcpy(&s, &spec, sizeof(s));
	v = b->r.args[i];
	switch (s.kind) {
	case SR_K_STR:
		if (tag & ARG_IN)
			off = put_str(b, off, STR_TAG(i, 0, s.max), v);
		break;
	case SR_K_STRV:
		if (tag & ARG_IN)
			off = put_strv(b, off, i, v, s.max);
		break;
	case SR_K_MEM_IN:
		if (tag & ARG_IN)
			off = put_mem(b, off, STR_TAG(i, 0, s.max), v, spec_len(&s, b->r.args, 0));
		break;
	case SR_K_MEM_OUT:
	case SR_K_MEM_OUTP:
		/* Nothing was written by a failed call. */
		if ((tag & ARG_EXIT) && ret >= 0)
			off = put_mem(b, off, STR_TAG(i, 0, s.max), v, spec_len(&s, b->r.args, ret));
		break;
	}
	return off;
}

/* The segments of one side (entry: exit == 0) of a syscall.  At exit,
 * also the input memory of the arguments in `retry`: what could not be
 * read at entry (a page not resident: bpf_probe_read_user cannot fault
 * it in) is read again once the syscall itself has faulted it in
 * reading it. */
static __always_inline __u32 put_args(struct sr_buf *b, const struct sr_layout *lay,
				      int exit, __s64 ret, __u32 retry)
{
	__u32 off = 0, nargs = lay->nargs;

	for (__u32 i = 0; i < SR_NARGS; i++) {
		__u32 spec, tag = i;

		if (i >= nargs)
			break;
		if (!b->r.args[i])
			continue;       /* NULL: nothing behind it, the value says so */
		if (!exit || (retry & (1u << i)))
			tag |= ARG_IN;
		if (exit)
			tag |= ARG_EXIT;
		__builtin_memcpy(&spec, &lay->a[i], sizeof(spec));
		off = put_arg(b, off, spec, tag, ret);
	}
	return off;
}

/* The record of a followed thread's syscall nr (its layout in *lay,
 * NULL if none was stored), or NULL for a thread not followed. */
static __always_inline struct sr_buf *rec_start(__u32 slot, __u32 type, __u32 nr,
						struct sr_layout **lay)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32;
	struct sr_buf *b;

	if (!bpf_map_lookup_elem(&followed, &tgid))
		return NULL;
	b = bpf_map_lookup_elem(&sr_scratch, &slot);
	if (!b)
		return NULL;
	*lay = bpf_map_lookup_elem(&sr_layouts, &nr);
	/* The effective ids (bpf_get_current_uid_gid gives the real ones),
	 * as the ptrace side reads them. */
	struct task_struct *t = bpf_get_current_task_btf();
	__u32 euid = BPF_CORE_READ(t, cred, euid.val), egid = BPF_CORE_READ(t, cred, egid.val);
	b->r.type = type;
	b->r.pid = pt >> 32;
	b->r.tid = (__u32)pt;
	b->r.nr = nr;
	b->r.time_ns = bpf_ktime_get_boot_ns();
	b->r.ret = 0;
	b->r.uid = euid;
	b->r.gid = egid;
	b->r.data_len = 0;
	b->r.flags = 0;
	b->faulted = 0;
	return b;
}

static __always_inline int rec_send(struct sr_buf *b, __u32 off)
{
	__u64 sz;

	/* Forget what the compiler knows of off, so that the check stays
	 * for the verifier. */
	barrier_var(off);
	if (off > SR_DATA_MAX)
		return 0;
	b->r.data_len = off;
	sz = sizeof(b->r) + off;
	/* As the main object does: a wakeup costs the traced thread an
	 * irq_work self-IPI (a VM exit here); the consumer is woken when
	 * the data waiting crosses the threshold, and polls anyway. */
	__u64 avail = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);
	__u64 wake = avail >= cfg_wake_bytes && avail < cfg_wake_bytes + sz + 8 ?
		     BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_output(&rb, &b->r, sz, wake))
		emt_count_rb_fail();
	return 0;
}

SEC("tracepoint")
int sr_enter(struct sr_tp *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 nr = (__u32)ctx->nr;
	struct sr_layout *lay = NULL;
	struct pt_regs *regs;
	struct sr_buf *b = rec_start(0, SR_REC_ENTER, nr, &lay);

	if (!b)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	b->r.args[0] = BPF_CORE_READ(regs, di);
	b->r.args[1] = BPF_CORE_READ(regs, si);
	b->r.args[2] = BPF_CORE_READ(regs, dx);
	b->r.args[3] = BPF_CORE_READ(regs, r10);
	b->r.args[4] = BPF_CORE_READ(regs, r8);
	b->r.args[5] = BPF_CORE_READ(regs, r9);
	__u32 off = lay ? put_args(b, lay, 0, 0, 0) : 0;

	if (lay && ((lay->flags & SR_LF_EXIT_MEM) || b->faulted)) {
		struct sr_pending p = { .nr = nr, .retry = b->faulted };

		__builtin_memcpy(p.args, b->r.args, sizeof(p.args));
		bpf_map_update_elem(&sr_pending, &tid, &p, BPF_ANY);
	}
	return rec_send(b, off);
}

SEC("tracepoint")
int sr_exit(struct sr_tp *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 nr = (__u32)ctx->nr;
	struct sr_layout *lay = NULL;
	struct sr_pending *p;
	struct sr_buf *b = rec_start(1, SR_REC_EXIT, nr, &lay);
	__u32 off = 0;

	if (!b)
		return 0;
	b->r.ret = ctx->ret;
	__builtin_memset(b->r.args, 0, sizeof(b->r.args));
	p = lay ? bpf_map_lookup_elem(&sr_pending, &tid) : NULL;
	if (p && p->nr == nr) {
		__u32 retry = p->retry;

		__builtin_memcpy(b->r.args, p->args, sizeof(b->r.args));
		bpf_map_delete_elem(&sr_pending, &tid);
		off = put_args(b, lay, 1, b->r.ret, retry);
	} else if (lay && (lay->flags & SR_LF_EXIT_MEM)) {
		b->r.flags |= SR_RF_NOENTRY;
	}
	return rec_send(b, off);
}

char LICENSE[] SEC("license") = "GPL";
