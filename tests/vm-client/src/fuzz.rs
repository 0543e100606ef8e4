//! An ioctl fuzzer for fakegpu's nodes (issue 7, item 1): several processes, each in its own
//! cgroup (some with limits, one the child of another), make random and mutated-valid calls
//! on every fake node: NVIDIA escapes with mutated parameters, wrong sizes, bad and nested
//! pointers, fds of other nodes and closed fds in the fd-carrying escapes, IOCTL_XFER_CMD
//! nesting, UVM commands, mmap/mremap/munmap with random sizes, offsets, protections and
//! flags, DRM calls, close and reopen, and a second thread closing fds under the first. The
//! parent injects nvsim faults meanwhile.
//!
//! Pass: no kernel splat (the suite's gate), the limited cgroups never above their limits,
//! every cgroup's charges equal to nvsim's ground truth once the processes stop (holding what
//! they made), and everything back to zero (and nvsim back to where it was) once they exit.
//!
//! Budget and seed: `FUZZ_SEED` (default: from the clock; printed), `FUZZ_CALLS` (system
//! calls, all processes together), `FUZZ_SECONDS` (wall time of the call loops), whichever
//! ends first. A seed fixes each process's sequence of calls; which call meets which state
//! also depends on timing (the processes and the closing thread run concurrently), so a
//! seed reproduces the mix, not always the exact interleaving. `FUZZ_TRACE=1` prints every
//! call before it is made.

use crate::cgroup_util::{move_to, TestCgroup, CGROUP_ROOT};
use crate::{ensure, Case};
use abi::ioc::{ioc, IOC_NONE, IOC_READ, IOC_WRITE};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The suite's short run.
pub const ALL: &[Case] = &[("fuzz_ioctls_short", fuzz_ioctls_short)];

/// The short run's calls (all processes together), and the wall time after which its loops
/// stop regardless (a safety net far above the ~130 s 1e5 calls take under TCG; fewer calls
/// than asked fails the case). Huge syncobj arrays, which once made the kernel's DRM core
/// warn in a longer run, are refused by fakegpu (`policy::drm_filter`).
const SHORT_SECONDS: u64 = 500;
const SHORT_CALLS: u64 = 100_000;
/// The long run's defaults (`fakegpu-vmtest fuzz`, `make fuzz-long`).
const LONG_SECONDS: u64 = 600;
const LONG_CALLS: u64 = 50_000_000;

fn fuzz_ioctls_short() -> Result<(), String> {
    let budget = Budget::from_env(SHORT_SECONDS, SHORT_CALLS)?;
    let asked = budget.calls;
    let made = run(budget)?;
    ensure(made >= asked, || {
        format!("the short run made {made} calls of the {asked} asked before its deadline")
    })
}

/// `fakegpu-vmtest fuzz`: the long run.
pub fn run_long() -> Result<(), String> {
    run(Budget::from_env(LONG_SECONDS, LONG_CALLS)?).map(drop)
}

struct Budget {
    seed: u64,
    calls: u64,
    seconds: u64,
}

impl Budget {
    fn from_env(seconds: u64, calls: u64) -> Result<Self, String> {
        Ok(Budget {
            seed: env_num("FUZZ_SEED", clock_seed())?,
            calls: env_num("FUZZ_CALLS", calls)?.max(1),
            seconds: env_num("FUZZ_SECONDS", seconds)?.max(1),
        })
    }
}

/// The number in environment variable `name` (decimal or 0x hex), or `default` if unset.
pub(crate) fn env_num(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.map_err(|_| format!("{name}={v:?} is not a number"))
        }
        _ => Ok(default),
    }
}

/// A seed from the clock and the pid, for runs not given one.
pub(crate) fn clock_seed() -> u64 {
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    splitmix(clock ^ u64::from(std::process::id()))
}

// ---------------------------------------------------------------------------------------
// The random numbers: splitmix64 to derive seeds, xorshift64* for the streams.

pub(crate) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(splitmix(seed).max(1))
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in 0..n (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    /// An index by weight.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut r = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if r < u64::from(w) {
                return i;
            }
            r -= u64::from(w);
        }
        weights.len() - 1
    }
}

// ---------------------------------------------------------------------------------------
// The parent: cgroups, children, checks.

const MIB: u64 = 1 << 20;
const GPUS: [u32; 2] = [0, 1];

/// A cgroup of the run and the limits written to it.
struct FuzzCgroup {
    cg: TestCgroup,
    /// GPU memory limit per GPU (None: no limit).
    mem_max: [Option<u64>; 2],
    channels_max: Option<u64>,
    drm_max: u64,
    /// Whether it is a top-level cgroup of the run (its charges include its children's).
    top: bool,
}

fn make_cgroups() -> Result<Vec<FuzzCgroup>, String> {
    let mut out = Vec::new();
    // A: 64 MiB per GPU, 4 channels per GPU.
    let a = TestCgroup::create("/fakegpu-fuzz-a")?;
    a.set("memory.max", "64M")?;
    a.set("channels.max", "4")?;
    a.set("drm.memory.max", "4M")?;
    out.push(FuzzCgroup {
        cg: a,
        mem_max: [Some(64 * MIB), Some(64 * MIB)],
        channels_max: Some(4),
        drm_max: 4 * MIB,
        top: true,
    });
    // B: no GPU limit; its child C: 32 MiB on GPU 1.
    let b = TestCgroup::create("/fakegpu-fuzz-b")?;
    b.set("drm.memory.max", "16M")?;
    out.push(FuzzCgroup {
        cg: b,
        mem_max: [None, None],
        channels_max: None,
        drm_max: 16 * MIB,
        top: true,
    });
    let c = TestCgroup::create("/fakegpu-fuzz-b/c")?;
    c.set("memory.max", "gpu1 32M")?;
    c.set("drm.memory.max", "8M")?;
    out.push(FuzzCgroup {
        cg: c,
        mem_max: [None, Some(32 * MIB)],
        channels_max: None,
        drm_max: 8 * MIB,
        top: false,
    });
    // D: GPU 1 only, managed memory denied.
    let d = TestCgroup::create("/fakegpu-fuzz-d")?;
    d.set("gpus", "1")?;
    d.set("uvm.policy", "deny")?;
    d.set("memory.max", "gpu1 128M")?;
    d.set("drm.memory.max", "16M")?;
    out.push(FuzzCgroup {
        cg: d,
        mem_max: [None, Some(128 * MIB)],
        channels_max: None,
        drm_max: 16 * MIB,
        top: true,
    });
    Ok(out)
}

pub(crate) fn per_gpu(cg: &TestCgroup, file: &str, gpu: u32) -> Result<u64, String> {
    let text = cg.get(file)?;
    let key = format!("gpu{gpu}");
    text.lines()
        .find_map(|l| l.strip_prefix(&key).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no {key} value in {file}: {text:?}"))
}

/// nvsim's ground truth: the values that must come back when the run's processes are gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Truth {
    pub(crate) fb_used: [u64; 2],
    pub(crate) channels: [u64; 2],
    pub(crate) sys_used: u64,
    pub(crate) objects: u64,
}

pub(crate) fn truth() -> Result<Truth, String> {
    let d = nv_client::rm::debugfs;
    Ok(Truth {
        fb_used: [d("gpu0", "fb_used")?, d("gpu1", "fb_used")?],
        channels: [d("gpu0", "channels")?, d("gpu1", "channels")?],
        sys_used: d("sys_used", "sys_used")?,
        objects: d("objects", "objects")?,
    })
}

/// What the run's cgroups hold, summed over the top-level ones.
#[derive(Debug, PartialEq, Eq)]
struct Charged {
    mem: [u64; 2],
    channels: [u64; 2],
    pinned: u64,
}

fn charged(cgs: &[FuzzCgroup]) -> Result<Charged, String> {
    let mut c = Charged {
        mem: [0; 2],
        channels: [0; 2],
        pinned: 0,
    };
    for f in cgs.iter().filter(|f| f.top) {
        for g in GPUS {
            c.mem[g as usize] += per_gpu(&f.cg, "memory.current", g)?;
            c.channels[g as usize] += per_gpu(&f.cg, "channels.current", g)?;
        }
        c.pinned += f.cg.single("pinned.current")?;
    }
    Ok(c)
}

/// Every charge of every cgroup of the run, as `(what, value)`, for the zero check.
fn all_charges(cgs: &[FuzzCgroup]) -> Result<Vec<(String, u64)>, String> {
    let mut v = Vec::new();
    for f in cgs {
        for g in GPUS {
            for file in [
                "memory.current",
                "channels.current",
                "channel_groups.current",
            ] {
                v.push((
                    format!("{} {file} gpu{g}", f.cg.path),
                    per_gpu(&f.cg, file, g)?,
                ));
            }
        }
        for file in ["pinned.current", "drm.memory.current"] {
            v.push((format!("{} {file}", f.cg.path), f.cg.single(file)?));
        }
    }
    Ok(v)
}

/// Checks that no limited cgroup is above its limit.
fn check_limits(cgs: &[FuzzCgroup]) -> Result<(), String> {
    for f in cgs {
        for g in GPUS {
            if let Some(max) = f.mem_max[g as usize] {
                let cur = per_gpu(&f.cg, "memory.current", g)?;
                ensure(cur <= max, || {
                    format!("{} memory.current gpu{g} {cur} > limit {max}", f.cg.path)
                })?;
            }
            if let Some(max) = f.channels_max {
                let cur = per_gpu(&f.cg, "channels.current", g)?;
                ensure(cur <= max, || {
                    format!("{} channels.current gpu{g} {cur} > limit {max}", f.cg.path)
                })?;
            }
        }
        let cur = f.cg.single("drm.memory.current")?;
        ensure(cur <= f.drm_max, || {
            format!(
                "{} drm.memory.current {cur} > limit {}",
                f.cg.path, f.drm_max
            )
        })?;
    }
    Ok(())
}

/// Polls `check` for up to `secs` seconds until it returns Ok; the last error otherwise.
pub(crate) fn settle(
    secs: u64,
    mut check: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        match check() {
            Ok(()) => return Ok(()),
            Err(e) if t0.elapsed() > Duration::from_secs(secs) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn set_fault(count: u32, status: u32, errno: u32) {
    let p = "/sys/module/nvsim/parameters";
    let _ = std::fs::write(format!("{p}/fault_status"), format!("{status}"));
    let _ = std::fs::write(format!("{p}/fault_errno"), format!("{errno}"));
    let _ = std::fs::write(format!("{p}/fault_count"), format!("{count}"));
}

struct Child {
    pid: i32,
    seed: u64,
    cgroup: String,
    /// Exit status once reaped.
    status: Option<i32>,
    done: bool,
    killed_by_us: bool,
}

fn pipe() -> Result<[i32; 2], String> {
    let mut p = [0i32; 2];
    // SAFETY: room for two fds.
    if unsafe { libc::pipe(p.as_mut_ptr()) } != 0 {
        return Err("pipe failed".into());
    }
    Ok(p)
}

/// One run; the calls its processes made.
fn run(budget: Budget) -> Result<u64, String> {
    let Budget {
        seed,
        calls,
        seconds,
    } = budget;
    println!("FUZZ seed={seed:#x} calls={calls} seconds={seconds}");
    let _ = std::io::stdout().flush();
    let t0 = Instant::now();
    let before = route_counts();
    let result = run_inner(seed, calls, seconds);
    let routes = route_counts()
        .iter()
        .zip(before.iter())
        .map(|((name, after), (_, before))| format!("{name} {}", after.saturating_sub(*before)))
        .collect::<Vec<_>>()
        .join(", ");
    set_fault(0, 0x51, 0);
    let _ = move_to("/");
    match result {
        Ok(made) => {
            println!(
                "FIGURE fuzz: {made} calls in {} s, seed {seed:#x}; NVIDIA calls by fakegpu's route: {routes}",
                t0.elapsed().as_secs()
            );
            Ok(made)
        }
        Err(e) => Err(format!("{e} (reproduce with FUZZ_SEED={seed:#x})")),
    }
}

/// The NVIDIA lines of `/sys/kernel/fakegpu/calls`: (route, calls so far).
fn route_counts() -> Vec<(String, u64)> {
    std::fs::read_to_string("/sys/kernel/fakegpu/calls")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            match (w.next(), w.next(), w.next().and_then(|n| n.parse().ok())) {
                (Some("nvidia"), Some(route), Some(n)) => Some((route.to_owned(), n)),
                _ => None,
            }
        })
        .collect()
}

fn run_inner(seed: u64, calls: u64, seconds: u64) -> Result<u64, String> {
    let mut rng = Rng::new(seed);
    set_fault(0, 0x51, 0);
    let base = truth()?;
    let mut cgs = make_cgroups()?;
    let result = fuzz_processes(&mut rng, seed, calls, seconds, &cgs, &base);
    // Cgroups go children first.
    while let Some(f) = cgs.pop() {
        drop(f.cg);
    }
    result
}

fn fuzz_processes(
    rng: &mut Rng,
    seed: u64,
    calls: u64,
    seconds: u64,
    cgs: &[FuzzCgroup],
    base: &Truth,
) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let done_pipe = pipe()?;
    let go_pipe = pipe()?;
    let n = cgs.len() as u64;
    // One child may be killed in the middle of its loop, early on (its calls go unreported):
    // the others then share the whole budget.
    let mid_kill = if rng.chance(50) {
        Some((
            rng.below(n) as usize,
            Duration::from_millis(rng.below(seconds.min(20) * 1000)),
        ))
    } else {
        None
    };
    let reporting = n - u64::from(mid_kill.is_some());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut children = Vec::new();
    for (i, f) in cgs.iter().enumerate() {
        let child_seed = splitmix(seed ^ (0x1000 + i as u64));
        let share = calls.div_ceil(reporting);
        let child = std::process::Command::new(&exe)
            .arg("fuzz-child")
            .arg(i.to_string())
            .arg(format!("{child_seed:#x}"))
            .arg(share.to_string())
            .arg(seconds.to_string())
            .arg(&f.cg.path)
            .arg(done_pipe[1].to_string())
            .arg(go_pipe[0].to_string())
            .spawn()
            .map_err(|e| format!("spawn child {i}: {e}"))?;
        children.push(Child {
            pid: child.id() as i32,
            seed: child_seed,
            cgroup: f.cg.path.clone(),
            status: None,
            done: false,
            killed_by_us: false,
        });
    }
    // SAFETY: our copies of the ends the children use.
    unsafe {
        libc::close(done_pipe[1]);
        libc::close(go_pipe[0]);
        libc::fcntl(done_pipe[0], libc::F_SETFL, libc::O_NONBLOCK);
    }
    let kill_all = |children: &[Child]| {
        for c in children.iter().filter(|c| c.status.is_none()) {
            // SAFETY: our own child.
            unsafe { libc::kill(c.pid, libc::SIGKILL) };
        }
    };
    let reap = |children: &mut [Child], block: bool| {
        for c in children.iter_mut().filter(|c| c.status.is_none()) {
            let mut st = 0;
            let flags = if block { 0 } else { libc::WNOHANG };
            // SAFETY: waits for our own child.
            if unsafe { libc::waitpid(c.pid, &mut st, flags) } == c.pid {
                c.status = Some(st);
            }
        }
    };
    let start = Instant::now();
    let mut made = 0u64;
    let mut limit_error = None;
    let mut next_fault = Instant::now();
    // Until every child is done with its loop (or gone).
    loop {
        let mut buf = [0u8; 64];
        // SAFETY: a non-blocking read into our buffer.
        let got = unsafe { libc::read(done_pipe[0], buf.as_mut_ptr().cast(), buf.len()) };
        if got > 0 {
            for rec in buf[..got as usize].chunks_exact(12) {
                let idx = u32::from_ne_bytes(rec[0..4].try_into().unwrap()) as usize;
                made += u64::from_ne_bytes(rec[4..12].try_into().unwrap());
                if let Some(c) = children.get_mut(idx) {
                    c.done = true;
                }
            }
        }
        reap(&mut children, false);
        if limit_error.is_none() {
            limit_error = check_limits(cgs).err();
        }
        if let Some((i, at)) = mid_kill {
            if start.elapsed() >= at && !children[i].done && !children[i].killed_by_us {
                // SAFETY: our own child.
                unsafe { libc::kill(children[i].pid, libc::SIGKILL) };
                children[i].killed_by_us = true;
                println!("FUZZ killed child {i} after {} ms", at.as_millis());
            }
        }
        if Instant::now() >= next_fault && Instant::now() < deadline {
            // nvsim fault injection: the next few RM calls fail.
            if rng.chance(40) {
                let status = rng.pick(&[0x51u32, 0x1a, 0x1f, 0x40, 0x59]);
                let errno = if rng.chance(20) {
                    rng.pick(&[14u32, 12, 22])
                } else {
                    0
                };
                set_fault(1 + rng.below(3) as u32, status, errno);
            } else {
                set_fault(0, 0x51, 0);
            }
            next_fault = Instant::now() + Duration::from_millis(200 + rng.below(800));
        }
        if children.iter().all(|c| c.done || c.status.is_some()) {
            break;
        }
        if Instant::now() > deadline + Duration::from_secs(90) {
            kill_all(&children);
            reap(&mut children, true);
            let late: Vec<String> = children
                .iter()
                .filter(|c| !c.done)
                .map(|c| format!("child pid {} seed {:#x}", c.pid, c.seed))
                .collect();
            return Err(format!(
                "children still running 90 s past the deadline (a hung call?): {late:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    set_fault(0, 0x51, 0);
    let mut failures = Vec::new();
    if let Some(e) = limit_error {
        failures.push(format!("limit exceeded while running: {e}"));
    }
    // The processes still hold what they made: the charges must match nvsim's.
    let quiet = settle(10, || {
        let t = truth()?;
        let c = charged(cgs)?;
        let want = Charged {
            mem: [
                t.fb_used[0].wrapping_sub(base.fb_used[0]),
                t.fb_used[1].wrapping_sub(base.fb_used[1]),
            ],
            channels: [
                t.channels[0].wrapping_sub(base.channels[0]),
                t.channels[1].wrapping_sub(base.channels[1]),
            ],
            pinned: t.sys_used.wrapping_sub(base.sys_used),
        };
        ensure(c == want, || {
            format!("charged {c:?}, nvsim holds {want:?} (beyond what it held before)")
        })
    });
    match quiet {
        Ok(()) => {
            if let Ok(c) = charged(cgs) {
                println!("FUZZ held with the processes stopped (all equal to nvsim's): {c:?}");
            }
        }
        Err(e) => failures.push(format!("with the processes stopped: {e}")),
    }
    if let Err(e) = check_limits(cgs) {
        failures.push(format!("with the processes stopped: {e}"));
    }
    // Let them go: most exit (some closing everything first), some are killed. The killed
    // ones are reaped before the others get their bytes, which any child may read.
    let mut go = 0;
    for c in children.iter_mut().filter(|c| c.status.is_none()) {
        if rng.chance(25) {
            let mut st = 0;
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(c.pid, libc::SIGKILL);
                libc::waitpid(c.pid, &mut st, 0);
            }
            c.status = Some(st);
            c.killed_by_us = true;
        } else {
            go += 1;
        }
    }
    for _ in 0..go {
        // SAFETY: one byte into our pipe.
        unsafe { libc::write(go_pipe[1], b"g".as_ptr().cast(), 1) };
    }
    let exit_deadline = Instant::now() + Duration::from_secs(60);
    while children.iter().any(|c| c.status.is_none()) && Instant::now() < exit_deadline {
        reap(&mut children, false);
        std::thread::sleep(Duration::from_millis(50));
    }
    if children.iter().any(|c| c.status.is_none()) {
        kill_all(&children);
        reap(&mut children, true);
        failures.push("a child did not exit within 60 s of being let go".into());
    }
    // SAFETY: our ends.
    unsafe {
        libc::close(done_pipe[0]);
        libc::close(go_pipe[1]);
    }
    for (i, c) in children.iter().enumerate() {
        let st = c.status.unwrap_or(0);
        let clean = libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0;
        let ours = c.killed_by_us && libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL;
        if !clean && !ours {
            let how = if libc::WIFSIGNALED(st) {
                format!("killed by signal {}", libc::WTERMSIG(st))
            } else {
                format!("exit status {}", libc::WEXITSTATUS(st))
            };
            failures.push(format!(
                "child {i} (cgroup {}, seed {:#x}) {how}",
                c.cgroup, c.seed
            ));
        }
    }
    // Everything back to zero, and nvsim back to where it was.
    let zero = settle(10, || {
        let nonzero: Vec<String> = all_charges(cgs)?
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|(w, v)| format!("{w} = {v}"))
            .collect();
        ensure(nonzero.is_empty(), || {
            format!("charges left after exit: {nonzero:?}")
        })?;
        let t = truth()?;
        ensure(&t == base, || {
            format!("nvsim holds {t:?} after exit, held {base:?} before")
        })
    });
    if let Err(e) = zero {
        failures.push(e);
    }
    if failures.is_empty() {
        Ok(made)
    } else {
        Err(failures.join("; "))
    }
}

// ---------------------------------------------------------------------------------------
// A child: one process's calls.

/// `fakegpu-vmtest fuzz-child INDEX SEED CALLS SECONDS CGROUP DONE_FD GO_FD`.
pub fn child_main(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| args.get(i).cloned().ok_or("fuzz-child: missing argument");
    let num = |s: String| -> Result<u64, String> {
        match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => s.parse(),
        }
        .map_err(|_| format!("fuzz-child: bad number {s:?}"))
    };
    let index = num(arg(0)?)? as u32;
    let seed = num(arg(1)?)?;
    let calls = num(arg(2)?)?;
    let seconds = num(arg(3)?)?;
    let cgroup = arg(4)?;
    let done_fd = num(arg(5)?)? as i32;
    let go_fd = num(arg(6)?)? as i32;
    let procs = format!("{CGROUP_ROOT}{cgroup}/cgroup.procs");
    std::fs::write(&procs, std::process::id().to_string())
        .map_err(|e| format!("enter {cgroup}: {e}"))?;
    // A bounded fd table, so leaked fds (dma-bufs and the like) are swept up.
    let lim = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: a valid rlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    let mut f = Fuzzer::new(seed, calls, seconds, done_fd, go_fd)?;
    f.run();
    let (made, stats) = (f.calls, f.stats());
    println!(
        "FUZZ child {index} pid {} cgroup {cgroup} seed {seed:#x}: {made} calls, {stats}",
        std::process::id()
    );
    let _ = std::io::stdout().flush();
    // Tell the parent, and wait until it has checked the charges.
    let mut rec = [0u8; 12];
    rec[0..4].copy_from_slice(&index.to_ne_bytes());
    rec[4..12].copy_from_slice(&made.to_ne_bytes());
    let mut byte = 0u8;
    // SAFETY: a 12-byte record into the parent's pipe (atomic below PIPE_BUF), then one byte
    // from the other.
    unsafe {
        libc::write(done_fd, rec.as_ptr().cast(), rec.len());
        libc::read(go_fd, (&raw mut byte).cast(), 1);
    }
    if f.rng.chance(50) {
        f.close_everything();
    }
    // Leave without destructors: what is still open is released by the exit.
    // SAFETY: ends the process.
    unsafe { libc::_exit(0) }
}

/// The nodes a child opens, as (kind, environment variable, default path).
const NODES: [(Kind, &str, &str); 7] = [
    (Kind::Ctl, "FAKE_NV_CTL", "/dev/fakegpuctl"),
    (Kind::Gpu0, "FAKE_NV_GPU0", "/dev/fakegpu0"),
    (Kind::Gpu1, "FAKE_NV_GPU1", "/dev/fakegpu1"),
    (Kind::Uvm, "FAKE_NV_UVM", "/dev/fakegpu-uvm"),
    (Kind::Card, "FAKE_CARD", ""),
    (Kind::Virtio, "FAKE_VIRTIO_CARD", ""),
    (Kind::Zero, "FAKE_ZERO", ""),
];

/// How many fd slots of each node kind, in NODES order.
const SLOTS_PER_KIND: [usize; 7] = [3, 2, 2, 2, 2, 1, 1];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ctl,
    Gpu0,
    Gpu1,
    Uvm,
    Card,
    Virtio,
    Zero,
}

struct Slot {
    kind: Kind,
    path: String,
    fd: AtomicI32,
}

/// The slots, shared with the closing thread, and the lock that orders its closes against
/// the main thread's sweep of stray fds.
struct Shared {
    slots: Vec<Slot>,
    close_lock: Mutex<()>,
    stop: AtomicBool,
}

const SCRATCH: usize = 4 << 20;
/// Inaccessible address space after the scratch buffer: a length the kernel takes from the
/// parameters runs into it and faults, never into the test's own memory.
const GUARD: usize = 8 << 30;

/// Known classes: the metered ones, the objects of a start-up, and some the filter refuses.
const CLASSES: [u32; 34] = [
    0x0, 0x1, 0x41, 0x80, 0x2080, 0x40, 0x40, 0x40, 0x3e, 0x71, 0x70, 0x50a0, 0x90f1, 0xa06c,
    0xa06c, 0xc36f, 0xc46f, 0xc56f, 0xc86f, 0xc96f, 0xca6f, 0xc6c0, 0xcbc0, 0xc461, 0xc761, 0x79,
    0xfd, 0xf8, 0x81, 0x82, 0x83, 0xe0, 0xf9, 0xbeef,
];

/// Control commands: the rewritten, refused and common ones.
const CONTROLS: [u32; 18] = [
    0x2080_1303,
    0x2080_1301,
    0x201,
    0xa06c_0101,
    0xa06c_0103,
    0xc36f_0108,
    0x2080_018d,
    0x2080_018e,
    0x2080_0110,
    0x2080_014a,
    0x3d05,
    0x3d06,
    0x3d08,
    0x3d0a,
    0x3d0b,
    0x3d0c,
    0x00fd_0104,
    0x0000_0101,
];

/// NVIDIA escapes and the parameter sizes they take (both driver families where they differ).
const ESCAPES: [(u8, &[usize]); 27] = [
    (0x27, &[56]),
    (0x29, &[16]),
    (0x2a, &[32]),
    (0x2b, &[32, 48]),
    (0x34, &[28]),
    (0x35, &[24]),
    (0x4a, &[184]),
    (0x4e, &[56]),
    (0x4f, &[32]),
    (0x57, &[56, 64]),
    (0x58, &[40, 48]),
    (0x41, &[16]),
    (0x52, &[32]),
    (0x54, &[40]),
    (0x59, &[16]),
    (0x5e, &[24]),
    (0x4d, &[72]),
    (0x39, &[64]),
    (0x5f, &[16]),
    (0xc8, &[72, 144, 72 * 32]),
    (0xc9, &[4]),
    (0xce, &[16]),
    (0xcf, &[16]),
    (0xd1, &[12]),
    (0xd2, &[72]),
    (0xd4, &[4, 8, 16]),
    (0xd5, &[8]),
];
/// More frontend escapes (kept apart for the array's length).
const MORE_ESCAPES: [(u8, &[usize]); 5] = [
    (0xd6, &[8]),
    (0xd7, &[560]),
    (0xd8, &[4]),
    (0xd9, &[2600, 2608]),
    (0xda, &[8]),
];

const XFER: u8 = 0xd3;

struct Mapping {
    addr: usize,
    len: usize,
}

struct Fuzzer {
    rng: Rng,
    shared: Arc<Shared>,
    closer: Option<std::thread::JoinHandle<()>>,
    budget: u64,
    deadline: Instant,
    calls: u64,
    ok: u64,
    failed: u64,
    rm_ok: u64,
    scratch: usize,
    ro_page: usize,
    pipe: [i32; 2],
    /// fds the child must never close in its sweep.
    keep: Vec<i32>,
    clients: Vec<u32>,
    handles: Vec<u32>,
    drm_handles: Vec<u32>,
    dumb_offsets: Vec<u64>,
    maps: Vec<Mapping>,
    closed_fds: Vec<i32>,
    /// A GPU workspace with channels, fed random work (`op_engine`).
    gpu: Option<crate::gpu_workspace::Workspace>,
    trace: bool,
}

fn nv_cmd(dir: u32, nr: u8, size: usize) -> u32 {
    ioc(dir, b'F', nr, size & 0x3fff)
}

impl Fuzzer {
    fn new(seed: u64, budget: u64, seconds: u64, done_fd: i32, go_fd: i32) -> Result<Self, String> {
        let mut rng = Rng::new(seed);
        // SAFETY: a fresh inaccessible reservation chosen by the kernel.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SCRATCH + GUARD,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err("reserving the scratch space failed".into());
        }
        // SAFETY: the first SCRATCH bytes of our own reservation.
        if unsafe { libc::mprotect(base, SCRATCH, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
            return Err("mprotect scratch".into());
        }
        // SAFETY: a fresh page chosen by the kernel.
        let ro = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ro == libc::MAP_FAILED {
            return Err("mapping the read-only page failed".into());
        }
        let pipe = pipe()?;
        let mut slots = Vec::new();
        for (i, &(kind, var, default)) in NODES.iter().enumerate() {
            let path = std::env::var(var).unwrap_or_else(|_| default.to_owned());
            if path.is_empty() {
                continue;
            }
            for _ in 0..SLOTS_PER_KIND[i] {
                slots.push(Slot {
                    kind,
                    path: path.clone(),
                    fd: AtomicI32::new(-1),
                });
            }
        }
        let shared = Arc::new(Shared {
            slots,
            close_lock: Mutex::new(()),
            stop: AtomicBool::new(false),
        });
        let closer = if rng.chance(60) {
            let sh = Arc::clone(&shared);
            let mut crng = Rng::new(rng.next());
            Some(std::thread::spawn(move || closer(&sh, &mut crng)))
        } else {
            None
        };
        let mut f = Fuzzer {
            rng,
            shared,
            closer,
            budget,
            deadline: Instant::now() + Duration::from_secs(seconds),
            calls: 0,
            ok: 0,
            failed: 0,
            rm_ok: 0,
            scratch: base as usize,
            ro_page: ro as usize,
            keep: vec![0, 1, 2, pipe[0], pipe[1], done_fd, go_fd],
            pipe,
            clients: Vec::new(),
            handles: vec![0xd0, 0x5d0, 0xd1, 0x5d1, 0x300, 0x301, 0x1000],
            drm_handles: Vec::new(),
            dumb_offsets: Vec::new(),
            maps: Vec::new(),
            closed_fds: Vec::new(),
            gpu: None,
            trace: std::env::var("FUZZ_TRACE").is_ok_and(|v| v == "1"),
        };
        for i in 0..f.shared.slots.len() {
            f.reopen(i);
        }
        Ok(f)
    }

    fn stats(&self) -> String {
        format!(
            "{} returned 0 ({} with RM status NV_OK), {} failed",
            self.ok, self.rm_ok, self.failed
        )
    }

    fn over(&self) -> bool {
        self.calls >= self.budget || Instant::now() >= self.deadline
    }

    fn run(&mut self) {
        if self.rng.chance(80) {
            self.startup();
        }
        let mut n = 0u64;
        while !self.over() {
            n += 1;
            if n.is_multiple_of(64) {
                self.sweep_stray_fds();
            }
            let op = self.rng.weighted(&[
                20, // generic NVIDIA escape, mutated
                14, // RM_ALLOC
                7,  // RM_FREE
                8,  // RM_CONTROL
                5,  // VID_HEAP
                3,  // DUP / SHARE
                8,  // fd-carrying escapes
                6,  // UVM
                6,  // XFER nesting
                5,  // mmap
                4,  // munmap / mremap / touch
                8,  // DRM
                3,  // close / reopen
                1,  // start-up again
                3,  // random ioctl number on a random fd
                2,  // GPU work: random pushbuffers, GPPut races, channels freed mid-work
            ]);
            match op {
                0 => self.op_escape(),
                1 => {
                    let fd = self.fd_for(Kind::Ctl);
                    self.op_rm_alloc(fd, false);
                }
                2 => self.op_rm_free(),
                3 => self.op_rm_control(),
                4 => self.op_vid_heap(),
                5 => self.op_dup_share(),
                6 => self.op_fd_escape(),
                7 => self.op_uvm(),
                8 => self.op_xfer(),
                9 => self.op_mmap(),
                10 => self.op_unmap(),
                11 => self.op_drm(),
                12 => self.op_close_reopen(),
                13 => self.startup(),
                14 => self.op_random_ioctl(),
                _ => self.op_engine(),
            }
        }
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.closer.take() {
            let _ = t.join();
        }
    }

    /// Work for nvsim's engine through fakegpu's nodes: a workspace with three copy channels
    /// (made on first use, and now and then made again, dropping the old one with its work
    /// queued), fed random pushbuffer segments (`engine_cases::random_segment`), GPPut set to
    /// any value, and channels freed and made again mid-work.
    fn op_engine(&mut self) {
        use crate::engine_cases::{random_segment, Channels, BASE, ENTRIES, GP_PUT, SIZE, USERD};
        if self.gpu.is_none() || self.rng.chance(2) {
            if let Some(old) = self.gpu.take() {
                self.keep.retain(|fd| !old.fds().contains(fd));
            }
            self.calls += 1;
            let Ok(ws) = crate::gpu_workspace::Workspace::on("FAKE_", BASE, SIZE) else {
                self.failed += 1;
                return;
            };
            self.keep.extend(ws.fds());
            for i in 0..3 {
                let _ = ws.channel(i);
            }
            self.gpu = Some(ws);
        }
        let Some(ws) = &self.gpu else { return };
        let i = self.rng.below(3);
        self.calls += 1;
        match self.rng.below(10) {
            0 => {
                ws.free_channel(i);
                let _ = ws.channel(i);
            }
            1 => {
                let put = self.rng.below(u64::from(ENTRIES) + 2) as u32;
                ws.put32(USERD + i * 0x200 + GP_PUT, put);
            }
            _ => {
                let slot = self.rng.below(16);
                ws.submit(i, slot, &random_segment(&mut self.rng));
            }
        }
    }

    // ---- the pieces every call is made of -------------------------------------------

    /// The fd in a slot of `kind` (mostly), or of any slot, or a bad number.
    fn fd_for(&mut self, kind: Kind) -> i32 {
        let slots = &self.shared.slots;
        if self.rng.chance(85) {
            let of_kind: Vec<usize> = (0..slots.len())
                .filter(|&i| slots[i].kind == kind)
                .collect();
            if !of_kind.is_empty() {
                let i = self.rng.pick(&of_kind);
                let fd = slots[i].fd.load(Ordering::Relaxed);
                if fd < 0 && self.rng.chance(50) {
                    return self.reopen(i);
                }
                return fd;
            }
        }
        self.any_fd()
    }

    /// Any fd of ours, a closed one, or a bad number.
    fn any_fd(&mut self) -> i32 {
        match self.rng.below(10) {
            0 => -1,
            1 => 200 + self.rng.below(50) as i32,
            2 if !self.closed_fds.is_empty() => {
                let v = self.closed_fds.clone();
                self.rng.pick(&v)
            }
            3 => self.pipe[self.rng.below(2) as usize],
            _ => {
                let i = self.rng.below(self.shared.slots.len() as u64) as usize;
                self.shared.slots[i].fd.load(Ordering::Relaxed)
            }
        }
    }

    fn reopen(&mut self, i: usize) -> i32 {
        let slot = &self.shared.slots[i];
        let Ok(c) = std::ffi::CString::new(slot.path.as_str()) else {
            return -1;
        };
        let flags = libc::O_RDWR
            | if self.rng.chance(20) {
                libc::O_NONBLOCK
            } else {
                0
            };
        self.calls += 1;
        // SAFETY: a valid path.
        let fd = unsafe { libc::open(c.as_ptr(), flags) };
        if fd >= 0 {
            let old = slot.fd.swap(fd, Ordering::Relaxed);
            if old >= 0 {
                let _g = self.shared.close_lock.lock();
                // SAFETY: the slot owned `old`; it is closed once, here.
                unsafe { libc::close(old) };
            }
        }
        fd
    }

    /// Closes fds that no slot holds (dma-bufs from exports, PRIME fds and the like).
    fn sweep_stray_fds(&mut self) {
        let _g = self.shared.close_lock.lock();
        let held: Vec<i32> = self
            .shared
            .slots
            .iter()
            .map(|s| s.fd.load(Ordering::Relaxed))
            .collect();
        for fd in 3..256 {
            if !held.contains(&fd) && !self.keep.contains(&fd) {
                // SAFETY: fd is none of the fds the test needs; EBADF if not open.
                unsafe { libc::close(fd) };
            }
        }
    }

    /// A pointer for the kernel to read from or write to: mostly into scratch, sometimes
    /// NULL, read-only, unmapped, past the end, non-canonical or a kernel address.
    fn ptr(&mut self) -> u64 {
        let s = self.scratch as u64;
        match self.rng.below(20) {
            0 => 0,
            1 => self.ro_page as u64 + self.rng.below(4096),
            2 => s + SCRATCH as u64 - self.rng.below(64),
            3 => s + SCRATCH as u64 + self.rng.below(1 << 20),
            4 => self
                .rng
                .pick(&[0xffff_8000_0000_0000, 0xffff_ffff_ff00_0000, u64::MAX - 7]),
            5 => self
                .rng
                .pick(&[0x0000_8000_0000_0000, 0x4141_4141_4141_4141, 0x1000]),
            6 if !self.maps.is_empty() => {
                let m = &self.maps[self.rng.below(self.maps.len() as u64) as usize];
                m.addr as u64 + self.rng.below(m.len as u64)
            }
            _ => s + (self.rng.below(SCRATCH as u64 - 65536) & !7),
        }
    }

    /// A size: page multiples, around the limits, zero, huge.
    fn size(&mut self) -> u64 {
        match self.rng.below(12) {
            0 => 0,
            1 => 4096,
            2 => 65536,
            3 => MIB,
            4 => 2 * MIB + 1,
            5 => 16 * MIB,
            6 => 48 * MIB,
            7 => 64 * MIB + 4096,
            8 => self.rng.pick(&[256 * MIB, 1 << 30, 4 << 30, 8 << 30]),
            9 => self
                .rng
                .pick(&[u64::MAX, u64::MAX - 4095, 1 << 63, u64::from(u32::MAX)]),
            10 => self.rng.below(8 * MIB),
            _ => (1 + self.rng.below(32)) * 4096,
        }
    }

    fn handle(&mut self) -> u32 {
        match self.rng.below(10) {
            0 => 0,
            1 => self.rng.next() as u32,
            2 | 3 if !self.clients.is_empty() => {
                let v = self.clients.clone();
                self.rng.pick(&v)
            }
            _ => {
                let v = self.handles.clone();
                self.rng.pick(&v)
            }
        }
    }

    fn client(&mut self) -> u32 {
        if !self.clients.is_empty() && self.rng.chance(85) {
            let v = self.clients.clone();
            self.rng.pick(&v)
        } else {
            self.handle()
        }
    }

    fn new_handle(&mut self) -> u32 {
        if self.rng.chance(15) {
            self.handle()
        } else {
            0x1000 + self.rng.below(0x4000) as u32
        }
    }

    /// A 64-bit word for a parameter field.
    fn word(&mut self) -> u64 {
        match self.rng.below(10) {
            0 | 1 => self.rng.below(16),
            2 => u64::from(self.handle()),
            3 => self.ptr(),
            4 => self.size(),
            5 => self.any_fd() as u32 as u64,
            6 => u64::from(self.rng.pick(&CLASSES)),
            _ => self.rng.next(),
        }
    }

    /// Bytes at `at` in scratch.
    fn buf(&mut self, at: usize, len: usize) -> &mut [u8] {
        assert!(at + len <= SCRATCH);
        // SAFETY: inside our read-write scratch buffer, which only the kernel and this
        // thread touch.
        unsafe { std::slice::from_raw_parts_mut((self.scratch + at) as *mut u8, len) }
    }

    fn put32(&mut self, at: usize, off: usize, v: u32) {
        self.buf(at + off, 4).copy_from_slice(&v.to_ne_bytes());
    }

    fn put64(&mut self, at: usize, off: usize, v: u64) {
        self.buf(at + off, 8).copy_from_slice(&v.to_ne_bytes());
    }

    fn get32(&mut self, at: usize, off: usize) -> u32 {
        u32::from_ne_bytes(self.buf(at + off, 4).try_into().unwrap())
    }

    /// A fresh place in scratch for `len` bytes of parameters.
    fn place(&mut self, len: usize) -> usize {
        let room = SCRATCH - 65536 - len.min(SCRATCH - 65536);
        (self.rng.below(room as u64 / 8) * 8) as usize
    }

    /// Fills `len` bytes at `at`: zeros, structured words or random bytes.
    fn fill(&mut self, at: usize, len: usize) {
        match self.rng.below(3) {
            0 => self.buf(at, len).fill(0),
            1 => {
                for off in (0..len).step_by(8) {
                    let w = self.word().to_ne_bytes();
                    let n = (len - off).min(8);
                    self.buf(at + off, n).copy_from_slice(&w[..n]);
                }
            }
            _ => {
                for off in (0..len).step_by(8) {
                    let w = self.rng.next().to_ne_bytes();
                    let n = (len - off).min(8);
                    self.buf(at + off, n).copy_from_slice(&w[..n]);
                }
            }
        }
    }

    /// Flips a few fields of the `len` bytes at `at` (30% of the calls).
    fn mutate(&mut self, at: usize, len: usize) {
        if len < 4 || !self.rng.chance(30) {
            return;
        }
        for _ in 0..1 + self.rng.below(3) {
            let off = (self.rng.below(len as u64 / 4) * 4) as usize;
            match self.rng.below(3) {
                0 => {
                    let bit = self.rng.below(32);
                    let v = self.get32(at, off) ^ (1 << bit);
                    self.put32(at, off, v);
                }
                1 => {
                    let w = self.word() as u32;
                    self.put32(at, off, w);
                }
                _ if off + 8 <= len => {
                    let w = self.word();
                    self.put64(at, off, w);
                }
                _ => self.put32(at, off, 0),
            }
        }
    }

    /// Where the kernel gets the argument of a call whose parameters sit at `at`: mostly
    /// there; sometimes a copy in the read-only page (the driver acts, the copy-back
    /// faults); sometimes a bad pointer.
    fn arg_for(&mut self, at: usize, len: usize) -> usize {
        match self.rng.below(20) {
            0 if len <= 4096 => {
                let ro = self.ro_page as *mut libc::c_void;
                // SAFETY: our own read-only page, made writable for the copy and read-only
                // again before the call.
                unsafe {
                    libc::mprotect(ro, 4096, libc::PROT_READ | libc::PROT_WRITE);
                    std::ptr::copy_nonoverlapping(
                        (self.scratch + at) as *const u8,
                        self.ro_page as *mut u8,
                        len,
                    );
                    libc::mprotect(ro, 4096, libc::PROT_READ);
                }
                self.ro_page
            }
            1 => self.ptr() as usize,
            _ => self.scratch + at,
        }
    }

    /// The ioctl itself, counted; `what` names it in a trace.
    fn ioctl(&mut self, fd: i32, cmd: u32, arg: usize, what: &str) -> Option<i32> {
        if self.trace {
            println!("  {what} fd {fd} cmd {cmd:#x} arg {arg:#x}");
            let _ = std::io::stdout().flush();
        }
        self.calls += 1;
        // SAFETY: the kernel validates `arg`; every pointer it may write through lies in
        // scratch, the read-only page, mappings of device files, or nowhere mapped.
        let r = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg) };
        if r < 0 {
            self.failed += 1;
            None
        } else {
            self.ok += 1;
            Some(r)
        }
    }

    /// An NVIDIA escape, sometimes through IOCTL_XFER_CMD (possibly nested) and sometimes
    /// with a wrong size or direction: returns whether the ioctl returned 0.
    fn escape(&mut self, fd: i32, nr: u8, at: usize, len: usize, what: &str) -> bool {
        if self.rng.chance(12) {
            let arg = self.xfer_chain(nr, at, len);
            let cmd = nv_cmd(IOC_READ | IOC_WRITE, XFER, 16);
            return self.ioctl(fd, cmd, arg, what).is_some();
        }
        let (dir, size) = match self.rng.below(25) {
            0 => (IOC_READ | IOC_WRITE, self.rng.below(0x4000) as usize),
            1 => (IOC_READ | IOC_WRITE, len.saturating_sub(1)),
            2 => (IOC_READ | IOC_WRITE, len + 8),
            3 => (self.rng.pick(&[IOC_NONE, IOC_READ, IOC_WRITE]), len),
            _ => (IOC_READ | IOC_WRITE, len),
        };
        let arg = self.arg_for(at, len);
        self.ioctl(fd, nv_cmd(dir, nr, size), arg, what).is_some()
    }

    /// XFER parameters wrapping escape `nr` at `at`; sometimes nested, wrong or bad.
    fn xfer_chain(&mut self, nr: u8, at: usize, len: usize) -> usize {
        let mut inner_nr = u32::from(nr);
        let mut inner_ptr = (self.scratch + at) as u64;
        let mut inner_len = len as u32;
        for _ in 0..1 + self.rng.below(3) {
            let x = self.place(16);
            let (cmd, size, ptr) = match self.rng.below(12) {
                0 => (
                    inner_nr,
                    self.rng.pick(&[0, 16383, 16384, 16385, u32::MAX]),
                    inner_ptr,
                ),
                1 => (self.rng.below(256) as u32, inner_len, inner_ptr),
                2 => (inner_nr, inner_len, self.ptr()),
                3 => (inner_nr | 0xc000_4600, inner_len, inner_ptr),
                _ => (inner_nr, inner_len, inner_ptr),
            };
            self.put32(x, 0, cmd);
            self.put32(x, 4, size);
            self.put64(x, 8, ptr);
            inner_nr = u32::from(XFER);
            inner_ptr = (self.scratch + x) as u64;
            inner_len = 16;
            if self.rng.chance(60) {
                break;
            }
        }
        inner_ptr as usize
    }

    /// The RM status at `off` of the parameters at `at`, counted.
    fn rm_status(&mut self, at: usize, off: usize) -> u32 {
        let s = self.get32(at, off);
        if s == 0 {
            self.rm_ok += 1;
        }
        s
    }

    fn remember(&mut self, list: Which, v: u32) {
        let l = match list {
            Which::Clients => &mut self.clients,
            Which::Handles => &mut self.handles,
            Which::Drm => &mut self.drm_handles,
        };
        if !l.contains(&v) {
            if l.len() >= 128 {
                l.remove(0);
            }
            l.push(v);
        }
    }

    // ---- operations ------------------------------------------------------------------

    /// A start-up as a CUDA client makes it: version, cards, client, device, subdevice,
    /// REGISTER_FD, UVM_INITIALIZE, a channel group, a channel and some memory.
    fn startup(&mut self) {
        let ctl = self.fd_for(Kind::Ctl);
        let gpu_kind = if self.rng.chance(50) {
            Kind::Gpu0
        } else {
            Kind::Gpu1
        };
        let gpu = self.fd_for(gpu_kind);
        let instance = u32::from(gpu_kind == Kind::Gpu1);
        let at = self.place(72 * 32);
        self.buf(at, 72).fill(0);
        self.put32(at, 0, u32::from(b'2'));
        self.ioctl(
            ctl,
            nv_cmd(IOC_READ | IOC_WRITE, 0xd2, 72),
            self.scratch + at,
            "version",
        );
        self.buf(at, 72 * 32).fill(0);
        self.ioctl(
            ctl,
            nv_cmd(IOC_READ | IOC_WRITE, 0xc8, 72 * 32),
            self.scratch + at,
            "cards",
        );
        // Client.
        let p = self.place(32);
        self.buf(p, 32).fill(0);
        self.put32(p, 12, 0x41);
        let alloc = nv_cmd(IOC_READ | IOC_WRITE, 0x2b, 32);
        if self.ioctl(ctl, alloc, self.scratch + p, "client").is_none()
            || self.rm_status(p, 28) != 0
        {
            return;
        }
        let client = self.get32(p, 0);
        self.remember(Which::Clients, client);
        let device = 0xd0 + instance;
        let subdevice = 0x5d0 + instance;
        let dp = self.place(56);
        self.buf(dp, 56).fill(0);
        self.put32(dp, 0, instance);
        let steps: [(u32, u32, u32, usize, usize); 4] = [
            (client, device, 0x80, dp, 56),
            (device, subdevice, 0x2080, 0, 0),
            (device, 0x300 + instance, 0xa06c, 0, 0),
            (0x300 + instance, 0x310 + instance, 0xc86f, 0, 368),
        ];
        for (parent, handle, class, params, plen) in steps {
            let pp = if plen > 0 && params == 0 {
                let q = self.place(plen);
                self.buf(q, plen).fill(0);
                q
            } else {
                params
            };
            self.buf(p, 32).fill(0);
            self.put32(p, 0, client);
            self.put32(p, 4, parent);
            self.put32(p, 8, handle);
            self.put32(p, 12, class);
            if plen > 0 {
                self.put64(p, 16, (self.scratch + pp) as u64);
                self.put32(p, 24, plen as u32);
            }
            if self
                .ioctl(ctl, alloc, self.scratch + p, "startup alloc")
                .is_some()
                && self.rm_status(p, 28) == 0
            {
                self.remember(Which::Handles, handle);
            }
        }
        // The GPU file linked to the client's nvidiactl.
        let r = self.place(4);
        self.put32(r, 0, ctl as u32);
        self.ioctl(
            gpu,
            nv_cmd(IOC_READ | IOC_WRITE, 0xc9, 4),
            self.scratch + r,
            "register_fd",
        );
        let uvm = self.fd_for(Kind::Uvm);
        let u = self.place(16);
        self.buf(u, 16).fill(0);
        self.ioctl(uvm, 0x3000_0001, self.scratch + u, "uvm init");
        // Some memory.
        for _ in 0..1 + self.rng.below(3) {
            let m = self.place(128);
            self.buf(m, 128).fill(0);
            let size = self.rng.pick(&[MIB, 4 * MIB, 16 * MIB, 40 * MIB]);
            self.put64(m, 64, size);
            let h = self.new_handle();
            self.buf(p, 32).fill(0);
            self.put32(p, 0, client);
            self.put32(p, 4, device);
            self.put32(p, 8, h);
            self.put32(p, 12, 0x40);
            self.put64(p, 16, (self.scratch + m) as u64);
            self.put32(p, 24, 128);
            if self
                .ioctl(ctl, alloc, self.scratch + p, "startup memory")
                .is_some()
                && self.rm_status(p, 28) == 0
            {
                self.remember(Which::Handles, h);
            }
        }
    }

    fn op_escape(&mut self) {
        let (nr, sizes) = if self.rng.chance(85) {
            if self.rng.chance(85) {
                self.rng.pick(&ESCAPES)
            } else {
                self.rng.pick(&MORE_ESCAPES)
            }
        } else {
            (self.rng.below(256) as u8, &[16usize][..])
        };
        let len = self.rng.pick(sizes);
        let at = self.place(len);
        self.fill(at, len);
        let kind = self
            .rng
            .pick(&[Kind::Ctl, Kind::Ctl, Kind::Gpu0, Kind::Gpu1, Kind::Uvm]);
        let fd = self.fd_for(kind);
        self.escape(fd, nr, at, len, "escape");
    }

    /// RM_ALLOC of a known class (or not) with parameters shaped for it.
    fn op_rm_alloc(&mut self, fd: i32, _nested: bool) {
        let class = if self.rng.chance(90) {
            self.rng.pick(&CLASSES)
        } else {
            self.rng.next() as u32
        };
        let plen = match class {
            0x80 => 56,
            0x40 | 0x3e => self.rng.pick(&[120, 128]),
            0x71 => 40,
            0xfd => 80,
            c if (c & 0xff) == 0x6f => 368,
            _ => self.rng.pick(&[0, 16, 64, 256]),
        };
        let pp = self.place(plen.max(8));
        if plen > 0 {
            if self.rng.chance(70) {
                self.buf(pp, plen).fill(0);
            } else {
                self.fill(pp, plen);
            }
            match class {
                0x80 => {
                    let id = self.rng.pick(&[0, 1, 1, 2, 0xffff_ffff]);
                    self.put32(pp, 0, id);
                }
                0x40 | 0x3e => {
                    let size = self.size();
                    self.put64(pp, 64, size);
                    if self.rng.chance(20) {
                        let attr = (self.rng.below(4) as u32) << 25;
                        self.put32(pp, 24, attr);
                    }
                }
                0x71 => {
                    let desc = self.ptr();
                    self.put64(pp, 16, desc);
                    let limit = self.rng.pick(&[4095, 65535, MIB - 1, u64::MAX, 0]);
                    self.put64(pp, 24, limit);
                }
                0xfd => {
                    let size = self.size();
                    self.put64(pp, 48, size);
                }
                _ => {}
            }
            self.mutate(pp, plen);
        }
        let client = if matches!(class, 0 | 1 | 0x41) && self.rng.chance(70) {
            0
        } else {
            self.client()
        };
        let parent = match class {
            0 | 1 | 0x41 => 0,
            0x80 if self.rng.chance(70) => client,
            _ => self.handle(),
        };
        let handle = if matches!(class, 0 | 1 | 0x41) && self.rng.chance(50) {
            0
        } else {
            self.new_handle()
        };
        let big = self.rng.chance(25);
        let len = if big { 48 } else { 32 };
        let p = self.place(len);
        self.buf(p, len).fill(0);
        self.put32(p, 0, client);
        self.put32(p, 4, parent);
        self.put32(p, 8, handle);
        self.put32(p, 12, class);
        let pptr = if plen > 0 && self.rng.chance(90) {
            (self.scratch + pp) as u64
        } else {
            self.ptr()
        };
        self.put64(p, 16, pptr);
        let psize = if self.rng.chance(80) {
            plen as u32
        } else {
            self.word() as u32
        };
        if big {
            let rights = if self.rng.chance(80) { 0 } else { self.ptr() };
            self.put64(p, 24, rights);
            self.put32(p, 32, psize);
        } else {
            self.put32(p, 24, psize);
        }
        self.mutate(p, len);
        if self.escape(fd, 0x2b, p, len, "rm_alloc") {
            let status_at = if big { 40 } else { 28 };
            if self.rm_status(p, status_at) == 0 {
                let (root, new) = (self.get32(p, 0), self.get32(p, 8));
                if matches!(class, 0 | 1 | 0x41) {
                    self.remember(Which::Clients, root);
                } else {
                    self.remember(Which::Handles, new);
                }
            }
        }
    }

    fn op_rm_free(&mut self) {
        let fd = self.fd_for(Kind::Ctl);
        let p = self.place(16);
        let client = self.client();
        let (parent, object) = match self.rng.below(6) {
            0 => (0, client),
            1 => (client, self.handle()),
            _ => (self.handle(), self.handle()),
        };
        self.put32(p, 0, client);
        self.put32(p, 4, parent);
        self.put32(p, 8, object);
        self.put32(p, 12, 0);
        self.mutate(p, 16);
        if self.escape(fd, 0x29, p, 16, "rm_free") {
            self.rm_status(p, 12);
        }
    }

    fn op_rm_control(&mut self) {
        let fd = self.fd_for(Kind::Ctl);
        let cmd = if self.rng.chance(85) {
            self.rng.pick(&CONTROLS)
        } else {
            self.rng.next() as u32
        };
        let plen = match cmd {
            0x2080_1303 => 436,
            0x2080_1301 => 16,
            0x201 => 128,
            _ => self.rng.pick(&[0usize, 4, 8, 16, 64, 256, 4096]),
        };
        let pp = self.place(plen.max(16));
        self.fill(pp, plen.max(16));
        if cmd == 0x2080_1301 {
            // The first version's list is pointed to.
            let count = self.rng.pick(&[0u32, 2, 54, 55, u32::MAX]);
            self.put32(pp, 0, count);
            let list = self.ptr();
            self.put64(pp, 8, list);
        } else if cmd == 0x2080_1303 {
            let count = self.rng.pick(&[0u32, 2, 54, 55, u32::MAX]);
            self.put32(pp, 0, count);
        }
        let p = self.place(32);
        let client = self.client();
        let object = self.handle();
        self.put32(p, 0, client);
        self.put32(p, 4, object);
        self.put32(p, 8, cmd);
        let flags = if self.rng.chance(90) {
            0
        } else {
            self.rng.next() as u32
        };
        self.put32(p, 12, flags);
        let params = if self.rng.chance(85) {
            (self.scratch + pp) as u64
        } else {
            self.ptr()
        };
        self.put64(p, 16, params);
        let size = match self.rng.below(10) {
            0 => self.rng.pick(&[0u32, 1 << 20, (1 << 20) + 1, u32::MAX]),
            1 => self.rng.below(1 << 21) as u32,
            _ => plen as u32,
        };
        self.put32(p, 24, size);
        self.put32(p, 28, 0);
        self.mutate(p, 32);
        if self.escape(fd, 0x2a, p, 32, "rm_control") {
            self.rm_status(p, 28);
        }
    }

    fn op_vid_heap(&mut self) {
        let fd = self.fd_for(Kind::Ctl);
        let p = self.place(184);
        if self.rng.chance(70) {
            self.buf(p, 184).fill(0);
        } else {
            self.fill(p, 184);
        }
        let client = self.client();
        let parent = self.handle();
        let function = self.rng.pick(&[2u32, 2, 2, 3, 3, 5, 6, 14, 19, 20, 27, 99]);
        self.put32(p, 0, client);
        self.put32(p, 4, parent);
        self.put32(p, 8, function);
        let memory = if function == 3 || self.rng.chance(50) {
            self.handle()
        } else {
            0
        };
        self.put32(p, 44, memory);
        if self.rng.chance(20) {
            self.put32(p, 52, 0x0008_0000);
        }
        if self.rng.chance(30) {
            let attr = (self.rng.below(4) as u32) << 25;
            self.put32(p, 56, attr);
        }
        let size = self.size();
        self.put64(p, 88, size);
        self.mutate(p, 184);
        if self.escape(fd, 0x4a, p, 184, "vid_heap") && self.rm_status(p, 20) == 0 {
            let h = self.get32(p, 44);
            self.remember(Which::Handles, h);
        }
    }

    fn op_dup_share(&mut self) {
        let fd = self.fd_for(Kind::Ctl);
        if self.rng.chance(80) {
            let p = self.place(28);
            let (c, par, new, sc, so) = (
                self.client(),
                self.handle(),
                self.new_handle(),
                self.client(),
                self.handle(),
            );
            for (off, v) in [
                (0, c),
                (4, par),
                (8, new),
                (12, sc),
                (16, so),
                (20, 0),
                (24, 0),
            ] {
                self.put32(p, off, v);
            }
            self.mutate(p, 28);
            if self.escape(fd, 0x34, p, 28, "dup") && self.rm_status(p, 24) == 0 {
                let h = self.get32(p, 8);
                self.remember(Which::Handles, h);
            }
        } else {
            let p = self.place(24);
            self.fill(p, 24);
            let c = self.client();
            self.put32(p, 0, c);
            self.escape(fd, 0x35, p, 24, "share");
        }
    }

    /// The escapes that carry fds: REGISTER_FD, RM_MAP_MEMORY, RM_UNMAP_MEMORY,
    /// RM_ALLOC_MEMORY.
    fn op_fd_escape(&mut self) {
        match self.rng.below(4) {
            0 => {
                let gk = self.rng.pick(&[Kind::Gpu0, Kind::Gpu1, Kind::Ctl]);
                let fd = self.fd_for(gk);
                let p = self.place(4);
                let ctl = if self.rng.chance(60) {
                    self.fd_for(Kind::Ctl)
                } else {
                    self.any_fd()
                };
                self.put32(p, 0, ctl as u32);
                self.escape(fd, 0xc9, p, 4, "register_fd");
            }
            1 => {
                let fd = self.fd_for(Kind::Ctl);
                let p = self.place(56);
                self.buf(p, 56).fill(0);
                let (c, d, m) = (self.client(), self.handle(), self.handle());
                self.put32(p, 0, c);
                self.put32(p, 4, d);
                self.put32(p, 8, m);
                let off = if self.rng.chance(70) { 0 } else { self.size() };
                let len = if self.rng.chance(50) {
                    4096
                } else {
                    self.size()
                };
                self.put64(p, 16, off);
                self.put64(p, 24, len);
                let flags = if self.rng.chance(80) {
                    0
                } else {
                    self.rng.next() as u32
                };
                self.put32(p, 44, flags);
                let map_fd = if self.rng.chance(60) {
                    let k = self.rng.pick(&[Kind::Gpu0, Kind::Gpu1, Kind::Ctl]);
                    self.fd_for(k)
                } else {
                    self.any_fd()
                };
                self.put32(p, 48, map_fd as u32);
                self.mutate(p, 56);
                if self.escape(fd, 0x4e, p, 56, "map_memory") && self.rm_status(p, 40) == 0 {
                    // Map the file it named, as a client would.
                    let len = self.get32(p, 24) as usize;
                    self.mmap_fd(map_fd, len.clamp(4096, 4 << 20), 0);
                }
            }
            2 => {
                let fd = self.fd_for(Kind::Ctl);
                let p = self.place(32);
                self.fill(p, 32);
                let (c, d, m) = (self.client(), self.handle(), self.handle());
                self.put32(p, 0, c);
                self.put32(p, 4, d);
                self.put32(p, 8, m);
                self.escape(fd, 0x4f, p, 32, "unmap_memory");
            }
            _ => {
                let gk = self
                    .rng
                    .pick(&[Kind::Gpu0, Kind::Gpu1, Kind::Gpu0, Kind::Ctl]);
                let fd = self.fd_for(gk);
                let p = self.place(56);
                self.buf(p, 56).fill(0);
                let (c, par, new) = (self.client(), self.handle(), self.new_handle());
                let class = self.rng.pick(&[0x3eu32, 0x3e, 0x40, 0x71, 0x80, 0xbeef]);
                self.put32(p, 0, c);
                self.put32(p, 4, par);
                self.put32(p, 8, new);
                self.put32(p, 12, class);
                let flags = if self.rng.chance(80) {
                    0
                } else {
                    self.rng.next() as u32
                };
                self.put32(p, 16, flags);
                let mem = if self.rng.chance(50) { 0 } else { self.ptr() };
                self.put64(p, 24, mem);
                let limit = self
                    .rng
                    .pick(&[4095u64, 8191, MIB - 1, 16 * MIB - 1, u64::MAX, 0]);
                self.put64(p, 32, limit);
                let wfd = if self.rng.chance(50) {
                    -1
                } else {
                    self.any_fd()
                };
                self.put32(p, 48, wfd as u32);
                self.mutate(p, 56);
                if self.escape(fd, 0x27, p, 56, "alloc_memory") && self.rm_status(p, 40) == 0 {
                    let h = self.get32(p, 8);
                    self.remember(Which::Handles, h);
                }
            }
        }
    }

    fn op_uvm(&mut self) {
        let commands: Vec<_> = abi::nv_uvm::UVM_COMMANDS_535.iter().collect();
        let fd = if self.rng.chance(85) {
            self.fd_for(Kind::Uvm)
        } else {
            self.any_fd()
        };
        let (cmd, len, fd_offsets) = if self.rng.chance(85) {
            let c = commands[self.rng.below(commands.len() as u64) as usize];
            (c.cmd, c.size, c.fd_offsets)
        } else {
            let random = self.rng.next() as u32;
            let c = self
                .rng
                .pick(&[1u32, 2, 3, 21, 33, 45, 73, 0x3000_0003, random]);
            (c, self.rng.pick(&[0usize, 8, 16, 64, 9264]), &[][..])
        };
        let p = self.place(len.max(16));
        if self.rng.chance(60) {
            self.buf(p, len.max(16)).fill(0);
        } else {
            self.fill(p, len.max(16));
        }
        if cmd == 37 || cmd == 25 || cmd == 27 {
            let mut uuid = *b"nvsimgpu\0\0\0\0\0\0\0\0";
            uuid[15] = self.rng.below(3) as u8;
            self.buf(p, 16).copy_from_slice(&uuid);
        }
        for &off in fd_offsets {
            let v = if self.rng.chance(50) {
                let k = self.rng.pick(&[Kind::Uvm, Kind::Ctl, Kind::Gpu0]);
                self.fd_for(k)
            } else {
                self.any_fd()
            };
            self.put32(p, off, v as u32);
        }
        self.mutate(p, len);
        let arg = self.arg_for(p, len);
        self.ioctl(fd, cmd, arg, "uvm");
    }

    /// One of the calls above wrapped in IOCTL_XFER_CMD (the wrapping is in `escape`; here
    /// more of it, on every kind of call).
    fn op_xfer(&mut self) {
        let fd = self.fd_for(Kind::Ctl);
        let (nr, sizes) = self.rng.pick(&ESCAPES);
        let len = self.rng.pick(sizes);
        let at = self.place(len);
        self.fill(at, len);
        let arg = self.xfer_chain(nr, at, len);
        let size = if self.rng.chance(90) {
            16
        } else {
            self.rng.below(64) as usize
        };
        self.ioctl(fd, nv_cmd(IOC_READ | IOC_WRITE, XFER, size), arg, "xfer");
    }

    /// mmap of `fd`, recorded for munmap; returns the address.
    fn mmap_fd(&mut self, fd: i32, len: usize, offset: u64) -> Option<usize> {
        if self.maps.len() >= 48 {
            let m = self.maps.remove(0);
            // SAFETY: a mapping this fuzzer made and nothing else uses.
            unsafe { libc::munmap(m.addr as *mut libc::c_void, m.len) };
        }
        let prot = self.rng.pick(&[
            libc::PROT_READ | libc::PROT_WRITE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::PROT_READ,
            libc::PROT_WRITE,
            libc::PROT_NONE,
            libc::PROT_READ | libc::PROT_EXEC,
        ]);
        let mut flags = if self.rng.chance(80) {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        if len <= (1 << 20) && self.rng.chance(20) {
            flags |= libc::MAP_POPULATE;
        }
        if self.rng.chance(10) {
            flags |= libc::MAP_NORESERVE;
        }
        if self.trace {
            println!("  mmap fd {fd} len {len:#x} off {offset:#x} prot {prot} flags {flags:#x}");
        }
        self.calls += 1;
        // SAFETY: a new mapping placed by the kernel (no MAP_FIXED): nothing existing moves.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                flags,
                fd,
                offset as libc::off_t,
            )
        };
        if addr == libc::MAP_FAILED {
            self.failed += 1;
            return None;
        }
        self.ok += 1;
        self.maps.push(Mapping {
            addr: addr as usize,
            len,
        });
        if self.rng.chance(50) {
            self.touch(self.maps.len() - 1);
        }
        Some(addr as usize)
    }

    fn op_mmap(&mut self) {
        let kind = self.rng.pick(&[
            Kind::Gpu0,
            Kind::Gpu1,
            Kind::Ctl,
            Kind::Uvm,
            Kind::Card,
            Kind::Virtio,
            Kind::Zero,
        ]);
        let fd = self.fd_for(kind);
        let len = match self.rng.below(8) {
            0 => 0,
            1 => 1 << 40,
            2 => self.rng.below(1 << 20) as usize + 1,
            _ => ((1 + self.rng.below(256)) * 4096) as usize,
        };
        let offset = match self.rng.below(8) {
            0 | 1 => 0,
            2 if !self.dumb_offsets.is_empty() => {
                let v = self.dumb_offsets.clone();
                self.rng.pick(&v)
            }
            3 => self.rng.below(1 << 20) * 4096,
            4 => self.rng.next() & !4095,
            5 => self.rng.below(4096),
            // For the UVM node: offset == address, as managed ranges are made.
            6 => self.scratch as u64,
            _ => self.size() & !4095,
        };
        self.mmap_fd(fd, len, offset);
    }

    /// Faults a page of mapping `i` in through the kernel (a pipe copy), so a bad mapping
    /// gives EFAULT, not a signal: read, and sometimes written.
    fn touch(&mut self, i: usize) {
        let m = &self.maps[i];
        let addr = m.addr + (self.rng.below(m.len.div_ceil(4096) as u64) as usize) * 4096;
        let n = 16usize;
        self.calls += 2;
        // SAFETY: the pipe copies from and to user memory with fault handling: a bad or
        // inaccessible address gives EFAULT. The pipe is drained after each write.
        unsafe {
            if libc::write(self.pipe[1], addr as *const libc::c_void, n) > 0 {
                let mut sink = [0u8; 16];
                libc::read(self.pipe[0], sink.as_mut_ptr().cast(), n);
            }
            if self.rng.chance(50) {
                let src = [0x5au8; 16];
                if libc::write(self.pipe[1], src.as_ptr().cast(), n) > 0
                    && libc::read(self.pipe[0], addr as *mut libc::c_void, n) < 0
                {
                    // Not writable: drain what the failed read left.
                    let mut sink = [0u8; 16];
                    libc::read(self.pipe[0], sink.as_mut_ptr().cast(), n);
                }
            }
        }
    }

    fn op_unmap(&mut self) {
        if self.maps.is_empty() {
            return;
        }
        let i = self.rng.below(self.maps.len() as u64) as usize;
        self.calls += 1;
        match self.rng.below(5) {
            0 | 1 => {
                let m = self.maps.remove(i);
                // SAFETY: a mapping this fuzzer made.
                unsafe { libc::munmap(m.addr as *mut libc::c_void, m.len) };
            }
            2 => {
                // A hole in the middle: the VMA splits (vm_ops open/close).
                let m = &self.maps[i];
                if m.len >= 3 * 4096 {
                    let at = m.addr + 4096;
                    // SAFETY: one page inside a mapping this fuzzer made; the rest stays
                    // recorded and is unmapped whole later (munmap of a hole is a no-op).
                    unsafe { libc::munmap(at as *mut libc::c_void, 4096) };
                }
            }
            3 => {
                let m = self.maps.remove(i);
                let new_len = ((1 + self.rng.below(64)) * 4096) as usize;
                // SAFETY: moves or resizes a mapping this fuzzer made; its new place is
                // chosen by the kernel.
                let r = unsafe {
                    libc::mremap(
                        m.addr as *mut libc::c_void,
                        m.len,
                        new_len,
                        libc::MREMAP_MAYMOVE,
                    )
                };
                if r == libc::MAP_FAILED {
                    self.maps.push(m);
                } else {
                    self.maps.push(Mapping {
                        addr: r as usize,
                        len: new_len,
                    });
                }
            }
            _ => self.touch(i),
        }
    }

    fn op_drm(&mut self) {
        use abi::drm::*;
        let kind = if self.rng.chance(60) {
            Kind::Card
        } else {
            Kind::Virtio
        };
        let fd = self.fd_for(kind);
        let drm_handle = |s: &mut Self| {
            if !s.drm_handles.is_empty() && s.rng.chance(80) {
                let v = s.drm_handles.clone();
                s.rng.pick(&v)
            } else {
                s.rng.below(64) as u32
            }
        };
        match self.rng.below(9) {
            0 | 1 => {
                let p = self.place(32);
                self.buf(p, 32).fill(0);
                let dims = [0u32, 1, 64, 256, 1000, 4096, 65535, u32::MAX];
                let (h, w) = (self.rng.pick(&dims), self.rng.pick(&dims));
                let bpp = self.rng.pick(&[32u32, 32, 16, 8, 24, 0, 7, 1024, u32::MAX]);
                self.put32(p, 0, h);
                self.put32(p, 4, w);
                self.put32(p, 8, bpp);
                self.mutate(p, 32);
                let arg = self.arg_for(p, 32);
                if self
                    .ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, arg, "create_dumb")
                    .is_some()
                {
                    let h = self.get32(p, 16);
                    self.remember(Which::Drm, h);
                }
            }
            2 => {
                let p = self.place(16);
                self.buf(p, 16).fill(0);
                let h = drm_handle(self);
                self.put32(p, 0, h);
                if self
                    .ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, self.scratch + p, "map_dumb")
                    .is_some()
                {
                    let off = u64::from_ne_bytes(self.buf(p + 8, 8).try_into().unwrap());
                    if self.dumb_offsets.len() < 32 {
                        self.dumb_offsets.push(off);
                    }
                    if self.rng.chance(50) {
                        let len = 4096 * (1 + self.rng.below(4) as usize);
                        self.mmap_fd(fd, len, off);
                    }
                }
            }
            3 => {
                let p = self.place(8);
                let h = drm_handle(self);
                self.put32(p, 0, h);
                self.put32(p, 4, 0);
                let cmd = if self.rng.chance(50) {
                    DRM_IOCTL_MODE_DESTROY_DUMB
                } else {
                    DRM_IOCTL_GEM_CLOSE
                };
                self.ioctl(fd, cmd, self.scratch + p, "destroy");
            }
            4 => {
                let p = self.place(16);
                let h = drm_handle(self);
                self.put32(p, 0, h);
                let flags = if self.rng.chance(50) {
                    DRM_CLOEXEC | DRM_RDWR
                } else {
                    0
                };
                self.put32(p, 4, flags);
                self.put32(p, 8, u32::MAX);
                if self.rng.chance(50) {
                    self.ioctl(
                        fd,
                        DRM_IOCTL_PRIME_HANDLE_TO_FD,
                        self.scratch + p,
                        "prime export",
                    );
                } else {
                    let other = self.any_fd();
                    self.put32(p, 8, other as u32);
                    self.ioctl(
                        fd,
                        DRM_IOCTL_PRIME_FD_TO_HANDLE,
                        self.scratch + p,
                        "prime import",
                    );
                }
            }
            5 if kind == Kind::Virtio => {
                // RESOURCE_CREATE with sizes around the limits.
                let p = self.place(56);
                self.buf(p, 56).fill(0);
                let side = self.rng.pick(&[1u32, 16, 64, 256, 1024, 4096]);
                for (i, v) in [2u32, 1, 2, side, side, 1, 1].into_iter().enumerate() {
                    self.put32(p, i * 4, v);
                }
                let size =
                    self.rng
                        .pick(&[0u32, 4096, side * side * 4, 1 << 20, 32 << 20, u32::MAX]);
                self.put32(p, 48, size);
                self.mutate(p, 56);
                if self
                    .ioctl(
                        fd,
                        DRM_IOCTL_VIRTGPU_RESOURCE_CREATE,
                        self.scratch + p,
                        "resource_create",
                    )
                    .is_some()
                {
                    let h = self.get32(p, 40);
                    self.remember(Which::Drm, h);
                }
            }
            6 if kind == Kind::Virtio => {
                let p = self.place(48);
                self.fill(p, 48);
                let size = self.size();
                self.put64(p, 16, size);
                let cmd_size = self.rng.pick(&[0u32, 8, 1024, 1025, u32::MAX]);
                self.put32(p, 28, cmd_size);
                let cmd_ptr = self.ptr();
                self.put64(p, 32, cmd_ptr);
                self.ioctl(
                    fd,
                    DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB,
                    self.scratch + p,
                    "blob",
                );
            }
            7 => {
                // A driver ioctl, 0x40..0x9f, with mutated arguments.
                let nr = 0x40 + self.rng.below(0x60) as u8;
                let len = self.rng.pick(&[0usize, 8, 16, 32, 48, 56, 64, 128]);
                let p = self.place(len.max(8));
                self.fill(p, len.max(8));
                // Keep sizes the meter or the driver take from the arguments small.
                if nr == 0x44 && len >= 52 {
                    self.put32(p, 48, 4096);
                }
                if nr == 0x4a && len >= 24 {
                    self.put64(p, 16, 4096);
                }
                let dir = self
                    .rng
                    .pick(&[IOC_READ | IOC_WRITE, IOC_WRITE, IOC_READ, IOC_NONE]);
                let arg = self.arg_for(p, len);
                self.ioctl(fd, ioc(dir, b'd', nr, len), arg, "drm driver");
            }
            _ => {
                // Core calls with pointers: VERSION, GET_CAP.
                let p = self.place(64);
                self.fill(p, 64);
                if self.rng.chance(50) {
                    let ptr = self.ptr();
                    self.put64(p, 16, 16);
                    self.put64(p, 24, ptr);
                    self.ioctl(fd, DRM_IOCTL_VERSION, self.scratch + p, "drm version");
                } else {
                    let cap = self.rng.below(0x20);
                    self.put64(p, 0, cap);
                    self.ioctl(fd, DRM_IOCTL_GET_CAP, self.scratch + p, "drm cap");
                }
            }
        }
    }

    fn op_close_reopen(&mut self) {
        let i = self.rng.below(self.shared.slots.len() as u64) as usize;
        let old = self.shared.slots[i].fd.swap(-1, Ordering::Relaxed);
        if old >= 0 {
            self.calls += 1;
            {
                let _g = self.shared.close_lock.lock();
                // SAFETY: the slot owned `old`; it is closed once, here.
                unsafe { libc::close(old) };
            }
            if self.closed_fds.len() < 16 {
                self.closed_fds.push(old);
            }
        }
        if self.rng.chance(60) {
            self.reopen(i);
        }
    }

    fn op_random_ioctl(&mut self) {
        let fd = self.any_fd();
        let len = self.rng.below(256) as usize;
        let p = self.place(len.max(8));
        self.fill(p, len.max(8));
        let random = self.rng.next() as u8;
        let ty = self.rng.pick(&[b'F', b'F', b'd', random]);
        let nr = self.rng.next() as u8;
        let dir = self.rng.below(4) as u32;
        let cmd = if self.rng.chance(20) {
            self.rng.below(128) as u32
        } else {
            ioc(dir, ty, nr, len)
        };
        let arg = self.arg_for(p, len);
        self.ioctl(fd, cmd, arg, "random ioctl");
    }

    fn close_everything(&mut self) {
        for m in self.maps.drain(..) {
            // SAFETY: mappings this fuzzer made.
            unsafe { libc::munmap(m.addr as *mut libc::c_void, m.len) };
        }
        for s in &self.shared.slots {
            let fd = s.fd.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                // SAFETY: the slot owned it.
                unsafe { libc::close(fd) };
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Which {
    Clients,
    Handles,
    Drm,
}

/// The second thread: closes a random slot's fd now and then, under the main thread's calls.
fn closer(sh: &Shared, rng: &mut Rng) {
    while !sh.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_micros(500 + rng.below(20_000)));
        if rng.chance(30) {
            let i = rng.below(sh.slots.len() as u64) as usize;
            let _g = sh.close_lock.lock();
            let fd = sh.slots[i].fd.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                // SAFETY: the slot owned `fd`; it is closed once, here.
                unsafe { libc::close(fd) };
            }
        }
    }
}
