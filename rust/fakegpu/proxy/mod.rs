// SPDX-License-Identifier: GPL-2.0

//! The driver-agnostic core of fakegpu: it never names a driver family. Driver families plug
//! in as [`personality::Personality`] implementations, which the crate root registers.
//!
//! Layers, lowest first (each file imports only from the ones before it):
//! - `task` (the calling task's credentials and mm), `cgroup` (a counted cgroup reference),
//!   `entry` (what fakegpu holds for one cgroup), `dmem` (the kernel's dmem controller: regions and charges),
//!   `accounts` (entries and charge records),
//!   `cgroups` (the registry: the accounts under one lock, control commands, reaping);
//! - `page` (a sysfs page), `params` (string module parameters), `real_devices` (fakegpu's private mount and real opens),
//!   `personality` (the trait and the fake file as personalities see it), `refusal` (the
//!   rate-limited log line of a refused call), `cgroup_files`
//!   (an entry's files: the core's own, then each personality's), `nodes` (char regions and
//!   /dev nodes);
//! - `state` (what the file operations need while the module is loaded), `forward` (the file
//!   operations of every fake node), `worker` (per-process kernel threads and their fd
//!   table), `private_call` (calls on fakegpu's private copy of their parameters, each in a
//!   scratch slot of its own), `cgroup_sysfs` (the sysfs callbacks of the entries and the
//!   control file, and the reaper's tick), `setup` (what init sets up beside the nodes:
//!   sysfs, workers, scratch mm).

pub(crate) mod accounts;
pub(crate) mod cgroup;
pub(crate) mod cgroup_files;
pub(crate) mod cgroup_sysfs;
pub(crate) mod cgroups;
pub(crate) mod dmem;
pub(crate) mod entry;
pub(crate) mod forward;
pub(crate) mod nodes;
pub(crate) mod page;
pub(crate) mod params;
pub(crate) mod personality;
pub(crate) mod private_call;
pub(crate) mod real_devices;
pub(crate) mod refusal;
pub(crate) mod setup;
pub(crate) mod state;
pub(crate) mod task;
pub(crate) mod worker;
