// SPDX-License-Identifier: GPL-2.0

//! The kernel's dmem cgroup controller (6.14+, `dmem_shim.c`): device-memory regions a
//! personality registers, and charges to them that a charge record of the accounts
//! (`accounts.rs`) carries beside its own, so operators see and limit device memory through
//! the cgroup files their tools already write (`dmem.current`, `dmem.max`).
//!
//! dmem charges the cgroup of the *current* task: a [`DmemCharge`] is only made in the
//! allocating tenant's own task (an ioctl's), never in a worker or the reaper, which sit in
//! the root cgroup. It is uncharged when dropped, in whatever task drops it, so every path
//! that lets go of a charge record (a free, a parent's or client's free, a file release,
//! unload) gives the memory back to dmem too. Uncharging after the region is unregistered
//! is safe: each charged pool holds a reference on its region.

use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::prelude::*;

extern "C" {
    fn fakegpu_dmem_available() -> bool;
    fn fakegpu_dmem_register(size: u64, name: *const kernel::ffi::c_char) -> *mut c_void;
    fn fakegpu_dmem_unregister(region: *mut c_void);
    fn fakegpu_dmem_try_charge(region: *mut c_void, size: u64, pool: *mut *mut c_void) -> i32;
    fn fakegpu_dmem_uncharge(pool: *mut c_void, size: u64);
    fn fakegpu_dmem_put(pool: *mut c_void);
}

/// Whether the running kernel has the dmem controller (CONFIG_CGROUP_DMEM).
pub(crate) fn available() -> bool {
    // SAFETY: reads a build-time constant.
    unsafe { fakegpu_dmem_available() }
}

/// A registered dmem region, unregistered on drop.
///
/// # Invariants
///
/// `0` is a region `fakegpu_dmem_register` returned and nothing has unregistered.
pub(crate) struct Region(NonNull<c_void>);

// SAFETY: a region is an object of the dmem core, which locks it itself; fakegpu only passes
// the pointer to dmem's calls, from any task.
unsafe impl Send for Region {}
// SAFETY: as for `Send`: shared use is only calls into dmem, which serialises them.
unsafe impl Sync for Region {}

impl Region {
    /// Registers region `name` of `size` bytes: `None` (logged by the shim) on a kernel
    /// without dmem or if dmem cannot take it.
    pub(crate) fn register(size: u64, name: &CStr) -> Option<Self> {
        if !available() || size == 0 {
            return None;
        }
        // SAFETY: `name` is NUL-terminated; dmem copies it.
        let region = unsafe { fakegpu_dmem_register(size, name.as_char_ptr()) };
        // INVARIANT: a non-null pointer is a region the shim registered.
        NonNull::new(region).map(Region)
    }

    /// Charges `size` bytes of this region to the current task's cgroup: `ENOSPC` past a
    /// `dmem.max` of that cgroup or an ancestor.
    pub(crate) fn try_charge(&self, size: u64) -> Result<DmemCharge> {
        let mut pool = core::ptr::null_mut();
        // SAFETY: the region is registered (type invariant); `pool` is writable.
        let ret = unsafe { fakegpu_dmem_try_charge(self.0.as_ptr(), size, &mut pool) };
        if ret == EAGAIN.to_errno() {
            return Err(ENOSPC);
        }
        kernel::error::to_result(ret)?;
        // INVARIANT: on success the shim set `pool`, charged with `size` and one reference.
        let pool = NonNull::new(pool).ok_or(ENOMEM)?;
        Ok(DmemCharge {
            region: self.0,
            pool,
            amount: size,
        })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant), unregistered once, here.
        unsafe { fakegpu_dmem_unregister(self.0.as_ptr()) };
    }
}

/// `amount` bytes charged to one dmem pool (a cgroup's share of a region), uncharged on
/// drop.
///
/// # Invariants
///
/// `pool` holds one reference and `amount` bytes charged, both given back exactly once (on
/// drop); `region` is the registered region `pool` belongs to, used only to grow the charge,
/// which happens in an ioctl while the module (so the region) is loaded.
pub(crate) struct DmemCharge {
    region: NonNull<c_void>,
    pool: NonNull<c_void>,
    amount: u64,
}

// SAFETY: a charge is a counted reference on a dmem pool, which dmem's own locking guards;
// uncharging from another task is what dmem's API is for.
unsafe impl Send for DmemCharge {}

impl DmemCharge {
    /// Changes the charge to `amount` bytes, in the current task (the allocating tenant's,
    /// once the driver has said what it took): `ENOSPC` if more is past a `dmem.max`, and
    /// the charge is then unchanged. Less never fails.
    pub(crate) fn resize(&mut self, amount: u64) -> Result {
        if amount > self.amount {
            let mut pool = core::ptr::null_mut();
            // SAFETY: the region is registered while a resize can run (type invariant).
            let ret = unsafe {
                fakegpu_dmem_try_charge(self.region.as_ptr(), amount - self.amount, &mut pool)
            };
            if ret == EAGAIN.to_errno() {
                return Err(ENOSPC);
            }
            kernel::error::to_result(ret)?;
            if pool == self.pool.as_ptr() {
                // The same cgroup: one charge of the sum, one reference.
                // SAFETY: the try_charge above gave this extra reference.
                unsafe { fakegpu_dmem_put(pool) };
                self.amount = amount;
                return Ok(());
            }
            // The task moved to another cgroup meanwhile: give that back and charge the
            // whole anew below, where the task is now.
            // SAFETY: exactly what the try_charge above charged, with its reference.
            unsafe { fakegpu_dmem_uncharge(pool, amount - self.amount) };
        }
        if amount == self.amount {
            return Ok(());
        }
        let shrinking = amount < self.amount;
        // dmem has no partial uncharge that keeps the reference: charge the new size, then
        // give the old charge back.
        let mut pool = core::ptr::null_mut();
        // SAFETY: as above.
        let ret = unsafe { fakegpu_dmem_try_charge(self.region.as_ptr(), amount, &mut pool) };
        let Some(pool) = NonNull::new(pool).filter(|_| ret == 0) else {
            // A shrink never fails: the old, larger charge stays (a lowered dmem.max
            // refused the momentary double charge).
            return match ret {
                _ if shrinking => Ok(()),
                r if r == EAGAIN.to_errno() => Err(ENOSPC),
                r => kernel::error::to_result(r).and(Err(ENOMEM)),
            };
        };
        // SAFETY: the old charge and its reference, given back once (type invariant).
        unsafe { fakegpu_dmem_uncharge(self.pool.as_ptr(), self.amount) };
        // INVARIANT: the new pool holds the new charge and its reference.
        self.pool = pool;
        self.amount = amount;
        Ok(())
    }
}

impl Drop for DmemCharge {
    fn drop(&mut self) {
        // SAFETY: the charge and its reference, given back once (type invariant).
        unsafe { fakegpu_dmem_uncharge(self.pool.as_ptr(), self.amount) };
    }
}
