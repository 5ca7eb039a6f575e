#!/bin/sh
# Syscall models and alerts (issue 16, SPEC.md section 16), bpf mode, end
# to end:
#   - emt-learn learns fx_takeover's benign behaviour from a real
#     `emt-capture --syscalls all` archive (the program's identity is its
#     executable's SHA-256), at depths 1, 2 and 3, and from an strace -f
#     log of it;
#   - a benign run under --model raises no alert;
#   - fx_takeover running benignly, then shellcode (socket + connect, and
#     the same loaded through a memfd): an alert at the shellcode's first
#     syscall (window "write -> socket" at depth 2, RIP in the shellcode
#     page), a trigger-alert capture linked to it holding the shellcode
#     page byte for byte (emt-extract against the fixture's SHA-256) with
#     the syscall's registers (rip), the model's SHA-256 and programs in the
#     archive, emt-ls --alerts in text and JSON, emt-verify intact;
#   - --on-alert stop leaves the process stopped (state T) and says so;
#     --on-alert kill kills it (SIGKILL, the shellcode never returns);
#   - --alert-rate 1: one alert, the rest counted as alert-rate losses;
#   - bad model files refused with clear messages (exit 1, no archive),
#     usage errors (--model in ptrace mode, --on-alert without a model)
#     exit 2, emt-learn's refusals (no syscalls recorded, unreadable
#     input, a bad depth, an existing output).
. "$(dirname "$0")/lib.sh"

need_built "learn" "$BIN/emt-capture" "$BIN/emt-learn" "$BIN/emt-ls" "$BIN/emt-extract" \
	"$BIN/emt-verify" "$FIX/fx_takeover" || exit 0
command -v python3 >/dev/null || { fail "learn" "python3 missing (tools/install-deps.sh)"; exit 0; }
need_engine "learn bpf" bpf || exit 0
FXT=$FIX/fx_takeover

# ---------------------------------------------------------------- learning
"$BIN/emt-capture" -q --syscalls all -o "$T/learn.emt" -- "$FXT" --rounds 3 >"$T/learn.out" 2>"$T/learn.err" ||
	fail "learn: --syscalls all capture" "$(head -c 400 "$T/learn.err")"
for d in 1 2 3; do
	if "$BIN/emt-learn" -d $d -o "$T/m$d.json" "$T/learn.emt" 2>"$T/learn$d.err"; then
		pass "learn: emt-learn --depth $d from the archive"
	else
		fail "learn: emt-learn --depth $d from the archive" "$(head -c 400 "$T/learn$d.err")"
	fi
done
sha=$(sha256sum "$FXT" | cut -d' ' -f1)
if python3 - "$T/m2.json" "$sha" "$(readlink -f "$FXT")" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m['format'] == 'emt-syscall-model' and m['version'] == 1 and m['depth'] == 2, m
p = [p for p in m['programs'] if p['sha256'] == sys.argv[2]]
assert len(p) == 1 and p[0]['path'] == sys.argv[3], [q['path'] for q in m['programs']]
t = p[0]['transitions']
assert ['^', 'brk'] in t and all(len(x) == 2 for x in t), t[:5]
names = {n for x in t for n in x}
# fx_takeover never makes these while benign
assert not names & {'socket', 'connect', 'memfd_create'}, names
assert m['sources'][0]['kind'] == 'archive'
PY
then pass "learn: the model names fx_takeover by SHA-256 and path, its benign windows only"
else fail "learn: model content"; fi

# An strace -f log of the same program.
if command -v strace >/dev/null; then
	strace -f -ttt -o "$T/fx.strace" "$FXT" --rounds 3 >/dev/null 2>&1
	if "$BIN/emt-learn" -q -o "$T/ms.json" "$T/fx.strace" 2>"$T/ms.err" &&
		grep -q "\"sha256\": \"$sha\"" "$T/ms.json" && grep -q '"kind": "strace"' "$T/ms.json"; then
		pass "learn: emt-learn from an strace -f -ttt log"
	else
		fail "learn: emt-learn from an strace -f -ttt log" "$(head -c 400 "$T/ms.err")"
	fi
else
	skip "learn: strace log" "strace not installed"
fi

# ---------------------------------------------------------------- benign
"$BIN/emt-capture" -q --model "$T/m2.json" -o "$T/benign.emt" -- "$FXT" --rounds 3 >/dev/null 2>"$T/benign.err"
n=$(sqlite3 "$T/benign.emt" "SELECT count(*) FROM alerts" 2>/dev/null)
check "learn: a benign run under --model raises no alert (got ${n:-none})" [ "$n" = 0 ]

# ---------------------------------------------------------------- takeover
# takeover NAME KIND MODEL [OPTIONS]: $T/NAME.emt, .out (stdout), .err
takeover() {
	_n=$1 _k=$2 _m=$3
	shift 3
	rm -f "$T/$_n.emt"
	"$BIN/emt-capture" -q --model "$_m" "$@" -o "$T/$_n.emt" -- "$FXT" --rounds 3 "$_k" \
		>"$T/$_n.out" 2>"$T/$_n.err"
}

# check_takeover NAME DEPTH: the alert, its capture, registers, rows.
check_takeover() {
	python3 - "$BIN" "$T/$1.emt" "$T/$1.out" "$2" "$sha" <<'PY'
import hashlib, json, sqlite3, struct, subprocess, sys
bindir, arc, out, depth, sha = sys.argv[1:]
depth = int(depth)
t = [dict(kv.split('=', 1) for kv in l.split()[1:]) for l in open(out)
     if l.startswith('EMT-SHELLCODE ') and 'kind=benign' not in l]
assert len(t) == 1, 'fixture truth lines: %d' % len(t)
t = t[0]
lo = int(t['addr'], 16)
hi = lo + int(t['size'])
code = bytes.fromhex(t['code_hex'])
assert hashlib.sha256(code).hexdigest() == t['code_sha256']
r = subprocess.run([bindir + '/emt-ls', '--alerts', '--json', arc], capture_output=True, text=True)
assert r.returncode == 0, r.stderr
al = [json.loads(l) for l in r.stdout.splitlines()]
assert al, 'no alert'
sc = [a for a in al if lo <= int(a['rip'], 16) < hi]
assert sc, 'no alert with its RIP in the shellcode page: %s' % [(a['name'], a['rip']) for a in al]
first = sc[0]
assert first['name'] == 'socket', first
win = [w['name'] for w in first['syscalls']]
assert len(win) == depth and win[-1] == 'socket', win
assert first['syscalls'][-1]['nr'] == 41 and first['depth'] == depth
assert first['action'] == 'capture' and first['pid'] == int(t['pid'])
assert first['program'].endswith('/fx_takeover'), first['program']
assert first['captures'], 'the alert has no capture'
db = sqlite3.connect(arc)
exact = False
for seq in first['captures']:
    trig, caddr, size = db.execute('SELECT trigger_name, addr, size FROM captures WHERE seq = ?',
                                   (seq,)).fetchone()
    assert trig == 'alert', trig
    regs = db.execute('SELECT arch, data FROM regs WHERE seq = ?', (seq,)).fetchone()
    assert regs and regs[0] == 'x86_64', 'capture %d has no registers' % seq
    rip, orig_ax = struct.unpack_from('<Q', regs[1], 16 * 8)[0], struct.unpack_from('<Q', regs[1], 15 * 8)[0]
    assert rip == int(first['rip'], 16) and orig_ax == 41, (hex(rip), orig_ax)
    if caddr <= lo and hi <= caddr + size:
        b = subprocess.run([bindir + '/emt-extract', arc, '--seq', str(seq), '-o', '-'],
                           capture_output=True).stdout
        page = b[lo - caddr:hi - caddr]
        exact = hashlib.sha256(page).hexdigest() == t['sha256'] and page.startswith(code)
assert exact, 'no capture of the alert holds the shellcode page byte for byte'
meta = {k: bytes(v).decode() if isinstance(v, bytes) else str(v)
        for k, v in db.execute("SELECT key, value FROM meta WHERE key LIKE 'model%'")}
assert meta['model_depth'] == str(depth) and len(meta['model_sha256']) == 64, meta
assert meta['model_programs_checked'] == '1 of 1', meta
assert int(meta['model_alerts']) == len(al), (meta, len(al))
p = db.execute('SELECT sha256, checked FROM model_programs').fetchall()
assert p == [(sha, 1)], p
PY
}

for d in 1 2 3; do
	takeover "connect$d" connect "$T/m$d.json" --alert-rate 1000
	if check_takeover "connect$d" "$d" >"$T/ct$d.log" 2>&1; then
		pass "learn: depth $d: connect shellcode: alert at its first syscall, capture byte-exact with registers"
	else
		fail "learn: depth $d: connect shellcode" "$(tail -n 3 "$T/ct$d.log")"
	fi
done
if grep -q '^survived' "$T/connect2.out"; then
	pass "learn: --on-alert capture resumes the process"
else
	fail "learn: --on-alert capture resumes the process" "no 'survived' line"
fi
if "$BIN/emt-verify" -q "$T/connect2.emt" >"$T/v.out" 2>&1; then
	pass "learn: emt-verify: an archive with alerts is intact"
else
	fail "learn: emt-verify" "$(head -c 300 "$T/v.out")"
fi
"$BIN/emt-ls" --alerts -n -W 0 "$T/connect2.emt" >"$T/ls.txt" 2>&1
if grep -q 'write -> socket' "$T/ls.txt" && grep -q 'capture' "$T/ls.txt" &&
	"$BIN/emt-ls" "$T/connect2.emt" | grep -q '^model .*depth 2, on alert capture'; then
	pass "learn: emt-ls --alerts and the header's model line"
else
	fail "learn: emt-ls --alerts" "$(head -c 400 "$T/ls.txt")"
fi

# memfd: the loader's memfd_create is foreign already; the shellcode's
# socket comes from the memfd mapping, captured byte-exact.
takeover memfd memfd "$T/m2.json" --alert-rate 1000
if python3 - "$T/memfd.emt" "$T/memfd.out" <<'PY'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
t = [dict(kv.split('=', 1) for kv in l.split()[1:]) for l in open(sys.argv[2])
     if l.startswith('EMT-SHELLCODE ') and 'kind=memfd' in l][0]
names = [r[0] for r in db.execute('SELECT name FROM alerts ORDER BY id')]
assert names and names[0] == 'memfd_create' and 'socket' in names, names
rows = db.execute("SELECT c.seq, c.addr, c.size, hex(c.sha256), r.backing FROM alerts a"
                  " JOIN alert_captures l ON l.alert_id = a.id JOIN captures c ON c.seq = l.seq"
                  " JOIN regions r ON r.id = c.region_id WHERE a.name = 'socket'").fetchall()
assert any(r[1] == int(t['addr'], 16) and r[2] == 4096 and r[3].lower() == t['sha256'] and
           r[4] == 'memfd' for r in rows), rows
PY
then pass "learn: memfd shellcode: alerts from memfd_create on, the memfd page captured byte-exact"
else fail "learn: memfd shellcode"; fi

# ---------------------------------------------------------------- stop, kill
rm -f "$T/stop.emt"
"$BIN/emt-capture" -q --model "$T/m2.json" --on-alert stop --duration 4 -o "$T/stop.emt" -- \
	"$FXT" --rounds 3 connect >"$T/stop.out" 2>"$T/stop.err" &
cap=$!
pid=
for _ in $(seq 50); do
	pid=$(sed -n 's/^EMT-SHELLCODE pid=\([0-9]*\) kind=connect.*/\1/p' "$T/stop.out")
	[ -n "$pid" ] && grep -q 'left stopped' "$T/stop.err" && break
	sleep 0.1
done
state=$( [ -n "$pid" ] && sed 's/.*) \(.\).*/\1/' "/proc/$pid/stat" 2>/dev/null)
wait "$cap"
if [ "$state" = T ] && grep -q "pid $pid left stopped at a syscall model alert" "$T/stop.err" &&
	! grep -q '^survived' "$T/stop.out" &&
	[ "$(sqlite3 "$T/stop.emt" "SELECT action FROM alerts LIMIT 1")" = stop ]; then
	pass "learn: --on-alert stop leaves the process stopped (state T) and says so"
else
	fail "learn: --on-alert stop" "state '${state}', $(head -c 300 "$T/stop.err")"
fi
takeover kill connect "$T/m2.json" --on-alert kill
rm -f "$T/kill.emt"
"$BIN/emt-capture" --model "$T/m2.json" --on-alert kill -o "$T/kill.emt" -- "$FXT" --rounds 3 connect \
	>"$T/kill.out" 2>"$T/kill.err"
if grep -q "killed by signal 9" "$T/kill.err" && ! grep -q '^survived' "$T/kill.out" &&
	[ "$(sqlite3 "$T/kill.emt" "SELECT action || ' ' || name FROM alerts ORDER BY id LIMIT 1")" = "kill socket" ]; then
	pass "learn: --on-alert kill kills the process at its first foreign syscall"
else
	fail "learn: --on-alert kill" "$(tail -n 2 "$T/kill.err")"
fi

# ---------------------------------------------------------------- rate
takeover rate connect "$T/m2.json" --alert-rate 1/s
n=$(sqlite3 "$T/rate.emt" "SELECT count(*) FROM alerts")
lost=$(sqlite3 "$T/rate.emt" "SELECT coalesce(sum(count), 0) FROM losses WHERE kind = 'alert-rate'")
# The shellcode and what follows make at least socket, connect, close,
# munmap, write foreign windows at depth 2, within a second.
if [ "$n" = 1 ] && [ "$lost" -ge 4 ]; then
	pass "learn: --alert-rate 1/s: 1 alert, $lost more counted as alert-rate losses"
else
	fail "learn: --alert-rate" "alerts $n, alert-rate losses $lost"
fi

# ---------------------------------------------------------------- refusals
# bad_model NAME TEXT MESSAGE: refused, exit 1, message, no archive.
bad_model() {
	printf '%s' "$2" >"$T/bad.json"
	rm -f "$T/bad.emt"
	"$BIN/emt-capture" -q --model "$T/bad.json" -o "$T/bad.emt" -- /bin/true >"$T/bad.out" 2>&1
	rc=$?
	if [ "$rc" -eq 1 ] && grep -q -- "$3" "$T/bad.out" && grep -q "^emt-capture: --model" "$T/bad.out" &&
		[ ! -e "$T/bad.emt" ]; then
		pass "learn: bad model refused: $1"
	else
		fail "learn: bad model refused: $1" "exit $rc: $(head -c 300 "$T/bad.out")"
	fi
}
bad_model "not JSON" '{"format": ' "not JSON: line 1"
bad_model "another format" '{"format": "x"}' 'not a model: "format" is not "emt-syscall-model"'
bad_model "a newer version" '{"format": "emt-syscall-model", "version": 9}' "model version 9 is newer"
bad_model "depth 7" '{"format": "emt-syscall-model", "version": 1, "arch": "x86_64", "depth": 7, "programs": []}' '"depth" is not an integer from 1 to 3'
bad_model "unknown syscall" '{"format": "emt-syscall-model", "version": 1, "arch": "x86_64", "depth": 1, "programs": [{"sha256": "'"$sha"'", "path": "'"$FXT"'", "transitions": [["no_such_call"]]}]}' "syscall 'no_such_call' has no x86-64 number"
rm -f "$T/bad.emt"
"$BIN/emt-capture" -q --model "$T/missing.json" -o "$T/bad.emt" -- /bin/true >"$T/bad.out" 2>&1
check "learn: a missing model file: exit 1, cannot read it" \
	sh -c "[ $? -eq 1 ] && grep -q \"cannot read '$T/missing.json'\" '$T/bad.out'"

# usage_err NAME ARGS...: exit 2.
usage_err() {
	n=$1
	shift
	"$BIN/emt-capture" "$@" >"$T/u.out" 2>&1
	rc=$?
	if [ "$rc" -eq 2 ]; then pass "learn: usage error: $n"; else fail "learn: usage error: $n" "exit $rc: $(head -c 200 "$T/u.out")"; fi
}
usage_err "--model in ptrace mode" --mode ptrace --model "$T/m2.json" -o "$T/u.emt" -- /bin/true
grep -q "ptrace mode does not check syscall models" "$T/u.out" || fail "learn: ptrace refusal message" "$(cat "$T/u.out")"
usage_err "--on-alert without --model" --on-alert stop -o "$T/u.emt" -- /bin/true
usage_err "--on-alert bogus" --model "$T/m2.json" --on-alert bogus -o "$T/u.emt" -- /bin/true
usage_err "--alert-rate 0" --model "$T/m2.json" --alert-rate 0 -o "$T/u.emt" -- /bin/true

"$BIN/emt-capture" -q -o "$T/nosys.emt" -- /bin/true >/dev/null 2>&1
"$BIN/emt-learn" -o "$T/x.json" "$T/nosys.emt" >"$T/l.out" 2>&1
check "learn: emt-learn refuses an archive without recorded syscalls (exit 1)" \
	sh -c "[ $? -eq 1 ] && grep -q 'no recorded syscalls' '$T/l.out'"
"$BIN/emt-learn" -o "$T/x.json" "$T/nonexistent.emt" >"$T/l.out" 2>&1
check "learn: emt-learn: an unreadable input (exit 1)" \
	sh -c "[ $? -eq 1 ] && grep -q \"emt-learn: cannot read '$T/nonexistent.emt'\" '$T/l.out'"
"$BIN/emt-learn" -d 4 -o "$T/x.json" "$T/learn.emt" >"$T/l.out" 2>&1
check "learn: emt-learn --depth 4 is a usage error (exit 2)" [ $? -eq 2 ]
"$BIN/emt-learn" "$T/learn.emt" >"$T/l.out" 2>&1
check "learn: emt-learn without --output is a usage error (exit 2)" [ $? -eq 2 ]
"$BIN/emt-learn" -o "$T/m2.json" "$T/learn.emt" >"$T/l.out" 2>&1
check "learn: emt-learn does not replace an existing model without --force (exit 1)" \
	sh -c "[ $? -eq 1 ] && grep -q 'exists' '$T/l.out'"

# Archives without the tables read as having no alert.
if [ -f "$TOP/fixtures/archives/sample.emt" ]; then
	out=$("$BIN/emt-ls" --alerts -n --json "$TOP/fixtures/archives/sample.emt" 2>&1)
	check "learn: emt-ls --alerts on a 1.0 archive: no rows, exit 0" [ $? -eq 0 -a -z "$out" ]
fi
