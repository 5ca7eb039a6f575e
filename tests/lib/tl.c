/* tl.c - shared unit test helpers (see tl.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tl.h"

static char tl_dir[256];

const char *tl_tmpdir(void)
{
	if (!tl_dir[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(tl_dir, sizeof(tl_dir), "%s/emt-unit.XXXXXX",
			 t && strlen(t) < 200 ? t : "/tmp");
		if (!mkdtemp(tl_dir)) {
			perror("tl_tmpdir: mkdtemp");
			abort();
		}
	}
	return tl_dir;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}

void tl_tmpdir_cleanup(void)
{
	if (tl_dir[0])
		nftw(tl_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tl_dir[0] = '\0';
}

char *tl_path(const char *name)
{
	const char *d = tl_tmpdir();
	size_t n = strlen(d) + strlen(name) + 2;
	char *p = malloc(n);

	if (!p)
		abort();
	snprintf(p, n, "%s/%s", d, name);
	return p;
}

void tl_fill_random(void *buf, size_t n, uint64_t seed)
{
	uint8_t *p = buf;
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)(x >> 24);
	}
}

void tl_fill_code(void *buf, size_t n, uint64_t seed)
{
	static const uint8_t pats[][8] = {
		{ 0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x20 },
		{ 0x48, 0x8b, 0x45, 0xf8, 0x48, 0x89, 0xc7, 0xe8 },
		{ 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3, 0x90, 0x90 },
		{ 0x41, 0x57, 0x41, 0x56, 0x41, 0x55, 0x41, 0x54 },
		{ 0x48, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00, 0x0f },
	};
	uint8_t *p = buf;
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 7;

	for (size_t i = 0; i < n;) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if ((x & 3) == 0) {
			/* a random 32-bit immediate or displacement */
			for (int k = 0; k < 4 && i < n; k++)
				p[i++] = (uint8_t)(x >> (16 + 8 * k));
		} else {
			const uint8_t *pat = pats[(x >> 8) % 5];

			for (int k = 0; k < 8 && i < n; k++)
				p[i++] = pat[k];
		}
	}
}

void *tl_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			uint8_t *nb = realloc(buf, cap);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t m = fread(buf + n, 1, cap - n, f);

		if (m == 0)
			break;
		n += m;
	}
	fclose(f);
	*len = n;
	return buf;
}

int tl_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	const uint8_t *p = buf;

	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t m = write(fd, p, len);

		if (m < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		p += m;
		len -= (size_t)m;
	}
	return close(fd) < 0 ? -errno : 0;
}

int tl_copy_file(const char *src, const char *dst)
{
	size_t n;
	void *b = tl_read_file(src, &n);
	int err;

	if (!b)
		return -errno ? -errno : -EIO;
	err = tl_write_file(dst, b, n);
	free(b);
	return err;
}
