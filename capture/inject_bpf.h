/*
 * inject_bpf.h - the writes of an injection record of the BPF side
 * (struct emt_rec_inject, bpf/emt_bpf.h), for inject_capture().
 */
#ifndef EMT_CAPTURE_INJECT_BPF_H
#define EMT_CAPTURE_INJECT_BPF_H

#include <stddef.h>

#include "bpf/emt_bpf.h"
#include "inject.h"

/* Decodes r, reading what the call's arguments point to (the remote
 * iovecs of process_vm_writev, the iovecs of writev/pwritev) from the
 * writer, which the caller holds stopped.  Fills out[0..*n) (at most
 * INJECT_MAX_WRITES; *dropped gets how many more there were).  The victim
 * is r->victim, or found from the arguments (pid of process_vm_writev or
 * ptrace, the /proc/PID/mem path of the fd).  Returns 0, or -ESRCH (the
 * writer or victim is gone), -EINVAL (a record that names no write). */
int inject_from_bpf(const struct emt_rec_inject *r, struct inject_write *out,
		    size_t *n, size_t *dropped);

#endif /* EMT_CAPTURE_INJECT_BPF_H */
