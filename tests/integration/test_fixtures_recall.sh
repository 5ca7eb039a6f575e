#!/bin/sh
# Recall: every fixture under emt-capture, in each mode that works here;
# every ground-truth image (fixtures/fixture.h) must be found byte-exact in
# the archive by check-recall, with no gaps.
#
# What each mode can see (issues 4 and 5):
#  - bpf: every W->X transition and fileless exec mmap; code rewritten in
#    place in RWX memory (or through a second, writable view of a memfd)
#    only in its last state, when the region is unmapped, exec'd over or
#    the process exits: --final-only-kind for those kinds.
#  - ptrace: everything bpf sees, plus every version of RWX code at its
#    first execution; the memfd double mapping is never RWX in one mapping,
#    so it is final-only there too.
. "$(dirname "$0")/lib.sh"

CR="$BUILD/tests/tools/check-recall"
CAP_TIMEOUT=${EMT_RECALL_TIMEOUT:-120}

need_built "fixture recall" "$BIN/emt-capture" "$CR" || exit 0

# recall MODE FIXTURE "FIXTURE ARGS" [CHECK-RECALL OPTIONS]
recall() {
	mode=$1 fx=$2 args=$3
	shift 3
	name="$fx${args:+ $args} ($mode)"
	base="$T/$fx-$mode-$(echo "$args" | tr -c 'a-z0-9\n' '_')"
	# shellcheck disable=SC2086
	if ! EMT_BPF_HOOKS=$hooks timeout "$CAP_TIMEOUT" "$BIN/emt-capture" -q --mode "${mode%-*}" \
		-o "$base.emt" -- "$FIX/$fx" $args >"$base.out" 2>"$base.err"; then
		fail "$name" "emt-capture exit $?: $(tail -c 300 "$base.err")"
		return
	fi
	if [ -n "$hooks" ] && [ "$(sqlite3 "$base.emt" "select value from meta where key='bpf_hooks'")" != "$hooks" ]; then
		fail "$name" "the archive's meta bpf_hooks is not '$hooks'"
		return
	fi
	if ! grep -q "^$fx: .* ok" "$base.out"; then
		fail "$name" "fixture did not report success under capture: $(tail -c 300 "$base.err")"
		return
	fi
	# A process seen to exit before its last records were read would
	# get a second row for its pid, overlapping the first.
	ov=$(sqlite3 "$base.emt" "select a.pid from processes a join processes b
		on a.pid = b.pid and a.id < b.id where a.has_exit = 1 and a.exit_ns > b.start_ns limit 1")
	if [ -n "$ov" ]; then
		fail "$name" "pid $ov has two process rows at once: $(sqlite3 "$base.emt" "select id, start_ns, exit_ns, exe from processes where pid = $ov" | tr '\n' ' ')"
		return
	fi
	"$CR" --require-gapless "$@" "$base.emt" "$base.out" >"$base.cr" 2>&1
	rc=$?
	summary=$(grep '^recall:' "$base.cr")
	if [ "$rc" -eq 0 ]; then
		pass "$name: $summary"
	else
		fail "$name" "check-recall exit $rc: $(grep -E '^(MISSING|gaps:|recall:)|check-recall:' "$base.cr" | head -n 8)"
	fi
}

# bpf: the default hooks (mmap_lock tracepoints); bpf-syscalls: the
# fallback for kernels without them (sys_enter/sys_exit), forced.
for mode in bpf bpf-syscalls ptrace; do
	case $mode in
	bpf) hooks=mmap-lock ;;
	bpf-syscalls) hooks=syscalls ;;
	*) hooks= ;;
	esac
	# Both hook sets must work wherever bpf mode can run at all: the
	# fallback is what users of kernels without the default one get.
	need_engine "fixture recall ($mode)" "$mode" || continue
	if [ "$mode" != ptrace ]; then
		rwx="--final-only-kind=rwx --final-only-kind=rwx-threads --final-only-kind=sigsegv"
	else
		rwx="--require-regs"
	fi
	dual="--final-only-kind=memfd-dual"
	recall "$mode" fx_wx ""
	recall "$mode" fx_poly "--versions 20"
	# shellcheck disable=SC2086
	recall "$mode" fx_rwx "--versions 5" $rwx
	# shellcheck disable=SC2086
	recall "$mode" fx_rwx "--versions 5 --mprotect" $rwx
	# shellcheck disable=SC2086
	recall "$mode" fx_rwx "--versions 3 --keep" $rwx
	# MAP_FIXED over RWX code, and RWX code moved by mremap (then
	# rewritten and run at its new place).
	# shellcheck disable=SC2086
	recall "$mode" fx_rwx "--versions 3 --replace" $rwx
	# shellcheck disable=SC2086
	recall "$mode" fx_rwx "--versions 3 --move" $rwx
	# shellcheck disable=SC2086
	recall "$mode" fx_rwx "--versions 3 --move --replace --mprotect" $rwx
	recall "$mode" fx_sparse "--mib 64"
	recall "$mode" fx_large "--mib 32"
	recall "$mode" fx_memfd ""
	recall "$mode" fx_memfd "--deleted"
	recall "$mode" fx_memfd "--shm"
	recall "$mode" fx_wx "--pkey"
	recall "$mode" fx_memfd_dual "--versions 4" $dual
	recall "$mode" fx_memfd_dual "--versions 4 --keep" $dual
	recall "$mode" fx_threads "--threads 4 --versions 5"
	# The main thread ends first: a zombie leader is not the process's end.
	recall "$mode" fx_threads "--threads 3 --versions 3 --leader-exit"
	recall "$mode" fx_fork "--children 3"
	recall "$mode" fx_fork "--children 3 --vfork"
	recall "$mode" fx_exec "--stages 3"
	recall "$mode" fx_shortlived "--iterations 300"
	# shellcheck disable=SC2086
	recall "$mode" fx_sigsegv "--rounds 3" $rwx
	# shellcheck disable=SC2086
	recall "$mode" fx_rwx_threads "--threads 4 --versions 10" $rwx
	recall "$mode" fx_longrun "--seconds 1 --delay-ms 0 --interval-ms 50"

	# Attach (-p): the baseline made before attaching and every later
	# version.  The fixture waits 2 s after its baseline, long enough for
	# emt-capture to attach.
	out="$T/attach-$mode.out"
	"$FIX/fx_longrun" --seconds 1 --delay-ms 2000 --interval-ms 50 >"$out" 2>&1 &
	fxpid=$!
	i=0
	while ! grep -q 'baseline ready' "$out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	if EMT_BPF_HOOKS=$hooks timeout "$CAP_TIMEOUT" "$BIN/emt-capture" -q --mode "${mode%-*}" \
		-p "$fxpid" -o "$T/attach-$mode.emt" \
		>"$T/attach-$mode.cap" 2>&1; then
		wait "$fxpid"
		if "$CR" --require-gapless "$T/attach-$mode.emt" "$out" >"$T/attach-$mode.cr" 2>&1; then
			pass "fx_longrun attach -p ($mode): $(grep '^recall:' "$T/attach-$mode.cr")"
		else
			fail "fx_longrun attach -p ($mode)" "$(grep -E '^(MISSING|gaps:|recall:)|check-recall:' "$T/attach-$mode.cr" | head -n 8)"
		fi
	else
		fail "fx_longrun attach -p ($mode)" "emt-capture -p exit $?: $(tail -c 300 "$T/attach-$mode.cap")"
		kill "$fxpid" 2>/dev/null
		wait "$fxpid" 2>/dev/null
	fi
done
