/*
 * text.c - escaping of hostile strings for tables and a streaming JSON
 * writer.  Both share one strict UTF-8 decoder so that a byte sequence is
 * judged the same way in every output.
 */
#include <inttypes.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "emtcli.h"

/* Decodes one UTF-8 sequence at p (n bytes available).  Returns its
 * length (1..4) with the code point in *cp, or 0 if the bytes are not
 * well-formed UTF-8 (overlong forms, surrogates and values above
 * U+10FFFF included), in which case the caller handles one byte. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
	uint32_t c = p[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2; c &= 0x1f; min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3; c &= 0x0f; min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4; c &= 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Code points escaped in every output.  Beyond what a terminal acts on
 * (C0/C1 controls, DEL), every character that is invisible, reorders
 * text or looks like an ASCII space: a hostile path or command line must
 * not pass for another one.  That is every format character (Unicode
 * category Cf: soft hyphen, Arabic letter mark, zero-width space and
 * joiners, bidi embeddings, overrides and isolates, word joiner and
 * invisible operators, BOM, interlinear annotation, tag characters), the
 * line and paragraph separators, the non-ASCII spaces (Zs), and the
 * other default-ignorable code points (fillers, variation selectors,
 * combining grapheme joiner).  Sorted, inclusive. */
static const struct { uint32_t lo, hi; } escaped_ranges[] = {
	{ 0x00a0, 0x00a0 },     /* no-break space */
	{ 0x00ad, 0x00ad },     /* soft hyphen */
	{ 0x034f, 0x034f },     /* combining grapheme joiner */
	{ 0x0600, 0x0605 },     /* Arabic number signs */
	{ 0x061c, 0x061c },     /* Arabic letter mark */
	{ 0x06dd, 0x06dd },
	{ 0x070f, 0x070f },
	{ 0x0890, 0x0891 },
	{ 0x08e2, 0x08e2 },
	{ 0x115f, 0x1160 },     /* Hangul fillers */
	{ 0x1680, 0x1680 },     /* Ogham space mark */
	{ 0x17b4, 0x17b5 },
	{ 0x180b, 0x180f },     /* Mongolian selectors, vowel separator */
	{ 0x2000, 0x200f },     /* spaces, ZWSP, ZWNJ, ZWJ, LRM, RLM */
	{ 0x2028, 0x202f },     /* separators, LRE..RLO, narrow nbsp */
	{ 0x205f, 0x206f },     /* math space, word joiner, invisible
				 * operators, isolates, deprecated */
	{ 0x3000, 0x3000 },     /* ideographic space */
	{ 0x3164, 0x3164 },     /* Hangul filler */
	{ 0xfe00, 0xfe0f },     /* variation selectors */
	{ 0xfeff, 0xfeff },     /* BOM / zero-width no-break space */
	{ 0xffa0, 0xffa0 },     /* halfwidth Hangul filler */
	{ 0xfff0, 0xfffb },     /* unassigned ignorables, annotations */
	{ 0x110bd, 0x110bd },
	{ 0x110cd, 0x110cd },
	{ 0x13430, 0x1343f },   /* Egyptian hieroglyph format controls */
	{ 0x1bca0, 0x1bca3 },   /* shorthand format controls */
	{ 0x1d173, 0x1d17a },   /* musical format controls */
	{ 0xe0000, 0xe0fff },   /* tags, variation selectors supplement */
};

static int dangerous_cp(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(escaped_ranges) / sizeof(escaped_ranges[0]);

	if (cp < 0x20 || cp == 0x7f)
		return 1;
	if (cp < 0xa0)
		return cp >= 0x80;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (cp < escaped_ranges[mid].lo)
			hi = mid;
		else if (cp > escaped_ranges[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* Appends the escaped form of s to a sink: either a FILE or a buffer. */
struct sink {
	FILE *f;
	char *buf;
	size_t cap, len;
	int overflow;
};

static void sink_put(struct sink *k, const char *s, size_t n)
{
	if (k->f) {
		fwrite(s, 1, n, k->f);
		return;
	}
	if (k->overflow)
		return;
	if (k->len + n + 1 > k->cap) {
		k->overflow = 1;
		return;
	}
	memcpy(k->buf + k->len, s, n);
	k->len += n;
}

static void escape_into(struct sink *k, const char *str)
{
	const unsigned char *p = (const unsigned char *)str;
	size_t n = strlen(str), i = 0;
	char tmp[16];

	while (i < n) {
		uint32_t cp;
		size_t len = utf8_decode(p + i, n - i, &cp);

		if (len == 0) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", p[i]);
			sink_put(k, tmp, 4);
			i++;
			continue;
		}
		if (cp == '\\') {
			sink_put(k, "\\\\", 2);
		} else if (cp == '\n') {
			sink_put(k, "\\n", 2);
		} else if (cp == '\t') {
			sink_put(k, "\\t", 2);
		} else if (cp == '\r') {
			sink_put(k, "\\r", 2);
		} else if (cp < 0x20 || cp == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned)cp);
			sink_put(k, tmp, 4);
		} else if (dangerous_cp(cp)) {
			int m = snprintf(tmp, sizeof(tmp), "\\u{%04" PRIx32 "}", cp);
			sink_put(k, tmp, (size_t)m);
		} else {
			sink_put(k, (const char *)p + i, len);
		}
		i += len;
	}
}

void cli_fputs_escaped(FILE *f, const char *s)
{
	struct sink k = { .f = f };

	if (!s) {
		fputc('-', f);
		return;
	}
	escape_into(&k, s);
}

char *cli_escape_str(char *buf, size_t cap, const char *s)
{
	struct sink k = { .buf = buf, .cap = cap };

	if (cap == 0)
		return buf;
	if (!s) {
		snprintf(buf, cap, "-");
		return buf;
	}
	escape_into(&k, s);
	buf[k.len] = '\0';
	if (k.overflow && cap >= 4) {
		/* cut at a byte that starts a sequence, then mark the cut */
		size_t at = k.len < cap - 4 ? k.len : cap - 4;

		while (at > 0 && ((unsigned char)buf[at] & 0xc0) == 0x80)
			at--;
		memcpy(buf + at, "...", 4);
	}
	return buf;
}

/* ------------------------------------------------------------------ */
/* Rows cut to the terminal width                                      */

/* Columns a printable code point takes on a terminal: wcwidth in a UTF-8
 * locale whatever the user's locale (the tools never call setlocale), 1
 * if that locale is missing. */
static int cp_width(uint32_t cp)
{
	static locale_t utf8;
	static int tried;
	locale_t old;
	int w;

	if (cp < 0x80)
		return 1;
	if (!tried) {
		tried = 1;
		utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	}
	if (!utf8)
		return 1;
	old = uselocale(utf8);
	w = wcwidth((wchar_t)cp);
	uselocale(old);
	return w < 0 ? 1 : w;
}

void cli_row_init(struct cli_row *r, FILE *f, int width)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	if (width <= 0)
		return;
	r->cap = 4 * (size_t)width + 64;
	r->buf = malloc(r->cap);
	if (r->buf)
		r->width = width;       /* else rows go out whole */
	else
		r->cap = 0;
}

/* Makes room for `more` bytes (and the NUL).  Rows grow to the whole
 * text: zero-width characters mean bytes do not bound columns.  Without
 * memory the row is marked overflowing and cut where it is. */
static int row_room(struct cli_row *r, size_t more)
{
	size_t need = r->len + more + 1, ncap = r->cap;
	char *nb;

	if (need <= r->cap)
		return 0;
	while (ncap < need && ncap < SIZE_MAX / 2)
		ncap *= 2;
	nb = ncap >= need ? realloc(r->buf, ncap) : NULL;
	if (!nb) {
		r->overflow = 1;
		return -1;
	}
	r->buf = nb;
	r->cap = ncap;
	return 0;
}

void cli_row_release(struct cli_row *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->len = 0;
}

void cli_row_printf(struct cli_row *r, const char *fmt, ...)
{
	va_list ap, ap2;
	int n;

	va_start(ap, fmt);
	if (!r->width) {
		vfprintf(r->f, fmt, ap);
		va_end(ap);
		return;
	}
	va_copy(ap2, ap);
	n = r->overflow ? -1 : vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
	if (n >= 0 && (size_t)n >= r->cap - r->len) {
		/* did not fit: grow and format again */
		if (row_room(r, (size_t)n) == 0)
			n = vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap2);
		else
			n = -1;
	}
	if (n >= 0 && (size_t)n < r->cap - r->len)
		r->len += (size_t)n;
	else
		r->overflow = 1;
	va_end(ap2);
	va_end(ap);
}

void cli_row_escaped(struct cli_row *r, const char *s)
{
	struct sink k;

	if (!r->width) {
		cli_fputs_escaped(r->f, s);
		return;
	}
	if (!s)
		s = "-";
	/* an escape is at most 4 bytes per input byte ("\xNN") */
	if (r->overflow || row_room(r, 4 * strlen(s)))
		return;
	k = (struct sink){ .buf = r->buf, .cap = r->cap, .len = r->len };
	escape_into(&k, s);
	r->len = k.len;
	r->overflow |= k.overflow;
}

void cli_row_end(struct cli_row *r)
{
	const unsigned char *p = (const unsigned char *)r->buf;
	size_t i = 0, keep = 0, n = r->len;
	int cols = 0, limit = r->width;

	if (!r->width) {
		fputc('\n', r->f);
		return;
	}
	/* walk the (escaped, hence printable) text column by column,
	 * remembering where "..." would still fit */
	while (i < n) {
		uint32_t cp;
		size_t len = utf8_decode(p + i, n - i, &cp);
		int w;

		if (len == 0)
			len = 1, cp = '?';
		w = cp_width(cp);
		if (cols + w > limit)
			break;
		cols += w;
		i += len;
		if (cols <= limit - 3)
			keep = i;
	}
	if (i >= n && !r->overflow) {
		fwrite(r->buf, 1, n, r->f);
	} else if (limit > 3) {
		fwrite(r->buf, 1, keep, r->f);
		fputs("...", r->f);
	} else {
		fwrite(r->buf, 1, i, r->f);
	}
	fputc('\n', r->f);
	r->len = 0;
	r->overflow = 0;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

#define JSON_MAX_DEPTH 64

struct cli_json {
	FILE *f;
	int depth;
	int after_name;
	unsigned char first[JSON_MAX_DEPTH];  /* no member written yet */
};

struct cli_json *cli_json_new(FILE *f)
{
	struct cli_json *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->f = f;
	return j;
}

void cli_json_free(struct cli_json *j)
{
	free(j);
}

void cli_json_write_string(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	fputc('"', f);
	while (i < n) {
		uint32_t cp;
		size_t len, run = i;

		/* plain printable ASCII goes out in one write: hashes, times
		 * and names are all of it in a 100,000-line listing */
		while (run < n && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' &&
		       p[run] != '\\')
			run++;
		if (run > i) {
			fwrite(p + i, 1, run - i, f);
			i = run;
			continue;
		}
		len = utf8_decode(p + i, n - i, &cp);
		if (len == 0) {
			/* JSON cannot carry raw bytes: mark each bad one */
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		switch (cp) {
		case '"':  fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		default:
			if (dangerous_cp(cp) && cp > 0xffff)
				/* JSON has only 16-bit escapes: a surrogate pair */
				fprintf(f, "\\u%04" PRIx32 "\\u%04" PRIx32,
					0xd800 + ((cp - 0x10000) >> 10),
					0xdc00 + ((cp - 0x10000) & 0x3ff));
			else if (dangerous_cp(cp))
				fprintf(f, "\\u%04" PRIx32, cp);
			else
				fwrite(p + i, 1, len, f);
		}
		i += len;
	}
	fputc('"', f);
}

/* Separator before a value or a member name. */
static void json_sep(struct cli_json *j)
{
	if (j->after_name) {
		j->after_name = 0;
		return;
	}
	if (j->depth > 0) {
		if (!j->first[j->depth - 1])
			fputc(',', j->f);
		j->first[j->depth - 1] = 0;
	}
}

static void json_value_done(struct cli_json *j)
{
	if (j->depth == 0)
		fputc('\n', j->f);
}

static void json_open(struct cli_json *j, int c)
{
	json_sep(j);
	fputc(c, j->f);
	if (j->depth < JSON_MAX_DEPTH)
		j->first[j->depth] = 1;
	j->depth++;
}

static void json_close(struct cli_json *j, int c)
{
	if (j->depth > 0)
		j->depth--;
	fputc(c, j->f);
	json_value_done(j);
}

void cli_json_start_object(struct cli_json *j) { json_open(j, '{'); }
void cli_json_end_object(struct cli_json *j) { json_close(j, '}'); }
void cli_json_start_array(struct cli_json *j) { json_open(j, '['); }
void cli_json_end_array(struct cli_json *j) { json_close(j, ']'); }

void cli_json_name(struct cli_json *j, const char *name)
{
	json_sep(j);
	cli_json_write_string(j->f, name, strlen(name));
	fputc(':', j->f);
	j->after_name = 1;
}

void cli_json_string(struct cli_json *j, const char *s)
{
	json_sep(j);
	if (s)
		cli_json_write_string(j->f, s, strlen(s));
	else
		fputs("null", j->f);
	json_value_done(j);
}

void cli_json_u64(struct cli_json *j, uint64_t v)
{
	json_sep(j);
	fprintf(j->f, "%" PRIu64, v);
	json_value_done(j);
}

void cli_json_i64(struct cli_json *j, int64_t v)
{
	json_sep(j);
	fprintf(j->f, "%" PRId64, v);
	json_value_done(j);
}

void cli_json_bool(struct cli_json *j, int v)
{
	json_sep(j);
	fputs(v ? "true" : "false", j->f);
	json_value_done(j);
}

void cli_json_null(struct cli_json *j)
{
	json_sep(j);
	fputs("null", j->f);
	json_value_done(j);
}

void cli_json_hex(struct cli_json *j, uint64_t v)
{
	json_sep(j);
	fprintf(j->f, "\"0x%" PRIx64 "\"", v);
	json_value_done(j);
}

int cli_utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	uint32_t cp;

	while (i < n) {
		size_t len = utf8_decode(p + i, n - i, &cp);

		if (len == 0)
			return 0;
		i += len;
	}
	return 1;
}

void cli_json_kstr(struct cli_json *j, const char *name, const char *s)
{
	cli_json_name(j, name);
	cli_json_string(j, s);
	/* U+FFFD keeps the JSON valid but loses the bytes, which may be
	 * the evidence (a path crafted not to decode): give them too */
	if (s && !cli_utf8_valid(s)) {
		char key[128];
		size_t n = strlen(s);
		char *hex = malloc(2 * n + 1);

		snprintf(key, sizeof(key), "%s_hex", name);
		cli_json_name(j, key);
		if (hex) {
			emt_hex((const uint8_t *)s, n, hex);
			cli_json_string(j, hex);
			free(hex);
		} else {
			cli_json_null(j);
		}
	}
}

void cli_json_ku64(struct cli_json *j, const char *name, uint64_t v)
{
	cli_json_name(j, name);
	cli_json_u64(j, v);
}

void cli_json_ki64(struct cli_json *j, const char *name, int64_t v)
{
	cli_json_name(j, name);
	cli_json_i64(j, v);
}

void cli_json_khex(struct cli_json *j, const char *name, uint64_t v)
{
	cli_json_name(j, name);
	cli_json_hex(j, v);
}

void cli_json_kbool(struct cli_json *j, const char *name, int v)
{
	cli_json_name(j, name);
	cli_json_bool(j, v);
}
