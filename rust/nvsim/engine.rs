// SPDX-License-Identifier: GPL-2.0

//! The simulated GPU's engine: a kernel thread (`shim.c`) calls [`poll`], which runs every
//! channel's new GPFIFO entries. A process submits by writing GPPut into its channel's USERD
//! and ringing the doorbell; nvsim's doorbell page is ordinary memory that traps nothing, so
//! the engine watches GPPut instead (a write to it is all a submission needs; the doorbell
//! only saves real hardware from polling). Methods are decoded and executed by
//! `nvsim_model::{pushbuf, methods}`; the actions touch GPU memory through `gpu_mem.rs`. A
//! fault (an unmapped VA, a malformed pushbuffer, a method the channel cannot take) puts that
//! channel in error and stops it; no other channel, process or the host is affected.
//!
//! A compute launch takes `launch_us` of the GPU's compute engine, which runs one launch at
//! a time: the channels with a launch queued take turns by their groups' timeslices
//! (`nvsim_model::sched`), and a channel off the runlist (GPFIFO_SCHEDULE) runs nothing.
//! Each channel's engine time is counted (`gpu_ns`): the ground truth of compute shares.
//! Who held the engine also feeds the utilisation samples the RM reports per process
//! (`nvsim_model::util_samples`, PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2).

use crate::abi::nv_rm::class;
use crate::channels::{now_ns, Channel, MemoryWindow, Runlists, Schedule, Stall, MAX_GPUS};
use crate::gpu_mem::{Fault, GpuMem};
use crate::nvsim_model::methods::{
    qmd_dependent, qmd_major_version, qmd_releases, Action, Engine, MAX_QMD_CHAIN, QMD_BYTES,
};
use crate::nvsim_model::pushbuf::{
    extended_base, Dword, GpEntry, OPCODE_SET_PB_SEGMENT_EXTENDED_BASE,
};
use crate::nvsim_model::rm::Kind;
use crate::nvsim_model::sched::{Lane, DEFAULT_TIMESLICE_US};
use crate::state::State;
use crate::trace;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

extern "C" {
    /// `cond_resched`.
    fn nvsim_cond_resched();
    /// The `launch_us` parameter.
    fn nvsim_param_launch_us() -> kernel::ffi::c_uint;
}

/// How long a compute launch runs, in ns (the `launch_us` parameter).
fn launch_ns() -> u64 {
    // SAFETY: the shim returns its parameter (read with READ_ONCE).
    u64::from(unsafe { nvsim_param_launch_us() }) * 1000
}

/// Bytes a copy or fill moves between chances for other tasks to run.
const RESCHED_BYTES: u64 = 1 << 20;

/// Gives other tasks a chance to run after each [`RESCHED_BYTES`] of a long launch (up to
/// `MAX_LAUNCH_BYTES`), `moved` bytes into it, as it moves `n` more.
fn maybe_resched(moved: u64, n: u64) {
    if (moved + n) / RESCHED_BYTES != moved / RESCHED_BYTES {
        // SAFETY: the engine thread holds only sleeping locks here.
        unsafe { nvsim_cond_resched() };
    }
}

/// USERD's GP_GET and GP_PUT (`clc86f.h` Nvc86fControl).
const USERD_GP_GET: u64 = 0x88;
const USERD_GP_PUT: u64 = 0x8c;
/// GPFIFO entries one channel runs per pass (then the others get their turn).
const ENTRIES_PER_PASS: u32 = 64;
/// Dwords of a segment read at a time.
const CHUNK: usize = 256;

/// Why a channel stopped running in this pass.
enum Stop {
    /// Its GPFIFO is drained.
    Idle,
    /// An acquire does not hold yet.
    Stalled,
    /// The channel is now in error.
    Error(&'static str),
}

/// One pass: hands each GPU's engine time since the last pass to the launches waiting for
/// it, then runs every channel's new work; whether any ran.
pub(crate) fn poll(state: &State) -> bool {
    let mut guard = state.channels.lock();
    let runlists = &mut *guard;
    drop_freed(state, runlists);
    let now = now_ns();
    let mut busy = false;
    for gpu in 0..state.gpus.len().min(MAX_GPUS) {
        busy |= run_engine(state, runlists, gpu, now);
    }
    {
        // Runlist changes every engine has passed are history now.
        let mut schedule = state.channels.schedule();
        for c in schedule.channels.iter_mut().flatten() {
            c.scheduled.forget_before(now);
        }
        for g in schedule.groups.iter_mut().flatten() {
            g.scheduled.forget_before(now);
        }
    }
    // A channel off the runlist runs nothing, as its PBDMA fetches nothing.
    for channel in runlists.channels.iter_mut().flatten() {
        let on = runnable(&state.channels.schedule(), channel, u64::MAX);
        if on {
            busy |= run_and_post(state, channel);
        }
    }
    busy
}

/// Drops the records of channels and groups the RM no longer has.
fn drop_freed(state: &State, runlists: &mut Runlists) {
    let rm = state.rm.lock();
    let mut schedule = state.channels.schedule();
    for slot in runlists.channels.iter_mut() {
        let alive = slot.as_ref().is_some_and(|c| {
            matches!(rm.get(c.client, c.handle).map(|o| o.kind),
                Some(Kind::Channel { chid, .. }) if chid == c.chid)
        });
        if !alive {
            *slot = None;
        }
    }
    for slot in schedule.channels.iter_mut() {
        let alive = slot.as_ref().is_some_and(|c| {
            matches!(
                rm.get(c.client, c.handle).map(|o| o.kind),
                Some(Kind::Channel { .. })
            )
        });
        if !alive {
            *slot = None;
        }
    }
    for slot in schedule.groups.iter_mut() {
        let alive = slot.as_ref().is_some_and(|g| {
            rm.get(g.client, g.handle)
                .is_some_and(|o| o.class == class::KEPLER_CHANNEL_GROUP_A)
        });
        if !alive {
            *slot = None;
        }
    }
}

/// What the scheduler sees of channel slot `index` on `gpu` at `t_ns`: its launch's engine
/// time left, whether it and its group are on the runlist, and its group's timeslice.
fn lane(
    runlists: &Runlists,
    schedule: &Schedule,
    gpu: usize,
    index: usize,
    t_ns: u64,
) -> Option<Lane> {
    let ch = runlists.channels.get(index)?.as_ref()?;
    if usize::from(ch.gpu) != gpu || ch.error.is_some() {
        return None;
    }
    let pending_ns = match ch.stall {
        Some(Stall {
            acquire: Action::Launch { .. },
            left_ns,
            ..
        }) => left_ns,
        _ => 0,
    };
    let group = schedule.group(ch.client, ch.group);
    Some(Lane {
        pending_ns,
        runnable: runnable(schedule, ch, t_ns),
        timeslice_ns: group
            .map_or(DEFAULT_TIMESLICE_US, |g| g.timeslice_us)
            .saturating_mul(1000),
    })
}

/// Whether `ch` is on the runlist at `t_ns` (`u64::MAX`: now): its own GPFIFO_SCHEDULE and
/// its group's enable it.
fn runnable(schedule: &Schedule, ch: &Channel, t_ns: u64) -> bool {
    let own_off =
        matches!(schedule.channel(ch.client, ch.handle), Some(c) if !c.scheduled.at(t_ns));
    let group_off = matches!(schedule.group(ch.client, ch.group), Some(g) if !g.scheduled.at(t_ns));
    !own_off && !group_off
}

/// The first moment after `t_ns` at which a channel or group of `gpu` goes on or off the
/// runlist, if any does.
fn next_change(runlists: &Runlists, schedule: &Schedule, gpu: usize, t_ns: u64) -> Option<u64> {
    let mut next: Option<u64> = None;
    for c in runlists
        .channels
        .iter()
        .flatten()
        .filter(|c| usize::from(c.gpu) == gpu)
    {
        let own = schedule
            .channel(c.client, c.handle)
            .and_then(|o| o.scheduled.change_after(t_ns));
        let group = schedule
            .group(c.client, c.group)
            .and_then(|g| g.scheduled.change_after(t_ns));
        for at in [own, group].into_iter().flatten() {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    next
}

/// Hands `gpu`'s engine time since the last pass (up to `now`) to the launches waiting for
/// it, a timeslice at a time (`nvsim_model::sched`) and split at each change of the
/// runlist; a launch that completes makes its releases and its channel runs on. Whether
/// any launch completed.
fn run_engine(state: &State, runlists: &mut Runlists, gpu: usize, now: u64) -> bool {
    if gpu >= MAX_GPUS {
        return false;
    }
    // `t` is how far the engine's time has been handed out.
    let mut t = {
        let mut schedule = state.channels.schedule();
        let t = match schedule.clock_ns[gpu] {
            0 => now,
            clock => clock.min(now),
        };
        schedule.clock_ns[gpu] = now;
        t
    };
    let mut completed = false;
    while t < now {
        let step = {
            let mut schedule = state.channels.schedule();
            // Up to the next change of the runlist at most: each stretch sees one runlist.
            let until = next_change(runlists, &schedule, gpu, t).map_or(now, |c| c.min(now));
            let count = runlists.channels.len();
            let mut turn = schedule.turns[gpu];
            let step = turn.step(until - t, count, |i| lane(runlists, &schedule, gpu, i, t));
            schedule.turns[gpu] = turn;
            let held = step.and_then(|s| {
                let c = runlists.channels.get(s.lane)?.as_ref()?;
                Some(((c.client, c.group), c.pid))
            });
            schedule.holder[gpu] = held.map(|(group, _)| group);
            // The utilisation samples see who held the engine over this stretch.
            let end = step.map_or(until, |s| t + s.ran_ns);
            if let Some(sampler) = schedule.samplers.get_mut(gpu) {
                sampler.account(t, end, held.map(|(_, pid)| pid));
            }
            if step.is_none() {
                // Nothing to run until then.
                schedule.idle_ns[gpu] += until - t;
                t = until;
            }
            step
        };
        let Some(step) = step else { continue };
        t += step.ran_ns;
        let Some(Some(ch)) = runlists.channels.get_mut(step.lane) else {
            break;
        };
        ch.gpu_ns += step.ran_ns;
        if let Some(stall) = ch.stall.as_mut() {
            stall.left_ns -= step.ran_ns;
        }
        if step.completed {
            ch.launches += 1;
            completed = true;
            // Its releases, and what it queued after the launch (it is on the runlist:
            // the scheduler gave it the engine).
            run_and_post(state, ch);
        }
    }
    completed
}

/// Runs `ch`'s new work, if it is healthy, and posts the non-stall interrupts it raised;
/// whether it ran any.
fn run_and_post(state: &State, ch: &mut Channel) -> bool {
    if ch.error.is_some() {
        return false;
    }
    let raised = ch.interrupts;
    let ran = run(state, ch);
    let times = ch.interrupts - raised;
    if times > 0 {
        state
            .os_events
            .nonstall_interrupt(&state.rm, ch.gpu, ch.engine_type as u8, times);
    }
    ran
}

/// Runs `ch`'s new work; whether it ran any.
fn run(state: &State, ch: &mut Channel) -> bool {
    let (Some(userd), true) = (ch.userd, ch.entries > 0) else {
        note(ch, "no USERD or an empty GPFIFO: it runs nothing");
        return false;
    };
    let Some(shared) = state
        .gpu_vas
        .lookup(ch.client, ch.vaspace, u32::from(ch.gpu))
    else {
        note(ch, "no UVM VA space translates its addresses yet");
        return false;
    };
    let guard = shared.lock();
    let Some(va) = guard.as_ref() else {
        return false;
    };
    let mem = GpuMem::new(state, va, u32::from(ch.gpu));
    let Some(gp_put) = userd_word(state, &userd, USERD_GP_PUT) else {
        return fail(state, ch, "its USERD is gone");
    };
    if gp_put >= ch.entries {
        return fail(state, ch, "GPPut past the end of its GPFIFO");
    }
    // A stalled channel is polled again and again: its entries were logged once.
    if ch.gp_get != gp_put && ch.stall.is_none() && trace::enabled() {
        pr_info!(
            "trace: engine gpu {} chid {}: GPFIFO {} to {} of {}\n",
            ch.gpu,
            ch.chid,
            ch.gp_get,
            gp_put,
            ch.entries
        );
    }
    let mut ran = false;
    let mut budget = ENTRIES_PER_PASS;
    while ch.gp_get != gp_put && budget > 0 {
        budget -= 1;
        let at = ch.gpfifo.wrapping_add(u64::from(ch.gp_get) * 8);
        let entry = match (mem.read_u32(at), mem.read_u32(at.wrapping_add(4))) {
            (Ok(e0), Ok(e1)) => GpEntry::decode(e0, e1, ch.extended_base),
            _ => return fail(state, ch, "its GPFIFO is not mapped"),
        };
        match entry {
            GpEntry::Control { opcode, operand } => {
                if opcode == OPCODE_SET_PB_SEGMENT_EXTENDED_BASE {
                    ch.extended_base = extended_base(operand);
                }
            }
            GpEntry::Segment { va, dwords, .. } => {
                let from = ch.stall.map_or(0, |s| s.next_dword);
                match run_segment(state, &mem, ch, va, dwords, from) {
                    Stop::Idle => {}
                    Stop::Stalled => return ran,
                    Stop::Error(why) => return fail(state, ch, why),
                }
            }
        }
        ran = true;
        ch.gp_get = (ch.gp_get + 1) % ch.entries;
        if !set_userd_word(state, &userd, USERD_GP_GET, ch.gp_get) {
            return fail(state, ch, "its USERD is gone");
        }
    }
    ran
}

/// Runs dwords `from..dwords` of the segment at `va`.
fn run_segment(
    state: &State,
    mem: &GpuMem<'_>,
    ch: &mut Channel,
    va: u64,
    dwords: u32,
    from: u32,
) -> Stop {
    // A stalled acquire is checked again before anything after it runs; a running launch
    // completes (its releases) once its time is up.
    if let Some(stall) = ch.stall {
        if let Action::Launch { .. } = stall.acquire {
            if stall.left_ns > 0 {
                return Stop::Stalled;
            }
            ch.stall = None;
            match complete_launch(mem, ch, stall.releases, stall.dependent, stall.next_dword) {
                Ok(true) => return Stop::Stalled,
                Ok(false) => {}
                Err(why) => return Stop::Error(why),
            }
        } else if !acquired(mem, &stall.acquire) {
            return Stop::Stalled;
        }
        ch.stall = None;
    }
    let mut buf = [0u32; CHUNK];
    let mut index = from;
    while index < dwords {
        let n = (dwords - index).min(CHUNK as u32) as usize;
        let mut bytes = [0u8; CHUNK * 4];
        let at = va.wrapping_add(u64::from(index) * 4);
        if mem.read(at, &mut bytes[..n * 4]).is_err() {
            return Stop::Error("its pushbuffer is not mapped");
        }
        for (word, chunk) in buf.iter_mut().zip(bytes.chunks_exact(4)).take(n) {
            *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        for (i, &word) in buf.iter().enumerate().take(n) {
            let dword = index + i as u32;
            let write = match ch.stream.push(dword as usize, word) {
                Ok(Dword::Write(w)) => w,
                Ok(Dword::Nothing) => continue,
                Ok(Dword::EndSegment) => return Stop::Idle,
                Err(_) => return Stop::Error("a malformed pushbuffer"),
            };
            ch.methods_run += 1;
            let actions = match ch
                .methods
                .method(write.subchannel, write.method, write.data, |c| {
                    engine_of(state, ch.client, ch.handle, c)
                }) {
                Ok(actions) => actions,
                Err(_) => {
                    if trace::enabled() {
                        pr_info!(
                            "trace: engine gpu {} chid {}: method {:#x} data {:#x} on subchannel {} refused\n",
                            ch.gpu,
                            ch.chid,
                            write.method,
                            write.data,
                            write.subchannel
                        );
                    }
                    return Stop::Error("a method it cannot take");
                }
            };
            for action in actions.into_iter().flatten() {
                // Inline uploads are word by word: too many to log.
                if trace::enabled() && !matches!(action, Action::Store { .. }) {
                    pr_info!(
                        "trace: engine gpu {} chid {}: {:?}\n",
                        ch.gpu,
                        ch.chid,
                        action
                    );
                }
                if let Action::NonStallInterrupt = action {
                    ch.interrupts += 1;
                }
                // A launch reads its QMD at once (as the GPU does) and makes the QMD's
                // releases when it completes: at once, or after `launch_us` of engine time.
                if let Action::Launch { qmd } = action {
                    match start_launch(mem, ch, qmd, dword + 1) {
                        Ok(true) => return Stop::Stalled,
                        Ok(false) => continue,
                        Err(why) => return Stop::Error(why),
                    }
                }
                match execute(mem, &action) {
                    Ok(true) => {}
                    Ok(false) => {
                        ch.stall = Some(Stall {
                            next_dword: dword + 1,
                            acquire: action,
                            left_ns: 0,
                            releases: [None; 3],
                            dependent: None,
                        });
                        return Stop::Stalled;
                    }
                    Err(Fault(at)) => {
                        trace_fault(ch, at);
                        return Stop::Error("a fault on a GPU virtual address");
                    }
                }
            }
        }
        index += n as u32;
    }
    Stop::Idle
}

/// Which engine an object of `class` on channel `handle` of `client` is, if the channel has
/// one.
fn engine_of(state: &State, client: u32, handle: u32, class_id: u32) -> Option<Engine> {
    let rm = state.rm.lock();
    let known = rm.objects().any(|o| {
        o.client == client
            && o.parent == handle
            && o.kind == Kind::EngineObject
            && o.class & 0xffff == class_id
    });
    if !known {
        return None;
    }
    if class::DMA_COPY.contains(&class_id) {
        Some(Engine::Copy)
    } else if class::COMPUTE.contains(&class_id) {
        Some(Engine::Compute)
    } else {
        None
    }
}

/// Carries out one action; `Ok(false)` for an acquire that does not hold yet.
fn execute(mem: &GpuMem<'_>, action: &Action) -> Result<bool, Fault> {
    match *action {
        Action::Release {
            va,
            payload,
            size,
            timestamp,
        } => {
            let bytes = payload.to_le_bytes();
            mem.write(va, &bytes[..usize::from(size.min(8))])?;
            if timestamp {
                mem.write(va.wrapping_add(8), &now_ns().to_le_bytes())?;
            }
            Ok(true)
        }
        Action::Acquire { .. } => Ok(acquired(mem, action)),
        Action::Copy {
            src,
            dst,
            line_length,
            lines,
            pitch_in,
            pitch_out,
        } => {
            let mut buf = [0u8; 512];
            let mut moved = 0u64;
            for line in 0..u64::from(lines) {
                let (from, to) = (
                    src.wrapping_add(line.wrapping_mul(pitch_in)),
                    dst.wrapping_add(line.wrapping_mul(pitch_out)),
                );
                let mut done = 0u64;
                while done < line_length {
                    let n = (line_length - done).min(buf.len() as u64) as usize;
                    mem.read(from.wrapping_add(done), &mut buf[..n])?;
                    mem.write(to.wrapping_add(done), &buf[..n])?;
                    maybe_resched(moved, n as u64);
                    moved += n as u64;
                    done += n as u64;
                }
            }
            Ok(true)
        }
        Action::Fill {
            dst,
            value,
            size,
            count,
            lines,
            pitch_out,
        } => {
            let size = usize::from(size.clamp(1, 4));
            let mut pattern = [0u8; 512];
            for (i, b) in pattern.iter_mut().enumerate() {
                *b = value.to_le_bytes()[i % size];
            }
            let line_bytes = count.saturating_mul(size as u64);
            let mut moved = 0u64;
            for line in 0..u64::from(lines) {
                let to = dst.wrapping_add(line.wrapping_mul(pitch_out));
                let mut done = 0u64;
                while done < line_bytes {
                    let n = (line_bytes - done).min(pattern.len() as u64) as usize;
                    mem.write(to.wrapping_add(done), &pattern[..n])?;
                    maybe_resched(moved, n as u64);
                    moved += n as u64;
                    done += n as u64;
                }
            }
            Ok(true)
        }
        Action::Store { va, value, size } => {
            let bytes = value.to_le_bytes();
            mem.write(va, &bytes[..usize::from(size.clamp(1, 4))])?;
            Ok(true)
        }
        Action::Reduce {
            va,
            payload,
            size,
            op,
            signed,
            timestamp,
        } => {
            // One engine thread runs every channel: the read and the write are atomic with
            // respect to other channels' semaphore work (the CPU side may race, as it may
            // with the GPU's own atomics).
            let size = if size == 4 { 4 } else { 8 };
            let mut bytes = [0u8; 8];
            mem.read(va, &mut bytes[..size])?;
            let new = op.apply(u64::from_le_bytes(bytes), payload, size as u8, signed);
            mem.write(va, &new.to_le_bytes()[..size])?;
            if timestamp {
                mem.write(va.wrapping_add(8), &now_ns().to_le_bytes())?;
            }
            Ok(true)
        }
        // Handled by `run_segment` (`launch_releases`): a launch takes engine time.
        Action::Launch { .. } => Ok(true),
        // Counted by the caller, which posts the channel's events after its pass.
        Action::NonStallInterrupt => Ok(true),
    }
}

/// Launches the QMD at `qmd` on `ch`, whose pushbuffer goes on at `next_dword` once the
/// launch (and the chain of QMDs it schedules) completes: it waits for the engine if
/// launches take time (`Ok(true)`: the channel is stalled), else it completes at once.
fn start_launch(
    mem: &GpuMem<'_>,
    ch: &mut Channel,
    qmd: u64,
    next_dword: u32,
) -> Result<bool, &'static str> {
    let (releases, dependent) = read_launch(mem, ch, qmd)?;
    let duration = launch_ns();
    if duration > 0 {
        // It waits for the engine (`run_engine`).
        ch.stall = Some(Stall {
            next_dword,
            acquire: Action::Launch { qmd },
            left_ns: duration,
            releases,
            dependent,
        });
        return Ok(true);
    }
    complete_launch(mem, ch, releases, dependent, next_dword)
}

/// Completes a launch: its releases, then the QMD its completion schedules, if any, as a
/// launch of its own (a graph's nodes run one after another, each taking the engine's
/// time); `Ok(true)` if that one now waits for the engine.
fn complete_launch(
    mem: &GpuMem<'_>,
    ch: &mut Channel,
    mut releases: [Option<Action>; 3],
    mut dependent: Option<u64>,
    next_dword: u32,
) -> Result<bool, &'static str> {
    for _ in 0..MAX_QMD_CHAIN {
        for release in releases.iter().flatten() {
            if let Err(Fault(at)) = execute(mem, release) {
                trace_fault(ch, at);
                return Err("a fault on a GPU virtual address");
            }
        }
        let Some(qmd) = dependent.filter(|&q| !empty_qmd(mem, q)) else {
            return Ok(false);
        };
        if launch_ns() > 0 {
            return start_launch(mem, ch, qmd, next_dword);
        }
        (releases, dependent) = read_launch(mem, ch, qmd)?;
    }
    Err("a chain of dependent QMDs longer than nvsim runs")
}

/// Whether the QMD at `qmd` is an empty slot (no version: never written). libcuda links each
/// launch's QMD to the next slot of its QMD ring before it writes that slot; nvsim takes a
/// link to an empty slot as scheduling nothing (the GPU's handling of it is not documented).
fn empty_qmd(mem: &GpuMem<'_>, qmd: u64) -> bool {
    // The version is in dword 18.
    let mut word = [0u8; 4];
    let mut words = [0u32; 19];
    if mem.read(qmd.wrapping_add(18 * 4), &mut word).is_err() {
        return false;
    }
    words[18] = u32::from_le_bytes(word);
    qmd_major_version(&words) == 0
}

/// What a launch of the QMD at `qmd` does when it completes: its releases and the QMD it
/// schedules, read when it is sent (a QMD nvsim does not take is a fault at its address).
fn read_launch(
    mem: &GpuMem<'_>,
    ch: &Channel,
    qmd: u64,
) -> Result<([Option<Action>; 3], Option<u64>), &'static str> {
    launch_releases(mem, qmd).map_err(|Fault(at)| {
        trace_fault(ch, at);
        "a fault on a GPU virtual address"
    })
}

/// A compute launch runs no shader: it completes with its QMD's releases and schedules its
/// dependent QMD, both read from the QMD at `qmd` when the launch is sent.
fn launch_releases(
    mem: &GpuMem<'_>,
    qmd: u64,
) -> Result<([Option<Action>; 3], Option<u64>), Fault> {
    let mut bytes = [0u8; QMD_BYTES];
    mem.read(qmd, &mut bytes)?;
    let mut words = [0u32; QMD_BYTES / 4];
    for (w, c) in words.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    let done = qmd_releases(&words)
        .and_then(|r| Ok((r, qmd_dependent(&words)?)))
        .map_err(|_| Fault(qmd));
    if trace::enabled() {
        pr_info!(
            "trace: engine: QMD at {:#x}, major version {}: {:?}\n",
            qmd,
            qmd_major_version(&words),
            done
        );
    }
    done
}

/// Says in trace mode where a channel faulted.
fn trace_fault(ch: &Channel, at: u64) {
    if trace::enabled() {
        pr_info!(
            "trace: engine gpu {} chid {}: fault at {:#x}\n",
            ch.gpu,
            ch.chid,
            at
        );
    }
}

/// Whether an acquire holds now (a fault on its address never does).
fn acquired(mem: &GpuMem<'_>, action: &Action) -> bool {
    match *action {
        Action::Acquire {
            va,
            payload,
            size,
            op,
        } => {
            let value = if size == 8 {
                mem.read_u64(va)
            } else {
                mem.read_u32(va).map(u64::from)
            };
            value.is_ok_and(|v| op.satisfied(v, payload, size))
        }
        _ => true,
    }
}

/// Says once per channel, in trace mode, why it cannot run yet.
fn note(ch: &mut Channel, why: &'static str) {
    if trace::enabled() && ch.noted != Some(why) {
        pr_info!("trace: engine gpu {} chid {}: {}\n", ch.gpu, ch.chid, why);
    }
    ch.noted = Some(why);
}

/// The RM's exception (`nverror.h`) for each reason a channel goes into error: faults and
/// unmapped rings or pushbuffers are MMU faults, bad GPFIFO and pushbuffer contents PBDMA
/// errors, a method the engine cannot take a class error.
const CHANNEL_ERRORS: [(&str, u32); 7] = [
    ("a fault on a GPU virtual address", RC_MMU_FAULT),
    ("its pushbuffer is not mapped", RC_MMU_FAULT),
    ("its GPFIFO is not mapped", RC_MMU_FAULT),
    ("a malformed pushbuffer", RC_PBDMA_ERROR),
    ("GPPut past the end of its GPFIFO", RC_PBDMA_ERROR),
    ("its USERD is gone", RC_PBDMA_ERROR),
    ("a method it cannot take", RC_GR_CLASS_ERROR),
];
/// `ROBUST_CHANNEL_FIFO_ERROR_MMU_ERR_FLT`, `_PBDMA_ERROR`, `_GR_CLASS_ERROR`.
const RC_MMU_FAULT: u32 = 31;
const RC_PBDMA_ERROR: u32 = 32;
const RC_GR_CLASS_ERROR: u32 = 69;
/// The status the RM writes into an error notification (`0xffff`, "an error").
const NOTIFIER_STATUS_ERROR: u16 = 0xffff;

/// Puts `ch` in error for `why` (logged once per channel, rate-limited overall) and reports
/// it in the channel's error notifier, if it has one, as the RM does
/// (`krcErrorWriteNotifier`: an `NvNotification` with the time, the exception in `info32`,
/// the engine in `info16` and status `0xffff`; the RM writes the time's high word first).
fn fail(state: &State, ch: &mut Channel, why: &'static str) -> bool {
    ch.error = Some(why);
    trace::log_channel_error(ch.gpu, ch.chid, why);
    if let Some(notifier) = ch.error_notifier {
        let code = CHANNEL_ERRORS
            .iter()
            .find(|(w, _)| *w == why)
            .map_or(RC_PBDMA_ERROR, |(_, c)| *c);
        let now = now_ns();
        let mut n = [0u8; 16];
        n[0..4].copy_from_slice(&((now >> 32) as u32).to_le_bytes());
        n[4..8].copy_from_slice(&(now as u32).to_le_bytes());
        n[8..12].copy_from_slice(&code.to_le_bytes());
        n[12..14].copy_from_slice(&(ch.engine_type as u16).to_le_bytes());
        n[14..16].copy_from_slice(&NOTIFIER_STATUS_ERROR.to_le_bytes());
        with_window_page(state, &notifier, 0, |page, offset| {
            // SAFETY: `n` is valid for 16 bytes; the window is page-aligned (offset 0 of its
            // memory), so they lie in this page, which the process may read at any time.
            unsafe { page.write_raw(n.as_ptr(), offset, n.len()) }.is_ok()
        });
    }
    true
}

/// Reads the word at `at` of a channel's USERD.
fn userd_word(state: &State, u: &MemoryWindow, at: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    with_window_page(state, u, at, |page, offset| {
        // SAFETY: `b` is valid for 4 bytes; the page is shared with the process's mapping
        // of its USERD, which writes GPPut at any time: the bytes are copied (see gpu_mem).
        unsafe { page.read_raw(b.as_mut_ptr(), offset, 4) }.is_ok()
    })
    .filter(|ok| *ok)?;
    Some(u32::from_le_bytes(b))
}

/// Writes the word at `at` of a channel's USERD; whether it could.
fn set_userd_word(state: &State, u: &MemoryWindow, at: u64, value: u32) -> bool {
    let b = value.to_le_bytes();
    with_window_page(state, u, at, |page, offset| {
        // SAFETY: `b` is valid for 4 bytes; the page may be read by the process at any time.
        unsafe { page.write_raw(b.as_ptr(), offset, 4) }.is_ok()
    })
    .unwrap_or(false)
}

/// Runs `f` on the page holding byte `at` of USERD `u`, if its memory still exists.
fn with_window_page<R>(
    state: &State,
    u: &MemoryWindow,
    at: u64,
    f: impl FnOnce(&crate::host_page::HostPage, usize) -> R,
) -> Option<R> {
    let byte = u.offset.checked_add(at)?;
    let index = usize::try_from(byte / PAGE_SIZE as u64).ok()?;
    let offset = (byte % PAGE_SIZE as u64) as usize;
    let mut table = state.pages.lock();
    {
        let rm = state.rm.lock();
        match rm.get(u.client, u.handle).map(|o| o.kind) {
            Some(Kind::Memory { id, .. }) if id == u.memory => {}
            _ => return None,
        }
    }
    let page = if u.fb_pages > 0 {
        table.fb_page(u.memory, u.fb_pages, index).ok()?
    } else {
        table.sys_page(u.memory, index)?
    };
    Some(f(page, offset))
}

/// Called by the engine thread (`shim.c`): one pass; nonzero if it ran work.
#[no_mangle]
extern "C" fn nvsim_engine_poll() -> kernel::ffi::c_int {
    State::get().map_or(0, |state| kernel::ffi::c_int::from(poll(state)))
}
