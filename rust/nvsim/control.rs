// SPDX-License-Identifier: GPL-2.0

//! RM_CONTROL: the control commands nvsim answers, with the RM's checks. The answers of the
//! informational controls are the model's (`nvsim_model::ctrl`); this file copies parameters
//! in and out, including the lists some controls point to in the caller's memory.

use crate::abi::nv_gpumon;
use crate::abi::nv_rm::{class, ctrl, engine_type, fb_info, Nvos54};
use crate::abi::nv_status::*;
use crate::abi::pod::{read_pod, write_pod};
use crate::caller;
use crate::nvfile::NvFile;
use crate::nvsim_model::admin;
use crate::nvsim_model::ctrl as nvsim_ctrl;
use crate::nvsim_model::rm;
use crate::state::State;
use crate::trace::log_unimplemented;
use kernel::prelude::*;

/// The scheduling controls: what they change on the engine's runlist, recorded for the
/// trace (what fakegpu issued shows there).
mod schedule {
    use crate::abi::nv_rm::ctrl;
    use crate::abi::nv_status::*;
    use crate::state::State;
    use crate::trace;
    use kernel::prelude::*;

    /// GPFIFO_SCHEDULE on channel group or channel `handle` of `client`: it takes effect
    /// now, though the engine may still be handing out earlier time (its pass splits that
    /// time at this moment).
    pub(super) fn set_scheduled(
        state: &State,
        cmd: u32,
        client: u32,
        handle: u32,
        gpu: Option<u8>,
        enable: bool,
    ) -> Result<(), NvStatus> {
        let at = crate::channels::now_ns();
        let mut schedule = state.channels.schedule();
        // How far the object's GPU's engine has handed out its time (a group knows its GPU).
        let group_gpu = schedule.group(client, handle).map(|g| g.gpu);
        let engine = group_gpu
            .or(gpu)
            .and_then(|g| schedule.clock_ns.get(usize::from(g)).copied())
            .unwrap_or(0);
        let found = if cmd == ctrl::NVA06C_CTRL_CMD_GPFIFO_SCHEDULE {
            schedule
                .group_mut(client, handle)
                .map(|g| g.scheduled.set(enable, at, engine))
        } else {
            schedule
                .channel_mut(client, handle)
                .map(|c| c.scheduled.set(enable, at, engine))
        };
        drop(schedule);
        if trace::enabled() {
            pr_info!(
                "trace: schedule client {:#x} object {:#x}: {}\n",
                client,
                handle,
                if enable {
                    "on the runlist"
                } else {
                    "off the runlist"
                }
            );
        }
        found.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)
    }

    /// SET_TIMESLICE on group `handle` of `client` (any value: the RM's minimum is 0 from
    /// Volta on).
    pub(super) fn set_timeslice(
        state: &State,
        client: u32,
        handle: u32,
        us: u64,
    ) -> Result<(), NvStatus> {
        state
            .channels
            .schedule()
            .group_mut(client, handle)
            .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?
            .timeslice_us = us;
        if trace::enabled() {
            pr_info!(
                "trace: timeslice client {:#x} group {:#x}: {} us\n",
                client,
                handle,
                us
            );
        }
        Ok(())
    }

    /// GET_TIMESLICE of group `handle` of `client`.
    pub(super) fn timeslice(state: &State, client: u32, handle: u32) -> Result<u64, NvStatus> {
        state
            .channels
            .schedule()
            .group(client, handle)
            .map(|g| g.timeslice_us)
            .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)
    }

    /// PREEMPT of group `handle` of `client` on `gpu`: ends its timeslice if it holds the
    /// engine.
    pub(super) fn preempt(state: &State, gpu: Option<u8>, client: u32, handle: u32) {
        let mut schedule = state.channels.schedule();
        if let Some(g) = gpu.map(usize::from).filter(|&g| g < schedule.turns.len()) {
            if schedule.holder[g] == Some((client, handle)) {
                schedule.turns[g].preempt();
            }
        }
        drop(schedule);
        if trace::enabled() {
            pr_info!("trace: preempt client {:#x} group {:#x}\n", client, handle);
        }
    }
}

/// RM_CONTROL: the commands of `ctrl::SPECS`, with the RM's checks (the client belongs to
/// this file, the object exists and takes the command, the exact parameter size); the
/// driver's not-supported status, logged, for any other command.
pub(crate) fn control(state: &State, file: &NvFile, p: &Nvos54) -> NvStatus {
    let spec = ctrl::spec(p.cmd)
        .or_else(|| nvsim_ctrl::spec(p.cmd, state.family))
        .or_else(|| admin::spec(p.cmd));
    let Some(mut spec) = spec else {
        log_unimplemented("control", p.cmd, p.params_size as usize);
        return NV_ERR_NOT_SUPPORTED;
    };
    // Controls whose parameters grew (or shrank) between families have the family's size.
    spec.size = state.family.control_size(p.cmd).unwrap_or(spec.size);
    control_checked(state, file, p, spec).err().unwrap_or(NV_OK)
}

/// [`control`] once the command is known: the RM's checks, then the answer, copied back to
/// the caller's parameters; the status of the first check that fails otherwise.
fn control_checked(
    state: &State,
    file: &NvFile,
    p: &Nvos54,
    spec: ctrl::Spec,
) -> Result<(), NvStatus> {
    if p.params_size as usize != spec.size {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let (object, usage) = {
        let rm = state.rm.lock();
        let owner = rm
            .get(p.h_client, p.h_client)
            .ok_or(NV_ERR_INVALID_CLIENT)?;
        if owner.file != file.id {
            return Err(NV_ERR_INVALID_CLIENT);
        }
        let object = *rm
            .get(p.h_client, p.h_object)
            .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
        let usage = object.gpu.and_then(|g| rm.gpu(usize::from(g)).copied());
        (object, usage)
    };
    let takes = match spec.target {
        ctrl::Target::Client => object.kind == rm::Kind::Client,
        ctrl::Target::Device => object.class == class::NV01_DEVICE_0,
        ctrl::Target::Subdevice => object.class == class::NV20_SUBDEVICE_0,
        ctrl::Target::ChannelGroup => object.class == class::KEPLER_CHANNEL_GROUP_A,
        ctrl::Target::Channel => matches!(object.kind, rm::Kind::Channel { .. }),
        ctrl::Target::ConfCompute => object.class == class::NV_CONFIDENTIAL_COMPUTE,
    };
    if !takes {
        return Err(NV_ERR_NOT_SUPPORTED);
    }
    // A PRIVILEGED control needs the admin level, taken from the caller on each call.
    if admin::privileged(spec.cmd) && !caller::is_admin() {
        return Err(NV_ERR_INSUFFICIENT_PERMISSIONS);
    }
    let ptr = usize::try_from(p.params).map_err(|_| NV_ERR_INVALID_POINTER)?;
    let mut params = KVec::from_elem(0u8, spec.size, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    crate::compat::user_slice(ptr, spec.size)
        .reader()
        .read_slice(&mut params)
        .map_err(|_| NV_ERR_INVALID_POINTER)?;
    match spec.cmd {
        ctrl::NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS => {
            for (i, chunk) in params.chunks_exact_mut(4).enumerate() {
                let id = state
                    .gpus
                    .get(i)
                    .map_or(ctrl::NV0000_CTRL_GPU_INVALID_ID, |g| g.gpu_id());
                write_pod(chunk, &id);
            }
        }
        ctrl::NV2080_CTRL_CMD_FB_GET_INFO_V2 => {
            let count = read_pod::<u32>(&params).unwrap_or(0) as usize;
            let gpu = usage.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            fb_get_info(params.get_mut(4..).unwrap_or_default(), count, gpu)?
        }
        ctrl::NV2080_CTRL_CMD_FB_GET_INFO => {
            fb_get_info_v1(&params, usage.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?)?
        }
        ctrl::NV2080_CTRL_CMD_GPU_GET_PIDS => {
            let gpu = object.gpu.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            let id_type = read_pod::<u32>(&params).unwrap_or(u32::MAX);
            if id_type != 0 {
                return Err(NV_ERR_NOT_SUPPORTED);
            }
            let class_id = params.get(4..).and_then(read_pod::<u32>).unwrap_or(0);
            let mut pids = KVec::from_elem(0u32, ctrl::GET_PIDS_MAX, GFP_KERNEL)
                .map_err(|_| NV_ERR_NO_MEMORY)?;
            let n = state.rm.lock().pids_with_class(gpu, class_id, &mut pids);
            let mut count = 0u32;
            for &pid in pids.iter().take(n) {
                let vnr = caller::pid_to_ns(pid);
                if vnr != 0 {
                    if let Some(slot) = params.get_mut(12 + 4 * count as usize..) {
                        write_pod(slot, &vnr);
                        count += 1;
                    }
                }
            }
            write_pod(&mut params[8..], &count);
        }
        ctrl::NV2080_CTRL_CMD_GPU_GET_PID_INFO => {
            let gpu = object.gpu.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            let count = read_pod::<u32>(&params).unwrap_or(0) as usize;
            if count > ctrl::GET_PID_INFO_MAX {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            for i in 0..count {
                let at = 8 + ctrl::PID_INFO_ENTRY * i;
                let Some(entry) = params.get_mut(at..at + ctrl::PID_INFO_ENTRY) else {
                    break;
                };
                let vnr = read_pod::<u32>(entry).unwrap_or(0);
                let index = entry.get(4..).and_then(read_pod::<u32>).unwrap_or(u32::MAX);
                entry[16..].fill(0);
                // smcSubscription: no MIG partition (PARTITIONID_INVALID).
                write_pod(&mut entry[64..], &u32::MAX);
                write_pod(&mut entry[68..], &u32::MAX);
                let result = if index == ctrl::PID_INFO_INDEX_VIDEO_MEMORY_USAGE {
                    let pid = caller::pid_from_ns(vnr);
                    let (own, duped) = state.rm.lock().pid_video_memory(gpu, pid);
                    write_pod(&mut entry[16..], &own);
                    write_pod(&mut entry[32..], &duped);
                    NV_OK
                } else {
                    NV_ERR_INVALID_ARGUMENT
                };
                write_pod(&mut entry[8..], &result);
            }
        }
        ctrl::NV2080_CTRL_CMD_GPU_GET_NAME_STRING => {
            let unicode = read_pod::<u32>(&params).unwrap_or(0) == 1;
            params[4..].fill(0);
            let name = crate::nvsim_model::frontend::SimGpu::NAME.as_bytes();
            for (i, &b) in name.iter().take(63).enumerate() {
                if unicode {
                    write_pod(&mut params[4 + 2 * i..], &u16::from(b));
                } else {
                    params[4 + i] = b;
                }
            }
        }
        ctrl::NV2080_CTRL_CMD_GPU_GET_GID_INFO => {
            let gpu = object
                .gpu
                .and_then(|g| state.gpus.get(usize::from(g)))
                .ok_or(NV_ERR_INVALID_STATE)?;
            let binary = params.get(4..).and_then(read_pod::<u32>).unwrap_or(0) & 3 == 2;
            params[12..].fill(0);
            let len = if binary {
                let uuid = gpu.uuid();
                params[12..28].copy_from_slice(&uuid);
                uuid.len()
            } else {
                let text = gpu.uuid_text();
                let bytes = text.as_bytes_with_nul();
                params[12..12 + bytes.len()].copy_from_slice(bytes);
                bytes.len()
            };
            write_pod(&mut params[8..], &(len as u32));
        }
        nv_gpumon::CMD => {
            // The engine's samples of this GPU (`engine.rs`), with the global pids the
            // RM records for the processes that made the clients.
            let gpu = object.gpu.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            let sample = nv_gpumon::sample_size_of(spec.size).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            let schedule = state.channels.schedule();
            let sampler = schedule
                .samplers
                .get(usize::from(gpu))
                .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            let (ring, tracker) = sampler.ring();
            if !nv_gpumon::write_samples(&mut params, sample, ring, tracker) {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
        }
        ctrl::NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN => {
            // Runlist 0 (bits 22:16), the channel id (11:0).
            if let rm::Kind::Channel { chid, .. } = object.kind {
                write_pod(&mut params, &u32::from(chid));
            }
        }
        ctrl::NVC36F_CTRL_GET_CLASS_ENGINEID => {
            let handle = read_pod::<u32>(&params).unwrap_or(0);
            if handle == 0 {
                return Err(NV_ERR_OBJECT_NOT_FOUND);
            }
            let rm::Kind::Channel { engine_type, .. } = object.kind else {
                return Err(NV_ERR_INVALID_OBJECT_HANDLE);
            };
            let child = state
                .rm
                .lock()
                .get(p.h_client, handle)
                .filter(|o| o.parent == object.handle && o.kind == rm::Kind::EngineObject)
                .map(|o| o.class)
                .ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
            let engine = if class::COMPUTE.contains(&child) {
                engine_type::GR0
            } else {
                u32::from(engine_type)
            };
            // classEngineID is SET_OBJECT's NVCLASS field (15:0): the class.
            write_pod(&mut params[4..], &(child & 0xffff));
            write_pod(&mut params[8..], &child);
            write_pod(&mut params[12..], &engine);
        }
        ctrl::NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST => channel_list(state, &object, &params)?,
        ctrl::NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE => {
            let handle = read_pod::<u32>(&params).unwrap_or(0);
            let is_channel = state
                .rm
                .lock()
                .get(p.h_client, handle)
                .is_some_and(|o| matches!(o.kind, rm::Kind::Channel { .. }));
            if !is_channel {
                return Err(NV_ERR_INVALID_CHANNEL);
            }
            write_pod(&mut params[8..], &GR_CTX_BUFFER_SIZE);
        }
        // Scheduling: the engine's runlist (`channels.rs`, `engine.rs`) takes them at once.
        ctrl::NVA06C_CTRL_CMD_PREEMPT => {
            let manual = params.get(1).is_some_and(|&b| b != 0);
            let timeout = params.get(4..).and_then(read_pod::<u32>).unwrap_or(0);
            if manual && timeout > ctrl::PREEMPT_MAX_MANUAL_TIMEOUT_US {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            schedule::preempt(state, object.gpu, p.h_client, p.h_object);
        }
        ctrl::NVA06C_CTRL_CMD_GPFIFO_SCHEDULE | ctrl::NVA06F_CTRL_CMD_GPFIFO_SCHEDULE => {
            let enable = params.first().is_some_and(|&b| b != 0);
            schedule::set_scheduled(state, spec.cmd, p.h_client, p.h_object, object.gpu, enable)?;
        }
        ctrl::NVA06C_CTRL_CMD_SET_TIMESLICE => {
            let us = read_pod::<u64>(&params).unwrap_or(0);
            schedule::set_timeslice(state, p.h_client, p.h_object, us)?;
        }
        ctrl::NVA06C_CTRL_CMD_GET_TIMESLICE => {
            let us = schedule::timeslice(state, p.h_client, p.h_object)?;
            write_pod(&mut params, &us);
        }
        nvsim_ctrl::SYSTEM_GET_BUILD_VERSION => {
            let copies = nvsim_ctrl::build_version(&mut params, &ctrl_context(state, object.gpu))?;
            for (to, text) in copies.iter().flatten() {
                let bytes = text.as_bytes_with_nul();
                let to = usize::try_from(*to).map_err(|_| NV_ERR_INVALID_PARAM_STRUCT)?;
                crate::compat::user_slice(to, bytes.len())
                    .writer()
                    .write_slice(bytes)
                    .map_err(|_| NV_ERR_INVALID_PARAM_STRUCT)?;
            }
        }
        nvsim_ctrl::CLIENT_GET_ADDR_SPACE_TYPE => {
            let handle = read_pod::<u32>(&params).unwrap_or(0);
            let class = state
                .rm
                .lock()
                .get(p.h_client, handle)
                .map(|o| o.class)
                .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            let kind = nvsim_ctrl::addr_space_type(class).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            if let Some(out) = params.get_mut(8..) {
                write_pod(out, &kind);
            }
        }
        nvsim_ctrl::GR_GET_INFO => {
            // The list is in the caller's memory: grInfoListSize@0, grInfoList@8.
            let count = read_pod::<u32>(&params).unwrap_or(0) as usize;
            if count == 0 || count > state.family.gr_info_max_size {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            let at = params.get(8..).and_then(read_pod::<u64>).unwrap_or(0);
            let at = usize::try_from(at).map_err(|_| NV_ERR_INVALID_POINTER)?;
            let mut list =
                KVec::from_elem(0u8, 8 * count, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
            crate::compat::user_slice(at, list.len())
                .reader()
                .read_slice(&mut list)
                .map_err(|_| NV_ERR_INVALID_POINTER)?;
            nvsim_ctrl::gr_info(&mut list, state.family)?;
            crate::compat::user_slice(at, list.len())
                .writer()
                .write_slice(&list)
                .map_err(|_| NV_ERR_INVALID_POINTER)?;
        }
        cmd if admin::spec(cmd).is_some() => {
            let mut settings = state.settings.lock();
            let gpu = object.gpu.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            let mine = settings
                .get_mut(usize::from(gpu))
                .ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            admin::answer(cmd, &mut params, mine)?
        }
        cmd => nvsim_ctrl::answer(cmd, &mut params, &ctrl_context(state, object.gpu))?,
    }
    crate::compat::user_slice(ptr, spec.size)
        .writer()
        .write_slice(&params)
        .map_err(|_| NV_ERR_INVALID_POINTER)
}

extern "C" {
    /// Wall-clock time in microseconds since the epoch (the RM's "OS time").
    fn nvsim_clock_real_us() -> u64;
    /// Monotonic nanoseconds: the simulated GPU's timer.
    fn nvsim_clock_mono_ns() -> u64;
}

/// What nvsim's informational controls answer from.
fn ctrl_context(state: &State, gpu: Option<u8>) -> nvsim_ctrl::Context<'_> {
    let settings = gpu
        .and_then(|g| state.settings.lock().get(usize::from(g)).copied())
        .unwrap_or_default();
    nvsim_ctrl::Context {
        gpus: &state.gpus,
        version: state.version,
        gpu: gpu.and_then(|g| state.gpus.get(usize::from(g))),
        clocks,
        settings,
    }
}

/// The clocks the time-correlation control samples (`shim.c`).
fn clocks() -> (u64, u64) {
    // SAFETY: both only read the kernel's clocks.
    unsafe { (nvsim_clock_real_us(), nvsim_clock_mono_ns()) }
}

/// What GR_GET_CTX_BUFFER_SIZE reports for a channel: nvsim's own figure (the RM sums the
/// context buffers its GR engine needs).
const GR_CTX_BUFFER_SIZE: u64 = 2 << 20;

/// Most channels one GET_CHANNELLIST names (the RM's parameter copy takes 1 MiB at most).
const CHANNELLIST_MAX: usize = (1 << 20) / 4;

/// FIFO_GET_CHANNELLIST: the channel id of each handle in the caller's list (of the calling
/// client), `0xffffffff` for one that is no channel; both lists are in the caller's memory.
fn channel_list(state: &State, device: &rm::Object, params: &[u8]) -> Result<(), NvStatus> {
    let count = read_pod::<u32>(params).unwrap_or(0) as usize;
    if count == 0 || count > CHANNELLIST_MAX {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let pointer = |at: usize| {
        params
            .get(at..)
            .and_then(read_pod::<u64>)
            .and_then(|p| usize::try_from(p).ok())
            .ok_or(NV_ERR_INVALID_POINTER)
    };
    let (handles_at, ids_at) = (pointer(8)?, pointer(16)?);
    let mut list = KVVec::from_elem(0u8, 4 * count, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    crate::compat::user_slice(handles_at, list.len())
        .reader()
        .read_slice(&mut list)
        .map_err(|_| NV_ERR_INVALID_POINTER)?;
    {
        let rm = state.rm.lock();
        for entry in list.chunks_exact_mut(4) {
            let handle = read_pod::<u32>(entry).unwrap_or(0);
            let id = match rm.get(device.client, handle).map(|o| (o.kind, o.gpu)) {
                Some((rm::Kind::Channel { chid, .. }, gpu)) if gpu == device.gpu => u32::from(chid),
                _ => ctrl::CHANNELLIST_INVALID_CHANNEL,
            };
            write_pod(entry, &id);
        }
    }
    crate::compat::user_slice(ids_at, list.len())
        .writer()
        .write_slice(&list)
        .map_err(|_| NV_ERR_INVALID_POINTER)
}

/// FB_GET_INFO (first version): the list is in the caller's memory at the params' pointer,
/// copied in and out here as the RM does for its embedded-pointer controls.
fn fb_get_info_v1(params: &[u8], gpu: rm::GpuUsage) -> Result<(), NvStatus> {
    let count = read_pod::<u32>(params).unwrap_or(0) as usize;
    if count == 0 || count > fb_info::MAX_LIST_SIZE {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let at = params
        .get(fb_info::V1_LIST_AT..)
        .and_then(read_pod::<u64>)
        .and_then(|p| usize::try_from(p).ok())
        .ok_or(NV_ERR_INVALID_POINTER)?;
    let len = count * fb_info::ENTRY_SIZE;
    let mut list = KVec::from_elem(0u8, len, GFP_KERNEL).map_err(|_| NV_ERR_NO_MEMORY)?;
    crate::compat::user_slice(at, len)
        .reader()
        .read_slice(&mut list)
        .map_err(|_| NV_ERR_INVALID_POINTER)?;
    fb_get_info(&mut list, count, gpu)?;
    crate::compat::user_slice(at, len)
        .writer()
        .write_slice(&list)
        .map_err(|_| NV_ERR_INVALID_POINTER)
}

/// Fills the first `count` entries of an FB_GET_INFO list (`{u32 index; u32 data}`, both
/// versions): total and free framebuffer of the subdevice's GPU, in KiB.
fn fb_get_info(list: &mut [u8], count: usize, gpu: rm::GpuUsage) -> Result<(), NvStatus> {
    if count == 0 || count > list.len() / fb_info::ENTRY_SIZE {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let (total_kib, free_kib) = (gpu.fb_size >> 10, (gpu.fb_size - gpu.fb_used) >> 10);
    for entry in list.chunks_exact_mut(fb_info::ENTRY_SIZE).take(count) {
        let index = read_pod::<u32>(entry).ok_or(NV_ERR_INVALID_ARGUMENT)?;
        let data = match index {
            fb_info::TOTAL_RAM_SIZE
            | fb_info::RAM_SIZE
            | fb_info::HEAP_SIZE
            | fb_info::USABLE_RAM_SIZE => total_kib,
            fb_info::HEAP_FREE => free_kib,
            _ => 0,
        };
        write_pod(&mut entry[4..], &u32::try_from(data).unwrap_or(u32::MAX));
    }
    Ok(())
}
