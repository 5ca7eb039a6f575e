# bench/lib.sh - the start every bench script shares.  Not a benchmark:
# run-all.sh skips it.  Use it as
#
#   . "$(dirname "$0")/lib.sh"
#   bench_init bench_name          # TOP, BUILD, T, BENCH
#   bench_need_root
#   bench_need_built "$BUILD/bin/emt-capture" ...
#
# bench_init NAME: TOP is the checkout, BUILD the build directory made
# absolute (the scripts cd and run binaries from elsewhere), T a temporary
# directory removed at exit, BENCH the name that prefixes every message.
bench_init() {
	BENCH=$1
	TOP=$(cd "$(dirname "$0")/.." && pwd)
	BUILD=${BUILD:-build}
	case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD";; esac
	T=$(mktemp -d "${TMPDIR:-/tmp}/emt-$BENCH.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$T'" EXIT
}

# bench_die MESSAGE: the script cannot run; exit status BENCH_FAIL (1).
bench_die() {
	echo "$BENCH: $*" >&2
	exit "${BENCH_FAIL:-1}"
}

bench_need_root() {
	[ "$(id -u)" -eq 0 ] || bench_die "needs root"
}

# bench_need_built FILE...: each must be an executable of this build.
bench_need_built() {
	for f; do
		[ -x "$f" ] || bench_die "'$f' not built (make BUILD=$BUILD)"
	done
}

# median, minimum: of the numbers on stdin, one a line.  The minimum is
# the run least disturbed by load from elsewhere on a shared machine.
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; }'; }
minimum() { sort -n | head -n 1; }

# bench_write_timer: writes $T/timed.sh, which runs a target with its own
# clock, from right before exec to its exit, so a tracer's start-up is
# not counted:
#   sh "$T/timed.sh" US_FILE OUT CMD...
# US_FILE gets the microseconds; OUT gets the target's stdout and OUT.err
# its stderr (an oracle to compare), or OUT is `-` to discard both.  The
# script exits with the target's status.
bench_write_timer() {
	cat >"$T/timed.sh" <<'TIMER'
us=$1 out=$2; shift 2
[ "$out" = - ] && out=/dev/null err=/dev/null || err=$out.err
s=$(date +%s%N)
"$@" >"$out" 2>"$err"
rc=$?
e=$(date +%s%N)
echo $(( (e - s) / 1000 )) >"$us"
exit $rc
TIMER
}
