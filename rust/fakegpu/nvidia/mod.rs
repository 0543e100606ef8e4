// SPDX-License-Identifier: GPL-2.0

//! The NVIDIA personality: fakegpu's nodes in front of NVIDIA's driver (`/dev/fakegpuctl`,
//! `/dev/fakegpuN`, `/dev/fakegpu-uvm`). Every call passes the filter (`policy::nv_proxy`);
//! allocations are metered per cgroup; a cgroup limited to some GPUs is shown only those.
//!
//! Layers, lowest first: `calls` (how many calls took each route), `discovery` (the driver's
//! majors and GPUs at load), `nodes_fs` (the `fakegpu-nodes` filesystem), `fd_translation`
//! (calls made in the caller's worker, fds rewritten), `units` (the channel groups compute
//! limits apply to), `userd` (the channels whose submissions are counted), `meter` (the
//! mirror of RM objects and their charges), `submissions` (GPFIFO entries consumed, read
//! from each channel's USERD), `governor`
//! (compute limits: the runlist and timeslices of each GPU's channel groups), `visibility`
//! (the GPU-enumerating calls for a limited cgroup), `processes` (the driver's process
//! lists, translated to the caller's cgroup and pid namespace), `ioctl` (decoding, filter,
//! routing), `cgroup_files` (the personality's per-cgroup files); this file holds its state
//! and the [`Personality`] implementation.

mod calls;
mod cgroup_files;
mod controls;
pub(crate) mod discovery;
pub(crate) mod dmem_regions;
mod fd_translation;
pub(crate) mod governor;
mod gpu_time;
mod ioctl;
mod meter;
pub(crate) mod nodes_fs;
mod processes;
mod submissions;
mod units;
mod userd;
mod visibility;

use crate::abi::nv_family::{DriverFamily, R535};
use crate::abi::nv_frontend::{NvIoctlCardInfo, NV_CTL_MINOR};
use crate::policy::cgroup_entry::EntryState;
use crate::policy::fronts::{Family, Front};
use crate::policy::nv_caps::Capabilities;
use crate::policy::nv_discovery::Fronting;
use crate::policy::nv_proxy::FilterMode;
use crate::proxy::cgroup::Cgroup;
use crate::proxy::cgroups::Registry;
use crate::proxy::page::Page;
use crate::proxy::params::param;
use crate::proxy::personality::{CgroupFile, FakeFile, IoctlFn, Personality};
use crate::proxy::refusal::log_refusal;
use crate::proxy::state::State;
use crate::published::{PublishGuard, Published};
use kernel::bindings;
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;
use kernel::sync::Mutex;
use meter::Mirror;

extern "C" {
    /// The `filter=` module parameter (`proxy/shim.c`).
    fn fakegpu_filter_param() -> *const kernel::ffi::c_char;
}

/// What the NVIDIA personality holds while the module is loaded.
pub(crate) struct NvState {
    /// How unknown NVIDIA calls are treated.
    filter: FilterMode,
    /// The NVIDIA driver's CARD_INFO records at load, all its GPUs in its order (empty
    /// without NVIDIA fronts): what a cgroup limited to some GPUs is shown of them, and the
    /// meter's GPU slots (the RM's device instance N is the Nth).
    cards: KVec<NvIoctlCardInfo>,
    /// The driver fronted, if NVIDIA's devices are.
    driver: Option<discovery::Driver>,
    /// The mirror of the RM objects made through fakegpu.
    mirror: Pin<KBox<Mutex<Mirror>>>,
    /// The governor's clock (its thread's alone).
    clock: Pin<KBox<Mutex<governor::Clock>>>,
}

/// The personality's state, published at load before the core's.
static NVIDIA: Published<NvState> = Published::new();

/// Publishes the personality's state, with the `filter=` mode and the GPUs `cards` and
/// `driver` that discovery found; unpublished when the guard drops.
pub(crate) fn load(
    filter: FilterMode,
    (cards, driver): discovery::Found,
) -> Result<PublishGuard<NvState>> {
    let mirror = KBox::pin_init(
        kernel::new_mutex!(Mirror::new(), "fakegpu_nv_mirror"),
        GFP_KERNEL,
    )?;
    let clock = KBox::pin_init(
        kernel::new_mutex!(governor::Clock::new(), "fakegpu_governor_clock"),
        GFP_KERNEL,
    )?;
    NVIDIA.publish(NvState {
        filter,
        cards,
        driver,
        mirror,
        clock,
    })
}

impl NvState {
    /// The family whose tables apply to the driver (535's while nothing is fronted).
    fn family(&self) -> &'static DriverFamily {
        self.driver.as_ref().map_or(&R535, |d| d.fronting.family())
    }
}

/// The governor's clock, once the personality is loaded.
fn governor_clock() -> Option<&'static Mutex<governor::Clock>> {
    Some(NVIDIA.get()?.clock.as_ref().get_ref())
}

/// The `filter=` module parameter.
pub(crate) fn filter_param() -> Result<FilterMode> {
    match param(fakegpu_filter_param)? {
        "strict" => Ok(FilterMode::Strict),
        "audit" => {
            pr_warn!("filter=audit: RM controls fakegpu does not know are forwarded and logged\n");
            Ok(FilterMode::Audit)
        }
        "permissive" => {
            pr_warn!("filter=permissive: unknown NVIDIA escapes and UVM commands are forwarded unchecked\n");
            Ok(FilterMode::Permissive)
        }
        other => {
            pr_err!(
                "filter=\"{}\": expected strict, audit or permissive\n",
                other
            );
            Err(EINVAL)
        }
    }
}

/// What the NVIDIA path needs for one call: the core's registry and the personality's
/// state, both alive while the module is loaded.
#[derive(Clone, Copy)]
pub(crate) struct Nv {
    /// The core's per-cgroup entries and charges.
    pub(crate) cgroups: &'static Registry,
    /// How unknown calls are treated.
    pub(crate) filter: FilterMode,
    /// The driver's GPUs (see [`NvState`]).
    pub(crate) cards: &'static [NvIoctlCardInfo],
    /// The family whose tables apply to the driver (535's while nothing is fronted).
    pub(crate) family: &'static DriverFamily,
    /// The mirror of RM objects; locked before the registry (see `meter.rs`).
    mirror: &'static Mutex<Mirror>,
}

impl Nv {
    /// Both states, if the module is fully loaded.
    pub(crate) fn get() -> Option<Self> {
        let core = State::get()?;
        let nv = NVIDIA.get()?;
        Some(Nv {
            cgroups: core.cgroups.as_ref().get_ref(),
            filter: nv.filter,
            cards: &nv.cards,
            family: nv.family(),
            mirror: nv.mirror.as_ref().get_ref(),
        })
    }
}

/// Whether the calling task's cgroup, or an ancestor, refuses managed memory.
fn uvm_denied_for_current(cgroups: &Registry) -> bool {
    let acc = cgroups.lock();
    if acc.entries.iter().next().is_none() {
        return false;
    }
    let Some(cgroup) = Cgroup::current() else {
        return true;
    };
    let mut deny = false;
    acc.for_each_entry_of(&cgroup, |_, e| deny |= e.state.uvm_deny);
    deny
}

/// What the calling task's cgroup may use the driver for: the capabilities its entry and
/// every ancestor's allow (all when no entry applies; none if its cgroup cannot be found).
pub(super) fn capabilities_of_current(cgroups: &Registry) -> Capabilities {
    let acc = cgroups.lock();
    if acc.entries.iter().next().is_none() {
        return Capabilities::ALL;
    }
    let Some(cgroup) = Cgroup::current() else {
        return Capabilities::NONE;
    };
    let mut caps = Capabilities::ALL;
    acc.for_each_entry_of(&cgroup, |_, e| {
        caps = caps.intersection(e.state.capabilities)
    });
    caps
}

/// Whether the calling task's cgroup, or an ancestor, lists every process of its GPUs.
pub(super) fn all_processes_for_current(cgroups: &Registry) -> bool {
    let acc = cgroups.lock();
    let Some(cgroup) = Cgroup::current() else {
        return false;
    };
    let mut all = false;
    acc.for_each_entry_of(&cgroup, |_, e| all |= e.state.all_processes);
    all
}

/// The NVIDIA personality, registered by the crate root.
pub(crate) struct Nvidia;

/// Its one instance.
pub(crate) static PERSONALITY: Nvidia = Nvidia;

impl Personality for Nvidia {
    fn claims(&self, front: &Front) -> bool {
        matches!(front.family, Family::Nvidia | Family::NvidiaUvm)
    }

    /// A GPU the caller's cgroup may not see cannot be opened, as if the device cgroup
    /// denied it.
    fn may_open(&self, cgroups: &Registry, front: &Front) -> Result {
        if front.family == Family::Nvidia
            && front.real.minor != NV_CTL_MINOR
            && !cgroups.visibility_of_current().allows(front.real.minor)
        {
            return Err(EPERM);
        }
        Ok(())
    }

    fn ioctl(&self, fake: &FakeFile, ioctl: IoctlFn, cmd: c_uint, arg: usize) -> c_long {
        ioctl::ioctl(fake, ioctl, cmd, arg)
    }

    /// Managed memory is mapped on the UVM node and faulted in with no call fakegpu could
    /// meter: a cgroup whose policy denies it cannot map it.
    fn may_mmap(&self, cgroups: &Registry, fake: &FakeFile) -> Result {
        if fake.front.family == Family::NvidiaUvm && uvm_denied_for_current(cgroups) {
            log_refusal(fake, 0, "maps managed memory, denied by uvm.policy");
            return Err(EPERM);
        }
        Ok(())
    }

    /// The driver frees an nvidiactl file's clients when the file is released: the meter
    /// follows as soon as fakegpu holds the last reference.
    fn released(&self, _cgroups: &Registry, front: &Front) {
        if front.family == Family::Nvidia {
            if let Some(nv) = Nv::get() {
                meter::sweep(&nv);
            }
        }
    }

    fn reap(&self, _cgroups: &Registry) {
        if let Some(nv) = Nv::get() {
            meter::sweep(&nv);
        }
    }

    fn write_dmem_regions(&self, out: &mut Page<'_>) -> core::fmt::Result {
        dmem_regions::write_regions(out)
    }

    fn write_calls(&self, out: &mut Page<'_>) -> core::fmt::Result {
        if let Some(driver) = NVIDIA.get().and_then(|nv| nv.driver.as_ref()) {
            let version = driver.version();
            let line = match driver.fronting {
                Fronting::Known(f) => format_args!("nvidia driver {version} family {}\n", f.branch),
                Fronting::Guessed(f) => format_args!(
                    "nvidia driver {version} family unknown ({} layouts guessed; limits refused)\n",
                    f.branch
                ),
            };
            core::fmt::Write::write_fmt(out, line)?;
        }
        calls::write(out)
    }

    fn cgroup_files(&self) -> &'static [CgroupFile] {
        &cgroup_files::FILES
    }

    fn show_file(&self, entry: &EntryState, attr: &[u8], out: &mut Page<'_>) -> Option<Result> {
        let nv = NVIDIA.get()?;
        cgroup_files::show(entry, attr, &nv.cards, out)
    }

    fn store_file(&self, entry: &mut EntryState, attr: &[u8], text: &str) -> Option<Result> {
        let nv = NVIDIA.get()?;
        let guessed = nv
            .driver
            .as_ref()
            .is_some_and(|d| matches!(d.fronting, Fronting::Guessed(_)));
        if guessed && cgroup_files::is_limit(attr) {
            // The charges come from layouts fakegpu only guesses for this driver: a limit
            // on them would hold nobody to anything reliable (the load's log says so).
            return Some(Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32))));
        }
        cgroup_files::store(entry, attr, text, &nv.cards)
    }
}
