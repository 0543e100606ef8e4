//! The informational control commands nvsim answers for NVIDIA's own userspace (NVML,
//! nvidia-smi, libcuda): GPU enumeration, ids, PCI location, UUIDs, the build version.
//! Found by running those clients with nvsim's trace mode; each answer is consistent with
//! the simulated GPUs' CARD_INFO records. Parameter layouts are the 535 headers'
//! (`ctrl0000gpu.h`, `ctrl0000system.h`, `ctrl2080*.h`, `ctrl0080*.h`).

use super::abi::nv_family::DriverFamily;
use super::abi::nv_rm::ctrl::{Spec, Target};
use super::abi::nv_status::*;
use super::abi::pod::{read_pod, write_pod};
use super::admin::Settings;
use super::frontend::SimGpu;

/// An id slot with no GPU in an id list (`NV0000_CTRL_GPU_INVALID_ID`).
pub const INVALID_ID: u32 = 0xffff_ffff;
/// Ids in the probed and attach lists (`NV0000_CTRL_GPU_MAX_PROBED_GPUS`).
const MAX_PROBED: usize = 32;
/// `NV0000_GPU_MAX_GID_LENGTH`.
const GID_LENGTH: usize = 256;
/// `NV0000_CTRL_SYSTEM_GET_BUILD_VERSION_V2_MAX_STRING_SIZE`.
const VERSION_STRING: usize = 256;

/// `NV0000_CTRL_CMD_GPU_GET_ID_INFO_V2`.
pub const GPU_GET_ID_INFO_V2: u32 = 0x205;
/// `NV0000_CTRL_CMD_GPU_GET_ID_INFO` (the first version, with an unused name pointer).
pub const GPU_GET_ID_INFO: u32 = 0x202;
/// `NV0000_CTRL_CMD_GPU_GET_INIT_STATUS`.
pub const GPU_GET_INIT_STATUS: u32 = 0x203;
/// `NV0000_CTRL_CMD_GPU_GET_PROBED_IDS`.
pub const GPU_GET_PROBED_IDS: u32 = 0x214;
/// `NV0000_CTRL_CMD_GPU_ATTACH_IDS`.
pub const GPU_ATTACH_IDS: u32 = 0x215;
/// `NV0000_CTRL_CMD_GPU_GET_PCI_INFO`.
pub const GPU_GET_PCI_INFO: u32 = 0x21b;
/// `NV0000_CTRL_CMD_GPU_GET_UUID_FROM_GPU_ID`.
pub const GPU_GET_UUID_FROM_GPU_ID: u32 = 0x275;
/// `NV0000_CTRL_CMD_GPU_DETACH_IDS`.
pub const GPU_DETACH_IDS: u32 = 0x216;
/// `NV0000_CTRL_CMD_GPU_QUERY_DRAIN_STATE`.
pub const GPU_QUERY_DRAIN_STATE: u32 = 0x279;
/// `NV0000_CTRL_CMD_SYSTEM_GET_FEATURES`: no UEFI, no EFI-initialised display, no IMEX
/// channels (libcuda 550 asks).
pub const SYSTEM_GET_FEATURES: u32 = 0x1f0;
/// `NV0000_CTRL_CMD_SYSTEM_GET_FABRIC_STATUS`: `_SKIP` (1), the RM's answer where no fabric
/// manager runs (nvidia-smi asks before a reset).
pub const SYSTEM_GET_FABRIC_STATUS: u32 = 0x136;
const FABRIC_STATUS_SKIP: u32 = 1;
/// `NV0000_CTRL_CMD_GPU_ASYNC_ATTACH_ID` (550 on): starts attaching one GPU in the
/// background; the RM only checks that the id is a probed GPU's.
pub const GPU_ASYNC_ATTACH_ID: u32 = 0x289;
/// `NV0000_CTRL_CMD_GPU_WAIT_ATTACH_ID` (550 on): waits for that; nothing for the RM to do.
pub const GPU_WAIT_ATTACH_ID: u32 = 0x290;
/// `NV0080_CTRL_CMD_PERF_CUDA_LIMIT_SET_CONTROL` (550 on): libcuda turns the CUDA clock
/// limit on for each context; nvsim has no clocks to limit.
pub const PERF_CUDA_LIMIT_SET_CONTROL: u32 = 0x0080_1909;
/// `NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION`: the strings go to pointers in the params.
pub const SYSTEM_GET_BUILD_VERSION: u32 = 0x101;
/// `NV0000_CTRL_CMD_SYSTEM_GET_BUILD_VERSION_V2`.
pub const SYSTEM_GET_BUILD_VERSION_V2: u32 = 0x13e;

/// `NV0080_CTRL_CMD_GPU_GET_VIRTUALIZATION_MODE`.
pub const DEVICE_GET_VIRTUALIZATION_MODE: u32 = 0x0080_0289;

/// `NV2080_CTRL_CMD_TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO`.
pub const TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO: u32 = 0x2080_0406;
/// Most samples that control takes (`NV2080_CTRL_TIMER_GPU_CPU_TIME_MAX_SAMPLES`).
const TIME_MAX_SAMPLES: usize = 16;
/// Its CPU clock source "OS time" (microseconds since the epoch).
const CPU_CLK_OSTIME: u8 = 1;

/// `NV2080_CTRL_CMD_MC_GET_ARCH_INFO`.
pub const MC_GET_ARCH_INFO: u32 = 0x2080_1701;
/// Hopper (`NV2080_CTRL_MC_ARCH_INFO_ARCHITECTURE_GH100`), what an H100's RM reports, with
/// implementation 0 (GH100) and revision A1.
const ARCH_GH100: u32 = 0x180;
const REVISION_A1: u32 = 0xa1;

/// `NV0000_CTRL_CMD_CLIENT_SET_INHERITED_SHARE_POLICY`: share policies are not simulated
/// (RM_SHARE and RM_DUP_OBJECT admit any client), so setting one succeeds and changes nothing.
pub const CLIENT_SET_INHERITED_SHARE_POLICY: u32 = 0xd04;

/// `NV0000_CTRL_CMD_SYNC_GPU_BOOST_GROUP_INFO`: no synchronized boost groups.
pub const SYNC_GPU_BOOST_GROUP_INFO: u32 = 0xa04;

/// `NV0080_CTRL_CMD_HOST_GET_CAPS_V2`: a 3-byte table of host workarounds; none apply.
pub const DEVICE_HOST_GET_CAPS_V2: u32 = 0x0080_1402;

/// `NV0080_CTRL_CMD_GPU_GET_CLASSLIST_V2`: the classes the device can allocate.
pub const DEVICE_GET_CLASSLIST_V2: u32 = 0x0080_0292;
/// Room in its list (`NV0080_CTRL_GPU_CLASSLIST_MAX_SIZE`).
const CLASSLIST_MAX: usize = 160;
/// The classes nvsim's simulated Hopper lists: those it can allocate (the RM objects, the
/// Hopper channel, compute and usermode classes) and Hopper's copy engine, which clients
/// look for to pick an engine.
const HOPPER_CLASSES: [u32; 18] = [
    0x0000, 0x0041, 0x0080, 0x2080, 0x003e, 0x0040, 0x0070, 0x0071, 0x0079, 0x50a0, 0x90f1, 0xa06c,
    0xc86f, 0xcbc0, 0xc8b5, 0xc661, 0x9067, 0xa140,
];

/// `NV0080_CTRL_CMD_GPU_GET_NUM_SUBDEVICES`: one (no SLI).
pub const DEVICE_GET_NUM_SUBDEVICES: u32 = 0x0080_0280;

/// `NV2080_CTRL_CMD_GPU_GET_INFO_V2`: a list of (index, value) the caller fills with indices.
pub const GPU_GET_INFO_V2: u32 = 0x2080_0102;
/// Entries its list holds (`NV2080_CTRL_GPU_INFO_MAX_LIST_SIZE`).
const GPU_INFO_MAX: usize = 64;
/// `NV2080_CTRL_GPU_INFO_INDEX_GPU_SMC_MODE`: MIG's mode.
const GPU_INFO_SMC_MODE: u32 = 0x2a;
/// `NV2080_CTRL_GPU_INFO_INDEX_GPU_SM_VERSION`, and Hopper's: SM 9.0.
const GPU_INFO_SM_VERSION: u32 = 0x2c;
const SM_VERSION_9_0: u32 = 0x0900;
/// The highest index of the 535 headers (`IS_RESETLESS_MIG_SUPPORTED`).
const GPU_INFO_LAST_INDEX: u32 = 0x3f;

/// `NV2080_CTRL_CMD_BUS_GET_INFO_V2`: (index, value) pairs about the GPU's bus.
pub const BUS_GET_INFO_V2: u32 = 0x2080_1823;
/// Entries its list holds (`NV2080_CTRL_BUS_INFO_MAX_LIST_SIZE`).
const BUS_INFO_MAX: usize = 0x34;
/// `NV2080_CTRL_BUS_INFO_INDEX_*` nvsim answers with more than 0, and the last index.
const BUS_INFO_TYPE: u32 = 0x00;
const BUS_INFO_COHERENT_DMA_FLAGS: u32 = 0x0b;
const BUS_INFO_NONCOHERENT_DMA_FLAGS: u32 = 0x0c;
const BUS_INFO_BUS_NUMBER: u32 = 0x0f;
const BUS_INFO_INTERFACE_TYPE: u32 = 0x13;
const BUS_INFO_GPU_INTERFACE_TYPE: u32 = 0x2e;
const BUS_INFO_LAST_INDEX: u32 = 0x33;
/// `NV2080_CTRL_BUS_INFO_TYPE_PCI_EXPRESS`.
const BUS_TYPE_PCI_EXPRESS: u32 = 3;

/// `NV2080_CTRL_CMD_BUS_GET_PCI_INFO`: the PCI ids, device and vendor packed as the RM
/// packs them (`device << 16 | vendor`), with an H100 PCIe's subsystem and revision A1.
pub const BUS_GET_PCI_INFO: u32 = 0x2080_1801;
const PCI_SUBSYSTEM_ID: u32 = 0x1626_10de;

/// `NV2080_CTRL_CMD_BUS_GET_PCI_BAR_INFO`: the GPU's BARs (flags, size in MiB and in bytes,
/// base). nvsim's: registers (BAR0, as CARD_INFO gives them), the framebuffer aperture (BAR1,
/// the whole framebuffer, as on a resizable-BAR board) and a 32 MiB BAR for the RM (BAR2/3).
pub const BUS_GET_PCI_BAR_INFO: u32 = 0x2080_1803;
/// Entries its list holds (`NV2080_CTRL_BUS_MAX_PCI_BARS`) and the size of one.
const PCI_BARS_MAX: usize = 8;
const PCI_BAR_ENTRY: usize = 24;

/// `NV2080_CTRL_CMD_GPU_GET_ENGINES_V2`: the engine types (`NV2080_ENGINE_TYPE_*`) of the
/// GPU: graphics/compute and three copy engines.
pub const GPU_GET_ENGINES_V2: u32 = 0x2080_0170;
const ENGINES_MAX: usize = 0x3e;
const ENGINES: [u32; 4] = [0x01, 0x09, 0x0a, 0x0b];

/// `NV2080_CTRL_CMD_GPU_GET_SIMULATION_INFO`: which of NVIDIA's chip simulators runs the GPU;
/// none (`_TYPE_NONE`), since nvsim answers as the silicon's driver would.
pub const GPU_GET_SIMULATION_INFO: u32 = 0x2080_0119;

/// `NV0000_CTRL_CMD_GPU_GET_MEMOP_ENABLE`: stream memory operations off, as the driver's
/// `EnableStreamMemOPs: 0` default has them.
pub const GPU_GET_MEMOP_ENABLE: u32 = 0x27b;

/// `NV2080_CTRL_CMD_GR_GET_INFO`: (index, value) pairs about the graphics/compute engine, in
/// a list the parameters point to (see [`gr_info`]).
pub const GR_GET_INFO: u32 = 0x2080_1201;

/// `NV2080_CTRL_CMD_GR_GET_GPC_MASK` and `_TPC_MASK`: the enabled GPCs, and the enabled TPCs
/// of one GPC, after a 16-byte route (MIG routing, unused). nvsim's H100 has all 8 GPCs, 8
/// TPCs in GPC 0 and 7 in the others (`tpcs_in_gpc`): the 57 TPCs (114 SMs) of GR_GET_INFO.
pub const GR_GET_GPC_MASK: u32 = 0x2080_122a;
/// `NV2080_CTRL_CMD_GR_GET_TPC_MASK` (see [`GR_GET_GPC_MASK`]).
pub const GR_GET_TPC_MASK: u32 = 0x2080_122b;
const GPC_MASK: u32 = 0xff;

/// `NV2080_CTRL_CMD_GR_GET_CAPS_V2`: the graphics engine's table of 23 capability bytes
/// (workarounds and features, none set), then the route (unused), then "populated".
pub const GR_GET_CAPS_V2: u32 = 0x2080_1227;

/// `NV2080_CTRL_CMD_CE_GET_ALL_CAPS`: two capability bytes for each of 32 copy engines, then
/// the mask of those present. nvsim's three (the COPY0..2 of GET_ENGINES_V2): CE0 is the
/// graphics copy engine, all reach system memory, CE1 and CE2 also peer memory.
pub const CE_GET_ALL_CAPS: u32 = 0x2080_2a0a;
const CE_CAPS: [u8; 3] = [0x2d, 0x6c, 0x6c];

/// `NV2080_CTRL_CMD_GR_GET_SM_ISSUE_RATE_MODIFIER`: every unit at full speed (all 0) after
/// the 16-byte route.
pub const GR_GET_SM_ISSUE_RATE_MODIFIER: u32 = 0x2080_1230;

/// `NV2080_CTRL_CMD_GR_GET_GLOBAL_SM_ORDER`: each enabled SM's place (GPC, TPC in the GPC,
/// SM in the TPC, global TPC, virtual GPC, migratable TPC; six u16), 512 slots, then the SM
/// and TPC counts and the route. nvsim's 114 SMs follow the GPC and TPC masks.
pub const GR_GET_GLOBAL_SM_ORDER: u32 = 0x2080_121b;
const SM_ORDER_MAX: usize = 512;

/// TPCs enabled in each GPC (the TPC masks: 8 in GPC 0, 7 in the others).
fn tpcs_in_gpc(gpc: u32) -> u32 {
    if gpc == 0 {
        8
    } else {
        7
    }
}

/// `NV0080_CTRL_CMD_FB_GET_CAPS_V2`: 3 bytes of framebuffer capabilities; Hopper's block-linear
/// layout with 512-byte GOBs and generic page kinds.
pub const DEVICE_FB_GET_CAPS_V2: u32 = 0x0080_1307;
const FB_CAPS: [u8; 3] = [0x02, 0x81, 0x00];

/// `NV0000_CTRL_CMD_CLIENT_GET_ADDR_SPACE_TYPE`: where an object of the client lives (hObject
/// in, mapFlags in, addrSpaceType out). Answered by the kernel side, which looks the object
/// up, with [`addr_space_type`].
pub const CLIENT_GET_ADDR_SPACE_TYPE: u32 = 0xd01;

/// The address space of an object of `class`: system memory 1, video memory 2, registers 3
/// (the usermode doorbell region); `None` for objects that are not memory.
pub fn addr_space_type(class: u32) -> Option<u32> {
    use super::abi::nv_rm::class as c;
    match class {
        c::NV01_MEMORY_SYSTEM | c::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR => Some(1),
        c::NV01_MEMORY_LOCAL_USER => Some(2),
        c if c::USERMODE.contains(&c) => Some(3),
        _ => None,
    }
}

/// `NV2080_CTRL_CMD_GSP_GET_FEATURES`: the GPU runs GSP firmware, as every H100 does
/// (gspFeatures with `_UVM_ENABLED` set, bValid, bDefaultGspRmGpu, then the firmware version
/// string). libcuda reads `_UVM_ENABLED` (bit 0) with bValid: valid without it, it makes its
/// VA spaces RM-managed and maps with RM_MAP_MEMORY_DMA instead of UVM, which a real H100
/// does not (its cuCtxCreate registers the GPU with UVM).
pub const GSP_GET_FEATURES: u32 = 0x2080_3601;
/// `NV2080_CTRL_GSP_GET_FEATURES_UVM_ENABLED` (bit 0 of gspFeatures).
const GSP_FEATURES_UVM_ENABLED: u32 = 1;

/// `NV2080_CTRL_CMD_GPU_GET_SHORT_NAME_STRING`: the chip's short name, "GH100".
pub const GPU_GET_SHORT_NAME_STRING: u32 = 0x2080_0111;

/// NV2080 control 0x20808159 (332 bytes), which libcuda sends in cuInit and which is not in
/// NVIDIA's open headers: answered with zeros (libcuda treats NOT_SUPPORTED as no device).
pub const SUBDEVICE_UNDOCUMENTED_8159: u32 = 0x2080_8159;

/// NV2080 control 0x20800145, without parameters, which libcuda sends in cuCtxCreate and which
/// is not in NVIDIA's open headers: succeeds (NOT_SUPPORTED makes libcuda answer
/// CUDA_ERROR_DEVICE_UNAVAILABLE).
pub const SUBDEVICE_UNDOCUMENTED_0145: u32 = 0x2080_0145;
/// NV2080 control 0x20800146, without parameters: libcuda's counterpart of 0x20800145 when
/// it tears a context down; succeeds too.
pub const SUBDEVICE_UNDOCUMENTED_0146: u32 = 0x2080_0146;
/// NV0080 control 0x00809909, one byte, which libcuda sends at the end of cuCtxCreate and
/// which is not in NVIDIA's open headers: answered with success and zero (NOT_SUPPORTED makes
/// cuCtxCreate fail with CUDA_ERROR_NOT_SUPPORTED).
pub const DEVICE_UNDOCUMENTED_9909: u32 = 0x0080_9909;

/// NV2080 controls of the legacy clock category (0x90), which the CUDA runtime sends when it
/// initialises (cudaGetDeviceCount) and the driver API never does; not in NVIDIA's open
/// headers (closed RM). Refusing any of them makes the runtime fail with
/// cudaErrorInitializationError, on nvsim and, as measured by another project with an
/// interposer, on a real GA106 (driver 580). nvsim answers what that hardware answered:
/// 0x20809009 (8 bytes) `{0, 0xd}`, 0x20809001 (8 bytes) `{0x03fc007f, 0}`, 0x20809064 (520
/// bytes) ten leading words and zeros. The words' meaning is not documented anywhere.
pub const CLK_UNDOCUMENTED_9009: u32 = 0x2080_9009;
/// See [`CLK_UNDOCUMENTED_9009`].
pub const CLK_UNDOCUMENTED_9001: u32 = 0x2080_9001;
/// See [`CLK_UNDOCUMENTED_9009`].
pub const CLK_UNDOCUMENTED_9064: u32 = 0x2080_9064;
const CLK_9009_WORDS: [u32; 2] = [0, 0xd];
const CLK_9001_WORDS: [u32; 2] = [0x03fc_007f, 0];
const CLK_9064_WORDS: [u32; 10] = [0, 2, 1, 1, 1, 0x64, 4, 0x10, 1, 0x64];

/// NV2080 controls of the legacy perf category (0xa0) the CUDA runtime sends next (closed
/// RM, not in the open headers): 0x2080a084 (4 bytes) succeeds and writes nothing, and
/// 0x2080a026 (532 bytes) answers the maximum clocks of the domains listed in the request
/// (`0x400` at 0, the count at 0x10, entries of 16 bytes from 0x14: domain, 0, kHz out, 0),
/// which become cudaDevAttrClockRate and MemoryClockRate; the RM also writes 2 (a byte) at 4,
/// 4 at 8 and 1 at 0x0c. Layout and fixed words as another project measured them on a real
/// GA102 (driver 580); the clocks are an H100 PCIe's: 1755 MHz graphics, 1593 MHz memory.
/// Refusing both sends the runtime to a fallback (0x2080a001) and slower clocks.
pub const PERF_UNDOCUMENTED_A084: u32 = 0x2080_a084;

/// `NV0080_CTRL_CMD_GPU_GET_VGX_CAPS`: `{NvBool isVgx}`, false on bare metal (the RM answers
/// nothing else). NVML asks it before it lists a GPU's processes.
pub const DEVICE_GET_VGX_CAPS: u32 = 0x0080_028e;
/// `NV0080_CTRL_CMD_GPU_GET_BRAND_CAPS`: `{NvU32 brands}`, a mask of Quadro, NVS and Titan
/// branding: none for a data-centre GPU.
pub const DEVICE_GET_BRAND_CAPS: u32 = 0x0080_0294;
/// See [`PERF_UNDOCUMENTED_A084`].
pub const PERF_UNDOCUMENTED_A026: u32 = 0x2080_a026;
const PERF_A026_MAGIC: u32 = 0x400;
const PERF_A026_COUNT_AT: usize = 0x10;
const PERF_A026_ENTRIES_AT: usize = 0x14;
const PERF_A026_ENTRY: usize = 16;
const CLK_DOMAIN_GPC: u32 = 0x1;
const CLK_DOMAIN_MCLK: u32 = 0x10;
const H100_PCIE_MAX_GPC_KHZ: u32 = 1_755_000;
const H100_PCIE_MAX_MCLK_KHZ: u32 = 1_593_000;

/// `NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS`: 24 units of 40 bytes (enabled, scrubComplete,
/// supported, then four error counts), the poison and uncorrectable flags, flags and a GR
/// route. An H100 with ECC on: every unit supported, enabled and scrubbed, no errors (UVM
/// reads this when a GPU is registered).
pub const GPU_QUERY_ECC_STATUS: u32 = 0x2080_012f;
const ECC_UNITS: usize = 24;
const ECC_UNIT_SIZE: usize = 40;

/// `NV2080_CTRL_CMD_BUS_GET_C2C_INFO`: no chip-to-chip link on a PCIe board (bIsLinkUp 0).
pub const BUS_GET_C2C_INFO: u32 = 0x2080_182b;

/// `NV2080_CTRL_CMD_BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS`: 13 operations of {bSupported,
/// attributes}; none over PCIe here.
pub const BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS: u32 = 0x2080_182a;

/// `NV2080_CTRL_CMD_NVLINK_GET_NVLINK_STATUS`: enabledLinkMask 0 and 32 empty link records
/// of 184 bytes: no NVLink bridge.
pub const NVLINK_GET_NVLINK_STATUS: u32 = 0x2080_3002;
const NVLINK_STATUS_SIZE: usize = 8 + 32 * 184;

/// `NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO`: state 0, unsupported (no NVSwitch fabric).
pub const GET_GPU_FABRIC_PROBE_INFO: u32 = 0x2080_01a3;

/// `NV2080_CTRL_CMD_PERF_BOOST`: accepted, nothing to answer.
pub const PERF_BOOST: u32 = 0x2080_200a;

/// `NV2080_CTRL_CMD_RC_RELEASE_WATCHDOG_REQUESTS` and `_RC_SOFT_DISABLE_WATCHDOG`, without
/// parameters: accepted (the RM refuses them only with MIG on).
pub const RC_RELEASE_WATCHDOG_REQUESTS: u32 = 0x2080_220c;
/// See [`RC_RELEASE_WATCHDOG_REQUESTS`].
pub const RC_SOFT_DISABLE_WATCHDOG: u32 = 0x2080_2210;
/// `NV2080_CTRL_CMD_RC_GET_WATCHDOG_INFO`: `{u32 watchdogStatusFlags}`, answered
/// `_FLAGS_DISABLED` (1): a compute GPU without display runs no RC watchdog, so kernels
/// have no time limit (the CUDA runtime asks at initialisation).
pub const RC_GET_WATCHDOG_INFO: u32 = 0x2080_2209;
const RC_WATCHDOG_DISABLED: u32 = 0x1;

/// `NV_CONF_COMPUTE_CTRL_CMD_SYSTEM_GET_CAPABILITIES`: five bytes (CPU capability, GPUs'
/// capability, environment, the feature, devtools mode), all 0 for a system without
/// confidential computing: no CPU TEE, no capable GPU, unavailable, disabled, disabled.
pub const CONF_COMPUTE_GET_CAPABILITIES: u32 = 0xcb33_0101;

/// `NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_MATRIX`: group A's and group B's GPU ids (up to 8
/// each; no B means A against itself), then 8x8 matrices of caps and of the copy engines
/// best for each direction. Two GPUs without NVLink here have no peer-to-peer path (caps
/// 0); a GPU with itself has reads, writes, properties, PCI and loopback (0x67), as the RM
/// reports for one GPU on PCIe.
pub const SYSTEM_GET_P2P_CAPS_MATRIX: u32 = 0x13a;
const P2P_GROUP_MAX: usize = 8;
const P2P_CAPS_AT: usize = 72;
const P2P_CAPS_SELF: u32 = 0x67;

/// The commands answered here, with their exact sizes and targets.
pub const SPECS: [Spec; 61] = [
    Spec {
        cmd: SYSTEM_GET_FABRIC_STATUS,
        size: 4,
        target: Target::Client,
    },
    Spec {
        cmd: SYSTEM_GET_FEATURES,
        size: 4,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_QUERY_ECC_STATUS,
        size: ECC_UNITS * ECC_UNIT_SIZE + 24,
        target: Target::Subdevice,
    },
    Spec {
        cmd: BUS_GET_C2C_INFO,
        size: 28,
        target: Target::Subdevice,
    },
    Spec {
        cmd: BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS,
        size: 13 * 8,
        target: Target::Subdevice,
    },
    Spec {
        cmd: NVLINK_GET_NVLINK_STATUS,
        size: NVLINK_STATUS_SIZE,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GET_GPU_FABRIC_PROBE_INFO,
        size: 40,
        target: Target::Subdevice,
    },
    Spec {
        cmd: PERF_BOOST,
        size: 8,
        target: Target::Subdevice,
    },
    Spec {
        cmd: RC_RELEASE_WATCHDOG_REQUESTS,
        size: 0,
        target: Target::Subdevice,
    },
    Spec {
        cmd: RC_SOFT_DISABLE_WATCHDOG,
        size: 0,
        target: Target::Subdevice,
    },
    Spec {
        cmd: RC_GET_WATCHDOG_INFO,
        size: 4,
        target: Target::Subdevice,
    },
    Spec {
        cmd: CLK_UNDOCUMENTED_9009,
        size: 8,
        target: Target::Subdevice,
    },
    Spec {
        cmd: CLK_UNDOCUMENTED_9001,
        size: 8,
        target: Target::Subdevice,
    },
    Spec {
        cmd: CLK_UNDOCUMENTED_9064,
        size: 520,
        target: Target::Subdevice,
    },
    Spec {
        cmd: DEVICE_GET_BRAND_CAPS,
        size: 4,
        target: Target::Device,
    },
    Spec {
        cmd: DEVICE_GET_VGX_CAPS,
        size: 1,
        target: Target::Device,
    },
    Spec {
        cmd: PERF_UNDOCUMENTED_A084,
        size: 4,
        target: Target::Subdevice,
    },
    Spec {
        cmd: PERF_UNDOCUMENTED_A026,
        size: 532,
        target: Target::Subdevice,
    },
    Spec {
        cmd: CONF_COMPUTE_GET_CAPABILITIES,
        size: 5,
        target: Target::ConfCompute,
    },
    Spec {
        cmd: SYSTEM_GET_P2P_CAPS_MATRIX,
        size: P2P_CAPS_AT + 5 * 4 * P2P_GROUP_MAX * P2P_GROUP_MAX,
        target: Target::Client,
    },
    Spec {
        cmd: DEVICE_UNDOCUMENTED_9909,
        size: 1,
        target: Target::Device,
    },
    Spec {
        cmd: SUBDEVICE_UNDOCUMENTED_0146,
        size: 0,
        target: Target::Subdevice,
    },
    Spec {
        cmd: SUBDEVICE_UNDOCUMENTED_0145,
        size: 0,
        target: Target::Subdevice,
    },
    Spec {
        cmd: SUBDEVICE_UNDOCUMENTED_8159,
        size: 332,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_GET_SHORT_NAME_STRING,
        size: 64,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GSP_GET_FEATURES,
        size: 72,
        target: Target::Subdevice,
    },
    Spec {
        cmd: CLIENT_GET_ADDR_SPACE_TYPE,
        size: 12,
        target: Target::Client,
    },
    Spec {
        cmd: DEVICE_FB_GET_CAPS_V2,
        size: 3,
        target: Target::Device,
    },
    Spec {
        cmd: GR_GET_GLOBAL_SM_ORDER,
        size: 12 * SM_ORDER_MAX + 24,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GR_GET_SM_ISSUE_RATE_MODIFIER,
        size: 32,
        target: Target::Subdevice,
    },
    Spec {
        cmd: CE_GET_ALL_CAPS,
        size: 68,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GR_GET_CAPS_V2,
        size: 48,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GR_GET_GPC_MASK,
        size: 24,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GR_GET_TPC_MASK,
        size: 24,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GR_GET_INFO,
        size: 32,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_GET_MEMOP_ENABLE,
        size: 4,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_GET_SIMULATION_INFO,
        size: 4,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_GET_ENGINES_V2,
        size: 4 + 4 * ENGINES_MAX,
        target: Target::Subdevice,
    },
    Spec {
        cmd: BUS_GET_PCI_BAR_INFO,
        size: 8 + PCI_BAR_ENTRY * PCI_BARS_MAX,
        target: Target::Subdevice,
    },
    Spec {
        cmd: BUS_GET_PCI_INFO,
        size: 16,
        target: Target::Subdevice,
    },
    Spec {
        cmd: BUS_GET_INFO_V2,
        size: 4 + 8 * BUS_INFO_MAX,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_GET_INFO_V2,
        size: 4 + 8 * GPU_INFO_MAX,
        target: Target::Subdevice,
    },
    Spec {
        cmd: DEVICE_GET_NUM_SUBDEVICES,
        size: 4,
        target: Target::Device,
    },
    Spec {
        cmd: DEVICE_GET_CLASSLIST_V2,
        size: 4 + 4 * CLASSLIST_MAX,
        target: Target::Device,
    },
    Spec {
        cmd: DEVICE_HOST_GET_CAPS_V2,
        size: 3,
        target: Target::Device,
    },
    Spec {
        cmd: SYNC_GPU_BOOST_GROUP_INFO,
        size: 4 + 16 * 140,
        target: Target::Client,
    },
    Spec {
        cmd: CLIENT_SET_INHERITED_SHARE_POLICY,
        size: 12,
        target: Target::Client,
    },
    Spec {
        cmd: SYSTEM_GET_BUILD_VERSION,
        size: 40,
        target: Target::Client,
    },
    Spec {
        cmd: MC_GET_ARCH_INFO,
        size: 16,
        target: Target::Subdevice,
    },
    Spec {
        cmd: TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO,
        size: 8 + 16 * TIME_MAX_SAMPLES,
        target: Target::Subdevice,
    },
    Spec {
        cmd: DEVICE_GET_VIRTUALIZATION_MODE,
        size: 4,
        target: Target::Device,
    },
    Spec {
        cmd: GPU_GET_ID_INFO,
        size: 40,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_DETACH_IDS,
        size: 4 * MAX_PROBED,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_QUERY_DRAIN_STATE,
        size: 12,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_GET_PROBED_IDS,
        size: 8 * MAX_PROBED,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_GET_ID_INFO_V2,
        size: 32,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_GET_INIT_STATUS,
        size: 8,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_ATTACH_IDS,
        size: 4 * MAX_PROBED + 4,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_GET_PCI_INFO,
        size: 12,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_GET_UUID_FROM_GPU_ID,
        size: 12 + GID_LENGTH,
        target: Target::Client,
    },
    Spec {
        cmd: SYSTEM_GET_BUILD_VERSION_V2,
        size: 3 * VERSION_STRING + 8,
        target: Target::Client,
    },
];

/// The spec of `cmd`, if it is answered here.
pub fn spec(cmd: u32, family: &DriverFamily) -> Option<Spec> {
    let since_550: &[Spec] = if family.branch >= 550 {
        &SPECS_SINCE_550
    } else {
        &[]
    };
    SPECS
        .iter()
        .chain(since_550)
        .copied()
        .find(|s| s.cmd == cmd)
}

/// The controls nvsim answers that the 550 RM added.
const SPECS_SINCE_550: [Spec; 3] = [
    Spec {
        cmd: PERF_CUDA_LIMIT_SET_CONTROL,
        size: 1,
        target: Target::Device,
    },
    Spec {
        cmd: GPU_ASYNC_ATTACH_ID,
        size: 4,
        target: Target::Client,
    },
    Spec {
        cmd: GPU_WAIT_ATTACH_ID,
        size: 4,
        target: Target::Client,
    },
];

/// What an answer may depend on.
pub struct Context<'a> {
    /// Every simulated GPU, by minor.
    pub gpus: &'a [SimGpu],
    /// The driver version (`version=`).
    pub version: &'a str,
    /// The GPU of the object the command went to (subdevice and device commands).
    pub gpu: Option<&'a SimGpu>,
    /// Reads the clocks: (wall-clock µs since the epoch, the GPU timer in ns).
    pub clocks: fn() -> (u64, u64),
    /// That GPU's administrator settings (MIG's mode shows in GET_INFO_V2).
    pub settings: Settings,
}

impl Context<'_> {
    fn gpu_by_id(&self, id: u32) -> Option<&SimGpu> {
        self.gpus.iter().find(|g| g.gpu_id() == id)
    }
}

fn word(params: &[u8], at: usize) -> u32 {
    params
        .get(at..)
        .and_then(super::abi::pod::read_pod::<u32>)
        .unwrap_or(0)
}

/// 0x2080a026 (see [`PERF_UNDOCUMENTED_A026`]): the maximum clock of each listed domain.
fn perf_max_clocks(params: &mut [u8]) -> Result<(), NvStatus> {
    let word = |p: &[u8], at: usize| p.get(at..).and_then(read_pod::<u32>).unwrap_or(0);
    let count = word(params, PERF_A026_COUNT_AT) as usize;
    let room = (params.len() - PERF_A026_ENTRIES_AT) / PERF_A026_ENTRY;
    if word(params, 0) != PERF_A026_MAGIC || count > room {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    for i in 0..count {
        let at = PERF_A026_ENTRIES_AT + i * PERF_A026_ENTRY;
        let khz = match word(params, at) {
            CLK_DOMAIN_GPC => H100_PCIE_MAX_GPC_KHZ,
            CLK_DOMAIN_MCLK => H100_PCIE_MAX_MCLK_KHZ,
            _ => return Err(NV_ERR_INVALID_ARGUMENT),
        };
        put(params, at + 8, khz);
    }
    if let Some(b) = params.get_mut(4) {
        *b = 2;
    }
    put(params, 8, 4);
    put(params, 0x0c, 1);
    Ok(())
}

fn put(params: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = params.get_mut(at..) {
        write_pod(slot, &value);
    }
}

/// Copies `text` NUL-terminated into `params[at..at + room]`, truncating.
fn put_str(params: &mut [u8], at: usize, room: usize, text: &[u8]) {
    if let Some(dst) = params.get_mut(at..at + room) {
        dst.fill(0);
        let n = text.len().min(room.saturating_sub(1));
        if let (Some(d), Some(t)) = (dst.get_mut(..n), text.get(..n)) {
            d.copy_from_slice(t);
        }
    }
}

/// The build's branch and title strings (`NV_BUILD_BRANCH_VERSION`, `NV_DISPLAY_DRIVER_TITLE`).
const BRANCH: &str = "rel/gpu_drv/r535/nvsim";
const TITLE: &str = "NVIDIA nvsim driver";

/// A string to copy to the caller's memory: where, and the bytes with their NUL.
pub type CopyOut = (u64, super::abi::namebuf::NameBuf);

/// SYSTEM_GET_BUILD_VERSION (the first version), as the RM's legacy path answers it: with any
/// of the three string pointers null, only the size the strings need (the longest, with its
/// NUL); otherwise, if the caller's size is enough, the three strings to copy out (the kernel
/// copies them; a failed copy is NV_ERR_INVALID_PARAM_STRUCT) and the changelists.
pub fn build_version(
    params: &mut [u8],
    ctx: &Context<'_>,
) -> Result<Option<[CopyOut; 3]>, NvStatus> {
    use core::fmt::Write;
    let mut strings = [super::abi::namebuf::NameBuf::new(); 3];
    for (buf, text) in strings.iter_mut().zip([ctx.version, BRANCH, TITLE]) {
        write!(buf, "{text}").map_err(|_| NV_ERR_INVALID_ARGUMENT)?;
    }
    let longest = strings
        .iter()
        .map(|b| b.as_bytes_with_nul().len())
        .max()
        .unwrap_or(1) as u32;
    let ptr = |at: usize| {
        params
            .get(at..)
            .and_then(super::abi::pod::read_pod::<u64>)
            .unwrap_or(0)
    };
    let ptrs = [ptr(8), ptr(16), ptr(24)];
    if ptrs.contains(&0) {
        put(params, 0, longest);
        return Ok(None);
    }
    if word(params, 0) < longest {
        return Err(NV_ERR_INVALID_PARAM_STRUCT);
    }
    put(params, 32, 0);
    put(params, 36, 0);
    let [a, b, c] = strings;
    Ok(Some([(ptrs[0], a), (ptrs[1], b), (ptrs[2], c)]))
}

/// The graphics engine of an H100 PCIe as `NV0080_CTRL_GR_INFO_INDEX_*` numbers it: SM 9.0,
/// 8 GPCs of 9 TPCs of 2 SMs (114 SMs enabled), 128 cores and 4 tensor cores per SM, 64 warps
/// of 32 threads per SM, 64 subcontexts, compute and copy but no 3D. Unlisted indices are 0.
const GR_INFO: [(u32, u32); 24] = [
    (0x03, 256),    // BUFFER_ALIGNMENT
    (0x07, 57),     // SHADER_PIPE_COUNT (TPCs)
    (0x09, 2),      // SHADER_PIPE_SUB_COUNT (SMs per TPC)
    (0x0a, 4),      // SM_REG_BANK_COUNT
    (0x0b, 16384),  // SM_REG_BANK_REG_COUNT
    (0x0c, 0x0900), // SM_VERSION
    (0x0d, 64),     // MAX_WARPS_PER_SM
    (0x0e, 32),     // MAX_THREADS_PER_WARP
    (0x11, 32),     // FB_MEMORY_REQUEST_GRANULARITY
    (0x12, 32),     // HOST_MEMORY_REQUEST_GRANULARITY
    (0x13, 128),    // MAX_SP_PER_SM
    (0x14, 8),      // LITTER_NUM_GPCS
    (0x15, 10),     // LITTER_NUM_FBPS
    (0x17, 9),      // LITTER_NUM_TPC_PER_GPC
    (0x1a, 1),      // TIMESLICE_ENABLED
    (0x1c, 3),      // LITTER_NUM_PES_PER_GPC
    (0x1d, 14592),  // GPU_CORE_COUNT
    (0x1e, 3),      // LITTER_NUM_TPCS_PER_PES
    (0x20, 2),      // LITTER_NUM_SM_PER_TPC
    (0x23, 456),    // TENSOR_CORE_COUNT
    (0x24, 1),      // LITTER_NUM_GRS
    (0x2a, 9),      // FAMILY_MAX_TPC_PER_GPC
    (0x2c, 64),     // MAX_SUBCONTEXT_COUNT
    (0x34, 0xd),    // GFX_CAPABILITIES: 2D, compute, inline-to-memory
];

/// GR_GET_INFO's list (`count` entries of index then value, copied from the caller's
/// pointer): fills in each value; NV_ERR_INVALID_ARGUMENT for an index past the last of
/// `family`.
pub fn gr_info(list: &mut [u8], family: &DriverFamily) -> Result<(), NvStatus> {
    for entry in list.chunks_exact_mut(8) {
        let index = word(entry, 0);
        if index as usize >= family.gr_info_max_size {
            return Err(NV_ERR_INVALID_ARGUMENT);
        }
        let value = GR_INFO
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(0, |(_, v)| *v);
        put(entry, 4, value);
    }
    Ok(())
}

/// GPU_GET_ID_INFO(_V2): `tail` is where sliStatus and what follows it start.
fn id_info(params: &mut [u8], ctx: &Context<'_>, tail: usize) -> Result<(), NvStatus> {
    let gpu = ctx
        .gpu_by_id(word(params, 0))
        .ok_or(NV_ERR_INVALID_ARGUMENT)?;
    // gpuFlags: in use, nothing else (not SLI, mobile, boot primary, SoC or ATS). The device
    // instance is the minor, as the driver numbers devices in probe order; no NUMA node.
    put(params, 4, 1);
    put(params, 8, gpu.minor);
    put(params, 12, 0);
    put(params, tail, 0);
    put(params, tail + 4, gpu.gpu_id());
    put(params, tail + 8, gpu.minor);
    put(params, tail + 12, u32::MAX);
    Ok(())
}

/// SYSTEM_GET_P2P_CAPS_MATRIX (see [`SYSTEM_GET_P2P_CAPS_MATRIX`]).
fn p2p_caps_matrix(params: &mut [u8], ctx: &Context<'_>) -> Result<(), NvStatus> {
    let a_count = word(params, 0) as usize;
    let b_count = word(params, 4) as usize;
    if a_count == 0 || a_count > P2P_GROUP_MAX || b_count > P2P_GROUP_MAX {
        return Err(NV_ERR_INVALID_ARGUMENT);
    }
    let ids = |at: usize, n: usize| -> Result<[u32; P2P_GROUP_MAX], NvStatus> {
        let mut out = [0u32; P2P_GROUP_MAX];
        for (i, id) in out.iter_mut().enumerate().take(n) {
            *id = word(params, at + 4 * i);
            ctx.gpu_by_id(*id).ok_or(NV_ERR_INVALID_ARGUMENT)?;
        }
        Ok(out)
    };
    let a = ids(8, a_count)?;
    let (b, b_count) = if b_count == 0 {
        (a, a_count)
    } else {
        (ids(40, b_count)?, b_count)
    };
    if let Some(tail) = params.get_mut(P2P_CAPS_AT..) {
        tail.fill(0);
    }
    for (i, ga) in a.iter().enumerate().take(a_count) {
        for (j, gb) in b.iter().enumerate().take(b_count) {
            let caps = if ga == gb { P2P_CAPS_SELF } else { 0 };
            put(params, P2P_CAPS_AT + 4 * (P2P_GROUP_MAX * i + j), caps);
        }
    }
    Ok(())
}

/// Answers `cmd` (one of [`SPECS`], parameters already checked for size) in place.
pub fn answer(cmd: u32, params: &mut [u8], ctx: &Context<'_>) -> Result<(), NvStatus> {
    match cmd {
        GPU_GET_PROBED_IDS => {
            params.fill(0xff);
            for (i, gpu) in ctx.gpus.iter().take(MAX_PROBED).enumerate() {
                put(params, 4 * i, gpu.gpu_id());
            }
        }
        // V2 is V1 without the name pointer at 16.
        GPU_GET_ID_INFO_V2 => id_info(params, ctx, 16)?,
        GPU_GET_ID_INFO => id_info(params, ctx, 24)?,
        GPU_GET_INIT_STATUS => {
            ctx.gpu_by_id(word(params, 0))
                .ok_or(NV_ERR_INVALID_ARGUMENT)?;
            put(params, 4, NV_OK);
        }
        GPU_ASYNC_ATTACH_ID => {
            ctx.gpu_by_id(word(params, 0))
                .ok_or(NV_ERR_INVALID_ARGUMENT)?;
        }
        GPU_WAIT_ATTACH_ID | PERF_CUDA_LIMIT_SET_CONTROL => {}
        SYSTEM_GET_FEATURES => put(params, 0, 0),
        SYSTEM_GET_FABRIC_STATUS => put(params, 0, FABRIC_STATUS_SKIP),
        GPU_ATTACH_IDS => {
            // Attaching is the RM's bookkeeping only: every id must be known (or the
            // "all probed GPUs" marker).
            for i in 0..MAX_PROBED {
                let id = word(params, 4 * i);
                if id == INVALID_ID {
                    break;
                }
                if id != 0x0000_ffff && ctx.gpu_by_id(id).is_none() {
                    put(params, 4 * MAX_PROBED, id);
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
            }
        }
        CLIENT_SET_INHERITED_SHARE_POLICY => {}
        SYNC_GPU_BOOST_GROUP_INFO | DEVICE_HOST_GET_CAPS_V2 => params.fill(0),
        // Detaching is bookkeeping too; the GPUs stay usable through open files.
        GPU_DETACH_IDS => {}
        GPU_QUERY_DRAIN_STATE => {
            ctx.gpu_by_id(word(params, 0))
                .ok_or(NV_ERR_INVALID_ARGUMENT)?;
            // Not draining, no flags.
            put(params, 4, 0);
            put(params, 8, 0);
        }
        GPU_GET_PCI_INFO => {
            let gpu = ctx
                .gpu_by_id(word(params, 0))
                .ok_or(NV_ERR_INVALID_ARGUMENT)?;
            let pci = gpu.card_info().pci_info;
            put(params, 4, pci.domain);
            put(params, 8, u32::from(pci.bus) | u32::from(pci.slot) << 16);
        }
        GPU_GET_UUID_FROM_GPU_ID => {
            let gpu = ctx
                .gpu_by_id(word(params, 0))
                .ok_or(NV_ERR_OBJECT_NOT_FOUND)?;
            let binary = word(params, 4) & 3 == 2;
            if binary {
                put_str(params, 8, GID_LENGTH, &[]);
                if let Some(dst) = params.get_mut(8..24) {
                    dst.copy_from_slice(&gpu.uuid());
                }
                put(params, 8 + GID_LENGTH, 16);
            } else {
                let text = gpu.uuid_text();
                let bytes = text.as_bytes_with_nul();
                put_str(params, 8, GID_LENGTH, bytes);
                put(params, 8 + GID_LENGTH, bytes.len() as u32);
            }
        }
        SYSTEM_GET_BUILD_VERSION_V2 => {
            put_str(params, 0, VERSION_STRING, ctx.version.as_bytes());
            put_str(params, VERSION_STRING, VERSION_STRING, BRANCH.as_bytes());
            put_str(params, 2 * VERSION_STRING, VERSION_STRING, TITLE.as_bytes());
            put(params, 3 * VERSION_STRING, 0);
            put(params, 3 * VERSION_STRING + 4, 0);
        }
        DEVICE_GET_CLASSLIST_V2 => {
            params.fill(0);
            put(params, 0, HOPPER_CLASSES.len() as u32);
            for (i, &class) in HOPPER_CLASSES.iter().enumerate() {
                put(params, 4 + 4 * i, class);
            }
        }
        DEVICE_GET_NUM_SUBDEVICES => put(params, 0, 1),
        SUBDEVICE_UNDOCUMENTED_8159 | DEVICE_UNDOCUMENTED_9909 => params.fill(0),
        SUBDEVICE_UNDOCUMENTED_0145 | SUBDEVICE_UNDOCUMENTED_0146 => {}
        GPU_GET_SHORT_NAME_STRING => put_str(params, 0, 64, b"GH100"),
        GSP_GET_FEATURES => {
            params.fill(0);
            put(params, 0, GSP_FEATURES_UVM_ENABLED);
            if let Some(flags) = params.get_mut(4..6) {
                flags.copy_from_slice(&[1, 1]);
            }
            put_str(params, 6, 64, ctx.version.as_bytes());
        }
        DEVICE_FB_GET_CAPS_V2 => {
            if let Some(caps) = params.get_mut(..3) {
                caps.copy_from_slice(&FB_CAPS);
            }
        }
        GR_GET_SM_ISSUE_RATE_MODIFIER => {
            if let Some(rates) = params.get_mut(16..) {
                rates.fill(0);
            }
        }
        CE_GET_ALL_CAPS => {
            params.fill(0);
            for (i, &caps) in CE_CAPS.iter().enumerate() {
                if let Some(byte) = params.get_mut(2 * i) {
                    *byte = caps;
                }
            }
            // The mask follows the table: a u32 at 64 after 32 engines (535), a u64 at 128
            // after 64 (550); either way the last 8-aligned offset before 4 bytes from the end.
            put(
                params,
                (params.len().saturating_sub(4)) & !7,
                (1 << CE_CAPS.len()) - 1,
            );
        }
        GR_GET_CAPS_V2 => {
            if let Some(caps) = params.get_mut(..23) {
                caps.fill(0);
            }
            if let Some(populated) = params.get_mut(40) {
                *populated = 1;
            }
        }
        GR_GET_GPC_MASK => put(params, 16, GPC_MASK),
        GR_GET_TPC_MASK => match word(params, 16) {
            gpc @ 0..=7 => put(params, 20, (1 << tpcs_in_gpc(gpc)) - 1),
            _ => return Err(NV_ERR_INVALID_ARGUMENT),
        },
        GR_GET_GLOBAL_SM_ORDER => {
            if let Some(slots) = params.get_mut(..12 * SM_ORDER_MAX + 4) {
                slots.fill(0);
            }
            let (mut sm, mut tpc) = (0usize, 0u16);
            for gpc in 0..8u16 {
                for local_tpc in 0..tpcs_in_gpc(u32::from(gpc)) as u16 {
                    for local_sm in 0..2u16 {
                        let entry = [gpc, local_tpc, local_sm, tpc, gpc, local_tpc];
                        for (j, v) in entry.iter().enumerate() {
                            if let Some(slot) = params.get_mut(12 * sm + 2 * j..) {
                                write_pod(slot, v);
                            }
                        }
                        sm += 1;
                    }
                    tpc += 1;
                }
            }
            if let Some(slot) = params.get_mut(12 * SM_ORDER_MAX..) {
                write_pod(slot, &(sm as u16));
            }
            if let Some(slot) = params.get_mut(12 * SM_ORDER_MAX + 2..) {
                write_pod(slot, &tpc);
            }
        }
        GPU_GET_MEMOP_ENABLE => put(params, 0, 0),
        GPU_GET_SIMULATION_INFO => put(params, 0, 0),
        GPU_GET_INFO_V2 => {
            // 64 entries in 535, 65 in 550: as many as the family's size holds.
            let count = word(params, 0) as usize;
            if count > params.len().saturating_sub(4) / 8 {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            // Every capability off (no SLI, ATS, EGM, ...), but the SM version and MIG's
            // mode (an H100 has MIG, off until an administrator turns it on).
            for i in 0..count {
                let index = word(params, 4 + 8 * i);
                if index > GPU_INFO_LAST_INDEX {
                    return Err(NV_ERR_INVALID_ARGUMENT);
                }
                let value = match index {
                    GPU_INFO_SM_VERSION => SM_VERSION_9_0,
                    GPU_INFO_SMC_MODE => ctx.settings.smc_mode(),
                    _ => 0,
                };
                put(params, 8 + 8 * i, value);
            }
        }
        BUS_GET_INFO_V2 => {
            let count = word(params, 0) as usize;
            if count > BUS_INFO_MAX {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            let bus = ctx.gpu.map_or(0, |g| u32::from(g.bus));
            for i in 0..count {
                let index = word(params, 4 + 8 * i);
                let value = match index {
                    BUS_INFO_TYPE | BUS_INFO_INTERFACE_TYPE | BUS_INFO_GPU_INTERFACE_TYPE => {
                        BUS_TYPE_PCI_EXPRESS
                    }
                    // DMA through context DMAs, coherent and not (CTXDMA_TRUE).
                    BUS_INFO_COHERENT_DMA_FLAGS | BUS_INFO_NONCOHERENT_DMA_FLAGS => 1,
                    BUS_INFO_BUS_NUMBER => bus,
                    i if i <= BUS_INFO_LAST_INDEX => 0,
                    _ => return Err(NV_ERR_INVALID_ARGUMENT),
                };
                put(params, 8 + 8 * i, value);
            }
        }
        BUS_GET_PCI_INFO => {
            let gpu = ctx.gpu.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?;
            let ids = u32::from(gpu.device_id) << 16 | u32::from(super::frontend::NV_PCI_VENDOR_ID);
            put(params, 0, ids);
            put(params, 4, PCI_SUBSYSTEM_ID);
            put(params, 8, REVISION_A1);
            put(params, 12, ids);
        }
        BUS_GET_PCI_BAR_INFO => {
            let card = ctx.gpu.ok_or(NV_ERR_INVALID_OBJECT_HANDLE)?.card_info();
            let bars = [
                (card.reg_size, card.reg_address),
                (card.fb_size, card.fb_address),
                (32 << 20, card.reg_address + card.reg_size),
            ];
            params.fill(0);
            put(params, 0, bars.len() as u32);
            for (i, (size, base)) in bars.into_iter().enumerate() {
                let at = 8 + PCI_BAR_ENTRY * i;
                put(params, at + 4, (size >> 20) as u32);
                if let Some(slot) = params.get_mut(at + 8..) {
                    write_pod(slot, &size);
                }
                if let Some(slot) = params.get_mut(at + 16..) {
                    write_pod(slot, &base);
                }
            }
        }
        GPU_GET_ENGINES_V2 => {
            params.fill(0);
            put(params, 0, ENGINES.len() as u32);
            for (i, &engine) in ENGINES.iter().enumerate() {
                put(params, 4 + 4 * i, engine);
            }
        }
        // Bare metal: no vGPU, no passthrough.
        DEVICE_GET_VIRTUALIZATION_MODE => put(params, 0, 0),
        TIMER_GET_GPU_CPU_TIME_CORRELATION_INFO => {
            let clock = params.first().copied().unwrap_or(0);
            let samples = usize::from(params.get(1).copied().unwrap_or(0));
            if samples > TIME_MAX_SAMPLES {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            // Only the OS clock, on the CPU (the TSC and GSP sources are not simulated).
            if clock != CPU_CLK_OSTIME {
                return Err(NV_ERR_NOT_SUPPORTED);
            }
            for i in 0..samples {
                let (cpu, gpu) = (ctx.clocks)();
                if let Some(slot) = params.get_mut(8 + 16 * i..) {
                    write_pod(slot, &cpu);
                }
                if let Some(slot) = params.get_mut(16 + 16 * i..) {
                    write_pod(slot, &gpu);
                }
            }
        }
        GPU_QUERY_ECC_STATUS => {
            params.fill(0);
            // 24 units in 535, 25 in 550: as many as the family's size holds.
            let units = params.len().saturating_sub(24) / ECC_UNIT_SIZE;
            for unit in params.chunks_exact_mut(ECC_UNIT_SIZE).take(units) {
                // enabled, scrubComplete, supported
                unit[..3].fill(1);
            }
        }
        BUS_GET_C2C_INFO | BUS_GET_PCIE_SUPPORTED_GPU_ATOMICS | NVLINK_GET_NVLINK_STATUS => {
            params.fill(0)
        }
        GET_GPU_FABRIC_PROBE_INFO => {
            if let Some(state) = params.first_mut() {
                *state = 0;
            }
        }
        PERF_BOOST | RC_RELEASE_WATCHDOG_REQUESTS | RC_SOFT_DISABLE_WATCHDOG => {}
        RC_GET_WATCHDOG_INFO => put(params, 0, RC_WATCHDOG_DISABLED),
        CONF_COMPUTE_GET_CAPABILITIES => params.fill(0),
        PERF_UNDOCUMENTED_A084 => {}
        DEVICE_GET_VGX_CAPS | DEVICE_GET_BRAND_CAPS => params.fill(0),
        PERF_UNDOCUMENTED_A026 => perf_max_clocks(params)?,
        CLK_UNDOCUMENTED_9009 | CLK_UNDOCUMENTED_9001 | CLK_UNDOCUMENTED_9064 => {
            let words: &[u32] = match cmd {
                CLK_UNDOCUMENTED_9009 => &CLK_9009_WORDS,
                CLK_UNDOCUMENTED_9001 => &CLK_9001_WORDS,
                _ => &CLK_9064_WORDS,
            };
            params.fill(0);
            for (i, &w) in words.iter().enumerate() {
                put(params, 4 * i, w);
            }
        }
        SYSTEM_GET_P2P_CAPS_MATRIX => p2p_caps_matrix(params, ctx)?,
        MC_GET_ARCH_INFO => {
            params.fill(0);
            put(params, 0, ARCH_GH100);
            put(params, 8, REVISION_A1);
        }
        _ => return Err(NV_ERR_NOT_SUPPORTED),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn perf_max_clocks_answers_the_listed_domains() {
        let mut p = [0u8; 532];
        put(&mut p, 0, PERF_A026_MAGIC);
        put(&mut p, 0x10, 2);
        put(&mut p, 0x14, CLK_DOMAIN_GPC);
        put(&mut p, 0x24, CLK_DOMAIN_MCLK);
        assert_eq!(perf_max_clocks(&mut p), Ok(()));
        let word = |p: &[u8], at: usize| read_pod::<u32>(&p[at..]).unwrap();
        assert_eq!(word(&p, 0x1c), H100_PCIE_MAX_GPC_KHZ);
        assert_eq!(word(&p, 0x2c), H100_PCIE_MAX_MCLK_KHZ);
        assert_eq!((p[4], word(&p, 8), word(&p, 0x0c)), (2, 4, 1));
        put(&mut p, 0x24, 0x7);
        assert_eq!(perf_max_clocks(&mut p), Err(NV_ERR_INVALID_ARGUMENT));
        put(&mut p, 0x10, 33);
        assert_eq!(perf_max_clocks(&mut p), Err(NV_ERR_INVALID_ARGUMENT));
        put(&mut p, 0, 0);
        assert_eq!(perf_max_clocks(&mut p), Err(NV_ERR_INVALID_ARGUMENT));
    }

    use super::*;
    use crate::abi::nv_family::{R535, R550};
    use crate::abi::pod::read_pod;

    fn gpus() -> [SimGpu; 2] {
        SimGpu::test_pair()
    }

    fn ask<R>(cmd: u32, setup: impl FnOnce(&mut [u8]) -> R) -> (Result<(), NvStatus>, [u8; 1024]) {
        let gpus = gpus();
        let ctx = Context {
            gpus: &gpus,
            version: "535.309.01",
            gpu: gpus.first(),
            clocks: || (7, 9),
            settings: Settings::default(),
        };
        let mut buf = [0u8; 1024];
        let size = spec(cmd, &R535).map(|s| s.size).unwrap_or(0);
        setup(&mut buf[..size]);
        let r = answer(cmd, &mut buf[..size], &ctx);
        (r, buf)
    }

    fn at(buf: &[u8], i: usize) -> u32 {
        read_pod(&buf[i..]).unwrap()
    }

    fn ask_big(cmd: u32, setup: impl FnOnce(&mut [u8])) -> (Result<(), NvStatus>, Vec<u8>) {
        let gpus = gpus();
        let ctx = Context {
            gpus: &gpus,
            version: "535.309.01",
            gpu: gpus.first(),
            clocks: || (7, 9),
            settings: Settings::default(),
        };
        let mut buf = vec![0xaau8; spec(cmd, &R535).map(|s| s.size).unwrap_or(0)];
        setup(&mut buf);
        let r = answer(cmd, &mut buf, &ctx);
        (r, buf)
    }

    #[test]
    fn p2p_matrix_has_loopback_only() {
        let (r, buf) = ask_big(SYSTEM_GET_P2P_CAPS_MATRIX, |p| {
            p.fill(0);
            put(p, 0, 2);
            put(p, 8, 0x100);
            put(p, 12, 0x200);
        });
        assert_eq!(buf.len(), 1352);
        assert_eq!(r, Ok(()));
        let caps = |i: usize, j: usize| at(&buf, P2P_CAPS_AT + 4 * (8 * i + j));
        assert_eq!((caps(0, 0), caps(1, 1)), (P2P_CAPS_SELF, P2P_CAPS_SELF));
        assert_eq!((caps(0, 1), caps(1, 0)), (0, 0));
        let (r, _) = ask_big(SYSTEM_GET_P2P_CAPS_MATRIX, |p| {
            p.fill(0);
            put(p, 0, 1);
            put(p, 8, 0x300);
        });
        assert_eq!(r, Err(NV_ERR_INVALID_ARGUMENT), "an unknown GPU id");
        let (r, _) = ask_big(SYSTEM_GET_P2P_CAPS_MATRIX, |p| p.fill(0));
        assert_eq!(r, Err(NV_ERR_INVALID_ARGUMENT), "no GPUs");
    }

    #[test]
    fn ecc_is_on_without_errors_and_links_are_absent() {
        let (r, buf) = ask_big(GPU_QUERY_ECC_STATUS, |_| {});
        assert_eq!((r, buf.len()), (Ok(()), 984));
        assert_eq!(&buf[..3], &[1, 1, 1]);
        assert!(buf[8..40].iter().all(|&b| b == 0), "no error counts");
        assert!(buf[960..].iter().all(|&b| b == 0));
        for cmd in [BUS_GET_C2C_INFO, NVLINK_GET_NVLINK_STATUS] {
            let (r, buf) = ask_big(cmd, |_| {});
            assert_eq!(r, Ok(()));
            assert!(buf.iter().all(|&b| b == 0), "{cmd:#x}");
        }
        assert_eq!(
            spec(NVLINK_GET_NVLINK_STATUS, &R535).map(|s| s.size),
            Some(5896)
        );
        assert_eq!(spec(GPU_ASYNC_ATTACH_ID, &R535), None, "550 on");
        assert_eq!(spec(GPU_ASYNC_ATTACH_ID, &R550).map(|s| s.size), Some(4));
    }

    #[test]
    fn probed_ids_are_the_card_info_ids() {
        let (r, buf) = ask(GPU_GET_PROBED_IDS, |_| {});
        assert_eq!(r, Ok(()));
        assert_eq!(
            (at(&buf, 0), at(&buf, 4), at(&buf, 8)),
            (0x100, 0x200, INVALID_ID)
        );
        assert_eq!(at(&buf, 128), INVALID_ID, "no excluded GPUs");
    }

    #[test]
    fn id_info_and_pci_info_follow_the_gpu() {
        let (r, buf) = ask(GPU_GET_ID_INFO_V2, |p| write_pod(p, &0x200u32));
        assert_eq!(r, Ok(()));
        assert_eq!(at(&buf, 8), 1, "device instance is the minor");
        let (r, _) = ask(GPU_GET_ID_INFO_V2, |p| write_pod(p, &0x300u32));
        assert_eq!(r, Err(NV_ERR_INVALID_ARGUMENT));
        let (r, buf) = ask(GPU_GET_PCI_INFO, |p| write_pod(p, &0x200u32));
        assert_eq!(r, Ok(()));
        assert_eq!(read_pod::<u16>(&buf[8..]), Some(2), "bus");
    }

    #[test]
    fn uuid_from_gpu_id_in_both_formats() {
        let (r, buf) = ask(GPU_GET_UUID_FROM_GPU_ID, |p| write_pod(p, &0x100u32));
        assert_eq!(r, Ok(()));
        let text = &buf[8..8 + 40];
        assert!(text.starts_with(b"GPU-6e767369-6d67-7075-0000-000000000000"));
        let (_, buf) = ask(GPU_GET_UUID_FROM_GPU_ID, |p| {
            write_pod(p, &0x200u32);
            write_pod(&mut p[4..], &2u32);
        });
        assert_eq!(&buf[8..16], b"nvsimgpu");
        assert_eq!(buf[23], 1);
        assert_eq!(at(&buf, 8 + GID_LENGTH), 16);
    }

    #[test]
    fn attach_refuses_unknown_ids_and_names_them() {
        let (r, _) = ask(GPU_ATTACH_IDS, |p| {
            p.fill(0xff);
            write_pod(p, &0x100u32);
        });
        assert_eq!(r, Ok(()));
        let (r, buf) = ask(GPU_ATTACH_IDS, |p| {
            p.fill(0xff);
            write_pod(p, &0x900u32);
        });
        assert_eq!(r, Err(NV_ERR_INVALID_ARGUMENT));
        assert_eq!(at(&buf, 128), 0x900);
    }

    #[test]
    fn build_version_v1_sizes_then_copies() {
        let gpus = gpus();
        let ctx = Context {
            gpus: &gpus,
            version: "535.309.01",
            gpu: None,
            clocks: || (0, 0),
            settings: Settings::default(),
        };
        let mut p = [0u8; 40];
        assert!(matches!(build_version(&mut p, &ctx), Ok(None)));
        let need = at(&p, 0);
        assert_eq!(need as usize, BRANCH.len() + 1);
        for (i, ptr) in [0x1000u64, 0x2000, 0x3000].iter().enumerate() {
            write_pod(&mut p[8 + 8 * i..], ptr);
        }
        write_pod(&mut p[..], &(need - 1));
        assert_eq!(
            build_version(&mut p, &ctx).err(),
            Some(NV_ERR_INVALID_PARAM_STRUCT)
        );
        write_pod(&mut p[..], &need);
        let copies = build_version(&mut p, &ctx).unwrap().unwrap();
        assert_eq!(copies[0].0, 0x1000);
        assert_eq!(copies[0].1.as_bytes_with_nul(), b"535.309.01\0");
        assert_eq!(copies[2].0, 0x3000);
    }

    #[test]
    fn gr_info_answers_hopper_numbers() {
        let mut list = [0u8; 24];
        for (i, index) in [0x0cu32, 0x0d, 0x33].iter().enumerate() {
            write_pod(&mut list[8 * i..], index);
        }
        assert_eq!(gr_info(&mut list, &R535), Ok(()));
        assert_eq!((at(&list, 4), at(&list, 12), at(&list, 20)), (0x900, 64, 0));
        write_pod(&mut list[..], &0x35u32);
        assert_eq!(gr_info(&mut list, &R535), Err(NV_ERR_INVALID_ARGUMENT));
        assert_eq!(gr_info(&mut list, &R550), Ok(()), "550's MAX_MIG_ENGINES");
    }

    #[test]
    fn sm_order_matches_the_masks_and_counts() {
        let mut p = vec![0u8; 12 * SM_ORDER_MAX + 24];
        let gpus = gpus();
        let ctx = Context {
            gpus: &gpus,
            version: "535.309.01",
            gpu: None,
            clocks: || (0, 0),
            settings: Settings::default(),
        };
        assert_eq!(answer(GR_GET_GLOBAL_SM_ORDER, &mut p, &ctx), Ok(()));
        let u16_at = |i: usize| read_pod::<u16>(&p[i..]).unwrap();
        assert_eq!(
            (u16_at(12 * SM_ORDER_MAX), u16_at(12 * SM_ORDER_MAX + 2)),
            (114, 57)
        );
        let total_tpcs: u32 = (0..8).map(tpcs_in_gpc).sum();
        assert_eq!(total_tpcs, 57);
        // The last SM: GPC 7, its TPC 6, SM 1, global TPC 56.
        let last = 12 * 113;
        assert_eq!(
            [
                u16_at(last),
                u16_at(last + 2),
                u16_at(last + 4),
                u16_at(last + 6)
            ],
            [7, 6, 1, 56]
        );
    }

    #[test]
    fn build_version_is_the_drivers() {
        let (r, buf) = ask(SYSTEM_GET_BUILD_VERSION_V2, |p| p.fill(0xaa));
        assert_eq!(r, Ok(()));
        assert_eq!(&buf[..11], b"535.309.01\0");
        assert!(buf[256..].starts_with(b"rel/gpu_drv/r535/"));
    }
}
