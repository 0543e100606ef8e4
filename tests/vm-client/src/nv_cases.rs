//! Test cases against nvsim, the simulated NVIDIA driver: the frontend escapes and the
//! driver's checks they reproduce. Nodes come from the environment: `NV_CTL`
//! (/dev/nvidiactl), `NV_GPU0` (/dev/nvidia0), `NV_NODE_DIR` (where a case may mknod), and
//! `FAKE_NV_CTL` (a fakegpu front of nvidiactl).

use crate::sys::{ioctl, ioctl_raw, open_rw};
use crate::{ensure, env, Case};
use abi::ioc::iowr;
use abi::nv_frontend::*;
use abi::pod::{read_pod, Pod};
use nv_client::rm::{self as nv_rm, debugfs};
use std::os::fd::{AsRawFd, OwnedFd};

/// The nvsim cases that do not run again through fakegpu's NVIDIA nodes, and why.
pub const DIRECT_ONLY: &[(&str, &str)] = &[
    (
        "nvsim_size_rules",
        "it sets SYS_PARAMS, a driver-wide setting fakegpu refuses (proxy_filter_refusals)",
    ),
    (
        "nvsim_sys_params_set_once",
        "fakegpu refuses SYS_PARAMS (proxy_filter_refusals)",
    ),
];

/// Every nvsim case, in the order the suite runs them.
pub const ALL: &[Case] = &[
    (
        "nvsim_card_info_lists_the_gpus",
        nvsim_card_info_lists_the_gpus,
    ),
    ("nvsim_version_check", nvsim_version_check),
    ("nvsim_xfer_wraps_escapes", nvsim_xfer_wraps_escapes),
    (
        "nvsim_ctl_only_escapes_refuse_gpu_nodes",
        nvsim_ctl_only_escapes_refuse_gpu_nodes,
    ),
    ("nvsim_size_rules", nvsim_size_rules),
    ("nvsim_attach_gpus_once", nvsim_attach_gpus_once),
    ("nvsim_sys_params_set_once", nvsim_sys_params_set_once),
    (
        "nvsim_absent_gpu_minor_is_enodev",
        nvsim_absent_gpu_minor_is_enodev,
    ),
    (
        "fakegpu_generic_front_of_nvidiactl",
        fakegpu_generic_front_of_nvidiactl,
    ),
    (
        "nvsim_rm_alloc_memory_and_free",
        nvsim_rm_alloc_memory_and_free,
    ),
    (
        "nvsim_device_alloc_needs_an_open_gpu_file",
        nvsim_device_alloc_needs_an_open_gpu_file,
    ),
    (
        "nvsim_exhaustion_is_no_memory",
        nvsim_exhaustion_is_no_memory,
    ),
    ("nvsim_rm_rules", nvsim_rm_rules),
    (
        "nvsim_close_and_exit_free_everything",
        nvsim_close_and_exit_free_everything,
    ),
    (
        "nvsim_register_fd_accepts_only_nvidiactl",
        nvsim_register_fd_accepts_only_nvidiactl,
    ),
    ("nvsim_uvm_startup_and_checks", nvsim_uvm_startup_and_checks),
    ("nvsim_uvm_external_mappings", nvsim_uvm_external_mappings),
    (
        "nvsim_map_system_memory_once_per_file",
        nvsim_map_system_memory_once_per_file,
    ),
    (
        "nvsim_map_video_memory_backed_on_first_use",
        nvsim_map_video_memory_backed_on_first_use,
    ),
    (
        "nvsim_channel_ids_and_engines",
        nvsim_channel_ids_and_engines,
    ),
    (
        "nvsim_channels_run_their_work",
        nvsim_channels_run_their_work,
    ),
    (
        "nvsim_rm_escapes_are_ctl_only",
        nvsim_rm_escapes_are_ctl_only,
    ),
    (
        "nvsim_fault_injection_fails_the_next_calls",
        nvsim_fault_injection_fails_the_next_calls,
    ),
    (
        "nvsim_controls_and_their_checks",
        nvsim_controls_and_their_checks,
    ),
    (
        "nvsim_vid_heap_alloc_free_info",
        nvsim_vid_heap_alloc_free_info,
    ),
    (
        "nvsim_dup_object_never_charges_twice",
        nvsim_dup_object_never_charges_twice,
    ),
    ("nvsim_os_events_and_poll", nvsim_os_events_and_poll),
    ("nvsim_get_pids_and_pid_info", nvsim_get_pids_and_pid_info),
    (
        "nvsim_alloc_memory_on_a_linked_device_file",
        nvsim_alloc_memory_on_a_linked_device_file,
    ),
    (
        "nvsim_privileged_classes_need_cap_sys_admin",
        nvsim_privileged_classes_need_cap_sys_admin,
    ),
];

const EINVAL: i32 = libc::EINVAL;

/// Whether the case runs through fakegpu's NVIDIA nodes (`NV_THROUGH_FAKEGPU=1`).
fn through_fakegpu() -> bool {
    std::env::var("NV_THROUGH_FAKEGPU").is_ok_and(|v| v == "1")
}

pub(crate) fn open(var: &str) -> Result<OwnedFd, String> {
    let path = env(var)?;
    open_rw(&path).map_err(|e| format!("open {path}: {e}"))
}

/// `_IOWR('F', nr, size)` with an explicit size.
fn nv_cmd(nr: u8, size: usize) -> u32 {
    abi::ioc::ioc(
        abi::ioc::IOC_READ | abi::ioc::IOC_WRITE,
        NV_IOCTL_MAGIC,
        nr,
        size,
    )
}

/// An escape on a byte buffer of any size: (ioctl result, buffer after the call).
pub(crate) fn escape_bytes(fd: &OwnedFd, nr: u8, buf: &mut [u8]) -> Result<i32, i32> {
    ioctl_raw(
        fd.as_raw_fd(),
        nv_cmd(nr, buf.len()),
        buf.as_mut_ptr() as usize,
    )
}

/// An escape with its exact parameter struct.
fn escape<T: Pod>(fd: &OwnedFd, nr: u8, params: &mut T) -> Result<i32, i32> {
    ioctl(fd, nv_cmd(nr, std::mem::size_of::<T>()), params)
}

fn card_infos(buf: &[u8]) -> Vec<NvIoctlCardInfo> {
    buf.chunks_exact(72).filter_map(read_pod).collect()
}

fn version_params(cmd: u32, version: &str) -> NvIoctlRmApiVersion {
    let mut p = NvIoctlRmApiVersion {
        cmd,
        ..Default::default()
    };
    let n = version.len().min(63);
    p.version_string[..n].copy_from_slice(&version.as_bytes()[..n]);
    p
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn nvsim_card_info_lists_the_gpus() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let mut buf = vec![0xaau8; 72 * 32];
    escape_bytes(&ctl, esc::CARD_INFO, &mut buf).map_err(|e| format!("CARD_INFO: errno {e}"))?;
    let cards = card_infos(&buf);
    let valid: Vec<_> = cards.iter().filter(|c| c.valid != 0).collect();
    for c in &valid {
        println!(
            "card: minor {} gpu_id {:#x} pci {:04x}:{:02x}:{:02x} {:04x}:{:04x} fb {} MiB",
            c.minor_number,
            c.gpu_id,
            c.pci_info.domain,
            c.pci_info.bus,
            c.pci_info.slot,
            c.pci_info.vendor_id,
            c.pci_info.device_id,
            c.fb_size >> 20
        );
    }
    ensure(valid.len() == 2, || {
        format!("{} valid cards, want 2 (gpus=2)", valid.len())
    })?;
    for (i, c) in valid.iter().enumerate() {
        ensure(c.minor_number == i as u32, || {
            format!("card {i} has minor {}", c.minor_number)
        })?;
        ensure(c.pci_info.vendor_id == 0x10de, || {
            "vendor is not NVIDIA".into()
        })?;
        ensure(c.gpu_id == ((i as u32 + 1) << 8), || {
            format!("gpu_id {:#x}", c.gpu_id)
        })?;
    }
    ensure(
        cards[2..].iter().all(|c| *c == NvIoctlCardInfo::default()),
        || "entries past the GPUs not zeroed".into(),
    )?;
    // Room for fewer records than GPUs: EINVAL, and the buffer comes back zeroed.
    let mut small = vec![0xaau8; 72];
    let r = escape_bytes(&ctl, esc::CARD_INFO, &mut small);
    ensure(r == Err(EINVAL), || {
        format!("CARD_INFO with 1 entry gave {r:?}, want EINVAL")
    })?;
    ensure(small.iter().all(|&b| b == 0), || {
        "buffer not zeroed on EINVAL".into()
    })
}

fn nvsim_version_check() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let mut p = version_params(NV_RM_API_VERSION_CMD_STRICT, "535.309.01");
    let r = escape(&ctl, esc::CHECK_VERSION_STR, &mut p);
    println!("strict 535.309.01: {r:?}, reply {}", p.reply);
    ensure(
        r.is_ok() && p.reply == NV_RM_API_VERSION_REPLY_RECOGNIZED,
        || format!("matching version refused: {r:?}"),
    )?;
    let mut p = version_params(NV_RM_API_VERSION_CMD_STRICT, "550.54.14");
    let r = escape(&ctl, esc::CHECK_VERSION_STR, &mut p);
    let told = c_string(&p.version_string);
    println!(
        "strict 550.54.14: {r:?}, reply {}, driver says {told}",
        p.reply
    );
    ensure(r == Err(EINVAL), || {
        format!("mismatching version gave {r:?}, want EINVAL")
    })?;
    // The 535 driver answers RECOGNIZED even when it refuses.
    ensure(p.reply == NV_RM_API_VERSION_REPLY_RECOGNIZED, || {
        format!("reply {}", p.reply)
    })?;
    ensure(told == "535.309.01", || {
        format!("driver version written back: {told:?}")
    })?;
    let mut p = version_params(NV_RM_API_VERSION_CMD_QUERY, "");
    escape(&ctl, esc::CHECK_VERSION_STR, &mut p).map_err(|e| format!("query: errno {e}"))?;
    ensure(c_string(&p.version_string) == "535.309.01", || {
        "query did not report the version".into()
    })
}

fn nvsim_xfer_wraps_escapes() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let mut p = version_params(NV_RM_API_VERSION_CMD_QUERY, "");
    let mut x = NvIoctlXfer {
        cmd: esc::CHECK_VERSION_STR as u32,
        size: std::mem::size_of::<NvIoctlRmApiVersion>() as u32,
        ptr: &mut p as *mut _ as u64,
    };
    escape(&ctl, esc::IOCTL_XFER_CMD, &mut x)
        .map_err(|e| format!("XFER(CHECK_VERSION_STR): errno {e}"))?;
    ensure(c_string(&p.version_string) == "535.309.01", || {
        "inner call not executed".into()
    })?;
    // Inner size above 16384: EINVAL.
    let mut big = NvIoctlXfer {
        size: NV_XFER_MAX_SIZE + 1,
        ..x
    };
    let r = escape(&ctl, esc::IOCTL_XFER_CMD, &mut big);
    ensure(r == Err(EINVAL), || format!("oversized XFER gave {r:?}"))?;
    // Outer size other than 16: EINVAL before anything is read.
    let r = ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(esc::IOCTL_XFER_CMD, 8),
        &mut x as *mut _ as usize,
    );
    ensure(r == Err(EINVAL), || format!("XFER of size 8 gave {r:?}"))?;
    // Inner pointer unmapped: EFAULT.
    let mut bad = NvIoctlXfer { ptr: 0x10, ..x };
    let r = escape(&ctl, esc::IOCTL_XFER_CMD, &mut bad);
    ensure(r == Err(libc::EFAULT), || {
        format!("XFER to an unmapped pointer gave {r:?}")
    })
}

fn nvsim_ctl_only_escapes_refuse_gpu_nodes() -> Result<(), String> {
    let gpu = open("NV_GPU0")?;
    let mut buf = vec![0u8; 72 * 4];
    let r = escape_bytes(&gpu, esc::CARD_INFO, &mut buf);
    ensure(r == Err(EINVAL), || {
        format!("CARD_INFO on nvidia0 gave {r:?}")
    })?;
    let mut p = version_params(NV_RM_API_VERSION_CMD_QUERY, "");
    let r = escape(&gpu, esc::CHECK_VERSION_STR, &mut p);
    ensure(r == Err(EINVAL), || {
        format!("CHECK_VERSION_STR on nvidia0 gave {r:?}")
    })?;
    let mut ids = [0x100u32];
    let r = ioctl_raw(
        gpu.as_raw_fd(),
        nv_cmd(esc::ATTACH_GPUS_TO_FD, 4),
        ids.as_mut_ptr() as usize,
    );
    ensure(r == Err(EINVAL), || {
        format!("ATTACH_GPUS_TO_FD on nvidia0 gave {r:?}")
    })?;
    // And the device-only one refuses the ctl node.
    let ctl = open("NV_CTL")?;
    let mut q = NvIoctlQueryDeviceIntr::default();
    let r = escape(&ctl, esc::QUERY_DEVICE_INTR, &mut q);
    ensure(r == Err(EINVAL), || {
        format!("QUERY_DEVICE_INTR on nvidiactl gave {r:?}")
    })?;
    escape(&gpu, esc::QUERY_DEVICE_INTR, &mut q)
        .map_err(|e| format!("QUERY_DEVICE_INTR on nvidia0: errno {e}"))?;
    Ok(())
}

fn nvsim_size_rules() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let mut sixteen = [0u8; 16];
    let r = escape_bytes(&ctl, esc::SYS_PARAMS, &mut sixteen);
    ensure(r == Err(EINVAL), || {
        format!("SYS_PARAMS of 16 bytes gave {r:?}")
    })?;
    let mut short = [0u8; 40];
    let r = escape_bytes(&ctl, esc::CHECK_VERSION_STR, &mut short);
    ensure(r == Err(EINVAL), || {
        format!("CHECK_VERSION_STR of 40 bytes gave {r:?}")
    })?;
    let r = ioctl_raw(
        ctl.as_raw_fd(),
        iowr::<NvIoctlRmApiVersion>(NV_IOCTL_MAGIC, esc::CHECK_VERSION_STR),
        0x10,
    );
    ensure(r == Err(libc::EFAULT), || {
        format!("CHECK_VERSION_STR at an unmapped pointer gave {r:?}")
    })
}

fn nvsim_attach_gpus_once() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let mut bad = [0x100u32, 0x700];
    let r = ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(esc::ATTACH_GPUS_TO_FD, 8),
        bad.as_mut_ptr() as usize,
    );
    ensure(r == Err(EINVAL), || {
        format!("attaching an unknown GPU id gave {r:?}")
    })?;
    let mut odd = [0u8; 6];
    let r = escape_bytes(&ctl, esc::ATTACH_GPUS_TO_FD, &mut odd);
    ensure(r == Err(EINVAL), || format!("6-byte ATTACH gave {r:?}"))?;
    let mut ids = [0x100u32, 0x200];
    ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(esc::ATTACH_GPUS_TO_FD, 8),
        ids.as_mut_ptr() as usize,
    )
    .map_err(|e| format!("attaching both GPUs: errno {e}"))?;
    let r = ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(esc::ATTACH_GPUS_TO_FD, 8),
        ids.as_mut_ptr() as usize,
    );
    ensure(r == Err(EINVAL), || {
        format!("a second ATTACH on one file gave {r:?}")
    })?;
    // A new file may attach again.
    let other = open("NV_CTL")?;
    ioctl_raw(
        other.as_raw_fd(),
        nv_cmd(esc::ATTACH_GPUS_TO_FD, 8),
        ids.as_mut_ptr() as usize,
    )
    .map_err(|e| format!("ATTACH on a second file: errno {e}"))?;
    Ok(())
}

fn nvsim_sys_params_set_once() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let mut p = NvIoctlSysParams {
        memblock_size: 128 << 20,
    };
    escape(&ctl, esc::SYS_PARAMS, &mut p).map_err(|e| format!("SYS_PARAMS: errno {e}"))?;
    escape(&ctl, esc::SYS_PARAMS, &mut p)
        .map_err(|e| format!("same SYS_PARAMS again: errno {e}"))?;
    let mut other = NvIoctlSysParams {
        memblock_size: 256 << 20,
    };
    let r = escape(&ctl, esc::SYS_PARAMS, &mut other);
    ensure(r == Err(libc::EBUSY), || {
        format!("a different memblock size gave {r:?}, want EBUSY")
    })
}

fn nvsim_absent_gpu_minor_is_enodev() -> Result<(), String> {
    let path = format!("{}/nvidia9", env("NV_NODE_DIR")?);
    let _ = std::fs::remove_file(&path);
    let c = std::ffi::CString::new(path.clone()).map_err(|e| e.to_string())?;
    // SAFETY: valid path.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(195, 9)) } != 0 {
        return Err(format!("mknod {path}: errno {}", crate::sys::errno()));
    }
    let r = open_rw(&path).map(drop).map_err(|e| e.raw_os_error());
    let _ = std::fs::remove_file(&path);
    ensure(r == Err(Some(libc::ENODEV)), || {
        format!("open of minor 9 gave {r:?}, want ENODEV")
    })
}

/// fakegpu's generic front forwards nvsim's escapes unchanged (the NVIDIA-aware fronts come
/// later; this proves the pass-through against a second real driver).
fn fakegpu_generic_front_of_nvidiactl() -> Result<(), String> {
    let fake = open("FAKE_NV_CTL")?;
    let mut buf = vec![0u8; 72 * 4];
    escape_bytes(&fake, esc::CARD_INFO, &mut buf)
        .map_err(|e| format!("CARD_INFO through fakegpu: errno {e}"))?;
    let valid = card_infos(&buf).iter().filter(|c| c.valid != 0).count();
    ensure(valid == 2, || format!("{valid} cards through fakegpu"))?;
    let mut p = version_params(NV_RM_API_VERSION_CMD_STRICT, "1.0");
    let r = escape(&fake, esc::CHECK_VERSION_STR, &mut p);
    ensure(
        r == Err(EINVAL) && c_string(&p.version_string) == "535.309.01",
        || format!("version mismatch through fakegpu gave {r:?}"),
    )
}

const MIB: u64 = 1 << 20;

/// A client with device 0 (handle 0xd0) and its subdevice (0x5d0); `gpu0` must stay open
/// for the device allocation, as with the real driver.
pub(crate) fn client_with_device(ctl: &OwnedFd) -> Result<u32, String> {
    let client = nv_rm::alloc_client(ctl)
        .ok()
        .map_err(|e| format!("client: {e}"))?;
    nv_rm::alloc_device(ctl, client, 0xd0, 0)
        .ok()
        .map_err(|e| format!("device: {e}"))?;
    nv_rm::alloc(ctl, client, 0xd0, 0x5d0, 0x2080, None)
        .ok()
        .map_err(|e| format!("subdevice: {e}"))?;
    Ok(client)
}

fn nvsim_rm_alloc_memory_and_free() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    ensure(client >= 0xc1d0_0000, || {
        format!("client handle {client:#x} not RM-generated")
    })?;
    let before = debugfs("gpu0", "fb_used")?;
    let (total, free0) =
        nv_rm::fb_total_free_kib(&ctl, client, 0x5d0, &abi::nv_family::R535).ok()?;
    let size = nv_rm::alloc_memory(&ctl, client, 0xd0, 0x100, 0x40, 3 * MIB + 1).ok()?;
    ensure(size == 3 * MIB + 4096, || {
        format!("size written back {size}, want rounded to 4 KiB")
    })?;
    let used = debugfs("gpu0", "fb_used")?;
    ensure(used == before + size, || {
        format!("fb_used {used}, want {}", before + size)
    })?;
    let (_, free1) = nv_rm::fb_total_free_kib(&ctl, client, 0x5d0, &abi::nv_family::R535).ok()?;
    let v1 = nv_rm::fb_total_free_kib_v1(&ctl, client, 0x5d0).ok()?;
    ensure(v1 == (total, free1), || {
        format!("FB_GET_INFO {v1:?}, V2 {:?}", (total, free1))
    })?;
    println!("FB_GET_INFO_V2: total {total} KiB, free {free0} -> {free1} KiB");
    ensure(u64::from(total) == 4096 * 1024, || {
        format!("total {total} KiB, want 4 GiB")
    })?;
    ensure(u64::from(free0 - free1) * 1024 == size, || {
        "free did not drop by the allocation".into()
    })?;
    let sys = nv_rm::alloc_memory(&ctl, client, 0xd0, 0x101, 0x3e, MIB).ok()?;
    ensure(debugfs("sys_used", "sys_used")? == sys, || {
        "system pool not charged".into()
    })?;
    ensure(debugfs("gpu0", "fb_used")? == used, || {
        "system memory charged to the framebuffer".into()
    })?;
    // Pinned user memory (0x71, NV_OS_DESC_MEMORY_ALLOCATION_PARAMS): the system pool.
    let user = vec![0u8; 65536];
    let mut osd = [0u8; 40];
    osd[16..24].copy_from_slice(&(user.as_ptr() as u64).to_le_bytes());
    osd[24..32].copy_from_slice(&65535u64.to_le_bytes());
    let sys_before = debugfs("sys_used", "sys_used")?;
    nv_rm::alloc(&ctl, client, 0xd0, 0x102, 0x71, Some(&mut osd)).ok()?;
    ensure(
        debugfs("sys_used", "sys_used")? == sys_before + 65536,
        || "0x71 not charged to the system pool".into(),
    )?;
    nv_rm::free(&ctl, client, 0xd0, 0x102).ok()?;
    ensure(debugfs("sys_used", "sys_used")? == sys_before, || {
        "0x71 not uncharged".into()
    })?;
    nv_rm::free(&ctl, client, 0xd0, 0x100).ok()?;
    ensure(debugfs("gpu0", "fb_used")? == before, || {
        "RM_FREE did not uncharge".into()
    })?;
    // Freeing the client frees the rest (device, subdevice, system memory).
    nv_rm::free(&ctl, client, client, client).ok()?;
    ensure(debugfs("sys_used", "sys_used")? == 0, || {
        "freeing the client left system memory".into()
    })
}

fn nvsim_device_alloc_needs_an_open_gpu_file() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let client = nv_rm::alloc_client(&ctl).ok()?;
    let r = nv_rm::alloc_device(&ctl, client, 0xd0, 0);
    println!("device alloc with no GPU file open: {r:?}");
    ensure(r.status() == 0x1b, || {
        format!("got {r:?}, want NV_ERR_INSUFFICIENT_PERMISSIONS (0x1b)")
    })?;
    // Holding nvidia0 open makes it pass, but only for GPU 0.
    let _gpu = open("NV_GPU0")?;
    nv_rm::alloc_device(&ctl, client, 0xd0, 0).ok()?;
    let r = nv_rm::alloc_device(&ctl, client, 0xd1, 1);
    ensure(r.status() == 0x1b, || {
        format!("GPU 1 without nvidia1 open: {r:?}")
    })
}

fn nvsim_exhaustion_is_no_memory() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let used = debugfs("gpu0", "fb_used")?;
    let room = 4096 * MIB - used;
    let r = nv_rm::alloc_memory(&ctl, client, 0xd0, 0x100, 0x40, room + 4096);
    println!(
        "{} bytes on a 4 GiB GPU with {used} bytes used: {r:?}",
        room + 4096
    );
    ensure(r.status() == 0x51, || {
        format!("got {r:?}, want NV_ERR_NO_MEMORY (0x51)")
    })?;
    ensure(debugfs("gpu0", "fb_used")? == used, || {
        "a refused allocation was charged".into()
    })?;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x101, 0x40, room).ok()?;
    let r = nv_rm::alloc_memory(&ctl, client, 0xd0, 0x102, 0x40, 4096);
    ensure(r.status() == 0x51, || {
        format!("one more page on a full GPU: {r:?}")
    })
}

fn nvsim_rm_rules() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let dup = nv_rm::alloc(&ctl, client, 0xd0, 0x5d0, 0x2080, None);
    ensure(dup.status() == 0x19, || {
        format!("duplicate handle: {dup:?}")
    })?;
    let orphan = nv_rm::alloc(&ctl, client, 0x999, 0x1, 0x2080, None);
    ensure(orphan.status() == 0x36, || {
        format!("missing parent: {orphan:?}")
    })?;
    let class = nv_rm::alloc(&ctl, client, 0xd0, 0x2, 0x1234, None);
    ensure(class.status() == 0x22, || {
        format!("unknown class: {class:?}")
    })?;
    let missing = nv_rm::free(&ctl, client, 0xd0, 0x777);
    ensure(missing.status() == 0x33, || {
        format!("freeing a missing handle: {missing:?}")
    })?;
    // A client belongs to the file it was made on.
    let other = open("NV_CTL")?;
    let foreign = nv_rm::free(&other, client, client, client);
    ensure(foreign.status() == 0x23, || {
        format!("freeing another file's client: {foreign:?}")
    })?;
    // Wrong parameter sizes fail the ioctl itself.
    let mut forty = [0u8; 40];
    let r = ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(abi::nv_rm::esc::RM_ALLOC, 40),
        forty.as_mut_ptr() as usize,
    );
    ensure(r == Err(EINVAL), || format!("40-byte RM_ALLOC gave {r:?}"))?;
    let mut eight = [0u8; 8];
    let r = ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(abi::nv_rm::esc::RM_FREE, 8),
        eight.as_mut_ptr() as usize,
    );
    ensure(r == Err(EINVAL), || format!("8-byte RM_FREE gave {r:?}"))?;
    // Memory parameters at an unmapped address: the RM's invalid-pointer status.
    let mut p = abi::nv_rm::Nvos21 {
        h_root: client,
        h_object_parent: 0xd0,
        h_object_new: 0x3,
        h_class: 0x40,
        p_alloc_parms: 0x10,
        ..Default::default()
    };
    ioctl(
        &ctl,
        iowr::<abi::nv_rm::Nvos21>(NV_IOCTL_MAGIC, abi::nv_rm::esc::RM_ALLOC),
        &mut p,
    )
    .map_err(|e| format!("RM_ALLOC with bad params pointer: errno {e}"))?;
    ensure(p.status == 0x3d, || {
        format!(
            "bad params pointer: status {:#x}, want NV_ERR_INVALID_POINTER",
            p.status
        )
    })
}

/// A process that allocates and exits without freeing leaves nothing behind; so does one
/// that is killed while holding its memory.
fn nvsim_close_and_exit_free_everything() -> Result<(), String> {
    let before = || -> Result<(u64, u64, u64), String> {
        Ok((
            debugfs("gpu0", "fb_used")?,
            debugfs("sys_used", "sys_used")?,
            debugfs("objects", "objects")?,
        ))
    };
    let start = before()?;
    for kill in [false, true] {
        let mut pipe = [0i32; 2];
        // SAFETY: `pipe` has room for two fds.
        if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
            return Err("pipe failed".into());
        }
        // SAFETY: the child only makes syscalls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let run = || -> Result<(), String> {
                let ctl = open("NV_CTL")?;
                let _gpu = open("NV_GPU0")?;
                let client = client_with_device(&ctl)?;
                nv_rm::alloc_memory(&ctl, client, 0xd0, 0x100, 0x40, 64 * MIB).ok()?;
                nv_rm::alloc_memory(&ctl, client, 0xd0, 0x101, 0x3e, MIB).ok()?;
                // Tell the parent the memory is held, then wait to be killed or leave.
                // SAFETY: writing one byte from a valid buffer to our pipe.
                unsafe { libc::write(pipe[1], b"x".as_ptr().cast(), 1) };
                if kill {
                    // SAFETY: waits for the parent's SIGKILL.
                    unsafe { libc::pause() };
                }
                Ok(())
            };
            let code = match run() {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("child: {e}");
                    1
                }
            };
            // SAFETY: leave without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        // SAFETY: closing our copy of the write end; reading one byte into a valid buffer.
        let got = unsafe {
            libc::close(pipe[1]);
            let mut b = [0u8; 1];
            let n = libc::read(pipe[0], b.as_mut_ptr().cast(), 1);
            libc::close(pipe[0]);
            n
        };
        ensure(got == 1, || "the child's allocations failed".into())?;
        if kill {
            let held = debugfs("gpu0", "fb_used")?;
            ensure(held == start.0 + 64 * MIB, || {
                format!("child holds fb_used {held}")
            })?;
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let after = before()?;
        println!(
            "after the child ({}): fb_used {}, sys_used {}, objects {}",
            if kill { "killed" } else { "exited" },
            after.0,
            after.1,
            after.2
        );
        ensure(after == start, || {
            format!("left behind: {after:?}, want {start:?}")
        })?;
    }
    Ok(())
}

pub(crate) fn register_fd(on: &OwnedFd, ctl_fd: i32) -> Result<i32, i32> {
    let mut p = NvIoctlRegisterFd { ctl_fd };
    escape(on, esc::REGISTER_FD, &mut p)
}

/// REGISTER_FD resolves the fd in the caller's table and accepts only an nvidiactl file:
/// the check a proxy must pass without ever handing the real file to the caller.
fn nvsim_register_fd_accepts_only_nvidiactl() -> Result<(), String> {
    let gpu = open("NV_GPU0")?;
    let ctl = open("NV_CTL")?;
    let mut pipe = [0i32; 2];
    // SAFETY: `pipe` has room for two fds.
    if unsafe { libc::pipe(pipe.as_mut_ptr()) } != 0 {
        return Err("pipe failed".into());
    }
    let null = open_rw("/dev/null").map_err(|e| e.to_string())?;
    // Directly, fakegpu's nvidiactl is foreign to the driver; through fakegpu, the real one is.
    let (other_ctl_name, other_ctl) = if through_fakegpu() {
        (
            "the real nvidiactl",
            open_rw("/dev/nvidiactl").map_err(|e| e.to_string())?,
        )
    } else {
        ("fakegpu's front of nvidiactl", open("FAKE_NV_CTL")?)
    };
    let gpu1 = open("NV_GPU1")?;
    let refused: [(&str, i32); 5] = [
        ("a pipe", pipe[0]),
        ("/dev/null", null.as_raw_fd()),
        (other_ctl_name, other_ctl.as_raw_fd()),
        ("a GPU node", gpu1.as_raw_fd()),
        ("a closed fd", 999),
    ];
    for (what, fd) in refused {
        let r = register_fd(&gpu, fd);
        println!("REGISTER_FD with {what}: {r:?}");
        ensure(r == Err(EINVAL), || {
            format!("REGISTER_FD accepted {what}: {r:?}")
        })?;
    }
    // SAFETY: closing the pipe we made.
    unsafe {
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
    let r = register_fd(&ctl, ctl.as_raw_fd());
    ensure(r == Err(EINVAL), || {
        format!("linking nvidiactl to itself: {r:?}")
    })?;
    register_fd(&gpu, ctl.as_raw_fd())
        .map_err(|e| format!("REGISTER_FD with nvidiactl: errno {e}"))?;
    let r = register_fd(&gpu, ctl.as_raw_fd());
    ensure(r == Err(EINVAL), || {
        format!("a second REGISTER_FD on one file: {r:?}")
    })?;
    // A ctl file that is itself linked cannot be linked to.
    let linked_ctl = open("NV_CTL")?;
    register_fd(&linked_ctl, ctl.as_raw_fd()).map_err(|e| format!("ctl to ctl: errno {e}"))?;
    let gpu_b = open("NV_GPU0")?;
    let r = register_fd(&gpu_b, linked_ctl.as_raw_fd());
    ensure(r == Err(EINVAL), || {
        format!("linking to a linked ctl: {r:?}")
    })?;
    let mut short = [0u8; 8];
    let r = escape_bytes(&gpu_b, esc::REGISTER_FD, &mut short);
    ensure(r == Err(EINVAL), || format!("8-byte REGISTER_FD: {r:?}"))
}

/// A UVM command with its parameter struct: (ioctl result, rmStatus).
fn uvm<T: Pod>(
    fd: &OwnedFd,
    cmd: u32,
    params: &mut T,
    status: impl Fn(&T) -> u32,
) -> Result<u32, i32> {
    // SAFETY: `params` is a live, writable `T` of the size the command expects.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as libc::c_ulong, params as *mut T) };
    if r < 0 {
        Err(crate::sys::errno())
    } else {
        Ok(status(params))
    }
}

pub(crate) fn sim_uuid(minor: u8) -> abi::nv_uvm::NvProcessorUuid {
    let mut uuid = *b"nvsimgpu\0\0\0\0\0\0\0\0";
    uuid[15] = minor;
    abi::nv_uvm::NvProcessorUuid { uuid }
}

/// The UVM start-up libcuda performs, and each UVM check biting.
fn nvsim_uvm_startup_and_checks() -> Result<(), String> {
    use abi::nv_uvm::*;
    let va = open("NV_UVM")?;
    let mut pm = UvmPageableMemAccessParams::default();
    let r = uvm(&va, 39, &mut pm, |p| p.rm_status);
    ensure(r == Ok(0x16), || {
        format!("PAGEABLE_MEM_ACCESS before INITIALIZE: {r:?}, want NV_ERR_ILLEGAL_ACTION")
    })?;
    let mut init = UvmInitializeParams::default();
    let r = uvm(&va, 0x3000_0001, &mut init, |p| p.rm_status);
    ensure(r == Ok(0), || format!("INITIALIZE: {r:?}"))?;
    let r = uvm(&va, 39, &mut pm, |p| p.rm_status);
    ensure(r == Ok(0), || format!("PAGEABLE_MEM_ACCESS: {r:?}"))?;

    // The MM file: a second uvm fd naming the first.
    let mm = open("NV_UVM")?;
    let null = open_rw("/dev/null").map_err(|e| e.to_string())?;
    let mut p = UvmMmInitializeParams {
        uvm_fd: null.as_raw_fd(),
        rm_status: 0,
    };
    let r = uvm(&mm, 75, &mut p, |p| p.rm_status);
    ensure(r == Ok(0x1f), || {
        format!("MM_INITIALIZE naming /dev/null: {r:?}, want NV_ERR_INVALID_ARGUMENT")
    })?;
    let uninit = open("NV_UVM")?;
    let mut p = UvmMmInitializeParams {
        uvm_fd: uninit.as_raw_fd(),
        rm_status: 0,
    };
    let r = uvm(&mm, 75, &mut p, |p| p.rm_status);
    ensure(r == Ok(0x1f), || {
        format!("MM_INITIALIZE naming an uninitialised uvm fd: {r:?}")
    })?;
    let mut p = UvmMmInitializeParams {
        uvm_fd: va.as_raw_fd(),
        rm_status: 0,
    };
    let r = uvm(&mm, 75, &mut p, |p| p.rm_status);
    ensure(r == Ok(0), || format!("MM_INITIALIZE: {r:?}"))?;
    let mut p = UvmMmInitializeParams {
        uvm_fd: va.as_raw_fd(),
        rm_status: 0,
    };
    let r = uvm(&uninit, 75, &mut p, |p| p.rm_status);
    ensure(r == Ok(0x40), || {
        format!("a second MM file for one VA space: {r:?}, want NV_ERR_INVALID_STATE")
    })?;

    // REGISTER_GPU: an nvidiactl fd holding the client, and the GPU's node open.
    let ctl = open("NV_CTL")?;
    let client = nv_rm::alloc_client(&ctl).ok()?;
    let mut reg = UvmRegisterGpuParams {
        gpu_uuid: sim_uuid(0),
        rm_ctrl_fd: ctl.as_raw_fd(),
        h_client: client,
        ..Default::default()
    };
    let r = uvm(&va, 37, &mut reg, |p| p.rm_status);
    ensure(r == Ok(0x1b), || {
        format!("REGISTER_GPU without nvidia0 open: {r:?}, want NV_ERR_INSUFFICIENT_PERMISSIONS")
    })?;
    let _gpu = open("NV_GPU0")?;
    let r = uvm(&va, 37, &mut reg, |p| p.rm_status);
    ensure(r == Ok(0), || format!("REGISTER_GPU: {r:?}"))?;
    let r = uvm(&va, 37, &mut reg, |p| p.rm_status);
    ensure(r == Ok(0x17), || {
        format!("REGISTER_GPU twice: {r:?}, want NV_ERR_IN_USE")
    })?;
    let mut bad = UvmRegisterGpuParams {
        gpu_uuid: sim_uuid(9),
        ..reg
    };
    let r = uvm(&va, 37, &mut bad, |p| p.rm_status);
    ensure(r == Ok(0x12), || {
        format!("REGISTER_GPU of an unknown UUID: {r:?}")
    })?;
    // 535 does not validate rmCtrlFd: the fd-table walk is the gate.
    let mut unchecked = UvmRegisterGpuParams {
        gpu_uuid: sim_uuid(1),
        rm_ctrl_fd: null.as_raw_fd(),
        ..reg
    };
    let r = uvm(&va, 37, &mut unchecked, |p| p.rm_status);
    ensure(r == Ok(0x1b), || {
        format!("REGISTER_GPU of GPU 1 without nvidia1 open: {r:?}")
    })?;
    let _gpu1 = open("NV_GPU1")?;
    let r = uvm(&va, 37, &mut unchecked, |p| p.rm_status);
    ensure(r == Ok(0), || {
        format!("REGISTER_GPU with rmCtrlFd=/dev/null, nvidia1 open: {r:?}")
    })?;
    let mut unreg = UvmUnregisterGpuParams {
        gpu_uuid: sim_uuid(0),
        rm_status: 0,
    };
    let r = uvm(&va, 38, &mut unreg, |p| p.rm_status);
    ensure(r == Ok(0), || format!("UNREGISTER_GPU: {r:?}"))?;

    // Unknown commands fail the ioctl; DEINITIALIZE always succeeds.
    // nvidia-uvm-tools answers none of the nvidia-uvm commands.
    let tools = open_rw("/dev/nvidia-uvm-tools").map_err(|e| e.to_string())?;
    let mut init2 = UvmInitializeParams::default();
    let r = uvm(&tools, 0x3000_0001, &mut init2, |p| p.rm_status);
    ensure(r == Err(EINVAL), || {
        format!("UVM_INITIALIZE on nvidia-uvm-tools: {r:?}")
    })?;
    let r = ioctl_raw(va.as_raw_fd(), 0x1234, 0);
    ensure(r == Err(EINVAL), || format!("unknown UVM command: {r:?}"))?;
    let r = ioctl_raw(va.as_raw_fd(), 0x3000_0002, 0);
    ensure(r == Ok(0), || format!("DEINITIALIZE: {r:?}"))
}

/// How a CUDA context maps its buffers: RM memory mapped into UVM external ranges for a GPU
/// with a registered GPU VA space, and each UVM check on the way biting (statuses from the
/// 535 UVM driver).
fn nvsim_uvm_external_mappings() -> Result<(), String> {
    use abi::nv_status::*;
    use abi::nv_uvm::*;
    const MIB: u64 = 1 << 20;
    const BASE: u64 = 0x2_0000_0000;
    let va = open("NV_UVM")?;
    let mut group = UvmRangeGroupParams::default();
    let r = uvm(&va, 23, &mut group, |p| p.rm_status);
    ensure(r == Ok(NV_ERR_ILLEGAL_ACTION), || {
        format!("CREATE_RANGE_GROUP before INITIALIZE: {r:?}")
    })?;
    let mut init = UvmInitializeParams::default();
    let r = uvm(&va, 0x3000_0001, &mut init, |p| p.rm_status);
    ensure(r == Ok(NV_OK), || format!("INITIALIZE: {r:?}"))?;
    let r = uvm(&va, 23, &mut group, |p| p.rm_status);
    ensure(r == Ok(NV_OK) && group.range_group_id != 0, || {
        format!("CREATE_RANGE_GROUP: {r:?}, id {}", group.range_group_id)
    })?;

    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x400, 0x40, 2 * MIB).ok()?;
    let mut reg = UvmRegisterGpuParams {
        gpu_uuid: sim_uuid(0),
        rm_ctrl_fd: ctl.as_raw_fd(),
        h_client: client,
        ..Default::default()
    };
    let r = uvm(&va, 37, &mut reg, |p| p.rm_status);
    ensure(r == Ok(NV_OK), || format!("REGISTER_GPU: {r:?}"))?;

    let range = |base: u64, length: u64| UvmVaRangeParams {
        base,
        length,
        ..Default::default()
    };
    let r = uvm(&va, 73, &mut range(BASE, 4 * MIB), |p| p.rm_status);
    ensure(r == Ok(NV_OK), || format!("CREATE_EXTERNAL_RANGE: {r:?}"))?;
    let r = uvm(&va, 73, &mut range(BASE + 2 * MIB, 4 * MIB), |p| {
        p.rm_status
    });
    ensure(r == Ok(NV_ERR_UVM_ADDRESS_IN_USE), || {
        format!("an overlapping external range: {r:?}")
    })?;
    let r = uvm(&va, 73, &mut range(BASE + 8 * MIB + 512, 4096), |p| {
        p.rm_status
    });
    ensure(r == Ok(NV_ERR_INVALID_ADDRESS), || {
        format!("a misaligned external range: {r:?}")
    })?;

    let map = |base: u64, length: u64, memory: u32| {
        let mut p = UvmMapExternalAllocationParams {
            base,
            length,
            gpu_attributes_count: 1,
            rm_ctrl_fd: ctl.as_raw_fd(),
            h_client: client,
            h_memory: memory,
            ..Default::default()
        };
        p.per_gpu_attributes[0].gpu_uuid = sim_uuid(0);
        uvm(&va, 33, &mut p, |p| p.rm_status)
    };
    let r = map(BASE, 2 * MIB, 0x400);
    ensure(r == Ok(NV_ERR_INVALID_DEVICE), || {
        format!("MAP_EXTERNAL_ALLOCATION before REGISTER_GPU_VASPACE: {r:?}")
    })?;
    let mut gva = UvmRegisterGpuVaspaceParams {
        gpu_uuid: sim_uuid(0),
        rm_ctrl_fd: ctl.as_raw_fd(),
        h_client: client,
        ..Default::default()
    };
    let r = uvm(&va, 25, &mut gva, |p| p.rm_status);
    ensure(r == Ok(NV_OK), || format!("REGISTER_GPU_VASPACE: {r:?}"))?;
    for (what, base, length, memory, want) in [
        ("2 MiB of 2 MiB", BASE, 2 * MIB, 0x400, NV_OK),
        (
            "past the memory's end",
            BASE,
            4 * MIB,
            0x400,
            NV_ERR_INVALID_LIMIT,
        ),
        (
            "outside the range",
            BASE + 8 * MIB,
            MIB,
            0x400,
            NV_ERR_INVALID_ADDRESS,
        ),
        ("of no memory", BASE, MIB, 0x999, NV_ERR_OBJECT_NOT_FOUND),
    ] {
        let r = map(base, length, memory);
        ensure(r == Ok(want), || {
            format!("MAP_EXTERNAL_ALLOCATION {what}: {r:?}, want {want:#x}")
        })?;
    }
    let r = uvm(&va, 72, &mut range(BASE, 4 * MIB), |p| p.rm_status);
    ensure(r == Ok(NV_OK), || format!("VALIDATE_VA_RANGE: {r:?}"))?;
    let r = uvm(&va, 72, &mut range(BASE, MIB), |p| p.rm_status);
    ensure(r == Ok(NV_ERR_INVALID_ADDRESS), || {
        format!("VALIDATE_VA_RANGE of part of a range: {r:?}")
    })?;
    let mut unmap = UvmGpuRangeParams {
        base: BASE,
        length: 2 * MIB,
        gpu_uuid: sim_uuid(0),
        ..Default::default()
    };
    let r = uvm(&va, 66, &mut unmap, |p| p.rm_status);
    ensure(r == Ok(NV_OK), || format!("UNMAP_EXTERNAL: {r:?}"))?;
    let r = uvm(&va, 34, &mut range(BASE, 0), |p| p.rm_status);
    ensure(r == Ok(NV_OK), || format!("FREE: {r:?}"))?;
    let r = uvm(&va, 34, &mut range(BASE, 0), |p| p.rm_status);
    ensure(r == Ok(NV_ERR_INVALID_ADDRESS), || {
        format!("FREE again: {r:?}")
    })?;
    let r = uvm(&va, 24, &mut group, |p| p.rm_status);
    ensure(r == Ok(NV_OK), || format!("DESTROY_RANGE_GROUP: {r:?}"))?;
    let r = uvm(&va, 24, &mut group, |p| p.rm_status);
    ensure(r == Ok(NV_ERR_OBJECT_NOT_FOUND), || {
        format!("DESTROY_RANGE_GROUP again: {r:?}")
    })
}

/// RM_MAP_MEMORY sets a one-shot mmap context on the GPU file its fd names; mmap of that
/// file at offset 0 then shows the memory's real pages.
fn nvsim_map_system_memory_once_per_file() -> Result<(), String> {
    use crate::sys::Mapping;
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let len = 64 * 1024u64;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x300, 0x3e, len).ok()?;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x400, 0x40, len).ok()?;
    // System memory is mapped through an nvidiactl file, one new open per mapping.
    let map_a = open("NV_CTL")?;
    let map_b = open("NV_CTL")?;
    let gpu_file = open("NV_GPU0")?;
    let st = |r: nv_rm::RmResult<()>| r.status();
    // Refusals: wrong fds, framebuffer memory, out-of-range lengths.
    let null = open_rw("/dev/null").map_err(|e| e.to_string())?;
    for (what, fd, want) in [
        ("/dev/null", null.as_raw_fd(), 0x1f),
        ("a GPU node", gpu_file.as_raw_fd(), 0x1f),
    ] {
        let r = st(nv_rm::map_memory(&ctl, client, 0xd0, 0x300, 0, len, fd));
        ensure(r == want, || {
            format!("RM_MAP_MEMORY naming {what}: status {r:#x}, want {want:#x}")
        })?;
    }
    let r = st(nv_rm::map_memory(
        &ctl,
        client,
        0xd0,
        0x400,
        0,
        len,
        map_a.as_raw_fd(),
    ));
    ensure(r == 0x1f, || {
        format!(
            "mapping framebuffer memory through nvidiactl: {r:#x}, want NV_ERR_INVALID_ARGUMENT"
        )
    })?;
    let r = st(nv_rm::map_memory(
        &ctl,
        client,
        0xd0,
        0x300,
        0,
        2 * len,
        map_a.as_raw_fd(),
    ));
    ensure(r == 0x2e, || {
        format!("mapping past the object: {r:#x}, want NV_ERR_INVALID_LIMIT")
    })?;
    // No context yet: mmap is refused.
    let r = Mapping::shared(map_a.as_raw_fd(), len as usize, 0)
        .err()
        .and_then(|e| e.raw_os_error());
    ensure(r == Some(EINVAL), || {
        format!("mmap without a context: {r:?}")
    })?;
    // The context, then the mapping.
    nv_rm::map_memory(&ctl, client, 0xd0, 0x300, 0, len, map_a.as_raw_fd()).ok()?;
    let r = st(nv_rm::map_memory(
        &ctl,
        client,
        0xd0,
        0x300,
        0,
        len,
        map_a.as_raw_fd(),
    ));
    ensure(r == 0x63, || {
        format!("a second context on one file: {r:#x}, want NV_ERR_STATE_IN_USE")
    })?;
    let r = Mapping::shared(map_a.as_raw_fd(), len as usize, 4096)
        .err()
        .and_then(|e| e.raw_os_error());
    ensure(r == Some(EINVAL), || format!("mmap at offset 4096: {r:?}"))?;
    let r = Mapping::shared(map_a.as_raw_fd(), 2 * len as usize, 0)
        .err()
        .and_then(|e| e.raw_os_error());
    ensure(r == Some(libc::ERANGE), || {
        format!("mmap larger than the context: {r:?}")
    })?;
    let mut a =
        Mapping::shared(map_a.as_raw_fd(), len as usize, 0).map_err(|e| format!("mmap: {e}"))?;
    ensure(a.bytes().iter().all(|&b| b == 0), || {
        "fresh system memory is not zeroed".into()
    })?;
    for (i, b) in a.bytes_mut().iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    // A second mapping of the same memory, through another file, sees the same bytes.
    nv_rm::map_memory(&ctl, client, 0xd0, 0x300, 0, len, map_b.as_raw_fd()).ok()?;
    let b = Mapping::shared(map_b.as_raw_fd(), len as usize, 0)
        .map_err(|e| format!("second mmap: {e}"))?;
    ensure(a.bytes() == b.bytes(), || {
        "two mappings of one object differ".into()
    })?;
    // Freeing the object leaves the mapped pages to the mappings.
    let pages = debugfs("sys_pages", "sys_pages")?;
    nv_rm::free(&ctl, client, 0xd0, 0x300).ok()?;
    ensure(
        debugfs("sys_pages", "sys_pages")? == pages - len / 4096,
        || "freed object kept its pages".into(),
    )?;
    ensure(
        b.bytes()
            .iter()
            .enumerate()
            .all(|(i, &v)| v == (i % 251) as u8),
        || "mapping lost its pages".into(),
    )?;
    // Another process sharing the same nvidiactl file (fork) passes the file check but not
    // the context's process check.
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x301, 0x3e, len).ok()?;
    let map_c = open("NV_CTL")?;
    // SAFETY: the child only makes syscalls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let r = nv_rm::map_memory(&ctl, client, 0xd0, 0x301, 0, len, map_c.as_raw_fd());
        let code = if r.status() == 0x23 { 0 } else { 1 };
        // SAFETY: leave without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    ensure(libc::WEXITSTATUS(status) == 0, || {
        "a forked process created a context on another process's client".into()
    })?;
    nv_rm::map_memory(&ctl, client, 0xd0, 0x301, 0, len, map_c.as_raw_fd()).ok()?;
    println!("64 KiB of system memory mapped twice; contexts one-shot; freed object's pages outlive it in mappings");
    Ok(())
}

/// Video memory is mapped through a file of its GPU (the driver's BAR1 path), backed by host
/// pages only where it is touched: a 4 MiB allocation costs nothing until a 64 KiB window of
/// it is mapped, reads as zeroes, is shared by every mapping, and its pages go with it. An
/// mmap backs the pages it spans, not the whole RM mapping (a 1 GiB window once backed all of
/// it and ran the guest out of memory under the fuzzer), within the `fb_backing_mib` budget.
fn nvsim_map_video_memory_backed_on_first_use() -> Result<(), String> {
    use crate::sys::Mapping;
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let (size, len, offset) = (4u64 << 20, 64 * 1024u64, 1u64 << 20);
    let before = debugfs("fb_pages", "fb_pages")?;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x400, 0x40, size).ok()?;
    ensure(debugfs("fb_pages", "fb_pages")? == before, || {
        "allocating video memory backed pages before any use".into()
    })?;
    let st = |r: nv_rm::RmResult<()>| r.status();
    let (map_a, map_b, other_ctl) = (open("NV_GPU0")?, open("NV_GPU0")?, open("NV_CTL")?);
    for (what, fd, off, length, want) in [
        ("nvidiactl", other_ctl.as_raw_fd(), offset, len, 0x1f),
        (
            "a GPU node, past the end",
            map_a.as_raw_fd(),
            size - 4096,
            len,
            0x2e,
        ),
    ] {
        let r = st(nv_rm::map_memory(
            &ctl, client, 0xd0, 0x400, off, length, fd,
        ));
        ensure(r == want, || {
            format!("video memory mapped through {what}: status {r:#x}, want {want:#x}")
        })?;
    }
    nv_rm::map_memory(&ctl, client, 0xd0, 0x400, offset, len, map_a.as_raw_fd()).ok()?;
    let mut a = Mapping::shared(map_a.as_raw_fd(), len as usize, 0)
        .map_err(|e| format!("mmap of video memory: {e}"))?;
    ensure(
        debugfs("fb_pages", "fb_pages")? == before + len / 4096,
        || "mapping 64 KiB of video memory should back exactly its 16 pages".into(),
    )?;
    ensure(a.bytes().iter().all(|&b| b == 0), || {
        "fresh video memory is not zeroed".into()
    })?;
    for (i, b) in a.bytes_mut().iter_mut().enumerate() {
        *b = (i % 253) as u8;
    }
    nv_rm::map_memory(&ctl, client, 0xd0, 0x400, offset, len, map_b.as_raw_fd()).ok()?;
    let b = Mapping::shared(map_b.as_raw_fd(), len as usize, 0)
        .map_err(|e| format!("second mmap: {e}"))?;
    ensure(a.bytes() == b.bytes(), || {
        "two mappings of one video memory object differ".into()
    })?;
    ensure(
        debugfs("fb_pages", "fb_pages")? == before + len / 4096,
        || "a second mapping of the same window backed new pages".into(),
    )?;
    nv_rm::free(&ctl, client, 0xd0, 0x400).ok()?;
    ensure(debugfs("fb_pages", "fb_pages")? == before, || {
        "freed video memory kept its pages".into()
    })?;
    ensure(
        b.bytes()
            .iter()
            .enumerate()
            .all(|(i, &v)| v == (i % 253) as u8),
        || "a mapping lost its pages when the object was freed".into(),
    )?;
    // A window of a huge allocation backs the pages the mmap spans, not the window's.
    let huge = 1u64 << 30;
    let map_c = open("NV_GPU0")?;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x401, 0x40, huge).ok()?;
    nv_rm::map_memory(&ctl, client, 0xd0, 0x401, 0, huge, map_c.as_raw_fd()).ok()?;
    let c = Mapping::shared(map_c.as_raw_fd(), len as usize, 0)
        .map_err(|e| format!("mmap of 64 KiB of a 1 GiB window: {e}"))?;
    let backed = debugfs("fb_pages", "fb_pages")?;
    ensure(backed == before + len / 4096, || {
        format!(
            "mapping 64 KiB of a 1 GiB window backed {} pages, want 16",
            backed - before
        )
    })?;
    // Past the backing budget (`fb_backing_mib`), a mapping fails with ENOMEM.
    set_param("fb_backing_mib", "1")?;
    let over = Mapping::shared(map_c.as_raw_fd(), 2 << 20, 0).map(drop);
    set_param("fb_backing_mib", "512")?;
    ensure(
        matches!(&over, Err(e) if e.raw_os_error() == Some(libc::ENOMEM)),
        || format!("mapping 2 MiB past a 1 MiB backing budget: {over:?}, want ENOMEM"),
    )?;
    drop(c);
    nv_rm::free(&ctl, client, 0xd0, 0x401).ok()?;
    ensure(debugfs("fb_pages", "fb_pages")? == before, || {
        "freed video memory kept its pages (after a failed mapping)".into()
    })?;
    println!(
        "4 MiB of video memory: 16 pages backed by a 64 KiB mapping, shared by two, dropped at \
         free; 64 KiB of a 1 GiB window backs 16 pages; past the budget mmap is ENOMEM"
    );
    Ok(())
}

/// Channels get the lowest free channel id of their GPU, which GET_CHANNELLIST and the work
/// submit token report; engine objects live on channels and GET_CLASS_ENGINEID names them.
fn nvsim_channel_ids_and_engines() -> Result<(), String> {
    use abi::nv_rm::{channel_alloc_params as chan, ctrl};
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    nv_rm::alloc(&ctl, client, 0xd0, 0x10, 0xa06c, None).ok()?;
    let channel = |engine: u32| {
        let mut p = [0u8; chan::SIZE];
        p[chan::ENGINE_TYPE..chan::ENGINE_TYPE + 4].copy_from_slice(&engine.to_ne_bytes());
        p
    };
    for (h, engine) in [(0x11, 1u32), (0x12, 9), (0x13, 1)] {
        nv_rm::alloc(&ctl, client, 0x10, h, 0xc86f, Some(&mut channel(engine))).ok()?;
    }
    let r = nv_rm::alloc(&ctl, client, 0x10, 0x14, 0xc86f, Some(&mut channel(0x40))).status();
    ensure(r == 0x1f, || format!("a channel on engine 0x40: {r:#x}"))?;
    let r = nv_rm::alloc(&ctl, client, 0x10, 0x14, 0xc86f, None).status();
    ensure(r == 0x1f, || {
        format!("a channel without parameters: {r:#x}")
    })?;
    nv_rm::free(&ctl, client, 0xd0, 0x12).ok()?;
    nv_rm::alloc(&ctl, client, 0x10, 0x12, 0xc86f, Some(&mut channel(9))).ok()?;
    // The ids: handles in, ids out, through the caller's memory.
    let handles = [0x11u32, 0x12, 0x13, 0xd0];
    let mut ids = [0u32; 4];
    let mut p = [0u8; 24];
    p[..4].copy_from_slice(&4u32.to_ne_bytes());
    p[8..16].copy_from_slice(&(handles.as_ptr() as u64).to_ne_bytes());
    p[16..24].copy_from_slice(&(ids.as_mut_ptr() as u64).to_ne_bytes());
    nv_rm::control(
        &ctl,
        client,
        0xd0,
        ctrl::NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST,
        &mut p,
    )
    .ok()?;
    ensure(ids == [0, 1, 2, 0xffff_ffff], || {
        format!("channel ids {ids:x?}, want 0 1 2 and none for the device")
    })?;
    let mut token = [0u8; 4];
    nv_rm::control(
        &ctl,
        client,
        0x13,
        ctrl::NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN,
        &mut token,
    )
    .ok()?;
    ensure(u32::from_ne_bytes(token) == 2, || {
        format!("work submit token {token:?}, want channel id 2")
    })?;
    // Engine objects: compute on 0x11, copy on 0x12; none on a channel group.
    nv_rm::alloc(&ctl, client, 0x11, 0x21, 0xcbc0, None).ok()?;
    nv_rm::alloc(&ctl, client, 0x12, 0x22, 0xc8b5, None).ok()?;
    let r = nv_rm::alloc(&ctl, client, 0x10, 0x23, 0xcbc0, None).status();
    ensure(r == 0x36, || format!("compute on a channel group: {r:#x}"))?;
    for (channel, object, want) in [(0x11, 0x21, (0xcbc0u32, 1u32)), (0x12, 0x22, (0xc8b5, 9))] {
        let mut p = [0u8; 16];
        p[..4].copy_from_slice(&(object as u32).to_ne_bytes());
        nv_rm::control(
            &ctl,
            client,
            channel,
            ctrl::NVC36F_CTRL_GET_CLASS_ENGINEID,
            &mut p,
        )
        .ok()?;
        let word = |i: usize| u32::from_ne_bytes(p[i..i + 4].try_into().unwrap_or_default());
        ensure((word(8), word(12)) == want && word(4) == want.0, || {
            format!("class and engine of {object:#x}: {p:x?}")
        })?;
    }
    let mut p = [0u8; 16];
    p[..4].copy_from_slice(&0x22u32.to_ne_bytes());
    let r = nv_rm::control(
        &ctl,
        client,
        0x11,
        ctrl::NVC36F_CTRL_GET_CLASS_ENGINEID,
        &mut p,
    )
    .status();
    ensure(r == 0x57, || {
        format!("another channel's object: {r:#x}, want NV_ERR_OBJECT_NOT_FOUND")
    })?;
    println!("channel ids 0 1 2 (1 reused), token = id, compute on GR0 and copy on COPY0");
    Ok(())
}

/// The engine runs what a process submits, as a GPU would: a channel's GPFIFO entries name
/// pushbuffers in its UVM-mapped video memory, GPPut in its USERD submits, and nvsim copies,
/// fills and releases semaphores (with timestamps), holds an acquire until the CPU satisfies
/// it, moves GPGet, and puts a channel that reads an unmapped address in error without
/// stopping the other.
fn nvsim_channels_run_their_work() -> Result<(), String> {
    use abi::nv_rm::channel_alloc_params as chan;
    use nvsim_model::pushbuf::header::{immd, inc};
    use std::time::{Duration, Instant};
    const MIB: u64 = 1 << 20;
    const BASE: u64 = 0x3_0000_0000;
    // Layout of the 2 MiB of video memory, as offsets (GPU VA = BASE + offset).
    const GPFIFO: u64 = 0;
    const USERD: u64 = 0x1000;
    const PUSH: u64 = 0x2000;
    const SEM: u64 = 0x8000;
    const SRC: u64 = 0x1_0000;
    const DST: u64 = 0x3_0000;
    const FILL: u64 = 0x5_0000;
    const COPY_LEN: u64 = 0x1_8000;

    let ws = crate::gpu_workspace::Workspace::new(BASE, 2 * MIB)?;
    let (ctl, client) = (&ws.ctl, ws.client);
    let put32 = |off: u64, v: u32| ws.put32(off, v);
    let get32 = |off: u64| ws.get32(off);
    let get64 = |off: u64| u64::from(get32(off)) | u64::from(get32(off + 4)) << 32;
    for i in 0..COPY_LEN / 4 {
        put32(SRC + 4 * i, (i as u32).wrapping_mul(2_654_435_761));
    }

    // A copy channel (COPY0) and its copy object; its ring, USERD and pushbuffers in there.
    let channel = |entries: u32| {
        let mut p = [0u8; chan::SIZE];
        let mut put = |at: usize, bytes: &[u8]| p[at..at + bytes.len()].copy_from_slice(bytes);
        put(chan::GPFIFO_OFFSET, &(BASE + GPFIFO).to_ne_bytes());
        put(chan::GPFIFO_ENTRIES, &entries.to_ne_bytes());
        put(chan::H_USERD, &0x400u32.to_ne_bytes());
        put(chan::USERD_OFFSET, &USERD.to_ne_bytes());
        put(chan::ENGINE_TYPE, &9u32.to_ne_bytes());
        p
    };
    nv_rm::alloc(ctl, client, 0x10, 0x11, 0xc86f, Some(&mut channel(64))).ok()?;
    nv_rm::alloc(ctl, client, 0x11, 0x21, 0xc8b5, None).ok()?;

    // Segment 1: bind the copy object, copy, release its semaphore, fill 4 KiB with a
    // 32-bit pattern, then a 64-bit host release with a timestamp.
    let lo = |v: u64| v as u32;
    let hi = |v: u64| (v >> 32) as u32;
    let addr = |off: u64| BASE + off;
    let mut push: Vec<u32> = vec![inc(4, 0, 1), 0xc8b5];
    let (src, dst, fill, sem) = (addr(SRC), addr(DST), addr(FILL), addr(SEM));
    push.extend([inc(4, 0x400, 4), hi(src), lo(src), hi(dst), lo(dst)]);
    push.extend([inc(4, 0x418, 1), COPY_LEN as u32]);
    push.extend([inc(4, 0x240, 3), hi(sem), lo(sem), 0x1234]);
    // Pitch in and out, flat, semaphore one word, non-pipelined.
    push.extend([inc(4, 0x300, 1), 2 | 1 << 3 | 1 << 7 | 1 << 8]);
    push.extend([inc(4, 0x408, 2), hi(fill), lo(fill)]);
    push.extend([inc(4, 0x700, 1), 0xdead_beef]);
    push.extend([inc(4, 0x708, 1), 4 | 3 << 16]);
    push.extend([inc(4, 0x418, 1), 1024]);
    push.extend([inc(4, 0x300, 1), 2 | 1 << 7 | 1 << 8 | 1 << 10]);
    push.extend([
        inc(0, 0x5c, 4),
        lo(sem + 0x10),
        hi(sem + 0x10),
        0x00ab_cdef,
        0x1,
    ]);
    push.extend([inc(0, 0x6c, 1), 1 | 1 << 24 | 1 << 25]);
    let write_segment = |at: u64, words: &[u32]| {
        for (i, w) in words.iter().enumerate() {
            put32(at + 4 * i as u64, *w);
        }
    };
    let gp_entry = |index: u64, at: u64, dwords: usize| {
        let v = addr(at);
        put32(GPFIFO + 8 * index, v as u32);
        put32(
            GPFIFO + 8 * index + 4,
            (v >> 32) as u32 & 0xff | (dwords as u32) << 10,
        );
    };
    write_segment(PUSH, &push);
    gp_entry(0, PUSH, push.len());
    put32(USERD + 0x8c, 1);
    let wait = |what: &str, done: &dyn Fn() -> bool| -> Result<(), String> {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    };
    wait("the first segment's host release", &|| {
        get32(SEM + 0x10) == 0x00ab_cdef
    })?;
    // GPGet moves once the entry's last method has run.
    wait("GPGet to move past the first entry", &|| {
        get32(USERD + 0x88) == 1
    })?;
    ensure(get32(SEM) == 0x1234, || {
        format!("copy semaphore {:#x}", get32(SEM))
    })?;
    ensure(get32(SEM + 0x14) == 1 && get64(SEM + 0x18) != 0, || {
        "the host release's upper word or timestamp".into()
    })?;
    for i in 0..COPY_LEN / 4 {
        let want = (i as u32).wrapping_mul(2_654_435_761);
        ensure(get32(DST + 4 * i) == want, || {
            format!("copied word {i} differs")
        })?;
    }
    ensure(
        (0..1024).all(|i| get32(FILL + 4 * i) == 0xdead_beef) && get32(FILL + 4096) == 0,
        || "the 4 KiB fill is wrong or overran".into(),
    )?;

    // Segment 2: acquire (strict >=) a word the CPU sets later, then release another.
    let seg2 = [
        inc(0, 0x5c, 4),
        lo(sem + 0x20),
        hi(sem + 0x20),
        5,
        0,
        inc(0, 0x6c, 1),
        2,
        inc(0, 0x5c, 4),
        lo(sem + 0x30),
        hi(sem + 0x30),
        7,
        0,
        immd(0, 0x6c, 1),
    ];
    write_segment(PUSH + 0x1000, &seg2);
    gp_entry(1, PUSH + 0x1000, seg2.len());
    put32(USERD + 0x8c, 2);
    std::thread::sleep(Duration::from_millis(200));
    ensure(get32(SEM + 0x30) == 0, || {
        "a release ran before its acquire held".into()
    })?;
    put32(SEM + 0x20, 5);
    wait("the release after the acquire", &|| get32(SEM + 0x30) == 7)?;

    // A second channel reads an unmapped address: it goes into error, the first runs on.
    // Its own ring and USERD: the second half of the first's ring page, the next USERD.
    let mut p2 = channel(64);
    p2[chan::GPFIFO_OFFSET..chan::GPFIFO_OFFSET + 8].copy_from_slice(&(BASE + 0x800).to_ne_bytes());
    p2[chan::USERD_OFFSET..chan::USERD_OFFSET + 8].copy_from_slice(&(USERD + 0x200).to_ne_bytes());
    nv_rm::alloc(ctl, client, 0x10, 0x12, 0xc86f, Some(&mut p2)).ok()?;
    let bad = [inc(0, 0x5c, 4), 0, 0x7f, 1, 0, immd(0, 0x6c, 1)];
    write_segment(PUSH + 0x3000, &bad);
    let v = addr(PUSH + 0x3000);
    put32(0x800, v as u32);
    put32(0x804, (v >> 32) as u32 & 0xff | (bad.len() as u32) << 10);
    put32(USERD + 0x200 + 0x8c, 1);
    let state = || std::fs::read_to_string("/sys/kernel/debug/nvsim/state").unwrap_or_default();
    wait("the faulting channel's error", &|| {
        state()
            .lines()
            .any(|l| l.starts_with("channel gpu 0 chid 1 ") && l.contains("error a_fault"))
    })?;
    let seg3 = [
        inc(0, 0x5c, 4),
        lo(sem + 0x40),
        hi(sem + 0x40),
        9,
        0,
        immd(0, 0x6c, 1),
    ];
    write_segment(PUSH + 0x4000, &seg3);
    gp_entry(2, PUSH + 0x4000, seg3.len());
    put32(USERD + 0x8c, 3);
    wait("the healthy channel's next release", &|| {
        get32(SEM + 0x40) == 9
    })?;
    ensure(
        state()
            .lines()
            .any(|l| l.starts_with("channel gpu 0 chid 0 gp_get 3 ") && l.contains(" error none ")),
        || format!("channel 0's record:\n{}", state()),
    )?;
    // Freeing the channels drops their records.
    nv_rm::free(ctl, client, 0xd0, 0x10).ok()?;
    wait("the records to go", &|| !state().contains("channel gpu"))?;
    drop(ws);
    println!("copy of 96 KiB, 4 KiB fill, releases with timestamps, an acquire held 200 ms, a faulting channel isolated");
    Ok(())
}

/// RM escapes other than OS events belong to nvidiactl: on `/dev/nvidiaN` they fail.
fn nvsim_rm_escapes_are_ctl_only() -> Result<(), String> {
    let gpu = open("NV_GPU0")?;
    let ctl = open("NV_CTL")?;
    let client = nv_rm::alloc_client(&ctl).ok()?;
    let r = nv_rm::alloc_client(&gpu);
    ensure(r == nv_rm::RmResult::Errno(EINVAL), || {
        format!("RM_ALLOC of a client on nvidia0: {r:?}")
    })?;
    let r = nv_rm::free(&gpu, client, client, client);
    ensure(r == nv_rm::RmResult::Errno(EINVAL), || {
        format!("RM_FREE on nvidia0: {r:?}")
    })?;
    let mut params = [0u8; 4];
    let r = nv_rm::control(&gpu, client, client, 0x101, &mut params);
    ensure(r == nv_rm::RmResult::Errno(EINVAL), || {
        format!("RM_CONTROL on nvidia0: {r:?}")
    })?;
    nv_rm::free(&ctl, client, client, client).ok()
}

fn set_param(name: &str, value: &str) -> Result<(), String> {
    std::fs::write(format!("/sys/module/nvsim/parameters/{name}"), value)
        .map_err(|e| format!("{name}: {e}"))
}

/// `fault_count`/`fault_status` fail the next RM calls with the given status, changing
/// nothing, then calls work again.
fn nvsim_fault_injection_fails_the_next_calls() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let used = debugfs("gpu0", "fb_used")?;
    set_param("fault_status", "0x1a")?;
    set_param("fault_count", "2")?;
    let r1 = nv_rm::alloc_memory(&ctl, client, 0xd0, 0x100, 0x40, MIB);
    let r2 = nv_rm::free(&ctl, client, client, client);
    let left =
        std::fs::read_to_string("/sys/module/nvsim/parameters/fault_count").unwrap_or_default();
    set_param("fault_status", "0x51")?;
    println!(
        "injected: alloc {r1:?}, free {r2:?}; fault_count now {}",
        left.trim()
    );
    ensure(r1.status() == 0x1a && r2.status() == 0x1a, || {
        "injected status not returned".into()
    })?;
    ensure(debugfs("gpu0", "fb_used")? == used, || {
        "a failed call was charged".into()
    })?;
    ensure(left.trim() == "0", || "fault_count not consumed".into())?;
    // With fault_errno, the injected failure is an errno from the ioctl itself.
    set_param("fault_errno", "5")?;
    set_param("fault_count", "1")?;
    let r = nv_rm::alloc_memory(&ctl, client, 0xd0, 0x100, 0x40, MIB);
    set_param("fault_errno", "0")?;
    ensure(r == nv_rm::RmResult::Errno(libc::EIO), || {
        format!("injected EIO: {r:?}")
    })?;
    // A call refused for its node is refused before fault injection and uses none.
    set_param("fault_count", "1")?;
    let gpu = open("NV_GPU0")?;
    let r = nv_rm::alloc_client(&gpu);
    let left =
        std::fs::read_to_string("/sys/module/nvsim/parameters/fault_count").unwrap_or_default();
    set_param("fault_count", "0")?;
    ensure(
        r == nv_rm::RmResult::Errno(EINVAL) && left.trim() == "1",
        || {
            format!(
                "RM_ALLOC on nvidia0 with a fault armed: {r:?}, fault_count {}",
                left.trim()
            )
        },
    )?;
    nv_rm::alloc_memory(&ctl, client, 0xd0, 0x100, 0x40, MIB).ok()?;
    nv_rm::free(&ctl, client, client, client).ok()
}

fn nvsim_controls_and_their_checks() -> Result<(), String> {
    use abi::nv_rm::ctrl;
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let mut ids = [0u8; 128];
    nv_rm::control(
        &ctl,
        client,
        client,
        ctrl::NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS,
        &mut ids,
    )
    .ok()?;
    let word = |b: &[u8], i: usize| {
        u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
    };
    let got = (word(&ids, 0), word(&ids, 1), word(&ids, 2));
    ensure(got == (0x100, 0x200, 0xffff_ffff), || {
        format!("attached ids {got:x?}")
    })?;
    let mut name = [0u8; 132];
    nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_GPU_GET_NAME_STRING,
        &mut name,
    )
    .ok()?;
    let ascii =
        String::from_utf8_lossy(&name[4..4 + name[4..].iter().position(|&b| b == 0).unwrap_or(0)])
            .into_owned();
    ensure(ascii == "NVIDIA nvsim GPU", || format!("name {ascii:?}"))?;
    let mut name = [0u8; 132];
    name[0] = 1;
    nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_GPU_GET_NAME_STRING,
        &mut name,
    )
    .ok()?;
    ensure(name[4] == b'N' && name[5] == 0 && name[6] == b'V', || {
        "UTF-16 name".into()
    })?;
    let mut gid = [0u8; 268];
    nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_GPU_GET_GID_INFO,
        &mut gid,
    )
    .ok()?;
    let len = word(&gid, 2) as usize; // word() indexes u32s: byte offset 8
    let text = String::from_utf8_lossy(&gid[12..12 + len.saturating_sub(1)]).into_owned();
    println!("GID (ASCII): {text}");
    ensure(text == "GPU-6e767369-6d67-7075-0000-000000000000", || {
        format!("gid {text:?} ({len} bytes)")
    })?;
    let mut gid = [0u8; 268];
    gid[4] = 2;
    nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_GPU_GET_GID_INFO,
        &mut gid,
    )
    .ok()?;
    ensure(word(&gid, 2) == 16 && &gid[12..20] == b"nvsimgpu", || {
        "binary GID".into()
    })?;
    let mut short = [0u8; 64];
    let r = nv_rm::control(
        &ctl,
        client,
        client,
        ctrl::NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS,
        &mut short,
    );
    ensure(r.status() == 0x1f, || format!("wrong params size: {r:?}"))?;
    let mut fb = vec![0u8; abi::nv_rm::fb_info::PARAMS_SIZE];
    let r = nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_FB_GET_INFO_V2,
        &mut fb,
    );
    ensure(r.status() == 0x1f, || {
        format!("FB info with an empty list: {r:?}")
    })?;
    nv_rm::alloc(&ctl, client, 0xd0, 0x10, 0xa06c, None).ok()?;
    let mut channel = [0u8; abi::nv_rm::channel_alloc_params::SIZE];
    nv_rm::alloc(&ctl, client, 0x10, 0x11, 0xc86f, Some(&mut channel)).ok()?;
    let mut sched = [1u8, 0];
    nv_rm::control(
        &ctl,
        client,
        0x10,
        ctrl::NVA06C_CTRL_CMD_GPFIFO_SCHEDULE,
        &mut sched,
    )
    .ok()?;
    let r = nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NVA06C_CTRL_CMD_GPFIFO_SCHEDULE,
        &mut sched,
    );
    ensure(r.status() == 0x56, || {
        format!("TSG control on a subdevice: {r:?}")
    })?;
    let mut token = [0u8; 4];
    nv_rm::control(
        &ctl,
        client,
        0x11,
        ctrl::NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN,
        &mut token,
    )
    .ok()?;
    // The channel's id: the only channel of the GPU, so 0.
    ensure(u32::from_le_bytes(token) == 0, || {
        format!("work submit token {token:?}, want channel id 0")
    })?;
    let r = nv_rm::control(&ctl, client, client, 0x1234_5678, &mut token);
    ensure(r.status() == 0x56, || format!("unknown control: {r:?}"))?;
    let other = open("NV_CTL")?;
    let r = nv_rm::control(
        &other,
        client,
        client,
        ctrl::NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS,
        &mut ids,
    );
    ensure(r.status() == 0x23, || {
        format!("control through another file: {r:?}")
    })?;
    ensure(debugfs("gpu0", "channels")? == 1, || {
        "channel not counted".into()
    })?;
    nv_rm::free(&ctl, client, client, client).ok()?;
    ensure(debugfs("gpu0", "channels")? == 0, || {
        "channel count not released".into()
    })
}

/// RM_VID_HEAP_CONTROL: ALLOC_SIZE in video memory, system memory or virtual (no charge),
/// FREE, INFO; over capacity is NV_ERR_NO_MEMORY.
fn nvsim_vid_heap_alloc_free_info() -> Result<(), String> {
    use abi::nv_rm::vid_heap as vh;
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let (_, _, total, free0) = nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: vh::FUNCTION_INFO,
            memory: 0,
            flags: 0,
            attr: 0,
            size: 0,
        },
    )
    .ok()?;
    ensure(total == 4096 * MIB, || format!("INFO total {total}"))?;
    let (h, size, _, _) = nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: vh::FUNCTION_ALLOC_SIZE,
            memory: 0,
            flags: 0,
            attr: 0,
            size: 2 * MIB + 1,
        },
    )
    .ok()?;
    println!("ALLOC_SIZE video memory: handle {h:#x}, size {size}");
    // 2 MiB and more come in whole 2 MiB pages, as the RM's default page size has it.
    ensure(h != 0 && size == 4 * MIB, || {
        format!("handle {h:#x}, size {size}")
    })?;
    let (_, _, _, free1) = nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: vh::FUNCTION_INFO,
            memory: 0,
            flags: 0,
            attr: 0,
            size: 0,
        },
    )
    .ok()?;
    ensure(free0 - free1 == size, || {
        format!("INFO free {free0} -> {free1}")
    })?;
    let sys0 = debugfs("sys_used", "sys_used")?;
    nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: vh::FUNCTION_ALLOC_SIZE,
            memory: 0x200,
            flags: 0,
            attr: 1 << 25,
            size: MIB,
        },
    )
    .ok()?;
    ensure(debugfs("sys_used", "sys_used")? == sys0 + MIB, || {
        "PCI-located memory not charged to the system pool".into()
    })?;
    let used = debugfs("gpu0", "fb_used")?;
    nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: vh::FUNCTION_ALLOC_SIZE,
            memory: 0x201,
            flags: vh::FLAGS_VIRTUAL,
            attr: 0,
            size: 64 * MIB,
        },
    )
    .ok()?;
    ensure(debugfs("gpu0", "fb_used")? == used, || {
        "a virtual allocation was charged".into()
    })?;
    let r = nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: vh::FUNCTION_ALLOC_SIZE,
            memory: 0x202,
            flags: 0,
            attr: 0,
            size: 8192 * MIB,
        },
    );
    ensure(r.status() == 0x51, || format!("8 GiB: {r:?}"))?;
    nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: vh::FUNCTION_FREE,
            memory: h,
            flags: 0,
            attr: 0,
            size: 0,
        },
    )
    .ok()?;
    ensure(debugfs("gpu0", "fb_used")? == used - size, || {
        "FREE did not uncharge".into()
    })?;
    let r = nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: 11,
            memory: 0,
            flags: 0,
            attr: 0,
            size: 0,
        },
    );
    ensure(r.status() == 0x56, || {
        format!("an unsupported function: {r:?}")
    })?;
    let r = nv_rm::vid_heap(
        &ctl,
        client,
        0xd0,
        nv_rm::VidHeap {
            function: vh::FUNCTION_FREE,
            memory: 0x5d0,
            ..Default::default()
        },
    );
    ensure(r.status() == 0x33, || {
        format!("VID_HEAP FREE of a subdevice: {r:?}")
    })?;
    nv_rm::free(&ctl, client, client, client).ok()?;
    ensure(debugfs("sys_used", "sys_used")? == sys0, || {
        "freeing the client left system memory".into()
    })
}

/// RM_DUP_OBJECT gives a second client a handle to the same memory: charged once, and the
/// charge stays while any handle lives. A duplicate of system memory maps the same pages.
fn nvsim_dup_object_never_charges_twice() -> Result<(), String> {
    use crate::sys::Mapping;
    let _gpu = open("NV_GPU0")?;
    let ctl_a = open("NV_CTL")?;
    let ctl_b = open("NV_CTL")?;
    let a = client_with_device(&ctl_a)?;
    let b = client_with_device(&ctl_b)?;
    let used = debugfs("gpu0", "fb_used")?;
    nv_rm::alloc_memory(&ctl_a, a, 0xd0, 0x100, 0x40, 4 * MIB).ok()?;
    let d = nv_rm::dup(&ctl_b, b, 0xd0, 0, a, 0x100).ok()?;
    ensure(debugfs("gpu0", "fb_used")? == used + 4 * MIB, || {
        "a duplicate charged again".into()
    })?;
    let per_file = nv_rm::debugfs_file_fb()?;
    ensure(
        per_file.iter().filter(|&&b| b == 4 * MIB).count() == 1,
        || format!("per-file charges {per_file:?}"),
    )?;
    nv_rm::free(&ctl_a, a, 0xd0, 0x100).ok()?;
    ensure(debugfs("gpu0", "fb_used")? == used + 4 * MIB, || {
        "memory uncharged while a duplicate lives".into()
    })?;
    // The charge moved to the duplicate's file: still exactly one file carries it.
    let per_file = nv_rm::debugfs_file_fb()?;
    ensure(
        per_file.iter().filter(|&&b| b == 4 * MIB).count() == 1,
        || format!("per-file charges after the move {per_file:?}"),
    )?;
    let r = nv_rm::dup(&ctl_a, b, 0xd0, 0, a, 0xd0);
    ensure(r.status() == 0x23, || {
        format!("dup into another file's client: {r:?}")
    })?;
    nv_rm::free(&ctl_b, b, 0xd0, d).ok()?;
    ensure(debugfs("gpu0", "fb_used")? == used, || {
        "the last handle did not uncharge".into()
    })?;
    // RM_SHARE validates the client (this file's) and the object.
    let share = |fd: &OwnedFd, client: u32, object: u32| -> Result<u32, i32> {
        let mut p = [0u8; 24];
        p[0..4].copy_from_slice(&client.to_le_bytes());
        p[4..8].copy_from_slice(&object.to_le_bytes());
        escape_bytes(fd, abi::nv_rm::esc::RM_SHARE, &mut p)
            .map(|_| u32::from_le_bytes([p[20], p[21], p[22], p[23]]))
    };
    ensure(share(&ctl_a, a, 0xd0) == Ok(0), || {
        "RM_SHARE of a device".into()
    })?;
    ensure(share(&ctl_a, a, 0x777) == Ok(0x33), || {
        "RM_SHARE of a missing object".into()
    })?;
    ensure(share(&ctl_b, a, 0xd0) == Ok(0x23), || {
        "RM_SHARE through another file".into()
    })?;
    // System memory: the duplicate maps the original's pages.
    nv_rm::alloc_memory(&ctl_a, a, 0xd0, 0x200, 0x3e, 8192).ok()?;
    let map_a = open("NV_CTL")?;
    nv_rm::map_memory(&ctl_a, a, 0xd0, 0x200, 0, 8192, map_a.as_raw_fd()).ok()?;
    let mut ma = Mapping::shared(map_a.as_raw_fd(), 8192, 0).map_err(|e| e.to_string())?;
    ma.bytes_mut()[100] = 0x5a;
    let d = nv_rm::dup(&ctl_b, b, 0xd0, 0x300, a, 0x200).ok()?;
    let map_b = open("NV_CTL")?;
    nv_rm::map_memory(&ctl_b, b, 0xd0, d, 0, 8192, map_b.as_raw_fd()).ok()?;
    let mb = Mapping::shared(map_b.as_raw_fd(), 8192, 0).map_err(|e| e.to_string())?;
    ensure(mb.bytes()[100] == 0x5a, || {
        "the duplicate maps other pages".into()
    })?;
    Ok(())
}

fn os_event(fd: &OwnedFd, nr: u8, client: u32, key: u32) -> Result<u32, i32> {
    let mut p = NvIoctlOsEvent {
        h_client: client,
        h_device: 0xd0,
        fd: key,
        status: 0,
    };
    escape(fd, nr, &mut p).map(|_| p.status)
}

/// The next event GET_EVENT_DATA gives on `fd`: (status, event, more).
fn event_data(fd: &OwnedFd) -> Result<(u32, abi::nv_rm::NvUnixEvent, u32), String> {
    let mut event = abi::nv_rm::NvUnixEvent::default();
    let mut p = abi::nv_rm::Nvos41 {
        p_event: &mut event as *mut _ as u64,
        ..Default::default()
    };
    escape(fd, abi::nv_rm::esc::RM_GET_EVENT_DATA, &mut p)
        .map_err(|e| format!("GET_EVENT_DATA: errno {e}"))?;
    Ok((p.status, event, p.more_events))
}

/// OS events as the driver has them. ALLOC/FREE_OS_EVENT take (client, fd) as a mere key,
/// once per pair; an event object (NV01_EVENT_OS_EVENT) must name a registered key, and a
/// non-stall one must sit on a subdevice. A channel's non-stall interrupt (the host's
/// NON_STALL_INTERRUPT method) posts the events armed for its engine to the file that
/// registered their key: a waiting poll wakes with POLLIN|POLLPRI, GET_EVENT_DATA hands out
/// the event object and notifier, a dataless event only makes poll ready (once), and a freed
/// event or OS event posts nothing.
fn nvsim_os_events_and_poll() -> Result<(), String> {
    use crate::engine_cases::{Channels, USERD};
    use abi::nv_rm::{event_alloc_params as ev, notifiers};
    const BASE: u64 = crate::engine_cases::BASE;
    let ws = crate::gpu_workspace::Workspace::new(BASE, crate::engine_cases::SIZE)?;
    let (ctl, client) = (&ws.ctl, ws.client);
    // libcuda keeps separate nvidiactl fds for its events; so does this case.
    let events = open("NV_CTL")?;
    let key = events.as_raw_fd() as u32;
    let register = |fd: &OwnedFd, nr: u8, client: u32, key: u32| os_event(fd, nr, client, key);
    ensure(
        register(&events, esc::ALLOC_OS_EVENT, client, key) == Ok(0),
        || "ALLOC_OS_EVENT".into(),
    )?;
    let r = register(&events, esc::ALLOC_OS_EVENT, client, key);
    ensure(r == Ok(0x1a), || {
        format!("the same pair again: {r:?}, want NV_ERR_INSUFFICIENT_RESOURCES")
    })?;
    // Neither the client nor the fd is looked up.
    ensure(
        register(&events, esc::ALLOC_OS_EVENT, 0x4242, 1) == Ok(0),
        || "a key with an unknown client".into(),
    )?;
    ensure(
        register(&events, esc::FREE_OS_EVENT, 0x4242, 1) == Ok(0),
        || "FREE_OS_EVENT".into(),
    )?;
    let r = register(&events, esc::FREE_OS_EVENT, 0x4242, 1);
    ensure(r == Ok(0x28), || {
        format!("freeing it again: {r:?}, want NV_ERR_INVALID_EVENT")
    })?;
    let mut short = [0u8; 8];
    let r = escape_bytes(&events, esc::ALLOC_OS_EVENT, &mut short);
    ensure(r == Err(EINVAL), || format!("8-byte ALLOC_OS_EVENT: {r:?}"))?;

    // Event objects: on the subdevice (0x5d0), GR0's non-stall notifier with data, and
    // copy engine 0's without.
    let event = |handle: u32, src: u32, notify: u32, data: u32| {
        let mut p = [0u8; ev::SIZE];
        p[..4].copy_from_slice(&client.to_ne_bytes());
        p[ev::H_SRC_RESOURCE..][..4].copy_from_slice(&src.to_ne_bytes());
        p[8..12].copy_from_slice(&0x79u32.to_ne_bytes());
        p[ev::NOTIFY_INDEX..][..4].copy_from_slice(&notify.to_ne_bytes());
        p[ev::DATA..][..4].copy_from_slice(&data.to_ne_bytes());
        nv_rm::alloc(ctl, client, src, handle, 0x79, Some(&mut p)).status()
    };
    let gr = ev::NONSTALL_INTR | notifiers::GR0;
    let r = event(0x7a0, 0x5d0, gr, key + 1000);
    ensure(r == 0x57, || {
        format!("an event naming no OS event: {r:#x}, want NV_ERR_OBJECT_NOT_FOUND")
    })?;
    let r = event(0x7a0, 0xd0, gr, key);
    ensure(r == 0x1f, || {
        format!("a non-stall event on the device: {r:#x}, want NV_ERR_INVALID_ARGUMENT")
    })?;
    ensure(event(0x7a0, 0x5d0, gr, key) == 0, || "the GR0 event".into())?;
    let ce0 = ev::NONSTALL_INTR | ev::WITHOUT_EVENT_DATA | notifiers::CE0;
    ensure(event(0x7a1, 0x5d0, ce0, key) == 0, || {
        "the CE0 event".into()
    })?;

    let ready = |timeout_ms: i32| {
        crate::sys::poll_one(events.as_raw_fd(), libc::POLLIN | libc::POLLPRI, timeout_ms)
            .map_err(|e| e.to_string())
    };
    ensure(ready(50)? == 0, || "ready before any interrupt".into())?;
    let posted = debugfs("os_events", "posted")?;
    let r = event_data(&events)?.0;
    ensure(r == 0x59, || {
        format!("GET_EVENT_DATA with none queued: {r:#x}, want NV_ERR_OPERATING_SYSTEM")
    })?;

    // A compute channel raises a non-stall interrupt: the poll below sleeps until it does.
    ws.channel_on(0, 1, 0xcbc0, 0)?;
    ws.channel_on(1, 9, 0xc8b5, 0)?;
    let interrupt = [nvsim_model::pushbuf::header::inc(0, 0x20, 1), 0];
    ws.submit(0, 0, &interrupt);
    let revents = ready(10_000)?;
    ensure(
        revents & (libc::POLLIN | libc::POLLPRI) == libc::POLLIN | libc::POLLPRI,
        || format!("poll after GR0's interrupt gave {revents:#x}"),
    )?;
    let (status, got, more) = event_data(&events)?;
    ensure(
        status == 0 && got.h_object == 0x7a0 && got.notify_index == notifiers::GR0 && more == 0,
        || format!("GET_EVENT_DATA: status {status:#x}, {got:?}, more {more}"),
    )?;
    ensure(ready(0)? == 0, || "still ready once drained".into())?;

    // The copy channel's interrupt: its event carries no data, so poll is ready once.
    ws.submit(1, 0, &interrupt);
    let revents = ready(10_000)?;
    ensure(revents != 0, || "no wake-up for CE0's interrupt".into())?;
    ensure(ready(0)? == 0, || "a dataless event seen twice".into())?;
    let r = event_data(&events)?.0;
    ensure(r == 0x59, || format!("data for a dataless event: {r:#x}"))?;
    let now = debugfs("os_events", "posted")?;
    ensure(now == posted + 2, || {
        format!("nvsim counts {} events posted, want 2", now - posted)
    })?;

    // A freed event object posts nothing (GR0's); nor does an event whose OS event was freed
    // (CE0's), even once the same key is registered again: it was bound when it was made.
    let run_entry = |channel: u64, entry: u32| -> Result<(), String> {
        ws.submit(channel, u64::from(entry), &interrupt);
        let start = std::time::Instant::now();
        while ws.get32(USERD + 0x200 * channel + 0x88) != entry + 1 {
            if start.elapsed() > std::time::Duration::from_secs(10) {
                return Err(format!("channel {channel} did not run entry {entry}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(())
    };
    nv_rm::free(ctl, client, 0x5d0, 0x7a0).ok()?;
    run_entry(0, 1)?;
    ensure(ready(100)? == 0, || {
        "posted after its event was freed".into()
    })?;
    ensure(
        register(&events, esc::FREE_OS_EVENT, client, key) == Ok(0),
        || "FREE_OS_EVENT of the key".into(),
    )?;
    run_entry(1, 1)?;
    ensure(ready(100)? == 0, || {
        "posted after its OS event was freed".into()
    })?;
    ensure(
        register(&events, esc::ALLOC_OS_EVENT, client, key) == Ok(0),
        || "the key registered again".into(),
    )?;
    run_entry(1, 2)?;
    ensure(ready(100)? == 0, || {
        "an event bound to a freed OS event posted to its key's new registration".into()
    })?;
    ensure(debugfs("os_events", "posted")? == now, || {
        "nvsim posted to freed events".into()
    })?;
    let state = std::fs::read_to_string("/sys/kernel/debug/nvsim/state")
        .map_err(|e| format!("nvsim state: {e}"))?;
    let counted = |n: u32| {
        state
            .lines()
            .filter(|l| l.starts_with("channel gpu 0 ") && l.contains(&format!(" interrupts {n} ")))
            .count()
    };
    ensure(counted(2) == 1 && counted(3) == 1, || {
        format!("the state file does not count 2 and 3 interrupts on the channels:\n{state}")
    })?;

    // At most 64 keys per file, and freeing the client frees its keys.
    let other = open("NV_CTL")?;
    let other_client = nv_rm::alloc_client(&other).ok()?;
    for key in 0..64 {
        ensure(
            register(&other, esc::ALLOC_OS_EVENT, other_client, key) == Ok(0),
            || format!("key {key}"),
        )?;
    }
    let r = register(&other, esc::ALLOC_OS_EVENT, other_client, 64);
    ensure(r == Ok(0x1a), || {
        format!("a 65th key: {r:?}, want NV_ERR_INSUFFICIENT_RESOURCES")
    })?;
    nv_rm::free(&other, other_client, other_client, other_client).ok()?;
    ensure(
        register(&other, esc::ALLOC_OS_EVENT, client, 1) == Ok(0),
        || "keys not freed with their client".into(),
    )?;
    println!("GR0's interrupt woke poll with its event; CE0's dataless one woke it once");
    Ok(())
}

/// GET_PIDS lists the processes with an object of a class on the GPU; GET_PID_INFO reports a
/// process's video memory (what nvidia-smi shows per process).
fn nvsim_get_pids_and_pid_info() -> Result<(), String> {
    use abi::nv_rm::ctrl;
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let size = nv_rm::alloc_memory(&ctl, client, 0xd0, 0x100, 0x40, 3 * MIB).ok()?;
    let me = std::process::id();
    let mut pids = vec![0u8; 12 + 4 * ctrl::GET_PIDS_MAX];
    pids[4..8].copy_from_slice(&0x40u32.to_le_bytes());
    nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_GPU_GET_PIDS,
        &mut pids,
    )
    .ok()?;
    let word = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let n = word(&pids, 8) as usize;
    let listed: Vec<u32> = (0..n).map(|i| word(&pids, 12 + 4 * i)).collect();
    println!("GET_PIDS(class 0x40): {listed:?}; this process is {me}");
    ensure(listed.contains(&me), || "this process is not listed".into())?;
    pids[0..4].copy_from_slice(&1u32.to_le_bytes());
    let r = nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_GPU_GET_PIDS,
        &mut pids,
    );
    ensure(r.status() == 0x56, || format!("idType VGPU_GUEST: {r:?}"))?;
    let mut info = vec![0u8; 8 + ctrl::PID_INFO_ENTRY * ctrl::GET_PID_INFO_MAX];
    info[0..4].copy_from_slice(&2u32.to_le_bytes());
    info[8..12].copy_from_slice(&me.to_le_bytes());
    info[80..84].copy_from_slice(&999_999u32.to_le_bytes());
    nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_GPU_GET_PID_INFO,
        &mut info,
    )
    .ok()?;
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&info[at..at + 8]);
        u64::from_le_bytes(b)
    };
    println!(
        "GET_PID_INFO: own memPrivate {}, unknown pid's {}",
        u64_at(24),
        u64_at(96)
    );
    ensure(word(&info, 16) == 0 && u64_at(24) == size, || {
        format!("own video memory {}", u64_at(24))
    })?;
    ensure(u64_at(96) == 0, || "an unknown pid has memory".into())?;
    info[0..4].copy_from_slice(&201u32.to_le_bytes());
    let r = nv_rm::control(
        &ctl,
        client,
        0x5d0,
        ctrl::NV2080_CTRL_CMD_GPU_GET_PID_INFO,
        &mut info,
    );
    ensure(r.status() == 0x1f, || format!("201 entries: {r:?}"))
}

/// RM_ALLOC_MEMORY of system memory on a device file linked to nvidiactl (REGISTER_FD), with
/// its mmap context on the nvidiactl file the fd names.
fn nvsim_alloc_memory_on_a_linked_device_file() -> Result<(), String> {
    use crate::sys::Mapping;
    let ctl = open("NV_CTL")?;
    let gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let alloc_memory =
        |on: &OwnedFd, class: u32, handle: u32, limit: u64, fd: i32| -> Result<(u32, u32), i32> {
            let mut p = [0u8; 56];
            p[0..4].copy_from_slice(&client.to_le_bytes());
            p[4..8].copy_from_slice(&0xd0u32.to_le_bytes());
            p[8..12].copy_from_slice(&handle.to_le_bytes());
            p[12..16].copy_from_slice(&class.to_le_bytes());
            p[32..40].copy_from_slice(&limit.to_le_bytes());
            p[48..52].copy_from_slice(&fd.to_le_bytes());
            let r = escape_bytes(on, abi::nv_rm::esc::RM_ALLOC_MEMORY, &mut p);
            let word = |at: usize| u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
            r.map(|_| (word(40), word(8)))
        };
    let r = alloc_memory(&ctl, 0x3e, 0x500, 8191, -1);
    ensure(r == Err(EINVAL), || {
        format!("RM_ALLOC_MEMORY on nvidiactl: {r:?}")
    })?;
    let r = alloc_memory(&gpu, 0x3e, 0x500, 8191, -1);
    ensure(r == Ok((0x23, 0x500)), || {
        format!("on an unlinked device file: {r:?}")
    })?;
    register_fd(&gpu, ctl.as_raw_fd()).map_err(|e| format!("REGISTER_FD: errno {e}"))?;
    let sys0 = debugfs("sys_used", "sys_used")?;
    let map_fd = open("NV_CTL")?;
    let r = alloc_memory(&gpu, 0x3e, 0x500, 8191, map_fd.as_raw_fd());
    ensure(r == Ok((0, 0x500)), || {
        format!("RM_ALLOC_MEMORY with a context: {r:?}")
    })?;
    ensure(debugfs("sys_used", "sys_used")? == sys0 + 8192, || {
        "not charged".into()
    })?;
    let mut m = Mapping::shared(map_fd.as_raw_fd(), 8192, 0).map_err(|e| format!("mmap: {e}"))?;
    m.bytes_mut()[8191] = 7;
    ensure(m.bytes()[8191] == 7, || "mapping not writable".into())?;
    // A second allocation naming the same file: allocated, but the context fails (EINVAL).
    let r = alloc_memory(&gpu, 0x3e, 0x501, 4095, map_fd.as_raw_fd());
    ensure(r == Err(EINVAL), || {
        format!("a second context on one file: {r:?}")
    })?;
    ensure(
        debugfs("sys_used", "sys_used")? == sys0 + 8192 + 4096,
        || "the allocation did not stay".into(),
    )?;
    let r = alloc_memory(&gpu, 0x40, 0x502, 4095, -1);
    ensure(r == Ok((0x22, 0x502)), || {
        format!("a framebuffer class: {r:?}")
    })?;
    // An OS descriptor (0x71): the caller's own pages, pinned as the driver pins them (what
    // the engine's copies read and write); an address with nothing mapped is refused.
    let user = Mapping::anonymous(65536).map_err(|e| format!("anonymous mmap: {e}"))?;
    // Flags: MAPPING_NO_MAP (31:30 = 1), COHERENCY_CACHED (15:12 = 1), LOCATION_PCI.
    const OS_DESCRIPTOR_FLAGS: u32 = 1 << 30 | 1 << 12;
    let os_descriptor_with = |handle: u32, at: usize, flags: u32| -> Result<(u32, u32), i32> {
        let mut p = [0u8; 56];
        p[0..4].copy_from_slice(&client.to_le_bytes());
        p[4..8].copy_from_slice(&0xd0u32.to_le_bytes());
        p[8..12].copy_from_slice(&handle.to_le_bytes());
        p[12..16].copy_from_slice(&0x71u32.to_le_bytes());
        p[16..20].copy_from_slice(&flags.to_le_bytes());
        p[24..32].copy_from_slice(&(at as u64).to_le_bytes());
        p[32..40].copy_from_slice(&65535u64.to_le_bytes());
        p[48..52].copy_from_slice(&(-1i32).to_le_bytes());
        let r = escape_bytes(&gpu, abi::nv_rm::esc::RM_ALLOC_MEMORY, &mut p);
        let word = |at: usize| u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
        r.map(|_| (word(40), word(8)))
    };
    let os_descriptor = |handle, at| os_descriptor_with(handle, at, OS_DESCRIPTOR_FLAGS);
    // The RM's checks: PCI memory it does not map, at a page-aligned address.
    for (flags, at, want, what) in [
        (0, user.addr(), 0x29, "without MAPPING_NO_MAP"),
        (
            OS_DESCRIPTOR_FLAGS | 2 << 8,
            user.addr(),
            0x29,
            "in video memory",
        ),
        (OS_DESCRIPTOR_FLAGS, user.addr() + 16, 0x56, "unaligned"),
    ] {
        let r = os_descriptor_with(0x505, at, flags);
        ensure(r == Ok((want, 0x505)), || {
            format!("0x71 {what}: {r:?}, want status {want:#x}")
        })?;
    }
    let pages0 = debugfs("sys_pages", "sys_pages")?;
    let r = os_descriptor(0x503, user.addr());
    ensure(r == Ok((0, 0x503)), || {
        format!("0x71 on mapped memory: {r:?}")
    })?;
    ensure(debugfs("sys_pages", "sys_pages")? == pages0 + 16, || {
        "0x71 of 64 KiB should pin its 16 pages".into()
    })?;
    let r = os_descriptor(0x504, 0x1000);
    ensure(r == Ok((0x1e, 0x504)), || {
        format!("0x71 where nothing is mapped: {r:?}, want NV_ERR_INVALID_ADDRESS")
    })?;
    nv_rm::free(&ctl, client, 0xd0, 0x503).ok()?;
    ensure(debugfs("sys_pages", "sys_pages")? == pages0, || {
        "freed 0x71 kept its pinned pages".into()
    })?;
    nv_rm::free(&ctl, client, client, client).ok()?;
    ensure(debugfs("sys_used", "sys_used")? == sys0, || {
        "freeing the client left system memory".into()
    })
}

/// Memory-list classes (RS_FLAGS_ALLOC_PRIVILEGED) need CAP_SYS_ADMIN, checked per call.
fn nvsim_privileged_classes_need_cap_sys_admin() -> Result<(), String> {
    let ctl = open("NV_CTL")?;
    let _gpu = open("NV_GPU0")?;
    let client = client_with_device(&ctl)?;
    let as_root = nv_rm::alloc(&ctl, client, 0xd0, 0x700, 0x81, None).status();
    if through_fakegpu() {
        // fakegpu refuses the memory lists to every caller: a list can name another
        // tenant's pages, and CAP_SYS_ADMIN in a container is no reason to trust it.
        return ensure(as_root == 0x1b, || {
            format!("through fakegpu, as root: {as_root:#x}, want NV_ERR_INSUFFICIENT_PERMISSIONS")
        });
    }
    ensure(as_root == 0, || format!("as root: {as_root:#x}"))?;
    // SAFETY: the child makes syscalls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match crate::sys::drop_cap_sys_admin() {
            Ok(()) => {
                let r = nv_rm::alloc(&ctl, client, 0xd0, 0x701, 0x81, None);
                let other = nv_rm::alloc(&ctl, client, 0xd0, 0x702, 0x50a0, None);
                if r.status() == 0x1b && other.status() == 0 {
                    0
                } else {
                    1
                }
            }
            Err(_) => 2,
        };
        // SAFETY: leave without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: reaping our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let code = libc::WEXITSTATUS(status);
    ensure(code == 0, || {
        format!("without CAP_SYS_ADMIN: child exit {code} (1: not refused with 0x1b, 2: capset)")
    })
}
