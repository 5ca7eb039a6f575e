#!/bin/sh
# emt-ls fits the terminal: every listing (captures, --regions, --events,
# --processes) and the header, at any width given by -W or by a terminal
# (script(1) gives a pty), measured in the columns a UTF-8 terminal shows
# (wide characters count two).  Also the RIP of first-exec-fault captures
# in each capture layout (full column, mid column, narrow second line).
. "$(dirname "$0")/lib.sh"

S="$TOP/fixtures/archives/sample.emt" H="$TOP/fixtures/archives/hostile-strings.emt"
LS="$BIN/emt-ls" MK="$BUILD/tests/tools/mkreaders"
for t in "$LS" "$MK"; do
	if [ ! -x "$t" ]; then fail readers-width "$t not built"; exit 0; fi
done
if ! command -v python3 >/dev/null 2>&1; then skip readers-width "python3 not installed"; exit 0; fi
"$MK" strings "$T/s.emt" && "$MK" gaps "$T/g.emt" || { fail "mkreaders" "cannot write the archives"; exit 0; }

# maxw FILE: widest line of FILE in terminal columns.
maxw() {
	python3 -c '
import sys, unicodedata as u
m = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    w = sum(2 if u.east_asian_width(c) in "WF" else 0 if u.combining(c) else 1
            for c in line.rstrip("\n"))
    m = max(m, w)
print(m)' "$1"
}

# too_wide FILE...: " W(GOT)" for each FILE named o.W whose widest line
# is over W columns (one python3 for all files: starting it once per
# file was most of this test's time).
too_wide() {
	python3 -c '
import os, sys, unicodedata as u
for f in sys.argv[1:]:
    w = int(os.path.basename(f)[2:])
    m = 0
    for line in open(f, encoding="utf-8", errors="replace"):
        m = max(m, sum(2 if u.east_asian_width(c) in "WF" else 0 if u.combining(c) else 1
                       for c in line.rstrip("\n")))
    if m > w:
        print(" %d(%d)" % (w, m), end="")' "$@"
}

for a in "$S" "$H" "$T/s.emt" "$T/g.emt"; do
	for mode in "" --regions --events --processes; do
		bad="" outs=""
		for w in 30 40 60 79 80 91 92 100 108 109 120 140 146 149 150 153 154 155 200; do
			# shellcheck disable=SC2086
			"$LS" $mode -W "$w" "$a" >"$T/o.$w" 2>"$T/e" || bad="$bad $w(exit)"
			outs="$outs $T/o.$w"
		done
		# shellcheck disable=SC2086
		bad="$bad$(too_wide $outs)"
		check "-W fits: $(basename "$a") ${mode:-captures}${bad:+ (too wide at:$bad)}" test -z "$bad"
	done
done

# Not a terminal, no -W: full rows, never cut.
"$LS" -n "$S" >"$T/full"
check "no terminal: capture rows are full (146 columns)" test "$(maxw "$T/full")" -eq 146
"$LS" -n --regions "$S" >"$T/fullr"
check "no terminal: region rows keep the whole path" grep -q ' memfd:jit-code (deleted)$' "$T/fullr"
"$LS" "$H" >"$T/fullh"
check "no terminal: header values are not cut" sh -c "grep '^target ' '$T/fullh' | grep -q 'quoted\"\\\\\\\\\$'"
"$LS" -W 0 "$H" >"$T/w0"
check "-W 0: same as no terminal" cmp -s "$T/fullh" "$T/w0"

# Header lines are cut like rows, and say so.
"$LS" -W 80 "$H" >"$T/h80"
check "-W 80: the hostile target line is cut to 80 columns with ..." sh -c \
	"grep '^target ' '$T/h80' | grep -q '^target     evil .*\\.\\.\\.\$' && test \$(grep '^target ' '$T/h80' | wc -c) -eq 81"
check "-W 80: short header lines are untouched" grep -q '^counts     1 process, 1 region, 1 capture, 1 event$' "$T/h80"
# The path starts at column 123 and its escaped look-alike characters
# take 50 columns: at 180 columns, 176 hold two CJK characters (two
# columns each) before "..."; counted as one column each, five would be
# kept and the line would be wider than it looks.
"$LS" -n -r -W 180 "$T/s.emt" | tail -n 1 >"$T/cjk"
cjk2=$(printf 'u{180e}\344\270\255\346\226\207[.][.][.]$')
check "-W 180: wide characters count two columns when cutting" grep -q "$cjk2" "$T/cjk"
check "-W 180: the cut line is 179 columns wide (a wide character does not fit in 1)" \
	test "$(maxw "$T/cjk")" -eq 179

# Narrow layouts keep the key columns.
"$LS" -n -r -W 80 "$S" >"$T/r80"
check "regions at 80: narrow header" grep -q '^REGION     PID ADDRESS       SIZE PROT BACKING VER CREATED      PATH$' "$T/r80"
check "regions at 80: memfd row with its version count and path start" grep -Eq \
	'^     2    4242 7f00beef0000  4096 r-x  memfd     1 [0-9:.]{12} memfd:jit-co' "$T/r80"
"$LS" -n -e -W 80 "$S" >"$T/e80"
check "events at 80: narrow header" grep -q '^TIME             PID SYSCALL    ADDRESS        LEN PROT   SEQ DETAIL$' "$T/e80"
check "events at 80: the mmap of the memfd with its detail" grep -Eq \
	'^[0-9:.]{12}    4242 mmap       7f00beef0000  4096 r-x      - memfd:jit-code$' "$T/e80"
"$LS" -n -P -W 80 "$S" >"$T/p80"
check "processes at 80: times of day, exit status, executable, cut command line" grep -Eq \
	'^   4243    4242 [0-9:.]{12} [0-9:.]{12} exit 0    /usr/lib/emt/fx_poly  fx_[.]{3}$' "$T/p80"
"$LS" -n -P -W 108 "$S" >"$T/p108"
check "processes at 108: narrow, the whole command line fits" grep -Eq \
	'^   4243    4242 [0-9:.]{12} [0-9:.]{12} exit 0    /usr/lib/emt/fx_poly  fx_poly --child$' "$T/p108"

# RIP, full layout: a column between TRIGGER and SHA256, "-" without
# registers, aligned with its header.
check "full: RIP of the first-exec-fault capture (seq 2)" test \
	"$(awk '$1 == 2 { print $11, $12 }' "$T/full")" = "first-exec-fault 7f00beef0020"
check "full: RIP is - for captures without registers" test \
	"$(awk '$1 ~ /^[0-9]+$/ && $1 != 2 { print $12 }' "$T/full" | sort -u)" = "-"
check "full: RIP column under its header" test \
	"$(awk 'NR == 1 { print index($0, "RIP") } $1 == 2 { print index($0, "7f00beef0020") }' "$T/full" | sort -u | wc -l)" -eq 1
# mid layout (92..145 columns): narrow row with a RIP column.
"$LS" -n -W 100 "$S" >"$T/mid"
check "mid: RIP column" test "$(awk '$1 == 2 { print $9, $10 }' "$T/mid")" = "exec-fault 7f00beef0020"
check "mid: 92 columns" test "$(maxw "$T/mid")" -eq 92
# narrow layout: the RIP on a line of its own, under ADDRESS.
"$LS" -n -W 80 "$S" >"$T/nar"
check "narrow: a rip line follows seq 2 only" test \
	"$(grep -B1 '^ *rip ' "$T/nar" | awk 'NR == 1 { print $1 } NR == 2 { print $1, $2 }' | tr '\n' ' ')" = "2 rip 7f00beef0020 "
check "narrow: one rip line (one capture has registers)" test "$(grep -c '^ *rip ' "$T/nar")" -eq 1
check "narrow: rip address aligned under ADDRESS" test \
	"$(awk 'NR == 1 { print index($0, "ADDRESS") } /^ *rip / { print index($0, "7f00beef0020") }' "$T/nar" | sort -u | wc -l)" -eq 1
"$LS" -n -W 80 "$T/g.emt" >"$T/gnar"
check "narrow: rip of a synthetic first-exec-fault capture" grep -q '^ \{32\}rip 000020000123$' "$T/gnar"
check "json: rip of the same capture" test "$("$LS" --json --pid 7000 "$T/g.emt" | jq -r 'select(.rip) | "\(.seq) \(.rip)"')" = "4 0x20000123"

# A real terminal: script(1) gives a pty whose width emt-ls must honour.
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
	for mode in "" --regions --events --processes; do
		for cols in 60 100; do
			script -qec "stty cols $cols; '$LS' $mode '$H'; '$LS' $mode '$S'" /dev/null | tr -d '\r' >"$T/tty"
			check "tty $cols columns: ${mode:-captures} fits" test "$(maxw "$T/tty")" -le "$cols"
		done
	done
	script -qec "stty cols 100; '$LS' -n -r '$S'" /dev/null | tr -d '\r' >"$T/tty"
	check "tty 100 columns: regions use the narrow layout" grep -q '^REGION     PID ADDRESS       SIZE ' "$T/tty"
	script -qec "stty cols 200; '$LS' -n -r '$S'" /dev/null | tr -d '\r' >"$T/tty"
	check "tty 200 columns: regions use the full layout" grep -q '^REGION     PID ADDRESS-RANGE ' "$T/tty"
else
	skip "terminal width checks" "script(1) not available"
fi
