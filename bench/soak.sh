#!/bin/sh
# Soak: several processes generating code as fast as they can (fx_longrun
# rewriting and re-protecting 8 KiB of code back to back, each version
# distinct and incompressible), captured for EMT_SOAK_SECONDS (default 60)
# in each configuration:
#   bpf-lossless      bpf mode, --lossless (targets held when userspace lags)
#   bpf-lossy         bpf mode, --no-lossless (records dropped and counted)
#   bpf-lossy-small   --no-lossless with a 256 KiB ring, to force drops
#   ptrace            ptrace mode (no ring: lossless by construction)
# For each: peak memory of emt-capture (VmHWM, sampled from /proc every
# 0.5 s, plus VmRSS after one and three quarters of the run to show any
# growth), whether the capture ended by itself when the targets did
# (ended=targets) or had to be stopped by a watchdog EMT_SOAK_GRACE s
# (default 60) later (ended=hung),
# captures and captures/s, raw and stored bytes, lost events recorded in
# the archive, and recall against the fixtures' ground truth (images
# missing).  Results are appended to bench/results/soak.txt (or
# $EMT_SOAK_OUT), one "RUN key=value ..." line per configuration after a
# readable header; tests/integration/test_reliability_load.sh runs a short
# version and checks those lines.
#
# usage: [EMT_SOAK_SECONDS=N] [EMT_SOAK_PROCS=P] [EMT_SOAK_CONFIGS="..."] sh bench/soak.sh
# Needs root.  BUILD selects the build directory (default build).
. "$(dirname "$0")/lib.sh"
bench_init soak
BIN="$BUILD/bin"
FIX="$BUILD/fixtures"
SECS=${EMT_SOAK_SECONDS:-60}
PROCS=${EMT_SOAK_PROCS:-4}
CONFIGS=${EMT_SOAK_CONFIGS:-bpf-lossless bpf-lossy bpf-lossy-small ptrace}
OUT=${EMT_SOAK_OUT:-$TOP/bench/results/soak.txt}
GRACE=${EMT_SOAK_GRACE:-60}

BENCH_FAIL=2
bench_need_built "$BIN/emt-capture" "$BIN/emt-ls" "$FIX/fx_longrun"
bench_need_root

kb() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$2/status" 2>/dev/null; }

# run CONFIG
run() {
	cfg=$1
	case "$cfg" in
	bpf-lossless)    opts="--mode bpf --lossless";;
	bpf-lossy)       opts="--mode bpf --no-lossless";;
	bpf-lossy-small) opts="--mode bpf --no-lossless --ringbuf-size 256k";;
	ptrace)          opts="--mode ptrace";;
	*) echo "soak: unknown configuration $cfg" >&2; return;;
	esac
	a="$T/$cfg.emt"
	# The targets: PROCS writers for SECS seconds, started by one shell
	# (followed as children); each prints its own ground truth.
	# shellcheck disable=SC2086
	"$BIN/emt-capture" -q $opts -o "$a" -- sh -c '
		n=$1 s=$2 fx=$3; i=0
		while [ $i -lt "$n" ]; do "$fx" --seconds "$s" --delay-ms 0 --interval-ms 0 & i=$((i + 1)); done
		wait' soak "$PROCS" "$SECS" "$FIX/fx_longrun" >"$T/$cfg.out" 2>"$T/$cfg.err" &
	cap=$!
	t0=$(date +%s%N)
	hwm=0 rss_q1="" rss_q3="" rss_last=0 samples=0 ended=targets
	while kill -0 "$cap" 2>/dev/null; do
		h=$(kb VmHWM "$cap"); r=$(kb VmRSS "$cap")
		[ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
		el=$(( ($(date +%s%N) - t0) / 1000000 ))
		if [ -n "$r" ]; then
			rss_last=$r
			[ -z "$rss_q1" ] && [ "$el" -ge $((SECS * 250)) ] && rss_q1=$r
			[ -z "$rss_q3" ] && [ "$el" -ge $((SECS * 750)) ] && rss_q3=$r
		fi
		# Watchdog: the targets end after SECS; a capture still running
		# GRACE seconds later has not noticed (recorded as ended=hung,
		# then stopped with SIGINT, then SIGKILL).
		if [ "$el" -ge $(( (SECS + GRACE) * 1000 )) ] && [ "$ended" = targets ]; then
			ended=hung
			kill -INT "$cap" 2>/dev/null
		elif [ "$el" -ge $(( (SECS + GRACE + 30) * 1000 )) ]; then
			ended=killed
			kill -KILL "$cap" 2>/dev/null
		fi
		samples=$((samples + 1))
		sleep 0.5
	done
	wait "$cap"; rc=$?
	el=$(( ($(date +%s%N) - t0) / 1000000 ))
	"$BIN/emt-ls" "$a" >"$T/$cfg.ls" 2>&1
	caps=$(sed -n 's/^counts .* \([0-9]*\) captures.*/\1/p' "$T/$cfg.ls")
	lost=$(sed -n 's/^lost *\([0-9]*\) events.*/\1/p' "$T/$cfg.ls")
	raw=$(sed -n 's/^bytes *\([0-9]*\) raw.*/\1/p' "$T/$cfg.ls")
	stored=$(sed -n 's/^bytes *[0-9]* raw, \([0-9]*\) stored.*/\1/p' "$T/$cfg.ls")
	truth=$(grep -c '^EMT-TRUTH ' "$T/$cfg.out")
	# Recall by exact (pid, addr, size, sha256) join: fx_longrun's images
	# are whole ranges made executable, captured as such (check-recall's
	# covering search is too slow for 10^5 images).
	"$BIN/emt-ls" --json "$a" 2>/dev/null | sed -n 's/.*"pid":\([0-9]*\),.*"addr":"\(0x[0-9a-f]*\)".*"size":\([0-9]*\),.*"sha256":"\([0-9a-f]*\)".*/\1 \2 \3 \4/p' >"$T/$cfg.caps"
	found=$(awk 'FNR == NR { have[$0] = 1; next }
		$1 == "EMT-TRUTH" {
			delete f
			for (i = 2; i <= NF; i++) { j = index($i, "="); f[substr($i, 1, j - 1)] = substr($i, j + 1) }
			if ((f["pid"] " " f["addr"] " " f["size"] " " f["sha256"]) in have) n++
		}
		END { print n + 0 }' "$T/$cfg.caps" "$T/$cfg.out")
	missing=$(( ${truth:-0} - ${found:-0} ))
	ok=$(grep -c ' versions ok$' "$T/$cfg.out")
	size=$(stat -c %s "$a" 2>/dev/null)
	rate=$(( ${caps:-0} * 1000 / (el > 0 ? el : 1) ))
	printf 'RUN config=%s procs=%s seconds=%s elapsed_ms=%s ended=%s rc=%s targets_ok=%s captures=%s captures_per_s=%s raw_bytes=%s stored_bytes=%s archive_bytes=%s lost_events=%s truth_images=%s missing_images=%s vmhwm_kb=%s vmrss_q1_kb=%s vmrss_q3_kb=%s vmrss_last_kb=%s samples=%s\n' \
		"$cfg" "$PROCS" "$SECS" "$el" "$ended" "$rc" "$ok" "${caps:-?}" "$rate" "${raw:-?}" "${stored:-?}" "${size:-?}" \
		"${lost:-?}" "$truth" "$missing" "$hwm" "${rss_q1:-?}" "${rss_q3:-?}" "$rss_last" "$samples" | tee -a "$OUT"
	[ "$rc" -eq 0 ] || sed 's/^/  stderr: /' "$T/$cfg.err" | head -n 5 | tee -a "$OUT"
}

mkdir -p "$(dirname "$OUT")"
{
	echo "# soak $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n), kernel $(uname -r), $(nproc) CPUs, $(sed -n 's/^MemTotal: *//p' /proc/meminfo) RAM"
	echo "# $PROCS x fx_longrun --interval-ms 0 for $SECS s per configuration; emt-capture $("$BIN/emt-capture" --version 2>&1 | head -n 1)"
} | tee -a "$OUT"
for c in $CONFIGS; do run "$c"; done
