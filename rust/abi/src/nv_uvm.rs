//! The NVIDIA UVM driver's ioctls on `/dev/nvidia-uvm` (`uvm_ioctl.h`,
//! `uvm_linux_ioctl.h`).
//!
//! UVM commands are raw numbers, not `_IOC` encodings: the driver takes the whole ioctl
//! number as the command and copies the size of that command's parameter struct from its
//! own table, so the table below is what a proxy must use to know a command's size and where
//! it carries file descriptors.

use super::pod::Pod;
use core::mem::{offset_of, size_of};

/// Name of the UVM driver's char major in `/proc/devices`.
pub const UVM_DEVICE_NAME: &str = "nvidia-uvm";

/// `NvProcessorUuid`: a GPU's UUID as UVM names it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvProcessorUuid {
    /// The 16 bytes of the UUID.
    pub uuid: [u8; 16],
}

/// `UVM_INITIALIZE_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmInitializeParams {
    /// `UVM_INIT_FLAGS_*`.
    pub flags: u64,
    /// RM status out.
    pub rm_status: u32,
    /// Padding.
    pub pad: u32,
}

/// `UVM_MM_INITIALIZE_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmMmInitializeParams {
    /// An fd of the caller's that must be an initialised UVM file.
    pub uvm_fd: i32,
    /// RM status out.
    pub rm_status: u32,
}

/// `UVM_REGISTER_GPU_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmRegisterGpuParams {
    /// The GPU.
    pub gpu_uuid: NvProcessorUuid,
    /// Out: NUMA enabled.
    pub numa_enabled: u8,
    /// Padding.
    pub pad: [u8; 3],
    /// Out: NUMA node.
    pub numa_node_id: i32,
    /// An fd of the caller's that must be an nvidiactl file holding `h_client`.
    pub rm_ctrl_fd: i32,
    /// RM client.
    pub h_client: u32,
    /// SMC partition reference.
    pub h_smc_part_ref: u32,
    /// RM status out.
    pub rm_status: u32,
}

/// `UVM_UNREGISTER_GPU_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmUnregisterGpuParams {
    /// The GPU.
    pub gpu_uuid: NvProcessorUuid,
    /// RM status out.
    pub rm_status: u32,
}

/// `UVM_REGISTER_GPU_VASPACE_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmRegisterGpuVaspaceParams {
    /// The GPU.
    pub gpu_uuid: NvProcessorUuid,
    /// An fd of the caller's that must be an nvidiactl file.
    pub rm_ctrl_fd: i32,
    /// RM client.
    pub h_client: u32,
    /// RM VA space object.
    pub h_va_space: u32,
    /// RM status out.
    pub rm_status: u32,
}

/// `UVM_UNREGISTER_GPU_VASPACE_PARAMS`.
pub type UvmUnregisterGpuVaspaceParams = UvmUnregisterGpuParams;

/// `UVM_REGISTER_CHANNEL_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmRegisterChannelParams {
    /// The GPU.
    pub gpu_uuid: NvProcessorUuid,
    /// An fd of the caller's that must be an nvidiactl file.
    pub rm_ctrl_fd: i32,
    /// RM client.
    pub h_client: u32,
    /// RM channel.
    pub h_channel: u32,
    /// Padding.
    pub pad: u32,
    /// Base of the channel's VA range.
    pub base: u64,
    /// Length of that range.
    pub length: u64,
    /// RM status out.
    pub rm_status: u32,
    /// Padding.
    pub pad2: u32,
}

/// `UVM_UNREGISTER_CHANNEL_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmUnregisterChannelParams {
    /// The GPU.
    pub gpu_uuid: NvProcessorUuid,
    /// RM client.
    pub h_client: u32,
    /// RM channel.
    pub h_channel: u32,
    /// RM status out.
    pub rm_status: u32,
}

/// `UVM_PAGEABLE_MEM_ACCESS_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmPageableMemAccessParams {
    /// Out: whether the GPU can access pageable memory.
    pub pageable_mem_access: u8,
    /// Padding.
    pub pad: [u8; 3],
    /// RM status out.
    pub rm_status: u32,
}

/// `UVM_MAX_GPUS` in 535 (`NV_MAX_DEVICES`): the length of the per-GPU attribute arrays.
pub const UVM_MAX_GPUS: usize = 32;

/// `UvmGpuMappingAttributes`: how one GPU maps an external allocation.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmGpuMappingAttributes {
    /// The GPU.
    pub gpu_uuid: NvProcessorUuid,
    /// `UvmGpuMappingType` (0 default, 1 read-write-atomic, 2 read-write, 3 read-only).
    pub gpu_mapping_type: u32,
    /// `UvmGpuCachingType`.
    pub gpu_caching_type: u32,
    /// `UvmGpuFormatType`.
    pub gpu_format_type: u32,
    /// `UvmGpuFormatElementBits`.
    pub gpu_element_bits: u32,
    /// `UvmGpuCompressionType`.
    pub gpu_compression_type: u32,
}

/// `UVM_CREATE_RANGE_GROUP_PARAMS` and `UVM_DESTROY_RANGE_GROUP_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmRangeGroupParams {
    /// The group (out when created, in when destroyed).
    pub range_group_id: u64,
    /// RM status out.
    pub rm_status: u32,
    /// Padding.
    pub pad: u32,
}

/// `UVM_CREATE_EXTERNAL_RANGE_PARAMS`, `UVM_VALIDATE_VA_RANGE_PARAMS` and `UVM_FREE_PARAMS`:
/// a range of the VA space.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmVaRangeParams {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// RM status out.
    pub rm_status: u32,
    /// Padding.
    pub pad: u32,
}

/// `UVM_MAP_EXTERNAL_ALLOCATION_PARAMS`: maps RM memory `h_memory` of `h_client` (found
/// through `rm_ctrl_fd`) at `base` for the GPUs listed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmMapExternalAllocationParams {
    /// First byte of the mapping (inside an external range).
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// Offset into the memory.
    pub offset: u64,
    /// Per-GPU mapping attributes; the first `gpu_attributes_count` count.
    pub per_gpu_attributes: [UvmGpuMappingAttributes; UVM_MAX_GPUS],
    /// How many attributes are given.
    pub gpu_attributes_count: u64,
    /// An fd of the caller's that must be an nvidiactl file holding `h_client`.
    pub rm_ctrl_fd: i32,
    /// RM client.
    pub h_client: u32,
    /// RM memory object.
    pub h_memory: u32,
    /// RM status out.
    pub rm_status: u32,
}

/// `UVM_UNMAP_EXTERNAL_PARAMS` and `UVM_MAP_DYNAMIC_PARALLELISM_REGION_PARAMS`: a range and
/// one GPU.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmGpuRangeParams {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// The GPU.
    pub gpu_uuid: NvProcessorUuid,
    /// RM status out.
    pub rm_status: u32,
    /// Padding.
    pub pad: u32,
}

/// `UVM_ALLOC_SEMAPHORE_POOL_PARAMS`: UVM's own memory, mapped at `base` for the GPUs listed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmAllocSemaphorePoolParams {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// Per-GPU mapping attributes; the first `gpu_attributes_count` count.
    pub per_gpu_attributes: [UvmGpuMappingAttributes; UVM_MAX_GPUS],
    /// How many attributes are given.
    pub gpu_attributes_count: u64,
    /// RM status out.
    pub rm_status: u32,
    /// Padding.
    pub pad: u32,
}

/// A UVM command: its number, its parameter size and the offsets of the fds it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UvmCommand {
    /// The raw ioctl number.
    pub cmd: u32,
    /// The C name.
    pub name: &'static str,
    /// Size of the parameter struct the driver copies in and out.
    pub size: usize,
    /// Offsets of `int` file descriptors inside the parameters.
    pub fd_offsets: &'static [usize],
}

/// The UVM commands fakegpu and nvsim know, by number.
pub const UVM_COMMANDS: &[UvmCommand] = &[
    UvmCommand {
        cmd: 0x3000_0001,
        name: "UVM_INITIALIZE",
        size: size_of::<UvmInitializeParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 0x3000_0002,
        name: "UVM_DEINITIALIZE",
        size: 0,
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 23,
        name: "UVM_CREATE_RANGE_GROUP",
        size: size_of::<UvmRangeGroupParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 24,
        name: "UVM_DESTROY_RANGE_GROUP",
        size: size_of::<UvmRangeGroupParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 25,
        name: "UVM_REGISTER_GPU_VASPACE",
        size: size_of::<UvmRegisterGpuVaspaceParams>(),
        fd_offsets: &[offset_of!(UvmRegisterGpuVaspaceParams, rm_ctrl_fd)],
    },
    UvmCommand {
        cmd: 26,
        name: "UVM_UNREGISTER_GPU_VASPACE",
        size: size_of::<UvmUnregisterGpuVaspaceParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 27,
        name: "UVM_REGISTER_CHANNEL",
        size: size_of::<UvmRegisterChannelParams>(),
        fd_offsets: &[offset_of!(UvmRegisterChannelParams, rm_ctrl_fd)],
    },
    UvmCommand {
        cmd: 28,
        name: "UVM_UNREGISTER_CHANNEL",
        size: size_of::<UvmUnregisterChannelParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 33,
        name: "UVM_MAP_EXTERNAL_ALLOCATION",
        size: size_of::<UvmMapExternalAllocationParams>(),
        fd_offsets: &[offset_of!(UvmMapExternalAllocationParams, rm_ctrl_fd)],
    },
    UvmCommand {
        cmd: 34,
        name: "UVM_FREE",
        size: size_of::<UvmVaRangeParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 37,
        name: "UVM_REGISTER_GPU",
        size: size_of::<UvmRegisterGpuParams>(),
        fd_offsets: &[offset_of!(UvmRegisterGpuParams, rm_ctrl_fd)],
    },
    UvmCommand {
        cmd: 38,
        name: "UVM_UNREGISTER_GPU",
        size: size_of::<UvmUnregisterGpuParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 39,
        name: "UVM_PAGEABLE_MEM_ACCESS",
        size: size_of::<UvmPageableMemAccessParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 65,
        name: "UVM_MAP_DYNAMIC_PARALLELISM_REGION",
        size: size_of::<UvmGpuRangeParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 66,
        name: "UVM_UNMAP_EXTERNAL",
        size: size_of::<UvmGpuRangeParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 68,
        name: "UVM_ALLOC_SEMAPHORE_POOL",
        size: size_of::<UvmAllocSemaphorePoolParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 72,
        name: "UVM_VALIDATE_VA_RANGE",
        size: size_of::<UvmVaRangeParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 73,
        name: "UVM_CREATE_EXTERNAL_RANGE",
        size: size_of::<UvmVaRangeParams>(),
        fd_offsets: &[],
    },
    UvmCommand {
        cmd: 75,
        name: "UVM_MM_INITIALIZE",
        size: size_of::<UvmMmInitializeParams>(),
        fd_offsets: &[offset_of!(UvmMmInitializeParams, uvm_fd)],
    },
];

/// The command with number `cmd`.
pub fn uvm_command(cmd: u32) -> Option<&'static UvmCommand> {
    UVM_COMMANDS.iter().find(|c| c.cmd == cmd)
}

const _: () = {
    assert!(size_of::<NvProcessorUuid>() == 16);
    assert!(size_of::<UvmInitializeParams>() == 16);
    assert!(size_of::<UvmMmInitializeParams>() == 8);
    assert!(size_of::<UvmRegisterGpuParams>() == 40);
    assert!(offset_of!(UvmRegisterGpuParams, rm_ctrl_fd) == 24);
    assert!(size_of::<UvmUnregisterGpuParams>() == 20);
    assert!(size_of::<UvmRegisterGpuVaspaceParams>() == 32);
    assert!(size_of::<UvmRegisterChannelParams>() == 56);
    assert!(size_of::<UvmUnregisterChannelParams>() == 28);
    assert!(size_of::<UvmPageableMemAccessParams>() == 8);
    assert!(size_of::<UvmGpuMappingAttributes>() == 36);
    assert!(size_of::<UvmRangeGroupParams>() == 16);
    assert!(size_of::<UvmVaRangeParams>() == 24);
    assert!(size_of::<UvmMapExternalAllocationParams>() == 1200);
    assert!(offset_of!(UvmMapExternalAllocationParams, rm_ctrl_fd) == 1184);
    assert!(size_of::<UvmGpuRangeParams>() == 40);
    assert!(size_of::<UvmAllocSemaphorePoolParams>() == 1184);
};

// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for NvProcessorUuid {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmInitializeParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmMmInitializeParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmRegisterGpuParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmUnregisterGpuParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmRegisterGpuVaspaceParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmRegisterChannelParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmUnregisterChannelParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmPageableMemAccessParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmGpuMappingAttributes {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmRangeGroupParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmVaRangeParams {}
// SAFETY: `#[repr(C)]`, integers and arrays of a Pod struct only, every gap a named field
// (size asserted above).
unsafe impl Pod for UvmMapExternalAllocationParams {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmGpuRangeParams {}
// SAFETY: `#[repr(C)]`, integers and arrays of a Pod struct only, every gap a named field
// (size asserted above).
unsafe impl Pod for UvmAllocSemaphorePoolParams {}

/// The layout claims of this file, as `(C name, value)`, for `tests/conformance`.
pub const LAYOUT_CLAIMS: &[(&str, usize)] = &[
    ("sizeof(NvProcessorUuid)", size_of::<NvProcessorUuid>()),
    (
        "sizeof(UVM_INITIALIZE_PARAMS)",
        size_of::<UvmInitializeParams>(),
    ),
    (
        "offsetof(UVM_INITIALIZE_PARAMS,rmStatus)",
        offset_of!(UvmInitializeParams, rm_status),
    ),
    (
        "sizeof(UVM_MM_INITIALIZE_PARAMS)",
        size_of::<UvmMmInitializeParams>(),
    ),
    (
        "offsetof(UVM_MM_INITIALIZE_PARAMS,uvmFd)",
        offset_of!(UvmMmInitializeParams, uvm_fd),
    ),
    (
        "offsetof(UVM_MM_INITIALIZE_PARAMS,rmStatus)",
        offset_of!(UvmMmInitializeParams, rm_status),
    ),
    (
        "sizeof(UVM_REGISTER_GPU_PARAMS)",
        size_of::<UvmRegisterGpuParams>(),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_PARAMS,numaEnabled)",
        offset_of!(UvmRegisterGpuParams, numa_enabled),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_PARAMS,numaNodeId)",
        offset_of!(UvmRegisterGpuParams, numa_node_id),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_PARAMS,rmCtrlFd)",
        offset_of!(UvmRegisterGpuParams, rm_ctrl_fd),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_PARAMS,hClient)",
        offset_of!(UvmRegisterGpuParams, h_client),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_PARAMS,hSmcPartRef)",
        offset_of!(UvmRegisterGpuParams, h_smc_part_ref),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_PARAMS,rmStatus)",
        offset_of!(UvmRegisterGpuParams, rm_status),
    ),
    (
        "sizeof(UVM_UNREGISTER_GPU_PARAMS)",
        size_of::<UvmUnregisterGpuParams>(),
    ),
    (
        "sizeof(UVM_REGISTER_GPU_VASPACE_PARAMS)",
        size_of::<UvmRegisterGpuVaspaceParams>(),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS,rmCtrlFd)",
        offset_of!(UvmRegisterGpuVaspaceParams, rm_ctrl_fd),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS,hVaSpace)",
        offset_of!(UvmRegisterGpuVaspaceParams, h_va_space),
    ),
    (
        "offsetof(UVM_REGISTER_GPU_VASPACE_PARAMS,rmStatus)",
        offset_of!(UvmRegisterGpuVaspaceParams, rm_status),
    ),
    (
        "sizeof(UVM_UNREGISTER_GPU_VASPACE_PARAMS)",
        size_of::<UvmUnregisterGpuVaspaceParams>(),
    ),
    (
        "sizeof(UVM_REGISTER_CHANNEL_PARAMS)",
        size_of::<UvmRegisterChannelParams>(),
    ),
    (
        "offsetof(UVM_REGISTER_CHANNEL_PARAMS,rmCtrlFd)",
        offset_of!(UvmRegisterChannelParams, rm_ctrl_fd),
    ),
    (
        "offsetof(UVM_REGISTER_CHANNEL_PARAMS,hChannel)",
        offset_of!(UvmRegisterChannelParams, h_channel),
    ),
    (
        "offsetof(UVM_REGISTER_CHANNEL_PARAMS,base)",
        offset_of!(UvmRegisterChannelParams, base),
    ),
    (
        "offsetof(UVM_REGISTER_CHANNEL_PARAMS,length)",
        offset_of!(UvmRegisterChannelParams, length),
    ),
    (
        "offsetof(UVM_REGISTER_CHANNEL_PARAMS,rmStatus)",
        offset_of!(UvmRegisterChannelParams, rm_status),
    ),
    (
        "sizeof(UVM_UNREGISTER_CHANNEL_PARAMS)",
        size_of::<UvmUnregisterChannelParams>(),
    ),
    (
        "sizeof(UVM_PAGEABLE_MEM_ACCESS_PARAMS)",
        size_of::<UvmPageableMemAccessParams>(),
    ),
    ("UVM_INITIALIZE", 0x3000_0001),
    ("UVM_DEINITIALIZE", 0x3000_0002),
    ("UVM_REGISTER_GPU_VASPACE", 25),
    ("UVM_UNREGISTER_GPU_VASPACE", 26),
    ("UVM_REGISTER_CHANNEL", 27),
    ("UVM_UNREGISTER_CHANNEL", 28),
    ("UVM_REGISTER_GPU", 37),
    ("UVM_UNREGISTER_GPU", 38),
    ("UVM_PAGEABLE_MEM_ACCESS", 39),
    (
        "sizeof(UvmGpuMappingAttributes)",
        size_of::<UvmGpuMappingAttributes>(),
    ),
    (
        "sizeof(UVM_CREATE_RANGE_GROUP_PARAMS)",
        size_of::<UvmRangeGroupParams>(),
    ),
    (
        "offsetof(UVM_CREATE_RANGE_GROUP_PARAMS,rmStatus)",
        offset_of!(UvmRangeGroupParams, rm_status),
    ),
    (
        "sizeof(UVM_DESTROY_RANGE_GROUP_PARAMS)",
        size_of::<UvmRangeGroupParams>(),
    ),
    (
        "sizeof(UVM_CREATE_EXTERNAL_RANGE_PARAMS)",
        size_of::<UvmVaRangeParams>(),
    ),
    (
        "offsetof(UVM_CREATE_EXTERNAL_RANGE_PARAMS,rmStatus)",
        offset_of!(UvmVaRangeParams, rm_status),
    ),
    (
        "sizeof(UVM_VALIDATE_VA_RANGE_PARAMS)",
        size_of::<UvmVaRangeParams>(),
    ),
    ("sizeof(UVM_FREE_PARAMS)", size_of::<UvmVaRangeParams>()),
    (
        "sizeof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS)",
        size_of::<UvmMapExternalAllocationParams>(),
    ),
    (
        "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,offset)",
        offset_of!(UvmMapExternalAllocationParams, offset),
    ),
    (
        "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,perGpuAttributes)",
        offset_of!(UvmMapExternalAllocationParams, per_gpu_attributes),
    ),
    (
        "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,gpuAttributesCount)",
        offset_of!(UvmMapExternalAllocationParams, gpu_attributes_count),
    ),
    (
        "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,rmCtrlFd)",
        offset_of!(UvmMapExternalAllocationParams, rm_ctrl_fd),
    ),
    (
        "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,hClient)",
        offset_of!(UvmMapExternalAllocationParams, h_client),
    ),
    (
        "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,hMemory)",
        offset_of!(UvmMapExternalAllocationParams, h_memory),
    ),
    (
        "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,rmStatus)",
        offset_of!(UvmMapExternalAllocationParams, rm_status),
    ),
    (
        "sizeof(UVM_UNMAP_EXTERNAL_PARAMS)",
        size_of::<UvmGpuRangeParams>(),
    ),
    (
        "offsetof(UVM_UNMAP_EXTERNAL_PARAMS,gpuUuid)",
        offset_of!(UvmGpuRangeParams, gpu_uuid),
    ),
    (
        "offsetof(UVM_UNMAP_EXTERNAL_PARAMS,rmStatus)",
        offset_of!(UvmGpuRangeParams, rm_status),
    ),
    (
        "sizeof(UVM_MAP_DYNAMIC_PARALLELISM_REGION_PARAMS)",
        size_of::<UvmGpuRangeParams>(),
    ),
    (
        "sizeof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS)",
        size_of::<UvmAllocSemaphorePoolParams>(),
    ),
    (
        "offsetof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS,gpuAttributesCount)",
        offset_of!(UvmAllocSemaphorePoolParams, gpu_attributes_count),
    ),
    (
        "offsetof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS,rmStatus)",
        offset_of!(UvmAllocSemaphorePoolParams, rm_status),
    ),
    ("UVM_CREATE_RANGE_GROUP", 23),
    ("UVM_DESTROY_RANGE_GROUP", 24),
    ("UVM_MAP_EXTERNAL_ALLOCATION", 33),
    ("UVM_FREE", 34),
    ("UVM_MAP_DYNAMIC_PARALLELISM_REGION", 65),
    ("UVM_UNMAP_EXTERNAL", 66),
    ("UVM_ALLOC_SEMAPHORE_POOL", 68),
    ("UVM_VALIDATE_VA_RANGE", 72),
    ("UVM_CREATE_EXTERNAL_RANGE", 73),
    ("UVM_MM_INITIALIZE", 75),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_table_is_consistent_with_the_claims() {
        for c in UVM_COMMANDS {
            let claimed = LAYOUT_CLAIMS
                .iter()
                .find(|(n, _)| *n == c.name)
                .map(|(_, v)| *v);
            assert_eq!(claimed, Some(c.cmd as usize), "{}", c.name);
            for &off in c.fd_offsets {
                assert!(off + 4 <= c.size, "{}: fd beyond the params", c.name);
            }
            assert_eq!(uvm_command(c.cmd), Some(c));
        }
        assert!(uvm_command(0x1234).is_none());
    }
}
