// SPDX-License-Identifier: GPL-2.0

//! The RM object store (`nvsim_model::rm`) as the kernel keeps it: its slots in one
//! kvmalloc'd vector. Which objects exist, what they charge, whose they are: the store
//! decides; nvsim's layers above lock it (`State::rm`) and ask.

use crate::nvsim_model::rm::{RmStore, Slot, SlotStorage};
use kernel::prelude::*;

/// The RM store as the kernel keeps it: slots in one kvmalloc'd vector.
pub(crate) type KernelRm = RmStore<KVVec<Slot>>;

impl SlotStorage for KVVec<Slot> {
    fn slots(&self) -> &[Slot] {
        self
    }
    fn slots_mut(&mut self) -> &mut [Slot] {
        self
    }
}

/// A new, empty store for the GPUs of `fb_sizes`, a system pool of `sys_size` bytes, and at
/// most `max_objects` RM objects (all clients together, the `max_objects=` parameter).
pub(crate) fn new_store(fb_sizes: &[u64], sys_size: u64, max_objects: usize) -> Result<KernelRm> {
    let slots = KVVec::from_elem(Slot::default(), max_objects, GFP_KERNEL)?;
    Ok(RmStore::new(slots, fb_sizes, sys_size))
}
