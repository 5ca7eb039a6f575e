/*
 * sink.c - archive sink and region tracker shared by the engines (sink.h).
 *
 * Model: a region is one mapping [start, start+len) over its lifetime.
 * A range given to sink_region_update() that lies inside a live part of a
 * region of the process belongs to it (LuaJIT's mprotect of its whole
 * mcode area is a new version of the region created by the earlier mmap);
 * a range that is new, or only partly overlaps, creates a region.
 * Engines call sink_region_unmap() first for a fresh mmap, so MAP_FIXED
 * replacements close the old regions.  An unmap of part of a region
 * leaves it alive in the parts still mapped (its spans): a later mapping
 * in the hole is a region of its own, and the region is gone with its
 * last span.  RWX state is tracked separately per page range
 * because an mprotect can change the protections of part of a region.
 *
 * An execve'd process image gets a new archive process row (same pid) so
 * that exe/cmdline describe the image the regions belong to.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "engine.h"
#include "inject_links.h"
#include "proc.h"
#include "sink.h"

#define SINK_BUCKETS 256

/* A still-mapped part of a region; a region has one or more (after
 * unmaps of its middle), all with its id. */
struct sink_region {
	int64_t  id;
	uint64_t start, len;
};

struct sink_proc {
	pid_t    pid;
	int64_t  id;            /* archive process id of the current image */
	struct sink_region *regs;
	size_t   nregs, cap_regs;
	struct sink_rwx *rwx;   /* ranges currently W and X */
	size_t   nrwx, cap_rwx;
	int      exited;
	struct sink_proc *next;
};

struct emt_sink {
	struct emt_session *s;
	struct emt_writer *w;
	struct sink_proc *tab[SINK_BUCKETS];
	struct inject_links *links;     /* injected ranges (sink_injection) */
};

static int werr(struct emt_sink *k, int err, const char *what)
{
	return emt_session_fail(k->s, err, "archive: %s: %s", what,
				emt_writer_errmsg(k->w));
}

struct emt_sink *sink_open(struct emt_session *s,
			   const struct emt_writer_opts *wo)
{
	struct emt_sink *k = calloc(1, sizeof(*k));
	char *msg = NULL;

	if (!k) {
		emt_session_fail(s, -ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	k->s = s;
	k->links = inject_links_new();
	if (!k->links) {
		emt_session_fail(s, -ENOMEM, "out of memory");
		free(k);
		errno = ENOMEM;
		return NULL;
	}
	k->w = emt_writer_create(s->opts.output, wo, &msg);
	if (!k->w) {
		int e = errno ? errno : EIO;
		emt_session_fail(s, -e, "cannot create '%s': %s",
				 s->opts.output, msg ? msg : strerror(e));
		free(msg);
		inject_links_free(k->links);
		free(k);
		errno = e;
		return NULL;
	}
	return k;
}

struct emt_writer *sink_writer(struct emt_sink *k)
{
	return k->w;
}

static void proc_free(struct sink_proc *p)
{
	free(p->regs);
	free(p->rwx);
	free(p);
}

int sink_close(struct emt_sink *k)
{
	return sink_close_seal(k, NULL, 0);
}

int sink_close_seal(struct emt_sink *k, uint8_t seal[EMT_SHA256_LEN], int discard)
{
	char *msg = NULL;
	int err = 0;

	if (!k)
		return 0;
	if (discard) {
		emt_writer_abandon(k->w);
		k->w = NULL;
	} else {
		err = emt_writer_close_seal(k->w, seal, &msg);
	}
	if (err)
		emt_session_fail(k->s, err, "cannot seal '%s': %s",
				 k->s->opts.output, msg ? msg : strerror(-err));
	free(msg);
	for (size_t i = 0; i < SINK_BUCKETS; i++) {
		struct sink_proc *p = k->tab[i], *n;
		for (; p; p = n) {
			n = p->next;
			proc_free(p);
		}
	}
	inject_links_free(k->links);
	free(k);
	return err;
}

static struct sink_proc *proc_find(struct emt_sink *k, pid_t pid)
{
	struct sink_proc *p = k->tab[(uint32_t)pid % SINK_BUCKETS];
	for (; p; p = p->next)
		if (p->pid == pid)
			return p;
	return NULL;
}

/* Adds an archive process row for pid's current image into p->id. */
static int add_process_row(struct emt_sink *k, struct sink_proc *p,
			   pid_t ppid, uint64_t time_ns, const char *exe_in,
			   const char *cmd_in)
{
	char exe[4096], cmd[8192];
	struct emt_process r = {
		.pid = (uint32_t)p->pid,
		.ppid = (uint32_t)ppid,
		.start_ns = time_ns,
		.exe = exe_in,
		.cmdline = cmd_in,
	};
	if (!r.exe && proc_read_exe(p->pid, exe, sizeof(exe)) == 0)
		r.exe = exe;
	if (!r.cmdline && proc_read_cmdline(p->pid, cmd, sizeof(cmd)) == 0)
		r.cmdline = cmd;
	int err = emt_writer_add_process(k->w, &r);
	if (err)
		return werr(k, err, "add process");
	p->id = r.id;
	return 0;
}

static int process_start(struct emt_sink *k, pid_t pid, pid_t ppid,
			 uint64_t time_ns, const char *exe, const char *cmd)
{
	struct sink_proc *p = proc_find(k, pid);

	if (p && !p->exited)
		return 0;
	if (p) {   /* pid reused after an exit we saw: a new process */
		/* Not at the exit itself: captures of the old process
		 * queued before it may still be written, and linked. */
		inject_links_forget(k->links, pid);
		p->nregs = p->nrwx = 0;
		p->exited = 0;
	} else {
		p = calloc(1, sizeof(*p));
		if (!p)
			return emt_session_fail(k->s, -ENOMEM, "out of memory");
		p->pid = pid;
		p->next = k->tab[(uint32_t)pid % SINK_BUCKETS];
		k->tab[(uint32_t)pid % SINK_BUCKETS] = p;
	}
	if (ppid <= 0) {
		int pp = proc_read_ppid(pid);
		ppid = pp > 0 ? pp : 0;
	}
	return add_process_row(k, p, ppid, time_ns, exe, cmd);
}

int sink_process_start(struct emt_sink *k, pid_t pid, pid_t ppid,
		       uint64_t time_ns)
{
	return process_start(k, pid, ppid, time_ns, NULL, NULL);
}

/* The tracked process for pid, started on first sight. */
static struct sink_proc *proc_get(struct emt_sink *k, pid_t pid,
				  uint64_t time_ns)
{
	struct sink_proc *p = proc_find(k, pid);
	if (p && !p->exited)
		return p;
	if (sink_process_start(k, pid, 0, time_ns))
		return NULL;
	return proc_find(k, pid);
}

static int close_all_regions(struct emt_sink *k, struct sink_proc *p,
			     uint64_t time_ns)
{
	int ret = 0;
	for (size_t i = 0; i < p->nregs; i++) {
		int err = emt_writer_region_gone(k->w, p->regs[i].id, time_ns);
		if (err && !ret)
			ret = werr(k, err, "region gone");
	}
	p->nregs = 0;
	p->nrwx = 0;
	return ret;
}

int sink_process_exec(struct emt_sink *k, pid_t pid, uint64_t time_ns)
{
	return sink_process_exec_image(k, pid, time_ns, NULL, NULL);
}

int sink_process_exec_image(struct emt_sink *k, pid_t pid, uint64_t time_ns,
			    const char *exe, const char *cmdline)
{
	struct sink_proc *p = proc_find(k, pid);
	int err;

	/* First sight of the process (a launched command's first exec):
	 * one row, describing the new image. */
	if (!p || p->exited)
		return process_start(k, pid, 0, time_ns, exe, cmdline);
	err = close_all_regions(k, p, time_ns);
	if (err)
		return err;
	int pp = proc_read_ppid(pid);
	return add_process_row(k, p, pp > 0 ? pp : 0, time_ns, exe, cmdline);
}

int sink_process_exit(struct emt_sink *k, pid_t pid, uint64_t time_ns,
		      int status)
{
	struct sink_proc *p = proc_find(k, pid);
	int err;

	if (!p || p->exited)
		return 0;
	err = close_all_regions(k, p, time_ns);
	p->exited = 1;
	int e2 = emt_writer_process_exit(k->w, p->id, time_ns, status);
	if (e2 && !err)
		err = werr(k, e2, "process exit");
	return err;
}

/* Removes [addr, end) from the RWX ranges of p, splitting ranges that
 * straddle it.  Returns 0 or -ENOMEM. */
static int rwx_cut(struct sink_proc *p, uint64_t addr, uint64_t end)
{
	for (size_t i = 0; i < p->nrwx;) {
		struct sink_rwx *r = &p->rwx[i];
		uint64_t rs = r->addr, re = r->addr + r->len;
		if (re <= addr || rs >= end) {
			i++;
			continue;
		}
		if (rs < addr && re > end) {   /* split in two */
			if (p->nrwx == p->cap_rwx) {
				size_t nc = p->cap_rwx ? p->cap_rwx * 2 : 8;
				struct sink_rwx *nv = realloc(p->rwx, nc * sizeof(*nv));
				if (!nv)
					return -ENOMEM;
				p->rwx = nv;
				p->cap_rwx = nc;
				r = &p->rwx[i];
			}
			struct sink_rwx tail = *r;
			tail.addr = end;
			tail.len = re - end;
			r->len = addr - rs;
			p->rwx[p->nrwx++] = tail;
			i++;
			continue;
		}
		if (rs < addr) {
			r->len = addr - rs;
			i++;
		} else if (re > end) {
			r->len = re - end;
			r->addr = end;
			i++;
		} else {
			p->rwx[i] = p->rwx[--p->nrwx];
		}
	}
	return 0;
}

/* Makes room for one more span in p->regs.  Returns 0 or -ENOMEM. */
static int regs_grow(struct sink_proc *p)
{
	if (p->nregs < p->cap_regs)
		return 0;
	size_t nc = p->cap_regs ? p->cap_regs * 2 : 16;
	struct sink_region *nv = realloc(p->regs, nc * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	p->regs = nv;
	p->cap_regs = nc;
	return 0;
}

int64_t sink_region_update(struct emt_sink *k, pid_t pid, uint64_t addr,
			   uint64_t len, uint32_t prot,
			   const struct sink_backing *b, uint64_t time_ns)
{
	struct sink_proc *p = proc_get(k, pid, time_ns);
	int64_t id = 0;
	int err;

	if (!p)
		return -ESRCH;
	if (len == 0)
		return emt_session_fail(k->s, -EINVAL,
					"empty range at 0x%llx of pid %d",
					(unsigned long long)addr, (int)pid);
	for (size_t i = 0; i < p->nregs; i++) {
		struct sink_region *r = &p->regs[i];
		if (r->start <= addr && addr + len <= r->start + r->len) {
			id = r->id;
			break;
		}
	}
	if (!id) {
		struct emt_region rg = {
			.process_id = p->id,
			.pid = (uint32_t)pid,
			.backing = b ? b->kind : EMT_BACKING_ANON,
			.start = addr,
			.length = len,
			.created_ns = time_ns,
			.path = b ? b->path : NULL,
			.inode = b ? b->inode : 0,
			.dev = b ? b->dev : 0,
			.offset = b ? b->offset : 0,
			.prot = prot,
		};
		err = emt_writer_add_region(k->w, &rg);
		if (err)
			return werr(k, err, "add region");
		if (regs_grow(p))
			return emt_session_fail(k->s, -ENOMEM, "out of memory");
		p->regs[p->nregs++] = (struct sink_region){ rg.id, addr, len };
		id = rg.id;
	}
	if (rwx_cut(p, addr, addr + len))
		return emt_session_fail(k->s, -ENOMEM, "out of memory");
	if ((prot & (PROT_WRITE | PROT_EXEC)) == (PROT_WRITE | PROT_EXEC)) {
		if (p->nrwx == p->cap_rwx) {
			size_t nc = p->cap_rwx ? p->cap_rwx * 2 : 8;
			struct sink_rwx *nv = realloc(p->rwx, nc * sizeof(*nv));
			if (!nv)
				return emt_session_fail(k->s, -ENOMEM, "out of memory");
			p->rwx = nv;
			p->cap_rwx = nc;
		}
		p->rwx[p->nrwx++] = (struct sink_rwx){
			.region_id = id, .addr = addr, .len = len, .prot = prot,
		};
	}
	return id;
}

int sink_region_unmap(struct emt_sink *k, pid_t pid, uint64_t addr,
		      uint64_t len, uint64_t time_ns)
{
	struct sink_proc *p = proc_find(k, pid);
	uint64_t end = addr + len;
	int ret = 0;

	if (!p || p->exited)
		return 0;
	/* Spans lose what the range covers; a region is gone with its last
	 * span, and lives on in the pages still mapped. */
	for (size_t i = 0; i < p->nregs;) {
		struct sink_region *r = &p->regs[i];
		uint64_t rs = r->start, re = r->start + r->len;
		if (re <= addr || rs >= end) {
			i++;
			continue;
		}
		if (rs < addr && re > end) {    /* a hole in the middle */
			if (regs_grow(p))
				return emt_session_fail(k->s, -ENOMEM, "out of memory");
			r = &p->regs[i];
			p->regs[p->nregs++] = (struct sink_region){ r->id, end, re - end };
			r->len = addr - rs;
			i++;
			continue;
		}
		if (rs < addr || re > end) {    /* one end cut off */
			r->start = rs < addr ? rs : end;
			r->len = rs < addr ? addr - rs : re - end;
			i++;
			continue;
		}
		int64_t id = r->id;
		int more = 0;
		p->regs[i] = p->regs[--p->nregs];
		for (size_t j = 0; j < p->nregs && !more; j++)
			more = p->regs[j].id == id;
		if (!more) {
			int err = emt_writer_region_gone(k->w, id, time_ns);
			if (err && !ret)
				ret = werr(k, err, "region gone");
		}
	}
	if (rwx_cut(p, addr, end) && !ret)
		ret = emt_session_fail(k->s, -ENOMEM, "out of memory");
	return ret;
}

int sink_capture(struct emt_sink *k, int64_t region_id, pid_t pid, pid_t tid,
		 uint64_t addr, uint64_t size, const void *data,
		 const struct emt_gap *gaps, size_t ngaps,
		 enum emt_trigger trigger, uint32_t prot_before,
		 uint32_t prot_after, uint64_t time_ns,
		 const struct emt_regs_x86_64 *regs, uint64_t *seq_out)
{
	struct emt_capture c = {
		.region_id = region_id,
		.pid = (uint32_t)pid,
		.tid = (uint32_t)tid,
		.trigger = trigger,
		.prot_before = prot_before,
		.prot_after = prot_after,
		.addr = addr,
		.size = size,
		.time_ns = time_ns,
	};
	int err = emt_writer_add_capture(k->w, &c, data, gaps, ngaps, regs);
	if (err)
		return werr(k, err, "add capture");
	if (seq_out)
		*seq_out = c.seq;
	/* A later capture of injected bytes (their execution, most often)
	 * says which injection put them there. */
	int64_t inj = trigger == EMT_TRIGGER_INJECT ? 0 :
		      inject_links_find(k->links, pid, addr, size);
	if (inj > 0 && (err = emt_writer_link_injection(k->w, c.seq, inj)) != 0)
		return werr(k, err, "link injection");
	return 0;
}

int sink_event(struct emt_sink *k, const struct emt_event *e)
{
	struct emt_event copy = *e;
	int err = emt_writer_add_event(k->w, &copy);
	return err ? werr(k, err, "add event") : 0;
}

int sink_loss(struct emt_sink *k, const char *kind, uint64_t count,
	      pid_t pid, uint64_t time_ns)
{
	struct emt_loss l = {
		.time_ns = time_ns, .kind = kind, .count = count,
		.pid = (uint32_t)(pid > 0 ? pid : 0),
	};
	if (count == 0)
		return 0;
	int err = emt_writer_add_loss(k->w, &l);
	return err ? werr(k, err, "add loss") : 0;
}

int sink_tick(struct emt_sink *k)
{
	int err = emt_writer_tick(k->w);
	return err < 0 ? werr(k, err, "commit") : 0;
}

int sink_for_each_rwx(struct emt_sink *k, pid_t pid,
		      int (*fn)(void *ctx, const struct sink_rwx *r), void *ctx)
{
	struct sink_proc *p = proc_find(k, pid);

	if (!p || p->exited || p->nrwx == 0)
		return 0;
	/* Iterate over a snapshot: fn may capture and update regions, which
	 * changes the live list. */
	size_t n = p->nrwx;
	struct sink_rwx *snap = malloc(n * sizeof(*snap));
	if (!snap)
		return emt_session_fail(k->s, -ENOMEM, "out of memory");
	memcpy(snap, p->rwx, n * sizeof(*snap));
	int ret = 0;
	for (size_t i = 0; i < n && !ret; i++)
		ret = fn(ctx, &snap[i]);
	free(snap);
	return ret;
}

int sink_baseline(struct emt_sink *k, pid_t pid, int capture_files,
		  int (*fn)(void *ctx, const struct proc_map *m, int64_t region_id),
		  void *ctx)
{
	struct proc_map *maps;
	size_t n;
	struct timespec ts;
	int err = proc_maps_read(pid, &maps, &n);

	if (err)
		return emt_session_fail(k->s, err, "cannot read maps of pid %d: %s",
					(int)pid, strerror(-err));
	for (size_t i = 0; i < n && !err; i++) {
		struct proc_map *m = &maps[i];
		uint32_t kind = proc_map_backing(m);
		uint64_t len = m->end - m->start;
		if (!(m->prot & PROT_EXEC) || strncmp(m->path, "[v", 2) == 0)
			continue;
		clock_gettime(CLOCK_BOOTTIME, &ts);
		uint64_t t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		struct sink_backing bk = { kind, m->path[0] ? m->path : NULL,
					   m->inode, m->dev, m->offset };
		int64_t id = sink_region_update(k, pid, m->start, len, m->prot, &bk, t0);
		if (id < 0) {
			err = (int)id;
			break;
		}
		if (kind == EMT_BACKING_FILE && !capture_files)
			continue;
		void *buf = malloc(len ? len : 1);
		struct emt_gap *gaps = NULL;
		size_t ng = 0;
		if (!buf) {
			err = emt_session_fail(k->s, -ENOMEM, "out of memory");
			break;
		}
		err = proc_read_mem(pid, m->start, len, buf, &gaps, &ng);
		if (!err)
			err = sink_capture(k, id, pid, pid, m->start, len, buf, gaps, ng,
					   EMT_TRIGGER_BASELINE, m->prot, m->prot, t0,
					   NULL, NULL);
		else if (err == -ESRCH)
			err = emt_session_fail(k->s, err, "pid %d exited during baseline",
					       (int)pid);
		free(buf);
		free(gaps);
		if (!err && fn && ((m->prot & PROT_WRITE) ||
				   (m->shared && kind != EMT_BACKING_FILE)))
			err = fn(ctx, m, id);
	}
	proc_maps_free(maps, n);
	return err;
}

/* ---- Injections (issue 15) ---- */

int64_t sink_process_id(struct emt_sink *k, pid_t pid)
{
	struct sink_proc *p = proc_find(k, pid);

	return p && !p->exited ? p->id : 0;
}

int sink_injection(struct emt_sink *k, struct emt_injection *inj, uint64_t seq,
		   int64_t follow_process_id)
{
	int err;

	inj->seq = seq;
	err = emt_writer_add_injection(k->w, inj);
	if (err)
		return werr(k, err, "add injection");
	if (follow_process_id > 0) {
		err = emt_writer_add_follow_reason(k->w, follow_process_id, "injected", inj->id);
		if (err)
			return werr(k, err, "add follow reason");
	}
	err = inject_links_add(k->links, (pid_t)inj->victim_pid, inj->addr,
			       inj->length ? inj->length : 1, inj->id);
	return err ? emt_session_fail(k->s, err, "out of memory") : 0;
}

int sink_alert_capture(struct emt_sink *k, uint64_t seq, int64_t alert_id)
{
	int err = emt_writer_link_alert(k->w, seq, alert_id);

	return err ? werr(k, err, "link alert capture") : 0;
}
