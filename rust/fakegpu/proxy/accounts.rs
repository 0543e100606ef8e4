// SPDX-License-Identifier: GPL-2.0

//! The accounts: every cgroup entry, and the charge records that say what was charged to
//! which entries. Both live under the registry's one lock (`cgroups.rs`), so that a charge
//! and the counters it moved always agree.
//!
//! A charge goes to the allocating task's cgroup and each ancestor with an entry (its
//! *chain*), is held to their limits (`policy::ledger`), and stays with them whoever frees
//! it, like memcg's. The personalities record which driver objects hold which charge; a
//! charge is uncharged when its last holder lets go of it.

use super::cgroup::Cgroup;
use super::dmem::DmemCharge;
use super::entry::Entry;
use crate::policy::ledger::{self, Resource, Usage};
use kernel::prelude::*;
use kernel::rbtree::RBTree;

/// A charge: what, how much, to which entries, and how many holders it has; and the same
/// amount charged to the kernel's dmem controller, if the resource has a dmem region
/// (uncharged when the record goes).
pub(crate) struct Charge {
    resource: Resource,
    amount: u64,
    entries: KVec<u64>,
    refs: u32,
    dmem: Option<DmemCharge>,
}

/// Room for one charge, taken before a driver call so that recording its outcome cannot
/// fail.
pub(crate) type ChargeRoom = kernel::rbtree::RBTreeNodeReservation<u64, Charge>;

/// The entries a charge goes to, as the ledger's levels: `chain` (entry ids) looked up in
/// `entries`; an entry gone since is skipped.
pub(crate) struct Chain<'a> {
    /// Every entry.
    pub(crate) entries: &'a mut RBTree<u64, Entry>,
    /// The ids of the levels.
    pub(crate) chain: &'a [u64],
}

impl ledger::Levels for Chain<'_> {
    fn count(&self) -> usize {
        self.chain.len()
    }
    fn level(&mut self, i: usize) -> Option<&mut Usage> {
        let id = self.chain.get(i)?;
        self.entries.get_mut(id).map(|e| &mut e.state.usage)
    }
}

/// Everything the per-cgroup accounting holds, under one lock.
pub(crate) struct Accounts {
    /// The entries, by cgroup id.
    pub(crate) entries: RBTree<u64, Entry>,
    charges: RBTree<u64, Charge>,
    next_charge: u64,
}

impl Accounts {
    /// No entry, no charge.
    pub(crate) fn new() -> Self {
        Accounts {
            entries: RBTree::new(),
            charges: RBTree::new(),
            next_charge: 1,
        }
    }

    /// Calls `f` with the entry of `cgroup` and of each ancestor that has one, leaf first:
    /// the levels whose policy and limits apply to a task in `cgroup`.
    pub(crate) fn for_each_entry_of(&self, cgroup: &Cgroup, mut f: impl FnMut(u64, &Entry)) {
        cgroup.for_each_ancestor_id(|id| {
            if let Some(e) = self.entries.get(&id) {
                f(id, e);
            }
        });
    }

    /// The ids of the entries of `cgroup` and its ancestors, leaf first.
    pub(crate) fn chain_of(&self, cgroup: &Cgroup) -> Result<KVec<u64>> {
        let mut chain = KVec::new();
        let mut err = Ok(());
        self.for_each_entry_of(cgroup, |id, _| {
            if err.is_ok() {
                err = chain.push(id, GFP_KERNEL).map_err(Error::from);
            }
        });
        err.map(|()| chain)
    }

    /// Charges `amount` of `r` to every entry of `chain`, or refuses (counting the refusal at
    /// the level whose limit it would pass). Returns the new charge's id. `dmem`, the same
    /// amount already charged to dmem, goes with the record (and back if refused).
    pub(crate) fn charge(
        &mut self,
        chain: KVec<u64>,
        r: Resource,
        amount: u64,
        force: bool,
        dmem: Option<DmemCharge>,
    ) -> Result<u64> {
        // Allocated first, so that once the levels are charged nothing can fail.
        let room = ChargeRoom::new(GFP_KERNEL)?;
        let id = self.charge_in(room, chain, r, amount, force)?;
        if let Some(c) = self.charges.get_mut(&id) {
            c.dmem = dmem;
        }
        Ok(id)
    }

    /// [`Accounts::charge`] in room taken beforehand: fails only on a limit.
    pub(crate) fn charge_in(
        &mut self,
        room: ChargeRoom,
        chain: KVec<u64>,
        r: Resource,
        amount: u64,
        force: bool,
    ) -> Result<u64> {
        let mut levels = Chain {
            entries: &mut self.entries,
            chain: &chain,
        };
        ledger::try_charge(&mut levels, r, amount, force).map_err(|_| ENOSPC)?;
        let id = self.next_charge;
        self.next_charge += 1;
        let charge = Charge {
            resource: r,
            amount,
            entries: chain,
            refs: 0,
            dmem: None,
        };
        self.charges.insert(room.into_node(id, charge));
        Ok(id)
    }

    /// Changes charge `id` to `amount` (the driver took more or less than asked); more is
    /// refused past a limit (of fakegpu's, or dmem's) unless `force`. In the charging task,
    /// for dmem's sake.
    pub(crate) fn resize_charge(&mut self, id: u64, amount: u64, force: bool) -> Result {
        let Some(c) = self.charges.get_mut(&id) else {
            return Ok(());
        };
        let (r, old) = (c.resource, c.amount);
        if let Some(d) = c.dmem.as_mut() {
            let resized = d.resize(amount);
            if resized.is_err() && !force {
                return resized;
            }
        }
        let mut levels = Chain {
            entries: &mut self.entries,
            chain: &c.entries,
        };
        if amount > old {
            if let Err(_level) = ledger::try_charge(&mut levels, r, amount - old, force) {
                if let Some(d) = c.dmem.as_mut() {
                    // Back to what it was: a shrink, which never fails.
                    let _ = d.resize(old);
                }
                return Err(ENOSPC);
            }
        } else {
            ledger::uncharge(&mut levels, r, old - amount);
        }
        c.amount = amount;
        Ok(())
    }

    /// The entries charge `id` went to: the charging task's cgroup's first, then its
    /// ancestors' with an entry, nearest first.
    pub(crate) fn charge_chain(&self, id: u64) -> Option<&[u64]> {
        self.charges.get(&id).map(|c| &c.entries[..])
    }

    /// Calls `f` with each entry charge `id` went to (see [`Accounts::charge_chain`]): for
    /// counts that follow the work of a charge's holder (GPU time, submissions).
    pub(crate) fn for_each_entry_charged(&mut self, id: u64, mut f: impl FnMut(&mut Entry)) {
        let Some(c) = self.charges.get(&id) else {
            return;
        };
        for e in c.entries.iter() {
            if let Some(entry) = self.entries.get_mut(e) {
                f(entry);
            }
        }
    }

    /// Adds one holder to charge `id`.
    pub(crate) fn hold_charge(&mut self, id: u64) {
        if let Some(c) = self.charges.get_mut(&id) {
            c.refs += 1;
        }
    }

    /// Drops one holder of charge `id`, uncharging it when it was the last (or when it never
    /// had one: a charge whose allocation failed).
    pub(crate) fn release_charge(&mut self, id: u64) {
        let last = match self.charges.get_mut(&id) {
            Some(c) => {
                c.refs = c.refs.saturating_sub(1);
                c.refs == 0
            }
            None => false,
        };
        if !last {
            return;
        }
        if let Some(c) = self.charges.remove(&id) {
            let mut levels = Chain {
                entries: &mut self.entries,
                chain: &c.entries,
            };
            ledger::uncharge(&mut levels, c.resource, c.amount);
        }
    }

    /// Ends the pre-call hold of a charge made by [`Accounts::charge`] (refs 0): uncharged
    /// if no object took it.
    pub(crate) fn release_charge_pending(&mut self, id: u64) {
        let unheld = self.charges.get(&id).is_some_and(|c| c.refs == 0);
        if unheld {
            if let Some(c) = self.charges.get_mut(&id) {
                c.refs = 1;
            }
            self.release_charge(id);
        }
    }
}
