//! The RM escapes of the NVIDIA driver (`nvos.h`, `nv_escape.h`): numbers, the `NVOS*`
//! parameter structs and the class ids that matter for metering.
//!
//! Debian does not ship `nvos.h` (the RM's SDK headers are not in its kernel-source
//! packages), so these layouts are checked at compile time here and against NVIDIA's
//! open-gpu-kernel-modules sources by hand; the 535 and current series agree on them except
//! where noted.

use super::pod::Pod;
use core::mem::{offset_of, size_of};

/// RM escape numbers (`NV_ESC_RM_*`).
pub mod esc {
    /// `NV_ESC_RM_ALLOC_MEMORY`: NVOS02 + fd, on `/dev/nvidiaN`.
    pub const RM_ALLOC_MEMORY: u8 = 0x27;
    /// `NV_ESC_RM_FREE`: [`super::Nvos00`].
    pub const RM_FREE: u8 = 0x29;
    /// `NV_ESC_RM_CONTROL`: [`super::Nvos54`].
    pub const RM_CONTROL: u8 = 0x2a;
    /// `NV_ESC_RM_ALLOC`: [`super::Nvos21`] or [`super::Nvos64`].
    pub const RM_ALLOC: u8 = 0x2b;
    /// `NV_ESC_RM_DUP_OBJECT`.
    pub const RM_DUP_OBJECT: u8 = 0x34;
    /// `NV_ESC_RM_SHARE`.
    pub const RM_SHARE: u8 = 0x35;
    /// `NV_ESC_RM_VID_HEAP_CONTROL`: NVOS32.
    pub const RM_VID_HEAP_CONTROL: u8 = 0x4a;
    /// `NV_ESC_RM_GET_EVENT_DATA`: [`super::Nvos41`], on the file the events were
    /// registered on.
    pub const RM_GET_EVENT_DATA: u8 = 0x52;
    /// `NV_ESC_RM_MAP_MEMORY`: NVOS33 + fd.
    pub const RM_MAP_MEMORY: u8 = 0x4e;
    /// `NV_ESC_RM_UNMAP_MEMORY`: NVOS34.
    pub const RM_UNMAP_MEMORY: u8 = 0x4f;
    /// `NV_ESC_RM_MAP_MEMORY_DMA`: NVOS46.
    pub const RM_MAP_MEMORY_DMA: u8 = 0x57;
    /// `NV_ESC_RM_UNMAP_MEMORY_DMA`: NVOS47.
    pub const RM_UNMAP_MEMORY_DMA: u8 = 0x58;
    /// `NV_ESC_RM_UPDATE_DEVICE_MAPPING_INFO`: NVOS56, 40 bytes (hClient, hDevice, hMemory,
    /// old and new CPU address at 16 and 24, status at 32): tells the RM where a mapping
    /// ended up.
    pub const RM_UPDATE_DEVICE_MAPPING_INFO: u8 = 0x5e;
}

/// `NVOS00_PARAMETERS`: RM_FREE.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nvos00 {
    /// The client.
    pub h_root: u32,
    /// Parent of the object.
    pub h_object_parent: u32,
    /// The object to free (the client itself frees the whole client).
    pub h_object_old: u32,
    /// RM status out.
    pub status: u32,
}

/// `NVOS21_PARAMETERS`: RM_ALLOC, 32-byte form.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nvos21 {
    /// The client (for a client allocation: in 0 or a handle, out the new client).
    pub h_root: u32,
    /// Parent of the new object.
    pub h_object_parent: u32,
    /// Handle of the new object (0: the RM picks, out).
    pub h_object_new: u32,
    /// Class of the new object.
    pub h_class: u32,
    /// User pointer to the class's allocation parameters.
    pub p_alloc_parms: u64,
    /// Size of those parameters (the driver derives it from the class instead).
    pub params_size: u32,
    /// RM status out.
    pub status: u32,
}

/// `NVOS64_PARAMETERS`: RM_ALLOC, 48-byte form with access rights.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nvos64 {
    /// As in [`Nvos21`].
    pub h_root: u32,
    /// As in [`Nvos21`].
    pub h_object_parent: u32,
    /// As in [`Nvos21`].
    pub h_object_new: u32,
    /// As in [`Nvos21`].
    pub h_class: u32,
    /// As in [`Nvos21`].
    pub p_alloc_parms: u64,
    /// User pointer to the requested access rights.
    pub p_rights_requested: u64,
    /// As in [`Nvos21`].
    pub params_size: u32,
    /// Allocation flags.
    pub flags: u32,
    /// RM status out.
    pub status: u32,
    /// Padding.
    pub pad: u32,
}

/// `NVOS54_PARAMETERS`: RM_CONTROL.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nvos54 {
    /// The client.
    pub h_client: u32,
    /// The object the command goes to.
    pub h_object: u32,
    /// The control command.
    pub cmd: u32,
    /// Flags.
    pub flags: u32,
    /// User pointer to the command's parameters.
    pub params: u64,
    /// Size of those parameters (at most 1 MiB).
    pub params_size: u32,
    /// RM status out.
    pub status: u32,
}

/// `NV_MEMORY_ALLOCATION_PARAMS` (memory classes 0x40 and 0x3E): the fields nvsim reads.
/// Its size differs by family (`nv_family`); `size` is at 64 in all.
pub mod memory_alloc_params {
    /// Offset of `size` (u64, in/out: the driver rounds it up).
    pub const SIZE_OFFSET: usize = 64;
}

/// `NVOS32_PARAMETERS` (RM_VID_HEAP_CONTROL, 184 bytes): offsets of the fields nvsim uses.
pub mod vid_heap {
    /// Size of the parameters.
    pub const SIZE: usize = 184;
    /// `hRoot` (u32): the client.
    pub const H_ROOT: usize = 0;
    /// `hObjectParent` (u32): the device.
    pub const H_PARENT: usize = 4;
    /// `function` (u32).
    pub const FUNCTION: usize = 8;
    /// `status` (u32).
    pub const STATUS: usize = 20;
    /// `total` (u64): heap size in bytes.
    pub const TOTAL: usize = 24;
    /// `free` (u64): free heap in bytes.
    pub const FREE: usize = 32;
    /// `data.AllocSize.hMemory` / `data.Free.hMemory` (u32; 0 asks the RM to pick).
    pub const H_MEMORY: usize = 44;
    /// `data.AllocSize.flags` (u32).
    pub const FLAGS: usize = 52;
    /// `data.AllocSize.attr` (u32).
    pub const ATTR: usize = 56;
    /// `data.AllocSize.size` (u64, in/out).
    pub const ALLOC_SIZE: usize = 88;
    /// `NVOS32_FUNCTION_ALLOC_SIZE`.
    pub const FUNCTION_ALLOC_SIZE: u32 = 2;
    /// `NVOS32_FUNCTION_FREE`.
    pub const FUNCTION_FREE: u32 = 3;
    /// `NVOS32_FUNCTION_INFO`.
    pub const FUNCTION_INFO: u32 = 5;
    /// `NVOS32_ALLOC_FLAGS_VIRTUAL`: no physical memory.
    pub const FLAGS_VIRTUAL: u32 = 0x0008_0000;
    /// `NVOS32_ATTR_LOCATION`: bits 26:25, 0 = video memory.
    pub const fn location(attr: u32) -> u32 {
        (attr >> 25) & 3
    }
}

/// `NV_OS_DESC_MEMORY_ALLOCATION_PARAMS` (class 0x71, 40 bytes): pinned user memory.
pub mod os_desc_alloc_params {
    /// Size of the struct.
    pub const SIZE: usize = 40;
    /// Offset of `descriptor` (u64 user pointer).
    pub const DESCRIPTOR_OFFSET: usize = 16;
    /// Offset of `limit` (u64): size - 1.
    pub const LIMIT_OFFSET: usize = 24;
}

/// `NV0080_ALLOC_PARAMETERS` (device): 56 bytes in 535; nvsim reads `deviceId`.
pub mod device_alloc_params {
    /// Offset of `deviceId` (u32): which GPU.
    pub const DEVICE_ID_OFFSET: usize = 0;
    /// Size of the struct, which the RM copies in whole.
    pub const SIZE: usize = 56;
}

/// `NV_CTXSHARE_ALLOCATION_PARAMETERS` (FERMI_CONTEXT_SHARE_A, `nvos.h`): hVASpace, flags,
/// subctxId (in with `_SPECIFIED`, out always).
pub mod ctxshare_alloc_params {
    /// Offset of `flags` (u32); `_SUBCONTEXT` is bits 1:0.
    pub const FLAGS_OFFSET: usize = 4;
    /// Offset of `subctxId` (u32).
    pub const SUBCTX_ID_OFFSET: usize = 8;
    /// Size of the struct.
    pub const SIZE: usize = 12;
    /// `_SUBCONTEXT_SYNC`: VEID 0.
    pub const SUBCONTEXT_SYNC: u32 = 0;
    /// `_SUBCONTEXT_ASYNC`: the highest free VEID above 0.
    pub const SUBCONTEXT_ASYNC: u32 = 1;
    /// `_SUBCONTEXT_SPECIFIED`: the VEID in `subctxId`.
    pub const SUBCONTEXT_SPECIFIED: u32 = 2;
}

/// `NV_CHANNEL_ALLOC_PARAMS` (the GPFIFO channel classes, `alloc_channel.h`): the fields
/// nvsim reads.
pub mod channel_alloc_params {
    /// `hObjectError` (u32): the error notifier's memory.
    pub const H_OBJECT_ERROR: usize = 0;
    /// `gpFifoOffset` (u64): GPU VA of the GPFIFO ring.
    pub const GPFIFO_OFFSET: usize = 8;
    /// `gpFifoEntries` (u32): entries of the ring (8 bytes each).
    pub const GPFIFO_ENTRIES: usize = 16;
    /// `flags` (u32).
    pub const FLAGS: usize = 20;
    /// `hContextShare` (u32).
    pub const H_CONTEXT_SHARE: usize = 24;
    /// `hVASpace` (u32).
    pub const H_VASPACE: usize = 28;
    /// `hUserdMemory[0]` (u32): the USERD's memory (8 subdevices; nvsim has one).
    pub const H_USERD: usize = 32;
    /// `userdOffset[0]` (u64): where USERD starts in it.
    pub const USERD_OFFSET: usize = 64;
    /// `engineType` (u32): `NV2080_ENGINE_TYPE_*`.
    pub const ENGINE_TYPE: usize = 128;
    /// Size of the struct in 535.
    pub const SIZE: usize = 360;
}

/// `NV83DE_ALLOC_PARAMETERS` (GT200_DEBUGGER): hDebuggerClient_Obsolete, hAppClient (0: the
/// calling client), hClass3dObject (a graphics or compute object of that client).
pub mod debugger_alloc_params {
    /// Offset of `hAppClient`.
    pub const H_APP_CLIENT: usize = 4;
    /// Offset of `hClass3dObject`.
    pub const H_OBJECT: usize = 8;
    /// Size of the struct.
    pub const SIZE: usize = 12;
}

/// `NV2080_ENGINE_TYPE_*` (`cl2080_notification.h`).
pub mod engine_type {
    /// `NV2080_ENGINE_TYPE_GR0` (graphics and compute).
    pub const GR0: u32 = 0x1;
    /// `NV2080_ENGINE_TYPE_COPY0`; COPYn is COPY0 + n.
    pub const COPY0: u32 = 0x9;
    /// `NV2080_ENGINE_TYPE_COPY9`, the last copy engine.
    pub const COPY9: u32 = 0x12;
}

/// `NV0005_ALLOC_PARAMETERS` (the event classes, `cl0005.h`): hParentClient, hSrcResource
/// (which the RM overwrites with the allocation's parent, whose notifier the event joins),
/// hClass, notifyIndex, data (u64: for NV01_EVENT_OS_EVENT the fd key an ALLOC_OS_EVENT
/// registered).
pub mod event_alloc_params {
    /// Offset of `hSrcResource`.
    pub const H_SRC_RESOURCE: usize = 4;
    /// Offset of `notifyIndex`: the notifier in bits 15:0, flags in 31:24.
    pub const NOTIFY_INDEX: usize = 12;
    /// Offset of `data` (u64).
    pub const DATA: usize = 16;
    /// Size of the struct.
    pub const SIZE: usize = 24;
    /// `NV0005_NOTIFY_INDEX_INDEX` (15:0): the notifier itself.
    pub const INDEX_MASK: u32 = 0xffff;
    /// `NV01_EVENT_WITHOUT_EVENT_DATA` (`nvos.h`): a dataless event (poll only).
    pub const WITHOUT_EVENT_DATA: u32 = 0x1000_0000;
    /// `NV01_EVENT_NONSTALL_INTR`: fires on its engine's non-stall interrupts; its source
    /// must be a subdevice.
    pub const NONSTALL_INTR: u32 = 0x0800_0000;
}

/// `NV2080_NOTIFIERS_*` (`cl2080_notification.h`) that non-stall interrupts notify.
pub mod notifiers {
    /// `NV2080_NOTIFIERS_GR0` (`_GRAPHICS`).
    pub const GR0: u32 = 12;
    /// `NV2080_NOTIFIERS_CE0`; CEn is CE0 + n up to CE9.
    pub const CE0: u32 = 23;
    /// `NV2080_NOTIFIERS_CE9`.
    pub const CE9: u32 = 32;
    /// `NV2080_NOTIFIERS_FIFO_EVENT_MTHD`: the host engine's.
    pub const FIFO_EVENT_MTHD: u32 = 35;
}

/// `NVOS41_PARAMETERS` (GET_EVENT_DATA, escape 0x52): where to write the next event, and
/// whether more are queued.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nvos41 {
    /// User address of an [`NvUnixEvent`].
    pub p_event: u64,
    /// Out: non-zero if more events are queued.
    pub more_events: u32,
    /// RM status out.
    pub status: u32,
}

/// `NvUnixEvent` (`nvos.h`): one event GET_EVENT_DATA hands out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvUnixEvent {
    /// The event object's handle.
    pub h_object: u32,
    /// The notifier (flags stripped).
    pub notify_index: u32,
    /// As NvNotification's `info32`.
    pub info32: u32,
    /// As NvNotification's `info16`.
    pub info16: u16,
    /// Tail padding of the C struct.
    pub pad: u16,
}

/// `NV_VASPACE_ALLOCATION_PARAMETERS` (FERMI_VASPACE_A): 48 bytes in 535.
pub const VASPACE_ALLOC_PARAMS_SIZE: usize = 48;

/// Whether RM escape `nr` may be issued on the node (`on_ctl`: nvidiactl, else
/// `/dev/nvidiaN`); `class` is RM_ALLOC's hClass. The RM answers EINVAL otherwise.
pub fn node_allows(nr: u8, on_ctl: bool, class: Option<u32>) -> bool {
    match nr {
        esc::RM_ALLOC => on_ctl || class == Some(class::NV01_EVENT_OS_EVENT),
        esc::RM_ALLOC_MEMORY => !on_ctl,
        _ => on_ctl || !CTL_ONLY_ESCAPES.contains(&nr),
    }
}

/// Escapes the RM accepts only on nvidiactl (EINVAL on `/dev/nvidiaN`); RM_ALLOC is ctl-only
/// too except for OS-event classes, and RM_ALLOC_MEMORY is device-only (see [`node_allows`]).
pub const CTL_ONLY_ESCAPES: [u8; 10] = [
    esc::RM_UPDATE_DEVICE_MAPPING_INFO,
    esc::RM_FREE,
    esc::RM_CONTROL,
    esc::RM_VID_HEAP_CONTROL,
    esc::RM_MAP_MEMORY,
    esc::RM_UNMAP_MEMORY,
    esc::RM_MAP_MEMORY_DMA,
    esc::RM_UNMAP_MEMORY_DMA,
    esc::RM_DUP_OBJECT,
    esc::RM_SHARE,
];

/// Class ids.
pub mod class {
    /// `NV01_NULL_OBJECT`, also accepted as a root client class.
    pub const NV01_NULL_OBJECT: u32 = 0x0;
    /// `NV01_ROOT_NON_PRIV`.
    pub const NV01_ROOT_NON_PRIV: u32 = 0x1;
    /// `NV01_ROOT_CLIENT`.
    pub const NV01_ROOT_CLIENT: u32 = 0x41;
    /// `NV01_MEMORY_SYSTEM`: pinned host memory.
    pub const NV01_MEMORY_SYSTEM: u32 = 0x3e;
    /// `NV01_MEMORY_LOCAL_USER`: GPU framebuffer memory.
    pub const NV01_MEMORY_LOCAL_USER: u32 = 0x40;
    /// `NV01_MEMORY_VIRTUAL`.
    pub const NV01_MEMORY_VIRTUAL: u32 = 0x70;
    /// `NV01_MEMORY_LIST_SYSTEM`: memory from a page list (privileged: CAP_SYS_ADMIN).
    pub const NV01_MEMORY_LIST_SYSTEM: u32 = 0x81;
    /// `NV01_MEMORY_LIST_FBMEM` (privileged).
    pub const NV01_MEMORY_LIST_FBMEM: u32 = 0x82;
    /// `NV01_MEMORY_LIST_OBJECT` (privileged).
    pub const NV01_MEMORY_LIST_OBJECT: u32 = 0x83;
    /// Classes whose allocation needs the RM's admin level (`RS_FLAGS_ALLOC_PRIVILEGED`)
    /// among those nvsim simulates.
    pub const PRIVILEGED: [u32; 3] = [
        NV01_MEMORY_LIST_SYSTEM,
        NV01_MEMORY_LIST_FBMEM,
        NV01_MEMORY_LIST_OBJECT,
    ];
    /// `NV01_MEMORY_SYSTEM_OS_DESCRIPTOR`: pinned user memory.
    pub const NV01_MEMORY_SYSTEM_OS_DESCRIPTOR: u32 = 0x71;
    /// `NV01_EVENT_OS_EVENT`.
    pub const NV01_EVENT_OS_EVENT: u32 = 0x79;
    /// `NV_CONFIDENTIAL_COMPUTE`: the system's confidential-computing state, under a client
    /// (parameters: the client's handle). The CUDA runtime allocates it at initialisation.
    pub const NV_CONFIDENTIAL_COMPUTE: u32 = 0xcb33;
    /// `NV01_DEVICE_0`.
    pub const NV01_DEVICE_0: u32 = 0x80;
    /// `NV20_SUBDEVICE_0`.
    pub const NV20_SUBDEVICE_0: u32 = 0x2080;
    /// `NV2081_BINAPI`: a handle under a subdevice for the binary API's opaque controls
    /// (parameters optional: one reserved u32). libcuda 550 allocates one at `cuInit`; the
    /// RM has it in 535 too.
    pub const NV2081_BINAPI: u32 = 0x2081;
    /// `NV50_MEMORY_VIRTUAL`.
    pub const NV50_MEMORY_VIRTUAL: u32 = 0x50a0;
    /// `FERMI_VASPACE_A`.
    pub const FERMI_VASPACE_A: u32 = 0x90f1;
    /// `FERMI_CONTEXT_SHARE_A`: a subcontext (VEID) of a channel group.
    pub const FERMI_CONTEXT_SHARE_A: u32 = 0x9067;
    /// `KEPLER_CHANNEL_GROUP_A` (TSG).
    pub const KEPLER_CHANNEL_GROUP_A: u32 = 0xa06c;
    /// GPFIFO channel classes, Volta to Blackwell.
    pub const GPFIFO_CHANNELS: [u32; 6] = [0xc36f, 0xc46f, 0xc56f, 0xc86f, 0xc96f, 0xca6f];
    /// `GT200_DEBUGGER`: an SM debugger session on a compute object (under a device).
    pub const GT200_DEBUGGER: u32 = 0x83de;
    /// Copy engine classes, Volta to Blackwell (`*_DMA_COPY_A/B`).
    pub const DMA_COPY: [u32; 7] = [0xc3b5, 0xc5b5, 0xc6b5, 0xc7b5, 0xc8b5, 0xc9b5, 0xcab5];
    /// Compute engine classes, Ampere to Blackwell.
    pub const COMPUTE: [u32; 6] = [0xc6c0, 0xc7c0, 0xc9c0, 0xcbc0, 0xcdc0, 0xcec0];
    /// Usermode doorbell classes, Turing to Blackwell.
    pub const USERMODE: [u32; 4] = [0xc461, 0xc561, 0xc661, 0xc761];
}

/// Control commands (`NVOS54::cmd`) nvsim answers, with their parameter sizes (535).
pub mod ctrl {
    /// `NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS`: `u32 gpuIds[32]`, unused ids 0xffffffff.
    pub const NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS: u32 = 0x201;
    /// `NV2080_CTRL_CMD_FB_GET_INFO` (the first version, still answered):
    /// `{u32 fbInfoListSize; u32 pad; NvP64 fbInfoList}`, the list of `{u32 index; u32 data}`
    /// elsewhere in the caller's memory (the driver copies it in and out itself).
    pub const NV2080_CTRL_CMD_FB_GET_INFO: u32 = 0x2080_1301;
    /// `NV2080_CTRL_CMD_FB_GET_INFO_V2`: `{u32 fbInfoListSize; {u32 index; u32 data}[54]}`.
    pub const NV2080_CTRL_CMD_FB_GET_INFO_V2: u32 = 0x2080_1303;
    /// `NVA06C_CTRL_CMD_GPFIFO_SCHEDULE`: `{u8 bEnable; u8 bSkipSubmit}`.
    pub const NVA06C_CTRL_CMD_GPFIFO_SCHEDULE: u32 = 0xa06c_0101;
    /// `NVA06C_CTRL_CMD_PREEMPT`: `{u8 bWait; u8 bManualTimeout; u32 timeoutUs}` (at most
    /// [`PREEMPT_MAX_MANUAL_TIMEOUT_US`] with a manual timeout).
    pub const NVA06C_CTRL_CMD_PREEMPT: u32 = 0xa06c_0105;
    /// `NVA06C_CTRL_CMD_PREEMPT_MAX_MANUAL_TIMEOUT_US`.
    pub const PREEMPT_MAX_MANUAL_TIMEOUT_US: u32 = 1_000_000;
    /// `NVA06C_CTRL_CMD_SET_TIMESLICE`: `{u64 timesliceUs}`.
    pub const NVA06C_CTRL_CMD_SET_TIMESLICE: u32 = 0xa06c_0103;
    /// `NVA06C_CTRL_CMD_GET_TIMESLICE`: `{u64 timesliceUs}` (out).
    pub const NVA06C_CTRL_CMD_GET_TIMESLICE: u32 = 0xa06c_0104;
    /// `NVA06F_CTRL_CMD_GPFIFO_SCHEDULE` (a channel): `{u8 bEnable; u8 bSkipSubmit}`.
    pub const NVA06F_CTRL_CMD_GPFIFO_SCHEDULE: u32 = 0xa06f_0103;
    /// `NVC36F_CTRL_GET_CLASS_ENGINEID`: `{hObject; classEngineID; classID; engineID}` of an
    /// engine object (compute, copy) allocated on the channel.
    pub const NVC36F_CTRL_GET_CLASS_ENGINEID: u32 = 0xc36f_0101;
    /// `NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST`: numChannels@0, then two pointers to lists of
    /// numChannels u32 in the caller's memory: channel handles in (at 8), channel ids out (at
    /// 16), `0xffffffff` for a handle that is no channel.
    pub const NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST: u32 = 0x0080_170d;
    /// GET_CHANNELLIST's id for a handle that is no channel.
    pub const CHANNELLIST_INVALID_CHANNEL: u32 = 0xffff_ffff;
    /// `NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE`: hChannel@0, totalBufferSize@8 (u64, out).
    pub const NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE: u32 = 0x2080_1218;
    /// `NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN`: `{u32 workSubmitToken}`.
    pub const NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN: u32 = 0xc36f_0108;
    /// `NV2080_CTRL_CMD_GPU_GET_PIDS`: idType@0 (0 = class), id@4 (a class id),
    /// pidTblCount@8, `u32 pidTbl[950]`@12: the processes with an object of that class.
    pub const NV2080_CTRL_CMD_GPU_GET_PIDS: u32 = 0x2080_018d;
    /// `NV2080_CTRL_CMD_GPU_GET_PID_INFO`: pidInfoListCount@0, then 200 entries of 72 bytes
    /// from 8: pid@0, index@4, result@8, data@16 (video memory: memPrivate@0,
    /// memSharedOwned@8, memSharedDuped@16, ...), smcSubscription@64.
    pub const NV2080_CTRL_CMD_GPU_GET_PID_INFO: u32 = 0x2080_018e;
    /// Most pids GET_PIDS returns.
    pub const GET_PIDS_MAX: usize = 950;
    /// Most entries of GET_PID_INFO.
    pub const GET_PID_INFO_MAX: usize = 200;
    /// Size of one GET_PID_INFO entry.
    pub const PID_INFO_ENTRY: usize = 72;
    /// `NV2080_CTRL_GPU_PID_INFO_INDEX_VIDEO_MEMORY_USAGE`.
    pub const PID_INFO_INDEX_VIDEO_MEMORY_USAGE: u32 = 0;
    /// `NV2080_CTRL_CMD_GPU_GET_NAME_STRING`: `u32 gpuNameStringFlags` (0 ASCII, 1 UTF-16),
    /// then a 128-byte union of `u8 ascii[64]` / `u16 unicode[64]`.
    pub const NV2080_CTRL_CMD_GPU_GET_NAME_STRING: u32 = 0x2080_0110;
    /// `NV2080_CTRL_CMD_GPU_GET_GID_INFO`: index@0, flags@4 (format bits 1:0: 0 ASCII,
    /// 2 binary), length@8 (out), `u8 data[256]`@12.
    pub const NV2080_CTRL_CMD_GPU_GET_GID_INFO: u32 = 0x2080_014a;
    /// `NV0000_CTRL_GPU_INVALID_ID`.
    pub const NV0000_CTRL_GPU_INVALID_ID: u32 = 0xffff_ffff;

    /// Which object a control is sent to.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Target {
        /// The client itself (NV0000 commands).
        Client,
        /// A device (NV0080).
        Device,
        /// A subdevice (NV2080).
        Subdevice,
        /// A channel group (NVA06C).
        ChannelGroup,
        /// A GPFIFO channel (NVC36F and its successors).
        Channel,
        /// An `NV_CONFIDENTIAL_COMPUTE` object (NVCB33).
        ConfCompute,
    }

    /// A control command nvsim answers.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Spec {
        /// The command number.
        pub cmd: u32,
        /// Its exact parameter size (the RM answers NV_ERR_INVALID_ARGUMENT otherwise).
        pub size: usize,
        /// The object it is sent to.
        pub target: Target,
    }

    /// The controls nvsim answers.
    pub const SPECS: [Spec; 17] = [
        Spec {
            cmd: NVA06C_CTRL_CMD_PREEMPT,
            size: 8,
            target: Target::ChannelGroup,
        },
        Spec {
            cmd: NVC36F_CTRL_GET_CLASS_ENGINEID,
            size: 16,
            target: Target::Channel,
        },
        Spec {
            cmd: NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST,
            size: 24,
            target: Target::Device,
        },
        Spec {
            cmd: NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE,
            size: 16,
            target: Target::Subdevice,
        },
        Spec {
            cmd: NV2080_CTRL_CMD_GPU_GET_NAME_STRING,
            size: 132,
            target: Target::Subdevice,
        },
        Spec {
            cmd: NV2080_CTRL_CMD_GPU_GET_GID_INFO,
            size: 268,
            target: Target::Subdevice,
        },
        Spec {
            cmd: NV2080_CTRL_CMD_GPU_GET_PIDS,
            size: 12 + 4 * GET_PIDS_MAX,
            target: Target::Subdevice,
        },
        Spec {
            cmd: NV2080_CTRL_CMD_GPU_GET_PID_INFO,
            size: 8 + PID_INFO_ENTRY * GET_PID_INFO_MAX,
            target: Target::Subdevice,
        },
        Spec {
            cmd: NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS,
            size: 128,
            target: Target::Client,
        },
        Spec {
            cmd: NV2080_CTRL_CMD_FB_GET_INFO_V2,
            size: super::fb_info::PARAMS_SIZE,
            target: Target::Subdevice,
        },
        Spec {
            cmd: NV2080_CTRL_CMD_FB_GET_INFO,
            size: super::fb_info::V1_PARAMS_SIZE,
            target: Target::Subdevice,
        },
        Spec {
            cmd: NVA06C_CTRL_CMD_GPFIFO_SCHEDULE,
            size: 2,
            target: Target::ChannelGroup,
        },
        Spec {
            cmd: NVA06C_CTRL_CMD_SET_TIMESLICE,
            size: 8,
            target: Target::ChannelGroup,
        },
        Spec {
            cmd: NVA06C_CTRL_CMD_GET_TIMESLICE,
            size: 8,
            target: Target::ChannelGroup,
        },
        Spec {
            cmd: NVA06F_CTRL_CMD_GPFIFO_SCHEDULE,
            size: 2,
            target: Target::Channel,
        },
        Spec {
            cmd: NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN,
            size: 4,
            target: Target::Channel,
        },
        // 535's size; a family's own comes from `DriverFamily::control_sizes`.
        Spec {
            cmd: super::super::nv_gpumon::CMD,
            size: super::super::nv_gpumon::params_size(super::super::nv_gpumon::sample_size(4)),
            target: Target::Subdevice,
        },
    ];

    /// The spec of `cmd`, if nvsim answers it.
    pub fn spec(cmd: u32) -> Option<Spec> {
        SPECS.iter().copied().find(|s| s.cmd == cmd)
    }
}

/// `NV2080_CTRL_FB_INFO_*` of FB_GET_INFO_V2 (values in KiB).
pub mod fb_info {
    /// `NV2080_CTRL_FB_INFO_INDEX_RAM_SIZE`.
    pub const RAM_SIZE: u32 = 0x07;
    /// `NV2080_CTRL_FB_INFO_INDEX_TOTAL_RAM_SIZE`.
    pub const TOTAL_RAM_SIZE: u32 = 0x08;
    /// `NV2080_CTRL_FB_INFO_INDEX_HEAP_SIZE`.
    pub const HEAP_SIZE: u32 = 0x09;
    /// `NV2080_CTRL_FB_INFO_INDEX_HEAP_FREE`.
    pub const HEAP_FREE: u32 = 0x16;
    /// `NV2080_CTRL_FB_INFO_INDEX_USABLE_RAM_SIZE`.
    pub const USABLE_RAM_SIZE: u32 = 0x20;
    /// `NV2080_CTRL_FB_INFO_MAX_LIST_SIZE` in the 535 series: entries in the params' list
    /// (0x39 in later series).
    pub const MAX_LIST_SIZE: usize = 54;
    /// Size of `NV2080_CTRL_FB_GET_INFO_V2_PARAMS`.
    pub const PARAMS_SIZE: usize = 4 + 8 * MAX_LIST_SIZE;
    /// Size of `NV2080_CTRL_FB_GET_INFO_PARAMS` (the first version: the list is pointed to).
    pub const V1_PARAMS_SIZE: usize = 16;
    /// Where the first version's params hold the list pointer.
    pub const V1_LIST_AT: usize = 8;
    /// Size of one `NV2080_CTRL_FB_INFO` entry (`{u32 index; u32 data}`).
    pub const ENTRY_SIZE: usize = 8;
}

/// `nv_ioctl_nvos33_parameters_with_fd`: RM_MAP_MEMORY (NVOS33 and the fd of the file the
/// mapping will be made on).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nvos33WithFd {
    /// The client.
    pub h_client: u32,
    /// The device.
    pub h_device: u32,
    /// The memory object.
    pub h_memory: u32,
    /// Padding.
    pub pad: u32,
    /// Offset into the memory object.
    pub offset: u64,
    /// Length to map.
    pub length: u64,
    /// Out: the address token of the mapping.
    pub p_linear_address: u64,
    /// RM status out.
    pub status: u32,
    /// Mapping flags.
    pub flags: u32,
    /// An fd of the caller's: the `/dev/nvidiaN` file the caller will mmap.
    pub fd: i32,
    /// Padding.
    pub pad2: u32,
}

/// `nv_ioctl_nvos02_parameters_with_fd`: RM_ALLOC_MEMORY (NVOS02, memory of `limit + 1`
/// bytes, and the fd of the nvidiactl file that gets the mapping context of system memory).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nvos02WithFd {
    /// The client.
    pub h_root: u32,
    /// The parent (a device).
    pub h_object_parent: u32,
    /// In: the new handle (0: the RM picks); out: the handle.
    pub h_object_new: u32,
    /// The class: system memory (0x3E), an OS descriptor of the caller's pages (0x71), ...
    pub h_class: u32,
    /// `NVOS02_FLAGS_*`.
    pub flags: u32,
    /// Padding.
    pub pad: u32,
    /// An OS descriptor's memory: an address of the caller's.
    pub p_memory: u64,
    /// The last byte's offset.
    pub limit: u64,
    /// RM status out.
    pub status: u32,
    /// Padding.
    pub pad2: u32,
    /// An fd of the caller's (-1: none).
    pub fd: i32,
    /// Padding.
    pub pad3: u32,
}

/// `NVOS55_PARAMETERS`: RM_DUP_OBJECT, a new handle to another client's object.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Nvos55 {
    /// The client the new handle goes to.
    pub h_client: u32,
    /// Its parent there.
    pub h_parent: u32,
    /// In: the new handle (0: the RM picks); out: the handle.
    pub h_object: u32,
    /// The source client.
    pub h_client_src: u32,
    /// The source object.
    pub h_object_src: u32,
    /// Flags.
    pub flags: u32,
    /// RM status out.
    pub status: u32,
}

// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted below).
unsafe impl Pod for Nvos55 {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted below).
unsafe impl Pod for Nvos41 {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted below).
unsafe impl Pod for NvUnixEvent {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted below).
unsafe impl Pod for Nvos33WithFd {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted below).
unsafe impl Pod for Nvos02WithFd {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted below).
unsafe impl Pod for Nvos00 {}
// SAFETY: as above.
unsafe impl Pod for Nvos21 {}
// SAFETY: as above.
unsafe impl Pod for Nvos64 {}
// SAFETY: as above.
unsafe impl Pod for Nvos54 {}

const _: () = {
    assert!(size_of::<Nvos41>() == 16);
    assert!(offset_of!(Nvos41, status) == 12);
    assert!(size_of::<NvUnixEvent>() == 16);
    assert!(offset_of!(NvUnixEvent, info16) == 12);
    assert!(size_of::<Nvos00>() == 16);
    assert!(size_of::<Nvos21>() == 32);
    assert!(offset_of!(Nvos21, p_alloc_parms) == 16);
    assert!(offset_of!(Nvos21, status) == 28);
    assert!(size_of::<Nvos64>() == 48);
    assert!(offset_of!(Nvos64, p_rights_requested) == 24);
    assert!(offset_of!(Nvos64, params_size) == 32);
    assert!(offset_of!(Nvos64, status) == 40);
    assert!(size_of::<Nvos54>() == 32);
    assert!(size_of::<Nvos33WithFd>() == 56);
    assert!(size_of::<Nvos02WithFd>() == 56);
    assert!(offset_of!(Nvos02WithFd, p_memory) == 24);
    assert!(offset_of!(Nvos02WithFd, limit) == 32);
    assert!(offset_of!(Nvos02WithFd, status) == 40);
    assert!(offset_of!(Nvos02WithFd, fd) == 48);
    assert!(size_of::<Nvos55>() == 28);
    assert!(offset_of!(Nvos55, status) == 24);
    assert!(offset_of!(Nvos33WithFd, offset) == 16);
    assert!(offset_of!(Nvos33WithFd, p_linear_address) == 32);
    assert!(offset_of!(Nvos33WithFd, status) == 40);
    assert!(offset_of!(Nvos33WithFd, fd) == 48);
    assert!(offset_of!(Nvos54, params) == 16);
    assert!(offset_of!(Nvos54, status) == 28);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_allow_their_escapes() {
        assert!(node_allows(esc::RM_ALLOC, true, Some(0x41)));
        assert!(!node_allows(esc::RM_ALLOC, false, Some(0x41)));
        assert!(node_allows(
            esc::RM_ALLOC,
            false,
            Some(class::NV01_EVENT_OS_EVENT)
        ));
        assert!(!node_allows(esc::RM_ALLOC_MEMORY, true, None));
        assert!(node_allows(esc::RM_ALLOC_MEMORY, false, None));
        assert!(!node_allows(esc::RM_FREE, false, None));
        assert!(node_allows(esc::RM_FREE, true, None));
    }
}
