// SPDX-License-Identifier: GPL-2.0

//! Trace mode (`trace=1`): one log line per call, with the RM class or control command, the
//! sizes and the status or errno returned. This is how the calls NVIDIA's own userspace
//! makes, and which of them nvsim lacks, become visible. Calls nvsim does not implement are
//! logged whether trace mode is on or not ([`log_unimplemented`], a bounded number of times).

use crate::abi::nv_trace::{summarize, Subject};
use crate::nvsim_model::frontend::Node;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;

extern "C" {
    /// The `trace` module parameter (`shim.c`).
    fn nvsim_param_trace() -> kernel::ffi::c_int;
}

/// Whether trace mode is on.
pub(crate) fn enabled() -> bool {
    // SAFETY: reads a module parameter with READ_ONCE.
    unsafe { nvsim_param_trace() != 0 }
}

/// Logs frontend escape `nr` on `node`, from its parameters after the call.
pub(crate) fn escape(node: Node, nr: u8, buf: &[u8], result: &Result) {
    if !enabled() {
        return;
    }
    let errno = result.as_ref().err().map_or(0, |e| e.to_errno());
    let summary = summarize(nr, buf);
    let status = summary.status.unwrap_or(0);
    let node = match node {
        Node::Ctl => 255,
        Node::Gpu(minor) => minor,
    };
    match summary.subject {
        Subject::Control { cmd, params_size } => pr_info!(
            "trace: node {} esc {:#x} control {:#010x} ({} bytes) -> errno {} status {:#x}\n",
            node,
            nr,
            cmd,
            params_size,
            errno,
            status
        ),
        Subject::Class(class) => pr_info!(
            "trace: node {} esc {:#x} alloc class {:#x} ({} bytes) -> errno {} status {:#x}\n",
            node,
            nr,
            class,
            buf.len(),
            errno,
            status
        ),
        Subject::VidHeap {
            function,
            flags,
            attr,
            size,
        } => pr_info!(
            "trace: node {} esc {:#x} vid-heap function {} flags {:#x} attr {:#x} size {:#x} -> errno {} status {:#x}\n",
            node,
            nr,
            function,
            flags,
            attr,
            size,
            errno,
            status
        ),
        Subject::Map {
            offset,
            length,
            flags,
        } => pr_info!(
            "trace: node {} esc {:#x} map offset {:#x} length {:#x} flags {:#x} -> errno {} status {:#x}\n",
            node,
            nr,
            offset,
            length,
            flags,
            errno,
            status
        ),
        Subject::None => pr_info!(
            "trace: node {} esc {:#x} ({} bytes) -> errno {} status {:#x}\n",
            node,
            nr,
            buf.len(),
            errno,
            status
        ),
    }
}

/// Logs UVM command `cmd` and its errno.
pub(crate) fn uvm(cmd: u32, size: usize, result: &Result) {
    if enabled() {
        let errno = result.as_ref().err().map_or(0, |e| e.to_errno());
        pr_info!(
            "trace: uvm command {} ({} bytes) -> errno {}\n",
            cmd,
            size,
            errno
        );
    }
}

/// Unknown escapes and controls, logged this many times at most (userspace triggers them).
const LOG_LIMIT: u32 = 32;
/// Unimplemented calls logged so far.
static LOGGED: AtomicU32 = AtomicU32::new(0);

/// Logs a call nvsim does not implement, so missing pieces are easy to find.
pub(crate) fn log_unimplemented(what: &str, number: u32, size: usize) {
    if LOGGED.fetch_add(1, Ordering::Relaxed) < LOG_LIMIT {
        pr_info!("{} {:#x} ({} bytes) not implemented\n", what, number, size);
    }
}

/// Channel errors logged so far (a bound of their own: a run of unimplemented calls must not
/// hide them).
static CHANNEL_ERRORS_LOGGED: AtomicU32 = AtomicU32::new(0);

/// Logs that channel `chid` of GPU `gpu` went into error: always in trace mode, else at most
/// [`LOG_LIMIT`] times (a process can cause it).
pub(crate) fn log_channel_error(gpu: u8, chid: u16, why: &str) {
    if enabled() || CHANNEL_ERRORS_LOGGED.fetch_add(1, Ordering::Relaxed) < LOG_LIMIT {
        pr_info!("gpu {} channel {} in error: {}\n", gpu, chid, why);
    }
}
