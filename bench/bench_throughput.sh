#!/bin/sh
# bench_throughput.sh - sustained capture throughput, lossless, sized past
# every buffer: the work of each row is at least 4x the 64 MiB ring, so
# the ring cannot absorb the burst and hide the consumer's speed.
#
#   poly     fx_poly --versions N: one 4 KiB page, 8 bytes rewritten and
#            made executable N times (N versions of small deltas)
#   unique   fx_poly --unique --versions N: the whole page rewritten with
#            new code (a function and pseudo-random filler) every version:
#            N unique, incompressible 4 KiB captures
#   luajit   luajit fixtures/jit/luajit_traces.lua 1 FUNCS: FUNCS more
#            generated functions, one root trace each, in 64 KiB mcode
#            areas that go RW -> RX at every trace commit
#   php      php's opcache tracing JIT on fixtures/jit/php_jit.php
#   node     node --print-opt-code fixtures/jit/node_hot.js (RWX code space)
#
# each under bpf mode (the default, lossless) and ptrace mode.  The target
# is timed from inside the traced command (the clock starts right before
# exec, after emt-capture attached); untraced and traced runs interleave,
# medians of RUNS.  Per row: slowdown, captures and captures/s of the
# target's traced time, raw and stored MB/s, CPU seconds of emt-capture
# per 1,000 captures, lost records, and whether the oracle's images are all
# in the archive byte for byte (check-recall; node in bpf mode: at least
# one, its RWX code space is seen only at exit).  Writes
# bench/results/throughput.txt (and prints it).
#
# With PROFILE="poly unique luajit" (rows), one more untraced run and one
# traced run per mode of each of those rows go under `perf record -a
# --call-graph dwarf` (the whole machine: emt-capture's threads, the
# target and the kernel's BPF programs), and bench/perf_breakdown.py puts
# every thread's CPU into cost centres (SQLite, SHA-256, zstd, ring
# records, the target's mprotect and BPF programs...) in us per capture:
# bench/results/throughput_profile.txt, where each microsecond goes.
#
# usage: BUILD=build sh bench/bench_throughput.sh
#        RUNS=3 POLY_N=100000 UNIQUE_N=100000 LUA_FUNCS=5000 MODES="bpf ptrace"
#        ROWS="poly unique luajit php node" OUT=FILE PROFILE="poly luajit"
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_throughput
RUNS=${RUNS:-3}
POLY_N=${POLY_N:-100000}
UNIQUE_N=${UNIQUE_N:-100000}
LUA_FUNCS=${LUA_FUNCS:-5000}
MODES=${MODES:-bpf ptrace}
ROWS=${ROWS:-poly unique luajit php node}
OUT=${OUT:-"$TOP/bench/results/throughput.txt"}
PROFILE=${PROFILE:-}
PROF_OUT=${PROF_OUT:-"$TOP/bench/results/throughput_profile.txt"}
CAP="$BUILD/bin/emt-capture"
LS="$BUILD/bin/emt-ls"
CR="$BUILD/tests/tools/check-recall"
JIT="$TOP/fixtures/jit"

bench_need_root
bench_need_built "$CAP" "$LS" "$CR" "$BUILD/fixtures/fx_poly"
command -v sqlite3 >/dev/null 2>&1 || { echo "bench_throughput: sqlite3 missing (apt-get install sqlite3)" >&2; exit 1; }


# The target's own clock: from right before exec to its exit; its stdout
# is kept (the oracle).
bench_write_timer

# cmd ROW: the row's command line.
cmd() {
	case $1 in
	poly)   echo "$BUILD/fixtures/fx_poly --versions $POLY_N" ;;
	unique) echo "$BUILD/fixtures/fx_poly --unique --versions $UNIQUE_N" ;;
	luajit) echo "luajit $JIT/luajit_traces.lua 1 $LUA_FUNCS" ;;
	php)    echo "php -d opcache.enable_cli=1 -d opcache.jit=tracing -d opcache.jit_buffer_size=16M $JIT/php_jit.php" ;;
	node)   echo "node --print-opt-code $JIT/node_hot.js" ;;
	esac
}
available() {
	case $1 in
	luajit) command -v luajit >/dev/null 2>&1 ;;
	php)    command -v php >/dev/null 2>&1 ;;
	node)   command -v node >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1 ;;
	*)      true ;;
	esac
}

# truth ROW OUT: the oracle's truth lines of a run's output, on stdout.
truth() {
	case $1 in
	node) python3 "$JIT/node_oracle.py" "$2" 2>/dev/null ;;
	*)    cat "$2" ;;
	esac
}

# untraced ROW: one untraced run; prints its microseconds.
untraced() {
	# shellcheck disable=SC2046
	sh "$T/timed.sh" "$T/us" "$T/plain.out" $(cmd "$1") || { echo "bench_throughput: $1 untraced failed: $(tail -c 200 "$T/plain.out.err")" >&2; }
	cat "$T/us"
}

# meta KEY: the value of meta KEY of the run's archive.
meta() {
	sqlite3 "$T/c.emt" "SELECT value FROM meta WHERE key = '$1'" 2>/dev/null
}

# traced ROW MODE N: one run under emt-capture; prints its microseconds and
# appends "us cpu captures raw stored lost recall" to $T/ROW-MODE.
traced() {
	row=$1 mode=$2
	rm -f "$T/c.emt" "$T/us"
	# shellcheck disable=SC2046
	"$CAP" -q --mode "$mode" -o "$T/c.emt" -- \
		sh "$T/timed.sh" "$T/us" "$T/traced.out" $(cmd "$row") >/dev/null 2>"$T/emt.err" ||
		echo "bench_throughput: $row under --mode $mode failed: $(tail -c 300 "$T/emt.err")" >&2
	us=$(cat "$T/us" 2>/dev/null || echo 0)
	# emt-capture's own threads (meta capture_cpu): /usr/bin/time would
	# also count the target, a child it waited for
	cpu=$(meta capture_cpu |
		sed -n 's/^user_s=\([0-9.]*\) sys_s=\([0-9.]*\)$/\1 \2/p' | awk '{ print $1 + $2 }')
	"$LS" "$T/c.emt" >"$T/ls" 2>&1
	caps=$(sed -n 's/^counts .* \([0-9]*\) captures.*/\1/p' "$T/ls")
	raw=$(sed -n 's/^bytes *\([0-9]*\) raw.*/\1/p' "$T/ls")
	lost=$(sed -n 's/^lost *\([0-9]*\).*/\1/p' "$T/ls")
	# bpf mode: threads stopped until their records were read (lossless)
	holds=-
	[ "$mode" = bpf ] &&
		holds=$(meta bpf_stats |
			sed -n 's/.*holds=\([0-9]*\).*/\1/p')
	stored=$(stat -c %s "$T/c.emt" 2>/dev/null || echo 0)
	truth "$row" "$T/traced.out" >"$T/truth"
	"$CR" "$T/c.emt" "$T/truth" >"$T/cr" 2>&1
	rc=$?
	found=$(sed -n 's/^recall: \([0-9]*\)\/\([0-9]*\).*/\1\/\2/p' "$T/cr")
	if [ $rc -eq 0 ]; then exact="all ${found:-?}"
	elif [ "$row" = node ] && [ "$mode" = bpf ] && [ "${found%%/*}" -gt 0 ] 2>/dev/null; then exact="some ${found}"
	else exact="FAIL ${found:-$(head -c 80 "$T/cr")}"
	fi
	echo "$us $cpu ${caps:-0} ${raw:-0} $stored ${lost:-?} ${holds:--} $exact" >>"$T/$row-$mode"
	# The archive of the last run stays for a look (emt-ls, emt-diff).
	cp "$T/c.emt" "$T/last-$row-$mode.emt" 2>/dev/null
	echo "$us"
}

{
echo "# bench_throughput.sh - $(date -u '+%Y-%m-%d %H:%M:%S UTC') - $(uname -r) - $(nproc) CPUs - load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1) - commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null)"
echo "# target wall time from inside, median of $RUNS interleaved runs; captures/s and MB/s"
echo "# over the target's traced time; cpu/1k: emt-capture's own user+sys seconds (its"
echo "# threads, not the target's; meta capture_cpu, startup included) per 1,000"
echo "# captures; stored: archive size; holds: threads stopped until their records were"
echo "# read (bpf mode, lossless); exact: oracle images found byte-exact"
echo
printf '  %-7s %-6s %9s %9s %6s %8s %9s %7s %7s %7s %5s %6s  %s\n' row mode untraced traced slow captures "caps/s" "raw MB/s" "sto MB/s" "cpu/1k" lost holds exact
for row in $ROWS; do
	available "$row" || { echo "  $row: not installed, skipped"; continue; }
	: >"$T/$row-plain"
	for i in $(seq "$RUNS"); do
		untraced "$row" >>"$T/$row-plain"
		for m in $MODES; do traced "$row" "$m" >/dev/null; done
	done
	base=$(median <"$T/$row-plain")
	for m in $MODES; do
		# the run whose target time is the median gives the row's figures
		line=$(sort -n "$T/$row-$m" | awk -v n="$RUNS" 'NR == int((n + 1) / 2)')
		set -- $line
		us=$1 cpu=$2 caps=$3 raw=$4 stored=$5 lost=$6 holds=$7
		shift 7
		exact="$*"
		awk -v row="$row" -v m="$m" -v b="$base" -v us="$us" -v cpu="$cpu" -v caps="$caps" \
			-v raw="$raw" -v st="$stored" -v lost="$lost" -v holds="$holds" -v ex="$exact" 'BEGIN {
			s = us / 1e6
			printf "  %-7s %-6s %7.0f ms %7.0f ms %5.2fx %8d %9.0f %8.1f %8.2f %7.3f %5s %6s  %s\n",
				row, m, b / 1000, us / 1000, (b > 0 ? us / b : 0), caps,
				(s > 0 ? caps / s : 0), (s > 0 ? raw / s / 1e6 : 0),
				(s > 0 ? st / s / 1e6 : 0), (caps > 0 ? cpu * 1000 / caps : 0), lost, holds, ex }'
	done
done
} | tee "$OUT"

# ---------------------------------------------------------------- profile
[ -n "$PROFILE" ] || exit 0
command -v perf >/dev/null 2>&1 || { echo "bench_throughput: PROFILE needs perf (apt-get install linux-perf)" >&2; exit 1; }
# Call chains (dwarf: the libraries have no frame pointers) of the whole
# machine, read by perf_breakdown.py into cost centres per thread.  The
# polymorphic rows run PROF_N versions here (still twice the ring) to
# keep perf's data in bounds.
PROF_N=${PROF_N:-30000}
HZ=499
# pcmd ROW: cmd ROW at the profile's size.
pcmd() {
	case $1 in
	poly|unique) cmd "$1" | sed "s/--versions [0-9]*/--versions $PROF_N/" ;;
	*) cmd "$1" ;;
	esac
}
# prof_comm ROW: the target's command name as perf sees it.
prof_comm() {
	case $1 in poly|unique) echo fx_poly ;; luajit) echo luajit ;; php) echo php ;; node) echo node ;; esac
}
{
echo "# bench_throughput.sh profile - $(date -u '+%Y-%m-%d %H:%M:%S UTC') - $(uname -r) - commit $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null)"
echo "# perf record -a --call-graph dwarf -F $HZ over one untraced and one traced run per"
echo "# row and mode; bench/perf_breakdown.py: CPU per thread by cost centre, in ms and"
echo "# in us per capture (self: first centre found on the sample's stack)"
for row in $PROFILE; do
	available "$row" || continue
	echo
	echo "## $row untraced: $(pcmd "$row")"
	rm -f "$T/perf.data"
	# shellcheck disable=SC2046
	perf record -q -a --call-graph dwarf,16384 -F $HZ -o "$T/perf.data" -- \
		sh "$T/timed.sh" "$T/us" "$T/plain.out" $(pcmd "$row") >/dev/null 2>"$T/perf.err"
	ucaps=$(truth "$row" "$T/plain.out" | grep -c '^EMT-TRUTH')
	echo "# target $(( $(cat "$T/us" 2>/dev/null || echo 0) / 1000 )) ms untraced; per capture: per truth image ($ucaps)"
	perf script -i "$T/perf.data" -F comm,tid,ip,sym,dso >"$T/perf.txt" 2>/dev/null
	python3 "$TOP/bench/perf_breakdown.py" "$T/perf.txt" $HZ "$ucaps" "$(prof_comm "$row")"
	for m in $MODES; do
		echo
		echo "## $row --mode $m: $(pcmd "$row")"
		rm -f "$T/c.emt" "$T/perf.data"
		# shellcheck disable=SC2046
		perf record -q -a --call-graph dwarf,16384 -F $HZ -o "$T/perf.data" -- \
			"$CAP" -q --mode "$m" -o "$T/c.emt" -- sh "$T/timed.sh" "$T/us" "$T/traced.out" $(pcmd "$row") \
			>/dev/null 2>"$T/perf.err"
		pcaps=$("$LS" "$T/c.emt" 2>/dev/null | sed -n 's/^counts .* \([0-9]*\) captures.*/\1/p')
		echo "# target $(( $(cat "$T/us" 2>/dev/null || echo 0) / 1000 )) ms traced, ${pcaps:-0} captures"
		perf script -i "$T/perf.data" -F comm,tid,ip,sym,dso >"$T/perf.txt" 2>/dev/null
		python3 "$TOP/bench/perf_breakdown.py" "$T/perf.txt" $HZ "${pcaps:-0}" "$(prof_comm "$row")"
	done
done
} | tee "$PROF_OUT"
