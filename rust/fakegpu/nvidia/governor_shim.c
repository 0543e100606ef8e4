// SPDX-License-Identifier: GPL-2.0
/*
 * The governor's thread (governor.rs): it wakes when the schedule of compute limits says
 * something changes, at most every millisecond while a GPU has limits and every 20 ms
 * otherwise, and applies the schedule with the driver's controls.
 */
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>

/*
 * Whether fakegpu holds channel groups to compute limits. Off, the limits are still taken
 * and shown but nothing is paused (what the tests measure against); groups fakegpu paused
 * are handed back as their tenants left them.
 */
static bool enforce_compute = true;
module_param(enforce_compute, bool, 0644);
MODULE_PARM_DESC(enforce_compute, "Hold channel groups to compute.max and compute.weight (default on; writable)");

int fakegpu_governor_start(void);
void fakegpu_governor_stop(void);
int fakegpu_enforce_compute_param(void);
u64 fakegpu_ktime_ns(void);
/* governor.rs: one pass; returns the microseconds to sleep until the next. */
unsigned int fakegpu_governor_tick(void);

static struct task_struct *fakegpu_governor_task;

static int fakegpu_governor_main(void *unused)
{
	while (!kthread_should_stop()) {
		unsigned int us = fakegpu_governor_tick();

		usleep_range(us, us + us / 4 + 50);
	}
	return 0;
}

int fakegpu_governor_start(void)
{
	struct task_struct *task = kthread_run(fakegpu_governor_main, NULL, "fakegpu-governor");

	if (IS_ERR(task))
		return PTR_ERR(task);
	/*
	 * Real-time at the lowest priority: a window's end must not wait behind the busy
	 * threads of the tenants it pauses (or of a simulated GPU's engine).
	 */
	sched_set_fifo_low(task);
	fakegpu_governor_task = task;
	return 0;
}

void fakegpu_governor_stop(void)
{
	if (fakegpu_governor_task)
		kthread_stop(fakegpu_governor_task);
	fakegpu_governor_task = NULL;
}

int fakegpu_enforce_compute_param(void)
{
	return READ_ONCE(enforce_compute);
}

u64 fakegpu_ktime_ns(void)
{
	return ktime_get_ns();
}

void fakegpu_governor_warn(u32 cmd, u32 handle, u32 client, u32 tgid, int err, u32 status);

/*
 * A control the governor could not make (rate-limited: it is made again at a later pass): a
 * scheduling control, or the read of the utilisation samples GPU time is metered from.
 */
void fakegpu_governor_warn(u32 cmd, u32 handle, u32 client, u32 tgid, int err, u32 status)
{
	pr_warn_ratelimited("fakegpu: governor: control %#x on object %#x of client %#x (made by process %u) failed: ioctl %d, status %#x; retried\n",
			    cmd, handle, client, tgid, err, status);
}
