//! The RM controls fakegpu knows in the 535 family: what NVIDIA's own userspace (libcuda, the
//! CUDA runtime, NVML and nvidia-smi) sends when it computes on a GPU, found by tracing it
//! against nvsim (`trace=1`), named as in NVIDIA's open 535 headers (`ctrl/ctrl*/`), or
//! after what sends them where the headers lack them (controls of the closed RM's
//! categories). In strict filter mode only these, and the few fakegpu answers or refuses
//! itself, reach the driver: any other control gets `NV_ERR_NOT_SUPPORTED`, the RM's answer
//! for a control it lacks, so a setter nobody listed never reaches a shared GPU.
//!
//! Left out on purpose, though NVIDIA's userspace sends them, because their meaning is not
//! in any header (libcuda and NVML go on without them, as against nvsim, which answers them
//! `NV_ERR_NOT_SUPPORTED` too): 0x0080028b, 0x20808161, 0x20808162, 0x20809038.
//!
//! Let through although they change more than the caller's own objects (accepted for now:
//! libcuda sends them in every context): PERF_BOOST raises the GPU's clocks for a while, and
//! SET_TIMESLICE sets how long the caller's channel group holds the GPU.

/// A control fakegpu lets through in strict mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownControl {
    /// The command.
    pub cmd: u32,
    /// Its name in NVIDIA's headers, or who sends it and when.
    pub name: &'static str,
}

const fn known(cmd: u32, name: &'static str) -> KnownControl {
    KnownControl { cmd, name }
}

/// The 535 family's known controls, sorted by command.
pub const R535: [KnownControl; 79] = [
    known(0x0000_0101, "NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION"),
    known(0x0000_0127, "NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS"),
    known(0x0000_013a, "NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_MATRIX"),
    known(0x0000_013e, "NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION_V2"),
    known(0x0000_0201, "NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS"),
    known(0x0000_0202, "NV0000_CTRL_CMD_GPU_GET_ID_INFO"),
    known(0x0000_0203, "NV0000_CTRL_CMD_GPU_GET_INIT_STATUS"),
    known(0x0000_0205, "NV0000_CTRL_CMD_GPU_GET_ID_INFO_V2"),
    known(0x0000_0214, "NV0000_CTRL_CMD_GPU_GET_PROBED_IDS"),
    known(0x0000_0215, "NV0000_CTRL_CMD_GPU_ATTACH_IDS"),
    known(0x0000_0216, "NV0000_CTRL_CMD_GPU_DETACH_IDS"),
    known(0x0000_021b, "NV0000_CTRL_CMD_GPU_GET_PCI_INFO"),
    known(0x0000_0275, "NV0000_CTRL_CMD_GPU_GET_UUID_FROM_GPU_ID"),
    known(0x0000_0279, "NV0000_CTRL_CMD_GPU_QUERY_DRAIN_STATE"),
    known(0x0000_027b, "NV0000_CTRL_CMD_GPU_GET_MEMOP_ENABLE"),
    known(0x0000_0a04, "NV0000_CTRL_CMD_SYNC_GPU_BOOST_GROUP_INFO"),
    known(0x0000_0d01, "NV0000_CTRL_CMD_CLIENT_GET_ADDR_SPACE_TYPE"),
    known(
        0x0000_0d04,
        "NV0000_CTRL_CMD_CLIENT_SET_INHERITED_SHARE_POLICY",
    ),
    known(0x0080_0280, "NV0080_CTRL_CMD_GPU_GET_NUM_SUBDEVICES"),
    known(0x0080_0289, "NV0080_CTRL_CMD_GPU_GET_VIRTUALIZATION_MODE"),
    known(0x0080_028e, "NV0080_CTRL_CMD_GPU_GET_VGX_CAPS"),
    known(0x0080_0292, "NV0080_CTRL_CMD_GPU_GET_CLASSLIST_V2"),
    known(0x0080_0294, "NV0080_CTRL_CMD_GPU_GET_BRAND_CAPS"),
    known(0x0080_1307, "NV0080_CTRL_CMD_FB_GET_CAPS_V2"),
    known(0x0080_1402, "NV0080_CTRL_CMD_HOST_GET_CAPS_V2"),
    known(0x0080_170d, "NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST"),
    known(0x0080_9909, "closed RM: libcuda, end of cuCtxCreate"),
    known(0x2080_0102, "NV2080_CTRL_CMD_GPU_GET_INFO_V2"),
    known(0x2080_0110, "NV2080_CTRL_CMD_GPU_GET_NAME_STRING"),
    known(0x2080_0111, "NV2080_CTRL_CMD_GPU_GET_SHORT_NAME_STRING"),
    known(0x2080_0119, "NV2080_CTRL_CMD_GPU_GET_SIMULATION_INFO"),
    known(0x2080_012f, "NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS"),
    known(0x2080_0131, "NV2080_CTRL_CMD_GPU_QUERY_COMPUTE_MODE_RULES"),
    known(0x2080_0145, "closed RM: libcuda, cuCtxCreate"),
    known(
        0x2080_0146,
        "closed RM: libcuda, counterpart of 0x2080_0145",
    ),
    known(0x2080_014a, "NV2080_CTRL_CMD_GPU_GET_GID_INFO"),
    known(0x2080_0170, "NV2080_CTRL_CMD_GPU_GET_ENGINES_V2"),
    known(0x2080_018b, "NV2080_CTRL_CMD_GPU_GET_ACTIVE_PARTITION_IDS"),
    known(0x2080_018d, "NV2080_CTRL_CMD_GPU_GET_PIDS"),
    known(0x2080_018e, "NV2080_CTRL_CMD_GPU_GET_PID_INFO"),
    known(0x2080_01a3, "NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO"),
    known(
        0x2080_0406,
        "NV2080_CTRL_CMD_TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO",
    ),
    known(0x2080_1201, "NV2080_CTRL_CMD_GR_GET_INFO"),
    known(0x2080_1210, "NV2080_CTRL_CMD_GR_SET_CTXSW_PREEMPTION_MODE"),
    known(0x2080_1218, "NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE"),
    known(0x2080_121b, "NV2080_CTRL_CMD_GR_GET_GLOBAL_SM_ORDER"),
    known(0x2080_1227, "NV2080_CTRL_CMD_GR_GET_CAPS_V2"),
    known(0x2080_122a, "NV2080_CTRL_CMD_GR_GET_GPC_MASK"),
    known(0x2080_122b, "NV2080_CTRL_CMD_GR_GET_TPC_MASK"),
    known(0x2080_1230, "NV2080_CTRL_CMD_GR_GET_SM_ISSUE_RATE_MODIFIER"),
    known(0x2080_1301, "NV2080_CTRL_CMD_FB_GET_INFO"),
    known(0x2080_1303, "NV2080_CTRL_CMD_FB_GET_INFO_V2"),
    known(0x2080_1701, "NV2080_CTRL_CMD_MC_GET_ARCH_INFO"),
    known(0x2080_1801, "NV2080_CTRL_CMD_BUS_GET_PCI_INFO"),
    known(0x2080_1803, "NV2080_CTRL_CMD_BUS_GET_PCI_BAR_INFO"),
    known(0x2080_1823, "NV2080_CTRL_CMD_BUS_GET_INFO_V2"),
    known(
        0x2080_182a,
        "NV2080_CTRL_CMD_BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS",
    ),
    known(0x2080_182b, "NV2080_CTRL_CMD_BUS_GET_C2C_INFO"),
    known(0x2080_200a, "NV2080_CTRL_CMD_PERF_BOOST"),
    known(0x2080_2209, "NV2080_CTRL_CMD_RC_GET_WATCHDOG_INFO"),
    known(0x2080_220c, "NV2080_CTRL_CMD_RC_RELEASE_WATCHDOG_REQUESTS"),
    known(0x2080_2210, "NV2080_CTRL_CMD_RC_SOFT_DISABLE_WATCHDOG"),
    known(0x2080_2a0a, "NV2080_CTRL_CMD_CE_GET_ALL_CAPS"),
    known(0x2080_3002, "NV2080_CTRL_CMD_NVLINK_GET_NVLINK_STATUS"),
    known(0x2080_3601, "NV2080_CTRL_CMD_GSP_GET_FEATURES"),
    known(0x2080_8159, "closed RM: libcuda, cuInit"),
    known(0x2080_9001, "closed RM clock category: the CUDA runtime"),
    known(0x2080_9009, "closed RM clock category: the CUDA runtime"),
    known(0x2080_9064, "closed RM clock category: the CUDA runtime"),
    known(
        0x2080_a026,
        "closed RM perf category: the CUDA runtime (maximum clocks)",
    ),
    known(0x2080_a084, "closed RM perf category: the CUDA runtime"),
    known(0x83de_0309, "NV83DE_CTRL_CMD_DEBUG_SET_EXCEPTION_MASK"),
    known(
        0x83de_030c,
        "NV83DE_CTRL_CMD_DEBUG_READ_ALL_SM_ERROR_STATES",
    ),
    known(0xa06c_0101, "NVA06C_CTRL_CMD_GPFIFO_SCHEDULE"),
    known(0xa06c_0103, "NVA06C_CTRL_CMD_SET_TIMESLICE"),
    known(0xa06c_0105, "NVA06C_CTRL_CMD_PREEMPT"),
    known(0xc36f_0101, "NVC36F_CTRL_GET_CLASS_ENGINEID"),
    known(0xc36f_0108, "NVC36F_CTRL_CMD_GPFIFO_GET_WORK_SUBMIT_TOKEN"),
    known(
        0xcb33_0101,
        "NV_CONF_COMPUTE_CTRL_CMD_SYSTEM_GET_CAPABILITIES",
    ),
];

/// The known control `cmd` of the 535 family, if it is one.
pub fn known_535(cmd: u32) -> Option<&'static KnownControl> {
    R535.binary_search_by_key(&cmd, |c| c.cmd)
        .ok()
        .and_then(|i| R535.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_unique_and_named() {
        assert!(R535.windows(2).all(|w| w[0].cmd < w[1].cmd));
        for c in R535 {
            assert_eq!(known_535(c.cmd), Some(&c));
            assert!(!c.name.is_empty());
            // A control's interface (bits 31:16 of the command) is the class it is sent to.
            assert!(
                [0x0000, 0x0080, 0x2080, 0x83de, 0xa06c, 0xc36f, 0xcb33].contains(&(c.cmd >> 16)),
                "{:#x}",
                c.cmd
            );
        }
        assert_eq!(
            known_535(0x2080_0130),
            None,
            "SET_COMPUTE_MODE_RULES is a GPU-wide setter"
        );
        assert_eq!(known_535(0x0080_028b), None);
    }

    #[test]
    fn the_controls_fakegpu_rewrites_are_known() {
        // fakegpu filters or answers these only on the route of a known control: were one
        // left out, audit mode would forward it unfiltered.
        for cmd in [
            0x0000_0201, // GET_ATTACHED_IDS
            0x0000_0214, // GET_PROBED_IDS
            0x2080_018d, // GET_PIDS
            0x2080_018e, // GET_PID_INFO
            0x2080_1301, // FB_GET_INFO
            0x2080_1303, // FB_GET_INFO_V2
        ] {
            assert!(known_535(cmd).is_some(), "{cmd:#x}");
        }
    }
}
