/*
 * emt-learn - learn a syscall model (SPEC.md section 16) from benign
 * runs: archives captured with `emt-capture --syscalls all`, or
 * `strace -f -ttt` logs.  The learning is format/model_learn.c's; this
 * is its command line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emt_model.h"
#include "emtcli.h"

static const char usage_text[] =
"Usage: emt-learn -o MODEL.json [OPTION]... ARCHIVE|STRACE_LOG...\n"
"Learn which sequences of syscalls each program makes from benign runs,\n"
"for emt-capture --model: for every program (the executable's SHA-256,\n"
"with its path and inode), the allowed transitions of syscall sequences\n"
"of length N per thread.  Inputs are archives captured with\n"
"`emt-capture --syscalls all` (their syscalls table) or logs of\n"
"`strace -f -ttt -o LOG`; the executables are identified now, so learn on\n"
"the host (and with the binaries) the runs were made with.\n"
"\n"
"  -o, --output FILE      write the model to FILE (required; '-' = stdout)\n"
"  -d, --depth N          sequence length 1, 2 or 3 (default 2: previous\n"
"                         syscall -> next)\n"
"  -f, --force            replace an existing FILE\n"
"  -q, --quiet            no summary on stderr\n"
CLI_COMMON_HELP
"\n"
"Examples:\n"
"  emt-capture --syscalls all -o run1.emt -- gzip -k data.txt\n"
"  emt-learn -o gzip.json run1.emt run2.emt run3.emt\n"
"  strace -f -ttt -o py.log python3 script.py && emt-learn -d 3 -o py.json py.log\n"
"  emt-capture --model gzip.json -o case.emt -- gzip -k other.txt\n"
"\n"
"Exit status: 0 written, 1 failure (an input unreadable or without\n"
"syscalls, the model cannot be written), 2 usage error.\n";

/* Reads file `path` whole (at most 1 GiB) into *buf.  Returns 0 or -errno. */
static int slurp(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	size_t n = 0, cap;
	char *b;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		int e = errno ? -errno : -EINVAL;

		close(fd);
		return S_ISREG(sb.st_mode) ? e : -EINVAL;
	}
	if ((uint64_t)sb.st_size > (1ull << 30)) {
		close(fd);
		return -EFBIG;
	}
	cap = (size_t)sb.st_size + 1;
	b = malloc(cap);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r = read(fd, b + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			free(b);
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) { /* grew meanwhile: read what is there */
			char *nb = cap < (1u << 30) ? realloc(b, 2 * cap) : NULL;

			if (!nb)
				break;
			b = nb;
			cap *= 2;
		}
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
}

/* Learns from one input.  Returns CLI_EXIT_OK or CLI_EXIT_FAIL. */
static int learn_one(struct emt_model *m, const char *path, struct emt_model_learn_stats *st)
{
	char esc[1024], msg[1024] = "", sha[65];
	uint8_t d[EMT_SHA256_LEN];
	char *buf = NULL;
	size_t len = 0;
	int err = slurp(path, &buf, &len);

	if (err) {
		cli_error("cannot read '%s': %s", cli_escape_str(esc, sizeof(esc), path),
			  err == -EINVAL ? "not a regular file" : strerror(-err));
		return CLI_EXIT_FAIL;
	}
	emt_sha256(buf, len, d);
	emt_hex(d, EMT_SHA256_LEN, sha);
	/* An archive is an SQLite file; anything else is taken for a log. */
	int archive = len >= 16 && !memcmp(buf, "SQLite format 3", 16);

	if (archive) {
		char *emsg = NULL;
		struct emt_reader *r;

		free(buf);
		buf = NULL;
		r = emt_reader_open(path, &emsg);
		if (!r) {
			cli_error("cannot open '%s': %s", cli_escape_str(esc, sizeof(esc), path),
				  emsg ? emsg : strerror(errno));
			free(emsg);
			return CLI_EXIT_FAIL;
		}
		err = emt_model_learn_archive(m, r, path, st, msg, sizeof(msg));
		emt_reader_close(r);
	} else {
		err = emt_model_learn_strace(m, buf, len, path, st, msg, sizeof(msg));
	}
	free(buf);
	if (!err)
		err = emt_model_add_source(m, archive ? "archive" : "strace", path, sha);
	if (err) {
		cli_error("%s", cli_escape_str(esc, sizeof(esc), msg[0] ? msg : strerror(-err)));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* Writes text to path atomically (a temporary file renamed over it), or
 * to stdout for "-".  Returns 0 or -errno. */
static int write_model(const char *path, const char *text, int force)
{
	size_t n = strlen(text);

	if (!strcmp(path, "-"))
		return fwrite(text, 1, n, stdout) == n && fputc('\n', stdout) != EOF ? 0 : -EIO;
	if (!force && access(path, F_OK) == 0)
		return -EEXIST;
	size_t pl = strlen(path);
	char *tmp = malloc(pl + 16);

	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, pl + 16, "%s.tmp%d", path, (int)getpid());
	FILE *f = fopen(tmp, "wx");
	int err = 0;

	if (!f) {
		err = -errno;
		free(tmp);
		return err;
	}
	if (fwrite(text, 1, n, f) != n || fputc('\n', f) == EOF)
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", 1, NULL, 'o' },
		{ "depth",  1, NULL, 'd' },
		{ "force",  0, NULL, 'f' },
		{ "quiet",  0, NULL, 'q' },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	uint32_t depth = EMT_MODEL_DEPTH_DEFAULT;
	int c, force = 0, quiet = 0, rc = CLI_EXIT_OK;
	struct emt_model_learn_stats st = { 0 };
	char esc[1024];

	cli_init("emt-learn", argv);
	while ((c = getopt_long(argc, argv, "o:d:fqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (!*optarg)
				return cli_usage("empty output file name");
			out = optarg;
			break;
		case 'd':
			if (cli_parse_u32(optarg, &depth) || depth < EMT_MODEL_DEPTH_MIN ||
			    depth > EMT_MODEL_DEPTH_MAX)
				return cli_bad_value("--depth", optarg, "1, 2 or 3");
			break;
		case 'f': force = 1; break;
		case 'q': quiet = 1; break;
		default:
			return cli_common_opt(c, usage_text);
		}
	}
	if (!out)
		return cli_usage("missing --output");
	if (optind >= argc)
		return cli_usage("missing input (archive or strace log)");
	if (strcmp(out, "-") && !force && access(out, F_OK) == 0) {
		cli_error("cannot write '%s': exists (--force replaces it)",
			  cli_escape_str(esc, sizeof(esc), out));
		return CLI_EXIT_FAIL;
	}
	struct emt_model *m = emt_model_new((int)depth);

	if (!m) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	for (int i = optind; i < argc && rc == CLI_EXIT_OK; i++)
		rc = learn_one(m, argv[i], &st);
	if (rc == CLI_EXIT_OK && emt_model_nprograms(m) == 0) {
		cli_error("no program learned: no input had calls of a program whose"
			  " executable could be read (%" PRIu64 " calls of unreadable ones,"
			  " %" PRIu64 " of no program)", st.unresolved, st.no_image);
		rc = CLI_EXIT_FAIL;
	}
	char *text = NULL;

	if (rc == CLI_EXIT_OK) {
		int err = emt_model_json(m, &text);

		err = err ? err : write_model(out, text, force);
		if (err) {
			cli_error("cannot write '%s': %s", cli_escape_str(esc, sizeof(esc), out),
				  strerror(-err));
			rc = CLI_EXIT_FAIL;
		}
	}
	if (rc == CLI_EXIT_OK && !quiet) {
		size_t ntr = 0;

		for (size_t i = 0; i < emt_model_nprograms(m); i++)
			ntr += emt_model_program(m, i)->ntrans;
		fprintf(stderr, "emt-learn: depth %d: %zu program%s, %zu transitions from %" PRIu64
			" calls in %" PRIu64 " thread sequences (%" PRIu64 " calls of no program,"
			" %" PRIu64 " of unreadable executables, %" PRIu64 " lines or calls skipped)\n",
			(int)depth, emt_model_nprograms(m), emt_model_nprograms(m) == 1 ? "" : "s",
			ntr, st.calls, st.threads, st.no_image, st.unresolved, st.lines_skipped);
		for (size_t i = 0; i < emt_model_nprograms(m); i++) {
			const struct emt_model_prog *p = emt_model_program(m, i);

			fprintf(stderr, "  %.16s %s: %zu transitions, %" PRIu64 " calls\n",
				p->sha256, cli_escape_str(esc, sizeof(esc), p->path), p->ntrans,
				p->calls);
		}
	}
	free(text);
	emt_model_free(m);
	return rc;
}
