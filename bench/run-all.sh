#!/bin/sh
# Runs every benchmark and stores its results under bench/results/:
#  - each bench/*.sh (they write their own bench/results/NAME.txt);
#  - each benchmark binary $(BUILD)/bench/bench_X built from bench/*.c that
#    no script drives (a script naming a binary runs it with the right
#    setup), with its output in bench/results/X.txt.
# Prints one line per benchmark; exits non-zero if any failed.
#
# usage: BUILD=build sh bench/run-all.sh [PATTERN]   (or: make bench)
set -u
. "$(dirname "$0")/lib.sh"
bench_init run-all
export BUILD
pat=${1:-}
RES="$TOP/bench/results"
mkdir -p "$RES"
failed=0

want() { [ -z "$pat" ] || case "$1" in *"$pat"*) return 0;; *) return 1;; esac; }

for s in "$TOP"/bench/*.sh; do
	[ -f "$s" ] || continue
	case $(basename "$s") in run-all.sh|lib.sh) continue;; esac
	want "$s" || continue
	name=$(basename "$s" .sh)
	start=$(date +%s)
	if sh "$s" >"$RES/.$name.log" 2>&1; then
		echo "ok:   $name ($(( $(date +%s) - start ))s)"
		rm -f "$RES/.$name.log"
	else
		failed=1
		echo "FAIL: $name (log: bench/results/.$name.log)"
		tail -n 5 "$RES/.$name.log" | sed 's/^/    /'
	fi
done

for b in "$BUILD"/bench/*; do
	[ -x "$b" ] && [ -f "$b" ] || continue
	name=$(basename "$b")
	want "$name" || continue
	# Helpers driven by a script are run there.
	if grep -q "$name" "$TOP"/bench/*.sh 2>/dev/null; then
		continue
	fi
	out="$RES/${name#bench_}.txt"
	start=$(date +%s)
	# Run from the top so binaries find build outputs by relative path.
	if (cd "$TOP" && "$b") >"$out.tmp" 2>&1; then
		mv "$out.tmp" "$out"
		echo "ok:   $name -> bench/results/$(basename "$out") ($(( $(date +%s) - start ))s)"
	else
		failed=1
		echo "FAIL: $name (partial output: bench/results/$(basename "$out").tmp)"
		tail -n 5 "$out.tmp" | sed 's/^/    /'
	fi
done
exit "$failed"
