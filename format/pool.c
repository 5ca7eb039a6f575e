/* pool.c - the writer's helper thread (see pool.h). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pool.h"

struct pool {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	int stop;

	void (*async_fn)(void *ctx);
	void *async_ctx;
	int async_pending, async_running;

	pool_fn pf_fn;
	void *pf_ctx;
	size_t pf_n;
	atomic_size_t pf_next;
	unsigned long pf_gen, helper_gen;
	int pf_active, helper_in_pf;

	/* Batch mode (pool_begin): the caller may be asleep in pool_until
	 * waiting for an item the helper is doing. */
	struct pool_batch *batch;
	atomic_int waiting;
};

static void run_items(struct pool *p, pool_fn fn, void *ctx, size_t n, int tid)
{
	for (;;) {
		size_t i = atomic_fetch_add(&p->pf_next, 1);

		if (i >= n)
			break;
		fn(ctx, i, tid);
	}
}

/* Claims and does batch items until none is left, waking the caller if
 * it sleeps in pool_until. */
static void run_batch(struct pool *p, struct pool_batch *b, int tid)
{
	for (;;) {
		size_t i = atomic_fetch_add(&b->next, 1);

		if (i >= b->n)
			break;
		b->fn(b->ctx, i, tid);
		atomic_store_explicit(&b->done[i], 1, memory_order_release);
		/* The caller rechecks its item under the mutex before it
		 * sleeps, so taking the mutex here cannot miss it. */
		if (p && atomic_load(&p->waiting)) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_broadcast(&p->cv_done);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

static void *helper(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		if (p->async_pending) {
			void (*fn)(void *) = p->async_fn;
			void *ctx = p->async_ctx;

			p->async_pending = 0;
			p->async_running = 1;
			pthread_mutex_unlock(&p->mu);
			fn(ctx);
			pthread_mutex_lock(&p->mu);
			p->async_running = 0;
			pthread_cond_broadcast(&p->cv_done);
			continue;
		}
		if (p->batch && p->helper_gen != p->pf_gen) {
			struct pool_batch *b = p->batch;

			p->helper_gen = p->pf_gen;
			p->helper_in_pf = 1;
			pthread_mutex_unlock(&p->mu);
			run_batch(p, b, 1);
			pthread_mutex_lock(&p->mu);
			p->helper_in_pf = 0;
			pthread_cond_broadcast(&p->cv_done);
			continue;
		}
		if (p->pf_active && p->helper_gen != p->pf_gen) {
			pool_fn fn = p->pf_fn;
			void *ctx = p->pf_ctx;
			size_t n = p->pf_n;

			p->helper_gen = p->pf_gen;
			p->helper_in_pf = 1;
			pthread_mutex_unlock(&p->mu);
			run_items(p, fn, ctx, n, 1);
			pthread_mutex_lock(&p->mu);
			p->helper_in_pf = 0;
			pthread_cond_broadcast(&p->cv_done);
			continue;
		}
		pthread_cond_wait(&p->cv_work, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct pool *pool_new(void)
{
	struct pool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_work, NULL);
	pthread_cond_init(&p->cv_done, NULL);
	atomic_init(&p->pf_next, 0);
	/* The helper blocks every signal (it inherits the mask at creation):
	 * process-directed signals must reach the application's threads,
	 * e.g. a SIGCHLD the ptrace engine waits for with sigtimedwait()
	 * would otherwise be delivered here and discarded. */
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&p->th, NULL, helper, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv_work);
		pthread_cond_destroy(&p->cv_done);
		free(p);
		return NULL;
	}
	return p;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv_work);
	pthread_cond_destroy(&p->cv_done);
	free(p);
}

void pool_for(struct pool *p, size_t n, pool_fn fn, void *ctx)
{
	if (!p || n < 2) {
		for (size_t i = 0; i < n; i++)
			fn(ctx, i, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->pf_fn = fn;
	p->pf_ctx = ctx;
	p->pf_n = n;
	atomic_store(&p->pf_next, 0);
	p->pf_gen++;
	p->pf_active = 1;
	pthread_cond_signal(&p->cv_work);
	pthread_mutex_unlock(&p->mu);

	run_items(p, fn, ctx, n, 0);

	/* Every item is claimed; wait for the helper to finish its own. */
	pthread_mutex_lock(&p->mu);
	p->pf_active = 0;
	while (p->helper_in_pf)
		pthread_cond_wait(&p->cv_done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void pool_async(struct pool *p, void (*fn)(void *ctx), void *ctx)
{
	if (!p) {
		fn(ctx);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->async_fn = fn;
	p->async_ctx = ctx;
	p->async_pending = 1;
	pthread_cond_signal(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
}

void pool_wait(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	/* Not picked up yet (helper never woke): run it here. */
	if (p->async_pending) {
		void (*fn)(void *) = p->async_fn;
		void *ctx = p->async_ctx;

		p->async_pending = 0;
		pthread_mutex_unlock(&p->mu);
		fn(ctx);
		return;
	}
	while (p->async_running)
		pthread_cond_wait(&p->cv_done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void pool_begin(struct pool *p, struct pool_batch *b)
{
	atomic_init(&b->next, 0);
	for (size_t i = 0; i < b->n; i++)
		atomic_init(&b->done[i], 0);
	if (!p || b->n < 2)
		return;
	pthread_mutex_lock(&p->mu);
	p->batch = b;
	p->pf_gen++;
	pthread_cond_signal(&p->cv_work);
	pthread_mutex_unlock(&p->mu);
}

void pool_until(struct pool *p, struct pool_batch *b, size_t j)
{
	while (!atomic_load_explicit(&b->done[j], memory_order_acquire)) {
		size_t i = atomic_fetch_add(&b->next, 1);

		if (i < b->n) {
			b->fn(b->ctx, i, 0);
			atomic_store_explicit(&b->done[i], 1, memory_order_release);
			continue;
		}
		/* Every item is claimed and j is the helper's: sleep until
		 * it is done. */
		pthread_mutex_lock(&p->mu);
		atomic_store(&p->waiting, 1);
		while (!atomic_load_explicit(&b->done[j], memory_order_acquire))
			pthread_cond_wait(&p->cv_done, &p->mu);
		atomic_store(&p->waiting, 0);
		pthread_mutex_unlock(&p->mu);
	}
}

void pool_end(struct pool *p, struct pool_batch *b)
{
	if (!p || b->n < 2)
		return;
	pthread_mutex_lock(&p->mu);
	p->batch = NULL;
	while (p->helper_in_pf)
		pthread_cond_wait(&p->cv_done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
