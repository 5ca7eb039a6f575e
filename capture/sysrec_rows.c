/*
 * sysrec_rows.c - finished syscalls into rows of the archive's syscalls
 * table, written in batches (one writer call, one lock, per batch).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emt_archive.h"
#include "sysrec.h"

#define BATCH 256

struct sysrec_rows {
	struct emt_writer *w;
	struct emt_syscall row[BATCH];
	char *owned[BATCH][2];          /* args and text of each row */
	size_t n;
	uint64_t written;
};

struct sysrec_rows *sysrec_rows_new(struct emt_writer *w)
{
	struct sysrec_rows *rs;

	if (!w) {
		errno = EINVAL;
		return NULL;
	}
	rs = calloc(1, sizeof(*rs));
	if (rs)
		rs->w = w;
	return rs;
}

static void drop(struct sysrec_rows *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		free(rs->owned[i][0]);
		free(rs->owned[i][1]);
	}
	rs->n = 0;
}

int sysrec_rows_flush(struct sysrec_rows *rs)
{
	int err;

	if (!rs || !rs->n)
		return 0;
	err = emt_writer_add_syscalls(rs->w, rs->row, rs->n);
	if (!err)
		rs->written += rs->n;
	drop(rs);
	return err;
}

int sysrec_rows_add(struct sysrec_rows *rs, const struct sysrec_sc *sc,
		    const struct sysrec_call *c)
{
	struct sysrec_str js = { 0 }, tx = { 0 };
	struct emt_syscall *r;
	uint32_t fl;

	fl = sysrec_render(sc, c, &js, &tx);
	if (js.failed || tx.failed || !js.s) {
		sysrec_str_free(&js);
		sysrec_str_free(&tx);
		return -ENOMEM;
	}
	r = &rs->row[rs->n];
	memset(r, 0, sizeof(*r));
	r->time_ns = c->time_ns;
	r->exit_ns = c->returned ? c->exit_ns : 0;
	r->pid = c->pid;
	r->tid = c->tid;
	r->uid = c->uid;
	r->gid = c->gid;
	r->nr = c->nr;
	r->name = sc ? sc->fmt.name : "unknown";
	r->args = js.s;
	r->text = tx.s ? tx.s : "";
	r->ret = c->returned ? c->ret : 0;
	r->returned = (uint32_t)!!c->returned;
	r->flags = fl;
	rs->owned[rs->n][0] = js.s;
	rs->owned[rs->n][1] = tx.s;
	rs->n++;
	return rs->n == BATCH ? sysrec_rows_flush(rs) : 0;
}

uint64_t sysrec_rows_count(const struct sysrec_rows *rs)
{
	return rs ? rs->written + rs->n : 0;
}

void sysrec_rows_free(struct sysrec_rows *rs)
{
	if (!rs)
		return;
	drop(rs);
	free(rs);
}
