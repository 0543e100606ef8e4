/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the C shims call where 6.12 and 7.x differ, as 6.12 has it (compat.h includes this file
 * on 6.12 and compat_7.h on 7.x; Rust has compat_6_12.rs and compat_7.rs).
 */
#ifndef FAKEGPU_COMPAT_H
#define FAKEGPU_COMPAT_H

#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/namei.h>
#include <linux/sched.h>
#include <linux/string.h>

/* 6.12 has no dmem cgroup controller (6.14+): no region is ever registered, and the calls
 * below are never reached with one. */
#define FAKEGPU_HAS_DMEM 0
struct dmem_cgroup_region;
struct dmem_cgroup_pool_state;
static inline struct dmem_cgroup_region *dmem_cgroup_register_region(u64 size, const char *fmt, ...)
{
	return NULL;
}
static inline void dmem_cgroup_unregister_region(struct dmem_cgroup_region *region) { }
static inline int dmem_cgroup_try_charge(struct dmem_cgroup_region *region, u64 size,
					 struct dmem_cgroup_pool_state **ret_pool,
					 struct dmem_cgroup_pool_state **ret_limit_pool)
{
	*ret_pool = NULL;
	return 0;
}
static inline void dmem_cgroup_uncharge(struct dmem_cgroup_pool_state *pool, u64 size) { }
static inline void dmem_cgroup_pool_state_put(struct dmem_cgroup_pool_state *pool) { }

/* The child @name of @parent (its inode lock held), looked up without permission checks. */
static inline struct dentry *fakegpu_compat_lookup(struct dentry *parent, const char *name)
{
	return lookup_one_len(name, parent, strlen(name));
}

/* Instantiates @dentry with @inode, pinned until the superblock dies (see kill_pinned). */
static inline void fakegpu_compat_add_pinned(struct dentry *dentry, struct inode *inode)
{
	d_add(dentry, inode);
}

/* kill_sb for a filesystem whose dentries are all pinned by fakegpu_compat_add_pinned. */
#define fakegpu_compat_kill_pinned_sb kill_litter_super

/* Whether @file can be mapped. */
static inline bool fakegpu_compat_file_has_mmap(struct file *file)
{
	return file->f_op->mmap;
}

/* @file's mmap on @vma, as the VFS calls it. */
static inline int fakegpu_compat_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	return file->f_op->mmap(file, vma);
}

/* @tsk's command name into @buf of @len bytes. */
#define fakegpu_compat_task_comm(buf, len, tsk) __get_task_comm(buf, len, tsk)

/* Unmaps the PTEs of @size bytes at @addr of the VM_PFNMAP/VM_MIXEDMAP @vma. */
#define fakegpu_compat_zap_ptes(vma, addr, size) zap_vma_ptes(vma, addr, size)

#endif
