// SPDX-License-Identifier: GPL-2.0

//! The calling task's credentials and mm, read in C (`shim.c`): bindgen's `task_struct`
//! layout was seen to be wrong on this kernel, so Rust never reads that struct.

extern "C" {
    // `struct cred` and `struct mm_struct` pass as `void *`: they reach structs that rustc's
    // FFI lint flags (empty ones such as `sched_statistics`, depending on the config).
    /// The calling task's credentials (`current_cred()`).
    pub(crate) fn fakegpu_current_cred() -> *const kernel::ffi::c_void;
    /// The calling task's mm (`current->mm`).
    pub(crate) fn fakegpu_current_mm() -> *mut kernel::ffi::c_void;
    /// The calling process's tgid in the initial pid namespace (`worker_shim.c`).
    fn fakegpu_current_global_tgid() -> kernel::ffi::c_int;
}

/// The calling process's tgid in the initial pid namespace: the key of its worker.
pub(crate) fn global_tgid() -> u32 {
    // SAFETY: reads the current task's tgid.
    unsafe { fakegpu_current_global_tgid() as u32 }
}
