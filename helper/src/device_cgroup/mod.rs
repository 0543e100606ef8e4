//! The container's device cgroup: allow fakegpu's nodes, deny NVIDIA's real ones. On cgroup
//! v2 that means replacing the attached BPF_PROG_TYPE_CGROUP_DEVICE program with one built
//! from config.json's device rules plus ours; on v1, writing devices.allow/deny.
//!
//! # Semantics
//!
//! Default deny; the last rule that matches a request decides. A rule matches a request
//! (device type, major, minor, access bits) when its type is the request's (`a`: any), its
//! major and minor are the request's (`None`: any), and:
//!
//! - an allow rule grants *every* requested access bit (the request's bits are a subset of
//!   the rule's), as runc's and youki's programs check;
//! - a deny rule forbids *any* requested access bit (the sets intersect).
//!
//! The second point is not a plain subset test, on purpose: the kernel asks about
//! `open(O_RDWR)` as one request with both `r` and `w`, so with a subset test
//! `allow c 1:3 rwm, deny c 1:3 w` would let O_RDWR through. runc gets that right another
//! way: its cgroup v1 emulator subtracts a deny's bits from the allow with the same key
//! before building an allow-only program.
//!
//! Compared with runc (whose emulator gives cgroup v1's results), this is stricter where
//! the two differ, except in two shapes of rule list runtimes don't write:
//!
//! - Stricter: a deny inside a wider allow (`allow c *:* m, deny c 195:* rwm` denies mknod
//!   of 195:*; runc refuses such a list), a deny wider than an earlier allow
//!   (`allow c 1:3 rwm, deny c *:* w` denies writing 1:3; runc only removes an exact key),
//!   and two allows with one key whose access only together covers a request.
//! - Looser: an allow wider than an earlier deny in allow-all mode (`allow a, deny c 1:3,
//!   allow c *:*` allows 1:3 here, denies it in runc), and `a` rules other than
//!   `a *:* rwm`, which runc treats as "reset to allow-all / deny-all" whatever their
//!   numbers and access, and this takes literally.

use nix::errno::Errno;
use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Which device type a rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `a`: character and block.
    All,
    /// `c`.
    Char,
    /// `b`.
    Block,
}

impl Kind {
    /// The letter config.json and the v1 files use.
    fn letter(self) -> char {
        match self {
            Kind::All => 'a',
            Kind::Char => 'c',
            Kind::Block => 'b',
        }
    }
}

/// One device rule, as in config.json's `linux.resources.devices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Allow or deny.
    pub allow: bool,
    /// Device type.
    pub kind: Kind,
    /// `None`: any major.
    pub major: Option<u32>,
    /// `None`: any minor.
    pub minor: Option<u32>,
    /// Any of `r`, `w`, `m`.
    pub access: String,
}

// Access bits, as in the high half of bpf_cgroup_dev_ctx.access_type (BPF_DEVCG_ACC_*).
const ACC_MKNOD: u16 = 1;
const ACC_READ: u16 = 2;
const ACC_WRITE: u16 = 4;
const ACC_ALL: u16 = ACC_MKNOD | ACC_READ | ACC_WRITE;

// Device types, as in the low half of access_type (BPF_DEVCG_DEV_*).
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The access bits of a string of `r`, `w`, `m` (repeats allowed), or the first other
/// character.
fn access_bits(access: &str) -> Result<u16, char> {
    access.chars().try_fold(0, |bits, c| match c {
        'r' => Ok(bits | ACC_READ),
        'w' => Ok(bits | ACC_WRITE),
        'm' => Ok(bits | ACC_MKNOD),
        other => Err(other),
    })
}

/// `bits` as an access string in the kernel's order (`rwm`).
fn access_string(bits: u16) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|&(_, c)| c)
        .collect()
}

/// The access bits `rule` stands for when a program has to be built whatever it holds:
/// unknown letters fail closed (an allow grants only the letters it spells right, a deny
/// denies everything). [`apply_v2`] and [`apply_v1`] reject such rules before this is used.
fn effective_access(rule: &Rule) -> u16 {
    match access_bits(&rule.access) {
        Ok(bits) => bits,
        Err(_) if rule.allow => {
            access_bits(&rule.access.replace(|c| !"rwm".contains(c), "")).unwrap_or(0)
        }
        Err(_) => ACC_ALL,
    }
}

/// Checks every rule's access string, so nothing is applied half-way.
fn validate(rules: &[Rule]) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        if let Err(c) = access_bits(&rule.access) {
            return Err(format!(
                "rule {i} ({}): access {c:?} is not r, w or m",
                rule_line(rule)
            ));
        }
    }
    Ok(())
}

/// The rules of config.json's `linux.resources.devices` (absent: none). A malformed rule is
/// an error naming it.
///
/// Each entry: `allow` (bool, required), `type` (`a`, `c` or `b`; absent or null: `a`),
/// `major` and `minor` (absent, null or -1: any; else 0..=u32::MAX), `access` (letters of
/// `rwm`; absent or null: `rwm`; stored in `rwm` order).
pub fn rules_from_config(config: &serde_json::Value) -> Result<Vec<Rule>, String> {
    const WHERE: &str = "config.json linux.resources.devices";
    let devices = config
        .get("linux")
        .and_then(|l| l.get("resources"))
        .and_then(|r| r.get("devices"));
    let entries = match devices {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(entries)) => entries,
        Some(other) => return Err(format!("{WHERE}: expected an array, got {other}")),
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| rule_from_json(entry).map_err(|e| format!("{WHERE}[{i}]: {e}")))
        .collect()
}

/// One entry of `linux.resources.devices`.
fn rule_from_json(entry: &serde_json::Value) -> Result<Rule, String> {
    let obj = entry
        .as_object()
        .ok_or_else(|| format!("expected an object, got {entry}"))?;
    let allow = match obj.get("allow") {
        Some(serde_json::Value::Bool(b)) => *b,
        None => return Err("\"allow\" is missing".into()),
        Some(other) => return Err(format!("\"allow\": expected true or false, got {other}")),
    };
    let kind = match obj.get("type") {
        None | Some(serde_json::Value::Null) => Kind::All,
        Some(serde_json::Value::String(s)) => match s.as_str() {
            "a" => Kind::All,
            "c" => Kind::Char,
            "b" => Kind::Block,
            _ => {
                return Err(format!(
                    "\"type\": expected \"a\", \"c\" or \"b\", got {s:?}"
                ))
            }
        },
        Some(other) => return Err(format!("\"type\": expected a string, got {other}")),
    };
    let access = match obj.get("access") {
        None | Some(serde_json::Value::Null) => ACC_ALL,
        Some(serde_json::Value::String(s)) => {
            access_bits(s).map_err(|c| format!("\"access\": {c:?} in {s:?} is not r, w or m"))?
        }
        Some(other) => return Err(format!("\"access\": expected a string, got {other}")),
    };
    Ok(Rule {
        allow,
        kind,
        major: dev_number(obj.get("major")).map_err(|e| format!("\"major\": {e}"))?,
        minor: dev_number(obj.get("minor")).map_err(|e| format!("\"minor\": {e}"))?,
        access: access_string(access),
    })
}

/// A major or minor: absent, null or -1 is any.
fn dev_number(value: Option<&serde_json::Value>) -> Result<Option<u32>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let out_of_range =
        |n: &dyn Display| format!("{n} is out of range (0..=4294967295, or -1 for any)");
    match (value.as_i64(), value.as_u64()) {
        (Some(-1), _) => Ok(None),
        (Some(n), _) => u32::try_from(n).map(Some).map_err(|_| out_of_range(&n)),
        (None, Some(n)) => Err(out_of_range(&n)),
        (None, None) => Err(format!("expected an integer, got {value}")),
    }
}

/// A rule as a log line, e.g. `allow c 195:* rwm`.
pub fn rule_line(rule: &Rule) -> String {
    format!(
        "{} {}",
        if rule.allow { "allow" } else { "deny" },
        kernel_line(rule.kind, rule.major, rule.minor, &rule.access)
    )
}

/// The v1 devices file format: `c 195:* rwm`.
fn kernel_line(kind: Kind, major: Option<u32>, minor: Option<u32>, access: &str) -> String {
    let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
    format!("{} {}:{} {access}", kind.letter(), num(major), num(minor))
}

// ---------------------------------------------------------------------------------------
// The BPF program.

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode: class, operation and source bits.
    pub code: u8,
    /// `dst_reg:4` and `src_reg:4` bitfields, as [`Insn::new`] packs them.
    pub regs: u8,
    /// Signed jump offset in instructions (from the next one), or memory offset.
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == 8);

impl Insn {
    /// An instruction from its fields; registers are 0..=10.
    pub const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Self {
        // C bitfields fill from the low bits on little-endian targets, the high bits on big.
        let regs = if cfg!(target_endian = "little") {
            (dst & 0xf) | (src << 4)
        } else {
            (dst << 4) | (src & 0xf)
        };
        Insn {
            code,
            regs,
            off,
            imm,
        }
    }
}

// The opcodes build_program emits (class | operation | source).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU32_ADD_K: u8 = 0x04; // BPF_ALU | BPF_ADD | BPF_K
const ALU32_OR_X: u8 = 0x4c; // BPF_ALU | BPF_OR | BPF_X
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU32_XOR_K: u8 = 0xa4; // BPF_ALU | BPF_XOR | BPF_K
const ALU32_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// Registers: R1 holds the context throughout, R2 collects a rule's mismatches, R3 is the
// field being checked.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;

/// The most instructions one rule's block takes.
const MAX_BLOCK: usize = 18;

/// The BPF_PROG_TYPE_CGROUP_DEVICE program enforcing `rules` (see the module doc): it
/// returns 1 to allow, 0 to deny.
///
/// Rules are checked last to first, each in a block of at most 18 instructions that
/// computes, without branching, a value that is zero if and only if the rule matches,
/// then has one conditional jump, forward to the next block (so offsets stay below 18
/// whatever the number of rules). The shape is for the verifier, whose work must stay
/// linear in the number of rules (measured on Linux 6.18):
///
/// - Each block loads the context fields it needs. Loaded once for the whole program, a
///   field a block compared is a known constant on some paths into the next block, the
///   verifier can't merge those paths, and 1000 rules exceeded its budget of a million
///   processed instructions. With only the context live where blocks start, every path
///   into a block is the same state.
/// - One conditional jump per block. With one per check, the verifier's depth-first walk
///   left a pending branch per check behind each block and gave up past 8192 ("sequence
///   of jumps is too complex", at about 3000 rules).
///
/// The kernel takes programs of up to a million instructions from a privileged loader
/// (about 60000 rules; before Linux 5.2: 4096, about 250 rules); [`apply_v2`] reports a
/// longer one cleanly.
pub fn build_program(rules: &[Rule]) -> Vec<Insn> {
    let mut prog = Vec::with_capacity(16 * rules.len() + 2);
    for rule in rules.iter().rev() {
        prog.extend(rule_block(rule));
    }
    // No rule matched.
    prog.extend([
        Insn::new(ALU32_MOV_K, R0, 0, 0, 0),
        Insn::new(JMP_EXIT, 0, 0, 0, 0),
    ]);
    prog
}

/// One rule's block: falls through to the next block if the rule doesn't match, returns
/// its verdict if it does.
fn rule_block(rule: &Rule) -> Vec<Insn> {
    let access = effective_access(rule);
    if !rule.allow && access == 0 {
        // Denies nothing.
        return Vec::new();
    }
    let mut checks = Vec::with_capacity(4);
    match rule.kind {
        Kind::All => {}
        Kind::Char => checks.push(Check::Type(DEV_CHAR)),
        Kind::Block => checks.push(Check::Type(DEV_BLOCK)),
    }
    checks.extend(rule.major.map(|n| Check::Field(4, n)));
    checks.extend(rule.minor.map(|n| Check::Field(8, n)));
    checks.push(if rule.allow {
        Check::AllowAccess(access)
    } else {
        Check::DenyAccess(access)
    });

    let mut block = Vec::with_capacity(MAX_BLOCK);
    for (i, check) in checks.into_iter().enumerate() {
        // R2 collects the mismatches: the first check writes it, the others are or-ed in.
        if i == 0 {
            block.extend(check.insns(R2));
        } else {
            block.extend(check.insns(R3));
            block.push(Insn::new(ALU32_OR_X, R2, R3, 0, 0));
        }
    }
    block.extend([
        // Skip the verdict (mov, exit) if anything mismatched.
        Insn::new(JMP_JNE_K, R2, 0, 2, 0),
        Insn::new(ALU32_MOV_K, R0, 0, 0, i32::from(rule.allow)),
        Insn::new(JMP_EXIT, 0, 0, 0, 0),
    ]);
    debug_assert!(block.len() <= MAX_BLOCK);
    block
}

/// One condition of a rule, computed without branching.
///
/// The context, `struct bpf_cgroup_dev_ctx`, is {u32 access_type, u32 major, u32 minor};
/// access_type has the device type in its low half, the access bits in its high half.
/// All arithmetic is 32-bit, which also makes numbers past i32::MAX work: a 32-bit
/// operation takes the immediate's low 32 bits and zero-extends its result.
#[derive(Clone, Copy)]
enum Check {
    /// The device type is this BPF_DEVCG_DEV_*.
    Type(i32),
    /// The u32 at this context offset (major 4, minor 8) is this number.
    Field(i16, u32),
    /// No requested access bit is outside these.
    AllowAccess(u16),
    /// Some requested access bit is among these (which are not none).
    DenyAccess(u16),
}

impl Check {
    /// Instructions leaving in `reg` a value that is zero if and only if the request passes.
    fn insns(self, reg: u8) -> Vec<Insn> {
        let load = |off| Insn::new(LDX_MEM_W, reg, R1, off, 0);
        let access = [load(0), Insn::new(ALU32_RSH_K, reg, 0, 0, 16)];
        match self {
            Check::Type(dev_type) => vec![
                load(0),
                Insn::new(ALU32_AND_K, reg, 0, 0, 0xffff),
                Insn::new(ALU32_XOR_K, reg, 0, 0, dev_type),
            ],
            Check::Field(off, n) => vec![load(off), Insn::new(ALU32_XOR_K, reg, 0, 0, n as i32)],
            Check::AllowAccess(bits) => {
                let mut insns = access.to_vec();
                insns.push(Insn::new(ALU32_AND_K, reg, 0, 0, i32::from(!bits)));
                insns
            }
            Check::DenyAccess(bits) => {
                // (requested & bits) is at most 7, so minus one has the top bit set (and
                // becomes 1 when shifted down) only if it is zero.
                let mut insns = access.to_vec();
                insns.extend([
                    Insn::new(ALU32_AND_K, reg, 0, 0, i32::from(bits)),
                    Insn::new(ALU32_ADD_K, reg, 0, 0, -1),
                    Insn::new(ALU32_RSH_K, reg, 0, 0, 31),
                ]);
                insns
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// cgroup v2: the bpf(2) system call.

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;

const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

const BPF_F_ALLOW_OVERRIDE: u32 = 1;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The kernel's limit on a program from a privileged loader (BPF_COMPLEXITY_LIMIT_INSNS).
const MAX_INSNS: usize = 1_000_000;
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
fn query_programs(cgroup: &OwnedFd) -> Result<(u32, Vec<u32>), Errno> {
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
fn load_program(insns: &[Insn]) -> Result<OwnedFd, String> {
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
fn attach_detach(
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
fn program_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = BpfAttr::zeroed();
    attr.get_fd = GetFdByIdAttr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: the get_fd member holds no pointers; BPF_PROG_GET_FD_BY_ID returns a new fd.
    unsafe { sys_bpf_fd(BPF_PROG_GET_FD_BY_ID, &mut attr) }
}

/// "device cgroup PATH: STEP: ERROR".
fn step_err(cgroup: &Path, step: &str, e: impl Display) -> String {
    format!("device cgroup {}: {step}: {e}", cgroup.display())
}

/// Replaces the device program of cgroup v2 directory `cgroup` with one enforcing `rules`
/// (the runtime's semantics: default deny, the last matching rule decides).
///
/// Needs CAP_SYS_ADMIN in the initial user namespace (taking over the old programs by id
/// does; loading, querying and attaching need CAP_BPF and CAP_NET_ADMIN). The new program
/// is attached before the old ones go, so the cgroup is never less restricted than both:
/// while both are attached a device must pass each.
///
/// - No program attached: ours is attached with BPF_F_ALLOW_MULTI (as runc does).
/// - Programs attached with BPF_F_ALLOW_MULTI (runc, youki, systemd): ours is attached with
///   it too, then each old one is detached by fd (one that vanished meanwhile is fine).
/// - One program attached without it (flags 0 or BPF_F_ALLOW_OVERRIDE, as crun may do):
///   ours is attached with the same flags, which the kernel treats as an atomic swap of
///   the one program. BPF_F_REPLACE is no use there (the kernel takes it only with
///   ALLOW_MULTI), and switching the cgroup to ALLOW_MULTI would need a detach first,
///   leaving a moment with no program, and would make the runtime's own later attaches in
///   its mode fail with EPERM.
///
/// If an old program can't be detached, ours stays attached next to it (both restrict)
/// and this returns the error.
pub fn apply_v2(cgroup: &std::path::Path, rules: &[Rule]) -> Result<(), String> {
    validate(rules).map_err(|e| step_err(cgroup, "rules", e))?;
    let insns = build_program(rules);
    if insns.len() > MAX_INSNS {
        return Err(step_err(
            cgroup,
            "rules",
            format!(
                "{} rules make a program of {} instructions, more than the kernel's {MAX_INSNS}",
                rules.len(),
                insns.len()
            ),
        ));
    }
    let dir: OwnedFd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(cgroup)
        .map(OwnedFd::from)
        .map_err(|e| step_err(cgroup, "open", io_errno(&e)))?;
    let (flags, old_ids) = query_programs(&dir).map_err(|e| match e {
        Errno::EBADF => step_err(
            cgroup,
            "BPF_PROG_QUERY",
            format!("{e} (not a cgroup v2 directory?)"),
        ),
        e => step_err(cgroup, "BPF_PROG_QUERY", e),
    })?;
    let prog = load_program(&insns).map_err(|e| step_err(cgroup, "BPF_PROG_LOAD", e))?;

    if !old_ids.is_empty() && flags & BPF_F_ALLOW_MULTI == 0 {
        // Single-program mode: attaching with the cgroup's own flags swaps atomically.
        let flags = flags & BPF_F_ALLOW_OVERRIDE;
        return attach_detach(BPF_PROG_ATTACH, &dir, &prog, flags).map_err(|e| {
            step_err(
                cgroup,
                &format!(
                    "BPF_PROG_ATTACH (replacing program {}, flags {flags})",
                    old_ids[0]
                ),
                e,
            )
        });
    }

    attach_detach(BPF_PROG_ATTACH, &dir, &prog, BPF_F_ALLOW_MULTI)
        .map_err(|e| step_err(cgroup, "BPF_PROG_ATTACH (BPF_F_ALLOW_MULTI)", e))?;
    for id in old_ids {
        let old = match program_by_id(id) {
            Ok(fd) => fd,
            // Unloaded since the query: nothing to detach.
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                return Err(step_err(
                    cgroup,
                    &format!(
                        "BPF_PROG_GET_FD_BY_ID (old program {id}; the new one is attached too)"
                    ),
                    e,
                ))
            }
        };
        match attach_detach(BPF_PROG_DETACH, &dir, &old, 0) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(step_err(
                    cgroup,
                    &format!("BPF_PROG_DETACH (old program {id}; the new one is attached too)"),
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// An I/O error as its errno name where it has one ("EPERM: Operation not permitted").
fn io_errno(e: &std::io::Error) -> String {
    e.raw_os_error()
        .map_or_else(|| e.to_string(), |n| Errno::from_raw(n).to_string())
}

// ---------------------------------------------------------------------------------------
// cgroup v1.

/// The lines `rule` is written as, to devices.allow or devices.deny. The kernel reads any
/// line starting with `a` as "reset to allow-all / deny-all" whatever follows, so an `a`
/// rule that isn't `a *:* rwm` becomes a `c` and a `b` line. A rule without access is no
/// line at all.
fn v1_lines(rule: &Rule, access: u16) -> Vec<(Kind, String)> {
    if access == 0 {
        return Vec::new();
    }
    let access = access_string(access);
    let kinds: &[Kind] = match rule.kind {
        Kind::All if rule.major.is_some() || rule.minor.is_some() || access != "rwm" => {
            &[Kind::Char, Kind::Block]
        }
        Kind::All => &[Kind::All],
        Kind::Char => &[Kind::Char],
        Kind::Block => &[Kind::Block],
    };
    kinds
        .iter()
        .map(|&k| (k, kernel_line(k, rule.major, rule.minor, &access)))
        .collect()
}

/// One entry of devices.list: `c 195:* rwm`.
fn parse_list_line(line: &str) -> Option<(Kind, Option<u32>, Option<u32>, u16)> {
    let mut fields = line.split_whitespace();
    let kind = match fields.next()? {
        "c" => Kind::Char,
        "b" => Kind::Block,
        "a" => Kind::All,
        _ => return None,
    };
    let (major, minor) = fields.next()?.split_once(':')?;
    let num = |s: &str| {
        if s == "*" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    let access = access_bits(fields.next()?).ok()?;
    Some((kind, num(major)?, num(minor)?, access))
}

/// Writes `rules` to cgroup v1 devices directory `cgroup` (devices.allow / devices.deny).
///
/// Each rule is written in order, one write per line. v1 removes only the exception with
/// exactly a deny's key, so after each deny this also denies its bits on every narrower
/// exception devices.list shows (`deny c 195:* rwm` then also revokes an earlier
/// `allow c 195:0 rw`). What v1 cannot do is carve a hole in a wider exception: with
/// `allow c *:* m` listed, `deny c 195:* rwm` leaves mknod of 195:* allowed (opening the
/// node stays denied unless another exception allows it).
pub fn apply_v1(cgroup: &std::path::Path, rules: &[Rule]) -> Result<(), String> {
    validate(rules).map_err(|e| step_err(cgroup, "rules", e))?;
    let open = |name: &str| {
        OpenOptions::new()
            .write(true)
            .open(cgroup.join(name))
            .map_err(|e| step_err(cgroup, &format!("open {name}"), io_errno(&e)))
    };
    let mut allow = open("devices.allow")?;
    let mut deny = open("devices.deny")?;
    let write = |file: &mut File, name: &str, line: &str| {
        file.write_all(line.as_bytes())
            .map_err(|e| step_err(cgroup, &format!("{name}: write {line:?}"), io_errno(&e)))
    };
    for rule in rules {
        let access = effective_access(rule);
        for (kind, line) in v1_lines(rule, access) {
            if rule.allow {
                write(&mut allow, "devices.allow", &line)?;
                continue;
            }
            write(&mut deny, "devices.deny", &line)?;
            if kind == Kind::All {
                // Deny-all: no exception is left.
                continue;
            }
            let list = std::fs::read_to_string(cgroup.join("devices.list"))
                .map_err(|e| step_err(cgroup, "read devices.list", io_errno(&e)))?;
            for (k, major, minor, bits) in list.lines().filter_map(parse_list_line) {
                let narrower = k == kind
                    && (rule.major.is_none() || rule.major == major)
                    && (rule.minor.is_none() || rule.minor == minor)
                    && (major, minor) != (rule.major, rule.minor);
                if narrower && bits & access != 0 {
                    write(
                        &mut deny,
                        "devices.deny",
                        &kernel_line(k, major, minor, &access_string(access)),
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    impl Insn {
        /// The destination register.
        fn dst(&self) -> u8 {
            if cfg!(target_endian = "little") {
                self.regs & 0xf
            } else {
                self.regs >> 4
            }
        }

        /// The source register.
        fn src(&self) -> u8 {
            if cfg!(target_endian = "little") {
                self.regs >> 4
            } else {
                self.regs & 0xf
            }
        }
    }

    /// A request as the kernel makes it.
    #[derive(Clone, Copy, Debug)]
    struct Request {
        dev_type: u32,
        access: u32,
        major: u32,
        minor: u32,
    }

    /// Runs `prog` on `req` with the instruction subset build_program emits, checking what
    /// the verifier would and more: registers are written before they are read, R1 keeps
    /// the context and is only loaded from, in bounds and aligned, jumps go forward and
    /// stay in the program. Returns R0 at exit.
    fn run(prog: &[Insn], req: Request) -> u64 {
        let ctx = [
            (req.access << 16) | (req.dev_type & 0xffff),
            req.major,
            req.minor,
        ];
        let mut reg = [0u64; 11];
        let mut written = [false; 11];
        let mut pc = 0usize;
        loop {
            let insn = prog[pc];
            let (dst, src) = (insn.dst() as usize, insn.src() as usize);
            assert!(dst <= 10 && src <= 10, "pc {pc}: bad register");
            let read = |r: usize| {
                assert!(r != 1, "pc {pc}: the context read as a number");
                assert!(written[r], "pc {pc}: R{r} read before written");
                reg[r]
            };
            let alu = |f: fn(u32, u32) -> u32, operand: u32| {
                Some(u64::from(f(read(dst) as u32, operand)))
            };
            let mut taken = false;
            let result = match insn.code {
                LDX_MEM_W => {
                    assert!(src == 1, "pc {pc}: load not from the context");
                    assert!(
                        insn.off >= 0 && insn.off % 4 == 0 && insn.off <= 8,
                        "pc {pc}: bad ctx offset"
                    );
                    Some(u64::from(ctx[insn.off as usize / 4]))
                }
                ALU32_ADD_K => alu(u32::wrapping_add, insn.imm as u32),
                ALU32_OR_X => alu(|a, b| a | b, read(src) as u32),
                ALU32_AND_K => alu(|a, b| a & b, insn.imm as u32),
                ALU32_XOR_K => alu(|a, b| a ^ b, insn.imm as u32),
                ALU32_RSH_K => {
                    assert!((0..32).contains(&insn.imm));
                    alu(|a, b| a >> b, insn.imm as u32)
                }
                ALU32_MOV_K => Some(u64::from(insn.imm as u32)),
                JMP_JNE_K => {
                    // Immediates are sign-extended to 64 bits, as on the real machine.
                    taken = read(dst) != insn.imm as i64 as u64;
                    None
                }
                JMP_EXIT => return read(0),
                code => panic!("pc {pc}: opcode {code:#x} not in the subset"),
            };
            if let Some(value) = result {
                assert!(dst != 1, "pc {pc}: R1 must keep the context");
                reg[dst] = value;
                written[dst] = true;
            }
            let off = if taken { insn.off } else { 0 };
            assert!(off >= 0, "pc {pc}: backward jump");
            pc += 1 + off as usize;
            assert!(pc < prog.len(), "pc {pc}: ran off the program");
        }
    }

    /// The registers each instruction reads and writes (R1, the context, is never written).
    fn uses_defs(insn: &Insn) -> (Vec<u8>, Vec<u8>) {
        let (dst, src) = (insn.dst(), insn.src());
        match insn.code {
            LDX_MEM_W => (vec![src], vec![dst]),
            ALU32_ADD_K | ALU32_AND_K | ALU32_RSH_K | ALU32_XOR_K => (vec![dst], vec![dst]),
            ALU32_OR_X => (vec![dst, src], vec![dst]),
            ALU32_MOV_K => (vec![], vec![dst]),
            JMP_JNE_K => (vec![dst], vec![]),
            JMP_EXIT => (vec![0], vec![]),
            code => panic!("opcode {code:#x} not in the subset"),
        }
    }

    /// Checks the two properties that keep the verifier's work linear in the number of
    /// rules (see [`build_program`]): at the start and at every jump target only R1 (the
    /// context) is live, so every path into a block is one state to the verifier; and
    /// every conditional jump falls through straight to an exit, so the verifier's walk
    /// has at most one branch pending.
    fn assert_verifier_friendly(prog: &[Insn]) {
        // Jumps only go forward, so one backward pass computes liveness.
        let mut live = vec![0u16; prog.len() + 1];
        for (i, insn) in prog.iter().enumerate().rev() {
            let out = match insn.code {
                JMP_EXIT => 0,
                JMP_JNE_K => live[i + 1] | live[i + 1 + insn.off as usize],
                _ => live[i + 1],
            };
            let (uses, defs) = uses_defs(insn);
            let killed = defs.iter().fold(out, |l, &r| l & !(1 << r));
            live[i] = uses.iter().fold(killed, |l, &r| l | (1 << r));
        }
        let only_ctx = |l: u16| l & !(1 << R1) == 0;
        assert!(only_ctx(live[0]), "live at the start: {:#b}", live[0]);
        for (i, insn) in prog.iter().enumerate() {
            if insn.code != JMP_JNE_K {
                continue;
            }
            let target = i + 1 + insn.off as usize;
            assert!(
                only_ctx(live[target]),
                "live at {target}, the target of {i}: {:#b}",
                live[target]
            );
            let exit = prog[i + 1..]
                .iter()
                .position(|n| n.code == JMP_EXIT || n.code == JMP_JNE_K);
            assert_eq!(
                exit.map(|e| prog[i + 1 + e].code),
                Some(JMP_EXIT),
                "the jump at {i} falls through to another jump"
            );
        }
    }

    /// The semantics, written plainly: last matching rule decides, default deny.
    fn reference(rules: &[Rule], req: Request) -> bool {
        let matches = |r: &Rule| {
            let access = u32::from(access_bits(&r.access).unwrap());
            let kind_ok = match r.kind {
                Kind::All => true,
                Kind::Char => req.dev_type == DEV_CHAR as u32,
                Kind::Block => req.dev_type == DEV_BLOCK as u32,
            };
            let access_ok = if r.allow {
                req.access & !access == 0
            } else {
                req.access & access != 0
            };
            kind_ok
                && r.major.is_none_or(|m| m == req.major)
                && r.minor.is_none_or(|m| m == req.minor)
                && access_ok
        };
        rules
            .iter()
            .rev()
            .find(|r| matches(r))
            .is_some_and(|r| r.allow)
    }

    fn verdict(rules: &[Rule], dev_type: u32, access: &str, major: u32, minor: u32) -> bool {
        let req = Request {
            dev_type,
            access: u32::from(access_bits(access).unwrap()),
            major,
            minor,
        };
        let prog = build_program(rules);
        assert_verifier_friendly(&prog);
        let got = run(&prog, req);
        assert!(got <= 1);
        assert_eq!(
            got == 1,
            reference(rules, req),
            "program and reference disagree on {req:?}"
        );
        got == 1
    }

    fn rule(allow: bool, kind: Kind, major: Option<u32>, minor: Option<u32>, access: &str) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
        }
    }

    const C: u32 = DEV_CHAR as u32;
    const B: u32 = DEV_BLOCK as u32;

    /// Numbers that collide often, including ones past i32::MAX.
    const NUMBERS: [u32; 6] = [0, 1, 195, 0x7fff_ffff, 0x8000_0000, u32::MAX];

    fn arb_rule() -> impl Strategy<Value = Rule> {
        let number = proptest::option::of(proptest::sample::select(NUMBERS.to_vec()));
        (
            any::<bool>(),
            prop_oneof![Just(Kind::All), Just(Kind::Char), Just(Kind::Block)],
            number.clone(),
            number,
            0u16..8,
        )
            .prop_map(|(allow, kind, major, minor, access)| {
                rule(allow, kind, major, minor, &access_string(access))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn program_matches_reference(rules in proptest::collection::vec(arb_rule(), 0..12)) {
            let prog = build_program(&rules);
            assert_verifier_friendly(&prog);
            // Every request over the numbers the rules use, every type (0, 3 and 0x102
            // don't exist, but must not be allowed by accident), every access incl. an
            // unknown bit.
            for dev_type in [0, B, C, 3, 0x100 | C] {
                for access in 0..16 {
                    for major in NUMBERS {
                        for minor in NUMBERS {
                            let req = Request { dev_type, access, major, minor };
                            prop_assert_eq!(run(&prog, req) == 1, reference(&rules, req), "{:?}", req);
                        }
                    }
                }
            }
        }
    }

    /// runc's default rules (as Docker writes them) plus what the hook appends.
    fn typical() -> Vec<Rule> {
        let rwm = |major, minor| rule(true, Kind::Char, Some(major), minor, "rwm");
        vec![
            rule(false, Kind::All, None, None, "rwm"),
            rule(true, Kind::Char, None, None, "m"),
            rule(true, Kind::Block, None, None, "m"),
            rwm(1, Some(3)),
            rwm(1, Some(5)),
            rwm(1, Some(7)),
            rwm(5, Some(0)),
            rwm(5, Some(1)),
            rwm(5, Some(2)),
            rwm(1, Some(8)),
            rwm(1, Some(9)),
            rwm(136, None),
            rwm(10, Some(200)),
            // A GPU the runtime was told to pass through.
            rule(true, Kind::Char, Some(195), Some(0), "rw"),
            // The hook's.
            rule(true, Kind::Char, Some(240), Some(0), "rw"),
            rule(false, Kind::Char, Some(195), None, "rwm"),
        ]
    }

    #[test]
    fn typical_rules() {
        let rules = typical();
        let v = |t, acc, maj, min| verdict(&rules, t, acc, maj, min);
        assert!(v(C, "rw", 1, 3));
        assert!(v(C, "m", 1, 3));
        assert!(v(C, "w", 5, 2));
        assert!(v(C, "rw", 136, 7));
        assert!(v(C, "rw", 240, 0));
        assert!(v(C, "r", 240, 0));
        assert!(v(C, "m", 240, 0), "c *:* m still allows mknod");
        assert!(!v(C, "r", 240, 1));
        assert!(
            !v(C, "r", 195, 0),
            "the later deny overrides the runtime's allow"
        );
        assert!(!v(C, "rw", 195, 255));
        assert!(!v(C, "m", 195, 0), "no mknod of NVIDIA's nodes either");
        assert!(!v(C, "r", 4, 0));
        assert!(!v(B, "r", 8, 0));
        assert!(v(B, "m", 8, 0));
        assert!(!v(B, "rw", 1, 3), "c rules don't cover block devices");
    }

    #[test]
    fn deny_of_one_bit_stops_read_write_open() {
        let rules = [
            rule(false, Kind::All, None, None, "rwm"),
            rule(true, Kind::Char, Some(1), Some(3), "rwm"),
            rule(false, Kind::Char, Some(1), Some(3), "w"),
        ];
        assert!(verdict(&rules, C, "r", 1, 3));
        assert!(verdict(&rules, C, "m", 1, 3));
        assert!(!verdict(&rules, C, "w", 1, 3));
        assert!(!verdict(&rules, C, "rw", 1, 3));
    }

    #[test]
    fn later_allow_wins_and_all_means_any_type() {
        let rules = [
            rule(false, Kind::Char, Some(195), None, "rwm"),
            rule(true, Kind::All, Some(195), Some(1), "r"),
        ];
        assert!(verdict(&rules, C, "r", 195, 1));
        assert!(verdict(&rules, B, "r", 195, 1));
        assert!(!verdict(&rules, C, "rw", 195, 1));
        assert!(!verdict(&rules, C, "r", 195, 2));
        assert!(!verdict(&[], C, "r", 1, 3), "default deny");
        let all = [rule(true, Kind::All, None, None, "rwm")];
        assert!(verdict(&all, B, "rwm", 8, 0));
    }

    #[test]
    fn numbers_past_i32_max() {
        let rules = [rule(
            true,
            Kind::Char,
            Some(u32::MAX),
            Some(0x8000_0000),
            "r",
        )];
        assert!(verdict(&rules, C, "r", u32::MAX, 0x8000_0000));
        assert!(!verdict(&rules, C, "r", 0x7fff_ffff, 0x8000_0000));
        assert!(!verdict(&rules, C, "r", u32::MAX, 0));
    }

    #[test]
    fn bad_access_fails_closed() {
        let allow = [rule(true, Kind::Char, Some(1), Some(3), "rx")];
        let prog = build_program(&allow);
        let req = |access| Request {
            dev_type: C,
            access,
            major: 1,
            minor: 3,
        };
        assert_eq!(run(&prog, req(u32::from(ACC_READ))), 1);
        assert_eq!(run(&prog, req(u32::from(ACC_WRITE))), 0);
        let deny = [
            rule(true, Kind::All, None, None, "rwm"),
            rule(false, Kind::Char, Some(1), Some(3), "x"),
        ];
        assert_eq!(run(&build_program(&deny), req(u32::from(ACC_READ))), 0);
        assert!(validate(&deny)
            .unwrap_err()
            .contains("rule 1 (deny c 1:3 x)"));
    }

    #[test]
    fn many_rules_keep_jumps_short() {
        let rules: Vec<Rule> = (0..1000u32)
            .map(|i| {
                rule(
                    i % 3 != 0,
                    Kind::Char,
                    Some(i),
                    (i % 2 == 0).then_some(i),
                    "rw",
                )
            })
            .chain([rule(false, Kind::Char, Some(u32::MAX), Some(u32::MAX), "r")])
            .collect();
        let prog = build_program(&rules);
        assert!(
            prog.len() < MAX_BLOCK * rules.len(),
            "{} instructions",
            prog.len()
        );
        for insn in &prog {
            if insn.code == JMP_JNE_K {
                assert_eq!(insn.off, 2, "{insn:?}");
            }
        }
        for (major, minor) in [
            (0, 0),
            (1, 5),
            (2, 2),
            (3, 3),
            (999, 7),
            (998, 998),
            (1000, 0),
        ] {
            for acc in ["r", "rw", "m"] {
                verdict(&rules, C, acc, major, minor);
            }
        }
        assert!(verdict(&rules, C, "rw", 2, 2));
        assert!(!verdict(&rules, C, "rw", 3, 3));
    }

    #[test]
    #[should_panic(expected = "the target of 1")]
    fn liveness_check_catches_carried_registers() {
        // R2 is loaded once and still read after a join: the shape that blew the
        // verifier's budget.
        assert_verifier_friendly(&[
            Insn::new(LDX_MEM_W, R2, R1, 4, 0),
            Insn::new(JMP_JNE_K, R2, 0, 2, 1),
            Insn::new(ALU32_MOV_K, R0, 0, 0, 1),
            Insn::new(JMP_EXIT, 0, 0, 0, 0),
            Insn::new(JMP_JNE_K, R2, 0, 0, 2),
            Insn::new(ALU32_MOV_K, R0, 0, 0, 0),
            Insn::new(JMP_EXIT, 0, 0, 0, 0),
        ]);
    }

    #[test]
    #[should_panic(expected = "falls through to another jump")]
    fn branch_check_catches_chained_jumps() {
        assert_verifier_friendly(&[
            Insn::new(LDX_MEM_W, R2, R1, 4, 0),
            Insn::new(JMP_JNE_K, R2, 0, 4, 1),
            Insn::new(LDX_MEM_W, R2, R1, 8, 0),
            Insn::new(JMP_JNE_K, R2, 0, 2, 1),
            Insn::new(ALU32_MOV_K, R0, 0, 0, 1),
            Insn::new(JMP_EXIT, 0, 0, 0, 0),
            Insn::new(ALU32_MOV_K, R0, 0, 0, 0),
            Insn::new(JMP_EXIT, 0, 0, 0, 0),
        ]);
    }

    #[test]
    fn insn_layout() {
        let insn = Insn::new(ALU32_OR_X, 4, 1, -2, 7);
        assert_eq!((insn.dst(), insn.src(), insn.off, insn.imm), (4, 1, -2, 7));
        #[cfg(target_endian = "little")]
        assert_eq!(insn.regs, 0x14);
    }

    #[test]
    fn config_rules() {
        let config = serde_json::json!({"linux": {"resources": {"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "mwr"},
            {"allow": true, "type": "c", "major": 136, "minor": -1, "access": "rwm"},
            {"allow": true, "type": "b", "major": null},
            {"allow": false, "type": "a", "major": 4294967295_u64, "minor": 0, "access": ""},
        ]}}});
        let rules = rules_from_config(&config).unwrap();
        assert_eq!(
            rules,
            [
                rule(false, Kind::All, None, None, "rwm"),
                rule(true, Kind::Char, Some(1), Some(3), "rwm"),
                rule(true, Kind::Char, Some(136), None, "rwm"),
                rule(true, Kind::Block, None, None, "rwm"),
                rule(false, Kind::All, Some(u32::MAX), Some(0), ""),
            ]
        );
        let lines: Vec<String> = rules.iter().map(rule_line).collect();
        assert_eq!(lines[0], "deny a *:* rwm");
        assert_eq!(lines[2], "allow c 136:* rwm");
        assert_eq!(lines[4], "deny a 4294967295:0 ");

        for absent in [
            serde_json::json!({}),
            serde_json::json!({"linux": {}}),
            serde_json::json!({"linux": {"resources": {}}}),
            serde_json::json!({"linux": {"resources": {"devices": null}}}),
        ] {
            assert_eq!(rules_from_config(&absent).unwrap(), []);
        }
    }

    #[test]
    fn config_errors() {
        let err = |devices: serde_json::Value| {
            rules_from_config(&serde_json::json!({"linux": {"resources": {"devices": devices}}}))
                .unwrap_err()
        };
        let ok = serde_json::json!({"allow": true});
        assert!(err(serde_json::json!({})).contains("expected an array"));
        for (bad, what) in [
            (serde_json::json!("c 1:3 rwm"), "[1]: expected an object"),
            (
                serde_json::json!({"type": "c"}),
                "[1]: \"allow\" is missing",
            ),
            (
                serde_json::json!({"allow": "yes"}),
                "[1]: \"allow\": expected true or false",
            ),
            (
                serde_json::json!({"allow": true, "type": "u"}),
                "[1]: \"type\"",
            ),
            (
                serde_json::json!({"allow": true, "major": -2}),
                "[1]: \"major\": -2 is out of range",
            ),
            (
                serde_json::json!({"allow": true, "minor": 4294967296_u64}),
                "[1]: \"minor\": 4294967296",
            ),
            (
                serde_json::json!({"allow": true, "minor": u64::MAX}),
                "[1]: \"minor\": 18446744073709551615 is out of range",
            ),
            (
                serde_json::json!({"allow": true, "minor": "3"}),
                "[1]: \"minor\": expected an integer",
            ),
            (
                serde_json::json!({"allow": true, "major": 1.5}),
                "[1]: \"major\": expected an integer",
            ),
            (
                serde_json::json!({"allow": true, "access": "rwx"}),
                "[1]: \"access\": 'x'",
            ),
        ] {
            let e = err(serde_json::json!([ok, bad]));
            assert!(e.contains(what), "{e:?} should contain {what:?}");
            assert!(
                e.starts_with("config.json linux.resources.devices[1]"),
                "{e}"
            );
        }
    }

    #[test]
    fn v1_line_forms() {
        let lines = |r: &Rule| -> Vec<String> {
            v1_lines(r, effective_access(r))
                .into_iter()
                .map(|(_, l)| l)
                .collect()
        };
        assert_eq!(
            lines(&rule(false, Kind::All, None, None, "rwm")),
            ["a *:* rwm"]
        );
        assert_eq!(
            lines(&rule(false, Kind::All, None, None, "wr")),
            ["c *:* rw", "b *:* rw"]
        );
        assert_eq!(
            lines(&rule(true, Kind::All, Some(1), None, "rwm")),
            ["c 1:* rwm", "b 1:* rwm"]
        );
        assert_eq!(
            lines(&rule(true, Kind::Char, Some(195), None, "rwm")),
            ["c 195:* rwm"]
        );
        assert!(lines(&rule(true, Kind::Char, Some(1), Some(3), "")).is_empty());
        assert_eq!(
            parse_list_line("c 195:* rwm"),
            Some((Kind::Char, Some(195), None, ACC_ALL))
        );
        assert_eq!(
            parse_list_line("b 8:0 m"),
            Some((Kind::Block, Some(8), Some(0), ACC_MKNOD))
        );
        assert_eq!(parse_list_line("junk"), None);
    }

    #[test]
    fn v1_writes_in_order_and_narrows_denies() {
        let dir = std::env::temp_dir().join(format!("fakegpu-devcg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("devices.allow"), "").unwrap();
        std::fs::write(dir.join("devices.deny"), "").unwrap();
        // What the kernel would list after the allows below.
        std::fs::write(
            dir.join("devices.list"),
            "c *:* m\nc 1:3 rwm\nc 195:0 rw\nc 195:255 m\nc 240:0 rw\n",
        )
        .unwrap();
        let mut rules = typical();
        rules.insert(1, rule(true, Kind::All, Some(7), None, "r"));
        apply_v1(&dir, &rules).unwrap();
        let allow = std::fs::read_to_string(dir.join("devices.allow")).unwrap();
        let deny = std::fs::read_to_string(dir.join("devices.deny")).unwrap();
        assert!(
            allow.starts_with("c 7:* rb 7:* rc *:* mb *:* mc 1:3 rwm"),
            "{allow}"
        );
        assert!(allow.ends_with("c 195:0 rwc 240:0 rw"), "{allow}");
        // Deny-all, then the hook's deny and the narrower exceptions it covers.
        assert_eq!(deny, "a *:* rwmc 195:* rwmc 195:0 rwmc 195:255 rwm");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
