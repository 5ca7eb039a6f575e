#!/bin/sh
# ptrace mode (issue 5): what only W^X enforcement gives, checked against
# the fixtures' ground truth and their untraced behaviour.
#  - every version of RWX code is a first-exec-fault capture, byte-exact,
#    with a register snapshot whose rip lies in the capture;
#  - the target behaves as untraced: same exit status, same output (once
#    addresses and pids are masked), genuine SIGSEGVs reach its handler
#    with the same si_code;
#  - attach (-p) switches existing RWX code to W^X, and the detach at
#    --duration gives it back: the target runs on to a correct end;
#  - SIGTERM to emt-capture seals the archive; the launched target runs on
#    (under the pass-through keeper) to a correct end.
# Recall of every fixture in both modes is test_fixtures_recall.sh.
. "$(dirname "$0")/lib.sh"

CR="$BUILD/tests/tools/check-recall"
TO=${EMT_PTRACE_TIMEOUT:-120}

if [ ! -x "$BIN/emt-capture" ]; then fail "ptrace mode" "emt-capture not built"; exit 0; fi
if [ ! -x "$CR" ]; then fail "ptrace mode" "check-recall not built"; exit 0; fi
need_engine "ptrace mode" ptrace "$T/probe.out" || exit 0

# masked FILE: the non-truth output with addresses and long numbers masked
# (they differ from run to run: ASLR, pids, timings).
masked() { grep -v '^EMT-TRUTH ' "$1" | sed -E 's/0x[0-9a-f]+/0xA/g; s/[0-9]+\.[0-9]+/F/g; s/[0-9]{3,}/N/g'; }

# same_as_untraced NAME FIXTURE ARGS...: runs FIXTURE untraced and under
# ptrace mode; PASS if masked output and number of truth lines agree (the
# fixtures print their "... ok" line only on success).  Leaves $T/NAME.emt and $T/NAME.out (traced output).
same_as_untraced() {
	name=$1 fx=$2
	shift 2
	"$FIX/$fx" "$@" >"$T/$name.plain" 2>"$T/$name.plain.err"
	prc=$?
	timeout "$TO" "$BIN/emt-capture" -q --mode ptrace -o "$T/$name.emt" -- "$FIX/$fx" "$@" \
		>"$T/$name.out" 2>"$T/$name.err"
	crc=$?
	if [ "$crc" -ne 0 ]; then
		fail "$name: emt-capture" "exit $crc: $(tail -c 300 "$T/$name.err")"
		return 1
	fi
	masked "$T/$name.plain" >"$T/$name.plain.m"
	masked "$T/$name.out" >"$T/$name.out.m"
	np=$(grep -c '^EMT-TRUTH ' "$T/$name.plain")
	nt=$(grep -c '^EMT-TRUTH ' "$T/$name.out")
	if ! cmp -s "$T/$name.plain.m" "$T/$name.out.m" || [ "$np" -ne "$nt" ]; then
		fail "$name: output identical to untraced" \
			"$np vs $nt truth lines; $(diff "$T/$name.plain.m" "$T/$name.out.m" | head -n 6 | tr '\n' ' ')"
		return 1
	fi
	pass "$name: output identical to untraced ($nt images, untraced exit $prc)"
}

# recall_regs NAME [OPTIONS]: every truth image found, first-exec-fault
# ones with a snapshot whose rip lies in the capture.
recall_regs() {
	name=$1
	shift
	"$CR" --require-gapless --require-regs -v "$@" "$T/$name.emt" "$T/$name.out" >"$T/$name.cr" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass "$name: byte-exact with registers: $(grep '^recall:' "$T/$name.cr")"
	else
		fail "$name: byte-exact with registers" "$(grep -E '^(MISSING|recall:)|check-recall:' "$T/$name.cr" | head -n 6 | tr '\n' ' ')"
	fi
	return $rc
}

# meta ARCHIVE KEY: the value of KEY in ARCHIVE's meta table.
meta() { sqlite3 "$1" "select value from meta where key='$2'" 2>/dev/null; }

# fec_count NAME: number of first-exec-fault captures in $T/NAME.emt.
fec_count() { grep -c 'trigger=first-exec-fault' "$T/$1.cr"; }

# ---------------------------------------------------------------- RWX fixtures
if same_as_untraced rwx fx_rwx --versions 6; then
	recall_regs rwx
	n=$(fec_count rwx)
	if [ "$n" -eq 6 ]; then
		pass "rwx: each of 6 versions found in its own first-exec-fault capture"
	else
		fail "rwx: each of 6 versions found in its own first-exec-fault capture" "$n"
	fi
fi
same_as_untraced rwx-mprotect fx_rwx --mprotect --versions 5 --pages 3 && recall_regs rwx-mprotect
same_as_untraced rwx-keep fx_rwx --keep --versions 4 && recall_regs rwx-keep
same_as_untraced rwx-threads fx_rwx_threads --threads 4 --versions 8 && recall_regs rwx-threads
# The same, each thread asking for its page RWX again before each rewrite
# while the others run theirs (flipped through read-only: flip_remote).
same_as_untraced rwx-reprotect fx_rwx_threads --threads 4 --versions 8 --reprotect &&
	recall_regs rwx-reprotect
# Each thread dropping X itself (RW) to rewrite its page, then asking for
# RWX again, while the others run theirs: the RX->RW goes through
# read-only as well (meta ptrace_stats rw_on_x counts it), and a flip
# served for another thread between a call and its exit stop must not
# leave the page RX (it did: the target's next write was a SIGSEGV, in
# 20 of 20 runs).
if same_as_untraced rwx-reprotect-rw fx_rwx_threads --threads 4 --versions 8 --reprotect-rw &&
	recall_regs rwx-reprotect-rw; then
	rwo=$(meta "$T/rwx-reprotect-rw.emt" ptrace_stats |
		sed -n 's/.*rw_on_x=\([0-9]*\).*/\1/p')
	if [ "${rwo:-0}" -gt 0 ]; then
		pass "rwx-reprotect-rw: the target's RX->RW with siblings went through read-only ($rwo times)"
	else
		fail "rwx-reprotect-rw: the target's RX->RW with siblings went through read-only" \
			"ptrace_stats rw_on_x '${rwo:-}'"
	fi
fi
same_as_untraced poly fx_poly && recall_regs poly
same_as_untraced wx fx_wx && recall_regs wx
same_as_untraced threads fx_threads && recall_regs threads
same_as_untraced fork fx_fork && recall_regs fork
same_as_untraced exec fx_exec && recall_regs exec
same_as_untraced memfd fx_memfd && recall_regs memfd
same_as_untraced nocode fx_nocode

# Each thread asking for the whole region RWX again while the others
# write and run their pages: the call goes through read-only, and a
# sibling's write that faults meanwhile is retried once the call's exit
# made the region writable (ro_call_over), never delivered.
same_as_untraced rwx-reprotect-all fx_rwx_threads --threads 4 --versions 8 --reprotect-all &&
	recall_regs rwx-reprotect-all
# The kernel refuses RWX of a shared read-only file mapping (EACCES); a
# call rewritten to read-only is asked for the write only at its exit,
# and the target must get that refusal, as untraced.
if same_as_untraced rwx-shared-ro fx_rwx_threads --threads 2 --versions 4 --shared-ro; then
	if grep -q 'shared read-only file mapping: Permission denied' "$T/rwx-shared-ro.out"; then
		pass "rwx-shared-ro: the kernel's EACCES reaches the target"
	else
		fail "rwx-shared-ro: the kernel's EACCES reaches the target" "$(grep 'shared read-only' "$T/rwx-shared-ro.out")"
	fi
fi

# Code that writes into the page it runs from (self-patching and
# self-decrypting functions, a decryptor writing another page of its own
# region): each store into the running page is single-stepped with the
# page writable+executable and its result captured, so every image the
# fixture ran is found, and the run ends (it used to flip the page between
# W and X forever: a bounded run and a bounded number of captures).
# selfmod_run NAME ARGS...
selfmod_run() {
	name=$1
	shift
	TO_ALL=$TO TO=${EMT_SELFMOD_TIMEOUT:-60}
	same_as_untraced "$name" fx_selfmod "$@"
	ok=$?
	TO=$TO_ALL
	[ $ok -eq 0 ] || return 1
	recall_regs "$name"
	nimg=$(grep -c '^EMT-TRUTH ' "$T/$name.out")
	ncap=$("$BIN/emt-ls" --json "$T/$name.emt" 2>/dev/null | grep -c '"seq":')
	if [ "$ncap" -le $((2 * nimg + 16)) ]; then
		pass "$name: $ncap captures for $nimg images (no W/X ping-pong)"
	else
		fail "$name: captures bounded by the images run" "$ncap captures for $nimg images"
	fi
}
selfmod_run selfmod --rounds 4
selfmod_run selfmod-threads --rounds 4 --threads 4

# One thread writes the region another executes: every handshaken version
# is captured, and the unsynchronised phase (writer patching while the
# executor runs) ends: neither deadlock nor livelock.
TO_ALL=$TO TO=${EMT_SELFMOD_TIMEOUT:-60}
same_as_untraced rwx-race fx_rwx_race --versions 20 --race-ms 500 && recall_regs rwx-race
TO=$TO_ALL

# Genuine faults: the handler must see the same si_code and, relative to
# its own mappings, the same kind of address (masked compare above); and
# the RWX code run between the faults is still captured.
if same_as_untraced sigsegv fx_sigsegv; then
	recall_regs sigsegv
	if [ "$(grep -c 'SIGSEGV delivered' "$T/sigsegv.out")" -ge 3 ]; then
		pass "sigsegv: genuine faults delivered to the target's handler"
	else
		fail "sigsegv: genuine faults delivered to the target's handler" "$(grep -c 'SIGSEGV delivered' "$T/sigsegv.out") lines"
	fi
fi

# ---------------------------------------------------------------- attach
"$FIX/fx_longrun" --seconds 4 --delay-ms 200 --interval-ms 40 >"$T/lr.out" 2>"$T/lr.err" &
lr=$!
i=0
while ! grep -q 'baseline ready' "$T/lr.out" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
if timeout "$TO" "$BIN/emt-capture" -q --mode ptrace -o "$T/lr.emt" -p "$lr" --duration 1.5 \
	>"$T/lr.cap" 2>&1; then
	pass "attach: emt-capture -p ended at --duration"
else
	fail "attach: emt-capture -p ended at --duration" "$(tail -c 300 "$T/lr.cap")"
fi
tracer=$(sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$lr/status" 2>/dev/null)
state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$lr/status" 2>/dev/null)
if [ "${tracer:-0}" = 0 ] && [ "$state" != t ] && [ "$state" != T ]; then
	pass "attach: target detached and not left stopped (state ${state:-gone})"
else
	fail "attach: target detached and not left stopped" "TracerPid $tracer, state $state"
fi
wait "$lr"
lrc=$?
if [ "$lrc" -eq 0 ] && grep -q '^fx_longrun: .* versions ok' "$T/lr.out"; then
	pass "attach: target ran on to a correct end after the detach"
else
	fail "attach: target ran on to a correct end after the detach" "exit $lrc: $(head -c 300 "$T/lr.err")"
fi
"$CR" -v --require-regs "$T/lr.emt" "$T/lr.out" >"$T/lr.cr" 2>&1
# Truth line 2 is the RWX region made before the attach: captured as the
# baseline, then switched to W^X, its next execution is a first-exec-fault
# capture of the same bytes.
rwx_addr=$(sed -n '2s/.* addr=0x\([0-9a-f]*\) .*/\1/p' "$T/lr.out")
rwx_sha=$(sed -n '2s/.* sha256=\([0-9a-f]*\) .*/\1/p' "$T/lr.out")
"$BIN/emt-ls" --json "$T/lr.emt" >"$T/lr.json" 2>/dev/null
if grep -q "^FOUND .*(truth line 2) .*trigger=baseline" "$T/lr.cr" &&
   grep '"trigger":"first-exec-fault"' "$T/lr.json" | grep "\"addr\":\"0x$rwx_addr\"" |
	grep -q "\"sha256\":\"$rwx_sha\""; then
	pass "attach: existing RWX code captured at attach and at its first execution"
else
	fail "attach: existing RWX code captured at attach and at its first execution" \
		"$(grep 'truth line 2)' "$T/lr.cr"); $(grep -c first-exec-fault "$T/lr.json") fef captures"
fi
nf=$(grep -c '^FOUND .*trigger=mprotect' "$T/lr.cr")
if [ "$nf" -ge 5 ]; then
	pass "attach: W->X versions during the capture found ($nf)"
else
	fail "attach: W->X versions during the capture found" "$nf"
fi
# Without the opt-in filter every syscall stops: the archive says so in
# meta ptrace_warning, for the tool to show.
if command -v sqlite3 >/dev/null 2>&1; then
	w=$(meta "$T/lr.emt" ptrace_warning)
	case "$w" in
	*"every system call"*) pass "attach: PTRACE_SYSCALL fallback recorded as a warning" ;;
	*) fail "attach: PTRACE_SYSCALL fallback recorded as a warning" "meta ptrace_warning '$w'" ;;
	esac
fi

# ... and the tool prints it (unless -q).
"$FIX/fx_longrun" --seconds 2 --delay-ms 0 --interval-ms 50 >/dev/null 2>&1 &
wt=$!
sleep 0.3
timeout "$TO" "$BIN/emt-capture" --mode ptrace -o "$T/warn.emt" -p "$wt" --duration 0.5 >/dev/null 2>"$T/warn.err"
wait "$wt"
if grep -q "^emt-capture: warning: every system call of pid $wt stops the target" "$T/warn.err"; then
	pass "attach without filter: emt-capture warns on stderr"
else
	fail "attach without filter: emt-capture warns on stderr" "$(head -c 300 "$T/warn.err")"
fi

# Attach with the seccomp filter installed by a remote seccomp(2)
# (--attach-filter): only memory syscalls stop; after the
# capture a pass-through tracer keeps the filter's stops served.
"$FIX/fx_longrun" --seconds 4 --delay-ms 200 --interval-ms 40 >"$T/af.out" 2>"$T/af.err" &
af=$!
i=0
while ! grep -q 'baseline ready' "$T/af.out" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
if timeout "$TO" "$BIN/emt-capture" -q --mode ptrace --attach-filter -o "$T/af.emt" \
	-p "$af" --duration 1.5 >"$T/af.cap" 2>&1; then
	pass "attach with filter: emt-capture -p ended at --duration"
else
	fail "attach with filter: emt-capture -p ended at --duration" "$(tail -c 300 "$T/af.cap")"
fi
state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$af/status" 2>/dev/null)
wait "$af"
afc=$?
if [ "$afc" -eq 0 ] && grep -q '^fx_longrun: .* versions ok' "$T/af.out" && [ "$state" != T ]; then
	pass "attach with filter: target ran on to a correct end under the pass-through tracer"
else
	fail "attach with filter: target ran on to a correct end" "exit $afc, state $state: $(head -c 300 "$T/af.err")"
fi
"$CR" -v --require-regs "$T/af.emt" "$T/af.out" >"$T/af.cr" 2>&1
nf=$(grep -c '^FOUND .*trigger=mprotect' "$T/af.cr")
sc=$(meta "$T/af.emt" ptrace_syscalls)
case "$sc" in
seccomp*)
	if [ "$nf" -ge 5 ]; then
		pass "attach with filter: seccomp installed, W->X versions found ($nf)"
	else
		fail "attach with filter: W->X versions found" "$nf"
	fi ;;
*) fail "attach with filter: seccomp installed by a remote syscall" "meta ptrace_syscalls '$sc'" ;;
esac

# ---------------------------------------------------------------- stop in a vfork
# SIGTERM while the main thread of the target sits in vfork(2) (its child
# sleeps 3 s before exec): the parent cannot stop before the child we
# hold is let go.  The stop must neither fail ("threads did not stop")
# nor leave the parent traced (PTRACE_O_EXITKILL would kill the target
# when emt-capture exits): emt-capture exits 0 once the child has
# exec'd, and the target ends normally.
"$BIN/emt-capture" -q --mode ptrace -o "$T/vf.emt" -- "$FIX/fx_vfork_rwx" --child-ms 3000 \
	>"$T/vf.out" 2>"$T/vf.err" &
cap=$!
i=0
while ! grep -q 'in vfork' "$T/vf.out" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
sleep 0.5
vpid=$(sed -n 's/^EMT-TRUTH pid=\([0-9]*\) .*/\1/p' "$T/vf.out" | head -n 1)
t0=$(date +%s%N)
kill -TERM "$cap"
( sleep 30; kill -KILL "$cap" 2>/dev/null ) &
guard=$!
wait "$cap"
crc=$?
lat=$(( ($(date +%s%N) - t0) / 1000000 ))
kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null
if [ "$crc" -eq 0 ] && [ "$lat" -lt 10000 ]; then
	pass "stop in vfork: emt-capture exits 0 after $lat ms"
else
	fail "stop in vfork: emt-capture exits 0" "exit $crc after $lat ms: $(tail -c 300 "$T/vf.err")"
fi
i=0 stopped=""
while [ -n "$vpid" ] && kill -0 "$vpid" 2>/dev/null && [ $i -lt 200 ]; do
	s=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$vpid/status" 2>/dev/null)
	[ "$s" = T ] && stopped=T
	sleep 0.05
	i=$((i + 1))
done
if grep -q '^fx_vfork_rwx: .* versions ok, vfork child ok' "$T/vf.out" && [ -z "$stopped" ]; then
	pass "stop in vfork: target ran on to a normal end"
else
	fail "stop in vfork: target ran on to a normal end" "${stopped:+seen stopped; }$(tail -n 2 "$T/vf.out" | tr '\n' ' ')"
fi
[ -n "$vpid" ] && kill -KILL "$vpid" 2>/dev/null

# ---------------------------------------------------------------- keeper
# The pass-through tracer traces with PTRACE_O_EXITKILL: killing it kills
# the target, which would otherwise run on with a seccomp filter making
# its memory syscalls fail.
"$BIN/emt-capture" -q --mode ptrace -o "$T/kp.emt" -- "$FIX/fx_longrun" --seconds 20 \
	--delay-ms 100 --interval-ms 20 >"$T/kp.out" 2>"$T/kp.err" &
cap=$!
i=0
while ! grep -q 'baseline ready' "$T/kp.out" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
kpid=$(sed -n 's/^EMT-TRUTH pid=\([0-9]*\) .*/\1/p' "$T/kp.out" | head -n 1)
kill -TERM "$cap"
wait "$cap"
i=0 keeper=0
while [ -n "$kpid" ] && [ $i -lt 100 ]; do
	keeper=$(sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$kpid/status" 2>/dev/null)
	[ "${keeper:-0}" != 0 ] && break
	sleep 0.05
	i=$((i + 1))
done
if [ "${keeper:-0}" != 0 ]; then
	kill -KILL "$keeper"
	i=0
	while kill -0 "$kpid" 2>/dev/null && [ "$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$kpid/status" 2>/dev/null)" != Z ] && [ $i -lt 40 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	if ! kill -0 "$kpid" 2>/dev/null || [ "$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$kpid/status" 2>/dev/null)" = Z ]; then
		pass "keeper: killing the pass-through tracer kills the target (PTRACE_O_EXITKILL)"
	else
		fail "keeper: killing the pass-through tracer kills the target" "target $kpid still running"
	fi
else
	fail "keeper: launched target traced by a pass-through tracer after the stop" "pid '$kpid' TracerPid ${keeper:-none}"
fi
[ -n "$kpid" ] && kill -KILL "$kpid" 2>/dev/null

# ---------------------------------------------------------------- SIGTERM
# A launched target keeps its seccomp filter: after the capture a keeper
# process resumes its stops, so it runs on and ends correctly.
"$BIN/emt-capture" -q --mode ptrace -o "$T/term.emt" -- "$FIX/fx_longrun" --seconds 3 \
	--delay-ms 100 --interval-ms 20 >"$T/term.out" 2>"$T/term.err" &
cap=$!
i=0
while ! grep -q 'baseline ready' "$T/term.out" 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
sleep 0.5
tpid=$(sed -n 's/^EMT-TRUTH pid=\([0-9]*\) .*/\1/p' "$T/term.out" | head -n 1)
# The tracer's CPU placement never restricts the target (nor its keeper).
cpus() { sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null; }
mycpus=$(cpus $$)
during=$(cpus "$tpid")
kill -TERM "$cap"
wait "$cap"
crc=$?
sleep 0.2
after=$(cpus "$tpid")
kp=$(sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$tpid/status" 2>/dev/null)
kcpus=$(cpus "${kp:-0}")
if [ "$during" = "$mycpus" ] && [ "$after" = "$mycpus" ] && [ "${kcpus:-$mycpus}" = "$mycpus" ]; then
	pass "sigterm: target and keeper keep the CPUs they may use ($mycpus)"
else
	fail "sigterm: target and keeper keep the CPUs they may use" \
		"shell $mycpus, target during '$during' after '$after', keeper '$kcpus'"
fi
if [ "$crc" -eq 0 ] && "$BIN/emt-ls" "$T/term.emt" 2>/dev/null | grep -q 'sealed'; then
	pass "sigterm: emt-capture exits 0 with a sealed archive"
else
	fail "sigterm: emt-capture exits 0 with a sealed archive" "exit $crc: $(tail -c 300 "$T/term.err")"
fi
# Running: never group-stopped (T), and not always in a tracing stop (t:
# the pass-through tracer serving its memory syscalls is a brief one).
i=0 states=""
while [ $i -lt 10 ]; do
	states="$states$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$tpid/status" 2>/dev/null)"
	sleep 0.05
	i=$((i + 1))
done
# A target that ends within the window (a loaded machine: its 3 s are
# up) shows Z after running states: whether that end was correct is
# checked below.
case "$states" in
*T*|tttttttttt|Z*|"") fail "sigterm: launched target running after the capture" "pid '$tpid' states '$states'" ;;
*) pass "sigterm: launched target running after the capture (states $states)" ;;
esac
# The trampoline ptrace mode maps into a single-threaded target (recorded
# in the timeline) is taken away at the stop.
if command -v sqlite3 >/dev/null 2>&1; then
	tr=$(sqlite3 "$T/term.emt" "select printf('%x', addr) from events where cast(detail as text) like 'emt-capture trampoline%' limit 1" 2>/dev/null)
	if [ -z "$tr" ]; then
		fail "sigterm: trampoline used and recorded in the timeline" "no trampoline event"
	elif grep -q "^$tr-" "/proc/$tpid/maps" 2>/dev/null; then
		fail "sigterm: trampoline removed at the stop" "0x$tr still mapped in $tpid"
	else
		pass "sigterm: trampoline (0x$tr) recorded in the timeline and removed at the stop"
	fi
fi
i=0
while [ -n "$tpid" ] && kill -0 "$tpid" 2>/dev/null && [ $i -lt 200 ]; do
	sleep 0.05
	i=$((i + 1))
done
if grep -q '^fx_longrun: .* versions ok' "$T/term.out"; then
	pass "sigterm: launched target ran on to a correct end"
else
	fail "sigterm: launched target ran on to a correct end" "$(tail -c 300 "$T/term.out")"
fi
"$CR" -v "$T/term.emt" "$T/term.out" >"$T/term.cr" 2>&1
nf=$(grep -c '^FOUND ' "$T/term.cr")
if [ "$nf" -ge 5 ]; then
	pass "sigterm: versions before the stop captured ($nf)"
else
	fail "sigterm: versions before the stop captured" "$nf"
fi
[ -n "$tpid" ] && kill -KILL "$tpid" 2>/dev/null
exit 0
