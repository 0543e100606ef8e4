// SPDX-License-Identifier: GPL-2.0

//! The calling task as the driver's checks see it.

use crate::file::NV_FOPS;

extern "C" {
    /// Whether the caller's fd table holds a file with `fops` on `minor` (`shim.c`); the
    /// fops pointer as `void *` (`struct file_operations` reaches structs rustc's FFI lint
    /// flags on some configs).
    fn nvsim_caller_holds(fops: *const kernel::ffi::c_void, minor: u32) -> kernel::ffi::c_int;
}

/// Whether the calling task holds GPU `minor`'s node open: the driver's fd-table walk.
pub(crate) fn caller_holds_gpu(minor: u32) -> bool {
    // SAFETY: `NV_FOPS` is a static; the shim only compares fops pointers and minors.
    unsafe { nvsim_caller_holds(NV_FOPS.get().cast(), minor) != 0 }
}
