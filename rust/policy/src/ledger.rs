//! The counters of one cgroup's entry, and charging them hierarchically: a charge goes to the
//! task's cgroup and to every ancestor with an entry, all or nothing, and is refused if it
//! would take any of them past its limit (as memcg's `memory.max`).
//!
//! Also the cgroup v2 file formats of those counters: nested-keyed lines per GPU (`gpu0 8G`),
//! `max` for no limit, K/M/G/T suffixes on write, bytes on read.

use core::fmt;

/// Most GPUs an entry counts (one slot per fronted NVIDIA GPU, in CARD_INFO order).
pub const MAX_GPUS: usize = 32;
/// A limit that is no limit (`max` in sysfs).
pub const UNLIMITED: u64 = u64::MAX;

/// One resource of one cgroup: what is charged, its limit, its high-water mark and how many
/// charges the limit refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    /// Charged now.
    pub current: u64,
    /// The limit ([`UNLIMITED`] for none).
    pub max: u64,
    /// The most ever charged at once.
    pub peak: u64,
    /// Charges refused because of this counter's limit.
    pub events: u64,
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            current: 0,
            max: UNLIMITED,
            peak: 0,
            events: 0,
        }
    }
}

impl Counter {
    fn fits(&self, amount: u64) -> bool {
        self.current
            .checked_add(amount)
            .is_some_and(|total| total <= self.max)
    }

    fn add(&mut self, amount: u64) {
        self.current = self.current.saturating_add(amount);
        self.peak = self.peak.max(self.current);
    }

    fn sub(&mut self, amount: u64) {
        self.current = self.current.saturating_sub(amount);
    }
}

/// What a charge is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// GPU memory of GPU slot `n`.
    Memory(usize),
    /// Channels (GPFIFO channels) of GPU slot `n`.
    Channels(usize),
    /// Channel groups (TSGs) of GPU slot `n` (counted, never limited).
    ChannelGroups(usize),
    /// Pinned host memory (counted, never limited).
    Pinned,
    /// Buffer objects of the DRM drivers fakegpu fronts, all together.
    Drm,
}

/// Everything an entry counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// GPU memory per GPU slot.
    pub memory: [Counter; MAX_GPUS],
    /// Channels per GPU slot.
    pub channels: [Counter; MAX_GPUS],
    /// Channel groups per GPU slot.
    pub channel_groups: [Counter; MAX_GPUS],
    /// Pinned host memory.
    pub pinned: Counter,
    /// DRM buffer objects.
    pub drm: Counter,
    /// DRM submissions made (a count; never goes down).
    pub submissions: u64,
    /// Submissions that had to wait for the rate limit.
    pub throttled: u64,
    /// The DRM submission-rate limit.
    pub submit_rate: super::rate::TokenBucket,
}

impl Usage {
    /// The counter of `r`, if `r` names a GPU slot that exists.
    pub fn counter(&self, r: Resource) -> Option<&Counter> {
        match r {
            Resource::Memory(g) => self.memory.get(g),
            Resource::Channels(g) => self.channels.get(g),
            Resource::ChannelGroups(g) => self.channel_groups.get(g),
            Resource::Pinned => Some(&self.pinned),
            Resource::Drm => Some(&self.drm),
        }
    }

    /// The same, writable.
    pub fn counter_mut(&mut self, r: Resource) -> Option<&mut Counter> {
        match r {
            Resource::Memory(g) => self.memory.get_mut(g),
            Resource::Channels(g) => self.channels.get_mut(g),
            Resource::ChannelGroups(g) => self.channel_groups.get_mut(g),
            Resource::Pinned => Some(&mut self.pinned),
            Resource::Drm => Some(&mut self.drm),
        }
    }

    /// Whether nothing is charged (the entry of a removed cgroup may then go).
    pub fn is_idle(&self) -> bool {
        self.pinned.current == 0
            && self.drm.current == 0
            && self
                .memory
                .iter()
                .chain(self.channels.iter())
                .chain(self.channel_groups.iter())
                .all(|c| c.current == 0)
    }
}

/// Whether `amount` more of `r` fits under this level's limit.
pub fn can_charge(level: &Usage, r: Resource, amount: u64) -> bool {
    level.counter(r).is_some_and(|c| c.fits(amount))
}

/// Charges one level (past its limit if need be: check with [`can_charge`] first).
pub fn charge_one(level: &mut Usage, r: Resource, amount: u64) {
    if let Some(c) = level.counter_mut(r) {
        c.add(amount);
    }
}

/// Takes a charge back from one level (never below zero).
pub fn uncharge_one(level: &mut Usage, r: Resource, amount: u64) {
    if let Some(c) = level.counter_mut(r) {
        c.sub(amount);
    }
}

/// Counts a charge this level's limit refused.
pub fn count_refusal(level: &mut Usage, r: Resource) {
    if let Some(c) = level.counter_mut(r) {
        c.events = c.events.saturating_add(1);
    }
}

/// The levels a charge goes to: the task's cgroup and its ancestors that have entries,
/// wherever they are kept (the module keeps them in a tree keyed by cgroup id).
pub trait Levels {
    /// How many levels.
    fn count(&self) -> usize;
    /// Level `i`, if it still exists.
    fn level(&mut self, i: usize) -> Option<&mut Usage>;
}

impl Levels for [&mut Usage] {
    fn count(&self) -> usize {
        self.len()
    }
    fn level(&mut self, i: usize) -> Option<&mut Usage> {
        self.get_mut(i).map(|u| &mut **u)
    }
}

/// Charges `amount` of `r` to every level, or to none: if a level would pass its limit,
/// that level's `events` goes up and its index is returned. `force` charges even past limits
/// (an allocation that the driver made larger than asked, which fakegpu could not undo).
pub fn try_charge<L: Levels + ?Sized>(
    levels: &mut L,
    r: Resource,
    amount: u64,
    force: bool,
) -> Result<(), usize> {
    if !force {
        let over = (0..levels.count())
            .find(|&i| levels.level(i).is_some_and(|u| !can_charge(u, r, amount)));
        if let Some(i) = over {
            if let Some(u) = levels.level(i) {
                count_refusal(u, r);
            }
            return Err(i);
        }
    }
    for_each(levels, |u| charge_one(u, r, amount));
    Ok(())
}

/// Takes back a charge from every level it was made to (never below zero).
pub fn uncharge<L: Levels + ?Sized>(levels: &mut L, r: Resource, amount: u64) {
    for_each(levels, |u| uncharge_one(u, r, amount));
}

/// Calls `f` on every level that still exists.
pub fn for_each<L: Levels + ?Sized>(levels: &mut L, mut f: impl FnMut(&mut Usage)) {
    for i in 0..levels.count() {
        if let Some(u) = levels.level(i) {
            f(u);
        }
    }
}

/// Parses a size as written to `memory.max`: bytes, or a number with a K, M, G or T suffix
/// (powers of 1024), or `max`.
pub fn parse_size(text: &str) -> Result<u64, &'static str> {
    if text == "max" {
        return Ok(UNLIMITED);
    }
    let shift = match text.as_bytes().last() {
        Some(b'K' | b'k') => 10,
        Some(b'M' | b'm') => 20,
        Some(b'G' | b'g') => 30,
        Some(b'T' | b't') => 40,
        _ => 0,
    };
    // The suffix is one ASCII byte, so this cuts at a character boundary.
    let digits = if shift == 0 {
        text
    } else {
        text.get(..text.len() - 1).unwrap_or("")
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a size such as 64M, 8G or max");
    }
    let n: u64 = digits.parse().map_err(|_| "size out of range")?;
    n.checked_mul(1u64 << shift).ok_or("size out of range")
}

/// Parses a write to a per-GPU limit file: one or more `gpuN VALUE` pairs (separated by
/// spaces, newlines or commas; N is the GPU's minor, as in `/dev/nvidiaN`), or a single
/// `VALUE` for every GPU. `slot_of` maps a minor to its counter slot, `gpus` is how many
/// slots exist, `count` parses a value (a size, or a plain number). Calls `set(slot, value)`
/// only once everything parsed.
pub fn parse_per_gpu(
    text: &str,
    gpus: usize,
    slot_of: impl Fn(u32) -> Option<usize>,
    count: fn(&str) -> Result<u64, &'static str>,
    mut set: impl FnMut(usize, u64),
) -> Result<(), &'static str> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let mut words = text.split([' ', '\n', ',']).filter(|w| !w.is_empty());
    let mut pairs = [(0usize, 0u64); MAX_GPUS];
    let mut n = 0;
    let first = words.next().ok_or("expected gpuN VALUE or VALUE")?;
    if !first.starts_with("gpu") {
        let value = count(first)?;
        if words.next().is_some() {
            return Err("expected gpuN VALUE or VALUE");
        }
        for slot in 0..gpus.min(MAX_GPUS) {
            set(slot, value);
        }
        return Ok(());
    }
    let mut key = Some(first);
    while let Some(k) = key {
        let minor: u32 = k
            .strip_prefix("gpu")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or("expected gpuN VALUE")?;
        let slot = slot_of(minor).filter(|&s| s < gpus).ok_or("no such GPU")?;
        let value = count(words.next().ok_or("expected gpuN VALUE")?)?;
        *pairs.get_mut(n).ok_or("too many pairs")? = (slot, value);
        n += 1;
        key = words.next();
    }
    for &(slot, value) in pairs.iter().take(n) {
        set(slot, value);
    }
    Ok(())
}

/// Parses a count such as `channels.max` takes: a number or `max`.
pub fn parse_count(text: &str) -> Result<u64, &'static str> {
    if text == "max" {
        return Ok(UNLIMITED);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a number or max");
    }
    text.parse().map_err(|_| "number out of range")
}

/// A value as sysfs shows it: `max` for [`UNLIMITED`], else the number.
pub struct Shown(pub u64);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == UNLIMITED {
            f.write_str("max")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ident(minor: u32) -> Option<usize> {
        Some(minor as usize)
    }

    fn limited(max: u64) -> Usage {
        let mut u = Usage::default();
        u.memory[0].max = max;
        u
    }

    #[test]
    fn charges_every_level_or_none() {
        let (mut leaf, mut parent) = (limited(UNLIMITED), limited(100));
        let r = Resource::Memory(0);
        assert_eq!(
            try_charge(&mut [&mut leaf, &mut parent][..], r, 60, false),
            Ok(())
        );
        assert_eq!(
            try_charge(&mut [&mut leaf, &mut parent][..], r, 50, false),
            Err(1)
        );
        assert_eq!((leaf.memory[0].current, parent.memory[0].current), (60, 60));
        assert_eq!((leaf.memory[0].events, parent.memory[0].events), (0, 1));
        assert_eq!(
            try_charge(&mut [&mut leaf, &mut parent][..], r, 40, false),
            Ok(())
        );
        assert_eq!(parent.memory[0].peak, 100);
        uncharge(&mut [&mut leaf, &mut parent][..], r, 70);
        assert_eq!(parent.memory[0].current, 30);
        assert_eq!(parent.memory[0].peak, 100);
        uncharge(&mut [&mut leaf][..], r, 1000);
        assert_eq!(leaf.memory[0].current, 0, "never below zero");
        assert!(try_charge(&mut [&mut leaf][..], Resource::Memory(MAX_GPUS), 1, false).is_err());
        assert_eq!(
            try_charge(&mut [&mut leaf, &mut parent][..], r, 500, true),
            Ok(())
        );
        assert_eq!(parent.memory[0].current, 530, "forced past the limit");
    }

    #[test]
    fn parses_sizes_and_limits() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("max"), Ok(UNLIMITED));
        assert_eq!(parse_size("1t"), Ok(1 << 40));
        for bad in [
            "",
            "M",
            "-1",
            "1.5G",
            "1GB",
            "0x10",
            "99999999999999999999",
            "20000000T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
        let mut got = vec![];
        parse_per_gpu("gpu1 8G gpu0 max\n", 2, ident, parse_size, |s, v| {
            got.push((s, v))
        })
        .unwrap();
        assert_eq!(got, [(1, 8 << 30), (0, UNLIMITED)]);
        got.clear();
        parse_per_gpu("2G", 2, ident, parse_size, |s, v| got.push((s, v))).unwrap();
        assert_eq!(got, [(0, 2 << 30), (1, 2 << 30)]);
        for bad in [
            "",
            "gpu2 1G",
            "gpu0",
            "gpu0 1G gpu1",
            "gpux 1G",
            "1G 2G",
            "gpu 1G",
            "gpu0 -1",
        ] {
            let mut calls = 0;
            assert!(
                parse_per_gpu(bad, 2, ident, parse_size, |_, _| calls += 1).is_err(),
                "{bad:?} accepted"
            );
            assert_eq!(calls, 0, "{bad:?} changed something");
        }
        assert_eq!(parse_count("4"), Ok(4));
        assert!(parse_count("4K").is_err());
        assert_eq!(Shown(UNLIMITED).to_string(), "max");
    }

    proptest! {
        /// Whatever sequence of charges and uncharges, no level passes its limit unless
        /// forced, and current always equals the sum of what was charged and not taken back.
        #[test]
        fn limits_hold(ops in proptest::collection::vec((0u64..200, any::<bool>(), 0usize..2), 0..60)) {
            let (mut leaf, mut parent) = (limited(300), limited(250));
            let mut held: Vec<u64> = vec![];
            let r = Resource::Memory(0);
            for (amount, free, _) in ops {
                if free && !held.is_empty() {
                    let a = held.remove(0);
                    uncharge(&mut [&mut leaf, &mut parent][..], r, a);
                } else if try_charge(&mut [&mut leaf, &mut parent][..], r, amount, false).is_ok() {
                    held.push(amount);
                }
                let sum: u64 = held.iter().sum();
                prop_assert_eq!(leaf.memory[0].current, sum);
                prop_assert_eq!(parent.memory[0].current, sum);
                prop_assert!(sum <= 250);
                prop_assert!(parent.memory[0].peak >= sum);
            }
        }

        #[test]
        fn parsers_never_panic(text in "[0-9a-zA-Z ,\n]{0,40}") {
            let _ = parse_size(&text);
            let _ = parse_count(&text);
            let _ = parse_per_gpu(&text, 3, ident, parse_size, |s, _| assert!(s < 3));
        }
    }
}
