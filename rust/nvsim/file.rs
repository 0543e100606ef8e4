// SPDX-License-Identifier: GPL-2.0

//! nvsim's file operations on major 195 and the per-open state.

use crate::abi::devnum::DevNum;
use crate::abi::nv_frontend::NV_CTL_MINOR;
use crate::fops::{this_module, FileOps};
use crate::nvsim_model::frontend::Node;
use crate::pages::MmapContext;
use crate::state::State;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::bindings;
use kernel::error::from_result;
use kernel::ffi::{c_int, c_long, c_uint, c_ulong};
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::ForeignOwnable;

/// Source of [`NvFile::id`]s, never reused while the module is loaded.
static NEXT_FILE_ID: AtomicU64 = AtomicU64::new(1);

/// State of one open nvidia file.
#[pin_data]
pub(crate) struct NvFile {
    /// Which node this file is.
    pub(crate) node: Node,
    /// Identifies the file to the RM: the clients it creates belong to it.
    pub(crate) id: u64,
    /// What the file's escapes have set up.
    #[pin]
    pub(crate) inner: Mutex<FileInner>,
}

/// The mutable part of an [`NvFile`].
pub(crate) struct FileInner {
    /// GPU ids attached by ATTACH_GPUS_TO_FD (at most once per file).
    pub(crate) attached: Option<KVec<u32>>,
    /// The nvidiactl file linked by REGISTER_FD (at most once per file).
    pub(crate) ctl_link: Option<NvFileRef>,
    /// What an mmap of this file maps, set once by RM_MAP_MEMORY naming this file.
    pub(crate) mmap_context: Option<MmapContext>,
    /// OS events registered on this file: (client, fd key). The fd is never resolved.
    pub(crate) os_events: [Option<(u32, u32)>; MAX_OS_EVENTS],
}

/// Most OS events one file holds (NV_ERR_INSUFFICIENT_RESOURCES beyond).
pub(crate) const MAX_OS_EVENTS: usize = 64;

/// A reference on another open nvsim file, released on drop.
///
/// INVARIANT: `0` is an open nvsim file (its `f_op` is [`NV_FOPS`]) on which this value holds
/// one reference.
pub(crate) struct NvFileRef(core::ptr::NonNull<bindings::file>);

// SAFETY: a file reference may be used and dropped from any thread.
unsafe impl Send for NvFileRef {}

extern "C" {
    /// `fget` of `fd` in the caller's table if it is an nvsim file (see `shim.c`). Returns
    /// `struct file *` as `void *`: `struct file` reaches structs rustc's FFI lint flags.
    fn nvsim_fget_nv(
        fd: c_int,
        fops: *const kernel::ffi::c_void,
        want_ctl: c_int,
        gpus: c_uint,
    ) -> *mut kernel::ffi::c_void;
}

impl NvFileRef {
    /// The caller's `fd` if it is an nvsim ctl file (`want_ctl`) or GPU file, as the driver's
    /// `nv_get_file_private` accepts it.
    pub(crate) fn from_fd(fd: i32, want_ctl: bool, gpus: usize) -> Option<Self> {
        let gpus = u32::try_from(gpus).unwrap_or(u32::MAX);
        // SAFETY: the shim only looks up `fd` in the caller's table and checks the file.
        let file = unsafe { nvsim_fget_nv(fd, NV_FOPS.get().cast(), c_int::from(want_ctl), gpus) };
        // INVARIANT: the shim returns an nvsim file with a reference held, or null.
        core::ptr::NonNull::new(file.cast::<bindings::file>()).map(NvFileRef)
    }

    /// The referenced file's state.
    pub(crate) fn nv_file(&self) -> Pin<&NvFile> {
        // SAFETY: by the type invariant the file is an open nvsim file, so `nv_file` applies;
        // the reference we hold keeps it open while `self` lives.
        unsafe { nv_file(self.0.as_ptr()) }
    }
}

impl Drop for NvFileRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold one reference.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// The operations of every nvidia node nvsim serves.
pub(crate) static NV_FOPS: FileOps = FileOps(bindings::file_operations {
    owner: this_module(),
    open: Some(nv_open),
    release: Some(nv_release),
    unlocked_ioctl: Some(nv_unlocked_ioctl),
    mmap: Some(nv_mmap),
    poll: Some(nv_poll),
    llseek: Some(bindings::noop_llseek),
    // SAFETY: all-zero is a valid `file_operations`.
    ..unsafe { core::mem::zeroed() }
});

/// The [`NvFile`] of an open file.
///
/// # Safety
///
/// `file` must be an nvsim file between a successful [`nv_open`] and [`nv_release`].
unsafe fn nv_file<'a>(file: *mut bindings::file) -> Pin<&'a NvFile> {
    // SAFETY: per the contract, `private_data` came from `into_foreign` in `nv_open` and is
    // reclaimed only in `nv_release`, after every other operation.
    unsafe { <Pin<KBox<NvFile>> as ForeignOwnable>::borrow((*file).private_data) }
}

/// `open`: ctl (minor 255) or one of the simulated GPUs; ENODEV for any other minor, as the
/// driver's frontend answers for a minor with no device.
///
/// # Safety
///
/// Called by the VFS only, with the node's inode and the file being opened.
unsafe extern "C" fn nv_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    from_result(|| {
        let state = State::get().ok_or(ENODEV)?;
        // SAFETY: the VFS passes a live inode.
        let minor = DevNum::from_kernel_dev_t(unsafe { (*inode).i_rdev }).minor;
        let node = if minor == NV_CTL_MINOR {
            Node::Ctl
        } else if (minor as usize) < state.gpus.len() {
            Node::Gpu(minor)
        } else {
            return Err(ENODEV);
        };
        let id = NEXT_FILE_ID.fetch_add(1, Ordering::Relaxed);
        let nv_file = KBox::pin_init(
            pin_init!(NvFile {
                node,
                id,
                inner <- kernel::new_mutex!(
                    FileInner {
                        attached: None,
                        ctl_link: None,
                        mmap_context: None,
                        os_events: [None; MAX_OS_EVENTS],
                    },
                    "nvsim::NvFile::inner"
                ),
            }),
            GFP_KERNEL,
        )?;
        state.open_files.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `file` is being opened and is ours until we return.
        unsafe { (*file).private_data = nv_file.into_foreign().cast_mut() };
        Ok(0)
    })
}

/// `release`: frees the per-open state.
///
/// # Safety
///
/// Called by the VFS only, once, after every other operation on a file `nv_open` succeeded on.
unsafe extern "C" fn nv_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `private_data` came from `into_foreign` in `nv_open`; release is the last use.
    let nv_file =
        unsafe { <Pin<KBox<NvFile>> as ForeignOwnable>::from_foreign((*file).private_data) };
    // Closing a file frees every client made on it, as the driver does.
    if let Some(state) = State::get() {
        state.rm.lock().free_file(nv_file.id);
        state.drop_freed_pages();
        state.open_files.fetch_sub(1, Ordering::Relaxed);
    }
    0
}

/// `unlocked_ioctl`: the frontend's dispatch (see `ioctl.rs`).
///
/// # Safety
///
/// Called by the VFS only, on an open nvsim file.
unsafe extern "C" fn nv_unlocked_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    let Some(state) = State::get() else {
        return ENODEV.to_errno() as c_long;
    };
    // SAFETY: the VFS calls ioctl on an open nvsim file.
    let nv_file = unsafe { nv_file(file) };
    match crate::ioctl::nvidia_ioctl(state, nv_file.get_ref(), cmd, arg) {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

/// `mmap`: maps the pages the file's mmap context names (see `Pages::map`); EINVAL without a
/// context.
///
/// # Safety
///
/// Called by the mm only, on an open nvsim file, with the VMA being set up.
unsafe extern "C" fn nv_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    let Some(state) = State::get() else {
        return ENODEV.to_errno();
    };
    // SAFETY: the mm calls mmap on an open nvsim file.
    let nv_file = unsafe { nv_file(file) };
    let ctx = nv_file.inner.lock().mmap_context.ok_or(EINVAL);
    match ctx.and_then(|ctx| state.pages.map(ctx, vma.cast())) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `poll`: nvsim raises no GPU events, so an nvidia file is never ready (no wait queue is
/// registered, so poll and select wait out their timeout).
///
/// # Safety
///
/// Called by the VFS only, on an open nvsim file.
unsafe extern "C" fn nv_poll(
    _file: *mut bindings::file,
    _wait: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    0
}
