//! What fakegpu meters in NVIDIA calls: which allocations hold GPU memory, pinned host memory
//! or a channel, and how big they are; and how much of each call's parameters fakegpu copies
//! when it makes the call on its private copy (`rust/fakegpu/private_call.rs`).
//!
//! Everything here decodes fakegpu's own copy of the parameters, never the caller's memory.

use super::abi::nv_family::DriverFamily;
use super::abi::nv_rm::{
    class, device_alloc_params, memory_alloc_params, os_desc_alloc_params, vid_heap,
};
use super::abi::pod::read_pod;

/// What an RM_ALLOC (or a VID_HEAP_CONTROL allocation) creates, for the meter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation {
    /// A client (the root of a tree).
    Client,
    /// A device: GPU number `device_id` (the RM's device instance: the Nth GPU of CARD_INFO).
    Device {
        /// The GPU.
        device_id: u32,
    },
    /// GPU memory of `size` bytes on the GPU of the parent device.
    VideoMemory {
        /// Bytes asked for (the driver may round up, and writes back what it took).
        size: u64,
    },
    /// Pinned host memory of `size` bytes.
    PinnedMemory {
        /// Bytes asked for.
        size: u64,
    },
    /// A GPFIFO channel on the GPU of the parent.
    Channel,
    /// A channel group (TSG) on the GPU of the parent.
    ChannelGroup,
    /// Anything else: holds nothing fakegpu meters.
    Other,
}

/// Most bytes of allocation parameters fakegpu copies (the largest 535 class it knows is the
/// 360-byte channel allocation).
pub const PARAMS_MAX: usize = 1024;

/// How many bytes of allocation parameters a driver of `family` copies in for `class_id` (it
/// uses the class's registered size, not the caller's `paramsSize`); `None` if fakegpu does
/// not know, in which case it copies the caller's `paramsSize`, up to [`PARAMS_MAX`].
pub fn alloc_params_size(class_id: u32, family: &DriverFamily) -> Option<usize> {
    Some(match class_id {
        // NV0000_ALLOC_PARAMETERS: hClient, processID, processName[100] (535; 570 adds a
        // pointer).
        class::NV01_NULL_OBJECT | class::NV01_ROOT_NON_PRIV | class::NV01_ROOT_CLIENT => 108,
        class::NV01_DEVICE_0 => device_alloc_params::SIZE,
        class::NV20_SUBDEVICE_0 => 4,
        class::NV01_MEMORY_LOCAL_USER
        | class::NV01_MEMORY_SYSTEM
        | class::NV01_MEMORY_VIRTUAL
        | class::NV50_MEMORY_VIRTUAL => family.memory_alloc_params_size,
        // libcuda allocates these with `paramsSize` 0: the RM sizes them by class.
        class::FERMI_VASPACE_A => super::abi::nv_rm::VASPACE_ALLOC_PARAMS_SIZE,
        class::FERMI_CONTEXT_SHARE_A => super::abi::nv_rm::ctxshare_alloc_params::SIZE,
        class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR => os_desc_alloc_params::SIZE,
        class::NV01_EVENT_OS_EVENT => 24,
        class::NV_CONFIDENTIAL_COMPUTE | class::NV2081_BINAPI => 4,
        class::KEPLER_CHANNEL_GROUP_A => 20,
        c if class::GPFIFO_CHANNELS.contains(&c) => family.channel_alloc_params_size,
        c if class::COMPUTE.contains(&c) => 16,
        // NVB0B5_ALLOCATION_PARAMETERS: version, engineType.
        c if class::DMA_COPY.contains(&c) => 8,
        class::GT200_DEBUGGER => super::abi::nv_rm::debugger_alloc_params::SIZE,
        _ => return None,
    })
}

/// The bytes of parameters to copy for an RM_ALLOC of `class_id` whose caller says
/// `params_size`, on a driver of `family`.
pub fn alloc_copy_size(class_id: u32, params_size: u32, family: &DriverFamily) -> usize {
    alloc_params_size(class_id, family).unwrap_or((params_size as usize).min(PARAMS_MAX))
}

/// What an RM_ALLOC of `class_id` with parameters `params` creates.
pub fn classify_alloc(class_id: u32, params: &[u8]) -> Allocation {
    let u64_at = |at: usize| params.get(at..).and_then(read_pod::<u64>).unwrap_or(0);
    match class_id {
        class::NV01_NULL_OBJECT | class::NV01_ROOT_NON_PRIV | class::NV01_ROOT_CLIENT => {
            Allocation::Client
        }
        class::NV01_DEVICE_0 => Allocation::Device {
            device_id: params
                .get(device_alloc_params::DEVICE_ID_OFFSET..)
                .and_then(read_pod::<u32>)
                .unwrap_or(0),
        },
        class::NV01_MEMORY_LOCAL_USER => Allocation::VideoMemory {
            size: u64_at(memory_alloc_params::SIZE_OFFSET),
        },
        class::NV01_MEMORY_SYSTEM => Allocation::PinnedMemory {
            size: u64_at(memory_alloc_params::SIZE_OFFSET),
        },
        class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR => Allocation::PinnedMemory {
            size: u64_at(os_desc_alloc_params::LIMIT_OFFSET).saturating_add(1),
        },
        c if class::GPFIFO_CHANNELS.contains(&c) => Allocation::Channel,
        class::KEPLER_CHANNEL_GROUP_A => Allocation::ChannelGroup,
        _ => Allocation::Other,
    }
}

/// What an RM_ALLOC_MEMORY (NVOS02) of `class_id` and `limit` creates: `None` for a class
/// fakegpu does not meter there (refused with `NV_ERR_INVALID_CLASS`).
pub fn classify_alloc_memory(class_id: u32, limit: u64) -> Option<Allocation> {
    let size = limit.saturating_add(1);
    match class_id {
        class::NV01_MEMORY_SYSTEM | class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR => {
            Some(Allocation::PinnedMemory { size })
        }
        class::NV01_MEMORY_LOCAL_USER => Some(Allocation::VideoMemory { size }),
        _ => None,
    }
}

/// Whether the driver makes an allocation of `class_id` on the caller's own pages (an OS
/// descriptor: it pins them at an address of the calling process), so that the call must be
/// made in the caller's address space.
pub fn alloc_pins_caller_pages(class_id: u32) -> bool {
    class_id == class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR
}

/// The size the driver reports back for a memory allocation, from its answer `params`
/// (fakegpu's copy, which the driver wrote).
pub fn allocated_size(class_id: u32, params: &[u8]) -> Option<u64> {
    match classify_alloc(class_id, params) {
        Allocation::VideoMemory { size } | Allocation::PinnedMemory { size } => Some(size),
        _ => None,
    }
}

/// What a RM_VID_HEAP_CONTROL call (its 184-byte parameters) allocates or frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VidHeapCall {
    /// ALLOC_SIZE of physical memory: handle `h_memory` (0: the RM picks) under `parent`.
    Alloc {
        /// The client.
        client: u32,
        /// The device.
        parent: u32,
        /// The memory's handle as asked.
        h_memory: u32,
        /// Video or pinned memory, and its size.
        what: Allocation,
    },
    /// FREE of memory `h_memory`.
    Free {
        /// The client.
        client: u32,
        /// The memory.
        h_memory: u32,
    },
    /// Anything else (INFO, virtual allocations): holds nothing.
    Other,
}

/// Decodes a VID_HEAP_CONTROL call.
pub fn classify_vid_heap(p: &[u8]) -> VidHeapCall {
    let word = |at: usize| p.get(at..).and_then(read_pod::<u32>).unwrap_or(0);
    let (client, parent, h_memory) = (
        word(vid_heap::H_ROOT),
        word(vid_heap::H_PARENT),
        word(vid_heap::H_MEMORY),
    );
    match word(vid_heap::FUNCTION) {
        vid_heap::FUNCTION_ALLOC_SIZE if word(vid_heap::FLAGS) & vid_heap::FLAGS_VIRTUAL == 0 => {
            let size = p
                .get(vid_heap::ALLOC_SIZE..)
                .and_then(read_pod::<u64>)
                .unwrap_or(0);
            let what = if vid_heap::location(word(vid_heap::ATTR)) == 0 {
                Allocation::VideoMemory { size }
            } else {
                Allocation::PinnedMemory { size }
            };
            VidHeapCall::Alloc {
                client,
                parent,
                h_memory,
                what,
            }
        }
        vid_heap::FUNCTION_FREE => VidHeapCall::Free { client, h_memory },
        _ => VidHeapCall::Other,
    }
}

/// Rounds a request up to the driver's smallest page (4 KiB), the least it will take; the
/// charge made before the call, corrected to what the driver reports after it.
pub fn at_least_charged(size: u64) -> u64 {
    size.checked_add(4095).map_or(u64::MAX, |s| s & !4095)
}

/// Rewrites an FB_GET_INFO_V2 answer (`params`, the driver's) for a cgroup held to `limit`
/// bytes of the GPU with `headroom` bytes left under it: the sizes show at most the limit
/// and the free heap at most the headroom, so nvidia-smi and cudaMemGetInfo show the quota.
/// Values are KiB, as the driver reports them.
pub fn limit_fb_info(params: &mut [u8], limit: u64, headroom: u64) {
    let count = params
        .first_chunk::<4>()
        .map_or(0, |b| u32::from_ne_bytes(*b) as usize);
    if let Some(list) = params.get_mut(4..) {
        limit_fb_list(list, count, limit, headroom);
    }
}

/// Rewrites the first `count` entries of an FB_GET_INFO list (`{u32 index; u32 data}` each,
/// as both versions of the call carry it) as [`limit_fb_info`] does.
pub fn limit_fb_list(list: &mut [u8], count: usize, limit: u64, headroom: u64) {
    use super::abi::nv_rm::fb_info;
    let kib = |bytes: u64| u32::try_from(bytes >> 10).unwrap_or(u32::MAX);
    let entries = list.chunks_exact_mut(fb_info::ENTRY_SIZE);
    for entry in entries.take(count) {
        let cap = match read_pod::<u32>(entry) {
            Some(
                fb_info::TOTAL_RAM_SIZE
                | fb_info::RAM_SIZE
                | fb_info::HEAP_SIZE
                | fb_info::USABLE_RAM_SIZE,
            ) => kib(limit),
            Some(fb_info::HEAP_FREE) => kib(headroom),
            _ => continue,
        };
        if let Some(slot) = entry.get_mut(4..8) {
            let data = read_pod::<u32>(slot).unwrap_or(0);
            slot.copy_from_slice(&data.min(cap).to_ne_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn alloc_memory_classes() {
        let pinned = |size| Some(Allocation::PinnedMemory { size });
        assert_eq!(
            classify_alloc_memory(class::NV01_MEMORY_SYSTEM, 8191),
            pinned(8192)
        );
        assert_eq!(
            classify_alloc_memory(class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR, 65535),
            pinned(65536)
        );
        assert_eq!(
            classify_alloc_memory(class::NV01_MEMORY_LOCAL_USER, u64::MAX),
            Some(Allocation::VideoMemory { size: u64::MAX })
        );
        assert_eq!(classify_alloc_memory(0x3f, 0), None);
        assert!(alloc_pins_caller_pages(
            class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR
        ));
        assert!(!alloc_pins_caller_pages(class::NV01_MEMORY_SYSTEM));
    }

    use super::*;
    use crate::abi::nv_family::{FAMILIES, R535, R550};
    use crate::abi::pod::write_pod;
    use proptest::prelude::*;

    #[test]
    fn decodes_memory_allocations() {
        let mut p = [0u8; 120];
        write_pod(&mut p[memory_alloc_params::SIZE_OFFSET..], &(1u64 << 20));
        assert_eq!(
            classify_alloc(class::NV01_MEMORY_LOCAL_USER, &p),
            Allocation::VideoMemory { size: 1 << 20 }
        );
        assert_eq!(
            classify_alloc(class::NV01_MEMORY_SYSTEM, &p),
            Allocation::PinnedMemory { size: 1 << 20 }
        );
        assert_eq!(
            classify_alloc(class::NV01_MEMORY_VIRTUAL, &p),
            Allocation::Other
        );
        assert_eq!(classify_alloc(0xc56f, &[]), Allocation::Channel);
        assert_eq!(classify_alloc(0xa06c, &[]), Allocation::ChannelGroup);
        let mut d = [0u8; 56];
        write_pod(&mut d, &1u32);
        assert_eq!(
            classify_alloc(class::NV01_DEVICE_0, &d),
            Allocation::Device { device_id: 1 }
        );
        assert_eq!(
            classify_alloc(class::NV01_ROOT_CLIENT, &[]),
            Allocation::Client
        );
        assert_eq!(
            alloc_copy_size(class::NV01_MEMORY_LOCAL_USER, 4, &R535),
            120
        );
        assert_eq!(
            alloc_copy_size(class::NV01_MEMORY_LOCAL_USER, 4, &R550),
            128
        );
        assert_eq!(alloc_copy_size(0x1234, 1 << 20, &R535), PARAMS_MAX);
        assert_eq!(at_least_charged(1), 4096);
        assert_eq!(at_least_charged(8192), 8192);
        assert_eq!(at_least_charged(u64::MAX), u64::MAX);
    }

    #[test]
    fn decodes_vid_heap() {
        let mut p = [0u8; vid_heap::SIZE];
        write_pod(&mut p[vid_heap::FUNCTION..], &vid_heap::FUNCTION_ALLOC_SIZE);
        write_pod(&mut p[vid_heap::H_MEMORY..], &7u32);
        write_pod(&mut p[vid_heap::ALLOC_SIZE..], &4096u64);
        assert!(matches!(
            classify_vid_heap(&p),
            VidHeapCall::Alloc {
                h_memory: 7,
                what: Allocation::VideoMemory { size: 4096 },
                ..
            }
        ));
        write_pod(&mut p[vid_heap::FLAGS..], &vid_heap::FLAGS_VIRTUAL);
        assert_eq!(classify_vid_heap(&p), VidHeapCall::Other);
        write_pod(&mut p[vid_heap::FUNCTION..], &vid_heap::FUNCTION_FREE);
        assert!(matches!(
            classify_vid_heap(&p),
            VidHeapCall::Free { h_memory: 7, .. }
        ));
    }

    #[test]
    fn fb_info_shows_the_quota() {
        use crate::abi::nv_rm::fb_info;
        let mut p = [0u8; fb_info::PARAMS_SIZE];
        let entries = [
            (fb_info::TOTAL_RAM_SIZE, 4 << 20),
            (fb_info::HEAP_FREE, 3 << 20),
            (0x05, 256 << 10),
        ];
        write_pod(&mut p, &(entries.len() as u32));
        for (i, (index, kib)) in entries.iter().enumerate() {
            write_pod(&mut p[4 + 8 * i..], index);
            write_pod(&mut p[8 + 8 * i..], &(*kib as u32));
        }
        limit_fb_info(&mut p, 2 << 30, 512 << 20);
        let data = |p: &[u8], i: usize| read_pod::<u32>(&p[8 + 8 * i..]).unwrap();
        assert_eq!(data(&p, 0), 2 << 20, "total shows the 2 GiB limit, in KiB");
        assert_eq!(data(&p, 1), 512 << 10, "free shows the headroom");
        assert_eq!(data(&p, 2), 256 << 10, "other entries untouched");
        limit_fb_info(&mut p, u64::MAX, u64::MAX);
        assert_eq!(data(&p, 0), 2 << 20, "never raised");
    }

    proptest! {
        #[test]
        fn never_panics(class_id in any::<u32>(), p in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = classify_alloc(class_id, &p);
            let _ = classify_vid_heap(&p);
            let mut q = p.clone();
            limit_fb_info(&mut q, 1 << 30, 1 << 20);
            limit_fb_list(&mut q, usize::MAX, 1 << 30, 1 << 20);
            for family in FAMILIES {
                prop_assert!(alloc_copy_size(class_id, u32::MAX, family) <= PARAMS_MAX);
            }
        }
    }
}
