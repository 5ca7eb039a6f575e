#!/bin/sh
# storm-loop.sh BUILD N [LOAD_SECS]: runs the lossless fork storm of
# test_capture_bpf N times through a 16 KiB ring and counts the runs that
# lost anything or have a gap; the failing archives stay in $TMPDIR.
# LOAD_SECS: rebuild the tree (sanitized) in the background meanwhile,
# the load under which the intermittent ring-order failures showed most
# (the script then runs for at least LOAD_SECS).
set -u
B=${1:?usage: storm-loop.sh BUILD N [LOAD_SECS]}
N=${2:?usage: storm-loop.sh BUILD N [LOAD_SECS]}
LOAD=${3:-0}
D=$(mktemp -d "${TMPDIR:-/tmp}/storm-loop.XXXXXX")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$LOAD" -gt 0 ]; then
	(end=$(( $(date +%s) + LOAD ))
	 while [ "$(date +%s)" -lt "$end" ]; do
		rm -rf "$D/load"
		timeout $(( end - $(date +%s) + 1 )) make -s -C "$SRC" -j2 \
			SANITIZE=address,undefined BUILD="$D/load" libs tools >/dev/null 2>&1
	 done) &
fi
fails=0
i=0
while [ "$i" -lt "$N" ]; do
	i=$((i + 1))
	rm -f "$D/a.emt"
	"$B/bin/emt-capture" -q --lossless --ringbuf-size 16k -o "$D/a.emt" -- \
		"$B/fixtures/fx_forkstorm" >"$D/a.out" 2>"$D/a.err"
	rc=$?
	lost=$("$B/bin/emt-ls" "$D/a.emt" 2>/dev/null | sed -n 's/^lost *\([0-9]*\) events.*/\1/p')
	if [ "$rc" != 0 ] || [ "${lost:-x}" != 0 ] ||
	   ! "$B/tests/tools/check-recall" --require-gapless "$D/a.emt" "$D/a.out" >"$D/a.cr" 2>&1; then
		fails=$((fails + 1))
		for x in emt out err cr; do cp "$D/a.$x" "$D/fail$i.$x" 2>/dev/null; done
		echo "run $i: rc=$rc lost=${lost:-?} $(grep -E '^(recall|MISSING)' "$D/a.cr" | head -2 | tr '\n' ' ')"
	fi
done
wait
rm -rf "$D/load"
echo "storm-loop: $fails of $N runs lost something or have a gap (kept in $D)"
[ "$fails" = 0 ]
