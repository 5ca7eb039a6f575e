/*
 * bpf-check - loads every program of the BPF object, in every hook set
 * and every configuration that changes its code paths, on the running
 * kernel, and reports what the verifier said of each: instructions
 * processed, combined stack depth of its deepest call chain, and
 * verification time.  `make bpf-check` runs it; `make test` runs that
 * first, and `make vmtest` runs it inside Debian's 6.1 kernel.
 *
 * Fails (exit 1) when a program is refused, naming it with the
 * verifier's last lines, or when a combined stack exceeds the budget.
 * It loads through capture/bpf_load.c, as the engine does, and attaches
 * nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "bpf_load.h"
#include "emtcli.h"
#include "model.h"
#include "sysrec.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bpf-check [-q] [-b BYTES] [-H HOOKS]\n"
		"\n"
		"Loads the capture engine's BPF programs in every hook set and\n"
		"configuration (lossless, follow, capture-files on and off) and\n"
		"prints, per program, the instructions the verifier processed, the\n"
		"combined stack of its deepest call chain and the verification time.\n"
		"\n"
		"  -b, --budget BYTES   largest combined stack accepted (default %d of %d)\n"
		"  -H, --hooks HOOKS    only this hook set: mmap-lock or syscalls\n"
		"  -q, --quiet          print only failures and the closing line\n"
		"  -h, --help           this text\n"
		"\n"
		"Exit status: 0 all loaded within the budget, 1 a program refused or\n"
		"over the budget, 2 usage, 77 cannot check here (no CAP_BPF or\n"
		"CAP_PERFMON, no kernel BTF: named on stdout).\n"
		"\n"
		"Examples:\n"
		"  bpf-check                 # everything, as make bpf-check does\n"
		"  bpf-check -H syscalls -q  # the fallback hooks only\n",
		EMT_BPF_STACK_BUDGET, EMT_BPF_STACK_LIMIT);
}

/* libbpf's own messages: warnings only, the verifier's come back in the
 * load report. */
static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level != LIBBPF_WARN)
		return 0;
	if (getenv("EMT_BPF_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* What the loads found so far. */
struct tally {
	unsigned progs, failures, deepest;
	char deepest_name[48];
};

/* Prints program st's line (all of them, or with -q only a refused or
 * over-budget one) and counts it. */
static void report(const struct emt_bpf_prog_stat *st, const char *hooks, const char *desc,
		   uint32_t budget, int quiet, struct tally *t)
{
	int over = st->loaded && st->stack > budget;

	if (!quiet || over || !st->loaded)
		printf("%-9s %-27s %-24s %8u %6u %10llu  %s%s\n", hooks, desc, st->name, st->insns,
		       st->stack, (unsigned long long)st->verify_us, st->depths,
		       !st->loaded ? "  REFUSED" : over ? "  OVER BUDGET" : "");
	if (!st->loaded)
		return;
	t->progs++;
	if (st->stack > t->deepest) {
		t->deepest = st->stack;
		snprintf(t->deepest_name, sizeof(t->deepest_name), "%.47s", st->name);
	}
	if (over) {
		cli_error("program '%s' (%s hooks, %s): combined stack %u bytes over the budget "
			  "of %u", st->name, hooks, desc, st->stack, budget);
		t->failures++;
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "budget", required_argument, NULL, 'b' },
		{ "hooks", required_argument, NULL, 'H' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *hooks[2] = { EMT_HOOKS_LOCK, EMT_HOOKS_SYSCALLS };
	int nhooks = 2, quiet = 0, c;
	uint32_t budget = EMT_BPF_STACK_BUDGET;

	cli_init("bpf-check", argv);
	while ((c = getopt_long(argc, argv, "b:H:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (cli_parse_u32(optarg, &budget) || budget == 0 ||
			    budget > EMT_BPF_STACK_LIMIT)
				return cli_usage("invalid budget '%s': want 1..%d bytes", optarg,
						 EMT_BPF_STACK_LIMIT);
			break;
		case 'H':
			if (!strcmp(optarg, EMT_HOOKS_LOCK))
				hooks[0] = EMT_HOOKS_LOCK;
			else if (!strcmp(optarg, EMT_HOOKS_SYSCALLS))
				hooks[0] = EMT_HOOKS_SYSCALLS;
			else
				return cli_usage("unknown hook set '%s': want mmap-lock or syscalls",
						 optarg);
			nhooks = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		return cli_usage("unexpected argument '%s'", argv[optind]);
	libbpf_set_print(print_warnings);

	char why[256];

	if (emt_bpf_missing(why, sizeof(why), 0)) {
		/* A missing precondition, named: the suite reports a skip. */
		printf("bpf-check: skipped: %s\n", why);
		return 77;
	}

	struct utsname un;
	const char *kernel = uname(&un) ? "unknown" : un.release;
	unsigned loads = 0;
	struct tally t = { 0 };
	const char *protos = "";
	double t0 = now_s();

	if (!quiet)
		printf("bpf-check: kernel %s, stack budget %u of %d bytes\n"
		       "%-9s %-27s %-24s %8s %6s %10s  %s\n", kernel, budget, EMT_BPF_STACK_LIMIT,
		       "hooks", "config", "program", "insns", "stack", "verify_us", "frames");
	for (int h = 0; h < nhooks; h++) {
		for (unsigned cfgbits = 0; cfgbits < 8; cfgbits++) {
			struct emt_bpf_cfg cfg = {
				.hooks = hooks[h],
				.lossless = cfgbits & 1,
				.follow = !!(cfgbits & 2),
				.capture_files = !!(cfgbits & 4),
				/* The engine's defaults (bpf_engine.c). */
				.rb_size = 64u << 20,
				.ovf_size = cfgbits & 1 ? 4u << 20 : 16u << 10,
				.max_pages = (512ull << 20) / 4096,
			};
			char desc[64];
			static struct emt_bpf_loaded ld;

			snprintf(desc, sizeof(desc), "lossless=%u,follow=%u,files=%u",
				 cfg.lossless, cfg.follow, cfg.capture_files);
			int err = emt_bpf_load(&ld, &cfg);

			loads++;
			protos = ld.protos ? ld.protos : protos;
			for (unsigned i = 0; i < ld.nprogs; i++)
				report(&ld.prog[i], hooks[h], desc, budget, quiet, &t);
			if (err) {
				cli_error("%s (%s)", ld.msg, desc);
				t.failures++;
			}
			/* The syscall recorder (bpf/syscalls.bpf.c), sharing this
			 * object's maps: its code does not depend on the
			 * configuration, once per hook set. */
			if (!err && cfgbits == 0) {
				struct sysrec_bpf_maps m;
				struct emt_bpf_prog_stat sst[2];
				unsigned ns = 0;
				char smsg[256] = "";
				sysrec_bpf_maps_of(ld.skel, &m);
				int serr = sysrec_bpf_verify(&m, sst, 2, &ns, smsg, sizeof(smsg));

				loads++;
				for (unsigned i = 0; i < ns; i++)
					report(&sst[i], "sysrec", "--syscalls", budget, quiet, &t);
				if (serr) {
					cli_error("%s", smsg);
					t.failures++;
				}
				/* --model: the syscall model check, likewise. */
				ns = 0;
				smsg[0] = '\0';
				serr = model_bpf_verify(&m, sst, 2, &ns, smsg, sizeof(smsg));
				loads++;
				for (unsigned i = 0; i < ns; i++)
					report(&sst[i], "model", "--model", budget, quiet, &t);
				if (serr) {
					cli_error("%s", smsg);
					t.failures++;
				}
			}
			emt_bpf_unload(&ld);
			fflush(stdout);
		}
	}
	printf("bpf-check %s: %u loads, %u programs loaded, deepest stack %u bytes (%s), "
	       "budget %u, tracepoint prototypes %s, %.1f s: %s\n", kernel, loads, t.progs,
	       t.deepest, t.deepest_name, budget, protos, now_s() - t0,
	       t.failures ? "FAILED" : "ok");
	return t.failures ? 1 : 0;
}
