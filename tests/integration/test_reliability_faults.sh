#!/bin/sh
# Reliability under faults (issue 6, "faults during capture"), in every
# mode that works here:
#  - the target dies mid-capture (SIGKILL, a crash by SIGSEGV): emt-capture
#    seals, exits 0 and reports how the command ended; everything the
#    target printed as executed is in the archive;
#  - the command cannot be executed (missing, not executable, a
#    directory): a clear error, exit 1, no hang;
#  - a thousand short-lived children and grandchildren, hundreds of
#    threads (fx_forkstorm), and aggressive layout changes (fx_churn:
#    mremap of executable ranges, MAP_FIXED over code, munmap of half a
#    range, a hole punched in the middle): full recall, each image
#    attributed to the right pid (check-recall matches pids), and the
#    regions' histories consistent (every capture inside its region, a
#    region's versions 1..K, no two regions of a process live over the
#    same addresses at the same time);
#  - disk full (a small tmpfs as output directory): emt-capture stops
#    with a clear "no space" error and a non-zero exit, does not hang,
#    the target does not hang, and the archive verifies with everything
#    it committed.
. "$(dirname "$0")/lib.sh"

CAP="$BIN/emt-capture"
LS="$BIN/emt-ls"
VER="$BIN/emt-verify"
CR="$BUILD/tests/tools/check-recall"
STORM_CHILDREN=${EMT_STORM_CHILDREN:-1000}
STORM_THREADS=${EMT_STORM_THREADS:-500}
CHURN_ROUNDS=${EMT_CHURN_ROUNDS:-50}

need_built "reliability faults" "$CAP" "$LS" "$VER" "$CR" "$FIX/fx_longrun" "$FIX/fx_churn" \
	"$FIX/fx_forkstorm" "$FIX/fx_large" || exit 0

# run_bounded SECS OUT ERR CMD...: runs CMD, killed after SECS; prints
# "rc ms" (rc 124 = timed out).
run_bounded() {
	local secs=$1 out=$2 err=$3 t0 rc
	shift 3
	t0=$(date +%s%N)
	timeout -s KILL "$secs" "$@" >"$out" 2>"$err"
	rc=$?
	[ $rc -eq 137 ] && rc=124
	echo "$rc $(( ($(date +%s%N) - t0) / 1000000 ))"
}

# regions_check ARCHIVE: the region histories are consistent.
regions_check() {
	"$LS" --regions --json "$1" >"$1.rj" 2>"$1.rerr" || { echo "emt-ls --regions --json failed: $(head -c 200 "$1.rerr")"; return 1; }
	"$LS" --json "$1" >"$1.cj" 2>"$1.cerr" || { echo "emt-ls --json failed: $(head -c 200 "$1.cerr")"; return 1; }
	awk '
	function js(key,   m) {
		if (match($0, "\"" key "\":\"[^\"]*\"")) { m = substr($0, RSTART, RLENGTH); sub("^\"" key "\":\"", "", m); sub("\"$", "", m); return m }
		if (match($0, "\"" key "\":-?[0-9]+")) { m = substr($0, RSTART, RLENGTH); sub("^\"" key "\":", "", m); return m }
		if (match($0, "\"" key "\":null")) return "null"
		return ""
	}
	function hex(s,   i, c, v) {	# exact up to 2^53, enough for user addresses
		v = 0; s = tolower(s); sub(/^0x/, "", s)
		for (i = 1; i <= length(s); i++) { c = index("0123456789abcdef", substr(s, i, 1)) - 1; v = v * 16 + c }
		return v
	}
	FNR == NR {
		id = js("region"); nr++
		ra[id] = hex(js("addr")); re[id] = hex(js("end")); rp[id] = js("pid")
		rv[id] = js("versions") + 0
		rc[id] = js("created"); rg[id] = js("gone"); if (rg[id] == "null" || rg[id] == "") rg[id] = "~"
		if (re[id] <= ra[id]) { printf "region %s: empty or inverted range\n", id; bad++ }
		if (rg[id] != "~" && rg[id] < rc[id]) { printf "region %s: gone before created\n", id; bad++ }
		np[rp[id]]++; lst[rp[id], np[rp[id]]] = id
		next
	}
	/"seq":/ {
		nc++
		id = js("region"); a = hex(js("addr")); e = hex(js("end")); v = js("version") + 0
		if (!(id in ra)) { printf "seq %s: unknown region %s\n", js("seq"), id; bad++; next }
		if (a < ra[id] || e > re[id]) { printf "seq %s: range outside region %s\n", js("seq"), id; bad++ }
		if (js("pid") != rp[id]) { printf "seq %s: pid %s, region %s of pid %s\n", js("seq"), js("pid"), id, rp[id]; bad++ }
		if ((id, v) in ver) { printf "region %s: version %d twice\n", id, v; bad++ }
		ver[id, v] = 1; cnt[id]++
	}
	END {
		for (id in ra) {
			if (rv[id] != cnt[id] + 0) { printf "region %s: %d versions listed, %d captures\n", id, rv[id], cnt[id]; bad++ }
			for (v = 1; v <= cnt[id]; v++) if (!((id, v) in ver)) { printf "region %s: version %d missing\n", id, v; bad++; break }
		}
		# Two regions of one process overlapping in space and time,
		# unless the younger one was mapped in a hole of the older
		# (a region lives on in its pages still mapped).
		for (p in np) for (i = 1; i <= np[p]; i++) for (j = i + 1; j <= np[p]; j++) {
			x = lst[p, i]; y = lst[p, j]
			if (rc[y] < rc[x]) { z = x; x = y; y = z }
			if (ra[x] <= ra[y] && re[y] <= re[x] && rc[x] < rc[y]) continue
			if (ra[x] < re[y] && ra[y] < re[x] && rc[x] < rg[y] && rc[y] < rg[x]) {
				if (over++ < 3) printf "regions %s and %s of pid %s overlap while both live\n", x, y, p
				bad++
			}
		}
		printf "%d regions, %d captures, %d problems\n", nr, nc, bad
		exit bad > 0
	}' "$1.rj" "$1.cj"
}

# recall_run MODE NAME FIXTURE ARGS...: capture, full recall, regions.
recall_run() {
	local mode=$1 name=$2 base
	shift 2
	base="$T/$name-$mode"
	set -- $(run_bounded 240 "$base.out" "$base.err" "$CAP" -q --mode "$mode" -o "$base.emt" -- "$@") 
	if [ "$1" -ne 0 ]; then fail "$name ($mode)" "emt-capture exit $1 after $2 ms: $(tail -c 300 "$base.err")"; return; fi
	if ! grep -q ' ok$' "$base.out"; then fail "$name ($mode)" "fixture failed under capture: $(tail -c 200 "$base.err")"; return; fi
	if "$CR" --require-gapless "$base.emt" "$base.out" >"$base.cr" 2>&1; then
		pass "$name ($mode): $(grep '^recall:' "$base.cr") in $2 ms"
	else
		fail "$name ($mode)" "$(grep -E '^(MISSING|recall|gaps)|check-recall:' "$base.cr" | head -n 5)"
	fi
	if rc=$(regions_check "$base.emt"); then pass "$name ($mode): regions consistent: $rc"
	else fail "$name ($mode): regions consistent" "$(echo "$rc" | head -n 5 | tr '\n' ' ')"; fi
	"$VER" -q "$base.emt" || fail "$name ($mode): emt-verify" "exit $?"
}

# churn_regions MODE: each fx_churn round maps 9 ranges that become code
# (move: 4 pages, then the 8 they grew to; fixed: a range and its MAP_FIXED
# replacement; half: 8 pages, their lower half the second version; hole:
# 6 pages and the 2 mapped over their middle; shrink: 4 pages, then the 1
# left), all unmapped at the end of the round: 9 regions with code per
# round, one of them with 2 versions, and none alive at the end.
churn_regions() {
	local base="$T/churn $CHURN_ROUNDS rounds-$1" got want
	[ -s "$base.emt.rj" ] || { fail "churn $CHURN_ROUNDS rounds ($1): one region per mapping" "no region list"; return; }
	got=$(jq -s '[.[] | select(.versions > 0)] |
		"\(length) regions with code, \([.[] | select(.versions == 2)] | length) with 2 versions, \([.[] | select(.gone == null)] | length) alive at the end"' "$base.emt.rj")
	want="\"$((9 * CHURN_ROUNDS)) regions with code, $CHURN_ROUNDS with 2 versions, 0 alive at the end\""
	if [ "$got" = "$want" ]; then pass "churn $CHURN_ROUNDS rounds ($1): $got"
	else fail "churn $CHURN_ROUNDS rounds ($1): one region per mapping" "$got, not $want"; fi
}

# target_dies MODE SIG: the launched target is killed by SIG mid-capture.
target_dies() {
	local mode=$1 sig=$2 base tgt i rc lat truth
	base="$T/dies-$mode-$sig"
	: >"$base.out"
	"$CAP" -q --mode "$mode" -o "$base.emt" -- "$FIX/fx_longrun" --seconds 30 --delay-ms 0 --interval-ms 1 \
		>"$base.out" 2>"$base.err" &
	cap=$!
	i=0; while ! grep -q '^EMT-TRUTH' "$base.out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	sleep 1
	tgt=$(sed -n '1s/.*pid=\([0-9]*\) .*/\1/p' "$base.out")
	[ -n "$tgt" ] && kill "-$sig" "$tgt"
	( sleep 20; kill -KILL "$cap" 2>/dev/null ) &
	guard=$!
	t0=$(date +%s%N)
	wait "$cap"; rc=$?
	lat=$(( ($(date +%s%N) - t0) / 1000000 ))
	kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null
	name="target killed by SIG$sig mid-capture ($mode)"
	why=""
	[ -n "$tgt" ] || why="fixture printed no truth line"
	[ $rc -eq 0 ] || why="${why:+$why; }emt-capture exit $rc after $lat ms: $(tail -c 200 "$base.err")"
	"$VER" "$base.emt" >"$base.v" 2>&1 && ! grep -q unsealed "$base.v" || why="${why:+$why; }archive: $(head -c 200 "$base.v")"
	# fx_longrun's second image is its RWX region (truth line 2): bpf
	# mode captures RWX code at exit, which a process killed by a signal
	# reaches without exit_group (the exit tracepoint).
	truth="$base.out"
	"$CR" --require-gapless "$base.emt" "$truth" >"$base.cr" 2>&1 || why="${why:+$why; }$(grep -E '^(MISSING|recall)' "$base.cr" | head -n 3 | tr '\n' ' ')"
	if [ -z "$why" ]; then pass "$name: exit 0 after $lat ms, sealed, $(grep '^recall:' "$base.cr")"
	else fail "$name" "$why"; fi
}

# exec_fails MODE NAME PATH
exec_fails() {
	local mode=$1 name=$2 path=$3 base
	base="$T/exec-$mode-$name"
	set -- $(run_bounded 20 "$base.out" "$base.err" "$CAP" -q --mode "$mode" -o "$base.emt" -- "$path")
	if [ "$1" -eq 1 ] && grep -q "^emt-capture: .*$path" "$base.err" && [ "$(wc -l <"$base.err")" -le 3 ]; then
		pass "exec failure, $name ($mode): exit 1 in $2 ms: $(head -n 1 "$base.err")"
	else
		fail "exec failure, $name ($mode)" "exit $1 after $2 ms: $(head -c 200 "$base.err")"
	fi
}

for mode in bpf ptrace; do
	need_engine "reliability faults ($mode)" "$mode" || continue
	target_dies "$mode" KILL
	target_dies "$mode" SEGV
	exec_fails "$mode" missing /nonexistent/emt-no-such-program
	printf '#!/bin/sh\necho hi\n' >"$T/noexec"; chmod 0644 "$T/noexec"
	exec_fails "$mode" "not executable" "$T/noexec"
	mkdir -p "$T/adir"
	exec_fails "$mode" directory "$T/adir"
	recall_run "$mode" "forkstorm $STORM_CHILDREN children" "$FIX/fx_forkstorm" --children "$STORM_CHILDREN" --threads 64
	recall_run "$mode" "forkstorm $STORM_THREADS threads" "$FIX/fx_forkstorm" --children 0 --threads "$STORM_THREADS" --wave 100
	recall_run "$mode" "churn $CHURN_ROUNDS rounds" "$FIX/fx_churn" --rounds "$CHURN_ROUNDS"
	churn_regions "$mode"
done

# ------------------------------------------------------------ disk full
# disk_full MODE NAME SIZE FIXTURE ARGS...
disk_full() {
	local mode=$1 name=$2 size=$3 mnt base why tag left p
	shift 3
	mnt="$T/full-$mode-$name"
	mkdir -p "$mnt"
	if ! mount -t tmpfs -o "size=$size" emt-full "$mnt" 2>"$T/mount.err"; then
		skip "disk full" "cannot mount a tmpfs: $(head -c 100 "$T/mount.err")"
		return
	fi
	base="$T/full-$mode-$name"
	tag="emtfull-$$-$mode-$size"
	set -- $(run_bounded 60 "$base.out" "$base.err" "$CAP" -q --mode "$mode" -o "$mnt/case.emt" -- "$@" "--tag=$tag")
	why=""
	sleep 0.5
	left=$(pgrep -f -- "$tag")
	if [ -n "$left" ]; then
		why="fixture still running after emt-capture ended: $left"
		for p in $left; do kill -KILL "$p" 2>/dev/null; done
	fi
	[ "$1" -eq 124 ] && why="emt-capture hung (killed after 60 s)"
	[ "$1" -ne 0 ] || why="emt-capture exit 0 on a full disk"
	grep -Eqi 'no space|disk is full|disk full' "$base.err" || why="${why:+$why; }no 'no space' message: $(head -c 200 "$base.err")"
	"$VER" "$mnt/case.emt" >"$base.v" 2>&1; vrc=$?
	[ $vrc -eq 0 ] || why="${why:+$why; }emt-verify exit $vrc: $(head -n 3 "$base.v" | tr '\n' ' ')"
	n=$("$LS" --json "$mnt/case.emt" 2>/dev/null | grep -c '"seq":')
	umount "$mnt" 2>/dev/null || umount -l "$mnt"
	if [ -z "$why" ]; then
		pass "disk full, $name ($mode): exit $1 after $2 ms, '$(grep -Ei 'no space|disk is full|disk full' "$base.err" | head -n 1 | cut -c1-100)', archive verifies ($n captures)"
	else
		fail "disk full, $name ($mode)" "$why"
	fi
}
for mode in bpf ptrace; do
	[ -f "$T/probe-$mode.emt" ] || continue
	disk_full "$mode" "32 MiB capture on 2 MiB" 2m "$FIX/fx_large" --mib 32
	disk_full "$mode" "many versions on 4 MiB" 4m "$FIX/fx_longrun" --seconds 20 --delay-ms 0 --interval-ms 2
done
