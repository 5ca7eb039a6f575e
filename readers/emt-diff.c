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
"addresses is reported.  Output: a summary, the list of changed ranges,\n"
"then each change as a side-by-side hex listing with absolute addresses.\n"
"\n"
"  -r, --region=ID        compare every consecutive pair of versions of ID\n"
"  -C, --context=N        bytes of context around changes (default 8)\n"
"      --full             list every row of long changes (default: the first\n"
"                         and last 32 rows of 8 bytes per change)\n"
"  -D, --disasm           also list added/removed/changed instructions\n"
"                         (x86-64, needs a build with capstone)\n"
"  -j, --json             one JSON object per compared pair\n"
"  -q, --quiet            print nothing; the exit status tells\n"
"  -h, --help             show this help and exit\n"
"  -V, --version          show version information and exit\n"
"\n"
"Examples:\n"
"  emt-diff case.emt 12 13\n"
"  emt-diff --disasm case.emt 12 13\n"
"  emt-diff --region 4 --json case.emt | jq .bytes_changed\n"
"\n"
"Exit status (as diff(1)): 0 identical, 1 different, 2 trouble.\n";

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

/* Archive path for messages (escaped once in main). */
static char archive_name[512];

static int load_side(struct emt_reader *r, uint64_t seq, struct side *s)
{
	char emsg[512], item[40];
	int rc;

	snprintf(item, sizeof(item), "capture %" PRIu64, seq);
	rc = emt_reader_capture(r, seq, &s->c);
	if (rc < 0) {
		if (rc == -ENOENT)
			cli_error("'%s': no capture with seq %" PRIu64, archive_name, seq);
		else
			cli_error("capture %" PRIu64 ": %s", seq,
				  cli_escape_str(emsg, sizeof(emsg), emt_reader_errmsg(r)));
		return -1;
	}
	if (s->c.size > EMT_CAPTURE_SIZE_MAX || s->c.size > SIZE_MAX ||
	    !(s->buf = malloc(s->c.size ? s->c.size : 1))) {
		cli_error("capture %" PRIu64 ": cannot allocate %" PRIu64 " bytes",
			  seq, s->c.size);
		return -1;
	}
	rc = emt_reader_read_capture(r, seq, s->buf, s->c.size, 0);
	if (rc < 0) {
		cli_error("capture %" PRIu64 ": %s", seq,
			  cli_escape_str(emsg, sizeof(emsg), emt_reader_errmsg(r) ?
					 cli_skip_prefix(emt_reader_errmsg(r), item) :
					 strerror(-rc)));
		free(s->buf);
		s->buf = NULL;
		return -1;
	}
	return 0;
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
		sprintf(buf + 3 * k, "%02x ", i->bytes[k]);
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
 * row with a difference. */
#define ROWS_SHOWN 64   /* per range without --full: first and last 32 */

static void print_rows(const uint8_t *a, const uint8_t *b, uint64_t lo,
		       uint64_t hi, uint64_t addr_a, uint64_t addr_b, int two_addr,
		       int full)
{
	uint64_t first = lo & ~7ull, nrows = (hi - first + 7) / 8;

	for (uint64_t row = first; row < hi; row += 8) {
		int diff = 0;

		/* a rewritten 16 MiB JIT buffer would print two million rows */
		if (!full && nrows > ROWS_SHOWN && row == first + ROWS_SHOWN / 2 * 8) {
			uint64_t skip = nrows - ROWS_SHOWN;

			printf("  ... %" PRIu64 " rows not shown (--full shows them)\n", skip);
			row += (skip - 1) * 8;
			continue;
		}

		for (uint64_t k = row; k < row + 8 && k < hi; k++)
			if (k >= lo && a[k] != b[k])
				diff = 1;
		printf("%c %012" PRIx64 " ", diff ? '!' : ' ', addr_a + row);
		for (uint64_t k = row; k < row + 8; k++) {
			if (k >= lo && k < hi)
				printf(" %02x", a[k]);
			else
				fputs("   ", stdout);
		}
		fputs("  |", stdout);
		if (two_addr)
			printf(" %012" PRIx64, addr_b + row);
		/* no padding after the last byte: no trailing blanks */
		for (uint64_t k = row; k < row + 8 && k < hi; k++) {
			if (k >= lo)
				printf(" %02x", b[k]);
			else
				fputs("   ", stdout);
		}
		putchar('\n');
	}
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
	if (cli_diff_bytes(A->buf + offa, B->buf + offb, n, &rg, &nrg, &changed)) {
		cli_error("out of memory comparing captures %" PRIu64 " and %" PRIu64,
			  a->seq, b->seq);
		return -1;
	}
	different = nrg > 0 || a->addr != b->addr || a->size != b->size;
	if (o->quiet) {
		ret = different;
		goto out;
	}
#ifdef EMT_HAVE_CAPSTONE
	if (o->disasm && nrg &&
	    (sweep(A, offa, n, rg, nrg, &la) || sweep(B, offb, n, rg, nrg, &lb))) {
		cli_error("cannot disassemble captures %" PRIu64 " and %" PRIu64,
			  a->seq, b->seq);
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
		if (a->size - n)
			printf("only in A: %" PRIu64 " bytes\n", a->size - n);
		if (b->size - n)
			printf("only in B: %" PRIu64 " bytes\n", b->size - n);
		if (!different) {
			printf("identical\n");
		} else {
			printf("bytes changed: %" PRIu64 " in %zu range%s", changed, nrg,
			       nrg == 1 ? "" : "s");
			if (nrg)
				printf(", first 0x%" PRIx64 ", last 0x%" PRIx64,
				       a->addr + offa + rg[0].off,
				       a->addr + offa + rg[nrg - 1].off + rg[nrg - 1].len - 1);
			putchar('\n');
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
				print_rows(A->buf + offa, B->buf + offb, cs, ce,
					   a->addr + offa, b->addr + offb, two_addr, o->full);
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
	free(A.buf);
	free(B.buf);
	return rc;
}

static int compare_region(struct emt_reader *r, const struct opts *o)
{
	struct emt_filter f;
	struct emt_capture_iter *it;
	struct emt_capture c;
	uint64_t *seqs = NULL;
	size_t n = 0, cap = 0;
	char emsg[512];
	struct side A = { 0 }, B = { 0 };
	int rc, worst = 0;

	memset(&f, 0, sizeof(f));
	f.region_id = o->region;
	it = emt_reader_captures(r, &f);
	if (!it) {
		cli_error("cannot read '%s': %s", archive_name,
			  cli_escape_str(emsg, sizeof(emsg), emt_reader_errmsg(r)));
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
		cli_error("cannot read '%s': %s", archive_name,
			  rc == -ENOMEM ? strerror(ENOMEM) :
			  cli_escape_str(emsg, sizeof(emsg), emt_reader_errmsg(r)));
		free(seqs);
		return -1;
	}
	if (n == 0) {
		cli_error("'%s': region %" PRId64 " has no captures", archive_name, o->region);
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
		free(A.buf);
		A = B;
		B.buf = NULL;
		if (rc < 0) {
			worst = -1;
			break;
		}
		if (rc > worst)
			worst = rc;
	}
	free(A.buf);
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
		{ "help",    0, NULL, 'h' },
		{ "version", 0, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o;
	struct emt_reader *r;
	char esc[256];
	uint64_t v;
	int c, rc;

	cli_init("emt-diff", argv);
	memset(&o, 0, sizeof(o));
	o.context = 8;
	while ((c = getopt_long(argc, argv, "r:C:DjqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (cli_parse_u64(optarg, &v) || v == 0 || v > INT64_MAX)
				return cli_usage("invalid value '%s' for --region: expected a region id > 0",
						 cli_escape_str(esc, sizeof(esc), optarg));
			o.region = (int64_t)v;
			break;
		case 'C':
			if (cli_parse_u64(optarg, &o.context) || o.context > 4096)
				return cli_usage("invalid value '%s' for --context: expected 0..4096",
						 cli_escape_str(esc, sizeof(esc), optarg));
			break;
		case 'D': o.disasm = 1; break;
		case 'j': o.json = 1; break;
		case 'q': o.quiet = 1; break;
		case 'F': o.full = 1; break;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_EXIT_OK;
		case 'V':
			cli_print_version();
#ifdef EMT_HAVE_CAPSTONE
			printf("disassembler: capstone %d.%d\n", CS_API_MAJOR, CS_API_MINOR);
#else
			printf("disassembler: none (built without capstone)\n");
#endif
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "try '%s --help' for more information\n", cli_prog());
			return CLI_EXIT_USAGE;
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

	cli_escape_str(archive_name, sizeof(archive_name), o.path);
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
