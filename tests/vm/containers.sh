# Container cases: runc (Debian's, copied into the initramfs) runs containers whose
# config.json calls the fakegpu helper as its prestart and poststop hooks, as an operator
# would configure it (container_lib.sh). Run by suite.sh as `sh containers.sh NAME`; exit
# status 0 is a pass.
. /fakegpu/lib.sh
export_test_env 2>/dev/null

fail() { echo "FAIL: $*"; return 1; }
# Whether the kernel has the dmem cgroup controller (7.x with CONFIG_CGROUP_DMEM).
has_dmem() { grep -qw dmem /sys/fs/cgroup/cgroup.controllers; }
. /fakegpu/container_lib.sh


# No mount of a container, no fakegpu entry of a container cgroup, no runc state left.
nothing_left() {
  ! grep -q /containers/ /proc/mounts || fail "mounts left: $(grep /containers/ /proc/mounts)" || return 1
  ! grep -q /fakegpu-ctr/ /sys/kernel/fakegpu/cgroups/control ||
    fail "entries left: $(cat /sys/kernel/fakegpu/cgroups/control)" || return 1
  [ -z "$(ls /run/runc 2>/dev/null)" ] || fail "runc state left: $(ls /run/runc)" || return 1
  # Each hook's copy of the driver's params goes once its bind is made.
  [ -z "$(ls /run/fakegpu/params.* 2>/dev/null)" ] || fail "params copies left: $(ls /run/fakegpu)"
}

# Two containers at once, 64 MiB and 128 MiB on GPU 0: each sees fakegpu's node at
# /dev/nvidia0 (as 195:0, NVIDIA's number), is refused with 0x51 past its own quota while holding memory, and
# `fakegpu status` on the host attributes each one's usage to its cgroup.
case_containers_with_quotas() {
  write_config
  script='stat -c \"node %t:%T\" /dev/nvidia0; grep \" /dev/nvidia0 \" /proc/self/mountinfo; echo hidden=$(ls -A /sys/kernel/fakegpu | wc -l); head -c 8 /dev/urandom > /dev/null && head -c 8 /dev/zero > /dev/null && echo defaults=ok; nv-client startup; nv-client hold 41943040 > /tmp/held & h=$!; sleep 3; nv-client alloc $ASK; cat /tmp/held; sleep 20; kill $h'
  bundle small '"fakegpu.io/memory.max":"64M","fakegpu.io/devices":"0"' '"ASK=33554432"' "$script"
  bundle large '"fakegpu.io/memory.max":"128M","fakegpu.io/devices":"0"' '"ASK=100663296"' "$script"
  run_ctr small > /tmp/small.out 2>&1 & a=$!
  run_ctr large > /tmp/large.out 2>&1 & b=$!
  # Up to 30 s for both containers to start and hold their 40 MiB. Each holds it for about
  # 23 s, so the two holds overlap even when one container starts much later than the other
  # (starts slowed to 20 s and more in full suites under TCG; with a 7 s hold they once
  # never overlapped).
  i=0
  while [ $i -lt 300 ]; do
    $HELPER status > /tmp/status.out 2>&1
    # Each one's MEMORY USED column (a DMEM column, on 7.x, holds 40 MiB too).
    grep -qE '^/fakegpu-ctr/small +0 +40.0 MiB' /tmp/status.out &&
      grep -qE '^/fakegpu-ctr/large +0 +40.0 MiB' /tmp/status.out && break
    sleep 0.1; i=$((i + 1))
  done
  cat /tmp/status.out
  if ! grep -E '^/fakegpu-ctr/small +0 +40.0 MiB +64.0 MiB' /tmp/status.out ||
      ! grep -E '^/fakegpu-ctr/large +0 +40.0 MiB +128.0 MiB' /tmp/status.out; then
    # What the containers said, for the failure's cause.
    wait $a; wait $b
    for c in small large; do echo "--- $c"; cat /tmp/$c.out; done
    fail "status lacks the 40 MiB each holds (small of 64 MiB, large of 128 MiB)"; return 1
  fi
  $HELPER status --json | grep -q '"memory_max": 67108864' || fail "status --json lacks the 64 MiB limit" || return 1
  # On a kernel with dmem the hook wrote each quota into its cgroup's dmem.max too, and the
  # 40 MiB held shows there as well.
  if has_dmem; then
    grep -E '^/fakegpu-ctr/small .* 40.0 MiB / 64.0 MiB *$' /tmp/status.out &&
      grep -E '^/fakegpu-ctr/large .* 40.0 MiB / 128.0 MiB *$' /tmp/status.out ||
      fail "status lacks each container's dmem use and dmem.max" || return 1
  fi
  wait $a; ra=$?; wait $b; rb=$?
  for c in small large; do echo "--- $c"; cat /tmp/$c.out; done
  # fakegpu's GPU 0 node, from its nodes filesystem: stat shows NVIDIA's 195:0.
  grep -q "node c3:0" /tmp/small.out && grep -q ' /dev/nvidia0 .* - fakegpu-nodes ' /tmp/small.out ||
    fail "/dev/nvidia0 in the container is not fakegpu's node showing 195:0" || return 1
  grep -q '"fb_total_mib":64' /tmp/small.out || fail "small does not see 64 MiB" || return 1
  grep -q 'hidden=0' /tmp/small.out || fail "/sys/kernel/fakegpu is visible in the container" || return 1
  grep -q 'defaults=ok' /tmp/small.out || fail "the runtime's default devices were lost" || return 1
  grep -q '"fb_total_mib":128' /tmp/large.out || fail "large does not see 128 MiB" || return 1
  for c in small large; do
    grep -q '"alloc_status":"0x51"' /tmp/$c.out || fail "$c was not refused with 0x51 past its quota" || return 1
  done
  # The hook logs its time to the kernel log (FAKEGPU_HOOK_TIMING in config.json).
  dmesg | grep 'fakegpu hook prestart: done in' |
    sed 's/.*done in \([0-9.]*\) ms.*/FIGURE hook prestart in the VM (TCG, debug kernel): \1 ms/'
  sleep 1
  nothing_left
}

# A container given GPU 1 sees one GPU and no /dev/nvidia0; its root cannot make and open
# the real 195:0, nor fakegpu's own GPU 0 node (the device cgroup).
case_container_gpu_and_device_cgroup() {
  write_config
  script='ls /dev/nvidia*; nv-client --gpu /dev/nvidia1 startup; nv-client startup; echo open0=$?; mknod /tmp/real0 c 195 0; echo mknod=$?; mknod /tmp/fake0 c $FAKE_MAJOR 0; cat /tmp/fake0; echo open_fake0=$?; echo procfs_gpus=$(ls /proc/driver/nvidia/gpus); grep -h UUID /proc/driver/nvidia/gpus/*/information; mkdir /proc/driver/nvidia/gpus/x; echo mkdir=$?'
  # The container's own rules allow NVIDIA's real major (as a careless config might): the
  # hook's deny, last, must still win.
  DEVICE_RULES='{"allow": true, "type": "c", "major": 195, "access": "rwm"},' \
  bundle gpu1 '"fakegpu.io/devices":"1"' "\"FAKE_MAJOR=$(awk '$1 == "/dev/fakegpu0" {split($2, d, ":"); print d[1]}' /sys/kernel/fakegpu/devices)\"" "$script"
  run_ctr gpu1 > /tmp/gpu1.out 2>&1
  cat /tmp/gpu1.out
  grep -q '"gpus":1.*"device_instance":1.*"ok":true' /tmp/gpu1.out ||
    fail "the container cannot use GPU 1, or sees more than one GPU" || return 1
  grep -q '/dev/nvidia1' /tmp/gpu1.out && ! grep -q '^/dev/nvidia0$' /tmp/gpu1.out || fail "GPU 0's node is in the container" || return 1
  grep -q 'open0=1' /tmp/gpu1.out || fail "GPU 0 was usable" || return 1
  grep -q 'mknod=1' /tmp/gpu1.out || fail "root in the container made the real 195:0" || return 1
  grep -q 'open_fake0=1' /tmp/gpu1.out || fail "root opened fakegpu's GPU 0 node it made" || return 1
  # The driver's procfs lists GPU 1 alone (bus 02), read-only; the host still lists both.
  grep -qx 'procfs_gpus=0000:02:00.0' /tmp/gpu1.out &&
    [ "$(grep -c 'GPU UUID' /tmp/gpu1.out)" = 1 ] &&
    grep -q 'GPU UUID:.*GPU-6e767369-6d67-7075-0000-000000000001' /tmp/gpu1.out &&
    grep -q 'mkdir=1' /tmp/gpu1.out ||
    fail "the container's /proc/driver/nvidia/gpus shows another GPU or is writable" || return 1
  [ "$(ls /proc/driver/nvidia/gpus | wc -l)" = 2 ] || fail "the host's procfs lost a GPU" || return 1
  nothing_left || return 1
  # The same GPU by its UUID, as NVIDIA's device plugin passes it (hex digits in any case),
  # resolved from the driver's /proc/driver/nvidia/gpus on the host.
  bundle byuuid '' '"NVIDIA_VISIBLE_DEVICES=GPU-6E767369-6d67-7075-0000-000000000001"' \
    'ls /dev/nvidia*; nv-client --gpu /dev/nvidia1 startup'
  run_ctr byuuid > /tmp/byuuid.out 2>&1
  cat /tmp/byuuid.out
  grep -q '"gpus":1.*"device_instance":1.*"ok":true' /tmp/byuuid.out &&
    ! grep -q '^/dev/nvidia0$' /tmp/byuuid.out ||
    fail "NVIDIA_VISIBLE_DEVICES by UUID did not give GPU 1 alone" || return 1
  nothing_left
}

# The operator's cap wins over a greedy annotation; a container that asks for nothing gets
# the default. (env requests are honoured by this host config.)
case_container_operator_caps() {
  write_config
  bundle greedy '"fakegpu.io/memory.max":"64G"' '' 'nv-client startup'
  run_ctr greedy > /tmp/greedy.out 2>&1 || { cat /tmp/greedy.out; fail "greedy failed"; return 1; }
  cat /tmp/greedy.out
  grep -q '"fb_total_mib":1024' /tmp/greedy.out || fail "a 64G request was not capped at 1G" || return 1
  dmesg | grep 'fakegpu hook: container greedy: gpu0: memory.max 64G asked, capped at 1G' ||
    fail "the hook did not log that it capped the request" || return 1
  bundle modest '' '"CUDA_DEVICE_MEMORY_LIMIT=512m"' 'nv-client startup'
  run_ctr modest > /tmp/modest.out 2>&1
  grep -q '"fb_total_mib":512' /tmp/modest.out || fail "HAMi's env limit was not applied" || return 1
  bundle plain '' '' 'nv-client startup'
  run_ctr plain > /tmp/plain.out 2>&1
  grep -q '"fb_total_mib":256' /tmp/plain.out || fail "the default limit was not applied" || return 1
  # Driver capabilities from NVIDIA's variable (compat32 only names libraries): utility
  # alone makes no GPU memory, whatever the container's own libraries try.
  bundle monitor '' '"NVIDIA_DRIVER_CAPABILITIES=utility,compat32"' 'nv-client alloc 1048576'
  run_ctr monitor > /tmp/monitor.out 2>&1
  cat /tmp/monitor.out
  grep -q '"alloc_status":"0x1b"' /tmp/monitor.out ||
    fail "a utility-only container allocated GPU memory" || return 1
  bundle worker '"fakegpu.io/capabilities":"compute"' '' 'nv-client alloc 1048576'
  run_ctr worker > /tmp/worker.out 2>&1
  grep -q '"alloc_status":"0x0"' /tmp/worker.out ||
    fail "a compute container could not allocate: $(cat /tmp/worker.out)" || return 1
  nothing_left
}

# Through CDI: the runtime makes the nodes and their device rules from `fakegpu cdi
# generate`'s spec (here written into config.json as a CDI-aware runtime would), and the
# spec's hook, `createRuntime --cdi`, writes the limits for the GPU the container got and
# binds the nodes filesystem's nodes over the runtime's.
case_container_cdi_route() {
  write_config
  $HELPER cdi generate > /tmp/fakegpu-cdi.json || fail "cdi generate failed" || return 1
  grep -q '"createRuntime"' /tmp/fakegpu-cdi.json && grep -q '"--cdi"' /tmp/fakegpu-cdi.json ||
    fail "the spec lacks the createRuntime --cdi hook" || return 1
  grep -q '"hostPath": "/dev/fakegpu1"' /tmp/fakegpu-cdi.json || fail "the spec lacks GPU 1" || return 1
  fake=$(awk '$1 == "/dev/fakegpu1" {split($2, d, ":"); print d[1]}' /sys/kernel/fakegpu/devices)
  uvm=$(awk '$1 == "/dev/fakegpu-uvm" {split($2, d, ":"); print d[1]}' /sys/kernel/fakegpu/devices)
  node() { echo "{\"path\": \"$1\", \"type\": \"c\", \"major\": $2, \"minor\": $3, \"fileMode\": 438},"; }
  rule() { echo "{\"allow\": true, \"type\": \"c\", \"major\": $1, \"minor\": $2, \"access\": \"rw\"},"; }
  DEVICES="$(node /dev/nvidia1 $fake 1) $(node /dev/nvidiactl $fake 255) $(node /dev/nvidia-uvm $uvm 0)" \
  DEVICE_RULES="$(rule $fake 1) $(rule $fake 255) $(rule $uvm 0)" \
  HOOK_STAGE=createRuntime HOOK_ARGS=', "--cdi"' \
    bundle viacdi '"fakegpu.io/memory.max":"96M"' '' \
      'stat -c \"node %t:%T\" /dev/nvidia1; nv-client --gpu /dev/nvidia1 startup'
  run_ctr viacdi > /tmp/viacdi.out 2>&1
  cat /tmp/viacdi.out
  # The runtime made fakegpu's node; the hook bound the nodes filesystem's over it, which
  # shows NVIDIA's numbers (195 is c3), as NVML and libcuda require.
  grep -q "node c3:1" /tmp/viacdi.out || fail "/dev/nvidia1 does not show NVIDIA's 195:1" || return 1
  grep -q '"gpus":1.*"ok":true' /tmp/viacdi.out || fail "the container cannot use exactly its one GPU" || return 1
  grep -q '"fb_total_mib":96' /tmp/viacdi.out || fail "the hook did not write the 96 MiB limit for GPU 1" || return 1
  nothing_left
}

# An operator's hand: `fakegpu quota set|get|clear` on a cgroup, with bad input refused
# before anything changes.
case_quota_commands() {
  mkdir -p /sys/fs/cgroup/fakegpu-quota
  entry=/sys/kernel/fakegpu/cgroups/$(stat -c %i /sys/fs/cgroup/fakegpu-quota)
  $HELPER quota set --cgroup /sys/fs/cgroup/fakegpu-quota --memory gpu0=64M,gpu1=max --channels 8 --gpus 0 --uvm deny \
    --capabilities utility,video --processes all || fail "quota set failed" || return 1
  $HELPER quota get --cgroup /fakegpu-quota | tee /tmp/quota.out
  grep -qx 'memory.max: gpu0 67108864, gpu1 max' /tmp/quota.out &&
    grep -qx 'channels.max: gpu0 8, gpu1 8' /tmp/quota.out && grep -qx 'gpus: 0' /tmp/quota.out &&
    grep -qx 'uvm.policy: deny' /tmp/quota.out && grep -qx 'capabilities: utility,video' /tmp/quota.out &&
    grep -qx 'processes: all' /tmp/quota.out || fail "quota get does not show what was set" || return 1
  [ "$(sed -n 1p $entry/memory.max)" = "gpu0 67108864" ] || fail "sysfs lacks the limit" || return 1
  if has_dmem; then
    # The same limits in dmem.max, per GPU region (the helper enabled +dmem above it).
    grep -qx 'nvidia/0000:01:00.0 67108864' /sys/fs/cgroup/fakegpu-quota/dmem.max &&
      grep -qx 'nvidia/0000:02:00.0 max' /sys/fs/cgroup/fakegpu-quota/dmem.max ||
      fail "dmem.max reads $(cat /sys/fs/cgroup/fakegpu-quota/dmem.max)" || return 1
    grep -q '^dmem.max: nvidia/0000:01:00.0 67108864' /tmp/quota.out || fail "quota get lacks dmem.max" || return 1
  fi
  for bad in "--memory 8X" "--memory gpu=1G" "--channels -1" "--gpus 0-" "--uvm maybe" \
      "--capabilities display" "--processes everyone"; do
    # shellcheck disable=SC2086
    if $HELPER quota set --cgroup /fakegpu-quota $bad 2>/tmp/err; then fail "quota set $bad succeeded"; return 1; fi
    echo "quota set $bad: $(cat /tmp/err)"
  done
  [ "$(sed -n 1p $entry/memory.max)" = "gpu0 67108864" ] || fail "a refused set changed the limit" || return 1
  $HELPER quota get --cgroup /fakegpu-none 2>&1 | grep -q 'no fakegpu entry' || fail "get of a cgroup without an entry" || return 1
  $HELPER quota clear --cgroup /fakegpu-quota | grep -q 'entry removed' || fail "quota clear did not remove the entry" || return 1
  [ ! -e "$entry" ] || fail "the entry is still there" || return 1
  if has_dmem; then
    grep -qx 'nvidia/0000:01:00.0 max' /sys/fs/cgroup/fakegpu-quota/dmem.max ||
      fail "quota clear left dmem.max $(cat /sys/fs/cgroup/fakegpu-quota/dmem.max)" || return 1
  fi
  rmdir /sys/fs/cgroup/fakegpu-quota
}

# Bad input aborts creation with one clear line, and leaves nothing behind.
case_container_bad_input_aborts() {
  write_config
  check_abort() {
    name=$1 want=$2
    if run_ctr "$name" > /tmp/$name.out 2>&1; then fail "$name was created"; return 1; fi
    cat /tmp/$name.out
    grep -q "$want" /tmp/$name.out || fail "$name: no clear message ($want)" || return 1
    $RUNC delete -f "$name" 2>/dev/null
    nothing_left
  }
  bundle badsize '"fakegpu.io/memory.max":"8X"' '' 'true'
  check_abort badsize 'fakegpu.io/memory.max' || return 1
  bundle nogpu '"fakegpu.io/devices":"5"' '' 'true'
  check_abort nogpu 'GPU 5' || return 1
  bundle mig '' '"NVIDIA_VISIBLE_DEVICES=MIG-GPU-6e767369/1/0"' 'true'
  check_abort mig 'is a MIG device: fakegpu gives containers whole GPUs' || return 1
  bundle nouuid '' '"NVIDIA_VISIBLE_DEVICES=GPU-0123abcd"' 'true'
  check_abort nouuid "GPU GPU-0123abcd is not one of the host's GPUs" || return 1
  echo 'max-memory = "lots"' > $CONFIG
  bundle badconfig '' '' 'true'
  check_abort badconfig "$CONFIG" || return 1
  write_config
  rmmod fakegpu || fail "fakegpu is in use" || return 1
  bundle nomodule '' '' 'true'
  check_abort nomodule 'fakegpu.ko is not loaded'; rc=$?
  load_fakegpu || fail "reload failed" || return 1
  return $rc
}

"case_$1"
