// SPDX-License-Identifier: GPL-2.0
/*
 * A sealed call page: one page in a tenant's own address space where fakegpu's worker puts
 * its private copy of a call's parameters, for the few calls the driver must make in the
 * tenant's address space (an OS descriptor pins the tenant's pages at an address of that
 * space: RM_ALLOC_MEMORY and RM_ALLOC of class 0x71). The driver reads the copy from there
 * and writes its answer back there, and the tenant can neither change nor replace it
 * meanwhile, so what the driver acts on is what fakegpu decided on and metered:
 *
 * - the mapping is sealed (VM_SEALED, as mseal(2) does): munmap, mremap, MAP_FIXED over it
 *   and mprotect fail with EPERM, so the address keeps this page until the process exits;
 * - it maps fakegpu's page by pfn (VM_PFNMAP), so get_user_pages, hence /proc/<pid>/mem,
 *   process_vm_writev and ptrace, cannot reach it;
 * - its page table entries are write-protected (a shared mapping with pfn_mkwrite), and a
 *   write fault from any task but the process's worker is refused (SIGBUS for a user
 *   write, EFAULT for a kernel copy made for it). The worker fills the page through its
 *   kernel address, and removes the entries before each call and after it (the driver's
 *   answer made them writable), so every first write is one the fault handler sees.
 *
 * Each worker has one such page per address space it has served (one at a time: an exec
 * replaces it). The page costs the process one VMA and 4 KiB until it exits. The mapping's
 * file holds a reference on this module: fakegpu cannot be unloaded while a process that
 * made such a call lives.
 *
 * In C because Rust-for-Linux 6.12 has no VMA, fault-handler or anon-inode abstractions.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "sealed_page.h"

#include "../../kernel-common/compat.h"

/* One sealed page: held by its VMA and by the worker that uses it. */
struct fakegpu_sealed_page {
	struct kref ref;
	struct page *page;
	/* The only task whose write faults are served (the worker); NULL once it is gone. */
	struct task_struct *writer;
};

static void sealed_page_free(struct kref *ref)
{
	struct fakegpu_sealed_page *sp = container_of(ref, struct fakegpu_sealed_page, ref);

	__free_page(sp->page);
	kfree(sp);
}

static void sealed_vma_close(struct vm_area_struct *vma)
{
	struct fakegpu_sealed_page *sp = vma->vm_private_data;

	kref_put(&sp->ref, sealed_page_free);
}

static vm_fault_t sealed_fault(struct vm_fault *vmf)
{
	struct fakegpu_sealed_page *sp = vmf->vma->vm_private_data;

	if (vmf->pgoff != 0)
		return VM_FAULT_SIGBUS;
	/* vm_page_prot is write-protected (writenotify): a write then goes to pfn_mkwrite. */
	return vmf_insert_pfn(vmf->vma, vmf->address, page_to_pfn(sp->page));
}

static vm_fault_t sealed_pfn_mkwrite(struct vm_fault *vmf)
{
	struct fakegpu_sealed_page *sp = vmf->vma->vm_private_data;

	return current == READ_ONCE(sp->writer) ? 0 : VM_FAULT_SIGBUS;
}

/* Sealing refuses these already; refused here too, so no path moves or splits the page. */
static int sealed_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static int sealed_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct sealed_vm_ops = {
	.close = sealed_vma_close,
	.fault = sealed_fault,
	.pfn_mkwrite = sealed_pfn_mkwrite,
	.may_split = sealed_may_split,
	.mremap = sealed_mremap,
};

static int sealed_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct fakegpu_sealed_page *sp = file->private_data;

	if (vma->vm_pgoff != 0 || vma_pages(vma) != 1 || !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	vm_flags_set(vma, VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY |
				  VM_SEALED);
	vma->vm_ops = &sealed_vm_ops;
	kref_get(&sp->ref);
	vma->vm_private_data = sp;
	return 0;
}

/* Only fakegpu maps this file (it never has an fd); the VMA holds it, hence this module. */
static const struct file_operations sealed_fops = {
	.owner = THIS_MODULE,
	.mmap = sealed_mmap,
};

/* In a worker using the caller's mm: a new sealed page there, at slot->addr. */
static int sealed_create(struct fakegpu_sealed_slot *slot, struct task_struct *writer)
{
	struct fakegpu_sealed_page *sp;
	struct file *file;
	unsigned long addr;

	sp = kzalloc(sizeof(*sp), GFP_KERNEL);
	if (!sp)
		return -ENOMEM;
	kref_init(&sp->ref);
	sp->writer = writer;
	sp->page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!sp->page) {
		kfree(sp);
		return -ENOMEM;
	}
	file = anon_inode_getfile("[fakegpu-call]", &sealed_fops, sp, O_RDWR);
	if (IS_ERR(file)) {
		kref_put(&sp->ref, sealed_page_free);
		return PTR_ERR(file);
	}
	addr = vm_mmap(file, 0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
	/* The VMA, if made, holds the file; the page is the worker's reference from here. */
	fput(file);
	if (IS_ERR_VALUE(addr)) {
		kref_put(&sp->ref, sealed_page_free);
		return (int)addr;
	}
	mmgrab(current->mm);
	slot->mm = current->mm;
	slot->addr = addr;
	slot->sp = sp;
	return 0;
}

/*
 * In a worker using the caller's mm, before a call: the user address of the worker's sealed
 * page there (made on first use), with its page table entries removed, and in @kaddr its
 * kernel address, through which the worker fills it. 0 if it cannot be made.
 */
unsigned long fakegpu_sealed_prepare(struct fakegpu_sealed_slot *slot, struct task_struct *writer,
				     void **kaddr)
{
	if (slot->mm != current->mm) {
		/* The process exec()ed, or this is its first such call. */
		fakegpu_sealed_release(slot);
		if (sealed_create(slot, writer))
			return 0;
	}
	if (!fakegpu_sealed_protect(slot))
		return 0;
	*kaddr = page_address(slot->sp->page);
	return slot->addr;
}

/*
 * In a worker using the caller's mm: removes the page table entries of its sealed page there
 * (made by fakegpu_sealed_prepare), so that the next write to it faults. False if the page
 * is not where it was made (cannot happen while it is sealed; checked rather than trusted).
 */
bool fakegpu_sealed_protect(struct fakegpu_sealed_slot *slot)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;

	if (!slot->sp || slot->mm != mm)
		return false;
	mmap_read_lock(mm);
	vma = vma_lookup(mm, slot->addr);
	if (!vma || vma->vm_private_data != slot->sp || vma->vm_ops != &sealed_vm_ops) {
		mmap_read_unlock(mm);
		return false;
	}
	fakegpu_compat_zap_ptes(vma, slot->addr, PAGE_SIZE);
	mmap_read_unlock(mm);
	return true;
}

/* When the worker goes (or moves to another mm): its page takes no more writes. */
void fakegpu_sealed_release(struct fakegpu_sealed_slot *slot)
{
	if (!slot->sp)
		return;
	WRITE_ONCE(slot->sp->writer, NULL);
	kref_put(&slot->sp->ref, sealed_page_free);
	mmdrop(slot->mm);
	slot->sp = NULL;
	slot->mm = NULL;
	slot->addr = 0;
}
