/*
 * test_waker.c - the waker (capture/waker.h): a thread blocked in a
 * system call is interrupted once its deadline has passed or the stop
 * flag is set, and never while it has not said it is blocked.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "waker.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct later {
	int fd;
	unsigned ms;
	volatile sig_atomic_t *flag;
};

/* After `ms`, writes a byte to fd, or sets *flag. */
static void *later_main(void *arg)
{
	struct later *l = arg;
	struct timespec ts = { l->ms / 1000, (long)(l->ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
	if (l->flag)
		*l->flag = 1;
	else if (write(l->fd, "x", 1) != 1)
		abort();
	return NULL;
}

static void test_deadline(void **state)
{
	int p[2];
	char c;
	(void)state;
	assert_int_equal(pipe(p), 0);
	struct waker *w = waker_start(SIGRTMIN, NULL);
	assert_non_null(w);
	uint64_t t0 = mono_ns();
	waker_block(w, t0 + 50000000ull);
	ssize_t r = read(p[0], &c, 1);
	int e = errno;
	waker_unblock(w);
	uint64_t took = mono_ns() - t0;
	assert_int_equal(r, -1);
	assert_int_equal(e, EINTR);
	/* Not before its deadline; the upper bound only tells a wakeup
	 * from none at all. */
	assert_true(took >= 50000000ull);
	assert_true(took < 5000000000ull);
	waker_stop(w);
	close(p[0]);
	close(p[1]);
}

static void test_stop_flag(void **state)
{
	static volatile sig_atomic_t stop;
	int p[2];
	char c;
	pthread_t th;
	(void)state;
	assert_int_equal(pipe(p), 0);
	struct waker *w = waker_start(SIGRTMIN, &stop);
	assert_non_null(w);
	struct later l = { .fd = p[1], .ms = 30, .flag = &stop };
	assert_int_equal(pthread_create(&th, NULL, later_main, &l), 0);
	waker_block(w, mono_ns() + 60ull * 1000000000ull);
	ssize_t r = read(p[0], &c, 1);
	int e = errno;
	waker_unblock(w);
	assert_int_equal(r, -1);
	assert_int_equal(e, EINTR);
	pthread_join(th, NULL);
	waker_stop(w);
	close(p[0]);
	close(p[1]);
}

/* Unblocked, the thread's calls are left alone however long they take. */
static void test_not_blocked(void **state)
{
	int p[2];
	char c;
	pthread_t th;
	(void)state;
	assert_int_equal(pipe(p), 0);
	struct waker *w = waker_start(SIGRTMIN, NULL);
	assert_non_null(w);
	waker_block(w, mono_ns() - 1);  /* a deadline long past ... */
	waker_unblock(w);               /* ... but no longer blocked */
	struct later l = { .fd = p[1], .ms = 100, .flag = NULL };
	assert_int_equal(pthread_create(&th, NULL, later_main, &l), 0);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	pthread_join(th, NULL);
	waker_stop(w);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_stop_flag),
		cmocka_unit_test(test_not_blocked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
