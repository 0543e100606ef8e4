// SPDX-License-Identifier: GPL-2.0
/*
 * fakegpu's per-cgroup entries, the C side: cgroup references and lookups (task_dfl_cgroup,
 * cgroup_get/put, cgroup_id and cgroup_parent are static inlines Rust cannot call), and
 * the sysfs directories /sys/kernel/fakegpu/cgroups/<id>/ whose files are shown and stored
 * by Rust (cgroup_sysfs.rs). Only the cgroup v2 (default) hierarchy is used.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/cgroup.h>
#include <linux/err.h>
#include <linux/kobject.h>
#include <linux/kstrtox.h>
#include <linux/sysfs.h>
#include <linux/workqueue.h>

/* Called from Rust. */
struct cgroup *fakegpu_cgroup_current(void);
void fakegpu_cgroup_put(struct cgroup *cgrp);
u64 fakegpu_cgroup_id(struct cgroup *cgrp);
struct cgroup *fakegpu_cgroup_parent(struct cgroup *cgrp);
bool fakegpu_cgroup_online(struct cgroup *cgrp);
int fakegpu_cgroup_path(struct cgroup *cgrp, char *buf, size_t len);
struct cgroup *fakegpu_cgroup_lookup_path(const char *path, int *err);
struct cgroup *fakegpu_cgroup_lookup_id(u64 id, int *err);
struct kobject *fakegpu_cgroup_dir_create(u64 id);
void fakegpu_cgroup_dir_remove(struct kobject *dir);
int fakegpu_cgroups_sysfs_create(struct kobject *parent);
void fakegpu_cgroups_sysfs_stop(void);
void fakegpu_cgroups_sysfs_remove(void);

/* Implemented in Rust (cgroup_sysfs.rs). */
ssize_t fakegpu_cgroup_show(u64 id, const char *attr, char *buf, size_t len);
ssize_t fakegpu_cgroup_store(u64 id, const char *attr, const char *buf, size_t len);
ssize_t fakegpu_cgroups_control(const char *buf, size_t len);
ssize_t fakegpu_cgroups_list(char *buf, size_t len);
void fakegpu_cgroups_reap(void);

/* The calling task's cgroup v2, referenced (as task_get_css() does for a css). */
struct cgroup *fakegpu_cgroup_current(void)
{
	struct cgroup *cgrp;

	rcu_read_lock();
	while (true) {
		cgrp = task_dfl_cgroup(current);
		if (likely(cgroup_tryget(cgrp)))
			break;
		cpu_relax();
	}
	rcu_read_unlock();
	return cgrp;
}

void fakegpu_cgroup_put(struct cgroup *cgrp)
{
	cgroup_put(cgrp);
}

u64 fakegpu_cgroup_id(struct cgroup *cgrp)
{
	return cgroup_id(cgrp);
}

/* A cgroup pins its parent, so the result is valid while @cgrp is referenced. */
struct cgroup *fakegpu_cgroup_parent(struct cgroup *cgrp)
{
	return cgroup_parent(cgrp);
}

/* False once the cgroup is removed (rmdir), though references may keep it in memory. */
bool fakegpu_cgroup_online(struct cgroup *cgrp)
{
	return cgrp->self.flags & CSS_ONLINE;
}

/* The path from the hierarchy's root (the host's view); its length or a negative errno. */
int fakegpu_cgroup_path(struct cgroup *cgrp, char *buf, size_t len)
{
	return cgroup_path(cgrp, buf, len);
}

/* @path from the root of the calling task's cgroup namespace; NULL with *err set if none. */
struct cgroup *fakegpu_cgroup_lookup_path(const char *path, int *err)
{
	struct cgroup *cgrp = cgroup_get_from_path(path);

	if (IS_ERR(cgrp)) {
		*err = PTR_ERR(cgrp);
		return NULL;
	}
	return cgrp;
}

/* The cgroup with id @id if the calling task's cgroup namespace sees it. */
struct cgroup *fakegpu_cgroup_lookup_id(u64 id, int *err)
{
	struct cgroup *cgrp = cgroup_get_from_id(id);

	if (IS_ERR(cgrp)) {
		*err = PTR_ERR(cgrp);
		return NULL;
	}
	return cgrp;
}

/* ---- /sys/kernel/fakegpu/cgroups ---- */

static struct kobject *cgroups_kobj;

/*
 * Writes change limits and visibility: root in the initial user namespace only, whatever
 * the file modes (a container's root may own sysfs files in its own namespace).
 */
static bool may_write(void)
{
	return capable(CAP_SYS_ADMIN);
}

static ssize_t entry_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	u64 id;

	if (kstrtou64(kobject_name(kobj), 10, &id))
		return -EINVAL;
	return fakegpu_cgroup_show(id, attr->attr.name, buf, PAGE_SIZE);
}

static ssize_t entry_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			   size_t len)
{
	u64 id;

	if (!may_write())
		return -EPERM;
	if (kstrtou64(kobject_name(kobj), 10, &id))
		return -EINVAL;
	return fakegpu_cgroup_store(id, attr->attr.name, buf, len);
}

/*
 * The files of an entry, registered at load by the core and by each personality
 * (cgroup_files.rs, fakegpu_cgroup_file_add); cgroup_sysfs.rs answers each by name.
 */
#define FAKEGPU_MAX_ENTRY_FILES 48
static struct kobj_attribute entry_attrs[FAKEGPU_MAX_ENTRY_FILES];
static size_t entry_nattrs;
static struct attribute *entry_attr_list[FAKEGPU_MAX_ENTRY_FILES + 1];

int fakegpu_cgroup_file_add(const char *name, bool writable);

/* Only before fakegpu_sysfs_create; `name` must outlive the module (a static string). */
int fakegpu_cgroup_file_add(const char *name, bool writable)
{
	struct kobj_attribute *a;

	if (entry_nattrs >= FAKEGPU_MAX_ENTRY_FILES)
		return -ENOSPC;
	a = &entry_attrs[entry_nattrs];
	sysfs_attr_init(&a->attr);
	a->attr.name = name;
	a->attr.mode = writable ? 0644 : 0444;
	a->show = entry_show;
	a->store = writable ? entry_store : NULL;
	entry_attr_list[entry_nattrs++] = &a->attr;
	return 0;
}

static const struct attribute_group entry_group = { .attrs = entry_attr_list };

struct kobject *fakegpu_cgroup_dir_create(u64 id)
{
	struct kobject *dir;
	char name[24];

	if (!cgroups_kobj)
		return NULL;
	snprintf(name, sizeof(name), "%llu", id);
	dir = kobject_create_and_add(name, cgroups_kobj);
	if (!dir)
		return NULL;
	if (sysfs_create_group(dir, &entry_group)) {
		kobject_put(dir);
		return NULL;
	}
	return dir;
}

/* Waits for running show/store callbacks of the directory, so never under cgroups.rs' lock. */
void fakegpu_cgroup_dir_remove(struct kobject *dir)
{
	sysfs_remove_group(dir, &entry_group);
	kobject_put(dir);
}

static ssize_t control_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return fakegpu_cgroups_list(buf, PAGE_SIZE);
}

static ssize_t control_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf,
			     size_t len)
{
	if (!may_write())
		return -EPERM;
	return fakegpu_cgroups_control(buf, len);
}

static struct kobj_attribute control_attr = __ATTR(control, 0644, control_show, control_store);

/*
 * Entries of removed cgroups go once their usage is zero; a module gets no rmdir callback,
 * so they are looked for every second.
 */
static void reap_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(reap_work, reap_fn);

static void reap_fn(struct work_struct *work)
{
	fakegpu_cgroups_reap();
	schedule_delayed_work(&reap_work, HZ);
}

int fakegpu_cgroups_sysfs_create(struct kobject *parent)
{
	int ret;

	cgroups_kobj = kobject_create_and_add("cgroups", parent);
	if (!cgroups_kobj)
		return -ENOMEM;
	ret = sysfs_create_file(cgroups_kobj, &control_attr.attr);
	if (ret) {
		kobject_put(cgroups_kobj);
		cgroups_kobj = NULL;
		return ret;
	}
	schedule_delayed_work(&reap_work, HZ);
	return 0;
}

/* No new entries after this (the control file is gone, its writers drained); no reaping. */
void fakegpu_cgroups_sysfs_stop(void)
{
	if (!cgroups_kobj)
		return;
	sysfs_remove_file(cgroups_kobj, &control_attr.attr);
	cancel_delayed_work_sync(&reap_work);
}

/* After every entry's directory is removed. */
void fakegpu_cgroups_sysfs_remove(void)
{
	if (cgroups_kobj) {
		kobject_put(cgroups_kobj);
		cgroups_kobj = NULL;
	}
}
