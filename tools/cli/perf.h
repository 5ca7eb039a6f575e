/*
 * perf.h - exporting captures for perf(1): perf map files and jitdump
 * files (libemtcli.a; emt-extract --format perfmap / jitdump).
 *
 * Formats: tools/perf/Documentation/jit-interface.txt (perf-PID.map) and
 * jitdump-specification.txt (jit-PID.dump) of the Linux sources.
 */
#ifndef EMTCLI_PERF_H
#define EMTCLI_PERF_H

#include "emt_archive.h"

enum cli_perf_format {
	CLI_PERF_MAP = 1,       /* perf-PID.map: START SIZE NAME lines */
	CLI_PERF_JITDUMP,       /* jit-PID.dump: code loads with their bytes */
};

/* Symbol name of capture seq S, version V of region R: "emt:rRvV:seqS",
 * stable for an archive (emt-extract --seq S gives its bytes). */
#define CLI_PERF_NAME_MAX 80
void cli_perf_name(char buf[CLI_PERF_NAME_MAX], const struct emt_capture *c);

/* Opens the archive at `path` (messages name it) and writes one file per
 * process id of the captures matching `f` into the directory `dir` (NULL:
 * the current directory; "" is a usage error, CLI_EXIT_USAGE): perf-PID.map (where captures of one pid overlap, the
 * latest capture names the addresses it covers, the earlier ones keep
 * only what it does not: perf uses one symbol per address) or
 * jit-PID.dump (every capture as a JIT_CODE_LOAD record in seq order,
 * with its bytes, code_index = seq, timestamps in CLOCK_MONOTONIC ns
 * converted from the archive's boot-time ns with its clock anchors, as
 * `perf record -k mono` records; gap bytes are zeros, with a warning).
 * Existing files are replaced only with `force`.  Prints its errors and
 * the name of each file written (on stderr).  Returns CLI_EXIT_OK,
 * CLI_EXIT_FAIL (a file could not be written, a capture could not be
 * read, the archive unreadable, no anchors for jitdump, no captures). */
int cli_perf_export(const char *path, const struct emt_filter *f,
		    enum cli_perf_format fmt, const char *dir, int force);

#endif /* EMTCLI_PERF_H */
