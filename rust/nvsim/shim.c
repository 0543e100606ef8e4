// SPDX-License-Identifier: GPL-2.0
/*
 * nvsim's module parameters (6.12's Rust module! macro has none), read by nvsim_main.rs,
 * and the C side of the load-time layout check.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

static int gpus = 2;
module_param(gpus, int, 0444);
MODULE_PARM_DESC(gpus, "Number of simulated GPUs, /dev/nvidia0..N-1 (1..16, default 2)");

static int fb_mib = 4096;
module_param(fb_mib, int, 0444);
MODULE_PARM_DESC(fb_mib, "Framebuffer of each simulated GPU in MiB (default 4096)");

static char version[64] = "535.309.01";
module_param_string(version, version, sizeof(version), 0444);
MODULE_PARM_DESC(version, "Driver version CHECK_VERSION_STR reports (default 535.309.01)");

/* Called from Rust. */
int nvsim_param_gpus(void);
int nvsim_param_fb_mib(void);
const char *nvsim_param_version(void);

int nvsim_param_gpus(void)
{
	return gpus;
}

int nvsim_param_fb_mib(void)
{
	return fb_mib;
}

const char *nvsim_param_version(void)
{
	return version;
}

#include "../kernel-common/layout_table.h"
