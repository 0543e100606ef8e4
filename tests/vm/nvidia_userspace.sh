# NVIDIA's own userspace (nvidia-smi, NVML, libcuda; 535.309.01, fetched by
# scripts/fetch-nvidia-userspace.sh) against nvsim, directly and through fakegpu.
#   sh nvidia_userspace.sh CASE
. /fakegpu/lib.sh
NV_ROOT=/nvidia
NV_LIBS=$NV_ROOT/usr/lib/x86_64-linux-gnu

nv() { LD_LIBRARY_PATH=$NV_LIBS "$@"; }

explore() {
  lsmod | grep -q nvsim || load_nvsim || return 1
  echo 1 > /sys/module/nvsim/parameters/trace
  dmesg -c >/dev/null
  nv strace -f -e trace=%file,ioctl -o /tmp/smi.strace $NV_ROOT/usr/bin/nvidia-smi ${EXPLORE_ARGS:--L}
  echo "rc=$?"
  grep -E '/proc|/dev|/sys|ioctl' /tmp/smi.strace | grep -v 'ioctl(.*0x46' | grep -v 'lib' | head -60
  dmesg | grep -v 'trace:' | tail -20
  dmesg | grep 'trace:' | sed 's/.*trace: //' | uniq -c | head -300
  return 1
}

case=$1; shift
"$case" "$@"
