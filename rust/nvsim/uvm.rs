// SPDX-License-Identifier: GPL-2.0

//! nvsim's `/dev/nvidia-uvm`: a dynamic major named "nvidia-uvm", and the UVM commands a
//! CUDA start-up issues, with the UVM driver's checks (535 `nvidia-uvm/uvm.c`):
//!
//! - commands are raw numbers; each copies its own parameter size in and out, and an
//!   unknown number fails with EINVAL;
//! - a file is inert until UVM_INITIALIZE makes it a VA space: other commands then answer
//!   `NV_ERR_ILLEGAL_ACTION` in `rmStatus`;
//! - UVM_MM_INITIALIZE, issued on a second uvm file, resolves `uvmFd` in the caller's table and
//!   accepts only a UVM file (by its fops) that is a VA space;
//! - UVM_REGISTER_GPU succeeds only for a caller that holds the GPU's node open (535 does
//!   not validate `rmCtrlFd`);
//! - the commands that lay out the VA space (ranges, external mappings) are in `uvm_va.rs`.

use crate::abi::nv_status::*;
use crate::abi::nv_uvm::*;
use crate::caller::caller_holds_gpu;
use crate::fops::{this_module, FileOps};
use crate::gpu_va::{new_shared_va, new_va_space, SharedVa};
use crate::state::State;
use crate::uvm_va::{self, with_params, VaFile};
use kernel::bindings;
use kernel::error::from_result;
use kernel::ffi::{c_int, c_long, c_uint, c_ulong};
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::ForeignOwnable;

/// Minors of the UVM region: 0 = nvidia-uvm, 1 = nvidia-uvm-tools.
const UVM_MINORS: u32 = 2;
/// Name of the UVM major in /proc/devices.
const UVM_NAME: &CStr = kernel::c_str!("nvidia-uvm");

/// What a UVM file has become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UvmKind {
    /// Opened, not initialised.
    Uninitialized,
    /// A VA space (UVM_INITIALIZE with these flags).
    VaSpace {
        /// The flags it was initialised with.
        flags: u64,
        /// Whether an MM file has been bound to it.
        mm_bound: bool,
        /// GPUs registered (bit per minor).
        gpus: u32,
        /// GPUs with a GPU VA space registered (bit per minor).
        gpu_vaspaces: u32,
    },
    /// The MM file of a VA space (UVM_MM_INITIALIZE).
    Mm,
}

/// State of one open UVM file.
#[pin_data]
struct UvmFile {
    /// Which minor (0 nvidia-uvm, 1 tools).
    minor: u32,
    #[pin]
    kind: Mutex<UvmKind>,
    /// The VA space's ranges and mappings, made at UVM_INITIALIZE. Locked after `kind`
    /// when both are held; shared with the engine through `State::gpu_vas`.
    va: SharedVa,
}

/// Major of the UVM region while registered.
pub(crate) struct UvmRegion(u32);

impl UvmRegion {
    /// Registers the "nvidia-uvm" major.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: the name and the fops are statics that outlive the registration.
        let major = unsafe {
            bindings::__register_chrdev(0, 0, UVM_MINORS, UVM_NAME.as_char_ptr(), UVM_FOPS.get())
        };
        if major < 0 {
            return Err(Error::from_errno(major));
        }
        Ok(UvmRegion(major as u32))
    }

    /// The dynamic major.
    pub(crate) fn major(&self) -> u32 {
        self.0
    }
}

impl Drop for UvmRegion {
    fn drop(&mut self) {
        // SAFETY: registered in `register` with exactly these arguments.
        unsafe { bindings::__unregister_chrdev(self.0, 0, UVM_MINORS, UVM_NAME.as_char_ptr()) };
    }
}

/// The UVM file operations.
pub(crate) static UVM_FOPS: FileOps = FileOps(bindings::file_operations {
    owner: this_module(),
    open: Some(uvm_open),
    release: Some(uvm_release),
    unlocked_ioctl: Some(uvm_unlocked_ioctl),
    mmap: Some(uvm_mmap),
    llseek: Some(bindings::noop_llseek),
    // SAFETY: all-zero is a valid `file_operations`.
    ..unsafe { core::mem::zeroed() }
});

/// The [`UvmFile`] of an open file.
///
/// # Safety
///
/// `file` must be a UVM file between a successful [`uvm_open`] and [`uvm_release`].
unsafe fn uvm_file<'a>(file: *mut bindings::file) -> Pin<&'a UvmFile> {
    // SAFETY: per the contract, `private_data` came from `into_foreign` in `uvm_open`.
    unsafe { <Pin<KBox<UvmFile>> as ForeignOwnable>::borrow((*file).private_data) }
}

/// `open`: a fresh, uninitialised UVM file.
///
/// # Safety
///
/// Called by the VFS only, with the node's inode and the file being opened.
unsafe extern "C" fn uvm_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    from_result(|| {
        // SAFETY: the VFS passes a live inode.
        let minor = crate::abi::devnum::DevNum::from_kernel_dev_t(unsafe { (*inode).i_rdev }).minor;
        let va = new_shared_va()?;
        let f = KBox::pin_init(
            pin_init!(UvmFile {
                minor,
                kind <- kernel::new_mutex!(UvmKind::Uninitialized, "nvsim::UvmFile::kind"),
                va,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `file` is being opened and is ours until we return.
        unsafe { (*file).private_data = crate::compat::foreign_mut(f.into_foreign()) };
        Ok(0)
    })
}

/// `release`: frees the per-open state.
///
/// # Safety
///
/// Called by the VFS only, once, after every other operation on a file `uvm_open` succeeded on.
unsafe extern "C" fn uvm_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `private_data` came from `into_foreign` in `uvm_open`; release is the last use.
    let uvm = unsafe { <Pin<KBox<UvmFile>> as ForeignOwnable>::from_foreign((*file).private_data) };
    // The engine no longer translates through this VA space.
    if let Some(state) = State::get() {
        state.gpu_vas.unregister(&uvm.va, None);
    }
    drop(uvm);
    0
}

extern "C" {
    /// Gives a UVM VMA nvsim's fault handler (`shim.c`), which calls `nvsim_uvm_fault_page`.
    fn nvsim_uvm_vma_setup(vma: *mut kernel::ffi::c_void);
    /// `get_page`.
    fn nvsim_page_get(page: *mut kernel::ffi::c_void);
}

/// `mmap` of a UVM VA space file: as the driver, only at an offset equal to the address (the
/// file's offsets are the process's VAs). Pages come on fault from the VA space's semaphore
/// pools; any other address is SIGBUS (nvsim has no managed memory).
///
/// # Safety
///
/// Called by the mm only, on an open UVM file, with the VMA being set up.
unsafe extern "C" fn uvm_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: the mm calls mmap on an open UVM file.
    let uvm = unsafe { uvm_file(file) };
    // The VA lock, as the fault handler takes it under the mmap lock (`kind` is taken with
    // user copies pending in ioctls, so never here).
    if uvm.minor != 0 || uvm.va.lock().is_none() {
        return EINVAL.to_errno();
    }
    // SAFETY: the VMA is being set up under the mmap lock; these fields are plain reads.
    let (start, pgoff) = unsafe {
        (
            (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start,
            (*vma).vm_pgoff,
        )
    };
    if pgoff.checked_mul(kernel::page::PAGE_SIZE as c_ulong) != Some(start) {
        return EINVAL.to_errno();
    }
    // SAFETY: as above; the shim sets the VMA's operations and flags.
    unsafe { nvsim_uvm_vma_setup(vma.cast()) };
    0
}

/// The fault handler's look-up (`shim.c`): the semaphore-pool page behind `addr` in the VA
/// space of the UVM file whose `private_data` is `private`, with a reference taken for the
/// new mapping; null if no pool covers `addr`.
///
/// # Safety
///
/// `private` is the `private_data` of an open UVM file (the faulting VMA holds the file).
#[no_mangle]
unsafe extern "C" fn nvsim_uvm_fault_page(
    private: *mut kernel::ffi::c_void,
    addr: c_ulong,
) -> *mut kernel::ffi::c_void {
    // SAFETY: per the contract, `private` came from `into_foreign` in `uvm_open` and the file
    // stays open while its VMA exists.
    let uvm = unsafe { <Pin<KBox<UvmFile>> as ForeignOwnable>::borrow(private) };
    let va = uvm.va.lock();
    let Some((page, _)) = va.as_ref().and_then(|v| v.storage().pool_page(addr as u64)) else {
        return core::ptr::null_mut();
    };
    let page = page.as_ptr();
    // SAFETY: the page is alive while the VA lock is held; the reference taken here is the
    // new mapping's.
    unsafe { nvsim_page_get(page) };
    page
}

extern "C" {
    /// `fget` of `fd` if its fops are `fops` (see `shim.c`); `struct file *` as `void *`.
    fn nvsim_fget_fops(fd: c_int, fops: *const kernel::ffi::c_void) -> *mut kernel::ffi::c_void;
    /// `fput`.
    fn nvsim_fput(file: *mut kernel::ffi::c_void);
}

/// `unlocked_ioctl`: the UVM dispatch.
///
/// # Safety
///
/// Called by the VFS only, on an open UVM file.
unsafe extern "C" fn uvm_unlocked_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    let Some(state) = State::get() else {
        return ENODEV.to_errno() as c_long;
    };
    // SAFETY: the VFS calls ioctl on an open UVM file.
    let uvm = unsafe { uvm_file(file) };
    let result = uvm_ioctl(state, uvm.get_ref(), cmd, arg);
    crate::trace::uvm(
        cmd,
        state.family.uvm.get(cmd).map_or(0, |c| c.size),
        &result,
    );
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

/// Handles UVM command `cmd`: copies its parameters in, runs it, and copies them back.
fn uvm_ioctl(state: &State, uvm: &UvmFile, cmd: u32, arg: usize) -> Result {
    if uvm.minor != 0 {
        // nvidia-uvm-tools has its own command set, none of which nvsim implements.
        crate::trace::log_unimplemented("uvm-tools command", cmd, 0);
        return Err(EINVAL);
    }
    let Some(command) = state.family.uvm.get(cmd) else {
        crate::trace::log_unimplemented("uvm command", cmd, 0);
        return Err(EINVAL);
    };
    if command.size == 0 {
        // UVM_DEINITIALIZE: nothing to copy, always succeeds.
        return Ok(());
    }
    let mut buf = KVec::from_elem(0u8, command.size, GFP_KERNEL)?;
    crate::compat::user_slice(arg, command.size)
        .reader()
        .read_slice(&mut buf)?;
    dispatch(state, uvm, cmd, &mut buf);
    crate::compat::user_slice(arg, command.size)
        .writer()
        .write_slice(&buf)
}

/// Runs UVM command `cmd` on its copied-in parameters `buf`, its status in `rmStatus`.
fn dispatch(state: &State, uvm: &UvmFile, cmd: u32, buf: &mut [u8]) {
    if uvm.minor != 0 {
        // nvidia-uvm-tools answers none of these (refused in `uvm_ioctl`).
        return;
    }
    let kind = *uvm.kind.lock();
    let initialised = matches!(kind, UvmKind::VaSpace { .. });
    let needs_init = !matches!(cmd, 0x3000_0001 | 75);
    let refuse = needs_init && !initialised;
    let gpu_vaspaces = match kind {
        UvmKind::VaSpace { gpu_vaspaces, .. } => gpu_vaspaces,
        _ => 0,
    };
    {
        let mut va = uvm.va.lock();
        let file = VaFile {
            va: (*va).as_mut().filter(|_| initialised),
            gpu_vaspaces,
        };
        if uvm_va::dispatch(state, file, cmd, buf) {
            return;
        }
    }
    match cmd {
        0x3000_0001 => with_params(buf, |p: &mut UvmInitializeParams| {
            p.rm_status = initialize(state, uvm, p.flags)
        }),
        75 => with_params(buf, |p: &mut UvmMmInitializeParams| {
            p.rm_status = mm_initialize(state, uvm, p.uvm_fd)
        }),
        37 => with_params(buf, |p: &mut UvmRegisterGpuParams| {
            p.rm_status = if refuse {
                NV_ERR_ILLEGAL_ACTION
            } else {
                register_gpu(state, uvm, p)
            };
        }),
        38 => with_params(buf, |p: &mut UvmUnregisterGpuParams| {
            p.rm_status = if refuse {
                NV_ERR_ILLEGAL_ACTION
            } else {
                unregister_gpu(state, uvm, &p.gpu_uuid)
            };
        }),
        39 => with_params(buf, |p: &mut UvmPageableMemAccessParams| {
            p.pageable_mem_access = 0;
            p.rm_status = if refuse { NV_ERR_ILLEGAL_ACTION } else { NV_OK };
        }),
        25 => with_params(buf, |p: &mut UvmRegisterGpuVaspaceParams| {
            p.rm_status = if refuse {
                NV_ERR_ILLEGAL_ACTION
            } else {
                set_gpu_vaspace(state, uvm, &p.gpu_uuid, Some((p.h_client, p.h_va_space)))
            };
        }),
        27 => with_params(buf, |p: &mut UvmRegisterChannelParams| {
            p.rm_status = if refuse { NV_ERR_ILLEGAL_ACTION } else { NV_OK };
        }),
        26 => with_params(buf, |p: &mut UvmUnregisterGpuVaspaceParams| {
            p.rm_status = if refuse {
                NV_ERR_ILLEGAL_ACTION
            } else {
                set_gpu_vaspace(state, uvm, &p.gpu_uuid, None)
            };
        }),
        28 => with_params(buf, |p: &mut UvmUnregisterChannelParams| {
            p.rm_status = if refuse { NV_ERR_ILLEGAL_ACTION } else { NV_OK };
        }),
        _ => {}
    }
}

/// UVM_INITIALIZE: the file becomes a VA space; again with the same flags is fine.
fn initialize(state: &State, uvm: &UvmFile, flags: u64) -> NvStatus {
    // Made before any lock: the bookkeeping is two vectors.
    let fresh = match uvm.va.lock().is_none() {
        true => match new_va_space() {
            Ok(va) => Some(va),
            Err(_) => return NV_ERR_NO_MEMORY,
        },
        false => None,
    };
    // State changes of UVM files happen under the API lock, one file lock at a time.
    let _api = state.api_lock.lock();
    let mut kind = uvm.kind.lock();
    match *kind {
        UvmKind::Uninitialized => {
            *kind = UvmKind::VaSpace {
                flags,
                mm_bound: false,
                gpus: 0,
                gpu_vaspaces: 0,
            };
            let mut va = uvm.va.lock();
            if va.is_none() {
                *va = fresh;
            }
            NV_OK
        }
        UvmKind::VaSpace { flags: f, .. } if f == flags => NV_OK,
        _ => NV_ERR_INVALID_ARGUMENT,
    }
}

/// UVM_MM_INITIALIZE on this (uninitialised) file for the VA space file `uvm_fd`.
fn mm_initialize(state: &State, uvm: &UvmFile, uvm_fd: i32) -> NvStatus {
    // SAFETY: the shim looks `uvm_fd` up in the caller's table and checks its fops.
    let other = unsafe { nvsim_fget_fops(uvm_fd, UVM_FOPS.get().cast()) };
    if other.is_null() {
        return NV_ERR_INVALID_ARGUMENT;
    }
    // SAFETY: `other` is an open UVM file (its fops are ours) on which we hold a reference.
    let va = unsafe { uvm_file(other.cast()) };
    let status = if core::ptr::eq(va.get_ref(), uvm) {
        NV_ERR_INVALID_ARGUMENT
    } else {
        // Under the API lock no other transition interleaves, so each file's lock is taken
        // alone (two locks of one class at once would be a lockdep report).
        let _api = state.api_lock.lock();
        let va_kind = *va.kind.lock();
        let own_kind = *uvm.kind.lock();
        match (va_kind, own_kind) {
            (UvmKind::VaSpace { mm_bound: true, .. }, _) => NV_ERR_INVALID_STATE,
            (UvmKind::VaSpace { .. }, UvmKind::Uninitialized) => {
                *uvm.kind.lock() = UvmKind::Mm;
                if let UvmKind::VaSpace { mm_bound, .. } = &mut *va.kind.lock() {
                    *mm_bound = true;
                }
                NV_OK
            }
            (UvmKind::VaSpace { .. }, _) => NV_ERR_IN_USE,
            _ => NV_ERR_INVALID_ARGUMENT,
        }
    };
    // SAFETY: releases the reference the shim took.
    unsafe { nvsim_fput(other) };
    status
}

/// UVM_REGISTER_GPU. The 535 driver does not validate `rmCtrlFd` (its source says so); the
/// gate is the GPU-info query's fd-table walk: the caller must hold the GPU's node open.
fn register_gpu(state: &State, uvm: &UvmFile, p: &UvmRegisterGpuParams) -> NvStatus {
    let Some(gpu) = state.gpus.iter().find(|g| g.uuid() == p.gpu_uuid.uuid) else {
        return NV_ERR_GPU_UUID_NOT_FOUND;
    };
    if !caller_holds_gpu(state, gpu.minor) {
        return NV_ERR_INSUFFICIENT_PERMISSIONS;
    }
    let mut kind = uvm.kind.lock();
    match &mut *kind {
        UvmKind::VaSpace { gpus, .. } => {
            let bit = 1u32 << gpu.minor;
            if *gpus & bit != 0 {
                return NV_ERR_IN_USE;
            }
            *gpus |= bit;
            NV_OK
        }
        _ => NV_ERR_ILLEGAL_ACTION,
    }
}

/// UVM_UNREGISTER_GPU: the GPU's VA space and mappings go with it.
fn unregister_gpu(state: &State, uvm: &UvmFile, uuid: &NvProcessorUuid) -> NvStatus {
    let Some(gpu) = state.gpus.iter().find(|g| g.uuid() == uuid.uuid) else {
        return NV_ERR_GPU_UUID_NOT_FOUND;
    };
    let mut kind = uvm.kind.lock();
    match &mut *kind {
        UvmKind::VaSpace {
            gpus, gpu_vaspaces, ..
        } if *gpus & (1 << gpu.minor) != 0 => {
            *gpus &= !(1u32 << gpu.minor);
            *gpu_vaspaces &= !(1u32 << gpu.minor);
            state.gpu_vas.unregister(&uvm.va, Some(gpu.minor));
            if let Some(va) = (*uvm.va.lock()).as_mut() {
                va.forget_gpu(gpu.minor);
            }
            NV_OK
        }
        _ => NV_ERR_INVALID_DEVICE,
    }
}

/// UVM_REGISTER_GPU_VASPACE (`register`: the RM client and VA space handed over) and
/// UVM_UNREGISTER_GPU_VASPACE (`None`) of the GPU `uuid`, which must be registered.
fn set_gpu_vaspace(
    state: &State,
    uvm: &UvmFile,
    uuid: &NvProcessorUuid,
    register: Option<(u32, u32)>,
) -> NvStatus {
    let Some(gpu) = state.gpus.iter().find(|g| g.uuid() == uuid.uuid) else {
        return NV_ERR_GPU_UUID_NOT_FOUND;
    };
    let bit = 1u32 << gpu.minor;
    let mut kind = uvm.kind.lock();
    match &mut *kind {
        UvmKind::VaSpace {
            gpus, gpu_vaspaces, ..
        } if *gpus & bit != 0 => {
            if let Some((client, vaspace)) = register {
                if state
                    .gpu_vas
                    .register(client, vaspace, gpu.minor, &uvm.va)
                    .is_err()
                {
                    return NV_ERR_NO_MEMORY;
                }
                *gpu_vaspaces |= bit;
            } else {
                *gpu_vaspaces &= !bit;
                state.gpu_vas.unregister(&uvm.va, Some(gpu.minor));
                if let Some(va) = (*uvm.va.lock()).as_mut() {
                    va.forget_gpu(gpu.minor);
                }
            }
            NV_OK
        }
        _ => NV_ERR_INVALID_DEVICE,
    }
}
