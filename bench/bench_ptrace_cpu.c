/*
 * bench_ptrace_cpu - target for bench_ptrace.sh: T threads computing
 * without system calls or generated code, to see what the tracer's CPU
 * placement costs a multi-threaded target (pinning the target to the
 * tracer's CPU makes its threads share one CPU).  Each thread also
 * reports the CPUs it may run on at the end (the affinity it was left).
 *
 * usage: bench_ptrace_cpu [THREADS] [MILLION_ITERATIONS]
 * Prints: "cpu threads=T wall_ns=W cpu_ns=C allowed=N" (C: user+system
 * CPU time of the process, so C/W is the parallelism it got, whatever
 * else loads the machine; N: CPUs in the main thread's affinity mask at
 * the end).
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t iters;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *work(void *arg)
{
	volatile uint64_t x = (uintptr_t)arg;
	for (uint64_t i = 0; i < iters; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 2;
	iters = (argc > 2 ? strtoull(argv[2], NULL, 0) : 200) * 1000000ull;
	pthread_t th[64];
	cpu_set_t set;

	if (n == 0 || n > 64)
		return 2;
	uint64_t t0 = now_ns();
	for (unsigned i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, work, (void *)(uintptr_t)i))
			return 1;
	for (unsigned i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	uint64_t wall = now_ns() - t0;
	struct rusage ru;
	uint64_t cpu = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
		      (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
	int allowed = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : -1;
	printf("cpu threads=%u wall_ns=%llu cpu_ns=%llu allowed=%d\n", n,
	       (unsigned long long)wall, (unsigned long long)cpu, allowed);
	return 0;
}
