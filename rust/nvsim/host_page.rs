// SPDX-License-Identifier: GPL-2.0

//! A page behind simulated memory: one nvsim allocated (system and video memory, semaphore
//! pools), or one of the caller's own, pinned for an OS descriptor (0x71) as the driver pins
//! it, so the engine's copies reach the process's memory and the process sees them.

use crate::abi::nv_status::*;
use core::ptr::NonNull;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

extern "C" {
    /// `pin_user_pages_fast(addr, count, FOLL_WRITE | FOLL_LONGTERM, pages)` in the calling
    /// process; all `count` or none (`shim.c`).
    fn nvsim_pin_user_pages(
        addr: kernel::ffi::c_ulong,
        count: kernel::ffi::c_ulong,
        pages: *mut *mut kernel::ffi::c_void,
    ) -> kernel::ffi::c_int;
    /// `unpin_user_page`.
    fn nvsim_unpin_user_page(page: *mut kernel::ffi::c_void);
    /// Copies `len` bytes between `buf` and the page at `offset` (to the page if `to_page`).
    fn nvsim_page_copy(
        page: *mut kernel::ffi::c_void,
        offset: usize,
        buf: *mut kernel::ffi::c_void,
        len: usize,
        to_page: bool,
    );
}

/// A page of a process's memory, pinned until this is dropped.
///
/// # Invariants
///
/// `0` is a `struct page` pinned by `pin_user_pages_fast` and not yet unpinned.
pub(crate) struct PinnedPage(NonNull<kernel::ffi::c_void>);

// SAFETY: a pinned page may be used and unpinned from any thread.
unsafe impl Send for PinnedPage {}
// SAFETY: `PinnedPage` has no interior mutability; the page's bytes are copied with the
// kernel's own page mapping helpers.
unsafe impl Sync for PinnedPage {}

impl Drop for PinnedPage {
    fn drop(&mut self) {
        // SAFETY: by the type invariant the page is pinned, and this drops that pin.
        unsafe { nvsim_unpin_user_page(self.0.as_ptr()) };
    }
}

/// A page behind simulated memory.
pub(crate) enum HostPage {
    /// Allocated by nvsim.
    Owned(Page),
    /// The caller's, pinned.
    Pinned(PinnedPage),
}

impl HostPage {
    /// Its `struct page`.
    pub(crate) fn as_ptr(&self) -> *mut kernel::ffi::c_void {
        match self {
            HostPage::Owned(page) => page.as_ptr().cast(),
            HostPage::Pinned(page) => page.0.as_ptr(),
        }
    }

    /// Copies `len` bytes at `offset` of the page to `dst`; EINVAL past the page's end.
    ///
    /// # Safety
    ///
    /// `dst` is valid for writing `len` bytes.
    pub(crate) unsafe fn read_raw(&self, dst: *mut u8, offset: usize, len: usize) -> Result {
        match self {
            // SAFETY: per this function's contract.
            HostPage::Owned(page) => unsafe { page.read_raw(dst, offset, len) },
            HostPage::Pinned(page) => {
                within_page(offset, len)?;
                // SAFETY: the page is pinned (type invariant), `offset + len` is within it,
                // and `dst` is valid for `len` bytes per the contract.
                unsafe { nvsim_page_copy(page.0.as_ptr(), offset, dst.cast(), len, false) };
                Ok(())
            }
        }
    }

    /// Copies `len` bytes from `src` to `offset` of the page; EINVAL past the page's end.
    ///
    /// # Safety
    ///
    /// `src` is valid for reading `len` bytes.
    pub(crate) unsafe fn write_raw(&self, src: *const u8, offset: usize, len: usize) -> Result {
        match self {
            // SAFETY: per this function's contract.
            HostPage::Owned(page) => unsafe { page.write_raw(src, offset, len) },
            HostPage::Pinned(page) => {
                within_page(offset, len)?;
                // SAFETY: as in `read_raw`; the copy only reads `src`.
                unsafe {
                    nvsim_page_copy(page.0.as_ptr(), offset, src.cast_mut().cast(), len, true)
                };
                Ok(())
            }
        }
    }
}

fn within_page(offset: usize, len: usize) -> Result {
    match offset.checked_add(len) {
        Some(end) if end <= PAGE_SIZE => Ok(()),
        _ => Err(EINVAL),
    }
}

/// Pins the `count` pages of the calling process at `addr` (page-aligned), as the driver
/// pins an OS descriptor's memory: writable, long-term. NV_ERR_INVALID_ADDRESS if any page
/// cannot be pinned (nothing stays pinned then).
pub(crate) fn pin_user_pages(addr: u64, count: usize) -> Result<KVVec<PinnedPage>, NvStatus> {
    let addr = usize::try_from(addr).map_err(|_| NV_ERR_INVALID_ADDRESS)?;
    let mut raw: KVVec<*mut kernel::ffi::c_void> =
        KVVec::from_elem(core::ptr::null_mut(), count, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    let mut pinned = KVVec::with_capacity(count, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    // SAFETY: `raw` has room for `count` pointers; the shim pins all or none.
    let ret = unsafe { nvsim_pin_user_pages(addr, count, raw.as_mut_ptr()) };
    if ret != 0 {
        return Err(NV_ERR_INVALID_ADDRESS);
    }
    // Every pinned page is wrapped, so each is unpinned whatever happens.
    let mut whole = true;
    for page in raw.iter() {
        match NonNull::new(*page) {
            // INVARIANT: the shim pinned each of the `count` pages it wrote. Capacity was
            // reserved, so the push does not allocate (a failed push drops, so unpins, it).
            Some(page) => whole &= pinned.push(PinnedPage(page), GFP_KERNEL).is_ok(),
            None => whole = false,
        }
    }
    if !whole {
        return Err(NV_ERR_INVALID_ADDRESS);
    }
    Ok(pinned)
}
