#!/bin/sh
# Runs the whole suite: cmocka unit tests, fuzz corpus replays and
# integration scripts.  Prints one line per test and a closing
# "N passed, N failed, N skipped" line; exits non-zero if anything failed.
#
# Usage: tests/run-tests.sh [PATTERN]   (PATTERN filters test file names)
BUILD=${BUILD:-build}
export BUILD
TOP=$(cd "$(dirname "$0")/.." && pwd)
export TOP
pat=${1:-}
pass=0 fail=0 skip=0
log=$(mktemp -d "${TMPDIR:-/tmp}/emt-tests.XXXXXX")
trap 'rm -rf "$log"' EXIT

want() { [ -z "$pat" ] || case "$1" in *"$pat"*) return 0;; *) return 1;; esac; }

# Every BPF program must load within its stack budget on this kernel
# before anything is captured (make bpf-check); 77: a missing
# precondition, which it names.
if want bpf-check && [ -x "$BUILD/dev/bpf-check" ]; then
	if "$BUILD/dev/bpf-check" -q >"$log/bpf-check" 2>&1; then rc=0; else rc=$?; fi
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1)); echo "ok:   bpf-check: $(tail -n 1 "$log/bpf-check")"
	elif [ "$rc" -eq 77 ]; then
		skip=$((skip + 1)); echo "SKIP: bpf-check: $(sed 's/^bpf-check: skipped: //' "$log/bpf-check")" | tee -a "$log/skips"
	else
		fail=$((fail + 1)); echo "FAIL: bpf-check"; sed 's/^/    /' "$log/bpf-check" | tail -n 40
	fi
elif want bpf-check; then
	fail=$((fail + 1)); echo "FAIL: bpf-check: $BUILD/dev/bpf-check not built"
fi

# cmocka binaries: count their individual tests.
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	want "$t" || continue
	name=$(basename "$t")
	if "$t" >"$log/$name" 2>&1; then rc=0; else rc=$?; fi
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log/$name" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log/$name" | tail -n 1)
	s=$(grep -c '^\[  SKIPPED \]' "$log/$name")
	p=${p:-0} f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	grep '^\[  SKIPPED \]' "$log/$name" | sed "s/^\[  SKIPPED \] */SKIP: $name: /" >>"$log/skips"
	if [ "$f" -ne 0 ]; then
		echo "FAIL: $name"; sed 's/^/    /' "$log/$name" | tail -n 40
	else
		echo "ok:   $name ($p passed${s:+, $s skipped})"
	fi
done

# Fuzz targets replay their corpus (tests/fuzz/corpus/NAME).
for t in "$BUILD"/fuzz/fuzz_*; do
	[ -x "$t" ] || continue
	want "$t" || continue
	name=$(basename "$t")
	corpus="$TOP/tests/fuzz/corpus/$name"
	if "$t" "$corpus" >"$log/$name" 2>&1; then
		pass=$((pass + 1)); echo "ok:   $name corpus replay"
	else
		fail=$((fail + 1)); echo "FAIL: $name corpus replay"; tail -n 40 "$log/$name" | sed 's/^/    /'
	fi
done

# Integration scripts print "PASS: x", "FAIL: x" or "SKIP: x: reason" lines.
for t in "$TOP"/tests/integration/test_*.sh; do
	[ -f "$t" ] || continue
	want "$t" || continue
	name=$(basename "$t" .sh)
	start=$(date +%s)
	if sh "$t" >"$log/$name" 2>&1; then rc=0; else rc=$?; fi
	p=$(grep -c '^PASS: ' "$log/$name")
	f=$(grep -c '^FAIL: ' "$log/$name")
	s=$(grep -c '^SKIP: ' "$log/$name")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "FAIL: $name exited $rc" >>"$log/$name"; fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	secs=$(( $(date +%s) - start ))
	if [ "$f" -ne 0 ]; then
		echo "FAIL: $name (${secs}s)"; tail -n 60 "$log/$name" | sed 's/^/    /'
	else
		echo "ok:   $name ($p passed, $s skipped, ${secs}s)"
		grep '^SKIP: ' "$log/$name" | sed 's/^/    /'
	fi
	grep '^SKIP: ' "$log/$name" | sed "s/^SKIP: /SKIP: $name: /" >>"$log/skips"
done

# Every skip again, with its reason, where the closing line can be seen.
if [ -s "$log/skips" ]; then
	echo "skipped:"
	sed 's/^SKIP: /    /' "$log/skips"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
