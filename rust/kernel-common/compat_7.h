/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the C shims call where 6.12 and 7.x differ, as 7.x has it (compat.h includes this file
 * on 7.x and compat_6_12.h on 6.12; Rust has compat_7.rs and compat_6_12.rs).
 */
#ifndef FAKEGPU_COMPAT_H
#define FAKEGPU_COMPAT_H

#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/sched.h>
#include <linux/string.h>
#include <linux/cgroup_dmem.h>

/* The dmem cgroup controller's API (6.14+): real if the kernel has CONFIG_CGROUP_DMEM, the
 * header's own stubs (no region, every charge taken) if not. */
#define FAKEGPU_HAS_DMEM IS_ENABLED(CONFIG_CGROUP_DMEM)

/* The child @name of @parent (its inode lock held), looked up without permission checks. */
static inline struct dentry *fakegpu_compat_lookup(struct dentry *parent, const char *name)
{
	return lookup_noperm(&QSTR(name), parent);
}

/* Instantiates @dentry with @inode, pinned until the superblock dies (7.x's persistent dentries). */
static inline void fakegpu_compat_add_pinned(struct dentry *dentry, struct inode *inode)
{
	d_make_persistent(dentry, inode);
	dput(dentry);
}

/* kill_sb for a filesystem whose dentries are all pinned by fakegpu_compat_add_pinned. */
#define fakegpu_compat_kill_pinned_sb kill_anon_super

/* Whether @file can be mapped (7.x drivers may have mmap_prepare instead of mmap). */
static inline bool fakegpu_compat_file_has_mmap(struct file *file)
{
	return file->f_op->mmap || file->f_op->mmap_prepare;
}

/* @file's mmap or mmap_prepare on @vma, as the VFS calls it (vfs_mmap). */
static inline int fakegpu_compat_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	return vfs_mmap(file, vma);
}

/* @tsk's command name into @buf of @len bytes. */
#define fakegpu_compat_task_comm(buf, len, tsk) strscpy_pad(buf, (tsk)->comm, len)

/* Unmaps the PTEs of @size bytes at @addr of the VM_PFNMAP/VM_MIXEDMAP @vma. */
#define fakegpu_compat_zap_ptes(vma, addr, size) zap_special_vma_range(vma, addr, size)

#endif
