//! The NVIDIA driver's device nodes and its frontend escapes (`nv-ioctl.h`,
//! `nv-ioctl-numbers.h`): numbers, exact parameter layouts and the rules the driver checks.
//!
//! Layouts are x86_64 and the same in the 535 and current 5xx families except where a
//! constant says otherwise. `tests/conformance` checks every size and offset here against
//! the headers of Debian's `nvidia-kernel-source` 535.309.01.

use super::pod::Pod;
use core::mem::{offset_of, size_of};

/// Major number of `/dev/nvidiactl` and `/dev/nvidiaN`.
pub const NV_MAJOR: u32 = 195;
/// Minor of `/dev/nvidiactl`.
pub const NV_CTL_MINOR: u32 = 255;
/// Minor of `/dev/nvidia-modeset`.
pub const NV_MODESET_MINOR: u32 = 254;
/// Highest GPU minor (`/dev/nvidia0` .. `/dev/nvidia247`).
pub const NV_GPU_MINOR_MAX: u32 = 247;
/// ioctl type letter of every frontend and RM escape (`NV_IOCTL_MAGIC`).
pub const NV_IOCTL_MAGIC: u8 = b'F';
/// First frontend escape number (`NV_IOCTL_BASE`).
pub const NV_IOCTL_BASE: u8 = 200;

/// Frontend escape numbers (`NV_ESC_*`, the ioctl's `_IOC_NR`).
pub mod esc {
    use super::NV_IOCTL_BASE;
    /// `NV_ESC_CARD_INFO`: array of [`super::NvIoctlCardInfo`].
    pub const CARD_INFO: u8 = NV_IOCTL_BASE;
    /// `NV_ESC_REGISTER_FD`: [`super::NvIoctlRegisterFd`].
    pub const REGISTER_FD: u8 = NV_IOCTL_BASE + 1;
    /// `NV_ESC_ALLOC_OS_EVENT`: [`super::NvIoctlOsEvent`].
    pub const ALLOC_OS_EVENT: u8 = NV_IOCTL_BASE + 6;
    /// `NV_ESC_FREE_OS_EVENT`: [`super::NvIoctlOsEvent`].
    pub const FREE_OS_EVENT: u8 = NV_IOCTL_BASE + 7;
    /// `NV_ESC_STATUS_CODE`: [`super::NvIoctlStatusCode`].
    pub const STATUS_CODE: u8 = NV_IOCTL_BASE + 9;
    /// `NV_ESC_CHECK_VERSION_STR`: [`super::NvIoctlRmApiVersion`].
    pub const CHECK_VERSION_STR: u8 = NV_IOCTL_BASE + 10;
    /// `NV_ESC_IOCTL_XFER_CMD`: [`super::NvIoctlXfer`], wrapping another escape.
    pub const IOCTL_XFER_CMD: u8 = NV_IOCTL_BASE + 11;
    /// `NV_ESC_ATTACH_GPUS_TO_FD`: array of `u32` GPU ids.
    pub const ATTACH_GPUS_TO_FD: u8 = NV_IOCTL_BASE + 12;
    /// `NV_ESC_QUERY_DEVICE_INTR`: [`super::NvIoctlQueryDeviceIntr`].
    pub const QUERY_DEVICE_INTR: u8 = NV_IOCTL_BASE + 13;
    /// `NV_ESC_SYS_PARAMS`: [`super::NvIoctlSysParams`].
    pub const SYS_PARAMS: u8 = NV_IOCTL_BASE + 14;
    /// `NV_ESC_NUMA_INFO`: `nv_ioctl_numa_info_t` (see [`super::numa_info`]), GPU nodes only.
    pub const NUMA_INFO: u8 = NV_IOCTL_BASE + 15;
    /// `NV_ESC_EXPORT_TO_DMABUF_FD`: [`super::NvIoctlExportToDmaBufFd`].
    pub const EXPORT_TO_DMABUF_FD: u8 = NV_IOCTL_BASE + 17;
    /// `NV_ESC_WAIT_OPEN_COMPLETE` (550 on, see `nv_family`): [`super::NvIoctlWaitOpenComplete`].
    pub const WAIT_OPEN_COMPLETE: u8 = NV_IOCTL_BASE + 18;
}

/// `nv_ioctl_wait_open_complete_t` (550 on): the result of an open the driver finished in
/// the background.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvIoctlWaitOpenComplete {
    /// The open's result (0 or a negative errno).
    pub rc: i32,
    /// `NV_STATUS` of the adapter's start.
    pub adapter_status: u32,
}

// SAFETY: `#[repr(C)]`, two 32-bit integers, no padding.
unsafe impl Pod for NvIoctlWaitOpenComplete {}

/// The frontend claims of families that have WAIT_OPEN_COMPLETE, for `tests/conformance`.
pub const WAIT_OPEN_COMPLETE_CLAIMS: &[(&str, usize)] = &[
    (
        "NV_ESC_WAIT_OPEN_COMPLETE",
        esc::WAIT_OPEN_COMPLETE as usize,
    ),
    (
        "sizeof(nv_ioctl_wait_open_complete_t)",
        size_of::<NvIoctlWaitOpenComplete>(),
    ),
    (
        "offsetof(nv_ioctl_wait_open_complete_t,adapterStatus)",
        offset_of!(NvIoctlWaitOpenComplete, adapter_status),
    ),
];

/// `nv_ioctl_numa_info_t` (`nv-ioctl-numa.h`): a GPU's NUMA memory as the system assigned
/// it. Only the fields nvsim answers are named; the rest is the offline-address list.
pub mod numa_info {
    /// Its size.
    pub const SIZE: usize = 560;
    /// `int32_t nid`: the NUMA node, -1 for none.
    pub const NID: usize = 0;
    /// `int32_t status` (`NV_IOCTL_NUMA_STATUS_*`, 0 = disabled).
    pub const STATUS: usize = 4;
    /// `uint64_t memblock_size`: what SYS_PARAMS recorded.
    pub const MEMBLOCK_SIZE: usize = 8;
    /// `offline_addresses.numEntries`.
    pub const OFFLINE_ENTRIES: usize = 552;
}

/// `nv_pci_info_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvPciInfo {
    /// PCI domain.
    pub domain: u32,
    /// PCI bus.
    pub bus: u8,
    /// PCI slot (device).
    pub slot: u8,
    /// PCI function.
    pub function: u8,
    /// Padding before `vendor_id`.
    pub pad: u8,
    /// PCI vendor id (0x10de).
    pub vendor_id: u16,
    /// PCI device id.
    pub device_id: u16,
}

/// `nv_ioctl_xfer_t`: an escape too large for the ioctl number's 14-bit size.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvIoctlXfer {
    /// The inner escape number.
    pub cmd: u32,
    /// Size of the inner parameters.
    pub size: u32,
    /// User pointer to the inner parameters.
    pub ptr: u64,
}

/// Largest inner size `IOCTL_XFER_CMD` accepts (`NV_ABSOLUTE_MAX_IOCTL_SIZE`).
pub const NV_XFER_MAX_SIZE: u32 = 16384;

/// `nv_ioctl_card_info_t`: one entry per possible GPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvIoctlCardInfo {
    /// Non-zero if this entry describes a GPU.
    pub valid: u8,
    /// Padding.
    pub pad0: [u8; 3],
    /// Where the GPU sits on PCI.
    pub pci_info: NvPciInfo,
    /// The RM's id of the GPU.
    pub gpu_id: u32,
    /// Interrupt line.
    pub interrupt_line: u16,
    /// Padding.
    pub pad1: [u8; 2],
    /// BAR0 address.
    pub reg_address: u64,
    /// BAR0 size.
    pub reg_size: u64,
    /// Framebuffer BAR address.
    pub fb_address: u64,
    /// Framebuffer BAR size.
    pub fb_size: u64,
    /// Minor of `/dev/nvidiaN`.
    pub minor_number: u32,
    /// Device name (unused on Linux).
    pub dev_name: [u8; 10],
    /// Padding.
    pub pad2: [u8; 2],
}

/// `nv_ioctl_alloc_os_event_t` and `nv_ioctl_free_os_event_t` (same layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvIoctlOsEvent {
    /// Client handle.
    pub h_client: u32,
    /// Device handle.
    pub h_device: u32,
    /// The fd as a number: a key only, never resolved by the driver.
    pub fd: u32,
    /// RM status out.
    pub status: u32,
}

/// `nv_ioctl_status_code_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvIoctlStatusCode {
    /// PCI domain.
    pub domain: u32,
    /// PCI bus.
    pub bus: u8,
    /// PCI slot.
    pub slot: u8,
    /// Padding.
    pub pad: [u8; 2],
    /// Status out.
    pub status: u32,
}

/// Length of the version string in [`NvIoctlRmApiVersion`].
pub const NV_RM_API_VERSION_STRING_LENGTH: usize = 64;
/// `cmd` of CHECK_VERSION_STR: the versions must match exactly.
pub const NV_RM_API_VERSION_CMD_STRICT: u32 = 0;
/// `cmd`: accept any version.
pub const NV_RM_API_VERSION_CMD_RELAXED: u32 = b'1' as u32;
/// `cmd`: report the driver's version.
pub const NV_RM_API_VERSION_CMD_QUERY: u32 = b'2' as u32;
/// `reply`: the version is not accepted.
pub const NV_RM_API_VERSION_REPLY_UNRECOGNIZED: u32 = 0;
/// `reply`: the version is accepted.
pub const NV_RM_API_VERSION_REPLY_RECOGNIZED: u32 = 1;

/// `nv_ioctl_rm_api_version_t`: CHECK_VERSION_STR.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NvIoctlRmApiVersion {
    /// One of `NV_RM_API_VERSION_CMD_*`.
    pub cmd: u32,
    /// One of `NV_RM_API_VERSION_REPLY_*` (out).
    pub reply: u32,
    /// NUL-terminated version: the client's in, the driver's out.
    pub version_string: [u8; NV_RM_API_VERSION_STRING_LENGTH],
}

impl Default for NvIoctlRmApiVersion {
    fn default() -> Self {
        Self {
            cmd: 0,
            reply: 0,
            version_string: [0; NV_RM_API_VERSION_STRING_LENGTH],
        }
    }
}

/// `nv_ioctl_query_device_intr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvIoctlQueryDeviceIntr {
    /// Interrupt status out.
    pub intr_status: u32,
    /// Status out.
    pub status: u32,
}

/// `nv_ioctl_sys_params_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvIoctlSysParams {
    /// Memory block size of the system (memory hotplug granularity).
    pub memblock_size: u64,
}

/// `nv_ioctl_register_fd_t`: ties a `/dev/nvidiaN` file to the client's nvidiactl file.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvIoctlRegisterFd {
    /// An fd of the caller's that must be an open nvidiactl file.
    pub ctl_fd: i32,
}

/// Handles per EXPORT_TO_DMABUF_FD call (`NV_DMABUF_EXPORT_MAX_HANDLES`).
pub const NV_DMABUF_EXPORT_MAX_HANDLES: usize = 128;

/// `nv_ioctl_export_to_dma_buf_fd_t` (2600 bytes in 535; later series add a field).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct NvIoctlExportToDmaBufFd {
    /// In: -1 for a new dma-buf, or the dma-buf to add to; out: the dma-buf fd.
    pub fd: i32,
    /// Client handle.
    pub h_client: u32,
    /// Objects in the whole dma-buf.
    pub total_objects: u32,
    /// Objects in this call.
    pub num_objects: u32,
    /// Index of the first object of this call.
    pub index: u32,
    /// Padding.
    pub pad: u32,
    /// Size of the whole dma-buf.
    pub total_size: u64,
    /// Memory handles.
    pub handles: [u32; NV_DMABUF_EXPORT_MAX_HANDLES],
    /// Offsets within each memory object.
    pub offsets: [u64; NV_DMABUF_EXPORT_MAX_HANDLES],
    /// Sizes of each range.
    pub sizes: [u64; NV_DMABUF_EXPORT_MAX_HANDLES],
    /// RM status out.
    pub status: u32,
    /// Padding.
    pub pad2: u32,
}

const _: () = {
    assert!(size_of::<NvPciInfo>() == 12);
    assert!(size_of::<NvIoctlXfer>() == 16);
    assert!(size_of::<NvIoctlCardInfo>() == 72);
    assert!(offset_of!(NvIoctlCardInfo, gpu_id) == 16);
    assert!(offset_of!(NvIoctlCardInfo, reg_address) == 24);
    assert!(offset_of!(NvIoctlCardInfo, fb_size) == 48);
    assert!(offset_of!(NvIoctlCardInfo, minor_number) == 56);
    assert!(offset_of!(NvIoctlCardInfo, dev_name) == 60);
    assert!(size_of::<NvIoctlOsEvent>() == 16);
    assert!(size_of::<NvIoctlStatusCode>() == 12);
    assert!(size_of::<NvIoctlRmApiVersion>() == 72);
    assert!(size_of::<NvIoctlQueryDeviceIntr>() == 8);
    assert!(size_of::<NvIoctlSysParams>() == 8);
    assert!(size_of::<NvIoctlRegisterFd>() == 4);
    assert!(size_of::<NvIoctlExportToDmaBufFd>() == 2600);
    assert!(offset_of!(NvIoctlExportToDmaBufFd, total_size) == 24);
    assert!(offset_of!(NvIoctlExportToDmaBufFd, status) == 2592);
};

// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvPciInfo {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlXfer {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlCardInfo {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlOsEvent {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlStatusCode {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlRmApiVersion {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlQueryDeviceIntr {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlSysParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlRegisterFd {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvIoctlExportToDmaBufFd {}

/// `EINVAL`, the driver's answer to a malformed `IOCTL_XFER_CMD`.
const XFER_EINVAL: i32 = 22;

/// The outer size an `IOCTL_XFER_CMD` must have, and the largest inner size it may carry:
/// `Ok((inner cmd, inner size, inner ptr))` or EINVAL.
pub fn unwrap_xfer(outer_size: usize, xfer: &NvIoctlXfer) -> Result<(u8, usize, u64), i32> {
    if outer_size != core::mem::size_of::<NvIoctlXfer>() || xfer.size > NV_XFER_MAX_SIZE {
        return Err(XFER_EINVAL);
    }
    // The driver switches on the whole inner command; numbers above 255 match no escape and
    // go to the RM, which refuses them. Truncating would alias them to a real escape.
    let cmd = u8::try_from(xfer.cmd).map_err(|_| XFER_EINVAL)?;
    Ok((cmd, xfer.size as usize, xfer.ptr))
}

/// The layout claims of this file, as `(C name, value)`, for `tests/conformance`.
pub const LAYOUT_CLAIMS: &[(&str, usize)] = &[
    ("sizeof(nv_pci_info_t)", size_of::<NvPciInfo>()),
    (
        "offsetof(nv_pci_info_t,vendor_id)",
        offset_of!(NvPciInfo, vendor_id),
    ),
    (
        "offsetof(nv_pci_info_t,device_id)",
        offset_of!(NvPciInfo, device_id),
    ),
    ("sizeof(nv_ioctl_xfer_t)", size_of::<NvIoctlXfer>()),
    (
        "offsetof(nv_ioctl_xfer_t,size)",
        offset_of!(NvIoctlXfer, size),
    ),
    (
        "offsetof(nv_ioctl_xfer_t,ptr)",
        offset_of!(NvIoctlXfer, ptr),
    ),
    ("sizeof(nv_ioctl_card_info_t)", size_of::<NvIoctlCardInfo>()),
    (
        "offsetof(nv_ioctl_card_info_t,pci_info)",
        offset_of!(NvIoctlCardInfo, pci_info),
    ),
    (
        "offsetof(nv_ioctl_card_info_t,gpu_id)",
        offset_of!(NvIoctlCardInfo, gpu_id),
    ),
    (
        "offsetof(nv_ioctl_card_info_t,interrupt_line)",
        offset_of!(NvIoctlCardInfo, interrupt_line),
    ),
    (
        "offsetof(nv_ioctl_card_info_t,reg_address)",
        offset_of!(NvIoctlCardInfo, reg_address),
    ),
    (
        "offsetof(nv_ioctl_card_info_t,reg_size)",
        offset_of!(NvIoctlCardInfo, reg_size),
    ),
    (
        "offsetof(nv_ioctl_card_info_t,fb_address)",
        offset_of!(NvIoctlCardInfo, fb_address),
    ),
    (
        "offsetof(nv_ioctl_card_info_t,fb_size)",
        offset_of!(NvIoctlCardInfo, fb_size),
    ),
    (
        "offsetof(nv_ioctl_card_info_t,minor_number)",
        offset_of!(NvIoctlCardInfo, minor_number),
    ),
    (
        "offsetof(nv_ioctl_card_info_t,dev_name)",
        offset_of!(NvIoctlCardInfo, dev_name),
    ),
    (
        "sizeof(nv_ioctl_alloc_os_event_t)",
        size_of::<NvIoctlOsEvent>(),
    ),
    (
        "sizeof(nv_ioctl_free_os_event_t)",
        size_of::<NvIoctlOsEvent>(),
    ),
    (
        "offsetof(nv_ioctl_alloc_os_event_t,fd)",
        offset_of!(NvIoctlOsEvent, fd),
    ),
    (
        "offsetof(nv_ioctl_alloc_os_event_t,Status)",
        offset_of!(NvIoctlOsEvent, status),
    ),
    (
        "sizeof(nv_ioctl_status_code_t)",
        size_of::<NvIoctlStatusCode>(),
    ),
    (
        "offsetof(nv_ioctl_status_code_t,status)",
        offset_of!(NvIoctlStatusCode, status),
    ),
    (
        "sizeof(nv_ioctl_rm_api_version_t)",
        size_of::<NvIoctlRmApiVersion>(),
    ),
    (
        "offsetof(nv_ioctl_rm_api_version_t,versionString)",
        offset_of!(NvIoctlRmApiVersion, version_string),
    ),
    (
        "NV_RM_API_VERSION_STRING_LENGTH",
        NV_RM_API_VERSION_STRING_LENGTH,
    ),
    (
        "NV_RM_API_VERSION_CMD_STRICT",
        NV_RM_API_VERSION_CMD_STRICT as usize,
    ),
    (
        "NV_RM_API_VERSION_CMD_RELAXED",
        NV_RM_API_VERSION_CMD_RELAXED as usize,
    ),
    (
        "NV_RM_API_VERSION_CMD_QUERY",
        NV_RM_API_VERSION_CMD_QUERY as usize,
    ),
    (
        "NV_RM_API_VERSION_REPLY_UNRECOGNIZED",
        NV_RM_API_VERSION_REPLY_UNRECOGNIZED as usize,
    ),
    (
        "NV_RM_API_VERSION_REPLY_RECOGNIZED",
        NV_RM_API_VERSION_REPLY_RECOGNIZED as usize,
    ),
    (
        "sizeof(nv_ioctl_query_device_intr)",
        size_of::<NvIoctlQueryDeviceIntr>(),
    ),
    (
        "sizeof(nv_ioctl_sys_params_t)",
        size_of::<NvIoctlSysParams>(),
    ),
    (
        "sizeof(nv_ioctl_register_fd_t)",
        size_of::<NvIoctlRegisterFd>(),
    ),
    (
        "sizeof(nv_ioctl_export_to_dma_buf_fd_t)",
        size_of::<NvIoctlExportToDmaBufFd>(),
    ),
    (
        "offsetof(nv_ioctl_export_to_dma_buf_fd_t,totalSize)",
        offset_of!(NvIoctlExportToDmaBufFd, total_size),
    ),
    (
        "offsetof(nv_ioctl_export_to_dma_buf_fd_t,handles)",
        offset_of!(NvIoctlExportToDmaBufFd, handles),
    ),
    (
        "offsetof(nv_ioctl_export_to_dma_buf_fd_t,offsets)",
        offset_of!(NvIoctlExportToDmaBufFd, offsets),
    ),
    (
        "offsetof(nv_ioctl_export_to_dma_buf_fd_t,sizes)",
        offset_of!(NvIoctlExportToDmaBufFd, sizes),
    ),
    (
        "offsetof(nv_ioctl_export_to_dma_buf_fd_t,status)",
        offset_of!(NvIoctlExportToDmaBufFd, status),
    ),
    ("NV_DMABUF_EXPORT_MAX_HANDLES", NV_DMABUF_EXPORT_MAX_HANDLES),
    ("NV_IOCTL_MAGIC", NV_IOCTL_MAGIC as usize),
    ("NV_IOCTL_BASE", NV_IOCTL_BASE as usize),
    ("NV_ESC_CARD_INFO", esc::CARD_INFO as usize),
    ("NV_ESC_REGISTER_FD", esc::REGISTER_FD as usize),
    ("NV_ESC_ALLOC_OS_EVENT", esc::ALLOC_OS_EVENT as usize),
    ("NV_ESC_FREE_OS_EVENT", esc::FREE_OS_EVENT as usize),
    ("NV_ESC_STATUS_CODE", esc::STATUS_CODE as usize),
    ("NV_ESC_CHECK_VERSION_STR", esc::CHECK_VERSION_STR as usize),
    ("NV_ESC_IOCTL_XFER_CMD", esc::IOCTL_XFER_CMD as usize),
    ("NV_ESC_ATTACH_GPUS_TO_FD", esc::ATTACH_GPUS_TO_FD as usize),
    ("NV_ESC_QUERY_DEVICE_INTR", esc::QUERY_DEVICE_INTR as usize),
    ("NV_ESC_SYS_PARAMS", esc::SYS_PARAMS as usize),
    ("NV_ESC_NUMA_INFO", esc::NUMA_INFO as usize),
    ("sizeof(nv_ioctl_numa_info_t)", numa_info::SIZE),
    ("offsetof(nv_ioctl_numa_info_t,status)", numa_info::STATUS),
    (
        "offsetof(nv_ioctl_numa_info_t,memblock_size)",
        numa_info::MEMBLOCK_SIZE,
    ),
    (
        "offsetof(nv_ioctl_numa_info_t,offline_addresses.numEntries)",
        numa_info::OFFLINE_ENTRIES,
    ),
    (
        "NV_ESC_EXPORT_TO_DMABUF_FD",
        esc::EXPORT_TO_DMABUF_FD as usize,
    ),
];
