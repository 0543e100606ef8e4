// SPDX-License-Identifier: GPL-2.0

//! The files of an entry in `/sys/kernel/fakegpu/cgroups/<id>/` (other than `path`, which
//! `cgroups.rs` shows): the core's own `gpus` (the GPUs the cgroup may see: `all`, `none`,
//! `0,2-3`), then each personality's, asked in registration order (`nvidia/cgroup_files.rs`,
//! `drm/cgroup_files.rs`). Formats are cgroup v2's: `max` for no limit, bytes on read,
//! K/M/G/T suffixes on write.

use super::entry::Entry;
use super::page::Page;
use super::personality::Personality;
use crate::policy::gpu_set::Visibility;
use core::fmt::Write;
use kernel::prelude::*;

/// Shows file `attr` of `entry`.
pub(crate) fn show(
    personalities: &[&dyn Personality],
    entry: &Entry,
    attr: &[u8],
    out: &mut Page<'_>,
) -> Result {
    if attr == b"gpus" {
        return writeln!(out, "{}", entry.state.gpus).map_err(|_| EINVAL);
    }
    personalities
        .iter()
        .find_map(|p| p.show_file(&entry.state, attr, out))
        .unwrap_or(Err(EINVAL))
}

/// Stores a write to file `attr` of `entry`; a bad write changes nothing (EINVAL).
pub(crate) fn store(
    personalities: &[&dyn Personality],
    entry: &mut Entry,
    attr: &[u8],
    text: &str,
) -> Result {
    if attr == b"gpus" {
        entry.state.gpus = Visibility::parse(text).map_err(|_| EINVAL)?;
        return Ok(());
    }
    personalities
        .iter()
        .find_map(|p| p.store_file(&mut entry.state, attr, text))
        .unwrap_or(Err(EINVAL))
}
