/*
 * inject_bpf.c - decoding the BPF side's injection records
 * (inject_bpf.h).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>

#include "inject_bpf.h"
#include "proc.h"


int inject_from_bpf(const struct emt_rec_inject *r, struct inject_write *out,
		    size_t *n, size_t *dropped)
{
	struct iovec v[INJECT_MAX_WRITES];
	struct inject_write w = {
		.writer = (pid_t)r->h.pid, .writer_tid = (pid_t)r->h.tid,
		.victim = (pid_t)r->victim, .time_ns = r->h.time_ns,
	};
	uint64_t cnt = 0, pos = r->pos;
	int got = 0;

	*n = 0;
	*dropped = 0;
	switch (r->method) {
	case EMT_INJ_VM_WRITEV:
		w.method = EMT_INJECT_VM_WRITEV;
		if (!w.victim)
			w.victim = (pid_t)r->args[0];
		cnt = r->args[4] > INJECT_IOV_MAX ? INJECT_IOV_MAX : r->args[4];
		got = inject_read_iovs(w.writer, r->args[3], cnt, v, INJECT_MAX_WRITES);
		break;
	case EMT_INJ_POKETEXT:
	case EMT_INJ_POKEDATA:
		w.method = r->method == EMT_INJ_POKETEXT ? EMT_INJECT_POKETEXT : EMT_INJECT_POKEDATA;
		if (!w.victim)
			w.victim = (pid_t)r->args[1];
		w.has_word = 1;
		w.word = r->args[3];
		v[0] = (struct iovec){ (void *)(uintptr_t)r->args[2], 8 };
		got = cnt = 1;
		break;
	case EMT_INJ_PROC_MEM:
		w.method = EMT_INJECT_PROC_MEM;
		if (!w.victim)
			w.victim = inject_mem_fd_victim(w.writer, r->args[0]);
		switch (r->nr) {
		case EMT_NR_WRITE:
		case EMT_NR_PWRITE64:
			if (r->nr == EMT_NR_PWRITE64)
				pos = r->args[3];
			v[0] = (struct iovec){ (void *)(uintptr_t)pos, r->args[2] };
			got = cnt = 1;
			break;
		case EMT_NR_WRITEV:
		case EMT_NR_PWRITEV:
		case EMT_NR_PWRITEV2:
			/* pwritev2 at offset -1 writes at the file position. */
			if (r->nr != EMT_NR_WRITEV && r->args[3] != UINT64_MAX)
				pos = r->args[3];
			cnt = r->args[2] > INJECT_IOV_MAX ? INJECT_IOV_MAX : r->args[2];
			struct iovec lv[INJECT_MAX_WRITES];
			int k = inject_read_iovs(w.writer, r->args[1], cnt, lv, INJECT_MAX_WRITES);
			uint64_t total = 0;

			/* The pieces land one after the other from pos. */
			for (int i = 0; i < k; i++)
				total += lv[i].iov_len;
			v[0] = (struct iovec){ (void *)(uintptr_t)pos, total };
			got = k < 0 ? k : 1;
			cnt = 1;
			break;
		default:
			return -EINVAL;
		}
		break;
	default:
		return -EINVAL;
	}
	if (got < 0)
		return got;
	if (w.victim <= 0)
		return w.victim < 0 ? w.victim : -ESRCH;
	int tg = proc_read_tgid(w.victim);      /* a thread id names its process */

	if (tg > 0)
		w.victim = tg;
	for (int i = 0; i < got; i++) {
		if (!v[i].iov_len)
			continue;
		out[*n] = w;
		out[*n].addr = (uint64_t)(uintptr_t)v[i].iov_base;
		out[*n].len = v[i].iov_len;
		(*n)++;
	}
	if (cnt > (uint64_t)got)
		*dropped = cnt - (uint64_t)got;
	return 0;
}
