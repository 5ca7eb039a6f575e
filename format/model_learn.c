/*
 * model_learn.c - learning syscall models (emt_model.h) from archives'
 * syscalls tables and from strace logs.
 *
 * Both inputs are cut the same way as the kernel side checks them
 * (bpf/model.bpf.c): per thread, per process image; a thread's sequence
 * starts at its first call after it was created or after its process
 * called execve, and execve itself belongs to the image that called it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emt_archive.h"
#include "emt_model.h"
#include "internal.h"

#define NR_SLOTS 1024   /* syscall numbers whose names are cached */

/* A process image of an archive: a processes row. */
struct image {
	uint32_t pid, ppid;
	uint64_t start_ns;
	char    *exe;
	int      prog;          /* -2 not resolved yet, -1 unresolvable */
};

/* A thread's place in its sequence. */
struct thread {
	uint32_t tid;
	int      used;
	const struct image *img;   /* archives */
	int      prog;          /* strace: -1 none, -2 unresolvable */
	struct emt_model_seq q;
	int      begun;
	char     pending[64];   /* strace: the call left <unfinished ...> */
	char    *exec_path;     /* strace: the path of a pending execve */
};

struct threads {
	struct thread *t;
	size_t n, cap;
	size_t last;            /* lookup cache */
};

static struct thread *thread_get(struct threads *ts, uint32_t tid, int add)
{
	if (ts->last < ts->n && ts->t[ts->last].used && ts->t[ts->last].tid == tid)
		return &ts->t[ts->last];
	for (size_t i = 0; i < ts->n; i++)
		if (ts->t[i].used && ts->t[i].tid == tid) {
			ts->last = i;
			return &ts->t[i];
		}
	if (!add)
		return NULL;
	size_t i = 0;

	while (i < ts->n && ts->t[i].used)
		i++;
	if (i == ts->n) {
		if (ts->n == ts->cap) {
			size_t nc = ts->cap ? 2 * ts->cap : 64;
			struct thread *nt = realloc(ts->t, nc * sizeof(*nt));

			if (!nt)
				return NULL;
			ts->t = nt;
			ts->cap = nc;
		}
		ts->n++;
	}
	memset(&ts->t[i], 0, sizeof(ts->t[i]));
	ts->t[i].used = 1;
	ts->t[i].tid = tid;
	ts->t[i].prog = -1;
	ts->last = i;
	return &ts->t[i];
}

static void thread_drop(struct thread *t)
{
	free(t->exec_path);
	memset(t, 0, sizeof(*t));
}

static void threads_free(struct threads *ts)
{
	for (size_t i = 0; i < ts->n; i++)
		free(ts->t[i].exec_path);
	free(ts->t);
}

static int image_cmp(const void *a, const void *b)
{
	const struct image *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

/* The image of pid that began last at or before t, or NULL. */
static struct image *image_at(struct image *im, size_t n, uint32_t pid, uint64_t t)
{
	size_t lo = 0, hi = n;
	struct image *best = NULL;

	while (lo < hi) {       /* first image of a pid > pid, or of pid after t */
		size_t mid = lo + (hi - lo) / 2;

		if (im[mid].pid < pid || (im[mid].pid == pid && im[mid].start_ns <= t))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo > 0 && im[lo - 1].pid == pid)
		best = &im[lo - 1];
	return best;
}

/* One call of thread t of program prog: begins its sequence if needed. */
static int learn_call(struct emt_model *m, struct thread *t, int prog, const char *name,
		      struct emt_model_learn_stats *st, char *err, size_t cap)
{
	if (!t->begun || t->q.prog != prog) {
		emt_model_seq_begin(&t->q, prog);
		emt_model_count_thread(m, prog);
		t->begun = 1;
		st->threads++;
	}
	int r = emt_model_step(m, &t->q, name, 1);

	if (r < 0) {
		if (r == -EINVAL)
			emt_fmt(err, cap, "syscall name '%s' is not one", name);
		else
			emt_fmt(err, cap, "%s", r == -E2BIG ? "the model grows beyond its bounds"
							     : "out of memory");
		return r;
	}
	st->calls++;
	return 0;
}

int emt_model_learn_archive(struct emt_model *m, struct emt_reader *r, const char *name,
			    struct emt_model_learn_stats *st, char *err, size_t cap)
{
	struct image *im = NULL;
	size_t nim = 0, capim = 0;
	struct threads ts = { 0 };
	const char *names[NR_SLOTS] = { 0 };
	struct emt_row_iter *it;
	struct emt_process p;
	struct emt_syscall sc;
	uint64_t rows = 0;
	int ret, e = 0;

	if (!m || !r || !st)
		return -EINVAL;
	it = emt_reader_processes(r);
	if (!it) {
		emt_fmt(err, cap, "'%s': cannot read processes: %s", name, emt_reader_errmsg(r));
		return -errno;
	}
	while ((ret = emt_process_iter_next(it, &p)) == 1) {
		if (nim == capim) {
			size_t nc = capim ? 2 * capim : 64;
			struct image *ni = realloc(im, nc * sizeof(*ni));

			if (!ni) {
				ret = -ENOMEM;
				break;
			}
			im = ni;
			capim = nc;
		}
		im[nim].pid = p.pid;
		im[nim].ppid = p.ppid;
		im[nim].start_ns = p.start_ns;
		im[nim].exe = p.exe && *p.exe ? strdup(p.exe) : NULL;
		im[nim].prog = im[nim].exe ? -2 : -1;
		nim++;
	}
	emt_row_iter_free(it);
	if (ret < 0) {
		emt_fmt(err, cap, "'%s': cannot read processes: %s", name,
			ret == -ENOMEM ? "out of memory" : emt_reader_errmsg(r));
		e = ret;
		goto out;
	}
	if (nim > 1)
		qsort(im, nim, sizeof(*im), image_cmp);
	/* A process's first row made at a fork of a followed process runs
	 * its parent's image until it calls execve: the exe the row holds
	 * was read from /proc after the fork, when the child may have
	 * exec'd already (or gone), so it is not the image of the calls
	 * between. */
	for (size_t i = 0; i < nim; i++) {
		if (i > 0 && im[i - 1].pid == im[i].pid)
			continue;       /* an exec row */
		struct image *pa = im[i].ppid ? image_at(im, nim, im[i].ppid, im[i].start_ns) : NULL;

		if (!pa || pa == &im[i])
			continue;       /* launched or attached: its own exe */
		free(im[i].exe);
		im[i].exe = pa->exe ? strdup(pa->exe) : NULL;
		im[i].prog = im[i].exe ? -2 : -1;
	}

	it = emt_reader_syscalls(r, 0);
	if (!it) {
		e = -errno;
		emt_fmt(err, cap, "'%s': cannot read syscalls: %s", name, emt_reader_errmsg(r));
		goto out;
	}
	while ((ret = emt_syscall_iter_next(it, &sc)) == 1) {
		rows++;
		struct image *g = image_at(im, nim, sc.pid, sc.time_ns);

		if (!g) {
			st->no_image++;
			continue;
		}
		if (g->prog == -2) {
			char why[512];

			g->prog = emt_model_prog_for_path(m, g->exe, why, sizeof(why));
			if (g->prog < 0)
				g->prog = -1;
		}
		if (g->prog < 0) {
			st->unresolved++;
			continue;
		}
		/* The ABI's name of the number: the table's name column is the
		 * tracepoint's (newfstat for fstat), the number is what the
		 * kernel side sees. */
		const char *nm = sc.nr < NR_SLOTS ? names[sc.nr] : NULL;

		if (!nm && sc.nr < NR_SLOTS)
			nm = names[sc.nr] = emt_syscall_name((int)sc.nr);
		if (!nm) {
			st->lines_skipped++;
			continue;
		}
		/* rt_sigreturn ends a signal handler wherever the signal came:
		 * not part of the sequence (the kernel side skips it too). */
		if (!strcmp(nm, EMT_MODEL_SIGRETURN))
			continue;
		/* A return without its entry: a fork child's return from
		 * clone/fork (the child never entered it), or a call begun
		 * before the thread was followed.  No sys_enter the kernel
		 * side checks. */
		if (sc.flags & EMT_SYSCALL_F_NOENTRY) {
			st->lines_skipped++;
			continue;
		}
		struct thread *t = thread_get(&ts, sc.tid, 1);

		if (!t) {
			ret = -ENOMEM;
			emt_fmt(err, cap, "out of memory");
			break;
		}
		if (t->img != g) {
			t->img = g;
			t->begun = 0;
		}
		ret = learn_call(m, t, g->prog, nm, st, err, cap);
		if (ret < 0)
			break;
	}
	emt_row_iter_free(it);
	if (ret < 0) {
		if (!err[0] || ret == -EBADMSG || ret == -EIO)
			emt_fmt(err, cap, "'%s': cannot read syscalls: %s", name, emt_reader_errmsg(r));
		e = ret;
	} else if (rows == 0) {
		emt_fmt(err, cap, "'%s': no recorded syscalls (capture it with"
			" emt-capture --syscalls all)", name);
		e = -ENODATA;
	}
out:
	for (size_t i = 0; i < nim; i++)
		free(im[i].exe);
	free(im);
	threads_free(&ts);
	return e;
}

/* ------------------------------------------------------------ strace */

/* Copies the C string strace printed at *pp (after its opening quote)
 * into out, undoing strace's escapes.  Returns 0, or -1 if it does not
 * end on this line. */
static int strace_string(const char *p, const char *end, char *out, size_t cap)
{
	size_t n = 0;

	while (p < end && *p != '"') {
		int c = (unsigned char)*p++;

		if (c == '\\' && p < end) {
			c = (unsigned char)*p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'v': c = '\v'; break;
			case 'f': c = '\f'; break;
			case 'x': {
				int v = 0, k = 0;

				while (k < 2 && p < end && ((*p >= '0' && *p <= '9') ||
							    (*p >= 'a' && *p <= 'f'))) {
					v = v * 16 + (*p <= '9' ? *p - '0' : *p - 'a' + 10);
					p++;
					k++;
				}
				c = v;
				break;
			}
			default:
				if (c >= '0' && c <= '7') {
					int v = c - '0', k = 1;

					while (k < 3 && p < end && *p >= '0' && *p <= '7') {
						v = v * 8 + (*p++ - '0');
						k++;
					}
					c = v & 0xff;
				}
			}
		}
		if (n + 1 < cap)
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return p < end ? 0 : -1;
}

/* The integer at [p, end) (optional '-', decimal or 0x hex): strtoll
 * would read past the end of a log that is not NUL-terminated.  Sets
 * *after past it; returns 0, or -1 with *after = p if there is none. */
static int bounded_num(const char *p, const char *end, long long *v, const char **after)
{
	const char *q = p;
	int neg = 0, base = 10, n = 0;
	unsigned long long x = 0;

	if (q < end && *q == '-') {
		neg = 1;
		q++;
	}
	if (end - q > 2 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
		base = 16;
		q += 2;
	}
	for (; q < end; q++, n++) {
		int d = *q >= '0' && *q <= '9' ? *q - '0' :
			base == 16 && *q >= 'a' && *q <= 'f' ? *q - 'a' + 10 :
			base == 16 && *q >= 'A' && *q <= 'F' ? *q - 'A' + 10 : -1;

		if (d < 0)
			break;
		x = x * (unsigned)base + (unsigned)d;
	}
	if (!n) {
		*after = p;
		return -1;
	}
	*v = neg ? -(long long)x : (long long)x;
	*after = q;
	return 0;
}

/* The return value after the last " = " of the line, or 0 if none
 * (then *ok = 0). */
static long long strace_ret(const char *line, const char *end, int *ok)
{
	const char *q = NULL;

	for (const char *p = line; p + 3 <= end; p++)
		if (p[0] == ' ' && p[1] == '=' && p[2] == ' ')
			q = p + 3;
	*ok = 0;
	if (!q || q >= end)
		return 0;
	const char *e;
	long long v = 0;

	*ok = bounded_num(q, end, &v, &e) == 0;
	return v;
}

static int is_clone(const char *n)
{
	return !strcmp(n, "clone") || !strcmp(n, "clone3") || !strcmp(n, "fork") ||
	       !strcmp(n, "vfork");
}

/* A call of thread t finished with `ret` (execve: exec_path set). */
static int strace_done(struct emt_model *m, struct threads *ts, struct thread *t,
		       const char *name, long long ret, int have_ret,
		       struct emt_model_learn_stats *st)
{
	if (!have_ret)
		return 0;
	if ((!strcmp(name, "execve") || !strcmp(name, "execveat")) && ret == 0 && t->exec_path) {
		char why[512];
		int pi = emt_model_prog_for_path(m, t->exec_path, why, sizeof(why));

		t->prog = pi >= 0 ? pi : -2;
		t->begun = 0;
	} else if (is_clone(name) && ret > 0) {
		uint32_t tid = t->tid;
		int prog = t->prog;
		struct thread *c = thread_get(ts, (uint32_t)ret, 1);

		if (!c)
			return -ENOMEM;
		/* The child may have shown up already (its lines before our
		 * resumed line): it took the parent's program then too. */
		if (!c->begun)
			c->prog = prog;
		(void)tid;
	}
	(void)st;
	return 0;
}

int emt_model_learn_strace(struct emt_model *m, const char *buf, size_t len, const char *name,
			   struct emt_model_learn_stats *st, char *err, size_t cap)
{
	struct threads ts = { 0 };
	const char *p = buf, *end = buf + len;
	uint64_t calls = 0;
	int e = 0;

	if (!m || (!buf && len) || !st)
		return -EINVAL;
	while (p < end && !e) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *q = p;
		uint32_t pid = 0;
		char nm[64];
		size_t k = 0;

		p = nl ? nl + 1 : end;
		/* "[pid N] " or "N " (-f with -o), then the time. */
		while (q < le && *q == ' ')
			q++;
		if (le - q > 5 && !strncmp(q, "[pid", 4)) {
			q += 4;
			while (q < le && *q == ' ')
				q++;
			long long v = 0;

			bounded_num(q, le, &v, &q);
			pid = (uint32_t)v;
			if (q < le && *q == ']')
				q++;
		} else {
			const char *s = q;
			long long v = 0;

			if (q < le && *q != '-' && bounded_num(q, le, &v, &s) == 0 && s < le &&
			    *s == ' ') {                        /* a pid, not the time */
				pid = (uint32_t)v;
				q = s;
			}
		}
		while (q < le && *q == ' ')
			q++;
		/* -ttt: seconds.micro */
		while (q < le && ((*q >= '0' && *q <= '9') || *q == '.'))
			q++;
		while (q < le && *q == ' ')
			q++;
		if (q >= le) {
			continue;
		}
		if (*q == '-' || *q == '+') {   /* --- SIGNAL ---, +++ exited +++ */
			st->lines_skipped++;
			/* The log is not NUL-terminated: only within the line. */
			size_t ll = (size_t)(le - q);

			if (ll > 4 && q[0] == '+' && (memmem(q, ll, "exited", 6) || memmem(q, ll, "killed", 6))) {
				struct thread *t = thread_get(&ts, pid, 0);

				if (t && (size_t)(le - q) < 4096)
					thread_drop(t);
			}
			continue;
		}
		if (le - q > 5 && !strncmp(q, "<... ", 5)) {    /* <... name resumed> */
			const char *s = q + 5;

			while (s < le && *s != ' ' && k + 1 < sizeof(nm))
				nm[k++] = *s++;
			nm[k] = '\0';
			struct thread *t = thread_get(&ts, pid, 0);
			int ok;
			long long ret = strace_ret(q, le, &ok);

			if (t && !strcmp(t->pending, nm)) {
				t->pending[0] = '\0';
				e = strace_done(m, &ts, t, nm, ret, ok, st);
				free(t->exec_path);
				t->exec_path = NULL;
			}
			continue;
		}
		while (q < le && k + 1 < sizeof(nm) && ((*q >= 'a' && *q <= 'z') ||
							(*q >= '0' && *q <= '9') || *q == '_'))
			nm[k++] = *q++;
		nm[k] = '\0';
		if (!k || q >= le || *q != '(') {
			st->lines_skipped++;
			continue;
		}
		calls++;
		struct thread *t = thread_get(&ts, pid, 1);

		if (!t) {
			e = -ENOMEM;
			break;
		}
		if (!t->begun && t->prog == -1) {
			/* First sight of a thread: a child whose parent's clone
			 * has not returned yet takes that parent's program. */
			for (size_t i = 0; i < ts.n; i++)
				if (ts.t[i].used && &ts.t[i] != t && ts.t[i].pending[0] &&
				    is_clone(ts.t[i].pending))
					t->prog = ts.t[i].prog;
		}
		if (!strcmp(nm, EMT_MODEL_SIGRETURN)) {
			st->lines_skipped++;    /* not part of sequences (see above) */
		} else if (t->prog >= 0 && emt_syscall_nr(nm) >= 0) {
			e = learn_call(m, t, t->prog, nm, st, err, cap);
			if (e)
				break;
		} else if (t->prog >= 0) {
			st->lines_skipped++;    /* a name the kernel's ABI does not have */
		} else if (t->prog == -2) {
			st->unresolved++;
		} else {
			st->no_image++;
		}
		free(t->exec_path);
		t->exec_path = NULL;
		if (!strcmp(nm, "execve") || !strcmp(nm, "execveat")) {
			const char *s = q + 1;
			char path[4096];

			if (!strcmp(nm, "execveat"))    /* dirfd first */
				while (s < le && *s != ',')
					s++;
			while (s < le && *s != '"')
				s++;
			if (s < le && strace_string(s + 1, le, path, sizeof(path)) == 0) {
				t->exec_path = strdup(path);
				if (!t->exec_path) {
					e = -ENOMEM;
					break;
				}
			}
		}
		if (le - q > 16 && memmem(q, (size_t)(le - q), "<unfinished ...>", 16)) {
			snprintf(t->pending, sizeof(t->pending), "%s", nm);
		} else {
			int ok;
			long long ret = strace_ret(q, le, &ok);

			e = strace_done(m, &ts, t, nm, ret, ok, st);
			free(t->exec_path);
			t->exec_path = NULL;
		}
	}
	threads_free(&ts);
	if (e == -ENOMEM)
		emt_fmt(err, cap, "out of memory");
	if (e)
		return e;
	if (!calls) {
		emt_fmt(err, cap, "'%s': no syscall lines (not an strace -f -ttt log)", name);
		return -ENODATA;
	}
	return 0;
}
