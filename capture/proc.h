/*
 * proc.h - what the capture engines learn about a target from /proc and
 * process_vm_readv: mappings, executable, command line, threads, memory.
 *
 * Everything read here comes from a possibly hostile process: paths and
 * command lines are data (never used to build paths or commands), and a
 * process may exit between two calls, so every function tolerates ENOENT /
 * ESRCH and reports it as -errno.
 */
#ifndef EMT_CAPTURE_PROC_H
#define EMT_CAPTURE_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "emt_archive.h"

/* One line of /proc/PID/maps. */
struct proc_map {
	uint64_t start, end;    /* [start, end) */
	uint64_t offset;        /* file offset of start */
	uint64_t inode;
	uint64_t dev;           /* makedev(major, minor) */
	uint32_t prot;          /* PROT_READ|PROT_WRITE|PROT_EXEC */
	uint32_t shared;        /* 1 for 's' (MAP_SHARED) */
	char    *path;          /* malloc'd, "" for anonymous; as the kernel shows it */
};

/* Parses one maps line (without or with its trailing newline) into *m;
 * m->path is malloc'd.  Returns 0, -EINVAL on a malformed line or -ENOMEM. */
int proc_parse_maps_line(const char *line, struct proc_map *m);

/* Reads /proc/PID/maps into a malloc'd array (*maps, *n); free it with
 * proc_maps_free.  Returns 0 or -errno (-ESRCH/-ENOENT if the process is
 * gone). */
int proc_maps_read(pid_t pid, struct proc_map **maps, size_t *n);
void proc_maps_free(struct proc_map *maps, size_t n);

/* Classifies a mapping as an enum emt_backing from what maps shows:
 * "/memfd:" names are memfd, " (deleted)" suffixes deleted files,
 * anonymous shared mappings and SysV segments shared, paths under /dev
 * other, inode 0 anonymous, anything else a regular file. */
uint32_t proc_map_backing(const struct proc_map *m);

/* Copies the target of /proc/PID/exe into buf (NUL-terminated, truncated
 * to cap).  Returns 0 or -errno. */
int proc_read_exe(pid_t pid, char *buf, size_t cap);
/* Copies /proc/PID/cmdline with NULs turned into spaces (trailing one
 * dropped), NUL-terminated, truncated to cap.  Returns 0 or -errno. */
int proc_read_cmdline(pid_t pid, char *buf, size_t cap);
/* Returns the parent pid from /proc/PID/stat, or -errno. */
int proc_read_ppid(pid_t pid);
/* Returns the one-letter state from /proc/PID/stat ('R', 'S', 'T', ...)
 * or -errno. */
int proc_read_state(pid_t pid);
/* Returns 1 if some thread of the thread group PID still runs, 0 if the
 * group is gone or a zombie, or -errno (other than ENOENT/ESRCH) if /proc
 * cannot tell.  The leader's own state is not enough: a leader that
 * called pthread_exit is a zombie while its siblings run. */
int proc_group_alive(pid_t pid);
/* Returns the id of a thread of process pid that has not exited (the
 * leader first if it lives), -ESRCH if there is none, or -errno. */
pid_t proc_live_thread(pid_t pid);

/* Returns the thread-group id (process id) of thread or process `tid`
 * from /proc/TID/status, or -errno. */
int proc_read_tgid(pid_t tid);

/* Returns the pid of the process tracing thread or process `tid`
 * (TracerPid of /proc/TID/status; 0: none), or -errno. */
int proc_read_tracer(pid_t tid);

/* Lists the thread ids of process pid (/proc/PID/task) into a malloc'd
 * array.  Returns 0 or -errno. */
int proc_list_tasks(pid_t pid, pid_t **tids, size_t *n);

/* Reads [addr, addr+len) of pid into buf with process_vm_readv.  addr and
 * len need not be page aligned, but gaps are reported per page: a page
 * that cannot be read (process_vm_readv faults pages in, so this means
 * unmapped, PROT_NONE or an I/O error) is zeroed in buf and recorded as a
 * gap (offset from addr, EMT_GAP_UNREADABLE with its errno), merged with
 * an adjacent gap of the same reason.  *gaps is a malloc'd array (NULL if none) the
 * caller frees.  Returns 0 (even with gaps), -ESRCH if the process is
 * gone, or -ENOMEM. */
int proc_read_mem(pid_t pid, uint64_t addr, uint64_t len, void *buf,
		  struct emt_gap **gaps, size_t *ngaps);

/* Appends a gap [off, off+len) to a growable array, merging it with the
 * last entry when contiguous and of the same reason/err.  Returns 0 or
 * -ENOMEM.  Shared by the engines that build gap lists page by page. */
int proc_gap_add(struct emt_gap **gaps, size_t *ngaps, size_t *cap,
		 uint64_t off, uint64_t len, uint32_t reason, int32_t err);

#endif /* EMT_CAPTURE_PROC_H */
