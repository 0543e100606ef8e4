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
 * table. fakegpu installs real driver files there only around one driver call.
 *
 * Calls run concurrently (one at a time per process, any number of processes at once) under
 * fakegpu_fd_table_rwsem, held shared by calls made on fakegpu's private copy of their
 * parameters and exclusively by the few calls whose parameters stay in the caller's memory
 * (docs/architecture.md says why this keeps every call to its own files):
 * - a private call's fds are written by fakegpu into its copy, in its own scratch slot, which
 *   no user process can reach, so the driver resolves exactly the files of that call;
 * - a call whose driver walks the table (device allocation) is checked by fakegpu on its copy
 *   first: the GPU must be one the caller may see and has open itself, so another call's file
 *   that the walk may find is a file of a GPU the caller could have used anyway;
 * - a call in the caller's memory (a tenant could rewrite an fd number there after fakegpu
 *   wrote it) runs alone, with only its own files in the table.
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
#include <linux/semaphore.h>
#include <linux/slab.h>
#include <linux/xarray.h>

struct fakegpu_worker {
	/* The thread group served; a reference is held. */
	struct pid *tgid;
	struct kthread_worker *kw;
	struct rcu_head rcu;
};

/* A call handed to a worker; lives on the caller's stack until `done`. */
struct fakegpu_job {
	struct kthread_work work;
	struct completion done;
	struct mm_struct *mm;
	const struct cred *cred;
	void (*fn)(void *ctx);
	void *ctx;
	/* Whether the parameters are fakegpu's private copy (the rwsem is then held shared). */
	bool private;
};

/*
 * The workers, by the global number of the thread group they serve. Looked up under RCU with
 * no lock; fakegpu_workers_lock serialises creation and removal only.
 */
static DEFINE_XARRAY(fakegpu_workers);
static DEFINE_MUTEX(fakegpu_workers_lock);
/* Held by a worker while real files are in the kthreads' fd table (see the top comment). */
static DECLARE_RWSEM(fakegpu_fd_table_rwsem);

/* Called from Rust. */
struct fakegpu_worker *fakegpu_worker_for_current(void);
int fakegpu_worker_run(struct fakegpu_worker *w, void (*fn)(void *), void *ctx);
void fakegpu_workers_destroy(void);
void fakegpu_workers_reap_exited(void);
int fakegpu_worker_count(void);
int fakegpu_install_file(struct file *file);
void fakegpu_close_fd(int fd);
int fakegpu_iterate_caller_fds(int (*f)(const void *, struct file *, unsigned int),
			       const void *ctx);
int fakegpu_current_tgid(void);
void fakegpu_current_comm(char *buf, size_t len);
int fakegpu_scratch_init(void);
void fakegpu_scratch_exit(void);
unsigned long fakegpu_scratch_slot_get(void);
void fakegpu_scratch_slot_put(unsigned long addr);
unsigned long fakegpu_scratch_slot_size(void);
int fakegpu_worker_run_private(struct fakegpu_worker *w, void (*fn)(void *), void *ctx);
long fakegpu_file_count(struct file *file);

/* Stops the worker's thread; the struct goes after an RCU grace period (lookups may read it). */
static void fakegpu_worker_free(struct fakegpu_worker *w)
{
	kthread_destroy_worker(w->kw);
	put_pid(w->tgid);
	kfree_rcu(w, rcu);
}

/* Under fakegpu_workers_lock: removes the workers of thread groups that have exited. */
static void fakegpu_workers_reap(void)
{
	struct fakegpu_worker *w;
	unsigned long nr;

	xa_for_each(&fakegpu_workers, nr, w) {
		if (!pid_has_task(w->tgid, PIDTYPE_TGID)) {
			xa_erase(&fakegpu_workers, nr);
			fakegpu_worker_free(w);
		}
	}
}

/* Once a second, from the entries' reaper: lets the threads of exited processes go. */
void fakegpu_workers_reap_exited(void)
{
	mutex_lock(&fakegpu_workers_lock);
	fakegpu_workers_reap();
	mutex_unlock(&fakegpu_workers_lock);
}

/* The slow path of fakegpu_worker_for_current: the first call of a process. */
static struct fakegpu_worker *fakegpu_worker_create(struct pid *tgid, unsigned long nr)
{
	struct fakegpu_worker *w, *old;

	mutex_lock(&fakegpu_workers_lock);
	/*
	 * Workers of processes that have exited go here: the driver checks a client's owner by
	 * process id, and a worker stands for its process for as long as the process lives (pid
	 * reuse then behaves as it does without fakegpu). One under this number is either ours
	 * (created meanwhile) or of an exited process, which the reaping just removed.
	 */
	fakegpu_workers_reap();
	w = xa_load(&fakegpu_workers, nr);
	if (w && w->tgid == tgid)
		goto out;
	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		goto out;
	w->kw = kthread_create_worker(0, "fakegpu/%d", task_tgid_nr(current));
	if (IS_ERR(w->kw)) {
		kfree(w);
		w = NULL;
		goto out;
	}
	w->tgid = get_pid(tgid);
	old = xa_store(&fakegpu_workers, nr, w, GFP_KERNEL);
	if (xa_is_err(old)) {
		kthread_destroy_worker(w->kw);
		put_pid(w->tgid);
		kfree(w);
		w = NULL;
	} else if (old) {
		/* Unreachable: an exited process's worker was reaped above. */
		fakegpu_worker_free(old);
	}
out:
	mutex_unlock(&fakegpu_workers_lock);
	return w;
}

/*
 * The worker of the calling process, created on first use. The returned worker stays valid
 * while the caller's process lives, hence during the caller's system call: only workers of
 * exited processes are removed.
 */
struct fakegpu_worker *fakegpu_worker_for_current(void)
{
	struct pid *tgid = task_tgid(current);
	unsigned long nr = pid_nr(tgid);
	struct fakegpu_worker *w;

	rcu_read_lock();
	w = xa_load(&fakegpu_workers, nr);
	/* A pid number can be reused while an exited process's worker still holds its struct pid. */
	if (w && w->tgid != tgid)
		w = NULL;
	rcu_read_unlock();
	return w ? w : fakegpu_worker_create(tgid, nr);
}

/* At unload, when no fake file is open, so no call is under way. */
void fakegpu_workers_destroy(void)
{
	struct fakegpu_worker *w;
	unsigned long nr;

	mutex_lock(&fakegpu_workers_lock);
	xa_for_each(&fakegpu_workers, nr, w) {
		xa_erase(&fakegpu_workers, nr);
		fakegpu_worker_free(w);
	}
	mutex_unlock(&fakegpu_workers_lock);
}

/* Number of live workers, for /sys/kernel/fakegpu/workers. */
int fakegpu_worker_count(void)
{
	struct fakegpu_worker *w;
	unsigned long nr;
	int n = 0;

	mutex_lock(&fakegpu_workers_lock);
	xa_for_each(&fakegpu_workers, nr, w)
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
	if (job->private) {
		down_read(&fakegpu_fd_table_rwsem);
		job->fn(job->ctx);
		up_read(&fakegpu_fd_table_rwsem);
	} else {
		down_write(&fakegpu_fd_table_rwsem);
		job->fn(job->ctx);
		up_write(&fakegpu_fd_table_rwsem);
	}
	revert_creds(old);
	kthread_unuse_mm(job->mm);
	complete(&job->done);
}

/*
 * fakegpu's scratch address space: where calls made on fakegpu's private copy of their
 * parameters (private_call.rs) put that copy, so that the driver reads and writes memory no
 * user process can touch. A module cannot create an mm (mm_alloc is not exported), so it
 * keeps the loading process's (insmod's) with a reference, and a page range mapped in it at
 * load. Once insmod has exited no task runs in it: only fakegpu's workers, each call in a
 * slot of its own (a page), so calls of different processes run at once.
 */
#define FAKEGPU_SCRATCH_SLOTS 32
#define FAKEGPU_SCRATCH_SLOT_SIZE PAGE_SIZE
static struct mm_struct *scratch_mm;
static unsigned long scratch_addr;
static DECLARE_BITMAP(scratch_busy, FAKEGPU_SCRATCH_SLOTS);
static DEFINE_SPINLOCK(scratch_lock);
static struct semaphore scratch_free =
	__SEMAPHORE_INITIALIZER(scratch_free, FAKEGPU_SCRATCH_SLOTS);

int fakegpu_scratch_init(void)
{
	unsigned long addr;

	if (!current->mm)
		return -EINVAL;
	addr = vm_mmap(NULL, 0, FAKEGPU_SCRATCH_SLOTS * FAKEGPU_SCRATCH_SLOT_SIZE,
		       PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, 0);
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

/* In a worker: a free slot of the scratch range, its address; waits while all are in use. */
unsigned long fakegpu_scratch_slot_get(void)
{
	unsigned long slot;

	down(&scratch_free);
	spin_lock(&scratch_lock);
	slot = find_first_zero_bit(scratch_busy, FAKEGPU_SCRATCH_SLOTS);
	/* The semaphore counts free slots, so one is. */
	__set_bit(slot, scratch_busy);
	spin_unlock(&scratch_lock);
	return scratch_addr + slot * FAKEGPU_SCRATCH_SLOT_SIZE;
}

/* Gives back the slot at @addr, from fakegpu_scratch_slot_get. */
void fakegpu_scratch_slot_put(unsigned long addr)
{
	unsigned long slot = (addr - scratch_addr) / FAKEGPU_SCRATCH_SLOT_SIZE;

	if (WARN_ON_ONCE(slot >= FAKEGPU_SCRATCH_SLOTS))
		return;
	spin_lock(&scratch_lock);
	__clear_bit(slot, scratch_busy);
	spin_unlock(&scratch_lock);
	up(&scratch_free);
}

/* Bytes one call may use at its slot's address. */
unsigned long fakegpu_scratch_slot_size(void)
{
	return FAKEGPU_SCRATCH_SLOT_SIZE;
}

static int worker_run_in(struct fakegpu_worker *w, void (*fn)(void *), void *ctx,
			 struct mm_struct *mm, bool private);

/*
 * Runs fn(ctx) in worker @w with the caller's mm (user pointers in the parameters are the
 * caller's) and credentials (the driver's capable() checks), and waits for it. The wait is
 * uninterruptible: the job uses the caller's stack and mm until it completes.
 */
int fakegpu_worker_run(struct fakegpu_worker *w, void (*fn)(void *), void *ctx)
{
	return worker_run_in(w, fn, ctx, current->mm, false);
}

/* The same with fakegpu's scratch mm instead of the caller's. */
int fakegpu_worker_run_private(struct fakegpu_worker *w, void (*fn)(void *), void *ctx)
{
	return worker_run_in(w, fn, ctx, scratch_mm, true);
}

static int worker_run_in(struct fakegpu_worker *w, void (*fn)(void *), void *ctx,
			 struct mm_struct *mm, bool private)
{
	struct fakegpu_job job = { .fn = fn, .ctx = ctx, .private = private };

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
