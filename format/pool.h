/*
 * pool.h - one helper thread for the writer (private to format/).
 *
 * The writer's CPU work per chunk (SHA-256, zstd) is independent from
 * chunk to chunk; a helper thread lets it use a second core when one is
 * free.  Two primitives:
 *  - pool_for(): runs fn(ctx, i, tid) for i in [0, n) on the calling
 *    thread (tid 0) and the helper (tid 1) if it is idle; returns when all
 *    are done.  Items are claimed one by one, so a busy helper costs
 *    nothing but the claim.
 *  - pool_async()/pool_wait(): one background job (the whole-capture
 *    hash) that runs while the caller works through pool_for() calls.
 * With no helper (thread creation failed, or pool NULL) everything runs
 * on the caller.  Only one thread (the writer, under its mutex) may call
 * these functions.
 */
#ifndef EMT_FORMAT_POOL_H
#define EMT_FORMAT_POOL_H

#include <stdatomic.h>
#include <stddef.h>

struct pool;
typedef void (*pool_fn)(void *ctx, size_t i, int tid);

/* A batch whose items the caller consumes in order while they are being
 * done (pool_begin/pool_until/pool_end): e.g. compress chunks on both
 * threads while the caller inserts each one into SQLite as soon as it is
 * ready, so the helper does not sit idle during the inserts.  Lives on
 * the caller's stack; n <= POOL_BATCH_MAX. */
#define POOL_BATCH_MAX 64
struct pool_batch {
	pool_fn fn;
	void *ctx;
	size_t n;
	atomic_size_t next;                     /* next item to claim */
	atomic_uchar done[POOL_BATCH_MAX];      /* item i finished */
};

/* Returns a pool with one helper thread, or NULL (callers then run
 * everything inline through the same functions). */
struct pool *pool_new(void);
void pool_free(struct pool *p);
void pool_for(struct pool *p, size_t n, pool_fn fn, void *ctx);
void pool_async(struct pool *p, void (*fn)(void *ctx), void *ctx);
void pool_wait(struct pool *p);
/* Starts batch `b` (fn, ctx, n set by the caller): the helper claims
 * items as it can.  pool_until() returns once item j is done, doing
 * unclaimed items on the calling thread (tid 0) meanwhile, so it never
 * waits while there is work left.  pool_end() returns once the helper
 * has left the batch (call it before `b` goes away, on error paths
 * too). */
void pool_begin(struct pool *p, struct pool_batch *b);
void pool_until(struct pool *p, struct pool_batch *b, size_t j);
void pool_end(struct pool *p, struct pool_batch *b);

#endif /* EMT_FORMAT_POOL_H */
