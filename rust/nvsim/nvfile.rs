// SPDX-License-Identifier: GPL-2.0

//! The per-open state of an nvidia file (major 195), and references to other open nvidia
//! files.

use crate::events::EventQueue;
use crate::nvsim_model::frontend::Node;
use crate::pages::MmapContext;
use crate::state::State;
use kernel::bindings;
use kernel::ffi::{c_int, c_uint};
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::types::ForeignOwnable;

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
    /// The events posted to the file (through the OS events registered on it).
    pub(crate) events: Arc<EventQueue>,
}

/// The mutable part of an [`NvFile`].
pub(crate) struct FileInner {
    /// GPU ids attached by ATTACH_GPUS_TO_FD (at most once per file).
    pub(crate) attached: Option<KVec<u32>>,
    /// The nvidiactl file linked by REGISTER_FD (at most once per file).
    pub(crate) ctl_link: Option<NvFileRef>,
    /// What an mmap of this file maps, set once by RM_MAP_MEMORY naming this file.
    pub(crate) mmap_context: Option<MmapContext>,
}

/// A reference on another open nvsim file, released on drop.
///
/// INVARIANT: `0` is an open nvsim file (its `f_op` is [`State::nv_fops`]) on which this value
/// holds one reference.
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
    /// The caller's `fd` if it is an nvsim ctl file (`want_ctl`) or GPU file (one of the
    /// state's GPUs), as the driver's `nv_get_file_private` accepts it.
    pub(crate) fn from_fd(state: &State, fd: i32, want_ctl: bool) -> Option<Self> {
        let gpus = u32::try_from(state.gpus.len()).unwrap_or(u32::MAX);
        let fops = state.nv_fops.get().cast();
        // SAFETY: the shim only looks up `fd` in the caller's table and checks the file.
        let file = unsafe { nvsim_fget_nv(fd, fops, c_int::from(want_ctl), gpus) };
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

/// The [`NvFile`] of an open file.
///
/// # Safety
///
/// `file` must be an nvsim file between a successful `open` and `release` (`file.rs`'s
/// `nv_open` and `nv_release`).
pub(crate) unsafe fn nv_file<'a>(file: *mut bindings::file) -> Pin<&'a NvFile> {
    // SAFETY: per the contract, `private_data` came from `into_foreign` in `nv_open` and is
    // reclaimed only in `nv_release`, after every other operation.
    unsafe { <Pin<KBox<NvFile>> as ForeignOwnable>::borrow((*file).private_data) }
}
