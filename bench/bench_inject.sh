#!/bin/sh
# bench_inject.sh - what recording injections (issue 15) costs.
#
#   write    fx_inject_vmwrite --repeat N: process_vm_writev of 64 bytes
#            (two remote pieces) into a waiting fx_inject_victim, the mean
#            time of one call as the writer measures it: untraced, under
#            bpf mode (each call: the writer held, the victim read, two
#            injections rows and captures) and under ptrace mode (a stop
#            at entry and exit, the same rows).  The victim runs the
#            payload 5 s after the first write and exits, which ends the
#            capture.
#   filter   fx_nocode under ptrace mode's seccomp filter with no tracer
#            (bench_seccomp_floor), with and without the second filter
#            that ptrace mode adds for injections: what it costs every
#            system call of a ptrace-mode target.
#   opens    a shell loop of OPENS rounds of `: >FILE` (an open for write
#            and a dup2) and `: <FILE` (an open for read, a dup2), timed
#            from inside: untraced and under ptrace mode, whose injection
#            filter stops at opens for write and at dups so that it can
#            watch write(2) on /proc/PID/mem descriptors; us per round.
#
# Medians and minima of RUNS.  Writes bench/results/inject.txt.
#
# usage: BUILD=build sh bench/bench_inject.sh   (RUNS=7, N=200, ITER=300000, OPENS=5000)
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_inject
RUNS=${RUNS:-7}
N=${N:-200}
ITER=${ITER:-300000}
OPENS=${OPENS:-5000}
OUT=${OUT:-"$TOP/bench/results/inject.txt"}
CAP="$BUILD/bin/emt-capture"
FIX="$BUILD/fixtures"
FLOOR="$BUILD/bench/bench_seccomp_floor"

bench_need_root
bench_need_built "$CAP" "$FLOOR" "$FIX/fx_inject_victim" "$FIX/fx_inject_vmwrite" "$FIX/fx_nocode"
bench_write_timer

# one_write MODE: ns per call of one run (MODE none, bpf or ptrace).
one_write() {
	"$FIX/fx_inject_victim" --seconds 60 --delay-ms 5000 >"$T/v.out" 2>&1 &
	vp=$!
	for _ in $(seq 50); do grep -q '^EMT-VICTIM ' "$T/v.out" && break; sleep 0.1; done
	a=$(sed -n 's/^EMT-VICTIM .*addr=\([^ ]*\).*/\1/p' "$T/v.out")
	set -- "$FIX/fx_inject_vmwrite" --pid "$vp" --addr "$a" --repeat "$N"
	rm -f "$T/w.emt"
	if [ "$MODE" = none ]; then
		"$@" >"$T/w.out" 2>&1
	else
		timeout 120 "$CAP" -q --mode "$MODE" -o "$T/w.emt" -- "$@" >"$T/w.out" 2>&1
	fi
	rc=$?
	wait "$vp"
	[ "$rc" -eq 0 ] || bench_die "write under $MODE failed: $(tail -c 300 "$T/w.out")"
	sed -n 's/.* calls, \([0-9]*\) ns each/\1/p' "$T/w.out"
}

{
	echo "# bench_inject.sh $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs"
	echo "# RUNS=$RUNS N=$N ITER=$ITER; other jobs may share the machine: medians and minima"
	echo "# row      variant       median      min"
	for MODE in none bpf ptrace; do
		for _ in $(seq "$RUNS"); do one_write; done >"$T/$MODE.ns"
		printf 'write      %-10s %9s ns %6s ns\n' "$MODE" "$(median <"$T/$MODE.ns")" \
			"$(minimum <"$T/$MODE.ns")"
	done
	for v in main-only both; do
		flag=
		[ "$v" = main-only ] && flag=--no-inject-filter
		for _ in $(seq "$RUNS"); do
			# shellcheck disable=SC2086
			sh "$T/timed.sh" "$T/us" - "$FLOOR" $flag "$FIX/fx_nocode" --iterations "$ITER" ||
				bench_die "fx_nocode under the filter failed"
			cat "$T/us"
		done >"$T/$v.us"
		printf 'filter     %-10s %9s us %6s us\n' "$v" "$(median <"$T/$v.us")" \
			"$(minimum <"$T/$v.us")"
	done
	# shellcheck disable=SC2016
	loop='i=0; while [ $i -lt "$2" ]; do : >"$1"; : <"$1"; i=$((i + 1)); done'
	for MODE in none ptrace; do
		for _ in $(seq "$RUNS"); do
			rm -f "$T/o.emt"
			if [ "$MODE" = none ]; then
				sh "$T/timed.sh" "$T/us" - sh -c "$loop" sh "$T/o.file" "$OPENS"
			else
				timeout 300 "$CAP" -q --mode ptrace -o "$T/o.emt" -- \
					sh "$T/timed.sh" "$T/us" - sh -c "$loop" sh "$T/o.file" "$OPENS"
			fi || bench_die "opens under $MODE failed"
			echo $(( $(cat "$T/us") * 1000 / OPENS ))
		done >"$T/o$MODE.ns"
		printf 'opens      %-10s %9s ns %6s ns  per round\n' "$MODE" \
			"$(median <"$T/o$MODE.ns")" "$(minimum <"$T/o$MODE.ns")"
	done
} | tee "$OUT"
