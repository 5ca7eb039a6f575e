/*
 * ptrace_engine.c - ptrace mode (issue 5): W^X enforcement on the target
 * and capture of every version of RWX code at its first execution, with
 * the registers.
 *
 * Mechanism:
 *  - A launched command stops itself, is seized (PTRACE_O_TRACESECCOMP,
 *    fork/vfork/clone/exec, EXITKILL), then installs a seccomp filter
 *    (x86_64_seccomp_filter) that stops it only at the memory syscalls, and
 *    execs.  An attached process is seized thread by thread; a RET_TRACE
 *    filter cannot be removed and would make every later mmap fail with
 *    ENOSYS once we detach, so attach uses PTRACE_SYSCALL instead (recorded
 *    in meta "ptrace_syscalls").  The victim of an injection by a followed
 *    process (issue 15) is seized the same way at the injecting call's
 *    exit (follow_victim), and stops at every syscall too: whether a
 *    process carries our filter is per process (pt_proc.filtered).
 *  - mmap/mprotect/pkey_mprotect asking for W and X are rewritten at entry
 *    to drop X; the range is tracked WRITABLE with the protections asked.
 *    With other threads in the image, an mprotect asking for W on code
 *    (RWX asked, or W alone on a range we keep executable) is rewritten to
 *    read-only and made writable at its exit (see flip()).  The argument
 *    register is restored at the syscall-exit stop so the target sees its
 *    own registers unchanged.
 *  - A SIGSEGV (SEGV_ACCERR) fetching from a WRITABLE region: the region is
 *    made read+exec by a remote mprotect in the faulting thread FIRST, then
 *    its bytes are read, so nothing written by a sibling thread between
 *    read and flip can run uncaptured.  A write fault in an EXECUTABLE
 *    region flips it back to read+write.  Both signals are suppressed.
 *  - Each tracked range belongs to a "memory image" (struct pt_mm), shared
 *    by threads and CLONE_VM children, copied at fork, replaced at exec.
 *
 * Single-threaded: every ptrace request comes from the thread that called
 * start(), as ptrace requires.  It waits for stops in a blocking waitpid,
 * which a helper thread (waker.h) interrupts at poll()'s deadline: one
 * system call per stop.  Without the helper (EMT_PTRACE_WAKER=0, or it
 * could not start) SIGCHLD is blocked in that thread and waited for with
 * sigtimedwait after a waitpid(WNOHANG).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/kcmp.h>
#include <linux/seccomp.h>

#include "engine.h"
#include "inject_ptrace.h"
#include "proc.h"
#include "sink.h"
#include "sysrec.h"
#include "writeq.h"
#include "waker.h"
#include "x86_64.h"

#define PT_BUCKETS 256
#define PAGE_SZ 4096ull

/* PT_W/PT_X: an RWX range under W^X.  PT_SHARED: an executable shared
 * view (memfd, shm) whose pages may change through another, writable
 * view without any fault or syscall: captured again at munmap and exit. */
enum pt_state { PT_W = 1, PT_X = 2, PT_SHARED = 3 };

/* A tracked range: the target asked for W|X (`asked`), we keep it either
 * read+write (PT_W) or read+exec (PT_X). */
struct pt_region {
	uint64_t start, len;
	uint32_t asked;
	int      state;
	int64_t  region_id;     /* sink region (of the mm's owner pid) */
	uint64_t wstart, whole; /* the range as first tracked */
};

/* Ranges up to this size flip and are captured as a whole, so every
 * version is one capture of the full range.  Larger ones (HotSpot's code
 * heap, qemu's 128 MiB+ translation buffer) flip per page on writes; on
 * execution the written pages around the fault become executable and a
 * window around the fault is captured, unchanged neighbours included so
 * that code straddling a page boundary lies whole in one capture.
 * Reading the full range at every transition would take longer than
 * running the target (2.5 MiB per HotSpot method install: 5 ms). */
#define PT_WHOLE_MAX   (1ull << 20)
#define PT_EXEC_WINDOW (64ull << 10)

struct pt_mm {
	int      refs;
	pid_t    owner;         /* pid whose sink regions these are */
	struct pt_region *r;
	size_t   n, cap;
	uint64_t gen;           /* bumped at every flip */
	uint64_t sysinsn;       /* `syscall` instruction, 0 = not looked up */
	uint64_t tramp;         /* our trampoline (x86_64.h), 0 none, 1 unusable */
	/* The mprotect calls in its slots (addr, len, prot; len 0: free),
	 * and the slot to overwrite next when none matches. */
	uint64_t slot[X86_64_TRAMP_SLOTS][3];
	unsigned slot_next;
};

struct pt_proc {
	pid_t    pid;
	struct pt_mm *mm;
	/* It carries our seccomp filter (the launched tree, an attached
	 * process with --attach-filter; children inherit it): resumed with
	 * PTRACE_CONT, as only the filtered calls need to stop, and handed to
	 * the keeper at the stop, as the filter outlives us.  0 (attached
	 * without it, an injection's victim): every syscall stops
	 * (PTRACE_SYSCALL), no trampoline, plainly detached at the stop. */
	int      filtered;
	int      exited;
	int      unmap_traced;  /* the munmap/mremap filter was added */
	int      exit_seen;     /* shared views captured at exit */
	int      stop_sent;     /* stop(): SIGSTOP sent for the keeper */
	/* Its /proc/PID/mem descriptors whose write and writev our filter
	 * traces (ensure_fd_traced): a filter is never removed, so a number
	 * reused for another file costs an entry stop, not a new filter. */
	int      mem_fds[32];
	size_t   nmem_fds;
	struct pt_proc *next;
};

/* A memory syscall between its entry (seccomp) stop and its exit stop. */
struct pt_sys {
	int      active;
	int      need_exit;     /* resume with PTRACE_SYSCALL to see the exit */
	long     nr;
	uint64_t a[6];
	int      rewritten;     /* a[2] was changed in the registers */
	int      via_read;      /* ... and W: the exit makes it writable */
	int      overlapped;    /* the range overlapped tracked ones at entry */
	uint64_t gen;           /* the image's flip generation at entry */
};

struct pt_task {
	pid_t    tid;
	struct pt_proc *proc;
	struct pt_sys sys;
	int      held;          /* stopped and kept stopped (stop()) */
	int      held_sig;      /* signal to deliver when released */
	int      pend_sigs[8];  /* signals held back by remote syscalls */
	size_t   npend;
	uint64_t last_fault;    /* address of the last suppressed fault */
	uint64_t last_gen;      /* mm->gen when it was suppressed */
	int      in_stop;       /* a stop of it was reaped, not resumed yet */
	uint64_t rseq_cpu;      /* address of its rseq cpu_id; 0 unknown, 1 none */
	/* Sent through the trampoline (fast_flip) and not seen since: the
	 * registers to give it back if it stops inside, and the call. */
	int      tramp_pending;
	int      tramp_check;   /* its last flip went through the trampoline */
	struct user_regs_struct tramp_regs;
	uint64_t tramp_args[3];
	int      frozen;        /* interrupted by hold_others() */
	int      exiting;       /* reported PTRACE_EVENT_EXIT */
	struct pt_task *next;
};

/* A wait status reaped out of turn (hold_others) for the main loop. */
struct pt_status {
	pid_t    tid;
	int      st;
};

struct pt_engine {
	struct sysrec_session *sr;      /* --syscalls recorder, or NULL */
	struct sock_fprog sr_filter;    /* its seccomp filter (filter malloc'd) */
	struct pt_task *tasks[PT_BUCKETS];
	struct pt_proc *procs[PT_BUCKETS];
	size_t   ntasks;
	struct x86_64_filter inj_filter; /* injections (inject_ptrace.h), installed after filter */
	int      stopping;      /* stop(): hold every stop */
	int      failed;        /* poll failed: kill a launched target */
	int      launched;
	int      stopped_done;
	sigset_t oldmask;
	int      mask_set;
	int      no_tramp;      /* EMT_PTRACE_TRAMPOLINE=0: always two stops */
	/* CPU placement (pin_setup): the tracer's own mask before we pinned
	 * it, and the CPU it is pinned to (-1: not pinned). */
	cpu_set_t oldcpus;
	int      pinned;
	int      affinity;      /* enum pt_affinity */
	int      my_cpu;
	int      cand_cpu, cand_count;
	unsigned follow_tick;
	uint64_t migrations;
	/* Transition costs, stored in meta "ptrace_stats" at stop: time from
	 * the fault stop being reaped to the resume request, and the part
	 * of a W->X spent writing the capture to the archive. */
	uint64_t transitions_wx, transitions_xw;
	uint64_t wx_ns, xw_ns, wx_copy_ns;
	uint64_t transitions_self, holds, hold_ns, fast_flips;
	uint64_t rw_on_x;       /* the target's RX->RW taken through read-only */
	uint64_t reasserted;    /* calls whose protection a flip overwrote */
	uint32_t cookie[4];     /* lets our remote mprotect pass the filter */
	struct x86_64_filter filter;
	/* Captures and events go through the writer thread: hashing,
	 * compression and SQLite stay off the fault path. */
	struct writeq *q;
	uint64_t kick_due;      /* lazily queued work: wake the writer by then */
	struct waker *waker;    /* NULL: waitpid(WNOHANG) + sigtimedwait */
	struct pt_status *deferred;
	size_t   ndeferred, capdeferred;
	/* Victims of injections that could not be followed and have their
	 * events row saying why (not_followed), with the tracer they had. */
	struct { pid_t pid, tracer; } *unfollowed;
	size_t   nunfollowed, capunfollowed;
};

/* Where the tracer runs (EMT_PTRACE_PIN).  A wakeup on another CPU costs
 * tens of microseconds on small VMs, several per transition, so tracer
 * and served thread had better share a CPU.
 *  FOLLOW (default): the tracer is pinned to one CPU and moves to the CPU
 *    of the threads it serves (their rseq cpu_id) when they keep stopping
 *    on another one; the target's affinity is never touched.
 *  BOTH (EMT_PTRACE_PIN=1): tracer and launched target pinned to the
 *    tracer's CPU (every thread of the target shares it); the target's
 *    threads get their affinity back at the stop.
 *  NONE (EMT_PTRACE_PIN=0): the scheduler decides. */
enum pt_affinity { PT_AFF_FOLLOW, PT_AFF_BOTH, PT_AFF_NONE };
#define PT_FOLLOW_AFTER 4       /* consecutive looks finding another CPU */
#define PT_FOLLOW_EVERY 8       /* stops per look (a look costs a read) */

/* Writer queue bound: beyond it the tracer (and so the target) waits. */
#define PT_QUEUE_MAX (16ull << 20)
/* The writer thread is woken (a futex call and a wakeup on another CPU,
 * on the path of a target waiting for the tracer's CPU) at most every
 * PT_KICK_NS, or once PT_KICK_BYTES are queued. */
#define PT_KICK_NS    2000000ull
#define PT_KICK_BYTES (1ull << 20)
/* Captures (of one page) and jobs the queue holds ready: more than are
 * queued between two kicks at the fastest transition rate (about 100). */
#define PT_RESERVE_BUFS 256
#define PT_RESERVE_JOBS 512

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct pt_engine *E(struct emt_session *s)
{
	return s->engine_priv;
}

/* ------------------------------------------------------------------ */
/* Memory images and their tracked ranges                              */

static struct pt_mm *mm_new(pid_t owner)
{
	struct pt_mm *m = calloc(1, sizeof(*m));
	if (m) {
		m->refs = 1;
		m->owner = owner;
	}
	return m;
}

static void mm_put(struct pt_mm *m)
{
	if (m && --m->refs == 0) {
		free(m->r);
		free(m);
	}
}

static struct pt_region *mm_find(struct pt_mm *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (addr >= m->r[i].start && addr - m->r[i].start < m->r[i].len)
			return &m->r[i];
	return NULL;
}

/* Whether a region in `state` (0: any) overlaps [addr, addr+len). */
static int mm_overlaps_state(const struct pt_mm *m, uint64_t addr,
			     uint64_t len, int state)
{
	for (size_t i = 0; i < m->n; i++)
		if ((!state || m->r[i].state == state) &&
		    m->r[i].start < addr + len && addr < m->r[i].start + m->r[i].len)
			return 1;
	return 0;
}

static int mm_overlaps(const struct pt_mm *m, uint64_t addr, uint64_t len)
{
	return mm_overlaps_state(m, addr, len, 0);
}

static int mm_push(struct pt_mm *m, const struct pt_region *r)
{
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 8;
		struct pt_region *nv = realloc(m->r, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		m->r = nv;
		m->cap = nc;
	}
	m->r[m->n++] = *r;
	return 0;
}

/* Stops tracking [addr, addr+len), splitting ranges that straddle it. */
static int mm_cut(struct pt_mm *m, uint64_t addr, uint64_t len)
{
	uint64_t end = addr + len;
	for (size_t i = 0; i < m->n;) {
		struct pt_region *r = &m->r[i];
		uint64_t rs = r->start, re = r->start + r->len;
		if (re <= addr || rs >= end) {
			i++;
			continue;
		}
		if (rs < addr && re > end) {
			struct pt_region tail = *r;
			tail.start = end;
			tail.len = re - end;
			r->len = addr - rs;
			if (mm_push(m, &tail))
				return -ENOMEM;
			i++;
		} else if (rs < addr) {
			r->len = addr - rs;
			i++;
		} else if (re > end) {
			r->len = re - end;
			r->start = end;
			i++;
		} else {
			m->r[i] = m->r[--m->n];
		}
	}
	return 0;
}

/* Sets [addr, addr+len), which lies inside tracked range `src`, to state
 * st: the range is cut out and re-added, then merged with neighbours of
 * the same region and state so page-wise flips do not fragment forever. */
static int mm_set_state(struct pt_mm *m, const struct pt_region *src,
			uint64_t addr, uint64_t len, int st)
{
	struct pt_region n = *src;
	n.start = addr;
	n.len = len;
	n.state = st;
	if (mm_cut(m, addr, len))
		return -ENOMEM;
	for (size_t i = 0; i < m->n;) {
		struct pt_region *o = &m->r[i];
		if (o->region_id == n.region_id && o->state == n.state &&
		    o->asked == n.asked &&
		    (o->start + o->len == n.start || n.start + n.len == o->start)) {
			if (o->start < n.start)
				n.start = o->start;
			n.len += o->len;
			m->r[i] = m->r[--m->n];
			i = 0;
			continue;
		}
		i++;
	}
	return mm_push(m, &n);
}

static struct pt_mm *mm_copy(const struct pt_mm *src, pid_t owner)
{
	struct pt_mm *m = mm_new(owner);
	if (!m)
		return NULL;
	if (src->n) {
		m->r = malloc(src->n * sizeof(*m->r));
		if (!m->r) {
			free(m);
			return NULL;
		}
		memcpy(m->r, src->r, src->n * sizeof(*m->r));
		m->n = m->cap = src->n;
	}
	m->sysinsn = src->sysinsn;
	m->tramp = src->tramp;  /* a fork copies the mapping too */
	memcpy(m->slot, src->slot, sizeof(m->slot));
	m->slot_next = src->slot_next;
	return m;
}

/* ------------------------------------------------------------------ */
/* Tasks and processes                                                 */

static struct pt_proc *proc_lookup(struct pt_engine *e, pid_t pid)
{
	for (struct pt_proc *p = e->procs[(uint32_t)pid % PT_BUCKETS]; p; p = p->next)
		if (p->pid == pid && !p->exited)
			return p;
	return NULL;
}

static struct pt_task *task_lookup(struct pt_engine *e, pid_t tid)
{
	for (struct pt_task *t = e->tasks[(uint32_t)tid % PT_BUCKETS]; t; t = t->next)
		if (t->tid == tid)
			return t;
	return NULL;
}

static void task_remove(struct pt_engine *e, pid_t tid)
{
	struct pt_task **pp = &e->tasks[(uint32_t)tid % PT_BUCKETS];
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->tid == tid) {
			struct pt_task *t = *pp;
			*pp = t->next;
			free(t);
			e->ntasks--;
			return;
		}
	}
}

static int sink_copy_regions(struct emt_session *s, pid_t pid,
			     struct pt_mm *m, uint64_t t)
{
	for (size_t i = 0; i < m->n; i++) {
		int64_t id = sink_region_update(s->sink, pid, m->r[i].start,
						 m->r[i].len, m->r[i].asked,
						 NULL, t);
		if (id < 0)
			return (int)id;
		m->r[i].region_id = id;
	}
	return 0;
}

/* Creates the process record of pid: a new process of `parent` (NULL for
 * the root), sharing its memory image if kcmp says they share one. */
static struct pt_proc *proc_create(struct emt_session *s, pid_t pid,
				   struct pt_proc *parent)
{
	struct pt_engine *e = E(s);
	struct pt_proc *p = calloc(1, sizeof(*p));
	uint64_t t = now_ns();

	if (!p)
		return NULL;
	p->pid = pid;
	/* Filters are inherited by children. */
	p->filtered = parent ? parent->filtered : 0;
	p->unmap_traced = parent ? parent->unmap_traced : 0;
	if (parent && syscall(SYS_kcmp, parent->pid, pid, KCMP_VM, 0, 0) == 0) {
		p->mm = parent->mm;
		p->mm->refs++;
	} else if (parent) {
		p->mm = mm_copy(parent->mm, pid);
	} else {
		p->mm = mm_new(pid);
	}
	if (!p->mm) {
		free(p);
		return NULL;
	}
	p->next = e->procs[(uint32_t)pid % PT_BUCKETS];
	e->procs[(uint32_t)pid % PT_BUCKETS] = p;
	s->live_processes++;
	if (sink_process_start(s->sink, pid, parent ? parent->pid : 0, t) < 0)
		return p;       /* error kept in the session; tracing goes on */
	/* A forked copy inherits our protection changes with the memory. */
	if (parent && p->mm != parent->mm)
		sink_copy_regions(s, pid, p->mm, t);
	return p;
}

/* The task record of tid, created on first sight (a new thread or child
 * may report its first stop before its parent's clone event). */
static struct pt_task *task_get(struct emt_session *s, pid_t tid)
{
	struct pt_engine *e = E(s);
	struct pt_task *t = task_lookup(e, tid);
	if (t)
		return t;
	pid_t tgid = proc_read_tgid(tid);
	if (tgid <= 0)
		return NULL;
	struct pt_proc *p = proc_lookup(e, tgid);
	if (!p) {
		int ppid = proc_read_ppid(tgid);
		struct pt_proc *parent = ppid > 0 ? proc_lookup(e, ppid) : NULL;
		p = proc_create(s, tgid, parent);
		if (!p)
			return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tid = tid;
	t->proc = p;
	t->next = e->tasks[(uint32_t)tid % PT_BUCKETS];
	e->tasks[(uint32_t)tid % PT_BUCKETS] = t;
	e->ntasks++;
	return t;
}

static void proc_exit(struct emt_session *s, struct pt_proc *p, int status)
{
	if (p->exited)
		return;
	p->exited = 1;
	if (s->live_processes)
		s->live_processes--;
	sink_process_exit(s->sink, p->pid, now_ns(), status);
	mm_put(p->mm);
	p->mm = NULL;
}

/* At t's PTRACE_EVENT_EXIT: is its process ending?  A thread that
 * called exit(2) ends alone unless it is the last one; exit_group(2) and
 * fatal signals end them all. */
static int group_exit(struct pt_engine *e, struct pt_task *t)
{
	struct user_regs_struct ur;

	if (ptrace(PTRACE_GETREGS, t->tid, 0, &ur) < 0 || ur.orig_rax != SYS_exit)
		return 1;
	for (size_t b = 0; b < PT_BUCKETS; b++)
		for (struct pt_task *o = e->tasks[b]; o; o = o->next)
			if (o->proc == t->proc && !o->exiting)
				return 0;
	return 1;
}

/* A tid is gone (exit status from waitpid). */
static void task_exited(struct emt_session *s, pid_t tid, int status)
{
	struct pt_engine *e = E(s);
	struct pt_task *t = task_lookup(e, tid);

	if (tid == s->root_pid)
		s->root_status = status;
	if (!t)
		return;
	struct pt_proc *p = t->proc;
	/* A call in progress (exit_group, killed) never returns. */
	if (sysrec_pt_gone(sysrec_session_ptrace(e->sr), tid) < 0)
		e->failed = 1;
	task_remove(e, tid);
	/* The leader's exit is reported after every other thread's. */
	if (p && p->pid == tid)
		proc_exit(s, p, status);
}

/* ------------------------------------------------------------------ */
/* Remote syscalls                                                     */

static int skip_tracked(void *ctx, uint64_t start, uint64_t end)
{
	return mm_overlaps(ctx, start, end - start);
}

/* After a remote call in t: queues the signals held back, processes a
 * death (t is freed then and -ESRCH returned). */
static int remote_done(struct emt_session *s, struct pt_task *t, int err,
		       const struct x86_64_remote *out)
{
	for (size_t i = 0; i < out->nsigs; i++)
		if (t->npend < sizeof(t->pend_sigs) / sizeof(t->pend_sigs[0]))
			t->pend_sigs[t->npend++] = out->sigs[i];
	if (out->lost_sigs)
		sink_loss(s->sink, "ptrace-held-signal", (uint64_t)out->lost_sigs,
			  t->proc->pid, now_ns());
	if (err == -ESRCH && out->died) {
		task_exited(s, t->tid, out->status);
		return -ESRCH;
	}
	return 0;
}

static int find_sysinsn(struct emt_session *s, struct pt_proc *p)
{
	int err = 0;
	if (!p->mm->sysinsn)
		err = x86_64_find_syscall_insn(p->pid, skip_tracked, p->mm,
					       &p->mm->sysinsn);
	if (err < 0)
		return emt_session_fail(s, err,
			"pid %d: no syscall instruction for remote syscalls",
			(int)p->pid);
	return 0;
}

/* Installs filter f in t's process by a remote seccomp(2) with `flags`
 * plus SECCOMP_FILTER_FLAG_SPEC_ALLOW: without it, kernels booted with
 * spec_store_bypass_disable=seccomp force that mitigation (a slower CPU)
 * on every process with a filter, which the untraced target would not
 * have.  Kernels that do not know the flag (before 4.17) refuse it with
 * EINVAL: then without.  *ret is seccomp's return value.  Returns 0,
 * -ESRCH if t died (t is freed), or -errno of the remote call. */
static int remote_filter(struct emt_session *s, struct pt_task *t,
			 const struct x86_64_filter *f, uint32_t flags,
			 int64_t *ret)
{
	struct x86_64_remote out;
	pid_t tid = t->tid;
	uint64_t at = t->proc->mm->sysinsn;
	int err;

	err = x86_64_remote_seccomp(tid, at, f, flags | SECCOMP_FILTER_FLAG_SPEC_ALLOW,
				    ret, &out);
	if (remote_done(s, t, err, &out) == -ESRCH)
		return -ESRCH;
	if (err == 0 && *ret == -EINVAL) {
		err = x86_64_remote_seccomp(tid, at, f, flags, ret, &out);
		if (remote_done(s, t, err, &out) == -ESRCH)
			return -ESRCH;
	}
	return err;
}

/* Adds filter f to t's process (all its threads); if it cannot, counts a
 * loss of `kind`.  Returns 1 if added, 0 if not (counted), -ESRCH if t
 * died (t is freed). */
static int add_filter(struct emt_session *s, struct pt_task *t,
		      const struct x86_64_filter *f, const char *kind)
{
	struct pt_proc *p = t->proc;
	int64_t ret = -1;
	int err = find_sysinsn(s, p);

	if (!err) {
		err = remote_filter(s, t, f, SECCOMP_FILTER_FLAG_TSYNC, &ret);
		if (err == -ESRCH)
			return -ESRCH;
	}
	if (err < 0 || ret != 0) {
		sink_loss(s->sink, kind, 1, p->pid, now_ns());
		return 0;
	}
	return 1;
}

/* Adds the munmap/mremap filter to t's process the first time it has a
 * region: until then its unmaps cannot concern code and run without
 * stopping.  Failure costs only unmap bookkeeping: counted as a loss.
 * Returns 0, or -ESRCH if t died (t is freed). */
static int ensure_unmap_traced(struct emt_session *s, struct pt_task *t)
{
	struct pt_proc *p = t->proc;
	struct x86_64_filter f;

	/* Without our filter every munmap stops anyway, and a filter of
	 * RET_TRACE would make its unmaps fail once we are gone. */
	if (!p->filtered || p->unmap_traced)
		return 0;
	p->unmap_traced = 1;
	x86_64_unmap_filter(&f);
	return add_filter(s, t, &f, "ptrace-unmap-untraced") < 0 ? -ESRCH : 0;
}

/* Adds the filter for write, writev and dups of fd, a /proc/PID/mem
 * descriptor t's process just made, unless it has one.  An unfiltered
 * process stops at every call anyway.  Failure, or more descriptors than
 * we keep, leaves that fd's writes unseen: counted as a loss.  Returns 0,
 * or -ESRCH if t died (t is freed). */
static int ensure_fd_traced(struct emt_session *s, struct pt_task *t, int fd)
{
	struct pt_proc *p = t->proc;
	struct x86_64_filter f;
	int added;

	if (!p->filtered)
		return 0;
	for (size_t i = 0; i < p->nmem_fds; i++)
		if (p->mem_fds[i] == fd)
			return 0;
	if (p->nmem_fds == sizeof(p->mem_fds) / sizeof(p->mem_fds[0])) {
		sink_loss(s->sink, "ptrace-procmem-untraced", 1, p->pid, now_ns());
		return 0;
	}
	inject_ptrace_fd_filter(&f, fd);
	added = add_filter(s, t, &f, "ptrace-procmem-untraced");
	if (added < 0)
		return -ESRCH;
	if (added)
		p->mem_fds[p->nmem_fds++] = fd;
	return 0;
}

/* Runs mprotect(addr, len, prot) in stopped thread t whose current
 * registers are *cur (NULL: read them), its result in *ret (0 or
 * -errno).  Signals that arrive meanwhile are queued on the task; a death
 * is processed (-ESRCH, t is freed).  Returns 0 if the call ran, else
 * -errno (the session has failed, but for -ESRCH). */
static int remote_mprotect_call(struct emt_session *s, struct pt_task *t,
				uint64_t addr, uint64_t len, uint32_t prot,
				const struct user_regs_struct *cur, int64_t *ret)
{
	struct pt_mm *m = t->proc->mm;
	struct x86_64_remote out;
	uint64_t args[6] = { addr, len, prot, 0, 0, 0 };
	int err;

	*ret = 0;
	x86_64_cookie_args(E(s)->cookie, args);

	if ((err = find_sysinsn(s, t->proc)) < 0)
		return err;
	err = x86_64_remote_syscall_regs(t->tid, m->sysinsn, SYS_mprotect, args,
					 cur, ret, &out);
	if (remote_done(s, t, err, &out) == -ESRCH)
		return -ESRCH;
	if (err < 0)
		return emt_session_fail(s, err, "tid %d: remote mprotect: %s",
					(int)t->tid, strerror(-err));
	return 0;
}

/* remote_mprotect_call(), a refused mprotect being the session's failure. */
static int remote_mprotect_regs(struct emt_session *s, struct pt_task *t,
				uint64_t addr, uint64_t len, uint32_t prot,
				const struct user_regs_struct *cur)
{
	int64_t ret;
	int err = remote_mprotect_call(s, t, addr, len, prot, cur, &ret);

	if (err < 0)
		return err;
	if (ret < 0)
		return emt_session_fail(s, (int)ret,
			"tid %d: remote mprotect(0x%llx, %llu, %u): %s", (int)t->tid,
			(unsigned long long)addr, (unsigned long long)len, prot,
			strerror((int)-ret));
	return 0;
}

static int remote_mprotect(struct emt_session *s, struct pt_task *t,
			   uint64_t addr, uint64_t len, uint32_t prot)
{
	return remote_mprotect_regs(s, t, addr, len, prot, NULL);
}

/* ------------------------------------------------------------------ */
/* The trampoline: flips without a second stop                         */

/* 1 if t is the only thread of its memory image (no sibling can write or
 * run the image while a flip is in flight). */
static int alone_in_image(struct pt_engine *e, const struct pt_task *t)
{
	if (e->ntasks == 1)
		return 1;       /* the common case, without walking the table */
	for (int b = 0; b < PT_BUCKETS; b++)
		for (const struct pt_task *u = e->tasks[b]; u; u = u->next)
			if (u != t && u->proc && u->proc->mm == t->proc->mm)
				return 0;
	return 1;
}

/* Maps the trampoline (x86_64.h) into t's image on first use, by remote
 * mmap and mprotect; the mapping is recorded in the timeline as ours.
 * Returns 1 if there is one, 0 if not (flips then take two stops), or
 * -ESRCH if t died (t is freed). */
static int tramp_ensure(struct emt_session *s, struct pt_task *t,
			const struct user_regs_struct *cur)
{
	struct pt_mm *m = t->proc->mm;
	uint64_t args[6] = { 0, X86_64_TRAMP_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 };
	struct x86_64_remote out;
	uint8_t code[4096];
	int64_t ret = -1;
	int err;

	if (m->tramp)
		return m->tramp > 1;
	m->tramp = 1;
	if (find_sysinsn(s, t->proc) < 0)
		return 0;
	err = x86_64_remote_syscall_regs(t->tid, m->sysinsn, SYS_mmap, args, cur,
					 &ret, &out);
	if (remote_done(s, t, err, &out) == -ESRCH)
		return -ESRCH;
	if (err < 0 || (ret < 0 && ret > -4096))
		return 0;
	uint64_t at = (uint64_t)ret;
	size_t n = x86_64_tramp_code(at, code, sizeof(code));
	struct iovec l = { code, n }, r = { (void *)(uintptr_t)at, n };
	err = process_vm_writev(t->tid, &l, 1, &r, 1, 0) == (ssize_t)n ? 0 : -EFAULT;
	if (!err) {
		args[0] = at;
		args[1] = 4096;
		args[2] = PROT_READ | PROT_EXEC;
		x86_64_cookie_args(E(s)->cookie, args);
		err = x86_64_remote_syscall_regs(t->tid, m->sysinsn, SYS_mprotect, args,
						 cur, &ret, &out);
		if (remote_done(s, t, err, &out) == -ESRCH)
			return -ESRCH;
		if (!err && ret != 0)
			err = -EPERM;
	}
	if (err) {
		/* Leave nothing of ours behind. */
		uint64_t uargs[6] = { at, X86_64_TRAMP_SIZE, 0, 0, 0, 0 };
		err = x86_64_remote_syscall_regs(t->tid, m->sysinsn, SYS_munmap, uargs,
						 cur, &ret, &out);
		return remote_done(s, t, err, &out) == -ESRCH ? -ESRCH : 0;
	}
	m->tramp = at;
	struct emt_event ev = {
		.time_ns = now_ns(), .pid = (uint32_t)t->proc->pid,
		.tid = (uint32_t)t->tid, .syscall = "mmap", .addr = at,
		.len = X86_64_TRAMP_SIZE, .prot = PROT_READ | PROT_EXEC, .fd = -1,
		.ret = (int64_t)at,
	};
	writeq_event_lazy(E(s)->q, &ev, "emt-capture trampoline (not the target's)", 0);
	return 1;
}

/* Sends t into the trampoline slot holding mprotect(addr, len, prot),
 * storing the call in a slot first if none does (a region flipping back
 * and forth uses two slots, then costs one SETREGS a flip).  Returns 0,
 * or -errno if the slots cannot be used (the caller uses the generic
 * entry). */
static int tramp_enter_slot(struct pt_task *t, uint64_t addr, uint64_t len,
			    uint32_t prot, const uint64_t args[6],
			    const struct user_regs_struct *u)
{
	struct pt_mm *m = t->proc->mm;
	unsigned k;

	if (!x86_64_tramp_slot_ok(u))
		return -EINVAL;
	for (k = 0; k < X86_64_TRAMP_SLOTS; k++)
		if (m->slot[k][0] == addr && m->slot[k][1] == len && m->slot[k][2] == prot)
			break;
	if (k == X86_64_TRAMP_SLOTS) {
		k = m->slot_next++ % X86_64_TRAMP_SLOTS;
		m->slot[k][1] = 0;
		int err = x86_64_tramp_slot_set(t->tid, m->tramp, k, SYS_mprotect, args);
		if (err < 0)
			return err;
		m->slot[k][0] = addr;
		m->slot[k][1] = len;
		m->slot[k][2] = prot;
	}
	return x86_64_tramp_enter_slot(t->tid, m->tramp, u, k);
}

/* Flips [addr, addr+len) to prot by sending stopped thread t (registers
 * *u) through the trampoline: it runs the mprotect itself on its way back
 * to the faulting instruction, which saves the second stop of a remote
 * syscall on every transition.  Only for a thread alone in its image (a
 * W->X capture is then read before the flip with nothing able to write
 * in between), stopped at one of our faults outside a system call, with
 * no signal to deliver (it resumes straight into the trampoline), under
 * the seccomp filter (which lets the call pass without a stop).  Returns
 * 1 if sent (the caller resumes t with no signal), 0 if the caller must
 * flip with remote_mprotect_regs, or -ESRCH if t died (t is freed).
 * The caller checked that t is alone (flip()). */
static int fast_flip(struct emt_session *s, struct pt_task *t, uint64_t addr,
		     uint64_t len, uint32_t prot, const struct user_regs_struct *u)
{
	struct pt_engine *e = E(s);
	uint64_t args[6] = { addr, len, prot, 0, 0, 0 };

	if (!t->proc->filtered || e->stopping || e->no_tramp || t->npend ||
	    x86_64_in_syscall(u))
		return 0;
	int rc = tramp_ensure(s, t, u);
	if (rc <= 0)
		return rc;
	x86_64_cookie_args(e->cookie, args);
	if (tramp_enter_slot(t, addr, len, prot, args, u) < 0 &&
	    x86_64_tramp_enter(t->tid, t->proc->mm->tramp, u, SYS_mprotect, args) < 0)
		return 0;
	t->tramp_pending = 1;
	t->tramp_regs = *u;
	t->tramp_args[0] = addr;
	t->tramp_args[1] = len;
	t->tramp_args[2] = prot;
	e->fast_flips++;
	return 1;
}

/* The first stop of t after fast_flip(): if it stopped inside the
 * trampoline (a signal, an interrupt), the flip is completed here and
 * its own registers put back, so nothing of the trampoline is ever seen
 * by a signal handler.  *u gets its registers (*have = 1).  Returns 1 if
 * the stop is a fault of the trampoline itself (the target unmapped or
 * reprotected it: the flip is done, the stop must be resumed without the
 * signal, and the trampoline is not used again), 0, or -errno. */
static int tramp_settle(struct emt_session *s, struct pt_task *t, int sig,
			struct user_regs_struct *u, int *have)
{
	struct pt_mm *m = t->proc->mm;
	int err;

	t->tramp_pending = 0;
	if (!m || m->tramp <= 1)
		return 0;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, u) < 0)
		return errno == ESRCH ? 0 : -errno;
	*have = 1;
	int where = x86_64_tramp_state(u, m->tramp);
	if (where == 0) {
		t->tramp_check = 1;
		return 0;
	}
	if (where == 1 || sig == SIGSEGV) {
		err = remote_mprotect_regs(s, t, t->tramp_args[0], t->tramp_args[1],
					   (uint32_t)t->tramp_args[2], u);
		if (err < 0)
			return err;
	}
	if (ptrace(PTRACE_SETREGS, t->tid, 0, &t->tramp_regs) < 0)
		return errno == ESRCH ? 0 : -errno;
	*u = t->tramp_regs;
	if (sig == SIGSEGV) {
		m->tramp = 1;
		return 1;
	}
	return 0;
}

/* A fault that does not fit the tracker right after a flip through the
 * trampoline: the flip may have failed in the target.  Returns 0 or the
 * failure (the session fails as a failed remote mprotect would). */
static int tramp_verify(struct emt_session *s, struct pt_task *t)
{
	int64_t ret = 0;

	if (!t->tramp_check)
		return 0;
	t->tramp_check = 0;
	if (x86_64_tramp_ret(t->tid, t->proc->mm->tramp, &ret) == 0 && ret < 0 && ret > -4096)
		return emt_session_fail(s, (int)ret,
			"tid %d: mprotect(0x%llx, %llu, %u) through the trampoline: %s",
			(int)t->tid, (unsigned long long)t->tramp_args[0],
			(unsigned long long)t->tramp_args[1], (unsigned)t->tramp_args[2],
			strerror((int)-ret));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Resuming                                                            */

static int resume(struct emt_session *s, struct pt_task *t, int sig)
{
	struct pt_engine *e = E(s);
	int req;

	/* Signals held back during a remote syscall go first; extra ones are
	 * re-queued to the thread. */
	if (t->npend) {
		if (!sig)
			sig = t->pend_sigs[--t->npend];
		while (t->npend)
			syscall(SYS_tgkill, t->proc->pid, t->tid,
				t->pend_sigs[--t->npend]);
	}
	if (e->stopping) {
		t->held = 1;
		t->held_sig = sig;
		return 0;
	}
	req = (!t->proc->filtered || t->sys.need_exit) ? PTRACE_SYSCALL : PTRACE_CONT;
	t->in_stop = 0;
	if (ptrace(req, t->tid, 0, sig) < 0 && errno != ESRCH)
		return emt_session_fail(s, -errno, "tid %d: resume: %s",
					(int)t->tid, strerror(errno));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Memory syscalls                                                     */

static const char *sys_name(long nr)
{
	switch (nr) {
	case SYS_mmap: return "mmap";
	case SYS_mprotect: return "mprotect";
	case SYS_pkey_mprotect: return "pkey_mprotect";
	case SYS_munmap: return "munmap";
	case SYS_mremap: return "mremap";
	default: return "other";
	}
}

static uint64_t page_up(uint64_t len)
{
	return (len + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
}

/* Backing of pid's mapping at addr, from /proc/PID/maps.  *maps keeps the
 * strings alive until the caller frees it. */
static int backing_at(pid_t pid, uint64_t addr, struct sink_backing *b,
		      struct proc_map **maps, size_t *n)
{
	int err = proc_maps_read(pid, maps, n);
	if (err < 0)
		return err;
	for (size_t i = 0; i < *n; i++) {
		struct proc_map *m = &(*maps)[i];
		if (addr >= m->start && addr < m->end) {
			b->kind = proc_map_backing(m);
			b->path = m->path[0] ? m->path : NULL;
			b->inode = m->inode;
			b->dev = m->dev;
			b->offset = m->offset + (addr - m->start);
			return 0;
		}
	}
	return -ENOENT;
}

static int queue_fail(struct emt_session *s, int err)
{
	return emt_session_fail(s, err, "archive: %s",
				emt_writer_errmsg(sink_writer(s->sink)));
}

/* Reads [addr, addr+len) of pid and queues it as a capture: the bytes are
 * copied now (the caller made them unchangeable first), the archive
 * write happens in the writer thread.  *queued (may be NULL) is set to 1
 * if a capture was queued (a vanished process leaves nothing to read). */
static int capture_range(struct emt_session *s, pid_t pid, pid_t tid,
			 int64_t region_id, uint64_t addr, uint64_t len,
			 enum emt_trigger trig, uint32_t before, uint32_t after,
			 const struct emt_regs_x86_64 *regs, int *queued)
{
	struct writeq_capture c = {
		.region_id = region_id, .pid = pid, .tid = tid, .addr = addr,
		.size = len, .trigger = trig, .prot_before = before,
		.prot_after = after,
	};
	int err;

	if (queued)
		*queued = 0;
	if (len > EMT_CAPTURE_SIZE_MAX) {
		sink_loss(s->sink, "capture-too-large", 1, pid, now_ns());
		return 0;
	}
	c.buf = writeq_buf(E(s)->q, len);
	if (!c.buf)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	c.pooled = 1;
	err = proc_read_mem(pid, addr, len, c.buf, &c.gaps, &c.ngaps);
	if (err < 0) {
		writeq_buf_free(E(s)->q, c.buf, len);
		free(c.gaps);
		/* Died meanwhile: nothing left to capture. */
		return err == -ESRCH ? 0 : emt_session_fail(s, err,
			"pid %d: cannot read 0x%llx: %s", (int)pid,
			(unsigned long long)addr, strerror(-err));
	}
	c.time_ns = now_ns();
	if (regs) {
		c.has_regs = 1;
		c.regs = *regs;
	}
	/* The writer thread is woken once the target runs again (poll). */
	err = writeq_capture_lazy(E(s)->q, &c);
	if (err)
		return queue_fail(s, err);
	if (!E(s)->kick_due)
		E(s)->kick_due = c.time_ns + PT_KICK_NS;
	if (queued)
		*queued = 1;
	return 0;
}

/* Queues a timeline event of t's current syscall; with `linked` it takes
 * the seq of the capture t queued just before. */
static void add_event(struct emt_session *s, struct pt_task *t, uint64_t addr,
		      uint64_t len, uint64_t prot, uint64_t flags, int64_t fd,
		      int64_t ret, int linked, const char *detail)
{
	struct emt_event ev = {
		.time_ns = now_ns(),
		.pid = (uint32_t)t->proc->pid,
		.tid = (uint32_t)t->tid,
		.syscall = sys_name(t->sys.nr),
		.addr = addr, .len = len, .prot = prot, .flags = flags, .fd = fd,
		.ret = ret,
	};
	/* A failure is sticky in the queue and reported by the next poll. */
	writeq_event_lazy(E(s)->q, &ev, detail, linked);
	if (!E(s)->kick_due)
		E(s)->kick_due = ev.time_ns + PT_KICK_NS;
}

/* Captures the shared executable views of t's process overlapping
 * [addr, addr+len) (everything for len 0), with trigger trig. */
static void capture_shared(struct emt_session *s, struct pt_task *t,
			   uint64_t addr, uint64_t len, enum emt_trigger trig)
{
	struct pt_mm *m = t->proc->mm;
	for (size_t i = 0; m && i < m->n; i++) {
		struct pt_region r = m->r[i];
		if (r.state != PT_SHARED ||
		    (len && (r.start >= addr + len || addr >= r.start + r.len)))
			continue;
		capture_range(s, t->proc->pid, t->tid, r.region_id, r.start, r.len,
			      trig, r.asked, r.asked, NULL, NULL);
	}
}

/* Starts tracking [addr, addr+len) as WRITABLE with `asked` protections. */
static int track_rwx(struct emt_session *s, struct pt_task *t, uint64_t addr,
		     uint64_t len, uint32_t asked, const struct sink_backing *b)
{
	struct pt_mm *m = t->proc->mm;
	int64_t id = sink_region_update(s->sink, t->proc->pid, addr, len, asked,
					b, now_ns());
	if (id < 0)
		return (int)id;
	if (mm_cut(m, addr, len))
		return emt_session_fail(s, -ENOMEM, "out of memory");
	struct pt_region r = {
		.start = addr, .len = len, .asked = asked, .state = PT_W,
		.region_id = id, .wstart = addr, .whole = len,
	};
	if (mm_push(m, &r))
		return emt_session_fail(s, -ENOMEM, "out of memory");
	m->gen++;
	return 0;
}

/* Entry of a memory syscall (seccomp stop, or syscall-entry stop without
 * seccomp).  Decides whether to rewrite and whether the exit is needed. */
static int sys_enter(struct emt_session *s, struct pt_task *t,
		     const struct __ptrace_syscall_info *si)
{
	struct pt_sys *y = &t->sys;
	struct pt_mm *m = t->proc->mm;
	const uint32_t WX = PROT_WRITE | PROT_EXEC;

	memset(y, 0, sizeof(*y));
	if (!x86_64_native_syscall(si->arch, si->seccomp.nr)) {
		/* i386/x32 calls cannot be rewritten here: count them. */
		sink_loss(s->sink, "ptrace-foreign-abi-syscall", 1,
			  t->proc->pid, now_ns());
		return 0;
	}
	y->nr = (long)si->seccomp.nr;
	for (int i = 0; i < 6; i++)
		y->a[i] = si->seccomp.args[i];
	y->gen = m->gen;
	switch (y->nr) {
	case SYS_mmap:
		/* A non-fixed mmap without X creates nothing we care about. */
		y->overlapped = (y->a[3] & MAP_FIXED) &&
				mm_overlaps(m, y->a[0], page_up(y->a[1]));
		y->need_exit = (y->a[2] & PROT_EXEC) || (y->a[3] & MAP_FIXED);
		break;
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		y->overlapped = mm_overlaps(m, y->a[0], page_up(y->a[1]));
		y->need_exit = (y->a[2] & PROT_EXEC) || y->overlapped;
		break;
	case SYS_munmap:
		/* Last chance for shared views: the pages go with the call. */
		capture_shared(s, t, y->a[0], page_up(y->a[1]), EMT_TRIGGER_MUNMAP);
		y->need_exit = mm_overlaps(m, y->a[0], page_up(y->a[1]));
		if (!y->need_exit)
			sink_region_unmap(s->sink, t->proc->pid, y->a[0],
					  page_up(y->a[1]), now_ns());
		break;
	case SYS_mremap:
		y->need_exit = 1;
		break;
	default:
		/* Writes into another process (issue 15), and the calls that
		 * may make a /proc/PID/mem descriptor: seen at the exit.
		 * inject_ptrace_wants knows which. */
		y->need_exit = inject_ptrace_wants(t->proc->pid, y->nr, y->a);
		y->active = y->need_exit;
		return 0;
	}
	int protect = y->nr == SYS_mprotect || y->nr == SYS_pkey_mprotect;
	int rwx = (protect || y->nr == SYS_mmap) && (y->a[2] & WX) == WX;
	/* The target's own RX->RW of a range we keep executable is the same
	 * stale-translation window as our flips (see flip()) when siblings
	 * may be running that code: through read-only too. */
	int w_on_x = protect && (y->a[2] & WX) == PROT_WRITE &&
		     mm_overlaps_state(m, y->a[0], page_up(y->a[1]), PT_X) &&
		     !alone_in_image(E(s), t);
	if (rwx || w_on_x) {
		struct user_regs_struct r;
		if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) < 0)
			return -errno == -ESRCH ? 0 : emt_session_fail(s, -errno,
				"tid %d: getregs: %s", (int)t->tid, strerror(errno));
		uint64_t np = y->a[2] & ~(uint64_t)PROT_EXEC;
		/* Code made RWX may be running in a sibling: straight to RW,
		 * that one could store and run its store unseen (see
		 * flip()).  Read-only first, writable at the exit. */
		if (protect && (w_on_x || !alone_in_image(E(s), t))) {
			np &= ~(uint64_t)PROT_WRITE;
			y->via_read = 1;
		}
		E(s)->rw_on_x += (uint64_t)w_on_x;
		x86_64_set_syscall_arg(&r, 2, np);
		if (ptrace(PTRACE_SETREGS, t->tid, 0, &r) < 0)
			return emt_session_fail(s, -errno, "tid %d: setregs: %s",
						(int)t->tid, strerror(errno));
		y->rewritten = 1;
		y->need_exit = 1;
	}
	y->active = y->need_exit;
	return 0;
}

/* Sets, from t stopped at the exit of its call y (result ret), what the
 * target asked of the call: its protections, without X if it asked RWX
 * (for a call rewritten to read-only, the first time; else again, a flip
 * having overwritten them).  With siblings running, through read-only
 * first (see flip()).  *refused: 0, or the -errno of the mprotect (the
 * range may have changed meanwhile, or the kernel refuses the write a
 * read-only call did not ask for).  Returns 0, or -errno (-ESRCH: t
 * died). */
static int reassert(struct emt_session *s, struct pt_task *t,
		    const struct pt_sys *y, int64_t ret, int64_t *refused)
{
	const uint32_t WX = PROT_WRITE | PROT_EXEC;
	uint32_t prot = (uint32_t)y->a[2] & (PROT_READ | WX);
	uint64_t at = y->nr == SYS_mmap ? (uint64_t)ret : y->a[0];
	uint64_t len = page_up(y->a[1]);
	int64_t rc = 0;
	int err;

	if ((prot & WX) == WX)
		prot &= ~(uint32_t)PROT_EXEC;
	/* Read-only already, unless a flip came between. */
	if (t->proc->mm->gen != y->gen && !alone_in_image(E(s), t) && (prot & WX)) {
		err = remote_mprotect_call(s, t, at, len, prot & ~WX, NULL, &rc);
		if (err < 0)
			return err;
	}
	/* mprotect keeps the range's protection key. */
	if (rc == 0 && (err = remote_mprotect_call(s, t, at, len, prot, NULL, &rc)) < 0)
		return err;
	*refused = rc;
	if (rc == 0 && !y->via_read)
		E(s)->reasserted++;
	return 0;
}

static int64_t follow_victim(void *ctx, pid_t writer, pid_t writer_tid, pid_t victim);

/* Exit of a memory syscall whose entry asked for it. */
static int sys_exit(struct emt_session *s, struct pt_task *t, int64_t ret)
{
	struct pt_sys *y = &t->sys;
	struct pt_mm *m = t->proc->mm;
	pid_t pid = t->proc->pid;
	uint64_t now = now_ns();
	const uint32_t WX = PROT_WRITE | PROT_EXEC;
	int err = 0, regioned = 0;  /* a region of code now exists */
	int seq = 0;            /* a capture was queued: the event links it */

	y->active = 0;
	y->need_exit = 0;
	if (y->rewritten) {
		/* The kernel preserves argument registers across a syscall;
		 * the target may rely on that, so give it its rdx back. */
		struct user_regs_struct r;
		if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) == 0) {
			x86_64_set_syscall_arg(&r, 2, y->a[2]);
			ptrace(PTRACE_SETREGS, t->tid, 0, &r);
		}
	}
	if (ret < 0 && ret > -4096) {
		/* A call stopped at a hole (ENOMEM) has changed the areas
		 * before it: read-only, if we rewrote it so.  Give them what
		 * the target asked (the same hole refuses the rest). */
		if (y->via_read && ret == -ENOMEM) {
			int64_t rc;
			err = reassert(s, t, y, ret, &rc);
			return err == -ESRCH ? 0 : err;
		}
		return 0;       /* failed: nothing changed */
	}
	uint32_t prot = (uint32_t)y->a[2];
	/* Another thread's fault served between this call and its exit stop
	 * flips by what was tracked before the call, so it may have put our
	 * W^X protection back over what the call set (a page the target
	 * just made RW turned RX, the target's next write a SIGSEGV of
	 * memory no longer tracked): set what the call set once more.  With
	 * via_read, what the call set was read-only. */
	if (y->via_read || (y->overlapped && m->gen != y->gen)) {
		int64_t rc;
		err = reassert(s, t, y, ret, &rc);
		if (err < 0)
			return err;
		if (rc < 0 && y->via_read) {
			/* The kernel was asked for read-only only; its refusal
			 * of the write (a shared mapping of a file opened
			 * read-only: EACCES) is the call's answer. */
			struct user_regs_struct r;
			if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) == 0) {
				r.rax = (uint64_t)rc;
				ptrace(PTRACE_SETREGS, t->tid, 0, &r);
			}
			return 0;
		}
		if (rc < 0)
			sink_loss(s->sink, "ptrace-reassert-failed", 1, pid, now);
	}
	switch (y->nr) {
	case SYS_mmap: {
		uint64_t addr = (uint64_t)ret, len = page_up(y->a[1]);
		struct sink_backing b = { .kind = EMT_BACKING_ANON };
		struct proc_map *maps = NULL;
		size_t n = 0;
		if (mm_cut(m, addr, len))
			return emt_session_fail(s, -ENOMEM, "out of memory");
		sink_region_unmap(s->sink, pid, addr, len, now);
		if (!(y->a[3] & MAP_ANONYMOUS))
			backing_at(pid, addr, &b, &maps, &n);
		else if (y->a[3] & MAP_SHARED)
			b.kind = EMT_BACKING_SHARED;
		if ((prot & WX) == WX) {
			err = track_rwx(s, t, addr, len, prot, &b);
			regioned = 1;
		} else if (prot & PROT_EXEC) {
			/* Executable file code is the binary on disk; anything
			 * else (anonymous, memfd, deleted) exists only here. */
			if (b.kind != EMT_BACKING_FILE || s->opts.capture_files) {
				int64_t id = sink_region_update(s->sink, pid, addr,
								len, prot, &b, now);
				regioned = 1;
				err = id < 0 ? (int)id :
					capture_range(s, pid, t->tid, id, addr, len,
						      EMT_TRIGGER_MMAP, 0, prot,
						      NULL, &seq);
				if (!err && (y->a[3] & MAP_SHARED)) {
					struct pt_region r = {
						.start = addr, .len = len, .asked = prot,
						.state = PT_SHARED, .region_id = id,
						.wstart = addr, .whole = len,
					};
					if (mm_push(m, &r))
						err = emt_session_fail(s, -ENOMEM,
								       "out of memory");
				}
			}
		}
		if (prot & PROT_EXEC)
			add_event(s, t, addr, len, prot, y->a[3],
				  (int64_t)y->a[4], ret, seq,
				  y->rewritten ? "rwx rewritten to rw" : b.path);
		proc_maps_free(maps, n);
		break;
	}
	case SYS_mprotect:
	case SYS_pkey_mprotect: {
		uint64_t addr = y->a[0], len = page_up(y->a[1]);
		struct pt_region *old = mm_find(m, addr);
		uint32_t before = old ? (old->state == PT_W ? PROT_READ | PROT_WRITE
							     : PROT_READ | PROT_EXEC) : 0;
		int was_w = old && old->state == PT_W;
		int tracked = mm_overlaps(m, addr, len);
		regioned = (prot & PROT_EXEC) != 0;
		if ((prot & WX) == WX) {
			err = track_rwx(s, t, addr, len, prot, NULL);
		} else {
			if (mm_cut(m, addr, len))
				return emt_session_fail(s, -ENOMEM, "out of memory");
			int64_t id = 0;
			if (tracked || (prot & PROT_EXEC)) {
				id = sink_region_update(s->sink, pid, addr, len, prot,
							NULL, now);
				if (id < 0)
					err = (int)id;
			}
			/* Plain W->X, or a tracked range dropping W after being
			 * written: the bytes are final now. */
			if (!err && (prot & PROT_EXEC) && (!tracked || was_w))
				err = capture_range(s, pid, t->tid, id, addr, len,
						    tracked ? EMT_TRIGGER_PROTECT_W
							    : EMT_TRIGGER_MPROTECT,
						    before, prot, NULL, &seq);
		}
		if ((prot & PROT_EXEC) || tracked)
			add_event(s, t, addr, len, prot, 0, -1, ret, seq,
				  y->rewritten && (prot & PROT_EXEC) ?
				  "rwx rewritten to rw" : NULL);
		break;
	}
	case SYS_munmap: {
		uint64_t len = page_up(y->a[1]);
		if (mm_cut(m, y->a[0], len))
			return emt_session_fail(s, -ENOMEM, "out of memory");
		sink_region_unmap(s->sink, pid, y->a[0], len, now);
		add_event(s, t, y->a[0], len, 0, 0, -1, ret, 0, NULL);
		break;
	}
	case SYS_mremap: {
		uint64_t oaddr = y->a[0], olen = page_up(y->a[1]);
		uint64_t naddr = (uint64_t)ret, nlen = page_up(y->a[2]);
		struct pt_region *moved = NULL;
		size_t nmoved = 0;
		uint32_t asked = 0;
		/* The pages keep the protections we gave them: move the
		 * tracked pieces along, clipped to the new length. */
		for (size_t i = 0; i < m->n; i++) {
			struct pt_region *r = &m->r[i];
			if (r->start < oaddr || r->start + r->len > oaddr + olen ||
			    r->start - oaddr >= nlen)
				continue;
			struct pt_region *nv = realloc(moved, (nmoved + 1) * sizeof(*nv));
			if (!nv) {
				free(moved);
				return emt_session_fail(s, -ENOMEM, "out of memory");
			}
			moved = nv;
			moved[nmoved] = *r;
			moved[nmoved].start = naddr + (r->start - oaddr);
			if (r->start - oaddr + r->len > nlen)
				moved[nmoved].len = nlen - (r->start - oaddr);
			asked = r->asked;
			nmoved++;
		}
		if (mm_cut(m, oaddr, olen) || mm_cut(m, naddr, nlen)) {
			free(moved);
			return emt_session_fail(s, -ENOMEM, "out of memory");
		}
		sink_region_unmap(s->sink, pid, oaddr, olen, now);
		sink_region_unmap(s->sink, pid, naddr, nlen, now);
		if (nmoved) {
			int64_t id = sink_region_update(s->sink, pid, naddr, nlen,
							asked, NULL, now);
			for (size_t i = 0; i < nmoved && id >= 0; i++) {
				moved[i].region_id = id;
				moved[i].wstart = naddr;
				moved[i].whole = nlen;
				if (mm_push(m, &moved[i]))
					id = -ENOMEM;
			}
			free(moved);
			if (id < 0)
				return id == -ENOMEM ? emt_session_fail(s, -ENOMEM,
							"out of memory") : (int)id;
			add_event(s, t, oaddr, olen, asked, y->a[3], -1, ret, 0, NULL);
		}
		break;
	}
	default:
		err = inject_ptrace_exit(s, E(s)->q, pid, t->tid, y->nr, y->a, ret,
					 follow_victim, s);
		int fd = inject_ptrace_mem_fd(pid, y->nr, y->a, ret);

		if (!err && fd >= 0)
			err = ensure_fd_traced(s, t, fd);
		break;
	}
	if (!err && regioned)
		err = ensure_unmap_traced(s, t);
	return err;
}

/* ------------------------------------------------------------------ */
/* Holding the other threads of an image                               */

/* Keeps a wait status reaped out of turn for the main loop. */
static int defer_status(struct emt_session *s, pid_t tid, int st)
{
	struct pt_engine *e = E(s);

	if (e->ndeferred == e->capdeferred) {
		size_t nc = e->capdeferred ? 2 * e->capdeferred : 16;
		struct pt_status *nv = realloc(e->deferred, nc * sizeof(*nv));
		if (!nv)
			return emt_session_fail(s, -ENOMEM, "out of memory");
		e->deferred = nv;
		e->capdeferred = nc;
	}
	e->deferred[e->ndeferred].tid = tid;
	e->deferred[e->ndeferred].st = st;
	e->ndeferred++;
	return 0;
}

/* The next wait status to handle: those reaped out of turn first, in the
 * order reaped, then waitpid(-1, WNOHANG).  Returns the tid, 0 if there
 * is none now, or -errno (-ECHILD: no tracee left). */
static pid_t next_status(struct pt_engine *e, int *st)
{
	if (e->ndeferred) {
		pid_t tid = e->deferred[0].tid;
		*st = e->deferred[0].st;
		e->ndeferred--;
		memmove(e->deferred, e->deferred + 1, e->ndeferred * sizeof(*e->deferred));
		return tid;
	}
	pid_t w = waitpid(-1, st, __WALL | WNOHANG);
	return w < 0 ? -errno : w;
}

static void wait_sigchld(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigtimedwait(&set, NULL, &ts);
}

#define HOLD_D_CHECK_NS 2000000ull      /* look for threads blocked in the kernel */
#define HOLD_MAX_NS     200000000ull    /* then go on without the rest */

/* Waits until each of the `left` tasks marked frozen (1) and not in a
 * stop has stopped, reaping those tids only: each stop is kept
 * (defer_status) and handled by the main loop once the caller is done,
 * which resumes the thread.  Stops of other tracees stay queued in the
 * kernel meanwhile (those threads wait stopped), so none is handled out
 * of its turn or with the engine in the middle of something.  A thread
 * blocked in the kernel (state D: e.g. a vfork parent waiting for its
 * child) is not waited for: the interrupt stops it before it returns to
 * user mode.  One that does not stop within max_ns is counted as loss
 * "ptrace-hold-timeout" of pid.  Returns the time spent. */
static uint64_t wait_frozen(struct emt_session *s, size_t left, uint64_t max_ns, pid_t pid)
{
	struct pt_engine *e = E(s);
	uint64_t t0 = now_ns();
	int checked = 0;

	while (left) {
		for (int b = 0; b < PT_BUCKETS; b++)
			for (struct pt_task *u = e->tasks[b]; u; u = u->next) {
				int st;
				if (u->frozen != 1 || u->in_stop)
					continue;
				pid_t w = waitpid(u->tid, &st, __WALL | WNOHANG);
				if (w == u->tid) {
					u->in_stop = 1;
					left--;
					if (defer_status(s, u->tid, st) < 0)
						/* Out of memory: resume it rather than
						 * lose its stop (it may run meanwhile). */
						ptrace(PTRACE_CONT, u->tid, 0, 0);
				} else if (w < 0 && errno == ECHILD) {
					u->frozen = 2;  /* gone */
					left--;
				}
			}
		if (!left)
			break;
		uint64_t dt = now_ns() - t0;
		if (dt > HOLD_D_CHECK_NS && !checked) {
			checked = 1;
			for (int b = 0; b < PT_BUCKETS; b++)
				for (struct pt_task *u = e->tasks[b]; u; u = u->next) {
					if (u->frozen != 1 || u->in_stop)
						continue;
					int state = proc_read_state(u->tid);
					if (state < 0 || state == 'D') {
						u->frozen = 2;
						left--;
					}
				}
			if (!left)
				break;
		}
		if (dt > max_ns) {
			sink_loss(s->sink, "ptrace-hold-timeout", left, pid, now_ns());
			break;
		}
		wait_sigchld(1000000ull);
	}
	return now_ns() - t0;
}

/* Stops every other thread sharing t's memory image, so that none runs or
 * writes it while one of its pages is writable and executable
 * (self_write).  Threads already in a stop stay there.  Each interrupted
 * thread's stop is kept and handled by the main loop after
 * release_others(), which resumes it (wait_frozen). */
static void hold_others(struct emt_session *s, struct pt_task *t)
{
	struct pt_engine *e = E(s);
	struct pt_mm *m = t->proc->mm;
	size_t left = 0;

	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_task *u = e->tasks[b]; u; u = u->next) {
			if (u == t || u->in_stop || !u->proc || u->proc->mm != m)
				continue;
			if (ptrace(PTRACE_INTERRUPT, u->tid, 0, 0) < 0)
				continue;       /* gone: its exit is reported */
			u->frozen = 1;
			left++;
		}
	if (!left)
		return;
	e->holds++;
	e->hold_ns += wait_frozen(s, left, HOLD_MAX_NS, t->proc->pid);
}

/* Ends hold_others(): the kept stops are handled (and the threads
 * resumed) by the main loop. */
static void release_others(struct emt_session *s)
{
	struct pt_engine *e = E(s);

	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_task *u = e->tasks[b]; u; u = u->next)
			u->frozen = 0;
}

/* ------------------------------------------------------------------ */
/* Faults                                                              */

static uint32_t prot_rx(uint32_t asked)
{
	return (asked & ~(uint32_t)PROT_WRITE) | PROT_READ;
}

static uint32_t prot_rw(uint32_t asked)
{
	return (asked & ~(uint32_t)PROT_EXEC) | PROT_READ;
}

/* A W^X flip of [addr, addr+len) to prot (read+exec or read+write) in
 * stopped thread t (registers *u).  Alone in its image, through the
 * trampoline if it can (fast_flip), else by one remote mprotect.  With
 * other threads of the image running, mprotect changes the page table entries
 * first and flushes the other CPUs' TLBs after: in between, a sibling on
 * another CPU can still fetch through its stale executable translation
 * while its store already finds the new writable entry (or, flipping to
 * executable, store through a stale writable one and run the result), so
 * it writes code and runs it with no fault in between: a version nobody
 * captured (seen as 1 missing image in 200 runs of fx_selfmod --threads
 * 8).  So with siblings the flip goes through read-only first: once that
 * call returns, no CPU holds a translation that allows a write or a fetch,
 * and none ever allows both.  Returns 1 if t was sent through the
 * trampoline (the caller resumes it with no signal), 0 when flipped, or
 * -errno (-ESRCH: t died and is freed). */
static int flip(struct emt_session *s, struct pt_task *t, uint64_t addr,
		uint64_t len, uint32_t prot, const struct user_regs_struct *u)
{
	int err;

	if (alone_in_image(E(s), t)) {
		if ((err = fast_flip(s, t, addr, len, prot, u)) != 0)
			return err;
	} else {
		err = remote_mprotect_regs(s, t, addr, len,
					   prot & ~(uint32_t)(PROT_WRITE | PROT_EXEC), u);
		if (err < 0)
			return err;
	}
	return remote_mprotect_regs(s, t, addr, len, prot, u);
}

/* The extent of region rid's tracked pieces, if they are contiguous, all
 * under W^X and asked for the same protections: 1 with [*lo, *hi), else
 * 0 (part of the region was unmapped or changed: only the faulting piece
 * is handled). */
static int region_extent(const struct pt_mm *m, const struct pt_region *cur,
			 uint64_t *lo, uint64_t *hi)
{
	uint64_t l = cur->start, h = cur->start + cur->len, sum = 0;

	for (size_t i = 0; i < m->n; i++) {
		const struct pt_region *r = &m->r[i];
		if (r->region_id != cur->region_id)
			continue;
		if ((r->state != PT_W && r->state != PT_X) || r->asked != cur->asked)
			return 0;
		if (r->start < l)
			l = r->start;
		if (r->start + r->len > h)
			h = r->start + r->len;
		sum += r->len;
	}
	*lo = l;
	*hi = h;
	return h - l == sum;
}

/* What a first execution at fa in piece cur captures: the whole region
 * (small ones), or the window around fa within the range as first
 * tracked (large ones). */
static void capture_bounds(const struct pt_mm *m, const struct pt_region *cur,
			   uint64_t fa, uint64_t *cs, uint64_t *cl)
{
	uint64_t pg = fa & ~(PAGE_SZ - 1), lo, hi;

	if (cur->whole > PT_WHOLE_MAX) {
		lo = pg > PT_EXEC_WINDOW / 2 ? pg - PT_EXEC_WINDOW / 2 : 0;
		hi = pg + PT_EXEC_WINDOW / 2;
		if (lo < cur->wstart)
			lo = cur->wstart;
		if (hi > cur->wstart + cur->whole)
			hi = cur->wstart + cur->whole;
	} else if (!region_extent(m, cur, &lo, &hi)) {
		lo = cur->start;
		hi = cur->start + cur->len;
	}
	*cs = lo;
	*cl = hi - lo;
}

/* Queues the first-exec-fault capture of the region of cur at fa, with
 * registers u. */
static int capture_exec(struct emt_session *s, struct pt_task *t,
			const struct pt_region *cur, uint64_t fa,
			const struct user_regs_struct *u, uint32_t before)
{
	struct emt_regs_x86_64 regs;
	uint64_t cs, cl;

	capture_bounds(t->proc->mm, cur, fa, &cs, &cl);
	x86_64_regs_snapshot(u, fa, &regs);
	return capture_range(s, t->proc->pid, t->tid, cur->region_id, cs, cl,
			     EMT_TRIGGER_FIRST_EXEC_FAULT, before,
			     prot_rx(cur->asked), &regs, NULL);
}

/* W->X: an instruction fetch at fa from WRITABLE piece cur.  The range is
 * made read+exec FIRST, then read, so nothing written by a sibling thread
 * between the read and the flip can run uncaptured. */
static int exec_fault(struct emt_session *s, struct pt_task *t,
		      const struct pt_region *cur, uint64_t fa,
		      const struct user_regs_struct *u)
{
	struct pt_engine *e = E(s);
	struct pt_mm *m = t->proc->mm;
	uint64_t pg = fa & ~(PAGE_SZ - 1), lo, hi;
	uint32_t rx = prot_rx(cur->asked);
	int err;

	if (cur->whole > PT_WHOLE_MAX) {
		/* The written pages of the window around the fault. */
		lo = pg > PT_EXEC_WINDOW / 2 ? pg - PT_EXEC_WINDOW / 2 : 0;
		hi = pg + PT_EXEC_WINDOW / 2;
		if (lo < cur->start)
			lo = cur->start;
		if (hi > cur->start + cur->len)
			hi = cur->start + cur->len;
	} else if (!region_extent(m, cur, &lo, &hi)) {
		lo = cur->start;
		hi = cur->start + cur->len;
	}
	/* Small regions: one call over the whole region makes every piece
	 * of it executable (those that already are do not change).  The
	 * trampoline flips when t resumes, after the capture below has read
	 * the bytes (t is alone in its image: nothing can write them
	 * meanwhile). */
	err = flip(s, t, lo, hi - lo, rx, u);
	if (err < 0)
		return err == -ESRCH ? 0 : err;
	/* region_extent() vouched that [lo, hi) is this region only. */
	if (mm_set_state(m, cur, lo, hi - lo, PT_X))
		return emt_session_fail(s, -ENOMEM, "out of memory");
	m->gen++;
	e->transitions_wx++;
	uint64_t w0 = now_ns();
	err = capture_exec(s, t, cur, fa, u, PROT_READ | PROT_WRITE);
	e->wx_copy_ns += now_ns() - w0;
	return err;
}

/* A write at fa into a page the writing instruction executes from.
 * Flipping that page to writable would make the instruction's own fetch
 * fault, and flipping it back on that fault would make the write fault
 * again, forever.  Instead, with every other thread of the image stopped,
 * the page is made writable+executable, the instruction is single-stepped
 * and the page made read+exec again; the next instruction then runs from
 * the rewritten page, so the result is captured now as a version (with
 * the registers after the write): each such write ends a write burst.
 * A store that reaches into a further page of ours gets that page the same
 * way.  Returns the signal to deliver (SIGSEGV if the instruction faults
 * for another reason, else 0) or -errno. */
static int self_write(struct emt_session *s, struct pt_task *t,
		      const struct pt_region *cur, uint64_t fa,
		      const struct user_regs_struct *u)
{
	struct pt_engine *e = E(s);
	struct pt_mm *m = t->proc->mm;
	struct user_regs_struct after = *u;
	struct { uint64_t pg; uint32_t rx; } pages[4];
	size_t np = 0;
	uint64_t a = fa;
	pid_t tid = t->tid;
	int sig = 0, err = 0;

	hold_others(s, t);
	for (;;) {
		const struct pt_region *r = mm_find(m, a);
		uint64_t pg = a & ~(PAGE_SZ - 1);
		int seen = 0;
		for (size_t i = 0; i < np; i++)
			seen |= pages[i].pg == pg;
		if (!r || r->state != PT_X || seen || np == sizeof(pages) / sizeof(pages[0])) {
			sig = SIGSEGV;  /* not ours to fix: the target's fault */
			break;
		}
		err = remote_mprotect_regs(s, t, pg, PAGE_SZ,
					   r->asked | PROT_READ | PROT_WRITE | PROT_EXEC,
					   &after);
		if (err < 0)
			goto out;
		pages[np].pg = pg;
		pages[np].rx = prot_rx(r->asked);
		np++;
		struct x86_64_remote out;
		int rc = x86_64_step(tid, u->rip, &after, &a, &out);
		if (remote_done(s, t, rc, &out) == -ESRCH) {
			err = -ESRCH;
			goto out;
		}
		if (rc < 0) {
			err = emt_session_fail(s, rc, "tid %d: single-step: %s",
					       (int)tid, strerror(-rc));
			goto out;
		}
		if (rc == 0)
			break;
	}
	for (size_t i = 0; i < np && !err; i++)
		err = remote_mprotect_regs(s, t, pages[i].pg, PAGE_SZ, pages[i].rx, &after);
	if (np)
		m->gen++;       /* even on failure: the pages were RWX meanwhile */
	if (err < 0 || sig)
		goto out;
	e->transitions_self++;
	err = capture_exec(s, t, cur, fa, &after, PROT_READ | PROT_WRITE | PROT_EXEC);
out:
	release_others(s);
	if (err == -ESRCH)
		return 0;       /* died: its exit is processed */
	return err < 0 ? err : sig;
}

/* X->W: a write at fa into EXECUTABLE piece cur by the instruction at
 * u->rip. */
static int write_fault(struct emt_session *s, struct pt_task *t,
		       const struct pt_region *cur, uint64_t fa,
		       const struct user_regs_struct *u)
{
	struct pt_engine *e = E(s);
	struct pt_mm *m = t->proc->mm;
	uint64_t pg = fa & ~(PAGE_SZ - 1);
	/* The pages of the writing instruction (at most 15 bytes). */
	uint64_t ilo = u->rip & ~(PAGE_SZ - 1);
	uint64_t ihi = ((u->rip + 14) & ~(PAGE_SZ - 1)) + PAGE_SZ;
	uint64_t fs = cur->start, fl = cur->len;
	int err;

	if (pg >= ilo && pg < ihi)
		return self_write(s, t, cur, fa, u);
	if (cur->whole > PT_WHOLE_MAX) {
		fs = pg;
		fl = PAGE_SZ;
	} else if (fs < ihi && ilo < fs + fl) {
		/* The writer runs from this range (a decryptor writing the
		 * rest of its region): its own pages stay executable, the
		 * side of the range it writes to becomes writable. */
		if (fa < ilo) {
			fl = ilo - fs;
		} else {
			fl = fs + fl - ihi;
			fs = ihi;
		}
	}
	err = flip(s, t, fs, fl, prot_rw(cur->asked), u);
	if (err < 0)
		return err == -ESRCH ? 0 : err;
	if (mm_set_state(m, cur, fs, fl, PT_W))
		return emt_session_fail(s, -ENOMEM, "out of memory");
	m->gen++;
	e->transitions_xw++;
	return 0;
}

/* Whether t faulted at fa last, with nothing flipped since: a fault
 * suppressed once that comes back is not ours. */
static int fault_repeats(const struct pt_task *t, const struct pt_mm *m,
			 uint64_t fa)
{
	return t->last_fault == fa && t->last_gen == m->gen;
}

/* Remembers t's fault at fa, suppressed to be retried. */
static void fault_retry(struct pt_task *t, const struct pt_mm *m, uint64_t fa)
{
	t->last_fault = fa;
	t->last_gen = m->gen;
}

/* Whether a sibling of t has a call we rewrote to read-only in flight
 * over fa (1), its exit then reaped for the main loop to take first, so
 * that t's retry finds what the target asked; 0 if none, or -errno. */
static int ro_call_over(struct emt_session *s, struct pt_task *t, uint64_t fa)
{
	struct pt_engine *e = E(s);
	struct pt_mm *m = t->proc->mm;

	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_task *u = e->tasks[b]; u; u = u->next) {
			const struct pt_sys *y = &u->sys;
			if (u == t || !u->proc || u->proc->mm != m || !y->active ||
			    !y->via_read || fa < y->a[0] ||
			    fa - y->a[0] >= page_up(y->a[1]))
				continue;
			if (!u->in_stop) {
				/* Its exit stop comes as soon as the kernel is
				 * done with the call. */
				int st;
				pid_t w;
				do
					w = waitpid(u->tid, &st, __WALL);
				while (w < 0 && errno == EINTR);
				if (w < 0) {
					u->sys.active = 0;  /* not ours now */
					return 0;
				}
				u->in_stop = 1;
				int err = defer_status(s, u->tid, st);
				if (err < 0)
					return err;
			}
			return 1;
		}
	return 0;
}

/* A permission fault at fa outside the ranges under W^X is the target's
 * own, unless we changed the protection under it: a sibling's call we
 * rewrote to read-only is in flight over fa (its exit sets what the
 * target asked: reap that exit first, then retry), or the fault was
 * taken before a change processed since (a call's exit that untracked
 * the page, a flip), which cannot be told from a genuine one.  So each
 * is retried once: a genuine fault repeats at the same address with
 * nothing changed in between, and is delivered then.  Returns the signal
 * to deliver (0: retry) or -errno. */
static int foreign_fault(struct emt_session *s, struct pt_task *t, uint64_t fa)
{
	struct pt_mm *m = t->proc->mm;
	int err = ro_call_over(s, t, fa);

	if (err != 0)
		return err < 0 ? err : 0;
	if (fault_repeats(t, m, fa))
		return SIGSEGV;
	fault_retry(t, m, fa);
	return 0;
}

/* Handles a SIGSEGV signal-delivery stop; `pre` are t's registers if
 * already read (NULL: read them).  Returns the signal to deliver (SIGSEGV
 * for a genuine fault, 0 when it was ours), or -errno. */
static int on_segv(struct emt_session *s, struct pt_task *t,
		   const struct user_regs_struct *pre)
{
	struct pt_mm *m = t->proc->mm;
	struct user_regs_struct u;
	struct pt_region *r;
	siginfo_t si;
	uint64_t fa;

	if (!m)
		return SIGSEGV;
	if (pre)
		u = *pre;
	else if (ptrace(PTRACE_GETREGS, t->tid, 0, &u) < 0)
		return errno == ESRCH ? 0 : SIGSEGV;
	/* The common W->X case needs no siginfo: a thread that is not in a
	 * system call (orig_rax -1) stopped with its pc in a page we keep
	 * non-executable can only be at the fetch fault of that pc (it
	 * cannot have run anything there to be interrupted at). */
	r = mm_find(m, x86_64_pc(&u));
	if (x86_64_in_syscall(&u) || !r || r->state != PT_W) {
		if (ptrace(PTRACE_GETSIGINFO, t->tid, 0, &si) < 0)
			return SIGSEGV;
		if (si.si_code != SEGV_ACCERR)
			return SIGSEGV;
		/* A fault enters the kernel with no system call (orig_rax
		 * -1); one queued by the target itself (rt_tgsigqueueinfo)
		 * arrives at a syscall's return, and would not recur. */
		if (x86_64_in_syscall(&u))
			return SIGSEGV;
		fa = (uint64_t)(uintptr_t)si.si_addr;
		r = mm_find(m, fa);
		if (!r || r->state == PT_SHARED)
			return foreign_fault(s, t, fa);
	} else {
		fa = x86_64_pc(&u);
	}
	int fetch_like = x86_64_maybe_fetch_fault(&u, fa);
	int repeat = fault_repeats(t, m, fa);

	/* Our protections decide what faulted: a WRITABLE range faults only
	 * on a fetch, an EXECUTABLE one only on a write.  Another thread may
	 * have flipped the range between this fault and now, so a fault that
	 * does not fit the current state is retried once before it is taken
	 * for the other kind. */
	if ((r->state == PT_W && !fetch_like) || (r->state == PT_X && fetch_like)) {
		int err = tramp_verify(s, t);
		if (err < 0)
			return err;
	}
	if (r->state == PT_W && !fetch_like) {
		if (!repeat) {
			fault_retry(t, m, fa);
			return 0;
		}
		int err = ro_call_over(s, t, fa);
		if (err != 0)
			return err < 0 ? err : 0;
		return SIGSEGV;  /* a real fault: e.g. a read of W-only memory */
	}
	if (r->state == PT_X && fetch_like && !repeat) {
		fault_retry(t, m, fa);
		return 0;
	}
	t->last_fault = 0;
	t->tramp_check = 0;
	struct pt_region cur = *r;      /* r may move in remote calls */
	if (cur.state == PT_W)
		return exec_fault(s, t, &cur, fa, &u);
	return write_fault(s, t, &cur, fa, &u);
}

/* ------------------------------------------------------------------ */
/* CPU placement                                                       */

/* Keeps the writer thread off the CPU the tracer is pinned to, where the
 * tracer and the thread it serves take turns: the writer's compression
 * and hashing there would stretch every round trip by its time slices
 * (follow mode ran 1 in 3 of its W->X benchmark runs at 20 us per
 * transition and the others at 60-80 us, as the scheduler put the writer
 * beside them or not).  Failure only costs speed. */
static void place_writer(struct pt_engine *e)
{
	cpu_set_t set = e->oldcpus;

	if (!e->pinned || e->my_cpu < 0)
		return;
	CPU_CLR(e->my_cpu, &set);
	if (CPU_COUNT(&set) > 0)
		(void)writeq_set_cpus(e->q, &set);
}

/* Pins the tracer thread to the CPU it runs on (modes FOLLOW and BOTH),
 * keeping its former mask in e->oldcpus.  Failure only costs speed. */
static void pin_setup(struct emt_session *s)
{
	struct pt_engine *e = E(s);
	const char *pin = getenv("EMT_PTRACE_PIN");
	cpu_set_t set;

	e->my_cpu = -1;
	e->cand_cpu = -1;
	e->affinity = !pin || !*pin || strcmp(pin, "follow") == 0 ? PT_AFF_FOLLOW :
		      strcmp(pin, "0") == 0 || strcmp(pin, "none") == 0 ? PT_AFF_NONE :
		      PT_AFF_BOTH;
	if (e->affinity == PT_AFF_NONE ||
	    (e->affinity == PT_AFF_BOTH && s->opts.pid > 0))
		return;         /* BOTH never restricts an attached target */
	int cpu = sched_getcpu();
	if (cpu < 0 || sched_getaffinity(0, sizeof(e->oldcpus), &e->oldcpus) < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0) {
		e->pinned = 1;
		e->my_cpu = cpu;
		place_writer(e);
	}
}

/* FOLLOW: moves the tracer to the CPU thread t stopped on when the
 * threads it serves keep stopping on that one.  The CPU is read from t's
 * rseq area (registered by glibc 2.35+ in every thread; threads without
 * one are not followed).  Called at the stops that are resumed at once. */
static void follow_cpu(struct pt_engine *e, struct pt_task *t)
{
	struct __ptrace_rseq_configuration rc;
	uint32_t cpu;

	if (e->affinity != PT_AFF_FOLLOW || !e->pinned ||
	    e->follow_tick++ % PT_FOLLOW_EVERY != 0)
		return;
	if (!t->rseq_cpu) {
		t->rseq_cpu = 1;
		if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, t->tid, sizeof(rc), &rc) ==
		    (long)sizeof(rc) && rc.rseq_abi_pointer && rc.rseq_abi_size >= 8)
			t->rseq_cpu = rc.rseq_abi_pointer + 4;  /* struct rseq: cpu_id */
	}
	if (t->rseq_cpu == 1)
		return;
	struct iovec l = { &cpu, sizeof(cpu) };
	struct iovec r = { (void *)(uintptr_t)t->rseq_cpu, sizeof(cpu) };
	if (process_vm_readv(t->tid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(cpu) ||
	    (int32_t)cpu < 0 || cpu >= CPU_SETSIZE)
		return;
	if ((int)cpu == e->my_cpu) {
		e->cand_count = 0;
		return;
	}
	if ((int)cpu != e->cand_cpu) {
		e->cand_cpu = (int)cpu;
		e->cand_count = 0;
	}
	/* Hysteresis: threads of one target on two CPUs must not make the
	 * tracer migrate at every other stop. */
	if (++e->cand_count < PT_FOLLOW_AFTER)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0) {
		e->my_cpu = (int)cpu;
		e->migrations++;
		place_writer(e);
	}
	e->cand_count = 0;
}

/* BOTH: gives the threads of a launched target back the mask they had
 * before we pinned them, unless they changed it themselves since. */
static void unpin_target(struct pt_engine *e, pid_t tid)
{
	cpu_set_t cur, pinned;

	if (e->affinity != PT_AFF_BOTH || !e->pinned ||
	    sched_getaffinity(tid, sizeof(cur), &cur) < 0)
		return;
	CPU_ZERO(&pinned);
	CPU_SET(e->my_cpu, &pinned);
	if (CPU_EQUAL(&cur, &pinned))
		sched_setaffinity(tid, sizeof(e->oldcpus), &e->oldcpus);
}

/* ------------------------------------------------------------------ */
/* Stops                                                               */

static int on_exec(struct emt_session *s, struct pt_task *t)
{
	struct pt_engine *e = E(s);
	unsigned long former = 0;

	ptrace(PTRACE_GETEVENTMSG, t->tid, 0, &former);
	if ((pid_t)former != t->tid && former)
		task_remove(e, (pid_t)former);
	int sr_exit = sysrec_pt_exec(sysrec_session_ptrace(e->sr), (pid_t)former, t->tid);
	struct pt_mm *m = mm_new(t->proc->pid);
	if (!m)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	mm_put(t->proc->mm);
	t->proc->mm = m;
	memset(&t->sys, 0, sizeof(t->sys));
	t->sys.need_exit = sr_exit;     /* --syscalls: execve's exit stop */
	t->tramp_pending = 0;
	t->tramp_check = 0;
	return sink_process_exec(s->sink, t->proc->pid, now_ns());
}

/* Handles one waitpid() result.  Returns 0 or -errno (fatal). */
static int handle(struct emt_session *s, pid_t tid, int st)
{
	struct pt_engine *e = E(s);
	struct pt_task *t;
	int err = 0;

	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		task_exited(s, tid, st);
		return 0;
	}
	if (!WIFSTOPPED(st))
		return 0;
	t = task_get(s, tid);
	if (!t) {
		/* Not ours, or gone already: let it go. */
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return 0;
	}
	t->in_stop = 1;
	int sig = WSTOPSIG(st), ev = st >> 16;
	struct user_regs_struct ur;
	int have_regs = 0;
	if (t->tramp_pending) {
		err = tramp_settle(s, t, ev ? 0 : sig, &ur, &have_regs);
		if (err < 0)
			return err;
		if (err == 1)
			return resume(s, t, 0);
		err = 0;
	}

	if (sig == (SIGTRAP | 0x80) || ev == PTRACE_EVENT_SECCOMP) {
		struct __ptrace_syscall_info si;
		follow_cpu(e, t);
		if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(si), &si) <= 0)
			return resume(s, t, 0);
		if (si.op == PTRACE_SYSCALL_INFO_EXIT) {
			err = sysrec_pt_exit(sysrec_session_ptrace(e->sr), tid, si.exit.rval,
					     now_ns());
			if (err < 0)
				return emt_session_fail(s, err, "archive: syscalls: %s",
							emt_writer_errmsg(sink_writer(s->sink)));
			if (t->sys.active)
				err = sys_exit(s, t, si.exit.rval);
			else
				t->sys.need_exit = 0;
			if (err == -ESRCH)
				return 0;       /* died in a remote call */
		} else if (si.op == PTRACE_SYSCALL_INFO_ENTRY ||
			   si.op == PTRACE_SYSCALL_INFO_SECCOMP) {
			/* Entry and seccomp share the layout of nr/args.  While
			 * stopping, the call runs as the target asked. */
			if (si.op == PTRACE_SYSCALL_INFO_ENTRY) {
				si.seccomp.nr = si.entry.nr;
				memmove(si.seccomp.args, si.entry.args,
					sizeof(si.seccomp.args));
			}
			/* --syscalls: recorded here, its exit stop asked. */
			int srw = sysrec_pt_enter(sysrec_session_ptrace(e->sr), t->proc->pid, tid,
						  si.seccomp.nr, (const uint64_t *)si.seccomp.args,
						  now_ns());

			if (srw < 0)
				return emt_session_fail(s, srw, "archive: syscalls: %s",
							emt_writer_errmsg(sink_writer(s->sink)));
			if (!e->stopping) {
				err = sys_enter(s, t, &si);
				if (srw > 0)
					t->sys.need_exit = 1;
			} else {
				/* Not held here: a remote syscall cannot run from
				 * a syscall entry (restoring the registers would
				 * skip the pending call).  The call runs as asked
				 * and the thread is held at its exit. */
				memset(&t->sys, 0, sizeof(t->sys));
				t->sys.need_exit = 1;
				t->in_stop = 0;
				if (ptrace(PTRACE_SYSCALL, tid, 0, 0) < 0 && errno != ESRCH)
					return emt_session_fail(s, -errno, "tid %d: resume: %s",
								(int)tid, strerror(errno));
				return 0;
			}
		}
		if (err < 0)
			return err;
		return resume(s, t, 0);
	}
	if (ev) {
		switch (ev) {
		case PTRACE_EVENT_FORK:
		case PTRACE_EVENT_VFORK:
		case PTRACE_EVENT_CLONE: {
			unsigned long child = 0;
			if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && child)
				task_get(s, (pid_t)child);
			return resume(s, t, 0);
		}
		case PTRACE_EVENT_EXIT:
			/* The memory is still there at this stop, gone at the
			 * exit status.  One thread's exit (even the leader's)
			 * is not the process's. */
			t->exiting = 1;
			if (!t->proc->exit_seen && t->proc->mm && group_exit(e, t)) {
				t->proc->exit_seen = 1;
				capture_shared(s, t, 0, 0, EMT_TRIGGER_EXIT);
			}
			return resume(s, t, 0);
		case PTRACE_EVENT_EXEC:
			err = on_exec(s, t);
			if (err < 0)
				return err;
			return resume(s, t, 0);
		case PTRACE_EVENT_STOP:
			/* Group stop (SIGSTOP & co.) keeps the tracee stopped
			 * until SIGCONT; anything else (a new child's first
			 * stop, our interrupt) just resumes. */
			if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
			    sig == SIGTTOU) {
				if (e->stopping) {
					t->held = 1;
					t->held_sig = 0;
					return 0;
				}
				/* Listening, it can be woken by SIGCONT any time:
				 * not a stop hold_others() may count on. */
				t->in_stop = 0;
				if (ptrace(PTRACE_LISTEN, tid, 0, 0) < 0 && errno != ESRCH)
					return emt_session_fail(s, -errno,
						"tid %d: listen: %s", (int)tid, strerror(errno));
				return 0;
			}
			return resume(s, t, 0);
		default:
			return resume(s, t, 0);
		}
	}
	/* Signal-delivery stop. */
	if (sig == SIGSEGV) {
		uint64_t t0 = now_ns(), wx = e->transitions_wx, xw = e->transitions_xw;
		follow_cpu(e, t);
		int d = on_segv(s, t, have_regs ? &ur : NULL);
		if (d < 0)
			return d;
		if (!task_lookup(e, tid))
			return 0;       /* died during a remote call */
		err = resume(s, t, d);
		if (e->transitions_wx != wx)
			e->wx_ns += now_ns() - t0;
		else if (e->transitions_xw != xw)
			e->xw_ns += now_ns() - t0;
		return err;
	}
	return resume(s, t, sig);
}

/* ------------------------------------------------------------------ */
/* Engine operations                                                   */

static int pt_check(struct emt_session *s)
{
	int scope = -1;
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = -1;
		fclose(f);
	}
	if (scope == 3)
		return emt_session_fail(s, -EPERM,
			"ptrace is disabled (kernel.yama.ptrace_scope = 3)");
	if (s->opts.pid > 0 && geteuid() != 0 && scope >= 1)
		return emt_session_fail(s, -EPERM,
			"attaching needs root or CAP_SYS_PTRACE (kernel.yama.ptrace_scope = %d)",
			scope);
	return 0;
}

static int wait_one(pid_t pid, int *st, int opts)
{
	for (;;) {
		pid_t w = waitpid(pid, st, opts);
		if (w >= 0 || errno != EINTR)
			return w < 0 ? -errno : w;
	}
}

/* seccomp(2) of f in the calling (child) process, with SPEC_ALLOW if the
 * kernel knows it.  Returns 0 or -1 with errno set. */
static int install_filter(const struct x86_64_filter *f)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_SPEC_ALLOW, &f->prog) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &f->prog);
}

/* Child side of a launch: runs between fork and exec, so only
 * async-signal-safe calls. */
static void __attribute__((noreturn)) child_exec(struct emt_session *s, int errfd)
{
	struct pt_engine *e = E(s);
	int err;

	/* The target must not inherit our blocked SIGCHLD, nor our pinning
	 * unless asked (BOTH keeps it). */
	pthread_sigmask(SIG_SETMASK, &e->oldmask, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (e->pinned && e->affinity != PT_AFF_BOTH)
		sched_setaffinity(0, sizeof(e->oldcpus), &e->oldcpus);
	raise(SIGSTOP);         /* the parent seizes us meanwhile */
	/* From here PTRACE_O_EXITKILL kills us with the tracer; the death
	 * signal would also kill the target after a clean detach. */
	prctl(PR_SET_PDEATHSIG, 0);
	/* Root may install a filter without no_new_privs, which would
	 * disable setuid for the whole target tree.  SPEC_ALLOW: see
	 * remote_filter(). */
	if (install_filter(&E(s)->filter) < 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    install_filter(&E(s)->filter) < 0) {
			err = errno;
			(void)!write(errfd, &err, sizeof(err));
			_exit(127);
		}
	}
	/* Injections into other processes (inject_ptrace.h). */
	if (install_filter(&E(s)->inj_filter) < 0) {
		err = errno;
		(void)!write(errfd, &err, sizeof(err));
		_exit(127);
	}
	/* --syscalls: stacked on it, a stop at each chosen syscall. */
	if (E(s)->sr_filter.filter &&
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
		    &E(s)->sr_filter) < 0 &&
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &E(s)->sr_filter) < 0) {
		err = errno;
		(void)!write(errfd, &err, sizeof(err));
		_exit(127);
	}
	execvp(s->opts.argv[0], s->opts.argv);
	err = errno;
	(void)!write(errfd, &err, sizeof(err));
	_exit(127);
}

static int launch(struct emt_session *s)
{
	struct pt_engine *e = E(s);
	int pfd[2], st, err;

	if (getrandom(e->cookie, sizeof(e->cookie), 0) != sizeof(e->cookie))
		return emt_session_fail(s, -EIO, "getrandom: %s", strerror(errno));
	x86_64_seccomp_filter(e->cookie, &e->filter);
	inject_ptrace_filter(&e->inj_filter);
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return emt_session_fail(s, -errno, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		err = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return emt_session_fail(s, err, "fork: %s", strerror(-err));
	}
	if (pid == 0)
		child_exec(s, pfd[1]);
	close(pfd[1]);
	s->root_pid = pid;
	e->launched = 1;
	err = wait_one(pid, &st, WSTOPPED);
	if (err < 0 || !WIFSTOPPED(st)) {
		close(pfd[0]);
		return emt_session_fail(s, err < 0 ? err : -ECHILD,
					"launched command died before start");
	}
	if (ptrace(PTRACE_SEIZE, pid, 0,
		   PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
		   PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL |
		   PTRACE_O_TRACESYSGOOD) < 0) {
		err = -errno;
		kill(pid, SIGKILL);
		close(pfd[0]);
		return emt_session_fail(s, err, "cannot trace the launched command: %s",
					strerror(-err));
	}
	kill(pid, SIGCONT);
	struct pt_task *root = task_get(s, pid);

	if (!root) {
		kill(pid, SIGKILL);
		close(pfd[0]);
		return emt_session_fail(s, -ENOMEM, "out of memory");
	}
	root->proc->filtered = 1;       /* installed before exec (child_exec) */
	/* Run the child to its exec (or its failure). */
	for (;;) {
		pid_t w = wait_one(pid, &st, __WALL);
		if (w < 0) {
			close(pfd[0]);
			return emt_session_fail(s, w, "waitpid: %s", strerror(-w));
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			int cerr = 0;
			if (read(pfd[0], &cerr, sizeof(cerr)) != sizeof(cerr))
				cerr = ECHILD;
			close(pfd[0]);
			task_exited(s, pid, st);
			return emt_session_fail(s, -cerr, "cannot execute '%s': %s",
						s->opts.argv[0], strerror(cerr));
		}
		if ((st >> 16) == PTRACE_EVENT_EXEC) {
			close(pfd[0]);
			struct pt_task *t = task_lookup(e, pid);
			err = on_exec(s, t);
			if (err < 0)
				return err;
			return resume(s, t, 0);
		}
		int sig = WSTOPSIG(st);
		if ((st >> 16) || sig == SIGSTOP || sig == SIGCONT || sig == SIGTRAP)
			sig = 0;
		if (ptrace(PTRACE_CONT, pid, 0, sig) < 0) {
			err = -errno;
			close(pfd[0]);
			return emt_session_fail(s, err, "ptrace: %s", strerror(-err));
		}
	}
}

/* Waits until every known task is held (stopping mode).  Other stops are
 * handled (and held) on the way.  With `blocked_ok`, it also returns 1
 * once every task not held has been seen blocked in the kernel (state D,
 * e.g. a vfork parent whose child we hold) at two looks 20 ms apart:
 * those stop when they leave the kernel and are detached then (pt_stop).
 * Returns 0, 1 or -ETIMEDOUT after `ms`. */
static int wait_all_held(struct emt_session *s, int ms, int blocked_ok)
{
	struct pt_engine *e = E(s);
	uint64_t start = now_ns(), deadline = start + (uint64_t)ms * 1000000ull;
	uint64_t next_look = start + 20000000ull;
	int blocked_looks = 0;

	for (;;) {
		int all = 1;
		for (int b = 0; b < PT_BUCKETS && all; b++)
			for (struct pt_task *t = e->tasks[b]; t; t = t->next)
				if (!t->held) {
					all = 0;
					break;
				}
		if (all)
			return 0;
		int st;
		pid_t w = next_status(e, &st);
		if (w > 0) {
			int err = handle(s, w, st);
			if (err < 0)
				return err;
			continue;
		}
		if (w == -ECHILD)
			return 0;
		uint64_t now = now_ns();
		if (now > deadline)
			return -ETIMEDOUT;
		if (blocked_ok && now >= next_look) {
			int blocked = 1;
			for (int b = 0; b < PT_BUCKETS && blocked; b++)
				for (struct pt_task *t = e->tasks[b]; t; t = t->next)
					if (!t->held && proc_read_state(t->tid) != 'D') {
						blocked = 0;
						break;
					}
			blocked_looks = blocked ? blocked_looks + 1 : 0;
			if (blocked_looks >= 2)
				return 1;
			next_look = now + 20000000ull;
		}
		writeq_kick(e->q);
		e->kick_due = 0;
		wait_sigchld(1000000ull);
	}
}

struct attach_ctx {
	struct emt_session *s;
	struct pt_task *t;      /* a held thread of the attached process */
};

/* sink_baseline callback: keeps watching what can still change. */
static int attach_watch(void *ctx, const struct proc_map *mp, int64_t id)
{
	struct attach_ctx *ac = ctx;
	struct pt_task *t = ac->t;
	uint64_t len = mp->end - mp->start;
	int err;

	if ((mp->prot & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC)) {
		struct sink_backing b = {
			.kind = proc_map_backing(mp),
			.path = mp->path[0] ? mp->path : NULL,
			.inode = mp->inode, .dev = mp->dev, .offset = mp->offset,
		};
		err = remote_mprotect(ac->s, t, mp->start, len,
				      mp->prot & ~(uint32_t)PROT_EXEC);
		return err ? err : track_rwx(ac->s, t, mp->start, len, mp->prot, &b);
	}
	struct pt_region r = {
		.start = mp->start, .len = len, .asked = mp->prot,
		.state = PT_SHARED, .region_id = id, .wstart = mp->start, .whole = len,
	};
	if (mm_push(t->proc->mm, &r))
		return emt_session_fail(ac->s, -ENOMEM, "out of memory");
	return 0;
}

/* Attach with EMT_PTRACE_ATTACH_FILTER=1: installs the seccomp filter of
 * launched targets in the attached process by a remote seccomp(2) in held
 * thread t (SECCOMP_FILTER_FLAG_TSYNC: all its threads), so that only
 * memory syscalls stop it.  Opt-in because a filter cannot be removed: the
 * process stays under a pass-through tracer (the keeper) after the
 * capture, and if emt-capture is killed with SIGKILL its memory syscalls
 * fail with ENOSYS from then on.  Returns NULL when installed, else why
 * not (PTRACE_SYSCALL is used then). */
static const char *attach_filter(struct emt_session *s, struct pt_task *t,
				 char *why, size_t whylen)
{
	struct pt_engine *e = E(s);
	const char *opt = getenv("EMT_PTRACE_ATTACH_FILTER");
	int64_t ret = -1;
	int err;

	if (!s->opts.attach_filter && (!opt || strcmp(opt, "1") != 0))
		return "not asked for: --attach-filter installs one, which outlives the capture";
	if (!t)
		return "no thread to install it from";
	if (getrandom(e->cookie, sizeof(e->cookie), 0) != sizeof(e->cookie))
		return "getrandom failed";
	x86_64_seccomp_filter(e->cookie, &e->filter);
	if (find_sysinsn(s, t->proc) < 0)
		return "no syscall instruction in the target";
	err = remote_filter(s, t, &e->filter, SECCOMP_FILTER_FLAG_TSYNC, &ret);
	if (err == -ESRCH)
		return "the thread died";
	if (err < 0) {
		snprintf(why, whylen, "remote seccomp: %s", strerror(-err));
		return why;
	}
	if (ret != 0) {
		/* EACCES: neither no_new_privs nor CAP_SYS_ADMIN in the target
		 * (we do not set no_new_privs in someone else's process: it
		 * would disable setuid for the rest of its life); > 0: a
		 * thread whose filters differ could not be synchronised. */
		snprintf(why, whylen, "seccomp in the target: %s",
			 ret < 0 ? strerror((int)-ret) : "threads with other filters");
		return why;
	}
	t->proc->filtered = 1;
	return NULL;
}

/* The options of a process seized while it runs (attach, an injection's
 * victim): no EXITKILL, as a process we did not start must outlive us. */
#define PT_SEIZE_OPTS (PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | \
		       PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT | PTRACE_O_TRACESYSGOOD | \
		       PTRACE_O_TRACESECCOMP)
#define PT_UNSEIZE_NS 500000000ull      /* seize_process: a thread to let go */

/* Whether tid is ours already: attached by the kernel as the new thread
 * of a seized one, before we listed it. */
static int traced_by_us(pid_t tid)
{
	return proc_read_tracer(tid) == getpid();
}

/* Lets the threads of process pid that we seized (ours by traced_by_us)
 * go again, after a refusal of one of its threads (seize_process): each
 * is detached at its next stop (with the signal of a signal-delivery
 * stop, which it would otherwise lose).  A thread that does not stop
 * within PT_UNSEIZE_NS (blocked in the kernel) stays seized: its stop,
 * reaped by the main loop, then gives it records like a thread seen
 * before its creator's event (task_get).  Rare: it takes a process whose
 * threads have different tracers. */
static void unseize(pid_t pid)
{
	uint64_t t0 = now_ns();
	pid_t *tids;
	size_t n, left;

	do {
		left = 0;
		if (proc_list_tasks(pid, &tids, &n) < 0)
			return;
		for (size_t i = 0; i < n; i++) {
			int st;

			if (!traced_by_us(tids[i]))
				continue;
			if (waitpid(tids[i], &st, __WALL | WNOHANG) != tids[i] || !WIFSTOPPED(st)) {
				left++;
				continue;
			}
			int sig = (st >> 16) || WSTOPSIG(st) == SIGTRAP ? 0 : WSTOPSIG(st);

			ptrace(PTRACE_DETACH, tids[i], 0, sig);
		}
		free(tids);
		if (left)
			wait_sigchld(1000000ull);
	} while (left && now_ns() - t0 < PT_UNSEIZE_NS);
}

/* Seizes every thread of process pid, running: PTRACE_SEIZE with
 * PT_SEIZE_OPTS, then PTRACE_INTERRUPT.  Its thread list is read again
 * until it no longer changes: threads created meanwhile by a seized
 * thread are attached by the kernel (their first stop comes by itself),
 * those of a thread not seized yet appear in the next listing.  Only then
 * does pid get its records: a process of its own (none of ours is its
 * parent, its memory image is its own, it has no seccomp filter of ours)
 * and a task per thread, each of which reports a stop soon (waited for by
 * the caller, or reaped by the main loop).  A thread refusing (traced by
 * another process: EPERM) after others were seized makes those go again
 * (unseize): the process is either wholly ours or not at all.  Returns
 * the process record, or NULL with *err the -errno of the refusal, or of
 * the listing (the session is not failed: attach fails it, an injection's
 * victim is left unfollowed), and *tracer the refusing thread's tracer
 * (0: none, or not known). */
static struct pt_proc *seize_process(struct emt_session *s, pid_t pid, int *err,
				     pid_t *tracer)
{
	struct pt_engine *e = E(s);
	pid_t *seized = NULL;
	size_t nseized = 0, cap = 0;
	int changed;

	*err = 0;
	*tracer = 0;
	do {
		pid_t *tids;
		size_t n;

		changed = 0;
		*err = proc_list_tasks(pid, &tids, &n);
		if (*err == -ENOENT)
			*err = -ESRCH;  /* no such process (any more) */
		for (size_t i = 0; !*err && i < n; i++) {
			size_t k = 0;

			while (k < nseized && seized[k] != tids[i])
				k++;
			if (k < nseized)
				continue;
			if (ptrace(PTRACE_SEIZE, tids[i], 0, PT_SEIZE_OPTS) == 0) {
				ptrace(PTRACE_INTERRUPT, tids[i], 0, 0);
			} else if (errno == ESRCH) {
				continue;       /* gone meanwhile */
			} else if (errno != EPERM || !traced_by_us(tids[i])) {
				*err = -errno;
				int tr = proc_read_tracer(tids[i]);

				*tracer = tr > 0 ? tr : 0;
				break;
			}
			if (nseized == cap) {
				size_t nc = cap ? 2 * cap : 16;
				pid_t *nv = realloc(seized, nc * sizeof(*nv));

				if (!nv) {
					*err = -ENOMEM;
					break;
				}
				seized = nv;
				cap = nc;
			}
			seized[nseized++] = tids[i];
			changed = 1;
		}
		free(tids);
	} while (changed && !*err);
	struct pt_proc *p = NULL;

	if (!*err && !nseized)
		*err = -ESRCH;
	if (!*err && !(p = proc_create(s, pid, NULL)))
		*err = -ENOMEM;
	for (size_t i = 0; !*err && i < nseized; i++)
		if (!task_get(s, seized[i]))
			*err = -ENOMEM;
	free(seized);
	if (*err && nseized) {
		/* Records of a half-made process go too: the stops of its
		 * threads are then no one's (handle() detaches those). */
		for (int b = 0; b < PT_BUCKETS; b++)
			for (struct pt_task **pp = &e->tasks[b]; *pp;) {
				if ((*pp)->proc == p && p) {
					struct pt_task *t = *pp;

					*pp = t->next;
					free(t);
					e->ntasks--;
				} else {
					pp = &(*pp)->next;
				}
			}
		if (p)
			proc_exit(s, p, 0);
		unseize(pid);
		return NULL;
	}
	return p;
}

static int attach(struct emt_session *s)
{
	struct pt_engine *e = E(s);
	pid_t pid = s->opts.pid, tracer;
	int err;

	s->root_pid = pid;
	/* Every stop is held until the baseline is done (resumed below). */
	e->stopping = 1;
	if (!seize_process(s, pid, &err, &tracer)) {
		if (tracer > 0)
			return emt_session_fail(s, err, "cannot attach to pid %d: traced by pid %d",
						(int)pid, (int)tracer);
		return emt_session_fail(s, err, "cannot attach to pid %d: %s", (int)pid,
					strerror(-err));
	}
	err = wait_all_held(s, 5000, 0);
	if (err < 0)
		return emt_session_fail(s, err, "pid %d: threads did not stop", (int)pid);
	char why[160], msg[256];
	const char *no = attach_filter(s, task_lookup(e, pid), why, sizeof(why));
	struct emt_writer *w = sink_writer(s->sink);
	if (no) {
		/* The tool shows meta ptrace_warning (emt-capture(1)). */
		snprintf(msg, sizeof(msg), "ptrace-syscall: every syscall of the attached "
			 "process stops; seccomp filter %s", no);
		emt_writer_set_meta(w, "ptrace_syscalls", msg);
		snprintf(msg, sizeof(msg), "every system call of pid %d stops the target "
			 "(no seccomp filter: %s)", (int)pid, no);
		emt_writer_set_meta(w, "ptrace_warning", msg);
		emt_session_warn(s, "%s", msg);
	} else {
		emt_writer_set_meta(w, "ptrace_syscalls",
			"seccomp: memory syscalls only (filter installed in the attached "
			"process by a remote seccomp; it stays under a pass-through tracer "
			"after the capture)");
	}
	/* Existing code is captured as the baseline; RWX ranges are then
	 * switched to W^X like new ones, shared views watched. */
	struct attach_ctx ac = { s, task_lookup(e, pid) };
	if (ac.t)
		err = sink_baseline(s->sink, pid, s->opts.capture_files,
				    attach_watch, &ac);
	e->stopping = 0;
	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_task *u = e->tasks[b]; u; u = u->next) {
			u->held = 0;
			int rc = resume(s, u, u->held_sig);
			if (rc < 0 && !err)
				err = rc;
		}
	return err;
}

/* ------------------------------------------------------------------ */
/* Victims of injections                                               */

#define PT_VICTIM_WAIT_NS 1000000000ull /* for a victim's threads to stop */

/* Victim `victim` of an injection by writer (thread tid) cannot be
 * followed: seize_process's error err, the tracer that holds it (0: none
 * known).  The timeline says so once per victim: an events row of the
 * writer's thread, syscall "follow", ret err, detail "victim V not
 * followed: traced by pid N" (or the error's text); SPEC.md 15.  The
 * injection itself is recorded and its bytes captured all the same.
 * Returns 0 (no process row to give the follow reason to). */
static int64_t not_followed(struct emt_session *s, pid_t writer, pid_t tid, pid_t victim,
			    int err, pid_t tracer)
{
	struct pt_engine *e = E(s);
	char detail[128];

	for (size_t i = 0; i < e->nunfollowed; i++)
		if (e->unfollowed[i].pid == victim) {
			e->unfollowed[i].tracer = tracer;
			return 0;
		}
	if (e->nunfollowed == e->capunfollowed) {
		size_t nc = e->capunfollowed ? 2 * e->capunfollowed : 8;
		void *nv = realloc(e->unfollowed, nc * sizeof(*e->unfollowed));

		if (!nv)
			return emt_session_fail(s, -ENOMEM, "out of memory");
		e->unfollowed = nv;
		e->capunfollowed = nc;
	}
	e->unfollowed[e->nunfollowed].pid = victim;
	e->unfollowed[e->nunfollowed].tracer = tracer;
	e->nunfollowed++;
	if (tracer > 0)
		snprintf(detail, sizeof(detail), "victim %d not followed: traced by pid %d",
			 (int)victim, (int)tracer);
	else
		snprintf(detail, sizeof(detail), "victim %d not followed: %s", (int)victim,
			 strerror(-err));
	struct emt_event ev = {
		.time_ns = now_ns(), .pid = (uint32_t)writer, .tid = (uint32_t)tid,
		.syscall = "follow", .fd = -1, .ret = err,
	};
	/* A failure is sticky in the queue and reported by the next poll. */
	writeq_event_lazy(e->q, &ev, detail, 0);
	if (!e->kick_due)
		e->kick_due = ev.time_ns + PT_KICK_NS;
	return 0;
}

/* A stopped thread of process p, the leader if it is one (NULL: none). */
static struct pt_task *stopped_task(struct pt_engine *e, const struct pt_proc *p)
{
	struct pt_task *any = NULL;

	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_task *u = e->tasks[b]; u; u = u->next) {
			if (u->proc != p || !u->in_stop)
				continue;
			if (u->tid == p->pid)
				return u;
			any = any ? any : u;
		}
	return any;
}

/* inject_follow_fn of sys_exit (ctx: the session): the writer, a followed
 * process, is stopped at the exit of its call that wrote into `victim`.
 * A victim not followed yet is followed from now on, like an attached
 * process without our filter: every thread seized (seize_process) and
 * waited for (wait_frozen: the stops of the other tracees, the writer's
 * siblings say, wait in the kernel meanwhile, and are handled by the main
 * loop afterwards like the victim's own, which resumes the victim with
 * PTRACE_SYSCALL: it has no filter of ours), then the baseline of its
 * code with its RWX ranges put under W^X (attach_watch).  Not while the
 * capture stops, nor emt-capture itself.  A victim that cannot be seized
 * (traced by its injector, say) is not followed (not_followed), and is
 * tried again only once its tracer changed.  Returns the victim's process
 * row if it is followed since this call, 0 if not, or -errno (fatal). */
static int64_t follow_victim(void *ctx, pid_t writer, pid_t writer_tid, pid_t victim)
{
	struct emt_session *s = ctx;
	struct pt_engine *e = E(s);
	pid_t tracer;
	size_t n = 0;
	int err;

	if (e->stopping || victim <= 0 || victim == getpid() || proc_lookup(e, victim))
		return 0;
	/* Refused before: tried again only once its tracer changed (the
	 * injector detached, say), not at each of its thousand pokes. */
	for (size_t i = 0; i < e->nunfollowed; i++)
		if (e->unfollowed[i].pid == victim) {
			int tr = proc_read_tracer(victim);

			if (tr < 0 || tr == e->unfollowed[i].tracer)
				return 0;
		}
	struct pt_proc *p = seize_process(s, victim, &err, &tracer);

	if (!p)
		return err == -ENOMEM ? emt_session_fail(s, err, "out of memory") :
			not_followed(s, writer, writer_tid, victim, err, tracer);
	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_task *u = e->tasks[b]; u; u = u->next)
			if (u->proc == p && !u->in_stop) {
				u->frozen = 1;
				n++;
			}
	wait_frozen(s, n, PT_VICTIM_WAIT_NS, victim);
	/* sink_baseline writes its captures from this thread: the writer
	 * thread must have nothing in hand (the queue keeps the archive's
	 * order, and this comes after everything queued so far). */
	err = writeq_flush(e->q);
	if (err) {
		release_others(s);
		return queue_fail(s, err);
	}
	/* As attach(): existing code is the baseline, RWX ranges go W^X
	 * through a stopped thread, shared views are watched.  With no
	 * thread stopped (the rest timed out, counted), only the baseline. */
	struct attach_ctx ac = { s, stopped_task(e, p) };

	err = sink_baseline(s->sink, victim, s->opts.capture_files,
			    ac.t ? attach_watch : NULL, &ac);
	release_others(s);
	/* Gone meanwhile: followed all the same, its exit comes. */
	if (err < 0 && err != -ESRCH)
		return err;
	return sink_process_id(s->sink, victim);
}

static int pt_start(struct emt_session *s)
{
	struct pt_engine *e = calloc(1, sizeof(*e));
	sigset_t set;

	if (!e)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	s->engine_priv = e;
	e->q = writeq_start(s->sink, PT_QUEUE_MAX);
	if (!e->q)
		return emt_session_fail(s, -errno, "cannot start writer thread: %s",
					strerror(errno));
	/* --syscalls: the recorder, and its filter for a launched command
	 * (attached without a filter, every syscall stops anyway). */
	int err = sysrec_session_open(s, &e->sr);

	err = err ? err : sysrec_session_start(s, e->sr);
	if (!err && e->sr && s->opts.pid > 0 && s->opts.attach_filter)
		return emt_session_fail(s, -ENOTSUP, "--syscalls with --attach-filter is not "
					"supported: attach without --attach-filter");
	if (!err && e->sr && s->opts.pid <= 0)
		err = sysrec_session_filter(s, e->sr, &e->sr_filter);
	if (err)
		return err;
	/* W->X captures are copied while the target waits in its fault: into
	 * memory faulted in already.  Failure only costs speed. */
	(void)writeq_reserve(e->q, PT_RESERVE_BUFS, PT_RESERVE_JOBS);
	/* Started before pin_setup(): the helper is not pinned with us.
	 * Without it, poll() waits with WNOHANG and sigtimedwait(). */
	const char *wk = getenv("EMT_PTRACE_WAKER");
	if (!wk || strcmp(wk, "0") != 0)
		e->waker = waker_start(SIGRTMIN, &s->stop);
	/* SIGCHLD stays pending for sigtimedwait() in poll(). */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (pthread_sigmask(SIG_BLOCK, &set, &e->oldmask) == 0)
		e->mask_set = 1;
	if (s->opts.no_follow)
		/* A child inherits our filter and the protections we changed:
		 * untraced, its memory syscalls would fail and its RWX code
		 * fault. */
		emt_writer_set_meta(sink_writer(s->sink), "ptrace_follow",
				    "children followed anyway (--no-follow ignored: they "
				    "inherit the seccomp filter and W^X protections)");
	pin_setup(s);
	{
		const char *tr = getenv("EMT_PTRACE_TRAMPOLINE");
		e->no_tramp = tr && strcmp(tr, "0") == 0;
	}
	if (s->opts.pid > 0)
		return attach(s);
	emt_writer_set_meta(sink_writer(s->sink), "ptrace_syscalls",
			    "seccomp: memory syscalls only");

	return launch(s);
}

/* Handles wait status st of w in poll(); a failure (its own or the
 * writer thread's) is fatal to the session.  Returns 0 or -errno. */
static int serve(struct emt_session *s, pid_t w, int st)
{
	struct pt_engine *e = E(s);
	int err = handle(s, w, st);

	if (!err && (err = writeq_error(e->q)) != 0)
		err = queue_fail(s, err);
	if (err < 0)
		e->failed = 1;
	return err < 0 ? err : 0;
}

static int pt_poll(struct emt_session *s, int timeout_ms)
{
	struct pt_engine *e = E(s);
	uint64_t deadline = now_ns() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000ull;
	sigset_t set;

	if (!e)
		return 0;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		if (s->stop || e->ntasks == 0)
			return 0;
		int st;
		/* With the waker, the blocking waitpid below also takes the
		 * stops already waiting: only those reaped out of turn come
		 * from here. */
		pid_t w = e->waker && !e->ndeferred ? 0 : next_status(e, &st);
		if (w > 0) {
			int err = serve(s, w, st);
			if (err < 0)
				return err;
			continue;
		}
		if (w == -ECHILD)
			return 0;
		uint64_t now = now_ns();
		if (now >= deadline)
			return 1;
		uint64_t left = deadline - now;
		if (e->kick_due && (now >= e->kick_due ||
				    writeq_pending_bytes(e->q) >= PT_KICK_BYTES)) {
			writeq_kick(e->q);
			e->kick_due = 0;
		}
		if (e->kick_due && e->kick_due - now < left)
			left = e->kick_due - now;
		if (e->waker) {
			/* One call per stop: it returns at once if one is
			 * waiting, and the waker ends it at the deadline. */
			waker_block(e->waker, now + left);
			w = s->stop ? 0 : waitpid(-1, &st, __WALL);
			int werr = w < 0 ? errno : 0;
			waker_unblock(e->waker);
			if (w > 0) {
				int err = serve(s, w, st);
				if (err < 0)
					return err;
			} else if (werr == ECHILD) {
				return 0;
			}
			continue;
		}
		/* Capped: a thread of ours that does not block SIGCHLD could
		 * take the wakeup; then we look again after 20 ms anyway. */
		if (left > 20000000ull)
			left = 20000000ull;
		struct timespec ts = { (time_t)(left / 1000000000ull),
				       (long)(left % 1000000000ull) };
		/* Pending SIGCHLD (blocked) wakes us; EINTR means a stop
		 * request from a signal handler: both loop. */
		sigtimedwait(&set, NULL, &ts);
	}
}

/* Gives every tracked range of every live image the protections the target
 * asked for, using a held thread of that image. */
static int restore_all(struct emt_session *s)
{
	struct pt_engine *e = E(s);
	int ret = 0;

	for (int b = 0; b < PT_BUCKETS; b++) {
		for (struct pt_task *t = e->tasks[b]; t; t = t->next) {
			struct pt_mm *m = t->proc ? t->proc->mm : NULL;
			if (!m || !t->held)
				continue;
			pid_t tid = t->tid;
			while (m->n) {
				struct pt_region r = m->r[m->n - 1];
				if (r.state == PT_SHARED) {
					m->n--;
					continue;
				}
				int err = remote_mprotect(s, t, r.start, r.len, r.asked);
				if (err == -ESRCH) {
					/* t is gone or going (freed if its exit was
					 * seen): use another thread. */
					struct pt_task *still = task_lookup(e, tid);
					if (still)
						still->held = 0;
					goto next_bucket;
				}
				if (err < 0 && !ret)
					ret = err;
				m->n--;
			}
			if (m->tramp > 1 && m->sysinsn) {
				/* Take our trampoline away: the target is left
				 * with nothing of ours. */
				uint64_t args[6] = { m->tramp, X86_64_TRAMP_SIZE, 0, 0, 0, 0 };
				struct x86_64_remote out;
				int64_t rv;
				int err = x86_64_remote_syscall(tid, m->sysinsn, SYS_munmap,
								args, &rv, &out);
				m->tramp = 0;
				if (remote_done(s, t, err, &out) == -ESRCH) {
					struct pt_task *still = task_lookup(e, tid);
					if (still)
						still->held = 0;
					goto next_bucket;
				}
			}
		}
		continue;
next_bucket:
		b = -1;
	}
	return ret;
}

/* The keeper: a pass-through tracer for a launched target after the stop.
 * emt-capture writes the pid of each process to `go` once it has sent it
 * SIGSTOP and detached all its threads, and closes `go` when done.  For
 * each, the keeper waits until every thread is in the group stop (or
 * gone), so that nothing runs untraced between the detach and the seize
 * (an untraced memory syscall would fail with ENOSYS), seizes them
 * (PTRACE_O_EXITKILL: killing the keeper kills the target rather than
 * leaving it with a filter that breaks its memory syscalls) and
 * continues them.  Then every stop is resumed unchanged until no tracee
 * is left.  The SIGSTOPs that emt-capture (`boss`) sent are dropped when
 * a thread dequeues one only after the seize (else it would be delivered
 * again and park the target in a group stop nobody ends).  Runs in a
 * child of the tracer; never returns. */
/* The keeper's resume of one stop of tracee w. */
static void keeper_resume(pid_t w, int st, pid_t boss)
{
	int sig = WSTOPSIG(st), ev = st >> 16;

	if (!WIFSTOPPED(st))
		return;
	if (ev == PTRACE_EVENT_STOP) {
		/* A group stop stays one until SIGCONT; a new child's first
		 * stop or an interrupt just resumes. */
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			ptrace(PTRACE_LISTEN, w, 0, 0);
		else
			ptrace(PTRACE_CONT, w, 0, 0);
		return;
	}
	if (ev)
		sig = 0;
	if (sig == SIGSTOP) {
		siginfo_t si;
		if (ptrace(PTRACE_GETSIGINFO, w, 0, &si) == 0 &&
		    si.si_code == SI_USER && si.si_pid == boss)
			sig = 0;
	}
	ptrace(PTRACE_CONT, w, 0, sig);
}

static void __attribute__((noreturn)) keeper_main(int go, pid_t boss)
{
	const long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACEFORK |
			  PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
			  PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
	struct { pid_t pid; uint64_t since; } pend[64];
	size_t npend = 0;
	int open = 1, st, sfd;
	sigset_t chld;

	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	/* Tracee stops (SIGCHLD) and handed-over pids wake one poll(). */
	sfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
	fcntl(go, F_SETFL, O_NONBLOCK);
	for (;;) {
		while (open && npend < sizeof(pend) / sizeof(pend[0])) {
			pid_t pid;
			ssize_t n = read(go, &pid, sizeof(pid));
			if (n == (ssize_t)sizeof(pid)) {
				pend[npend].pid = pid;
				pend[npend].since = now_ns();
				npend++;
				continue;
			}
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				open = 0;
				close(go);
			}
			break;
		}
		for (size_t i = 0; i < npend;) {
			pid_t *tids;
			size_t nt, stopped = 0;
			if (proc_list_tasks(pend[i].pid, &tids, &nt) == 0) {
				for (size_t j = 0; j < nt; j++) {
					int state = proc_read_state(tids[j]);
					if (state < 0 || state == 'T' || state == 't' ||
					    state == 'Z' || state == 'X')
						stopped++;
				}
				/* Bounded: a thread that never stops (blocked in
				 * the kernel) is seized running after 2 s. */
				if (stopped < nt && now_ns() - pend[i].since < 2000000000ull) {
					free(tids);
					i++;
					continue;
				}
				for (size_t j = 0; j < nt; j++)
					ptrace(PTRACE_SEIZE, tids[j], 0, opts);
				free(tids);
				kill(pend[i].pid, SIGCONT);
			}
			pend[i] = pend[--npend];
		}
		pid_t w;
		while ((w = waitpid(-1, &st, __WALL | WNOHANG)) > 0)
			keeper_resume(w, st, boss);
		if (!open && !npend) {
			if (w < 0 && errno == ECHILD)
				_exit(0);       /* every tracee is gone */
			/* Only tracees to serve: sleep in waitpid. */
			if ((w = waitpid(-1, &st, __WALL)) > 0)
				keeper_resume(w, st, boss);
			continue;
		}
		struct pollfd pf[2] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = open ? go : -1, .events = POLLIN },
		};
		poll(pf, 2, npend ? 5 : -1);
		struct signalfd_siginfo ssi;
		while (read(sfd, &ssi, sizeof(ssi)) == (ssize_t)sizeof(ssi))
			;
	}
}

/* Forks the keeper.  Returns its pid (> 0) with *go the pipe end to
 * hand processes over (keeper_main), or 0 if none could be started. */
static pid_t start_keeper(struct emt_session *s, int *go)
{
	int fds[2];
	pid_t boss = getpid();

	if (pipe2(fds, O_CLOEXEC) < 0)
		return 0;
	pid_t k = fork();
	if (k == 0) {
		/* Not pinned with us: its tracees run wherever they like. */
		if (E(s)->pinned)
			sched_setaffinity(0, sizeof(E(s)->oldcpus), &E(s)->oldcpus);
		close(fds[1]);
		/* Nothing of the archive in the keeper. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != fds[0])
				close(fd);
		keeper_main(fds[0], boss);
	}
	close(fds[0]);
	if (k < 0) {
		close(fds[1]);
		return 0;
	}
	*go = fds[1];
	return k;
}

/* Whether a thread of ours belongs to a process with our filter. */
static int any_filtered(const struct pt_engine *e)
{
	for (int b = 0; b < PT_BUCKETS; b++)
		for (const struct pt_task *t = e->tasks[b]; t; t = t->next)
			if (t->proc && t->proc->filtered)
				return 1;
	return 0;
}

/* Detaches every held thread.  With a keeper (go >= 0), each process with
 * our filter first gets SIGSTOP (it group-stops as soon as its threads
 * are detached, until the keeper seizes it) and is handed over once none
 * of its threads is ours any more; one without is just detached and runs
 * on. */
static void detach_held(struct emt_session *s, int go)
{
	struct pt_engine *e = E(s);

	for (int b = 0; b < PT_BUCKETS; b++) {
		for (struct pt_task **pp = &e->tasks[b]; *pp;) {
			struct pt_task *t = *pp;
			if (!t->held) {
				pp = &t->next;
				continue;
			}
			struct pt_proc *p = t->proc;
			if (go >= 0 && p && p->filtered && !p->stop_sent) {
				kill(p->pid, SIGSTOP);
				p->stop_sent = 1;
			}
			int sig = t->held_sig;
			if (t->npend && !sig)
				sig = t->pend_sigs[--t->npend];
			while (t->npend)
				syscall(SYS_tgkill, p->pid, t->tid, t->pend_sigs[--t->npend]);
			unpin_target(e, t->tid);
			ptrace(PTRACE_DETACH, t->tid, 0, sig);
			*pp = t->next;
			free(t);
			e->ntasks--;
		}
	}
	if (go < 0)
		return;
	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_proc *p = e->procs[b]; p; p = p->next) {
			if (!p->stop_sent || p->stop_sent == 2)
				continue;
			int ours = 0;
			for (int c = 0; c < PT_BUCKETS && !ours; c++)
				for (struct pt_task *t = e->tasks[c]; t; t = t->next)
					if (t->proc == p) {
						ours = 1;
						break;
					}
			if (ours)
				continue;
			p->stop_sent = 2;
			if (write(go, &p->pid, sizeof(p->pid)) != (ssize_t)sizeof(p->pid))
				kill(p->pid, SIGCONT);  /* no keeper: at least not stopped */
		}
}

#define PT_LATE_DETACH_MS 10000

static int pt_stop(struct emt_session *s)
{
	struct pt_engine *e = E(s);
	int ret = 0, err;

	if (!e || e->stopped_done)
		return 0;
	e->stopped_done = 1;
	if (e->failed && e->launched) {
		/* A launched target does not run on uncaptured after a
		 * failure (emt-capture(1), PTRACE MODE): the whole followed
		 * tree goes, as in bpf mode.  An injection's victim is not
		 * ours to end: it is detached, as an attached process is. */
		for (int b = 0; b < PT_BUCKETS; b++)
			for (struct pt_proc *p = e->procs[b]; p; p = p->next)
				if (!p->exited && p->filtered)
					kill(p->pid, SIGKILL);
	}
	e->stopping = 1;
	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_task *t = e->tasks[b]; t; t = t->next)
			if (!t->held && ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0 &&
			    errno == ESRCH)
				t->held = 1;  /* dying: its exit will come */
	/* Threads blocked in the kernel (a vfork parent waiting for a child
	 * we hold) cannot stop before the others are let go: detach what is
	 * held, then wait for the rest. */
	int waited = wait_all_held(s, 5000, 1);
	err = restore_all(s);
	if (err < 0 && !ret)
		ret = err;
	/* A launched target (or an attached one with the opt-in filter)
	 * carries our seccomp filter, which cannot be removed: without a
	 * tracer its memory syscalls would fail with ENOSYS.  A keeper
	 * process takes over as a pass-through tracer.  Processes without
	 * it (an injection's victim) are simply detached (detach_held). */
	int go = -1;
	pid_t keeper = 0;
	if (any_filtered(e) && !(e->failed && e->launched))
		keeper = start_keeper(s, &go);
	detach_held(s, go);
	uint64_t late_deadline = now_ns() + PT_LATE_DETACH_MS * 1000000ull;
	while (e->ntasks && waited != 0 && now_ns() < late_deadline) {
		int st;
		pid_t w = next_status(e, &st);
		if (w == -ECHILD)
			break;
		if (w > 0) {
			err = handle(s, w, st);
			if (err < 0 && !ret)
				ret = err;
			/* Its image may have had no held thread to restore it. */
			err = restore_all(s);
			if (err < 0 && !ret)
				ret = err;
			detach_held(s, go);
			continue;
		}
		wait_sigchld(1000000ull);
	}
	if (e->ntasks && !ret)
		ret = emt_session_fail(s, -ETIMEDOUT,
			"%zu threads did not stop for detach (blocked in the kernel)",
			e->ntasks);
	if (keeper > 0) {
		close(go);      /* every process handed over */
		emt_writer_set_meta(sink_writer(s->sink), "ptrace_detach",
			"target handed to a pass-through tracer (its seccomp "
			"filter stays installed)");
	}
	/* Everything queued reaches the archive before it is sealed; the
	 * target runs on meanwhile. */
	err = writeq_stop(e->q);
	e->q = NULL;
	if (err && !ret)
		ret = queue_fail(s, err);
	err = sysrec_session_end(s, e->sr);
	if (err && !ret)
		ret = err;
	char st[512];
	snprintf(st, sizeof(st),
		 "wx=%llu xw=%llu self=%llu wx_handle_ns=%llu xw_handle_ns=%llu "
		 "wx_copy_ns=%llu holds=%llu hold_ns=%llu cpu_moves=%llu fast_flips=%llu "
		 "rw_on_x=%llu reasserted=%llu",
		 (unsigned long long)e->transitions_wx, (unsigned long long)e->transitions_xw,
		 (unsigned long long)e->transitions_self,
		 (unsigned long long)(e->transitions_wx ? e->wx_ns / e->transitions_wx : 0),
		 (unsigned long long)(e->transitions_xw ? e->xw_ns / e->transitions_xw : 0),
		 (unsigned long long)(e->transitions_wx ? e->wx_copy_ns / e->transitions_wx : 0),
		 (unsigned long long)e->holds,
		 (unsigned long long)(e->holds ? e->hold_ns / e->holds : 0),
		 (unsigned long long)e->migrations, (unsigned long long)e->fast_flips,
		 (unsigned long long)e->rw_on_x, (unsigned long long)e->reasserted);
	emt_writer_set_meta(sink_writer(s->sink), "ptrace_stats", st);
	/* Reap what died meanwhile so the archive has their exits. */
	for (int b = 0; b < PT_BUCKETS; b++)
		for (struct pt_proc *p = e->procs[b]; p; p = p->next)
			if (!p->exited && kill(p->pid, 0) < 0 && errno == ESRCH)
				proc_exit(s, p, 0);
	return ret;
}

static void pt_free(struct emt_session *s)
{
	struct pt_engine *e = E(s);
	if (!e)
		return;
	for (int b = 0; b < PT_BUCKETS; b++) {
		while (e->tasks[b])
			task_remove(e, e->tasks[b]->tid);
		while (e->procs[b]) {
			struct pt_proc *p = e->procs[b];
			e->procs[b] = p->next;
			mm_put(p->mm);
			free(p);
		}
	}
	writeq_stop(e->q);
	waker_stop(e->waker);
	sysrec_session_free(e->sr);
	free(e->sr_filter.filter);
	free(e->deferred);
	free(e->unfollowed);
	if (e->mask_set)
		pthread_sigmask(SIG_SETMASK, &e->oldmask, NULL);
	if (e->pinned)
		sched_setaffinity(0, sizeof(e->oldcpus), &e->oldcpus);
	free(e);
	s->engine_priv = NULL;
}

const struct emt_engine_ops emt_ptrace_engine = {
	.name = "ptrace",
	.check = pt_check,
	.start = pt_start,
	.poll = pt_poll,
	.stop = pt_stop,
	.free = pt_free,
};
