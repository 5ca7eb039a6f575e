#!/bin/sh
# Real JITs from Debian's packages under emt-capture, checked against their
# own oracles (fixtures/jit/README.md):
#  - LuaJIT: every trace's final machine code is found byte-exact (bpf mode,
#    and ptrace mode when it works);
#  - PHP opcache JIT: the 16 MiB JIT buffer after the last compilation is
#    found byte-exact;
#  - Node.js (V8, W^X code pages): every optimised function of
#    --print-opt-code found byte-exact;
#  - qemu-user (RWX translation buffer) running a fixture: identical whole
#    output, and in ptrace mode many versions of the buffer;
#  - OpenJDK 17 (RWX CodeCache): in ptrace mode at least JAVA_MIN_PCT
#    (95) percent of PrintAssembly's methods found (every one in the runs
#    measured: bench/results/ptrace_oracles.txt), in bpf mode at least one.
# Each workload must also print exactly what it prints untraced: the
# result lines of the oracle runs, and for java, node and qemu the whole
# standard output of a run without diagnostic flags (pids and addresses
# masked).
. "$(dirname "$0")/lib.sh"

CR="$BUILD/tests/tools/check-recall"
JIT="$TOP/fixtures/jit"
CAP_TIMEOUT=${EMT_JIT_TIMEOUT:-180}

# capture_works MODE: emt-capture can capture /bin/true in MODE.
# Prints SKIP (a named missing precondition) or FAIL (the engine's message)
# when it cannot.
capture_works() {
	need_engine "jit tests in $1 mode" "$1"
}

# masked FILE: the whole output with what differs between two correct runs
# masked: pids, tids and addresses.
masked() { sed -E 's/(pid|tid)([ =])[0-9]+/\1\2N/g; s/addr=0x[0-9a-f]+/addr=A/g' "$1"; }

# same_output NAME MODE CMD...: runs CMD untraced and under emt-capture
# --mode MODE; PASS if both exit 0 and their whole standard output is the
# same once masked.  Leaves $T/NAME-MODE.emt.
same_output() {
	name=$1 mode=$2
	shift 2
	if ! "$@" >"$T/$name-plain.out" 2>"$T/$name-plain.err"; then
		fail "$name untraced" "exit $?: $(head -c 300 "$T/$name-plain.err")"
		return 1
	fi
	timeout "${RUN_TIMEOUT:-$CAP_TIMEOUT}" "$BIN/emt-capture" -q --mode "$mode" -o "$T/$name-$mode.emt" -- "$@" \
		>"$T/$name-$mode.out" 2>"$T/$name-$mode.err"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name under emt-capture --mode $mode" "exit $rc: $(tail -c 300 "$T/$name-$mode.err")"
		return 1
	fi
	masked "$T/$name-plain.out" >"$T/$name-plain.m"
	masked "$T/$name-$mode.out" >"$T/$name-$mode.m"
	if [ ! -s "$T/$name-plain.m" ] || ! cmp -s "$T/$name-plain.m" "$T/$name-$mode.m"; then
		fail "$name: whole output identical under --mode $mode" "$(diff "$T/$name-plain.m" "$T/$name-$mode.m" | head -n 5 | tr '\n' ' ')"
		return 1
	fi
	pass "$name: whole output identical under --mode $mode ($(wc -l <"$T/$name-plain.m") lines)"
}

# results FILE: the workload's deterministic result lines.
results() { grep -E '^(sum_mod|sumMod|branchy|tables|arrays|strings|floats)[ 	]|^fx_[a-z_]+: .* ok' "$1"; }

# run_jit NAME MODE CMD...: runs CMD untraced and under emt-capture --mode
# MODE; PASS if both exit 0 with the same results.  Leaves the archive in
# $T/NAME-MODE.emt and the traced stdout in $T/NAME-MODE.out.
run_jit() {
	name=$1 mode=$2
	shift 2
	if ! "$@" >"$T/$name-plain.out" 2>"$T/$name-plain.err"; then
		fail "$name untraced" "exit $?: $(head -c 300 "$T/$name-plain.err")"
		return 1
	fi
	timeout "${RUN_TIMEOUT:-$CAP_TIMEOUT}" "$BIN/emt-capture" -q --mode "$mode" -o "$T/$name-$mode.emt" -- "$@" \
		>"$T/$name-$mode.out" 2>"$T/$name-$mode.err"
	rc=$?
	if [ "$rc" -eq 124 ]; then
		fail "$name under emt-capture --mode $mode" "timed out after ${RUN_TIMEOUT:-$CAP_TIMEOUT} s: $(tail -c 300 "$T/$name-$mode.err")"
		return 1
	elif [ "$rc" -ne 0 ]; then
		fail "$name under emt-capture --mode $mode" "exit $rc: $(tail -c 300 "$T/$name-$mode.err")"
		return 1
	fi
	results "$T/$name-plain.out" >"$T/$name-plain.res"
	results "$T/$name-$mode.out" >"$T/$name-$mode.res"
	if [ ! -s "$T/$name-plain.res" ] || ! cmp -s "$T/$name-plain.res" "$T/$name-$mode.res"; then
		fail "$name output identical under --mode $mode" "$(diff "$T/$name-plain.res" "$T/$name-$mode.res" | head -n 5)"
		return 1
	fi
	pass "$name runs under --mode $mode with identical output"
}

# recall NAME MODE [CHECK-RECALL OPTIONS]: every truth image found; the
# truth is $T/NAME-MODE.truth if an oracle wrote it, else the workload's
# own output.
recall() {
	name=$1 mode=$2
	shift 2
	truth="$T/$name-$mode.truth"
	[ -f "$truth" ] || truth="$T/$name-$mode.out"
	"$CR" "$@" "$T/$name-$mode.emt" "$truth" >"$T/$name-$mode.cr" 2>&1
	rc=$?
	summary=$(grep '^recall:' "$T/$name-$mode.cr")
	if [ "$rc" -eq 0 ]; then
		pass "$name oracle fully captured (--mode $mode): $summary"
	else
		fail "$name oracle fully captured (--mode $mode)" "exit $rc: $(grep -E '^(MISSING|recall:)|check-recall:' "$T/$name-$mode.cr" | head -n 8)"
	fi
}

# ---------------------------------------------------------------- oracles alone
# oracle NAME MIN CMD...: CMD exits 0 and prints at least MIN truth lines.
oracle() {
	name=$1 min=$2
	shift 2
	if ! "$@" >"$T/$name-oracle.out" 2>"$T/$name-oracle.err"; then
		fail "$name oracle untraced" "exit $?: $(head -c 300 "$T/$name-oracle.err")"
		return
	fi
	n=$(grep -cE '^EMT-TRUTH pid=[0-9]+ tid=[0-9]+ addr=0x[0-9a-f]+ size=[0-9]+ (hex|sha256)=[0-9a-f]+ kind=' "$T/$name-oracle.out")
	if [ "$n" -ge "$min" ]; then
		pass "$name oracle untraced ($n images)"
	else
		fail "$name oracle untraced" "$n truth lines, expected at least $min"
	fi
}
command -v luajit >/dev/null 2>&1 && oracle luajit 5 luajit "$JIT/luajit_traces.lua"
command -v php >/dev/null 2>&1 && oracle php 1 php -d opcache.enable_cli=1 \
	-d opcache.jit=tracing -d opcache.jit_buffer_size=16M "$JIT/php_jit.php"
if command -v node >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
	node --print-opt-code "$JIT/node_hot.js" >"$T/node-pa.out" 2>&1
	oracle node 3 python3 "$JIT/node_oracle.py" "$T/node-pa.out"
fi
if command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 &&
   command -v python3 >/dev/null 2>&1 && mkdir -p "$T/java" &&
   javac -d "$T/java" "$JIT/Hot.java" 2>"$T/javac.err"; then
	java -XX:+UnlockDiagnosticVMOptions -XX:+PrintAssembly -Xbatch -cp "$T/java" Hot \
		>"$T/java-pa.out" 2>&1
	oracle java 10 python3 "$JIT/java_oracle.py" "$T/java-pa.out"
fi

# some_found NAME MODE: at least one image of $T/NAME-MODE.truth found (for
# RWX JITs whose code may change after the oracle printed it).
some_found() {
	"$CR" "$T/$1-$2.emt" "$T/$1-$2.truth" >"$T/$1-$2.cr" 2>&1
	summary=$(grep '^recall:' "$T/$1-$2.cr")
	found=$(echo "$summary" | sed -n 's/^recall: \([0-9]*\)\/.*/\1/p')
	if [ "${found:-0}" -gt 0 ]; then
		pass "$1 oracle captured (--mode $2): $summary"
	else
		fail "$1 oracle captured (--mode $2)" "${summary:-$(head -n 3 "$T/$1-$2.cr")}"
	fi
}

# share_found NAME MODE PCT: at least PCT percent of the images of
# $T/NAME-MODE.truth found (RWX JITs patching code after the oracle printed
# it may legitimately differ from it at first execution).
share_found() {
	"$CR" "$T/$1-$2.emt" "$T/$1-$2.truth" >"$T/$1-$2.cr" 2>&1
	summary=$(grep '^recall:' "$T/$1-$2.cr")
	found=$(echo "$summary" | sed -n 's/^recall: \([0-9]*\)\/.*/\1/p')
	total=$(echo "$summary" | sed -n 's/^recall: [0-9]*\/\([0-9]*\) .*/\1/p')
	if [ "${total:-0}" -gt 0 ] && [ $((100 * found)) -ge $(($3 * total)) ]; then
		pass "$1 oracle captured (--mode $2, at least $3%): $summary"
	else
		fail "$1 oracle captured (--mode $2, at least $3%)" "${summary:-$(head -n 3 "$T/$1-$2.cr")}"
	fi
}

modes=""
for m in bpf ptrace; do
	if capture_works "$m"; then modes="$modes $m"; fi
done
[ -n "$modes" ] || exit 0

# ---------------------------------------------------------------- LuaJIT
if command -v luajit >/dev/null 2>&1; then
	for m in $modes; do
		run_jit luajit "$m" luajit "$JIT/luajit_traces.lua" && recall luajit "$m"
	done
else
	skip "luajit" "luajit not installed (tools/install-deps.sh)"
fi

# ---------------------------------------------------------------- PHP
if command -v php >/dev/null 2>&1; then
	for m in $modes; do
		run_jit php "$m" php -d opcache.enable_cli=1 -d opcache.jit=tracing \
			-d opcache.jit_buffer_size=16M "$JIT/php_jit.php" && recall php "$m"
	done
else
	skip "php" "php not installed (tools/install-deps.sh)"
fi

# ---------------------------------------------------------------- Node.js
# V8 (Node 20 here) makes its code space RWX once (seen with strace), so
# ptrace mode must find every optimised function printed by
# --print-opt-code at its first execution; bpf mode sees the code space only
# at exit, where functions may have been moved or patched since: at least
# one must be found.
if command -v node >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
	for m in $modes; do
		same_output node-run "$m" node "$JIT/node_hot.js"
		run_jit node "$m" node --print-opt-code "$JIT/node_hot.js" || continue
		python3 "$JIT/node_oracle.py" "$T/node-$m.out" >"$T/node-$m.truth" 2>/dev/null
		if [ "$m" = ptrace ]; then
			recall node "$m"
		else
			some_found node "$m"
		fi
	done
else
	skip "node" "node or python3 not installed"
fi

# ---------------------------------------------------------------- qemu-user
# No oracle for the translated code: the run must just behave (the
# guest's own truth lines describe guest memory, not host code).
if command -v qemu-x86_64 >/dev/null 2>&1; then
	# A short guest run: every W^X flip of qemu's 128 MiB buffer is costly.
	RUN_TIMEOUT=${EMT_QEMU_TIMEOUT:-60}
	for m in $modes; do
		same_output qemu "$m" qemu-x86_64 "$FIX/fx_poly" --versions 3 || continue
		[ "$m" = ptrace ] || continue
		# Blocks are translated and chained in place all along: the
		# buffer must have yielded many versions.
		nv=$("$BIN/emt-ls" --json "$T/qemu-$m.emt" 2>/dev/null | grep -c '"trigger":"first-exec-fault"')
		if [ "$nv" -ge 100 ]; then
			pass "qemu: translation buffer captured at first execution ($nv versions)"
		else
			fail "qemu: translation buffer captured at first execution" "$nv first-exec-fault captures"
		fi
	done
	unset RUN_TIMEOUT
else
	skip "qemu-user" "qemu-x86_64 not installed (tools/install-deps.sh)"
fi

# ---------------------------------------------------------------- Java
# The CodeCache is RWX: bpf mode sees only what is there at exit (methods
# patched since installation then differ from PrintAssembly), ptrace mode
# sees each method at first execution.  HotSpot patches code after
# installation even before first execution at times, so full recall is not
# required; finding none means capture is broken.
if command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 &&
   command -v python3 >/dev/null 2>&1; then
	mkdir -p "$T/java"
	if [ -f "$T/java/Hot.class" ] || javac -d "$T/java" "$JIT/Hot.java" 2>"$T/javac.err"; then
		for m in $modes; do
			same_output java-run "$m" java -Xbatch -cp "$T/java" Hot
			run_jit java "$m" java -XX:+UnlockDiagnosticVMOptions -XX:+PrintAssembly \
				-Xbatch -cp "$T/java" Hot || continue
			python3 "$JIT/java_oracle.py" "$T/java-$m.out" >"$T/java-$m.truth" 2>/dev/null
			if [ "$m" = ptrace ]; then
				share_found java "$m" "${JAVA_MIN_PCT:-95}"
			else
				some_found java "$m"
			fi
		done
	else
		fail "javac Hot.java" "$(head -c 300 "$T/javac.err")"
	fi
else
	skip "java" "java, javac or python3 not installed"
fi
