//! Many tenants at once through fakegpu's workers: one tenant's call held in the driver does
//! not hold back another tenant's worker calls (nvsim's gate holds it there), and a tenant
//! limited to one GPU never reaches another through the workers' shared fd table while
//! other tenants' calls have their files in it.

use crate::cgroup_util::{move_to, read_file, write_file, TestCgroup};
use crate::meter_cases::Session;
use crate::sys::open_rw;
use crate::{ensure, Case};
use abi::nv_status::{NV_ERR_INSUFFICIENT_PERMISSIONS, NV_OK};
use nv_client::rm::{self, VidHeap};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Every case of this file.
pub const ALL: &[Case] = &[
    (
        "tenant_held_in_driver_does_not_stall_another",
        tenant_held_in_driver_does_not_stall_another,
    ),
    (
        "tenant_limited_to_gpu1_never_allocates_gpu0_beside_another",
        tenant_limited_to_gpu1_never_allocates_gpu0_beside_another,
    ),
];

/// nvsim's gate: holds RM calls of one escape in the driver until it is opened.
const GATE: &str = "/sys/module/nvsim/parameters/gate";
/// RM_VID_HEAP_CONTROL's escape number, the call the gate holds.
pub const VID_HEAP: u8 = 0x4a;
const DEVICE: u32 = 0xd0;
const MIB: u64 = 1 << 20;

/// Runs `f` in a child process; its pid.
pub fn spawn(f: impl FnOnce() -> Result<(), String>) -> Result<i32, String> {
    // SAFETY: the test process is single-threaded; the child makes system calls and exits.
    match unsafe { libc::fork() } {
        -1 => Err("fork failed".into()),
        0 => {
            let code = match f() {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("child: {e}");
                    1
                }
            };
            // SAFETY: leaves the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => Ok(pid),
    }
}

/// Waits up to `limit` for child `pid`: its exit code, or None if it is still running.
pub fn wait_for(pid: i32, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: polls our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return Some(libc::WEXITSTATUS(status));
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many calls nvsim's gate holds now.
pub fn held() -> Result<u32, String> {
    let text = read_file(GATE)?;
    text.split_whitespace()
        .skip_while(|w| *w != "held")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{GATE} reads {text:?}"))
}

/// Opens the gate on drop, so a failing case never leaves a call held.
pub struct Gate;

impl Gate {
    /// Arms the gate for RM escape `escape`.
    pub fn arm(escape: u8) -> Result<Self, String> {
        write_file(GATE, &format!("{escape:#x}\n"))
            .map_err(|e| format!("arm {GATE}: errno {e}"))?;
        Ok(Gate)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = write_file(GATE, "open\n");
    }
}

/// Tenant B's worker-routed calls on GPU 1: metered allocation and free, RM_MAP_MEMORY of
/// system memory, a device allocation and its free, `rounds` times.
fn other_tenant_calls(rounds: u32) -> Result<(), String> {
    let t = Session::open(1)?;
    rm::alloc_memory(&t.ctl, t.client, DEVICE, 0x3e00, 0x3e, 4096)
        .ok()
        .map_err(|e| format!("system memory: {e}"))?;
    for i in 0..rounds {
        rm::alloc_memory(&t.ctl, t.client, DEVICE, 0x4000 + i, 0x40, MIB)
            .ok()
            .map_err(|e| format!("round {i}: alloc: {e}"))?;
        rm::free(&t.ctl, t.client, DEVICE, 0x4000 + i)
            .ok()
            .map_err(|e| format!("round {i}: free: {e}"))?;
        let target = open_rw("/dev/fakegpuctl").map_err(|e| format!("open: {e}"))?;
        rm::map_memory(
            &t.ctl,
            t.client,
            DEVICE,
            0x3e00,
            0,
            4096,
            target.as_raw_fd(),
        )
        .ok()
        .map_err(|e| format!("round {i}: MAP_MEMORY: {e}"))?;
        rm::alloc_device(&t.ctl, t.client, 0xe00 + i, 1)
            .ok()
            .map_err(|e| format!("round {i}: device: {e}"))?;
        rm::free(&t.ctl, t.client, t.client, 0xe00 + i)
            .ok()
            .map_err(|e| format!("round {i}: free device: {e}"))?;
    }
    Ok(())
}

/// Tenant A's RM_VID_HEAP_CONTROL is held in nvsim (its gate, before any lock of nvsim's)
/// while tenant B, in another cgroup, makes worker-routed calls on GPU 1: B finishes while
/// A is still held, then A is let go and completes. With one lock around every worker call,
/// as fakegpu had, B waits for A and the case fails.
fn tenant_held_in_driver_does_not_stall_another() -> Result<(), String> {
    let cg_a = TestCgroup::create("/fakegpu-tenant-a")?;
    let cg_b = TestCgroup::create("/fakegpu-tenant-b")?;
    let gate = Gate::arm(VID_HEAP)?;
    let a = spawn(|| {
        cg_a.enter()?;
        let t = Session::open(0)?;
        let call = VidHeap {
            function: 2,
            memory: 0x104,
            size: 2 * MIB,
            ..Default::default()
        };
        let (memory, _, _, _) = rm::vid_heap(&t.ctl, t.client, DEVICE, call)
            .ok()
            .map_err(|e| format!("VID_HEAP: {e}"))?;
        ensure(memory != 0, || "VID_HEAP made no memory".into())
    })?;
    let start = Instant::now();
    while held()? == 0 {
        if start.elapsed() > Duration::from_secs(30) {
            drop(gate);
            let _ = wait_for(a, Duration::from_secs(30));
            return Err("tenant A's call never reached the gate".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = spawn(|| {
        cg_b.enter()?;
        other_tenant_calls(10)
    })?;
    let b_done = wait_for(b, Duration::from_secs(60));
    let still_held = held()?;
    println!(
        "FIGURE tenant B: 10 rounds of 5 worker calls in {:.2} s while tenant A was held",
        start.elapsed().as_secs_f64()
    );
    drop(gate);
    let a_done = wait_for(a, Duration::from_secs(60));
    if b_done.is_none() {
        let _ = wait_for(b, Duration::from_secs(60));
    }
    ensure(b_done == Some(0), || {
        format!("tenant B's calls did not finish while A's call was held (exit {b_done:?})")
    })?;
    ensure(still_held == 1, || {
        format!("A's call was not held in the driver for all of B's calls ({still_held})")
    })?;
    ensure(a_done == Some(0), || {
        format!("tenant A's held call did not complete once released (exit {a_done:?})")
    })?;
    move_to("/")
}

/// A tenant whose cgroup sees only GPU 1 asks, over and over, for a device on GPU 0 while
/// another tenant's worker calls have GPU 0's files in the workers' shared fd table: it gets
/// the driver's NV_ERR_INSUFFICIENT_PERMISSIONS every time, never a device.
fn tenant_limited_to_gpu1_never_allocates_gpu0_beside_another() -> Result<(), String> {
    let limited = TestCgroup::create("/fakegpu-tenant-gpu1")?;
    limited.set("gpus", "1\n")?;
    let other = TestCgroup::create("/fakegpu-tenant-gpu0")?;
    let busy = spawn(|| {
        other.enter()?;
        let t = Session::open(0)?;
        for i in 0..400 {
            rm::alloc_device(&t.ctl, t.client, 0xe00 + i, 0)
                .ok()
                .map_err(|e| format!("device {i}: {e}"))?;
            rm::free(&t.ctl, t.client, t.client, 0xe00 + i)
                .ok()
                .map_err(|e| format!("free device {i}: {e}"))?;
        }
        Ok(())
    })?;
    limited.enter()?;
    let t = Session::open(1)?;
    let (mut refused, mut made, mut other_status) = (0u32, 0u32, None);
    for i in 0..400 {
        match rm::alloc_device(&t.ctl, t.client, 0xf00 + i, 0) {
            rm::RmResult::Status(NV_ERR_INSUFFICIENT_PERMISSIONS, _) => refused += 1,
            rm::RmResult::Status(NV_OK, _) => made += 1,
            other => other_status = Some(format!("{other:?}")),
        }
    }
    drop(t);
    move_to("/")?;
    let busy_done = wait_for(busy, Duration::from_secs(120));
    println!("FIGURE limited tenant: {refused} refused, {made} devices on its hidden GPU");
    ensure(made == 0, || format!("{made} devices made on a hidden GPU"))?;
    ensure(other_status.is_none(), || {
        format!("unexpected answer: {other_status:?}")
    })?;
    ensure(busy_done == Some(0), || {
        format!("the other tenant's calls failed (exit {busy_done:?})")
    })
}
