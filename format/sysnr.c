/*
 * sysnr.c - x86-64 syscall numbers and names.  The kernel's tracepoint
 * formats name every syscall but not its number, and some of their names
 * are not the ABI's (newfstat for fstat); the numbers and names here are
 * the kernel's ABI as its UAPI header <asm/unistd_64.h> states it, turned
 * into sysnr.h by the Makefile (one SYSNR(name, number) line per __NR_
 * macro).  Used by the syscall recorder (capture/sysrec_nr.c) and by
 * syscall models, whose names are these (emt_model.h).
 */
#include <stddef.h>
#include <string.h>

#include "emt_model.h"

static const struct {
	const char *name;
	int nr;
} nrs[] = {
#define SYSNR(n, v) { #n, v },
#include "sysnr.h"
#undef SYSNR
};

int emt_syscall_nr(const char *name)
{
	for (size_t i = 0; name && i < sizeof(nrs) / sizeof(nrs[0]); i++)
		if (!strcmp(nrs[i].name, name))
			return nrs[i].nr;
	return -1;
}

const char *emt_syscall_name(int nr)
{
	for (size_t i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		if (nrs[i].nr == nr)
			return nrs[i].name;
	return NULL;
}
