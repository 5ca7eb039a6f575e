/*
 * options.c - the options every reader parses alike.
 */
#include <stdio.h>
#include <string.h>

#include "emtcli.h"
#include "options.h"

int cli_reader_opt(int opt, const char *arg, struct emt_filter *f, const char *help)
{
	switch (opt) {
	case 'h': {
		/* not printf: a help text is no format to trust with a '%' */
		const char *at = strstr(help, "%s");

		if (at) {
			fwrite(help, 1, (size_t)(at - help), stdout);
			fputs(cli_filter_help, stdout);
			help = at + 2;
		}
		fputs(help, stdout);
		return CLI_EXIT_OK;
	}
	case 'V':
		cli_print_version();
		return CLI_EXIT_OK;
	case '?':
		/* getopt_long has said what was wrong */
		fprintf(stderr, "try '%s --help' for more information\n", cli_prog());
		return CLI_EXIT_USAGE;
	}
	switch (cli_filter_opt(f, opt, arg)) {
	case 1:
		return -1;
	case 0:
		return cli_usage("internal error: option %d not handled", opt);
	default:
		return CLI_EXIT_USAGE;
	}
}

int cli_seq_opt(const char *arg, uint64_t *seq)
{
	char esc[256];
	uint64_t v;

	if (cli_parse_u64(arg, &v) || v == 0 || v > INT64_MAX)
		return cli_usage("invalid value '%s' for --seq: expected a sequence number > 0",
				 cli_escape_str(esc, sizeof(esc), arg));
	*seq = v;
	return 0;
}
