#!/bin/sh
# An independent reader written from SPEC.md alone (spec_reader.py: Python
# sqlite3 + the zstd command) must reconstruct every capture of archives
# written by the library byte for byte, and agree with the library's own
# extraction.
. "$(dirname "$0")/lib.sh"

MK="$BUILD/tests/tools/mkarchive"
PY="$TOP/tests/integration/spec_reader.py"
if [ ! -x "$MK" ]; then skip spec-reader "$MK not built"; exit 0; fi
if ! command -v python3 >/dev/null || ! command -v zstd >/dev/null; then
	skip spec-reader "python3 or zstd missing"; exit 0
fi

run_case() {
	name=$1; shift
	a="$T/$name.emt"
	mkdir -p "$T/$name.lib" "$T/$name.py"
	if ! "$MK" "$@" "$a" 2>"$T/$name.err"; then
		fail "spec-reader $name" "mkarchive failed: $(cat "$T/$name.err")"; return
	fi
	if ! "$MK" -x "$a" "$T/$name.lib" 2>"$T/$name.err"; then
		fail "spec-reader $name" "library extraction failed: $(cat "$T/$name.err")"; return
	fi
	if ! python3 "$PY" "$a" "$T/$name.py" >"$T/$name.out" 2>&1; then
		fail "spec-reader $name" "spec reader: $(tail -n 3 "$T/$name.out")"; return
	fi
	nlib=$(ls "$T/$name.lib" | wc -l)
	npy=$(ls "$T/$name.py" | wc -l)
	if [ "$nlib" -eq 0 ] || [ "$nlib" -ne "$npy" ]; then
		fail "spec-reader $name" "library extracted $nlib captures, spec reader $npy"; return
	fi
	for f in "$T/$name.lib"/*.bin; do
		if ! cmp -s "$f" "$T/$name.py/$(basename "$f")"; then
			fail "spec-reader $name" "capture $(basename "$f" .bin) differs"; return
		fi
	done
	# The sha256 printed by the spec reader is that of the bytes written.
	while read -r seq _ _ _ _ sha; do
		got=$(sha256sum "$T/$name.py/$seq.bin" | cut -d' ' -f1)
		if [ "$got" != "$sha" ]; then
			fail "spec-reader $name" "capture $seq hash"; return
		fi
	done <"$T/$name.out"
	pass "spec-reader $name ($nlib captures)"
}

run_case default -n 15
run_case nodelta -n 8 -D
run_case chunk16k -n 10 -c 16384 -s 7
run_case level19 -n 6 -l 19 -s 3
run_case unsealed -n 9 -u -s 5

# Damage must be reported by the spec reader too (it is a real checker).
a="$T/default.emt"
cp "$a" "$T/bad.emt"
python3 - "$T/bad.emt" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
d = bytearray(db.execute("SELECT data FROM chunks WHERE encoding='zstd' LIMIT 1").fetchone()[0])
d[len(d) // 2] ^= 1
db.execute("UPDATE chunks SET data = ? WHERE id = (SELECT id FROM chunks WHERE encoding='zstd' LIMIT 1)", (bytes(d),))
db.commit()
PYEOF
mkdir -p "$T/bad.py"
if python3 "$PY" "$T/bad.emt" "$T/bad.py" >/dev/null 2>&1; then
	fail "spec-reader detects damage" "a flipped chunk byte went unnoticed"
else
	pass "spec-reader detects damage"
fi

# SPEC.md's Appendix A is the schema the library writes, statement for
# statement (a reader checks schema integrity against it).
python3 - "$TOP/SPEC.md" "$T/default.emt" >"$T/schema.out" 2>&1 <<'PYEOF'
import re, sqlite3, sys
spec = open(sys.argv[1]).read()
app = spec.split("## Appendix A.", 1)[1]
block = re.search(r"```sql\n(.*?)```", app, re.S).group(1)
stmts = [x.strip() for x in block.split(";\n") if x.strip()]
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[2], uri=True)
have = [r[0] for r in db.execute(
    "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid")]
if have != stmts:
    for a, b in zip(have, stmts):
        if a != b:
            print("archive:  %r\nSPEC.md: %r" % (a[:200], b[:200]))
            break
    print("%d statements in the archive, %d in SPEC.md" % (len(have), len(stmts)))
    sys.exit(1)
print("%d statements" % len(stmts))
PYEOF
if [ $? -eq 0 ]; then
	pass "SPEC.md appendix A equals the library's schema ($(cat "$T/schema.out"))"
else
	fail "SPEC.md appendix A equals the library's schema" "$(cat "$T/schema.out")"
fi
