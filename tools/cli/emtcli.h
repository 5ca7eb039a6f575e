/*
 * emtcli.h - code shared by the emt command-line tools (libemtcli.a).
 *
 * Everything here prints (it is tool code, not library code) but never
 * exits: functions return a status and the caller decides the exit code.
 * Strings that come from an archive are hostile; every output path in
 * this file escapes them (tables: cli_fputs_escaped, JSON: cli_json_*).
 */
#ifndef EMTCLI_H
#define EMTCLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "emt_archive.h"

/* Exit codes of every tool, as diff(1) and the issue define them. */
#define CLI_EXIT_OK     0   /* success / intact / identical */
#define CLI_EXIT_FAIL   1   /* failure / damaged / different */
#define CLI_EXIT_USAGE  2   /* bad command line / trouble */

/* ------------------------------------------------------------------ */
/* Messages                                                            */

/* Records the tool's name (e.g. "emt-ls") used as the prefix of every
 * message, and makes it argv[0] so that getopt's own messages use it
 * too rather than the path the tool was run by.  `name` must outlive the
 * program (a string literal). */
void cli_init(const char *name, char **argv);
/* Returns the name given to cli_init ("emt" before it is called). */
const char *cli_prog(void);

/* Prints "PROG: MESSAGE\n" on stderr.  The message must not contain
 * archive strings unescaped (use cli_escape_str for them). */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same with "PROG: warning: " as prefix. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the message and a "try 'PROG --help'" hint on stderr; returns
 * CLI_EXIT_USAGE so callers can `return cli_usage(...)`. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "PROG (emt) VERSION" and the format version on stdout. */
void cli_print_version(void);
/* Prints "PROG: invalid value 'ARG' for --OPT: WHAT" (ARG escaped) and
 * the hint, as cli_usage does; returns CLI_EXIT_USAGE.  `opt` is the
 * long option's name without the dashes. */
int cli_bad_value(const char *opt, const char *arg, const char *what);
/* Prints the "try 'PROG --help'" hint on stderr; returns CLI_EXIT_USAGE. */
int cli_try_help(void);

/* For the default: branch of a tool's option switch, which gets the
 * options every tool has: 'h' (--help) writes `usage` to stdout, 'V'
 * (--version) cli_print_version's lines, anything else (getopt_long's
 * '?' for an unknown option or a missing argument) the cli_try_help
 * hint.  Returns the exit status for main to return: CLI_EXIT_OK, or
 * CLI_EXIT_USAGE after the hint.  A tool with more to say on --version
 * handles 'V' itself. */
int cli_common_opt(int opt, const char *usage);
/* The getopt_long entries of --help and --version, for the table of a
 * tool that leaves them to cli_common_opt. */
/* The help lines of --help and --version, for a usage text. */
#define CLI_COMMON_HELP \
"  -h, --help             show this help and exit\n" \
"  -V, --version          show version information and exit\n"
#define CLI_COMMON_LONGOPTS \
	{ "help",    0, NULL, 'h' }, \
	{ "version", 0, NULL, 'V' }

/* The one operand, argv[optind], of a tool that reads one archive;
 * NULL after a usage message when it is missing or not alone.  Points
 * into argv. */
const char *cli_archive_operand(int argc, char **argv);

/* Records the archive that messages about its captures name: they read
 * "PROG: 'ARCHIVE': capture N: ...".  cli_archive() returns it escaped
 * (or "archive" before cli_set_archive is called). */
void cli_set_archive(const char *path);
const char *cli_archive(void);
/* Why an operation on capture `seq` failed, from the reader's message
 * `msg` (strerror(-err) when NULL or empty) without a leading
 * "'ARCHIVE': " or "capture SEQ: " the tool prints itself.  Points into
 * msg or a static string; not escaped. */
const char *cli_capture_reason(const char *msg, uint64_t seq, int err);

/* Opens `path` with emt_reader_open.  On failure prints
 * "PROG: cannot open 'PATH': REASON" and returns NULL (errno kept, so
 * the caller can choose its exit code).  The caller closes the reader. */
struct emt_reader *cli_open_archive(const char *path);
/* Prints "PROG: cannot read 'ARCHIVE': REASON" on stderr after a read of
 * the archive named by cli_set_archive failed with `err` (a negative
 * errno): REASON is the message on `r` without the archive's name, or
 * strerror(-err) when err is -ENOMEM (the tool's own allocations leave
 * no message on the handle) or the handle holds none.  Returns
 * CLI_EXIT_FAIL, for `return cli_read_failed(r, rc)`. */
int cli_read_failed(struct emt_reader *r, int err);

/* Library messages often start by naming the object ("'x.emt': ...",
 * "capture 3: ...").  Returns `msg` past a leading "'NAME': " or
 * "NAME: ", so that a tool adding its own prefix does not say it twice;
 * else `msg` itself. */
const char *cli_skip_prefix(const char *msg, const char *name);
/* Why emt_reader_open(path) failed, from its message `msg` (may be NULL:
 * strerror(err) then), without a leading "cannot open 'PATH': " or
 * "'PATH': " the tool is about to print itself.  Points into msg or a
 * static string. */
const char *cli_open_reason(const char *msg, int err, const char *path);

/* ------------------------------------------------------------------ */
/* Strict number, size and time parsing.  All return 0, -EINVAL (not a  */
/* number / junk) or -ERANGE (overflow); *out untouched on failure.    */

/* Decimal or 0x-prefixed hex, no sign, no spaces, no trailing bytes. */
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_u32(const char *s, uint32_t *out);
/* Like cli_parse_u64 with an optional binary suffix k, m, g (any case,
 * optionally followed by "b"/"ib"): "64k" = 65536. */
int cli_parse_size(const char *s, uint64_t *out);
/* UTC time to ns since the epoch: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM",
 * "YYYY-MM-DD HH:MM:SS[.fraction]" ('T' or ' ', optional trailing 'Z'),
 * or "@SECONDS[.fraction]". */
int cli_parse_time(const char *s, uint64_t *out);

/* ------------------------------------------------------------------ */
/* Formatting                                                          */

enum cli_time_style {
	CLI_TIME_MS,      /* "2026-11-22 05:08:08.123"         (tables) */
	CLI_TIME_TOD_MS,  /* "05:08:08.123"                    (narrow) */
	CLI_TIME_ISO_NS,  /* "2026-11-22T05:08:08.123456789Z"  (JSON)   */
};
#define CLI_TIME_BUFSZ 48
/* Formats `wall_ns` (ns since the epoch, may be negative) in UTC into
 * `buf` (CLI_TIME_BUFSZ bytes); returns buf. */
char *cli_fmt_time(char *buf, int64_t wall_ns, enum cli_time_style style);
/* "r-x" style protection string into `buf` (4 bytes); returns buf. */
char *cli_fmt_prot(char *buf, uint32_t prot);
/* Human size: exact bytes below 10000, else "64K", "1.5M", "16M";
 * `buf` holds 16 bytes; returns buf. */
char *cli_fmt_size(char *buf, uint64_t n);
/* Trigger name, or "unknown(N)" in `buf` (24 bytes); never NULL. */
const char *cli_trigger_name(char *buf, uint32_t trigger);
/* Short trigger name (at most 10 bytes) for narrow tables. */
const char *cli_trigger_short(char *buf, uint32_t trigger);

/* Width of stdout if it is a terminal, else 0 (= unlimited). */
int cli_term_width(void);

/* ------------------------------------------------------------------ */
/* Escaping for human-readable output                                   */

/* Writes `s` (NULL prints "-") so that it cannot move the cursor,
 * change colours, be confused with other columns or pass for another
 * string: C0/C1 controls, DEL and backslash are written as \n, \t, \\
 * or \xNN; every format character (Unicode Cf: bidi controls, zero-width
 * characters, soft hyphen, BOM, tags...), line and paragraph separators,
 * non-ASCII spaces and other invisible fillers and selectors as
 * \u{XXXX}; bytes that are not valid UTF-8 as \xNN; ASCII spaces stay. */
void cli_fputs_escaped(FILE *f, const char *s);
/* Same into `buf` of `cap` bytes (always NUL-terminated; a too long
 * result ends in "..."); returns buf. */
char *cli_escape_str(char *buf, size_t cap, const char *s);
/* 1 if `s` is well-formed UTF-8 (no overlong forms, surrogates or
 * values above U+10FFFF), else 0. */
int cli_utf8_valid(const char *s);

/* ------------------------------------------------------------------ */
/* Table rows that fit the terminal                                     */

/* A row is built piece by piece and written by cli_row_end, cut to
 * `width` columns (the end replaced by "...") when longer; width 0
 * writes every row whole, straight to the stream.  Columns are counted
 * as a UTF-8 terminal shows them (wide characters take two). */
struct cli_row {
	FILE *f;
	char *buf;
	size_t len, cap;
	int width;      /* 0 = no cut (also when the buffer could not be had) */
	int overflow;   /* out of memory: the text stops where it is */
};
/* Prepares `r` for rows on `f` (not owned) cut to `width`; never fails
 * (without memory rows are written whole).  Release with
 * cli_row_release. */
void cli_row_init(struct cli_row *r, FILE *f, int width);
void cli_row_release(struct cli_row *r);
void cli_row_printf(struct cli_row *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends `s` escaped as cli_fputs_escaped does (NULL appends "-"). */
void cli_row_escaped(struct cli_row *r, const char *s);
/* Writes the row and a newline, and starts the next row. */
void cli_row_end(struct cli_row *r);

/* ------------------------------------------------------------------ */
/* Streaming JSON writer (model: bpftool json_writer.c).  Compact      */
/* output; a newline follows every top-level value, so a sequence of    */
/* objects is JSON Lines.  Strings: control bytes and the characters  */
/* cli_fputs_escaped escapes as \uXXXX (surrogate pairs above U+FFFF), */
/* invalid UTF-8 bytes as \ufffd, so the output is always valid JSON.  */

struct cli_json;
/* Returns a writer on `f` (not owned) or NULL on ENOMEM. */
struct cli_json *cli_json_new(FILE *f);
void cli_json_free(struct cli_json *j);
void cli_json_start_object(struct cli_json *j);
void cli_json_end_object(struct cli_json *j);
void cli_json_start_array(struct cli_json *j);
void cli_json_end_array(struct cli_json *j);
/* Member name; must be followed by exactly one value. */
void cli_json_name(struct cli_json *j, const char *name);
void cli_json_string(struct cli_json *j, const char *s); /* NULL -> null */
void cli_json_u64(struct cli_json *j, uint64_t v);
void cli_json_i64(struct cli_json *j, int64_t v);
void cli_json_bool(struct cli_json *j, int v);
void cli_json_null(struct cli_json *j);
/* "0x..." lowercase hex string (addresses stay exact in every parser). */
void cli_json_hex(struct cli_json *j, uint64_t v);
/* Name + value shorthands.  cli_json_kstr also writes "NAME_hex", the
 * exact bytes in lowercase hex, when `s` is not valid UTF-8 (the string
 * itself then holds U+FFFD for each bad byte). */
void cli_json_kstr(struct cli_json *j, const char *name, const char *s);
void cli_json_ku64(struct cli_json *j, const char *name, uint64_t v);
void cli_json_ki64(struct cli_json *j, const char *name, int64_t v);
void cli_json_khex(struct cli_json *j, const char *name, uint64_t v);
void cli_json_kbool(struct cli_json *j, const char *name, int v);
/* Writes the escaped JSON string literal of `s` (len bytes) to `f`. */
void cli_json_write_string(FILE *f, const char *s, size_t len);

/* ------------------------------------------------------------------ */
/* An archive's contents, in the formats above (archive.c)              */

/* Writes the standard fields of a capture as members of the current
 * object (seq region version pid tid addr end size time boottime_ns
 * trigger prot prot_before sha256 stored_bytes gaps [rip]).  Gaps and
 * registers are looked up when the capture has them.  Returns 0 or the
 * negative errno of a failed lookup (fields written so far stay). */
int cli_json_capture_fields(struct cli_json *j, struct emt_reader *r,
			    const struct emt_capture *c);

/* ------------------------------------------------------------------ */
/* Hex listings                                                         */

/* Prints `n` bytes like `hexdump -C`, with `addr` as the address of the
 * first byte (at least 8 hex digits), repeated lines folded into "*"
 * unless `verbose`, and a final line holding the end address. */
void cli_hexdump(FILE *f, const uint8_t *p, size_t n, uint64_t addr,
		 int verbose);

/* ------------------------------------------------------------------ */
/* Common capture filters: --pid --region --trigger --since --until    */
/* --min-size.  Put CLI_FILTER_LONGOPTS in a getopt_long table and pass */
/* every option to cli_filter_opt.                                      */

enum {
	CLI_OPT_PID = 0x1000,
	CLI_OPT_REGION,
	CLI_OPT_TRIGGER,
	CLI_OPT_SINCE,
	CLI_OPT_UNTIL,
	CLI_OPT_MIN_SIZE,
	CLI_OPT_FIRST_FREE,     /* tools number their own options from here */
};
#define CLI_FILTER_LONGOPTS \
	{ "pid",      1, NULL, CLI_OPT_PID }, \
	{ "region",   1, NULL, CLI_OPT_REGION }, \
	{ "trigger",  1, NULL, CLI_OPT_TRIGGER }, \
	{ "since",    1, NULL, CLI_OPT_SINCE }, \
	{ "until",    1, NULL, CLI_OPT_UNTIL }, \
	{ "min-size", 1, NULL, CLI_OPT_MIN_SIZE }
/* The end of the getopt_long table of a tool that takes the filters and
 * leaves --help and --version to cli_filter_common_opt: those entries,
 * the filters' and the terminating zero entry. */
#define CLI_FILTER_LONGOPTS_END \
	CLI_COMMON_LONGOPTS, \
	CLI_FILTER_LONGOPTS, \
	{ NULL, 0, NULL, 0 }
/* Help text lines for the filters, ready for fputs. */
extern const char cli_filter_help[];

/* If `opt` is a filter option, parses `arg` into `f` and returns 1, or
 * prints a usage error and returns -1 on a bad value; returns 0 for any
 * other option. */
int cli_filter_opt(struct emt_filter *f, int opt, const char *arg);
/* cli_common_opt for a tool that takes the filters: a filter option is
 * parsed into `f` (as cli_filter_opt does), and --help writes `usage`
 * with cli_filter_help standing where it says "%s" (the first one; the
 * rest is written as is).  Returns CLI_OPT_TAKEN when a filter was
 * parsed and the options go on, else the exit status for main to
 * return: CLI_EXIT_OK after --help or --version, CLI_EXIT_USAGE after
 * an error message (a bad filter value, an unknown option). */
#define CLI_OPT_TAKEN (-1)
int cli_filter_common_opt(struct emt_filter *f, int opt, const char *arg,
			  const char *usage);
/* Parses the value of --seq (a sequence number > 0) into *seq; prints
 * the usage error and returns -1 if it is not one, else 0. */
int cli_seq_opt(const char *arg, uint64_t *seq);
/* Checks the combination (since <= until); prints a usage error and
 * returns -1 if wrong, else 0. */
int cli_filter_check(const struct emt_filter *f);

/* ------------------------------------------------------------------ */
/* Byte diff                                                           */

struct cli_diff_range {
	uint64_t off;   /* offset of the first differing byte */
	uint64_t len;   /* length of the maximal run of differing bytes */
};
/* Compares a and b (n bytes each) and returns in *ranges (malloc'd, the
 * caller frees; NULL when none) every maximal run of differing bytes in
 * increasing order, their count in *nranges and the total number of
 * differing bytes in *changed.  Returns 0 or -ENOMEM. */
int cli_diff_bytes(const uint8_t *a, const uint8_t *b, size_t n,
		   struct cli_diff_range **ranges, size_t *nranges,
		   uint64_t *changed);

#endif /* EMTCLI_H */
