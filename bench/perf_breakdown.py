#!/usr/bin/env python3
"""perf_breakdown.py - where the microseconds of one traced run go.

Reads `perf script -F comm,tid,ip,sym,dso` output of a `perf record -a
--call-graph dwarf` run and prints, per thread of emt-capture and for the
target, the CPU time of each cost centre in milliseconds and in
microseconds per capture: "self" puts each sample in the first centre of
the list found on its stack (the self column sums to the thread's time),
"incl" counts it for every centre on its stack.  The centres are named by the functions that
delimit them (SQLite's sqlite3_step, OpenSSL's EVP_Digest, ...), so a
sample's share does not depend on symbols inside the libraries, which
have no frame pointers.

Flat profiles of this VM put most kernel samples on pvm_irq_enable (the
sample interrupt is taken when interrupts come back on); the call chains
say what ran with them off.

usage: perf_breakdown.py SCRIPT_OUTPUT HZ CAPTURES TARGET_COMM
"""
import collections
import re
import sys

# (label, functions any of which on the stack puts the sample there);
# first match wins for the "self" column, every match counts inclusively.
CAPTURE_CENTRES = [
    ("startup (engine open: BPF load)", ("emt_capture_open",)),
    ("seal and close", ("emt_capture_close_seal", "emt_capture_stop")),
    ("writer: SQLite commit+checkpoint", ("batch_commit",)),
    ("writer: SQLite rows", ("sqlite3_step",)),
    ("writer: SHA-256", ("EVP_Digest", "SHA256_Update")),
    ("writer: zstd", ("ZSTD_compress2", "ZSTD_decompressDCtx")),
    ("writer: other", ("writer_main",)),
    ("engine: ring records", ("on_record",)),
    ("engine: holds", ("serve_holds",)),
    ("engine: poll/wait", ("bpf_poll", "ring_buffer__poll")),
    ("ptrace engine", ("pt_poll", "ptrace", "__GI___wait4", "waitid")),
]
TARGET_CENTRES = [
    ("mprotect: TLB flush", ("flush_tlb_mm_range",)),
    ("BPF programs", ("bpf_trace_run2", "bpf_trace_run3", "bpf_trace_run4")),
    ("mprotect: other", ("__x64_sys_mprotect", "__x64_sys_pkey_mprotect")),
    ("page faults", ("exc_page_fault",)),
    ("ptrace stops", ("ptrace_stop", "do_signal_stop")),
    ("other syscalls", ("do_syscall_64",)),
]


# The leaf's object of the sample being read (samples() sets it): a
# stack that unwinding lost inside a library (zstd's assembly has no
# unwind tables) is still put in that library's centre.
leaf_dso = [""]
LEAF_DSO_CENTRES = [("libzstd", "writer: zstd"), ("libcrypto", "writer: SHA-256"),
                    ("libsqlite3", "writer: SQLite rows")]


def samples(path):
    """Yields (comm, tid, [function names, leaf first])."""
    comm = tid = None
    frames = []
    with open(path, errors="replace") as f:
        for line in f:
            if not line.strip():
                if comm is not None:
                    yield comm, tid, frames
                comm, frames = None, []
                continue
            if not line[0].isspace():
                parts = line.split()
                comm, tid = parts[0], parts[1] if len(parts) > 1 else "?"
                continue
            parts = line.split(None, 2)
            if len(parts) >= 2:
                frames.append(re.sub(r"\+0x[0-9a-f]+$", "", parts[1]))
                if len(frames) == 1:
                    leaf_dso[0] = parts[2].strip() if len(parts) > 2 else ""
    if comm is not None:
        yield comm, tid, frames


def classify(frames, centres):
    names = set(frames)
    return [label for label, funcs in centres if any(fn in names for fn in funcs)]


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    path, hz, caps, target = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    ms = 1000.0 / hz
    per = {}            # (comm, tid) -> (total, inclusive Counter, self Counter)
    for comm, tid, frames in samples(path):
        if comm == "emt-capture" or comm.startswith("emt-"):
            centres, key = CAPTURE_CENTRES, ("emt-capture", tid)
        elif comm == target[:15]:
            centres, key = TARGET_CENTRES, ("target " + comm, "all")
        else:
            continue
        tot, inc, own = per.setdefault(key, [0, collections.Counter(), collections.Counter()])
        per[key][0] += 1
        hits = classify(frames, centres)
        if not hits and centres is CAPTURE_CENTRES:
            hits = [c for lib, c in LEAF_DSO_CENTRES if lib in leaf_dso[0]][:1]
        for h in hits:
            inc[h] += 1
        own[hits[0] if hits else "(unclassified)"] += 1
    caps = max(caps, 1)
    for key in sorted(per, key=lambda k: -per[k][0]):
        tot, inc, own = per[key]
        if tot * ms < 20:
            continue
        print("  %s thread %s: %.0f ms CPU, %.1f us per capture" %
              (key[0], key[1], tot * ms, tot * ms * 1000 / caps))
        print("    %-34s %8s %11s %8s" % ("", "self ms", "us/capture", "incl ms"))
        rest = "(user code)" if key[0].startswith("target") else "(elsewhere)"
        for label, n in sorted(own.items(), key=lambda kv: -kv[1]):
            name = rest if label == "(unclassified)" else label
            print("    %-34s %8.0f %11.1f %8.0f" %
                  (name, n * ms, n * ms * 1000 / caps, inc.get(label, n) * ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
