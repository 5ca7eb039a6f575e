/*
 * sysrec_layout.c - what the syscall recorder knows of each syscall, all
 * of it from the kernel's own description: the tracepoint format files
 * events/syscalls/sys_enter_NAME/format of tracefs, which name every
 * argument and its C type.  The memory to read behind an argument
 * follows from its type (and, for the few types that say too little,
 * its name): no per-syscall table.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysrec.h"

#define SOCKADDR_MAX 128u       /* sizeof(struct sockaddr_storage) */
#define STRUCT_MAX   128u       /* open_how, clone_args: versioned by size */
#define FORMAT_MAX   (16u << 10)

/* Copies the line of `text` that starts at p (up to `end`) into buf,
 * without the newline.  Returns the start of the next line. */
static const char *line_of(const char *p, const char *end, char *buf, size_t cap)
{
	const char *e = memchr(p, '\n', (size_t)(end - p));
	size_t n;

	if (!e)
		e = end;
	n = (size_t)(e - p);
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return e < end ? e + 1 : end;
}

/* "\tfield:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;" -> type, name,
 * offset, size.  Returns 0, 1 (not a field line) or -EINVAL. */
static int parse_field(const char *l, char *type, char *name, long *off, long *size)
{
	const char *p = l, *semi, *sp;
	char *endp;

	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "field:", 6))
		return 1;
	p += 6;
	semi = strchr(p, ';');
	if (!semi)
		return -EINVAL;
	/* The name is the last word before ';'; the type is what precedes. */
	sp = semi;
	while (sp > p && sp[-1] != ' ' && sp[-1] != '*')
		sp--;
	if (sp == semi || sp == p || (size_t)(semi - sp) >= SYSREC_NAME_MAX)
		return -EINVAL;
	for (const char *q = sp; q < semi; q++)
		if (!isalnum((unsigned char)*q) && *q != '_')
			return -EINVAL;
	memcpy(name, sp, (size_t)(semi - sp));
	name[semi - sp] = '\0';
	const char *te = sp;

	while (te > p && te[-1] == ' ')
		te--;
	if (te == p || (size_t)(te - p) >= SYSREC_TYPE_MAX)
		return -EINVAL;
	memcpy(type, p, (size_t)(te - p));
	type[te - p] = '\0';
	for (const char *q = type; *q; q++)
		if (!isprint((unsigned char)*q))
			return -EINVAL;
	p = strstr(semi, "offset:");
	if (!p)
		return -EINVAL;
	errno = 0;
	*off = strtol(p + 7, &endp, 10);
	if (errno || endp == p + 7 || *endp != ';')
		return -EINVAL;
	p = strstr(endp, "size:");
	if (!p)
		return -EINVAL;
	*size = strtol(p + 5, &endp, 10);
	if (errno || endp == p + 5 || *endp != ';')
		return -EINVAL;
	return 0;
}

int sysrec_format_parse(const char *text, size_t len, struct sysrec_format *f)
{
	const char *p = text, *end = text + len;
	char l[256];
	int seen_nr = 0, seen_name = 0;

	memset(f, 0, sizeof(*f));
	/* A NUL would hide the rest of its line from the checks. */
	if (!text || memchr(text, 0, len))
		return -EINVAL;
	while (p < end) {
		char type[SYSREC_TYPE_MAX], name[SYSREC_NAME_MAX];
		long off, size;
		int r;

		p = line_of(p, end, l, sizeof(l));
		if (!strncmp(l, "name: sys_enter_", 16)) {
			const char *n = l + 16;
			size_t nl = strlen(n);

			if (!nl || nl >= SYSREC_NAME_MAX || seen_name)
				goto bad;
			for (size_t i = 0; i < nl; i++)
				if (!isalnum((unsigned char)n[i]) && n[i] != '_')
					goto bad;
			memcpy(f->name, n, nl + 1);
			seen_name = 1;
			continue;
		}
		if (!strncmp(l, "print fmt:", 10))
			break;
		r = parse_field(l, type, name, &off, &size);
		if (r < 0)
			goto bad;
		if (r == 1 || !strncmp(name, "common_", 7))
			continue;
		if (!strcmp(name, "__syscall_nr")) {
			if (off != 8 || seen_nr)
				goto bad;
			seen_nr = 1;
			continue;
		}
		if (!seen_nr || f->nargs >= SR_NARGS || size != 8 ||
		    off != 16 + 8 * (long)f->nargs)
			goto bad;
		memcpy(f->arg_name[f->nargs], name, sizeof(name));
		memcpy(f->arg_type[f->nargs], type, sizeof(type));
		f->nargs++;
	}
	if (!seen_name || !seen_nr)
		goto bad;
	return 0;
bad:
	memset(f, 0, sizeof(*f));
	return -EINVAL;
}

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static int has_prefix(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strncmp(s, *list, strlen(*list)))
			return 1;
	return 0;
}

/* `char *` arguments that are strings although the type is not const
 * (mount's, uselib's). */
static const char *const str_names[] = {
	"filename", "pathname", "dev_name", "dir_name", "type", NULL
};
/* `const char *` arguments that are bytes of a length, not strings. */
static const char *const not_str_names[] = { "buf", "u_msg_ptr", NULL };
static const char *const buf_names[] = { "buf", "ubuf", "buff", NULL };
/* Which way a buffer goes when its type's const does not say (sendto's
 * buffer is a plain void *). */
static const char *const in_prefixes[] = { "write", "pwrite", "send", NULL };
static const char *const out_prefixes[] = { "read", "pread", "recv", "getcwd", NULL };

static int is_len_type(const char *t)
{
	static const char *const lens[] = {
		"size_t", "int", "unsigned int", "unsigned long", "long", NULL
	};
	return in_list(t, lens);
}

static int is_string(const char *type, const char *name)
{
	if (!strcmp(type, "const char *"))
		return !in_list(name, not_str_names);
	return !strcmp(type, "char *") && in_list(name, str_names);
}

void sysrec_layout_of(const struct sysrec_format *f, uint32_t buf_bytes,
		      struct sr_layout *lay)
{
	uint16_t bufmax = (uint16_t)(buf_bytes > SR_SEG_MAX ? SR_SEG_MAX : buf_bytes);

	memset(lay, 0, sizeof(*lay));
	lay->nargs = f->nargs;
	for (uint32_t i = 0; i < f->nargs; i++) {
		const char *t = f->arg_type[i], *n = f->arg_name[i];
		const char *nt = i + 1 < f->nargs ? f->arg_type[i + 1] : "";
		struct sr_argspec *s = &lay->a[i];

		if (!strcmp(t, "const char *const *")) {
			s->kind = SR_K_STRV;
		} else if (is_string(t, n)) {
			s->kind = SR_K_STR;
		} else if (!strcmp(t, "struct sockaddr *") && !strcmp(nt, "int")) {
			s->kind = SR_K_MEM_IN;
			s->len_arg = (uint8_t)(i + 1);
			s->max = SOCKADDR_MAX;
		} else if (!strcmp(t, "struct sockaddr *") && !strcmp(nt, "int *")) {
			s->kind = SR_K_MEM_OUTP;
			s->len_arg = (uint8_t)(i + 1);
			s->max = SOCKADDR_MAX;
		} else if ((!strcmp(t, "struct open_how *") || !strcmp(t, "struct clone_args *")) &&
			   !strcmp(nt, "size_t")) {
			s->kind = SR_K_MEM_IN;
			s->len_arg = (uint8_t)(i + 1);
			s->max = STRUCT_MAX;
		} else if (bufmax && in_list(n, buf_names) && is_len_type(nt) &&
			   strchr(t, '*')) {
			int in = !strncmp(t, "const ", 6);

			if (has_prefix(f->name, in_prefixes))
				in = 1;
			else if (has_prefix(f->name, out_prefixes))
				in = 0;
			s->kind = in ? SR_K_MEM_IN : SR_K_MEM_OUT;
			s->len_arg = (uint8_t)(in ? i + 1 : SR_LEN_RET);
			s->max = bufmax;
		}
		if (s->kind == SR_K_MEM_OUT || s->kind == SR_K_MEM_OUTP)
			lay->flags |= SR_LF_EXIT_MEM;
	}
}

static const char *const net_names[] = {
	"socket", "socketpair", "bind", "listen", "accept", "accept4", "connect",
	"getsockname", "getpeername", "sendto", "recvfrom", "setsockopt",
	"getsockopt", "shutdown", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", NULL
};
static const char *const process_names[] = {
	"clone", "clone3", "fork", "vfork", "execve", "execveat", "exit", "exit_group",
	"wait4", "waitid", "kill", "tkill", "tgkill", "ptrace", "prctl", "setsid",
	"setpgid", "setuid", "setgid", "setreuid", "setregid", "setresuid",
	"setresgid", "unshare", "setns", "pidfd_open", "pidfd_send_signal",
	"pidfd_getfd", "process_vm_readv", "process_vm_writev", "seccomp", NULL
};
static const char *const ipc_names[] = {
	"pipe", "pipe2", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop",
	"semctl", "semtimedop", "shmget", "shmat", "shmdt", "shmctl", "mq_open",
	"mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
	"eventfd", "eventfd2", "memfd_create", NULL
};
static const char *const fd_names[] = {
	"fd", "dfd", "olddfd", "newdfd", "fd_in", "fd_out", "oldfd", "newfd",
	"in_fd", "out_fd", "fromfd", "tofd", NULL
};

uint32_t sysrec_groups_of(const struct sysrec_format *f)
{
	uint32_t g = 0;

	if (in_list(f->name, net_names))
		g |= SYSREC_G_NET;
	if (in_list(f->name, process_names))
		g |= SYSREC_G_PROCESS;
	if (in_list(f->name, ipc_names))
		g |= SYSREC_G_IPC;
	if (!(g & SYSREC_G_NET)) {
		for (uint32_t i = 0; i < f->nargs; i++)
			if (is_string(f->arg_type[i], f->arg_name[i]) ||
			    in_list(f->arg_name[i], fd_names))
				g |= SYSREC_G_FILE;
	}
	return g;
}

/* The kernel names some syscalls after their implementation where the
 * UAPI header keeps the old name: newstat is __NR_stat, sendfile64 is
 * __NR_sendfile, umount is __NR_umount2. */
static int number_of(const char *name)
{
	char alt[SYSREC_NAME_MAX];
	size_t n = strlen(name);
	int nr = sysrec_nr_of(name);

	if (nr >= 0)
		return nr;
	if (!strncmp(name, "new", 3) && (nr = sysrec_nr_of(name + 3)) >= 0)
		return nr;
	if (n > 2 && n < sizeof(alt) && !strcmp(name + n - 2, "64")) {
		memcpy(alt, name, n - 2);
		alt[n - 2] = '\0';
		if ((nr = sysrec_nr_of(alt)) >= 0)
			return nr;
	}
	snprintf(alt, sizeof(alt), "%s2", name);
	return sysrec_nr_of(alt);
}

/* Syscalls that never come back to their caller's exit tracepoint: exit
 * and exit_group end the thread; rt_sigreturn restores a frame whose
 * orig_ax is -1, so its exit is no longer attributed to it. */
static const char *const noexit_names[] = { "exit", "exit_group", "rt_sigreturn", NULL };

static int cmp_sc(const void *a, const void *b)
{
	return strcmp(((const struct sysrec_sc *)a)->fmt.name,
		      ((const struct sysrec_sc *)b)->fmt.name);
}

static int has_syscall_events(const char *root)
{
	char p[192];
	struct stat st;

	snprintf(p, sizeof(p), "%s/events/syscalls", root);
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The tracefs with syscall events: mounted, or mounted by us. */
static int find_tracefs(char *out, size_t cap, char *msg, size_t mcap)
{
	static const char *const roots[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

	for (size_t i = 0; i < 2; i++) {
		if (has_syscall_events(roots[i])) {
			snprintf(out, cap, "%s", roots[i]);
			return 0;
		}
	}
	if (mount("tracefs", roots[0], "tracefs", 0, NULL) == 0 && has_syscall_events(roots[0])) {
		snprintf(out, cap, "%s", roots[0]);
		return 0;
	}
	snprintf(msg, mcap, "no tracefs with syscall events at /sys/kernel/tracing or "
		 "/sys/kernel/debug/tracing, and mounting tracefs on /sys/kernel/tracing "
		 "failed: %s (mount it, or run as root)", strerror(errno));
	return -ENOENT;
}

static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;

	if (fd < 0)
		return -errno;
	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*len = n;
	return n == cap ? -EFBIG : 0;
}

int sysrec_table_load(struct sysrec_table *t, const char *dir, uint32_t buf_bytes,
		      char *msg, size_t cap)
{
	char evdir[192], path[512];
	char *text = NULL;
	DIR *d = NULL;
	struct dirent *de;
	size_t have = 0;
	int err = 0;

	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < SR_MAX_NR; i++)
		t->by_nr[i] = -1;
	if (dir) {
		snprintf(evdir, sizeof(evdir), "%s", dir);
		snprintf(t->tracefs, sizeof(t->tracefs), "%s", dir);
	} else {
		err = find_tracefs(t->tracefs, sizeof(t->tracefs), msg, cap);
		if (err)
			return err;
		snprintf(evdir, sizeof(evdir), "%s/events/syscalls", t->tracefs);
	}
	d = opendir(evdir);
	text = malloc(FORMAT_MAX);
	if (!d || !text) {
		err = -errno;
		snprintf(msg, cap, "cannot read '%s': %s", evdir, strerror(errno));
		goto out;
	}
	while ((de = readdir(d))) {
		struct sysrec_sc *sc;
		size_t len = 0;

		if (strncmp(de->d_name, "sys_enter_", 10))
			continue;
		snprintf(path, sizeof(path), "%s/%s/format", evdir, de->d_name);
		err = read_small(path, text, FORMAT_MAX, &len);
		if (err) {
			snprintf(msg, cap, "cannot read '%s': %s", path, strerror(-err));
			goto out;
		}
		if (t->n == have) {
			size_t nh = have ? 2 * have : 512;
			struct sysrec_sc *ns = realloc(t->sc, nh * sizeof(*ns));

			if (!ns) {
				err = -ENOMEM;
				snprintf(msg, cap, "out of memory");
				goto out;
			}
			t->sc = ns;
			have = nh;
		}
		sc = &t->sc[t->n];
		memset(sc, 0, sizeof(*sc));
		err = sysrec_format_parse(text, len, &sc->fmt);
		if (err || strcmp(sc->fmt.name, de->d_name + 10)) {
			err = -EINVAL;
			snprintf(msg, cap, "'%s': not a syscall entry format", path);
			goto out;
		}
		sysrec_layout_of(&sc->fmt, buf_bytes, &sc->lay);
		sc->groups = sysrec_groups_of(&sc->fmt);
		sc->nr = number_of(sc->fmt.name);
		sc->noexit = in_list(sc->fmt.name, noexit_names);
		if (sc->nr < 0 || sc->nr >= (int)SR_MAX_NR) {
			sc->nr = -1;
			t->unnumbered++;
		}
		t->n++;
	}
	if (!t->n) {
		err = -ENOENT;
		snprintf(msg, cap, "'%s' has no sys_enter_* events", evdir);
		goto out;
	}
	qsort(t->sc, t->n, sizeof(*t->sc), cmp_sc);
	for (size_t i = 0; i < t->n; i++)
		if (t->sc[i].nr >= 0)
			t->by_nr[t->sc[i].nr] = (int16_t)i;
	err = 0;
out:
	if (d)
		closedir(d);
	free(text);
	if (err)
		sysrec_table_free(t);
	return err;
}

void sysrec_table_free(struct sysrec_table *t)
{
	if (!t)
		return;
	free(t->sc);
	t->sc = NULL;
	t->n = 0;
}

const struct sysrec_sc *sysrec_by_nr(const struct sysrec_table *t, uint64_t nr)
{
	if (!t || nr >= SR_MAX_NR || t->by_nr[nr] < 0)
		return NULL;
	return &t->sc[t->by_nr[nr]];
}

static uint32_t group_of_word(const char *w)
{
	static const struct { const char *name; uint32_t bits; } groups[] = {
		{ "file", SYSREC_G_FILE }, { "net", SYSREC_G_NET },
		{ "process", SYSREC_G_PROCESS }, { "ipc", SYSREC_G_IPC },
		{ "all", ~0u },
	};
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(w, groups[i].name))
			return groups[i].bits;
	return 0;
}

int sysrec_choose(struct sysrec_table *t, const char *list, char *msg, size_t cap)
{
	const char *p = list;
	int n = 0;

	if (!list || !*list) {
		snprintf(msg, cap, "empty syscall list");
		return -EINVAL;
	}
	while (*p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char w[SYSREC_NAME_MAX];
		uint32_t g;
		int found = 0;

		if (!len || len >= sizeof(w)) {
			snprintf(msg, cap, "invalid syscall list '%s': %s", list,
				 len ? "over-long name" : "empty name");
			return -EINVAL;
		}
		memcpy(w, p, len);
		w[len] = '\0';
		if (!strncmp(w, "sys_", 4) && !group_of_word(w))
			memmove(w, w + 4, len - 3);
		g = group_of_word(w);
		for (size_t i = 0; i < t->n; i++) {
			struct sysrec_sc *sc = &t->sc[i];

			if (g ? !(sc->groups & g) && g != ~0u : strcmp(sc->fmt.name, w))
				continue;
			if (sc->nr < 0) {
				if (!g) {
					snprintf(msg, cap, "syscall '%s': no x86-64 number known", w);
					return -EINVAL;
				}
				continue;
			}
			found = 1;
			if (!sc->chosen)
				n++;
			sc->chosen = 1;
		}
		if (!found) {
			snprintf(msg, cap, "unknown syscall or group '%s' (groups: file, net, "
				 "process, ipc, all; names as under %s/events/syscalls)", w,
				 t->tracefs);
			return -EINVAL;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return n;
}
