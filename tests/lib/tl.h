/*
 * tl.h - helpers shared by the unit tests (linked into every test
 * binary).  All names start with tl_.  Helpers abort the test run on
 * environment failures (they are test code, not library code).
 */
#ifndef EMT_TESTS_TL_H
#define EMT_TESTS_TL_H

#include <stddef.h>
#include <stdint.h>

/* Creates a private temporary directory (removed by tl_tmpdir_cleanup)
 * and returns its path (static storage, valid until cleanup). */
const char *tl_tmpdir(void);
/* Removes the directory made by tl_tmpdir and everything in it. */
void tl_tmpdir_cleanup(void);
/* Returns "<tmpdir>/<name>" in a malloc'd string the caller frees. */
char *tl_path(const char *name);

/* Deterministic pseudo-random bytes from `seed` (xorshift). */
void tl_fill_random(void *buf, size_t n, uint64_t seed);
/* Bytes that compress like x86-64 code: a mix of repeated instruction
 * patterns and random immediates, deterministic in `seed`. */
void tl_fill_code(void *buf, size_t n, uint64_t seed);

/* Reads a whole file into a malloc'd buffer; NULL on failure. */
void *tl_read_file(const char *path, size_t *len);
/* Writes a buffer to a new file (0600); 0 or -errno. */
int tl_write_file(const char *path, const void *buf, size_t len);
/* Copies a file; 0 or -errno. */
int tl_copy_file(const char *src, const char *dst);

#endif /* EMT_TESTS_TL_H */
