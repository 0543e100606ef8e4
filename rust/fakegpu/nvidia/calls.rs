// SPDX-License-Identifier: GPL-2.0

//! How many NVIDIA calls took each route, for `/sys/kernel/fakegpu/calls`: forwarded in the
//! caller's context, made in the caller's worker in its own memory, made on fakegpu's private
//! copy (the metered calls, limit refusals included, and the fd-carrying calls that need no
//! caller memory), or refused before the driver by the filter. The fuzzer prints them, so
//! that cheap refusals cannot pass for load. Also the governor's own controls: how many, and
//! the log line of one that failed; and the channels' USERD mappings that count submissions.

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

/// Distinct controls counted one by one per [`ControlCounts`]; later ones share `other`.
const CONTROL_SLOTS: usize = 32;
/// Marks a taken slot (command 0 is a real control).
const TAKEN: u64 = 1 << 32;

/// How often each RM control of one kind came, for the calls file.
struct ControlCounts {
    /// `nvidia LABEL 0xCMD COUNT` in the calls file.
    label: &'static str,
    /// Slot `i`: a control (bit 32 set once taken) and how often it came.
    slots: [(AtomicU64, AtomicU64); CONTROL_SLOTS],
    /// Controls that found no slot.
    other: AtomicU64,
}

impl ControlCounts {
    const fn new(label: &'static str) -> Self {
        ControlCounts {
            label,
            slots: [const { (AtomicU64::new(0), AtomicU64::new(0)) }; CONTROL_SLOTS],
            other: AtomicU64::new(0),
        }
    }

    fn count(&self, cmd: u32) {
        let key = TAKEN | u64::from(cmd);
        for (slot, count) in self.slots.iter() {
            let found = match slot.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => true,
                Err(current) => current == key,
            };
            if found {
                count.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.other.fetch_add(1, Ordering::Relaxed);
    }

    /// `nvidia LABEL 0xCMD COUNT` per control seen, then `nvidia LABEL other COUNT`.
    fn write(&self, out: &mut impl Write) -> core::fmt::Result {
        for (slot, count) in self.slots.iter() {
            let key = slot.load(Ordering::Acquire);
            if key & TAKEN != 0 {
                let n = count.load(Ordering::Relaxed);
                writeln!(out, "nvidia {} {:#010x} {}", self.label, key as u32, n)?;
            }
        }
        let other = self.other.load(Ordering::Relaxed);
        writeln!(out, "nvidia {} other {}", self.label, other)
    }
}

/// Controls fakegpu does not know (refused in strict mode, forwarded in audit mode).
static UNKNOWN: ControlCounts = ControlCounts::new("unknown_control");
/// Admin-only controls, refused in every mode.
static PRIVILEGED: ControlCounts = ControlCounts::new("privileged_control");

/// Counts one call of RM control `cmd`, which fakegpu does not know.
pub(crate) fn unknown_control(cmd: u32) {
    UNKNOWN.count(cmd);
}

/// Counts one call of RM control `cmd`, an admin-only control fakegpu refused.
pub(crate) fn privileged_control(cmd: u32) {
    PRIVILEGED.count(cmd);
}

/// The governor's scheduling controls: made, failed, and the slowest one (ns from its
/// start to the driver's answer, through the tenant's worker).
static GOVERNOR: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// Counts one control the governor made, whether it failed, and how long it took.
pub(crate) fn governor_control(failed: bool, took_ns: u64) {
    GOVERNOR[0].fetch_add(1, Ordering::Relaxed);
    if failed {
        GOVERNOR[1].fetch_add(1, Ordering::Relaxed);
    }
    GOVERNOR[2].fetch_max(took_ns, Ordering::Relaxed);
}

/// Channels' USERD mappings for submissions (`submissions.rs`): made, unmapped, failed.
static USERD: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// A channel's USERD was mapped for its submissions.
pub(crate) fn userd_mapped() {
    USERD[0].fetch_add(1, Ordering::Relaxed);
}

/// `n` USERD mappings of channels that are gone were unmapped.
pub(crate) fn userd_unmapped(n: usize) {
    USERD[1].fetch_add(n as u64, Ordering::Relaxed);
}

/// A channel's USERD could not be mapped: its submissions are not counted.
pub(crate) fn userd_failed() {
    USERD[2].fetch_add(1, Ordering::Relaxed);
}

extern "C" {
    fn fakegpu_governor_warn(
        cmd: u32,
        handle: u32,
        client: u32,
        tgid: u32,
        errno: kernel::ffi::c_int,
        status: u32,
    );
}

/// Logs a control of the governor's thread that failed on object `(client, handle)`, made by
/// process `tgid` (rate-limited: it is made again at a later pass).
pub(crate) fn governor_failed(
    cmd: u32,
    (client, handle): (u32, u32),
    tgid: u32,
    errno: kernel::ffi::c_int,
    status: u32,
) {
    // SAFETY: logs numbers (rate-limited in C).
    unsafe { fakegpu_governor_warn(cmd, handle, client, tgid, errno, status) };
}

/// One line per route, `nvidia ROUTE COUNT`, then the unknown controls seen and the
/// admin-only controls refused, one line each (`nvidia unknown_control 0xCMD COUNT`,
/// `nvidia privileged_control 0xCMD COUNT`), each kind closed by an `other` line, then the
/// governor's controls (`nvidia governor_controls MADE failed FAILED slowest_us US`).
pub(crate) fn write(out: &mut impl Write) -> core::fmt::Result {
    for (name, c) in NAMES.iter().zip(COUNTS.iter()) {
        writeln!(out, "nvidia {} {}", name, c.load(Ordering::Relaxed))?;
    }
    UNKNOWN.write(out)?;
    PRIVILEGED.write(out)?;
    writeln!(
        out,
        "nvidia governor_controls {} failed {} slowest_us {}",
        GOVERNOR[0].load(Ordering::Relaxed),
        GOVERNOR[1].load(Ordering::Relaxed),
        GOVERNOR[2].load(Ordering::Relaxed) / 1000
    )?;
    writeln!(
        out,
        "nvidia userd_maps {} unmapped {} failed {}",
        USERD[0].load(Ordering::Relaxed),
        USERD[1].load(Ordering::Relaxed),
        USERD[2].load(Ordering::Relaxed)
    )
}
