//! Many tenants at once through fakegpu's workers: one tenant's call held in the driver does
//! not hold back another tenant's worker calls (nvsim's gate holds it there), and a tenant
//! limited to one GPU never reaches another through the workers' shared fd table while
//! other tenants' calls have their files in it, and a cgroup's worker threads are bounded.

use crate::cgroup_util::{move_to, read_file, write_file, TestCgroup};
use crate::meter_cases::Session;
use crate::sys::{ioctl_raw, open_rw};
use crate::{ensure, Case};
use abi::nv_status::{NV_ERR_INSUFFICIENT_PERMISSIONS, NV_OK};
use abi::nv_uvm::{
    NvProcessorUuid, UvmInitializeParams, UvmRegisterGpuParams, UvmUnregisterGpuParams,
};
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
        "tenant_limited_to_gpu1_never_reaches_gpu0_beside_another",
        tenant_limited_to_gpu1_never_reaches_gpu0_beside_another,
    ),
    (
        "tenant_worker_threads_bounded",
        tenant_worker_threads_bounded,
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

/// A VA space of `/dev/fakegpu-uvm`, initialised.
fn uvm_va_space() -> Result<std::os::fd::OwnedFd, String> {
    let uvm = open_rw("/dev/fakegpu-uvm").map_err(|e| format!("open uvm: {e}"))?;
    let mut init = UvmInitializeParams::default();
    ioctl_raw(uvm.as_raw_fd(), 0x3000_0001, (&raw mut init) as usize)
        .map_err(|e| format!("UVM_INITIALIZE: errno {e}"))?;
    Ok(uvm)
}

/// UVM_REGISTER_GPU of GPU `minor` (nvsim's UUIDs end in the minor) for `t`'s client: the
/// RM status.
fn uvm_register(uvm: &impl AsRawFd, t: &Session, minor: u8) -> Result<u32, String> {
    let mut uuid = *b"nvsimgpu\0\0\0\0\0\0\0\0";
    uuid[15] = minor;
    let mut reg = UvmRegisterGpuParams {
        gpu_uuid: NvProcessorUuid { uuid },
        rm_ctrl_fd: t.ctl.as_raw_fd(),
        h_client: t.client,
        ..Default::default()
    };
    ioctl_raw(uvm.as_raw_fd(), 37, (&raw mut reg) as usize)
        .map_err(|e| format!("UVM_REGISTER_GPU: errno {e}"))?;
    Ok(reg.rm_status)
}

/// UVM_UNREGISTER_GPU of GPU `minor`: the RM status.
fn uvm_unregister(uvm: &impl AsRawFd, minor: u8) -> Result<u32, String> {
    let mut uuid = *b"nvsimgpu\0\0\0\0\0\0\0\0";
    uuid[15] = minor;
    let mut p = UvmUnregisterGpuParams {
        gpu_uuid: NvProcessorUuid { uuid },
        rm_status: 0,
    };
    ioctl_raw(uvm.as_raw_fd(), 38, (&raw mut p) as usize)
        .map_err(|e| format!("UVM_UNREGISTER_GPU: errno {e}"))?;
    Ok(p.rm_status)
}

/// A tenant whose cgroup sees only GPU 1 asks, over and over, for a device on GPU 0 and for
/// UVM_REGISTER_GPU of GPU 0 (with its own client and ctl fd, so only the GPU 0 node the
/// driver looks for in the fd table is missing) while another tenant's worker calls (device
/// allocations and UVM registrations of GPU 0) have GPU 0's files in the workers' shared fd
/// table: it gets the driver's NV_ERR_INSUFFICIENT_PERMISSIONS every time, never a device or
/// a registration.
fn tenant_limited_to_gpu1_never_reaches_gpu0_beside_another() -> Result<(), String> {
    const ROUNDS: u32 = 300;
    let limited = TestCgroup::create("/fakegpu-tenant-gpu1")?;
    limited.set("gpus", "1\n")?;
    let other = TestCgroup::create("/fakegpu-tenant-gpu0")?;
    let busy = spawn(|| {
        other.enter()?;
        let t = Session::open(0)?;
        let uvm = uvm_va_space()?;
        for i in 0..ROUNDS {
            rm::alloc_device(&t.ctl, t.client, 0xe00 + i, 0)
                .ok()
                .map_err(|e| format!("device {i}: {e}"))?;
            rm::free(&t.ctl, t.client, t.client, 0xe00 + i)
                .ok()
                .map_err(|e| format!("free device {i}: {e}"))?;
            let s = uvm_register(&uvm, &t, 0)?;
            ensure(s == NV_OK, || {
                format!("UVM_REGISTER_GPU {i}: status {s:#x}")
            })?;
            let s = uvm_unregister(&uvm, 0)?;
            ensure(s == NV_OK, || {
                format!("UVM_UNREGISTER_GPU {i}: status {s:#x}")
            })?;
        }
        Ok(())
    })?;
    limited.enter()?;
    let t = Session::open(1)?;
    let uvm = uvm_va_space()?;
    let (mut refused, mut made, mut other_status) = (0u32, 0u32, None);
    for i in 0..ROUNDS {
        let device = rm::alloc_device(&t.ctl, t.client, 0xf00 + i, 0);
        let register = uvm_register(&uvm, &t, 0)?;
        for status in [device.status(), register] {
            match status {
                NV_ERR_INSUFFICIENT_PERMISSIONS => refused += 1,
                NV_OK => made += 1,
                other => other_status = Some(format!("{device:?}, UVM status {other:#x}")),
            }
        }
    }
    drop(t);
    move_to("/")?;
    let busy_done = wait_for(busy, Duration::from_secs(120));
    println!(
        "FIGURE limited tenant: {refused} refused, {made} devices or UVM registrations of its hidden GPU"
    );
    ensure(made == 0, || {
        format!("{made} devices or registrations on a hidden GPU")
    })?;
    ensure(other_status.is_none(), || {
        format!("unexpected answer: {other_status:?}")
    })?;
    ensure(busy_done == Some(0), || {
        format!("the other tenant's calls failed (exit {busy_done:?})")
    })
}

/// fakegpu's limit on worker threads per cgroup.
const MAX_WORKERS: &str = "/sys/module/fakegpu/parameters/max_workers_per_cgroup";

/// Puts `max_workers_per_cgroup` back on drop.
struct RestoreMaxWorkers(String);

impl Drop for RestoreMaxWorkers {
    fn drop(&mut self) {
        let _ = write_file(MAX_WORKERS, &self.0);
    }
}

/// A process in `cg` that makes a worker call (RM_ALLOC of a client), writes a byte to
/// `ready`, and then holds on until killed: its pid.
fn worker_holder(cg: &TestCgroup, ready: i32) -> Result<i32, String> {
    spawn(|| {
        cg.enter()?;
        let ctl = open_rw("/dev/fakegpuctl").map_err(|e| format!("open: {e}"))?;
        rm::alloc_client(&ctl)
            .ok()
            .map_err(|e| format!("client: {e}"))?;
        // SAFETY: writes one byte from a live buffer to the pipe.
        unsafe { libc::write(ready, [1u8].as_ptr().cast(), 1) };
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    })
}

/// The answer to a process in `cg` whose first call needs a worker (RM_ALLOC of a client):
/// Ok(()) if it got one, Err(errno) if the ioctl failed, a message for anything else.
fn first_worker_call(cg: &TestCgroup) -> Result<Result<(), i32>, String> {
    let pid = spawn(|| {
        cg.enter()?;
        let ctl = open_rw("/dev/fakegpuctl").map_err(|e| format!("open: {e}"))?;
        match rm::alloc_client(&ctl) {
            rm::RmResult::Status(NV_OK, _) => Ok(()),
            // The errno as the exit code (spawn's own failures exit with 1).
            // SAFETY: leaves the child at once.
            rm::RmResult::Errno(e) => unsafe { libc::_exit(100 + e) },
            other => Err(format!("unexpected {other:?}")),
        }
    })?;
    match wait_for(pid, Duration::from_secs(30)) {
        Some(0) => Ok(Ok(())),
        Some(code) if code > 100 => Ok(Err(code - 100)),
        Some(code) => Err(format!("the child failed (exit {code})")),
        None => Err("the call hung".into()),
    }
}

/// With `max_workers_per_cgroup` at 3, a cgroup whose three processes (one of them in a
/// child cgroup) hold workers cannot give a fourth process one: its call gets EAGAIN, with
/// a log line, while a process in a sibling cgroup is served. Once a holder exits, the
/// fourth is served. Kernel threads are not counted by pids.max, so this is what bounds them.
fn tenant_worker_threads_bounded() -> Result<(), String> {
    let old = read_file(MAX_WORKERS)?;
    let _restore = RestoreMaxWorkers(old);
    write_file(MAX_WORKERS, "3\n").map_err(|e| format!("write {MAX_WORKERS}: errno {e}"))?;
    let tenant = TestCgroup::create("/fakegpu-tenant-workers")?;
    let child = TestCgroup::create("/fakegpu-tenant-workers/inner")?;
    let sibling = TestCgroup::create("/fakegpu-tenant-sibling")?;
    let mut ready = [0i32; 2];
    // SAFETY: room for two fds.
    ensure(unsafe { libc::pipe(ready.as_mut_ptr()) } == 0, || {
        "pipe".into()
    })?;
    let holders = [
        worker_holder(&tenant, ready[1])?,
        worker_holder(&tenant, ready[1])?,
        worker_holder(&child, ready[1])?,
    ];
    let kill_all = || {
        for &pid in &holders {
            // SAFETY: our own children.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait_for(pid, Duration::from_secs(10));
        }
    };
    // Each holder has its worker once it has written its byte.
    let mut got = 0;
    while got < 3 {
        let mut pfd = libc::pollfd {
            fd: ready[0],
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd; then a read into a live buffer.
        let n = unsafe {
            if libc::poll(&mut pfd, 1, 30_000) == 1 {
                libc::read(ready[0], [0u8; 3].as_mut_ptr().cast(), 3 - got)
            } else {
                -1
            }
        };
        if n <= 0 {
            kill_all();
            return Err(format!(
                "{got} of 3 holders made their worker call (output above)"
            ));
        }
        got += n as usize;
    }
    let fourth = first_worker_call(&tenant);
    let in_child = first_worker_call(&child);
    let beside = first_worker_call(&sibling);
    // SAFETY: our own child.
    unsafe { libc::kill(holders[0], libc::SIGKILL) };
    let _ = wait_for(holders[0], Duration::from_secs(10));
    let after_exit = first_worker_call(&tenant);
    kill_all();
    // SAFETY: the pipe's fds, no longer used.
    unsafe {
        libc::close(ready[0]);
        libc::close(ready[1]);
    }
    move_to("/")?;
    println!("fourth {fourth:?}, in the child {in_child:?}, sibling {beside:?}, after an exit {after_exit:?}");
    ensure(fourth == Ok(Err(libc::EAGAIN)), || {
        format!("a fourth process in a cgroup at its limit: {fourth:?}, want EAGAIN")
    })?;
    ensure(in_child == Ok(Err(libc::EAGAIN)), || {
        format!("a process in the child of a cgroup at its limit: {in_child:?}, want EAGAIN")
    })?;
    ensure(beside == Ok(Ok(())), || {
        format!("a process in a sibling cgroup: {beside:?}, want served")
    })?;
    ensure(after_exit == Ok(Ok(())), || {
        format!("a process once a holder exited: {after_exit:?}, want served")
    })?;
    let log = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| e.to_string())?;
    ensure(
        String::from_utf8_lossy(&log.stdout).contains("max_workers_per_cgroup (3)"),
        || "no log line for the refused worker".into(),
    )
}
