/*
 * model_bpf.c - the syscall model check of a bpf-mode capture (model.h):
 * loads a model file (format/model.c) into bpf/model.bpf.c's maps and
 * turns the program's alert records into alerts rows.
 *
 * A model names programs by SHA-256; the kernel side knows a thread's
 * executable by (device, inode).  So each program's file is looked up at
 * the path the model gives and hashed: only a file with the model's
 * SHA-256 is checked (model_programs.checked), and a program found
 * elsewhere or changed since is not, rather than judged by a model of
 * another binary.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf_load.h"
#include "emt_capture.h"
#include "emt_model.h"
#include "engine.h"
#include "model.h"
#include "model.skel.h"
#include "sink.h"

#define DEFAULT_RATE 5u

struct model_session {
	struct emt_model *m;
	char sha256[65];
	struct model_bpf *skel;
	struct bpf_link *link, *link_exec;
	int64_t *row_id;        /* per program index: its model_programs id */
	uint32_t *checked;      /* per program index: 1 if its file matched */
	uint32_t nchecked;
	uint64_t alerts;
	uint32_t rate;
	int action;
};

/* The kernel's encoding of a device number (s_dev: major << 20 | minor),
 * from stat's. */
static uint32_t kdev(uint64_t dev)
{
	return (uint32_t)(major(dev) << 20 | minor(dev));
}

static int fail(struct emt_session *s, struct model_session *ms, int err, const char *what)
{
	emt_session_fail(s, err, "--model: %s: %s", what, strerror(-err));
	model_session_free(ms);
	return err;
}

/* Fills model_progs and model_trans from ms->m. */
static int fill_maps(struct emt_session *s, struct model_session *ms)
{
	struct emt_model *m = ms->m;
	int depth = emt_model_depth(m);

	for (size_t i = 0; i < emt_model_nprograms(m); i++) {
		const struct emt_model_prog *p = emt_model_program(m, i);
		char sha[65], *real = NULL, why[512];
		uint64_t ino = 0, dev = 0;

		/* Not there, or another file now: not checked (say so in the
		 * archive), never judged by the model of another binary. */
		if (emt_model_identify(p->path, &real, sha, &ino, &dev, why, sizeof(why)) == 0 &&
		    !strcmp(sha, p->sha256)) {
			struct model_prog_key k = { ino, kdev(dev), 0 };
			uint32_t v = (uint32_t)i + 1;
			int err = bpf_map__update_elem(ms->skel->maps.model_progs, &k, sizeof(k),
						       &v, sizeof(v), BPF_ANY);

			if (err) {
				free(real);
				return emt_session_fail(s, err, "--model: cannot store a program: %s",
							strerror(-err));
			}
			ms->checked[i] = 1;
			ms->nchecked++;
		}
		free(real);
		for (size_t t = 0; t < p->ntrans; t++) {
			const char *names[EMT_MODEL_DEPTH_MAX];
			struct model_trans_key k = { (uint32_t)i + 1, { 0, 0, 0 }, 0 };
			uint8_t one = 1;

			if (emt_model_transition(m, i, t, names))
				return emt_session_fail(s, -EINVAL, "--model: bad transition");
			for (int d = 0; d < depth; d++) {
				int nr = strcmp(names[d], EMT_MODEL_START) ? emt_syscall_nr(names[d])
									   : (int)MODEL_START;

				if (nr < 0 || (nr >= (int)MODEL_NR_MAX && nr != (int)MODEL_START))
					return emt_session_fail(s, -EINVAL, "--model: program '%s':"
								" syscall '%s' has no x86-64 number",
								p->path, names[d]);
				k.nr[d] = (uint16_t)nr;
			}
			int err = bpf_map__update_elem(ms->skel->maps.model_trans, &k, sizeof(k),
						       &one, sizeof(one), BPF_ANY);

			if (err)
				return emt_session_fail(s, err, "--model: cannot store a transition: %s",
							strerror(-err));
		}
	}
	return 0;
}

int model_session_open(struct emt_session *s, const struct sysrec_bpf_maps *maps,
		       struct model_session **out)
{
	struct model_session *ms;
	char msg[1024] = "";
	size_t ntrans = 0;
	int err;

	*out = NULL;
	if (!s->opts.model)
		return 0;
	ms = calloc(1, sizeof(*ms));
	if (!ms)
		return emt_session_fail(s, -ENOMEM, "out of memory");
	ms->m = emt_model_load(s->opts.model, ms->sha256, msg, sizeof(msg));
	if (!ms->m) {
		err = -errno;
		emt_session_fail(s, err, "--model: %s", msg);
		model_session_free(ms);
		return err;
	}
	ms->action = s->opts.on_alert ? s->opts.on_alert : EMT_ALERT_CAPTURE;
	ms->rate = s->opts.alert_rate ? s->opts.alert_rate : DEFAULT_RATE;
	size_t np = emt_model_nprograms(ms->m);

	ms->row_id = calloc(np + 1, sizeof(*ms->row_id));
	ms->checked = calloc(np + 1, sizeof(*ms->checked));
	if (!ms->row_id || !ms->checked)
		return fail(s, ms, -ENOMEM, "out of memory");
	for (size_t i = 0; i < np; i++)
		ntrans += emt_model_program(ms->m, i)->ntrans;
	ms->skel = model_bpf__open();
	if (!ms->skel)
		return fail(s, ms, -errno, "cannot open bpf object");
	err = bpf_map__reuse_fd(ms->skel->maps.followed, maps->followed_fd);
	err = err ? err : bpf_map__reuse_fd(ms->skel->maps.rb, maps->rb_fd);
	err = err ? err : bpf_map__reuse_fd(ms->skel->maps.stats, maps->stats_fd);
	err = err ? err : bpf_map__reuse_fd(ms->skel->maps.lost, maps->lost_fd);
	err = err ? err : bpf_map__set_max_entries(ms->skel->maps.model_trans,
						   (uint32_t)(ntrans ? ntrans : 1));
	err = err ? err : bpf_map__set_max_entries(ms->skel->maps.model_progs,
						   (uint32_t)(np ? np : 1));
	if (err)
		return fail(s, ms, err, "cannot share the capture's maps");
	ms->skel->rodata->cfg_depth = (uint32_t)emt_model_depth(ms->m);
	ms->skel->rodata->cfg_action = (uint32_t)ms->action;
	ms->skel->rodata->cfg_rate = ms->rate;
	err = model_bpf__load(ms->skel);
	if (err)
		return fail(s, ms, err, "cannot load the bpf program (EMT_BPF_DEBUG=1 shows the verifier)");
	err = fill_maps(s, ms);
	if (err) {
		model_session_free(ms);
		return err;
	}
	/* The exec hook first: no sequence may outlive an execve unseen. */
	ms->link_exec = bpf_program__attach(ms->skel->progs.emt_model_exec);
	if (!ms->link_exec)
		return fail(s, ms, -errno, "cannot attach to tracepoint sched_process_exec");
	ms->link = bpf_program__attach(ms->skel->progs.emt_model_enter);
	if (!ms->link)
		return fail(s, ms, -errno, "cannot attach to tracepoint sys_enter");
	*out = ms;
	return 0;
}

int model_session_start(struct emt_session *s, struct model_session *ms)
{
	struct emt_writer *w;
	char v[64];
	int err = 0;

	if (!ms)
		return 0;
	w = sink_writer(s->sink);
	for (size_t i = 0; !err && i < emt_model_nprograms(ms->m); i++) {
		const struct emt_model_prog *p = emt_model_program(ms->m, i);
		struct emt_model_program_row row = {
			.path = p->path, .inode = p->inode, .dev = p->dev,
			.transitions = p->ntrans, .checked = ms->checked[i],
		};

		memcpy(row.sha256, p->sha256, sizeof(row.sha256));
		err = emt_writer_add_model_program(w, &row);
		ms->row_id[i] = row.id;
	}
	err = err ? err : emt_writer_set_meta(w, "model_path", s->opts.model);
	err = err ? err : emt_writer_set_meta(w, "model_sha256", ms->sha256);
	snprintf(v, sizeof(v), "%d", emt_model_depth(ms->m));
	err = err ? err : emt_writer_set_meta(w, "model_depth", v);
	err = err ? err : emt_writer_set_meta(w, "model_on_alert",
					      emt_alert_action_name((enum emt_alert_action)ms->action));
	snprintf(v, sizeof(v), "%" PRIu32 "/s", ms->rate);
	err = err ? err : emt_writer_set_meta(w, "model_alert_rate", v);
	snprintf(v, sizeof(v), "%" PRIu32 " of %zu", ms->nchecked, emt_model_nprograms(ms->m));
	err = err ? err : emt_writer_set_meta(w, "model_programs_checked", v);
	if (err)
		return emt_session_fail(s, err, "archive: %s", emt_writer_errmsg(w));
	if (ms->nchecked < emt_model_nprograms(ms->m))
		emt_session_warn(s, "--model: %zu of the model's programs are not checked: no file"
				 " with their SHA-256 at their path (model_programs.checked)",
				 emt_model_nprograms(ms->m) - ms->nchecked);
	return 0;
}

void model_alert_regs(const struct model_rec_alert *r, struct emt_regs_x86_64 *o)
{
	/* struct pt_regs's order is the snapshot's, r15 to ss. */
	uint64_t *d = (uint64_t *)o;

	memset(o, 0, sizeof(*o));
	for (unsigned i = 0; i < MODEL_NREGS; i++)
		d[i] = r->regs[i];
	o->fs_base = r->fs_base;
	o->gs_base = r->gs_base;
}
_Static_assert(offsetof(struct emt_regs_x86_64, ss) == 20 * 8, "pt_regs order");
_Static_assert(offsetof(struct emt_regs_x86_64, fs_base) == MODEL_NREGS * 8, "pt_regs order");

/* The name of window slot v into buf. */
static const char *slot_name(uint16_t v, char *buf, size_t cap)
{
	const char *n = v == MODEL_START ? EMT_MODEL_START :
			v == MODEL_OTHER ? NULL : emt_syscall_name(v);

	if (n)
		return n;
	snprintf(buf, cap, "syscall_%u", (unsigned)v);
	return buf;
}

int model_session_alert(struct emt_session *s, struct model_session *ms,
			const struct model_rec_alert *r, int64_t *id)
{
	char json[512], nbuf[32], last[32];
	const char *name = "";
	size_t n = 0;
	unsigned depth = r->depth >= 1 && r->depth <= MODEL_DEPTH_MAX ? r->depth : 1;

	*id = 0;
	if (!ms)
		return 0;
	n += (size_t)snprintf(json + n, sizeof(json) - n, "[");
	for (unsigned i = 0; i < depth; i++) {
		const char *nm = slot_name(r->nr[i], nbuf, sizeof(nbuf));

		if (r->nr[i] == MODEL_START)
			n += (size_t)snprintf(json + n, sizeof(json) - n, "%s{\"nr\": null, \"name\": \"^\"}",
					      i ? ", " : "");
		else
			n += (size_t)snprintf(json + n, sizeof(json) - n, "%s{\"nr\": %u, \"name\": \"%s\"}",
					      i ? ", " : "", (unsigned)r->nr[i], nm);
		if (i == depth - 1) {
			snprintf(last, sizeof(last), "%s", nm);
			name = last;
		}
	}
	snprintf(json + n, sizeof(json) - n, "]");
	size_t pi = r->prog >= 1 ? r->prog - 1 : 0;
	struct emt_alert a = {
		.time_ns = r->time_ns, .pid = r->pid, .tid = r->tid,
		.program_id = pi < emt_model_nprograms(ms->m) ? ms->row_id[pi] : 0,
		.depth = depth, .nr = r->nr[depth - 1], .name = name, .syscalls = json,
		.rip = r->regs[16], .action = r->action, .suppressed = r->suppressed,
	};
	int err = emt_writer_add_alert(sink_writer(s->sink), &a);

	if (err)
		return emt_session_fail(s, err, "archive: alert: %s",
					emt_writer_errmsg(sink_writer(s->sink)));
	ms->alerts++;
	*id = a.id;
	return 0;
}

void model_session_detach(struct model_session *ms)
{
	if (ms) {
		bpf_link__destroy(ms->link);
		bpf_link__destroy(ms->link_exec);
		ms->link = ms->link_exec = NULL;
	}
}

int model_session_end(struct emt_session *s, struct model_session *ms)
{
	char v[32];
	int err;

	if (!ms)
		return 0;
	snprintf(v, sizeof(v), "%" PRIu64, ms->alerts);
	err = emt_writer_set_meta(sink_writer(s->sink), "model_alerts", v);
	return err ? emt_session_fail(s, err, "archive: %s",
				      emt_writer_errmsg(sink_writer(s->sink))) : 0;
}

void model_session_free(struct model_session *ms)
{
	if (!ms)
		return;
	model_session_detach(ms);
	model_bpf__destroy(ms->skel);
	emt_model_free(ms->m);
	free(ms->row_id);
	free(ms->checked);
	free(ms);
}

int model_bpf_verify(const struct sysrec_bpf_maps *maps, struct emt_bpf_prog_stat *st,
		     unsigned max, unsigned *n, char *msg, size_t cap)
{
	enum { LOG = 64 * 1024 };
	struct model_bpf *skel = model_bpf__open();
	char *log = calloc(1, LOG), *log2 = calloc(1, LOG);
	int err = 0;

	*n = 0;
	if (!skel || !log || !log2) {
		err = -ENOMEM;
		snprintf(msg, cap, "syscall model: cannot open bpf object");
		goto out;
	}
	err = bpf_map__reuse_fd(skel->maps.followed, maps->followed_fd);
	err = err ? err : bpf_map__reuse_fd(skel->maps.rb, maps->rb_fd);
	err = err ? err : bpf_map__reuse_fd(skel->maps.stats, maps->stats_fd);
	err = err ? err : bpf_map__reuse_fd(skel->maps.lost, maps->lost_fd);
	err = err ? err : bpf_program__set_log_buf(skel->progs.emt_model_enter, log, LOG);
	err = err ? err : bpf_program__set_log_level(skel->progs.emt_model_enter, 4);
	err = err ? err : bpf_program__set_log_buf(skel->progs.emt_model_exec, log2, LOG);
	err = err ? err : bpf_program__set_log_level(skel->progs.emt_model_exec, 4);
	if (err) {
		snprintf(msg, cap, "syscall model: cannot set up the bpf object: %s", strerror(-err));
		goto out;
	}
	skel->rodata->cfg_depth = 3;
	err = model_bpf__load(skel);
	if (max > 0) {
		emt_bpf_prog_stat_fill(skel->progs.emt_model_enter, log, !err, &st[0]);
		*n = 1;
	}
	if (max > 1 && (log2[0] || !err)) {
		emt_bpf_prog_stat_fill(skel->progs.emt_model_exec, log2, !err, &st[1]);
		*n = 2;
	}
	if (err)
		snprintf(msg, cap, "cannot load the syscall model's bpf program: %s", strerror(-err));
out:
	model_bpf__destroy(skel);
	free(log);
	free(log2);
	return err;
}
