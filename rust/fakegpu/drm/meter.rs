// SPDX-License-Identifier: GPL-2.0

//! Metering of DRM buffer objects (vgem, virtio-gpu, any driver with dumb buffers): each
//! buffer-creating call through a fake DRM node (DRM_IOCTL_MODE_CREATE_DUMB on any driver,
//! virtio-gpu's RESOURCE_CREATE and RESOURCE_CREATE_BLOB) is charged to the caller's cgroups
//! (`drm.memory.*` in their entries), at the size of the driver's own GEM object, and stays
//! charged for as long as the object lives, however it is kept alive (handles in any file,
//! a dma-buf, a mapping).
//!
//! The call is made on a private copy (`proxy/private_call.rs`), so the handle fakegpu looks up is
//! the one the driver created. fakegpu then holds a reference on the object; when that
//! reference is the last one, the object would have been freed, and the meter drops the
//! charge and lets go (after a fake file's ioctl or release, and once a second).

use super::Drm;
use crate::abi::drm::{
    buffer_creation, is_submission, least_buffer_size, BufferCreation, DRM_IOCTL_GEM_CLOSE,
    DRM_IOCTL_MODE_DESTROY_DUMB,
};
use crate::abi::pod::read_pod;
use crate::policy::drm_filter;
use crate::policy::ledger;
use crate::policy::ledger::Resource;
use crate::proxy::accounts::{Chain, ChargeRoom};
use crate::proxy::cgroup::Cgroup;
use crate::proxy::cgroups::WithAccounts;
use crate::proxy::personality::{FakeFile, IoctlFn};
use crate::proxy::private_call::{PrivateCall, OUTER_MAX};
use crate::proxy::refusal::log_refusal;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;
use kernel::rbtree::RBTree;

extern "C" {
    fn fakegpu_gem_lookup(file: *mut c_void, handle: u32) -> *mut c_void;
    fn fakegpu_gem_size(obj: *mut c_void) -> usize;
    fn fakegpu_gem_refs(obj: *mut c_void) -> kernel::ffi::c_uint;
    fn fakegpu_gem_put(obj: *mut c_void);
    fn fakegpu_drm_driver_name(file: *mut c_void, buf: *mut u8, len: usize) -> kernel::ffi::c_int;
    fn fakegpu_now_ns() -> u64;
    fn fakegpu_sleep_interruptible(ms: kernel::ffi::c_uint) -> kernel::ffi::c_ulong;
    /// A DRM ioctl in the calling task on a kernel copy of its arguments (`shim.c`).
    fn fakegpu_drm_ioctl_copy(
        file: *mut c_void,
        cmd: c_uint,
        kdata: *mut c_void,
        len: usize,
    ) -> c_long;
}

/// A reference on a GEM object, dropped on drop.
///
/// INVARIANT: `obj` is a `struct drm_gem_object *` on which this value holds one reference.
pub(crate) struct GemRef {
    obj: NonNull<c_void>,
}

// SAFETY: a GEM object reference may be used and dropped from any task.
unsafe impl Send for GemRef {}
// SAFETY: the methods only read the object's size and reference count.
unsafe impl Sync for GemRef {}

impl GemRef {
    /// The object behind `handle` of the real DRM file of `fake`.
    fn lookup(fake: &FakeFile, handle: u32) -> Option<Self> {
        // SAFETY: the real file is an open DRM file; the lookup takes a reference.
        let obj = unsafe { fakegpu_gem_lookup(fake.real.as_ptr().cast(), handle) };
        // INVARIANT: a non-NULL result carries a reference.
        NonNull::new(obj).map(|obj| GemRef { obj })
    }

    /// The object's size in bytes, as the driver allocated it.
    fn size(&self) -> u64 {
        // SAFETY: referenced, by the type invariant.
        unsafe { fakegpu_gem_size(self.obj.as_ptr()) as u64 }
    }

    /// Whether this is the last reference: nothing but fakegpu keeps the object.
    pub(crate) fn is_last(&self) -> bool {
        // SAFETY: referenced, by the type invariant.
        unsafe { fakegpu_gem_refs(self.obj.as_ptr()) <= 1 }
    }

    /// The object's identity, for the mirror.
    pub(crate) fn key(&self) -> usize {
        self.obj.as_ptr() as usize
    }
}

impl Drop for GemRef {
    fn drop(&mut self) {
        // SAFETY: the reference this value holds; the last put frees the object, which the
        // driver allows from any process context.
        unsafe { fakegpu_gem_put(self.obj.as_ptr()) };
    }
}

/// Room for one buffer object held, taken before the driver call so that recording its
/// outcome cannot fail.
type GemRoom = kernel::rbtree::RBTreeNodeReservation<usize, (GemRef, u64)>;

/// Each metered buffer object, with a reference, and its charge.
pub(crate) struct GemTable {
    gem: RBTree<usize, (GemRef, u64)>,
}

impl GemTable {
    /// None held.
    pub(crate) fn new() -> Self {
        GemTable { gem: RBTree::new() }
    }
}

/// The buffer table and the core's accounts, locked together (the table first).
type Locked<'a> = WithAccounts<'a, GemTable>;

impl Drm {
    /// The buffer table and the accounts, locked in that order. No call into the driver is
    /// made while they are held.
    fn lock(&self) -> Locked<'static> {
        self.cgroups.lock_with(self.gem)
    }
}

impl Locked<'_> {
    /// Holds `obj` with charge `id` until only fakegpu keeps it; gives it back if the table
    /// holds it already. `room` was taken before the driver call.
    fn hold_gem(
        &mut self,
        room: GemRoom,
        obj: GemRef,
        id: u64,
    ) -> core::result::Result<(), GemRef> {
        let key = obj.key();
        if self.records.gem.get(&key).is_some() {
            return Err(obj);
        }
        self.hold_charge(id);
        self.records.gem.insert(room.into_node(key, (obj, id)));
        Ok(())
    }

    /// Drops the charges of buffer objects only fakegpu still keeps, returning those
    /// references to drop unlocked.
    fn sweep(&mut self) -> KVec<GemRef> {
        let mut gem = KVec::new();
        loop {
            let last = self
                .records
                .gem
                .iter()
                .find(|(_, (obj, _))| obj.is_last())
                .map(|(&k, _)| k);
            let Some((obj, id)) = last.and_then(|k| self.records.gem.remove(&k)) else {
                break;
            };
            self.release_charge(id);
            // On failure the reference drops here: the object is then freed under the lock,
            // which takes no lock of fakegpu's.
            let _ = gem.push(obj, GFP_KERNEL);
        }
        gem
    }
}

/// Lets go of the buffer objects only fakegpu still keeps, and uncharges them (after a
/// fake file's ioctl or release, and once a second).
pub(crate) fn sweep(drm: &Drm) {
    // The references drop after the locks are released.
    let released = drm.lock().sweep();
    drop(released);
}

/// The name of the DRM driver behind `fake`'s real file, into `buf` ("virtio_gpu", "vgem").
fn driver_name<'a>(fake: &FakeFile, buf: &'a mut [u8; 32]) -> &'a [u8] {
    // SAFETY: the real file is an open DRM file; `buf` is writable for its length.
    let n =
        unsafe { fakegpu_drm_driver_name(fake.real.as_ptr().cast(), buf.as_mut_ptr(), buf.len()) };
    match usize::try_from(n) {
        Ok(n) => buf.get(..n).unwrap_or(&[]),
        Err(_) => &[],
    }
}

/// An ioctl on a fake DRM node: buffer creation is metered; submissions are counted and
/// rate-limited; buffer releases are followed by the meter; the rest is forwarded as it is.
pub(crate) fn ioctl(fake: &FakeFile, ioctl: IoctlFn, cmd: c_uint, arg: usize) -> c_long {
    let Some(drm) = Drm::get() else {
        return ENXIO.to_errno() as c_long;
    };
    // Driver-specific ioctls (DRM_COMMAND_BASE up to DRM_COMMAND_END) depend on the driver.
    let mut name = [0u8; 32];
    let driver = if (0x40..0xa0).contains(&crate::abi::ioc::decode(cmd).nr) {
        driver_name(fake, &mut name)
    } else {
        &[]
    };
    if let Err(e) = filter(fake, cmd, arg) {
        return e.to_errno() as c_long;
    }
    if let Some(creation) = buffer_creation(driver, cmd) {
        return create_buffer(fake, ioctl, cmd, arg, creation, &drm)
            .unwrap_or_else(|e| e.to_errno() as c_long);
    }
    if is_submission(driver, cmd) {
        if let Err(e) = submission(&drm) {
            return e.to_errno() as c_long;
        }
    }
    // SAFETY: as the VFS would call it on the real file; the driver validates `arg`.
    let ret = unsafe { ioctl(fake.real.as_ptr(), cmd, arg as kernel::ffi::c_ulong) };
    if cmd == DRM_IOCTL_GEM_CLOSE || cmd == DRM_IOCTL_MODE_DESTROY_DUMB {
        sweep(&drm);
    }
    ret
}

/// Refuses what `policy::drm_filter` refuses (EINVAL, and a rate-limited log line).
///
/// The check reads the caller's memory, which the DRM core then reads again: a sibling
/// thread that raises the count in between gets past it and meets the core's own limits
/// (its allocation warns once per boot and fails). A kernel copy would close that, but the
/// core's ioctl table is not reachable from a module.
fn filter(fake: &FakeFile, cmd: c_uint, arg: usize) -> Result {
    let mut head = [0u8; 32];
    let head = head.get_mut(..drm_filter::head_needed(cmd)).ok_or(EINVAL)?;
    if head.is_empty() {
        return Ok(());
    }
    crate::compat::user_slice(arg, head.len())
        .reader()
        .read_slice(head)?;
    if drm_filter::refused(cmd, head) {
        log_refusal(fake, cmd, "a syncobj array larger than fakegpu passes");
        return Err(EINVAL);
    }
    Ok(())
}

/// The monotonic clock, in ns.
pub(crate) fn now_ns() -> u64 {
    // SAFETY: reads the monotonic clock.
    unsafe { fakegpu_now_ns() }
}

/// Counts a submission against the caller's cgroups, first waiting (interruptibly) while
/// any of them is over its submission rate.
fn submission(drm: &Drm) -> Result {
    let cgroup = Cgroup::current().ok_or(ENOMEM)?;
    let mut waited = false;
    loop {
        let wait_ns = {
            let mut acc = drm.cgroups.lock();
            let chain = acc.chain_of(&cgroup)?;
            let now = now_ns();
            let mut levels = Chain {
                entries: &mut acc.entries,
                chain: &chain,
            };
            let mut wait = 0;
            ledger::for_each(&mut levels, |u| wait = wait.max(u.submit_rate.wait_ns(now)));
            ledger::for_each(&mut levels, |u| {
                if wait == 0 {
                    u.submit_rate.take(now);
                    u.submissions = u.submissions.saturating_add(1);
                } else if !waited {
                    u.throttled = u.throttled.saturating_add(1);
                }
            });
            wait
        };
        if wait_ns == 0 {
            return Ok(());
        }
        waited = true;
        let ms = u32::try_from(wait_ns.div_ceil(1_000_000))
            .unwrap_or(u32::MAX)
            .max(1);
        // SAFETY: sleeps the calling task; no lock of fakegpu's is held.
        if unsafe { fakegpu_sleep_interruptible(ms) } != 0 {
            // A signal: the system call restarts (or fails with EINTR) as the task's
            // handler decides, and the submission is not counted.
            return Err(ERESTARTSYS);
        }
    }
}

/// A buffer-creating ioctl (`creation`) through a fake node, metered.
pub(crate) fn create_buffer(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    arg: usize,
    creation: BufferCreation,
    drm: &Drm,
) -> Result<c_long> {
    let mut call = PrivateCall::new(fake, ioctl, cmd, arg, creation.arg_size)?;
    if let Some((pointer_at, len_at)) = creation.block {
        let len = call.outer().get(len_at..).and_then(read_pod::<u32>);
        call.follow(pointer_at, len.unwrap_or(0) as usize)?;
    }
    let cgroup = Cgroup::current().ok_or(ENOMEM)?;
    // Everything recording the outcome needs is allocated before the driver makes the
    // buffer: afterwards a failed allocation would leave a buffer no charge covers.
    let chain = drm.cgroups.lock().chain_of(&cgroup)?;
    let gem_room = GemRoom::new(GFP_KERNEL)?;
    let charge_room = ChargeRoom::new(GFP_KERNEL)?;
    let (pending, charge_room, chain) = match least_buffer_size(cmd, call.outer()) {
        Some(amount) => {
            let mut acc = drm.cgroups.lock();
            match acc.charge_in(charge_room, chain, Resource::Drm, amount, false) {
                Ok(id) => (Some(id), None, None),
                // The driver's own answer when it cannot allocate.
                Err(e) if e == ENOSPC => return Err(ENOMEM),
                Err(e) => return Err(e),
            }
        }
        // Let the driver refuse it; charged at its size once made.
        None => (None, Some(charge_room), Some(chain)),
    };
    let ret = call.run_on_copy(ioctl_on_copy);
    let made = call
        .outer()
        .get(creation.handle_at..)
        .and_then(read_pod::<u32>);
    let object = match (&ret, made) {
        (Ok(0), Some(handle)) => GemRef::lookup(fake, handle),
        _ => None,
    };
    let mut acc = drm.lock();
    let leftover = match object {
        Some(obj) => {
            // Charged at the object's size. A driver that took more than the limit allows
            // is let through (the object exists) and counted at its true size.
            let id = match (pending, charge_room, chain) {
                (Some(id), ..) => acc.resize_charge(id, obj.size(), true).map(|()| id),
                (None, Some(room), Some(chain)) => {
                    acc.charge_in(room, chain, Resource::Drm, obj.size(), true)
                }
                _ => Err(EINVAL),
            };
            match id {
                Ok(id) => match acc.hold_gem(gem_room, obj, id) {
                    Ok(()) => None,
                    Err(obj) => {
                        // Held already (never for a new buffer): the charge made here goes.
                        if pending.is_none() {
                            acc.release_charge_pending(id);
                        }
                        Some(obj)
                    }
                },
                Err(_) => Some(obj),
            }
        }
        None => None,
    };
    if let Some(id) = pending {
        acc.release_charge_pending(id);
    }
    drop(acc);
    // A reference the mirror could not take is dropped unlocked.
    drop(leftover);
    call.answer(arg, ret?)
}

/// A DRM ioctl in the calling task on fakegpu's kernel copy of its arguments: the DRM core
/// takes them from kernel memory (`drm_ioctl_kernel`). (The DRM core records the calling
/// process as the file's owner and waits for an RCU grace period whenever that changes: a
/// worker call between the caller's own calls on the file cost two, ~35 ms under TCG.)
fn ioctl_on_copy(real: *mut bindings::file, cmd: c_uint, copy: &mut [u8; OUTER_MAX]) -> c_long {
    // SAFETY: `real` is the real file of a fake DRM file, an open DRM file; `copy` is
    // writable for `OUTER_MAX` bytes, and the shim refuses an ioctl larger than that.
    unsafe { fakegpu_drm_ioctl_copy(real.cast(), cmd, copy.as_mut_ptr().cast(), OUTER_MAX) }
}
