// SPDX-License-Identifier: GPL-2.0

//! What fakegpu schedules for compute limits: each channel group (TSG) made through it, and
//! each channel made outside any group (the RM puts it in a group of its own, which the
//! tenant cannot name). The meter records them in its mirror as they are made and drops
//! them with their objects; the governor (`governor.rs`) sets their place on the runlist
//! and their timeslice. Each unit keeps what the tenant asked (its own GPFIFO_SCHEDULE and
//! SET_TIMESLICE), so that fakegpu can pause a unit without losing the tenant's wish and
//! can hand it back as the tenant left it once no limit applies.

use crate::proxy::worker::CredRef;

/// What kind of object a unit is, which decides the controls that schedule it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnitKind {
    /// A channel group: `NVA06C_CTRL_CMD_GPFIFO_SCHEDULE` and `_SET_TIMESLICE`.
    Group,
    /// A channel outside any group: `NVA06F_CTRL_CMD_GPFIFO_SCHEDULE` (its timeslice is the
    /// RM's default: nothing names its implicit group).
    Channel,
}

/// A channel group or lone channel on one GPU.
pub(crate) struct Unit {
    /// Which it is.
    pub(crate) kind: UnitKind,
    /// Its GPU slot.
    pub(crate) gpu: usize,
    /// The charge it holds (which names its cgroup and the ancestors with an entry).
    pub(crate) charge: Option<u64>,
    /// The process that made it (for the log).
    pub(crate) tgid: u32,
    /// Its maker's credentials, which fakegpu's controls on it are made with (the driver
    /// accepts a client's controls from its user).
    pub(crate) cred: CredRef,
    /// The tenant's own GPFIFO_SCHEDULE: whether it asked for the unit on the runlist (a
    /// new group is off it until then, as the RM has it; a lone channel counts as on).
    pub(crate) wish_on: bool,
    /// The tenant's own SET_TIMESLICE, if it sent one.
    pub(crate) wish_timeslice_us: Option<u64>,
    /// What fakegpu last set: on the runlist or off it (`None`: nothing, or handed back).
    pub(crate) applied_on: Option<bool>,
    /// The timeslice fakegpu last set (`None`: nothing, or handed back).
    pub(crate) applied_timeslice_us: Option<u64>,
}

impl Unit {
    /// A unit just made by process `tgid` with credentials `cred`.
    pub(crate) fn new(
        kind: UnitKind,
        gpu: usize,
        charge: Option<u64>,
        tgid: u32,
        cred: CredRef,
    ) -> Self {
        Unit {
            kind,
            gpu,
            charge,
            tgid,
            cred,
            wish_on: kind == UnitKind::Channel,
            wish_timeslice_us: None,
            applied_on: None,
            applied_timeslice_us: None,
        }
    }
}
