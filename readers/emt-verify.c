/*
 * emt-verify - check everything an emt archive promises and report every
 * problem found, item by item.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "emtcli.h"

static const char usage_text[] =
"Usage: emt-verify [OPTION]... ARCHIVE...\n"
"Verify emt archives: SQLite integrity, every chunk against its hash, every\n"
"capture reassembled against its SHA-256, the ledger chain, the seal and\n"
"the index (sizes, sequences, versions).  Each problem is printed as\n"
"'ITEM: PROBLEM' and verification goes on after damage.\n"
"\n"
"  -q, --quiet            print nothing; the exit status tells\n"
"  -h, --help             show this help and exit\n"
"  -V, --version          show version information and exit\n"
"\n"
"An archive that was not closed cleanly is reported as unsealed, which is\n"
"not damage: every capture committed before the crash is still checked.\n"
"\n"
"Examples:\n"
"  emt-verify case.emt\n"
"  emt-verify --quiet case.emt && echo intact\n"
"\n"
"Exit status: 0 intact, 1 damaged, 2 trouble (usage error, missing file,\n"
"not an emt archive, verification could not run).\n";

struct ctx {
	int quiet;
	const char *path;
};

static void report(void *arg, const char *item, const char *message)
{
	const struct ctx *x = arg;

	if (x->quiet)
		return;
	cli_fputs_escaped(stdout, item);
	fputs(": ", stdout);
	cli_fputs_escaped(stdout, message);
	putchar('\n');
}

/* Verifies one archive; returns its exit status. */
static int verify_one(const char *path, int quiet)
{
	struct ctx x = { .quiet = quiet, .path = path };
	struct emt_verify_stats st;
	struct emt_reader *r;
	char *msg = NULL;
	char esc[512], emsg[512];
	int rc, err;

	r = emt_reader_open(path, &msg);
	if (!r) {
		err = errno;
		/* Damage that stops the open is still damage; anything else
		 * (no file, not an archive, too new) means we could not
		 * verify. */
		if (!quiet || (err != EBADMSG && err != E2BIG))
			cli_error("cannot open '%s': %s",
				  cli_escape_str(esc, sizeof(esc), path),
				  cli_escape_str(emsg, sizeof(emsg), cli_open_reason(msg, err, path)));
		free(msg);
		return (err == EBADMSG || err == E2BIG) ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
	}
	memset(&st, 0, sizeof(st));
	rc = emt_reader_verify(r, report, &x, &st);
	if (rc < 0) {
		cli_error("cannot verify '%s': %s", cli_escape_str(esc, sizeof(esc), path),
			  cli_escape_str(emsg, sizeof(emsg), emt_reader_errmsg(r) ?
					 cli_skip_prefix(emt_reader_errmsg(r), path) :
					 strerror(-rc)));
		emt_reader_close(r);
		return CLI_EXIT_USAGE;
	}
	if (!quiet) {
		cli_fputs_escaped(stdout, path);
		if (rc == 0)
			printf(": intact");
		else
			printf(": damaged (%d problem%s)", rc, rc == 1 ? "" : "s");
		printf(", %s; %" PRIu64 " capture%s, %" PRIu64 " chunk%s, %" PRIu64
		       " ledger entr%s\n", st.sealed ? "sealed" : "unsealed",
		       st.captures, st.captures == 1 ? "" : "s",
		       st.chunks, st.chunks == 1 ? "" : "s",
		       st.ledger_entries, st.ledger_entries == 1 ? "y" : "ies");
	}
	emt_reader_close(r);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "quiet",   0, NULL, 'q' },
		{ "help",    0, NULL, 'h' },
		{ "version", 0, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c, quiet = 0, worst = CLI_EXIT_OK;

	cli_init("emt-verify", argv);
	while ((c = getopt_long(argc, argv, "qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = 1; break;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_EXIT_OK;
		case 'V':
			cli_print_version();
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "try '%s --help' for more information\n", cli_prog());
			return CLI_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage("missing archive operand");
	/* Trouble (2) outranks damage (1) outranks intact (0). */
	for (int i = optind; i < argc; i++) {
		int rc = verify_one(argv[i], quiet);

		if (rc > worst)
			worst = rc;
	}
	if (fflush(stdout) != 0) {
		cli_error("cannot write output: %s", strerror(errno));
		return CLI_EXIT_USAGE;
	}
	return worst;
}
