// SPDX-License-Identifier: GPL-2.0

//! The channels whose submissions fakegpu counts (`submissions.rs`): for each, a second,
//! read-only mapping of the channel's USERD in fakegpu's scratch mm, made when the channel
//! is, where the governor reads the GPGet the engine writes. The meter's mirror keeps them
//! beside its records and sets one aside when its channel's record goes, for the governor
//! to unmap (only a thread running in the scratch mm can).

use kernel::rbtree::RBTree;

/// A watched channel's USERD mapping.
#[derive(Clone, Copy)]
pub(crate) struct Userd {
    /// The channel's GPU slot.
    pub(crate) gpu: usize,
    /// Where the mapping starts in the scratch mm.
    pub(crate) addr: usize,
    /// Its bytes.
    pub(crate) len: usize,
    /// GPGet's address in the scratch mm.
    pub(crate) get_at: usize,
    /// The entries of the channel's ring.
    pub(crate) entries: u32,
    /// GPGet at the last read.
    pub(crate) last_get: u32,
}

/// Stops watching the channel `channel` (its mirror key): its mapping moves from `userds`
/// to `stale` (by its address), in the same node, so a free path allocates nothing.
pub(crate) fn unwatch(
    userds: &mut RBTree<u64, Userd>,
    stale: &mut RBTree<u64, Userd>,
    channel: u64,
) {
    let Some(u) = userds.get(&channel).copied() else {
        return;
    };
    if let Some(node) = userds.remove_node(&channel) {
        stale.insert(node.into_reservation().into_node(u.addr as u64, u));
    }
}
