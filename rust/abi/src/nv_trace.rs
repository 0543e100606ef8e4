//! What nvsim's trace mode says about one frontend escape: the RM class or control command it
//! carries and the RM status it returned, read from the parameters after the call. Used to
//! find what NVIDIA's own userspace asks of the driver.

use super::nv_rm::{esc, vid_heap, Nvos00, Nvos21, Nvos33WithFd, Nvos54, Nvos55, Nvos64};
use super::pod::read_pod;
use core::mem::offset_of;

/// The RM object or command an escape names, if it names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// RM_ALLOC of this class.
    Class(u32),
    /// RM_CONTROL of this command, with this parameter size.
    Control {
        /// The command number.
        cmd: u32,
        /// Its parameter size as the caller gave it.
        params_size: u32,
    },
    /// RM_VID_HEAP_CONTROL of this function, with the allocation fields (zero for other
    /// functions than ALLOC_SIZE).
    VidHeap {
        /// `function`.
        function: u32,
        /// `data.AllocSize.flags`.
        flags: u32,
        /// `data.AllocSize.attr` (location in bits 26:25).
        attr: u32,
        /// `data.AllocSize.size`.
        size: u64,
    },
    /// RM_MAP_MEMORY of this range of a memory object, with these flags.
    Map {
        /// `offset`.
        offset: u64,
        /// `length`.
        length: u64,
        /// `flags`.
        flags: u32,
    },
    /// Nothing beyond the escape number.
    None,
}

/// One escape, summarised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The class, command or function the escape names.
    pub subject: Subject,
    /// The RM status field, for escapes that have one.
    pub status: Option<u32>,
}

/// Where an RM escape of `size` bytes keeps its status word, as the driver lays them out.
pub fn status_offset(nr: u8, size: usize) -> Option<usize> {
    let at = match (nr, size) {
        (esc::RM_ALLOC, 32) => offset_of!(Nvos21, status),
        (esc::RM_ALLOC, 48) => offset_of!(Nvos64, status),
        (esc::RM_FREE, 16) => offset_of!(Nvos00, status),
        (esc::RM_CONTROL, 32) => offset_of!(Nvos54, status),
        (esc::RM_MAP_MEMORY, 56) => offset_of!(Nvos33WithFd, status),
        (esc::RM_VID_HEAP_CONTROL, vid_heap::SIZE) => vid_heap::STATUS,
        (esc::RM_DUP_OBJECT, 28) => offset_of!(Nvos55, status),
        (esc::RM_UPDATE_DEVICE_MAPPING_INFO, 40) => 32,
        // NVOS57: hClient, hObject, a 12-byte share policy, status.
        (esc::RM_SHARE, 24) => 20,
        // NVOS02 with the fd: status after the 8-aligned pMemory and limit.
        (esc::RM_ALLOC_MEMORY, 56) => 40,
        _ => return None,
    };
    Some(at)
}

/// Summarises escape `nr` from its parameters `buf` as they stand after the call.
pub fn summarize(nr: u8, buf: &[u8]) -> Summary {
    let word = |at: usize| buf.get(at..).and_then(read_pod::<u32>);
    let subject = match (nr, buf.len()) {
        (esc::RM_ALLOC, 32 | 48) => word(12).map_or(Subject::None, Subject::Class),
        (esc::RM_CONTROL, 32) => match (word(8), word(24)) {
            (Some(cmd), Some(params_size)) => Subject::Control { cmd, params_size },
            _ => Subject::None,
        },
        (esc::RM_VID_HEAP_CONTROL, vid_heap::SIZE) => match word(vid_heap::FUNCTION) {
            Some(function) => {
                let alloc = function == vid_heap::FUNCTION_ALLOC_SIZE;
                let field = |at: usize| if alloc { word(at).unwrap_or(0) } else { 0 };
                Subject::VidHeap {
                    function,
                    flags: field(vid_heap::FLAGS),
                    attr: field(vid_heap::ATTR),
                    size: match alloc {
                        true => buf.get(vid_heap::ALLOC_SIZE..).and_then(read_pod::<u64>),
                        false => None,
                    }
                    .unwrap_or(0),
                }
            }
            None => Subject::None,
        },
        (esc::RM_MAP_MEMORY, 56) => match read_pod::<Nvos33WithFd>(buf) {
            Some(p) => Subject::Map {
                offset: p.offset,
                length: p.length,
                flags: p.flags,
            },
            None => Subject::None,
        },
        _ => Subject::None,
    };
    Summary {
        subject,
        status: status_offset(nr, buf.len()).and_then(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::write_pod;

    #[test]
    fn status_offsets_are_the_drivers() {
        // NVOS21, NVOS64, NVOS00, NVOS54, NVOS33 + fd, NVOS55 of the 535 headers.
        let cases = [
            (esc::RM_ALLOC, 32, 28),
            (esc::RM_ALLOC, 48, 40),
            (esc::RM_FREE, 16, 12),
            (esc::RM_CONTROL, 32, 28),
            (esc::RM_MAP_MEMORY, 56, 40),
            (esc::RM_DUP_OBJECT, 28, 24),
        ];
        for (nr, size, at) in cases {
            assert_eq!(status_offset(nr, size), Some(at), "escape {nr:#x}");
        }
        assert_eq!(status_offset(esc::RM_CONTROL, 31), None);
    }

    #[test]
    fn summarizes_controls_allocs_and_others() {
        let mut ctl = [0u8; 32];
        write_pod(&mut ctl[8..], &0x2080_0110u32);
        write_pod(&mut ctl[24..], &68u32);
        write_pod(&mut ctl[28..], &0x56u32);
        assert_eq!(
            summarize(esc::RM_CONTROL, &ctl),
            Summary {
                subject: Subject::Control {
                    cmd: 0x2080_0110,
                    params_size: 68
                },
                status: Some(0x56)
            }
        );
        let mut alloc = [0u8; 48];
        write_pod(&mut alloc[12..], &0x2080u32);
        assert_eq!(
            summarize(esc::RM_ALLOC, &alloc),
            Summary {
                subject: Subject::Class(0x2080),
                status: Some(0)
            }
        );
        assert_eq!(
            summarize(0xd2, &[0u8; 72]),
            Summary {
                subject: Subject::None,
                status: None
            }
        );
        // A short buffer never reads past its end.
        assert_eq!(
            summarize(esc::RM_CONTROL, &ctl[..20]).subject,
            Subject::None
        );
    }
}
