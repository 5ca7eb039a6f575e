/*
 * model.h - the syscall model check of a capture (`emt-capture --model`,
 * SPEC.md section 16), bpf mode: capture/model_bpf.c loads the model
 * into bpf/model.bpf.c's maps, attaches it, and turns its alert records
 * into alerts rows; the bpf engine holds and captures the process.
 * Not installed.  Conventions of the capture library: 0 or -errno, the
 * message on the session.
 */
#ifndef EMT_CAPTURE_MODEL_H
#define EMT_CAPTURE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/model_bpf.h"
#include "emt_archive.h"
#include "sysrec.h"

struct emt_session;
struct model_session;

/* Loads opts.model (the model file), opens bpf/model.bpf.c sharing the
 * main object's maps, fills the program and transition maps (programs
 * found at their path with the model's SHA-256 only) and attaches it.
 * Without opts.model: *out = NULL, 0.  Returns 0 or -errno (message on
 * s: an unreadable or invalid model, a syscall name this kernel's ABI
 * does not have, the BPF side refused). */
int model_session_open(struct emt_session *s, const struct sysrec_bpf_maps *maps,
		       struct model_session **out);

/* Writes the model_programs rows and the model's meta keys (model_path,
 * model_sha256, model_depth, model_on_alert, model_alert_rate,
 * model_programs_checked).  NULL ms: nothing.  Returns 0 or -errno. */
int model_session_start(struct emt_session *s, struct model_session *ms);

/* Writes the alerts row of alert record r (MODEL_REC_ALERT) into *id.
 * Returns 0 or -errno. */
int model_session_alert(struct emt_session *s, struct model_session *ms,
			const struct model_rec_alert *r, int64_t *id);

/* The registers of alert record r as a snapshot. */
void model_alert_regs(const struct model_rec_alert *r, struct emt_regs_x86_64 *out);

/* Detaches the program (the maps stay until free); NULL accepted. */
void model_session_detach(struct model_session *ms);
/* Writes the meta keys of the end (model_alerts); NULL ms: nothing. */
int model_session_end(struct emt_session *s, struct model_session *ms);
void model_session_free(struct model_session *ms);

/* For bpf-check: loads the model's programs (the sys_enter check and the
 * exec hook) sharing `maps`, configured for depth 3 (the deepest window),
 * their verifier statistics into st[0..*n) (at most max, 2 needed), and
 * unloads them.  Returns 0 or -errno with msg. */
struct emt_bpf_prog_stat;
int model_bpf_verify(const struct sysrec_bpf_maps *maps, struct emt_bpf_prog_stat *st,
		     unsigned max, unsigned *n, char *msg, size_t cap);

#endif /* EMT_CAPTURE_MODEL_H */
