/*
 * sysrec_render.c - one recorded syscall as typed JSON and as strace-like
 * text.  What an argument is comes from the kernel's format (its C type
 * and name); the specialised decoders are those analysts read most:
 * struct sockaddr (IPv4, IPv6, unix), open flags and struct open_how,
 * clone flags and struct clone_args, mmap's protections and flags, the
 * *at directory descriptor.
 *
 * Everything read from the target is hostile: strings go to JSON with
 * every byte outside printable ASCII escaped as \u00XX (each byte one
 * code point, so the bytes are recovered exactly), to text escaped as
 * strace does (octal).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sysrec.h"

/* ------------------------------------------------------------ strings */

void sysrec_str_add(struct sysrec_str *b, const char *p, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *ns;

		while (nc < b->len + n + 1)
			nc *= 2;
		ns = realloc(b->s, nc);
		if (!ns) {
			b->failed = 1;
			return;
		}
		b->s = ns;
		b->cap = nc;
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sysrec_str_printf(struct sysrec_str *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
		return;
	}
	sysrec_str_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

void sysrec_str_free(struct sysrec_str *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

static void add_s(struct sysrec_str *b, const char *s)
{
	sysrec_str_add(b, s, strlen(s));
}

/* JSON string of `n` bytes, each byte one code point (Latin-1). */
static void json_bytes(struct sysrec_str *b, const uint8_t *p, size_t n)
{
	add_s(b, "\"");
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			sysrec_str_add(b, e, 2);
		} else if (c >= 0x20 && c < 0x7f) {
			sysrec_str_add(b, (const char *)&c, 1);
		} else {
			sysrec_str_printf(b, "\\u%04x", c);
		}
	}
	add_s(b, "\"");
}

static void json_key(struct sysrec_str *b, const char *k)
{
	sysrec_str_printf(b, ",\"%s\":", k);
}

/* Text of a string as strace quotes it. */
static void text_bytes(struct sysrec_str *b, const uint8_t *p, size_t n)
{
	add_s(b, "\"");
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		const char *e = NULL;

		switch (c) {
		case '"': e = "\\\""; break;
		case '\\': e = "\\\\"; break;
		case '\t': e = "\\t"; break;
		case '\n': e = "\\n"; break;
		case '\v': e = "\\v"; break;
		case '\f': e = "\\f"; break;
		case '\r': e = "\\r"; break;
		}
		if (e) {
			add_s(b, e);
		} else if (c >= 0x20 && c < 0x7f) {
			sysrec_str_add(b, (const char *)&c, 1);
		} else if (i + 1 < n && p[i + 1] >= '0' && p[i + 1] <= '7') {
			sysrec_str_printf(b, "\\%03o", c);
		} else {
			sysrec_str_printf(b, "\\%o", c);
		}
	}
	add_s(b, "\"");
}

/* ------------------------------------------------------------ flags */

struct flag {
	uint64_t bit;
	const char *name;
};

/* Text of `v` as NAME|NAME|0xrest; `zero` names 0 (or NULL: "0"). */
static void text_flags(struct sysrec_str *b, uint64_t v, const struct flag *f, size_t n,
		       const char *zero)
{
	int any = 0;

	for (size_t i = 0; i < n; i++) {
		if (f[i].bit && (v & f[i].bit) == f[i].bit) {
			sysrec_str_printf(b, "%s%s", any ? "|" : "", f[i].name);
			v &= ~f[i].bit;
			any = 1;
		}
	}
	if (v || !any) {
		if (!v && zero)
			add_s(b, zero);
		else
			sysrec_str_printf(b, "%s%#" PRIx64, any ? "|" : "", v);
	}
}

#define NF(a) (sizeof(a) / sizeof((a)[0]))

static const struct flag open_flags[] = {
	{ 01, "O_WRONLY" }, { 02, "O_RDWR" }, { 0100, "O_CREAT" }, { 0200, "O_EXCL" },
	{ 0400, "O_NOCTTY" }, { 01000, "O_TRUNC" }, { 02000, "O_APPEND" },
	{ 04000, "O_NONBLOCK" }, { 010000, "O_DSYNC" }, { 020000, "O_ASYNC" },
	{ 040000, "O_DIRECT" }, { 0100000, "O_LARGEFILE" }, { 020200000, "O_TMPFILE" },
	{ 0200000, "O_DIRECTORY" }, { 0400000, "O_NOFOLLOW" }, { 01000000, "O_NOATIME" },
	{ 02000000, "O_CLOEXEC" }, { 04010000, "O_SYNC" }, { 010000000, "O_PATH" },
};

static void text_open_flags(struct sysrec_str *b, uint64_t v)
{
	uint64_t acc = v & 3;

	add_s(b, acc == 0 ? "O_RDONLY" : acc == 1 ? "O_WRONLY" : acc == 2 ? "O_RDWR" : "O_ACCMODE");
	v &= ~(uint64_t)3;
	if (v) {
		add_s(b, "|");
		text_flags(b, v, open_flags + 2, NF(open_flags) - 2, NULL);
	}
}

static const struct flag clone_flags[] = {
	{ 0x100, "CLONE_VM" }, { 0x200, "CLONE_FS" }, { 0x400, "CLONE_FILES" },
	{ 0x800, "CLONE_SIGHAND" }, { 0x1000, "CLONE_PIDFD" }, { 0x2000, "CLONE_PTRACE" },
	{ 0x4000, "CLONE_VFORK" }, { 0x8000, "CLONE_PARENT" }, { 0x10000, "CLONE_THREAD" },
	{ 0x20000, "CLONE_NEWNS" }, { 0x40000, "CLONE_SYSVSEM" }, { 0x80000, "CLONE_SETTLS" },
	{ 0x100000, "CLONE_PARENT_SETTID" }, { 0x200000, "CLONE_CHILD_CLEARTID" },
	{ 0x400000, "CLONE_DETACHED" }, { 0x800000, "CLONE_UNTRACED" },
	{ 0x1000000, "CLONE_CHILD_SETTID" }, { 0x2000000, "CLONE_NEWCGROUP" },
	{ 0x4000000, "CLONE_NEWUTS" }, { 0x8000000, "CLONE_NEWIPC" },
	{ 0x10000000, "CLONE_NEWUSER" }, { 0x20000000, "CLONE_NEWPID" },
	{ 0x40000000, "CLONE_NEWNET" }, { 0x80000000, "CLONE_IO" },
};

static void text_clone_flags(struct sysrec_str *b, uint64_t v)
{
	uint64_t sig = v & 0xff;

	text_flags(b, v & ~(uint64_t)0xff, clone_flags, NF(clone_flags), NULL);
	if (sig == 17)
		add_s(b, "|SIGCHLD");
	else if (sig)
		sysrec_str_printf(b, "|%" PRIu64, sig);
}

static const struct flag prot_flags[] = {
	{ 1, "PROT_READ" }, { 2, "PROT_WRITE" }, { 4, "PROT_EXEC" },
	{ 0x01000000, "PROT_GROWSDOWN" }, { 0x02000000, "PROT_GROWSUP" },
};
static const struct flag map_flags[] = {
	{ 0x01, "MAP_SHARED" }, { 0x02, "MAP_PRIVATE" }, { 0x10, "MAP_FIXED" },
	{ 0x20, "MAP_ANONYMOUS" }, { 0x100, "MAP_GROWSDOWN" }, { 0x800, "MAP_DENYWRITE" },
	{ 0x1000, "MAP_EXECUTABLE" }, { 0x2000, "MAP_LOCKED" }, { 0x4000, "MAP_NORESERVE" },
	{ 0x8000, "MAP_POPULATE" }, { 0x10000, "MAP_NONBLOCK" }, { 0x20000, "MAP_STACK" },
	{ 0x40000, "MAP_HUGETLB" }, { 0x80000, "MAP_SYNC" }, { 0x100000, "MAP_FIXED_NOREPLACE" },
};

/* ------------------------------------------------------------ sockaddr */

/* strace's rendering of a struct sockaddr, and its JSON fields. */
static void sockaddr_render(const uint8_t *p, size_t n, struct sysrec_str *js,
			    struct sysrec_str *tx)
{
	uint16_t fam;
	char a[INET6_ADDRSTRLEN];

	if (n < 2) {
		add_s(tx, "{}");
		return;
	}
	memcpy(&fam, p, 2);
	if (fam == AF_UNIX) {
		size_t pl = n - 2;
		const uint8_t *path = p + 2;
		int abstract = pl > 0 && path[0] == 0;

		if (!abstract)
			pl = strnlen((const char *)path, pl);
		json_key(js, "sockaddr");
		add_s(js, "{\"family\":\"AF_UNIX\",\"path\":");
		json_bytes(js, path + abstract, pl - (size_t)abstract);
		sysrec_str_printf(js, ",\"abstract\":%s}", abstract ? "true" : "false");
		add_s(tx, "{sa_family=AF_UNIX");
		if (pl) {
			add_s(tx, ", sun_path=");
			if (abstract)
				add_s(tx, "@");
			text_bytes(tx, path + abstract, pl - (size_t)abstract);
		}
		add_s(tx, "}");
	} else if (fam == AF_INET && n >= 8) {
		uint16_t port;

		memcpy(&port, p + 2, 2);
		inet_ntop(AF_INET, p + 4, a, sizeof(a));
		json_key(js, "sockaddr");
		sysrec_str_printf(js, "{\"family\":\"AF_INET\",\"port\":%u,\"addr\":\"%s\"}",
				  ntohs(port), a);
		sysrec_str_printf(tx, "{sa_family=AF_INET, sin_port=htons(%u), "
				  "sin_addr=inet_addr(\"%s\")}", ntohs(port), a);
	} else if (fam == AF_INET6 && n >= 24) {
		uint16_t port;
		uint32_t flow, scope = 0;

		memcpy(&port, p + 2, 2);
		memcpy(&flow, p + 4, 4);
		if (n >= 28)
			memcpy(&scope, p + 24, 4);
		inet_ntop(AF_INET6, p + 8, a, sizeof(a));
		json_key(js, "sockaddr");
		sysrec_str_printf(js, "{\"family\":\"AF_INET6\",\"port\":%u,\"addr\":\"%s\","
				  "\"flowinfo\":%u,\"scope_id\":%u}", ntohs(port), a, ntohl(flow), scope);
		sysrec_str_printf(tx, "{sa_family=AF_INET6, sin6_port=htons(%u), "
				  "sin6_flowinfo=htonl(%u), inet_pton(AF_INET6, \"%s\", &sin6_addr), "
				  "sin6_scope_id=%u}", ntohs(port), ntohl(flow), a, scope);
	} else {
		json_key(js, "sockaddr");
		sysrec_str_printf(js, "{\"family\":%u}", fam);
		sysrec_str_printf(tx, "{sa_family=%u}", fam);
	}
}

/* ------------------------------------------------------------ structs */

static uint64_t le64_at(const uint8_t *p, size_t n, size_t off)
{
	uint64_t v = 0;

	if (off + 8 <= n)
		memcpy(&v, p + off, 8);
	return v;
}

/* struct open_how { u64 flags, mode, resolve; } */
static void open_how_render(const uint8_t *p, size_t n, struct sysrec_str *js,
			    struct sysrec_str *tx)
{
	uint64_t fl = le64_at(p, n, 0), mode = le64_at(p, n, 8), res = le64_at(p, n, 16);

	json_key(js, "open_how");
	sysrec_str_printf(js, "{\"flags\":%" PRIu64 ",\"mode\":%" PRIu64 ",\"resolve\":%" PRIu64 "}",
			  fl, mode, res);
	add_s(tx, "{flags=");
	text_open_flags(tx, fl);
	sysrec_str_printf(tx, ", mode=%#" PRIo64 ", resolve=%#" PRIx64 "}", mode, res);
}

/* struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal,
 * stack, stack_size, tls, ... (u64 each). */
static void clone_args_render(const uint8_t *p, size_t n, struct sysrec_str *js,
			      struct sysrec_str *tx)
{
	uint64_t fl = le64_at(p, n, 0), sig = le64_at(p, n, 32);
	uint64_t stack = le64_at(p, n, 40), ssize = le64_at(p, n, 48);

	json_key(js, "clone_args");
	sysrec_str_printf(js, "{\"flags\":%" PRIu64 ",\"exit_signal\":%" PRIu64 ",\"stack\":%" PRIu64
			  ",\"stack_size\":%" PRIu64 "}", fl, sig, stack, ssize);
	add_s(tx, "{flags=");
	text_flags(tx, fl, clone_flags, NF(clone_flags), "0");
	sysrec_str_printf(tx, ", exit_signal=%" PRIu64 ", stack=%#" PRIx64 ", stack_size=%#" PRIx64 "}",
			  sig, stack, ssize);
}

/* ------------------------------------------------------------ values */

static int is_ptr(const char *t)
{
	return strchr(t, '*') != NULL;
}

static int is_signed32(const char *t)
{
	return !strcmp(t, "int") || !strcmp(t, "pid_t") || !strcmp(t, "key_serial_t") ||
	       !strcmp(t, "clockid_t") || !strcmp(t, "timer_t") || !strcmp(t, "mqd_t") ||
	       !strcmp(t, "key_t");
}

static int is_signed64(const char *t)
{
	return !strcmp(t, "long") || !strcmp(t, "loff_t") || !strcmp(t, "off_t") ||
	       !strcmp(t, "__kernel_old_time_t");
}

static int is_unsigned32(const char *t)
{
	return !strcmp(t, "unsigned int") || !strcmp(t, "uid_t") || !strcmp(t, "gid_t") ||
	       !strcmp(t, "u32") || !strcmp(t, "__u32") || !strcmp(t, "umode_t") ||
	       !strcmp(t, "qid_t") || !strcmp(t, "rwf_t") || !strcmp(t, "old_uid_t") ||
	       !strcmp(t, "old_gid_t");
}

static int is_dirfd(const char *name)
{
	return !strcmp(name, "dfd") || !strcmp(name, "olddfd") || !strcmp(name, "newdfd") ||
	       !strcmp(name, "dirfd");
}

/* The value of one argument: JSON "value" (and "sym") and text. */
static void value_render(const struct sysrec_sc *sc, uint32_t i, uint64_t v,
			 struct sysrec_str *js, struct sysrec_str *tx)
{
	const char *t = sc->fmt.arg_type[i], *n = sc->fmt.arg_name[i], *sys = sc->fmt.name;
	struct sysrec_str sym = { 0 };

	if (is_ptr(t)) {
		sysrec_str_printf(js, ",\"value\":\"%#" PRIx64 "\"", v);
		if (v)
			sysrec_str_printf(tx, "%#" PRIx64, v);
		else
			add_s(tx, "NULL");
		return;
	}
	if (is_signed32(t)) {
		int32_t s = (int32_t)v;

		sysrec_str_printf(js, ",\"value\":%d", s);
		if (is_dirfd(n) && s == -100)
			add_s(&sym, "AT_FDCWD");
		else if (!strcmp(n, "flags") && (!strcmp(sys, "openat") || !strcmp(sys, "open")))
			text_open_flags(&sym, (uint32_t)s);
		if (sym.len)
			sysrec_str_add(tx, sym.s, sym.len);
		else
			sysrec_str_printf(tx, "%d", s);
	} else if (is_signed64(t)) {
		sysrec_str_printf(js, ",\"value\":%" PRId64, (int64_t)v);
		sysrec_str_printf(tx, "%" PRId64, (int64_t)v);
	} else if (is_unsigned32(t)) {
		uint32_t u = (uint32_t)v;

		sysrec_str_printf(js, ",\"value\":%u", u);
		if (!strcmp(t, "umode_t"))
			sysrec_str_printf(&sym, "%#o", u);
		else if (!strcmp(n, "flags") && (!strcmp(sys, "open") || !strcmp(sys, "openat")))
			text_open_flags(&sym, u);
		if (sym.len)
			sysrec_str_add(tx, sym.s, sym.len);
		else
			sysrec_str_printf(tx, "%u", u);
	} else {
		sysrec_str_printf(js, ",\"value\":%" PRIu64, v);
		if (!strcmp(sys, "clone") && !strcmp(n, "clone_flags"))
			text_clone_flags(&sym, v);
		else if ((!strcmp(sys, "mmap") || !strcmp(sys, "mprotect") ||
			  !strcmp(sys, "pkey_mprotect")) && !strcmp(n, "prot"))
			text_flags(&sym, v, prot_flags, NF(prot_flags), "PROT_NONE");
		else if (!strcmp(sys, "mmap") && !strcmp(n, "flags"))
			text_flags(&sym, v, map_flags, NF(map_flags), "0");
		else if (!strcmp(sys, "mmap") && !strcmp(n, "fd"))
			sysrec_str_printf(&sym, "%d", (int)(int32_t)v);
		else if (!strcmp(n, "addr") || !strcmp(n, "start") || !strcmp(n, "brk") ||
			 !strcmp(n, "newsp") || !strcmp(n, "tls"))
			sysrec_str_printf(&sym, v ? "%#" PRIx64 : "NULL", v);
		if (sym.len)
			sysrec_str_add(tx, sym.s, sym.len);
		else
			sysrec_str_printf(tx, "%" PRIu64, v);
	}
	if (sym.len) {
		json_key(js, "sym");
		json_bytes(js, (const uint8_t *)sym.s, sym.len);
	}
	if (sym.failed)
		js->failed = 1;
	sysrec_str_free(&sym);
}

/* ------------------------------------------------------------ memory */

/* The segments of argument i, in order: *first and the count. */
static size_t segs_of(const struct sysrec_call *c, uint32_t i, const struct sysrec_seg **first)
{
	size_t n = 0;

	*first = NULL;
	for (size_t k = 0; k < c->nsegs; k++) {
		if (c->segs[k].arg != i)
			continue;
		if (!n)
			*first = &c->segs[k];
		n++;
	}
	return n;
}

/* JSON status fields of a segment; returns its SYSREC_F_* flags. */
static uint32_t seg_status(const struct sysrec_seg *s, struct sysrec_str *js)
{
	if (s->late)
		add_s(js, ",\"read_at_exit\":true");
	switch (s->status) {
	case SR_ST_CUT:
		add_s(js, ",\"cut\":true");
		return SYSREC_F_CUT;
	case SR_ST_FAULT:
		sysrec_str_printf(js, ",\"unreadable\":%d", (int)s->err);
		return SYSREC_F_UNREADABLE;
	case SR_ST_NOROOM:
		add_s(js, ",\"noroom\":true");
		return SYSREC_F_NOROOM;
	}
	return 0;
}

static uint32_t strv_render(const struct sysrec_call *c, uint32_t i, struct sysrec_str *js,
			    struct sysrec_str *tx)
{
	uint32_t fl = 0;
	int any = 0;

	const struct sysrec_seg *first;

	if (segs_of(c, i, &first) && first->late)
		add_s(js, ",\"read_at_exit\":true");
	json_key(js, "strv");
	add_s(js, "[");
	add_s(tx, "[");
	for (size_t k = 0; k < c->nsegs; k++) {
		const struct sysrec_seg *s = &c->segs[k];

		if (s->arg != i)
			continue;
		if (s->status == SR_ST_MORE || s->status == SR_ST_NOROOM) {
			fl |= s->status == SR_ST_MORE ? SYSREC_F_CUT : SYSREC_F_NOROOM;
			add_s(tx, any ? ", ..." : "...");
			continue;
		}
		if (any) {
			add_s(js, ",");
			add_s(tx, ", ");
		}
		any = 1;
		if (s->status == SR_ST_FAULT) {
			sysrec_str_printf(js, "{\"unreadable\":%d}", (int)s->err);
			add_s(tx, "?");
			fl |= SYSREC_F_UNREADABLE;
			continue;
		}
		json_bytes(js, s->data, s->len);
		text_bytes(tx, s->data, s->len);
		if (s->status == SR_ST_CUT) {
			add_s(tx, "...");
			fl |= SYSREC_F_CUT;
		}
	}
	add_s(js, "]");
	add_s(tx, "]");
	if (fl & SYSREC_F_CUT)
		add_s(js, ",\"cut\":true");
	if (fl & SYSREC_F_NOROOM)
		add_s(js, ",\"noroom\":true");
	if (fl & SYSREC_F_UNREADABLE)
		add_s(js, ",\"unreadable\":true");
	return fl;
}

/* One argument with memory behind it (segments of kind `kind`). */
static uint32_t mem_render(const struct sysrec_sc *sc, const struct sysrec_call *c, uint32_t i,
			   struct sysrec_str *js, struct sysrec_str *tx)
{
	const struct sr_argspec *a = &sc->lay.a[i];
	const char *t = sc->fmt.arg_type[i];
	const struct sysrec_seg *s;
	uint64_t v = c->args[i];
	uint32_t fl;

	if (a->kind == SR_K_STRV)
		return strv_render(c, i, js, tx);
	if (!segs_of(c, i, &s)) {
		/* Not read: the record had no room, or (exit memory) the
		 * call failed or never returned. */
		int expected = a->kind == SR_K_STR || a->kind == SR_K_MEM_IN ||
			       (c->returned && c->ret >= 0);

		sysrec_str_printf(tx, "%#" PRIx64, v);
		if (expected && !(c->flags & SYSREC_F_NOENTRY)) {
			add_s(js, ",\"noroom\":true");
			return SYSREC_F_NOROOM;
		}
		return 0;
	}
	fl = seg_status(s, js);
	if (s->status == SR_ST_FAULT) {
		sysrec_str_printf(tx, "%#" PRIx64, v);
		return fl;
	}
	if (a->kind == SR_K_STR) {
		json_key(js, "str");
		json_bytes(js, s->data, s->len);
		text_bytes(tx, s->data, s->len);
		if (s->status == SR_ST_CUT)
			add_s(tx, "...");
		return fl;
	}
	if (!strcmp(t, "struct sockaddr *")) {
		sockaddr_render(s->data, s->len, js, tx);
		return fl;
	}
	if (!strcmp(t, "struct open_how *")) {
		open_how_render(s->data, s->len, js, tx);
		return fl;
	}
	if (!strcmp(t, "struct clone_args *")) {
		clone_args_render(s->data, s->len, js, tx);
		return fl;
	}
	json_key(js, "hex");
	add_s(js, "\"");
	for (uint32_t k = 0; k < s->len; k++)
		sysrec_str_printf(js, "%02x", s->data[k]);
	add_s(js, "\"");
	text_bytes(tx, s->data, s->len);
	if (s->status == SR_ST_CUT)
		add_s(tx, "...");
	return fl;
}

uint32_t sysrec_render(const struct sysrec_sc *sc, const struct sysrec_call *c,
		       struct sysrec_str *js, struct sysrec_str *tx)
{
	uint32_t fl = c->flags;
	uint32_t nargs = sc ? sc->fmt.nargs : SR_NARGS;

	add_s(js, "[");
	for (uint32_t i = 0; i < nargs && i < SR_NARGS; i++) {
		uint64_t v = c->args[i];

		if (i) {
			add_s(js, ",");
			add_s(tx, ", ");
		}
		if (!sc) {
			sysrec_str_printf(js, "{\"name\":\"arg%u\",\"type\":\"unsigned long\","
					  "\"value\":%" PRIu64 "}", i, v);
			sysrec_str_printf(tx, "%#" PRIx64, v);
			continue;
		}
		add_s(js, "{\"name\":");
		json_bytes(js, (const uint8_t *)sc->fmt.arg_name[i], strlen(sc->fmt.arg_name[i]));
		add_s(js, ",\"type\":");
		json_bytes(js, (const uint8_t *)sc->fmt.arg_type[i], strlen(sc->fmt.arg_type[i]));
		if (c->flags & SYSREC_F_NOENTRY) {
			add_s(js, ",\"value\":null}");
			add_s(tx, "?");
			continue;
		}
		if (sc->lay.a[i].kind != SR_K_VAL && v) {
			sysrec_str_printf(js, ",\"value\":\"%#" PRIx64 "\"", v);
			fl |= mem_render(sc, c, i, js, tx);
		} else {
			value_render(sc, i, v, js, tx);
		}
		add_s(js, "}");
	}
	add_s(js, "]");
	if (js->failed || tx->failed)
		return 0;
	return fl;
}
