/*
 * bytes.c - hex listings and byte diffs of capture contents.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "emtcli.h"

static void hex_line(FILE *f, const uint8_t *p, size_t n, uint64_t addr)
{
	fprintf(f, "%08" PRIx64 " ", addr);
	for (size_t i = 0; i < 16; i++) {
		if (i == 8)
			fputc(' ', f);
		if (i < n)
			fprintf(f, " %02x", p[i]);
		else
			fputs("   ", f);
	}
	fputs("  |", f);
	for (size_t i = 0; i < n; i++)
		fputc(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.', f);
	fputs("|\n", f);
}

void cli_hexdump(FILE *f, const uint8_t *p, size_t n, uint64_t addr,
		 int verbose)
{
	int squeezing = 0;

	for (size_t off = 0; off < n; off += 16) {
		size_t len = n - off < 16 ? n - off : 16;

		/* Like hexdump -C: a full line equal to the previous one is
		 * folded, the run shown as a single "*". */
		if (!verbose && off >= 16 && len == 16 &&
		    !memcmp(p + off, p + off - 16, 16)) {
			if (!squeezing)
				fputs("*\n", f);
			squeezing = 1;
			continue;
		}
		squeezing = 0;
		hex_line(f, p + off, len, addr + off);
	}
	fprintf(f, "%08" PRIx64 "\n", addr + n);
}

int cli_diff_bytes(const uint8_t *a, const uint8_t *b, size_t n,
		   struct cli_diff_range **ranges, size_t *nranges,
		   uint64_t *changed)
{
	struct cli_diff_range *v = NULL;
	size_t cnt = 0, cap = 0, i = 0;
	uint64_t total = 0;

	while (i < n) {
		size_t start;

		/* word-at-a-time skip of equal bytes: 16 MiB JIT buffers
		 * with a few changed pages are the common case */
		while (i + 8 <= n && !memcmp(a + i, b + i, 8))
			i += 8;
		while (i < n && a[i] == b[i])
			i++;
		if (i >= n)
			break;
		start = i;
		while (i < n && a[i] != b[i])
			i++;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct cli_diff_range *nv = realloc(v, ncap * sizeof(*v));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = ncap;
		}
		v[cnt].off = start;
		v[cnt].len = i - start;
		total += i - start;
		cnt++;
	}
	*ranges = v;
	*nranges = cnt;
	*changed = total;
	return 0;
}
