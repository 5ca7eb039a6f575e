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
