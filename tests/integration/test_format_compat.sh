#!/bin/sh
# Archives of an earlier minor stay readable and verifiable: a signed 1.1
# archive written by the 1.1 emt-capture (of fixtures/fx_wx, kept with
# the ground truth the fixture printed and the public half of its key,
# fixtures/archives/format-1.1-signed.*) is read, extracted byte for byte
# against that truth and verified, signature included, by this build.
. "$(dirname "$0")/lib.sh"

A="$TOP/fixtures/archives/format-1.1-signed.emt"
PUB="$TOP/fixtures/archives/format-1.1-signed.pub.pem"
TRUTH="$TOP/fixtures/archives/format-1.1-signed.truth"
BIN="$BUILD/bin"

if "$BIN/emt-ls" "$A" >"$T/ls.out" 2>"$T/ls.err" && grep -q '^format     1.1, sealed' "$T/ls.out"; then
	pass "1.1 archive lists as format 1.1, sealed"
else
	fail "1.1 archive lists" "$(cat "$T/ls.err") $(head -3 "$T/ls.out")"
fi

fp=$(sed -n 's/^fingerprint //p' "$TOP/fixtures/archives/README" | head -1)
if grep -q "^signed     ed25519, key sha256 $fp (check: emt-verify --key)" "$T/ls.out" && [ -n "$fp" ]; then
	pass "emt-ls names the signing key the archive claims"
else
	fail "emt-ls names the signing key" "$(grep '^signed' "$T/ls.out") vs '$fp'"
fi

# Every image the fixture ran, in its order, is a capture of the archive.
n=0 bad=0
while read -r _ _ _ _ _ sha _; do
	n=$((n + 1))
	want=${sha#sha256=}
	if ! "$BIN/emt-extract" "$A" --seq "$n" -o "$T/$n.bin" 2>"$T/x.err"; then
		bad=$((bad + 1)); continue
	fi
	got=$(sha256sum "$T/$n.bin" | cut -d' ' -f1)
	[ "$got" = "$want" ] || bad=$((bad + 1))
done <<EOF_T
$(grep "^EMT-TRUTH" "$TRUTH")
EOF_T
if [ "$n" -eq 10 ] && [ "$bad" -eq 0 ]; then
	pass "1.1 archive: 10 captures byte-exact against the fixture's truth"
else
	fail "1.1 archive extraction" "$bad of $n captures differ or failed ($(cat "$T/x.err"))"
fi

if "$BIN/emt-verify" --key "$PUB" "$A" >"$T/v.out" 2>&1 && grep -q 'signature valid' "$T/v.out"; then
	pass "1.1 archive verifies, signature valid with its key"
else
	fail "1.1 archive verifies" "$(cat "$T/v.out")"
fi

# The signature check is real: another key is refused.
"$BIN/emt-keygen" "$T/other.pem" >/dev/null 2>&1
if "$BIN/emt-verify" --key "$T/other.pub.pem" "$A" >"$T/v2.out" 2>&1; then
	fail "1.1 archive with another key" "emt-verify accepted it: $(cat "$T/v2.out")"
else
	pass "1.1 archive with another key is refused"
fi
exit 0
