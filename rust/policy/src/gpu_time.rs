//! GPU time from the driver's utilisation samples (`abi::nv_gpumon`): each sample says how
//! busy the compute engine was over its period and which process held it at that instant,
//! so the busy time of the period is credited to that process. fakegpu's governor reads the
//! ring every [`READ_EVERY_NS`], keeps the newest timestamp it has credited, and credits each
//! newer sample once.
//!
//! The method's resolution is the driver's: one process per sample, about 7 samples a
//! second. Two tenants alternating in millisecond slices are told apart only statistically
//! (the instants fall in each one's slices in proportion to its share), so a figure is good
//! over seconds, not over one sample.

use super::abi::nv_gpumon::{GrSample, PID_INVALID, SAMPLE_COUNT, UTIL_FULL};

/// How often the governor reads the ring: well inside the ~10 s it holds.
pub const READ_EVERY_NS: u64 = 500_000_000;
/// The window the share figure (`compute.stat`'s `gpu_share_pct`) is taken over.
pub const SHARE_WINDOW_NS: u64 = 10_000_000_000;
/// The longest period one sample is taken to cover when nothing tells (the first sample
/// read, or one after a gap): the ring spans ~10 s in 72 samples.
const FALLBACK_PERIOD_NS: u64 = 10_000_000_000 / SAMPLE_COUNT as u64;

/// Credits the samples of `ring` newer than `last_ns` (the newest credited before; 0:
/// none), oldest first: `credit(pid, busy_ns)` for each with a process. Returns the newest
/// timestamp now credited. A sample's period is the time since the one before it; the first
/// one read, or one after a gap longer than the others, counts as one usual period.
pub fn credit_samples(ring: &[GrSample], last_ns: u64, mut credit: impl FnMut(u32, u64)) -> u64 {
    let mut new = [GrSample::default(); SAMPLE_COUNT];
    let mut n = 0;
    for s in ring.iter().filter(|s| s.timestamp_ns > last_ns) {
        if let Some(slot) = new.get_mut(n) {
            *slot = *s;
            n += 1;
        }
    }
    let new = &mut new[..n];
    new.sort_unstable_by_key(|s| s.timestamp_ns);
    // The usual period: the shortest gap between the new samples.
    let usual = new
        .windows(2)
        .map(|w| w[1].timestamp_ns - w[0].timestamp_ns)
        .filter(|&d| d > 0)
        .min()
        .unwrap_or(FALLBACK_PERIOD_NS);
    let mut prev = last_ns;
    for s in new.iter() {
        let period = if prev == 0 {
            usual
        } else {
            (s.timestamp_ns - prev).min(usual.saturating_mul(2))
        };
        prev = s.timestamp_ns;
        if s.pid == PID_INVALID || s.util == 0 {
            continue;
        }
        let busy = period * u64::from(s.util.min(UTIL_FULL)) / u64::from(UTIL_FULL);
        credit(s.pid, busy);
    }
    prev.max(last_ns)
}

/// Per mille of `window_ns` that `busy_ns` is (at most 1000).
pub fn share_permille(busy_ns: u64, window_ns: u64) -> u32 {
    if window_ns == 0 {
        return 0;
    }
    let busy = busy_ns.min(window_ns);
    let permille = match busy.checked_mul(1000) {
        Some(b) => b / window_ns,
        None => busy / (window_ns / 1000),
    };
    permille.min(1000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(timestamp_ns: u64, util: u32, pid: u32) -> GrSample {
        GrSample {
            timestamp_ns,
            util,
            pid,
        }
    }

    fn credited(ring: &[GrSample], last: u64) -> (Vec<(u32, u64)>, u64) {
        let mut got = Vec::new();
        let newest = credit_samples(ring, last, |p, ns| got.push((p, ns)));
        (got, newest)
    }

    #[test]
    fn each_sample_is_credited_once_to_its_process() {
        // The ring wrapped: oldest at index 2.
        let ring = [
            s(400, 10_000, 2),
            s(500, 5000, 1),
            s(100, 0, PID_INVALID),
            s(200, 10_000, 1),
            s(300, 10_000, 2),
        ];
        let (got, newest) = credited(&ring, 200);
        assert_eq!(got, vec![(2, 100), (2, 100), (1, 50)]);
        assert_eq!(newest, 500);
        // Nothing newer: nothing credited, the mark stays.
        let (got, newest) = credited(&ring, 500);
        assert!(got.is_empty());
        assert_eq!(newest, 500);
    }

    #[test]
    fn unwritten_entries_and_idle_instants_credit_nothing() {
        let ring = [s(0, 0, 0), s(100, 10_000, PID_INVALID), s(200, 0, 3)];
        assert!(credited(&ring, 0).0.is_empty());
    }

    #[test]
    fn the_first_read_and_gaps_count_one_usual_period() {
        let ring = [s(1000, 10_000, 1), s(1100, 10_000, 1), s(1200, 10_000, 1)];
        let (got, _) = credited(&ring, 0);
        assert_eq!(got, vec![(1, 100), (1, 100), (1, 100)]);
        // A gap since the last read (the ring overran): at most two usual periods.
        let (got, _) = credited(&ring, 10);
        assert_eq!(got[0], (1, 200));
    }

    #[test]
    fn shares() {
        assert_eq!(share_permille(3, 10), 300);
        assert_eq!(share_permille(3_000_000, 10_000_000), 300);
        assert_eq!(share_permille(20, 10), 1000);
        assert_eq!(share_permille(5, 0), 0);
    }

    proptest! {
        /// However the ring is rotated and read, no more is credited than the time the
        /// samples span (plus the first one's period), and reading twice credits nothing new.
        #[test]
        fn credit_is_bounded_and_once(
            utils in proptest::collection::vec((0u32..=10_000, 0u32..4), 1..72),
            rot in 0usize..72,
            period in 1u64..1_000_000,
        ) {
            let mut ring: Vec<GrSample> = utils
                .iter()
                .enumerate()
                .map(|(i, &(u, p))| s(1 + (i as u64 + 1) * period, u, if p == 3 { PID_INVALID } else { p }))
                .collect();
            let r = rot % ring.len();
            ring.rotate_left(r);
            let (got, newest) = credited(&ring, 0);
            let total: u64 = got.iter().map(|(_, ns)| ns).sum();
            // One sample alone counts the fallback period.
            let first = if utils.len() == 1 { FALLBACK_PERIOD_NS } else { period };
            prop_assert!(total <= period * (utils.len() as u64 - 1) + first);
            prop_assert_eq!(newest, 1 + utils.len() as u64 * period);
            prop_assert!(credited(&ring, newest).0.is_empty());
        }
    }
}
