// SPDX-License-Identifier: GPL-2.0

//! /sys/kernel/debug/nvsim/state: the ground truth tests compare against (per-GPU framebuffer
//! use and channels, system memory and its pages, objects, per-file charges, open files).

use crate::nvsim_model::rm;
use crate::nvsim_model::sched::DEFAULT_TIMESLICE_US;
use crate::procfs;
use crate::slice_writer::SliceWriter;
use crate::state::State;
use core::fmt::Write;
use core::sync::atomic::Ordering;

extern "C" {
    /// Creates /sys/kernel/debug/nvsim/state (`shim.c`).
    fn nvsim_debugfs_create();
    /// Removes what `nvsim_debugfs_create` made.
    fn nvsim_debugfs_remove();
}

/// /sys/kernel/debug/nvsim/state while it exists.
pub(crate) struct Debugfs;

impl Debugfs {
    /// Creates the directory and the file (left absent if debugfs fails: it is for tests).
    pub(crate) fn create() -> Self {
        // SAFETY: creates the directory and file; failures only leave them absent.
        unsafe { nvsim_debugfs_create() };
        Debugfs
    }
}

impl Drop for Debugfs {
    fn drop(&mut self) {
        // SAFETY: removes what `create` made; debugfs waits for readers in progress.
        unsafe { nvsim_debugfs_remove() };
    }
}

/// Called by `shim.c` to fill /sys/kernel/debug/nvsim/state: formats into `buf` (`len`
/// bytes) and returns the length written.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
#[no_mangle]
unsafe extern "C" fn nvsim_format_state(buf: *mut u8, len: usize) -> usize {
    let Some(state) = State::get() else { return 0 };
    // SAFETY: per the contract, `buf` is writable for `len` bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, len) };
    let mut writer = SliceWriter { buf: out, len: 0 };
    let _ = format_state(state, &mut writer);
    writer.len
}

/// Formats the ground truth for /sys/kernel/debug/nvsim/state into `out`.
fn format_state(state: &State, out: &mut impl Write) -> core::fmt::Result {
    let rm = state.rm.lock();
    for g in 0..state.gpus.len() {
        if let Some(u) = rm.gpu(g) {
            writeln!(
                out,
                "gpu{} fb_size {} fb_used {} channels {}",
                g, u.fb_size, u.fb_used, u.channels
            )?;
        }
    }
    writeln!(out, "sys_used {}", rm.sys_used())?;
    drop(rm);
    for (g, settings) in state.settings.lock().iter().enumerate() {
        writeln!(out, "gpu{}_settings {}", g, settings)?;
    }
    let (sys_pages, fb_pages) = state.pages.backed();
    writeln!(out, "sys_pages {}", sys_pages)?;
    writeln!(out, "fb_pages {}", fb_pages)?;
    let rm = state.rm.lock();
    writeln!(out, "objects {}", rm.objects().count())?;
    // Per file with clients: the memory charged to it (each file once, at its first client).
    for (i, client) in rm.objects().enumerate() {
        if client.kind != rm::Kind::Client
            || rm
                .objects()
                .take(i)
                .any(|c| c.kind == rm::Kind::Client && c.file == client.file)
        {
            continue;
        }
        let (fb, sys) = rm.file_usage(client.file);
        writeln!(out, "file{} fb {} sys {}", client.file, fb, sys)?;
    }
    drop(rm);
    // The engine's channels: how far each has run, why it stopped if it is in error, and
    // its place on the runlist and the engine time it held (the compute share's truth).
    let runlists = state.channels.lock();
    let schedule = state.channels.schedule();
    for c in runlists.channels.iter().flatten() {
        write!(
            out,
            "channel gpu {} chid {} gp_get {} methods {} interrupts {} error ",
            c.gpu, c.chid, c.gp_get, c.methods_run, c.interrupts
        )?;
        // One word: the reason with underscores.
        for ch in c.error.unwrap_or("none").chars() {
            out.write_char(if ch == ' ' { '_' } else { ch })?;
        }
        let group = schedule.group(c.client, c.group);
        let own = schedule.channel(c.client, c.handle);
        writeln!(
            out,
            " pid {} group {:#x} scheduled {} group_scheduled {} timeslice_us {} gpu_ns {} launches {} group_on_ns {}",
            c.pid,
            c.group,
            u8::from(!matches!(own, Some(o) if !o.scheduled.is_on())),
            u8::from(!matches!(group, Some(g) if !g.scheduled.is_on())),
            group.map_or(DEFAULT_TIMESLICE_US, |g| g.timeslice_us),
            c.gpu_ns,
            c.launches,
            group.map_or(0, |g| g.scheduled.on_ns())
        )?;
    }
    for g in 0..state.gpus.len().min(schedule.idle_ns.len()) {
        writeln!(out, "engine gpu {} idle_ns {}", g, schedule.idle_ns[g])?;
    }
    drop(schedule);
    drop(runlists);
    let (registered, posted) = state.os_events.counts();
    writeln!(out, "os_events registered {} posted {}", registered, posted)?;
    writeln!(out, "procfs registry_writes {}", procfs::registry_writes())?;
    writeln!(
        out,
        "open_files {}",
        state.open_files.load(Ordering::Relaxed)
    )
}
