// SPDX-License-Identifier: GPL-2.0
/*
 * nvsim's module parameters (6.12's Rust module! macro has none), read by state.rs
 * (trace by trace.rs, fault injection by rm.rs),
 * and the C side of the load-time layout check.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/wait.h>

static int gpus = 2;
module_param(gpus, int, 0444);
MODULE_PARM_DESC(gpus, "Number of simulated GPUs, /dev/nvidia0..N-1 (1..16, default 2)");

static int fb_mib = 4096;
module_param(fb_mib, int, 0444);
MODULE_PARM_DESC(fb_mib, "Framebuffer of each simulated GPU in MiB (default 4096)");

static int sysmem_mib = 1024;
module_param(sysmem_mib, int, 0444);
MODULE_PARM_DESC(sysmem_mib, "System-memory pool for pinned host memory in MiB (default 1024)");

static int fb_backing_mib = 512;
module_param(fb_backing_mib, int, 0644);
MODULE_PARM_DESC(fb_backing_mib, "Host memory backing touched video memory, all GPUs together, in MiB (default 512; writable); past it a CPU mapping fails with ENOMEM and a GPU write faults");

static int max_objects = 4096;
module_param(max_objects, int, 0444);
MODULE_PARM_DESC(max_objects, "RM objects nvsim holds at once, all clients together (64..1048576, default 4096)");

/*
 * Fault injection for hardening tests: the next fault_count RM calls (RM_ALLOC, RM_FREE,
 * RM_CONTROL, RM_MAP_MEMORY) fail with RM status fault_status, doing nothing else; or, with
 * fault_after, do their work and then fail the ioctl.
 */
static int fault_count;
module_param(fault_count, int, 0644);
MODULE_PARM_DESC(fault_count, "Fail the next N RM calls (fault injection; default 0)");

static uint fault_status = 0x51;
module_param(fault_status, uint, 0644);
MODULE_PARM_DESC(fault_status, "RM status injected failures return (default 0x51, NV_ERR_NO_MEMORY)");

static int fault_errno;
module_param(fault_errno, int, 0644);
MODULE_PARM_DESC(fault_errno, "If set (1..4095), injected failures fail the ioctl with -fault_errno instead");

static bool fault_after;
module_param(fault_after, bool, 0644);
MODULE_PARM_DESC(fault_after, "Injected failures come after the call's work: it allocates, then the ioctl fails with -fault_errno (EFAULT if 0), as when the driver's copy-out faults");

static DEFINE_SPINLOCK(fault_lock);

unsigned int nvsim_fault_take(void);
int nvsim_fault_errno(void);
int nvsim_fault_after(void);

/* Whether injected failures come after the call's work. */
int nvsim_fault_after(void)
{
	return READ_ONCE(fault_after);
}

/* The errno injected failures use, or 0 for an RM status. */
int nvsim_fault_errno(void)
{
	int e = READ_ONCE(fault_errno);

	return e > 0 && e < 4096 ? e : 0;
}

/* The status to fail the current RM call with, or 0 (NV_OK) to run it. */
unsigned int nvsim_fault_take(void)
{
	unsigned int status = 0;

	spin_lock(&fault_lock);
	if (fault_count > 0) {
		fault_count--;
		status = fault_status ? fault_status : 0xffff;
	}
	spin_unlock(&fault_lock);
	return status;
}

/*
 * The gate: holds every RM call of one escape in the driver until it is opened, for the
 * noisy-neighbour test and bench (/sys/module/nvsim/parameters/gate, so it is there on the
 * bench kernel too, which has no debugfs). Writing an escape number ("0x4a") arms it,
 * "open" opens it and lets the held calls go on; reading says which escape it holds and how
 * many calls wait there. A call waits before it takes any lock of nvsim's (rm.rs): it models
 * an RM call held on one GPU that calls of other kinds or on other GPUs do not wait for.
 */
static int gate_escape = -1;
static atomic_t gate_held = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(gate_wq);

int nvsim_gate_wait(unsigned int nr);

/* Waits (killable) while the gate holds escape @nr; 0, or -EINTR if the caller was killed. */
int nvsim_gate_wait(unsigned int nr)
{
	int ret;

	if (READ_ONCE(gate_escape) != (int)nr)
		return 0;
	atomic_inc(&gate_held);
	ret = wait_event_killable(gate_wq, READ_ONCE(gate_escape) != (int)nr);
	atomic_dec(&gate_held);
	return ret ? -EINTR : 0;
}

static int gate_set(const char *val, const struct kernel_param *kp)
{
	unsigned int nr;

	if (sysfs_streq(val, "open")) {
		WRITE_ONCE(gate_escape, -1);
		wake_up_all(&gate_wq);
		return 0;
	}
	if (kstrtouint(val, 0, &nr) || nr > 0xff)
		return -EINVAL;
	WRITE_ONCE(gate_escape, nr);
	return 0;
}

static int gate_get(char *buffer, const struct kernel_param *kp)
{
	int escape = READ_ONCE(gate_escape);

	if (escape < 0)
		return sysfs_emit(buffer, "open held %d\n", atomic_read(&gate_held));
	return sysfs_emit(buffer, "escape %#x held %d\n", escape, atomic_read(&gate_held));
}

static const struct kernel_param_ops gate_ops = { .set = gate_set, .get = gate_get };
module_param_cb(gate, &gate_ops, NULL, 0644);
MODULE_PARM_DESC(gate, "Hold RM calls of this escape in the driver until \"open\" is written (tests)");

/*
 * Trace mode: log every escape, RM class and control command with its sizes and the status
 * returned, so what NVIDIA's userspace asks of the driver is visible (root sets it; the log
 * is not rate-limited while it is on).
 */
static bool trace;
module_param(trace, bool, 0644);
MODULE_PARM_DESC(trace, "Log every call with its sizes and status (default off)");

int nvsim_param_trace(void);

int nvsim_param_trace(void)
{
	return READ_ONCE(trace);
}

static char version[64] = "535.309.01";
module_param_string(version, version, sizeof(version), 0444);
MODULE_PARM_DESC(version, "Driver version CHECK_VERSION_STR reports (default 535.309.01)");

/* Called from Rust. */
int nvsim_param_gpus(void);
int nvsim_param_fb_mib(void);
int nvsim_param_max_objects(void);
int nvsim_param_sysmem_mib(void);
int nvsim_param_fb_backing_mib(void);
const char *nvsim_param_version(void);

int nvsim_param_gpus(void)
{
	return gpus;
}

int nvsim_param_fb_mib(void)
{
	return fb_mib;
}

int nvsim_param_max_objects(void)
{
	return max_objects;
}

int nvsim_param_sysmem_mib(void)
{
	return sysmem_mib;
}

int nvsim_param_fb_backing_mib(void)
{
	return READ_ONCE(fb_backing_mib);
}

/*
 * How long a compute launch runs: its channel waits this long before the launch's releases
 * (nvsim runs no kernel code). Other channels run meanwhile. The engine looks at the clock
 * when it polls, every 2 ms at most while idle.
 */
static unsigned int launch_us;
module_param(launch_us, uint, 0644);
MODULE_PARM_DESC(launch_us, "How long each compute launch takes, in µs (default 0: at once; writable)");

unsigned int nvsim_param_launch_us(void);

unsigned int nvsim_param_launch_us(void)
{
	return READ_ONCE(launch_us);
}

const char *nvsim_param_version(void)
{
	return version;
}

#include "../kernel-common/layout_table.h"

/* ---- The driver's fd-table walk: does the caller hold an open file of ours? ---- */

#include <linux/fdtable.h>
#include <linux/fs.h>
#include <linux/sched.h>

struct nvsim_fd_match {
	const struct file_operations *fops;
	unsigned int minor;
};

static int nvsim_fd_matches(const void *arg, struct file *file, unsigned int fd)
{
	const struct nvsim_fd_match *m = arg;

	return file->f_op == m->fops && iminor(file_inode(file)) == m->minor;
}

int nvsim_caller_holds(const struct file_operations *fops, unsigned int minor);

/* Whether the calling task's fd table holds an open file with @fops on @minor. */
int nvsim_caller_holds(const struct file_operations *fops, unsigned int minor)
{
	struct nvsim_fd_match m = { .fops = fops, .minor = minor };

	return iterate_fd(current->files, 0, nvsim_fd_matches, &m) != 0;
}

/* ---- debugfs: /sys/kernel/debug/nvsim/state, the ground truth tests compare with ---- */

#include <linux/debugfs.h>
#include <linux/seq_file.h>

/* Formats the state into @buf (Rust, debugfs.rs); returns the length written. */
size_t nvsim_format_state(char *buf, size_t len);

static int nvsim_state_show(struct seq_file *m, void *unused)
{
	char *buf = kvmalloc(PAGE_SIZE, GFP_KERNEL);

	if (!buf)
		return -ENOMEM;
	seq_write(m, buf, nvsim_format_state(buf, PAGE_SIZE));
	kvfree(buf);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(nvsim_state);

static struct dentry *nvsim_debugfs_dir;

void nvsim_debugfs_create(void);
void nvsim_debugfs_remove(void);

void nvsim_debugfs_create(void)
{
	nvsim_debugfs_dir = debugfs_create_dir("nvsim", NULL);
	debugfs_create_file("state", 0444, nvsim_debugfs_dir, NULL, &nvsim_state_fops);
}

void nvsim_debugfs_remove(void)
{
	debugfs_remove(nvsim_debugfs_dir);
}

/* ---- nv_get_file_private(): an fd of the caller's that is one of our files ---- */

#include <linux/file.h>

struct file *nvsim_fget_nv(int fd, const struct file_operations *fops, int want_ctl, unsigned int gpus);

/*
 * The driver resolves an fd inside parameters with fget() in the caller's table and accepts
 * it only if its inode is major 195 and, for a ctl fd, minor 255 (else a GPU minor that
 * exists). nvsim also requires its own fops, so private_data is known to be an NvFile.
 * Returns the file with a reference held, or NULL.
 */
struct file *nvsim_fget_nv(int fd, const struct file_operations *fops, int want_ctl, unsigned int gpus)
{
	struct file *file = fget(fd);
	dev_t rdev;

	if (!file)
		return NULL;
	rdev = file_inode(file)->i_rdev;
	if (MAJOR(rdev) != 195 || file->f_op != fops ||
	    (want_ctl ? MINOR(rdev) != 255 : MINOR(rdev) >= gpus)) {
		fput(file);
		return NULL;
	}
	return file;
}

struct file *nvsim_fget_fops(int fd, const struct file_operations *fops);
void nvsim_fput(struct file *file);

/* fget of @fd in the caller's table if the file has @fops (UVM's uvm_file_is_nvidia_uvm). */
struct file *nvsim_fget_fops(int fd, const struct file_operations *fops)
{
	struct file *file = fget(fd);

	if (file && file->f_op != fops) {
		fput(file);
		return NULL;
	}
	return file;
}

void nvsim_fput(struct file *file)
{
	fput(file);
}

/* ---- mmap of system memory: insert the object's pages into the VMA ---- */

#include <linux/mm.h>

int nvsim_vma_insert_pages(struct vm_area_struct *vma, struct page **pages, unsigned long count);

/*
 * Inserts @count pages over the VMA (pages.rs has checked its size and offset as the
 * driver's nvidia_mmap_helper does). vm_insert_page takes a reference per page: freeing the
 * memory object leaves the pages to the mapping until it goes.
 */
int nvsim_vma_insert_pages(struct vm_area_struct *vma, struct page **pages, unsigned long count)
{
	unsigned long addr, i = 0;
	int ret;

	if ((vma->vm_end - vma->vm_start) >> PAGE_SHIFT != count)
		return -EINVAL;
	for (addr = vma->vm_start; addr < vma->vm_end; addr += PAGE_SIZE, i++) {
		ret = vm_insert_page(vma, addr, pages[i]);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * OS descriptors (host_page.rs): the caller's pages, pinned as the driver pins them, and
 * copies to and from any page through a temporary kernel mapping.
 */
#include <linux/highmem.h>

int nvsim_pin_user_pages(unsigned long addr, unsigned long count, struct page **pages);
void nvsim_unpin_user_page(struct page *page);
void nvsim_page_copy(struct page *page, size_t offset, void *buf, size_t len, bool to_page);

int nvsim_pin_user_pages(unsigned long addr, unsigned long count, struct page **pages)
{
	long pinned;

	if (count > INT_MAX)
		return -EINVAL;
	pinned = pin_user_pages_fast(addr, count, FOLL_WRITE | FOLL_LONGTERM, pages);
	if (pinned == count)
		return 0;
	if (pinned > 0)
		unpin_user_pages(pages, pinned);
	return pinned < 0 ? pinned : -EFAULT;
}

void nvsim_unpin_user_page(struct page *page)
{
	unpin_user_page(page);
}

void nvsim_page_copy(struct page *page, size_t offset, void *buf, size_t len, bool to_page)
{
	char *at = kmap_local_page(page);

	if (to_page)
		memcpy(at + offset, buf, len);
	else
		memcpy(buf, at + offset, len);
	kunmap_local(at);
}

/* ---- Processes: clients remember their creator's tgid; GET_PIDS answers in the caller's
 * pid namespace, as the driver does. ---- */

#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>

u32 nvsim_current_tgid(void);
u32 nvsim_pid_to_caller_ns(u32 nr);
u32 nvsim_pid_from_caller_ns(u32 vnr);

/* The calling process, as a global (init namespace) tgid. */
u32 nvsim_current_tgid(void)
{
	return task_tgid_nr(current);
}

/* A global pid number as the caller sees it, or 0 if it is outside the caller's namespace. */
u32 nvsim_pid_to_caller_ns(u32 nr)
{
	struct pid *pid;
	u32 vnr = 0;

	rcu_read_lock();
	pid = find_pid_ns(nr, &init_pid_ns);
	if (pid)
		vnr = pid_vnr(pid);
	rcu_read_unlock();
	return vnr;
}

/* A pid number of the caller's namespace as a global one, or 0 if there is no such pid. */
u32 nvsim_pid_from_caller_ns(u32 vnr)
{
	struct pid *pid;
	u32 nr = 0;

	rcu_read_lock();
	pid = find_vpid(vnr);
	if (pid)
		nr = pid_nr(pid);
	rcu_read_unlock();
	return nr;
}

/* ---- Privilege: the RM's USER_ROOT level is capable(CAP_SYS_ADMIN), checked per call. ---- */

#include <linux/capability.h>

int nvsim_caller_is_admin(void);

int nvsim_caller_is_admin(void)
{
	return capable(CAP_SYS_ADMIN);
}

/* ---- Clocks for the GPU/CPU time correlation control ---- */

#include <linux/timekeeping.h>

u64 nvsim_clock_real_us(void);
u64 nvsim_clock_mono_ns(void);

/* Wall-clock time in microseconds since the epoch (the RM's "OS time"). */
u64 nvsim_clock_real_us(void)
{
	return div_u64(ktime_get_real_ns(), NSEC_PER_USEC);
}

/* Monotonic nanoseconds: the simulated GPU's timer. */
u64 nvsim_clock_mono_ns(void)
{
	return ktime_get_ns();
}

void nvsim_cond_resched(void);

/* Lets other tasks run during a long copy on the engine thread. */
void nvsim_cond_resched(void)
{
	cond_resched();
}

/* ---- /proc/driver/nvidia: version, params, registry, gpus/<bus id>/information ---- */

#include <linux/proc_fs.h>

/* Formats file @file (0 version, 1 params, 2+N GPU N) into @buf (Rust, procfs.rs). */
size_t nvsim_format_proc(unsigned int file, char *buf, size_t len);

static int nvsim_proc_show(struct seq_file *m, void *unused)
{
	char *buf = kvmalloc(PAGE_SIZE, GFP_KERNEL);

	if (!buf)
		return -ENOMEM;
	seq_write(m, buf, nvsim_format_proc((unsigned long)m->private, buf, PAGE_SIZE));
	kvfree(buf);
	return 0;
}

static struct proc_dir_entry *nvsim_proc_dir;
static struct proc_dir_entry *nvsim_proc_gpus;

/*
 * registry: the driver's file for setting RM registry keys of the whole driver at run time.
 * Like the driver's, it is writable by its owner (mode 0644, root) with no capability check,
 * so root in a container could write it were it not masked. nvsim keeps no keys; it counts
 * the writes, the ground truth that a masked file was not written.
 */
static atomic_t nvsim_registry_writes = ATOMIC_INIT(0);

static int nvsim_registry_show(struct seq_file *m, void *unused)
{
	return 0;
}

static int nvsim_registry_open(struct inode *inode, struct file *file)
{
	return single_open(file, nvsim_registry_show, NULL);
}

static ssize_t nvsim_registry_write(struct file *file, const char __user *buf, size_t count,
				    loff_t *pos)
{
	/* The driver takes at most its write buffer; nvsim reads nothing of it. */
	if (count > PAGE_SIZE)
		return -EINVAL;
	atomic_inc(&nvsim_registry_writes);
	return count;
}

static const struct proc_ops nvsim_registry_ops = {
	.proc_open = nvsim_registry_open,
	.proc_read = seq_read,
	.proc_lseek = seq_lseek,
	.proc_release = single_release,
	.proc_write = nvsim_registry_write,
};

unsigned int nvsim_procfs_registry_writes(void);

/* How many writes the registry file has taken since the module loaded. */
unsigned int nvsim_procfs_registry_writes(void)
{
	return atomic_read(&nvsim_registry_writes);
}

int nvsim_procfs_create(void);
int nvsim_procfs_add_gpu(unsigned int index, const char *bus_id);
void nvsim_procfs_remove(void);

/* /proc/driver/nvidia with version, params, registry and an empty gpus/; 0 or -ENOMEM. */
int nvsim_procfs_create(void)
{
	nvsim_proc_dir = proc_mkdir("driver/nvidia", NULL);
	if (!nvsim_proc_dir)
		return -ENOMEM;
	if (!proc_create_single_data("version", 0444, nvsim_proc_dir, nvsim_proc_show, (void *)0UL) ||
	    !proc_create_single_data("params", 0444, nvsim_proc_dir, nvsim_proc_show, (void *)1UL) ||
	    !proc_create("registry", 0644, nvsim_proc_dir, &nvsim_registry_ops) ||
	    !(nvsim_proc_gpus = proc_mkdir("gpus", nvsim_proc_dir))) {
		proc_remove(nvsim_proc_dir);
		nvsim_proc_dir = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* gpus/@bus_id/information for GPU @index; 0 or -ENOMEM (the caller removes everything). */
int nvsim_procfs_add_gpu(unsigned int index, const char *bus_id)
{
	struct proc_dir_entry *dir = proc_mkdir(bus_id, nvsim_proc_gpus);

	if (!dir || !proc_create_single_data("information", 0444, dir, nvsim_proc_show,
					     (void *)(2UL + index)))
		return -ENOMEM;
	return 0;
}

/* Removes /proc/driver/nvidia and everything in it, waiting for readers. */
void nvsim_procfs_remove(void)
{
	proc_remove(nvsim_proc_dir);
	nvsim_proc_dir = NULL;
}

/*
 * The engine thread: runs channels' work (engine.rs). Right after work it polls again at
 * once; then every 50-100 us for about 5 ms (a process that just submitted usually submits
 * again soon), then every 2 ms while idle, so an idle module costs little.
 */
#include <linux/delay.h>
#include <linux/kthread.h>

int nvsim_engine_poll(void);
int nvsim_engine_start(void);
void nvsim_engine_stop(void);

static struct task_struct *nvsim_engine_task;

static int nvsim_engine_main(void *unused)
{
	unsigned int idle = 0;

	while (!kthread_should_stop()) {
		if (nvsim_engine_poll()) {
			idle = 0;
			cond_resched();
		} else if (idle < 64) {
			idle++;
			usleep_range(50, 100);
		} else {
			usleep_range(2000, 2500);
		}
	}
	return 0;
}

int nvsim_engine_start(void)
{
	struct task_struct *task = kthread_run(nvsim_engine_main, NULL, "nvsim-engine");

	if (IS_ERR(task))
		return PTR_ERR(task);
	nvsim_engine_task = task;
	return 0;
}

void nvsim_engine_stop(void)
{
	if (nvsim_engine_task)
		kthread_stop(nvsim_engine_task);
	nvsim_engine_task = NULL;
}

/*
 * UVM VMAs (uvm.rs): pages come from nvsim_uvm_fault_page, which takes the reference the
 * mapping keeps. Not inherited by fork, never grown by mremap.
 */
#include <linux/mm.h>

void *nvsim_uvm_fault_page(void *uvm_private, unsigned long addr);
void nvsim_uvm_vma_setup(struct vm_area_struct *vma);
void nvsim_page_get(struct page *page);

void nvsim_page_get(struct page *page)
{
	get_page(page);
}

static vm_fault_t nvsim_uvm_fault(struct vm_fault *vmf)
{
	struct page *page = nvsim_uvm_fault_page(vmf->vma->vm_file->private_data, vmf->address);

	if (!page)
		return VM_FAULT_SIGBUS;
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct nvsim_uvm_vm_ops = {
	.fault = nvsim_uvm_fault,
};

void nvsim_uvm_vma_setup(struct vm_area_struct *vma)
{
	vma->vm_ops = &nvsim_uvm_vm_ops;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTCOPY | VM_DONTDUMP);
}

#include <linux/poll.h>

void nvsim_waitqueue_init(struct wait_queue_head *wq);
void nvsim_poll_wait(struct file *file, struct wait_queue_head *wq, struct poll_table_struct *wait);
void nvsim_wake_up(struct wait_queue_head *wq);

/* An nvidia file's event queue (events.rs): where poll waits for posted OS events. */
void nvsim_waitqueue_init(struct wait_queue_head *wq)
{
	init_waitqueue_head(wq);
}

/* nvidia_poll waits on the file's queue only if the file is blocking; so does nvsim. */
void nvsim_poll_wait(struct file *file, struct wait_queue_head *wq, struct poll_table_struct *wait)
{
	if (!(file->f_flags & O_NONBLOCK))
		poll_wait(file, wq, wait);
}

/* nv_post_event's wake-up. */
void nvsim_wake_up(struct wait_queue_head *wq)
{
	wake_up_interruptible(wq);
}
