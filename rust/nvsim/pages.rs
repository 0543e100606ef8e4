//! The simulated memory's pages: real, zeroed pages behind every system-memory object, video
//! memory backed page by page on first use (as the RM scrubs it, it reads as zeroes until
//! written; memory never touched costs nothing), the one doorbell page, and how an mmap of an
//! nvidia file maps them.

use crate::abi::nv_status::*;
use crate::host_page::{pin_user_pages, HostPage};
use crate::nvsim_model::rm;
use crate::store::KernelRm;
use core::ops::DerefMut;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::alloc::AllocError;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;
use kernel::rbtree::RBTree;
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
    /// For video memory, the allocation's size in pages (its backing is made on first use);
    /// 0 for system memory, whose pages exist from its allocation on.
    pub(crate) fb_pages: usize,
}

/// The pages behind one allocation, in order (what an mmap of any handle to it shows): all
/// present for system memory (nvsim's, or the caller's pinned for an OS descriptor), `None`
/// where video memory was never touched.
pub(crate) struct Backing {
    /// The pages.
    pages: KVVec<Option<HostPage>>,
    /// Whether the allocation is video memory.
    fb: bool,
}

impl Backing {
    /// Video-memory pages it has backed (what [`PageTable::fb_backed`] counts of it).
    fn fb_present(&self) -> usize {
        if self.fb {
            self.pages.iter().filter(|p| p.is_some()).count()
        } else {
            0
        }
    }
}

/// The pages of the memory objects, by the RM store's allocation id.
pub(crate) struct PageTable {
    /// The backings.
    by_id: RBTree<u32, Backing>,
    /// Video-memory pages backed now, all allocations together.
    fb_backed: usize,
}

/// The most video-memory pages backed at once (`fb_backing_mib`, read at each use so a test
/// can lower it): the simulated framebuffers are larger than the host's memory, so touching
/// them has a bound.
fn fb_backing_max() -> usize {
    // SAFETY: the shim returns its parameter (an int read with READ_ONCE).
    let mib = unsafe { nvsim_param_fb_backing_mib() };
    usize::try_from(mib)
        .unwrap_or(0)
        .saturating_mul((1 << 20) / PAGE_SIZE)
}

impl PageTable {
    /// Records `pages` as the pages of allocation `id` (the RM store's id).
    pub(crate) fn insert(&mut self, id: u32, pages: Backing) -> Result<(), AllocError> {
        self.by_id
            .try_create_and_insert(id, pages, GFP_KERNEL)
            .map(|_| ())
            .map_err(|_| AllocError)
    }

    /// Page `index` of system-memory allocation `id`, if both exist.
    pub(crate) fn sys_page(&self, id: u32, index: usize) -> Option<&HostPage> {
        self.by_id.get(&id)?.pages.get(index)?.as_ref()
    }

    /// Page `index` of video-memory allocation `id` of `pages` pages, made (zeroed) on first
    /// use; ENOMEM once [`fb_backing_max`] pages are backed. The caller has checked, under the
    /// RM lock taken after this table's, that `id` is alive; the backing goes when it is freed
    /// ([`Pages::drop_freed`]).
    pub(crate) fn fb_page(&mut self, id: u32, pages: usize, index: usize) -> Result<&HostPage> {
        if index >= pages {
            return Err(ERANGE);
        }
        if self.by_id.get(&id).is_none() {
            let mut backing = KVVec::with_capacity(pages, GFP_KERNEL)?;
            for _ in 0..pages {
                backing.push(None, GFP_KERNEL)?;
            }
            self.insert(
                id,
                Backing {
                    pages: backing,
                    fb: true,
                },
            )?;
        }
        let full = self.fb_backed >= fb_backing_max();
        let slot = self
            .by_id
            .get_mut(&id)
            .and_then(|b| b.pages.get_mut(index))
            .ok_or(ERANGE)?;
        if slot.is_none() {
            if full {
                return Err(ENOMEM);
            }
            *slot = Some(HostPage::Owned(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?));
            self.fb_backed += 1;
        }
        slot.as_ref().ok_or(ENOMEM)
    }

    /// Removes the backing of allocation `id`, if it has one.
    fn remove(&mut self, id: u32) {
        if let Some(backing) = self.by_id.remove(&id) {
            self.fb_backed = self.fb_backed.saturating_sub(backing.fb_present());
        }
    }

    /// Removes the backings of allocations `alive` says are gone.
    fn remove_dead(&mut self, alive: impl Fn(u32) -> bool) {
        let mut cursor = crate::compat::cursor_front_mut(&mut self.by_id);
        while let Some(c) = cursor {
            let (id, backing) = c.current();
            cursor = if alive(*id) {
                c.move_next()
            } else {
                self.fb_backed = self.fb_backed.saturating_sub(backing.fb_present());
                // The node and its pages drop here.
                c.remove_current().0
            };
        }
    }
}

/// The simulated memory's pages, a part of the state: those of the system-memory objects and
/// the doorbell page.
pub(crate) struct Pages {
    /// Pages of the system-memory objects.
    table: Pin<KBox<Mutex<PageTable>>>,
    /// The page every usermode region maps (doorbells that ring nothing).
    doorbell: HostPage,
    /// The store's `sys_releases` when `table` was last pruned (read and written under the
    /// `table` lock).
    releases_seen: AtomicU64,
}

/// Zeroed pages for `size` bytes of system memory (rounded up as the RM store rounds),
/// or `NV_ERR_NO_MEMORY`. A kvmalloc'd vector: large objects need large page arrays.
pub(crate) fn alloc_pages(size: u64) -> Result<Backing, NvStatus> {
    let rounded = size
        .checked_next_multiple_of(rm::MEMORY_PAGE)
        .ok_or(NV_ERR_NO_MEMORY)?;
    let count = usize::try_from(rounded / PAGE_SIZE as u64).map_err(|_| NV_ERR_NO_MEMORY)?;
    let mut pages = KVVec::with_capacity(count, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    for _ in 0..count {
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO).map_err(|_| NV_ERR_NO_MEMORY)?;
        pages
            .push(Some(HostPage::Owned(page)), GFP_KERNEL)
            .map_err(|_| NV_ERR_NO_MEMORY)?;
    }
    Ok(Backing { pages, fb: false })
}

/// The caller's own `size` bytes at page-aligned `addr`, pinned: an OS descriptor's pages,
/// which the engine reads and writes as the GPU would. NV_ERR_INVALID_ADDRESS if any of them
/// cannot be pinned.
pub(crate) fn pin_pages(addr: u64, size: u64) -> Result<Backing, NvStatus> {
    let count = size.div_ceil(PAGE_SIZE as u64);
    let count = usize::try_from(count).map_err(|_| NV_ERR_NO_MEMORY)?;
    let pinned = pin_user_pages(addr, count)?;
    let mut pages = KVVec::with_capacity(count, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    for page in pinned {
        pages
            .push(Some(HostPage::Pinned(page)), GFP_KERNEL)
            .map_err(|_| NV_ERR_NO_MEMORY)?;
    }
    Ok(Backing { pages, fb: false })
}

extern "C" {
    /// The `fb_backing_mib` parameter.
    fn nvsim_param_fb_backing_mib() -> kernel::ffi::c_int;
    /// Inserts `count` pages, one per page of the VMA being set up (`shim.c`);
    /// `struct vm_area_struct *` and `struct page *` as `void *` (they reach structs rustc's
    /// FFI lint flags).
    fn nvsim_vma_insert_pages(
        vma: *mut kernel::ffi::c_void,
        pages: *const *mut kernel::ffi::c_void,
        count: kernel::ffi::c_ulong,
    ) -> kernel::ffi::c_int;
}

impl Pages {
    /// No system-memory pages yet, and a zeroed doorbell page.
    pub(crate) fn new() -> Result<Self> {
        let table = PageTable {
            by_id: RBTree::new(),
            fb_backed: 0,
        };
        Ok(Pages {
            releases_seen: AtomicU64::new(0),
            doorbell: HostPage::Owned(Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?),
            table: KBox::pin_init(kernel::new_mutex!(table, "nvsim::State::pages"), GFP_KERNEL)?,
        })
    }

    /// The table, locked, to record an allocation's pages. Taken before the RM store's lock
    /// when both are held, as in [`Pages::drop_freed`].
    pub(crate) fn lock(&self) -> impl DerefMut<Target = PageTable> + '_ {
        self.table.lock()
    }

    /// How many pages back system-memory objects, and video memory touched so far.
    pub(crate) fn backed(&self) -> (usize, usize) {
        let table = self.table.lock();
        let count = |fb: bool| -> usize {
            table
                .by_id
                .values()
                .filter(|b| b.fb == fb)
                .map(|b| b.pages.iter().filter(|p| p.is_some()).count())
                .sum()
        };
        (count(false), count(true))
    }

    /// Drops the pages of memory objects the RM no longer has (mappings keep their own page
    /// references).
    pub(crate) fn drop_freed(&self, rm: &Mutex<KernelRm>) {
        let mut table = self.table.lock();
        // Nothing to look for unless an allocation was released since the last look (checked
        // under the table's lock, so no release can be missed).
        let rm = rm.lock();
        let seen = self.releases_seen.load(Ordering::Relaxed);
        if rm.memory_releases() == seen {
            return;
        }
        self.releases_seen
            .store(rm.memory_releases(), Ordering::Relaxed);
        match rm.released_since(seen) {
            // The store names the released allocations: their backings go, found by id.
            Some(ids) => {
                for id in ids {
                    table.remove(id);
                }
            }
            // More than it remembers (a client's teardown): every backing is checked.
            None => table.remove_dead(|id| rm.memory_alive(id)),
        };
    }

    /// mmap of an nvidia file with mmap context `ctx`: the pages it names into `vma`; EINVAL
    /// once its object is freed, ENOMEM past the video-memory backing budget.
    pub(crate) fn map(
        &self,
        ctx: MmapContext,
        rm: &Mutex<KernelRm>,
        vma: *mut kernel::bindings::vm_area_struct,
    ) -> Result {
        // SAFETY: the caller passes the VMA being set up under the mmap lock.
        let count = unsafe { vma_pages_within(vma, ctx.pages) }?;
        let mut ptrs = KVVec::with_capacity(count, GFP_KERNEL)?;
        let mut table = self.table.lock();
        if ctx.doorbell {
            for _ in 0..count {
                ptrs.push(self.doorbell.as_ptr(), GFP_KERNEL)?;
            }
        } else if ctx.fb_pages > 0 {
            // Video memory: back the pages this VMA maps, not the whole context (a mapping
            // of a huge allocation touches what it uses).
            if !rm.lock().memory_alive(ctx.memory) {
                return Err(EINVAL);
            }
            for index in ctx.first_page..ctx.first_page + count {
                let page = table.fb_page(ctx.memory, ctx.fb_pages, index)?;
                ptrs.push(page.as_ptr(), GFP_KERNEL)?;
            }
        } else {
            let entry = table.by_id.get(&ctx.memory).ok_or(EINVAL)?;
            let pages = entry
                .pages
                .get(ctx.first_page..ctx.first_page + count)
                .ok_or(ERANGE)?;
            for page in pages {
                let page = page.as_ref().ok_or(EINVAL)?;
                ptrs.push(page.as_ptr(), GFP_KERNEL)?;
            }
        }
        // SAFETY: `vma` is the VMA being set up under the mmap lock, of `count` pages; `ptrs`
        // holds `count` live pages (the doorbell lives as long as the state; the others are
        // kept by `table`'s lock) until the shim has taken its own references.
        let ret = unsafe {
            nvsim_vma_insert_pages(vma.cast(), ptrs.as_ptr(), count as kernel::ffi::c_ulong)
        };
        drop(table);
        kernel::error::to_result(ret)
    }
}

/// The pages `vma` spans, checked as the driver's `nvidia_mmap_helper` checks them: the mmap
/// context, not the offset, says what is mapped, so the offset must be 0 (EINVAL) and the VMA
/// no larger than the context's `pages` (ERANGE).
///
/// # Safety
///
/// `vma` is a VMA being set up under the mmap lock.
unsafe fn vma_pages_within(
    vma: *mut kernel::bindings::vm_area_struct,
    pages: usize,
) -> Result<usize> {
    // SAFETY: per the contract; these fields are plain reads while the VMA is set up.
    let (start, end, pgoff) = unsafe {
        let range = &(*vma).__bindgen_anon_1.__bindgen_anon_1;
        (range.vm_start, range.vm_end, (*vma).vm_pgoff)
    };
    if pgoff != 0 {
        return Err(EINVAL);
    }
    // `c_ulong` is `usize` in the kernel's FFI types.
    let count = end.saturating_sub(start) / PAGE_SIZE;
    if count > pages {
        return Err(ERANGE);
    }
    Ok(count)
}
