/*
 * waker.h - wakes one thread out of a blocking system call at a deadline.
 *
 * The ptrace engine waits for its tracees in a blocking waitpid(): one
 * system call per stop, where waitpid(WNOHANG) plus sigtimedwait() took
 * two more on the path of every W^X transition.  A blocking waitpid has
 * no timeout, so a helper thread interrupts it with a signal (handled,
 * without SA_RESTART: the call fails with EINTR) once the deadline the
 * waiting thread published has passed, or a stop was requested.  The
 * signal is sent only while the thread says it is blocked, so no other
 * call of that thread is interrupted (but for a window of a few
 * instructions on either side, in which it makes no interruptible call).
 */
#ifndef EMT_CAPTURE_WAKER_H
#define EMT_CAPTURE_WAKER_H

#include <signal.h>
#include <stdint.h>

struct waker;

/* Starts the helper thread for the calling thread, which is the one it
 * will wake, with signal `sig` (its handler is installed; the caller must
 * not block it).  `stop` (may be NULL) is a flag set asynchronously, e.g.
 * by a SIGINT handler: a blocked thread is woken as soon as it is set.
 * Returns the waker, or NULL with errno set. */
struct waker *waker_start(int sig, volatile sig_atomic_t *stop);

/* The calling thread is about to block until CLOCK_MONOTONIC `deadline_ns`
 * at the latest (not 0).  No system call; the wakeup comes within about
 * a millisecond of the deadline, and is repeated until waker_unblock(). */
void waker_block(struct waker *w, uint64_t deadline_ns);

/* The blocking call returned (with a result, or EINTR). */
void waker_unblock(struct waker *w);

/* Stops and joins the helper thread and frees w (NULL is fine). */
void waker_stop(struct waker *w);

#endif /* EMT_CAPTURE_WAKER_H */
