/*
 * fuzz_verify.c - libFuzzer target: emt-verify's own main() on a fuzzed
 * archive, loud and quiet, and twice in one run (several operands, the
 * worst status wins).  fuzz_reader covers the library's verify alone;
 * this covers the tool's path (report callback escaping, open errors,
 * summary line, JSON report, signature check).
 */
#include "fuzz_tool.h"

int emt_verify_main(int argc, char **argv);
#define main emt_verify_main
#include "readers/emt-verify.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/emt-fuzz-verify.XXXXXX";
	int fd = fuzz_write_archive(path, data, size);

	if (fd < 0)
		return 0;
	fuzz_quiet();
	{
		const char *const a1[] = { "emt-verify", path, NULL };
		const char *const a2[] = { "emt-verify", "-q", path, NULL };
		const char *const a3[] = { "emt-verify", path, "/nonexistent/emt-fuzz.emt", path, NULL };
		int r1 = fuzz_run(emt_verify_main, a1);
		int r2 = fuzz_run(emt_verify_main, a2);
		int r3 = fuzz_run(emt_verify_main, a3);
		const char *const a4[] = { "emt-verify", "--json", path, NULL };
		int r4 = fuzz_run(emt_verify_main, a4);

		/* quiet changes the output, never the verdict; a missing
		 * operand is trouble whatever the archive */
		FUZZ_CHECK(r1 == r2);
		FUZZ_CHECK(r3 == CLI_EXIT_USAGE);
		/* nor does JSON output */
		FUZZ_CHECK(r4 == r1);
	}
	close(fd);
	unlink(path);
	return 0;
}
