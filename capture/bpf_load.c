/*
 * bpf_load.c - open -> configure -> load (-> attach) of the BPF object,
 * with the verifier's statistics (bpf_load.h).
 *
 * Which programs are loaded depends on the hook set and on the kernel's
 * tracepoint prototypes: the object carries a variant of the programs
 * whose tracepoints changed their arguments (mmap_lock_* lost its
 * memcg_path argument after 6.1, sched_process_exit gained group_dead),
 * and the kernel's BTF says which one it calls.
 *
 * The combined stack is computed the way the verifier's
 * check_max_stack_depth() does it: each frame of a call chain counts its
 * stack depth rounded up to 32 bytes (at least 32), and a bpf_loop or
 * bpf_find_vma callback is a frame below the function that names it.
 * The depths are the verifier's own ("stack depth a+b+c" of its
 * statistics, in subprogram order), the chains come from the final
 * instructions libbpf loaded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bpf_load.h"
#include "emt.skel.h"

const char EMT_HOOKS_LOCK[] = "mmap-lock";
const char EMT_HOOKS_SYSCALLS[] = "syscalls";

#define LOG_SIZE   (64 * 1024)
#define MAX_SUBS   64
#define TAIL_LINES 4

int emt_bpf_missing(char *why, size_t cap, int capture)
{
	static const struct { int bit; const char *name; int capture_only; } need[] = {
		{ 39, "CAP_BPF", 0 }, { 38, "CAP_PERFMON", 0 },
		{ 19, "CAP_SYS_PTRACE", 1 },    /* process_vm_readv */
		{ 5, "CAP_KILL", 1 },           /* holds */
	};
	char line[256], miss[128] = "";
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "CapEff: %llx", &eff) == 1)
				break;
		fclose(f);
	}
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		/* CAP_SYS_ADMIN (21) stands in for CAP_BPF and CAP_PERFMON.
		 * Root is not enough by itself: a container may run it
		 * without CAP_BPF. */
		if ((need[i].capture_only && !capture) || (eff & (1ull << need[i].bit)) ||
		    (need[i].bit >= 38 && (eff & (1ull << 21))))
			continue;
		size_t n = strlen(miss);

		snprintf(miss + n, sizeof(miss) - n, "%s%s", n ? ", " : "", need[i].name);
	}
	if (miss[0]) {
		snprintf(why, cap, "missing %s: bpf mode needs root with CAP_BPF, CAP_PERFMON, "
			 "CAP_SYS_PTRACE and CAP_KILL (or CAP_SYS_ADMIN)", miss);
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(why, cap, "kernel BTF '/sys/kernel/btf/vmlinux' missing: bpf mode needs "
			 "CONFIG_DEBUG_INFO_BTF (use --mode ptrace)");
		return -ENOTSUP;
	}
	why[0] = '\0';
	return 0;
}

/* What the kernel's BTF says about the tracepoints the hooks use. */
struct protos {
	int have_lock;          /* mmap_lock_start_locking/released, vm_unmapped_area */
	int lock_memcg;         /* mmap_lock_* pass (mm, memcg_path, write) */
	int exit_nogroup;       /* sched_process_exit passes (p) only */
};

/* Number of arguments of tracepoint `tp` (its btf_trace_<tp> typedef, a
 * pointer to a prototype whose first argument is the probe's data), or
 * -1 if the kernel has no such tracepoint. */
static int tp_nargs(const struct btf *btf, const char *tp)
{
	char name[128];
	const struct btf_type *t;
	int id;

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF);
	if (id < 0)
		return -1;
	t = btf__type_by_id(btf, id);
	while (t && (btf_is_typedef(t) || btf_is_ptr(t) || btf_is_mod(t)))
		t = btf__type_by_id(btf, t->type);
	if (!t || !btf_is_func_proto(t))
		return -1;
	return (int)btf_vlen(t) - 1;
}

static int read_protos(struct emt_bpf_loaded *ld, struct protos *p)
{
	struct btf *btf = btf__load_vmlinux_btf();
	long err = libbpf_get_error(btf);

	if (err) {
		snprintf(ld->msg, sizeof(ld->msg), "cannot read the kernel's btf: %s",
			 strerror((int)-err));
		return (int)err;
	}
	int start = tp_nargs(btf, "mmap_lock_start_locking");
	int rel = tp_nargs(btf, "mmap_lock_released");
	int vua = tp_nargs(btf, "vm_unmapped_area");
	int ex = tp_nargs(btf, "sched_process_exit");

	p->have_lock = start >= 2 && rel == start && vua == 2;
	p->lock_memcg = start == 3;
	p->exit_nogroup = ex == 1;
	btf__free(btf);
	return 0;
}

/* Whether program `name` belongs to the load of cfg on a kernel with
 * prototypes *p. */
static int wanted(const char *name, const struct emt_bpf_cfg *cfg, const struct protos *p)
{
	int lock = !strcmp(cfg->hooks, EMT_HOOKS_LOCK);

	if (!strcmp(name, "emt_sys_enter") || !strcmp(name, "emt_sys_exit"))
		return !lock;
	if (!strcmp(name, "emt_lock_start") || !strcmp(name, "emt_lock_released"))
		return lock && !p->lock_memcg;
	if (!strcmp(name, "emt_lock_start_memcg") || !strcmp(name, "emt_lock_released_memcg"))
		return lock && p->lock_memcg;
	if (!strcmp(name, "emt_unmapped_area"))
		return lock;
	/* Injections (remote_lock): inside the lock hooks' own programs, or
	 * alone for the syscall hooks where the tracepoint exists. */
	if (!strcmp(name, "emt_inject_lock"))
		return !lock && p->have_lock && !p->lock_memcg;
	if (!strcmp(name, "emt_inject_lock_memcg"))
		return !lock && p->have_lock && p->lock_memcg;
	if (!strcmp(name, "emt_exit"))
		return !p->exit_nogroup;
	if (!strcmp(name, "emt_exit_nogroup"))
		return p->exit_nogroup;
	return 1;
}

/* The value after `key` on the last line of log that has it, or -1. */
static long long log_number(const char *log, const char *key)
{
	const char *at = NULL;

	for (const char *q = strstr(log, key); q; q = strstr(q + 1, key))
		at = q;
	return at ? strtoll(at + strlen(key), NULL, 10) : -1;
}

/* The verifier's "stack depth a+b+c" line: per subprogram depths. */
static int log_depths(const char *log, unsigned *depth, int max, char *raw, size_t rawsz)
{
	const char *q = NULL;
	int n = 0;

	for (const char *r = strstr(log, "stack depth "); r; r = strstr(r + 1, "stack depth "))
		q = r;
	if (!q)
		return -1;
	q += strlen("stack depth ");
	if (raw) {
		size_t l = strcspn(q, "\n");

		snprintf(raw, rawsz, "%.*s", (int)l, q);
	}
	while (n < max) {
		char *end;
		unsigned long v = strtoul(q, &end, 10);

		if (end == q)
			break;
		depth[n++] = (unsigned)v;
		if (*end != '+')
			break;
		q = end + 1;
	}
	return n;
}

struct callgraph {
	int nsubs;
	size_t start[MAX_SUBS];
	unsigned depth[MAX_SUBS];
	unsigned char edge[MAX_SUBS][MAX_SUBS];
	int memo[MAX_SUBS];     /* deepest chain from here, -1 unknown, -2 visiting */
};

static int sub_of(const struct callgraph *g, size_t insn)
{
	int i = g->nsubs - 1;

	while (i > 0 && g->start[i] > insn)
		i--;
	return i;
}

static int add_start(struct callgraph *g, size_t at)
{
	for (int i = 0; i < g->nsubs; i++)
		if (g->start[i] == at)
			return 0;
	if (g->nsubs == MAX_SUBS)
		return -E2BIG;
	g->start[g->nsubs++] = at;
	return 0;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* The call target (of a bpf-to-bpf call, or of the ld_imm64 that names a
 * callback) of the instruction at i, or -1. */
static long long insn_target(const struct bpf_insn *in, size_t i, size_t n)
{
	if (in[i].code == (BPF_JMP | BPF_CALL) && in[i].src_reg == BPF_PSEUDO_CALL)
		return (long long)i + (in[i].off ? in[i].off : in[i].imm) + 1;
	if (in[i].code == (BPF_LD | BPF_IMM | BPF_DW) && in[i].src_reg == BPF_PSEUDO_FUNC &&
	    i + 1 < n)
		return (long long)i + in[i].imm + 1;
	return -1;
}

static int chain(struct callgraph *g, int i)
{
	if (g->memo[i] >= 0)
		return g->memo[i];
	if (g->memo[i] == -2)
		return 0;       /* recursion: the verifier refuses it anyway */
	g->memo[i] = -2;
	int below = 0;

	for (int j = 0; j < g->nsubs; j++)
		if (g->edge[i][j]) {
			int d = chain(g, j);

			if (d > below)
				below = d;
		}
	unsigned own = g->depth[i] ? (g->depth[i] + 31) / 32 * 32 : 32;

	g->memo[i] = (int)own + below;
	return g->memo[i];
}

/* The call graph of a program's frames from its instructions: frame
 * starts are 0 and `starts` if given (the kernel's, sorted), else every
 * call target.  Pseudo calls name their target by offset (in `off` once
 * the kernel's JIT has put the frame number in `imm`), callbacks by the
 * ld_imm64 that takes their address. */
static int build_graph(struct callgraph *g, const struct bpf_insn *in, size_t n,
		       const size_t *starts, int nstarts)
{
	memset(g, 0, sizeof(*g));
	g->nsubs = 1;
	for (int i = 0; i < nstarts; i++)
		if (add_start(g, starts[i]))
			return -E2BIG;
	for (size_t i = 0; !starts && in && i < n; i++) {
		long long t = insn_target(in, i, n);

		if (t >= 0 && (size_t)t < n && add_start(g, (size_t)t))
			return -E2BIG;
	}
	qsort(g->start, (size_t)g->nsubs, sizeof(g->start[0]), cmp_size);
	for (size_t i = 0; in && i < n; i++) {
		long long t = insn_target(in, i, n);

		if (t >= 0 && (size_t)t < n)
			g->edge[sub_of(g, i)][sub_of(g, (size_t)t)] = 1;
	}
	return 0;
}

/* The kernel's view of a loaded program: its translated instructions
 * and the start of each frame (func_info), in *xl / *starts (malloc'd). */
static int kernel_view(int fd, struct bpf_insn **xl, size_t *nxl, size_t **starts, int *nstarts)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);

	if (err)
		return err;
	__u32 nfi = info.nr_func_info, xlen = info.xlated_prog_len;
	struct bpf_func_info *fi = calloc(nfi ? nfi : 1, sizeof(*fi));
	struct bpf_insn *ins = calloc(1, xlen ? xlen : 1);

	if (!fi || !ins) {
		free(fi);
		free(ins);
		return -ENOMEM;
	}
	memset(&info, 0, sizeof(info));
	info.nr_func_info = nfi;
	info.func_info_rec_size = sizeof(*fi);
	info.func_info = (__u64)(unsigned long)fi;
	info.xlated_prog_len = xlen;
	info.xlated_prog_insns = (__u64)(unsigned long)ins;
	len = sizeof(info);
	err = bpf_obj_get_info_by_fd(fd, &info, &len);
	if (!err && (!nfi || info.func_info_rec_size != sizeof(*fi)))
		err = -ENODATA;
	if (!err) {
		*starts = calloc(nfi, sizeof(**starts));
		if (!*starts)
			err = -ENOMEM;
	}
	if (err) {
		free(fi);
		free(ins);
		return err;
	}
	for (__u32 i = 0; i < nfi; i++)
		(*starts)[i] = fi[i].insn_off;
	*nstarts = (int)nfi;
	*xl = ins;
	*nxl = xlen / sizeof(*ins);
	free(fi);
	return 0;
}

/* Fills st->stack and st->nsubprogs: from the kernel's translated
 * program when it was loaded (fd >= 0), where dead frames are gone as
 * they are from the verifier's depths; else from libbpf's instructions,
 * and if those frames do not match the verifier's depths one for one,
 * as if all were on one chain (never less than the truth). */
static void combined_stack(const struct bpf_program *prog, int fd, const char *log,
			   struct emt_bpf_prog_stat *st)
{
	static struct callgraph g;      /* big; loads are not concurrent */
	unsigned depth[MAX_SUBS];
	int nd = log_depths(log, depth, MAX_SUBS, st->depths, sizeof(st->depths));
	struct bpf_insn *xl = NULL;
	size_t nxl = 0, *starts = NULL;
	int nstarts = 0, err = -1;

	if (fd >= 0 && kernel_view(fd, &xl, &nxl, &starts, &nstarts) == 0)
		err = build_graph(&g, xl, nxl, starts, nstarts);
	if (err)
		err = build_graph(&g, bpf_program__insns(prog), bpf_program__insn_cnt(prog),
				  NULL, 0);
	free(xl);
	free(starts);
	st->nsubprogs = (uint32_t)g.nsubs;
	if (err || nd != g.nsubs) {
		unsigned sum = 0;

		for (int i = 0; i < nd; i++)
			sum += depth[i] ? (depth[i] + 31) / 32 * 32 : 32;
		st->stack = sum;
		return;
	}
	for (int i = 0; i < g.nsubs; i++) {
		g.depth[i] = depth[i];
		g.memo[i] = -1;
	}
	st->stack = (uint32_t)chain(&g, 0);
}

/* Appends the last lines of the verifier log that are not its statistics
 * (the ones that say why it refused) to buf. */
static void log_tail(const char *log, char *buf, size_t cap)
{
	const char *line[TAIL_LINES];
	size_t len[TAIL_LINES];
	int n = 0;

	for (const char *q = log; *q;) {
		const char *e = strchr(q, '\n');
		size_t l = e ? (size_t)(e - q) : strlen(q);

		if (l && strncmp(q, "verification time", 17) && strncmp(q, "stack depth", 11) &&
		    strncmp(q, "processed ", 10)) {
			if (n == TAIL_LINES) {
				memmove(line, line + 1, sizeof(line[0]) * (TAIL_LINES - 1));
				memmove(len, len + 1, sizeof(len[0]) * (TAIL_LINES - 1));
				n--;
			}
			line[n] = q;
			len[n] = l;
			n++;
		}
		q += l + (e ? 1 : 0);
	}
	for (int i = 0; i < n; i++) {
		size_t used = strlen(buf);

		snprintf(buf + used, cap - used, "\n    verifier: %.*s", (int)len[i], line[i]);
	}
	if (!n) {
		size_t used = strlen(buf);

		snprintf(buf + used, cap - used, "\n    verifier: (no log)");
	}
}

void emt_bpf_prog_stat_fill(const struct bpf_program *prog, const char *log, int loaded,
			    struct emt_bpf_prog_stat *st)
{
	long long v = log_number(log, "processed ");

	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", bpf_program__name(prog));
	st->loaded = loaded;
	st->insns = v > 0 ? (uint32_t)v : 0;
	v = log_number(log, "verification time ");
	st->verify_us = v > 0 ? (uint64_t)v : 0;
	combined_stack(prog, loaded ? bpf_program__fd(prog) : -1, log, st);
}

int emt_bpf_load(struct emt_bpf_loaded *ld, const struct emt_bpf_cfg *cfg)
{
	struct bpf_program *prog;
	char *logs[EMT_BPF_MAX_PROGS] = { 0 };
	struct bpf_program *progs[EMT_BPF_MAX_PROGS];
	struct protos p = { 0 };
	unsigned np = 0;
	int err;

	memset(ld, 0, sizeof(*ld));
	ld->hooks = cfg->hooks;
	err = read_protos(ld, &p);
	if (err)
		return err;
	ld->protos = p.lock_memcg || p.exit_nogroup ? "6.1" : "current";
	if (!strcmp(cfg->hooks, EMT_HOOKS_LOCK) && !p.have_lock) {
		snprintf(ld->msg, sizeof(ld->msg),
			 "kernel has no mmap_lock_start_locking, mmap_lock_released and "
			 "vm_unmapped_area tracepoints of the expected form");
		return -ENOENT;
	}
	ld->skel = emt_bpf__open();
	if (!ld->skel) {
		err = -errno;
		snprintf(ld->msg, sizeof(ld->msg), "cannot open bpf object: %s", strerror(-err));
		return err;
	}
	ld->skel->rodata->cfg_follow = cfg->follow;
	ld->skel->rodata->cfg_lossless = cfg->lossless;
	ld->skel->rodata->cfg_capture_files = cfg->capture_files;
	ld->skel->rodata->cfg_rb_size = cfg->rb_size;
	ld->skel->rodata->cfg_ovf_size = cfg->ovf_size;
	/* Wake the consumer at 1/8 full: early enough to keep the ring from
	 * filling, rare enough that the target seldom pays a wakeup. */
	ld->skel->rodata->cfg_wake_bytes = cfg->rb_size / 8;
	ld->skel->rodata->cfg_max_pages = cfg->max_pages;
	ld->skel->rodata->cfg_self = (__u32)getpid();   /* our own reads are no injections */
	err = bpf_map__set_max_entries(ld->skel->maps.rb, cfg->rb_size);
	if (!err)
		err = bpf_map__set_max_entries(ld->skel->maps.rb_ovf, cfg->ovf_size);
	if (err) {
		snprintf(ld->msg, sizeof(ld->msg), "cannot size ring buffers: %s",
			 strerror(-err));
		goto fail;
	}
	bpf_object__for_each_program(prog, ld->skel->obj) {
		int want = wanted(bpf_program__name(prog), cfg, &p);

		err = bpf_program__set_autoload(prog, want);
		if (err || !want)
			continue;
		if (np == EMT_BPF_MAX_PROGS) {
			err = -E2BIG;
			break;
		}
		logs[np] = calloc(1, LOG_SIZE);
		if (!logs[np]) {
			err = -ENOMEM;
			break;
		}
		progs[np] = prog;
		/* Statistics only (BPF_LOG_STATS): the verifier still writes
		 * the line that says why it refuses a program. */
		err = bpf_program__set_log_buf(prog, logs[np], LOG_SIZE);
		if (!err)
			err = bpf_program__set_log_level(prog, 4);
		np++;
		if (err)
			break;
	}
	if (err) {
		snprintf(ld->msg, sizeof(ld->msg), "cannot select bpf programs: %s",
			 strerror(-err));
		goto fail;
	}
	int load_err = emt_bpf__load(ld->skel);
	/* libbpf loads the programs in order and, when one is refused,
	 * unloads the others: those with a log before the last were
	 * accepted, the last one was refused. */
	unsigned last = 0;

	for (unsigned i = 0; i < np; i++)
		if (logs[i][0])
			last = i;
	for (unsigned i = 0; i < np; i++) {
		struct emt_bpf_prog_stat *st = &ld->prog[ld->nprogs];

		if (!logs[i][0] && (load_err || bpf_program__fd(progs[i]) < 0))
			continue;       /* not tried: an earlier one was refused */
		emt_bpf_prog_stat_fill(progs[i], logs[i], !load_err || i != last, st);
		ld->nprogs++;
		if (!st->loaded) {
			snprintf(ld->msg, sizeof(ld->msg),
				 "cannot load bpf program '%s' (%s hooks): %s", st->name,
				 cfg->hooks, strerror(-load_err));
			log_tail(logs[i], ld->msg, sizeof(ld->msg));
		}
	}
	if (load_err) {
		err = load_err;
		if (!ld->msg[0])
			snprintf(ld->msg, sizeof(ld->msg), "cannot load bpf programs (%s hooks): %s",
				 cfg->hooks, strerror(-err));
		goto fail;
	}
	err = 0;
	goto out;
fail:
	emt_bpf__destroy(ld->skel);
	ld->skel = NULL;
out:
	/* libbpf reads the log buffers only while it loads. */
	for (unsigned i = 0; i < np; i++)
		free(logs[i]);
	return err;
}

int emt_bpf_attach(struct emt_bpf_loaded *ld)
{
	int err = emt_bpf__attach(ld->skel);

	if (err)
		snprintf(ld->msg, sizeof(ld->msg), "cannot attach bpf programs (%s hooks): %s",
			 ld->hooks, strerror(-err));
	return err;
}

void emt_bpf_unload(struct emt_bpf_loaded *ld)
{
	emt_bpf__destroy(ld->skel);
	ld->skel = NULL;
}

const struct emt_bpf_prog_stat *emt_bpf_deepest(const struct emt_bpf_loaded *ld)
{
	const struct emt_bpf_prog_stat *best = NULL;

	for (unsigned i = 0; i < ld->nprogs; i++)
		if (!best || ld->prog[i].stack > best->stack)
			best = &ld->prog[i];
	return best;
}
