# A long run of the ioctl fuzzer (make fuzz-long) or of the stress run (make stress-long):
#   sh long_run.sh fuzz|stress
# fakegpu-vmtest reads its budget from the kernel command line (FUZZ_SEED, FUZZ_CALLS,
# FUZZ_SECONDS, see tests/vm-client/src/fuzz.rs; STRESS_SEED, STRESS_OPS, STRESS_SECONDS,
# STRESS_PROCS, STRESS_THREADS, see stress.rs). The output goes to /dev/ttyS1 for the host;
# "FUZZ DONE" or "STRESS DONE" only if the run passed and left no kernel splat.
kind=$1
exec > /dev/ttyS1 2>&1
. /fakegpu/lib.sh
load_nvsim || { echo "insmod nvsim failed"; exit 1; }
load_fakegpu || { echo "insmod fakegpu failed"; exit 1; }
export_test_env
dmesg -c > /dev/null
fakegpu-vmtest "$kind"
rc=$?
if dmesg | grep -E "$SPLAT_RE"; then
  echo "kernel splat during the $kind run:"; dmesg; rc=99
fi
rmmod fakegpu || rc=1
[ $rc = 0 ] && echo "$(echo "$kind" | tr a-z A-Z) DONE"
