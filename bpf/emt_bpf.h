/*
 * emt_bpf.h - records and maps shared by bpf/emt.bpf.c and
 * capture/bpf_engine.c.  One definition for both sides: fixed-width
 * types, explicit padding, sizes checked at compile time.
 *
 * Ring buffer protocol.  A capture is a CAP_BEGIN record, then one PAGE
 * (4 KiB of bytes) or PAGE_FAIL (bpf_probe_read_user failed: page not
 * resident) record per page, then CAP_END, all from the thread that made
 * the syscall, in order.  Records of different captures interleave (other
 * CPUs); cap_id ties them together.  Records that did not fit in the ring
 * are counted in the per-CPU stats map and in CAP_END.
 */
#ifndef EMT_BPF_H
#define EMT_BPF_H

#ifdef __bpf__
/* vmlinux.h provides __u32/__u64. */
#else
#include <linux/types.h>
#endif

#define EMT_PAGE_SIZE      4096u
#define EMT_RWX_SLOTS      16u          /* RWX ranges tracked per process */
#define EMT_NAME_LEN       64u

enum emt_rec_type {
	EMT_REC_CAP_BEGIN = 1,
	EMT_REC_PAGE,
	EMT_REC_PAGE_FAIL,
	EMT_REC_CAP_END,
	EMT_REC_SYSCALL,
	EMT_REC_FORK,
	EMT_REC_EXEC,
	EMT_REC_EXIT,
	EMT_REC_INJECT,         /* struct emt_rec_inject (issue 15) */
};

/* enum emt_trigger values of format/emt_archive.h, repeated here only as
 * the numbers the BPF side writes (checked by _Static_assert in
 * bpf_engine.c against the archive enum). */
#define EMT_BPF_TRIG_MPROTECT   1
#define EMT_BPF_TRIG_MMAP       2
#define EMT_BPF_TRIG_MUNMAP     4
#define EMT_BPF_TRIG_EXIT       5
#define EMT_BPF_TRIG_EXEC       6
#define EMT_BPF_TRIG_PROTECT_W  9

/* CAP_END flags. */
#define EMT_CAPF_HOLD      0x1u  /* SIGSTOP sent: read failed pages, then SIGCONT */
#define EMT_CAPF_DEFERRED  0x2u  /* no bytes sent (ring too full): read all while held */

/* Backing kinds found by the BPF side (enum emt_backing numbers). */
#define EMT_BPF_BACK_ANON    1
#define EMT_BPF_BACK_MEMFD   2
#define EMT_BPF_BACK_FILE    3
#define EMT_BPF_BACK_DELETED 4
#define EMT_BPF_BACK_SHARED  5
#define EMT_BPF_BACK_OTHER   6

struct emt_rec_hdr {
	__u32 type;             /* enum emt_rec_type */
	__u32 pid;              /* tgid */
	__u32 tid;
	__u32 cpu;
	__u64 time_ns;          /* bpf_ktime_get_boot_ns */
};

struct emt_rec_cap_begin {
	struct emt_rec_hdr h;
	__u64 cap_id;
	__u64 addr;             /* page aligned */
	__u64 len;              /* page multiple */
	__u32 trigger;          /* EMT_BPF_TRIG_* */
	__u32 prot_before;      /* of the VMA at addr, PROT_* */
	__u32 prot_after;
	__u32 backing;          /* EMT_BPF_BACK_*, for mmap captures */
	__u64 ino;
	__u64 dev;
	__u64 pgoff;            /* file offset in bytes */
	char  name[EMT_NAME_LEN]; /* file's dentry name, for mmap captures */
};

/* Followed by EMT_PAGE_SIZE bytes for EMT_REC_PAGE, nothing for
 * EMT_REC_PAGE_FAIL. */
struct emt_rec_page {
	__u32 type;
	__s32 err;              /* bpf_probe_read_user result for PAGE_FAIL */
	__u64 cap_id;
	__u64 index;            /* page number within the capture */
};

struct emt_rec_cap_end {
	__u32 type;
	__u32 flags;            /* EMT_CAPF_* */
	__u64 cap_id;
	__u64 npages;
	__u64 nfailed;          /* PAGE_FAIL records sent */
	__u64 ndropped;         /* page records that did not fit in the ring */
	__u32 pid;
	__u32 tid;
};

struct emt_rec_syscall {
	struct emt_rec_hdr h;
	__u64 nr;
	__u64 args[6];
	__s64 ret;
	__u64 enter_ns;
	/* For mmap: what backs the new mapping (found at exit). */
	__u32 backing;
	__u32 pad;
	__u64 ino;
	__u64 dev;
	char  name[EMT_NAME_LEN];
};

struct emt_rec_task {
	struct emt_rec_hdr h;
	__u32 other;            /* FORK: child tgid */
	__s32 exit_code;        /* EXIT: task->exit_code */
	__u32 group_dead;       /* EXIT: last thread of the process */
	__u32 pad;
};

#define EMT_EXEC_PATH_LEN 256u
#define EMT_EXEC_ARGS_LEN 512u

/* EMT_REC_EXEC: the new image as execve saw it, so that the archive does
 * not depend on reading /proc before the process moves on. */
struct emt_rec_exec {
	struct emt_rec_hdr h;
	__u32 old_pid;
	__u32 args_len;         /* bytes of args used (NUL-separated) */
	char  filename[EMT_EXEC_PATH_LEN];
	char  args[EMT_EXEC_ARGS_LEN];
};

/* Per-CPU counters (array map of one entry per CPU). */
struct emt_bpf_stats {
	__u64 rb_fail;          /* records not submitted: ring full */
	__u64 rb_fail_pages;    /* of which page records */
	__u64 captures;
	__u64 pages;
	__u64 pages_failed;
	__u64 holds;
	__u64 deferred;
	__u64 rwx_full;         /* RWX ranges not tracked: table full */
};

/* What a lost ring record was, for the per-process loss map (key
 * struct emt_loss_key, value __u64 count).  Userspace writes them as
 * archive losses of kind "ringbuf-capture" (a whole capture: its begin
 * record), "ringbuf-page" (pages of a capture, which are also gaps of
 * it) and "ringbuf-record" (end, syscall, fork, exec and exit records). */
#define EMT_LOSS_CAPTURE 0u
#define EMT_LOSS_PAGE    1u
#define EMT_LOSS_RECORD  2u
#define EMT_LOSS_ALERT   3u     /* "alert-rate": syscall model alerts over
				 * the rate limit (bpf/model.bpf.c) */
#define EMT_LOSS_KINDS   4u

struct emt_loss_key {
	__u32 tgid;             /* 0: the map was full */
	__u32 kind;             /* EMT_LOSS_* */
};

/* Saved syscall arguments between sys_enter and sys_exit, per thread. */
struct emt_pending {
	__u64 nr;
	__u64 args[6];
	__u64 enter_ns;
	__u64 vua;      /* mmap-lock hooks: last vm_unmapped_area result */
	__u64 pre;      /* mmap-lock hooks: MAP_FIXED_NOREPLACE range was in use */
};

/* RWX ranges of one process, kept by the BPF side so that munmap,
 * mprotect-removing-W, execve and exit_group can copy them at entry. */
struct emt_rwx_table {
	__u64 addr[EMT_RWX_SLOTS];
	__u64 len[EMT_RWX_SLOTS];   /* 0 = free slot */
	__u32 prot[EMT_RWX_SLOTS];
};

/* ---------------------------------------------------------- injections
 * A thread writing into another process's memory (process_vm_writev,
 * PTRACE_POKETEXT/POKEDATA, a write to /proc/PID/mem), where the writer or
 * the victim is followed: seen when the writer takes the victim's mmap
 * lock, one record per call (struct emt_inj_seen keeps the call in map
 * inj_seen, by writer tid, until userspace has served it), then the writer
 * is held (SIGSTOP) so that userspace reads the victim's bytes after the
 * write before the writer moves on (capture/inject.c). */
#define EMT_INJ_VM_WRITEV   1   /* process_vm_writev */
#define EMT_INJ_POKETEXT    2
#define EMT_INJ_POKEDATA    3
#define EMT_INJ_PROC_MEM    4   /* write, pwrite64, writev, pwritev(2) on /proc/PID/mem */

/* The writer's syscalls that can write into another process (x86-64
 * numbers): both sides read their arguments. */
#define EMT_NR_WRITE             1
#define EMT_NR_PWRITE64          18
#define EMT_NR_WRITEV            20
#define EMT_NR_PTRACE            101
#define EMT_NR_PWRITEV           296
#define EMT_NR_PROCESS_VM_WRITEV 311
#define EMT_NR_PWRITEV2          328

#define EMT_INJF_WRITER_FOLLOWED 0x1u
#define EMT_INJF_VICTIM_FOLLOWED 0x2u

struct emt_rec_inject {
	struct emt_rec_hdr h;   /* the writer: pid = tgid, tid */
	__u32 victim;           /* tgid owning the memory written (mm->owner), 0 unknown */
	__u32 method;           /* EMT_INJ_* */
	__u64 nr;               /* the writer's syscall number */
	__u64 args[6];          /* its arguments */
	__u64 pos;              /* EMT_INJ_PROC_MEM: the file position at the call */
	__u32 flags;            /* EMT_INJF_* */
	__u32 pad;
};

struct emt_inj_seen {
	__u64 nr;
	__u64 args[4];
};

#ifndef __bpf__
_Static_assert(sizeof(struct emt_rec_inject) == 104, "rec_inject size");
_Static_assert(sizeof(struct emt_inj_seen) == 40, "inj_seen size");
#endif

#ifndef __bpf__
_Static_assert(sizeof(struct emt_rec_hdr) == 24, "emt_rec_hdr size");
_Static_assert(sizeof(struct emt_rec_cap_begin) == 152, "cap_begin size");
_Static_assert(sizeof(struct emt_rec_page) == 24, "rec_page size");
_Static_assert(sizeof(struct emt_rec_cap_end) == 48, "cap_end size");
_Static_assert(sizeof(struct emt_rec_syscall) == 184, "syscall size");
_Static_assert(sizeof(struct emt_rec_task) == 40, "rec_task size");
_Static_assert(sizeof(struct emt_bpf_stats) == 64, "stats size");
_Static_assert(sizeof(struct emt_loss_key) == 8, "loss key size");
_Static_assert(sizeof(struct emt_rec_exec) == 24 + 8 + 256 + 512, "rec_exec size");
_Static_assert(sizeof(struct emt_rwx_table) == EMT_RWX_SLOTS * 20, "rwx size");
#endif

#endif /* EMT_BPF_H */
