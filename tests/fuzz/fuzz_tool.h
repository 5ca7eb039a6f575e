/*
 * fuzz_tool.h - runs a reader tool's real main() on a fuzzed archive.
 *
 * A fuzz_X.c target defines TOOL_MAIN, includes the tool's source with
 * main renamed (so every path of the tool, not only the library, is
 * fuzzed), and calls run_tool() with argument vectors.  The archive is
 * written to a private temporary file; the tool's output goes to
 * /dev/null.  Crashes, sanitizer reports and leaks are bugs; exit
 * statuses are expected (but must be 0, 1 or 2).
 */
#ifndef FUZZ_TOOL_H
#define FUZZ_TOOL_H

#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz: %s:%d: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

/* Writes the input to a fresh temporary file; returns its fd (path in
 * `path`, a "/tmp/emt-fuzz-tool.XXXXXX" buffer) or -1. */
static int fuzz_write_archive(char *path, const uint8_t *data, size_t size)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	for (size_t off = 0; off < size;) {
		ssize_t m = write(fd, data + off, size - off);

		if (m <= 0)
			break;
		off += (size_t)m;
	}
	return fd;
}

/* Sends the tools' output to /dev/null once: stdout by descriptor, their
 * messages by replacing the stderr stream only, so that libFuzzer's own
 * report (a stream it took at start-up) and sanitizer reports (fd 2)
 * still reach the log.  FUZZ_TOOL_STDERR=1 keeps the messages. */
static void fuzz_quiet(void)
{
	static int done;
	FILE *null;
	int fd;

	if (done)
		return;
	done = 1;
	fd = open("/dev/null", O_WRONLY);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	if (!getenv("FUZZ_TOOL_STDERR") && (null = fopen("/dev/null", "w")))
		stderr = null;
}

/* Runs main_fn with the NULL-terminated argument list; checks that the
 * status is one the tools document. */
static int fuzz_run(int (*main_fn)(int, char **), const char *const *args)
{
	char *argv[16];
	int argc = 0, rc;

	while (args[argc] && argc < 15) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	optind = 0;             /* glibc: full getopt re-initialisation */
	rc = main_fn(argc, argv);
	fflush(stdout);
	FUZZ_CHECK(rc >= 0 && rc <= 2);
	return rc;
}

#endif /* FUZZ_TOOL_H */
