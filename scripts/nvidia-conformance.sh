#!/usr/bin/env bash
# Checks every size, offset and constant that the ABI crate's NVIDIA modules (rust/abi) claim
# against NVIDIA's own headers, for each driver family in scripts/nvidia-families: Debian's
# nvidia-kernel-source at that family's version (non-free component of the machine's own
# Debian mirror, pointed at the family's suite). apt runs with private state and source
# lists under the cache: no system file is touched.
#   nvidia-conformance.sh [BRANCH...]   (default: every family)
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=conformance

# Fetches and unpacks one family's headers into the cache; prints their directory.
headers_of() {
  local version=$1 suite=$2
  local headers=$FAKEGPU_CACHE/nvidia-headers-$version
  if [ ! -f "$headers/.complete" ]; then
    (
      NVIDIA_SUITE=${suite#-}
      source "$FAKEGPU_ROOT/scripts/nvidia-apt.sh"
      skip() { nvidia_skip "the NVIDIA $version ABI was NOT checked against NVIDIA's headers" "$*"; }
      nvidia_apt_sources || skip "no Debian apt sources on this machine"
      say "fetching nvidia-kernel-source $version (private apt state in $NVIDIA_APT_DIR)"
      nvidia_apt apt-get update -qq >"$NVIDIA_APT_DIR/update.log" 2>&1 ||
        skip "apt-get update failed (see $NVIDIA_APT_DIR/update.log)"
      package=$(nvidia_apt_version nvidia-kernel-source "$version")
      [ -n "$package" ] || skip "nvidia-kernel-source $version is not in this mirror (suite ${NVIDIA_SUITE:-default})"
      work=$(mktemp -d)
      trap 'rm -rf "$work"' EXIT
      (cd "$work" && nvidia_apt apt-get download -qq "nvidia-kernel-source=$package") >"$NVIDIA_APT_DIR/download.log" 2>&1 ||
        skip "download of nvidia-kernel-source=$package failed (see $NVIDIA_APT_DIR/download.log)"
      dpkg-deb -x "$work"/nvidia-kernel-source_*.deb "$work/pkg"
      rm -rf "$headers" && mkdir -p "$headers"
      tar -xJf "$work/pkg/usr/src/nvidia-kernel.tar.xz" -C "$headers" --strip-components=2 \
        --wildcards 'modules/nvidia-kernel/common/inc/*' 'modules/nvidia-kernel/nvidia-uvm/*.h'
      echo "$package" >"$headers/.complete"
    ) >&2
  fi
  # Nothing printed: skipped, loudly (CI's FAKEGPU_REQUIRE_NVIDIA=1 fails the run instead).
  if [ -f "$headers/.complete" ]; then echo "$headers"; fi
}

wanted=" $* "
failed=0
while read -r branch version suite; do
  case $branch in '#'* | '') continue ;; esac
  [ "$wanted" = "  " ] || [[ $wanted == *" $branch "* ]] || continue
  headers=$(headers_of "$version" "$suite") || exit 1
  [ -n "$headers" ] || continue
  out=$FAKEGPU_BUILD/conformance/$branch
  mkdir -p "$out"
  gcc -Wall -Werror -I "$headers/common/inc" -I "$headers/nvidia-uvm" \
    "$FAKEGPU_ROOT/tests/conformance/nv_layout.c" -o "$out/nv_layout"
  # Sorted: the two sides list their claims in different orders.
  "$out/nv_layout" | sort >"$out/nvidia-headers.txt"
  (cd "$FAKEGPU_ROOT" && cargo run --quiet --locked -p fakegpu-abi --example nv_layout_claims "$branch") |
    sort >"$out/rust-claims.txt"
  if ! diff -u "$out/nvidia-headers.txt" "$out/rust-claims.txt" >"$out/diff.txt"; then
    say "family $branch: the ABI crate disagrees with NVIDIA's $(cat "$headers/.complete") headers (- headers, + Rust):"
    cat "$out/diff.txt" >&2
    failed=1
    continue
  fi
  say "family $branch: $(wc -l <"$out/rust-claims.txt") sizes, offsets and constants match nvidia-kernel-source $(cat "$headers/.complete")"
done <"$FAKEGPU_ROOT/scripts/nvidia-families"
exit $failed
