# Test cases written in shell (module loading and unloading), run by suite.sh as
# `sh cases.sh NAME`; exit status 0 is a pass.
. /fakegpu/lib.sh
export_test_env 2>/dev/null

fail() { echo "$*"; return 1; }

case_nvsim_registers_like_the_driver() {
  for bad in "gpus=0" "gpus=17" "fb_mib=0" "max_objects=10"; do
    if insmod /fakegpu/nvsim.ko $bad 2>/tmp/err; then rmmod nvsim; fail "nvsim accepted $bad"; return 1; fi
    echo "insmod nvsim $bad: $(cat /tmp/err)"
  done
  dmesg | grep -q 'nvsim: gpus=0: must be 1..16' || fail "no clear message for gpus=0" || return 1
  load_nvsim || fail "insmod nvsim failed" || return 1
  grep -E '^195 nvidia-frontend$' /proc/devices || fail "major 195 not registered as nvidia-frontend" || return 1
  grep -E '^[0-9]+ nvidia-uvm$' /proc/devices || fail "no nvidia-uvm major" || return 1
  ls -l /dev/nvidiactl /dev/nvidia0 /dev/nvidia1
  dmesg | grep 'nvsim: 2 simulated GPU(s), 4096 MiB each, driver version 535.309.01' || fail "load message missing"
}

case_module_creates_nodes() {
  load_fakegpu || fail "insmod failed" || return 1
  export_test_env
  for n in $FAKE_CARD /dev/fakedri/renderD$VGEM_RENDER $FAKE_ZERO; do
    [ -c "$n" ] || fail "$n is not a char device" || return 1
  done
  ls -l /dev/fakedri /dev/fakechr
  grep -E ' fakedri$' /proc/devices && grep -E ' fakechr$' /proc/devices || fail "regions missing from /proc/devices" || return 1
  cat /sys/module/fakegpu/parameters/devices
  dmesg | grep "fakegpu: $FAKE_CARD -> 226:$VGEM_CARD (drm)" || fail "load message missing"
}

case_bad_devices_param_refused() {
  rmmod fakegpu || return 1
  for bad in "nvidia_gpus=off" "devices=226" "devices=226:x" "devices=226:300" "devices=1:3,1:3" \
      "devices=600:1" "devices=195:0" "nvidia_gpus=0,0" "nvidia_gpus=248" "nvidia_gpus=x" \
      "filter=loose"; do
    if insmod /fakegpu/fakegpu.ko $bad 2>/tmp/err; then rmmod fakegpu; fail "insmod accepted '$bad'"; return 1; fi
    echo "insmod $bad: $(cat /tmp/err)"
  done
  dmesg | grep 'fakegpu: devices="226:x": entry 1 is not MAJOR:MINOR in decimal' || fail "no clear message" || return 1
  dmesg | grep 'fakegpu: nothing to front: no NVIDIA driver is fronted and devices= is empty' || fail "no message for nothing to front" || return 1
  dmesg | grep 'fakegpu: cannot front NVIDIA.s devices: NVIDIA devices are also listed in devices=' || fail "no message for 195:0 in devices=" || return 1
  dmesg | grep 'fakegpu: nvidia_gpus="0,0": a GPU minor is listed twice' || fail "no message for nvidia_gpus=0,0" || return 1
  dmesg | grep 'fakegpu: filter="loose": expected strict, audit or permissive' || fail "no message for filter=loose" || return 1
  [ ! -e /dev/fakedri ] || fail "/dev/fakedri left behind" || return 1
  load_fakegpu
}

# dmem regions only for the GPUs fakegpu fronts: with nvidia_gpus=1, GPU 0 is used past
# fakegpu, so it gets no region (a dmem.max on it would hold nothing). Without dmem (6.12)
# the list stays empty.
case_dmem_regions_only_fronted_gpus() {
  rmmod fakegpu || return 1
  insmod /fakegpu/fakegpu.ko devices="$(fakegpu_devices)" nvidia_gpus=1 || return 1
  regions=$(cat /sys/kernel/fakegpu/dmem_regions)
  capacity=$(cat /sys/fs/cgroup/dmem.capacity 2>/dev/null)
  rmmod fakegpu && load_fakegpu || return 1
  echo "nvidia_gpus=1: regions '$regions'; dmem.capacity '$capacity'"
  if grep -qw dmem /sys/fs/cgroup/cgroup.controllers; then
    [ "$regions" = "gpu1 nvidia/0000:02:00.0 4294967296" ] ||
      fail "want GPU 1's region alone" || return 1
    ! echo "$capacity" | grep -q '^nvidia/0000:01:00.0 ' ||
      fail "GPU 0 has a region in dmem.capacity" || return 1
    [ "$(grep -c '^nvidia/' /sys/fs/cgroup/dmem.capacity)" = 2 ] ||
      fail "the reload should register both GPUs' regions again" || return 1
  else
    [ -z "$regions" ] || fail "regions listed without dmem" || return 1
  fi
}

# A driver version no family of fakegpu's lists, of an unknown branch (nvsim reporting
# 570.124.04) or an unchecked minor of a known one (550.54.14): fakegpu loads with its other
# fronts, fronts nothing of NVIDIA's, and says why; beside 535 the calls file names the driver.
case_unknown_driver_family_not_fronted() {
  grep -qx 'nvidia driver 535.309.01 family 535' /sys/kernel/fakegpu/calls ||
    fail "the calls file does not name the 535 driver" || return 1
  for version in 570.124.04 550.54.14; do
    rmmod fakegpu && unload_nvsim || return 1
    load_nvsim version=$version || return 1
    insmod /fakegpu/fakegpu.ko devices="$(fakegpu_devices)"; rc=$?
    nv=$(ls /dev/fakegpuctl /dev/fakegpu0 2>/dev/null); drm=$(ls /dev/fakedri 2>/dev/null)
    calls=$(cat /sys/kernel/fakegpu/calls 2>&1)
    [ $rc = 0 ] && rmmod fakegpu
    unload_nvsim; load_nvsim || return 1
    load_fakegpu || return 1
    echo "beside $version: insmod $rc, NVIDIA nodes '$nv', DRM nodes '$drm'"
    [ $rc = 0 ] && [ -z "$nv" ] && [ -n "$drm" ] ||
      fail "want fakegpu loaded with its DRM fronts and no NVIDIA node" || return 1
    dmesg | grep -q "fakegpu: NVIDIA driver $version: not a version fakegpu has checked (535.309.01 550.163.01), so it does not front" ||
      fail "no message for $version" || return 1
    ! echo "$calls" | grep -q 'nvidia driver' || fail "a driver is named: $calls" || return 1
  done
}

# filter=permissive fronts a driver of a family fakegpu has no tables for (570), with the
# nearest older family's layouts (550's) as guesses: its nodes work and the calls file says
# so, but a memory or channel limit, which would rest on those guesses, is refused
# (EOPNOTSUPP).
case_unknown_family_fronted_when_permissive() {
  rmmod fakegpu && unload_nvsim || return 1
  load_nvsim version=570.124.04 || return 1
  insmod /fakegpu/fakegpu.ko devices="$(fakegpu_devices)" filter=permissive; rc=$?
  calls=$(sed -n 1p /sys/kernel/fakegpu/calls 2>&1)
  mkdir -p /sys/fs/cgroup/fakegpu-guess
  echo "add /fakegpu-guess" > /sys/kernel/fakegpu/cgroups/control
  entry=/sys/kernel/fakegpu/cgroups/$(stat -c %i /sys/fs/cgroup/fakegpu-guess)
  (echo "gpu0 1G" > $entry/memory.max) 2>/tmp/mem; mem=$?
  (echo 4 > $entry/channels.max) 2>/dev/null; chan=$?
  (echo compute > $entry/capabilities) 2>/dev/null; caps=$?
  nv-client --ctl /dev/fakegpuctl --gpu /dev/fakegpu0 alloc 1048576 > /tmp/out 2>&1
  echo "remove /fakegpu-guess" > /sys/kernel/fakegpu/cgroups/control; rmdir /sys/fs/cgroup/fakegpu-guess
  [ $rc = 0 ] && rmmod fakegpu
  unload_nvsim; load_nvsim || return 1
  load_fakegpu || return 1
  echo "insmod $rc; calls: $calls; memory.max: $mem ($(cat /tmp/mem)); channels.max: $chan; capabilities: $caps"
  cat /tmp/out
  [ $rc = 0 ] || fail "fakegpu did not load with filter=permissive beside 550" || return 1
  [ "$calls" = "nvidia driver 570.124.04 family unknown (550 layouts guessed; limits refused)" ] ||
    fail "the calls file does not say the family is guessed" || return 1
  [ $mem != 0 ] && grep -qi "not supported" /tmp/mem && [ $chan != 0 ] ||
    fail "limits should be refused with EOPNOTSUPP" || return 1
  [ $caps = 0 ] || fail "capabilities do not rest on layouts and should be accepted" || return 1
  grep -q '"alloc_status":"0x0"' /tmp/out || fail "the fronted driver does not work" || return 1
  dmesg | grep -q 'NVIDIA driver 570.124.04: not a version fakegpu has checked; filter=permissive fronts it with the 550' ||
    fail "no log line at load" || return 1
}

# While fakegpu fronts NVIDIA it holds nvidiactl open, so the driver it checked at load
# cannot be unloaded (or replaced by another version) under it; unloading fakegpu lets go.
case_nvidia_driver_pinned_while_fronted() {
  refs=$(cat /sys/module/nvsim/refcnt)
  if rmmod nvsim 2>/tmp/err; then
    fail "nvsim unloaded while fakegpu fronts it"; rmmod fakegpu; load_nvsim; load_fakegpu
    return 1
  fi
  echo "rmmod nvsim while fronted: $(cat /tmp/err)"
  rmmod fakegpu || return 1
  after=$(cat /sys/module/nvsim/refcnt)
  load_fakegpu || return 1
  # The open nvidiactl holds two: its cdev's and its file operations' (chrdev_open).
  echo "nvsim's refcount: $refs with fakegpu loaded, $after after"
  [ "$after" -lt "$refs" ] || fail "unloading fakegpu should let go of nvsim" || return 1
}

case_rmmod_refused_while_open() {
  before=$(cat /sys/module/fakegpu/refcnt)
  exec 3<>"$FAKE_CARD" || return 1
  during=$(cat /sys/module/fakegpu/refcnt)
  echo "module refcount: $before before open, $during while open"
  # One reference for the cdev, one for the file operations (chrdev_open takes both).
  [ "$during" -gt "$before" ] || fail "an open fake file does not pin the module" || return 1
  # busybox rmmod asks with O_NONBLOCK: the kernel answers EWOULDBLOCK while in use.
  if rmmod fakegpu 2>/tmp/err; then fail "rmmod succeeded with a fake node open"; return 1; fi
  echo "rmmod while open: $(cat /tmp/err)"
  grep -q "Resource temporarily unavailable" /tmp/err || fail "unexpected rmmod error" || return 1
  [ -c "$FAKE_CARD" ] || fail "node gone after a refused rmmod" || return 1
  exec 3>&-
  exec 4<>/dev/fakegpuctl || return 1
  if rmmod fakegpu 2>/dev/null; then fail "rmmod succeeded with /dev/fakegpuctl open"; return 1; fi
  exec 4>&-
  rmmod fakegpu || fail "rmmod after close failed" || return 1
  [ ! -e "$FAKE_CARD" ] || fail "$FAKE_CARD still exists after rmmod" || return 1
  grep -q fakedri /proc/devices && fail "fakedri still registered" && return 1
  load_fakegpu && [ -c "$FAKE_CARD" ]
}

# fakegpu's nodes filesystem: its nodes show the real devices' numbers to stat (NVIDIA's
# userspace requires them) but open fakegpu's fronts, and a mount pins the module.
case_nodes_fs_shows_nvidia_numbers() {
  mkdir -p /tmp/nodes && mount -t fakegpu-nodes fakegpu /tmp/nodes || fail "mount failed" || return 1
  ls -l /tmp/nodes
  for n in fakegpuctl:c3:ff fakegpu0:c3:0 fakegpu1:c3:1; do
    name=${n%%:*}
    [ "$(stat -c '%t:%T' /tmp/nodes/$name)" = "${n#*:}" ] || fail "$name does not show ${n#*:}" || return 1
  done
  uvm=$(printf '%x' "$(awk '$2 == "nvidia-uvm" {print $1}' /proc/devices)")
  [ "$(stat -c '%t:%T' /tmp/nodes/fakegpu-uvm)" = "$uvm:0" ] || fail "fakegpu-uvm does not show $uvm:0" || return 1
  # Opening them opens fakegpu's fronts: the client works, and fakegpu counts its files.
  nv-client --ctl /tmp/nodes/fakegpuctl --gpu /tmp/nodes/fakegpu0 --uvm /tmp/nodes/fakegpu-uvm startup > /tmp/out
  cat /tmp/out
  grep -q '"ok":true' /tmp/out || fail "the client failed on the nodes filesystem" || return 1
  exec 3<>/tmp/nodes/fakegpuctl || return 1
  if rmmod fakegpu 2>/dev/null; then fail "rmmod succeeded with the nodes filesystem mounted"; return 1; fi
  exec 3>&-
  if rmmod fakegpu 2>/dev/null; then fail "rmmod succeeded with the nodes filesystem mounted"; return 1; fi
  umount /tmp/nodes || return 1
  rmmod fakegpu || fail "rmmod after umount failed" || return 1
  load_fakegpu
}

case_absent_real_device_gives_enxio() {
  rmmod fakegpu || return 1
  insmod /fakegpu/fakegpu.ko devices="$(fakegpu_devices),240:7" || fail "insmod failed" || return 1
  mknod /tmp/direct c 240 7
  direct=$(cat /tmp/direct 2>&1); fake=$(cat /dev/fakechr/240.7 2>&1)
  rm -f /tmp/direct
  echo "direct: $direct"; echo "fake:   $fake"
  rmmod fakegpu; load_fakegpu || return 1
  case $fake in *"No such device or address"*) ;; *) fail "want ENXIO through the fake node"; return 1;; esac
  [ "${direct##*: }" = "${fake##*: }" ] || fail "errors differ"
}

# The libcuda-like client's scenarios on the nodes in $NV_NODES, asserted on its JSON and on
# nvsim's ground truth. Every output line is kept in /tmp/nv-client.$1.
nv_client_checks() {
  log=/tmp/nv-client.$1; : > "$log"
  expect() { echo "$out" | grep -q "$1" || fail "missing $1 in: $out"; }
  run() { out=$(nv-client $NV_NODES "$@"); rc=$?; echo "$out" | tee -a "$log"; return $rc; }
  run startup || fail "startup failed" || return 1
  expect '"driver_version":"535.309.01"' && expect '"gpus":2' && expect '"fb_total_mib":4096' &&
    expect '"uvm_register_gpu":"0x0"' || return 1
  run alloc 1048577 || fail "alloc failed" || return 1
  expect '"size":1052672' && expect '"fb_free_mib":4094' || return 1
  run vidheap 2097152 || fail "vidheap failed" || return 1
  expect '"size":2097152' && expect '"fb_free_mib":4094' || return 1
  run map 65536 || fail "map failed" || return 1
  expect '"touched":true' || return 1
  run channels 4 || fail "channels failed" || return 1
  expect '"channels":4' || return 1
  run alloc 8589934592 && fail "8 GiB on a 4 GiB GPU succeeded" && return 1
  expect '"alloc_status":"0x51"' || return 1
  before=$(grep '^gpu0 ' /sys/kernel/debug/nvsim/state)
  run leak 8388608 || fail "leak failed" || return 1
  after=$(grep '^gpu0 ' /sys/kernel/debug/nvsim/state)
  echo "nvsim before: $before; after the leaking client exited: $after"
  [ "$before" = "$after" ] || fail "the leaking client's memory stayed charged"
}

case_nv_client_scenarios() {
  NV_NODES="" nv_client_checks direct
}

# The same scenarios through fakegpu's nodes give the same answers, line for line.
case_nv_client_scenarios_through_fakegpu() {
  NV_NODES="--ctl /dev/fakegpuctl --gpu /dev/fakegpu0 --uvm /dev/fakegpu-uvm" \
    nv_client_checks fakegpu || return 1
  # Client handles are the RM's running numbers: they differ by design.
  for f in direct fakegpu; do
    sed 's/"client":"0x[0-9a-f]*"/"client":_/' /tmp/nv-client.$f > /tmp/nv-client.$f.cmp
  done
  diff /tmp/nv-client.direct.cmp /tmp/nv-client.fakegpu.cmp || fail "answers differ through fakegpu"
}

# A client killed while it holds memory, a device and UVM state through fakegpu leaves
# nothing behind in nvsim.
case_killed_client_frees_everything_through_fakegpu() {
  before=$(grep '^gpu0 ' /sys/kernel/debug/nvsim/state)
  nv-client --ctl /dev/fakegpuctl --gpu /dev/fakegpu0 --uvm /dev/fakegpu-uvm hold 16777216 \
    > /tmp/hold.out &
  pid=$!
  i=0; while ! grep -q size /tmp/hold.out && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  cat /tmp/hold.out
  during=$(grep '^gpu0 ' /sys/kernel/debug/nvsim/state)
  echo "workers while it runs: $(cat /sys/kernel/fakegpu/workers)"
  kill -9 $pid; wait $pid 2>/dev/null
  after=$(grep '^gpu0 ' /sys/kernel/debug/nvsim/state)
  echo "nvsim before: $before"; echo "while held:   $during"; echo "after kill:   $after"
  [ "$before" != "$during" ] || fail "the held memory never showed in nvsim" || return 1
  [ "$before" = "$after" ] || fail "the killed client's memory stayed charged"
}

# Unload and reload while many clients come and go. Each cycle: a cgroup entry, four
# clients holding memory on both GPUs through fakegpu, and short-lived clients started beside
# them. Neither module unloads while any of them holds a fake file, down to the last one;
# once all are killed the cgroup's charges are back to zero and fakegpu unloads and reloads.
# nvsim ends holding nothing more than before.
case_unload_reload_cycles() {
  before=$(grep -E '^(gpu[01]|sys_used|objects) ' /sys/kernel/debug/nvsim/state)
  cg=/sys/fs/cgroup/fakegpu-reload
  i=0
  while [ $i -lt 4 ]; do
    mkdir -p $cg || return 1
    id=$(stat -c %i $cg)
    echo "add /fakegpu-reload" > /sys/kernel/fakegpu/cgroups/control || fail "cycle $i: no entry" || return 1
    pids=""; k=0
    while [ $k -lt 4 ]; do
      : > /tmp/hold.$k
      sh -c "echo \$\$ > $cg/cgroup.procs && exec nv-client --ctl /dev/fakegpuctl --gpu /dev/fakegpu$((k % 2)) \
        --uvm /dev/fakegpu-uvm hold 16777216" > /tmp/hold.$k 2>&1 &
      pids="$pids $!"; k=$((k + 1))
    done
    # Short-lived clients beside them, ending by themselves while the cycle runs.
    short=""
    for s in alloc map vidheap leak; do
      sh -c "echo \$\$ > $cg/cgroup.procs && exec nv-client --ctl /dev/fakegpuctl --gpu /dev/fakegpu1 \
        --uvm /dev/fakegpu-uvm $s 1048576" > /tmp/short.$s 2>&1 &
      short="$short $!"
    done
    k=0
    while [ $k -lt 4 ]; do
      j=0; while ! grep -q size /tmp/hold.$k && [ $j -lt 150 ]; do sleep 0.1; j=$((j + 1)); done
      grep -q '"alloc_status":"0x0"' /tmp/hold.$k || fail "cycle $i: client $k did not allocate: $(cat /tmp/hold.$k)" || return 1
      k=$((k + 1))
    done
    for p in $short; do wait $p || fail "cycle $i: a short-lived client failed" || return 1; done
    mem=$(cat /sys/kernel/fakegpu/cgroups/$id/memory.current | tr '\n' ' ')
    echo "cycle $i: 4 clients holding, charged: $mem"
    echo "$mem" | grep -q 'gpu0 33554432 gpu1 33554432' || fail "cycle $i: want 32 MiB charged per GPU" || return 1
    # Killed one by one: while any is left, both modules stay in.
    n=4
    for p in $pids; do
      if rmmod fakegpu 2>/dev/null; then fail "cycle $i: fakegpu unloaded under $n clients"; return 1; fi
      if rmmod nvsim 2>/dev/null; then fail "cycle $i: nvsim unloaded under fakegpu's clients"; return 1; fi
      kill -9 $p; wait $p 2>/dev/null; n=$((n - 1))
    done
    # The processes' workers let go of the files a moment after their deaths.
    j=0
    while [ "$(tr '\n' ' ' < /sys/kernel/fakegpu/cgroups/$id/memory.current)" != "gpu0 0 gpu1 0 " ] ||
        [ "$(cat /sys/kernel/fakegpu/cgroups/$id/pinned.current)" != 0 ]; do
      [ $j -lt 100 ] || { fail "cycle $i: charges left: $(cat /sys/kernel/fakegpu/cgroups/$id/*.current)"; return 1; }
      sleep 0.1; j=$((j + 1))
    done
    j=0
    while ! rmmod fakegpu 2>/dev/null; do
      [ $j -lt 100 ] || { fail "cycle $i: fakegpu still busy 10 s after its clients died"; return 1; }
      sleep 0.1; j=$((j + 1))
    done
    rmdir $cg || fail "cycle $i: rmdir $cg" || return 1
    load_fakegpu || fail "cycle $i: reload failed" || return 1
    i=$((i + 1))
  done
  echo "FIGURE $i unload/reload cycles, 4 holding clients killed and 4 short-lived ones in each"
  after=$(grep -E '^(gpu[01]|sys_used|objects) ' /sys/kernel/debug/nvsim/state)
  echo "nvsim before: $before"; echo "nvsim after:  $after"
  [ "$before" = "$after" ] || fail "nvsim still holds something after the cycles"
}

case_final_unload() {
  rmmod fakegpu || return 1
  unload_nvsim || fail "rmmod nvsim failed" || return 1
  ! grep -qE ' nvidia-(frontend|uvm)$' /proc/devices || fail "nvsim majors left registered" || return 1
  [ ! -e /dev/fakedri ] && [ ! -e /dev/fakechr ] || fail "nodes left after rmmod" || return 1
  ! grep -qE ' fake(dri|chr)$' /proc/devices || fail "regions left after rmmod"
}

case_$1
