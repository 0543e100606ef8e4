//! Submissions on NVIDIA: the GPFIFO entries each channel's engine consumed, read from the
//! GPGet the engine writes into the channel's USERD. GPGet is the index of the next entry
//! the engine will fetch from the channel's ring, so between two reads the engine consumed
//! the entries from the old index to the new one, modulo the ring's size. fakegpu's governor
//! reads every watched channel's GPGet every [`READ_EVERY_NS`].
//!
//! What the method cannot see: a channel that consumes more than its whole ring between two
//! reads is counted short by whole rings (the index alone cannot tell them apart); and
//! USERD is memory the tenant maps too, so a tenant that writes GPGet itself can make a read
//! see a value of its choice: only its own channel's count is then wrong, and a value past
//! the end of the ring is not counted.

/// How often the governor reads the channels' GPGet.
pub const READ_EVERY_NS: u64 = 10_000_000;

/// The entries consumed on a ring of `entries` from GPGet `last` to GPGet `now`; `None` if
/// `now` is no index of the ring (no value the engine writes), or the ring is empty.
pub fn consumed(last: u32, now: u32, entries: u32) -> Option<u32> {
    if now >= entries {
        return None;
    }
    // `last` was checked when it was read; an index from before a bad read counts from 0.
    let last = if last < entries { last } else { 0 };
    Some(if now >= last {
        now - last
    } else {
        entries - last + now
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_forward_and_across_the_wrap() {
        assert_eq!(consumed(0, 0, 8), Some(0));
        assert_eq!(consumed(2, 7, 8), Some(5));
        assert_eq!(consumed(6, 1, 8), Some(3));
        assert_eq!(consumed(7, 7, 8), Some(0));
    }

    #[test]
    fn refuses_what_no_engine_writes() {
        assert_eq!(consumed(0, 8, 8), None);
        assert_eq!(consumed(0, u32::MAX, 8), None);
        assert_eq!(consumed(0, 0, 0), None);
        // A bad earlier value counts from the ring's start.
        assert_eq!(consumed(9, 3, 8), Some(3));
    }

    proptest! {
        /// Any run of advances shorter than the ring each is counted exactly.
        #[test]
        fn sums_the_advances(
            entries in 1u32..100_000,
            steps in proptest::collection::vec(0u32..100_000, 0..50),
        ) {
            let (mut get, mut total, mut counted) = (0u32, 0u64, 0u64);
            for s in steps {
                let s = s % entries;
                let next = ((u64::from(get) + u64::from(s)) % u64::from(entries)) as u32;
                counted += u64::from(consumed(get, next, entries).unwrap());
                total += u64::from(s);
                get = next;
            }
            prop_assert_eq!(counted, total);
        }
    }
}
