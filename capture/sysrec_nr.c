/*
 * sysrec_nr.c - x86-64 syscall numbers by name.  The kernel's tracepoint
 * formats name every syscall but not its number; the numbers are the
 * kernel's ABI as its UAPI header <asm/unistd_64.h> states it, turned
 * into sysnr.h by the Makefile (one SYSNR(name, number) line per
 * __NR_ macro).
 */
#include <stddef.h>
#include <string.h>

#include "sysrec.h"

static const struct {
	const char *name;
	int nr;
} nrs[] = {
#define SYSNR(n, v) { #n, v },
#include "sysnr.h"
#undef SYSNR
};

int sysrec_nr_of(const char *name)
{
	for (size_t i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		if (!strcmp(nrs[i].name, name))
			return nrs[i].nr;
	return -1;
}
