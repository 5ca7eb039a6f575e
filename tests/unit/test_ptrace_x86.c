/*
 * test_ptrace_x86.c - the x86-64 layer of ptrace mode (capture/x86_64.h)
 * against the real kernel: the register snapshot layout, the syscall
 * argument registers, the seccomp filters (which syscalls stop a traced
 * child, which do not) and remote syscalls in a stopped child, including
 * one stopped inside a blocking syscall that must restart transparently;
 * the trampoline and single steps.  The injection filters of
 * capture/inject_ptrace.h are built on the same seccomp layer and checked
 * here the same way.
 */
#include <asm/hwcap2.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/seccomp.h>

#include "inject_ptrace.h"
#include "x86_64.h"

static void test_regs_snapshot(void **state)
{
	struct user_regs_struct u;
	struct emt_regs_x86_64 r;
	(void)state;

	/* Distinct values per field: a swapped pair shows up. */
	uint64_t *w = (uint64_t *)&u;
	for (size_t i = 0; i < sizeof(u) / 8; i++)
		w[i] = 0x1000 + i;
	x86_64_regs_snapshot(&u, 0xdead000, &r);
	assert_int_equal(r.r15, u.r15);
	assert_int_equal(r.rbx, u.rbx);
	assert_int_equal(r.r10, u.r10);
	assert_int_equal(r.rax, u.rax);
	assert_int_equal(r.rdi, u.rdi);
	assert_int_equal(r.orig_rax, u.orig_rax);
	assert_int_equal(r.rip, u.rip);
	assert_int_equal(r.eflags, u.eflags);
	assert_int_equal(r.rsp, u.rsp);
	assert_int_equal(r.fs_base, u.fs_base);
	assert_int_equal(r.gs_base, u.gs_base);
	assert_int_equal(r.gs, u.gs);
	assert_int_equal(r.fault_addr, 0xdead000);
	/* The archive stores the struct as a u64 array in this order. */
	const uint64_t *a = (const uint64_t *)&r;
	for (size_t i = 0; i < sizeof(u) / 8; i++)
		assert_int_equal(a[i], 0x1000 + i);
	assert_int_equal(x86_64_pc(&u), u.rip);
}

static void test_syscall_args(void **state)
{
	struct user_regs_struct u;
	(void)state;

	memset(&u, 0, sizeof(u));
	for (unsigned i = 0; i < 6; i++)
		x86_64_set_syscall_arg(&u, i, 100 + i);
	assert_int_equal(u.rdi, 100);
	assert_int_equal(u.rsi, 101);
	assert_int_equal(u.rdx, 102);
	assert_int_equal(u.r10, 103);
	assert_int_equal(u.r8, 104);
	assert_int_equal(u.r9, 105);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(x86_64_syscall_arg(&u, i), 100 + i);
	assert_int_equal(x86_64_syscall_arg(&u, 6), 0);
}

static void test_fetch_fault(void **state)
{
	struct user_regs_struct u;
	(void)state;

	memset(&u, 0, sizeof(u));
	u.rip = 0x10000;
	assert_true(x86_64_maybe_fetch_fault(&u, 0x10000));
	assert_true(x86_64_maybe_fetch_fault(&u, 0x1000e));  /* straddling */
	assert_false(x86_64_maybe_fetch_fault(&u, 0x1000f));
	assert_false(x86_64_maybe_fetch_fault(&u, 0xffff));
	assert_false(x86_64_maybe_fetch_fault(&u, 0x20000));
}

static int wait_stop(pid_t pid)
{
	int st;
	for (;;) {
		pid_t w = waitpid(pid, &st, __WALL);
		if (w == pid)
			return st;
		if (w < 0 && errno != EINTR)
			return -1;
	}
}

/* Forks a child that stops itself, is seized by us with opts, and then
 * runs body().  Returns its pid, stopped at nothing (running). */
static pid_t spawn_traced(void (*body)(void *), void *arg, long opts)
{
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		raise(SIGSTOP);
		body(arg);
		_exit(0);
	}
	assert_true(pid > 0);
	int st;
	assert_int_equal(waitpid(pid, &st, WSTOPPED), pid);
	assert_int_equal(ptrace(PTRACE_SEIZE, pid, 0, opts), 0);
	kill(pid, SIGCONT);
	return pid;
}

/* Under the filter: what must and must not stop. */
static const uint32_t cookie[4] = { 0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00 };

static void filter_body(void *arg)
{
	struct x86_64_filter f;
	uint64_t ca[6] = { 0 };
	(void)arg;
	x86_64_seccomp_filter(cookie, &f);
	x86_64_cookie_args(cookie, ca);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &f.prog) < 0)
		_exit(10);
	/* Marker sequence; the parent expects exactly the starred calls to
	 * stop, in this order. */
	void *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);             /* no */
	void *b = mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_EXEC,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);             /* * mmap */
	(void)syscall(SYS_getpid);                                      /* no */
	mprotect(a, 4096, PROT_READ);                                   /* * mprotect */
	mmap(a, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
	     -1, 0);                                                     /* * mmap */
	/* With the cookie: no stop; with one word wrong: a stop. */
	syscall(SYS_mprotect, a, 4096, PROT_READ, ca[3], ca[4]);        /* no */
	syscall(SYS_mprotect, a, 4096, PROT_READ, ca[3], ca[4] ^ 1);    /* * mprotect */
	syscall(SYS_mprotect, a, 4096, PROT_READ, ca[3] ^ (1ull << 32), ca[4]); /* * mprotect */
	b = mremap(b, 8192, 4096, 0);                                   /* no */
	munmap(b, 4096);                                                /* no */
	/* The second filter adds unmaps. */
	struct x86_64_filter u;
	x86_64_unmap_filter(&u);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &u.prog) < 0)
		_exit(12);
	b = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);                                                 /* no */
	b = mremap(b, 8192, 4096, 0);                                   /* * mremap */
	munmap(b, 4096);                                                /* * munmap */
	(void)syscall(SYS_getppid);                                     /* no */
	_exit(a == MAP_FAILED ? 11 : 0);
}

/* Runs body in a traced child and checks that exactly the calls
 * want[0..n) stop it at seccomp, in this order, and that it exits 0. */
static void expect_seccomp_stops(void (*body)(void *), const long *want, size_t n)
{
	pid_t pid = spawn_traced(body, NULL, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL);
	size_t got = 0;

	for (;;) {
		int st = wait_stop(pid);
		assert_true(st != -1);
		if (WIFEXITED(st)) {
			assert_int_equal(WEXITSTATUS(st), 0);
			break;
		}
		assert_true(WIFSTOPPED(st));
		int sig = WSTOPSIG(st);
		if ((st >> 16) == PTRACE_EVENT_SECCOMP) {
			struct __ptrace_syscall_info si;
			assert_true(ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof(si), &si) > 0);
			assert_int_equal(si.op, PTRACE_SYSCALL_INFO_SECCOMP);
			assert_true(x86_64_native_syscall(si.arch, si.seccomp.nr));
			assert_true(got < n);
			assert_int_equal(si.seccomp.nr, want[got]);
			got++;
			sig = 0;
		} else if ((st >> 16) || sig == SIGSTOP || sig == SIGCONT) {
			sig = 0;
		}
		assert_int_equal(ptrace(PTRACE_CONT, pid, 0, sig), 0);
	}
	assert_int_equal(got, n);
}

static void test_seccomp_filter(void **state)
{
	(void)state;
	static const long want[] = { SYS_mmap, SYS_mprotect, SYS_mmap, SYS_mprotect,
				     SYS_mprotect, SYS_mremap, SYS_munmap };

	expect_seccomp_stops(filter_body, want, sizeof(want) / sizeof(want[0]));
}

/* Under the injection filter, then a descriptor's filter on fd (as for
 * a /proc/PID/mem descriptor): what must and must not stop.  Raw
 * syscalls, as libc maps open() to openat. */
static void inject_body(void *arg)
{
	struct x86_64_filter f, g;
	char c = 'x';
	struct iovec v = { &c, 1 };
	(void)arg;
	inject_ptrace_filter(&f);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &f.prog) < 0)
		_exit(10);
	(void)syscall(SYS_close, (long)syscall(SYS_open, "/dev/null", O_RDONLY));   /* no */
	long fd = syscall(SYS_open, "/dev/null", O_WRONLY);                 /* * open */
	long rw = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);      /* * openat */
	(void)syscall(SYS_close, (long)syscall(SYS_openat, AT_FDCWD, "/dev/null",
					       O_RDONLY | O_CLOEXEC));  /* no */
	long d = syscall(SYS_dup, fd);                                      /* no */
	(void)syscall(SYS_fcntl, fd, F_DUPFD, 40);                          /* no */
	(void)syscall(SYS_write, fd, &c, 1);                                /* no */
	(void)syscall(SYS_pwrite64, fd, &c, 1, 0);                          /* * pwrite64 */
	(void)syscall(SYS_ptrace, PTRACE_PEEKDATA, 1, 0, 0);                /* no */
	(void)syscall(SYS_ptrace, PTRACE_POKEDATA, 1, 0, 0);                /* * ptrace */
	inject_ptrace_fd_filter(&g, (int)fd);
	if (fd < 0 || rw < 0 || d < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &g.prog) < 0)
		_exit(12);
	(void)syscall(SYS_write, fd, &c, 1);                                /* * write */
	(void)syscall(SYS_write, d, &c, 1);                                 /* no */
	(void)syscall(SYS_writev, fd, &v, 1);                               /* * writev */
	(void)syscall(SYS_dup, d);                                          /* no */
	(void)syscall(SYS_dup2, fd, 50);                                    /* * dup2 */
	(void)syscall(SYS_dup3, fd, 51, O_CLOEXEC);                         /* * dup3 */
	(void)syscall(SYS_fcntl, fd, F_GETFD);                              /* no */
	(void)syscall(SYS_fcntl, d, F_DUPFD_CLOEXEC, 60);                   /* no */
	(void)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 60);                  /* * fcntl */
	(void)syscall(SYS_getppid);                                         /* no */
	_exit(0);
}

static void test_inject_filters(void **state)
{
	(void)state;
	static const long want[] = { SYS_open, SYS_openat, SYS_pwrite64, SYS_ptrace,
				     SYS_write, SYS_writev, SYS_dup2, SYS_dup3, SYS_fcntl };

	expect_seccomp_stops(inject_body, want, sizeof(want) / sizeof(want[0]));
}

/* Blocks in read() on the pipe, then checks it got the byte the parent
 * wrote after our remote syscalls: a broken restart loses or fails it. */
static void blocked_body(void *arg)
{
	int *fds = arg;
	char c = 0;
	ssize_t n = read(fds[0], &c, 1);
	_exit(n == 1 && c == 'x' ? 0 : 20 + (int)n);
}

static void test_remote_syscall(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = spawn_traced(blocked_body, fds, PTRACE_O_EXITKILL);
	int st;

	/* Let it reach the blocking read, then interrupt it there. */
	for (int i = 0; i < 200; i++) {
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
		int fd = open(path, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0 && (buf[n] = 0, strstr(buf, "pipe")))
			break;
		/* The SIGCONT stop and group-stop events come first. */
		pid_t w = waitpid(pid, &st, __WALL | WNOHANG);
		if (w == pid)
			ptrace(PTRACE_CONT, pid, 0, 0);
		usleep(5000);
	}
	assert_int_equal(ptrace(PTRACE_INTERRUPT, pid, 0, 0), 0);
	for (;;) {
		st = wait_stop(pid);
		assert_true(WIFSTOPPED(st));
		if ((st >> 16) == PTRACE_EVENT_STOP)
			break;
		ptrace(PTRACE_CONT, pid, 0, 0);
	}
	struct user_regs_struct before, after;
	assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &before), 0);
	assert_int_equal((long)before.orig_rax, SYS_read);   /* inside read() */

	uint64_t insn = 0;
	assert_int_equal(x86_64_find_syscall_insn(pid, NULL, NULL, &insn), 0);
	assert_true(insn != 0);

	struct x86_64_remote out;
	uint64_t args[6] = { 0 };
	int64_t ret = 0;
	assert_int_equal(x86_64_remote_syscall(pid, insn, SYS_getpid, args, &ret, &out), 0);
	assert_int_equal(ret, pid);
	/* A mapping made and protected in the child, seen in its maps. */
	uint64_t margs[6] = { 0, 4096, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 };
	int64_t addr = 0;
	assert_int_equal(x86_64_remote_syscall(pid, insn, SYS_mmap, margs, &addr, &out), 0);
	assert_true(addr > 0);
	uint64_t pargs[6] = { (uint64_t)addr, 4096, PROT_READ | PROT_EXEC, 0, 0, 0 };
	assert_int_equal(x86_64_remote_syscall(pid, insn, SYS_mprotect, pargs, &ret, &out), 0);
	assert_int_equal(ret, 0);
	/* A filter installed remotely shows in the child's status (root:
	 * without no_new_privs, installing needs CAP_SYS_ADMIN). */
	if (geteuid() == 0) {
		struct x86_64_filter uf;
		x86_64_unmap_filter(&uf);
		assert_int_equal(x86_64_remote_seccomp(pid, insn, &uf, 0, &ret, &out), 0);
		assert_int_equal(ret, 0);
		char path[64], status[4096];
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		int sfd = open(path, O_RDONLY);
		ssize_t sn = sfd >= 0 ? read(sfd, status, sizeof(status) - 1) : -1;
		if (sfd >= 0)
			close(sfd);
		assert_true(sn > 0);
		status[sn] = 0;
		assert_non_null(strstr(status, "Seccomp:\t2"));
	}
	uint64_t bad[6] = { 1, 4096, PROT_READ, 0, 0, 0 };   /* unaligned: EINVAL */
	assert_int_equal(x86_64_remote_syscall(pid, insn, SYS_mprotect, bad, &ret, &out), 0);
	assert_int_equal(ret, -EINVAL);
	assert_int_equal(out.nsigs, 0);

	assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &after), 0);
	assert_memory_equal(&before, &after, sizeof(before));

	assert_int_equal(ptrace(PTRACE_CONT, pid, 0, 0), 0);
	assert_int_equal(write(fds[1], "x", 1), 1);
	for (;;) {
		st = wait_stop(pid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		ptrace(PTRACE_CONT, pid, 0, 0);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	close(fds[0]);
	close(fds[1]);
}

/* Stops itself six times with an ignored signal (a traced child still
 * stops for it), then exits 0. */
static void signal_body(void *arg)
{
	(void)arg;
	signal(SIGUSR1, SIG_IGN);
	for (int i = 0; i < 6; i++)
		kill(getpid(), SIGUSR1);
	_exit(0);
}

/* Waits for the next SIGUSR1 signal-delivery stop of pid, resuming the
 * others. */
static void next_usr1(pid_t pid)
{
	for (;;) {
		int st = wait_stop(pid);
		assert_true(WIFSTOPPED(st));
		if ((st >> 16) == 0 && WSTOPSIG(st) == SIGUSR1)
			return;
		ptrace(PTRACE_CONT, pid, 0, 0);
	}
}

/* The trampoline runs a syscall and comes back with every register as it
 * was; x86_64_step executes exactly one instruction. */
static void test_trampoline(void **state)
{
	(void)state;
	pid_t pid = spawn_traced(signal_body, NULL, PTRACE_O_EXITKILL);
	struct user_regs_struct before, now;
	struct x86_64_remote out;
	uint64_t insn = 0, sa = 0;
	int64_t ret = 0;

	next_usr1(pid);
	assert_int_equal(x86_64_find_syscall_insn(pid, NULL, NULL, &insn), 0);
	uint64_t margs[6] = { 0, X86_64_TRAMP_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 };
	int64_t tramp = 0;
	assert_int_equal(x86_64_remote_syscall(pid, insn, SYS_mmap, margs, &tramp, &out), 0);
	assert_true(tramp > 0);
	uint8_t code[4096];
	size_t n = x86_64_tramp_code((uint64_t)tramp, code, sizeof(code));
	assert_true(n > 2 && n <= sizeof(code));
	struct iovec l = { code, n }, r = { (void *)(uintptr_t)tramp, n };
	assert_int_equal(process_vm_writev(pid, &l, 1, &r, 1, 0), (ssize_t)n);
	uint64_t pargs[6] = { (uint64_t)tramp, 4096, PROT_READ | PROT_EXEC, 0, 0, 0 };
	assert_int_equal(x86_64_remote_syscall(pid, insn, SYS_mprotect, pargs, &ret, &out), 0);
	assert_int_equal(ret, 0);

	assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &before), 0);
	uint64_t args[6] = { 0 };
	assert_int_equal(x86_64_tramp_enter(pid, (uint64_t)tramp, &before, SYS_getpid, args), 0);
	assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &now), 0);
	assert_int_equal(x86_64_tramp_state(&now, (uint64_t)tramp), 1);
	assert_int_equal(now.rip, (uint64_t)tramp);
	now.rip = before.rip;           /* the only register changed */
	assert_memory_equal(&before, &now, sizeof(before));
	now.rip = (uint64_t)tramp;
	/* Step through it: 2 saves, the call's address and a jump, 6 saves
	 * and 6 loads before the syscall, the result store and 8 restores
	 * after it, then back at rip. */
	int steps = 0, pre = 0, post = 0;
	for (; steps < 64; steps++) {
		assert_int_equal(x86_64_step(pid, now.rip, &now, &sa, &out), 0);
		int w = x86_64_tramp_state(&now, (uint64_t)tramp);
		pre += w == 1;
		post += w == 2;
		if (now.rip == before.rip)
			break;
	}
	assert_true(steps < 64);
	assert_int_equal(pre, 16);
	assert_int_equal(post, 10);
	now.orig_rax = before.orig_rax; /* left as the call set it */
	assert_memory_equal(&before, &now, sizeof(before));
	assert_int_equal(x86_64_tramp_ret(pid, (uint64_t)tramp, &ret), 0);
	assert_int_equal(ret, pid);

	/* Run through it without stepping, with the next stop as the check. */
	assert_int_equal(ptrace(PTRACE_CONT, pid, 0, 0), 0);
	next_usr1(pid);
	assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &before), 0);
	assert_int_equal(x86_64_tramp_enter(pid, (uint64_t)tramp, &before, SYS_getppid, args), 0);
	assert_int_equal(ptrace(PTRACE_CONT, pid, 0, 0), 0);
	next_usr1(pid);
	assert_int_equal(x86_64_tramp_ret(pid, (uint64_t)tramp, &ret), 0);
	assert_int_equal(ret, getpid());
	/* A slot: the call stored once, entered with the return address in
	 * gs_base; every register (gs_base included) comes back. */
	if (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) {
		assert_int_equal(x86_64_tramp_slot_set(pid, (uint64_t)tramp, 5, SYS_getpid, args), 0);
		for (int round = 0; round < 2; round++) {
			assert_int_equal(ptrace(PTRACE_CONT, pid, 0, 0), 0);
			next_usr1(pid);
			assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &before), 0);
			assert_int_equal(before.gs_base, 0);
			assert_int_equal(x86_64_tramp_enter_slot(pid, (uint64_t)tramp, &before, 5), 0);
			assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &now), 0);
			assert_int_equal(x86_64_tramp_state(&now, (uint64_t)tramp), 1);
			assert_int_equal(now.gs_base, before.rip);
			if (round == 0) {
				/* Stepped: inside until back at rip, as before. */
				for (steps = 0; steps < 64 && now.rip != before.rip; steps++)
					assert_int_equal(x86_64_step(pid, now.rip, &now, &sa, &out), 0);
				assert_true(steps < 64);
				now.orig_rax = before.orig_rax;
				assert_memory_equal(&before, &now, sizeof(before));
			} else {
				assert_int_equal(ptrace(PTRACE_CONT, pid, 0, 0), 0);
				next_usr1(pid);
				assert_int_equal(ptrace(PTRACE_GETREGS, pid, 0, &now), 0);
				assert_int_equal(now.gs_base, 0);
			}
			ret = 0;
			assert_int_equal(x86_64_tramp_ret(pid, (uint64_t)tramp, &ret), 0);
			assert_int_equal(ret, pid);
		}
		struct user_regs_struct odd = before;
		odd.gs_base = 0x10000;  /* not 0: the slot path refuses */
		assert_int_equal(x86_64_tramp_enter_slot(pid, (uint64_t)tramp, &odd, 5), -EINVAL);
		assert_int_equal(x86_64_tramp_enter_slot(pid, (uint64_t)tramp, &before,
							 X86_64_TRAMP_SLOTS), -EINVAL);
	}

	assert_int_equal(ptrace(PTRACE_CONT, pid, 0, 0), 0);
	int st;
	for (;;) {
		st = wait_stop(pid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		ptrace(PTRACE_CONT, pid, 0, 0);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_regs_snapshot),
		cmocka_unit_test(test_syscall_args),
		cmocka_unit_test(test_fetch_fault),
		cmocka_unit_test(test_seccomp_filter),
		cmocka_unit_test(test_inject_filters),
		cmocka_unit_test(test_remote_syscall),
		cmocka_unit_test(test_trampoline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
