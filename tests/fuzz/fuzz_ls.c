/*
 * fuzz_ls.c - libFuzzer target: emt-ls's own main() on a fuzzed archive,
 * in every listing mode (captures as table, narrow table and JSON,
 * regions, events, processes) and with filters.
 */
#include "fuzz_tool.h"

int emt_ls_main(int argc, char **argv);
#define main emt_ls_main
#include "readers/emt-ls.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/emt-fuzz-ls.XXXXXX";
	int fd = fuzz_write_archive(path, data, size);

	if (fd < 0)
		return 0;
	fuzz_quiet();
	{
		const char *const a1[] = { "emt-ls", path, NULL };
		const char *const a2[] = { "emt-ls", "--json", path, NULL };
		const char *const a3[] = { "emt-ls", "-W", "80", "--min-size", "1", path, NULL };
		const char *const a4[] = { "emt-ls", "--regions", "--json", path, NULL };
		const char *const a5[] = { "emt-ls", "--events", path, NULL };
		const char *const a6[] = { "emt-ls", "-P", "--pid", "4242", path, NULL };
		const char *const a7[] = { "emt-ls", "--trigger", "mprotect", "--since", "@1",
					   "--until", "2100-01-01", "--region", "1", path, NULL };

		fuzz_run(emt_ls_main, a1);
		fuzz_run(emt_ls_main, a2);
		fuzz_run(emt_ls_main, a3);
		fuzz_run(emt_ls_main, a4);
		fuzz_run(emt_ls_main, a5);
		fuzz_run(emt_ls_main, a6);
		fuzz_run(emt_ls_main, a7);
	}
	close(fd);
	unlink(path);
	return 0;
}
