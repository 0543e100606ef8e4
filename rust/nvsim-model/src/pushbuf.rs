//! How a GPU channel reads its work: GPFIFO entries (each names a pushbuffer segment in the
//! channel's GPU VA space) and the method stream inside a segment (headers that say which
//! methods of which subchannel the following data words go to). Layouts of `clc36f.h` and
//! `clc86f.h` (Volta to Hopper agree). The engine that executes the methods is the kernel
//! side's; this file only decodes, and never panics on what a process wrote.

/// One GPFIFO entry (8 bytes: ENTRY0, ENTRY1), decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpEntry {
    /// A pushbuffer segment to fetch and run.
    Segment {
        /// GPU VA of its first dword (bits 39:2 from the entry; bits 63:40 come from the
        /// channel's extended base).
        va: u64,
        /// Its length in dwords.
        dwords: u32,
        /// Wait for earlier work before fetching (`SYNC_WAIT`).
        sync: bool,
        /// A subroutine entry (`LEVEL_SUBROUTINE`).
        subroutine: bool,
    },
    /// A control entry (length 0) with this opcode: NOP 0, ILLEGAL 1, GP_CRC 2, PB_CRC 3,
    /// SET_PB_SEGMENT_EXTENDED_BASE 4 (operand: VA bits 63:40 in ENTRY0 24:8).
    Control {
        /// `GP_ENTRY1_OPCODE`.
        opcode: u8,
        /// `GP_ENTRY0_OPERAND`.
        operand: u32,
    },
}

/// `NVC86F_GP_ENTRY1_OPCODE_SET_PB_SEGMENT_EXTENDED_BASE`.
pub const OPCODE_SET_PB_SEGMENT_EXTENDED_BASE: u8 = 4;

impl GpEntry {
    /// Decodes one entry; `extended_base` is the channel's VA bits 63:40 for segments.
    pub fn decode(entry0: u32, entry1: u32, extended_base: u32) -> GpEntry {
        let dwords = (entry1 >> 10) & 0x1f_ffff;
        if dwords == 0 {
            return GpEntry::Control {
                opcode: (entry1 & 0xff) as u8,
                operand: entry0,
            };
        }
        let low = u64::from(entry0 & !3);
        let hi = u64::from(entry1 & 0xff) << 32;
        let ext = u64::from(extended_base & 0xff_ffff) << 40;
        GpEntry::Segment {
            va: ext | hi | low,
            dwords,
            sync: entry1 >> 31 != 0,
            subroutine: (entry1 >> 9) & 1 != 0,
        }
    }
}

/// The extended base a SET_PB_SEGMENT_EXTENDED_BASE entry's operand sets (VA bits 63:40).
pub fn extended_base(operand: u32) -> u32 {
    (operand >> 8) & 0x1_ffff
}

/// One method write: `data` to method `method` (a byte offset in the class's method space)
/// of subchannel `subchannel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodWrite {
    /// The subchannel (0..8) the header named.
    pub subchannel: u8,
    /// The method's byte offset (the header's dword address times 4).
    pub method: u32,
    /// The data word.
    pub data: u32,
}

/// Why a method stream is malformed: the channel goes into error, as the host reports a
/// pushbuffer error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// A header with a reserved or unsupported opcode, at this dword.
    BadHeader {
        /// Index of the header in the segment.
        at: usize,
        /// The header.
        header: u32,
    },
}

/// What the decoder is in the middle of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// Expecting a header.
    Header,
    /// `left` data words to go to `subchannel`, starting at method `method`; `step` is how
    /// the method advances after each word (INC: always, NON_INC: never, ONE_INC: once).
    Data {
        subchannel: u8,
        method: u32,
        left: u32,
        step: Step,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Always,
    Never,
    Once,
}

/// Decodes a method stream dword by dword. A method's data may continue in the next
/// segment, so the state lives across calls to [`MethodStream::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodStream {
    pending: Pending,
}

impl Default for MethodStream {
    fn default() -> Self {
        Self::new()
    }
}

/// What one dword of a stream amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dword {
    /// A header (or a data word still owed): nothing to execute yet.
    Nothing,
    /// A method write to execute.
    Write(MethodWrite),
    /// END_PB_SEGMENT: the rest of the segment is to be skipped.
    EndSegment,
}

impl MethodStream {
    /// A stream that expects a header.
    pub const fn new() -> Self {
        MethodStream {
            pending: Pending::Header,
        }
    }

    /// Feeds dword number `at` of a segment.
    pub fn push(&mut self, at: usize, word: u32) -> Result<Dword, StreamError> {
        match self.pending {
            Pending::Data {
                subchannel,
                method,
                left,
                step,
            } => {
                let (next, step_after) = match step {
                    Step::Always => (method.wrapping_add(4) & 0x3ffc, Step::Always),
                    Step::Never => (method, Step::Never),
                    Step::Once => (method.wrapping_add(4) & 0x3ffc, Step::Never),
                };
                self.pending = if left > 1 {
                    Pending::Data {
                        subchannel,
                        method: next,
                        left: left - 1,
                        step: step_after,
                    }
                } else {
                    Pending::Header
                };
                Ok(Dword::Write(MethodWrite {
                    subchannel,
                    method,
                    data: word,
                }))
            }
            Pending::Header => {
                let method = (word & 0xfff) << 2;
                let subchannel = ((word >> 13) & 7) as u8;
                let count = (word >> 16) & 0x1fff;
                let step = match word >> 29 {
                    // IMMD_DATA: the count field is the data.
                    4 => {
                        return Ok(Dword::Write(MethodWrite {
                            subchannel,
                            method,
                            data: count,
                        }))
                    }
                    7 => return Ok(Dword::EndSegment),
                    1 => Step::Always,
                    3 => Step::Never,
                    5 => Step::Once,
                    // GRP0/GRP2 tertiary ops (subdevice masks) and the reserved opcode: a
                    // header nvsim does not take (a single GPU needs no subdevice masks).
                    _ => return Err(StreamError::BadHeader { at, header: word }),
                };
                if count > 0 {
                    self.pending = Pending::Data {
                        subchannel,
                        method,
                        left: count,
                        step,
                    };
                }
                Ok(Dword::Nothing)
            }
        }
    }
}

/// Method headers, for the test clients that build pushbuffers.
pub mod header {
    /// An incrementing method header: `count` words to methods `method`, `method + 4`, ...
    pub const fn inc(subchannel: u32, method: u32, count: u32) -> u32 {
        1 << 29 | (count & 0x1fff) << 16 | (subchannel & 7) << 13 | (method >> 2) & 0xfff
    }
    /// A non-incrementing header: `count` words all to `method`.
    pub const fn non_inc(subchannel: u32, method: u32, count: u32) -> u32 {
        3 << 29 | (count & 0x1fff) << 16 | (subchannel & 7) << 13 | (method >> 2) & 0xfff
    }
    /// An immediate-data header: `data` (13 bits) to `method`.
    pub const fn immd(subchannel: u32, method: u32, data: u32) -> u32 {
        4 << 29 | (data & 0x1fff) << 16 | (subchannel & 7) << 13 | (method >> 2) & 0xfff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(words: &[u32]) -> Result<Vec<MethodWrite>, StreamError> {
        let mut s = MethodStream::new();
        let mut out = Vec::new();
        for (i, &w) in words.iter().enumerate() {
            match s.push(i, w)? {
                Dword::Write(m) => out.push(m),
                Dword::EndSegment => break,
                Dword::Nothing => {}
            }
        }
        Ok(out)
    }

    fn w(subchannel: u8, method: u32, data: u32) -> MethodWrite {
        MethodWrite {
            subchannel,
            method,
            data,
        }
    }

    #[test]
    fn headers_route_data_to_methods() {
        let words = [
            header::inc(4, 0x400, 2),
            0xa,
            0xb,
            header::non_inc(0, 0x5c, 2),
            1,
            2,
            header::immd(1, 0x300, 0x1234),
            5 << 29 | 3 << 16 | 0x10 >> 2,
            7,
            8,
            9,
        ];
        assert_eq!(
            decode(&words),
            Ok(vec![
                w(4, 0x400, 0xa),
                w(4, 0x404, 0xb),
                w(0, 0x5c, 1),
                w(0, 0x5c, 2),
                w(1, 0x300, 0x1234),
                w(0, 0x10, 7),
                w(0, 0x14, 8),
                w(0, 0x14, 9),
            ])
        );
        // END_PB_SEGMENT stops the segment; subdevice-mask headers are refused.
        assert_eq!(decode(&[7 << 29, header::immd(0, 0, 1)]), Ok(vec![]));
        assert_eq!(
            decode(&[header::immd(0, 0, 1), 1 << 16]),
            Err(StreamError::BadHeader {
                at: 1,
                header: 1 << 16
            })
        );
    }

    #[test]
    fn gp_entries_name_segments_and_controls() {
        // VA 0x12_3456_7800, 16 dwords, sync.
        let e = GpEntry::decode(0x3456_7800, 0x12 | 16 << 10 | 1 << 31, 0);
        assert_eq!(
            e,
            GpEntry::Segment {
                va: 0x12_3456_7800,
                dwords: 16,
                sync: true,
                subroutine: false
            }
        );
        let e = GpEntry::decode(0x0000_1000, 1 << 10, 0x01);
        assert!(matches!(
            e,
            GpEntry::Segment {
                va: 0x100_0000_1000,
                ..
            }
        ));
        let c = GpEntry::decode(0x0001_2300, OPCODE_SET_PB_SEGMENT_EXTENDED_BASE.into(), 0);
        assert_eq!(
            c,
            GpEntry::Control {
                opcode: 4,
                operand: 0x0001_2300
            }
        );
        assert_eq!(extended_base(0x0001_2300), 0x123);
    }

    proptest! {
        /// Any stream decodes without panicking, and never yields more writes than words.
        #[test]
        fn any_stream_decodes(words in proptest::collection::vec(any::<u32>(), 0..64)) {
            if let Ok(writes) = decode(&words) {
                prop_assert!(writes.len() <= words.len());
                prop_assert!(writes.iter().all(|m| m.method < 0x4000 && m.subchannel < 8));
            }
        }

        /// A stream built from INC headers gives back exactly the writes it encodes.
        #[test]
        fn inc_streams_round_trip(
            runs in proptest::collection::vec((0u32..8, 0u32..0x1000, proptest::collection::vec(any::<u32>(), 1..6)), 0..8)
        ) {
            let mut words = Vec::new();
            let mut want = Vec::new();
            for (sub, dword, data) in &runs {
                words.push(header::inc(*sub, dword * 4, data.len() as u32));
                for (i, d) in data.iter().enumerate() {
                    words.push(*d);
                    want.push(w(*sub as u8, ((dword + i as u32) * 4) & 0x3ffc, *d));
                }
            }
            prop_assert_eq!(decode(&words), Ok(want));
        }
    }
}
