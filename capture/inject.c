/*
 * inject.c - capture of the victim's bytes after a write by another
 * process (inject.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "inject.h"
#include "proc.h"
#include "sink.h"
#include "writeq.h"

#define PAGE 4096ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The injections row of w's part [a, e) (e == a: SETREGS). */
static struct emt_injection *row_of(const struct inject_write *w, uint64_t a, uint64_t e)
{
	struct emt_injection *inj = calloc(1, sizeof(*inj));

	if (!inj)
		return NULL;
	inj->time_ns = w->time_ns;
	inj->writer_pid = (uint32_t)w->writer;
	inj->writer_tid = (uint32_t)w->writer_tid;
	inj->victim_pid = (uint32_t)w->victim;
	inj->method = (uint32_t)w->method;
	inj->addr = a;
	inj->length = e - a;
	inj->has_word = (uint32_t)!!w->has_word;
	inj->word = w->word;
	return inj;
}

/* Captures [ps, pe) of mapping m (pages) with the row of [a, e). */
static int capture_part(struct emt_session *s, struct writeq *q, const struct inject_write *w,
			const struct proc_map *m, uint64_t ps, uint64_t pe, uint64_t a,
			uint64_t e, int64_t follow)
{
	struct writeq_capture c = {
		.pid = w->victim, .tid = w->victim, .addr = ps, .size = pe - ps,
		.trigger = EMT_TRIGGER_INJECT, .prot_before = m->prot, .prot_after = m->prot,
		.inj_follow = follow,
	};
	struct sink_backing bk = { proc_map_backing(m), m->path[0] ? m->path : NULL,
				   m->inode, m->dev, m->offset + (ps - m->start) };
	int err;

	c.inj = row_of(w, a, e);
	c.buf = malloc(c.size);
	if (!c.inj || !c.buf) {
		free(c.inj);
		free(c.buf);
		return emt_session_fail(s, -ENOMEM, "out of memory");
	}
	err = proc_read_mem(w->victim, ps, c.size, c.buf, &c.gaps, &c.ngaps);
	if (err) {
		free(c.inj);
		free(c.buf);
		return err;     /* -ESRCH: gone; the caller records the row alone */
	}
	c.time_ns = now_ns();
	if (w->has_regs) {
		c.has_regs = 1;
		c.regs = w->regs;
	}
	int64_t id = sink_region_update(s->sink, w->victim, ps, c.size, m->prot, &bk, c.time_ns);

	if (id < 0) {
		free(c.inj);
		free(c.buf);
		free(c.gaps);
		return (int)id;
	}
	c.region_id = id;
	err = writeq_capture(q, &c);
	return err ? emt_session_fail(s, err, "archive: %s",
				      emt_writer_errmsg(sink_writer(s->sink))) : 0;
}

int inject_capture(struct emt_session *s, struct writeq *q, const struct inject_write *w)
{
	uint64_t a = w->addr, e = w->len ? a + w->len : a + 1;
	struct proc_map *maps = NULL;
	size_t n = 0;
	int err = 0, parts = 0;
	int64_t follow = w->follow_process_id;

	if (e < a)
		e = UINT64_MAX;
	if (!w->no_capture && proc_maps_read(w->victim, &maps, &n) < 0)
		n = 0;
	for (size_t i = 0; i < n && !err; i++) {
		const struct proc_map *m = &maps[i];

		if (m->end <= a || m->start >= e)
			continue;
		uint64_t pa = a > m->start ? a : m->start;
		uint64_t pz = e < m->end ? e : m->end;
		uint64_t ps = pa & ~(PAGE - 1);
		uint64_t pe = (pz + PAGE - 1) & ~(PAGE - 1);

		if (pe - ps > EMT_CAPTURE_SIZE_MAX) {
			pe = ps + EMT_CAPTURE_SIZE_MAX;
			err = sink_loss(s->sink, "capture-too-large", 1, w->victim, now_ns());
		}
		/* SETREGS: the row says the rip, length 0. */
		if (!err)
			err = capture_part(s, q, w, m, ps, pe, pa, w->len ? pz : pa, follow);
		if (err == -ESRCH)
			break;
		if (!err) {
			parts++;
			follow = 0;     /* the reason once, with the first part */
		}
	}
	proc_maps_free(maps, n);
	if (err && err != -ESRCH)
		return err;
	if (parts)
		return 0;
	/* Nothing mapped there (or the victim is gone): the row alone.  It
	 * takes no seq, so it need not wait behind the queued captures. */
	struct emt_injection *inj = row_of(w, a, w->len ? e : a);

	if (!inj)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	err = sink_injection(s->sink, inj, 0, follow);
	free(inj);
	return err;
}

int inject_read_iovs(pid_t pid, uint64_t iov, uint64_t cnt, struct iovec *v, size_t cap)
{
	struct emt_gap *gaps = NULL;
	size_t ng = 0;

	if (cnt > cap)
		cnt = cap;
	if (cnt == 0)
		return 0;
	int err = proc_read_mem(pid, iov, cnt * sizeof(*v), v, &gaps, &ng);

	free(gaps);
	if (err)
		return err;
	return ng ? -EFAULT : (int)cnt;
}

int inject_mem_fd_victim(pid_t pid, uint64_t fd)
{
	char path[64], target[128];
	ssize_t n;
	int v, t, end = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd/%llu", (int)pid, (unsigned long long)fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	/* Other files of /proc/PID (status, attr/...) write no memory. */
	if ((sscanf(target, "/proc/%d/mem%n", &v, &end) != 1 || target[end]) &&
	    (sscanf(target, "/proc/%d/task/%d/mem%n", &v, &t, &end) != 2 || target[end]))
		return -EINVAL;
	return v > 0 ? v : -EINVAL;
}

int inject_fd_pos(pid_t pid, uint64_t fd, uint64_t *pos)
{
	char path[64], buf[256];
	unsigned long long p;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%llu", (int)pid, (unsigned long long)fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	n = read(f, buf, sizeof(buf) - 1);
	close(f);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	/* "pos:\t%lli": strtoull's reading of a negative one (a /proc/PID/mem
	 * position past 2^63) is the position itself. */
	if (sscanf(buf, "pos: %llu", &p) != 1)
		return -EIO;
	*pos = p;
	return 0;
}
