// SPDX-License-Identifier: GPL-2.0

//! A counted reference on a cgroup (v2), and the lookups fakegpu makes: the calling task's
//! cgroup, one named by a control command, its ancestors, its path (`cgroup_shim.c`).

use crate::policy::cgroup_control::Target;
use core::ffi::c_void;
use core::ptr::NonNull;
use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;

extern "C" {
    // `struct cgroup *` and `struct kobject *` pass as `void *`.
    fn fakegpu_cgroup_current() -> *mut c_void;
    fn fakegpu_cgroup_put(cgrp: *mut c_void);
    fn fakegpu_cgroup_id(cgrp: *mut c_void) -> u64;
    fn fakegpu_cgroup_parent(cgrp: *mut c_void) -> *mut c_void;
    fn fakegpu_cgroup_online(cgrp: *mut c_void) -> bool;
    fn fakegpu_cgroup_path(cgrp: *mut c_void, buf: *mut u8, len: usize) -> c_int;
    fn fakegpu_cgroup_lookup_path(path: *const c_char, err: *mut c_int) -> *mut c_void;
    fn fakegpu_cgroup_lookup_id(id: u64, err: *mut c_int) -> *mut c_void;
}

/// A counted reference on a cgroup (v2).
///
/// INVARIANT: `ptr` is a `struct cgroup *` on which this value holds one reference.
pub(crate) struct Cgroup {
    ptr: NonNull<c_void>,
}

// SAFETY: a cgroup reference may be used and dropped from any task.
unsafe impl Send for Cgroup {}
// SAFETY: the methods only read fields that are stable while referenced, or atomic flags.
unsafe impl Sync for Cgroup {}

impl Cgroup {
    /// The calling task's cgroup (always there: every task is in one of the default
    /// hierarchy).
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: returns the current task's cgroup with a reference.
        let ptr = unsafe { fakegpu_cgroup_current() };
        // INVARIANT: see above.
        NonNull::new(ptr).map(|ptr| Cgroup { ptr })
    }

    /// The cgroup a control command names, seen from the writer's cgroup namespace.
    pub(crate) fn lookup(target: Target<'_>) -> Result<Self> {
        let mut err: c_int = 0;
        let ptr = match target {
            Target::Path(path) => {
                let mut cpath = KVec::with_capacity(path.len() + 1, GFP_KERNEL)?;
                cpath.extend_from_slice(path.as_bytes(), GFP_KERNEL)?;
                cpath.push(0, GFP_KERNEL)?;
                // SAFETY: `cpath` is NUL-terminated; `err` is writable.
                unsafe { fakegpu_cgroup_lookup_path(cpath.as_ptr().cast(), &mut err) }
            }
            // SAFETY: `err` is writable.
            Target::Id(id) => unsafe { fakegpu_cgroup_lookup_id(id, &mut err) },
        };
        // INVARIANT: a non-NULL result carries a reference.
        // A cgroup that does not exist (`err`) is a bad write like any other: EINVAL.
        NonNull::new(ptr).map(|ptr| Cgroup { ptr }).ok_or(EINVAL)
    }

    /// The cgroup's id (its directory's inode number).
    pub(crate) fn id(&self) -> u64 {
        // SAFETY: referenced, by the type invariant.
        unsafe { fakegpu_cgroup_id(self.ptr.as_ptr()) }
    }

    /// Whether it still exists in the hierarchy (false after rmdir).
    pub(crate) fn online(&self) -> bool {
        // SAFETY: referenced, by the type invariant.
        unsafe { fakegpu_cgroup_online(self.ptr.as_ptr()) }
    }

    /// The ids of the cgroup and of each ancestor, leaf first, to `f`.
    pub(crate) fn for_each_ancestor_id(&self, mut f: impl FnMut(u64)) {
        let mut cur = self.ptr.as_ptr();
        while !cur.is_null() {
            // SAFETY: `cur` is `self` or an ancestor, which `self`'s reference pins.
            f(unsafe { fakegpu_cgroup_id(cur) });
            // SAFETY: as above; the root's parent is NULL.
            cur = unsafe { fakegpu_cgroup_parent(cur) };
        }
    }

    /// Writes the path from the hierarchy's root into `out`.
    pub(crate) fn write_path(&self, out: &mut [u8]) -> Result<usize> {
        // SAFETY: referenced; `out` is writable for its length.
        let n = unsafe { fakegpu_cgroup_path(self.ptr.as_ptr(), out.as_mut_ptr(), out.len()) };
        let n = usize::try_from(n).map_err(|_| Error::from_errno(n))?;
        Ok(n.min(out.len().saturating_sub(1)))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // SAFETY: the reference this value holds, by the type invariant.
        unsafe { fakegpu_cgroup_put(self.ptr.as_ptr()) };
    }
}
