//! Submissions on NVIDIA (`compute.stat`'s `submissions`): the GPFIFO entries the engine
//! consumed from a cgroup's channels, which fakegpu reads from each channel's GPGet through
//! a mapping of its own. Counted exactly, per cgroup and up the hierarchy, across the
//! ring's wrap, and the mappings go with the channels.

use crate::cgroup_util::{read_file, TestCgroup};
use crate::share_cases::{compute_stat, shared_counters, spawn_tenant, Setup};
use crate::{ensure, Case};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub const ALL: &[Case] = &[(
    "compute_submissions_counted_from_gpget",
    compute_submissions_counted_from_gpget,
)];

const CG_PARENT: &str = "/fakegpu-sub";
const CG_A: &str = "/fakegpu-sub/a";
const CG_B: &str = "/fakegpu-sub/b";
/// Launches each tenant queues: several times the test ring's 64 entries, so the count
/// crosses its wrap.
const A_LAUNCHES: u32 = 300;
const B_LAUNCHES: u32 = 130;

/// `/sys/kernel/fakegpu/calls`' USERD mappings: made, unmapped, failed.
fn userd_maps() -> Result<[u64; 3], String> {
    let calls = read_file("/sys/kernel/fakegpu/calls")?;
    let line = calls
        .lines()
        .find_map(|l| l.strip_prefix("nvidia userd_maps "))
        .ok_or_else(|| format!("no userd_maps line in the calls file: {calls:?}"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let n = |i: usize| -> Result<u64, String> {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| format!("userd_maps line {line:?}"))
    };
    Ok([n(0)?, n(2)?, n(4)?])
}

/// `compute.stat`'s submissions of GPU 0.
fn submissions(cg: &TestCgroup) -> Result<u64, String> {
    compute_stat(cg, "submissions")?
        .parse()
        .map_err(|e| format!("submissions: {e}"))
}

/// Two tenants in sibling cgroups queue known numbers of launches, one GPFIFO entry each:
/// once the engine has consumed them, each cgroup's count is exactly its own and the
/// parent's is their sum; the counts stay once the tenants are gone, and so do the channels'
/// mappings, each unmapped.
fn compute_submissions_counted_from_gpget() -> Result<(), String> {
    let before = userd_maps()?;
    let parent = TestCgroup::create(CG_PARENT)?;
    let (ga, gb) = (TestCgroup::create(CG_A)?, TestCgroup::create(CG_B)?);
    let done = shared_counters()?;
    let tenant = |cgroup, total, i: usize| {
        spawn_tenant(Setup {
            prefix: "FAKE_",
            cgroup: Some(cgroup),
            exactly: Some(total),
            launches: done.get(i),
            ..Setup::default()
        })
    };
    let a = tenant(CG_A, A_LAUNCHES, 0)?;
    let b = tenant(CG_B, B_LAUNCHES, 1)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while done[0].load(Ordering::Acquire) != u64::from(A_LAUNCHES)
        || done[1].load(Ordering::Acquire) != u64::from(B_LAUNCHES)
    {
        ensure(Instant::now() < deadline, || {
            "the tenants' launches were not consumed in 60 s".into()
        })?;
        std::thread::sleep(Duration::from_millis(20));
    }
    // Several of the governor's reads (every 10 ms).
    std::thread::sleep(Duration::from_millis(200));
    let counts = [submissions(&ga)?, submissions(&gb)?, submissions(&parent)?];
    println!(
        "FIGURE submissions from GPGet: A {} of {A_LAUNCHES}, B {} of {B_LAUNCHES}, parent {}",
        counts[0], counts[1], counts[2]
    );
    let want = [
        u64::from(A_LAUNCHES),
        u64::from(B_LAUNCHES),
        u64::from(A_LAUNCHES + B_LAUNCHES),
    ];
    ensure(counts == want, || {
        format!("compute.stat's submissions (A, B, parent) are {counts:?}, want {want:?}")
    })?;
    let mapped = userd_maps()?;
    ensure(mapped[0] == before[0] + 2 && mapped[2] == before[2], || {
        format!("USERD mappings (made, unmapped, failed) went from {before:?} to {mapped:?}: want 2 more made, none failed")
    })?;
    drop((a, b));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = userd_maps()?;
        if now[1] == mapped[1] + 2 {
            break;
        }
        ensure(Instant::now() < deadline, || {
            format!("5 s after the tenants exited, USERD mappings (made, unmapped, failed) are {now:?}, were {mapped:?}: want both unmapped")
        })?;
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = [submissions(&ga)?, submissions(&gb)?, submissions(&parent)?];
    ensure(after == want, || {
        format!("once the tenants exited the submissions are {after:?}, were {want:?}")
    })
}
