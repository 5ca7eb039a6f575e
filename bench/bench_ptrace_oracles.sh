#!/bin/sh
# bench_ptrace_oracles.sh - how much of each real JIT's oracle ptrace mode
# captures (issue 5: "the report gives how much of their oracle's code was
# captured"), over RUNS runs of each workload of fixtures/jit (README.md
# there): images of the oracle found byte-exact in the archive
# (check-recall), wall time traced and untraced, whether the whole output
# (pids and addresses masked) is the same as untraced, and the number of
# first-exec-fault captures.  qemu-user has no oracle: only its versions.
# Writes bench/results/ptrace_oracles.txt (and prints it).
#
# usage: BUILD=build sh bench/bench_ptrace_oracles.sh   (RUNS=5 to change)
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_ptrace_oracles
RUNS=${RUNS:-5}
OUT="$TOP/bench/results/ptrace_oracles.txt"
CAP="$BUILD/bin/emt-capture"
CR="$BUILD/tests/tools/check-recall"
LS="$BUILD/bin/emt-ls"
JIT="$TOP/fixtures/jit"

bench_need_root
bench_need_built "$CAP" "$CR" "$LS" "$BUILD/fixtures/fx_poly"

masked() { sed -E 's/(pid|tid)([ =])[0-9]+/\1\2N/g; s/addr=0x[0-9a-f]+/addr=A/g' "$1"; }
results() { grep -E '^(sum_mod|sumMod|branchy|tables|arrays|strings|floats)[ 	]|^fx_[a-z_]+: .* ok' "$1"; }
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# one NAME ORACLE CMD...: RUNS runs of CMD untraced and under ptrace mode.
# ORACLE is a command turning the traced output file ($1) into truth lines
# on stdout ("self": the output is its own truth; "none": no oracle).
# Prints one summary line.
one() {
	name=$1 oracle=$2
	shift 2
	found_all="" total_all="" caps_all="" plain_ms="" traced_ms="" same=0
	i=0
	while [ $i -lt "$RUNS" ]; do
		i=$((i + 1))
		t0=$(now)
		"$@" >"$T/plain.out" 2>/dev/null || { echo "$name: untraced run failed"; return; }
		t1=$(now)
		rm -f "$T/c.emt"
		"$CAP" -q --mode ptrace -o "$T/c.emt" -- "$@" >"$T/traced.out" 2>"$T/traced.err" ||
			{ echo "$name: traced run failed: $(tail -c 200 "$T/traced.err")"; return; }
		t2=$(now)
		plain_ms="$plain_ms $(ms "$t0" "$t1")"
		traced_ms="$traced_ms $(ms "$t1" "$t2")"
		# Diagnostic output (PrintAssembly, --print-opt-code, code
		# sizes) varies between correct runs: the result lines compare
		# (tests/integration/test_jit.sh), qemu's whole masked output.
		if [ "$oracle" = none ]; then
			masked "$T/plain.out" >"$T/p.m"
			masked "$T/traced.out" >"$T/t.m"
		else
			results "$T/plain.out" >"$T/p.m"
			results "$T/traced.out" >"$T/t.m"
		fi
		cmp -s "$T/p.m" "$T/t.m" && same=$((same + 1))
		caps_all="$caps_all $("$LS" --json "$T/c.emt" 2>/dev/null | grep -c '"trigger":"first-exec-fault"')"
		case $oracle in
		none) continue ;;
		self) cp "$T/traced.out" "$T/truth" ;;
		*) $oracle "$T/traced.out" >"$T/truth" 2>/dev/null ;;
		esac
		r=$("$CR" "$T/c.emt" "$T/truth" 2>/dev/null | sed -n 's/^recall: \([0-9]*\)\/\([0-9]*\) .*/\1 \2/p')
		found_all="$found_all $(echo "${r:-0 0}" | cut -d' ' -f1)"
		total_all="$total_all $(echo "${r:-0 0}" | cut -d' ' -f2)"
	done
	sum() { echo "$1" | tr ' ' '\n' | awk 'NF { s += $1 } END { print s + 0 }'; }
	minmax() { echo "$1" | tr ' ' '\n' | awk 'NF { if (n++ == 0 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 } END { printf "%d-%d", lo, hi }'; }
	if [ "$oracle" = none ]; then
		cov="no oracle"
	else
		f=$(sum "$found_all") n=$(sum "$total_all")
		cov=$(awk -v f="$f" -v n="$n" 'BEGIN { if (n) printf "%d/%d (%.1f%%)", f, n, 100 * f / n; else print "0/0" }')
		cov="$cov, per run$(echo "$found_all" | sed 's/ /,/g; s/^,/ /')"
	fi
	printf '  %-8s %-34s  untraced %s ms, traced %s ms, same output %d/%d, first-exec-fault captures %s\n' \
		"$name" "$cov" "$(minmax "$plain_ms")" "$(minmax "$traced_ms")" "$same" "$RUNS" "$(minmax "$caps_all")"
}

node_oracle() { python3 "$JIT/node_oracle.py" "$1"; }
java_oracle() { python3 "$JIT/java_oracle.py" "$1"; }

{
echo "# bench_ptrace_oracles.sh - $(date -u '+%Y-%m-%d %H:%M:%S UTC') - $(uname -r) - $(nproc) CPUs"
echo "# load average at start $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs of each workload"
echo
echo "oracle images found byte-exact in the ptrace-mode archive (all runs, then per run),"
echo "wall time range, result lines (qemu: whole output, pids and addresses masked) identical"
echo "to untraced, first-exec-fault captures:"
command -v luajit >/dev/null 2>&1 && one luajit self luajit "$JIT/luajit_traces.lua"
command -v php >/dev/null 2>&1 && one php self php -d opcache.enable_cli=1 -d opcache.jit=tracing \
	-d opcache.jit_buffer_size=16M "$JIT/php_jit.php"
command -v node >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1 &&
	one node node_oracle node --print-opt-code "$JIT/node_hot.js"
if command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1 &&
   mkdir -p "$T/java" && javac -d "$T/java" "$JIT/Hot.java" 2>/dev/null; then
	one java java_oracle java -XX:+UnlockDiagnosticVMOptions -XX:+PrintAssembly -Xbatch -cp "$T/java" Hot
fi
command -v qemu-x86_64 >/dev/null 2>&1 && one qemu none qemu-x86_64 "$BUILD/fixtures/fx_poly" --versions 3
echo
echo "load average at end $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$T/out"
mkdir -p "$(dirname "$OUT")"
cp "$T/out" "$OUT"
