// SPDX-License-Identifier: GPL-2.0

//! What differs on the 6.12 line from 7.x, for both modules (Kbuild builds this file on
//! 6.12 and `compat_7.rs` on 7.x, as `compat`): the rest of the code calls these and never
//! names a kernel version.

use kernel::bindings;
use kernel::ffi::{c_int, c_ulong};
use kernel::uaccess::UserSlice;

/// The `len` bytes of user memory at `addr`.
#[inline]
pub(crate) fn user_slice(addr: usize, len: usize) -> UserSlice {
    UserSlice::new(addr, len)
}

/// `vfs_mknod` through the identity idmap (an idmap-less mount's).
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
    // SAFETY: per this function's contract.
    unsafe { bindings::vfs_mknod(&raw mut bindings::nop_mnt_idmap, dir, dentry, mode, dev) }
}

/// The default placement of a mapping of `file` in the calling task's mm (`mm`).
///
/// # Safety
///
/// As `mm_get_unmapped_area`: `mm` is the calling task's live mm, `file` an open file.
#[inline]
pub(crate) unsafe fn mm_get_unmapped_area(
    mm: *mut bindings::mm_struct,
    file: *mut bindings::file,
    (addr, len, pgoff, flags): (c_ulong, c_ulong, c_ulong, c_ulong),
) -> c_ulong {
    // SAFETY: per this function's contract.
    unsafe { bindings::mm_get_unmapped_area(mm, file, addr, len, pgoff, flags) }
}

/// `t` for the `pr_*` macros, which on 6.12 take any `core::fmt::Display` (the no_std
/// crates' types implement that one).
#[inline]
pub(crate) fn shown<T: core::fmt::Display>(t: &T) -> &T {
    t
}

/// The C string `s` for a C function.
#[inline]
pub(crate) fn c_str_ptr(s: &core::ffi::CStr) -> *const kernel::ffi::c_char {
    s.as_ptr().cast()
}

/// The bytes of the NUL-terminated C string at `ptr`, without the NUL.
///
/// # Safety
///
/// `ptr` is a valid NUL-terminated string that outlives `'a` and is not changed meanwhile.
#[inline]
pub(crate) unsafe fn c_str_bytes<'a>(ptr: *const kernel::ffi::c_char) -> &'a [u8] {
    // SAFETY: per this function's contract.
    unsafe { kernel::str::CStr::from_char_ptr(ptr) }.as_bytes()
}

/// A pointer from `ForeignOwnable::into_foreign` (`*const` on 6.12) as a file's
/// `private_data`.
#[inline]
pub(crate) fn foreign_mut(p: *const core::ffi::c_void) -> *mut core::ffi::c_void {
    p.cast_mut()
}

/// A cursor that can remove nodes (6.12's one cursor).
pub(crate) type CursorMut<'a, K, V> = kernel::rbtree::Cursor<'a, K, V>;

/// A [`CursorMut`] on the first node of `tree`.
#[inline]
pub(crate) fn cursor_front_mut<K, V>(
    tree: &mut kernel::rbtree::RBTree<K, V>,
) -> Option<CursorMut<'_, K, V>> {
    tree.cursor_front()
}

/// `module!` with one author (6.12's `author` key).
macro_rules! module_by {
    (type: $t:tt, name: $n:tt, author: $a:tt, $($rest:tt)*) => {
        ::kernel::prelude::module! { type: $t, name: $n, author: $a, $($rest)* }
    };
}
pub(crate) use module_by;
