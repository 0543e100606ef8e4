#!/usr/bin/env bash
# Fetches the container engines the engine cases run (tests/vm/engines.sh): a minimal Debian
# sid root with podman, crun, conmon, runc, containerd, docker.io and their libraries (sid:
# trixie carries containerd 1.7 and Docker 26; the cases are for containerd 2 and Docker 28),
# made by mmdebstrap with the private apt state of scripts/nvidia-apt.sh, as one tarball.
# The VM gets it as a read-only raw disk and unpacks it into a tmpfs when an engine case
# first runs (the test kernel has no block filesystem, and the initramfs stays small).
# Prints the tarball's path; prints nothing (and a loud notice) if it cannot be made, which
# with FAKEGPU_REQUIRE_NVIDIA=1 (CI) is a failure instead.
#   fetch-engines.sh   ->  FILE.tar (FILE.versions beside it: the engines' versions)
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=engines

NVIDIA_SUITE=sid
source "$(dirname "$0")/nvidia-apt.sh"

# What the root holds; changing the list makes a new tarball (its name hashes the list).
PACKAGES=podman,crun,conmon,catatonit,runc,containerd,docker.io,docker-cli,tini,iptables,ca-certificates
key=$(echo "$NVIDIA_SUITE $PACKAGES" | sha256sum | cut -c1-12)
out=$FAKEGPU_CACHE/engines-$NVIDIA_SUITE-$key.tar

skip() { nvidia_skip "the podman, containerd and Docker cases will NOT run" "$*"; }

# A root once made is kept: sid moves, and the cases need its engines' major versions,
# which container-hooks/README.md names (the versions file says which were fetched).
if [ ! -s "$out" ] || [ ! -s "${out%.tar}.versions" ]; then
  command -v mmdebstrap >/dev/null || skip "mmdebstrap is not installed (scripts/install-deps.sh installs it)"
  nvidia_apt_sources || skip "no Debian apt sources on this machine"
  say "making a $NVIDIA_SUITE root with the container engines (mmdebstrap, about a minute; $out)"
  # mmdebstrap writes a tarball for a name ending in .tar.
  tmp=${out%.tar}.tmp.tar
  rm -f "$tmp"
  # No docs, man pages or locales: the guest unpacks this into memory.
  mmdebstrap --variant=essential --mode=root --quiet \
    --aptopt='APT::Install-Recommends "false"' --aptopt='Acquire::Check-Valid-Until "false"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --include="$PACKAGES" \
    --customize-hook='chroot "$1" dpkg-query -W podman crun conmon runc containerd docker.io > "$1/fakegpu-engines.versions"' \
    --customize-hook='cp "$1/fakegpu-engines.versions" '"'${out%.tar}.versions'" \
    "$NVIDIA_SUITE" "$tmp" "$NVIDIA_APT_DIR"/sources.d/* >"$FAKEGPU_CACHE/engines.log" 2>&1 ||
    skip "mmdebstrap failed (see $FAKEGPU_CACHE/engines.log)"
  mv "$tmp" "$out"
  say "made $out: $(tr '\n\t' ', ' < "${out%.tar}.versions")"
fi
echo "$out"
