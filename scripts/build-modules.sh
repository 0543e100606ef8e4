#!/usr/bin/env bash
# Builds the kernel modules against a kernel tree, out of the source tree so the same clone
# can hold modules for several kernels.
#   build-modules.sh KDIR OUTDIR
# KDIR is a kernel build directory with CONFIG_RUST (ours from build-kernel.sh, or your own
# Rust-enabled tree: build it with the same LLVM=1 RUSTC= choices as KMAKE_VARS below).
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=modules

kdir=${1:?usage: build-modules.sh KDIR OUTDIR}
out=${2:?usage: build-modules.sh KDIR OUTDIR}
mkdir -p "$out" && out=$(cd "$out" && pwd)
[ -f "$kdir/.config" ] || die "$kdir is not a configured kernel build directory"
grep -q '^CONFIG_RUST=y' "$kdir/.config" || die "$kdir has no CONFIG_RUST=y: fakegpu is a Rust module"
# Our kernels say their line; the modules are built with the same tools.
[ -f "$kdir/.fakegpu-line" ] && kernel_line_vars "$(cat "$kdir/.fakegpu-line")"

# Kbuild writes objects beside the sources: build in a copy of just what the modules need.
mkdir -p "$out/rust"
rm -rf "$out/rust"/*
cp "$FAKEGPU_ROOT/Kbuild" "$out/"
cp -r "$FAKEGPU_ROOT/rust/fakegpu" "$FAKEGPU_ROOT/rust/nvsim" "$FAKEGPU_ROOT/rust/kernel-common" "$out/rust/"
for crate in abi policy nvsim-model; do mkdir -p "$out/rust/$crate" && cp -r "$FAKEGPU_ROOT/rust/$crate/src" "$out/rust/$crate/"; done

# clippy runs on every module build when the kernel's rustc has one beside it (Debian's
# rust-web-clippy); its warnings fail the build like compiler warnings.
clippy=()
driver=$(dirname "$KERNEL_RUSTC")/clippy-driver
if [ -x "$driver" ]; then clippy=(CLIPPY=1 "CLIPPY_DRIVER=$driver"); else say "no $driver: building without clippy"; fi

t0=$SECONDS
if ! make -C "$kdir" M="$out" "${KMAKE_VARS[@]}" "${clippy[@]}" -j"$JOBS" modules >"$out/build.log" 2>&1; then
  cat "$out/build.log" >&2
  die "module build failed (log above, also in $out/build.log)"
fi
if grep -E '^(warning|error)|\.c:[0-9]+:[0-9]+: warning:' "$out/build.log" >&2; then
  die "the module build printed warnings (above): fakegpu builds warning-free"
fi
say "built $(cd "$out" && echo *.ko)${clippy:+ (clippy clean)} in $((SECONDS - t0)) s against $kdir"
