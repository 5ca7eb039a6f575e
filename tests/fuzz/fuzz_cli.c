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
 *  - escaped table text holds no control byte, no C1 control, no format
 *    character (Unicode Cf) and no other invisible or look-alike
 *    character, and is valid UTF-8, also when cut to a small buffer;
 *  - a JSON member for a string that is not valid UTF-8 comes with a
 *    NAME_hex member holding exactly its bytes (and only then);
 *  - a table row cut to a width is a prefix of the whole row, ends in
 *    "..." exactly when it was cut, and never splits a character;
 *  - a parsed time printed back as ISO 8601 parses to the same value;
 *    decimal numbers agree with strtoull;
 *  - diff ranges are sorted, maximal, and cover exactly the differing
 *    bytes.
 */
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

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
				i += 6;
				/* above U+FFFF only as a high + low surrogate pair */
				CHECK(v < 0xdc00 || v > 0xdfff);
				if (v >= 0xd800 && v <= 0xdbff) {
					uint32_t lo = 0;

					CHECK(i + 6 <= n - 1 && j[i] == '\\' && j[i + 1] == 'u');
					for (int d = 0; d < 4; d++) {
						int h = hexval(j[i + 2 + d]);

						CHECK(h >= 0);
						lo = lo * 16 + (uint32_t)h;
					}
					CHECK(lo >= 0xdc00 && lo <= 0xdfff);
					v = 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
					i += 6;
				}
				cp[k++] = v;
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

/* Oracle, written from the Unicode 15 character database apart from
 * text.c: C0, DEL, C1, every Cf range, Zl, Zp, non-ASCII Zs and the
 * other default-ignorable code points. */
static int dangerous(uint32_t c)
{
	static const uint32_t r[][2] = {
		{ 0x0, 0x1f }, { 0x7f, 0x9f }, { 0xa0, 0xa0 }, { 0xad, 0xad },
		{ 0x34f, 0x34f }, { 0x600, 0x605 }, { 0x61c, 0x61c }, { 0x6dd, 0x6dd },
		{ 0x70f, 0x70f }, { 0x890, 0x891 }, { 0x8e2, 0x8e2 }, { 0x115f, 0x1160 },
		{ 0x1680, 0x1680 }, { 0x17b4, 0x17b5 }, { 0x180b, 0x180f },
		{ 0x2000, 0x200a }, { 0x200b, 0x200f }, { 0x2028, 0x2029 },
		{ 0x202a, 0x202e }, { 0x202f, 0x202f }, { 0x205f, 0x205f },
		{ 0x2060, 0x2064 }, { 0x2065, 0x2065 }, { 0x2066, 0x206f },
		{ 0x3000, 0x3000 }, { 0x3164, 0x3164 }, { 0xfe00, 0xfe0f },
		{ 0xfeff, 0xfeff }, { 0xffa0, 0xffa0 }, { 0xfff0, 0xfff8 },
		{ 0xfff9, 0xfffb }, { 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
		{ 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 }, { 0x1d173, 0x1d17a },
		{ 0xe0000, 0xe0fff },
	};

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (c >= r[i][0] && c <= r[i][1])
			return 1;
	return 0;
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

/* cli_json_kstr: NAME_hex exactly when the string is not UTF-8, with
 * its bytes. */
static void check_json_hex(const char *str)
{
	char *out = NULL, *p, *q;
	size_t olen = 0, n = strlen(str);
	FILE *f = open_memstream(&out, &olen);
	struct cli_json *j;
	int valid = utf8_count((const uint8_t *)str, n, NULL) >= 0;

	CHECK(f);
	j = cli_json_new(f);
	CHECK(j);
	cli_json_start_object(j);
	cli_json_kstr(j, "s", str);
	cli_json_end_object(j);
	cli_json_free(j);
	CHECK(fclose(f) == 0);
	CHECK(olen > 0 && out[olen - 1] == '\n');
	p = strstr(out, "\"s_hex\":\"");
	CHECK(valid == !p);
	if (p) {
		p += 9;
		q = strchr(p, '"');
		CHECK(q && (size_t)(q - p) == 2 * n);
		for (size_t i = 0; i < n; i++)
			CHECK(hexval(p[2 * i]) * 16 + hexval(p[2 * i + 1]) == (uint8_t)str[i] &&
			      !(p[2 * i] >= 'A' && p[2 * i] <= 'F'));
	}
	free(out);
}

/* Columns of n bytes of valid UTF-8 on a UTF-8 terminal (wcwidth; an
 * unprintable code point as 1), -1 if not UTF-8. */
static long columns(const char *p, size_t n)
{
	static locale_t utf8;
	uint32_t *cp = malloc((n + 1) * sizeof(*cp));
	long k, cols = 0;
	locale_t old;

	CHECK(cp);
	if (!utf8)
		utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	k = utf8_count((const uint8_t *)p, n, cp);
	old = utf8 ? uselocale(utf8) : (locale_t)0;
	for (long i = 0; i < k; i++) {
		int w = utf8 ? wcwidth((wchar_t)cp[i]) : 1;

		cols += w < 0 ? 1 : w;
	}
	if (utf8)
		uselocale(old);
	free(cp);
	return k < 0 ? -1 : cols;
}

/* cli_row cut to `width`: a prefix of the whole row (+ "..." when cut),
 * whole characters, one line, at most `width` columns. */
static void check_row(const char *str, int width)
{
	char *whole = NULL, *cut = NULL;
	size_t wl = 0, cl = 0;
	FILE *f;
	struct cli_row r;

	f = open_memstream(&whole, &wl);
	CHECK(f);
	cli_row_init(&r, f, 0);
	cli_row_printf(&r, "%-6s ", "x");
	cli_row_escaped(&r, str);
	cli_row_end(&r);
	cli_row_release(&r);
	CHECK(fclose(f) == 0);

	f = open_memstream(&cut, &cl);
	CHECK(f);
	cli_row_init(&r, f, width);
	cli_row_printf(&r, "%-6s ", "x");
	cli_row_escaped(&r, str);
	cli_row_end(&r);
	cli_row_release(&r);
	CHECK(fclose(f) == 0);

	CHECK(wl > 0 && whole[wl - 1] == '\n' && memchr(whole, '\n', wl) == whole + wl - 1);
	CHECK(cl > 0 && cut[cl - 1] == '\n' && memchr(cut, '\n', cl) == cut + cl - 1);
	CHECK(columns(cut, cl - 1) >= 0 && columns(cut, cl - 1) <= width);
	if (cl == wl && !memcmp(cut, whole, wl)) {
		/* not cut: then the whole row fits */
		CHECK(columns(whole, wl - 1) <= width);
	} else if (width > 3) {
		CHECK(columns(whole, wl - 1) > width);
		CHECK(cl >= 4 && !memcmp(cut + cl - 4, "...", 3));
		CHECK(!memcmp(cut, whole, cl - 4));
	} else {
		CHECK(!memcmp(cut, whole, cl - 1));
	}
	free(whole);
	free(cut);
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
	check_json_hex(str);
	check_escape(str);
	check_row(str, size ? 1 + data[0] % 120 : 80);
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
