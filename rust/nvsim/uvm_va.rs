// SPDX-License-Identifier: GPL-2.0

//! The UVM commands that lay out a VA space, on `nvsim_model::uvm_va`'s bookkeeping: range
//! groups, external ranges and the RM memory mapped into them, semaphore pools. A CUDA
//! context maps every buffer it makes this way (RM_VID_HEAP_CONTROL, then
//! UVM_CREATE_EXTERNAL_RANGE and UVM_MAP_EXTERNAL_ALLOCATION). No GPU reads these mappings
//! yet: they are kept so the calls answer as the driver does.

use crate::abi::nv_status::*;
use crate::abi::nv_uvm::*;
use crate::abi::pod::{read_pod, write_pod, Pod};
use crate::gpu_va::KernelVaSpace;
use crate::host_page::HostPage;
use crate::nvsim_model::rm::Kind;
use crate::state::State;
use core::mem::size_of;
use kernel::page::{Page, PAGE_SIZE};
use kernel::prelude::*;

/// What a VA command may use of its file: the VA space (None before UVM_INITIALIZE) and the
/// GPUs with a GPU VA space registered (bit per minor).
pub(crate) struct VaFile<'a> {
    /// The bookkeeping, if the file is a VA space.
    pub(crate) va: Option<&'a mut KernelVaSpace>,
    /// GPUs with a registered GPU VA space.
    pub(crate) gpu_vaspaces: u32,
}

/// Runs `f` on a UVM command's parameters as `T` and writes them back (every command's
/// handler, here and in `uvm.rs`).
pub(crate) fn with_params<T: Pod>(buf: &mut [u8], f: impl FnOnce(&mut T)) {
    if let Some(mut p) = read_pod::<T>(buf) {
        f(&mut p);
        write_pod(buf, &p);
    }
}

/// The status of `r`.
fn status(r: core::result::Result<(), NvStatus>) -> NvStatus {
    r.err().unwrap_or(NV_OK)
}

/// The minor of the GPU `uuid` names.
fn gpu_minor(state: &State, uuid: &NvProcessorUuid) -> Option<u32> {
    state
        .gpus
        .iter()
        .find(|g| g.uuid() == uuid.uuid)
        .map(|g| g.minor)
}

/// The GPUs the first `count` attributes of the per-GPU array `array` name (bit per minor).
/// The array is read entry by entry where it lies: in 550 it is 9 KiB.
fn attributes_gpus(state: &State, array: &[u8], count: u64) -> core::result::Result<u32, NvStatus> {
    let entry = size_of::<UvmGpuMappingAttributes>();
    let count = usize::try_from(count)
        .ok()
        .filter(|&n| n > 0 && n <= array.len() / entry)
        .ok_or(NV_ERR_INVALID_ARGUMENT)?;
    array
        .chunks_exact(entry)
        .take(count)
        .try_fold(0u32, |gpus, a| {
            let a = read_pod::<UvmGpuMappingAttributes>(a).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            let minor = gpu_minor(state, &a.gpu_uuid).ok_or(NV_ERR_INVALID_DEVICE)?;
            Ok(gpus | 1u32.checked_shl(minor).unwrap_or(0))
        })
}

/// The parts of a command with a per-GPU array, read where the family puts them: the head
/// (`H`, before the array), the array's bytes, and the tail (`T`, after it, at `tail_at`).
fn split<H: Pod, T: Pod>(buf: &[u8], tail_at: usize) -> Option<(H, &[u8], T)> {
    let head = read_pod::<H>(buf)?;
    let array = buf.get(size_of::<H>()..tail_at)?;
    let tail = read_pod::<T>(buf.get(tail_at..)?)?;
    Some((head, array, tail))
}

/// UVM_MAP_EXTERNAL_ALLOCATION's head: base, length, offset.
type MapExternalHead = [u64; 3];
/// UVM_ALLOC_SEMAPHORE_POOL's head: base, length.
type SemaphorePoolHead = [u64; 2];

/// The size of RM memory `memory` of `client`.
fn memory_size(state: &State, client: u32, memory: u32) -> core::result::Result<u64, NvStatus> {
    match state.rm.lock().get(client, memory).map(|o| o.kind) {
        Some(Kind::Memory { size, .. }) => Ok(size),
        Some(_) => Err(NV_ERR_INVALID_ARGUMENT),
        None => Err(NV_ERR_OBJECT_NOT_FOUND),
    }
}

/// UVM_MAP_EXTERNAL_ALLOCATION of `[base, length, offset]`: on every GPU named, or none.
fn map_external(
    state: &State,
    va: &mut KernelVaSpace,
    gpu_vaspaces: u32,
    [base, length, offset]: MapExternalHead,
    array: &[u8],
    p: &UvmMapExternalTail,
) -> core::result::Result<(), NvStatus> {
    let gpus = attributes_gpus(state, array, p.gpu_attributes_count)?;
    let size = memory_size(state, p.h_client, p.h_memory)?;
    let memory = (p.h_client, p.h_memory, size);
    // Checked for every GPU first, so a refusal maps nothing.
    for gpu in (0..32).filter(|g| gpus & (1 << g) != 0) {
        if gpu_vaspaces & (1 << gpu) == 0 {
            return Err(NV_ERR_INVALID_DEVICE);
        }
    }
    for gpu in (0..32).filter(|g| gpus & (1 << g) != 0) {
        va.map_external(base, length, offset, memory, gpu, gpu_vaspaces)?;
    }
    Ok(())
}

/// Runs VA command `cmd` on its parameters `buf`; false if `cmd` is not one.
pub(crate) fn dispatch(state: &State, file: VaFile<'_>, cmd: u32, buf: &mut [u8]) -> bool {
    let VaFile { va, gpu_vaspaces } = file;
    let arrays = state.family.uvm.arrays;
    // Before UVM_INITIALIZE every command answers NV_ERR_ILLEGAL_ACTION.
    let Some(va) = va else {
        let Some(at) = status_offset(cmd, arrays) else {
            return false;
        };
        if let Some(field) = buf.get_mut(at..at + 4) {
            field.copy_from_slice(&NV_ERR_ILLEGAL_ACTION.to_ne_bytes());
        }
        return true;
    };
    match cmd {
        23 => with_params(buf, |p: &mut UvmRangeGroupParams| {
            match va.create_range_group() {
                Ok(id) => {
                    p.range_group_id = id;
                    p.rm_status = NV_OK;
                }
                Err(e) => p.rm_status = e,
            }
        }),
        24 => with_params(buf, |p: &mut UvmRangeGroupParams| {
            p.rm_status = status(va.destroy_range_group(p.range_group_id))
        }),
        73 => with_params(buf, |p: &mut UvmVaRangeParams| {
            p.rm_status = status(va.create_external_range(p.base, p.length))
        }),
        72 => with_params(buf, |p: &mut UvmVaRangeParams| {
            p.rm_status = status(va.validate(p.base, p.length))
        }),
        34 => with_params(buf, |p: &mut UvmVaRangeParams| {
            p.rm_status = status(va.free(p.base));
            va.storage_mut().drop_freed_pools();
        }),
        33 => {
            let tail_at = arrays.map_external_tail();
            let Some((head, array, mut p)) =
                split::<MapExternalHead, UvmMapExternalTail>(buf, tail_at)
            else {
                return true;
            };
            p.rm_status = status(map_external(state, va, gpu_vaspaces, head, array, &p));
            if crate::trace::enabled() {
                pr_info!(
                    "trace: uvm map va {:#x} length {:#x} memory {:#x} offset {:#x} -> status {:#x}\n",
                    head[0],
                    head[1],
                    p.h_memory,
                    head[2],
                    p.rm_status
                );
            }
            if let Some(tail) = buf.get_mut(tail_at..) {
                write_pod(tail, &p);
            }
        }
        66 => with_params(buf, |p: &mut UvmGpuRangeParams| {
            p.rm_status = status(match gpu_minor(state, &p.gpu_uuid) {
                Some(gpu) => va.unmap_external(p.base, p.length, gpu),
                None => Err(NV_ERR_INVALID_DEVICE),
            })
        }),
        68 => {
            let tail_at = arrays.semaphore_pool_tail();
            let Some(([base, length], array, mut p)) =
                split::<SemaphorePoolHead, UvmSemaphorePoolTail>(buf, tail_at)
            else {
                return true;
            };
            p.rm_status = status(
                attributes_gpus(state, array, p.gpu_attributes_count)
                    .and_then(|gpus| va.alloc_semaphore_pool(base, length, gpus, gpu_vaspaces))
                    .and_then(|()| {
                        // The pool's memory: zeroed pages, mapped by the process through an
                        // mmap of its UVM file at `base` and read by GPUs at the same VA.
                        let added = pool_pages(length)
                            .and_then(|pages| va.storage_mut().add_pool(base, pages).ok());
                        if added.is_none() {
                            let _ = va.free(base);
                            return Err(NV_ERR_NO_MEMORY);
                        }
                        Ok(())
                    }),
            );
            if let Some(tail) = buf.get_mut(tail_at..) {
                write_pod(tail, &p);
            }
        }
        // The region CUDA reserves for device-side launches: checked, nothing to keep, as no
        // kernel runs.
        65 => with_params(buf, |p: &mut UvmGpuRangeParams| {
            p.rm_status = match gpu_minor(state, &p.gpu_uuid) {
                Some(gpu) if gpu_vaspaces & (1 << gpu) != 0 => NV_OK,
                _ => NV_ERR_INVALID_DEVICE,
            }
        }),
        _ => return false,
    }
    true
}

/// Zeroed pages for a semaphore pool of `length` bytes (page-aligned, as the bookkeeping has
/// checked).
fn pool_pages(length: u64) -> Option<KVVec<HostPage>> {
    let count = usize::try_from(length / PAGE_SIZE as u64).ok()?;
    let mut pages = KVVec::with_capacity(count, GFP_KERNEL).ok()?;
    for _ in 0..count {
        pages
            .push(
                HostPage::Owned(Page::alloc_page(GFP_KERNEL | __GFP_ZERO).ok()?),
                GFP_KERNEL,
            )
            .ok()?;
    }
    Some(pages)
}

/// Where `cmd`'s rmStatus sits, if it is handled here, with per-GPU arrays `arrays`.
fn status_offset(cmd: u32, arrays: PerGpuArrays) -> Option<usize> {
    Some(match cmd {
        23 | 24 => core::mem::offset_of!(UvmRangeGroupParams, rm_status),
        34 | 72 | 73 => core::mem::offset_of!(UvmVaRangeParams, rm_status),
        33 => arrays.map_external_tail() + core::mem::offset_of!(UvmMapExternalTail, rm_status),
        65 | 66 => core::mem::offset_of!(UvmGpuRangeParams, rm_status),
        68 => arrays.semaphore_pool_tail() + core::mem::offset_of!(UvmSemaphorePoolTail, rm_status),
        _ => return None,
    })
}
