# The in-VM test suite: shell cases here, the rest in fakegpu-vmtest. Each case runs with
# its own timeout; its result goes to /dev/ttyS1 (read by the host) as
# "RESULT <name> PASS|FAIL <seconds>", and a case that leaves a kernel splat in dmesg fails.
. /fakegpu/lib.sh
RESULTS=/dev/ttyS1
CASE_TIMEOUT=${fakegpu_case_timeout:-180}
passed=0; failed=0

report() { echo "$*"; echo "$*" > $RESULTS; }

run_case() {
  name=$1; shift
  dmesg -c > /dev/null
  t0=$(date +%s)
  timeout "$CASE_TIMEOUT" "$@" > /tmp/case.out 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  dmesg > /tmp/case.dmesg
  if grep -E "$SPLAT_RE" /tmp/case.dmesg > /tmp/case.splat; then
    echo "kernel splat during $name:" >> /tmp/case.out
    cat /tmp/case.dmesg >> /tmp/case.out
    rc=99
  fi
  [ $rc = 143 ] && echo "timed out after $CASE_TIMEOUT s" >> /tmp/case.out
  if [ $rc = 0 ]; then
    passed=$((passed + 1)); report "RESULT $name PASS ${secs}s"
  else
    failed=$((failed + 1)); report "RESULT $name FAIL ${secs}s (exit $rc)"
    sed 's/^/    | /' /tmp/case.out | tee $RESULTS
  fi
}

fail() { echo "$*"; return 1; }

case_module_creates_nodes() {
  load_fakegpu || fail "insmod failed"
  export_test_env
  for n in $FAKE_CARD /dev/fakedri/renderD$VGEM_RENDER $FAKE_ZERO; do
    [ -c "$n" ] || fail "$n is not a char device" || return 1
  done
  ls -l /dev/fakedri /dev/fakechr
  grep -E ' fakedri$' /proc/devices && grep -E ' fakechr$' /proc/devices || fail "regions missing from /proc/devices" || return 1
  cat /sys/module/fakegpu/parameters/devices
  dmesg | grep "fakegpu: $FAKE_CARD -> 226:$VGEM_CARD (drm)" || fail "load message missing"
}

case_bad_devices_param_refused() {
  rmmod fakegpu || return 1
  for bad in "" "devices=226" "devices=226:x" "devices=226:300" "devices=1:3,1:3" "devices=600:1"; do
    if insmod /fakegpu/fakegpu.ko $bad 2>/tmp/err; then rmmod fakegpu; fail "insmod accepted '$bad'"; return 1; fi
    echo "insmod $bad: $(cat /tmp/err)"
  done
  dmesg | grep 'fakegpu: devices="226:x": entry 1 is not MAJOR:MINOR in decimal' || fail "no clear message" || return 1
  dmesg | grep 'fakegpu: devices="": no device given' || fail "no message for a missing devices=" || return 1
  [ ! -e /dev/fakedri ] || fail "/dev/fakedri left behind" || return 1
  load_fakegpu
}

case_rmmod_refused_while_open() {
  exec 3<>"$FAKE_CARD" || return 1
  if rmmod fakegpu 2>/tmp/err; then fail "rmmod succeeded with a fake node open"; return 1; fi
  echo "rmmod while open: $(cat /tmp/err)"
  grep -q "in use\|busy" /tmp/err || fail "unexpected rmmod error" || return 1
  exec 3>&-
  rmmod fakegpu || fail "rmmod after close failed" || return 1
  [ ! -e "$FAKE_CARD" ] || fail "$FAKE_CARD still exists after rmmod" || return 1
  grep -q fakedri /proc/devices && fail "fakedri still registered" && return 1
  load_fakegpu && [ -c "$FAKE_CARD" ]
}

case_absent_real_device_gives_enxio() {
  rmmod fakegpu || return 1
  insmod /fakegpu/fakegpu.ko devices="$(fakegpu_devices),240:7" || fail "insmod failed" || return 1
  mknod /tmp/direct c 240 7
  direct=$(cat /tmp/direct 2>&1); fake=$(cat /dev/fakechr/240.7 2>&1)
  rm -f /tmp/direct
  echo "direct: $direct"; echo "fake:   $fake"
  rmmod fakegpu; load_fakegpu || return 1
  case $fake in *"No such device or address"*) ;; *) fail "want ENXIO through the fake node"; return 1;; esac
  [ "${direct#*: }" = "${fake#*: }" ] || fail "errors differ"
}

case_final_unload() {
  rmmod fakegpu || return 1
  [ ! -e /dev/fakedri ] && [ ! -e /dev/fakechr ] || fail "nodes left after rmmod" || return 1
  ! grep -qE ' fake(dri|chr)$' /proc/devices || fail "regions left after rmmod"
}

echo "fakegpu VM test suite on $(uname -r), $(nproc) CPUs"
run_case module_creates_nodes case_module_creates_nodes
export_test_env
for c in $(fakegpu-vmtest list); do
  run_case "$c" fakegpu-vmtest "$c"
done
run_case bad_devices_param_refused case_bad_devices_param_refused
run_case rmmod_refused_while_open case_rmmod_refused_while_open
run_case absent_real_device_gives_enxio case_absent_real_device_gives_enxio
run_case final_unload case_final_unload
report "SUITE $passed passed, $failed failed"
