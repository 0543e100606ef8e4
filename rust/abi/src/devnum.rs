//! Character device numbers as the kernel encodes them in `dev_t`.

use core::fmt;

/// Bits of a `dev_t` that hold the minor number (`MINORBITS` in the kernel).
pub const MINOR_BITS: u32 = 20;
/// Largest major number the kernel accepts for a character device (`CHRDEV_MAJOR_MAX - 1`).
pub const MAJOR_MAX: u32 = 511;
/// Largest minor number a `dev_t` can hold.
pub const MINOR_MAX: u32 = (1 << MINOR_BITS) - 1;

/// A character device number, `major:minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DevNum {
    /// Major number: which driver.
    pub major: u32,
    /// Minor number: which device of that driver.
    pub minor: u32,
}

impl DevNum {
    /// Builds a device number, or `None` if either part is out of the kernel's range.
    pub const fn new(major: u32, minor: u32) -> Option<Self> {
        if major > MAJOR_MAX || minor > MINOR_MAX {
            None
        } else {
            Some(Self { major, minor })
        }
    }

    /// The kernel's internal `dev_t` encoding (`MKDEV`).
    pub const fn to_kernel_dev_t(self) -> u32 {
        (self.major << MINOR_BITS) | self.minor
    }

    /// Decodes a kernel-internal `dev_t` (`MAJOR`/`MINOR`).
    pub const fn from_kernel_dev_t(dev: u32) -> Self {
        Self {
            major: dev >> MINOR_BITS,
            minor: dev & MINOR_MAX,
        }
    }

    /// Decodes the userspace `st_rdev` encoding (glibc's `major()`/`minor()`).
    pub const fn from_user_rdev(rdev: u64) -> Self {
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
        let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
        Self {
            major: major as u32,
            minor: minor as u32,
        }
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_out_of_range() {
        assert!(DevNum::new(512, 0).is_none());
        assert!(DevNum::new(0, 1 << 20).is_none());
        assert_eq!(
            DevNum::new(226, 128),
            Some(DevNum {
                major: 226,
                minor: 128
            })
        );
    }

    #[test]
    fn user_rdev_matches_glibc_makedev() {
        // glibc: makedev(226, 128) == 0xe280, makedev(195, 255) == 0xc3ff.
        assert_eq!(
            DevNum::from_user_rdev(0xe280),
            DevNum {
                major: 226,
                minor: 128
            }
        );
        assert_eq!(
            DevNum::from_user_rdev(0xc3ff),
            DevNum {
                major: 195,
                minor: 255
            }
        );
    }

    proptest! {
        #[test]
        fn kernel_dev_t_round_trips(major in 0u32..=MAJOR_MAX, minor in 0u32..=MINOR_MAX) {
            let d = DevNum::new(major, minor).unwrap();
            prop_assert_eq!(DevNum::from_kernel_dev_t(d.to_kernel_dev_t()), d);
        }
    }
}
