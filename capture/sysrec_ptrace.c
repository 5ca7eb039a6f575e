/*
 * sysrec_ptrace.c - the ptrace side of the syscall recorder.  A second
 * seccomp filter, stacked on the engine's own, returns SECCOMP_RET_TRACE
 * for the chosen syscalls (the strictest action of all filters wins, so
 * the engine's memory syscalls stay traced and the others allowed): a
 * tracer stop at the entry of each chosen call, where the arguments are
 * the stop's and the memory behind them is read with process_vm_readv,
 * and one at its exit (PTRACE_SYSCALL) for the return value and the
 * output memory.  The memory is laid out as the BPF side's segments (same
 * bounds, same statuses), so both modes render alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "sysrec.h"

#define BUCKETS 1024u

struct ptcall {
	struct ptcall *next;
	struct sr_rec rec;              /* as the BPF side's ENTER record */
	uint8_t data[SR_DATA_MAX];      /* entry segments */
};

struct sysrec_pt {
	const struct sysrec_table *t;
	struct sysrec_rows *rs;
	struct ptcall *bucket[BUCKETS];
	uint8_t xdata[SR_DATA_MAX];     /* exit segments of the call at hand */
	struct sysrec_seg segs[2 * (SR_DATA_MAX / sizeof(struct sr_seg))];
};

int sysrec_pt_filter(const struct sysrec_table *t, struct sock_fprog *prog)
{
	const uint32_t lds = BPF_LD | BPF_W | BPF_ABS, jeq = BPF_JMP | BPF_JEQ | BPF_K;
	size_t n = 0, k = 0;
	struct sock_filter *q;

	for (size_t i = 0; i < t->n; i++)
		n += t->sc[i].chosen && t->sc[i].nr >= 0;
	if (!n)
		return -EINVAL;
	q = calloc(2 * n + 5, sizeof(*q));
	if (!q)
		return -ENOMEM;
	/* Other ABIs: the engine's filter traces them all already. */
	q[k++] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, arch));
	q[k++] = (struct sock_filter)BPF_JUMP(jeq, AUDIT_ARCH_X86_64, 1, 0);
	q[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	q[k++] = (struct sock_filter)BPF_STMT(lds, offsetof(struct seccomp_data, nr));
	/* One test and its TRACE per syscall: jumps stay short (8-bit
	 * offsets) however many are chosen. */
	for (size_t i = 0; i < t->n; i++) {
		const struct sysrec_sc *sc = &t->sc[i];

		if (!sc->chosen || sc->nr < 0)
			continue;
		q[k++] = (struct sock_filter)BPF_JUMP(jeq, (uint32_t)sc->nr, 0, 1);
		q[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
	}
	q[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog->len = (unsigned short)k;
	prog->filter = q;
	return 0;
}

struct sysrec_pt *sysrec_pt_new(const struct sysrec_table *t, struct sysrec_rows *rs)
{
	struct sysrec_pt *p = calloc(1, sizeof(*p));

	if (p) {
		p->t = t;
		p->rs = rs;
	}
	return p;
}

/* Reads `n` bytes at `addr` of tid.  Returns the bytes read (a short
 * read: the rest is unmapped), or -errno for none. */
static ssize_t peek(pid_t tid, uint64_t addr, void *buf, size_t n)
{
	struct iovec l = { buf, n }, r = { (void *)(uintptr_t)addr, n };
	ssize_t got = process_vm_readv(tid, &l, 1, &r, 1, 0);

	if (got > 0 || n == 0)
		return got;
	/* A range that starts mapped and ends unmapped fails as a whole
	 * when it crosses a page: read up to the page end first. */
	size_t first = 4096 - (addr & 4095);

	if (first < n) {
		l.iov_len = r.iov_len = first;
		got = process_vm_readv(tid, &l, 1, &r, 1, 0);
		if (got > 0)
			return got;
	}
	return -errno;
}

struct out {
	uint8_t *p;
	uint32_t off;
};

/* Room for a segment of at most `max` bytes at o->off (0: none). */
static uint32_t room(const struct out *o, uint32_t max)
{
	uint32_t r;

	if (o->off + sizeof(struct sr_seg) + 8 > SR_DATA_MAX)
		return 0;
	r = SR_DATA_MAX - o->off - (uint32_t)sizeof(struct sr_seg);
	if (!max || max > SR_SEG_MAX)
		max = SR_SEG_MAX;
	return r < max ? r : max;
}

static void put_seg(struct out *o, struct sr_seg sg)
{
	memcpy(o->p + o->off, &sg, sizeof(sg));
	o->off += (uint32_t)sizeof(sg) + ((sg.len + 7u) & ~7u);
}

/* The string at addr, as put_str of the BPF side: the bytes before the
 * NUL within the room, CUT if there is no NUL within it. */
static void put_str(struct out *o, pid_t tid, uint32_t arg, uint32_t idx, uint64_t addr,
		    uint32_t max)
{
	uint32_t rm = room(o, max);
	struct sr_seg sg = { .arg = (uint8_t)arg, .idx = (uint16_t)idx };
	uint8_t *dst = o->p + o->off + sizeof(sg);
	ssize_t got;

	if (!rm)
		return;
	got = peek(tid, addr, dst, rm);
	if (got < 0) {
		sg.status = SR_ST_FAULT;
		sg.err = (int16_t)got;
	} else {
		uint8_t *nul = memchr(dst, 0, (size_t)got);

		if (nul) {
			sg.len = (uint16_t)(nul - dst);
		} else if ((size_t)got == rm) {
			/* The room was filled: rm - 1 bytes and a cut, as the
			 * BPF side keeps room for the NUL. */
			sg.len = (uint16_t)(rm - 1);
			sg.status = SR_ST_CUT;
		} else {
			/* The mapping ended before a NUL. */
			sg.status = SR_ST_FAULT;
			sg.err = -EFAULT;
		}
	}
	put_seg(o, sg);
}

static void put_mem(struct out *o, pid_t tid, uint32_t arg, uint64_t addr, uint64_t want,
		    uint32_t max)
{
	uint32_t rm = room(o, max);
	struct sr_seg sg = { .arg = (uint8_t)arg };
	uint32_t n;
	ssize_t got;

	if (!rm)
		return;
	n = want < rm ? (uint32_t)want : rm;
	if (want > n)
		sg.status = SR_ST_CUT;
	if (n) {
		got = peek(tid, addr, o->p + o->off + sizeof(sg), n);
		if (got < (ssize_t)n) {
			sg.status = SR_ST_FAULT;
			sg.err = (int16_t)(got < 0 ? got : -EFAULT);
			n = 0;
		}
	}
	sg.len = (uint16_t)n;
	put_seg(o, sg);
}

static void put_strv(struct out *o, pid_t tid, uint32_t arg, uint64_t addr, uint32_t max)
{
	uint32_t i;

	for (i = 0; i < SR_STRV_MAX; i++) {
		uint64_t ptr = 0;
		ssize_t got;

		if (o->off + 2 * sizeof(struct sr_seg) + 8 > SR_DATA_MAX) {
			put_seg(o, (struct sr_seg){ .arg = (uint8_t)arg, .idx = (uint16_t)i,
						    .status = SR_ST_NOROOM });
			return;
		}
		got = peek(tid, addr + 8ull * i, &ptr, sizeof(ptr));
		if (got != (ssize_t)sizeof(ptr)) {
			put_seg(o, (struct sr_seg){ .arg = (uint8_t)arg, .idx = (uint16_t)i,
						    .status = SR_ST_FAULT,
						    .err = (int16_t)(got < 0 ? got : -EFAULT) });
			return;
		}
		if (!ptr)
			return;
		put_str(o, tid, arg, i, ptr, max);
	}
	if (o->off + sizeof(struct sr_seg) <= SR_DATA_MAX)
		put_seg(o, (struct sr_seg){ .arg = (uint8_t)arg, .idx = (uint16_t)i,
					    .status = SR_ST_MORE });
}

static uint64_t len_of(const struct sr_argspec *s, const uint64_t *args, int64_t ret, pid_t tid)
{
	int v = 0;

	if (s->len_arg == SR_LEN_RET)
		return ret > 0 ? (uint64_t)ret : 0;
	if (s->len_arg == SR_LEN_FIXED)
		return s->max;
	if (s->len_arg >= SR_NARGS)
		return 0;
	if (s->kind == SR_K_MEM_OUTP)
		return peek(tid, args[s->len_arg], &v, sizeof(v)) == sizeof(v) && v > 0 ?
		       (uint64_t)v : 0;
	return args[s->len_arg];
}

/* The segments of one side of a call (as put_args of the BPF side). */
static uint32_t put_args(uint8_t *buf, const struct sr_layout *lay, pid_t tid,
			 const uint64_t *args, int exit, int64_t ret)
{
	struct out o = { buf, 0 };

	for (uint32_t i = 0; i < lay->nargs && i < SR_NARGS; i++) {
		const struct sr_argspec *s = &lay->a[i];

		if (!args[i])
			continue;
		switch (s->kind) {
		case SR_K_STR:
			if (!exit)
				put_str(&o, tid, i, 0, args[i], s->max);
			break;
		case SR_K_STRV:
			if (!exit)
				put_strv(&o, tid, i, args[i], s->max);
			break;
		case SR_K_MEM_IN:
			if (!exit)
				put_mem(&o, tid, i, args[i], len_of(s, args, 0, tid), s->max);
			break;
		case SR_K_MEM_OUT:
		case SR_K_MEM_OUTP:
			if (exit && ret >= 0)
				put_mem(&o, tid, i, args[i], len_of(s, args, ret, tid), s->max);
			break;
		}
	}
	return o.off;
}

static struct ptcall **slot(struct sysrec_pt *p, pid_t tid)
{
	struct ptcall **pp = &p->bucket[(uint32_t)tid % BUCKETS];

	while (*pp && (*pp)->rec.tid != (uint32_t)tid)
		pp = &(*pp)->next;
	return pp;
}

/* Parses segments as sysrec_bpf.c does; what this side wrote is well
 * formed, so no check beyond the bounds. */
static size_t segs_of(const uint8_t *d, uint32_t len, struct sysrec_seg *out, size_t n)
{
	uint32_t off = 0;

	while (off + sizeof(struct sr_seg) <= len) {
		struct sr_seg sg;

		memcpy(&sg, d + off, sizeof(sg));
		off += (uint32_t)sizeof(sg);
		out[n] = (struct sysrec_seg){ .arg = sg.arg, .status = sg.status, .idx = sg.idx,
					      .err = sg.err, .len = sg.len, .data = d + off };
		off += (sg.len + 7u) & ~7u;
		n++;
	}
	return n;
}

static int emit(struct sysrec_pt *p, struct ptcall *c, int returned, int64_t ret,
		uint64_t exit_ns, uint32_t xlen)
{
	const struct sysrec_sc *sc = sysrec_by_nr(p->t, c->rec.nr);
	struct sysrec_call call = {
		.time_ns = c->rec.time_ns, .exit_ns = exit_ns,
		.pid = c->rec.pid, .tid = c->rec.tid, .uid = c->rec.uid, .gid = c->rec.gid,
		.nr = c->rec.nr, .ret = ret, .returned = returned,
	};
	size_t n = segs_of(c->data, c->rec.data_len, p->segs, 0);

	n = segs_of(p->xdata, xlen, p->segs, n);
	memcpy(call.args, c->rec.args, sizeof(call.args));
	call.segs = p->segs;
	call.nsegs = n;
	return sysrec_rows_add(p->rs, sc, &call);
}

int sysrec_pt_enter(struct sysrec_pt *p, pid_t pid, pid_t tid, uint64_t nr,
		    const uint64_t args[SR_NARGS], uint64_t time_ns)
{
	const struct sysrec_sc *sc;
	struct ptcall **pp, *c;
	char path[48];
	struct stat st;
	int err = 0;

	if (!p || !(sc = sysrec_by_nr(p->t, nr)) || !sc->chosen)
		return 0;
	pp = slot(p, tid);
	if (*pp) {
		/* No exit stop came for the previous call (killed between). */
		c = *pp;
		*pp = c->next;
		err = emit(p, c, 0, 0, 0, 0);
		free(c);
	}
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	memset(&c->rec, 0, sizeof(c->rec));
	c->rec.type = SR_REC_ENTER;
	c->rec.pid = (uint32_t)pid;
	c->rec.tid = (uint32_t)tid;
	c->rec.nr = (uint32_t)nr;
	c->rec.time_ns = time_ns;
	memcpy(c->rec.args, args, sizeof(c->rec.args));
	/* The effective ids: /proc/TID belongs to them. */
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	if (stat(path, &st) == 0) {
		c->rec.uid = st.st_uid;
		c->rec.gid = st.st_gid;
	}
	c->rec.data_len = put_args(c->data, &sc->lay, tid, args, 0, 0);
	c->next = p->bucket[(uint32_t)tid % BUCKETS];
	p->bucket[(uint32_t)tid % BUCKETS] = c;
	return err < 0 ? err : 1;
}

int sysrec_pt_exit(struct sysrec_pt *p, pid_t tid, int64_t ret, uint64_t time_ns)
{
	struct ptcall **pp, *c;
	const struct sysrec_sc *sc;
	uint32_t xlen;
	int err;

	if (!p)
		return 0;
	pp = slot(p, tid);
	if (!*pp)
		return 0;
	c = *pp;
	*pp = c->next;
	sc = sysrec_by_nr(p->t, c->rec.nr);
	xlen = sc ? put_args(p->xdata, &sc->lay, tid, (const uint64_t *)c->rec.args, 1, ret) : 0;
	err = emit(p, c, 1, ret, time_ns, xlen);
	free(c);
	return err;
}

int sysrec_pt_exec(struct sysrec_pt *p, pid_t former, pid_t tid)
{
	struct ptcall **pp, *c;

	if (!p)
		return 0;
	if (former && former != tid) {
		pp = slot(p, former);
		if (*pp) {
			/* The exec'ing thread takes the leader's id. */
			c = *pp;
			*pp = c->next;
			sysrec_pt_gone(p, tid);
			c->rec.tid = (uint32_t)tid;
			c->next = p->bucket[(uint32_t)tid % BUCKETS];
			p->bucket[(uint32_t)tid % BUCKETS] = c;
		}
	}
	return *slot(p, tid) != NULL;
}

int sysrec_pt_gone(struct sysrec_pt *p, pid_t tid)
{
	struct ptcall **pp, *c;
	int err = 0;

	if (!p)
		return 0;
	if (tid) {
		pp = slot(p, tid);
		if (!*pp)
			return 0;
		c = *pp;
		*pp = c->next;
		err = emit(p, c, 0, 0, 0, 0);
		free(c);
		return err;
	}
	for (size_t b = 0; b < BUCKETS; b++)
		while (p->bucket[b]) {
			c = p->bucket[b];
			p->bucket[b] = c->next;
			int e = emit(p, c, 0, 0, 0, 0);

			if (!err)
				err = e;
			free(c);
		}
	return err;
}

void sysrec_pt_free(struct sysrec_pt *p)
{
	if (!p)
		return;
	for (size_t b = 0; b < BUCKETS; b++)
		while (p->bucket[b]) {
			struct ptcall *c = p->bucket[b];

			p->bucket[b] = c->next;
			free(c);
		}
	free(p);
}
