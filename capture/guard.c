/*
 * guard.c - the guard process of a launched command (guard.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"

/* The guard's pipe ends (all close-on-exec: the command never sees
 * them). */
static int g_ctl = -1, g_rep = -1, g_go = -1, g_ex = -1;

#define KILL_ROUNDS 500         /* x 10 ms: the tree must be gone by then */

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static pid_t stat_ppid(pid_t pid)
{
	char path[64], buf[512];
	int fd;
	ssize_t n;
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || strlen(p) < 5)
		return -1;
	return (pid_t)strtol(p + 4, NULL, 10);   /* ") S PPID" */
}

/* SIGKILLs every descendant of the guard.  Being a subreaper, the guard
 * is an ancestor of every process of the tree, orphans included: walk
 * /proc and kill whatever has a killed process or the guard as parent,
 * until a pass finds nothing new. */
static int kill_descendants(pid_t self)
{
	pid_t *set = NULL;
	size_t n = 0, cap = 0;
	int found, total = 0;

	do {
		DIR *d = opendir("/proc");
		struct dirent *de;

		found = 0;
		if (!d)
			break;
		while ((de = readdir(d))) {
			char *end;
			long v = strtol(de->d_name, &end, 10);

			if (*end || v <= 0 || (pid_t)v == self)
				continue;
			pid_t pid = (pid_t)v, pp = stat_ppid(pid);
			int known = 0, parent_in = pp == self;

			for (size_t i = 0; i < n; i++) {
				known |= set[i] == pid;
				parent_in |= set[i] == pp;
			}
			if (known || !parent_in)
				continue;
			if (n == cap) {
				size_t nc = cap ? 2 * cap : 64;
				pid_t *ns = realloc(set, nc * sizeof(*ns));

				if (!ns)
					break;
				set = ns;
				cap = nc;
			}
			set[n++] = pid;
			kill(pid, SIGKILL);
			kill(pid, SIGCONT);     /* a stopped process dies at once */
			found = 1;
			total++;
		}
		closedir(d);
	} while (found);
	free(set);
	return total;
}

static void guard_kill_all(pid_t self, pid_t child, int *reported)
{
	for (int round = 0; round < KILL_ROUNDS; round++) {
		int st;
		pid_t p;

		kill_descendants(self);
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p == child && !*reported) {
				write_all(g_rep, &st, sizeof(st));
				*reported = 1;
			}
		}
		if (p < 0 && errno == ECHILD)
			return;
		nap_ms(10);
	}
}

/* emt-capture's own descriptors (the archive, BPF objects whose links
 * would keep programs attached after emt-capture died, the rings) are all
 * close-on-exec: close them here, where no exec comes.  Descriptors
 * inherited from emt-capture's caller are left for the command, as any
 * exec would. */
static int g_keep = -1;         /* guard_watch: a descriptor fn needs */

static void close_own_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int dfd = d ? dirfd(d) : -1;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || fd <= 2 || fd == dfd || fd == g_ctl || fd == g_rep ||
		    fd == g_go || fd == g_ex || fd == g_keep)
			continue;
		int fl = fcntl((int)fd, F_GETFD);

		if (fl >= 0 && (fl & FD_CLOEXEC))
			close((int)fd);
	}
	closedir(d);
}

static void guard_main(char *const argv[])
{
	pid_t self = getpid(), child;
	sigset_t chld, mask0;
	struct sigaction quit0, pipe0;
	int sfd, reported = 0;

	/* What the command must get back: emt-capture's signal mask and the
	 * dispositions it did not change itself (SIGINT, SIGTERM and SIGHUP
	 * have its handlers, which exec resets to the default anyway). */
	sigprocmask(SIG_SETMASK, NULL, &mask0);
	sigaction(SIGQUIT, NULL, &quit0);
	sigaction(SIGPIPE, NULL, &pipe0);
	prctl(PR_SET_NAME, "emt-guard");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* A ^C or hangup reaches emt-capture, which decides; the guard
	 * only acts on its pipe. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

	child = fork();
	if (child < 0)
		_exit(127);
	if (child == 0) {
		char c;
		int e;

		/* The command gets the dispositions and mask it would have
		 * had as emt-capture's own child. */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigaction(SIGQUIT, &quit0, NULL);
		sigaction(SIGPIPE, &pipe0, NULL);
		sigprocmask(SIG_SETMASK, &mask0, NULL);
		close(g_ctl);
		close(g_rep);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != self)
			_exit(127);
		if (read(g_go, &c, 1) != 1)
			_exit(127);
		close(g_go);
		execvp(argv[0], argv);
		e = errno;
		write_all(g_ex, &e, sizeof(e));
		_exit(127);
	}
	close(g_go);
	close(g_ex);
	if (write_all(g_rep, &child, sizeof(child)) < 0) {
		guard_kill_all(self, child, &reported);
		_exit(0);
	}
	for (;;) {
		struct pollfd pf[2] = { { g_ctl, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		int st;
		pid_t p;

		if (poll(pf, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 50) < 0 && errno != EINTR)
			break;
		if (sfd >= 0 && (pf[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				;
		}
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p == child && !reported) {
				write_all(g_rep, &st, sizeof(st));
				reported = 1;
			}
		}
		if (pf[0].revents) {
			char cmd = 0;
			ssize_t n = read(g_ctl, &cmd, 1);

			if (n < 0 && errno == EINTR)
				continue;
			if (n == 1 && cmd == 'Q')
				_exit(0);
			/* 'K', or end of file: emt-capture is gone. */
			guard_kill_all(self, child, &reported);
			_exit(0);
		}
	}
	guard_kill_all(self, child, &reported);
	_exit(0);
}

int guard_start(struct guard *g, char *const argv[])
{
	int ctl[2], rep[2], go[2], ex[2], err;
	pid_t pid;

	memset(g, 0, sizeof(*g));
	g->ctl = g->rep = g->go = g->ex = -1;
	if (pipe2(ctl, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(rep, O_CLOEXEC) < 0) {
		err = -errno;
		goto close1;
	}
	if (pipe2(go, O_CLOEXEC) < 0) {
		err = -errno;
		goto close2;
	}
	if (pipe2(ex, O_CLOEXEC) < 0) {
		err = -errno;
		goto close3;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto close4;
	}
	if (pid == 0) {
		g_ctl = ctl[0];
		g_rep = rep[1];
		g_go = go[0];
		g_ex = ex[1];
		close(ctl[1]);
		close(rep[0]);
		close(go[1]);
		close(ex[0]);
		close_own_fds();
		guard_main(argv);
		_exit(0);
	}
	close(ctl[0]);
	close(rep[1]);
	close(go[0]);
	close(ex[1]);
	g->guard_pid = pid;
	g->ctl = ctl[1];
	g->rep = rep[0];
	g->go = go[1];
	g->ex = ex[0];
	ssize_t n;

	do
		n = read(g->rep, &g->child, sizeof(g->child));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(g->child) || g->child <= 0) {
		guard_close(g);
		return -ECHILD;
	}
	return 0;

close4:
	close(ex[0]);
	close(ex[1]);
close3:
	close(go[0]);
	close(go[1]);
close2:
	close(rep[0]);
	close(rep[1]);
close1:
	close(ctl[0]);
	close(ctl[1]);
	return err;
}

int guard_release(struct guard *g)
{
	char c = 'g';
	int child_errno = 0;
	ssize_t n;

	if (write_all(g->go, &c, 1) < 0)
		return -errno ? -errno : -EPIPE;
	close(g->go);
	g->go = -1;
	do
		n = read(g->ex, &child_errno, sizeof(child_errno));
	while (n < 0 && errno == EINTR);
	close(g->ex);
	g->ex = -1;
	if (n == (ssize_t)sizeof(child_errno))
		return -(child_errno ? child_errno : EIO);
	return 0;
}

int guard_child_status(struct guard *g, int timeout_ms, int *status)
{
	struct pollfd pf = { g->rep, POLLIN, 0 };
	ssize_t n;

	if (g->reaped) {
		*status = g->status;
		return 1;
	}
	if (g->rep < 0)
		return -EBADF;
	for (;;) {
		int r = poll(&pf, 1, timeout_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return 0;
		break;
	}
	do
		n = read(g->rep, &g->status, sizeof(g->status));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(g->status))
		return -ECHILD;         /* the guard is gone without telling */
	g->reaped = 1;
	*status = g->status;
	return 1;
}

int guard_kill_tree(struct guard *g)
{
	char k = 'K';
	int st, err = 0;

	if (g->guard_pid <= 0)
		return 0;
	if (g->ctl >= 0 && write_all(g->ctl, &k, 1) < 0)
		err = -errno;
	/* The guard reports the command's status, then exits when the tree
	 * is gone (its pipe end closes). */
	if (!g->reaped && g->rep >= 0 && guard_child_status(g, 10000, &st) < 0 && !err)
		err = -ECHILD;
	if (waitpid(g->guard_pid, &st, 0) == g->guard_pid)
		g->guard_pid = 0;
	return err;
}

void guard_close(struct guard *g)
{
	char q = 'Q';
	int st;

	if (g->guard_pid > 0) {
		if (g->ctl >= 0)
			write_all(g->ctl, &q, 1);
		waitpid(g->guard_pid, &st, 0);
		g->guard_pid = 0;
	}
	if (g->ctl >= 0)
		close(g->ctl);
	if (g->rep >= 0)
		close(g->rep);
	if (g->go >= 0)
		close(g->go);
	if (g->ex >= 0)
		close(g->ex);
	g->ctl = g->rep = g->go = g->ex = -1;
}

int guard_watch(struct guard *g, int keep_fd, void (*fn)(void *ctx), void *ctx)
{
	int ctl[2];
	pid_t pid, parent = getpid();

	memset(g, 0, sizeof(*g));
	g->ctl = g->rep = g->go = g->ex = -1;
	if (pipe2(ctl, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(ctl[0]);
		close(ctl[1]);
		return -e;
	}
	if (pid == 0) {
		char cmd = 0;
		ssize_t n;

		prctl(PR_SET_NAME, "emt-guard");
		signal(SIGINT, SIG_IGN);
		signal(SIGTERM, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		signal(SIGQUIT, SIG_IGN);
		g_ctl = ctl[0];
		g_keep = keep_fd;
		close(ctl[1]);
		close_own_fds();
		do
			n = read(g_ctl, &cmd, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1 && cmd == 'Q')
			_exit(0);
		/* emt-capture is gone.  Its BPF links are released as it
		 * exits, after its pipe closed: wait until it has (we are
		 * re-parented), bounded, then let fn undo what it left. */
		for (int i = 0; i < 200 && getppid() == parent; i++)
			nap_ms(10);
		fn(ctx);
		_exit(0);
	}
	close(ctl[0]);
	g->guard_pid = pid;
	g->ctl = ctl[1];
	return 0;
}
