// SPDX-License-Identifier: GPL-2.0

//! The governor: holds each GPU's channel groups to the compute limits of their cgroups
//! (`compute.max`, `compute.weight`; the schedule is `policy::compute_share`'s) with the
//! driver's own scheduling controls: GPFIFO_SCHEDULE takes a group off the runlist and puts
//! it back, SET_TIMESLICE sets how long it holds the GPU while others wait. A thread of
//! fakegpu's (`governor_shim.c`) runs a pass every millisecond while some GPU has limits.
//! Each control is made on the tenant's own object by the governor's thread itself, with
//! the credentials of the process that made it (the driver takes a client's controls from
//! its user) and on fakegpu's private copy of the parameters; no tenant's worker is
//! involved, so no tenant call can hold a pause up, and no lock is held while the driver
//! runs.
//!
//! A tenant's own GPFIFO_SCHEDULE and SET_TIMESLICE on its groups are recorded as its wish
//! ([`tenant_control`]): on a GPU with limits they are answered as done and fakegpu's
//! values win (a group the tenant turned on is on only inside its windows); once no limit
//! applies, fakegpu hands each group back as the tenant left it.
//!
//! What the governor measures: the time each cgroup's groups spent off the runlist because
//! of fakegpu (`compute.stat`'s `throttled_usec`); from the driver's own samples, the GPU
//! time of each cgroup's work (`gpu_time.rs`); and from the channels' GPGet, the GPFIFO
//! entries the engine consumed (`submissions.rs`).

use super::meter::key;
use super::units::{Unit, UnitKind};
use super::Nv;
use crate::abi::ioc::iowr;
use crate::abi::nv_frontend::NV_IOCTL_MAGIC;
use crate::abi::nv_rm::{ctrl, esc, Nvos54};
use crate::abi::nv_status::*;
use crate::abi::pod::read_pod;
use crate::policy::compute_share::{
    decide, lay_out, Domain, Window, BASE_TIMESLICE_US, DEFAULT_PERIOD_US, DEFAULT_WEIGHT,
    MAX_DOMAINS,
};
use crate::policy::ledger::MAX_GPUS;
use crate::proxy::personality::IoctlFn;
use crate::proxy::private_call::PrivateCall;
use crate::proxy::real_devices::RealFile;
use crate::proxy::worker::CredRef;
use core::mem::offset_of;
use kernel::ffi::{c_long, c_uint};
use kernel::prelude::*;
use kernel::sync::Mutex;

extern "C" {
    fn fakegpu_governor_start() -> kernel::ffi::c_int;
    fn fakegpu_governor_stop();
    fn fakegpu_enforce_compute_param() -> kernel::ffi::c_int;
    fn fakegpu_ktime_ns() -> u64;
}

/// Most (capped cgroup, GPU) pairs whose windows are measured at once.
const MAX_MEASURED: usize = 256;

/// Sleep between passes while a GPU has limits, while none has but channels' submissions
/// are counted (`submissions::READ_EVERY_NS`), and otherwise, in us.
const BUSY_TICK_US: c_uint = 1000;
const READ_TICK_US: c_uint = (crate::policy::submissions::READ_EVERY_NS / 1000) as c_uint;
const IDLE_TICK_US: c_uint = 20_000;

/// The governor's own clock per GPU (only its thread touches it).
pub(crate) struct Clock {
    /// When each GPU's periods started counting.
    epoch_ns: [u64; MAX_GPUS],
    /// Which period each GPU was in at the last pass.
    period_index: [u64; MAX_GPUS],
    /// The last pass.
    last_ns: u64,
    /// How far each capped cgroup's windows ran over, measured (see [`Lateness`]).
    lateness: KVec<Lateness>,
    /// How far the driver's utilisation samples have been read (`gpu_time.rs`).
    samples: super::gpu_time::Marks,
    /// When the channels' GPGet was last read (`submissions.rs`).
    submissions: super::submissions::Marks,
}

/// How much longer than its window a capped cgroup (`entry`) was on a GPU's runlist: the
/// controls that end a window take effect some time after the window's end (the governor
/// wakes late under load, the driver takes its time). Each window is measured, from the
/// first group the governor put on the runlist to the first it took off, and the next
/// windows are shortened by what the last one ran over, so the time on the runlist matches
/// the cap on average.
struct Lateness {
    entry: u64,
    gpu: usize,
    /// How much the windows run over, in ns (what the next window is shortened by).
    over_ns: u64,
    /// When the current window's first group went on, if it is on.
    on_at: Option<u64>,
}

impl Clock {
    /// A clock that starts at the first pass.
    pub(crate) fn new() -> Self {
        Clock {
            epoch_ns: [0; MAX_GPUS],
            period_index: [0; MAX_GPUS],
            last_ns: 0,
            lateness: KVec::new(),
            samples: super::gpu_time::Marks::default(),
            submissions: super::submissions::Marks::default(),
        }
    }
}

/// The thread, stopped on drop (before the workers it calls through go).
pub(crate) struct Governor;

impl Governor {
    /// Starts the thread.
    pub(crate) fn start() -> Result<Self> {
        // SAFETY: starts a kthread calling `fakegpu_governor_tick`, which reads the
        // published states and does nothing until they exist.
        kernel::error::to_result(unsafe { fakegpu_governor_start() })?;
        Ok(Governor)
    }
}

impl Drop for Governor {
    fn drop(&mut self) {
        // SAFETY: stops the thread started by `start` and waits for it.
        unsafe { fakegpu_governor_stop() };
    }
}

fn now_ns() -> u64 {
    // SAFETY: reads the monotonic clock.
    unsafe { fakegpu_ktime_ns() }
}

fn enforcing() -> bool {
    // SAFETY: reads a bool module parameter.
    unsafe { fakegpu_enforce_compute_param() != 0 }
}

/// A control the governor makes on one unit.
#[derive(Clone, Copy)]
enum Action {
    /// GPFIFO_SCHEDULE: on or off the runlist.
    Schedule(bool),
    /// SET_TIMESLICE, in us.
    Timeslice(u64),
}

/// One control to make, with what is needed to make it outside the locks.
struct Pending {
    client: u32,
    handle: u32,
    kind: UnitKind,
    tgid: u32,
    /// The credentials the control is made with.
    cred: CredRef,
    /// The client's nvidiactl file (a reference of the governor's).
    file: RealFile,
    action: Action,
    /// Whether it hands the unit back to its tenant (nothing applied by fakegpu after it).
    hand_back: bool,
    /// The capped cgroup (entry id), GPU and window length (ns) the unit is under, if any.
    window: Option<(u64, usize, u64)>,
}

/// One GPU's schedule at this pass.
struct GpuPlan {
    /// Whether any unit on it is under a limit.
    governed: bool,
    /// The capped cgroups (entry ids) of its units, parents first, and their domains.
    domains: KVec<(u64, Domain)>,
    /// Their windows.
    windows: [Window; MAX_DOMAINS],
    /// The period, in ns.
    period_ns: u64,
}

/// Where unit `u` (charged to the entries of `chain`, nearest first) stands: its capped
/// cgroup and that cgroup's nearest capped ancestor (entry ids), and its weight.
fn place(nv_acc: &crate::proxy::accounts::Accounts, chain: &[u64], gpu: usize) -> Place {
    let mut capped = chain.iter().filter_map(|id| {
        let e = nv_acc.entries.get(id)?;
        let m = e.state.compute.max.get(gpu)?;
        Some((*id, m.fraction_ppm()?, m.period_us))
    });
    let domain = capped.next();
    let parent = capped.next().map(|(id, _, _)| id);
    let weight = chain.iter().find_map(|id| {
        nv_acc
            .entries
            .get(id)?
            .state
            .compute
            .weight
            .get(gpu)
            .copied()
            .flatten()
    });
    Place {
        domain,
        parent,
        weight,
    }
}

/// See [`place`].
struct Place {
    /// (entry id, cap in ppm, period in us).
    domain: Option<(u64, u32, u32)>,
    parent: Option<u64>,
    weight: Option<u32>,
}

/// One pass; the microseconds until the next.
#[no_mangle]
extern "C" fn fakegpu_governor_tick() -> c_uint {
    let (Some(nv), Some(clock)) = (Nv::get(), super::governor_clock()) else {
        return IDLE_TICK_US;
    };
    match pass(&nv, clock) {
        Ok((true, _)) => BUSY_TICK_US,
        Ok((false, true)) => READ_TICK_US,
        _ => IDLE_TICK_US,
    }
}

/// Plans each GPU, decides each unit, and makes the controls that change something;
/// whether any GPU has limits, and whether any channel's submissions are counted.
fn pass(nv: &Nv, clock_lock: &Mutex<Clock>) -> Result<(bool, bool)> {
    let mut clock = clock_lock.lock();
    let now = now_ns();
    let elapsed = if clock.last_ns == 0 {
        0
    } else {
        now.saturating_sub(clock.last_ns)
    };
    clock.last_ns = now;
    let enforce = enforcing();
    let gpus = nv.cards.len().min(MAX_GPUS);
    let mut pending = KVec::new();
    let mut any_governed = false;
    {
        let mut acc = nv.lock();
        // Each GPU's plan from the units on it and their cgroups' limits.
        let mut plans = KVec::new();
        for g in 0..gpus {
            let mut plan = GpuPlan {
                governed: false,
                domains: KVec::new(),
                windows: [Window::default(); MAX_DOMAINS],
                period_ns: u64::from(DEFAULT_PERIOD_US) * 1000,
            };
            let mut min_period_us = u32::MAX;
            for (_, u) in acc.records.units.iter().filter(|(_, u)| u.gpu == g) {
                let Some(chain) = u.charge.and_then(|c| acc.charge_chain(c)) else {
                    continue;
                };
                let p = place(&acc, chain, g);
                // A weight of 100 is the default's: it alone leaves the GPU to the driver.
                plan.governed |=
                    p.domain.is_some() || p.weight.is_some_and(|w| w != DEFAULT_WEIGHT);
                if let Some((id, ppm, period)) = p.domain {
                    min_period_us = min_period_us.min(period);
                    add_domain(&mut plan.domains, id, ppm, p.parent, &acc, chain, g)?;
                }
            }
            plan.governed &= enforce;
            if min_period_us != u32::MAX {
                plan.period_ns = u64::from(min_period_us) * 1000;
            }
            // Each window shortened by what the last one ran over.
            let domains: KVec<Domain> = {
                let mut d = KVec::with_capacity(plan.domains.len(), GFP_KERNEL)?;
                for (id, dom) in plan.domains.iter() {
                    let over = clock
                        .lateness
                        .iter()
                        .find(|l| l.entry == *id && l.gpu == g)
                        .map_or(0, |l| l.over_ns);
                    let window = plan.period_ns / 1000 * u64::from(dom.fraction_ppm) / 1000;
                    let kept = window.saturating_sub(over);
                    let ppm = kept * 1000 / (plan.period_ns / 1000).max(1);
                    d.push(
                        Domain {
                            fraction_ppm: ppm as u32,
                            ..*dom
                        },
                        GFP_KERNEL,
                    )?;
                }
                d
            };
            lay_out(&domains, plan.period_ns, &mut plan.windows);
            any_governed |= plan.governed;
            acc.records.governed[g] = plan.governed;
            plans.push((plan, domains), GFP_KERNEL)?;
        }
        // Where each GPU is in its period, and whether a new period began (then every
        // unit held off is held off again: a tenant's call racing a pause cannot outlast
        // one period).
        let mut offset = [0u64; MAX_GPUS];
        let mut reassert = [false; MAX_GPUS];
        for (g, (plan, _)) in plans.iter().enumerate() {
            if clock.epoch_ns[g] == 0 {
                clock.epoch_ns[g] = now;
            }
            let since = now.saturating_sub(clock.epoch_ns[g]);
            let index = since / plan.period_ns.max(1);
            offset[g] = since % plan.period_ns.max(1);
            reassert[g] = index != clock.period_index[g];
            clock.period_index[g] = index;
        }
        // Each unit's decision, and the controls that change something.
        let mut throttled = KVec::new();
        for (&k, u) in acc.records.units.iter() {
            let Some((plan, domains)) = plans.get(u.gpu) else {
                continue;
            };
            let chain = u.charge.and_then(|c| acc.charge_chain(c)).unwrap_or(&[]);
            let mut actions: [Option<(Action, bool)>; 2] = [None, None];
            let mut window = None;
            if plan.governed {
                let p = place(&acc, chain, u.gpu);
                if let Some((id, ppm, _)) = p.domain {
                    let len = plan.period_ns / 1000 * u64::from(ppm) / 1000;
                    window = Some((id, u.gpu, len));
                }
                let index = p
                    .domain
                    .and_then(|(id, _, _)| plan.domains.iter().position(|(d, _)| *d == id));
                let d = decide(
                    domains,
                    &plan.windows[..domains.len().min(MAX_DOMAINS)],
                    index,
                    p.weight.unwrap_or(DEFAULT_WEIGHT),
                    offset[u.gpu],
                );
                let on = d.on && u.wish_on;
                if u.applied_on != Some(on) || (reassert[u.gpu] && !on) {
                    actions[0] = Some((Action::Schedule(on), false));
                }
                if u.kind == UnitKind::Group && u.applied_timeslice_us != Some(d.timeslice_us) {
                    actions[1] = Some((Action::Timeslice(d.timeslice_us), false));
                }
                // Once per cgroup and GPU, however many of its groups are held off.
                if u.wish_on && !d.on {
                    if let Some(&own) = chain.first() {
                        if !throttled.contains(&(own, u.gpu)) {
                            throttled.push((own, u.gpu), GFP_KERNEL)?;
                        }
                    }
                }
            } else {
                // No limit applies: hand the unit back as its tenant left it.
                if u.applied_on.is_some() {
                    actions[0] = Some((Action::Schedule(u.wish_on), true));
                }
                if u.applied_timeslice_us.is_some() {
                    let us = u.wish_timeslice_us.unwrap_or(BASE_TIMESLICE_US);
                    actions[1] = Some((Action::Timeslice(us), true));
                }
            }
            for (action, hand_back) in actions.into_iter().flatten() {
                let client = (k >> 32) as u32;
                let Some(file) = acc.owner_file(client) else {
                    continue;
                };
                pending.push(
                    Pending {
                        client,
                        handle: k as u32,
                        kind: u.kind,
                        tgid: u.tgid,
                        cred: u.cred.clone_ref(),
                        file,
                        action,
                        hand_back,
                        window,
                    },
                    GFP_KERNEL,
                )?;
            }
        }
        for (own, gpu) in throttled {
            if let Some(e) = acc.entries.get_mut(&own) {
                if let Some(t) = e.state.compute.throttled_ns.get_mut(gpu) {
                    *t = t.saturating_add(elapsed);
                }
            }
        }
    }
    // Only this thread takes the clock; it is let go before the driver runs all the same.
    drop(clock);
    // Runlist changes first: they are what holds a cap; timeslices can follow.
    pending.sort_unstable_by_key(|p| matches!(p.action, Action::Timeslice(_)));
    // The controls, made with no lock held; each success is recorded.
    for p in pending.iter() {
        let start = now_ns();
        let ok = make(p);
        let done = now_ns();
        super::calls::governor_control(!ok, done - start);
        if let (true, Action::Schedule(on), Some(w)) = (ok, p.action, p.window) {
            measure_window(clock_lock, w, on, done)?;
        }
        let mut acc = nv.lock();
        if let Some(u) = acc.records.units.get_mut(&key(p.client, p.handle)) {
            note_applied(u, &p.action, ok, p.hand_back);
        }
    }
    // The governor's file references drop here, unlocked.
    drop(pending);
    // GPU time, from the driver's samples (read every half second).
    let mut marks = clock_lock.lock().samples;
    // SAFETY: this is the governor's thread (`fakegpu_governor_tick`).
    // A read that fails (no memory) is made again at the next one; the schedule goes on.
    let _ = unsafe { super::gpu_time::meter(nv, &mut marks, now_ns()) };
    clock_lock.lock().samples = marks;
    // Submissions, from the channels' GPGet (read every 10 ms).
    let mut marks = clock_lock.lock().submissions;
    // SAFETY: this is the governor's thread (`fakegpu_governor_tick`).
    // A read that fails (no memory) is made again at the next one.
    let watching = unsafe { super::submissions::meter(nv, &mut marks, now_ns()) };
    clock_lock.lock().submissions = marks;
    Ok((any_governed, watching.unwrap_or(true)))
}

/// Notes that a group of capped cgroup `entry` on `gpu`, whose windows are `len` ns, went on
/// (`on`) or off the runlist at `at`: the first on starts the window's measure, the first
/// off ends it and sets how much the next windows are shortened.
fn measure_window(
    clock: &Mutex<Clock>,
    (entry, gpu, len): (u64, usize, u64),
    on: bool,
    at: u64,
) -> Result {
    let mut clock = clock.lock();
    let index = match clock
        .lateness
        .iter()
        .position(|l| l.entry == entry && l.gpu == gpu)
    {
        Some(i) => i,
        None => {
            // Bounded: the cgroups capped over a long uptime start measuring afresh.
            if clock.lateness.len() >= MAX_MEASURED {
                clock.lateness = KVec::new();
            }
            let l = Lateness {
                entry,
                gpu,
                over_ns: 0,
                on_at: None,
            };
            clock.lateness.push(l, GFP_KERNEL)?;
            clock.lateness.len() - 1
        }
    };
    let l = &mut clock.lateness[index];
    match (on, l.on_at) {
        (true, None) => l.on_at = Some(at),
        (false, Some(since)) => {
            // What this window ran over its length, the shortening it had included; at most
            // half a window, so one very late pass does not starve the next.
            let ran = at.saturating_sub(since);
            let over = (ran + l.over_ns).saturating_sub(len);
            l.over_ns = (l.over_ns + over) / 2;
            l.over_ns = l.over_ns.min(len / 2);
            l.on_at = None;
        }
        _ => {}
    }
    Ok(())
}

/// Adds capped cgroup `id` (and, first, its capped ancestors on `chain`) to `domains`, each
/// once, parents before children.
fn add_domain(
    domains: &mut KVec<(u64, Domain)>,
    id: u64,
    ppm: u32,
    parent: Option<u64>,
    acc: &crate::proxy::accounts::Accounts,
    chain: &[u64],
    gpu: usize,
) -> Result {
    if domains.iter().any(|(d, _)| *d == id) {
        return Ok(());
    }
    let parent_index = match parent {
        Some(pid) => {
            if !domains.iter().any(|(d, _)| *d == pid) {
                // The parent's own place is found further up the same chain.
                let rest = chain
                    .iter()
                    .position(|&c| c == pid)
                    .and_then(|i| chain.get(i..))
                    .unwrap_or(&[]);
                let p = place(acc, rest, gpu);
                if let Some((pid2, pppm, _)) = p.domain {
                    add_domain(domains, pid2, pppm, p.parent, acc, rest, gpu)?;
                }
            }
            domains.iter().position(|(d, _)| *d == pid)
        }
        None => None,
    };
    if domains.len() >= MAX_DOMAINS {
        return Ok(());
    }
    domains.push(
        (
            id,
            Domain {
                fraction_ppm: ppm,
                parent: parent_index,
            },
        ),
        GFP_KERNEL,
    )?;
    Ok(())
}

/// Records what a control did to unit `u`.
fn note_applied(u: &mut Unit, action: &Action, ok: bool, hand_back: bool) {
    match *action {
        Action::Schedule(on) => {
            u.applied_on = match (ok, hand_back) {
                (true, true) => None,
                (true, false) => Some(on),
                // Tried again at the next pass (a failed hand-back too).
                (false, _) => u.applied_on.filter(|_| hand_back).or(Some(!on)),
            }
        }
        Action::Timeslice(us) => {
            u.applied_timeslice_us = match (ok, hand_back) {
                (true, true) => None,
                (true, false) => Some(us),
                (false, _) => u.applied_timeslice_us.filter(|_| hand_back).or(Some(0)),
            }
        }
    }
}

/// Makes one control on the unit's object; whether the driver took it (a failure is
/// tried again at the next pass).
fn make(p: &Pending) -> bool {
    let (cmd, params): (u32, KVec<u8>) = match (p.action, p.kind) {
        (Action::Schedule(on), UnitKind::Group) => (
            ctrl::NVA06C_CTRL_CMD_GPFIFO_SCHEDULE,
            bytes(&[u8::from(on), 0]),
        ),
        (Action::Schedule(on), UnitKind::Channel) => (
            ctrl::NVA06F_CTRL_CMD_GPFIFO_SCHEDULE,
            bytes(&[u8::from(on), 0]),
        ),
        (Action::Timeslice(us), _) => (
            ctrl::NVA06C_CTRL_CMD_SET_TIMESLICE,
            bytes(&us.to_ne_bytes()),
        ),
    };
    if params.is_empty() {
        return false;
    }
    // SAFETY: the reference keeps the file, and so its operations, alive.
    let ioctl: Option<IoctlFn> = unsafe { (*(*p.file.as_ptr()).f_op).unlocked_ioctl };
    let Some(ioctl) = ioctl else {
        return false;
    };
    let args = Nvos54 {
        h_client: p.client,
        h_object: p.handle,
        cmd,
        flags: 0,
        params: 0,
        params_size: params.len() as u32,
        status: 0,
    };
    let rm_control = iowr::<Nvos54>(NV_IOCTL_MAGIC, esc::RM_CONTROL);
    let Ok(mut call) = PrivateCall::on_real(&p.file, ioctl, rm_control, &args) else {
        return false;
    };
    if call
        .with_block(offset_of!(Nvos54, params), &params)
        .is_err()
    {
        return false;
    }
    // SAFETY: this runs in the governor's thread only (`pass`).
    let ret = unsafe { call.run_as(&p.cred) };
    let status = read_pod::<Nvos54>(call.outer()).map_or(NV_ERR_GENERIC, |a| a.status);
    if matches!(ret, Ok(0)) && status == NV_OK {
        return true;
    }
    let errno = ret.map_or_else(|e| e.to_errno(), |r| r as kernel::ffi::c_int);
    super::calls::governor_failed(cmd, (p.client, p.handle), p.tgid, errno, status);
    false
}

fn bytes(b: &[u8]) -> KVec<u8> {
    let mut v = KVec::new();
    if v.extend_from_slice(b, GFP_KERNEL).is_err() {
        return KVec::new();
    }
    v
}

/// A tenant's own GPFIFO_SCHEDULE or SET_TIMESLICE on a channel group (NVOS54 `p`, its
/// parameters `params`): recorded as the tenant's wish. On a GPU with limits it is answered
/// as done (`NV_OK` written at the caller's NVOS54 `ptr`) and fakegpu's values stand;
/// elsewhere it goes on to the driver (`None`). A group fakegpu does not know (a duplicate
/// of one in another client) on a GPU with limits is refused: scheduling it would step
/// around them.
pub(crate) fn tenant_control(
    nv: &Nv,
    caller_file: usize,
    p: &Nvos54,
    params: &[u8],
    ptr: usize,
) -> Option<Result<c_long>> {
    let mut acc = nv.lock();
    let governed = acc.records.governed;
    let any_governed = governed.iter().any(|&g| g);
    // Only the file a client was made on may schedule its groups (the RM's strict check):
    // another tenant's wish is not recorded.
    let owned = acc.owner_of(p.h_client) == Some(caller_file);
    let unit = acc
        .records
        .units
        .get_mut(&key(p.h_client, p.h_object))
        .filter(|_| owned);
    let Some(u) = unit else {
        drop(acc);
        let status = if owned {
            NV_ERR_INSUFFICIENT_PERMISSIONS
        } else {
            NV_ERR_INVALID_CLIENT
        };
        return any_governed.then(|| answer(ptr, status));
    };
    match p.cmd {
        ctrl::NVA06C_CTRL_CMD_GPFIFO_SCHEDULE => {
            u.wish_on = params.first().is_some_and(|&b| b != 0)
        }
        ctrl::NVA06C_CTRL_CMD_SET_TIMESLICE => u.wish_timeslice_us = read_pod::<u64>(params),
        _ => return None,
    }
    let held = governed.get(u.gpu).copied().unwrap_or(false);
    drop(acc);
    held.then(|| answer(ptr, NV_OK))
}

/// Writes `status` into the caller's NVOS54 at `ptr`; the ioctl succeeds.
fn answer(ptr: usize, status: NvStatus) -> Result<c_long> {
    let at = ptr.checked_add(offset_of!(Nvos54, status)).ok_or(EFAULT)?;
    crate::compat::user_slice(at, 4)
        .writer()
        .write_slice(&status.to_ne_bytes())?;
    Ok(0)
}
