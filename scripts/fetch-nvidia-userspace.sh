#!/usr/bin/env bash
# Fetches NVIDIA's own userspace at the driver version nvsim reports (Debian's nvidia-smi,
# libnvidia-ml1, libcuda1 and libnvidia-ptxjitcompiler1, which libcuda loads to compile PTX;
# non-free component), for the real-client tests only: nothing
# of NVIDIA's ships in the repo. Unpacks into the cache and prints that directory, which
# make-initramfs.sh puts into the guest. Prints nothing (and a loud notice) if the packages
# cannot be fetched.
#   fetch-nvidia-userspace.sh   ->  DIR with bin/nvidia-smi and lib/libnvidia-ml.so.1, libcuda.so.1,
#                                   libnvidia-ptxjitcompiler.so.1
#   fetch-nvidia-userspace.sh 550  ->  the same for another family of scripts/nvidia-families
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=nvidia-userspace

# The family's version and Debian suite (scripts/nvidia-families).
branch=${1:-535}
read -r NV_VERSION NVIDIA_SUITE < <(awk -v b="$branch" '$1 == b { print $2, $3 }' "$FAKEGPU_ROOT/scripts/nvidia-families") ||
  die "no NVIDIA family $branch in scripts/nvidia-families"
NVIDIA_SUITE=${NVIDIA_SUITE#-}
source "$(dirname "$0")/nvidia-apt.sh"
PACKAGES=(nvidia-smi libnvidia-ml1 libcuda1 libnvidia-ptxjitcompiler1)
out=$FAKEGPU_CACHE/nvidia-userspace-$NV_VERSION

skip() { nvidia_skip "NVIDIA's $NV_VERSION userspace will NOT be tested against nvsim and fakegpu" "$*"; }

# A cache made for another package list is fetched again.
if [ "$(cat "$out/.packages" 2>/dev/null)" != "${PACKAGES[*]}" ]; then
  nvidia_apt_sources || skip "no Debian apt sources on this machine"
  say "fetching ${PACKAGES[*]} $NV_VERSION (private apt state in $NVIDIA_APT_DIR)"
  nvidia_apt apt-get update -qq >"$NVIDIA_APT_DIR/update.log" 2>&1 ||
    skip "apt-get update failed (see $NVIDIA_APT_DIR/update.log)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  wanted=()
  for p in "${PACKAGES[@]}"; do
    v=$(nvidia_apt_version "$p" "$NV_VERSION")
    [ -n "$v" ] || skip "$p $NV_VERSION is not in this mirror (suite ${NVIDIA_SUITE:-default})"
    wanted+=("$p=$v")
  done
  (cd "$work" && nvidia_apt apt-get download -qq "${wanted[@]}") >"$NVIDIA_APT_DIR/download.log" 2>&1 ||
    skip "download of ${wanted[*]} failed (see $NVIDIA_APT_DIR/download.log)"
  for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/pkg"; done
  rm -rf "$out" && mkdir -p "$out/bin" "$out/lib"
  cp "$work/pkg/usr/lib/nvidia/current/nvidia-smi" "$out/bin/"
  for lib in libnvidia-ml libcuda libnvidia-ptxjitcompiler; do
    cp "$work/pkg/usr/lib/x86_64-linux-gnu/nvidia/current/$lib.so.$NV_VERSION" "$out/lib/"
    ln -s "$lib.so.$NV_VERSION" "$out/lib/$lib.so.1"
  done
  echo "${PACKAGES[*]}" >"$out/.packages"
  say "unpacked into $out"
fi
echo "$out"
