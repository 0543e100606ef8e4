#!/usr/bin/env bash
# Builds (or reuses from the cache) the QEMU guest kernel: Debian's linux-source-6.12 (or,
# with FAKEGPU_KERNEL_LINE=7, sid's 7.x: kernel/line-7.env) with CONFIG_RUST, configured as
# tinyconfig + kvm_guest.config + our fragments.
#   build-kernel.sh test   KASAN + lockdep + fault injection: what every test run boots
#   build-kernel.sh bench  the same without debug options, for benchmarks only
# Prints the build directory (usable as KDIR=) on its last line.
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=kernel

flavour=${1:-test}
case $flavour in test|bench) ;; *) die "unknown kernel flavour '$flavour' (test or bench)";; esac

tarball=$(kernel_tarball)
[ -f "$tarball" ] || die "$tarball missing: run 'make deps' (Debian package linux-source-6.12)"

out=$(kernel_build_dir "$flavour")
# One build of a kernel at a time: vm-job.sh may have started this one in the background.
exec 8>"$out.lock"
if ! flock -n 8; then
  say "waiting for the build of this kernel already under way (log: $out/build.log)"
  while ! flock -w 60 8; do say "  ... still building: $(tail -n 1 "$out/build.log" 2>/dev/null | cut -c1-80)"; done
fi
if [ -f "$out/.fakegpu-built" ]; then
  say "reusing cached $flavour kernel $out"
  echo "$out"
  exit 0
fi

t_all=$SECONDS
src=$FAKEGPU_CACHE/src/linux-source-$(kernel_pkg_version)
if [ ! -f "$src/.fakegpu-extracted" ]; then
  say "extracting $tarball (about a minute)"
  t0=$SECONDS
  rm -rf "$src" && mkdir -p "$src"
  tar -xf "$tarball" -C "$src" --strip-components=1
  touch "$src/.fakegpu-extracted"
  say "extracted in $((SECONDS - t0)) s"
fi

rm -rf "$out" && mkdir -p "$out"
kmake() { make -C "$src" O="$out" "${KMAKE_VARS[@]}" "$@"; }

frags=("$FAKEGPU_ROOT/kernel/base.config")
[ "$flavour" = test ] && frags+=("$FAKEGPU_ROOT/kernel/debug.config")
[ "$FAKEGPU_KERNEL_LINE" = 7 ] && frags+=("$FAKEGPU_ROOT/kernel/line-7.config")

say "configuring: tinyconfig + kvm_guest.config + ${frags[*]##*/}"
t0=$SECONDS
kmake -s rustavailable >/dev/null || die "Rust toolchain unusable for the kernel: run 'make deps'"
kmake -s tinyconfig >/dev/null
kmake -s kvm_guest.config >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >"$out/merge.log" 2>&1
kmake -s olddefconfig >/dev/null

# merge_config and olddefconfig drop options whose dependencies are unmet with only a
# warning: refuse to build a kernel that silently lacks what the tests rely on.
missing=0
while IFS= read -r line; do
  case $line in
    CONFIG_*=*) want=$line ;;
    "# CONFIG_"*" is not set") want=$line ;;
    *) continue ;;
  esac
  if [[ $want == "# "* ]]; then
    opt=${want#\# }; opt=${opt%% *}
    grep -q "^$opt=" "$out/.config" && { say "option $opt must be off but is on"; missing=1; }
  else
    grep -qxF "$want" "$out/.config" || { say "option $want missing from the final .config (got: $(grep -E "^(# )?${want%%=*}[= ]" "$out/.config" || echo absent))"; missing=1; }
  fi
done < <(cat "${frags[@]}")
((missing == 0)) || die "requested options were dropped; see $out/merge.log"
say "configured in $((SECONDS - t0)) s"

say "building the $flavour kernel with make -j$JOBS (about 10 minutes on 2 cores; log: $out/build.log)"
t0=$SECONDS
run_logged "$out/build.log" kmake -j"$JOBS" all
say "built in $((SECONDS - t0)) s"

echo "$FAKEGPU_KERNEL_LINE" > "$out/.fakegpu-line"
touch "$out/.fakegpu-built"
say "kernel ready in $((SECONDS - t_all)) s: $out"
echo "$out"
