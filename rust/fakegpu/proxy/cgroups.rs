// SPDX-License-Identifier: GPL-2.0

//! The registry of fakegpu's per-cgroup entries: `/sys/kernel/fakegpu/cgroups/<cgroup id>/`,
//! created and removed through `cgroups/control`, each holding what fakegpu enforces and
//! counts for that cgroup (`entry.rs`). Its sysfs callbacks are in `cgroup_sysfs.rs`.
//!
//! An entry holds a reference on its cgroup, so the id stays unique while the entry exists;
//! a module gets no callback when a cgroup is removed, so entries of removed cgroups are
//! reaped once a second (`cgroup_shim.c`). Policy applies hierarchically: a task sees what
//! its cgroup and every ancestor with an entry allow.

use super::accounts::Accounts;
use super::cgroup::Cgroup;
use super::entry::Entry;
use crate::policy::cgroup_control::{Command, Target};
use crate::policy::gpu_set::{GpuSet, Visibility};
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::rbtree::RBTreeNodeReservation;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Mutex;

/// The entries and their charges.
#[pin_data]
pub(crate) struct Registry {
    #[pin]
    accounts: Mutex<Accounts>,
    /// How many entries hide some GPU (`gpus` other than `all`), recounted under the lock
    /// whenever an entry changes or goes. While there are none, every task may see every GPU
    /// and [`Self::visibility_of_current`] answers without the lock: the GPU-enumerating
    /// calls are among the most frequent a CUDA process makes.
    restricting: AtomicUsize,
}

impl Registry {
    /// An empty registry.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Registry {
            accounts <- kernel::new_mutex!(Accounts::new(), "fakegpu_accounts"),
            restricting: AtomicUsize::new(0),
        })
    }

    /// The accounts, locked. No call into the driver is made while this is held.
    pub(crate) fn lock(
        &self,
    ) -> kernel::sync::lock::Guard<'_, Accounts, kernel::sync::lock::mutex::MutexBackend> {
        self.accounts.lock()
    }

    /// Recounts the entries that hide some GPU; with the accounts locked.
    fn recount_restricting(&self, acc: &Accounts) {
        let n = acc
            .entries
            .values()
            .filter(|e| e.state.gpus != Visibility::All)
            .count();
        // A call that reads the old count is ordered before the change that made the new one.
        self.restricting.store(n, Ordering::Relaxed);
    }

    /// Changes entry `id` with `f`, under the lock.
    pub(crate) fn change_entry(&self, id: u64, f: impl FnOnce(&mut Entry) -> Result) -> Result {
        let mut acc = self.accounts.lock();
        let entry = acc.entries.get_mut(&id).ok_or(ENOENT)?;
        let result = f(entry);
        self.recount_restricting(&acc);
        result
    }

    /// Which GPUs the calling task may see.
    pub(crate) fn visibility_of_current(&self) -> Visibility {
        if self.restricting.load(Ordering::Relaxed) == 0 {
            return Visibility::All;
        }
        let acc = self.accounts.lock();
        if acc.entries.iter().next().is_none() {
            return Visibility::All;
        }
        let Some(cgroup) = Cgroup::current() else {
            return Visibility::Only(GpuSet::EMPTY);
        };
        let mut vis = Visibility::All;
        acc.for_each_entry_of(&cgroup, |_, e| vis = vis.and(&e.state.gpus));
        vis
    }

    /// Carries out a control command.
    pub(crate) fn control(&self, cmd: Command<'_>) -> Result {
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
                let entry = Entry::new(cgroup)?;
                entries.insert(node.into_node(id, entry));
                self.recount_restricting(&acc);
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
                        Some(e) if !e.state.usage.is_idle() => return Err(EBUSY),
                        Some(_) => {
                            let removed = acc.entries.remove(&id);
                            self.recount_restricting(&acc);
                            removed
                        }
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
                    .find(|(_, e)| !e.cgroup().online() && e.state.usage.is_idle())
                    .map(|(&id, _)| id);
                let removed = dead.and_then(|id| acc.entries.remove(&id));
                self.recount_restricting(&acc);
                removed
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
                let removed = first.and_then(|id| acc.entries.remove(&id));
                self.recount_restricting(&acc);
                removed
            };
            match victim {
                Some(entry) => drop(entry),
                None => break,
            }
        }
    }
}

/// A personality's records (its mirror of the driver's objects) and the accounts, locked
/// together, the records first: the one order every personality keeps, so that a charge and
/// the record of what holds it change together. Derefs to the accounts, for charging.
pub(crate) struct WithAccounts<'a, T> {
    /// The personality's records.
    pub(crate) records: Guard<'a, T, MutexBackend>,
    acc: Guard<'a, Accounts, MutexBackend>,
}

impl<T> Deref for WithAccounts<'_, T> {
    type Target = Accounts;
    fn deref(&self) -> &Accounts {
        &self.acc
    }
}

impl<T> DerefMut for WithAccounts<'_, T> {
    fn deref_mut(&mut self) -> &mut Accounts {
        &mut self.acc
    }
}

impl Registry {
    /// `records`, then the accounts, locked. No call into the driver is made while they are
    /// held.
    pub(crate) fn lock_with<'a, T>(&'a self, records: &'a Mutex<T>) -> WithAccounts<'a, T> {
        let records = records.lock();
        WithAccounts {
            records,
            acc: self.accounts.lock(),
        }
    }
}
