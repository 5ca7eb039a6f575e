/*
 * privs.c - capability dropping (privs.h).
 */
#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privs.h"

static const char *cap_name(int c)
{
	switch (c) {
	case 0: return "CAP_CHOWN";
	case 1: return "CAP_DAC_OVERRIDE";
	case 2: return "CAP_DAC_READ_SEARCH";
	case 3: return "CAP_FOWNER";
	case 5: return "CAP_KILL";
	case 19: return "CAP_SYS_PTRACE";
	default: return "CAP_?";
	}
}

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int n = 40;

	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = 40;
		fclose(f);
	}
	return n < 63 ? n : 63;
}

int privs_keep_only(const int *caps, size_t n, char *desc, size_t desc_len)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	uint64_t keep = 0, eff, perm, inh;
	int last = last_cap();

	if (desc && desc_len)
		desc[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (caps[i] < 0 || caps[i] > 63)
			return -EINVAL;
		keep |= 1ull << caps[i];
	}
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	perm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
	/* The bounding set first: dropping from it needs CAP_SETPCAP, which
	 * goes with the capset below. */
	for (int c = 0; c <= last; c++)
		if (!(keep & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL && errno != EPERM)
			return -errno;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	eff &= keep;
	perm &= keep;
	inh &= keep;
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	d[0].permitted = (uint32_t)perm;
	d[1].permitted = (uint32_t)(perm >> 32);
	d[0].inheritable = (uint32_t)inh;
	d[1].inheritable = (uint32_t)(inh >> 32);
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	for (size_t i = 0; desc && i < n; i++) {
		size_t l = strlen(desc);

		if (perm & (1ull << caps[i]))
			snprintf(desc + l, desc_len - l, "%s%s", l ? "," : "", cap_name(caps[i]));
	}
	return 0;
}
