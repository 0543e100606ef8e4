# NVIDIA's own userspace (nvidia-smi, NVML, libcuda; 535.309.01, fetched by
# scripts/fetch-nvidia-userspace.sh) against nvsim, directly and through fakegpu.
#   sh nvidia_userspace.sh CASE
. /fakegpu/nvidia_lib.sh

# nvidia-smi -L lists both simulated GPUs by name and UUID.
nvidia_smi_list() {
  setup || return 1
  nv $NV_ROOT/usr/bin/nvidia-smi -L > /tmp/out 2>&1; rc=$?
  cat /tmp/out
  [ $rc = 0 ] || fail "nvidia-smi -L exited $rc" || return 1
  grep -qx 'GPU 0: NVIDIA nvsim GPU (UUID: GPU-6e767369-6d67-7075-0000-000000000000)' /tmp/out &&
    grep -qx 'GPU 1: NVIDIA nvsim GPU (UUID: GPU-6e767369-6d67-7075-0000-000000000001)' /tmp/out ||
    fail "the GPUs are not listed as nvsim simulates them"
}

# --query-gpu shows nvsim's 4096 MiB per GPU, and the memory a process holds on GPU 0 as used.
nvidia_smi_query() {
  setup || return 1
  nv-client hold 67108864 > /tmp/held & h=$!
  i=0; until grep -q alloc_status /tmp/held 2>/dev/null || [ $i -gt 50 ]; do sleep 0.1; i=$((i + 1)); done
  nv $NV_ROOT/usr/bin/nvidia-smi --query-gpu=name,uuid,memory.total,memory.used --format=csv > /tmp/out 2>&1; rc=$?
  kill $h; wait $h 2>/dev/null
  cat /tmp/out
  [ $rc = 0 ] || fail "nvidia-smi --query-gpu exited $rc" || return 1
  grep -qx 'name, uuid, memory.total \[MiB\], memory.used \[MiB\]' /tmp/out || fail "no CSV header" || return 1
  grep -qx 'NVIDIA nvsim GPU, GPU-6e767369-6d67-7075-0000-000000000000, 4096 MiB, 64 MiB' /tmp/out ||
    fail "GPU 0 should show 4096 MiB total and the 64 MiB held" || return 1
  grep -qx 'NVIDIA nvsim GPU, GPU-6e767369-6d67-7075-0000-000000000001, 4096 MiB, 0 MiB' /tmp/out ||
    fail "GPU 1 should show 4096 MiB total, none used"
}

# --query-compute-apps lists the process that holds a CUDA context on GPU 0, by pid and
# name, with the video memory nvsim counts for it (GET_PIDS and GET_PID_INFO).
nvidia_smi_compute_apps() {
  setup || return 1
  CUDA_PROBE_TIMEOUT=60 nv $NV_ROOT/usr/bin/cuda_probe quota > /tmp/ctx 2>&1 & c=$!
  i=0; until grep -qx PAUSE /tmp/ctx 2>/dev/null || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
  p=$(pidof cuda_probe)
  dmesg -c > /dev/null
  nv $NV_ROOT/usr/bin/nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv > /tmp/out 2>&1; rc=$?
  dmesg | grep 'trace:' | sed 's/.*trace: //' | grep -v "engine gpu" > /tmp/smitrace
  wait $c
  cat /tmp/out
  echo "--- nvidia-smi's calls nvsim refused:"; grep -v "status 0x0$" /tmp/smitrace | sort | uniq -c
  [ $rc = 0 ] || fail "nvidia-smi exited $rc" || return 1
  grep -qx 'pid, process_name, used_gpu_memory \[MiB\]' /tmp/out || fail "no CSV header" || return 1
  grep -Eqx "$p, [^,]*cuda_probe, [1-9][0-9]* MiB" /tmp/out ||
    fail "cuda_probe (pid $p) is not listed with its memory" || return 1
  [ "$(grep -c MiB /tmp/out)" = 2 ] || fail "one process, once, is listed"
}

# -q -d MEMORY: the driver version and the framebuffer of each GPU.
nvidia_smi_memory_report() {
  setup || return 1
  nv $NV_ROOT/usr/bin/nvidia-smi -q -d MEMORY > /tmp/out 2>&1; rc=$?
  cat /tmp/out
  [ $rc = 0 ] || fail "nvidia-smi -q exited $rc" || return 1
  grep -Eq "^Driver Version +: $NV_VERSION$" /tmp/out || fail "driver version" || return 1
  grep -Eq '^Attached GPUs +: 2$' /tmp/out || fail "attached GPUs" || return 1
  [ "$(grep -Ec '^ +Total +: 4096 MiB$' /tmp/out)" = 2 ] || fail "FB total of both GPUs" || return 1
  [ "$(grep -Ec '^ +Free +: 4096 MiB$' /tmp/out)" = 2 ] || fail "FB free of both GPUs"
}

# libcuda's driver API against nvsim. cuInit, cuDeviceGetCount, cuDeviceGetName and
# cuDeviceTotalMem work (about 80 queries answered with an H100 PCIe's numbers, the usermode
# doorbell page mapped). cuCtxCreate registers both GPUs with UVM, maps its buffers through
# UVM external ranges and video memory into the process, builds three channel groups of 8,
# 4 and 4 channels with compute and copy objects, registers them with UVM, allocates a
# semaphore pool and maps it through the UVM file, and submits work that nvsim's engine runs
# (host and compute semaphores, inline uploads, copies, fills); then cuMemGetInfo,
# cuMemAlloc of 64 MiB (seen in the free memory), cuMemFree and cuCtxDestroy all succeed.

cuda_driver_api() {
  setup || return 1
  before=$(grep -E '^(gpu0|sys_used|sys_pages|fb_pages|objects)' /sys/kernel/debug/nvsim/state)
  CUDA_PROBE_TIMEOUT=60 nv $NV_ROOT/usr/bin/cuda_probe work > /tmp/out 2>&1; rc=$?
  after=$(grep -E '^(gpu0|sys_used|sys_pages|fb_pages|objects)' /sys/kernel/debug/nvsim/state)
  cat /tmp/out; failed_calls
  echo "--- the last calls, in order:"
  dmesg | grep 'trace:' | sed 's/.*trace: //' | uniq -c | tail -12
  for call in cuInit cuDeviceGetCount cuCtxCreate cuMemGetInfo cuMemAlloc cuMemcpyHtoD \
      cuMemcpyDtoH cuMemsetD8 cuMemsetD32 cuStreamCreate cuEventCreate cuEventRecord \
      cuMemcpyHtoDAsync cuMemcpyDtoHAsync cuStreamSynchronize cuEventSynchronize \
      cuEventElapsedTime cuEventDestroy cuStreamDestroy cuModuleLoadData cuModuleGetFunction \
      cuLaunchKernel cuCtxSynchronize cuModuleUnload cuMemFree cuCtxDestroy; do
    grep -qx "CALL $call = 0 (CUDA_SUCCESS)" /tmp/out || fail "$call failed" || return 1
  done
  # 64 MiB through the copy engine and back, byte for byte, synchronously and on a stream
  # (through pinned staging buffers: OS descriptors nvsim pins).
  for data in copy stream; do
    grep -qx "DATA $data ok" /tmp/out || fail "the $data data came back wrong" || return 1
  done
  grep -qx 'ELAPSED ok' /tmp/out || fail "cuEventElapsedTime gave a negative time" || return 1
  # Allocations of several sizes: the large ones take exactly their size from cuMemGetInfo.
  for size in 268435456 1073741824; do
    grep -qx "ALLOC $size took $size" /tmp/out || fail "cuMemAlloc($size) took $(grep "^ALLOC $size " /tmp/out)" || return 1
  done
  grep -q '^ALLOC 1048576 took ' /tmp/out || fail "no cuMemAlloc of 1 MiB" || return 1
  # Once the process is gone, nvsim's ground truth is back where it was (memory, pinned and
  # backed pages, objects).
  [ "$before" = "$after" ] || fail "nvsim's state changed: before: $before; after: $after" || return 1
  # libcuda sets memory with a compute kernel (QMD V04, whose releases nvsim honours), and
  # nvsim runs no kernel code: the memsets complete, the memory keeps the copied pattern.
  grep -qx 'DATA memset8 bad at 0: 0, want 0xa5' /tmp/out ||
    fail "memset8's data: nvsim now runs kernels? update this case" || return 1
  grep -qx 'DEVICES 2' /tmp/out || fail "libcuda should count both GPUs" || return 1
  for d in 0 1; do
    grep -qx "DEVICE $d name=NVIDIA nvsim GPU total=4294967296" /tmp/out ||
      fail "device $d: name or total memory (4 GiB) wrong" || return 1
  done
  # cuMemGetInfo: the total, and 64 MiB less free after cuMemAlloc of 64 MiB.
  free1=$(grep '^MEMINFO' /tmp/out | sed -n '1s/.*free=\([0-9]*\) total=4294967296$/\1/p')
  free2=$(grep '^MEMINFO' /tmp/out | sed -n '2s/.*free=\([0-9]*\) total=4294967296$/\1/p')
  [ -n "$free1" ] && [ -n "$free2" ] && [ $((free1 - free2)) = 67108864 ] ||
    fail "cuMemGetInfo should show 4 GiB total and 64 MiB less free after cuMemAlloc" || return 1
  dmesg | grep 'trace:' | grep -q 'esc 0x4e map offset 0x0 length 0x10000 flags 0x[0-9a-f]* -> errno 0 status 0x0' ||
    fail "libcuda did not map its usermode region" || return 1
  # The UVM path a real H100 takes: no RM_MAP_MEMORY_DMA (0x57), every mapping through UVM.
  for cmd in 'uvm command 37 (40 bytes)' 'uvm command 25 (32 bytes)' 'uvm command 73 (24 bytes)' \
      "uvm command 33 ($UVM_MAP_EXTERNAL_SIZE bytes)" "uvm command 68 ($UVM_SEMAPHORE_POOL_SIZE bytes)"; do
    dmesg | grep 'trace:' | grep -q "$cmd -> errno 0" || fail "libcuda made no $cmd" || return 1
  done
  ! dmesg | grep 'trace:' | grep -q 'esc 0x57 ' || fail "libcuda mapped with RM_MAP_MEMORY_DMA" || return 1
  # The channels: 16 GPFIFO channels with their ids, compute and copy objects and engine
  # ids, a debugger session, OS events on a GPU file; their work run by the engine.
  for call in 'alloc class 0x9067 (48 bytes)' 'alloc class 0xc86f (48 bytes)' \
      'alloc class 0xcbc0 (48 bytes)' 'alloc class 0xc8b5 (48 bytes)' \
      'alloc class 0x83de (48 bytes)' 'control 0x0080170d (24 bytes)' \
      'control 0xc36f0101 (16 bytes)' 'control 0xc36f0108 (4 bytes)' \
      'control 0xa06c0101 (2 bytes)'; do
    dmesg | grep 'trace:' | grep -q "$call -> errno 0 status 0x0$" || fail "libcuda made no $call" || return 1
  done
  n=$(dmesg | grep 'trace:' | grep -c 'alloc class 0xc86f (48 bytes) -> errno 0 status 0x0$')
  [ "$n" = 16 ] || fail "libcuda made $n channels, want 16" || return 1
  dmesg | grep 'trace:' | grep -q 'node 0 esc 0x2b alloc class 0x79 (48 bytes) -> errno 0 status 0x0$' ||
    fail "libcuda allocated no OS event on a GPU file" || return 1
  for action in 'Release {' 'Copy {' 'Fill {' 'Launch {'; do
    dmesg | grep 'trace: engine' | grep -qF "$action" || fail "the engine ran no $action" || return 1
  done
  ! dmesg | grep -q 'in error' || fail "a channel went into error: $(dmesg | grep 'in error' | head -1)" || return 1
  [ $rc = 0 ] || fail "cuda_probe exited $rc"
}

# The same work with a blocking-sync context (CU_CTX_SCHED_BLOCKING_SYNC): libcuda then ends
# its compute work with a report-semaphore TRAP (a notify interrupt), which nvsim took for a
# bad method (the channel went into error, cuModuleLoadData failed with 719); every call now
# succeeds.
cuda_driver_api_blocking_sync() {
  setup || return 1
  posted=$(events_posted)
  CUDA_PROBE_CTX_FLAGS=4 CUDA_PROBE_TIMEOUT=60 nv $NV_ROOT/usr/bin/cuda_probe work > /tmp/out 2>&1; rc=$?
  cat /tmp/out; failed_calls
  # libcuda arms a dataless non-stall event on GR0 and waits in poll; each TRAP posts it.
  dmesg | grep -q 'trace: event .* notify 0x3800000c ' ||
    fail "libcuda armed no GR0 non-stall event" || return 1
  woken=$(( $(events_posted) - posted ))
  echo "FIGURE events posted to libcuda's blocking sync: $woken"
  [ "$woken" -gt 0 ] || fail "no event was posted to libcuda" || return 1
  ! grep -q '^CALL .* = [1-9]' /tmp/out && ! grep -q '^HANG ' /tmp/out ||
    fail "a call failed or hung with blocking sync" || return 1
  grep -qx 'CALL cuCtxDestroy = 0 (CUDA_SUCCESS)' /tmp/out && grep -qx 'DATA stream ok' /tmp/out ||
    fail "the blocking-sync run did not finish its work" || return 1
  ! dmesg | grep -q 'in error' || fail "a channel went into error: $(dmesg | grep 'in error' | head -1)" || return 1
  [ $rc = 0 ] || fail "cuda_probe exited $rc"
}

# NVIDIA's userspace in a runc container, as the NVIDIA container toolkit would inject it:
# its /usr bind-mounted from /nvidia/usr, glibc from the host.
NV_MOUNTS='{"destination": "/usr", "type": "bind", "source": "'"$NV_ROOT"'/usr", "options": ["rbind", "ro"]},
    {"destination": "/lib", "type": "bind", "source": "/lib", "options": ["rbind", "ro"]},
    {"destination": "/lib64", "type": "bind", "source": "/lib64", "options": ["rbind", "ro"]},'
NV_ENV='"LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu"'

# nv_container NAME ANNOTATIONS SCRIPT: runs SCRIPT in a container with NVIDIA's userspace,
# under a host configuration that allows up to 4 GiB per GPU.
nv_container() {
  . /fakegpu/container_lib.sh
  printf 'requests-from = ["annotations"]\nmax-memory = "4G"\n' > $CONFIG
  MOUNTS=$NV_MOUNTS bundle "$1" "$2" "$NV_ENV" "$3"
  run_ctr "$1"
}

# nvidia-smi and libcuda in a container set up the CDI way: the nodes (fakegpu's numbers)
# and device rules a CDI engine writes into config.json from `fakegpu cdi generate`'s spec
# for GPU 0, and the spec's `createRuntime --cdi` hook, which binds the nodes filesystem's
# nodes over the runtime's. NVML and libcuda see NVIDIA's numbers and the 1 GiB quota.
nvidia_smi_in_cdi_container() {
  setup || return 1
  lsmod | grep -q fakegpu || load_fakegpu || return 1
  . /fakegpu/container_lib.sh
  printf 'requests-from = ["annotations"]\nmax-memory = "4G"\n' > $CONFIG
  fake=$(awk '$1 == "/dev/fakegpu0" {split($2, d, ":"); print d[1]}' /sys/kernel/fakegpu/devices)
  uvm=$(awk '$1 == "/dev/fakegpu-uvm" {split($2, d, ":"); print d[1]}' /sys/kernel/fakegpu/devices)
  node() { echo "{\"path\": \"$1\", \"type\": \"c\", \"major\": $2, \"minor\": $3, \"fileMode\": 438},"; }
  rule() { echo "{\"allow\": true, \"type\": \"c\", \"major\": $1, \"minor\": $2, \"access\": \"rw\"},"; }
  DEVICES="$(node /dev/nvidia0 "$fake" 0) $(node /dev/nvidiactl "$fake" 255) $(node /dev/nvidia-uvm "$uvm" 0)" \
  DEVICE_RULES="$(rule "$fake" 0) $(rule "$fake" 255) $(rule "$uvm" 0)" \
  HOOK_STAGE=createRuntime HOOK_ARGS=', "--cdi"' MOUNTS=$NV_MOUNTS \
    bundle cdismi '"fakegpu.io/memory.max":"1G"' "$NV_ENV" \
      'stat -c \"node %n %t:%T\" /dev/nvidia0 /dev/nvidiactl; /usr/bin/nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; echo smi=$?; /usr/bin/cuda_probe work; echo cuda=$?'
  run_ctr cdismi > /tmp/cdismi 2>&1
  cat /tmp/cdismi
  grep -q 'node /dev/nvidia0 c3:0' /tmp/cdismi && grep -q 'node /dev/nvidiactl c3:ff' /tmp/cdismi ||
    fail "the CDI container's nodes do not show NVIDIA's numbers" || return 1
  grep -q 'smi=0' /tmp/cdismi && grep -q ', 1024 MiB' /tmp/cdismi ||
    fail "nvidia-smi in the CDI container does not see one GPU of 1024 MiB" || return 1
  # libcuda: one GPU whose memory is the quota, a context, a copy byte for byte (nvsim runs
  # no kernel code, so the memsets' data is not checked here; cuda_driver_api does).
  grep -qx 'DEVICE 0 name=NVIDIA nvsim GPU total=1073741824' /tmp/cdismi &&
    grep -qx 'CALL cuCtxCreate = 0 (CUDA_SUCCESS)' /tmp/cdismi && grep -qx 'DATA copy ok' /tmp/cdismi ||
    fail "libcuda in the CDI container does not see its 1 GiB GPU and copy" || return 1
  ! grep -q /containers/ /proc/mounts || fail "mounts left: $(grep /containers/ /proc/mounts)" || return 1
  ! grep -q /fakegpu-ctr/ /sys/kernel/fakegpu/cgroups/control || fail "the container's entry was left" || return 1
}

# nvidia-smi and libcuda in a container given GPU 0 with a 2 GiB limit, through fakegpu's
# nodes. The hook binds them from fakegpu's nodes filesystem, so `stat` shows NVIDIA's
# numbers (195:255, 195:0), which NVML and libcuda require, while opens and the device
# cgroup use fakegpu's. NVML sees one GPU of 2048 MiB with what the container holds as used,
# libcuda one GPU whose total memory is the quota; the real node cannot be reached by making
# it.
nvidia_userspace_in_container() {
  setup || return 1
  lsmod | grep -q fakegpu || load_fakegpu || return 1
  # A neighbour: a host process holding a CUDA context directly on nvsim all along.
  CUDA_PROBE_PAUSE=600 nv $NV_ROOT/usr/bin/cuda_probe quota > /tmp/neighbour 2>&1 & n=$!
  i=0; until grep -qx PAUSE /tmp/neighbour || [ $i -gt 600 ]; do sleep 0.1; i=$((i + 1)); done
  nb=$(pidof cuda_probe)
  base_held=$(sed -n 's/^gpu0 fb_size [0-9]* fb_used \([0-9]*\) .*/\1/p' /sys/kernel/debug/nvsim/state)
  unknown_before=$(unknown_controls)
  nv_container nvsmi '"fakegpu.io/memory.max":"2G","fakegpu.io/devices":"0"' \
    'stat -c \"node %n %t:%T\" /dev/nvidiactl /dev/nvidia0; grep /dev/nvidia /proc/self/mountinfo; grep ^ModifyDeviceFiles /proc/driver/nvidia/params; mknod /tmp/real c 195 255 && cat /tmp/real; echo real=$?; /usr/bin/nvidia-smi -L; echo smi=$?; nv-client hold 268435456 > /tmp/held & h=$!; sleep 3; /usr/bin/nvidia-smi --query-gpu=name,uuid,memory.total,memory.used --format=csv; echo query=$?; /usr/bin/nvidia-smi -q -d MEMORY; echo report=$?; sleep 2; kill $h; /usr/bin/cuda_probe work; echo cuda=$?; /usr/bin/cuda_probe quota > /tmp/q 2>&1 & q=$!; until grep -qx PAUSE /tmp/q; do sleep 0.1; done; echo PAUSE; /usr/bin/nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv; echo apps=$? probe=$q; wait $q; echo quota=$?; cat /tmp/q; if [ -x /usr/bin/cudart_probe ]; then /usr/bin/cudart_probe; echo cudart=$?; fi' > /tmp/out 2>&1 & c=$!
  # While it holds 256 MiB: the hook gave its cgroup the 2 GiB it asked for on GPU 0.
  . /fakegpu/container_lib.sh
  i=0
  until $HELPER status 2>&1 | grep -Eq '^/fakegpu-ctr/nvsmi +0 +256.0 MiB +2.0 GiB' || [ $i -gt 100 ]; do
    sleep 0.1; i=$((i + 1))
  done
  $HELPER status > /tmp/status 2>&1
  # While `cuda_probe quota` pauses after cuCtxCreate: what the container's cgroup is charged
  # on GPU 0, and what nvsim holds beyond its baseline (nothing else uses it meanwhile).
  i=0
  until grep -qx PAUSE /tmp/out || [ $i -gt 1200 ]; do sleep 0.1; i=$((i + 1)); done
  charged=$(sed -n 's/^gpu0 //p' /sys/kernel/fakegpu/cgroups/$(stat -c %i /sys/fs/cgroup/fakegpu-ctr/nvsmi)/memory.current)
  held=$(sed -n 's/^gpu0 fb_size [0-9]* fb_used \([0-9]*\) .*/\1/p' /sys/kernel/debug/nvsim/state)
  # Meanwhile the host's nvidia-smi through fakegpu's nodes (root cgroup: every tenant).
  tenant=$(pidof cuda_probe | tr ' ' '\n' | grep -vx "$nb")
  mkdir -p /tmp/nodes && mount -t fakegpu-nodes fakegpu /tmp/nodes &&
    unshare -m sh -c 'for n in ctl:nvidiactl 0:nvidia0 1:nvidia1 -uvm:nvidia-uvm; do
        mount --bind /tmp/nodes/fakegpu${n%%:*} /dev/${n#*:} || exit 1
      done; LD_LIBRARY_PATH='$NV_LIBS' '$NV_ROOT'/usr/bin/nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv' > /tmp/hostview 2>&1
  umount /tmp/nodes
  wait $c
  kill $nb; wait $n 2>/dev/null
  cat /tmp/out /tmp/status; failed_calls
  # Every control nvidia-smi, libcuda and the runtime sent is in fakegpu's 535 table, but for
  # the undocumented ones it leaves out on purpose (rust/policy/src/nv_controls.rs).
  [ "$(unknown_controls)" = "$unknown_before" ] ||
    fail "fakegpu refused controls it should know: $(unknown_controls)" || return 1
  grep -Eq '^/fakegpu-ctr/nvsmi +0 +256.0 MiB +2.0 GiB' /tmp/status ||
    fail "fakegpu status lacks the container's 256 MiB of 2 GiB" || return 1
  grep -q 'node /dev/nvidiactl c3:ff' /tmp/out && grep -q 'node /dev/nvidia0 c3:0' /tmp/out ||
    fail "stat in the container does not show NVIDIA's numbers" || return 1
  [ "$(grep -c ' /dev/nvidia.* - fakegpu-nodes ' /tmp/out)" = 3 ] ||
    fail "nvidiactl, nvidia0 and nvidia-uvm are not fakegpu's nodes" || return 1
  grep -qx 'ModifyDeviceFiles: 0' /tmp/out || fail "the container's params let NVML re-create nodes" || return 1
  grep -q 'real=1' /tmp/out || fail "the container reached the real nvidiactl by making it" || return 1
  grep -qx 'GPU 0: NVIDIA nvsim GPU (UUID: GPU-6e767369-6d67-7075-0000-000000000000)' /tmp/out &&
    ! grep -q '^GPU 1:' /tmp/out && grep -q 'smi=0' /tmp/out ||
    fail "nvidia-smi -L should list GPU 0 only" || return 1
  grep -qx 'NVIDIA nvsim GPU, GPU-6e767369-6d67-7075-0000-000000000000, 2048 MiB, 256 MiB' /tmp/out ||
    fail "--query-gpu should show the 2048 MiB quota and the 256 MiB held" || return 1
  grep -Eq '^ +Total +: 2048 MiB$' /tmp/out && grep -Eq '^ +Used +: 256 MiB$' /tmp/out &&
    grep -q 'report=0' /tmp/out || fail "-q -d MEMORY should show the quota and the use" || return 1
  # libcuda sees one GPU, with the quota as its memory, and stops where it stops directly.
  grep -qx 'CALL cuInit = 0 (CUDA_SUCCESS)' /tmp/out && grep -qx 'DEVICES 1' /tmp/out ||
    fail "libcuda should see exactly one GPU" || return 1
  grep -qx 'DEVICE 0 name=NVIDIA nvsim GPU total=2147483648' /tmp/out ||
    fail "cuDeviceTotalMem should be the 2 GiB quota" || return 1
  # Under the quota, through fakegpu, libcuda does all it does directly (cuda_driver_api):
  # its pinned staging memory (OS descriptors) is made in its own address space on fakegpu's
  # sealed page, and metered.
  for call in cuCtxCreate cuMemGetInfo cuMemAlloc cuMemcpyHtoD cuMemcpyDtoH cuMemsetD8 \
      cuMemsetD32 cuStreamCreate cuEventCreate cuEventRecord cuMemcpyHtoDAsync \
      cuMemcpyDtoHAsync cuStreamSynchronize cuEventSynchronize cuEventElapsedTime \
      cuEventDestroy cuStreamDestroy cuModuleLoadData cuModuleGetFunction cuLaunchKernel \
      cuCtxSynchronize cuModuleUnload cuMemFree cuCtxDestroy; do
    grep -qx "CALL $call = 0 (CUDA_SUCCESS)" /tmp/out || fail "$call failed in the container" || return 1
  done
  for data in copy stream; do
    grep -qx "DATA $data ok" /tmp/out || fail "the $data data came back wrong in the container" || return 1
  done
  for size in 268435456 1073741824; do
    grep -qx "ALLOC $size took $size" /tmp/out || fail "cuMemAlloc($size) in the container took $(grep "^ALLOC $size " /tmp/out)" || return 1
  done
  grep -q 'cuda=0' /tmp/out || fail "cuda_probe work failed in the container" || return 1
  # After cuCtxCreate the cgroup is charged what nvsim holds for the process, and libcuda sees
  # the quota as total and the quota less that as free.
  echo "FIGURE after cuCtxCreate in the container: charged $charged bytes on GPU 0, nvsim holds $((held - base_held)) for it"
  [ -n "$charged" ] && [ "$charged" = "$((held - base_held))" ] ||
    fail "charged $charged, nvsim holds $((held - base_held)) for the container" || return 1
  meminfo=$(sed -n '/^PAUSE$/{x;p;};h' /tmp/out | tail -1)
  [ "$meminfo" = "MEMINFO free=$((2147483648 - charged)) total=2147483648" ] ||
    fail "cuMemGetInfo after cuCtxCreate: $meminfo, want the 2 GiB quota less $charged free" || return 1
  # Past the quota: the driver's out-of-memory, the context usable, and after a free the
  # same allocation made.
  grep -Eqx 'OVER [0-9]+ = 2 \(CUDA_ERROR_OUT_OF_MEMORY\)' /tmp/out ||
    fail "an allocation past the quota: $(grep ^OVER /tmp/out)" || return 1
  grep -Eqx 'AGAIN [0-9]+ ok' /tmp/out && grep -q 'quota=0' /tmp/out ||
    fail "after a free the allocation past the quota should succeed" || return 1
  # nvidia-smi in the container lists the container's CUDA process, by its pid there, with
  # its memory (fakegpu translates the driver's process list: not the worker, not the host pid).
  q=$(sed -n 's/^apps=0 probe=//p' /tmp/out)
  [ -n "$q" ] && grep -Eqx "$q, [^,]*cuda_probe, [1-9][0-9]* MiB" /tmp/out ||
    fail "nvidia-smi in the container does not list cuda_probe (pid $q there) with its memory" || return 1
  [ "$(grep -Ec '^[0-9]+, [^,]*, [0-9]+ MiB$' /tmp/out)" = 1 ] ||
    fail "the container's nvidia-smi lists more than its own process (the host's neighbour $nb?)" || return 1
  # The host, through fakegpu, sees both CUDA processes by their host pids, and no worker.
  echo "--- the host's nvidia-smi through fakegpu (neighbour $nb, tenant $tenant):"; cat /tmp/hostview
  grep -Eqx "$nb, [^,]*cuda_probe, [1-9][0-9]* MiB" /tmp/hostview &&
    grep -Eqx "$tenant, [^,]*cuda_probe, [1-9][0-9]* MiB" /tmp/hostview &&
    [ "$(grep -Ec '^[0-9]+, ' /tmp/hostview)" = 2 ] ||
    fail "the host should see the neighbour and the tenant by host pid, and nothing else" || return 1
  echo "FIGURE nvidia-smi --query-compute-apps: the container lists its own process (pid $q there); the host through fakegpu lists the tenant $tenant and the neighbour $nb, no worker"
  # The CUDA runtime (when it was fetched) under the quota: one GPU of 2 GiB, a copy there
  # and back.
  if [ -x $NV_ROOT/usr/bin/cudart_probe ]; then
    for call in cudaGetDeviceCount cudaMemGetInfo cudaMalloc cudaMemcpyHtoD cudaMemcpyDtoH \
        cudaDeviceSynchronize cudaFree; do
      grep -qx "CALL $call = 0 (cudaSuccess)" /tmp/out || fail "$call failed in the container" || return 1
    done
    grep -qx 'DEVICES 1' /tmp/out && grep -Eqx 'MEMINFO free=[0-9]+ total=2147483648' /tmp/out &&
      grep -qx 'COPY ok' /tmp/out && grep -q 'cudart=0' /tmp/out ||
      fail "the runtime in the container: one GPU, the 2 GiB quota as total, the copy intact" || return 1
  fi
  sleep 1
}

# GPU 0's administrator settings in nvsim: "compute_mode C persistence P ecc E ecc_pending E
# mig M changes N" (changes counts the setters nvsim carried out).
settings0() { sed -n 's/^gpu0_settings //p' /sys/kernel/debug/nvsim/state; }

# The setters nvidia-smi has for GPU-wide state that are RM controls, each as "ARGS |
# SETTING AFTER | ARGS THAT RESTORE IT": compute mode, persistence, ECC (pending until a
# reset) and MIG.
SETTERS='-i 0 -c 3|compute_mode 3 |-i 0 -c 0
-i 0 -pm 1|persistence 1 |-i 0 -pm 0
-i 0 -e 0|ecc_pending 0 |-i 0 -e 1
-i 0 -mig 1|mig [12] |-i 0 -mig 0'

# Directly on nvsim, each setter needs CAP_SYS_ADMIN, as the RM's PRIVILEGED controls do:
# root changes the setting (seen in nvsim's debugfs) and changes it back; the same command
# without the capability gets "Insufficient Permissions" and changes nothing.
nvidia_smi_setters() {
  setup || return 1
  echo "$SETTERS" | while IFS='|' read -r args after restore; do
    before=$(settings0)
    nv $NV_ROOT/usr/bin/nvidia-smi $args > /tmp/out 2>&1; rc=$?
    echo "--- nvidia-smi $args (root): rc $rc"; cat /tmp/out; settings0
    [ $rc = 0 ] && settings0 | grep -q "$after" ||
      fail "nvidia-smi $args as root: rc $rc, settings $(settings0), want $after" || exit 1
    nv $NV_ROOT/usr/bin/nvidia-smi $restore > /tmp/out 2>&1 ||
      fail "nvidia-smi $restore: $(cat /tmp/out)" || exit 1
    [ "$(settings0 | sed 's/ changes.*//')" = "$(echo "$before" | sed 's/ changes.*//')" ] ||
      fail "nvidia-smi $restore did not restore: $(settings0), was $before" || exit 1
    before=$(settings0)
    nv fakegpu-vmtest without-cap-sys-admin $NV_ROOT/usr/bin/nvidia-smi $args > /tmp/out 2>&1; rc=$?
    echo "--- nvidia-smi $args without CAP_SYS_ADMIN: rc $rc"; cat /tmp/out
    grep -q 'Insufficient Permissions' /tmp/out && [ $rc != 0 ] ||
      fail "nvidia-smi $args without CAP_SYS_ADMIN was not refused" || exit 1
    [ "$(settings0)" = "$before" ] ||
      fail "a refused nvidia-smi $args changed the GPU: $(settings0), was $before" || exit 1
  done || return 1
  # nvsim's own trace shows the RM's answer to the caller without the capability.
  failed_calls | grep -E 'control 0x(20800130|00800287|20800134|20800183) .*status 0x1b$' ||
    fail "nvsim's trace shows no NV_ERR_INSUFFICIENT_PERMISSIONS" || return 1
  echo "FIGURE nvidia-smi -c/-pm/-e/-mig directly on nvsim: applied as root, refused without CAP_SYS_ADMIN"
}

# Through fakegpu, in a container granted CAP_SYS_ADMIN: every setter is refused with
# NV_ERR_INSUFFICIENT_PERMISSIONS before the driver, so the host's GPU is unchanged and the
# calls file counts each refusal; the queries beside them still answer. The driver's
# registry file, which root may write on the host, is read-only in the container.
nvidia_smi_setters_in_container() {
  setup || return 1
  lsmod | grep -q fakegpu || load_fakegpu || return 1
  before=$(settings0)
  script=$(echo "$SETTERS" | while IFS='|' read -r args after restore; do
    printf '/usr/bin/nvidia-smi %s; echo rc=$?; ' "$args"; done)
  script="$script/usr/bin/nvidia-smi -i 0 -q -d COMPUTE; echo query=\$?; (echo RmTest=1 > /proc/driver/nvidia/registry) 2>/dev/null; echo registry=\$?"
  # The driver's registry file is writable by root on the host (nvsim counts the write).
  writes=$(awk '$1 == "procfs" { print $3 }' /sys/kernel/debug/nvsim/state)
  echo RmTest=1 > /proc/driver/nvidia/registry &&
    [ "$(awk '$1 == "procfs" { print $3 }' /sys/kernel/debug/nvsim/state)" = $((writes + 1)) ] ||
    fail "the host's root should write the driver's registry" || return 1
  writes=$((writes + 1))
  CAPS='"CAP_SYS_ADMIN",' nv_container setters '"fakegpu.io/devices":"0"' "$script" > /tmp/out 2>&1
  cat /tmp/out
  [ "$(grep -c 'Insufficient Permissions' /tmp/out)" = 4 ] ||
    fail "each of the 4 setters should get Insufficient Permissions in the container" || return 1
  grep -q 'query=0' /tmp/out && grep -Eq 'Compute Mode +: Default' /tmp/out ||
    fail "the container's query of the compute mode should answer Default" || return 1
  [ "$(settings0)" = "$before" ] ||
    fail "the container changed the host's GPU: $(settings0), was $before" || return 1
  # The hook covers the driver's writable procfs files with read-only binds of themselves.
  # The shell's own complaint goes to /dev/null: on stderr it could split the stdout line.
  grep -Eq '^registry=[1-9]' /tmp/out &&
    [ "$(awk '$1 == "procfs" { print $3 }' /sys/kernel/debug/nvsim/state)" = $writes ] ||
    fail "the container wrote the driver's registry" || return 1
  for cmd in 0x20800130 0x00800287 0x20800134 0x20800183; do
    grep -Eq "^nvidia privileged_control $cmd [1-9]" /sys/kernel/fakegpu/calls ||
      fail "the calls file does not count the refusal of $cmd" || return 1
  done
  # Refused before the driver: nvsim never saw the setters.
  ! failed_calls | grep -E 'control 0x(20800130|00800287|20800134|20800183) ' ||
    fail "a setter reached nvsim" || return 1
  grep privileged_control /sys/kernel/fakegpu/calls
  echo "FIGURE nvidia-smi -c/-pm/-e/-mig in a container with CAP_SYS_ADMIN: 4 of 4 refused by fakegpu, GPU unchanged; the driver's registry file read-only"
}

# Engine ns nvsim's GPU 0 has run so far: busy (every channel's) plus idle.
engine_total_ns() {
  awk '/^channel gpu 0 / { for (i = 1; i < NF; i++) if ($i == "gpu_ns") s += $(i + 1) }
    /^engine gpu 0 / { s += $5 } END { printf "%.0f\n", s }' /sys/kernel/debug/nvsim/state
}

# Engine ns nvsim's GPU 0 gave the channels of process $1 through fakegpu (the driver sees
# the process's worker, fakegpu/$1).
engine_ns() {
  awk '/^channel gpu 0 / { for (i = 1; i < NF; i++) { if ($i == "pid") p = $(i + 1); if ($i == "gpu_ns") n = $(i + 1) } print p, n }' \
    /sys/kernel/debug/nvsim/state |
    while read -r p n; do [ "$(cat /proc/$p/comm 2>/dev/null)" = "fakegpu/$1" ] && echo "$n"; done |
    awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# libcuda through fakegpu: two busy blocking-sync contexts in two cgroups, A's capped at
# 30% of GPU 0 (compute.max), launching as $1 says (cuLaunchKernel, a CUDA graph with
# cuGraphLaunch, cuLaunchCooperativeKernel). A's share of GPU 0's engine time (idle time
# included: the cap is a share of the GPU) stays within the cap (median of 7 windows: libcuda's
# launches come in bursts, and a window of 1.5 s under TCG can be 20 points off either way;
# libcuda waits for its work between batches, so a share under the cap is no failure:
# going over it is).
cuda_compute_share() {
  kind=$1
  setup || return 1
  echo 2000 > /sys/module/nvsim/parameters/launch_us
  mkdir -p /tmp/nodes && mount -t fakegpu-nodes fakegpu /tmp/nodes || return 1
  for g in share-a share-b; do
    mkdir -p /sys/fs/cgroup/$g && echo "add /$g" > /sys/kernel/fakegpu/cgroups/control || return 1
  done
  trap share_cleanup EXIT
  ida=$(stat -c %i /sys/fs/cgroup/share-a)
  echo "gpu0 30000 100000" > /sys/kernel/fakegpu/cgroups/$ida/compute.max || return 1
  for g in a b; do
    sh -c "echo \$\$ > /sys/fs/cgroup/share-$g/cgroup.procs && exec unshare -m sh -c '
      for n in ctl:nvidiactl 0:nvidia0 1:nvidia1 -uvm:nvidia-uvm; do
        mount --bind /tmp/nodes/fakegpu\${n%%:*} /dev/\${n#*:} || exit 1
      done; CUDA_PROBE_CTX_FLAGS=4 LD_LIBRARY_PATH=$NV_LIBS exec $NV_ROOT/usr/bin/cuda_probe busy $kind'" > /tmp/busy-$g 2>&1 &
    eval "p_$g=\$!"
  done
  i=0
  until grep -qx BUSY /tmp/busy-a && grep -qx BUSY /tmp/busy-b || [ $i -gt 900 ]; do sleep 0.1; i=$((i + 1)); done
  if ! grep -qx BUSY /tmp/busy-a || ! grep -qx BUSY /tmp/busy-b; then
    grep -v 'cuLaunchKernel\|cuDevice' /tmp/busy-a /tmp/busy-b
    dmesg | grep -e 'in error' -e 'trace: engine.*fault' | tail -5
    fail "$kind: the busy contexts did not start"; return 1
  fi
  echo 0 > /sys/module/nvsim/parameters/trace
  shares=
  for w in 1 2 3 4 5 6 7; do
    a0=$(engine_ns $p_a); t0=$(engine_total_ns); sleep 1.5
    a1=$(engine_ns $p_a); t1=$(engine_total_ns)
    shares="$shares $(awk -v a=$((a1 - a0)) -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", a * 100 / (t + (t == 0)) }')"
  done
  echo "--- nvsim's channels with engine time, and A's compute.stat:"
  grep '^channel gpu 0 .* gpu_ns [1-9]' /sys/kernel/debug/nvsim/state
  cat /sys/kernel/fakegpu/cgroups/$ida/compute.stat
  grep governor_controls /sys/kernel/fakegpu/calls
  median=$(echo $shares | tr ' ' '\n' | sort -n | sed -n 4p)
  echo "FIGURE compute share, libcuda $kind, A capped 30%: A $median % of GPU 0 (windows$shares)"
  awk -v m="$median" 'BEGIN { exit !(m > 5 && m <= 35) }' ||
    fail "$kind: A got $median % of the GPU under a 30% cap" || return 1
  # libcuda's channels are counted too: fakegpu mapped their USERD and read GPGet.
  for g in a b; do
    n=$(sed -n 's/^gpu0 .*submissions=\([0-9]*\).*/\1/p' \
      /sys/kernel/fakegpu/cgroups/$(stat -c %i /sys/fs/cgroup/share-$g)/compute.stat)
    echo "FIGURE submissions, libcuda $kind, $g: $n GPFIFO entries"
    [ "${n:-0}" -gt 0 ] || fail "$kind: no submissions counted for $g" || return 1
  done
  ! dmesg | grep -q 'in error' || fail "a channel went into error: $(dmesg | grep 'in error' | head -1)"
}

# What cuda_compute_share leaves: its processes, mount, cgroups and launch time.
share_cleanup() {
  kill $p_a $p_b 2>/dev/null; wait
  umount /tmp/nodes 2>/dev/null
  echo 0 > /sys/module/nvsim/parameters/launch_us
  for g in share-a share-b; do
    echo "remove $(stat -c %i /sys/fs/cgroup/$g)" > /sys/kernel/fakegpu/cgroups/control; rmdir /sys/fs/cgroup/$g
  done
}

case=$1; shift
"$case" "$@"
