// SPDX-License-Identifier: GPL-2.0
/*
 * The parts of fakegpu that Rust-for-Linux 6.12 cannot express: module parameters (its
 * module! macro has none) and lookup_one_len() (linux/namei.h is not in its bindings).
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/namei.h>
#include <linux/string.h>

static char devices[512];
module_param_string(devices, devices, sizeof(devices), 0444);
MODULE_PARM_DESC(devices,
		 "Real char devices to front, MAJOR:MINOR separated by commas, e.g. 226:0,226:128");

const char *fakegpu_devices_param(void)
{
	return devices;
}

/* Caller holds parent's inode lock. */
struct dentry *fakegpu_lookup_child(struct dentry *parent, const char *name)
{
	return lookup_one_len(name, parent, strlen(name));
}
