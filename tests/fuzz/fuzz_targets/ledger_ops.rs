//! The ledger as fakegpu drives it: charges and uncharges of any resource on a chain of
//! levels (a cgroup and its ancestors), with limits set and changed between them. Checked
//! against a model: a charge lands on every level or none, never passes a limit unless
//! forced, peaks never fall, and once everything charged is uncharged every level is idle.
#![no_main]

use policy::ledger::{self, Resource, Usage, MAX_GPUS, UNLIMITED};
use libfuzzer_sys::fuzz_target;

const LEVELS: usize = 3;

fn resource(b: u8) -> Resource {
    let gpu = usize::from(b >> 3) % (MAX_GPUS + 2);
    match b % 5 {
        0 => Resource::Memory(gpu),
        1 => Resource::Channels(gpu),
        2 => Resource::ChannelGroups(gpu),
        3 => Resource::Pinned,
        _ => Resource::Drm,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut usage = [Usage::default(), Usage::default(), Usage::default()];
    // What is charged, to uncharge at the end: (resource, amount).
    let mut held: Vec<(Resource, u64)> = Vec::new();
    for op in data.chunks_exact(4) {
        let r = resource(op[1]);
        let amount = u64::from(u16::from_le_bytes([op[2], op[3]]));
        let before: Vec<u64> = usage
            .iter()
            .map(|u| u.counter(r).map_or(0, |c| c.current))
            .collect();
        match op[0] % 4 {
            0 | 1 => {
                let force = op[0] % 4 == 1;
                let mut levels: Vec<&mut Usage> = usage.iter_mut().collect();
                let r2 = ledger::try_charge(levels.as_mut_slice(), r, amount, force);
                let after: Vec<u64> = usage
                    .iter()
                    .map(|u| u.counter(r).map_or(0, |c| c.current))
                    .collect();
                match r2 {
                    Ok(()) => {
                        held.push((r, amount));
                        for (i, u) in usage.iter().enumerate() {
                            if let Some(c) = u.counter(r) {
                                assert_eq!(c.current, before[i] + amount);
                                assert!(force || c.current <= c.max);
                                assert!(c.peak >= c.current);
                            }
                        }
                    }
                    Err(i) => {
                        assert!(!force && i < LEVELS);
                        assert_eq!(before, after, "a refused charge changed a level");
                    }
                }
            }
            2 => {
                if let Some(i) = usize::from(op[1]).checked_rem(held.len().max(1)) {
                    if i < held.len() {
                        let (r, amount) = held.swap_remove(i);
                        let mut levels: Vec<&mut Usage> = usage.iter_mut().collect();
                        ledger::uncharge(levels.as_mut_slice(), r, amount);
                    }
                }
            }
            _ => {
                let level = usize::from(op[2]) % LEVELS;
                let max = if op[3] == 0xff { UNLIMITED } else { amount };
                if let Some(c) = usage[level].counter_mut(r) {
                    c.max = max;
                }
            }
        }
    }
    for (r, amount) in held.drain(..) {
        let mut levels: Vec<&mut Usage> = usage.iter_mut().collect();
        ledger::uncharge(levels.as_mut_slice(), r, amount);
    }
    for u in &usage {
        assert!(u.is_idle(), "a level still holds charges");
    }
});
