//! GPU visibility through fakegpu: a process in a cgroup whose entry says `gpus` = 1 cannot
//! open, enumerate, attach or use GPU 0, even with a GPU 0 file it got from outside; and the
//! same calls succeed once the entry allows every GPU (so the refusals come from the set).

use crate::cgroup_util::TestCgroup;
use crate::sys::{ioctl_raw, open_rw};
use crate::{ensure, Case};
use abi::ioc::{ioc, IOC_READ, IOC_WRITE};
use abi::nv_frontend::{esc, NvIoctlCardInfo, NV_IOCTL_MAGIC};
use abi::nv_rm::ctrl;
use abi::nv_status::{NV_ERR_INSUFFICIENT_PERMISSIONS, NV_OK};
use abi::nv_uvm::{NvProcessorUuid, UvmInitializeParams, UvmRegisterGpuParams};
use abi::pod::read_pod;
use nv_client::rm;
use std::os::fd::{AsRawFd, OwnedFd};

/// Every visibility case.
pub const ALL: &[Case] = &[("proxy_gpu_visibility", proxy_gpu_visibility)];

const CTL: &str = "/dev/fakegpuctl";
const GPU0: &str = "/dev/fakegpu0";
const GPU1: &str = "/dev/fakegpu1";
const UVM: &str = "/dev/fakegpu-uvm";
const EINVAL: i32 = libc::EINVAL;

fn open(path: &str) -> Result<OwnedFd, String> {
    open_rw(path).map_err(|e| format!("open {path}: {e}"))
}

fn nv_cmd(nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, NV_IOCTL_MAGIC, nr, size)
}

/// CARD_INFO with room for `entries`: the valid records, or the errno.
fn card_info(ctl: &OwnedFd, entries: usize) -> Result<Vec<NvIoctlCardInfo>, i32> {
    let mut buf = vec![0xa5u8; 72 * entries];
    ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(esc::CARD_INFO, buf.len()),
        buf.as_mut_ptr() as usize,
    )?;
    Ok(buf
        .chunks_exact(72)
        .filter_map(read_pod::<NvIoctlCardInfo>)
        .filter(|c| c.valid != 0)
        .collect())
}

/// ATTACH_GPUS_TO_FD of `ids` on a fresh ctl file (the driver allows one per file).
fn attach(ids: &[u32]) -> Result<(), String> {
    let ctl = open(CTL)?;
    let mut buf: Vec<u8> = ids.iter().flat_map(|i| i.to_ne_bytes()).collect();
    ioctl_raw(
        ctl.as_raw_fd(),
        nv_cmd(esc::ATTACH_GPUS_TO_FD, buf.len()),
        buf.as_mut_ptr() as usize,
    )
    .map(drop)
    .map_err(|e| format!("errno {e}"))
}

/// GET_ATTACHED_IDS on a new client: the valid ids.
fn attached_ids(ctl: &OwnedFd) -> Result<Vec<u32>, String> {
    let client = rm::alloc_client(ctl)
        .ok()
        .map_err(|e| format!("client: {e}"))?;
    let mut ids = [0u8; 128];
    let r = rm::control(
        ctl,
        client,
        client,
        ctrl::NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS,
        &mut ids,
    );
    let _ = rm::free(ctl, client, client, client);
    r.ok().map_err(|e| format!("GET_ATTACHED_IDS: {e}"))?;
    Ok(ids
        .chunks_exact(4)
        .filter_map(read_pod::<u32>)
        .filter(|&i| i != ctrl::NV0000_CTRL_GPU_INVALID_ID)
        .collect())
}

/// The RM status of allocating a device for GPU `device_id` on a new client.
fn device_status(ctl: &OwnedFd, device_id: u32) -> Result<u32, String> {
    let client = rm::alloc_client(ctl)
        .ok()
        .map_err(|e| format!("client: {e}"))?;
    let status = rm::alloc_device(ctl, client, 0xd0, device_id).status();
    let _ = rm::free(ctl, client, client, client);
    Ok(status)
}

/// The RM status of UVM_REGISTER_GPU of GPU `minor` (nvsim's UUIDs end in the minor).
fn uvm_register_status(minor: u8) -> Result<u32, String> {
    let uvm = open(UVM)?;
    let mut init = UvmInitializeParams::default();
    ioctl_raw(uvm.as_raw_fd(), 0x3000_0001, (&raw mut init) as usize)
        .map_err(|e| format!("UVM_INITIALIZE: errno {e}"))?;
    let mut uuid = *b"nvsimgpu\0\0\0\0\0\0\0\0";
    uuid[15] = minor;
    let mut reg = UvmRegisterGpuParams {
        gpu_uuid: NvProcessorUuid { uuid },
        rm_ctrl_fd: -1,
        ..Default::default()
    };
    ioctl_raw(uvm.as_raw_fd(), 37, (&raw mut reg) as usize)
        .map_err(|e| format!("UVM_REGISTER_GPU: errno {e}"))?;
    Ok(reg.rm_status)
}

fn proxy_gpu_visibility() -> Result<(), String> {
    // Outside any entry: both GPUs, and a GPU 0 file to carry into the cgroup.
    let ctl = open(CTL)?;
    let all = card_info(&ctl, 32).map_err(|e| format!("CARD_INFO: errno {e}"))?;
    ensure(all.len() == 2, || format!("{} GPUs outside", all.len()))?;
    let (id0, id1) = (all[0].gpu_id, all[1].gpu_id);
    let gpu0_from_outside = open(GPU0)?;
    drop(ctl);

    let cg = TestCgroup::create("/fakegpu-vis")?;
    cg.set("gpus", "1\n")?;
    ensure(cg.get("gpus")? == "1\n", || {
        "gpus does not read back 1".into()
    })?;
    cg.enter()?;

    let e = open_rw(GPU0).err().and_then(|e| e.raw_os_error());
    ensure(e == Some(libc::EPERM), || {
        format!("open {GPU0} in the cgroup: {e:?}, want EPERM")
    })?;
    let _gpu1 = open(GPU1)?;
    let ctl = open(CTL)?;

    let seen = card_info(&ctl, 32).map_err(|e| format!("CARD_INFO in the cgroup: errno {e}"))?;
    ensure(seen == [all[1]], || {
        format!("CARD_INFO in the cgroup shows {seen:?}")
    })?;
    let one = card_info(&ctl, 1).map_err(|e| format!("CARD_INFO with one entry: errno {e}"))?;
    ensure(one == [all[1]], || {
        format!("CARD_INFO with one entry: {one:?}")
    })?;
    ensure(card_info(&ctl, 0) == Err(EINVAL), || {
        "CARD_INFO without room is not EINVAL".into()
    })?;

    ensure(attach(&[id0]) == Err(format!("errno {EINVAL}")), || {
        "attaching GPU 0 is not EINVAL".into()
    })?;
    ensure(
        attach(&[id1, id0]) == Err(format!("errno {EINVAL}")),
        || "attaching GPUs 1 and 0 is not EINVAL".into(),
    )?;
    attach(&[0, id1]).map_err(|e| format!("attaching GPU 1: {e}"))?;

    let ids = attached_ids(&ctl)?;
    ensure(ids == [id1], || {
        format!("GET_ATTACHED_IDS in the cgroup: {ids:x?}")
    })?;

    // Device and UVM registration of GPU 0 fail as for a process without its node, though
    // this one holds a fake GPU 0 file; GPU 1 works.
    let s = device_status(&ctl, 0)?;
    ensure(s == NV_ERR_INSUFFICIENT_PERMISSIONS, || {
        format!("device 0 in the cgroup: status {s:#x}")
    })?;
    let s = device_status(&ctl, 1)?;
    ensure(s == NV_OK, || {
        format!("device 1 in the cgroup: status {s:#x}")
    })?;
    let s = uvm_register_status(0)?;
    ensure(s == NV_ERR_INSUFFICIENT_PERMISSIONS, || {
        format!("UVM_REGISTER_GPU of GPU 0 in the cgroup: status {s:#x}")
    })?;
    let s = uvm_register_status(1)?;
    ensure(s == NV_OK, || {
        format!("UVM_REGISTER_GPU of GPU 1 in the cgroup: status {s:#x}")
    })?;

    // A child cgroup cannot see more than its parent, whatever its own entry says.
    {
        let child = TestCgroup::create("/fakegpu-vis/child")?;
        child.set("gpus", "0-1\n")?;
        child.enter()?;
        let e = open_rw(GPU0).err().and_then(|e| e.raw_os_error());
        ensure(e == Some(libc::EPERM), || {
            format!("open {GPU0} in the child: {e:?}, want EPERM")
        })?;
        let n = card_info(&ctl, 32).map(|c| c.len());
        ensure(n == Ok(1), || format!("CARD_INFO in the child: {n:?}"))?;
    }
    cg.enter()?;

    // The same process, with the limit lifted: everything works again (the limit, not
    // something else, made the refusals).
    cg.set("gpus", "all\n")?;
    let _gpu0 = open(GPU0)?;
    let n = card_info(&ctl, 32).map(|c| c.len());
    ensure(n == Ok(2), || format!("CARD_INFO with gpus=all: {n:?}"))?;
    attach(&[id0, id1]).map_err(|e| format!("attaching both with gpus=all: {e}"))?;
    let ids = attached_ids(&ctl)?;
    ensure(ids == [id0, id1], || {
        format!("GET_ATTACHED_IDS with gpus=all: {ids:x?}")
    })?;
    drop(_gpu0);
    let s = device_status(&ctl, 0)?;
    ensure(s == NV_OK, || {
        format!("device 0 with gpus=all and the carried-in file: status {s:#x}")
    })?;
    let s = uvm_register_status(0)?;
    ensure(s == NV_OK, || {
        format!("UVM_REGISTER_GPU of GPU 0 with gpus=all: status {s:#x}")
    })?;
    drop(gpu0_from_outside);
    Ok(())
}
