// SPDX-License-Identifier: GPL-2.0
/*
 * The parts of fakegpu that Rust-for-Linux 6.12 cannot express safely:
 * - module parameters (its module! macro has none);
 * - lookup_one_len() (linux/namei.h is not in its bindings);
 * - anything read from struct task_struct: bindgen's layout of it differs from the C
 *   compiler's on this kernel (seen: mm at 976 instead of 992), so Rust never reads it;
 * - the offsets of every other kernel struct field the Rust code touches, and the values
 *   of the macros it restates, compared with Rust's at load time (layout.rs), so a
 *   mismatch refuses to load instead of corrupting.
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

/* Same order as RUST_LAYOUT in layout.rs. */
const size_t fakegpu_c_layout[] = {
	offsetof(struct file, f_op),
	offsetof(struct file, private_data),
	offsetof(struct file, f_flags),
	offsetof(struct file, f_lock),
	offsetof(struct inode, i_rdev),
	offsetof(struct inode, i_rwsem),
	offsetof(struct vfsmount, mnt_root),
	offsetof(struct vfsmount, mnt_sb),
	offsetof(struct super_block, s_iflags),
	offsetof(struct dentry, d_inode),
	offsetof(struct file_system_type, owner),
	offsetof(struct path, dentry),
	sizeof(struct path),
	offsetof(struct file_operations, fop_flags),
	offsetof(struct file_operations, read),
	offsetof(struct file_operations, poll),
	offsetof(struct file_operations, unlocked_ioctl),
	offsetof(struct file_operations, compat_ioctl),
	offsetof(struct file_operations, mmap),
	offsetof(struct file_operations, open),
	offsetof(struct file_operations, release),
	offsetof(struct file_operations, get_unmapped_area),
	offsetof(struct file_operations, show_fdinfo),
	sizeof(struct file_operations),
	(__force size_t)FOP_UNSIGNED_OFFSET,
	(__force size_t)DEFAULT_POLLMASK,
};
const size_t fakegpu_c_layout_len = ARRAY_SIZE(fakegpu_c_layout);
