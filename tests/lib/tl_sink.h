/*
 * tl_sink.h - a capture sink (capture/sink.h) on a fresh archive, for the
 * unit tests of what writes through it (test_sink, test_writeq).
 */
#ifndef EMT_TESTS_TL_SINK_H
#define EMT_TESTS_TL_SINK_H

#include <sys/types.h>

#include "engine.h"

struct emt_reader;

struct tl_sink {
	char dir[64];
	char path[96];
	struct emt_session s;   /* s.sink: the open sink, NULL once closed */
	pid_t pid;              /* ours, started as a process of the archive */
};

/* Opens a sink writing "t.emt" in a new directory under /tmp named after
 * `tag`, and starts our own process in it (sink_process_start reads its
 * exe and cmdline).  Returns 0, or -1 with a message on stderr and
 * nothing left behind. */
int tl_sink_open(struct tl_sink *k, const char *tag);

/* Seals the archive and opens it for reading; fails the running cmocka
 * test if either fails.  The caller closes the reader. */
struct emt_reader *tl_sink_reopen(struct tl_sink *k);

/* Closes the sink if still open and removes the archive and directory. */
void tl_sink_cleanup(struct tl_sink *k);

#endif /* EMT_TESTS_TL_SINK_H */
