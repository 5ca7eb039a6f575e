#!/bin/sh
# The reader tools under valgrind (memcheck, --leak-check=full) on the
# hostile archives of fixtures/archives/ and on a small archive captured
# here: no memory error, no leak, no crash, and the documented exit status
# for each archive (0 intact, 1 damaged or refused, 2 trouble; emt-diff as
# diff(1)).  Bounded: a default subset of archives (about a minute);
# EMT_VALGRIND_ALL=1 runs every tool on every archive.
. "$(dirname "$0")/lib.sh"

ARCH="$TOP/fixtures/archives"
if ! command -v valgrind >/dev/null 2>&1; then skip "valgrind readers" "valgrind not installed"; exit 0; fi
need_built "valgrind readers" "$BIN/emt-ls" "$BIN/emt-extract" "$BIN/emt-diff" "$BIN/emt-verify" || exit 0
if [ ! -f "$ARCH/sample.emt" ]; then fail "valgrind readers" "fixtures/archives/sample.emt missing"; exit 0; fi
case "$(nm "$BIN/emt-ls" 2>/dev/null)" in
*__asan_init*) skip "valgrind readers" "tools built with AddressSanitizer (valgrind cannot run them)"; exit 0;;
esac

VG="valgrind -q --error-exitcode=99 --leak-check=full --track-fds=no"

# Expected exit status: ls, verify, extract --all, diff 1 2.
expect() {
	case "$1" in
	sample|unsealed|captured|ledger-v1) echo "0 0 0 1";;
	gap-deleted|meta-changed|orphan-chunk|process-exe|region-path|regs-zeroed)
	                                    echo "0 1 0 1";;   # data intact, its ledger or seal broken
	hostile-strings)                    echo "0 0 0 2";;   # one capture: no seq 2
	bad-chunk|bad-hash|missing-chunk|size-mismatch|zstd-bomb) echo "0 1 1 2";;
	delta-loop)                         echo "0 1 1 1";;   # 1 and 2 still decode
	reordered)                          echo "0 1 0 1";;   # bytes intact, ledger broken
	planted-trigger|schema-altered)     echo "0 1 0 1";;   # data intact, schema tampered with: verify says damaged
	foreign-app|newer-feature|newer-major|not-an-archive) echo "1 2 1 2";;
	truncated)                          echo "1 1 1 2";;   # an emt archive, damaged
	*) echo "";;
	esac
}

if [ -n "${EMT_VALGRIND_ALL:-}" ]; then
	LIST=$(cd "$ARCH" && ls *.emt | sed 's/\.emt$//')
else
	LIST="sample unsealed hostile-strings zstd-bomb delta-loop size-mismatch truncated planted-trigger"
fi

# A small valid archive captured on this machine, where bpf mode can run.
if need_built "valgrind on a fresh capture" "$BIN/emt-capture" "$FIX/fx_poly" &&
	need_engine "valgrind on a fresh capture" bpf; then
	if timeout 60 "$BIN/emt-capture" -q -o "$T/captured.emt" -- "$FIX/fx_poly" --versions 3 \
		>"$T/captured.out" 2>&1; then
		LIST="$LIST captured"
	else
		fail "valgrind on a fresh capture" "emt-capture failed: $(head -c 300 "$T/captured.out")"
	fi
fi

# vg NAME EXPECTED CMD...
vg() {
	local name=$1 want=$2 rc
	shift 2
	# shellcheck disable=SC2086
	$VG "$@" >"$T/vg.out" 2>"$T/vg.err"
	rc=$?
	if [ $rc -eq 99 ] || grep -q '^==[0-9]*== ' "$T/vg.err"; then
		fail "$name" "valgrind errors (exit $rc): $(grep '^==' "$T/vg.err" | head -n 6 | tr '\n' ' ')"
	elif [ $rc -ge 128 ]; then
		fail "$name" "killed by signal $((rc - 128))"
	elif [ "$rc" -ne "$want" ]; then
		fail "$name" "exit $rc, expected $want: $(head -c 200 "$T/vg.err")"
	else
		pass "$name: valgrind clean, exit $rc"
	fi
}

n=0
for a in $LIST; do
	if [ "$a" = captured ]; then f="$T/captured.emt"; else f="$ARCH/$a.emt"; fi
	[ -f "$f" ] || { fail "valgrind $a" "archive '$f' missing"; continue; }
	e=$(expect "$a")
	if [ -z "$e" ]; then fail "valgrind $a" "no expected exit status for this archive: add it to expect()"; continue; fi
	set -- $e
	vg "emt-ls $a" "$1" "$BIN/emt-ls" "$f"
	vg "emt-verify $a" "$2" "$BIN/emt-verify" "$f"
	rm -rf "$T/x"
	vg "emt-extract --all $a" "$3" "$BIN/emt-extract" "$f" --all -d "$T/x"
	if [ -n "${EMT_VALGRIND_ALL:-}" ] || [ "$a" = sample ] || [ "$a" = delta-loop ] || [ "$a" = captured ]; then
		vg "emt-diff $a 1 2" "$4" "$BIN/emt-diff" "$f" 1 2
		vg "emt-ls --json --regions $a" "$1" "$BIN/emt-ls" --json --regions "$f"
	fi
	n=$((n + 1))
done
# Extraction formats on the sample (ELF and hex writers).
vg "emt-extract --format elf sample" 0 "$BIN/emt-extract" "$ARCH/sample.emt" --seq 2 --format elf -o "$T/s.elf"
vg "emt-extract --format hex sample" 0 "$BIN/emt-extract" "$ARCH/sample.emt" --seq 1 --format hex -o "$T/s.hex"
vg "emt-diff --disasm --json sample" 1 "$BIN/emt-diff" --disasm --json "$ARCH/sample.emt" 1 3
echo "summary: $n archives under valgrind"
