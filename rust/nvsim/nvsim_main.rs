// SPDX-License-Identifier: GPL-2.0

//! nvsim: the NVIDIA driver's userspace ABI as a test kernel module, in the spirit of
//! netdevsim and vkms.
//!
//! No NVIDIA GPU or driver runs where fakegpu is tested, so nvsim stands in for the driver:
//! it registers char major 195 as "nvidia-frontend" (minor 255 = nvidiactl, 0..N-1 = the
//! simulated GPUs) and, like the real driver, creates no /dev nodes (the test setup mknods
//! them from /proc/devices, as nvidia-modprobe does). It answers the escapes it implements
//! with the driver's own checks: exact sizes, ctl-only versus device-only, errno or RM
//! status as the driver gives them. The decisions live in `rust/shared` (`nvsim_frontend`),
//! tested by cargo; this crate copies parameters in and out.

use kernel::prelude::*;

#[path = "../kernel-common/fops.rs"]
mod fops;
#[path = "../kernel-common/layout.rs"]
mod layout;
#[path = "../kernel-common/published.rs"]
mod published;

mod file;
mod ioctl;

#[path = "../shared/src"]
pub mod shared {
    //! The no_std code shared with userspace (`rust/shared`), compiled into the module.
    pub mod devnum;
    pub mod ioc;
    pub mod nv_frontend_abi;
    pub mod nv_status;
    pub mod nvsim_frontend;
    pub mod pod;
}

use core::sync::atomic::AtomicU64;
use published::{PublishGuard, Published};
use shared::nv_frontend_abi::{NV_CTL_MINOR, NV_MAJOR};
use shared::nvsim_frontend::SimGpu;

module! {
    type: NvSim,
    name: "nvsim",
    author: "fakegpu developers",
    description: "Simulated NVIDIA driver userspace ABI, for tests",
    license: "GPL",
}

extern "C" {
    fn nvsim_param_gpus() -> kernel::ffi::c_int;
    fn nvsim_param_fb_mib() -> kernel::ffi::c_int;
    fn nvsim_param_version() -> *const kernel::ffi::c_char;
}

/// Most simulated GPUs.
const MAX_GPUS: usize = 16;
/// PCI device id of the simulated GPUs (an H100 PCIe's).
const SIM_DEVICE_ID: u16 = 0x2331;
/// Name of major 195 in /proc/devices, as the 535 driver registers it.
const FRONTEND_NAME: &CStr = kernel::c_str!("nvidia-frontend");

/// What the file operations need.
pub(crate) struct State {
    /// The simulated GPUs, by minor.
    pub(crate) gpus: KVec<SimGpu>,
    /// The version CHECK_VERSION_STR reports (the `version` parameter).
    pub(crate) version: &'static str,
    /// SYS_PARAMS' memory block size: set once, 0 until then.
    pub(crate) memblock_size: AtomicU64,
}

static STATE: Published<State> = Published::new();

impl State {
    /// The published state, if the module is loaded.
    pub(crate) fn get() -> Option<&'static State> {
        STATE.get()
    }
}

/// The loaded module: the state, and major 195 while registered.
struct NvSim {
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

fn state_from_params() -> Result<State> {
    // SAFETY: the shim returns its parameters, written only at load time (read-only in sysfs).
    let (gpus, fb_mib, version) = unsafe {
        (
            nvsim_param_gpus(),
            nvsim_param_fb_mib(),
            CStr::from_char_ptr(nvsim_param_version()),
        )
    };
    let count = usize::try_from(gpus)
        .ok()
        .filter(|n| (1..=MAX_GPUS).contains(n))
        .ok_or_else(|| {
            pr_err!("gpus={}: must be 1..{}\n", gpus, MAX_GPUS);
            EINVAL
        })?;
    let fb_mib = u64::try_from(fb_mib)
        .ok()
        .filter(|&m| m > 0)
        .ok_or_else(|| {
            pr_err!("fb_mib={}: must be positive\n", fb_mib);
            EINVAL
        })?;
    let version = version
        .to_str()
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            pr_err!("version= must be non-empty text\n");
            EINVAL
        })?;
    let mut list = KVec::with_capacity(count, GFP_KERNEL)?;
    for i in 0..count {
        // `count` <= MAX_GPUS, so minors and buses fit.
        list.push(
            SimGpu {
                minor: i as u32,
                bus: (i + 1) as u8,
                device_id: SIM_DEVICE_ID,
                fb_size: fb_mib << 20,
            },
            GFP_KERNEL,
        )?;
    }
    Ok(State {
        gpus: list,
        version,
        memblock_size: AtomicU64::new(0),
    })
}

impl kernel::Module for NvSim {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        layout::check()?;
        let state = STATE.publish(state_from_params()?)?;
        let frontend = FrontendRegion::register()?;
        let s = state.get();
        pr_info!(
            "{} simulated GPU(s), {} MiB each, driver version {}; major {} (nvidia-frontend)\n",
            s.gpus.len(),
            s.gpus.first().map_or(0, |g| g.fb_size >> 20),
            s.version,
            NV_MAJOR
        );
        Ok(NvSim {
            _frontend: frontend,
            _state: state,
        })
    }
}
