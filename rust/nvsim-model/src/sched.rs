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

/// Changes of the runlist an object remembers until the engine's clock has passed them.
const CHANGES: usize = 16;

/// Whether a channel or group is on the runlist at each moment of the engine's clock. A
/// GPFIFO_SCHEDULE takes effect when the control is made, which may fall inside an engine
/// pass that has not handed out its time yet (the pass holds the runlists, and a busy pass
/// can take long): the changes are kept with their times, and the engine splits its time
/// at each (nvsim's `engine.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnRunlist {
    /// Before the first change kept.
    base: bool,
    /// The changes not yet passed by the engine, oldest first: (monotonic ns, on).
    changes: [(u64, bool); CHANGES],
    /// How many of `changes` are kept.
    len: usize,
    /// Time it spent on the runlist, counted up to `counted_to`.
    on_ns: u64,
    /// How far `on_ns` is counted (0: not yet).
    counted_to: u64,
}

impl OnRunlist {
    /// On the runlist, or off it, from the start.
    pub fn new(on: bool) -> Self {
        OnRunlist {
            base: on,
            changes: [(0, on); CHANGES],
            len: 0,
            on_ns: 0,
            counted_to: 0,
        }
    }

    /// Puts it on or off the runlist from `at_ns` on; changes the engine's clock
    /// (`engine_ns`) has passed are folded into the base first. (With all slots taken the
    /// oldest change is folded in early.)
    pub fn set(&mut self, on: bool, at_ns: u64, engine_ns: u64) {
        self.forget_before(engine_ns);
        if on == self.is_on() {
            return;
        }
        if self.len == CHANGES {
            let oldest = self.changes[0].0;
            self.forget_before(oldest);
        }
        // Times only grow: a change is never before the last one kept, nor before the time
        // the engine has already handed out.
        let last = self.len.checked_sub(1).map_or(0, |i| self.changes[i].0);
        self.changes[self.len] = (at_ns.max(last).max(engine_ns), on);
        self.len += 1;
    }

    /// Folds the changes at or before `t_ns` into the base, counting the time on the
    /// runlist up to `t_ns`.
    pub fn forget_before(&mut self, t_ns: u64) {
        if self.counted_to == 0 {
            self.counted_to = t_ns;
        }
        let passed = self.changes[..self.len]
            .iter()
            .take_while(|(at, _)| *at <= t_ns)
            .count();
        for &(at, on) in &self.changes[..passed] {
            if self.base && at > self.counted_to {
                self.on_ns += at - self.counted_to;
            }
            self.counted_to = self.counted_to.max(at);
            self.base = on;
        }
        if self.base && t_ns > self.counted_to {
            self.on_ns += t_ns - self.counted_to;
        }
        self.counted_to = self.counted_to.max(t_ns);
        if passed > 0 {
            self.changes.copy_within(passed..self.len, 0);
            self.len -= passed;
        }
    }

    /// Time it spent on the runlist as far as it was folded (ground truth for tests).
    pub fn on_ns(&self) -> u64 {
        self.on_ns
    }

    /// Whether it is on the runlist at `t_ns`.
    pub fn at(&self, t_ns: u64) -> bool {
        self.changes[..self.len]
            .iter()
            .take_while(|(at, _)| *at <= t_ns)
            .last()
            .map_or(self.base, |(_, on)| *on)
    }

    /// Whether it is on the runlist now.
    pub fn is_on(&self) -> bool {
        self.changes[..self.len]
            .last()
            .map_or(self.base, |(_, on)| *on)
    }

    /// When it next changes after `t_ns`, if it does.
    pub fn change_after(&self, t_ns: u64) -> Option<u64> {
        self.changes[..self.len]
            .iter()
            .map(|(at, _)| *at)
            .find(|&at| at > t_ns)
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

    #[test]
    fn runlist_changes_apply_at_their_times() {
        let mut r = OnRunlist::new(true);
        r.set(false, 100, 0);
        r.set(true, 130, 0);
        r.set(false, 200, 0);
        assert!(r.at(99) && !r.at(100) && !r.at(129) && r.at(130) && !r.at(250));
        assert_eq!(r.change_after(0), Some(100));
        assert_eq!(r.change_after(100), Some(130));
        assert_eq!(r.change_after(200), None);
        assert!(!r.is_on());
        // Setting what it already is changes nothing.
        r.set(false, 300, 0);
        assert_eq!(r.change_after(200), None);
        // Passed changes fold into the base.
        r.forget_before(150);
        assert!(r.at(0) && !r.at(200));
        assert_eq!(r.change_after(0), Some(200));
        // A change dated before the last one kept takes effect with it.
        r.set(true, 180, 150);
        assert!(r.at(199) && r.at(200) && r.is_on());
    }

    #[test]
    fn runlist_time_on_is_counted() {
        let mut r = OnRunlist::new(true);
        r.forget_before(1000);
        r.set(false, 1100, 1000);
        r.set(true, 1400, 1000);
        r.forget_before(2000);
        assert_eq!(r.on_ns(), 100 + 600);
    }

    #[test]
    fn runlist_changes_past_the_slots_fold_the_oldest() {
        let mut r = OnRunlist::new(true);
        for k in 0..40u64 {
            r.set(k % 2 == 1, 10 * (k + 1), 0);
        }
        // The last changes are kept exactly.
        assert!(r.is_on());
        assert!(!r.at(395) && r.at(400));
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
