/*
 * model.c - syscall models (emt_model.h): the transitions of each
 * program, learning steps, and the model file's JSON (SPEC.md section
 * 16), read and written with libjansson.
 *
 * A syscall name is interned once per model (id 0 is the start marker);
 * a window of up to three ids is packed into one 64-bit key, kept per
 * program in an open-addressing set: learning from a million calls is a
 * million set inserts, not a million string comparisons.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "emt_archive.h"
#include "emt_model.h"
#include "internal.h"

#define NAME_SLOTS 4096u        /* > 2 * EMT_MODEL_NAMES_MAX: the table never fills */
#define NAME_LEN_MAX 63u
#define EXE_MAX (1ll << 30)     /* bytes of an executable hashed at most */

struct prog {
	struct emt_model_prog pub;
	char    *path;
	uint64_t *set;          /* packed windows + 1; 0 = empty slot */
	size_t   cap, n;
	uint64_t *sorted;       /* the set in name order, built on demand */
};

struct source {
	char *kind, *path;
	char sha256[65];
};

struct emt_model {
	int depth;
	char **names;           /* by id; names[0] = EMT_MODEL_START */
	size_t nnames;
	uint16_t slot[NAME_SLOTS]; /* name hash: id + 1, 0 = empty */
	struct prog *progs;
	size_t nprogs, capprogs;
	struct source *src;
	size_t nsrc;
	size_t ntrans;          /* all programs' */
	int sorted;             /* progs in output order */
};

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* A syscall name as the model stores it: [a-z0-9_], 1..63 bytes. */
static int name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= NAME_LEN_MAX || !((s[n] >= 'a' && s[n] <= 'z') ||
					   (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return 0;
	return n > 0;
}

/* The id of `name`, interned if new (and `add`).  Returns the id, -ENOENT
 * (not there, !add), -EINVAL (not a name), -E2BIG, -ENOMEM. */
static int name_id(struct emt_model *m, const char *name, int add)
{
	uint32_t h = name_hash(name) % NAME_SLOTS;

	if (!strcmp(name, EMT_MODEL_START))
		return 0;
	for (;; h = (h + 1) % NAME_SLOTS) {
		uint16_t v = m->slot[h];

		if (!v)
			break;
		if (!strcmp(m->names[v - 1], name))
			return v - 1;
	}
	if (!add)
		return -ENOENT;
	if (!name_ok(name))
		return -EINVAL;
	if (m->nnames >= EMT_MODEL_NAMES_MAX)
		return -E2BIG;
	char *c = strdup(name);

	if (!c)
		return -ENOMEM;
	m->names[m->nnames] = c;
	m->slot[h] = (uint16_t)(m->nnames + 1);
	return (int)m->nnames++;
}

struct emt_model *emt_model_new(int depth)
{
	struct emt_model *m;

	if (depth < EMT_MODEL_DEPTH_MIN || depth > EMT_MODEL_DEPTH_MAX) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (m)
		m->names = calloc(EMT_MODEL_NAMES_MAX, sizeof(*m->names));
	if (m && m->names)
		m->names[0] = strdup(EMT_MODEL_START);
	if (!m || !m->names || !m->names[0]) {
		emt_model_free(m);
		errno = ENOMEM;
		return NULL;
	}
	m->nnames = 1;
	m->depth = depth;
	return m;
}

void emt_model_free(struct emt_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->names && i < m->nnames; i++)
		free(m->names[i]);
	free(m->names);
	for (size_t i = 0; i < m->nprogs; i++) {
		free(m->progs[i].path);
		free(m->progs[i].set);
		free(m->progs[i].sorted);
	}
	free(m->progs);
	for (size_t i = 0; i < m->nsrc; i++) {
		free(m->src[i].kind);
		free(m->src[i].path);
	}
	free(m->src);
	free(m);
}

int emt_model_depth(const struct emt_model *m)
{
	return m ? m->depth : 0;
}

/* Output order: path, then SHA-256 (learning appends; the JSON and the
 * accessors show programs sorted, so that the same content always gives
 * the same file). */
static int prog_cmp(const void *a, const void *b)
{
	const struct prog *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c ? c : strcmp(x->pub.sha256, y->pub.sha256);
}

static void sort_progs(struct emt_model *m)
{
	if (m->sorted)
		return;
	if (m->nprogs > 1)
		qsort(m->progs, m->nprogs, sizeof(*m->progs), prog_cmp);
	for (size_t i = 0; i < m->nprogs; i++)
		m->progs[i].pub.path = m->progs[i].path;
	m->sorted = 1;
}

size_t emt_model_nprograms(const struct emt_model *m)
{
	return m ? m->nprogs : 0;
}

const struct emt_model_prog *emt_model_program(const struct emt_model *m, size_t i)
{
	if (!m || i >= m->nprogs)
		return NULL;
	sort_progs((struct emt_model *)m);
	return &m->progs[i].pub;
}

/* Finds program `sha256` or adds it (path etc. taken from the first).
 * Returns its index or -errno.  Adding unsorts the programs, so indexes
 * are only stable while learning (learning never sorts). */
static int prog_get(struct emt_model *m, const char sha256[65], const char *path,
		    uint64_t inode, uint64_t dev, int add)
{
	for (size_t i = 0; i < m->nprogs; i++)
		if (!strcmp(m->progs[i].pub.sha256, sha256))
			return add == 2 ? -EEXIST : (int)i;
	if (!add)
		return -ENOENT;
	if (m->nprogs >= INT_MAX / 2)
		return -E2BIG;
	if (m->nprogs == m->capprogs) {
		size_t nc = m->capprogs ? 2 * m->capprogs : 8;
		struct prog *np = realloc(m->progs, nc * sizeof(*np));

		if (!np)
			return -ENOMEM;
		m->progs = np;
		m->capprogs = nc;
	}
	struct prog *p = &m->progs[m->nprogs];

	memset(p, 0, sizeof(*p));
	p->path = strdup(path);
	if (!p->path)
		return -ENOMEM;
	memcpy(p->pub.sha256, sha256, 65);
	p->pub.path = p->path;
	p->pub.inode = inode;
	p->pub.dev = dev;
	m->sorted = 0;
	/* The array may have moved: every path pointer again. */
	for (size_t i = 0; i <= m->nprogs; i++)
		m->progs[i].pub.path = m->progs[i].path;
	return (int)m->nprogs++;
}

static uint64_t pack(const uint16_t *w)
{
	return ((uint64_t)w[0] | (uint64_t)w[1] << 16 | (uint64_t)w[2] << 32) + 1;
}

static void unpack(uint64_t k, uint16_t *w)
{
	k -= 1;
	w[0] = (uint16_t)k;
	w[1] = (uint16_t)(k >> 16);
	w[2] = (uint16_t)(k >> 32);
}

static size_t slot_of(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (size_t)(k & (cap - 1));
}

static int set_has(const struct prog *p, uint64_t k)
{
	if (!p->cap)
		return 0;
	for (size_t i = slot_of(k, p->cap);; i = (i + 1) & (p->cap - 1)) {
		if (p->set[i] == k)
			return 1;
		if (!p->set[i])
			return 0;
	}
}

/* Adds k.  Returns 1 if new, 0 if there, -ENOMEM, -E2BIG. */
static int set_add(struct emt_model *m, struct prog *p, uint64_t k)
{
	if (set_has(p, k))
		return 0;
	if (m->ntrans >= EMT_MODEL_TRANS_MAX)
		return -E2BIG;
	if (2 * (p->n + 1) > p->cap) {
		size_t nc = p->cap ? 2 * p->cap : 64;
		uint64_t *ns = calloc(nc, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < p->cap; i++) {
			if (!p->set[i])
				continue;
			size_t j = slot_of(p->set[i], nc);

			while (ns[j])
				j = (j + 1) & (nc - 1);
			ns[j] = p->set[i];
		}
		free(p->set);
		p->set = ns;
		p->cap = nc;
	}
	size_t i = slot_of(k, p->cap);

	while (p->set[i])
		i = (i + 1) & (p->cap - 1);
	p->set[i] = k;
	p->n++;
	p->pub.ntrans = p->n;
	m->ntrans++;
	free(p->sorted);
	p->sorted = NULL;
	return 1;
}

void emt_model_seq_begin(struct emt_model_seq *q, int prog)
{
	memset(q, 0, sizeof(*q));
	q->prog = prog;
}

int emt_model_step(struct emt_model *m, struct emt_model_seq *q, const char *name, int learn)
{
	uint16_t w[3] = { 0, 0, 0 };
	int id;

	if (!m || !q || !name || q->prog < 0 || (size_t)q->prog >= m->nprogs)
		return -EINVAL;
	id = name_id(m, name, learn);
	if (id == -ENOENT)
		id = -1;        /* never seen: no window with it is allowed */
	else if (id < 0)
		return id;
	else if (id == 0)
		return -EINVAL; /* the marker is no call */
	struct prog *p = &m->progs[q->prog];
	int ok = 0;

	if (id > 0) {
		/* The window: the last depth-1 calls, then this one. */
		for (int i = 0; i < m->depth - 1; i++)
			w[i] = q->h[EMT_MODEL_DEPTH_MAX - m->depth + i];
		w[m->depth - 1] = (uint16_t)id;
		if (learn) {
			int r = set_add(m, p, pack(w));

			if (r < 0)
				return r;
			p->pub.calls++;
			ok = 1;
		} else {
			ok = set_has(p, pack(w));
		}
	}
	/* A call never seen gets an id no window has: 0xffff. */
	q->h[0] = q->h[1];
	q->h[1] = id > 0 ? (uint16_t)id : 0xffff;
	return ok;
}

/* ------------------------------------------------------------ identity */

int emt_model_identify(const char *path, char **real, char sha256[65], uint64_t *inode,
		       uint64_t *dev, char *err, size_t cap)
{
	char *rp = realpath(path, NULL);
	struct stat sb;
	int fd, e;

	*real = NULL;
	if (!rp) {
		e = -errno;
		emt_fmt(err, cap, "cannot resolve '%s': %s", path, strerror(errno));
		return e;
	}
	/* Only a regular file is an executable to hash: a FIFO named by a
	 * hostile log must not block the open. */
	if (stat(rp, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		emt_fmt(err, cap, "'%s' is not a regular file", rp);
		free(rp);
		return -ENOEXEC;
	}
	fd = open(rp, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 || fstat(fd, &sb) != 0) {
		e = -errno;
		emt_fmt(err, cap, "cannot read '%s': %s", rp, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(rp);
		return e;
	}
	/* An executable is not 1 GiB; /proc/kcore, named by a hostile log,
	 * says it is a regular file of 128 TiB. */
	if (!S_ISREG(sb.st_mode) || sb.st_size > EXE_MAX) {
		emt_fmt(err, cap, "'%s' is not a regular file %s", rp,
			S_ISREG(sb.st_mode) ? "of at most 1 GiB" : "");
		close(fd);
		free(rp);
		return S_ISREG(sb.st_mode) ? -EFBIG : -ENOEXEC;
	}
	uint64_t total = 0;
	uint8_t d[EMT_SHA256_LEN];
	struct emt_sha *sh = emt_sha_new();

	if (!sh) {
		close(fd);
		free(rp);
		emt_fmt(err, cap, "out of memory");
		return -ENOMEM;
	}
	/* Streamed: an executable can be large, and mmap of a file being
	 * truncated would fault. */
	for (;;) {
		char buf[65536];
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = -errno;
			emt_fmt(err, cap, "cannot read '%s': %s", rp, strerror(errno));
			emt_sha_free(sh);
			close(fd);
			free(rp);
			return e;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > EXE_MAX) {  /* grew meanwhile */
			emt_fmt(err, cap, "'%s' is larger than 1 GiB", rp);
			emt_sha_free(sh);
			close(fd);
			free(rp);
			return -EFBIG;
		}
		emt_sha_update(sh, buf, (size_t)n);
	}
	emt_sha_final(sh, d);
	emt_sha_free(sh);
	close(fd);
	emt_hex(d, EMT_SHA256_LEN, sha256);
	*inode = (uint64_t)sb.st_ino;
	*dev = (uint64_t)sb.st_dev;
	*real = rp;
	return 0;
}

void emt_model_count_thread(struct emt_model *m, int prog)
{
	if (m && prog >= 0 && (size_t)prog < m->nprogs)
		m->progs[prog].pub.threads++;
}

int emt_model_prog_for_path(struct emt_model *m, const char *path, char *err, size_t cap)
{
	char sha[65], *real = NULL;
	uint64_t ino = 0, dev = 0;
	int e = emt_model_identify(path, &real, sha, &ino, &dev, err, cap);

	if (e)
		return e;
	e = prog_get(m, sha, real, ino, dev, 1);
	free(real);
	if (e < 0)
		emt_fmt(err, cap, "out of memory");
	return e;
}

int emt_model_add_source(struct emt_model *m, const char *kind, const char *path,
			 const char sha256[65])
{
	if (!m || !kind || !path || !sha256)
		return -EINVAL;
	struct source *ns = realloc(m->src, (m->nsrc + 1) * sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	m->src = ns;
	ns[m->nsrc].kind = strdup(kind);
	ns[m->nsrc].path = strdup(path);
	snprintf(ns[m->nsrc].sha256, 65, "%s", sha256);
	if (!ns[m->nsrc].kind || !ns[m->nsrc].path) {
		free(ns[m->nsrc].kind);
		free(ns[m->nsrc].path);
		return -ENOMEM;
	}
	m->nsrc++;
	return 0;
}

/* ------------------------------------------------------------ order */

static const struct emt_model *cmp_model;

static int key_cmp(const void *a, const void *b)
{
	uint16_t x[3], y[3];

	unpack(*(const uint64_t *)a, x);
	unpack(*(const uint64_t *)b, y);
	for (int i = 0; i < cmp_model->depth; i++) {
		int c = strcmp(cmp_model->names[x[i]], cmp_model->names[y[i]]);

		if (c)
			return c;
	}
	return 0;
}

/* p's transitions sorted by name (qsort with a file-static model: the
 * library is not used from several threads on one model). */
static int prog_sorted(const struct emt_model *m, struct prog *p)
{
	size_t n = 0;

	if (p->sorted || !p->n)
		return 0;
	p->sorted = malloc(p->n * sizeof(*p->sorted));
	if (!p->sorted)
		return -ENOMEM;
	for (size_t i = 0; i < p->cap; i++)
		if (p->set[i])
			p->sorted[n++] = p->set[i];
	cmp_model = m;
	qsort(p->sorted, n, sizeof(*p->sorted), key_cmp);
	return 0;
}

int emt_model_transition(const struct emt_model *m, size_t i, size_t t,
			 const char *names[EMT_MODEL_DEPTH_MAX])
{
	uint16_t w[3];

	if (!m || i >= m->nprogs)
		return -EINVAL;
	sort_progs((struct emt_model *)m);
	struct prog *p = &((struct emt_model *)m)->progs[i];

	if (t >= p->n || prog_sorted(m, p))
		return -EINVAL;
	unpack(p->sorted[t], w);
	for (int k = 0; k < EMT_MODEL_DEPTH_MAX; k++)
		names[k] = k < m->depth ? m->names[w[k]] : NULL;
	return 0;
}

/* ------------------------------------------------------------ JSON out */

/* A JSON string of s (jansson's escaping) onto f. */
static int put_str(FILE *f, const char *s)
{
	json_t *j = json_string(s);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
	int ok = t && fputs(t, f) >= 0;

	free(t);
	json_decref(j);
	return ok ? 0 : -ENOMEM;
}

int emt_model_json(const struct emt_model *m, char **out)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int err = f ? 0 : -ENOMEM;

	*out = NULL;
	if (err)
		return err;
	sort_progs((struct emt_model *)m);
	/* Written by hand rather than dumped: one transition per line keeps
	 * a model short, readable and diffable. */
	fprintf(f, "{\n  \"format\": \"%s\",\n  \"version\": %d,\n  \"arch\": \"%s\",\n"
		"  \"depth\": %d,\n  \"writer\": \"emt %s\",\n  \"sources\": [",
		EMT_MODEL_FORMAT, EMT_MODEL_VERSION, EMT_ARCH_X86_64, m->depth, EMT_VERSION);
	for (size_t i = 0; !err && i < m->nsrc; i++) {
		fprintf(f, "%s\n    {\"kind\": ", i ? "," : "");
		err = put_str(f, m->src[i].kind);
		fputs(", \"path\": ", f);
		err = err ? err : put_str(f, m->src[i].path);
		fprintf(f, ", \"sha256\": \"%s\"}", m->src[i].sha256);
	}
	fprintf(f, "%s],\n  \"programs\": [", m->nsrc ? "\n  " : "");
	for (size_t i = 0; !err && i < m->nprogs; i++) {
		struct prog *p = &((struct emt_model *)m)->progs[i];

		fprintf(f, "%s\n    {\n      \"sha256\": \"%s\",\n      \"path\": ", i ? "," : "",
			p->pub.sha256);
		err = put_str(f, p->path);
		fprintf(f, ",\n      \"inode\": %" PRIu64 ",\n      \"dev\": %" PRIu64 ",\n"
			"      \"threads\": %" PRIu64 ",\n      \"syscalls\": %" PRIu64 ",\n"
			"      \"transitions\": [", p->pub.inode, p->pub.dev, p->pub.threads,
			p->pub.calls);
		err = err ? err : prog_sorted(m, p);
		for (size_t t = 0; !err && t < p->n; t++) {
			uint16_t w[3];

			unpack(p->sorted[t], w);
			fprintf(f, "%s\n        [", t ? "," : "");
			for (int k = 0; k < m->depth; k++)
				fprintf(f, "%s\"%s\"", k ? ", " : "", m->names[w[k]]);
			fputc(']', f);
		}
		fprintf(f, "%s]\n    }", p->n ? "\n      " : "");
	}
	fprintf(f, "%s]\n}", m->nprogs ? "\n  " : "");
	if (fclose(f) != 0 && !err)
		err = -ENOMEM;
	if (err)
		free(text);
	else
		*out = text;
	return err;
}

/* ------------------------------------------------------------ JSON in */

static int hex64_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= 64 || !((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

static int u64_member(json_t *o, const char *key, uint64_t *v, int required)
{
	json_t *j = json_object_get(o, key);

	if (!j)
		return required ? -1 : 0;
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -1;
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

static struct emt_model *parse_fail(struct emt_model *m, json_t *root, int e)
{
	emt_model_free(m);
	json_decref(root);
	errno = e;
	return NULL;
}

struct emt_model *emt_model_parse(const char *buf, size_t len, char *err, size_t cap)
{
	json_error_t je;
	json_t *root, *j, *progs;
	struct emt_model *m = NULL;

	if (!buf) {
		emt_fmt(err, cap, "no model text");
		errno = EINVAL;
		return NULL;
	}
	if (len > EMT_MODEL_FILE_MAX) {
		emt_fmt(err, cap, "model larger than %u bytes", EMT_MODEL_FILE_MAX);
		errno = E2BIG;
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		emt_fmt(err, cap, "not JSON: line %d column %d: %s", je.line, je.column, je.text);
		return parse_fail(NULL, NULL, EINVAL);
	}
	if (!json_is_object(root)) {
		emt_fmt(err, cap, "not a model: the top level is not an object");
		return parse_fail(NULL, root, EINVAL);
	}
	j = json_object_get(root, "format");
	if (!json_is_string(j) || strcmp(json_string_value(j), EMT_MODEL_FORMAT)) {
		emt_fmt(err, cap, "not a model: \"format\" is not \"%s\"", EMT_MODEL_FORMAT);
		return parse_fail(NULL, root, EINVAL);
	}
	j = json_object_get(root, "version");
	if (!json_is_integer(j) || json_integer_value(j) < 1) {
		emt_fmt(err, cap, "\"version\" is not a positive integer");
		return parse_fail(NULL, root, EINVAL);
	}
	if (json_integer_value(j) > EMT_MODEL_VERSION) {
		emt_fmt(err, cap, "model version %" JSON_INTEGER_FORMAT " is newer than this emt's (%d);"
			" upgrade emt to read it", json_integer_value(j), EMT_MODEL_VERSION);
		return parse_fail(NULL, root, EPROTONOSUPPORT);
	}
	j = json_object_get(root, "arch");
	if (!json_is_string(j) || strcmp(json_string_value(j), EMT_ARCH_X86_64)) {
		emt_fmt(err, cap, "\"arch\" is not \"%s\"", EMT_ARCH_X86_64);
		return parse_fail(NULL, root, EINVAL);
	}
	j = json_object_get(root, "depth");
	if (!json_is_integer(j) || json_integer_value(j) < EMT_MODEL_DEPTH_MIN ||
	    json_integer_value(j) > EMT_MODEL_DEPTH_MAX) {
		emt_fmt(err, cap, "\"depth\" is not an integer from %d to %d", EMT_MODEL_DEPTH_MIN,
			EMT_MODEL_DEPTH_MAX);
		return parse_fail(NULL, root, EINVAL);
	}
	m = emt_model_new((int)json_integer_value(j));
	if (!m) {
		emt_fmt(err, cap, "out of memory");
		return parse_fail(NULL, root, ENOMEM);
	}
	j = json_object_get(root, "sources");
	if (j && !json_is_array(j)) {
		emt_fmt(err, cap, "\"sources\" is not an array");
		return parse_fail(m, root, EINVAL);
	}
	for (size_t i = 0; j && i < json_array_size(j); i++) {
		json_t *s = json_array_get(j, i);
		json_t *k = json_object_get(s, "kind"), *p = json_object_get(s, "path");
		json_t *h = json_object_get(s, "sha256");

		if (!json_is_string(k) || !json_is_string(p) || !json_is_string(h) ||
		    !hex64_ok(json_string_value(h))) {
			emt_fmt(err, cap, "sources[%zu]: needs strings \"kind\", \"path\" and"
				" \"sha256\" (64 hex digits)", i);
			return parse_fail(m, root, EINVAL);
		}
		if (emt_model_add_source(m, json_string_value(k), json_string_value(p),
					 json_string_value(h))) {
			emt_fmt(err, cap, "out of memory");
			return parse_fail(m, root, ENOMEM);
		}
	}
	progs = json_object_get(root, "programs");
	if (!json_is_array(progs)) {
		emt_fmt(err, cap, "\"programs\" is not an array");
		return parse_fail(m, root, EINVAL);
	}
	for (size_t i = 0; i < json_array_size(progs); i++) {
		json_t *o = json_array_get(progs, i), *h, *p, *tr;
		uint64_t ino = 0, dev = 0, threads = 0, calls = 0;

		if (!json_is_object(o)) {
			emt_fmt(err, cap, "programs[%zu] is not an object", i);
			return parse_fail(m, root, EINVAL);
		}
		h = json_object_get(o, "sha256");
		p = json_object_get(o, "path");
		tr = json_object_get(o, "transitions");
		if (!json_is_string(h) || !hex64_ok(json_string_value(h))) {
			emt_fmt(err, cap, "programs[%zu]: \"sha256\" is not 64 lowercase hex digits", i);
			return parse_fail(m, root, EINVAL);
		}
		if (!json_is_string(p) || !json_string_length(p) ||
		    strlen(json_string_value(p)) != json_string_length(p)) {
			emt_fmt(err, cap, "programs[%zu]: \"path\" is not a non-empty string", i);
			return parse_fail(m, root, EINVAL);
		}
		if (u64_member(o, "inode", &ino, 0) || u64_member(o, "dev", &dev, 0) ||
		    u64_member(o, "threads", &threads, 0) || u64_member(o, "syscalls", &calls, 0)) {
			emt_fmt(err, cap, "programs[%zu]: \"inode\", \"dev\", \"threads\" and"
				" \"syscalls\" must be non-negative integers", i);
			return parse_fail(m, root, EINVAL);
		}
		if (!json_is_array(tr)) {
			emt_fmt(err, cap, "programs[%zu]: \"transitions\" is not an array", i);
			return parse_fail(m, root, EINVAL);
		}
		int pi = prog_get(m, json_string_value(h), json_string_value(p), ino, dev, 2);

		if (pi == -EEXIST) {
			emt_fmt(err, cap, "programs[%zu]: program %s is there twice", i,
				json_string_value(h));
			return parse_fail(m, root, EINVAL);
		}
		if (pi < 0) {
			emt_fmt(err, cap, "out of memory");
			return parse_fail(m, root, ENOMEM);
		}
		m->progs[pi].pub.threads = threads;
		m->progs[pi].pub.calls = calls;
		for (size_t t = 0; t < json_array_size(tr); t++) {
			json_t *a = json_array_get(tr, t);
			uint16_t w[3] = { 0, 0, 0 };
			int seen_call = 0;

			if (!json_is_array(a) || json_array_size(a) != (size_t)m->depth) {
				emt_fmt(err, cap, "programs[%zu].transitions[%zu]: not an array of %d"
					" names (the depth)", i, t, m->depth);
				return parse_fail(m, root, EINVAL);
			}
			for (int k = 0; k < m->depth; k++) {
				json_t *s = json_array_get(a, (size_t)k);
				const char *nm = json_is_string(s) ? json_string_value(s) : NULL;
				int id = nm && strlen(nm) == json_string_length(s) ? name_id(m, nm, 1)
								     : -EINVAL;

				/* The marker only before the first call: nothing
				 * follows a call but a call. */
				if (id == 0 && (seen_call || k == m->depth - 1))
					id = -EINVAL;
				if (id == -E2BIG || id == -ENOMEM) {
					emt_fmt(err, cap, "programs[%zu]: more than %u syscall names",
						i, EMT_MODEL_NAMES_MAX);
					return parse_fail(m, root, id == -E2BIG ? E2BIG : ENOMEM);
				}
				if (id < 0) {
					emt_fmt(err, cap, "programs[%zu].transitions[%zu][%d]: not a"
						" syscall name or a start marker where one can be", i, t, k);
					return parse_fail(m, root, EINVAL);
				}
				seen_call |= id > 0;
				w[k] = (uint16_t)id;
			}
			int r = set_add(m, &m->progs[pi], pack(w));

			if (r == -E2BIG) {
				emt_fmt(err, cap, "more than %u transitions", EMT_MODEL_TRANS_MAX);
				return parse_fail(m, root, E2BIG);
			}
			if (r < 0) {
				emt_fmt(err, cap, "out of memory");
				return parse_fail(m, root, ENOMEM);
			}
		}
	}
	json_decref(root);
	sort_progs(m);
	return m;
}

struct emt_model *emt_model_load(const char *path, char sha256[65], char *err, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *buf;
	size_t n = 0;
	int e;

	if (fd < 0 || fstat(fd, &sb) != 0) {
		e = errno;
		emt_fmt(err, cap, "cannot read '%s': %s", path, strerror(e));
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > (off_t)EMT_MODEL_FILE_MAX) {
		emt_fmt(err, cap, "cannot read '%s': %s", path,
			S_ISREG(sb.st_mode) ? "larger than 64 MiB" : "not a regular file");
		close(fd);
		errno = S_ISREG(sb.st_mode) ? E2BIG : EINVAL;
		return NULL;
	}
	buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		emt_fmt(err, cap, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	while (n < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r < 0 ? errno : EIO;
			emt_fmt(err, cap, "cannot read '%s': %s", path, strerror(e));
			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		n += (size_t)r;
	}
	close(fd);
	if (sha256) {
		uint8_t d[EMT_SHA256_LEN];

		emt_sha256(buf, n, d);
		emt_hex(d, EMT_SHA256_LEN, sha256);
	}
	char msg[512] = "";
	struct emt_model *m = emt_model_parse(buf, n, msg, sizeof(msg));

	e = errno;
	free(buf);
	if (!m) {
		emt_fmt(err, cap, "'%s': %s", path, msg);
		errno = e;
	}
	return m;
}
