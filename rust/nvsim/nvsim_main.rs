// SPDX-License-Identifier: GPL-2.0

//! nvsim: the NVIDIA driver's userspace ABI as a test kernel module, in the spirit of
//! netdevsim and vkms.
//!
//! No NVIDIA GPU or driver runs where fakegpu is tested, so nvsim stands in for the driver:
//! it registers char major 195 as "nvidia-frontend" (minor 255 = nvidiactl, 0..N-1 = the
//! simulated GPUs) and, like the real driver, creates no /dev nodes (the test setup mknods
//! them from /proc/devices, as nvidia-modprobe does). It answers the escapes it implements
//! with the driver's own checks: exact sizes, ctl-only versus device-only, errno or RM
//! status as the driver gives them. The decisions live in the nvsim-model crate
//! (`rust/nvsim-model`), tested by cargo; this crate copies parameters in and out.
//!
//! # Layers
//!
//! Each file has one concern, and the files form layers that import downward only: every
//! `crate::` path in a file names a file of a lower layer, the included crates (`abi`,
//! `nvsim_model`) or `rust/kernel-common`. From the bottom:
//!
//! 1. `trace.rs` (trace mode, and the log of calls nvsim does not implement), `store.rs`
//!    (the model's RM store as the kernel keeps it), `slice_writer.rs` (text into the
//!    shim's buffers), `host_page.rs` (a page behind simulated memory: nvsim's own, or a
//!    caller's pinned for an OS descriptor): no nvsim file below them.
//! 2. `pages.rs`: the simulated memory's pages (those behind system-memory objects, video
//!    memory backed on first use, and the doorbell page), recording them, dropping freed
//!    ones, mapping an mmap context into a VMA. It knows the store, not the state or the
//!    files: the fops layer hands it the mmap context, the state its store lock. Beside it,
//!    `gpu_va.rs` (the GPU's MMU: UVM VA spaces shared with the engine, registered per RM
//!    VA space, and their semaphore pools' pages) and `channels.rs` (the channels the engine
//!    runs: ring, USERD, progress, method state) and `events.rs` (OS events: their registrations,
//!    each file's event queue, and posting a non-stall interrupt to the events armed for it).
//! 3. `state.rs`: the [`state::State`] every file operation reads (GPUs, the store, the
//!    pages, the API lock), published once init can no longer fail, and its construction
//!    from the module parameters. It owns `Pages` and the store, so it sits above them.
//! 4. `nvfile.rs` (an open nvidia file's state, `NvFileRef`, mmap contexts set on files)
//!    and `caller.rs` (the calling task: the fd-table walk, tgid, admin level, pid
//!    namespace). Both recognise nvidia files by the major-195 fops table, whose address
//!    is all they need of `file.rs`: the state carries it (`State::nv_fops`, given by this
//!    file), so they take it from the state instead of importing the table above them.
//! 5. `control.rs` (RM_CONTROL), `uvm.rs` (`/dev/nvidia-uvm`: its own major, fops, mmap and
//!    per-open state, which need only the state, the caller checks and the log) with
//!    `uvm_va.rs`, and the engine: `gpu_mem.rs` (reading and writing a channel's GPU VAs)
//!    and `engine.rs` (the kernel thread's pass over every channel: GPFIFO, pushbuffers,
//!    methods, faults).
//! 6. `rm.rs`: the other RM escapes (alloc, free, vid heap, system memory, map, share,
//!    dup, REGISTER_FD, OS events, fault injection), calling down into controls, pages,
//!    files and the caller checks.
//! 7. `ioctl.rs`: the frontend's dispatch (XFER unwrapping, copy in and out, the frontend
//!    escapes, RM escapes handed to `rm.rs`).
//! 8. `file.rs` (the major-195 fops table: open, release, ioctl, mmap, poll), `procfs.rs`
//!    (/proc/driver/nvidia) and `debugfs.rs` (the ground-truth state file): what the kernel
//!    calls, on top of everything they use.
//! 9. This file: the `mod` lines, the included crates, and the module's registration and
//!    lifetime (major 195, the UVM major, procfs, debugfs, the published state).
//!
//! New simulated hardware goes in files of its own between `state.rs` and `rm.rs`, as the
//! engine did: its address spaces and channels keep their state in `State` fields as
//! `Pages` does, use `pages.rs` and `store.rs` below them, and are driven by the escapes and
//! controls above them.

use kernel::prelude::*;

// The kernel line's differences (Kbuild sets `kernel_7` on 7.x).
// Shared with fakegpu, which uses parts that nvsim does not.
#[cfg(not(kernel_7))]
#[path = "../kernel-common/compat_6_12.rs"]
#[allow(dead_code)]
mod compat;
#[cfg(kernel_7)]
#[path = "../kernel-common/compat_7.rs"]
#[allow(dead_code)]
mod compat;
#[path = "../kernel-common/fops.rs"]
mod fops;
#[path = "../kernel-common/layout.rs"]
mod layout;
#[path = "../kernel-common/published.rs"]
mod published;

// Layers, from the bottom (see the crate documentation).
mod host_page;
mod slice_writer;
mod store;
mod trace;

mod channels;
mod events;
mod gpu_va;
mod pages;

mod state;

mod caller;
mod nvfile;

mod control;
mod engine;
mod gpu_mem;
mod uvm;
mod uvm_va;

mod rm;

mod ioctl;

mod debugfs;
mod file;
mod procfs;

#[path = "../abi/src"]
pub mod abi {
    //! The ABI crate (`rust/abi`), compiled into the module.
    pub mod devnum;
    pub mod ioc;
    pub mod namebuf;
    pub mod nv_family;
    pub mod nv_frontend;
    pub mod nv_gpumon;
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
    pub mod admin;
    pub mod ctrl;
    pub mod frontend;
    pub mod methods;
    pub mod procfs;
    pub mod pushbuf;
    pub mod rm;
    pub mod sched;
    pub mod util_samples;
    pub mod uvm_va;
}

use abi::nv_frontend::{NV_CTL_MINOR, NV_MAJOR};
use debugfs::Debugfs;
use procfs::Procfs;
use published::PublishGuard;
use state::State;

compat::module_by! {
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
    _engine: EngineThread,
    _procfs: Procfs,
    _debugfs: Debugfs,
    _uvm: uvm::UvmRegion,
    _frontend: FrontendRegion,
    _state: PublishGuard<State>,
}

extern "C" {
    /// Starts the engine thread (`shim.c`), which calls `engine::nvsim_engine_poll`.
    fn nvsim_engine_start() -> kernel::ffi::c_int;
    /// Stops it and waits for it to exit.
    fn nvsim_engine_stop();
}

/// The engine thread while it runs: it stops (and has stopped) before the state goes.
struct EngineThread;

impl EngineThread {
    /// Starts the thread; the state must be published.
    fn start() -> Result<Self> {
        // SAFETY: the shim starts one kthread; `nvsim_engine_stop` in drop stops it.
        kernel::error::to_result(unsafe { nvsim_engine_start() })?;
        Ok(EngineThread)
    }
}

impl Drop for EngineThread {
    fn drop(&mut self) {
        // SAFETY: started in `start`; kthread_stop waits for the thread to return.
        unsafe { nvsim_engine_stop() };
    }
}

/// Major 195, minors 0..=255, registered as "nvidia-frontend".
struct FrontendRegion;

impl FrontendRegion {
    /// Registers major 195 with [`file::NV_FOPS`]; fails if the NVIDIA driver holds it.
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
        let engine = EngineThread::start()?;
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
            _engine: engine,
            _procfs: procfs,
            _debugfs: debugfs,
            _uvm: uvm,
            _frontend: frontend,
            _state: state,
        })
    }
}
