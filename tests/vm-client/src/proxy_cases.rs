//! Test cases of fakegpu's NVIDIA nodes that have no direct counterpart: the nodes and their
//! sysfs listing, fd translation (the caller's values restored), the filter's refusals, and
//! the racing attacker that tries to reach a real driver file while fd-carrying calls run.
//! (The nvsim cases also run through these nodes: see `nv_cases::DIRECT_ONLY`.)

use crate::cgroup_util::TestCgroup;
use crate::sys::{fd_rdev, ioctl, ioctl_raw, open_rw};
use crate::tenant_cases::{spawn, wait_for};
use crate::{ensure, Case};
use abi::ioc::{ioc, IOC_READ, IOC_WRITE};
use abi::nv_frontend::{esc, NvIoctlRegisterFd, NvIoctlXfer, NV_IOCTL_MAGIC};
use abi::nv_rm::{esc as rm_esc, Nvos21, Nvos33WithFd, Nvos54};
use abi::nv_uvm::{UvmInitializeParams, UvmMmInitializeParams};
use nv_client::rm::{self as nv_rm};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Every proxy case, in the order the suite runs them.
pub const ALL: &[Case] = &[
    ("proxy_nodes_and_sysfs", proxy_nodes_and_sysfs),
    (
        "proxy_fd_params_translated_and_restored",
        proxy_fd_params_translated_and_restored,
    ),
    ("proxy_filter_refusals", proxy_filter_refusals),
    (
        "proxy_control_command_cannot_be_swapped",
        proxy_control_command_cannot_be_swapped,
    ),
    (
        "proxy_real_file_never_reachable",
        proxy_real_file_never_reachable,
    ),
    ("nv_mapping_outlives_module", nv_mapping_outlives_module),
];

const CTL: &str = "/dev/fakegpuctl";
const GPU0: &str = "/dev/fakegpu0";
const UVM: &str = "/dev/fakegpu-uvm";

fn open(path: &str) -> Result<OwnedFd, String> {
    open_rw(path).map_err(|e| format!("open {path}: {e}"))
}

fn major(rdev: u64) -> u32 {
    libc::major(rdev)
}

/// An RM escape with its exact parameter struct; Err names `what` and the errno.
fn rm_escape<T: abi::pod::Pod>(
    fd: &OwnedFd,
    nr: u8,
    params: &mut T,
    what: &str,
) -> Result<(), String> {
    ioctl(fd, nv_cmd(nr, std::mem::size_of::<T>()), params)
        .map(drop)
        .map_err(|e| format!("{what}: errno {e}"))
}

fn nv_cmd(nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, NV_IOCTL_MAGIC, nr, size)
}

/// A tenant thread rewrites the command of an RM_CONTROL in flight, between an allowed query
/// (QUERY_ECC_CONFIGURATION) and an admin-only setter with the same parameter size
/// (SET_COMPUTE_MODE_RULES, EXCLUSIVE_PROCESS), while another thread makes the call again and
/// again as root. fakegpu routes and makes each control on its own copy, so whichever command
/// it read is the one the driver gets: the setter is refused every time it is read, and the
/// GPU's compute mode never changes (nvsim's ground truth).
fn proxy_control_command_cannot_be_swapped() -> Result<(), String> {
    const QUERY: u32 = 0x2080_0133;
    const SETTER: u32 = 0x2080_0130;
    let ctl = open(CTL)?;
    let _gpu = open(GPU0)?;
    let client = crate::nv_cases::client_with_device(&ctl)?;
    let before = nv_rm::debugfs("gpu0_settings", "changes")?;
    // {rules = EXCLUSIVE_PROCESS, flags = 0}, which a query only overwrites.
    let params: Box<[u32; 2]> = Box::new([3, 0]);
    let control = Box::new(Nvos54 {
        h_client: client,
        h_object: 0x5d0,
        cmd: QUERY,
        params: params.as_ptr() as u64,
        params_size: 8,
        ..Default::default()
    });
    let control = Box::into_raw(control);
    let cmd_field = control as usize + std::mem::offset_of!(Nvos54, cmd);
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // SAFETY: the field lives until the thread is joined; written as the tenant
            // would, racing the kernel's reads.
            let field = unsafe { &*(cmd_field as *const std::sync::atomic::AtomicU32) };
            let mut flips = 0u64;
            while !stop.load(Ordering::Relaxed) {
                field.store(SETTER, Ordering::Relaxed);
                field.store(QUERY, Ordering::Relaxed);
                flips += 1;
            }
            flips
        })
    };
    let (mut answered, mut refused, mut other) = (0u32, 0u32, 0u32);
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        // `control` points to a live NVOS54, and its parameters to 8 bytes.
        let r = ioctl_raw(
            ctl.as_raw_fd(),
            nv_cmd(rm_esc::RM_CONTROL, std::mem::size_of::<Nvos54>()),
            control as usize,
        );
        // SAFETY: as above; the status is written by the call just made.
        let status = unsafe { std::ptr::read_volatile(&(*control).status) };
        match (r, status) {
            (Ok(_), 0) => answered += 1,
            (Ok(_), 0x1b) => refused += 1,
            _ => other += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().map_err(|_| "flipper panicked")?;
    // SAFETY: made by Box::into_raw above; no thread uses it now.
    drop(unsafe { Box::from_raw(control) });
    let after = nv_rm::debugfs("gpu0_settings", "changes")?;
    let mode = nv_rm::debugfs("gpu0_settings", "compute_mode")?;
    println!(
        "FIGURE a tenant thread flipped an RM_CONTROL's command {flips} times in 4 s: \
         {answered} queries answered, {refused} setters refused, {other} other; nvsim's \
         setting changes {before} -> {after}, compute mode {mode}"
    );
    ensure(after == before && mode == 0, || {
        format!("a swapped command reached the driver: changes {before} -> {after}, mode {mode}")
    })?;
    ensure(answered > 0 && refused > 0, || {
        "the race was not exercised: want both commands seen".into()
    })
}

/// The nodes exist with fakegpu's majors and NVIDIA's minors, and sysfs lists each with the
/// real device behind it.
fn proxy_nodes_and_sysfs() -> Result<(), String> {
    let devices = std::fs::read_to_string("/sys/kernel/fakegpu/devices")
        .map_err(|e| format!("/sys/kernel/fakegpu/devices: {e}"))?;
    print!("{devices}");
    let uvm_major = std::fs::read_to_string("/proc/devices")
        .map_err(|e| e.to_string())?
        .lines()
        .find_map(|l| l.strip_suffix(" nvidia-uvm").map(|m| m.trim().to_owned()))
        .ok_or("no nvidia-uvm in /proc/devices")?;
    for (path, minor, real) in [
        (CTL, 255, "195:255".to_owned()),
        (GPU0, 0, "195:0".to_owned()),
        ("/dev/fakegpu1", 1, "195:1".to_owned()),
        ("/dev/fakegpu-uvm", 0, format!("{uvm_major}:0")),
    ] {
        let fd = open(path)?;
        let rdev = fd_rdev(fd.as_raw_fd()).map_err(|e| e.to_string())?;
        ensure(libc::minor(rdev) == minor && major(rdev) != 195, || {
            format!("{path} is {}:{}", major(rdev), libc::minor(rdev))
        })?;
        let line = format!("{path} {}:{minor} {real}", major(rdev));
        ensure(devices.lines().any(|l| l == line), || {
            format!("sysfs lacks `{line}`")
        })?;
    }
    Ok(())
}

/// REGISTER_FD and RM_MAP_MEMORY through fakegpu: the driver sees the real files (the calls
/// succeed and the mapping works), and the caller finds its own fd values in its parameters
/// afterwards, not the worker's.
fn proxy_fd_params_translated_and_restored() -> Result<(), String> {
    let ctl = open(CTL)?;
    let gpu = open(GPU0)?;
    let mut p = NvIoctlRegisterFd {
        ctl_fd: ctl.as_raw_fd(),
    };
    ioctl(&gpu, nv_cmd(esc::REGISTER_FD, 4), &mut p)
        .map_err(|e| format!("REGISTER_FD: errno {e}"))?;
    ensure(p.ctl_fd == ctl.as_raw_fd(), || {
        format!("ctl_fd came back as {}", p.ctl_fd)
    })?;

    // System memory, mapped through a fresh fake nvidiactl, written and read back.
    let client = nv_rm::alloc_client(&ctl)
        .ok()
        .map_err(|e| format!("client: {e}"))?;
    nv_rm::alloc_device(&ctl, client, 0xd0, 0)
        .ok()
        .map_err(|e| format!("device: {e}"))?;
    let size = 3 * 4096u64;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x3e0, 0x3e, size)
        .ok()
        .map_err(|e| format!("system memory: {e}"))?;
    let map_ctl = open(CTL)?;
    let mut m = Nvos33WithFd {
        h_client: client,
        h_device: 0xd0,
        h_memory: 0x3e0,
        length: size,
        fd: map_ctl.as_raw_fd(),
        ..Default::default()
    };
    rm_escape(&ctl, rm_esc::RM_MAP_MEMORY, &mut m, "MAP_MEMORY")?;
    ensure(m.status == 0 && m.fd == map_ctl.as_raw_fd(), || {
        format!(
            "MAP_MEMORY: status {:#x}, fd came back as {}",
            m.status, m.fd
        )
    })?;
    for round in 0..2 {
        // SAFETY: maps the fake file the mapping context was set on.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map_ctl.as_raw_fd(),
                0,
            )
        };
        ensure(addr != libc::MAP_FAILED, || {
            format!("mmap {round}: {}", std::io::Error::last_os_error())
        })?;
        let bytes = addr.cast::<u8>();
        // SAFETY: `size` bytes mapped at `addr`.
        unsafe {
            if round == 0 {
                for i in 0..size as usize {
                    *bytes.add(i) = (i % 251) as u8;
                }
            } else {
                for i in 0..size as usize {
                    let b = *bytes.add(i);
                    if b != (i % 251) as u8 {
                        return Err(format!("byte {i} reads {b} through a second mapping"));
                    }
                }
            }
            libc::munmap(addr, size as usize);
        }
    }
    // A foreign fd (a pipe) gets the driver's own answer for a bad fd, and stays the
    // caller's value.
    let mut pipe = [0i32; 2];
    // SAFETY: room for two fds.
    ensure(unsafe { libc::pipe(pipe.as_mut_ptr()) } == 0, || {
        "pipe".into()
    })?;
    let mut bad = Nvos33WithFd { fd: pipe[0], ..m };
    bad.status = 0;
    rm_escape(
        &ctl,
        rm_esc::RM_MAP_MEMORY,
        &mut bad,
        "MAP_MEMORY with a pipe",
    )?;
    // SAFETY: closing our pipe.
    unsafe {
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
    ensure(bad.status == 0x1f && bad.fd == pipe[0], || {
        format!(
            "MAP_MEMORY with a pipe: status {:#x}, fd {}",
            bad.status, bad.fd
        )
    })?;
    nv_rm::free(&ctl, client, client, client)
        .ok()
        .map_err(|e| format!("free: {e}"))
}

/// What the filter refuses, each in the driver's own form, logged.
fn proxy_filter_refusals() -> Result<(), String> {
    let ctl = open(CTL)?;
    let _gpu = open(GPU0)?;
    let mut sys_params = [0u8; 8];
    let r = ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(esc::SYS_PARAMS, 8),
        sys_params.as_mut_ptr() as usize,
    );
    ensure(r == Err(libc::EACCES), || format!("SYS_PARAMS: {r:?}"))?;
    let mut numa = [0u8; 4];
    let r = ioctl_raw(ctl.as_raw_fd(), nv_cmd(0xd8, 4), numa.as_mut_ptr() as usize);
    ensure(r == Err(libc::EACCES), || format!("SET_NUMA_STATUS: {r:?}"))?;
    let mut unknown = [0u8; 16];
    let r = ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(0x32, 16),
        unknown.as_mut_ptr() as usize,
    );
    ensure(r == Err(libc::EINVAL), || format!("escape 0x32: {r:?}"))?;
    // IOCTL_XFER_CMD wrapping IOCTL_XFER_CMD.
    let mut inner = NvIoctlXfer::default();
    let mut outer = NvIoctlXfer {
        cmd: esc::IOCTL_XFER_CMD.into(),
        size: 16,
        ptr: &mut inner as *mut NvIoctlXfer as u64,
    };
    let r = ioctl(&ctl, nv_cmd(esc::IOCTL_XFER_CMD, 16), &mut outer);
    ensure(r == Err(libc::EINVAL), || format!("nested XFER: {r:?}"))?;

    let client = crate::nv_cases::client_with_device(&ctl)?;
    // An allocation of a class fakegpu does not know: NV_ERR_INVALID_CLASS, not forwarded.
    let mut a = Nvos21 {
        h_root: client,
        h_object_parent: 0xd0,
        h_object_new: 0x777,
        h_class: 0xbeef,
        ..Default::default()
    };
    rm_escape(&ctl, rm_esc::RM_ALLOC, &mut a, "RM_ALLOC 0xbeef")?;
    ensure(a.status == 0x22, || {
        format!("RM_ALLOC 0xbeef: status {:#x}", a.status)
    })?;
    // Controls that carry fds fakegpu does not translate: refused. GET_PIDS and GET_PID_INFO
    // of a size fakegpu does not answer (`nvidia/processes.rs`) reach the driver, which
    // refuses the size, so no process list leaves it unfiltered.
    for (cmd, want) in [
        (0x2080_018du32, 0x1fu32),
        (0x2080_018e, 0x1f),
        (0x3d05, 0x56),
        (0x00fd_0104, 0x56),
    ] {
        let mut params = vec![0u8; 16];
        let mut c = Nvos54 {
            h_client: client,
            h_object: 0x5d0,
            cmd,
            params: params.as_mut_ptr() as u64,
            params_size: params.len() as u32,
            ..Default::default()
        };
        rm_escape(&ctl, rm_esc::RM_CONTROL, &mut c, "control {cmd:#x}")?;
        ensure(c.status == want, || {
            format!("control {cmd:#x}: status {:#x}, want {want:#x}", c.status)
        })?;
    }
    // A control fakegpu does not know (0x20808161, which nvidia-smi sends; its layout is the
    // closed RM's): refused with NV_ERR_NOT_SUPPORTED before the driver. An admin-only one
    // (SET_COMPUTE_MODE_RULES) sent as root: NV_ERR_INSUFFICIENT_PERMISSIONS before the
    // driver. nvsim's fault injection, armed for one call, shows neither reached it; a known
    // control after them takes the fault.
    let param = "/sys/module/nvsim/parameters";
    let set = |name: &str, value: &str| {
        std::fs::write(format!("{param}/{name}"), value).map_err(|e| format!("{name}: {e}"))
    };
    set("fault_errno", "0")?;
    set("fault_after", "N")?;
    set("fault_status", "0x1234")?;
    set("fault_count", "1")?;
    let control = |cmd: u32| -> Result<u32, String> {
        let mut params = [0u8; 132];
        let mut c = Nvos54 {
            h_client: client,
            h_object: 0x5d0,
            cmd,
            params: params.as_mut_ptr() as u64,
            params_size: if cmd == 0x2080_0110 { 132 } else { 8 },
            ..Default::default()
        };
        rm_escape(&ctl, rm_esc::RM_CONTROL, &mut c, "control")?;
        Ok(c.status)
    };
    let unknown = control(0x2080_8161);
    let privileged = control(0x2080_0130);
    let known = control(0x2080_0110);
    set("fault_count", "0")?;
    ensure(
        unknown == Ok(0x56) && privileged == Ok(0x1b) && known == Ok(0x1234),
        || {
            format!(
                "0x20808161: {unknown:x?} (want NV_ERR_NOT_SUPPORTED from fakegpu), \
                 SET_COMPUTE_MODE_RULES: {privileged:x?} (want NV_ERR_INSUFFICIENT_PERMISSIONS \
                 from fakegpu), then GET_NAME_STRING: {known:x?} (want nvsim's injected 0x1234)"
            )
        },
    )?;
    let calls = std::fs::read_to_string("/sys/kernel/fakegpu/calls").map_err(|e| e.to_string())?;
    ensure(
        calls
            .lines()
            .any(|l| l.starts_with("nvidia unknown_control 0x20808161 "))
            && calls
                .lines()
                .any(|l| l.starts_with("nvidia privileged_control 0x20800130 ")),
        || format!("the calls file does not count them:\n{calls}"),
    )?;
    nv_rm::free(&ctl, client, client, client)
        .ok()
        .map_err(|e| format!("free: {e}"))?;
    let log = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&log.stdout);
    let refusals = log
        .lines()
        .filter(|l| l.contains("fakegpu: refused call"))
        .count();
    println!("{refusals} refusals logged, e.g.:");
    for l in log.lines().filter(|l| l.contains("refused call")).take(3) {
        println!("  {l}");
    }
    ensure(
        log.contains("refused call 0xd6 on fakegpuctl")
            && log.contains("sets a driver-wide parameter"),
        || "SYS_PARAMS refusal not logged with the node and reason".into(),
    )
}

/// Pids of fakegpu's worker threads (`fakegpu/<tgid>`).
fn worker_pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        comm.starts_with("fakegpu/").then_some(pid)
    })
    .collect()
}

/// Whether `fd` is a real NVIDIA driver file (major 195 or nvidia-uvm's), i.e. a breach.
fn is_real_nvidia(fd: RawFd, uvm_major: u32) -> bool {
    fd_rdev(fd).is_ok_and(|r| major(r) == 195 || major(r) == uvm_major)
}

/// The racing attacker: while one thread makes fd-carrying calls (REGISTER_FD, device
/// allocation, RM_MAP_MEMORY, UVM_REGISTER_GPU) through fakegpu, so that real files sit in a
/// worker's fd table, attacker threads of the same process (no longer root) look at every fd
/// number with fstat, dup it, send it to themselves with SCM_RIGHTS, pidfd_getfd it from their
/// own process and from every fakegpu worker thread. None may ever yield a real driver file.
/// Two tenants do this at once, in two cgroups, one on each GPU, so that each one's
/// attackers also probe the other's worker while its calls have real files in the table.
fn proxy_real_file_never_reachable() -> Result<(), String> {
    let cg_a = TestCgroup::create("/fakegpu-probe-a")?;
    let cg_b = TestCgroup::create("/fakegpu-probe-b")?;
    let a = spawn(|| {
        cg_a.enter()?;
        real_file_probe(0)
    })?;
    let b = spawn(|| {
        cg_b.enter()?;
        real_file_probe(1)
    })?;
    let done_a = wait_for(a, Duration::from_secs(150));
    let done_b = wait_for(b, Duration::from_secs(30));
    for (pid, done) in [(a, done_a), (b, done_b)] {
        if done.is_none() {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = wait_for(pid, Duration::from_secs(10));
        }
    }
    ensure(done_a == Some(0) && done_b == Some(0), || {
        format!("the tenants' probes ended with {done_a:?} and {done_b:?} (output above)")
    })
}

/// One tenant's part of [`proxy_real_file_never_reachable`], on GPU `gpu`.
fn real_file_probe(gpu: u32) -> Result<(), String> {
    const CALLS: u64 = 2000;
    let gpu_node = format!("/dev/fakegpu{gpu}");
    let uvm_major: u32 = std::fs::read_to_string("/proc/devices")
        .map_err(|e| e.to_string())?
        .lines()
        .find_map(|l| {
            l.strip_suffix(" nvidia-uvm")
                .and_then(|m| m.trim().parse().ok())
        })
        .ok_or("no nvidia-uvm major")?;
    // The detector itself: a real nvsim file is seen as one.
    let real = open("/dev/nvidiactl")?;
    ensure(is_real_nvidia(real.as_raw_fd(), uvm_major), || {
        "the breach detector misses a real nvidiactl".into()
    })?;
    drop(real);
    let ctl = open(CTL)?;
    let _gpu = open(&gpu_node)?;
    let va = open(UVM)?;
    let mut init = UvmInitializeParams::default();
    ioctl(&va, 0x3000_0001, &mut init).map_err(|e| format!("UVM_INITIALIZE: errno {e}"))?;
    let client = nv_rm::alloc_client(&ctl)
        .ok()
        .map_err(|e| format!("client: {e}"))?;
    nv_rm::alloc_device(&ctl, client, 0xd0, gpu)
        .ok()
        .map_err(|e| format!("device: {e}"))?;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x3e0, 0x3e, 4096)
        .ok()
        .map_err(|e| format!("system memory: {e}"))?;
    // The attackers act as an unprivileged tenant would.
    // SAFETY: changes the ids of every thread (glibc broadcasts setxid); no thread runs yet.
    ensure(unsafe { libc::setresuid(65534, 65534, 65534) } == 0, || {
        "setresuid".into()
    })?;
    let workers = worker_pids();
    println!("fakegpu workers: {workers:?}");
    ensure(!workers.is_empty(), || {
        "no fakegpu worker thread exists".into()
    })?;

    let stop = Arc::new(AtomicBool::new(false));
    let breaches = Arc::new(AtomicU64::new(0));
    let probes = Arc::new(AtomicU64::new(0));
    let mut attackers = Vec::new();
    for kind in 0..2 {
        let (stop, breaches, probes, workers) = (
            stop.clone(),
            breaches.clone(),
            probes.clone(),
            workers.clone(),
        );
        attackers.push(std::thread::spawn(move || {
            // SAFETY: plain syscalls on fds and pids this thread owns or names.
            let own_pidfd =
                unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) } as i32;
            let worker_pidfds: Vec<i32> = workers
                .iter()
                // SAFETY: as above.
                .map(|&p| unsafe { libc::syscall(libc::SYS_pidfd_open, p, 0) } as i32)
                .collect();
            let mut sv = [0i32; 2];
            // SAFETY: room for two fds.
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, sv.as_mut_ptr()) };
            let check = |fd: i32| {
                if fd >= 0 {
                    if is_real_nvidia(fd, uvm_major) {
                        breaches.fetch_add(1, Ordering::Relaxed);
                    }
                    // SAFETY: an fd this thread just obtained.
                    unsafe { libc::close(fd) };
                }
            };
            while !stop.load(Ordering::Relaxed) {
                for fd in 0..64 {
                    probes.fetch_add(1, Ordering::Relaxed);
                    if is_real_nvidia(fd, uvm_major) {
                        breaches.fetch_add(1, Ordering::Relaxed);
                    }
                    // SAFETY: dup and pidfd_getfd of any number are harmless.
                    check(unsafe { libc::dup(fd) });
                    // SAFETY: as above.
                    check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, own_pidfd, fd, 0) } as i32);
                    for &w in &worker_pidfds {
                        // SAFETY: as above; must fail for an unprivileged caller.
                        check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, w, fd, 0) } as i32);
                    }
                    if kind == 1 && fd > 2 {
                        check(send_and_receive(sv, fd));
                    }
                }
            }
        }));
    }
    let mut done = 0u64;
    let mut errors = Vec::new();
    for i in 0..CALLS {
        let r = match i % 4 {
            0 => {
                let g = open(&gpu_node)?;
                let mut p = NvIoctlRegisterFd {
                    ctl_fd: ctl.as_raw_fd(),
                };
                ioctl(&g, nv_cmd(esc::REGISTER_FD, 4), &mut p)
                    .map(|_| 0)
                    .map_err(|e| format!("REGISTER_FD errno {e}"))
            }
            1 => {
                let h = 0x100 + (i as u32 % 1000);
                let r = nv_rm::alloc_device(&ctl, client, h, gpu)
                    .ok()
                    .map_err(|e| format!("device: {e}"));
                let _ = nv_rm::free(&ctl, client, client, h);
                r.map(|_| 0)
            }
            2 => {
                let map_ctl = open(CTL)?;
                nv_rm::map_memory(&ctl, client, 0xd0, 0x3e0, 0, 4096, map_ctl.as_raw_fd())
                    .ok()
                    .map(|_| 0)
                    .map_err(|e| format!("map: {e}"))
            }
            _ => {
                // UVM_MM_INITIALIZE on a fresh uvm file, naming the VA-space file: the
                // worker holds the real UVM file meanwhile (the status after the first
                // success is the driver's "already alive", which is fine here).
                let mm = open(UVM)?;
                let mut p = UvmMmInitializeParams {
                    uvm_fd: va.as_raw_fd(),
                    rm_status: 0,
                };
                ioctl(&mm, 75, &mut p)
                    .map(|_| 0)
                    .map_err(|e| format!("MM_INITIALIZE errno {e}"))
            }
        };
        match r {
            Ok(_) => done += 1,
            Err(e) if errors.len() < 3 => errors.push(e),
            Err(_) => {}
        }
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.join();
    }
    let (breaches, probes) = (
        breaches.load(Ordering::Relaxed),
        probes.load(Ordering::Relaxed),
    );
    println!("FIGURE racing attacker on GPU {gpu}: {done} fd-carrying calls, {probes} fd numbers probed (fstat, dup, SCM_RIGHTS, pidfd_getfd of self and of {} worker thread(s)): {breaches} real files seen", workers.len());
    ensure(errors.is_empty(), || format!("calls failed: {errors:?}"))?;
    ensure(breaches == 0, || {
        format!("{breaches} real driver files reached the process")
    })
}

/// Sends `fd` over the socket pair `sv` and returns the received copy (-1 on failure).
fn send_and_receive(sv: [i32; 2], fd: i32) -> i32 {
    const SPACE: usize = 64;
    let mut cbuf = [0u8; SPACE];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: a zeroed msghdr is valid; the buffers outlive the calls.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(4) as usize;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::copy_nonoverlapping(&fd as *const i32 as *const u8, libc::CMSG_DATA(c), 4);
        if libc::sendmsg(sv[0], &msg, libc::MSG_DONTWAIT) < 0 {
            return -1;
        }
        let mut rmsg: libc::msghdr = std::mem::zeroed();
        let mut rbuf = [0u8; SPACE];
        rmsg.msg_iov = &mut iov;
        rmsg.msg_iovlen = 1;
        rmsg.msg_control = rbuf.as_mut_ptr().cast();
        rmsg.msg_controllen = SPACE;
        if libc::recvmsg(sv[1], &mut rmsg, 0) < 0 {
            return -1;
        }
        let c = libc::CMSG_FIRSTHDR(&rmsg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return -1;
        }
        let mut out = -1i32;
        std::ptr::copy_nonoverlapping(libc::CMSG_DATA(c), &mut out as *mut i32 as *mut u8, 4);
        out
    }
}

/// An NVIDIA mapping (RM_MAP_MEMORY, then mmap of the fake control file) belongs to the real
/// driver: with every fake file closed, the client freed with them and fakegpu unloaded, it
/// still holds its bytes and takes writes, and unmapping it then leaves nvsim as before.
fn nv_mapping_outlives_module() -> Result<(), String> {
    use crate::cases::{check_pattern, fill_pattern, sh};
    let before = nv_rm::debugfs("sys_used", "sys_used")?;
    let ctl = open(CTL)?;
    let gpu = open(GPU0)?;
    let client = nv_rm::alloc_client(&ctl).ok()?;
    nv_rm::alloc_device(&ctl, client, 0xd0, 0).ok()?;
    let size = nv_rm::alloc_memory(&ctl, client, 0xd0, 0x1000, 0x3e, 65536).ok()?;
    let map_fd = open(CTL)?;
    nv_rm::map_memory(&ctl, client, 0xd0, 0x1000, 0, size, map_fd.as_raw_fd())
        .ok()
        .map_err(|e| format!("RM_MAP_MEMORY: {e}"))?;
    let len = usize::try_from(size).map_err(|e| e.to_string())?;
    let mut map = crate::sys::Mapping::shared(map_fd.as_raw_fd(), len, 0)
        .map_err(|e| format!("mmap: {e}"))?;
    fill_pattern(map.bytes_mut(), 42);
    drop((map_fd, gpu, ctl));
    sh("rmmod fakegpu")?;
    let gone = !std::path::Path::new(CTL).exists();
    check_pattern(map.bytes(), 42, "NVIDIA mapping after rmmod fakegpu")?;
    fill_pattern(map.bytes_mut(), 43);
    check_pattern(
        map.bytes(),
        43,
        "NVIDIA mapping rewritten after rmmod fakegpu",
    )?;
    drop(map);
    let after = nv_rm::debugfs("sys_used", "sys_used")?;
    sh(&crate::env("FAKEGPU_INSMOD")?)?;
    ensure(gone, || format!("{CTL} still present after rmmod"))?;
    ensure(after == before, || {
        format!("nvsim sys_used {after} after the unmap, {before} before")
    })
}
