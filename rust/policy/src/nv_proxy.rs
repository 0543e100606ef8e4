//! fakegpu's policy for NVIDIA calls on its fake nodes: which calls are forwarded as they are,
//! which go through the caller's worker (a kernel thread, see `rust/fakegpu/worker.rs`), and
//! which are refused, in the form the driver itself uses for that call.
//!
//! A call goes through the worker when the driver would look at the calling task's fd table
//! (an fd inside the parameters, or a walk for an open GPU file) or would record the calling
//! process as an owner that a later worker call is checked against (new clients). Everything
//! else runs in the caller's own context.

use super::abi::nv_family::DriverFamily;
use super::abi::nv_frontend::{esc as fe, NvIoctlRegisterFd};
use super::abi::nv_rm::{class, esc as rm, Nvos21, Nvos33WithFd, Nvos54, Nvos64};
use super::abi::nv_status::*;
use super::abi::pod::read_pod;
use super::nv_caps::Capabilities;
use core::mem::{offset_of, size_of};

/// `EINVAL`: the driver's answer to an escape it does not handle.
pub const EINVAL: i32 = 22;
/// `EACCES`.
pub const EACCES: i32 = 13;

/// The kind of fake NVIDIA node a call arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NvNode {
    /// `/dev/fakegpuctl`.
    Ctl,
    /// `/dev/fakegpuN`.
    Gpu,
    /// `/dev/fakegpu-uvm`.
    Uvm,
}

/// How strictly unknown calls are treated (the `filter=` module parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterMode {
    /// Unknown escapes, controls and UVM commands are refused (controls fakegpu does not
    /// know with `NV_ERR_NOT_SUPPORTED`, see `nv_controls`).
    Strict,
    /// As strict, except that controls fakegpu does not know are forwarded and logged, so
    /// an operator can find what a real driver's workloads need.
    Audit,
    /// Unknown escapes and UVM commands are forwarded (for newer drivers), unknown controls
    /// forwarded and logged; allocations of unknown classes are still refused.
    Permissive,
}

/// A call that runs in the caller's worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerCall {
    /// Offsets of the `int` fds in the parameters that the driver resolves.
    pub fd_offsets: &'static [usize],
    /// Whether the driver walks the fd table for an open file of the GPU concerned
    /// (NV01_DEVICE_0 allocation, UVM_REGISTER_GPU): the worker's table then holds the real
    /// file behind each fake GPU node the caller has open.
    pub gpu_files: bool,
    /// Whether the driver works on the caller's address space (pins its pages, records its
    /// mm), so the call must run with the caller's mm and its parameters stay in the
    /// caller's memory. The others are made on fakegpu's private copy of the parameters.
    pub caller_memory: bool,
}

/// Why and how a call is refused before it reaches the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The ioctl fails with this (positive) errno.
    Errno(i32),
    /// The ioctl succeeds with `status` in the parameters at `offset`, as the RM reports.
    Status {
        /// Offset of the status field.
        offset: usize,
        /// The RM status.
        status: NvStatus,
    },
}

/// What fakegpu does with a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// Forwarded unchanged, in the caller's context.
    Direct,
    /// Forwarded through the caller's worker.
    Worker(WorkerCall),
    /// Forwarded unchanged like [`Route::Direct`], and logged: a call strict mode refuses
    /// (a control fakegpu does not know, in audit or permissive mode).
    Audited {
        /// A short reason, for the log.
        why: &'static str,
    },
    /// Refused; `why` is for the log line.
    Refuse {
        /// How.
        refusal: Refusal,
        /// A short reason, for the log.
        why: &'static str,
    },
}

const NO_FDS: &[usize] = &[];
const FD_AT_0: &[usize] = &[0];
/// The fd of `nv_ioctl_nvos02_parameters_with_fd` and `..._nvos33_...`, both at 48.
const FD_AT_48: &[usize] = &[offset_of!(Nvos33WithFd, fd)];
/// Size of the `..._with_fd` wrappers (RM_ALLOC_MEMORY, RM_MAP_MEMORY).
const WITH_FD_SIZE: usize = size_of::<Nvos33WithFd>();
/// `NVOS38_PARAMETERS` (ACCESS_REGISTRY): its size and status offset.
const NVOS38_SIZE: usize = 72;
const NVOS38_STATUS: usize = 64;

/// RM escapes without fds that are forwarded as they are.
const PLAIN_RM_ESCAPES: [u8; 11] = [
    rm::RM_FREE,
    rm::RM_VID_HEAP_CONTROL,
    rm::RM_MAP_MEMORY_DMA,
    rm::RM_UNMAP_MEMORY_DMA,
    rm::RM_DUP_OBJECT,
    rm::RM_SHARE,
    0x41, // IDLE_CHANNELS
    rm::RM_GET_EVENT_DATA,
    0x54, // ALLOC_CONTEXT_DMA2
    0x59, // BIND_CONTEXT_DMA
    0x5e, // UPDATE_DEVICE_MAPPING_INFO
];

/// Frontend escapes forwarded as they are.
const PLAIN_FRONTEND_ESCAPES: [u8; 9] = [
    fe::CARD_INFO,
    fe::ALLOC_OS_EVENT,
    fe::FREE_OS_EVENT,
    fe::STATUS_CODE,
    fe::CHECK_VERSION_STR,
    fe::ATTACH_GPUS_TO_FD,
    fe::QUERY_DEVICE_INTR,
    0xd7, // NUMA_INFO
    fe::EXPORT_TO_DMABUF_FD,
];

/// RM controls refused on fake nodes, with the status the RM would give a caller without the
/// right to them, and why. (GPU_GET_PIDS and GPU_GET_PID_INFO, which would list every
/// tenant's processes, are answered by fakegpu for the caller's cgroup: `nvidia/processes.rs`.)
const DENIED_CONTROLS: [(u32, NvStatus, &str); 6] = [
    (
        0x3d05,
        NV_ERR_NOT_SUPPORTED,
        "carries an fd fakegpu does not translate",
    ),
    (
        0x3d06,
        NV_ERR_NOT_SUPPORTED,
        "carries an fd fakegpu does not translate",
    ),
    (
        0x3d08,
        NV_ERR_NOT_SUPPORTED,
        "carries an fd fakegpu does not translate",
    ),
    (
        0x3d0a,
        NV_ERR_NOT_SUPPORTED,
        "carries an fd fakegpu does not translate",
    ),
    (
        0x3d0b,
        NV_ERR_NOT_SUPPORTED,
        "carries an fd fakegpu does not translate",
    ),
    (
        0x3d0c,
        NV_ERR_NOT_SUPPORTED,
        "carries an fd fakegpu does not translate",
    ),
];
/// NV00FD ATTACH_GPU: its `devDescriptor` is an fd.
const NV00FD_CTRL_CMD_ATTACH_GPU: u32 = 0x00fd_0104;

/// What an RM_ALLOC of `class_id` is, for routing; `None` for a class fakegpu does not know
/// (refused: fakegpu must know what an allocation is before it can meter it).
pub fn alloc_kind(class_id: u32) -> Option<AllocKind> {
    Some(match class_id {
        class::NV01_NULL_OBJECT | class::NV01_ROOT_NON_PRIV | class::NV01_ROOT_CLIENT => {
            AllocKind::Client
        }
        class::NV01_DEVICE_0 => AllocKind::Device,
        // Memory lists name physical pages, another tenant's too: refused before the driver,
        // whatever the caller's capabilities (see [`alloc_refusal`]).
        c if class::PRIVILEGED.contains(&c) => AllocKind::Privileged,
        class::NV20_SUBDEVICE_0
        | class::NV01_EVENT_OS_EVENT
        | class::NV_CONFIDENTIAL_COMPUTE
        | class::NV2081_BINAPI => AllocKind::Other,
        // Memory, VA spaces, channels and their groups, engine objects: what needs one of
        // the driver capabilities (`nv_caps`) is what fakegpu knows of an engine's work.
        c if super::nv_caps::alloc_need(c) != Capabilities::NONE => AllocKind::Other,
        _ => return None,
    })
}

/// The routing-relevant kinds of allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocKind {
    /// A new client: the driver records the calling process as its owner.
    Client,
    /// NV01_DEVICE_0: the driver walks the caller's fd table for that GPU's file.
    Device,
    /// Anything else fakegpu knows.
    Other,
    /// A class fakegpu refuses to every caller (the privileged memory lists).
    Privileged,
}

/// Why fakegpu refuses an RM_ALLOC of `class_id` before the driver, if it does: the status
/// and a reason for the log. Decided on the class in the parameters fakegpu routes by, and
/// again on its private copy (which the tenant cannot rewrite in between).
pub fn alloc_refusal(class_id: u32) -> Option<(NvStatus, &'static str)> {
    match alloc_kind(class_id) {
        None => Some((
            NV_ERR_INVALID_CLASS,
            "allocates a class fakegpu does not know",
        )),
        Some(AllocKind::Privileged) => Some((
            NV_ERR_INSUFFICIENT_PERMISSIONS,
            "a memory list can name another tenant's pages",
        )),
        Some(_) => None,
    }
}

/// The route of frontend or RM escape `nr` (already unwrapped from IOCTL_XFER_CMD) with
/// parameters of `size` bytes, on the ctl or a GPU node of a driver of `family`. `head`
/// holds the first `min(size, HEAD_MAX)` bytes of the parameters if [`reads_params`] says the
/// route depends on them, else it may be empty.
pub fn route_escape(
    nr: u8,
    size: usize,
    head: &[u8],
    mode: FilterMode,
    family: &DriverFamily,
) -> Route {
    let refuse = |refusal, why| Route::Refuse { refusal, why };
    let at = |offset: usize| head.get(offset..).and_then(read_pod::<u32>);
    match nr {
        fe::REGISTER_FD if size == size_of::<NvIoctlRegisterFd>() => Route::Worker(WorkerCall {
            fd_offsets: FD_AT_0,
            gpu_files: false,
            caller_memory: false,
        }),
        // Other sizes: the driver refuses them (EINVAL) before resolving the fd.
        fe::REGISTER_FD => Route::Direct,
        n if PLAIN_FRONTEND_ESCAPES.contains(&n) || PLAIN_RM_ESCAPES.contains(&n) => Route::Direct,
        // The driver requires the process that mapped (the worker, see RM_MAP_MEMORY).
        rm::RM_UNMAP_MEMORY => Route::Worker(WorkerCall {
            fd_offsets: NO_FDS,
            gpu_files: false,
            caller_memory: false,
        }),
        fe::SYS_PARAMS => refuse(Refusal::Errno(EACCES), "sets a driver-wide parameter"),
        0xd8 => refuse(Refusal::Errno(EACCES), "SET_NUMA_STATUS is for the host"),
        fe::IOCTL_XFER_CMD => refuse(Refusal::Errno(EINVAL), "nested IOCTL_XFER_CMD"),
        // The result of the file's own open, kept on the file: nothing beyond the caller's.
        fe::WAIT_OPEN_COMPLETE if family.wait_open_complete => Route::Direct,
        rm::RM_ALLOC => {
            let status_offset = match size {
                s if s == size_of::<Nvos21>() => offset_of!(Nvos21, status),
                s if s == size_of::<Nvos64>() => offset_of!(Nvos64, status),
                // The driver refuses other sizes (EINVAL) before reading anything.
                _ => return Route::Direct,
            };
            let class_id = at(offset_of!(Nvos21, h_class)).unwrap_or(u32::MAX);
            match alloc_kind(class_id) {
                Some(AllocKind::Client) => Route::Worker(WorkerCall {
                    fd_offsets: NO_FDS,
                    gpu_files: false,
                    caller_memory: false,
                }),
                Some(AllocKind::Device) => Route::Worker(WorkerCall {
                    fd_offsets: NO_FDS,
                    gpu_files: true,
                    caller_memory: false,
                }),
                Some(AllocKind::Other) => Route::Direct,
                Some(AllocKind::Privileged) | None => {
                    let (status, why) = alloc_refusal(class_id).unwrap_or((
                        NV_ERR_INVALID_CLASS,
                        "allocates a class fakegpu does not know",
                    ));
                    refuse(
                        Refusal::Status {
                            offset: status_offset,
                            status,
                        },
                        why,
                    )
                }
            }
        }
        // RM_ALLOC_MEMORY pins or maps the caller's own pages; RM_MAP_MEMORY only records
        // the mapping on the file named by the fd (the mmap that follows is the caller's).
        rm::RM_ALLOC_MEMORY | rm::RM_MAP_MEMORY if size == WITH_FD_SIZE => {
            Route::Worker(WorkerCall {
                fd_offsets: FD_AT_48,
                gpu_files: false,
                caller_memory: nr == rm::RM_ALLOC_MEMORY,
            })
        }
        // Other sizes: the driver refuses them (EINVAL) before resolving the fd.
        rm::RM_ALLOC_MEMORY | rm::RM_MAP_MEMORY => Route::Direct,
        // Other sizes: the driver refuses them (EINVAL) before reading anything.
        rm::RM_CONTROL if size != size_of::<Nvos54>() => Route::Direct,
        rm::RM_CONTROL => {
            let cmd = at(offset_of!(Nvos54, cmd)).unwrap_or(0);
            let status_offset = offset_of!(Nvos54, status);
            if cmd == NV00FD_CTRL_CMD_ATTACH_GPU {
                return refuse(
                    Refusal::Status {
                        offset: status_offset,
                        status: NV_ERR_NOT_SUPPORTED,
                    },
                    "carries an fd fakegpu does not translate",
                );
            }
            // Admin-only controls change the whole GPU: refused in every mode, whatever the
            // caller's capabilities.
            if super::nv_controls::admin_only(cmd, family).is_some() {
                return refuse(
                    Refusal::Status {
                        offset: status_offset,
                        status: NV_ERR_INSUFFICIENT_PERMISSIONS,
                    },
                    PRIVILEGED_CONTROL,
                );
            }
            match DENIED_CONTROLS.iter().find(|(c, _, _)| *c == cmd) {
                Some(&(_, status, why)) => refuse(
                    Refusal::Status {
                        offset: status_offset,
                        status,
                    },
                    why,
                ),
                None if control_known(cmd, family) => Route::Direct,
                None => match mode {
                    FilterMode::Strict => refuse(
                        Refusal::Status {
                            offset: status_offset,
                            status: NV_ERR_NOT_SUPPORTED,
                        },
                        UNKNOWN_CONTROL,
                    ),
                    FilterMode::Audit | FilterMode::Permissive => Route::Audited {
                        why: UNKNOWN_CONTROL,
                    },
                },
            }
        }
        0x4d if size == NVOS38_SIZE => refuse(
            Refusal::Status {
                offset: NVOS38_STATUS,
                status: NV_ERR_INSUFFICIENT_PERMISSIONS,
            },
            "ACCESS_REGISTRY changes driver-wide settings",
        ),
        0x39 => refuse(
            Refusal::Errno(EINVAL),
            "I2C_ACCESS reaches the board's buses",
        ),
        0x5f => refuse(Refusal::Errno(EINVAL), "NVLOG_CTRL is for the host"),
        _ => match mode {
            FilterMode::Permissive => Route::Direct,
            FilterMode::Strict | FilterMode::Audit => {
                refuse(Refusal::Errno(EINVAL), "unknown escape")
            }
        },
    }
}

/// Why a control is refused (strict) or logged (audit): fakegpu does not know it.
pub const UNKNOWN_CONTROL: &str = "an RM control fakegpu does not know";

/// Why a control is refused in every mode: the RM lets only an administrator send it.
pub const PRIVILEGED_CONTROL: &str = "an admin-only RM control (changes the whole GPU)";

/// Whether RM control `cmd` is one fakegpu knows in `family`'s tables.
pub fn control_known(cmd: u32, family: &DriverFamily) -> bool {
    super::nv_controls::known_control(cmd, family).is_some()
}

/// How many leading bytes of the parameters [`route_escape`] and the worker may read: enough
/// for every field they look at (the fds at 48 and the statuses up to 64).
pub const HEAD_MAX: usize = 72;

/// Whether the route of escape `nr` depends on its parameters (the others are decided by
/// number and size alone, so fakegpu copies nothing for them).
pub fn reads_params(nr: u8) -> bool {
    matches!(
        nr,
        rm::RM_ALLOC | rm::RM_CONTROL | rm::RM_ALLOC_MEMORY | rm::RM_MAP_MEMORY | fe::REGISTER_FD
    )
}

/// The route of raw UVM command `cmd` on the uvm node of a driver of `family`.
pub fn route_uvm(cmd: u32, mode: FilterMode, family: &DriverFamily) -> Route {
    const REGISTER_GPU: u32 = 37;
    match family.uvm.get(cmd) {
        // UVM works on the caller's address space (its va_space and mm).
        Some(c) if c.cmd == REGISTER_GPU => Route::Worker(WorkerCall {
            fd_offsets: c.fd_offsets,
            gpu_files: true,
            caller_memory: true,
        }),
        Some(c) if !c.fd_offsets.is_empty() => Route::Worker(WorkerCall {
            fd_offsets: c.fd_offsets,
            gpu_files: false,
            caller_memory: true,
        }),
        Some(_) => Route::Direct,
        None => match mode {
            FilterMode::Permissive => Route::Direct,
            FilterMode::Strict | FilterMode::Audit => Route::Refuse {
                refusal: Refusal::Errno(EINVAL),
                why: "unknown UVM command",
            },
        },
    }
}

/// The size of the parameters of UVM command `cmd` in `family`, if fakegpu knows it.
pub fn uvm_params_size(cmd: u32, family: &DriverFamily) -> Option<usize> {
    family.uvm.get(cmd).map(|c| c.size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::nv_family::{R535, R550};
    use crate::abi::pod::write_pod;
    use proptest::prelude::*;

    /// Routes on a 535 driver (the 550 differences have their own test).
    fn route_escape(nr: u8, size: usize, head: &[u8], mode: FilterMode) -> Route {
        super::route_escape(nr, size, head, mode, &R535)
    }

    /// Routes UVM commands on a 535 driver.
    fn route_uvm(cmd: u32, mode: FilterMode) -> Route {
        super::route_uvm(cmd, mode, &R535)
    }

    #[test]
    fn families_route_their_own_escapes_and_layouts() {
        let wait = |family| super::route_escape(fe::WAIT_OPEN_COMPLETE, 8, &[], STRICT, family);
        assert_eq!(wait(&R550), Route::Direct);
        assert!(matches!(wait(&R535), Route::Refuse { .. }));
        // UVM_MAP_EXTERNAL_ALLOCATION's rmCtrlFd moves with the per-GPU array.
        let map = |family| match super::route_uvm(33, STRICT, family) {
            Route::Worker(w) => w.fd_offsets,
            other => panic!("{other:?}"),
        };
        assert_eq!(map(&R535), [1184]);
        assert_eq!(map(&R550), [9248]);
        assert_eq!(uvm_params_size(68, &R550), Some(9248));
        // 550 made more controls admin-only (GET_FIPS_STATUS among them).
        let fips =
            |family| super::route_escape(rm::RM_CONTROL, 32, &control(0x2080_01e4), STRICT, family);
        assert!(matches!(
            fips(&R550),
            Route::Refuse {
                why: PRIVILEGED_CONTROL,
                ..
            }
        ));
        assert!(matches!(
            fips(&R535),
            Route::Refuse {
                why: UNKNOWN_CONTROL,
                ..
            }
        ));
    }

    fn alloc(class_id: u32, size: usize) -> Vec<u8> {
        let mut p = vec![0u8; size];
        write_pod(&mut p[12..], &class_id);
        p
    }

    fn control(cmd: u32) -> Vec<u8> {
        let mut p = vec![0u8; size_of::<Nvos54>()];
        write_pod(&mut p[8..], &cmd);
        p
    }

    const STRICT: FilterMode = FilterMode::Strict;

    #[test]
    fn fd_carrying_calls_go_through_the_worker_with_their_fd_offsets() {
        let worker = |r: Route| match r {
            Route::Worker(w) => w,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            worker(route_escape(fe::REGISTER_FD, 4, &[0; 4], STRICT)).fd_offsets,
            [0]
        );
        let map = worker(route_escape(rm::RM_MAP_MEMORY, 56, &[0; 56], STRICT));
        assert_eq!((map.fd_offsets, map.gpu_files), (&[48][..], false));
        assert_eq!(
            worker(route_escape(rm::RM_ALLOC_MEMORY, 56, &[0; 56], STRICT)).fd_offsets,
            [48]
        );
        assert_eq!(
            route_escape(rm::RM_MAP_MEMORY, 48, &[0; 48], STRICT),
            Route::Direct
        );
        // Unmapping needs the process that mapped: the worker.
        let unmap = worker(route_escape(rm::RM_UNMAP_MEMORY, 32, &[], STRICT));
        assert_eq!((unmap.fd_offsets, unmap.gpu_files), (NO_FDS, false));
        let uvm_gpu = worker(route_uvm(37, STRICT));
        assert_eq!((uvm_gpu.fd_offsets, uvm_gpu.gpu_files), (&[24][..], true));
        // Only the calls that work on the caller's address space keep their parameters there.
        assert!(uvm_gpu.caller_memory && !unmap.caller_memory);
        let with_fd = [0u8; WITH_FD_SIZE];
        assert!(
            worker(route_escape(
                rm::RM_ALLOC_MEMORY,
                WITH_FD_SIZE,
                &with_fd,
                STRICT
            ))
            .caller_memory
        );
        assert!(
            !worker(route_escape(
                rm::RM_MAP_MEMORY,
                WITH_FD_SIZE,
                &with_fd,
                STRICT
            ))
            .caller_memory
        );
        assert!(!worker(route_escape(fe::REGISTER_FD, 4, &[0; 4], STRICT)).caller_memory);
        assert_eq!(worker(route_uvm(75, STRICT)).fd_offsets, [0]);
        assert_eq!(route_uvm(0x3000_0001, STRICT), Route::Direct);
    }

    #[test]
    fn clients_and_devices_go_through_the_worker() {
        for size in [32, 48] {
            for c in [0x0, 0x1, 0x41] {
                assert_eq!(
                    route_escape(rm::RM_ALLOC, alloc(c, size).len(), &alloc(c, size), STRICT),
                    Route::Worker(WorkerCall {
                        fd_offsets: &[],
                        gpu_files: false,
                        caller_memory: false
                    })
                );
            }
            assert_eq!(
                route_escape(
                    rm::RM_ALLOC,
                    alloc(0x80, size).len(),
                    &alloc(0x80, size),
                    STRICT
                ),
                Route::Worker(WorkerCall {
                    fd_offsets: &[],
                    gpu_files: true,
                    caller_memory: false
                })
            );
            assert_eq!(
                route_escape(
                    rm::RM_ALLOC,
                    alloc(0x40, size).len(),
                    &alloc(0x40, size),
                    STRICT
                ),
                Route::Direct
            );
        }
    }

    #[test]
    fn unknown_classes_fail_closed_even_when_permissive() {
        for (size, offset) in [(32, 28), (48, 40)] {
            for mode in [FilterMode::Strict, FilterMode::Permissive] {
                assert!(matches!(
                    route_escape(rm::RM_ALLOC, alloc(0xbeef, size).len(), &alloc(0xbeef, size), mode),
                    Route::Refuse {
                        refusal: Refusal::Status { offset: o, status: NV_ERR_INVALID_CLASS },
                        ..
                    } if o == offset
                ));
            }
        }
        // A size the driver refuses itself is left to it.
        assert_eq!(
            route_escape(
                rm::RM_ALLOC,
                alloc(0xbeef, 40).len(),
                &alloc(0xbeef, 40),
                STRICT
            ),
            Route::Direct
        );
    }

    #[test]
    fn fd_carrying_controls_are_refused_with_a_status() {
        for cmd in [0x3d05, 0x3d0c, 0x00fd_0104] {
            assert!(
                matches!(
                    route_escape(rm::RM_CONTROL, control(cmd).len(), &control(cmd), STRICT),
                    Route::Refuse {
                        refusal: Refusal::Status { offset: 28, .. },
                        ..
                    }
                ),
                "{cmd:#x}"
            );
        }
        assert_eq!(
            route_escape(
                rm::RM_CONTROL,
                control(0x2080_1303).len(),
                &control(0x2080_1303),
                STRICT
            ),
            Route::Direct
        );
    }

    #[test]
    fn privileged_and_unknown_classes_are_refused_in_every_mode() {
        for mode in [STRICT, FilterMode::Audit, FilterMode::Permissive] {
            for (class_id, want) in [
                (0x81, NV_ERR_INSUFFICIENT_PERMISSIONS),
                (0x83, NV_ERR_INSUFFICIENT_PERMISSIONS),
                (0xbeef, NV_ERR_INVALID_CLASS),
            ] {
                assert!(matches!(
                    route_escape(rm::RM_ALLOC, 32, &alloc(class_id, 32), mode),
                    Route::Refuse {
                        refusal: Refusal::Status { offset: 28, status },
                        ..
                    } if status == want
                ));
                assert_eq!(alloc_refusal(class_id).map(|r| r.0), Some(want));
            }
        }
        assert_eq!(alloc_refusal(class::NV01_MEMORY_LOCAL_USER), None);
    }

    #[test]
    fn controls_fakegpu_does_not_know_are_refused_unless_audited() {
        let route = |cmd: u32, mode| route_escape(rm::RM_CONTROL, 32, &control(cmd), mode);
        // 0x2080_8161: a control of the closed RM nobody listed.
        assert_eq!(
            route(0x2080_8161, STRICT),
            Route::Refuse {
                refusal: Refusal::Status {
                    offset: 28,
                    status: NV_ERR_NOT_SUPPORTED
                },
                why: UNKNOWN_CONTROL
            }
        );
        for mode in [FilterMode::Audit, FilterMode::Permissive] {
            assert_eq!(
                route(0x2080_8161, mode),
                Route::Audited {
                    why: UNKNOWN_CONTROL
                }
            );
            // The deny list holds in every mode.
            assert!(matches!(route(0x3d05, mode), Route::Refuse { .. }));
        }
        for known in super::super::nv_controls::R535 {
            if DENIED_CONTROLS.iter().all(|(c, _, _)| *c != known.cmd) {
                assert_eq!(route(known.cmd, STRICT), Route::Direct, "{}", known.name);
            }
        }
        // Admin-only controls (SET_COMPUTE_MODE_RULES, MODIFY_SW_STATE_PERSISTENCE, ...) are
        // refused in every mode with the RM's answer to a caller without CAP_SYS_ADMIN.
        for mode in [STRICT, FilterMode::Audit, FilterMode::Permissive] {
            let tables = super::super::nv_controls::R535_PRIVILEGED
                .iter()
                .chain(super::super::nv_controls::R535_GPU_WIDE.iter());
            for c in tables {
                assert_eq!(
                    route(c.cmd, mode),
                    Route::Refuse {
                        refusal: Refusal::Status {
                            offset: 28,
                            status: NV_ERR_INSUFFICIENT_PERMISSIONS
                        },
                        why: PRIVILEGED_CONTROL
                    },
                    "{}",
                    c.name
                );
            }
        }
        // Unknown escapes stay refused in audit mode.
        assert!(matches!(
            route_escape(0x32, 8, &[0; 8], FilterMode::Audit),
            Route::Refuse { .. }
        ));
    }

    #[test]
    fn unknown_escapes_depend_on_the_mode() {
        assert!(matches!(
            route_escape(0x32, 8, &[0; 8], STRICT),
            Route::Refuse {
                refusal: Refusal::Errno(EINVAL),
                ..
            }
        ));
        assert_eq!(
            route_escape(0x32, 8, &[0; 8], FilterMode::Permissive),
            Route::Direct
        );
        assert!(matches!(route_uvm(12345, STRICT), Route::Refuse { .. }));
        assert_eq!(route_uvm(12345, FilterMode::Permissive), Route::Direct);
        // Host-only escapes stay refused in permissive mode.
        for nr in [fe::SYS_PARAMS, 0xd8, 0x39, 0x5f, fe::IOCTL_XFER_CMD] {
            assert!(
                matches!(
                    route_escape(nr, 8, &[0; 8], FilterMode::Permissive),
                    Route::Refuse { .. }
                ),
                "{nr:#x}"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_fd_offsets_fit(nr: u8, params in proptest::collection::vec(any::<u8>(), 0..80), cmd: u32) {
            for mode in [FilterMode::Strict, FilterMode::Permissive] {
                if let Route::Worker(w) = route_escape(nr, params.len(), &params[..params.len().min(HEAD_MAX)], mode) {
                    for &o in w.fd_offsets {
                        prop_assert!(o + 4 <= params.len() && o + 4 <= HEAD_MAX);
                    }
                }
                if let Route::Refuse { refusal: Refusal::Status { offset, .. }, .. } = route_escape(nr, params.len(), &params[..params.len().min(HEAD_MAX)], mode) {
                    prop_assert!(offset + 4 <= params.len());
                    prop_assert!(reads_params(nr) || offset + 4 <= HEAD_MAX);
                }
                let _ = route_uvm(cmd, mode);
            }
        }
    }
}
