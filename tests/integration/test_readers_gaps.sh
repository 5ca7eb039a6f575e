#!/bin/sh
# emt-diff and gaps: pages a capture could not read hold zeros in the
# archive that are not code.  They must be listed as "not captured",
# never compared, never counted as changes, and a range only one side
# captured must keep the pair from passing as identical.  Ground truth:
# fixtures/archives/sample.emt (capture 4 has a gap at +0x1000) and the
# archive tests/tools/mkreaders writes (its header comment gives every
# byte and gap).
. "$(dirname "$0")/lib.sh"

A="$TOP/fixtures/archives/sample.emt"
DF="$BIN/emt-diff" EX="$BIN/emt-extract" LS="$BIN/emt-ls"
MK="$BUILD/tests/tools/mkreaders"
for t in "$DF" "$EX" "$LS" "$MK"; do
	if [ ! -x "$t" ]; then fail readers-gaps "$t not built"; exit 0; fi
done
if ! command -v jq >/dev/null 2>&1; then skip readers-gaps "jq not installed"; exit 0; fi
"$MK" gaps "$T/g.emt" || { fail "mkreaders gaps" "cannot write the archive"; exit 0; }
G="$T/g.emt"

# run NAME WANT CMD...: exit status of CMD must be WANT (stdout in $T/o).
run() {
	name=$1 want=$2; shift 2
	"$@" >"$T/o" 2>"$T/e"
	rc=$?
	if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name" "exit $rc, want $want: $(head -c 300 "$T/e")"; fi
}
# jqt NAME FILTER FILE: jq -e FILTER must hold (prints the value on failure).
jqt() {
	if jq -e "$2" "$3" >/dev/null 2>&1; then pass "$1"; else fail "$1" "$(jq -c . "$3" 2>&1 | head -c 400)"; fi
}

# ------------------------------------------- sample.emt 1 vs 4 (by offset)
run "sample 1 4: different" 1 "$DF" --json "$A" 1 4
cp "$T/o" "$T/j14"
jqt "sample 1 4: B's gap listed as not captured in B" \
	'.bytes_not_captured == 4096 and .not_captured == [{"start":"0x7f00dead1000","end":"0x7f00dead2000","length":4096,"b_start":"0x7f00cafe1000","a_reason":null,"b_reason":"unreadable"}]' "$T/j14"
# (same-length lowercase hex strings compare like the numbers)
jqt "sample 1 4: no changed range inside the gap" \
	'.ranges_count > 0 and all(.ranges[]; .end <= "0x7f00dead1000")' "$T/j14"
# independent count: differing bytes of the first page (the second is the gap)
"$EX" "$A" --seq 1 -o - 2>/dev/null | head -c 4096 >"$T/p1"
"$EX" "$A" --seq 4 -o - 2>/dev/null | head -c 4096 >"$T/p4"
want=$(cmp -l "$T/p1" "$T/p4" | wc -l)
check "sample 1 4: bytes_changed counts captured bytes only ($want)" test "$(jq .bytes_changed "$T/j14")" -eq "$want"
"$DF" "$A" 1 4 >"$T/t14" 2>&1
check "sample 1 4: text lists the range not captured in B" grep -q \
	'^  0x7f00dead1000-0x7f00dead2000 4096 bytes (B 0x7f00cafe1000-0x7f00cafe2000): not captured in B (unreadable)$' "$T/t14"
check "sample 1 4: summary says how much was not compared" grep -q \
	"^bytes changed: $want in [0-9]* ranges*, .*; 4096 bytes not captured (not compared)\$" "$T/t14"
check "sample 1 4: no changed range reaches into the gap" sh -c \
	"! sed -n '/^changed ranges:/,/^@@/p' '$T/t14' | grep -q '0x7f00dead1[0-9a-f]\{3\}-0x7f00dead2000'"
run "sample 4 4: a capture equals itself (gap on both sides)" 0 "$DF" "$A" 4 4
check "sample 4 4: identical where captured, gap named" sh -c \
	"grep -q '^identical where captured; 4096 bytes captured by neither (not compared)\$' '$T/o' && grep -q 'not captured in A and B (unreadable)' '$T/o'"

# ------------------------------------------------ mkreaders gaps archive
run "v1 -> v2: different" 1 "$DF" --json "$G" 1 2
cp "$T/o" "$T/j12"
jqt "v1 -> v2: exactly the two real changes (not the 4096 zeros of the gap)" \
	'.bytes_changed == 5 and ([.ranges[] | [.start, .end]] == [["0x10000010","0x10000011"],["0x10003000","0x10003004"]])' "$T/j12"
jqt "v1 -> v2: the gap is not captured in B only" \
	'[.not_captured[] | [.start, .end, .a_reason, .b_reason]] == [["0x10001000","0x10002000",null,"unreadable"]] and .identical == false' "$T/j12"
run "v2 -> v3: different" 1 "$DF" --json "$G" 2 3
cp "$T/o" "$T/j23"
jqt "v2 -> v3: one changed byte; the page v3 lost hides v2's c3 bytes" \
	'.bytes_changed == 1 and .ranges[0].start == "0x10002000" and .ranges_count == 1' "$T/j23"
jqt "v2 -> v3: shared gap and one-sided gap with their reasons" \
	'.bytes_not_captured == 8192 and ([.not_captured[] | [.start, .a_reason, .b_reason]] == [["0x10001000","unreadable","unreadable"],["0x10003000",null,"unmapped"]])' "$T/j23"
run "v3 -> v2: sides swap" 1 "$DF" --json "$G" 3 2
jqt "v3 -> v2: the unmapped page is now A's" \
	'[.not_captured[] | [.a_reason, .b_reason]] == [["unreadable","unreadable"],["unmapped",null]]' "$T/o"
run "region 3: no captured byte changed, one side lacks a page" 1 "$DF" "$G" 5 6
check "region 3: says no captured byte changed" grep -q '^no captured byte changed; 4096 bytes not captured (not compared)$' "$T/o"
check "region 3: no changed ranges listed" sh -c "! grep -q '^changed ranges:' '$T/o'"
run "region 3 --quiet: not identical (exit 1)" 1 "$DF" -q "$G" 5 6
check "--quiet prints nothing" test ! -s "$T/o"
run "identical pair with a shared gap: exit 0" 0 "$DF" "$G" 2 2
check "--region --json: changes and not-captured bytes per pair" test \
	"$("$DF" --region 1 --json "$G" | jq -c '[.a.seq, .b.seq, .bytes_changed, .bytes_not_captured]' | tr '\n' ' ')" = \
	"[1,2,5,4096] [2,3,1,8192] "

# Hex rows: bytes a side did not capture are "--", never "00".
run "context rows over a gap" 1 "$DF" -C 16 "$G" 2 3
check "hex rows: the shared gap shows as -- on both sides, marked ?" grep -q \
	'^? 000010001ff0  -- -- -- -- -- -- -- --  | -- -- -- -- -- -- -- --$' "$T/o"
check "hex rows: the changed byte is marked !" grep -q \
	'^! 000010002000  90 90 90 90 90 90 90 90  | 01 90 90 90 90 90 90 90$' "$T/o"
check "hex rows: no gap byte printed as 00" sh -c \
	"grep '^. 000010001' '$T/o' | cut -c16- >'$T/gaprows'; test -s '$T/gaprows' && ! grep -q '00' '$T/gaprows'"
run "context rows over a one-sided gap" 1 "$DF" -C 4096 "$G" 1 2
check "hex rows: B's missing page is --, A's bytes are shown" grep -q \
	'^? 000010001000  90 90 90 90 90 90 90 90  | -- -- -- -- -- -- -- --$' "$T/o"
check "emt-ls: gap archive lists the RIP of the first-exec-fault capture" test \
	"$("$LS" --json "$G" | jq -r 'select(.seq == 4) | .rip + " " + .trigger + " " + (.gaps[0].reason)')" = "0x20000123 first-exec-fault truncated"
