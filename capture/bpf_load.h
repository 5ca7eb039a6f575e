/*
 * bpf_load.h - opening, configuring and loading the BPF object
 * (bpf/emt.bpf.c) for one hook set, with the verifier's statistics of
 * every program.  Used by the bpf engine (bpf_engine.c) and by
 * `make bpf-check` (tools/dev/bpf-check.c), so that what is checked is
 * exactly what the engine loads.  Not installed.
 *
 * Never prints: libbpf's own output goes wherever the caller's
 * libbpf_set_print() sends it.
 */
#ifndef EMT_CAPTURE_BPF_LOAD_H
#define EMT_CAPTURE_BPF_LOAD_H

#include <stddef.h>
#include <stdint.h>

struct emt_bpf;         /* the skeleton (emt.skel.h) */

/* The two hook sets (see bpf/emt.bpf.c): compare by pointer or strcmp. */
extern const char EMT_HOOKS_LOCK[];     /* "mmap-lock" */
extern const char EMT_HOOKS_SYSCALLS[]; /* "syscalls" */

/* The largest combined stack (program + global functions + bpf_loop
 * callbacks along one call chain) bpf-check accepts: the verifier's limit
 * is 512, and the margin absorbs compiler and verifier changes. */
#define EMT_BPF_STACK_BUDGET 384
#define EMT_BPF_STACK_LIMIT  512

#define EMT_BPF_MAX_PROGS 16

/* What the BPF object is configured with (its rodata and map sizes). */
struct emt_bpf_cfg {
	const char *hooks;              /* EMT_HOOKS_LOCK or EMT_HOOKS_SYSCALLS */
	uint32_t follow;                /* follow forks */
	uint32_t lossless;
	uint32_t capture_files;         /* copy file-backed executable mappings */
	uint32_t rb_size;               /* main ring, power of two >= 16 KiB */
	uint32_t ovf_size;              /* overflow ring, likewise */
	uint64_t max_pages;             /* per capture */
};

/* One program's verification. */
struct emt_bpf_prog_stat {
	char     name[48];
	int      loaded;                /* accepted by the verifier */
	uint32_t insns;                 /* instructions processed */
	uint32_t stack;                 /* deepest combined call chain, bytes */
	uint32_t nsubprogs;             /* frames the verifier saw */
	uint64_t verify_us;             /* verification time */
	char     depths[128];           /* the verifier's per-frame depths, "a+b+c" */
};

struct emt_bpf_loaded {
	struct emt_bpf *skel;           /* owned; NULL after a failed load */
	const char *hooks;              /* the hook set loaded */
	const char *protos;             /* which tracepoint prototypes: "current"
					 * or "6.1" (mmap_lock with memcg_path,
					 * sched_process_exit without group_dead) */
	unsigned nprogs;
	struct emt_bpf_prog_stat prog[EMT_BPF_MAX_PROGS];
	char msg[1024];                 /* why the last call failed, lowercase */
};

/*
 * Whether this process can load the object at all: CAP_BPF and
 * CAP_PERFMON (or CAP_SYS_ADMIN) and the kernel's BTF; `capture`: also
 * what a capture needs besides (CAP_SYS_PTRACE for process_vm_readv,
 * CAP_KILL for holds).  Returns 0, or -EPERM (capabilities) or -ENOTSUP
 * (no BTF) with `why` naming what is missing.
 */
int emt_bpf_missing(char *why, size_t cap, int capture);

/*
 * Opens the BPF object, configures it with *cfg, selects the programs of
 * cfg->hooks (and of the kernel's tracepoint prototypes, read from its
 * BTF) and loads them, asking the verifier for its statistics.  Does not
 * attach.
 *
 * Returns 0, with ld->skel loaded and ld->prog[] filled for every program
 * loaded; or a negative errno with ld->msg set: -ENOENT if the kernel
 * lacks a tracepoint of the hook set, -EACCES/-EPERM/-EINVAL/... from the
 * kernel when a program is refused, in which case ld->msg ends with the
 * verifier's decisive lines and ld->prog[] holds what was verified (the
 * refused program last, loaded == 0).  On failure ld->skel is NULL.
 * `ld` is caller-owned; call emt_bpf_unload() in either case.
 */
int emt_bpf_load(struct emt_bpf_loaded *ld, const struct emt_bpf_cfg *cfg);

/* Attaches the loaded programs.  Returns 0 or a negative errno with
 * ld->msg set. */
int emt_bpf_attach(struct emt_bpf_loaded *ld);

/* Destroys ld->skel (detaching whatever is attached); safe to repeat. */
void emt_bpf_unload(struct emt_bpf_loaded *ld);

/* Fills *st for program `prog` of any object from its verifier log
 * (log level 4, BPF_LOG_STATS) and, if `loaded`, its translated code:
 * the same statistics emt_bpf_load gives (used for the syscall
 * recorder's object, capture/sysrec_bpf.c). */
struct bpf_program;
void emt_bpf_prog_stat_fill(const struct bpf_program *prog, const char *log, int loaded,
			    struct emt_bpf_prog_stat *st);

/* The program with the largest combined stack, or NULL if none loaded. */
const struct emt_bpf_prog_stat *emt_bpf_deepest(const struct emt_bpf_loaded *ld);

#endif
