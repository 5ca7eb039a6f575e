#!/bin/sh
# An independent reader written from SPEC.md alone (spec_reader.py: Python
# sqlite3 + the zstd command) must reconstruct every capture of archives
# written by the library byte for byte, and agree with the library's own
# extraction.
. "$(dirname "$0")/lib.sh"

MK="$BUILD/tests/tools/mkarchive"
PY="$TOP/tests/integration/spec_reader.py"
if [ ! -x "$MK" ]; then fail spec-reader "$MK not built"; exit 0; fi
if ! command -v python3 >/dev/null || ! command -v zstd >/dev/null; then
	skip spec-reader "python3 or zstd missing"; exit 0
fi

GEN="$BUILD/dev/gen-fixture-archives"

run_case() {
	name=$1; shift
	a="$T/$name.emt"
	if ! "$MK" "$@" "$a" 2>"$T/$name.err"; then
		fail "spec-reader $name" "mkarchive failed: $(cat "$T/$name.err")"; return
	fi
	compare "$name" "$a"
}

# compare NAME ARCHIVE: the library and the spec reader must extract the
# same captures, and the spec reader's hashes must be those of its bytes.
compare() {
	name=$1 a=$2
	mkdir -p "$T/$name.lib" "$T/$name.py"
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

if [ -x "$GEN" ]; then
	# Size-0 captures, and the largest chunk size (1 MiB, with deltas).
	if "$GEN" --spec-cases "$T/cases" >"$T/cases.log" 2>&1; then
		compare zero "$T/cases/zero.emt"
		check "spec-reader zero: the size-0 captures are listed, empty" sh -c \
			"grep -c ' 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\$' '$T/zero.out' | grep -qx 2"
		compare mib "$T/cases/mib.emt"
		check "spec-reader mib: 1 MiB chunks" test \
			"$(sqlite3 "file:$T/cases/mib.emt?immutable=1" 'SELECT DISTINCT chunk_size FROM captures')" = 1048576
	else
		fail "spec-reader cases" "$(tail -n 3 "$T/cases.log")"
	fi

	# A writer killed with SIGKILL for real: the committed captures are
	# in the WAL beside the archive; both readers must see them (from a
	# private copy) and leave the file and WAL bit for bit unchanged,
	# with no -shm created by them.
	k="$T/killed.emt"
	"$GEN" --hold "$k" >"$T/hold.out" 2>&1 &
	hp=$!
	i=0
	while ! grep -q '^committed' "$T/hold.out" 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	kill -9 "$hp" 2>/dev/null
	wait "$hp" 2>/dev/null
	if [ -s "$k-wal" ] && grep -q '^committed 5' "$T/hold.out"; then
		rm -f "$k-shm"
		before=$(cat "$k" "$k-wal" | sha256sum)
		compare killed "$k"
		check "spec-reader killed: every committed capture read from the WAL" \
			test "$(wc -l <"$T/killed.out")" -ge 5
		check "spec-reader killed: main file alone holds fewer (the WAL mattered)" test \
			"$(sqlite3 "file:$k?immutable=1" 'SELECT count(*) FROM captures')" -lt 5
		check "spec-reader killed: file and WAL unchanged, no -shm made" sh -c \
			"test '$before' = \"\$(cat '$k' '$k-wal' | sha256sum)\" && test ! -e '$k-shm'"
	else
		fail "spec-reader killed" "the killed writer left no WAL: $(cat "$T/hold.out")"
	fi
else
	fail "spec-reader edge cases" "$GEN not built"
fi

# SPEC.md section 9.2's test vector, recomputed from the SPEC's own text
# (rows, lines, digests, text, entry) by the rules of that section.
python3 - "$TOP/SPEC.md" >"$T/vector.out" 2>&1 <<'PYEOF'
import hashlib, re, struct, sys
spec = open(sys.argv[1]).read()
sec = spec.split("### 9.2", 1)[1].split("### 10.1", 1)[0].split("## 10.", 1)[0]
U64 = (1 << 64) - 1
def field(v):
    if v is None: return "-"
    if isinstance(v, int): return str(v & U64)
    if isinstance(v, str): v = v.encode()
    return hashlib.sha256(v).hexdigest()
def line(r): return " ".join(field(x) for x in r) + "\n"
def digest(rows): return hashlib.sha256("".join(line(r) for r in rows).encode()).hexdigest()
content = b"\xc3" * 4096 + bytes(4096)
sha = hashlib.sha256(content).digest()
assert sha.hex() in sec, "content sha256"
rows = {
    "GAPS": [(4096, 4096, "unreadable", 14)],
    "REGS": [("x86_64", struct.pack("<28Q", *range(28)))],
    "REGION": [(1, 1000, "memfd", 0x7f0000000000, 8192, 4000, b"memfd:jit (deleted)", 4711, 2049, 0, 7)],
    "PROCESS": [(1000, 1, 10, b"/usr/bin/jit", b"jit -x")],
}
d = {}
for k, r in rows.items():
    m = re.search(r"^%s\s+line\s+(.*)\n\s+digest\s+([0-9a-f]{64})" % k, sec, re.M)
    assert m, "no %s line in SPEC" % k
    assert m.group(1) + "\n" == line(r[0]), "%s line: %r vs %r" % (k, m.group(1), line(r[0]))
    d[k] = digest(r)
    assert m.group(2) == d[k], "%s digest" % k
text = "emt-ledger-v2 1 1 1 1000 1001 mprotect 3 5 %d 8192 5000 65536 %s %s %s %s" % (
    0x7f0000000000, d["GAPS"], d["REGS"], d["REGION"], d["PROCESS"])
assert "\n" + text + "\n" in sec, "text"
entry = hashlib.sha256(bytes(32) + text.encode() + sha).hexdigest()
assert "\n" + entry + "\n" in sec, "entry " + entry
assert hashlib.sha256(b"").hexdigest().startswith("e3b0c442")
print(entry)
PYEOF
if [ $? -eq 0 ]; then
	pass "SPEC.md 9.2 test vector recomputed from its text ($(cat "$T/vector.out"))"
else
	fail "SPEC.md 9.2 test vector" "$(tail -n 2 "$T/vector.out")"
fi

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
# A (1.0), A.1 (added in 1.1) and A.2 (1.2), in the order a 1.2 writer
# runs them: a statement of A.2 that creates a table A already has
# replaces A's in place (captures, SPEC.md section 3).
block = "".join(re.findall(r"```sql\n(.*?)```", app, re.S))
stmts = []
for x in block.split(";\n"):
    x = x.strip()
    if not x:
        continue
    m = re.match(r"CREATE (?:TABLE|INDEX) (\w+)", x)
    old = [i for i, y in enumerate(stmts)
           if m and re.match(r"CREATE (?:TABLE|INDEX) %s\b" % m.group(1), y)]
    if old:
        stmts[old[0]] = x
    else:
        stmts.append(x)
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
