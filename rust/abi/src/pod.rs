//! Plain-old-data ABI structs read from and written to byte buffers (ioctl parameters
//! copied in from userspace), without alignment assumptions.

use core::mem::size_of;

/// A `#[repr(C)]` ABI struct that is valid for every bit pattern and has no implicit
/// padding (every gap is a named field), so it can be read from and written as bytes.
///
/// # Safety
///
/// Implement only for `#[repr(C)]` types made of integers and arrays of integers, with
/// explicit padding fields, whose size is the sum of their fields' sizes.
pub unsafe trait Pod: Copy + 'static {}

// SAFETY: integers are valid for every bit pattern and have no padding.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: an array of plain data has no padding between its elements and is valid for
// every bit pattern its elements are.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// Reads a `T` from the start of `bytes`; `None` if `bytes` is too short.
pub fn read_pod<T: Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: `bytes` holds at least `size_of::<T>()` bytes, and `T: Pod` is valid for any
    // bit pattern; `read_unaligned` needs no alignment.
    Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Writes `value` at the start of `bytes`; `false` (nothing written) if it does not fit.
pub fn write_pod<T: Pod>(bytes: &mut [u8], value: &T) -> bool {
    // SAFETY: `T: Pod` has no implicit padding, so all its `size_of::<T>()` bytes are
    // initialised and may be viewed as `u8`.
    let src = unsafe {
        core::slice::from_raw_parts(core::ptr::from_ref(value).cast::<u8>(), size_of::<T>())
    };
    match bytes.get_mut(..src.len()) {
        Some(dst) => {
            dst.copy_from_slice(src);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nv_frontend::NvIoctlXfer;

    #[test]
    fn round_trips_unaligned() {
        let x = NvIoctlXfer {
            cmd: 0x2a,
            size: 32,
            ptr: 0xdead_beef,
        };
        let mut buf = [0u8; 17];
        assert!(write_pod(&mut buf[1..], &x));
        assert_eq!(read_pod::<NvIoctlXfer>(&buf[1..]), Some(x));
        assert!(read_pod::<NvIoctlXfer>(&buf[2..]).is_none());
        assert!(!write_pod(&mut buf[2..], &x));
    }
}
