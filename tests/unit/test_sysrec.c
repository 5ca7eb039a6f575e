/*
 * test_sysrec.c - the syscall recorder's user side (capture/sysrec.h):
 * the tracepoint format parser on format files as this kernel writes them
 * and on hostile ones, the argument layouts and groups derived from them,
 * the table loader and list chooser on a directory of formats, the
 * renderer (strings, hostile bytes, cut short, unreadable, sockaddrs,
 * string arrays, flags) and the ptrace side's seccomp filter, run in a
 * child.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sysrec.h"

#define HDR \
	"format:\n" \
	"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n" \
	"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n" \
	"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n" \
	"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n" \
	"\n" \
	"\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n"
#define FIELD(t, n, off) "\tfield:" t " " n ";\toffset:" #off ";\tsize:8;\tsigned:0;\n"
#define PRINT "\nprint fmt: \"x\", REC->x\n"

/* As 6.18 writes them (events/syscalls/sys_enter_NAME/format). */
static const char openat_fmt[] = "name: sys_enter_openat\nID: 782\n" HDR
	FIELD("int", "dfd", 16) FIELD("const char *", "filename", 24)
	FIELD("int", "flags", 32) FIELD("umode_t", "mode", 40) PRINT;
static const char connect_fmt[] = "name: sys_enter_connect\nID: 2230\n" HDR
	FIELD("int", "fd", 16) FIELD("struct sockaddr *", "uservaddr", 24)
	FIELD("int", "addrlen", 32) PRINT;
static const char execve_fmt[] = "name: sys_enter_execve\nID: 100\n" HDR
	FIELD("const char *", "filename", 16) FIELD("const char *const *", "argv", 24)
	FIELD("const char *const *", "envp", 32) PRINT;
static const char accept4_fmt[] = "name: sys_enter_accept4\nID: 101\n" HDR
	FIELD("int", "fd", 16) FIELD("struct sockaddr *", "upeer_sockaddr", 24)
	FIELD("int *", "upeer_addrlen", 32) FIELD("int", "flags", 40) PRINT;
static const char read_fmt[] = "name: sys_enter_read\nID: 102\n" HDR
	FIELD("unsigned int", "fd", 16) FIELD("char *", "buf", 24)
	FIELD("size_t", "count", 32) PRINT;
static const char write_fmt[] = "name: sys_enter_write\nID: 103\n" HDR
	FIELD("unsigned int", "fd", 16) FIELD("const char *", "buf", 24)
	FIELD("size_t", "count", 32) PRINT;
static const char sendto_fmt[] = "name: sys_enter_sendto\nID: 104\n" HDR
	FIELD("int", "fd", 16) FIELD("void *", "buff", 24) FIELD("size_t", "len", 32)
	FIELD("unsigned int", "flags", 40) FIELD("struct sockaddr *", "addr", 48)
	FIELD("int", "addr_len", 56) PRINT;
static const char openat2_fmt[] = "name: sys_enter_openat2\nID: 105\n" HDR
	FIELD("int", "dfd", 16) FIELD("const char *", "filename", 24)
	FIELD("struct open_how *", "how", 32) FIELD("size_t", "usize", 40) PRINT;
static const char getpid_fmt[] = "name: sys_enter_getpid\nID: 106\n" HDR PRINT;
static const char clone_fmt[] = "name: sys_enter_clone\nID: 107\n" HDR
	FIELD("unsigned long", "clone_flags", 16) FIELD("unsigned long", "newsp", 24)
	FIELD("int *", "parent_tidptr", 32) FIELD("int *", "child_tidptr", 40)
	FIELD("unsigned long", "tls", 48) PRINT;

static void parse_ok(const char *text, struct sysrec_format *f)
{
	assert_int_equal(sysrec_format_parse(text, strlen(text), f), 0);
}

static void test_parse(void **state)
{
	struct sysrec_format f;

	(void)state;
	parse_ok(openat_fmt, &f);
	assert_string_equal(f.name, "openat");
	assert_int_equal(f.nargs, 4);
	assert_string_equal(f.arg_type[1], "const char *");
	assert_string_equal(f.arg_name[1], "filename");
	assert_string_equal(f.arg_type[3], "umode_t");
	parse_ok(execve_fmt, &f);
	assert_string_equal(f.arg_type[1], "const char *const *");
	assert_string_equal(f.arg_name[2], "envp");
	parse_ok(getpid_fmt, &f);
	assert_int_equal(f.nargs, 0);
	/* Without a trailing newline, or cut after the fields. */
	char buf[2048];
	size_t n = strlen(connect_fmt) - strlen(PRINT);

	memcpy(buf, connect_fmt, n);
	assert_int_equal(sysrec_format_parse(buf, n, &f), 0);
	assert_int_equal(f.nargs, 3);
}

/* Every one of these is refused, leaving *f zeroed. */
static void test_parse_hostile(void **state)
{
	static const char *const bad[] = {
		"",
		"garbage\n",
		/* no name */
		HDR FIELD("int", "fd", 16),
		/* no __syscall_nr */
		"name: sys_enter_x\n" FIELD("int", "fd", 16),
		/* an argument at the wrong offset, of the wrong size */
		"name: sys_enter_x\n" HDR FIELD("int", "fd", 24),
		"name: sys_enter_x\n" HDR "\tfield:int fd;\toffset:16;\tsize:4;\tsigned:1;\n",
		/* seven arguments */
		"name: sys_enter_x\n" HDR FIELD("int", "a", 16) FIELD("int", "b", 24)
			FIELD("int", "c", 32) FIELD("int", "d", 40) FIELD("int", "e", 48)
			FIELD("int", "f", 56) FIELD("int", "g", 64),
		/* malformed fields */
		"name: sys_enter_x\n" HDR "\tfield:int;\toffset:16;\tsize:8;\n",
		"name: sys_enter_x\n" HDR "\tfield:int fd\toffset:16;\tsize:8;\n",
		"name: sys_enter_x\n" HDR "\tfield:int fd;\toffset:;\tsize:8;\n",
		"name: sys_enter_x\n" HDR "\tfield:int fd;\toffset:16x;\tsize:8;\n",
		"name: sys_enter_x\n" HDR "\tfield:int f-d;\toffset:16;\tsize:8;\n",
		"name: sys_enter_x\n" HDR "\tfield:int \033[2Jfd;\toffset:16;\tsize:8;\n",
		/* names: empty, hostile, over-long, twice */
		"name: sys_enter_\n" HDR,
		"name: sys_enter_a/b\n" HDR,
		"name: sys_enter_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" HDR,
		"name: sys_enter_x\nname: sys_enter_y\n" HDR,
		/* a second __syscall_nr, or one at the wrong place */
		"name: sys_enter_x\n" HDR HDR,
		"name: sys_enter_x\n\tfield:int __syscall_nr;\toffset:4;\tsize:4;\tsigned:1;\n",
	};
	struct sysrec_format f;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&f, 0x5a, sizeof(f));
		if (sysrec_format_parse(bad[i], strlen(bad[i]), &f) != -EINVAL)
			fail_msg("hostile format %zu accepted", i);
		assert_int_equal(f.nargs, 0);
		assert_int_equal(f.name[0], 0);
	}
	assert_int_equal(sysrec_format_parse(NULL, 0, &f), -EINVAL);
	/* An over-long type, and bytes after a NUL, within len. */
	char big[1024];

	snprintf(big, sizeof(big), "name: sys_enter_x\n" HDR "\tfield:%0200d fd;\toffset:16;\tsize:8;\n", 1);
	assert_int_equal(sysrec_format_parse(big, strlen(big), &f), -EINVAL);
	char nul[] = "name: sys_enter_x\0" HDR;
	assert_int_equal(sysrec_format_parse(nul, sizeof(nul) - 1, &f), -EINVAL);
}

static void layout(const char *text, uint32_t bytes, struct sysrec_format *f, struct sr_layout *l)
{
	parse_ok(text, f);
	sysrec_layout_of(f, bytes, l);
}

static void test_layout(void **state)
{
	struct sysrec_format f;
	struct sr_layout l;

	(void)state;
	layout(openat_fmt, 0, &f, &l);
	assert_int_equal(l.nargs, 4);
	assert_int_equal(l.a[0].kind, SR_K_VAL);
	assert_int_equal(l.a[1].kind, SR_K_STR);
	assert_int_equal(l.a[2].kind, SR_K_VAL);
	assert_int_equal(l.flags, 0);
	assert_int_equal(sysrec_groups_of(&f), SYSREC_G_FILE);
	layout(execve_fmt, 0, &f, &l);
	assert_int_equal(l.a[0].kind, SR_K_STR);
	assert_int_equal(l.a[1].kind, SR_K_STRV);
	assert_int_equal(l.a[2].kind, SR_K_STRV);
	assert_true(sysrec_groups_of(&f) & SYSREC_G_PROCESS);
	layout(connect_fmt, 0, &f, &l);
	assert_int_equal(l.a[1].kind, SR_K_MEM_IN);
	assert_int_equal(l.a[1].len_arg, 2);
	assert_int_equal(l.a[1].max, 128);
	assert_int_equal(sysrec_groups_of(&f), SYSREC_G_NET);
	layout(accept4_fmt, 0, &f, &l);
	assert_int_equal(l.a[1].kind, SR_K_MEM_OUTP);
	assert_int_equal(l.a[1].len_arg, 2);
	assert_int_equal(l.flags, SR_LF_EXIT_MEM);
	/* Buffers only with a byte count, read at exit for read(2). */
	layout(read_fmt, 0, &f, &l);
	assert_int_equal(l.a[1].kind, SR_K_VAL);
	layout(read_fmt, 64, &f, &l);
	assert_int_equal(l.a[1].kind, SR_K_MEM_OUT);
	assert_int_equal(l.a[1].len_arg, SR_LEN_RET);
	assert_int_equal(l.a[1].max, 64);
	assert_int_equal(l.flags, SR_LF_EXIT_MEM);
	layout(write_fmt, 99999, &f, &l);
	assert_int_equal(l.a[1].kind, SR_K_MEM_IN);
	assert_int_equal(l.a[1].len_arg, 2);
	assert_int_equal(l.a[1].max, SR_SEG_MAX);
	/* sendto's void * buffer is an input: the name says so. */
	layout(sendto_fmt, 16, &f, &l);
	assert_int_equal(l.a[1].kind, SR_K_MEM_IN);
	assert_int_equal(l.a[4].kind, SR_K_MEM_IN);
	assert_int_equal(l.a[4].len_arg, 5);
	layout(openat2_fmt, 0, &f, &l);
	assert_int_equal(l.a[2].kind, SR_K_MEM_IN);
	assert_int_equal(l.a[2].len_arg, 3);
	layout(clone_fmt, 0, &f, &l);
	for (int i = 0; i < 5; i++)
		assert_int_equal(l.a[i].kind, SR_K_VAL);
	assert_int_equal(sysrec_groups_of(&f), SYSREC_G_PROCESS);
}

/* A directory of format files as under events/syscalls. */
static void write_format(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/sys_enter_%s", dir, name);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/sys_enter_%s/format", dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void test_table(void **state)
{
	char dir[] = "/tmp/test_sysrec.XXXXXX", msg[512];
	struct sysrec_table t;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sysrec_table_load(&t, dir, 0, msg, sizeof(msg)), -ENOENT);
	write_format(dir, "openat", openat_fmt);
	write_format(dir, "connect", connect_fmt);
	write_format(dir, "execve", execve_fmt);
	write_format(dir, "clone", clone_fmt);
	assert_int_equal(sysrec_table_load(&t, dir, 0, msg, sizeof(msg)), 0);
	assert_int_equal(t.n, 4);
	assert_string_equal(t.sc[0].fmt.name, "clone");     /* sorted */
	assert_ptr_equal(sysrec_by_nr(&t, 257), &t.sc[3]);
	assert_string_equal(sysrec_by_nr(&t, 42)->fmt.name, "connect");
	assert_null(sysrec_by_nr(&t, 0));
	assert_null(sysrec_by_nr(&t, 1u << 20));
	assert_int_equal(sysrec_choose(&t, "openat,net", msg, sizeof(msg)), 2);
	assert_true(t.sc[3].chosen && t.sc[1].chosen && !t.sc[0].chosen);
	assert_int_equal(sysrec_choose(&t, "sys_execve,openat", msg, sizeof(msg)), 1);
	assert_int_equal(sysrec_choose(&t, "all", msg, sizeof(msg)), 1);
	assert_int_equal(sysrec_choose(&t, "openat,bogus", msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "'bogus'"));
	assert_int_equal(sysrec_choose(&t, "openat,,clone", msg, sizeof(msg)), -EINVAL);
	assert_int_equal(sysrec_choose(&t, "", msg, sizeof(msg)), -EINVAL);
	sysrec_table_free(&t);
	/* One bad file fails the load, naming it; so does a name that
	 * does not match its directory. */
	write_format(dir, "bad", "name: sys_enter_bad\nnonsense\n");
	assert_int_equal(sysrec_table_load(&t, dir, 0, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "sys_enter_bad/format"));
	write_format(dir, "bad", openat_fmt);
	assert_int_equal(sysrec_table_load(&t, dir, 0, msg, sizeof(msg)), -EINVAL);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(sysrec_nr_of("openat"), 257);
	assert_int_equal(sysrec_nr_of("no_such_syscall"), -1);
}

/* Renders call c of format text; returns the flags. */
static uint32_t render(const char *text, const struct sysrec_call *c, struct sysrec_str *js,
		       struct sysrec_str *tx)
{
	struct sysrec_sc sc = { .nr = 0 };

	parse_ok(text, &sc.fmt);
	sysrec_layout_of(&sc.fmt, 64, &sc.lay);
	memset(js, 0, sizeof(*js));
	memset(tx, 0, sizeof(*tx));
	uint32_t fl = sysrec_render(&sc, c, js, tx);

	assert_false(js->failed || tx->failed);
	return fl;
}

static void test_render_openat(void **state)
{
	static const uint8_t path[] = "/etc/passwd";
	static const uint8_t hostile[] = { '/', 't', 0x01, 0xff, '\n', '"', '\\', '7' };
	struct sysrec_seg seg = { .arg = 1, .len = 11, .data = path };
	struct sysrec_call c = {
		.args = { (uint64_t)-100, 0x7fff0000, 0x80000, 0 }, .returned = 1, .ret = 3,
		.segs = &seg, .nsegs = 1,
	};
	struct sysrec_str js, tx;

	(void)state;
	assert_int_equal(render(openat_fmt, &c, &js, &tx), 0);
	assert_string_equal(tx.s, "AT_FDCWD, \"/etc/passwd\", O_RDONLY|O_CLOEXEC, 0");
	assert_non_null(strstr(js.s, "{\"name\":\"filename\",\"type\":\"const char *\","
			       "\"value\":\"0x7fff0000\",\"str\":\"/etc/passwd\"}"));
	assert_non_null(strstr(js.s, "\"value\":-100,\"sym\":\"AT_FDCWD\""));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);

	/* Hostile bytes: JSON one code point a byte, text octal. */
	seg.data = hostile;
	seg.len = sizeof(hostile);
	seg.status = SR_ST_CUT;
	assert_int_equal(render(openat_fmt, &c, &js, &tx), SYSREC_F_CUT);
	assert_non_null(strstr(js.s, "\"cut\":true,\"str\":\"/t\\u0001\\u00ff\\u000a\\\"\\\\7\""));
	assert_non_null(strstr(tx.s, "\"/t\\1\\377\\n\\\"\\\\7\"..."));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);

	/* Unreadable: the pointer, the error, the flag. */
	seg.status = SR_ST_FAULT;
	seg.err = -EFAULT;
	seg.len = 0;
	assert_int_equal(render(openat_fmt, &c, &js, &tx), SYSREC_F_UNREADABLE);
	assert_non_null(strstr(js.s, "\"unreadable\":-14"));
	assert_non_null(strstr(tx.s, "AT_FDCWD, 0x7fff0000, "));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);

	/* No segment for a non-NULL string: the record had no room. */
	c.nsegs = 0;
	assert_int_equal(render(openat_fmt, &c, &js, &tx), SYSREC_F_NOROOM);
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	/* NULL: nothing to read, no flag. */
	c.args[1] = 0;
	assert_int_equal(render(openat_fmt, &c, &js, &tx), 0);
	assert_non_null(strstr(tx.s, "AT_FDCWD, NULL, "));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	/* Entry lost: values unknown. */
	c.flags = SYSREC_F_NOENTRY;
	assert_int_equal(render(openat_fmt, &c, &js, &tx), SYSREC_F_NOENTRY);
	assert_string_equal(tx.s, "?, ?, ?, ?");
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
}

static void test_render_sockaddr(void **state)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons(8080) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	struct sockaddr_un un = { .sun_family = AF_UNIX, .sun_path = "/run/x.sock" };
	uint8_t abstract[] = { AF_UNIX, 0, 0, 'a', 'b' };
	uint8_t shorty[] = { 2 };
	struct sysrec_seg seg = { .arg = 1 };
	struct sysrec_call c = { .args = { 3, 0x1000, 16 }, .returned = 1, .segs = &seg, .nsegs = 1 };
	struct sysrec_str js, tx;

	(void)state;
	in4.sin_addr.s_addr = htonl(0x7f000001);
	seg.data = (const uint8_t *)&in4;
	seg.len = sizeof(in4);
	render(connect_fmt, &c, &js, &tx);
	assert_string_equal(tx.s, "3, {sa_family=AF_INET, sin_port=htons(8080), "
			    "sin_addr=inet_addr(\"127.0.0.1\")}, 16");
	assert_non_null(strstr(js.s, "\"sockaddr\":{\"family\":\"AF_INET\",\"port\":8080,"
			       "\"addr\":\"127.0.0.1\"}"));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	seg.data = (const uint8_t *)&in6;
	seg.len = sizeof(in6);
	render(connect_fmt, &c, &js, &tx);
	assert_non_null(strstr(tx.s, "inet_pton(AF_INET6, \"::1\", &sin6_addr)"));
	assert_non_null(strstr(js.s, "\"port\":443,\"addr\":\"::1\""));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	seg.data = (const uint8_t *)&un;
	seg.len = sizeof(un);
	render(connect_fmt, &c, &js, &tx);
	assert_non_null(strstr(tx.s, "{sa_family=AF_UNIX, sun_path=\"/run/x.sock\"}"));
	assert_non_null(strstr(js.s, "\"path\":\"/run/x.sock\",\"abstract\":false"));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	seg.data = abstract;
	seg.len = sizeof(abstract);
	render(connect_fmt, &c, &js, &tx);
	assert_non_null(strstr(tx.s, "sun_path=@\"ab\""));
	assert_non_null(strstr(js.s, "\"path\":\"ab\",\"abstract\":true"));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	/* Too short for its family: no read past the bytes. */
	seg.data = shorty;
	seg.len = sizeof(shorty);
	render(connect_fmt, &c, &js, &tx);
	assert_non_null(strstr(tx.s, "{}"));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	seg.data = (const uint8_t *)&in4;
	seg.len = 6;            /* AF_INET, but cut before the address */
	render(connect_fmt, &c, &js, &tx);
	assert_non_null(strstr(tx.s, "{sa_family=2}"));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
}

static void test_render_strv(void **state)
{
	static const uint8_t a0[] = "true", a1[] = "x y";
	struct sysrec_seg segs[] = {
		{ .arg = 0, .len = 9, .data = (const uint8_t *)"/bin/true" },
		{ .arg = 1, .idx = 0, .len = 4, .data = a0 },
		{ .arg = 1, .idx = 1, .len = 3, .data = a1 },
		{ .arg = 2, .idx = 0, .status = SR_ST_FAULT, .err = -EFAULT },
		{ .arg = 2, .idx = 1, .status = SR_ST_MORE },
	};
	struct sysrec_call c = { .args = { 1, 2, 3 }, .returned = 1, .segs = segs, .nsegs = 5 };
	struct sysrec_str js, tx;

	(void)state;
	assert_int_equal(render(execve_fmt, &c, &js, &tx), SYSREC_F_CUT | SYSREC_F_UNREADABLE);
	assert_string_equal(tx.s, "\"/bin/true\", [\"true\", \"x y\"], [?, ...]");
	assert_non_null(strstr(js.s, "\"strv\":[\"true\",\"x y\"]"));
	assert_non_null(strstr(js.s, "\"strv\":[{\"unreadable\":-14}],\"cut\":true,\"unreadable\":true"));
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	/* Segments of an argument the format does not have are ignored;
	 * an unknown syscall shows six values. */
	struct sysrec_seg stray = { .arg = 5, .len = 3, .data = a0 };
	c.segs = &stray;
	c.nsegs = 1;
	render(getpid_fmt, &c, &js, &tx);
	assert_string_equal(js.s, "[]");
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
	memset(&js, 0, sizeof(js));
	memset(&tx, 0, sizeof(tx));
	sysrec_render(NULL, &c, &js, &tx);
	assert_string_equal(tx.s, "0x1, 0x2, 0x3, 0, 0, 0");
	sysrec_str_free(&js);
	sysrec_str_free(&tx);
}

/* The filter of ptrace mode, installed in a child without a tracer: a
 * chosen syscall then fails with ENOSYS (SECCOMP_RET_TRACE with no
 * tracer), the others run. */
static void test_pt_filter(void **state)
{
	char dir[] = "/tmp/test_sysrec.XXXXXX", msg[256];
	struct sysrec_table t;
	struct sock_fprog prog;
	int st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_format(dir, "connect", connect_fmt);
	write_format(dir, "openat", openat_fmt);
	write_format(dir, "getpid", getpid_fmt);
	assert_int_equal(sysrec_table_load(&t, dir, 0, msg, sizeof(msg)), 0);
	assert_int_equal(sysrec_pt_filter(&t, &prog), -EINVAL);     /* none chosen */
	assert_int_equal(sysrec_choose(&t, "connect", msg, sizeof(msg)), 1);
	assert_int_equal(sysrec_pt_filter(&t, &prog), 0);
	assert_int_equal(prog.len, 7);
	pid_t p = fork();

	assert_true(p >= 0);
	if (p == 0) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };

		if (s < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
			_exit(10);
		a.sin_addr.s_addr = htonl(0x7f000001);
		errno = 0;
		if (connect(s, (struct sockaddr *)&a, sizeof(a)) != -1 || errno != ENOSYS)
			_exit(11);
		if (syscall(SYS_getpid) != getpid())
			_exit(12);
		_exit(0);
	}
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	free(prog.filter);
	sysrec_table_free(&t);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_hostile),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_render_openat),
		cmocka_unit_test(test_render_sockaddr),
		cmocka_unit_test(test_render_strv),
		cmocka_unit_test(test_pt_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
