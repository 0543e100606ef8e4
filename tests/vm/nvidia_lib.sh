# What the cases of NVIDIA's own userspace share (nvidia_userspace.sh, cuda_runtime.sh): its
# root, running its binaries, and nvsim's trace around each case. NV_FAMILY=550 runs them
# with the 550 family's userspace (/nvidia-550) against nvsim simulating that version.
. /fakegpu/lib.sh
NV_FAMILY=${NV_FAMILY:-535}
NV_ROOT=/nvidia
[ "$NV_FAMILY" = 535 ] || NV_ROOT=/nvidia-$NV_FAMILY
NV_LIBS=$NV_ROOT/usr/lib/x86_64-linux-gnu
NV_VERSION=$(cat $NV_ROOT/version 2>/dev/null)
# The two UVM commands with per-GPU arrays (32 entries in 535, 256 in 550): their sizes.
case $NV_FAMILY in
  535) UVM_MAP_EXTERNAL_SIZE=1200 UVM_SEMAPHORE_POOL_SIZE=1184 ;;
  *) UVM_MAP_EXTERNAL_SIZE=9264 UVM_SEMAPHORE_POOL_SIZE=9248 ;;
esac

nv() { LD_LIBRARY_PATH=$NV_LIBS "$@"; }

fail() { echo "FAIL: $*"; return 1; }

# nvsim simulating the family's version (reloaded, with fakegpu if it was loaded, when it
# simulates another).
use_family() {
  [ -n "$NV_VERSION" ] || { echo "no $NV_ROOT/version"; return 1; }
  if lsmod | grep -q nvsim && [ "$(cat /sys/module/nvsim/parameters/version)" != "$NV_VERSION" ]; then
    fronted=; lsmod | grep -q fakegpu && { rmmod fakegpu || return 1; fronted=1; }
    unload_nvsim || return 1
    load_nvsim version="$NV_VERSION" || return 1
    [ -z "$fronted" ] || load_fakegpu || return 1
  fi
  lsmod | grep -q nvsim || load_nvsim version="$NV_VERSION"
}

# nvsim with trace mode on and the kernel log cleared, so each case sees its own calls.
setup() {
  use_family || return 1
  echo 1 > /sys/module/nvsim/parameters/trace
  dmesg -c > /dev/null
}

# The calls nvsim answered with an error, from its trace: "count call -> status".
failed_calls() {
  dmesg | grep 'trace:' | sed 's/.*trace: //' | grep -v 'errno 0 status 0x0$' | grep -v '^event ' |
    sort | uniq -c
}

# The controls fakegpu counted as unknown, but for those it leaves out on purpose: three of
# the closed RM's that libcuda tolerates refused, and (550) the binary API's opaque control
# 0x20810108, whose payload nobody outside NVIDIA can check (nvsim answers it "not
# supported" too, and libcuda goes on).
unknown_controls() {
  grep 'unknown_control ' /sys/kernel/fakegpu/calls |
    grep -v -e ' 0x0080028b ' -e ' 0x20808161 ' -e ' 0x20808162 ' -e ' 0x20809038 ' -e ' 0x20810108 '
}

# How many events nvsim has posted to OS events so far.
events_posted() { awk '$1 == "os_events" { print $5 }' /sys/kernel/debug/nvsim/state; }
