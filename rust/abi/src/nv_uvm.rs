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
pub const UVM_MAX_GPUS_535: usize = 32;
/// `UVM_MAX_GPUS_V2` in 550 (`NV_MAX_DEVICES * NV_MAX_SUBDEVICES`): the same arrays there.
pub const UVM_MAX_GPUS_550: usize = 256;

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
/// The array holds `N` entries: [`UVM_MAX_GPUS_535`] or [`UVM_MAX_GPUS_550`] (the fields
/// after it move with it; [`UvmMapExternalTail`] is them alone).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UvmMapExternalAllocationParamsN<const N: usize> {
    /// First byte of the mapping (inside an external range).
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// Offset into the memory.
    pub offset: u64,
    /// Per-GPU mapping attributes; the first `gpu_attributes_count` count.
    pub per_gpu_attributes: [UvmGpuMappingAttributes; N],
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

/// `UVM_MAP_EXTERNAL_ALLOCATION_PARAMS` as the 535 family lays it out.
pub type UvmMapExternalAllocationParams = UvmMapExternalAllocationParamsN<UVM_MAX_GPUS_535>;

/// The fields of `UVM_MAP_EXTERNAL_ALLOCATION_PARAMS` after the per-GPU array, where they
/// sit in every family: nvsim reads them there without copying the array (9 KiB in 550).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmMapExternalTail {
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

impl<const N: usize> Default for UvmMapExternalAllocationParamsN<N> {
    fn default() -> Self {
        Self {
            base: 0,
            length: 0,
            offset: 0,
            per_gpu_attributes: [UvmGpuMappingAttributes::default(); N],
            gpu_attributes_count: 0,
            rm_ctrl_fd: 0,
            h_client: 0,
            h_memory: 0,
            rm_status: 0,
        }
    }
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

/// `UVM_ALLOC_SEMAPHORE_POOL_PARAMS`: UVM's own memory, mapped at `base` for the GPUs listed,
/// with an array of `N` entries as in [`UvmMapExternalAllocationParamsN`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UvmAllocSemaphorePoolParamsN<const N: usize> {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// Per-GPU mapping attributes; the first `gpu_attributes_count` count.
    pub per_gpu_attributes: [UvmGpuMappingAttributes; N],
    /// How many attributes are given.
    pub gpu_attributes_count: u64,
    /// RM status out.
    pub rm_status: u32,
    /// Padding.
    pub pad: u32,
}

/// `UVM_ALLOC_SEMAPHORE_POOL_PARAMS` as the 535 family lays it out.
pub type UvmAllocSemaphorePoolParams = UvmAllocSemaphorePoolParamsN<UVM_MAX_GPUS_535>;

/// The fields of `UVM_ALLOC_SEMAPHORE_POOL_PARAMS` after the per-GPU array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UvmSemaphorePoolTail {
    /// How many attributes are given.
    pub gpu_attributes_count: u64,
    /// RM status out.
    pub rm_status: u32,
    /// Padding.
    pub pad: u32,
}

impl<const N: usize> Default for UvmAllocSemaphorePoolParamsN<N> {
    fn default() -> Self {
        Self {
            base: 0,
            length: 0,
            per_gpu_attributes: [UvmGpuMappingAttributes::default(); N],
            gpu_attributes_count: 0,
            rm_status: 0,
            pad: 0,
        }
    }
}

/// Where the parts of the two commands with per-GPU arrays sit, for arrays of `max_gpus`
/// entries: the array starts after a fixed head and the tail follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerGpuArrays {
    /// Entries in each array.
    pub max_gpus: usize,
}

impl PerGpuArrays {
    /// Offset of UVM_MAP_EXTERNAL_ALLOCATION's [`UvmMapExternalTail`].
    pub const fn map_external_tail(self) -> usize {
        offset_of!(UvmMapExternalAllocationParams, per_gpu_attributes)
            + self.max_gpus * size_of::<UvmGpuMappingAttributes>()
    }

    /// Offset of UVM_ALLOC_SEMAPHORE_POOL's [`UvmSemaphorePoolTail`].
    pub const fn semaphore_pool_tail(self) -> usize {
        offset_of!(UvmAllocSemaphorePoolParams, per_gpu_attributes)
            + self.max_gpus * size_of::<UvmGpuMappingAttributes>()
    }
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

/// The UVM commands fakegpu and nvsim know whose layout is the same in every family.
const SAME_IN_EVERY_FAMILY: &[UvmCommand] = &[
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

/// The UVM commands of a driver family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UvmCommands {
    /// Where the per-GPU arrays end.
    pub arrays: PerGpuArrays,
    /// The commands whose layout depends on the family.
    pub per_family: &'static [UvmCommand],
}

impl UvmCommands {
    /// The command with number `cmd`.
    pub fn get(&self, cmd: u32) -> Option<&'static UvmCommand> {
        self.iter().find(|c| c.cmd == cmd)
    }

    /// Every command.
    pub fn iter(&self) -> impl Iterator<Item = &'static UvmCommand> {
        SAME_IN_EVERY_FAMILY.iter().chain(self.per_family.iter())
    }
}

/// The UVM commands of the 535 family (per-GPU arrays of 32).
pub const UVM_COMMANDS_535: UvmCommands = UvmCommands {
    arrays: PerGpuArrays {
        max_gpus: UVM_MAX_GPUS_535,
    },
    per_family: &[
        UvmCommand {
            cmd: 33,
            name: "UVM_MAP_EXTERNAL_ALLOCATION",
            size: size_of::<UvmMapExternalAllocationParamsN<UVM_MAX_GPUS_535>>(),
            fd_offsets: &[offset_of!(
                UvmMapExternalAllocationParamsN<UVM_MAX_GPUS_535>,
                rm_ctrl_fd
            )],
        },
        UvmCommand {
            cmd: 68,
            name: "UVM_ALLOC_SEMAPHORE_POOL",
            size: size_of::<UvmAllocSemaphorePoolParamsN<UVM_MAX_GPUS_535>>(),
            fd_offsets: &[],
        },
    ],
};

/// The UVM commands of the 550 family (per-GPU arrays of 256).
pub const UVM_COMMANDS_550: UvmCommands = UvmCommands {
    arrays: PerGpuArrays {
        max_gpus: UVM_MAX_GPUS_550,
    },
    per_family: &[
        UvmCommand {
            cmd: 33,
            name: "UVM_MAP_EXTERNAL_ALLOCATION",
            size: size_of::<UvmMapExternalAllocationParamsN<UVM_MAX_GPUS_550>>(),
            fd_offsets: &[offset_of!(
                UvmMapExternalAllocationParamsN<UVM_MAX_GPUS_550>,
                rm_ctrl_fd
            )],
        },
        UvmCommand {
            cmd: 68,
            name: "UVM_ALLOC_SEMAPHORE_POOL",
            size: size_of::<UvmAllocSemaphorePoolParamsN<UVM_MAX_GPUS_550>>(),
            fd_offsets: &[],
        },
    ],
};

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
    assert!(size_of::<UvmMapExternalAllocationParamsN<UVM_MAX_GPUS_550>>() == 9264);
    assert!(size_of::<UvmAllocSemaphorePoolParamsN<UVM_MAX_GPUS_550>>() == 9248);
    // The tails are the fields after the arrays, at the offsets PerGpuArrays computes.
    assert!(size_of::<UvmMapExternalTail>() == 24 && size_of::<UvmSemaphorePoolTail>() == 16);
    let a535 = UVM_COMMANDS_535.arrays;
    let a550 = UVM_COMMANDS_550.arrays;
    assert!(
        offset_of!(UvmMapExternalAllocationParams, gpu_attributes_count)
            == a535.map_external_tail()
    );
    assert!(
        offset_of!(
            UvmMapExternalAllocationParamsN<UVM_MAX_GPUS_550>,
            gpu_attributes_count
        ) == a550.map_external_tail()
    );
    assert!(
        offset_of!(UvmAllocSemaphorePoolParams, gpu_attributes_count) == a535.semaphore_pool_tail()
    );
    assert!(
        offset_of!(
            UvmAllocSemaphorePoolParamsN<UVM_MAX_GPUS_550>,
            gpu_attributes_count
        ) == a550.semaphore_pool_tail()
    );
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
unsafe impl<const N: usize> Pod for UvmMapExternalAllocationParamsN<N> {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmMapExternalTail {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmSemaphorePoolTail {}
// SAFETY: `#[repr(C)]`, integers only, every gap a named field (size asserted above).
unsafe impl Pod for UvmGpuRangeParams {}
// SAFETY: `#[repr(C)]`, integers and arrays of a Pod struct only, every gap a named field
// (size asserted above).
unsafe impl<const N: usize> Pod for UvmAllocSemaphorePoolParamsN<N> {}

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

impl UvmCommands {
    /// The layout claims that depend on the family (the two commands with per-GPU arrays),
    /// as `(C name, value)`, for `tests/conformance`.
    pub const fn layout_claims(&self) -> [(&'static str, usize); 11] {
        let map = self.arrays.map_external_tail();
        let pool = self.arrays.semaphore_pool_tail();
        [
            (
                "sizeof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS)",
                map + size_of::<UvmMapExternalTail>(),
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
                map + offset_of!(UvmMapExternalTail, gpu_attributes_count),
            ),
            (
                "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,rmCtrlFd)",
                map + offset_of!(UvmMapExternalTail, rm_ctrl_fd),
            ),
            (
                "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,hClient)",
                map + offset_of!(UvmMapExternalTail, h_client),
            ),
            (
                "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,hMemory)",
                map + offset_of!(UvmMapExternalTail, h_memory),
            ),
            (
                "offsetof(UVM_MAP_EXTERNAL_ALLOCATION_PARAMS,rmStatus)",
                map + offset_of!(UvmMapExternalTail, rm_status),
            ),
            (
                "sizeof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS)",
                pool + size_of::<UvmSemaphorePoolTail>(),
            ),
            (
                "offsetof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS,gpuAttributesCount)",
                pool + offset_of!(UvmSemaphorePoolTail, gpu_attributes_count),
            ),
            (
                "offsetof(UVM_ALLOC_SEMAPHORE_POOL_PARAMS,rmStatus)",
                pool + offset_of!(UvmSemaphorePoolTail, rm_status),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tables_are_consistent_with_the_claims() {
        for family in [UVM_COMMANDS_535, UVM_COMMANDS_550] {
            let claims = family.layout_claims();
            for c in family.iter() {
                let claimed = LAYOUT_CLAIMS
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .map(|(_, v)| *v);
                assert_eq!(claimed, Some(c.cmd as usize), "{}", c.name);
                for &off in c.fd_offsets {
                    assert!(off + 4 <= c.size, "{}: fd beyond the params", c.name);
                }
                assert_eq!(family.get(c.cmd), Some(c));
                let size = claims.iter().find(|(n, _)| {
                    n.strip_prefix("sizeof(") == Some(&format!("{}_PARAMS)", c.name))
                });
                if let Some(&(_, size)) = size {
                    assert_eq!(size, c.size, "{}", c.name);
                }
            }
            assert!(family.get(0x1234).is_none());
        }
        assert_eq!(
            UVM_COMMANDS_550.get(33).map(|c| c.fd_offsets),
            Some(&[9248][..])
        );
    }
}
