// SPDX-License-Identifier: GPL-2.0

//! Calls made on fakegpu's private copy of their parameters, so that what the driver acts
//! on is exactly what fakegpu decided on and metered.
//!
//! A tenant controls its parameters' memory at every instant: it can rewrite a field (the
//! class, the size, the handle to free) between fakegpu's read and the driver's, or rewrite
//! what the driver wrote back before fakegpu reads it. So the metered calls are copied once
//! from the caller, decided on that copy, and made by the caller's worker with fakegpu's
//! scratch address space (`worker_shim.c`), in the worker's own slot of that space:
//! the driver reads the copy and writes its answer there, where no user process can reach,
//! and fakegpu reads the answer from there before writing it back to the caller. The fds in
//! the parameters are fakegpu's too ([`PrivateCall::with_fd`]), so the driver resolves
//! exactly the files fakegpu chose, whatever else the workers' shared fd table holds.
//!
//! A call the driver must make in the caller's own address space (an OS descriptor pins the
//! caller's pages) is made there instead, on the worker's sealed page
//! ([`PrivateCall::in_caller_mm`], `sealed_page.c`), which the tenant cannot change either.

use super::personality::{FakeFile, IoctlFn};
use super::real_devices::RealFile;
use super::worker::{
    governor_slot_size, run_in_scratch, run_private, scratch_slot_size, CredRef, FileSet,
    Installed, PrivateSpace,
};
use core::ffi::c_void;
use kernel::bindings;
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;

/// Largest parameter struct copied (NVIDIA's NVOS32, RM_VID_HEAP_CONTROL, is 184 bytes).
pub(crate) const OUTER_MAX: usize = 256;
/// Largest block a pointer in it may lead to (GPU_GET_PID_INFO's list is 14408 bytes).
const INDIRECT_MAX: usize = 16 * 1024 - OUTER_MAX;
/// The same for a block of fakegpu's own, in a call of the governor's (the driver's
/// utilisation samples are 50704 bytes in 550; its slot is 64 KiB).
const GOVERNOR_INDIRECT_MAX: usize = 64 * 1024 - OUTER_MAX;
/// Most pointers followed (RM_ALLOC's NVOS64: parameters and requested rights).
const MAX_INDIRECT: usize = 2;
/// Most fd parameters one call carries.
const MAX_FDS: usize = 2;
/// Bytes of the sealed page in the caller's mm (`sealed_page.c`).
const SEALED_SLOT_SIZE: usize = 4096;

/// Whether the scratch slots hold the largest call (checked at load). A call is laid out in
/// its slot as the struct, then each block (8-byte aligned); one that does not fit its slot
/// (a scratch slot, or the smaller sealed page) fails with EINVAL.
pub(crate) fn slots_fit() -> bool {
    scratch_slot_size() >= OUTER_MAX + INDIRECT_MAX
        && governor_slot_size() >= OUTER_MAX + GOVERNOR_INDIRECT_MAX
}

/// Where each block of a call goes in its slot, after the struct; `None` if they do not fit
/// in `slot_len` bytes.
fn layout(
    blocks: &[Option<Indirect>; MAX_INDIRECT],
    slot_len: usize,
) -> Option<[usize; MAX_INDIRECT]> {
    let mut at = [0usize; MAX_INDIRECT];
    let mut next = OUTER_MAX;
    for (slot, block) in at.iter_mut().zip(blocks) {
        *slot = next;
        let len = block.as_ref().map_or(0, |b| b.data.len());
        next = next.checked_add(len)?.checked_next_multiple_of(8)?;
    }
    (next <= slot_len).then_some(at)
}

/// An fd parameter: where it sits in the struct, the caller's value, and the real file the
/// driver is to find under it (none: the driver gets -1, and answers as for any bad fd).
struct FdParam {
    at: usize,
    original: i32,
    file: Option<RealFile>,
}

/// A block the escape struct points to: where the pointer sits, the caller's address, and
/// fakegpu's copy of the block.
struct Indirect {
    at: usize,
    original: u64,
    /// Empty if the caller's address could not be read: the driver then gets an address
    /// that faults, and answers as it does for any bad pointer.
    data: KVec<u8>,
}

/// An address every user copy fails on (above the user address space).
const FAULTING_ADDRESS: u64 = u64::MAX - 4095;

/// One call on a private copy.
pub(crate) struct PrivateCall<'a> {
    /// The real file the call is made on.
    real: &'a RealFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    /// The escape struct: the caller's at first, the driver's answer after [`Self::run`]
    /// (with the caller's pointers put back).
    outer: [u8; OUTER_MAX],
    outer_len: usize,
    indirect: [Option<Indirect>; MAX_INDIRECT],
    files: Option<KBox<FileSet>>,
    fds: [Option<FdParam>; MAX_FDS],
    space: PrivateSpace,
    ret: c_long,
}

fn user_read(addr: usize, out: &mut [u8]) -> Result {
    crate::compat::user_slice(addr, out.len())
        .reader()
        .read_slice(out)
}

fn user_write(addr: usize, data: &[u8]) -> Result {
    crate::compat::user_slice(addr, data.len())
        .writer()
        .write_slice(data)
}

impl<'a> PrivateCall<'a> {
    /// Copies the `len`-byte escape struct at the caller's `ptr`, for ioctl `cmd` on `fake`.
    pub(crate) fn new(
        fake: &'a FakeFile,
        ioctl: IoctlFn,
        cmd: c_uint,
        ptr: usize,
        len: usize,
    ) -> Result<Self> {
        let mut outer = [0u8; OUTER_MAX];
        user_read(ptr, outer.get_mut(..len).ok_or(EINVAL)?)?;
        Ok(Self::with_outer(&fake.real, ioctl, cmd, outer, len))
    }

    /// A call fakegpu makes itself, with the escape struct `value`.
    pub(crate) fn from_value<T: crate::abi::pod::Pod>(
        fake: &'a FakeFile,
        ioctl: IoctlFn,
        cmd: c_uint,
        value: &T,
    ) -> Result<Self> {
        Self::on_real(&fake.real, ioctl, cmd, value)
    }

    /// A call fakegpu makes itself on the real file `real`, with the escape struct `value`.
    pub(crate) fn on_real<T: crate::abi::pod::Pod>(
        real: &'a RealFile,
        ioctl: IoctlFn,
        cmd: c_uint,
        value: &T,
    ) -> Result<Self> {
        let mut outer = [0u8; OUTER_MAX];
        let len = core::mem::size_of::<T>();
        if !crate::abi::pod::write_pod(outer.get_mut(..len).ok_or(EINVAL)?, value) {
            return Err(EINVAL);
        }
        Ok(Self::with_outer(real, ioctl, cmd, outer, len))
    }

    fn with_outer(
        real: &'a RealFile,
        ioctl: IoctlFn,
        cmd: c_uint,
        outer: [u8; OUTER_MAX],
        outer_len: usize,
    ) -> Self {
        PrivateCall {
            real,
            ioctl,
            cmd,
            outer,
            outer_len,
            indirect: [const { None }; MAX_INDIRECT],
            files: None,
            fds: [const { None }; MAX_FDS],
            space: PrivateSpace::Scratch,
            ret: 0,
        }
    }

    /// The escape struct (the caller's copy, or the driver's answer after [`Self::run`]).
    pub(crate) fn outer(&self) -> &[u8] {
        self.outer.get(..self.outer_len).unwrap_or(&[])
    }

    /// Also copies the `len` bytes the pointer at offset `at` of the struct leads to (a null
    /// pointer stays null, for the driver to judge).
    pub(crate) fn follow(&mut self, at: usize, len: usize) -> Result {
        let original = self
            .outer()
            .get(at..at + 8)
            .and_then(crate::abi::pod::read_pod::<u64>)
            .ok_or(EINVAL)?;
        if original == 0 {
            return Ok(());
        }
        if len > INDIRECT_MAX {
            return Err(EINVAL);
        }
        // Nothing to copy leaves `data` empty: the driver's pointer then faults too.
        let mut data = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let readable = usize::try_from(original)
            .map_err(|_| EFAULT)
            .and_then(|addr| user_read(addr, &mut data));
        if readable.is_err() {
            data = KVec::new();
        }
        let slot = self
            .indirect
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(EINVAL)?;
        *slot = Some(Indirect { at, original, data });
        Ok(())
    }

    /// Points the pointer at offset `at` of the struct to `data`, fakegpu's own block (for a
    /// call fakegpu makes itself, in the governor's larger slot: [`Self::run_as`]).
    pub(crate) fn with_block(&mut self, at: usize, data: &[u8]) -> Result {
        if data.is_empty() || data.len() > GOVERNOR_INDIRECT_MAX {
            return Err(EINVAL);
        }
        let mut copy = KVec::with_capacity(data.len(), GFP_KERNEL)?;
        copy.extend_from_slice(data, GFP_KERNEL)?;
        let slot = self
            .indirect
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(EINVAL)?;
        *slot = Some(Indirect {
            at,
            original: 0,
            data: copy,
        });
        Ok(())
    }

    /// Makes the call in the calling kernel thread (fakegpu's own call on a tenant's
    /// object) with `cred`, the credentials of the object's maker, in fakegpu's scratch
    /// space; returns the driver's ioctl result.
    ///
    /// # Safety
    ///
    /// Only the governor's thread may call this (it owns the slot used).
    pub(crate) unsafe fn run_as(&mut self, cred: &CredRef) -> Result<c_long> {
        self.space = PrivateSpace::Governor;
        // SAFETY: `private_job` takes the `PrivateCall` it is given, which outlives the run;
        // the caller is the slot's only user.
        unsafe { run_in_scratch(cred, private_job, (&raw mut *self).cast()) }?;
        Ok(self.ret)
    }

    /// The copy of the block the pointer at `at` leads to (the driver's answer after the
    /// call), if there is one.
    pub(crate) fn block(&self, at: usize) -> Option<&[u8]> {
        self.indirect
            .iter()
            .flatten()
            .find(|i| i.at == at && !i.data.is_empty())
            .map(|i| &i.data[..])
    }

    /// The same, to change before the call (what the driver gets) or after it (what the
    /// caller gets back).
    pub(crate) fn block_mut(&mut self, at: usize) -> Option<&mut [u8]> {
        self.indirect
            .iter_mut()
            .flatten()
            .find(|i| i.at == at && !i.data.is_empty())
            .map(|i| &mut i.data[..])
    }

    /// The driver will also find these real files in the worker's table (for a driver that
    /// walks the fd table during the call).
    pub(crate) fn with_files(&mut self, files: KBox<FileSet>) {
        self.files = Some(files);
    }

    /// The driver is to find `file` under the fd at offset `at` of the struct: the worker
    /// installs it and writes its number into the copy (the caller's value, read from the
    /// copy, goes back into the answer). `None` gives the driver -1.
    pub(crate) fn with_fd(&mut self, at: usize, file: Option<RealFile>) -> Result {
        let original = self.fd_at(at).ok_or(EINVAL)?;
        let slot = self.fds.iter_mut().find(|f| f.is_none()).ok_or(EINVAL)?;
        *slot = Some(FdParam { at, original, file });
        Ok(())
    }

    /// The caller's value of the fd parameter at offset `at`, if the struct holds one.
    pub(crate) fn fd_at(&self, at: usize) -> Option<i32> {
        self.outer()
            .get(at..)
            .and_then(crate::abi::pod::read_pod::<u32>)
            .map(|fd| fd as i32)
    }

    /// The call is made in the caller's own address space, on the worker's sealed page
    /// there, for a driver that acts on the calling process's memory.
    pub(crate) fn in_caller_mm(&mut self) {
        self.space = PrivateSpace::CallerSealed;
    }

    /// Makes the call in the caller's worker, on the copy; returns the driver's ioctl result.
    pub(crate) fn run(&mut self) -> Result<c_long> {
        // SAFETY: `private_job` takes the `PrivateCall` it is given, which outlives the run.
        unsafe { run_private(private_job, (&raw mut *self).cast(), self.space) }?;
        // The caller's pointers and fds go back where the driver saw fakegpu's.
        for ind in self.indirect.iter().flatten() {
            if let Some(field) = self.outer.get_mut(ind.at..ind.at + 8) {
                field.copy_from_slice(&ind.original.to_ne_bytes());
            }
        }
        for fd in self.fds.iter().flatten() {
            if let Some(field) = self.outer.get_mut(fd.at..fd.at + 4) {
                field.copy_from_slice(&fd.original.to_ne_bytes());
            }
        }
        Ok(self.ret)
    }

    /// Makes the call on the copy in the calling task, through `call_on_copy` (the real
    /// file, the command and the copy in kernel memory), for a driver core that can take its
    /// arguments from kernel memory: no scratch address space is needed, and the call stays
    /// in the caller's process. A call with a block its pointer leads to (the driver reads
    /// that block from user memory) still goes through the worker, in the scratch address
    /// space.
    pub(crate) fn run_on_copy(
        &mut self,
        call_on_copy: impl FnOnce(*mut bindings::file, c_uint, &mut [u8; OUTER_MAX]) -> c_long,
    ) -> Result<c_long> {
        if self.indirect.iter().any(Option::is_some) {
            return self.run();
        }
        Ok(call_on_copy(self.real.as_ptr(), self.cmd, &mut self.outer))
    }

    /// The ioctl's result for the caller of a call at `ptr` that returned `ret`: on success
    /// the driver's answer is written back first.
    pub(crate) fn answer(&self, ptr: usize, ret: c_long) -> Result<c_long> {
        if ret == 0 {
            self.write_back(ptr)?;
        }
        Ok(ret)
    }

    /// Writes the driver's answer back to the caller: the struct at `ptr` and each block
    /// it points to.
    pub(crate) fn write_back(&self, ptr: usize) -> Result {
        user_write(ptr, self.outer())?;
        for ind in self.indirect.iter().flatten() {
            user_write(
                usize::try_from(ind.original).map_err(|_| EFAULT)?,
                &ind.data,
            )?;
        }
        Ok(())
    }
}

/// Where the worker lays out a call's copy: `base` is the user address the driver gets,
/// `len` the bytes there; the copy is written and read there, or through `kernel` if set
/// (the sealed page).
struct Slot {
    base: usize,
    len: usize,
    kernel: *mut u8,
}

impl Slot {
    /// The `len` bytes at `offset` through the kernel address, if they fit in the page.
    fn kernel_range(&self, offset: usize, len: usize) -> Result<*mut u8> {
        if offset.checked_add(len).ok_or(EINVAL)? > self.len {
            return Err(EINVAL);
        }
        // SAFETY: `kernel` is the sealed page's kernel address, `self.len` bytes long
        // (`SEALED_SLOT_SIZE`, one page), and `offset + len` is within it.
        Ok(unsafe { self.kernel.add(offset) })
    }

    fn write(&self, offset: usize, data: &[u8]) -> Result {
        if self.kernel.is_null() {
            return user_write(self.base + offset, data);
        }
        let to = self.kernel_range(offset, data.len())?;
        // SAFETY: `to` has `data.len()` bytes of the worker's own page (`kernel_range`),
        // which only this call uses while it runs; `data` is ours and does not overlap it.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), to, data.len()) };
        Ok(())
    }

    fn read(&self, offset: usize, out: &mut [u8]) -> Result {
        if self.kernel.is_null() {
            return user_read(self.base + offset, out);
        }
        let from = self.kernel_range(offset, out.len())?;
        // SAFETY: as in `write`; the driver has returned, so nothing writes the page now
        // (only the worker may, see `sealed_page.c`).
        unsafe { core::ptr::copy_nonoverlapping(from, out.as_mut_ptr(), out.len()) };
        Ok(())
    }
}

/// The worker side of [`PrivateCall::run`]: lays the copies out in the worker's slot (of
/// fakegpu's scratch mm, or its sealed page in the caller's mm), calls the driver on them,
/// and reads its answer back.
///
/// # Safety
///
/// `ctx` is the `PrivateCall` of `run`, which waits for this to return; `base` is the
/// worker's slot, mapped in the mm this runs with and used by no other call, and `kbase`
/// null or the kernel address of that slot's page.
unsafe extern "C" fn private_job(ctx: *mut c_void, base: usize, kbase: *mut c_void) {
    // SAFETY: per the contract, `ctx` is the caller's `PrivateCall`, lent until we return.
    let call = unsafe { &mut *ctx.cast::<PrivateCall<'_>>() };
    let mut installed = Installed::new();
    let slot = Slot {
        base,
        len: match call.space {
            _ if !kbase.is_null() => SEALED_SLOT_SIZE,
            PrivateSpace::Governor => governor_slot_size(),
            _ => scratch_slot_size(),
        },
        kernel: kbase.cast(),
    };
    let result = (|| -> Result<c_long> {
        if base == 0 {
            // No sealed page could be made in the caller's mm.
            return Err(ENOMEM);
        }
        if let Some(files) = &call.files {
            installed.install_set(files)?;
        }
        let mut outer = call.outer;
        for fd in call.fds.iter().flatten() {
            let number = match &fd.file {
                Some(file) => installed.install(file)?,
                None => -1,
            };
            if let Some(field) = outer.get_mut(fd.at..fd.at + 4) {
                field.copy_from_slice(&number.to_ne_bytes());
            }
        }
        let at = layout(&call.indirect, slot.len).ok_or(EINVAL)?;
        for (ind, &offset) in call.indirect.iter().zip(&at) {
            let Some(ind) = ind else { continue };
            let addr = if ind.data.is_empty() {
                FAULTING_ADDRESS
            } else {
                slot.write(offset, &ind.data)?;
                (base + offset) as u64
            };
            if let Some(field) = outer.get_mut(ind.at..ind.at + 8) {
                field.copy_from_slice(&addr.to_ne_bytes());
            }
        }
        slot.write(0, outer.get(..call.outer_len).ok_or(EINVAL)?)?;
        // SAFETY: as the VFS would call it on the real file; the parameters are in the
        // mm this worker runs with.
        let ret =
            unsafe { (call.ioctl)(call.real.as_ptr(), call.cmd, base as kernel::ffi::c_ulong) };
        slot.read(0, call.outer.get_mut(..call.outer_len).ok_or(EINVAL)?)?;
        for (ind, &offset) in call.indirect.iter_mut().zip(&at) {
            let Some(ind) = ind else { continue };
            if !ind.data.is_empty() {
                slot.read(offset, &mut ind.data)?;
            }
        }
        Ok(ret)
    })();
    // The worker's fds close as `installed` drops, before the rwsem is let go.
    drop(installed);
    call.ret = result.unwrap_or_else(|e| e.to_errno() as c_long);
}
