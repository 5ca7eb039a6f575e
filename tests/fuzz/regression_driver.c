/*
 * regression_driver.c - replays fuzz inputs without libFuzzer.
 *
 * Linked with each fuzz target in normal builds; `make test` runs
 * `fuzz_X tests/fuzz/corpus/fuzz_X`.  Arguments are files or directories
 * (not recursive).  Exits 0 when every input ran (a crash kills the
 * process, which the runner reports), 1 on an unreadable argument.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f) {
		fprintf(stderr, "regression_driver: cannot open '%s': %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "regression_driver: cannot read '%s'\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	int bad = 0, ran = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "regression_driver: cannot open '%s': %s\n", argv[i],
				strerror(errno));
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i]) != 0;
			ran++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		char **names = NULL;
		size_t n = 0, cap = 0;

		if (!d) {
			bad = 1;
			continue;
		}
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				names = realloc(names, cap * sizeof(*names));
				if (!names)
					return 1;
			}
			names[n++] = strdup(e->d_name);
		}
		closedir(d);
		/* Sorted, so a failure is reproducible in order. */
		qsort(names, n, sizeof(*names), cmp);
		for (size_t k = 0; k < n; k++) {
			char p[4096];

			snprintf(p, sizeof(p), "%s/%s", argv[i], names[k]);
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				bad |= run_file(p) != 0;
				ran++;
			}
			free(names[k]);
		}
		free(names);
	}
	printf("regression_driver: %d input(s) replayed\n", ran);
	return bad;
}
