#!/usr/bin/env bash
# One VM job from scratch, each step cached or quick when already done:
# deps -> kernel -> modules -> test client -> initramfs -> boot.
#   vm-job.sh test|demo|bench|fuzz|stress|shell
# The bench job boots the kernel without KASAN/lockdep; the others boot the test kernel.
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=job

mode=${1:?usage: vm-job.sh test|demo|bench|fuzz|stress|shell}
flavour=test
[ "$mode" = bench ] && flavour=bench

declare -a timings
# Runs one step and records its time; returns the step's status.
phase() {
  local name=$1; shift
  local t0=$SECONDS status=0
  "$@" || status=$?
  timings+=("$name $((SECONDS - t0))s")
  return "$status"
}
report_timings() { say "where the time went: ${timings[*]}"; }
trap report_timings EXIT

phase deps "$FAKEGPU_ROOT/scripts/install-deps.sh"

kdir_for() {
  if [ -n "${KDIR:-}" ]; then
    kdir=$KDIR
  else
    kdir=$("$FAKEGPU_ROOT/scripts/build-kernel.sh" "$flavour")
  fi
}
mkdir -p "$FAKEGPU_BUILD"
phase kernel kdir_for
[ -f "$kdir/arch/x86/boot/bzImage" ] || die "no bzImage in $kdir"

phase modules "$FAKEGPU_ROOT/scripts/build-modules.sh" "$kdir" "$FAKEGPU_BUILD/modules-$flavour$LINE_TAG"

build_clients() {
  say "building the test clients and the helper (static)"
  (cd "$FAKEGPU_ROOT" && RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu -p fakegpu-vmtest -p nv-client -p fakegpu --features fakegpu/exporter)
}
phase test-clients build_clients
bins=$FAKEGPU_ROOT/target/x86_64-unknown-linux-gnu/release

# NVIDIA's userspace for the real-client cases and libcuda's benchmark (skipped loudly if the
# packages cannot be fetched, a failure with FAKEGPU_REQUIRE_NVIDIA=1), and the libcuda
# probe built against it; then the CUDA runtime on top of it and its probe. (phase runs this
# with errexit off: each failure returns explicitly.)
nvidia_userspace() {
  FAKEGPU_NVIDIA_USERSPACE=$("$FAKEGPU_ROOT/scripts/fetch-nvidia-userspace.sh" 535) || return 1
  FAKEGPU_NVIDIA_USERSPACE_550=$("$FAKEGPU_ROOT/scripts/fetch-nvidia-userspace.sh" 550) || return 1
  FAKEGPU_CUDA_RUNTIME=
  export FAKEGPU_NVIDIA_USERSPACE FAKEGPU_NVIDIA_USERSPACE_550 FAKEGPU_CUDA_RUNTIME
  [ -n "$FAKEGPU_NVIDIA_USERSPACE" ] || return 0
  gcc -Wall -Werror -O2 "$FAKEGPU_ROOT/tests/nvidia-userspace/cuda_probe.c" -ldl -o "$FAKEGPU_BUILD/cuda_probe" ||
    return 1
  FAKEGPU_CUDA_RUNTIME=$("$FAKEGPU_ROOT/scripts/fetch-cuda-runtime.sh") || return 1
  [ -n "$FAKEGPU_CUDA_RUNTIME" ] || return 0
  gcc -Wall -Werror -O2 "$FAKEGPU_ROOT/tests/nvidia-userspace/cudart_probe.c" -ldl -o "$FAKEGPU_BUILD/cudart_probe"
}
phase nvidia-userspace nvidia_userspace

# For the test job only: exports $1 as what the fetch script $2 prints (empty if it skipped
# loudly; the script fails instead with FAKEGPU_REQUIRE_NVIDIA=1).
test_fetch() {
  local value=
  if [ "$mode" = test ]; then
    value=$("$FAKEGPU_ROOT/scripts/$2") || return 1
  fi
  export "$1=$value"
}
# Prometheus 3, which scrapes fakegpu-exporter in the exporter case.
phase prometheus test_fetch FAKEGPU_PROMETHEUS fetch-prometheus.sh
# The container engines' root (podman, containerd, Docker) for the engine cases.
phase engines test_fetch FAKEGPU_ENGINES fetch-engines.sh

initrd=$FAKEGPU_BUILD/initramfs-$flavour$LINE_TAG.cpio.gz
phase initramfs "$FAKEGPU_ROOT/scripts/make-initramfs.sh" "$FAKEGPU_BUILD/modules-$flavour$LINE_TAG" "$bins" "$initrd"

if [ "$mode" = shell ]; then
  trap - EXIT
  report_timings
  exec "$FAKEGPU_ROOT/scripts/vm-run.sh" shell "$kdir/arch/x86/boot/bzImage" "$initrd"
fi
rc=0
phase vm "$FAKEGPU_ROOT/scripts/vm-run.sh" "$mode" "$kdir/arch/x86/boot/bzImage" "$initrd" || rc=$?
trap - EXIT
report_timings
# The suite's closing line comes last, where test-result readers look for it.
summary=$FAKEGPU_BUILD/vm-$mode$LINE_TAG/summary
[ "$mode" = test ] && [ -f "$summary" ] && cat "$summary"
exit "$rc"
