// SPDX-License-Identifier: GPL-2.0

//! GPU time per cgroup (`compute.stat`'s `gpu_time_usec` and `gpu_share_pct`), from the
//! driver's own utilisation samples (PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2, `abi::nv_gpumon`):
//! facts the GPU's firmware records, which no tenant writes. Each sample names the process
//! that made the client of the work then on the engine; through fakegpu that is the
//! tenant's worker, which stands for one process, and that process's channel groups name
//! the cgroup they are charged to. The governor's thread reads each GPU's ring every
//! [`READ_EVERY_NS`] on a subdevice of one of the GPU's tenants, with that tenant's
//! credentials (the control is not privileged), on fakegpu's private copy; tenants
//! themselves are refused the control (it names every tenant's processes).
//!
//! What it cannot see: a sample names one process, so time is told apart only over many
//! samples (`policy::gpu_time`); work of a process that has exited by the next read, whose
//! worker is gone, is not credited; work of processes outside fakegpu is nobody's.

use super::Nv;
use crate::abi::ioc::iowr;
use crate::abi::nv_frontend::NV_IOCTL_MAGIC;
use crate::abi::nv_gpumon::{self, GrSample, SAMPLE_COUNT};
use crate::abi::nv_rm::{esc, Nvos54};
use crate::abi::nv_status::{NV_ERR_GENERIC, NV_OK};
use crate::abi::pod::read_pod;
use crate::policy::gpu_time::{credit_samples, share_permille, READ_EVERY_NS, SHARE_WINDOW_NS};
use crate::policy::ledger::MAX_GPUS;
use crate::proxy::personality::IoctlFn;
use crate::proxy::private_call::PrivateCall;
use crate::proxy::real_devices::RealFile;
use crate::proxy::worker::CredRef;
use core::mem::offset_of;
use kernel::prelude::*;

/// How far the samples have been read (only the governor's thread touches it).
#[derive(Clone, Copy, Default)]
pub(crate) struct Marks {
    /// When the rings were last read.
    read_ns: u64,
    /// The newest sample credited, per GPU (the GPU's timer).
    newest: [u64; MAX_GPUS],
    /// When the current share window began.
    window_ns: u64,
}

/// Reads each GPU's samples if [`READ_EVERY_NS`] has passed since the last read, credits
/// their time to the cgroups, and closes the share window when it is due. No lock is held
/// while the driver runs.
///
/// # Safety
///
/// Only the governor's thread may call this (the call uses its slot).
pub(crate) unsafe fn meter(nv: &Nv, marks: &mut Marks, now: u64) -> Result {
    if marks.read_ns != 0 && now.saturating_sub(marks.read_ns) < READ_EVERY_NS {
        return Ok(());
    }
    marks.read_ns = now;
    if marks.window_ns == 0 {
        marks.window_ns = now;
    }
    let size = nv.family.control_size(nv_gpumon::CMD).ok_or(EINVAL)?;
    let sample = nv_gpumon::sample_size_of(size).ok_or(EINVAL)?;
    for g in 0..nv.cards.len().min(MAX_GPUS) {
        let Some(asker) = asker(nv, g) else {
            continue;
        };
        // SAFETY: per this function's contract.
        let Some(ring) = (unsafe { read_ring(&asker, size, sample) }) else {
            continue;
        };
        // Per process named: a handful, however many samples name each.
        let mut credits = [(0u32, 0u64); SAMPLE_COUNT];
        let mut n = 0;
        marks.newest[g] = credit_samples(&ring, marks.newest[g], |pid, ns| {
            match credits.iter_mut().take(n).find(|c| c.0 == pid) {
                Some(c) => c.1 = c.1.saturating_add(ns),
                None => {
                    if let Some(slot) = credits.get_mut(n) {
                        *slot = (pid, ns);
                        n += 1;
                    }
                }
            }
        });
        // Each worker's process (under the workers' lock, not the mirror's).
        for c in credits.iter_mut().take(n) {
            c.0 = super::processes::pid_for_caller(c.0, true);
        }
        let mut acc = nv.lock();
        for &(tgid, ns) in credits.iter().take(n).filter(|c| c.0 != 0) {
            let charge = acc
                .records
                .units
                .values()
                .find(|u| u.gpu == g && u.tgid == tgid)
                .and_then(|u| u.charge);
            let Some(charge) = charge else { continue };
            acc.for_each_entry_charged(charge, |e| {
                let c = &mut e.state.compute;
                c.gpu_time_ns[g] = c.gpu_time_ns[g].saturating_add(ns);
                c.window_ns[g] = c.window_ns[g].saturating_add(ns);
            });
        }
    }
    let length = now.saturating_sub(marks.window_ns);
    if length >= SHARE_WINDOW_NS {
        marks.window_ns = now;
        let mut acc = nv.lock();
        for (_, e) in acc.entries.iter_mut() {
            let c = &mut e.state.compute;
            for g in 0..nv.cards.len().min(MAX_GPUS) {
                c.share_permille[g] = Some(share_permille(c.window_ns[g], length));
                c.window_ns[g] = 0;
            }
        }
    }
    Ok(())
}

/// Who asks for GPU `g`'s samples: a client with a channel group on it and a subdevice
/// made through fakegpu.
struct Asker {
    client: u32,
    subdevice: u32,
    tgid: u32,
    cred: CredRef,
    file: RealFile,
}

fn asker(nv: &Nv, g: usize) -> Option<Asker> {
    let acc = nv.lock();
    acc.records
        .units
        .iter()
        .filter(|(_, u)| u.gpu == g)
        .find_map(|(&k, u)| {
            let client = (k >> 32) as u32;
            Some(Asker {
                client,
                subdevice: acc.subdevice_for(client, k as u32)?,
                tgid: u.tgid,
                cred: u.cred.clone_ref(),
                file: acc.owner_file(client)?,
            })
        })
}

/// The control on `a`'s subdevice: the ring, if the driver answered.
///
/// # Safety
///
/// As for [`meter`].
unsafe fn read_ring(a: &Asker, size: usize, sample: usize) -> Option<[GrSample; SAMPLE_COUNT]> {
    let mut params = KVec::from_elem(0u8, size, GFP_KERNEL).ok()?;
    params[nv_gpumon::TYPE_AT] = nv_gpumon::SAMPLE_TYPE_PERFMON_UTIL;
    let buf = ((SAMPLE_COUNT * sample) as u32).to_ne_bytes();
    params[nv_gpumon::BUF_SIZE_AT..nv_gpumon::BUF_SIZE_AT + 4].copy_from_slice(&buf);
    // SAFETY: the reference keeps the file, and so its operations, alive.
    let ioctl: IoctlFn = unsafe { (*(*a.file.as_ptr()).f_op).unlocked_ioctl }?;
    let args = Nvos54 {
        h_client: a.client,
        h_object: a.subdevice,
        cmd: nv_gpumon::CMD,
        flags: 0,
        params: 0,
        params_size: size as u32,
        status: 0,
    };
    let rm_control = iowr::<Nvos54>(NV_IOCTL_MAGIC, esc::RM_CONTROL);
    let mut call = PrivateCall::on_real(&a.file, ioctl, rm_control, &args).ok()?;
    call.with_block(offset_of!(Nvos54, params), &params).ok()?;
    // SAFETY: per this function's contract, this is the governor's thread.
    let ret = unsafe { call.run_as(&a.cred) };
    let status = read_pod::<Nvos54>(call.outer()).map_or(NV_ERR_GENERIC, |p| p.status);
    if !matches!(ret, Ok(0)) || status != NV_OK {
        let errno = ret.map_or_else(|e| e.to_errno(), |r| r as kernel::ffi::c_int);
        super::calls::governor_failed(
            nv_gpumon::CMD,
            (a.client, a.subdevice),
            a.tgid,
            errno,
            status,
        );
        return None;
    }
    let answer = call.block(offset_of!(Nvos54, params))?;
    let mut ring = [GrSample::default(); SAMPLE_COUNT];
    for (i, s) in ring.iter_mut().enumerate() {
        *s = nv_gpumon::read_sample(answer, sample, i)?;
    }
    Some(ring)
}
