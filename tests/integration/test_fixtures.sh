#!/bin/sh
# Fixtures on their own (no capture): each must exit 0 and print well-formed
# ground truth (fixtures/fixture.h), the right number of images, distinct
# content per image, deterministic across runs.  Then check-recall itself:
# it must fail on a fabricated image (a checker that cannot fail is a
# defect) and, when emt-capture works, pass on a real capture.
. "$(dirname "$0")/lib.sh"

TRUTH_RE='^EMT-TRUTH pid=[1-9][0-9]* tid=[1-9][0-9]* addr=0x[0-9a-f]+ size=[1-9][0-9]* sha256=[0-9a-f]{64} kind=[a-z-]+ version=[1-9][0-9]*$'

# run_fx NAME MIN MAX ARGS...: runs fixture NAME with ARGS; expects exit 0
# and between MIN and MAX truth lines, all well-formed, all distinct.
run_fx() {
	name=$1 min=$2 max=$3
	shift 3
	out="$T/$name.out"
	if [ ! -x "$FIX/$name" ]; then
		fail "$name" "not built ($FIX/$name)"
		return 1
	fi
	if ! "$FIX/$name" "$@" >"$out" 2>"$T/$name.err"; then
		fail "$name $*" "exit status $? ($(head -c 300 "$T/$name.err"))"
		return 1
	fi
	n=$(grep -c '^EMT-TRUTH ' "$out")
	good=$(grep -cE "$TRUTH_RE" "$out")
	if [ "$n" -ne "$good" ]; then
		fail "$name $*" "malformed truth line: $(grep '^EMT-TRUTH ' "$out" | grep -vE "$TRUTH_RE" | head -n 1)"
		return 1
	fi
	if [ "$n" -lt "$min" ] || [ "$n" -gt "$max" ]; then
		fail "$name $*" "$n truth lines, expected $min..$max"
		return 1
	fi
	dup=$(grep '^EMT-TRUTH ' "$out" | sed 's/.* sha256=\([0-9a-f]*\).*/\1/' | sort | uniq -d | head -n 1)
	if [ -n "$dup" ]; then
		fail "$name $*" "two images with the same content $dup"
		return 1
	fi
	pass "$name $* ($n images)"
}

# field FILE NAME: values of truth field NAME, one per line.
field() { grep '^EMT-TRUTH ' "$1" | sed "s/.* $2=\([^ ]*\).*/\1/"; }

run_fx fx_wx 5 5 --versions 3 --regions 2
# Versions 1..3 of one range, then fresh ranges at version 1.
if [ "$(field "$T/fx_wx.out" version | tr '\n' ' ')" = "1 2 3 1 1 " ] &&
   [ "$(field "$T/fx_wx.out" addr | head -n 3 | sort -u | wc -l)" -eq 1 ]; then
	pass "fx_wx versions of one range"
else
	fail "fx_wx versions of one range" "$(field "$T/fx_wx.out" version | tr '\n' ' ')"
fi
# Same code on every run (addresses may differ).
cp "$T/fx_wx.out" "$T/fx_wx.first"
"$FIX/fx_wx" --versions 3 --regions 2 >"$T/fx_wx.second" 2>&1
if [ "$(field "$T/fx_wx.first" sha256)" = "$(field "$T/fx_wx.second" sha256)" ]; then
	pass "fx_wx deterministic content"
else
	fail "fx_wx deterministic content"
fi

run_fx fx_poly 10 10 --versions 10
run_fx fx_rwx 3 3 --versions 3
run_fx fx_rwx 3 3 --versions 3 --mprotect
run_fx fx_sparse 1 1 --mib 8 --check-hash
if grep -q 'fx_sparse: 5 of 2048 pages resident' "$T/fx_sparse.out"; then
	pass "fx_sparse leaves untouched pages non-resident"
else
	fail "fx_sparse leaves untouched pages non-resident" "$(grep resident "$T/fx_sparse.out")"
fi
if [ "$(field "$T/fx_sparse.out" size)" = 8388608 ]; then
	pass "fx_sparse truth covers the whole range"
else
	fail "fx_sparse truth covers the whole range"
fi
run_fx fx_large 1 1 --mib 4
run_fx fx_memfd 3 3 --count 3
run_fx fx_memfd_dual 3 3 --versions 3
run_fx fx_threads 12 12 --threads 3 --versions 4
if [ "$(field "$T/fx_threads.out" tid | sort -u | wc -l)" -eq 3 ]; then
	pass "fx_threads truth from 3 threads"
else
	fail "fx_threads truth from 3 threads"
fi
run_fx fx_fork 5 5 --children 2
if [ "$(field "$T/fx_fork.out" pid | sort -u | wc -l)" -eq 3 ]; then
	pass "fx_fork truth from parent and 2 children"
else
	fail "fx_fork truth from parent and 2 children"
fi
run_fx fx_exec 6 6 --stages 3
if [ "$(field "$T/fx_exec.out" pid | sort -u | wc -l)" -eq 1 ] &&
   [ "$(grep -c 'fx_exec: stage . of 3 ok' "$T/fx_exec.out")" -eq 3 ]; then
	pass "fx_exec 3 stages in one pid"
else
	fail "fx_exec 3 stages in one pid"
fi
run_fx fx_shortlived 50 50 --iterations 50
run_fx fx_longrun 4 20 --seconds 1 --delay-ms 0 --interval-ms 100
run_fx fx_sigsegv 3 3 --rounds 2
if [ "$(grep -c 'SIGSEGV delivered' "$T/fx_sigsegv.out")" -eq 6 ]; then
	pass "fx_sigsegv handled 6 genuine faults"
else
	fail "fx_sigsegv handled 6 genuine faults"
fi
run_fx fx_rwx_threads 15 15 --threads 3 --versions 5
run_fx fx_nocode 0 0 --iterations 1000

# ---------------------------------------------------------------- check-recall
CR="$BUILD/tests/tools/check-recall"
if [ ! -x "$CR" ]; then
	skip "check-recall" "not built ($CR)"
	exit 0
fi

# Usage and bad truth: exit 2.
"$CR" >/dev/null 2>&1; rc=$?
check "check-recall usage error exits 2" [ "$rc" -eq 2 ]
printf 'no truth here\n' >"$T/empty.truth"
"$CR" /nonexistent.emt "$T/empty.truth" >/dev/null 2>&1; rc=$?
check "check-recall refuses a truth file without images" [ "$rc" -eq 2 ]

if [ ! -x "$BIN/emt-capture" ]; then
	skip "check-recall on a real capture" "emt-capture not built"
	exit 0
fi
if ! "$BIN/emt-capture" -q -o "$T/wx.emt" -- "$FIX/fx_wx" --versions 3 --regions 2 \
	>"$T/wx.truth" 2>"$T/wx.err"; then
	skip "check-recall on a real capture" "emt-capture failed: $(head -c 300 "$T/wx.err")"
	exit 0
fi
if "$CR" "$T/wx.emt" "$T/wx.truth" >"$T/cr.out" 2>&1; then
	pass "check-recall finds every fx_wx image"
else
	fail "check-recall finds every fx_wx image" "$(tail -n 5 "$T/cr.out")"
fi
# Fabricated images: wrong content, wrong pid, range past the capture.
line=$(grep '^EMT-TRUTH ' "$T/wx.truth" | head -n 1)
sha=$(echo "$line" | sed 's/.* sha256=\([^ ]*\).*/\1/')
case $sha in 0*) bad=1 ;; *) bad=0 ;; esac
bad="$bad$(echo "$sha" | cut -c2-)"
for case in sha pid size; do
	cp "$T/wx.truth" "$T/bad.truth"
	case $case in
	sha)  echo "$line" | sed "s/sha256=$sha/sha256=$bad/" >>"$T/bad.truth" ;;
	pid)  echo "$line" | sed 's/ pid=[0-9]*/ pid=1/' >>"$T/bad.truth" ;;
	size) echo "$line" | sed 's/ size=\([0-9]*\)/ size=\1000/' >>"$T/bad.truth" ;;
	esac
	"$CR" "$T/wx.emt" "$T/bad.truth" >"$T/cr.out" 2>&1; rc=$?
	if [ "$rc" -eq 1 ] && grep -q '^MISSING' "$T/cr.out"; then
		pass "check-recall fails on a fabricated image ($case)"
	else
		fail "check-recall fails on a fabricated image ($case)" "exit $rc: $(tail -n 3 "$T/cr.out")"
	fi
done
