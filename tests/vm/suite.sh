# The in-VM test suite: shell cases in cases.sh, the rest in fakegpu-vmtest. Each case runs with
# its own timeout; its result goes to /dev/ttyS1 (read by the host) as
# "RESULT <name> PASS|FAIL <seconds>", and a case that leaves a kernel splat in dmesg fails.
. /fakegpu/lib.sh
RESULTS=/dev/ttyS1
CASE_TIMEOUT=${fakegpu_case_timeout:-180}
passed=0; failed=0; skipped=0

report() { echo "$*"; echo "$*" > $RESULTS; }

run_case() {
  name=$1; shift
  if [ -n "${fakegpu_only:-}" ] && ! echo "$name" | grep -Eq "$fakegpu_only"; then
    skipped=$((skipped + 1)); return 0
  fi
  dmesg -c > /dev/null
  t0=$(date +%s)
  limit=$CASE_TIMEOUT
  # The short fuzz run makes a fixed number of calls (1e5), not a fixed time's worth.
  case $name in fuzz_*) limit=$((CASE_TIMEOUT * 4)) ;; esac
  timeout "$limit" "$@" > /tmp/case.out 2>&1
  rc=$?
  secs=$(( $(date +%s) - t0 ))
  dmesg > /tmp/case.dmesg
  if grep -E "$SPLAT_RE" /tmp/case.dmesg > /tmp/case.splat; then
    echo "kernel splat during $name:" >> /tmp/case.out
    cat /tmp/case.dmesg >> /tmp/case.out
    rc=99
  fi
  [ $rc = 143 ] && echo "timed out after $limit s" >> /tmp/case.out
  if [ $rc = 0 ]; then
    passed=$((passed + 1)); report "RESULT $name PASS ${secs}s"
    # Figures a passing case reports (e.g. how many iterations it ran).
    grep '^FIGURE ' /tmp/case.out | while read -r line; do report "  $line"; done
  else
    failed=$((failed + 1)); report "RESULT $name FAIL ${secs}s (exit $rc)"
    sed 's/^/    | /' /tmp/case.out | tee $RESULTS
  fi
}

echo "fakegpu VM test suite on $(uname -r), $(nproc) CPUs"
run_case nvsim_registers_like_the_driver sh /fakegpu/cases.sh nvsim_registers_like_the_driver
run_case module_creates_nodes sh /fakegpu/cases.sh module_creates_nodes
export_test_env
for c in $(fakegpu-vmtest list); do
  run_case "$c" fakegpu-vmtest "$c"
done
# The nvsim cases again, through fakegpu's NVIDIA nodes: the same answers prove the proxy.
for c in $(fakegpu-vmtest list-proxied); do
  run_case "$c@fakegpu" env $THROUGH_FAKEGPU fakegpu-vmtest "$c"
done
run_case nv_client_scenarios sh /fakegpu/cases.sh nv_client_scenarios
run_case nv_client_scenarios_through_fakegpu sh /fakegpu/cases.sh nv_client_scenarios_through_fakegpu
run_case killed_client_frees_everything_through_fakegpu sh /fakegpu/cases.sh killed_client_frees_everything_through_fakegpu
# Containers (runc) with the fakegpu helper as their OCI hook.
for c in containers_with_quotas container_gpu_and_device_cgroup container_operator_caps \
    container_cdi_route quota_commands container_bad_input_aborts; do
  run_case "$c" sh /fakegpu/containers.sh "$c"
done
# NVIDIA's own userspace (when it could be fetched).
if [ -d /nvidia ]; then
  for c in nvidia_smi_list nvidia_smi_query nvidia_smi_memory_report nvidia_smi_compute_apps \
      cuda_driver_api cuda_driver_api_blocking_sync nvidia_smi_setters \
      nvidia_userspace_in_container nvidia_smi_in_cdi_container nvidia_smi_setters_in_container; do
    run_case "$c" sh /fakegpu/nvidia_userspace.sh "$c"
  done
  # libcuda's launches under a compute cap, each way of launching: cuLaunchKernel, CUDA
  # graphs (cuGraphLaunch) and cooperative launches.
  for k in launch graph cooperative; do
    run_case "cuda_compute_share_$k" sh /fakegpu/nvidia_userspace.sh cuda_compute_share $k
  done
  # Real engines (podman, containerd, Docker; scripts/fetch-engines.sh's root on /dev/vda) with NVIDIA's
  # userspace in their containers.
  if [ -b /dev/vda ]; then
    for c in podman_hooks_route podman_cdi_route containerd_cdi_route docker_cdi_route; do
      run_case "$c" sh /fakegpu/engines.sh "$c"
    done
  else
    report "NOTICE: the container engines were not fetched (see the engines step): podman_*, containerd_* and docker_* did NOT run"
  fi
  # NVIDIA's CUDA runtime on top of libcuda (when it could be fetched).
  if [ -x /nvidia/usr/bin/cudart_probe ]; then
    run_case cuda_runtime_api sh /fakegpu/cuda_runtime.sh cuda_runtime_api
  else
    report "NOTICE: NVIDIA's CUDA runtime was not fetched (see the cuda-runtime step): cuda_runtime_api did NOT run"
  fi
else
  report "NOTICE: NVIDIA's userspace was not fetched (see the nvidia-userspace step): its cases did NOT run"
fi
# The same with the 550 family's userspace, nvsim simulating 550.163.01 (then 535 again).
if [ -d /nvidia-550 ]; then
  for c in nvidia_smi_list nvidia_smi_query nvidia_smi_memory_report nvidia_smi_compute_apps \
      cuda_driver_api nvidia_smi_setters nvidia_userspace_in_container nvidia_smi_setters_in_container; do
    run_case "$c@550" env NV_FAMILY=550 sh /fakegpu/nvidia_userspace.sh "$c"
  done
  NV_FAMILY=535 sh /fakegpu/nvidia_userspace.sh use_family || report "FAIL: nvsim could not be reloaded as 535"
elif [ -d /nvidia ]; then
  report "NOTICE: NVIDIA's 550 userspace was not fetched (see the nvidia-userspace step): its cases did NOT run"
fi
run_case unknown_driver_family_not_fronted sh /fakegpu/cases.sh unknown_driver_family_not_fronted
run_case unknown_family_fronted_when_permissive sh /fakegpu/cases.sh unknown_family_fronted_when_permissive
run_case nvidia_driver_pinned_while_fronted sh /fakegpu/cases.sh nvidia_driver_pinned_while_fronted
run_case bad_devices_param_refused sh /fakegpu/cases.sh bad_devices_param_refused
run_case dmem_regions_only_fronted_gpus sh /fakegpu/cases.sh dmem_regions_only_fronted_gpus
run_case rmmod_refused_while_open sh /fakegpu/cases.sh rmmod_refused_while_open
run_case nodes_fs_shows_nvidia_numbers sh /fakegpu/cases.sh nodes_fs_shows_nvidia_numbers
run_case absent_real_device_gives_enxio sh /fakegpu/cases.sh absent_real_device_gives_enxio
run_case unload_reload_cycles sh /fakegpu/cases.sh unload_reload_cycles
run_case final_unload sh /fakegpu/cases.sh final_unload
[ "$skipped" = 0 ] || report "SKIPPED $skipped cases (fakegpu_only=$fakegpu_only)"
report "SUITE $passed passed, $failed failed"
