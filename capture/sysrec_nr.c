/*
 * sysrec_nr.c - x86-64 syscall numbers by name, for the recorder: the
 * table is the format library's (format/sysnr.c), shared with syscall
 * models.
 */
#include "emt_model.h"
#include "sysrec.h"

int sysrec_nr_of(const char *name)
{
	return emt_syscall_nr(name);
}
