#!/usr/bin/env bash
# Boots the guest in QEMU and runs one job in it.
#   vm-run.sh MODE BZIMAGE INITRD
# MODE: test (the suite; exits non-zero on any failure or kernel splat), demo, bench, fuzz, stress, shell
# (interactive). Accelerator: FAKEGPU_ACCEL=tcg|kvm|auto (auto: KVM only if a probe boot
# works; nested KVM often fails). Logs land in build/vm-MODE/.
set -euo pipefail
source "$(dirname "$0")/common.sh"
FAKEGPU_STEP=vm

mode=${1:?usage: vm-run.sh MODE BZIMAGE INITRD}
kernel=${2:?}
initrd=${3:?}
logs=$FAKEGPU_BUILD/vm-$mode$LINE_TAG
mkdir -p "$logs"
# Whole-run limit on the host side; the guest has its own watchdog a little shorter.
host_timeout=${FAKEGPU_VM_TIMEOUT:-1800}
# A long fuzz run gets its budget plus the usual room.
if [ "$mode" = fuzz ] && [ -z "${FAKEGPU_VM_TIMEOUT:-}" ]; then
  host_timeout=$(( ${FUZZ_SECONDS:-600} + 900 ))
fi
if [ "$mode" = stress ] && [ -z "${FAKEGPU_VM_TIMEOUT:-}" ]; then
  host_timeout=$(( ${STRESS_SECONDS:-600} + 900 ))
fi
guest_watchdog=$((host_timeout - 60))

# A virtio-gpu device: a second DRM driver in front of which fakegpu meters submissions.
qemu_base=(qemu-system-x86_64 -nodefaults -no-reboot -smp 2 -kernel "$kernel" -initrd "$initrd"
  -device virtio-gpu-pci)
# The container engines' root (scripts/fetch-engines.sh), a read-only raw disk (/dev/vda) the
# engine cases unpack into memory: the guest then needs a GiB more.
if [ "$mode" = test ] && [ -n "${FAKEGPU_ENGINES:-}" ]; then
  qemu_base+=(-m 3G -drive "file=$FAKEGPU_ENGINES,format=raw,if=virtio,readonly=on")
else
  qemu_base+=(-m 2G)
fi
# no5lvl: TCG's "max" CPU offers 5-level paging, and a timer interrupt that lands while
# 6.12 re-reads the boot CPU's features (identify_cpu clears them for a moment) makes KASAN
# judge the 5-level direct map by 4-level bounds: a false "wild-memory-access" at boot.
append="console=ttyS0 panic=-1 log_buf_len=4M no5lvl fakegpu_watchdog=$guest_watchdog"
# FAKEGPU_ONLY=REGEX: run only the suite's cases whose names match (for debugging; the
# suite then reports how many it skipped).
[ -n "${FAKEGPU_ONLY:-}" ] && append+=" fakegpu_only=$FAKEGPU_ONLY"
# The fuzzer's seed and budget (tests/vm-client/src/fuzz.rs), for the suite's short run and
# the fuzz job alike.
# Likewise the stress run's (tests/vm-client/src/stress.rs) and the engine fuzz case's seed
# (nvsim_engine_contains_bad_work prints it).
for v in FUZZ_SEED FUZZ_CALLS FUZZ_SECONDS FUZZ_TRACE STRESS_SEED STRESS_OPS STRESS_SECONDS \
    STRESS_PROCS STRESS_THREADS ENGINE_FUZZ_SEED; do
  [ -n "${!v:-}" ] && append+=" $v=${!v}"
done

pick_accel() {
  case ${FAKEGPU_ACCEL:-auto} in
    tcg) echo "-accel tcg -cpu max"; return ;;
    kvm) echo "-accel kvm -cpu host"; return ;;
  esac
  if [ -w /dev/kvm ]; then
    local probe=$logs/kvm-probe.log
    timeout 60 "${qemu_base[@]}" -accel kvm -cpu host -display none -serial "file:$probe" \
      -append "$append fakegpu_mode=probe" >/dev/null 2>&1 || true
    if grep -q FAKEGPU-PROBE-OK "$probe" 2>/dev/null; then
      echo "-accel kvm -cpu host"; return
    fi
  fi
  echo "-accel tcg -cpu max"
}

t0=$SECONDS
read -r -a accel <<<"$(pick_accel)"
say "booting the guest (${accel[1]}, 2 vCPUs, mode $mode)"

if [ "$mode" = shell ]; then
  exec "${qemu_base[@]}" "${accel[@]}" -nographic -serial mon:stdio -append "$append fakegpu_mode=shell"
fi

console=$logs/console.log
results=$logs/results.log
: >"$console"; : >"$results"; rm -f "$logs/summary"
timeout "$host_timeout" "${qemu_base[@]}" "${accel[@]}" -display none \
  -serial "file:$console" -serial "file:$results" \
  -append "$append fakegpu_mode=$mode" >"$logs/qemu.log" 2>&1 &
qemu=$!

# Stream the guest's results as they arrive.
shown=0
stream() {
  local n
  n=$(wc -l <"$results")
  if ((n > shown)); then
    tail -n +"$((shown + 1))" "$results" | head -n "$((n - shown))" | tr -d '\r'
    shown=$n
  fi
}
while kill -0 "$qemu" 2>/dev/null; do
  stream
  sleep 1
done
qemu_rc=0
wait "$qemu" || qemu_rc=$?
stream
say "guest ran for $((SECONDS - t0)) s"

# Every job fails on a kernel splat anywhere in the guest log.
source "$FAKEGPU_ROOT/tests/vm/lib.sh"
splats=$(grep -E "$SPLAT_RE" "$console" || true)
if [ "$mode" != test ]; then
  # The demo and the benchmark end with "<MODE> DONE" when every step worked.
  done_marker="$(echo "$mode" | tr a-z A-Z) DONE"
  [ -z "$splats" ] || { say "kernel splat in the guest log:"; echo "$splats"; exit 1; }
  grep -q "^$done_marker" "$results" || { say "the $mode did not finish (no '$done_marker'); guest log: $console"; exit 1; }
  exit 0
fi

passed=$(grep -c '^RESULT .* PASS' "$results" || true)
failed=$(grep -c '^RESULT .* FAIL' "$results" || true)
ok=1
if ! grep -q '^SUITE ' "$results"; then
  ok=0
  if ((qemu_rc == 124)); then say "the guest hung: killed after $host_timeout s"; else say "the guest stopped before the suite finished (qemu exit $qemu_rc)"; fi
  failed=$((failed + 1))
fi
if [ -n "$splats" ]; then
  ok=0
  say "kernel splat in the guest log:"
  echo "$splats"
  failed=$((failed + 1))
fi
if ((ok == 0 || failed > 0)); then
  say "guest log (last 80 lines of $console):"
  tail -n 80 "$console" | tr -d '\r'
  # Last, so that a log cut to its tail still names what failed and why.
  if ((failed > 0)); then
    say "failed cases (first 60 lines of each one's output):"
    tr -d '\r' <"$results" | awk '/^RESULT .* FAIL/ { n = 0; show = 1; print; next }
      /^RESULT / { show = 0 } show && /^    \| / && n++ < 60 { print }'
  fi
fi
echo "$passed passed, $failed failed" >"$logs/summary"
((failed == 0))
