#!/bin/sh
# emt-extract --all: the manifest's file_sha256 checks the files whatever
# the format (sha256 stays the capture's), --force really overwrites files
# and manifest, filters select exactly the captures asked for with the
# right bytes in the right place; -o refuses a directory by name.
# Ground truth: fixtures/archives/sample.emt (its README and emt-ls).
. "$(dirname "$0")/lib.sh"

A="$TOP/fixtures/archives/sample.emt"
EX="$BIN/emt-extract" LS="$BIN/emt-ls"
for t in "$EX" "$LS"; do
	if [ ! -x "$t" ]; then fail readers-extract "$t not built"; exit 0; fi
done
if ! command -v jq >/dev/null 2>&1; then skip readers-extract "jq not installed"; exit 0; fi
"$LS" --json "$A" >"$T/caps"
# jqt NAME FILTER FILE: jq -e FILTER holds on FILE.
jqt() { if jq -e "$2" "$3" >/dev/null 2>&1; then pass "$1"; else fail "$1" "$(head -c 300 "$3")"; fi; }

for fmt in raw elf hex; do
	d="$T/all-$fmt"
	"$EX" "$A" --all -d "$d" --format "$fmt" 2>/dev/null
	check "--all $fmt: exit 0" test $? -eq 0
	check "--all $fmt: sha256sum -c of file_sha256 passes for every file" sh -c \
		"cd '$d' && jq -r '.[] | .file_sha256 + \"  \" + .file' manifest.json >sums && test \$(wc -l <sums) -eq 8 && sha256sum -c --quiet sums"
	check "--all $fmt: sha256 is still the capture's (as emt-ls --json)" test \
		"$(jq -c '[.[] | [.seq, .sha256]]' "$d/manifest.json")" = "$(jq -s -c '[.[] | [.seq, .sha256]]' "$T/caps")"
done
jqt "--all raw: file_sha256 equals sha256" 'all(.[]; .file_sha256 == .sha256)' "$T/all-raw/manifest.json"
check "--all elf/hex: file_sha256 differs from the capture's sha256" sh -c \
	"jq -e 'all(.[]; .file_sha256 != .sha256)' '$T/all-elf/manifest.json' >/dev/null && jq -e 'all(.[]; .file_sha256 != .sha256)' '$T/all-hex/manifest.json' >/dev/null"

# --force overwrites: spoil one file and the manifest, extract again.
d="$T/all-raw"
f1=$(jq -r '.[0].file' "$d/manifest.json")
printf 'junk' >"$d/$f1"
echo '[]' >"$d/manifest.json"
"$EX" "$A" --all -d "$d" 2>"$T/e"
check "--all without --force refuses the existing manifest (exit 1)" test $? -eq 1
check "--all without --force left the spoiled file alone" test "$(cat "$d/$f1")" = junk
"$EX" "$A" --all -d "$d" --force 2>/dev/null
check "--all --force: exit 0" test $? -eq 0
check "--all --force: the spoiled file holds capture 1 again" test \
	"$(sha256sum <"$d/$f1" | cut -d' ' -f1)" = "$(jq -r 'select(.seq == 1) | .sha256' "$T/caps")"
check "--all --force: manifest rewritten with the 8 captures" test "$(jq length "$d/manifest.json")" -eq 8
check "--all --force: no temporary file left behind" test "$(ls -A "$d" | grep -vc '^0\|^manifest.json$\|^sums$')" -eq 0

# Filters: exactly the captures emt-ls selects, each ELF with the
# capture's bytes at its file offset (0x1000 + page offset) and its
# address, size and entry in the header.
d="$T/f"
"$EX" "$A" --all -d "$d" --pid 4242 --trigger mprotect --format elf 2>/dev/null
check "--all with filters: exit 0" test $? -eq 0
want=$("$LS" --json --pid 4242 --trigger mprotect "$A" | jq -r .seq | tr '\n' ' ')
check "--all with filters: the captures emt-ls selects ($want)" test \
	"$(jq -r '.[].seq' "$d/manifest.json" | tr '\n' ' ')" = "$want"
bad=""
for s in $want; do
	f=$(jq -r ".[] | select(.seq == $s) | .file" "$d/manifest.json")
	size=$(jq -r "select(.seq == $s) | .size" "$T/caps")
	addr=$(jq -r "select(.seq == $s) | .addr" "$T/caps")
	off=$((0x1000 + (addr & 0xfff)))
	got=$(dd if="$d/$f" bs=1 skip="$off" count="$size" 2>/dev/null | sha256sum | cut -d' ' -f1)
	[ "$got" = "$(jq -r "select(.seq == $s) | .sha256" "$T/caps")" ] || bad="$bad $s(bytes)"
	if command -v readelf >/dev/null 2>&1; then
		readelf -lW "$d/$f" | grep -Eq "LOAD +0x0*$(printf '%x' "$off") 0x0*${addr#0x} 0x0*${addr#0x} 0x0*$(printf '%x' "$size") 0x0*$(printf '%x' "$size") " ||
			bad="$bad $s(phdr)"
	fi
done
check "--all with filters: every ELF holds its capture's bytes at its address${bad:+ (bad:$bad)}" test -z "$bad"
jqt "--all with filters: manifest says elf and not damaged" 'all(.[]; .format == "elf" and .damaged == false)' "$d/manifest.json"

# -o names a file: a directory is refused as such, with or without --force.
mkdir "$T/outdir"
for f in "" --force; do
	# shellcheck disable=SC2086
	"$EX" "$A" --seq 2 -o "$T/outdir" $f >"$T/o" 2>"$T/e"
	check "-o DIR $f: exit 1" test $? -eq 1
	check "-o DIR $f: says it is a directory" grep -q "^emt-extract: cannot create '.*outdir': is a directory" "$T/e"
	check "-o DIR $f: not 'File exists'" sh -c "! grep -q 'File exists' '$T/e'"
	check "-o DIR $f: directory left empty" test -z "$(ls -A "$T/outdir")"
done
"$EX" "$A" --seq 2 -o "$T/outdir" -f hex >"$T/o" 2>"$T/e"
check "-o DIR -f hex: says it is a directory" grep -q "is a directory" "$T/e"
: >"$T/plain"
"$EX" "$A" --all -d "$T/plain" >"$T/o" 2>"$T/e"
check "--all -d FILE: exit 1, not a directory" sh -c "test $? -eq 1 && grep -q \"^emt-extract: cannot open directory '.*plain': \" '$T/e'"
