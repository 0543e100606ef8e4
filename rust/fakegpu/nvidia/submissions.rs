// SPDX-License-Identifier: GPL-2.0

//! Submissions per cgroup on NVIDIA (`compute.stat`'s `submissions`): the GPFIFO entries the
//! engine consumed from the cgroup's channels, read from the GPGet the engine writes into
//! each channel's USERD (`policy::submissions` says what the count can and cannot see). A
//! launch is a doorbell write, not an ioctl, so no call tells fakegpu of it; GPGet is the
//! engine's own record of what it fetched.
//!
//! When a tenant makes a channel through fakegpu, its worker maps the channel's USERD once
//! more, read-only, into fakegpu's scratch mm: RM_MAP_MEMORY on the tenant's client (the
//! driver takes a client's mappings only from the process that made the client, which the
//! worker stands for), onto a fresh file of the GPU (video memory) or of nvidiactl (system
//! memory), then an mmap of that file there, where no user process reaches. The governor's
//! thread reads each channel's GPGet there every [`READ_EVERY_NS`] and credits what the
//! engine consumed up the chain of the channel's charge; it unmaps a channel's USERD once
//! the channel's record is gone (`userd.rs`). The driver's own record of the mapping goes
//! when the memory is freed.

use super::calls;
use super::meter::key;
use super::userd::Userd;
use super::Nv;
use crate::abi::ioc::iowr;
use crate::abi::nv_frontend::{NV_CTL_MINOR, NV_IOCTL_MAGIC};
use crate::abi::nv_rm::{channel_alloc_params as chan, esc, Nvos33WithFd};
use crate::abi::nv_status::{NV_ERR_GENERIC, NV_ERR_INVALID_ARGUMENT, NV_OK};
use crate::abi::pod::read_pod;
use crate::policy::fronts::Family;
use crate::policy::submissions::{consumed, READ_EVERY_NS};
use crate::proxy::personality::IoctlFn;
use crate::proxy::private_call::PrivateCall;
use crate::proxy::real_devices::RealFile;
use crate::proxy::state::State;
use crate::proxy::worker::{
    map_in_scratch, run_in_scratch, run_private, unmap_in_scratch, CredRef, PrivateFn, PrivateSpace,
};
use core::ffi::c_void;
use core::mem::offset_of;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

/// GPGet's offset in USERD (`clc86f.h` `Nvc86fControl`, the same from Volta on).
const USERD_GP_GET: u64 = 0x88;

/// Starts counting the submissions of channel `handle` of `client`, just made through
/// fakegpu with the allocation parameters `params` (fakegpu's copy, as the driver took
/// them). Made in the tenant's call, after the driver's answer. A channel whose USERD cannot
/// be mapped is not counted; `/sys/kernel/fakegpu/calls` says how many.
pub(crate) fn watch(nv: &Nv, client: u32, handle: u32, params: &[u8]) {
    match try_watch(nv, client, handle, params) {
        Ok(true) => calls::userd_mapped(),
        Ok(false) => {}
        Err(_) => calls::userd_failed(),
    }
}

/// [`watch`]; whether a mapping was made and kept.
fn try_watch(nv: &Nv, client: u32, handle: u32, params: &[u8]) -> Result<bool> {
    let word = |at: usize| params.get(at..at + 4).and_then(read_pod::<u32>);
    let entries = word(chan::GPFIFO_ENTRIES).ok_or(EINVAL)?;
    if entries == 0 {
        // No ring: the channel runs nothing (and the driver may refuse it anyway).
        return Ok(false);
    }
    let h_userd = word(chan::H_USERD).ok_or(EINVAL)?;
    let userd_offset = params
        .get(chan::USERD_OFFSET..chan::USERD_OFFSET + 8)
        .and_then(read_pod::<u64>)
        .ok_or(EINVAL)?;
    // USERD the RM allocated itself (no handle) is mapped through the channel.
    let (memory, offset) = if h_userd == 0 {
        (handle, 0)
    } else {
        (h_userd, userd_offset)
    };
    let (gpu, device, owner) = {
        let acc = nv.lock();
        let gpu = acc.gpu_of(client, handle).ok_or(EINVAL)?;
        let device = match acc.parent_of(client, memory) {
            Some(p) if h_userd != 0 && p != client => p,
            _ => acc.device_of(client, handle).ok_or(EINVAL)?,
        };
        (gpu, device, acc.owner_file(client).ok_or(EINVAL)?)
    };
    let page = bindings::PAGE_SIZE as u64;
    let first = offset & !(page - 1);
    let end = offset.checked_add(USERD_GP_GET + 4).ok_or(EINVAL)?;
    let len = end.checked_next_multiple_of(page).ok_or(EINVAL)? - first;
    let minor = nv.cards.get(gpu).ok_or(EINVAL)?.minor_number;
    let Some(file) = map_userd(&owner, (client, device, memory), first, len, minor)? else {
        return Ok(false);
    };
    let len = usize::try_from(len).map_err(|_| EINVAL)?;
    let mut job = MapJob {
        file: &file,
        len,
        addr: Err(EINVAL),
    };
    // SAFETY: `map_job` takes the `MapJob` it is given, which outlives the run.
    unsafe { run_private(map_job, (&raw mut job).cast(), PrivateSpace::Scratch) }?;
    let addr = job.addr?;
    let userd = Userd {
        gpu,
        addr,
        len,
        get_at: addr + (offset - first + USERD_GP_GET) as usize,
        entries,
        last_get: 0,
    };
    let kept = {
        let mut acc = nv.lock();
        let channel = key(client, handle);
        // A channel freed while this ran is not counted.
        acc.tracks(client, handle) && {
            acc.records.unwatch(channel);
            acc.records
                .userds
                .try_create_and_insert(channel, userd, GFP_KERNEL)
                .is_ok()
        }
    };
    if !kept {
        let mut job = UnmapJob { addr, len };
        // SAFETY: `unmap_job` takes the `UnmapJob` it is given, which outlives the run.
        let _ = unsafe { run_private(unmap_job, (&raw mut job).cast(), PrivateSpace::Scratch) };
    }
    Ok(kept)
}

/// RM_MAP_MEMORY of `len` bytes at `first` of `memory` (under `device`) of `client`, made in
/// the caller's worker on `owner` (the client's nvidiactl file), onto a fresh file of GPU
/// `minor` or, if the driver says the memory is not its (system memory), of nvidiactl. The
/// file that holds the mapping context; `None` if the driver refused the mapping.
fn map_userd(
    owner: &RealFile,
    (client, device, memory): (u32, u32, u32),
    first: u64,
    len: u64,
    minor: u32,
) -> Result<Option<RealFile>> {
    // SAFETY: the reference keeps the file, and so its operations, alive.
    let ioctl: IoctlFn = unsafe { (*(*owner.as_ptr()).f_op).unlocked_ioctl }.ok_or(EINVAL)?;
    let params = Nvos33WithFd {
        h_client: client,
        h_device: device,
        h_memory: memory,
        offset: first,
        length: len,
        fd: -1,
        ..Default::default()
    };
    let cmd = iowr::<Nvos33WithFd>(NV_IOCTL_MAGIC, esc::RM_MAP_MEMORY);
    for target in [minor, NV_CTL_MINOR] {
        let file = open_real(target)?;
        let mut call = PrivateCall::on_real(owner, ioctl, cmd, &params)?;
        call.with_fd(offset_of!(Nvos33WithFd, fd), Some(another_ref(&file)?))?;
        let ret = call.run()?;
        let status = read_pod::<Nvos33WithFd>(call.outer()).map_or(NV_ERR_GENERIC, |p| p.status);
        if ret == 0 && status == NV_OK {
            return Ok(Some(file));
        }
        // The driver's answer to a file of the wrong kind for the memory.
        if ret != 0 || status != NV_ERR_INVALID_ARGUMENT {
            return Ok(None);
        }
    }
    Ok(None)
}

/// A fresh file of the real NVIDIA node of `minor`, opened with the caller's credentials.
fn open_real(minor: u32) -> Result<RealFile> {
    let state = State::get().ok_or(ENODEV)?;
    let index = state
        .table
        .iter()
        .position(|f| f.family == Family::Nvidia && f.real.minor == minor)
        .ok_or(ENODEV)?;
    state.real.open(index, bindings::O_RDWR)
}

/// Another reference on `file`.
fn another_ref(file: &RealFile) -> Result<RealFile> {
    let ptr = NonNull::new(file.as_ptr()).ok_or(EINVAL)?;
    // SAFETY: `file` holds a reference, so the file is live while we take ours.
    Ok(unsafe { RealFile::new_ref(ptr) })
}

/// A mapping made in the worker, in the scratch mm.
struct MapJob<'a> {
    file: &'a RealFile,
    len: usize,
    addr: Result<usize>,
}

/// The worker side of the mapping: the mmap, in the scratch mm.
///
/// # Safety
///
/// `ctx` is the waiting caller's `MapJob`.
unsafe extern "C" fn map_job(ctx: *mut c_void, _slot: usize, _kslot: *mut c_void) {
    // SAFETY: per the contract, lent until we return.
    let job = unsafe { &mut *ctx.cast::<MapJob<'_>>() };
    job.addr = map_in_scratch(job.file, job.len);
}

/// A mapping to undo, in the scratch mm.
struct UnmapJob {
    addr: usize,
    len: usize,
}

/// Undoes an [`UnmapJob`].
///
/// # Safety
///
/// `ctx` is the waiting caller's `UnmapJob`.
unsafe extern "C" fn unmap_job(ctx: *mut c_void, _slot: usize, _kslot: *mut c_void) {
    // SAFETY: per the contract, lent until we return.
    let job = unsafe { &*ctx.cast::<UnmapJob>() };
    let _ = unmap_in_scratch(job.addr, job.len);
}

/// When the channels' GPGet was last read (only the governor's thread touches it).
#[derive(Clone, Copy, Default)]
pub(crate) struct Marks {
    read_ns: u64,
}

/// One channel's read: which, where, and what was found there.
struct Read {
    channel: u64,
    addr: usize,
    get_at: usize,
    value: Option<u32>,
}

/// What the governor does in the scratch mm in one pass.
struct ReadJob<'a> {
    reads: &'a mut [Read],
    stale: &'a [Userd],
}

/// The governor's side, in the scratch mm: unmaps the stale mappings, reads each GPGet.
///
/// # Safety
///
/// `ctx` is the calling governor's `ReadJob`.
unsafe extern "C" fn read_job(ctx: *mut c_void, _slot: usize, _kslot: *mut c_void) {
    // SAFETY: per the contract, lent until we return.
    let job = unsafe { &mut *ctx.cast::<ReadJob<'_>>() };
    for u in job.stale {
        let _ = unmap_in_scratch(u.addr, u.len);
    }
    for r in job.reads.iter_mut() {
        let mut word = [0u8; 4];
        if crate::compat::user_slice(r.get_at, 4)
            .reader()
            .read_slice(&mut word)
            .is_ok()
        {
            r.value = Some(u32::from_ne_bytes(word));
        }
    }
}

/// Reads every watched channel's GPGet if [`READ_EVERY_NS`] has passed since the last read,
/// credits what the engine consumed to the channels' cgroups, and unmaps the mappings of
/// channels that are gone; whether any channel is watched (the governor then wakes every
/// [`READ_EVERY_NS`]). No lock is held in the scratch mm.
///
/// # Safety
///
/// Only the governor's thread may call this (it runs in the scratch mm as that thread).
pub(crate) unsafe fn meter(nv: &Nv, marks: &mut Marks, now: u64) -> Result<bool> {
    if marks.read_ns != 0 && now.saturating_sub(marks.read_ns) < READ_EVERY_NS {
        return Ok(true);
    }
    marks.read_ns = now;
    let (mut reads, stale) = {
        let mut acc = nv.lock();
        let mut reads = KVec::new();
        for (&channel, u) in acc.records.userds.iter() {
            let read = Read {
                channel,
                addr: u.addr,
                get_at: u.get_at,
                value: None,
            };
            reads.push(read, GFP_KERNEL)?;
        }
        let mut stale = KVec::new();
        while let Some((&at, &u)) = acc.records.stale_userds.iter().next() {
            if stale.push(u, GFP_KERNEL).is_err() {
                // The rest waits for the next pass.
                break;
            }
            acc.records.stale_userds.remove(&at);
        }
        (reads, stale)
    };
    if reads.is_empty() && stale.is_empty() {
        return Ok(false);
    }
    let cred = CredRef::current().ok_or(ENOMEM)?;
    let mut job = ReadJob {
        reads: &mut reads,
        stale: &stale,
    };
    let f: PrivateFn = read_job;
    // SAFETY: per this function's contract; `job` outlives the run.
    unsafe { run_in_scratch(&cred, f, (&raw mut job).cast()) }?;
    calls::userd_unmapped(stale.len());
    let mut acc = nv.lock();
    for r in reads.iter() {
        let Some(value) = r.value else { continue };
        // The same mapping (a channel made since under the same handle has another).
        let Some(u) = acc
            .records
            .userds
            .get_mut(&r.channel)
            .filter(|u| u.addr == r.addr)
        else {
            continue;
        };
        let Some(n) = consumed(u.last_get, value, u.entries) else {
            continue;
        };
        u.last_get = value;
        let gpu = u.gpu;
        let Some(charge) = acc.charge_of(r.channel).filter(|_| n > 0) else {
            continue;
        };
        acc.for_each_entry_charged(charge, |e| {
            if let Some(s) = e.state.compute.submissions.get_mut(gpu) {
                *s = s.saturating_add(u64::from(n));
            }
        });
    }
    Ok(true)
}
