// SPDX-License-Identifier: GPL-2.0
/*
 * emt.bpf.c - kernel side of the emt capture engine.
 *
 * BTF raw tracepoints only (tp_btf/...): they need no tracefs and are
 * allowed where fentry/LSM are not.  The followed set is a map of tgids
 * kept up to date here (fork) and from userspace (launch/attach).
 *
 * The memory syscalls are seen through the mmap_lock tracepoints (the
 * "mmap-lock hooks", which cost processes that do not change their
 * mappings nothing), or through sys_enter/sys_exit where the kernel lacks
 * those (userspace picks one set; see the two sections at the end).
 * Bytes are copied when the syscall starts its work, in the target's
 * context, before it changes anything: mprotect adding PROT_EXEC, and RWX
 * ranges about to be unmapped, made non-writable, replaced by execve or
 * torn down at exit.  bpf_probe_read_user cannot fault pages in, so a page it
 * cannot read is reported as PAGE_FAIL and the thread is stopped
 * (SIGSTOP) on its way back to user mode so that userspace reads the page
 * with process_vm_readv before resuming it (see capture/bpf_engine.c).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "emt_bpf.h"

#define PROT_READ  0x1
#define PROT_WRITE 0x2
#define PROT_EXEC  0x4
#define VM_READ    0x1
#define VM_WRITE   0x2
#define VM_EXEC    0x4
#define VM_SHARED  0x8
#define SIGSTOP    19
#define MAP_FIXED  0x10
#define MAP_FIXED_NOREPLACE 0x100000
#define S_IFMT     00170000
#define S_IFREG    0100000

#define NR_MMAP          9
#define NR_MPROTECT      10
#define NR_MUNMAP        11
#define NR_MREMAP        25
#define NR_EXECVE        59
#define NR_EXIT_GROUP    231
#define NR_EXECVEAT      322
#define NR_PKEY_MPROTECT 329

/* Configuration, set by userspace between open and load. */
const volatile __u32 cfg_follow = 1;
const volatile __u32 cfg_lossless = 0;
const volatile __u32 cfg_capture_files = 0;
const volatile __u64 cfg_rb_size = 1 << 24;
const volatile __u64 cfg_ovf_size = 1 << 22;
const volatile __u64 cfg_wake_bytes = 1 << 20;
const volatile __u64 cfg_max_pages = 131072;   /* 512 MiB per capture */

__u64 next_cap_id = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u32);
} followed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct emt_pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct emt_rwx_table);
} rwx SEC(".maps");

/* Ranges of a process made non-executable by mprotect since they were
 * executable: userspace still has a region there, so a munmap of them
 * matters although no VMA in it is executable any more (see
 * munmap_matters).  A full table makes every munmap matter. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct emt_rwx_table);
} wasx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);   /* resized by userspace */
} rb SEC(".maps");

/* Lossless mode only: where a record goes when the main ring stays full.
 * The thread that wrote it is then stopped (SIGSTOP) until userspace has
 * read it, so each thread adds at most a few records here. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);   /* resized by userspace */
} rb_ovf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct emt_bpf_stats);
} stats SEC(".maps");

/* Lost ring records per process and kind; userspace takes the counts
 * (lookup and delete) and writes them as losses.  Keys of tgid 0, made
 * by userspace before attaching, collect what a full map cannot hold. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct emt_loss_key);
	__type(value, __u64);
} lost SEC(".maps");

/* Scratch for records too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct emt_rwx_table);
} rwx_zero SEC(".maps");

static __always_inline struct emt_bpf_stats *get_stats(void)
{
	__u32 k = 0;
	return bpf_map_lookup_elem(&stats, &k);
}

/* Wakes the consumer only when the data waiting crosses the threshold
 * with this record (edge-triggered).  A wakeup costs the traced thread an
 * irq_work self-IPI (a VM exit here, tens of microseconds); above the
 * threshold the consumer is either busy draining or was woken at the
 * crossing, and it also polls with a short timeout, so nothing waits
 * long.  `sz` is the record's size. */
static __always_inline __u64 wake_flags(__u64 sz)
{
	__u64 avail = bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA);

	if (avail >= cfg_wake_bytes && avail < cfg_wake_bytes + sz + 8)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/* Counts a ring record that did not fit, for the current process. */
static __always_inline void count_lost(__u32 kind)
{
	struct emt_bpf_stats *st = get_stats();
	struct emt_loss_key k = { (__u32)(bpf_get_current_pid_tgid() >> 32), kind };
	__u64 one = 1, *v;

	if (st) {
		st->rb_fail++;
		if (kind == EMT_LOSS_PAGE)
			st->rb_fail_pages++;
	}
	v = bpf_map_lookup_elem(&lost, &k);
	if (!v && bpf_map_update_elem(&lost, &k, &one, BPF_NOEXIST) == 0)
		return;
	if (!v)
		v = bpf_map_lookup_elem(&lost, &k);     /* raced with another CPU */
	if (!v) {
		k.tgid = 0;                             /* map full */
		v = bpf_map_lookup_elem(&lost, &k);
	}
	if (v)
		__sync_fetch_and_add(v, 1);
}

struct room {
	__u64 need;
};

/* bpf_loop callback: stops when the ring has room for r->need bytes. */
static long wait_room_for(__u32 i, void *data)
{
	struct room *r = data;

	return bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) + r->need <= cfg_rb_size;
}

/* Reserves a ring record of `sz` bytes (a constant).  In lossless mode a
 * full ring is waited on briefly (the consumer runs on another CPU), then
 * the record goes to the overflow ring and *(ovf) is set: the caller must
 * then stop the thread (or say so in its end record).  What fits nowhere
 * is counted as lost of `kind`. */
#define rb_reserve(sz, kind, ovf) ({					\
	void *__r = bpf_ringbuf_reserve(&rb, (sz), 0);			\
	if (!__r && cfg_lossless) {					\
		struct room __w = { (sz) + 64 };			\
		bpf_loop(1 << 16, wait_room_for, &__w, 0);		\
		__r = bpf_ringbuf_reserve(&rb, (sz), 0);		\
		if (!__r) {						\
			__r = bpf_ringbuf_reserve(&rb_ovf, (sz), 0);	\
			if (__r)					\
				*(ovf) = 1;				\
		}							\
	}								\
	if (!__r)							\
		count_lost(kind);					\
	__r;								\
})

/* rb_reserve() for capture_range(), which keeps the overflow flag in its
 * copy_ctx (an `int ovf` on its stack would cost a slot of its frame):
 * sets c->ovf when the record went to the overflow ring, else leaves it. */
#define rb_reserve_ovf(sz, kind, c) ({					\
	int __o = 0;							\
	void *__rr = rb_reserve((sz), (kind), &__o);			\
	if (__o)							\
		(c)->ovf = 1;						\
	__rr;								\
})

/* Adds one to a counter of the per-CPU statistics. */
#define stat_inc(field) do {						\
	struct emt_bpf_stats *__st = get_stats();			\
	if (__st)							\
		__st->field++;						\
} while (0)

/* Submits a record; one in the overflow ring wakes the consumer and
 * stops the current thread until userspace has read it (the thread then
 * cannot produce anything the rings have no room for). */
#define rb_submit(r, sz, ovf, hold) do {				\
	if (ovf) {							\
		if (hold)						\
			bpf_send_signal_thread(SIGSTOP);		\
		bpf_ringbuf_submit((r), BPF_RB_FORCE_WAKEUP);		\
	} else {							\
		bpf_ringbuf_submit((r), wake_flags(sz));		\
	}								\
} while (0)

static __always_inline void fill_hdr(struct emt_rec_hdr *h, __u32 type)
{
	__u64 pt = bpf_get_current_pid_tgid();

	h->type = type;
	h->pid = pt >> 32;
	h->tid = (__u32)pt;
	h->cpu = bpf_get_smp_processor_id();
	h->time_ns = bpf_ktime_get_boot_ns();
}

static __always_inline int is_followed(__u32 tgid)
{
	return bpf_map_lookup_elem(&followed, &tgid) != NULL;
}

/* ------------------------------------------------------------ VMAs */

struct vma_info {
	__u32 prot;
	__u32 backing;
	__u64 ino, dev, pgoff;
	char  name[EMT_NAME_LEN];
	__u32 found;
	__u32 shared;
	__u64 start, end;
};

/* ------------------------------------------------------- scratch */
/* What does not fit on the stack.  The verifier adds the frames of a whole
 * call chain (program, global functions, bpf_loop callbacks) against one
 * 512-byte budget, and `make bpf-check` keeps every chain within 384, so
 * the large structs of a program live in a per-CPU map instead.
 *
 * Each program has a slot of its own, and that is what makes the scratch
 * safe whether or not the program can be preempted: the kernel runs a
 * BPF program at most once per CPU at a time (bpf_trace_run's per-program
 * `active` count skips, and counts as a miss, a run that would start
 * while another run of the same program on that CPU is not done, nested
 * or preempted), so nothing else writes a slot while its program uses it.
 * Today's kernels disable preemption around these tracepoints anyway
 * (syscall tracepoints became faultable in 6.13, but their BPF probe
 * still runs the program under preempt_disable_notrace).  Programs do
 * nest across slots: emt_lock_start's bpf_find_vma takes and drops the
 * mmap lock, which runs emt_lock_released inside it (see
 * syscall_start()). */
enum {
	SLOT_SYS_ENTER,
	SLOT_SYS_EXIT,
	SLOT_LOCK_START,
	SLOT_LOCK_RELEASED,
	SLOT_TASK_EXIT,
	NR_SLOTS,
};

/* What capture_range() is asked to copy.  `may_defer`: the range stays
 * unwritable after the syscall, so when the ring lacks room (lossless
 * mode) the bytes may be read by userspace while the thread is held
 * instead of copied here.  `slot`: the calling program's scratch slot
 * (capture_range is global, verified once for all callers). */
struct cap_req {
	__u64 addr, len;
	__u32 trigger, prot_before, prot_after;
	__u32 may_defer, defer_always;
	__u32 slot;
};

struct copy_ctx {
	__u64 cap_id;
	__u64 addr;
	__u64 npages;
	__u64 nfailed;
	__u64 ndropped;
	__u64 need;             /* ring bytes wanted, for wait_room */
	__u64 may_wait;         /* lossless and not deferrable: wait per page */
	__u64 wait_budget;      /* wait_page_room iterations left for this capture */
	__u64 ovf;              /* its begin record is in the overflow ring: so are
				 * its other records, to keep them in order */
	__u64 defer;            /* userspace reads the bytes (2: for want of room) */
	__u64 flags;            /* EMT_CAPF_* of its end record */
};

struct scratch {
	struct copy_ctx c;      /* capture_range()'s copy loop: in a map also
				 * because counters on the stack are tracked
				 * exactly by the verifier, so every bpf_loop
				 * iteration would look like a new state and the
				 * callback would not converge.  First, so that
				 * copy_of() needs no offset (see there) */
	struct emt_pending p;   /* syscall_start(): the syscall kept for its end */
	struct vma_info vi;     /* the mapping looked at */
	struct cap_req q;       /* the next capture_range() request */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NR_SLOTS);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* The scratch of `slot` on this CPU (NULL only for a bad slot). */
static __always_inline struct scratch *scratch_of(__u32 slot)
{
	return bpf_map_lookup_elem(&scratch, &slot);
}

/* The copy_ctx of the slot *slot (a pointer: bpf_loop callbacks get it
 * as their data).  It is at offset 0 of the slot: the verifier refuses
 * arithmetic on a pointer not yet checked for NULL, and clang may move
 * the addition of a member's offset before the check (it did, for a
 * capture_range() with a larger frame). */
static __always_inline struct copy_ctx *copy_of(__u32 *slot)
{
	struct scratch *sc = bpf_map_lookup_elem(&scratch, slot);

	if (!sc)
		return NULL;
	return &sc->c;
}

/* The vma_info of `slot`, zeroed. */
static __always_inline struct vma_info *vi_scratch(__u32 slot)
{
	struct scratch *sc = scratch_of(slot);

	if (!sc)
		return NULL;
	__builtin_memset(&sc->vi, 0, sizeof(sc->vi));
	return &sc->vi;
}

#define TMPFS_MAGIC 0x01021994
#define RAMFS_MAGIC 0x858458f6

/* A regular file of tmpfs (/dev/shm, /run, /tmp on many systems) or ramfs
 * exists only in memory: executing from it is as fileless as a memfd, so
 * its bytes are captured like those of a file that is not on disk. */
static __always_inline int in_memory_fs(unsigned long magic)
{
	return magic == TMPFS_MAGIC || magic == RAMFS_MAGIC;
}

/* PROT_* of a mapping's vm_flags. */
static __always_inline __u32 vm_prot(unsigned long fl)
{
	return (fl & VM_READ ? PROT_READ : 0) | (fl & VM_WRITE ? PROT_WRITE : 0) |
	       (fl & VM_EXEC ? PROT_EXEC : 0);
}

/* Fills *vi from vma, read with CO-RE loads so that it serves both a
 * bpf_find_vma callback and a VMA found by vma_find_locked(). */
static __always_inline void vma_fill(struct vm_area_struct *vma, struct vma_info *vi)
{
	unsigned long fl = BPF_CORE_READ(vma, vm_flags);
	struct file *f = BPF_CORE_READ(vma, vm_file);

	vi->found = 1;
	vi->prot = vm_prot(fl);
	vi->shared = !!(fl & VM_SHARED);
	vi->pgoff = (__u64)BPF_CORE_READ(vma, vm_pgoff) * EMT_PAGE_SIZE;
	vi->start = BPF_CORE_READ(vma, vm_start);
	vi->end = BPF_CORE_READ(vma, vm_end);
	if (!f) {
		vi->backing = vi->shared ? EMT_BPF_BACK_SHARED : EMT_BPF_BACK_ANON;
		return;
	}
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	__u32 mode = BPF_CORE_READ(ino, i_mode);
	__u32 nlink = BPF_CORE_READ(ino, __i_nlink);
	const unsigned char *nm = BPF_CORE_READ(f, f_path.dentry, d_name.name);

	vi->ino = BPF_CORE_READ(ino, i_ino);
	vi->dev = BPF_CORE_READ(ino, i_sb, s_dev);
	bpf_probe_read_kernel_str(vi->name, sizeof(vi->name), nm);
	if (vi->name[0] == 'm' && vi->name[1] == 'e' && vi->name[2] == 'm' &&
	    vi->name[3] == 'f' && vi->name[4] == 'd' && vi->name[5] == ':')
		vi->backing = EMT_BPF_BACK_MEMFD;
	else if (vi->name[0] == 'd' && vi->name[1] == 'e' && vi->name[2] == 'v' &&
		 vi->name[3] == '/' && vi->name[4] == 'z')   /* shared anon */
		vi->backing = EMT_BPF_BACK_SHARED;
	else if ((mode & S_IFMT) != S_IFREG)
		vi->backing = EMT_BPF_BACK_OTHER;
	else if (in_memory_fs(BPF_CORE_READ(ino, i_sb, s_magic)))
		vi->backing = EMT_BPF_BACK_OTHER;       /* a file only in memory */
	else if (nlink == 0)
		vi->backing = EMT_BPF_BACK_DELETED;
	else
		vi->backing = EMT_BPF_BACK_FILE;
}

/* bpf_find_vma callback: fills the vma_info of the scratch slot *data
 * (callback data must be on the stack: the slot number is). */
static long vma_cb(struct task_struct *task, struct vm_area_struct *vma,
		   void *data)
{
	struct scratch *sc = bpf_map_lookup_elem(&scratch, data);

	if (sc)
		vma_fill(vma, &sc->vi);
	return 0;
}

/* One maple tree node (struct maple_node, 256 bytes), read at once. */
struct mt_node_buf {
	__u64 w[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mt_node_buf);
} mt_node SEC(".maps");

/* The VMA of the current process containing addr (its address), 0 if
 * none, walked in its maple tree by hand: for the mmap-lock hooks, which
 * run with the mmap lock held by the current thread, where bpf_find_vma
 * (a trylock) always fails.  The held lock is what makes the walk safe.
 * This is mtree_range_walk() of lib/maple_tree.c for the node types a
 * VMA tree uses (leaf, range and allocation-range 64-bit nodes); each
 * node is read with one copy.  Global, so verified once. */
#define MT_NODE_MASK  255UL
#define MT_MAX_DEPTH  8
__noinline __u64 vma_find_locked(__u64 addr)
{
	struct task_struct *t = bpf_get_current_task_btf();
	unsigned long entry = (unsigned long)BPF_CORE_READ(t, mm, mm_mt.ma_root);
	unsigned long max = ~0UL;
	/* Word offsets in a node of the fields used (node types of
	 * include/linux/maple_tree.h). */
	const __u32 r_piv = bpf_core_field_offset(struct maple_range_64, pivot) / 8;
	const __u32 r_slot = bpf_core_field_offset(struct maple_range_64, slot) / 8;
	const __u32 r_end = bpf_core_field_offset(struct maple_range_64, meta) / 8;
	const __u32 a_piv = bpf_core_field_offset(struct maple_arange_64, pivot) / 8;
	const __u32 a_slot = bpf_core_field_offset(struct maple_arange_64, slot) / 8;
	const __u32 a_end = bpf_core_field_offset(struct maple_arange_64, meta) / 8;
	__u32 k = 0;
	struct mt_node_buf *nb = bpf_map_lookup_elem(&mt_node, &k);

	if (!nb)
		return 0;
	for (int depth = 0; depth < MT_MAX_DEPTH; depth++) {
		/* The root is marked (2): without the mark it holds one entry
		 * at index 0, or none.  Children of a non-leaf node are nodes,
		 * with their type in bits 3-6 and no mark. */
		if (depth == 0 && (entry & 3) != 2)
			return 0;
		if (entry <= 4096)
			return 0;
		__u32 type = (entry >> 3) & 15;
		__u32 piv, slot, npiv, end;

		if (bpf_probe_read_kernel(nb, sizeof(*nb), (void *)(entry & ~MT_NODE_MASK)))
			return 0;
		if (type == maple_arange_64) {
			piv = a_piv, slot = a_slot, npiv = 9;
			end = nb->w[a_end & 31] & 0xff;     /* meta.end: first byte */
		} else if (type == maple_leaf_64 || type == maple_range_64) {
			unsigned long last = nb->w[(r_piv + 14) & 31];

			piv = r_piv, slot = r_slot, npiv = 15;
			if (!last)
				end = nb->w[r_end & 31] & 0xff;
			else if (last == max)
				end = 14;
			else
				end = 15;
		} else {
			return 0;
		}
		__u32 off = end;
		for (__u32 i = 0; i < 15; i++) {
			if (i >= end || i >= npiv)
				break;
			unsigned long pv = nb->w[(piv + i) & 31];
			if (pv >= addr) {
				off = i;
				max = pv;
				break;
			}
		}
		entry = nb->w[(slot + (off & 15)) & 31];
		if (type == maple_leaf_64)
			return (entry & 3) == 2 ? 0 : entry;
	}
	return 0;
}

/* The current process's mapping containing addr, into the vma_info of
 * `slot` (zeroed, .found 0 if there is none); NULL for a bad slot. */
static __always_inline struct vma_info *vma_lookup(__u64 addr, __u32 slot)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct vma_info *vi = vi_scratch(slot);

	if (vi)
		bpf_find_vma(t, addr, vma_cb, &slot, 0);
	return vi;
}

static long vma_none_cb(struct task_struct *task, struct vm_area_struct *vma,
			void *data)
{
	return 0;
}

/* Whether a mapping of the current process contains addr. */
static __always_inline int vma_exists(__u64 addr)
{
	return bpf_find_vma(bpf_get_current_task_btf(), addr, vma_none_cb, NULL, 0) == 0;
}

/* vma_lookup() for a caller that holds the current mmap lock. */
static __always_inline void vma_get_locked(__u64 addr, struct vma_info *vi)
{
	struct vm_area_struct *v = (struct vm_area_struct *)vma_find_locked(addr);

	if (v)
		vma_fill(v, vi);
}

struct vma_walk {
	__u64 end;              /* vm_end of the VMA found */
	__u32 exec;
	__u32 found;
};

static long vma_walk_cb(struct task_struct *task, struct vm_area_struct *vma,
			void *data)
{
	struct vma_walk *w = data;

	w->found = 1;
	w->end = vma->vm_end;
	w->exec = !!(vma->vm_flags & VM_EXEC);
	return 0;
}

#define WALK_VMAS 8

/* Whether [a, b) may hold executable memory now: some VMA in it is
 * executable, or the range is not covered by at most WALK_VMAS VMAs (a
 * hole, or too many to look at: assume so). */
__noinline int range_has_exec(__u64 a, __u64 b)
{
	struct task_struct *t = bpf_get_current_task_btf();

	for (int i = 0; i < WALK_VMAS; i++) {
		struct vma_walk w = {};

		if (a >= b)
			return 0;
		bpf_find_vma(t, a, vma_walk_cb, &w, 0);
		if (!w.found || w.exec || w.end <= a)
			return 1;
		a = w.end;
	}
	return a < b;
}

/* ---------------------------------------------------------- copying */


/* bpf_loop callback: stops when the ring has room for one page record. */
/* The copy callbacks' data is capture_range()'s slot number. */
static long wait_page_room(__u32 i, void *data)
{
	struct copy_ctx *c = copy_of(data);

	if (!c || c->wait_budget == 0)
		return 1;
	c->wait_budget--;
	return bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) +
	       sizeof(struct emt_rec_page) + EMT_PAGE_SIZE + 64 <= cfg_rb_size;
}

static long copy_page(__u32 i, void *data)
{
	struct emt_bpf_stats *st = get_stats();
	struct copy_ctx *c = copy_of(data);
	struct emt_rec_page *r;
	__u64 a;
	char probe;
	long err;

	if (!c || i >= c->npages)
		return 1;
	a = c->addr + (__u64)i * EMT_PAGE_SIZE;
	/* A one-byte probe first: a page that is not resident would waste a
	 * 4 KiB reservation (sparse 64 MiB ranges are mostly such pages). */
	err = bpf_probe_read_user(&probe, 1, (void *)a);
	if (!err && c->ovf) {
		/* Leave 1 MiB of the overflow ring to other threads' holds. */
		if (bpf_ringbuf_query(&rb_ovf, BPF_RB_AVAIL_DATA) + 2 * EMT_PAGE_SIZE +
		    (1 << 20) > cfg_ovf_size)
			goto dropped;
		r = bpf_ringbuf_reserve(&rb_ovf, sizeof(*r) + EMT_PAGE_SIZE, 0);
		if (!r)
			goto dropped;
		err = bpf_probe_read_user((void *)(r + 1), EMT_PAGE_SIZE, (void *)a);
		if (!err) {
			r->type = EMT_REC_PAGE;
			r->err = 0;
			r->cap_id = c->cap_id;
			r->index = i;
			bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
			if (st)
				st->pages++;
			return 0;
		}
		bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
	} else if (!err) {
		r = bpf_ringbuf_reserve(&rb, sizeof(*r) + EMT_PAGE_SIZE, 0);
		if (!r && cfg_lossless && c->may_wait && c->wait_budget) {
			/* A range larger than the ring (qemu's 128 MiB RWX
			 * buffer at exit): wait, bounded, for the consumer to
			 * drain a page's worth, then try again. */
			bpf_loop(1 << 23, wait_page_room, data, 0);
			r = bpf_ringbuf_reserve(&rb, sizeof(*r) + EMT_PAGE_SIZE, 0);
		}
		if (!r)
			goto dropped;
		err = bpf_probe_read_user((void *)(r + 1), EMT_PAGE_SIZE, (void *)a);
		if (!err) {
			r->type = EMT_REC_PAGE;
			r->err = 0;
			r->cap_id = c->cap_id;
			r->index = i;
			bpf_ringbuf_submit(r, wake_flags(sizeof(*r) + EMT_PAGE_SIZE));
			if (st)
				st->pages++;
			return 0;
		}
		bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
	}
	if (c->ovf) {
		r = bpf_ringbuf_reserve(&rb_ovf, sizeof(*r), 0);
	} else {
		r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
		if (!r && cfg_lossless && c->may_wait && c->wait_budget) {
			bpf_loop(1 << 23, wait_page_room, data, 0);
			r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
		}
	}
	if (!r)
		goto dropped;
	r->type = EMT_REC_PAGE_FAIL;
	r->err = (__s32)err;
	r->cap_id = c->cap_id;
	r->index = i;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	c->nfailed++;
	if (st)
		st->pages_failed++;
	return 0;
dropped:
	if (cfg_lossless && !c->may_wait) {
		/* A range that cannot change after the syscall: the held
		 * thread's page is read by userspace instead (a page with no
		 * record at all is read like a failed one). */
		c->nfailed++;
		return 0;
	}
	c->ndropped++;
	count_lost(EMT_LOSS_PAGE);
	return 0;
}

static __always_inline __u64 ring_need(__u64 npages)
{
	return npages * (EMT_PAGE_SIZE + sizeof(struct emt_rec_page) + 8) + 4096;
}

/* bpf_loop callback: stops when the ring has room for c->need bytes. */
static long wait_room(__u32 i, void *data)
{
	struct copy_ctx *c = copy_of(data);

	if (!c)
		return 1;
	return bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) + c->need <= cfg_rb_size;
}

/* Copies [addr, addr+len) (page aligned) as one capture (see struct
 * cap_req). */

/* Global (not static) so that the verifier checks it once, not once per
 * call site and loop iteration. */
__noinline int capture_range(const struct cap_req *q, const struct vma_info *vi)
{
	struct emt_rec_cap_begin *b;
	struct emt_rec_cap_end *e;

	if (!q)
		return 0;
	/* Everything lives in *c rather than in locals: locals spilled
	 * around the helper calls would take this frame's stack, which is
	 * on the deepest call chain of every program. */
	__u32 slot = q->slot;
	struct copy_ctx *c = copy_of(&slot);

	if (q->len == 0 || !c)
		return 0;
	c->cap_id = __sync_fetch_and_add(&next_cap_id, 1) + 1;
	c->addr = q->addr;
	/* Larger ranges are cut (userspace records the loss); bpf_loop
	 * could not walk more than 8M pages anyway. */
	c->npages = q->len / EMT_PAGE_SIZE;
	if (c->npages > cfg_max_pages)
		c->npages = cfg_max_pages;
	c->nfailed = 0;
	c->ndropped = 0;
	c->may_wait = !q->may_defer;
	c->defer = q->defer_always;
	c->flags = 0;
	c->ovf = 0;
	/* Waiting holds the thread in the kernel: bound it per capture (about
	 * 0.1 s here) so that a consumer that cannot run (same CPU) costs
	 * losses, not a stuck target. */
	c->wait_budget = 1 << 27;

	/* munmap/exit/exec: the memory is gone after the syscall, so in
	 * lossless mode wait here, bounded, for the consumer (on another CPU)
	 * to make room for the whole range (and again per page if it is
	 * larger than the ring); whatever still does not fit is lost. */
	c->need = ring_need(c->npages);
	if (cfg_lossless && !q->may_defer &&
	    bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) + c->need > cfg_rb_size) {
		bpf_loop(1 << 22, wait_room, &slot, 0);
		stat_inc(holds);
	}
	b = rb_reserve_ovf(sizeof(*b), EMT_LOSS_CAPTURE, c);
	if (!b)
		return -1;
	fill_hdr(&b->h, EMT_REC_CAP_BEGIN);
	b->cap_id = c->cap_id;
	b->addr = q->addr;
	b->len = q->len;
	b->trigger = q->trigger;
	b->prot_before = q->prot_before;
	b->prot_after = q->prot_after;
	if (vi) {
		b->backing = vi->backing;
		b->ino = vi->ino;
		b->dev = vi->dev;
		b->pgoff = vi->pgoff;
		__builtin_memcpy(b->name, vi->name, sizeof(b->name));
	} else {
		b->backing = 0;
		b->ino = b->dev = b->pgoff = 0;
		b->name[0] = 0;
	}
	/* The bytes of a deferrable range cannot change once the syscall is
	 * done: when the ring is short of room, userspace reads them while
	 * the process is held. */
	if (!c->defer && cfg_lossless && q->may_defer &&
	    (c->ovf || bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) + c->need > cfg_rb_size))
		c->defer = 2;
	/* Make sure the consumer is awake if the thread is going to wait. */
	bpf_ringbuf_submit(b, c->defer == 2 || c->ovf ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP);
	stat_inc(captures);
	if (c->defer) {
		c->flags = EMT_CAPF_DEFERRED | EMT_CAPF_HOLD;
		stat_inc(deferred);
	} else {
		bpf_loop((__u32)c->npages, copy_page, &slot, 0);
		/* Only ranges whose bytes cannot change across the syscall
		 * (made executable here, or just mapped) are worth a hold;
		 * at munmap/exit the memory is gone when the thread stops. */
		if (c->nfailed && (q->trigger == EMT_BPF_TRIG_MPROTECT ||
				   q->trigger == EMT_BPF_TRIG_MMAP))
			c->flags = EMT_CAPF_HOLD;
	}

	if (c->ovf) {
		e = bpf_ringbuf_reserve(&rb_ovf, sizeof(*e), 0);
		if (!e)
			count_lost(EMT_LOSS_RECORD);
	} else {
		e = rb_reserve_ovf(sizeof(*e), EMT_LOSS_RECORD, c);
	}
	if (!e)
		return -1;
	__u64 pt = bpf_get_current_pid_tgid();
	e->type = EMT_REC_CAP_END;
	e->flags = (__u32)c->flags;
	e->cap_id = c->cap_id;
	e->npages = c->npages;
	e->nfailed = c->nfailed;
	e->ndropped = c->ndropped;
	e->pid = pt >> 32;
	e->tid = (__u32)pt;
	if (c->flags & EMT_CAPF_HOLD) {
		/* Stop the whole process on its way back to user mode; the
		 * consumer must see this record at once to resume it. */
		bpf_send_signal_thread(SIGSTOP);
		stat_inc(holds);
		bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	} else {
		bpf_ringbuf_submit(e, c->ovf ? BPF_RB_FORCE_WAKEUP : wake_flags(sizeof(*e)));
	}
	return 0;
}

/* ------------------------------------------------------- RWX table */

static __always_inline struct emt_rwx_table *rwx_get(__u32 tgid, int create)
{
	struct emt_rwx_table *t = bpf_map_lookup_elem(&rwx, &tgid);
	__u32 k = 0;

	if (t || !create)
		return t;
	struct emt_rwx_table *z = bpf_map_lookup_elem(&rwx_zero, &k);
	if (!z)
		return NULL;
	bpf_map_update_elem(&rwx, &tgid, z, BPF_NOEXIST);
	t = bpf_map_lookup_elem(&rwx, &tgid);
	if (!t) {
		/* The table of tables is full: this range goes untracked. */
		struct emt_bpf_stats *st = get_stats();
		if (st)
			st->rwx_full++;
	}
	return t;
}

/* The table helpers below are global functions: each is verified once
 * instead of once per place it is inlined into, and its locals take a
 * frame of its own instead of adding to the caller's (stack budget). */

/* Removes [a, b) from the table; a range cut in the middle keeps its
 * left part and moves the right part to a free slot, or stays whole if
 * there is none (capturing a little more than needed is harmless). */
__noinline int rwx_cut(struct emt_rwx_table *t, __u64 a, __u64 b)
{
	if (!t)
		return 0;
	for (__u32 i = 0; i < EMT_RWX_SLOTS; i++) {
		__u64 s = t->addr[i], e = s + t->len[i];
		if (!t->len[i] || e <= a || s >= b)
			continue;
		if (a <= s && b >= e) {
			t->len[i] = 0;
		} else if (a <= s) {
			t->addr[i] = b;
			t->len[i] = e - b;
		} else if (b >= e) {
			t->len[i] = a - s;
		} else {
			for (__u32 j = 0; j < EMT_RWX_SLOTS; j++) {
				if (t->len[j])
					continue;
				t->addr[j] = b;
				t->len[j] = e - b;
				t->prot[j] = t->prot[i];
				t->len[i] = a - s;
				break;
			}
		}
	}
	return 0;
}

__noinline int rwx_add(__u32 tgid, __u64 a, __u64 len, __u32 prot)
{
	struct emt_rwx_table *t = rwx_get(tgid, 1);

	if (!t)
		return 0;
	rwx_cut(t, a, a + len);
	for (__u32 i = 0; i < EMT_RWX_SLOTS; i++) {
		if (t->len[i])
			continue;
		t->addr[i] = a;
		t->len[i] = len;
		t->prot[i] = prot;
		return 0;
	}
	stat_inc(rwx_full);
	return 0;
}

/* Captures every tracked RWX range overlapping [a, b) (all if b == 0),
 * for the program of scratch `slot`; `how`: the trigger, and the
 * protections after in bits 16 and up (five arguments at most). */
__noinline int rwx_capture_how(__u32 slot, __u32 tgid, __u64 a, __u64 b, __u32 how)
{
	struct emt_rwx_table *t = rwx_get(tgid, 0);
	struct scratch *sc = scratch_of(slot);
	__u32 trigger = how & 0xffff, prot_after = how >> 16;

	if (!t || !sc)
		return 0;
	for (__u32 i = 0; i < EMT_RWX_SLOTS; i++) {
		__u64 s = t->addr[i], e = s + t->len[i];
		if (!t->len[i])
			continue;
		if (b) {
			if (e <= a || s >= b)
				continue;
			if (s < a)
				s = a;
			if (e > b)
				e = b;
		}
		sc->q = (struct cap_req){ s, e - s, trigger, t->prot[i], prot_after,
					  0, 0, slot };
		capture_range(&sc->q, NULL);
	}
	return 0;
}

#define rwx_capture(slot, tgid, a, b, trigger, prot_after) \
	rwx_capture_how((slot), (tgid), (a), (b), (trigger) | (prot_after) << 16)

static __always_inline int table_overlaps(struct emt_rwx_table *t, __u64 a, __u64 b)
{
	for (__u32 i = 0; i < EMT_RWX_SLOTS; i++)
		if (t->len[i] && t->addr[i] < b && t->addr[i] + t->len[i] > a)
			return 1;
	return 0;
}

/* [a, a+len) stops being executable (mprotect without PROT_EXEC). */
__noinline int wasx_add(__u32 tgid, __u64 a, __u64 len)
{
	struct emt_rwx_table *t = bpf_map_lookup_elem(&wasx, &tgid);
	__u32 k = 0;

	if (!t) {
		struct emt_rwx_table *z = bpf_map_lookup_elem(&rwx_zero, &k);

		if (!z)
			return 0;
		bpf_map_update_elem(&wasx, &tgid, z, BPF_NOEXIST);
		t = bpf_map_lookup_elem(&wasx, &tgid);
		if (!t)
			return 0;
	}
	if (t->prot[0] == ~0u)
		return 0;
	rwx_cut(t, a, a + len);
	for (__u32 i = 0; i < EMT_RWX_SLOTS; i++) {
		if (t->len[i])
			continue;
		t->addr[i] = a;
		t->len[i] = len;
		t->prot[i] = 0;
		return 0;
	}
	t->prot[0] = ~0u;       /* full: from now on every munmap matters */
	return 0;
}

/* Whether userspace needs to hear of munmap(a, len): only if it may close
 * a region, i.e. the range holds executable memory, or memory that was
 * executable (wasx), or tracked RWX memory.  Most munmaps of most
 * programs (malloc) free data: they cost neither a record nor a hash
 * entry. */
__noinline int munmap_matters(__u32 tgid, __u64 a, __u64 len)
{
	struct emt_rwx_table *t = bpf_map_lookup_elem(&wasx, &tgid);

	if (t && (t->prot[0] == ~0u || table_overlaps(t, a, a + len)))
		return 1;
	t = bpf_map_lookup_elem(&rwx, &tgid);
	if (t && table_overlaps(t, a, a + len))
		return 1;
	return range_has_exec(a, a + len);
}

/* ------------------------------------------------------ tracepoints */

static __always_inline __u64 page_up(__u64 x)
{
	return (x + EMT_PAGE_SIZE - 1) & ~((__u64)EMT_PAGE_SIZE - 1);
}

/* A non-executable mmap that replaces nothing: of no interest, and most
 * programs make many (malloc), so every hook drops it before any map
 * access.  MAP_FIXED ones may replace a tracked region. */
static __always_inline int dull_mmap(const struct pt_regs *regs, __u64 id)
{
	return id == NR_MMAP && !(regs->dx & PROT_EXEC) && !(regs->r10 & MAP_FIXED);
}

/* The start of one of the memory syscalls (or execve / exit_group) of a
 * followed process, before it changes anything: copies what must be
 * copied now and keeps the arguments for syscall_done().  `regs` are the
 * thread's user registers at syscall entry. */
static __always_inline int syscall_start(struct pt_regs *regs, __u64 id, __u32 slot)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32, tid = (__u32)pt;

	if (dull_mmap(regs, id) || !is_followed(tgid))
		return 0;

	struct scratch *sc = scratch_of(slot);

	if (!sc)
		return 0;
	/* The pending record is filled in the scratch and inserted into
	 * `pending` only at the end: until then a nested emt_lock_released
	 * (run by the mmap lock bpf_find_vma takes and drops) finds no
	 * pending syscall of this thread and does nothing. */
	struct emt_pending *p = &sc->p;

	__builtin_memset(p, 0, sizeof(*p));
	p->nr = id;
	p->args[0] = regs->di;
	p->args[1] = regs->si;
	p->args[2] = regs->dx;
	p->args[3] = regs->r10;
	p->args[4] = regs->r8;
	p->args[5] = regs->r9;
	p->enter_ns = bpf_ktime_get_boot_ns();

	__u64 a0 = p->args[0], len = page_up(p->args[1]);

	switch (id) {
	case NR_MPROTECT:
	case NR_PKEY_MPROTECT: {
		__u32 prot = (__u32)p->args[2] & (PROT_READ | PROT_WRITE | PROT_EXEC);

		if (a0 & (EMT_PAGE_SIZE - 1) || len == 0)
			break;   /* the kernel refuses it */
		if (prot & PROT_EXEC) {
			struct vma_info *vi = vma_lookup(a0, slot);

			if (!vi)
				break;
			sc->q = (struct cap_req){ a0, len, EMT_BPF_TRIG_MPROTECT, vi->prot,
						  prot, !(prot & PROT_WRITE), 0, slot };
			capture_range(&sc->q, vi);
		} else if (!(prot & PROT_WRITE)) {
			rwx_capture(slot, tgid, a0, a0 + len, EMT_BPF_TRIG_PROTECT_W, prot);
		}
		/* Executable memory made non-executable keeps its region:
		 * its later munmap must be seen. */
		if (!(prot & PROT_EXEC) && range_has_exec(a0, a0 + len))
			wasx_add(tgid, a0, len);
		break;
	}
	case NR_MUNMAP:
		if (!munmap_matters(tgid, a0, len))
			return 0;
		rwx_capture(slot, tgid, a0, a0 + len, EMT_BPF_TRIG_MUNMAP, 0);
		break;
	case NR_MMAP:
		/* For the mmap-lock hooks, which cannot see EEXIST. */
		if (p->args[3] & MAP_FIXED_NOREPLACE)
			p->pre = vma_exists(a0) || vma_exists(a0 + len - 1);
		/* MAP_FIXED over tracked RWX memory unmaps it: its last
		 * content is captured before the new mapping replaces it. */
		if (p->args[3] & MAP_FIXED)
			rwx_capture(slot, tgid, a0, a0 + len, EMT_BPF_TRIG_MUNMAP, 0);
		break;
	case NR_MREMAP:
		rwx_capture(slot, tgid, a0, a0 + len, EMT_BPF_TRIG_MUNMAP, 0);
		break;
	case NR_EXECVE:
	case NR_EXECVEAT:
		rwx_capture(slot, tgid, 0, 0, EMT_BPF_TRIG_EXEC, 0);
		return 0;
	case NR_EXIT_GROUP:
		rwx_capture(slot, tgid, 0, 0, EMT_BPF_TRIG_EXIT, 0);
		/* Captured: the exit tracepoint below must not do it again. */
		bpf_map_delete_elem(&rwx, &tgid);
		return 0;
	}
	bpf_map_update_elem(&pending, &tid, p, BPF_ANY);
	return 0;
}

/* The end of a syscall that syscall_start() kept (p): updates the RWX
 * tables from its result `ret`, copies what a new mapping makes
 * executable, and sends the syscall record to the timeline.  *vi (per-CPU
 * scratch, zeroed): the mapping at the result's address, already looked
 * up if `have` (mmap-lock hooks), else looked up here where needed. */
static __always_inline int syscall_done(struct emt_pending *p, long ret,
					struct vma_info *vi, int have, __u32 slot)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u32 tgid = pt >> 32, tid = (__u32)pt;
	struct emt_rec_syscall *r;

	__u64 nr = p->nr;
	__u64 a0 = p->args[0], a1 = p->args[1], a2 = p->args[2];
	__u64 a3 = p->args[3];
	int ok = ret >= 0 || ret < -4095;

	if (nr == NR_MMAP && ok) {
		__u64 addr = (__u64)ret, len = page_up(a1);
		__u32 prot = (__u32)a2 & (PROT_READ | PROT_WRITE | PROT_EXEC);

		if (a3 & MAP_FIXED) {
			struct emt_rwx_table *t = rwx_get(tgid, 0);
			if (t)
				rwx_cut(t, addr, addr + len);
		}
		if (!have)
			vma_lookup(addr, slot);
		if (prot & PROT_EXEC) {
			int copy = vi->backing == EMT_BPF_BACK_MEMFD ||
				   vi->backing == EMT_BPF_BACK_DELETED ||
				   vi->backing == EMT_BPF_BACK_OTHER ||
				   (vi->backing == EMT_BPF_BACK_FILE && cfg_capture_files);
			/* A fresh mapping has no pages in its page tables:
			 * bpf_probe_read_user would fail on every page, so the
			 * bytes are read by userspace while the thread is held
			 * on its way back to user mode. */
			struct scratch *sc = scratch_of(slot);

			if (copy && sc) {
				sc->q = (struct cap_req){ addr, len, EMT_BPF_TRIG_MMAP,
							  0, prot, 1, 1, slot };
				capture_range(&sc->q, vi);
			}
			if ((prot & PROT_WRITE) ||
			    (vi->shared && vi->backing != EMT_BPF_BACK_FILE))
				rwx_add(tgid, addr, len, prot);
		}
	} else if ((nr == NR_MPROTECT || nr == NR_PKEY_MPROTECT) && ret == 0) {
		__u32 prot = (__u32)a2 & (PROT_READ | PROT_WRITE | PROT_EXEC);
		__u64 len = page_up(a1);
		if ((prot & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC)) {
			rwx_add(tgid, a0, len, prot);
		} else if (prot & PROT_EXEC) {
			/* A writable shared view elsewhere keeps this one live. */
			if (!have)
				vma_lookup(a0, slot);
			struct emt_rwx_table *t = rwx_get(tgid, 0);
			if (vi->shared && vi->backing != EMT_BPF_BACK_FILE)
				rwx_add(tgid, a0, len, prot);
			else if (t)
				rwx_cut(t, a0, a0 + len);
		} else {
			struct emt_rwx_table *t = rwx_get(tgid, 0);
			if (t)
				rwx_cut(t, a0, a0 + len);
		}
	} else if (nr == NR_MUNMAP && ret == 0) {
		struct emt_rwx_table *t = rwx_get(tgid, 0);
		if (t)
			rwx_cut(t, a0, a0 + page_up(a1));
		t = bpf_map_lookup_elem(&wasx, &tgid);
		if (t && t->prot[0] != ~0u)
			rwx_cut(t, a0, a0 + page_up(a1));
	} else if (nr == NR_MREMAP && ok) {
		struct emt_rwx_table *t = rwx_get(tgid, 0);
		if (t)
			rwx_cut(t, a0, a0 + page_up(a1));
		/* The mapping lives on at its new place (and size): keep
		 * tracking it there if it is still RWX or shared exec. */
		__u64 addr = (__u64)ret;
		if (!have)
			vma_lookup(addr, slot);
		if (vi->found && (vi->prot & PROT_EXEC) &&
		    ((vi->prot & PROT_WRITE) ||
		     (vi->shared && vi->backing != EMT_BPF_BACK_FILE)))
			rwx_add(tgid, addr, page_up(a2), vi->prot);
	}

	int ovf = 0;

	r = rb_reserve(sizeof(*r), EMT_LOSS_RECORD, &ovf);
	if (!r) {
		bpf_map_delete_elem(&pending, &tid);
		return 0;
	}
	fill_hdr(&r->h, EMT_REC_SYSCALL);
	r->nr = nr;
	__builtin_memcpy(r->args, p->args, sizeof(r->args));
	r->ret = ret;
	r->enter_ns = p->enter_ns;
	r->backing = vi->backing;
	r->pad = 0;
	r->ino = vi->ino;
	r->dev = vi->dev;
	__builtin_memcpy(r->name, vi->name, sizeof(r->name));
	rb_submit(r, sizeof(*r), ovf, 1);
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}


/* ---------------------------------------------- syscall tracepoints */
/* The fallback hooks: every syscall of every process of the system takes
 * the tracepoint's slow path while these are attached (about 35 ns a
 * syscall here), so they are used only where the mmap-lock hooks below
 * cannot be (userspace chooses, see capture/bpf_engine.c). */

SEC("tp_btf/sys_enter")
int BPF_PROG(emt_sys_enter, struct pt_regs *regs, long id)
{
	switch (id) {
	case NR_MMAP: case NR_MPROTECT: case NR_MUNMAP: case NR_MREMAP:
	case NR_EXECVE: case NR_EXIT_GROUP: case NR_EXECVEAT:
	case NR_PKEY_MPROTECT:
		break;
	default:
		return 0;
	}
	return syscall_start(regs, (__u64)id, SLOT_SYS_ENTER);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(emt_sys_exit, struct pt_regs *regs, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct emt_pending *p;

	/* Every syscall of the system comes here: filter on the number
	 * before the hash lookup. */
	switch (regs->orig_ax) {
	case NR_MMAP: case NR_MPROTECT: case NR_MUNMAP: case NR_MREMAP:
	case NR_PKEY_MPROTECT:
		break;
	default:
		return 0;
	}
	p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	struct vma_info *vi = vi_scratch(SLOT_SYS_EXIT);

	if (!vi)
		return 0;
	return syscall_done(p, ret, vi, 0, SLOT_SYS_EXIT);
}

/* -------------------------------------------------- mmap-lock hooks */
/* mmap, mprotect, pkey_mprotect, munmap and mremap each take the mmap
 * lock of the caller for writing once, after checking their arguments
 * and before changing anything, and execve takes it for reading at its
 * point of no return, just before the old image is dropped.  The
 * mmap_lock tracepoints fire only then (and on the rare page fault that
 * falls back from the per-VMA lock), so unlike the syscall tracepoints
 * they cost the rest of the system nothing.  The syscall is identified
 * from the thread's user registers: orig_ax is its number, and ax still
 * holds -ENOSYS while its body runs (the entry code puts it there; the
 * return value replaces it), which tells a lock taken by the syscall
 * from one taken after it (a fault while a signal frame is written). */

#define ENOSYS_RET ((__u64)-38)
#define MREMAP_FIXED 2
#define PMD_SIZE (2ull << 20)
/* What the timeline gets for a failed syscall under these hooks: the
 * errno is not seen, only that the change did not happen (SPEC.md 5.9). */
#define RET_FAILED (-4095L)

static __always_inline struct pt_regs *syscall_regs(struct mm_struct *mm)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (t->mm != mm)
		return NULL;    /* another process's memory (procfs, ptrace, ours) */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	if (!regs || regs->ax != ENOSYS_RET)
		return NULL;
	return regs;
}

/* Whether the current thread is inside execve's point of no return: the
 * exec_update_lock of its signal struct is write-held by it. */
static __always_inline int in_exec_commit(void)
{
	struct task_struct *t = bpf_get_current_task_btf();
	long owner = BPF_CORE_READ(t, signal, exec_update_lock.owner.counter);

	return (owner & ~7L) == (long)t;
}


/* ------------------------------------------------------ injections */
/* Writes into another process's memory (issue 15; emt_bpf.h says what is
 * recorded).  process_vm_writev (pin_user_pages_remote), PTRACE_POKE*
 * (ptrace_access_vm) and writes to /proc/PID/mem (mem_rw) all take the
 * victim's mmap lock from the writer's thread, whose own user registers
 * still say which syscall it is in: so the mmap_lock tracepoint that the
 * memory syscalls use already sees them, at no cost to anything else.
 * The bytes are not copied here: process_vm_writev copies after it drops
 * the lock, mem_rw page by page under it.  The writer is held instead and
 * userspace reads the victim once the call is over. */

#define PTRACE_POKETEXT      4
#define PTRACE_POKEDATA      5
#define PROC_SUPER_MAGIC     0x9fa0

/* emt-capture's own tgid: its reads are not injections (set at load). */
const volatile __u32 cfg_self = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct emt_inj_seen);
} inj_seen SEC(".maps");

/* Whether fd of the current process is open on a /proc/.../mem file;
 * *pos gets its file position. */
static __always_inline int proc_mem_fd(__u64 fd, __u64 *pos)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	char nm[4] = {};

	if (fd >= BPF_CORE_READ(fdt, max_fds) ||
	    bpf_probe_read_kernel(&f, sizeof(f), &fds[fd & 0xffffffff]) || !f)
		return 0;
	if (BPF_CORE_READ(f, f_inode, i_sb, s_magic) != PROC_SUPER_MAGIC)
		return 0;
	bpf_probe_read_kernel(nm, sizeof(nm), BPF_CORE_READ(f, f_path.dentry, d_name.name));
	if (nm[0] != 'm' || nm[1] != 'e' || nm[2] != 'm' || nm[3])
		return 0;
	*pos = BPF_CORE_READ(f, f_pos);
	return 1;
}

/* A BTF pointer as a plain number: a global function takes scalars (and
 * the verifier keeps a cast pointer a pointer). */
static __always_inline __u64 as_number(const void *p)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

/* The current thread takes the mmap lock of mm (an address, passed as a
 * number so that this global function is verified once): if mm is not its
 * own and the thread is in one of the writing syscalls, with the writer or
 * the victim followed, records the call once and holds the writer. */
__noinline int remote_lock(__u64 mm)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs;
	__u64 pt = bpf_get_current_pid_tgid(), pos = 0;
	__u32 tgid = pt >> 32, tid = (__u32)pt, method, victim = 0, flags = 0;

	if (!t->mm || (__u64)t->mm == mm || tgid == cfg_self)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(t);
	if (!regs || regs->ax != ENOSYS_RET)
		return 0;
	switch (regs->orig_ax) {
	case EMT_NR_PROCESS_VM_WRITEV:
		method = EMT_INJ_VM_WRITEV;
		break;
	case EMT_NR_PTRACE:
		if (regs->di == PTRACE_POKETEXT)
			method = EMT_INJ_POKETEXT;
		else if (regs->di == PTRACE_POKEDATA)
			method = EMT_INJ_POKEDATA;
		else
			return 0;
		break;
	case EMT_NR_WRITE: case EMT_NR_PWRITE64: case EMT_NR_WRITEV: case EMT_NR_PWRITEV:
	case EMT_NR_PWRITEV2:
		method = EMT_INJ_PROC_MEM;
		break;
	default:
		return 0;
	}
	if (bpf_core_field_exists(((struct mm_struct *)0)->owner))
		victim = BPF_CORE_READ((struct mm_struct *)mm, owner, tgid);
	if (is_followed(tgid))
		flags |= EMT_INJF_WRITER_FOLLOWED;
	if (victim && is_followed(victim))
		flags |= EMT_INJF_VICTIM_FOLLOWED;
	if (!flags)
		return 0;
	if (method == EMT_INJ_PROC_MEM && !proc_mem_fd(regs->di, &pos))
		return 0;       /* another /proc file (clear_refs...) */

	/* mem_rw takes the lock once a page, process_vm_writev once a batch
	 * of pages: the same call is recorded once. */
	struct emt_inj_seen seen = { regs->orig_ax, { regs->di, regs->si, regs->dx, regs->r10 } };
	struct emt_inj_seen *old = bpf_map_lookup_elem(&inj_seen, &tid);

	if (old && old->nr == seen.nr && old->args[0] == seen.args[0] &&
	    old->args[1] == seen.args[1] && old->args[2] == seen.args[2] &&
	    old->args[3] == seen.args[3])
		return 0;
	bpf_map_update_elem(&inj_seen, &tid, &seen, BPF_ANY);

	int ovf = 0;
	struct emt_rec_inject *r = rb_reserve(sizeof(*r), EMT_LOSS_RECORD, &ovf);

	if (!r)
		return 0;
	fill_hdr(&r->h, EMT_REC_INJECT);
	r->victim = victim;
	r->method = method;
	r->nr = regs->orig_ax;
	r->args[0] = regs->di;
	r->args[1] = regs->si;
	r->args[2] = regs->dx;
	r->args[3] = regs->r10;
	r->args[4] = regs->r8;
	r->args[5] = regs->r9;
	r->pos = pos;
	r->flags = flags;
	r->pad = 0;
	/* Stopped on its way back to user mode, the write done. */
	bpf_send_signal_thread(SIGSTOP);
	stat_inc(holds);
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* remote_lock() for a lock of mm, called only when mm is not the current
 * thread's own: most locks are, and cost no more than this test. */
static __always_inline int foreign_lock(struct mm_struct *mm)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (!t->mm || t->mm == mm)
		return 0;
	return remote_lock(as_number(mm));
}

/* The syscall hooks' load (sys_enter/sys_exit) still sees injections
 * through the mmap_lock tracepoint where the kernel has it: these run
 * remote_lock() alone (userspace loads the variant of the kernel's
 * prototype, as for the lock hooks). */
SEC("tp_btf/mmap_lock_start_locking")
int BPF_PROG(emt_inject_lock, struct mm_struct *mm, bool write)
{
	return foreign_lock(mm);
}

SEC("tp_btf/mmap_lock_start_locking")
int BPF_PROG(emt_inject_lock_memcg, struct mm_struct *mm, const char *memcg_path, bool write)
{
	return foreign_lock(mm);
}

static __always_inline int lock_start(struct mm_struct *mm, bool write)
{
	struct pt_regs *regs = syscall_regs(mm);

	if (!regs)
		return foreign_lock(mm);    /* injections */
	__u64 id = regs->orig_ax;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	switch (id) {
	case NR_MMAP: case NR_MPROTECT: case NR_MUNMAP: case NR_MREMAP:
	case NR_PKEY_MPROTECT:
		/* Their own lock is the write lock; a read lock after it
		 * (MAP_POPULATE, mlocked mremap) is not a new syscall. */
		if (!write || dull_mmap(regs, id) || bpf_map_lookup_elem(&pending, &tid))
			return 0;
		return syscall_start(regs, id, SLOT_LOCK_START);
	case NR_EXECVE: case NR_EXECVEAT:
		/* Only the lock of the commit: execve may still fail before
		 * it, and faults before it take the lock too. */
		if (write || !in_exec_commit())
			return 0;
		return syscall_start(regs, id, SLOT_LOCK_START);
	}
	return 0;
}

SEC("tp_btf/mmap_lock_start_locking")
int BPF_PROG(emt_lock_start, struct mm_struct *mm, bool write)
{
	return lock_start(mm, write);
}

/* The same for kernels whose mmap_lock tracepoints still pass the memcg
 * path (6.1, Debian 12's); userspace loads the one the kernel's BTF
 * describes (capture/bpf_load.c). */
SEC("tp_btf/mmap_lock_start_locking")
int BPF_PROG(emt_lock_start_memcg, struct mm_struct *mm, const char *memcg_path, bool write)
{
	return lock_start(mm, write);
}

/* Where the kernel placed a new mapping (mmap without MAP_FIXED, mremap
 * that moves): kept for emt_lock_released. */
SEC("tp_btf/vm_unmapped_area")
int BPF_PROG(emt_unmapped_area, unsigned long addr, struct vm_unmapped_area_info *info)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!regs || (regs->orig_ax != NR_MMAP && regs->orig_ax != NR_MREMAP) ||
	    dull_mmap(regs, regs->orig_ax))
		return 0;
	struct emt_pending *p = bpf_map_lookup_elem(&pending, &tid);
	if (p && !(addr & (EMT_PAGE_SIZE - 1)))
		p->vua = addr;
	return 0;
}

struct vma_span {
	__u64 start, end;
	__u32 prot, found;
};

/* Bounds and protections of the mapping containing addr (mmap lock held). */
static __always_inline void span_locked(__u64 addr, struct vma_span *sp)
{
	struct vm_area_struct *v = (struct vm_area_struct *)vma_find_locked(addr);

	if (!v)
		return;
	sp->found = 1;
	sp->start = BPF_CORE_READ(v, vm_start);
	sp->end = BPF_CORE_READ(v, vm_end);
	sp->prot = vm_prot(BPF_CORE_READ(v, vm_flags));
}

/* Whether a mapping now covers `addr` with protections `prot` (~0: any),
 * into *vi; the caller holds the mmap lock. */
static __always_inline int mapped_at(__u64 addr, __u32 prot, struct vma_info *vi)
{
	__builtin_memset(vi, 0, sizeof(*vi));
	if (!addr)
		return 0;
	vma_get_locked(addr, vi);
	return vi->found && vi->start <= addr && addr < vi->end &&
	       (prot == ~0u || vi->prot == prot);
}

/* The address a new mapping got, given the free area the kernel found
 * for it (cand) and its file offset: a large anonymous or shmem mapping
 * is placed inside a larger area so that it can use huge pages, the way
 * __thp_get_unmapped_area does (aligned to the offset, or one huge page
 * up when the area already is, top-down). */
static __always_inline __u64 placed(__u64 cand, __u64 off, __u32 prot,
				    struct vma_info *vi)
{
	__u64 sub = (off - cand) & (PMD_SIZE - 1);

	if (mapped_at(cand, prot, vi))
		return cand;
	if (sub && mapped_at(cand + sub, prot, vi))
		return cand + sub;
	if (!sub && mapped_at(cand + PMD_SIZE, prot, vi))
		return cand + PMD_SIZE;
	return 0;
}

/* Whether [a, a+len) is all mapped with protections prot (looking at no
 * more than COVER_VMAS mappings: beyond that, assumed); *vi gets the
 * mapping at a. */
#define COVER_VMAS 4
static __always_inline int covered(__u64 a, __u64 len, __u32 prot, struct vma_info *vi)
{
	__u64 end = a + len;

	if (!mapped_at(a, prot, vi))
		return 0;
	a = vi->end;
	for (int i = 1; i < COVER_VMAS && a < end; i++) {
		struct vma_span sp = {};

		span_locked(a, &sp);
		if (!sp.found || sp.start > a || sp.end <= a || sp.prot != prot)
			return 0;
		a = sp.end;
	}
	return 1;
}

/* The result of the syscall kept in p, read from the mappings it leaves
 * (the return value itself is not visible from here); *vi gets the
 * mapping at the result's address. */
static __always_inline long lock_result(struct emt_pending *p, struct vma_info *vi)
{
	__u64 a0 = p->args[0], a3 = p->args[3];
	__u32 prot = (__u32)p->args[2] & (PROT_READ | PROT_WRITE | PROT_EXEC);
	__u64 at = 0;

	switch (p->nr) {
	case NR_MMAP:
		if (a3 & MAP_FIXED_NOREPLACE && p->pre)
			at = 0;         /* EEXIST */
		else if (a3 & (MAP_FIXED | MAP_FIXED_NOREPLACE))
			at = mapped_at(a0, prot, vi) ? a0 : 0;
		else if (p->vua)
			at = placed(p->vua, p->args[5], prot, vi);
		else    /* the hint was free: no search */
			at = mapped_at(a0 & ~(__u64)(EMT_PAGE_SIZE - 1), prot, vi) ?
			     a0 & ~(__u64)(EMT_PAGE_SIZE - 1) : 0;
		return at ? (long)at : RET_FAILED;
	case NR_MPROTECT:
	case NR_PKEY_MPROTECT:
		/* A hole fails the call after the mappings before it changed. */
		return covered(a0, (p->args[1] + EMT_PAGE_SIZE - 1) & ~(__u64)(EMT_PAGE_SIZE - 1),
			       prot, vi) ? 0 : RET_FAILED;
	case NR_MUNMAP:
		return mapped_at(a0, ~0u, vi) ? RET_FAILED : 0;
	case NR_MREMAP:
		if (a3 & MREMAP_FIXED)
			at = p->args[4];
		else if (p->vua)
			at = placed(p->vua, 0, ~0u, vi);
		else
			at = a0;
		return mapped_at(at, ~0u, vi) ? (long)at : RET_FAILED;
	}
	return RET_FAILED;
}

static __always_inline int lock_released(struct mm_struct *mm)
{
	struct pt_regs *regs = syscall_regs(mm);

	if (!regs)
		return 0;
	switch (regs->orig_ax) {
	case NR_MMAP: case NR_MPROTECT: case NR_MUNMAP: case NR_MREMAP:
	case NR_PKEY_MPROTECT:
		break;
	default:
		return 0;
	}
	if (dull_mmap(regs, regs->orig_ax))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct emt_pending *p = bpf_map_lookup_elem(&pending, &tid);

	if (!p)
		return 0;
	struct vma_info *vi = vi_scratch(SLOT_LOCK_RELEASED);

	if (!vi)
		return 0;
	long ret = lock_result(p, vi);

	/* Only what the call mapped or changed describes it. */
	if (ret == RET_FAILED || p->nr == NR_MUNMAP)
		__builtin_memset(vi, 0, sizeof(*vi));

	return syscall_done(p, ret, vi, 1, SLOT_LOCK_RELEASED);
}

SEC("tp_btf/mmap_lock_released")
int BPF_PROG(emt_lock_released, struct mm_struct *mm, bool write)
{
	return lock_released(mm);
}

SEC("tp_btf/mmap_lock_released")
int BPF_PROG(emt_lock_released_memcg, struct mm_struct *mm, const char *memcg_path,
	     bool write)
{
	return lock_released(mm);
}

static __always_inline void task_rec(__u32 type, __u32 pid, __u32 other,
				     __s32 code, __u32 group_dead)
{
	int ovf = 0;
	struct emt_rec_task *r = rb_reserve(sizeof(*r), EMT_LOSS_RECORD, &ovf);

	if (!r)
		return;
	fill_hdr(&r->h, type);
	r->h.pid = pid;
	r->other = other;
	r->exit_code = code;
	r->group_dead = group_dead;
	r->pad = 0;
	/* Process life-cycle records are rare and userspace acts on them
	 * (exit ends the capture): wake it now.  A dying process is not
	 * stopped. */
	if (ovf && type == EMT_REC_FORK)
		bpf_send_signal_thread(SIGSTOP);
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(emt_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = parent->tgid, ctgid = child->tgid;
	__u32 one = 1;

	if (ptgid == ctgid || !cfg_follow || !is_followed(ptgid))
		return 0;
	bpf_map_update_elem(&followed, &ctgid, &one, BPF_ANY);
	/* The child starts with a copy of the parent's mappings. */
	struct emt_rwx_table *t = bpf_map_lookup_elem(&rwx, &ptgid);
	if (t)
		bpf_map_update_elem(&rwx, &ctgid, t, BPF_ANY);
	t = bpf_map_lookup_elem(&wasx, &ptgid);
	if (t)
		bpf_map_update_elem(&wasx, &ctgid, t, BPF_ANY);
	task_rec(EMT_REC_FORK, ptgid, ctgid, 0, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(emt_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	__u32 tgid = p->tgid;
	struct emt_rec_exec *r;

	if (!is_followed(tgid))
		return 0;
	bpf_map_delete_elem(&rwx, &tgid);
	bpf_map_delete_elem(&wasx, &tgid);
	int ovf = 0;

	r = rb_reserve(sizeof(*r), EMT_LOSS_RECORD, &ovf);
	if (!r)
		return 0;
	fill_hdr(&r->h, EMT_REC_EXEC);
	r->h.pid = tgid;
	r->old_pid = (__u32)old_pid;
	r->filename[0] = 0;
	bpf_probe_read_kernel_str(r->filename, sizeof(r->filename),
				  BPF_CORE_READ(bprm, filename));
	/* The arguments were just copied to the new stack: resident. */
	__u64 a = BPF_CORE_READ(p, mm, arg_start);
	__u64 e = BPF_CORE_READ(p, mm, arg_end);
	__u64 n = e > a ? e - a : 0;
	if (n > EMT_EXEC_ARGS_LEN)
		n = EMT_EXEC_ARGS_LEN;
	r->args_len = 0;
	if (n && bpf_probe_read_user(r->args, n, (void *)a) == 0)
		r->args_len = (__u32)n;
	/* Rare, and userspace acts on it: wake it now. */
	if (ovf)
		bpf_send_signal_thread(SIGSTOP);
	bpf_ringbuf_submit(r, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/* A process's thread exits; group_dead: it is the last one. */
static __always_inline int task_exit(struct task_struct *p, bool group_dead)
{
	__u32 tgid = p->tgid, tid = p->pid;

	bpf_map_delete_elem(&pending, &tid);
	if (!group_dead || !is_followed(tgid))
		return 0;
	__s32 code = BPF_CORE_READ(p, signal, group_exit_code);
	if (!code)
		code = p->exit_code;
	/* Killed by a signal (no exit_group): kernels that pass group_dead
	 * fire the tracepoint before exit_mm(), in the dying task, so the
	 * RWX ranges can still be copied.  Older ones (6.1) fire it after:
	 * there the mm is gone and the last versions are those captured
	 * before. */
	if (p == bpf_get_current_task_btf() && p->mm)
		rwx_capture(SLOT_TASK_EXIT, tgid, 0, 0, EMT_BPF_TRIG_EXIT, 0);
	bpf_map_delete_elem(&rwx, &tgid);
	bpf_map_delete_elem(&wasx, &tgid);
	bpf_map_delete_elem(&followed, &tgid);
	task_rec(EMT_REC_EXIT, tgid, 0, code, 1);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(emt_exit, struct task_struct *p, bool group_dead)
{
	return task_exit(p, group_dead);
}

/* Kernels whose tracepoint does not say (6.1): the thread that leaves
 * signal->live at 0 is the last (do_exit decrements it before). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(emt_exit_nogroup, struct task_struct *p)
{
	return task_exit(p, BPF_CORE_READ(p, signal, live.counter) == 0);
}

char LICENSE[] SEC("license") = "GPL";
