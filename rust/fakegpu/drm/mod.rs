// SPDX-License-Identifier: GPL-2.0

//! The DRM personality: fakegpu's nodes in front of DRM devices (`/dev/fakedri/*`). Buffer
//! objects are metered per cgroup, submissions counted and rate-limited, everything else
//! forwarded unchanged.
//!
//! Layers, lowest first: `meter` (buffer objects, submissions, the ioctl path),
//! `cgroup_files` (the personality's per-cgroup files); this file holds its state and the
//! [`Personality`] implementation.

mod cgroup_files;
mod meter;

use crate::policy::cgroup_entry::EntryState;
use crate::policy::fronts::{Family, Front};
use crate::proxy::cgroups::Registry;
use crate::proxy::page::Page;
use crate::proxy::personality::{CgroupFile, FakeFile, IoctlFn, Personality};
use crate::proxy::state::State;
use crate::published::{PublishGuard, Published};
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;
use kernel::sync::Mutex;
use meter::GemTable;

/// What the DRM personality holds while the module is loaded.
pub(crate) struct DrmState {
    /// The metered buffer objects.
    gem: Pin<KBox<Mutex<GemTable>>>,
}

/// The personality's state, published at load before the core's.
static DRM: Published<DrmState> = Published::new();

/// Publishes the personality's state; unpublished when the guard drops.
pub(crate) fn load() -> Result<PublishGuard<DrmState>> {
    let gem = KBox::pin_init(
        kernel::new_mutex!(GemTable::new(), "fakegpu_drm_gem"),
        GFP_KERNEL,
    )?;
    DRM.publish(DrmState { gem })
}

/// What the DRM path needs for one call: the core's registry and the buffer table, both
/// alive while the module is loaded.
#[derive(Clone, Copy)]
pub(crate) struct Drm {
    /// The core's per-cgroup entries and charges.
    cgroups: &'static Registry,
    /// The metered buffer objects; locked before the registry (see `meter.rs`).
    gem: &'static Mutex<GemTable>,
}

impl Drm {
    /// Both states, if the module is fully loaded.
    fn get() -> Option<Self> {
        let core = State::get()?;
        let drm = DRM.get()?;
        Some(Drm {
            cgroups: core.cgroups.as_ref().get_ref(),
            gem: drm.gem.as_ref().get_ref(),
        })
    }
}

/// The DRM personality, registered by the crate root.
pub(crate) struct DrmPersonality;

/// Its one instance.
pub(crate) static PERSONALITY: DrmPersonality = DrmPersonality;

impl Personality for DrmPersonality {
    fn claims(&self, front: &Front) -> bool {
        front.family == Family::Drm
    }

    fn ioctl(&self, fake: &FakeFile, ioctl: IoctlFn, cmd: c_uint, arg: usize) -> c_long {
        meter::ioctl(fake, ioctl, cmd, arg)
    }

    /// The driver frees a file's buffer objects when the file is released: the meter
    /// follows as soon as fakegpu holds the last reference.
    fn released(&self, _cgroups: &Registry, _front: &Front) {
        if let Some(drm) = Drm::get() {
            meter::sweep(&drm);
        }
    }

    fn reap(&self, _cgroups: &Registry) {
        if let Some(drm) = Drm::get() {
            meter::sweep(&drm);
        }
    }

    fn cgroup_files(&self) -> &'static [CgroupFile] {
        &cgroup_files::FILES
    }

    fn show_file(&self, entry: &EntryState, attr: &[u8], out: &mut Page<'_>) -> Option<Result> {
        cgroup_files::show(entry, attr, out)
    }

    fn store_file(&self, entry: &mut EntryState, attr: &[u8], text: &str) -> Option<Result> {
        cgroup_files::store(entry, attr, text)
    }
}
