# The benchmark run: figures to /dev/ttyS1 for the host; "BENCH DONE" only if it completed.
exec > /dev/ttyS1 2>&1
. /fakegpu/lib.sh
# Room for bench-scale: 100 000 live allocations on each side.
load_nvsim max_objects=262144 || { echo "insmod nvsim failed"; exit 1; }
load_fakegpu || { echo "insmod failed"; exit 1; }
export_test_env
fakegpu-vmtest bench || exit 1
# How metering scales with live allocations and cgroup entries.
fakegpu-vmtest bench-scale || exit 1
# NVIDIA's libcuda (when it was fetched): cuCtxCreate + 100 cuMemAlloc(2 MiB) + cuCtxDestroy,
# directly against nvsim and through fakegpu's nodes in a cgroup with an entry (metered; no
# memory limit, under which fakegpu refuses libcuda's pinned staging memory).
if [ -x /nvidia/usr/bin/cuda_probe ]; then
  ROUNDS=7
  libs=/nvidia/usr/lib/x86_64-linux-gnu
  probe="LD_LIBRARY_PATH=$libs /nvidia/usr/bin/cuda_probe bench $ROUNDS"
  median() { awk '/^ROUND/ {print $2}' | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p"; }
  calls() { awk '$1 == "nvidia" {n[$2] = $3} END {print n["private"] + n["worker"] + n["forwarded"], n["private"]}' /sys/kernel/fakegpu/calls; }
  direct=$(sh -c "$probe" | median)
  mkdir -p /tmp/nodes && mount -t fakegpu-nodes fakegpu /tmp/nodes || exit 1
  mkdir -p /sys/fs/cgroup/cudabench && echo "add /cudabench" > /sys/kernel/fakegpu/cgroups/control || exit 1
  set -- $(calls); all0=$1; private0=$2
  through=$(sh -c "echo \$\$ > /sys/fs/cgroup/cudabench/cgroup.procs && exec unshare -m sh -c '
    for n in ctl:nvidiactl 0:nvidia0 1:nvidia1 -uvm:nvidia-uvm; do
      mount --bind /tmp/nodes/fakegpu\${n%%:*} /dev/\${n#*:} || exit 1
    done; $probe'" | median)
  set -- $(calls); all=$(( ($1 - all0) / ROUNDS )); private=$(( ($2 - private0) / ROUNDS ))
  umount /tmp/nodes
  [ -n "$direct" ] && [ -n "$through" ] && [ "$private" -gt 0 ] || { echo "the libcuda bench failed"; exit 1; }
  awk -v d="$direct" -v t="$through" -v a="$all" -v p="$private" -v r="$ROUNDS" 'BEGIN {
    printf "BENCH libcuda cuCtxCreate + 100 cuMemAlloc(2 MiB) + cuCtxDestroy, metered: direct %.1f ms, through fakegpu %.1f ms, ratio %.3f; %d NVIDIA calls per round through fakegpu, %d of them made on a private copy; fakegpu adds %.0f us per call made so (%d rounds, medians; TCG, side by side)\n",
      d / 1e6, t / 1e6, t / d, a, p, (t - d) / p / 1e3, r }'
fi
echo "BENCH DONE"
rmmod fakegpu
