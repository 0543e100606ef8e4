// SPDX-License-Identifier: GPL-2.0

//! What the file operations need while the module is loaded, published once init can no
//! longer fail (see [`Published`]).

use super::cgroups::Registry;
use super::nodes::Regions;
use super::personality::Personality;
use super::real_devices::RealDevices;
use crate::abi::devnum::DevNum;
use crate::policy::fronts::{Front, FrontTable};
use crate::published::{PublishGuard, Published};
use kernel::prelude::*;

/// Everything the file operations need, alive from before the first fake node appears until
/// after the last is gone.
pub(crate) struct State {
    /// The configured fronts.
    pub(crate) table: FrontTable,
    /// The real devices' inodes on fakegpu's private mount.
    pub(crate) real: RealDevices,
    /// The char regions of the fronts' families.
    pub(crate) regions: Regions,
    /// The per-cgroup entries.
    pub(crate) cgroups: Pin<KBox<Registry>>,
    /// The registered personalities, asked in order which claims a front.
    pub(crate) personalities: &'static [&'static dyn Personality],
}

/// The state the file operations use.
static STATE: Published<State> = Published::new();

impl State {
    /// The published state, if the module is fully loaded.
    pub(crate) fn get() -> Option<&'static State> {
        STATE.get()
    }

    /// Publishes `state`: from then on opens succeed. Unpublished when the guard drops.
    pub(crate) fn publish(state: State) -> Result<PublishGuard<State>> {
        STATE.publish(state)
    }

    /// The index in the front table of the fake node `dev`.
    pub(crate) fn front_of(&self, dev: DevNum) -> Option<usize> {
        let family = self.regions.family_of(dev.major)?;
        self.table.find(family, dev.minor)
    }

    /// The personality that handles files of `front`, if any claims it.
    pub(crate) fn personality_of(&self, front: &Front) -> Option<&'static dyn Personality> {
        self.personalities.iter().copied().find(|p| p.claims(front))
    }
}
