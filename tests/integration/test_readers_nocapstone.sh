#!/bin/sh
# emt-diff built without capstone: the Makefile probes capstone with
# pkg-config into HAVE_CAPSTONE, which the command line overrides (make
# HAVE_CAPSTONE=0).  That build is made here, into a private BUILD
# directory (emt-diff and the two libraries it needs, about ten seconds),
# and must still diff, warn that --disasm is not available, and say so in
# --version.  Without this test the branch is never compiled where
# capstone is installed.
. "$(dirname "$0")/lib.sh"

A="$TOP/fixtures/archives/sample.emt"
if ! command -v make >/dev/null 2>&1 || ! command -v "${CC:-cc}" >/dev/null 2>&1; then
	skip readers-nocapstone "make or a C compiler missing"; exit 0
fi
NB="$T/build-nocs"
if ! make -C "$TOP" --no-print-directory -j2 BUILD="$NB" HAVE_CAPSTONE=0 WERROR=1 \
	"$NB/bin/emt-diff" >"$T/make.log" 2>&1; then
	fail "build emt-diff with HAVE_CAPSTONE=0" "$(grep -m 3 'error' "$T/make.log" | tr '\n' '|')"
	exit 0
fi
pass "build emt-diff with HAVE_CAPSTONE=0 (warnings are errors)"
D="$NB/bin/emt-diff"
if command -v ldd >/dev/null 2>&1; then
	check "no-capstone emt-diff does not link libcapstone" sh -c "! ldd '$D' | grep -q capstone"
fi
"$D" --version >"$T/v"
check "--version says it has no disassembler" grep -qx 'disassembler: none (built without capstone)' "$T/v"
"$D" "$A" 1 3 >"$T/plain"
"$D" --disasm "$A" 1 3 >"$T/dis" 2>"$T/err"
check "--disasm without capstone: exit 1 (different), like without --disasm" test $? -eq 1
check "--disasm without capstone: warns on stderr" grep -qx \
	'emt-diff: warning: built without capstone: --disasm is not available, showing bytes only' "$T/err"
check "--disasm without capstone: the byte diff, unchanged" cmp -s "$T/plain" "$T/dis"
check "--disasm without capstone: the known ranges" grep -q \
	'^bytes changed: 8 in 2 ranges, first 0x7f00dead0015, last 0x7f00dead1006$' "$T/dis"
check "--disasm without capstone: no instruction listing" sh -c "! grep -q 'instructions at' '$T/dis'"
"$D" -D -j "$A" 1 3 >"$T/j" 2>/dev/null
check "--disasm --json without capstone: valid, no instructions key" sh -c \
	"jq -e '.bytes_changed == 8 and all(.ranges[]; has(\"instructions\") | not)' '$T/j' >/dev/null"
if [ -x "$BIN/emt-diff" ] && "$BIN/emt-diff" --version | grep -q 'disassembler: capstone'; then
	check "the normal build has capstone (so both branches were built)" true
fi
