#!/bin/sh
# Injections (issue 15): writes into another process's memory, captured
# byte-exact and linked, in bpf mode (both hook sets) and ptrace mode.
# The victim (fx_inject_victim) runs before the capture starts; the
# injector runs under emt-capture:
#   - process_vm_writev (two remote pieces), /proc/PID/mem with pwrite and
#     with lseek+write, ptrace PTRACE_POKETEXT + PTRACE_SETREGS + DETACH;
#   - every injections row names the writer and victim the fixture printed,
#     its capture (seq, trigger inject, victim's pid) holds the row's bytes,
#     and the rows' bytes put together are the fixture's payload
#     (SHA-256 of its EMT-INJECT line);
#   - bpf mode: the victim becomes followed (process row with follow
#     reason "injected" and the first injection's id), and its later
#     mprotect of the injected page is captured, byte-exact with its
#     EMT-TRUTH line, and linked to the injection;
#   - bpf mode attached to the victim (-p), the injector outside the
#     capture: the same rows, bytes and link, and no follow reason (the
#     victim was followed already);
#   - ptrace mode: SETREGS gives a capture of the page at the new rip
#     with the registers (rip as the fixture printed);
#   - both modes: write(2) after lseek(2), and writev(2) on a dup2(2) of the
#     /proc/PID/mem descriptor (ptrace mode's per-descriptor filter), are
#     byte-exact and linked like pwrite(2);
#   - ptrace mode: the process_vm_writev and pwrite victims become followed
#     as in bpf mode (follow reason, byte-exact linked capture of the page
#     it runs, its exit 0 in its process row, no "follow" events row); the
#     ptrace injector's victim, traced by the injector, is not followed: its
#     process row (of its inject captures) has no follow reason, and one
#     events row "follow" of the injector, ret -EPERM, says
#     "victim V not followed: traced by pid W";
#   - ptrace mode, the capture stopped while the victim it follows still
#     waits: the victim is left neither stopped nor traced, runs the
#     injected code and exits 0;
#   - emt-verify passes on every archive.
. "$(dirname "$0")/lib.sh"

need_built "inject" "$BIN/emt-capture" "$BIN/emt-ls" "$BIN/emt-extract" "$BIN/emt-verify" \
	"$FIX/fx_inject_victim" "$FIX/fx_inject_vmwrite" "$FIX/fx_inject_procmem" \
	"$FIX/fx_inject_ptrace" || exit 0
command -v python3 >/dev/null || { fail "inject" "python3 missing (tools/install-deps.sh)"; exit 0; }

# check_archive NAME MODE: the checks above on $T/NAME.emt, given the
# injector's output $T/NAME.out and the victim's $T/NAME.victim.
check_archive() {
	python3 - "$BIN" "$T/$1.emt" "$T/$1.out" "$T/$1.victim" "$2" "$T/$1" <<'PY'
import hashlib, json, re, sqlite3, struct, subprocess, sys
bindir, arc, out, vout, mode, tmp = sys.argv[1:]
def truth(path, tag):
    rows = []
    for line in open(path, errors='replace'):
        if line.startswith(tag + ' '):
            rows.append(dict(kv.split('=', 1) for kv in line.split()[1:]))
    return rows
def ls(*args):
    r = subprocess.run([bindir + '/emt-ls', '--json'] + list(args) + [arc],
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit('emt-ls %s: %s' % (' '.join(args), r.stderr.strip()))
    return [json.loads(l) for l in r.stdout.splitlines() if l]
def extract(seq):
    r = subprocess.run([bindir + '/emt-extract', arc, '--seq', str(seq), '-o', '-'],
                       capture_output=True)
    if r.returncode:
        raise SystemExit('emt-extract --seq %d: %s' % (seq, r.stderr.decode().strip()))
    return r.stdout
bad = []
inj = [t for t in truth(out, 'EMT-INJECT') if 'sha256' in t]
regs_truth = [t for t in truth(out, 'EMT-INJECT') if t['method'] == 'ptrace-setregs']
if len(inj) != 1:
    raise SystemExit('injector printed %d EMT-INJECT lines with bytes' % len(inj))
t = inj[0]
method, writer, victim = t['method'], int(t['writer']), int(t['victim'])
addr, size = int(t['addr'], 16), int(t['size'])
rows = [r for r in ls('--injections') if r['method'] == method]
caps = {c['seq']: c for c in ls()}
if not rows:
    raise SystemExit('no %s injection row' % method)
got = {}
for r in rows:
    a = int(r['addr'], 16)
    if (r['writer_pid'], r['victim_pid']) != (writer, victim):
        bad.append('row %d: writer/victim %d/%d, not %d/%d' % (r['id'], r['writer_pid'], r['victim_pid'], writer, victim))
    c = caps.get(r['seq'])
    if not c or c['trigger'] != 'inject' or c['pid'] != victim:
        bad.append('row %d: seq %s is not an inject capture of the victim' % (r['id'], r['seq']))
        continue
    ca = int(c['addr'], 16)
    if not (ca <= a and a + r['length'] <= ca + c['size']):
        bad.append('row %d: its capture does not hold its bytes' % r['id'])
        continue
    data = extract(r['seq'])
    if hashlib.sha256(data).hexdigest() != c['sha256']:
        bad.append('capture %d: extracted bytes do not hash to its sha256' % r['seq'])
    got[a] = data[a - ca:a - ca + r['length']]
payload = b''
for a in sorted(got):
    if a != addr + len(payload):
        bad.append('rows leave a hole at 0x%x' % (addr + len(payload)))
        break
    payload += got[a]
if len(payload) != size or hashlib.sha256(payload).hexdigest() != t['sha256']:
    bad.append('injected bytes from the rows: %d bytes, sha256 %s; fixture: %d, %s' %
               (len(payload), hashlib.sha256(payload).hexdigest(), size, t['sha256']))
procs = [p for p in ls('--processes') if p['pid'] == victim]
follows = [e for e in ls('--events') if e['syscall'] == 'follow']
if mode == 'attach' and (not procs or 'follow_reason' in procs[-1]):
    bad.append('attached victim %d: process row %s' % (victim, procs))
# ptrace mode cannot seize a victim its injector traces (PTRACE_ATTACH).
traced = mode.startswith('ptrace') and method.startswith('ptrace-')
if mode.startswith('bpf') or (mode.startswith('ptrace') and not traced):
    first = min(r['id'] for r in ls('--injections'))
    if not procs or procs[-1].get('follow_reason') != 'injected' or procs[-1].get('follow_injection') != first:
        bad.append('victim %d not followed since injection %d: %s' % (victim, first, procs))
if mode.startswith('ptrace') and not traced:
    if procs and procs[-1].get('status') != 'exit 0':
        bad.append('victim %d: process row status %s, not exit 0' % (victim, procs[-1].get('status')))
    if follows:
        bad.append('followed victim with "follow" events rows: %s' % follows)
if traced:
    want = 'victim %d not followed: traced by pid %d' % (victim, writer)
    # Its inject captures give it a process row, without a follow reason.
    if not procs or any('follow_reason' in p for p in procs):
        bad.append('victim %d traced by its injector: process rows %s' % (victim, procs))
    if len(follows) != 1 or (follows[0]['pid'], follows[0]['tid']) != (writer, writer) or \
       follows[0]['detail'] != want or follows[0]['ret'] != -1:
        bad.append('"follow" events rows %s, expected one of writer %d, ret -1 (EPERM), "%s"' %
                   (follows, writer, want))
if mode.startswith('bpf') or mode == 'attach' or mode.startswith('ptrace'):
    vt = [v for v in truth(vout, 'EMT-TRUTH') if v['kind'] == 'injected']
    if vt:
        ids = {r['id'] for r in rows}
        later = [c for c in caps.values() if c['pid'] == victim and c['trigger'] != 'inject'
                 and c['addr'] == vt[0]['addr'] and c['sha256'] == vt[0]['sha256']]
        if not later:
            bad.append('no byte-exact capture of the victim running the injected page')
        elif later[-1].get('injection') not in ids:
            bad.append('capture %d of the injected page links to %s, not one of %s' %
                       (later[-1]['seq'], later[-1].get('injection'), sorted(ids)))
if regs_truth and mode.startswith('ptrace'):
    rip = int(regs_truth[0]['rip'], 16)
    sr = [r for r in ls('--injections') if r['method'] == 'ptrace-setregs']
    if len(sr) != 1 or int(sr[0]['addr'], 16) != rip or not sr[0]['seq']:
        bad.append('setregs rows %s, expected one at rip 0x%x with a capture' % (sr, rip))
    else:
        db = sqlite3.connect('file:%s?mode=ro' % arc, uri=True)
        row = db.execute('SELECT arch, data FROM regs WHERE seq = ?', (sr[0]['seq'],)).fetchone()
        if not row or row[0] != 'x86_64' or struct.unpack('<28Q', row[1])[16] != rip:
            bad.append('setregs capture %d: no register snapshot with rip 0x%x' % (sr[0]['seq'], rip))
if bad:
    raise SystemExit('; '.join(bad))
print('%d rows, %d bytes' % (len(rows), size))
PY
}

# run NAME MODE VICTIM_ARGS -- INJECTOR ARGS: starts the victim, captures the
# injector in MODE, waits for the victim.
run() {
	name=$1 mode=$2
	shift 2
	vargs=
	while [ "$1" != -- ]; do vargs="$vargs $1"; shift; done
	shift
	# shellcheck disable=SC2086
	"$FIX/fx_inject_victim" --seconds 20 $vargs >"$T/$name.victim" 2>&1 &
	vpid=$!
	for _ in $(seq 50); do grep -q '^EMT-VICTIM ' "$T/$name.victim" && break; sleep 0.1; done
	vaddr=$(sed -n 's/^EMT-VICTIM .*addr=\([^ ]*\).*/\1/p' "$T/$name.victim")
	rec=
	case $mode in
	bpf-syscalls) hooks=syscalls m=bpf ;;
	# ptrace mode stacks the recorder's seccomp filter on the injection
	# one: a call both want (ptrace, process_vm_writev, pwrite64) makes
	# one tracer stop, which both must see.
	ptrace-recorder) hooks= m=ptrace rec="--syscalls all" ;;
	*) hooks= m=$mode ;;
	esac
	# shellcheck disable=SC2086
	EMT_BPF_HOOKS=$hooks timeout 120 "$BIN/emt-capture" -q --mode "$m" $rec -o "$T/$name.emt" -- \
		"$@" --pid "$vpid" --addr "$vaddr" >"$T/$name.out" 2>"$T/$name.err"
	crc=$?
	wait "$vpid"
	vrc=$?
	if [ "$crc" -ne 0 ] || [ "$vrc" -ne 0 ]; then
		fail "$name" "emt-capture exit $crc, victim exit $vrc: $(tail -c 300 "$T/$name.err") $(tail -c 200 "$T/$name.victim")"
		return 1
	fi
	return 0
}

# recorded NAME SYSCALL: the injector's SYSCALL calls are in the syscalls
# table, returned and successful (the recorder saw the stop too).
recorded() {
	python3 - "$T/$1.emt" "$2" "$T/$1.out" <<'PY'
import sqlite3, sys
arc, name, out = sys.argv[1:]
writer = None
for line in open(out, errors='replace'):
    if line.startswith('EMT-INJECT ') and 'writer=' in line:
        writer = int(line.split('writer=')[1].split()[0])
db = sqlite3.connect('file:%s?mode=ro' % arc, uri=True)
rows = db.execute('SELECT ret, returned, args_text FROM syscalls WHERE name = ? AND pid = ?',
                  (name, writer)).fetchall()
ok = [r for r in rows if r[1] == 1 and r[0] >= 0]
if not ok:
    raise SystemExit('no returned %s call of writer %s in the syscalls table (%d rows)' % (name, writer, len(rows)))
print('%d %s calls recorded' % (len(ok), name))
PY
}

for mode in bpf bpf-syscalls ptrace ptrace-recorder; do
	need_engine "inject $mode" "${mode%-*}" || continue
	for how in vmwrite procmem procmem-write procmem-dup-writev ptrace; do
		name=$mode-$how
		case $how in
		vmwrite) run "$name" "$mode" -- "$FIX/fx_inject_vmwrite" || continue ;;
		procmem) run "$name" "$mode" -- "$FIX/fx_inject_procmem" || continue ;;
		procmem-write) run "$name" "$mode" -- "$FIX/fx_inject_procmem" --write || continue ;;
		procmem-dup-writev)
			run "$name" "$mode" -- "$FIX/fx_inject_procmem" --dup-writev || continue ;;
		ptrace) run "$name" "$mode" --rx -- "$FIX/fx_inject_ptrace" || continue ;;
		esac
		if [ "$how" = ptrace ] && ! grep -q 'injected code ran' "$T/$name.victim"; then
			fail "$name: victim ran the injected code" "$(tail -c 200 "$T/$name.victim")"
		fi
		if [ "$mode" = ptrace-recorder ]; then
			case $how in
			vmwrite) call=process_vm_writev ;;
			procmem) call=pwrite64 ;;
			procmem-write) call=write ;;
			procmem-dup-writev) call=writev ;;
			ptrace) call=ptrace ;;
			esac
			if why=$(recorded "$name" "$call" 2>&1); then
				pass "$name: recorder and injection capture both saw the stop ($why)"
			else
				fail "$name: recorder saw the injector's $call" "$why"
			fi
		fi
		if why=$(check_archive "$name" "$mode" 2>&1); then
			pass "$name: injected bytes byte-exact and linked ($why)"
		else
			fail "$name" "$why"
		fi
		if "$BIN/emt-verify" "$T/$name.emt" >"$T/$name.verify" 2>&1; then
			pass "$name: emt-verify"
		else
			fail "$name: emt-verify" "$(tail -c 300 "$T/$name.verify")"
		fi
	done
done

# ptrace mode: another followed process (fx_poly, making a page of new
# code executable version after version) runs while the victim is seized
# and its baseline taken; its stops wait meanwhile and must all be served
# exactly: every version captured byte-exact (check-recall), the victim
# followed as above, and the injection made while fx_poly ran (its row's
# time inside fx_poly's process row).
CR="$BUILD/tests/tools/check-recall"
if need_engine "inject ptrace concurrent" ptrace && [ -x "$CR" ]; then
	name=ptrace-concurrent
	"$FIX/fx_inject_victim" --seconds 20 >"$T/$name.victim" 2>&1 &
	vpid=$!
	for _ in $(seq 50); do grep -q '^EMT-VICTIM ' "$T/$name.victim" && break; sleep 0.1; done
	vaddr=$(sed -n 's/^EMT-VICTIM .*addr=\([^ ]*\).*/\1/p' "$T/$name.victim")
	timeout 120 "$BIN/emt-capture" -q --mode ptrace -o "$T/$name.emt" -- sh -c \
		'"$1" --versions 3000 >"$2" & sleep 0.05; "$3" --pid "$4" --addr "$5"; wait' sh \
		"$FIX/fx_poly" "$T/$name.poly" "$FIX/fx_inject_vmwrite" "$vpid" "$vaddr" \
		>"$T/$name.out" 2>"$T/$name.err"
	crc=$?
	wait "$vpid"
	vrc=$?
	if [ "$crc" -ne 0 ] || [ "$vrc" -ne 0 ]; then
		fail "$name" "emt-capture exit $crc, victim exit $vrc: $(tail -c 300 "$T/$name.err")"
	else
		if why=$(check_archive "$name" ptrace 2>&1); then
			pass "$name: victim followed, injected bytes byte-exact and linked ($why)"
		else
			fail "$name" "$why"
		fi
		if "$CR" --require-gapless "$T/$name.emt" "$T/$name.poly" >"$T/$name.cr" 2>&1 &&
		   grep -q 'versions ok' "$T/$name.poly"; then
			pass "$name: fx_poly running meanwhile: every version byte-exact ($(tail -n 1 "$T/$name.cr"))"
		else
			fail "$name: fx_poly running meanwhile" "$(tail -c 300 "$T/$name.cr") $(tail -n 1 "$T/$name.poly")"
		fi
		if why=$(python3 - "$BIN" "$T/$name.emt" <<'PY' 2>&1
import json, subprocess, sys
bindir, arc = sys.argv[1:]
def ls(*a):
    r = subprocess.run([bindir + '/emt-ls', '--json'] + list(a) + [arc], capture_output=True, text=True)
    return [json.loads(l) for l in r.stdout.splitlines() if l]
poly = [p for p in ls('--processes') if (p.get('exe') or '').endswith('/fx_poly')]
inj = ls('--injections')
if len(poly) != 1 or not inj or poly[0]['exit'] is None:
    raise SystemExit('fx_poly rows %s, %d injections' % (poly, len(inj)))
if not (poly[0]['start'] < inj[0]['time'] < poly[0]['exit']):
    raise SystemExit('injection at %s, fx_poly ran %s - %s' % (inj[0]['time'], poly[0]['start'], poly[0]['exit']))
print('injection at %s, fx_poly ran %s - %s' % (inj[0]['time'], poly[0]['start'], poly[0]['exit']))
PY
); then
			pass "$name: the injection came while fx_poly ran ($why)"
		else
			fail "$name: overlap" "$why"
		fi
	fi
fi

# ptrace mode stopped (--duration) while the victim it follows still waits
# to run the injected code: the victim, which has no filter of ours, is
# detached, neither left stopped nor traced, and runs to its normal end.
for early in ptrace:vmwrite ptrace-recorder:procmem; do
	mode=${early%%:*} how=${early#*:} name=early-${early%%:*}-${early#*:}
	need_engine "inject $name" ptrace || break
	rec=
	[ "$mode" = ptrace-recorder ] && rec="--syscalls all"
	"$FIX/fx_inject_victim" --seconds 20 --delay-ms 4000 >"$T/$name.victim" 2>&1 &
	vpid=$!
	for _ in $(seq 50); do grep -q '^EMT-VICTIM ' "$T/$name.victim" && break; sleep 0.1; done
	vaddr=$(sed -n 's/^EMT-VICTIM .*addr=\([^ ]*\).*/\1/p' "$T/$name.victim")
	# shellcheck disable=SC2086
	timeout 120 "$BIN/emt-capture" -q --mode ptrace $rec --duration 1.5 -o "$T/$name.emt" -- \
		"$FIX/fx_inject_$how" --pid "$vpid" --addr "$vaddr" >"$T/$name.out" 2>"$T/$name.err"
	crc=$?
	state=$(sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$vpid/status" 2>/dev/null)
	tracer=$(sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$vpid/status" 2>/dev/null)
	wait "$vpid"
	vrc=$?
	if [ "$crc" -ne 0 ]; then
		fail "$name: capture" "emt-capture exit $crc: $(tail -c 300 "$T/$name.err")"
	elif [ -z "$state" ]; then
		fail "$name: victim after the capture" "gone before the capture ended (exit $vrc): $(tail -c 200 "$T/$name.victim")"
	elif [ "$state" = T ] || [ "$state" = t ] || [ "$tracer" != 0 ]; then
		fail "$name: victim after the capture" "state $state, TracerPid $tracer"
	else
		pass "$name: victim left running and untraced after the capture (state $state, TracerPid 0)"
	fi
	if [ "$vrc" -eq 0 ] && grep -q '^EMT-TRUTH .*kind=injected' "$T/$name.victim"; then
		pass "$name: victim ran the injected code after the capture and exited 0"
	else
		fail "$name: victim's end" "exit $vrc: $(tail -c 200 "$T/$name.victim")"
	fi
	if why=$(python3 - "$BIN" "$T/$name.emt" "$vpid" <<'PY' 2>&1
import json, subprocess, sys
bindir, arc, victim = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = subprocess.run([bindir + '/emt-ls', '--processes', '--json', arc], capture_output=True, text=True)
procs = [p for p in map(json.loads, r.stdout.splitlines()) if p['pid'] == victim]
if r.returncode or len(procs) != 1 or procs[0].get('follow_reason') != 'injected' or procs[0]['exit'] is not None:
    raise SystemExit('victim %d: process rows %s (emt-ls exit %d)' % (victim, procs, r.returncode))
print('followed since injection %d, no exit in the archive' % procs[0]['follow_injection'])
PY
); then
		pass "$name: $why"
	else
		fail "$name: archive" "$why"
	fi
	if "$BIN/emt-verify" "$T/$name.emt" >"$T/$name.verify" 2>&1; then
		pass "$name: emt-verify"
	else
		fail "$name: emt-verify" "$(tail -c 300 "$T/$name.verify")"
	fi
done

# Attached to the victim, the injector outside the capture (bpf mode).
if need_engine "inject bpf attach" bpf; then
	"$FIX/fx_inject_victim" --seconds 20 --delay-ms 1000 >"$T/attach.victim" 2>&1 &
	vpid=$!
	for _ in $(seq 50); do grep -q '^EMT-VICTIM ' "$T/attach.victim" && break; sleep 0.1; done
	vaddr=$(sed -n 's/^EMT-VICTIM .*addr=\([^ ]*\).*/\1/p' "$T/attach.victim")
	timeout 120 "$BIN/emt-capture" -q -p "$vpid" -o "$T/attach.emt" >"$T/attach.err" 2>&1 &
	cpid=$!
	# Armed once the victim's process row is in the archive.
	for _ in $(seq 100); do
		"$BIN/emt-ls" --processes --json "$T/attach.emt" 2>/dev/null | grep -q "\"pid\":$vpid," && break
		sleep 0.1
	done
	"$FIX/fx_inject_vmwrite" --pid "$vpid" --addr "$vaddr" >"$T/attach.out" 2>&1
	wait "$vpid"
	vrc=$?
	wait "$cpid"
	crc=$?
	if [ "$crc" -ne 0 ] || [ "$vrc" -ne 0 ]; then
		fail "bpf attach, injector outside" "emt-capture exit $crc, victim exit $vrc: $(tail -c 300 "$T/attach.err")"
	elif why=$(check_archive attach attach 2>&1); then
		pass "bpf attach, injector outside: injected bytes byte-exact and linked ($why)"
	else
		fail "bpf attach, injector outside" "$why"
	fi
fi

# Refusals of the listing.
"$BIN/emt-ls" --injections --regions "$T/bpf-vmwrite.emt" >/dev/null 2>"$T/excl.err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'exclusive' "$T/excl.err"; then
	pass "emt-ls --injections with --regions refused"
else
	fail "emt-ls --injections with --regions refused" "exit $rc: $(cat "$T/excl.err")"
fi
"$BIN/emt-ls" --injections --trigger inject "$T/bpf-vmwrite.emt" >/dev/null 2>"$T/trig.err"
rc=$?
if [ "$rc" -eq 2 ]; then
	pass "emt-ls --injections --trigger refused"
else
	fail "emt-ls --injections --trigger refused" "exit $rc: $(cat "$T/trig.err")"
fi
# An archive of an older format has no injections: an empty listing.
old="$TOP/fixtures/archives/ledger-v1.emt"
if [ -f "$old" ]; then
	if out=$("$BIN/emt-ls" --injections --json "$old" 2>&1) && [ -z "$out" ]; then
		pass "emt-ls --injections on an archive without the table: empty"
	else
		fail "emt-ls --injections on an archive without the table" "$out"
	fi
fi
