#!/bin/sh
# Command-line robustness of every tool (issue 6, "command-line"): each
# malformed option or value is a usage error: exit 2, a message on stderr
# starting with the tool's name, nothing on stdout, and (emt-capture) no
# archive created and no command run.  --help exits 0 on stdout, --version
# exits 0.  test_readers_cli.sh covers the readers' option semantics in
# depth; this script covers emt-capture completely and the malformed forms
# common to all tools (missing values, signs, overflow, junk after
# numbers, empty values).  Needs no root: usage errors come first.
. "$(dirname "$0")/lib.sh"

A="$TOP/fixtures/archives/sample.emt"
TOOLS="emt-capture emt-ls emt-extract emt-diff emt-verify emt-scan emt-keygen emt-learn"
for t in $TOOLS; do
	if [ ! -x "$BIN/$t" ]; then fail "cli usage" "$t not built"; exit 0; fi
done
if [ ! -f "$A" ]; then fail "cli usage" "fixtures/archives/sample.emt missing"; exit 0; fi

# usage NAME CMD...: exit 2, "TOOL: " message on stderr, stdout empty.
usage() {
	name=$1; shift
	tool=$(basename "$1")
	"$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
	if [ "$rc" -eq 2 ] && [ -s "$T/err" ] && [ ! -s "$T/out" ] && grep -q "^$tool: " "$T/err"; then
		pass "usage: $name"
	else
		fail "usage: $name" "exit $rc, stdout $(wc -c <"$T/out") bytes, stderr: $(head -c 200 "$T/err")"
	fi
}

# --help, --version: every tool.
for t in $TOOLS; do
	"$BIN/$t" --help >"$T/out" 2>"$T/err"; rc=$?
	if [ $rc -eq 0 ] && [ -s "$T/out" ] && [ ! -s "$T/err" ] && grep -qi '^usage: ' "$T/out"; then
		pass "$t --help: exit 0, usage on stdout, stderr empty"
	else
		fail "$t --help" "exit $rc, stderr: $(head -c 100 "$T/err")"
	fi
	"$BIN/$t" --version >"$T/out" 2>"$T/err"; rc=$?
	if [ $rc -eq 0 ] && grep -q "[0-9]\.[0-9]" "$T/out" && [ ! -s "$T/err" ]; then
		pass "$t --version: exit 0 on stdout"
	else
		fail "$t --version" "exit $rc: $(head -c 100 "$T/out" "$T/err")"
	fi
	# --help wins over other options and writes nothing else
	"$BIN/$t" --help --bogus-after-help >"$T/out" 2>"$T/err"; rc=$?
	check "$t: unknown option after --help is still a usage error or help (exit 0/2, never 1)" \
		test $rc -eq 0 -o $rc -eq 2
	usage "$t unknown long option" "$BIN/$t" --no-such-option "$A"
	usage "$t unknown short option" "$BIN/$t" -Z "$A"
	usage "$t ambiguous/abbreviated junk option" "$BIN/$t" --x "$A"
done

# ------------------------------------------------------------ emt-capture
CAP="$BIN/emt-capture"
O="$T/cap.emt"
MARK="$T/ran"
# A command that would prove it ran; a usage error must run nothing.
RUN="touch $MARK"
# capusage NAME ARGS...: usage error, and no archive, no command run.
capusage() {
	name=$1; shift
	rm -f "$O" "$MARK"
	usage "emt-capture $name" "$CAP" "$@"
	if [ -e "$O" ] || [ -e "$MARK" ]; then
		fail "emt-capture $name: nothing created" "$( [ -e "$O" ] && echo archive created) $( [ -e "$MARK" ] && echo command ran)"
	fi
}
capusage "no -o" -- sh -c "$RUN"
capusage "-o without value" -o
capusage "-o empty" -o "" -- sh -c "$RUN"
capusage "neither command nor -p" -o "$O"
capusage "-p and a command" -o "$O" -p 1 -- sh -c "$RUN"
capusage "-p without value" -o "$O" -p
capusage "-p abc" -o "$O" -p abc
capusage "-p 12abc" -o "$O" -p 12abc
capusage "-p -5" -o "$O" -p -5
capusage "-p 0" -o "$O" -p 0
capusage "--attach-filter without -p" -o "$O" --mode ptrace --attach-filter -- sh -c "$RUN"
capusage "--attach-filter in bpf mode" -o "$O" --attach-filter -p 1
capusage "-p overflow 2^32" -o "$O" -p 4294967296
capusage "-p overflow 2^64" -o "$O" -p 18446744073709551616
capusage "-p empty" -o "$O" -p ""
capusage "--mode without value" -o "$O" --mode
capusage "--mode bogus" -o "$O" --mode bogus -- sh -c "$RUN"
capusage "--mode empty" -o "$O" --mode "" -- sh -c "$RUN"
capusage "--mode BPF (case)" -o "$O" --mode BPF -- sh -c "$RUN"
capusage "--duration abc" -o "$O" --duration abc -- sh -c "$RUN"
capusage "--duration -1" -o "$O" --duration -1 -- sh -c "$RUN"
capusage "--duration 1e400" -o "$O" --duration 1e400 -- sh -c "$RUN"
capusage "--duration nan" -o "$O" --duration nan -- sh -c "$RUN"
capusage "--duration inf" -o "$O" --duration inf -- sh -c "$RUN"
capusage "--duration overflow" -o "$O" --duration 99999999999999999999 -- sh -c "$RUN"
capusage "--duration 5x" -o "$O" --duration 5x -- sh -c "$RUN"
capusage "--rwx-interval abc" -o "$O" --rwx-interval abc -- sh -c "$RUN"
capusage "--rwx-interval -5" -o "$O" --rwx-interval -5 -- sh -c "$RUN"
capusage "--rwx-interval overflow" -o "$O" --rwx-interval 99999999999999999999 -- sh -c "$RUN"
capusage "--rwx-interval 2^32" -o "$O" --rwx-interval 4294967296 -- sh -c "$RUN"
capusage "--ringbuf-size abc" -o "$O" --ringbuf-size abc -- sh -c "$RUN"
capusage "--ringbuf-size 1000 (not a power of two)" -o "$O" --ringbuf-size 1000 -- sh -c "$RUN"
capusage "--ringbuf-size -4096" -o "$O" --ringbuf-size -4096 -- sh -c "$RUN"
capusage "--ringbuf-size 0" -o "$O" --ringbuf-size 0 -- sh -c "$RUN"
capusage "--ringbuf-size overflow" -o "$O" --ringbuf-size 99999999999999999999 -- sh -c "$RUN"
capusage "--ringbuf-size 16g (over 32 bits)" -o "$O" --ringbuf-size 16g -- sh -c "$RUN"
capusage "--zstd-level abc" -o "$O" --zstd-level abc -- sh -c "$RUN"
capusage "--zstd-level 1000" -o "$O" --zstd-level 1000 -- sh -c "$RUN"
capusage "--zstd-level overflow" -o "$O" --zstd-level 99999999999999999999 -- sh -c "$RUN"
capusage "--zstd-level empty" -o "$O" --zstd-level "" -- sh -c "$RUN"
capusage "unknown option after -o" -o "$O" --bogus -- sh -c "$RUN"
capusage "option value with junk" -o "$O" --rwx-interval 10ms -- sh -c "$RUN"

# ------------------------------------------------------------ readers
# Forms not in test_readers_cli.sh: values missing at the end of the
# line, negative and signed numbers, empty archive names.
LS="$BIN/emt-ls" EX="$BIN/emt-extract" DF="$BIN/emt-diff" VF="$BIN/emt-verify"
usage "emt-ls --pid missing value" "$LS" "$A" --pid
usage "emt-ls --pid +1" "$LS" --pid +1 "$A"
usage "emt-ls --region -1" "$LS" --region -1 "$A"
usage "emt-ls --region overflow" "$LS" --region 99999999999999999999 "$A"
usage "emt-ls --min-size -1" "$LS" --min-size -1 "$A"
usage "emt-ls --width -1" "$LS" --width -1 "$A"
usage "emt-ls --width overflow" "$LS" --width 99999999999999999999 "$A"
usage "emt-ls --trigger empty" "$LS" --trigger "" "$A"
usage "emt-extract --seq missing value" "$EX" "$A" --seq
usage "emt-extract --seq -1" "$EX" "$A" --seq -1
usage "emt-extract --seq 1x" "$EX" "$A" --seq 1x
usage "emt-extract --format missing value" "$EX" "$A" --seq 1 --format
usage "emt-extract --format empty" "$EX" "$A" --seq 1 --format ""
usage "emt-extract --format RAW (case)" "$EX" "$A" --seq 1 --format RAW
usage "emt-extract -d missing value" "$EX" "$A" --all -d
usage "emt-extract --trigger bogus" "$EX" "$A" --all -d "$T/xd" --trigger bogus
usage "emt-extract --min-size -1" "$EX" "$A" --all -d "$T/xd" --min-size -1
usage "emt-extract no archive" "$EX" --seq 1
usage "emt-diff --context -1" "$DF" --context -1 "$A" 1 3
usage "emt-diff --context missing value" "$DF" "$A" 1 3 --context
usage "emt-diff seq -1" "$DF" "$A" -- -1 3
usage "emt-diff seq overflow" "$DF" "$A" 1 18446744073709551616
usage "emt-diff --region -1" "$DF" --region -1 "$A"
usage "emt-diff --region 0" "$DF" --region 0 "$A"
usage "emt-diff no archive" "$DF"
usage "emt-verify no archive" "$VF"
usage "emt-verify --quiet no archive" "$VF" --quiet
[ -e "$T/xd" ] && fail "emt-extract usage errors create no directory" || pass "emt-extract usage errors create no directory"

# An empty or missing archive name is not a usage error but a failure to
# open (exit 1, or 2 "trouble" for emt-verify and emt-diff): one clear
# message naming the file, stdout empty.
for t in emt-ls emt-extract emt-diff emt-verify; do
	case $t in
	emt-extract) "$BIN/$t" "" --seq 1 >"$T/out" 2>"$T/err";;
	emt-diff) "$BIN/$t" "" 1 2 >"$T/out" 2>"$T/err";;
	*) "$BIN/$t" "" >"$T/out" 2>"$T/err";;
	esac
	rc=$?
	if [ $rc -ne 0 ] && [ $rc -le 2 ] && [ ! -s "$T/out" ] && grep -q "^$t: cannot open '': " "$T/err"; then
		pass "$t '': exit $rc, names the file"
	else
		fail "$t ''" "exit $rc: $(head -c 200 "$T/err")"
	fi
	if grep -q "cannot open '': cannot open ''" "$T/err"; then
		fail "$t '': message not repeated" "$(head -c 200 "$T/err")"
	else
		pass "$t '': message not repeated"
	fi
done
