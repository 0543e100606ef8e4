#!/usr/bin/env bash
# Checks every size, offset and constant that rust/shared's NVIDIA ABI modules claim against
# NVIDIA's own headers, from Debian's nvidia-kernel-source package at the version nvsim
# reports (non-free component of the machine's own Debian mirror). apt runs with private
# state and source lists under the cache: no system file is touched.
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=conformance

NV_VERSION=${NV_VERSION:-535.309.01}
apt_dir=$FAKEGPU_CACHE/nvidia-apt
headers=$FAKEGPU_CACHE/nvidia-headers-$NV_VERSION

skip() {
  say "!!! SKIPPED: $* — the NVIDIA ABI was NOT checked against NVIDIA's headers !!!"
  exit 0
}

if [ ! -f "$headers/.complete" ]; then
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.d"
  rm -f "$apt_dir"/sources.d/*
  # The machine's Debian sources, with the components that hold NVIDIA's packages added.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -q '^URIs:.*debian' "$f" || continue
    sed -E 's/^Components:.*/Components: main contrib non-free non-free-firmware/' "$f" >"$apt_dir/sources.d/${f##*/}"
  done
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb .*debian' /etc/apt/sources.list |
      sed -E 's/^(deb +(\[[^]]*\] +)?[^ ]+ +[^ ]+) .*/\1 main contrib non-free non-free-firmware/' \
        >"$apt_dir/sources.d/debian.list" || true
  fi
  ls "$apt_dir"/sources.d/* >/dev/null 2>&1 || skip "no Debian apt sources on this machine"
  apt=(-o "Dir::Etc::sourcelist=/dev/null" -o "Dir::Etc::sourceparts=$apt_dir/sources.d"
       -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
  say "fetching nvidia-kernel-source $NV_VERSION (private apt state in $apt_dir)"
  apt-get "${apt[@]}" update -qq >"$apt_dir/update.log" 2>&1 || skip "apt-get update failed (see $apt_dir/update.log)"
  version=$(apt-cache "${apt[@]}" madison nvidia-kernel-source | awk -v v="$NV_VERSION" '$3 ~ "^"v {print $3; exit}')
  [ -n "$version" ] || skip "nvidia-kernel-source $NV_VERSION is not in this mirror"
  work=$(mktemp -d)
  (cd "$work" && apt-get "${apt[@]}" download -qq "nvidia-kernel-source=$version") >"$apt_dir/download.log" 2>&1 ||
    skip "download of nvidia-kernel-source=$version failed (see $apt_dir/download.log)"
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
(cd "$FAKEGPU_ROOT" && cargo run --quiet --locked -p fakegpu-shared --example nv_layout_claims) >"$out/rust-claims.txt"
if ! diff -u "$out/nvidia-headers.txt" "$out/rust-claims.txt" >"$out/diff.txt"; then
  say "the ABI crate disagrees with NVIDIA's $(cat "$headers/.complete") headers (- headers, + Rust):"
  cat "$out/diff.txt"
  exit 1
fi
say "$(wc -l <"$out/rust-claims.txt") sizes, offsets and constants match nvidia-kernel-source $(cat "$headers/.complete")"
