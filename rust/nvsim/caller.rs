// SPDX-License-Identifier: GPL-2.0

//! The calling task as the driver's checks see it: whether it holds a GPU node open (the
//! fd-table walk), its process, its admin capability, its pid namespace (`shim.c` asks the
//! kernel).

use crate::state::State;

extern "C" {
    /// Whether the caller's fd table holds a file with `fops` on `minor` (`shim.c`); the
    /// fops pointer as `void *` (`struct file_operations` reaches structs rustc's FFI lint
    /// flags on some configs).
    fn nvsim_caller_holds(fops: *const kernel::ffi::c_void, minor: u32) -> kernel::ffi::c_int;
}

/// Whether the calling task holds GPU `minor`'s node open: the driver's fd-table walk.
pub(crate) fn caller_holds_gpu(state: &State, minor: u32) -> bool {
    // SAFETY: `nv_fops` is a static; the shim only compares fops pointers and minors.
    unsafe { nvsim_caller_holds(state.nv_fops.get().cast(), minor) != 0 }
}

extern "C" {
    /// Whether the caller has CAP_SYS_ADMIN (the RM's admin level).
    fn nvsim_caller_is_admin() -> kernel::ffi::c_int;
    /// The calling process's global tgid (`shim.c`).
    fn nvsim_current_tgid() -> u32;
    /// A global pid as the caller's namespace sees it, or 0.
    fn nvsim_pid_to_caller_ns(nr: u32) -> u32;
    /// A pid of the caller's namespace as a global one, or 0.
    fn nvsim_pid_from_caller_ns(vnr: u32) -> u32;
}

/// The calling process's global tgid.
pub(crate) fn tgid() -> u32 {
    // SAFETY: reads the current task's tgid.
    unsafe { nvsim_current_tgid() }
}

/// Whether the caller has the RM's admin level (CAP_SYS_ADMIN), checked on each call.
pub(crate) fn is_admin() -> bool {
    // SAFETY: `capable()` on the current task.
    unsafe { nvsim_caller_is_admin() != 0 }
}

/// Global pid `pid` as the caller's pid namespace sees it, or 0.
pub(crate) fn pid_to_ns(pid: u32) -> u32 {
    // SAFETY: a pid-namespace lookup under RCU in the shim.
    unsafe { nvsim_pid_to_caller_ns(pid) }
}

/// Pid `vnr` of the caller's pid namespace as a global pid, or 0.
pub(crate) fn pid_from_ns(vnr: u32) -> u32 {
    // SAFETY: a pid-namespace lookup under RCU in the shim.
    unsafe { nvsim_pid_from_caller_ns(vnr) }
}
