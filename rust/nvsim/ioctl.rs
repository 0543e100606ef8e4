// SPDX-License-Identifier: GPL-2.0

//! The frontend's ioctl path, as the driver's `nvidia_ioctl` does it: unwrap
//! IOCTL_XFER_CMD, copy the parameters in (EFAULT first), decide (`nvsim_frontend`), and copy
//! the parameters back unless the copy-in faulted, even when the call failed.

use crate::abi::ioc;
use crate::abi::nv_frontend::*;
use crate::abi::nv_status::NV_OK;
use crate::abi::pod::{read_pod, write_pod};
use crate::nvfile::NvFile;
use crate::nvsim_model::frontend::{self, classify, FrontendCall};
use crate::state::State;
use core::sync::atomic::Ordering;
use kernel::prelude::*;

/// The kernel error for a positive errno from the shared logic.
fn errno(e: i32) -> Error {
    Error::from_errno(-e)
}

/// Handles one ioctl on `file`.
pub(crate) fn nvidia_ioctl(state: &State, file: &NvFile, cmd: u32, arg: usize) -> Result {
    let parts = ioc::decode(cmd);
    let (nr, size, ptr) = if parts.nr == esc::IOCTL_XFER_CMD {
        if parts.size as usize != core::mem::size_of::<NvIoctlXfer>() {
            return Err(EINVAL);
        }
        let xfer: NvIoctlXfer = read_params(arg, parts.size as usize)?;
        let (nr, size, ptr) = frontend::unwrap_xfer(parts.size as usize, &xfer).map_err(errno)?;
        (nr, size, usize::try_from(ptr).map_err(|_| EFAULT)?)
    } else {
        (parts.nr, parts.size as usize, arg)
    };

    let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    crate::compat::user_slice(ptr, size)
        .reader()
        .read_slice(&mut buf)?;
    let result = dispatch(state, file, nr, &mut buf);
    crate::trace::escape(file.node, nr, &buf, &result);
    crate::compat::user_slice(ptr, size)
        .writer()
        .write_slice(&buf)?;
    result
}

/// Reads a `T` of `size` bytes from user memory at `ptr`.
fn read_params<T: crate::abi::pod::Pod>(ptr: usize, size: usize) -> Result<T> {
    let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL)?;
    crate::compat::user_slice(ptr, size)
        .reader()
        .read_slice(&mut buf)?;
    read_pod(&buf).ok_or(EINVAL)
}

/// Runs escape `nr` on the copied-in parameters `buf`, once `classify` admits it for the node.
fn dispatch(state: &State, file: &NvFile, nr: u8, buf: &mut [u8]) -> Result {
    let call = classify(nr, buf.len(), file.node, state.family).map_err(errno)?;
    match call {
        FrontendCall::CardInfo { .. } => frontend::fill_card_info(buf, &state.gpus).map_err(errno),
        FrontendCall::AttachGpus { count } => attach_gpus(state, file, buf, count),
        FrontendCall::CheckVersion => {
            let mut params: NvIoctlRmApiVersion = read_pod(buf).ok_or(EINVAL)?;
            if buf.len() != core::mem::size_of::<NvIoctlRmApiVersion>() {
                return Err(EINVAL);
            }
            let ok = frontend::check_version(&mut params, state.version);
            write_pod(buf, &params);
            if ok {
                Ok(())
            } else {
                Err(EINVAL)
            }
        }
        FrontendCall::SysParams => {
            let params: NvIoctlSysParams = read_pod(buf).ok_or(EINVAL)?;
            // Set once; later calls must repeat the same value (EBUSY otherwise).
            match state.memblock_size.compare_exchange(
                0,
                params.memblock_size,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => Ok(()),
                Err(current) if current == params.memblock_size => Ok(()),
                Err(_) => Err(EBUSY),
            }
        }
        FrontendCall::QueryDeviceIntr => {
            write_pod(
                buf,
                &NvIoctlQueryDeviceIntr {
                    intr_status: 0,
                    status: NV_OK,
                },
            );
            Ok(())
        }
        FrontendCall::NumaInfo => {
            // No NUMA node, status disabled, no offline pages; the block size SYS_PARAMS set.
            buf.fill(0);
            // nid -1 (NUMA_NO_NODE). `classify` checked the size, so both fields fit.
            if let Some(nid) = buf.get_mut(numa_info::NID..) {
                write_pod(nid, &u32::MAX);
            }
            let memblock = state.memblock_size.load(Ordering::Acquire);
            if let Some(field) = buf.get_mut(numa_info::MEMBLOCK_SIZE..) {
                write_pod(field, &memblock);
            }
            Ok(())
        }
        FrontendCall::WaitOpenComplete => {
            write_pod(buf, &NvIoctlWaitOpenComplete::default());
            Ok(())
        }
        FrontendCall::Rm => crate::rm::rm_escape(state, file, nr, buf),
        FrontendCall::ExportToDmabuf => {
            crate::trace::log_unimplemented("escape", nr.into(), buf.len());
            Err(EINVAL)
        }
    }
}

/// ATTACH_GPUS_TO_FD: once per file; every non-zero id must be a simulated GPU (EINVAL, and
/// nothing stays attached, otherwise).
fn attach_gpus(state: &State, file: &NvFile, buf: &[u8], count: usize) -> Result {
    let mut inner = file.inner.lock();
    if inner.attached.is_some() {
        return Err(EINVAL);
    }
    let mut ids = KVec::with_capacity(count, GFP_KERNEL)?;
    for chunk in buf.chunks_exact(4) {
        let id = read_pod::<u32>(chunk).ok_or(EINVAL)?;
        if id != 0 && !state.gpus.iter().any(|g| g.gpu_id() == id) {
            return Err(EINVAL);
        }
        ids.push(id, GFP_KERNEL)?;
    }
    inner.attached = Some(ids);
    Ok(())
}
