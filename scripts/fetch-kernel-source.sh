#!/usr/bin/env bash
# Fetches the 7.x line's kernel source (kernel/line-7.env: Debian sid's linux-source, pinned)
# with the private apt state of scripts/nvidia-apt.sh, unpacks the package into the cache,
# and prints the source tarball's path and its version (two lines). When the pinned version
# is gone from sid it says so loudly and takes the newest linux-source-7.*; a fetch that
# fails is a failure (the 7.x line is mandatory where it is asked for).
#   fetch-kernel-source.sh          ->  TARBALL\nVERSION
#   fetch-kernel-source.sh --list   the linux-source-7.* packages sid has
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=kernel-source
NVIDIA_SUITE=sid
source "$(dirname "$0")/nvidia-apt.sh"
source "$FAKEGPU_ROOT/kernel/line-7.env"

# One fetch at a time (make test's background kernel build may be fetching too).
mkdir -p "$FAKEGPU_CACHE"
exec 9>"$FAKEGPU_CACHE/kernel-source.lock"
flock 9

# sid's snapshot on this registry may be older than its Release file's validity.
apt_sid() { nvidia_apt "$1" -o Acquire::Check-Valid-Until=false "${@:2}"; }

# The cached unpacked package of version $1, if complete.
cached() {
  local d=$FAKEGPU_CACHE/kernel-source-$1
  [ -f "$d/.fakegpu-unpacked" ] && ls "$d"/usr/src/linux-source-*.tar.xz 2>/dev/null | head -n 1
}

if [ "${1:-}" != --list ] && tarball=$(cached "$K7_VERSION") && [ -n "$tarball" ]; then
  printf '%s\n%s\n' "$tarball" "$K7_VERSION"
  exit 0
fi
nvidia_apt_sources || die "no Debian apt sources on this machine: cannot fetch $K7_PACKAGE"
say "updating sid's package lists (private apt state in $NVIDIA_APT_DIR)"
apt_sid apt-get update -qq >"$NVIDIA_APT_DIR/update.log" 2>&1 ||
  die "apt-get update failed (see $NVIDIA_APT_DIR/update.log)"
if [ "${1:-}" = --list ]; then
  apt_sid apt-cache search --names-only '^linux-source-7\.' | sort -V
  exit 0
fi
package=$K7_PACKAGE version=$K7_VERSION
if ! apt_sid apt-cache madison "$package" | awk '{print $3}' | grep -qxF "$version"; then
  package=$(apt_sid apt-cache search --names-only '^linux-source-7\.[0-9]+$' | awk '{print $1}' | sort -V | tail -n 1)
  [ -n "$package" ] || die "sid has no linux-source-7.* at all"
  version=$(apt_sid apt-cache madison "$package" | awk 'NR == 1 {print $3}')
  say "!!! the pinned $K7_PACKAGE $K7_VERSION is gone from sid: taking $package $version instead; pin it in kernel/line-7.env !!!"
  if tarball=$(cached "$version") && [ -n "$tarball" ]; then
    printf '%s\n%s\n' "$tarball" "$version"
    exit 0
  fi
fi
dir=$FAKEGPU_CACHE/kernel-source-$version
rm -rf "$dir" && mkdir -p "$dir"
say "fetching $package $version from sid (about 160 MB)"
(cd "$dir" && apt_sid apt-get download -qq "$package=$version") >"$dir/download.log" 2>&1 ||
  die "download of $package $version failed (see $dir/download.log)"
dpkg-deb -x "$dir"/*.deb "$dir" && rm -f "$dir"/*.deb
touch "$dir/.fakegpu-unpacked"
printf '%s\n%s\n' "$(cached "$version")" "$version"
