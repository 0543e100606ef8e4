// SPDX-License-Identifier: GPL-2.0
/*
 * The parts of fakegpu that Rust-for-Linux 6.12 cannot express safely:
 * - module parameters (its module! macro has none);
 * - lookup_one_len() (linux/namei.h is not in its bindings);
 * - anything read from struct task_struct: bindgen's layout of it differs from the C
 *   compiler's on this kernel (seen: mm at 976 instead of 992), so Rust never reads it;
 * - the C side of the load-time layout check (kernel-common/layout_table.h).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cred.h>
#include <linux/file.h>
#include <linux/mman.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/path.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/kobject.h>
#include <linux/ratelimit.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "../../kernel-common/compat.h"

static char devices[512];
module_param_string(devices, devices, sizeof(devices), 0444);
MODULE_PARM_DESC(devices,
		 "Real char devices to front, MAJOR:MINOR separated by commas, e.g. 226:0,226:128 "
		 "(NVIDIA's are found by nvidia_gpus=)");

static char nvidia_gpus[256] = "auto";
module_param_string(nvidia_gpus, nvidia_gpus, sizeof(nvidia_gpus), 0444);
MODULE_PARM_DESC(nvidia_gpus,
		 "NVIDIA GPUs to front: auto (those the driver reports), off, or minors such as 0,1");

static char filter[16] = "strict";
module_param_string(filter, filter, sizeof(filter), 0444);
MODULE_PARM_DESC(filter,
		 "NVIDIA call filter: strict (unknown calls refused) or permissive (unknown escapes "
		 "forwarded, for newer drivers; allocations of unknown classes are still refused)");

/* Called from Rust. */
const char *fakegpu_nvidia_gpus_param(void);
const char *fakegpu_filter_param(void);
ssize_t fakegpu_read_proc_devices(char *buf, size_t len);
unsigned long fakegpu_map_scratch(size_t len);
void fakegpu_log_refusal(const char *node, size_t node_len, unsigned int call, const char *why,
			 size_t why_len, int audited);
int fakegpu_sysfs_create(void);
void fakegpu_sysfs_remove(void);
const char *fakegpu_devices_param(void);
struct dentry *fakegpu_lookup_child(struct dentry *parent, const char *name);
const struct cred *fakegpu_current_cred(void);
void *fakegpu_get_cred(void *cred);
struct mm_struct *fakegpu_current_mm(void);

const char *fakegpu_devices_param(void)
{
	return devices;
}

/* Caller holds parent's inode lock. */
struct dentry *fakegpu_lookup_child(struct dentry *parent, const char *name)
{
	return fakegpu_compat_lookup(parent, name);
}

bool fakegpu_file_has_mmap(struct file *file);
int fakegpu_file_mmap(struct file *file, struct vm_area_struct *vma);

/* Whether @file can be mapped, by mmap or (7.x) mmap_prepare. */
bool fakegpu_file_has_mmap(struct file *file)
{
	return fakegpu_compat_file_has_mmap(file);
}

/* @file's own mmap on @vma, as the VFS would call it. */
int fakegpu_file_mmap(struct file *file, struct vm_area_struct *vma)
{
	return fakegpu_compat_file_mmap(file, vma);
}

/* get_cred, a static inline. */
void *fakegpu_get_cred(void *cred)
{
	return (void *)get_cred(cred);
}

const struct cred *fakegpu_current_cred(void)
{
	return current_cred();
}

struct mm_struct *fakegpu_current_mm(void)
{
	return current->mm;
}

const char *fakegpu_nvidia_gpus_param(void)
{
	return nvidia_gpus;
}

const char *fakegpu_filter_param(void)
{
	return filter;
}

/*
 * /proc/devices, where drivers' char majors are listed by name: how nvidia-modprobe finds
 * NVIDIA's majors too. Read at load, in the loading process's view of /proc.
 */
ssize_t fakegpu_read_proc_devices(char *buf, size_t len)
{
	struct file *file = filp_open("/proc/devices", O_RDONLY, 0);
	loff_t pos = 0;
	size_t done = 0;
	ssize_t n;

	if (IS_ERR(file))
		return PTR_ERR(file);
	while (done < len) {
		n = kernel_read(file, buf + done, len - done, &pos);
		if (n <= 0)
			break;
		done += n;
	}
	fput(file);
	return done;
}

/* User memory of the loading process, for the one ioctl fakegpu makes at load. */
unsigned long fakegpu_map_scratch(size_t len)
{
	return vm_mmap(NULL, 0, len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0);
}

/* A call refused by the filter: user-triggered, hence rate-limited. */
/* @audited: the call was forwarded all the same (filter=audit). */
void fakegpu_log_refusal(const char *node, size_t node_len, unsigned int call, const char *why,
			 size_t why_len, int audited)
{
	char comm[TASK_COMM_LEN];

	get_task_comm(comm, current);
	pr_warn_ratelimited("%s call 0x%x on %.*s from pid %d (%s): %.*s\n",
			    audited ? "audit: forwarded" : "refused", call, (int)node_len, node,
			    task_tgid_vnr(current), comm, (int)why_len, why);
}

/* ---- /sys/kernel/fakegpu ---- */

/* Formats the fronts into @buf (Rust, setup.rs); returns the length written. */
size_t fakegpu_format_devices(char *buf, size_t len);
/* Formats each personality's call counts into @buf (Rust, setup.rs). */
size_t fakegpu_format_calls(char *buf, size_t len);
/* Formats each personality's dmem regions into @buf (Rust, setup.rs). */
size_t fakegpu_format_dmem_regions(char *buf, size_t len);
size_t fakegpu_format_hop(char *buf, size_t len);
int fakegpu_worker_count(void);
/* The cgroups directory (cgroup_shim.c). */
int fakegpu_cgroups_sysfs_create(struct kobject *parent);
void fakegpu_cgroups_sysfs_stop(void);
void fakegpu_cgroups_sysfs_remove(void);

static struct kobject *fakegpu_kobj;

static ssize_t devices_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return fakegpu_format_devices(buf, PAGE_SIZE);
}

static ssize_t workers_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", fakegpu_worker_count());
}

static ssize_t calls_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return fakegpu_format_calls(buf, PAGE_SIZE);
}

static ssize_t dmem_regions_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return fakegpu_format_dmem_regions(buf, PAGE_SIZE);
}

static ssize_t hop_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return fakegpu_format_hop(buf, PAGE_SIZE);
}

static struct kobj_attribute devices_attr = __ATTR_RO(devices);
static struct kobj_attribute workers_attr = __ATTR_RO(workers);
static struct kobj_attribute calls_attr = __ATTR_RO(calls);
static struct kobj_attribute hop_attr = __ATTR_RO(hop);
static struct kobj_attribute dmem_regions_attr = __ATTR_RO(dmem_regions);
static struct attribute *fakegpu_attrs[] = { &devices_attr.attr, &workers_attr.attr,
					     &calls_attr.attr, &hop_attr.attr,
					     &dmem_regions_attr.attr, NULL };
static const struct attribute_group fakegpu_group = { .attrs = fakegpu_attrs };

int fakegpu_sysfs_create(void)
{
	int ret;

	fakegpu_kobj = kobject_create_and_add("fakegpu", kernel_kobj);
	if (!fakegpu_kobj)
		return -ENOMEM;
	ret = sysfs_create_group(fakegpu_kobj, &fakegpu_group);
	if (!ret)
		ret = fakegpu_cgroups_sysfs_create(fakegpu_kobj);
	if (ret) {
		kobject_put(fakegpu_kobj);
		fakegpu_kobj = NULL;
	}
	return ret;
}

void fakegpu_sysfs_remove(void)
{
	if (fakegpu_kobj) {
		fakegpu_cgroups_sysfs_stop();
		fakegpu_cgroups_sysfs_remove();
		sysfs_remove_group(fakegpu_kobj, &fakegpu_group);
		kobject_put(fakegpu_kobj);
		fakegpu_kobj = NULL;
	}
}

#include "../../kernel-common/layout_table.h"
