//! What the methods of a channel do: the host's (semaphores, interrupts, SET_OBJECT), the copy
//! engine's (LAUNCH_DMA: copies, memsets, semaphore releases) and the compute engine's
//! launches, turned into [`Action`]s the kernel side carries out on GPU memory. Method
//! numbers are `clc86f.h` (host), `clc8b5.h` (copy) and `clcbc0.h` (compute); Volta to
//! Hopper agree on the ones used here. Pure logic: no memory is touched here.

/// The host's methods (any subchannel, below 0x100).
pub mod host {
    /// `SET_OBJECT`: binds a class to the subchannel (NVCLASS 15:0).
    pub const SET_OBJECT: u32 = 0x00;
    /// `NOP`.
    pub const NOP: u32 = 0x08;
    /// `NON_STALL_INTERRUPT`: raise the channel's non-stall interrupt.
    pub const NON_STALL_INTERRUPT: u32 = 0x20;
    /// `FB_FLUSH` (deprecated), `MEM_OP_A..D` (TLB invalidates, membars): ordering only.
    pub const FB_FLUSH: u32 = 0x24;
    /// `MEM_OP_A`.
    pub const MEM_OP_A: u32 = 0x28;
    /// `MEM_OP_D`.
    pub const MEM_OP_D: u32 = 0x34;
    /// `SET_REFERENCE`.
    pub const SET_REFERENCE: u32 = 0x50;
    /// `SEM_ADDR_LO` (31:2).
    pub const SEM_ADDR_LO: u32 = 0x5c;
    /// `SEM_ADDR_HI` (24:0).
    pub const SEM_ADDR_HI: u32 = 0x60;
    /// `SEM_PAYLOAD_LO`.
    pub const SEM_PAYLOAD_LO: u32 = 0x64;
    /// `SEM_PAYLOAD_HI`.
    pub const SEM_PAYLOAD_HI: u32 = 0x68;
    /// `SEM_EXECUTE`: OPERATION 2:0, RELEASE_WFI 20, PAYLOAD_SIZE 24 (64-bit),
    /// RELEASE_TIMESTAMP 25.
    pub const SEM_EXECUTE: u32 = 0x6c;
    /// `WFI`.
    pub const WFI: u32 = 0x78;
    /// `YIELD`.
    pub const YIELD: u32 = 0x80;
    /// Methods below this are the host's, whatever the subchannel.
    pub const END: u32 = 0x100;
}

/// The copy engine's methods (`*_DMA_COPY_A`).
pub mod copy {
    /// `SET_SEMAPHORE_A` (address 56:32), `_B` (31:0), `_PAYLOAD`, `_PAYLOAD_UPPER`.
    pub const SET_SEMAPHORE_A: u32 = 0x240;
    /// `SET_SEMAPHORE_B`.
    pub const SET_SEMAPHORE_B: u32 = 0x244;
    /// `SET_SEMAPHORE_PAYLOAD`.
    pub const SET_SEMAPHORE_PAYLOAD: u32 = 0x248;
    /// `SET_SEMAPHORE_PAYLOAD_UPPER`.
    pub const SET_SEMAPHORE_PAYLOAD_UPPER: u32 = 0x24c;
    /// `LAUNCH_DMA`.
    pub const LAUNCH_DMA: u32 = 0x300;
    /// `OFFSET_IN_UPPER` / `_LOWER`, `OFFSET_OUT_UPPER` / `_LOWER`.
    pub const OFFSET_IN_UPPER: u32 = 0x400;
    /// `OFFSET_IN_LOWER`.
    pub const OFFSET_IN_LOWER: u32 = 0x404;
    /// `OFFSET_OUT_UPPER`.
    pub const OFFSET_OUT_UPPER: u32 = 0x408;
    /// `OFFSET_OUT_LOWER`.
    pub const OFFSET_OUT_LOWER: u32 = 0x40c;
    /// `PITCH_IN`.
    pub const PITCH_IN: u32 = 0x410;
    /// `PITCH_OUT`.
    pub const PITCH_OUT: u32 = 0x414;
    /// `LINE_LENGTH_IN` (bytes, or components when remapping).
    pub const LINE_LENGTH_IN: u32 = 0x418;
    /// `LINE_COUNT`.
    pub const LINE_COUNT: u32 = 0x41c;
    /// `SET_REMAP_CONST_A`.
    pub const SET_REMAP_CONST_A: u32 = 0x700;
    /// `SET_REMAP_CONST_B`.
    pub const SET_REMAP_CONST_B: u32 = 0x704;
    /// `SET_REMAP_COMPONENTS`: DST_X 2:0 (4 CONST_A, 5 CONST_B), COMPONENT_SIZE 17:16
    /// (size - 1 bytes), NUM_DST_COMPONENTS 25:24 (count - 1).
    pub const SET_REMAP_COMPONENTS: u32 = 0x708;
}

/// The compute engine's methods used here (`clcbc0.h`; the same as `clc6c0.h`'s).
pub mod compute {
    /// `LINE_LENGTH_IN`, `LINE_COUNT`, `OFFSET_OUT_UPPER` (16:0), `OFFSET_OUT`: an inline
    /// upload's size and destination.
    pub const LINE_LENGTH_IN: u32 = 0x180;
    /// `LINE_COUNT`.
    pub const LINE_COUNT: u32 = 0x184;
    /// `OFFSET_OUT_UPPER`.
    pub const OFFSET_OUT_UPPER: u32 = 0x188;
    /// `OFFSET_OUT`.
    pub const OFFSET_OUT: u32 = 0x18c;
    /// `LAUNCH_DMA`: starts an inline upload (DST_MEMORY_LAYOUT 0: block-linear, 1 pitch).
    pub const LAUNCH_DMA: u32 = 0x1b0;
    /// `LOAD_INLINE_DATA`: the upload's next word.
    pub const LOAD_INLINE_DATA: u32 = 0x1b4;
    /// `SET_REPORT_SEMAPHORE_A` (address 7:0 of bits 39:32), `_B` (31:0), `_C` (payload),
    /// `_D` (OPERATION 1:0: RELEASE 0; REDUCTION_ENABLE 3; STRUCTURE_SIZE 28: one word 1,
    /// four words 0).
    pub const SET_REPORT_SEMAPHORE_A: u32 = 0x1b00;
    /// `SET_REPORT_SEMAPHORE_B`.
    pub const SET_REPORT_SEMAPHORE_B: u32 = 0x1b04;
    /// `SET_REPORT_SEMAPHORE_C`.
    pub const SET_REPORT_SEMAPHORE_C: u32 = 0x1b08;
    /// `SET_REPORT_SEMAPHORE_D`.
    pub const SET_REPORT_SEMAPHORE_D: u32 = 0x1b0c;
    /// `SEND_PCAS_A`: the QMD's GPU VA >> 8.
    pub const SEND_PCAS_A: u32 = 0x2b4;
    /// `SEND_SIGNALING_PCAS2_B`: PCAS_ACTION 3:0 (SCHEDULE 2, INVALIDATE_COPY_SCHEDULE 3,
    /// PREFETCH_SCHEDULE 9 and the like launch; INVALIDATE 1 and PREFETCH 8 do not).
    pub const SEND_SIGNALING_PCAS2_B: u32 = 0x2c0;
}

/// How an acquire compares the semaphore with the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcquireOp {
    /// Equal.
    Equal,
    /// Greater or equal, unsigned.
    StrictGeq,
    /// Greater or equal in wrapping (circular) order.
    CircularGeq,
    /// Any bit in common.
    And,
    /// No bit in common.
    Nor,
}

impl AcquireOp {
    /// Whether `value` read from the semaphore satisfies the acquire of `payload`.
    pub fn satisfied(self, value: u64, payload: u64, size: u8) -> bool {
        let mask = if size == 8 { u64::MAX } else { 0xffff_ffff };
        let (v, p) = (value & mask, payload & mask);
        match self {
            AcquireOp::Equal => v == p,
            AcquireOp::StrictGeq => v >= p,
            AcquireOp::CircularGeq => {
                let diff = v.wrapping_sub(p) & mask;
                diff <= mask >> 1
            }
            AcquireOp::And => v & p != 0,
            AcquireOp::Nor => v & p == 0,
        }
    }
}

/// What a method asks the GPU to do to memory or the outside world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write `payload` (`size` 4 or 8 bytes) at `va`; with `timestamp`, the GPU's time in
    /// nanoseconds (8 bytes) at `va + 8`.
    Release {
        /// GPU VA.
        va: u64,
        /// Value.
        payload: u64,
        /// 4 or 8.
        size: u8,
        /// Write the timestamp too.
        timestamp: bool,
    },
    /// Stall the channel until the semaphore at `va` satisfies `op` against `payload`.
    Acquire {
        /// GPU VA.
        va: u64,
        /// Value compared with.
        payload: u64,
        /// 4 or 8.
        size: u8,
        /// The comparison.
        op: AcquireOp,
    },
    /// Copy `lines` lines of `line_length` bytes from `src` to `dst`, lines `pitch_in` and
    /// `pitch_out` bytes apart.
    Copy {
        /// Source GPU VA.
        src: u64,
        /// Destination GPU VA.
        dst: u64,
        /// Bytes per line.
        line_length: u64,
        /// Lines (1 for a flat copy).
        lines: u32,
        /// Source pitch.
        pitch_in: u64,
        /// Destination pitch.
        pitch_out: u64,
    },
    /// Fill `lines` lines of `count` components of `size` bytes at `dst` with `value`.
    Fill {
        /// Destination GPU VA.
        dst: u64,
        /// The component value (its low `size` bytes).
        value: u32,
        /// Bytes per component, 1 to 4.
        size: u8,
        /// Components per line.
        count: u64,
        /// Lines.
        lines: u32,
        /// Destination pitch.
        pitch_out: u64,
    },
    /// Write the low `size` bytes (1 to 4) of `value` at `va` (an inline upload's word).
    Store {
        /// GPU VA.
        va: u64,
        /// The word.
        value: u32,
        /// Bytes of it to write.
        size: u8,
    },
    /// A compute launch of the QMD at `qmd`.
    Launch {
        /// GPU VA of the QMD.
        qmd: u64,
    },
    /// Raise the channel's non-stall interrupt (wakes events armed for it).
    NonStallInterrupt,
    /// Combine `payload` into the `size`-byte (4 or 8) semaphore at `va` by `op` (a launch's
    /// release with REDUCTION_ENABLE); with `timestamp`, the GPU's time at `va + 8` after.
    Reduce {
        /// GPU VA.
        va: u64,
        /// The operand.
        payload: u64,
        /// 4 or 8.
        size: u8,
        /// The operation.
        op: ReduceOp,
        /// Whether MIN and MAX compare as signed (REDUCTION_FORMAT_SIGNED).
        signed: bool,
        /// Write the timestamp too.
        timestamp: bool,
    },
}

/// A semaphore reduction (`RELEASE_REDUCTION_OP` of `clcbc0qmd.h`), as the GPU's atomics:
/// INC and DEC wrap at the operand (`atomicInc`, `atomicDec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    /// `RED_ADD`: old + operand, wrapping.
    Add,
    /// `RED_MIN`.
    Min,
    /// `RED_MAX`.
    Max,
    /// `RED_INC`: 0 once old reaches the operand, else old + 1.
    Inc,
    /// `RED_DEC`: the operand if old is 0 or above it, else old - 1.
    Dec,
    /// `RED_AND`.
    And,
    /// `RED_OR`.
    Or,
    /// `RED_XOR`.
    Xor,
}

impl ReduceOp {
    /// The operation of the 3-bit field.
    pub fn from_bits(bits: u32) -> Self {
        match bits & 7 {
            0 => ReduceOp::Add,
            1 => ReduceOp::Min,
            2 => ReduceOp::Max,
            3 => ReduceOp::Inc,
            4 => ReduceOp::Dec,
            5 => ReduceOp::And,
            6 => ReduceOp::Or,
            _ => ReduceOp::Xor,
        }
    }

    /// The semaphore's new value from `old` (its `size` bytes: 4 or 8) and `operand`.
    pub fn apply(self, old: u64, operand: u64, size: u8, signed: bool) -> u64 {
        let mask = if size == 4 {
            u64::from(u32::MAX)
        } else {
            u64::MAX
        };
        let (old, operand) = (old & mask, operand & mask);
        // Sign-extends a 4-byte value for the signed comparisons.
        let as_signed = |v: u64| {
            if size == 4 {
                i64::from(v as u32 as i32)
            } else {
                v as i64
            }
        };
        let less = |a: u64, b: u64| {
            if signed {
                as_signed(a) < as_signed(b)
            } else {
                a < b
            }
        };
        let new = match self {
            ReduceOp::Add => old.wrapping_add(operand),
            ReduceOp::Min => {
                if less(operand, old) {
                    operand
                } else {
                    old
                }
            }
            ReduceOp::Max => {
                if less(old, operand) {
                    operand
                } else {
                    old
                }
            }
            ReduceOp::Inc => {
                if old >= operand {
                    0
                } else {
                    old + 1
                }
            }
            ReduceOp::Dec => {
                if old == 0 || old > operand {
                    operand
                } else {
                    old - 1
                }
            }
            ReduceOp::And => old & operand,
            ReduceOp::Or => old | operand,
            ReduceOp::Xor => old ^ operand,
        };
        new & mask
    }
}

/// A method the channel cannot take: the channel goes into error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodError {
    /// A method on a subchannel no SET_OBJECT bound.
    NoObject {
        /// The subchannel.
        subchannel: u8,
        /// The method.
        method: u32,
    },
    /// SET_OBJECT of a class the channel has no object of.
    BadClass(u32),
    /// A launch whose parameters nvsim does not take (block-linear layouts, physical
    /// addresses, reductions, a memset with remap components it does not know).
    BadLaunch(u32),
    /// A semaphore operation nvsim does not take.
    BadSemaphore(u32),
}

/// Which engine a class is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// A copy class.
    Copy,
    /// A compute class.
    Compute,
}

/// A channel's method state: what each subchannel is bound to and the registers the
/// engines read when they launch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MethodState {
    subchannels: [Option<Engine>; 8],
    sem_addr: u64,
    sem_payload: u64,
    copy_sem_addr: u64,
    copy_sem_payload: u64,
    offset_in: u64,
    offset_out: u64,
    pitch_in: u32,
    pitch_out: u32,
    line_length: u32,
    line_count: u32,
    remap_a: u32,
    remap_b: u32,
    remap_components: u32,
    pcas_a: u32,
    report_addr: u64,
    report_payload: u32,
    i2m_line_length: u32,
    i2m_line_count: u32,
    i2m_dst: u64,
    /// Bytes of the current inline upload still to come, and where the next goes.
    i2m_left: u64,
    i2m_next: u64,
}

/// Up to three actions of one method, in order (a LAUNCH_DMA: the copy, its semaphore, its
/// interrupt).
pub type Actions = [Option<Action>; 3];

const NONE: Actions = [None, None, None];

fn one(a: Action) -> Actions {
    [Some(a), None, None]
}

impl MethodState {
    /// A channel with nothing bound.
    pub fn new() -> Self {
        Self::default()
    }

    /// Executes one method write. `engine_of` says which engine a class the channel has an
    /// object of is (None: the channel has no such object).
    pub fn method(
        &mut self,
        subchannel: u8,
        method: u32,
        data: u32,
        engine_of: impl Fn(u32) -> Option<Engine>,
    ) -> Result<Actions, MethodError> {
        if method < host::END {
            return self.host(subchannel, method, data, engine_of);
        }
        let engine = self
            .subchannels
            .get(usize::from(subchannel))
            .copied()
            .flatten()
            .ok_or(MethodError::NoObject { subchannel, method })?;
        match engine {
            Engine::Copy => self.copy(method, data),
            Engine::Compute => self.compute(method, data),
        }
    }

    fn host(
        &mut self,
        subchannel: u8,
        method: u32,
        data: u32,
        engine_of: impl Fn(u32) -> Option<Engine>,
    ) -> Result<Actions, MethodError> {
        let set_hi = |v: u64, hi: u32| (v & 0xffff_ffff) | u64::from(hi) << 32;
        let set_lo = |v: u64, lo: u32| (v & !0xffff_ffff) | u64::from(lo);
        match method {
            host::SET_OBJECT => {
                let class = data & 0xffff;
                let engine = engine_of(class).ok_or(MethodError::BadClass(class))?;
                if let Some(slot) = self.subchannels.get_mut(usize::from(subchannel)) {
                    *slot = Some(engine);
                }
            }
            host::SEM_ADDR_LO => self.sem_addr = set_lo(self.sem_addr, data & !3),
            host::SEM_ADDR_HI => self.sem_addr = set_hi(self.sem_addr, data & 0x1ff_ffff),
            host::SEM_PAYLOAD_LO => self.sem_payload = set_lo(self.sem_payload, data),
            host::SEM_PAYLOAD_HI => self.sem_payload = set_hi(self.sem_payload, data),
            host::SEM_EXECUTE => {
                let size = if data >> 24 & 1 != 0 { 8 } else { 4 };
                let (va, payload) = (self.sem_addr, self.sem_payload);
                let acquire = |op| {
                    Ok(one(Action::Acquire {
                        va,
                        payload,
                        size,
                        op,
                    }))
                };
                return match data & 7 {
                    0 => acquire(AcquireOp::Equal),
                    1 => Ok(one(Action::Release {
                        va,
                        payload,
                        size,
                        timestamp: data >> 25 & 1 != 0,
                    })),
                    2 => acquire(AcquireOp::StrictGeq),
                    3 => acquire(AcquireOp::CircularGeq),
                    4 => acquire(AcquireOp::And),
                    5 => acquire(AcquireOp::Nor),
                    _ => Err(MethodError::BadSemaphore(data)),
                };
            }
            host::NON_STALL_INTERRUPT => return Ok(one(Action::NonStallInterrupt)),
            // Ordering and bookkeeping only: nvsim runs each channel's work in order.
            _ => {}
        }
        Ok(NONE)
    }

    fn copy(&mut self, method: u32, data: u32) -> Result<Actions, MethodError> {
        let hi = |d: u32| u64::from(d & 0x1ff_ffff) << 32;
        match method {
            copy::SET_SEMAPHORE_A => {
                self.copy_sem_addr = (self.copy_sem_addr & 0xffff_ffff) | hi(data)
            }
            copy::SET_SEMAPHORE_B => {
                self.copy_sem_addr = (self.copy_sem_addr & !0xffff_ffff) | u64::from(data)
            }
            copy::SET_SEMAPHORE_PAYLOAD => {
                self.copy_sem_payload = (self.copy_sem_payload & !0xffff_ffff) | u64::from(data)
            }
            copy::SET_SEMAPHORE_PAYLOAD_UPPER => {
                self.copy_sem_payload =
                    (self.copy_sem_payload & 0xffff_ffff) | u64::from(data) << 32
            }
            copy::OFFSET_IN_UPPER => self.offset_in = (self.offset_in & 0xffff_ffff) | hi(data),
            copy::OFFSET_IN_LOWER => {
                self.offset_in = (self.offset_in & !0xffff_ffff) | u64::from(data)
            }
            copy::OFFSET_OUT_UPPER => self.offset_out = (self.offset_out & 0xffff_ffff) | hi(data),
            copy::OFFSET_OUT_LOWER => {
                self.offset_out = (self.offset_out & !0xffff_ffff) | u64::from(data)
            }
            copy::PITCH_IN => self.pitch_in = data,
            copy::PITCH_OUT => self.pitch_out = data,
            copy::LINE_LENGTH_IN => self.line_length = data,
            copy::LINE_COUNT => self.line_count = data,
            copy::SET_REMAP_CONST_A => self.remap_a = data,
            copy::SET_REMAP_CONST_B => self.remap_b = data,
            copy::SET_REMAP_COMPONENTS => self.remap_components = data,
            copy::LAUNCH_DMA => return self.launch_dma(data),
            // Other state (layouts of block-linear surfaces, ...): kept by the engine, not
            // needed by the pitch copies nvsim runs.
            _ => {}
        }
        Ok(NONE)
    }

    fn launch_dma(&mut self, data: u32) -> Result<Actions, MethodError> {
        let bit = |n: u32| data >> n & 1 != 0;
        let transfer = data & 3;
        let semaphore = data >> 3 & 3;
        let interrupt = data >> 5 & 3;
        // Pitch layouts and virtual addresses only; no semaphore reductions.
        let pitch = bit(7) && bit(8);
        let physical = bit(12) || bit(13);
        // SEMAPHORE_REDUCTION_ENABLE.
        let reduction = bit(19);
        if transfer != 0 && (!pitch || physical) || reduction {
            return Err(MethodError::BadLaunch(data));
        }
        let lines = if bit(9) { self.line_count } else { 1 };
        // nvsim's bound on one launch, as every channel shares one engine thread: at most
        // MAX_LAUNCH_BYTES written (a remapped memset writes components of 1 to 4 bytes).
        let unit = if bit(10) && !bit(23) {
            u64::from(self.remap_components >> 16 & 3) + 1
        } else {
            1
        };
        let written = u64::from(self.line_length) * u64::from(lines) * unit;
        if transfer != 0 && written > MAX_LAUNCH_BYTES {
            return Err(MethodError::BadLaunch(data));
        }
        let mut out = NONE;
        let mut n = 0;
        let mut push = |a: Action| {
            if let Some(slot) = out.get_mut(n) {
                *slot = Some(a);
                n += 1;
            }
        };
        if transfer != 0 && self.line_length > 0 && lines > 0 {
            if bit(23) {
                // MEMORY_SCRUB_ENABLE: zeroes, line_length bytes per line.
                push(Action::Fill {
                    dst: self.offset_out,
                    value: 0,
                    size: 1,
                    count: u64::from(self.line_length),
                    lines,
                    pitch_out: u64::from(self.pitch_out),
                });
            } else if bit(10) {
                let c = self.remap_components;
                let size = (c >> 16 & 3) as u8 + 1;
                let value = match c & 7 {
                    4 => self.remap_a,
                    5 => self.remap_b,
                    _ => return Err(MethodError::BadLaunch(data)),
                };
                // One destination component per source "component": a memset.
                if c >> 24 & 3 != 0 {
                    return Err(MethodError::BadLaunch(data));
                }
                push(Action::Fill {
                    dst: self.offset_out,
                    value,
                    size,
                    count: u64::from(self.line_length),
                    lines,
                    pitch_out: u64::from(self.pitch_out),
                });
            } else {
                push(Action::Copy {
                    src: self.offset_in,
                    dst: self.offset_out,
                    line_length: u64::from(self.line_length),
                    lines,
                    pitch_in: u64::from(self.pitch_in),
                    pitch_out: u64::from(self.pitch_out),
                });
            }
        }
        // SEMAPHORE_PAYLOAD_SIZE (27): a 64-bit payload.
        let wide = bit(27);
        let payload = if wide {
            self.copy_sem_payload
        } else {
            self.copy_sem_payload & 0xffff_ffff
        };
        match semaphore {
            0 => {}
            // One word: the payload.
            1 => push(Action::Release {
                va: self.copy_sem_addr,
                payload,
                size: if wide { 8 } else { 4 },
                timestamp: false,
            }),
            // Four words: the payload (zero-extended), then the timestamp.
            2 => push(Action::Release {
                va: self.copy_sem_addr,
                payload,
                size: 8,
                timestamp: true,
            }),
            _ => return Err(MethodError::BadLaunch(data)),
        }
        if interrupt == 2 {
            push(Action::NonStallInterrupt);
        }
        Ok(out)
    }

    fn compute(&mut self, method: u32, data: u32) -> Result<Actions, MethodError> {
        match method {
            compute::SEND_PCAS_A => self.pcas_a = data,
            compute::SEND_SIGNALING_PCAS2_B => match data & 0xf {
                // NOP, INVALIDATE and PREFETCH touch only the GPU's QMD cache.
                0 | 1 | 8 => {}
                // SCHEDULE, and the variants that copy or prefetch first.
                2 | 3 | 9 | 10 | 11 => {
                    return Ok(one(Action::Launch {
                        qmd: u64::from(self.pcas_a) << 8,
                    }))
                }
                // INCREMENT_PUT and DECREMENT_DEPENDENCE work on QMD queues and dependence
                // counters, which nvsim does not run.
                _ => return Err(MethodError::BadLaunch(data)),
            },
            compute::LINE_LENGTH_IN => self.i2m_line_length = data,
            compute::LINE_COUNT => self.i2m_line_count = data,
            compute::OFFSET_OUT_UPPER => {
                self.i2m_dst = (self.i2m_dst & 0xffff_ffff) | u64::from(data & 0x1_ffff) << 32
            }
            compute::OFFSET_OUT => self.i2m_dst = (self.i2m_dst & !0xffff_ffff) | u64::from(data),
            compute::LAUNCH_DMA => {
                // Pitch destinations only (DST_MEMORY_LAYOUT 1), no reductions.
                if data & 1 == 0 || data >> 1 & 1 != 0 {
                    return Err(MethodError::BadLaunch(data));
                }
                self.i2m_left =
                    u64::from(self.i2m_line_length) * u64::from(self.i2m_line_count.max(1));
                self.i2m_next = self.i2m_dst;
            }
            compute::LOAD_INLINE_DATA if self.i2m_left > 0 => {
                let size = self.i2m_left.min(4) as u8;
                let va = self.i2m_next;
                self.i2m_left -= u64::from(size);
                self.i2m_next = self.i2m_next.wrapping_add(4);
                return Ok(one(Action::Store {
                    va,
                    value: data,
                    size,
                }));
            }
            compute::SET_REPORT_SEMAPHORE_A => {
                self.report_addr = (self.report_addr & 0xffff_ffff) | u64::from(data & 0xff) << 32
            }
            compute::SET_REPORT_SEMAPHORE_B => {
                self.report_addr = (self.report_addr & !0xffff_ffff) | u64::from(data)
            }
            compute::SET_REPORT_SEMAPHORE_C => self.report_payload = data,
            compute::SET_REPORT_SEMAPHORE_D => {
                // TRAP (3): a notify interrupt and no write (libcuda's blocking sync waits
                // on it).
                if data & 3 == 3 {
                    return Ok(one(Action::NonStallInterrupt));
                }
                // RELEASE without reduction; one word, or four (payload, 0, timestamp).
                if data & 3 != 0 || data >> 3 & 1 != 0 {
                    return Err(MethodError::BadSemaphore(data));
                }
                let one_word = data >> 28 & 1 != 0;
                return Ok(one(Action::Release {
                    va: self.report_addr,
                    payload: u64::from(self.report_payload),
                    size: if one_word { 4 } else { 8 },
                    timestamp: !one_word,
                }));
            }
            // The rest of the compute class's state (shader memory windows, constant
            // buffers ...) is kept by the GPU; nvsim runs no shaders.
            _ => {}
        }
        Ok(NONE)
    }
}

/// The most bytes one copy-engine launch may write in nvsim (64 MiB, what libcuda's largest
/// pieces are far below): every channel shares one engine thread, so a larger launch puts
/// its channel in error instead of holding the others up.
pub const MAX_LAUNCH_BYTES: u64 = 64 << 20;

/// Bytes of a QMD (compute launch descriptor) that [`qmd_releases`] reads.
pub const QMD_BYTES: usize = 256;

/// A QMD release's control bits.
#[derive(Clone, Copy)]
struct ReleaseBits {
    enable: bool,
    /// REDUCTION_ENABLE, with REDUCTION_OP and REDUCTION_FORMAT.
    reduction: Option<(u32, u32)>,
    /// PAYLOAD64B.
    wide: bool,
    /// STRUCTURE_SIZE.
    structure: u32,
}

/// A QMD's release semaphore, from its fields: the address, its control bits and the
/// payload's two words. A reduction format other than unsigned or signed is refused.
fn qmd_release(va: u64, bits: ReleaseBits, (p_lo, p_hi): (u32, u32)) -> Result<Option<Action>, ()> {
    if !bits.enable {
        return Ok(None);
    }
    let payload = if bits.wide {
        u64::from(p_hi) << 32 | u64::from(p_lo)
    } else {
        u64::from(p_lo)
    };
    // STRUCTURE_SIZE: 0 four words (payload, then a timestamp), 1 one word, 2 two words.
    let size = if bits.wide || bits.structure != 1 {
        8
    } else {
        4
    };
    let timestamp = bits.structure == 0;
    Ok(Some(match bits.reduction {
        None => Action::Release {
            va,
            payload,
            size,
            timestamp,
        },
        Some((op, format)) if format <= 1 => Action::Reduce {
            va,
            payload,
            size,
            op: ReduceOp::from_bits(op),
            signed: format == 1,
            timestamp,
        },
        Some(_) => return Err(()),
    }))
}

/// The release semaphores of a QMD, by its major version (`clcbc0qmd.h`, Hopper's compute
/// class; libcuda 535 writes V04_00 on Hopper):
/// - V03_00: RELEASE0 at dwords 24..27, RELEASE1 at 28..31 (address lower, then a word of
///   address upper 7:0 with REDUCTION_OP 22:20, ENABLE 23, REDUCTION_FORMAT 25:24,
///   REDUCTION_ENABLE 26, PAYLOAD64B 29, STRUCTURE_SIZE 31:30, then the payload).
/// - V04_00: three releases; their control bits are 16-bit fields from bit 320 (dword 10)
///   (ENABLE 0, STRUCTURE_SIZE 2:1, REDUCTION_ENABLE 4, REDUCTION_OP 7:5, REDUCTION_FORMAT
///   9:8, PAYLOAD64B 12), their addresses and payloads four dwords each from dword 20
///   (address lower, upper 24:0, payload lower, upper).
///
/// A four-word structure carries a timestamp after the payload. A release with a reduction
/// is an [`Action::Reduce`] (CUDA graphs' launches count with them). Other versions, and
/// reduction formats other than unsigned and signed, are refused (`Err` with the version or
/// control word).
pub fn qmd_releases(qmd: &[u32]) -> Result<[Option<Action>; 3], u32> {
    let word = |at: usize| qmd.get(at).copied().ok_or(0u32);
    let version = qmd_major_version(qmd);
    let mut out = [None, None, None];
    match version {
        3 => {
            for (i, slot) in out.iter_mut().take(2).enumerate() {
                let at = 24 + 4 * i;
                let (lo, ctl) = (word(at)?, word(at + 1)?);
                let bits = ReleaseBits {
                    enable: ctl >> 23 & 1 != 0,
                    reduction: (ctl >> 26 & 1 != 0).then_some((ctl >> 20 & 7, ctl >> 24 & 3)),
                    wide: ctl >> 29 & 1 != 0,
                    structure: ctl >> 30,
                };
                let va = u64::from(ctl & 0xff) << 32 | u64::from(lo);
                *slot = qmd_release(va, bits, (word(at + 2)?, word(at + 3)?)).map_err(|()| ctl)?;
            }
        }
        4 => {
            for (i, slot) in out.iter_mut().enumerate() {
                let ctl = word(10 + i / 2)? >> (16 * (i % 2)) & 0xffff;
                let bits = ReleaseBits {
                    enable: ctl & 1 != 0,
                    reduction: (ctl >> 4 & 1 != 0).then_some((ctl >> 5 & 7, ctl >> 8 & 3)),
                    wide: ctl >> 12 & 1 != 0,
                    structure: ctl >> 1 & 3,
                };
                let at = 20 + 4 * i;
                let va = u64::from(word(at + 1)? & 0x1ff_ffff) << 32 | u64::from(word(at)?);
                *slot = qmd_release(va, bits, (word(at + 2)?, word(at + 3)?)).map_err(|()| ctl)?;
            }
        }
        _ => return Err(version),
    }
    Ok(out)
}

/// Most dependent QMDs one launch schedules in a chain (nvsim's bound: a QMD may name
/// itself).
pub const MAX_QMD_CHAIN: usize = 4096;

/// The QMD a QMD's completion schedules (`DEPENDENT_QMD0`, `clcbc0qmd.h`), if it names one:
/// V04_00 has ENABLE at bit 368, ACTION 371:369 and the pointer (>> 8) at dword 14; V03_00
/// ENABLE at bit 512, ACTION 515:513, the pointer at dword 15. Actions QMD_SCHEDULE (1) and
/// QMD_INVALIDATE_COPY_SCHEDULE (3) schedule it (a CUDA graph's nodes are chained so).
/// QMD_DECREMENT_DEPENDENCE (4) only lets a QMD that waits on this one start: nvsim runs a
/// channel's launches one at a time in order, so the wait is over by the time that QMD's own
/// launch comes, and nothing is scheduled. QMD_INCREMENT_PUT (0) works on QMD queues, which
/// nvsim does not run, and a second dependent (DEPENDENT_QMD1, a fan-out) is not run either:
/// both are refused (`Err` with the control word).
pub fn qmd_dependent(qmd: &[u32]) -> Result<Option<u64>, u32> {
    let word = |at: usize| qmd.get(at).copied().ok_or(0u32);
    let (ctl, second, pointer) = match qmd_major_version(qmd) {
        // Bits 368.. of dword 11: QMD0's 5 bits, then QMD1's.
        4 => {
            let w = word(11)?;
            (w >> 16 & 0xf, w >> 21 & 1 != 0, word(14)?)
        }
        // Bits 512.. of dword 16, the same way.
        3 => {
            let w = word(16)?;
            (w & 0xf, w >> 5 & 1 != 0, word(15)?)
        }
        v => return Err(v),
    };
    if second {
        return Err(ctl);
    }
    if ctl & 1 == 0 {
        return Ok(None);
    }
    match ctl >> 1 & 7 {
        1 | 3 => Ok(Some(u64::from(pointer) << 8)),
        4 => Ok(None),
        _ => Err(ctl),
    }
}

/// The QMD's major version (bits 583:580).
pub fn qmd_major_version(qmd: &[u32]) -> u32 {
    qmd.get(18).map_or(0, |w| w >> 4 & 0xf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engines(class: u32) -> Option<Engine> {
        match class {
            0xc8b5 => Some(Engine::Copy),
            0xcbc0 => Some(Engine::Compute),
            _ => None,
        }
    }

    fn run(s: &mut MethodState, sub: u8, writes: &[(u32, u32)]) -> Vec<Action> {
        let mut out = Vec::new();
        for &(m, d) in writes {
            out.extend(s.method(sub, m, d, engines).unwrap().into_iter().flatten());
        }
        out
    }

    #[test]
    fn host_semaphores_release_and_acquire() {
        let mut s = MethodState::new();
        let a = run(
            &mut s,
            0,
            &[
                (host::SEM_ADDR_LO, 0x1000),
                (host::SEM_ADDR_HI, 0x2),
                (host::SEM_PAYLOAD_LO, 7),
                (host::SEM_PAYLOAD_HI, 1),
                (host::SEM_EXECUTE, 1 | 1 << 24 | 1 << 25),
                (host::SEM_EXECUTE, 2 | 1 << 24),
            ],
        );
        assert_eq!(
            a,
            vec![
                Action::Release {
                    va: 0x2_0000_1000,
                    payload: 0x1_0000_0007,
                    size: 8,
                    timestamp: true
                },
                Action::Acquire {
                    va: 0x2_0000_1000,
                    payload: 0x1_0000_0007,
                    size: 8,
                    op: AcquireOp::StrictGeq
                }
            ]
        );
        assert_eq!(
            s.method(0, host::SEM_EXECUTE, 7, engines),
            Err(MethodError::BadSemaphore(7))
        );
        assert!(AcquireOp::CircularGeq.satisfied(1, 0xffff_fff0, 4));
        assert!(!AcquireOp::CircularGeq.satisfied(0xffff_fff0, 1, 4));
        assert!(AcquireOp::StrictGeq.satisfied(5, 5, 4));
        assert!(!AcquireOp::Equal.satisfied(5, 6, 8));
    }

    #[test]
    fn copies_memsets_and_their_semaphores() {
        let mut s = MethodState::new();
        assert_eq!(
            s.method(4, copy::LAUNCH_DMA, 0, engines),
            Err(MethodError::NoObject {
                subchannel: 4,
                method: 0x300
            })
        );
        assert_eq!(
            s.method(4, host::SET_OBJECT, 0xc7b5, engines),
            Err(MethodError::BadClass(0xc7b5))
        );
        let pitch_flat = 2 | 1 << 7 | 1 << 8;
        let a = run(
            &mut s,
            4,
            &[
                (host::SET_OBJECT, 0xc8b5),
                (copy::OFFSET_IN_UPPER, 0x1),
                (copy::OFFSET_IN_LOWER, 0x2000),
                (copy::OFFSET_OUT_UPPER, 0x0),
                (copy::OFFSET_OUT_LOWER, 0x8000),
                (copy::LINE_LENGTH_IN, 4096),
                (copy::SET_SEMAPHORE_A, 0),
                (copy::SET_SEMAPHORE_B, 0x40),
                (copy::SET_SEMAPHORE_PAYLOAD, 9),
                (copy::LAUNCH_DMA, pitch_flat | 1 << 3 | 2 << 5),
            ],
        );
        assert_eq!(
            a,
            vec![
                Action::Copy {
                    src: 0x1_0000_2000,
                    dst: 0x8000,
                    line_length: 4096,
                    lines: 1,
                    pitch_in: 0,
                    pitch_out: 0
                },
                Action::Release {
                    va: 0x40,
                    payload: 9,
                    size: 4,
                    timestamp: false
                },
                Action::NonStallInterrupt
            ]
        );
        // A 32-bit memset of 16 components.
        let a = run(
            &mut s,
            4,
            &[
                (copy::SET_REMAP_CONST_A, 0xdead_beef),
                (copy::SET_REMAP_COMPONENTS, 4 | 3 << 16),
                (copy::LINE_LENGTH_IN, 16),
                (copy::LAUNCH_DMA, pitch_flat | 1 << 10),
            ],
        );
        assert_eq!(
            a,
            vec![Action::Fill {
                dst: 0x8000,
                value: 0xdead_beef,
                size: 4,
                count: 16,
                lines: 1,
                pitch_out: 0
            }]
        );
        // Block-linear and physical copies are refused.
        assert!(s.method(4, copy::LAUNCH_DMA, 2, engines).is_err());
        assert!(s
            .method(4, copy::LAUNCH_DMA, pitch_flat | 1 << 12, engines)
            .is_err());
    }

    #[test]
    fn qmd_releases_are_read_from_v03_layout() {
        let mut qmd = [0u32; 64];
        qmd[18] = 3 << 4;
        // RELEASE0: one word, 32-bit payload 5 at 0x12_0000_1000.
        qmd[24] = 0x1000;
        qmd[25] = 0x12 | 1 << 23 | 1 << 30;
        qmd[26] = 5;
        // RELEASE1: four words, 64-bit payload.
        qmd[28] = 0x2000;
        qmd[29] = 1 << 23 | 1 << 29;
        qmd[30] = 1;
        qmd[31] = 2;
        assert_eq!(qmd_major_version(&qmd), 3);
        assert_eq!(
            qmd_releases(&qmd),
            Ok([
                Some(Action::Release {
                    va: 0x12_0000_1000,
                    payload: 5,
                    size: 4,
                    timestamp: false
                }),
                Some(Action::Release {
                    va: 0x2000,
                    payload: 0x2_0000_0001,
                    size: 8,
                    timestamp: true
                }),
                None
            ])
        );
        // A reduction: signed MAX (op 2, format 1).
        qmd[25] |= 1 << 26 | 2 << 20 | 1 << 24;
        assert_eq!(
            qmd_releases(&qmd).map(|r| r[0]),
            Ok(Some(Action::Reduce {
                va: 0x12_0000_1000,
                payload: 5,
                size: 4,
                op: ReduceOp::Max,
                signed: true,
                timestamp: false
            }))
        );
        // A format nvsim does not know is refused.
        qmd[25] |= 3 << 24;
        assert!(qmd_releases(&qmd).is_err());
        assert!(qmd_releases(&qmd[..20]).is_err());
    }

    #[test]
    fn dependent_qmds_chain_a_graph() {
        // V04: a chain link (what libcuda writes for a graph's kernel nodes): DEPENDENT_QMD0
        // enabled with QMD_SCHEDULE and prefetch, pointing at 0x2_0406_c800.
        let mut qmd = [0u32; 64];
        qmd[18] = 4 << 4;
        qmd[11] = 0x0413_0000;
        qmd[14] = 0x0204_06c8;
        assert_eq!(qmd_dependent(&qmd), Ok(Some(0x2_0406_c800)));
        // The chain's end names none.
        qmd[11] = 0x0400_0000;
        assert_eq!(qmd_dependent(&qmd), Ok(None));
        // DECREMENT_DEPENDENCE (libcuda's link from one launch to the next) schedules
        // nothing; INCREMENT_PUT, or a second dependent, is refused.
        qmd[11] = 0x0019_0000;
        assert_eq!(qmd_dependent(&qmd), Ok(None));
        qmd[11] = 1 << 16;
        assert!(qmd_dependent(&qmd).is_err());
        qmd[11] = (1 | 1 << 1 | 1 << 5) << 16;
        assert!(qmd_dependent(&qmd).is_err());
        // V03: QMD0 at bit 512, its pointer at dword 15.
        let mut v3 = [0u32; 64];
        v3[18] = 3 << 4;
        v3[16] = 1 | 1 << 1;
        v3[15] = 0x1234;
        assert_eq!(qmd_dependent(&v3), Ok(Some(0x12_3400)));
        v3[18] = 5 << 4;
        assert_eq!(qmd_dependent(&v3), Err(5));
    }

    #[test]
    fn pcas_actions_that_schedule_launch() {
        let mut s = MethodState::new();
        run(&mut s, 1, &[(0, 0xcbc0), (compute::SEND_PCAS_A, 0x12_3456)]);
        for action in [2, 3, 9, 10, 11] {
            assert_eq!(
                s.method(1, compute::SEND_SIGNALING_PCAS2_B, action, engines)
                    .map(|a| a[0]),
                Ok(Some(Action::Launch {
                    qmd: 0x12_3456 << 8
                })),
                "{action}"
            );
        }
        for action in [0, 1, 8] {
            assert_eq!(
                s.method(1, compute::SEND_SIGNALING_PCAS2_B, action, engines)
                    .map(|a| a[0]),
                Ok(None),
                "{action}"
            );
        }
        for action in [6, 7, 12] {
            assert!(s
                .method(1, compute::SEND_SIGNALING_PCAS2_B, action, engines)
                .is_err());
        }
    }

    #[test]
    fn reductions_combine_as_the_gpu_atomics() {
        use ReduceOp::*;
        assert_eq!(Add.apply(u64::from(u32::MAX), 2, 4, false), 1);
        assert_eq!(Add.apply(u64::MAX, 2, 8, false), 1);
        // -1 (as 4 bytes) against 3: signed, -1 is less; unsigned, it is the largest.
        let minus_one = u64::from(u32::MAX);
        assert_eq!(Min.apply(minus_one, 3, 4, true), minus_one);
        assert_eq!(Min.apply(minus_one, 3, 4, false), 3);
        assert_eq!(Max.apply(minus_one, 3, 4, true), 3);
        assert_eq!(Max.apply(u64::MAX, 3, 8, true), 3);
        assert_eq!(Inc.apply(4, 10, 4, false), 5);
        assert_eq!(Inc.apply(10, 10, 4, false), 0);
        assert_eq!(Dec.apply(0, 10, 4, false), 10);
        assert_eq!(Dec.apply(11, 10, 4, false), 10);
        assert_eq!(Dec.apply(5, 10, 4, false), 4);
        assert_eq!(And.apply(0b1100, 0b1010, 4, false), 0b1000);
        assert_eq!(Or.apply(0b1100, 0b1010, 4, false), 0b1110);
        assert_eq!(Xor.apply(0b1100, 0b1010, 4, false), 0b0110);
        // Only the semaphore's bytes take part.
        assert_eq!(Or.apply(1 << 40, 1, 4, false), 1);
        for bits in 0..8 {
            assert_eq!(ReduceOp::from_bits(bits), ReduceOp::from_bits(bits + 8));
        }
    }

    #[test]
    fn launches_past_the_bound_are_refused() {
        let mut s = MethodState::new();
        let pitch_flat = 2 | 1 << 7 | 1 << 8;
        // 64 MiB in one line is the bound; 64 lines of 1 MiB + 1 byte are past it.
        run(&mut s, 4, &[(0, 0xc8b5), (copy::LINE_LENGTH_IN, 64 << 20)]);
        assert!(s.method(4, copy::LAUNCH_DMA, pitch_flat, engines).is_ok());
        run(
            &mut s,
            4,
            &[
                (copy::LINE_LENGTH_IN, (1 << 20) + 1),
                (copy::LINE_COUNT, 64),
            ],
        );
        assert!(s
            .method(4, copy::LAUNCH_DMA, pitch_flat | 1 << 9, engines)
            .is_err());
        // A memset of 16M four-byte components is 64 MiB; one more line is past it.
        run(
            &mut s,
            4,
            &[
                (copy::LINE_LENGTH_IN, 16 << 20),
                (copy::SET_REMAP_COMPONENTS, 4 | 3 << 16),
                (copy::LINE_COUNT, 1),
            ],
        );
        assert!(s
            .method(4, copy::LAUNCH_DMA, pitch_flat | 1 << 9 | 1 << 10, engines)
            .is_ok());
        run(&mut s, 4, &[(copy::LINE_COUNT, 2)]);
        assert!(s
            .method(4, copy::LAUNCH_DMA, pitch_flat | 1 << 9 | 1 << 10, engines)
            .is_err());
    }

    #[test]
    fn qmd_releases_are_read_from_v04_layout() {
        let mut qmd = [0u32; 64];
        qmd[18] = 4 << 4;
        // RELEASE0 disabled; RELEASE1: one word, payload 6 at 0x2_0420_0f3c; RELEASE2: four
        // words, 64-bit payload, at 0x1_0000_2000.
        qmd[10] = (1 | 1 << 1) << 16;
        qmd[11] = 1 | 1 << 12;
        qmd[24] = 0x0420_0f3c;
        qmd[25] = 0x2;
        qmd[26] = 6;
        qmd[28] = 0x2000;
        qmd[29] = 0x1;
        qmd[30] = 7;
        qmd[31] = 1;
        assert_eq!(
            qmd_releases(&qmd),
            Ok([
                None,
                Some(Action::Release {
                    va: 0x2_0420_0f3c,
                    payload: 6,
                    size: 4,
                    timestamp: false
                }),
                Some(Action::Release {
                    va: 0x1_0000_2000,
                    payload: 0x1_0000_0007,
                    size: 8,
                    timestamp: true
                })
            ])
        );
        // RELEASE2 as an unsigned INC (op 3), as graph launches count.
        qmd[11] |= 1 << 4 | 3 << 5;
        assert_eq!(
            qmd_releases(&qmd).map(|r| r[2]),
            Ok(Some(Action::Reduce {
                va: 0x1_0000_2000,
                payload: 0x1_0000_0007,
                size: 8,
                op: ReduceOp::Inc,
                signed: false,
                timestamp: true
            }))
        );
        // A reduction format or a version nvsim does not know is refused.
        qmd[11] |= 2 << 8;
        assert!(qmd_releases(&qmd).is_err());
        qmd[11] &= !(3 << 8);
        qmd[18] = 5 << 4;
        assert_eq!(qmd_releases(&qmd), Err(5));
    }

    #[test]
    fn compute_reports_and_inline_uploads() {
        let mut s = MethodState::new();
        let a = run(
            &mut s,
            1,
            &[
                (host::SET_OBJECT, 0xcbc0),
                (compute::SET_REPORT_SEMAPHORE_A, 0x2),
                (compute::SET_REPORT_SEMAPHORE_B, 0x360_fff0),
                (compute::SET_REPORT_SEMAPHORE_C, 1),
                (compute::SET_REPORT_SEMAPHORE_D, 0),
                (compute::LINE_LENGTH_IN, 6),
                (compute::LINE_COUNT, 1),
                (compute::OFFSET_OUT_UPPER, 0x1),
                (compute::OFFSET_OUT, 0x100),
                (compute::LAUNCH_DMA, 1),
                (compute::LOAD_INLINE_DATA, 0xaabb_ccdd),
                (compute::LOAD_INLINE_DATA, 0x1122),
                (compute::LOAD_INLINE_DATA, 0x3344),
            ],
        );
        assert_eq!(
            a,
            vec![
                Action::Release {
                    va: 0x2_0360_fff0,
                    payload: 1,
                    size: 8,
                    timestamp: true
                },
                Action::Store {
                    va: 0x1_0000_0100,
                    value: 0xaabb_ccdd,
                    size: 4
                },
                Action::Store {
                    va: 0x1_0000_0104,
                    value: 0x1122,
                    size: 2
                },
            ]
        );
        assert!(s
            .method(1, compute::SET_REPORT_SEMAPHORE_D, 1 << 3, engines)
            .is_err());
        assert_eq!(
            s.method(1, compute::SET_REPORT_SEMAPHORE_D, 3, engines),
            Ok(one(Action::NonStallInterrupt))
        );
    }

    #[test]
    fn compute_launches_name_their_qmd() {
        let mut s = MethodState::new();
        let a = run(
            &mut s,
            1,
            &[
                (host::SET_OBJECT, 0xcbc0),
                (0x1234, 5),
                (compute::SEND_PCAS_A, 0x12_3456),
                (compute::SEND_SIGNALING_PCAS2_B, 3),
            ],
        );
        assert_eq!(a, vec![Action::Launch { qmd: 0x1234_5600 }]);
    }
}
