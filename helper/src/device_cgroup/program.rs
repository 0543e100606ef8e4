//! The cgroup v2 device program: the BPF_PROG_TYPE_CGROUP_DEVICE instructions enforcing a
//! rule list, shaped so the verifier's work stays linear in the number of rules. This only
//! builds the instructions; [`bpf`](super::bpf) loads them and [`v2`](super::v2) attaches
//! the program.

use super::rules::{effective_access, Kind, Rule};

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

// Device types, as in the low half of access_type (BPF_DEVCG_DEV_*).
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

/// The BPF_PROG_TYPE_CGROUP_DEVICE program enforcing `rules` (see [the
/// semantics](super::rules)): it returns 1 to allow, 0 to deny.
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
/// (about 60000 rules; before Linux 5.2: 4096, about 250 rules);
/// [`apply_v2`](super::v2::apply_v2) reports a longer one cleanly.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_cgroup::rules::fixtures::{rule, typical};
    use crate::device_cgroup::rules::{access_bits, access_string, validate, ACC_READ, ACC_WRITE};
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
}
