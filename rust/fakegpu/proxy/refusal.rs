// SPDX-License-Identifier: GPL-2.0

//! The log line of a call a personality refused: rate-limited, naming the call, the node
//! and the calling process (`shim.c` prints it).

use super::personality::FakeFile;

extern "C" {
    /// Logs a refused call, rate-limited, with the calling process (`shim.c`).
    fn fakegpu_log_refusal(
        node: *const u8,
        node_len: usize,
        call: u32,
        why: *const u8,
        why_len: usize,
    );
}

/// Logs (rate-limited) that `call` on `fake` was refused, and why.
pub(crate) fn log_refusal(fake: &FakeFile, call: u32, why: &str) {
    let node = fake.front.node_name();
    // SAFETY: both strings are valid for their lengths during the call.
    unsafe {
        fakegpu_log_refusal(
            node.as_str().as_ptr(),
            node.as_str().len(),
            call,
            why.as_ptr(),
            why.len(),
        )
    };
}
