/*
 * fuzz_extract.c - libFuzzer target: emt-extract's own main() on a fuzzed
 * archive: raw, ELF and hex to stdout (buffered path), to a file
 * (streamed through O_TMPFILE and renamed over it), and --all into a
 * private directory with its manifest.
 */
#include <dirent.h>
#include <sys/stat.h>

#include "fuzz_tool.h"

int emt_extract_main(int argc, char **argv);
#define main emt_extract_main
#include "readers/emt-extract.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Empties the --all output directory between inputs. */
static void clean_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int dfd;

	if (!d)
		return;
	dfd = dirfd(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dfd, e->d_name, 0);
	closedir(d);
}

static char dir[] = "/tmp/emt-fuzz-extract.XXXXXX";
static char out[sizeof(dir) + 16];

static void remove_dir(void)
{
	clean_dir(dir);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/emt-fuzz-extract-in.XXXXXX";
	int fd;

	if (!out[0]) {
		FUZZ_CHECK(mkdtemp(dir));
		snprintf(out, sizeof(out), "%s/one.bin", dir);
		atexit(remove_dir);
	}
	fd = fuzz_write_archive(path, data, size);
	if (fd < 0)
		return 0;
	fuzz_quiet();
	{
		const char *const a1[] = { "emt-extract", path, "--seq", "1", "-o", "-", NULL };
		const char *const a2[] = { "emt-extract", path, "--seq", "2", "-f", "elf", "-o", "-", NULL };
		const char *const a3[] = { "emt-extract", path, "--seq", "4", "-f", "hex", "--force", NULL };
		const char *const a4[] = { "emt-extract", path, "--seq", "3", "-f", "elf", "-o", out,
					   "--force", NULL };
		const char *const a5[] = { "emt-extract", path, "--all", "-d", dir, "--force", NULL };

		fuzz_run(emt_extract_main, a1);
		fuzz_run(emt_extract_main, a2);
		fuzz_run(emt_extract_main, a3);
		fuzz_run(emt_extract_main, a4);
		fuzz_run(emt_extract_main, a5);
	}
	clean_dir(dir);
	close(fd);
	unlink(path);
	return 0;
}
