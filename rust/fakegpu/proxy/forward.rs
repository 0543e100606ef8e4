// SPDX-License-Identifier: GPL-2.0

//! The file operations of a fake node: each open opens the real device; read, ioctl,
//! compat_ioctl, mmap, get_unmapped_area, poll and show_fdinfo are handed to the real file
//! with the driver's own checks and errors. write and the iterator, splice, flush and fasync
//! operations are not forwarded (neither DRM nor NVIDIA uses them).
//!
//! A fake file's `private_data` is a [`FakeFile`] owning the real file. The real file never
//! enters any fd table; mmap hands the VMA over to it (`vma_set_file`), so a mapping belongs
//! to the real driver and outlives neither more nor less than it would without fakegpu.

use super::personality::{FakeFile, IoctlFn};
use super::real_devices::RealFile;
use super::state::State;
use crate::abi::devnum::DevNum;
use crate::fops::{this_module, FileOps};
use crate::layout::{DEFAULT_POLLMASK, FOP_UNSIGNED_OFFSET};
use kernel::bindings;
use kernel::error::from_result;
use kernel::ffi::{c_int, c_long, c_uint, c_ulong};
use kernel::prelude::*;

/// The fake file state of `file` if it is a fakegpu file, whatever its node.
///
/// # Safety
///
/// `file` must be an open file on which the caller holds a reference for the lifetime `'a`.
pub(crate) unsafe fn fake_file_of<'a>(file: *mut bindings::file) -> Option<&'a FakeFile> {
    // SAFETY: per the contract, `file` is open; `f_op` is set at open and stable after.
    let fops = unsafe { (*file).f_op };
    if !core::ptr::eq(fops, FAKE_FOPS.get())
        && !core::ptr::eq(fops, FAKE_FOPS_UNSIGNED_OFFSET.get())
    {
        return None;
    }
    // SAFETY: a file with fakegpu's fops that is open went through a successful `fake_open`
    // (a failed open never has its fops called), so `private_data` is its `FakeFile`, freed
    // only at release, after the caller's reference is gone.
    Some(unsafe { &*(*file).private_data.cast::<FakeFile>() })
}

const fn fake_fops(fop_flags: bindings::fop_flags_t) -> FileOps {
    FileOps(bindings::file_operations {
        owner: this_module(),
        fop_flags,
        llseek: Some(bindings::noop_llseek),
        read: Some(fake_read),
        poll: Some(fake_poll),
        unlocked_ioctl: Some(fake_unlocked_ioctl),
        compat_ioctl: Some(fake_compat_ioctl),
        mmap: Some(fake_mmap),
        open: Some(fake_open),
        release: Some(fake_release),
        get_unmapped_area: Some(fake_get_unmapped_area),
        show_fdinfo: Some(fake_show_fdinfo),
        // SAFETY: all-zero is a valid `file_operations` (null pointers, absent callbacks).
        ..unsafe { core::mem::zeroed() }
    })
}

/// The operations every fake node is registered with.
pub(crate) static FAKE_FOPS: FileOps = fake_fops(0);
/// The same for real drivers whose offsets are unsigned; `open` switches to it so the VFS
/// applies the real driver's offset rules to the fake file.
static FAKE_FOPS_UNSIGNED_OFFSET: FileOps = fake_fops(FOP_UNSIGNED_OFFSET);

/// The real file behind `file`.
///
/// # Safety
///
/// `file` must be a fake file between a successful [`fake_open`] and [`fake_release`].
unsafe fn real_of<'a>(file: *mut bindings::file) -> &'a RealFile {
    // SAFETY: per the contract, `private_data` is the `FakeFile` leaked by `fake_open` and
    // freed only by `fake_release`, which the VFS runs after every other operation.
    unsafe { &(*(*file).private_data.cast::<FakeFile>()).real }
}

/// The real driver's `file_operations`.
///
/// # Safety
///
/// `real` must be an open file.
pub(crate) unsafe fn real_fops<'a>(real: &RealFile) -> &'a bindings::file_operations {
    // SAFETY: an open file's `f_op` is set and stays valid while the file is open (the
    // driver's module is pinned by it).
    unsafe { &*(*real.as_ptr()).f_op }
}

/// `open`: opens the real device and keeps it in `private_data`.
///
/// # Safety
///
/// Called by the VFS only (`chrdev_open`), with the fake node's inode and the file being opened.
unsafe extern "C" fn fake_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    from_result(|| {
        let state = State::get().ok_or(ENXIO)?;
        // SAFETY: the VFS passes the fake node's live inode.
        let dev = DevNum::from_kernel_dev_t(unsafe { (*inode).i_rdev });
        let index = state.front_of(dev).ok_or(ENXIO)?;
        let front = *state.table.get(index).ok_or(ENXIO)?;
        let personality = state.personality_of(&front);
        if let Some(p) = personality {
            p.may_open(&state.cgroups, &front)?;
        }
        // SAFETY: `file` is being opened and is ours until we return.
        let flags = unsafe { (*file).f_flags };
        let real = state.real.open(index, flags)?;
        // SAFETY: `real` is open.
        let unsigned = unsafe { real_fops(&real) }.fop_flags & FOP_UNSIGNED_OFFSET != 0;
        let fake = KBox::new(
            FakeFile {
                real,
                front,
                personality,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `file` is ours until we return. Both tables have the same owner, so the
        // module reference the VFS took for `f_op` stays right (as `replace_fops` does).
        unsafe {
            if unsigned {
                (*file).f_op = FAKE_FOPS_UNSIGNED_OFFSET.get();
            }
            (*file).private_data = KBox::into_raw(fake).cast();
        }
        Ok(0)
    })
}

/// `release`: closes the real file.
///
/// # Safety
///
/// Called by the VFS only, once, after every other operation on a file `fake_open` succeeded on.
unsafe extern "C" fn fake_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: release is the last operation on a file `fake_open` succeeded on, so
    // `private_data` is the `FakeFile` it leaked. Dropping it closes the real file.
    let fake = unsafe { KBox::from_raw((*file).private_data.cast::<FakeFile>()) };
    let (front, personality) = (fake.front, fake.personality);
    drop(fake);
    // The driver frees what a file made when the file is released: the personality follows.
    if let (Some(p), Some(state)) = (personality, State::get()) {
        p.released(&state.cgroups, &front);
    }
    0
}

/// `read`, forwarded with O_NONBLOCK synced.
///
/// # Safety
///
/// Called by the VFS only, on an open fake file, with its arguments for `read`.
unsafe extern "C" fn fake_read(
    file: *mut bindings::file,
    buf: *mut kernel::ffi::c_char,
    count: usize,
    pos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: the VFS calls read on an open fake file.
    let real = unsafe { real_of(file) };
    // SAFETY: `real` is open.
    let Some(read) = (unsafe { real_fops(real) }).read else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: `file` and `real` are open.
    unsafe { sync_nonblock(file, real) };
    // SAFETY: forwarding the caller's arguments unchanged to the real driver's read.
    unsafe { read(real.as_ptr(), buf, count, pos) }
}

/// Copies O_NONBLOCK (set by fcntl or FIONBIO on the fake file) to the real file, whose
/// driver decides on it, before every read, ioctl and poll.
///
/// # Safety
///
/// `file` and `real` must be open files.
unsafe fn sync_nonblock(file: *mut bindings::file, real: &RealFile) {
    let nonblock = bindings::O_NONBLOCK;
    // SAFETY: reading the fake file's flags, as the VFS does without a lock.
    let want = unsafe { (*file).f_flags } & nonblock;
    let real = real.as_ptr();
    // SAFETY: reading the real file's flags; written below under its `f_lock`.
    if unsafe { (*real).f_flags } & nonblock != want {
        // SAFETY: `f_lock` protects `f_flags` updates, as in `setfl`.
        unsafe {
            bindings::spin_lock(&raw mut (*real).f_lock);
            (*real).f_flags = ((*real).f_flags & !nonblock) | want;
            bindings::spin_unlock(&raw mut (*real).f_lock);
        }
    }
}

/// `poll`, forwarded; the default mask if the driver has none (as `vfs_poll`).
///
/// # Safety
///
/// Called by the VFS only, on an open fake file.
unsafe extern "C" fn fake_poll(
    file: *mut bindings::file,
    wait: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: the VFS calls poll on an open fake file.
    let real = unsafe { real_of(file) };
    // SAFETY: `file` and `real` are open.
    unsafe { sync_nonblock(file, real) };
    // SAFETY: `real` is open.
    match (unsafe { real_fops(real) }).poll {
        // SAFETY: as `vfs_poll` would call it on the real file.
        Some(poll) => unsafe { poll(real.as_ptr(), wait) },
        None => DEFAULT_POLLMASK,
    }
}

/// Forwards an ioctl to the real driver's handler that `pick` selects, or returns
/// `missing` if the driver has none. A file with a personality goes through its ioctl
/// callback; the others are forwarded unchanged.
///
/// # Safety
///
/// `file` must be an open fake file.
unsafe fn forward_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
    pick: fn(&bindings::file_operations) -> Option<IoctlFn>,
    missing: c_long,
) -> c_long {
    // SAFETY: per the contract, `file` is an open fake file, so `private_data` is its
    // `FakeFile` until release.
    let fake = unsafe { &*(*file).private_data.cast::<FakeFile>() };
    // SAFETY: `file` and the real file are open.
    unsafe { sync_nonblock(file, &fake.real) };
    // SAFETY: the real file is open.
    let Some(ioctl) = pick(unsafe { real_fops(&fake.real) }) else {
        return missing;
    };
    match fake.personality {
        Some(p) => p.ioctl(fake, ioctl, cmd, arg),
        // SAFETY: as the VFS would call it on the real file; the driver validates `arg`.
        None => unsafe { ioctl(fake.real.as_ptr(), cmd, arg) },
    }
}

/// `unlocked_ioctl`, forwarded unchanged; ENOTTY if the driver has none (as `vfs_ioctl`).
///
/// # Safety
///
/// Called by the VFS only, on an open fake file.
unsafe extern "C" fn fake_unlocked_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: the VFS calls ioctl on an open fake file.
    unsafe {
        forward_ioctl(
            file,
            cmd,
            arg,
            |f| f.unlocked_ioctl,
            ENOTTY.to_errno() as c_long,
        )
    }
}

/// `compat_ioctl`, forwarded unchanged; the VFS turns a missing handler's ENOIOCTLCMD into
/// ENOTTY, as for the real file.
///
/// # Safety
///
/// Called by the VFS only, on an open fake file.
unsafe extern "C" fn fake_compat_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: the VFS calls compat_ioctl on an open fake file.
    unsafe {
        forward_ioctl(
            file,
            cmd,
            arg,
            |f| f.compat_ioctl,
            -(bindings::ENOIOCTLCMD as c_long),
        )
    }
}

/// `mmap`: hands the VMA to the real file, then runs the driver's mmap.
///
/// # Safety
///
/// Called by `mmap_region` only, on an open fake file, with the VMA being set up.
unsafe extern "C" fn fake_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: the VFS calls mmap between a successful `fake_open` and `fake_release`, so
    // `private_data` is the `FakeFile` that open leaked.
    let fake = unsafe { &*(*file).private_data.cast::<FakeFile>() };
    if let (Some(p), Some(state)) = (fake.personality, State::get()) {
        if let Err(e) = p.may_mmap(&state.cgroups, fake) {
            return e.to_errno();
        }
    }
    let real = &fake.real;
    // SAFETY: `real` is open.
    if !unsafe { fakegpu_file_has_mmap(real.as_ptr().cast()) } {
        // What `do_mmap` answers for a file without mmap.
        return ENODEV.to_errno();
    }
    // The VMA belongs to the real file from here on: the driver's fault handlers expect its
    // own file in `vm_file`, and the mapping must pin the real driver, not fakegpu. On
    // failure `mmap_region` releases whichever file `vm_file` holds, so this stays balanced.
    // SAFETY: `vma` is being set up under the mmap lock; `vma_set_file` takes a reference
    // on `real` and drops the one on the fake file.
    unsafe { bindings::vma_set_file(vma, real.as_ptr()) };
    // SAFETY: as `call_mmap` would call it, with the real file.
    unsafe { fakegpu_file_mmap(real.as_ptr().cast(), vma.cast()) }
}

extern "C" {
    // `struct file *` and `struct vm_area_struct *` pass as `void *` (see `task.rs` on
    // rustc's FFI lint).
    /// Whether the file can be mapped (`shim.c`: mmap, or 7.x's mmap_prepare).
    fn fakegpu_file_has_mmap(file: *mut core::ffi::c_void) -> bool;
    /// The file's own mmap on the VMA (`shim.c`).
    fn fakegpu_file_mmap(file: *mut core::ffi::c_void, vma: *mut core::ffi::c_void) -> c_int;
}

/// `get_unmapped_area`: the driver's placement, or the default one.
///
/// # Safety
///
/// Called by the mm only, on an open fake file, in the task doing the mmap.
unsafe extern "C" fn fake_get_unmapped_area(
    file: *mut bindings::file,
    addr: c_ulong,
    len: c_ulong,
    pgoff: c_ulong,
    flags: c_ulong,
) -> c_ulong {
    // SAFETY: the VFS calls this on an open fake file.
    let real = unsafe { real_of(file) };
    // SAFETY: `real` is open.
    match (unsafe { real_fops(real) }).get_unmapped_area {
        // SAFETY: as `__get_unmapped_area` would call it on the real file.
        Some(get_area) => unsafe { get_area(real.as_ptr(), addr, len, pgoff, flags) },
        // SAFETY: the default placement for a file without its own, in the caller's mm
        // (`current->mm` is live while the task runs mmap).
        None => unsafe {
            crate::compat::mm_get_unmapped_area(
                super::task::fakegpu_current_mm().cast(),
                real.as_ptr(),
                (addr, len, pgoff, flags),
            )
        },
    }
}

/// `show_fdinfo`: the driver's lines in /proc/<pid>/fdinfo.
///
/// # Safety
///
/// Called by procfs only, on an open fake file.
unsafe extern "C" fn fake_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: /proc/<pid>/fdinfo calls this on an open fake file.
    let real = unsafe { real_of(file) };
    // SAFETY: `real` is open.
    if let Some(show) = (unsafe { real_fops(real) }).show_fdinfo {
        // SAFETY: as `seq_show` would call it for the real file.
        unsafe { show(m, real.as_ptr()) };
    }
}
