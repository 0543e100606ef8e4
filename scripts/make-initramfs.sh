#!/usr/bin/env bash
# Packs the guest's initramfs: busybox, runc, tests/vm's scripts, the modules, the test clients
# and the fakegpu helper.
#   make-initramfs.sh MODULES_DIR BIN_DIR OUT.cpio.gz   (BIN_DIR holds fakegpu-vmtest, nv-client, fakegpu, fakegpu-exporter)
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=initramfs

modules=${1:?usage: make-initramfs.sh MODULES_DIR BIN_DIR OUT}
bins=${2:?}
out=${3:?}
busybox=$(command -v busybox || true)
# ldd fails on a static binary, which is what the initramfs needs.
[ -n "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1 ||
  die "a static busybox is needed: run 'make deps' (Debian package busybox-static)"

stage=${out%.cpio.gz}.d
rm -rf "$stage"
mkdir -p "$stage"/{bin,proc,sys,dev,tmp,fakegpu/bin}
cp "$busybox" "$stage/bin/busybox"
cp "$FAKEGPU_ROOT/tests/vm/init" "$stage/init"
cp "$FAKEGPU_ROOT"/tests/vm/*.sh "$stage/fakegpu/"
cp "$modules"/*.ko "$stage/fakegpu/"
cp "$bins/fakegpu-vmtest" "$bins/nv-client" "$bins/fakegpu" "$bins/fakegpu-exporter" "$stage/fakegpu/bin/"
# The shipped podman/CRI-O hook files, which the engine cases install as a user would.
cp -r "$FAKEGPU_ROOT/container-hooks/hooks.d" "$stage/fakegpu/"
# Copies the shared libraries the dynamic executables $@ load to the same paths in the guest.
copy_libs() {
  local lib
  for lib in $(ldd "$@" | grep -v ':$' | grep -o '/[^ ]*' | sort -u); do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done
}
# Debian's runc for the container cases.
runc=$(command -v runc || true)
[ -n "$runc" ] || die "runc is needed: run 'make deps' (Debian package runc)"
cp "$runc" "$stage/fakegpu/bin/runc"
copy_libs "$runc"
# NVIDIA's userspace (scripts/fetch-nvidia-userspace.sh) and the libcuda probe, for the
# real-client cases: under /nvidia, laid out as a container image's /usr would hold them;
# with the CUDA runtime (scripts/fetch-cuda-runtime.sh) and its probe when it was fetched.
if [ -n "${FAKEGPU_NVIDIA_USERSPACE:-}" ]; then
  nv=$stage/nvidia
  mkdir -p "$nv/usr/bin" "$nv/usr/lib/x86_64-linux-gnu"
  cp "$FAKEGPU_NVIDIA_USERSPACE/bin/nvidia-smi" "$FAKEGPU_BUILD/cuda_probe" "$nv/usr/bin/"
  cp -P "$FAKEGPU_NVIDIA_USERSPACE"/lib/* "$nv/usr/lib/x86_64-linux-gnu/"
  nv_libs=("$nv"/usr/lib/x86_64-linux-gnu/*.so.1)
  if [ -n "${FAKEGPU_CUDA_RUNTIME:-}" ]; then
    cp "$FAKEGPU_CUDA_RUNTIME/lib/libcudart.so.12" "$nv/usr/lib/x86_64-linux-gnu/"
    cp "$FAKEGPU_BUILD/cudart_probe" "$nv/usr/bin/"
    nv_libs+=("$nv/usr/lib/x86_64-linux-gnu/libcudart.so.12")
  fi
  LD_LIBRARY_PATH=$FAKEGPU_NVIDIA_USERSPACE/lib copy_libs "$nv"/usr/bin/* "${nv_libs[@]}"
  basename "$FAKEGPU_NVIDIA_USERSPACE" | sed 's/^nvidia-userspace-//' >"$nv/version"
fi
# The 550 family's userspace beside it, under /nvidia-550 (its cases reload nvsim as 550).
if [ -n "${FAKEGPU_NVIDIA_USERSPACE_550:-}" ]; then
  nv=$stage/nvidia-550
  mkdir -p "$nv/usr/bin" "$nv/usr/lib/x86_64-linux-gnu"
  cp "$FAKEGPU_NVIDIA_USERSPACE_550/bin/nvidia-smi" "$FAKEGPU_BUILD/cuda_probe" "$nv/usr/bin/"
  cp -P "$FAKEGPU_NVIDIA_USERSPACE_550"/lib/* "$nv/usr/lib/x86_64-linux-gnu/"
  LD_LIBRARY_PATH=$FAKEGPU_NVIDIA_USERSPACE_550/lib copy_libs "$nv"/usr/bin/* "$nv"/usr/lib/x86_64-linux-gnu/*.so.1
  basename "$FAKEGPU_NVIDIA_USERSPACE_550" | sed 's/^nvidia-userspace-//' >"$nv/version"
fi
# Prometheus (scripts/fetch-prometheus.sh), which scrapes fakegpu-exporter in its case.
if [ -n "${FAKEGPU_PROMETHEUS:-}" ]; then
  cp "$FAKEGPU_PROMETHEUS/bin/prometheus" "$stage/fakegpu/bin/"
  copy_libs "$stage/fakegpu/bin/prometheus"
fi
# Debugging aids from the host (FAKEGPU_VM_EXTRA="strace gdb"), with their libraries.
for tool in ${FAKEGPU_VM_EXTRA:-}; do
  path=$(command -v "$tool") || die "FAKEGPU_VM_EXTRA: $tool not found"
  cp "$path" "$stage/fakegpu/bin/"
  copy_libs "$path"
done
chmod +x "$stage/init"
(cd "$stage" && find . -print0 | cpio --quiet -o -0 -H newc -R 0:0) | gzip -1 > "$out"
say "packed $out ($(du -h "$out" | cut -f1))"
