// SPDX-License-Identifier: GPL-2.0

//! The log line of a call a personality refused, or forwarded only because the filter
//! audits: rate-limited, naming the call, the node and the calling process (`shim.c`
//! prints it).

use super::personality::FakeFile;

extern "C" {
    /// Logs a refused call, rate-limited, with the calling process (`shim.c`).
    fn fakegpu_log_refusal(
        node: *const u8,
        node_len: usize,
        call: u32,
        why: *const u8,
        why_len: usize,
        audited: kernel::ffi::c_int,
    );
}

/// Logs (rate-limited) that `call` on `fake` was refused, and why.
pub(crate) fn log_refusal(fake: &FakeFile, call: u32, why: &str) {
    log(fake, call, why, false)
}

/// Logs (rate-limited) that `call` on `fake`, which strict mode refuses, was forwarded.
pub(crate) fn log_audit(fake: &FakeFile, call: u32, why: &str) {
    log(fake, call, why, true)
}

fn log(fake: &FakeFile, call: u32, why: &str, audited: bool) {
    let node = fake.front.node_name();
    // SAFETY: both strings are valid for their lengths during the call.
    unsafe {
        fakegpu_log_refusal(
            node.as_str().as_ptr(),
            node.as_str().len(),
            call,
            why.as_ptr(),
            why.len(),
            kernel::ffi::c_int::from(audited),
        )
    };
}
