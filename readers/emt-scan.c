/*
 * emt-scan - scan the captured code of an archive with YARA rules, and
 * optionally record the matches in it (SPEC.md section 14).
 *
 * The only tool linked with libyara.  Each capture is scanned as the
 * memory it was: readable runs are YARA memory blocks at their real
 * addresses, gaps (pages that could not be read) are not scanned at all,
 * so zeros standing in for them can never match.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yara.h>

#include "captures.h"
#include "emt_scan_store.h"
#include "emtcli.h"

static const char usage_text[] =
"Usage: emt-scan [OPTION]... RULES ARCHIVE\n"
"Scan the code captured in ARCHIVE with the YARA rules in RULES and print\n"
"one row per match: SEQ PID REGION VER ADDRESS OFFSET RULE STRING, where\n"
"ADDRESS is the match's address in the process (capture address + OFFSET),\n"
"RULE is NAMESPACE:IDENTIFIER and STRING the string that matched ('-' for\n"
"a rule that matched on its condition alone).  Every capture's content hash\n"
"is verified before it is scanned.  Gaps (pages that could not be read) are\n"
"not scanned; a warning names them.\n"
"\n"
"  -s, --seq=N            scan capture N only\n"
"  -j, --json             one JSON object per match (jq-friendly)\n"
"  -n, --no-header        omit the column header\n"
"  -t, --timeout=SECS     give up on a capture after SECS seconds (default 60;\n"
"                         0 = no limit); a capture that times out is trouble\n"
"      --store            record the matches in ARCHIVE (tables scans and\n"
"                         scan_matches, SPEC.md section 14); a rerun with the\n"
"                         same rules file replaces its earlier rows.  The\n"
"                         archive must be closed (not being written); ledger,\n"
"                         seal and emt-verify are unaffected; nothing is\n"
"                         stored if a capture could not be scanned\n"
CLI_COMMON_HELP
"\n"
"%s"
"\n"
"Examples:\n"
"  emt-scan shellcode.yar case.emt\n"
"  emt-scan --pid 4242 --trigger mprotect rules.yar case.emt\n"
"  emt-scan --json rules.yar case.emt | jq -r '.rule + \" \" + .addr'\n"
"  emt-scan --store rules.yar case.emt && sqlite3 case.emt 'SELECT * FROM scan_matches'\n"
"  emt-scan rules.yar case.emt; [ $? -eq 1 ] && echo 'no match'\n"
"\n"
"Exit status (as grep): 0 at least one match, 1 no match, 2 trouble (usage\n"
"error, rules that do not compile, unreadable or damaged archive, a capture\n"
"that could not be read or scanned, --store refused); matches found before\n"
"the trouble are still printed.\n";

enum { OPT_STORE = CLI_OPT_FIRST_FREE };

#define EXIT_MATCH   0
#define EXIT_NOMATCH 1
#define EXIT_TROUBLE 2

struct opts {
	struct emt_filter f;
	int json, no_header, store;
	uint32_t timeout;
	const char *rules_path, *path;
};

/* ------------------------------------------------------------------ */
/* Rules                                                               */

struct compile_ctx {
	const char *path;
	int errors;
};

static void compiler_message(int level, const char *file, int line, const YR_RULE *rule,
			     const char *message, void *user)
{
	struct compile_ctx *cc = user;
	char esc[512], msg[1024], rname[300] = "";

	/* an included file names itself; the top file is the rules operand */
	cli_escape_str(esc, sizeof(esc), file ? file : cc->path);
	cli_escape_str(msg, sizeof(msg), message);
	if (rule) {
		char r[256];

		snprintf(rname, sizeof(rname), "rule '%s': ",
			 cli_escape_str(r, sizeof(r), rule->identifier));
	}
	if (level == YARA_ERROR_LEVEL_ERROR) {
		cc->errors++;
		cli_error("cannot compile '%s': line %d: %s%s", esc, line, rname, msg);
	} else {
		cli_warn("'%s': line %d: %s%s", esc, line, rname, msg);
	}
}

/* Reads the rules file once: the bytes hashed for --store are the bytes
 * compiled.  Returns a malloc'd buffer (NUL-terminated) or NULL after
 * printing why. */
static char *read_rules(const char *path, size_t *len)
{
	char esc[512];
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f) {
		cli_error("cannot open '%s': %s", cli_escape_str(esc, sizeof(esc), path),
			  strerror(errno));
		return NULL;
	}
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			char *nb = cap > (64u << 20) ? NULL : realloc(buf, cap ? cap * 2 : 65536);

			if (!nb) {
				cli_error("cannot read '%s': %s", cli_escape_str(esc, sizeof(esc), path),
					  cap ? "rules file larger than 64 MiB" : strerror(ENOMEM));
				goto fail;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		cli_error("cannot read '%s': %s", cli_escape_str(esc, sizeof(esc), path),
			  strerror(errno));
		goto fail;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

/* Compiles `text` (the bytes of the rules file) into *rules.  Returns 0,
 * or EXIT_TROUBLE after printing the compiler's messages. */
static int compile_rules(const char *path, const char *text, size_t len, YR_RULES **rules)
{
	struct compile_ctx cc = { .path = path, .errors = 0 };
	YR_COMPILER *comp = NULL;
	char esc[512];
	FILE *mem;
	int rc;

	cli_escape_str(esc, sizeof(esc), path);
	if (yr_compiler_create(&comp) != ERROR_SUCCESS) {
		cli_error("cannot compile '%s': out of memory", esc);
		return EXIT_TROUBLE;
	}
	yr_compiler_set_callback(comp, compiler_message, &cc);
	/* through a FILE so that includes resolve relative to the file;
	 * fmemopen wants at least one byte */
	mem = len ? fmemopen((void *)text, len, "r") : NULL;
	if (len && !mem) {
		cli_error("cannot compile '%s': %s", esc, strerror(errno));
		yr_compiler_destroy(comp);
		return EXIT_TROUBLE;
	}
	rc = mem ? yr_compiler_add_file(comp, mem, NULL, path) : yr_compiler_add_string(comp, "", NULL);
	if (mem)
		fclose(mem);
	if (rc > 0 || cc.errors) {
		if (!cc.errors)
			cli_error("cannot compile '%s': %d error%s", esc, rc, rc == 1 ? "" : "s");
		yr_compiler_destroy(comp);
		return EXIT_TROUBLE;
	}
	rc = yr_compiler_get_rules(comp, rules);
	yr_compiler_destroy(comp);
	if (rc != ERROR_SUCCESS) {
		cli_error("cannot compile '%s': yara error %d", esc, rc);
		return EXIT_TROUBLE;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Scanning                                                            */

/* The readable runs of one capture, each a YARA block at its address. */
struct blocks {
	YR_MEMORY_BLOCK *b;
	size_t n, i;
	uint64_t size;          /* the capture's: YARA's filesize */
};

static const uint8_t *block_data(YR_MEMORY_BLOCK *b)
{
	return b->context;
}

static YR_MEMORY_BLOCK *blocks_first(YR_MEMORY_BLOCK_ITERATOR *it)
{
	struct blocks *bl = it->context;

	bl->i = 0;
	return bl->n ? &bl->b[0] : NULL;
}

static YR_MEMORY_BLOCK *blocks_next(YR_MEMORY_BLOCK_ITERATOR *it)
{
	struct blocks *bl = it->context;

	return ++bl->i < bl->n ? &bl->b[bl->i] : NULL;
}

static uint64_t blocks_size(YR_MEMORY_BLOCK_ITERATOR *it)
{
	return ((struct blocks *)it->context)->size;
}

/* Splits `data` (capture c) around its gaps.  Returns 0 or -ENOMEM. */
static int make_blocks(struct blocks *bl, const struct emt_capture *c, const uint8_t *data,
		       const struct emt_gap *g, size_t ng)
{
	uint64_t off = 0;

	bl->b = calloc(ng + 1, sizeof(*bl->b));
	if (!bl->b)
		return -ENOMEM;
	bl->n = 0;
	bl->size = c->size;
	for (size_t i = 0; i <= ng; i++) {
		uint64_t end = i < ng ? g[i].offset : c->size;

		if (end > c->size)
			end = c->size;
		if (end > off) {
			YR_MEMORY_BLOCK *b = &bl->b[bl->n++];

			b->base = c->addr + off;
			b->size = (size_t)(end - off);
			b->context = (void *)(data + off);
			b->fetch_data = block_data;
		}
		if (i < ng && g[i].offset + g[i].length > off)
			off = g[i].offset + g[i].length;
	}
	return 0;
}

struct scan_ctx {
	const struct opts *o;
	struct cli_json *j;
	const struct emt_capture *c;
	struct emt_scan_match *m;       /* for --store */
	size_t nm, mcap;
	uint64_t matches;
	int oom;
};

/* Prints one match and counts it. */
static void print_match(struct scan_ctx *sc, const YR_RULE *rule, const char *sid,
			uint64_t off, uint64_t len)
{
	const struct emt_capture *c = sc->c;
	const char *tag;

	if (sc->j) {
		struct cli_json *j = sc->j;
		char id[512];

		snprintf(id, sizeof(id), "%s:%s", rule->ns->name, rule->identifier);
		cli_json_start_object(j);
		cli_json_ku64(j, "seq", c->seq);
		cli_json_ku64(j, "pid", c->pid);
		cli_json_ki64(j, "region", c->region_id);
		cli_json_ku64(j, "version", c->version);
		cli_json_khex(j, "addr", c->addr + off);
		cli_json_khex(j, "capture_addr", c->addr);
		cli_json_ku64(j, "offset", off);
		cli_json_ku64(j, "length", len);
		cli_json_kstr(j, "rule", id);
		cli_json_kstr(j, "namespace", rule->ns->name);
		cli_json_kstr(j, "identifier", rule->identifier);
		cli_json_kstr(j, "string", sid);
		cli_json_name(j, "tags");
		cli_json_start_array(j);
		yr_rule_tags_foreach(rule, tag)
			cli_json_string(j, tag);
		cli_json_end_array(j);
		cli_json_ku64(j, "gaps", c->ngaps);
		cli_json_end_object(j);
		sc->matches++;
		return;
	}
	/* before the first match only: no match prints nothing, as grep */
	if (!sc->o->no_header && !sc->matches++)
		printf("%6s %7s %6s %3s %-16s %8s %s\n", "SEQ", "PID", "REGION", "VER",
		       "ADDRESS", "OFFSET", "RULE STRING");
	else if (sc->o->no_header)
		sc->matches++;
	printf("%6" PRIu64 " %7" PRIu32 " %6" PRId64 " %3" PRIu32 " %016" PRIx64 " %8" PRIx64 " ",
	       c->seq, c->pid, c->region_id, c->version, c->addr + off, off);
	cli_fputs_escaped(stdout, rule->ns->name);
	putchar(':');
	cli_fputs_escaped(stdout, rule->identifier);
	putchar(' ');
	cli_fputs_escaped(stdout, sid ? sid : "-");
	putchar('\n');
}

static void add_match(struct scan_ctx *sc, const YR_RULE *rule, const char *sid,
		      uint64_t off, uint64_t len)
{
	print_match(sc, rule, sid, off, len);
	if (!sc->o->store)
		return;
	if (sc->nm == sc->mcap) {
		size_t ncap = sc->mcap ? sc->mcap * 2 : 64;
		struct emt_scan_match *nm = realloc(sc->m, ncap * sizeof(*nm));

		if (!nm) {
			sc->oom = 1;
			return;
		}
		sc->m = nm;
		sc->mcap = ncap;
	}
	/* names point into the compiled rules, which outlive the store */
	sc->m[sc->nm++] = (struct emt_scan_match){
		.seq = sc->c->seq, .rule_ns = rule->ns->name, .rule = rule->identifier,
		.string_id = sid, .offset = off, .length = len, .address = sc->c->addr + off,
	};
}

static int scan_callback(YR_SCAN_CONTEXT *ctx, int message, void *data, void *user)
{
	struct scan_ctx *sc = user;
	const YR_RULE *rule = data;
	const YR_STRING *s;
	YR_MATCH m;
	int any = 0;

	if (message == CALLBACK_MSG_TOO_MANY_MATCHES) {
		s = data;
		cli_warn("'%s': capture %" PRIu64 ": string %s matches too often; later matches"
			 " of it are not reported", cli_archive(), sc->c->seq, s->identifier);
		return CALLBACK_CONTINUE;
	}
	if (message != CALLBACK_MSG_RULE_MATCHING)
		return CALLBACK_CONTINUE;
	yr_rule_strings_foreach(rule, s) {
		/* Not yr_string_matches_foreach: libyara 4.2 keeps matches in a
		 * notebook that does not align them (UBSan reports every
		 * access), so each is copied out before it is read. */
		for (const YR_MATCH *p = ctx->matches[s->idx].head; p; p = m.next) {
			memcpy(&m, p, sizeof(m));
			if (m.is_private)
				continue;
			/* base: the block's address; back to the capture's offset */
			add_match(sc, rule, s->identifier,
				  (uint64_t)m.base + (uint64_t)m.offset - sc->c->addr,
				  (uint64_t)m.match_length);
			any = 1;
		}
	}
	if (!any)
		add_match(sc, rule, NULL, 0, 0);
	return CALLBACK_CONTINUE;
}

static void warn_unscanned(const struct emt_capture *c, const struct emt_gap *g, size_t ng)
{
	uint64_t bytes = 0;

	for (size_t i = 0; i < ng; i++)
		bytes += g[i].length;
	cli_warn("'%s': capture %" PRIu64 ": %" PRIu64 " bytes in %zu gap%s (pages not captured)"
		 " not scanned; first at 0x%" PRIx64, cli_archive(), c->seq, bytes, ng,
		 ng == 1 ? "" : "s", c->addr + g[0].offset);
}

/* Reads, verifies and scans capture `c`.  Returns 0, or -1 after printing
 * why it could not be scanned. */
static int scan_capture(struct emt_reader *r, YR_RULES *rules, struct scan_ctx *sc,
			const struct emt_capture *c, uint8_t **buf, size_t *cap)
{
	YR_MEMORY_BLOCK_ITERATOR it;
	struct blocks bl = { 0 };
	struct emt_gap *g = NULL;
	size_t ng = 0;
	char emsg[512];
	int rc;

	rc = cli_capture_bytes(r, c, buf, cap);
	if (rc == 0 && c->ngaps)
		rc = emt_reader_gaps(r, c->seq, &g, &ng);
	if (rc < 0) {
		cli_error("'%s': capture %" PRIu64 ": %s; not scanned", cli_archive(), c->seq,
			  rc == -ENOMEM || rc == -E2BIG ? strerror(-rc) :
			  cli_escape_str(emsg, sizeof(emsg),
					 cli_capture_reason(emt_reader_errmsg(r), c->seq, rc)));
		return -1;
	}
	if (ng)
		warn_unscanned(c, g, ng);
	if (make_blocks(&bl, c, *buf, g, ng) < 0) {
		free(g);
		cli_error("'%s': capture %" PRIu64 ": %s", cli_archive(), c->seq, strerror(ENOMEM));
		return -1;
	}
	free(g);
	it = (YR_MEMORY_BLOCK_ITERATOR){
		.context = &bl, .first = blocks_first, .next = blocks_next,
		.file_size = blocks_size, .last_error = ERROR_SUCCESS,
	};
	sc->c = c;
	rc = yr_rules_scan_mem_blocks(rules, &it, 0, scan_callback, sc, (int)sc->o->timeout);
	free(bl.b);
	if (rc == ERROR_SCAN_TIMEOUT) {
		cli_error("'%s': capture %" PRIu64 ": scan timed out after %" PRIu32 " s (--timeout);"
			  " matches printed so far are all it found", cli_archive(), c->seq,
			  sc->o->timeout);
		return -1;
	}
	if (rc != ERROR_SUCCESS) {
		cli_error("'%s': capture %" PRIu64 ": yara error %d%s", cli_archive(), c->seq, rc,
			  rc == ERROR_INSUFFICIENT_MEMORY ? " (out of memory)" : "");
		return -1;
	}
	if (sc->oom) {
		cli_error("'%s': capture %" PRIu64 ": out of memory for --store", cli_archive(), c->seq);
		return -1;
	}
	return 0;
}

/* The selected captures.  Returns the count or -1 after printing why. */
static ssize_t list_captures(struct emt_reader *r, const struct opts *o,
			     struct emt_capture **out)
{
	const char *m;
	char emsg[512];
	size_t n;
	int rc = cli_capture_list(r, &o->f, out, &n);

	if (rc == 0)
		return (ssize_t)n;
	m = emt_reader_errmsg(r);
	cli_error("cannot read '%s': %s", cli_archive(),
		  cli_escape_str(emsg, sizeof(emsg), rc != -ENOMEM && m && *m ?
				 cli_skip_prefix(m, o->path) : strerror(-rc)));
	return -1;
}

/* Records the run's matches.  Returns 0 or EXIT_TROUBLE after printing. */
static int store_matches(struct emt_scan_store *st, const struct opts *o, const char *rules_text,
			 size_t rules_len, const struct scan_ctx *sc, uint64_t scanned)
{
	struct emt_scan_run run = { .rules_path = o->rules_path, .captures = scanned };
	char engine[64], esc[512];
	struct timespec ts;
	int rc = 0;

	snprintf(engine, sizeof(engine), "yara %s", YR_VERSION);
	run.engine = engine;
	clock_gettime(CLOCK_REALTIME, &ts);
	run.scanned_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	emt_sha256(rules_text, rules_len, run.rules_sha256);
	rc = emt_scan_store_begin(st, &run);
	for (size_t i = 0; rc == 0 && i < sc->nm; i++)
		rc = emt_scan_store_add(st, &sc->m[i]);
	if (rc == 0)
		rc = emt_scan_store_commit(st);
	if (rc < 0) {
		cli_error("cannot store into '%s': %s", cli_archive(),
			  cli_escape_str(esc, sizeof(esc),
					 cli_skip_prefix(emt_scan_store_errmsg(st), o->path)));
		return EXIT_TROUBLE;
	}
	fprintf(stderr, "%s: stored %zu match%s of '%s' in '%s'\n", cli_prog(), sc->nm,
		sc->nm == 1 ? "" : "es", cli_escape_str(esc, sizeof(esc), o->rules_path),
		cli_archive());
	return 0;
}

static int run(const struct opts *o, YR_RULES *rules, const char *rules_text, size_t rules_len)
{
	struct scan_ctx sc = { .o = o };
	struct emt_scan_store *st = NULL;
	struct emt_capture *list = NULL;
	struct emt_reader *r;
	uint8_t *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int trouble = 0;
	char *msg = NULL, esc[512];

	r = cli_open_archive(o->path);
	if (!r)
		return EXIT_TROUBLE;
	if (o->store) {
		/* refuse before the scan, not after it */
		st = emt_scan_store_open(o->path, &msg);
		if (!st) {
			cli_error("cannot store into '%s': %s", cli_archive(),
				  cli_escape_str(esc, sizeof(esc),
						 msg ? cli_skip_prefix(msg, o->path) : strerror(errno)));
			free(msg);
			emt_reader_close(r);
			return EXIT_TROUBLE;
		}
	}
	n = list_captures(r, o, &list);
	if (n < 0) {
		trouble = 1;
		goto out;
	}
	if (n == 0)
		cli_warn("'%s': no captures to scan", cli_archive());
	if (o->json) {
		sc.j = cli_json_new(stdout);
		if (!sc.j) {
			cli_error("%s", strerror(ENOMEM));
			trouble = 1;
			goto out;
		}
	}
	for (ssize_t i = 0; i < n; i++)
		if (scan_capture(r, rules, &sc, &list[i], &buf, &cap) < 0)
			trouble = 1;
	cli_json_free(sc.j);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_error("cannot write output: %s", strerror(errno));
		trouble = 1;
	}
	/* the reader holds the file as immutable: close it before writing */
	emt_reader_close(r);
	r = NULL;
	/* a run in the table claims every selected capture was scanned */
	if (st && trouble)
		cli_error("'%s': matches not stored: not every capture could be scanned",
			  cli_archive());
	else if (st && store_matches(st, o, rules_text, rules_len, &sc, (uint64_t)n))
		trouble = 1;
out:
	emt_scan_store_close(st);
	emt_reader_close(r);
	free(sc.m);
	free(list);
	free(buf);
	if (trouble)
		return EXIT_TROUBLE;
	return sc.matches ? EXIT_MATCH : EXIT_NOMATCH;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",      0, NULL, 'j' },
		{ "no-header", 0, NULL, 'n' },
		{ "seq",       1, NULL, 's' },
		{ "timeout",   1, NULL, 't' },
		{ "store",     0, NULL, OPT_STORE },
		CLI_FILTER_LONGOPTS_END,
	};
	struct opts o;
	YR_RULES *rules = NULL;
	char *text;
	size_t len = 0;
	uint64_t seq;
	int c, rc;

	cli_init("emt-scan", argv);
	memset(&o, 0, sizeof(o));
	o.timeout = 60;
	while ((c = getopt_long(argc, argv, "s:jnt:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_seq_opt(optarg, &seq))
				return CLI_EXIT_USAGE;
			o.f.seq_from = o.f.seq_to = seq;
			break;
		case 'j': o.json = 1; break;
		case 'n': o.no_header = 1; break;
		case 't':
			if (cli_parse_u32(optarg, &o.timeout) || o.timeout > 86400)
				return cli_bad_value("timeout", optarg, "expected seconds, 0..86400");
			break;
		case OPT_STORE: o.store = 1; break;
		case 'V':
			cli_print_version();
			printf("yara %s\n", YR_VERSION);
			return CLI_EXIT_OK;
		default:
			rc = cli_filter_common_opt(&o.f, c, optarg, usage_text);
			if (rc != CLI_OPT_TAKEN)
				return rc;
			break;
		}
	}
	if (argc - optind < 2)
		return cli_usage(optind >= argc ? "missing rules and archive operands"
				 : "missing archive operand");
	if (argc - optind > 2)
		return cli_usage("too many operands: expected a rules file and an archive");
	if (cli_filter_check(&o.f))
		return CLI_EXIT_USAGE;
	o.rules_path = argv[optind];
	o.path = argv[optind + 1];
	cli_set_archive(o.path);

	text = read_rules(o.rules_path, &len);
	if (!text)
		return EXIT_TROUBLE;
	if (yr_initialize() != ERROR_SUCCESS) {
		cli_error("cannot initialise libyara");
		free(text);
		return EXIT_TROUBLE;
	}
	rc = compile_rules(o.rules_path, text, len, &rules);
	if (rc == 0)
		rc = run(&o, rules, text, len);
	if (rules)
		yr_rules_destroy(rules);
	yr_finalize();
	free(text);
	return rc;
}
