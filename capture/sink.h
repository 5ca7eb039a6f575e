/*
 * sink.h - the archive writing path shared by every capture engine.
 *
 * The sink turns what an engine observes (a process appeared, a range was
 * mapped/protected/unmapped, bytes were read) into archive rows through
 * format/emt_archive.h.  It owns the region tracker: for every followed
 * process it knows which mapping ("region") a range belongs to, so repeated
 * captures of one mapping become versions 1..K of one region, and which
 * regions are currently writable+executable (RWX) and must be captured when
 * they stop being writable, are unmapped, or the process execs/exits.
 *
 * All functions return 0 (or a documented non-negative value) or -errno
 * with the message in the session (emt_session_fail).  Thread-safety: the
 * sink is called from one engine thread; emt_writer itself is thread-safe.
 */
#ifndef EMT_CAPTURE_SINK_H
#define EMT_CAPTURE_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "emt_archive.h"

struct emt_session;
struct emt_sink;

/* Identity of what backs a mapping, from the syscall or /proc/PID/maps. */
struct sink_backing {
	uint32_t kind;          /* enum emt_backing */
	const char *path;       /* NULL for anonymous */
	uint64_t inode, dev, offset;
};

struct emt_sink *sink_open(struct emt_session *s,
			   const struct emt_writer_opts *wo);
/* Seals the archive (emt_writer_close) and frees the sink. */
int sink_close(struct emt_sink *k);
/* Same, copying the seal digest to `seal` (may be NULL) on success; with
 * `discard`, abandons the archive instead of sealing it (the caller then
 * removes the file: see emt_capture_close). */
int sink_close_seal(struct emt_sink *k, uint8_t seal[EMT_SHA256_LEN], int discard);
struct emt_writer *sink_writer(struct emt_sink *k);

/* A process became followed (launch, attach, fork/clone of a followed
 * process).  exe/cmdline are read from /proc when NULL. */
int sink_process_start(struct emt_sink *k, pid_t pid, pid_t ppid,
		       uint64_t time_ns);
/* The process image was replaced by execve (regions are closed and a new
 * process row describes the new image; for a pid not yet known this is
 * the same as sink_process_start). */
int sink_process_exec(struct emt_sink *k, pid_t pid, uint64_t time_ns);
/* Same with the new image's executable path and command line (args
 * joined by ' ') as seen at exec time; NULL ones are read from /proc. */
int sink_process_exec_image(struct emt_sink *k, pid_t pid, uint64_t time_ns,
			    const char *exe, const char *cmdline);
int sink_process_exit(struct emt_sink *k, pid_t pid, uint64_t time_ns,
		      int status);

/* A range of `pid` was mapped or changed protection to `prot`.  Returns the
 * region id covering [addr, addr+len) (creating the region if the range is
 * new or was replaced), or -errno. */
int64_t sink_region_update(struct emt_sink *k, pid_t pid, uint64_t addr,
			   uint64_t len, uint32_t prot,
			   const struct sink_backing *b, uint64_t time_ns);
/* A range was unmapped (or replaced by MAP_FIXED / mremap). */
int sink_region_unmap(struct emt_sink *k, pid_t pid, uint64_t addr,
		      uint64_t len, uint64_t time_ns);

/* Records a capture of `size` bytes at `addr` in region `region_id`
 * (from sink_region_update).  `data` holds the bytes, gap pages zeroed and
 * listed in gaps.  `regs` may be NULL.  Version numbers are assigned by
 * the archive.  On success returns 0 and, if seq_out, the capture seq. */
int sink_capture(struct emt_sink *k, int64_t region_id, pid_t pid, pid_t tid,
		 uint64_t addr, uint64_t size, const void *data,
		 const struct emt_gap *gaps, size_t ngaps,
		 enum emt_trigger trigger, uint32_t prot_before,
		 uint32_t prot_after, uint64_t time_ns,
		 const struct emt_regs_x86_64 *regs, uint64_t *seq_out);

/* Adds a syscall event to the timeline. */
int sink_event(struct emt_sink *k, const struct emt_event *e);
/* Adds lost events of `kind` ("ringbuf", ...). */
int sink_loss(struct emt_sink *k, const char *kind, uint64_t count,
	      pid_t pid, uint64_t time_ns);

/* Periodic work: commits batches older than the commit interval. */
int sink_tick(struct emt_sink *k);

/* Regions of `pid` currently tracked as writable+executable, for the
 * engines' capture-at-munmap/exec/exit and sampling.  Calls fn for each;
 * stops early if fn returns non-zero and returns that value. */
struct sink_rwx {
	int64_t  region_id;
	uint64_t addr, len;
	uint32_t prot;
};
int sink_for_each_rwx(struct emt_sink *k, pid_t pid,
		      int (*fn)(void *ctx, const struct sink_rwx *r), void *ctx);

/* Baseline of a process found running (attach): its existing executable
 * memory.  Mappings backed by a regular file on disk become regions only
 * (their bytes are the file) unless capture_files; every other executable
 * mapping (anonymous, memfd, deleted, shared, device; not [vdso]/[vsyscall])
 * is read and captured with trigger "baseline".  For each captured mapping
 * that is writable, or shared and not a plain file (its bytes can still
 * change), fn(ctx, map, region_id) is called so the engine can keep
 * watching it; a non-zero return stops the walk and is returned.  fn may
 * be NULL.  Returns 0 or -errno (-ESRCH if the process vanished). */
struct proc_map;
int sink_baseline(struct emt_sink *k, pid_t pid, int capture_files,
		  int (*fn)(void *ctx, const struct proc_map *m, int64_t region_id),
		  void *ctx);

/* ---- Injections (issue 15, capture/inject.h) ---- */

/* The archive process id of pid's current image, 0 if pid is not
 * followed (engine thread). */
int64_t sink_process_id(struct emt_sink *k, pid_t pid);
/* Records injection *inj, shown by capture `seq` (0: none; inj->seq is
 * set to it): its row (inj->id is set), the follow reason of the victim's
 * process row `follow_process_id` if > 0, and its range, so that later
 * captures of the victim overlapping it are linked to it (sink_capture).
 * Returns 0 or -errno. */
int sink_injection(struct emt_sink *k, struct emt_injection *inj, uint64_t seq,
		   int64_t follow_process_id);

/* ---- Alerts (issue 16, capture/model.h) ---- */
/* Records that capture `seq` was made at alert `alert_id`
 * (alert_captures).  Returns 0 or -errno (message on the session). */
int sink_alert_capture(struct emt_sink *k, uint64_t seq, int64_t alert_id);

#endif /* EMT_CAPTURE_SINK_H */
