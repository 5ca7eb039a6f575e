/*
 * fuzz_cli.c - libFuzzer target for the reader tools' own input paths in
 * tools/cli: archive strings through the table escaper and the JSON
 * writer, command-line values through the strict parsers, capture bytes
 * through the byte diff and the hex listing.
 *
 * Besides crashes, it checks the promises those paths make, with
 * assertions that stay on in every build:
 *  - JSON string output is valid JSON and valid UTF-8, and decodes back
 *    to the input when the input was valid UTF-8;
 *  - escaped table text holds no control byte, no C1 or bidi control and
 *    is valid UTF-8, also when cut to a small buffer;
 *  - a parsed time printed back as ISO 8601 parses to the same value;
 *    decimal numbers agree with strtoull;
 *  - diff ranges are sorted, maximal, and cover exactly the differing
 *    bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emtcli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "fuzz_cli: %s:%d: %s\n", \
	__FILE__, __LINE__, #c); abort(); } } while (0)

/* Strict UTF-8 check (no overlongs, surrogates or values > U+10FFFF);
 * returns the number of code points or -1. */
static long utf8_count(const uint8_t *p, size_t n, uint32_t *out)
{
	long cnt = 0;

	for (size_t i = 0; i < n;) {
		uint32_t c = p[i], min;
		size_t len;

		if (c < 0x80) { len = 1; min = 0; }
		else if ((c & 0xe0) == 0xc0) { len = 2; c &= 0x1f; min = 0x80; }
		else if ((c & 0xf0) == 0xe0) { len = 3; c &= 0x0f; min = 0x800; }
		else if ((c & 0xf8) == 0xf0) { len = 4; c &= 0x07; min = 0x10000; }
		else return -1;
		if (i + len > n)
			return -1;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return -1;
			c = (c << 6) | (p[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return -1;
		if (out)
			out[cnt] = c;
		cnt++;
		i += len;
	}
	return cnt;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Decodes the JSON string literal j (n bytes) into code points; returns
 * their number, aborting on anything that is not valid JSON. */
static size_t json_decode(const uint8_t *j, size_t n, uint32_t *cp)
{
	size_t i = 1, k = 0;
	long m;

	CHECK(n >= 2 && j[0] == '"' && j[n - 1] == '"');
	CHECK(utf8_count(j, n, NULL) >= 0);
	while (i < n - 1) {
		if (j[i] == '\\') {
			CHECK(i + 1 < n - 1);
			switch (j[i + 1]) {
			case '"': cp[k++] = '"'; i += 2; break;
			case '\\': cp[k++] = '\\'; i += 2; break;
			case '/': cp[k++] = '/'; i += 2; break;
			case 'b': cp[k++] = '\b'; i += 2; break;
			case 'f': cp[k++] = '\f'; i += 2; break;
			case 'n': cp[k++] = '\n'; i += 2; break;
			case 'r': cp[k++] = '\r'; i += 2; break;
			case 't': cp[k++] = '\t'; i += 2; break;
			case 'u': {
				uint32_t v = 0;

				CHECK(i + 6 <= n - 1);
				for (int d = 0; d < 4; d++) {
					int h = hexval(j[i + 2 + d]);

					CHECK(h >= 0);
					v = v * 16 + (uint32_t)h;
				}
				/* the writer never splits into surrogate pairs */
				CHECK(v < 0xd800 || v > 0xdfff);
				cp[k++] = v;
				i += 6;
				break;
			}
			default:
				CHECK(!"bad escape");
			}
			continue;
		}
		CHECK(j[i] >= 0x20 && j[i] != '"');
		m = utf8_count(j + i, 1, NULL) == 1 ? 1 : 0;
		if (m) {
			cp[k++] = j[i++];
		} else {
			/* multi-byte sequence: find its length */
			size_t len = (j[i] & 0xe0) == 0xc0 ? 2 : (j[i] & 0xf0) == 0xe0 ? 3 : 4;

			CHECK(utf8_count(j + i, len, cp + k) == 1);
			k++;
			i += len;
		}
	}
	return k;
}

static void check_json(const uint8_t *data, size_t size)
{
	char *out = NULL;
	size_t olen = 0, n;
	FILE *f = open_memstream(&out, &olen);
	uint32_t *in_cp, *out_cp;
	long in_n;

	CHECK(f);
	cli_json_write_string(f, (const char *)data, size);
	CHECK(fclose(f) == 0);
	in_cp = malloc((size + 1) * sizeof(*in_cp));
	out_cp = malloc((olen + 1) * sizeof(*out_cp));
	CHECK(in_cp && out_cp);
	n = json_decode((const uint8_t *)out, olen, out_cp);
	in_n = utf8_count(data, size, in_cp);
	if (in_n >= 0) {
		CHECK((size_t)in_n == n);
		CHECK(!memcmp(in_cp, out_cp, n * sizeof(*in_cp)));
	} else {
		/* every bad byte became U+FFFD; nothing else was dropped */
		int saw = 0;

		for (size_t i = 0; i < n; i++)
			saw |= out_cp[i] == 0xfffd;
		CHECK(saw);
	}
	free(in_cp);
	free(out_cp);
	free(out);
}

static int dangerous(uint32_t c)
{
	return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f) ||
	       (c >= 0x200e && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069) || c == 0x2028 || c == 0x2029;
}

static void check_escaped(const char *s, size_t n)
{
	uint32_t *cp = malloc((n + 1) * sizeof(*cp));
	long k;

	CHECK(cp);
	k = utf8_count((const uint8_t *)s, n, cp);
	CHECK(k >= 0);
	for (long i = 0; i < k; i++)
		CHECK(!dangerous(cp[i]));
	free(cp);
}

static void check_escape(const char *str)
{
	char *out = NULL, small[13];
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);

	CHECK(f);
	cli_fputs_escaped(f, str);
	CHECK(fclose(f) == 0);
	check_escaped(out, olen);
	free(out);

	cli_escape_str(small, sizeof(small), str);
	CHECK(memchr(small, '\0', sizeof(small)));
	check_escaped(small, strlen(small));
}

static void check_parse(const char *s)
{
	uint64_t v, w;
	uint32_t u;
	char buf[CLI_TIME_BUFSZ];

	if (cli_parse_u64(s, &v) == 0 && s[0] != '0') {
		errno = 0;
		CHECK(strtoull(s, NULL, 10) == v && errno == 0);
	}
	if (cli_parse_u32(s, &u) == 0)
		CHECK(cli_parse_u64(s, &v) == 0 && v == u);
	if (cli_parse_size(s, &v) == 0)
		CHECK(cli_parse_u64(s, &w) != 0 || w == v);
	if (cli_parse_time(s, &v) == 0 && v <= INT64_MAX) {
		cli_fmt_time(buf, (int64_t)v, CLI_TIME_ISO_NS);
		CHECK(cli_parse_time(buf, &w) == 0 && w == v);
	}
}

static void check_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	struct cli_diff_range *rg = NULL;
	size_t nrg = 0, pos = 0;
	uint64_t changed = 0, sum = 0;

	CHECK(cli_diff_bytes(a, b, n, &rg, &nrg, &changed) == 0);
	for (size_t k = 0; k < nrg; k++) {
		CHECK(rg[k].len > 0 && rg[k].off + rg[k].len <= n);
		CHECK(k == 0 || rg[k].off > rg[k - 1].off + rg[k - 1].len);
		for (; pos < rg[k].off; pos++)
			CHECK(a[pos] == b[pos]);
		for (; pos < rg[k].off + rg[k].len; pos++)
			CHECK(a[pos] != b[pos]);
		sum += rg[k].len;
	}
	for (; pos < n; pos++)
		CHECK(a[pos] == b[pos]);
	CHECK(sum == changed);
	free(rg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *str = malloc(size + 1);
	char *out = NULL;
	size_t olen = 0;
	FILE *f;

	if (!str)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';

	check_json(data, size);
	check_escape(str);
	check_parse(str);
	check_diff(data, data + size / 2, size / 2);

	f = open_memstream(&out, &olen);
	if (f) {
		uint64_t addr = 0;

		memcpy(&addr, data, size < 8 ? size : 8);
		cli_hexdump(f, data, size, addr, size & 1);
		fclose(f);
		free(out);
	}
	free(str);
	return 0;
}
