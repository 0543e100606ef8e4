# NVIDIA's CUDA runtime (libcudart.so.12 12.2.140, fetched by scripts/fetch-cuda-runtime.sh)
# on top of its libcuda (535.309.01), against nvsim.
#   sh cuda_runtime.sh CASE

. /fakegpu/nvidia_lib.sh

# The runtime API through cudart_probe, directly against nvsim: every call succeeds (versions
# 12.2 both; both GPUs; 1 MiB copied there and back, byte for byte). Its initialisation sends
# controls the driver API does not (RC watchdog, clock and perf queries of the closed RM,
# NV_CONFIDENTIAL_COMPUTE), which nvsim answers; a refusal of any of them makes
# cudaGetDeviceCount fail with cudaErrorInitializationError.
cuda_runtime_api() {
  setup || return 1
  CUDA_PROBE_TIMEOUT=60 nv $NV_ROOT/usr/bin/cudart_probe > /tmp/out 2>&1; rc=$?
  cat /tmp/out; failed_calls
  echo "--- the last calls, in order:"
  dmesg | grep 'trace:' | sed 's/.*trace: //' | grep -v 'engine gpu' | uniq -c | tail -12
  ! grep -q '^HANG ' /tmp/out || fail "cudart_probe hung: $(grep '^HANG ' /tmp/out)" || return 1
  grep -qx 'RUNTIME_VERSION 12020' /tmp/out && grep -qx 'DRIVER_VERSION 12020' /tmp/out ||
    fail "the runtime and driver versions should both be 12020 (CUDA 12.2)" || return 1
  for call in cudaRuntimeGetVersion cudaDriverGetVersion cudaGetDeviceCount cudaMemGetInfo \
      cudaMalloc cudaMemcpyHtoD cudaMemcpyDtoH cudaDeviceSynchronize cudaFree; do
    grep -qx "CALL $call = 0 (cudaSuccess)" /tmp/out || fail "$call failed" || return 1
  done
  grep -qx 'DEVICES 2' /tmp/out || fail "the runtime should count both GPUs" || return 1
  grep -Eqx 'MEMINFO free=[0-9]+ total=4294967296' /tmp/out || fail "cudaMemGetInfo's total should be 4 GiB" || return 1
  grep -qx 'COPY ok' /tmp/out || fail "the copy came back wrong" || return 1
  [ $rc = 0 ] || fail "cudart_probe exited $rc"
}

case=$1; shift
"$case" "$@"
