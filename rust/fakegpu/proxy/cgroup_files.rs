// SPDX-License-Identifier: GPL-2.0

//! The files of an entry in `/sys/kernel/fakegpu/cgroups/<id>/` (other than `path`), in
//! cgroup v2's formats: one `gpuN VALUE` line per GPU (N the minor of `/dev/nvidiaN`), `max`
//! for no limit, bytes on read, K/M/G/T suffixes on write.
//!
//! | file | read | write |
//! |---|---|---|
//! | `gpus` | the GPUs the cgroup may see | `all`, `none`, `0,2-3` |
//! | `memory.max` | per GPU: the limit of GPU memory | `gpuN SIZE ...` or `SIZE` for all |
//! | `memory.current`, `memory.peak` | per GPU: charged now, most ever | - |
//! | `memory.events` | per GPU: `gpuN max=N`, allocations the limit refused | - |
//! | `pinned.current` | pinned host memory charged | - |
//! | `channels.max` | per GPU: the limit of channels | `gpuN COUNT ...` or `COUNT` |
//! | `channels.current` | per GPU: channels held | - |
//! | `channel_groups.current` | per GPU: channel groups (TSGs) held, counted only | - |
//! | `uvm.policy` | `allow` or `deny` managed (UVM) memory | the same |
//! | `drm.memory.max` | the limit of DRM buffer objects, all DRM devices together | `SIZE` |
//! | `drm.memory.current`, `.peak` | DRM buffer objects charged now, most ever | - |
//! | `drm.memory.events` | `max N`: buffer creations the limit refused | - |
//! | `submissions` | DRM submissions made | - |
//! | `submissions.max_rate` | submissions per second allowed (`max`: no limit) | `N` or `max` |
//! | `submissions.throttled` | submissions that waited for the rate limit | - |

use crate::cgroups::Entry;
use crate::policy::gpu_set::Visibility;
use crate::policy::ledger::{self, Counter, Shown};
use crate::abi::nv_frontend::NvIoctlCardInfo;
use crate::policy::rate::TokenBucket;
use core::fmt::{self, Write};
use kernel::prelude::*;

/// A page being filled by a show callback.
pub(crate) struct Page<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Page<'a> {
    /// An empty page over `buf`.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Page { buf, len: 0 }
    }

    /// Bytes written.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Write for Page<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

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

/// Shows file `attr` of `entry` (GPU slots are the order of `cards`).
pub(crate) fn show(
    entry: &Entry,
    attr: &[u8],
    cards: &[NvIoctlCardInfo],
    out: &mut Page<'_>,
) -> Result {
    let u = &entry.usage;
    match attr {
        b"gpus" => writeln!(out, "{}", entry.gpus),
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
        b"drm.memory.max" => writeln!(out, "{}", Shown(u.drm.max)),
        b"drm.memory.current" => writeln!(out, "{}", u.drm.current),
        b"drm.memory.peak" => writeln!(out, "{}", u.drm.peak),
        b"drm.memory.events" => writeln!(out, "max {}", u.drm.events),
        b"submissions" => writeln!(out, "{}", u.submissions),
        b"submissions.throttled" => writeln!(out, "{}", u.throttled),
        b"submissions.max_rate" => match u.submit_rate.rate {
            0 => writeln!(out, "max"),
            rate => writeln!(out, "{}", rate),
        },
        _ => return Err(EINVAL),
    }
    .map_err(|_| EINVAL)
}

/// Stores a write to file `attr` of `entry`; a bad write changes nothing (EINVAL).
pub(crate) fn store(
    entry: &mut Entry,
    attr: &[u8],
    text: &str,
    cards: &[NvIoctlCardInfo],
) -> Result {
    let slot_of = |minor: u32| cards.iter().position(|c| c.minor_number == minor);
    let counters = match attr {
        b"gpus" => {
            entry.gpus = Visibility::parse(text).map_err(|_| EINVAL)?;
            return Ok(());
        }
        b"uvm.policy" => {
            entry.uvm_deny = match text.strip_suffix('\n').unwrap_or(text) {
                "allow" => false,
                "deny" => true,
                _ => return Err(EINVAL),
            };
            return Ok(());
        }
        b"drm.memory.max" => {
            let text = text.strip_suffix('\n').unwrap_or(text);
            entry.usage.drm.max = ledger::parse_size(text).map_err(|_| EINVAL)?;
            return Ok(());
        }
        b"submissions.max_rate" => {
            let text = text.strip_suffix('\n').unwrap_or(text);
            let rate = match ledger::parse_count(text).map_err(|_| EINVAL)? {
                ledger::UNLIMITED => 0,
                0 => return Err(EINVAL),
                n => n,
            };
            entry.usage.submit_rate = TokenBucket::new(rate, crate::drm_meter::now_ns());
            return Ok(());
        }
        b"memory.max" => (&mut entry.usage.memory, ledger::parse_size as fn(&str) -> _),
        b"channels.max" => (
            &mut entry.usage.channels,
            ledger::parse_count as fn(&str) -> _,
        ),
        _ => return Err(EINVAL),
    };
    let (counters, parse) = counters;
    // Limits change live; lowering one below what is charged only refuses new charges.
    ledger::parse_per_gpu(text, cards.len(), slot_of, parse, |slot, max| {
        if let Some(c) = counters.get_mut(slot) {
            c.max = max;
        }
    })
    .map_err(|_| EINVAL)
}
