# The benchmark run: figures to /dev/ttyS1 for the host; "BENCH DONE" only if it completed.
exec > /dev/ttyS1 2>&1
. /fakegpu/lib.sh
# Room for bench-scale: 100 000 live allocations on each side.
load_nvsim max_objects=262144 || { echo "insmod nvsim failed"; exit 1; }
load_fakegpu || { echo "insmod failed"; exit 1; }
export_test_env
fakegpu-vmtest bench || exit 1
# How metering scales with live allocations and cgroup entries.
fakegpu-vmtest bench-scale && echo "BENCH DONE"
rmmod fakegpu
