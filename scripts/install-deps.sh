#!/usr/bin/env bash
# Installs, idempotently, what building the test kernel, the modules and the VM image needs
# (`install-deps.sh fuzz`: nightly Rust and cargo-fuzz alone, for `make fuzz-parsers`).
# Debian packages via apt-get (python3-pip: pip fetches the CUDA runtime's wheel) and a
# pinned bindgen-cli via cargo. Safe to run again: it only acts on what is missing. On a
# non-Debian or non-root machine it prints what to install.
set -euo pipefail

BINDGEN_VERSION=0.73.2
PKGS=(
  linux-source-6.12 rustc-web rust-web-src rust-web-clippy libclang-dev clang lld llvm
  flex bison bc libelf-dev libssl-dev cpio xz-utils make gcc
  qemu-system-x86 busybox-static runc kmod python3-pip mmdebstrap
  clang-19 llvm-19 lld-19 libclang-19-dev
)

say() { printf '[deps] %s\n' "$*"; }

# `install-deps.sh fuzz`: only nightly Rust (with rustup) and cargo-fuzz, for
# `make fuzz-parsers`; nothing else needs them, so the default run leaves them out.
CARGO_FUZZ_VERSION=0.13.2
if [ "${1:-}" = fuzz ]; then
  if ! cargo +nightly --version >/dev/null 2>&1 && command -v rustup >/dev/null; then
    say "installing a nightly Rust toolchain with rustup (minimal profile)"
    rustup toolchain install nightly --profile minimal >/dev/null
  fi
  if cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
    say "cargo-fuzz $CARGO_FUZZ_VERSION present"
  else
    command -v cargo >/dev/null || { say "cargo not found: install Rust (rustup) to build cargo-fuzz"; exit 1; }
    say "building cargo-fuzz $CARGO_FUZZ_VERSION with cargo (a minute or two)"
    cargo install --quiet --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
  fi
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null || [ ! -f /etc/debian_version ]; then
    say "this is not a Debian system; install the equivalents of: ${missing[*]}"
    say "and a rustc with rust-src matching your kernel, plus bindgen-cli ${BINDGEN_VERSION}"
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    say "missing Debian packages: ${missing[*]}"
    say "run as root:  apt-get update && apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  t0=$SECONDS
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "packages installed in $((SECONDS - t0)) s"
else
  say "Debian packages present"
fi

# bindgen-cli: Debian's 0.60 is older than the kernel's minimum (0.65.1).
BINDGEN=${CARGO_HOME:-$HOME/.cargo}/bin/bindgen
if [ -x "$BINDGEN" ] && "$BINDGEN" --version 2>/dev/null | grep -q " $BINDGEN_VERSION\$"; then
  say "bindgen-cli $BINDGEN_VERSION present"
else
  command -v cargo >/dev/null || { say "cargo not found: install Rust (rustup) to build bindgen-cli"; exit 1; }
  say "building bindgen-cli $BINDGEN_VERSION with cargo (a few minutes)"
  t0=$SECONDS
  cargo install --quiet --locked --version "$BINDGEN_VERSION" bindgen-cli
  say "bindgen-cli built in $((SECONDS - t0)) s"
fi
