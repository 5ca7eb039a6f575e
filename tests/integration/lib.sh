# Shared helpers for integration scripts (sourced).  Each check prints one
# "PASS: name", "FAIL: name: why" or "SKIP: name: reason" line, which
# tests/run-tests.sh counts.
: "${TOP:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${BUILD:=build}"
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD";; esac
BIN="$BUILD/bin"
FIX="$BUILD/fixtures"
T=$(mktemp -d "${TMPDIR:-/tmp}/emt-it.XXXXXX")
trap 'rm -rf "$T"' EXIT

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+: $2}"; }
skip() { echo "SKIP: $1: $2"; }
# check NAME CMD...: PASS if CMD succeeds.
check() { n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
need_root() { [ "$(id -u)" -eq 0 ]; }

# missing_precondition MODE: names what this machine lacks to run
# emt-capture in MODE (bpf, bpf-syscalls, ptrace), or prints nothing.
# These are the only reasons a capture test may skip: on a machine that
# has them all, an engine that cannot run is a failure (need_engine).
missing_precondition() {
	if [ "$(id -u)" -ne 0 ]; then echo "not root"; return; fi
	case $1 in
	bpf*)
		eff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
		admin=$(( (0x$eff >> 21) & 1 ))
		for c in 39:CAP_BPF 38:CAP_PERFMON; do
			if [ $(( (0x$eff >> ${c%%:*}) & 1 )) -eq 0 ] && [ "$admin" -eq 0 ]; then
				echo "no ${c#*:}"; return
			fi
		done
		[ -r /sys/kernel/btf/vmlinux ] || echo "no /sys/kernel/btf/vmlinux"
		;;
	ptrace)
		scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo 0)
		[ "$scope" -lt 3 ] || echo "ptrace disabled (kernel.yama.ptrace_scope=3)"
		;;
	esac
}

# need_engine NAME MODE [OUT]: whether emt-capture runs in MODE here
# (bpf-syscalls: bpf mode with the fallback hooks).  If not, prints SKIP
# naming the missing precondition, or FAIL with the engine's own message
# when nothing is missing; returns non-zero then.  OUT keeps the probe's
# output (default $T/probe-MODE.out).
need_engine() {
	_n=$1 _m=$2 _o=${3:-$T/probe-$2.out}
	_why=$(missing_precondition "$_m")
	if [ -n "$_why" ]; then skip "$_n" "$_why"; return 1; fi
	case $_m in
	bpf-syscalls) _hooks=syscalls _mode=bpf ;;
	bpf) _hooks=${EMT_BPF_HOOKS:-} _mode=bpf ;;
	*) _hooks= _mode=$_m ;;
	esac
	rm -f "$T/probe-$_m.emt"
	if EMT_BPF_HOOKS=$_hooks timeout 60 "$BIN/emt-capture" -q --mode "$_mode" \
		-o "$T/probe-$_m.emt" -- /bin/true >"$_o" 2>&1; then
		return 0
	fi
	fail "$_n" "emt-capture --mode $_m cannot run on a machine with root, its capabilities and BTF: $(head -c 600 "$_o")"
	return 1
}

# need_built NAME FILE...: the suite runs after `make all`, so a missing
# binary is a failure of the build, not a reason to skip.
need_built() {
	_n=$1; shift
	for _b in "$@"; do
		if [ ! -x "$_b" ]; then fail "$_n" "'$_b' not built"; return 1; fi
	done
	return 0
}
