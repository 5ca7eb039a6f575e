/*
 * options.h - the options every reader parses alike (libemtcli.a).
 */
#ifndef EMTCLI_OPTIONS_H
#define EMTCLI_OPTIONS_H

#include <stdint.h>

#include "emt_archive.h"
#include "emtcli.h"

/* The long options cli_reader_opt handles, for the end of a getopt_long
 * table (before the terminating zero entry). */
#define CLI_READER_LONGOPTS \
	{ "help",     0, NULL, 'h' }, \
	{ "version",  0, NULL, 'V' }, \
	CLI_FILTER_LONGOPTS

/* For the `default:` of a reader's getopt_long switch: -h/--help prints
 * `help` on stdout with its first "%s" replaced by cli_filter_help
 * (nothing else in it is interpreted), -V/--version the version, getopt's '?' a hint on
 * stderr; the options of CLI_FILTER_LONGOPTS are parsed into *f (a bad
 * value prints a usage error).  Returns -1 when parsing goes on (a filter
 * was parsed), else the exit code the tool returns at once (CLI_EXIT_OK
 * after help or version, CLI_EXIT_USAGE otherwise, also for an option the
 * tool forgot to handle). */
int cli_reader_opt(int opt, const char *arg, struct emt_filter *f, const char *help);

/* Parses the value of --seq (a capture's sequence number: decimal or 0x
 * hex, 1..INT64_MAX) into *seq.  Returns 0, or CLI_EXIT_USAGE after
 * printing a usage error. */
int cli_seq_opt(const char *arg, uint64_t *seq);

#endif /* EMTCLI_OPTIONS_H */
