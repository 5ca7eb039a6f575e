/*
 * bench_mprotect - CPU cost of the mprotect pair a polymorphic target
 * makes per version (RW -> RX, run it, RX -> RW), in this thread's CPU
 * time so that a loaded machine's preemption does not count: run it alone
 * and under `emt-capture`, pinned (taskset) one way or another, to see
 * what capture adds to mprotect and whether CPU placement matters
 * (bench/results/throughput_profile.txt, "the TLB question").
 *
 *   plain    only the pair
 *   kread    the kernel also reads the page between the pair (a pwrite
 *            of it to a memfd: what the BPF copy does under capture)
 *
 * usage: bench_mprotect [plain|kread] [N]   (N versions, default 20000)
 * Prints: "bench_mprotect MODE: N versions, X us CPU per mprotect".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Changes the protection of `p` and returns the CPU ns it took, or -1. */
static double timed_mprotect(void *p, int prot)
{
	double t = cpu_ns();

	if (mprotect(p, 4096, prot) != 0)
		return -1;
	return cpu_ns() - t;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "plain";
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 20000;
	int kread = strcmp(mode, "kread") == 0;
	double total = 0;
	unsigned char *p;
	int fd;

	if (argc > 3 || n <= 0 || (!kread && strcmp(mode, "plain") != 0)) {
		fprintf(stderr, "usage: bench_mprotect [plain|kread] [N]\n");
		return 2;
	}
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = memfd_create("bench_mprotect", 0);
	if (p == MAP_FAILED || fd < 0) {
		perror("bench_mprotect");
		return 1;
	}
	p[0] = 0xc3;    /* ret: each version is called once */
	for (long i = 0; i < n; i++) {
		double a, b;

		p[64 + (i % 64) * 8] = (unsigned char)i;
		a = timed_mprotect(p, PROT_READ | PROT_EXEC);
		if (kread && pwrite(fd, p, 4096, 0) != 4096) {
			perror("bench_mprotect: pwrite");
			return 1;
		}
		((void (*)(void))(void *)p)();
		b = timed_mprotect(p, PROT_READ | PROT_WRITE);
		if (a < 0 || b < 0) {
			perror("bench_mprotect: mprotect");
			return 1;
		}
		total += a + b;
	}
	printf("bench_mprotect %s: %ld versions, %.2f us CPU per mprotect\n", mode, n,
	       total / (2.0 * (double)n) / 1000);
	return 0;
}
