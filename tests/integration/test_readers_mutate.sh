#!/bin/sh
# Black-box mutation of archives through the reader tools themselves (the
# library alone is fuzzed by fuzz_reader): copies of the sample archive
# with random bytes overwritten go through emt-ls (table and JSON),
# emt-extract --all, emt-diff --disasm and emt-verify.  None may crash
# (status > 2), print a sanitizer report, or emit invalid JSON.  The
# sanitizer check only means something in a SANITIZE= build (make
# BUILD=build-asan SANITIZE=address,undefined): elsewhere it is a SKIP.
#
# EMT_MUTATIONS=N (default 32) and EMT_MUTATE_SEED=S choose the run; a long
# run (e.g. 3000) is how the tools were fuzzed for the issue's 10 minutes.
. "$(dirname "$0")/lib.sh"

SRC="$TOP/fixtures/archives/sample.emt"
N=${EMT_MUTATIONS:-32}
SEED=${EMT_MUTATE_SEED:-4242}
for t in emt-ls emt-extract emt-diff emt-verify; do
	if [ ! -x "$BIN/$t" ]; then fail readers-mutate "$BIN/$t not built"; exit 0; fi
done
if ! command -v jq >/dev/null 2>&1; then skip readers-mutate "jq not installed"; exit 0; fi
# A sanitized tool carries the runtime's entry points (ASan or UBSan,
# linked dynamically by gcc, statically by clang).
sanitized=0
for t in emt-ls emt-extract emt-diff emt-verify; do
	if grep -aq '__asan_init\|__ubsan_handle_' "$BIN/$t"; then sanitized=$((sanitized + 1)); fi
done

size=$(wc -c <"$SRC")
# Offsets and bytes, reproducible from the seed: 8 writes per archive,
# half of them in the first pages where the schema and small tables live.
awk -v n="$N" -v seed="$SEED" -v size="$size" 'BEGIN {
	srand(seed)
	for (i = 0; i < n; i++)
		for (k = 0; k < 8; k++) {
			lim = (k % 2) ? size : (size < 65536 ? size : 65536)
			printf "%d %d %d\n", i, int(rand() * lim), int(rand() * 256)
		}
}' >"$T/plan"

crashes=0 badjson=0 reports=0 hurt=0 i=0
while [ "$i" -lt "$N" ]; do
	m="$T/m$i.emt"
	cp "$SRC" "$m"
	grep "^$i " "$T/plan" | while read -r _ off byte; do
		printf "$(printf '\\%03o' "$byte")" | dd of="$m" bs=1 seek="$off" conv=notrunc 2>/dev/null
	done
	for cmd in ls lsjson extract diff verify; do
		case $cmd in
		ls) "$BIN/emt-ls" "$m" >"$T/o" 2>"$T/e";;
		lsjson) "$BIN/emt-ls" --json "$m" >"$T/o" 2>"$T/e";;
		extract) "$BIN/emt-extract" --all -d "$T/x$i" --force "$m" >"$T/o" 2>"$T/e";;
		diff) "$BIN/emt-diff" --disasm --region 1 "$m" >"$T/o" 2>"$T/e";;
		verify) "$BIN/emt-verify" "$m" >"$T/o" 2>"$T/e";;
		esac
		rc=$?
		if [ "$cmd" = verify ] && [ "$rc" -ne 0 ]; then hurt=$((hurt + 1)); fi
		if [ "$rc" -gt 2 ]; then
			crashes=$((crashes + 1))
			echo "mutation $i (seed $SEED): $cmd exited $rc"; head -n 5 "$T/e"
		fi
		if grep -q 'Sanitizer\|runtime error' "$T/e"; then
			reports=$((reports + 1))
			echo "mutation $i (seed $SEED): $cmd sanitizer report"; head -n 5 "$T/e"
		fi
		if [ "$cmd" = lsjson ] && [ -s "$T/o" ] && ! jq -e . "$T/o" >/dev/null 2>&1; then
			badjson=$((badjson + 1))
			echo "mutation $i (seed $SEED): invalid JSON"
		fi
	done
	rm -rf "$m" "$T/x$i"
	i=$((i + 1))
done
# Mutations landing in free pages change nothing: the run only means
# something if a fair share of the archives were damaged or refused.
check "mutated archives: $hurt of $N damaged or refused (want >= N/8)" test "$((hurt * 8))" -ge "$N"
check "mutated archives: no reader crashed ($N archives, seed $SEED)" test "$crashes" -eq 0
if [ "$sanitized" -eq 4 ]; then
	check "mutated archives: no sanitizer report (sanitized build)" test "$reports" -eq 0
else
	skip "mutated archives: no sanitizer report" "tools not built with SANITIZE= ($sanitized of 4 sanitized), no report can appear"
fi
check "mutated archives: --json always valid" test "$badjson" -eq 0
check "the pristine archive was not modified" "$BIN/emt-verify" -q "$SRC"
