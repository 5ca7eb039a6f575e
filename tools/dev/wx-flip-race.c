/*
 * wx-flip-race - shows why ptrace mode flips W^X protections through
 * read-only when other threads of the image may run (flip() in
 * capture/ptrace_engine.c).
 *
 * One thread runs a 13-byte function that patches its own next
 * instruction (mov byte [rip+1], IMM; mov eax, 0; ret) in a page that a
 * second thread keeps flipping between read+write and read+exec with
 * mprotect, the main thread's SIGSEGV handler returning to retry.  If
 * every flip were atomic the function could never complete: its store
 * needs a writable page and its fetch an executable one.  It completes
 * thousands of times a second on a 2-CPU VM: mprotect changes the page
 * table entry first and flushes the other CPU's TLB after, and in between
 * one instruction is fetched through the stale executable translation and
 * stores through the new writable one.  Flipped through PROT_READ (each
 * call returns after the flush, and no entry ever allows both), it never
 * completes.
 *
 * usage: wx-flip-race [--via-read] [SECONDS]
 * Prints: "wx-flip-race: direct flips: N self-patching calls completed in
 * S s".  Exit 0; 1 if a call returned a wrong value.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static unsigned char *page;
static int via_read;
static volatile sig_atomic_t done_calls;
static volatile int stop;
static unsigned seconds = 5;

/* The faulting instruction is retried on return. */
static void on_segv(int sig)
{
	(void)sig;
}

static void on_alarm(int sig)
{
	char b[128];
	int n = snprintf(b, sizeof(b),
			 "wx-flip-race: %s flips: %ld self-patching calls completed in %u s\n",
			 via_read ? "via-read" : "direct", (long)done_calls, seconds);

	(void)sig;
	if (n > 0)
		(void)!write(1, b, (size_t)n);
	_exit(0);
}

static void flip(int prot)
{
	if (via_read)
		mprotect(page, 4096, PROT_READ);
	mprotect(page, 4096, prot);
}

static void *flipper(void *arg)
{
	(void)arg;
	while (!stop) {
		flip(PROT_READ | PROT_WRITE);
		for (volatile int i = 0; i < 100; i++)
			;
		flip(PROT_READ | PROT_EXEC);
		for (volatile int i = 0; i < 100; i++)
			;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const unsigned char stub[13] = {
		0xc6, 0x05, 0x01, 0, 0, 0, 0,   /* mov byte [rip+1], IMM */
		0xb8, 0, 0, 0, 0,               /* mov eax, 0 */
		0xc3,                           /* ret */
	};
	struct sigaction sa;
	pthread_t th;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--via-read") == 0) {
			via_read = 1;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("usage: wx-flip-race [--via-read] [SECONDS]\n");
			return 0;
		} else {
			char *end;
			unsigned long v = strtoul(argv[i], &end, 10);
			if (*end || v == 0 || v > 3600) {
				fprintf(stderr, "wx-flip-race: bad argument '%s'\n", argv[i]);
				return 2;
			}
			seconds = (unsigned)v;
		}
	}
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		perror("wx-flip-race: mmap");
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sa.sa_flags = SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	signal(SIGALRM, on_alarm);
	alarm(seconds);
	if (pthread_create(&th, NULL, flipper, NULL) != 0) {
		fprintf(stderr, "wx-flip-race: pthread_create failed\n");
		return 1;
	}
	for (unsigned long i = 0;; i++) {
		unsigned char imm = (unsigned char)(1 + i % 250);
		/* Faults while the page is read+exec: retried until it is not. */
		memcpy(page, stub, sizeof(stub));
		page[6] = imm;
		int r = ((int (*)(void))(void *)page)();
		if (r != imm) {
			fprintf(stderr, "wx-flip-race: call returned %d, not %d\n", r, imm);
			return 1;
		}
		done_calls++;
	}
}
