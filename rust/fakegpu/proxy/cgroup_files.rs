// SPDX-License-Identifier: GPL-2.0

//! The files of an entry in `/sys/kernel/fakegpu/cgroups/<id>/`: the core's own `path` (shown
//! by `cgroup_sysfs.rs`) and `gpus` (the GPUs the cgroup may see: `all`, `none`, `0,2-3`),
//! then each personality's, registered at load and asked in registration order
//! (`nvidia/cgroup_files.rs`, `drm/cgroup_files.rs`). Formats are cgroup v2's: `max` for no limit, bytes on read,
//! K/M/G/T suffixes on write.

use super::entry::Entry;
use super::page::Page;
use super::personality::{CgroupFile, Personality};
use crate::policy::gpu_set::Visibility;
use core::fmt::Write;
use kernel::prelude::*;

extern "C" {
    /// Adds a file to every entry's directory (`cgroup_shim.c`); before the first entry.
    fn fakegpu_cgroup_file_add(
        name: *const kernel::ffi::c_char,
        writable: bool,
    ) -> kernel::ffi::c_int;
}

/// The core's own files.
const CORE_FILES: [CgroupFile; 2] = [
    CgroupFile {
        name: c"path",
        writable: false,
    },
    CgroupFile {
        name: c"gpus",
        writable: true,
    },
];

/// Registers the core's files and each personality's, before `/sys/kernel/fakegpu` exists.
pub(crate) fn register(personalities: &[&dyn Personality]) -> Result {
    let theirs = personalities.iter().flat_map(|p| p.cgroup_files());
    for file in Iterator::chain(CORE_FILES.iter(), theirs) {
        // SAFETY: `file.name` is a static NUL-terminated string; called at init only, before
        // the entries' directories can be created.
        kernel::error::to_result(unsafe {
            fakegpu_cgroup_file_add(crate::compat::c_str_ptr(file.name), file.writable)
        })?;
    }
    Ok(())
}

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
