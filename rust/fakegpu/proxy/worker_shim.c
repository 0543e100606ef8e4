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
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/idr.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/mman.h>
#include <linux/mm.h>
#include <linux/list.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/ratelimit.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/stat.h>
#include <linux/semaphore.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "sealed_page.h"

#include "../../kernel-common/compat.h"

struct fakegpu_worker {
	/* The thread group served; a reference is held. */
	struct pid *tgid;
	struct kthread_worker *kw;
	/* The process's cgroup when the worker was made (a reference): what max_workers counts. */
	struct cgroup *cgrp;
	/* This worker's slot of the scratch range, by index (see fakegpu_scratch_init). */
	int slot;
	/* Its sealed call page (sealed_page.c); used by its thread only, and at free. */
	struct fakegpu_sealed_slot sealed;
	struct rcu_head rcu;
};

/* A call handed to a worker; lives on the caller's stack until `done`. */
struct fakegpu_job {
	struct kthread_work work;
	struct completion done;
	struct mm_struct *mm;
	const struct cred *cred;
	/*
	 * A call in the caller's mm, or (private) one on fakegpu's copy at @slot: the worker's
	 * slot of the scratch mm, or (sealed) its sealed page in the caller's mm, which the
	 * worker fills through its kernel address @kslot.
	 */
	void (*fn)(void *ctx);
	void (*private_fn)(void *ctx, unsigned long slot, void *kslot);
	void *ctx;
	unsigned long slot;
	void *kslot;
	struct fakegpu_worker *sealed;
	/* When each part of the hop ended (ktime ns), for /sys/kernel/fakegpu/hop. */
	u64 queued, started, entered, called, left;
};

/*
 * The workers, by the global number of the thread group they serve. Looked up under RCU with
 * no lock; fakegpu_workers_lock serialises creation and removal only.
 */
static DEFINE_XARRAY(fakegpu_workers);
static DEFINE_MUTEX(fakegpu_workers_lock);
/* Held by a worker while real files are in the kthreads' fd table (see the top comment). */
static DECLARE_RWSEM(fakegpu_fd_table_rwsem);

/*
 * Kernel threads are not counted by pids.max, so workers have a limit of their own: a cgroup
 * (with everything below it) has at most this many, one per process that has called
 * fakegpu. The process's call past it fails with EAGAIN, as fork() does at pids.max.
 */
static unsigned int max_workers_per_cgroup = 1024;
module_param(max_workers_per_cgroup, uint, 0644);
MODULE_PARM_DESC(max_workers_per_cgroup,
		 "Most fakegpu worker threads (one per calling process) a cgroup and its "
		 "descendants may have; the root cgroup is not limited (default 1024)");

/*
 * How long a caller may spin, in µs, while its worker runs its call, before it sleeps: waking
 * a caller that slept costs a wake-up of its CPU (an IPI, and the CPU's way out of idle),
 * which under TCG is about 40 µs, as much as the rest of the hop. The spin is the caller's
 * own CPU time, and it stops as soon as the worker sleeps (its call waits in the driver),
 * another task wants the CPU, or the time is up. 0 turns it off.
 */
static unsigned int hop_spin_us = 100;
module_param(hop_spin_us, uint, 0644);
MODULE_PARM_DESC(hop_spin_us,
		 "Most µs a caller spins while its worker runs its call, before sleeping "
		 "(default 100; 0: never)");

/* Where worker calls spend their time, summed over every call (fakegpu_format_hop). */
static atomic64_t hop_calls, hop_wake_ns, hop_enter_ns, hop_call_ns, hop_leave_ns,
	hop_return_ns, hop_spun, hop_same_cpu;

/* Called from Rust. */
struct fakegpu_worker *fakegpu_worker_for_current(int *err);
int fakegpu_worker_run(struct fakegpu_worker *w, void (*fn)(void *), void *ctx);
int fakegpu_worker_run_private(struct fakegpu_worker *w,
			       void (*fn)(void *, unsigned long, void *), void *ctx);
int fakegpu_worker_run_sealed(struct fakegpu_worker *w,
			      void (*fn)(void *, unsigned long, void *), void *ctx);
int fakegpu_run_in_scratch(const struct cred *cred, void (*fn)(void *, unsigned long, void *),
			   void *ctx);
const struct cred *fakegpu_cred_get_current(void);
long fakegpu_scratch_map(struct file *file, unsigned long len);
int fakegpu_scratch_unmap(unsigned long addr, unsigned long len);
void fakegpu_cred_put(const struct cred *cred);
size_t fakegpu_format_hop(char *buf, size_t len);
void fakegpu_workers_destroy(void);
void fakegpu_workers_reap_exited(void);
int fakegpu_worker_count(void);
int fakegpu_install_file(struct file *file);
void fakegpu_close_fd(int fd);
int fakegpu_iterate_caller_fds(int (*f)(const void *, struct file *, unsigned int),
			       const void *ctx);
int fakegpu_current_tgid(void);
int fakegpu_current_global_tgid(void);
void fakegpu_current_comm(char *buf, size_t len);
int fakegpu_scratch_init(void);
void fakegpu_scratch_exit(void);
unsigned long fakegpu_scratch_slot_size(void);
unsigned long fakegpu_governor_slot_size(void);
long fakegpu_file_count(struct file *file);
/* cgroup_shim.c */
struct cgroup *fakegpu_cgroup_current(void);
void fakegpu_cgroup_put(struct cgroup *cgrp);

/* fakegpu's scratch range (see fakegpu_scratch_init) and which of its slots workers own. */
#define FAKEGPU_SCRATCH_SLOTS 8192
/* 16 KiB: the largest call fakegpu copies (GPU_GET_PID_INFO, 14408 bytes, and its struct). */
#define FAKEGPU_SCRATCH_SLOT_SIZE (4 * PAGE_SIZE)
/*
 * The governor's own slot, after the workers': 64 KiB, for the driver's utilisation samples
 * (50704 bytes in 550) besides its scheduling controls.
 */
#define FAKEGPU_GOVERNOR_SLOT_SIZE (16 * PAGE_SIZE)
static struct mm_struct *scratch_mm;
static unsigned long scratch_addr;
static DEFINE_IDA(scratch_slots);

/* Stops the worker's thread; the struct goes after an RCU grace period (lookups may read it). */
static void fakegpu_worker_free(struct fakegpu_worker *w)
{
	kthread_destroy_worker(w->kw);
	fakegpu_sealed_release(&w->sealed);
	ida_free(&scratch_slots, w->slot);
	fakegpu_cgroup_put(w->cgrp);
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

/*
 * Under fakegpu_workers_lock: whether a worker for a process in @cgrp would take one of its
 * ancestors (or @cgrp itself) past max_workers_per_cgroup. The root is not limited (host
 * processes). Linear in the workers: it runs once per process.
 */
static bool fakegpu_workers_at_limit(struct cgroup *cgrp)
{
	unsigned int limit = READ_ONCE(max_workers_per_cgroup);
	struct cgroup *a;

	for (a = cgrp; a && cgroup_parent(a); a = cgroup_parent(a)) {
		struct fakegpu_worker *w;
		unsigned long nr;
		unsigned int n = 0;

		xa_for_each(&fakegpu_workers, nr, w)
			if (cgroup_is_descendant(w->cgrp, a))
				n++;
		if (n >= limit)
			return true;
	}
	return false;
}

/* The slow path of fakegpu_worker_for_current: the first call of a process. */
static struct fakegpu_worker *fakegpu_worker_create(struct pid *tgid, unsigned long nr, int *err)
{
	struct fakegpu_worker *w, *old;
	struct cgroup *cgrp = fakegpu_cgroup_current();

	*err = -ENOMEM;
	mutex_lock(&fakegpu_workers_lock);
	/*
	 * Workers of processes that have exited go here: the driver checks a client's owner by
	 * process id, and a worker stands for its process for as long as the process lives (pid
	 * reuse then behaves as it does without fakegpu). One under this number is either ours
	 * (created meanwhile) or of an exited process, which the reaping just removed. So the
	 * workers never outnumber the live processes (zombies included) that called fakegpu.
	 */
	fakegpu_workers_reap();
	w = xa_load(&fakegpu_workers, nr);
	if (w && w->tgid == tgid)
		goto out;
	w = NULL;
	if (fakegpu_workers_at_limit(cgrp)) {
		pr_warn_ratelimited("fakegpu: pid %d (%s) gets EAGAIN: its cgroup has max_workers_per_cgroup (%u) worker threads\n",
				    task_tgid_vnr(current), current->comm,
				    READ_ONCE(max_workers_per_cgroup));
		*err = -EAGAIN;
		goto out;
	}
	w = kzalloc(sizeof(*w), GFP_KERNEL);
	if (!w)
		goto out;
	w->slot = ida_alloc_max(&scratch_slots, FAKEGPU_SCRATCH_SLOTS - 1, GFP_KERNEL);
	if (w->slot < 0) {
		/* Every slot is some live process's: as many workers as slots. */
		*err = w->slot == -ENOSPC ? -EAGAIN : w->slot;
		goto free;
	}
	w->kw = kthread_create_worker(0, "fakegpu/%d", task_tgid_nr(current));
	if (IS_ERR(w->kw))
		goto free_slot;
	w->tgid = get_pid(tgid);
	w->cgrp = cgrp;
	cgrp = NULL;
	old = xa_store(&fakegpu_workers, nr, w, GFP_KERNEL);
	if (xa_is_err(old)) {
		fakegpu_worker_free(w);
		w = NULL;
	} else if (old) {
		/* Unreachable: an exited process's worker was reaped above. */
		fakegpu_worker_free(old);
	}
	goto out;
free_slot:
	ida_free(&scratch_slots, w->slot);
free:
	kfree(w);
	w = NULL;
out:
	mutex_unlock(&fakegpu_workers_lock);
	if (cgrp)
		fakegpu_cgroup_put(cgrp);
	return w;
}

/*
 * The worker of the calling process, created on first use (NULL and *@err if it cannot be).
 * The returned worker stays valid while the caller's process lives, hence during the
 * caller's system call: only workers of exited processes are removed.
 */
struct fakegpu_worker *fakegpu_worker_for_current(int *err)
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
	return w ? w : fakegpu_worker_create(tgid, nr, err);
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

	job->started = ktime_get_ns();
	kthread_use_mm(job->mm);
	old = override_creds(job->cred);
	job->entered = ktime_get_ns();
	if (job->private_fn) {
		/* 0 (and NULL) if the page cannot be made: the call then fails with ENOMEM. */
		if (job->sealed)
			job->slot = fakegpu_sealed_prepare(&job->sealed->sealed, current,
							   &job->kslot);
		down_read(&fakegpu_fd_table_rwsem);
		job->private_fn(job->ctx, job->slot, job->kslot);
		up_read(&fakegpu_fd_table_rwsem);
		/* The driver's answer left the page writable: it takes no tenant write. */
		if (job->sealed && job->slot)
			fakegpu_sealed_protect(&job->sealed->sealed);
	} else {
		down_write(&fakegpu_fd_table_rwsem);
		job->fn(job->ctx);
		up_write(&fakegpu_fd_table_rwsem);
	}
	job->called = ktime_get_ns();
	revert_creds(old);
	kthread_unuse_mm(job->mm);
	job->left = ktime_get_ns();
	complete(&job->done);
}

/* /sys/kernel/fakegpu/hop: worker calls so far and the ns they spent in each part. */
size_t fakegpu_format_hop(char *buf, size_t len)
{
	return scnprintf(buf, len,
			 "calls %lld\nwake_ns %lld\nenter_ns %lld\ncall_ns %lld\nleave_ns %lld\nreturn_ns %lld\nspun %lld\nsame_cpu %lld\n",
			 atomic64_read(&hop_calls), atomic64_read(&hop_wake_ns),
			 atomic64_read(&hop_enter_ns), atomic64_read(&hop_call_ns),
			 atomic64_read(&hop_leave_ns), atomic64_read(&hop_return_ns),
			 atomic64_read(&hop_spun), atomic64_read(&hop_same_cpu));
}

/*
 * fakegpu's scratch address space: where calls made on fakegpu's private copy of their
 * parameters (private_call.rs) put that copy, so that the driver reads and writes memory no
 * user process can touch. A module cannot create an mm (mm_alloc is not exported), so it
 * keeps the loading process's (insmod's) with a reference, and a range mapped in it at load.
 * Once insmod has exited no task runs in it: only fakegpu's workers. Each worker has a slot
 * (16 KiB) of its own for as long as it lives, and makes one call at a time, so calls of
 * different processes never wait for each other's slots. The range is reserved, not
 * populated: a slot's page is allocated when first used, and a slot is only reused by a
 * later worker (which overwrites what it passes to the driver).
 */

int fakegpu_scratch_init(void)
{
	unsigned long addr;

	if (!current->mm)
		return -EINVAL;
	addr = vm_mmap(NULL, 0,
		       FAKEGPU_SCRATCH_SLOTS * FAKEGPU_SCRATCH_SLOT_SIZE + FAKEGPU_GOVERNOR_SLOT_SIZE,
		       PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, 0);
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

/* Bytes one call may use at its slot's address. */
unsigned long fakegpu_scratch_slot_size(void)
{
	return FAKEGPU_SCRATCH_SLOT_SIZE;
}

/* The same for the governor's slot (fakegpu_run_in_scratch). */
unsigned long fakegpu_governor_slot_size(void)
{
	return FAKEGPU_GOVERNOR_SLOT_SIZE;
}

static int worker_run_in(struct fakegpu_worker *w, struct fakegpu_job *job, struct mm_struct *mm);

/*
 * Runs fn(ctx) in worker @w with the caller's mm (user pointers in the parameters are the
 * caller's) and credentials (the driver's capable() checks), and waits for it. The wait is
 * uninterruptible: the job uses the caller's stack and mm until it completes.
 */
int fakegpu_worker_run(struct fakegpu_worker *w, void (*fn)(void *), void *ctx)
{
	struct fakegpu_job job = { .fn = fn, .ctx = ctx };

	return worker_run_in(w, &job, current->mm);
}

/*
 * The same with fakegpu's scratch mm instead of the caller's: fn(ctx, the worker's slot, NULL).
 */
int fakegpu_worker_run_private(struct fakegpu_worker *w,
			       void (*fn)(void *, unsigned long, void *), void *ctx)
{
	struct fakegpu_job job = {
		.private_fn = fn,
		.ctx = ctx,
		.slot = scratch_addr + w->slot * FAKEGPU_SCRATCH_SLOT_SIZE,
	};

	return worker_run_in(w, &job, scratch_mm);
}

/*
 * The same in the caller's mm, for a call the driver must make there (it pins the caller's
 * pages): fn(ctx, the worker's sealed page there, its kernel address). The tenant can neither
 * write nor replace that page, so it is as private as a scratch slot (sealed_page.c); the fd
 * table is then shared too, as for any private call.
 */
int fakegpu_worker_run_sealed(struct fakegpu_worker *w,
			      void (*fn)(void *, unsigned long, void *), void *ctx)
{
	struct fakegpu_job job = { .private_fn = fn, .ctx = ctx, .sealed = w };

	return worker_run_in(w, &job, current->mm);
}

/*
 * A call fakegpu makes on its own behalf (the governor's scheduling controls), made by the
 * calling kernel thread itself on the governor's slot, after the workers' in the scratch
 * range, which only that thread uses: fn(ctx, the slot, NULL) with fakegpu's scratch mm and @cred (the credentials of the
 * process that made the object: the driver accepts a client's controls from its user). No
 * tenant's worker is involved, so no tenant call, however slow, can hold such a call up.
 */
int fakegpu_run_in_scratch(const struct cred *cred, void (*fn)(void *, unsigned long, void *),
			   void *ctx)
{
	const struct cred *old;

	if (!(current->flags & PF_KTHREAD) || !scratch_mm || !mmget_not_zero(scratch_mm))
		return -EINVAL;
	kthread_use_mm(scratch_mm);
	old = override_creds(cred);
	/*
	 * Not under the workers' fd-table rwsem: this thread's calls install no file, and its
	 * fd table is not the workers' (a tenant call holding the rwsem could delay a pause).
	 */
	fn(ctx, scratch_addr + FAKEGPU_SCRATCH_SLOTS * FAKEGPU_SCRATCH_SLOT_SIZE, NULL);
	revert_creds(old);
	kthread_unuse_mm(scratch_mm);
	mmput(scratch_mm);
	return 0;
}

/*
 * Maps @len bytes of @file from its start, read-only and shared, into fakegpu's scratch mm;
 * the address, or a negative errno. Only from a job that runs with that mm (a worker's
 * private call, or fakegpu_run_in_scratch), which is what vm_mmap maps into.
 */
long fakegpu_scratch_map(struct file *file, unsigned long len)
{
	if (!scratch_mm || current->mm != scratch_mm)
		return -EINVAL;
	/* A user address (below 2^63) or an errno, as the long it returns. */
	return (long)vm_mmap(file, 0, len, PROT_READ, MAP_SHARED, 0);
}

/* Unmaps what fakegpu_scratch_map mapped, on the same terms. */
int fakegpu_scratch_unmap(unsigned long addr, unsigned long len)
{
	if (!scratch_mm || current->mm != scratch_mm)
		return -EINVAL;
	return vm_munmap(addr, len);
}

/* A reference on the calling task's credentials. */
const struct cred *fakegpu_cred_get_current(void)
{
	return get_current_cred();
}

void fakegpu_cred_put(const struct cred *cred)
{
	put_cred(cred);
}

/*
 * Waits for @job, queued on @w: spinning first while the worker is runnable on another CPU
 * and no other task wants this one (see hop_spin_us; KVM's halt polling spins on the same
 * terms), then sleeping.
 */
static void worker_wait(struct fakegpu_worker *w, struct fakegpu_job *job)
{
	u64 until = ktime_get_ns() + (u64)READ_ONCE(hop_spin_us) * NSEC_PER_USEC;
	struct task_struct *t = w->kw->task;

	if (task_cpu(t) == raw_smp_processor_id())
		atomic64_inc(&hop_same_cpu);
	while (!completion_done(&job->done)) {
		/*
		 * A worker that sleeps once it has started the call waits in the driver (before,
		 * it may not have seen its wake-up yet); one on this CPU cannot run while we spin.
		 */
		if ((READ_ONCE(job->started) && READ_ONCE(t->__state) != TASK_RUNNING) ||
		    task_cpu(t) == raw_smp_processor_id() || need_resched() ||
		    !single_task_running() || ktime_get_ns() > until)
			break;
		cpu_relax();
	}
	if (completion_done(&job->done))
		atomic64_inc(&hop_spun);
	wait_for_completion(&job->done);
}

static int worker_run_in(struct fakegpu_worker *w, struct fakegpu_job *job, struct mm_struct *mm)
{
	u64 back;

	if (!mm || !mmget_not_zero(mm))
		return -EINVAL;
	job->mm = mm;
	job->cred = get_current_cred();
	init_completion(&job->done);
	kthread_init_work(&job->work, fakegpu_job_fn);
	job->queued = ktime_get_ns();
	kthread_queue_work(w->kw, &job->work);
	worker_wait(w, job);
	back = ktime_get_ns();
	put_cred(job->cred);
	mmput(job->mm);
	atomic64_inc(&hop_calls);
	atomic64_add(job->started - job->queued, &hop_wake_ns);
	atomic64_add(job->entered - job->started, &hop_enter_ns);
	atomic64_add(job->called - job->entered, &hop_call_ns);
	atomic64_add(job->left - job->called, &hop_leave_ns);
	atomic64_add(back - job->left, &hop_return_ns);
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

/* The calling process's tgid in the initial pid namespace (the workers' key). */
int fakegpu_current_global_tgid(void)
{
	return task_tgid_nr(current);
}

void fakegpu_current_comm(char *buf, size_t len)
{
	fakegpu_compat_task_comm(buf, len, current);
}

/* How many references @file has (the meter's test for "only fakegpu still holds it"). */
long fakegpu_file_count(struct file *file)
{
	return file_count(file);
}

/*
 * GPU_GET_PIDS and GPU_GET_PID_INFO through fakegpu (nvidia/processes.rs). The driver
 * records the process that made a client, which for a client made through fakegpu is the
 * process's worker, and fakegpu asks it from the worker, so in the initial pid namespace.
 * These translate between the driver's global pids and the caller's view, limited to the
 * processes of the caller's cgroup and below (all of them for the root cgroup). Each takes
 * the workers' lock: a worker's thread is only stopped under it.
 */
int fakegpu_pid_for_caller(int nr, int any_cgroup);
int fakegpu_driver_pid_for(int vnr, int any_cgroup);

/*
 * Under RCU: whether @task is in the caller's cgroup or below it; any task if @any_cgroup
 * (the operator let the caller's cgroup see every process).
 */
static bool fakegpu_callers_process(struct task_struct *task, int any_cgroup)
{
	return any_cgroup || cgroup_is_descendant(task_dfl_cgroup(task), task_dfl_cgroup(current));
}

/*
 * The pid the caller sees of the process global pid @nr stands for: a worker stands for its
 * process, any other task for itself. 0 if there is none, or it is outside the caller's
 * cgroup (unless @any_cgroup), or it has no pid in the caller's namespace.
 */
int fakegpu_pid_for_caller(int nr, int any_cgroup)
{
	struct fakegpu_worker *w;
	struct task_struct *task;
	struct pid *pid, *shown;
	unsigned long i;
	int vnr = 0;

	mutex_lock(&fakegpu_workers_lock);
	rcu_read_lock();
	pid = find_pid_ns(nr, &init_pid_ns);
	shown = pid;
	if (pid) {
		xa_for_each(&fakegpu_workers, i, w) {
			if (task_pid(w->kw->task) == pid) {
				shown = w->tgid;
				break;
			}
		}
		task = pid_task(shown, PIDTYPE_TGID);
		if (task && fakegpu_callers_process(task, any_cgroup))
			vnr = pid_vnr(shown);
	}
	rcu_read_unlock();
	mutex_unlock(&fakegpu_workers_lock);
	return vnr;
}

/*
 * The global pid the driver knows the caller's process @vnr by: its worker's, if it has one,
 * else its own. 0 if there is no such process in the caller's namespace, or it is outside
 * the caller's cgroup (unless @any_cgroup).
 */
int fakegpu_driver_pid_for(int vnr, int any_cgroup)
{
	struct fakegpu_worker *w;
	struct task_struct *task;
	struct pid *pid;
	int nr = 0;

	mutex_lock(&fakegpu_workers_lock);
	rcu_read_lock();
	pid = vnr > 0 ? find_vpid(vnr) : NULL;
	task = pid ? pid_task(pid, PIDTYPE_TGID) : NULL;
	if (task && fakegpu_callers_process(task, any_cgroup)) {
		w = xa_load(&fakegpu_workers, pid_nr(pid));
		nr = w && w->tgid == pid ? task_pid_nr(w->kw->task) : pid_nr(pid);
	}
	rcu_read_unlock();
	mutex_unlock(&fakegpu_workers_lock);
	return nr;
}

/* get_file() is a static inline. */
struct file *fakegpu_get_file(struct file *file);

struct file *fakegpu_get_file(struct file *file)
{
	return get_file(file);
}
