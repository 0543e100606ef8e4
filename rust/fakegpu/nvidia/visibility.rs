// SPDX-License-Identifier: GPL-2.0

//! The calls that enumerate or attach GPUs, for a caller whose cgroup may see only some
//! GPUs (`gpus` in its entry, see `cgroups.rs`; the decisions are in
//! `policy::nv_visibility`). Callers that may see every GPU never come here.

use super::Nv;
use crate::abi::nv_frontend::esc as fe;
use crate::abi::nv_rm::Nvos54;
use crate::abi::nv_status::NV_OK;
use crate::abi::pod::read_pod;
use crate::policy::gpu_set::Visibility;
use crate::policy::nv_visibility::{self as vis, VisibilityCall, ATTACHED_IDS_SIZE};
use crate::proxy::personality::{FakeFile, IoctlFn};
use crate::proxy::private_call::PrivateCall;
use core::mem::offset_of;
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;

/// Makes `call` (ioctl `cmd` with `size` bytes of parameters at `ptr`; for an RM_CONTROL,
/// `copy` is fakegpu's copy of its NVOS54, which it is made on) for a caller that may see
/// only `visible`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn limited_call(
    fake: &FakeFile,
    ioctl: IoctlFn,
    cmd: c_uint,
    ptr: usize,
    size: usize,
    (call, copy): (VisibilityCall, Option<PrivateCall<'_>>),
    visible: &Visibility,
    nv: &Nv,
) -> Result<c_long> {
    match call {
        // Answered from the driver's records at load: the caller's memory never holds the
        // other GPUs' records, not even while the call runs.
        VisibilityCall::CardInfo => {
            let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL)?;
            let filled = vis::fill_card_info(&mut buf, nv.cards, visible);
            crate::compat::user_slice(ptr, size)
                .writer()
                .write_slice(&buf)?;
            filled.map(|()| 0).map_err(|e| Error::from_errno(-e))
        }
        // Checked on fakegpu's copy. The caller can rewrite its array after the check, but
        // attaching a GPU only opens it in the driver: using it needs a device, which needs
        // an open file of that GPU, and fakegpu gives the driver none for a hidden GPU.
        VisibilityCall::AttachGpus => {
            let mut ids = KVec::from_elem(0u8, size, GFP_KERNEL)?;
            crate::compat::user_slice(ptr, size)
                .reader()
                .read_slice(&mut ids)?;
            if !vis::attach_allowed(&ids, nv.cards, visible) {
                crate::proxy::refusal::log_refusal(
                    fake,
                    u32::from(fe::ATTACH_GPUS_TO_FD),
                    "attaches a GPU the cgroup may not see",
                );
                return Err(EINVAL);
            }
            // SAFETY: as the VFS would call it on the real file, in the caller's context.
            Ok(unsafe { ioctl(fake.real.as_ptr(), cmd, ptr as kernel::ffi::c_ulong) })
        }
        // The driver writes every attached (or probed) GPU's id into fakegpu's copy; the
        // hidden ones are removed there, so the caller's memory never holds them.
        VisibilityCall::IdLists { lists, .. } => {
            let mut call = copy.ok_or(EINVAL)?;
            let params_at = offset_of!(Nvos54, params);
            call.follow(params_at, lists * ATTACHED_IDS_SIZE)?;
            let ret = call.run()?;
            let status = call
                .outer()
                .get(offset_of!(Nvos54, status)..)
                .and_then(read_pod::<u32>);
            if ret == 0 && status == Some(NV_OK) {
                if let Some(ids) = call.block_mut(params_at) {
                    // Each list (attached; or probed, then excluded) loses the hidden GPUs.
                    for list in ids.chunks_exact_mut(ATTACHED_IDS_SIZE) {
                        vis::filter_attached_ids(list, nv.cards, visible);
                    }
                }
            }
            call.answer(ptr, ret)
        }
    }
}
