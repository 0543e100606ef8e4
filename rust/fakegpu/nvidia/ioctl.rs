// SPDX-License-Identifier: GPL-2.0

//! The ioctl path of fakegpu's NVIDIA nodes (`/dev/fakegpuctl`, `/dev/fakegpuN`,
//! `/dev/fakegpu-uvm`): every call is decoded, checked against the filter
//! (`policy::nv_proxy`), and forwarded in the caller's context, forwarded through the
//! caller's worker (`fd_translation.rs`), or refused in the driver's own form.
//!
//! IOCTL_XFER_CMD is unwrapped here and the inner call forwarded as a plain ioctl, so the
//! escape number and size the driver acts on are the ones fakegpu checked (they sit in a
//! register, not in memory the caller could rewrite in between).

use super::calls;
use super::Nv;
use crate::abi::ioc::{self, IOC_READ, IOC_SIZE_MAX, IOC_WRITE};
use crate::abi::nv_frontend::{
    esc as fe, unwrap_xfer, NvIoctlExportToDmaBufFd, NvIoctlXfer, NV_CTL_MINOR, NV_IOCTL_MAGIC,
};
use crate::abi::nv_rm::{
    ctrl, esc as rm, fb_info, vid_heap, Nvos00, Nvos02WithFd, Nvos21, Nvos54, Nvos55, Nvos64,
};
use crate::abi::nv_status::{NV_ERR_INSUFFICIENT_PERMISSIONS, NV_ERR_NOT_SUPPORTED};
use crate::abi::pod::read_pod;
use crate::policy::fronts::Family;
use crate::policy::gpu_set::Visibility;
use crate::policy::nv_caps::{self, Capabilities};
use crate::policy::nv_controls;
use crate::policy::nv_proxy::{self, NvNode, Refusal, Route, HEAD_MAX};
use crate::policy::nv_visibility::{visibility_call, VisibilityCall};
use crate::proxy::personality::{FakeFile, IoctlFn};
use crate::proxy::private_call::PrivateCall;
use crate::proxy::refusal::{log_audit, log_refusal};
use core::mem::{offset_of, size_of};
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;

/// Handles an ioctl on a fake NVIDIA file; `ioctl` is the real driver's handler.
pub(crate) fn ioctl(fake: &FakeFile, ioctl: IoctlFn, cmd: c_uint, arg: usize) -> c_long {
    let Some(nv) = Nv::get() else {
        return ENXIO.to_errno() as c_long;
    };
    let node = match fake.front.family {
        Family::NvidiaUvm => NvNode::Uvm,
        _ if fake.front.real.minor == NV_CTL_MINOR => NvNode::Ctl,
        _ => NvNode::Gpu,
    };
    let result = match node {
        NvNode::Uvm => uvm_ioctl(fake, ioctl, cmd, arg, &nv),
        NvNode::Ctl | NvNode::Gpu => escape_ioctl(fake, ioctl, cmd, arg, &nv),
    };
    result.unwrap_or_else(|e| e.to_errno() as c_long)
}

/// A frontend or RM escape on the ctl or a GPU node.
fn escape_ioctl(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    arg: usize,
    nv: &Nv,
) -> Result<c_long> {
    let parts = ioc::decode(cmd);
    let (nr, size, ptr, forward_cmd) = if parts.nr == fe::IOCTL_XFER_CMD {
        let outer = parts.size as usize;
        if outer != core::mem::size_of::<NvIoctlXfer>() {
            return Err(EINVAL);
        }
        let mut raw = [0u8; core::mem::size_of::<NvIoctlXfer>()];
        crate::compat::user_slice(arg, outer)
            .reader()
            .read_slice(&mut raw)?;
        let xfer: NvIoctlXfer = read_pod(&raw).ok_or(EINVAL)?;
        let (nr, size, ptr) = unwrap_xfer(outer, &xfer).map_err(|e| Error::from_errno(-e))?;
        // The one size an XFER carries that a plain ioctl cannot (16384): no escape of the
        // 535 driver has parameters that large.
        if size > IOC_SIZE_MAX as usize {
            return Err(EINVAL);
        }
        let ptr = usize::try_from(ptr).map_err(|_| EFAULT)?;
        let plain = ioc::ioc(IOC_READ | IOC_WRITE, NV_IOCTL_MAGIC, nr, size);
        (nr, size, ptr, plain)
    } else {
        (parts.nr, parts.size as usize, arg, cmd)
    };
    // Only the head of the parameters, and only for calls whose route depends on it: the
    // driver copies the whole of them itself.
    let mut head = [0u8; HEAD_MAX];
    let head_len = if nv_proxy::reads_params(nr) {
        size.min(HEAD_MAX)
    } else {
        0
    };
    let head = head.get_mut(..head_len).ok_or(EINVAL)?;
    // An RM_CONTROL's NVOS54 is copied once: the filter routes by that copy, and a control
    // it lets through is made on it (`controls.rs`), so the command checked is the command
    // the driver gets, whatever the caller's other threads write meanwhile.
    let mut control_copy = None;
    if nr == rm::RM_CONTROL && size == size_of::<Nvos54>() {
        let copy = PrivateCall::new(fake, ioctl, forward_cmd, ptr, size)?;
        head.copy_from_slice(copy.outer().get(..head_len).ok_or(EINVAL)?);
        control_copy = Some(copy);
    } else {
        crate::compat::user_slice(ptr, head_len)
            .reader()
            .read_slice(head)?;
    }
    let mut route = nv_proxy::route_escape(nr, size, head, nv.filter, nv.family);
    // An RM_CONTROL's head, read once; a control is logged and counted by its command, not
    // by the escape that carries it.
    let control = if nr == rm::RM_CONTROL {
        read_pod::<Nvos54>(head)
    } else {
        None
    };
    // A control that needs a capability (monitoring's own) the caller's cgroup lacks.
    if let Some(p) = control {
        let need = nv_controls::control_need(p.cmd, nv.family);
        let forwarded = !matches!(route, Route::Refuse { .. });
        if forwarded
            && need != Capabilities::NONE
            && !super::capabilities_of_current(nv.cgroups).allows(need)
        {
            route = Route::Refuse {
                refusal: Refusal::Status {
                    offset: offset_of!(Nvos54, status),
                    status: NV_ERR_INSUFFICIENT_PERMISSIONS,
                },
                why: nv_caps::MISSING_CAPABILITY,
            };
        }
    }
    let call = control.map_or(u32::from(nr), |p| p.cmd);
    if let (Some(p), Route::Audited { why } | Route::Refuse { why, .. }) = (control, route) {
        if why == nv_proxy::UNKNOWN_CONTROL {
            calls::unknown_control(p.cmd);
        } else if why == nv_proxy::PRIVILEGED_CONTROL {
            calls::privileged_control(p.cmd);
        }
    }
    if let (Route::Direct, Some(call)) = (route, visibility_call(nr, head)) {
        // CARD_INFO and ATTACH_GPUS_TO_FD are for the ctl node; the driver refuses them
        // elsewhere.
        let ctl_only = !matches!(call, VisibilityCall::IdLists { .. });
        if !ctl_only || fake.front.real.minor == NV_CTL_MINOR {
            let visible = nv.cgroups.visibility_of_current();
            if visible != Visibility::All {
                calls::count(calls::Route::Forwarded);
                return super::visibility::limited_call(
                    fake,
                    ioctl,
                    forward_cmd,
                    ptr,
                    size,
                    (call, control_copy),
                    &visible,
                    nv,
                );
            }
        }
    }
    if let (Route::Direct, Some(p), Some(copy)) = (route, control, control_copy) {
        {
            let size = p.params_size as usize;
            // Other sizes go to the driver, which refuses them before reading anything.
            match (p.cmd, size) {
                (ctrl::NV2080_CTRL_CMD_GPU_GET_PIDS, super::processes::GET_PIDS_SIZE) => {
                    calls::count(calls::Route::Private);
                    let all = super::all_processes_for_current(nv.cgroups);
                    return super::processes::get_pids(copy, ptr, all);
                }
                (ctrl::NV2080_CTRL_CMD_GPU_GET_PID_INFO, super::processes::GET_PID_INFO_SIZE) => {
                    calls::count(calls::Route::Private);
                    let all = super::all_processes_for_current(nv.cgroups);
                    return super::processes::get_pid_info(copy, ptr, all);
                }
                _ => {}
            }
            // A tenant's scheduling of its channel groups: its wish, which the governor
            // keeps while compute limits apply (`governor.rs`).
            let schedule_size = match p.cmd {
                ctrl::NVA06C_CTRL_CMD_GPFIFO_SCHEDULE => Some(2),
                ctrl::NVA06C_CTRL_CMD_SET_TIMESLICE => Some(8),
                _ => None,
            };
            if schedule_size == Some(size) {
                let mut copy = copy;
                copy.follow(super::controls::PARAMS_AT, size)?;
                let params = copy.block(super::controls::PARAMS_AT).unwrap_or(&[]);
                let caller = fake.real.as_ptr() as usize;
                if let Some(done) = super::governor::tenant_control(nv, caller, &p, params, ptr) {
                    calls::count(calls::Route::Private);
                    return done;
                }
                calls::count(calls::Route::Private);
                return super::controls::make_followed(copy, ptr);
            }
            // V2's list is 54 entries long in 535, 55 in 550: the family says its size.
            let v2_size = || {
                nv.family
                    .control_size(p.cmd)
                    .unwrap_or(fb_info::PARAMS_SIZE)
            };
            let version = match (p.cmd, p.params_size as usize) {
                (ctrl::NV2080_CTRL_CMD_FB_GET_INFO_V2, s) if s == v2_size() => Some(2),
                (ctrl::NV2080_CTRL_CMD_FB_GET_INFO, fb_info::V1_PARAMS_SIZE) => Some(1),
                _ => None,
            };
            if let Some(version) = version {
                if let Some(limits) = super::meter::fb_limits(nv, p.h_client, p.h_object) {
                    calls::count(calls::Route::Private);
                    return super::meter::fb_info_limited(
                        copy, &p, ptr, version, limits, nv.family,
                    );
                }
            }
            calls::count(calls::Route::Private);
            return super::controls::make(copy, &p, ptr, nv.family);
        }
    }
    if let Some(result) = metered(fake, ioctl, forward_cmd, ptr, nr, size, route, nv) {
        return result;
    }
    dispatch(fake, ioctl, forward_cmd, ptr, (head, size), route, call)
}

/// The calls that create, free or duplicate RM objects, which the meter makes (on fakegpu's
/// private copy of their parameters, see `meter.rs`); `None` for every other call.
#[allow(clippy::too_many_arguments)]
fn metered(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    nr: u8,
    size: usize,
    route: Route,
    nv: &Nv,
) -> Option<Result<c_long>> {
    if matches!(route, Route::Refuse { .. }) {
        return None;
    }
    match nr {
        rm::RM_ALLOC if size == size_of::<Nvos21>() || size == size_of::<Nvos64>() => {
            let gpu_files = matches!(route, Route::Worker(w) if w.gpu_files);
            let visible = if gpu_files {
                nv.cgroups.visibility_of_current()
            } else {
                Visibility::All
            };
            calls::count(calls::Route::Private);
            let (ret, channel) =
                super::meter::rm_alloc(fake, ioctl, cmd, ptr, size, gpu_files, visible, nv);
            // A channel made: its submissions are counted from now on.
            if let Some(c) = channel {
                super::submissions::watch(nv, c.client, c.handle, &c.params);
            }
            Some(ret)
        }
        // Memory in a dma-buf outlives its RM_FREE, and so would escape its charge.
        fe::EXPORT_TO_DMABUF_FD if size == size_of::<NvIoctlExportToDmaBufFd>() => {
            let status_at = offset_of!(NvIoctlExportToDmaBufFd, status);
            refuse_if_limited(fake, ptr, nr, status_at, nv)
        }
        rm::RM_ALLOC_MEMORY if size == size_of::<Nvos02WithFd>() => {
            calls::count(calls::Route::Private);
            let visible = nv.cgroups.visibility_of_current();
            let fd_file = |fd| super::fd_translation::real_behind_fd(fd, &visible);
            Some(super::meter::rm_alloc_memory(
                fake, ioctl, cmd, ptr, fd_file, nv,
            ))
        }
        rm::RM_FREE if size == size_of::<Nvos00>() => {
            calls::count(calls::Route::Private);
            Some(super::meter::rm_free(fake, ioctl, cmd, ptr, nv))
        }
        rm::RM_DUP_OBJECT if size == size_of::<Nvos55>() => {
            calls::count(calls::Route::Private);
            Some(super::meter::rm_dup(fake, ioctl, cmd, ptr, nv))
        }
        rm::RM_VID_HEAP_CONTROL if size == vid_heap::SIZE => {
            calls::count(calls::Route::Private);
            Some(super::meter::vid_heap(fake, ioctl, cmd, ptr, nv))
        }
        _ => None,
    }
}

/// A call whose memory would escape the meter (dma-buf export): forwarded as routed
/// (`None`) if the caller's cgroups limit no GPU memory, else refused with
/// `NV_ERR_NOT_SUPPORTED`.
fn refuse_if_limited(
    fake: &FakeFile,
    ptr: usize,
    nr: u8,
    status_at: usize,
    nv: &Nv,
) -> Option<Result<c_long>> {
    if super::meter::may_allocate_unmetered(nv) {
        return None;
    }
    log_refusal(
        fake,
        u32::from(nr),
        "allocates memory fakegpu cannot meter yet",
    );
    calls::count(calls::Route::Refused);
    Some(refuse_with(
        ptr,
        Refusal::Status {
            offset: status_at,
            status: NV_ERR_NOT_SUPPORTED,
        },
    ))
}

/// Answers a call with `refusal` without the driver.
fn refuse_with(ptr: usize, refusal: Refusal) -> Result<c_long> {
    match refusal {
        Refusal::Errno(e) => Err(Error::from_errno(-e)),
        Refusal::Status { offset, status } => {
            let addr = ptr.checked_add(offset).ok_or(EFAULT)?;
            crate::compat::user_slice(addr, 4)
                .writer()
                .write_slice(&status.to_ne_bytes())?;
            Ok(0)
        }
    }
}

/// A raw-numbered UVM command on the uvm node.
fn uvm_ioctl(fake: &FakeFile, ioctl: IoctlFn, cmd: c_uint, arg: usize, nv: &Nv) -> Result<c_long> {
    let route = nv_proxy::route_uvm(cmd, nv.filter, nv.family);
    let mut head = [0u8; HEAD_MAX];
    let head_len = match route {
        Route::Worker(_) => nv_proxy::uvm_params_size(cmd, nv.family)
            .ok_or(EINVAL)?
            .min(HEAD_MAX),
        Route::Direct | Route::Audited { .. } | Route::Refuse { .. } => 0,
    };
    let head = head.get_mut(..head_len).ok_or(EINVAL)?;
    crate::compat::user_slice(arg, head_len)
        .reader()
        .read_slice(head)?;
    dispatch(fake, ioctl, cmd, arg, (head, head_len), route, cmd)
}

/// Carries out `route` for the call `cmd` with `size`-byte parameters at `ptr` (their head
/// read as `params`).
fn dispatch(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    (params, size): (&[u8], usize),
    route: Route,
    call: u32,
) -> Result<c_long> {
    calls::count(match route {
        Route::Direct | Route::Audited { .. } => calls::Route::Forwarded,
        Route::Worker(w) if !w.caller_memory => calls::Route::Private,
        Route::Worker(_) => calls::Route::Worker,
        Route::Refuse { .. } => calls::Route::Refused,
    });
    match route {
        // SAFETY: as the VFS would call it on the real file, in the caller's context; the
        // driver validates the parameters.
        Route::Direct => Ok(unsafe { ioctl(fake.real.as_ptr(), cmd, ptr as kernel::ffi::c_ulong) }),
        Route::Audited { why } => {
            log_audit(fake, call, why);
            // SAFETY: as for `Route::Direct`.
            Ok(unsafe { ioctl(fake.real.as_ptr(), cmd, ptr as kernel::ffi::c_ulong) })
        }
        Route::Worker(w) if !w.caller_memory => Ok(super::fd_translation::run_private(
            fake, ioctl, cmd, ptr, size, w,
        )),
        Route::Worker(w) => Ok(super::fd_translation::run(fake, ioctl, cmd, ptr, params, w)),
        Route::Refuse { refusal, why } => {
            log_refusal(fake, call, why);
            refuse_with(ptr, refusal)
        }
    }
}
