// SPDX-License-Identifier: GPL-2.0

//! fakegpu's per-cgroup entries: `/sys/kernel/fakegpu/cgroups/<cgroup id>/`, created and
//! removed through `cgroups/control`, each holding what fakegpu enforces for that cgroup
//! (for now which GPUs it may see, `gpus`).
//!
//! An entry holds a reference on its cgroup, so the id stays unique while the entry exists;
//! a module gets no callback when a cgroup is removed, so entries of removed cgroups are
//! reaped once a second (`cgroup_shim.c`). Policy applies hierarchically: a task sees what
//! its cgroup and every ancestor with an entry allow.

use crate::cgroup_files::{self, Page};
use crate::meter::Objects;
use crate::policy::cgroup_control::{self, Command, Target};
use crate::policy::gpu_set::{GpuSet, Visibility};
use crate::policy::ledger::Usage;
use crate::abi::namebuf::NameBuf;
use core::ffi::c_void;
use core::fmt::Write;
use core::ptr::NonNull;
use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};
use kernel::sync::Mutex;

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
    fn fakegpu_cgroup_dir_create(id: u64) -> *mut c_void;
    fn fakegpu_cgroup_dir_remove(dir: *mut c_void);
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
    fn lookup(target: Target<'_>) -> Result<Self> {
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
    fn online(&self) -> bool {
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
    fn write_path(&self, out: &mut [u8]) -> Result<usize> {
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
    /// Which GPUs the cgroup may see.
    pub(crate) gpus: Visibility,
    /// Its counters and limits.
    pub(crate) usage: Usage,
    /// Whether managed (UVM) memory is refused: it is faulted in with no call to meter.
    pub(crate) uvm_deny: bool,
}

/// Everything the per-cgroup accounting holds, under one lock.
pub(crate) struct Accounts {
    /// The entries, by cgroup id.
    pub(crate) entries: RBTree<u64, Entry>,
    /// The mirror of metered RM objects and their charges (`meter.rs`).
    pub(crate) objects: Objects,
}

impl Accounts {
    /// Calls `f` with the entry of `cgroup` and of each ancestor that has one, leaf first:
    /// the levels whose policy and limits apply to a task in `cgroup`.
    pub(crate) fn for_each_entry_of(&self, cgroup: &Cgroup, mut f: impl FnMut(u64, &Entry)) {
        cgroup.for_each_ancestor_id(|id| {
            if let Some(e) = self.entries.get(&id) {
                f(id, e);
            }
        });
    }
}

/// The entries and the meter's mirror.
#[pin_data]
pub(crate) struct Registry {
    #[pin]
    accounts: Mutex<Accounts>,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Registry {
            accounts <- kernel::new_mutex!(
                Accounts {
                    entries: RBTree::new(),
                    objects: Objects::new(),
                },
                "fakegpu_accounts"
            ),
        })
    }

    /// The accounts, locked. No call into the driver is made while this is held.
    pub(crate) fn lock(
        &self,
    ) -> kernel::sync::lock::Guard<'_, Accounts, kernel::sync::lock::mutex::MutexBackend> {
        self.accounts.lock()
    }

    /// Which GPUs the calling task may see.
    pub(crate) fn visibility_of_current(&self) -> Visibility {
        let acc = self.accounts.lock();
        if acc.entries.iter().next().is_none() {
            return Visibility::All;
        }
        let Some(cgroup) = Cgroup::current() else {
            return Visibility::Only(GpuSet::EMPTY);
        };
        let mut vis = Visibility::All;
        acc.for_each_entry_of(&cgroup, |_, e| vis = vis.and(&e.gpus));
        vis
    }

    /// Whether the calling task's cgroup, or an ancestor, refuses managed memory.
    pub(crate) fn uvm_denied_for_current(&self) -> bool {
        let acc = self.accounts.lock();
        if acc.entries.iter().next().is_none() {
            return false;
        }
        let Some(cgroup) = Cgroup::current() else {
            return true;
        };
        let mut deny = false;
        acc.for_each_entry_of(&cgroup, |_, e| deny |= e.uvm_deny);
        deny
    }

    /// Carries out a control command.
    fn control(&self, cmd: Command<'_>) -> Result {
        match cmd {
            Command::Add(target) => {
                let cgroup = Cgroup::lookup(target)?;
                let id = cgroup.id();
                // Allocated first: once the directory exists, a failure would have to remove
                // it under the lock.
                let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
                let mut acc = self.accounts.lock();
                let entries = &mut acc.entries;
                if entries.get(&id).is_some() {
                    return Err(EEXIST);
                }
                // SAFETY: creates the directory; `EntryDir` removes it.
                let kobj = NonNull::new(unsafe { fakegpu_cgroup_dir_create(id) }).ok_or(ENOMEM)?;
                // INVARIANT: made by `fakegpu_cgroup_dir_create`.
                let dir = EntryDir { kobj };
                let entry = Entry {
                    _dir: dir,
                    cgroup,
                    gpus: Visibility::All,
                    usage: Usage::default(),
                    uvm_deny: false,
                };
                entries.insert(node.into_node(id, entry));
                Ok(())
            }
            Command::Remove(target) => {
                let id = match target {
                    // By id even once the cgroup is gone (its entry waits for the reaper).
                    Target::Id(id) => id,
                    Target::Path(_) => Cgroup::lookup(target)?.id(),
                };
                let removed = {
                    let mut acc = self.accounts.lock();
                    match acc.entries.get(&id) {
                        None => return Err(ENOENT),
                        // Its charges would have nowhere to go back to.
                        Some(e) if !e.usage.is_idle() => return Err(EBUSY),
                        Some(_) => acc.entries.remove(&id),
                    }
                };
                // Dropped here, with the lock released (see `EntryDir`).
                drop(removed);
                Ok(())
            }
        }
    }

    /// Removes the entries of removed cgroups once nothing is charged to them.
    pub(crate) fn reap(&self) {
        loop {
            let victim = {
                let mut acc = self.accounts.lock();
                let dead = acc
                    .entries
                    .iter()
                    .find(|(_, e)| !e.cgroup.online() && e.usage.is_idle())
                    .map(|(&id, _)| id);
                dead.and_then(|id| acc.entries.remove(&id))
            };
            match victim {
                Some(entry) => drop(entry),
                None => break,
            }
        }
    }

    /// Removes every entry (module exit, after the control file is gone).
    pub(crate) fn clear(&self) {
        loop {
            let victim = {
                let mut acc = self.accounts.lock();
                let first = acc.entries.keys().next().copied();
                first.and_then(|id| acc.entries.remove(&id))
            };
            match victim {
                Some(entry) => drop(entry),
                None => break,
            }
        }
    }
}

/// Copies `text` into the sysfs page `buf` of `len` bytes; the length copied.
///
/// # Safety
///
/// `buf` must be writable for `len` bytes.
unsafe fn emit(buf: *mut u8, len: usize, text: &[u8]) -> isize {
    let n = text.len().min(len);
    // SAFETY: `buf` has `len >= n` bytes, per the contract.
    unsafe { core::ptr::copy_nonoverlapping(text.as_ptr(), buf, n) };
    n as isize
}

/// The text of a sysfs write (`len` bytes at `buf`), if UTF-8.
///
/// # Safety
///
/// `buf` must be readable for `len` bytes for `'a`.
unsafe fn written<'a>(buf: *const c_char, len: usize) -> Result<&'a str> {
    // SAFETY: per the contract.
    let bytes = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    core::str::from_utf8(bytes).map_err(|_| EINVAL)
}

/// The registry of the loaded module.
fn registry() -> Result<&'static Registry> {
    crate::State::get().map(|s| &*s.cgroups).ok_or(ENODEV)
}

/// Shows file `attr` of the entry of cgroup `id`.
///
/// # Safety
///
/// Called by `cgroup_shim.c` with a NUL-terminated attribute name and a page `buf` of `len`.
#[no_mangle]
unsafe extern "C" fn fakegpu_cgroup_show(
    id: u64,
    attr: *const c_char,
    buf: *mut u8,
    len: usize,
) -> isize {
    let result = (|| -> Result<isize> {
        // SAFETY: per the contract.
        let attr = unsafe { CStr::from_char_ptr(attr) }.as_bytes();
        let state = crate::State::get().ok_or(ENODEV)?;
        let mut out = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let n = {
            let acc = state.cgroups.lock();
            let entry = acc.entries.get(&id).ok_or(ENOENT)?;
            if attr == b"path" {
                let n = entry.cgroup.write_path(&mut out)?;
                if let Some(end) = out.get_mut(n) {
                    *end = b'\n';
                }
                n + 1
            } else {
                let mut page = Page::new(&mut out);
                cgroup_files::show(entry, attr, &state.cards, &mut page)?;
                page.len()
            }
        };
        // SAFETY: `buf` is a page of `len` bytes.
        Ok(unsafe { emit(buf, len, out.get(..n).unwrap_or(&[])) })
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// Stores a write of `len` bytes to file `attr` of the entry of cgroup `id` (the writer's
/// privilege is checked by the caller).
///
/// # Safety
///
/// Called by `cgroup_shim.c` with a NUL-terminated attribute name and `len` bytes at `buf`.
#[no_mangle]
unsafe extern "C" fn fakegpu_cgroup_store(
    id: u64,
    attr: *const c_char,
    buf: *const c_char,
    len: usize,
) -> isize {
    let result = (|| -> Result<isize> {
        // SAFETY: per the contract.
        let attr = unsafe { CStr::from_char_ptr(attr) }.as_bytes();
        // SAFETY: per the contract.
        let text = unsafe { written(buf, len) }?;
        let state = crate::State::get().ok_or(ENODEV)?;
        let mut acc = state.cgroups.lock();
        let entry = acc.entries.get_mut(&id).ok_or(ENOENT)?;
        cgroup_files::store(entry, attr, text, &state.cards)?;
        Ok(len as isize)
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// A write to `cgroups/control` (privilege checked by the caller).
///
/// # Safety
///
/// Called by `cgroup_shim.c` with `len` bytes at `buf`.
#[no_mangle]
unsafe extern "C" fn fakegpu_cgroups_control(buf: *const c_char, len: usize) -> isize {
    let result = (|| -> Result<isize> {
        // SAFETY: per the contract.
        let text = unsafe { written(buf, len) }?;
        let cmd = cgroup_control::parse(text).map_err(|_| EINVAL)?;
        registry()?.control(cmd)?;
        Ok(len as isize)
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// Reading `cgroups/control`: one line per entry, `ID PATH`.
///
/// # Safety
///
/// Called by `cgroup_shim.c` with a page `buf` of `len` bytes.
#[no_mangle]
unsafe extern "C" fn fakegpu_cgroups_list(buf: *mut u8, len: usize) -> isize {
    let result = (|| -> Result<isize> {
        let registry = registry()?;
        let mut out = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let mut written = 0;
        let acc = registry.accounts.lock();
        for (id, entry) in acc.entries.iter() {
            let mut head = NameBuf::new();
            write!(head, "{} ", id).map_err(|_| EINVAL)?;
            let head = head.as_str().as_bytes();
            let Some(rest) = out.get_mut(written..) else {
                break;
            };
            // Room for the id, a path and the newline, or the listing stops here.
            let Some(path_room) = rest.get_mut(head.len()..) else {
                break;
            };
            let n = match entry.cgroup.write_path(path_room) {
                Ok(n) if n + 1 < path_room.len() => n,
                _ => break,
            };
            if let Some(nl) = path_room.get_mut(n) {
                *nl = b'\n';
            }
            if let Some(dst) = rest.get_mut(..head.len()) {
                dst.copy_from_slice(head);
            }
            written += head.len() + n + 1;
        }
        drop(acc);
        // SAFETY: `buf` is a page of `len` bytes.
        Ok(unsafe { emit(buf, len, out.get(..written).unwrap_or(&[])) })
    })();
    result.unwrap_or_else(|e| e.to_errno() as isize)
}

/// Once a second (`cgroup_shim.c`): drops the clients of nvidiactl files no longer open,
/// then the entries of removed cgroups with nothing charged.
#[no_mangle]
extern "C" fn fakegpu_cgroups_reap() {
    if let Some(state) = crate::State::get() {
        crate::meter::sweep(state);
        state.cgroups.reap();
    }
}
