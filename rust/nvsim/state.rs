// SPDX-License-Identifier: GPL-2.0

//! nvsim's state: what the file operations of every layer need, published once the module
//! has registered everything, and built from the module parameters.

use crate::abi::nv_family::DriverFamily;
use crate::channels::{Channels, MAX_GPUS};
use crate::events::OsEvents;
use crate::fops::FileOps;
use crate::gpu_va::GpuVaSpaces;
use crate::nvsim_model::admin::Settings;
use crate::nvsim_model::frontend::SimGpu;
use crate::pages::Pages;
use crate::published::{PublishGuard, Published};
use crate::store::{self, KernelRm};
use core::sync::atomic::AtomicU64;
use kernel::prelude::*;
use kernel::sync::Mutex;

extern "C" {
    /// The `gpus` parameter (`shim.c`).
    fn nvsim_param_gpus() -> kernel::ffi::c_int;
    /// The `fb_mib` parameter.
    fn nvsim_param_fb_mib() -> kernel::ffi::c_int;
    /// The `sysmem_mib` parameter.
    fn nvsim_param_sysmem_mib() -> kernel::ffi::c_int;
    /// The `max_objects` parameter.
    fn nvsim_param_max_objects() -> kernel::ffi::c_int;
    /// The `version` parameter, NUL-terminated.
    fn nvsim_param_version() -> *const kernel::ffi::c_char;
}
/// PCI device id of the simulated GPUs (an H100 PCIe's).
const SIM_DEVICE_ID: u16 = 0x2331;

/// What the file operations need.
pub(crate) struct State {
    /// The simulated GPUs, by minor.
    pub(crate) gpus: KVec<SimGpu>,
    /// The version CHECK_VERSION_STR reports (the `version` parameter).
    pub(crate) version: &'static str,
    /// The family whose layouts nvsim simulates: the version's branch's, else the nearest
    /// (`DriverFamily::nearest`), so a version no family lists still gets real layouts.
    pub(crate) family: &'static DriverFamily,
    /// SYS_PARAMS' memory block size: set once, 0 until then.
    pub(crate) memblock_size: AtomicU64,
    /// The RM's objects and the memory they hold.
    pub(crate) rm: Pin<KBox<Mutex<KernelRm>>>,
    /// Open nvidia files (ground truth for tests).
    pub(crate) open_files: AtomicU64,
    /// The simulated memory's pages.
    pub(crate) pages: Pages,
    /// The GPU VA spaces UVM translates (the engine's MMU).
    pub(crate) gpu_vas: GpuVaSpaces,
    /// The channels the engine runs.
    pub(crate) channels: Channels,
    /// The OS events ALLOC_OS_EVENT registered, on every file.
    pub(crate) os_events: OsEvents,
    /// Each GPU's administrator settings (compute mode, persistence, ECC, MIG), by minor.
    pub(crate) settings: Pin<KBox<Mutex<KVec<Settings>>>>,
    /// Serialises calls that link files to each other (the RM's API lock), so two files'
    /// locks are never taken in opposite orders.
    pub(crate) api_lock: Pin<KBox<Mutex<()>>>,
    /// The file operations of major 195 (`file.rs`'s `NV_FOPS`): a file with these is an
    /// nvidia file. The module root gives them, so the layers below `file.rs` can find nvidia
    /// files by fd (`NvFileRef`) and in the caller's fd table (`caller_holds_gpu`).
    pub(crate) nv_fops: &'static FileOps,
}

/// The state while the module is loaded (see [`State::publish`]).
static STATE: Published<State> = Published::new();

impl State {
    /// The published state, if the module is loaded.
    pub(crate) fn get() -> Option<&'static State> {
        STATE.get()
    }

    /// Drops the pages of system-memory objects the RM no longer has.
    pub(crate) fn drop_freed_pages(&self) {
        self.pages.drop_freed(&self.rm);
    }

    /// Publishes the state to the file operations until the guard drops (in module exit).
    pub(crate) fn publish(self) -> Result<PublishGuard<State>> {
        STATE.publish(self)
    }
}

/// The state the module parameters describe (`shim.c` holds them), for nvidia files with
/// operations `nv_fops`.
pub(crate) fn from_params(nv_fops: &'static FileOps) -> Result<State> {
    // SAFETY: the shim returns its parameters, written only at load time (read-only in sysfs).
    let (gpus, fb_mib, sysmem_mib, version) = unsafe {
        (
            nvsim_param_gpus(),
            nvsim_param_fb_mib(),
            nvsim_param_sysmem_mib(),
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
    let sysmem_mib = u64::try_from(sysmem_mib)
        .ok()
        .filter(|&m| m > 0)
        .ok_or_else(|| {
            pr_err!("sysmem_mib={}: must be positive\n", sysmem_mib);
            EINVAL
        })?;
    // SAFETY: as above.
    let max_objects = unsafe { nvsim_param_max_objects() };
    let max_objects = usize::try_from(max_objects)
        .ok()
        .filter(|n| (64..=1 << 20).contains(n))
        .ok_or_else(|| {
            pr_err!("max_objects={}: must be 64..1048576\n", max_objects);
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
    let mut fb_sizes = KVec::with_capacity(count, GFP_KERNEL)?;
    for gpu in list.iter() {
        fb_sizes.push(gpu.fb_size, GFP_KERNEL)?;
    }
    let store = store::new_store(&fb_sizes, sysmem_mib << 20, max_objects)?;
    let mut settings = KVec::with_capacity(count, GFP_KERNEL)?;
    for _ in 0..count {
        settings.push(Settings::default(), GFP_KERNEL)?;
    }
    Ok(State {
        gpus: list,
        version,
        family: DriverFamily::nearest(version),
        memblock_size: AtomicU64::new(0),
        rm: KBox::pin_init(kernel::new_mutex!(store, "nvsim::State::rm"), GFP_KERNEL)?,
        open_files: AtomicU64::new(0),
        pages: Pages::new()?,
        gpu_vas: GpuVaSpaces::new()?,
        channels: Channels::new()?,
        os_events: OsEvents::new()?,
        settings: KBox::pin_init(
            kernel::new_mutex!(settings, "nvsim::State::settings"),
            GFP_KERNEL,
        )?,
        api_lock: KBox::pin_init(kernel::new_mutex!((), "nvsim::State::api_lock"), GFP_KERNEL)?,
        nv_fops,
    })
}
