/*
 * bench_ptrace_raw - the raw cost of one ptrace stop round trip on this
 * machine, the yardstick for ptrace mode's transition cost
 * (bench_ptrace.sh): a child sends itself an (ignored) signal N times;
 * traced, each one is a signal-delivery stop that the tracer resumes with
 * the signal suppressed, the cheapest complete stop/resume cycle.  The
 * child times its loop untraced and traced; the difference per signal is
 * the round trip.
 *
 * usage: bench_ptrace_raw [N] [pin]   pin=1 puts tracer and child on one CPU
 * Prints: "raw n=N pin=P untraced_ns=U traced_ns=T roundtrip_ns=R".
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Loop of n self-signals; returns ns per iteration. */
static uint64_t loop(unsigned n)
{
	pid_t me = getpid();
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < n; i++)
		kill(me, SIGUSR1);
	return (now_ns() - t0) / n;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 20000;
	int pin = argc > 2 ? atoi(argv[2]) : 1;
	int fds[2];

	if (n == 0 || pipe(fds) < 0)
		return 1;
	if (pin) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(sched_getcpu(), &set);
		sched_setaffinity(0, sizeof(set), &set);  /* inherited by the child */
	}
	signal(SIGUSR1, SIG_IGN);
	pid_t pid = fork();
	if (pid == 0) {
		uint64_t r[2];
		r[0] = loop(n);                 /* untraced */
		raise(SIGSTOP);                 /* parent seizes */
		r[1] = loop(n);                 /* traced: ignored signals still stop */
		if (write(fds[1], r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, WSTOPPED) != pid || ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_EXITKILL) < 0) {
		perror("bench_ptrace_raw: seize");
		return 1;
	}
	kill(pid, SIGCONT);
	for (;;) {
		if (waitpid(pid, &st, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			perror("bench_ptrace_raw: waitpid");
			return 1;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		ptrace(PTRACE_CONT, pid, 0, 0);   /* suppress whatever it was */
	}
	uint64_t r[2];
	if (read(fds[0], r, sizeof(r)) != sizeof(r))
		return 1;
	printf("raw n=%u pin=%d untraced_ns=%llu traced_ns=%llu roundtrip_ns=%llu\n", n, pin,
	       (unsigned long long)r[0], (unsigned long long)r[1],
	       (unsigned long long)(r[1] > r[0] ? r[1] - r[0] : 0));
	return 0;
}
