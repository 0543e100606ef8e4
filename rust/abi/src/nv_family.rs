//! The NVIDIA driver families fakegpu fronts and nvsim simulates, as data: for each, the
//! exact driver versions whose headers were checked, and every userspace-visible layout that
//! differs between families. Everything not listed here is the same in all of them (the
//! conformance check, `make conformance`, runs each family against its own headers).
//!
//! Adding a family (570, 580) is adding a [`DriverFamily`] value to [`FAMILIES`], its UVM
//! table in `nv_uvm`, and its headers to the conformance list; `docs/nvidia-families.md`
//! lists what differs and where each number comes from.

use super::nv_uvm::{UvmCommands, UVM_COMMANDS_535, UVM_COMMANDS_550};

/// One driver branch: its checked versions and its layouts.
#[derive(Debug, PartialEq, Eq)]
pub struct DriverFamily {
    /// The branch number (the first part of a version string).
    pub branch: u32,
    /// The exact versions whose headers the conformance check compares; another version of
    /// the same branch is only guessed to match (see [`DriverFamily::lookup`]).
    pub versions: &'static [&'static str],
    /// `NV_MEMORY_ALLOCATION_PARAMS` (memory classes 0x3E, 0x40, 0x50...): 120 bytes in 535,
    /// 128 once `numaNode` was added (545.23.06 on). `size` is at 64 in both.
    pub memory_alloc_params_size: usize,
    /// `NVOS46_PARAMETERS` (RM_MAP_MEMORY_DMA).
    pub nvos46_size: usize,
    /// `NVOS47_PARAMETERS` (RM_UNMAP_MEMORY_DMA): 550 adds `size`.
    pub nvos47_size: usize,
    /// `NV_CHANNEL_ALLOC_PARAMS` (the GPFIFO channel classes).
    pub channel_alloc_params_size: usize,
    /// `nv_ioctl_export_to_dma_buf_fd_t`.
    pub export_to_dmabuf_size: usize,
    /// Whether the frontend has `NV_ESC_WAIT_OPEN_COMPLETE` (0xDA, `nv_ioctl_wait_open_complete_t`):
    /// 550's open may finish in the background, and its userspace waits with it.
    pub wait_open_complete: bool,
    /// The UVM commands, whose per-GPU arrays grew from 32 to 256 entries in 550.
    pub uvm: UvmCommands,
    /// The parameter sizes of the RM controls whose size differs between families, by
    /// command (every family lists the same commands). The RM refuses a control whose
    /// `paramsSize` is not its size (`rs_resource.c`), so nvsim checks these and fakegpu
    /// sizes its copies by them.
    pub control_sizes: &'static [(u32, usize)],
    /// `NV2080_CTRL_GR_INFO_MAX_SIZE`: the entries GR_GET_INFO's list may hold, one more than
    /// the last index (550 adds MIG engines, partitionable GPCs and the minimum subcontexts).
    pub gr_info_max_size: usize,
}

impl DriverFamily {
    /// The parameter size of control `cmd` in this family, if it is one that differs.
    pub fn control_size(&self, cmd: u32) -> Option<usize> {
        self.control_sizes
            .iter()
            .find(|(c, _)| *c == cmd)
            .map(|(_, size)| *size)
    }
}

/// The 535 branch: Debian bookworm's 535.309.01.
pub const R535: DriverFamily = DriverFamily {
    branch: 535,
    versions: &["535.309.01"],
    memory_alloc_params_size: 120,
    nvos46_size: 56,
    nvos47_size: 40,
    channel_alloc_params_size: 360,
    export_to_dmabuf_size: 2600,
    wait_open_complete: false,
    gr_info_max_size: 0x35,
    uvm: UVM_COMMANDS_535,
    control_sizes: &[
        (0x0000_0127, 168),   // NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS
        (0x0000_012b, 4252),  // NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_V2
        (0x0073_1347, 32),    // NV0073_CTRL_CMD_DP_SET_TESTPATTERN
        (0x0073_1360, 16),    // NV0073_CTRL_CMD_DP_GET_LINK_CONFIG
        (0x0073_1377, 36),    // NV0073_CTRL_CMD_DP_CONFIG_INDEXED_LINK_RATES
        (0x0080_0292, 644),   // NV0080_CTRL_CMD_GPU_GET_CLASSLIST_V2
        (0x00f8_0102, 2072),  // NV00F8_CTRL_CMD_DESCRIBE
        (0x2080_0102, 516),   // NV2080_CTRL_CMD_GPU_GET_INFO_V2
        (0x2080_012f, 984),   // NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS
        (0x2080_0170, 252),   // NV2080_CTRL_CMD_GPU_GET_ENGINES_V2
        (0x2080_0179, 496),   // NV2080_CTRL_CMD_GPU_GET_ENGINE_RUNLIST_PRI_BASE
        (0x2080_01a3, 40),    // NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO
        (0x2080_1303, 436),   // NV2080_CTRL_CMD_FB_GET_INFO_V2
        (0x2080_2096, 34000), // NV2080_CTRL_CMD_PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2
        (0x2080_2409, 15608), // NV2080_CTRL_CMD_NVD_GET_NOCAT_JOURNAL
        (0x2080_240b, 176),   // NV2080_CTRL_CMD_NVD_SET_NOCAT_JOURNAL_DATA
        (0x2080_2a05, 144),   // NV2080_CTRL_CMD_CE_UPDATE_PCE_LCE_MAPPINGS
        (0x2080_2a0a, 68),    // NV2080_CTRL_CMD_CE_GET_ALL_CAPS
        (0xa081_0101, 4968),  // NVA081_CTRL_CMD_VGPU_CONFIG_SET_INFO
        (0xcb33_0101, 5),     // NV_CONF_COMPUTE_CTRL_CMD_SYSTEM_GET_CAPABILITIES
    ],
};

/// The 550 branch: Debian trixie's 550.163.01.
pub const R550: DriverFamily = DriverFamily {
    branch: 550,
    versions: &["550.163.01"],
    memory_alloc_params_size: 128,
    nvos46_size: 56,
    nvos47_size: 48,
    channel_alloc_params_size: 360,
    export_to_dmabuf_size: 2600,
    wait_open_complete: true,
    gr_info_max_size: 0x38,
    uvm: UVM_COMMANDS_550,
    control_sizes: &[
        (0x0000_0127, 176),   // NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS
        (0x0000_012b, 8348),  // NV0000_CTRL_CMD_SYSTEM_GET_P2P_CAPS_V2
        (0x0073_1347, 56),    // NV0073_CTRL_CMD_DP_SET_TESTPATTERN
        (0x0073_1360, 20),    // NV0073_CTRL_CMD_DP_GET_LINK_CONFIG
        (0x0073_1377, 44),    // NV0073_CTRL_CMD_DP_CONFIG_INDEXED_LINK_RATES
        (0x0080_0292, 700),   // NV0080_CTRL_CMD_GPU_GET_CLASSLIST_V2
        (0x00f8_0102, 2120),  // NV00F8_CTRL_CMD_DESCRIBE
        (0x2080_0102, 524),   // NV2080_CTRL_CMD_GPU_GET_INFO_V2
        (0x2080_012f, 1024),  // NV2080_CTRL_CMD_GPU_QUERY_ECC_STATUS
        (0x2080_0170, 260),   // NV2080_CTRL_CMD_GPU_GET_ENGINES_V2
        (0x2080_0179, 512),   // NV2080_CTRL_CMD_GPU_GET_ENGINE_RUNLIST_PRI_BASE
        (0x2080_01a3, 48),    // NV2080_CTRL_CMD_GET_GPU_FABRIC_PROBE_INFO
        (0x2080_1303, 444),   // NV2080_CTRL_CMD_FB_GET_INFO_V2
        (0x2080_2096, 50704), // NV2080_CTRL_CMD_PERF_GET_GPUMON_PERFMON_UTIL_SAMPLES_V2
        (0x2080_2409, 15656), // NV2080_CTRL_CMD_NVD_GET_NOCAT_JOURNAL
        (0x2080_240b, 104),   // NV2080_CTRL_CMD_NVD_SET_NOCAT_JOURNAL_DATA
        (0x2080_2a05, 152),   // NV2080_CTRL_CMD_CE_UPDATE_PCE_LCE_MAPPINGS
        (0x2080_2a0a, 136),   // NV2080_CTRL_CMD_CE_GET_ALL_CAPS
        (0xa081_0101, 5104),  // NVA081_CTRL_CMD_VGPU_CONFIG_SET_INFO
        (0xcb33_0101, 6),     // NV_CONF_COMPUTE_CTRL_CMD_SYSTEM_GET_CAPABILITIES
    ],
};

/// Every family fakegpu and nvsim know.
pub const FAMILIES: [&DriverFamily; 2] = [&R535, &R550];

/// How a driver version matches the known families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// One of a family's checked versions.
    Exact(&'static DriverFamily),
    /// Another version of a known branch: the branch's layouts are a guess, since NVIDIA
    /// changes them within a branch too (`NV_CHANNEL_ALLOC_PARAMS` grew in 535.86.05).
    SameBranch(&'static DriverFamily),
    /// A branch fakegpu does not know.
    Unknown,
}

impl DriverFamily {
    /// How `version` (such as "550.163.01") matches the known families.
    pub fn lookup(version: &str) -> Match {
        let branch = version
            .split('.')
            .next()
            .and_then(|b| b.parse::<u32>().ok());
        for family in FAMILIES {
            if family.versions.contains(&version) {
                return Match::Exact(family);
            }
            if Some(family.branch) == branch {
                return Match::SameBranch(family);
            }
        }
        Match::Unknown
    }

    /// The family whose layouts are the best guess for a driver of `version`: its branch's,
    /// else the newest family older than it, else the oldest.
    pub fn nearest(version: &str) -> &'static DriverFamily {
        let branch = version
            .split('.')
            .next()
            .and_then(|b| b.parse::<u32>().ok());
        let older = FAMILIES
            .into_iter()
            .filter(|f| branch.is_some_and(|b| f.branch <= b))
            .max_by_key(|f| f.branch);
        let oldest = FAMILIES.into_iter().min_by_key(|f| f.branch);
        older.or(oldest).unwrap_or(&R535)
    }

    /// The family of branch `branch`, if known.
    pub fn of_branch(branch: u32) -> Option<&'static DriverFamily> {
        FAMILIES.into_iter().find(|f| f.branch == branch)
    }
}

#[cfg(test)]
mod tests {
    use super::super::nv_frontend::NvIoctlExportToDmaBufFd;
    use super::*;

    #[test]
    fn versions_match_their_family() {
        assert_eq!(DriverFamily::lookup("535.309.01"), Match::Exact(&R535));
        assert_eq!(DriverFamily::lookup("550.163.01"), Match::Exact(&R550));
        assert_eq!(DriverFamily::lookup("550.54.14"), Match::SameBranch(&R550));
        assert_eq!(DriverFamily::lookup("535"), Match::SameBranch(&R535));
        assert_eq!(DriverFamily::lookup("570.124.04"), Match::Unknown);
        assert_eq!(DriverFamily::lookup("x"), Match::Unknown);
        assert_eq!(DriverFamily::of_branch(550), Some(&R550));
        assert_eq!(DriverFamily::of_branch(470), None);
    }

    #[test]
    fn families_are_distinct_and_their_versions_their_own() {
        for (i, f) in FAMILIES.iter().enumerate() {
            assert!(FAMILIES[..i].iter().all(|g| g.branch != f.branch));
            for v in f.versions {
                assert!(v.starts_with(&format!("{}.", f.branch)), "{v}");
            }
            assert_eq!(
                f.export_to_dmabuf_size,
                core::mem::size_of::<NvIoctlExportToDmaBufFd>()
            );
            let cmds =
                |g: &DriverFamily| g.control_sizes.iter().map(|(c, _)| *c).collect::<Vec<_>>();
            assert_eq!(cmds(f), cmds(&R535), "the same commands in every family");
        }
        // FB_GET_INFO_V2's list: 54 entries in 535, 55 in 550.
        assert_eq!(R535.control_size(0x2080_1303), Some(4 + 8 * 54));
        assert_eq!(R550.control_size(0x2080_1303), Some(4 + 8 * 55));
        // The utilisation samples: 550 adds two engines to each sample.
        use super::super::nv_gpumon::{params_size, sample_size, CMD};
        assert_eq!(R535.control_size(CMD), Some(params_size(sample_size(4))));
        assert_eq!(R550.control_size(CMD), Some(params_size(sample_size(6))));
    }
}
