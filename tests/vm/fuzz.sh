# The long fuzz run (make fuzz-long): the ioctl fuzzer with the budget from the kernel command
# line (FUZZ_SEED, FUZZ_CALLS, FUZZ_SECONDS; see tests/vm-client/src/fuzz.rs). Its output goes
# to /dev/ttyS1 for the host; "FUZZ DONE" only if it passed and left no kernel splat.
exec > /dev/ttyS1 2>&1
. /fakegpu/lib.sh
load_nvsim || { echo "insmod nvsim failed"; exit 1; }
load_fakegpu || { echo "insmod fakegpu failed"; exit 1; }
export_test_env
dmesg -c > /dev/null
fakegpu-vmtest fuzz
rc=$?
if dmesg | grep -E "$SPLAT_RE"; then
  echo "kernel splat during the fuzz run:"; dmesg; rc=99
fi
rmmod fakegpu || rc=1
[ $rc = 0 ] && echo "FUZZ DONE"
