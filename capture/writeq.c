/*
 * writeq.c - the writer thread of the capture engines (writeq.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"
#include "writeq.h"

#define SEQ_SLOTS 1024

/* Capture buffer pool: size classes 2^POOL_MIN_SHIFT..2^POOL_MAX_SHIFT,
 * each keeping at most POOL_CLASS_BYTES (and POOL_CLASS_MAX buffers). */
#define POOL_MIN_SHIFT   12
#define POOL_MAX_SHIFT   20
#define POOL_CLASSES     (POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1)
#define POOL_CLASS_BYTES (2u << 20)
#define POOL_CLASS_MAX   128u

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
	uint64_t bytes, max_bytes;
	int busy;               /* the thread is writing a job */
	int unsignalled;        /* jobs queued by writeq_capture_lazy */
	int quit;
	int err;
	/* Last seq per thread, for linked events: written and read only by
	 * the writer thread. */
	struct { pid_t tid; uint64_t seq; } last_seq[SEQ_SLOTS];
	/* Written buffers kept for reuse (writeq_buf), under pool_mu. */
	pthread_mutex_t pool_mu;
	void    *pool[POOL_CLASSES][POOL_CLASS_MAX];
	unsigned npool[POOL_CLASSES];
};

/* The size class of len, or -1 if pooled buffers do not come that big. */
static int pool_class(size_t len)
{
	for (int k = 0; k < POOL_CLASSES; k++)
		if (len <= (size_t)1 << (POOL_MIN_SHIFT + k))
			return k;
	return -1;
}

static unsigned pool_keep(int k)
{
	unsigned n = POOL_CLASS_BYTES >> (POOL_MIN_SHIFT + k);

	return n > POOL_CLASS_MAX ? POOL_CLASS_MAX : n ? n : 1;
}

void *writeq_buf(struct writeq *q, size_t len)
{
	int k = pool_class(len);
	void *b = NULL;

	if (k < 0)
		return malloc(len ? len : 1);
	pthread_mutex_lock(&q->pool_mu);
	if (q->npool[k])
		b = q->pool[k][--q->npool[k]];
	pthread_mutex_unlock(&q->pool_mu);
	return b ? b : malloc((size_t)1 << (POOL_MIN_SHIFT + k));
}

void writeq_buf_free(struct writeq *q, void *buf, size_t len)
{
	int k = pool_class(len);

	if (!buf)
		return;
	if (k >= 0) {
		pthread_mutex_lock(&q->pool_mu);
		if (q->npool[k] < pool_keep(k)) {
			q->pool[k][q->npool[k]++] = buf;
			buf = NULL;
		}
		pthread_mutex_unlock(&q->pool_mu);
	}
	free(buf);
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
	free(j->detail);
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
	return err;
}

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
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
		q->busy = 1;
		int failed = q->err;

		pthread_mutex_unlock(&q->mu);
		/* After a failure only drain (and free) the queue: the
		 * archive keeps what was committed before it. */
		int err = failed ? 0 : write_job(q, j);

		pthread_mutex_lock(&q->mu);
		q->busy = 0;
		q->bytes -= j->is_event ? 0 : j->c.size;
		if (err && !q->err)
			q->err = err;
		pthread_cond_broadcast(&q->cv_space);
		if (!q->head)
			pthread_cond_broadcast(&q->cv_idle);
		pthread_mutex_unlock(&q->mu);
		job_free(q, j);
		pthread_mutex_lock(&q->mu);
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

static int enqueue(struct writeq *q, struct job *j, int wake)
{
	uint64_t sz = j->is_event ? 0 : j->c.size;
	int err;

	pthread_mutex_lock(&q->mu);
	if (q->bytes && q->bytes + sz > q->max_bytes && q->unsignalled) {
		/* Full of lazily queued jobs: the writer must run now. */
		pthread_cond_signal(&q->cv_work);
		q->unsignalled = 0;
	}
	while (q->bytes && q->bytes + sz > q->max_bytes && !q->err)
		pthread_cond_wait(&q->cv_space, &q->mu);
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->bytes += sz;
	err = q->err;
	if (wake) {
		pthread_cond_signal(&q->cv_work);
		q->unsignalled = 0;
	} else {
		q->unsignalled = 1;
	}
	pthread_mutex_unlock(&q->mu);
	return err;
}

void writeq_kick(struct writeq *q)
{
	pthread_mutex_lock(&q->mu);
	if (q->unsignalled) {
		pthread_cond_signal(&q->cv_work);
		q->unsignalled = 0;
	}
	pthread_mutex_unlock(&q->mu);
}

static int queue_capture(struct writeq *q, struct writeq_capture *c, int wake)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		if (c->pooled)
			writeq_buf_free(q, c->buf, c->size);
		else
			free(c->buf);
		free(c->gaps);
		c->buf = NULL;
		c->gaps = NULL;
		return -ENOMEM;
	}
	j->c = *c;
	c->buf = NULL;
	c->gaps = NULL;
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
	struct job *j = calloc(1, sizeof(*j));

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
	if (q->unsignalled) {
		pthread_cond_signal(&q->cv_work);
		q->unsignalled = 0;
	}
	while ((q->head || q->busy) && !q->quit)
		pthread_cond_wait(&q->cv_idle, &q->mu);
	err = q->err;
	pthread_mutex_unlock(&q->mu);
	return err;
}

int writeq_error(struct writeq *q)
{
	int err;

	pthread_mutex_lock(&q->mu);
	err = q->err;
	pthread_mutex_unlock(&q->mu);
	return err;
}

uint64_t writeq_pending_bytes(struct writeq *q)
{
	uint64_t n;

	pthread_mutex_lock(&q->mu);
	n = q->bytes;
	pthread_mutex_unlock(&q->mu);
	return n;
}

int writeq_stop(struct writeq *q)
{
	int err;

	if (!q)
		return 0;
	pthread_mutex_lock(&q->mu);
	q->quit = 1;
	pthread_cond_signal(&q->cv_work);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->th, NULL);
	err = q->err;
	for (int k = 0; k < POOL_CLASSES; k++)
		while (q->npool[k])
			free(q->pool[k][--q->npool[k]]);
	pthread_mutex_destroy(&q->mu);
	pthread_mutex_destroy(&q->pool_mu);
	pthread_cond_destroy(&q->cv_work);
	pthread_cond_destroy(&q->cv_space);
	pthread_cond_destroy(&q->cv_idle);
	free(q);
	return err;
}
