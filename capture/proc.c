/*
 * proc.c - /proc parsing and remote memory reads (see proc.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "proc.h"

#define PAGE 4096ull

int proc_parse_maps_line(const char *line, struct proc_map *m)
{
	unsigned long long start, end, off, ino;
	unsigned int maj, min;
	char perms[8];
	int n = 0;

	memset(m, 0, sizeof(*m));
	if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu%n", &start, &end,
		   perms, &off, &maj, &min, &ino, &n) != 7 || end < start ||
	    strlen(perms) != 4)
		return -EINVAL;
	m->start = start;
	m->end = end;
	m->offset = off;
	m->inode = ino;
	m->dev = makedev(maj, min);
	m->prot = (perms[0] == 'r' ? PROT_READ : 0) |
		  (perms[1] == 'w' ? PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROT_EXEC : 0);
	m->shared = perms[3] == 's';
	/* The path starts after the padding spaces and runs to end of line
	 * (the kernel escapes newlines in names as \012). */
	const char *p = line + n;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t len = strcspn(p, "\n");
	m->path = strndup(p, len);
	return m->path ? 0 : -ENOMEM;
}

void proc_maps_free(struct proc_map *maps, size_t n)
{
	if (!maps)
		return;
	for (size_t i = 0; i < n; i++)
		free(maps[i].path);
	free(maps);
}

/* The path of file WHAT of a live thread of process pid, for when the
 * leader has exited (a zombie whose siblings run: its maps, exe, cmdline
 * and memory are gone).  Returns 0, or -errno (-ESRCH: no live thread). */
static int live_thread_path(pid_t pid, const char *what, char *buf, size_t cap)
{
	pid_t t = proc_live_thread(pid);

	if (t < 0)
		return t;
	snprintf(buf, cap, "/proc/%d/task/%d/%s", (int)pid, (int)t, what);
	return 0;
}

static int maps_read_from(const char *path, struct proc_map **maps, size_t *n)
{
	char *line = NULL;
	size_t linecap = 0, cnt = 0, cap = 0;
	struct proc_map *v = NULL;
	int err = 0;
	FILE *f;

	*maps = NULL;
	*n = 0;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (getline(&line, &linecap, f) > 0) {
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct proc_map *nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		err = proc_parse_maps_line(line, &v[cnt]);
		if (err == -EINVAL) {   /* skip a line we do not understand */
			err = 0;
			continue;
		}
		if (err)
			break;
		cnt++;
	}
	free(line);
	fclose(f);
	if (err) {
		proc_maps_free(v, cnt);
		return err;
	}
	*maps = v;
	*n = cnt;
	return 0;
}

int proc_maps_read(pid_t pid, struct proc_map **maps, size_t *n)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	int err = maps_read_from(path, maps, n);
	/* A live process always has mappings: none means a zombie leader. */
	if (err || *n)
		return err;
	free(*maps);
	*maps = NULL;
	if (live_thread_path(pid, "maps", path, sizeof(path)) != 0)
		return 0;
	return maps_read_from(path, maps, n);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

uint32_t proc_map_backing(const struct proc_map *m)
{
	const char *p = m->path ? m->path : "";

	if (strncmp(p, "/memfd:", 7) == 0)
		return EMT_BACKING_MEMFD;
	if (strncmp(p, "/dev/zero", 9) == 0 || strncmp(p, "/SYSV", 5) == 0 ||
	    (m->shared && m->inode == 0))
		return EMT_BACKING_SHARED;
	if (m->inode == 0 || p[0] != '/')
		return EMT_BACKING_ANON;   /* [heap], [stack], [anon:x], "" */
	if (ends_with(p, " (deleted)"))
		return EMT_BACKING_DELETED;
	if (strncmp(p, "/dev/", 5) == 0)
		return EMT_BACKING_OTHER;
	return EMT_BACKING_FILE;
}

int proc_read_exe(pid_t pid, char *buf, size_t cap)
{
	char path[96];
	ssize_t n;

	if (cap == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, buf, cap - 1);
	if (n < 0 && errno == ENOENT && live_thread_path(pid, "exe", path, sizeof(path)) == 0)
		n = readlink(path, buf, cap - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* Reads a whole small /proc file into buf (NUL-terminated); returns its
 * length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got + 1 < cap) {
		ssize_t r = read(fd, buf + got, cap - 1 - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

int proc_read_cmdline(pid_t pid, char *buf, size_t cap)
{
	char path[96];
	ssize_t n;

	if (cap == 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = read_small(path, buf, cap);
	if (n == 0 && live_thread_path(pid, "cmdline", path, sizeof(path)) == 0)
		n = read_small(path, buf, cap);
	if (n < 0)
		return (int)n;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return 0;
}

/* Returns a pointer just past the ")" ending the comm field of a stat
 * line (comm may itself contain ")" and spaces). */
static const char *stat_after_comm(const char *s)
{
	const char *p = strrchr(s, ')');
	return p ? p + 1 : NULL;
}

int proc_read_ppid(pid_t pid)
{
	char path[64], buf[1024];
	ssize_t n;
	char state;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	const char *p = stat_after_comm(buf);
	if (!p || sscanf(p, " %c %d", &state, &ppid) != 2)
		return -EINVAL;
	return ppid;
}

/* The state letter of the stat file at path, or -errno. */
static int stat_state(const char *path)
{
	char buf[1024], state;
	ssize_t n = read_small(path, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	const char *p = stat_after_comm(buf);
	if (!p || sscanf(p, " %c", &state) != 1)
		return -EINVAL;
	return (unsigned char)state;
}

int proc_read_state(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return stat_state(path);
}

/* The number after "KEY:" in /proc/PID/status into *val.  Returns 0 or
 * -errno (-EINVAL: no such line). */
static int status_int(pid_t pid, const char *key, int *val)
{
	char path[64], buf[4096], line[32];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	snprintf(line, sizeof(line), "\n%s:", key);
	const char *p = strstr(buf, line);
	if (!p || sscanf(p + strlen(line), " %d", val) != 1)
		return -EINVAL;
	return 0;
}

int proc_group_alive(pid_t pid)
{
	int st = proc_read_state(pid), threads;

	if (st == -ENOENT || st == -ESRCH)
		return 0;
	if (st < 0)
		return st;
	if (st != 'Z' && st != 'X')
		return 1;
	/* Threads: counts the zombie leader until the group is reaped. */
	int err = status_int(pid, "Threads", &threads);
	if (err == -ENOENT || err == -ESRCH)
		return 0;
	return err < 0 ? err : threads > 1;
}

pid_t proc_live_thread(pid_t pid)
{
	char path[96];
	pid_t *tids, found = -ESRCH;
	size_t n;
	int err = proc_list_tasks(pid, &tids, &n);

	if (err)
		return err == -ENOENT ? -ESRCH : err;
	for (size_t i = 0; i < n && found < 0; i++) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tids[i]);
		int st = stat_state(path);
		if (st > 0 && st != 'Z' && st != 'X')
			found = tids[i];
	}
	free(tids);
	return found;
}

int proc_read_tgid(pid_t tid)
{
	int tgid, err = status_int(tid, "Tgid", &tgid);

	if (err)
		return err;
	return tgid > 0 ? tgid : -EINVAL;
}

int proc_read_tracer(pid_t tid)
{
	int tracer, err = status_int(tid, "TracerPid", &tracer);

	return err ? err : tracer;
}

int proc_list_tasks(pid_t pid, pid_t **tids, size_t *n)
{
	char path[64];
	size_t cnt = 0, cap = 0;
	pid_t *v = NULL;
	struct dirent *de;
	DIR *d;

	*tids = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			pid_t *nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[cnt++] = (pid_t)strtol(de->d_name, NULL, 10);
	}
	closedir(d);
	*tids = v;
	*n = cnt;
	return 0;
}

int proc_gap_add(struct emt_gap **gaps, size_t *ngaps, size_t *cap,
		 uint64_t off, uint64_t len, uint32_t reason, int32_t err)
{
	if (*ngaps) {
		struct emt_gap *last = &(*gaps)[*ngaps - 1];
		if (last->offset + last->length == off &&
		    last->reason == reason && last->err == err) {
			last->length += len;
			return 0;
		}
	}
	if (*ngaps == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct emt_gap *nv = realloc(*gaps, nc * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*gaps = nv;
		*cap = nc;
	}
	(*gaps)[(*ngaps)++] = (struct emt_gap){
		.offset = off, .length = len, .reason = reason, .err = err,
	};
	return 0;
}

int proc_read_mem(pid_t pid, uint64_t addr, uint64_t len, void *buf,
		  struct emt_gap **gaps, size_t *ngaps)
{
	size_t gcap = 0;
	uint64_t off = 0;
	int err, via_thread = 0;

	*gaps = NULL;
	*ngaps = 0;
	/* One call reads up to the first unreadable page; skip that page,
	 * record it, continue.  Large chunks keep this at a few syscalls for
	 * the usual fully readable range. */
	while (off < len) {
		uint64_t want = len - off;
		if (want > (64ull << 20))
			want = 64ull << 20;
		struct iovec lv = { (char *)buf + off, want };
		struct iovec rv = { (void *)(uintptr_t)(addr + off), want };
		ssize_t r = process_vm_readv(pid, &lv, 1, &rv, 1, 0);
		if (r > 0) {
			off += (uint64_t)r;
			continue;
		}
		if (r < 0 && errno == ESRCH && !via_thread) {
			/* The leader's mm is gone with it; its siblings'
			 * is the same one. */
			via_thread = 1;
			pid_t t = proc_live_thread(pid);
			if (t > 0) {
				pid = t;
				continue;
			}
			errno = ESRCH;
		}
		if (r < 0 && (errno == ESRCH || errno == ENOMEM) &&
		    kill(pid, 0) < 0 && errno == ESRCH) {
			free(*gaps);
			*gaps = NULL;
			*ngaps = 0;
			return -ESRCH;
		}
		int e = r < 0 ? errno : EIO;
		if (r < 0 && e == ESRCH) {
			free(*gaps);
			*gaps = NULL;
			*ngaps = 0;
			return -ESRCH;
		}
		/* The failing page: from off to the next page boundary. */
		uint64_t a = addr + off;
		uint64_t next = (a & ~(PAGE - 1)) + PAGE;
		uint64_t glen = next - a;
		if (glen > len - off)
			glen = len - off;
		memset((char *)buf + off, 0, glen);
		err = proc_gap_add(gaps, ngaps, &gcap, off, glen,
				   EMT_GAP_UNREADABLE, e);
		if (err) {
			free(*gaps);
			*gaps = NULL;
			*ngaps = 0;
			return err;
		}
		off += glen;
	}
	return 0;
}
