// SPDX-License-Identifier: GPL-2.0

//! The DRM personality's files in an entry (`/sys/kernel/fakegpu/cgroups/<id>/`), in
//! cgroup v2's formats (`max` for no limit, bytes on read, K/M/G/T suffixes on write).
//!
//! | file | read | write |
//! |---|---|---|
//! | `drm.memory.max` | the limit of DRM buffer objects, all DRM devices together | `SIZE` |
//! | `drm.memory.current`, `.peak` | DRM buffer objects charged now, most ever | - |
//! | `drm.memory.events` | `max N`: buffer creations the limit refused | - |
//! | `submissions` | DRM submissions made | - |
//! | `submissions.max_rate` | submissions per second allowed (`max`: no limit) | `N` or `max` |
//! | `submissions.throttled` | submissions that waited for the rate limit | - |

use super::meter::now_ns;
use crate::policy::cgroup_entry::EntryState;
use crate::policy::ledger::{self, Shown};
use crate::policy::rate::TokenBucket;
use crate::proxy::page::Page;
use crate::proxy::personality::CgroupFile;
use core::fmt::Write;
use kernel::prelude::*;

/// The personality's files, in every entry's directory.
pub(super) static FILES: [CgroupFile; 7] = [
    CgroupFile {
        name: c"drm.memory.max",
        writable: true,
    },
    CgroupFile {
        name: c"drm.memory.current",
        writable: false,
    },
    CgroupFile {
        name: c"drm.memory.peak",
        writable: false,
    },
    CgroupFile {
        name: c"drm.memory.events",
        writable: false,
    },
    CgroupFile {
        name: c"submissions",
        writable: false,
    },
    CgroupFile {
        name: c"submissions.max_rate",
        writable: true,
    },
    CgroupFile {
        name: c"submissions.throttled",
        writable: false,
    },
];

/// Shows file `attr` of `entry`; `None` if the file is not the personality's.
pub(super) fn show(entry: &EntryState, attr: &[u8], out: &mut Page<'_>) -> Option<Result> {
    let u = &entry.usage;
    let shown = match attr {
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
        _ => return None,
    };
    Some(shown.map_err(|_| EINVAL))
}

/// Stores a write to file `attr` of `entry`; a bad write changes nothing (EINVAL); `None`
/// if the file is not the personality's.
pub(super) fn store(entry: &mut EntryState, attr: &[u8], text: &str) -> Option<Result> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    match attr {
        b"drm.memory.max" => Some(
            ledger::parse_size(text)
                .map(|max| entry.usage.drm.max = max)
                .map_err(|_| EINVAL),
        ),
        b"submissions.max_rate" => Some((|| {
            let rate = match ledger::parse_count(text).map_err(|_| EINVAL)? {
                ledger::UNLIMITED => 0,
                0 => return Err(EINVAL),
                n => n,
            };
            entry.usage.submit_rate = TokenBucket::new(rate, now_ns());
            Ok(())
        })()),
        _ => None,
    }
}
