//! The GPU-wide settings an administrator changes with nvidia-smi: compute mode (`-c`),
//! persistence (`-pm`), the ECC configuration (`-e`) and MIG's partitioning mode (`-mig`).
//! Each setter is one RM control that the 535 RM declares PRIVILEGED: it answers
//! NV_ERR_INSUFFICIENT_PERMISSIONS to a caller without CAP_SYS_ADMIN, checked on each call
//! (`escape.c` sets the call's privilege from `osIsAdministrator()`). The queries beside them
//! are open to every client. Layouts and values are the 535 headers' (`ctrl2080gpu.h`,
//! `ctrl0080gpu.h`); found by tracing nvidia-smi 535.309.01's setters against nvsim.
//!
//! Setters whose controls are the closed RM's (power limit `-pl`, application and locked
//! clocks `-ac`/`-lgc`, reset `-r`) stop at a query nvsim does not answer, as a GPU without
//! the feature would; see the README for how fakegpu keeps a container from them.

use core::fmt;

use super::abi::nv_rm::ctrl::{Spec, Target};
use super::abi::nv_status::*;

/// `NV2080_CTRL_CMD_GPU_SET_COMPUTE_MODE_RULES` (PRIVILEGED): rules, flags.
pub const GPU_SET_COMPUTE_MODE_RULES: u32 = 0x2080_0130;
/// `NV2080_CTRL_CMD_GPU_QUERY_COMPUTE_MODE_RULES`: rules.
pub const GPU_QUERY_COMPUTE_MODE_RULES: u32 = 0x2080_0131;
/// `NV0080_CTRL_CMD_GPU_MODIFY_SW_STATE_PERSISTENCE` (PRIVILEGED): newState.
pub const GPU_MODIFY_SW_STATE_PERSISTENCE: u32 = 0x0080_0287;
/// `NV0080_CTRL_CMD_GPU_QUERY_SW_STATE_PERSISTENCE`: swStatePersistence.
pub const GPU_QUERY_SW_STATE_PERSISTENCE: u32 = 0x0080_0288;
/// `NV2080_CTRL_CMD_GPU_QUERY_ECC_CONFIGURATION`: current, default.
pub const GPU_QUERY_ECC_CONFIGURATION: u32 = 0x2080_0133;
/// `NV2080_CTRL_CMD_GPU_SET_ECC_CONFIGURATION` (PRIVILEGED): the configuration the next
/// reset takes.
pub const GPU_SET_ECC_CONFIGURATION: u32 = 0x2080_0134;
/// `NV2080_CTRL_CMD_GPU_GET_INFOROM_OBJECT_VERSION`: objectType[3], version, subversion.
pub const GPU_GET_INFOROM_OBJECT_VERSION: u32 = 0x2080_014b;
/// `NV2080_CTRL_CMD_GPU_QUERY_INFOROM_ECC_SUPPORT`: no parameters, NV_OK if supported.
pub const GPU_QUERY_INFOROM_ECC_SUPPORT: u32 = 0x2080_0157;
/// `NV2080_CTRL_CMD_GPU_SET_PARTITIONING_MODE` (PRIVILEGED): partitioningMode.
pub const GPU_SET_PARTITIONING_MODE: u32 = 0x2080_0183;

/// `NV2080_CTRL_GPU_COMPUTE_MODE_RULES_*`: NONE, EXCLUSIVE_COMPUTE, COMPUTE_PROHIBITED,
/// EXCLUSIVE_COMPUTE_PROCESS.
const COMPUTE_MODE_LAST: u32 = 3;
/// `NV0080_CTRL_GPU_SW_STATE_PERSISTENCE_ENABLED` (0) and `_DISABLED` (1): enabled is 0.
const PERSISTENCE_ENABLED: u32 = 0;
const PERSISTENCE_DISABLED: u32 = 1;
/// `NV2080_CTRL_GPU_ECC_CONFIGURATION_ENABLED`.
const ECC_ENABLED: u32 = 1;
/// `NV2080_CTRL_GPU_SET_PARTITIONING_MODE_REPARTITIONING` (bits 1:0): LEGACY (0, MIG off),
/// MAX_PERF, FAST_RECONFIG; 3 is no mode.
const REPARTITIONING_MASK: u32 = 0x3;
const REPARTITIONING_LAST: u32 = 2;
/// `NV2080_CTRL_GPU_INFO_GPU_SMC_MODE_ENABLED` (GET_INFO_V2's MIG index).
pub const SMC_MODE_ENABLED: u32 = 1;
/// `NV2080_CTRL_GPU_INFO_GPU_SMC_MODE_DISABLED`.
pub const SMC_MODE_DISABLED: u32 = 2;

/// The InfoROM objects nvsim's board carries, with their versions (nvsim's own figure): the
/// ECC object, which nvidia-smi needs to find ECC configurable.
const INFOROM_OBJECTS: [(&[u8; 3], u8, u8); 1] = [(b"ECC", 7, 16)];

/// The controls answered here, with their exact sizes and targets.
pub const SPECS: [Spec; 9] = [
    Spec {
        cmd: GPU_SET_COMPUTE_MODE_RULES,
        size: 8,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_QUERY_COMPUTE_MODE_RULES,
        size: 4,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_MODIFY_SW_STATE_PERSISTENCE,
        size: 4,
        target: Target::Device,
    },
    Spec {
        cmd: GPU_QUERY_SW_STATE_PERSISTENCE,
        size: 4,
        target: Target::Device,
    },
    Spec {
        cmd: GPU_QUERY_ECC_CONFIGURATION,
        size: 8,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_SET_ECC_CONFIGURATION,
        size: 4,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_GET_INFOROM_OBJECT_VERSION,
        size: 5,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_QUERY_INFOROM_ECC_SUPPORT,
        size: 0,
        target: Target::Subdevice,
    },
    Spec {
        cmd: GPU_SET_PARTITIONING_MODE,
        size: 4,
        target: Target::Subdevice,
    },
];

/// The spec of `cmd`, if it is answered here.
pub fn spec(cmd: u32) -> Option<Spec> {
    SPECS.iter().copied().find(|s| s.cmd == cmd)
}

/// Whether the RM declares `cmd` PRIVILEGED: only a caller with CAP_SYS_ADMIN may send it.
pub fn privileged(cmd: u32) -> bool {
    matches!(
        cmd,
        GPU_SET_COMPUTE_MODE_RULES
            | GPU_MODIFY_SW_STATE_PERSISTENCE
            | GPU_SET_ECC_CONFIGURATION
            | GPU_SET_PARTITIONING_MODE
    )
}

/// One GPU's administrator settings, as a fresh RM starts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `NV2080_CTRL_GPU_COMPUTE_MODE_RULES_*`.
    pub compute_mode: u32,
    /// Persistence mode on.
    pub persistence: bool,
    /// ECC on now.
    pub ecc: bool,
    /// ECC on after the next reset (nvsim never resets, so it stays pending).
    pub ecc_pending: bool,
    /// MIG's repartitioning mode (0: MIG off).
    pub partitioning: u32,
    /// Successful setter calls, so a test sees that a refused one changed nothing.
    pub changes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            compute_mode: 0,
            persistence: false,
            ecc: true,
            ecc_pending: true,
            partitioning: 0,
            changes: 0,
        }
    }
}

impl Settings {
    /// What GET_INFO_V2's MIG index (`GPU_SMC_MODE`) answers.
    pub fn smc_mode(&self) -> u32 {
        if self.partitioning == 0 {
            SMC_MODE_DISABLED
        } else {
            SMC_MODE_ENABLED
        }
    }
}

/// The debugfs line: `compute_mode C persistence P ecc E ecc_pending E mig M changes N`.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "compute_mode {} persistence {} ecc {} ecc_pending {} mig {} changes {}",
            self.compute_mode,
            u8::from(self.persistence),
            u8::from(self.ecc),
            u8::from(self.ecc_pending),
            self.partitioning,
            self.changes
        )
    }
}

fn word(params: &[u8], at: usize) -> Option<u32> {
    let bytes = params.get(at..at + 4)?;
    Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn put(params: &mut [u8], at: usize, value: u32) -> Result<(), NvStatus> {
    params
        .get_mut(at..at + 4)
        .ok_or(NV_ERR_INVALID_ARGUMENT)?
        .copy_from_slice(&value.to_ne_bytes());
    Ok(())
}

/// Answers `cmd` (one of [`SPECS`], with its exact size; the caller's privilege already
/// checked against [`privileged`]) on `settings`, as the RM's handlers do.
pub fn answer(cmd: u32, params: &mut [u8], settings: &mut Settings) -> Result<(), NvStatus> {
    let first = word(params, 0).unwrap_or(0);
    match cmd {
        GPU_SET_COMPUTE_MODE_RULES => {
            // The RM refuses compute mode rules while MIG is on.
            if settings.partitioning != 0 {
                return Err(NV_ERR_NOT_SUPPORTED);
            }
            if first > COMPUTE_MODE_LAST {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            settings.compute_mode = first;
        }
        GPU_QUERY_COMPUTE_MODE_RULES => return put(params, 0, settings.compute_mode),
        GPU_MODIFY_SW_STATE_PERSISTENCE => {
            settings.persistence = match first {
                PERSISTENCE_ENABLED => true,
                PERSISTENCE_DISABLED => false,
                _ => return Err(NV_ERR_INVALID_ARGUMENT),
            };
        }
        GPU_QUERY_SW_STATE_PERSISTENCE => {
            let state = if settings.persistence {
                PERSISTENCE_ENABLED
            } else {
                PERSISTENCE_DISABLED
            };
            return put(params, 0, state);
        }
        // The configuration is the InfoROM's: what the next reset takes.
        GPU_QUERY_ECC_CONFIGURATION => {
            put(params, 0, u32::from(settings.ecc_pending))?;
            return put(params, 4, ECC_ENABLED);
        }
        GPU_SET_ECC_CONFIGURATION => {
            settings.ecc_pending = match first {
                0 => false,
                1 => true,
                _ => return Err(NV_ERR_INVALID_ARGUMENT),
            };
        }
        GPU_GET_INFOROM_OBJECT_VERSION => {
            let object = params.get(..3).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            let (_, version, subversion) = INFOROM_OBJECTS
                .iter()
                .find(|(name, _, _)| name[..] == *object)
                .ok_or(NV_ERR_NOT_SUPPORTED)?;
            let out = params.get_mut(3..5).ok_or(NV_ERR_INVALID_ARGUMENT)?;
            out.copy_from_slice(&[*version, *subversion]);
            return Ok(());
        }
        GPU_QUERY_INFOROM_ECC_SUPPORT => return Ok(()),
        GPU_SET_PARTITIONING_MODE => {
            if first & !REPARTITIONING_MASK != 0 || first > REPARTITIONING_LAST {
                return Err(NV_ERR_INVALID_ARGUMENT);
            }
            settings.partitioning = first;
        }
        _ => return Err(NV_ERR_NOT_SUPPORTED),
    }
    settings.changes = settings.changes.wrapping_add(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(cmd: u32, args: &[u32], s: &mut Settings) -> (Result<(), NvStatus>, [u32; 2]) {
        let size = spec(cmd).map(|s| s.size).unwrap_or(0);
        let mut params = [0u8; 8];
        for (i, a) in args.iter().enumerate() {
            params[4 * i..4 * i + 4].copy_from_slice(&a.to_ne_bytes());
        }
        let r = answer(cmd, &mut params[..size], s);
        (r, [word(&params, 0).unwrap(), word(&params, 4).unwrap()])
    }

    #[test]
    fn compute_mode_set_and_queried() {
        let mut s = Settings::default();
        assert_eq!(call(GPU_SET_COMPUTE_MODE_RULES, &[3, 0], &mut s).0, Ok(()));
        assert_eq!(call(GPU_QUERY_COMPUTE_MODE_RULES, &[], &mut s).1[0], 3);
        assert_eq!(
            call(GPU_SET_COMPUTE_MODE_RULES, &[4, 0], &mut s).0,
            Err(NV_ERR_INVALID_ARGUMENT)
        );
        assert_eq!((s.compute_mode, s.changes), (3, 1));
    }

    #[test]
    fn persistence_enabled_is_zero() {
        let mut s = Settings::default();
        assert_eq!(call(GPU_QUERY_SW_STATE_PERSISTENCE, &[], &mut s).1[0], 1);
        assert_eq!(
            call(GPU_MODIFY_SW_STATE_PERSISTENCE, &[0], &mut s).0,
            Ok(())
        );
        assert!(s.persistence);
        assert_eq!(call(GPU_QUERY_SW_STATE_PERSISTENCE, &[], &mut s).1[0], 0);
        assert_eq!(
            call(GPU_MODIFY_SW_STATE_PERSISTENCE, &[2], &mut s).0,
            Err(NV_ERR_INVALID_ARGUMENT)
        );
    }

    #[test]
    fn ecc_change_waits_for_a_reset() {
        let mut s = Settings::default();
        assert_eq!(call(GPU_SET_ECC_CONFIGURATION, &[0], &mut s).0, Ok(()));
        assert!(s.ecc && !s.ecc_pending);
        assert_eq!(call(GPU_QUERY_ECC_CONFIGURATION, &[], &mut s).1, [0, 1]);
    }

    #[test]
    fn mig_mode_blocks_compute_mode() {
        let mut s = Settings::default();
        assert_eq!(s.smc_mode(), SMC_MODE_DISABLED);
        assert_eq!(call(GPU_SET_PARTITIONING_MODE, &[1], &mut s).0, Ok(()));
        assert_eq!(s.smc_mode(), SMC_MODE_ENABLED);
        assert_eq!(
            call(GPU_SET_COMPUTE_MODE_RULES, &[1, 0], &mut s).0,
            Err(NV_ERR_NOT_SUPPORTED)
        );
        assert_eq!(
            call(GPU_SET_PARTITIONING_MODE, &[3], &mut s).0,
            Err(NV_ERR_INVALID_ARGUMENT)
        );
    }

    #[test]
    fn inforom_objects() {
        let mut s = Settings::default();
        let mut p = *b"ECC\0\0";
        assert_eq!(
            answer(GPU_GET_INFOROM_OBJECT_VERSION, &mut p, &mut s),
            Ok(())
        );
        assert_eq!(&p[3..], &[7, 16]);
        let mut p = *b"PWR\0\0";
        assert_eq!(
            answer(GPU_GET_INFOROM_OBJECT_VERSION, &mut p, &mut s),
            Err(NV_ERR_NOT_SUPPORTED)
        );
        assert_eq!(s.changes, 0);
    }
}
