// SPDX-License-Identifier: GPL-2.0

//! The NVIDIA personality's files in an entry (`/sys/kernel/fakegpu/cgroups/<id>/`), in
//! cgroup v2's formats: one `gpuN VALUE` line per GPU (N the minor of `/dev/nvidiaN`), `max`
//! for no limit, bytes on read, K/M/G/T suffixes on write.
//!
//! | file | read | write |
//! |---|---|---|
//! | `memory.max` | per GPU: the limit of GPU memory | `gpuN SIZE ...` or `SIZE` for all |
//! | `memory.current`, `memory.peak` | per GPU: charged now, most ever | - |
//! | `memory.events` | per GPU: `gpuN max=N`, allocations the limit refused | - |
//! | `pinned.current` | pinned host memory charged | - |
//! | `channels.max` | per GPU: the limit of channels | `gpuN COUNT ...` or `COUNT` |
//! | `channels.current` | per GPU: channels held | - |
//! | `channel_groups.current` | per GPU: channel groups (TSGs) held, counted only | - |
//! | `uvm.policy` | `allow` or `deny` managed (UVM) memory | the same |
//! | `capabilities` | what the cgroup may use the driver for: `compute,utility,graphics,video` or some, `none` | a list, `all` or `none` |
//! | `processes` | `own`: GPU process lists show the cgroup's processes; `all`: every process | the same |
//! | `compute.max` | per GPU: `gpuN QUOTA PERIOD` in us, `max` for no cap | `gpuN QUOTA [PERIOD] ...` or `QUOTA [PERIOD]` |
//! | `compute.weight` | per GPU: `gpuN WEIGHT` (100 if none is written) | `gpuN WEIGHT ...` or `WEIGHT` (1-10000) |
//! | `compute.stat` | per GPU: `gpuN gpu_time_usec=N gpu_share_pct=P throttled_usec=N submissions=N`: the GPU time of the cgroup's work (and its descendants'), from the driver's utilisation samples; its share of the GPU over the last 10 s window (`-` before the first); the time fakegpu held its channel groups off the GPU; the GPFIFO entries the engine consumed from its channels, from their GPGet | - |

use crate::abi::nv_frontend::NvIoctlCardInfo;
use crate::policy::cgroup_entry::EntryState;
use crate::policy::compute_share::{self, Compute, DEFAULT_WEIGHT};
use crate::policy::ledger::{self, Counter, Shown};
use crate::policy::nv_caps::Capabilities;
use crate::proxy::page::Page;
use crate::proxy::personality::CgroupFile;
use core::fmt::{self, Write};
use kernel::prelude::*;

/// Writes one `gpuN VALUE` line per GPU slot.
fn per_gpu(
    out: &mut Page<'_>,
    cards: &[NvIoctlCardInfo],
    counters: &[Counter],
    value: impl Fn(&Counter) -> u64,
) -> fmt::Result {
    for (card, c) in cards.iter().zip(counters) {
        writeln!(out, "gpu{} {}", card.minor_number, Shown(value(c)))?;
    }
    Ok(())
}

/// The personality's files, in every entry's directory.
pub(super) static FILES: [CgroupFile; 14] = [
    CgroupFile {
        name: c"memory.max",
        writable: true,
    },
    CgroupFile {
        name: c"memory.current",
        writable: false,
    },
    CgroupFile {
        name: c"memory.peak",
        writable: false,
    },
    CgroupFile {
        name: c"memory.events",
        writable: false,
    },
    CgroupFile {
        name: c"pinned.current",
        writable: false,
    },
    CgroupFile {
        name: c"channels.max",
        writable: true,
    },
    CgroupFile {
        name: c"channels.current",
        writable: false,
    },
    CgroupFile {
        name: c"channel_groups.current",
        writable: false,
    },
    CgroupFile {
        name: c"uvm.policy",
        writable: true,
    },
    CgroupFile {
        name: c"capabilities",
        writable: true,
    },
    CgroupFile {
        name: c"processes",
        writable: true,
    },
    CgroupFile {
        name: c"compute.max",
        writable: true,
    },
    CgroupFile {
        name: c"compute.weight",
        writable: true,
    },
    CgroupFile {
        name: c"compute.stat",
        writable: false,
    },
];

/// Shows file `attr` of `entry` (GPU slots are the order of `cards`); `None` if the file is
/// not the personality's.
pub(super) fn show(
    entry: &EntryState,
    attr: &[u8],
    cards: &[NvIoctlCardInfo],
    out: &mut Page<'_>,
) -> Option<Result> {
    let u = &entry.usage;
    let shown = match attr {
        b"memory.max" => per_gpu(out, cards, &u.memory, |c| c.max),
        b"memory.current" => per_gpu(out, cards, &u.memory, |c| c.current),
        b"memory.peak" => per_gpu(out, cards, &u.memory, |c| c.peak),
        b"memory.events" => cards
            .iter()
            .zip(u.memory.iter())
            .try_for_each(|(card, c)| writeln!(out, "gpu{} max={}", card.minor_number, c.events)),
        b"pinned.current" => writeln!(out, "{}", u.pinned.current),
        b"channels.max" => per_gpu(out, cards, &u.channels, |c| c.max),
        b"channels.current" => per_gpu(out, cards, &u.channels, |c| c.current),
        b"channel_groups.current" => per_gpu(out, cards, &u.channel_groups, |c| c.current),
        b"uvm.policy" => writeln!(out, "{}", if entry.uvm_deny { "deny" } else { "allow" }),
        b"capabilities" => writeln!(out, "{}", entry.capabilities),
        b"processes" => writeln!(out, "{}", if entry.all_processes { "all" } else { "own" }),
        b"compute.max" | b"compute.weight" | b"compute.stat" => {
            show_compute(&entry.compute, attr, cards, out)
        }
        _ => return None,
    };
    Some(shown.map_err(|_| EINVAL))
}

/// Shows a `compute.*` file: one line per GPU.
fn show_compute(
    c: &Compute,
    attr: &[u8],
    cards: &[NvIoctlCardInfo],
    out: &mut Page<'_>,
) -> fmt::Result {
    for (slot, card) in cards.iter().enumerate() {
        let gpu = card.minor_number;
        match attr {
            b"compute.max" => {
                let m = c.max.get(slot).copied().unwrap_or_default();
                match m.quota_us {
                    Some(q) => writeln!(out, "gpu{} {} {}", gpu, q, m.period_us)?,
                    None => writeln!(out, "gpu{} max {}", gpu, m.period_us)?,
                }
            }
            b"compute.weight" => {
                let w = c.weight.get(slot).copied().flatten();
                writeln!(out, "gpu{} {}", gpu, w.unwrap_or(DEFAULT_WEIGHT))?
            }
            _ => {
                let at = |v: &[u64; crate::policy::ledger::MAX_GPUS]| v.get(slot).copied();
                write!(
                    out,
                    "gpu{} gpu_time_usec={} gpu_share_pct=",
                    gpu,
                    at(&c.gpu_time_ns).unwrap_or(0) / 1000
                )?;
                match c.share_permille.get(slot).copied().flatten() {
                    Some(p) => write!(out, "{}.{}", p / 10, p % 10)?,
                    None => write!(out, "-")?,
                }
                writeln!(
                    out,
                    " throttled_usec={} submissions={}",
                    at(&c.throttled_ns).unwrap_or(0) / 1000,
                    at(&c.submissions).unwrap_or(0)
                )?
            }
        }
    }
    Ok(())
}

/// Stores a two-way setting written as one of `words` (`[off, on]`) into `on`; anything else
/// is EINVAL and changes nothing.
fn one_of(text: &str, words: [&str; 2], on: &mut bool) -> Result {
    let word = text.strip_suffix('\n').unwrap_or(text);
    match words.iter().position(|w| *w == word) {
        Some(i) => {
            *on = i == 1;
            Ok(())
        }
        None => Err(EINVAL),
    }
}

/// Whether file `attr` sets a limit on what the meter charges (`memory.max`,
/// `channels.max`).
pub(super) fn is_limit(attr: &[u8]) -> bool {
    matches!(
        attr,
        b"memory.max" | b"channels.max" | b"compute.max" | b"compute.weight"
    )
}

/// Stores a write to file `attr` of `entry`; a bad write changes nothing (EINVAL); `None`
/// if the file is not the personality's.
pub(super) fn store(
    entry: &mut EntryState,
    attr: &[u8],
    text: &str,
    cards: &[NvIoctlCardInfo],
) -> Option<Result> {
    let slot_of = |minor: u32| cards.iter().position(|c| c.minor_number == minor);
    let (counters, parse) = match attr {
        b"uvm.policy" => return Some(one_of(text, ["allow", "deny"], &mut entry.uvm_deny)),
        b"capabilities" => {
            return Some(match Capabilities::parse(text) {
                Ok(caps) => {
                    entry.capabilities = caps;
                    Ok(())
                }
                Err(_) => Err(EINVAL),
            });
        }
        b"processes" => return Some(one_of(text, ["own", "all"], &mut entry.all_processes)),
        // Limits change live: the governor's next pass applies them.
        b"compute.max" => {
            let max = &mut entry.compute.max;
            let stored = compute_share::parse_compute_max(text, cards.len(), slot_of, |s, m| {
                if let Some(slot) = max.get_mut(s) {
                    *slot = m;
                }
            });
            return Some(stored.map_err(|_| EINVAL));
        }
        b"compute.weight" => {
            let weight = &mut entry.compute.weight;
            let stored = compute_share::parse_compute_weight(text, cards.len(), slot_of, |s, w| {
                if let Some(slot) = weight.get_mut(s) {
                    *slot = Some(w);
                }
            });
            return Some(stored.map_err(|_| EINVAL));
        }
        b"memory.max" => (&mut entry.usage.memory, ledger::parse_size as fn(&str) -> _),
        b"channels.max" => (
            &mut entry.usage.channels,
            ledger::parse_count as fn(&str) -> _,
        ),
        _ => return None,
    };
    // Limits change live; lowering one below what is charged only refuses new charges.
    let stored = ledger::parse_per_gpu(text, cards.len(), slot_of, parse, |slot, max| {
        if let Some(c) = counters.get_mut(slot) {
            c.max = max;
        }
    });
    Some(stored.map_err(|_| EINVAL))
}
