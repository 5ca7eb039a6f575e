/*
 * privs.h - drops the capabilities a capture no longer needs once it is
 * set up.
 *
 * Loading BPF programs or seizing targets needs strong privileges; what
 * follows (reading the ring, process_vm_readv, resuming held threads,
 * writing the archive) needs few.  emt-capture parses bytes and strings
 * that a possibly hostile target controls: if that ever went wrong, the
 * process must not still hold CAP_SYS_ADMIN or CAP_BPF.
 */
#ifndef EMT_CAPTURE_PRIVS_H
#define EMT_CAPTURE_PRIVS_H

#include <stddef.h>

/* Keeps only the capabilities numbered in caps[0..n) in the effective,
 * permitted and inheritable sets, empties the ambient set, removes every
 * other capability from the bounding set and sets no_new_privs, for the
 * calling process's threads that are created afterwards and the calling
 * thread (threads already running keep theirs: call it before starting
 * them, or accept it).  Writes the names kept, comma-separated, to
 * desc (may be NULL).  Returns 0 or -errno. */
int privs_keep_only(const int *caps, size_t n, char *desc, size_t desc_len);

#endif /* EMT_CAPTURE_PRIVS_H */
