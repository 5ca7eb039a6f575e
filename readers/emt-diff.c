/*
 * emt-diff - compare two captures (or every consecutive pair of versions
 * of a region) byte by byte, and instruction by instruction with capstone.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#ifdef EMT_HAVE_CAPSTONE
#include <capstone/capstone.h>
#endif

#include "emtcli.h"

static const char usage_text[] =
"Usage: emt-diff [OPTION]... ARCHIVE SEQ-A SEQ-B\n"
"   or: emt-diff [OPTION]... ARCHIVE --region ID\n"
"Compare two captures given by sequence number, or every consecutive pair\n"
"of versions of a region.  Captures of different regions are aligned by\n"
"address (by offset when no address is common) and the difference of base\n"
"addresses is reported.  Output: a summary, the ranges either capture could\n"
"not read (\"not captured\": never compared, never counted as changes), the\n"
"list of changed ranges, then each change as a side-by-side hex listing with\n"
"absolute addresses (\"--\" for bytes not captured).\n"
"\n"
"  -r, --region=ID        compare every consecutive pair of versions of ID\n"
"  -C, --context=N        bytes of context around changes (default 8)\n"
"      --full             list every row of long changes (default: the first\n"
"                         and last 32 rows of 8 bytes per change)\n"
"  -D, --disasm           also list added/removed/changed instructions\n"
"                         (x86-64, needs a build with capstone)\n"
"  -j, --json             one JSON object per compared pair\n"
"  -q, --quiet            print nothing; the exit status tells\n"
CLI_COMMON_HELP
"\n"
"Examples:\n"
"  emt-diff case.emt 12 13\n"
"  emt-diff --disasm case.emt 12 13\n"
"  emt-diff --region 4 --json case.emt | jq .bytes_changed\n"
"\n"
"Exit status (as diff(1)): 0 identical, 1 different (or a range captured in\n"
"one and not the other), 2 trouble.\n";

struct opts {
	int64_t region;
	uint64_t seq_a, seq_b;
	uint64_t context;
	int disasm, json, quiet, full;
	const char *path;
};

struct side {
	struct emt_capture c;
	uint8_t *buf;
	struct emt_gap *gaps;   /* pages the capture could not read */
	size_t ngaps;
};

/* A range of the compared window that one side or both did not capture:
 * zeros in the buffer, not code, so never compared. */
struct span {
	uint64_t off, len;      /* in window offsets */
	uint32_t reason_a;      /* enum emt_gap_reason + 1; 0 = A captured it */
	uint32_t reason_b;
};

struct span_list {
	struct span *v;
	size_t n;
	uint64_t bytes;
	int one_sided;          /* some range is captured by one side only */
};

/* One instruction that touches a changed range. */
struct insn {
	uint64_t off;           /* offset in the compared window */
	uint64_t addr;          /* real address */
	uint32_t size;
	uint32_t range;         /* index of the changed range */
	uint8_t bytes[16];
	char text[200];
};

struct insn_list {
	struct insn *v;
	size_t n, cap;
};

static const char *reason(struct emt_reader *r, uint64_t seq, int rc)
{
	return cli_capture_reason(emt_reader_errmsg(r), seq, rc);
}

static void free_side(struct side *s)
{
	free(s->buf);
	free(s->gaps);
	s->buf = NULL;
	s->gaps = NULL;
	s->ngaps = 0;
}

static int load_side(struct emt_reader *r, uint64_t seq, struct side *s)
{
	char emsg[512];
	int rc;

	rc = emt_reader_capture(r, seq, &s->c);
	if (rc < 0) {
		if (rc == -ENOENT)
			cli_error("'%s': no capture with seq %" PRIu64, cli_archive(), seq);
		else
			cli_error("'%s': capture %" PRIu64 ": %s", cli_archive(), seq,
				  cli_escape_str(emsg, sizeof(emsg), reason(r, seq, rc)));
		return -1;
	}
	if (s->c.size > EMT_CAPTURE_SIZE_MAX || s->c.size > SIZE_MAX ||
	    !(s->buf = malloc(s->c.size ? s->c.size : 1))) {
		cli_error("'%s': capture %" PRIu64 ": cannot allocate %" PRIu64 " bytes",
			  cli_archive(), seq, s->c.size);
		return -1;
	}
	rc = emt_reader_read_capture(r, seq, s->buf, s->c.size, 0);
	if (rc == 0 && s->c.ngaps)
		rc = emt_reader_gaps(r, seq, &s->gaps, &s->ngaps);
	if (rc < 0) {
		cli_error("'%s': capture %" PRIu64 ": %s", cli_archive(), seq,
			  cli_escape_str(emsg, sizeof(emsg), reason(r, seq, rc)));
		free_side(s);
		return -1;
	}
	return 0;
}

static int span_cmp(const void *x, const void *y)
{
	const struct span *a = x, *b = y;

	return a->off < b->off ? -1 : a->off > b->off;
}

static int u64_cmp(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Gaps of side `s` clipped to its part of the window [woff, woff + n),
 * as window offsets, sorted and merged, into *out (malloc'd).  The
 * archive may be hostile: gaps may overlap, be unsorted or overflow. */
static int side_spans(const struct side *s, uint64_t woff, uint64_t n,
		      struct span **out, size_t *nout)
{
	struct span *v = NULL;
	size_t k = 0;

	*out = NULL;
	*nout = 0;
	if (!s->ngaps)
		return 0;
	v = calloc(s->ngaps, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->ngaps; i++) {
		const struct emt_gap *g = &s->gaps[i];
		uint64_t lo = g->offset, hi;

		hi = g->length > UINT64_MAX - lo ? UINT64_MAX : lo + g->length;
		if (lo < woff)
			lo = woff;
		if (hi > woff + n)
			hi = woff + n;
		if (lo >= hi)
			continue;
		v[k].off = lo - woff;
		v[k].len = hi - lo;
		v[k].reason_a = g->reason + 1;
		k++;
	}
	/* a hostile archive may list a million gaps in any order */
	qsort(v, k, sizeof(*v), span_cmp);
	{
		size_t w = 0;

		for (size_t i = 0; i < k; i++) {
			if (w && v[i].off <= v[w - 1].off + v[w - 1].len) {
				uint64_t e = v[i].off + v[i].len;

				if (e > v[w - 1].off + v[w - 1].len)
					v[w - 1].len = e - v[w - 1].off;
			} else {
				v[w++] = v[i];
			}
		}
		k = w;
	}
	*out = v;
	*nout = k;
	return 0;
}

/* The span of `v` (n spans, sorted, disjoint) holding window offset x,
 * or NULL. */
static const struct span *span_find(const struct span *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (x < v[mid].off)
			hi = mid;
		else if (x >= v[mid].off + v[mid].len)
			lo = mid + 1;
		else
			return &v[mid];
	}
	return NULL;
}

/* Reason (+1) of the span of `v` holding window offset x, 0 if none. */
static uint32_t span_at(const struct span *v, size_t n, uint64_t x)
{
	const struct span *s = span_find(v, n, x);

	return s ? s->reason_a : 0;
}

/* The window's not-captured ranges: the union of both sides' gaps, cut
 * where the sides (or reasons) change, so each range says who lacks it. */
static int window_spans(const struct side *A, uint64_t offa, const struct side *B,
			uint64_t offb, uint64_t n, struct span_list *out)
{
	struct span *sa = NULL, *sb = NULL;
	size_t na = 0, nb = 0, np = 0, ns = 0;
	uint64_t *pts = NULL;
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = side_spans(A, offa, n, &sa, &na)) ||
	    (err = side_spans(B, offb, n, &sb, &nb)))
		goto out;
	if (!na && !nb)
		goto out;
	pts = malloc(2 * (na + nb) * sizeof(*pts));
	out->v = calloc(2 * (na + nb), sizeof(*out->v));
	if (!pts || !out->v) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < na; i++) {
		pts[np++] = sa[i].off;
		pts[np++] = sa[i].off + sa[i].len;
	}
	for (size_t i = 0; i < nb; i++) {
		pts[np++] = sb[i].off;
		pts[np++] = sb[i].off + sb[i].len;
	}
	qsort(pts, np, sizeof(*pts), u64_cmp);
	for (size_t i = 0; i + 1 < np; i++) {
		uint64_t lo = pts[i], hi = pts[i + 1];
		uint32_t ra, rb;

		if (lo == hi)
			continue;
		ra = span_at(sa, na, lo);
		rb = span_at(sb, nb, lo);
		if (!ra && !rb)
			continue;
		if (ns && out->v[ns - 1].off + out->v[ns - 1].len == lo &&
		    out->v[ns - 1].reason_a == ra && out->v[ns - 1].reason_b == rb) {
			out->v[ns - 1].len += hi - lo;
		} else {
			out->v[ns].off = lo;
			out->v[ns].len = hi - lo;
			out->v[ns].reason_a = ra;
			out->v[ns].reason_b = rb;
			ns++;
		}
		out->bytes += hi - lo;
		if (!ra || !rb)
			out->one_sided = 1;
	}
	out->n = ns;
out:
	if (err) {
		free(out->v);
		memset(out, 0, sizeof(*out));
	}
	free(pts);
	free(sa);
	free(sb);
	return err;
}

/* Removes the not-captured spans from the changed ranges (both sorted);
 * recounts *changed.  Returns 0 or -ENOMEM. */
static int drop_spans(struct cli_diff_range **rg, size_t *nrg, uint64_t *changed,
		      const struct span_list *sp)
{
	struct cli_diff_range *v;
	size_t k = 0, j = 0;

	if (!sp->n || !*nrg)
		return 0;
	/* each span can split one range in two */
	v = malloc((*nrg + sp->n) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	*changed = 0;
	for (size_t i = 0; i < *nrg; i++) {
		uint64_t s = (*rg)[i].off, e = s + (*rg)[i].len;

		while (j < sp->n && sp->v[j].off + sp->v[j].len <= s)
			j++;
		for (size_t q = j; s < e; q++) {
			uint64_t cut = q < sp->n && sp->v[q].off < e ? sp->v[q].off : e;

			if (cut > s) {
				v[k].off = s;
				v[k].len = cut - s;
				*changed += cut - s;
				k++;
			}
			if (q >= sp->n || sp->v[q].off >= e)
				break;
			s = sp->v[q].off + sp->v[q].len;
		}
	}
	free(*rg);
	*rg = v;
	*nrg = k;
	return 0;
}

/* Bytes of side `s`'s gaps outside its window part [woff, woff + n). */
static uint64_t gap_bytes_outside(const struct side *s, uint64_t woff, uint64_t n)
{
	uint64_t total = 0;

	for (size_t i = 0; i < s->ngaps; i++) {
		uint64_t lo = s->gaps[i].offset, hi, in_lo, in_hi;

		hi = s->gaps[i].length > UINT64_MAX - lo ? UINT64_MAX : lo + s->gaps[i].length;
		if (hi > s->c.size)
			hi = s->c.size;
		if (lo >= hi)
			continue;
		in_lo = lo > woff ? lo : woff;
		in_hi = hi < woff + n ? hi : woff + n;
		total += hi - lo - (in_lo < in_hi ? in_hi - in_lo : 0);
	}
	return total;
}

static const char *gap_reason(uint32_t r_plus_1)
{
	const char *s = emt_gap_reason_name((enum emt_gap_reason)(r_plus_1 - 1));

	return s ? s : "unknown reason";
}

#ifdef EMT_HAVE_CAPSTONE
/* Linear sweep of the whole capture (from its start, where JIT code
 * begins, so the decoder is in step) keeping the instructions that
 * overlap a changed range of the window [woff, woff + wlen). */
static int sweep(const struct side *s, uint64_t woff, uint64_t wlen,
		 const struct cli_diff_range *rg, size_t nrg,
		 struct insn_list *out)
{
	csh h;
	cs_insn *in;
	const uint8_t *code = s->buf;
	size_t size = s->c.size, k = 0;
	uint64_t addr = s->c.addr;
	int err = 0;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -EINVAL;
	cs_option(h, CS_OPT_SKIPDATA, CS_OPT_ON);
	in = cs_malloc(h);
	if (!in) {
		cs_close(&h);
		return -ENOMEM;
	}
	while (k < nrg && cs_disasm_iter(h, &code, &size, &addr, in)) {
		uint64_t ioff = in->address - s->c.addr;
		uint64_t lo, hi;

		if (ioff + in->size <= woff || ioff >= woff + wlen)
			continue;
		/* the instruction's extent in window offsets, clipped */
		lo = ioff < woff ? 0 : ioff - woff;
		hi = ioff + in->size - woff;
		while (k < nrg && rg[k].off + rg[k].len <= lo)
			k++;
		if (k >= nrg)
			break;
		if (hi <= rg[k].off)
			continue;
		if (out->n == out->cap) {
			size_t nc = out->cap ? out->cap * 2 : 64;
			struct insn *nv = realloc(out->v, nc * sizeof(*nv));

			if (!nv) {
				err = -ENOMEM;
				break;
			}
			out->v = nv;
			out->cap = nc;
		}
		{
			struct insn *d = &out->v[out->n++];

			d->off = lo;
			d->addr = in->address;
			d->size = in->size;
			d->range = (uint32_t)k;
			memcpy(d->bytes, in->bytes, in->size < 16 ? in->size : 16);
			snprintf(d->text, sizeof(d->text), "%s%s%s", in->mnemonic,
				 in->op_str[0] ? " " : "", in->op_str);
		}
	}
	cs_free(in, 1);
	cs_close(&h);
	return err;
}

static void insn_hex(const struct insn *i, char *buf)
{
	size_t n = i->size < 16 ? i->size : 16;

	for (size_t k = 0; k < n; k++)
		snprintf(buf + 3 * k, 4, "%02x ", i->bytes[k]);
	if (n)
		buf[3 * n - 1] = '\0';
	else
		buf[0] = '\0';
}

/* Emits the instruction changes of range k: pairs at the same offset
 * that differ are "changed", the rest "removed" (A) / "added" (B). */
static void print_insns(const struct insn_list *la, const struct insn_list *lb,
			size_t *ia, size_t *ib, uint32_t k, struct cli_json *j,
			uint64_t start, uint64_t end)
{
	char ha[64], hb[64];

	if (j) {
		cli_json_name(j, "instructions");
		cli_json_start_array(j);
	} else {
		printf("  instructions at 0x%" PRIx64 "-0x%" PRIx64 ":\n", start, end);
	}
	for (;;) {
		const struct insn *a = *ia < la->n && la->v[*ia].range == k ? &la->v[*ia] : NULL;
		const struct insn *b = *ib < lb->n && lb->v[*ib].range == k ? &lb->v[*ib] : NULL;
		const char *op;

		if (!a && !b)
			break;
		if (a && b && a->off == b->off) {
			(*ia)++;
			(*ib)++;
			if (a->size == b->size && !memcmp(a->bytes, b->bytes, a->size < 16 ? a->size : 16))
				continue;
			op = "changed";
		} else if (a && (!b || a->off < b->off)) {
			(*ia)++;
			b = NULL;
			op = "removed";
		} else {
			(*ib)++;
			a = NULL;
			op = "added";
		}
		if (a)
			insn_hex(a, ha);
		if (b)
			insn_hex(b, hb);
		if (j) {
			cli_json_start_object(j);
			cli_json_kstr(j, "op", op);
			if (a) {
				cli_json_khex(j, "a_addr", a->addr);
				cli_json_kstr(j, "a_bytes", ha);
				cli_json_kstr(j, "a", a->text);
			}
			if (b) {
				cli_json_khex(j, "b_addr", b->addr);
				cli_json_kstr(j, "b_bytes", hb);
				cli_json_kstr(j, "b", b->text);
			}
			cli_json_end_object(j);
		} else if (a && b) {
			printf("  ~ 0x%" PRIx64 ": %-24s %s\n", a->addr, ha, a->text);
			printf("    %*s  %-24s %s\n", (int)snprintf(NULL, 0, "0x%" PRIx64 ":", a->addr) - 1,
			       "->", hb, b->text);
		} else if (a) {
			printf("  - 0x%" PRIx64 ": %-24s %s\n", a->addr, ha, a->text);
		} else {
			printf("  + 0x%" PRIx64 ": %-24s %s\n", b->addr, hb, b->text);
		}
	}
	if (j)
		cli_json_end_array(j);
}
#endif /* EMT_HAVE_CAPSTONE */

/* Side-by-side rows of 8 bytes over [lo, hi) of the window; '!' marks a
 * row with a difference, '?' one with bytes a side did not capture
 * (shown as "--": their zeros are not content). */
#define ROWS_SHOWN 64   /* per range without --full: first and last 32 */

struct rows {
	const uint8_t *a, *b;
	uint64_t addr_a, addr_b;
	int two_addr, full;
	const struct span_list *sp;
};

/* 1 if side A (side 0) or B (side 1) captured window offset k. */
static int captured(const struct rows *w, uint64_t k, int side)
{
	const struct span *s = span_find(w->sp->v, w->sp->n, k);

	return !s || !(side ? s->reason_b : s->reason_a);
}

static void print_rows(const struct rows *w, uint64_t lo, uint64_t hi)
{
	uint64_t first = lo & ~7ull, nrows = (hi - first + 7) / 8;

	for (uint64_t row = first; row < hi; row += 8) {
		int diff = 0, hole = 0;

		/* a rewritten 16 MiB JIT buffer would print two million rows */
		if (!w->full && nrows > ROWS_SHOWN && row == first + ROWS_SHOWN / 2 * 8) {
			uint64_t skip = nrows - ROWS_SHOWN;

			printf("  ... %" PRIu64 " rows not shown (--full shows them)\n", skip);
			row += (skip - 1) * 8;
			continue;
		}

		for (uint64_t k = row; k < row + 8 && k < hi; k++) {
			int ca, cb;

			if (k < lo)
				continue;
			ca = captured(w, k, 0);
			cb = captured(w, k, 1);
			if (ca && cb && w->a[k] != w->b[k])
				diff = 1;
			if (!ca || !cb)
				hole = 1;
		}
		printf("%c %012" PRIx64 " ", diff ? '!' : hole ? '?' : ' ', w->addr_a + row);
		for (uint64_t k = row; k < row + 8; k++) {
			if (k >= lo && k < hi && !captured(w, k, 0))
				fputs(" --", stdout);
			else if (k >= lo && k < hi)
				printf(" %02x", w->a[k]);
			else
				fputs("   ", stdout);
		}
		fputs("  |", stdout);
		if (w->two_addr)
			printf(" %012" PRIx64, w->addr_b + row);
		/* no padding after the last byte: no trailing blanks */
		for (uint64_t k = row; k < row + 8 && k < hi; k++) {
			if (k < lo)
				fputs("   ", stdout);
			else if (!captured(w, k, 1))
				fputs(" --", stdout);
			else
				printf(" %02x", w->b[k]);
		}
		putchar('\n');
	}
}

/* "only in A: N bytes", saying how many of them were not captured. */
static void print_only(const char *side, uint64_t bytes, uint64_t holes)
{
	if (!bytes)
		return;
	printf("only in %s: %" PRIu64 " byte%s", side, bytes, bytes == 1 ? "" : "s");
	if (holes)
		printf(" (%" PRIu64 " of them not captured)", holes);
	putchar('\n');
}

static void print_head(const char *mark, const struct emt_capture *c)
{
	printf("%s capture %" PRIu64 " (region %" PRId64 " v%" PRIu32 ", pid %" PRIu32
	       ") 0x%" PRIx64 "-0x%" PRIx64 ", %" PRIu64 " bytes\n", mark, c->seq,
	       c->region_id, c->version, c->pid, c->addr, c->addr + c->size, c->size);
}

static void json_side(struct cli_json *j, const char *name, const struct emt_capture *c)
{
	char hex[2 * EMT_SHA256_LEN + 1];

	cli_json_name(j, name);
	cli_json_start_object(j);
	cli_json_ku64(j, "seq", c->seq);
	cli_json_ki64(j, "region", c->region_id);
	cli_json_ku64(j, "version", c->version);
	cli_json_ku64(j, "pid", c->pid);
	cli_json_khex(j, "addr", c->addr);
	cli_json_ku64(j, "size", c->size);
	emt_hex(c->sha256, EMT_SHA256_LEN, hex);
	cli_json_kstr(j, "sha256", hex);
	cli_json_end_object(j);
}

/* Compares two loaded captures; returns 0 identical, 1 different, -1 on
 * trouble (message printed). */
static int compare(const struct side *A, const struct side *B, const struct opts *o)
{
	const struct emt_capture *a = &A->c, *b = &B->c;
	uint64_t a_end = a->addr + a->size, b_end = b->addr + b->size;
	uint64_t lo = a->addr > b->addr ? a->addr : b->addr;
	uint64_t hi = a_end < b_end ? a_end : b_end;
	uint64_t offa, offb, n, changed = 0;
	int by_addr = lo < hi, two_addr, ret = -1;
	struct cli_diff_range *rg = NULL;
	size_t nrg = 0;
	struct insn_list la = { 0 }, lb = { 0 };
	struct span_list sp = { 0 };
	struct rows rw;
	struct cli_json *j = NULL;
	int64_t delta = (int64_t)(b->addr - a->addr);
	int different;

	if (by_addr) {
		offa = lo - a->addr;
		offb = lo - b->addr;
		n = hi - lo;
	} else {
		offa = offb = 0;
		n = a->size < b->size ? a->size : b->size;
	}
	two_addr = !by_addr;
	if (cli_diff_bytes(A->buf + offa, B->buf + offb, n, &rg, &nrg, &changed) ||
	    window_spans(A, offa, B, offb, n, &sp) ||
	    drop_spans(&rg, &nrg, &changed, &sp)) {
		cli_error("'%s': out of memory comparing captures %" PRIu64 " and %" PRIu64,
			  cli_archive(), a->seq, b->seq);
		goto out;
	}
	/* A range that only one side captured may hide a change: the
	 * captures are not known to be identical.  A range neither captured
	 * is the same absence on both sides. */
	different = nrg > 0 || a->addr != b->addr || a->size != b->size || sp.one_sided;
	if (o->quiet) {
		ret = different;
		goto out;
	}
#ifdef EMT_HAVE_CAPSTONE
	if (o->disasm && nrg &&
	    (sweep(A, offa, n, rg, nrg, &la) || sweep(B, offb, n, rg, nrg, &lb))) {
		cli_error("'%s': cannot disassemble captures %" PRIu64 " and %" PRIu64,
			  cli_archive(), a->seq, b->seq);
		goto out;
	}
#endif
	if (o->json) {
		j = cli_json_new(stdout);
		if (!j) {
			cli_error("out of memory");
			goto out;
		}
		cli_json_start_object(j);
		json_side(j, "a", a);
		json_side(j, "b", b);
		cli_json_kbool(j, "identical", !different);
		cli_json_ki64(j, "base_delta", delta);
		cli_json_kstr(j, "alignment", by_addr ? "address" : "offset");
		cli_json_khex(j, "compared_addr", a->addr + offa);
		cli_json_ku64(j, "compared_length", n);
		cli_json_ku64(j, "only_a", a->size - n);
		cli_json_ku64(j, "only_b", b->size - n);
		cli_json_ku64(j, "bytes_changed", changed);
		cli_json_ku64(j, "bytes_not_captured", sp.bytes);
		cli_json_name(j, "not_captured");
		cli_json_start_array(j);
		for (size_t k = 0; k < sp.n; k++) {
			cli_json_start_object(j);
			cli_json_khex(j, "start", a->addr + offa + sp.v[k].off);
			cli_json_khex(j, "end", a->addr + offa + sp.v[k].off + sp.v[k].len);
			cli_json_ku64(j, "length", sp.v[k].len);
			cli_json_khex(j, "b_start", b->addr + offb + sp.v[k].off);
			cli_json_name(j, "a_reason");
			if (sp.v[k].reason_a)
				cli_json_string(j, gap_reason(sp.v[k].reason_a));
			else
				cli_json_null(j);
			cli_json_name(j, "b_reason");
			if (sp.v[k].reason_b)
				cli_json_string(j, gap_reason(sp.v[k].reason_b));
			else
				cli_json_null(j);
			cli_json_end_object(j);
		}
		cli_json_end_array(j);
		cli_json_ku64(j, "ranges_count", nrg);
		cli_json_name(j, "first");
		if (nrg)
			cli_json_hex(j, a->addr + offa + rg[0].off);
		else
			cli_json_null(j);
		cli_json_name(j, "last");
		if (nrg)
			cli_json_hex(j, a->addr + offa + rg[nrg - 1].off + rg[nrg - 1].len - 1);
		else
			cli_json_null(j);
	} else {
		print_head("---", a);
		print_head("+++", b);
		if (a->addr != b->addr)
			printf("base addresses differ by %s0x%" PRIx64 " (B - A); compared by %s over 0x%" PRIx64
			       "-0x%" PRIx64 " (%" PRIu64 " bytes)\n", delta < 0 ? "-" : "+",
			       delta < 0 ? (uint64_t)0 - (uint64_t)delta : (uint64_t)delta,
			       by_addr ? "address" : "offset (no common address)",
			       a->addr + offa, a->addr + offa + n, n);
		print_only("A", a->size - n, gap_bytes_outside(A, offa, n));
		print_only("B", b->size - n, gap_bytes_outside(B, offb, n));
		if (!different && !sp.n) {
			printf("identical\n");
		} else if (!different) {
			printf("identical where captured; %" PRIu64 " byte%s captured by neither"
			       " (not compared)\n", sp.bytes, sp.bytes == 1 ? "" : "s");
		} else {
			if (nrg) {
				printf("bytes changed: %" PRIu64 " in %zu range%s", changed, nrg,
				       nrg == 1 ? "" : "s");
				printf(", first 0x%" PRIx64 ", last 0x%" PRIx64,
				       a->addr + offa + rg[0].off,
				       a->addr + offa + rg[nrg - 1].off + rg[nrg - 1].len - 1);
			} else if (sp.n) {
				printf("no captured byte changed");
			} else {
				printf("bytes changed: 0 in 0 ranges");
			}
			if (sp.n)
				printf("; %" PRIu64 " byte%s not captured (not compared)", sp.bytes,
				       sp.bytes == 1 ? "" : "s");
			putchar('\n');
		}
		if (sp.n) {
			printf("not captured:\n");
			for (size_t k = 0; k < sp.n; k++) {
				const struct span *v = &sp.v[k];

				printf("  0x%" PRIx64 "-0x%" PRIx64 " %" PRIu64 " byte%s",
				       a->addr + offa + v->off, a->addr + offa + v->off + v->len,
				       v->len, v->len == 1 ? "" : "s");
				if (two_addr)
					printf(" (B 0x%" PRIx64 "-0x%" PRIx64 ")",
					       b->addr + offb + v->off, b->addr + offb + v->off + v->len);
				if (v->reason_a && v->reason_b && v->reason_a == v->reason_b)
					printf(": not captured in A and B (%s)\n", gap_reason(v->reason_a));
				else if (v->reason_a && v->reason_b)
					printf(": not captured in A (%s) and B (%s)\n",
					       gap_reason(v->reason_a), gap_reason(v->reason_b));
				else
					printf(": not captured in %s (%s)\n", v->reason_a ? "A" : "B",
					       gap_reason(v->reason_a ? v->reason_a : v->reason_b));
			}
		}
		if (nrg) {
			printf("changed ranges:\n");
			for (size_t k = 0; k < nrg; k++)
				printf("  0x%" PRIx64 "-0x%" PRIx64 " %" PRIu64 " byte%s\n",
				       a->addr + offa + rg[k].off,
				       a->addr + offa + rg[k].off + rg[k].len, rg[k].len,
				       rg[k].len == 1 ? "" : "s");
		}
	}
	if (j) {
		cli_json_name(j, "ranges");
		cli_json_start_array(j);
	}
	rw.a = A->buf + offa;
	rw.b = B->buf + offb;
	rw.addr_a = a->addr + offa;
	rw.addr_b = b->addr + offb;
	rw.two_addr = two_addr;
	rw.full = o->full;
	rw.sp = &sp;
	{
#ifdef EMT_HAVE_CAPSTONE
		size_t ia = 0, ib = 0;
#endif
		size_t hunk_end = 0;

		for (size_t k = 0; k < nrg; k++) {
			uint64_t s = rg[k].off, e = rg[k].off + rg[k].len;

			if (j) {
				cli_json_start_object(j);
				cli_json_khex(j, "start", a->addr + offa + s);
				cli_json_khex(j, "end", a->addr + offa + e);
				cli_json_ku64(j, "length", rg[k].len);
				if (rg[k].len <= 4096) {
					char *ha = malloc(2 * rg[k].len + 1);
					char *hb = malloc(2 * rg[k].len + 1);

					if (ha && hb) {
						emt_hex(A->buf + offa + s, rg[k].len, ha);
						emt_hex(B->buf + offb + s, rg[k].len, hb);
						cli_json_kstr(j, "a_bytes", ha);
						cli_json_kstr(j, "b_bytes", hb);
					}
					free(ha);
					free(hb);
				}
			} else if (k == 0 || k > hunk_end) {
				/* ranges whose context rows touch share one hunk,
				 * so no row is listed twice */
				uint64_t cs = s > o->context ? s - o->context : 0;
				uint64_t ce = e + o->context < n ? e + o->context : n;
				size_t h = k;

				while (h + 1 < nrg) {
					uint64_t ns = rg[h + 1].off > o->context ?
						      rg[h + 1].off - o->context : 0;

					if ((ns & ~7ull) > ((ce + 7) & ~7ull))
						break;
					h++;
					ce = rg[h].off + rg[h].len + o->context < n ?
					     rg[h].off + rg[h].len + o->context : n;
				}
				fputs("@@", stdout);
				for (size_t q = k; q <= h && q < k + 4; q++)
					printf("%s 0x%" PRIx64 "-0x%" PRIx64 " (%" PRIu64 " byte%s)",
					       q > k ? "," : "", a->addr + offa + rg[q].off,
					       a->addr + offa + rg[q].off + rg[q].len, rg[q].len,
					       rg[q].len == 1 ? "" : "s");
				if (h >= k + 4)
					printf(" and %zu more ranges", h - k - 3);
				fputs(" @@\n", stdout);
				print_rows(&rw, cs, ce);
				hunk_end = h;
			}
#ifdef EMT_HAVE_CAPSTONE
			if (o->disasm)
				print_insns(&la, &lb, &ia, &ib, (uint32_t)k, j,
					    a->addr + offa + s, a->addr + offa + e);
#endif
			if (j)
				cli_json_end_object(j);
		}
	}
	if (j) {
		cli_json_end_array(j);
		cli_json_end_object(j);
	}
	ret = different;
out:
	cli_json_free(j);
	free(sp.v);
	free(la.v);
	free(lb.v);
	free(rg);
	return ret;
}

static int compare_seqs(struct emt_reader *r, uint64_t sa, uint64_t sb,
			const struct opts *o)
{
	struct side A = { 0 }, B = { 0 };
	int rc = -1;

	if (load_side(r, sa, &A) == 0 && load_side(r, sb, &B) == 0)
		rc = compare(&A, &B, o);
	free_side(&A);
	free_side(&B);
	return rc;
}

static int compare_region(struct emt_reader *r, const struct opts *o)
{
	struct emt_filter f;
	struct emt_capture_iter *it;
	struct emt_capture c;
	uint64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	struct side A = { 0 }, B = { 0 };
	int rc, worst = 0;

	memset(&f, 0, sizeof(f));
	f.region_id = o->region;
	it = emt_reader_captures(r, &f);
	if (!it) {
		cli_read_failed(r, -errno);
		return -1;
	}
	while ((rc = emt_capture_iter_next(it, &c)) > 0) {
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			uint64_t *nv = realloc(seqs, nc * sizeof(*nv));

			if (!nv) {
				rc = -ENOMEM;
				break;
			}
			seqs = nv;
			cap = nc;
		}
		seqs[n++] = c.seq;
	}
	emt_capture_iter_free(it);
	if (rc < 0) {
		cli_read_failed(r, rc);
		free(seqs);
		return -1;
	}
	if (n == 0) {
		struct emt_region rg;

		if (emt_reader_region(r, o->region, &rg) == -ENOENT)
			cli_error("'%s': no region with id %" PRId64, cli_archive(), o->region);
		else
			cli_error("'%s': region %" PRId64 " has no captures", cli_archive(),
				  o->region);
		free(seqs);
		return -1;
	}
	if (n == 1 && !o->quiet && !o->json)
		printf("region %" PRId64 " has a single version (capture %" PRIu64
		       "): nothing to compare\n", o->region, seqs[0]);
	/* each version is read (and verified) once: it is B of one pair
	 * and A of the next */
	if (n > 1 && load_side(r, seqs[0], &A) < 0)
		worst = -1;
	for (size_t i = 1; i < n && worst >= 0; i++) {
		if (i > 1 && !o->quiet && !o->json)
			putchar('\n');
		if (load_side(r, seqs[i], &B) < 0) {
			worst = -1;
			break;
		}
		rc = compare(&A, &B, o);
		free_side(&A);
		A = B;
		B.buf = NULL;
		B.gaps = NULL;
		B.ngaps = 0;
		if (rc < 0) {
			worst = -1;
			break;
		}
		if (rc > worst)
			worst = rc;
	}
	free_side(&A);
	free(seqs);
	return worst;
}

static int parse_seq(const char *s, uint64_t *v)
{
	char esc[256];

	if (cli_parse_u64(s, v) || *v == 0) {
		cli_usage("invalid sequence number '%s': expected a number > 0",
			  cli_escape_str(esc, sizeof(esc), s));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "region",  1, NULL, 'r' },
		{ "context", 1, NULL, 'C' },
		{ "disasm",  0, NULL, 'D' },
		{ "json",    0, NULL, 'j' },
		{ "quiet",   0, NULL, 'q' },
		{ "full",    0, NULL, 'F' },
		CLI_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct opts o;
	struct emt_reader *r;
	uint64_t v;
	int c, rc;

	cli_init("emt-diff", argv);
	memset(&o, 0, sizeof(o));
	o.context = 8;
	while ((c = getopt_long(argc, argv, "r:C:DjqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (cli_parse_u64(optarg, &v) || v == 0 || v > INT64_MAX)
				return cli_bad_value("region", optarg, "expected a region id > 0");
			o.region = (int64_t)v;
			break;
		case 'C':
			if (cli_parse_u64(optarg, &o.context) || o.context > 4096)
				return cli_bad_value("context", optarg, "expected 0..4096");
			break;
		case 'D': o.disasm = 1; break;
		case 'j': o.json = 1; break;
		case 'q': o.quiet = 1; break;
		case 'F': o.full = 1; break;
		case 'V':
			cli_print_version();
#ifdef EMT_HAVE_CAPSTONE
			printf("disassembler: capstone %d.%d\n", CS_API_MAJOR, CS_API_MINOR);
#else
			printf("disassembler: none (built without capstone)\n");
#endif
			return CLI_EXIT_OK;
		default:
			return cli_common_opt(c, usage_text);
		}
	}
	if (optind >= argc)
		return cli_usage("missing archive operand");
	o.path = argv[optind++];
	if (o.region) {
		if (optind < argc)
			return cli_usage("--region takes no sequence numbers");
	} else {
		if (argc - optind != 2)
			return cli_usage("expected two sequence numbers (or --region ID)");
		if (parse_seq(argv[optind], &o.seq_a) || parse_seq(argv[optind + 1], &o.seq_b))
			return CLI_EXIT_USAGE;
	}
	if (o.quiet && o.json)
		return cli_usage("--quiet and --json are exclusive");
#ifndef EMT_HAVE_CAPSTONE
	if (o.disasm) {
		cli_warn("built without capstone: --disasm is not available, showing bytes only");
		o.disasm = 0;
	}
#endif

	cli_set_archive(o.path);
	r = cli_open_archive(o.path);
	if (!r)
		return CLI_EXIT_USAGE;
	if (o.region)
		rc = compare_region(r, &o);
	else
		rc = compare_seqs(r, o.seq_a, o.seq_b, &o);
	emt_reader_close(r);
	if (fflush(stdout) != 0) {
		cli_error("cannot write output: %s", strerror(errno));
		return CLI_EXIT_USAGE;
	}
	return rc < 0 ? CLI_EXIT_USAGE : rc;
}
