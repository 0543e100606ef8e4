// SPDX-License-Identifier: GPL-2.0

//! fakegpu: fake GPU device nodes in front of the real GPU driver.
//!
//! On load, fakegpu creates a fake node for each real character device named in its
//! `devices=` parameter (e.g. `devices=226:0,226:128` gives `/dev/fakedri/card0` and
//! `/dev/fakedri/renderD128`), and, when NVIDIA's driver is loaded, `/dev/fakegpuctl`,
//! `/dev/fakegpuN` and `/dev/fakegpu-uvm` in front of its devices (`nvidia_gpus=`). Each open
//! of a fake node opens its own file on the real device and forwards every file operation to
//! it; NVIDIA calls pass fakegpu's filter first (`nvidia.rs`). The real device is reached by major:minor through a
//! private mount the caller cannot see, so neither the caller's mount namespace nor its device
//! cgroup is consulted, and the real file never enters the caller's fd table.

use kernel::prelude::*;

#[path = "../kernel-common/fops.rs"]
mod fops;
#[path = "../kernel-common/layout.rs"]
mod layout;
#[path = "../kernel-common/published.rs"]
mod published;

mod cgroup_files;
mod cgroups;
mod discovery;
mod drm_meter;
mod forward;
mod meter;
mod nodes;
mod nodes_fs;
mod nvidia;
mod private_call;
mod real_devices;
mod visibility;
mod worker;

#[path = "../abi/src"]
pub mod abi {
    //! The ABI crate (`rust/abi`), compiled into the module.
    pub mod devnum;
    pub mod drm;
    pub mod ioc;
    pub mod namebuf;
    pub mod nv_frontend;
    pub mod nv_rm;
    pub mod nv_status;
    pub mod nv_uvm;
    pub mod pod;
    pub mod proc_devices;
}

#[path = "../policy/src"]
pub mod policy {
    //! The policy crate (`rust/policy`), compiled into the module.
    use super::abi;
    pub mod cgroup_control;
    pub mod fronts;
    pub mod gpu_set;
    pub mod ledger;
    pub mod nv_discovery;
    pub mod nv_meter;
    pub mod nv_proxy;
    pub mod nv_visibility;
    pub mod rate;
}

use nodes::{Nodes, Regions};
use nodes_fs::NodesFs;
use published::{PublishGuard, Published};
use real_devices::RealDevices;
use abi::devnum::DevNum;
use policy::fronts::{Family, FrontTable};
use abi::nv_frontend::NvIoctlCardInfo;
use policy::nv_proxy::FilterMode;

module! {
    type: FakeGpu,
    name: "fakegpu",
    author: "fakegpu developers",
    description: "Fake GPU device nodes that forward to the real driver",
    license: "GPL",
}

extern "C" {
    // `struct cred` and `struct mm_struct` pass as `void *`: they reach structs that rustc's
    // FFI lint flags (empty ones such as `sched_statistics`, depending on the config).
    /// The calling task's credentials (`current_cred()`, see `shim.c`).
    pub(crate) fn fakegpu_current_cred() -> *const kernel::ffi::c_void;
    /// The calling task's mm (`current->mm`, see `shim.c`).
    pub(crate) fn fakegpu_current_mm() -> *mut kernel::ffi::c_void;
    /// The `devices=` module parameter (a NUL-terminated string in `shim.c`; the `module!`
    /// macro of 6.12 has no parameters).
    fn fakegpu_devices_param() -> *const kernel::ffi::c_char;
    /// The `filter=` module parameter (`shim.c`).
    fn fakegpu_filter_param() -> *const kernel::ffi::c_char;
    /// Creates `/sys/kernel/fakegpu` (`shim.c`).
    fn fakegpu_sysfs_create() -> kernel::ffi::c_int;
    /// Removes it.
    fn fakegpu_sysfs_remove();
    /// Removes `cgroups/control` and stops the reaping of entries (`cgroup_shim.c`).
    fn fakegpu_cgroups_sysfs_stop();
    /// Keeps the loading process's mm as fakegpu's scratch space (`worker_shim.c`).
    fn fakegpu_scratch_init() -> kernel::ffi::c_int;
    /// Lets it go.
    fn fakegpu_scratch_exit();
}

/// Everything the file operations need, alive from before the first fake node appears until
/// after the last is gone.
pub(crate) struct State {
    /// The configured fronts.
    pub(crate) table: FrontTable,
    /// The real devices' inodes on fakegpu's private mount.
    pub(crate) real: RealDevices,
    /// The char regions of the fronts' families.
    pub(crate) regions: Regions,
    /// How unknown NVIDIA calls are treated.
    pub(crate) filter: FilterMode,
    /// The NVIDIA driver's CARD_INFO records at load, all its GPUs in its order (empty
    /// without NVIDIA fronts): what a cgroup limited to some GPUs is shown of them, and the
    /// meter's GPU slots (the RM's device instance N is the Nth).
    pub(crate) cards: KVec<NvIoctlCardInfo>,
    /// The per-cgroup entries.
    pub(crate) cgroups: Pin<KBox<cgroups::Registry>>,
}

/// The state the file operations use (see [`Published`]).
static STATE: Published<State> = Published::new();

impl State {
    /// The published state, if the module is fully loaded.
    pub(crate) fn get() -> Option<&'static State> {
        STATE.get()
    }

    /// The index in the front table of the fake node `dev`.
    pub(crate) fn front_of(&self, dev: DevNum) -> Option<usize> {
        let family = self.regions.family_of(dev.major)?;
        self.table.find(family, dev.minor)
    }
}

/// `/sys/kernel/fakegpu`, removed on drop.
struct Sysfs;

impl Sysfs {
    fn create() -> Result<Self> {
        // SAFETY: creates the directory and its files once; `drop` removes them.
        kernel::error::to_result(unsafe { fakegpu_sysfs_create() })?;
        Ok(Sysfs)
    }
}

impl Drop for Sysfs {
    fn drop(&mut self) {
        // SAFETY: no entry can be added after this, and no reaping runs.
        unsafe { fakegpu_cgroups_sysfs_stop() };
        if let Some(state) = State::get() {
            state.cgroups.clear();
        }
        // SAFETY: created in `create`; removal waits for running callbacks.
        unsafe { fakegpu_sysfs_remove() };
    }
}

/// The workers, destroyed when the module goes (no fake file is open then).
struct Workers;

impl Drop for Workers {
    fn drop(&mut self) {
        // SAFETY: module exit runs after the last fake file closed (each pins the module),
        // so no call is under way in any worker.
        unsafe { worker::fakegpu_workers_destroy() };
    }
}

/// fakegpu's scratch address space (see `private_call.rs`), let go on drop.
struct Scratch;

impl Scratch {
    fn new() -> Result<Self> {
        // SAFETY: module init runs in the loading process, which has an mm.
        kernel::error::to_result(unsafe { fakegpu_scratch_init() })?;
        Ok(Scratch)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // SAFETY: dropped after the workers, so no call uses it any more.
        unsafe { fakegpu_scratch_exit() };
    }
}

/// The loaded module. Fields drop in order: sysfs, the nodes filesystem and the nodes vanish
/// first, then the
/// workers, the scratch space, then the state.
struct FakeGpu {
    _sysfs: Sysfs,
    _nodes_fs: NodesFs,
    _nodes: Nodes,
    _workers: Workers,
    _scratch: Scratch,
    _state: PublishGuard<State>,
}

/// The value of a string parameter (`shim.c` buffers, NUL-terminated, written only at load
/// time: the parameters are read-only in sysfs).
fn param(get: unsafe extern "C" fn() -> *const kernel::ffi::c_char) -> Result<&'static str> {
    // SAFETY: see above; the buffers are static.
    let value = unsafe { CStr::from_char_ptr(get()) };
    value.to_str().map_err(|_| EINVAL)
}

/// The fronts of `devices=` (none if it is empty) and NVIDIA's, with the NVIDIA driver's
/// CARD_INFO records.
fn front_table() -> Result<(FrontTable, KVec<NvIoctlCardInfo>)> {
    let spec = param(fakegpu_devices_param)?;
    let mut table = if spec.trim().is_empty() {
        FrontTable::empty()
    } else {
        FrontTable::parse(spec).map_err(|e| {
            pr_err!("devices=\"{}\": {}\n", spec, e);
            EINVAL
        })?
    };
    let cards = discovery::add_nvidia(&mut table)?;
    if table.is_empty() {
        pr_err!("nothing to front: no NVIDIA driver is loaded and devices= is empty\n");
        return Err(ENODEV);
    }
    Ok((table, cards))
}

fn filter_param() -> Result<FilterMode> {
    match param(fakegpu_filter_param)? {
        "strict" => Ok(FilterMode::Strict),
        "permissive" => {
            pr_warn!("filter=permissive: unknown NVIDIA escapes and UVM commands are forwarded unchecked\n");
            Ok(FilterMode::Permissive)
        }
        other => {
            pr_err!("filter=\"{}\": expected strict or permissive\n", other);
            Err(EINVAL)
        }
    }
}

/// `/sys/kernel/fakegpu/devices`: one line per front, `FAKE_PATH FAKE_MAJ:MIN REAL_MAJ:MIN`.
///
/// # Safety
///
/// Called by sysfs only, with a page-sized buffer.
#[no_mangle]
unsafe extern "C" fn fakegpu_format_devices(buf: *mut u8, len: usize) -> usize {
    let Some(state) = State::get() else {
        return 0;
    };
    let mut written = 0;
    for front in state.table.iter() {
        let mut out = abi::namebuf::NameBuf::new();
        let fake = DevNum::new(state.regions.major(front.family), front.fake_minor);
        let _ = match fake {
            Some(fake) => core::fmt::write(
                &mut out,
                format_args!("{} {} {}\n", front.dev_path().as_str(), fake, front.real),
            ),
            None => Ok(()),
        };
        let line = out.as_str().as_bytes();
        if written + line.len() > len {
            break;
        }
        // SAFETY: `buf` has `len` bytes and `written + line.len() <= len`.
        unsafe { core::ptr::copy_nonoverlapping(line.as_ptr(), buf.add(written), line.len()) };
        written += line.len();
    }
    written
}

impl kernel::Module for FakeGpu {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        layout::check()?;
        let filter = filter_param()?;
        let (table, cards) = front_table()?;
        let cgroups = KBox::pin_init(cgroups::Registry::new(), GFP_KERNEL)?;
        let scratch = Scratch::new()?;
        let real = RealDevices::new(&table)?;
        let regions = Regions::register(&table)?;
        let nodes = Nodes::create(&table, &regions)?;
        let nodes_fs = NodesFs::register(&table, &regions)?;
        let sysfs = Sysfs::create()?;
        // Published last: until then opens fail with ENXIO, and once it is published init can
        // no longer fail (a failed init frees the module without waiting for open files).
        let state = STATE.publish(State {
            table,
            real,
            regions,
            filter,
            cards,
            cgroups,
        })?;
        for front in state.get().table.iter() {
            let kind = match front.family {
                Family::Drm => "drm",
                Family::Generic => "char",
                Family::Nvidia | Family::NvidiaUvm => "nvidia",
            };
            pr_info!(
                "{} -> {} ({})\n",
                front.dev_path().as_str(),
                front.real,
                kind
            );
        }
        Ok(FakeGpu {
            _sysfs: sysfs,
            _nodes_fs: nodes_fs,
            _nodes: nodes,
            _workers: Workers,
            _scratch: scratch,
            _state: state,
        })
    }
}
