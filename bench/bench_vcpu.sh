#!/bin/sh
# bench_vcpu.sh - what one CPU's work costs the other, with nothing of
# emt's capture running: the floor under bench_throughput.sh's slowdowns
# on this 2-CPU machine.
#
# A probe runs pinned to CPU 0 while CPU 1 runs, pinned, one of:
#   idle      nothing
#   spin      a user-space loop (no syscalls, no memory traffic)
#   syscalls  a loop of small syscalls (cat /proc/self/stat)
#   fx_poly   fx_poly --versions 100000 over and over (a polymorphic
#             target: an mprotect pair per version)
#   writer    bench_writer poly over and over (emt's archive writer, what
#             emt-capture's writer thread does per capture, no target)
# The probes:
#   mprotect  bench_mprotect plain: us of its thread's CPU per mprotect
#   fx_poly   fx_poly --versions N untraced, wall ms (bench_throughput's
#             poly row without emt-capture)
#   writer    bench_writer poly: us of CPU per capture, no target
#   sha256    sha256sum of 256 MiB in the page cache, wall ms (user-space
#             compute, the control)
# Medians of RUNS.  Writes bench/results/vcpu.txt (and prints it).
#
# usage: BUILD=build sh bench/bench_vcpu.sh     RUNS=3 N=100000 OUT=FILE
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_vcpu
RUNS=${RUNS:-3}
N=${N:-100000}
OUT=${OUT:-"$TOP/bench/results/vcpu.txt"}
LOAD=
POLY="$BUILD/fixtures/fx_poly"
MPROT="$BUILD/bench/bench_mprotect"
WRITER="$BUILD/bench/bench_writer"

bench_need_built "$POLY" "$MPROT" "$WRITER"
command -v taskset >/dev/null 2>&1 || bench_die "taskset missing (util-linux)"
[ "$(nproc)" -ge 2 ] || bench_die "needs 2 CPUs, this machine has $(nproc)"
head -c 268435456 /dev/urandom >"$T/rnd" || bench_die "cannot write '$T/rnd'"
# bench_writer's archives, also those of a load killed mid-run
mkdir "$T/w"
export TMPDIR="$T/w"
bench_write_timer

# load NAME: starts the load on CPU 1 (its process group's leader pid in
# LOAD), or nothing for idle.
load() {
	LOAD=
	case $1 in
	idle)     return ;;
	spin)     setsid taskset -c 1 sh -c 'while :; do :; done' & ;;
	syscalls) setsid taskset -c 1 sh -c 'while :; do cat /proc/self/stat >/dev/null; done' & ;;
	fx_poly)  setsid taskset -c 1 sh -c "while :; do '$POLY' --versions 100000 >/dev/null; done" & ;;
	writer)   setsid taskset -c 1 sh -c "while :; do '$WRITER' 5000 poly >/dev/null 2>&1; done" & ;;
	esac
	LOAD=$!
	sleep 0.2
}
unload() {
	[ -n "$LOAD" ] && kill -- -"$LOAD" 2>/dev/null
	wait 2>/dev/null
	LOAD=
}
# The loads run in sessions of their own (an interrupt does not reach
# them): stop them on every way out.
trap 'unload; rm -rf "$T"' EXIT
trap 'exit 1' INT TERM HUP

# wall_ms CMD...: runs CMD on CPU 0; prints its wall milliseconds.
wall_ms() {
	sh "$T/timed.sh" "$T/us" - taskset -c 0 "$@"
	echo $(( $(cat "$T/us") / 1000 ))
}

# probe NAME: one run on CPU 0; prints its figure.
probe() {
	case $1 in
	mprotect)
		taskset -c 0 "$MPROT" plain "$N" | sed -n 's/.* \([0-9.]*\) us CPU per mprotect.*/\1/p' ;;
	fx_poly)
		wall_ms "$POLY" --versions "$N" ;;
	writer)
		taskset -c 0 "$WRITER" 20000 poly | sed -n 's/.* \([0-9.]*\) us CPU .*/\1/p' ;;
	sha256)
		wall_ms sha256sum "$T/rnd" ;;
	esac
}

{
	echo "# bench_vcpu.sh - $(date -u '+%Y-%m-%d %H:%M:%S') UTC - $(uname -r) - $(nproc) CPUs - load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "# $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) - commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?')"
	echo "# probe pinned to CPU 0, load pinned to CPU 1, median of $RUNS; no emt-capture runs"
	echo "# mprotect: us CPU per mprotect (bench_mprotect plain $N); fx_poly: ms wall of"
	echo "# fx_poly --versions $N; writer: us CPU per capture (bench_writer 20000 poly);"
	echo "# sha256: ms wall of sha256sum of 256 MiB (user-space compute, the control)"
	printf '\n  %-10s' "cpu1 load"
	for p in mprotect fx_poly writer sha256; do printf ' %10s' "$p"; done
	echo
	for l in idle spin syscalls fx_poly writer; do
		load "$l"
		printf '  %-10s' "$l"
		for p in mprotect fx_poly writer sha256; do
			v=$(i=0; while [ $i -lt "$RUNS" ]; do probe "$p"; i=$((i + 1)); done | median)
			printf ' %10s' "${v:-?}"
		done
		echo
		unload
	done
} >"$T/out"
cat "$T/out"
mkdir -p "$(dirname "$OUT")"
cp "$T/out" "$OUT"
