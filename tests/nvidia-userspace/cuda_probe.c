// SPDX-License-Identifier: GPL-2.0
/*
 * cuda_probe: NVIDIA's libcuda (driver API) against whatever /dev/nvidia* is: nvsim directly,
 * or fakegpu's nodes in a container. Loads libcuda.so.1 with dlopen (no CUDA headers needed:
 * the few prototypes are declared here) and runs, in order: cuInit, cuDeviceGetCount, then
 * per device cuDeviceGet, cuDeviceGetName, cuDeviceTotalMem; then on device 0
 * cuCtxCreate, cuMemGetInfo, cuMemAlloc, cuMemFree, cuCtxDestroy. Prints one line per call,
 * "CALL name = code (NAME)" plus what it returned, and stops at the first failure. A call
 * that does not return within CUDA_PROBE_TIMEOUT seconds (default 60) is reported as
 * "HANG name" (e.g. waiting for a GPU semaphore nothing will ever release).
 *   cuda_probe [ctx]   (without "ctx": stop after the device queries)
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef unsigned long long CUdeviceptr;

static CUresult (*get_error_name)(CUresult, const char **);

/* Reports one call; exits 1 on failure. */
static void check(const char *name, CUresult r)
{
	const char *text = "?";

	if (get_error_name)
		get_error_name(r, &text);
	printf("CALL %s = %d (%s)\n", name, r, text ? text : "?");
	fflush(stdout);
	if (r != 0)
		exit(1);
}

int main(int argc, char **argv)
{
	int with_ctx = argc > 1 && strcmp(argv[1], "ctx") == 0;
	int count = 0;

	probe_start();
	void *lib = dlopen("libcuda.so.1", RTLD_NOW);
	if (!lib) {
		printf("DLOPEN-FAILED %s\n", dlerror());
		return 2;
	}
	CUresult (*cu_init)(unsigned) = sym(lib, "cuInit");
	CUresult (*get_count)(int *) = sym(lib, "cuDeviceGetCount");
	CUresult (*get)(CUdevice *, int) = sym(lib, "cuDeviceGet");
	CUresult (*get_name)(char *, int, CUdevice) = sym(lib, "cuDeviceGetName");
	CUresult (*total_mem)(size_t *, CUdevice) = sym(lib, "cuDeviceTotalMem_v2");
	CUresult (*ctx_create)(CUcontext *, unsigned, CUdevice) = sym(lib, "cuCtxCreate_v2");
	CUresult (*mem_info)(size_t *, size_t *) = sym(lib, "cuMemGetInfo_v2");
	CUresult (*mem_alloc)(CUdeviceptr *, size_t) = sym(lib, "cuMemAlloc_v2");
	CUresult (*mem_free)(CUdeviceptr) = sym(lib, "cuMemFree_v2");
	CUresult (*ctx_destroy)(CUcontext) = sym(lib, "cuCtxDestroy_v2");
	get_error_name = sym(lib, "cuGetErrorName");

	RUN("cuInit", cu_init(0));
	RUN("cuDeviceGetCount", get_count(&count));
	printf("DEVICES %d\n", count);
	for (int i = 0; i < count; i++) {
		CUdevice dev;
		char name[256] = "";
		size_t total = 0;

		RUN("cuDeviceGet", get(&dev, i));
		RUN("cuDeviceGetName", get_name(name, sizeof(name), dev));
		RUN("cuDeviceTotalMem", total_mem(&total, dev));
		printf("DEVICE %d name=%s total=%zu\n", i, name, total);
	}
	if (!with_ctx || count == 0)
		return 0;

	CUcontext ctx = NULL;
	CUdeviceptr ptr = 0;
	size_t free_b = 0, total_b = 0;
	RUN("cuCtxCreate", ctx_create(&ctx, 0, 0));
	RUN("cuMemGetInfo", mem_info(&free_b, &total_b));
	printf("MEMINFO free=%zu total=%zu\n", free_b, total_b);
	RUN("cuMemAlloc", mem_alloc(&ptr, 64 << 20));
	RUN("cuMemGetInfo", mem_info(&free_b, &total_b));
	printf("MEMINFO free=%zu total=%zu\n", free_b, total_b);
	RUN("cuMemFree", mem_free(ptr));
	RUN("cuCtxDestroy", ctx_destroy(ctx));
	return 0;
}
