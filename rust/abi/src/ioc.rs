//! Linux ioctl number encoding (`_IOC`) for x86_64 and the other asm-generic architectures.

/// No data transfer.
pub const IOC_NONE: u32 = 0;
/// Userspace writes, the driver reads.
pub const IOC_WRITE: u32 = 1;
/// The driver writes, userspace reads.
pub const IOC_READ: u32 = 2;

const NR_SHIFT: u32 = 0;
const TYPE_SHIFT: u32 = 8;
const SIZE_SHIFT: u32 = 16;
const DIR_SHIFT: u32 = 30;
/// Largest argument size an ioctl number can carry (14 bits).
pub const IOC_SIZE_MAX: u32 = (1 << 14) - 1;

/// Builds an ioctl number (`_IOC`).
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    (dir << DIR_SHIFT)
        | ((size as u32 & IOC_SIZE_MAX) << SIZE_SHIFT)
        | ((ty as u32) << TYPE_SHIFT)
        | ((nr as u32) << NR_SHIFT)
}

/// `_IO`: no argument.
pub const fn io(ty: u8, nr: u8) -> u32 {
    ioc(IOC_NONE, ty, nr, 0)
}

/// `_IOW`: the driver reads a `T`.
pub const fn iow<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_WRITE, ty, nr, core::mem::size_of::<T>())
}

/// `_IOR`: the driver writes a `T`.
pub const fn ior<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_READ, ty, nr, core::mem::size_of::<T>())
}

/// `_IOWR`: the driver reads and writes a `T`.
pub const fn iowr<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, core::mem::size_of::<T>())
}

/// The parts of an ioctl number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IocParts {
    /// Direction bits ([`IOC_READ`] | [`IOC_WRITE`]).
    pub dir: u32,
    /// Type (the driver's letter).
    pub ty: u8,
    /// Command number within the type.
    pub nr: u8,
    /// Argument size in bytes.
    pub size: u32,
}

/// Splits an ioctl number into its parts.
pub const fn decode(cmd: u32) -> IocParts {
    IocParts {
        dir: cmd >> DIR_SHIFT,
        ty: (cmd >> TYPE_SHIFT) as u8,
        nr: (cmd >> NR_SHIFT) as u8,
        size: (cmd >> SIZE_SHIFT) & IOC_SIZE_MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_known_numbers() {
        // DRM_IOCTL_VERSION = _IOWR('d', 0x00, struct drm_version) = 0xc0406400.
        assert_eq!(iowr::<[u8; 64]>(b'd', 0), 0xc040_6400);
        // NV_ESC_RM_ALLOC = _IOWR('F', 0x2b, NVOS21) on 32 bytes = 0xc020462b.
        assert_eq!(iowr::<[u8; 32]>(b'F', 0x2b), 0xc020_462b);
        assert_eq!(io(b'd', 1), 0x6401);
    }

    proptest! {
        #[test]
        fn decode_inverts_ioc(dir in 0u32..4, ty: u8, nr: u8, size in 0usize..=IOC_SIZE_MAX as usize) {
            let p = decode(ioc(dir, ty, nr, size));
            prop_assert_eq!(p, IocParts { dir, ty, nr, size: size as u32 });
        }
    }
}
