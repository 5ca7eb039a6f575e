/*
 * captures.c - collecting the captures a tool works on.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "captures.h"

int cli_capture_list(struct emt_reader *r, const struct emt_filter *f,
		     struct emt_capture **out, size_t *n)
{
	struct emt_capture_iter *it;
	struct emt_capture *list = NULL, c;
	size_t cap = 0, cnt = 0;
	int rc;

	*out = NULL;
	*n = 0;
	it = emt_reader_captures(r, f);
	if (!it)
		return errno ? -errno : -EIO;
	while ((rc = emt_capture_iter_next(it, &c)) > 0) {
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct emt_capture *nl = realloc(list, ncap * sizeof(*nl));

			if (!nl) {
				rc = -ENOMEM;
				break;
			}
			list = nl;
			cap = ncap;
		}
		list[cnt++] = c;
	}
	emt_capture_iter_free(it);
	if (rc < 0) {
		free(list);
		return rc;
	}
	*out = list;
	*n = cnt;
	return 0;
}

int cli_capture_bytes(struct emt_reader *r, const struct emt_capture *c,
		      uint8_t **buf, size_t *cap)
{
	if (c->size > EMT_CAPTURE_SIZE_MAX || c->size > SIZE_MAX)
		return -E2BIG;
	if (*cap < c->size || !*buf) {
		uint8_t *nb = realloc(*buf, c->size ? c->size : 1);

		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = c->size ? c->size : 1;
	}
	return emt_reader_read_capture(r, c->seq, *buf, *cap, 0);
}
