/*
 * waker.c - a helper thread that interrupts a blocked thread at its
 * deadline (see waker.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "waker.h"

/* How long the helper sleeps at most between looks: the lateness of a
 * wakeup whose deadline was published while it slept, and of a stop. */
#define WAKER_NAP_NS   10000000ull
/* The retry period while the thread has not left its call yet (the signal
 * came just before it blocked). */
#define WAKER_RETRY_NS 1000000ull

struct waker {
	pthread_t th;
	pid_t     pid, tid;
	int       sig;
	volatile sig_atomic_t *stop;
	_Atomic uint64_t deadline;      /* 0: not blocked */
	_Atomic int quit;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_wake(int sig)
{
	(void)sig;      /* its only purpose: EINTR */
}

static void *helper(void *arg)
{
	struct waker *w = arg;

	while (!atomic_load(&w->quit)) {
		uint64_t at = atomic_load(&w->deadline), now = mono_ns(), nap = WAKER_NAP_NS;

		if (at && (now >= at || (w->stop && *w->stop))) {
			syscall(SYS_tgkill, w->pid, w->tid, w->sig);
			nap = WAKER_RETRY_NS;
		} else if (at && at - now < nap) {
			nap = at - now;
		}
		struct timespec ts = { (time_t)(nap / 1000000000ull), (long)(nap % 1000000000ull) };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

struct waker *waker_start(int sig, volatile sig_atomic_t *stop)
{
	struct waker *w = calloc(1, sizeof(*w));
	struct sigaction sa;
	sigset_t all, old;
	int err;

	if (!w)
		return NULL;
	w->pid = getpid();
	w->tid = (pid_t)syscall(SYS_gettid);
	w->sig = sig;
	w->stop = stop;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL) < 0) {
		err = errno;
		free(w);
		errno = err;
		return NULL;
	}
	/* The helper takes no signal meant for the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&w->th, NULL, helper, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		free(w);
		errno = err;
		return NULL;
	}
	return w;
}

void waker_block(struct waker *w, uint64_t deadline_ns)
{
	atomic_store(&w->deadline, deadline_ns ? deadline_ns : 1);
}

void waker_unblock(struct waker *w)
{
	atomic_store(&w->deadline, 0);
}

void waker_stop(struct waker *w)
{
	if (!w)
		return;
	atomic_store(&w->quit, 1);
	pthread_join(w->th, NULL);
	signal(w->sig, SIG_DFL);
	free(w);
}
