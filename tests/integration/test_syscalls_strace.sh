#!/bin/sh
# The syscall recorder against strace, call for call, on the same run:
# emt-capture --syscalls all (bpf mode) runs strace -f, which runs
# `python3 -c 'import json'`; bench/strace_compare.py aligns, per thread
# strace shows, the syscall names of both and compares every return value
# and every argument strace prints as a number or a string.  Nothing may
# be missing, extra or different (rt_sigreturn's return, which no exit
# tracepoint names, is the one known class, counted apart).
. "$(dirname "$0")/lib.sh"

need_built "syscalls vs strace" "$BIN/emt-capture" "$BIN/emt-ls" || exit 0
for tool in strace python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		skip "syscalls vs strace" "no $tool"
		exit 0
	fi
done
need_engine "syscalls vs strace" bpf || exit 0

(cd "$T" && timeout 300 "$BIN/emt-capture" -q --syscalls all --syscall-bytes 4096 -o "$T/s.emt" -- \
	strace -f -qq -v -s 65536 -X raw -o "$T/s.st" python3 -c 'import json') >"$T/cap.out" 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
	fail "syscalls vs strace: capture" "exit $rc: $(tail -c 300 "$T/cap.out")"
	exit 0
fi
"$BIN/emt-ls" --events --json "$T/s.emt" >"$T/s.json"
python3 "$TOP/bench/strace_compare.py" "$T/s.st" "$T/s.json" >"$T/cmp.txt" 2>&1
rc=$?
calls=$(awk '/^strace calls/ { print $NF }' "$T/cmp.txt")
matched=$(awk '/^calls matched/ { print $NF }' "$T/cmp.txt")
if [ "$rc" -eq 0 ] && [ -n "$calls" ] && [ "$calls" -gt 1000 ] && [ "$calls" = "$matched" ]; then
	pass "syscalls vs strace: $matched of $calls calls match (name, return, arguments)"
else
	fail "syscalls vs strace" "$(grep -E '^(MISMATCH|MISSING|EXTRA|strace calls|calls matched|result)' "$T/cmp.txt" | head -n 8 | tr '\n' ';')"
fi
exit 0
