// SPDX-License-Identifier: GPL-2.0

//! The simulated memory's pages: real, zeroed pages behind every system-memory object, the
//! one doorbell page, and how an mmap of an nvidia file maps them.

use crate::abi::nv_status::*;
use crate::nvsim_model::rm;
use crate::store::KernelRm;
use core::ops::DerefMut;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::alloc::AllocError;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;
use kernel::sync::Mutex;

/// An mmap context: pages of one system-memory allocation, or the usermode region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MmapContext {
    /// The allocation (the same through every handle to it); unused for the usermode region.
    pub(crate) memory: u32,
    /// The usermode region (the channels' doorbells): nvsim's one doorbell page, repeated.
    pub(crate) doorbell: bool,
    /// First page of the object to map.
    pub(crate) first_page: usize,
    /// Pages the mapping may cover.
    pub(crate) pages: usize,
}

/// The pages behind one system-memory allocation (what an mmap of any handle to it shows).
struct SysPages {
    /// The allocation's id in the RM store.
    id: u32,
    /// Its pages, in order.
    pages: KVVec<Page>,
}

/// The pages of the system-memory objects, one entry per allocation.
pub(crate) struct PageTable(KVec<SysPages>);

impl PageTable {
    /// Records `pages` as the pages of allocation `id` (the RM store's id).
    pub(crate) fn insert(&mut self, id: u32, pages: KVVec<Page>) -> Result<(), AllocError> {
        self.0.push(SysPages { id, pages }, GFP_KERNEL)
    }
}

/// The simulated memory's pages, a part of the state: those of the system-memory objects and
/// the doorbell page.
pub(crate) struct Pages {
    /// Pages of the system-memory objects.
    table: Pin<KBox<Mutex<PageTable>>>,
    /// The page every usermode region maps (doorbells that ring nothing).
    doorbell: Page,
    /// The store's `sys_releases` when `table` was last pruned (read and written under the
    /// `table` lock).
    releases_seen: AtomicU64,
}

/// Zeroed pages for `size` bytes of system memory (rounded up as the RM store rounds),
/// or `NV_ERR_NO_MEMORY`. A kvmalloc'd vector: large objects need large page arrays.
pub(crate) fn alloc_pages(size: u64) -> Result<KVVec<Page>, NvStatus> {
    let rounded = size
        .checked_next_multiple_of(rm::MEMORY_PAGE)
        .ok_or(NV_ERR_NO_MEMORY)?;
    let count = usize::try_from(rounded / PAGE_SIZE as u64).map_err(|_| NV_ERR_NO_MEMORY)?;
    let mut pages = KVVec::with_capacity(count, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    for _ in 0..count {
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO).map_err(|_| NV_ERR_NO_MEMORY)?;
        pages.push(page, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    }
    Ok(pages)
}

extern "C" {
    /// Inserts `count` pages into the VMA being set up (`shim.c`); `struct vm_area_struct *`
    /// and `struct page *` as `void *` (they reach structs rustc's FFI lint flags).
    fn nvsim_vma_insert_pages(
        vma: *mut kernel::ffi::c_void,
        pages: *const *mut kernel::ffi::c_void,
        count: kernel::ffi::c_ulong,
    ) -> kernel::ffi::c_int;
}

impl Pages {
    /// No system-memory pages yet, and a zeroed doorbell page.
    pub(crate) fn new() -> Result<Self> {
        Ok(Pages {
            releases_seen: AtomicU64::new(0),
            doorbell: Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?,
            table: KBox::pin_init(
                kernel::new_mutex!(PageTable(KVec::new()), "nvsim::State::sysmem"),
                GFP_KERNEL,
            )?,
        })
    }

    /// The table, locked, to record an allocation's pages. Taken before the RM store's lock
    /// when both are held, as in [`Pages::drop_freed`].
    pub(crate) fn lock(&self) -> impl DerefMut<Target = PageTable> + '_ {
        self.table.lock()
    }

    /// How many pages back system-memory objects.
    pub(crate) fn backed(&self) -> usize {
        self.table.lock().0.iter().map(|e| e.pages.len()).sum()
    }

    /// Drops the pages of system-memory objects the RM no longer has (mappings keep their own
    /// page references).
    pub(crate) fn drop_freed(&self, rm: &Mutex<KernelRm>) {
        let mut table = self.table.lock();
        // Nothing to look for unless a system allocation was released since the last look
        // (checked under the table's lock, so no release can be missed).
        let releases = rm.lock().sys_releases();
        if releases == self.releases_seen.load(Ordering::Relaxed) {
            return;
        }
        self.releases_seen.store(releases, Ordering::Relaxed);
        let old = core::mem::take(&mut table.0);
        let Ok(mut kept) = KVec::with_capacity(old.len(), GFP_KERNEL) else {
            // Without room to sort them, keep every entry: pages then live until unload.
            table.0 = old;
            return;
        };
        {
            let rm = rm.lock();
            for entry in old {
                if rm.memory_alive(entry.id) {
                    // Within the capacity reserved above: cannot fail.
                    let _ = kept.push(entry, GFP_KERNEL);
                }
            }
        }
        table.0 = kept;
    }

    /// mmap of an nvidia file with mmap context `ctx`: the pages it names into `vma`; EINVAL
    /// once its object is freed.
    pub(crate) fn map(&self, ctx: MmapContext, vma: *mut kernel::ffi::c_void) -> Result {
        if ctx.doorbell {
            let mut ptrs = KVVec::with_capacity(ctx.pages, GFP_KERNEL)?;
            for _ in 0..ctx.pages {
                ptrs.push(
                    self.doorbell.as_ptr().cast::<kernel::ffi::c_void>(),
                    GFP_KERNEL,
                )?;
            }
            // SAFETY: `vma` is the VMA being set up under the mmap lock; the doorbell page lives
            // as long as the state, and the shim takes its own reference for each mapping.
            let ret = unsafe {
                nvsim_vma_insert_pages(vma, ptrs.as_ptr(), ptrs.len() as kernel::ffi::c_ulong)
            };
            return kernel::error::to_result(ret);
        }
        let table = self.table.lock();
        let entry = table.0.iter().find(|e| e.id == ctx.memory).ok_or(EINVAL)?;
        let pages = entry
            .pages
            .get(ctx.first_page..ctx.first_page + ctx.pages)
            .ok_or(ERANGE)?;
        let mut ptrs = KVVec::with_capacity(pages.len(), GFP_KERNEL)?;
        for page in pages {
            ptrs.push(page.as_ptr().cast::<kernel::ffi::c_void>(), GFP_KERNEL)?;
        }
        // SAFETY: `vma` is the VMA being set up under the mmap lock; `ptrs` holds `len` live
        // pages, kept alive by `table`'s lock until the shim has taken its own references.
        let ret = unsafe {
            nvsim_vma_insert_pages(vma, ptrs.as_ptr(), ptrs.len() as kernel::ffi::c_ulong)
        };
        kernel::error::to_result(ret)
    }
}
