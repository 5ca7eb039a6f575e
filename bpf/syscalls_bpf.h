/*
 * syscalls_bpf.h - records and maps shared by bpf/syscalls.bpf.c (the
 * syscall recorder, `emt-capture --syscalls`) and capture/sysrec_bpf.c.
 * Fixed-width types, explicit padding, sizes checked at compile time.
 *
 * The recorder's programs run on the per-syscall tracepoints
 * syscalls/sys_enter_NAME and sys_exit_NAME of the chosen syscalls only.
 * Which argument is a string, a string array or memory of some length
 * comes from user space (capture/sysrec_layout.c reads it off the
 * kernel's tracepoint format files) in the `sr_layouts` map, keyed by
 * syscall number.
 *
 * Ring buffer protocol (the main emt ring, shared): one SR_ENTER record
 * at entry (values of all six argument registers and the memory behind
 * input pointers), one SR_EXIT record at exit (return value and the
 * memory behind output pointers, and input memory that could not be read
 * at entry, read again).  A record is a struct sr_rec followed
 * by data_len bytes of segments, each a struct sr_seg and its payload
 * padded to 8 bytes.
 */
#ifndef EMT_SYSCALLS_BPF_H
#define EMT_SYSCALLS_BPF_H

#ifdef __bpf__
/* vmlinux.h provides __u8.. __u64. */
#else
#include <linux/types.h>
#endif

/* Record types, after enum emt_rec_type's (bpf/emt_bpf.h) in the same
 * ring: bpf_engine.c hands these to the recorder. */
#define SR_REC_ENTER 0x100u
#define SR_REC_EXIT  0x101u

#define SR_NARGS     6u
#define SR_DATA_MAX  16384u     /* segment bytes of one record (power of two; the
                                 * per-CPU scratch value must stay under 32 KiB) */
#define SR_SEG_MAX   4096u      /* payload of one segment (power of two) */
#define SR_STRV_MAX  128u       /* elements of argv, and of envp, read */
#define SR_MAX_NR    1024u      /* syscall numbers below this */

/* Argument kinds (struct sr_argspec.kind). */
#define SR_K_VAL      0u        /* the register value only */
#define SR_K_STR      1u        /* NUL-terminated string, read at entry */
#define SR_K_STRV     2u        /* NULL-terminated array of strings (argv), at entry */
#define SR_K_MEM_IN   3u        /* memory of a length, read at entry */
#define SR_K_MEM_OUT  4u        /* memory of a length, read at exit */
#define SR_K_MEM_OUTP 5u        /* at exit, length in the int that argument len_arg points to */

/* struct sr_argspec.len_arg: which argument holds the length, or: */
#define SR_LEN_RET    6u        /* the return value (read(2)'s buffer) */
#define SR_LEN_FIXED  7u        /* exactly `max` bytes */

struct sr_argspec {
	__u8  kind;             /* SR_K_* */
	__u8  len_arg;          /* 0..5, SR_LEN_RET or SR_LEN_FIXED */
	__u16 max;              /* bytes read at most (<= SR_SEG_MAX); 0 = SR_SEG_MAX */
};

/* sr_layout.flags */
#define SR_LF_EXIT_MEM 0x1u     /* some argument is read at exit: keep the entry */

struct sr_layout {
	__u32 nargs;
	__u32 flags;            /* SR_LF_* */
	struct sr_argspec a[SR_NARGS];
};

/* Segment status. */
#define SR_ST_OK      0u
#define SR_ST_CUT     1u        /* longer than the bound: the first len bytes */
#define SR_ST_FAULT   2u        /* unreadable (not resident, bad pointer): err */
#define SR_ST_NOROOM  3u        /* the record had no room left: nothing read */
#define SR_ST_MORE    4u        /* STRV: more elements than SR_STRV_MAX (idx = count read) */

struct sr_seg {
	__u8  arg;              /* argument index */
	__u8  status;           /* SR_ST_* */
	__u16 len;              /* payload bytes (no NUL for strings) */
	__u16 idx;              /* element of a STRV, else 0 */
	__s16 err;              /* -errno of the read for SR_ST_FAULT */
};

/* sr_rec.flags */
#define SR_RF_NOENTRY 0x1u      /* EXIT: its entry arguments were not kept */

struct sr_rec {
	__u32 type;             /* SR_REC_ENTER / SR_REC_EXIT */
	__u32 pid;              /* tgid */
	__u32 tid;
	__u32 nr;               /* syscall number (the tracepoint's __syscall_nr) */
	__u64 time_ns;          /* bpf_ktime_get_boot_ns */
	__u64 args[SR_NARGS];   /* ENTER: the argument registers; EXIT: as at entry */
	__s64 ret;              /* EXIT */
	__u32 uid, gid;
	__u32 data_len;         /* bytes of segments after the record */
	__u32 flags;            /* SR_RF_* */
};

/* Saved at entry, per thread, for syscalls that read memory at exit
 * and for those whose input memory could not be read at entry. */
struct sr_pending {
	__u64 nr;
	__u64 args[SR_NARGS];
	__u32 retry;            /* arguments to read again at exit (bit i: argument i) */
	__u32 pad;
};

#ifndef __bpf__
_Static_assert(sizeof(struct sr_argspec) == 4, "sr_argspec size");
_Static_assert(sizeof(struct sr_layout) == 32, "sr_layout size");
_Static_assert(sizeof(struct sr_seg) == 8, "sr_seg size");
_Static_assert(sizeof(struct sr_rec) == 96, "sr_rec size");
_Static_assert(sizeof(struct sr_pending) == 64, "sr_pending size");
#endif

#endif /* EMT_SYSCALLS_BPF_H */
