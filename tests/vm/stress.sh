# The long stress run (make stress-long): tests/vm-client/src/stress.rs with the budget from
# the kernel command line (STRESS_SEED, STRESS_OPS, STRESS_SECONDS, STRESS_PROCS,
# STRESS_THREADS). Its output goes to /dev/ttyS1 for the host; "STRESS DONE" only if it
# passed and left no kernel splat.
exec > /dev/ttyS1 2>&1
. /fakegpu/lib.sh
load_nvsim || { echo "insmod nvsim failed"; exit 1; }
load_fakegpu || { echo "insmod fakegpu failed"; exit 1; }
export_test_env
dmesg -c > /dev/null
fakegpu-vmtest stress
rc=$?
if dmesg | grep -E "$SPLAT_RE"; then
  echo "kernel splat during the stress run:"; dmesg; rc=99
fi
rmmod fakegpu || rc=1
[ $rc = 0 ] && echo "STRESS DONE"
