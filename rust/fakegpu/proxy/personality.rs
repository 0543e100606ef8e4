// SPDX-License-Identifier: GPL-2.0

//! How a driver family plugs into the core: the [`Personality`] trait, and the fake file as
//! a personality sees it ([`FakeFile`]). The core picks a
//! personality for each fake file when it is opened (the first registered one that claims
//! the file's front) and reaches it only through these callbacks, as the DRM core reaches a
//! driver through `drm_driver`. A front no personality claims is a plain pass-through.

use super::cgroups::Registry;
use super::page::Page;
use super::real_devices::RealFile;
use crate::policy::cgroup_entry::EntryState;
use crate::policy::fronts::Front;
use kernel::bindings;
use kernel::ffi::{c_long, c_uint, c_ulong};
use kernel::prelude::*;

/// The type of `unlocked_ioctl` and `compat_ioctl`.
pub(crate) type IoctlFn = unsafe extern "C" fn(*mut bindings::file, c_uint, c_ulong) -> c_long;

/// Per-open state of a fake file.
pub(crate) struct FakeFile {
    /// The real driver's file behind this fake file.
    pub(crate) real: RealFile,
    /// The front the file was opened on.
    pub(crate) front: Front,
    /// The personality that handles its calls (none: a plain pass-through).
    pub(crate) personality: Option<&'static dyn Personality>,
}

/// A file of every cgroup entry that a personality answers (`show_file`, `store_file`).
pub(crate) struct CgroupFile {
    /// Its name in the entry's directory.
    pub(crate) name: &'static core::ffi::CStr,
    /// Whether it takes writes (mode 0644, else 0444).
    pub(crate) writable: bool,
}

/// A driver family's part of fakegpu: its filter, its metering and its per-cgroup files.
///
/// The callbacks run in the calling task, with no lock of the core's held.
pub(crate) trait Personality: Sync {
    /// Whether fake files of `front` are this personality's.
    fn claims(&self, front: &Front) -> bool;

    /// Checks an open of `front` by the calling task before the real device is opened; an
    /// error refuses the open.
    fn may_open(&self, _cgroups: &Registry, _front: &Front) -> Result {
        Ok(())
    }

    /// An ioctl on one of its fake files; `ioctl` is the real driver's handler (unlocked or
    /// compat, as the caller used).
    fn ioctl(&self, fake: &FakeFile, ioctl: IoctlFn, cmd: c_uint, arg: usize) -> c_long;

    /// Checks an mmap of one of its fake files by the calling task; the error is returned
    /// to the caller as is.
    fn may_mmap(&self, _cgroups: &Registry, _fake: &FakeFile) -> Result {
        Ok(())
    }

    /// One of its fake files on `front` was released; its real file is closed unless a
    /// record of the personality's still holds it.
    fn released(&self, _cgroups: &Registry, _front: &Front) {}

    /// Upkeep once a second, before the entries of removed cgroups are reaped: let go of
    /// what the driver has freed meanwhile, and uncharge it.
    fn reap(&self, _cgroups: &Registry) {}

    /// Its lines of `/sys/kernel/fakegpu/calls`: how many calls took each of its routes.
    fn write_calls(&self, _out: &mut Page<'_>) -> core::fmt::Result {
        Ok(())
    }

    /// Its lines of `/sys/kernel/fakegpu/dmem_regions`: the dmem cgroup regions it
    /// registered, `gpuN NAME BYTES`.
    fn write_dmem_regions(&self, _out: &mut Page<'_>) -> core::fmt::Result {
        Ok(())
    }

    /// The per-cgroup files it answers, created in every entry's directory.
    fn cgroup_files(&self) -> &'static [CgroupFile] {
        &[]
    }

    /// Shows its per-cgroup file `attr` of an entry; `None` if the file is not its.
    fn show_file(&self, _entry: &EntryState, _attr: &[u8], _out: &mut Page<'_>) -> Option<Result> {
        None
    }

    /// Stores a write to its per-cgroup file `attr` of an entry (a bad write changes
    /// nothing: EINVAL); `None` if the file is not its.
    fn store_file(&self, _entry: &mut EntryState, _attr: &[u8], _text: &str) -> Option<Result> {
        None
    }
}
