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

/// `t` for the `pr_*` macros, which on 7.x take `kernel::fmt::Display` (the no_std crates'
/// types implement `core::fmt::Display`).
#[inline]
pub(crate) fn shown<T: core::fmt::Display>(t: &T) -> Shown<'_, T> {
    Shown(t)
}

/// See [`shown`].
pub(crate) struct Shown<'a, T>(&'a T);

impl<T: core::fmt::Display> kernel::fmt::Display for Shown<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self.0, f)
    }
}

/// The C string `s` for a C function.
#[inline]
pub(crate) fn c_str_ptr(s: &core::ffi::CStr) -> *const kernel::ffi::c_char {
    kernel::str::CStrExt::as_char_ptr(s)
}

/// The bytes of the NUL-terminated C string at `ptr`, without the NUL.
///
/// # Safety
///
/// `ptr` is a valid NUL-terminated string that outlives `'a` and is not changed meanwhile.
#[inline]
pub(crate) unsafe fn c_str_bytes<'a>(ptr: *const kernel::ffi::c_char) -> &'a [u8] {
    // SAFETY: per this function's contract.
    unsafe { <kernel::str::CStr as kernel::str::CStrExt>::from_char_ptr(ptr) }.to_bytes()
}

/// A pointer from `ForeignOwnable::into_foreign` (`*mut` on 7.x) as a file's
/// `private_data`.
#[inline]
pub(crate) fn foreign_mut(p: *mut core::ffi::c_void) -> *mut core::ffi::c_void {
    p
}

/// A cursor that can remove nodes (7.x splits it from the read-only one).
pub(crate) use kernel::rbtree::CursorMut;

/// A [`CursorMut`] on the first node of `tree`.
#[inline]
pub(crate) fn cursor_front_mut<K, V>(
    tree: &mut kernel::rbtree::RBTree<K, V>,
) -> Option<CursorMut<'_, K, V>> {
    tree.cursor_front_mut()
}

/// `module!` with one author (7.x's `authors` list).
macro_rules! module_by {
    (type: $t:tt, name: $n:tt, author: $a:tt, $($rest:tt)*) => {
        ::kernel::prelude::module! { type: $t, name: $n, authors: [$a], $($rest)* }
    };
}
pub(crate) use module_by;
