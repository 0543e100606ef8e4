// SPDX-License-Identifier: GPL-2.0

//! Load-time check that bindgen's view of the kernel structs matches the C compiler's, for
//! every field the modules' Rust code reads or writes, and that the macros Rust restates have
//! their C values. A mismatch (seen on this kernel for
//! `task_struct`, which is why Rust never touches it) would silently corrupt memory; the
//! check turns it into a refused load.

use core::mem::{offset_of, size_of};
use kernel::bindings::{
    dentry, file, file_operations, file_system_type, inode, path, super_block, vfsmount,
};
use kernel::prelude::*;

/// `FOP_UNSIGNED_OFFSET` of `linux/fs.h` (a cast macro bindgen cannot evaluate): offsets may
/// exceed `i64::MAX`, as DRM's fake mmap offsets do.
pub(crate) const FOP_UNSIGNED_OFFSET: kernel::bindings::fop_flags_t = 1 << 5;
/// `DEFAULT_POLLMASK` of `linux/poll.h`: what `vfs_poll` reports for a file without `poll`.
pub(crate) const DEFAULT_POLLMASK: kernel::bindings::__poll_t = 0x0001 | 0x0004 | 0x0040 | 0x0100;
/// `EPOLLIN | EPOLLPRI` (`uapi/linux/eventpoll.h`, macros bindgen cannot evaluate): what a
/// file with events waiting reports, as the NVIDIA driver's poll does.
pub(crate) const POLLIN_PRI: kernel::bindings::__poll_t = 0x0001 | 0x0002;

/// The Rust side of the comparison, in the order of `kc_layout` in `layout_table.h`.
const RUST_LAYOUT: [(&str, usize); 27] = [
    ("file.f_op", offset_of!(file, f_op)),
    ("file.private_data", offset_of!(file, private_data)),
    ("file.f_flags", offset_of!(file, f_flags)),
    ("file.f_lock", offset_of!(file, f_lock)),
    ("inode.i_rdev", offset_of!(inode, i_rdev)),
    ("inode.i_rwsem", offset_of!(inode, i_rwsem)),
    ("vfsmount.mnt_root", offset_of!(vfsmount, mnt_root)),
    ("vfsmount.mnt_sb", offset_of!(vfsmount, mnt_sb)),
    ("super_block.s_iflags", offset_of!(super_block, s_iflags)),
    ("dentry.d_inode", offset_of!(dentry, d_inode)),
    (
        "file_system_type.owner",
        offset_of!(file_system_type, owner),
    ),
    ("path.dentry", offset_of!(path, dentry)),
    ("sizeof(path)", size_of::<path>()),
    (
        "file_operations.fop_flags",
        offset_of!(file_operations, fop_flags),
    ),
    ("file_operations.read", offset_of!(file_operations, read)),
    ("file_operations.poll", offset_of!(file_operations, poll)),
    (
        "file_operations.unlocked_ioctl",
        offset_of!(file_operations, unlocked_ioctl),
    ),
    (
        "file_operations.compat_ioctl",
        offset_of!(file_operations, compat_ioctl),
    ),
    ("file_operations.mmap", offset_of!(file_operations, mmap)),
    ("file_operations.open", offset_of!(file_operations, open)),
    (
        "file_operations.release",
        offset_of!(file_operations, release),
    ),
    (
        "file_operations.get_unmapped_area",
        offset_of!(file_operations, get_unmapped_area),
    ),
    (
        "file_operations.show_fdinfo",
        offset_of!(file_operations, show_fdinfo),
    ),
    ("sizeof(file_operations)", size_of::<file_operations>()),
    ("FOP_UNSIGNED_OFFSET", FOP_UNSIGNED_OFFSET as usize),
    ("DEFAULT_POLLMASK", DEFAULT_POLLMASK as usize),
    ("POLLIN_PRI", POLLIN_PRI as usize),
];

extern "C" {
    /// The C compiler's offsets and sizes (`layout_table.h`).
    static kc_layout: [usize; RUST_LAYOUT.len()];
    /// Number of entries in `kc_layout`.
    static kc_layout_len: usize;
}

/// Refuses to load (EINVAL) if any field the module uses is elsewhere than bindgen says.
pub(crate) fn check() -> Result {
    // SAFETY: `kc_layout_len` is a constant initialised at build time.
    let c_len = unsafe { kc_layout_len };
    if c_len != RUST_LAYOUT.len() {
        pr_err!(
            "layout tables differ in length ({} in C, {} in Rust)\n",
            c_len,
            RUST_LAYOUT.len()
        );
        return Err(EINVAL);
    }
    // SAFETY: the C array has `c_len` entries, equal to the declared length (checked above),
    // and is never written.
    let c_layout = unsafe { &kc_layout };
    let mut ok = true;
    for ((name, rust), c) in RUST_LAYOUT.iter().zip(c_layout.iter()) {
        if rust != c {
            pr_err!("{}: bindgen says {}, the C compiler {}\n", name, rust, c);
            ok = false;
        }
    }
    if ok {
        Ok(())
    } else {
        pr_err!("Rust bindings do not match this kernel's struct layouts: refusing to load\n");
        Err(EINVAL)
    }
}
