/*
 * fuzz_diff.c - libFuzzer target: emt-diff's own main() on a fuzzed
 * archive: pairs of captures (text, JSON, --full), every consecutive pair
 * of a region, and the instruction diff when built with capstone.
 */
#include "fuzz_tool.h"

int emt_diff_main(int argc, char **argv);
#define main emt_diff_main
#include "readers/emt-diff.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/emt-fuzz-diff.XXXXXX";
	int fd = fuzz_write_archive(path, data, size);

	if (fd < 0)
		return 0;
	fuzz_quiet();
	{
		const char *const a1[] = { "emt-diff", path, "1", "3", NULL };
		const char *const a2[] = { "emt-diff", "--json", "--disasm", path, "1", "2", NULL };
		const char *const a3[] = { "emt-diff", "--region", "1", "--disasm", "-C", "3", path, NULL };
		const char *const a4[] = { "emt-diff", "--full", "-C", "0", path, "5", "6", NULL };
		const char *const a5[] = { "emt-diff", "-q", "--region", "5", path, NULL };

		fuzz_run(emt_diff_main, a1);
		fuzz_run(emt_diff_main, a2);
		fuzz_run(emt_diff_main, a3);
		fuzz_run(emt_diff_main, a4);
		fuzz_run(emt_diff_main, a5);
	}
	close(fd);
	unlink(path);
	return 0;
}
