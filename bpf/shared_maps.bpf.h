/*
 * shared_maps.bpf.h - the maps of the main object (bpf/emt.bpf.c) that
 * the optional objects (syscalls.bpf.c: --syscalls, model.bpf.c:
 * --model) share with it by bpf_map__reuse_fd, and their loss counting:
 * followed-ness and loss accounting stay one.  The definitions must be
 * the main object's (reuse checks type, sizes and flags).  BPF side only.
 */
#ifndef EMT_SHARED_MAPS_BPF_H
#define EMT_SHARED_MAPS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, __u32);
} followed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct emt_bpf_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct emt_loss_key);
	__type(value, __u64);
} lost SEC(".maps");

/* Counts one loss of `kind` (EMT_LOSS_*) for the current process, in
 * the tgid-0 entry when the map is full (as emt.bpf.c does). */
static __always_inline void emt_count_loss(__u32 kind)
{
	struct emt_loss_key k = { (__u32)(bpf_get_current_pid_tgid() >> 32), kind };
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&lost, &k);
	if (!v && bpf_map_update_elem(&lost, &k, &one, BPF_NOEXIST) == 0)
		return;
	if (!v)
		v = bpf_map_lookup_elem(&lost, &k);
	if (!v) {
		k.tgid = 0;
		v = bpf_map_lookup_elem(&lost, &k);
	}
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* A record that did not fit in the ring: the rb_fail counter and a
 * ringbuf-record loss. */
static __always_inline void emt_count_rb_fail(void)
{
	__u32 zero = 0;
	struct emt_bpf_stats *st = bpf_map_lookup_elem(&stats, &zero);

	if (st)
		st->rb_fail++;
	emt_count_loss(EMT_LOSS_RECORD);
}

#endif /* EMT_SHARED_MAPS_BPF_H */
