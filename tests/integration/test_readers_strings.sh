#!/bin/sh
# Hostile strings in every reader output.  Tables: no character that is
# invisible, reorders text or looks like a space may reach the terminal
# raw (two different strings must never look the same); JSON: always
# valid, exact for valid UTF-8, and for strings that are not UTF-8 a
# NAME_hex key with the exact bytes.  Archives: fixtures/archives/
# hostile-strings.emt (control bytes, bidi override, bytes that are not
# UTF-8; the strings below are its generator's) and the archive
# tests/tools/mkreaders writes with format characters and look-alikes.
. "$(dirname "$0")/lib.sh"

H="$TOP/fixtures/archives/hostile-strings.emt" S="$TOP/fixtures/archives/sample.emt"
LS="$BIN/emt-ls" MK="$BUILD/tests/tools/mkreaders"
for t in "$LS" "$MK"; do
	if [ ! -x "$t" ]; then fail readers-strings "$t not built"; exit 0; fi
done
if ! command -v jq >/dev/null 2>&1; then skip readers-strings "jq not installed"; exit 0; fi
"$MK" strings "$T/s.emt" || { fail "mkreaders strings" "cannot write the archive"; exit 0; }
I="$T/s.emt"

# hexof STRING-WITH-ESCAPES: lowercase hex of printf's bytes.
hexof() { printf "$1" | od -An -tx1 -v | tr -d ' \n'; }

# ------------------------------------------------------------- tables
for mode in "" --regions --events --processes; do
	# shellcheck disable=SC2086
	"$LS" $mode "$I" >"$T/t" 2>&1
	# UTF-8 of U+00A0 U+00AD U+034F U+061C U+180E U+200B..U+200F U+2060..U+2064
	# U+3000 U+FE0F U+FEFF and of the tags U+E0041, U+E007F
	raw=""
	for seq in '\302\240' '\302\255' '\315\217' '\330\234' '\341\240\216' '\342\200\213' '\342\200\214' \
		'\342\200\215' '\342\200\216' '\342\200\217' '\342\201\240' '\342\201\241' '\342\201\242' \
		'\342\201\243' '\342\201\244' '\343\200\200' '\357\270\217' '\357\273\277' '\363\240\201\201' \
		'\363\240\201\277'; do
		grep -q "$(printf "$seq")" "$T/t" && raw="$raw $seq"
	done
	check "table ${mode:-captures}: no invisible or look-alike character raw${raw:+ (raw:$raw)}" test -z "$raw"
done
"$LS" -P -n "$I" >"$T/p"
check "processes: exe escapes U+061C and U+200B" grep -qF '/usr/bin/py\u{061c}thon\u{200b}  ' "$T/p"
check "processes: cmdline escapes soft hyphen, word joiner, BOM, ZWNJ..RLM, invisible operators, tags" grep -qF \
	'rm\u{00ad} -rf\u{2060} /\u{feff} \u{200c}\u{200d}\u{200e}\u{200f}\u{2061}\u{2064} \u{e0041}\u{e007f} end' "$T/p"
"$LS" -r -n "$I" >"$T/r"
cjk=$(printf '\344\270\255\346\226\207\345\220\215\345\255\227')
check "regions: look-alike spaces and selectors escaped, CJK kept as is" grep -qF \
	"/tmp/a\\u{00a0}b\\u{3000}c\\u{034f}d\\u{fe0f}e\\u{180e}$cjk" "$T/r"
"$LS" -e -n "$I" >"$T/e"
check "events: invisible operators escaped, bad bytes as \\xNN" grep -qF 'memfd:\u{2062}jit\u{2063} \xff\xfe bad' "$T/e"
"$LS" "$I" >"$T/h"
check "header: target and host escaped" sh -c \
	"grep -qF 'target     rm\\u{00ad} -rf' '$T/h' && grep -qxF 'host       host\\u{200b}1' '$T/h'"
"$LS" "$H" >"$T/hh"
check "hostile-strings: bidi override of the kernel string escaped" grep -qxF 'kernel     6.1\u{202e}cba' "$T/hh"

# -------------------------------------------------------------- JSON
for a in "$H" "$I"; do
	for mode in "" --regions --events --processes; do
		# shellcheck disable=SC2086
		"$LS" $mode --json "$a" >"$T/j"
		check "json $(basename "$a") ${mode:-captures}: valid, one object per line" sh -c \
			"test -s '$T/j' && jq -e -s 'all(.[]; type == \"object\")' '$T/j' >/dev/null"
	done
done
# Valid UTF-8 comes back exactly, with the format characters escaped in
# the JSON text (and tags as surrogate pairs), and no _hex key.
"$LS" -P --json "$I" >"$T/pj"
check "json: cmdline decodes to the exact bytes" test \
	"$(jq -j .cmdline "$T/pj" | od -An -tx1 -v | tr -d ' \n')" = \
	"$(hexof 'rm\302\255 -rf\342\201\240 /\357\273\277 \342\200\214\342\200\215\342\200\216\342\200\217\342\201\241\342\201\244 \363\240\201\201\363\240\201\277 end')"
check "json text: format characters as \\u escapes, tags as surrogate pairs" grep -qF \
	'"cmdline":"rm\u00ad -rf\u2060 /\ufeff \u200c\u200d\u200e\u200f\u2061\u2064 \udb40\udc41\udb40\udc7f end"' "$T/pj"
check "json: no _hex key for strings that are valid UTF-8" sh -c \
	"jq -e -s 'all(.[]; (keys | map(select(endswith(\"_hex\"))) | length) == 0)' '$T/pj' >/dev/null"
# Strings that are not UTF-8: U+FFFD in the string, exact bytes in NAME_hex.
"$LS" -e --json "$I" >"$T/ej"
check "json: detail_hex holds the exact bytes of a detail that is not UTF-8" test \
	"$(jq -r .detail_hex "$T/ej")" = "$(hexof 'memfd:\342\201\242jit\342\201\243 \377\376 bad')"
check "json: the detail string itself is valid, bad bytes as U+FFFD" test \
	"$(jq -r .detail "$T/ej" | od -An -tx1 -v | tr -d ' \n')" = \
	"$(hexof 'memfd:\342\201\242jit\342\201\243 \357\277\275\357\277\275 bad\n')"
"$LS" -P --json "$H" >"$T/hp"
check "hostile-strings: cmdline_hex (overlong C0 AF), no exe_hex (exe is valid UTF-8)" test \
	"$(jq -r '[.cmdline_hex, (has("exe_hex") | tostring)] | join(" ")' "$T/hp")" = "$(hexof 'evil\n\001\177\300\257') false"
"$LS" -r --json "$H" >"$T/hr"
check "hostile-strings: path_hex (surrogate and > U+10FFFF encodings)" test \
	"$(jq -r .path_hex "$T/hr")" = "$(hexof '/tmp/a\nb\033[1m\342\200\256\355\240\200\364\220\200\200.so')"
"$LS" -e --json "$H" >"$T/he"
check "hostile-strings: detail_hex (lone C1 byte), no syscall_hex" test \
	"$(jq -r '[.detail_hex, (has("syscall_hex") | tostring)] | join(" ")' "$T/he")" = \
	"$(hexof '\033]52;c;cm0gLXJmIH4=\007 detail\23331m') false"
if command -v xxd >/dev/null 2>&1; then
	check "hostile-strings: xxd -r -p of path_hex gives the bytes back" test \
		"$(jq -r .path_hex "$T/hr" | xxd -r -p | od -An -tx1 -v | tr -d ' \n')" = "$(jq -r .path_hex "$T/hr")"
fi
"$LS" --json "$S" >"$T/sj"
check "sample: no _hex key anywhere (all strings valid)" sh -c \
	"jq -e -s 'all(.[]; (keys | map(select(endswith(\"_hex\"))) | length) == 0)' '$T/sj' >/dev/null"
