// SPDX-License-Identifier: GPL-2.0

//! What fakegpu holds for one cgroup: the cgroup reference, the entry's sysfs directory
//! (`/sys/kernel/fakegpu/cgroups/<id>/`, `cgroup_shim.c`) and the policy crate's
//! [`EntryState`].

use super::cgroup::Cgroup;
use crate::policy::cgroup_entry::EntryState;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::prelude::*;

extern "C" {
    // `struct kobject *` passes as `void *`.
    fn fakegpu_cgroup_dir_create(id: u64) -> *mut c_void;
    fn fakegpu_cgroup_dir_remove(dir: *mut c_void);
}

/// An entry's sysfs directory, removed on drop.
///
/// INVARIANT: `kobj` is the directory `fakegpu_cgroup_dir_create` made.
struct EntryDir {
    kobj: NonNull<c_void>,
}

// SAFETY: the directory may be removed from any task.
unsafe impl Send for EntryDir {}
// SAFETY: no method reads through the pointer.
unsafe impl Sync for EntryDir {}

impl Drop for EntryDir {
    fn drop(&mut self) {
        // SAFETY: created by `fakegpu_cgroup_dir_create`, removed once. The removal waits for
        // the directory's running callbacks, which take the registry lock: entries are
        // therefore always dropped with that lock released.
        unsafe { fakegpu_cgroup_dir_remove(self.kobj.as_ptr()) };
    }
}

/// What fakegpu holds for one cgroup.
pub(crate) struct Entry {
    // Field order: the directory goes before the cgroup reference is dropped.
    _dir: EntryDir,
    cgroup: Cgroup,
    /// What fakegpu decides and counts for the cgroup (the personalities' parts included).
    pub(crate) state: EntryState,
}

impl Entry {
    /// A new entry for `cgroup`, with its sysfs directory; nothing charged, no limit.
    pub(crate) fn new(cgroup: Cgroup) -> Result<Self> {
        let id = cgroup.id();
        // SAFETY: creates the directory; `EntryDir` removes it.
        let kobj = NonNull::new(unsafe { fakegpu_cgroup_dir_create(id) }).ok_or(ENOMEM)?;
        // INVARIANT: made by `fakegpu_cgroup_dir_create`.
        let dir = EntryDir { kobj };
        Ok(Entry {
            _dir: dir,
            cgroup,
            state: EntryState::default(),
        })
    }

    /// The cgroup it is for.
    pub(crate) fn cgroup(&self) -> &Cgroup {
        &self.cgroup
    }
}
