//! The simulated GPU's compute scheduler: one launch runs at a time on a GPU, and the
//! channels with a launch queued take turns round-robin, each holding the engine for up to
//! its timeslice of engine time before the next waiting one preempts it, as the RM's
//! runlist does with channel groups (`kernel_fifo.c`: a group's timeslice, 1024 us by
//! default on Volta and later, `NV_RAMRL_ENTRY_TSG_TIMESLICE_TIMEOUT_128 << SCALE_3`). A
//! channel taken off the runlist (GPFIFO_SCHEDULE with `bEnable` 0, on it or on its group)
//! is not given the engine; a launch it was running is preempted and resumes where it
//! stopped once the channel is back.
//!
//! The engine's time is the simulated GPU's clock: the caller hands [`Turn::step`] the
//! nanoseconds that passed and gets back which lane held the engine for how long, so
//! shares are counted in engine time, whatever the host's scheduling did meanwhile.

/// The RM's default timeslice of a channel group on Volta and later, in microseconds.
pub const DEFAULT_TIMESLICE_US: u64 = 1024;

/// What the scheduler needs of one channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lane {
    /// Engine nanoseconds left of the launch it has queued or is running (0: none).
    pub pending_ns: u64,
    /// Whether it is on the runlist: its own GPFIFO_SCHEDULE and its group's both enable it.
    pub runnable: bool,
    /// How long it may hold the engine while another lane waits, in nanoseconds.
    pub timeslice_ns: u64,
}

impl Lane {
    /// Whether it wants the engine and may have it.
    fn ready(&self) -> bool {
        self.runnable && self.pending_ns > 0
    }
}

/// One stretch of engine time given to one lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// The lane (its index).
    pub lane: usize,
    /// Engine nanoseconds it held the engine.
    pub ran_ns: u64,
    /// Whether its launch completed at the end of this stretch.
    pub completed: bool,
}

/// Whose turn it is on one GPU's compute engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Turn {
    /// The lane holding the engine, if any.
    current: Option<usize>,
    /// Engine nanoseconds left of its timeslice.
    slice_left_ns: u64,
}

impl Turn {
    /// Gives the engine for at most `budget_ns` to the lane whose turn it is among `count`
    /// lanes (`lane(i)` is lane `i`, `None` for a free slot): the current one while its
    /// timeslice lasts (or while nobody else waits), else the next ready one after it,
    /// round-robin. `None` when no lane is ready (the engine idles) or the budget is 0.
    pub fn step(
        &mut self,
        budget_ns: u64,
        count: usize,
        lane: impl Fn(usize) -> Option<Lane>,
    ) -> Option<Step> {
        if budget_ns == 0 || count == 0 {
            return None;
        }
        let ready = |i: usize| lane(i).filter(Lane::ready);
        let keep = self
            .current
            .filter(|&i| self.slice_left_ns > 0 && ready(i).is_some());
        let (index, this) = match keep {
            Some(i) => (i, ready(i)?),
            None => {
                // The next ready lane after the current one; the current one itself comes
                // last, so it runs again only when nobody else waits.
                let start = self.current.map_or(0, |c| c + 1);
                let i = (0..count)
                    .map(|k| (start + k) % count)
                    .find(|&i| ready(i).is_some())?;
                let this = ready(i)?;
                self.current = Some(i);
                self.slice_left_ns = this.timeslice_ns.max(1);
                (i, this)
            }
        };
        let ran_ns = budget_ns.min(this.pending_ns).min(self.slice_left_ns);
        self.slice_left_ns -= ran_ns;
        Some(Step {
            lane: index,
            ran_ns,
            completed: ran_ns == this.pending_ns,
        })
    }

    /// The lane holding the engine, if any.
    pub fn current(&self) -> Option<usize> {
        self.current
    }

    /// Ends the current lane's timeslice (a PREEMPT of its group, or its removal from the
    /// runlist): the next ready lane gets the engine at the next step.
    pub fn preempt(&mut self) {
        self.slice_left_ns = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs `lanes` that always have work (each launch `launch_ns`) for `total_ns` in steps
    /// of at most `tick_ns`; the engine time each received.
    fn saturate(lanes: &mut [Lane], launch_ns: u64, total_ns: u64, tick_ns: u64) -> Vec<u64> {
        let mut turn = Turn::default();
        let mut got = vec![0u64; lanes.len()];
        let mut left = total_ns;
        while left > 0 {
            let mut budget = left.min(tick_ns);
            left -= budget;
            while let Some(s) = turn.step(budget, lanes.len(), |i| lanes.get(i).copied()) {
                budget -= s.ran_ns;
                got[s.lane] += s.ran_ns;
                lanes[s.lane].pending_ns -= s.ran_ns;
                if s.completed {
                    lanes[s.lane].pending_ns = launch_ns;
                }
            }
        }
        got
    }

    fn lane(timeslice_us: u64) -> Lane {
        Lane {
            pending_ns: 0,
            runnable: true,
            timeslice_ns: timeslice_us * 1000,
        }
    }

    #[test]
    fn equal_timeslices_share_equally() {
        let mut lanes = [lane(1024), lane(1024)];
        for l in &mut lanes {
            l.pending_ns = 3_000_000;
        }
        let got = saturate(&mut lanes, 3_000_000, 1_000_000_000, 7_000_000);
        let diff = got[0].abs_diff(got[1]);
        assert!(diff <= 1_024_000, "{got:?}");
    }

    #[test]
    fn timeslices_set_the_shares() {
        let mut lanes = [lane(1000), lane(3000)];
        for l in &mut lanes {
            l.pending_ns = 2_000_000;
        }
        let got = saturate(&mut lanes, 2_000_000, 400_000_000, 5_000_000);
        assert_eq!(got[0] * 3, got[1], "{got:?}");
    }

    #[test]
    fn a_lane_off_the_runlist_gets_nothing_and_resumes_where_it_stopped() {
        let mut lanes = [lane(1024), lane(1024)];
        lanes[0].pending_ns = 5_000_000;
        lanes[1].pending_ns = 5_000_000;
        let mut turn = Turn::default();
        let first = turn.step(500_000, 2, |i| lanes.get(i).copied()).unwrap();
        assert_eq!((first.lane, first.ran_ns), (0, 500_000));
        lanes[0].pending_ns -= first.ran_ns;
        lanes[0].runnable = false;
        turn.preempt();
        for _ in 0..10 {
            let s = turn.step(1_000_000, 2, |i| lanes.get(i).copied()).unwrap();
            assert_eq!(s.lane, 1);
            lanes[1].pending_ns -= s.ran_ns;
            if s.completed {
                lanes[1].pending_ns = 5_000_000;
            }
        }
        lanes[0].runnable = true;
        lanes[1].runnable = false;
        let s = turn.step(10_000_000, 2, |i| lanes.get(i).copied()).unwrap();
        assert_eq!(s.lane, 0);
        assert_eq!(s.ran_ns, 1_024_000);
    }

    #[test]
    fn an_idle_engine_gives_nothing() {
        let lanes = [lane(1024), Lane::default()];
        let mut turn = Turn::default();
        assert_eq!(turn.step(1_000, 2, |i| lanes.get(i).copied()), None);
        assert_eq!(turn.step(1_000, 0, |_| None), None);
        assert_eq!(turn.step(0, 2, |i| lanes.get(i).copied()), None);
    }

    #[test]
    fn a_lone_lane_keeps_the_engine_past_its_timeslice() {
        let lanes = [lane(1), Lane::default(), lane(1)];
        let mut only = lanes;
        only[0].pending_ns = 10_000;
        let mut turn = Turn::default();
        let mut ran = 0;
        while let Some(s) = turn.step(10_000 - ran, 3, |i| only.get(i).copied()) {
            assert_eq!(s.lane, 0);
            ran += s.ran_ns;
            only[0].pending_ns -= s.ran_ns;
        }
        assert_eq!(ran, 10_000);
    }

    proptest! {
        /// Saturated lanes get engine time in proportion to their timeslices, within one
        /// timeslice each, whatever the launch length and the host's tick.
        #[test]
        fn shares_follow_timeslices(
            slices in proptest::collection::vec(100u64..5_000, 2..5),
            launch_us in 50u64..5_000,
            tick_us in 100u64..20_000,
        ) {
            let mut lanes: Vec<Lane> = slices.iter().map(|&s| lane(s)).collect();
            for l in &mut lanes {
                l.pending_ns = launch_us * 1000;
            }
            let sum: u64 = slices.iter().sum();
            let rounds = 200;
            let total = sum * 1000 * rounds;
            let got = saturate(&mut lanes, launch_us * 1000, total, tick_us * 1000);
            prop_assert_eq!(got.iter().sum::<u64>(), total);
            for (g, s) in got.iter().zip(&slices) {
                let want = s * 1000 * rounds;
                prop_assert!(g.abs_diff(want) <= 2 * s * 1000 + 2 * sum * 1000 / rounds,
                    "got {:?} for slices {:?}", got, slices);
            }
        }
    }
}
