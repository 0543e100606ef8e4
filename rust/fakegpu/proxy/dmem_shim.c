// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's dmem cgroup controller (kernel/cgroup/dmem.c, 6.14+), for dmem.rs: regions
 * and charges behind opaque pointers. dmem charges the *current* task's cgroup, so the
 * charge calls run in the allocating tenant's own task. On 6.12, or a kernel without
 * CONFIG_CGROUP_DMEM, no region is registered and nothing else is reached.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/err.h>
#include <linux/errno.h>
#include <linux/types.h>

#include "../../kernel-common/compat.h"

bool fakegpu_dmem_available(void);
void *fakegpu_dmem_register(u64 size, const char *name);
void fakegpu_dmem_unregister(void *region);
int fakegpu_dmem_try_charge(void *region, u64 size, void **pool);
void fakegpu_dmem_uncharge(void *pool, u64 size);
void fakegpu_dmem_put(void *pool);

/* Whether this kernel charges dmem at all. */
bool fakegpu_dmem_available(void)
{
	return FAKEGPU_HAS_DMEM;
}

/* A new region @name of @size bytes; NULL (logged) if it cannot be had. */
void *fakegpu_dmem_register(u64 size, const char *name)
{
	struct dmem_cgroup_region *region = dmem_cgroup_register_region(size, "%s", name);

	if (IS_ERR_OR_NULL(region)) {
		pr_warn("dmem region %s not registered (%d): its memory is not charged to dmem\n",
			name, (int)PTR_ERR_OR_ZERO(region));
		return NULL;
	}
	return region;
}

/* Unregisters @region; pools still charged keep it alive until they are uncharged. */
void fakegpu_dmem_unregister(void *region)
{
	dmem_cgroup_unregister_region(region);
}

/*
 * Charges @size bytes of @region to the current task's cgroup and its ancestors: 0 with
 * *@pool set (one reference, given back by fakegpu_dmem_uncharge or fakegpu_dmem_put),
 * -EAGAIN past a dmem.max, another -errno if dmem could not account it.
 */
int fakegpu_dmem_try_charge(void *region, u64 size, void **pool)
{
	struct dmem_cgroup_pool_state *p = NULL;
	int ret = dmem_cgroup_try_charge(region, size, &p, NULL);

	*pool = p;
	return ret;
}

/* Uncharges @size bytes from @pool and drops the reference its charge held. */
void fakegpu_dmem_uncharge(void *pool, u64 size)
{
	dmem_cgroup_uncharge(pool, size);
}

/* Drops the reference of a charge merged into another charge of the same pool. */
void fakegpu_dmem_put(void *pool)
{
	dmem_cgroup_pool_state_put(pool);
}
