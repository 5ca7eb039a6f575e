/* tl_sink.c - a capture sink on a fresh archive for unit tests (see
 * tl_sink.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sink.h"
#include "tl_sink.h"

int tl_sink_open(struct tl_sink *k, const char *tag)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->dir, sizeof(k->dir), "/tmp/emt-%s.XXXXXX", tag);
	if (!mkdtemp(k->dir)) {
		perror("tl_sink_open: mkdtemp");
		return -1;
	}
	snprintf(k->path, sizeof(k->path), "%s/t.emt", k->dir);
	k->s.opts.sz = sizeof(k->s.opts);
	k->s.opts.output = k->path;
	k->s.sink = sink_open(&k->s, NULL);
	if (!k->s.sink) {
		fprintf(stderr, "sink_open: %s\n", k->s.errmsg);
		tl_sink_cleanup(k);
		return -1;
	}
	k->pid = getpid();
	if (sink_process_start(k->s.sink, k->pid, 0, 1000)) {
		fprintf(stderr, "sink_process_start: %s\n", k->s.errmsg);
		tl_sink_cleanup(k);
		return -1;
	}
	return 0;
}

struct emt_reader *tl_sink_reopen(struct tl_sink *k)
{
	char *msg = NULL;

	assert_int_equal(sink_close(k->s.sink), 0);
	k->s.sink = NULL;
	struct emt_reader *r = emt_reader_open(k->path, &msg);
	if (!r)
		fail_msg("emt_reader_open: %s", msg ? msg : "?");
	return r;
}

void tl_sink_cleanup(struct tl_sink *k)
{
	if (k->s.sink)
		sink_close(k->s.sink);
	k->s.sink = NULL;
	if (k->path[0])
		unlink(k->path);
	if (k->dir[0])
		rmdir(k->dir);
}
