// SPDX-License-Identifier: GPL-2.0
/*
 * The parts of fakegpu that Rust-for-Linux 6.12 cannot express safely:
 * - module parameters (its module! macro has none);
 * - lookup_one_len() (linux/namei.h is not in its bindings);
 * - anything read from struct task_struct: bindgen's layout of it differs from the C
 *   compiler's on this kernel (seen: mm at 976 instead of 992), so Rust never reads it;
 * - the C side of the load-time layout check (kernel-common/layout_table.h).
 */
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/path.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/string.h>

static char devices[512];
module_param_string(devices, devices, sizeof(devices), 0444);
MODULE_PARM_DESC(devices,
		 "Real char devices to front, MAJOR:MINOR separated by commas, e.g. 226:0,226:128");

/* Called from Rust. */
const char *fakegpu_devices_param(void);
struct dentry *fakegpu_lookup_child(struct dentry *parent, const char *name);
const struct cred *fakegpu_current_cred(void);
struct mm_struct *fakegpu_current_mm(void);

const char *fakegpu_devices_param(void)
{
	return devices;
}

/* Caller holds parent's inode lock. */
struct dentry *fakegpu_lookup_child(struct dentry *parent, const char *name)
{
	return lookup_one_len(name, parent, strlen(name));
}

const struct cred *fakegpu_current_cred(void)
{
	return current_cred();
}

struct mm_struct *fakegpu_current_mm(void)
{
	return current->mm;
}

#include "../kernel-common/layout_table.h"
