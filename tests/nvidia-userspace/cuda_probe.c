// SPDX-License-Identifier: GPL-2.0
/*
 * cuda_probe: NVIDIA's libcuda (driver API) against whatever /dev/nvidia* is: nvsim directly,
 * or fakegpu's nodes in a container. Loads libcuda.so.1 with dlopen (no CUDA headers needed:
 * the few prototypes are declared here) and runs, in order: cuInit, cuDeviceGetCount, then
 * per device cuDeviceGet, cuDeviceGetName, cuDeviceTotalMem; then on device 0
 * cuCtxCreate, cuMemGetInfo, cuMemAlloc, cuMemFree, cuCtxDestroy. With "work", between
 * cuMemAlloc and cuMemFree it also moves data: cuMemcpyHtoD then DtoH of a pattern, compared;
 * cuMemsetD8 and cuMemsetD32, read back and checked (reported, not fatal: libcuda sets memory
 * with a kernel, which a simulated GPU may not run); a stream with async copies, events around
 * them and cuStreamSynchronize; then cuModuleLoadData of an empty PTX kernel (compiled by
 * libnvidia-ptxjitcompiler), cuModuleGetFunction, cuLaunchKernel, cuCtxSynchronize and
 * cuModuleUnload; and cuMemAlloc/cuMemFree of 1 MiB, 256 MiB and 1 GiB ("ALLOC size took
 * bytes", from cuMemGetInfo). Prints one line per call, "CALL name = code (NAME)" plus what
 * it returned ("DATA what ok" or "DATA what bad at N"), and stops at the first failure. A call
 * that does not return within CUDA_PROBE_TIMEOUT seconds (default 60) is reported as
 * "HANG name" (e.g. waiting for a GPU semaphore nothing will ever release).
 * CUDA_PROBE_CTX_FLAGS sets cuCtxCreate's flags (default 0; 4: blocking sync).
 * With "quota" (under a memory quota, through fakegpu), after cuCtxCreate and cuMemGetInfo it
 * prints "PAUSE" and waits CUDA_PROBE_PAUSE seconds (default 5; for the caller to compare the cgroup's use with the driver's),
 * then allocates more than half the free memory twice: the second is past the quota ("OVER
 * size = code (NAME)"); the context stays usable (cuMemGetInfo), and once the first is freed
 * the second allocation succeeds ("AGAIN size ok").
 * With "bench N", it times N rounds of cuCtxCreate, 100 cuMemAlloc of 2 MiB and
 * cuCtxDestroy ("ROUND ns" lines; only failures print CALL lines).
 * With "busy KIND", it keeps the GPU busy with the empty kernel until killed, in batches of
 * 8 launches and a wait: KIND "launch" (cuLaunchKernel), "graph" (a graph of 8 kernel nodes
 * captured from a stream, cuGraphLaunch) or "cooperative" (cuLaunchCooperativeKernel); it
 * prints "BUSY" once the first batch is done (for compute-share tests).
 *   cuda_probe [ctx|work|quota|bench N|busy KIND]   (none: stop after the device queries)
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef unsigned long long CUdeviceptr;
typedef void *CUstream;
typedef void *CUevent;
typedef void *CUmodule;
typedef void *CUfunction;

/* An empty kernel, for Hopper (sm_90), in a PTX version driver 535 compiles. */
static const char empty_ptx[] =
	".version 7.8\n"
	".target sm_90\n"
	".address_size 64\n"
	".visible .entry empty()\n"
	"{\n"
	"\tret;\n"
	"}\n";

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

/* Reports whether `n` bytes at `got` are `want`'s; if not, exits 1 when `fatal`. */
static void compare(const char *what, const unsigned char *got, const unsigned char *want, size_t n,
		    int fatal)
{
	for (size_t i = 0; i < n; i++) {
		if (got[i] != want[i]) {
			printf("DATA %s bad at %zu: %#x, want %#x\n", what, i, got[i], want[i]);
			if (fatal)
				exit(1);
			return;
		}
	}
	printf("DATA %s ok\n", what);
}

/* Copies, sets and streams on the `size` bytes at `dev`; checks every byte that comes back. */
static void move_data(void *lib, CUdeviceptr dev, size_t size)
{
	CUresult (*htod)(CUdeviceptr, const void *, size_t) = sym(lib, "cuMemcpyHtoD_v2");
	CUresult (*dtoh)(void *, CUdeviceptr, size_t) = sym(lib, "cuMemcpyDtoH_v2");
	CUresult (*set8)(CUdeviceptr, unsigned char, size_t) = sym(lib, "cuMemsetD8_v2");
	CUresult (*set32)(CUdeviceptr, unsigned, size_t) = sym(lib, "cuMemsetD32_v2");
	CUresult (*stream_create)(CUstream *, unsigned) = sym(lib, "cuStreamCreate");
	CUresult (*htod_async)(CUdeviceptr, const void *, size_t, CUstream) =
		sym(lib, "cuMemcpyHtoDAsync_v2");
	CUresult (*dtoh_async)(void *, CUdeviceptr, size_t, CUstream) =
		sym(lib, "cuMemcpyDtoHAsync_v2");
	CUresult (*stream_sync)(CUstream) = sym(lib, "cuStreamSynchronize");
	CUresult (*stream_destroy)(CUstream) = sym(lib, "cuStreamDestroy_v2");
	CUresult (*event_create)(CUevent *, unsigned) = sym(lib, "cuEventCreate");
	CUresult (*event_record)(CUevent, CUstream) = sym(lib, "cuEventRecord");
	CUresult (*event_sync)(CUevent) = sym(lib, "cuEventSynchronize");
	CUresult (*elapsed)(float *, CUevent, CUevent) = sym(lib, "cuEventElapsedTime");
	CUresult (*event_destroy)(CUevent) = sym(lib, "cuEventDestroy_v2");
	unsigned char *pattern = malloc(size), *back = malloc(size), *want = malloc(size);
	CUstream stream = NULL;
	CUevent start = NULL, stop = NULL;
	float ms = -1;

	if (!pattern || !back || !want) {
		printf("NOMEM host buffers\n");
		exit(2);
	}
	for (size_t i = 0; i < size; i++)
		pattern[i] = (unsigned char)(i * 7 + (i >> 12));

	RUN("cuMemcpyHtoD", htod(dev, pattern, size));
	memset(back, 0, size);
	RUN("cuMemcpyDtoH", dtoh(back, dev, size));
	compare("copy", back, pattern, size, 1);

	RUN("cuMemsetD8", set8(dev, 0xa5, size));
	RUN("cuMemcpyDtoH", dtoh(back, dev, size));
	memset(want, 0xa5, size);
	compare("memset8", back, want, size, 0);

	RUN("cuMemsetD32", set32(dev + 4096, 0x12345678, (size - 8192) / 4));
	RUN("cuMemcpyDtoH", dtoh(back, dev, size));
	for (size_t i = 4096; i < size - 4096; i += 4)
		memcpy(want + i, &(unsigned){ 0x12345678 }, 4);
	compare("memset32", back, want, size, 0);

	RUN("cuStreamCreate", stream_create(&stream, 0));
	RUN("cuEventCreate", event_create(&start, 0));
	RUN("cuEventCreate", event_create(&stop, 0));
	RUN("cuEventRecord", event_record(start, stream));
	RUN("cuMemcpyHtoDAsync", htod_async(dev, pattern, size, stream));
	memset(back, 0, size);
	RUN("cuMemcpyDtoHAsync", dtoh_async(back, dev, size, stream));
	RUN("cuEventRecord", event_record(stop, stream));
	RUN("cuStreamSynchronize", stream_sync(stream));
	compare("stream", back, pattern, size, 1);
	RUN("cuEventSynchronize", event_sync(stop));
	RUN("cuEventElapsedTime", elapsed(&ms, start, stop));
	printf("ELAPSED %s\n", ms >= 0 ? "ok" : "negative");
	RUN("cuEventDestroy", event_destroy(start));
	RUN("cuEventDestroy", event_destroy(stop));
	RUN("cuStreamDestroy", stream_destroy(stream));
	free(pattern);
	free(back);
	free(want);
}

/* Loads the empty kernel, launches it once and waits for it. */
static void run_kernel(void *lib)
{
	CUresult (*load)(CUmodule *, const void *) = sym(lib, "cuModuleLoadData");
	CUresult (*get_function)(CUfunction *, CUmodule, const char *) =
		sym(lib, "cuModuleGetFunction");
	CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
			   unsigned, CUstream, void **, void **) = sym(lib, "cuLaunchKernel");
	CUresult (*ctx_sync)(void) = sym(lib, "cuCtxSynchronize");
	CUresult (*unload)(CUmodule) = sym(lib, "cuModuleUnload");
	CUmodule module = NULL;
	CUfunction function = NULL;

	RUN("cuModuleLoadData", load(&module, empty_ptx));
	RUN("cuModuleGetFunction", get_function(&function, module, "empty"));
	RUN("cuLaunchKernel", launch(function, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
	RUN("cuCtxSynchronize", ctx_sync());
	RUN("cuModuleUnload", unload(module));
}

/* Keeps the GPU busy with the empty kernel until killed (see "busy" above). */
static void keep_busy(void *lib, const char *kind)
{
	CUresult (*load)(CUmodule *, const void *) = sym(lib, "cuModuleLoadData");
	CUresult (*get_function)(CUfunction *, CUmodule, const char *) =
		sym(lib, "cuModuleGetFunction");
	CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
			   unsigned, CUstream, void **, void **) = sym(lib, "cuLaunchKernel");
	CUresult (*cooperative)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned,
				unsigned, unsigned, CUstream, void **) =
		sym(lib, "cuLaunchCooperativeKernel");
	CUresult (*stream_create)(CUstream *, unsigned) = sym(lib, "cuStreamCreate");
	CUresult (*stream_sync)(CUstream) = sym(lib, "cuStreamSynchronize");
	CUresult (*begin_capture)(CUstream, int) = sym(lib, "cuStreamBeginCapture_v2");
	CUresult (*end_capture)(CUstream, void **) = sym(lib, "cuStreamEndCapture");
	CUresult (*instantiate)(void **, void *, unsigned long long) =
		sym(lib, "cuGraphInstantiateWithFlags");
	CUresult (*graph_launch)(void *, CUstream) = sym(lib, "cuGraphLaunch");
	int graph = strcmp(kind, "graph") == 0, coop = strcmp(kind, "cooperative") == 0;
	CUmodule module = NULL;
	CUfunction function = NULL;
	CUstream stream = NULL;
	void *g = NULL, *exec = NULL;

	if (!graph && !coop && strcmp(kind, "launch") != 0) {
		printf("BAD busy kind %s\n", kind);
		exit(2);
	}
	RUN("cuModuleLoadData", load(&module, empty_ptx));
	RUN("cuModuleGetFunction", get_function(&function, module, "empty"));
	RUN("cuStreamCreate", stream_create(&stream, 0));
	if (graph) {
		/* CU_STREAM_CAPTURE_MODE_GLOBAL */
		RUN("cuStreamBeginCapture", begin_capture(stream, 0));
		for (int i = 0; i < 8; i++)
			RUN("cuLaunchKernel", launch(function, 1, 1, 1, 32, 1, 1, 0, stream, NULL, NULL));
		RUN("cuStreamEndCapture", end_capture(stream, &g));
		RUN("cuGraphInstantiateWithFlags", instantiate(&exec, g, 0));
	}
	for (unsigned long batch = 0;; batch++) {
		CUresult e = 0;

		if (graph)
			e = graph_launch(exec, stream);
		for (int i = 0; i < 8 && !graph && e == 0; i++)
			e = coop ? cooperative(function, 1, 1, 1, 32, 1, 1, 0, stream, NULL) :
				   launch(function, 1, 1, 1, 32, 1, 1, 0, stream, NULL, NULL);
		if (e == 0)
			e = stream_sync(stream);
		if (e != 0)
			check(graph ? "cuGraphLaunch" : coop ? "cuLaunchCooperativeKernel" : "cuLaunchKernel", e);
		if (batch == 0) {
			printf("BUSY\n");
			fflush(stdout);
		}
	}
}

/* Allocates and frees 1 MiB, 256 MiB and 1 GiB, printing how much free memory each took. */
static void alloc_sizes(void *lib, CUresult (*mem_alloc)(CUdeviceptr *, size_t),
			CUresult (*mem_free)(CUdeviceptr), CUresult (*mem_info)(size_t *, size_t *))
{
	static const size_t sizes[] = { 1 << 20, 256 << 20, 1 << 30 };

	(void)lib;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t before = 0, after = 0, total = 0;
		CUdeviceptr p = 0;

		RUN("cuMemGetInfo", mem_info(&before, &total));
		RUN("cuMemAlloc", mem_alloc(&p, sizes[i]));
		RUN("cuMemGetInfo", mem_info(&after, &total));
		printf("ALLOC %zu took %zu\n", sizes[i], before - after);
		RUN("cuMemFree", mem_free(p));
	}
}

/* The allocations past the quota and back under it (see "quota" above). */
static void over_quota(CUresult (*mem_alloc)(CUdeviceptr *, size_t),
		       CUresult (*mem_free)(CUdeviceptr), CUresult (*mem_info)(size_t *, size_t *))
{
	const size_t align = 2 << 20;
	size_t free_b = 0, total_b = 0, size;
	CUdeviceptr first = 0, second = 0;
	const char *text = "?";
	CUresult e;

	RUN("cuMemGetInfo", mem_info(&free_b, &total_b));
	size = (free_b / 2 + align) & ~(align - 1);
	RUN("cuMemAlloc", mem_alloc(&first, size));
	current = "cuMemAlloc";
	alarm(timeout);
	e = mem_alloc(&second, size);
	alarm(0);
	get_error_name(e, &text);
	printf("OVER %zu = %d (%s)\n", size, e, text ? text : "?");
	if (e == 0)
		exit(1);
	RUN("cuMemGetInfo", mem_info(&free_b, &total_b));
	printf("MEMINFO free=%zu total=%zu\n", free_b, total_b);
	RUN("cuMemFree", mem_free(first));
	RUN("cuMemAlloc", mem_alloc(&second, size));
	printf("AGAIN %zu ok\n", size);
	RUN("cuMemFree", mem_free(second));
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Times `rounds` rounds of cuCtxCreate, 100 cuMemAlloc(2 MiB), cuCtxDestroy on device 0. */
static void bench(int rounds, CUresult (*ctx_create)(CUcontext *, unsigned, CUdevice),
		  CUresult (*mem_alloc)(CUdeviceptr *, size_t), CUresult (*ctx_destroy)(CUcontext))
{
	for (int r = 0; r < rounds; r++) {
		CUcontext ctx = NULL;
		CUdeviceptr p;
		uint64_t t0 = now_ns();
		CUresult e = ctx_create(&ctx, 0, 0);

		if (e != 0)
			check("cuCtxCreate", e);
		for (int i = 0; i < 100; i++) {
			e = mem_alloc(&p, 2 << 20);
			if (e != 0)
				check("cuMemAlloc", e);
		}
		e = ctx_destroy(ctx);
		if (e != 0)
			check("cuCtxDestroy", e);
		printf("ROUND %llu\n", (unsigned long long)(now_ns() - t0));
	}
}

int main(int argc, char **argv)
{
	int with_work = argc > 1 && strcmp(argv[1], "work") == 0;
	int with_quota = argc > 1 && strcmp(argv[1], "quota") == 0;
	int with_ctx = with_work || with_quota || (argc > 1 && strcmp(argv[1], "ctx") == 0) ||
		       (argc > 2 && strcmp(argv[1], "busy") == 0);
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
	if (argc > 2 && strcmp(argv[1], "bench") == 0) {
		bench(atoi(argv[2]), ctx_create, mem_alloc, ctx_destroy);
		return 0;
	}
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
	const char *flags = getenv("CUDA_PROBE_CTX_FLAGS");

	RUN("cuCtxCreate", ctx_create(&ctx, flags ? (unsigned)strtoul(flags, NULL, 0) : 0, 0));
	RUN("cuMemGetInfo", mem_info(&free_b, &total_b));
	printf("MEMINFO free=%zu total=%zu\n", free_b, total_b);
	if (argc > 2 && strcmp(argv[1], "busy") == 0)
		keep_busy(lib, argv[2]);
	if (with_quota) {
		const char *pause = getenv("CUDA_PROBE_PAUSE");

		printf("PAUSE\n");
		sleep(pause ? (unsigned)atoi(pause) : 5);
		over_quota(mem_alloc, mem_free, mem_info);
		RUN("cuCtxDestroy", ctx_destroy(ctx));
		return 0;
	}
	RUN("cuMemAlloc", mem_alloc(&ptr, 64 << 20));
	RUN("cuMemGetInfo", mem_info(&free_b, &total_b));
	printf("MEMINFO free=%zu total=%zu\n", free_b, total_b);
	if (with_work) {
		move_data(lib, ptr, 64 << 20);
		run_kernel(lib);
		alloc_sizes(lib, mem_alloc, mem_free, mem_info);
	}
	RUN("cuMemFree", mem_free(ptr));
	RUN("cuCtxDestroy", ctx_destroy(ctx));
	return 0;
}
