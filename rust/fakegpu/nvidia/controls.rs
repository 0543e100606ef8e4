// SPDX-License-Identifier: GPL-2.0

//! RM_CONTROL on fakegpu's private copy. The filter decides on the command it read, and the
//! driver copies NVOS54 from the pointer it is given once more; were that pointer the
//! caller's, another thread of the caller could swap the command in between (an allowed
//! query for an admin-only setter). So `ioctl.rs` copies NVOS54 once, routes by the copy, and
//! a known control is made on it here: its parameters are copied too and the caller's worker
//! makes the call (`proxy/private_call.rs`). A control whose parameters may point into the
//! caller's memory (`Layout::Pointers` and `Layout::Closed` in `policy::nv_controls`) is
//! made in the caller's address space, on the worker's sealed page, which the caller cannot
//! change either; the others in fakegpu's scratch space.

use crate::abi::nv_family::DriverFamily;
use crate::abi::nv_rm::Nvos54;
use crate::policy::nv_controls;
use crate::proxy::private_call::PrivateCall;
use core::mem::offset_of;
use kernel::ffi::c_long;
use kernel::prelude::*;

/// Where the parameters' pointer sits in NVOS54.
pub(crate) const PARAMS_AT: usize = offset_of!(Nvos54, params);

/// Adds control `p`'s parameters (`params_size` bytes at `params`) to `call`, its NVOS54's
/// copy, and marks where it is made (by `family`'s table). Parameters too large for
/// fakegpu's copy fail the call with EINVAL (no control fakegpu knows has them).
pub(crate) fn with_params<'a>(
    mut call: PrivateCall<'a>,
    p: &Nvos54,
    family: &DriverFamily,
) -> Result<PrivateCall<'a>> {
    call.follow(PARAMS_AT, p.params_size as usize)?;
    if nv_controls::made_in_caller_mm(p.cmd, family) {
        call.in_caller_mm();
    }
    Ok(call)
}

/// Makes known control `p` on `call`, its NVOS54's copy, and writes the driver's answer
/// back to the caller's NVOS54 at `ptr` and its parameters.
pub(crate) fn make(
    call: PrivateCall<'_>,
    p: &Nvos54,
    ptr: usize,
    family: &DriverFamily,
) -> Result<c_long> {
    make_followed(with_params(call, p, family)?, ptr)
}

/// Makes a control on `call`, whose parameters are already copied (plain values, made in
/// fakegpu's scratch space), and writes the driver's answer back to the caller at `ptr`.
pub(crate) fn make_followed(mut call: PrivateCall<'_>, ptr: usize) -> Result<c_long> {
    let ret = call.run()?;
    call.answer(ptr, ret)
}
