#!/bin/sh
# bench_syscalls.sh - what the syscall recorder (emt-capture --syscalls)
# costs a code-free, syscall-heavy target: fixtures/fx_nocode (getpid,
# read, write, stat per iteration, a small mmap/munmap every 16th), its
# own wall time (clock started right before exec), median and best of
# RUNS runs, configurations interleaved:
#
#   bpf mode:    none (untraced), emt (no list), emt --syscalls connect
#                (a syscall the target never makes: the per-syscall
#                tracepoints of a list cost the target's other syscalls),
#                emt --syscalls file, emt --syscalls all, and the floor of
#                --syscalls file (the workload untraced while a capture
#                with that list follows another, idle process: the cost to
#                every other process of the machine);
#   ptrace mode: emt (no list), --syscalls connect, --syscalls file, with
#                fewer iterations (PT_N): a tracer stop at the entry and
#                the exit of every chosen call.
#
# Then the strace comparison (bench/strace_compare.py) of --syscalls all
# on `python3 -c 'import json'`, and on curl fetching a page of a local
# `python3 -m http.server`, run under strace in the capture.
# Writes bench/results/syscalls.txt (and prints it).
#
# usage: BUILD=build sh bench/bench_syscalls.sh   (RUNS=5 N=200000 PT_N=20000)
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_syscalls
RUNS=${RUNS:-5}
N=${N:-200000}
PT_N=${PT_N:-20000}
OUT=${OUT:-"$TOP/bench/results/syscalls.txt"}
CAP="$BUILD/bin/emt-capture"
FX="$BUILD/fixtures/fx_nocode"

bench_need_root
bench_need_built "$CAP" "$FX" "$BUILD/bin/emt-ls"
bench_write_timer

# one MODE CONFIG ITERS: runs the workload once, prints its microseconds.
one() {
	mode=$1 cfg=$2 n=$3
	rm -f "$T/c.emt"
	case $cfg in
	none) sh "$T/timed.sh" "$T/us" - "$FX" --iterations "$n" ;;
	nolist) "$CAP" -q --mode "$mode" -o "$T/c.emt" -- sh "$T/timed.sh" "$T/us" - \
			"$FX" --iterations "$n" ;;
	floor-file)
		sleep 600 &
		idle=$!
		"$CAP" -q --syscalls file -p "$idle" -o "$T/c.emt" >/dev/null 2>&1 &
		cap=$!
		sleep 1
		sh "$T/timed.sh" "$T/us" - "$FX" --iterations "$n"
		rc=$?
		kill "$cap"; wait "$cap" 2>/dev/null
		kill "$idle"; wait "$idle" 2>/dev/null
		[ "$rc" -eq 0 ] ;;
	*) "$CAP" -q --mode "$mode" --syscalls "$cfg" -o "$T/c.emt" -- sh "$T/timed.sh" "$T/us" - \
			"$FX" --iterations "$n" ;;
	esac || bench_die "$mode $cfg: run failed"
	cat "$T/us"
	if [ "$cfg" = all ] || [ "$cfg" = file ]; then
		rows=$(sqlite3 "$T/c.emt" "SELECT count(*) FROM syscalls" 2>/dev/null)
		lost=$(sqlite3 "$T/c.emt" "SELECT coalesce(sum(count), 0) FROM losses" 2>/dev/null)
		echo "$rows $lost" >"$T/rows.$mode.$cfg"
	fi
}

CONFIGS_BPF="none nolist connect file all floor-file"
CONFIGS_PT="none nolist connect file"
for r in $(seq "$RUNS"); do
	for c in $CONFIGS_BPF; do one bpf "$c" "$N" >>"$T/bpf.$c"; done
	for c in $CONFIGS_PT; do one ptrace "$c" "$PT_N" >>"$T/pt.$c"; done
done

row() {
	label=$1 file=$2 base=$3 n=$4
	med=$(median <"$file") best=$(minimum <"$file")
	bmed=$(median <"$base") bbest=$(minimum <"$base")
	extra=
	[ -f "$T/rows.$5" ] && extra="  ($(cut -d' ' -f1 "$T/rows.$5") rows, $(cut -d' ' -f2 "$T/rows.$5") lost)"
	awk -v l="$label" -v m="$med" -v b="$best" -v bm="$bmed" -v bb="$bbest" -v n="$n" -v x="$extra" 'BEGIN {
		printf "  %-28s %9.1f ms %+8.1f%%   best %9.1f ms %+8.1f%%   %6.0f ns/iteration%s\n",
			l, m / 1000, (m - bm) * 100 / bm, b / 1000, (b - bb) * 100 / bb, (m - bm) * 1000 / n, x }'
}

{
	echo "# bench_syscalls.sh - $(date -u '+%Y-%m-%d %H:%M:%S UTC') - $(uname -r) - $(nproc) CPUs - load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# fx_nocode target wall time, median of $RUNS runs and best run, configurations"
	echo "# interleaved; overhead relative to untraced; ns/iteration = median extra time"
	echo "# per iteration (4.06 syscalls each).  The machine is shared with other jobs"
	echo "# (2 CPUs, other helpers building and testing): read the best runs too."
	echo
	echo "bpf mode, $N iterations:"
	row "untraced" "$T/bpf.none" "$T/bpf.none" "$N" -
	row "emt, no --syscalls" "$T/bpf.nolist" "$T/bpf.none" "$N" -
	row "emt --syscalls connect" "$T/bpf.connect" "$T/bpf.none" "$N" -
	row "emt --syscalls file" "$T/bpf.file" "$T/bpf.none" "$N" bpf.file
	row "emt --syscalls all" "$T/bpf.all" "$T/bpf.none" "$N" bpf.all
	row "floor of --syscalls file" "$T/bpf.floor-file" "$T/bpf.none" "$N" -
	echo
	echo "ptrace mode, $PT_N iterations:"
	row "untraced" "$T/pt.none" "$T/pt.none" "$PT_N" -
	row "emt, no --syscalls" "$T/pt.nolist" "$T/pt.none" "$PT_N" -
	row "emt --syscalls connect" "$T/pt.connect" "$T/pt.none" "$PT_N" -
	row "emt --syscalls file" "$T/pt.file" "$T/pt.none" "$PT_N" ptrace.file
	echo
	echo "strace comparison: emt-capture --syscalls all --syscall-bytes 4096 -- strace -f -qq -v"
	echo "-s 65536 -X raw -o OUT python3 -c 'import json' (bench/strace_compare.py):"
	if command -v strace >/dev/null && command -v python3 >/dev/null; then
		rm -f "$T/s.emt"
		(cd "$T" && "$CAP" -q --syscalls all --syscall-bytes 4096 -o "$T/s.emt" -- \
			strace -f -qq -v -s 65536 -X raw -o "$T/s.st" python3 -c 'import json') ||
			bench_die "strace comparison capture failed"
		"$BUILD/bin/emt-ls" --events --json "$T/s.emt" >"$T/s.json"
		python3 "$TOP/bench/strace_compare.py" "$T/s.st" "$T/s.json" | sed 's/^/  /'
		echo
		echo "the same for curl -s http://127.0.0.1:PORT/ against python3 -m http.server:"
		mkdir -p "$T/www" && echo hello >"$T/www/index.html"
		port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		(cd "$T/www" && exec python3 -m http.server "$port" --bind 127.0.0.1 >/dev/null 2>&1) &
		srv=$!
		sleep 2
		if command -v curl >/dev/null; then
			rm -f "$T/c.emt"
			"$CAP" -q --syscalls all --syscall-bytes 4096 -o "$T/c.emt" -- strace -f -qq -v \
				-s 65536 -X raw -o "$T/c.st" curl -s "http://127.0.0.1:$port/" >/dev/null ||
				bench_die "curl comparison capture failed"
			"$BUILD/bin/emt-ls" --events --json "$T/c.emt" >"$T/c.json"
			python3 "$TOP/bench/strace_compare.py" "$T/c.st" "$T/c.json" | sed 's/^/  /'
		else
			echo "  not run: curl missing"
		fi
		kill "$srv" 2>/dev/null
	else
		echo "  not run: strace or python3 missing"
	fi
} >"$OUT"
cat "$OUT"
