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

# NVIDIA's userspace in a runc container, as the NVIDIA container toolkit would inject it:
# its /usr bind-mounted from /nvidia/usr, glibc from the host.
NV_MOUNTS='{"destination": "/usr", "type": "bind", "source": "/nvidia/usr", "options": ["rbind", "ro"]},
    {"destination": "/lib", "type": "bind", "source": "/lib", "options": ["rbind", "ro"]},
    {"destination": "/lib64", "type": "bind", "source": "/lib64", "options": ["rbind", "ro"]},'
NV_ENV='"LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu"'

# nv_container NAME ANNOTATIONS SCRIPT: runs SCRIPT in a container with NVIDIA's userspace.
nv_container() {
  . /fakegpu/container_lib.sh
  write_config
  MOUNTS=$NV_MOUNTS bundle "$1" "$2" "$NV_ENV" "$3"
  if [ -n "${STRACE:-}" ]; then
    strace -f -e trace=%file,ioctl -o /tmp/ctr.strace $RUNC run --no-pivot --bundle /containers/$1 $1
  else
    run_ctr "$1"
  fi
}

explore_container() {
  lsmod | grep -q nvsim || load_nvsim || return 1
  lsmod | grep -q fakegpu || load_fakegpu || return 1
  echo 1 > /sys/module/nvsim/parameters/trace
  dmesg -c > /dev/null
  STRACE=1 nv_container explore '"fakegpu.io/memory.max":"2G","fakegpu.io/devices":"0"' \
    'ls -l /dev/nvidia*; grep Modify /proc/driver/nvidia/params; grep -e nvidia -e proc /proc/self/mountinfo; /usr/bin/nvidia-smi -L; /usr/bin/nvidia-smi --query-gpu=name,uuid,memory.total,memory.used --format=csv; /usr/bin/nvidia-smi -q -d MEMORY; /usr/bin/cuda_probe'
  echo "rc=$?"
  grep -E 'nvidia|/proc/driver|/dev/char|mknod' /tmp/ctr.strace | grep -v '\.so' | head -60
  dmesg | grep -v 'trace:' | tail -30
  dmesg | grep 'trace:' | sed 's/.*trace: //' | grep -v 'status 0x0$' | sort | uniq -c | head -40
  return 1
}

case=$1; shift
"$case" "$@"
