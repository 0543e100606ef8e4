// SPDX-License-Identifier: GPL-2.0

//! Reading and writing a channel's GPU virtual addresses, as the GPU's MMU and memory would:
//! a VA is looked up in the UVM VA space's external mappings (which RM memory, at which
//! offset), and the bytes are those of the memory's pages (`pages.rs`), shared with every CPU
//! mapping of the same memory. An address no mapping covers, or memory freed under a
//! mapping, is a fault: the channel goes into error.

use crate::gpu_va::KernelVaSpace;
use crate::host_page::HostPage;
use crate::nvsim_model::rm::{Kind, Pool};
use crate::state::State;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// A GPU VA the channel may not touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault(pub(crate) u64);

/// A channel's view of GPU memory: its VA space (locked by the caller) on its GPU.
pub(crate) struct GpuMem<'a> {
    state: &'a State,
    va: &'a KernelVaSpace,
    gpu: u32,
}

impl<'a> GpuMem<'a> {
    /// The view through `va` on GPU `gpu`.
    pub(crate) fn new(state: &'a State, va: &'a KernelVaSpace, gpu: u32) -> Self {
        GpuMem { state, va, gpu }
    }

    /// Runs `f` on the page behind `va` and the offset of `va` in it.
    fn with_page<R>(&self, va: u64, f: impl FnOnce(&HostPage, usize) -> R) -> Result<R, Fault> {
        let Some(mapping) = self
            .va
            .mappings()
            .find(|m| m.gpu == self.gpu && va >= m.base && va - m.base < m.length)
        else {
            // UVM's own memory: a semaphore pool.
            let (page, offset) = self.va.storage().pool_page(va).ok_or(Fault(va))?;
            return Ok(f(page, offset));
        };
        let at = mapping
            .offset
            .checked_add(va - mapping.base)
            .ok_or(Fault(va))?;
        // The page table before the RM store, as every path takes them.
        let mut table = self.state.pages.lock();
        let (id, fb_pages) = {
            let rm = self.state.rm.lock();
            match rm.get(mapping.client, mapping.memory).map(|o| o.kind) {
                Some(Kind::Memory { pool, size, id, .. }) if at < size => {
                    let fb_pages = match pool {
                        Pool::Fb(_) => usize::try_from(size / PAGE_SIZE as u64),
                        Pool::Sys => Ok(0),
                    };
                    (id, fb_pages.map_err(|_| Fault(va))?)
                }
                _ => return Err(Fault(va)),
            }
        };
        let index = usize::try_from(at / PAGE_SIZE as u64).map_err(|_| Fault(va))?;
        let offset = (at % PAGE_SIZE as u64) as usize;
        let page = if fb_pages > 0 {
            // A free between the look-up above and here leaves a backing that the next
            // `drop_freed` removes (it waits for this table lock).
            table.fb_page(id, fb_pages, index).map_err(|_| Fault(va))?
        } else {
            table.sys_page(id, index).ok_or(Fault(va))?
        };
        Ok(f(page, offset))
    }

    /// Walks `len` bytes at `va` page by page: `f(page, offset in page, done, n)` for each
    /// piece of `n` bytes, `done` bytes into the range.
    fn walk(
        &self,
        va: u64,
        len: usize,
        mut f: impl FnMut(&HostPage, usize, usize, usize) -> Result,
    ) -> Result<(), Fault> {
        let mut done = 0;
        while done < len {
            let at = va.checked_add(done as u64).ok_or(Fault(va))?;
            let n = (PAGE_SIZE - (at % PAGE_SIZE as u64) as usize).min(len - done);
            self.with_page(at, |page, offset| f(page, offset, done, n))?
                .map_err(|_| Fault(at))?;
            done += n;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes at `va`.
    pub(crate) fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let base = buf.as_mut_ptr();
        self.walk(va, buf.len(), |page, offset, done, n| {
            // SAFETY: `base + done` is valid for `n` bytes of `buf` (`walk` keeps
            // `done + n <= buf.len()`). The page is shared with the CPU mappings of its
            // memory, which may write it at any time, as a process may write memory a real GPU
            // is reading: the bytes are copied, never referenced, so a torn value is the worst
            // outcome, as on the hardware.
            unsafe { page.read_raw(base.add(done), offset, n) }
        })
    }

    /// Writes `buf` at `va`.
    pub(crate) fn write(&self, va: u64, buf: &[u8]) -> Result<(), Fault> {
        let base = buf.as_ptr();
        self.walk(va, buf.len(), |page, offset, done, n| {
            // SAFETY: `base + done` is valid for `n` bytes of `buf` (as in `read`); the page
            // may be read or written by CPU mappings at the same time, as device memory is.
            unsafe { page.write_raw(base.add(done), offset, n) }
        })
    }

    /// Reads a little-endian u32 at `va`.
    pub(crate) fn read_u32(&self, va: u64) -> Result<u32, Fault> {
        let mut b = [0u8; 4];
        self.read(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a little-endian u64 at `va`.
    pub(crate) fn read_u64(&self, va: u64) -> Result<u64, Fault> {
        let mut b = [0u8; 8];
        self.read(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}
