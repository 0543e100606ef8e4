//! What fakegpu refuses on a DRM node before the DRM core sees it.
//!
//! The 6.12 DRM core sizes its syncobj arrays by the caller's handle count with plain
//! `kmalloc_array` (`drm_syncobj_array_find`, the wait entries): a count past what the page
//! allocator serves makes the kernel print a WARNING, which a tenant could then write into
//! the host's log, and which the test suite treats as a failure. fakegpu refuses such counts
//! with the core's own EINVAL.

use super::abi::drm::syncobj_count_at;

/// Most handles one syncobj array call may name through fakegpu: the largest per-handle
/// allocation of the DRM core (a wait entry, 64 bytes) times this is 4 MiB, the largest
/// block kmalloc serves with 4 KiB pages (order 10). No real workload comes near it.
pub const SYNCOBJ_HANDLES_MAX: u32 = 1 << 16;

/// How many leading bytes of ioctl `cmd`'s argument the check needs; 0 for calls it never
/// refuses. Never more than the argument's own size.
pub fn head_needed(cmd: u32) -> usize {
    match syncobj_count_at(cmd) {
        Some(at) => (at + 4).min(super::abi::ioc::decode(cmd).size as usize),
        None => 0,
    }
}

/// Whether ioctl `cmd`, whose argument starts with `head` (`head_needed(cmd)` bytes), is
/// refused with EINVAL.
pub fn refused(cmd: u32, head: &[u8]) -> bool {
    let Some(at) = syncobj_count_at(cmd) else {
        return false;
    };
    // A field past the caller's argument is zero to the core: an empty array, which the
    // core refuses itself.
    let count = head
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes);
    count > SYNCOBJ_HANDLES_MAX
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::ioc::{ioc, IOC_READ, IOC_WRITE};

    const WAIT: u32 = ioc(IOC_READ | IOC_WRITE, b'd', 0xc3, 40);
    const SIGNAL: u32 = ioc(IOC_READ | IOC_WRITE, b'd', 0xc5, 16);
    const GET_CAP: u32 = ioc(IOC_READ | IOC_WRITE, b'd', 0x0c, 16);

    fn with_count(len: usize, at: usize, count: u32) -> Vec<u8> {
        let mut arg = vec![0u8; len];
        arg[at..at + 4].copy_from_slice(&count.to_ne_bytes());
        arg
    }

    #[test]
    fn counts_up_to_the_cap_pass_and_above_are_refused() {
        assert_eq!(head_needed(WAIT), 20);
        assert!(!refused(WAIT, &with_count(20, 16, SYNCOBJ_HANDLES_MAX)));
        assert!(refused(WAIT, &with_count(20, 16, SYNCOBJ_HANDLES_MAX + 1)));
        assert!(refused(SIGNAL, &with_count(12, 8, u32::MAX)));
        assert!(!refused(SIGNAL, &with_count(12, 8, 3)));
    }

    #[test]
    fn other_calls_and_short_arguments_are_not_refused() {
        assert_eq!(head_needed(GET_CAP), 0);
        assert!(!refused(GET_CAP, &with_count(16, 8, u32::MAX)));
        // An old, shorter argument that ends before the count: the core reads zero.
        let short = ioc(IOC_READ | IOC_WRITE, b'd', 0xc3, 8);
        assert_eq!(head_needed(short), 8);
        assert!(!refused(short, &[0xff; 8]));
        // Another driver's letter with the same number.
        let other = ioc(IOC_READ | IOC_WRITE, b'F', 0xc3, 40);
        assert_eq!(head_needed(other), 0);
    }
}
