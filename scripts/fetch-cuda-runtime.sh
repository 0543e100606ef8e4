#!/usr/bin/env bash
# Fetches NVIDIA's CUDA runtime (libcudart.so.12) for the real-client tests only: nothing of
# NVIDIA's ships in the repo. It comes from PyPI's nvidia-cuda-runtime-cu12 wheel, with pip,
# at CUDA 12.2 (what driver 535, the version nvsim reports, supports), pinned by version and
# checksum. Unpacks into the cache and prints that directory, which make-initramfs.sh puts
# into the guest next to libcuda. Prints nothing (and a loud notice) if it cannot be fetched;
# with FAKEGPU_REQUIRE_NVIDIA=1 that is a failure instead (see nvidia_skip).
#   fetch-cuda-runtime.sh   ->  DIR with lib/libcudart.so.12
set -euo pipefail
source "$(dirname "$0")/common.sh"
source "$(dirname "$0")/nvidia-apt.sh" # nvidia_skip
FAKEGPU_STEP=cuda-runtime

# The newest 12.2 wheel on PyPI (12.2.140, CUDA 12.2 Update 2), and its sha256.
CUDART_VERSION=12.2.140
CUDART_WHEEL_SHA256=acb9cb7e44594a3512533497ea790d9f0b0e399abcc888584c157d1ffa080e41
out=$FAKEGPU_CACHE/cuda-runtime-$CUDART_VERSION
log=$FAKEGPU_CACHE/cuda-runtime-pip.log

skip() { nvidia_skip "the CUDA runtime will NOT be tested against nvsim and fakegpu" "$*"; }

if [ ! -f "$out/.complete" ]; then
  # A python3 with pip: the one on PATH, else Debian's (make deps installs python3-pip).
  python=
  for p in python3 /usr/bin/python3; do
    if "$p" -m pip --version >/dev/null 2>&1; then python=$p; break; fi
  done
  [ -n "$python" ] || skip "no python3 with pip on this machine (run 'make deps': Debian package python3-pip)"
  mkdir -p "$FAKEGPU_CACHE"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  say "fetching nvidia-cuda-runtime-cu12 $CUDART_VERSION from PyPI with pip"
  "$python" -m pip download --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version 3.11 --dest "$work" \
    "nvidia-cuda-runtime-cu12==$CUDART_VERSION" >"$log" 2>&1 ||
    skip "pip download of nvidia-cuda-runtime-cu12==$CUDART_VERSION failed (see $log)"
  wheels=("$work"/nvidia_cuda_runtime_cu12-*.whl)
  [ -f "${wheels[0]}" ] || skip "pip saved no nvidia-cuda-runtime-cu12 wheel (see $log)"
  wheel=${wheels[0]}
  sum=$(sha256sum "$wheel" | cut -d' ' -f1)
  [ "$sum" = "$CUDART_WHEEL_SHA256" ] ||
    skip "${wheel##*/} has sha256 $sum, not the pinned $CUDART_WHEEL_SHA256"
  rm -rf "$out" && mkdir -p "$out/lib"
  "$python" - "$wheel" "$out/lib/libcudart.so.12" <<'EOF' || skip "${wheel##*/} holds no nvidia/cuda_runtime/lib/libcudart.so.12"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as whl, whl.open("nvidia/cuda_runtime/lib/libcudart.so.12") as src, \
        open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  echo "nvidia-cuda-runtime-cu12==$CUDART_VERSION ${wheel##*/} sha256:$sum" >"$out/.complete"
  say "unpacked libcudart.so.12 into $out ($(du -h "$wheel" | cut -f1) wheel)"
fi
echo "$out"
