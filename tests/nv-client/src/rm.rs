//! RM calls as libcuda makes them, on top of the shared ABI.

use crate::ioctl;
use abi::ioc::iowr;
use abi::nv_family::DriverFamily;
use abi::nv_frontend::NV_IOCTL_MAGIC;
use abi::nv_rm::{esc, fb_info, memory_alloc_params, Nvos00, Nvos21, Nvos54};
use abi::nv_status::NvStatus;
use std::os::fd::OwnedFd;

/// An RM call's outcome: the ioctl's errno, or the RM status it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RmResult<T> {
    /// The ioctl failed with this errno.
    Errno(i32),
    /// The ioctl succeeded and the RM wrote this status (with the value on NV_OK).
    Status(NvStatus, T),
}

impl<T: Copy + Default> RmResult<T> {
    /// The value if the call succeeded with NV_OK.
    pub fn ok(self) -> Result<T, String> {
        match self {
            RmResult::Status(0, v) => Ok(v),
            RmResult::Status(s, _) => Err(format!("RM status {s:#x}")),
            RmResult::Errno(e) => Err(format!("errno {e}")),
        }
    }

    /// The RM status (or u32::MAX for an ioctl error).
    pub fn status(self) -> NvStatus {
        match self {
            RmResult::Status(s, _) => s,
            RmResult::Errno(_) => u32::MAX,
        }
    }
}

/// RM_ALLOC (NVOS21); returns (client, new handle).
pub fn alloc(
    ctl: &OwnedFd,
    client: u32,
    parent: u32,
    handle: u32,
    class: u32,
    params: Option<&mut [u8]>,
) -> RmResult<(u32, u32)> {
    let (ptr, size) = match params {
        Some(p) => (p.as_mut_ptr() as u64, p.len() as u32),
        None => (0, 0),
    };
    let mut p = Nvos21 {
        h_root: client,
        h_object_parent: parent,
        h_object_new: handle,
        h_class: class,
        p_alloc_parms: ptr,
        params_size: size,
        status: 0,
    };
    match ioctl(ctl, iowr::<Nvos21>(NV_IOCTL_MAGIC, esc::RM_ALLOC), &mut p) {
        Ok(_) => RmResult::Status(p.status, (p.h_root, p.h_object_new)),
        Err(e) => RmResult::Errno(e),
    }
}

/// A new client (class 0x41, handle chosen by the RM).
pub fn alloc_client(ctl: &OwnedFd) -> RmResult<u32> {
    match alloc(ctl, 0, 0, 0, 0x41, None) {
        RmResult::Status(s, (c, _)) => RmResult::Status(s, c),
        RmResult::Errno(e) => RmResult::Errno(e),
    }
}

/// A device (0x80) for GPU `device_id`.
pub fn alloc_device(
    ctl: &OwnedFd,
    client: u32,
    handle: u32,
    device_id: u32,
) -> RmResult<(u32, u32)> {
    let mut params = [0u8; abi::nv_rm::device_alloc_params::SIZE];
    params[..4].copy_from_slice(&device_id.to_le_bytes());
    alloc(ctl, client, client, handle, 0x80, Some(&mut params))
}

/// Framebuffer (0x40) or system (0x3E) memory of `size` bytes; returns the rounded size.
pub fn alloc_memory(
    ctl: &OwnedFd,
    client: u32,
    parent: u32,
    handle: u32,
    class: u32,
    size: u64,
) -> RmResult<u64> {
    // As large as the largest family's, so a driver of any family reads only what is here.
    let largest = abi::nv_family::FAMILIES
        .iter()
        .map(|f| f.memory_alloc_params_size)
        .max();
    let mut params = vec![0u8; largest.unwrap_or(0)];
    let at = memory_alloc_params::SIZE_OFFSET;
    params[at..at + 8].copy_from_slice(&size.to_le_bytes());
    match alloc(ctl, client, parent, handle, class, Some(&mut params)) {
        RmResult::Status(s, _) => {
            let mut out = [0u8; 8];
            out.copy_from_slice(&params[at..at + 8]);
            RmResult::Status(s, u64::from_le_bytes(out))
        }
        RmResult::Errno(e) => RmResult::Errno(e),
    }
}

/// RM_FREE.
pub fn free(ctl: &OwnedFd, client: u32, parent: u32, handle: u32) -> RmResult<()> {
    let mut p = Nvos00 {
        h_root: client,
        h_object_parent: parent,
        h_object_old: handle,
        status: 0,
    };
    match ioctl(ctl, iowr::<Nvos00>(NV_IOCTL_MAGIC, esc::RM_FREE), &mut p) {
        Ok(_) => RmResult::Status(p.status, ()),
        Err(e) => RmResult::Errno(e),
    }
}

/// RM_CONTROL with a parameter buffer.
pub fn control(
    ctl: &OwnedFd,
    client: u32,
    object: u32,
    cmd: u32,
    params: &mut [u8],
) -> RmResult<()> {
    let mut p = Nvos54 {
        h_client: client,
        h_object: object,
        cmd,
        flags: 0,
        params: params.as_mut_ptr() as u64,
        params_size: params.len() as u32,
        status: 0,
    };
    match ioctl(ctl, iowr::<Nvos54>(NV_IOCTL_MAGIC, esc::RM_CONTROL), &mut p) {
        Ok(_) => RmResult::Status(p.status, ()),
        Err(e) => RmResult::Errno(e),
    }
}

/// FB_GET_INFO_V2 on a subdevice of a driver of `family`: (total KiB, free KiB), as
/// cudaMemGetInfo reads them.
pub fn fb_total_free_kib(
    ctl: &OwnedFd,
    client: u32,
    subdevice: u32,
    family: &DriverFamily,
) -> RmResult<(u32, u32)> {
    let cmd = abi::nv_rm::ctrl::NV2080_CTRL_CMD_FB_GET_INFO_V2;
    let mut params = vec![0u8; family.control_size(cmd).unwrap_or(fb_info::PARAMS_SIZE)];
    params[0..4].copy_from_slice(&2u32.to_le_bytes());
    params[4..8].copy_from_slice(&fb_info::TOTAL_RAM_SIZE.to_le_bytes());
    params[12..16].copy_from_slice(&fb_info::HEAP_FREE.to_le_bytes());
    match control(ctl, client, subdevice, cmd, &mut params) {
        RmResult::Status(s, ()) => {
            let word = |at: usize| {
                u32::from_le_bytes([params[at], params[at + 1], params[at + 2], params[at + 3]])
            };
            RmResult::Status(s, (word(8), word(16)))
        }
        RmResult::Errno(e) => RmResult::Errno(e),
    }
}

/// FB_GET_INFO (the first version, whose list is pointed to) on a subdevice: (total KiB,
/// free KiB).
pub fn fb_total_free_kib_v1(ctl: &OwnedFd, client: u32, subdevice: u32) -> RmResult<(u32, u32)> {
    let mut list = [fb_info::TOTAL_RAM_SIZE, 0, fb_info::HEAP_FREE, 0];
    let mut params = [0u8; fb_info::V1_PARAMS_SIZE];
    params[0..4].copy_from_slice(&2u32.to_le_bytes());
    params[fb_info::V1_LIST_AT..].copy_from_slice(&(list.as_mut_ptr() as u64).to_le_bytes());
    match control(
        ctl,
        client,
        subdevice,
        abi::nv_rm::ctrl::NV2080_CTRL_CMD_FB_GET_INFO,
        &mut params,
    ) {
        RmResult::Status(s, ()) => RmResult::Status(s, (list[1], list[3])),
        RmResult::Errno(e) => RmResult::Errno(e),
    }
}

/// nvsim's ground truth (/sys/kernel/debug/nvsim/state): the value of `key` on the line
/// starting with `line`, e.g. `debugfs("gpu0", "fb_used")`.
pub fn debugfs(line: &str, key: &str) -> Result<u64, String> {
    let text = std::fs::read_to_string("/sys/kernel/debug/nvsim/state")
        .map_err(|e| format!("nvsim state: {e}"))?;
    let l = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(line))
        .ok_or_else(|| format!("no {line} line in nvsim state:\n{text}"))?;
    let words: Vec<&str> = l.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| *w == key)
        .ok_or_else(|| format!("no {key} in {l:?}"))?;
    words
        .get(i + 1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("bad {key} in {l:?}"))
}

/// RM_MAP_MEMORY (NVOS33 + fd): set up the mapping of `length` bytes at `offset` of memory
/// `memory` on the GPU file `map_fd`.
pub fn map_memory(
    ctl: &OwnedFd,
    client: u32,
    device: u32,
    memory: u32,
    offset: u64,
    length: u64,
    map_fd: i32,
) -> RmResult<()> {
    use abi::nv_rm::Nvos33WithFd;
    let mut p = Nvos33WithFd {
        h_client: client,
        h_device: device,
        h_memory: memory,
        offset,
        length,
        fd: map_fd,
        ..Default::default()
    };
    match ioctl(
        ctl,
        iowr::<Nvos33WithFd>(NV_IOCTL_MAGIC, esc::RM_MAP_MEMORY),
        &mut p,
    ) {
        Ok(_) => RmResult::Status(p.status, ()),
        Err(e) => RmResult::Errno(e),
    }
}

/// The inputs of an RM_VID_HEAP_CONTROL call.
#[derive(Clone, Copy, Debug, Default)]
pub struct VidHeap {
    /// `NVOS32_FUNCTION_*`.
    pub function: u32,
    /// hMemory (ALLOC_SIZE: 0 lets the RM pick; FREE: what to free).
    pub memory: u32,
    /// ALLOC_SIZE flags.
    pub flags: u32,
    /// ALLOC_SIZE attr (location in bits 26:25).
    pub attr: u32,
    /// ALLOC_SIZE size.
    pub size: u64,
}

/// RM_VID_HEAP_CONTROL on a 184-byte NVOS32. Returns (hMemory, size, total, free).
pub fn vid_heap(
    ctl: &OwnedFd,
    client: u32,
    device: u32,
    call: VidHeap,
) -> RmResult<(u32, u64, u64, u64)> {
    let VidHeap {
        function,
        memory,
        flags,
        attr,
        size,
    } = call;
    use abi::nv_rm::vid_heap as vh;
    let mut p = [0u8; vh::SIZE];
    let put32 =
        |p: &mut [u8; vh::SIZE], at: usize, v: u32| p[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put32(&mut p, vh::H_ROOT, client);
    put32(&mut p, vh::H_PARENT, device);
    put32(&mut p, vh::FUNCTION, function);
    put32(&mut p, vh::H_MEMORY, memory);
    put32(&mut p, vh::FLAGS, flags);
    put32(&mut p, vh::ATTR, attr);
    p[vh::ALLOC_SIZE..vh::ALLOC_SIZE + 8].copy_from_slice(&size.to_le_bytes());
    let cmd = abi::ioc::ioc(
        abi::ioc::IOC_READ | abi::ioc::IOC_WRITE,
        NV_IOCTL_MAGIC,
        esc::RM_VID_HEAP_CONTROL,
        vh::SIZE,
    );
    // SAFETY: `p` is a writable buffer of the size the command encodes.
    let r = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(ctl),
            cmd as libc::c_ulong,
            p.as_mut_ptr(),
        )
    };
    if r < 0 {
        return RmResult::Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    let u32_at = |at: usize| u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]]);
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&p[at..at + 8]);
        u64::from_le_bytes(b)
    };
    RmResult::Status(
        u32_at(vh::STATUS),
        (
            u32_at(vh::H_MEMORY),
            u64_at(vh::ALLOC_SIZE),
            u64_at(vh::TOTAL),
            u64_at(vh::FREE),
        ),
    )
}

/// RM_DUP_OBJECT: a handle `handle` (0: the RM picks) under `parent` of `client` to object
/// `src` of `src_client`. Returns the new handle.
pub fn dup(
    ctl: &OwnedFd,
    client: u32,
    parent: u32,
    handle: u32,
    src_client: u32,
    src: u32,
) -> RmResult<u32> {
    use abi::nv_rm::Nvos55;
    let mut p = Nvos55 {
        h_client: client,
        h_parent: parent,
        h_object: handle,
        h_client_src: src_client,
        h_object_src: src,
        ..Default::default()
    };
    match ioctl(
        ctl,
        iowr::<Nvos55>(NV_IOCTL_MAGIC, esc::RM_DUP_OBJECT),
        &mut p,
    ) {
        Ok(_) => RmResult::Status(p.status, p.h_object),
        Err(e) => RmResult::Errno(e),
    }
}

/// The framebuffer bytes nvsim's ground truth charges to each file with clients.
pub fn debugfs_file_fb() -> Result<Vec<u64>, String> {
    let text = std::fs::read_to_string("/sys/kernel/debug/nvsim/state")
        .map_err(|e| format!("nvsim state: {e}"))?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("file"))
        .filter_map(|l| l.split_whitespace().nth(2).and_then(|v| v.parse().ok()))
        .collect())
}
