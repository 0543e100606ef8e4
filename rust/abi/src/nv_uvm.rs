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
