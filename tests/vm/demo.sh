# The demo: fakegpu in front of the vgem driver, shown step by step. Output goes to
# /dev/ttyS1, which the host prints as it arrives (the kernel log stays on ttyS0).
exec > /dev/ttyS1 2>&1
. /fakegpu/lib.sh
step() { echo; echo "==> $*"; }

step "real DRM nodes (vgem)"
ls -l /dev/dri
devices=$(fakegpu_devices)
step "insmod fakegpu.ko devices=$devices"
insmod /fakegpu/fakegpu.ko devices="$devices"
dmesg | grep 'fakegpu:'
step "fake nodes: their own major, the real minors"
ls -l /dev/fakedri /dev/fakechr
grep -E 'drm|fake' /proc/devices
export_test_env
step "DRM_IOCTL_VERSION through $FAKE_CARD"
fakegpu-vmtest drm_version_reports_vgem
step "a dumb buffer created, mapped and written through the fake node, read back through the real node via PRIME"
fakegpu-vmtest dumb_pattern_through_two_maps_and_prime
step "the mapping belongs to the real driver; its file cannot be re-opened"
fakegpu-vmtest map_files_reopen_refused
step "rmmod while a fake node is open is refused"
exec 3<>"$FAKE_CARD"; rmmod fakegpu; exec 3>&-
step "rmmod after the last close"
rmmod fakegpu && ls /dev/fakedri 2>&1
step "nvsim: the NVIDIA driver's ABI as a test double (major 195, nvidia-uvm)"
load_nvsim && grep -E 'nvidia' /proc/devices && ls -l /dev/nvidia*
step "a libcuda-like start-up against nvsim, then 1 GiB of GPU memory"
nv-client startup
nv-client alloc 1073741824
step "insmod fakegpu.ko again: it finds nvsim's devices itself (nvidia_gpus=auto)"
load_fakegpu && dmesg | grep 'fakegpu: /dev/fakegpu'
cat /sys/kernel/fakegpu/devices
NV="--ctl /dev/fakegpuctl --gpu /dev/fakegpu0 --uvm /dev/fakegpu-uvm"
step "the same client through fakegpu's nodes: start-up, 1 GiB, a mapped system-memory buffer"
nv-client $NV startup
nv-client $NV alloc 1073741824
nv-client $NV map 65536
step "workers: kernel threads, one per process that made fd-carrying calls (an exited process's goes within a second)"
echo "workers: $(cat /sys/kernel/fakegpu/workers)"
step "what the filter refuses, in the driver's own form, logged"
fakegpu-vmtest proxy_filter_refusals | tail -4
step "a cgroup with a 2 GiB limit on GPU 0, and only GPU 0 visible (/sys/kernel/fakegpu/cgroups)"
mkdir /sys/fs/cgroup/team-a
echo "add /team-a" > /sys/kernel/fakegpu/cgroups/control
entry=/sys/kernel/fakegpu/cgroups/$(ls -di /sys/fs/cgroup/team-a | awk '{print $1}')
echo "gpu0 2G" > $entry/memory.max
echo 0 > $entry/gpus
cat /sys/kernel/fakegpu/cgroups/control
# Runs a command as a process of team-a (the shell moves itself there, then execs it).
TEAM_A='echo $$ > /sys/fs/cgroup/team-a/cgroup.procs && exec "$@"'
in_team() { sh -c "$TEAM_A" -- "$@"; }
step "in it: the client sees 2048 MiB and one GPU; 1 GiB is granted, 1.5 GiB more refused with the driver's 0x51"
in_team nv-client $NV startup
in_team nv-client $NV alloc 1073741824
sh -c "$TEAM_A" -- nv-client $NV hold 1073741824 > /tmp/held &
holder=$!
sleep 1
in_team nv-client $NV alloc 1610612736
step "usage while a process of team-a holds 1 GiB"
for f in memory.max memory.current memory.peak memory.events gpus; do
  echo "$f:"; sed 's/^/    /' $entry/$f
done
kill $holder; wait $holder 2>/dev/null; sleep 1
step "after it exits"
sed 's/^/    /' $entry/memory.current
step "two containers (runc, fakegpu's helper as their OCI hook): team-b asks for 512 MiB, team-c for 1 GiB, on GPU 0"
. /fakegpu/container_lib.sh
write_config
echo "host config $CONFIG:"; sed 's/^/    /' $CONFIG
work='stat -c \"/dev/nvidia0 in the container: device %t:%T (hex)\" /dev/nvidia0; nv-client startup; nv-client hold $HOLD > /dev/null & h=$!; sleep 4; nv-client alloc $MORE; sleep 4; kill $h'
bundle team-b '"fakegpu.io/memory.max":"512M","fakegpu.io/devices":"0"' '"HOLD=268435456","MORE=402653184"' "$work"
bundle team-c '"fakegpu.io/memory.max":"1G","fakegpu.io/devices":"0"' '"HOLD=536870912","MORE=402653184"' "$work"
run_ctr team-b > /tmp/team-b.out 2>&1 &
run_ctr team-c > /tmp/team-c.out 2>&1 &
i=0
while [ $i -lt 100 ] && [ "$(fakegpu status | grep -cE '^/fakegpu-ctr/team-. +0 +(256|512).0 MiB')" != 2 ]; do
  sleep 0.1; i=$((i + 1))
done
step "fakegpu status on the host while team-b holds 256 MiB and team-c 512 MiB"
fakegpu status
sleep 4
step "fakegpu status after each asked for 384 MiB more: team-b refused (REFUSED 1), team-c granted (PEAK 896 MiB)"
fakegpu status
wait
for c in team-b team-c; do
  step "$c's output: its view of the GPU, and 384 MiB more refused (0x51) or granted within its quota"
  sed 's/^/    /' /tmp/$c.out
done
step "after both exited: poststop removed their entries"
fakegpu status
step "nvsim's ground truth after the clients exited"
cat /sys/kernel/debug/nvsim/state
rmmod fakegpu
unload_nvsim
echo; echo "DEMO DONE"
