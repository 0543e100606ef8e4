// SPDX-License-Identifier: GPL-2.0

//! String module parameters, kept as NUL-terminated buffers in C (`shim.c`): the `module!`
//! macro of 6.12 has no parameters.

use kernel::prelude::*;

extern "C" {
    /// The `devices=` module parameter.
    pub(crate) fn fakegpu_devices_param() -> *const kernel::ffi::c_char;
}

/// The value of a string parameter (`shim.c` buffers, NUL-terminated, written only at load
/// time: the parameters are read-only in sysfs).
pub(crate) fn param(
    get: unsafe extern "C" fn() -> *const kernel::ffi::c_char,
) -> Result<&'static str> {
    // SAFETY: see above; the buffers are static.
    let value = unsafe { CStr::from_char_ptr(get()) };
    value.to_str().map_err(|_| EINVAL)
}
