/*
 * emt-verify - check everything an emt archive promises and report every
 * problem found, item by item.
 */
#include <ctype.h>
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
"the index (sizes, sequences, versions), and the signature of a signed\n"
"archive.  Each problem is printed as 'ITEM: PROBLEM' and verification goes\n"
"on after damage.\n"
"\n"
"  -k, --key PUB.pem      the archive must be signed by this public key\n"
"                         (Ed25519, as emt-keygen writes it): a signature by\n"
"                         any other key, or none, is a failure\n"
"      --expect-seal HEX  the seal sha256 must be HEX (the value emt-capture\n"
"                         printed when it sealed the archive)\n"
"      --json             one JSON object per archive on stdout instead of\n"
"                         text (problems, seal, signature, checkpoints)\n"
"  -q, --quiet            print nothing; the exit status tells\n"
CLI_COMMON_HELP
"\n"
"An archive that was not closed cleanly is reported as unsealed, which is\n"
"not damage: every capture committed before the crash is still checked.\n"
"\n"
"A signed archive (emt-capture --sign-key) is checked against --key.\n"
"Without --key its signature is checked against the public key stored in\n"
"the archive, which only shows that the archive is unchanged since that key\n"
"signed it: whoever rewrites an archive can sign it with a key of their own,\n"
"so only a key you trust shows who signed.  An unsealed signed archive (a\n"
"killed capture) is vouched for up to its last valid signed checkpoint.\n"
"\n"
"Examples:\n"
"  emt-verify case.emt\n"
"  emt-verify --quiet case.emt && echo intact\n"
"  emt-verify --key case-key.pub.pem --expect-seal 5b0ec78b...d82d case.emt\n"
"  emt-verify --json --key case-key.pub.pem case.emt | jq .signature\n"
"\n"
"Exit status: 0 intact, 1 damaged (or not signed by --key, or not the\n"
"expected seal), 2 trouble (usage error, missing file, unusable key, not an\n"
"emt archive, verification could not run).\n";

struct opts {
	int quiet;
	const struct emt_key *key;      /* --key, or NULL */
	const char *key_path;
	const char *expect_seal;        /* lowercase hex, or NULL */
	struct cli_json *json;          /* --json, or NULL */
};

struct ctx {
	int quiet;
	const char *path;
	struct cli_json *json;
	int problems;                   /* reported by this tool, not the library */
};

static void report(void *arg, const char *item, const char *message)
{
	const struct ctx *x = arg;

	if (x->json) {
		cli_json_start_object(x->json);
		cli_json_kstr(x->json, "item", item);
		cli_json_kstr(x->json, "message", message);
		cli_json_end_object(x->json);
		return;
	}
	if (x->quiet)
		return;
	cli_fputs_escaped(stdout, item);
	fputs(": ", stdout);
	cli_fputs_escaped(stdout, message);
	putchar('\n');
}

/* A problem this tool finds (the seal is not the expected one, no
 * signature although --key asks for one). */
static void tool_problem(struct ctx *x, const char *item, const char *message)
{
	x->problems++;
	report(x, item, message);
}

static const char *sig_status_name(uint32_t st)
{
	switch (st) {
	case EMT_SIG_VALID: return "valid";
	case EMT_SIG_CHECKPOINT: return "checkpoint";
	case EMT_SIG_INVALID: return "invalid";
	default: return "unsigned";
	}
}

/* The signature line of the text report. */
static void print_signature(const char *path, const struct emt_sig_info *si,
			    const struct opts *o)
{
	char esc[512];

	cli_fputs_escaped(stdout, path);
	switch (si->status) {
	case EMT_SIG_VALID:
	case EMT_SIG_CHECKPOINT:
		if (si->status == EMT_SIG_VALID)
			printf(": signature valid, key sha256 %s", si->key_sha256);
		else
			printf(": unsealed, signed checkpoints valid (%" PRIu64 " of %" PRIu64
			       "), key sha256 %s", si->checkpoints_valid, si->checkpoints,
			       si->key_sha256);
		if (si->trusted)
			printf(", the trusted key '%s'",
			       cli_escape_str(esc, sizeof(esc), o->key_path));
		else
			printf(", the key stored in the archive: this shows the archive is unchanged"
			       " since that key signed it, not who signed it (check the signer"
			       " with --key)");
		if (si->status == EMT_SIG_CHECKPOINT) {
			if (si->covered)
				printf("; captures 1-%" PRIu64 " covered", si->covered);
			else
				printf("; no capture covered");
			if (si->covered < si->captures)
				printf(", %" PRIu64 " after the last checkpoint NOT covered",
				       si->captures - si->covered);
			if (!si->meta_covered)
				printf("; meta NOT covered (changed since the last checkpoint)");
			/* SPEC.md 10.2: only the seal's signature covers them. */
			printf("; events, losses and exits are covered only by a seal");
		}
		putchar('\n');
		break;
	case EMT_SIG_INVALID:
		printf(": signature INVALID: no signature vouches for this archive\n");
		break;
	default:
		printf(": not signed\n");
		break;
	}
}

static void json_summary(struct cli_json *j, struct emt_reader *r, int rc,
			 const struct emt_verify_stats *st, const struct emt_sig_info *si,
			 const struct opts *o, const char *seal, int seal_match)
{
	char tb[CLI_TIME_BUFSZ];
	int ok = si->status == EMT_SIG_VALID || si->status == EMT_SIG_CHECKPOINT;

	cli_json_kstr(j, "status", rc == 0 ? "intact" : "damaged");
	cli_json_ku64(j, "problem_count", (uint64_t)rc);
	cli_json_kbool(j, "sealed", (int)st->sealed);
	cli_json_ku64(j, "captures", st->captures);
	cli_json_ku64(j, "chunks", st->chunks);
	cli_json_ku64(j, "ledger_entries", st->ledger_entries);
	cli_json_kstr(j, "seal_sha256", seal);
	cli_json_kstr(j, "expected_seal", o->expect_seal);
	cli_json_name(j, "seal_matches");
	if (o->expect_seal)
		cli_json_bool(j, seal_match);
	else
		cli_json_null(j);
	cli_json_kbool(j, "signed", si->status != EMT_SIG_UNSIGNED);
	cli_json_name(j, "signature");
	cli_json_start_object(j);
	cli_json_kstr(j, "status", sig_status_name(si->status));
	cli_json_kstr(j, "key_sha256", si->key_sha256[0] ? si->key_sha256 : NULL);
	cli_json_kstr(j, "checked_with", si->status == EMT_SIG_UNSIGNED ? NULL :
		      o->key ? "trusted" : "stored");
	cli_json_kstr(j, "trusted_key", o->key_path);
	/* The one fact an analyst must not miss: the stored key vouches for
	 * integrity since signing, never for the signer. */
	cli_json_kbool(j, "proves_signer", ok && si->trusted);
	cli_json_ku64(j, "covered_captures", ok ? si->covered : 0);
	cli_json_ku64(j, "uncovered_captures", si->captures - (ok ? si->covered : 0));
	cli_json_kbool(j, "meta_covered", ok && si->meta_covered);
	cli_json_end_object(j);
	cli_json_name(j, "checkpoints");
	cli_json_start_object(j);
	cli_json_ku64(j, "count", si->checkpoints);
	cli_json_ku64(j, "valid", si->checkpoints_valid);
	cli_json_kstr(j, "last_valid_time", si->last_checkpoint_ns ?
		      cli_fmt_time(tb, emt_reader_wall_ns(r, si->last_checkpoint_ns),
				   CLI_TIME_ISO_NS) : NULL);
	cli_json_end_object(j);
}

/* Verifies one archive; returns its exit status. */
static int verify_one(const char *path, const struct opts *o)
{
	struct ctx x = { .quiet = o->quiet, .path = path, .json = o->json };
	struct emt_verify_stats st;
	struct emt_sig_info si;
	struct emt_reader *r;
	char *msg = NULL;
	char esc[512], emsg[512], text[256];
	char seal[2 * EMT_SHA256_LEN + 1] = "";
	int rc, rcs = 0, err, quiet = o->quiet, seal_match = 0;

	r = emt_reader_open(path, &msg);
	if (!r) {
		err = errno;
		if (o->json) {
			cli_json_start_object(o->json);
			cli_json_kstr(o->json, "archive", path);
			cli_json_kstr(o->json, "status", err == EBADMSG || err == E2BIG ?
				      "damaged" : "error");
			cli_json_kstr(o->json, "error", cli_open_reason(msg, err, path));
			cli_json_end_object(o->json);
		}
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
	if (o->json) {
		cli_json_start_object(o->json);
		cli_json_kstr(o->json, "archive", path);
		cli_json_name(o->json, "problems");
		cli_json_start_array(o->json);
	}
	memset(&st, 0, sizeof(st));
	memset(&si, 0, sizeof(si));
	rc = emt_reader_verify(r, report, &x, &st);
	if (rc >= 0)
		rcs = emt_reader_verify_signature(r, o->key, report, &x, &si);
	if (rc < 0 || rcs < 0) {
		if (o->json) {
			cli_json_end_array(o->json);
			cli_json_kstr(o->json, "status", "error");
			cli_json_kstr(o->json, "error", emt_reader_errmsg(r));
			cli_json_end_object(o->json);
		}
		cli_error("cannot verify '%s': %s", cli_escape_str(esc, sizeof(esc), path),
			  cli_escape_str(emsg, sizeof(emsg), emt_reader_errmsg(r) ?
					 cli_skip_prefix(emt_reader_errmsg(r), path) :
					 strerror(-(rc < 0 ? rc : rcs))));
		emt_reader_close(r);
		return CLI_EXIT_USAGE;
	}
	if (o->key && si.status == EMT_SIG_UNSIGNED)
		tool_problem(&x, "signature", "not signed: no signature to check against the trusted key");
	if (st.sealed) {
		const char *v = emt_reader_meta(r, "seal_sha256");

		if (v && strlen(v) == 2 * EMT_SHA256_LEN)
			memcpy(seal, v, sizeof(seal));
	}
	if (o->expect_seal) {
		seal_match = seal[0] && strcmp(seal, o->expect_seal) == 0;
		if (!st.sealed) {
			tool_problem(&x, "seal", "unsealed: there is no seal to compare with --expect-seal");
		} else if (!seal_match) {
			snprintf(text, sizeof(text), "seal sha256 %s is not the expected %s",
				 seal[0] ? seal : "(missing)", o->expect_seal);
			tool_problem(&x, "seal", text);
		}
	}
	rc += rcs + x.problems;
	if (o->json) {
		cli_json_end_array(o->json);
		json_summary(o->json, r, rc, &st, &si, o, seal[0] ? seal : NULL, seal_match);
		cli_json_end_object(o->json);
	} else if (!quiet) {
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
		/* An unsigned archive keeps its one line, as before signing
		 * existed, unless a signature was asked for. */
		if (si.status != EMT_SIG_UNSIGNED || o->key)
			print_signature(path, &si, o);
		if (o->expect_seal && seal_match) {
			cli_fputs_escaped(stdout, path);
			printf(": seal sha256 %s is the expected seal\n", seal);
		}
	}
	emt_reader_close(r);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int main(int argc, char **argv)
{
	enum { OPT_EXPECT_SEAL = 0x100, OPT_JSON };
	static const struct option longopts[] = {
		{ "key",     1, NULL, 'k' },
		{ "expect-seal", 1, NULL, OPT_EXPECT_SEAL },
		{ "json",    0, NULL, OPT_JSON },
		{ "quiet",   0, NULL, 'q' },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { 0 };
	struct emt_key *key = NULL;
	char seal[2 * EMT_SHA256_LEN + 1], *msg = NULL;
	int c, json = 0, worst = CLI_EXIT_OK;

	cli_init("emt-verify", argv);
	while ((c = getopt_long(argc, argv, "k:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'q': o.quiet = 1; break;
		case 'k':
			if (!*optarg)
				return cli_usage("empty key file name");
			o.key_path = optarg;
			break;
		case OPT_EXPECT_SEAL: {
			size_t n = strlen(optarg), i;

			for (i = 0; i < n && i < 2 * EMT_SHA256_LEN &&
			     isxdigit((unsigned char)optarg[i]); i++)
				seal[i] = (char)tolower((unsigned char)optarg[i]);
			if (n != 2 * EMT_SHA256_LEN || i != n)
				return cli_bad_value("expect-seal", optarg, "expected 64 hex digits");
			seal[n] = '\0';
			o.expect_seal = seal;
			break;
		}
		case OPT_JSON: json = 1; break;
		default:
			return cli_common_opt(c, usage_text);
		}
	}
	if (optind >= argc)
		return cli_usage("missing archive operand");
	if (json && o.quiet)
		return cli_usage("--json and --quiet exclude each other");
	if (o.key_path) {
		char esc[512];

		/* Before any archive: a key that cannot be used is trouble
		 * with the command, not damage of an archive. */
		key = emt_key_load_public(o.key_path, &msg);
		if (!key) {
			cli_error("%s", cli_escape_str(esc, sizeof(esc), msg ? msg : strerror(errno)));
			free(msg);
			return CLI_EXIT_USAGE;
		}
		o.key = key;
	}
	if (json && !(o.json = cli_json_new(stdout))) {
		cli_error("out of memory");
		emt_key_free(key);
		return CLI_EXIT_USAGE;
	}
	/* Trouble (2) outranks damage (1) outranks intact (0). */
	for (int i = optind; i < argc; i++) {
		int rc = verify_one(argv[i], &o);

		if (rc > worst)
			worst = rc;
	}
	cli_json_free(o.json);
	emt_key_free(key);
	if (fflush(stdout) != 0) {
		cli_error("cannot write output: %s", strerror(errno));
		return CLI_EXIT_USAGE;
	}
	return worst;
}
