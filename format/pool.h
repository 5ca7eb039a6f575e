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

#include <stddef.h>

struct pool;
typedef void (*pool_fn)(void *ctx, size_t i, int tid);

/* Returns a pool with one helper thread, or NULL (callers then run
 * everything inline through the same functions). */
struct pool *pool_new(void);
void pool_free(struct pool *p);
void pool_for(struct pool *p, size_t n, pool_fn fn, void *ctx);
void pool_async(struct pool *p, void (*fn)(void *ctx), void *ctx);
void pool_wait(struct pool *p);

#endif /* EMT_FORMAT_POOL_H */
