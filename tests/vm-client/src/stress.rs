//! Stress (issue 7, item 2): P processes of T threads each, spread over cgroups, allocate,
//! map, free and close on fakegpu's NVIDIA nodes, fork (the child allocates on the inherited
//! file) and exec (the new image holds an inherited file a while), while the parent SIGKILLs
//! and respawns processes, moves them between cgroups and changes the limits live. A thread
//! of each process feeds nvsim's engine random pushbuffers on three channels (made and freed
//! as it goes, and dropped with work queued), so processes are also killed mid-launch.
//!
//! Checked all along: no limited cgroup above its limit (unless that limit was just lowered
//! below what it held: then not above the old limit, until it is back under), and no charge
//! wrapped below zero. Checked every few seconds with the cgroups frozen: the charges equal
//! nvsim's ground truth. At the end, with everything killed: every charge zero and nvsim
//! back where it was.
//!
//! Budget and seed: `STRESS_SEED` (default: from the clock; printed), `STRESS_OPS` (calls
//! made by all threads together), `STRESS_SECONDS`, whichever ends first; `STRESS_PROCS` and
//! `STRESS_THREADS` set P and T. The seed fixes each thread's operations and the parent's
//! schedule; the interleaving depends on timing.

use crate::cgroup_util::{write_file, TestCgroup, CGROUP_ROOT};
use crate::fuzz::{clock_seed, env_num, per_gpu, settle, splitmix, truth, Rng, Truth};
use crate::{ensure, Case};
use abi::ioc::iowr;
use abi::nv_frontend::NV_IOCTL_MAGIC;
use abi::nv_rm::{esc, memory_alloc_params, Nvos21};
use nv_client::rm;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The suite's short run.
pub const ALL: &[Case] = &[("stress_short", stress_short)];

const MIB: u64 = 1 << 20;
/// Device handles per GPU in every client the threads make.
const DEVICES: [u32; 2] = [0xd0, 0xd1];
/// Allocations a thread holds at most.
const HELD_MAX: usize = 12;
/// A thread reports its calls to the parent in batches of this many.
const REPORT_EVERY: u64 = 32;
/// Anything above this is a charge that wrapped below zero (nvsim has 2 x 4 GiB).
const SANE: u64 = 1 << 40;

struct Budget {
    seed: u64,
    ops: u64,
    seconds: u64,
    procs: u64,
    threads: u64,
}

impl Budget {
    fn from_env(seconds: u64, ops: u64, procs: u64, threads: u64) -> Result<Self, String> {
        Ok(Budget {
            seed: env_num("STRESS_SEED", clock_seed())?,
            ops: env_num("STRESS_OPS", ops)?.max(1),
            seconds: env_num("STRESS_SECONDS", seconds)?.max(1),
            procs: env_num("STRESS_PROCS", procs)?.clamp(1, 64),
            threads: env_num("STRESS_THREADS", threads)?.clamp(1, 16),
        })
    }
}

fn stress_short() -> Result<(), String> {
    run(Budget::from_env(15, 2_000_000, 8, 2)?)
}

/// `fakegpu-vmtest stress`: the long run (`make stress-long`).
pub fn run_long() -> Result<(), String> {
    run(Budget::from_env(600, u64::MAX / 2, 6, 4)?)
}

// ---------------------------------------------------------------------------------------
// The parent.

/// A cgroup of the run, and the GPU memory limits written to it.
struct StressCgroup {
    cg: TestCgroup,
    /// Whether the run changes its limits (None: never limited).
    limited: bool,
    /// memory.max per GPU (None: max).
    max: [Option<u64>; 2],
    /// Per GPU, after a limit was lowered below the charge: the highest limit since it was
    /// last seen within its limit (the charge may stay up to that until it drains).
    lowered: [Option<u64>; 2],
    /// Top-level: its charges include its children's.
    top: bool,
}

fn make_cgroups() -> Result<Vec<StressCgroup>, String> {
    let a = TestCgroup::create("/fakegpu-stress-a")?;
    a.set("memory.max", "48M")?;
    let b = TestCgroup::create("/fakegpu-stress-b")?;
    let c = TestCgroup::create("/fakegpu-stress-b/c")?;
    c.set("memory.max", "gpu1 32M")?;
    let d = TestCgroup::create("/fakegpu-stress-d")?;
    d.set("memory.max", "gpu0 40M")?;
    let cg = |cg, limited, max, top| StressCgroup {
        cg,
        limited,
        max,
        lowered: [None, None],
        top,
    };
    Ok(vec![
        cg(a, true, [Some(48 * MIB), Some(48 * MIB)], true),
        cg(b, false, [None, None], true),
        cg(c, true, [None, Some(32 * MIB)], false),
        cg(d, true, [Some(40 * MIB), None], true),
    ])
}

/// Checks every charge for wrapping, and the limits (see the module comment).
fn check_limits(cgs: &mut [StressCgroup]) -> Result<(), String> {
    for f in cgs.iter_mut() {
        for file in ["pinned.current", "drm.memory.current"] {
            let v = f.cg.single(file)?;
            ensure(v < SANE, || format!("{} {file} = {v}: wrapped", f.cg.path))?;
        }
        for g in 0..2usize {
            let cur = per_gpu(&f.cg, "memory.current", g as u32)?;
            ensure(cur < SANE, || {
                format!("{} memory.current gpu{g} = {cur}: wrapped", f.cg.path)
            })?;
            let Some(max) = f.max[g] else {
                f.lowered[g] = None;
                continue;
            };
            if cur <= max {
                f.lowered[g] = None;
                continue;
            }
            match f.lowered[g] {
                Some(old) if cur <= old => {}
                _ => {
                    return Err(format!(
                        "{} memory.current gpu{g} {cur} > limit {max} (lowered from {:?})",
                        f.cg.path, f.lowered[g]
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Writes a new limit to a random GPU (or both) of a limited cgroup.
fn change_limit(rng: &mut Rng, cgs: &mut [StressCgroup]) -> Result<String, String> {
    let limited: Vec<usize> = (0..cgs.len()).filter(|&i| cgs[i].limited).collect();
    let f = &mut cgs[rng.pick(&limited)];
    let value = rng.pick(&[Some(8 * MIB), Some(24 * MIB), Some(64 * MIB), None]);
    let text = value.map_or("max".to_string(), |v| format!("{}M", v / MIB));
    let gpus: Vec<usize> = if rng.chance(30) {
        vec![0, 1]
    } else {
        vec![rng.below(2) as usize]
    };
    let what = if gpus.len() == 2 {
        text.clone()
    } else {
        format!("gpu{} {text}", gpus[0])
    };
    // Recorded before the write: a charge racing the write was checked against the old one.
    for &g in &gpus {
        let old = f.max[g].unwrap_or(u64::MAX);
        if value.is_some_and(|v| v < old) {
            f.lowered[g] = Some(f.lowered[g].unwrap_or(0).max(old));
        }
    }
    f.cg.set("memory.max", &what)?;
    for &g in &gpus {
        f.max[g] = value;
    }
    Ok(format!("{} memory.max {what}", f.cg.path))
}

/// What the run's cgroups hold, summed over the top-level ones: memory per GPU, pinned.
fn charged(cgs: &[StressCgroup]) -> Result<([u64; 2], u64), String> {
    let mut mem = [0u64; 2];
    let mut pinned = 0;
    for f in cgs.iter().filter(|f| f.top) {
        for (g, m) in mem.iter_mut().enumerate() {
            *m += per_gpu(&f.cg, "memory.current", g as u32)?;
        }
        pinned += f.cg.single("pinned.current")?;
    }
    Ok((mem, pinned))
}

/// The charges equal nvsim's ground truth beyond `base`.
fn check_truth(cgs: &[StressCgroup], base: &Truth) -> Result<u64, String> {
    let t = truth()?;
    let want = (
        [
            t.fb_used[0].wrapping_sub(base.fb_used[0]),
            t.fb_used[1].wrapping_sub(base.fb_used[1]),
        ],
        t.sys_used.wrapping_sub(base.sys_used),
    );
    let got = charged(cgs)?;
    ensure(got == want, || {
        format!("charged (memory per GPU, pinned) {got:?}, nvsim holds {want:?} beyond its start")
    })?;
    Ok(got.0[0] + got.0[1])
}

fn cgroup_file(cg: &TestCgroup, name: &str) -> String {
    format!("{CGROUP_ROOT}{}/{name}", cg.path)
}

/// Freezes (or thaws) the top-level cgroups, waiting until every task is frozen.
fn freeze(cgs: &[StressCgroup], on: bool) -> Result<(), String> {
    let v = if on { "1" } else { "0" };
    for f in cgs.iter().filter(|f| f.top) {
        write_file(&cgroup_file(&f.cg, "cgroup.freeze"), v)
            .map_err(|e| format!("{} cgroup.freeze {v}: errno {e}", f.cg.path))?;
    }
    if !on {
        return Ok(());
    }
    settle(20, || {
        for f in cgs.iter().filter(|f| f.top) {
            let ev = std::fs::read_to_string(cgroup_file(&f.cg, "cgroup.events"))
                .map_err(|e| e.to_string())?;
            ensure(ev.contains("frozen 1"), || {
                format!("{} not frozen after 20 s: {ev:?}", f.cg.path)
            })?;
        }
        Ok(())
    })
}

struct Child {
    pid: i32,
    cgroup: usize,
}

fn spawn(
    exe: &std::path::Path,
    seed: u64,
    cgroup: &str,
    ops_fd: i32,
    threads: u64,
) -> Result<i32, String> {
    let child = std::process::Command::new(exe)
        .arg("stress-child")
        .arg(format!("{seed:#x}"))
        .arg(cgroup)
        .arg(ops_fd.to_string())
        .arg(threads.to_string())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    Ok(child.id() as i32)
}

/// SIGKILLs and reaps one child of ours.
fn kill_reap(pid: i32) {
    let mut st = 0;
    // SAFETY: kills and reaps our own child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, &mut st, 0);
    }
}

#[derive(Default)]
struct Figures {
    ops: u64,
    kills: u64,
    limit_changes: u64,
    moves: u64,
    truth_checks: u64,
    limit_checks: u64,
    /// The most GPU memory the frozen checks found charged (both GPUs).
    peak: u64,
}

fn run(b: Budget) -> Result<(), String> {
    println!(
        "STRESS seed={:#x} ops={} seconds={} procs={} threads={}",
        b.seed, b.ops, b.seconds, b.procs, b.threads
    );
    let t0 = Instant::now();
    let base = truth()?;
    let mut cgs = make_cgroups()?;
    let result = run_with(&b, &mut cgs, &base);
    // Whatever happened: nothing left running in the cgroups, then they go, children first.
    for f in cgs.iter().filter(|f| f.top) {
        let _ = write_file(&cgroup_file(&f.cg, "cgroup.freeze"), "0");
        let _ = write_file(&cgroup_file(&f.cg, "cgroup.kill"), "1");
    }
    let emptied = settle(15, || {
        for f in &cgs {
            let ev = std::fs::read_to_string(cgroup_file(&f.cg, "cgroup.events"))
                .map_err(|e| e.to_string())?;
            ensure(ev.contains("populated 0"), || {
                format!("{} still populated", f.cg.path)
            })?;
        }
        Ok(())
    });
    // Everything back to zero, and nvsim back where it was.
    let zero = emptied.and_then(|()| {
        settle(15, || {
            for f in &cgs {
                for g in 0..2 {
                    let v = per_gpu(&f.cg, "memory.current", g)?;
                    ensure(v == 0, || {
                        format!("{} memory.current gpu{g} = {v} at the end", f.cg.path)
                    })?;
                }
                let v = f.cg.single("pinned.current")?;
                ensure(v == 0, || {
                    format!("{} pinned.current = {v} at the end", f.cg.path)
                })?;
            }
            let t = truth()?;
            ensure(t == base, || {
                format!("nvsim holds {t:?} at the end, {base:?} before")
            })
        })
    });
    while let Some(f) = cgs.pop() {
        drop(f.cg);
    }
    let fig = result
        .and_then(|fig| zero.map(|()| fig))
        .map_err(|e| format!("{e} (reproduce with STRESS_SEED={:#x})", b.seed))?;
    println!(
        "FIGURE stress: {} ops by {}x{} threads in {} s, seed {:#x}: {} SIGKILLs, {} live limit changes, {} cgroup moves, {} limit checks, {} frozen ground-truth checks (up to {} MiB of GPU memory held)",
        fig.ops,
        b.procs,
        b.threads,
        t0.elapsed().as_secs(),
        b.seed,
        fig.kills,
        fig.limit_changes,
        fig.moves,
        fig.limit_checks,
        fig.truth_checks,
        fig.peak / MIB
    );
    Ok(())
}

fn run_with(b: &Budget, cgs: &mut [StressCgroup], base: &Truth) -> Result<Figures, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut rng = Rng::new(b.seed);
    let mut p = [0i32; 2];
    // SAFETY: room for two fds.
    if unsafe { libc::pipe(p.as_mut_ptr()) } != 0 {
        return Err("pipe failed".into());
    }
    let (ops_rd, ops_wr) = (p[0], p[1]);
    // SAFETY: our read end, non-blocking.
    unsafe { libc::fcntl(ops_rd, libc::F_SETFL, libc::O_NONBLOCK) };
    let mut children = Vec::new();
    let mut fig = Figures::default();
    let mut spawned = 0u64;
    let mut spawn_one = |rng: &mut Rng, children: &mut Vec<Child>, cgs: &[StressCgroup]| {
        // The first processes go one to each cgroup, so every cgroup has tenants; the
        // respawned ones anywhere.
        let cgroup = match usize::try_from(spawned) {
            Ok(i) if i < cgs.len() => i,
            _ => rng.below(cgs.len() as u64) as usize,
        };
        let seed = splitmix(b.seed ^ (0x5700 + spawned));
        spawned += 1;
        let pid = spawn(&exe, seed, &cgs[cgroup].cg.path, ops_wr, b.threads)?;
        children.push(Child { pid, cgroup });
        Ok::<(), String>(())
    };
    let result = (|| {
        for _ in 0..b.procs {
            spawn_one(&mut rng, &mut children, cgs)?;
        }
        let deadline = Instant::now() + Duration::from_secs(b.seconds);
        let mut next_freeze = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < deadline && fig.ops < b.ops {
            let mut buf = [0u8; 512];
            // SAFETY: a non-blocking read into our buffer.
            let got = unsafe { libc::read(ops_rd, buf.as_mut_ptr().cast(), buf.len()) };
            if got > 0 {
                fig.ops += (got as u64 / 8) * REPORT_EVERY;
            }
            // Our children end only by our SIGKILL: any other end is a failure.
            for c in &children {
                let mut st = 0;
                // SAFETY: a non-blocking wait for our own child.
                if unsafe { libc::waitpid(c.pid, &mut st, libc::WNOHANG) } == c.pid {
                    return Err(format!(
                        "stress child {} ended by itself (status {st:#x})",
                        c.pid
                    ));
                }
            }
            check_limits(cgs)?;
            fig.limit_checks += 1;
            match rng.below(100) {
                0..=7 => {
                    let i = rng.below(children.len() as u64) as usize;
                    kill_reap(children.swap_remove(i).pid);
                    fig.kills += 1;
                    spawn_one(&mut rng, &mut children, cgs)?;
                }
                8..=17 => {
                    change_limit(&mut rng, cgs)?;
                    fig.limit_changes += 1;
                }
                18..=22 => {
                    let i = rng.below(children.len() as u64) as usize;
                    let to = rng.below(cgs.len() as u64) as usize;
                    // A child that has not yet moved itself into its first cgroup is left
                    // alone: its own move, coming later, would undo ours.
                    let at = std::fs::read_to_string(format!("/proc/{}/cgroup", children[i].pid))
                        .unwrap_or_default();
                    let home = format!("::{}", cgs[children[i].cgroup].cg.path);
                    if at.trim_end().ends_with(&home) {
                        // The process may have just exited a fork or exec child: only ours
                        // matter.
                        let procs = cgroup_file(&cgs[to].cg, "cgroup.procs");
                        write_file(&procs, &children[i].pid.to_string()).map_err(|e| {
                            format!("move {} to {}: errno {e}", children[i].pid, cgs[to].cg.path)
                        })?;
                        children[i].cgroup = to;
                        fig.moves += 1;
                    }
                }
                _ => {}
            }
            if Instant::now() >= next_freeze {
                frozen_check(cgs, base, &mut fig)?;
                next_freeze = Instant::now() + Duration::from_millis(1500 + rng.below(2000));
            }
            std::thread::sleep(Duration::from_millis(20 + rng.below(40)));
        }
        frozen_check(cgs, base, &mut fig)?;
        // Nobody ran in the wrong cgroup: each child's own view of where it is.
        for c in &children {
            let at = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid)).unwrap_or_default();
            let want = &cgs[c.cgroup].cg.path;
            ensure(at.trim_end().ends_with(&format!("::{want}")), || {
                format!("child {} is in {at:?}, moved to {want}", c.pid)
            })?;
        }
        Ok(())
    })();
    for c in &children {
        kill_reap(c.pid);
    }
    // SAFETY: our ends of the pipe.
    unsafe {
        libc::close(ops_rd);
        libc::close(ops_wr);
    }
    result.map(|()| fig)
}

/// With the cgroups frozen: within limits, and the charges equal nvsim's (after the calls in
/// flight when the freeze came have settled).
fn frozen_check(cgs: &mut [StressCgroup], base: &Truth, fig: &mut Figures) -> Result<(), String> {
    freeze(cgs, true)?;
    let mut held = 0;
    let r = settle(5, || {
        held = check_truth(cgs, base)?;
        Ok(())
    })
    .and_then(|()| check_limits(cgs));
    freeze(cgs, false)?;
    fig.truth_checks += 1;
    fig.peak = fig.peak.max(held);
    r
}

// ---------------------------------------------------------------------------------------
// A child: T threads, each a libcuda-like client making random calls until killed.

/// `fakegpu-vmtest stress-child SEED CGROUP OPS_FD THREADS`.
pub fn child_main(args: &[String]) -> Result<(), String> {
    let arg = |i: usize| args.get(i).cloned().ok_or("stress-child: missing argument");
    let num = |s: String| -> Result<u64, String> {
        match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => s.parse(),
        }
        .map_err(|_| format!("stress-child: bad number {s:?}"))
    };
    let seed = num(arg(0)?)?;
    let cgroup = arg(1)?;
    let ops_fd = i32::try_from(num(arg(2)?)?).map_err(|e| e.to_string())?;
    let threads = num(arg(3)?)?;
    write_file(
        &format!("{CGROUP_ROOT}{cgroup}/cgroup.procs"),
        &std::process::id().to_string(),
    )
    .map_err(|e| format!("enter {cgroup}: errno {e}"))?;
    let nodes = Nodes::from_env();
    std::thread::spawn(move || feed_engine(splitmix(seed ^ 0xe6)));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let nodes = nodes.clone();
            std::thread::spawn(move || {
                let mut w = Worker::new(splitmix(seed ^ t), nodes, ops_fd);
                if let Err(e) = w.run() {
                    eprintln!("stress-child {} thread {t}: {e}", std::process::id());
                    std::process::exit(1);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    Err("threads ended".into())
}

/// Random work for nvsim's engine through fakegpu's nodes until the process dies: a
/// workspace with three copy channels, random segments (`engine_cases::random_segment`),
/// channels freed and made again, the workspace dropped with its work queued, again.
fn feed_engine(seed: u64) {
    use crate::engine_cases::{random_segment, Channels, BASE, SIZE};
    let mut rng = Rng::new(seed);
    loop {
        // Refused (a limit, a channel limit): tried again a little later.
        let Ok(ws) = crate::gpu_workspace::Workspace::on("FAKE_", BASE, SIZE) else {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        for i in 0..3 {
            let _ = ws.channel(i);
        }
        for n in 0..rng.below(200) {
            let i = rng.below(3);
            if rng.chance(5) {
                ws.free_channel(i);
                let _ = ws.channel(i);
            }
            ws.submit(i, n, &random_segment(&mut rng));
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// `fakegpu-vmtest stress-exec`: what a thread execs, holding the fake file it inherited
/// (not close-on-exec) for a few milliseconds.
pub fn exec_main() {
    std::thread::sleep(Duration::from_millis(u64::from(std::process::id() % 20)));
}

#[derive(Clone)]
struct Nodes {
    ctl: String,
    gpus: [String; 2],
}

impl Nodes {
    fn from_env() -> Self {
        let get = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        Nodes {
            ctl: get("FAKE_NV_CTL", "/dev/fakegpuctl"),
            gpus: [
                get("FAKE_NV_GPU0", "/dev/fakegpu0"),
                get("FAKE_NV_GPU1", "/dev/fakegpu1"),
            ],
        }
    }
}

fn open(path: &str) -> Result<OwnedFd, String> {
    crate::sys::open_rw(path).map_err(|e| format!("open {path}: {e}"))
}

/// A client with a device on each GPU, as libcuda makes at start-up.
struct Session {
    ctl: OwnedFd,
    _gpus: [OwnedFd; 2],
    client: u32,
    /// (handle, GPU) of what it holds.
    held: Vec<(u32, usize)>,
}

impl Session {
    fn open(nodes: &Nodes) -> Result<Session, String> {
        let ctl = open(&nodes.ctl)?;
        let gpus = [open(&nodes.gpus[0])?, open(&nodes.gpus[1])?];
        let client = rm::alloc_client(&ctl)
            .ok()
            .map_err(|e| format!("client: {e}"))?;
        for (g, dev) in DEVICES.iter().enumerate() {
            rm::alloc_device(&ctl, client, *dev, g as u32)
                .ok()
                .map_err(|e| format!("device {g}: {e}"))?;
        }
        Ok(Session {
            ctl,
            _gpus: gpus,
            client,
            held: Vec::new(),
        })
    }
}

struct Worker {
    rng: Rng,
    nodes: Nodes,
    ops_fd: i32,
    ops: u64,
    next_handle: u32,
    /// Forked and exec'd processes not waited for yet.
    unreaped: Vec<i32>,
    exe: CString,
    argv: [CString; 2],
}

/// Calls the whole process made, for the parent's count.
static PROCESS_OPS: AtomicU64 = AtomicU64::new(0);

impl Worker {
    fn new(seed: u64, nodes: Nodes, ops_fd: i32) -> Worker {
        Worker {
            rng: Rng::new(seed),
            nodes,
            ops_fd,
            ops: 0,
            next_handle: 0x1000,
            unreaped: Vec::new(),
            exe: c"/proc/self/exe".to_owned(),
            argv: [c"fakegpu-vmtest".to_owned(), c"stress-exec".to_owned()],
        }
    }

    fn count(&mut self, n: u64) {
        self.ops += n;
        let before = PROCESS_OPS.fetch_add(n, Ordering::Relaxed);
        let batches = (before + n) / REPORT_EVERY - before / REPORT_EVERY;
        for _ in 0..batches {
            let rec = REPORT_EVERY.to_ne_bytes();
            // SAFETY: an 8-byte record into the parent's pipe (atomic below PIPE_BUF).
            unsafe { libc::write(self.ops_fd, rec.as_ptr().cast(), rec.len()) };
        }
    }

    fn handle(&mut self) -> u32 {
        self.next_handle = self.next_handle.wrapping_add(1).max(0x1000);
        self.next_handle
    }

    fn run(&mut self) -> Result<(), String> {
        let mut s = Session::open(&self.nodes)?;
        self.count(4);
        loop {
            self.reap(false);
            match self.rng.below(100) {
                0..=34 if s.held.len() < HELD_MAX => self.alloc_fb(&mut s),
                35..=54 if s.held.len() < HELD_MAX => self.alloc_map(&mut s)?,
                0..=69 => self.free(&mut s)?,
                70..=76 => {
                    // Close: sometimes freeing the client first, else the release frees it.
                    if self.rng.chance(50) {
                        rm::free(&s.ctl, s.client, s.client, s.client)
                            .ok()
                            .map_err(|e| format!("freeing the client: {e}"))?;
                        self.count(1);
                    }
                    drop(s);
                    s = Session::open(&self.nodes)?;
                    self.count(4);
                }
                77..=88 => self.fork_alloc(&s)?,
                _ => self.exec(&s)?,
            }
        }
    }

    fn alloc_fb(&mut self, s: &mut Session) {
        let g = self.rng.below(2) as usize;
        let h = self.handle();
        let size = (1 + self.rng.below(64)) * 64 * 1024;
        // Refusals (over a limit) are expected; only what succeeded is held.
        if rm::alloc_memory(&s.ctl, s.client, DEVICES[g], h, 0x40, size)
            .ok()
            .is_ok()
        {
            s.held.push((h, g));
        }
        self.count(1);
    }

    /// System memory, mapped through a new control file (as libcuda does), touched, and
    /// unmapped with or without that file closed first.
    fn alloc_map(&mut self, s: &mut Session) -> Result<(), String> {
        let g = self.rng.below(2) as usize;
        let h = self.handle();
        let size = (1 + self.rng.below(16)) * 4096;
        let r = rm::alloc_memory(&s.ctl, s.client, DEVICES[g], h, 0x3e, size);
        self.count(1);
        let Ok(size) = r.ok() else { return Ok(()) };
        s.held.push((h, g));
        let map_fd = open(&self.nodes.ctl)?;
        rm::map_memory(&s.ctl, s.client, DEVICES[g], h, 0, size, map_fd.as_raw_fd())
            .ok()
            .map_err(|e| format!("RM_MAP_MEMORY of {size} bytes: {e}"))?;
        let len = usize::try_from(size).map_err(|e| e.to_string())?;
        let mut m = crate::sys::Mapping::shared(map_fd.as_raw_fd(), len, 0)
            .map_err(|e| format!("mmap of {len} bytes: {e}"))?;
        self.count(3);
        if self.rng.chance(50) {
            drop(map_fd);
        }
        let v = self.rng.next() as u8;
        m.bytes_mut().fill(v);
        ensure(m.bytes().iter().all(|&b| b == v), || {
            "mapped memory does not keep what was written".into()
        })
    }

    fn free(&mut self, s: &mut Session) -> Result<(), String> {
        if s.held.is_empty() {
            return Ok(());
        }
        let i = self.rng.below(s.held.len() as u64) as usize;
        let (h, g) = s.held.swap_remove(i);
        self.count(1);
        rm::free(&s.ctl, s.client, DEVICES[g], h)
            .ok()
            .map_err(|e| format!("freeing {h:#x}: {e}"))
    }

    /// A forked child allocates under this thread's client on the inherited file and exits
    /// without freeing (the client's free or the file's release frees it); sometimes it is
    /// killed first.
    fn fork_alloc(&mut self, s: &Session) -> Result<(), String> {
        let g = self.rng.below(2) as usize;
        let mut params = [0u8; abi::nv_family::R535.memory_alloc_params_size];
        let at = memory_alloc_params::SIZE_OFFSET;
        params[at..at + 8].copy_from_slice(&(MIB * (1 + self.rng.below(4))).to_le_bytes());
        let mut p = Nvos21 {
            h_root: s.client,
            h_object_parent: DEVICES[g],
            h_object_new: self.handle(),
            h_class: 0x40,
            p_alloc_parms: params.as_mut_ptr() as u64,
            params_size: params.len() as u32,
            status: 0,
        };
        let cmd = iowr::<Nvos21>(NV_IOCTL_MAGIC, esc::RM_ALLOC) as libc::c_ulong;
        let fd = s.ctl.as_raw_fd();
        // SAFETY: the child makes only async-signal-safe calls (ioctl, _exit) on memory it
        // got as a copy of ours.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                libc::ioctl(fd, cmd, &raw mut p);
                libc::_exit(0);
            }
        }
        ensure(pid > 0, || "fork failed".into())?;
        self.count(2);
        if self.rng.chance(30) {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        self.unreaped.push(pid);
        Ok(())
    }

    /// A forked child execs with this thread's control file inherited, holding it (and the
    /// client on it) for a while; this thread may close its own meanwhile.
    fn exec(&mut self, s: &Session) -> Result<(), String> {
        let fd = s.ctl.as_raw_fd();
        let argv = [
            self.argv[0].as_ptr(),
            self.argv[1].as_ptr(),
            std::ptr::null(),
        ];
        let exe = self.exe.as_ptr();
        // SAFETY: the child makes only async-signal-safe calls (dup, execv, _exit) with
        // strings prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: as above; dup gives a copy without close-on-exec.
            unsafe {
                libc::dup(fd);
                libc::execv(exe, argv.as_ptr());
                libc::_exit(127);
            }
        }
        ensure(pid > 0, || "fork failed".into())?;
        self.count(2);
        self.unreaped.push(pid);
        if self.rng.chance(50) {
            self.reap(true);
        }
        Ok(())
    }

    /// Waits for forked children (all, or those already done); they must have exited 0 or
    /// died of our SIGKILL.
    fn reap(&mut self, block: bool) {
        let flags = if block { 0 } else { libc::WNOHANG };
        self.unreaped.retain(|&pid| {
            let mut st = 0;
            // SAFETY: waits for this thread's own child.
            let r = unsafe { libc::waitpid(pid, &mut st, flags) };
            if r == pid {
                let ok = (libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0)
                    || (libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL);
                if !ok {
                    eprintln!("stress: forked child {pid} ended with status {st:#x}");
                    std::process::exit(1);
                }
            }
            r == 0
        });
    }
}
