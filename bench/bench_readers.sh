#!/bin/sh
# Reader speed on a big archive: 100,000 captures of 4 KiB (1,000 regions
# of 100 versions each, written by tools/dev/gen-fixture-archives --many).
# Targets (issue 3): emt-ls full listing to a file < 2 s, emt-extract --seq
# of one capture < 50 ms.  Writes bench/results/readers.txt.
#
# Usage: BUILD=build sh bench/bench_readers.sh [N]
set -eu
. "$(dirname "$0")/lib.sh"
bench_init bench_readers
BIN="$BUILD/bin"
GEN="$BUILD/dev/gen-fixture-archives"
N=${1:-100000}
RUNS=${RUNS:-5}
OUT="$TOP/bench/results/readers.txt"

bench_need_built "$BIN/emt-ls" "$BIN/emt-extract" "$BIN/emt-diff" "$GEN"

now_ns() { date +%s%N; }
# median_ms CMD...: runs CMD $RUNS times (output to $T/out), prints the
# median wall time in milliseconds with one decimal.
median_ms() {
	: >"$T/times"
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		t0=$(now_ns)
		"$@" >"$T/out" 2>"$T/err"
		t1=$(now_ns)
		echo $((t1 - t0)) >>"$T/times"
		i=$((i + 1))
	done
	sort -n "$T/times" | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] / 1e6 }'
}

t0=$(now_ns)
"$GEN" --many "$N" "$T/many.emt"
gen_ms=$(( ($(now_ns) - t0) / 1000000 ))
size=$(wc -c <"$T/many.emt")

# Warm the page cache once: the figures are for a file already read.
"$BIN/emt-ls" "$T/many.emt" >/dev/null

ls_ms=$(median_ms "$BIN/emt-ls" "$T/many.emt")
rows=$(($(wc -l <"$T/out") - 16))
[ "$rows" -eq "$N" ] || { echo "bench_readers: emt-ls listed $rows rows, want $N" >&2; exit 1; }
json_ms=$(median_ms "$BIN/emt-ls" --json "$T/many.emt")
# what a terminal of 80 columns gets: narrow rows built and cut by cli_row
narrow_ms=$(median_ms "$BIN/emt-ls" -W 80 "$T/many.emt")
regions_ms=$(median_ms "$BIN/emt-ls" --regions -W 80 "$T/many.emt")
filt_ms=$(median_ms "$BIN/emt-ls" --pid 7000 --min-size 4k --trigger mprotect "$T/many.emt")
mid=$((N / 2))
RUNS=$((RUNS * 4))
ex_ms=$(median_ms "$BIN/emt-extract" "$T/many.emt" --seq "$mid" -o -)
[ "$(wc -c <"$T/out")" -eq 4096 ] || { echo "bench_readers: extract wrote the wrong size" >&2; exit 1; }
exelf_ms=$(median_ms "$BIN/emt-extract" "$T/many.emt" --seq "$mid" --format elf -o -)
exfile_ms=$(median_ms "$BIN/emt-extract" "$T/many.emt" --seq "$mid" -o "$T/one.bin" --force)
[ "$(wc -c <"$T/one.bin")" -eq 4096 ] || { echo "bench_readers: extract -o wrote the wrong size" >&2; exit 1; }
diff_ms=$(median_ms sh -c "'$BIN/emt-diff' -q '$T/many.emt' $((mid - 1)) $mid; [ \$? -le 1 ]")
RUNS=$((RUNS / 4))
# one region's 100 versions into a directory, manifest with file_sha256
all_ms=$(median_ms sh -c "rm -rf '$T/all' && '$BIN/emt-extract' '$T/many.emt' --all -d '$T/all' --region 500")
[ "$(ls "$T/all" | wc -l)" -eq 101 ] || { echo "bench_readers: extract --all wrote the wrong files" >&2; exit 1; }
RUNS=$((RUNS * 4))

verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t) ? "ok" : "OVER TARGET" }'; }
mkdir -p "$(dirname "$OUT")"
{
	echo "emt reader benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(uname -srm), $(nproc) cpus, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "archive: $N captures of 4096 bytes, $((N / 100)) regions, $size bytes on disk (generated in ${gen_ms} ms)"
	echo "figures: median wall time of $((RUNS / 4)) runs ($RUNS for single captures), page cache warm"
	echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: compare runs of one load)"
	echo
	printf '%-52s %10s ms  (target < 2000 ms: %s)\n' "emt-ls full listing to a file" "$ls_ms" "$(verdict "$ls_ms" 2000)"
	printf '%-52s %10s ms\n' "emt-ls --json full listing to a file" "$json_ms"
	printf '%-52s %10s ms\n' "emt-ls -W 80 full listing (narrow rows, cut)" "$narrow_ms"
	printf '%-52s %10s ms\n' "emt-ls --regions -W 80 (1000 regions)" "$regions_ms"
	printf '%-52s %10s ms\n' "emt-ls with --pid --min-size --trigger (all match)" "$filt_ms"
	printf '%-52s %10s ms  (target < 50 ms: %s)\n' "emt-extract --seq $mid (raw)" "$ex_ms" "$(verdict "$ex_ms" 50)"
	printf '%-52s %10s ms\n' "emt-extract --seq $mid -o FILE (streamed, linked)" "$exfile_ms"
	printf '%-52s %10s ms\n' "emt-extract --seq $mid --format elf" "$exelf_ms"
	printf '%-52s %10s ms\n' "emt-diff -q of two consecutive versions" "$diff_ms"
	printf '%-52s %10s ms\n' "emt-extract --all --region (100 files + manifest)" "$all_ms"
} >"$OUT"
cat "$OUT"
