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

/// One line per route: `nvidia ROUTE COUNT`.
pub(crate) fn write(out: &mut impl Write) -> core::fmt::Result {
    for (name, c) in NAMES.iter().zip(COUNTS.iter()) {
        writeln!(out, "nvidia {} {}", name, c.load(Ordering::Relaxed))?;
    }
    Ok(())
}
