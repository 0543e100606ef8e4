# NVIDIA's CUDA runtime (libcudart.so.12 12.2.140, fetched by scripts/fetch-cuda-runtime.sh)
# on top of its libcuda (535.309.01), against nvsim.
#   sh cuda_runtime.sh CASE

# The first call cudart_probe sees fail, and how: the runtime's initialisation, in
# cudaGetDeviceCount. Seen in the VM: beyond what cuInit asks, it allocates class 0xcb33
# (NV_CONFIDENTIAL_COMPUTE), which nvsim does not know (NV_ERR_INVALID_CLASS); NV2080
# 0x20802209 (RC_GET_WATCHDOG_INFO), which it also sends, is answered now and did not change
# the outcome.
CUDART_FIRST_FAILURE='CALL cudaGetDeviceCount = 3 (cudaErrorInitializationError)'

. /fakegpu/nvidia_lib.sh

# The runtime API through cudart_probe: the versions (CUDA 12.2 both: the runtime's own, and
# what libcuda 535 reports) work; then the probe must stop at CUDART_FIRST_FAILURE with the
# runtime's own error, not hang or crash.
cuda_runtime_api() {
  setup || return 1
  CUDA_PROBE_TIMEOUT=60 nv $NV_ROOT/usr/bin/cudart_probe > /tmp/out 2>&1; rc=$?
  cat /tmp/out; failed_calls
  echo "--- the last calls, in order:"
  dmesg | grep 'trace:' | sed 's/.*trace: //' | uniq -c | tail -12
  ! grep -q '^HANG ' /tmp/out || fail "cudart_probe hung: $(grep '^HANG ' /tmp/out)" || return 1
  grep -qx 'CALL cudaRuntimeGetVersion = 0 (cudaSuccess)' /tmp/out && grep -qx 'RUNTIME_VERSION 12020' /tmp/out ||
    fail "cudaRuntimeGetVersion should succeed with 12020 (CUDA 12.2)" || return 1
  grep -qx 'CALL cudaDriverGetVersion = 0 (cudaSuccess)' /tmp/out && grep -qx 'DRIVER_VERSION 12020' /tmp/out ||
    fail "cudaDriverGetVersion should succeed with libcuda 535's 12020" || return 1
  last=$(grep '^CALL ' /tmp/out | tail -1)
  [ "$last" = "$CUDART_FIRST_FAILURE" ] ||
    fail "the first failing call is '$last', not '$CUDART_FIRST_FAILURE': update CUDART_FIRST_FAILURE" || return 1
  [ $rc = 1 ] || fail "cudart_probe exited $rc"
}

case=$1; shift
"$case" "$@"
