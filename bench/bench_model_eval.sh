#!/bin/sh
# bench_model_eval.sh - the evaluation of syscall models (issue 16,
# bench/model_eval.py): false alerts of benign Debian programs learned
# from --syscalls all archives, and detection of shellcode after benign
# behaviour (fixtures/fx_takeover), at depths 1, 2 and 3.
# Writes bench/results/model.txt (and prints it).
#
# usage: BUILD=build sh bench/bench_model_eval.sh   (LEARN=5 TEST=10 REPS=3)
set -u
. "$(dirname "$0")/lib.sh"
bench_init bench_model_eval
OUT=${OUT:-"$TOP/bench/results/model.txt"}

bench_need_root
bench_need_built "$BUILD/bin/emt-capture" "$BUILD/bin/emt-learn" "$BUILD/bin/emt-extract" \
	"$BUILD/fixtures/fx_takeover"
command -v python3 >/dev/null || bench_die "python3 missing"
python3 "$TOP/bench/model_eval.py" "$BUILD" "$T" "$OUT" || bench_die "evaluation failed"
