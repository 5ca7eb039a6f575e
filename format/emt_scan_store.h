/*
 * emt_scan_store.h - recording rule-scan matches in an archive (SPEC.md
 * section 14, "Annotation tables: scans and scan_matches").
 *
 * Part of the public API of libemtformat (conventions of emt_archive.h:
 * 0 or -errno, never prints, message on the handle).  The capture writer
 * never creates these tables; emt-scan --store does, through this file,
 * on an archive that is closed.  They are annotations: no ledger entry,
 * seal digest or signature covers them, and emt-verify ignores them as it
 * ignores every table it does not know (SPEC.md section 3).
 */
#ifndef EMT_SCAN_STORE_H
#define EMT_SCAN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "emt_archive.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One scan run: which rules, which engine, when. */
struct emt_scan_run {
	const char *rules_path;         /* as given by the analyst (bytes) */
	uint8_t rules_sha256[EMT_SHA256_LEN]; /* of the rules file's bytes */
	const char *engine;             /* e.g. "yara 4.2.3" */
	uint64_t scanned_ns;            /* wall clock, ns since the epoch */
	uint64_t captures;              /* captures scanned */
};

/* One match.  A rule that matched without a string (condition only) has
 * string_id NULL, offset 0 and length 0. */
struct emt_scan_match {
	uint64_t seq;                   /* captures.seq */
	const char *rule_ns;            /* rule namespace, e.g. "default" */
	const char *rule;               /* rule identifier */
	const char *string_id;          /* e.g. "$sh", or NULL */
	uint64_t offset;                /* from the capture's first byte */
	uint64_t length;                /* bytes matched */
	uint64_t address;               /* capture addr + offset */
};

struct emt_scan_store;

/* Opens the archive at `path` read-write to record scan results.  It
 * must be a closed archive: one whose SQLite header says rollback-journal
 * mode (a writer that is still running, or was killed, left it in WAL
 * mode), with no `-wal` file beside its real file; an emt archive
 * (application_id EMT1) of major version 1; and if the annotation tables
 * exist, exactly as SPEC.md section 14 creates them.  Triggers and views
 * are disabled and SQLite runs in defensive mode, as for reading, so a
 * planted trigger never runs.  Nothing is written until
 * emt_scan_store_begin.  Returns the handle, or NULL with errno set:
 * ENOENT, ENOTSUP (not an emt archive), EPROTONOSUPPORT (newer major),
 * EBUSY (being written or left unclosed), EBADMSG (annotation tables
 * altered, or SQLite cannot read it), ELOOP/EINVAL (the -wal entry is
 * not a regular file), EACCES, ENOMEM, EIO; `*errmsg` (if non-NULL)
 * then receives a malloc'd message the caller frees. */
struct emt_scan_store *emt_scan_store_open(const char *path, char **errmsg);

/* Starts one transaction that creates the tables if needed, deletes the
 * rows of an earlier run of the same rules (same rules_sha256: re-running
 * a scan replaces its results instead of repeating them) and adds the run
 * row.  Returns 0, -EINVAL (NULL argument or engine, or a transaction
 * already open), -EBUSY (another process holds the file), -ENOSPC, -EIO. */
int emt_scan_store_begin(struct emt_scan_store *s, const struct emt_scan_run *run);

/* Adds a match to the open run.  Strings are copied by SQLite.  Returns
 * 0, -EINVAL (no open run, NULL rule), -ENOSPC, -EIO. */
int emt_scan_store_add(struct emt_scan_store *s, const struct emt_scan_match *m);

/* Records the run's match count and commits.  Returns 0, -EINVAL (no open
 * run), -EBUSY, -ENOSPC, -EIO; on failure nothing of the run is kept. */
int emt_scan_store_commit(struct emt_scan_store *s);

/* Rolls back an open run, closes the file and frees the handle.  Accepts
 * NULL. */
void emt_scan_store_close(struct emt_scan_store *s);

/* The message of the last failure on `s` (lowercase, names the object),
 * owned by the handle; "" if none yet, "no store" for NULL. */
const char *emt_scan_store_errmsg(const struct emt_scan_store *s);

/* The statements that create the annotation tables, in order, as SQLite
 * keeps them in sqlite_schema.sql (no final ';'; SPEC.md section 14 gives
 * the same text); NULL-terminated. */
extern const char *const emt_scan_schema[];

#ifdef __cplusplus
}
#endif
#endif /* EMT_SCAN_STORE_H */
