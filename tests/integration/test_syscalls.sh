#!/bin/sh
# The syscall recorder (emt-capture --syscalls), in bpf and ptrace mode:
#  - fx_syscalls's calls (openat of a path with hostile bytes, a write
#    buffer, a path longer than the bound, connect/accept on TCP and unix
#    sockets, memfd_create, execve with a known argv) are rows of the
#    syscalls table with the same name, return value and arguments, byte
#    for byte (check_syscalls.py);
#  - a call that never returns (exit_group) is a row with returned = 0;
#  - without --syscalls the table stays empty; emt-ls --syscall filters;
#    emt-verify accepts the archive (the table is covered by the seal);
#  - bad lists and options are refused with a message naming them.
. "$(dirname "$0")/lib.sh"

CHK="$(dirname "$0")/check_syscalls.py"
need_built "syscalls" "$BIN/emt-capture" "$BIN/emt-ls" "$BIN/emt-verify" "$FIX/fx_syscalls" || exit 0

# run MODE NAME OPTIONS...: captures fx_syscalls into $T/NAME.emt.
run() {
	mode=$1 name=$2
	shift 2
	rm -f "$T/$name.emt"
	timeout 120 "$BIN/emt-capture" -q --mode "$mode" "$@" -o "$T/$name.emt" -- \
		"$FIX/fx_syscalls" --dir="$T" >"$T/$name.out" 2>"$T/$name.err"
}

for mode in bpf ptrace; do
	need_engine "syscalls $mode" "$mode" || continue
	if ! run "$mode" "$mode" --syscalls openat,write,connect,accept,memfd_create,execve,exit_group \
		--syscall-bytes 64; then
		fail "syscalls $mode: capture" "$(tail -c 400 "$T/$mode.err")"
		continue
	fi
	pass "syscalls $mode: capture"
	if "$BIN/emt-ls" --events --json "$T/$mode.emt" >"$T/$mode.json" 2>"$T/$mode.lserr"; then
		python3 "$CHK" "$T/$mode.out" "$T/$mode.json" "$mode"
	else
		fail "syscalls $mode: emt-ls --events --json" "$(head -c 300 "$T/$mode.lserr")"
	fi
	# exit_group never returns: one row per process, returned = 0.
	n=$(grep -c '"syscall":"exit_group".*"returned":false' "$T/$mode.json")
	check "syscalls $mode: exit_group recorded as not returned ($n rows, want 2)" [ "$n" -eq 2 ]
	# Only chosen syscalls are recorded.
	other=$(grep '"source":"syscalls"' "$T/$mode.json" |
		grep -vc '"syscall":"\(openat\|write\|connect\|accept\|memfd_create\|execve\|exit_group\)"')
	check "syscalls $mode: nothing but the chosen syscalls ($other others)" [ "$other" -eq 0 ]
	"$BIN/emt-ls" -n --events --syscall connect -W 0 "$T/$mode.emt" >"$T/$mode.txt"
	check "syscalls $mode: emt-ls --syscall connect shows connect only" \
		sh -c "grep -q 'connect(' '$T/$mode.txt' && ! grep -q 'openat(' '$T/$mode.txt'"
	check "syscalls $mode: strace-like text of the inet connect" \
		grep -q 'connect([0-9]*, {sa_family=AF_INET, sin_port=htons([0-9]*), sin_addr=inet_addr("127.0.0.1")}, 16) = 0' "$T/$mode.txt"
	check "syscalls $mode: emt-verify accepts the archive" \
		sh -c "'$BIN/emt-verify' -q '$T/$mode.emt' >/dev/null 2>&1"
	rows=$(sqlite3 "$T/$mode.emt" "SELECT count(*) FROM syscalls" 2>/dev/null)
	meta=$(sqlite3 "$T/$mode.emt" "SELECT value FROM meta WHERE key = 'syscalls_rows'" 2>/dev/null)
	check "syscalls $mode: meta syscalls_rows = rows ($meta, $rows)" test -n "$meta" -a "$rows" = "$meta"

	# No list: no rows, the memory timeline unchanged.
	if run "$mode" "$mode-none"; then
		n=$(sqlite3 "$T/$mode-none.emt" "SELECT count(*) FROM syscalls")
		check "syscalls $mode: no rows without --syscalls ($n)" [ "$n" -eq 0 ]
	else
		fail "syscalls $mode: capture without --syscalls" "$(tail -c 300 "$T/$mode-none.err")"
	fi
done

# Refusals: usage errors exit 2, an unknown name or group exits 1 naming it.
"$BIN/emt-capture" -q --syscalls '' -o "$T/bad.emt" -- /bin/true 2>"$T/bad1.err"
check "syscalls: empty list refused (usage)" [ $? -eq 2 ]
"$BIN/emt-capture" -q --syscall-bytes 16 -o "$T/bad.emt" -- /bin/true 2>"$T/bad2.err"
check "syscalls: --syscall-bytes without --syscalls refused" [ $? -eq 2 ]
"$BIN/emt-capture" -q --syscalls openat --syscall-bytes 5000 -o "$T/bad.emt" -- /bin/true 2>"$T/bad3.err"
check "syscalls: --syscall-bytes over 4096 refused" [ $? -eq 2 ]
if [ -z "$(missing_precondition bpf)" ]; then
	"$BIN/emt-capture" -q --syscalls openat,no_such_call -o "$T/bad.emt" -- /bin/true 2>"$T/bad4.err"
	rc=$?
	check "syscalls: unknown syscall refused naming it (exit $rc)" \
		sh -c "[ $rc -eq 1 ] && grep -q \"unknown syscall or group 'no_such_call'\" '$T/bad4.err' && [ ! -e '$T/bad.emt' ]"
	"$BIN/emt-capture" -q --syscalls openat,,close -o "$T/bad.emt" -- /bin/true 2>"$T/bad5.err"
	check "syscalls: empty name in the list refused" [ $? -eq 1 ]
fi
"$BIN/emt-ls" --syscall openat "$FIX/../demo.emt" >/dev/null 2>&1
check "emt-ls: --syscall without --events refused" [ $? -eq 2 ]
exit 0
