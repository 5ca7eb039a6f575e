/*
 * test_proc.c - /proc/PID/maps parsing, backing classification and
 * process_vm_readv reads with gap detection (capture/proc.h), checked
 * against this test's own memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pthread.h>
#include <signal.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "proc.h"

static void test_parse_file_line(void **state)
{
	struct proc_map m;
	(void)state;
	assert_int_equal(proc_parse_maps_line(
		"7f1c2a000000-7f1c2a021000 r-xp 00002000 fd:01 1311786                    /usr/lib/x86_64-linux-gnu/libc.so.6\n",
		&m), 0);
	assert_true(m.start == 0x7f1c2a000000ull && m.end == 0x7f1c2a021000ull);
	assert_int_equal(m.prot, PROT_READ | PROT_EXEC);
	assert_int_equal(m.shared, 0);
	assert_true(m.offset == 0x2000 && m.inode == 1311786);
	assert_true(m.dev == makedev(0xfd, 1));
	assert_string_equal(m.path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
	assert_int_equal(proc_map_backing(&m), EMT_BACKING_FILE);
	free(m.path);
}

static void test_parse_kinds(void **state)
{
	static const struct {
		const char *line;
		uint32_t backing;
		const char *path;
		uint32_t prot;
	} cases[] = {
		{ "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]",
		  EMT_BACKING_ANON, "[heap]", PROT_READ | PROT_WRITE },
		{ "7f0000000000-7f0000010000 rwxp 00000000 00:00 0 ",
		  EMT_BACKING_ANON, "", PROT_READ | PROT_WRITE | PROT_EXEC },
		{ "7f0000000000-7f0000001000 r-xs 00000000 00:01 4242                       /memfd:jit (deleted)",
		  EMT_BACKING_MEMFD, "/memfd:jit (deleted)", PROT_READ | PROT_EXEC },
		{ "7f0000000000-7f0000001000 r-xp 00000000 08:01 77                         /tmp/payload (deleted)",
		  EMT_BACKING_DELETED, "/tmp/payload (deleted)", PROT_READ | PROT_EXEC },
		{ "7f0000000000-7f0000001000 rw-s 00000000 00:01 9                          /dev/zero (deleted)",
		  EMT_BACKING_SHARED, "/dev/zero (deleted)", PROT_READ | PROT_WRITE },
		{ "7f0000000000-7f0000001000 r--s 00000000 00:05 12                         /dev/dri/card0",
		  EMT_BACKING_OTHER, "/dev/dri/card0", PROT_READ },
		{ "7f0000000000-7f0000001000 r-xp 00000000 08:01 88                         /opt/my dir/a b.so",
		  EMT_BACKING_FILE, "/opt/my dir/a b.so", PROT_READ | PROT_EXEC },
		{ "7f0000000000-7f0000001000 ---p 00000000 00:00 0                          [anon:glibc]",
		  EMT_BACKING_ANON, "[anon:glibc]", 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proc_map m;
		assert_int_equal(proc_parse_maps_line(cases[i].line, &m), 0);
		assert_string_equal(m.path, cases[i].path);
		assert_int_equal(m.prot, cases[i].prot);
		assert_int_equal(proc_map_backing(&m), cases[i].backing);
		free(m.path);
	}
}

static void test_parse_malformed(void **state)
{
	static const char *bad[] = {
		"", "garbage", "7f00-7e00 r-xp 0 00:00 0",   /* end < start */
		"7f00-7f10 r-x 0 00:00 0",                  /* 3 perm chars */
		"7f00-7f10 r-xp zz 00:00 0",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct proc_map m;
		assert_int_equal(proc_parse_maps_line(bad[i], &m), -EINVAL);
	}
}

/* Our own maps must list a mapping we just made, with its protection. */
static void test_maps_read_self(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE | PROT_EXEC,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct proc_map *maps;
	size_t n, found = 0;
	(void)state;
	assert_true(p != MAP_FAILED);
	assert_int_equal(proc_maps_read(getpid(), &maps, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (maps[i].start <= (uintptr_t)p && (uintptr_t)p + 3 * pg <= maps[i].end) {
			found = 1;
			assert_int_equal(maps[i].prot, PROT_READ | PROT_WRITE | PROT_EXEC);
			assert_int_equal(proc_map_backing(&maps[i]), EMT_BACKING_ANON);
		}
	assert_true(found);
	proc_maps_free(maps, n);
	munmap(p, 3 * pg);
	assert_int_equal(proc_maps_read(0x3ffffff0, &maps, &n), -ENOENT);
}

/* A PROT_NONE page in the middle of a range is a gap: zeroed in the
 * buffer, listed with its offset, its neighbours read exactly. */
static void test_read_mem_gap(void **state)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *buf = malloc(4 * pg);
	struct emt_gap *gaps;
	size_t ngaps;
	(void)state;
	assert_true(p != MAP_FAILED && buf);
	for (size_t i = 0; i < 4 * pg; i++)
		p[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(mprotect(p + pg, pg, PROT_NONE), 0);
	memset(buf, 0xff, 4 * pg);
	assert_int_equal(proc_read_mem(getpid(), (uintptr_t)p, 4 * pg, buf, &gaps, &ngaps), 0);
	assert_int_equal(ngaps, 1);
	assert_true(gaps[0].offset == pg && gaps[0].length == pg);
	assert_int_equal(gaps[0].reason, EMT_GAP_UNREADABLE);
	assert_int_equal(gaps[0].err, EFAULT);
	assert_memory_equal(buf, p, pg);
	for (size_t i = pg; i < 2 * pg; i++)
		assert_int_equal(buf[i], 0);
	assert_memory_equal(buf + 2 * pg, p + 2 * pg, 2 * pg);
	free(gaps);

	/* Unaligned start and length: the gap is cut at the range ends. */
	memset(buf, 0xff, 4 * pg);
	assert_int_equal(proc_read_mem(getpid(), (uintptr_t)p + 100, 2 * pg, buf,
				       &gaps, &ngaps), 0);
	assert_int_equal(ngaps, 1);
	assert_true(gaps[0].offset == pg - 100 && gaps[0].length == pg);
	assert_memory_equal(buf, p + 100, pg - 100);
	assert_memory_equal(buf + 2 * pg - 100, p + 2 * pg, 100);
	free(gaps);

	/* Two adjacent unreadable pages merge into one gap. */
	assert_int_equal(mprotect(p + 2 * pg, pg, PROT_NONE), 0);
	assert_int_equal(proc_read_mem(getpid(), (uintptr_t)p, 4 * pg, buf, &gaps, &ngaps), 0);
	assert_int_equal(ngaps, 1);
	assert_true(gaps[0].offset == pg && gaps[0].length == 2 * pg);
	free(gaps);
	free(buf);
	munmap(p, 4 * pg);
}

static void test_read_mem_gone(void **state)
{
	uint8_t buf[16];
	struct emt_gap *gaps;
	size_t ngaps;
	(void)state;
	assert_int_equal(proc_read_mem(0x3ffffff0, 0x10000, sizeof(buf), buf, &gaps,
				       &ngaps), -ESRCH);
	assert_null(gaps);
}

static void test_gap_add_merge(void **state)
{
	struct emt_gap *g = NULL;
	size_t n = 0, cap = 0;
	(void)state;
	assert_int_equal(proc_gap_add(&g, &n, &cap, 0, 4096, EMT_GAP_LIMIT, ENOBUFS), 0);
	assert_int_equal(proc_gap_add(&g, &n, &cap, 4096, 4096, EMT_GAP_LIMIT, ENOBUFS), 0);
	assert_int_equal(n, 1);
	assert_int_equal(g[0].length, 8192);
	/* Different reason, or not contiguous: a new entry. */
	assert_int_equal(proc_gap_add(&g, &n, &cap, 8192, 4096, EMT_GAP_UNREADABLE, EFAULT), 0);
	assert_int_equal(proc_gap_add(&g, &n, &cap, 5 * 4096, 4096, EMT_GAP_UNREADABLE, EFAULT), 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 20; i++)
		assert_int_equal(proc_gap_add(&g, &n, &cap, (uint64_t)(10 + 2 * i) * 4096, 4096,
					      EMT_GAP_LIMIT, 0), 0);
	assert_int_equal(n, 23);
	free(g);
}

static void test_self_info(void **state)
{
	char buf[4096];
	(void)state;
	assert_int_equal(proc_read_exe(getpid(), buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "test_proc"));
	assert_int_equal(proc_read_cmdline(getpid(), buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "test_proc"));
	assert_int_equal(proc_read_ppid(getpid()), getppid());
	assert_int_equal(proc_read_tgid(getpid()), getpid());
	assert_int_equal(proc_read_tgid(0x3ffffff0), -ENOENT);
	assert_int_equal(proc_read_state(getpid()), 'R');
	/* Truncation keeps the string terminated. */
	assert_int_equal(proc_read_cmdline(getpid(), buf, 4), 0);
	assert_int_equal(strlen(buf), 3);

	pid_t *tids;
	size_t n;
	assert_int_equal(proc_list_tasks(getpid(), &tids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(tids[0], getpid());
	free(tids);
}

static volatile char marker[64] = "before";

static void *sibling(void *arg)
{
	(void)arg;
	strcpy((char *)marker, "written by the sibling");
	for (;;)
		pause();
	return NULL;
}

/* A process whose leader called pthread_exit: /proc of the leader has no
 * maps, exe, cmdline or memory any more, but the process lives on. */
static void test_zombie_leader(void **state)
{
	int ready[2];
	char c;
	(void)state;
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, sibling, NULL) != 0)
			_exit(1);
		while (strcmp((const char *)marker, "written by the sibling") != 0)
			usleep(1000);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pthread_exit(NULL);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	for (int i = 0; i < 2000 && proc_read_state(pid) != 'Z'; i++)
		usleep(1000);
	assert_int_equal(proc_read_state(pid), 'Z');

	assert_int_equal(proc_group_alive(pid), 1);
	pid_t t = proc_live_thread(pid);
	assert_true(t > 0 && t != pid);
	struct proc_map *maps;
	size_t n;
	assert_int_equal(proc_maps_read(pid, &maps, &n), 0);
	assert_true(n > 0);
	proc_maps_free(maps, n);
	char buf[4096];
	struct emt_gap *gaps;
	size_t ngaps;
	assert_int_equal(proc_read_mem(pid, (uintptr_t)marker, sizeof(marker), buf, &gaps,
				       &ngaps), 0);
	assert_int_equal(ngaps, 0);
	assert_string_equal(buf, "written by the sibling");
	assert_int_equal(proc_read_exe(pid, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "test_proc"));
	assert_int_equal(proc_read_cmdline(pid, buf, sizeof(buf)), 0);
	assert_non_null(strstr(buf, "test_proc"));

	/* Killed, not yet reaped: a zombie with no thread left. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	for (int i = 0; i < 2000 && proc_group_alive(pid) != 0; i++)
		usleep(1000);
	assert_int_equal(proc_group_alive(pid), 0);
	assert_int_equal(proc_live_thread(pid), -ESRCH);
	assert_int_equal(proc_read_mem(pid, (uintptr_t)marker, sizeof(marker), buf, &gaps,
				       &ngaps), -ESRCH);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(proc_group_alive(pid), 0);
	assert_int_equal(proc_live_thread(pid), -ESRCH);
	assert_int_equal(proc_group_alive(getpid()), 1);
	assert_int_equal(proc_live_thread(getpid()), getpid());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_file_line),
		cmocka_unit_test(test_parse_kinds),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_maps_read_self),
		cmocka_unit_test(test_read_mem_gap),
		cmocka_unit_test(test_read_mem_gone),
		cmocka_unit_test(test_gap_add_merge),
		cmocka_unit_test(test_self_info),
		cmocka_unit_test(test_zombie_leader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
