/*
 * bench_ptrace_wx - target for bench_ptrace.sh: one RWX page rewritten and
 * run --rounds times.  Under ptrace mode every round costs one X->W
 * transition (the write faults) and one W->X transition (the call faults,
 * the page is captured); untraced, neither.  The program times both steps
 * itself, so the difference to an untraced run is the transition cost.
 *
 * Prints: "wx rounds=N write_ns=W exec_ns=X" (per round, median).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 2000;
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t *wt = calloc(rounds, sizeof(*wt)), *xt = calloc(rounds, sizeof(*xt));

	if (p == MAP_FAILED || !wt || !xt || rounds == 0) {
		fprintf(stderr, "bench_ptrace_wx: setup failed\n");
		return 1;
	}
	for (unsigned i = 0; i < rounds; i++) {
		/* mov eax, imm32 ; ret */
		uint8_t code[6] = { 0xb8, 0, 0, 0, 0, 0xc3 };
		memcpy(code + 1, &i, 4);
		uint64_t t0 = now_ns();
		memcpy(p, code, sizeof(code));
		uint64_t t1 = now_ns();
		unsigned r = ((unsigned (*)(void))(uintptr_t)p)();
		uint64_t t2 = now_ns();
		if (r != i) {
			fprintf(stderr, "bench_ptrace_wx: round %u returned %u\n", i, r);
			return 1;
		}
		wt[i] = t1 - t0;
		xt[i] = t2 - t1;
	}
	qsort(wt, rounds, sizeof(*wt), cmp_u64);
	qsort(xt, rounds, sizeof(*xt), cmp_u64);
	printf("wx rounds=%u write_ns=%llu exec_ns=%llu\n", rounds,
	       (unsigned long long)wt[rounds / 2], (unsigned long long)xt[rounds / 2]);
	return 0;
}
