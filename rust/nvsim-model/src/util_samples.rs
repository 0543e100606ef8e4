//! The GPU's utilisation samples as the RM keeps them (`abi::nv_gpumon`): every
//! [`SAMPLE_PERIOD_NS`] a sample records how busy the compute engine was over the period and
//! which process held it at that instant, in a ring of 72 (about 10 s). nvsim's engine hands
//! its time out in stretches, each held by one process or idle, and reports each stretch
//! here as it goes.

use super::abi::nv_gpumon::{GrSample, PID_INVALID, SAMPLE_COUNT, UTIL_FULL};

/// The sampling period: the ring's 72 samples span 10 s, as the RM's header says.
pub const SAMPLE_PERIOD_NS: u64 = 10_000_000_000 / SAMPLE_COUNT as u64;

/// One GPU's sampler.
#[derive(Clone, Copy, Debug)]
pub struct UtilSampler {
    /// When the next sample is taken (0: no stretch seen yet).
    next_at: u64,
    /// Engine time held in the current period so far.
    busy_ns: u64,
    /// The ring, and the entry written next (the oldest).
    ring: [GrSample; SAMPLE_COUNT],
    tracker: usize,
}

impl Default for UtilSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl UtilSampler {
    /// A sampler that starts with the first stretch.
    pub const fn new() -> Self {
        UtilSampler {
            next_at: 0,
            busy_ns: 0,
            ring: [GrSample {
                timestamp_ns: 0,
                util: 0,
                pid: 0,
            }; SAMPLE_COUNT],
            tracker: 0,
        }
    }

    /// The engine's time from `from` to `to` (ns of the GPU's timer) was held by process
    /// `pid` (`None`: idle). Stretches come in order and without gaps; samples fall due on
    /// the way.
    pub fn account(&mut self, from: u64, to: u64, pid: Option<u32>) {
        if to <= from {
            return;
        }
        if self.next_at == 0 {
            self.next_at = from + SAMPLE_PERIOD_NS;
        }
        // A stretch longer than the ring's span: only the last ring's worth of samples
        // matters (the engine idled for long).
        let span = SAMPLE_PERIOD_NS * SAMPLE_COUNT as u64;
        if to.saturating_sub(self.next_at) > span {
            let skip = (to - self.next_at - span) / SAMPLE_PERIOD_NS;
            self.next_at += skip * SAMPLE_PERIOD_NS;
            self.busy_ns = 0;
        }
        let mut at = from.max(self.next_at.saturating_sub(SAMPLE_PERIOD_NS));
        while self.next_at < to {
            // The sample falls inside this stretch: `pid` holds the engine at that instant.
            if pid.is_some() {
                self.busy_ns += self.next_at.saturating_sub(at);
            }
            let util = (self.busy_ns.min(SAMPLE_PERIOD_NS) * u64::from(UTIL_FULL)
                / SAMPLE_PERIOD_NS) as u32;
            self.push(GrSample {
                timestamp_ns: self.next_at,
                util,
                pid: pid.unwrap_or(PID_INVALID),
            });
            at = self.next_at;
            self.next_at += SAMPLE_PERIOD_NS;
            self.busy_ns = 0;
        }
        if pid.is_some() {
            self.busy_ns += to - at.max(from);
        }
    }

    fn push(&mut self, s: GrSample) {
        if let Some(slot) = self.ring.get_mut(self.tracker) {
            *slot = s;
        }
        self.tracker = (self.tracker + 1) % SAMPLE_COUNT;
    }

    /// The ring and its tracker (the oldest entry), as the control answers them.
    pub fn ring(&self) -> (&[GrSample; SAMPLE_COUNT], usize) {
        (&self.ring, self.tracker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = SAMPLE_PERIOD_NS;

    fn written(s: &UtilSampler) -> Vec<GrSample> {
        let (ring, tracker) = s.ring();
        (0..SAMPLE_COUNT)
            .map(|i| ring[(tracker + i) % SAMPLE_COUNT])
            .filter(|x| x.timestamp_ns != 0)
            .collect()
    }

    #[test]
    fn busy_engine_gives_full_samples_naming_the_holder() {
        let mut s = UtilSampler::new();
        s.account(1000, 1000 + 3 * P + 5, Some(7));
        let w = written(&s);
        assert_eq!(w.len(), 3);
        for (i, x) in w.iter().enumerate() {
            assert_eq!(x.timestamp_ns, 1000 + (i as u64 + 1) * P);
            assert_eq!((x.util, x.pid), (UTIL_FULL, 7));
        }
    }

    #[test]
    fn idle_instants_name_no_process_and_utilisation_is_the_busy_part() {
        let mut s = UtilSampler::new();
        // A quarter of the period busy, then idle over the sample instant.
        s.account(0, P / 4, Some(3));
        s.account(P / 4, P + 10, None);
        let w = written(&s);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].pid, PID_INVALID);
        assert_eq!(w[0].util, UTIL_FULL / 4);
    }

    #[test]
    fn the_ring_keeps_the_newest_72() {
        let mut s = UtilSampler::new();
        let mut t = 0;
        for i in 0..200u32 {
            s.account(t, t + P, Some(i));
            t += P;
        }
        let w = written(&s);
        assert_eq!(w.len(), SAMPLE_COUNT);
        assert!(w.windows(2).all(|p| p[0].timestamp_ns < p[1].timestamp_ns));
        // The sample due at 200 P is taken by the stretch that holds that instant, still to come.
        assert_eq!(w.last().map(|x| x.timestamp_ns), Some(199 * P));
    }

    #[test]
    fn a_long_idle_stretch_is_bounded() {
        let mut s = UtilSampler::new();
        s.account(0, P / 2, Some(1));
        s.account(P / 2, 1000 * P, None);
        let w = written(&s);
        assert_eq!(w.len(), SAMPLE_COUNT);
        assert!(w.iter().all(|x| x.util == 0 && x.pid == PID_INVALID));
    }

    #[test]
    fn alternating_holders_are_sampled_in_proportion() {
        // Two processes alternate 1 ms slices, 3:1; over many samples the instants name
        // them about 3:1 and every sample is full.
        let mut s = UtilSampler::new();
        let mut t = 1;
        let (mut a, mut b) = (0, 0);
        for _ in 0..2500 {
            s.account(t, t + 3_000_000, Some(1));
            s.account(t + 3_000_000, t + 4_000_000, Some(2));
            t += 4_000_000;
            for x in written(&s) {
                assert_eq!(x.util, UTIL_FULL);
            }
        }
        for x in written(&s) {
            match x.pid {
                1 => a += 1,
                2 => b += 1,
                _ => {}
            }
        }
        assert_eq!(a + b, SAMPLE_COUNT);
        assert!((45..=63).contains(&a), "{a}:{b}");
    }
}
