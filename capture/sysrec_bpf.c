/*
 * sysrec_bpf.c - the BPF side of the syscall recorder: loads
 * bpf/syscalls.bpf.c sharing the main object's followed set, ring and
 * loss counters, attaches it to the chosen syscalls' own tracepoints
 * (one link per tracepoint), and pairs the entry and exit records of
 * each thread into calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "bpf_load.h"
#include "emt.skel.h"
#include "sysrec.h"
#include "syscalls.skel.h"

#define BUCKETS 4096u
#define MAX_SEGS 512u   /* SR_DATA_MAX / sizeof(struct sr_seg) */

/* An entry record waiting for its exit, per thread. */
struct pend {
	struct pend *next;
	struct sr_rec rec;
	uint8_t *data;          /* rec.data_len bytes of segments */
};

struct sysrec_bpf {
	const struct sysrec_table *t;
	struct syscalls_bpf *skel;
	struct bpf_link **links;
	size_t nlinks;
	struct pend *bucket[BUCKETS];
	uint64_t unpaired;
	struct sysrec_seg segs[2 * MAX_SEGS];
};

static void fail_msg(char *msg, size_t cap, const char *what, int err)
{
	snprintf(msg, cap, "syscall recorder: %s: %s", what, strerror(err < 0 ? -err : err));
}

struct sysrec_bpf *sysrec_bpf_open(const struct sysrec_table *t,
				   const struct sysrec_bpf_maps *maps,
				   char *msg, size_t cap)
{
	struct sysrec_bpf *sb = calloc(1, sizeof(*sb));
	size_t nchosen = 0;
	int err = 0;

	if (!sb) {
		fail_msg(msg, cap, "out of memory", ENOMEM);
		errno = ENOMEM;
		return NULL;
	}
	sb->t = t;
	sb->skel = syscalls_bpf__open();
	if (!sb->skel) {
		err = -errno;
		fail_msg(msg, cap, "cannot open bpf object", err);
		goto fail;
	}
	err = bpf_map__reuse_fd(sb->skel->maps.followed, maps->followed_fd);
	err = err ? err : bpf_map__reuse_fd(sb->skel->maps.rb, maps->rb_fd);
	err = err ? err : bpf_map__reuse_fd(sb->skel->maps.stats, maps->stats_fd);
	err = err ? err : bpf_map__reuse_fd(sb->skel->maps.lost, maps->lost_fd);
	if (err) {
		fail_msg(msg, cap, "cannot share the capture's maps", err);
		goto fail;
	}
	/* The main object's wakeup threshold (bpf_load.c): 1/8 of the ring. */
	sb->skel->rodata->cfg_wake_bytes = bpf_map__max_entries(sb->skel->maps.rb) / 8;
	err = syscalls_bpf__load(sb->skel);
	if (err) {
		fail_msg(msg, cap, "cannot load bpf programs (EMT_BPF_DEBUG=1 shows the verifier)", err);
		goto fail;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct sysrec_sc *sc = &t->sc[i];
		uint32_t nr = (uint32_t)sc->nr;

		if (!sc->chosen)
			continue;
		err = bpf_map__update_elem(sb->skel->maps.sr_layouts, &nr, sizeof(nr), &sc->lay,
					   sizeof(sc->lay), BPF_ANY);
		if (err) {
			fail_msg(msg, cap, "cannot store a syscall layout", err);
			goto fail;
		}
		nchosen++;
	}
	sb->links = calloc(2 * nchosen + 1, sizeof(*sb->links));
	if (!sb->links) {
		err = -ENOMEM;
		fail_msg(msg, cap, "out of memory", err);
		goto fail;
	}
	for (size_t i = 0; i < t->n; i++) {
		const struct sysrec_sc *sc = &t->sc[i];
		char tp[96];

		if (!sc->chosen)
			continue;
		for (int side = 0; side < 2; side++) {
			struct bpf_program *p = side ? sb->skel->progs.sr_exit : sb->skel->progs.sr_enter;
			struct bpf_link *l;

			snprintf(tp, sizeof(tp), "sys_%s_%s", side ? "exit" : "enter", sc->fmt.name);
			l = bpf_program__attach_tracepoint(p, "syscalls", tp);
			if (!l) {
				err = -errno;
				snprintf(msg, cap, "syscall recorder: cannot attach to tracepoint "
					 "syscalls/%s: %s", tp, strerror(-err));
				goto fail;
			}
			sb->links[sb->nlinks++] = l;
		}
	}
	return sb;
fail:
	sysrec_bpf_close(sb);
	errno = -err;
	return NULL;
}

void sysrec_bpf_maps_of(const struct emt_bpf *skel, struct sysrec_bpf_maps *m)
{
	m->followed_fd = bpf_map__fd(skel->maps.followed);
	m->rb_fd = bpf_map__fd(skel->maps.rb);
	m->stats_fd = bpf_map__fd(skel->maps.stats);
	m->lost_fd = bpf_map__fd(skel->maps.lost);
}

int sysrec_bpf_verify(const struct sysrec_bpf_maps *maps, struct emt_bpf_prog_stat *st,
		      unsigned max, unsigned *n, char *msg, size_t cap)
{
	enum { LOG = 64 * 1024 };
	struct syscalls_bpf *skel = syscalls_bpf__open();
	struct bpf_program *progs[2];
	char *logs[2] = { calloc(1, LOG), calloc(1, LOG) };
	int err = 0, load_err;

	*n = 0;
	if (!skel || !logs[0] || !logs[1]) {
		err = -ENOMEM;
		fail_msg(msg, cap, "cannot open bpf object", err);
		goto out;
	}
	progs[0] = skel->progs.sr_enter;
	progs[1] = skel->progs.sr_exit;
	err = bpf_map__reuse_fd(skel->maps.followed, maps->followed_fd);
	err = err ? err : bpf_map__reuse_fd(skel->maps.rb, maps->rb_fd);
	err = err ? err : bpf_map__reuse_fd(skel->maps.stats, maps->stats_fd);
	err = err ? err : bpf_map__reuse_fd(skel->maps.lost, maps->lost_fd);
	for (int i = 0; !err && i < 2; i++) {
		err = bpf_program__set_log_buf(progs[i], logs[i], LOG);
		err = err ? err : bpf_program__set_log_level(progs[i], 4);
	}
	if (err) {
		fail_msg(msg, cap, "cannot set up the bpf object", err);
		goto out;
	}
	load_err = syscalls_bpf__load(skel);
	/* Loaded in order: with a failure, the last one with a log was refused. */
	int last = logs[1][0] ? 1 : 0;

	for (int i = 0; i < 2 && *n < max; i++) {
		if (!logs[i][0] && load_err)
			continue;
		emt_bpf_prog_stat_fill(progs[i], logs[i], !load_err || i != last, &st[*n]);
		(*n)++;
	}
	if (load_err) {
		err = load_err;
		snprintf(msg, cap, "cannot load the syscall recorder's bpf programs: %s",
			 strerror(-err));
	}
out:
	syscalls_bpf__destroy(skel);
	free(logs[0]);
	free(logs[1]);
	return err;
}

/* Parses the segments after record r (data_len bytes at p) into
 * segs[*n...].  Malformed data ends the walk: what came before stays. */
static void parse_segs(const uint8_t *p, size_t len, struct sysrec_seg *segs, size_t max,
		       size_t *n)
{
	size_t off = 0;

	while (off + sizeof(struct sr_seg) <= len && *n < max) {
		struct sr_seg sg;
		struct sysrec_seg *o = &segs[*n];

		memcpy(&sg, p + off, sizeof(sg));
		off += sizeof(sg);
		if (sg.len > len - off || sg.arg >= SR_NARGS)
			break;
		o->arg = sg.arg;
		o->status = sg.status;
		o->idx = sg.idx;
		o->err = sg.err;
		o->len = sg.len;
		o->data = p + off;
		off += ((size_t)sg.len + 7) & ~(size_t)7;
		(*n)++;
	}
}

/* Input memory in the exit record was read again there because the
 * entry could not read it: those segments replace the entry's of the
 * same argument.  Returns the new count. */
static size_t prefer_late(const struct sysrec_sc *sc, struct sysrec_seg *segs, size_t ne,
			  size_t n)
{
	uint32_t late = 0;
	size_t k = 0;

	if (!sc)
		return n;
	for (size_t i = ne; i < n; i++) {
		uint8_t kind = sc->lay.a[segs[i].arg].kind;

		if (kind == SR_K_STR || kind == SR_K_STRV || kind == SR_K_MEM_IN) {
			segs[i].late = 1;
			late |= 1u << segs[i].arg;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (i >= ne || !(late & (1u << segs[i].arg)))
			segs[k++] = segs[i];
	return k;
}

static struct pend **slot_of(struct sysrec_bpf *sb, uint32_t tid)
{
	struct pend **pp = &sb->bucket[tid % BUCKETS];

	while (*pp && (*pp)->rec.tid != tid)
		pp = &(*pp)->next;
	return pp;
}

/* Writes the call of entry `e` (may be NULL) and exit `x` (may be NULL). */
static int emit(struct sysrec_bpf *sb, struct sysrec_rows *rs, const struct sr_rec *e,
		const uint8_t *edata, const struct sr_rec *x, const uint8_t *xdata)
{
	const struct sr_rec *any = e ? e : x;
	struct sysrec_call c = { 0 };
	size_t n = 0;

	c.time_ns = e ? e->time_ns : x->time_ns;
	c.exit_ns = x ? x->time_ns : 0;
	c.pid = any->pid;
	c.tid = any->tid;
	c.uid = any->uid;
	c.gid = any->gid;
	c.nr = any->nr;
	memcpy(c.args, any->args, sizeof(c.args));
	c.returned = x != NULL;
	c.ret = x ? x->ret : 0;
	if (!e)
		c.flags |= SYSREC_F_NOENTRY;
	if (e)
		parse_segs(edata, e->data_len, sb->segs, 2 * MAX_SEGS, &n);
	size_t ne = n;

	if (x)
		parse_segs(xdata, x->data_len, sb->segs, 2 * MAX_SEGS, &n);
	n = prefer_late(sysrec_by_nr(sb->t, any->nr), sb->segs, ne, n);
	c.segs = sb->segs;
	c.nsegs = n;
	return sysrec_rows_add(rs, sysrec_by_nr(sb->t, c.nr), &c);
}

static int flush_pend(struct sysrec_bpf *sb, struct sysrec_rows *rs, struct pend **pp)
{
	struct pend *p = *pp;
	int err = emit(sb, rs, &p->rec, p->data, NULL, NULL);

	*pp = p->next;
	free(p->data);
	free(p);
	return err;
}

int sysrec_bpf_record(struct sysrec_bpf *sb, struct sysrec_rows *rs,
		      const void *data, size_t size)
{
	struct sr_rec r;
	const uint8_t *segs = (const uint8_t *)data + sizeof(r);
	struct pend **pp;
	int err = 0;

	if (size < sizeof(r))
		return 0;
	memcpy(&r, data, sizeof(r));
	if (r.data_len > size - sizeof(r))
		r.data_len = (uint32_t)(size - sizeof(r));
	pp = slot_of(sb, r.tid);
	if (r.type == SR_REC_ENTER) {
		struct pend *p;

		/* The thread's previous call has no exit: lost in a full
		 * ring (a returning call always has one). */
		if (*pp) {
			const struct sysrec_sc *prev = sysrec_by_nr(sb->t, (*pp)->rec.nr);

			if (!prev || !prev->noexit)
				sb->unpaired++;
			err = flush_pend(sb, rs, pp);
		}
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		p->rec = r;
		if (r.data_len) {
			p->data = malloc(r.data_len);
			if (!p->data) {
				free(p);
				return -ENOMEM;
			}
			memcpy(p->data, segs, r.data_len);
		}
		p->next = sb->bucket[r.tid % BUCKETS];
		sb->bucket[r.tid % BUCKETS] = p;
		return err;
	}
	if (r.type != SR_REC_EXIT)
		return 0;
	if (*pp && (*pp)->rec.nr == r.nr) {
		struct pend *p = *pp;

		err = emit(sb, rs, &p->rec, p->data, &r, segs);
		*pp = p->next;
		free(p->data);
		free(p);
		return err;
	}
	/* An exit without its entry (lost, or the entry came before we
	 * followed the thread). */
	if (*pp) {
		sb->unpaired++;
		err = flush_pend(sb, rs, pp);
	}
	sb->unpaired++;
	return err ? err : emit(sb, rs, NULL, NULL, &r, segs);
}

int sysrec_bpf_flush(struct sysrec_bpf *sb, struct sysrec_rows *rs, uint32_t pid)
{
	int err = 0;

	if (!sb)
		return 0;
	for (size_t b = 0; b < BUCKETS; b++) {
		struct pend **pp = &sb->bucket[b];

		while (*pp) {
			if (pid && (*pp)->rec.pid != pid) {
				pp = &(*pp)->next;
				continue;
			}
			int e = flush_pend(sb, rs, pp);

			if (!err)
				err = e;
		}
	}
	return err;
}

void sysrec_bpf_detach(struct sysrec_bpf *sb)
{
	if (!sb)
		return;
	for (size_t i = 0; i < sb->nlinks; i++)
		bpf_link__destroy(sb->links[i]);
	sb->nlinks = 0;
}

uint64_t sysrec_bpf_unpaired(const struct sysrec_bpf *sb)
{
	return sb ? sb->unpaired : 0;
}

void sysrec_bpf_close(struct sysrec_bpf *sb)
{
	if (!sb)
		return;
	sysrec_bpf_detach(sb);
	free(sb->links);
	syscalls_bpf__destroy(sb->skel);
	for (size_t b = 0; b < BUCKETS; b++)
		while (sb->bucket[b]) {
			struct pend *p = sb->bucket[b];

			sb->bucket[b] = p->next;
			free(p->data);
			free(p);
		}
	free(sb);
}
