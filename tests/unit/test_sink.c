/*
 * test_sink.c - the archive sink and region tracker (capture/sink.h):
 * which calls make a new region and which a new version of an existing
 * one, RWX bookkeeping under partial mprotect/munmap, exec and exit; the
 * archive is read back to check what was really written.
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
#include "tests/lib/tl_sink.h"

#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)
#define RX  (PROT_READ | PROT_EXEC)
#define PG  4096ull
#define BASE 0x700000000000ull

static int setup(void **state)
{
	struct tl_sink *f = calloc(1, sizeof(*f));
	if (!f || tl_sink_open(f, "sink") < 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	tl_sink_cleanup(*state);
	free(*state);
	return 0;
}

struct rwx_list {
	struct sink_rwx v[16];
	size_t n;
};

static int collect(void *ctx, const struct sink_rwx *r)
{
	struct rwx_list *l = ctx;
	if (l->n < 16)
		l->v[l->n++] = *r;
	return 0;
}

static int has_rwx(const struct rwx_list *l, uint64_t a, uint64_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].addr == a && l->v[i].len == len)
			return 1;
	return 0;
}

static void test_versions_of_one_region(void **state)
{
	struct tl_sink *f = *state;
	struct emt_sink *k = f->s.sink;
	uint8_t buf[2 * PG];
	uint64_t seq;

	/* mmap RW of 64 KiB, then mprotect RX of sub-ranges: the same region. */
	int64_t id = sink_region_update(k, f->pid, BASE, 16 * PG, PROT_READ | PROT_WRITE,
					NULL, 10);
	assert_true(id > 0);
	assert_int_equal(sink_region_update(k, f->pid, BASE, 16 * PG, RX, NULL, 11), id);
	assert_int_equal(sink_region_update(k, f->pid, BASE + 4 * PG, 2 * PG, RX, NULL, 12), id);
	for (int v = 0; v < 3; v++) {
		memset(buf, v + 1, sizeof(buf));
		assert_int_equal(sink_capture(k, id, f->pid, f->pid, BASE + 4 * PG, sizeof(buf),
					      buf, NULL, 0, EMT_TRIGGER_MPROTECT,
					      PROT_READ | PROT_WRITE, RX, 20 + v, NULL, &seq), 0);
		assert_int_equal(seq, (uint64_t)v + 1);
	}
	/* A range only partly inside the region is a new region. */
	int64_t id2 = sink_region_update(k, f->pid, BASE + 15 * PG, 2 * PG, RX, NULL, 30);
	assert_true(id2 > 0 && id2 != id);

	struct emt_reader *r = tl_sink_reopen(f);
	struct emt_region rg;
	assert_int_equal(emt_reader_region(r, id, &rg), 0);
	assert_int_equal(rg.nversions, 3);
	assert_true(rg.start == BASE && rg.length == 16 * PG);
	assert_int_equal(rg.gone_ns, 0);
	struct emt_capture c;
	assert_int_equal(emt_reader_capture(r, 3, &c), 0);
	assert_int_equal(c.version, 3);
	assert_int_equal(c.region_id, id);
	assert_true(c.addr == BASE + 4 * PG && c.size == 2 * PG);
	uint8_t out[2 * PG];
	assert_int_equal(emt_reader_read_capture(r, 3, out, sizeof(out), 0), 0);
	memset(buf, 3, sizeof(buf));
	assert_memory_equal(out, buf, sizeof(buf));
	emt_reader_close(r);
}

static void test_rwx_tracking(void **state)
{
	struct tl_sink *f = *state;
	struct emt_sink *k = f->s.sink;
	struct rwx_list l = { .n = 0 };

	int64_t id = sink_region_update(k, f->pid, BASE, 8 * PG, RWX, NULL, 10);
	assert_true(id > 0);
	assert_int_equal(sink_for_each_rwx(k, f->pid, collect, &l), 0);
	assert_int_equal(l.n, 1);
	assert_true(has_rwx(&l, BASE, 8 * PG));

	/* Making the middle RX splits the RWX range in two. */
	assert_int_equal(sink_region_update(k, f->pid, BASE + 2 * PG, 2 * PG, RX, NULL, 11), id);
	l.n = 0;
	sink_for_each_rwx(k, f->pid, collect, &l);
	assert_int_equal(l.n, 2);
	assert_true(has_rwx(&l, BASE, 2 * PG));
	assert_true(has_rwx(&l, BASE + 4 * PG, 4 * PG));
	assert_int_equal(l.v[0].region_id, id);

	/* Unmapping the tail shortens the second one; the region lives on
	 * because it was only partly unmapped. */
	assert_int_equal(sink_region_unmap(k, f->pid, BASE + 6 * PG, 2 * PG, 12), 0);
	l.n = 0;
	sink_for_each_rwx(k, f->pid, collect, &l);
	assert_int_equal(l.n, 2);
	assert_true(has_rwx(&l, BASE + 4 * PG, 2 * PG));
	assert_int_equal(sink_region_update(k, f->pid, BASE, PG, RWX, NULL, 13), id);

	/* Unmapping everything closes the region. */
	assert_int_equal(sink_region_unmap(k, f->pid, BASE, 8 * PG, 14), 0);
	l.n = 0;
	sink_for_each_rwx(k, f->pid, collect, &l);
	assert_int_equal(l.n, 0);
	int64_t id3 = sink_region_update(k, f->pid, BASE, 8 * PG, RWX, NULL, 15);
	assert_true(id3 > 0 && id3 != id);

	struct emt_reader *r = tl_sink_reopen(f);
	struct emt_region rg;
	assert_int_equal(emt_reader_region(r, id, &rg), 0);
	assert_int_equal(rg.gone_ns, 14);
	assert_int_equal(rg.prot, RWX);
	assert_int_equal(emt_reader_region(r, id3, &rg), 0);
	assert_int_equal(rg.gone_ns, 0);
	emt_reader_close(r);
}

/* fx_churn's rounds: an unmap of part of a region leaves it alive where
 * it is still mapped, and only there; it is gone with its last page. */
static void test_partial_unmaps(void **state)
{
	struct tl_sink *f = *state;
	struct emt_sink *k = f->s.sink;

	int64_t a = sink_region_update(k, f->pid, BASE, 8 * PG, RX, NULL, 10);
	assert_true(a > 0);
	/* The upper half goes: the lower half is still the region; a new
	 * mapping where the upper half was is not. */
	assert_int_equal(sink_region_unmap(k, f->pid, BASE + 4 * PG, 4 * PG, 11), 0);
	assert_int_equal(sink_region_update(k, f->pid, BASE, 4 * PG, RX, NULL, 12), a);
	int64_t b = sink_region_update(k, f->pid, BASE + 4 * PG, 4 * PG, RX, NULL, 13);
	assert_true(b > 0 && b != a);
	/* A mapping punched into the middle of b: b lives on both sides. */
	assert_int_equal(sink_region_unmap(k, f->pid, BASE + 5 * PG, 2 * PG, 14), 0);
	int64_t c = sink_region_update(k, f->pid, BASE + 5 * PG, 2 * PG, RX, NULL, 15);
	assert_true(c > 0 && c != b && c != a);
	assert_int_equal(sink_region_update(k, f->pid, BASE + 4 * PG, PG, RX, NULL, 16), b);
	assert_int_equal(sink_region_update(k, f->pid, BASE + 7 * PG, PG, RX, NULL, 17), b);
	/* A range across the hole's edge is none of them. */
	int64_t d = sink_region_update(k, f->pid, BASE + 4 * PG, 2 * PG, RX, NULL, 18);
	assert_true(d > 0 && d != b && d != c);
	/* The rest of a, then b's two sides one by one. */
	assert_int_equal(sink_region_unmap(k, f->pid, BASE, 4 * PG, 20), 0);
	assert_int_equal(sink_region_unmap(k, f->pid, BASE + 7 * PG, PG, 21), 0);
	assert_int_equal(sink_region_unmap(k, f->pid, BASE + 4 * PG, PG, 22), 0);

	struct emt_reader *r = tl_sink_reopen(f);
	struct emt_region rg;
	assert_int_equal(emt_reader_region(r, a, &rg), 0);
	assert_int_equal(rg.gone_ns, 20);
	assert_true(rg.start == BASE && rg.length == 8 * PG);
	assert_int_equal(emt_reader_region(r, b, &rg), 0);
	assert_int_equal(rg.gone_ns, 22);
	assert_int_equal(emt_reader_region(r, c, &rg), 0);
	assert_int_equal(rg.gone_ns, 0);
	emt_reader_close(r);
}

static int stop_at_second(void *ctx, const struct sink_rwx *r)
{
	int *n = ctx;
	(void)r;
	return ++*n == 2 ? 42 : 0;
}

static void test_rwx_walk_stops(void **state)
{
	struct tl_sink *f = *state;
	struct emt_sink *k = f->s.sink;
	int n = 0;

	for (int i = 0; i < 4; i++)
		assert_true(sink_region_update(k, f->pid, BASE + (uint64_t)i * 16 * PG, PG, RWX,
					       NULL, 10) > 0);
	assert_int_equal(sink_for_each_rwx(k, f->pid, stop_at_second, &n), 42);
	assert_int_equal(n, 2);
	/* Unknown pid: nothing to walk. */
	assert_int_equal(sink_for_each_rwx(k, 0x3ffffff0, stop_at_second, &n), 0);
}

static void test_exec_and_exit(void **state)
{
	struct tl_sink *f = *state;
	struct emt_sink *k = f->s.sink;
	struct rwx_list l = { .n = 0 };
	const char *path = "/memfd:jit (deleted)";
	struct sink_backing b = { EMT_BACKING_MEMFD, path, 4242, 7, 0 };

	int64_t id = sink_region_update(k, f->pid, BASE, 4 * PG, RWX, &b, 10);
	assert_true(id > 0);
	/* execve replaces the image: regions close, RWX forgotten, and the
	 * same range afterwards is a new region of a new process row. */
	assert_int_equal(sink_process_exec(k, f->pid, 20), 0);
	sink_for_each_rwx(k, f->pid, collect, &l);
	assert_int_equal(l.n, 0);
	int64_t id2 = sink_region_update(k, f->pid, BASE, 4 * PG, RX, NULL, 30);
	assert_true(id2 > 0 && id2 != id);
	assert_int_equal(sink_process_exit(k, f->pid, 40, 3 << 8), 0);
	/* A second exit report is ignored. */
	assert_int_equal(sink_process_exit(k, f->pid, 50, 0), 0);
	assert_int_equal(sink_loss(k, "ringbuf", 5, f->pid, 45), 0);
	assert_int_equal(sink_loss(k, "ringbuf", 0, f->pid, 46), 0);

	struct emt_reader *r = tl_sink_reopen(f);
	struct emt_region rg;
	assert_int_equal(emt_reader_region(r, id, &rg), 0);
	assert_int_equal(rg.gone_ns, 20);
	assert_int_equal(rg.backing, EMT_BACKING_MEMFD);
	assert_string_equal(rg.path, path);
	assert_true(rg.inode == 4242 && rg.dev == 7);
	assert_int_equal(emt_reader_region(r, id2, &rg), 0);
	assert_int_equal(rg.gone_ns, 40);

	struct emt_row_iter *it = emt_reader_processes(r);
	struct emt_process p;
	int rows = 0, exited = 0;
	assert_non_null(it);
	while (emt_process_iter_next(it, &p) == 1) {
		rows++;
		assert_int_equal(p.pid, (uint32_t)f->pid);
		if (p.has_exit) {
			exited++;
			assert_int_equal(p.exit_status, 3 << 8);
			assert_int_equal(p.exit_ns, 40);
		}
	}
	emt_row_iter_free(it);
	assert_int_equal(rows, 2);    /* the image before and after exec */
	assert_int_equal(exited, 1);

	struct emt_summary sum;
	assert_int_equal(emt_reader_summary(r, &sum), 0);
	assert_int_equal(sum.losses, 5);
	emt_reader_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_versions_of_one_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rwx_tracking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rwx_walk_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_partial_unmaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_and_exit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
