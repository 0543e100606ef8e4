// SPDX-License-Identifier: GPL-2.0

//! nvsim: the NVIDIA driver's userspace ABI as a test kernel module, in the spirit of
//! netdevsim and vkms.
//!
//! No NVIDIA GPU or driver runs where fakegpu is tested, so nvsim stands in for the driver:
//! it registers char major 195 as "nvidia-frontend" (minor 255 = nvidiactl, 0..N-1 = the
//! simulated GPUs) and, like the real driver, creates no /dev nodes (the test setup mknods
//! them from /proc/devices, as nvidia-modprobe does). It answers the escapes it implements
//! with the driver's own checks: exact sizes, ctl-only versus device-only, errno or RM
//! status as the driver gives them. The decisions live in the nvsim-model crate (`rust/nvsim-model`),
//! tested by cargo; this crate copies parameters in and out.

use kernel::prelude::*;

#[path = "../kernel-common/fops.rs"]
mod fops;
#[path = "../kernel-common/layout.rs"]
mod layout;
#[path = "../kernel-common/published.rs"]
mod published;

mod caller;
mod control;
mod file;
mod ioctl;
mod nvfile;
mod pages;
mod rm;
mod state;
mod store;
mod trace;
mod uvm;

#[path = "../abi/src"]
pub mod abi {
    //! The ABI crate (`rust/abi`), compiled into the module.
    pub mod devnum;
    pub mod ioc;
    pub mod namebuf;
    pub mod nv_frontend;
    pub mod nv_rm;
    pub mod nv_status;
    pub mod nv_trace;
    pub mod nv_uvm;
    pub mod pod;
}

#[path = "../nvsim-model/src"]
pub mod nvsim_model {
    //! The nvsim model crate (`rust/nvsim-model`), compiled into the module.
    use super::abi;
    pub mod ctrl;
    pub mod frontend;
    pub mod procfs;
    pub mod rm;
}

use abi::nv_frontend::{NV_CTL_MINOR, NV_MAJOR};
use nvsim_model::frontend::SimGpu;
use published::PublishGuard;
use state::State;

module! {
    type: NvSim,
    name: "nvsim",
    author: "fakegpu developers",
    description: "Simulated NVIDIA driver userspace ABI, for tests",
    license: "GPL",
}

extern "C" {
    fn nvsim_procfs_create() -> kernel::ffi::c_int;
    fn nvsim_procfs_add_gpu(
        index: kernel::ffi::c_uint,
        bus_id: *const kernel::ffi::c_char,
    ) -> kernel::ffi::c_int;
    fn nvsim_procfs_remove();
    fn nvsim_debugfs_create();
    fn nvsim_debugfs_remove();
}

/// Name of major 195 in /proc/devices, as the 535 driver registers it.
const FRONTEND_NAME: &CStr = kernel::c_str!("nvidia-frontend");

/// The loaded module. Fields drop in order: procfs and debugfs first (they read the state), then
/// major 195, then the state.
struct NvSim {
    _procfs: Procfs,
    _debugfs: Debugfs,
    _uvm: uvm::UvmRegion,
    _frontend: FrontendRegion,
    _state: PublishGuard<State>,
}

/// /sys/kernel/debug/nvsim/state while it exists.
struct Debugfs;

impl Debugfs {
    fn create() -> Self {
        // SAFETY: creates the directory and file; failures only leave them absent.
        unsafe { nvsim_debugfs_create() };
        Debugfs
    }
}

impl Drop for Debugfs {
    fn drop(&mut self) {
        // SAFETY: removes what `create` made; debugfs waits for readers in progress.
        unsafe { nvsim_debugfs_remove() };
    }
}

/// /proc/driver/nvidia while it exists (`nvsim_model::procfs` has its files' text).
struct Procfs;

impl Procfs {
    fn create(gpus: &[SimGpu]) -> Result<Self> {
        // SAFETY: creates the directory and its files; on failure nothing is left.
        kernel::error::to_result(unsafe { nvsim_procfs_create() })?;
        let procfs = Procfs;
        for (i, gpu) in gpus.iter().enumerate() {
            let mut name = abi::namebuf::NameBuf::new();
            core::fmt::Write::write_fmt(
                &mut name,
                format_args!("{}", nvsim_model::procfs::bus_id(gpu)),
            )
            .map_err(|_| EINVAL)?;
            // SAFETY: `name` is NUL-terminated and outlives the call (procfs copies it); on
            // failure `procfs` drops and removes what exists.
            kernel::error::to_result(unsafe {
                nvsim_procfs_add_gpu(
                    i as kernel::ffi::c_uint,
                    name.as_bytes_with_nul().as_ptr().cast(),
                )
            })?;
        }
        Ok(procfs)
    }
}

impl Drop for Procfs {
    fn drop(&mut self) {
        // SAFETY: removes what `create` made; procfs waits for readers in progress.
        unsafe { nvsim_procfs_remove() };
    }
}

/// Called by `shim.c` to fill a /proc/driver/nvidia file (`file` as
/// `procfs::ProcFile::from_number` numbers them): formats into `buf` (`len` bytes) and
/// returns the length written.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
#[no_mangle]
unsafe extern "C" fn nvsim_format_proc(file: u32, buf: *mut u8, len: usize) -> usize {
    let Some(state) = State::get() else { return 0 };
    let Some(file) = nvsim_model::procfs::ProcFile::from_number(file) else {
        return 0;
    };
    // SAFETY: per the contract, `buf` is writable for `len` bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut writer = SliceWriter { buf: out, len: 0 };
    let _ = nvsim_model::procfs::format(file, &state.gpus, state.version, &mut writer);
    writer.len
}

/// Called by `shim.c` to fill /sys/kernel/debug/nvsim/state: formats into `buf` (`len`
/// bytes) and returns the length written.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
#[no_mangle]
unsafe extern "C" fn nvsim_format_state(buf: *mut u8, len: usize) -> usize {
    let Some(state) = State::get() else { return 0 };
    // SAFETY: per the contract, `buf` is writable for `len` bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut writer = SliceWriter { buf: out, len: 0 };
    let _ = rm::format_state(state, &mut writer);
    writer.len
}

/// Formats into a byte slice, dropping what does not fit.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + n),
            s.as_bytes().get(..n),
        ) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        if n < s.len() {
            Err(core::fmt::Error)
        } else {
            Ok(())
        }
    }
}

/// Major 195, minors 0..=255, registered as "nvidia-frontend".
struct FrontendRegion;

impl FrontendRegion {
    fn register() -> Result<Self> {
        // SAFETY: the name and the fops are statics that outlive the registration.
        let ret = unsafe {
            kernel::bindings::__register_chrdev(
                NV_MAJOR,
                0,
                NV_CTL_MINOR + 1,
                FRONTEND_NAME.as_char_ptr(),
                file::NV_FOPS.get(),
            )
        };
        if ret < 0 {
            pr_err!(
                "cannot register major {}: {} (is the NVIDIA driver loaded?)\n",
                NV_MAJOR,
                ret
            );
            return Err(Error::from_errno(ret));
        }
        Ok(FrontendRegion)
    }
}

impl Drop for FrontendRegion {
    fn drop(&mut self) {
        // SAFETY: registered in `register` with exactly these arguments.
        unsafe {
            kernel::bindings::__unregister_chrdev(
                NV_MAJOR,
                0,
                NV_CTL_MINOR + 1,
                FRONTEND_NAME.as_char_ptr(),
            )
        };
    }
}

impl kernel::Module for NvSim {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        layout::check()?;
        let state = state::from_params(&file::NV_FOPS)?;
        let frontend = FrontendRegion::register()?;
        let uvm = uvm::UvmRegion::register()?;
        let debugfs = Debugfs::create();
        let procfs = Procfs::create(&state.gpus)?;
        // Published last: until then opens fail with ENODEV, and once it is published init
        // can no longer fail (a failed init frees the module without waiting for open files).
        let state = state.publish()?;
        let s = state.get();
        pr_info!(
            "{} simulated GPU(s), {} MiB each, driver version {}; major {} (nvidia-frontend), {} (nvidia-uvm)\n",
            s.gpus.len(),
            s.gpus.first().map_or(0, |g| g.fb_size >> 20),
            s.version,
            NV_MAJOR,
            uvm.major()
        );
        Ok(NvSim {
            _procfs: procfs,
            _debugfs: debugfs,
            _uvm: uvm,
            _frontend: frontend,
            _state: state,
        })
    }
}
