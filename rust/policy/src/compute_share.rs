//! Compute limits per cgroup and GPU, in cgroup v2's style, and the schedule that holds a
//! GPU's channel groups to them with the driver's own controls.
//!
//! - `compute.max`: one `gpuN QUOTA PERIOD` line per GPU, in microseconds, as `cpu.max`
//!   (`gpu0 30000 100000` is 30% of GPU 0; `max` for no cap). A cap covers the cgroup and
//!   everything below it.
//! - `compute.weight`: one `gpuN WEIGHT` line per GPU, 1 to 10000 (default 100), as
//!   `cpu.weight`: how busy cgroups share what the caps leave.
//!
//! The schedule, recomputed as time passes (`fakegpu/nvidia/governor.rs` applies it):
//! each period of a GPU is laid out in windows, one per capped cgroup (a *domain*), a
//! nested cap's window inside its parent's, each as long as its share of the period. During
//! a domain's window its channel groups are on the runlist (GPFIFO_SCHEDULE) with long
//! timeslices, and the groups of every other domain are off it; the groups under no cap
//! stay on it with the shortest timeslice, so they take what a capped domain leaves idle
//! but barely preempt it. Outside every window the capped groups are off the runlist and
//! the others share the GPU by their weights' timeslices. A capped cgroup thus never holds
//! the GPU longer than its windows, whatever it submits and however (launches, graphs,
//! cooperative launches, raw GPFIFO entries): the engine does not run a group off its
//! runlist.

use super::ledger::MAX_GPUS;

/// A period when none is written, in us (as `cpu.max`).
pub const DEFAULT_PERIOD_US: u32 = 100_000;
/// The shortest period taken, in us: shorter ones would switch the runlist faster than
/// fakegpu can issue controls.
pub const MIN_PERIOD_US: u32 = 10_000;
/// The longest period taken, in us.
pub const MAX_PERIOD_US: u32 = 1_000_000;
/// The smallest quota taken, in us (as `cpu.max`).
pub const MIN_QUOTA_US: u32 = 1_000;
/// The weight of a cgroup with none written.
pub const DEFAULT_WEIGHT: u32 = 100;
/// The largest weight.
pub const MAX_WEIGHT: u32 = 10_000;
/// The timeslice of a group of the default weight: the RM's default (Volta and later).
pub const BASE_TIMESLICE_US: u64 = 1024;
/// How much longer a capped group's timeslice is during its window than its weight's.
pub const WINDOW_TIMESLICE_FACTOR: u64 = 8;
/// The timeslice of an uncapped group during a capped domain's window.
pub const YIELDING_TIMESLICE_US: u64 = 64;
/// Most capped domains one GPU's schedule lays out.
pub const MAX_DOMAINS: usize = 64;

/// One GPU's `compute.max`: a quota per period, or no cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComputeMax {
    /// Microseconds of GPU time per period (`None`: `max`, no cap).
    pub quota_us: Option<u32>,
    /// The period, in microseconds.
    pub period_us: u32,
}

impl Default for ComputeMax {
    fn default() -> Self {
        ComputeMax {
            quota_us: None,
            period_us: DEFAULT_PERIOD_US,
        }
    }
}

impl ComputeMax {
    /// The cap as parts per million of the GPU, if there is one.
    pub fn fraction_ppm(&self) -> Option<u32> {
        let q = u64::from(self.quota_us?);
        let p = u64::from(self.period_us.max(1));
        Some((q * 1_000_000 / p).min(1_000_000) as u32)
    }
}

/// One cgroup's compute limits and what was metered of them, per GPU slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compute {
    /// `compute.max` per GPU.
    pub max: [ComputeMax; MAX_GPUS],
    /// `compute.weight` per GPU (`None`: not written, the nearest ancestor's or 100).
    pub weight: [Option<u32>; MAX_GPUS],
    /// Nanoseconds the cgroup's channel groups were held off the runlist by fakegpu.
    pub throttled_ns: [u64; MAX_GPUS],
    /// Nanoseconds the GPU was busy with the cgroup's work, from the driver's samples
    /// (`gpu_time.rs`), this cgroup's and its descendants'.
    pub gpu_time_ns: [u64; MAX_GPUS],
    /// The same within the current share window.
    pub window_ns: [u64; MAX_GPUS],
    /// The share of the GPU over the last complete window, per mille (`None`: no window
    /// has completed since the cgroup had work).
    pub share_permille: [Option<u32>; MAX_GPUS],
    /// GPFIFO entries the engine consumed from the cgroup's channels (`submissions`), this
    /// cgroup's and its descendants'.
    pub submissions: [u64; MAX_GPUS],
}

impl Default for Compute {
    fn default() -> Self {
        Compute {
            max: [ComputeMax::default(); MAX_GPUS],
            weight: [None; MAX_GPUS],
            throttled_ns: [0; MAX_GPUS],
            gpu_time_ns: [0; MAX_GPUS],
            window_ns: [0; MAX_GPUS],
            share_permille: [None; MAX_GPUS],
            submissions: [0; MAX_GPUS],
        }
    }
}

/// Splits a write into its lines (newline- or comma-separated), trimmed, empty ones skipped.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
}

/// Parses the `gpuN` key of a line into a GPU slot.
fn slot(
    key: &str,
    gpus: usize,
    slot_of: &impl Fn(u32) -> Option<usize>,
) -> Result<usize, &'static str> {
    let minor: u32 = key
        .strip_prefix("gpu")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .ok_or("expected gpuN")?;
    slot_of(minor).filter(|&s| s < gpus).ok_or("no such GPU")
}

/// Parses a number of microseconds in `min..=max`.
fn micros(word: &str, min: u32, max: u32) -> Result<u32, &'static str> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected microseconds");
    }
    let n: u32 = word.parse().map_err(|_| "out of range")?;
    if n < min || n > max {
        return Err("out of range");
    }
    Ok(n)
}

/// Parses `QUOTA [PERIOD]` (`max` for no cap) from `words`.
fn parse_max(mut words: core::str::SplitWhitespace<'_>) -> Result<ComputeMax, &'static str> {
    let quota = words.next().ok_or("expected QUOTA [PERIOD]")?;
    let period_us = match words.next() {
        Some(p) => micros(p, MIN_PERIOD_US, MAX_PERIOD_US)?,
        None => DEFAULT_PERIOD_US,
    };
    if words.next().is_some() {
        return Err("expected QUOTA [PERIOD]");
    }
    let quota_us = match quota {
        "max" => None,
        q => {
            let q = micros(q, MIN_QUOTA_US, MAX_PERIOD_US)?;
            if q > period_us {
                return Err("quota longer than its period");
            }
            Some(q)
        }
    };
    Ok(ComputeMax {
        quota_us,
        period_us,
    })
}

/// Parses per-GPU lines (newline- or comma-separated): `gpuN VALUE...` lines, or one
/// `VALUE...` line for every GPU, each value's words parsed by `value`. Calls `set(slot,
/// value)` only once everything parsed.
fn parse_lines<T: Copy + Default>(
    text: &str,
    gpus: usize,
    slot_of: impl Fn(u32) -> Option<usize>,
    value: impl for<'a> Fn(core::str::SplitWhitespace<'a>) -> Result<T, &'static str>,
    mut set: impl FnMut(usize, T),
) -> Result<(), &'static str> {
    let mut pairs = [(0usize, T::default()); MAX_GPUS];
    let mut n = 0;
    for line in lines(text) {
        let mut words = line.split_whitespace();
        let first = words.next().ok_or("empty line")?;
        if !first.starts_with("gpu") {
            if n > 0 || lines(text).count() > 1 {
                return Err("a line without gpuN must be the only one");
            }
            let v = value(line.split_whitespace())?;
            for s in 0..gpus.min(MAX_GPUS) {
                set(s, v);
            }
            return Ok(());
        }
        let s = slot(first, gpus, &slot_of)?;
        *pairs.get_mut(n).ok_or("too many lines")? = (s, value(words)?);
        n += 1;
    }
    if n == 0 {
        return Err("expected gpuN and a value");
    }
    for &(s, v) in pairs.iter().take(n) {
        set(s, v);
    }
    Ok(())
}

/// Parses a write to `compute.max`: `gpuN QUOTA [PERIOD]` lines (newline- or
/// comma-separated; N the GPU's minor), or one `QUOTA [PERIOD]` for every GPU. QUOTA is
/// microseconds (at least [`MIN_QUOTA_US`], at most PERIOD) or `max`; PERIOD is
/// [`MIN_PERIOD_US`] to [`MAX_PERIOD_US`], [`DEFAULT_PERIOD_US`] if left out. Calls
/// `set(slot, value)` only once everything parsed.
pub fn parse_compute_max(
    text: &str,
    gpus: usize,
    slot_of: impl Fn(u32) -> Option<usize>,
    set: impl FnMut(usize, ComputeMax),
) -> Result<(), &'static str> {
    parse_lines(text, gpus, slot_of, parse_max, set)
}

/// Parses a weight, 1 to [`MAX_WEIGHT`], alone on its line.
fn weight(mut words: core::str::SplitWhitespace<'_>) -> Result<u32, &'static str> {
    let word = words.next().ok_or("expected a weight")?;
    if words.next().is_some() || word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a weight");
    }
    match word.parse::<u32>() {
        Ok(w) if (1..=MAX_WEIGHT).contains(&w) => Ok(w),
        _ => Err("weight out of range (1-10000)"),
    }
}

/// Parses a write to `compute.weight`: `gpuN WEIGHT` lines, or one `WEIGHT` for every GPU
/// (1 to [`MAX_WEIGHT`]). Calls `set(slot, weight)` only once everything parsed.
pub fn parse_compute_weight(
    text: &str,
    gpus: usize,
    slot_of: impl Fn(u32) -> Option<usize>,
    set: impl FnMut(usize, u32),
) -> Result<(), &'static str> {
    parse_lines(text, gpus, slot_of, weight, set)
}

/// A group's timeslice for `weight` outside any window, in us.
pub fn weight_timeslice_us(weight: u32) -> u64 {
    (BASE_TIMESLICE_US * u64::from(weight.clamp(1, MAX_WEIGHT)) / u64::from(DEFAULT_WEIGHT)).max(1)
}

/// A capped domain of one GPU: its share and the domain it nests in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Domain {
    /// Its cap, in parts per million of the GPU.
    pub fraction_ppm: u32,
    /// The index of the nearest capped domain above it, if any (it must come before it).
    pub parent: Option<usize>,
}

/// A domain's window in the period: `start..start + len` ns from the period's start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Its start, in ns from the period's start.
    pub start: u64,
    /// Its length, in ns (0: the domain gets no time this period).
    pub len: u64,
}

impl Window {
    fn contains(&self, t: u64) -> bool {
        t >= self.start && t - self.start < self.len
    }
}

/// Lays out the windows of `domains` in a period of `period_ns` (at most
/// [`MAX_PERIOD_US`]) into `windows` (one per domain, same order): top-level domains one after the other from the period's start,
/// each `fraction` of the period (all shortened alike if together they would overrun it),
/// and a nested domain's window the same way from its parent's start, inside the parent's.
pub fn lay_out(domains: &[Domain], period_ns: u64, windows: &mut [Window]) {
    let period_ns = period_ns.min(u64::from(MAX_PERIOD_US) * 1000);
    let n = domains.len().min(windows.len()).min(MAX_DOMAINS);
    // Each parent (or the whole period, `None`) lays its children out in turn.
    for parent in core::iter::once(None).chain((0..n).map(Some)) {
        let (base, room) = match parent {
            None => (0, period_ns),
            Some(p) => (windows[p].start, windows[p].len),
        };
        let children = || (0..n).filter(move |&i| domains[i].parent == parent && Some(i) != parent);
        // At most 1 s times 10^6 ppm, and 1 s squared below: no overflow (and no 128-bit
        // division, which the kernel lacks).
        let want =
            |i: usize| period_ns * u64::from(domains[i].fraction_ppm.min(1_000_000)) / 1_000_000;
        let total: u64 = children().map(want).fold(0, u64::saturating_add);
        let mut at = base;
        for i in children() {
            let len = if total > room {
                want(i).saturating_mul(room) / total.max(1)
            } else {
                want(i)
            };
            windows[i] = Window { start: at, len };
            at += len;
        }
    }
}

/// What a channel group is to do at a moment of the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether it is on the runlist.
    pub on: bool,
    /// Its timeslice, in us (when on).
    pub timeslice_us: u64,
}

/// What a channel group of domain `domain` (`None`: under no cap) with `weight` is to do at
/// `t` ns into the period, given the windows of every domain (nested after their parents).
pub fn decide(
    domains: &[Domain],
    windows: &[Window],
    domain: Option<usize>,
    weight: u32,
    t: u64,
) -> Decision {
    let n = domains.len().min(windows.len());
    // The deepest window holding `t`: one none of whose children holds it.
    let holding = |i: usize| windows[i].contains(t);
    let deepest = (0..n).find(|&i| {
        holding(i) && !(0..n).any(|c| domains[c].parent == Some(i) && c != i && holding(c))
    });
    match domain {
        None => Decision {
            on: true,
            timeslice_us: if deepest.is_some() {
                YIELDING_TIMESLICE_US
            } else {
                weight_timeslice_us(weight)
            },
        },
        Some(d) => Decision {
            on: deepest == Some(d),
            timeslice_us: weight_timeslice_us(weight) * WINDOW_TIMESLICE_FACTOR,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slot_of(minor: u32) -> Option<usize> {
        (minor < 2).then_some(minor as usize)
    }

    fn max_of(text: &str) -> Result<Vec<(usize, ComputeMax)>, &'static str> {
        let mut got = Vec::new();
        parse_compute_max(text, 2, slot_of, |s, v| got.push((s, v)))?;
        Ok(got)
    }

    #[test]
    fn compute_max_lines() {
        let cap = |q, p| ComputeMax {
            quota_us: Some(q),
            period_us: p,
        };
        assert_eq!(
            max_of("gpu0 30000 100000\n").unwrap(),
            vec![(0, cap(30000, 100000))]
        );
        assert_eq!(
            max_of("gpu1 5000\ngpu0 max").unwrap(),
            vec![(1, cap(5000, 100000)), (0, ComputeMax::default())]
        );
        assert_eq!(
            max_of("20000 50000").unwrap(),
            vec![(0, cap(20000, 50000)), (1, cap(20000, 50000))]
        );
        assert_eq!(max_of("gpu0 max 200000").unwrap()[0].1.period_us, 200000);
        for bad in [
            "",
            "\n",
            "gpu2 1000",
            "gpu0 999",
            "gpu0 200000 100000",
            "gpu0 1000 9999",
            "gpu0 1000 1000001",
            "gpu0 x",
            "gpu0 1000 100000 7",
            "30000\ngpu0 1000",
            "gpu0 -1",
            "gpux 1000",
            "gpu0",
        ] {
            assert!(max_of(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(cap(30000, 100000).fraction_ppm(), Some(300_000));
        assert_eq!(ComputeMax::default().fraction_ppm(), None);
    }

    #[test]
    fn compute_weight_lines() {
        let mut got = Vec::new();
        parse_compute_weight("gpu0 300\ngpu1 1", 2, slot_of, |s, w| got.push((s, w))).unwrap();
        assert_eq!(got, vec![(0, 300), (1, 1)]);
        got.clear();
        parse_compute_weight("50\n", 2, slot_of, |s, w| got.push((s, w))).unwrap();
        assert_eq!(got, vec![(0, 50), (1, 50)]);
        for bad in [
            "0", "10001", "gpu0", "gpu0 0", "gpu3 5", "5 5", "gpu0 5 5", "", "x",
        ] {
            assert!(
                parse_compute_weight(bad, 2, slot_of, |_, _| {}).is_err(),
                "{bad:?} parsed"
            );
        }
        assert_eq!(weight_timeslice_us(100), 1024);
        assert_eq!(weight_timeslice_us(300), 3072);
        assert_eq!(weight_timeslice_us(1), 10);
    }

    #[test]
    fn windows_nest_and_fit() {
        let domains = [
            Domain {
                fraction_ppm: 300_000,
                parent: None,
            },
            Domain {
                fraction_ppm: 100_000,
                parent: Some(0),
            },
            Domain {
                fraction_ppm: 200_000,
                parent: None,
            },
        ];
        let mut w = [Window::default(); 3];
        lay_out(&domains, 100_000, &mut w);
        assert_eq!(
            w,
            [
                Window {
                    start: 0,
                    len: 30_000
                },
                Window {
                    start: 0,
                    len: 10_000
                },
                Window {
                    start: 30_000,
                    len: 20_000
                },
            ]
        );
        // During the nested window only its groups run of the two; the parent's own
        // groups run in the rest of its window; uncapped groups yield during both.
        let at = |d, t| decide(&domains, &w, d, 100, t);
        assert!(at(Some(1), 5_000).on && !at(Some(0), 5_000).on);
        assert!(at(Some(0), 15_000).on && !at(Some(1), 15_000).on);
        assert!(!at(Some(2), 15_000).on && at(Some(2), 35_000).on);
        assert_eq!(at(None, 15_000).timeslice_us, YIELDING_TIMESLICE_US);
        assert_eq!(
            at(None, 60_000),
            Decision {
                on: true,
                timeslice_us: 1024
            }
        );
        assert!(!at(Some(0), 60_000).on && !at(Some(2), 60_000).on);
    }

    #[test]
    fn caps_past_the_period_are_shortened_alike() {
        let domains = [
            Domain {
                fraction_ppm: 800_000,
                parent: None,
            },
            Domain {
                fraction_ppm: 800_000,
                parent: None,
            },
        ];
        let mut w = [Window::default(); 2];
        lay_out(&domains, 1_000, &mut w);
        assert_eq!(w[0].len, 500);
        assert_eq!(
            w[1],
            Window {
                start: 500,
                len: 500
            }
        );
    }

    proptest! {
        /// Windows never overlap their siblings, stay inside their parent (or the period),
        /// and are never longer than their cap.
        #[test]
        fn windows_are_disjoint_and_within_caps(
            caps in proptest::collection::vec((1u32..1_000_000, 0usize..4), 1..12),
            period in 10_000_000u64..1_000_000_000,
        ) {
            let domains: Vec<Domain> = caps
                .iter()
                .enumerate()
                .map(|(i, &(f, p))| Domain {
                    fraction_ppm: f,
                    parent: (p < i).then_some(p),
                })
                .collect();
            let mut w = vec![Window::default(); domains.len()];
            lay_out(&domains, period, &mut w);
            for (i, d) in domains.iter().enumerate() {
                let cap = period * u64::from(d.fraction_ppm) / 1_000_000;
                prop_assert!(w[i].len <= cap);
                let (base, room) = d.parent.map_or((0, period), |p| (w[p].start, w[p].len));
                prop_assert!(w[i].start >= base && w[i].start + w[i].len <= base + room);
                for (j, e) in domains.iter().enumerate() {
                    if j != i && e.parent == d.parent && w[i].len > 0 && w[j].len > 0 {
                        prop_assert!(
                            w[i].start + w[i].len <= w[j].start || w[j].start + w[j].len <= w[i].start
                        );
                    }
                }
            }
            // At any moment at most one domain's groups are on the runlist.
            for k in 0..50 {
                let t = period * k / 50;
                let on = (0..domains.len())
                    .filter(|&d| decide(&domains, &w, Some(d), 100, t).on)
                    .count();
                prop_assert!(on <= 1);
            }
        }
    }
}
