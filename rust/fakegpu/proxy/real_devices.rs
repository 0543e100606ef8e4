// SPDX-License-Identifier: GPL-2.0

//! The real devices behind the fronts, reached by major:minor only.
//!
//! fakegpu keeps a private tmpfs mount (never attached to any mount namespace) holding one
//! char device inode per front. Opening it with `dentry_open` reaches the real driver's open
//! without a path lookup in the caller's namespace and without `may_open`, hence without the
//! caller's device cgroup. The superblock is marked nodev, so a re-open of a real file through
//! `/proc/<pid>/map_files` fails with EACCES.
//!
//! The mount is of the kernel's own tmpfs type: if a mapping outlives fakegpu (its VMA holds
//! the real file, hence the mount), releasing it later runs no fakegpu code.

use crate::abi::devnum::DevNum;
use crate::abi::namebuf::NameBuf;
use crate::policy::fronts::FrontTable;
use core::fmt::Write;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::prelude::*;

extern "C" {
    /// `lookup_one_len` (see `shim.c`); the caller holds the parent's inode lock. Takes and
    /// returns `struct dentry *` as `void *`: `dentry` reaches structs that rustc's FFI lint
    /// flags (empty ones such as `sched_statistics`, depending on the config).
    fn fakegpu_lookup_child(
        parent: *mut kernel::ffi::c_void,
        name: *const kernel::ffi::c_char,
    ) -> *mut kernel::ffi::c_void;
}

/// An open file on a real device. Closes it (`fput`) on drop.
///
/// INVARIANT: `self.0` is an open file on which this value holds one reference.
pub(crate) struct RealFile(NonNull<bindings::file>);

// SAFETY: a `struct file` reference may be used and dropped from any thread.
unsafe impl Send for RealFile {}
// SAFETY: file operations on a shared `struct file` are thread-safe by VFS contract.
unsafe impl Sync for RealFile {}

extern "C" {
    /// `get_file` (a static inline; `worker_shim.c`).
    fn fakegpu_get_file(file: *mut kernel::ffi::c_void) -> *mut kernel::ffi::c_void;
}

impl RealFile {
    /// A new reference on `file`.
    ///
    /// # Safety
    ///
    /// `file` must be an open file, referenced by the caller for the length of this call.
    pub(crate) unsafe fn new_ref(file: NonNull<bindings::file>) -> Self {
        // SAFETY: the caller's reference keeps the file alive while we add ours.
        unsafe { fakegpu_get_file(file.as_ptr().cast()) };
        // INVARIANT: the reference just taken.
        RealFile(file)
    }

    /// The raw file, valid while `self` lives.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }
}

impl Drop for RealFile {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own one reference.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// The private mount and the inode of each front's real device.
///
/// INVARIANT: `mnt` is a live kernel-internal mount on which this value holds a reference, and
/// each entry of `nodes` is a positive dentry of a char device inode on it, referenced by
/// this value.
pub(crate) struct RealDevices {
    mnt: NonNull<bindings::vfsmount>,
    nodes: KVec<NonNull<bindings::dentry>>,
}

// SAFETY: the mount and dentries are only read after construction; their reference counts
// are atomic.
unsafe impl Send for RealDevices {}
// SAFETY: as above, shared use only reads the pointers.
unsafe impl Sync for RealDevices {}

impl RealDevices {
    /// Mounts a private tmpfs and creates a char device inode for each front's real device.
    pub(crate) fn new(table: &FrontTable) -> Result<Self> {
        // SAFETY: the name is a static NUL-terminated string.
        let fs = unsafe { bindings::get_fs_type(kernel::c_str!("tmpfs").as_char_ptr()) };
        if fs.is_null() {
            pr_err!("no tmpfs filesystem type\n");
            return Err(ENODEV);
        }
        // SAFETY: `fs` is a registered filesystem type on which we hold a reference.
        let mnt = unsafe { bindings::kern_mount(fs) };
        // SAFETY: releases the module reference taken by `get_fs_type` (what the unexported
        // `put_filesystem` does); the mount holds its own.
        unsafe { bindings::module_put((*fs).owner) };
        let mnt = NonNull::new(kernel::error::from_err_ptr(mnt)?).ok_or(ENOMEM)?;
        // SAFETY: the mount was just made and nobody else knows it, so its superblock can be
        // marked before any use. SB_I_NODEV makes `may_open_dev` refuse every path-based
        // open of its device inodes, which only `dentry_open` by fakegpu bypasses.
        unsafe {
            (*(*mnt.as_ptr()).mnt_sb).s_iflags |= bindings::SB_I_NODEV as kernel::ffi::c_ulong
        };
        let mut devices = RealDevices {
            mnt,
            nodes: KVec::new(),
        };
        // SAFETY: the mount root and its inode live as long as the mount.
        let root = unsafe { (*mnt.as_ptr()).mnt_root };
        // SAFETY: as above.
        let dir = unsafe { (*root).d_inode };
        // SAFETY: `dir` is a live inode; lookup and mknod need its lock (inode_lock).
        unsafe { bindings::down_write(&raw mut (*dir).i_rwsem) };
        let created = table.iter().try_for_each(|front| {
            let dentry = Self::mknod(root, dir, front.real)?;
            devices.nodes.push(dentry, GFP_KERNEL).map_err(|e| {
                // SAFETY: `dentry` is a reference we hold and no longer keep.
                unsafe { bindings::dput(dentry.as_ptr()) };
                Error::from(e)
            })
        });
        // SAFETY: taken above.
        unsafe { bindings::up_write(&raw mut (*dir).i_rwsem) };
        created.map(|()| devices)
    }

    /// Creates the inode of `real` in `root`, named after its number.
    fn mknod(
        root: *mut bindings::dentry,
        dir: *mut bindings::inode,
        real: DevNum,
    ) -> Result<NonNull<bindings::dentry>> {
        let mut name = NameBuf::new();
        write!(name, "{}:{}", real.major, real.minor).map_err(|_| EINVAL)?;
        // SAFETY: `root` is live, its inode lock is held and `name` is NUL-terminated.
        let dentry =
            unsafe { fakegpu_lookup_child(root.cast(), name.as_bytes_with_nul().as_ptr()) };
        let dentry = dentry.cast::<bindings::dentry>();
        let dentry = NonNull::new(kernel::error::from_err_ptr(dentry)?).ok_or(ENOMEM)?;
        // SAFETY: `dentry` is a negative child of `dir` (names are unique: the table has no
        // duplicates), the parent lock is held, and `nop_mnt_idmap` is the identity mapping of
        // an idmap-less mount.
        let ret = unsafe {
            crate::compat::vfs_mknod(
                dir,
                dentry.as_ptr(),
                (bindings::S_IFCHR | 0o600) as bindings::umode_t,
                real.to_kernel_dev_t(),
            )
        };
        if ret != 0 {
            // SAFETY: we hold the reference returned by the lookup.
            unsafe { bindings::dput(dentry.as_ptr()) };
            pr_err!(
                "cannot create the inode of {}: {}\n",
                crate::compat::shown(&real),
                ret
            );
            return Err(Error::from_errno(ret));
        }
        Ok(dentry)
    }

    /// Opens the real device of front `index`, with the open flags of the fake file and the
    /// credentials of the caller.
    pub(crate) fn open(&self, index: usize, flags: u32) -> Result<RealFile> {
        let dentry = self.nodes.get(index).ok_or(ENXIO)?;
        let path = bindings::path {
            mnt: self.mnt.as_ptr(),
            dentry: dentry.as_ptr(),
        };
        // SAFETY: the running task's credentials stay valid while it runs this call.
        let cred = unsafe { super::task::fakegpu_current_cred() }.cast::<bindings::cred>();
        // SAFETY: `path` refers to a live mount and dentry (type invariant); `dentry_open`
        // takes its own references.
        let file = unsafe { bindings::dentry_open(&path, flags as kernel::ffi::c_int, cred) };
        let file = NonNull::new(kernel::error::from_err_ptr(file)?).ok_or(ENOMEM)?;
        // INVARIANT: `dentry_open` returned a file with one reference, now ours.
        Ok(RealFile(file))
    }
}

impl Drop for RealDevices {
    fn drop(&mut self) {
        for dentry in self.nodes.iter() {
            // SAFETY: by the type invariant we hold a reference on each dentry.
            unsafe { bindings::dput(dentry.as_ptr()) };
        }
        // SAFETY: by the type invariant we hold the mount's reference. Real files still open
        // (mappings outliving fakegpu) keep their own references to it.
        unsafe { bindings::kern_unmount(self.mnt.as_ptr()) };
    }
}
