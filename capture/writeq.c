/*
 * writeq.c - the writer thread of the capture engines (writeq.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "sink.h"
#include "writeq.h"

#define SEQ_SLOTS 1024

/* Capture buffer pool: size classes 2^POOL_MIN_SHIFT..2^POOL_MAX_SHIFT,
 * each keeping at most POOL_CLASS_BYTES (and POOL_CLASS_MAX buffers). */
#define POOL_MIN_SHIFT   12
#define POOL_MAX_SHIFT   20
#define POOL_CLASSES     (POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1)
#define POOL_CLASS_BYTES (2u << 20)
#define POOL_CLASS_MAX   512u
/* Jobs kept for reuse beyond the reserved ones. */
#define JOBS_KEEP        256u
/* Lazily queued jobs handed over at once, without waiting for a kick. */
#define LAZY_JOBS        64u
/* 4 KiB buffers the producer takes from the pool at a time. */
#define PBUF_BATCH       64u

struct job {
	struct job *next;
	int      is_event;
	int      link;
	struct writeq_capture c;
	struct emt_event ev;
	char    *detail;
};

struct writeq {
	struct emt_sink *sink;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_space, cv_idle;
	struct job *head, *tail;
	uint64_t bytes, max_bytes;      /* bytes: atomic (the writer lowers it unlocked) */
	uint64_t space_waiting; /* atomic: bytes the producer waits to queue, or 0 */
	int busy;               /* the thread is writing a job */
	int quit;
	int err;                /* written under mu, read atomically */
	/* The producer's own, touched by no other thread: lazily queued jobs
	 * not handed to the writer yet (hand_over), and free jobs and 4 KiB
	 * buffers taken from the pool in batches.  So a lazily queued
	 * capture takes no lock the writer thread contends for. */
	struct job *lhead, *ltail;
	uint64_t lbytes;
	unsigned ljobs;
	struct job *pjobs;
	void    *pbufs[PBUF_BATCH];
	unsigned npbufs;
	/* Last seq per thread, for linked events: written and read only by
	 * the writer thread. */
	struct { pid_t tid; uint64_t seq; } last_seq[SEQ_SLOTS];
	/* Written buffers and finished jobs kept for reuse (writeq_buf,
	 * job_new), under pool_mu. */
	pthread_mutex_t pool_mu;
	void    *pool[POOL_CLASSES][POOL_CLASS_MAX];
	unsigned npool[POOL_CLASSES];
	struct job *free_jobs;
	unsigned nfree_jobs;
	/* writeq_reserve: prefaulted 4 KiB buffers, then jobs; what comes
	 * from here always goes back to the pool, never to free(). */
	uint8_t *slab;
	size_t   slab_len, slab_bufs;
};

/* The size class of len, or -1 if pooled buffers do not come that big. */
static int pool_class(size_t len)
{
	for (int k = 0; k < POOL_CLASSES; k++)
		if (len <= (size_t)1 << (POOL_MIN_SHIFT + k))
			return k;
	return -1;
}

static int in_slab(const struct writeq *q, const void *p)
{
	return q->slab && (const uint8_t *)p >= q->slab &&
	       (const uint8_t *)p < q->slab + q->slab_len;
}

/* How many buffers of class k from outside the slab the pool keeps: the
 * slab's own always fit beside them. */
static unsigned pool_keep(const struct writeq *q, int k)
{
	unsigned n = POOL_CLASS_BYTES >> (POOL_MIN_SHIFT + k);
	unsigned cap = POOL_CLASS_MAX - (k == 0 ? (unsigned)q->slab_bufs : 0);

	return n > cap ? cap : n ? n : 1;
}

void *writeq_buf(struct writeq *q, size_t len)
{
	int k = pool_class(len);
	void *b = NULL;

	if (k < 0)
		return malloc(len ? len : 1);
	if (k == 0 && q->npbufs)
		return q->pbufs[--q->npbufs];
	pthread_mutex_lock(&q->pool_mu);
	if (k == 0)
		while (q->npool[0] && q->npbufs < PBUF_BATCH)
			q->pbufs[q->npbufs++] = q->pool[0][--q->npool[0]];
	else if (q->npool[k])
		b = q->pool[k][--q->npool[k]];
	pthread_mutex_unlock(&q->pool_mu);
	if (k == 0 && q->npbufs)
		b = q->pbufs[--q->npbufs];
	return b ? b : malloc((size_t)1 << (POOL_MIN_SHIFT + k));
}

void writeq_buf_free(struct writeq *q, void *buf, size_t len)
{
	int k = pool_class(len);

	if (!buf)
		return;
	if (k >= 0) {
		pthread_mutex_lock(&q->pool_mu);
		if (in_slab(q, buf) || q->npool[k] < pool_keep(q, k)) {
			q->pool[k][q->npool[k]++] = buf;
			buf = NULL;
		}
		pthread_mutex_unlock(&q->pool_mu);
	}
	free(buf);
}

/* A zeroed job: a finished one if there is one (a fresh calloc'd one
 * costs the producer the allocator's lock, which the writer thread
 * freeing jobs contends for, and page faults), else calloc'd. */
static struct job *job_new(struct writeq *q)
{
	struct job *j;

	if (!q->pjobs) {
		pthread_mutex_lock(&q->pool_mu);
		q->pjobs = q->free_jobs;
		q->free_jobs = NULL;
		q->nfree_jobs = 0;
		pthread_mutex_unlock(&q->pool_mu);
	}
	j = q->pjobs;
	if (!j)
		return calloc(1, sizeof(*j));
	q->pjobs = j->next;
	memset(j, 0, sizeof(*j));
	return j;
}

static void job_free(struct writeq *q, struct job *j)
{
	if (!j)
		return;
	if (j->c.pooled)
		writeq_buf_free(q, j->c.buf, j->c.size);
	else
		free(j->c.buf);
	free(j->c.gaps);
	free(j->c.inj);
	free(j->detail);
	pthread_mutex_lock(&q->pool_mu);
	if (in_slab(q, j) || q->nfree_jobs < JOBS_KEEP) {
		j->next = q->free_jobs;
		q->free_jobs = j;
		q->nfree_jobs++;
		j = NULL;
	}
	pthread_mutex_unlock(&q->pool_mu);
	free(j);
}

static uint64_t take_seq(struct writeq *q, pid_t tid)
{
	uint32_t i = (uint32_t)tid % SEQ_SLOTS;
	uint64_t seq;

	if (q->last_seq[i].tid != tid)
		return 0;
	seq = q->last_seq[i].seq;
	q->last_seq[i].tid = 0;
	return seq;
}

static int write_job(struct writeq *q, struct job *j)
{
	if (j->is_event) {
		if (j->link)
			j->ev.seq = take_seq(q, j->ev.tid);
		j->ev.detail = j->detail;
		return sink_event(q->sink, &j->ev);
	}

	struct writeq_capture *c = &j->c;
	uint64_t seq = 0;
	int err = sink_capture(q->sink, c->region_id, c->pid, c->tid, c->addr, c->size,
			       c->buf, c->gaps, c->ngaps, (enum emt_trigger)c->trigger,
			       c->prot_before, c->prot_after, c->time_ns,
			       c->has_regs ? &c->regs : NULL, &seq);
	if (!err) {
		uint32_t i = (uint32_t)c->tid % SEQ_SLOTS;

		q->last_seq[i].tid = c->tid;
		q->last_seq[i].seq = seq;
	}
	if (!err && c->inj)
		err = sink_injection(q->sink, c->inj, seq, c->inj_follow);
	if (!err && c->alert_id > 0 && seq)
		err = sink_alert_capture(q->sink, seq, c->alert_id);
	return err;
}

/* Wakes a producer waiting for queue space, if there is one: the
 * writer thread takes the mutex only then.  Pairs with wait_space(): both
 * sides store, then load the other's variable (seq_cst), so either the
 * producer sees the bytes go down or the writer sees it waiting. */
static void space_freed(struct writeq *q)
{
	uint64_t want = __atomic_load_n(&q->space_waiting, __ATOMIC_SEQ_CST);
	uint64_t bytes = __atomic_load_n(&q->bytes, __ATOMIC_SEQ_CST);

	/* Not at every job: once a quarter of the bound is free beyond what
	 * the producer waits for, so that a full queue costs the producer
	 * one wakeup per many jobs (the batch's end wakes it regardless). */
	if (!want || (bytes && bytes + want + q->max_bytes / 4 > q->max_bytes))
		return;
	pthread_mutex_lock(&q->mu);
	pthread_cond_broadcast(&q->cv_space);
	pthread_mutex_unlock(&q->mu);
}

/* Takes everything queued at each wakeup and writes it without the
 * mutex: one lock round and no wakeup per job, where a job is often a
 * 4 KiB capture or a syscall event written in microseconds. */
static void *writer_main(void *arg)
{
	struct writeq *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		while (!q->head && !q->quit)
			pthread_cond_wait(&q->cv_work, &q->mu);
		struct job *j = q->head;

		if (!j)
			break;
		q->head = q->tail = NULL;
		q->busy = 1;
		int failed = q->err;

		pthread_mutex_unlock(&q->mu);
		while (j) {
			struct job *next = j->next;
			/* After a failure only drain (and free) the queue:
			 * the archive keeps what was committed before it. */
			int err = failed ? 0 : write_job(q, j);

			if (err) {
				failed = err;
				pthread_mutex_lock(&q->mu);
				if (!q->err)
					__atomic_store_n(&q->err, err, __ATOMIC_RELAXED);
				pthread_mutex_unlock(&q->mu);
			}
			__atomic_fetch_sub(&q->bytes, j->is_event ? 0 : j->c.size,
					   __ATOMIC_SEQ_CST);
			job_free(q, j);
			space_freed(q);
			j = next;
		}
		pthread_mutex_lock(&q->mu);
		q->busy = 0;
		pthread_cond_broadcast(&q->cv_space);
		if (!q->head)
			pthread_cond_broadcast(&q->cv_idle);
	}
	pthread_cond_broadcast(&q->cv_idle);
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

struct writeq *writeq_start(struct emt_sink *sink, uint64_t max_bytes)
{
	struct writeq *q = calloc(1, sizeof(*q));
	sigset_t all, old;
	int err;

	if (!q)
		return NULL;
	q->sink = sink;
	q->max_bytes = max_bytes;
	pthread_mutex_init(&q->mu, NULL);
	pthread_mutex_init(&q->pool_mu, NULL);
	pthread_cond_init(&q->cv_work, NULL);
	pthread_cond_init(&q->cv_space, NULL);
	pthread_cond_init(&q->cv_idle, NULL);
	/* The thread must never take a signal meant for the engine (the
	 * ptrace engine waits for SIGCHLD with sigtimedwait). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&q->th, NULL, writer_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_mutex_destroy(&q->mu);
		pthread_mutex_destroy(&q->pool_mu);
		pthread_cond_destroy(&q->cv_work);
		pthread_cond_destroy(&q->cv_space);
		pthread_cond_destroy(&q->cv_idle);
		free(q);
		errno = err;
		return NULL;
	}
	return q;
}

int writeq_set_cpus(struct writeq *q, const cpu_set_t *set)
{
	return -pthread_setaffinity_np(q->th, sizeof(*set), set);
}

int writeq_reserve(struct writeq *q, size_t nbufs, size_t njobs)
{
	size_t bufs_len = nbufs << POOL_MIN_SHIFT;
	size_t jobs_off = bufs_len;
	size_t len;
	uint8_t *p;

	if (q->slab || q->npool[0])
		return -EBUSY;
	if (nbufs > POOL_CLASS_MAX / 2 || njobs > (64u << 10))
		return -EINVAL;
	len = jobs_off + njobs * sizeof(struct job);
	if (!len)
		return 0;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	pthread_mutex_lock(&q->pool_mu);
	q->slab = p;
	q->slab_len = len;
	q->slab_bufs = nbufs;
	for (size_t i = 0; i < nbufs; i++) {
		/* Non-slab buffers beyond the new keep are freed later. */
		if (q->npool[0] < POOL_CLASS_MAX)
			q->pool[0][q->npool[0]++] = p + (i << POOL_MIN_SHIFT);
	}
	for (size_t i = 0; i < njobs; i++) {
		struct job *j = (struct job *)(void *)(p + jobs_off) + i;
		j->next = q->free_jobs;
		q->free_jobs = j;
		q->nfree_jobs++;
	}
	pthread_mutex_unlock(&q->pool_mu);
	return 0;
}

/* Waits, with q->mu held, while `more` bytes would overfill a queue
 * that is not empty (see space_freed). */
static void wait_space(struct writeq *q, uint64_t more)
{
	__atomic_store_n(&q->space_waiting, more ? more : 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&q->bytes, __ATOMIC_SEQ_CST) &&
	       __atomic_load_n(&q->bytes, __ATOMIC_SEQ_CST) + more > q->max_bytes &&
	       !q->err) {
		pthread_cond_signal(&q->cv_work);
		pthread_cond_wait(&q->cv_space, &q->mu);
	}
	__atomic_store_n(&q->space_waiting, 0, __ATOMIC_SEQ_CST);
}

/* Hands the producer's lazily queued jobs to the writer thread and wakes
 * it, waiting first while the queue is full.  Called with q->mu held. */
static void hand_over(struct writeq *q)
{
	if (!q->lhead)
		return;
	wait_space(q, q->lbytes);
	if (q->tail)
		q->tail->next = q->lhead;
	else
		q->head = q->lhead;
	q->tail = q->ltail;
	__atomic_fetch_add(&q->bytes, q->lbytes, __ATOMIC_SEQ_CST);
	q->lhead = q->ltail = NULL;
	q->lbytes = 0;
	q->ljobs = 0;
	pthread_cond_signal(&q->cv_work);
}

static int enqueue(struct writeq *q, struct job *j, int wake)
{
	uint64_t sz = j->is_event ? 0 : j->c.size;
	int err;

	j->next = NULL;
	if (!wake) {
		/* Kept by the producer until the next kick, waking call or
		 * flush; handed over at once if the queue would be full or
		 * LAZY_JOBS are waiting (the writer thread must not idle
		 * through a long burst). */
		if (q->ltail)
			q->ltail->next = j;
		else
			q->lhead = j;
		q->ltail = j;
		q->lbytes += sz;
		q->ljobs++;
		if (q->ljobs < LAZY_JOBS &&
		    q->lbytes + __atomic_load_n(&q->bytes, __ATOMIC_RELAXED) <= q->max_bytes)
			return __atomic_load_n(&q->err, __ATOMIC_RELAXED);
		pthread_mutex_lock(&q->mu);
		hand_over(q);
		err = q->err;
		pthread_mutex_unlock(&q->mu);
		return err;
	}
	pthread_mutex_lock(&q->mu);
	hand_over(q);   /* FIFO: what was queued lazily goes first */
	wait_space(q, sz);
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	__atomic_fetch_add(&q->bytes, sz, __ATOMIC_SEQ_CST);
	err = q->err;
	pthread_cond_signal(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	return err;
}

void writeq_kick(struct writeq *q)
{
	if (!q->lhead)
		return;
	pthread_mutex_lock(&q->mu);
	hand_over(q);
	pthread_mutex_unlock(&q->mu);
}

static int queue_capture(struct writeq *q, struct writeq_capture *c, int wake)
{
	struct job *j = job_new(q);

	if (!j) {
		if (c->pooled)
			writeq_buf_free(q, c->buf, c->size);
		else
			free(c->buf);
		free(c->gaps);
		free(c->inj);
		c->buf = NULL;
		c->gaps = NULL;
		c->inj = NULL;
		return -ENOMEM;
	}
	j->c = *c;
	c->buf = NULL;
	c->gaps = NULL;
	c->inj = NULL;
	return enqueue(q, j, wake);
}

int writeq_capture(struct writeq *q, struct writeq_capture *c)
{
	return queue_capture(q, c, 1);
}

int writeq_capture_lazy(struct writeq *q, struct writeq_capture *c)
{
	return queue_capture(q, c, 0);
}

static int queue_event(struct writeq *q, const struct emt_event *e,
		       const char *detail, int link, int wake)
{
	struct job *j = job_new(q);

	if (!j)
		return -ENOMEM;
	j->is_event = 1;
	j->link = link;
	j->ev = *e;
	j->ev.detail = NULL;
	if (detail && *detail && !(j->detail = strdup(detail))) {
		free(j);
		return -ENOMEM;
	}
	return enqueue(q, j, wake);
}

int writeq_event(struct writeq *q, const struct emt_event *e,
		 const char *detail, int link)
{
	return queue_event(q, e, detail, link, 1);
}

int writeq_event_lazy(struct writeq *q, const struct emt_event *e,
		      const char *detail, int link)
{
	return queue_event(q, e, detail, link, 0);
}

int writeq_flush(struct writeq *q)
{
	int err;

	pthread_mutex_lock(&q->mu);
	hand_over(q);
	while ((q->head || q->busy) && !q->quit)
		pthread_cond_wait(&q->cv_idle, &q->mu);
	err = q->err;
	pthread_mutex_unlock(&q->mu);
	return err;
}

int writeq_error(struct writeq *q)
{
	return __atomic_load_n(&q->err, __ATOMIC_RELAXED);
}

uint64_t writeq_pending_bytes(struct writeq *q)
{
	return __atomic_load_n(&q->bytes, __ATOMIC_RELAXED) + q->lbytes;
}

int writeq_stop(struct writeq *q)
{
	int err;

	if (!q)
		return 0;
	pthread_mutex_lock(&q->mu);
	hand_over(q);
	q->quit = 1;
	pthread_cond_signal(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	err = q->err;
	for (int k = 0; k < POOL_CLASSES; k++)
		while (q->npool[k]) {
			void *b = q->pool[k][--q->npool[k]];
			if (!in_slab(q, b))
				free(b);
		}
	for (unsigned i = 0; i < q->npbufs; i++)
		if (!in_slab(q, q->pbufs[i]))
			free(q->pbufs[i]);
	while (q->free_jobs || q->pjobs) {
		struct job **l = q->free_jobs ? &q->free_jobs : &q->pjobs;
		struct job *j = *l;
		*l = j->next;
		if (!in_slab(q, j))
			free(j);
	}
	if (q->slab)
		munmap(q->slab, q->slab_len);
	pthread_mutex_destroy(&q->mu);
	pthread_mutex_destroy(&q->pool_mu);
	pthread_cond_destroy(&q->cv_work);
	pthread_cond_destroy(&q->cv_space);
	pthread_cond_destroy(&q->cv_idle);
	free(q);
	return err;
}
