/*
 * emt_model.h - learned syscall models (SPEC.md section 16): which
 * sequences of N syscalls (N = the depth, 1 to 3) each program makes,
 * learned from benign runs, and checked by `emt-capture --model`.
 *
 * A program is identified by its executable's SHA-256 (with the path and
 * inode it was found at, to find it again), never by its 16-byte comm.
 * A thread's calls are a sequence that begins at the start marker "^"
 * (its first call after it was created or after execve), so with depth 2
 * the first window of a thread is ("^", first call), then (first,
 * second) and so on; depth 3 begins ("^", "^", first).
 *
 * Learning: emt_model_new, then for each input emt_model_learn_archive
 * (the syscalls table of an archive captured with `--syscalls all`) or
 * emt_model_learn_strace (an `strace -f -ttt` log), then emt_model_json.
 * Checking: emt_model_parse / emt_model_load, then the accessors.
 *
 * Conventions of emt_archive.h: 0 or -errno (NULL with errno), never
 * prints; messages go to the caller's buffer (err, cap), lowercase,
 * naming what is wrong.
 */
#ifndef EMT_MODEL_H
#define EMT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EMT_MODEL_FORMAT    "emt-syscall-model"
#define EMT_MODEL_VERSION   1
#define EMT_MODEL_DEPTH_MIN 1
#define EMT_MODEL_DEPTH_MAX 3
#define EMT_MODEL_DEPTH_DEFAULT 2
#define EMT_MODEL_START     "^"         /* the start of a thread's sequence */
/* Not part of any sequence, in learning or checking: rt_sigreturn ends a
 * signal handler, after whatever call the signal happened to follow. */
#define EMT_MODEL_SIGRETURN "rt_sigreturn"
#define EMT_MODEL_FILE_MAX  (64u << 20) /* bytes of a model file read at most */
#define EMT_MODEL_TRANS_MAX (1u << 22)  /* transitions of one model at most */
#define EMT_MODEL_NAMES_MAX 2048u       /* distinct syscall names at most */

struct emt_model;
struct emt_reader;

/* A program of a model (valid until the model is changed or freed). */
struct emt_model_prog {
	char     sha256[65];    /* lowercase hex */
	const char *path;       /* where it was found when learned */
	uint64_t inode, dev;    /* st_ino, st_dev there then */
	uint64_t threads;       /* sequences it was learned from */
	uint64_t calls;         /* syscalls it was learned from */
	size_t   ntrans;        /* allowed transitions */
};

/* What one learning call used and left (added to by each call). */
struct emt_model_learn_stats {
	uint64_t calls;         /* syscalls learned */
	uint64_t threads;       /* thread sequences begun */
	uint64_t no_image;      /* calls of no known program (before the first
				 * execve of a launched command, strace's own) */
	uint64_t unresolved;    /* calls of programs whose executable could not
				 * be read at learn time (skipped) */
	uint64_t lines_skipped; /* strace lines that are no call (signals, exits) */
};

/* A new empty model of `depth` (1..3).  NULL with errno EINVAL or ENOMEM. */
struct emt_model *emt_model_new(int depth);
/* Frees m (NULL accepted). */
void emt_model_free(struct emt_model *m);

int emt_model_depth(const struct emt_model *m);
size_t emt_model_nprograms(const struct emt_model *m);
/* Program i (0-based, in the model's order: path, then SHA-256), or NULL. */
const struct emt_model_prog *emt_model_program(const struct emt_model *m, size_t i);
/* Transition t of program i: names[0..depth) get its syscall names
 * (EMT_MODEL_START for the start marker), oldest first.  Transitions are
 * sorted by their names.  Returns 0 or -EINVAL. */
int emt_model_transition(const struct emt_model *m, size_t i, size_t t,
			 const char *names[EMT_MODEL_DEPTH_MAX]);

/* Identity of the executable at `path`: its real path (malloc'd into
 * *real), SHA-256 (hex into sha256), st_ino and st_dev.  Returns 0, or
 * -errno of realpath/open/read (ENOEXEC: not a regular file, EFBIG: over
 * 1 GiB) with err
 * set. */
int emt_model_identify(const char *path, char **real, char sha256[65], uint64_t *inode,
		       uint64_t *dev, char *err, size_t cap);

/* Learns from the syscalls table of archive r (opened by the caller):
 * each call is attributed to the process image (processes row) of its
 * pid that began last before it, whose executable (processes.exe) is
 * identified now with emt_model_identify, and each thread of an image is
 * one sequence.  `name` names the archive in messages and in the
 * model's sources.  Returns 0 (st added to), -ENODATA (the archive has
 * no recorded syscalls: captured without --syscalls), or -errno. */
int emt_model_learn_archive(struct emt_model *m, struct emt_reader *r, const char *name,
			    struct emt_model_learn_stats *st, char *err, size_t cap);

/* Learns from an `strace -f -ttt` log of len bytes: lines "PID TIME
 * name(...) = ret" (or "[pid PID] TIME ..." or without PID for a single
 * process), with <unfinished ...> / <... resumed> pairs counted at their
 * start.  A process's program is the path of its last successful
 * execve, identified now; a child inherits its parent's (clone, fork,
 * vfork, clone3).  Returns 0, -ENODATA (no call line at all: not an
 * strace log), or -errno. */
int emt_model_learn_strace(struct emt_model *m, const char *buf, size_t len, const char *name,
			   struct emt_model_learn_stats *st, char *err, size_t cap);

/* Records an input the model was learned from (kind "archive" or
 * "strace", its path and the SHA-256 of its bytes).  Returns 0, -EINVAL,
 * -ENOMEM. */
int emt_model_add_source(struct emt_model *m, const char *kind, const char *path,
			 const char sha256[65]);

/* The model as JSON text (SPEC.md section 16), deterministic for the
 * same content, malloc'd NUL-terminated into *out.  Returns 0 or
 * -ENOMEM. */
int emt_model_json(const struct emt_model *m, char **out);

/* Parses a model file's text (len bytes).  Returns the model, or NULL
 * with errno EINVAL (not a model: message says where), EPROTONOSUPPORT
 * (a newer version), E2BIG (beyond the bounds above), ENOMEM. */
struct emt_model *emt_model_parse(const char *buf, size_t len, char *err, size_t cap);
/* Reads and parses file `path`; also its SHA-256 into sha256 (may be
 * NULL).  NULL with errno as emt_model_parse, or of open/read. */
struct emt_model *emt_model_load(const char *path, char sha256[65], char *err, size_t cap);

/* The x86-64 number of syscall `name` (the UAPI header's names: fstat,
 * uname, umount2), or -1.  Linear: for set-up, not per call. */
int emt_syscall_nr(const char *name);
/* The name of syscall `nr`, or NULL. */
const char *emt_syscall_name(int nr);

/* A thread's position in its sequence, for emt_model_step. */
struct emt_model_seq {
	int      prog;          /* program index, -1: none */
	uint16_t h[EMT_MODEL_DEPTH_MAX - 1]; /* last calls (name ids), oldest first */
};
/* Begins a sequence of program `prog` at the start marker. */
void emt_model_seq_begin(struct emt_model_seq *q, int prog);
/* Appends call `name` to q's sequence.  learn != 0: adds the window it
 * makes to the program's transitions (and counts the call); learn == 0:
 * only checks it.  Returns 1 if the window is (now) allowed, 0 if not
 * (check only), or -EINVAL/-ENOMEM/-E2BIG. */
int emt_model_step(struct emt_model *m, struct emt_model_seq *q, const char *name, int learn);

#ifdef __cplusplus
}
#endif
#endif /* EMT_MODEL_H */
