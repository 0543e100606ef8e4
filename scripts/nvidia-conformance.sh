#!/usr/bin/env bash
# Checks every size, offset and constant that the ABI crate's NVIDIA modules (rust/abi) claim against
# NVIDIA's own headers, from Debian's nvidia-kernel-source package at the version nvsim
# reports (non-free component of the machine's own Debian mirror). apt runs with private
# state and source lists under the cache: no system file is touched.
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/nvidia-apt.sh"
FAKEGPU_STEP=conformance

NV_VERSION=${NV_VERSION:-535.309.01}
headers=$FAKEGPU_CACHE/nvidia-headers-$NV_VERSION

skip() { nvidia_skip "the NVIDIA ABI was NOT checked against NVIDIA's headers" "$*"; }

if [ ! -f "$headers/.complete" ]; then
  nvidia_apt_sources || skip "no Debian apt sources on this machine"
  say "fetching nvidia-kernel-source $NV_VERSION (private apt state in $NVIDIA_APT_DIR)"
  nvidia_apt apt-get update -qq >"$NVIDIA_APT_DIR/update.log" 2>&1 ||
    skip "apt-get update failed (see $NVIDIA_APT_DIR/update.log)"
  version=$(nvidia_apt_version nvidia-kernel-source "$NV_VERSION")
  [ -n "$version" ] || skip "nvidia-kernel-source $NV_VERSION is not in this mirror"
  work=$(mktemp -d)
  (cd "$work" && nvidia_apt apt-get download -qq "nvidia-kernel-source=$version") >"$NVIDIA_APT_DIR/download.log" 2>&1 ||
    skip "download of nvidia-kernel-source=$version failed (see $NVIDIA_APT_DIR/download.log)"
  dpkg-deb -x "$work"/nvidia-kernel-source_*.deb "$work/pkg"
  rm -rf "$headers" && mkdir -p "$headers"
  tar -xJf "$work/pkg/usr/src/nvidia-kernel.tar.xz" -C "$headers" --strip-components=2 \
    --wildcards 'modules/nvidia-kernel/common/inc/*' 'modules/nvidia-kernel/nvidia-uvm/*.h'
  rm -rf "$work"
  echo "$version" >"$headers/.complete"
fi

out=$FAKEGPU_BUILD/conformance
mkdir -p "$out"
gcc -Wall -Werror -I "$headers/common/inc" -I "$headers/nvidia-uvm" \
  "$FAKEGPU_ROOT/tests/conformance/nv_layout.c" -o "$out/nv_layout"
"$out/nv_layout" >"$out/nvidia-headers.txt"
(cd "$FAKEGPU_ROOT" && cargo run --quiet --locked -p fakegpu-abi --example nv_layout_claims) >"$out/rust-claims.txt"
if ! diff -u "$out/nvidia-headers.txt" "$out/rust-claims.txt" >"$out/diff.txt"; then
  say "the ABI crate disagrees with NVIDIA's $(cat "$headers/.complete") headers (- headers, + Rust):"
  cat "$out/diff.txt"
  exit 1
fi
say "$(wc -l <"$out/rust-claims.txt") sizes, offsets and constants match nvidia-kernel-source $(cat "$headers/.complete")"
