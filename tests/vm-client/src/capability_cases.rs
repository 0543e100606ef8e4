//! Driver capabilities per cgroup (the entry's `capabilities` file) and the operator's
//! opt-in that lets a monitoring agent's cgroup see every process on its GPUs (`processes`).

use crate::cgroup_util::{move_to, write_file, TestCgroup};
use crate::meter_cases::{per_gpu, Session, DEVICE, SUBDEVICE};
use crate::{ensure, Case};
use abi::nv_rm::ctrl;
use abi::nv_status::{NV_ERR_INSUFFICIENT_PERMISSIONS, NV_OK};
use nv_client::rm;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// Every capability case.
pub const ALL: &[Case] = &[
    (
        "capabilities_gate_engines_and_monitoring",
        capabilities_gate_engines_and_monitoring,
    ),
    (
        "processes_all_lets_a_monitor_see_every_tenant",
        processes_all_lets_a_monitor_see_every_tenant,
    ),
];

const TSG: u32 = 0xa06c;
const VIDMEM: u32 = 0x40;
/// NVB8B0_VIDEO_DECODER, Hopper's: nvsim has no video engine and refuses it, with a status
/// of its own, not fakegpu's NV_ERR_INSUFFICIENT_PERMISSIONS.
const VIDEO_DECODER: u32 = 0xb8b0;

/// GET_PIDS of class 0x40 (video memory) on the session's GPU: the status and the pids.
fn get_pids(s: &Session) -> (u32, Vec<u32>) {
    let mut pids = vec![0u8; 12 + 4 * ctrl::GET_PIDS_MAX];
    pids[4..8].copy_from_slice(&VIDMEM.to_le_bytes());
    let status = rm::control(
        &s.ctl,
        s.client,
        SUBDEVICE,
        ctrl::NV2080_CTRL_CMD_GPU_GET_PIDS,
        &mut pids,
    )
    .status();
    let word = |at: usize| u32::from_le_bytes([pids[at], pids[at + 1], pids[at + 2], pids[at + 3]]);
    let n = (word(8) as usize).min(ctrl::GET_PIDS_MAX);
    (status, (0..n).map(|i| word(12 + 4 * i)).collect())
}

/// Each capability set gets what it names, live: utility alone lists processes but makes
/// no engine object or memory; compute makes them but lists nothing; video makes a channel
/// group and a video object but no compute object; a parent's set bounds its children's.
fn capabilities_gate_engines_and_monitoring() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-caps")?;
    let shown = cg.get("capabilities")?;
    ensure(shown == "compute,utility\n", || {
        format!("a new entry's capabilities read {shown:?}")
    })?;
    for bad in ["display", "compute;utility", "COMPUTE", "none,video"] {
        ensure(
            write_file(&cg.entry_file("capabilities"), bad) == Err(libc::EINVAL),
            || format!("capabilities {bad:?} was not refused with EINVAL"),
        )?;
    }
    ensure(cg.get("capabilities")? == shown, || {
        "a refused write changed the capabilities".into()
    })?;
    cg.set("capabilities", "utility")?;
    cg.enter()?;
    let s = Session::open(0)?;
    let tsg = |handle: u32| rm::alloc(&s.ctl, s.client, DEVICE, handle, TSG, None).status();
    let memory =
        |handle: u32| rm::alloc_memory(&s.ctl, s.client, DEVICE, handle, VIDMEM, 1 << 20).status();
    let (pids_status, _) = get_pids(&s);
    let got = (tsg(0x300), memory(0x400), pids_status);
    ensure(
        got == (
            NV_ERR_INSUFFICIENT_PERMISSIONS,
            NV_ERR_INSUFFICIENT_PERMISSIONS,
            NV_OK,
        ),
        || format!("utility: channel group, memory, GET_PIDS gave {got:x?}"),
    )?;
    ensure(per_gpu(&cg, "channel_groups.current", 0)? == 0, || {
        "a refused channel group was counted".into()
    })?;
    // Live: the next calls see the new set.
    cg.set("capabilities", "compute\n")?;
    let (pids_status, _) = get_pids(&s);
    let got = (tsg(0x301), memory(0x401), pids_status);
    ensure(
        got == (NV_OK, NV_OK, NV_ERR_INSUFFICIENT_PERMISSIONS),
        || format!("compute: channel group, memory, GET_PIDS gave {got:x?}"),
    )?;
    let video = rm::alloc(&s.ctl, s.client, DEVICE, 0x500, VIDEO_DECODER, None).status();
    ensure(video == NV_ERR_INSUFFICIENT_PERMISSIONS, || {
        format!("compute: a video decoder gave {video:#x}")
    })?;
    cg.set("capabilities", "video")?;
    let video = rm::alloc(&s.ctl, s.client, DEVICE, 0x501, VIDEO_DECODER, None).status();
    let compute = rm::alloc(&s.ctl, s.client, DEVICE, 0x502, 0xcbc0, None).status();
    let group = tsg(0x302);
    println!(
        "video: channel group {group:#x}, video decoder {video:#x} (nvsim's), compute {compute:#x}"
    );
    ensure(
        group == NV_OK
            && video != NV_ERR_INSUFFICIENT_PERMISSIONS
            && video != NV_OK
            && compute == NV_ERR_INSUFFICIENT_PERMISSIONS,
        || {
            format!(
                "video: channel group, video decoder (want nvsim's refusal), compute object \
                 gave {:x?}",
                (group, video, compute)
            )
        },
    )?;
    drop(s);
    // A child with every capability under a parent with compute only: compute only.
    cg.set("capabilities", "compute")?;
    let child = TestCgroup::create("/fakegpu-caps/all")?;
    child.set("capabilities", "all")?;
    ensure(
        child.get("capabilities")? == "compute,utility,graphics,video\n",
        || "all reads back as the four".into(),
    )?;
    child.enter()?;
    let s = Session::open(0)?;
    let (pids_status, _) = get_pids(&s);
    ensure(pids_status == NV_ERR_INSUFFICIENT_PERMISSIONS, || {
        format!("GET_PIDS under a compute-only parent gave {pids_status:#x}")
    })?;
    drop(s);
    move_to("/")?;
    drop(child);
    let log = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&log.stdout);
    ensure(log.contains("needs a capability the cgroup lacks"), || {
        "no refusal was logged".into()
    })
}

/// A tenant in its own cgroup holds video memory; a monitor in another cgroup lists the
/// GPU's processes: nothing of the tenant's by default, the tenant once the operator wrote
/// `all` to the monitor's `processes` file.
fn processes_all_lets_a_monitor_see_every_tenant() -> Result<(), String> {
    let tenant = TestCgroup::create("/fakegpu-tenant")?;
    let monitor = TestCgroup::create("/fakegpu-monitor")?;
    ensure(monitor.get("processes")? == "own\n", || {
        "processes should read own by default".into()
    })?;
    ensure(
        write_file(&monitor.entry_file("processes"), "everyone") == Err(libc::EINVAL),
        || "processes everyone was not refused".into(),
    )?;
    let mut fds = [0; 2];
    // SAFETY: pipe writes two descriptors into `fds`.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err("pipe failed".into());
    }
    // SAFETY: both descriptors are new and ours.
    let (mut ready_rx, ready_tx) = unsafe {
        (
            std::fs::File::from(OwnedFd::from_raw_fd(fds[0])),
            std::fs::File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    };
    let tenant_path = tenant.path.clone();
    // SAFETY: the child only makes syscalls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut tx = ready_tx;
        let held = move_to(&tenant_path)
            .and_then(|()| Session::open(0))
            .and_then(|s| {
                let status =
                    rm::alloc_memory(&s.ctl, s.client, DEVICE, 0x400, VIDMEM, 1 << 20).status();
                (status == NV_OK)
                    .then_some(s)
                    .ok_or(format!("alloc {status:#x}"))
            });
        let _ = tx.write_all(if held.is_ok() { b"1" } else { b"0" });
        std::thread::sleep(std::time::Duration::from_secs(30));
        // SAFETY: leaves the child without running the parent's destructors.
        unsafe { libc::_exit(0) }
    }
    drop(ready_tx);
    let mut ready = [0u8; 1];
    let result = (|| {
        ready_rx
            .read_exact(&mut ready)
            .map_err(|e| format!("tenant: {e}"))?;
        ensure(ready == *b"1", || "the tenant could not hold memory".into())?;
        monitor.enter()?;
        let s = Session::open(0)?;
        let (status, own) = get_pids(&s);
        ensure(status == NV_OK && !own.contains(&(pid as u32)), || {
            format!("processes=own: GET_PIDS {status:#x} {own:?} lists the tenant {pid}")
        })?;
        monitor.set("processes", "all")?;
        let (status, all) = get_pids(&s);
        println!(
            "the monitor's GET_PIDS: {own:?} with processes=own, {all:?} with all; tenant {pid}"
        );
        ensure(status == NV_OK && all.contains(&(pid as u32)), || {
            format!("processes=all: GET_PIDS {status:#x} {all:?} misses the tenant {pid}")
        })
    })();
    // SAFETY: our child.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    move_to("/")?;
    result
}
