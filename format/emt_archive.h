/*
 * emt_archive.h - the emt archive library (format v1): public API.
 *
 * An emt archive is one SQLite file holding every code capture of a
 * session, content-addressed by SHA-256 and zstd-compressed.  SPEC.md is
 * the normative description of the file; this header is the C interface
 * to it.  Capture engines write archives only through emt_writer_*;
 * reader tools read them only through emt_reader_*.
 *
 * Conventions (libbpf 1.0 style):
 *  - Functions returning int return 0 (or a documented non-negative value)
 *    on success and a negative errno on failure.  Functions returning a
 *    pointer return NULL and set errno on failure.
 *  - The library never prints, never exits and never aborts on bad input.
 *    After a failure, emt_writer_errmsg()/emt_reader_errmsg() return a
 *    lowercase, human readable message naming the object at fault
 *    (e.g. "chunk 3 of capture 17: hash mismatch").  The message is owned
 *    by the handle and valid until the next call on it.
 *  - Free/close functions accept NULL.
 *  - Times are nanoseconds of CLOCK_BOOTTIME on the capturing host unless a
 *    name says otherwise; emt_reader_wall_ns() converts to UTC.
 *  - Addresses and sizes are uint64_t; protections are PROT_* bit sets.
 *
 * Error codes used throughout:
 *  -EINVAL   bad argument
 *  -ENOMEM   allocation failed
 *  -EEXIST   output exists and EMT_CREATE_FORCE was not given
 *  -ELOOP    output path is a symlink
 *  -ENOTSUP  not an emt archive (wrong application_id / not SQLite)
 *  -EPROTONOSUPPORT  written by a newer emt (unknown major or required
 *            feature)
 *  -EBADMSG  damaged data: a hash, size or reference does not check out
 *  -E2BIG    a size in the archive exceeds a limit of SPEC.md
 *  -ENOENT   no such capture / region / row
 *  -EIO      SQLite or file I/O error (message has details)
 *  -ENOSPC   disk full while writing
 *  -ELOOP, -EINVAL (reader) the archive's WAL is a symbolic link or not
 *            a regular file: refused rather than read without it
 *
 * Writer failures that lose the open batch (I/O error, disk full, out of
 * memory inside SQLite) stop the writer: that call and every later one
 * return the first error, and the archive keeps what was committed
 * before (SPEC.md section 10).
 */
#ifndef EMT_ARCHIVE_H
#define EMT_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Constants shared by writer and reader (SPEC.md section "limits").   */

#define EMT_APPLICATION_ID   0x454d5431u   /* "EMT1" */
#define EMT_FORMAT_MAJOR     1
#define EMT_FORMAT_MINOR     2

#define EMT_SHA256_LEN       32
#define EMT_SIGNATURE_LEN    64                  /* Ed25519 */
#define EMT_CHUNK_SIZE_DEFAULT (64u * 1024u)
#define EMT_CHUNK_SIZE_MAX   (1u << 20)          /* 1 MiB */
#define EMT_CAPTURE_SIZE_MAX (1ull << 32)        /* 4 GiB per capture */
#define EMT_DELTA_DEPTH_MAX  16                  /* delta chain length */
#define EMT_STRING_MAX       (1u << 16)          /* meta/path/cmdline */

/* Why a capture was taken.  Stored as the lowercase strings of SPEC.md. */
enum emt_trigger {
	EMT_TRIGGER_MPROTECT = 1,       /* "mprotect": W->X at mprotect */
	EMT_TRIGGER_MMAP,               /* "mmap": exec mmap of memfd etc. */
	EMT_TRIGGER_FIRST_EXEC_FAULT,   /* "first-exec-fault" (ptrace) */
	EMT_TRIGGER_MUNMAP,             /* "munmap": RWX region unmapped */
	EMT_TRIGGER_EXIT,               /* "exit": RWX region at exit */
	EMT_TRIGGER_EXEC,               /* "exec": RWX region at execve */
	EMT_TRIGGER_BASELINE,           /* "baseline": existing code at attach */
	EMT_TRIGGER_SAMPLE,             /* "sample": periodic RWX sample */
	EMT_TRIGGER_PROTECT_W,          /* "protect-w": RWX region lost W */
	EMT_TRIGGER_INJECT,             /* "inject" (1.2): written by another process */
	EMT_TRIGGER_ALERT,              /* "alert" (1.2): at a syscall model alert */
};

/* What backs a region. */
enum emt_backing {
	EMT_BACKING_ANON = 1,   /* "anon" */
	EMT_BACKING_MEMFD,      /* "memfd" */
	EMT_BACKING_FILE,       /* "file": regular file on disk */
	EMT_BACKING_DELETED,    /* "deleted": file unlinked after open */
	EMT_BACKING_SHARED,     /* "shared": MAP_SHARED anon / shm */
	EMT_BACKING_OTHER,      /* "other": device or special file */
};

/* Why pages of a capture could not be read. */
enum emt_gap_reason {
	EMT_GAP_UNREADABLE = 1, /* "unreadable": read failed (EFAULT/EIO) */
	EMT_GAP_UNMAPPED,       /* "unmapped": range vanished before read */
	EMT_GAP_TRUNCATED,      /* "truncated": file mapping beyond EOF */
	EMT_GAP_LIMIT,          /* "limit": over a configured size limit */
};

/* Returns the SPEC.md string for an enum value, or NULL if unknown. */
const char *emt_trigger_name(enum emt_trigger t);
const char *emt_backing_name(enum emt_backing b);
const char *emt_gap_reason_name(enum emt_gap_reason r);
/* Parses a SPEC.md string; returns the value or -EINVAL. */
int emt_trigger_parse(const char *s);

/* ------------------------------------------------------------------ */
/* Records.  Strings are NUL-terminated UTF-8-or-not bytes from the    */
/* target: they are data, never trusted.  In records returned by the   */
/* reader, pointers are owned by the reader and valid until the next   */
/* call on the same iterator or handle.                                */

struct emt_process {
	int64_t  id;            /* archive's process id (assigned on add) */
	uint32_t pid;
	uint32_t ppid;
	uint64_t start_ns;
	uint64_t exit_ns;       /* 0 = not seen exiting */
	int32_t  exit_status;   /* wait(2) status, valid if has_exit */
	int32_t  has_exit;      /* 1 = exit recorded (exit_ns, exit_status) */
	const char *exe;        /* may be NULL */
	const char *cmdline;    /* args joined by ' ', may be NULL */
};

struct emt_region {
	int64_t  id;            /* archive's region id (assigned on add) */
	int64_t  process_id;    /* emt_process.id */
	uint32_t pid;
	uint32_t backing;       /* enum emt_backing */
	uint64_t start;
	uint64_t length;
	uint64_t created_ns;
	uint64_t gone_ns;       /* 0 = still mapped at end of capture */
	const char *path;       /* file/memfd name, may be NULL */
	uint64_t inode;
	uint64_t dev;
	uint64_t offset;        /* file offset of start */
	uint32_t nversions;     /* reader only: captures of this region */
	uint32_t prot;          /* protections when first recorded */
};

struct emt_capture {
	uint64_t seq;           /* global 1..N, assigned by the writer */
	int64_t  region_id;
	uint32_t version;       /* per-region 1..K, assigned by the writer */
	uint32_t pid;
	uint32_t tid;
	uint32_t trigger;       /* enum emt_trigger */
	uint32_t prot_before;
	uint32_t prot_after;
	uint64_t addr;
	uint64_t size;
	uint64_t time_ns;
	uint8_t  sha256[EMT_SHA256_LEN]; /* of all `size` bytes (gaps as 0) */
	uint32_t ngaps;         /* reader only */
	uint32_t has_regs;      /* reader only */
	uint64_t stored_bytes;  /* reader only: compressed bytes of new chunks */
};

/* x86-64 register snapshot.  The order of fields is the order of the
 * little-endian u64 array stored in the archive (SPEC.md "registers"). */
struct emt_regs_x86_64 {
	uint64_t r15, r14, r13, r12, rbp, rbx, r11, r10;
	uint64_t r9, r8, rax, rcx, rdx, rsi, rdi, orig_rax;
	uint64_t rip, cs, eflags, rsp, ss, fs_base, gs_base;
	uint64_t ds, es, fs, gs;
	uint64_t fault_addr;    /* 0 if not a fault */
};
#define EMT_ARCH_X86_64 "x86_64"

struct emt_event {
	int64_t  id;
	uint64_t time_ns;
	uint32_t pid;
	uint32_t tid;
	const char *syscall;    /* "mmap", "mprotect", "munmap", "exec", ... */
	uint64_t addr;
	uint64_t len;
	uint64_t prot;
	uint64_t flags;
	int64_t  fd;
	int64_t  ret;           /* syscall return, or 0 if unknown */
	uint64_t seq;           /* capture it caused, 0 = none */
	const char *detail;     /* free text (path, new addr ...), may be NULL */
};

struct emt_gap {
	uint64_t seq;
	uint64_t offset;        /* from capture addr, page aligned */
	uint64_t length;
	uint32_t reason;        /* enum emt_gap_reason */
	int32_t  err;           /* errno observed, 0 if n/a */
};

struct emt_loss {
	uint64_t time_ns;
	const char *kind;       /* "ringbuf", "capture-too-large", ... */
	uint64_t count;
	uint32_t pid;           /* 0 = unknown */
	uint32_t pad;
};

/* ------------------------------------------------------------------ */
/* Signing keys (SPEC.md section 10.2)                                 */

/* An Ed25519 key pair or public key.  Files are PEM as the openssl
 * command writes them: an unencrypted PKCS#8 private key ("BEGIN PRIVATE
 * KEY"), a SubjectPublicKeyInfo public key ("BEGIN PUBLIC KEY"). */
struct emt_key;

/* Loads the private key at `path`.  The file must be a regular file that
 * neither group nor others may access (mode 0600 or stricter: a key
 * others can read signs nothing about who signed).  Returns the key, or
 * NULL with errno set: ENOENT, EACCES (mode, or unreadable), EINVAL (not
 * a PEM file, encrypted, not a private key, not Ed25519, not a regular
 * file), EFBIG (over 64 KiB), ENOMEM; `*errmsg` (if non-NULL) then gets
 * a malloc'd message naming the file, e.g. "'k.pem': not an Ed25519 key
 * (RSA)", which the caller frees (NULL on success). */
struct emt_key *emt_key_load_private(const char *path, char **errmsg);
/* Loads the public key at `path` (any mode).  Same errors; a private
 * key file is refused (EINVAL: give the public key). */
struct emt_key *emt_key_load_public(const char *path, char **errmsg);
/* Frees the key (the private bytes are not kept anywhere else by the
 * library).  Accepts NULL. */
void emt_key_free(struct emt_key *k);
/* The key's fingerprint: 64 lowercase hex digits of the SHA-256 of its
 * DER SubjectPublicKeyInfo, owned by the key; NULL for NULL. */
const char *emt_key_fingerprint(const struct emt_key *k);
/* Generates a key pair: the private key into `priv_path` (mode 0600) and
 * the public key into `pub_path` (mode 0644), both created with
 * O_CREAT|O_EXCL|O_NOFOLLOW unless `force` (an existing regular file is
 * then replaced).  Copies the fingerprint into `fingerprint` (65 bytes,
 * may be NULL).  Returns 0, -EEXIST, -EINVAL (same path twice), -EIO, or
 * the -errno of the failed create/write, leaving neither file behind;
 * `*errmsg` as above ("cannot write 'k.pem': File exists"). */
int emt_key_generate(const char *priv_path, const char *pub_path, int force,
		     char fingerprint[2 * EMT_SHA256_LEN + 1], char **errmsg);

/* ------------------------------------------------------------------ */
/* Writer                                                              */

struct emt_writer;

/* Flags for emt_writer_create(). */
#define EMT_CREATE_FORCE  0x1u  /* replace an existing regular file */

struct emt_writer_opts {
	size_t   sz;            /* sizeof(struct emt_writer_opts) */
	uint32_t chunk_size;    /* 0 = EMT_CHUNK_SIZE_DEFAULT; power of 2 */
	int32_t  zstd_level;    /* 0 = library default (SPEC.md) */
	uint32_t commit_ms;     /* max age of an open batch, 0 = 1000 */
	uint32_t no_delta;      /* 1 = never store delta chunks */
	uint32_t flags;         /* EMT_CREATE_* */
	uint32_t pad;
	/* Private key to sign with (SPEC.md 10.2), or NULL.  The writer
	 * takes its own reference: the caller may free the key after
	 * emt_writer_create. */
	const struct emt_key *sign_key;
};

/* Creates a new archive at `path` (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600),
 * initialises its schema and meta (format version, writer version, host,
 * kernel, boot id, clock anchors, start time) and returns a handle.
 * `opts` may be NULL.  On failure returns NULL with errno set (EEXIST,
 * ELOOP, EACCES, ENOSPC, EINVAL for bad options, ENOTSUP when the
 * filesystem cannot give SQLite WAL mode, ...) and no file left behind;
 * `*errmsg` (if non-NULL) then receives a malloc'd message the caller
 * frees (NULL on success).  The handle owns two threads: a helper
 * (chunk hashing/compression on a second core) and a committer that
 * commits an open batch once it is opts.commit_ms old even if no call
 * comes (SPEC.md section 10).  Both block every signal.  A forked child
 * must not use or close a handle created by its parent.
 * With opts.sign_key (a private key, else EINVAL) the archive is signed
 * (SPEC.md 10.2): its public key is stored in meta, every commit that
 * adds captures or meta also writes a signed checkpoint in the same
 * transaction, and the seal is signed at close. */
struct emt_writer *emt_writer_create(const char *path,
				     const struct emt_writer_opts *opts,
				     char **errmsg);

/* Sets a meta key (e.g. "mode", "options", "target_cmdline"); `value`
 * is copied, up to EMT_STRING_MAX bytes.  Keys that the library owns
 * (SPEC.md 5.1: format_*, seal*, clock_*, features_*, start_ns, stop_ns,
 * writer_version, chunk_size, zstd_level) are refused with -EINVAL; a key
 * over 256 bytes or a longer value with -E2BIG.  Returns 0, -EINVAL,
 * -E2BIG, -ENOSPC, -EIO (message on the handle). */
int emt_writer_set_meta(struct emt_writer *w, const char *key,
			const char *value);

/* Adds a process row from p->pid, ppid, start_ns, exe, cmdline (and
 * exit_ns, exit_status, has_exit if already known).  Strings are copied,
 * truncated at EMT_STRING_MAX bytes.  On success sets p->id (1, 2, ... in
 * order of addition) and returns 0; else -EINVAL (NULL argument),
 * -ENOMEM, -ENOSPC, -EIO, with nothing added. */
int emt_writer_add_process(struct emt_writer *w, struct emt_process *p);
/* Records the exit of process `process_id` (an id returned by
 * emt_writer_add_process) at `exit_ns` with wait(2) status `status`;
 * sets has_exit.  Returns 0, -EINVAL (NULL writer, id <= 0), -ENOENT (no
 * such process), -ENOSPC, -EIO. */
int emt_writer_process_exit(struct emt_writer *w, int64_t process_id,
			    uint64_t exit_ns, int32_t status);

/* Adds a region row from r->process_id, pid, backing, start, length,
 * created_ns, gone_ns, path, inode, dev, offset, prot (nversions is
 * ignored).  r->process_id must be a process already added: the region's
 * captures' ledger entries cover its process row (SPEC.md 9.2).  The
 * path is copied, truncated at EMT_STRING_MAX bytes.  On success sets
 * r->id (1, 2, ...) and returns 0; else -EINVAL (NULL argument, unknown
 * backing, start + length past 2^64), -ENOENT (no such process),
 * -ENOMEM, -ENOSPC, -EIO, with nothing added. */
int emt_writer_add_region(struct emt_writer *w, struct emt_region *r);
/* Records that region `region_id` was unmapped or replaced at `gone_ns`
 * (its bytes are no longer needed as a delta base, so the writer frees
 * them).  Returns 0, -EINVAL (NULL writer), -ENOENT (no such region),
 * -ENOSPC, -EIO. */
int emt_writer_region_gone(struct emt_writer *w, int64_t region_id,
			   uint64_t gone_ns);

/* Adds a capture of c->size bytes at `data` for region c->region_id.
 * The writer assigns c->seq and c->version and computes c->sha256.
 * `gaps`/`ngaps` list unreadable page ranges (their bytes in `data` must
 * be zero; they are recorded, never presented as real content).
 * `regs` may be NULL.  Chunks are hashed, deduplicated, compressed or
 * delta-encoded against the region's previous version.  The capture is
 * durable once committed: by emt_writer_commit(), or at most
 * opts.commit_ms after its batch opened, by the committer thread, with no
 * further call needed.  Thread-safe with respect to other emt_writer_*
 * calls on the same handle (internally serialised).  c->size may be 0
 * (no chunks, sha256 of the empty string).  The capture must lie inside
 * its region as added ([start, start + length)), and gap offsets must be
 * multiples of 4096 (SPEC.md 5.4, 5.7).  `data`, `gaps` and `regs` are
 * only read during the call.  Returns 0, -EINVAL (bad trigger, capture
 * outside its region, gap outside the capture or not page aligned, NULL
 * data), -ENOENT (unknown region), -E2BIG (over EMT_CAPTURE_SIZE_MAX),
 * -ENOMEM, -ENOSPC, -EIO; on failure nothing of the capture is kept. */
int emt_writer_add_capture(struct emt_writer *w, struct emt_capture *c,
			   const void *data, const struct emt_gap *gaps,
			   size_t ngaps, const struct emt_regs_x86_64 *regs);

/* Adds a syscall event to the timeline (e->syscall is required; syscall
 * is copied up to 256 bytes, detail up to EMT_STRING_MAX).  On success
 * sets e->id (1, 2, ...) and returns 0; else -EINVAL (NULL argument or
 * syscall), -ENOSPC, -EIO. */
int emt_writer_add_event(struct emt_writer *w, struct emt_event *e);
/* Adds l->count lost events of kind l->kind (required, copied up to 256
 * bytes) for l->pid at l->time_ns, accumulated into the row of the same
 * (kind, pid) if there is one (count summed, last_ns the latest).
 * Returns 0, -EINVAL (NULL argument or kind), -ENOSPC, -EIO. */
int emt_writer_add_loss(struct emt_writer *w, const struct emt_loss *l);

/* Commits the open batch if it is older than opts.commit_ms.  The
 * committer thread does so anyway; calling this from a poll loop is
 * harmless.  Returns 1 if it committed, 0 if there was nothing due,
 * -EINVAL (NULL), or the -errno of a failed commit. */
int emt_writer_tick(struct emt_writer *w);
/* Commits the open batch now (0 if there is none).  Returns 0, -EINVAL
 * (NULL), or the -errno of a failed commit (-ENOSPC, -EIO), after which
 * the writer is stopped (see the top of this file). */
int emt_writer_commit(struct emt_writer *w);

/* Running totals, for progress lines. */
struct emt_writer_stats {
	uint64_t captures;
	uint64_t raw_bytes;      /* sum of capture sizes */
	uint64_t stored_bytes;   /* compressed bytes of chunks written */
	uint64_t chunks_new;
	uint64_t chunks_dedup;
	uint64_t chunks_delta;
	uint64_t events;
	uint64_t losses;         /* sum of loss counts */
	uint64_t gaps;
	uint64_t processes;
	uint64_t regions;
};
/* Copies the running totals (of what was added successfully, committed
 * or not) into *st.  Does nothing if either argument is NULL. */
void emt_writer_stats(struct emt_writer *w, struct emt_writer_stats *st);

/* Records the stop time, commits, writes the seal (ledger head and, with
 * ledger-v2, the table digests and seal_sha256 of SPEC.md 10.1),
 * checkpoints the WAL and closes so that a single self-contained file
 * remains.  The handle is freed whatever the result (w may be NULL: 0).
 * Returns 0 or -errno (the stopped writer's first error, -ENOSPC, -EIO);
 * on failure the archive keeps every capture committed so far and reads
 * as unsealed.  If `errmsg` is non-NULL it receives a malloc'd message
 * on failure (the caller frees it), NULL on success. */
int emt_writer_close(struct emt_writer *w, char **errmsg);

/* Copies the ledger head (SPEC.md section 9: the entry of the last
 * capture added, 32 zero bytes before the first) to `out`.  Call it after
 * the last capture to record the value out of band: after a clean close
 * it equals meta seal_ledger_head, and emt-verify recomputes it, so a
 * later rewrite of any capture (its row, bytes, gaps, registers, region
 * or process) cannot reproduce it.  Returns 0 or -EINVAL (NULL). */
int emt_writer_ledger_head(struct emt_writer *w, uint8_t out[EMT_SHA256_LEN]);

/* emt_writer_close() that also copies the seal digest (meta seal_sha256,
 * SPEC.md section 10: ledger head and digests of meta, processes,
 * regions, events and losses) to `seal` on success (`seal` may be NULL).
 * For out-of-band recording, it covers more than the ledger head. */
int emt_writer_close_seal(struct emt_writer *w, uint8_t seal[EMT_SHA256_LEN],
			  char **errmsg);

/* Frees the handle without sealing (what a crash leaves: committed data
 * stays, the open batch is dropped, the archive reads as unsealed).  For
 * tests and fatal paths.  Accepts NULL. */
void emt_writer_abandon(struct emt_writer *w);

/* The message of the last failure on `w` (lowercase, names the object),
 * owned by the handle and valid until the next call on it; "" if none
 * yet, "no writer" for NULL. */
const char *emt_writer_errmsg(const struct emt_writer *w);

/* Process-wide tuning for a program that writes archives at high rates:
 * turns off SQLite's memory statistics, which take a global mutex around
 * every allocation (8% of the writer's CPU per 4 KiB capture, measured by
 * bench/bench_writer).  SQLite allows this only before it is first used,
 * so call it at the start of main, before any thread.  Returns 0, or
 * -EBUSY if SQLite was already in use (harmless: it keeps its default).
 * Archives written either way are the same. */
int emt_writer_global_init(void);

/* ------------------------------------------------------------------ */
/* Reader                                                              */

struct emt_reader;

/* Opens an archive read-only.  The evidence file is never modified: if a
 * crashed writer left a WAL beside the real file (symbolic links are
 * resolved first), the file and WAL are copied to a private temporary
 * directory ($TMPDIR or /tmp, removed by emt_reader_close) and that copy
 * is opened; a WAL being rewritten by a live writer is copied again, for
 * up to about 2 s.  SQLite is put in defensive mode with trusted_schema
 * off, triggers and views disabled; the schema is validated against
 * SPEC.md before any query.  Returns the handle, or NULL with errno set:
 * ENOENT (no file), ENOTSUP (not an emt archive), EPROTONOSUPPORT
 * (written by a newer emt: major or required feature), EBADMSG (a damaged
 * emt archive: identifies as one but SQLite cannot read it, or its schema
 * or meta is broken), ELOOP / EINVAL / EACCES (its WAL is a symbolic
 * link, not a regular file, unreadable: refused, never read without it),
 * EAGAIN (a live writer kept changing it), ENOMEM, EIO.  `*errmsg` (if
 * non-NULL) receives a malloc'd message the caller frees, such as "not an
 * emt archive", "'x.emt': damaged archive: database disk image is
 * malformed" or "written by a newer emt (format 2); upgrade emt to read
 * it"; NULL on success. */
struct emt_reader *emt_reader_open(const char *path, char **errmsg);
/* Closes the archive, removes its private copy if one was made, and
 * frees the handle; every pointer it returned becomes invalid.  Iterators
 * must be freed first.  Accepts NULL. */
void emt_reader_close(struct emt_reader *r);
/* The message of the last failure on `r`, owned by the handle and valid
 * until the next call on it; "" if none yet, "no reader" for NULL. */
const char *emt_reader_errmsg(const struct emt_reader *r);

/* Archive summary for headers. */
struct emt_summary {
	uint32_t format_major, format_minor;
	uint32_t sealed;          /* 1 = sealed by a clean close */
	uint32_t pad;
	uint64_t start_ns, stop_ns; /* stop_ns 0 if unsealed */
	uint64_t processes, regions, captures, events, gaps;
	uint64_t losses;          /* sum of loss counts */
	uint64_t raw_bytes;       /* sum of capture sizes */
	uint64_t stored_bytes;    /* sum of stored chunk data */
};
/* Fills *s (zeroed first) from meta and the row counts.  Returns 0,
 * -EINVAL (NULL), or -EBADMSG / -EIO if a count could not be read (the
 * fields read so far are kept). */
int emt_reader_summary(struct emt_reader *r, struct emt_summary *s);

/* Returns the value of meta key `key` as a NUL-terminated string (an
 * embedded NUL ends it, SPEC.md section 4), owned by the reader and valid
 * until the next call on it; or NULL with errno ENOENT (no such key) or
 * EINVAL (NULL argument). */
const char *emt_reader_meta(struct emt_reader *r, const char *key);

/* Converts a capture-time ns (CLOCK_BOOTTIME) to ns since the Unix epoch
 * using the archive's clock anchors (SPEC.md section 4).  An archive
 * without valid anchors (or r NULL) gets time_ns back unchanged, so
 * callers should not present the result as a date then; no error is
 * reported. */
int64_t emt_reader_wall_ns(struct emt_reader *r, uint64_t time_ns);

/* Filter for iteration.  Zero fields mean "any". */
struct emt_filter {
	uint32_t pid;
	uint32_t trigger;         /* enum emt_trigger */
	int64_t  region_id;
	uint64_t since_ns;        /* wall ns since epoch, inclusive */
	uint64_t until_ns;        /* wall ns since epoch, inclusive */
	uint64_t min_size;
	uint64_t seq_from, seq_to;
};

/* Iterates captures in seq order matching `f` (NULL = all; copied, so
 * it need not outlive the call).  Returns the iterator, or NULL with
 * errno set (EINVAL for a NULL reader, ENOMEM, EBADMSG or EIO with the
 * message on the reader).
 * emt_capture_iter_next returns 1 with *c filled, 0 at end, or -errno
 * (-EBADMSG if the table is damaged, e.g. rows that repeat).  Rows are
 * returned as stored, even from a damaged archive (trigger is 0 if its
 * name is unknown): reading or verifying reports the damage.  The reader
 * must stay open while the iterator lives; emt_capture_iter_free frees
 * it (accepts NULL). */
struct emt_capture_iter;
struct emt_capture_iter *emt_reader_captures(struct emt_reader *r,
					     const struct emt_filter *f);
int emt_capture_iter_next(struct emt_capture_iter *it, struct emt_capture *c);
void emt_capture_iter_free(struct emt_capture_iter *it);

/* Fills *c with capture `seq`'s row (trigger 0 if its name is unknown).
 * Returns 0, -EINVAL (NULL), -ENOENT (no such capture), -EBADMSG/-EIO. */
int emt_reader_capture(struct emt_reader *r, uint64_t seq,
		       struct emt_capture *c);

/* Reads the bytes of capture `seq` into `buf` (capacity `cap`, must be at
 * least the capture's size).  Every chunk is size-checked before
 * decompression and verified against its hash, and the whole capture
 * against its SHA-256.  Returns 0 or -EBADMSG with the damage described in
 * the errmsg; with `force` set, damaged chunks are returned as far as they
 * decode (zero-filled beyond) and -EBADMSG still returned, so callers can
 * write them with a warning.  Also -EINVAL (NULL, or `cap` smaller than
 * the capture), -ENOENT (no such capture), -ENOMEM, -EIO. */
int emt_reader_read_capture(struct emt_reader *r, uint64_t seq, void *buf,
			    size_t cap, int force);
/* Same, streaming to a file descriptor chunk by chunk (bounded memory).
 * The whole-capture hash is checked at the end; the caller must discard
 * the output on -EBADMSG unless `force`.  A failed write(2) returns its
 * -errno (e.g. -ENOSPC, -EPIPE) with the message naming the capture. */
int emt_reader_write_capture(struct emt_reader *r, uint64_t seq, int fd,
			     int force);

/* Register snapshot of capture `seq` into *regs: 0, -EINVAL (NULL),
 * -ENOENT (none), -EBADMSG (not an x86_64 record of 224 bytes). */
int emt_reader_regs(struct emt_reader *r, uint64_t seq,
		    struct emt_regs_x86_64 *regs);

/* The gaps of capture `seq`, in offset order, into a malloc'd array
 * *gaps of *ngaps entries that the caller frees (NULL and 0 if none; a
 * capture that does not exist has none).  Reasons unknown to this
 * library are 0.  Returns 0, -EINVAL (NULL argument), -E2BIG (more gaps
 * than a 4 GiB capture can have pages), -ENOMEM, -EBADMSG / -EIO; on
 * failure *gaps is NULL. */
int emt_reader_gaps(struct emt_reader *r, uint64_t seq,
		    struct emt_gap **gaps, size_t *ngaps);

/* Iterators over processes, regions (with nversions), events and losses,
 * in id order; `pid` 0 = all.  The constructors return NULL with errno
 * set (EINVAL, ENOMEM, EBADMSG, EIO).  next returns 1 with the record
 * filled (its strings valid until the next call on the iterator), 0 at
 * end, or -errno (-EINVAL for a NULL argument or an iterator of another
 * kind, -EBADMSG for a damaged table).  The reader must stay open while
 * an iterator lives; emt_row_iter_free frees it (accepts NULL). */
struct emt_row_iter;
struct emt_row_iter *emt_reader_processes(struct emt_reader *r);
int emt_process_iter_next(struct emt_row_iter *it, struct emt_process *p);
struct emt_row_iter *emt_reader_regions(struct emt_reader *r, uint32_t pid);
int emt_region_iter_next(struct emt_row_iter *it, struct emt_region *rg);
struct emt_row_iter *emt_reader_events(struct emt_reader *r, uint32_t pid);
int emt_event_iter_next(struct emt_row_iter *it, struct emt_event *e);
struct emt_row_iter *emt_reader_losses(struct emt_reader *r);
int emt_loss_iter_next(struct emt_row_iter *it, struct emt_loss *l);
void emt_row_iter_free(struct emt_row_iter *it);

/* Fills *rg with region `id` (with nversions; its path valid until the
 * next emt_reader_region call).  Returns 0, -EINVAL (NULL), -ENOENT (no
 * such region), -EBADMSG/-EIO. */
int emt_reader_region(struct emt_reader *r, int64_t id,
		      struct emt_region *rg);

/* Full verification (SPEC.md sections 3, 5, 7-10).  Calls `report` (may
 * be NULL) once per problem found (item is e.g. "capture 17", "seal",
 * "stored chunk 9", "schema table 'x'"; message e.g. "chunk 3: hash
 * mismatch"; both valid during the call only) and continues.  Checks
 * SQLite's integrity (integrity_check: tables and indexes), the schema
 * against planted or altered objects, every capture (sequence, region,
 * bounds, chunks, content hash), the ledger chain (v1 or v2 rules), the
 * seal, gaps, registers, versions, and chunks referenced by no capture
 * (each also decoded and hash-checked).  Runs of one kind of problem
 * beyond 100 are summed up in one report.  If `st` is non-NULL it is
 * filled on success.  Returns 0 if intact, the number of problems (> 0)
 * if damaged, or -errno if verification could not run (-EINVAL, -ENOMEM,
 * -EIO). */
struct emt_verify_stats {
	uint64_t chunks, captures, ledger_entries;
	uint32_t sealed;
	uint32_t pad;
};
typedef void (*emt_verify_report_fn)(void *ctx, const char *item,
				     const char *message);
int emt_reader_verify(struct emt_reader *r, emt_verify_report_fn report,
		      void *ctx, struct emt_verify_stats *st);

/* Signature check (SPEC.md section 10.2). */
enum emt_sig_status {
	EMT_SIG_UNSIGNED = 0,   /* no signature meta: nothing to check */
	EMT_SIG_VALID,          /* sealed, and the seal's signature verifies */
	EMT_SIG_CHECKPOINT,     /* unsealed: valid up to a signed checkpoint */
	EMT_SIG_INVALID,        /* signed, but no valid signature covers it */
};
struct emt_sig_info {
	uint32_t status;          /* enum emt_sig_status */
	uint32_t trusted;         /* checked with the caller's key (same fingerprint) */
	char key_sha256[2 * EMT_SHA256_LEN + 1]; /* fingerprint the archive names, "" if none
					   * or not 64 hex digits */
	uint64_t captures;        /* captures in the archive */
	uint64_t covered;         /* captures 1..covered are covered by a valid signature */
	uint64_t checkpoints;     /* checkpoint rows */
	uint64_t checkpoints_valid; /* leading rows that verify and chain */
	uint64_t last_checkpoint_ns; /* time of the last valid one (boottime), 0 if none */
	uint32_t meta_covered;    /* meta as it is now is covered (seal, or last checkpoint) */
	uint32_t pad;
};
/* Checks the archive's signature: the seal's (sealed archives) and every
 * checkpoint's, with `trusted` if non-NULL (a public key the caller
 * trusts: the archive must name its fingerprint), else with the public
 * key stored in the archive, which only shows that the archive did not
 * change since whoever holds that key signed it.  Problems go to
 * `report` as for emt_reader_verify (items "signature", "checkpoint N").
 * It relies on the seal and ledger being checked by emt_reader_verify:
 * a signature vouches for seal_sha256 and checkpoint ledger entries, and
 * only emt_reader_verify shows that they match the content.  Fills *info
 * (zeroed first; may be NULL).  Returns 0 if nothing is wrong (also for
 * an unsigned archive: info->status says so), the number of problems
 * (> 0), or -EINVAL (NULL r) / -ENOMEM / -EIO. */
int emt_reader_verify_signature(struct emt_reader *r, const struct emt_key *trusted,
				emt_verify_report_fn report, void *ctx,
				struct emt_sig_info *info);

/* ------------------------------------------------------------------ */
/* Injections (format 1.2, SPEC.md section 15)                         */

/* How one process wrote into another (injections.method). */
enum emt_inject_method {
	EMT_INJECT_UNKNOWN = 0,         /* reader only: a name this library does not know */
	EMT_INJECT_VM_WRITEV = 1,       /* "process_vm_writev" */
	EMT_INJECT_POKETEXT,            /* "ptrace-poketext" */
	EMT_INJECT_POKEDATA,            /* "ptrace-pokedata" */
	EMT_INJECT_POKEUSER,            /* "ptrace-pokeuser" */
	EMT_INJECT_SETREGS,             /* "ptrace-setregs" */
	EMT_INJECT_SETFPREGS,           /* "ptrace-setfpregs" */
	EMT_INJECT_PROC_MEM,            /* "proc-mem": write/pwrite on /proc/PID/mem */
};
/* Its name, or NULL for a value out of range. */
const char *emt_inject_method_name(enum emt_inject_method m);
/* The method of a name, EMT_INJECT_UNKNOWN if none. */
enum emt_inject_method emt_inject_method_parse(const char *name);

/* One write of code or data into a process by another (SPEC.md 15). */
struct emt_injection {
	int64_t  id;            /* OUT of emt_writer_add_injection */
	uint64_t time_ns;
	uint32_t writer_pid, writer_tid;
	uint32_t victim_pid;
	uint32_t method;        /* enum emt_inject_method */
	uint64_t addr;          /* first byte written (SETREGS: the new rip) */
	uint64_t length;        /* bytes written (0 for SETREGS/SETFPREGS) */
	uint64_t word;          /* PTRACE_POKE*: the word written */
	uint32_t has_word;
	uint32_t pad;
	uint64_t seq;           /* the capture of the victim's bytes after the write, 0 none */
};

/* Adds an injections row (1.2 archives).  Sets inj->id.  Returns 0,
 * -EINVAL (NULL, unknown method, length over 4 GiB), -ENOTSUP (archive
 * of a format without the table), or the writer's -errno. */
int emt_writer_add_injection(struct emt_writer *w, struct emt_injection *inj);
/* Records that capture `seq` (a later capture of the victim overlapping
 * the injected range, e.g. its execution) shows what injection
 * `injection_id` wrote.  One link per capture: a second one for the same
 * seq fails with -EEXIST.  Returns 0, -EINVAL, -EEXIST, or -errno. */
int emt_writer_link_injection(struct emt_writer *w, uint64_t seq, int64_t injection_id);
/* Says why process row `process_id` is followed although the capture did
 * not launch, attach to or inherit it: `reason` "injected" (a followed
 * process wrote into it, or it was written into by one: injection
 * `injection_id`).  Returns 0, -EINVAL, -EEXIST (a reason already), -errno. */
int emt_writer_add_follow_reason(struct emt_writer *w, int64_t process_id,
				 const char *reason, int64_t injection_id);

/* The injections in id order (an archive before 1.2 has none: the
 * iterator is empty).  Same contract as the iterators above. */
struct emt_row_iter *emt_reader_injections(struct emt_reader *r);
int emt_injection_iter_next(struct emt_row_iter *it, struct emt_injection *inj);
/* The injection capture `seq` is linked to (injection_links), into
 * *injection_id.  Returns 1 if linked, 0 if not (or no such table), or
 * -errno. */
int emt_reader_capture_injection(struct emt_reader *r, uint64_t seq, int64_t *injection_id);
/* Why process row `process_id` is followed (follow_reasons): 1 with
 * *reason (valid until the next call on the reader; at most 31 bytes) and
 * *injection_id filled, 0 if no row, or -errno. */
int emt_reader_follow_reason(struct emt_reader *r, int64_t process_id,
			     const char **reason, int64_t *injection_id);
/* Recorded syscalls (format 1.2, table syscalls, SPEC.md 5.11)        */

/* One row of the syscalls table: a syscall of a followed thread recorded
 * by `emt-capture --syscalls`.  Per thread, rows in id order are in call
 * order. */
struct emt_syscall {
	int64_t  id;            /* arrival order */
	uint64_t time_ns;       /* entry, the clock of events.time_ns */
	uint64_t exit_ns;       /* 0 if it never returned */
	uint32_t pid, tid, uid, gid;
	uint32_t nr;            /* x86-64 syscall number */
	uint32_t returned;      /* 0: never returned (exit_group, killed, lost exit) */
	int64_t  ret;           /* return value, 0 if !returned */
	uint32_t flags;         /* EMT_SYSCALL_F_* */
	uint32_t pad;
	const char *name;       /* kernel name without sys_, e.g. "openat" */
	const char *args;       /* typed JSON array (SPEC.md 5.11) */
	const char *text;       /* strace-like argument list */
};
#define EMT_SYSCALL_F_CUT        0x1u   /* a string, array or buffer was cut short */
#define EMT_SYSCALL_F_UNREADABLE 0x2u   /* memory behind an argument was unreadable */
#define EMT_SYSCALL_F_NOENTRY    0x4u   /* the entry was lost: arguments unknown */
#define EMT_SYSCALL_F_NOROOM     0x8u   /* memory not read: the record was full */
/* args and text are at most this long (a record's memory, escaped, fits). */
#define EMT_SYSCALL_TEXT_MAX     (1u << 20)

/* Appends `n` rows in one batch (ids assigned in order; the rows' id
 * fields are ignored).  A format 1.2 writer only.  Returns 0 or -errno
 * (-EINVAL: a NULL argument or a row without name/args/text). */
int emt_writer_add_syscalls(struct emt_writer *w, const struct emt_syscall *rows, size_t n);

/* The rows of the syscalls table in id order, of `pid` (0 = all).  An
 * archive older than 1.2 has none (the iterator ends at once).  Strings
 * are valid until the next call on the iterator.  Iterator conventions
 * as for emt_reader_events. */
struct emt_row_iter *emt_reader_syscalls(struct emt_reader *r, uint32_t pid);
int emt_syscall_iter_next(struct emt_row_iter *it, struct emt_syscall *s);

/* ------------------------------------------------------------------ */
/* Syscall models and alerts (format 1.2, SPEC.md section 16)          */

/* One program of the syscall model a capture checked against
 * (`emt-capture --model`, table model_programs). */
struct emt_model_program_row {
	int64_t  id;            /* OUT of emt_writer_add_model_program; 1, 2, ... */
	char     sha256[65];    /* the executable's SHA-256, lowercase hex */
	const char *path;       /* its path in the model */
	uint64_t inode, dev;    /* st_ino, st_dev of the file the capture found there */
	uint64_t transitions;   /* allowed transitions in the model */
	uint32_t checked;       /* 1: the file at path had this SHA-256, so the
				 * program was checked; 0: not (missing, changed) */
	uint32_t pad;
};

/* What a capture did at an alert (alerts.action). */
enum emt_alert_action {
	EMT_ALERT_UNKNOWN = 0,  /* reader only: a name this library does not know */
	EMT_ALERT_CAPTURE = 1,  /* "capture" */
	EMT_ALERT_STOP,         /* "stop" */
	EMT_ALERT_KILL,         /* "kill" */
};
/* Its name, or NULL for a value out of range. */
const char *emt_alert_action_name(enum emt_alert_action a);
/* The action of a name, EMT_ALERT_UNKNOWN if none. */
enum emt_alert_action emt_alert_action_parse(const char *name);

/* One syscall transition not in the model (table alerts). */
struct emt_alert {
	int64_t  id;            /* OUT of emt_writer_add_alert */
	uint64_t time_ns;       /* the syscall's entry, boottime ns */
	uint32_t pid, tid;
	int64_t  program_id;    /* model_programs.id */
	uint32_t depth;         /* the model's depth N, 1..3 */
	uint32_t nr;            /* the syscall that made the transition */
	const char *name;       /* its name */
	const char *syscalls;   /* JSON array of the last N syscalls, oldest
				 * first, this one last: {"nr": N, "name": S};
				 * the start of a thread is {"nr": null, "name": "^"} */
	uint64_t rip;           /* user instruction pointer of the syscall */
	uint32_t action;        /* enum emt_alert_action */
	uint32_t pad;
	uint64_t suppressed;    /* alerts of this process suppressed by the
				 * rate limit since the previous row of it */
};

/* Adds a model_programs row.  Sets p->id.  Returns 0, -EINVAL (NULL,
 * a sha256 that is not 64 hex digits), -ENOTSUP (no such table), -errno. */
int emt_writer_add_model_program(struct emt_writer *w, struct emt_model_program_row *p);
/* Adds an alerts row.  Sets a->id.  Returns 0, -EINVAL (NULL argument,
 * depth out of 1..3, unknown action, no name or syscalls), -errno. */
int emt_writer_add_alert(struct emt_writer *w, struct emt_alert *a);
/* Records that capture `seq` (trigger alert) was made at alert
 * `alert_id`.  Returns 0, -EINVAL, -EEXIST (seq linked already), -errno. */
int emt_writer_link_alert(struct emt_writer *w, uint64_t seq, int64_t alert_id);

/* The model_programs rows, and the alerts, in id order (archives without
 * the tables: empty iterators).  Strings are valid until the next call
 * on the iterator.  Iterator conventions as for emt_reader_events. */
struct emt_row_iter *emt_reader_model_programs(struct emt_reader *r);
int emt_model_program_iter_next(struct emt_row_iter *it, struct emt_model_program_row *p);
struct emt_row_iter *emt_reader_alerts(struct emt_reader *r);
int emt_alert_iter_next(struct emt_row_iter *it, struct emt_alert *a);
/* The captures of alert `alert_id` (alert_captures), ascending seq, up to
 * cap of them into seqs.  Returns how many there are (may exceed cap),
 * 0 for none or no table, or -errno. */
int emt_reader_alert_captures(struct emt_reader *r, int64_t alert_id, uint64_t *seqs,
			      size_t cap);

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* SHA-256 of a buffer (OpenSSL). */
void emt_sha256(const void *data, size_t len, uint8_t out[EMT_SHA256_LEN]);
/* Lowercase hex of `n` bytes into `out` (2n+1 bytes). */
void emt_hex(const uint8_t *in, size_t n, char *out);

/* The library's version string, e.g. "0.1.0". */
const char *emt_version(void);

#ifdef __cplusplus
}
#endif
#endif /* EMT_ARCHIVE_H */
