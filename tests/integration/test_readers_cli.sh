#!/bin/sh
# Command-line conventions of the reader tools: --help (stdout, exit 0,
# examples), --version, and exit status 2 with a message on stderr for
# every malformed option or value.
. "$(dirname "$0")/lib.sh"

A="$TOP/fixtures/archives/sample.emt"
for t in emt-ls emt-extract emt-diff emt-verify; do
	if [ ! -x "$BIN/$t" ]; then fail readers-cli "$BIN/$t not built"; exit 0; fi
done

for t in emt-ls emt-extract emt-diff emt-verify; do
	"$BIN/$t" --help >"$T/out" 2>"$T/err"
	rc=$?
	check "$t --help exits 0" test "$rc" -eq 0
	check "$t --help on stdout with usage and examples" sh -c \
		"grep -q '^Usage: $t' '$T/out' && grep -q '^Examples:' '$T/out' && test ! -s '$T/err'"
	"$BIN/$t" -h >"$T/out2" 2>&1
	check "$t -h same as --help" cmp -s "$T/out" "$T/out2"
	"$BIN/$t" --version >"$T/out" 2>&1
	check "$t --version" grep -q "^$t (emt) [0-9]" "$T/out"
done

# usage NAME CMD...: exit 2, something on stderr, nothing on stdout.
usage() {
	name=$1; shift
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -eq 2 ] && [ -s "$T/err" ] && [ ! -s "$T/out" ] && grep -q "^$(basename "$1"): " "$T/err"; then
		pass "usage: $name"
	else
		fail "usage: $name" "exit $rc, stderr: $(head -c 200 "$T/err")"
	fi
}

for t in emt-ls emt-extract emt-diff emt-verify; do
	usage "$t unknown option" "$BIN/$t" --bogus "$A"
	usage "$t no operand" "$BIN/$t"
done
LS="$BIN/emt-ls" EX="$BIN/emt-extract" DF="$BIN/emt-diff"
usage "ls two operands" "$LS" "$A" "$A"
usage "ls --pid abc" "$LS" --pid abc "$A"
usage "ls --pid 0" "$LS" --pid 0 "$A"
usage "ls --pid -1" "$LS" --pid -1 "$A"
usage "ls --pid overflow" "$LS" --pid 4294967296 "$A"
usage "ls --pid 12x" "$LS" --pid 12x "$A"
usage "ls --pid empty" "$LS" --pid= "$A"
usage "ls --pid ' 1'" "$LS" --pid ' 1' "$A"
usage "ls --region 0" "$LS" --region 0 "$A"
usage "ls --region 1.5" "$LS" --region 1.5 "$A"
usage "ls --trigger bogus" "$LS" --trigger bogus "$A"
usage "ls --trigger MPROTECT" "$LS" --trigger MPROTECT "$A"
usage "ls --since garbage" "$LS" --since yesterday "$A"
usage "ls --since 2026-02-31" "$LS" --since 2026-02-31 "$A"
usage "ls --since 2026-11-22T25:00" "$LS" --since 2026-11-22T25:00 "$A"
usage "ls --since too many fraction digits" "$LS" --since 2026-11-22T05:00:00.1234567890Z "$A"
usage "ls --until @" "$LS" --until @ "$A"
usage "ls --since after --until" "$LS" --since 2026-11-23 --until 2026-11-22 "$A"
usage "ls --min-size 12q" "$LS" --min-size 12q "$A"
usage "ls --min-size overflow" "$LS" --min-size 99999999999999999999 "$A"
usage "ls --min-size 16777216T" "$LS" --min-size 17179869184g "$A"
usage "ls --width x" "$LS" --width x "$A"
usage "ls --regions --events" "$LS" --regions --events "$A"
usage "ls --regions --trigger" "$LS" --regions --trigger mmap "$A"
usage "ls --events --min-size" "$LS" --events --min-size 1 "$A"
usage "ls --regions --since" "$LS" --regions --since 2026-11-22 "$A"
usage "ls --events --region" "$LS" --events --region 1 "$A"
usage "ls --processes --events" "$LS" --processes --events "$A"
usage "ls --processes --since" "$LS" -P --since 2026-11-22 "$A"
usage "ls --processes --trigger" "$LS" -P --trigger mmap "$A"
usage "extract no --seq or --all" "$EX" "$A"
usage "extract --seq and --all" "$EX" "$A" --seq 1 --all -d "$T/d"
usage "extract --seq 0" "$EX" "$A" --seq 0
usage "extract --seq x" "$EX" "$A" --seq x
usage "extract --seq overflow" "$EX" "$A" --seq 18446744073709551616
usage "extract --format pdf" "$EX" "$A" --seq 1 --format pdf
usage "extract --all without -d" "$EX" "$A" --all
usage "extract --all with -o" "$EX" "$A" --all -d "$T/d" -o "$T/x"
usage "extract -d without --all" "$EX" "$A" --seq 1 -d "$T/d"
usage "extract filters without --all" "$EX" "$A" --seq 1 --pid 4242
usage "extract --all --pid 0" "$EX" "$A" --all -d "$T/d" --pid 0
usage "extract empty -o" "$EX" "$A" --seq 1 -o ''
usage "diff one seq" "$DF" "$A" 1
usage "diff three seqs" "$DF" "$A" 1 2 3
usage "diff seq 0" "$DF" "$A" 0 1
usage "diff seq abc" "$DF" "$A" abc 1
usage "diff --region x" "$DF" --region x "$A"
usage "diff --region with seqs" "$DF" --region 1 "$A" 1 3
usage "diff --context x" "$DF" --context x "$A" 1 3
usage "diff --context too big" "$DF" --context 5000 "$A" 1 3
usage "diff --quiet --json" "$DF" -q -j "$A" 1 3
usage "verify unknown short option" "$BIN/emt-verify" -x "$A"
check "missing archive is a failure naming the file" sh -c \
	"'$LS' '$T/nope.emt' 2>&1 >/dev/null | grep -q \"^emt-ls: cannot open '$T/nope.emt': \""
"$LS" "$T/nope.emt" >/dev/null 2>&1
check "missing archive: ls exits 1" test $? -eq 1
for t in emt-ls emt-verify; do
	"$BIN/$t" "$T/nope.emt" 2>"$T/err" >/dev/null
	check "missing archive: $t names it once" test "$(grep -o "nope.emt" "$T/err" | wc -l)" -eq 1
done
"$BIN/emt-verify" "$T/nope.emt" >/dev/null 2>&1
check "missing archive: verify exits 2 (trouble)" test $? -eq 2
# Accepted forms of numbers, sizes and times.
for v in "--pid 0x1092" "--min-size 8KiB" "--min-size 0x2000" "--since 2026-01-01" \
	"--since 2026-01-01T00:00" "--since 2026-01-01T00:00:00Z" "--since @0.5" "--until 2099-12-31 23:59:59.999999999"; do
	# shellcheck disable=SC2086
	case "$v" in
	--until*) "$LS" --until "2099-12-31 23:59:59.999999999" "$A" >/dev/null 2>&1;;
	*) "$LS" $v "$A" >/dev/null 2>&1;;
	esac
	check "accepted: $v" test $? -eq 0
done

# Man pages: one per tool, rendering without warnings, documenting every
# long option the tool's --help lists.
for t in emt-ls emt-extract emt-diff emt-verify; do
	m="$TOP/man/$t.1"
	if [ ! -f "$m" ]; then fail "man page $t.1" "missing"; continue; fi
	if command -v man >/dev/null 2>&1; then
		LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$m" >"$T/man" 2>"$T/manerr"
		check "man $t.1 renders without warnings" sh -c "test ! -s '$T/manerr' && grep -q '^NAME' '$T/man'"
		missing=""
		for o in $("$BIN/$t" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
			grep -q -- "$o" "$T/man" || missing="$missing $o"
		done
		check "man $t.1 documents every option of --help${missing:+ (missing:$missing)}" test -z "$missing"
	else
		skip "man $t.1 rendering" "man not installed"
	fi
done

# On a real terminal (script(1) gives a pty): the table fits the terminal,
# binary output is refused unless asked for with -o -.
if command -v script >/dev/null 2>&1 && script -qec true /dev/null >/dev/null 2>&1; then
	script -qec "stty cols 80; '$LS' '$A'" /dev/null | tr -d '\r' >"$T/tty80"
	check "tty 80 columns: every line fits" test "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$T/tty80")" -le 80
	check "tty 80 columns: narrow table used" grep -q '^ *SEQ  REG VER TIME ' "$T/tty80"
	script -qec "stty cols 200; '$LS' '$A'" /dev/null | tr -d '\r' >"$T/tty200"
	check "tty 200 columns: full rows" grep -q 'ADDRESS-RANGE' "$T/tty200"
	script -qec "'$EX' '$A' --seq 1" /dev/null >"$T/ttyx" 2>&1
	rc=$?
	check "tty: extract refuses binary to a terminal (exit 2)" test "$rc" -eq 2
	check "tty: refusal explains -o" grep -q 'refusing to write binary data to a terminal; use -o FILE or -o -' "$T/ttyx"
	script -qec "'$EX' '$A' --seq 1 -f hex" /dev/null | tr -d '\r' >"$T/ttyh"
	check "tty: hex listing allowed on a terminal" grep -q '^7f00dead0010  55 48 89 e5 b8 01 00 00' "$T/ttyh"
	script -qec "'$EX' '$A' --seq 2 -o -" /dev/null >"$T/ttyo" 2>&1
	check "tty: -o - writes to the terminal anyway" test $? -eq 0 -a "$(wc -c <"$T/ttyo")" -ge 4096
else
	skip "terminal checks" "script(1) not available"
fi

# JSON keys, strictly: every line must have them (jq -s ... all), and
# the count of lines is the archive's.
jqs() { name=$1 filter=$2; shift 2; if "$@" | jq -s -e "$filter" >/dev/null 2>&1; then pass "$name"; else fail "$name"; fi; }
jqs "ls --json: all 8 captures have every key" \
	'length == 8 and all(.[]; has("seq") and has("region") and has("version") and has("pid") and has("tid") and has("addr") and has("end") and has("size") and has("time") and has("boottime_ns") and has("trigger") and has("prot") and has("prot_before") and has("sha256") and has("stored_bytes") and has("gaps"))' \
	"$LS" --json "$A"
jqs "ls --json: rip exactly where there are registers (seq 2)" \
	'[.[] | select(has("rip")) | .seq] == [2]' "$LS" --json "$A"
jqs "ls --regions --json: all 5 regions have every key" \
	'length == 5 and all(.[]; has("region") and has("process") and has("pid") and has("addr") and has("end") and has("length") and has("prot") and has("backing") and has("path") and has("inode") and has("dev") and has("offset") and has("versions") and has("created") and has("gone"))' \
	"$LS" --regions --json "$A"
jqs "ls --events --json: all 7 events have every key" \
	'length == 7 and all(.[]; has("id") and has("time") and has("boottime_ns") and has("pid") and has("tid") and has("syscall") and has("addr") and has("len") and has("prot") and has("flags") and has("fd") and has("ret") and has("seq") and has("detail"))' \
	"$LS" --events --json "$A"
jqs "ls --processes --json: both processes have every key" \
	'length == 2 and all(.[]; has("process") and has("pid") and has("ppid") and has("start") and has("exit") and has("status") and has("exe") and has("cmdline"))' \
	"$LS" --processes --json "$A"

# Messages about a capture name the archive, in every tool, errors and
# warnings alike: "PROG: 'ARCHIVE': capture N: ...".
D="$TOP/fixtures/archives"
"$EX" "$D/bad-hash.emt" --seq 2 -o "$T/bad.bin" 2>"$T/err"
check "extract damaged: error names archive and capture" grep -q \
	"^emt-extract: '.*bad-hash.emt': capture 2: content hash mismatch (use --force to write it anyway)\$" "$T/err"
"$EX" "$D/bad-hash.emt" --seq 2 -o "$T/bad.bin" --force 2>"$T/err"
check "extract --force damaged: warning names archive and capture" grep -q \
	"^emt-extract: warning: '.*bad-hash.emt': capture 2: content hash mismatch; writing it anyway (--force)\$" "$T/err"
"$EX" "$A" --seq 4 -o "$T/4.bin" 2>"$T/err"
check "extract gap warning names archive and capture" grep -q \
	"^emt-extract: warning: '.*sample.emt': capture 4: 0x7f00cafe1000-0x7f00cafe2000 was not captured (unreadable), written as zeros\$" "$T/err"
for h in bad-chunk missing-chunk size-mismatch zstd-bomb delta-loop bad-hash; do
	"$EX" "$D/$h.emt" --all -d "$T/h-$h" >/dev/null 2>"$T/err"
	check "extract --all on $h: every capture message names the archive" sh -c \
		"grep -q 'capture [0-9]*: ' '$T/err' && ! grep 'capture [0-9]*: ' '$T/err' | grep -vq \"^emt-extract: \\(warning: \\)\\{0,1\\}'.*$h.emt': capture [0-9]*: \""
	check "extract --all on $h: closing line names the archive" grep -q \
		"^emt-extract: '.*$h.emt': [0-9]* of [0-9]* captures* not extracted\$" "$T/err"
done
"$DF" "$D/bad-hash.emt" 2 3 >/dev/null 2>"$T/err"
check "diff damaged: error names archive and capture" grep -q "^emt-diff: '.*bad-hash.emt': capture 2: content hash mismatch\$" "$T/err"
"$DF" "$A" 1 99 >/dev/null 2>"$T/err"
check "diff missing seq names the archive" grep -q "^emt-diff: '.*sample.emt': no capture with seq 99\$" "$T/err"
"$DF" --region 99 "$A" >/dev/null 2>"$T/err"
check "diff --region of no region: says there is none" grep -q "^emt-diff: '.*sample.emt': no region with id 99\$" "$T/err"
"$LS" -W "$(printf 'x\033[2J')" "$A" >/dev/null 2>"$T/err"
check "ls bad --width value escaped in the message" grep -qF "invalid value 'x\\x1b[2J' for --width" "$T/err"
"$EX" "$A" --seq 99 -o "$T/x" 2>"$T/err"
check "extract missing seq names the archive" grep -q "^emt-extract: '.*sample.emt': no capture with seq 99\$" "$T/err"

# emt-verify: numbers agree with their nouns; several archives each get
# their closing line, in order, and the worst status wins.
"$BIN/emt-verify" "$D/hostile-strings.emt" >"$T/out"
check "verify pluralises (1 capture, 1 chunk, 1 ledger entry)" grep -q \
	'hostile-strings.emt: intact, sealed; 1 capture, 1 chunk, 1 ledger entry$' "$T/out"
"$BIN/emt-verify" "$A" >"$T/out"
check "verify pluralises (8 captures, 8 chunks, 8 ledger entries)" grep -q \
	'sample.emt: intact, sealed; 8 captures, 8 chunks, 8 ledger entries$' "$T/out"
"$BIN/emt-verify" "$A" "$D/bad-hash.emt" "$D/unsealed.emt" >"$T/out" 2>"$T/err"
rc=$?
check "verify intact + damaged + unsealed: exit 1 (damage wins)" test "$rc" -eq 1
check "verify several: one closing line each, in order" test \
	"$(grep -o '^[^ ]*\.emt: [a-z]*' "$T/out" | sed 's|.*/||' | tr '\n' ' ')" = \
	"sample.emt: intact bad-hash.emt: damaged unsealed.emt: intact "
check "verify several: the damage is reported before its archive's line" sh -c \
	"grep -n '' '$T/out' | grep -A1 '^[0-9]*:capture 2: ' | tail -n 1 | grep -q 'bad-hash.emt: damaged'"
"$BIN/emt-verify" "$A" "$T/nope.emt" "$D/bad-hash.emt" >"$T/out" 2>"$T/err"
rc=$?
check "verify with a missing archive: exit 2 (trouble wins)" test "$rc" -eq 2
check "verify with a missing archive: the others are still verified" test \
	"$(grep -c '^.*\.emt: \(intact\|damaged\)' "$T/out")" -eq 2
check "verify with a missing archive: it is named on stderr" grep -q "^emt-verify: cannot open '.*nope.emt': " "$T/err"
"$BIN/emt-verify" -q "$A" "$A" >"$T/out" 2>&1
check "verify -q two intact archives: exit 0, silent" sh -c "test $? -eq 0 && test ! -s '$T/out'"
