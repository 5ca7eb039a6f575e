/*
 * sign.c - Ed25519 keys and the signed texts of SPEC.md section 10.2.
 *
 * Keys are PEM files in the forms the openssl command reads and writes
 * (PKCS#8 private, SubjectPublicKeyInfo public), so that a signature can
 * be checked without emt.  A key's fingerprint is the SHA-256 of its DER
 * SubjectPublicKeyInfo (`openssl pkey -pubin -outform DER | sha256sum`).
 * Every OpenSSL failure is turned into a message naming the file; the
 * OpenSSL error queue is cleared so that it never leaks into a later,
 * unrelated check.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "internal.h"

/* PEM key files are a few hundred bytes; anything far larger is not one. */
#define KEY_FILE_MAX (64u << 10)

struct emt_key {
	EVP_PKEY *pk;
	int has_private;
	char fp[2 * EMT_SHA256_LEN + 1];
	char *pub_pem;          /* SubjectPublicKeyInfo PEM, NUL-terminated */
};

void emt_key_free(struct emt_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pk);
	free(k->pub_pem);
	free(k);
}

const char *emt_key_fingerprint(const struct emt_key *k)
{
	return k ? k->fp : NULL;
}

int emt_key_has_private(const struct emt_key *k)
{
	return k && k->has_private;
}

const char *emt_key_public_pem(const struct emt_key *k)
{
	return k ? k->pub_pem : NULL;
}

/* Fills fingerprint and public PEM of a loaded key; 0 or -ENOMEM. */
static int key_finish(struct emt_key *k)
{
	unsigned char *der = NULL;
	uint8_t h[EMT_SHA256_LEN];
	BIO *b;
	BUF_MEM *bm = NULL;
	int n = i2d_PUBKEY(k->pk, &der);

	if (n <= 0)
		return -ENOMEM;
	emt_sha256(der, (size_t)n, h);
	OPENSSL_free(der);
	emt_hex(h, EMT_SHA256_LEN, k->fp);
	b = BIO_new(BIO_s_mem());
	if (!b || PEM_write_bio_PUBKEY(b, k->pk) != 1) {
		BIO_free(b);
		return -ENOMEM;
	}
	BIO_get_mem_ptr(b, &bm);
	k->pub_pem = malloc(bm->length + 1);
	if (k->pub_pem) {
		memcpy(k->pub_pem, bm->data, bm->length);
		k->pub_pem[bm->length] = '\0';
	}
	BIO_free(b);
	return k->pub_pem ? 0 : -ENOMEM;
}

/* Never prompts: a key file is not the place for an interactive step in
 * a capture that may run unattended. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

static const char *key_type(EVP_PKEY *pk)
{
	const char *t = EVP_PKEY_get0_type_name(pk);

	return t ? t : "unknown type";
}

struct emt_key *emt_key_from_pem(const char *pem, size_t len, int want_private,
				 char *err, size_t errcap, const char *name)
{
	struct emt_key *k;
	BIO *b;
	int e;

	if (!memmem(pem, len, "-----BEGIN ", 11)) {
		emt_fmt(err, errcap, "%s: not a PEM file", name);
		errno = EINVAL;
		return NULL;
	}
	if (want_private && memmem(pem, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----", 37)) {
		emt_fmt(err, errcap, "%s: the private key is encrypted (emt needs an unencrypted"
			" PKCS#8 key, mode 0600)", name);
		errno = EINVAL;
		return NULL;
	}
	if (!want_private && !memmem(pem, len, "-----BEGIN PUBLIC KEY-----", 26)) {
		emt_fmt(err, errcap, "%s: not a public key (PEM 'PUBLIC KEY' expected%s)", name,
			memmem(pem, len, "PRIVATE KEY-----", 16) ? "; this is a private key" : "");
		errno = EINVAL;
		return NULL;
	}
	if (len > KEY_FILE_MAX) {
		emt_fmt(err, errcap, "%s: too large for a key", name);
		errno = E2BIG;
		return NULL;
	}
	b = BIO_new_mem_buf(pem, (int)len);
	k = calloc(1, sizeof(*k));
	if (!b || !k) {
		BIO_free(b);
		free(k);
		emt_fmt(err, errcap, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	k->pk = want_private ? PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL)
			     : PEM_read_bio_PUBKEY(b, NULL, no_passphrase, NULL);
	BIO_free(b);
	ERR_clear_error();
	if (!k->pk) {
		emt_fmt(err, errcap, "%s: not a valid PEM %s key", name,
			want_private ? "private" : "public");
		e = EINVAL;
		goto fail;
	}
	if (EVP_PKEY_get_id(k->pk) != EVP_PKEY_ED25519) {
		emt_fmt(err, errcap, "%s: not an Ed25519 key (%s)", name, key_type(k->pk));
		e = EINVAL;
		goto fail;
	}
	k->has_private = want_private;
	if (key_finish(k)) {
		ERR_clear_error();
		emt_fmt(err, errcap, "out of memory");
		e = ENOMEM;
		goto fail;
	}
	return k;
fail:
	emt_key_free(k);
	errno = e;
	return NULL;
}

static struct emt_key *key_load(const char *path, int want_private, char **errmsg)
{
	char msg[EMT_ERRMSG_MAX], name[300];
	struct emt_key *k = NULL;
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;
	int fd, e = 0;

	if (errmsg)
		*errmsg = NULL;
	if (!path || !*path) {
		emt_fmt(msg, sizeof(msg), "no key file given");
		e = EINVAL;
		goto out;
	}
	emt_fmt(name, sizeof(name), "'%.280s'", path);
	/* O_NONBLOCK: a FIFO planted as the key must not hang the tool. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		e = errno;
		emt_fmt(msg, sizeof(msg), "cannot read %s: %s", name, strerror(e));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
		e = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
		emt_fmt(msg, sizeof(msg), "%s: %s", name, S_ISREG(st.st_mode) ?
			"too large for a key file" : "not a regular file");
		close(fd);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf)
		n = read(fd, buf, (size_t)st.st_size);
	e = !buf ? ENOMEM : n < 0 ? errno : 0;
	close(fd);
	if (e) {
		emt_fmt(msg, sizeof(msg), "cannot read %s: %s", name, strerror(e));
		goto out;
	}
	buf[n] = '\0';
	if (want_private && memmem(buf, (size_t)n, "-----BEGIN PUBLIC KEY-----", 26)) {
		emt_fmt(msg, sizeof(msg), "%s: a public key: signing needs the private key", name);
		e = EINVAL;
		goto out;
	}
	/* As ssh does: a private key others can read may have been copied,
	 * and signatures made with it then prove nothing about who made
	 * them. */
	if (want_private && (st.st_mode & 077)) {
		emt_fmt(msg, sizeof(msg), "%s: private key is accessible by other users (mode %04o);"
			" 'chmod 600' it", name, (unsigned)(st.st_mode & 07777));
		e = EACCES;
		goto out;
	}
	k = emt_key_from_pem(buf, (size_t)n, want_private, msg, sizeof(msg), name);
	if (!k)
		e = errno;
out:
	if (buf) {
		/* The private key's bytes do not outlive their use. */
		OPENSSL_cleanse(buf, (size_t)st.st_size);
		free(buf);
	}
	if (!k) {
		if (errmsg)
			*errmsg = strdup(msg);
		errno = e ? e : EINVAL;
	}
	return k;
}

struct emt_key *emt_key_load_private(const char *path, char **errmsg)
{
	return key_load(path, 1, errmsg);
}

struct emt_key *emt_key_load_public(const char *path, char **errmsg)
{
	return key_load(path, 0, errmsg);
}

struct emt_key *emt_key_dup(const struct emt_key *k)
{
	struct emt_key *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	if (!(d->pub_pem = strdup(k->pub_pem)) || EVP_PKEY_up_ref(k->pk) != 1) {
		free(d->pub_pem);
		free(d);
		return NULL;
	}
	d->pk = k->pk;
	d->has_private = k->has_private;
	memcpy(d->fp, k->fp, sizeof(d->fp));
	return d;
}

int emt_key_sign(const struct emt_key *k, const void *msg, size_t n,
		 uint8_t sig[EMT_SIGNATURE_LEN])
{
	EVP_MD_CTX *ctx;
	size_t siglen = EMT_SIGNATURE_LEN;
	int ok;

	if (!k || !k->has_private)
		return -EINVAL;
	if (!(ctx = EVP_MD_CTX_new()))
		return -ENOMEM;
	/* Ed25519 is "pure": no digest, the whole message goes in at once. */
	ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pk) == 1 &&
	     EVP_DigestSign(ctx, sig, &siglen, msg, n) == 1 && siglen == EMT_SIGNATURE_LEN;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : -EIO;
}

int emt_key_verify(const struct emt_key *k, const void *msg, size_t n,
		   const uint8_t sig[EMT_SIGNATURE_LEN])
{
	EVP_MD_CTX *ctx;
	int rc;

	if (!k)
		return -EINVAL;
	if (!(ctx = EVP_MD_CTX_new()))
		return -ENOMEM;
	rc = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pk);
	if (rc == 1)
		rc = EVP_DigestVerify(ctx, sig, EMT_SIGNATURE_LEN, msg, n);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc == 1;
}

/* Writes `len` bytes to a new file (O_EXCL: never through a planted
 * link or over an existing key unless `force`). */
static int write_new(const char *path, const void *p, size_t len, mode_t mode, int force,
		     char *msg, size_t cap)
{
	struct stat st;
	ssize_t n;
	int fd, e;

	if (force && lstat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			emt_fmt(msg, cap, "cannot write '%s': not a regular file", path);
			return -EEXIST;
		}
		if (unlink(path) < 0) {
			e = errno;
			emt_fmt(msg, cap, "cannot replace '%s': %s", path, strerror(e));
			return -e;
		}
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		e = errno;
		emt_fmt(msg, cap, "cannot write '%s': %s", path, strerror(e));
		return -e;
	}
	/* The umask may have taken bits away, never added: make it exact. */
	n = fchmod(fd, mode) == 0 ? write(fd, p, len) : -1;
	e = n == (ssize_t)len ? 0 : n < 0 ? errno : ENOSPC;
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		unlink(path);
		emt_fmt(msg, cap, "cannot write '%s': %s", path, strerror(e));
		return -e;
	}
	return 0;
}

int emt_key_generate(const char *priv_path, const char *pub_path, int force,
		     char fingerprint[2 * EMT_SHA256_LEN + 1], char **errmsg)
{
	char msg[EMT_ERRMSG_MAX] = "";
	struct emt_key k = { 0 };
	BIO *b = NULL;
	BUF_MEM *bm = NULL;
	int err = 0;

	if (errmsg)
		*errmsg = NULL;
	if (!priv_path || !pub_path || !*priv_path || !*pub_path) {
		emt_fmt(msg, sizeof(msg), "no key file given");
		err = -EINVAL;
		goto out;
	}
	if (strcmp(priv_path, pub_path) == 0) {
		emt_fmt(msg, sizeof(msg), "'%s': private and public key files must differ", priv_path);
		err = -EINVAL;
		goto out;
	}
	k.pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	b = BIO_new(BIO_s_mem());
	if (!k.pk || !b || key_finish(&k) ||
	    PEM_write_bio_PrivateKey(b, k.pk, NULL, NULL, 0, NULL, NULL) != 1) {
		emt_fmt(msg, sizeof(msg), "cannot generate an Ed25519 key");
		err = -EIO;
		goto out;
	}
	BIO_get_mem_ptr(b, &bm);
	/* Public key first: if the private key cannot be written there is
	 * no half pair whose private part exists unnoticed. */
	err = write_new(pub_path, k.pub_pem, strlen(k.pub_pem), 0644, force, msg, sizeof(msg));
	if (!err) {
		err = write_new(priv_path, bm->data, bm->length, 0600, force, msg, sizeof(msg));
		if (err)
			unlink(pub_path);
	}
	if (!err && fingerprint)
		memcpy(fingerprint, k.fp, sizeof(k.fp));
out:
	ERR_clear_error();
	/* A memory BIO does not wipe what it held: the private key. */
	if (bm)
		OPENSSL_cleanse(bm->data, bm->length);
	BIO_free(b);
	EVP_PKEY_free(k.pk);
	free(k.pub_pem);
	if (err && errmsg)
		*errmsg = strdup(msg);
	return err;
}

size_t emt_signature_text(char *buf, size_t cap, const char *seal_hex, const char *key_hex)
{
	int n = snprintf(buf, cap, "emt-signature-v1 %s %s", seal_hex, key_hex);

	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t emt_checkpoint_text(char *buf, size_t cap, const struct emt_checkpoint_row *c,
			   const char *key_hex)
{
	char ledger[2 * EMT_SHA256_LEN + 1], meta[2 * EMT_SHA256_LEN + 1];
	char prev[2 * EMT_SHA256_LEN + 1];
	int n;

	emt_hex(c->ledger, EMT_SHA256_LEN, ledger);
	emt_hex(c->meta, EMT_SHA256_LEN, meta);
	emt_hex(c->prev, EMT_SHA256_LEN, prev);
	n = snprintf(buf, cap, "emt-checkpoint-v1 %" PRIu64 " %" PRIu64 " %s %" PRIu64 " %s %s %s",
		     (uint64_t)c->id, (uint64_t)c->seq, ledger, (uint64_t)c->time_ns, meta, prev,
		     key_hex);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}
