# What the cases of NVIDIA's own userspace share (nvidia_userspace.sh, cuda_runtime.sh): its
# root, running its binaries, and nvsim's trace around each case.
. /fakegpu/lib.sh
NV_ROOT=/nvidia
NV_LIBS=$NV_ROOT/usr/lib/x86_64-linux-gnu

nv() { LD_LIBRARY_PATH=$NV_LIBS "$@"; }

fail() { echo "FAIL: $*"; return 1; }

# nvsim with trace mode on and the kernel log cleared, so each case sees its own calls.
setup() {
  lsmod | grep -q nvsim || load_nvsim || return 1
  echo 1 > /sys/module/nvsim/parameters/trace
  dmesg -c > /dev/null
}

# The calls nvsim answered with an error, from its trace: "count call -> status".
failed_calls() {
  dmesg | grep 'trace:' | sed 's/.*trace: //' | grep -v 'errno 0 status 0x0$' | grep -v '^event ' |
    sort | uniq -c
}

# The controls fakegpu counted as unknown, but for those it leaves out on purpose.
unknown_controls() {
  grep 'unknown_control ' /sys/kernel/fakegpu/calls |
    grep -v -e ' 0x0080028b ' -e ' 0x20808161 ' -e ' 0x20808162 ' -e ' 0x20809038 '
}

# How many events nvsim has posted to OS events so far.
events_posted() { awk '$1 == "os_events" { print $5 }' /sys/kernel/debug/nvsim/state; }
