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
mod debugfs;
mod file;
mod ioctl;
mod nvfile;
mod pages;
mod procfs;
mod rm;
mod slice_writer;
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
use debugfs::Debugfs;
use procfs::Procfs;
use published::PublishGuard;
use state::State;

module! {
    type: NvSim,
    name: "nvsim",
    author: "fakegpu developers",
    description: "Simulated NVIDIA driver userspace ABI, for tests",
    license: "GPL",
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
