# The benchmark run: figures to /dev/ttyS1 for the host.
. /fakegpu/lib.sh
load_fakegpu || { echo "BENCH failed: insmod" > /dev/ttyS1; exit 1; }
export_test_env
fakegpu-vmtest bench 2>&1 | tee /dev/ttyS1
rmmod fakegpu
