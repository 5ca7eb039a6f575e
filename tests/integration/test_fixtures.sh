#!/bin/sh
# Fixtures on their own (no capture): each must exit 0 and print well-formed
# ground truth (fixtures/fixture.h), the right number of images, distinct
# content per image, deterministic across runs.  Then check-recall itself,
# on the library's sample archive: it must find what is there and fail on
# fabricated images and on images under a gap (a checker that cannot fail
# is a defect).  Recall under emt-capture: test_fixtures_recall.sh.
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
run_fx fx_memfd 2 2 --count 2 --deleted
run_fx fx_wx 3 3 --versions 2 --regions 1 --pkey
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
run_fx fx_fork 3 3 --children 2 --vfork
if [ "$(field "$T/fx_fork.out" pid | sort -u | wc -l)" -eq 3 ]; then
	pass "fx_fork --vfork truth from parent and 2 exec'd children"
else
	fail "fx_fork --vfork truth from parent and 2 exec'd children"
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
	fail "check-recall" "not built ($CR)"
	exit 0
fi

# Usage and bad truth: exit 2.
"$CR" >/dev/null 2>&1; rc=$?
check "check-recall usage error exits 2" [ "$rc" -eq 2 ]
printf 'no truth here\n' >"$T/empty.truth"
"$CR" /nonexistent.emt "$T/empty.truth" >/dev/null 2>&1; rc=$?
check "check-recall refuses a truth file without images" [ "$rc" -eq 2 ]

# cr_expect NAME RC [OPTIONS] ARCHIVE TRUTH: check-recall exits RC.
cr_expect() {
	n=$1 want=$2
	shift 2
	"$CR" -v "$@" >"$T/cr.out" 2>&1; rc=$?
	if [ "$rc" -eq "$want" ]; then
		pass "check-recall: $n"
	else
		fail "check-recall: $n" "exit $rc, expected $want: $(grep -E '^(MISSING|recall:)|check-recall:' "$T/cr.out" | head -n 4)"
	fi
}

# truth_from_ls ARCHIVE: one truth line per capture, from emt-ls --json
# (pid, addr, size, sha256 of the whole capture), "gaps" marked kind=gap.
truth_from_ls() {
	"$BIN/emt-ls" --json "$1" | sed -n \
		-e 's/.*"pid":\([0-9]*\),"tid":\([0-9]*\),"addr":"\(0x[0-9a-f]*\)".*"size":\([0-9]*\),.*"sha256":"\([0-9a-f]*\)".*"gaps":\[\].*/EMT-TRUTH pid=\1 tid=\2 addr=\3 size=\4 sha256=\5 kind=sample version=1/p' \
		-e 's/.*"pid":\([0-9]*\),"tid":\([0-9]*\),"addr":"\(0x[0-9a-f]*\)".*"size":\([0-9]*\),.*"sha256":"\([0-9a-f]*\)".*"gaps":\[{.*/EMT-TRUTH pid=\1 tid=\2 addr=\3 size=\4 sha256=\5 kind=gap version=1/p'
}

# On the library's sample archive (tools/dev/gen-fixture-archives): its
# captures are known through emt-ls and emt-extract, independent of any
# capture engine.
GEN="$BUILD/dev/gen-fixture-archives"
if [ -x "$GEN" ] && [ -x "$BIN/emt-ls" ] && [ -x "$BIN/emt-extract" ] &&
   "$GEN" "$T/ga" >/dev/null 2>&1 && [ -f "$T/ga/sample.emt" ]; then
	A="$T/ga/sample.emt"
	truth_from_ls "$A" >"$T/all.truth"
	grep 'kind=sample' "$T/all.truth" >"$T/ok.truth"
	if [ -s "$T/ok.truth" ] && grep -q 'kind=gap' "$T/all.truth"; then
		cr_expect "every gapless capture of the sample found" 0 "$A" "$T/ok.truth"
		cr_expect "a capture with a gap over the image is not a find" 1 "$A" "$T/all.truth"
		grep -q 'has a gap there' "$T/cr.out" && pass "check-recall: names the gap" ||
			fail "check-recall: names the gap"
		cr_expect "--require-gapless fails on an archive with gaps" 1 --require-gapless "$A" "$T/ok.truth"
		# --require-regs: first-exec-fault captures report their rip.
		rip=$("$BIN/emt-ls" --json "$A" | grep '"trigger":"first-exec-fault"' | head -n 1 | sed -n 's/.*"rip":"\(0x[0-9a-f]*\)".*/\1/p')
		if [ -n "$rip" ]; then
			cr_expect "--require-regs accepts a rip inside the capture" 0 --require-regs "$A" "$T/ok.truth"
			grep -q "trigger=first-exec-fault rip=$rip" "$T/cr.out" && pass "check-recall: reports the rip" ||
				fail "check-recall: reports the rip" "want $rip: $(grep first-exec "$T/cr.out" | head -n 1)"
		fi
		# A sub-range of the first capture (its second half), by sha256
		# and by hex=, found through emt-extract's bytes.
		line=$(head -n 1 "$T/ok.truth")
		pid=$(echo "$line" | sed 's/.* pid=\([0-9]*\).*/\1/')
		addr=$(echo "$line" | sed 's/.* addr=\(0x[0-9a-f]*\).*/\1/')
		size=$(echo "$line" | sed 's/.* size=\([0-9]*\).*/\1/')
		sha=$(echo "$line" | sed 's/.* sha256=\([0-9a-f]*\).*/\1/')
		seq=$("$BIN/emt-ls" --json "$A" | grep "\"sha256\":\"$sha\"" | head -n 1 | sed 's/^{"seq":\([0-9]*\),.*/\1/')
		"$BIN/emt-extract" "$A" --seq "$seq" -o "$T/cap.bin" 2>/dev/null
		half=$((size / 2))
		sub=$(printf '0x%x' $((addr + half)))
		tail -c "$half" "$T/cap.bin" >"$T/half.bin"
		hsha=$(sha256sum "$T/half.bin" | cut -c1-64)
		hhex=$(od -An -tx1 -v "$T/half.bin" | tr -d ' \n')
		echo "EMT-TRUTH pid=$pid tid=$pid addr=$sub size=$half sha256=$hsha kind=part version=1" >"$T/sub.truth"
		echo "EMT-TRUTH pid=$pid tid=$pid addr=$sub size=$half hex=$hhex kind=part version=1" >>"$T/sub.truth"
		cr_expect "sub-range of a capture found (sha256= and hex=)" 0 "$A" "$T/sub.truth"
		# Fabricated images: wrong content, wrong pid, shifted, too long.
		case $sha in 0*) bad=1 ;; *) bad=0 ;; esac
		bad="$bad$(echo "$sha" | cut -c2-)"
		for c in sha pid addr size hex; do
			cp "$T/ok.truth" "$T/bad.truth"
			case $c in
			sha)  echo "$line" | sed "s/sha256=$sha/sha256=$bad/" ;;
			pid)  echo "$line" | sed 's/ pid=[0-9]*/ pid=1/' ;;
			addr) echo "$line" | sed "s/ addr=$addr/ addr=$sub/" ;;
			size) echo "$line" | sed "s/ size=$size/ size=$((size + 4096))/" ;;
			hex)  case $hhex in 00*) pre=ff ;; *) pre=00 ;; esac
			      echo "EMT-TRUTH pid=$pid tid=$pid addr=$sub size=$half hex=$pre$(echo "$hhex" | cut -c3-) kind=part version=1" ;;
			esac >>"$T/bad.truth"
			cr_expect "fails on a fabricated image ($c)" 1 "$A" "$T/bad.truth"
		done
		# --final-only-kind: a missing version 1 is excused by a found
		# version 2 of the same range, only when asked.
		{ echo "$line" | sed "s/sha256=$sha/sha256=$bad/; s/kind=sample/kind=rwx/"
		  echo "$line" | sed 's/kind=sample version=1/kind=rwx version=2/'; } >"$T/final.truth"
		cr_expect "a missing earlier version counts without --final-only-kind" 1 "$A" "$T/final.truth"
		cr_expect "--final-only-kind=rwx requires only the last version" 0 --final-only-kind=rwx "$A" "$T/final.truth"
	else
		fail "check-recall sample truth" "cannot derive truth from $A with emt-ls"
	fi
else
	fail "check-recall on the sample archive" "gen-fixture-archives, emt-ls or emt-extract not built or failing"
fi
