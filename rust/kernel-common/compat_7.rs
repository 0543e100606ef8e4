// SPDX-License-Identifier: GPL-2.0

//! What differs on the 7.x line from 6.12, for both modules (Kbuild builds this file on 7.x
//! and `compat_6_12.rs` on 6.12, as `compat`): the rest of the code calls these and never
//! names a kernel version.

use kernel::bindings;
use kernel::ffi::{c_int, c_ulong};
use kernel::uaccess::{UserPtr, UserSlice};

/// The `len` bytes of user memory at `addr` (7.x takes a `UserPtr`).
#[inline]
pub(crate) fn user_slice(addr: usize, len: usize) -> UserSlice {
    UserSlice::new(UserPtr::from_addr(addr), len)
}

/// `vfs_mknod` through the identity idmap (an idmap-less mount's), with no delegation to
/// break (7.x takes a `delegated_inode` for NFS delegations; fakegpu's mount has none).
///
/// # Safety
///
/// As `vfs_mknod`: `dir` is `dentry`'s parent, locked; `dentry` is negative.
#[inline]
pub(crate) unsafe fn vfs_mknod(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    dev: bindings::dev_t,
) -> c_int {
    // SAFETY: per this function's contract; a null delegated_inode asks for no delegation.
    unsafe {
        bindings::vfs_mknod(
            &raw mut bindings::nop_mnt_idmap,
            dir,
            dentry,
            mode,
            dev,
            core::ptr::null_mut(),
        )
    }
}

/// The default placement of a mapping of `file` in the calling task's mm (7.x takes it from
/// `current`; `_mm` is that mm).
///
/// # Safety
///
/// As `mm_get_unmapped_area`: the calling task has a live mm, `file` is an open file.
#[inline]
pub(crate) unsafe fn mm_get_unmapped_area(
    _mm: *mut bindings::mm_struct,
    file: *mut bindings::file,
    (addr, len, pgoff, flags): (c_ulong, c_ulong, c_ulong, c_ulong),
) -> c_ulong {
    // SAFETY: per this function's contract.
    unsafe { bindings::mm_get_unmapped_area(file, addr, len, pgoff, flags) }
}

/// `module!` with one author (7.x's `authors` list).
macro_rules! module_by {
    (type: $t:tt, name: $n:tt, author: $a:tt, $($rest:tt)*) => {
        ::kernel::prelude::module! { type: $t, name: $n, authors: [$a], $($rest)* }
    };
}
pub(crate) use module_by;
