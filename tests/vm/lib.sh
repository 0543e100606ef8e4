# Helpers shared by the guest scripts (busybox sh).

# The vgem DRM device: its card and render minors.
vgem_minors() {
  for d in /sys/class/drm/card[0-9]*; do
    case $(readlink "$d/device") in
      */vgem)
        VGEM_CARD=${d##*/card}
        for r in "$d"/device/drm/renderD*; do VGEM_RENDER=${r##*/renderD}; done
        return 0 ;;
    esac
  done
  return 1
}

# The virtio-gpu device QEMU provides: its card minor (without 3D support in the device,
# virtio-gpu makes no render node).
virtio_gpu_minors() {
  for d in /sys/class/drm/card[0-9]*; do
    case ${d##*/} in *-*) continue ;; esac
    # The PCI device behind it: virtio (1af4), GPU (1050).
    if grep -qx 'PCI_ID=1AF4:1050' "$d/device/uevent" 2>/dev/null; then
      VIRTIO_CARD=${d##*/card}
      return 0
    fi
  done
  return 1
}

# The devices= value the tests load fakegpu with: vgem's card and render nodes, virtio-gpu's
# card node and /dev/zero as a generic front. fakegpu finds nvsim's devices itself
# (nvidia_gpus=auto).
fakegpu_devices() {
  vgem_minors || { echo "no vgem device" >&2; return 1; }
  virtio_gpu_minors || { echo "no virtio-gpu device" >&2; return 1; }
  echo "226:$VGEM_CARD,226:$VGEM_RENDER,226:$VIRTIO_CARD,1:5"
}

# nvsim, and the nodes nvidia-modprobe would make from /proc/devices (the driver makes none).
load_nvsim() {
  insmod /fakegpu/nvsim.ko "$@" || return 1
  major=$(awk '$2 == "nvidia-frontend" {print $1}' /proc/devices)
  [ -n "$major" ] || return 1
  mknod -m 666 /dev/nvidiactl c "$major" 255
  i=0
  while [ -e "/sys/module/nvsim" ] && [ $i -lt "$(cat /sys/module/nvsim/parameters/gpus)" ]; do
    mknod -m 666 "/dev/nvidia$i" c "$major" "$i"; i=$((i + 1))
  done
  uvm=$(awk '$2 == "nvidia-uvm" {print $1}' /proc/devices)
  [ -n "$uvm" ] || return 1
  mknod -m 666 /dev/nvidia-uvm c "$uvm" 0
  mknod -m 666 /dev/nvidia-uvm-tools c "$uvm" 1
}

unload_nvsim() {
  rm -f /dev/nvidiactl /dev/nvidia[0-9]* /dev/nvidia-uvm /dev/nvidia-uvm-tools
  rmmod nvsim
}

# fakegpu with the suite's fronts. Its nodes are opened by tests that drop root, as a
# container's processes would be (devtmpfs makes them 0600).
load_fakegpu() {
  devices=$(fakegpu_devices) || return 1
  insmod /fakegpu/fakegpu.ko devices="$devices" || return 1
  chmod 666 /dev/fakegpu* 2>/dev/null
  return 0
}

# Environment of fakegpu-vmtest (see tests/vm-client/src/main.rs).
export_test_env() {
  vgem_minors
  export FAKE_CARD=/dev/fakedri/card$VGEM_CARD REAL_CARD=/dev/dri/card$VGEM_CARD
  export FAKE_ZERO=/dev/fakechr/1.5 REAL_ZERO=/dev/zero
  virtio_gpu_minors
  export FAKE_VIRTIO_CARD=/dev/fakedri/card$VIRTIO_CARD REAL_VIRTIO_CARD=/dev/dri/card$VIRTIO_CARD
  export FAKEGPU_INSMOD="insmod /fakegpu/fakegpu.ko devices=$(fakegpu_devices) && chmod 666 /dev/fakegpu*"
  export FAKEGPU_RMMOD="rmmod fakegpu"
  export NV_CTL=/dev/nvidiactl NV_GPU0=/dev/nvidia0 NV_GPU1=/dev/nvidia1 NV_UVM=/dev/nvidia-uvm
  export NV_NODE_DIR=/tmp FAKE_NV_CTL=/dev/fakegpuctl FAKE_NV_GPU0=/dev/fakegpu0
  export FAKE_NV_GPU1=/dev/fakegpu1 FAKE_NV_UVM=/dev/fakegpu-uvm
}

# `env $THROUGH_FAKEGPU cmd` runs cmd with the nvsim cases' nodes pointing at fakegpu's
# NVIDIA nodes.
THROUGH_FAKEGPU="NV_CTL=/dev/fakegpuctl NV_GPU0=/dev/fakegpu0 NV_GPU1=/dev/fakegpu1 NV_UVM=/dev/fakegpu-uvm NV_THROUGH_FAKEGPU=1"

# Kernel log lines that fail a run: any splat. (lockdep and KASAN reports start with BUG: or
# WARNING:; the rest catches what prints neither.)
SPLAT_RE='BUG:|WARNING:|KASAN:|Oops|general protection fault|Kernel panic|UBSAN:|kernel BUG|refcount_t:|list_add corruption|list_del corruption|INFO: task .* blocked|INFO: trying to register non-static key|RCU detected stall|soft lockup|hard LOCKUP'
