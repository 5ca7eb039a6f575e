/*
 * sysrec_session.c - the syscall recorder of one capture session: what
 * both engines call (see sysrec.h), and the archive meta it leaves.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emt_archive.h"
#include "engine.h"
#include "sink.h"
#include "sysrec.h"

struct sysrec_session {
	struct sysrec_table t;
	struct sysrec_bpf *bpf;
	struct sysrec_pt *pt;           /* ptrace mode, once started */
	struct sysrec_rows *rows;
	int nchosen;
	int ended;              /* sysrec_session_end ran (stop is idempotent) */
};

int sysrec_session_open(struct emt_session *s, struct sysrec_session **out)
{
	struct sysrec_session *ss;
	char msg[512] = "";
	int err;

	*out = NULL;
	if (!s->opts.syscalls)
		return 0;
	ss = calloc(1, sizeof(*ss));
	if (!ss)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	err = sysrec_table_load(&ss->t, NULL, s->opts.syscall_bytes, msg, sizeof(msg));
	if (!err) {
		err = sysrec_choose(&ss->t, s->opts.syscalls, msg, sizeof(msg));
		if (err > 0) {
			ss->nchosen = err;
			err = 0;
		}
	}
	if (err) {
		sysrec_session_free(ss);
		return emt_session_fail(s, err, "--syscalls: %s", msg);
	}
	*out = ss;
	return 0;
}

int sysrec_session_attach_bpf(struct emt_session *s, struct sysrec_session *ss,
			      const struct sysrec_bpf_maps *maps)
{
	char msg[512] = "";

	if (!ss)
		return 0;
	ss->bpf = sysrec_bpf_open(&ss->t, maps, msg, sizeof(msg));
	return ss->bpf ? 0 : emt_session_fail(s, -errno, "%s", msg);
}

int sysrec_session_start(struct emt_session *s, struct sysrec_session *ss)
{
	struct emt_writer *w;
	char v[32];
	int err;

	if (!ss)
		return 0;
	w = sink_writer(s->sink);
	ss->rows = sysrec_rows_new(w);
	if (!ss->rows)
		return emt_session_fail(s, -errno, "out of memory");
	if (!ss->bpf) {
		ss->pt = sysrec_pt_new(&ss->t, ss->rows);
		if (!ss->pt)
			return emt_session_fail(s, -ENOMEM, "out of memory");
	}
	snprintf(v, sizeof(v), "%d", ss->nchosen);
	err = emt_writer_set_meta(w, "syscalls_list", s->opts.syscalls);
	err = err ? err : emt_writer_set_meta(w, "syscalls_chosen", v);
	snprintf(v, sizeof(v), "%" PRIu32, s->opts.syscall_bytes);
	err = err ? err : emt_writer_set_meta(w, "syscalls_buffer_bytes", v);
	err = err ? err : emt_writer_set_meta(w, "syscalls_formats", ss->t.tracefs);
	if (!err && ss->t.unnumbered) {
		/* Syscalls this kernel has and the headers emt was built with
		 * do not number: not recordable (README "Recording syscalls"). */
		struct sysrec_str un = { 0 };

		for (size_t i = 0; i < ss->t.n; i++)
			if (ss->t.sc[i].nr < 0)
				sysrec_str_printf(&un, "%s%s", un.len ? "," : "", ss->t.sc[i].fmt.name);
		err = un.failed ? -ENOMEM : emt_writer_set_meta(w, "syscalls_unnumbered", un.s);
		sysrec_str_free(&un);
	}
	if (err)
		return emt_session_fail(s, err, "archive: %s", emt_writer_errmsg(w));
	return 0;
}

int sysrec_session_record(struct sysrec_session *ss, const void *data, size_t size)
{
	if (!ss || !ss->bpf || !ss->rows)
		return 0;
	return sysrec_bpf_record(ss->bpf, ss->rows, data, size);
}

int sysrec_session_gone(struct sysrec_session *ss, uint32_t pid)
{
	if (!ss || !ss->bpf || !ss->rows || !pid)
		return 0;
	return sysrec_bpf_flush(ss->bpf, ss->rows, pid);
}

void sysrec_session_detach(struct sysrec_session *ss)
{
	if (ss)
		sysrec_bpf_detach(ss->bpf);
}

int sysrec_session_end(struct emt_session *s, struct sysrec_session *ss)
{
	struct emt_writer *w;
	uint64_t unpaired;
	char v[32];
	int err = 0;

	if (!ss || !ss->rows || ss->ended)
		return 0;
	ss->ended = 1;
	w = sink_writer(s->sink);
	if (ss->bpf)
		err = sysrec_bpf_flush(ss->bpf, ss->rows, 0);
	else
		err = sysrec_pt_gone(ss->pt, 0);
	int e = sysrec_rows_flush(ss->rows);

	if (!err)
		err = e;
	/* Entries without their exit and the reverse: a record of the pair
	 * did not fit in the ring (counted as a ringbuf-record loss already),
	 * or the call began before the thread was followed (the launched
	 * command's wait for its start).  Their rows say so (flags). */
	unpaired = sysrec_bpf_unpaired(ss->bpf);
	snprintf(v, sizeof(v), "%" PRIu64, unpaired);
	if (!err && ss->bpf)
		err = emt_writer_set_meta(w, "syscalls_unpaired", v);
	snprintf(v, sizeof(v), "%" PRIu64, sysrec_rows_count(ss->rows));
	if (!err)
		err = emt_writer_set_meta(w, "syscalls_rows", v);
	if (err)
		return emt_session_fail(s, err, "archive: syscalls: %s", emt_writer_errmsg(w));
	return 0;
}

int sysrec_session_filter(struct emt_session *s, struct sysrec_session *ss,
			  struct sock_fprog *prog)
{
	int err;

	if (!ss)
		return 0;
	err = sysrec_pt_filter(&ss->t, prog);
	return err ? emt_session_fail(s, err, "--syscalls: cannot build the seccomp filter: %s",
				      strerror(-err)) : 0;
}

struct sysrec_pt *sysrec_session_ptrace(struct sysrec_session *ss)
{
	return ss ? ss->pt : NULL;
}

void sysrec_session_free(struct sysrec_session *ss)
{
	if (!ss)
		return;
	sysrec_bpf_close(ss->bpf);
	sysrec_pt_free(ss->pt);
	sysrec_rows_free(ss->rows);
	sysrec_table_free(&ss->t);
	free(ss);
}
