// SPDX-License-Identifier: GPL-2.0

//! nvsim's file operations on major 195.

use crate::abi::devnum::DevNum;
use crate::abi::nv_frontend::NV_CTL_MINOR;
use crate::events::EventQueue;
use crate::fops::{this_module, FileOps};
use crate::nvfile::{nv_file, FileInner, NvFile};
use crate::nvsim_model::frontend::Node;
use crate::state::State;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::bindings;
use kernel::error::from_result;
use kernel::ffi::{c_int, c_long, c_uint, c_ulong};
use kernel::prelude::*;
use kernel::types::ForeignOwnable;

/// Source of [`NvFile::id`]s, never reused while the module is loaded.
static NEXT_FILE_ID: AtomicU64 = AtomicU64::new(1);

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
        let events = EventQueue::new()?;
        let nv_file = KBox::pin_init(
            pin_init!(NvFile {
                node,
                id,
                inner <- kernel::new_mutex!(
                    FileInner {
                        attached: None,
                        ctl_link: None,
                        mmap_context: None,
                    },
                    "nvsim::NvFile::inner"
                ),
                events,
            }),
            GFP_KERNEL,
        )?;
        state.open_files.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `file` is being opened and is ours until we return.
        unsafe { (*file).private_data = crate::compat::foreign_mut(nv_file.into_foreign()) };
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
        state.os_events.forget(None, Some(nv_file.id));
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
    match ctx.and_then(|ctx| state.pages.map(ctx, &state.rm, vma)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `poll`: ready (POLLIN | POLLPRI) while events posted to the file wait (see `events.rs`).
///
/// # Safety
///
/// Called by the VFS only, on an open nvsim file.
unsafe extern "C" fn nv_poll(
    file: *mut bindings::file,
    wait: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: the VFS calls poll on an open nvsim file.
    let nv_file = unsafe { nv_file(file) };
    // SAFETY: `file` and `wait` are this poll call's, on the file owning the queue.
    unsafe { nv_file.events.poll(file, wait) }
}
