// SPDX-License-Identifier: GPL-2.0

//! fakegpu: fake GPU device nodes in front of the real GPU driver.
//!
//! On load, fakegpu creates a fake node for each real character device named in its
//! `devices=` parameter (e.g. `devices=226:0,226:128` gives `/dev/fakedri/card0` and
//! `/dev/fakedri/renderD128`), and, when NVIDIA's driver is loaded, `/dev/fakegpuctl`,
//! `/dev/fakegpuN` and `/dev/fakegpu-uvm` in front of its devices (`nvidia_gpus=`). Each open
//! of a fake node opens its own file on the real device and forwards every file operation to
//! it. The real device is reached by major:minor through a private mount the caller cannot
//! see, so neither the caller's mount namespace nor its device cgroup is consulted, and the
//! real file never enters the caller's fd table.
//!
//! The module is a driver-agnostic core (`proxy/`) and two personalities that plug into it
//! (`nvidia/`, `drm/`); this root only includes the crates and registers the parts.

use kernel::prelude::*;

// The kernel line's differences (Kbuild sets `kernel_7` on 7.x).
// Shared with nvsim, which uses parts that fakegpu does not.
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

#[path = "../abi/src"]
pub mod abi {
    //! The ABI crate (`rust/abi`), compiled into the module.
    pub mod devnum;
    pub mod drm;
    pub mod ioc;
    pub mod namebuf;
    pub mod nv_family;
    pub mod nv_frontend;
    pub mod nv_gpumon;
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
    pub mod cgroup_entry;
    pub mod compute_share;
    pub mod drm_filter;
    pub mod fronts;
    pub mod gpu_set;
    pub mod gpu_time;
    pub mod ledger;
    pub mod nv_caps;
    pub mod nv_controls;
    pub mod nv_discovery;
    pub mod nv_meter;
    pub mod nv_proxy;
    pub mod nv_visibility;
    pub mod rate;
    pub mod submissions;
}

mod drm;
mod nvidia;
mod proxy;

use policy::fronts::{Family, FrontTable};
use policy::nv_proxy::FilterMode;
use proxy::cgroups::Registry;
use proxy::forward::FAKE_FOPS;
use proxy::nodes::{Nodes, Regions};
use proxy::params::{fakegpu_devices_param, param};
use proxy::personality::Personality;
use proxy::real_devices::RealDevices;
use proxy::setup::{Scratch, Sysfs, Workers};
use proxy::state::State;
use published::PublishGuard;

compat::module_by! {
    type: FakeGpu,
    name: "fakegpu",
    author: "fakegpu developers",
    description: "Fake GPU device nodes that forward to the real driver",
    license: "GPL",
}

/// The personalities, in the order they are asked to claim a front (a front none claims is
/// a plain pass-through).
static PERSONALITIES: [&dyn Personality; 2] = [&nvidia::PERSONALITY, &drm::PERSONALITY];

/// The loaded module. Fields drop in order: the governor's thread stops, sysfs, the nodes
/// filesystem and the nodes vanish, then the workers, the scratch space, the core's state (its charges
/// uncharge dmem), the dmem regions, then the personalities'.
struct FakeGpu {
    _governor: nvidia::governor::Governor,
    _sysfs: Sysfs,
    _nodes_fs: nvidia::nodes_fs::NodesFs,
    _nodes: Nodes,
    _workers: Workers,
    _scratch: Scratch,
    _state: PublishGuard<State>,
    _dmem_regions: PublishGuard<nvidia::dmem_regions::Regions>,
    _drm: PublishGuard<drm::DrmState>,
    _nvidia: PublishGuard<nvidia::NvState>,
}

/// The fronts of `devices=` (none if it is empty) and NVIDIA's (whether an unknown driver
/// family is fronted depends on `filter`), with the NVIDIA driver's CARD_INFO records.
fn front_table(filter: FilterMode) -> Result<(FrontTable, nvidia::discovery::Found)> {
    let spec = param(fakegpu_devices_param)?;
    let mut table = if spec.trim().is_empty() {
        FrontTable::empty()
    } else {
        FrontTable::parse(spec).map_err(|e| {
            pr_err!("devices=\"{}\": {}\n", spec, compat::shown(&e));
            EINVAL
        })?
    };
    let nvidia = nvidia::discovery::add_nvidia(&mut table, filter)?;
    if table.is_empty() {
        pr_err!("nothing to front: no NVIDIA driver is fronted and devices= is empty\n");
        return Err(ENODEV);
    }
    Ok((table, nvidia))
}

impl kernel::Module for FakeGpu {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        layout::check()?;
        let filter = nvidia::filter_param()?;
        let (table, found) = front_table(filter)?;
        let nvidia = nvidia::load(filter, found)?;
        let drm = drm::load()?;
        let cgroups = KBox::pin_init(Registry::new(), GFP_KERNEL)?;
        let scratch = Scratch::new()?;
        // After the scratch space: a region's size is asked of the driver by a private call.
        let dmem_regions = nvidia::dmem_regions::register()?;
        let real = RealDevices::new(&table)?;
        let regions = Regions::register(&table, &FAKE_FOPS)?;
        let nodes = Nodes::create(&table, &regions)?;
        let nodes_fs = nvidia::nodes_fs::NodesFs::register(&table, &regions)?;
        let sysfs = Sysfs::create(&PERSONALITIES)?;
        // Its passes do nothing until the state below is published.
        let governor = nvidia::governor::Governor::start()?;
        // Published last: until then opens fail with ENXIO, and once it is published init can
        // no longer fail (a failed init frees the module without waiting for open files).
        let state = State::publish(State {
            table,
            real,
            regions,
            cgroups,
            personalities: &PERSONALITIES,
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
                compat::shown(&front.real),
                kind
            );
        }
        Ok(FakeGpu {
            _governor: governor,
            _sysfs: sysfs,
            _nodes_fs: nodes_fs,
            _nodes: nodes,
            _workers: Workers,
            _scratch: scratch,
            _state: state,
            _dmem_regions: dmem_regions,
            _drm: drm,
            _nvidia: nvidia,
        })
    }
}
