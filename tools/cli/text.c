/*
 * text.c - escaping of hostile strings for tables and a streaming JSON
 * writer.  Both share one strict UTF-8 decoder so that a byte sequence is
 * judged the same way in every output.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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

/* Code points that a terminal acts on or that reorder text. */
static int dangerous_cp(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	       (cp >= 0x200e && cp <= 0x200f) || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0xfeff;
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
			if (dangerous_cp(cp))
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

void cli_json_kstr(struct cli_json *j, const char *name, const char *s)
{
	cli_json_name(j, name);
	cli_json_string(j, s);
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

int cli_json_capture_fields(struct cli_json *j, struct emt_reader *r,
			    const struct emt_capture *c)
{
	char tbuf[CLI_TIME_BUFSZ], pbuf[4], hex[2 * EMT_SHA256_LEN + 1], trig[24];
	int err = 0;

	cli_json_ku64(j, "seq", c->seq);
	cli_json_ki64(j, "region", c->region_id);
	cli_json_ku64(j, "version", c->version);
	cli_json_ku64(j, "pid", c->pid);
	cli_json_ku64(j, "tid", c->tid);
	cli_json_khex(j, "addr", c->addr);
	cli_json_khex(j, "end", c->addr + c->size);
	cli_json_ku64(j, "size", c->size);
	cli_json_kstr(j, "time",
		      cli_fmt_time(tbuf, emt_reader_wall_ns(r, c->time_ns),
				   CLI_TIME_ISO_NS));
	cli_json_ku64(j, "boottime_ns", c->time_ns);
	cli_json_kstr(j, "trigger", cli_trigger_name(trig, c->trigger));
	cli_json_kstr(j, "prot", cli_fmt_prot(pbuf, c->prot_after));
	cli_json_kstr(j, "prot_before", cli_fmt_prot(pbuf, c->prot_before));
	emt_hex(c->sha256, EMT_SHA256_LEN, hex);
	cli_json_kstr(j, "sha256", hex);
	cli_json_ku64(j, "stored_bytes", c->stored_bytes);

	cli_json_name(j, "gaps");
	cli_json_start_array(j);
	if (c->ngaps) {
		struct emt_gap *gaps = NULL;
		size_t ngaps = 0;
		int rc = emt_reader_gaps(r, c->seq, &gaps, &ngaps);

		if (rc < 0)
			err = rc;
		for (size_t i = 0; rc >= 0 && i < ngaps; i++) {
			const char *why = emt_gap_reason_name(gaps[i].reason);

			cli_json_start_object(j);
			cli_json_khex(j, "addr", c->addr + gaps[i].offset);
			cli_json_ku64(j, "offset", gaps[i].offset);
			cli_json_ku64(j, "length", gaps[i].length);
			cli_json_kstr(j, "reason", why ? why : "unknown");
			cli_json_ki64(j, "errno", gaps[i].err);
			cli_json_end_object(j);
		}
		free(gaps);
	}
	cli_json_end_array(j);

	if (c->has_regs) {
		struct emt_regs_x86_64 regs;
		int rc = emt_reader_regs(r, c->seq, &regs);

		if (rc == 0)
			cli_json_khex(j, "rip", regs.rip);
		else if (rc != -ENOENT && !err)
			err = rc;
	}
	return err;
}
