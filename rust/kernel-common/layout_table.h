/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C compiler's offsets of every kernel struct field the modules' Rust code touches, and
 * the values of the C macros it restates, compared with Rust's at load time
 * (kernel-common/layout.rs). Included by each module's shim.c: bindgen's layout of
 * task_struct was seen to be wrong on this kernel, so nothing is taken on trust.
 */
#include <linux/fs.h>
#include <linux/mount.h>
#include <linux/path.h>
#include <linux/poll.h>

const size_t kc_layout[];
const size_t kc_layout_len;

/* Same order as RUST_LAYOUT in layout.rs. */
const size_t kc_layout[] = {
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
	(__force size_t)(EPOLLIN | EPOLLPRI),
};
const size_t kc_layout_len = ARRAY_SIZE(kc_layout);
