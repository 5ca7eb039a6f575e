/*
 * captures.h - the captures a tool works on, as a list (libemtcli.a).
 */
#ifndef EMTCLI_CAPTURES_H
#define EMTCLI_CAPTURES_H

#include <stddef.h>
#include <stdint.h>

#include "emt_archive.h"

/* Collects the captures matching `f` (NULL = all) in seq order into a
 * malloc'd array *out of *n entries that the caller frees (NULL and 0 if
 * none).  Tools collect first because reading a capture's bytes while
 * the iterator is open would interleave two queries on one reader.
 * Prints nothing.  Returns 0, or -errno (-ENOMEM, or the iterator's
 * error with the message on the reader); *out is NULL on failure. */
int cli_capture_list(struct emt_reader *r, const struct emt_filter *f,
		     struct emt_capture **out, size_t *n);

/* Reads and verifies the bytes of capture `c` into *buf, grown (realloc)
 * to at least c->size bytes; *cap is its capacity.  The caller frees
 * *buf.  Prints nothing.  Returns 0, -E2BIG (over the format's limit),
 * -ENOMEM, or emt_reader_read_capture's -errno (message on the reader). */
int cli_capture_bytes(struct emt_reader *r, const struct emt_capture *c,
		      uint8_t **buf, size_t *cap);

#endif /* EMTCLI_CAPTURES_H */
