// SPDX-License-Identifier: GPL-2.0

//! fakegpu: fake GPU device nodes in front of the real GPU driver.
//!
//! On load, fakegpu creates a fake node for each real character device named in its
//! `devices=` parameter (e.g. `devices=226:0,226:128` gives `/dev/fakedri/card0` and
//! `/dev/fakedri/renderD128`). Each open of a fake node opens its own file on the real device
//! and forwards every file operation to it. The real device is reached by major:minor through a
//! private mount the caller cannot see, so neither the caller's mount namespace nor its device
//! cgroup is consulted, and the real file never enters the caller's fd table.

use kernel::prelude::*;

#[path = "../kernel-common/fops.rs"]
mod fops;
#[path = "../kernel-common/layout.rs"]
mod layout;
#[path = "../kernel-common/published.rs"]
mod published;

mod forward;
mod nodes;
mod real_devices;

#[path = "../shared/src"]
pub mod shared {
    //! The no_std code shared with userspace (`rust/shared`), compiled into the module.
    pub mod devnum;
    pub mod fronts;
    pub mod namebuf;
}

use nodes::{Nodes, Regions};
use published::{PublishGuard, Published};
use real_devices::RealDevices;
use shared::devnum::DevNum;
use shared::fronts::{Family, FrontTable};

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

/// The loaded module. Fields drop in order: nodes vanish first, then the state.
struct FakeGpu {
    _nodes: Nodes,
    _state: PublishGuard<State>,
}

fn parse_devices_param() -> Result<FrontTable> {
    // SAFETY: the shim returns its parameter buffer, NUL-terminated and written only at load
    // time (the parameter is read-only in sysfs).
    let spec = unsafe { CStr::from_char_ptr(fakegpu_devices_param()) };
    let spec = spec.to_str().map_err(|_| EINVAL)?;
    FrontTable::parse(spec).map_err(|e| {
        pr_err!("devices=\"{}\": {}\n", spec, e);
        EINVAL
    })
}

impl kernel::Module for FakeGpu {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        layout::check()?;
        let table = parse_devices_param()?;
        let real = RealDevices::new(&table)?;
        let regions = Regions::register(&table)?;
        let nodes = Nodes::create(&table, &regions)?;
        // Published last: until then opens fail with ENXIO, and once it is published init can
        // no longer fail (a failed init frees the module without waiting for open files).
        let state = STATE.publish(State {
            table,
            real,
            regions,
        })?;
        for front in state.get().table.iter() {
            let kind = match front.family {
                Family::Drm => "drm",
                Family::Generic => "char",
            };
            pr_info!(
                "{} -> {} ({})\n",
                front.dev_path().as_str(),
                front.real,
                kind
            );
        }
        Ok(FakeGpu {
            _nodes: nodes,
            _state: state,
        })
    }
}
