#!/bin/sh
# Reader tools (emt-ls, emt-extract, emt-diff, emt-verify) against the
# sample and hostile archives of fixtures/archives (written by
# tools/dev/gen-fixture-archives.c, whose byte patterns are the ground
# truth used below).  Golden outputs live in tests/golden/readers; run with
# EMT_UPDATE_GOLDEN=1 to rewrite them after an intended change, then review
# the diff.
. "$(dirname "$0")/lib.sh"

A="$TOP/fixtures/archives"
G="$TOP/tests/golden/readers"
LS="$BIN/emt-ls" EX="$BIN/emt-extract" DF="$BIN/emt-diff" VF="$BIN/emt-verify"
for t in "$LS" "$EX" "$DF" "$VF"; do
	if [ ! -x "$t" ]; then fail readers "$t not built"; exit 0; fi
done
ESC=$(printf '\033') CR=$(printf '\r')

# Wall-clock times depend on when the archive was generated: the golden
# files hold placeholders for them (and for raw boot-time stamps).
norm() {
	sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+Z?/<TIME>/g' \
		-e 's/[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}/<TOD>/g' \
		-e 's/"boottime_ns":[0-9]+/"boottime_ns":<NS>/g' \
		-e 's/^duration .*/duration <D>/'
}

# golden NAME CMD...: run CMD in the archive directory, compare stdout and
# the exit status (normalised) with $G/NAME.out.
golden() {
	name=$1; shift
	( cd "$A" && "$@" >"$T/out" 2>"$T/err"; echo "exit=$?" >>"$T/out" )
	if [ -s "$T/err" ]; then echo "--- stderr" >>"$T/out"; cat "$T/err" >>"$T/out"; fi
	norm <"$T/out" >"$T/$name.out"
	if [ "${EMT_UPDATE_GOLDEN:-}" = 1 ]; then
		mkdir -p "$G" && cp "$T/$name.out" "$G/$name.out"
	fi
	if [ ! -f "$G/$name.out" ]; then
		fail "golden $name" "missing $G/$name.out"
	elif cmp -s "$G/$name.out" "$T/$name.out"; then
		pass "golden $name"
	else
		fail "golden $name" "output differs: $(diff "$G/$name.out" "$T/$name.out" | head -n 8 | tr '\n' '|')"
	fi
}

# status NAME WANT CMD...: exit status of CMD must be WANT.
status() {
	name=$1 want=$2; shift 2
	"$@" >"$T/sout" 2>"$T/serr"
	rc=$?
	if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name" "exit $rc, want $want: $(head -c 300 "$T/serr")"; fi
}

# ---------------------------------------------------------------- emt-ls
golden ls-sample "$LS" sample.emt
golden ls-narrow "$LS" --width 80 sample.emt
golden ls-regions "$LS" --regions sample.emt
golden ls-events "$LS" --events sample.emt
golden ls-json "$LS" --json sample.emt
golden ls-regions-json "$LS" --regions --json sample.emt
golden ls-events-json "$LS" --events --json sample.emt
golden ls-hostile "$LS" hostile-strings.emt
golden ls-hostile-regions "$LS" -r -n hostile-strings.emt
golden ls-hostile-events "$LS" -e -n hostile-strings.emt
golden ls-unsealed "$LS" unsealed.emt
golden ls-processes "$LS" --processes sample.emt
golden ls-processes-json "$LS" -P --json sample.emt
golden ls-hostile-processes "$LS" -P -n hostile-strings.emt
check "ls --processes --pid 4243: exit status and parent" test \
	"$("$LS" -P -j --pid 4243 "$A/sample.emt" | jq -c '[.pid, .ppid, .status, .cmdline]')" = '[4243,4242,"exit 0","fx_poly --child"]'

"$LS" --width 80 "$A/sample.emt" >"$T/narrow"
check "ls --width 80 fits 80 columns" test "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$T/narrow")" -le 80
"$LS" "$A/sample.emt" >"$T/wide"
check "ls full rows are wider than 80 (TID and range shown)" grep -q '7f00dead0000-7f00dead2000' "$T/wide"
check "ls header says sealed" grep -q '^format *1\.0, sealed' "$T/wide"
check "ls header counts" grep -q '^counts *2 processes, 5 regions, 8 captures, 7 events' "$T/wide"
check "ls header losses and gaps" sh -c "grep -q '^lost *3 events' '$T/wide' && grep -q '^gaps *1\$' '$T/wide'"
check "ls unsealed archive shown as unsealed" sh -c "'$LS' '$A/unsealed.emt' | grep -q 'unsealed (not closed cleanly)'"

# Hostile strings: no raw escape byte reaches the terminal, JSON stays valid
# and carries the bytes faithfully (invalid UTF-8 as U+FFFD).
for mode in "" "--regions" "--events" "--processes"; do
	# shellcheck disable=SC2086
	"$LS" $mode "$A/hostile-strings.emt" >"$T/h" 2>&1
	check "ls $mode hostile strings escaped (no ESC, no CR)" sh -c "! grep -q '[$ESC$CR]' '$T/h'"
	# shellcheck disable=SC2086
	"$LS" $mode --json "$A/hostile-strings.emt" >"$T/hj"
	check "ls $mode --json hostile strings is valid JSON" sh -c "jq -e . '$T/hj' >/dev/null"
done
check "ls --regions --json keeps the ESC of a hostile path" sh -c \
	"'$LS' --regions --json '$A/hostile-strings.emt' | jq -r .path | grep -q '$ESC\\[1m'"
check "ls table shows a newline in a path as backslash-n" sh -c \
	"'$LS' --regions '$A/hostile-strings.emt' | grep -q '/tmp/a\\\\nb\\\\x1b\\[1m'"

# JSON keys the issue requires, with the fixture's ground truth.
"$LS" --json "$A/sample.emt" >"$T/j"
check "ls --json: one object per line with required keys" sh -c \
	"jq -e 'has(\"seq\") and has(\"region\") and has(\"version\") and has(\"pid\") and has(\"tid\") and has(\"addr\") and has(\"size\") and has(\"time\") and has(\"trigger\") and has(\"prot\") and has(\"sha256\") and has(\"gaps\")' '$T/j' | grep -vq false && test \$(wc -l <'$T/j') -eq 8"
check "ls --json ground truth of seq 2 (rip, trigger, tid)" sh -c \
	"jq -s -e '.[] | select(.seq==2) | .rip==\"0x7f00beef0020\" and .trigger==\"first-exec-fault\" and .tid==4244 and .addr==\"0x7f00beef0000\"' '$T/j' >/dev/null"
check "ls --json gap of seq 4" sh -c \
	"jq -s -e '.[] | select(.seq==4) | .gaps==[{\"addr\":\"0x7f00cafe1000\",\"offset\":4096,\"length\":4096,\"reason\":\"unreadable\",\"errno\":14}]' '$T/j' >/dev/null"
check "ls --json time is ISO 8601 UTC with ns" sh -c \
	"jq -r .time '$T/j' | grep -Eqx '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z'"

# Filters (expected seqs from the generator).
seqs() { "$LS" --json "$@" "$A/sample.emt" | jq -r .seq | tr '\n' ' '; }
check "ls --pid 4243" test "$(seqs --pid 4243)" = "4 "
check "ls --region 1" test "$(seqs --region 1)" = "1 3 5 "
check "ls --trigger mprotect" test "$(seqs --trigger mprotect)" = "1 3 5 7 8 "
check "ls --trigger first-exec-fault" test "$(seqs --trigger first-exec-fault)" = "2 "
check "ls --min-size 9k" test "$(seqs --min-size 9k)" = "4 "
check "ls --min-size 8192" test "$(seqs --min-size 8192)" = "1 3 4 5 6 "
t3=$(jq -r 'select(.seq==3).time' "$T/j")
t5=$(jq -r 'select(.seq==5).time' "$T/j")
check "ls --since (seq 3's time)" test "$(seqs --since "$t3")" = "3 4 5 6 7 8 "
check "ls --until (seq 3's time)" test "$(seqs --until "$t3")" = "1 2 3 "
check "ls --since/--until window" test "$(seqs --since "$t3" --until "$t5")" = "3 4 5 "
check "ls --since @epoch in the future" test "$(seqs --since @4000000000)" = ""
check "ls combined filters" test "$(seqs --pid 4242 --trigger mprotect --min-size 8k)" = "1 3 5 "
check "ls combined filters (small ones)" test "$(seqs --pid 4242 --trigger mprotect --region 5)" = "7 8 "
check "ls --regions --pid 4243" test "$("$LS" --regions --json --pid 4243 "$A/sample.emt" | jq -r .region)" = "3"
check "ls --regions --region 2 versions" test "$("$LS" --regions --json --region 2 "$A/sample.emt" | jq -r .versions)" = "1"
check "ls --regions versions of region 1" test "$("$LS" --regions --json "$A/sample.emt" | jq -r 'select(.region==1).versions')" = "3"
check "ls --events --pid 4243" test "$("$LS" --events --json --pid 4243 "$A/sample.emt" | jq -r .syscall)" = "exit"
check "ls --events --since" test "$("$LS" --events --json --since "$t5" "$A/sample.emt" | jq -r .seq | tr '\n' ' ')" = "5 6 "
check "ls --no-header drops the header" sh -c "'$LS' -n '$A/sample.emt' | head -n 1 | grep -q '^ *SEQ'"

# ----------------------------------------------------------- emt-extract
for s in 1 2 3 4 5 6 7 8; do
	want=$(jq -r "select(.seq==$s).sha256" "$T/j")
	got=$("$EX" "$A/sample.emt" --seq "$s" 2>/dev/null | sha256sum | cut -d' ' -f1)
	check "extract --seq $s raw bytes match sha256" test "$want" = "$got"
done
# Bytes from the generator: fn_v1 at 0x10 of region 1 v1, imm 0x2a in v2.
check "extract raw ground truth (v1 function bytes)" test \
	"$("$EX" "$A/sample.emt" --seq 1 | od -An -tx1 -j16 -N11 | tr -s ' ' | sed 's/^ //')" = "55 48 89 e5 b8 01 00 00 00 5d c3"
check "extract raw ground truth (v2 immediate)" test \
	"$("$EX" "$A/sample.emt" --seq 3 -o - | od -An -tx1 -j21 -N1 | tr -d ' ')" = "2a"
"$EX" "$A/sample.emt" --seq 1 -o "$T/one.bin"
check "extract -o FILE" test "$(wc -c <"$T/one.bin")" -eq 8192
status "extract refuses to overwrite" 1 "$EX" "$A/sample.emt" --seq 2 -o "$T/one.bin"
check "extract refusal left the file alone" test "$(wc -c <"$T/one.bin")" -eq 8192
check "extract refusal names the file" grep -q "cannot create '.*one.bin': File exists (use --force" "$T/serr"
status "extract --force overwrites" 0 "$EX" "$A/sample.emt" --seq 2 -o "$T/one.bin" --force
check "extract --force wrote the new capture" test "$(wc -c <"$T/one.bin")" -eq 4096
ln -s "$T/target" "$T/link"
status "extract does not follow a symlink" 1 "$EX" "$A/sample.emt" --seq 2 -o "$T/link" --force
check "extract left the symlink target uncreated" test ! -e "$T/target"
status "extract missing seq" 1 "$EX" "$A/sample.emt" --seq 99
check "extract missing seq message" grep -q "no capture with seq 99" "$T/serr"

# ELF: objdump must disassemble at the original addresses; entry = RIP.
"$EX" "$A/sample.emt" --seq 2 --format elf -o "$T/2.elf"
if command -v objdump >/dev/null 2>&1; then
	objdump -D "$T/2.elf" >"$T/2.dis"
	check "elf: objdump -D shows mov at 0x7f00beef0020" grep -Eq '^ *7f00beef0020:[[:space:]]+48 c7 c0 3c 00 00 00[[:space:]]+mov +\$0x3c,%rax' "$T/2.dis"
	check "elf: syscall at 0x7f00beef0029" grep -Eq '^ *7f00beef0029:[[:space:]]+0f 05[[:space:]]+syscall' "$T/2.dis"
	"$EX" "$A/sample.emt" --seq 3 --format elf -o "$T/3.elf"
	check "elf: v2 function at 0x7f00dead0014 (mov \$0x2a)" sh -c \
		"objdump -D '$T/3.elf' | grep -Eq '^ *7f00dead0014:[[:space:]]+b8 2a 00 00 00[[:space:]]+mov +\\\$0x2a,%eax'"
	check "elf: entry point is the first-exec RIP" sh -c \
		"readelf -h '$T/2.elf' | grep -q 'Entry point address: *0x7f00beef0020'"
	check "elf: entry point is the start without registers" sh -c \
		"readelf -h '$T/3.elf' | grep -q 'Entry point address: *0x7f00dead0000'"
	check "elf: one PT_LOAD at the capture address" sh -c \
		"readelf -lW '$T/3.elf' | grep -Eq 'LOAD +0x[0-9a-f]+ 0x00007f00dead0000 0x00007f00dead0000 0x002000 0x002000 R.E'"
else
	skip "elf objdump checks" "objdump not installed"
fi

golden extract-hex-4 "$EX" sample.emt --seq 4 --format hex
golden extract-hex-2 "$EX" sample.emt --seq 2 -f hex
if command -v hexdump >/dev/null 2>&1; then
	"$EX" "$A/sample.emt" --seq 1 -o - >"$T/1.bin"
	"$EX" "$A/sample.emt" --seq 1 -f hex >"$T/1.hex"
	# same listing as hexdump -C once the address column is set aside
	check "extract hex folds repeats like hexdump -C" sh -c \
		"test \"\$(hexdump -C '$T/1.bin' | cut -c11- )\" = \"\$(cut -c15- '$T/1.hex')\""
else
	skip "hexdump comparison" "hexdump not installed"
fi
status "extract gap warning" 0 "$EX" "$A/sample.emt" --seq 4 -o "$T/4.bin"
check "extract warns that a gap was written as zeros" grep -q "capture 4: 0x7f00cafe1000-0x7f00cafe2000 was not captured (unreadable), written as zeros" "$T/serr"

# --all: names sort by seq and tell seq, pid, address and version.
status "extract --all" 0 "$EX" "$A/sample.emt" --all -d "$T/all"
check "extract --all file names" test "$(ls "$T/all" | tr '\n' ' ')" = \
	"000001-pid4242-0x7f00dead0000-v1.bin 000002-pid4242-0x7f00beef0000-v1.bin 000003-pid4242-0x7f00dead0000-v2.bin 000004-pid4243-0x7f00cafe0000-v1.bin 000005-pid4242-0x7f00dead0000-v3.bin 000006-pid4242-0x7f00dead1000-v1.bin 000007-pid4242-0x7f00f00d0000-v1.bin 000008-pid4242-0x7f00f00d0000-v2.bin manifest.json "
check "extract --all manifest: sha256 of every file" sh -c \
	"cd '$T/all' && jq -r '.[] | .sha256 + \"  \" + .file' manifest.json | sha256sum -c --quiet"
check "extract --all manifest: all fields" sh -c \
	"jq -e 'length==8 and all(.[]; has(\"seq\") and has(\"pid\") and has(\"addr\") and has(\"version\") and has(\"trigger\") and has(\"time\") and .damaged==false)' '$T/all/manifest.json' >/dev/null"
status "extract --all refuses an existing manifest" 1 "$EX" "$A/sample.emt" --all -d "$T/all"
status "extract --all --force overwrites" 0 "$EX" "$A/sample.emt" --all -d "$T/all" --force
status "extract --all with filters" 0 "$EX" "$A/sample.emt" --all -d "$T/f" --pid 4242 --trigger mprotect --format elf
check "extract --all filters and elf names" test "$(ls "$T/f" | tr '\n' ' ')" = \
	"000001-pid4242-0x7f00dead0000-v1.elf 000003-pid4242-0x7f00dead0000-v2.elf 000005-pid4242-0x7f00dead0000-v3.elf 000007-pid4242-0x7f00f00d0000-v1.elf 000008-pid4242-0x7f00f00d0000-v2.elf manifest.json "
status "extract --all --region --min-size --since --until" 0 "$EX" "$A/sample.emt" --all -d "$T/g" \
	--region 1 --min-size 8k --since "$t3" --until "$t5" --format hex
check "extract --all second filter set" test "$(ls "$T/g" | tr '\n' ' ')" = \
	"000003-pid4242-0x7f00dead0000-v2.hex 000005-pid4242-0x7f00dead0000-v3.hex manifest.json "

# Damaged captures: exit 1 naming the capture; --force writes with a warning.
status "extract damaged capture fails" 1 "$EX" "$A/bad-hash.emt" --seq 2 -o "$T/bad.bin"
check "extract damaged: message names the archive and capture 2" grep -q "^emt-extract: '.*bad-hash.emt': capture 2: content hash mismatch" "$T/serr"
check "extract damaged: nothing written" test ! -e "$T/bad.bin"
status "extract --force writes a damaged capture" 0 "$EX" "$A/bad-hash.emt" --seq 2 -o "$T/bad.bin" --force
check "extract --force warns" grep -q "warning: '.*bad-hash.emt': capture 2: .*writing it anyway" "$T/serr"
status "extract --all on damage exits 1" 1 "$EX" "$A/missing-chunk.emt" --all -d "$T/dmg"
status "extract --all --force on damage exits 0" 0 "$EX" "$A/bad-hash.emt" --all -d "$T/dmgf" --force
check "extract --all --force: manifest marks the damaged capture" test \
	"$(jq -c '[.[] | select(.damaged) | .seq]' "$T/dmgf/manifest.json")" = "[2]"
check "extract --all --force: warning names the capture" grep -q "warning: '.*bad-hash.emt': capture 2: .*writing it anyway" "$T/serr"
check "extract --all on damage still writes intact captures" test "$(ls "$T/dmg" | wc -l)" -eq 8

# ------------------------------------------------------------- emt-diff
golden diff-1-3 "$DF" sample.emt 1 3
golden diff-3-5 "$DF" sample.emt 3 5
golden diff-5-6 "$DF" sample.emt 5 6
golden diff-1-2 "$DF" -C 0 sample.emt 1 2
status "diff --full lists every row" 1 "$DF" --full -C 0 "$A/sample.emt" 1 2
check "diff --full: 512 rows for 4096 bytes" test "$(grep -c '^! ' "$T/sout")" -eq 512
golden diff-region-1 "$DF" --region 1 sample.emt
golden diff-json-1-3 "$DF" --json sample.emt 1 3
golden diff-same "$DF" sample.emt 4 4
ranges() { "$DF" --json "$A/sample.emt" "$@" | jq -c '[.ranges[] | [.start, .end]]'; }
check "diff 1 3 reports exactly the known ranges" test "$(ranges 1 3)" = \
	'[["0x7f00dead0015","0x7f00dead0016"],["0x7f00dead1000","0x7f00dead1007"]]'
check "diff 3 5 reports exactly the known range" test "$(ranges 3 5)" = '[["0x7f00dead0020","0x7f00dead0025"]]'
check "diff 7 8 reports exactly the known ranges" test "$(ranges 7 8)" = \
	'[["0x7f00f00d0003","0x7f00f00d0004"],["0x7f00f00d0008","0x7f00f00d000c"]]'
golden diff-7-8 "$DF" sample.emt 7 8
check "diff 7 8: close ranges share one hunk, no row twice" sh -c \
	"'$DF' '$A/sample.emt' 7 8 >'$T/d78'; test \$(grep -c '^@@' '$T/d78') -eq 1 && test \$(grep -c '^. 7f00f00d0000 ' '$T/d78') -eq 1"
check "diff 1 3 summary" sh -c "'$DF' '$A/sample.emt' 1 3 | grep -q '^bytes changed: 8 in 2 ranges, first 0x7f00dead0015, last 0x7f00dead1006'"
check "diff 5 6 base difference and overlap" sh -c \
	"'$DF' '$A/sample.emt' 5 6 | grep -q '^base addresses differ by +0x1000 (B - A); compared by address over 0x7f00dead1000-0x7f00dead2000'"
status "diff identical exits 0" 0 "$DF" "$A/sample.emt" 2 2
status "diff different exits 1" 1 "$DF" "$A/sample.emt" 1 3
status "diff --quiet different exits 1" 1 "$DF" -q "$A/sample.emt" 1 3
check "diff --quiet prints nothing" test ! -s "$T/sout"
status "diff --region with changes exits 1" 1 "$DF" --region 1 "$A/sample.emt"
status "diff --region of one version exits 0" 0 "$DF" --region 2 "$A/sample.emt"
check "diff --region single version says so" grep -q "single version" "$T/sout"
check "diff --region --json: one object per pair" test "$("$DF" --region 1 --json "$A/sample.emt" | jq -c '[.a.seq, .b.seq, .bytes_changed]' | tr '\n' ' ')" = "[1,3,8] [3,5,5] "
status "diff missing seq is trouble" 2 "$DF" "$A/sample.emt" 1 99
status "diff damaged capture is trouble" 2 "$DF" "$A/bad-hash.emt" 2 3
status "diff of an archive that is not one" 2 "$DF" "$A/not-an-archive.emt" 1 2
status "diff --context 2" 1 "$DF" -C 2 "$A/sample.emt" 3 5
check "diff --context 2 rows (0x1e-0x27: two rows of 8)" test "$(grep -c '^[ !] 7f00dead00' "$T/sout")" -eq 2
if "$DF" --version | grep -q 'disassembler: capstone'; then
	golden diff-disasm-1-3 "$DF" --disasm sample.emt 1 3
	check "diff --disasm names the changed mov" sh -c \
		"'$DF' --disasm '$A/sample.emt' 1 3 | grep -A1 '~ 0x7f00dead0014: b8 01 00 00 00 *mov eax, 1' | grep -q 'mov eax, 0x2a'"
	check "diff --disasm names both changed instructions of one hunk" sh -c \
		"'$DF' -D '$A/sample.emt' 7 8 | grep -A1 '~ 0x7f00f00d0002: b9 29 00 00 00 *mov ecx, 0x29' | grep -q 'mov ecx, 0x39' && '$DF' -D '$A/sample.emt' 7 8 | grep -A1 '~ 0x7f00f00d0007: 05 3b cb a5 90 *add eax, 0x90a5cb3b' | grep -q 'add eax, 0x68d19f95'"
	check "diff --disasm names the added jmp" sh -c \
		"'$DF' --disasm '$A/sample.emt' 3 5 | grep -A1 '~ 0x7f00dead0020: 90 *nop' | grep -q 'e9 db 0f 00 00 *jmp 0x7f00dead1000'"
	check "diff --disasm --json instructions" test \
		"$("$DF" -D -j "$A/sample.emt" 1 3 | jq -c '.ranges[0].instructions')" = \
		'[{"op":"changed","a_addr":"0x7f00dead0014","a_bytes":"b8 01 00 00 00","a":"mov eax, 1","b_addr":"0x7f00dead0014","b_bytes":"b8 2a 00 00 00","b":"mov eax, 0x2a"}]'
else
	status "diff --disasm without capstone still works" 1 "$DF" --disasm "$A/sample.emt" 1 3
	check "diff --disasm without capstone says so" grep -q "built without capstone" "$T/serr"
fi

# ----------------------------------------------------------- emt-verify
golden verify-sample "$VF" sample.emt
golden verify-unsealed "$VF" unsealed.emt
golden verify-hostile-strings "$VF" hostile-strings.emt
status "verify --quiet intact" 0 "$VF" --quiet "$A/sample.emt"
check "verify --quiet prints nothing" test ! -s "$T/sout"
status "verify --quiet damaged" 1 "$VF" -q "$A/bad-chunk.emt"
check "verify --quiet damaged prints nothing" test ! -s "$T/sout"
status "verify several archives: worst status wins" 1 "$VF" -q "$A/sample.emt" "$A/bad-hash.emt"

# ------------------------------------------------------ hostile archives
# Each must fail cleanly: a clear message, the documented status, no crash
# (a signal would give a status above 128), and the evidence unchanged.
# The wording of each problem is the format library's: check the items
# reported (which captures) and the status, not the exact text.
items() {
	"$VF" "$A/$1.emt" >"$T/v" 2>"$T/verr"
	echo "exit=$? $(grep -o '^capture [0-9]*' "$T/v" | sort -u | tr '\n' ',')"
}
check "verify bad-chunk: damaged, captures sharing the chunk" test "$(items bad-chunk)" = "exit=1 capture 1,capture 3,capture 5,"
check "verify bad-chunk: names the chunk" grep -q '^capture 1: .*chunk 1' "$T/v"
check "verify bad-hash: capture 2 damaged" test "$(items bad-hash)" = "exit=1 capture 2,"
check "verify bad-hash: content hash" grep -q '^capture 2: .*hash' "$T/v"
check "verify delta-loop: every delta capture (3, 5, 8)" test "$(items delta-loop)" = "exit=1 capture 3,capture 5,capture 8,"
check "verify missing-chunk: capture 2" test "$(items missing-chunk)" = "exit=1 capture 2,"
check "verify missing-chunk: says missing" grep -q '^capture 2: .*missing' "$T/v"
check "verify size-mismatch: capture 1" test "$(items size-mismatch)" = "exit=1 capture 1,"
check "verify zstd-bomb: capture 2, refused before decompression" test "$(items zstd-bomb)" = "exit=1 capture 2,"
check "verify reordered: ledger breaks at capture 3" test "$(items reordered)" = "exit=1 capture 3,"
check "verify reordered: says ledger" grep -q '^capture 3: ledger' "$T/v"
check "verify damaged: closing line" grep -q '^reordered.emt: damaged\|reordered.emt: damaged' "$T/v"
check "verify planted-trigger: damaged, no capture blamed" test "$(items planted-trigger)" = "exit=1 "
check "verify planted-trigger: names the trigger and the view" sh -c \
	"grep -q \"^schema trigger 'evil': planted\" '$T/v' && grep -q \"^schema view 'evil_view': planted\" '$T/v'"
check "verify schema-altered: damaged, no capture blamed" test "$(items schema-altered)" = "exit=1 "
check "verify schema-altered: names the table" grep -q "^schema table 'captures': altered" "$T/v"
# ledger-v2 and the v2 seal cover what the capture rows do not (SPEC.md
# sections 9 and 10): the capture whose entry covers the edited row is
# named, and the seal names the edited table.
check "verify gap-deleted: capture 4 (its gap)" test "$(items gap-deleted)" = "exit=1 capture 4,"
check "verify gap-deleted: says ledger" grep -q '^capture 4: ledger entry does not chain' "$T/v"
check "verify region-path: capture 2 (its region)" test "$(items region-path)" = "exit=1 capture 2,"
check "verify region-path: seal names the regions table" grep -q '^seal: regions table differs' "$T/v"
check "verify regs-zeroed: capture 2 (its registers)" test "$(items regs-zeroed)" = "exit=1 capture 2,"
check "verify process-exe: capture 4 (the child's only capture)" test "$(items process-exe)" = "exit=1 capture 4,"
check "verify process-exe: seal names the processes table" grep -q '^seal: processes table differs' "$T/v"
check "verify meta-changed: damaged, no capture blamed" test "$(items meta-changed)" = "exit=1 "
check "verify meta-changed: seal names meta" grep -q '^seal: meta table differs from the seal' "$T/v"
check "verify orphan-chunk: damaged, no capture blamed" test "$(items orphan-chunk)" = "exit=1 "
check "verify orphan-chunk: the chunk, unreferenced and hash-checked" sh -c \
	"grep -q '^stored chunk 9: referenced by no capture' '$T/v' && grep -q '^stored chunk 9: hash mismatch' '$T/v'"
# An archive of a ledger-v1 writer (kept from before ledger-v2) still
# verifies by the v1 rules, and an edit of one of its captures is found.
golden verify-ledger-v1 "$VF" ledger-v1.emt
cp "$A/ledger-v1.emt" "$T/v1-edited.emt"
sqlite3 "$T/v1-edited.emt" "UPDATE captures SET tid = 1 WHERE seq = 5" 2>/dev/null
status "verify ledger-v1 archive with an edited capture" 1 "$VF" "$T/v1-edited.emt"
check "verify ledger-v1 edit: capture 5 named" grep -q '^capture 5: ledger' "$T/sout"
for h in foreign-app newer-major newer-feature not-an-archive truncated; do
	golden "verify-$h" "$VF" "$h.emt"
	status "ls $h exits 1" 1 "$LS" "$A/$h.emt"
	check "ls $h message names the file" grep -q "^emt-ls: cannot open '.*$h.emt': " "$T/serr"
	status "extract $h exits 1" 1 "$EX" "$A/$h.emt" --seq 1 -o "$T/x"
done
check "newer major: upgrade message" sh -c "'$LS' '$A/newer-major.emt' 2>&1 | grep -q 'written by a newer emt'"
for h in bad-chunk missing-chunk size-mismatch zstd-bomb delta-loop bad-hash; do
	status "extract --all on $h exits 1" 1 "$EX" "$A/$h.emt" --all -d "$T/h-$h"
	check "extract --all on $h names a capture" grep -q "^emt-extract: \('[^']*': \)\{0,1\}capture [0-9]*: " "$T/serr"
done
for h in "$A"/*.emt; do
	an=$(basename "$h")
	sum=$(sha256sum <"$h")
	for cmd in "$LS" "$LS --json" "$LS --regions --json" "$LS --events" "$VF" "$DF $h 1 3 --disasm" "$EX --all -d $T/any-$an --force"; do
		# shellcheck disable=SC2086
		set -- $cmd
		case "$1" in *emt-diff) "$@" >/dev/null 2>&1;; *) "$@" "$h" >/dev/null 2>&1;; esac
		rc=$?
		if [ "$rc" -gt 2 ]; then fail "$an: '$cmd' crashed (status $rc)"; fi
	done
	check "$an: readers never crash and leave it unchanged" test "$sum" = "$(sha256sum <"$h")"
	check "$an: no stray WAL or journal beside it" test ! -e "$h-wal" -a ! -e "$h-journal"
done
# Whether the library lists such an archive or refuses it is its call
# (issue 6); either way the tools must list all of it or fail cleanly.
"$LS" --json "$A/planted-trigger.emt" >"$T/pt" 2>"$T/pterr"
rc=$?
check "planted trigger archive: listed whole, or refused with exit 1 and a message" sh -c \
	"if [ $rc -eq 0 ]; then jq -s -e 'map(.seq) == [1,2,3,4,5,6,7,8]' '$T/pt' >/dev/null; else [ $rc -eq 1 ] && grep -q '^emt-ls: ' '$T/pterr'; fi"

# ------------------------------------------------ crashed writer (WAL)
if [ -x "$BUILD/dev/gen-fixture-archives" ]; then
	"$BUILD/dev/gen-fixture-archives" --crash "$T/crash.emt"
	if [ -s "$T/crash.emt-wal" ]; then
		before=$(cat "$T/crash.emt" "$T/crash.emt-wal" | sha256sum)
		check "crashed archive: emt-ls shows it unsealed with its 3 captures" sh -c \
			"'$LS' '$T/crash.emt' | grep -q 'unsealed (not closed cleanly)' && test \$('$LS' --json '$T/crash.emt' | wc -l) -eq 3"
		status "crashed archive: emt-verify intact (unsealed is not damage)" 0 "$VF" "$T/crash.emt"
		check "crashed archive: verify says unsealed" grep -q 'intact, unsealed; 3 captures' "$T/sout"
		status "crashed archive: extract --all" 0 "$EX" "$T/crash.emt" --all -d "$T/crash-out"
		check "crashed archive: bytes of capture 3" test \
			"$(od -An -tx1 -N4 "$T/crash-out/000003-pid6000-0x20000000-v3.bin" | tr -d ' ')" = "92929292"
		check "crashed archive: file and WAL left bit for bit unchanged" test \
			"$before" = "$(cat "$T/crash.emt" "$T/crash.emt-wal" | sha256sum)"
	else
		fail "crashed archive" "gen-fixture-archives --crash left no WAL to test with"
	fi
else
	fail "crashed archive" "gen-fixture-archives not built"
fi

# -------------------------------------------------- regeneration matches
GEN="$BUILD/dev/gen-fixture-archives"
if [ -x "$GEN" ]; then
	if "$GEN" "$T/regen" >"$T/gen.log" 2>&1; then
		for spec in "ls-sample:" "ls-json:--json" "diff-1-3:1 3"; do
			name=${spec%%:*} args=${spec#*:}
			case "$name" in
			diff*) # shellcheck disable=SC2086
				( cd "$T/regen" && "$DF" sample.emt $args; echo "exit=$?" ) | norm >"$T/r.out";;
			*) # The committed sample is a 1.0 archive; today's writer
			   # writes 1.1 (SPEC.md section 3), the rest is the same.
			   # shellcheck disable=SC2086
				( cd "$T/regen" && "$LS" $args sample.emt; echo "exit=$?" ) | norm |
					sed 's/^format     1\.[0-9]*, /format     1.0, /' >"$T/r.out";;
			esac
			check "regenerated sample matches golden $name" cmp -s "$G/$name.out" "$T/r.out"
		done
	else
		fail "gen-fixture-archives" "$(tail -n 3 "$T/gen.log")"
	fi
else
	fail "regenerated fixtures" "$GEN not built"
fi
