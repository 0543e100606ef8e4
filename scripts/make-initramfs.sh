#!/usr/bin/env bash
# Packs the guest's initramfs: busybox, runc, tests/vm's scripts, the modules, the test clients
# and the fakegpu helper.
#   make-initramfs.sh MODULES_DIR BIN_DIR OUT.cpio.gz   (BIN_DIR holds fakegpu-vmtest, nv-client, fakegpu)
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
cp "$bins/fakegpu-vmtest" "$bins/nv-client" "$bins/fakegpu" "$stage/fakegpu/bin/"
# Debian's runc for the container cases, with the shared libraries it loads.
runc=$(command -v runc || true)
[ -n "$runc" ] || die "runc is needed: run 'make deps' (Debian package runc)"
cp "$runc" "$stage/fakegpu/bin/runc"
for lib in $(ldd "$runc" | grep -o '/[^ ]*'); do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done
chmod +x "$stage/init"
(cd "$stage" && find . -print0 | cpio --quiet -o -0 -H newc -R 0:0) | gzip -1 > "$out"
say "packed $out ($(du -h "$out" | cut -f1))"
