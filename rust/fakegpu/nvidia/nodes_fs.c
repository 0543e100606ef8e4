// SPDX-License-Identifier: GPL-2.0
/*
 * The "fakegpu-nodes" filesystem: fakegpu's NVIDIA nodes as NVIDIA's own userspace must see
 * them. NVML and libcuda stat /dev/nvidiactl and /dev/nvidiaN and refuse a node that is not
 * char 195:255 or 195:N; fakegpu's nodes have fakegpu's major. Here each node's inode keeps
 * fakegpu's device number (opens reach fakegpu, and the device cgroup checks fakegpu's
 * number), while getattr reports the real device's number. The OCI hook mounts this
 * filesystem in the container's mount namespace for a moment and bind-mounts its nodes at
 * NVIDIA's paths. Root only (no FS_USERNS_MOUNT); while mounted it pins the module.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "../../kernel-common/compat.h"

#define FAKEGPU_NODES_MAGIC 0x66676e64 /* "fgnd" */

/* One node, as nodes_fs.rs describes it (same layout). */
struct fakegpu_node_entry {
	char name[32];
	u32 fake;	/* the inode's dev_t: fakegpu's */
	u32 shown;	/* what stat reports: the real device's */
};

static struct fakegpu_node_entry *fakegpu_nodes;
static unsigned int fakegpu_nodes_count;

static int fakegpu_nodes_getattr(struct mnt_idmap *idmap, const struct path *path,
				 struct kstat *stat, u32 request_mask, unsigned int query_flags)
{
	struct inode *inode = d_inode(path->dentry);

	generic_fillattr(idmap, request_mask, inode, stat);
	stat->rdev = (dev_t)(uintptr_t)inode->i_private;
	return 0;
}

static const struct inode_operations fakegpu_nodes_iops = {
	.getattr = fakegpu_nodes_getattr,
};

static int fakegpu_nodes_fill_super(struct super_block *sb, struct fs_context *fc)
{
	static const struct tree_descr no_files[] = { { "" } };
	unsigned int i;
	int err;

	err = simple_fill_super(sb, FAKEGPU_NODES_MAGIC, no_files);
	if (err)
		return err;
	for (i = 0; i < fakegpu_nodes_count; i++) {
		const struct fakegpu_node_entry *e = &fakegpu_nodes[i];
		struct dentry *dentry = d_alloc_name(sb->s_root, e->name);
		struct inode *inode;

		if (!dentry)
			return -ENOMEM;
		inode = new_inode(sb);
		if (!inode) {
			dput(dentry);
			return -ENOMEM;
		}
		/* The root is inode 1. */
		inode->i_ino = i + 2;
		simple_inode_init_ts(inode);
		init_special_inode(inode, S_IFCHR | 0666, e->fake);
		inode->i_op = &fakegpu_nodes_iops;
		inode->i_private = (void *)(uintptr_t)e->shown;
		/* The dentry stays pinned until the superblock dies, as simple_fill_super's do. */
		fakegpu_compat_add_pinned(dentry, inode);
	}
	return 0;
}

static int fakegpu_nodes_get_tree(struct fs_context *fc)
{
	return get_tree_single(fc, fakegpu_nodes_fill_super);
}

static const struct fs_context_operations fakegpu_nodes_context_ops = {
	.get_tree = fakegpu_nodes_get_tree,
};

static int fakegpu_nodes_init_fs_context(struct fs_context *fc)
{
	fc->ops = &fakegpu_nodes_context_ops;
	return 0;
}

static struct file_system_type fakegpu_nodes_fs_type = {
	.owner = THIS_MODULE,
	.name = "fakegpu-nodes",
	.init_fs_context = fakegpu_nodes_init_fs_context,
	.kill_sb = fakegpu_compat_kill_pinned_sb,
};

int fakegpu_nodes_fs_register(const struct fakegpu_node_entry *entries, unsigned int count);
void fakegpu_nodes_fs_unregister(void);

/* Copies @count entries and registers the filesystem; 0 or a negative errno. */
int fakegpu_nodes_fs_register(const struct fakegpu_node_entry *entries, unsigned int count)
{
	int err;

	fakegpu_nodes = kmemdup_array(entries, count, sizeof(*entries), GFP_KERNEL);
	if (count && !fakegpu_nodes)
		return -ENOMEM;
	fakegpu_nodes_count = count;
	err = register_filesystem(&fakegpu_nodes_fs_type);
	if (err) {
		kfree(fakegpu_nodes);
		fakegpu_nodes = NULL;
		fakegpu_nodes_count = 0;
	}
	return err;
}

/* Unregisters the filesystem. No superblock exists: a mounted one pins the module. */
void fakegpu_nodes_fs_unregister(void)
{
	unregister_filesystem(&fakegpu_nodes_fs_type);
	kfree(fakegpu_nodes);
	fakegpu_nodes = NULL;
	fakegpu_nodes_count = 0;
}
