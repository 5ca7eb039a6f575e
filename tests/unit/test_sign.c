/*
 * test_sign.c - signed archives (SPEC.md section 10.2) through the
 * library: keys, the signed seal, checkpoints of an unsealed archive,
 * and hostile signature data, each checked against what it must prove.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "emt_archive.h"
#include "tests/lib/tl.h"

static void count_report(void *ctx, const char *item, const char *msg)
{
	int *n = ctx;

	(*n)++;
	print_message("  report: %s: %s\n", item, msg);
}

static void sql(const char *path, const char *q)
{
	sqlite3 *db;
	char *err = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		print_error("sql %s: %s\n", q, err);
	assert_null(err);
	sqlite3_close(db);
}

/* A fresh key pair named NAME.pem / NAME.pub.pem in the test directory. */
static void mk_keys(const char *name, char **priv, char **pub)
{
	char b[64];
	char *msg = NULL;

	snprintf(b, sizeof(b), "%s.pem", name);
	*priv = tl_path(b);
	snprintf(b, sizeof(b), "%s.pub.pem", name);
	*pub = tl_path(b);
	unlink(*priv);
	unlink(*pub);
	if (emt_key_generate(*priv, *pub, 0, NULL, &msg))
		print_error("keygen: %s\n", msg);
	assert_null(msg);
}

/* Writes `ncap` captures, committing after each, signed with `key`;
 * sealed or abandoned (a crash). */
static char *mk_signed(const char *name, const struct emt_key *key, int ncap, int seal,
		       uint8_t seal_out[EMT_SHA256_LEN])
{
	struct emt_writer_opts o = { .sz = sizeof(o), .sign_key = key };
	char *path = tl_path(name), *msg = NULL;
	struct emt_writer *w;
	uint8_t data[8192];

	unlink(path);
	w = emt_writer_create(path, &o, &msg);
	if (!w)
		print_error("create: %s\n", msg);
	assert_non_null(w);
	struct emt_process p = { .pid = 10, .ppid = 1, .start_ns = 1, .exe = "/bin/x" };
	assert_int_equal(emt_writer_add_process(w, &p), 0);
	struct emt_region rg = { .process_id = p.id, .pid = 10, .backing = EMT_BACKING_ANON,
				 .start = 0x10000, .length = sizeof(data), .created_ns = 2, .prot = 7 };
	assert_int_equal(emt_writer_add_region(w, &rg), 0);
	for (int i = 0; i < ncap; i++) {
		struct emt_capture c = { .region_id = rg.id, .pid = 10, .tid = 10,
					 .trigger = EMT_TRIGGER_MPROTECT, .prot_before = 3,
					 .prot_after = 5, .addr = 0x10000, .size = sizeof(data),
					 .time_ns = 100 + (uint64_t)i };

		tl_fill_code(data, sizeof(data), (uint64_t)i + 1);
		assert_int_equal(emt_writer_add_capture(w, &c, data, NULL, 0, NULL), 0);
		assert_int_equal(emt_writer_commit(w), 0);
	}
	if (seal) {
		assert_int_equal(emt_writer_close_seal(w, seal_out, NULL), 0);
	} else {
		emt_writer_abandon(w);
	}
	return path;
}

/* Verifies `path` fully: returns the signature check's result, *info
 * filled; the plain verification result goes to *plain. */
static int check(const char *path, const struct emt_key *trusted, struct emt_sig_info *info,
		 int *plain)
{
	struct emt_reader *r = emt_reader_open(path, NULL);
	int n = 0, rc;

	assert_non_null(r);
	*plain = emt_reader_verify(r, count_report, &n, NULL);
	rc = emt_reader_verify_signature(r, trusted, count_report, &n, info);
	emt_reader_close(r);
	return rc;
}

static void test_keys(void **state)
{
	char *priv, *pub, *msg = NULL, fp[2 * EMT_SHA256_LEN + 1];
	struct emt_key *k, *kp;
	struct stat st;

	(void)state;
	mk_keys("k1", &priv, &pub);
	assert_int_equal(stat(priv, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Never over an existing key without force, and no half pair left. */
	assert_int_equal(emt_key_generate(priv, pub, 0, fp, &msg), -EEXIST);
	assert_non_null(strstr(msg, "File exists"));
	free(msg);
	assert_int_equal(emt_key_generate(priv, priv, 1, fp, &msg), -EINVAL);
	free(msg);
	k = emt_key_load_private(priv, &msg);
	assert_non_null(k);
	kp = emt_key_load_public(pub, &msg);
	assert_non_null(kp);
	assert_string_equal(emt_key_fingerprint(k), emt_key_fingerprint(kp));
	assert_int_equal(strlen(emt_key_fingerprint(k)), 64);
	assert_int_equal(emt_key_generate(priv, pub, 1, fp, NULL), 0);
	assert_string_not_equal(fp, emt_key_fingerprint(k));

	/* Wrong kinds of file: each refused with a message naming it. */
	assert_null(emt_key_load_public(priv, &msg));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(msg, "k1.pem': not a public key"));
	free(msg);
	assert_null(emt_key_load_private(pub, &msg));
	assert_non_null(strstr(msg, "a public key"));
	free(msg);
	chmod(priv, 0640);
	assert_null(emt_key_load_private(priv, &msg));
	assert_int_equal(errno, EACCES);
	assert_non_null(strstr(msg, "accessible by other users (mode 0640)"));
	free(msg);
	char *junk = tl_path("junk.pem");
	assert_int_equal(tl_write_file(junk, "hello\n", 6), 0);
	chmod(junk, 0600);
	assert_null(emt_key_load_private(junk, &msg));
	assert_non_null(strstr(msg, "junk.pem': not a PEM file"));
	free(msg);
	const char bad[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	assert_int_equal(tl_write_file(junk, bad, sizeof(bad) - 1), 0);
	assert_null(emt_key_load_public(junk, &msg));
	assert_non_null(strstr(msg, "not a valid PEM public key"));
	free(msg);
	char *none = tl_path("none.pem");
	assert_null(emt_key_load_public(none, &msg));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(msg, "none.pem"));
	free(msg);
	/* A FIFO in place of a key must not block the loader. */
	char *fifo = tl_path("fifo.pem");
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_null(emt_key_load_private(fifo, &msg));
	assert_non_null(strstr(msg, "fifo.pem': not a regular file"));
	free(msg);
	free(fifo);

	/* A writer signs only with a private key. */
	struct emt_writer_opts o = { .sz = sizeof(o), .sign_key = kp };
	char *path = tl_path("pubsign.emt");
	assert_null(emt_writer_create(path, &o, &msg));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(access(path, F_OK), -1);
	free(msg);
	emt_key_free(k);
	emt_key_free(kp);
	emt_key_free(NULL);
	free(priv);
	free(pub);
	free(junk);
	free(none);
	free(path);
}

static void test_sealed(void **state)
{
	char *priv, *pub, *opriv, *opub;
	struct emt_sig_info si;
	uint8_t seal[EMT_SHA256_LEN];
	int plain;

	(void)state;
	mk_keys("k2", &priv, &pub);
	mk_keys("other", &opriv, &opub);
	struct emt_key *k = emt_key_load_private(priv, NULL);
	struct emt_key *kp = emt_key_load_public(pub, NULL);
	struct emt_key *op = emt_key_load_public(opub, NULL);
	assert_non_null(k);
	char *path = mk_signed("sealed.emt", k, 3, 1, seal);

	/* The caller's key is the writer's to keep: freeing ours first. */
	assert_int_equal(check(path, kp, &si, &plain), 0);
	assert_int_equal(plain, 0);
	assert_int_equal(si.status, EMT_SIG_VALID);
	assert_int_equal(si.trusted, 1);
	assert_string_equal(si.key_sha256, emt_key_fingerprint(kp));
	assert_int_equal(si.captures, 3);
	assert_int_equal(si.covered, 3);
	assert_true(si.meta_covered);
	/* One checkpoint per commit, the seal's commit included. */
	assert_true(si.checkpoints >= 3);
	assert_int_equal(si.checkpoints, si.checkpoints_valid);

	/* With the stored key: valid, but not trusted. */
	assert_int_equal(check(path, NULL, &si, &plain), 0);
	assert_int_equal(si.status, EMT_SIG_VALID);
	assert_int_equal(si.trusted, 0);

	/* Another key: a failure, with no valid signature. */
	assert_true(check(path, op, &si, &plain) > 0);
	assert_int_equal(si.status, EMT_SIG_INVALID);
	assert_int_equal(si.trusted, 0);

	/* A changed seal_sha256 (with the table digests left alone the
	 * library's own check catches it too) is not what was signed. */
	sql(path, "UPDATE meta SET value = CAST('0000000000000000000000000000000000000000000000000000000000000000' AS BLOB) WHERE key = 'seal_sha256'");
	assert_true(check(path, kp, &si, &plain) > 0);
	assert_true(plain > 0);
	assert_int_equal(si.status, EMT_SIG_INVALID);

	emt_key_free(k);
	emt_key_free(kp);
	emt_key_free(op);
	free(path);
	free(priv);
	free(pub);
	free(opriv);
	free(opub);
}

static void test_checkpoints(void **state)
{
	char *priv, *pub;
	struct emt_sig_info si;
	int plain;

	(void)state;
	mk_keys("k3", &priv, &pub);
	struct emt_key *k = emt_key_load_private(priv, NULL);
	struct emt_key *kp = emt_key_load_public(pub, NULL);
	char *path = mk_signed("crash.emt", k, 5, 0, NULL);

	assert_int_equal(check(path, kp, &si, &plain), 0);
	assert_int_equal(plain, 0);
	assert_int_equal(si.status, EMT_SIG_CHECKPOINT);
	assert_int_equal(si.captures, 5);
	assert_int_equal(si.covered, 5);
	assert_int_equal(si.checkpoints, 5);
	assert_int_equal(si.checkpoints_valid, 5);
	assert_true(si.meta_covered);
	assert_true(si.last_checkpoint_ns > 0);

	/* Without its last checkpoints, the captures only they covered are
	 * reported as covered by none (a problem: the writer commits no
	 * capture without one), never as covered; the run before stands. */
	sql(path, "DELETE FROM checkpoints WHERE id >= 4");
	assert_int_equal(check(path, kp, &si, &plain), 1);
	assert_int_equal(si.status, EMT_SIG_CHECKPOINT);
	assert_int_equal(si.covered, 3);
	assert_int_equal(si.checkpoints_valid, 3);
	assert_true(si.meta_covered);

	/* A capture row altered under a checkpoint (plain verification
	 * sees the ledger break too); a deleted middle checkpoint breaks
	 * the chain. */
	sql(path, "DELETE FROM checkpoints WHERE id = 2");
	assert_true(check(path, kp, &si, &plain) > 0);
	assert_int_equal(si.checkpoints_valid, 1);
	assert_int_equal(si.covered, 1);
	assert_int_equal(si.status, EMT_SIG_INVALID);

	emt_key_free(k);
	emt_key_free(kp);
	free(path);
	free(priv);
	free(pub);
}

/* Hostile signature data: each case a clear report, never a crash, and
 * never a valid signature. */
static void test_hostile(void **state)
{
	static const struct {
		const char *sql, *why;
	} cases[] = {
		{ "UPDATE meta SET value = CAST('zz' AS BLOB) WHERE key = 'seal_signature'",
		  "garbage hex" },
		{ "UPDATE meta SET value = substr(value, 1, 100) WHERE key = 'seal_signature'",
		  "truncated signature" },
		{ "DELETE FROM meta WHERE key = 'seal_signature'", "no signature" },
		{ "UPDATE meta SET value = CAST('-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' AS BLOB)"
		  " WHERE key = 'sign_public_key'", "garbage PEM" },
		{ "UPDATE meta SET value = X'00ff' WHERE key = 'sign_public_key'", "binary PEM" },
		{ "UPDATE meta SET value = CAST('ffff' AS BLOB) WHERE key = 'sign_key_sha256'",
		  "short fingerprint" },
		{ "UPDATE meta SET value = CAST('rsa' AS BLOB) WHERE key = 'sign_algorithm'",
		  "other algorithm" },
		{ "DELETE FROM meta WHERE key LIKE 'sign_%'", "signing meta stripped" },
		{ "DROP TABLE checkpoints", "no checkpoints table" },
		{ "UPDATE checkpoints SET signature = zeroblob(64) WHERE id = 1", "zero signature" },
		{ "UPDATE checkpoints SET time_ns = time_ns + 1 WHERE id = 2", "altered checkpoint" },
		{ "UPDATE meta SET value = CAST('0' AS BLOB) WHERE key = 'sealed'", "unsealed by hand" },
	};
	char *priv, *pub;
	struct emt_sig_info si;
	int plain;

	(void)state;
	mk_keys("k4", &priv, &pub);
	struct emt_key *k = emt_key_load_private(priv, NULL);
	char *orig = mk_signed("hostile-orig.emt", k, 3, 1, NULL);
	char *path = tl_path("hostile.emt");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("case %zu: %s\n", i, cases[i].why);
		unlink(path);
		assert_int_equal(tl_copy_file(orig, path), 0);
		sql(path, cases[i].sql);
		int rc = check(path, NULL, &si, &plain);

		assert_true(rc > 0);
		assert_int_equal(si.status, EMT_SIG_INVALID);
	}
	emt_key_free(k);
	free(orig);
	free(path);
	free(priv);
	free(pub);
}

static void test_unsigned(void **state)
{
	struct emt_writer_opts o = { .sz = sizeof(o) };
	char *path = tl_path("plain.emt");
	struct emt_sig_info si;
	int plain;

	(void)state;
	unlink(path);
	struct emt_writer *w = emt_writer_create(path, &o, NULL);
	assert_non_null(w);
	/* The signing keys are the library's. */
	assert_int_equal(emt_writer_set_meta(w, "sign_public_key", "x"), -EINVAL);
	assert_int_equal(emt_writer_close(w, NULL), 0);
	assert_int_equal(check(path, NULL, &si, &plain), 0);
	assert_int_equal(plain, 0);
	assert_int_equal(si.status, EMT_SIG_UNSIGNED);
	assert_int_equal(si.checkpoints, 0);
	struct emt_reader *r = emt_reader_open(path, NULL);
	struct emt_summary s;
	assert_int_equal(emt_reader_summary(r, &s), 0);
	assert_int_equal(s.format_minor, EMT_FORMAT_MINOR);
	assert_string_equal(emt_reader_meta(r, "features_optional"), "");
	emt_reader_close(r);
	free(path);
}

static int teardown(void **state)
{
	(void)state;
	tl_tmpdir_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_sealed),
		cmocka_unit_test(test_checkpoints),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_unsigned),
	};

	return cmocka_run_group_tests(tests, NULL, teardown);
}
