//! The bpf(2) system call, as far as device programs need it: loading one, querying the
//! programs attached to a cgroup, attaching and detaching, and getting an fd for a program
//! by id. The `bpf_attr` layouts and the unsafe calls stay in here; [`v2`](super::v2)
//! decides what to attach and detach.

use super::program::Insn;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_int = 5;
pub(super) const BPF_PROG_ATTACH: libc::c_int = 8;
pub(super) const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

pub(super) const BPF_F_ALLOW_OVERRIDE: u32 = 1;
pub(super) const BPF_F_ALLOW_MULTI: u32 = 2;

/// The kernel's limit on a program from a privileged loader (BPF_COMPLEXITY_LIMIT_INSNS).
pub(super) const MAX_INSNS: usize = 1_000_000;
/// At most this many programs per cgroup and attach type (BPF_CGROUP_MAX_PROGS).
const MAX_PROGS: usize = 64;
/// Verifier log buffer for a rejected program.
const LOG_SIZE: usize = 1 << 20;

/// `bpf_attr` for BPF_PROG_LOAD, up to `expected_attach_type`.
#[repr(C)]
#[derive(Clone, Copy)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `bpf_attr` for BPF_PROG_QUERY, up to `revision`.
#[repr(C)]
#[derive(Clone, Copy)]
struct ProgQueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// `bpf_attr` for BPF_PROG_ATTACH and BPF_PROG_DETACH.
#[repr(C)]
#[derive(Clone, Copy)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    relative_fd: u32,
    expected_revision: u64,
}

/// `bpf_attr` for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Clone, Copy)]
struct GetFdByIdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `union bpf_attr`, with the members used here. `zero` makes every byte a command doesn't
/// use zero, as the kernel requires, and the size leaves room past every field the kernel
/// may write back (Linux 6.6+ writes `query.revision` whatever size is passed).
#[repr(C)]
union BpfAttr {
    load: ProgLoadAttr,
    query: ProgQueryAttr,
    attach: ProgAttachAttr,
    get_fd: GetFdByIdAttr,
    zero: [u64; 16],
}

impl BpfAttr {
    fn zeroed() -> Self {
        BpfAttr { zero: [0; 16] }
    }
}

/// bpf(2). Returns the call's non-negative result.
///
/// # Safety
///
/// Every pointer stored in `attr` for `cmd` must be valid for the kernel to read (or write,
/// for output buffers, with the length stated next to it) for the duration of the call.
unsafe fn sys_bpf(cmd: libc::c_int, attr: &mut BpfAttr) -> Result<libc::c_long, Errno> {
    // SAFETY: attr is a live, fully initialised union of the size passed; the kernel reads
    // and writes only within it, and the caller vouches for the pointers inside it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_mut(attr),
            std::mem::size_of::<BpfAttr>() as libc::c_uint,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// An fd the bpf(2) call `cmd` returned.
///
/// # Safety
///
/// As [`sys_bpf`]; and `cmd` must be one that returns a new file descriptor.
unsafe fn sys_bpf_fd(cmd: libc::c_int, attr: &mut BpfAttr) -> Result<OwnedFd, Errno> {
    // SAFETY: forwarded from the caller.
    let fd = unsafe { sys_bpf(cmd, attr) }?;
    let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this fd, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The ids of the device programs attached to the cgroup itself (not inherited), and the
/// flags they were attached with.
pub(super) fn query_programs(cgroup: &OwnedFd) -> Result<(u32, Vec<u32>), Errno> {
    let mut ids = vec![0u32; MAX_PROGS];
    // The count can grow between calls; the kernel says how many there are on ENOSPC.
    for _ in 0..4 {
        let mut attr = BpfAttr::zeroed();
        attr.query = ProgQueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: 0,
            attach_flags: 0,
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: ids.len() as u32,
            _pad: 0,
            prog_attach_flags: 0,
            link_ids: 0,
            link_attach_flags: 0,
            revision: 0,
        };
        // SAFETY: prog_ids points to ids, which holds prog_cnt u32s and outlives the call.
        let ret = unsafe { sys_bpf(BPF_PROG_QUERY, &mut attr) };
        // SAFETY: query is the member just written, and the kernel writes back only its
        // plain integer fields.
        let (flags, count) = unsafe { (attr.query.attach_flags, attr.query.prog_cnt as usize) };
        match ret {
            Ok(_) => {
                ids.truncate(count);
                return Ok((flags, ids));
            }
            Err(Errno::ENOSPC) => ids.resize(count.max(ids.len() * 2), 0),
            Err(e) => return Err(e),
        }
    }
    Err(Errno::ENOSPC)
}

/// Loads `insns` as a device program. A verifier rejection comes back with the end of the
/// verifier's log.
pub(super) fn load_program(insns: &[Insn]) -> Result<OwnedFd, String> {
    match try_load(insns, None) {
        Ok(fd) => Ok(fd),
        // Before Linux 5.11 a program's memory counts against RLIMIT_MEMLOCK, whose default
        // is small; raise it for this (short-lived) process and try again.
        Err(Errno::EPERM) if raise_memlock() => try_load(insns, None).map_err(|e| e.to_string()),
        Err(first) => {
            // Only now ask for a log: loading with one can fail with ENOSPC on a valid
            // program whose log doesn't fit.
            let mut log = vec![0u8; LOG_SIZE];
            match try_load(insns, Some(&mut log)) {
                Ok(fd) => Ok(fd),
                // Report the first error: the second may only say the log didn't fit.
                Err(_) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    let text = String::from_utf8_lossy(&log[..end]);
                    let text = text.trim();
                    if text.is_empty() {
                        Err(first.to_string())
                    } else {
                        Err(format!("{first}; verifier log:\n{}", log_tail(text)))
                    }
                }
            }
        }
    }
}

/// The last lines of a verifier log, where the reason is.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// One BPF_PROG_LOAD, with the log in `log` if given.
fn try_load(insns: &[Insn], log: Option<&mut [u8]>) -> Result<OwnedFd, Errno> {
    const LICENSE: &[u8] = b"Apache\0";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"fakegpu_dev");
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let mut attr = BpfAttr::zeroed();
    attr.load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len()).map_err(|_| Errno::E2BIG)?,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: 0,
    };
    // SAFETY: insns points to insn_cnt instructions, license to a NUL-terminated string,
    // log_buf (if set) to log_size writable bytes; all outlive the call. BPF_PROG_LOAD
    // returns a new fd.
    unsafe { sys_bpf_fd(BPF_PROG_LOAD, &mut attr) }
}

/// Raises RLIMIT_MEMLOCK to unlimited; false if that isn't allowed.
fn raise_memlock() -> bool {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit only reads the struct, which is live for the call.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) == 0 }
}

/// BPF_PROG_ATTACH or BPF_PROG_DETACH of `prog` on `cgroup`.
pub(super) fn attach_detach(
    cmd: libc::c_int,
    cgroup: &OwnedFd,
    prog: &OwnedFd,
    flags: u32,
) -> Result<(), Errno> {
    let mut attr = BpfAttr::zeroed();
    attr.attach = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: 0,
        relative_fd: 0,
        expected_revision: 0,
    };
    // SAFETY: the attach member holds no pointers.
    unsafe { sys_bpf(cmd, &mut attr) }.map(drop)
}

/// An fd for the loaded program with id `id`.
pub(super) fn program_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = BpfAttr::zeroed();
    attr.get_fd = GetFdByIdAttr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: the get_fd member holds no pointers; BPF_PROG_GET_FD_BY_ID returns a new fd.
    unsafe { sys_bpf_fd(BPF_PROG_GET_FD_BY_ID, &mut attr) }
}
