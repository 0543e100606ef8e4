//! The RM controls fakegpu knows, by driver family: what NVIDIA's own userspace (libcuda, the
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
//!
//! Apart from those, [`R535_PRIVILEGED`] lists every control the 535 RM declares PRIVILEGED
//! (admin only): the setters of GPU-wide state (compute mode, persistence, ECC, MIG, drain and
//! reset, ...), and [`R535_GPU_WIDE`] the few more that change the whole GPU. fakegpu
//! refuses them in every filter mode with the RM's own answer to a caller without
//! CAP_SYS_ADMIN, `NV_ERR_INSUFFICIENT_PERMISSIONS`, whatever the caller's capabilities: a
//! container given CAP_SYS_ADMIN is still one tenant of a shared GPU.
//!
//! The tables named 535 hold for every family; a later family adds what its userspace sends
//! and what its RM made admin-only ([`FAMILY_CONTROLS`], `docs/nvidia-families.md`).
//!
//! Each known control carries the driver capability it needs (`nv_caps`): `utility` for
//! the process lists and the queries only NVML and nvidia-smi send, none for the rest.

use super::abi::nv_family::DriverFamily;
use super::nv_caps::Capabilities;

/// A control fakegpu knows: one it lets through in strict mode, or one it refuses to
/// everyone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownControl {
    /// The command.
    pub cmd: u32,
    /// Its name in NVIDIA's headers, or who sends it and when.
    pub name: &'static str,
    /// The driver capability a cgroup needs to send it (none if empty).
    pub need: Capabilities,
    /// What its parameters hold, which decides where fakegpu makes it.
    pub layout: Layout,
}

/// What a control's parameters hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Values only (the headers say so): the driver reads nothing beyond the parameters.
    Plain,
    /// Pointers into the caller's memory (`NvP64` fields in the headers).
    Pointers,
    /// Not in the headers (the closed RM's): pointers cannot be ruled out.
    Closed,
}

const fn known(cmd: u32, name: &'static str) -> KnownControl {
    KnownControl {
        cmd,
        name,
        need: Capabilities::NONE,
        layout: Layout::Plain,
    }
}

/// A control only monitoring sends (nvidia-smi, NVML): it needs `utility`.
const fn monitoring(cmd: u32, name: &'static str) -> KnownControl {
    KnownControl {
        need: Capabilities::UTILITY,
        ..known(cmd, name)
    }
}

/// A control whose parameters point into the caller's memory.
const fn pointers(cmd: u32, name: &'static str) -> KnownControl {
    KnownControl {
        layout: Layout::Pointers,
        ..known(cmd, name)
    }
}

/// A control of the closed RM, named by what sends it.
const fn closed(cmd: u32, name: &'static str) -> KnownControl {
    KnownControl {
        layout: Layout::Closed,
        ..known(cmd, name)
    }
}

/// The known controls of the 535 family, and of every later one (see [`FAMILY_CONTROLS`]),
/// sorted by command.
pub const R535: [KnownControl; 85] = [
    pointers(0x0000_0101, "NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION"),
    pointers(0x0000_0127, "NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS"),
    known(0x0000_012b, "NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_V2"),
    known(0x0000_013a, "NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_MATRIX"),
    known(0x0000_013e, "NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION_V2"),
    known(0x0000_01f0, "NV0000_CTRL_CMD_SYSTEM_GET_FEATURES"),
    known(0x0000_0201, "NV0000_CTRL_CMD_GPU_GET_ATTACHED_IDS"),
    pointers(0x0000_0202, "NV0000_CTRL_CMD_GPU_GET_ID_INFO"),
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
    monitoring(
        0x0080_0288,
        "NV0080_CTRL_CMD_GPU_QUERY_SW_STATE_PERSISTENCE",
    ),
    known(0x0080_0289, "NV0080_CTRL_CMD_GPU_GET_VIRTUALIZATION_MODE"),
    known(0x0080_028e, "NV0080_CTRL_CMD_GPU_GET_VGX_CAPS"),
    known(0x0080_0292, "NV0080_CTRL_CMD_GPU_GET_CLASSLIST_V2"),
    known(0x0080_0294, "NV0080_CTRL_CMD_GPU_GET_BRAND_CAPS"),
    known(0x0080_1307, "NV0080_CTRL_CMD_FB_GET_CAPS_V2"),
    known(0x0080_1402, "NV0080_CTRL_CMD_HOST_GET_CAPS_V2"),
    pointers(0x0080_170d, "NV0080_CTRL_CMD_FIFO_GET_CHANNELLIST"),
    closed(0x0080_9909, "closed RM: libcuda, end of cuCtxCreate"),
    known(0x2080_0102, "NV2080_CTRL_CMD_GPU_GET_INFO_V2"),
    known(0x2080_0110, "NV2080_CTRL_CMD_GPU_GET_NAME_STRING"),
    known(0x2080_0111, "NV2080_CTRL_CMD_GPU_GET_SHORT_NAME_STRING"),
    known(0x2080_0119, "NV2080_CTRL_CMD_GPU_GET_SIMULATION_INFO"),
    known(0x2080_012f, "NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS"),
    known(0x2080_0131, "NV2080_CTRL_CMD_GPU_QUERY_COMPUTE_MODE_RULES"),
    monitoring(0x2080_0133, "NV2080_CTRL_CMD_GPU_QUERY_ECC_CONFIGURATION"),
    closed(0x2080_0145, "closed RM: libcuda, cuCtxCreate"),
    closed(
        0x2080_0146,
        "closed RM: libcuda, counterpart of 0x2080_0145",
    ),
    known(0x2080_014a, "NV2080_CTRL_CMD_GPU_GET_GID_INFO"),
    monitoring(
        0x2080_014b,
        "NV2080_CTRL_CMD_GPU_GET_INFOROM_OBJECT_VERSION",
    ),
    monitoring(0x2080_0157, "NV2080_CTRL_CMD_GPU_QUERY_INFOROM_ECC_SUPPORT"),
    known(0x2080_0170, "NV2080_CTRL_CMD_GPU_GET_ENGINES_V2"),
    known(0x2080_018b, "NV2080_CTRL_CMD_GPU_GET_ACTIVE_PARTITION_IDS"),
    monitoring(0x2080_018d, "NV2080_CTRL_CMD_GPU_GET_PIDS"),
    monitoring(0x2080_018e, "NV2080_CTRL_CMD_GPU_GET_PID_INFO"),
    known(0x2080_01a3, "NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO"),
    known(
        0x2080_0406,
        "NV2080_CTRL_CMD_TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO",
    ),
    pointers(0x2080_1201, "NV2080_CTRL_CMD_GR_GET_INFO"),
    known(0x2080_1210, "NV2080_CTRL_CMD_GR_SET_CTXSW_PREEMPTION_MODE"),
    known(0x2080_1218, "NV2080_CTRL_CMD_GR_GET_CTX_BUFFER_SIZE"),
    known(0x2080_121b, "NV2080_CTRL_CMD_GR_GET_GLOBAL_SM_ORDER"),
    known(0x2080_1227, "NV2080_CTRL_CMD_GR_GET_CAPS_V2"),
    known(0x2080_122a, "NV2080_CTRL_CMD_GR_GET_GPC_MASK"),
    known(0x2080_122b, "NV2080_CTRL_CMD_GR_GET_TPC_MASK"),
    known(0x2080_1230, "NV2080_CTRL_CMD_GR_GET_SM_ISSUE_RATE_MODIFIER"),
    pointers(0x2080_1301, "NV2080_CTRL_CMD_FB_GET_INFO"),
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
    closed(0x2080_8159, "closed RM: libcuda, cuInit"),
    closed(0x2080_9001, "closed RM clock category: the CUDA runtime"),
    closed(0x2080_9009, "closed RM clock category: the CUDA runtime"),
    closed(0x2080_9064, "closed RM clock category: the CUDA runtime"),
    closed(
        0x2080_a026,
        "closed RM perf category: the CUDA runtime (maximum clocks)",
    ),
    closed(0x2080_a084, "closed RM perf category: the CUDA runtime"),
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

/// Every control the 535 RM declares PRIVILEGED and not INTERNAL, sorted by command: from
/// its export tables (`src/nvidia/generated/g_*_nvoc.c` of NVIDIA's open modules 535.288.01,
/// flags with `RMCTRL_FLAGS_PRIVILEGED` and without `RMCTRL_FLAGS_INTERNAL`), named as in the
/// headers, or by the RM's handler where the headers lack the command.
pub const R535_PRIVILEGED: [KnownControl; 147] = [
    known(
        0x0000_013c,
        "NV0000_CTRL_CMD_SYSTEM_SYNC_EXTERNAL_FABRIC_MGMT",
    ),
    known(
        0x0000_013d,
        "NV0000_CTRL_CMD_SYSTEM_GET_CLIENT_DATABASE_INFO",
    ),
    known(0x0000_013f, "NV0000_CTRL_CMD_SYSTEM_RMCTRL_CACHE_MODE_CTRL"),
    known(0x0000_0278, "NV0000_CTRL_CMD_GPU_MODIFY_DRAIN_STATE"),
    known(0x0000_0286, "NV0000_CTRL_CMD_GPU_SET_NVLINK_BW_MODE"),
    known(0x0000_0602, "NV0000_CTRL_CMD_NVD_GET_DUMP"),
    known(0x0000_0604, "NV0000_CTRL_CMD_NVD_GET_NVLOG_INFO"),
    known(0x0000_0605, "NV0000_CTRL_CMD_NVD_GET_NVLOG_BUFFER_INFO"),
    known(0x0000_0606, "NV0000_CTRL_CMD_NVD_GET_NVLOG"),
    known(0x0000_0a02, "NV0000_CTRL_CMD_SYNC_GPU_BOOST_GROUP_CREATE"),
    known(0x0000_0a03, "NV0000_CTRL_CMD_SYNC_GPU_BOOST_GROUP_DESTROY"),
    known(0x0000_0b01, "NV0000_CTRL_CMD_GPUACCT_SET_ACCOUNTING_STATE"),
    known(0x0000_0b05, "NV0000_CTRL_CMD_GPUACCT_CLEAR_ACCOUNTING_DATA"),
    known(0x0000_0c05, "NV0000_CTRL_CMD_VGPU_VFIO_NOTIFY_RM_STATUS"),
    known(0x0020_0101, "NV0020_CTRL_CMD_GPU_MGMT_SET_SHUTDOWN_STATE"),
    known(0x0073_0123, "NV0073_CTRL_CMD_SYSTEM_GET_HOTPLUG_CONFIG"),
    known(0x0073_015a, "NV0073_CTRL_CMD_SYSTEM_GET_ACPI_ID_MAP"),
    known(
        0x0073_015c,
        "NV0073_CTRL_CMD_SYSTEM_ACPI_SUBSYSTEM_ACTIVATED",
    ),
    known(0x0073_0165, "NV0073_CTRL_CMD_SYSTEM_GET_CONNECTOR_TABLE"),
    known(0x0073_0166, "NV0073_CTRL_CMD_SYSTEM_GET_BOOT_DISPLAYS"),
    known(0x0073_0185, "NV0073_CTRL_CMD_SYSTEM_VRR_DISPLAY_INFO"),
    known(
        0x0073_0197,
        "NV0073_CTRL_CMD_SYSTEM_GET_HOTPLUG_EVENT_CONFIG",
    ),
    known(
        0x0073_0198,
        "NV0073_CTRL_CMD_SYSTEM_SET_HOTPLUG_EVENT_CONFIG",
    ),
    known(0x0073_0240, "NV0073_CTRL_CMD_SPECIFIC_GET_TYPE"),
    known(0x0073_0243, "NV0073_CTRL_CMD_SPECIFIC_FAKE_DEVICE"),
    known(0x0073_0245, "NV0073_CTRL_CMD_SPECIFIC_GET_EDID_V2"),
    known(0x0073_0246, "NV0073_CTRL_CMD_SPECIFIC_SET_EDID_V2"),
    known(0x0073_0274, "NV0073_CTRL_CMD_SPECIFIC_CTRL_HDMI"),
    known(
        0x0073_0275,
        "NV0073_CTRL_CMD_SPECIFIC_SET_HDMI_AUDIO_MUTESTREAM",
    ),
    known(0x0073_0284, "NV0073_CTRL_CMD_SPECIFIC_SET_ACPI_ID_MAPPING"),
    known(
        0x0073_0285,
        "NV0073_CTRL_CMD_SPECIFIC_GET_ACPI_DOD_DISPLAY_PORT_ATTACHMENT",
    ),
    known(0x0073_0287, "NV0073_CTRL_CMD_SPECIFIC_GET_ALL_HEAD_MASK"),
    known(0x0073_028b, "NV0073_CTRL_CMD_SPECIFIC_OR_GET_INFO"),
    known(0x0073_114c, "NV0073_CTRL_CMD_DFP_GET_SPREAD_SPECTRUM"),
    known(0x0073_114e, "NV0073_CTRL_CMD_DFP_UPDATE_DYNAMIC_DFP_CACHE"),
    known(0x0073_1153, "NV0073_CTRL_CMD_DFP_GET_PADLINK_MASK"),
    known(0x0073_1154, "NV0073_CTRL_CMD_DFP_GET_LCD_GPIO_PIN_NUM"),
    known(0x0073_1156, "NV0073_CTRL_CMD_DFP_CONFIG_TWO_HEAD_ONE_OR"),
    known(0x0073_1157, "NV0073_CTRL_CMD_DFP_DSC_CRC_CONTROL"),
    known(0x0073_1160, "NV0073_CTRL_CMD_DFP_SWITCH_DISP_MUX"),
    known(0x0073_1166, "NV0073_CTRL_CMD_DFP_GET_DSI_MODE_TIMING"),
    known(0x0073_1341, "NV0073_CTRL_CMD_DP_AUXCH_CTRL"),
    known(0x0073_1342, "NV0073_CTRL_CMD_DP_AUXCH_SET_SEMA"),
    known(0x0073_1343, "NV0073_CTRL_CMD_DP_CTRL"),
    known(0x0073_1345, "NV0073_CTRL_CMD_DP_GET_LANE_DATA"),
    known(0x0073_1346, "NV0073_CTRL_CMD_DP_SET_LANE_DATA"),
    known(0x0073_1347, "NV0073_CTRL_CMD_DP_SET_TESTPATTERN"),
    known(
        0x0073_1351,
        "NV0073_CTRL_CMD_DP_SET_PREEMPHASIS_DRIVECURRENT_POSTCURSOR2_DATA",
    ),
    known(
        0x0073_1352,
        "NV0073_CTRL_CMD_DP_GET_PREEMPHASIS_DRIVECURRENT_POSTCURSOR2_DATA",
    ),
    known(0x0073_1356, "NV0073_CTRL_CMD_DP_MAIN_LINK_CTRL"),
    known(0x0073_1358, "NV0073_CTRL_CMD_DP_GET_AUDIO_MUTESTREAM"),
    known(0x0073_135a, "NV0073_CTRL_CMD_DP_ASSR_CTRL"),
    known(
        0x0073_135b,
        "NV0073_CTRL_CMD_DP_TOPOLOGY_ALLOCATE_DISPLAYID",
    ),
    known(0x0073_135c, "NV0073_CTRL_CMD_DP_TOPOLOGY_FREE_DISPLAYID"),
    known(0x0073_1360, "NV0073_CTRL_CMD_DP_GET_LINK_CONFIG"),
    known(0x0073_1361, "NV0073_CTRL_CMD_DP_GET_EDP_DATA"),
    known(0x0073_1362, "NV0073_CTRL_CMD_DP_CONFIG_STREAM"),
    known(0x0073_1363, "NV0073_CTRL_CMD_DP_SET_RATE_GOV"),
    known(0x0073_1365, "NV0073_CTRL_CMD_DP_SET_MANUAL_DISPLAYPORT"),
    known(0x0073_1366, "NV0073_CTRL_CMD_DP_SET_ECF"),
    known(0x0073_1367, "NV0073_CTRL_CMD_DP_SEND_ACT"),
    known(0x0073_1369, "NV0073_CTRL_CMD_DP_GET_CAPS"),
    known(0x0073_136b, "NV0073_CTRL_CMD_DP_GENERATE_FAKE_INTERRUPT"),
    known(0x0073_136c, "NV0073_CTRL_CMD_DP_CONFIG_RAD_SCRATCH_REG"),
    known(
        0x0073_136e,
        "NV0073_CTRL_CMD_DP_CONFIG_SINGLE_HEAD_MULTI_STREAM",
    ),
    known(0x0073_136f, "NV0073_CTRL_CMD_DP_SET_TRIGGER_SELECT"),
    known(0x0073_1370, "NV0073_CTRL_CMD_DP_SET_TRIGGER_ALL"),
    known(0x0073_1373, "NV0073_CTRL_CMD_DP_GET_AUXLOGGER_BUFFER_DATA"),
    known(0x0073_1377, "NV0073_CTRL_CMD_DP_CONFIG_INDEXED_LINK_RATES"),
    known(0x0073_1378, "NV0073_CTRL_CMD_DP_SET_STEREO_MSA_PROPERTIES"),
    known(0x0073_137a, "NV0073_CTRL_CMD_DP_CONFIGURE_FEC"),
    known(0x0073_137b, "NV0073_CTRL_CMD_DP_CONFIG_MACRO_PAD"),
    known(0x0073_137d, "NV0073_CTRL_CMD_DP_ENABLE_VRR"),
    known(0x0073_137e, "NV0073_CTRL_CMD_DP_GET_GENERIC_INFOFRAME"),
    known(0x0073_137f, "NV0073_CTRL_CMD_DP_GET_MSA_ATTRIBUTES"),
    known(0x0073_1380, "NV0073_CTRL_CMD_DP_AUXCH_OD_CTRL"),
    known(0x0073_1381, "NV0073_CTRL_CMD_DP_SET_MSA_PROPERTIES_V2"),
    known(0x0073_1602, "NV0073_CTRL_CMD_PSR_GET_SR_PANEL_INFO"),
    known(0x0073_1702, "NV0073_CTRL_CMD_STEREO_DONGLE_SUPPORTED"),
    known(
        0x0080_0287,
        "NV0080_CTRL_CMD_GPU_MODIFY_SW_STATE_PERSISTENCE",
    ),
    known(0x0080_0296, "deviceCtrlCmdGpuSetVgpuVfBar1Size"),
    known(0x0080_1711, "NV0080_CTRL_CMD_FIFO_STOP_RUNLIST"),
    known(0x0080_1712, "NV0080_CTRL_CMD_FIFO_START_RUNLIST"),
    known(0x0080_1813, "NV0080_CTRL_CMD_DMA_SET_PAGE_DIRECTORY"),
    known(0x0080_1814, "NV0080_CTRL_CMD_DMA_UNSET_PAGE_DIRECTORY"),
    known(0x00f8_0102, "NV00F8_CTRL_CMD_DESCRIBE"),
    known(0x2080_0120, "NV2080_CTRL_CMD_GPU_SET_SDM"),
    known(0x2080_012b, "NV2080_CTRL_CMD_GPU_PROMOTE_CTX"),
    known(0x2080_012d, "NV2080_CTRL_CMD_GPU_INITIALIZE_CTX"),
    known(0x2080_0130, "NV2080_CTRL_CMD_GPU_SET_COMPUTE_MODE_RULES"),
    known(0x2080_0134, "NV2080_CTRL_CMD_GPU_SET_ECC_CONFIGURATION"),
    known(0x2080_0136, "NV2080_CTRL_CMD_GPU_RESET_ECC_ERROR_STATUS"),
    known(
        0x2080_0179,
        "NV2080_CTRL_CMD_GPU_GET_ENGINE_RUNLIST_PRI_BASE",
    ),
    known(0x2080_0183, "NV2080_CTRL_CMD_GPU_SET_PARTITIONING_MODE"),
    known(0x2080_0194, "subdeviceCtrlCmdGpuSetComputePolicyConfig"),
    known(
        0x2080_0197,
        "NV2080_CTRL_CMD_GPU_UPDATE_GFID_P2P_CAPABILITY",
    ),
    known(0x2080_1104, "NV2080_CTRL_CMD_SET_OPERATIONAL_PROPERTIES"),
    known(0x2080_110c, "NV2080_CTRL_CMD_FIFO_GET_CHANNEL_MEM_INFO"),
    known(0x2080_1113, "NV2080_CTRL_CMD_FIFO_CLEAR_FAULTED_BIT"),
    known(0x2080_1116, "NV2080_CTRL_CMD_FIFO_UPDATE_CHANNEL_INFO"),
    known(0x2080_1119, "NV2080_CTRL_CMD_FIFO_GET_ALLOCATED_CHANNELS"),
    known(0x2080_1232, "NV2080_CTRL_CMD_GR_GET_PHYS_GPC_MASK"),
    known(0x2080_1337, "NV2080_CTRL_CMD_FB_CBC_OP"),
    known(0x2080_1338, "NV2080_CTRL_CMD_FB_GET_CTAGS_FOR_CBC_EVICTION"),
    known(
        0x2080_133c,
        "NV2080_CTRL_CMD_FB_GET_CLI_MANAGED_OFFLINED_PAGES",
    ),
    known(
        0x2080_133d,
        "NV2080_CTRL_CMD_FB_GET_COMPBITCOPY_CONSTRUCT_INFO",
    ),
    known(0x2080_133e, "NV2080_CTRL_CMD_FB_SET_RRD"),
    known(0x2080_133f, "NV2080_CTRL_CMD_FB_SET_READ_LIMIT"),
    known(0x2080_1340, "NV2080_CTRL_CMD_FB_SET_WRITE_LIMIT"),
    known(0x2080_1341, "NV2080_CTRL_CMD_FB_PATCH_PBR_FOR_MINING"),
    known(
        0x2080_170c,
        "NV2080_CTRL_CMD_MC_CHANGE_REPLAYABLE_FAULT_OWNERSHIP",
    ),
    known(0x2080_1804, "NV2080_CTRL_CMD_BUS_SET_PCIE_LINK_WIDTH"),
    known(0x2080_1805, "NV2080_CTRL_CMD_BUS_SET_PCIE_SPEED"),
    known(0x2080_2207, "NV2080_CTRL_CMD_RC_SET_CLEAN_ERROR_HISTORY"),
    known(0x2080_220d, "NV2080_CTRL_CMD_SET_RC_RECOVERY"),
    known(0x2080_220e, "NV2080_CTRL_CMD_GET_RC_RECOVERY"),
    known(0x2080_2211, "NV2080_CTRL_CMD_SET_RC_INFO"),
    known(0x2080_2212, "NV2080_CTRL_CMD_GET_RC_INFO"),
    known(0x2080_2402, "NV2080_CTRL_CMD_NVD_GET_DUMP"),
    known(0x2080_2409, "NV2080_CTRL_CMD_NVD_GET_NOCAT_JOURNAL"),
    known(0x2080_240b, "NV2080_CTRL_CMD_NVD_SET_NOCAT_JOURNAL_DATA"),
    known(0x2080_2801, "NV2080_CTRL_CMD_LPWR_DIFR_CTRL"),
    known(0x2080_2a05, "NV2080_CTRL_CMD_CE_UPDATE_PCE_LCE_MAPPINGS"),
    known(0x2080_3005, "NV2080_CTRL_CMD_NVLINK_CLEAR_COUNTERS"),
    known(0x2080_3011, "NV2080_CTRL_CMD_NVLINK_GET_LINK_FOM_VALUES"),
    known(0x2080_3014, "NV2080_CTRL_CMD_NVLINK_GET_NVLINK_ECC_ERRORS"),
    known(0x2080_303e, "NV2080_CTRL_CMD_NVLINK_SET_L1_THRESHOLD"),
    known(0x2080_3044, "NV2080_CTRL_CMD_NVLINK_GET_PORT_EVENTS"),
    known(0x2080_3045, "NV2080_CTRL_CMD_NVLINK_CYCLE_LINK"),
    known(0x2080_3123, "NV2080_CTRL_CMD_FLCN_USTREAMER_CONTROL_SET"),
    known(0x2080_3502, "NV2080_CTRL_CMD_FLA_SETUP_INSTANCE_MEM_BLOCK"),
    known(0x2080_3503, "NV2080_CTRL_CMD_FLA_GET_RANGE"),
    known(0x2080_3d08, "NV2080_CTRL_CMD_OS_UNIX_UPDATE_TGP_STATUS"),
    known(0x208f_0515, "NV208F_CTRL_CMD_FB_CLEAR_REMAPPED_ROWS"),
    known(0x30f1_0181, "NV30F1_CTRL_CMD_GSYNC_WRITE_REGISTER"),
    known(
        0x90f1_0106,
        "NV90F1_CTRL_CMD_VASPACE_COPY_SERVER_RESERVED_PDES",
    ),
    known(0xa081_0101, "NVA081_CTRL_CMD_VGPU_CONFIG_SET_INFO"),
    known(0xa081_0116, "NVA081_CTRL_CMD_VGPU_CONFIG_GET_FREE_SWIZZID"),
    known(0xa081_0119, "NVA081_CTRL_CMD_VGPU_CONFIG_SET_PGPU_INFO"),
    known(0xa081_011a, "NVA081_CTRL_CMD_VGPU_CONFIG_VALIDATE_SWIZZID"),
    known(
        0xb069_0106,
        "NVB069_CTRL_CMD_FAULTBUFFER_GET_REGISTER_MAPPINGS",
    ),
    known(0xb06f_010d, "NVB06F_CTRL_CMD_MIGRATE_ENGINE_CTX_DATA"),
    known(0xb06f_0110, "NVB06F_CTRL_CMD_SET_CHANNEL_HW_STATE"),
    known(0xb06f_0112, "NVB06F_CTRL_CMD_RESTORE_ENGINE_CTX_DATA"),
    known(
        0xc36f_0109,
        "NVC36F_CTRL_CMD_GPFIFO_UPDATE_FAULT_METHOD_BUFFER",
    ),
    known(0xcb33_0105, "confComputeApiCtrlCmdSystemSetGpusState"),
    known(0xcb33_0107, "confComputeApiCtrlCmdGpuSetVidmemSize"),
];

/// Controls that change the whole GPU although the open RM's tables do not list them as
/// PRIVILEGED (the closed RM answers them): nvidia-smi sends BIF_RESET for `-r`.
pub const R535_GPU_WIDE: [KnownControl; 1] = [known(0x0080_0102, "NV0080_CTRL_CMD_BIF_RESET")];

/// The controls 550.163.01's RM declares PRIVILEGED (and not INTERNAL) that 535's did not
/// (its `g_*_nvoc.c` export tables): ten new ones and nine G-Sync setters that were open to
/// everyone in 535. 550 no longer exports NVLINK_CYCLE_LINK and lets anyone DESCRIBE
/// (0x00f80102); both stay refused, the one as unknown to 550, the other as fabric memory
/// fakegpu does not meter.
pub const R550_PRIVILEGED_ADDED: [KnownControl; 19] = [
    known(0x0000_0109, "NV0000_CTRL_CMD_SYSTEM_GET_LOCK_TIMES"),
    known(0x0050_0101, "NV0050_CTRL_CMD_MEMSET"),
    known(0x0050_0102, "NV0050_CTRL_CMD_MEMCOPY"),
    known(0x0050_0103, "NV0050_CTRL_CMD_CHECK_PROGRESS"),
    known(0x0073_0502, "NV0073_CTRL_CMD_FRL_CONFIG_MACRO_PAD"),
    known(0x2080_01e4, "NV2080_CTRL_GPU_GET_FIPS_STATUS"),
    known(
        0x2080_030a,
        "NV2080_CTRL_CMD_EVENT_RATS_GSP_TRACE_BIND_EVTBUF",
    ),
    known(
        0x2080_240c,
        "NV2080_CTRL_CMD_NVD_INSERT_NOCAT_JOURNAL_RECORD",
    ),
    known(0x30f1_0104, "NV30F1_CTRL_CMD_GSYNC_SET_CONTROL_PARAMS"),
    known(0x30f1_0111, "NV30F1_CTRL_CMD_GSYNC_SET_CONTROL_SYNC"),
    known(0x30f1_0112, "NV30F1_CTRL_CMD_GSYNC_SET_CONTROL_UNSYNC"),
    known(
        0x30f1_0141,
        "NV30F1_CTRL_CMD_GSYNC_SET_CONTROL_INTERLACE_MODE",
    ),
    known(
        0x30f1_0172,
        "NV30F1_CTRL_CMD_GSYNC_SET_CONTROL_STEREO_LOCK_MODE",
    ),
    known(0x30f1_0180, "NV30F1_CTRL_CMD_GSYNC_READ_REGISTER"),
    known(0x30f1_0185, "NV30F1_CTRL_CMD_GSYNC_SET_LOCAL_SYNC"),
    known(0x30f1_0186, "NV30F1_CTRL_CMD_GSYNC_CONFIG_FLASH"),
    known(0x30f1_0188, "NV30F1_CTRL_CMD_GSYNC_SET_HOUSE_SYNC_MODE"),
    known(
        0xa081_011b,
        "NVA081_CTRL_CMD_VGPU_CONFIG_UPDATE_HETEROGENEOUS_INFO",
    ),
    known(0xc56f_010d, "NV_CONF_COMPUTE_CTRL_SET_SECURITY_POLICY"),
];

/// The controls of the 550 RM its userspace sends that 535's lacks: NVML attaches GPUs in
/// the background (the RM only checks the GPU id; the wait is a no-op in the RM), and
/// libcuda asks for the CUDA clock limit with each context (reference-counted per client
/// by the RM, like PERF_BOOST).
pub const R550_ADDED: [KnownControl; 3] = [
    known(0x0000_0289, "NV0000_CTRL_CMD_GPU_ASYNC_ATTACH_ID"),
    known(0x0000_0290, "NV0000_CTRL_CMD_GPU_WAIT_ATTACH_ID"),
    known(0x0080_1909, "NV0080_CTRL_CMD_PERF_CUDA_LIMIT_SET_CONTROL"),
];

/// The control tables of one driver family beyond what all share: the allowlist
/// ([`R535`]) and the admin-only lists ([`R535_PRIVILEGED`], [`R535_GPU_WIDE`]) hold for
/// every family; a later family adds the controls its userspace needs and what its RM made
/// admin-only.
#[derive(Debug)]
pub struct FamilyControls {
    /// The family's branch (`DriverFamily::branch`).
    pub branch: u32,
    /// Controls the family adds to the allowlist, sorted.
    pub allowed_added: &'static [KnownControl],
    /// Controls the family's RM made admin-only, sorted.
    pub privileged_added: &'static [KnownControl],
}

/// Every family's additions.
pub const FAMILY_CONTROLS: [FamilyControls; 2] = [
    FamilyControls {
        branch: 535,
        allowed_added: &[],
        privileged_added: &[],
    },
    FamilyControls {
        branch: 550,
        allowed_added: &R550_ADDED,
        privileged_added: &R550_PRIVILEGED_ADDED,
    },
];

/// `family`'s additions (none for a family without an entry).
fn additions(family: &DriverFamily) -> Option<&'static FamilyControls> {
    FAMILY_CONTROLS.iter().find(|f| f.branch == family.branch)
}

/// `cmd` in `table`, sorted by command.
fn find(table: &'static [KnownControl], cmd: u32) -> Option<&'static KnownControl> {
    table
        .binary_search_by_key(&cmd, |c| c.cmd)
        .ok()
        .and_then(|i| table.get(i))
}

/// The admin-only control `cmd` of `family` (one of [`R535_PRIVILEGED`], [`R535_GPU_WIDE`]
/// or the family's additions), if it is one.
pub fn admin_only(cmd: u32, family: &DriverFamily) -> Option<&'static KnownControl> {
    let added = additions(family).map_or(&[][..], |f| f.privileged_added);
    find(&R535_PRIVILEGED, cmd)
        .or_else(|| R535_GPU_WIDE.iter().find(|c| c.cmd == cmd))
        .or_else(|| find(added, cmd))
}

/// Whether RM control `cmd`, a known one of `family`, is made in the caller's own address
/// space (its parameters may point into it), not in fakegpu's scratch space.
pub fn made_in_caller_mm(cmd: u32, family: &DriverFamily) -> bool {
    known_control(cmd, family).is_some_and(|c| c.layout != Layout::Plain)
}

/// What RM control `cmd` needs in `family`: its known entry's capability; nothing for any
/// other control (it is refused or audited by the filter on its own).
pub fn control_need(cmd: u32, family: &DriverFamily) -> Capabilities {
    known_control(cmd, family).map_or(Capabilities::NONE, |c| c.need)
}

/// The known control `cmd` of `family` (the shared allowlist or the family's additions), if
/// it is one.
pub fn known_control(cmd: u32, family: &DriverFamily) -> Option<&'static KnownControl> {
    let added = additions(family).map_or(&[][..], |f| f.allowed_added);
    find(&R535, cmd).or_else(|| find(added, cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known control `cmd` on a 535 driver.
    fn known_535(cmd: u32) -> Option<&'static KnownControl> {
        known_control(cmd, &nv_family::R535)
    }
    use crate::abi::nv_family::{self, FAMILIES};

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
    fn layouts() {
        let with = |layout| {
            R535.iter()
                .filter(|c| c.layout == layout)
                .map(|c| c.cmd)
                .collect::<Vec<_>>()
        };
        // Found with the 535 headers: the parameter structs with an NvP64 field.
        assert_eq!(
            with(Layout::Pointers),
            [0x101, 0x127, 0x202, 0x0080_170d, 0x2080_1201, 0x2080_1301]
        );
        assert_eq!(with(Layout::Closed).len(), 9);
        assert!(R535
            .iter()
            .all(|c| (c.layout == Layout::Closed) == c.name.starts_with("closed RM")));
        assert!(
            made_in_caller_mm(0x2080_1201, &nv_family::R535)
                && !made_in_caller_mm(0x2080_0110, &nv_family::R535)
        );
    }

    #[test]
    fn monitoring_controls_need_utility() {
        let utility: Vec<u32> = R535
            .iter()
            .filter(|c| c.need == Capabilities::UTILITY)
            .map(|c| c.cmd)
            .collect();
        // GET_PIDS, GET_PID_INFO, QUERY_SW_STATE_PERSISTENCE, QUERY_ECC_CONFIGURATION,
        // GET_INFOROM_OBJECT_VERSION, QUERY_INFOROM_ECC_SUPPORT.
        assert_eq!(
            utility,
            [
                0x0080_0288,
                0x2080_0133,
                0x2080_014b,
                0x2080_0157,
                0x2080_018d,
                0x2080_018e
            ]
        );
        assert!(R535
            .iter()
            .all(|c| c.need == Capabilities::NONE || c.need == Capabilities::UTILITY));
        assert!(!Capabilities::COMPUTE.allows(control_need(0x2080_018d, &nv_family::R535)));
        assert!(Capabilities::NONE.allows(control_need(0x2080_0110, &nv_family::R535)));
        assert_eq!(
            control_need(0x2080_0130, &nv_family::R535),
            Capabilities::NONE,
            "refused anyway"
        );
    }

    #[test]
    fn privileged_controls_are_sorted_and_never_allowed() {
        assert!(R535_PRIVILEGED.windows(2).all(|w| w[0].cmd < w[1].cmd));
        for c in R535_PRIVILEGED.iter().chain(R535_GPU_WIDE.iter()) {
            for family in FAMILIES {
                assert_eq!(admin_only(c.cmd, family), Some(c));
            }
            assert_eq!(known_535(c.cmd), None, "{} is privileged", c.name);
        }
        // 550's additions are its own, sorted, and new to the shared lists.
        assert!(R550_PRIVILEGED_ADDED
            .windows(2)
            .all(|w| w[0].cmd < w[1].cmd));
        for c in &R550_PRIVILEGED_ADDED {
            assert_eq!(admin_only(c.cmd, &nv_family::R550), Some(c));
            assert_eq!(admin_only(c.cmd, &nv_family::R535), None, "{}", c.name);
            assert_eq!(known_535(c.cmd), None, "{} is privileged", c.name);
        }
        // 550's own controls are known to 550 only.
        for c in &R550_ADDED {
            assert_eq!(known_control(c.cmd, &nv_family::R550), Some(c));
            assert_eq!(known_control(c.cmd, &nv_family::R535), None);
        }
        let families: Vec<u32> = FAMILIES.iter().map(|f| f.branch).collect();
        let tables: Vec<u32> = FAMILY_CONTROLS.iter().map(|f| f.branch).collect();
        assert_eq!(families, tables, "every family has its control additions");
        // The setters nvidia-smi sends for -c, -pm, -e, -mig and -r.
        for cmd in [
            0x2080_0130,
            0x0080_0287,
            0x2080_0134,
            0x2080_0183,
            0x0080_0102,
        ] {
            assert!(admin_only(cmd, &nv_family::R535).is_some(), "{cmd:#x}");
        }
        // Their queries are open to every client.
        for cmd in [0x2080_0131, 0x0080_0288, 0x2080_0133] {
            assert!(admin_only(cmd, &nv_family::R535).is_none() && known_535(cmd).is_some());
        }
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
