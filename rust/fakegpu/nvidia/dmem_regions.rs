// SPDX-License-Identifier: GPL-2.0

//! One dmem cgroup region per NVIDIA GPU fakegpu fronts (kernels with CONFIG_CGROUP_DMEM,
//! 6.14+), to which the meter charges the GPU memory it meters (`meter.rs`), so
//! `dmem.current` and `dmem.max` of a cgroup follow and hold its tenants' NVIDIA memory as
//! they do amdgpu's and xe's VRAM. A GPU `nvidia_gpus=` leaves out has none: it is used past
//! fakegpu, so a `dmem.max` on it would hold nothing.
//!
//! A region is named `nvidia/<PCI address>` (`nvidia/0000:01:00.0`, the address CARD_INFO
//! gives, as `nvidia-smi` and DRM's own regions, `drm/<PCI address>/vram0`, spell it): stable
//! across reboots and GPU reordering, unlike an index. Its capacity is the GPU's memory,
//! which the driver reports through FB_GET_INFO_V2 (`TOTAL_RAM_SIZE`): fakegpu asks once at
//! load, on a client of its own that it frees at once. `/sys/kernel/fakegpu/dmem_regions`
//! lists `gpuN NAME BYTES` for the helper.
//!
//! Unload: the regions are unregistered after every charge record has gone; a driver object
//! that outlives fakegpu (a mapping still open) is then no longer charged anywhere, and the
//! regions' `dmem.max` settings go with them: a reload registers fresh regions, at `max`.

use super::discovery::nv_gpu_file;
use super::NVIDIA;
use crate::abi::ioc::iowr;
use crate::abi::nv_frontend::{NvIoctlCardInfo, NV_IOCTL_MAGIC};
use crate::abi::nv_rm::{class, ctrl, device_alloc_params, esc, fb_info, Nvos00, Nvos21, Nvos54};
use crate::abi::nv_status::NV_OK;
use crate::abi::pod::read_pod;
use crate::policy::ledger::Resource;
use crate::proxy::dmem::{self, Region};
use crate::proxy::page::Page;
use crate::proxy::personality::IoctlFn;
use crate::proxy::private_call::PrivateCall;
use crate::proxy::real_devices::RealFile;
use crate::proxy::worker::FileSet;
use crate::published::{PublishGuard, Published};
use core::fmt::Write;
use core::mem::offset_of;
use kernel::prelude::*;
use kernel::str::CString;

/// The handles fakegpu's own short-lived client uses below itself.
const DEVICE: u32 = 0xfa90_0001;
const SUBDEVICE: u32 = 0xfa90_0002;

/// One GPU's region.
struct GpuRegion {
    /// The GPU's slot (the RM's device instance).
    gpu: usize,
    name: CString,
    size: u64,
    region: Region,
}

/// The regions, by GPU slot.
pub(crate) struct Regions(KVec<GpuRegion>);

static REGIONS: Published<Regions> = Published::new();

/// Registers a region for each GPU fakegpu fronts, if the kernel has dmem; what cannot be
/// had (a GPU whose size the driver does not say) is logged and left uncharged. Needs the
/// personality loaded and the scratch space (the query is a private call). Unregistered
/// when the guard drops.
pub(crate) fn register() -> Result<PublishGuard<Regions>> {
    let mut regions = KVec::new();
    if let Some(nv) = NVIDIA.get().filter(|_| dmem::available()) {
        if let Some(driver) = &nv.driver {
            for (gpu, card) in nv.cards.iter().enumerate() {
                // A GPU `nvidia_gpus=` leaves out is used past fakegpu: a region of it
                // would charge nothing, and a `dmem.max` on it would hold nothing.
                if !driver.fronts(card.minor_number) {
                    continue;
                }
                let Some(size) = memory_size(driver.ctl(), gpu, card, nv) else {
                    pr_warn!(
                        "GPU {} did not say its memory size: its memory is not charged to dmem\n",
                        gpu
                    );
                    continue;
                };
                let p = card.pci_info;
                let name = CString::try_from_fmt(format_args!(
                    "nvidia/{:04x}:{:02x}:{:02x}.{:x}",
                    p.domain, p.bus, p.slot, p.function
                ))?;
                if let Some(region) = Region::register(size, &name) {
                    regions.push(
                        GpuRegion {
                            gpu,
                            name,
                            size,
                            region,
                        },
                        GFP_KERNEL,
                    )?;
                }
            }
        }
    }
    REGIONS.publish(Regions(regions))
}

/// The region charges of `r` also go to: its GPU's, for GPU memory.
pub(crate) fn region_of(r: Resource) -> Option<&'static Region> {
    let Resource::Memory(gpu) = r else {
        return None;
    };
    let regions = REGIONS.get()?;
    regions.0.iter().find(|r| r.gpu == gpu).map(|r| &r.region)
}

/// `/sys/kernel/fakegpu/dmem_regions`: `gpuN NAME BYTES` per region.
pub(crate) fn write_regions(out: &mut Page<'_>) -> core::fmt::Result {
    let Some(regions) = REGIONS.get() else {
        return Ok(());
    };
    for r in regions.0.iter() {
        let name = r.name.to_str().unwrap_or("?");
        writeln!(out, "gpu{} {} {}", r.gpu, name, r.size)?;
    }
    Ok(())
}

/// The bytes of memory GPU slot `gpu` has, as FB_GET_INFO_V2's TOTAL_RAM_SIZE says, asked
/// on a client made for the question on nvidiactl `ctl` and freed after it.
fn memory_size(
    ctl: &RealFile,
    gpu: usize,
    card: &NvIoctlCardInfo,
    nv: &super::NvState,
) -> Option<u64> {
    // SAFETY: the file is open, so its operations are alive.
    let ioctl = unsafe { crate::proxy::forward::real_fops(ctl) }.unlocked_ioctl?;
    // The device's allocation walks the caller's fds for a file of that GPU.
    let gpu_file = nv_gpu_file(card.minor_number).ok()?;
    let client = alloc(
        ctl,
        ioctl,
        Nvos21 {
            h_class: class::NV01_ROOT_CLIENT,
            ..Default::default()
        },
        &[],
        None,
    )?;
    let size = (|| {
        let mut device = [0u8; device_alloc_params::SIZE];
        let id = u32::try_from(gpu).ok()?.to_ne_bytes();
        device
            .get_mut(device_alloc_params::DEVICE_ID_OFFSET..)?
            .get_mut(..4)?
            .copy_from_slice(&id);
        let mut files = FileSet::new().ok()?;
        files.push(gpu_file);
        let under = |parent, handle, class| Nvos21 {
            h_root: client,
            h_object_parent: parent,
            h_object_new: handle,
            h_class: class,
            ..Default::default()
        };
        alloc(
            ctl,
            ioctl,
            under(client, DEVICE, class::NV01_DEVICE_0),
            &device,
            Some(files),
        )?;
        alloc(
            ctl,
            ioctl,
            under(DEVICE, SUBDEVICE, class::NV20_SUBDEVICE_0),
            &[0u8; 4],
            None,
        )?;
        total_ram(ctl, ioctl, client, nv)
    })();
    let free = Nvos00 {
        h_root: client,
        h_object_parent: client,
        h_object_old: client,
        status: 0,
    };
    let cmd = iowr::<Nvos00>(NV_IOCTL_MAGIC, esc::RM_FREE);
    if let Ok(mut call) = PrivateCall::on_real(ctl, ioctl, cmd, &free) {
        let _ = call.run();
    }
    size
}

/// RM_ALLOC of `p` with allocation parameters `params` (none if empty) and `files` in the
/// worker's table: the new object's handle (the client's, for a client).
fn alloc(
    ctl: &RealFile,
    ioctl: IoctlFn,
    mut p: Nvos21,
    params: &[u8],
    files: Option<KBox<FileSet>>,
) -> Option<u32> {
    p.params_size = params.len() as u32;
    let cmd = iowr::<Nvos21>(NV_IOCTL_MAGIC, esc::RM_ALLOC);
    let mut call = PrivateCall::on_real(ctl, ioctl, cmd, &p).ok()?;
    if !params.is_empty() {
        call.with_block(offset_of!(Nvos21, p_alloc_parms), params)
            .ok()?;
    }
    if let Some(files) = files {
        call.with_files(files);
    }
    let ret = call.run().ok()?;
    let answer = read_pod::<Nvos21>(call.outer())?;
    if ret != 0 || answer.status != NV_OK {
        return None;
    }
    match answer.h_object_new {
        0 => Some(answer.h_root).filter(|&h| h != 0),
        h => Some(h),
    }
}

/// FB_GET_INFO_V2's TOTAL_RAM_SIZE (KiB) of fakegpu's subdevice, in bytes.
fn total_ram(ctl: &RealFile, ioctl: IoctlFn, client: u32, nv: &super::NvState) -> Option<u64> {
    let cmd = ctrl::NV2080_CTRL_CMD_FB_GET_INFO_V2;
    let size = nv
        .family()
        .control_size(cmd)
        .unwrap_or(fb_info::PARAMS_SIZE);
    let mut params = KVec::from_elem(0u8, size, GFP_KERNEL).ok()?;
    params.get_mut(0..4)?.copy_from_slice(&1u32.to_ne_bytes());
    params
        .get_mut(4..8)?
        .copy_from_slice(&fb_info::TOTAL_RAM_SIZE.to_ne_bytes());
    let p = Nvos54 {
        h_client: client,
        h_object: SUBDEVICE,
        cmd,
        params_size: size as u32,
        ..Default::default()
    };
    let rm_control = iowr::<Nvos54>(NV_IOCTL_MAGIC, esc::RM_CONTROL);
    let mut call = PrivateCall::on_real(ctl, ioctl, rm_control, &p).ok()?;
    call.with_block(offset_of!(Nvos54, params), &params).ok()?;
    let ret = call.run().ok()?;
    let status = read_pod::<Nvos54>(call.outer())?.status;
    if ret != 0 || status != NV_OK {
        return None;
    }
    let answer = call.block(offset_of!(Nvos54, params))?;
    let kib = answer.get(8..).and_then(read_pod::<u32>)?;
    Some(u64::from(kib) << 10).filter(|&b| b != 0)
}
