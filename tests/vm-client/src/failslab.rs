//! Kernel fault injection (failslab) on every slab allocation of a tenant's calls through
//! fakegpu: its own (records, ledger entries, private copies, the worker) and the driver's.
//!
//! Two scenarios of steps run in a fresh child process once per allocation: NVIDIA's (set a
//! limit, open the nodes, make and free a first client, make a client, device, subdevice,
//! video memory by RM_ALLOC and by RM_VID_HEAP_CONTROL, a duplicate, read the framebuffer
//! info, free memory, free the client, close) and DRM's on vgem (set a limit, open the card,
//! create, map and destroy a dumb buffer, close). For step S and allocation N, the child
//! makes the steps before S, arms the kernel's per-task `fail-nth` with N (in the calling
//! thread, or in the process's fakegpu worker thread, where the NVIDIA driver calls run),
//! makes step S, then the rest. The sweep of S ends after three N in a row the step never
//! reaches.
//! After the injected failure:
//! - the step gave an error (an errno, or an RM status in the driver's form), or succeeded
//!   (some allocations have a fallback), and the kernel logged no splat (the suite's gate);
//! - the cgroup's charge equals the ground truth (the framebuffer nvsim has allocated; the
//!   dumb buffer if its handle exists);
//! - once the child has exited, nothing is charged, and nvsim holds what it held before.
//!
//! The same sweep straight to the driver's nodes counts the driver's allocations alone: the
//! difference is fakegpu's own, reported as a figure.

use crate::cgroup_util::{move_to, TestCgroup};
use crate::drm;
use crate::sys::open_rw;
use crate::{ensure, Case};
use nv_client::rm::{self, RmResult, VidHeap};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

/// The failslab cases.
pub const ALL: &[Case] = &[
    (
        "failslab_every_allocation_fails_cleanly",
        failslab_every_allocation_fails_cleanly,
    ),
    (
        "failslab_every_drm_allocation_fails_cleanly",
        failslab_every_drm_allocation_fails_cleanly,
    ),
];

const FAILSLAB: &str = "/sys/kernel/debug/failslab";
const CGROUP: &str = "/fakegpu-failslab";
const MIB: u64 = 1 << 20;
const DEVICE: u32 = 0xd0;
const SUBDEVICE: u32 = 0x5d0;
const MEM: u32 = 0xa0;
const MEM_DUP: u32 = 0xa1;
const MEM_HEAP: u32 = 0xa2;
/// The dumb buffer's size (256x256 at 32 bpp), and its handle (the first of a new file).
const DUMB_SIZE: u64 = 256 * 256 * 4;
const DUMB_HANDLE: u32 = 1;
/// More allocations than any one step makes: a sweep that reaches it has gone wrong.
const MAX_PER_STEP: u32 = 400;
/// A sweep ends after this many allocation numbers in a row the step never reached: the
/// kernel's allocations vary a little from run to run (per-CPU caches such as idr_preload's
/// refill only when empty), so one unreached number may hide an allocation behind it.
const UNREACHED_TO_END: u32 = 3;
/// Child exit codes: the injected failure happened and every check passed; the step made
/// fewer allocations than asked (the sweep of this step is over).
const EXIT_INJECTED: i32 = 0;
const EXIT_NOT_REACHED: i32 = 10;

/// What a step gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Ok,
    Errno(i32),
    Status(u32),
}

impl Outcome {
    fn of<T>(r: RmResult<T>) -> Self {
        match r {
            RmResult::Status(0, _) => Outcome::Ok,
            RmResult::Status(s, _) => Outcome::Status(s),
            RmResult::Errno(e) => Outcome::Errno(e),
        }
    }

    fn of_io<T>(r: std::io::Result<T>) -> Self {
        match r {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Errno(e.raw_os_error().unwrap_or(-1)),
        }
    }

    fn name(self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::Errno(e) => format!("errno {e}"),
            Outcome::Status(s) => format!("status {s:#x}"),
        }
    }
}

/// The tenant's state as the steps build it.
struct Tenant {
    /// The limit file of the cgroup's entry, or None when the steps go to the driver
    /// directly.
    limit_file: Option<String>,
    /// The nodes to open: nvidiactl's and nvidia0's, or the DRM card's.
    nodes: [String; 2],
    files: [Option<OwnedFd>; 2],
    client: u32,
}

impl Tenant {
    fn file(&self, i: usize) -> Result<&OwnedFd, Outcome> {
        self.files[i].as_ref().ok_or(Outcome::Errno(libc::EBADF))
    }

    fn ctl(&self) -> Result<&OwnedFd, Outcome> {
        self.file(0)
    }

    /// Opens node `i`.
    fn open(&mut self, i: usize) -> Outcome {
        match open_rw(&self.nodes[i]) {
            Ok(fd) => {
                self.files[i] = Some(fd);
                Outcome::Ok
            }
            Err(e) => Outcome::Errno(e.raw_os_error().unwrap_or(libc::EIO)),
        }
    }

    /// Writes the cgroup's limit (nothing when the steps go to the driver directly).
    fn set_limit(&self, value: &str) -> Outcome {
        match &self.limit_file {
            Some(f) => Outcome::of_io(std::fs::write(f, value)),
            None => Outcome::Ok,
        }
    }
}

/// One step: its name and body.
type Step = (&'static str, fn(&mut Tenant) -> Outcome);

/// NVIDIA's steps, in order.
const NV_STEPS: &[Step] = &[
    ("set_limit", |t| t.set_limit("gpu0 64M\n")),
    ("open_ctl", |t| t.open(0)),
    ("open_gpu", |t| t.open(1)),
    // The process's first client: its worker starts here, and its file is recorded.
    ("first_client", |t| match t.ctl() {
        Ok(ctl) => match rm::alloc_client(ctl) {
            RmResult::Status(0, c) => Outcome::of(rm::free(ctl, c, c, c)),
            r => Outcome::of(r),
        },
        Err(o) => o,
    }),
    ("client", |t| match t.ctl() {
        Ok(ctl) => {
            let r = rm::alloc_client(ctl);
            if let RmResult::Status(0, c) = r {
                t.client = c;
            }
            Outcome::of(r)
        }
        Err(o) => o,
    }),
    ("device", |t| match t.ctl() {
        Ok(ctl) => Outcome::of(rm::alloc_device(ctl, t.client, DEVICE, 0)),
        Err(o) => o,
    }),
    ("subdevice", |t| match t.ctl() {
        Ok(ctl) => Outcome::of(rm::alloc(ctl, t.client, DEVICE, SUBDEVICE, 0x2080, None)),
        Err(o) => o,
    }),
    ("rm_alloc_vidmem", |t| match t.ctl() {
        Ok(ctl) => Outcome::of(rm::alloc_memory(ctl, t.client, DEVICE, MEM, 0x40, MIB)),
        Err(o) => o,
    }),
    ("vid_heap_alloc", |t| match t.ctl() {
        Ok(ctl) => Outcome::of(rm::vid_heap(
            ctl,
            t.client,
            DEVICE,
            VidHeap {
                function: 2,
                memory: MEM_HEAP,
                size: 2 * MIB,
                ..Default::default()
            },
        )),
        Err(o) => o,
    }),
    ("dup", |t| match t.ctl() {
        Ok(ctl) => Outcome::of(rm::dup(ctl, t.client, DEVICE, MEM_DUP, t.client, MEM)),
        Err(o) => o,
    }),
    ("fb_info", |t| match t.ctl() {
        Ok(ctl) => Outcome::of(rm::fb_total_free_kib(
            ctl,
            t.client,
            SUBDEVICE,
            &abi::nv_family::R535,
        )),
        Err(o) => o,
    }),
    ("free_vidmem", |t| match t.ctl() {
        Ok(ctl) => Outcome::of(rm::free(ctl, t.client, DEVICE, MEM)),
        Err(o) => o,
    }),
    ("free_client", |t| match t.ctl() {
        Ok(ctl) => Outcome::of(rm::free(ctl, t.client, t.client, t.client)),
        Err(o) => o,
    }),
    ("close", |t| {
        t.files = [None, None];
        Outcome::Ok
    }),
];

/// DRM's steps on vgem, in order.
const DRM_STEPS: &[Step] = &[
    ("set_limit", |t| t.set_limit("16M\n")),
    ("open_card", |t| t.open(0)),
    ("dumb_create", |t| match t.file(0) {
        Ok(fd) => match drm::create_dumb(fd, 256, 256) {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Errno(e),
        },
        Err(o) => o,
    }),
    ("dumb_map", |t| match t.file(0) {
        Ok(fd) => match drm::map_dumb(fd, DUMB_HANDLE) {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Errno(e),
        },
        Err(o) => o,
    }),
    ("dumb_destroy", |t| match t.file(0) {
        Ok(fd) => match drm::destroy_dumb(fd, DUMB_HANDLE) {
            Ok(()) => Outcome::Ok,
            Err(e) => Outcome::Errno(e),
        },
        Err(o) => o,
    }),
    ("close", |t| {
        t.files = [None, None];
        Outcome::Ok
    }),
];

/// Where the injection happens: the calling thread, or the process's fakegpu worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Caller,
    Worker,
}

/// The tenant's charge, and what the driver holds for it.
type Ledger = (u64, u64);

/// A scenario: its steps, the nodes and limit file it uses, and its ground truth.
struct Scenario {
    steps: &'static [Step],
    /// The nodes through fakegpu and the driver's own (from the runner's environment).
    fakegpu_nodes: [&'static str; 2],
    direct_nodes: [&'static str; 2],
    /// The entry's limit file.
    limit: &'static str,
    /// The tenant's charge and what the driver holds for it (the ground truth).
    ledger: fn(&Sweep, &Tenant) -> Result<Ledger, String>,
    /// Whether anything is left once the tenant is gone (a message saying what), or None.
    leftover: fn(&Sweep) -> Result<Option<String>, String>,
}

const NVIDIA: Scenario = Scenario {
    steps: NV_STEPS,
    fakegpu_nodes: ["FAKE_NV_CTL", "FAKE_NV_GPU0"],
    direct_nodes: ["NV_CTL", "NV_GPU0"],
    limit: "memory.max",
    ledger: |sw, _| {
        let (fb, _) = nvsim_truth()?;
        Ok((charged(sw.cg)?, fb.saturating_sub(sw.base_fb)))
    },
    leftover: |sw| {
        let (fb, objects) = nvsim_truth()?;
        let c = charged(sw.cg)?;
        Ok(
            (c != 0 || fb != sw.base_fb || objects != sw.base_objects).then(|| {
                format!(
                    "charged {c}, nvsim fb {fb} (was {}), objects {objects} (were {})",
                    sw.base_fb, sw.base_objects
                )
            }),
        )
    },
};

const DRM: Scenario = Scenario {
    steps: DRM_STEPS,
    fakegpu_nodes: ["FAKE_CARD", ""],
    direct_nodes: ["REAL_CARD", ""],
    limit: "drm.memory.max",
    ledger: |sw, t| {
        // The buffer exists if its handle maps (the test's only buffer, the file's first).
        let exists = t
            .file(0)
            .is_ok_and(|fd| drm::map_dumb(fd, DUMB_HANDLE).is_ok());
        Ok((
            sw.cg.single("drm.memory.current")?,
            if exists { DUMB_SIZE } else { 0 },
        ))
    },
    leftover: |sw| {
        let c = sw.cg.single("drm.memory.current")?;
        Ok((c != 0).then(|| format!("drm.memory.current {c}")))
    },
};

/// Which nodes the steps use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// fakegpu's, metered in the test cgroup.
    Fakegpu,
    /// The driver's own, for the count of the driver's allocations alone.
    Direct,
}

/// What every child of a sweep shares.
struct Sweep<'a> {
    scenario: &'a Scenario,
    cg: &'a TestCgroup,
    route: Route,
    base_fb: u64,
    base_objects: u64,
}

/// The ground truth: nvsim's framebuffer in use on GPU 0, and its object count.
fn nvsim_truth() -> Result<(u64, u64), String> {
    let fb = rm::debugfs("gpu0", "fb_used")?;
    let text = std::fs::read_to_string("/sys/kernel/debug/nvsim/state")
        .map_err(|e| format!("nvsim state: {e}"))?;
    let objects = text
        .lines()
        .find_map(|l| l.strip_prefix("objects "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no objects line in nvsim state:\n{text}"))?;
    Ok((fb, objects))
}

/// GPU 0's value in the entry's memory.current.
fn charged(cg: &TestCgroup) -> Result<u64, String> {
    let text = cg.get("memory.current")?;
    text.lines()
        .find_map(|l| l.strip_prefix("gpu0 "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("memory.current reads {text:?}"))
}

/// Waits (up to 5 s: a closed file's clients are freed a little after the close) until
/// `check` holds, or says what it last saw.
fn settles(mut check: impl FnMut() -> Result<Option<String>, String>) -> Result<(), String> {
    let t0 = Instant::now();
    loop {
        match check()? {
            None => return Ok(()),
            Some(msg) if t0.elapsed() > Duration::from_secs(5) => return Err(msg),
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The `fail-nth` file of this process's fakegpu worker thread, if it has one.
fn worker_fail_nth() -> Option<File> {
    let want = format!("fakegpu/{}", std::process::id());
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == want {
            return std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(entry.path().join("fail-nth"))
                .ok();
        }
    }
    None
}

/// The child: steps before `step`, then `step` with the `n`th allocation of `target`
/// failing, the check of the ledger, and the rest. Writes the step's outcome to `report`.
fn child(
    sw: &Sweep,
    step: usize,
    target: Target,
    n: u32,
    report: &mut File,
) -> Result<i32, String> {
    let sc = sw.scenario;
    let nodes = match sw.route {
        Route::Fakegpu => sc.fakegpu_nodes,
        Route::Direct => sc.direct_nodes,
    };
    let node = |var: &str| -> Result<String, String> {
        if var.is_empty() {
            Ok(String::new())
        } else {
            crate::env(var)
        }
    };
    let mut t = Tenant {
        limit_file: (sw.route == Route::Fakegpu).then(|| sw.cg.entry_file(sc.limit)),
        nodes: [node(nodes[0])?, node(nodes[1])?],
        files: [None, None],
        client: 0,
    };
    for (name, body) in sc.steps.iter().take(step) {
        let o = body(&mut t);
        ensure(o == Outcome::Ok, || {
            format!("step {name} failed with no fault injected: {}", o.name())
        })?;
    }
    let fail_nth = match target {
        Target::Caller => std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/proc/thread-self/fail-nth")
            .ok(),
        Target::Worker => worker_fail_nth(),
    };
    let Some(fail_nth) = fail_nth else {
        // No worker yet: nothing of this step runs there.
        return Ok(EXIT_NOT_REACHED);
    };
    let (name, body) = sc.steps[step];
    // Armed just before the step; nothing between allocates.
    (&fail_nth)
        .write_all(n.to_string().as_bytes())
        .map_err(|e| format!("arm fail-nth: {e}"))?;
    let outcome = body(&mut t);
    let mut left = [0u8; 16];
    let read = fail_nth.read_at(&mut left, 0).unwrap_or(0);
    // Disarmed before anything else runs (nonzero: the step made fewer than n allocations).
    let _ = (&fail_nth).write_all(b"0");
    let left = std::str::from_utf8(&left[..read]).unwrap_or("").trim();
    if left != "0" {
        return Ok(EXIT_NOT_REACHED);
    }
    let _ = writeln!(report, "{}", outcome.name());
    if sw.route == Route::Fakegpu {
        // The ledger against the ground truth, right after the failure.
        settles(|| {
            let (charged, truth) = (sc.ledger)(sw, &t)?;
            Ok((charged != truth).then(|| {
                format!(
                    "after step {name} ({}) failed allocation {n} in the {target:?}: charged \
                     {charged}, the driver holds {truth}",
                    outcome.name(),
                )
            }))
        })?;
    }
    for (_, body) in sc.steps.iter().skip(step + 1) {
        let _ = body(&mut t);
    }
    Ok(EXIT_INJECTED)
}

/// Runs one child; returns its exit code and what it reported.
fn run_child(sw: &Sweep, step: usize, target: Target, n: u32) -> Result<(i32, String), String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: both were just made by pipe and are owned by nothing else.
    let (mut rx, mut tx) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    // SAFETY: this process is single-threaded (a case runs alone in its own process).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(rx);
        let code = match child(sw, step, target, n, &mut tx) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("{e}");
                1
            }
        };
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    drop(tx);
    let mut said = String::new();
    let _ = rx.read_to_string(&mut said);
    let mut status = 0;
    // SAFETY: `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if !libc::WIFEXITED(status) {
        return Err(format!("the child died with wait status {status:#x}"));
    }
    Ok((libc::WEXITSTATUS(status), said.trim().to_owned()))
}

/// Sets a failslab attribute.
fn failslab_set(name: &str, value: &str) -> Result<(), String> {
    std::fs::write(format!("{FAILSLAB}/{name}"), value)
        .map_err(|e| format!("{FAILSLAB}/{name}: {e}"))
}

/// NVIDIA's scenario, every allocation it makes in the caller and in the worker failed in
/// turn.
fn failslab_every_allocation_fails_cleanly() -> Result<(), String> {
    with_failslab(|cg| sweeps(&NVIDIA, cg))
}

/// DRM's scenario on vgem, every allocation failed in turn.
fn failslab_every_drm_allocation_fails_cleanly() -> Result<(), String> {
    with_failslab(|cg| sweeps(&DRM, cg))
}

/// Runs `body` in a test cgroup with failslab set for `fail-nth`, and puts both back.
fn with_failslab(body: impl FnOnce(&TestCgroup) -> Result<(), String>) -> Result<(), String> {
    ensure(std::path::Path::new(FAILSLAB).exists(), || {
        format!("{FAILSLAB} is missing: the test kernel must have CONFIG_FAILSLAB")
    })?;
    // fail-nth counts only allocations failslab may fail: those that may sleep too, quietly.
    failslab_set("ignore-gfp-wait", "N")?;
    failslab_set("verbose", "0")?;
    let cg = TestCgroup::create(CGROUP)?;
    cg.enter()?;
    let result = body(&cg);
    let _ = failslab_set("ignore-gfp-wait", "Y");
    let _ = failslab_set("verbose", "2");
    let _ = move_to("/");
    result
}

/// What one sweep found: the failures it injected, by outcome, and per step the allocations
/// made in the caller and in the worker.
#[derive(Default)]
struct Found {
    injected: u32,
    outcomes: BTreeMap<String, u32>,
    per_step: Vec<[u32; 2]>,
}

/// Every step of `scenario` by `route`, each allocation failed in turn.
fn sweep(scenario: &Scenario, cg: &TestCgroup, route: Route) -> Result<Found, String> {
    let (base_fb, base_objects) = nvsim_truth()?;
    let sw = Sweep {
        scenario,
        cg,
        route,
        base_fb,
        base_objects,
    };
    let targets: &[Target] = match route {
        Route::Fakegpu => &[Target::Caller, Target::Worker],
        Route::Direct => &[Target::Caller],
    };
    let mut found = Found::default();
    for (step, (name, _)) in scenario.steps.iter().enumerate() {
        let mut counts = [0u32; 2];
        for (slot, &target) in targets.iter().enumerate() {
            let (mut n, mut unreached, mut most) = (1, 0, 0);
            while unreached < UNREACHED_TO_END {
                ensure(n <= MAX_PER_STEP, || {
                    format!("step {name} still allocating at {MAX_PER_STEP} in the {target:?}")
                })?;
                let (code, said) = run_child(&sw, step, target, n)?;
                match code {
                    EXIT_INJECTED => {
                        found.injected += 1;
                        *found.outcomes.entry(format!("{name} {said}")).or_default() += 1;
                        (unreached, most) = (0, n);
                    }
                    EXIT_NOT_REACHED => unreached += 1,
                    _ => {
                        return Err(format!(
                            "{route:?}: step {name}, allocation {n} failed in the {target:?}: \
                             the child exited with {code}"
                        ))
                    }
                }
                // Nothing stays behind once the child is gone.
                settles(|| {
                    Ok((scenario.leftover)(&sw)?.map(|left| {
                        format!(
                            "{route:?}: step {name}, allocation {n} failed in the {target:?}, \
                             and the child exited: {left}"
                        )
                    }))
                })?;
                n += 1;
            }
            counts[slot] = most;
        }
        found.per_step.push(counts);
    }
    Ok(found)
}

/// Both sweeps of `scenario`, and their figures: how many allocations fakegpu's route adds
/// to the driver's.
fn sweeps(scenario: &Scenario, cg: &TestCgroup) -> Result<(), String> {
    let through = sweep(scenario, cg, Route::Fakegpu)?;
    let direct = sweep(scenario, cg, Route::Direct)?;
    let summary: Vec<String> = through
        .outcomes
        .iter()
        .map(|(o, k)| format!("{o} x{k}"))
        .collect();
    println!(
        "FIGURE failslab: {} injected allocation failures over {} steps through fakegpu; \
         outcomes: {}",
        through.injected,
        scenario.steps.len(),
        summary.join(", ")
    );
    let per_step: Vec<String> = scenario
        .steps
        .iter()
        .zip(through.per_step.iter().zip(&direct.per_step))
        .map(|((name, _), (t, d))| format!("{name} {}/{}/{}", t[0], t[1], d[0]))
        .collect();
    println!(
        "FIGURE failslab: allocations per step, through fakegpu in the caller/in the worker/\
         directly: {}",
        per_step.join(", ")
    );
    let sum = |f: &Found| f.per_step.iter().map(|c| c[0] + c[1]).sum::<u32>();
    println!(
        "FIGURE failslab: {} allocations through fakegpu against {} directly: fakegpu's own \
         account for at least {}",
        sum(&through),
        sum(&direct),
        sum(&through).saturating_sub(sum(&direct))
    );
    ensure(through.injected > 0, || {
        "no allocation was ever failed".into()
    })
}
