/*
 * writeq.h - hands finished captures and timeline events to one writer
 * thread, shared by the capture engines.
 *
 * Hashing, compression and SQLite cost tens of microseconds per capture
 * (hundreds of milliseconds for a 128 MiB one).  Done on the engine's
 * thread they stop it from serving the target meanwhile: the BPF engine's
 * ring stops draining, the ptrace engine's target waits in a fault.  The
 * queue is FIFO, so the archive's capture order (seq, versions) is the
 * order the engine queued them in, and an event queued after a capture of
 * the same thread can take that capture's seq.  It is bounded by bytes of
 * capture data: beyond the bound the producer waits.
 *
 * One producer thread (the engine's) and the writer thread.  Functions
 * return 0 or -errno; the first error of the writer thread is sticky and
 * returned by every later call, its message is the writer's
 * (emt_writer_errmsg of the sink).
 */
#ifndef EMT_CAPTURE_WRITEQ_H
#define EMT_CAPTURE_WRITEQ_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "emt_archive.h"

struct emt_sink;
struct writeq;

/* A capture for writeq_capture.  buf (malloc'd, or from writeq_buf) and
 * gaps (malloc'd) are owned by the queue from the call on (freed by it
 * even when the call fails). */
struct writeq_capture {
	int64_t  region_id;
	pid_t    pid, tid;
	uint64_t addr, size, time_ns;
	uint8_t *buf;
	struct emt_gap *gaps;
	size_t   ngaps;
	uint32_t trigger;       /* enum emt_trigger */
	uint32_t prot_before, prot_after;
	int      has_regs;
	struct emt_regs_x86_64 regs;
	int      pooled;        /* buf came from writeq_buf() */
	/* Issue 15: the injection this capture (trigger inject) shows, or
	 * NULL; malloc'd, owned by the queue like buf.  Written with the
	 * capture's seq by sink_injection, with inj_follow (> 0: the
	 * victim's process row, followed since this injection). */
	struct emt_injection *inj;
	int64_t  inj_follow;
	/* Issue 16: the alert (alerts.id) this capture (trigger alert) was
	 * made at, or 0: linked with the capture's seq (alert_captures). */
	int64_t  alert_id;
};

/* A buffer of at least len bytes for a capture (set c->pooled): one the
 * queue wrote before if there is one of its size class (4 KiB to 1 MiB,
 * powers of two), else malloc'd.  Recycled buffers are already faulted
 * in: a fresh malloc'd page costs a page fault on the engine's thread
 * (about 1 us), per capture, while the target waits.  Free it with
 * writeq_buf_free() if it is not queued.  Returns NULL with errno set. */
void *writeq_buf(struct writeq *q, size_t len);
void writeq_buf_free(struct writeq *q, void *buf, size_t len);

/* Sets aside, faulted in now, nbufs 4 KiB capture buffers (at most 256)
 * and njobs queue entries (at most 65,536) for the producer, so that its
 * captures take no page fault and no allocator lock shared with the
 * writer thread as long as the writer thread lags behind by fewer than
 * that.  They stay the queue's until writeq_stop.  Call it before the
 * first writeq_buf.  Returns 0, -EBUSY if called before (or late),
 * -EINVAL for counts beyond the bounds, or -errno of mmap. */
int writeq_reserve(struct writeq *q, size_t nbufs, size_t njobs);

/* Starts the writer thread writing to `sink`, holding at most max_bytes of
 * capture data queued (a single larger capture still passes alone).
 * Returns the queue, or NULL with errno set. */
struct writeq *writeq_start(struct emt_sink *sink, uint64_t max_bytes);

/* Lets the writer thread run only on the CPUs of `set` (pthread
 * affinity).  A producer that keeps itself and the process it serves on
 * one CPU (the ptrace engine) keeps the writer's compression and hashing
 * off that CPU: sharing it would slow every round trip by the writer's
 * time slices.  Returns 0 or -errno (EINVAL: no CPU of set is usable). */
int writeq_set_cpus(struct writeq *q, const cpu_set_t *set);

/* Queues a capture (takes c->buf and c->gaps).  Waits while the queue is
 * full.  Returns 0, or the writer thread's first error. */
int writeq_capture(struct writeq *q, struct writeq_capture *c);

/* Queues a timeline event; `detail` (may be NULL) is copied, e->detail is
 * ignored.  With `link`, the event takes the seq of the last capture that
 * thread e->tid had queued before it (and no later event takes it again).
 * Returns 0, or the writer thread's first error. */
int writeq_event(struct writeq *q, const struct emt_event *e,
		 const char *detail, int link);

/* writeq_capture and writeq_event without waking the writer thread: the
 * job stays with the producer (taking no lock) until the next
 * writeq_kick(), a waking call, a flush, the queue bound, or 64 jobs
 * waiting so.  Waking a thread costs a futex call and an inter-CPU
 * wakeup, and a lock shared with a busy writer thread costs cache-line
 * transfers and futex waits; a producer serving a stopped process (the
 * ptrace engine) queues lazily and kicks once the process runs again, the
 * BPF engine kicks once per read of its ring. */
int writeq_capture_lazy(struct writeq *q, struct writeq_capture *c);
int writeq_event_lazy(struct writeq *q, const struct emt_event *e,
		      const char *detail, int link);

/* Hands lazily queued jobs to the writer thread and wakes it (waits while
 * the queue is full).  Without such jobs it costs nothing. */
void writeq_kick(struct writeq *q);

/* Waits until everything queued so far has been written (or failed).
 * Returns 0 or the writer thread's first error. */
int writeq_flush(struct writeq *q);

/* The writer thread's first error, or 0. */
int writeq_error(struct writeq *q);

/* Capture bytes queued and not yet written (lazily queued ones too). */
uint64_t writeq_pending_bytes(struct writeq *q);

/* Writes what is queued, stops the thread and frees the queue.  Returns 0
 * or the writer thread's first error.  NULL is accepted. */
int writeq_stop(struct writeq *q);

#endif /* EMT_CAPTURE_WRITEQ_H */
