//! Compute share (issue 20): busy tenants on one GPU, each a process keeping a compute
//! channel's GPFIFO full of launches, and the GPU time each received, measured on nvsim's
//! engine clock (`gpu_ns` in its ground truth), never on the wall clock. Each bound is
//! asserted on the median of [`WINDOWS`] windows, and every case prints its shares as
//! FIGURE lines.
//!
//! Direct on nvsim, these check nvsim's scheduler as the RM's runlist: equal timeslices
//! share equally, timeslices set the shares, and a channel group off the runlist gets
//! nothing and resumes where it stopped.

use crate::cgroup_util::TestCgroup;
use crate::engine_cases::{Channels, BASE, ENTRIES, GP_PUT, SIZE, USERD};
use crate::gpu_workspace::Workspace;
use crate::{ensure, Case};
use nv_client::rm as nv_rm;
use nvsim_model::methods::compute;
use nvsim_model::pushbuf::header::inc;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const ALL: &[Case] = &[
    (
        "compute_shared_equally_without_limits",
        compute_shared_equally_without_limits,
    ),
    (
        "compute_max_caps_a_busy_tenant",
        compute_max_caps_a_busy_tenant,
    ),
    (
        "compute_weights_share_by_ratio",
        compute_weights_share_by_ratio,
    ),
    (
        "compute_idle_neighbours_time_goes_to_the_busy",
        compute_idle_neighbours_time_goes_to_the_busy,
    ),
    (
        "compute_cap_holds_many_groups",
        compute_cap_holds_many_groups,
    ),
    (
        "compute_killed_throttled_tenant_leaves_nothing_paused",
        compute_killed_throttled_tenant_leaves_nothing_paused,
    ),
    ("compute_limit_changes_live", compute_limit_changes_live),
    (
        "compute_gpu_time_metered_from_driver_samples",
        compute_gpu_time_metered_from_driver_samples,
    ),
    (
        "nvsim_busy_channels_share_equally",
        nvsim_busy_channels_share_equally,
    ),
    (
        "nvsim_timeslices_weigh_shares",
        nvsim_timeslices_weigh_shares,
    ),
    (
        "nvsim_group_off_runlist_gets_nothing",
        nvsim_group_off_runlist_gets_nothing,
    ),
    (
        "nvsim_util_samples_name_the_busy_process",
        nvsim_util_samples_name_the_busy_process,
    ),
];

/// Each launch's engine time.
const LAUNCH_US: u64 = 2000;
const LAUNCH_PARAM: &str = "/sys/module/nvsim/parameters/launch_us";
/// Windows measured per bound, and each one's wall-clock length.
pub(crate) const WINDOWS: usize = 3;
const WINDOW: Duration = Duration::from_millis(1500);
/// The channel group every workspace makes (`gpu_workspace.rs`).
const GROUP: u32 = 0x10;
/// Where the tenant's QMD sits in its workspace.
const QMD: u64 = 0x30_0000;
const GR0: u32 = 1;
/// USERD's GPGet.
const GP_GET: u64 = 0x88;

/// Sets `launch_us` for the length of a case.
pub(crate) struct LaunchTime;

impl LaunchTime {
    pub(crate) fn set() -> Result<Self, String> {
        Self::set_us(LAUNCH_US)
    }

    /// Launches of `us` microseconds each.
    pub(crate) fn set_us(us: u64) -> Result<Self, String> {
        std::fs::write(LAUNCH_PARAM, us.to_string()).map_err(|e| format!("{LAUNCH_PARAM}: {e}"))?;
        Ok(LaunchTime)
    }
}

impl Drop for LaunchTime {
    fn drop(&mut self) {
        let _ = std::fs::write(LAUNCH_PARAM, "0");
    }
}

/// A busy tenant: a child process keeping one compute channel's ring full of launches until
/// it is killed (on drop).
pub(crate) struct Tenant {
    pub(crate) pid: i32,
}

impl Drop for Tenant {
    fn drop(&mut self) {
        // SAFETY: signals and reaps our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

/// What a tenant does before it keeps busy.
#[derive(Clone, Copy, Default)]
pub(crate) struct Setup {
    /// The nodes' prefix: "" for nvsim's, "FAKE_" for fakegpu's.
    pub(crate) prefix: &'static str,
    /// A cgroup (path under /sys/fs/cgroup) to enter first.
    pub(crate) cgroup: Option<&'static str>,
    /// SET_TIMESLICE on its channel group, in us.
    pub(crate) timeslice_us: Option<u64>,
    /// Its channel group off the runlist for this long once its ring is full.
    pub(crate) off_for: Option<Duration>,
    /// More busy channel groups beside the first, each in a workspace of its own.
    pub(crate) more_groups: usize,
    /// Its groups are on the runlist but it submits nothing.
    pub(crate) idle: bool,
    /// Where it counts the launches the GPU consumed from its rings (GPGet's advance), in
    /// memory shared with the parent ([`shared_counters`]): for kernels without debugfs.
    pub(crate) launches: Option<&'static AtomicU64>,
    /// It queues this many launches in all on its first channel, then keeps the channel
    /// idle; once the engine has consumed them it stores the number in `launches`.
    pub(crate) exactly: Option<u32>,
}

/// Counters in memory shared with the tenants forked after they are made (512 of them).
pub(crate) fn shared_counters() -> Result<&'static [AtomicU64], String> {
    // SAFETY: a new anonymous shared mapping of one page, zeroed, never unmapped: it stays
    // valid for the process's life, in the children forked after this too.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err("mmap of a shared page failed".into());
    }
    // SAFETY: the page is aligned, zeroed (valid AtomicU64s) and lives forever.
    Ok(unsafe { std::slice::from_raw_parts(p as *const AtomicU64, 4096 / 8) })
}

/// Starts a busy tenant.
pub(crate) fn spawn_tenant(setup: Setup) -> Result<Tenant, String> {
    // SAFETY: the child only makes system calls, then loops or exits.
    match unsafe { libc::fork() } {
        -1 => Err("fork failed".into()),
        0 => {
            let code = match keep_busy(setup) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("tenant: {e}");
                    1
                }
            };
            // SAFETY: leaves the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => Ok(Tenant { pid }),
    }
}

/// The tenant's body: a compute channel, then launches queued as fast as the GPU takes
/// them (the ring is topped up every 2 ms).
fn keep_busy(setup: Setup) -> Result<(), String> {
    if let Some(cg) = setup.cgroup {
        crate::cgroup_util::move_to(cg)?;
    }
    let mut spaces = Vec::new();
    for _ in 0..=setup.more_groups {
        spaces.push(busy_workspace(setup)?);
    }
    if let (Some(total), Some(ws)) = (setup.exactly, spaces.first()) {
        submit_exactly(ws, total)?;
        if let Some(done) = setup.launches {
            done.store(u64::from(total), Ordering::Release);
        }
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    let start = Instant::now();
    let mut off = setup.off_for;
    let mut slot = 0;
    let mut gets = vec![0u32; spaces.len()];
    loop {
        if off.is_some_and(|d| start.elapsed() >= d) {
            for ws in &spaces {
                schedule(ws, true)?;
            }
            off = None;
        }
        for (ws, last) in spaces.iter().zip(gets.iter_mut()).filter(|_| !setup.idle) {
            if let Some(count) = setup.launches {
                // At most ENTRIES - 2 are queued, so the ring cannot lap between reads.
                let get = ws.get32(USERD + GP_GET);
                count.fetch_add(
                    u64::from((get + ENTRIES - *last) % ENTRIES),
                    Ordering::Relaxed,
                );
                *last = get;
            }
            top_up(ws, &mut slot);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Launches [`submit_exactly`] queues at a time, and the pause after each batch: the engine
/// consumes at most a quarter of the 64-entry ring per 25 ms, so it cannot lap the ring
/// between two of fakegpu's reads of GPGet (every 10 ms), which a count from GPGet could
/// not tell.
const BATCH: u32 = 16;
const BATCH_PAUSE: Duration = Duration::from_millis(25);

/// Queues `total` launches on `ws`'s compute channel in batches of [`BATCH`] and returns once
/// the engine has consumed them all (GPGet's advance).
fn submit_exactly(ws: &Workspace, total: u32) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut slot, mut sent) = (0u64, 0u32);
    while sent < total {
        let batch = BATCH.min(total - sent);
        for _ in 0..batch {
            ws.submit(0, slot, &launch_words());
            slot += 1;
        }
        sent += batch;
        while ws.get32(USERD + GP_GET) != ws.get32(USERD + GP_PUT) {
            ensure(Instant::now() < deadline, || {
                format!("the engine did not consume {total} launches in 60 s")
            })?;
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(BATCH_PAUSE);
    }
    Ok(())
}

/// GPFIFO_SCHEDULE on the workspace's channel group.
fn schedule(ws: &Workspace, on: bool) -> Result<(), String> {
    let mut p = [u8::from(on), 0];
    nv_rm::control(&ws.ctl, ws.client, GROUP, 0xa06c_0101, &mut p)
        .ok()
        .map_err(|e| format!("GPFIFO_SCHEDULE {on}: {e}"))
}

/// The launch segment every tenant queues.
fn launch_words() -> [u32; 6] {
    let qmd_va = BASE + QMD;
    [
        inc(1, 0, 1),
        0xcbc0,
        inc(1, compute::SEND_PCAS_A, 1),
        (qmd_va >> 8) as u32,
        inc(1, compute::SEND_SIGNALING_PCAS2_B, 1),
        3,
    ]
}

/// Fills the ring of `ws`'s compute channel with launches.
fn top_up(ws: &Workspace, slot: &mut u64) {
    let put = ws.get32(USERD + GP_PUT);
    let get = ws.get32(USERD + GP_GET);
    let queued = (put + ENTRIES - get) % ENTRIES;
    for _ in queued..ENTRIES - 2 {
        ws.submit(0, *slot, &launch_words());
        *slot += 1;
    }
}

/// A workspace with a compute channel, its QMD written, and its group scheduled as
/// `setup` says.
fn busy_workspace(setup: Setup) -> Result<Workspace, String> {
    let ws = Workspace::on(setup.prefix, BASE, SIZE)?;
    ws.channel_on(0, GR0, 0xcbc0, 0)?;
    if let Some(us) = setup.timeslice_us {
        let mut p = us.to_ne_bytes();
        nv_rm::control(&ws.ctl, ws.client, GROUP, 0xa06c_0103, &mut p)
            .ok()
            .map_err(|e| format!("SET_TIMESLICE: {e}"))?;
    }
    // A V04 QMD with no release: the launch only takes the engine's time.
    let mut qmd = [0u32; 64];
    qmd[18] = 4 << 4;
    for (k, w) in qmd.iter().enumerate() {
        ws.put32(QMD + 4 * k as u64, *w);
    }
    // On the runlist, as libcuda asks for its groups (or off it for a while).
    schedule(&ws, setup.off_for.is_none())?;
    Ok(ws)
}

/// nvsim's ground truth.
fn state() -> String {
    std::fs::read_to_string("/sys/kernel/debug/nvsim/state").unwrap_or_default()
}

/// The value after `key` in a ground-truth line.
fn field(line: &str, key: &str) -> Option<u64> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == key)?;
    words.next()?.parse().ok()
}

/// The process a channel's pid stands for: a fakegpu worker (`fakegpu/TGID`) stands for
/// the process it calls for.
fn tenant_of(pid: u32) -> u32 {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .and_then(|c| c.trim().strip_prefix("fakegpu/")?.parse().ok())
        .unwrap_or(pid)
}

/// Engine ns and launches so far per tenant process on GPU 0.
pub(crate) fn engine_time() -> HashMap<u32, (u64, u64)> {
    let mut by = HashMap::new();
    for line in state().lines().filter(|l| l.starts_with("channel gpu 0 ")) {
        if let (Some(pid), Some(ns), Some(n)) = (
            field(line, "pid"),
            field(line, "gpu_ns"),
            field(line, "launches"),
        ) {
            let e = by.entry(tenant_of(pid as u32)).or_insert((0, 0));
            e.0 += ns;
            e.1 += n;
        }
    }
    by
}

/// Waits until every tenant has completed launches.
pub(crate) fn wait_running(tenants: &[&Tenant]) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let t = engine_time();
        if tenants
            .iter()
            .all(|x| t.get(&(x.pid as u32)).is_some_and(|e| e.1 > 0))
        {
            return Ok(());
        }
        for x in tenants {
            // SAFETY: polls our own child without reaping a live one.
            let gone = unsafe { libc::waitpid(x.pid, std::ptr::null_mut(), libc::WNOHANG) };
            ensure(gone == 0, || {
                format!("tenant {} exited before it ran", x.pid)
            })?;
        }
        ensure(start.elapsed() < Duration::from_secs(30), || {
            format!("tenants never ran launches: {t:?}")
        })?;
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Each tenant's share of the engine time the tenants received, in percent, per window:
/// `WINDOWS` windows of `WINDOW`.
pub(crate) fn measure(tenants: &[&Tenant]) -> Vec<Vec<f64>> {
    let mut shares = vec![Vec::new(); tenants.len()];
    for _ in 0..WINDOWS {
        let before = engine_time();
        std::thread::sleep(WINDOW);
        let after = engine_time();
        let got: Vec<u64> = tenants
            .iter()
            .map(|t| {
                let pid = t.pid as u32;
                let a = after.get(&pid).map_or(0, |e| e.0);
                let b = before.get(&pid).map_or(0, |e| e.0);
                a.saturating_sub(b)
            })
            .collect();
        let total: u64 = got.iter().sum::<u64>().max(1);
        for (s, g) in shares.iter_mut().zip(&got) {
            s.push(*g as f64 * 100.0 / total as f64);
        }
    }
    shares
}

/// The median of `v`.
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

/// Checks each tenant's median share against `want` percent, within `tolerance`, and
/// prints the figures.
pub(crate) fn check_shares(
    what: &str,
    shares: &[Vec<f64>],
    want: &[f64],
    tolerance: f64,
) -> Result<(), String> {
    let medians: Vec<f64> = shares.iter().map(|s| median(s)).collect();
    let show = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join("/")
    };
    println!(
        "FIGURE compute share, {what}: {} % (want {} +- {tolerance}; windows {:?})",
        show(&medians),
        show(want),
        shares.iter().map(|s| show(s)).collect::<Vec<_>>()
    );
    for (m, w) in medians.iter().zip(want) {
        ensure((m - w).abs() <= tolerance, || {
            format!(
                "{what}: shares {} %, want {} +- {tolerance}",
                show(&medians),
                show(want)
            )
        })?;
    }
    Ok(())
}

/// Two busy tenants with the RM's default timeslice get half the GPU each.
fn nvsim_busy_channels_share_equally() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let a = spawn_tenant(Setup::default())?;
    let b = spawn_tenant(Setup::default())?;
    wait_running(&[&a, &b])?;
    let shares = measure(&[&a, &b]);
    check_shares("nvsim, default timeslices", &shares, &[50.0, 50.0], 5.0)
}

/// Two busy tenants directly on nvsim, with timeslices of 1 and 3 ms, both running.
fn tenants_at_timeslices_1_and_3_ms() -> Result<(Tenant, Tenant), String> {
    let at = |us| {
        spawn_tenant(Setup {
            timeslice_us: Some(us),
            ..Setup::default()
        })
    };
    let (a, b) = (at(1000)?, at(3000)?);
    wait_running(&[&a, &b])?;
    Ok((a, b))
}

/// Timeslices of 1 and 3 ms give 25/75 between two busy tenants.
fn nvsim_timeslices_weigh_shares() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (a, b) = tenants_at_timeslices_1_and_3_ms()?;
    let shares = measure(&[&a, &b]);
    check_shares("nvsim, timeslices 1:3", &shares, &[25.0, 75.0], 5.0)
}

/// nvsim's utilisation samples (PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2) as the RM's: with
/// two busy processes at timeslices 1:3, the samples since they started are full (util
/// 10000), ~139 ms apart, and name the process holding the engine at each instant, the
/// heavier one about three times as often.
fn nvsim_util_samples_name_the_busy_process() -> Result<(), String> {
    use abi::nv_gpumon::{params_size, read_sample, sample_size, CMD, SAMPLE_COUNT};
    let _launch = LaunchTime::set()?;
    let (a, b) = tenants_at_timeslices_1_and_3_ms()?;
    let ctl = crate::nv_cases::open("NV_CTL")?;
    let _gpu = crate::nv_cases::open("NV_GPU0")?;
    let client = crate::nv_cases::client_with_device(&ctl)?;
    let ring = |params: &mut Vec<u8>| -> Result<Vec<abi::nv_gpumon::GrSample>, String> {
        params.fill(0);
        nv_rm::control(&ctl, client, 0x5d0, CMD, params)
            .ok()
            .map_err(|e| format!("UTIL_SAMPLES_V2: {e}"))?;
        Ok((0..SAMPLE_COUNT)
            .filter_map(|i| read_sample(params, sample_size(4), i))
            .collect())
    };
    let mut params = vec![0u8; params_size(sample_size(4))];
    let since = ring(&mut params)?
        .iter()
        .map(|s| s.timestamp_ns)
        .max()
        .unwrap_or(0);
    std::thread::sleep(Duration::from_secs(4));
    let mut new: Vec<_> = ring(&mut params)?
        .into_iter()
        .filter(|s| s.timestamp_ns > since)
        .collect();
    new.sort_by_key(|s| s.timestamp_ns);
    let named = |t: &Tenant| new.iter().filter(|s| s.pid == t.pid as u32).count();
    let (na, nb) = (named(&a), named(&b));
    let full = new.iter().filter(|s| s.util == 10_000).count();
    let gaps: Vec<u64> = new
        .windows(2)
        .map(|w| w[1].timestamp_ns - w[0].timestamp_ns)
        .collect();
    println!(
        "FIGURE nvsim utilisation samples over 4 s: {} samples, {full} full; A (timeslice 1 ms) named {na}, B (3 ms) {nb}",
        new.len()
    );
    ensure((24..=32).contains(&new.len()), || {
        format!("{} samples in 4 s, not ~29", new.len())
    })?;
    ensure(gaps.iter().all(|&g| g == 10_000_000_000 / 72), || {
        format!("samples are not 10 s / 72 apart: {gaps:?}")
    })?;
    ensure(full + 1 >= new.len() && na + nb + 1 >= new.len(), || {
        format!("samples not full or naming neither busy process: {new:?}")
    })?;
    ensure(na > 0 && nb > na, || {
        format!("A was named {na} times and B {nb}: B holds the engine 3 times as long")
    })
}

/// A channel group taken off the runlist (GPFIFO_SCHEDULE, bEnable 0) gets no engine time
/// while its neighbour gets all, its launches waiting; back on, it runs again. (The tenant
/// schedules its own group: another client cannot name its objects.)
fn nvsim_group_off_runlist_gets_nothing() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let busy = spawn_tenant(Setup::default())?;
    let paused = spawn_tenant(Setup {
        off_for: Some(Duration::from_secs(4)),
        ..Setup::default()
    })?;
    wait_running(&[&busy])?;
    let before = engine_time();
    std::thread::sleep(WINDOW);
    let after = engine_time();
    let time = |t: &HashMap<u32, (u64, u64)>, x: &Tenant| t.get(&(x.pid as u32)).map_or(0, |e| e.0);
    let (mine, theirs) = (
        time(&after, &paused),
        time(&after, &busy).saturating_sub(time(&before, &busy)),
    );
    println!("FIGURE compute share, a group off the runlist: {mine} ns beside {theirs} ns");
    ensure(mine == 0 && theirs > 0, || {
        format!("off the runlist it got {mine} ns (its neighbour {theirs} ns)")
    })?;
    wait_running(&[&busy, &paused])
}

/// The engine ns GPU 0 spent with no launch to run, so far.
fn engine_idle_ns() -> u64 {
    state()
        .lines()
        .find(|l| l.starts_with("engine gpu 0 "))
        .and_then(|l| field(l, "idle_ns"))
        .unwrap_or(0)
}

/// Each tenant's share of all of GPU 0's engine time (idle included) per window, in
/// percent.
fn measure_of_gpu(tenants: &[&Tenant]) -> Vec<Vec<f64>> {
    let mut shares = vec![Vec::new(); tenants.len()];
    for _ in 0..WINDOWS {
        let (before, idle_before) = (engine_time(), engine_idle_ns());
        std::thread::sleep(WINDOW);
        let (after, idle_after) = (engine_time(), engine_idle_ns());
        let grew = |pid: &u32| {
            let a = after.get(pid).map_or(0, |e| e.0);
            a.saturating_sub(before.get(pid).map_or(0, |e| e.0))
        };
        let busy = |t: &Tenant| grew(&(t.pid as u32));
        let all: u64 = after.keys().map(grew).sum::<u64>() + idle_after.saturating_sub(idle_before);
        for (s, t) in shares.iter_mut().zip(tenants) {
            s.push(busy(t) as f64 * 100.0 / all.max(1) as f64);
        }
    }
    shares
}

/// fakegpu's switch for compute enforcement.
const ENFORCE: &str = "/sys/module/fakegpu/parameters/enforce_compute";

/// Turns enforcement back on when dropped.
struct Enforcing;

impl Drop for Enforcing {
    fn drop(&mut self) {
        let _ = std::fs::write(ENFORCE, "1");
    }
}

/// A tenant through fakegpu's nodes in cgroup `cg`.
fn fake_tenant(cg: &'static str) -> Result<Tenant, String> {
    spawn_tenant(Setup {
        prefix: "FAKE_",
        cgroup: Some(cg),
        ..Setup::default()
    })
}

const CG_A: &str = "/fakegpu-share-a";
const CG_B: &str = "/fakegpu-share-b";

/// Through fakegpu with no limits, two busy cgroups get half the GPU each: fakegpu does
/// not stand between the driver's scheduler and its tenants.
fn compute_shared_equally_without_limits() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (_ga, _gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    let a = fake_tenant(CG_A)?;
    let b = fake_tenant(CG_B)?;
    wait_running(&[&a, &b])?;
    check_shares(
        "through fakegpu, no limits",
        &measure(&[&a, &b]),
        &[50.0, 50.0],
        5.0,
    )
}

/// compute.max 30% on one of two busy cgroups gives 30/70, and it was fakegpu that did it:
/// the capped cgroup's compute.stat counts throttled time, and with enforcement off the
/// same tenants go back to halves.
fn compute_max_caps_a_busy_tenant() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (ga, _gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    ga.set("compute.max", "gpu0 30000 100000")?;
    let shown = ga.get("compute.max")?;
    ensure(shown.starts_with("gpu0 30000 100000\n"), || {
        format!("compute.max reads {shown:?}")
    })?;
    let a = fake_tenant(CG_A)?;
    let b = fake_tenant(CG_B)?;
    wait_running(&[&a, &b])?;
    let shares = measure(&[&a, &b]);
    check_shares("compute.max 30% on A", &shares, &[30.0, 70.0], 5.0)?;
    let throttled = throttled_usec(&ga)?;
    ensure(throttled > 0, || {
        "compute.stat shows no throttled time".into()
    })?;
    println!("FIGURE compute share, A throttled {throttled} us so far");
    // Enforcement off: the cap is not held, so the bound above would fail.
    let _on = Enforcing;
    std::fs::write(ENFORCE, "0").map_err(|e| format!("{ENFORCE}: {e}"))?;
    std::thread::sleep(Duration::from_millis(300));
    let off = measure(&[&a, &b]);
    let a_off = median(&off[0]);
    println!("FIGURE compute share, enforcement off: A {a_off:.1} %");
    ensure(a_off > 40.0, || {
        format!("with enforcement off A still got {a_off:.1} %: the cap was not fakegpu's doing")
    })
}

/// `compute.stat`'s `key` of GPU 0 (`gpu0 gpu_time_usec=N gpu_share_pct=P throttled_usec=N
/// submissions=N`).
pub(crate) fn compute_stat(cg: &TestCgroup, key: &str) -> Result<String, String> {
    let text = cg.get("compute.stat")?;
    text.lines()
        .find_map(|l| l.strip_prefix("gpu0 "))
        .and_then(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        })
        .map(str::to_string)
        .ok_or_else(|| format!("compute.stat reads {text:?}"))
}

/// `compute.stat`'s throttled time of GPU 0, in us.
fn throttled_usec(cg: &TestCgroup) -> Result<u64, String> {
    compute_stat(cg, "throttled_usec")?
        .parse()
        .map_err(|e| format!("throttled_usec: {e}"))
}

/// `compute.stat`'s GPU time of GPU 0, in us.
fn gpu_time_usec(cg: &TestCgroup) -> Result<u64, String> {
    compute_stat(cg, "gpu_time_usec")?
        .parse()
        .map_err(|e| format!("gpu_time_usec: {e}"))
}

/// Each window of the metering case, long enough for ~20 of the driver's samples.
const METER_WINDOW: Duration = Duration::from_secs(3);

/// `compute.stat`'s GPU time, which fakegpu takes from the driver's utilisation samples
/// (on nvsim, sampled from its engine), agrees with the engine's own count: per window, A's
/// metered share is within 10 points of its engine share, and the metered total within 25%
/// of the engine's. Capped 30/70, so the two differ and a swap would show.
fn compute_gpu_time_metered_from_driver_samples() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (ga, gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    ga.set("compute.max", "gpu0 30000 100000")?;
    let a = fake_tenant(CG_A)?;
    let b = fake_tenant(CG_B)?;
    wait_running(&[&a, &b])?;
    // A read of the samples (every 0.5 s) has credited both.
    std::thread::sleep(Duration::from_millis(1200));
    let (mut gaps, mut totals) = (Vec::new(), Vec::new());
    for _ in 0..WINDOWS {
        let (e0, m0) = (engine_time(), (gpu_time_usec(&ga)?, gpu_time_usec(&gb)?));
        std::thread::sleep(METER_WINDOW);
        let (e1, m1) = (engine_time(), (gpu_time_usec(&ga)?, gpu_time_usec(&gb)?));
        let grew = |t: &Tenant| {
            let pid = t.pid as u32;
            e1.get(&pid).map_or(0, |e| e.0) - e0.get(&pid).map_or(0, |e| e.0)
        };
        let (ea, eb) = (grew(&a) / 1000, grew(&b) / 1000);
        let (ma, mb) = (m1.0 - m0.0, m1.1 - m0.1);
        ensure(ma > 0 && mb > 0, || {
            format!("compute.stat metered A {ma} us, B {mb} us in a window: each was busy")
        })?;
        let engine_a = ea as f64 * 100.0 / (ea + eb).max(1) as f64;
        let metered_a = ma as f64 * 100.0 / (ma + mb) as f64;
        println!(
            "FIGURE gpu time metered from samples: A {metered_a:.1} % (engine {engine_a:.1} %), total {} ms metered vs {} ms on the engine",
            (ma + mb) / 1000,
            (ea + eb) / 1000
        );
        gaps.push((metered_a - engine_a).abs());
        totals.push((ma + mb) as f64 / (ea + eb).max(1) as f64);
    }
    let (gap, total) = (median(&gaps), median(&totals));
    println!(
        "FIGURE gpu time metered from samples: median gap {gap:.1} points, metered/engine total {total:.2}; A's share now {} %",
        compute_stat(&ga, "gpu_share_pct")?
    );
    ensure(gap <= 10.0, || {
        format!("A's metered share is {gap:.1} points from its engine share")
    })?;
    ensure((0.75..=1.25).contains(&total), || {
        format!("the metered GPU time is {total:.2} of the engine's")
    })
}

/// Weights 100 and 300 on two busy cgroups give 25/75.
fn compute_weights_share_by_ratio() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (ga, gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    ga.set("compute.weight", "gpu0 100")?;
    gb.set("compute.weight", "gpu0 300")?;
    let a = fake_tenant(CG_A)?;
    let b = fake_tenant(CG_B)?;
    wait_running(&[&a, &b])?;
    check_shares("weights 1:3", &measure(&[&a, &b]), &[25.0, 75.0], 5.0)
}

/// A busy cgroup beside an idle one with a cap and a heavy weight takes the whole GPU:
/// the idle cgroup's window and weight share only what it asks for.
fn compute_idle_neighbours_time_goes_to_the_busy() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (ga, _gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    ga.set("compute.max", "gpu0 50000 100000")?;
    ga.set("compute.weight", "gpu0 1000")?;
    // A has a group on the GPU but submits nothing.
    let idle = spawn_tenant(Setup {
        prefix: "FAKE_",
        cgroup: Some(CG_A),
        idle: true,
        ..Setup::default()
    })?;
    let b = fake_tenant(CG_B)?;
    wait_running(&[&b])?;
    let shares = measure_of_gpu(&[&b, &idle]);
    check_shares(
        "B beside an idle A capped 50% with weight 1000 (of all GPU time)",
        &shares,
        &[100.0, 0.0],
        5.0,
    )
}

/// A capped cgroup with three busy channel groups (three clients) gets no more than its cap.
fn compute_cap_holds_many_groups() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (ga, _gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    ga.set("compute.max", "gpu0 20000 100000")?;
    let a = spawn_tenant(Setup {
        prefix: "FAKE_",
        cgroup: Some(CG_A),
        more_groups: 2,
        ..Setup::default()
    })?;
    let b = fake_tenant(CG_B)?;
    wait_running(&[&a, &b])?;
    check_shares(
        "compute.max 20% on A with 3 groups",
        &measure(&[&a, &b]),
        &[20.0, 80.0],
        5.0,
    )
}

/// Killing a throttled tenant leaves nothing paused: its neighbour then has the whole GPU,
/// and the capped cgroup's next tenant runs.
fn compute_killed_throttled_tenant_leaves_nothing_paused() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (ga, _gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    ga.set("compute.max", "gpu0 10000 100000")?;
    let a = fake_tenant(CG_A)?;
    let b = fake_tenant(CG_B)?;
    wait_running(&[&a, &b])?;
    std::thread::sleep(Duration::from_millis(500));
    drop(a);
    let shares = measure_of_gpu(&[&b]);
    check_shares(
        "B after A was killed (of all GPU time)",
        &shares,
        &[100.0],
        5.0,
    )?;
    let again = fake_tenant(CG_A)?;
    wait_running(&[&again, &b])?;
    check_shares(
        "a new tenant of capped A",
        &measure(&[&again, &b]),
        &[10.0, 90.0],
        5.0,
    )
}

/// A cap changed while both tenants run takes effect within two periods.
fn compute_limit_changes_live() -> Result<(), String> {
    let _launch = LaunchTime::set()?;
    let (ga, _gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    ga.set("compute.max", "gpu0 20000 100000")?;
    let a = fake_tenant(CG_A)?;
    let b = fake_tenant(CG_B)?;
    wait_running(&[&a, &b])?;
    check_shares(
        "compute.max 20% on A",
        &measure(&[&a, &b]),
        &[20.0, 80.0],
        5.0,
    )?;
    ga.set("compute.max", "gpu0 60000 100000")?;
    // Two periods.
    std::thread::sleep(Duration::from_millis(200));
    check_shares(
        "compute.max raised to 60% on A",
        &measure(&[&a, &b]),
        &[60.0, 40.0],
        5.0,
    )
}
