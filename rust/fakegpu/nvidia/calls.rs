// SPDX-License-Identifier: GPL-2.0

//! How many NVIDIA calls took each route, for `/sys/kernel/fakegpu/calls`: forwarded in the
//! caller's context, made in the caller's worker in its own memory, made on fakegpu's private
//! copy (the metered calls, limit refusals included, and the fd-carrying calls that need no
//! caller memory), or refused before the driver by the filter. The fuzzer prints them, so
//! that cheap refusals cannot pass for load.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

/// A route a call took.
#[derive(Clone, Copy)]
pub(crate) enum Route {
    /// Forwarded in the caller's context.
    Forwarded,
    /// Made in the caller's worker, on the caller's memory.
    Worker,
    /// Made on fakegpu's private copy of the parameters.
    Private,
    /// Refused before the driver.
    Refused,
}

/// The counts, indexed by [`Route`].
static COUNTS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
/// The counts' names, in the same order.
const NAMES: [&str; 4] = ["forwarded", "worker", "private", "refused"];

/// Counts one call that took `route`.
pub(crate) fn count(route: Route) {
    if let Some(c) = COUNTS.get(route as usize) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Distinct unknown controls counted one by one; later ones share the `other` count.
const UNKNOWN_SLOTS: usize = 32;
/// Slot `i`: a control fakegpu does not know (bit 32 set once taken) and how often it came.
static UNKNOWN: [(AtomicU64, AtomicU64); UNKNOWN_SLOTS] =
    [const { (AtomicU64::new(0), AtomicU64::new(0)) }; UNKNOWN_SLOTS];
/// Unknown controls that found no slot.
static UNKNOWN_OTHER: AtomicU64 = AtomicU64::new(0);
/// Marks a taken slot (command 0 is a real control).
const TAKEN: u64 = 1 << 32;

/// Counts one call of RM control `cmd`, which fakegpu does not know (refused in strict
/// mode, forwarded in audit mode).
pub(crate) fn unknown_control(cmd: u32) {
    let key = TAKEN | u64::from(cmd);
    for (slot, count) in UNKNOWN.iter() {
        let found = match slot.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(current) => current == key,
        };
        if found {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    UNKNOWN_OTHER.fetch_add(1, Ordering::Relaxed);
}

/// One line per route, `nvidia ROUTE COUNT`, then one per unknown control seen,
/// `nvidia unknown_control 0xCMD COUNT`, and `nvidia unknown_control other COUNT`.
pub(crate) fn write(out: &mut impl Write) -> core::fmt::Result {
    for (name, c) in NAMES.iter().zip(COUNTS.iter()) {
        writeln!(out, "nvidia {} {}", name, c.load(Ordering::Relaxed))?;
    }
    for (slot, count) in UNKNOWN.iter() {
        let key = slot.load(Ordering::Acquire);
        if key & TAKEN != 0 {
            let n = count.load(Ordering::Relaxed);
            writeln!(out, "nvidia unknown_control {:#010x} {}", key as u32, n)?;
        }
    }
    writeln!(
        out,
        "nvidia unknown_control other {}",
        UNKNOWN_OTHER.load(Ordering::Relaxed)
    )
}
