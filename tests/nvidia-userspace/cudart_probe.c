// SPDX-License-Identifier: GPL-2.0
/*
 * cudart_probe: NVIDIA's CUDA runtime (libcudart.so.12, from PyPI's nvidia-cuda-runtime-cu12
 * wheel) on top of libcuda, against whatever /dev/nvidia* is. Loads libcudart.so.12 with
 * dlopen (no CUDA headers needed: the few prototypes are declared here) and runs, in order:
 * cudaRuntimeGetVersion, cudaDriverGetVersion, cudaGetDeviceCount, cudaMemGetInfo (the first
 * call that needs device 0's primary context), cudaMalloc of 64 MiB, cudaMemcpy of 1 MiB host
 * to device then device to host (reported as cudaMemcpyHtoD and cudaMemcpyDtoH) with the
 * data compared, cudaDeviceSynchronize, cudaFree. Prints one line per call,
 * "CALL name = code (NAME)" with NAME from the library's cudaGetErrorName, plus
 * "RUNTIME_VERSION n", "DRIVER_VERSION n", "DEVICES n", "MEMINFO free=B total=B" and
 * "COPY ok|mismatch"; stops at the first failure (exit 1), exits 0 if everything passed. A
 * call that does not return within CUDA_PROBE_TIMEOUT seconds (default 60) is reported as
 * "HANG name" (exit 3).
 *   cudart_probe
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

typedef int cudaError_t;

/* enum cudaMemcpyKind */
#define CUDA_MEMCPY_HOST_TO_DEVICE 1
#define CUDA_MEMCPY_DEVICE_TO_HOST 2

#define ALLOC_BYTES ((size_t)64 << 20)
#define COPY_BYTES ((size_t)1 << 20)

static const char *(*get_error_name)(cudaError_t);

/* Reports one call; exits 1 on failure. */
static void check(const char *name, cudaError_t r)
{
	const char *text = get_error_name ? get_error_name(r) : NULL;

	printf("CALL %s = %d (%s)\n", name, r, text ? text : "?");
	fflush(stdout);
	if (r != 0)
		exit(1);
}

int main(void)
{
	int runtime_version = 0, driver_version = 0, count = 0;
	size_t free_b = 0, total_b = 0;
	void *dev = NULL;

	probe_start();
	void *lib = dlopen("libcudart.so.12", RTLD_NOW);
	if (!lib) {
		printf("DLOPEN-FAILED %s\n", dlerror());
		return 2;
	}
	cudaError_t (*runtime_get_version)(int *) = sym(lib, "cudaRuntimeGetVersion");
	cudaError_t (*driver_get_version)(int *) = sym(lib, "cudaDriverGetVersion");
	cudaError_t (*get_device_count)(int *) = sym(lib, "cudaGetDeviceCount");
	cudaError_t (*mem_get_info)(size_t *, size_t *) = sym(lib, "cudaMemGetInfo");
	cudaError_t (*malloc_dev)(void **, size_t) = sym(lib, "cudaMalloc");
	cudaError_t (*memcpy_)(void *, const void *, size_t, int) = sym(lib, "cudaMemcpy");
	cudaError_t (*device_synchronize)(void) = sym(lib, "cudaDeviceSynchronize");
	cudaError_t (*free_dev)(void *) = sym(lib, "cudaFree");
	get_error_name = sym(lib, "cudaGetErrorName");

	unsigned char *out = malloc(COPY_BYTES), *back = malloc(COPY_BYTES);
	if (!out || !back) {
		printf("HOST-MALLOC-FAILED\n");
		return 2;
	}
	for (size_t i = 0; i < COPY_BYTES; i++)
		out[i] = (unsigned char)(i * 31 + (i >> 12));
	memset(back, 0, COPY_BYTES);

	RUN("cudaRuntimeGetVersion", runtime_get_version(&runtime_version));
	printf("RUNTIME_VERSION %d\n", runtime_version);
	RUN("cudaDriverGetVersion", driver_get_version(&driver_version));
	printf("DRIVER_VERSION %d\n", driver_version);
	RUN("cudaGetDeviceCount", get_device_count(&count));
	printf("DEVICES %d\n", count);
	RUN("cudaMemGetInfo", mem_get_info(&free_b, &total_b));
	printf("MEMINFO free=%zu total=%zu\n", free_b, total_b);
	RUN("cudaMalloc", malloc_dev(&dev, ALLOC_BYTES));
	RUN("cudaMemcpyHtoD", memcpy_(dev, out, COPY_BYTES, CUDA_MEMCPY_HOST_TO_DEVICE));
	RUN("cudaMemcpyDtoH", memcpy_(back, dev, COPY_BYTES, CUDA_MEMCPY_DEVICE_TO_HOST));
	if (memcmp(out, back, COPY_BYTES) != 0) {
		size_t i = 0;

		while (out[i] == back[i])
			i++;
		printf("COPY mismatch at byte %zu: wrote 0x%02x, read 0x%02x\n", i, out[i], back[i]);
		return 1;
	}
	printf("COPY ok\n");
	RUN("cudaDeviceSynchronize", device_synchronize());
	RUN("cudaFree", free_dev(dev));
	return 0;
}
