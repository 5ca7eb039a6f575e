/*
 * scan_store.c - the annotation tables of SPEC.md section 14: results of
 * rule scans (emt-scan --store) recorded in a closed archive.
 *
 * This is the only code of the library that writes into an existing
 * archive.  It touches nothing the ledger or the seal covers: it adds two
 * tables and an index that the capture writer never creates, so the
 * archive still verifies (SPEC.md sections 3 and 10).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emt_scan_store.h"
#include "internal.h"

const char *const emt_scan_schema[] = {
	"CREATE TABLE scans(\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  rules_sha256 BLOB NOT NULL UNIQUE CHECK(length(rules_sha256) = 32),\n"
	"  rules_path BLOB NOT NULL,\n"
	"  engine TEXT NOT NULL,\n"
	"  scanned_ns INTEGER NOT NULL,\n"
	"  captures INTEGER NOT NULL CHECK(captures >= 0),\n"
	"  matches INTEGER NOT NULL DEFAULT 0 CHECK(matches >= 0)\n"
	") STRICT",
	"CREATE TABLE scan_matches(\n"
	"  scan_id INTEGER NOT NULL REFERENCES scans(id),\n"
	"  seq INTEGER NOT NULL CHECK(seq >= 1),\n"
	"  namespace TEXT NOT NULL,\n"
	"  rule TEXT NOT NULL,\n"
	"  string_id TEXT,\n"
	"  offset INTEGER NOT NULL CHECK(offset >= 0),\n"
	"  length INTEGER NOT NULL CHECK(length >= 0),\n"
	"  address INTEGER NOT NULL\n"
	") STRICT",
	"CREATE INDEX scan_matches_seq ON scan_matches(seq, scan_id)",
	NULL,
};
/* The object each statement of emt_scan_schema creates. */
static const char *const scan_objects[] = { "scans", "scan_matches", "scan_matches_seq" };

struct emt_scan_store {
	sqlite3 *db;
	sqlite3_stmt *st_add;
	int64_t scan_id;        /* open run, 0 = none */
	uint64_t matches;
	char err[EMT_ERRMSG_MAX];
	char path[PATH_MAX];    /* the real file: its WAL is beside it */
	char shown[PATH_MAX];   /* as the caller named it, for messages */
};

static int sql_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EBADMSG;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_CANTOPEN:
		return -EACCES;
	default:
		return -EIO;
	}
}

static int db_fail(struct emt_scan_store *s, int rc, const char *what)
{
	emt_fmt(s->err, sizeof(s->err), "'%s': %s: %s", s->shown, what, sqlite3_errmsg(s->db));
	return sql_errno(rc);
}

static int exec(struct emt_scan_store *s, const char *sql, const char *what)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : db_fail(s, rc, what);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What the file's own first 100 bytes say, before SQLite opens it
 * read-write: opening a WAL-mode database that way would create -wal and
 * -shm files beside evidence that may still be in use. */
static int check_header(struct emt_scan_store *s)
{
	uint8_t h[100];
	char wal[PATH_MAX + 8];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(wal, sizeof(wal), "%s-wal", s->path);
	if (lstat(wal, &st) == 0) {
		emt_fmt(s->err, sizeof(s->err), "'%s': a WAL file is beside it: still being"
			" written, or its writer did not close it; scan results are stored"
			" only into a closed archive", s->shown);
		return -EBUSY;
	}
	fd = open(s->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;

		emt_fmt(s->err, sizeof(s->err), "cannot open '%s': %s", s->shown, strerror(errno));
		return err;
	}
	n = read(fd, h, sizeof(h));
	close(fd);
	if (n != (ssize_t)sizeof(h) || memcmp(h, "SQLite format 3", 16) != 0 ||
	    be32(h + 68) != EMT_APPLICATION_ID) {
		emt_fmt(s->err, sizeof(s->err), "'%s': not an emt archive", s->shown);
		return -ENOTSUP;
	}
	if (be32(h + 60) > EMT_FORMAT_MAJOR) {
		emt_fmt(s->err, sizeof(s->err), "'%s': written by a newer emt (format %u); upgrade"
			" emt to store into it", s->shown, be32(h + 60));
		return -EPROTONOSUPPORT;
	}
	/* file format read/write versions 2 = WAL mode: the writer has not
	 * returned the file to rollback mode, which its clean close does */
	if (h[18] == 2 || h[19] == 2) {
		emt_fmt(s->err, sizeof(s->err), "'%s': in WAL mode: still being written, or its"
			" writer did not close it; scan results are stored only into a"
			" closed archive", s->shown);
		return -EBUSY;
	}
	return 0;
}

/* The annotation objects must be absent or exactly ours: rows added to a
 * table whose definition someone changed would not mean what SPEC.md
 * says.  Sets *missing (bit i: object i absent).  Returns 0 or -errno. */
static int check_tables(struct emt_scan_store *s, unsigned *missing)
{
	sqlite3_stmt *st = NULL;
	int rc, err = 0;

	*missing = 0;
	rc = sqlite3_prepare_v2(s->db, "SELECT type, sql FROM sqlite_schema WHERE name = ?1",
				-1, &st, NULL);
	if (rc != SQLITE_OK)
		return db_fail(s, rc, "cannot read the schema");
	for (size_t i = 0; emt_scan_schema[i] && !err; i++) {
		const char *type, *sql;

		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, scan_objects[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			*missing |= 1u << i;
			continue;
		}
		if (rc != SQLITE_ROW) {
			err = db_fail(s, rc, "cannot read the schema");
			break;
		}
		type = (const char *)sqlite3_column_text(st, 0);
		sql = (const char *)sqlite3_column_text(st, 1);
		if (!type || !sql || strcmp(type, i == 2 ? "index" : "table") != 0 ||
		    strcmp(sql, emt_scan_schema[i]) != 0) {
			emt_fmt(s->err, sizeof(s->err), "'%s': %s '%s' is not the one of SPEC.md"
				" section 14 (altered?): not storing into it", s->shown,
				i == 2 ? "index" : "table", scan_objects[i]);
			err = -EBADMSG;
		}
	}
	sqlite3_finalize(st);
	return err;
}

struct emt_scan_store *emt_scan_store_open(const char *path, char **errmsg)
{
	struct emt_scan_store *s;
	sqlite3_stmt *st = NULL;
	const char *mode;
	unsigned missing;
	int rc, err;

	if (errmsg)
		*errmsg = NULL;
	s = path ? calloc(1, sizeof(*s)) : NULL;
	if (!s) {
		errno = path ? ENOMEM : EINVAL;
		return NULL;
	}
	snprintf(s->shown, sizeof(s->shown), "%s", path);
	/* the WAL that matters is the one beside the real file (SPEC.md 2) */
	if (!realpath(path, s->path)) {
		err = -errno;
		emt_fmt(s->err, sizeof(s->err), "cannot open '%s': %s", path, strerror(errno));
		goto fail;
	}
	err = check_header(s);
	if (err)
		goto fail;
	rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK) {
		err = s->db ? db_fail(s, rc, "cannot open") : -ENOMEM;
		goto fail;
	}
	emt_db_harden(s->db);
	sqlite3_busy_timeout(s->db, 2000);

	/* Reading the journal mode loads the schema: a damaged file fails
	 * here, before anything is written. */
	rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		err = db_fail(s, rc, "damaged archive");
		if (err == -EIO)
			err = -EBADMSG;
		sqlite3_finalize(st);
		goto fail;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	if (!mode || strcmp(mode, "delete") != 0) {
		emt_fmt(s->err, sizeof(s->err), "'%s': journal mode %s, not delete: not a"
			" closed archive", s->shown, mode ? mode : "unknown");
		sqlite3_finalize(st);
		err = -EBUSY;
		goto fail;
	}
	sqlite3_finalize(st);
	err = check_tables(s, &missing);
	if (err)
		goto fail;
	return s;

fail:
	if (errmsg)
		*errmsg = strdup(s->err);
	emt_scan_store_close(s);
	errno = -err;
	return NULL;
}

/* Runs one DELETE of an earlier run's rows (`sql` binds the rules hash
 * as ?1).  Returns 0 or -errno. */
static int delete_run(struct emt_scan_store *s, const char *sql,
		      const uint8_t hash[EMT_SHA256_LEN])
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_bind_blob(st, 1, hash, EMT_SHA256_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(s, rc, "cannot replace earlier results");
}

int emt_scan_store_begin(struct emt_scan_store *s, const struct emt_scan_run *run)
{
	sqlite3_stmt *st = NULL;
	unsigned missing;
	int rc, err;

	if (!s || !run || !run->engine || s->scan_id) {
		if (s)
			emt_fmt(s->err, sizeof(s->err), "invalid argument");
		return -EINVAL;
	}
	if ((err = exec(s, "BEGIN IMMEDIATE", "cannot lock")))
		return err;
	/* again under the lock: another process may have created them */
	err = check_tables(s, &missing);
	for (size_t i = 0; !err && emt_scan_schema[i]; i++)
		if (missing & (1u << i))
			err = exec(s, emt_scan_schema[i], "cannot create the scan tables");
	if (err)
		goto fail;

	/* matches first: they reference the run row */
	err = delete_run(s, "DELETE FROM scan_matches WHERE scan_id IN"
			 " (SELECT id FROM scans WHERE rules_sha256 = ?1)", run->rules_sha256);
	if (!err)
		err = delete_run(s, "DELETE FROM scans WHERE rules_sha256 = ?1", run->rules_sha256);
	if (err)
		goto fail;
	rc = sqlite3_prepare_v2(s->db, "INSERT INTO scans(rules_sha256, rules_path, engine,"
				" scanned_ns, captures) VALUES (?1, ?2, ?3, ?4, ?5)", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		const char *p = run->rules_path ? run->rules_path : "";

		sqlite3_bind_blob(st, 1, run->rules_sha256, EMT_SHA256_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, p, (int)strnlen(p, EMT_STRING_MAX), SQLITE_STATIC);
		sqlite3_bind_text(st, 3, run->engine, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (int64_t)run->scanned_ns);
		sqlite3_bind_int64(st, 5, (int64_t)run->captures);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err = db_fail(s, rc, "cannot record the scan");
		goto fail;
	}
	s->scan_id = sqlite3_last_insert_rowid(s->db);
	s->matches = 0;
	rc = sqlite3_prepare_v2(s->db, "INSERT INTO scan_matches(scan_id, seq, namespace, rule,"
				" string_id, offset, length, address) VALUES"
				" (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &s->st_add, NULL);
	if (rc != SQLITE_OK) {
		err = db_fail(s, rc, "cannot record matches");
		goto fail;
	}
	return 0;

fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->scan_id = 0;
	return err;
}

int emt_scan_store_add(struct emt_scan_store *s, const struct emt_scan_match *m)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !m || !m->rule || !s->scan_id || m->seq == 0 || m->seq > INT64_MAX) {
		if (s)
			emt_fmt(s->err, sizeof(s->err), "invalid argument");
		return -EINVAL;
	}
	st = s->st_add;
	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, s->scan_id);
	sqlite3_bind_int64(st, 2, (int64_t)m->seq);
	sqlite3_bind_text(st, 3, m->rule_ns ? m->rule_ns : "default", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->rule, -1, SQLITE_STATIC);
	if (m->string_id)
		sqlite3_bind_text(st, 5, m->string_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_int64(st, 6, (int64_t)(m->offset & INT64_MAX));
	sqlite3_bind_int64(st, 7, (int64_t)(m->length & INT64_MAX));
	sqlite3_bind_int64(st, 8, (int64_t)m->address);
	rc = sqlite3_step(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return db_fail(s, rc, "cannot record a match");
	s->matches++;
	return 0;
}

int emt_scan_store_commit(struct emt_scan_store *s)
{
	sqlite3_stmt *st = NULL;
	int rc, err;

	if (!s || !s->scan_id) {
		if (s)
			emt_fmt(s->err, sizeof(s->err), "no scan run open");
		return -EINVAL;
	}
	sqlite3_finalize(s->st_add);
	s->st_add = NULL;
	rc = sqlite3_prepare_v2(s->db, "UPDATE scans SET matches = ?1 WHERE id = ?2", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (int64_t)s->matches);
		sqlite3_bind_int64(st, 2, s->scan_id);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err = db_fail(s, rc, "cannot record the scan");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		s->scan_id = 0;
		return err;
	}
	err = exec(s, "COMMIT", "cannot commit the scan results");
	if (err)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->scan_id = 0;
	return err;
}

void emt_scan_store_close(struct emt_scan_store *s)
{
	if (!s)
		return;
	sqlite3_finalize(s->st_add);
	if (s->db && s->scan_id)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(s->db);
	free(s);
}

const char *emt_scan_store_errmsg(const struct emt_scan_store *s)
{
	return s ? s->err : "no store";
}
