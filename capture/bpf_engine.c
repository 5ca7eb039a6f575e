/*
 * bpf_engine.c - the eBPF capture engine (engine.h), user side of
 * bpf/emt.bpf.c.
 *
 * Skeleton flow: open -> configure rodata and ring size -> load -> attach;
 * then launch (fork, child blocked on a pipe until its pid is in the
 * followed map) or attach (pid into the map, baseline from /proc).  The
 * poll loop assembles captures from ring-buffer records (emt_bpf.h) and
 * writes them through the sink.
 *
 * Holds: when the BPF side could not read a page (not resident) or had no
 * room to copy (lossless mode), it stops the process with SIGSTOP on its
 * way back to user mode.  Here we wait until the thread is stopped, read
 * the missing pages with process_vm_readv (which faults them in) and send
 * SIGCONT.  The ranges concerned are never writable after the syscall
 * (mprotect without PROT_WRITE) or freshly mapped, so the bytes read are
 * the bytes that became executable.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/emt_bpf.h"
#include "sysrec.h"
#include "bpf_load.h"
#include "emt.skel.h"
#include "engine.h"
#include "guard.h"
#include "inject.h"
#include "inject_bpf.h"
#include "model.h"
#include "privs.h"
#include "proc.h"
#include "sink.h"
#include "writeq.h"

_Static_assert(EMT_BPF_TRIG_MPROTECT == EMT_TRIGGER_MPROTECT, "trigger numbers");
_Static_assert(EMT_BPF_TRIG_MMAP == EMT_TRIGGER_MMAP, "trigger numbers");
_Static_assert(EMT_BPF_TRIG_MUNMAP == EMT_TRIGGER_MUNMAP, "trigger numbers");
_Static_assert(EMT_BPF_TRIG_EXIT == EMT_TRIGGER_EXIT, "trigger numbers");
_Static_assert(EMT_BPF_TRIG_EXEC == EMT_TRIGGER_EXEC, "trigger numbers");
_Static_assert(EMT_BPF_TRIG_PROTECT_W == EMT_TRIGGER_PROTECT_W, "trigger numbers");
_Static_assert(EMT_BPF_BACK_MEMFD == EMT_BACKING_MEMFD, "backing numbers");
_Static_assert(EMT_BPF_BACK_OTHER == EMT_BACKING_OTHER, "backing numbers");

#define RB_DEFAULT      (64u << 20)
/* Lossless overflow ring: each thread puts at most a few records there
 * before it is stopped, so this holds thousands of threads' worth. */
#define OVF_RING        (4u << 20)
#define HOLD_WAIT_MS    500     /* longest wait for a held thread to stop */
#define SEQ_SLOTS       1024
#define QUEUE_MAX       (16ull << 20)   /* capture bytes waiting for the writer thread */
#define MAX_CAPTURE     (512ull << 20)  /* bytes per capture; larger ranges are cut */
/* How long a capture with pages not yet read waits, at least, for a read
 * of both rings to begin (settle_captures): longer than any ring record
 * stays reserved but unsubmitted (one page copy), which stops a read. */
#define SETTLE_NS       (2ull * 1000000ull)

/* A capture being assembled from ring records. */
struct inflight {
	uint64_t cap_id;
	struct emt_rec_cap_begin b;
	uint8_t *buf;           /* from writeq_buf, buf_len bytes */
	size_t   buf_len;
	uint8_t *state;         /* per page: 0 missing, 1 bytes, 2 failed */
	uint64_t npages;
	uint64_t range_len;     /* the whole range, b.len may be cut */
	int      skip;          /* no memory for it: resume the thread, record the loss */
	struct emt_rec_cap_end e; /* its end record, once held */
	int64_t  region_id;     /* its region row, once written (finish_capture) */
	uint64_t settle_ns;     /* since when it waits in pv->settling, or 0 */
	struct emt_rec_inject *inj; /* the hold of an injection's writer (serve_injection) */
	struct model_rec_alert *alert; /* the hold of a syscall model alert (serve_alert) */
	struct inflight *next;
};

struct bpf_priv {
	struct emt_bpf *skel;   /* ld.skel once loaded */
	struct emt_bpf_loaded ld;
	struct ring_buffer *rb;
	/* The overflow ring alone, to read it ahead of the main ring (see
	 * on_record); in_ovf: a record of it is being handled. */
	struct ring_buffer *rb_ovf;
	int in_ovf;
	struct inflight *inflight;
	struct inflight *held;  /* ended captures whose process is held (serve_holds) */
	struct inflight *settling; /* ended with pages not read yet (settle_captures) */
	struct inflight *orphans; /* end records read before their capture's begin */
	int final;              /* the rings are read for the last time: settle nothing */
	uint64_t read_from_ns;  /* the last read of both rings began then */
	pid_t child;            /* launched command, 0 if attached */
	struct guard g;         /* its guard, or the attach guard (guard.h) */
	int have_guard;
	pid_t attach_root;
	int followed_fd;
	char privs[128];        /* capabilities kept after setup */
	const char *hooks;      /* "mmap-lock" or "syscalls" (open_skel) */
	int child_reaped;
	int attached_gone;
	uint64_t unattributed[EMT_LOSS_KINDS]; /* tgid-0 loss counts written */
	uint64_t rwx_lost_written;
	int      was_stopped;   /* attached target was stopped (job control) */
	int ncpus;
	int err;                /* first fatal error inside a callback */
	uint64_t next_sample_ns; /* --rwx-interval */
	uint64_t next_live_ns;  /* next liveness check */
	pid_t   *live;          /* followed processes not yet seen exiting */
	size_t   nlive, cap_live;
	pid_t    captured_tid[SEQ_SLOTS]; /* thread made a capture since its last event */
	struct writeq *q;
	struct sysrec_session *sr; /* --syscalls recorder, or NULL */
	struct model_session *ms;  /* --model check, or NULL */
	pid_t   *left_stopped;     /* --on-alert stop: processes not to resume */
	size_t   nleft_stopped;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* libbpf_set_print takes no argument for its callback, so the tool's
 * (opts.log) waits here for libbpf_log. */
static emt_log_fn *libbpf_fn;
static void *libbpf_fn_arg;

__attribute__((format(printf, 2, 0)))
static int libbpf_log(enum libbpf_print_level level, const char *fmt,
		      va_list ap)
{
	enum emt_log_level l = level == LIBBPF_WARN ? EMT_LOG_WARN :
			       level == LIBBPF_INFO ? EMT_LOG_INFO : EMT_LOG_DEBUG;

	if (libbpf_fn)
		libbpf_fn(libbpf_fn_arg, l, fmt, ap);
	return 0;
}

/* ---------------------------------------------------------- check */

static int bpf_check(struct emt_session *s)
{
	char why[256];
	int err = emt_bpf_missing(why, sizeof(why), 1);

	if (err)
		return emt_session_fail(s, err, "%s", why);
	return 0;
}

/* ---------------------------------------------------------- captures */

static int queue_fail(struct emt_session *s, int err)
{
	return emt_session_fail(s, err, "archive: %s",
				emt_writer_errmsg(sink_writer(s->sink)));
}

/* Finds capture `id` among those in flight or settling; `unlink` takes
 * it off its list. */
static struct inflight *inflight_find(struct bpf_priv *pv, uint64_t id,
				      int unlink)
{
	struct inflight **lists[] = { &pv->inflight, &pv->settling };

	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		for (struct inflight **pp = lists[l]; *pp; pp = &(*pp)->next) {
			if ((*pp)->cap_id != id)
				continue;
			struct inflight *f = *pp;
			if (unlink)
				*pp = f->next;
			return f;
		}
	}
	return NULL;
}

/* Frees f.  Its buffer came from writeq_buf (the queue's recycled,
 * already faulted-in buffers); once the queue is stopped it goes to free(),
 * which is right because this engine reserves no slab (writeq_reserve). */
static void inflight_free(struct bpf_priv *pv, struct inflight *f)
{
	if (!f)
		return;
	if (pv->q)
		writeq_buf_free(pv->q, f->buf, f->buf_len);
	else
		free(f->buf);
	free(f->state);
	free(f->inj);
	free(f->alert);
	free(f);
}

/* Waits (bounded) until thread tid of pid is stopped, so that reading its
 * memory cannot race with it.  Returns 0, or -ESRCH if it is gone. */
static int wait_stopped(pid_t pid, pid_t tid)
{
	char path[64], buf[512];
	int fd, err = -ETIMEDOUT;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ESRCH;
	/* The stop takes effect as the thread returns to user mode, usually
	 * within microseconds of the record we just read: spin (yielding)
	 * a little before sleeping, since a sleep costs the held target
	 * 100 us or more each time. */
	for (int i = 0; i < 1000 + HOLD_WAIT_MS * 10; i++) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		if (n <= 0) {
			err = -ESRCH;
			break;
		}
		buf[n] = '\0';
		const char *p = strrchr(buf, ')');

		if (p && (p[2] == 'T' || p[2] == 't')) {
			err = 0;
			break;
		}
		if (p && (p[2] == 'Z' || p[2] == 'X')) {
			err = -ESRCH;
			break;
		}
		if (i < 1000) {
			sched_yield();
		} else {
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
		}
	}
	close(fd);
	return err;
}

/* After one thread of pid stopped for a hold (a group stop), waits
 * (bounded) until no thread of it is running or in interruptible sleep:
 * a thread still inside the BPF program when the stop began has then
 * submitted its own end record, so every hold of this stop is in the
 * ring.  Threads in uninterruptible sleep (D) cannot run user code before
 * they stop too, so they need not be waited for. */
static void wait_group_settled(pid_t pid)
{
	for (int i = 0; i < HOLD_WAIT_MS * 10; i++) {
		pid_t *tids = NULL;
		size_t n = 0;
		int busy = 0;

		if (proc_list_tasks(pid, &tids, &n) < 0)
			return;
		for (size_t k = 0; k < n && !busy; k++) {
			char path[64], buf[512];
			int fd;
			ssize_t m;

			snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid,
				 (int)tids[k]);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			m = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (m <= 0)
				continue;
			buf[m] = '\0';
			const char *p = strrchr(buf, ')');
			busy = p && (p[2] == 'R' || p[2] == 'S');
		}
		free(tids);
		if (!busy)
			return;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
}

static enum emt_trigger final_trigger(const struct emt_rec_cap_begin *b)
{
	if (b->trigger == EMT_TRIGGER_MPROTECT &&
	    (b->prot_before & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC) &&
	    !(b->prot_after & PROT_WRITE))
		return EMT_TRIGGER_PROTECT_W;
	return (enum emt_trigger)b->trigger;
}

/* Lossless mode reads two rings that have no common order.  A capture's
 * begin and pages share a ring, but its end goes to the overflow ring when
 * the main one is full, and the thread's next record to whichever has
 * room: so the end may be read before the begin (on_record keeps it as an
 * orphan), or the next record before the end (finish_stale).  A capture
 * that still lacks pages is therefore not written with gaps at once: it
 * settles (pv->settling) until a read of both rings has begun SETTLE_NS
 * after it ended, and what is missing then was cut short.  A held process
 * is read instead (finish_capture); one ring alone keeps every thread's
 * order. */
/* Whether f (settling since f->settle_ns, or an orphan end) has waited
 * long enough: a read of both rings began SETTLE_NS after, or this is the
 * last read. */
static int settled(const struct bpf_priv *pv, const struct inflight *f)
{
	return pv->final || pv->read_from_ns >= f->settle_ns + SETTLE_NS;
}

static int must_settle(const struct bpf_priv *pv, const struct inflight *f, int held)
{
	if (!pv->rb_ovf || pv->final || held || (f->e.flags & EMT_CAPF_HOLD))
		return 0;
	if (f->settle_ns && settled(pv, f))
		return 0;
	for (uint64_t i = 0; i < f->npages; i++)
		if (f->state[i] == 0)
			return 1;
	return 0;
}

/* Writes capture f.  `held`: its process is stopped by the hold (the
 * caller resumes it); only then are missing pages read from the live
 * process, since otherwise the bytes may already have changed.  Its
 * region row is written at once, so that it keeps its place among the
 * syscall events; the bytes may wait for pages still on their way
 * (must_settle).  Returns 0 once written (the caller frees f), 1 if it
 * must settle first (the caller keeps it), or -errno. */
static int finish_capture(struct emt_session *s, struct bpf_priv *pv,
			  struct inflight *f, int held)
{
	const struct emt_rec_cap_begin *b = &f->b;
	struct emt_gap *gaps = NULL;
	size_t ngaps = 0, gcap = 0;
	int err = 0;
	pid_t pid = (pid_t)b->h.pid, tid = (pid_t)b->h.tid;

	if (f->skip || f->npages == 0)
		return 0;
	enum emt_trigger trig = final_trigger(b);

	if (!f->region_id) {
		uint32_t rprot = (trig == EMT_TRIGGER_MPROTECT || trig == EMT_TRIGGER_MMAP)
				 ? b->prot_after : b->prot_before;
		char name[EMT_NAME_LEN + 1];
		memcpy(name, b->name, EMT_NAME_LEN);
		name[EMT_NAME_LEN] = '\0';
		struct sink_backing bk = {
			.kind = b->backing ? b->backing : EMT_BACKING_ANON,
			.path = name[0] ? name : NULL,
			.inode = b->ino, .dev = b->dev, .offset = b->pgoff,
		};
		int64_t rid = sink_region_update(s->sink, pid, b->addr, f->range_len, rprot,
						 &bk, b->h.time_ns);
		if (rid < 0)
			return (int)rid;
		f->region_id = rid;
		pv->captured_tid[(uint32_t)tid % SEQ_SLOTS] = tid;
	}
	if (must_settle(pv, f, held)) {
		if (!f->settle_ns)
			f->settle_ns = now_ns();
		return 1;
	}
	/* Missing pages: read now if the process is held, otherwise record
	 * a gap. */
	for (uint64_t i = 0; i < f->npages && !err; i++) {
		if (f->state[i] == 1)
			continue;
		uint64_t j = i;
		while (j < f->npages && f->state[j] != 1 &&
		       (f->state[j] == 2) == (f->state[i] == 2))
			j++;
		uint64_t off = i * EMT_PAGE_SIZE, len = (j - i) * EMT_PAGE_SIZE;
		/* Only a held thread's range is read here: after munmap or
		 * exit the address may already mean something else. */
		if (held) {
			struct emt_gap *g = NULL;
			size_t ng = 0;
			int r = proc_read_mem(pid, b->addr + off, len, f->buf + off, &g, &ng);
			if (r == -ESRCH) {
				memset(f->buf + off, 0, len);
				err = proc_gap_add(&gaps, &ngaps, &gcap, off, len,
						   EMT_GAP_UNMAPPED, ESRCH);
			} else if (r < 0) {
				err = r;
			} else {
				for (size_t k = 0; k < ng && !err; k++)
					err = proc_gap_add(&gaps, &ngaps, &gcap,
							   off + g[k].offset, g[k].length,
							   g[k].reason, g[k].err);
			}
			free(g);
		} else {
			/* Not resident when copied at munmap/exit (most
			 * likely never touched, but unproven), dropped for
			 * lack of ring space (counted as a loss too), or the
			 * hold did not stop the process in time. */
			memset(f->buf + off, 0, len);
			if (f->e.flags & EMT_CAPF_HOLD)
				err = proc_gap_add(&gaps, &ngaps, &gcap, off, len,
						   EMT_GAP_UNREADABLE, ETIMEDOUT);
			else if (f->state[i] == 2)
				err = proc_gap_add(&gaps, &ngaps, &gcap, off, len,
						   EMT_GAP_UNREADABLE, EFAULT);
			else
				err = proc_gap_add(&gaps, &ngaps, &gcap, off, len,
						   EMT_GAP_LIMIT, ENOBUFS);
		}
		i = j - 1;
	}
	if (err) {
		free(gaps);
		return emt_session_fail(s, err, "capture of pid %d: out of memory", (int)pid);
	}

	struct writeq_capture c = {
		.region_id = f->region_id, .pid = pid, .tid = tid, .addr = b->addr,
		.size = b->len, .time_ns = b->h.time_ns, .buf = f->buf, .gaps = gaps,
		.ngaps = ngaps, .trigger = trig, .prot_before = b->prot_before,
		.prot_after = b->prot_after, .pooled = 1,
	};
	f->buf = NULL;          /* now the queue's */
	/* Lazily: bpf_poll kicks the writer once per read of the ring. */
	err = writeq_capture_lazy(pv->q, &c);
	return err ? queue_fail(s, err) : 0;
}

/* Ends capture f, already off its list: written and freed, or kept in
 * pv->settling (must_settle).  Returns 0 or -errno. */
static int end_capture(struct emt_session *s, struct bpf_priv *pv,
		       struct inflight *f, int held)
{
	int r = finish_capture(s, pv, f, held);

	if (r == 1) {
		f->next = pv->settling;
		pv->settling = f;
		return 0;
	}
	inflight_free(pv, f);
	return r;
}

/* Writes the settling captures that had every chance to get their pages:
 * a read of both rings began at least SETTLE_NS after they ended
 * (pv->read_from_ns), or this is the last read.  Returns 0 or -errno. */
static int settle_captures(struct emt_session *s, struct bpf_priv *pv)
{
	struct inflight *ready = NULL;
	int err = 0;

	for (struct inflight **pp = &pv->settling; *pp;) {
		struct inflight *f = *pp;

		if (!settled(pv, f)) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		f->next = ready;
		ready = f;
	}
	while (ready) {
		struct inflight *f = ready;
		ready = f->next;
		int e = end_capture(s, pv, f, 0);

		if (e && !err)
			err = e;
	}
	/* An end whose begin did not come in that time: the begin was
	 * lost, and counted so. */
	for (struct inflight **pp = &pv->orphans; *pp;) {
		struct inflight *o = *pp;

		if (!settled(pv, o)) {
			pp = &o->next;
			continue;
		}
		*pp = o->next;
		inflight_free(pv, o);
	}
	return err;
}

static int on_cap_begin(struct emt_session *s, struct bpf_priv *pv,
			const struct emt_rec_cap_begin *b)
{
	struct inflight *f = calloc(1, sizeof(*f));
	int err = 0;

	if (!f)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	f->cap_id = b->cap_id;
	f->b = *b;
	f->range_len = b->len;
	f->npages = b->len / EMT_PAGE_SIZE;
	if (f->npages > MAX_CAPTURE / EMT_PAGE_SIZE) {
		/* A hostile or huge range must not exhaust our memory: keep
		 * its first MAX_CAPTURE bytes and say so. */
		f->npages = MAX_CAPTURE / EMT_PAGE_SIZE;
		err = sink_loss(s->sink, "capture-too-large", 1, (pid_t)b->h.pid,
				b->h.time_ns);
	}
	f->buf_len = f->npages ? f->npages * EMT_PAGE_SIZE : 1;
	f->buf = writeq_buf(pv->q, f->buf_len);
	f->state = calloc(f->npages ? f->npages : 1, 1);
	if (!f->buf || !f->state) {
		writeq_buf_free(pv->q, f->buf, f->buf_len);
		free(f->state);
		f->buf = NULL;
		f->state = NULL;
		f->skip = 1;
		f->npages = 0;
		if (!err)
			err = sink_loss(s->sink, "capture-no-memory", 1, (pid_t)b->h.pid,
					b->h.time_ns);
	}
	f->b.len = f->npages * EMT_PAGE_SIZE;
	for (struct inflight **pp = &pv->orphans; *pp; pp = &(*pp)->next) {
		struct inflight *o = *pp;

		if (o->cap_id != f->cap_id)
			continue;
		/* Its end came first (from the other ring): the pages
		 * follow this record in its ring, so the capture settles
		 * rather than waits for an end. */
		*pp = o->next;
		f->e = o->e;
		f->settle_ns = now_ns();
		inflight_free(pv, o);
		int e = end_capture(s, pv, f, 0);
		return err ? err : e;
	}
	f->next = pv->inflight;
	pv->inflight = f;
	return err;
}

/* ---------------------------------------------------------- events */

static const char *syscall_name(uint64_t nr)
{
	switch (nr) {
	case 9: return "mmap";
	case 10: return "mprotect";
	case 11: return "munmap";
	case 25: return "mremap";
	case 329: return "pkey_mprotect";
	default: return "syscall";
	}
}

static int on_syscall(struct emt_session *s, struct bpf_priv *pv,
		      const struct emt_rec_syscall *r)
{
	pid_t pid = (pid_t)r->h.pid, tid = (pid_t)r->h.tid;
	int ok = r->ret >= 0 || r->ret < -4095;
	uint64_t len = (r->args[1] + EMT_PAGE_SIZE - 1) & ~(uint64_t)(EMT_PAGE_SIZE - 1);
	uint32_t prot = (uint32_t)r->args[2] & 7;
	uint32_t slot = (uint32_t)tid % SEQ_SLOTS;
	int linked = pv->captured_tid[slot] == tid;
	int err = 0, record = linked;
	char detail[EMT_NAME_LEN + 1] = "";

	if (linked)
		pv->captured_tid[slot] = 0;

	switch (r->nr) {
	case 9:
		if (ok) {
			err = sink_region_unmap(s->sink, pid, (uint64_t)r->ret, len, r->h.time_ns);
			if (!err && (prot & PROT_EXEC)) {
				memcpy(detail, r->name, EMT_NAME_LEN);
				detail[EMT_NAME_LEN] = '\0';
				struct sink_backing bk = {
					.kind = r->backing ? r->backing : EMT_BACKING_ANON,
					.path = detail[0] ? detail : NULL,
					.inode = r->ino, .dev = r->dev,
					.offset = r->args[5],
				};
				int64_t id = sink_region_update(s->sink, pid, (uint64_t)r->ret,
								len, prot, &bk, r->h.time_ns);
				if (id < 0)
					err = (int)id;
			}
		}
		record |= !!(prot & PROT_EXEC);
		break;
	case 10:
	case 329:
		if (ok && (prot & PROT_EXEC)) {
			int64_t id = sink_region_update(s->sink, pid, r->args[0], len,
							prot, NULL, r->h.time_ns);
			if (id < 0)
				err = (int)id;
		}
		record = 1;
		break;
	case 11:
		if (ok)
			err = sink_region_unmap(s->sink, pid, r->args[0], len, r->h.time_ns);
		break;
	case 25:
		if (ok)
			err = sink_region_unmap(s->sink, pid, r->args[0], len, r->h.time_ns);
		break;
	}
	if (err || !record)
		return err;
	struct emt_event ev = {
		.time_ns = r->enter_ns,
		.pid = (uint32_t)pid,
		.tid = (uint32_t)tid,
		.syscall = syscall_name(r->nr),
		.addr = r->nr == 9 && ok ? (uint64_t)r->ret : r->args[0],
		.len = r->args[1],
		.prot = r->nr == 11 ? 0 : r->args[2],
		.flags = r->nr == 9 ? r->args[3] : 0,
		.fd = r->nr == 9 ? (int64_t)r->args[4] : -1,
		.ret = r->ret,
	};
	err = writeq_event_lazy(pv->q, &ev, detail, linked);
	return err ? queue_fail(s, err) : 0;
}

/* Collects the launched command's status from its guard; `block` waits
 * for it (its exit record arrives just before it is reaped).  Returns 1
 * once reaped. */
static int reap_child(struct emt_session *s, struct bpf_priv *pv, int block)
{
	int st, r;

	if (!pv->child || pv->child_reaped)
		return 0;
	r = guard_child_status(&pv->g, block ? 5000 : 0, &st);
	if (r == 1) {
		pv->child_reaped = 1;
		s->root_status = st;
		return 1;
	}
	if (r < 0)
		pv->child_reaped = 1;   /* guard gone: status unknown */
	return 0;
}

static int live_add(struct emt_session *s, struct bpf_priv *pv, pid_t pid)
{
	for (size_t i = 0; i < pv->nlive; i++)
		if (pv->live[i] == pid)
			return 0;
	if (pv->nlive == pv->cap_live) {
		size_t nc = pv->cap_live ? pv->cap_live * 2 : 16;
		pid_t *nv = realloc(pv->live, nc * sizeof(*nv));
		if (!nv)
			return emt_session_fail(s, -ENOMEM, "out of memory");
		pv->live = nv;
		pv->cap_live = nc;
	}
	pv->live[pv->nlive++] = pid;
	s->live_processes = pv->nlive;
	return 0;
}

/* Returns 1 if pid was live (and removes it). */
static int live_del(struct emt_session *s, struct bpf_priv *pv, pid_t pid)
{
	for (size_t i = 0; i < pv->nlive; i++) {
		if (pv->live[i] != pid)
			continue;
		pv->live[i] = pv->live[--pv->nlive];
		s->live_processes = pv->nlive;
		return 1;
	}
	return 0;
}

static int on_task(struct emt_session *s, struct bpf_priv *pv,
		   const struct emt_rec_task *r)
{
	pid_t pid = (pid_t)r->h.pid;
	int err = 0;

	switch (r->h.type) {
	case EMT_REC_FORK:
		err = sink_process_start(s->sink, (pid_t)r->other, pid, r->h.time_ns);
		if (!err)
			err = live_add(s, pv, (pid_t)r->other);
		/* A failed start of a short-lived child (gone before we read
		 * /proc) is not fatal: the row was still written. */
		break;
	case EMT_REC_EXIT: {
		int status = r->exit_code;
		if (pid == pv->child) {
			reap_child(s, pv, 1);
			if (s->root_status >= 0)
				status = s->root_status;
		}
		if (pid == s->root_pid && !pv->child)
			pv->attached_gone = 1;
		err = sink_process_exit(s->sink, pid, r->h.time_ns, status);
		if (!err)
			err = sysrec_session_gone(pv->sr, (uint32_t)pid);
		live_del(s, pv, pid);
		break;
	}
	}
	return err;
}

static int on_exec(struct emt_session *s, const struct emt_rec_exec *r)
{
	char exe[EMT_EXEC_PATH_LEN + 1], args[EMT_EXEC_ARGS_LEN + 1];
	uint32_t n = r->args_len <= EMT_EXEC_ARGS_LEN ? r->args_len : 0;

	memcpy(exe, r->filename, EMT_EXEC_PATH_LEN);
	exe[EMT_EXEC_PATH_LEN] = '\0';
	/* NUL-separated arguments joined by spaces, as in proc.h. */
	memcpy(args, r->args, n);
	while (n > 0 && args[n - 1] == '\0')
		n--;
	for (uint32_t i = 0; i < n; i++)
		if (args[i] == '\0')
			args[i] = ' ';
	args[n] = '\0';
	/* The path as given to execve may be relative; /proc's is absolute
	 * but may already be a later image: prefer what execve saw. */
	return sink_process_exec_image(s->sink, (pid_t)r->h.pid, r->h.time_ns,
				       exe[0] ? exe : NULL, n ? args : NULL);
}

/* A thread's records come in order: once a later record of thread tid
 * arrives, a capture of it still in flight lost its end record (ring
 * full).  Write it now with what arrived (the rest are gaps), rather than
 * keep its buffer until the capture ends: in lossy mode that grew without
 * bound. */
static int finish_stale(struct emt_session *s, struct bpf_priv *pv, uint32_t tid)
{
	int err = 0;

	for (struct inflight **pp = &pv->inflight; *pp;) {
		struct inflight *f = *pp;

		if (f->b.h.tid != tid) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		int e = end_capture(s, pv, f, 0);

		if (e && !err)
			err = e;
	}
	return err;
}

static int inflight_of(const struct bpf_priv *pv, uint32_t tid)
{
	for (const struct inflight *f = pv->inflight; f; f = f->next)
		if (f->b.h.tid == tid)
			return 1;
	return 0;
}

/* Copies mapping m of pid (tid: the thread it is credited to) as one
 * capture of `trigger`, with `regs` (may be NULL) and linked to alert
 * `alert_id` (0: none).  Returns 0 or -errno. */
static int capture_map(struct emt_session *s, struct bpf_priv *pv, pid_t pid, pid_t tid,
		       const struct proc_map *m, uint32_t kind, enum emt_trigger trigger,
		       const struct emt_regs_x86_64 *regs, int64_t alert_id)
{
	uint64_t len = m->end - m->start;
	void *buf = malloc(len ? len : 1);
	struct emt_gap *gaps = NULL;
	size_t ng = 0;
	int err;

	if (!buf)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	uint64_t t0 = now_ns();

	err = proc_read_mem(pid, m->start, len, buf, &gaps, &ng);
	if (!err) {
		struct sink_backing bk = { kind, m->path[0] ? m->path : NULL,
					   m->inode, m->dev, m->offset };
		int64_t id = sink_region_update(s->sink, pid, m->start, len,
						m->prot, &bk, t0);
		if (id < 0) {
			err = (int)id;
		} else {
			struct writeq_capture c = {
				.region_id = id, .pid = pid, .tid = tid,
				.addr = m->start, .size = len, .time_ns = t0,
				.buf = buf, .gaps = gaps, .ngaps = ng,
				.trigger = trigger,
				.prot_before = m->prot, .prot_after = m->prot,
				.has_regs = regs != NULL, .alert_id = alert_id,
			};
			if (regs)
				c.regs = *regs;
			buf = NULL;
			gaps = NULL;
			err = writeq_capture(pv->q, &c);
			if (err)
				err = queue_fail(s, err);
		}
	} else if (err == -ESRCH) {
		err = emt_session_fail(s, err, "pid %d exited during %s", (int)pid,
				       emt_trigger_name(trigger));
	}
	free(buf);
	free(gaps);
	return err;
}

/* ---------------------------------------------------------- alerts */

/* A syscall model alert (capture/model.h) whose process is held
 * (`stopped`: it did stop): its alerts row, then every executable
 * mapping of the process that is not a plain file on disk (anonymous,
 * memfd, deleted, shared) or is writable and executable, captured with
 * trigger alert and the registers of the syscall, linked to the row.
 * With --on-alert stop the process is left stopped (serve_holds). */
static int serve_alert(struct emt_session *s, struct bpf_priv *pv,
		       const struct model_rec_alert *r, int stopped)
{
	pid_t pid = (pid_t)r->pid;
	struct emt_regs_x86_64 regs;
	struct proc_map *maps;
	size_t n;
	int64_t id = 0;
	int err = model_session_alert(s, pv->ms, r, &id);

	if (err || r->action == MODEL_ACT_KILL)
		return err;
	(void)stopped;  /* not stopped in time: the bytes read are the best there are */
	model_alert_regs(r, &regs);
	err = proc_maps_read(pid, &maps, &n);
	if (err)
		return err == -ESRCH || err == -ENOENT ? 0 : emt_session_fail(s, err,
			"cannot read maps of pid %d: %s", (int)pid, strerror(-err));
	for (size_t i = 0; i < n && !err; i++) {
		struct proc_map *m = &maps[i];
		uint32_t kind = proc_map_backing(m);

		if (!(m->prot & PROT_EXEC) || strncmp(m->path, "[v", 2) == 0)
			continue;
		if (kind == EMT_BACKING_FILE && !(m->prot & PROT_WRITE))
			continue;       /* the file's bytes, on disk */
		err = capture_map(s, pv, pid, (pid_t)r->tid, m, kind, EMT_TRIGGER_ALERT, &regs, id);
		if (err == -ESRCH)
			err = 0;        /* gone meanwhile (killed): the row says what was seen */
	}
	proc_maps_free(maps, n);
	if (!err && r->action == MODEL_ACT_STOP) {
		pid_t *nl = realloc(pv->left_stopped, (pv->nleft_stopped + 1) * sizeof(*nl));

		if (!nl)
			return emt_session_fail(s, -ENOMEM, "out of memory");
		pv->left_stopped = nl;
		pv->left_stopped[pv->nleft_stopped++] = pid;
	}
	return err;
}

/* Logs a message for the user (EMT_LOG_NOTICE). */
__attribute__((format(printf, 2, 3)))
static void notice(struct emt_session *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->opts.log)
		return;
	va_start(ap, fmt);
	s->opts.log(s->opts.log_arg, EMT_LOG_NOTICE, fmt, ap);
	va_end(ap);
}

static int left_stopped(const struct bpf_priv *pv, pid_t pid)
{
	for (size_t i = 0; i < pv->nleft_stopped; i++)
		if (pv->left_stopped[i] == pid)
			return 1;
	return 0;
}

/* A model alert record: with a hold (capture, stop), served with the
 * other holds of its process (serve_holds), which resumes it once; a
 * kill needs only its row. */
static int on_alert(struct emt_session *s, struct bpf_priv *pv, const struct model_rec_alert *r)
{
	if (r->action == MODEL_ACT_KILL)
		return serve_alert(s, pv, r, 0);

	struct inflight *f = calloc(1, sizeof(*f));

	if (f)
		f->alert = malloc(sizeof(*r));
	if (!f || !f->alert) {
		free(f);
		kill((pid_t)r->pid, SIGCONT);
		return emt_session_fail(s, -ENOMEM, "out of memory");
	}
	*f->alert = *r;
	f->skip = 1;
	f->b.h.pid = r->pid;
	f->b.h.tid = r->tid;
	f->e.flags = EMT_CAPF_HOLD;
	f->next = pv->held;
	pv->held = f;
	return 0;
}

static int serve_injection(struct emt_session *s, struct bpf_priv *pv,
			   const struct emt_rec_inject *r, int stopped);

/* An injection's writer is held (SIGSTOP from the BPF side): served with
 * the holds of its process (serve_holds), so that it is resumed once. */
static int on_inject(struct emt_session *s, struct bpf_priv *pv,
		     const struct emt_rec_inject *r)
{
	struct inflight *f = calloc(1, sizeof(*f));

	if (f)
		f->inj = malloc(sizeof(*r));
	if (!f || !f->inj) {
		free(f);
		kill((pid_t)r->h.pid, SIGCONT);
		return emt_session_fail(s, -ENOMEM, "out of memory");
	}
	*f->inj = *r;
	f->skip = 1;
	f->b.h.pid = r->h.pid;
	f->b.h.tid = r->h.tid;
	f->e.flags = EMT_CAPF_HOLD;
	f->next = pv->held;
	pv->held = f;
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct emt_session *s = ctx;
	struct bpf_priv *pv = s->engine_priv;
	uint32_t type;
	int err = 0, serr = 0;

	if (size < sizeof(uint32_t))
		return 0;
	memcpy(&type, data, sizeof(type));
	if ((type == EMT_REC_CAP_BEGIN || type == EMT_REC_SYSCALL || type == EMT_REC_FORK ||
	     type == EMT_REC_EXEC) && size >= sizeof(struct emt_rec_hdr) && pv->inflight) {
		uint32_t tid = ((const struct emt_rec_hdr *)data)->tid;

		/* The end of a capture of tid may sit in the overflow ring
		 * (the main one was full at that moment) while this later
		 * record made it to the main ring, which is read first: read
		 * the overflow ring before taking the capture for cut short. */
		if (pv->rb_ovf && !pv->in_ovf && inflight_of(pv, tid))
			ring_buffer__consume(pv->rb_ovf);
		serr = finish_stale(s, pv, tid);
	}
	switch (type) {
	case EMT_REC_CAP_BEGIN:
		if (size >= sizeof(struct emt_rec_cap_begin))
			err = on_cap_begin(s, pv, data);
		break;
	case EMT_REC_PAGE:
	case EMT_REC_PAGE_FAIL: {
		const struct emt_rec_page *p = data;
		struct inflight *f;
		if (size < sizeof(*p))
			break;
		f = inflight_find(pv, p->cap_id, 0);
		if (!f || p->index >= f->npages)
			break;
		if (type == EMT_REC_PAGE && size >= sizeof(*p) + EMT_PAGE_SIZE) {
			memcpy(f->buf + p->index * EMT_PAGE_SIZE, p + 1, EMT_PAGE_SIZE);
			f->state[p->index] = 1;
		} else {
			f->state[p->index] = 2;
		}
		break;
	}
	case EMT_REC_CAP_END: {
		const struct emt_rec_cap_end *e = data;
		struct inflight *f;
		if (size < sizeof(*e))
			break;
		f = inflight_find(pv, e->cap_id, 1);
		if (!f && ((e->flags & EMT_CAPF_HOLD) || (pv->rb_ovf && !pv->final))) {
			/* Its CAP_BEGIN was lost (counted in rb_fail), or,
			 * in lossless mode, it is still in the other ring:
			 * this end went to the overflow ring while the begin
			 * made the main one, which is read first but may
			 * have been read before it got there.  A held
			 * process must be resumed either way (serve_holds
			 * looks for the begin once more); otherwise the end
			 * waits for its begin (on_cap_begin) for as long as
			 * a capture settles. */
			f = calloc(1, sizeof(*f));
			if (!f) {
				if (e->flags & EMT_CAPF_HOLD)
					kill((pid_t)e->pid, SIGCONT);
				err = emt_session_fail(s, -ENOMEM, "out of memory");
				break;
			}
			f->skip = 1;
			f->cap_id = e->cap_id;
			f->b.h.pid = e->pid;
			f->b.h.tid = e->tid;
			if (!(e->flags & EMT_CAPF_HOLD)) {
				f->e = *e;
				f->settle_ns = now_ns();
				f->next = pv->orphans;
				pv->orphans = f;
				break;
			}
		}
		if (!f)
			break;
		f->e = *e;
		if (e->flags & EMT_CAPF_HOLD) {
			/* Served after this ring read, with every other hold
			 * of the same stop (serve_holds). */
			f->next = pv->held;
			pv->held = f;
			break;
		}
		err = end_capture(s, pv, f, 0);
		break;
	}
	case EMT_REC_SYSCALL:
		if (size >= sizeof(struct emt_rec_syscall))
			err = on_syscall(s, pv, data);
		break;
	case EMT_REC_FORK:
	case EMT_REC_EXIT:
		if (size >= sizeof(struct emt_rec_task))
			err = on_task(s, pv, data);
		break;
	case EMT_REC_EXEC:
		if (size >= sizeof(struct emt_rec_exec))
			err = on_exec(s, data);
		break;
	case EMT_REC_INJECT:
		if (size >= sizeof(struct emt_rec_inject))
			err = on_inject(s, pv, data);
		break;
	case MODEL_REC_ALERT:
		if (size >= sizeof(struct model_rec_alert))
			err = on_alert(s, pv, data);
		break;
	case SR_REC_ENTER:
	case SR_REC_EXIT:
		err = sysrec_session_record(pv->sr, data, size);
		break;
	}
	if (!err)
		err = serr;
	if (err && !pv->err)
		pv->err = err;
	/* Keep consuming: one failed row must not stall a held target. */
	return 0;
}

/* Serves the holds found in the ring.  A hold is a SIGSTOP the BPF side
 * sent to a thread (a group stop of its whole process); SIGCONT ends the
 * stop of every thread at once and discards stop signals still pending,
 * including another thread's hold that is not in our list yet.  So per
 * process: wait for the holding thread to stop and for its siblings to
 * settle, read the ring again (every hold of this stop is in it now),
 * write all the held captures of the process, and only then resume it,
 * once.  A process that did not stop in time gets gaps, never bytes read
 * while it runs. */
static int serve_holds(struct emt_session *s, struct bpf_priv *pv)
{
	int err = 0;

	while (pv->held) {
		pid_t pid = (pid_t)pv->held->b.h.pid, tid = (pid_t)pv->held->b.h.tid;
		int stopped = wait_stopped(pid, tid) == 0;

		if (stopped)
			wait_group_settled(pid);
		int n = ring_buffer__consume(pv->rb);

		if (n < 0 && n != -EINTR && !err)
			err = emt_session_fail(s, n, "ring buffer read: %s", strerror(-n));
		for (struct inflight **pp = &pv->held; *pp;) {
			struct inflight *f = *pp;

			if ((pid_t)f->b.h.pid != pid) {
				pp = &f->next;
				continue;
			}
			*pp = f->next;
			/* An end read before its begin: the read above
			 * found the begin if it was not lost. */
			struct inflight *g = f->skip && f->cap_id
					     ? inflight_find(pv, f->cap_id, 1) : NULL;
			if (g) {
				g->e = f->e;
				inflight_free(pv, f);
				f = g;
			}
			int e = f->inj ? serve_injection(s, pv, f->inj, stopped) : 0;

			if (e && !err)
				err = e;
			e = f->alert ? serve_alert(s, pv, f->alert, stopped) : 0;
			if (e && !err)
				err = e;
			e = end_capture(s, pv, f, stopped);

			if (e && !err)
				err = e;
		}
		/* --on-alert stop: for a debugger, not for us to resume. */
		if (left_stopped(pv, pid))
			notice(s, "emt-capture: pid %d left stopped at a syscall model alert"
			       " (--on-alert stop): attach a debugger, or kill -CONT %d\n",
			       (int)pid, (int)pid);
		else
			kill(pid, SIGCONT);
	}
	if (pv->err && !err)
		err = pv->err;
	return err;
}

/* Sums the per-CPU counters of the BPF side into *t.  Returns 0 or
 * -errno. */
static int read_stats(struct bpf_priv *pv, struct emt_bpf_stats *t)
{
	struct emt_bpf_stats *v = calloc((size_t)pv->ncpus, sizeof(*v));
	uint32_t key = 0;
	int err;

	memset(t, 0, sizeof(*t));
	if (!v)
		return -ENOMEM;
	err = bpf_map__lookup_elem(pv->skel->maps.stats, &key, sizeof(key), v,
				   sizeof(*v) * (size_t)pv->ncpus, 0);
	for (int i = 0; !err && i < pv->ncpus; i++) {
		t->rb_fail += v[i].rb_fail;
		t->rb_fail_pages += v[i].rb_fail_pages;
		t->captures += v[i].captures;
		t->pages += v[i].pages;
		t->pages_failed += v[i].pages_failed;
		t->holds += v[i].holds;
		t->deferred += v[i].deferred;
		t->rwx_full += v[i].rwx_full;
	}
	free(v);
	return err;
}

/* Records from the overflow ring (lossless mode: the main ring had no
 * room even after a wait).  The BPF side stopped the thread that wrote a
 * syscall, fork or exec record there, so that it cannot run ahead of what
 * we know; it is resumed like a hold.  Captures there say so in their end
 * record. */
static int on_ovf_record(void *ctx, void *data, size_t size)
{
	struct emt_session *s = ctx;
	struct bpf_priv *pv = s->engine_priv;
	const struct emt_rec_hdr *h = data;

	pv->in_ovf = 1;
	on_record(ctx, data, size);
	pv->in_ovf = 0;
	if (size < sizeof(*h) ||
	    (h->type != EMT_REC_SYSCALL && h->type != EMT_REC_FORK && h->type != EMT_REC_EXEC))
		return 0;
	struct inflight *f = calloc(1, sizeof(*f));

	if (!f) {
		kill((pid_t)h->pid, SIGCONT);
		if (!pv->err)
			pv->err = emt_session_fail(s, -ENOMEM, "out of memory");
		return 0;
	}
	f->skip = 1;
	f->b.h.pid = h->pid;
	f->b.h.tid = h->tid;
	f->e.flags = EMT_CAPF_HOLD;
	f->next = pv->held;
	pv->held = f;
	return 0;
}

static const char *const loss_kind[EMT_LOSS_KINDS] = {
	[EMT_LOSS_CAPTURE] = "ringbuf-capture",
	[EMT_LOSS_PAGE] = "ringbuf-page",
	[EMT_LOSS_RECORD] = "ringbuf-record",
	[EMT_LOSS_ALERT] = "alert-rate",
};

/* Writes what the BPF side could not record since the last call as
 * losses: ring records that did not fit, per process and kind (the
 * counts are taken from the map atomically, so none is written twice or
 * missed), and RWX ranges it could not track because a table was full
 * ("rwx-table": such a range is not captured at munmap/exit). */
static int flush_losses(struct emt_session *s, struct bpf_priv *pv)
{
	int fd = pv->skel ? bpf_map__fd(pv->skel->maps.lost) : -1;
	struct emt_loss_key k;
	struct emt_bpf_stats t;
	uint64_t v;
	int err;

	/* Per-process keys are taken away; the tgid-0 ones (map full) stay
	 * and are written as deltas. */
	for (int guard = 0; fd >= 0 && guard < 65536; guard++) {
		struct emt_loss_key next, *prev = NULL;
		int found = 0;

		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			k = next;
			prev = &k;
			if (k.tgid != 0) {
				found = 1;
				break;
			}
		}
		if (!found)
			break;
		if (bpf_map_lookup_and_delete_elem(fd, &k, &v) != 0 || k.kind >= EMT_LOSS_KINDS)
			continue;
		err = sink_loss(s->sink, loss_kind[k.kind], v, (pid_t)k.tgid, now_ns());
		if (err)
			return err;
	}
	for (uint32_t kind = 0; fd >= 0 && kind < EMT_LOSS_KINDS; kind++) {
		k = (struct emt_loss_key){ 0, kind };
		if (bpf_map_lookup_elem(fd, &k, &v) != 0 || v <= pv->unattributed[kind])
			continue;
		err = sink_loss(s->sink, loss_kind[kind], v - pv->unattributed[kind], 0, now_ns());
		if (err)
			return err;
		pv->unattributed[kind] = v;
	}
	if (read_stats(pv, &t))
		return 0;   /* counters unavailable: try again next time */
	if (t.rwx_full > pv->rwx_lost_written) {
		err = sink_loss(s->sink, "rwx-table", t.rwx_full - pv->rwx_lost_written,
				0, now_ns());
		if (err)
			return err;
		pv->rwx_lost_written = t.rwx_full;
	}
	return 0;
}

/* Stores the BPF side's counters in meta "bpf_stats" for later analysis
 * of a capture's cost (holds, deferred reads, failed pages). */
static void write_stats_meta(struct emt_session *s, struct bpf_priv *pv)
{
	struct emt_bpf_stats t;
	char buf[512];

	if (!pv->skel || read_stats(pv, &t))
		return;
	snprintf(buf, sizeof(buf),
		 "captures=%llu pages=%llu pages_not_resident=%llu holds=%llu "
		 "deferred=%llu ringbuf_lost=%llu ringbuf_lost_pages=%llu "
		 "rwx_untracked=%llu",
		 (unsigned long long)t.captures, (unsigned long long)t.pages,
		 (unsigned long long)t.pages_failed, (unsigned long long)t.holds,
		 (unsigned long long)t.deferred, (unsigned long long)t.rb_fail,
		 (unsigned long long)t.rb_fail_pages, (unsigned long long)t.rwx_full);
	emt_writer_set_meta(sink_writer(s->sink), "bpf_stats", buf);
}

/* ---------------------------------------------------------- start */

static int follow_pid(struct bpf_priv *pv, pid_t pid)
{
	uint32_t k = (uint32_t)pid, one = 1;
	return bpf_map__update_elem(pv->skel->maps.followed, &k, sizeof(k), &one,
				    sizeof(one), BPF_ANY);
}

/* Releases the command started (and held before exec) by bpf_prepare's
 * guard, once its pid is followed. */
static int launch(struct emt_session *s, struct bpf_priv *pv)
{
	pid_t pid = pv->g.child;
	int err;

	pv->child = pid;
	s->root_pid = pid;
	err = follow_pid(pv, pid);
	if (err)
		return emt_session_fail(s, err, "cannot follow pid %d: %s", (int)pid,
					strerror(-err));
	/* No process row yet: the child is still a copy of emt-capture.
	 * Its exec record creates the row of the command (sink.h). */
	err = live_add(s, pv, pid);
	if (err)
		return err;
	err = guard_release(&pv->g);
	if (err) {
		reap_child(s, pv, 1);
		return emt_session_fail(s, err, "cannot execute '%s': %s",
					s->opts.argv[0], strerror(-err));
	}
	return 0;
}

/* Baseline of an attached process: its existing executable memory that is
 * not a plain file on disk (anonymous, memfd, deleted, shared, device).
 * RWX mappings also go into the BPF RWX table so that later munmap/exit
 * capture them. */
static int baseline(struct emt_session *s, struct bpf_priv *pv, pid_t pid)
{
	struct proc_map *maps;
	size_t n;
	struct emt_rwx_table t;
	uint32_t nrwx = 0;
	int err = proc_maps_read(pid, &maps, &n);

	if (err)
		return emt_session_fail(s, err, "cannot read maps of pid %d: %s",
					(int)pid, strerror(-err));
	memset(&t, 0, sizeof(t));
	for (size_t i = 0; i < n && !err; i++) {
		struct proc_map *m = &maps[i];
		uint32_t kind = proc_map_backing(m);
		if (!(m->prot & PROT_EXEC) || strncmp(m->path, "[v", 2) == 0)
			continue;
		if (kind == EMT_BACKING_FILE && !s->opts.capture_files) {
			struct sink_backing bk = { kind, m->path, m->inode, m->dev, m->offset };
			int64_t id = sink_region_update(s->sink, pid, m->start,
							m->end - m->start, m->prot, &bk,
							now_ns());
			err = id < 0 ? (int)id : 0;
			continue;
		}
		uint64_t len = m->end - m->start;

		err = capture_map(s, pv, pid, pid, m, kind, EMT_TRIGGER_BASELINE, NULL, 0);
		if ((m->prot & PROT_WRITE) || (m->shared && kind != EMT_BACKING_FILE)) {
			if (nrwx < EMT_RWX_SLOTS) {
				t.addr[nrwx] = m->start;
				t.len[nrwx] = len;
				t.prot[nrwx] = m->prot;
				nrwx++;
			} else if (!err) {
				err = sink_loss(s->sink, "rwx-table", 1, pid, now_ns());
			}
		}
	}
	proc_maps_free(maps, n);
	if (!err && nrwx) {
		uint32_t k = (uint32_t)pid;
		err = bpf_map__update_elem(pv->skel->maps.rwx, &k, sizeof(k), &t,
					   sizeof(t), BPF_ANY);
		if (err)
			err = emt_session_fail(s, err, "cannot seed rwx table: %s",
					       strerror(-err));
	}
	return err;
}

/* ---------------------------------------------------------- injections */

/* Follows `victim`, written into by a followed process: it is captured
 * from now on as if attached (baseline of its code). */
static int follow_victim(struct emt_session *s, struct bpf_priv *pv, pid_t victim)
{
	int err = follow_pid(pv, victim);

	if (err)
		return emt_session_fail(s, err, "cannot follow pid %d: %s", (int)victim,
					strerror(-err));
	err = sink_process_start(s->sink, victim, 0, now_ns());
	err = err ? err : live_add(s, pv, victim);
	if (!err && proc_group_alive(victim) <= 0)
		return 0;       /* gone meanwhile: its injection is still recorded */
	return err ? err : baseline(s, pv, victim);
}

/* The writer of injection record r is held (`stopped`: it did stop, so
 * its call is over): the victim becomes followed if it was not, and its
 * bytes after the write are captured (inject.c). */
static int serve_injection(struct emt_session *s, struct bpf_priv *pv,
			   const struct emt_rec_inject *r, int stopped)
{
	struct inject_write w[INJECT_MAX_WRITES];
	size_t n = 0, dropped = 0;
	uint32_t tid = r->h.tid;
	int err;

	(void)stopped;  /* not stopped in time: the bytes read are the best there are */
	/* The next call of this thread is another one, even with the same
	 * arguments. */
	bpf_map__delete_elem(pv->skel->maps.inj_seen, &tid, sizeof(tid), 0);
	err = inject_from_bpf(r, w, &n, &dropped);
	if (err == -ESRCH || err == -EINVAL)
		return 0;       /* writer or victim gone, or nothing written */
	if (err)
		return emt_session_fail(s, err, "injection by pid %u: %s", r->h.pid,
					strerror(-err));
	if (dropped)
		err = sink_loss(s->sink, "inject-iov", dropped, (pid_t)r->h.pid, r->h.time_ns);
	int64_t follow = 0;

	/* Never ourselves: a target writing into emt-capture must not get
	 * it to hold itself. */
	if (!err && n && !(r->flags & EMT_INJF_VICTIM_FOLLOWED) && w[0].victim != getpid() &&
	    !sink_process_id(s->sink, w[0].victim)) {
		err = follow_victim(s, pv, w[0].victim);
		follow = err ? 0 : sink_process_id(s->sink, w[0].victim);
	}
	for (size_t i = 0; i < n && !err; i++) {
		w[i].follow_process_id = i == 0 ? follow : 0;
		err = inject_capture(s, pv->q, &w[i]);
	}
	return err;
}

/* Runs in the attach guard after emt-capture died: a hold may have left
 * followed processes stopped.  Resume every one in a stop, a few times,
 * as a SIGSTOP sent just before the programs were detached can still
 * land; a target stopped by job control before we came stays stopped. */
static void resume_orphans(void *ctx)
{
	struct bpf_priv *pv = ctx;
	int fd = pv->followed_fd;

	for (int round = 0; round < 10; round++) {
		uint32_t key, next, *prev = NULL;

		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			int st;

			key = next;
			prev = &key;
			if ((pid_t)key == pv->attach_root && pv->was_stopped)
				continue;
			st = proc_read_state((pid_t)key);
			if (st == 'T')
				kill((pid_t)key, SIGCONT);
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

/* What the capture still needs once armed: process_vm_readv and /proc of
 * other users' processes (CAP_SYS_PTRACE), resuming held ones (CAP_KILL),
 * and the archive's directory, which SQLite writes -wal/-shm files into
 * (the DAC ones).  Everything else, CAP_BPF and CAP_SYS_ADMIN first, goes
 * before the archive and its threads exist. */
static const int kept_caps[] = { 1, 2, 5, 19 };

/* Which hooks the BPF side uses: the mmap_lock and vm_unmapped_area
 * tracepoints ("mmap-lock"), which fire only when a process changes its
 * mappings, or the sys_enter/sys_exit tracepoints ("syscalls"), which put
 * every syscall of the system on a slower path while attached (see the
 * nocode rows of bench/results/capture.txt).  Kernels without the
 * former get the latter; EMT_BPF_HOOKS forces one (tests, benchmarks). */

/* Loads and attaches the BPF object with `hooks` (bpf_load.c).  Returns
 * 0 or a negative errno with the session's message set; on failure
 * pv->skel is NULL. */
static int open_skel(struct emt_session *s, struct bpf_priv *pv, uint32_t rbsz,
		     const char *hooks)
{
	struct emt_bpf_cfg cfg = {
		.hooks = hooks,
		.follow = !s->opts.no_follow,
		.lossless = (uint32_t)s->lossless,
		.capture_files = (uint32_t)!!s->opts.capture_files,
		.rb_size = rbsz,
		.ovf_size = s->lossless ? OVF_RING : 4 * EMT_PAGE_SIZE,
		.max_pages = MAX_CAPTURE / EMT_PAGE_SIZE,
	};
	int err = emt_bpf_load(&pv->ld, &cfg);

	if (!err)
		err = emt_bpf_attach(&pv->ld);
	if (err) {
		emt_session_fail(s, err, "%s", pv->ld.msg);
		emt_bpf_unload(&pv->ld);
		pv->skel = NULL;
		return err;
	}
	pv->skel = pv->ld.skel;
	pv->hooks = hooks;
	return 0;
}

/* Everything that needs privileges, before the session creates the
 * archive: load and attach the programs, start the guard (and under it
 * the command, held before exec, with the caller's privileges), then
 * drop what is no longer needed, so that the threads created later never
 * hold it either. */
static int bpf_prepare(struct emt_session *s)
{
	struct bpf_priv *pv = calloc(1, sizeof(*pv));
	uint32_t rbsz = s->opts.ringbuf_bytes ? s->opts.ringbuf_bytes : RB_DEFAULT;
	int err;

	if (!pv)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	s->engine_priv = pv;
	libbpf_fn = s->opts.log;
	libbpf_fn_arg = s->opts.log_arg;
	libbpf_set_print(libbpf_log);
	pv->ncpus = libbpf_num_possible_cpus();
	if (pv->ncpus <= 0)
		return emt_session_fail(s, pv->ncpus ? pv->ncpus : -EINVAL,
					"cannot count cpus");
	/* The ring size must be a power of two multiple of the page size. */
	if (rbsz < 4 * EMT_PAGE_SIZE || (rbsz & (rbsz - 1)))
		return emt_session_fail(s, -EINVAL,
			"ring buffer size %u is not a power of two >= 16 KiB", rbsz);

	const char *want = getenv("EMT_BPF_HOOKS");

	if (want && !*want)
		want = NULL;    /* set but empty: as if unset */
	if (want && strcmp(want, EMT_HOOKS_LOCK) && strcmp(want, EMT_HOOKS_SYSCALLS))
		return emt_session_fail(s, -EINVAL,
			"EMT_BPF_HOOKS='%s': not 'mmap-lock' or 'syscalls'", want);
	if (!want || !strcmp(want, EMT_HOOKS_LOCK)) {
		err = open_skel(s, pv, rbsz, EMT_HOOKS_LOCK);
		/* A kernel that refuses these (no such tracepoints, an older
		 * verifier) gets the fallback; a forced choice does not. */
		if (err && !want) {
			char why[sizeof(s->errmsg)];

			snprintf(why, sizeof(why), "%s", s->errmsg);
			err = open_skel(s, pv, rbsz, EMT_HOOKS_SYSCALLS);
			if (!err) {
				emt_session_warn(s, "%s\nusing the sys_enter/sys_exit hooks instead, "
						 "which slow every syscall of the system", why);
			} else {
				char why2[sizeof(s->errmsg)];

				snprintf(why2, sizeof(why2), "%s", s->errmsg);
				emt_session_fail(s, err, "neither hook set loads on this kernel:\n"
						 "  %s\n  %s", why, why2);
			}
		}
	} else {
		err = open_skel(s, pv, rbsz, EMT_HOOKS_SYSCALLS);
	}
	if (err)
		return err;
	/* Where losses go when the per-process map is full. */
	for (uint32_t kind = 0; kind < EMT_LOSS_KINDS; kind++) {
		struct emt_loss_key k = { 0, kind };
		uint64_t zero = 0;

		err = bpf_map__update_elem(pv->skel->maps.lost, &k, sizeof(k), &zero,
					   sizeof(zero), BPF_ANY);
		if (err)
			return emt_session_fail(s, err, "cannot set up the loss map: %s",
						strerror(-err));
	}
	pv->rb = ring_buffer__new(bpf_map__fd(pv->skel->maps.rb), on_record, s, NULL);
	if (!pv->rb)
		return emt_session_fail(s, -errno, "cannot open ring buffer: %s",
					strerror(errno));
	/* Added second: a consume reads the main ring first, so a thread's
	 * records there come before its later ones in the overflow ring. */
	err = ring_buffer__add(pv->rb, bpf_map__fd(pv->skel->maps.rb_ovf), on_ovf_record, s);
	if (err)
		return emt_session_fail(s, err, "cannot open overflow ring buffer: %s",
					strerror(-err));
	/* Both objects move the same consumer position (the map's), and a
	 * consume reads it afresh: records are read once either way. */
	pv->rb_ovf = ring_buffer__new(bpf_map__fd(pv->skel->maps.rb_ovf), on_ovf_record, s, NULL);
	if (!pv->rb_ovf)
		return emt_session_fail(s, -errno, "cannot open overflow ring buffer: %s",
					strerror(errno));

	/* --syscalls and --model: attached before the target can run. */
	struct sysrec_bpf_maps shared;

	sysrec_bpf_maps_of(pv->skel, &shared);
	err = sysrec_session_open(s, &pv->sr);
	if (!err && pv->sr)
		err = sysrec_session_attach_bpf(s, pv->sr, &shared);
	if (!err)
		err = model_session_open(s, &shared, &pv->ms);
	if (err)
		return err;

	if (s->opts.argv) {
		err = guard_start(&pv->g, s->opts.argv);
		if (err)
			return emt_session_fail(s, err, "cannot start '%s': %s",
						s->opts.argv[0], strerror(-err));
		pv->have_guard = 1;
	} else {
		/* A thread id given for -p means its whole process. */
		int tgid = proc_read_tgid(s->opts.pid);

		if (tgid < 0)
			return emt_session_fail(s, tgid, "cannot read pid %d: %s",
						(int)s->opts.pid, strerror(-tgid));
		pv->attach_root = (pid_t)tgid;
		/* A target stopped by job control before we came stays
		 * stopped; only stops of our own making are undone. */
		pv->was_stopped = proc_read_state(pv->attach_root) == 'T';
		pv->followed_fd = bpf_map__fd(pv->skel->maps.followed);
		err = guard_watch(&pv->g, pv->followed_fd, resume_orphans, pv);
		if (err)
			return emt_session_fail(s, err, "cannot start the attach guard: %s",
						strerror(-err));
		pv->have_guard = 1;
	}
	err = privs_keep_only(kept_caps, sizeof(kept_caps) / sizeof(kept_caps[0]),
			      pv->privs, sizeof(pv->privs));
	if (err)
		return emt_session_fail(s, err, "cannot drop capabilities: %s", strerror(-err));
	return 0;
}

static int bpf_start(struct emt_session *s)
{
	struct bpf_priv *pv = s->engine_priv;
	int err;

	if (!pv)
		return emt_session_fail(s, -EINVAL, "bpf engine not prepared");
	err = emt_writer_set_meta(sink_writer(s->sink), "privileges_after_setup",
				  pv->privs[0] ? pv->privs : "none");
	if (!err)
		err = emt_writer_set_meta(sink_writer(s->sink), "bpf_hooks", pv->hooks);
	if (!err)
		err = emt_writer_set_meta(sink_writer(s->sink), "bpf_tracepoints",
					  pv->ld.protos);
	if (err)
		return emt_session_fail(s, err, "archive: %s",
					emt_writer_errmsg(sink_writer(s->sink)));
	err = sysrec_session_start(s, pv->sr);
	err = err ? err : model_session_start(s, pv->ms);
	if (err)
		return err;
	pv->q = writeq_start(s->sink, QUEUE_MAX);
	if (!pv->q)
		return emt_session_fail(s, -errno, "cannot start writer thread: %s",
					strerror(errno));
	if (s->opts.argv)
		return launch(s, pv);

	pid_t pid = pv->attach_root;

	s->root_pid = pid;
	err = follow_pid(pv, pid);
	if (err)
		return emt_session_fail(s, err, "cannot follow pid %d: %s", (int)pid,
					strerror(-err));
	err = sink_process_start(s->sink, pid, 0, now_ns());
	if (err)
		return err;
	err = live_add(s, pv, pid);
	if (err)
		return err;
	return baseline(s, pv, pid);
}

/* An exit record can be lost when the ring is full (--no-lossless): a
 * followed process that no longer exists, or is a zombie with no thread
 * left, is recorded as exited now with an unknown status, so the capture
 * still ends.  Its exit record, if there is one, is already in the ring,
 * and so are its last captures: they are read first, so that they are
 * not taken for a new process's. */
static int check_live(struct emt_session *s, struct bpf_priv *pv)
{
	int drained = 0;

	for (size_t i = 0; i < pv->nlive;) {
		pid_t pid = pv->live[i];
		int alive = proc_group_alive(pid);
		if (alive > 0) {
			i++;
			continue;
		}
		if (!drained) {
			drained = 1;
			int n = ring_buffer__consume(pv->rb);
			if (n < 0 && n != -EINTR)
				return emt_session_fail(s, n, "ring buffer read: %s",
							strerror(-n));
			int err = serve_holds(s, pv);
			if (err)
				return err;
			i = 0;  /* the records may have ended some of them */
			continue;
		}
		if (pid == pv->child)
			reap_child(s, pv, 1);
		int err = sink_process_exit(s->sink, pid, now_ns(),
					    pid == pv->child ? s->root_status : -1);
		if (err)
			return err;
		if (pid == s->root_pid && !pv->child)
			pv->attached_gone = 1;
		live_del(s, pv, pid);
	}
	return 0;
}

/* --rwx-interval: captures every tracked RWX range of every followed
 * process as it is now (trigger "sample").  The target keeps running, so
 * a sample is a snapshot that a concurrent write may tear; dedupe makes
 * unchanged samples nearly free. */
static int sample_rwx(struct emt_session *s, struct bpf_priv *pv)
{
	int mfd = bpf_map__fd(pv->skel->maps.followed);
	int rfd = bpf_map__fd(pv->skel->maps.rwx);
	uint32_t key, next, *prev = NULL;
	int err = 0;

	while (!err && bpf_map_get_next_key(mfd, prev, &next) == 0) {
		struct emt_rwx_table t;
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(rfd, &key, &t) != 0)
			continue;
		for (uint32_t i = 0; i < EMT_RWX_SLOTS && !err; i++) {
			if (!t.len[i] || t.len[i] > EMT_CAPTURE_SIZE_MAX)
				continue;
			void *buf = malloc(t.len[i]);
			struct emt_gap *gaps = NULL;
			size_t ng = 0;
			uint64_t now = now_ns();
			if (!buf)
				return emt_session_fail(s, -ENOMEM, "out of memory");
			int r = proc_read_mem((pid_t)key, t.addr[i], t.len[i], buf,
					      &gaps, &ng);
			if (r == 0) {
				int64_t id = sink_region_update(s->sink, (pid_t)key,
								t.addr[i], t.len[i],
								t.prot[i], NULL, now);
				if (id < 0) {
					err = (int)id;
				} else {
					/* Through the queue, behind the captures
					 * before it: versions stay in time order. */
					struct writeq_capture c = {
						.region_id = id, .pid = (pid_t)key,
						.tid = (pid_t)key, .addr = t.addr[i],
						.size = t.len[i], .time_ns = now,
						.buf = buf, .gaps = gaps, .ngaps = ng,
						.trigger = EMT_TRIGGER_SAMPLE,
						.prot_before = t.prot[i], .prot_after = t.prot[i],
					};
					buf = NULL;
					gaps = NULL;
					err = writeq_capture(pv->q, &c);
					if (err)
						err = queue_fail(s, err);
				}
			}
			free(buf);
			free(gaps);
		}
	}
	return err;
}

static int bpf_poll(struct emt_session *s, int timeout_ms)
{
	struct bpf_priv *pv = s->engine_priv;
	int n, err;

	if (!pv || !pv->rb)
		return 0;
	n = ring_buffer__poll(pv->rb, s->stop ? 0 : timeout_ms);
	if (n < 0 && n != -EINTR)
		return emt_session_fail(s, n, "ring buffer poll: %s", strerror(-n));
	/* Records submitted without a wakeup do not make epoll report the
	 * ring: read whatever is there after each (short) wait. */
	uint64_t t0 = now_ns();

	n = ring_buffer__consume(pv->rb);
	if (n < 0 && n != -EINTR)
		return emt_session_fail(s, n, "ring buffer read: %s", strerror(-n));
	err = serve_holds(s, pv);
	if (err)
		return err;
	pv->read_from_ns = t0;
	err = settle_captures(s, pv);
	if (err)
		return err;
	/* One wakeup of the writer thread per read of the ring, not one per
	 * record: a futex wake and a cross-CPU wakeup cost more here than
	 * writing a small capture. */
	writeq_kick(pv->q);
	if (pv->err)
		return pv->err;
	if ((err = writeq_error(pv->q)) != 0)
		return queue_fail(s, err);
	err = flush_losses(s, pv);
	if (err)
		return err;
	if (s->opts.rwx_interval_ms && !s->stop && now_ns() >= pv->next_sample_ns) {
		pv->next_sample_ns = now_ns() + (uint64_t)s->opts.rwx_interval_ms * 1000000ull;
		err = sample_rwx(s, pv);
		if (err)
			return err;
	}
	reap_child(s, pv, 0);
	if (now_ns() >= pv->next_live_ns) {
		pv->next_live_ns = now_ns() + 200000000ull;
		err = check_live(s, pv);
		if (err)
			return err;
	}
	if (!pv->child && !pv->attached_gone && kill(s->root_pid, 0) < 0 &&
	    errno == ESRCH)
		pv->attached_gone = 1;

	int ended = s->stop ||
		(pv->child ? (pv->child_reaped && s->live_processes == 0)
			   : pv->attached_gone);
	/* A launched command that exited while untraced children live on
	 * (--no-follow) ends the capture too. */
	if (pv->child && pv->child_reaped && s->opts.no_follow)
		ended = 1;
	if (!ended)
		return 1;
	/* Drain what is still in the ring before ending. */
	ring_buffer__consume(pv->rb);
	err = serve_holds(s, pv);
	if (err)
		return err;
	if (pv->err)
		return pv->err;
	err = flush_losses(s, pv);
	return err < 0 ? err : 0;
}

static int bpf_stop(struct emt_session *s)
{
	struct bpf_priv *pv = s->engine_priv;
	int err = 0;

	if (!pv)
		return 0;
	if (pv->skel)
		emt_bpf__detach(pv->skel);
	sysrec_session_detach(pv->sr);
	model_session_detach(pv->ms);
	if (pv->rb)
		ring_buffer__consume(pv->rb);
	err = serve_holds(s, pv);
	/* Nothing comes after these reads: no capture waits for more. */
	pv->final = 1;
	int e = settle_captures(s, pv);
	if (e && !err)
		err = e;
	/* Captures still in flight (end record lost or target gone): keep
	 * what arrived, mark the rest as gaps. */
	while (pv->inflight) {
		struct inflight *f = pv->inflight;
		pv->inflight = f->next;
		e = end_capture(s, pv, f, 0);
		if (e && !err)
			err = e;
	}
	/* A launched command never outlives the capture: when it ended
	 * early (signal, failure) its whole tree is killed.  A normal end
	 * leaves only what --no-follow said not to follow. */
	if (pv->have_guard && pv->child) {
		if (s->stop || err || !pv->child_reaped || s->live_processes)
			guard_kill_tree(&pv->g);
		reap_child(s, pv, 0);
		guard_close(&pv->g);
		pv->have_guard = 0;
	}
	/* An attached target is never left stopped by a hold (but by
	 * --on-alert stop, for a debugger). */
	if (!pv->child && s->root_pid > 0 && !pv->was_stopped && !left_stopped(pv, s->root_pid))
		kill(s->root_pid, SIGCONT);
	if (!pv->child)
		for (size_t i = 0; i < pv->nlive; i++)
			if (pv->live[i] != s->root_pid && !left_stopped(pv, pv->live[i]))
				kill(pv->live[i], SIGCONT);
	if (pv->have_guard && !pv->child) {
		guard_close(&pv->g);
		pv->have_guard = 0;
	}
	/* Everything queued reaches the archive before it is sealed. */
	e = writeq_stop(pv->q);
	pv->q = NULL;
	if (e && !err)
		err = queue_fail(s, e);
	e = sysrec_session_end(s, pv->sr);
	if (e && !err)
		err = e;
	e = model_session_end(s, pv->ms);
	if (e && !err)
		err = e;
	e = flush_losses(s, pv);
	if (e && !err)
		err = e;
	write_stats_meta(s, pv);
	return err;
}

static void bpf_free(struct emt_session *s)
{
	struct bpf_priv *pv = s->engine_priv;

	if (!pv)
		return;
	ring_buffer__free(pv->rb);
	ring_buffer__free(pv->rb_ovf);
	sysrec_session_free(pv->sr);
	pv->sr = NULL;
	model_session_free(pv->ms);
	pv->ms = NULL;
	emt_bpf_unload(&pv->ld);
	pv->skel = NULL;
	struct inflight **lists[] = { &pv->inflight, &pv->settling, &pv->orphans };

	for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		while (*lists[l]) {
			struct inflight *f = *lists[l];
			*lists[l] = f->next;
			inflight_free(pv, f);
		}
	}
	while (pv->held) {
		struct inflight *f = pv->held;
		pv->held = f->next;
		kill((pid_t)f->b.h.pid, SIGCONT);
		inflight_free(pv, f);
	}
	writeq_stop(pv->q);
	pv->q = NULL;
	if (pv->have_guard) {
		if (pv->g.child)
			guard_kill_tree(&pv->g);
		guard_close(&pv->g);
	}
	free(pv->live);
	free(pv->left_stopped);
	free(pv);
	s->engine_priv = NULL;
}

const struct emt_engine_ops emt_bpf_engine = {
	.name = "bpf",
	.check = bpf_check,
	.prepare = bpf_prepare,
	.start = bpf_start,
	.poll = bpf_poll,
	.stop = bpf_stop,
	.free = bpf_free,
};
