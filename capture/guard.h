/*
 * guard.h - launches a command so that no process of it can outlive
 * emt-capture, even when emt-capture is killed with SIGKILL.
 *
 * PR_SET_PDEATHSIG only reaches the direct child: a grandchild, or a
 * process that double-forked or called setsid(), would go on running
 * uncaptured.  So the command is started by a small guard process, a
 * sibling of nothing else, which is a child subreaper (PR_SET_CHILD_
 * SUBREAPER): every orphan of the command's tree is re-parented to it, so
 * the whole tree stays its descendants.  When emt-capture asks, or dies
 * (its end of a pipe closes), the guard kills every descendant until none
 * is left, then exits.
 *
 * The command's parent is the guard, not emt-capture: the guard reports
 * the command's exit status.  The command does not run a single
 * instruction of its own before guard_release (its pid can be put in the
 * BPF filter first).  Functions return 0 or -errno; messages are left to
 * the caller.
 */
#ifndef EMT_CAPTURE_GUARD_H
#define EMT_CAPTURE_GUARD_H

#include <sys/types.h>

struct guard {
	pid_t guard_pid;        /* the guard process */
	pid_t child;            /* the command */
	int   ctl;              /* write end: 'K' kill the tree, close = emt-capture died */
	int   rep;              /* read end: the command's wait status */
	int   go;               /* write end: releases the command */
	int   ex;               /* read end: errno of a failed exec */
	int   reaped;           /* the command's status was reported */
	int   status;           /* its wait status, if reaped */
};

/* Starts the guard and, under it, the command argv (looked up in PATH),
 * stopped before exec until guard_release.  Sets g->child.  Returns 0 or
 * -errno; on failure nothing is left running. */
int guard_start(struct guard *g, char *const argv[]);

/* Lets the command exec.  Returns 0 once it has exec'd, or -errno: the
 * exec's own errno (the command could not be executed, and has exited) or
 * that of the release. */
int guard_release(struct guard *g);

/* Collects the command's exit status if the guard reported it: waits up
 * to timeout_ms (0: do not wait, -1: forever).  Returns 1 with *status
 * set once the command was reaped (and every later call), 0 if not yet,
 * or -errno. */
int guard_child_status(struct guard *g, int timeout_ms, int *status);

/* Kills every process of the command's tree (SIGKILL, also resuming
 * stopped ones), waits until the guard has reaped them all (bounded), and
 * collects the command's status.  Returns 0 or -errno. */
int guard_kill_tree(struct guard *g);

/* Attach mode: starts a guard that does nothing unless emt-capture dies
 * without guard_close; then it runs fn(ctx) (in its own process, with
 * keep_fd still open, every other descriptor of emt-capture's closed),
 * for example to resume a target a hold left stopped.  Returns 0 or
 * -errno. */
int guard_watch(struct guard *g, int keep_fd, void (*fn)(void *ctx), void *ctx);

/* Ends the guard without killing anything still running (processes left
 * are re-parented to init, as without emt), and frees g's resources.
 * Safe on a zeroed or already closed guard. */
void guard_close(struct guard *g);

#endif /* EMT_CAPTURE_GUARD_H */
