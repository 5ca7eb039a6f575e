#!/bin/sh
# emt-extract --format perfmap / jitdump.
#  - fixtures/archives/sample.emt: the map of each pid (latest capture
#    names each address), usage errors, no overwrite without --force; the
#    jitdump checked by an independent parser (header, every record, code
#    bytes = the capture's SHA-256, times = boot-time ns converted to
#    CLOCK_MONOTONIC with the archive's anchors);
#  - perf (root): perf record of emt-capture running a LuaJIT hot loop;
#    perf report names no emt symbol without the map, and attributes most
#    of luajit's samples to an emt:... symbol with the map written from
#    the archive placed as /tmp/perf-PID.map; with perf record -k mono,
#    the first sample in the code comes after the jitdump's load time.
. "$(dirname "$0")/lib.sh"

EX="$BIN/emt-extract" LS="$BIN/emt-ls"
need_built perf-export "$EX" "$LS" || exit 0
for t in jq python3 sqlite3; do
	if ! command -v $t >/dev/null 2>&1; then skip perf-export "$t not installed"; exit 0; fi
done
A="$TOP/fixtures/archives/sample.emt"

mkdir "$T/m"
"$EX" --format perfmap -d "$T/m" "$A" >"$T/m.out" 2>"$T/m.err"
check "perfmap: exit 0" test $? -eq 0
check "perfmap: the files written are listed on stdout" test \
	"$(cat "$T/m.out" | tr '\n' ' ')" = "$T/m/perf-4242.map $T/m/perf-4243.map "
# sample.emt: region 1 has versions at seq 1, 3, 5 over 7f00dead0000+2000;
# region 4 (seq 6) covers 7f00dead1000+2000 later, so it names that page.
cat >"$T/want-4242" <<'EOF'
7f00beef0000 1000 emt:r2v1:seq2
7f00dead0000 1000 emt:r1v3:seq5
7f00dead1000 2000 emt:r4v1:seq6
7f00f00d0000 1000 emt:r5v2:seq8
EOF
echo '7f00cafe0000 3000 emt:r3v1:seq4' >"$T/want-4243"
check "perfmap: perf-4242.map (latest capture names each address)" cmp -s "$T/want-4242" "$T/m/perf-4242.map"
check "perfmap: perf-4243.map" cmp -s "$T/want-4243" "$T/m/perf-4243.map"
"$EX" --format perfmap -d "$T/m" "$A" >/dev/null 2>"$T/e"
check "perfmap: existing map not overwritten without --force (exit 1)" sh -c \
	"test $? -eq 1 && grep -q \"cannot create '.*perf-4242.map': File exists (use --force\" '$T/e'"
"$EX" --format perfmap -d "$T/m" --force --pid 4243 "$A" >"$T/e" 2>&1
check "perfmap --force --pid 4243: only that map" test "$(cat "$T/e")" = "$T/m/perf-4243.map"
"$EX" --format perfmap --seq 1 "$A" >/dev/null 2>"$T/e"
check "perfmap with --seq: usage error (exit 2)" test $? -eq 2
"$EX" --format perfmap -d "$T/nodir" "$A" >/dev/null 2>"$T/e"
check "perfmap into a missing directory: exit 1, says so" sh -c \
	"test $? -eq 1 && grep -q \"cannot open directory '.*nodir'\" '$T/e'"

# An independent jitdump reader (jitdump-specification.txt): prints
# "seq addr size timestamp sha256" per JIT_CODE_LOAD, fails on anything
# malformed.
cat >"$T/jd.py" <<'EOF'
import hashlib, struct, sys
d = open(sys.argv[1], "rb").read()
pid = int(sys.argv[2])
magic, ver, hsize, mach, pad, hpid, ts, flags = struct.unpack_from("<IIIIIIQQ", d, 0)
assert magic == 0x4A695444 and ver == 1 and hsize == 40 and mach == 62, (magic, ver, hsize, mach)
assert hpid == pid and flags == 0, (hpid, flags)
print("header", ts)
off = hsize
while off < len(d):
    rid, size, rts = struct.unpack_from("<IIQ", d, off)
    assert rid == 0 and off + size <= len(d), (rid, size, off)
    p, tid, vma, addr, csize, idx = struct.unpack_from("<IIQQQQ", d, off + 16)
    nend = d.index(b"\0", off + 56)
    name = d[off + 56:nend].decode()
    code = d[nend + 1:off + size]
    assert p == pid and vma == addr and len(code) == csize, (p, vma, addr, len(code), csize)
    assert name.startswith("emt:") and name.endswith(":seq%d" % idx), name
    print(idx, hex(addr), csize, rts, hashlib.sha256(code).hexdigest())
    off += size
assert off == len(d)
EOF
"$EX" --format jitdump -d "$T/m" "$A" >/dev/null 2>"$T/j.err"
check "jitdump: exit 0" test $? -eq 0
check "jitdump: the capture with gaps is said to hold zeros" grep -q "capture 4: has gaps .* written as zeros" "$T/j.err"
boot=$(sqlite3 "$A" "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'clock_boottime_ns'")
mono=$(sqlite3 "$A" "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'clock_monotonic_ns'")
for p in 4242 4243; do
	if python3 "$T/jd.py" "$T/m/jit-$p.dump" "$p" >"$T/jd-$p" 2>"$T/jd-$p.err"; then
		sed 1d "$T/jd-$p" >"$T/jd-$p.loads"
		pass "jitdump: jit-$p.dump parses ($(wc -l <"$T/jd-$p.loads") loads)"
	else
		fail "jitdump: jit-$p.dump parses" "$(tail -n 2 "$T/jd-$p.err")"
	fi
	"$LS" --json --pid "$p" "$A" | jq -r --argjson b "$boot" --argjson m "$mono" \
		'"\(.seq) \(.addr) \(.size) \(.boottime_ns - $b + $m) \(.sha256)"' >"$T/want-jd-$p"
	check "jitdump: pid $p: every capture, bytes and CLOCK_MONOTONIC times as the archive says" \
		cmp -s "$T/want-jd-$p" "$T/jd-$p.loads"
done

# ---------------------------------------------------------------- perf
if ! command -v perf >/dev/null 2>&1; then skip "perf symbolises captured JIT code" "perf not installed"; exit 0; fi
if ! command -v luajit >/dev/null 2>&1; then skip "perf symbolises captured JIT code" "luajit not installed"; exit 0; fi
if ! need_engine "perf symbolises captured JIT code" bpf; then exit 0; fi
if ! perf record -q -e cpu-clock -o "$T/probe.data" -- /bin/true >/dev/null 2>"$T/probe.err"; then
	skip "perf symbolises captured JIT code" "perf cannot open cpu-clock events: $(head -c 200 "$T/probe.err")"
	exit 0
fi
# One root trace that runs for about half a second.
cat >"$T/hot.lua" <<'EOF2'
local function hot(n) local s = 0 for i = 1, n do s = (s + (i % 7) * 3) % 1000003 end return s end
local t = 0 for k = 1, 30 do t = t + hot(2000000) end print("hot", t)
EOF2
# The map must sit where perf looks, /tmp/perf-PID.map: removed on exit.
PMAP=
trap 'rm -rf "$T"; [ -z "$PMAP" ] || rm -f "$PMAP"' EXIT
perf record -q -k mono -e cpu-clock -o "$T/perf.data" -- \
	"$BIN/emt-capture" -q -o "$T/lj.emt" -- luajit "$T/hot.lua" >"$T/lj.out" 2>"$T/lj.err"
if [ $? -ne 0 ] || ! grep -q '^hot' "$T/lj.out"; then
	fail "perf record of emt-capture running luajit" "$(tail -c 300 "$T/lj.err")"
	exit 0
fi
pid=$("$LS" --processes --json "$T/lj.emt" | jq -r 'select(.exe | test("luajit")) | .pid' | head -n 1)
check "luajit's pid from the archive (${pid:-none})" test -n "$pid"
report() { perf report -i "$T/perf.data" --stdio --comm luajit --sort sym 2>/dev/null | grep -v '^#'; }
report >"$T/before"
check "without the map: no emt symbol, JIT samples unnamed" sh -c \
	"! grep -q 'emt:' '$T/before' && grep -q '\\[\\.\\] 0x0000' '$T/before'"
mkdir "$T/pm"
"$EX" --format perfmap -d "$T/pm" --pid "$pid" "$T/lj.emt" >/dev/null 2>"$T/pm.err"
check "perfmap of the luajit run: exit 0" test $? -eq 0
if [ -e "/tmp/perf-$pid.map" ]; then
	fail "place the map as /tmp/perf-$pid.map" "it exists already (not ours: left alone)"
	exit 0
fi
PMAP="/tmp/perf-$pid.map"
cp "$T/pm/perf-$pid.map" "$PMAP"
report >"$T/after"
top=$(grep -m1 'emt:' "$T/after" | awk '{ print $1 }' | tr -d '%')
check "with the map: perf report names the captured code $(grep -m1 -o 'emt:[^ ]*' "$T/after") (${top:-0}% of luajit's samples, at least 20%)" \
	awk -v t="${top:-0}" 'BEGIN { exit !(t >= 20) }'
rm -f "$PMAP"
PMAP=

# perf record -k mono stamps samples with CLOCK_MONOTONIC, the clock of
# the jitdump: the first sample inside a capture's range must come after
# the capture's load record, and not long after (the loop starts at once).
"$EX" --format jitdump -d "$T/pm" --pid "$pid" "$T/lj.emt" >/dev/null 2>"$T/jd.err"
check "jitdump of the luajit run: exit 0" test $? -eq 0
python3 "$T/jd.py" "$T/pm/jit-$pid.dump" "$pid" | sed 1d >"$T/lj.loads"
perf script -i "$T/perf.data" --comm luajit -F time,ip 2>/dev/null >"$T/samples"
res=$(python3 - "$T/lj.loads" "$T/samples" <<'EOF2'
import sys
loads = [l.split() for l in open(sys.argv[1])]
first = min(int(l[3]) for l in loads)
lo = min(int(l[1], 16) for l in loads)
hi = max(int(l[1], 16) + int(l[2]) for l in loads)
ts = []
for line in open(sys.argv[2]):
    f = line.replace(":", " ").split()
    if len(f) >= 2 and lo <= int(f[1], 16) < hi:
        ts.append(round(float(f[0]) * 1e9))
if not ts:
    print("no sample inside the captured code"); sys.exit(1)
d = (min(ts) - first) / 1e9
print("first sample %.3f s after the first load, %d samples in the code" % (d, len(ts)))
sys.exit(0 if 0 <= d < 5 else 1)
EOF2
)
check "jitdump times in perf's clock: $res" test $? -eq 0
