#!/bin/sh
# Install every Debian 12 package emt needs to build, test and benchmark.
# Idempotent and quiet when everything is already there.
set -eu

# Build and library dependencies.
BUILD_PKGS="make gcc clang llvm libbpf-dev libelf-dev zlib1g-dev libsqlite3-dev \
libzstd-dev libssl-dev libcmocka-dev libcapstone-dev libyara-dev libjansson-dev bpftool pkg-config"
# Tools used by tests and benchmarks (real JITs, oracles, comparison tracers).
TEST_PKGS="zstd sqlite3 python3 binutils strace bpftrace luajit php8.2-cli \
php8.2-opcache qemu-user hyperfine valgrind file jq bc procps bsdextrautils xxd \
libcap2-bin util-linux openjdk-17-jdk-headless nodejs linux-perf"

missing=""
for p in $BUILD_PKGS $TEST_PKGS ${EMT_EXTRA_PKGS:-}; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
