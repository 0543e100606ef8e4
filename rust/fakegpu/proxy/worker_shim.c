// SPDX-License-Identifier: GPL-2.0
/*
 * Per-process workers: kernel threads that make the NVIDIA driver calls which look at the
 * calling task's fd table or record the calling process (see worker.rs and nvidia/fd_translation.rs for why).
 *
 * In C because Rust-for-Linux 6.12 has no kthread_worker, fd-table or pid abstractions, and
 * because Rust must not read struct task_struct on this kernel (see shim.c).
 *
 * Kernel threads share one fd table (init_files), which no container can reach: taking a
 * file from it (pidfd_getfd, /proc/<pid>/fd) needs the kthread's pid, hence the host's pid
 * namespace, and ptrace rights over a root-owned thread, hence CAP_SYS_PTRACE in the initial
 * user namespace: host root, who can open the real nodes anyway. No user process inherits the
 * table. fakegpu installs real driver files there only around one driver call, under
 * fakegpu_fd_table_lock, so the driver's fd lookups and fd-table walks in a worker see the
 * files of that one call and nothing else.
 */
#include <linux/cred.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/mman.h>
#include <linux/mm.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

struct fakegpu_worker {
	struct list_head node;
	/* The thread group served; a reference is held. */
	struct pid *tgid;
	struct kthread_worker *kw;
};

/* A call handed to a worker; lives on the caller's stack until `done`. */
struct fakegpu_job {
	struct kthread_work work;
	struct completion done;
	struct mm_struct *mm;
	const struct cred *cred;
	void (*fn)(void *ctx);
	void *ctx;
};

static LIST_HEAD(fakegpu_workers);
static DEFINE_MUTEX(fakegpu_workers_lock);
/* Held by a worker while real files are in the kthreads' fd table. */
static DEFINE_MUTEX(fakegpu_fd_table_lock);

/* Called from Rust. */
struct fakegpu_worker *fakegpu_worker_for_current(void);
int fakegpu_worker_run(struct fakegpu_worker *w, void (*fn)(void *), void *ctx);
void fakegpu_workers_destroy(void);
int fakegpu_worker_count(void);
int fakegpu_install_file(struct file *file);
void fakegpu_close_fd(int fd);
int fakegpu_iterate_caller_fds(int (*f)(const void *, struct file *, unsigned int),
			       const void *ctx);
int fakegpu_current_tgid(void);
void fakegpu_current_comm(char *buf, size_t len);
int fakegpu_scratch_init(void);
void fakegpu_scratch_exit(void);
unsigned long fakegpu_scratch_addr(void);
int fakegpu_worker_run_private(struct fakegpu_worker *w, void (*fn)(void *), void *ctx);
long fakegpu_file_count(struct file *file);

static void fakegpu_worker_free(struct fakegpu_worker *w)
{
	kthread_destroy_worker(w->kw);
	put_pid(w->tgid);
	kfree(w);
}

/*
 * The worker of the calling process, created on first use. Workers of processes that have
 * exited are destroyed here: the driver checks a client's owner by process id, and a worker
 * stands for its process for as long as the process lives (pid reuse then behaves as it
 * does without fakegpu). The returned worker stays valid while the caller's process lives,
 * hence during the caller's system call.
 */
struct fakegpu_worker *fakegpu_worker_for_current(void)
{
	struct fakegpu_worker *w, *tmp, *found = NULL;
	struct pid *tgid = task_tgid(current);

	mutex_lock(&fakegpu_workers_lock);
	list_for_each_entry_safe(w, tmp, &fakegpu_workers, node) {
		if (w->tgid == tgid) {
			found = w;
		} else if (!pid_has_task(w->tgid, PIDTYPE_TGID)) {
			list_del(&w->node);
			fakegpu_worker_free(w);
		}
	}
	if (!found) {
		found = kzalloc(sizeof(*found), GFP_KERNEL);
		if (!found)
			goto out;
		found->kw = kthread_create_worker(0, "fakegpu/%d", task_tgid_nr(current));
		if (IS_ERR(found->kw)) {
			kfree(found);
			found = NULL;
			goto out;
		}
		found->tgid = get_pid(tgid);
		list_add(&found->node, &fakegpu_workers);
	}
out:
	mutex_unlock(&fakegpu_workers_lock);
	return found;
}

/* At unload, when no fake file is open, so no call is under way. */
void fakegpu_workers_destroy(void)
{
	struct fakegpu_worker *w, *tmp;

	mutex_lock(&fakegpu_workers_lock);
	list_for_each_entry_safe(w, tmp, &fakegpu_workers, node) {
		list_del(&w->node);
		fakegpu_worker_free(w);
	}
	mutex_unlock(&fakegpu_workers_lock);
}

/* Number of live workers, for /sys/kernel/fakegpu/workers. */
int fakegpu_worker_count(void)
{
	struct fakegpu_worker *w;
	int n = 0;

	mutex_lock(&fakegpu_workers_lock);
	list_for_each_entry(w, &fakegpu_workers, node)
		n++;
	mutex_unlock(&fakegpu_workers_lock);
	return n;
}

static void fakegpu_job_fn(struct kthread_work *work)
{
	struct fakegpu_job *job = container_of(work, struct fakegpu_job, work);
	const struct cred *old;

	kthread_use_mm(job->mm);
	old = override_creds(job->cred);
	mutex_lock(&fakegpu_fd_table_lock);
	job->fn(job->ctx);
	mutex_unlock(&fakegpu_fd_table_lock);
	revert_creds(old);
	kthread_unuse_mm(job->mm);
	complete(&job->done);
}

/*
 * fakegpu's scratch address space: where calls made on fakegpu's private copy of their
 * parameters (private_call.rs) put that copy, so that the driver reads and writes memory no
 * user process can touch. A module cannot create an mm (mm_alloc is not exported), so it
 * keeps the loading process's (insmod's) with a reference, and a page range mapped in it at
 * load. Once insmod has exited no task runs in it: only fakegpu's workers, one call at a
 * time under fakegpu_fd_table_lock, so one range serves every call.
 */
#define FAKEGPU_SCRATCH_SIZE (4 * PAGE_SIZE)
static struct mm_struct *scratch_mm;
static unsigned long scratch_addr;

int fakegpu_scratch_init(void)
{
	unsigned long addr;

	if (!current->mm)
		return -EINVAL;
	addr = vm_mmap(NULL, 0, FAKEGPU_SCRATCH_SIZE, PROT_READ | PROT_WRITE,
		       MAP_ANONYMOUS | MAP_PRIVATE, 0);
	if (IS_ERR_VALUE(addr))
		return (int)addr;
	mmget(current->mm);
	scratch_mm = current->mm;
	scratch_addr = addr;
	return 0;
}

/* At unload, when no call is under way. */
void fakegpu_scratch_exit(void)
{
	if (scratch_mm) {
		mmput(scratch_mm);
		scratch_mm = NULL;
	}
}

unsigned long fakegpu_scratch_addr(void)
{
	return scratch_addr;
}

static int worker_run_in(struct fakegpu_worker *w, void (*fn)(void *), void *ctx,
			 struct mm_struct *mm);

/*
 * Runs fn(ctx) in worker @w with the caller's mm (user pointers in the parameters are the
 * caller's) and credentials (the driver's capable() checks), and waits for it. The wait is
 * uninterruptible: the job uses the caller's stack and mm until it completes.
 */
int fakegpu_worker_run(struct fakegpu_worker *w, void (*fn)(void *), void *ctx)
{
	return worker_run_in(w, fn, ctx, current->mm);
}

/* The same with fakegpu's scratch mm instead of the caller's. */
int fakegpu_worker_run_private(struct fakegpu_worker *w, void (*fn)(void *), void *ctx)
{
	return worker_run_in(w, fn, ctx, scratch_mm);
}

static int worker_run_in(struct fakegpu_worker *w, void (*fn)(void *), void *ctx,
			 struct mm_struct *mm)
{
	struct fakegpu_job job = { .fn = fn, .ctx = ctx };

	if (!mm || !mmget_not_zero(mm))
		return -EINVAL;
	job.mm = mm;
	job.cred = get_current_cred();
	init_completion(&job.done);
	kthread_init_work(&job.work, fakegpu_job_fn);
	kthread_queue_work(w->kw, &job.work);
	wait_for_completion(&job.done);
	put_cred(job.cred);
	mmput(job.mm);
	return 0;
}

/* In a worker: a new fd for @file (a reference is taken), close-on-exec. */
int fakegpu_install_file(struct file *file)
{
	int fd = get_unused_fd_flags(O_CLOEXEC);

	if (fd >= 0)
		fd_install(fd, get_file(file));
	return fd;
}

void fakegpu_close_fd(int fd)
{
	close_fd(fd);
}

/* iterate_fd over the caller's table; @f runs under the table's spinlock and must not sleep. */
int fakegpu_iterate_caller_fds(int (*f)(const void *, struct file *, unsigned int),
			       const void *ctx)
{
	return iterate_fd(current->files, 0, f, ctx);
}

int fakegpu_current_tgid(void)
{
	return task_tgid_vnr(current);
}

void fakegpu_current_comm(char *buf, size_t len)
{
	__get_task_comm(buf, len, current);
}

/* How many references @file has (the meter's test for "only fakegpu still holds it"). */
long fakegpu_file_count(struct file *file)
{
	return file_count(file);
}

/* get_file() is a static inline. */
struct file *fakegpu_get_file(struct file *file);

struct file *fakegpu_get_file(struct file *file)
{
	return get_file(file);
}
