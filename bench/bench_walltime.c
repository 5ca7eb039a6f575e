/*
 * bench_walltime - runs a command and prints how long it lived, from just
 * before its fork to the reaping of its exit: under a tracer (run as
 * `emt-capture -- bench_walltime CMD`) that is the traced program's own
 * time, without the tracer's start and end (opening and sealing an
 * archive).  The command's output goes to /dev/null.
 *
 * usage: bench_walltime CMD [ARG]...
 * Prints: "walltime ns=N status=S" (S: the wait status).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int st;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(argc < 2 ? stderr : stdout, "usage: bench_walltime CMD [ARG]...\n");
		return argc < 2 ? 2 : 0;
	}
	uint64_t t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench_walltime: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		if (fd >= 0)
			dup2(fd, 1);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "bench_walltime: cannot run '%s': %s\n", argv[1],
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "bench_walltime: waitpid: %s\n", strerror(errno));
			return 1;
		}
	printf("walltime ns=%llu status=%d\n", (unsigned long long)(now_ns() - t0), st);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
