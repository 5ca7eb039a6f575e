#!/bin/sh
# bench_capture.sh - cost of emt-capture (bpf mode) to the target, compared
# on the same run with strace and an equivalent bpftrace script:
#
#   workloads:  wx      fixtures/fx_poly --versions N (W->X heavy: one
#                       mprotect RW, write, mprotect RX, call per version)
#               luajit  luajit fixtures/jit/luajit_traces.lua SCALE
#               nocode  fixtures/fx_nocode --iterations N (syscalls, no code)
#   tracers:    none, emt-capture (defaults: lossless, mmap-lock hooks),
#               emt-syscalls (EMT_BPF_HOOKS=syscalls: the fallback hooks,
#               sys_enter/sys_exit), emt-capture --no-lossless, emt-floor
#               (the workload untraced while emt-capture is attached to
#               another, idle process: what emt-capture's hooks cost
#               every other process of the machine),
#               strace -f -e trace=mmap,mprotect, bpftrace
#               (bench/bench_capture.bt: follows forks, prints every mmap
#               and mprotect with its arguments, like the strace line)
#
# The time measured is the target's own wall time: the command is wrapped
# so that the clock starts just before it is exec'd and stops when it
# exits, after the tracer is attached (tracer start-up is not counted).
# Median of RUNS runs.  Writes bench/results/capture.txt (and prints it).
# bpftrace needs tracefs: it is mounted at /sys/kernel/tracing if missing
# (emt-capture itself does not need it).
#
# usage: BUILD=build sh bench/bench_capture.sh   (RUNS=5 to change)
#        WORKLOADS="nocode" TRACERS="none emt emt-floor" NOCODE_N=1000000 \
#            OUT=bench/results/capture_nocode.txt sh bench/bench_capture.sh
#        (a subset: the workloads and tracers named; "none" must be first)
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_capture
RUNS=${RUNS:-9}
WX_N=${WX_N:-5000}
LUA_SCALE=${LUA_SCALE:-100}
NOCODE_N=${NOCODE_N:-200000}
OUT=${OUT:-"$TOP/bench/results/capture.txt"}
CAP="$BUILD/bin/emt-capture"

bench_need_root
bench_need_built "$CAP" "$BUILD/fixtures/fx_poly" "$BUILD/fixtures/fx_nocode"
have_strace=0; command -v strace >/dev/null 2>&1 && have_strace=1
have_bpftrace=0
if command -v bpftrace >/dev/null 2>&1; then
	[ -e /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
	[ -e /sys/kernel/tracing/events ] && have_bpftrace=1
fi
have_luajit=0; command -v luajit >/dev/null 2>&1 && have_luajit=1


# The wrapper: clock starts right before exec of the target.
bench_write_timer

# run TRACER WORKLOAD...: prints the target's wall time in microseconds.
run() {
	tr=$1; shift
	rm -f "$T/us" "$T/c.emt"
	case $tr in
	none)    sh "$T/timed.sh" "$T/us" - "$@" ;;
	emt)     "$CAP" -q -o "$T/c.emt" -- sh "$T/timed.sh" "$T/us" - "$@" >/dev/null 2>"$T/emt.err" ;;
	emt-syscalls) EMT_BPF_HOOKS=syscalls "$CAP" -q -o "$T/c.emt" -- sh "$T/timed.sh" "$T/us" - "$@" >/dev/null 2>"$T/emt.err" ;;
	emt-lossy) "$CAP" -q --no-lossless -o "$T/c.emt" -- sh "$T/timed.sh" "$T/us" - "$@" >/dev/null 2>"$T/emt.err" ;;
	emt-floor)
		sleep 60 & idle=$!
		"$CAP" -q -o "$T/idle.emt" -p $idle >/dev/null 2>&1 & icap=$!
		# armed once its archive exists and the baseline is written
		i=0; while [ ! -s "$T/idle.emt" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
		sleep 0.5
		sh "$T/timed.sh" "$T/us" - "$@"
		kill -INT $icap; wait $icap; kill $idle; wait $idle 2>/dev/null
		rm -f "$T/idle.emt" ;;
	strace)  strace -f -qq -e trace=mmap,mprotect -o /dev/null sh "$T/timed.sh" "$T/us" - "$@" ;;
	bpftrace) bpftrace -q -o /dev/null -c "/bin/sh $T/timed.sh $T/us - $*" "$TOP/bench/bench_capture.bt" >/dev/null 2>&1 ;;
	esac
	cat "$T/us" 2>/dev/null || echo 0
}

# archive_stats: "captures N, lost N" of the last emt archive.
archive_stats() {
	if [ -x "$BUILD/bin/emt-ls" ] && [ -f "$T/c.emt" ]; then
		"$BUILD/bin/emt-ls" "$T/c.emt" | awk '/^counts/ { c = $0 } /^lost/ { l = $2 }
			END { sub(/^counts */, "", c); printf "%s, %s lost", c, l }'
	fi
}

if [ -z "${TRACERS:-}" ]; then
	TRACERS="none emt emt-syscalls emt-lossy emt-floor"
	[ $have_strace = 1 ] && TRACERS="$TRACERS strace"
	[ $have_bpftrace = 1 ] && TRACERS="$TRACERS bpftrace"
fi
WORKLOADS=${WORKLOADS:-wx luajit nocode}
want() { case " $WORKLOADS " in *" $1 "*) return 0;; esac; return 1; }

# The machine may be shared: runs of the tracers are interleaved so that a
# change of background load affects them alike.
bench() {
	name=$1; shift
	base=""
	for i in $(seq "$RUNS"); do
		for tr in $TRACERS; do
			run $tr "$@" >>"$T/$name-$tr"
			case $tr in emt*) archive_stats >"$T/$name-$tr.stats";; esac
		done
	done
	for tr in $TRACERS; do
		us=$(median <"$T/$name-$tr")
		lo=$(minimum <"$T/$name-$tr")
		[ $tr = none ] && base=$us && blo=$lo
		extra=""
		case $tr in emt) extra="  ($(cat "$T/$name-$tr.stats"))";; esac
		if [ "$base" -gt 0 ] 2>/dev/null; then
			pct=$(echo "($us - $base) * 100 / $base" | bc -l)
			pctlo=$(echo "($lo - $blo) * 100 / $blo" | bc -l)
			printf '  %-8s %-12s %9.1f ms  %+7.1f%%   best %9.1f ms  %+7.1f%%%s\n' "$name" "$tr" \
				"$(echo "$us / 1000" | bc -l)" "$pct" "$(echo "$lo / 1000" | bc -l)" "$pctlo" "$extra"
		fi
	done
}

{
echo "# bench_capture.sh - $(date -u '+%Y-%m-%d %H:%M:%S UTC') - $(uname -r) - $(nproc) CPUs - load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "# target wall time, median of $RUNS runs (and the best run: the least disturbed by"
echo "# the VM's neighbours), tracers interleaved; overhead relative to untraced"
echo
want wx && bench wx "$BUILD/fixtures/fx_poly" --versions "$WX_N"
want luajit && [ $have_luajit = 1 ] && bench luajit luajit "$TOP/fixtures/jit/luajit_traces.lua" "$LUA_SCALE"
want nocode && bench nocode "$BUILD/fixtures/fx_nocode" --iterations "$NOCODE_N"
} | tee "$OUT"
