#!/bin/sh
# emt-scan: YARA rules over captured code.
#  - usage, exit codes (0 match, 1 no match, 2 trouble), compiler errors
#    with their line, empty, damaged and non-archives, gaps not scanned,
#    --store refused on an archive in WAL mode or with an altered table
#    (fixtures/archives, no root needed);
#  - fx_shellcode captured (root): the rule matching its execve("/bin//sh")
#    shellcode reports the capture of version 2 at the address the fixture
#    printed (EMT-PATTERN), --json parses, --store keeps emt-ls and
#    emt-verify passing and records the rows once however often it runs.
. "$(dirname "$0")/lib.sh"

SCAN="$BIN/emt-scan" LS="$BIN/emt-ls" VERIFY="$BIN/emt-verify"
need_built scan "$SCAN" "$LS" "$VERIFY" "$FIX/fx_shellcode" "$BUILD/tests/tools/mkarchive" || exit 0
for t in jq sqlite3; do
	if ! command -v $t >/dev/null 2>&1; then skip scan "$t not installed"; exit 0; fi
done
A="$TOP/fixtures/archives"

# run NAME ARGS...: runs emt-scan, leaving $T/NAME.out, $T/NAME.err, $rc.
run() { n=$1; shift; "$SCAN" "$@" >"$T/$n.out" 2>"$T/$n.err"; rc=$?; }
# expect NAME RC: the last run exited RC and did not crash.
expect() { check "$1: exit $2" test "$rc" -eq "$2"; }
# jqe ARGS...: jq -e holds, quietly.
jqe() { jq "$@" >/dev/null 2>&1; }

cat >"$T/c3.yar" <<'EOF'
rule ret_byte { strings: $r = { c3 } condition: $r }
EOF
cat >"$T/zeros.yar" <<'EOF'
rule zero_page { strings: $z = { 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 } condition: $z }
EOF
cat >"$T/none.yar" <<'EOF'
rule not_there { strings: $a = "emt-scan: no capture holds this" condition: $a }
EOF
printf 'rule ok { condition: true }\n\nrule broken { strings: $a = "x" condition: $a and }\n' >"$T/bad.yar"

# ---------------------------------------------------------------- usage
run help --help
expect "--help" 0
check "--help on stdout with an Examples block and the exit codes" \
	sh -c "grep -q '^Examples:' '$T/help.out' && grep -q '0 at least one match, 1 no match, 2 trouble' '$T/help.out' && test ! -s '$T/help.err'"
run noargs
expect "no operands" 2
check "no operands: usage error on stderr" grep -q "^emt-scan: missing rules and archive operands" "$T/noargs.err"
run badopt --bogus "$T/c3.yar" "$A/sample.emt"
expect "unknown option" 2
run badpid --pid 0 "$T/c3.yar" "$A/sample.emt"
expect "--pid 0" 2

# ---------------------------------------------------------------- rules
run badrules "$T/bad.yar" "$A/sample.emt"
expect "rules that do not compile" 2
check "compiler error names the file and line 3" \
	grep -q "^emt-scan: cannot compile '.*bad.yar': line 3: rule 'broken': syntax error" "$T/badrules.err"
check "rules that do not compile: nothing on stdout" test ! -s "$T/badrules.out"
run norules "$T/missing.yar" "$A/sample.emt"
expect "missing rules file" 2
check "missing rules file: says so" grep -q "^emt-scan: cannot open '.*missing.yar': No such file" "$T/norules.err"

# ---------------------------------------------------------------- archives
"$BUILD/tests/tools/mkarchive" -n 0 "$T/empty.emt" >/dev/null 2>&1
run empty "$T/c3.yar" "$T/empty.emt"
expect "empty archive" 1
check "empty archive: nothing on stdout, says there is nothing to scan" \
	sh -c "test ! -s '$T/empty.out' && grep -q 'no captures to scan' '$T/empty.err'"
for f in truncated not-an-archive newer-major; do
	run "$f" "$T/c3.yar" "$A/$f.emt"
	expect "$f.emt" 2
	check "$f.emt: one clear 'cannot open' error" grep -q "^emt-scan: cannot open '.*$f.emt': " "$T/$f.err"
done
run badchunk "$T/c3.yar" "$A/bad-chunk.emt"
expect "damaged capture (bad-chunk.emt)" 2
check "damaged capture: named and not scanned" grep -q "capture [0-9]*: .*not scanned" "$T/badchunk.err"

# sample.emt: c3 is in several captures; capture 4 has a gap
run sample "$T/c3.yar" "$A/sample.emt"
expect "sample.emt, matching rule" 0
check "sample.emt: a header then rows with rule default:ret_byte" sh -c \
	"head -n 1 '$T/sample.out' | grep -q '^ *SEQ *PID *REGION *VER *ADDRESS *OFFSET *RULE STRING' && sed 1d '$T/sample.out' | grep -v ' default:ret_byte \\\$r\$' | wc -l | grep -qx 0"
run none "$T/none.yar" "$A/sample.emt"
expect "sample.emt, no match" 1
check "no match: nothing on stdout" test ! -s "$T/none.out"
run zeros --json "$T/zeros.yar" "$A/sample.emt"
gap=$("$LS" --json "$A/sample.emt" | jq -r 'select(.gaps | length > 0) | "\(.seq) \(.gaps[0].offset) \(.gaps[0].length)"' | head -n 1)
set -- $gap
check "gaps are not scanned: no match of zeros inside capture $1's gap" \
	jqe -se --argjson s "$1" --argjson o "$2" --argjson l "$3" \
	'all(.[]; .seq != $s or .offset + .length <= $o or .offset >= $o + $l)' "$T/zeros.out"
check "gaps are not scanned: said on stderr" grep -q "capture $1: .* not scanned" "$T/zeros.err"

# --store refusals leave the evidence as it was
cp "$A/unsealed.emt" "$T/unsealed.emt"
before=$(sha256sum <"$T/unsealed.emt")
run walstore --store "$T/c3.yar" "$T/unsealed.emt"
expect "--store on an archive in WAL mode" 2
check "--store on an archive in WAL mode: refused, saying why" grep -q "cannot store into '.*unsealed.emt': in WAL mode" "$T/walstore.err"
check "--store refused: file unchanged, no -wal/-shm/-journal made" sh -c \
	"test '$(sha256sum <"$T/unsealed.emt")' = '$before' && ! ls '$T'/unsealed.emt-* >/dev/null 2>&1"
run unsealed -n "$T/c3.yar" "$T/unsealed.emt"
check "without --store an unsealed archive (WAL mode) is scanned (exit 0: it holds c3)" test "$rc" -eq 0
check "scanning it left it unchanged" test "$(sha256sum <"$T/unsealed.emt")" = "$before"
cp "$A/sample.emt" "$T/altered.emt"
sqlite3 "$T/altered.emt" "CREATE TABLE scans(id INTEGER PRIMARY KEY, note TEXT)"
run altered --store "$T/c3.yar" "$T/altered.emt"
expect "--store with an altered scans table" 2
check "--store with an altered scans table: refused" grep -q "table 'scans' is not the one of SPEC.md" "$T/altered.err"

cp "$A/bad-chunk.emt" "$T/badstore.emt"
run badstore --store "$T/c3.yar" "$T/badstore.emt"
expect "--store with a damaged capture" 2
check "--store with a damaged capture: nothing stored, saying so" sh -c \
	"grep -q 'matches not stored: not every capture could be scanned' '$T/badstore.err' && test -z \"\$(sqlite3 '$T/badstore.emt' \"SELECT name FROM sqlite_schema WHERE name = 'scans'\")\""

# ---------------------------------------------------------------- capture
if ! need_engine "scan of a captured fixture" bpf; then exit 0; fi
timeout 120 "$BIN/emt-capture" -q -o "$T/sc.emt" -- "$FIX/fx_shellcode" >"$T/fx.out" 2>"$T/fx.err"
if [ $? -ne 0 ] || ! grep -q '^EMT-PATTERN ' "$T/fx.out"; then
	fail "capture of fx_shellcode" "$(head -c 300 "$T/fx.err")"
	exit 0
fi
field() { sed -n "s/^$1 .*$2=\\([^ ]*\\).*/\\1/p" "$T/fx.out"; }
paddr=$(field EMT-PATTERN addr) poff=$(field EMT-PATTERN offset) phex=$(field EMT-PATTERN hex)
v2sha=$(grep '^EMT-TRUTH .*version=2' "$T/fx.out" | sed 's/.*sha256=\([0-9a-f]*\).*/\1/')
pid=$(field EMT-PATTERN pid)
seq=$("$LS" --json "$T/sc.emt" | jq -r --arg h "$v2sha" 'select(.sha256 == $h) | .seq')
check "fx_shellcode: version 2 captured (seq ${seq:-none})" test -n "$seq"
hexrule=$(echo "$phex" | sed 's/../& /g; s/ $//')
cat >"$T/sc.yar" <<EOF
rule execve_binsh : shellcode {
  strings:
    \$sc = { $hexrule }
    \$sh = "/bin//sh"
  condition: any of them
}
EOF
run scj --json "$T/sc.yar" "$T/sc.emt"
expect "shellcode rule" 0
check "--json parses (jq), two matches" test "$(jq -s length "$T/scj.out" 2>/dev/null)" = 2
check "\$sc at the fixture's address $paddr, offset $poff, seq $seq, pid $pid, version 2" \
	jqe -se --arg a "$(printf '0x%x' "$paddr")" --argjson o "$poff" --argjson s "${seq:-0}" --argjson p "$pid" \
	'map(select(.string == "$sc")) | length == 1 and (.[0] | .addr == $a and .offset == $o and .seq == $s and .pid == $p and .version == 2 and .rule == "default:execve_binsh" and .length == 23 and .tags == ["shellcode"])' "$T/scj.out"
check "\$sh 6 bytes further" jqe -se --arg a "$(printf '0x%x' $((paddr + 6)))" \
	'map(select(.string == "$sh")) | length == 1 and .[0].addr == $a' "$T/scj.out"
run sct "$T/sc.yar" "$T/sc.emt"
check "table row: SEQ PID REGION VER ADDRESS OFFSET RULE STRING" \
	grep -Eq "^ *$seq +$pid +[0-9]+ +2 0*$(printf '%x' "$paddr") +$(printf '%x' "$poff") default:execve_binsh \\\$sc\$" "$T/sct.out"
run v1 --seq $((seq - 1)) "$T/sc.yar" "$T/sc.emt"
expect "--seq of the clean version 1" 1
run otherpid --pid $((pid + 1)) "$T/sc.yar" "$T/sc.emt"
expect "--pid of another process" 1
run nomatch "$T/none.yar" "$T/sc.emt"
expect "non-matching rule on the capture" 1

cp "$T/sc.emt" "$T/st.emt"
run store1 --store "$T/sc.yar" "$T/st.emt"
expect "--store" 0
"$VERIFY" "$T/st.emt" >"$T/verify.out" 2>&1
check "emt-verify after --store: exit 0 (intact)" test $? -eq 0
"$LS" "$T/st.emt" >/dev/null 2>&1
check "emt-ls after --store: exit 0" test $? -eq 0
q() { sqlite3 "$T/st.emt" "$1"; }
check "scan_matches holds the two matches of seq $seq" test \
	"$(q "SELECT group_concat(string_id || '@' || printf('0x%x', address), ' ') FROM (SELECT * FROM scan_matches WHERE seq = $seq ORDER BY offset)")" = \
	"\$sc@$(printf '0x%x' "$paddr") \$sh@$(printf '0x%x' $((paddr + 6)))"
check "scans row: rules sha256, engine, counts" test \
	"$(q "SELECT lower(hex(rules_sha256)) || ' ' || engine || ' ' || captures || ' ' || matches FROM scans")" = \
	"$(sha256sum <"$T/sc.yar" | cut -d' ' -f1) yara $(pkg-config --modversion yara) 2 2"
"$SCAN" --store "$T/sc.yar" "$T/st.emt" >/dev/null 2>&1
check "--store again with the same rules: rows replaced, not repeated" test \
	"$(q "SELECT count(*) FROM scans") $(q "SELECT count(*) FROM scan_matches")" = "1 2"
"$SCAN" --store "$T/c3.yar" "$T/st.emt" >/dev/null 2>&1
check "--store with other rules: a second run beside the first" test \
	"$(q "SELECT count(*) FROM scans") $(q "SELECT count(*) FROM scan_matches WHERE scan_id = 1")" = "2 2"
"$VERIFY" "$T/st.emt" >/dev/null 2>&1
check "emt-verify after three --store runs: exit 0" test $? -eq 0
check "no journal left beside the archive" sh -c "! ls '$T'/st.emt-* >/dev/null 2>&1"
# SPEC.md section 14 gives the statements the library runs, exactly.
python3 - "$TOP/SPEC.md" >"$T/spec14.sql" <<'PY'
import sys
s = open(sys.argv[1]).read().split("## 14. Annotation tables", 1)[1]
print(s.split("```sql\n", 1)[1].split("```", 1)[0], end="")
PY
sqlite3 "$T/st.emt" "SELECT sql || ';' FROM sqlite_schema WHERE name IN ('scans', 'scan_matches', 'scan_matches_seq') ORDER BY rowid" >"$T/lib14.sql"
check "SPEC.md section 14 statements are the library's" cmp -s "$T/spec14.sql" "$T/lib14.sql"
