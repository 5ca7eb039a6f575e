#!/bin/sh
# bench_holds.sh - what bpf mode's holds cost the target.
#
# A hold: the BPF program could not copy a range's pages itself (pages not
# resident, or no ring room in lossless mode), so it stops the process on
# its way back to user mode (SIGSTOP) and emt-capture reads the pages with
# process_vm_readv, then resumes it (SIGCONT).  Measured on the same run:
#
#   poly       fx_poly --versions N: 4 KiB W->X versions, bytes copied by
#              the BPF program (no hold) ...
#   poly-held  ... the same through a 16 KiB ring: every version deferred
#              to userspace, one hold each
#   sparse     fx_sparse --mib 64: 64 MiB made executable with 5 pages
#              touched, the rest not resident: one hold, 16,379 pages read
#              by userspace (and faulted in as zero pages)
#   large      fx_large --mib 32: 32 MiB resident, copied by the BPF
#              program through the default 64 MiB ring
#   large-held the same through a 1 MiB ring: deferred, one hold
#
# Target wall time (clock started right before exec), median of RUNS,
# untraced and under emt-capture; the holds counted by the BPF side
# (meta bpf_stats) give the cost per hold.  Writes bench/results/holds.txt.
#
# usage: BUILD=build sh bench/bench_holds.sh   (RUNS=7, POLY_N=2000)
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_holds
RUNS=${RUNS:-7}
POLY_N=${POLY_N:-2000}
OUT="$TOP/bench/results/holds.txt"
CAP="$BUILD/bin/emt-capture"

bench_need_root
bench_need_built "$CAP" "$BUILD/fixtures/fx_poly" "$BUILD/fixtures/fx_sparse" "$BUILD/fixtures/fx_large"

bench_write_timer


# holds: the BPF side's hold count of the last archive.
holds() {
	python3 - "$T/c.emt" <<'PYEOF' 2>/dev/null || echo 0
import re, sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
v = db.execute("SELECT value FROM meta WHERE key = 'bpf_stats'").fetchone()[0]
v = v.decode() if isinstance(v, bytes) else v
print(re.search(r"holds=(\d+)", v).group(1))
PYEOF
}

# case NAME RINGOPT CMD...: one line of results.
case_() {
	name=$1 ring=$2; shift 2
	rm -f "$T/none" "$T/emt" "$T/holds"
	for i in $(seq "$RUNS"); do
		sh "$T/timed.sh" "$T/us" - "$@"; cat "$T/us" >>"$T/none"
		rm -f "$T/c.emt"
		# shellcheck disable=SC2086
		"$CAP" -q $ring -o "$T/c.emt" -- sh "$T/timed.sh" "$T/us" - "$@" >/dev/null 2>&1
		cat "$T/us" >>"$T/emt"
		holds >>"$T/holds"
	done
	a=$(median <"$T/none") b=$(median <"$T/emt") h=$(median <"$T/holds")
	per="-"
	[ "${h:-0}" -gt 0 ] && per=$(echo "($b - $a) / $h" | bc -l | xargs printf '%.1f us')
	printf '  %-11s untraced %9.1f ms  emt-capture %9.1f ms  %+7.1f%%  holds %6s  per hold %s\n' \
		"$name" "$(echo "$a / 1000" | bc -l)" "$(echo "$b / 1000" | bc -l)" \
		"$(echo "($b - $a) * 100 / $a" | bc -l)" "$h" "$per"
}

{
echo "# bench_holds.sh - $(date -u '+%Y-%m-%d %H:%M:%S UTC') - $(uname -r) - $(nproc) CPUs - load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(git -C "$TOP" log -1 --format='commit %h' 2>/dev/null)"
echo "# target wall time, median of $RUNS runs (untraced and traced interleaved)"
echo
case_ poly "" "$BUILD/fixtures/fx_poly" --versions "$POLY_N"
case_ poly-held "--ringbuf-size 16k" "$BUILD/fixtures/fx_poly" --versions "$POLY_N"
case_ sparse "" "$BUILD/fixtures/fx_sparse" --mib 64
case_ large "" "$BUILD/fixtures/fx_large" --mib 32
case_ large-held "--ringbuf-size 1m" "$BUILD/fixtures/fx_large" --mib 32
} | tee "$OUT"
