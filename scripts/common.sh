# Shared settings for fakegpu's build scripts. Source it; it defines no side effects.
# shellcheck shell=bash

FAKEGPU_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# CI may run with a bare environment: find HOME (the cache and cargo live under it).
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
# Built kernels live outside the clone so a fresh clone reuses them.
FAKEGPU_CACHE=${FAKEGPU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fakegpu}
# Everything else the build makes stays in the clone, ignored by git.
FAKEGPU_BUILD=${FAKEGPU_BUILD:-$FAKEGPU_ROOT/build}

# The kernel and the module must be built by the same rustc (else E0514). Debian's rustc-web
# ships the `core` sources the kernel needs; rustup's rustc earlier on PATH does not.
KERNEL_RUSTC=${KERNEL_RUSTC:-/usr/bin/rustc}
KERNEL_BINDGEN=${KERNEL_BINDGEN:-${CARGO_HOME:-$HOME/.cargo}/bin/bindgen}
# The kernel line: 6.12 (Debian's linux-source-6.12, installed by install-deps.sh) or 7
# (Debian sid's linux-source-7.x, pinned in kernel/line-7.env, fetched by
# fetch-kernel-source.sh).
FAKEGPU_KERNEL_LINE=${FAKEGPU_KERNEL_LINE:-6.12}
case $FAKEGPU_KERNEL_LINE in 6.12|7) ;; *) echo "FAKEGPU_KERNEL_LINE must be 6.12 or 7" >&2; exit 1;; esac

# Sets KMAKE_VARS, which every kernel and module make of line $1 gets, so Kconfig's checks
# and the build agree. 7.x's bindgen needs libclang 17 or later: bookworm's LLVM 19.
kernel_line_vars() {
  if [ "$1" = 7 ]; then
    export LIBCLANG_PATH=/usr/lib/llvm-19/lib
    KMAKE_VARS=(LLVM=/usr/lib/llvm-19/bin/ "RUSTC=$KERNEL_RUSTC" "HOSTRUSTC=$KERNEL_RUSTC" "BINDGEN=$KERNEL_BINDGEN")
  else
    # LLVM=1 is the default clang (bookworm's 14). bindgen must load that clang's libclang:
    # left alone it takes the newest one installed (19, for 7.x), which rejects flags the
    # kernel picked for clang 14 (-enable-trivial-auto-var-init-zero-...).
    if command -v clang >/dev/null; then
      LIBCLANG_PATH=$(dirname "$(readlink -f "$(command -v clang)")")/../lib
      export LIBCLANG_PATH
    fi
    KMAKE_VARS=(LLVM=1 "RUSTC=$KERNEL_RUSTC" "HOSTRUSTC=$KERNEL_RUSTC" "BINDGEN=$KERNEL_BINDGEN")
  fi
}
kernel_line_vars "$FAKEGPU_KERNEL_LINE"

# What the line's build products are named with in build/ (none for 6.12, as before 7.x).
LINE_TAG=
[ "$FAKEGPU_KERNEL_LINE" = 7 ] && LINE_TAG=-7

# Bump when scripts/build-kernel.sh changes how a kernel is built (it keys the cache).
KERNEL_RECIPE=1

JOBS=${JOBS:-$(($(nproc) + 1))}

say() { printf '[%s] %s\n' "${FAKEGPU_STEP:-fakegpu}" "$*" >&2; }
die() { say "error: $*" >&2; exit 1; }

# Runs a long command with its output in LOG, printing a progress line every 30 s.
run_logged() {
  local log=$1; shift
  local t0=$SECONDS
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null || break
    say "  ... $((SECONDS - t0)) s, $(grep -c -E '^ +(CC|RUSTC|LD|AR|AS|BINDGEN)' "$log") steps, at: $(tail -n 1 "$log" | cut -c1-90)"
  done
  if ! wait "$pid"; then
    say "command failed: $*; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
}

# Kernel version as Debian packages it, e.g. 6.12.117-1~deb12u1.
kernel_pkg_version() {
  if [ "$FAKEGPU_KERNEL_LINE" = 7 ]; then
    "$FAKEGPU_ROOT/scripts/fetch-kernel-source.sh" | sed -n 2p
  else
    dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null
  fi
}

# The source tarball of the line's kernel.
kernel_tarball() {
  if [ "$FAKEGPU_KERNEL_LINE" = 7 ]; then
    "$FAKEGPU_ROOT/scripts/fetch-kernel-source.sh" | sed -n 1p
  else
    echo /usr/src/linux-source-6.12.tar.xz
  fi
}

# Build directory of the kernel flavour ($1: test or bench), keyed by source version, config
# fragments, toolchain and this recipe.
kernel_build_dir() {
  local flavour=$1 key
  key=$( {
    kernel_pkg_version
    "$KERNEL_RUSTC" --version
    [ "$FAKEGPU_KERNEL_LINE" = 7 ] && echo "${KMAKE_VARS[*]}"
    clang --version | head -n 1
    cat "$FAKEGPU_ROOT/kernel/base.config"
    [ "$flavour" = test ] && cat "$FAKEGPU_ROOT/kernel/debug.config"
    [ "$FAKEGPU_KERNEL_LINE" = 7 ] && cat "$FAKEGPU_ROOT/kernel/line-7.config"
    echo "recipe $KERNEL_RECIPE"
  } | sha256sum | cut -c1-12)
  echo "$FAKEGPU_CACHE/kernel-$(kernel_pkg_version)-$flavour-$key"
}
