/*
 * emt-extract - write the exact bytes of captures as raw files, ELF files
 * for disassemblers, or hexdump -C listings.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "captures.h"
#include "emtcli.h"
#include "perf.h"

static const char usage_text[] =
"Usage: emt-extract [OPTION]... ARCHIVE --seq N [-o OUT]\n"
"   or: emt-extract [OPTION]... ARCHIVE --all -d DIR\n"
"Write the exact bytes of captures.  Every capture's content hash is\n"
"verified before anything is written.\n"
"\n"
"  -s, --seq=N            extract capture N (see emt-ls)\n"
"  -o, --output=OUT       write to OUT; '-' is stdout (default: stdout when it\n"
"                         is not a terminal)\n"
"  -f, --format=FMT       raw (default), elf (ELF64 with the bytes loaded at\n"
"                         their original address; entry = first-exec RIP when\n"
"                         recorded) or hex (hexdump -C style, real addresses);\n"
"                         perfmap or jitdump: perf-PID.map / jit-PID.dump per\n"
"                         process of the captures matching the filters, into\n"
"                         -d DIR (default: the current directory; perf reads\n"
"                         maps from /tmp), paths printed on stdout\n"
"  -a, --all              extract every capture matching the filters below\n"
"                         into DIR (filters apply to --all only)\n"
"  -d, --directory=DIR    output directory for --all (created if missing);\n"
"                         files are named SEQ-pidPID-0xADDR-vVERSION.EXT and\n"
"                         described in DIR/manifest.json (file_sha256: of the\n"
"                         file, sha256: of the capture's bytes)\n"
"      --force            overwrite existing files; write damaged captures\n"
"                         anyway (with a warning)\n"
CLI_COMMON_HELP
"\n"
"%s"
"\n"
"Examples:\n"
"  emt-extract case.emt --seq 17 -o code.bin\n"
"  emt-extract case.emt --seq 17 --format elf -o code.elf && objdump -D code.elf\n"
"  emt-extract case.emt --seq 17 --format hex | less\n"
"  emt-extract case.emt --all -d out --pid 4242 --trigger mprotect\n"
"  cd out && jq -r '.[] | .file_sha256 + \"  \" + .file' manifest.json | sha256sum -c\n"
"  emt-extract case.emt --format perfmap -d /tmp && perf report -i perf.data\n"
"\n"
"Exit status: 0 success, 1 failure (damaged capture, unreadable archive,\n"
"output exists), 2 usage error.\n";

enum fmt { FMT_RAW, FMT_ELF, FMT_HEX };
static const char *const fmt_ext[] = { "bin", "elf", "hex" };

enum { OPT_FORCE = CLI_OPT_FIRST_FREE };

struct opts {
	struct emt_filter f;
	int has_seq, all, force, filters;
	enum cli_perf_format perf;      /* 0: not a perf export */
	uint64_t seq;
	enum fmt fmt;
	const char *out, *dir, *path;
};

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Entry point for the ELF header: the first-execution RIP if a register
 * snapshot exists and points into the capture, else its start. */
static uint64_t entry_point(struct emt_reader *r, const struct emt_capture *c)
{
	struct emt_regs_x86_64 regs;

	if (c->has_regs && emt_reader_regs(r, c->seq, &regs) == 0 &&
	    regs.rip >= c->addr && regs.rip - c->addr < c->size)
		return regs.rip;
	return c->addr;
}

/* Where a capture's bytes come from: a verified buffer, or streamed from
 * the archive chunk by chunk (verified on the way; -EBADMSG at the end
 * means damaged, and the output must then be discarded unless forced). */
struct body {
	struct emt_reader *r;
	const uint8_t *data;    /* NULL: stream */
	int force;
};

static int write_body(int fd, const struct emt_capture *c, const struct body *b)
{
	if (b->data)
		return write_all(fd, b->data, c->size);
	return emt_reader_write_capture(b->r, c->seq, fd, b->force);
}

/* Writes a minimal ELF64 executable: one PT_LOAD and one .text section at
 * the capture's address, so disassemblers show real addresses. */
static int write_elf(int fd, const struct emt_capture *c, const struct body *b,
		     uint64_t entry)
{
	static const char shstr[] = "\0.text\0.shstrtab";
	uint64_t data_off = 0x1000 + (c->addr & 0xfff);
	uint64_t str_off = data_off + c->size;
	uint64_t sh_off = (str_off + sizeof(shstr) + 7) & ~7ull;
	uint8_t head[0x2000] __attribute__((aligned(8))); /* data_off < 0x2000 */
	Elf64_Ehdr *eh = (Elf64_Ehdr *)head;
	Elf64_Phdr *ph = (Elf64_Phdr *)(head + sizeof(*eh));
	Elf64_Shdr sh[3];
	uint8_t pad[8] = { 0 };
	uint32_t prot = c->prot_after | c->prot_before;
	int err, body_err;

	memset(head, 0, sizeof(head));
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_ident[EI_OSABI] = ELFOSABI_SYSV;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_entry = entry;
	eh->e_phoff = sizeof(*eh);
	eh->e_shoff = sh_off;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 3;
	eh->e_shstrndx = 2;

	ph->p_type = PT_LOAD;
	/* it is code whatever the final protection was */
	ph->p_flags = PF_R | PF_X | ((prot & PROT_WRITE) ? PF_W : 0);
	ph->p_offset = data_off;
	ph->p_vaddr = c->addr;
	ph->p_paddr = c->addr;
	ph->p_filesz = c->size;
	ph->p_memsz = c->size;
	ph->p_align = 0x1000;

	memset(sh, 0, sizeof(sh));
	sh[1].sh_name = 1;
	sh[1].sh_type = SHT_PROGBITS;
	sh[1].sh_flags = SHF_ALLOC | SHF_EXECINSTR |
			 ((prot & PROT_WRITE) ? SHF_WRITE : 0);
	sh[1].sh_addr = c->addr;
	sh[1].sh_offset = data_off;
	sh[1].sh_size = c->size;
	sh[1].sh_addralign = 1;
	sh[2].sh_name = 7;
	sh[2].sh_type = SHT_STRTAB;
	sh[2].sh_offset = str_off;
	sh[2].sh_size = sizeof(shstr);
	sh[2].sh_addralign = 1;

	/* head is zeroed beyond the headers: it pads up to the data */
	if ((err = write_all(fd, head, data_off)))
		return err;
	body_err = write_body(fd, c, b);
	if (body_err < 0 && body_err != -EBADMSG)
		return body_err;
	if ((err = write_all(fd, shstr, sizeof(shstr))) ||
	    (err = write_all(fd, pad, sh_off - str_off - sizeof(shstr))) ||
	    (err = write_all(fd, sh, sizeof(sh))))
		return err;
	return body_err;
}

static int write_hex(int fd, const struct emt_capture *c, const uint8_t *data)
{
	int dfd = dup(fd);
	FILE *f;
	int err = 0;

	if (dfd < 0)
		return -errno;
	f = fdopen(dfd, "w");
	if (!f) {
		err = -errno;
		close(dfd);
		return err;
	}
	cli_hexdump(f, data, c->size, c->addr, 0);
	if (ferror(f))
		err = -EIO;
	if (fclose(f) != 0 && !err)
		err = -errno;
	return err;
}

/* Writes capture `c` in format `fmt`; hex needs b->data. */
static int write_capture(int fd, enum fmt fmt, struct emt_reader *r,
			 const struct emt_capture *c, const struct body *b)
{
	switch (fmt) {
	case FMT_ELF:
		return write_elf(fd, c, b, entry_point(r, c));
	case FMT_HEX:
		return write_hex(fd, c, b->data);
	case FMT_RAW:
	default:
		return write_body(fd, c, b);
	}
}

/* Opens an output file relative to `dirfd`: never follows a symlink and
 * never replaces an existing file unless `force`.  Read-write, so that
 * the manifest can give the hash of what is in the file. */
static int open_out(int dirfd, const char *name, int force)
{
	int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;

	flags |= force ? O_TRUNC : O_EXCL;
	return openat(dirfd, name, flags, 0600);
}

/* SHA-256 of the whole file open at `fd`, as written (sha256sum -c must
 * agree with the manifest whatever the format).  Returns 0 or -errno. */
static int file_sha256(int fd, uint8_t out[EMT_SHA256_LEN])
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (st.st_size == 0) {
		emt_sha256("", 0, out);
		return 0;
	}
	if ((uint64_t)st.st_size > SIZE_MAX)
		return -EFBIG;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	emt_sha256(p, (size_t)st.st_size, out);
	munmap(p, (size_t)st.st_size);
	return 0;
}

/* Gaps are pages that could not be read: the output holds zeros there,
 * which must never pass for captured content. */
static void warn_gaps(struct emt_reader *r, const struct emt_capture *c)
{
	struct emt_gap *g = NULL;
	size_t n = 0;

	if (!c->ngaps)
		return;
	if (emt_reader_gaps(r, c->seq, &g, &n) < 0) {
		cli_warn("'%s': capture %" PRIu64 ": has gaps that cannot be listed",
			 cli_archive(), c->seq);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *why = emt_gap_reason_name(g[i].reason);

		cli_warn("'%s': capture %" PRIu64 ": 0x%" PRIx64 "-0x%" PRIx64
			 " was not captured (%s), written as zeros", cli_archive(), c->seq,
			 c->addr + g[i].offset, c->addr + g[i].offset + g[i].length,
			 why ? why : "unknown reason");
	}
	free(g);
}

/* Reads and verifies capture `c` into *buf (grown as needed).  Returns 0,
 * 1 if damaged but --force let it through, or -1 after printing why. */
static int load_capture(struct emt_reader *r, const struct emt_capture *c,
			uint8_t **buf, size_t *cap, int force)
{
	char emsg[512];
	int rc;

	if (c->size > EMT_CAPTURE_SIZE_MAX || c->size > SIZE_MAX) {
		cli_error("'%s': capture %" PRIu64 ": size %" PRIu64 " exceeds the format limit",
			  cli_archive(), c->seq, c->size);
		return -1;
	}
	if (*cap < c->size || !*buf) {
		uint8_t *nb = realloc(*buf, c->size ? c->size : 1);

		if (!nb) {
			cli_error("'%s': capture %" PRIu64 ": cannot allocate %" PRIu64 " bytes",
				  cli_archive(), c->seq, c->size);
			return -1;
		}
		*buf = nb;
		*cap = c->size;
	}
	rc = emt_reader_read_capture(r, c->seq, *buf, *cap, force);
	if (rc == 0) {
		warn_gaps(r, c);
		return 0;
	}
	cli_escape_str(emsg, sizeof(emsg), cli_capture_reason(emt_reader_errmsg(r), c->seq, rc));
	if (rc == -EBADMSG && force) {
		cli_warn("'%s': capture %" PRIu64 ": %s; writing it anyway (--force)",
			 cli_archive(), c->seq, emsg);
		return 1;
	}
	if (rc == -EBADMSG)
		cli_error("'%s': capture %" PRIu64 ": %s (use --force to write it anyway)",
			  cli_archive(), c->seq, emsg);
	else
		cli_error("'%s': capture %" PRIu64 ": %s", cli_archive(), c->seq, emsg);
	return -1;
}

/* Refuses early what open_out would refuse (existing file without
 * --force, a symlink or non-regular file even with it), before a long
 * extraction.  Returns 0 or -1 after printing why. */
static int check_target(int dirfd, const char *shown, const char *name, int force)
{
	struct stat st;
	char esc[512];

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	cli_escape_str(esc, sizeof(esc), shown);
	if (S_ISDIR(st.st_mode)) {
		/* -o names the file itself; only --all takes a directory */
		cli_error("cannot create '%s': is a directory (-o names a file; "
			  "use --all -d DIR to extract into a directory)", esc);
		return -1;
	}
	if (!force) {
		cli_error("cannot create '%s': %s (use --force to overwrite)", esc,
			  strerror(EEXIST));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		cli_error("cannot create '%s': %s", esc, S_ISLNK(st.st_mode) ?
			  "is a symbolic link" : "not a regular file");
		return -1;
	}
	return 0;
}

/* Streams capture `c` into an anonymous file (O_TMPFILE) in `dir`
 * (relative to dirfd) and links it as `name` only once the archive has
 * verified every byte: memory stays bounded for captures of gigabytes and
 * a damaged capture never appears under its name.  Returns 0, 1 (damaged,
 * written because of --force), -1 after printing an error, or -2 when
 * the file system lacks O_TMPFILE (the caller then uses a buffer). */
static int stream_to_file(struct emt_reader *r, const struct opts *o, int dirfd,
			  const char *dir, const char *name, const char *shown,
			  const struct emt_capture *c, uint8_t *sha)
{
	static unsigned counter;
	struct body b = { .r = r, .data = NULL, .force = o->force };
	char esc[512], emsg[512], proc[64], tmp[4096];
	int tfd, rc, damaged = 0;

	if (check_target(dirfd, shown, name, o->force))
		return -1;
	tfd = openat(dirfd, dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (tfd < 0)
		return -2;
	cli_escape_str(esc, sizeof(esc), shown);
	rc = write_capture(tfd, o->fmt, r, c, &b);
	if (rc < 0 && rc != -EBADMSG) {
		const char *m = emt_reader_errmsg(r);

		/* a failed write(2) leaves no message on the handle */
		cli_error("cannot write '%s': %s", esc, cli_escape_str(emsg, sizeof(emsg),
			  m && *m ? cli_capture_reason(m, c->seq, rc) : strerror(-rc)));
		close(tfd);
		return -1;
	}
	if (rc == -EBADMSG) {
		cli_escape_str(emsg, sizeof(emsg),
			       cli_capture_reason(emt_reader_errmsg(r), c->seq, rc));
		if (!o->force) {
			cli_error("'%s': capture %" PRIu64 ": %s (use --force to write it anyway)",
				  cli_archive(), c->seq, emsg);
			close(tfd);
			return -1;
		}
		cli_warn("'%s': capture %" PRIu64 ": %s; writing it anyway (--force)",
			 cli_archive(), c->seq, emsg);
		damaged = 1;
	}
	warn_gaps(r, c);
	if (sha && (rc = file_sha256(tfd, sha)) < 0) {
		cli_error("cannot read back '%s': %s", esc, strerror(-rc));
		close(tfd);
		return -1;
	}

	/* Without --force, linkat fails on an existing name: no overwrite,
	 * even in a race.  With it, link under a private name in the same
	 * directory and rename over the target. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tfd);
	if (!o->force) {
		rc = linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
	} else {
		snprintf(tmp, sizeof(tmp), "%s/.emt-extract.%d.%u", dir, (int)getpid(), counter++);
		rc = linkat(AT_FDCWD, proc, dirfd, tmp, AT_SYMLINK_FOLLOW);
		if (rc == 0 && renameat(dirfd, tmp, dirfd, name) != 0) {
			int err = errno;

			unlinkat(dirfd, tmp, 0);
			errno = err;
			rc = -1;
		}
	}
	if (rc != 0) {
		cli_error("cannot create '%s': %s%s", esc, strerror(errno),
			  errno == EEXIST ? " (use --force to overwrite)" : "");
		close(tfd);
		return -1;
	}
	if (close(tfd) != 0) {
		cli_error("cannot write '%s': %s", esc, strerror(errno));
		return -1;
	}
	return damaged;
}

static int extract_one(struct emt_reader *r, const struct opts *o)
{
	struct emt_capture c;
	uint8_t *buf = NULL;
	size_t cap = 0;
	char esc[512];
	int fd, rc, ret = CLI_EXIT_FAIL;
	int to_stdout = !o->out || !strcmp(o->out, "-");

	rc = emt_reader_capture(r, o->seq, &c);
	if (rc == -ENOENT) {
		cli_error("'%s': no capture with seq %" PRIu64,
			  cli_escape_str(esc, sizeof(esc), o->path), o->seq);
		return CLI_EXIT_FAIL;
	} else if (rc < 0) {
		cli_error("'%s': capture %" PRIu64 ": %s", cli_archive(), o->seq,
			  cli_escape_str(esc, sizeof(esc),
					 cli_capture_reason(emt_reader_errmsg(r), o->seq, rc)));
		return CLI_EXIT_FAIL;
	}
	if (!to_stdout && o->fmt != FMT_HEX) {
		char dir[4096];
		const char *slash = strrchr(o->out, '/');

		if (!slash)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == o->out)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - o->out), o->out);
		rc = stream_to_file(r, o, AT_FDCWD, dir, o->out, o->out, &c, NULL);
		if (rc != -2) {
			ret = rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
			goto out;
		}
	}
	if (!to_stdout && check_target(AT_FDCWD, o->out, o->out, o->force))
		goto out;
	if (load_capture(r, &c, &buf, &cap, o->force) < 0)
		goto out;
	if (to_stdout) {
		fd = STDOUT_FILENO;
	} else {
		fd = open_out(AT_FDCWD, o->out, o->force);
		if (fd < 0) {
			cli_error("cannot create '%s': %s%s",
				  cli_escape_str(esc, sizeof(esc), o->out), strerror(errno),
				  errno == EEXIST ? " (use --force to overwrite)" : "");
			goto out;
		}
	}
	{
		struct body b = { .r = r, .data = buf, .force = o->force };

		rc = write_capture(fd, o->fmt, r, &c, &b);
	}
	if (!to_stdout && close(fd) != 0 && !rc)
		rc = -errno;
	if (rc < 0) {
		if (to_stdout)
			cli_error("cannot write to standard output: %s", strerror(-rc));
		else
			cli_error("cannot write '%s': %s", cli_escape_str(esc, sizeof(esc), o->out),
				  strerror(-rc));
		goto out;
	}
	ret = CLI_EXIT_OK;
out:
	free(buf);
	return ret;
}

/* Number of decimal digits of v, at least `min`, so names sort by seq. */
static int seq_width(uint64_t v, int min)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n < min ? min : n;
}

static int extract_all(struct emt_reader *r, const struct opts *o)
{
	struct emt_capture *list = NULL;
	size_t n = 0, bcap = 0;
	uint8_t *buf = NULL;
	char esc[512], name[128], shown[4096 + 128];
	uint8_t sha[EMT_SHA256_LEN];
	char shahex[2 * EMT_SHA256_LEN + 1];
	int dirfd = -1, mfd = -1, rc, ret = CLI_EXIT_FAIL, width, failures = 0;
	FILE *mf = NULL;
	struct cli_json *j = NULL;
	uint64_t written = 0;

	rc = cli_capture_list(r, &o->f, &list, &n);
	if (rc < 0) {
		cli_read_failed(r, rc);
		goto out;
	}

	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
		cli_error("cannot create directory '%s': %s",
			  cli_escape_str(esc, sizeof(esc), o->dir), strerror(errno));
		goto out;
	}
	dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		cli_error("cannot open directory '%s': %s",
			  cli_escape_str(esc, sizeof(esc), o->dir), strerror(errno));
		goto out;
	}
	mfd = open_out(dirfd, "manifest.json", o->force);
	if (mfd < 0 || !(mf = fdopen(mfd, "w")) || !(j = cli_json_new(mf))) {
		cli_error("cannot create '%s/manifest.json': %s%s",
			  cli_escape_str(esc, sizeof(esc), o->dir), strerror(errno),
			  errno == EEXIST ? " (use --force to overwrite)" : "");
		if (mfd >= 0 && !mf)
			close(mfd);
		goto out;
	}
	fputs("[\n", mf);

	width = seq_width(n ? list[n - 1].seq : 0, 6);
	for (size_t i = 0; i < n; i++) {
		const struct emt_capture *cp = &list[i];
		int damaged, fd;

		/* Only numbers go into names: archive strings never do. */
		snprintf(name, sizeof(name), "%0*" PRIu64 "-pid%" PRIu32 "-0x%" PRIx64
			 "-v%" PRIu32 ".%s", width, cp->seq, cp->pid, cp->addr,
			 cp->version, fmt_ext[o->fmt]);
		snprintf(shown, sizeof(shown), "%s/%s", o->dir, name);
		damaged = o->fmt == FMT_HEX ? -2 :
			  stream_to_file(r, o, dirfd, ".", name, shown, cp, sha);
		if (damaged == -1) {
			failures++;
			continue;
		}
		if (damaged >= 0)
			goto written;
		damaged = load_capture(r, cp, &buf, &bcap, o->force);
		if (damaged < 0) {
			failures++;
			continue;
		}
		fd = open_out(dirfd, name, o->force);
		if (fd < 0) {
			cli_error("cannot create '%s/%s': %s%s",
				  cli_escape_str(esc, sizeof(esc), o->dir), name,
				  strerror(errno),
				  errno == EEXIST ? " (use --force to overwrite)" : "");
			failures++;
			continue;
		}
		{
			struct body b = { .r = r, .data = buf, .force = o->force };

			rc = write_capture(fd, o->fmt, r, cp, &b);
		}
		if (!rc)
			rc = file_sha256(fd, sha);
		if (close(fd) != 0 && !rc)
			rc = -errno;
		if (rc < 0) {
			cli_error("cannot write '%s/%s': %s",
				  cli_escape_str(esc, sizeof(esc), o->dir), name,
				  strerror(-rc));
			failures++;
			continue;
		}
written:
		if (written++)
			fputc(',', mf);
		cli_json_start_object(j);
		cli_json_kstr(j, "file", name);
		cli_json_kstr(j, "format", o->fmt == FMT_ELF ? "elf" :
			      o->fmt == FMT_HEX ? "hex" : "raw");
		emt_hex(sha, EMT_SHA256_LEN, shahex);
		cli_json_kstr(j, "file_sha256", shahex);
		rc = cli_json_capture_fields(j, r, cp);
		cli_json_kbool(j, "damaged", damaged > 0);
		cli_json_end_object(j);
		if (rc < 0)
			cli_warn("'%s': capture %" PRIu64 ": incomplete manifest entry: %s",
				 cli_archive(), cp->seq,
				 cli_escape_str(esc, sizeof(esc),
						cli_capture_reason(emt_reader_errmsg(r), cp->seq, rc)));
	}
	fputs("]\n", mf);
	ret = failures ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	if (failures)
		cli_error("'%s': %d of %zu capture%s not extracted", cli_archive(), failures, n,
			  n == 1 ? "" : "s");
out:
	cli_json_free(j);
	if (mf && fclose(mf) != 0) {
		cli_error("cannot write '%s/manifest.json': %s",
			  cli_escape_str(esc, sizeof(esc), o->dir), strerror(errno));
		ret = CLI_EXIT_FAIL;
	}
	if (dirfd >= 0)
		close(dirfd);
	free(buf);
	free(list);
	return ret;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seq",       1, NULL, 's' },
		{ "output",    1, NULL, 'o' },
		{ "format",    1, NULL, 'f' },
		{ "all",       0, NULL, 'a' },
		{ "directory", 1, NULL, 'd' },
		{ "force",     0, NULL, OPT_FORCE },
		CLI_FILTER_LONGOPTS_END,
	};
	struct opts o;
	struct emt_reader *r;
	char esc[256];
	int c, rc;

	cli_init("emt-extract", argv);
	memset(&o, 0, sizeof(o));
	while ((c = getopt_long(argc, argv, "s:o:f:ad:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (cli_seq_opt(optarg, &o.seq))
				return CLI_EXIT_USAGE;
			o.has_seq = 1;
			break;
		case 'o': o.out = optarg; break;
		case 'f':
			if (!strcmp(optarg, "raw"))
				o.fmt = FMT_RAW;
			else if (!strcmp(optarg, "elf"))
				o.fmt = FMT_ELF;
			else if (!strcmp(optarg, "hex"))
				o.fmt = FMT_HEX;
			else if (!strcmp(optarg, "perfmap"))
				o.perf = CLI_PERF_MAP;
			else if (!strcmp(optarg, "jitdump"))
				o.perf = CLI_PERF_JITDUMP;
			else
				return cli_usage("invalid value '%s' for --format: expected raw, elf, hex, perfmap or jitdump",
						 cli_escape_str(esc, sizeof(esc), optarg));
			break;
		case 'a': o.all = 1; break;
		case 'd': o.dir = optarg; break;
		case OPT_FORCE: o.force = 1; break;
		default:
			rc = cli_filter_common_opt(&o.f, c, optarg, usage_text);
			if (rc != CLI_OPT_TAKEN)
				return rc;
			o.filters = 1;
			break;
		}
	}
	o.path = cli_archive_operand(argc, argv);
	if (!o.path)
		return CLI_EXIT_USAGE;
	if (o.perf && (o.has_seq || o.all || o.out))
		return cli_usage("--format perfmap/jitdump writes one file per process into -d DIR;"
				 " select captures with the filters, not --seq, --all or -o");
	if (o.perf)
		return cli_filter_check(&o.f) ? CLI_EXIT_USAGE :
			cli_perf_export(o.path, &o.f, o.perf, o.dir, o.force);
	if (o.all == o.has_seq)
		return cli_usage("give exactly one of --seq N and --all");
	if (o.all && !o.dir)
		return cli_usage("--all needs an output directory (-d DIR)");
	if (o.all && o.out)
		return cli_usage("--output is for --seq; --all writes into -d DIR");
	if (!o.all && o.dir)
		return cli_usage("-d DIR is for --all; use -o OUT with --seq");
	if (!o.all && o.filters)
		return cli_usage("filters apply to --all only");
	if (o.out && !*o.out)
		return cli_usage("empty output file name");
	if (o.dir && !*o.dir)
		return cli_usage("empty directory name");
	if (cli_filter_check(&o.f))
		return CLI_EXIT_USAGE;
	/* Binary on a terminal helps nobody and may reprogram it. */
	if (!o.all && !o.out && o.fmt != FMT_HEX && isatty(STDOUT_FILENO))
		return cli_usage("refusing to write binary data to a terminal; use -o FILE or -o -");
	cli_set_archive(o.path);

	r = cli_open_archive(o.path);
	if (!r)
		return CLI_EXIT_FAIL;
	rc = o.all ? extract_all(r, &o) : extract_one(r, &o);
	emt_reader_close(r);
	return rc;
}
