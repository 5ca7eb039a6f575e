#!/bin/sh
# bench_ptrace.sh - costs of ptrace mode (issue 5), all measured in one run:
#  1. raw ptrace stop round trip (bench_ptrace_raw), tracer and target on
#     one CPU and unpinned;
#  2. W->X and X->W transitions of one RWX page (bench_ptrace_wx: the
#     target times its own write and call steps; untraced they cost
#     nothing) with each CPU placement of the tracer (EMT_PTRACE_PIN:
#     follow, the default; 1, tracer and target on one CPU; 0, none), and
#     the engine's own split (meta ptrace_stats: time per transition in
#     the tracer, the part spent copying the capture, CPU moves);
#  3. wall time of a 2-thread computing target (bench_ptrace_cpu) with
#     each placement: what restricting the target's CPUs costs it;
#  4. slowdown of syscall-heavy programs that generate no code
#     (fixtures/fx_nocode, find(1) over /usr) untraced vs the seccomp
#     filter alone (bench_seccomp_floor) vs ptrace mode (follow, and both
#     pinned) vs `strace -f -e trace=mmap,mprotect`.
# The machine may be shared: the load average is printed with the figures.
# Writes bench/results/ptrace.txt (and prints it).
#
# usage: BUILD=build sh bench/bench_ptrace.sh
#   (RUNS=9 ROUNDS=2000 WXRUNS=5 NCRUNS=15 NCITER=200000 to change)
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_ptrace
RUNS=${RUNS:-9}
ROUNDS=${ROUNDS:-2000}
OUT="$TOP/bench/results/ptrace.txt"
CAP="$BUILD/bin/emt-capture"

bench_need_root
bench_need_built "$CAP" "$BUILD/bench/bench_ptrace_wx" "$BUILD/bench/bench_ptrace_raw" "$BUILD/bench/bench_ptrace_cpu" "$BUILD/bench/bench_seccomp_floor" "$BUILD/bench/bench_walltime" "$BUILD/fixtures/fx_nocode"

# field NAME: value of NAME=... on stdin.
field() { sed -n "s/.*[ ^]$1=\([0-9]*\).*/\1/p; s/^$1=\([0-9]*\).*/\1/p" | head -n 1; }
stats() { sqlite3 "$1" "select value from meta where key='ptrace_stats'" 2>/dev/null; }

{
echo "# bench_ptrace.sh - $(date -u '+%Y-%m-%d %H:%M:%S UTC') - $(uname -r) - $(nproc) CPUs"
echo "# $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# ------------------------------------------------------------ raw round trip
for i in $(seq "$RUNS"); do
	for pin in 1 0; do
		"$BUILD/bench/bench_ptrace_raw" 20000 "$pin" | field roundtrip_ns >>"$T/raw$pin.all"
	done
done
for pin in 1 0; do median <"$T/raw$pin.all" >"$T/raw$pin"; done
raw1=$(cat "$T/raw1") raw0=$(cat "$T/raw0")
echo "raw ptrace stop round trip (signal-delivery stop, resume), median of $RUNS x 20000:"
printf '  same CPU      %6.1f us\n' "$(echo "$raw1 / 1000" | bc -l)"
printf '  unpinned      %6.1f us\n' "$(echo "$raw0 / 1000" | bc -l)"
echo

# ------------------------------------------------------------ transitions
# EMT_PTRACE_PIN placements (capture/ptrace_engine.c): follow (default:
# the tracer alone is pinned and moves to its threads' CPU), 1 (tracer and
# target pinned to one CPU, the former default), 0 (none).
# "notramp": follow without the trampoline, i.e. two stops per transition,
# what every thread of a multi-threaded image pays.
PINS="follow 1 0"
label() { case $1 in follow) echo follow;; 1) echo both-pinned;; 0) echo unpinned;; notramp) echo "no trampoline";; esac; }
# run_pin VARIANT CMD...: CMD with the environment of VARIANT.
run_pin() {
	v=$1
	shift
	if [ "$v" = notramp ]; then
		EMT_PTRACE_PIN=follow EMT_PTRACE_TRAMPOLINE=0 "$@"
	else
		EMT_PTRACE_PIN=$v "$@"
	fi
}
"$BUILD/bench/bench_ptrace_wx" "$ROUNDS" >"$T/wx-plain"
w0=$(field write_ns <"$T/wx-plain") x0=$(field exec_ns <"$T/wx-plain")
# Interleaved runs, so that load from elsewhere hits every placement alike.
WXRUNS=${WXRUNS:-5}
# A raw round trip before each round of runs: the ratio to the target
# is taken within a round (the VM's speed drifts by tens of percent over
# minutes, both measures alike).
for i in $(seq "$WXRUNS"); do
	"$BUILD/bench/bench_ptrace_raw" 20000 1 | field roundtrip_ns >>"$T/rawpair"
	for pin in $PINS notramp; do
		rm -f "$T/wx.emt"
		run_pin $pin "$CAP" -q --mode ptrace -o "$T/wx.emt" -- \
			"$BUILD/bench/bench_ptrace_wx" "$ROUNDS" >"$T/wx-$pin-$i" || exit 1
		s=$(stats "$T/wx.emt")
		echo "$(field write_ns <"$T/wx-$pin-$i") $(field exec_ns <"$T/wx-$pin-$i") $(echo "$s" | field wx_handle_ns) $(echo "$s" | field xw_handle_ns) $(echo "$s" | field wx_copy_ns) $(echo "$s" | field wx) $(echo "$s" | field cpu_moves)" >>"$T/wx-$pin"
	done
done
echo "transitions of one RWX page, $ROUNDS write+call rounds, median round of the best of $WXRUNS runs"
echo "(target-side time per step minus untraced: write ${w0} ns, call ${x0} ns):"
echo "(tracer columns: the engine's mean time from reaping the fault to resuming, meta ptrace_stats)"
printf '  %-12s %10s %10s %12s %12s %14s %9s\n' cpu "X->W (us)" "W->X (us)" "tracer X->W" "tracer W->X" "of which copy" "cpu moves"
for pin in $PINS notramp; do
	best=$(sort -n -k2 "$T/wx-$pin" | head -n 1)
	set -- $best
	printf '  %-12s %10.1f %10.1f %12.1f %12.1f %14.1f %9s\n' "$(label $pin)" \
		"$(echo "($1 - $w0) / 1000" | bc -l)" "$(echo "($2 - $x0) / 1000" | bc -l)" \
		"$(echo "$4 / 1000" | bc -l)" "$(echo "$3 / 1000" | bc -l)" "$(echo "$5 / 1000" | bc -l)" "${7:-0}"
	[ "$pin" = follow ] && { xw1=$(( $1 - w0 )); wx1=$(( $2 - x0 )); arch1=$5; nwx=$6; }
done
# Per round: the follow run against that round's raw round trip; the
# median over the rounds, and the round with the lowest W->X ratio.
paste "$T/rawpair" "$T/wx-follow" | awk -v w0="$w0" -v x0="$x0" \
	'{ printf "%.3f %.3f %s %s %s\n", ($2 - w0) / $1, ($3 - x0) / $1, $1, $2 - w0, $3 - x0 }' |
	sort -n -k2 >"$T/ratios"
rmed=$(awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }' "$T/ratios")
rbest=$(head -n 1 "$T/ratios")
echo "  (every W->X of the follow run is a capture: $nwx first-exec-fault captures; the"
echo "  trampoline is used by a thread alone in its image, the others take two stops)"
printf '  default (follow) against the same-CPU raw round trip: X->W %.1fx, W->X %.1fx (target: 3x)\n' \
	"$(echo "$xw1 / $raw1" | bc -l)" "$(echo "$wx1 / $raw1" | bc -l)"
set -- $rmed
printf '  paired with a raw round trip measured just before, median of %s rounds:\n' "$WXRUNS"
printf '    X->W %.1f us = %.1fx, W->X %.1f us = %.1fx of %.1f us\n' \
	"$(echo "$4 / 1000" | bc -l)" "$1" "$(echo "$5 / 1000" | bc -l)" "$2" "$(echo "$3 / 1000" | bc -l)"
set -- $rbest
printf '    best round: X->W %.1f us = %.1fx, W->X %.1f us = %.1fx of %.1f us\n' \
	"$(echo "$4 / 1000" | bc -l)" "$1" "$(echo "$5 / 1000" | bc -l)" "$2" "$(echo "$3 / 1000" | bc -l)"
echo

# ------------------------------------------------------------ multi-threaded target
# Two threads computing (bench_ptrace_cpu, no syscalls, no code): what
# each placement costs a target that needs both CPUs.
cpuwall() { sed -n 's/.*wall_ns=\([0-9]*\).*/\1/p'; }
# parallelism: CPU time / wall time of the run (2.0: both CPUs all along).
cpupar() { sed -n 's/.*wall_ns=\([0-9]*\) cpu_ns=\([0-9]*\).*/\2 \1/p' | awk '{ printf "%.2f\n", $1 / $2 }'; }
for i in $(seq 3); do
	"$BUILD/bench/bench_ptrace_cpu" 2 100 >"$T/cpu-plain.out"
	cpuwall <"$T/cpu-plain.out" >>"$T/cpu-plain.all"
	cpupar <"$T/cpu-plain.out" >>"$T/cpu-plain.par"
	for pin in $PINS; do
		rm -f "$T/cpu.emt"
		EMT_PTRACE_PIN=$pin "$CAP" -q --mode ptrace -o "$T/cpu.emt" -- \
			"$BUILD/bench/bench_ptrace_cpu" 2 100 >"$T/cpu-$pin.out" || exit 1
		cpuwall <"$T/cpu-$pin.out" >>"$T/cpu-$pin.all"
		cpupar <"$T/cpu-$pin.out" >>"$T/cpu-$pin.par"
		sed -n 's/.*allowed=\([0-9-]*\).*/\1/p' "$T/cpu-$pin.out" >"$T/cpu-$pin.allowed"
	done
done
cp0=$(minimum <"$T/cpu-plain.all")
echo "2 computing threads (bench_ptrace_cpu 2 100), wall time of the best of 3 interleaved runs,"
echo "and the most parallelism (CPU time / wall time; 2.00: both CPUs all along) seen:"
printf '  %-28s %7.3f s         parallelism %s\n' untraced "$(echo "$cp0 / 1000000000" | bc -l)" \
	"$(sort -rn "$T/cpu-plain.par" | head -n 1)"
for pin in $PINS; do
	v=$(minimum <"$T/cpu-$pin.all")
	printf '  %-28s %7.3f s  %+4.0f%%  parallelism %s  (target may use %s CPUs)\n' "ptrace, $(label $pin)" \
		"$(echo "$v / 1000000000" | bc -l)" "$(echo "($v / $cp0 - 1) * 100" | bc -l)" \
		"$(sort -rn "$T/cpu-$pin.par" | head -n 1)" "$(cat "$T/cpu-$pin.allowed")"
done
echo

# ------------------------------------------------------------ code-free programs
# Two workloads that generate no code: fx_nocode (a loop of cheap system
# calls, timing itself) and find(1) over /usr (about 365,000 system calls
# doing file system work, timed by bench_walltime from its fork to its
# exit: traced, its exec is too, not emt-capture's start and seal).  Variants: untraced; under ptrace mode's seccomp
# filter with no tracer (bench_seccomp_floor: what any filter costs on
# this kernel, the floor under ptrace mode); ptrace mode (follow, and both
# pinned); strace -f -e trace=mmap,mprotect (first 3 rounds only: it is
# two orders of magnitude slower).  Interleaved, so that load from
# elsewhere on the machine hits every variant alike; median and best.
NCITER=${NCITER:-200000}
NCRUNS=${NCRUNS:-15}
nocode() { sed -n 's/.* in \([0-9.]*\) s .*/\1/p'; }
# walls: the seconds of bench_walltime's line on stdin.
walls() { sed -n 's/^walltime ns=\([0-9]*\).*/\1/p' | awk '{ printf "%.4f\n", $1 / 1e9 }'; }
FIND="find /usr/lib /usr/share -xdev -printf %s\n"
WT="$BUILD/bench/bench_walltime"
NC="$BUILD/fixtures/fx_nocode --iterations $NCITER"
FLOOR="$BUILD/bench/bench_seccomp_floor"
$FIND >/dev/null 2>&1   # warm the dentry and inode caches
for i in $(seq "$NCRUNS"); do
	$NC | nocode >>"$T/nc-plain.all"
	"$FLOOR" $NC | nocode >>"$T/nc-floor.all"
	rm -f "$T/nc.emt"
	"$CAP" -q --mode ptrace -o "$T/nc.emt" -- $NC | nocode >>"$T/nc-ptrace.all"
	rm -f "$T/nc.emt"
	EMT_PTRACE_PIN=1 "$CAP" -q --mode ptrace -o "$T/nc.emt" -- $NC | nocode >>"$T/nc-ptrace1.all"
	"$WT" $FIND | walls >>"$T/fd-plain.all"
	"$FLOOR" "$WT" $FIND | walls >>"$T/fd-floor.all"
	rm -f "$T/fd.emt"
	"$CAP" -q --mode ptrace -o "$T/fd.emt" -- "$WT" $FIND | walls >>"$T/fd-ptrace.all"
	rm -f "$T/fd.emt"
	EMT_PTRACE_PIN=1 "$CAP" -q --mode ptrace -o "$T/fd.emt" -- "$WT" $FIND | walls >>"$T/fd-ptrace1.all"
	if [ "$i" -le 3 ] && command -v strace >/dev/null 2>&1; then
		strace -f -e trace=mmap,mprotect -o /dev/null $NC | nocode >>"$T/nc-strace.all"
		strace -f -e trace=mmap,mprotect -o /dev/null "$WT" $FIND | walls >>"$T/fd-strace.all"
	fi
done
# table W TITLE: the rows of workload W (nc or fd).
table() {
	w=$1
	p=$(median <"$T/$w-plain.all") pl=$(minimum <"$T/$w-plain.all")
	f=$(median <"$T/$w-floor.all") fl=$(minimum <"$T/$w-floor.all")
	printf '  %-34s %7.3f s           best %7.3f s\n' untraced "$p" "$pl"
	for k in floor ptrace ptrace1 strace; do
		[ -s "$T/$w-$k.all" ] || continue
		v=$(median <"$T/$w-$k.all") vl=$(minimum <"$T/$w-$k.all")
		case $k in
		floor) label="its seccomp filter, no tracer" ;;
		ptrace) label="emt-capture --mode ptrace" ;;
		ptrace1) label="  same, EMT_PTRACE_PIN=1" ;;
		strace) label="strace -f -e trace=mmap,mprotect" ;;
		esac
		printf '  %-34s %7.3f s %+6.0f%%   best %7.3f s %+6.0f%%' "$label" "$v" \
			"$(echo "($v / $p - 1) * 100" | bc -l)" "$vl" "$(echo "($vl / $pl - 1) * 100" | bc -l)"
		case $k in ptrace*) printf '   (over the filter alone: %+.0f%%, best %+.0f%%)' \
			"$(echo "($v / $f - 1) * 100" | bc -l)" "$(echo "($vl / $fl - 1) * 100" | bc -l)";; esac
		echo
	done
}
echo "code-free workloads, median and best of $NCRUNS interleaved runs (strace: of 3),"
echo "load average $(cut -d' ' -f1 /proc/loadavg); percentages against untraced:"
echo "fx_nocode --iterations $NCITER (getpid, read, write, stat; mmap+munmap every 16th), its own loop time:"
table nc
printf '%s (bench_walltime: fork to exit):\n' "$FIND"
table fd
} | tee "$T/out"
mkdir -p "$(dirname "$OUT")"
cp "$T/out" "$OUT"
