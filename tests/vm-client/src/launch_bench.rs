//! `fakegpu-vmtest bench`, compute launches: how many launches a second the GPU completes for
//! busy tenants (raw GPFIFO clients keeping their rings full, `share_cases.rs`), directly on
//! nvsim and through fakegpu in a cgroup whose compute limit the governor holds and whose GPU
//! time it meters, with 1 and 4 tenants, rounds interleaved. A launch is a ring write and a
//! doorbell, which never pass through fakegpu: what fakegpu adds is its governor's thread (a
//! pass every millisecond while a GPU has limits, the driver's samples read every 0.5 s) and
//! its controls, competing with the tenants and nvsim's engine for the CPUs. Two engines:
//! launches of 0 us (the CPU is the bottleneck: nvsim's engine thread and the tenants) and of
//! 100 us (the GPU is). Prints figures; asserts nothing.

use crate::cgroup_util::TestCgroup;
use crate::share_cases::{median, shared_counters, spawn_tenant, LaunchTime, Setup, Tenant};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const ROUNDS: usize = 5;
const WINDOW: Duration = Duration::from_secs(1);
const CG: &str = "/fakegpu-bench-launch";

pub fn run() -> Result<(), String> {
    let cg = TestCgroup::create(CG)?;
    // A cap of the whole GPU: the governor schedules the cgroup's groups (windows, controls,
    // a pass every millisecond) without taking any time from them.
    cg.set("compute.max", "gpu0 100000 100000")?;
    let counts = shared_counters()?;
    for launch_us in [0, 100] {
        let _launch = LaunchTime::set_us(launch_us)?;
        for n in [1, 4] {
            let (mut direct, mut through) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                direct.push(rate(n, Setup::default(), counts)?);
                through.push(rate(
                    n,
                    Setup {
                        prefix: "FAKE_",
                        cgroup: Some(CG),
                        ..Setup::default()
                    },
                    counts,
                )?);
            }
            let (d, t) = (median(&direct), median(&through));
            println!(
                "BENCH compute launches of {launch_us} us, {n} busy tenant(s): direct {d:.0}/s, through fakegpu (compute.max held, GPU time metered) {t:.0}/s, ratio {:.3} (direct/through; {ROUNDS} rounds of {} s, medians; TCG, side by side)",
                d / t.max(1.0),
                WINDOW.as_secs()
            );
        }
    }
    Ok(())
}

/// Launches a second that `n` busy tenants set up as `setup` complete, as they count them
/// in `counts` (the bench kernel has no debugfs for nvsim's own count).
fn rate(n: usize, setup: Setup, counts: &'static [AtomicU64]) -> Result<f64, String> {
    let counts = counts.get(..n).ok_or("too many tenants")?;
    for c in counts {
        c.store(0, Ordering::Relaxed);
    }
    let _tenants: Vec<Tenant> = counts
        .iter()
        .map(|c| {
            spawn_tenant(Setup {
                launches: Some(c),
                ..setup
            })
        })
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    while counts.iter().any(|c| c.load(Ordering::Relaxed) == 0) {
        if start.elapsed() > Duration::from_secs(60) {
            return Err("a tenant completed no launch in 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let total = || {
        counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let (before, start) = (total(), Instant::now());
    std::thread::sleep(WINDOW);
    let (after, secs) = (total(), start.elapsed().as_secs_f64());
    Ok(after.saturating_sub(before) as f64 / secs)
}
