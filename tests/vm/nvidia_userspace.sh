# NVIDIA's own userspace (nvidia-smi, NVML, libcuda; 535.309.01, fetched by
# scripts/fetch-nvidia-userspace.sh) against nvsim, directly and through fakegpu.
#   sh nvidia_userspace.sh CASE
. /fakegpu/lib.sh
NV_ROOT=/nvidia
NV_LIBS=$NV_ROOT/usr/lib/x86_64-linux-gnu

nv() { LD_LIBRARY_PATH=$NV_LIBS "$@"; }

explore_one() {
  dmesg -c >/dev/null
  echo "=== $*"
  nv "$@"
  echo "rc=$?"
  if [ -n "${FULL:-}" ]; then
    dmesg | grep 'trace:' | sed 's/.*trace: //' | uniq -c | tail -${FULL}
  else
    dmesg | grep 'trace:' | sed 's/.*trace: //' | grep -v 'status 0x0$' | sort | uniq -c | head -40
  fi
}

explore() {
  lsmod | grep -q nvsim || load_nvsim || return 1
  echo 1 > /sys/module/nvsim/parameters/trace
  FULL=60 explore_one $NV_ROOT/usr/bin/cuda_probe
  return 1
}

case=$1; shift
"$case" "$@"
