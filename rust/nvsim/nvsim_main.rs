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

mod file;
mod ioctl;
mod rm;
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
use core::sync::atomic::AtomicU64;
use kernel::sync::Mutex;
use nvsim_model::frontend::SimGpu;
use published::{PublishGuard, Published};

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
    fn nvsim_param_sysmem_mib() -> kernel::ffi::c_int;
    fn nvsim_param_max_objects() -> kernel::ffi::c_int;
    fn nvsim_procfs_create() -> kernel::ffi::c_int;
    fn nvsim_procfs_add_gpu(
        index: kernel::ffi::c_uint,
        bus_id: *const kernel::ffi::c_char,
    ) -> kernel::ffi::c_int;
    fn nvsim_procfs_remove();
    fn nvsim_debugfs_create();
    fn nvsim_debugfs_remove();
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
    /// The RM's objects and the memory they hold.
    pub(crate) rm: Pin<KBox<Mutex<rm::KernelRm>>>,
    /// Open nvidia files (ground truth for tests).
    pub(crate) open_files: AtomicU64,
    /// Pages of the system-memory objects.
    pub(crate) sysmem: Pin<KBox<Mutex<KVec<rm::SysPages>>>>,
    /// The page every usermode region maps (doorbells that ring nothing).
    pub(crate) doorbell: kernel::page::Page,
    /// The store's `sys_releases` when `sysmem` was last pruned (read and written under the
    /// `sysmem` lock).
    pub(crate) sys_releases_seen: AtomicU64,
    /// Serialises calls that link files to each other (the RM's API lock), so two files'
    /// locks are never taken in opposite orders.
    pub(crate) api_lock: Pin<KBox<Mutex<()>>>,
}

static STATE: Published<State> = Published::new();

impl State {
    /// The published state, if the module is loaded.
    pub(crate) fn get() -> Option<&'static State> {
        STATE.get()
    }
}

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

fn state_from_params() -> Result<State> {
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
    let store = rm::new_store(&fb_sizes, sysmem_mib << 20, max_objects)?;
    Ok(State {
        gpus: list,
        version,
        memblock_size: AtomicU64::new(0),
        rm: KBox::pin_init(kernel::new_mutex!(store, "nvsim::State::rm"), GFP_KERNEL)?,
        open_files: AtomicU64::new(0),
        sys_releases_seen: AtomicU64::new(0),
        doorbell: kernel::page::Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?,
        sysmem: KBox::pin_init(
            kernel::new_mutex!(KVec::new(), "nvsim::State::sysmem"),
            GFP_KERNEL,
        )?,
        api_lock: KBox::pin_init(kernel::new_mutex!((), "nvsim::State::api_lock"), GFP_KERNEL)?,
    })
}

impl kernel::Module for NvSim {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        layout::check()?;
        let state = state_from_params()?;
        let frontend = FrontendRegion::register()?;
        let uvm = uvm::UvmRegion::register()?;
        let debugfs = Debugfs::create();
        let procfs = Procfs::create(&state.gpus)?;
        // Published last: until then opens fail with ENODEV, and once it is published init
        // can no longer fail (a failed init frees the module without waiting for open files).
        let state = STATE.publish(state)?;
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
