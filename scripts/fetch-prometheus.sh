#!/usr/bin/env bash
# Fetches Prometheus 3 (Debian sid's `prometheus` package: bookworm and trixie carry 2.x) for
# the exporter's scrape test only. Unpacks its binary into the cache and prints that
# directory, which make-initramfs.sh puts into the guest. Prints nothing (and a loud notice)
# if it cannot be fetched; with FAKEGPU_REQUIRE_NVIDIA=1 (CI) that is a failure instead.
#   fetch-prometheus.sh   ->  DIR with bin/prometheus
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=prometheus

# The private apt state of scripts/nvidia-apt.sh, on sid.
NVIDIA_SUITE=sid
source "$(dirname "$0")/nvidia-apt.sh"
MAJOR=3

skip() { nvidia_skip "the exporter will NOT be scraped by a real Prometheus" "$*"; }

# A version once fetched is kept: sid moves, and the test needs any 3.x.
out=$(ls -d "$FAKEGPU_CACHE"/prometheus-$MAJOR.* 2>/dev/null | tail -n 1 || true)
if [ -z "$out" ] || [ ! -x "$out/bin/prometheus" ]; then
  nvidia_apt_sources || skip "no Debian apt sources on this machine"
  say "fetching prometheus $MAJOR.x from sid (private apt state in $NVIDIA_APT_DIR)"
  nvidia_apt apt-get update -qq >"$NVIDIA_APT_DIR/update.log" 2>&1 ||
    skip "apt-get update failed (see $NVIDIA_APT_DIR/update.log)"
  v=$(nvidia_apt_version prometheus "$MAJOR.")
  [ -n "$v" ] || skip "no prometheus $MAJOR.x in sid on this mirror"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && nvidia_apt apt-get download -qq "prometheus=$v") >"$NVIDIA_APT_DIR/download.log" 2>&1 ||
    skip "download of prometheus $v failed (see $NVIDIA_APT_DIR/download.log)"
  dpkg-deb -x "$work"/prometheus_*.deb "$work/pkg"
  out=$FAKEGPU_CACHE/prometheus-${v%%+*}
  rm -rf "$out" && mkdir -p "$out/bin"
  cp "$work/pkg/usr/bin/prometheus" "$out/bin/"
  say "unpacked prometheus $v into $out"
fi
echo "$out"
