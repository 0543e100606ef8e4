// SPDX-License-Identifier: GPL-2.0

//! Metering of NVIDIA allocations per cgroup: GPU memory per GPU, pinned host memory, and
//! channels per GPU, charged to the allocating task's cgroup and its ancestors (those with
//! an entry, see `proxy/accounts.rs`) and held to their limits.
//!
//! fakegpu keeps a mirror of the RM objects made through it (client, handle, parent, and the
//! charge an object holds) so it can follow the driver's frees: RM_FREE of the object, of a
//! parent or of the whole client, and the driver's own freeing of every client of an
//! nvidiactl file when that file is released (on close, or at process death). The calls that
//! create, free or duplicate objects are made on fakegpu's private copy of their parameters
//! (`proxy/private_call.rs`), so the mirror records what the driver did, not what a racing
//! tenant rewrote.
//!
//! The mirror has a lock of its own, always taken before the core's accounts lock and held
//! with it ([`Locked`]), so a charge and the record of the object holding it change together.
//!
//! A charge stays with the cgroup that allocated, whoever frees it, like memcg's.

use super::fd_translation::caller_gpu_files;
use super::units::{Unit, UnitKind};
use super::userd::Userd;
use super::Nv;
use crate::abi::nv_rm::{class, vid_heap, Nvos00, Nvos02WithFd, Nvos21, Nvos55, Nvos64};
use crate::abi::nv_status::*;
use crate::abi::pod::read_pod;
use crate::policy::gpu_set::Visibility;
use crate::policy::ledger::{self, Resource};
use crate::policy::nv_caps::{self, Capabilities};
use crate::policy::nv_meter::{self, Allocation, VidHeapCall};
use crate::policy::nv_proxy;
use crate::policy::nv_visibility::device_alloc_allowed;
use crate::proxy::cgroup::Cgroup;
use crate::proxy::cgroups::WithAccounts;
use crate::proxy::personality::{FakeFile, IoctlFn};
use crate::proxy::private_call::PrivateCall;
use crate::proxy::real_devices::RealFile;
use crate::proxy::refusal::log_refusal;
use crate::proxy::task::global_tgid;
use crate::proxy::worker::CredRef;
use core::mem::{offset_of, size_of};
use core::ptr::NonNull;
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;
use kernel::rbtree::RBTree;

extern "C" {
    // `struct file *` passes as `void *` (see `proxy/task.rs` on rustc's FFI lint).
    fn fakegpu_file_count(file: *mut core::ffi::c_void) -> core::ffi::c_long;
}

/// The key of object `handle` of `client` in the mirror.
pub(crate) fn key(client: u32, handle: u32) -> u64 {
    (u64::from(client) << 32) | u64::from(handle)
}

/// An RM object made through fakegpu.
struct Obj {
    parent: u32,
    /// For a device: its GPU slot (the RM's device instance).
    gpu: Option<usize>,
    /// The charge it holds (memory, or a channel), shared by its duplicates.
    charge: Option<u64>,
    /// Objects recorded below it.
    children: u32,
}

/// The mirror of the RM objects made through fakegpu.
pub(crate) struct Mirror {
    objs: RBTree<u64, Obj>,
    /// Each client's nvidiactl file (its address, the key of `owners`).
    clients: RBTree<u32, usize>,
    /// A reference on each nvidiactl file that has clients: the driver frees them when the
    /// file is released, which fakegpu sees as its reference being the last one.
    owners: RBTree<usize, RealFile>,
    /// The channel groups and lone channels the governor schedules, by [`key`].
    pub(crate) units: RBTree<u64, Unit>,
    /// Per GPU slot: whether the governor holds its units to limits (then a tenant's own
    /// scheduling controls are only recorded).
    pub(crate) governed: [bool; ledger::MAX_GPUS],
    /// A subdevice of each device that has one, by the device's [`key`]: where the governor
    /// reads the GPU's utilisation samples, on a tenant's own objects.
    subdevices: RBTree<u64, u32>,
    /// The channels whose GPGet the governor reads, by [`key`] (`submissions.rs`).
    pub(crate) userds: RBTree<u64, Userd>,
    /// Their mappings once the channel is gone, by scratch address, for the governor to
    /// unmap (moved from `userds` without allocating).
    pub(crate) stale_userds: RBTree<u64, Userd>,
}

impl Mirror {
    /// An empty mirror.
    pub(crate) fn new() -> Self {
        Mirror {
            objs: RBTree::new(),
            clients: RBTree::new(),
            owners: RBTree::new(),
            units: RBTree::new(),
            governed: [false; ledger::MAX_GPUS],
            subdevices: RBTree::new(),
            userds: RBTree::new(),
            stale_userds: RBTree::new(),
        }
    }
}

impl Mirror {
    /// Stops counting the submissions of `channel` (its [`key`]), if they were.
    pub(crate) fn unwatch(&mut self, channel: u64) {
        super::userd::unwatch(&mut self.userds, &mut self.stale_userds, channel);
    }
}

/// The mirror and the core's accounts, locked together (the mirror first).
pub(crate) type Locked<'a> = WithAccounts<'a, Mirror>;

impl Nv {
    /// The mirror and the accounts, locked in that order. No call into the driver is made
    /// while they are held.
    pub(crate) fn lock(&self) -> Locked<'static> {
        self.cgroups.lock_with(self.mirror)
    }
}

impl Locked<'_> {
    /// The device object `handle` of `client` is, or is below.
    pub(crate) fn device_of(&self, client: u32, mut handle: u32) -> Option<u32> {
        for _ in 0..64 {
            let obj = self.records.objs.get(&key(client, handle))?;
            if obj.gpu.is_some() {
                return Some(handle);
            }
            if obj.parent == handle || obj.parent == 0 {
                return None;
            }
            handle = obj.parent;
        }
        None
    }

    /// The GPU slot of the device `handle` of `client` is, or is below.
    pub(crate) fn gpu_of(&self, client: u32, handle: u32) -> Option<usize> {
        let device = self.device_of(client, handle)?;
        self.records.objs.get(&key(client, device))?.gpu
    }

    /// The recorded parent of `handle` of `client`.
    pub(crate) fn parent_of(&self, client: u32, handle: u32) -> Option<u32> {
        Some(self.records.objs.get(&key(client, handle))?.parent)
    }

    /// The charge `handle` of `client` holds, if it is recorded with one.
    pub(crate) fn charge_of(&self, client_handle: u64) -> Option<u64> {
        self.records.objs.get(&client_handle)?.charge
    }

    /// Records a new object (replacing a stale record of the same handle).
    fn record(
        &mut self,
        client: u32,
        handle: u32,
        parent: u32,
        gpu: Option<usize>,
        charge: Option<u64>,
    ) -> Result {
        self.forget(client, handle);
        if let Some(id) = charge {
            self.hold_charge(id);
        }
        let obj = Obj {
            parent,
            gpu,
            charge,
            children: 0,
        };
        if let Err(e) =
            self.records
                .objs
                .try_create_and_insert(key(client, handle), obj, GFP_KERNEL)
        {
            if let Some(id) = charge {
                self.release_charge(id);
            }
            return Err(e);
        }
        if parent != handle {
            if let Some(p) = self.records.objs.get_mut(&key(client, parent)) {
                p.children += 1;
            }
        }
        Ok(())
    }

    /// Removes one object's record (and its unit) and releases its charge.
    fn forget(&mut self, client: u32, handle: u32) {
        self.records.units.remove(&key(client, handle));
        self.records.unwatch(key(client, handle));
        let Some(obj) = self.records.objs.remove(&key(client, handle)) else {
            return;
        };
        let device = key(client, obj.parent);
        if self.records.subdevices.get(&device) == Some(&handle) {
            self.records.subdevices.remove(&device);
        }
        if obj.parent != handle {
            if let Some(p) = self.records.objs.get_mut(&key(client, obj.parent)) {
                p.children = p.children.saturating_sub(1);
            }
        }
        if let Some(id) = obj.charge {
            self.release_charge(id);
        }
    }

    /// Notes subdevice `handle` of `client`, made under device `parent`.
    fn note_subdevice(&mut self, client: u32, handle: u32, parent: u32) -> Result {
        if self.records.subdevices.get(&key(client, parent)).is_none() {
            self.records.subdevices.try_create_and_insert(
                key(client, parent),
                handle,
                GFP_KERNEL,
            )?;
        }
        Ok(())
    }

    /// A subdevice of the device object `handle` of `client` is, or is below, if one was
    /// made through fakegpu.
    pub(crate) fn subdevice_for(&self, client: u32, mut handle: u32) -> Option<u32> {
        for _ in 0..64 {
            if let Some(&sub) = self.records.subdevices.get(&key(client, handle)) {
                return Some(sub);
            }
            let obj = self.records.objs.get(&key(client, handle))?;
            if obj.parent == handle || obj.parent == 0 {
                return None;
            }
            handle = obj.parent;
        }
        None
    }

    /// Whether `h` of `client` is `handle` or below it, by the recorded chain of parents.
    fn is_below(&self, client: u32, h: u32, handle: u32) -> bool {
        let mut cur = h;
        for _ in 0..64 {
            if cur == handle {
                return true;
            }
            match self.records.objs.get(&key(client, cur)) {
                Some(o) if o.parent != cur && o.parent != 0 => cur = o.parent,
                _ => return false,
            }
        }
        false
    }

    /// The first recorded handle of `client` from `from` on, in handle order.
    fn next_handle(&mut self, client: u32, from: u32) -> Option<u32> {
        // The cursor borrows the tree mutably (6.12's only lookup by bound), so only the key
        // leaves this block.
        let k = *self
            .records
            .objs
            .cursor_lower_bound(&key(client, from))?
            .current()
            .0;
        ((k >> 32) as u32 == client).then_some(k as u32)
    }

    /// The first recorded handle of `client` that `accept` takes, in handle order.
    fn first_of(&mut self, client: u32, accept: impl Fn(&Self, u32) -> bool) -> Option<u32> {
        let mut from = 0;
        loop {
            let h = self.next_handle(client, from)?;
            if accept(self, h) {
                return Some(h);
            }
            from = h.checked_add(1)?;
        }
    }

    /// The handles of `client` at or below `handle`, listed before any is forgotten (a
    /// forgotten record breaks the chains through it).
    fn below(&mut self, client: u32, handle: u32) -> Result<KVec<u32>> {
        let mut out = KVec::new();
        let mut from = 0;
        while let Some(h) = self.next_handle(client, from) {
            if self.is_below(client, h, handle) {
                out.push(h, GFP_KERNEL)?;
            }
            match h.checked_add(1) {
                Some(next) => from = next,
                None => break,
            }
        }
        Ok(out)
    }

    /// Follows the driver's free of `handle` of `client`: the object and everything below it
    /// (the whole client if `handle` is the client). Never fails: the driver has freed them,
    /// so their charges must go whatever memory is left.
    fn freed(&mut self, client: u32, handle: u32) {
        if handle == client {
            while let Some(h) = self.next_handle(client, 0) {
                self.forget(client, h);
            }
            self.records.clients.remove(&client);
            return;
        }
        let leaf = self
            .records
            .objs
            .get(&key(client, handle))
            .is_some_and(|o| o.children == 0);
        if !leaf {
            match self.below(client, handle) {
                Ok(handles) => {
                    for &h in handles.iter() {
                        self.forget(client, h);
                    }
                }
                // No memory for the list: leaves first, which keeps every chain whole.
                Err(_) => {
                    while let Some(h) = self.first_of(client, |acc, h| {
                        h != handle
                            && acc
                                .records
                                .objs
                                .get(&key(client, h))
                                .is_some_and(|o| o.children == 0)
                            && acc.is_below(client, h, handle)
                    }) {
                        self.forget(client, h);
                    }
                }
            }
        }
        self.forget(client, handle);
    }

    /// The nvidiactl file `client` was made on (its address), if fakegpu records it.
    pub(crate) fn owner_of(&self, client: u32) -> Option<usize> {
        self.records.clients.get(&client).copied()
    }

    /// A new reference on the nvidiactl file `client` was made on, if fakegpu records it.
    pub(crate) fn owner_file(&self, client: u32) -> Option<RealFile> {
        let file = self.records.owners.get(&self.owner_of(client)?)?;
        let ptr = NonNull::new(file.as_ptr())?;
        // SAFETY: the mirror's reference keeps the file open while we add ours.
        Some(unsafe { RealFile::new_ref(ptr) })
    }

    /// Whether an RM_FREE of `handle` of `client` frees something fakegpu tracks.
    pub(crate) fn tracks(&self, client: u32, handle: u32) -> bool {
        self.records.objs.get(&key(client, handle)).is_some()
    }

    /// Drops the clients of every nvidiactl file that only fakegpu still holds (the driver
    /// frees them when fakegpu lets go), returning those file references to drop unlocked.
    fn sweep(&mut self) -> KVec<RealFile> {
        let mut released = KVec::new();
        loop {
            let idle = self.records.owners.iter().find_map(|(&k, f)| {
                // SAFETY: `f` holds a reference on the file.
                (unsafe { fakegpu_file_count(f.as_ptr().cast()) } <= 1).then_some(k)
            });
            let Some(owner) = idle else { break };
            loop {
                let client = self
                    .records
                    .clients
                    .iter()
                    .find(|(_, &o)| o == owner)
                    .map(|(&c, _)| c);
                match client {
                    Some(c) => self.freed(c, c),
                    None => break,
                }
            }
            if let Some(file) = self.records.owners.remove(&owner) {
                // On failure the reference drops here, under the lock: the driver's release
                // then runs later (fput defers it), never inside this call.
                let _ = released.push(file, GFP_KERNEL);
            }
        }
        released
    }
}

/// The caller's cgroup, or ENOMEM-like failure if it cannot be had.
fn current_cgroup() -> Result<Cgroup> {
    Cgroup::current().ok_or(ENOMEM)
}

/// Writes RM status `status` at `offset` of the caller's parameters: a refusal in the
/// driver's own form (the ioctl succeeds).
fn refuse(ptr: usize, offset: usize, status: NvStatus) -> Result<c_long> {
    let addr = ptr.checked_add(offset).ok_or(EFAULT)?;
    crate::compat::user_slice(addr, 4)
        .writer()
        .write_slice(&status.to_ne_bytes())?;
    Ok(0)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes.get(at..).and_then(read_pod::<u32>).unwrap_or(0)
}

/// The status a refused charge of `r` gets: what the driver says when it runs out.
fn refusal_status(r: Resource) -> NvStatus {
    match r {
        Resource::Channels(_) | Resource::ChannelGroups(_) => NV_ERR_INSUFFICIENT_RESOURCES,
        Resource::Memory(_) | Resource::Pinned | Resource::Drm => NV_ERR_NO_MEMORY,
    }
}

/// The outcome of charging an allocation before the driver makes it.
enum Precharge {
    /// Charged (the charge and what it is of), or nothing to charge.
    Charged(Option<(u64, Resource)>),
    /// Refused with this RM status.
    Refused(NvStatus),
}

/// Charges `what`, to be made under `parent` of `client`, to the caller's cgroups: at least
/// what the driver will take (corrected once it answers).
fn precharge(nv: &Nv, client: u32, parent: u32, what: Allocation) -> Result<Precharge> {
    let cgroup = current_cgroup()?;
    let mut acc = nv.lock();
    let gpu = || acc.gpu_of(client, parent);
    let resource = match what {
        Allocation::VideoMemory { size } => {
            gpu().map(|g| (Resource::Memory(g), nv_meter::at_least_charged(size)))
        }
        Allocation::PinnedMemory { size } => {
            Some((Resource::Pinned, nv_meter::at_least_charged(size)))
        }
        Allocation::Channel => gpu().map(|g| (Resource::Channels(g), 1)),
        Allocation::ChannelGroup => gpu().map(|g| (Resource::ChannelGroups(g), 1)),
        Allocation::Client | Allocation::Device { .. } | Allocation::Other => {
            return Ok(Precharge::Charged(None))
        }
    };
    // A GPU object under a parent fakegpu never saw made: the driver's answer to a bad
    // parent.
    let Some((r, amount)) = resource else {
        return Ok(Precharge::Refused(NV_ERR_INVALID_OBJECT_PARENT));
    };
    let chain = acc.chain_of(&cgroup)?;
    // GPU memory is charged to the kernel's dmem controller too, in this task (the tenant's:
    // dmem charges the current task's cgroup). dmem takes only locks of its own and never
    // calls back, so it is charged under ours: both charges are made, or refused, together.
    let dmem = match super::dmem_regions::region_of(r) {
        Some(region) => match region.try_charge(amount) {
            Ok(c) => Some(c),
            Err(e) if e == ENOSPC => return Ok(Precharge::Refused(refusal_status(r))),
            Err(e) => return Err(e),
        },
        None => None,
    };
    match acc.charge(chain, r, amount, false, dmem) {
        Ok(id) => Ok(Precharge::Charged(Some((id, r)))),
        Err(e) if e == ENOSPC => Ok(Precharge::Refused(refusal_status(r))),
        Err(e) => Err(e),
    }
}

/// The layout of RM_ALLOC's two forms.
struct AllocLayout {
    status: usize,
    rights: Option<usize>,
}

/// A GPFIFO channel an RM_ALLOC made and fakegpu recorded: its handles and the allocation
/// parameters the driver took (fakegpu's copy), for what follows channels
/// (`submissions.rs`).
pub(crate) struct MadeChannel {
    pub(crate) client: u32,
    pub(crate) handle: u32,
    pub(crate) params: KVec<u8>,
}

/// RM_ALLOC (NVOS21 or NVOS64, by `size`), made on the private copy and metered (an OS
/// descriptor's in the caller's address space, see [`rm_alloc_memory`]); and the channel it
/// made, if it made one.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rm_alloc(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    size: usize,
    gpu_files: bool,
    visible: Visibility,
    nv: &Nv,
) -> (Result<c_long>, Option<MadeChannel>) {
    let mut made_channel = None;
    let ret = alloc_on_copy(
        fake,
        ioctl,
        cmd,
        ptr,
        (size, gpu_files, visible),
        nv,
        &mut made_channel,
    );
    (ret, made_channel)
}

/// [`rm_alloc`], which sets `made_channel` when it made a channel.
fn alloc_on_copy(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    (size, gpu_files, visible): (usize, bool, Visibility),
    nv: &Nv,
    made_channel: &mut Option<MadeChannel>,
) -> Result<c_long> {
    let layout = if size == size_of::<Nvos64>() {
        AllocLayout {
            status: offset_of!(Nvos64, status),
            rights: Some(offset_of!(Nvos64, p_rights_requested)),
        }
    } else {
        AllocLayout {
            status: offset_of!(Nvos21, status),
            rights: None,
        }
    };
    let mut call = PrivateCall::new(fake, ioctl, cmd, ptr, size)?;
    let (client, parent, class_id) = (
        u32_at(call.outer(), offset_of!(Nvos21, h_root)),
        u32_at(call.outer(), offset_of!(Nvos21, h_object_parent)),
        u32_at(call.outer(), offset_of!(Nvos21, h_class)),
    );
    let params_size = u32_at(
        call.outer(),
        if layout.rights.is_some() {
            offset_of!(Nvos64, params_size)
        } else {
            offset_of!(Nvos21, params_size)
        },
    );
    // The filter routed by the class in the caller's memory, which may have changed since:
    // its refusals are made again on the copy the driver will act on.
    if let Some((status, why)) = nv_proxy::alloc_refusal(class_id) {
        log_refusal(fake, class_id, why);
        return refuse(ptr, layout.status, status);
    }
    if lacks_capability(fake, nv, class_id) {
        return refuse(ptr, layout.status, NV_ERR_INSUFFICIENT_PERMISSIONS);
    }
    let params_at = offset_of!(Nvos21, p_alloc_parms);
    call.follow(
        params_at,
        nv_meter::alloc_copy_size(class_id, params_size, nv.family),
    )?;
    let sealed = nv_meter::alloc_pins_caller_pages(class_id);
    let asked_handle = u32_at(call.outer(), offset_of!(Nvos21, h_object_new));
    if sealed {
        // Its answer is not trusted (see `Made::answer_trusted`): the handle must be the
        // caller's own.
        if asked_handle == 0 {
            return refuse(ptr, layout.status, NV_ERR_INVALID_OBJECT_HANDLE);
        }
        call.in_caller_mm();
    }
    if let Some(at) = layout.rights {
        // RS_ACCESS_MASK: one 32-bit limb in 535.
        call.follow(at, 4)?;
    }
    let what = nv_meter::classify_alloc(class_id, call.block(params_at).unwrap_or(&[]));
    if gpu_files {
        // The driver walks the workers' shared fd table for a file of the GPU, and other
        // calls' files may be there: the GPU is checked here, on the copy, first.
        let (files, held) = caller_gpu_files(visible)?;
        if let Allocation::Device { device_id } = what {
            if !device_alloc_allowed(device_id, nv.cards, &visible, &held) {
                // What the driver answers when its walk finds no file of that GPU.
                return refuse(ptr, layout.status, NV_ERR_INSUFFICIENT_PERMISSIONS);
            }
        }
        call.with_files(files);
    }

    let pending = match precharge(nv, client, parent, what)? {
        Precharge::Charged(p) => p,
        Precharge::Refused(status) => return refuse(ptr, layout.status, status),
    };
    // Whether the parent is known now: if it is gone once the call returns, it was freed
    // (and the new object with it) while the call ran.
    let parent_known = what != Allocation::Client && nv.lock().tracks(client, parent);

    let ret = call.run();
    let mut handle = u32_at(call.outer(), offset_of!(Nvos21, h_object_new));
    if what == Allocation::Client && handle == 0 {
        // The RM may report a new client's handle in hRoot only.
        handle = u32_at(call.outer(), offset_of!(Nvos21, h_root));
    }
    // What the driver took, from its own answer in the private copy.
    let mut took = nv_meter::allocated_size(class_id, call.block(params_at).unwrap_or(&[]));
    if sealed {
        handle = asked_handle;
        took = None;
    }
    let made = Made {
        client,
        parent,
        handle,
        status_at: layout.status,
        pending,
        parent_known,
        took,
        answer_trusted: !sealed,
    };
    let answer = settle(fake, ioctl, ptr, &call, ret, made, nv, |acc| match what {
        Allocation::Client => {
            let owner = fake.real.as_ptr() as usize;
            let mut r = acc.record(handle, handle, handle, None, None);
            if r.is_ok() && acc.records.owners.get(&owner).is_none() {
                if let Some(real) = NonNull::new(fake.real.as_ptr()) {
                    // SAFETY: the fake file holds the real file open.
                    let file = unsafe { RealFile::new_ref(real) };
                    r = acc
                        .records
                        .owners
                        .try_create_and_insert(owner, file, GFP_KERNEL)
                        .map(drop);
                }
            }
            r.and_then(|()| {
                acc.records
                    .clients
                    .try_create_and_insert(handle, owner, GFP_KERNEL)
                    .map(drop)
            })
        }
        Allocation::Device { device_id } => {
            let gpu = usize::try_from(device_id)
                .ok()
                .filter(|&g| g < nv.cards.len());
            acc.record(client, handle, parent, gpu, None)
        }
        Allocation::ChannelGroup | Allocation::Channel => {
            let charge = pending.map(|(id, _)| id);
            acc.record(client, handle, parent, None, charge)?;
            let in_group = acc.records.units.get(&key(client, parent)).is_some();
            let kind = match (what, pending) {
                (Allocation::ChannelGroup, Some((_, Resource::ChannelGroups(g)))) => {
                    Some((UnitKind::Group, g))
                }
                (Allocation::Channel, Some((_, Resource::Channels(g)))) if !in_group => {
                    Some((UnitKind::Channel, g))
                }
                _ => None,
            };
            let unit = match kind {
                Some((kind, g)) => {
                    let cred = CredRef::current().ok_or(ENOMEM)?;
                    Some(Unit::new(kind, g, charge, global_tgid(), cred))
                }
                None => None,
            };
            match unit {
                Some(u) => acc
                    .records
                    .units
                    .try_create_and_insert(key(client, handle), u, GFP_KERNEL)
                    .map(drop),
                None => Ok(()),
            }
        }
        _ if class_id == class::NV20_SUBDEVICE_0 => {
            acc.record(client, handle, parent, None, None)?;
            acc.note_subdevice(client, handle, parent)
        }
        _ => acc.record(client, handle, parent, None, pending.map(|(id, _)| id)),
    });
    if what == Allocation::Channel && matches!(answer, Ok(0)) && nv.lock().tracks(client, handle) {
        let mut params = KVec::new();
        let copy = call.block(params_at).unwrap_or(&[]);
        if params.extend_from_slice(copy, GFP_KERNEL).is_ok() {
            *made_channel = Some(MadeChannel {
                client,
                handle,
                params,
            });
        }
    }
    answer
}

/// An allocation the driver has just been asked to make, as [`settle`] needs it.
struct Made {
    client: u32,
    parent: u32,
    /// The new object's handle, from the driver's answer.
    handle: u32,
    /// Where the answer has its status.
    status_at: usize,
    /// The charge made before the call, and what it is of.
    pending: Option<(u64, Resource)>,
    /// Whether fakegpu tracked the parent before the call.
    parent_known: bool,
    /// The bytes the driver says it took, for memory (`None`: the charge made before).
    took: Option<u64>,
    /// Whether the driver's answer is beyond the tenant's reach until fakegpu has read it.
    /// A call on the sealed page is not: the driver's own write-back makes the page
    /// writable until the worker protects it again, so a racing tenant can rewrite the
    /// answer. Its handle and size are then fakegpu's copy's, and an answer that reads as a
    /// failure still frees the handle (unless fakegpu tracks it): a rewritten status cannot
    /// leave an object behind uncharged.
    answer_trusted: bool,
}

/// Settles an allocation made on the private copy `call` with result `ret`: a failed one
/// gives its charge back (and an object it may still have made is freed); a successful one
/// is recorded by `record` with the charge resized to what the driver took, or freed and
/// refused as the driver refuses when it runs out if that is past a limit or fakegpu cannot
/// track it. The driver's answer then goes back to the caller at `ptr`.
#[allow(clippy::too_many_arguments)]
fn settle(
    fake: &FakeFile,
    ioctl: IoctlFn,
    ptr: usize,
    call: &PrivateCall<'_>,
    ret: Result<c_long>,
    made: Made,
    nv: &Nv,
    record: impl FnOnce(&mut Locked<'_>) -> Result,
) -> Result<c_long> {
    let Made {
        client,
        parent,
        handle,
        status_at,
        pending,
        parent_known,
        took,
        answer_trusted,
    } = made;
    let status = u32_at(call.outer(), status_at);
    let mut acc = nv.lock();
    let ok = matches!(ret, Ok(0)) && status == NV_OK;
    if !ok {
        if let Some((id, _)) = pending {
            acc.release_charge(id);
        }
        let rewritten = !answer_trusted && matches!(ret, Ok(0)) && !acc.tracks(client, handle);
        let made = pending.is_some() && (maybe_made(&acc, &ret, client, handle) || rewritten);
        drop(acc);
        if made {
            undo_alloc(fake, ioctl, client, parent, handle, nv);
        }
        return call.answer(ptr, ret?);
    }
    if parent_known && !acc.tracks(client, parent) {
        // Freed with its parent already: recording it would keep its charge for good.
        if let Some((id, _)) = pending {
            acc.release_charge_pending(id);
        }
        drop(acc);
        call.write_back(ptr)?;
        return Ok(0);
    }
    let mut over_limit = false;
    if let (Some((id, _)), Some(took)) = (pending, took) {
        over_limit = acc.resize_charge(id, took, false).is_err();
    }
    let recorded = record(&mut acc);
    if let Some((id, _)) = pending {
        // The pending hold: the object's record holds the charge from here on.
        acc.release_charge_pending(id);
    }
    drop(acc);
    if over_limit || recorded.is_err() {
        // The driver took more than the limit allows, or fakegpu cannot track the object:
        // free it and answer as the driver does when it runs out.
        let r = pending.map_or(Resource::Pinned, |(_, r)| r);
        undo_alloc(fake, ioctl, client, parent, handle, nv);
        return refuse(ptr, status_at, refusal_status(r));
    }
    call.write_back(ptr)?;
    Ok(0)
}

/// RM_ALLOC_MEMORY (NVOS02 and an fd), made on the private copy and metered as RM_ALLOC is:
/// system memory and an OS descriptor (the caller's own pages, made in the caller's address
/// space on the worker's sealed page there, since the driver pins them at an address of
/// the calling process) are pinned memory, video memory is the GPU's; `limit + 1` bytes.
/// A class fakegpu does not meter here is refused with `NV_ERR_INVALID_CLASS`. `fd_file`
/// is the real file the driver is to find under the fd.
pub(crate) fn rm_alloc_memory(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    fd_file: impl FnOnce(i32) -> Option<RealFile>,
    nv: &Nv,
) -> Result<c_long> {
    let status_at = offset_of!(Nvos02WithFd, status);
    let mut call = PrivateCall::new(fake, ioctl, cmd, ptr, size_of::<Nvos02WithFd>())?;
    let p: Nvos02WithFd = read_pod(call.outer()).ok_or(EINVAL)?;
    let Some(what) = nv_meter::classify_alloc_memory(p.h_class, p.limit) else {
        return refuse(ptr, status_at, NV_ERR_INVALID_CLASS);
    };
    if lacks_capability(fake, nv, p.h_class) {
        return refuse(ptr, status_at, NV_ERR_INSUFFICIENT_PERMISSIONS);
    }
    let sealed = nv_meter::alloc_pins_caller_pages(p.h_class);
    if sealed {
        // As in `rm_alloc`: the handle must be the caller's own.
        if p.h_object_new == 0 {
            return refuse(ptr, status_at, NV_ERR_INVALID_OBJECT_HANDLE);
        }
        call.in_caller_mm();
    }
    call.with_fd(offset_of!(Nvos02WithFd, fd), fd_file(p.fd))?;
    let pending = match precharge(nv, p.h_root, p.h_object_parent, what)? {
        Precharge::Charged(pending) => pending,
        Precharge::Refused(status) => return refuse(ptr, status_at, status),
    };
    let parent_known = nv.lock().tracks(p.h_root, p.h_object_parent);
    let ret = call.run();
    let answer: Nvos02WithFd = read_pod(call.outer()).ok_or(EINVAL)?;
    // A sealed call's answer is not trusted (see `Made::answer_trusted`).
    let (handle, took) = if sealed {
        (p.h_object_new, None)
    } else {
        (answer.h_object_new, answer.limit.checked_add(1))
    };
    let made = Made {
        client: p.h_root,
        parent: p.h_object_parent,
        handle,
        status_at,
        pending,
        parent_known,
        took,
        answer_trusted: !sealed,
    };
    let id = pending.map(|(id, _)| id);
    settle(fake, ioctl, ptr, &call, ret, made, nv, |acc| {
        acc.record(p.h_root, handle, p.h_object_parent, None, id)
    })
}

/// Whether a call that failed with `ret` may still have made object `handle` of `client`:
/// the driver failed the ioctl itself (a status failure makes nothing), which it also does
/// after the work is done when copying its answer back faults. An object the caller named
/// and fakegpu does not track is then freed by the caller of this, so that nothing
/// unmetered stays behind; one whose handle the RM was to pick cannot be named, and stays
/// until its client goes.
fn maybe_made(acc: &Locked<'_>, ret: &Result<c_long>, client: u32, handle: u32) -> bool {
    matches!(ret, Ok(r) if *r < 0) && handle != 0 && !acc.tracks(client, handle)
}

/// Frees an object fakegpu just allocated but must not keep, on a private copy.
fn undo_alloc(fake: &FakeFile, ioctl: IoctlFn, client: u32, parent: u32, handle: u32, nv: &Nv) {
    let p = Nvos00 {
        h_root: client,
        h_object_parent: parent,
        h_object_old: handle,
        status: 0,
    };
    let cmd = crate::abi::ioc::iowr::<Nvos00>(
        crate::abi::nv_frontend::NV_IOCTL_MAGIC,
        crate::abi::nv_rm::esc::RM_FREE,
    );
    if let Ok(mut call) = PrivateCall::from_value(fake, ioctl, cmd, &p) {
        let _ = call.run();
    }
    nv.lock().freed(client, handle);
}

/// RM_FREE: made on a private copy when it frees something fakegpu tracks, then followed in
/// the mirror.
pub(crate) fn rm_free(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    nv: &Nv,
) -> Result<c_long> {
    let mut call = PrivateCall::new(fake, ioctl, cmd, ptr, size_of::<Nvos00>())?;
    let p: Nvos00 = read_pod(call.outer()).ok_or(EINVAL)?;
    if !nv.lock().tracks(p.h_root, p.h_object_old) {
        // Nothing metered is freed: forwarded as it is. A tenant that rewrites the handle to
        // a metered object's meanwhile frees it with its charge kept until its client goes.
        // SAFETY: as the VFS would call it on the real file, in the caller's context.
        return Ok(unsafe { ioctl(fake.real.as_ptr(), cmd, ptr as kernel::ffi::c_ulong) });
    }
    let ret = call.run()?;
    let done: Nvos00 = read_pod(call.outer()).ok_or(EINVAL)?;
    if ret == 0 && done.status == NV_OK {
        let mut acc = nv.lock();
        if acc.tracks(p.h_root, p.h_object_old) || p.h_object_old == p.h_root {
            acc.freed(p.h_root, p.h_object_old);
        }
    }
    call.answer(ptr, ret)
}

/// RM_DUP_OBJECT: a new handle to an existing object, which shares its charge (a duplicate
/// is never charged again, and the memory stays charged until its last handle is freed).
pub(crate) fn rm_dup(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    nv: &Nv,
) -> Result<c_long> {
    let mut call = PrivateCall::new(fake, ioctl, cmd, ptr, size_of::<Nvos55>())?;
    let ret = call.run()?;
    let done: Nvos55 = read_pod(call.outer()).ok_or(EINVAL)?;
    let mut acc = nv.lock();
    let undo = if ret == 0 && done.status == NV_OK {
        let src = acc
            .records
            .objs
            .get(&key(done.h_client_src, done.h_object_src))
            .map(|o| (o.gpu, o.charge));
        let (gpu, charge) = src.unwrap_or((None, None));
        acc.record(done.h_client, done.h_object, done.h_parent, gpu, charge)
            .is_err()
    } else {
        // A duplicate made before the ioctl failed would keep its memory alive uncharged
        // once the original is freed.
        ret < 0 && done.h_object != 0 && !acc.tracks(done.h_client, done.h_object)
    };
    drop(acc);
    if undo {
        undo_alloc(fake, ioctl, done.h_client, done.h_parent, done.h_object, nv);
        if ret == 0 {
            // Made, but fakegpu cannot track it: answered as the driver does when it runs out.
            return refuse(ptr, offset_of!(Nvos55, status), NV_ERR_NO_MEMORY);
        }
    }
    call.answer(ptr, ret)
}

/// Whether the caller's cgroup has none of the capabilities an allocation of `class_id`
/// needs (`policy::nv_caps`); such a refusal is logged.
fn lacks_capability(fake: &FakeFile, nv: &Nv, class_id: u32) -> bool {
    let need = nv_caps::alloc_need(class_id);
    let lacks =
        need != Capabilities::NONE && !super::capabilities_of_current(nv.cgroups).allows(need);
    if lacks {
        log_refusal(fake, class_id, nv_caps::MISSING_CAPABILITY);
    }
    lacks
}

/// RM_VID_HEAP_CONTROL: its ALLOC_SIZE of physical memory is metered like RM_ALLOC of
/// memory, its FREE followed like RM_FREE.
pub(crate) fn vid_heap(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    nv: &Nv,
) -> Result<c_long> {
    let mut call = PrivateCall::new(fake, ioctl, cmd, ptr, vid_heap::SIZE)?;
    let what = nv_meter::classify_vid_heap(call.outer());
    // Memory is for an engine's work, as RM_ALLOC of video memory.
    let alloc = matches!(what, VidHeapCall::Alloc { .. });
    if alloc && lacks_capability(fake, nv, class::NV01_MEMORY_LOCAL_USER) {
        return refuse(ptr, vid_heap::STATUS, NV_ERR_INSUFFICIENT_PERMISSIONS);
    }
    let pending = match what {
        VidHeapCall::Alloc {
            client,
            parent,
            what,
            ..
        } => match precharge(nv, client, parent, what)? {
            Precharge::Charged(p) => p,
            Precharge::Refused(status) => return refuse(ptr, vid_heap::STATUS, status),
        },
        _ => None,
    };
    // As in rm_alloc: a parent gone after the call took the new memory with it.
    let parent_known = match what {
        VidHeapCall::Alloc { client, parent, .. } => nv.lock().tracks(client, parent),
        _ => false,
    };
    let ret = call.run();
    let status = u32_at(call.outer(), vid_heap::STATUS);
    let ok = matches!(ret, Ok(0)) && status == NV_OK;
    let mut acc = nv.lock();
    let mut undo = None;
    match what {
        VidHeapCall::Alloc { client, parent, .. }
            if ok && parent_known && !acc.tracks(client, parent) => {}
        VidHeapCall::Alloc { client, parent, .. } if ok => {
            let handle = u32_at(call.outer(), vid_heap::H_MEMORY);
            let took = call
                .outer()
                .get(vid_heap::ALLOC_SIZE..)
                .and_then(read_pod::<u64>)
                .unwrap_or(0);
            let mut keep = true;
            if let Some((id, _)) = pending {
                keep = acc.resize_charge(id, took, false).is_ok();
            }
            keep = keep
                && acc
                    .record(client, handle, parent, None, pending.map(|(id, _)| id))
                    .is_ok();
            if !keep {
                undo = Some((client, parent, handle));
            }
        }
        VidHeapCall::Free { client, h_memory } if ok => acc.freed(client, h_memory),
        VidHeapCall::Alloc { client, parent, .. } => {
            let handle = u32_at(call.outer(), vid_heap::H_MEMORY);
            if pending.is_some() && maybe_made(&acc, &ret, client, handle) {
                undo = Some((client, parent, handle));
            }
        }
        _ => {}
    }
    if let Some((id, _)) = pending {
        acc.release_charge_pending(id);
    }
    drop(acc);
    if let Some((client, parent, handle)) = undo {
        undo_alloc(fake, ioctl, client, parent, handle, nv);
        if !ok {
            return call.answer(ptr, ret?);
        }
        return refuse(ptr, vid_heap::STATUS, NV_ERR_NO_MEMORY);
    }
    call.answer(ptr, ret?)
}

/// Whether the caller may make a call whose memory would escape the meter (a dma-buf
/// export): only if no entry above it limits GPU memory.
pub(crate) fn may_allocate_unmetered(nv: &Nv) -> bool {
    let Some(cgroup) = Cgroup::current() else {
        return false;
    };
    let acc = nv.cgroups.lock();
    let mut limited = false;
    acc.for_each_entry_of(&cgroup, |_, e| {
        limited |= e
            .state
            .usage
            .memory
            .iter()
            .any(|c| c.max != ledger::UNLIMITED);
    });
    !limited
}

/// The GPU memory limit the caller's cgroup and its ancestors set on the GPU of object
/// `object` of `client` (a subdevice), and the headroom left under it; `None` if none.
pub(crate) fn fb_limits(nv: &Nv, client: u32, object: u32) -> Option<(u64, u64)> {
    let cgroup = Cgroup::current()?;
    let acc = nv.lock();
    let gpu = acc.gpu_of(client, object)?;
    let (mut limit, mut headroom) = (ledger::UNLIMITED, ledger::UNLIMITED);
    acc.for_each_entry_of(&cgroup, |_, e| {
        if let Some(c) = e.state.usage.memory.get(gpu) {
            limit = limit.min(c.max);
            headroom = headroom.min(c.max.saturating_sub(c.current));
        }
    });
    (limit != ledger::UNLIMITED).then_some((limit, headroom))
}

/// FB_GET_INFO (`version` 1, the list pointed to by the params) or FB_GET_INFO_V2 (2, the
/// list inline) at `params`, for a cgroup with a limit on that GPU: the driver's answer,
/// with sizes capped at the limit and the free heap at the headroom
/// (`nv_meter::limit_fb_list`). The caller's memory holds the driver's own figures for the
/// length of the call; a tenant that moves its list meanwhile only misleads itself.
pub(crate) fn fb_info_limited(
    copy: PrivateCall<'_>,
    control: &crate::abi::nv_rm::Nvos54,
    ptr: usize,
    version: u8,
    (limit, headroom): (u64, u64),
    family: &crate::abi::nv_family::DriverFamily,
) -> Result<c_long> {
    use crate::abi::nv_rm::fb_info;
    /// Entries of the longest FB_GET_INFO list of any family (55 in 550).
    const LIST_MAX: usize = 64;
    // Made on fakegpu's copy of the control (`controls.rs`), then corrected where the
    // driver's answer went back to.
    let params = control.params;
    let mut call = super::controls::with_params(copy, control, family)?;
    let ret = call.run()?;
    let ret = call.answer(ptr, ret)?;
    let mut status = [0u8; 4];
    let status_at = ptr
        .checked_add(offset_of!(crate::abi::nv_rm::Nvos54, status))
        .ok_or(EFAULT)?;
    crate::compat::user_slice(status_at, 4)
        .reader()
        .read_slice(&mut status)?;
    if ret != 0 || u32::from_ne_bytes(status) != NV_OK {
        return Ok(ret);
    }
    let params = usize::try_from(params).map_err(|_| EFAULT)?;
    let mut head = [0u8; fb_info::V1_PARAMS_SIZE];
    crate::compat::user_slice(params, head.len())
        .reader()
        .read_slice(&mut head)?;
    // At most what the largest family's list holds (the driver has checked the count).
    let count = read_pod::<u32>(&head).unwrap_or(0) as usize;
    let count = count.min(LIST_MAX);
    let list_at = if version == 1 {
        head.get(fb_info::V1_LIST_AT..)
            .and_then(read_pod::<u64>)
            .and_then(|p| usize::try_from(p).ok())
            .ok_or(EFAULT)?
    } else {
        params.checked_add(4).ok_or(EFAULT)?
    };
    let mut list = [0u8; LIST_MAX * fb_info::ENTRY_SIZE];
    let list = list.get_mut(..count * fb_info::ENTRY_SIZE).ok_or(EINVAL)?;
    crate::compat::user_slice(list_at, list.len())
        .reader()
        .read_slice(list)?;
    nv_meter::limit_fb_list(list, count, limit, headroom);
    crate::compat::user_slice(list_at, list.len())
        .writer()
        .write_slice(list)?;
    Ok(ret)
}

/// Drops the clients of nvidiactl files that are no longer open anywhere (after a fake file
/// closes, and periodically).
pub(crate) fn sweep(nv: &Nv) {
    // The file references drop after the locks are released.
    let released = nv.lock().sweep();
    drop(released);
}
