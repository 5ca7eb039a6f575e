#!/bin/sh
# vmtest - bpf mode on another kernel: boots KERNEL in qemu (TCG: these
# machines have no KVM) with an initramfs made here from busybox and the
# project's binaries, and inside it runs bpf-check (every program, hook
# set and configuration) and emt-capture of fx_wx in both hook sets,
# whose captures check-recall compares byte for byte with the fixture's
# ground truth.  Prints one closing line per kernel:
#
#   vmtest 6.1.0-57-amd64: 88 programs loaded, hooks mmap-lock, fx_wx 5/5 byte-exact
#
# and exits non-zero on any failure.
#
# Usage: tools/dev/vmtest.sh [KERNEL...]
#   6.1       Debian 12's stock kernel: linux-image-amd64 from Debian's
#             packages, unpacked under $BUILD/vmtest (nothing is installed
#             on the host's /boot)
#   running   the same checks on the running kernel, without a VM
#   PATH      a bzImage/vmlinuz of your own (it must have BTF built in)
# Default: 6.1 running.  `make vmtest KERNEL="6.1 running"` runs this.
#
# Needs root (apt-get, BPF), qemu-system-x86 and busybox-static from
# Debian's packages (installed here when missing), and a built tree
# ($BUILD, default build).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD";; esac
VM="$BUILD/vmtest"
TIMEOUT=${EMT_VMTEST_TIMEOUT:-1500}     # seconds per guest boot, TCG is slow
MEM=${EMT_VMTEST_MEM:-1536}
[ $# -gt 0 ] || set -- 6.1 running

die() { echo "vmtest: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (BPF in the guest's payload, apt-get)"
for b in "$BUILD/dev/bpf-check" "$BUILD/bin/emt-capture" "$BUILD/bin/emt-ls" \
	"$BUILD/tests/tools/check-recall" "$BUILD/fixtures/fx_wx" "$BUILD/fixtures/fx_takeover" \
	"$BUILD/bin/emt-learn"; do
	[ -x "$b" ] || die "'$b' not built (run make first)"
done

# need_pkgs PKG...: installs the Debian packages that are missing.
need_pkgs() {
	miss=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			miss="$miss $p"
	done
	[ -z "$miss" ] && return 0
	echo "vmtest: installing$miss"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $miss \
		>"$VM/apt.log" 2>&1 || { tail -n 20 "$VM/apt.log" >&2; die "cannot install$miss"; }
}

mkdir -p "$VM" || die "cannot create '$VM'"

# The checks, as a script that runs the same in the guest and on the
# host: every line the host parses starts with "VMTEST ".
payload() {
	cat <<'EOF'
#!/bin/sh
# $1: directory of the binaries; $2: scratch directory.
B=$1 W=$2
export PATH="$B:$PATH"
echo "VMTEST kernel $(uname -r)"
if bpf-check -q >"$W/bpf-check.out" 2>&1; then rc=0; else rc=$?; fi
cat "$W/bpf-check.out"
echo "VMTEST bpf-check rc=$rc $(tail -n 1 "$W/bpf-check.out")"
for hooks in default syscalls; do
	rm -f "$W/wx-$hooks.emt"
	if [ "$hooks" = default ]; then h=; else h=$hooks; fi
	EMT_BPF_HOOKS=$h emt-capture -q -o "$W/wx-$hooks.emt" -- fx_wx \
		>"$W/wx-$hooks.truth" 2>"$W/wx-$hooks.err"
	rc=$?
	sed "s/^/[$hooks] /" "$W/wx-$hooks.err"
	used=$(emt-ls "$W/wx-$hooks.emt" 2>/dev/null | sed -n 's/^hooks  *//p')
	check-recall --require-gapless "$W/wx-$hooks.emt" "$W/wx-$hooks.truth" >"$W/wx-$hooks.cr" 2>&1
	crc=$?
	echo "VMTEST capture $hooks rc=$rc recall_rc=$crc hooks=${used:-?} $(grep '^recall:' "$W/wx-$hooks.cr")"
	[ "$crc" -eq 0 ] || head -n 8 "$W/wx-$hooks.cr"
done
# The syscall recorder (its own BPF object, attached to per-syscall
# tracepoints; tracefs is not mounted in the guest: it mounts it).
rm -f "$W/sys.emt"
emt-capture -q --syscalls openat,execve,exit_group -o "$W/sys.emt" -- fx_wx \
	>/dev/null 2>"$W/sys.err"
rc=$?
sed "s/^/[sysrec] /" "$W/sys.err"
n=$(emt-ls -n --events --syscall openat,execve -W 0 "$W/sys.emt" 2>/dev/null | grep -cE ' (openat|execve)\(')
echo "VMTEST sysrec rc=$rc calls=$n"
# The syscall model check (its own BPF object on the raw sys_enter): a
# model of fx_takeover learned on the host (model.json beside the
# binaries, its path the one fx_takeover has here), then its connect
# shellcode: an alert at socket with a capture.  Its input is this
# script (the guest has no /etc/hostname): one read and the end, as the
# host's model learned.
rm -f "$W/model.emt"
emt-capture -q --model "$B/model.json" --alert-rate 1000 -o "$W/model.emt" -- \
	fx_takeover --rounds 3 --input "$0" connect >/dev/null 2>"$W/model.err"
rc=$?
sed "s/^/[model] /" "$W/model.err"
emt-ls --alerts --json "$W/model.emt" >"$W/model.json.out" 2>&1
emt-ls --alerts -n -W 0 "$W/model.emt" 2>&1 | head -n 20 | sed "s/^/[model] /"
n=$(grep -c '"name":"socket","syscalls".*"captures":\[[0-9]' "$W/model.json.out")
echo "VMTEST model rc=$rc socket_alerts_captured=$n alerts=$(grep -c '"id"' "$W/model.json.out")"
echo "VMTEST done"
EOF
}

# summarize LOG: the closing line for one kernel; non-zero on failure.
summarize() {
	# The guest's console may put escape sequences before a line.
	log=$1.clean
	tr -d '\r' <"$1" | sed -n 's/.*\(VMTEST .*\)/\1/p' >"$log"
	kver=$(sed -n 's/^VMTEST kernel //p' "$log" | tr -d '\r' | head -n 1)
	if ! grep -q '^VMTEST done' "$log"; then
		echo "vmtest ${kver:-$2}: FAILED: the checks did not finish (see $1)"
		return 1
	fi
	bc=$(grep '^VMTEST bpf-check ' "$log" | tr -d '\r')
	nprog=$(echo "$bc" | sed -n 's/.* \([0-9]*\) programs loaded.*/\1/p')
	deep=$(echo "$bc" | sed -n 's/.*deepest stack \([0-9]*\) bytes.*/\1/p')
	ok=1
	case "$bc" in *" rc=0 "*) ;; *) ok=0;; esac
	line="vmtest $kver: ${nprog:-0} programs loaded (deepest stack ${deep:-?} bytes)"
	for hooks in default syscalls; do
		cl=$(grep "^VMTEST capture $hooks " "$log" | tr -d '\r')
		used=$(echo "$cl" | sed -n 's/.* hooks=\([^ ]*\).*/\1/p')
		rec=$(echo "$cl" | sed -n 's/.*recall: \([0-9]*\/[0-9]*\).*/\1/p')
		case "$cl" in *" rc=0 recall_rc=0 "*) ;; *) ok=0;; esac
		if [ "$hooks" = default ]; then
			line="$line, hooks $used, fx_wx ${rec:-0/?} byte-exact"
		else
			line="$line; forced $used: fx_wx ${rec:-0/?} byte-exact"
		fi
	done
	sr=$(grep '^VMTEST sysrec ' "$log" | tr -d '\r')
	srn=$(echo "$sr" | sed -n 's/.* calls=\([0-9]*\).*/\1/p')
	case "$sr" in *" rc=0 "*) [ "${srn:-0}" -gt 0 ] || ok=0;; *) ok=0;; esac
	line="$line; --syscalls ${srn:-0} openat/execve calls"
	ml=$(grep '^VMTEST model ' "$log" | tr -d '\r')
	mn=$(echo "$ml" | sed -n 's/.* socket_alerts_captured=\([0-9]*\).*/\1/p')
	case "$ml" in *" rc=0 "*) [ "${mn:-0}" -gt 0 ] || ok=0;; *) ok=0;; esac
	line="$line; --model: fx_takeover's shellcode alert at socket captured ${mn:-0}x"
	if [ $ok -eq 1 ]; then echo "$line"; return 0; fi
	echo "$line: FAILED (see $1)"
	return 1
}

# host_model DEST PATH: a depth-2 model of fx_takeover learned here from
# a --syscalls all capture of its benign rounds (once), its program's path
# set to PATH, where the checks find the same binary (same SHA-256).
host_model() {
	if [ ! -s "$VM/model-host.json" ]; then
		rm -f "$VM/model-learn.emt"
		"$BUILD/bin/emt-capture" -q --syscalls all -o "$VM/model-learn.emt" -- \
			"$BUILD/fixtures/fx_takeover" --rounds 3 >/dev/null 2>"$VM/model-learn.err" ||
			die "cannot capture fx_takeover for its model: $(head -c 300 "$VM/model-learn.err")"
		"$BUILD/bin/emt-learn" -q -f -o "$VM/model-host.json" "$VM/model-learn.emt" ||
			die "emt-learn failed"
	fi
	real=$(readlink -f "$BUILD/fixtures/fx_takeover")
	sed "s|\"path\": \"$real\"|\"path\": \"$2\"|" "$VM/model-host.json" >"$1"
}

# run_guest VMLINUZ NAME: boots it with the payload in an initramfs.
run_guest() {
	kimg=$1 name=$2
	need_pkgs qemu-system-x86 busybox-static cpio
	root="$VM/root-$name"
	rm -rf "$root" && mkdir -p "$root/bin" "$root/emt" "$root/proc" "$root/sys" \
		"$root/dev" "$root/tmp" "$root/run" || die "cannot create '$root'"
	cp /bin/busybox "$root/bin/busybox" || die "busybox-static missing"
	for a in sh mount mkdir cat sed grep head tail tr rm poweroff sleep uname echo ls; do
		ln -sf busybox "$root/bin/$a"
	done
	for b in "$BUILD/dev/bpf-check" "$BUILD/bin/emt-capture" "$BUILD/bin/emt-ls" \
		"$BUILD/tests/tools/check-recall" "$BUILD/fixtures/fx_wx" "$BUILD/fixtures/fx_takeover"; do
		cp "$b" "$root/emt/" || die "cannot copy '$b'"
		# The shared libraries they need, at the paths they are found.
		ldd "$b" | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' |
		while read -r lib; do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
	host_model "$root/emt/model.json" /emt/fx_takeover
	payload >"$root/emt/checks.sh"
	cat >"$root/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /tmp/w
sh /emt/checks.sh /emt /tmp/w
poweroff -f
EOF
	chmod 0755 "$root/init" "$root/emt/checks.sh"
	(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$VM/initrd-$name.gz" ||
		die "cannot make the initramfs"
	log="$VM/$name.log"
	echo "vmtest: booting $kimg under qemu (TCG, ${MEM} MiB), log in $log"
	t0=$(date +%s)
	timeout "$TIMEOUT" qemu-system-x86_64 -machine accel=tcg -cpu max -smp 2 -m "$MEM" \
		-nographic -no-reboot -kernel "$kimg" -initrd "$VM/initrd-$name.gz" \
		-append "console=ttyS0 panic=-1 rdinit=/init loglevel=4" >"$log" 2>&1
	rc=$?
	echo "vmtest: guest ran $(( $(date +%s) - t0 )) s (qemu exit $rc)"
	grep -a '^VMTEST\|^bpf-check\|^\[\|REFUSED\|OVER BUDGET\|MISSING' "$log" | tr -d '\r' |
		grep -v '^\[ *[0-9]*\.[0-9]*\]' | sed 's/^/    /'
	summarize "$log" "$name"
}

# debian_kernel: unpacks Debian's linux-image-amd64 (its current
# versioned image) under $VM and prints the vmlinuz path.
debian_kernel() {
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
	[ -n "$pkg" ] || { apt-get update -q >/dev/null 2>&1; pkg=$(apt-cache depends linux-image-amd64 |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1); }
	[ -n "$pkg" ] || die "cannot resolve Debian's linux-image-amd64"
	dir="$VM/$pkg"
	img=$(ls "$dir"/boot/vmlinuz-* 2>/dev/null | head -n 1)
	if [ -z "$img" ]; then
		mkdir -p "$VM/debs" "$dir"
		(cd "$VM/debs" && apt-get download -q "$pkg" >"$VM/download.log" 2>&1) ||
			{ tail -n 5 "$VM/download.log" >&2; die "cannot download $pkg"; }
		dpkg -x "$VM/debs/${pkg}_"*.deb "$dir" || die "cannot unpack $pkg"
		img=$(ls "$dir"/boot/vmlinuz-* 2>/dev/null | head -n 1)
	fi
	[ -n "$img" ] || die "no vmlinuz in $pkg"
	echo "$img"
}

status=0
summary=""
for k in "$@"; do
	case $k in
	running)
		w="$VM/running"
		rm -rf "$w" && mkdir -p "$w/bin"
		for b in "$BUILD/dev/bpf-check" "$BUILD/bin/emt-capture" "$BUILD/bin/emt-ls" \
			"$BUILD/tests/tools/check-recall" "$BUILD/fixtures/fx_wx" \
			"$BUILD/fixtures/fx_takeover"; do
			ln -s "$b" "$w/bin/"
		done
		host_model "$w/bin/model.json" "$(readlink -f "$BUILD/fixtures/fx_takeover")"
		payload >"$w/checks.sh"
		sh "$w/checks.sh" "$w/bin" "$w" >"$VM/running.log" 2>&1
		out=$(summarize "$VM/running.log" running) || status=1
		;;
	6.1|debian)
		img=$(debian_kernel) || exit 1
		out=$(run_guest "$img" debian-6.1) || status=1
		;;
	*)
		[ -r "$k" ] || die "kernel image '$k' not found (want 6.1, running or a path)"
		out=$(run_guest "$k" "$(basename "$k")") || status=1
		;;
	esac
	echo "$out" | sed '$d'
	summary="$summary$(echo "$out" | tail -n 1)
"
done
printf '%s' "$summary"
exit $status
