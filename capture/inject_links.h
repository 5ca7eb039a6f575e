/*
 * inject_links.h - the ranges injections wrote into followed processes
 * (issue 15), so that a later capture of injected bytes (the victim
 * making them executable, running them) is linked to the injection that
 * put them there.  Used by the sink: filled by sink_injection and read by
 * sink_capture, on the writer thread, and cleared when a pid is reused,
 * on the engine's thread; a mutex makes that safe.
 */
#ifndef EMT_CAPTURE_INJECT_LINKS_H
#define EMT_CAPTURE_INJECT_LINKS_H

#include <stdint.h>
#include <sys/types.h>

struct inject_links;

/* An empty set, or NULL (out of memory). */
struct inject_links *inject_links_new(void);
/* Frees it; accepts NULL. */
void inject_links_free(struct inject_links *l);
/* Injection `id` wrote [addr, addr+len) of `pid` (len >= 1).  Returns 0
 * or -ENOMEM. */
int inject_links_add(struct inject_links *l, pid_t pid, uint64_t addr, uint64_t len,
		     int64_t id);
/* The latest injection of `pid` whose range overlaps [addr, addr+size),
 * or 0 if none. */
int64_t inject_links_find(struct inject_links *l, pid_t pid, uint64_t addr,
			  uint64_t size);
/* Forgets the ranges of `pid` (a new process got its pid). */
void inject_links_forget(struct inject_links *l, pid_t pid);

#endif /* EMT_CAPTURE_INJECT_LINKS_H */
