/*
 * bench_seccomp_floor - runs a command under ptrace mode's seccomp filter
 * with no tracer: the filter of capture/x86_64.c with every
 * SECCOMP_RET_TRACE turned into SECCOMP_RET_ALLOW, installed as the
 * engine installs it.  What a code-free workload loses to it is what any
 * seccomp-filtered tracer costs on this kernel (the filter run, or its
 * cached verdict, on every system call's slow path): the floor under
 * ptrace mode's overhead in bench_ptrace.sh.  The second filter ptrace
 * mode installs, for injections (capture/inject_ptrace.c), is installed
 * too, the same way, unless --no-inject-filter (bench_inject.sh compares
 * the two).
 *
 * usage: bench_seccomp_floor [--no-inject-filter] CMD [ARG]...
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "inject_ptrace.h"
#include "x86_64.h"

/* Installs f with every SECCOMP_RET_TRACE turned into SECCOMP_RET_ALLOW.
 * Returns 0 or -1 with errno. */
static int install_allowing(struct x86_64_filter *f)
{
	for (unsigned i = 0; i < f->prog.len; i++)
		if (f->insns[i].code == (BPF_RET | BPF_K) && f->insns[i].k == SECCOMP_RET_TRACE)
			f->insns[i].k = SECCOMP_RET_ALLOW;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
		    &f->prog) == 0)
		return 0;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &f->prog);
}

int main(int argc, char **argv)
{
	static const uint32_t cookie[4] = { 1, 2, 3, 4 };
	struct x86_64_filter f, inj;
	int with_inject = 1;

	if (argc > 1 && !strcmp(argv[1], "--no-inject-filter")) {
		with_inject = 0;
		argv++;
		argc--;
	}
	if (argc < 2 || argv[1][0] == '-') {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: bench_seccomp_floor [--no-inject-filter] CMD [ARG]...\n");
		return argc < 2 ? 2 : 0;
	}
	x86_64_seccomp_filter(cookie, &f);
	inject_ptrace_filter(&inj);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || install_allowing(&f) < 0 ||
	    (with_inject && install_allowing(&inj) < 0)) {
		fprintf(stderr, "bench_seccomp_floor: seccomp: %s\n", strerror(errno));
		return 1;
	}
	execvp(argv[1], argv + 1);
	fprintf(stderr, "bench_seccomp_floor: cannot run '%s': %s\n", argv[1],
		strerror(errno));
	return 1;
}
