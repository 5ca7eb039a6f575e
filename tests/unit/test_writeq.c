/*
 * test_writeq.c - the writer queue (capture/writeq.h): captures reach the
 * archive in the order they were queued, lazily or not; lazily queued ones
 * wait for a kick, a waking call or a flush but never beyond the bound;
 * buffers and jobs are recycled, reserved ones first.  The archive is read
 * back to check what was really written.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine.h"
#include "sink.h"
#include "writeq.h"
#include "tests/lib/tl_sink.h"

#define RX   (PROT_READ | PROT_EXEC)
#define PG   4096ull
#define BASE 0x700000000000ull
#define NCAP 300

struct fx {
	struct tl_sink k;
	int64_t region;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || tl_sink_open(&f->k, "writeq") < 0) {
		free(f);
		return -1;
	}
	f->region = sink_region_update(f->k.s.sink, f->k.pid, BASE, NCAP * PG, RX,
				       NULL, 10);
	if (f->region <= 0) {
		tl_sink_cleanup(&f->k);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tl_sink_cleanup(&f->k);
	free(f);
	return 0;
}

/* Queues capture i (page i of the region, filled with a byte of i) from a
 * pooled buffer, lazily or not; *used (if not NULL) is set to the buffer. */
static int queue_page_buf(struct fx *f, struct writeq *q, unsigned i, int lazy,
			  void **used)
{
	struct writeq_capture c = {
		.region_id = f->region, .pid = f->k.pid, .tid = f->k.pid,
		.addr = BASE + i * PG, .size = PG, .time_ns = 100 + i,
		.trigger = EMT_TRIGGER_FIRST_EXEC_FAULT,
		.prot_before = PROT_READ | PROT_WRITE, .prot_after = RX,
		.pooled = 1,
	};
	c.buf = writeq_buf(q, PG);
	if (!c.buf)
		return -ENOMEM;
	memset(c.buf, (int)(i % 251) + 1, PG);
	if (used)
		*used = c.buf;
	return lazy ? writeq_capture_lazy(q, &c) : writeq_capture(q, &c);
}

static int queue_page(struct fx *f, struct writeq *q, unsigned i, int lazy)
{
	return queue_page_buf(f, q, i, lazy, NULL);
}

/* Every capture i is seq i+1, with its own bytes. */
static void check_pages(struct fx *f, unsigned n)
{
	struct emt_reader *r = tl_sink_reopen(&f->k);
	uint8_t want[PG], got[PG];

	for (unsigned i = 0; i < n; i++) {
		struct emt_capture c;
		assert_int_equal(emt_reader_capture(r, i + 1, &c), 0);
		assert_true(c.addr == BASE + i * PG);
		assert_int_equal(c.version, i + 1);
		assert_int_equal(emt_reader_read_capture(r, i + 1, got, sizeof(got), 0), 0);
		memset(want, (int)(i % 251) + 1, PG);
		assert_memory_equal(got, want, PG);
	}
	struct emt_capture c;
	assert_int_not_equal(emt_reader_capture(r, n + 1, &c), 0);
	emt_reader_close(r);
}

/* Lazy and waking calls interleaved, kicks now and then: FIFO. */
static void test_order(void **state)
{
	struct fx *f = *state;
	struct writeq *q = writeq_start(f->k.s.sink, 64 * PG);

	assert_non_null(q);
	assert_int_equal(writeq_reserve(q, 8, 16), 0);
	for (unsigned i = 0; i < NCAP; i++) {
		/* Runs of lazy ones, broken by waking calls and kicks. */
		int lazy = i % 7 != 3;
		assert_int_equal(queue_page(f, q, i, lazy), 0);
		if (i % 11 == 5)
			writeq_kick(q);
	}
	assert_int_equal(writeq_stop(q), 0);
	check_pages(f, NCAP);
}

/* Lazily queued captures stay with the producer until a flush, and the
 * bound holds for them: never more than max_bytes waiting (plus the one
 * that passes alone). */
static void test_lazy_bound(void **state)
{
	struct fx *f = *state;
	struct writeq *q = writeq_start(f->k.s.sink, 8 * PG);

	assert_non_null(q);
	assert_int_equal(queue_page(f, q, 0, 1), 0);
	assert_int_equal(writeq_pending_bytes(q), PG);
	usleep(20000);
	/* Not handed over: the writer thread cannot have written it. */
	assert_int_equal(writeq_pending_bytes(q), PG);
	assert_int_equal(writeq_flush(q), 0);
	assert_int_equal(writeq_pending_bytes(q), 0);
	for (unsigned i = 1; i < 100; i++) {
		assert_int_equal(queue_page(f, q, i, 1), 0);
		assert_true(writeq_pending_bytes(q) <= 8 * PG + PG);
	}
	assert_int_equal(writeq_stop(q), 0);
	check_pages(f, 100);
}

/* Written buffers come back to the pool; reserve refuses a second call and counts beyond its bounds. */
static void test_pool(void **state)
{
	struct fx *f = *state;
	struct writeq *q = writeq_start(f->k.s.sink, 64 * PG);
	void *b[4];

	assert_non_null(q);
	assert_int_equal(writeq_reserve(q, 1000, 1), -EINVAL);
	assert_int_equal(writeq_reserve(q, 4, 4), 0);
	assert_int_equal(writeq_reserve(q, 4, 4), -EBUSY);
	for (int i = 0; i < 4; i++) {
		b[i] = writeq_buf(q, PG);
		assert_non_null(b[i]);
		for (int j = 0; j < i; j++)
			assert_ptr_not_equal(b[i], b[j]);
		/* Reserved: one mapping of consecutive pages. */
		assert_true((uintptr_t)b[i] % PG == 0);
	}
	for (int i = 0; i < 4; i++)
		writeq_buf_free(q, b[i], PG);
	void *again = writeq_buf(q, 100);
	int found = 0;
	for (int i = 0; i < 4; i++)
		found |= again == b[i];
	assert_true(found);
	writeq_buf_free(q, again, 100);
	/* Through the writer thread and back: the next buffer is one that
	 * was written (which one depends on how the writer thread batched
	 * the jobs), not a fresh allocation. */
	void *used[40];
	for (unsigned i = 0; i < 40; i++)
		assert_int_equal(queue_page_buf(f, q, i, i % 2, &used[i]), 0);
	assert_int_equal(writeq_flush(q), 0);
	again = writeq_buf(q, PG);
	found = 0;
	for (int i = 0; i < 40; i++)
		found |= again == used[i];
	assert_true(found);
	writeq_buf_free(q, again, PG);
	/* Larger classes are pooled too (not reserved). */
	void *big = writeq_buf(q, 3 * PG);
	assert_non_null(big);
	memset(big, 1, 3 * PG);
	writeq_buf_free(q, big, 3 * PG);
	assert_ptr_equal(writeq_buf(q, 4 * PG), big);
	writeq_buf_free(q, big, 4 * PG);
	assert_int_equal(writeq_stop(q), 0);
	check_pages(f, 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
