//! How applying rules to a device cgroup words its failures, on either cgroup version:
//! `device cgroup PATH: STEP: ERROR`, I/O errors by their errno names.

use nix::errno::Errno;
use std::fmt::Display;
use std::path::Path;

/// "device cgroup PATH: STEP: ERROR".
pub(super) fn step_err(cgroup: &Path, step: &str, e: impl Display) -> String {
    format!("device cgroup {}: {step}: {e}", cgroup.display())
}

/// An I/O error as its errno name where it has one ("EPERM: Operation not permitted").
pub(super) fn io_errno(e: &std::io::Error) -> String {
    e.raw_os_error()
        .map_or_else(|| e.to_string(), |n| Errno::from_raw(n).to_string())
}
