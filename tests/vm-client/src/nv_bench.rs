//! `fakegpu-vmtest bench`, NVIDIA part: ns/op of NVIDIA calls on nvsim's nodes directly and
//! through fakegpu's, with 1 and 4 threads (each thread with its own files and client),
//! interleaved in rounds. Prints figures; asserts nothing.

use crate::sys::{ioctl, open_rw};
use abi::ioc::iowr;
use abi::nv_frontend::*;
use nv_client::rm;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

const ROUNDS: usize = 5;

/// The files and objects one thread uses.
struct Side {
    ctl_path: &'static str,
    ctl: OwnedFd,
    _gpu: OwnedFd,
    client: u32,
}

const DEVICE: u32 = 0xd0;
const MEMORY: u32 = 0x4000;
const SYSMEM: u32 = 0x3e00;

impl Side {
    fn new(ctl_path: &'static str, gpu_path: &str) -> Result<Self, String> {
        let open = |p: &str| open_rw(p).map_err(|e| format!("open {p}: {e}"));
        let (ctl, gpu) = (open(ctl_path)?, open(gpu_path)?);
        let client = rm::alloc_client(&ctl)
            .ok()
            .map_err(|e| format!("client: {e}"))?;
        rm::alloc_device(&ctl, client, DEVICE, 0)
            .ok()
            .map_err(|e| format!("device: {e}"))?;
        rm::alloc_memory(&ctl, client, DEVICE, SYSMEM, 0x3e, 65536)
            .ok()
            .map_err(|e| format!("system memory: {e}"))?;
        Ok(Side {
            ctl_path,
            ctl,
            _gpu: gpu,
            client,
        })
    }
}

fn check_version(s: &Side) -> Result<(), String> {
    let mut p = NvIoctlRmApiVersion {
        cmd: NV_RM_API_VERSION_CMD_QUERY,
        ..Default::default()
    };
    ioctl(
        &s.ctl,
        iowr::<NvIoctlRmApiVersion>(NV_IOCTL_MAGIC, esc::CHECK_VERSION_STR),
        &mut p,
    )
    .map(drop)
    .map_err(|e| format!("CHECK_VERSION_STR: errno {e}"))
}

fn control(s: &Side) -> Result<(), String> {
    let mut ids = [0u8; 128];
    rm::control(&s.ctl, s.client, s.client, 0x201, &mut ids)
        .ok()
        .map_err(|e| format!("GET_ATTACHED_IDS: {e}"))
}

fn alloc_free(s: &Side) -> Result<(), String> {
    rm::alloc_memory(&s.ctl, s.client, DEVICE, MEMORY, 0x40, 2 << 20)
        .ok()
        .map_err(|e| format!("alloc: {e}"))?;
    rm::free(&s.ctl, s.client, DEVICE, MEMORY)
        .ok()
        .map_err(|e| format!("free: {e}"))
}

fn map_cycle(s: &Side) -> Result<(), String> {
    let target = open_rw(s.ctl_path).map_err(|e| format!("open: {e}"))?;
    rm::map_memory(
        &s.ctl,
        s.client,
        DEVICE,
        SYSMEM,
        0,
        4096,
        target.as_raw_fd(),
    )
    .ok()
    .map_err(|e| format!("MAP_MEMORY: {e}"))?;
    // SAFETY: maps the file the context was set on; unmapped below.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            target.as_raw_fd(),
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(format!("mmap: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(addr, 4096) };
    Ok(())
}

/// Wall time per op of `iters` ops on each of the sides, one thread per side.
fn time_per_op(
    sides: &[Side],
    iters: u32,
    op: fn(&Side) -> Result<(), String>,
) -> Result<f64, String> {
    let t = Instant::now();
    std::thread::scope(|scope| {
        let runs: Vec<_> = sides
            .iter()
            .map(|s| scope.spawn(move || (0..iters).try_for_each(|_| op(s))))
            .collect();
        runs.into_iter()
            .try_for_each(|r| r.join().map_err(|_| "thread panicked".to_string())?)
    })?;
    Ok(t.elapsed().as_nanos() as f64 / f64::from(iters) / sides.len() as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn compare(
    what: &str,
    iters: u32,
    direct: &[Side],
    fake: &[Side],
    op: fn(&Side) -> Result<(), String>,
) -> Result<(), String> {
    time_per_op(direct, iters / 10 + 1, op)?;
    time_per_op(fake, iters / 10 + 1, op)?;
    let (mut d, mut f) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            d.push(time_per_op(direct, iters, op)?);
            f.push(time_per_op(fake, iters, op)?);
        } else {
            f.push(time_per_op(fake, iters, op)?);
            d.push(time_per_op(direct, iters, op)?);
        }
    }
    let (d, f) = (median(d), median(f));
    println!(
        "BENCH {what}, {} thread(s): direct {d:.0} ns/op, through fakegpu {f:.0} ns/op, ratio {:.3}, fakegpu adds {:.0} ns ({ROUNDS} rounds x {iters} ops per thread, medians)",
        direct.len(),
        f / d,
        f - d
    );
    Ok(())
}

/// The NVIDIA benchmarks on nvsim's nodes and fakegpu's. The process runs in a cgroup with a
/// fakegpu entry and a GPU memory limit, so allocations through fakegpu are metered.
pub fn run() -> Result<(), String> {
    let cg = crate::cgroup_util::TestCgroup::create("/fakegpu-bench")?;
    cg.set("memory.max", "gpu0 3G")?;
    cg.enter()?;
    for threads in [1, 4] {
        let direct: Vec<Side> = (0..threads)
            .map(|_| Side::new("/dev/nvidiactl", "/dev/nvidia0"))
            .collect::<Result<_, _>>()?;
        let fake: Vec<Side> = (0..threads)
            .map(|_| Side::new("/dev/fakegpuctl", "/dev/fakegpu0"))
            .collect::<Result<_, _>>()?;
        compare("CHECK_VERSION_STR", 5000, &direct, &fake, check_version)?;
        compare("RM_CONTROL GET_ATTACHED_IDS", 5000, &direct, &fake, control)?;
        compare(
            "RM_ALLOC+RM_FREE 2 MiB vidmem (metered)",
            2000,
            &direct,
            &fake,
            alloc_free,
        )?;
        compare(
            "RM_MAP_MEMORY+mmap+munmap (new ctl fd each)",
            500,
            &direct,
            &fake,
            map_cycle,
        )?;
    }
    hop_in_parts()?;
    noisy_neighbour()?;
    crate::launch_bench::run()
}

/// `/sys/kernel/fakegpu/hop`: worker calls so far and the ns spent in each part of them.
fn hop_counters() -> Result<Vec<(String, u64)>, String> {
    let text = std::fs::read_to_string("/sys/kernel/fakegpu/hop")
        .map_err(|e| format!("read /sys/kernel/fakegpu/hop: {e}"))?;
    text.lines()
        .map(|l| {
            let (name, n) = l.split_once(' ').ok_or_else(|| format!("hop line {l:?}"))?;
            let n = n.parse().map_err(|_| format!("hop line {l:?}"))?;
            Ok((name.to_owned(), n))
        })
        .collect()
}

/// Context switches the calling thread has made (voluntary, involuntary).
fn thread_switches() -> (i64, i64) {
    // SAFETY: a zeroed rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    (ru.ru_nvcsw, ru.ru_nivcsw)
}

/// Where a metered RM_ALLOC+RM_FREE through fakegpu spends its time: worker calls per op,
/// then per worker call the wake-up of the worker, its entry (mm switch and credentials), the
/// driver call with fakegpu's work around it in the worker, its exit (mm and credentials
/// back), and the caller's wake-up; and the caller's context switches per op. The rest of
/// the op is fakegpu's work in the caller's own context.
fn hop_in_parts() -> Result<(), String> {
    const N: u32 = 1000;
    let s = Side::new("/dev/fakegpuctl", "/dev/fakegpu0")?;
    (0..N / 10).try_for_each(|_| alloc_free(&s))?;
    let before = hop_counters()?;
    let switches = thread_switches();
    let t = Instant::now();
    (0..N).try_for_each(|_| alloc_free(&s))?;
    let op_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    let after = thread_switches();
    let delta: Vec<(String, u64)> = hop_counters()?
        .into_iter()
        .zip(before)
        .map(|((name, a), (_, b))| (name, a.saturating_sub(b)))
        .collect();
    let get = |name: &str| {
        delta
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, v)| *v as f64)
    };
    let calls = get("calls").max(1.0);
    let per_call = |name: &str| get(name) / calls / 1000.0;
    let in_hops =
        (get("wake_ns") + get("enter_ns") + get("call_ns") + get("leave_ns") + get("return_ns"))
            / f64::from(N)
            / 1000.0;
    println!(
        "BENCH hop of a metered RM_ALLOC+RM_FREE through fakegpu: {op_us:.1} us per op, {:.2} worker calls per op; per worker call: wake-up of the worker {:.1} us, entry (mm switch, credentials) {:.1} us, in the worker (driver call and fakegpu's work there) {:.1} us, exit (mm and credentials back) {:.1} us, wake-up of the caller {:.1} us; {:.0}% answered while the caller spun, {:.0}% with the worker on the caller's CPU; the caller's context switches per op: {:.2} voluntary, {:.2} involuntary; outside the hops (fakegpu in the caller, the system calls) {:.1} us per op ({N} ops)",
        calls / f64::from(N),
        per_call("wake_ns"),
        per_call("enter_ns"),
        per_call("call_ns"),
        per_call("leave_ns"),
        per_call("return_ns"),
        100.0 * get("spun") / calls,
        100.0 * get("same_cpu") / calls,
        (after.0 - switches.0) as f64 / f64::from(N),
        (after.1 - switches.1) as f64 / f64::from(N),
        op_us - in_hops,
    );
    Ok(())
}

/// The `q` quantile (0..=1) of `v`, sorted in place.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * q).round() as usize;
    v.get(i).copied().unwrap_or(0.0)
}

/// Per-call latency (us) of `n` metered alloc+free pairs of `s` through fakegpu.
fn latencies(s: &Side, n: usize) -> Result<Vec<f64>, String> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            alloc_free(s).map(|()| t.elapsed().as_secs_f64() * 1e6)
        })
        .collect()
}

/// Tenant B's metered alloc+free through fakegpu alone, then while another process's
/// RM_VID_HEAP_CONTROL is held in nvsim (its gate), then alone again: p50 and p99 of each
/// call, the two alone blocks pooled (a p99 of 400 calls moved by 2x between runs under TCG;
/// of this many, much less).
fn noisy_neighbour() -> Result<(), String> {
    use crate::tenant_cases::{held, spawn, wait_for, Gate, VID_HEAP};
    use std::time::Duration;
    const N: usize = 2000;
    let b = Side::new("/dev/fakegpuctl", "/dev/fakegpu0")?;
    let mut alone = latencies(&b, N / 2)?;
    let gate = Gate::arm(VID_HEAP)?;
    let a = spawn(|| {
        let s = Side::new("/dev/fakegpuctl", "/dev/fakegpu0")?;
        let call = rm::VidHeap {
            function: 2,
            memory: 0x104,
            size: 2 << 20,
            ..Default::default()
        };
        rm::vid_heap(&s.ctl, s.client, DEVICE, call)
            .ok()
            .map(drop)
            .map_err(|e| format!("VID_HEAP: {e}"))
    })?;
    let start = Instant::now();
    while held()? == 0 && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let beside = latencies(&b, N);
    let still_held = held()?;
    drop(gate);
    let _ = wait_for(a, Duration::from_secs(60));
    alone.extend(latencies(&b, N / 2)?);
    let mut beside = beside?;
    let (p50a, p99a) = (quantile(&mut alone, 0.5), quantile(&mut alone, 0.99));
    let (p50b, p99b) = (quantile(&mut beside, 0.5), quantile(&mut beside, 0.99));
    println!(
        "BENCH noisy neighbour, tenant B's metered alloc+free through fakegpu: alone p50 {p50a:.0} us p99 {p99a:.0} us; beside a call of another process held in the driver ({still_held} held) p50 {p50b:.0} us p99 {p99b:.0} us; p99 ratio {:.2} ({N} calls each, alone before and after)",
        p99b / p99a
    );
    Ok(())
}

/// Allocates `n` 4 KiB video memory objects on each side (handles from 0x10000), in turn, so
/// both sides' objects sit alike in nvsim's store.
fn populate(sides: &[&Side], n: u32) -> Result<(), String> {
    (0..n).try_for_each(|i| {
        sides.iter().try_for_each(|s| {
            rm::alloc_memory(&s.ctl, s.client, DEVICE, 0x10000 + i, 0x40, 4096)
                .ok()
                .map(drop)
                .map_err(|e| format!("live allocation {i}: {e}"))
        })
    })
}

/// How the metered alloc+free scales: with 100, 10 000 and 100 000 live allocations in the
/// same client (direct and through fakegpu alike; nvsim is loaded with room for them), and
/// with 1000 cgroup entries.
pub fn run_scale() -> Result<(), String> {
    use crate::cgroup_util::TestCgroup;
    let cg = TestCgroup::create("/fakegpu-bench")?;
    cg.set("memory.max", "gpu0 3G")?;
    cg.enter()?;
    for live in [100, 10_000, 100_000] {
        let direct = [Side::new("/dev/nvidiactl", "/dev/nvidia0")?];
        let fake = [Side::new("/dev/fakegpuctl", "/dev/fakegpu0")?];
        populate(&[&direct[0], &fake[0]], live)?;
        compare(
            &format!("RM_ALLOC+RM_FREE 2 MiB vidmem, metered, {live} live allocations"),
            100,
            &direct,
            &fake,
            alloc_free,
        )?;
    }
    // 1000 entries, flat under one parent, the process in the last one.
    let parent = TestCgroup::create("/fakegpu-bench-many")?;
    let mut many = Vec::new();
    for i in 0..1000 {
        many.push(TestCgroup::create(&format!("/fakegpu-bench-many/c{i}"))?);
    }
    many.last().ok_or("no cgroups")?.enter()?;
    let direct = [Side::new("/dev/nvidiactl", "/dev/nvidia0")?];
    let fake = [Side::new("/dev/fakegpuctl", "/dev/fakegpu0")?];
    compare(
        "RM_ALLOC+RM_FREE 2 MiB vidmem, metered, 1000 cgroup entries",
        1000,
        &direct,
        &fake,
        alloc_free,
    )?;
    drop((direct, fake));
    drop(many);
    drop(parent);
    Ok(())
}
