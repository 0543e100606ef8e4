/* SPDX-License-Identifier: GPL-2.0 */
/* A worker's sealed call page (sealed_page.c), as worker_shim.c embeds and uses it. */
#ifndef FAKEGPU_SEALED_PAGE_H
#define FAKEGPU_SEALED_PAGE_H

#include <linux/types.h>

struct fakegpu_sealed_page;
struct mm_struct;
struct task_struct;

/* A worker's sealed page in the address space it last served. */
struct fakegpu_sealed_slot {
	/* mmgrab()bed: compared with later calls' address spaces, never entered. */
	struct mm_struct *mm;
	unsigned long addr;
	struct fakegpu_sealed_page *sp;
};

unsigned long fakegpu_sealed_prepare(struct fakegpu_sealed_slot *slot, struct task_struct *writer,
				     void **kaddr);
bool fakegpu_sealed_protect(struct fakegpu_sealed_slot *slot);
void fakegpu_sealed_release(struct fakegpu_sealed_slot *slot);

#endif
