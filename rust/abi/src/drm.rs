//! The DRM uapi subset fakegpu's tests and meters use (`include/uapi/drm/drm.h`,
//! `drm_mode.h`), with x86_64 layouts checked at compile time.

use super::ioc::{iow, iowr};
use core::mem::{offset_of, size_of};

/// `struct drm_version`: driver name, date and description (userspace buffers).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DrmVersion {
    /// Major version.
    pub version_major: i32,
    /// Minor version.
    pub version_minor: i32,
    /// Patch level.
    pub version_patchlevel: i32,
    /// Padding (the next field is 8-aligned).
    pub pad: i32,
    /// In: size of `name`; out: length of the name.
    pub name_len: u64,
    /// User pointer to the name buffer.
    pub name: u64,
    /// In: size of `date`; out: length of the date.
    pub date_len: u64,
    /// User pointer to the date buffer.
    pub date: u64,
    /// In: size of `desc`; out: length of the description.
    pub desc_len: u64,
    /// User pointer to the description buffer.
    pub desc: u64,
}

/// `struct drm_get_cap`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DrmGetCap {
    /// Which capability (`DRM_CAP_*`).
    pub capability: u64,
    /// Its value.
    pub value: u64,
}

/// `struct drm_mode_create_dumb`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DrmModeCreateDumb {
    /// Height in pixels.
    pub height: u32,
    /// Width in pixels.
    pub width: u32,
    /// Bits per pixel.
    pub bpp: u32,
    /// Must be zero.
    pub flags: u32,
    /// Out: GEM handle.
    pub handle: u32,
    /// Out: bytes per row.
    pub pitch: u32,
    /// Out: object size in bytes.
    pub size: u64,
}

// SAFETY: `#[repr(C)]`, integers only, no gaps (size and the offset of `size` asserted
// below: 6 x u32 then a u64 at 24).
unsafe impl super::pod::Pod for DrmModeCreateDumb {}

/// `struct drm_mode_map_dumb`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DrmModeMapDumb {
    /// GEM handle.
    pub handle: u32,
    /// Padding.
    pub pad: u32,
    /// Out: fake offset to pass to mmap.
    pub offset: u64,
}

/// `struct drm_mode_destroy_dumb`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DrmModeDestroyDumb {
    /// GEM handle.
    pub handle: u32,
}

/// `struct drm_prime_handle`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DrmPrimeHandle {
    /// GEM handle.
    pub handle: u32,
    /// `DRM_CLOEXEC` / `DRM_RDWR` when exporting.
    pub flags: u32,
    /// The dma-buf fd.
    pub fd: i32,
}

/// `struct drm_gem_close`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct DrmGemClose {
    /// GEM handle.
    pub handle: u32,
    /// Padding.
    pub pad: u32,
}

const _: () = {
    assert!(size_of::<DrmVersion>() == 64);
    assert!(offset_of!(DrmVersion, name_len) == 16);
    assert!(offset_of!(DrmVersion, desc) == 56);
    assert!(size_of::<DrmGetCap>() == 16);
    assert!(size_of::<DrmModeCreateDumb>() == 32);
    assert!(offset_of!(DrmModeCreateDumb, size) == 24);
    assert!(size_of::<DrmModeMapDumb>() == 16);
    assert!(size_of::<DrmModeDestroyDumb>() == 4);
    assert!(size_of::<DrmPrimeHandle>() == 12);
    assert!(size_of::<DrmGemClose>() == 8);
};

/// ioctl type letter of DRM.
pub const DRM_IOCTL_BASE: u8 = b'd';
/// `DRM_IOCTL_VERSION`.
pub const DRM_IOCTL_VERSION: u32 = iowr::<DrmVersion>(DRM_IOCTL_BASE, 0x00);
/// `DRM_IOCTL_GEM_CLOSE`.
pub const DRM_IOCTL_GEM_CLOSE: u32 = iow::<DrmGemClose>(DRM_IOCTL_BASE, 0x09);
/// `DRM_IOCTL_GET_CAP`.
pub const DRM_IOCTL_GET_CAP: u32 = iowr::<DrmGetCap>(DRM_IOCTL_BASE, 0x0c);
/// `DRM_IOCTL_PRIME_HANDLE_TO_FD`.
pub const DRM_IOCTL_PRIME_HANDLE_TO_FD: u32 = iowr::<DrmPrimeHandle>(DRM_IOCTL_BASE, 0x2d);
/// `DRM_IOCTL_PRIME_FD_TO_HANDLE`.
pub const DRM_IOCTL_PRIME_FD_TO_HANDLE: u32 = iowr::<DrmPrimeHandle>(DRM_IOCTL_BASE, 0x2e);
/// Whether ioctl `cmd` on a node of DRM driver `driver` submits GPU work: the calls fakegpu
/// counts and rate-limits. virtio-gpu: EXECBUFFER. vgem has none (its fence ioctls do no
/// work).
pub const fn is_submission(driver: &[u8], cmd: u32) -> bool {
    matches!(driver, b"virtio_gpu") && cmd == DRM_IOCTL_VIRTGPU_EXECBUFFER
}

/// `DRM_IOCTL_VIRTGPU_EXECBUFFER`: `_IOWR('d', 0x42, struct drm_virtgpu_execbuffer)`, 64 bytes.
pub const DRM_IOCTL_VIRTGPU_EXECBUFFER: u32 = super::ioc::ioc(
    super::ioc::IOC_READ | super::ioc::IOC_WRITE,
    DRM_IOCTL_BASE,
    0x42,
    64,
);

/// `DRM_IOCTL_VIRTGPU_RESOURCE_CREATE`: `_IOWR('d', 0x44, struct
/// drm_virtgpu_resource_create)`, 56 bytes: ten u32 of format and dimensions, then
/// `bo_handle`@40 (out), `res_handle`@44 (out), `size`@48 (bytes; 0 = one page), `stride`@52.
pub const DRM_IOCTL_VIRTGPU_RESOURCE_CREATE: u32 = super::ioc::ioc(
    super::ioc::IOC_READ | super::ioc::IOC_WRITE,
    DRM_IOCTL_BASE,
    0x44,
    56,
);

/// `DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB`: `_IOWR('d', 0x4a, struct
/// drm_virtgpu_resource_create_blob)`, 48 bytes: `blob_mem`@0, `blob_flags`@4, `bo_handle`@8
/// (out), `res_handle`@12 (out), `size`@16 (u64), `cmd_size`@28, `cmd`@32 (a pointer to
/// `cmd_size` bytes of host commands), `blob_id`@40.
pub const DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB: u32 = super::ioc::ioc(
    super::ioc::IOC_READ | super::ioc::IOC_WRITE,
    DRM_IOCTL_BASE,
    0x4a,
    48,
);

/// A DRM ioctl that creates a buffer object, as the meter makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferCreation {
    /// Size of the ioctl's argument struct.
    pub arg_size: usize,
    /// Where in the struct the driver writes the new object's GEM handle.
    pub handle_at: usize,
    /// A block the driver also reads: where its pointer (u64) and its length (u32) sit.
    pub block: Option<(usize, usize)>,
}

/// The buffer-creating ioctls of DRM driver `driver` that fakegpu meters: dumb buffers on
/// every driver, and virtio-gpu's RESOURCE_CREATE and RESOURCE_CREATE_BLOB. (vgem creates
/// buffers only as dumb buffers.)
pub fn buffer_creation(driver: &[u8], cmd: u32) -> Option<BufferCreation> {
    match (driver, cmd) {
        (_, DRM_IOCTL_MODE_CREATE_DUMB) => Some(BufferCreation {
            arg_size: size_of::<DrmModeCreateDumb>(),
            handle_at: offset_of!(DrmModeCreateDumb, handle),
            block: None,
        }),
        (b"virtio_gpu", DRM_IOCTL_VIRTGPU_RESOURCE_CREATE) => Some(BufferCreation {
            arg_size: 56,
            handle_at: 40,
            block: None,
        }),
        (b"virtio_gpu", DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB) => Some(BufferCreation {
            arg_size: 48,
            handle_at: 8,
            block: Some((32, 28)),
        }),
        _ => None,
    }
}

/// The least a buffer-creating call `cmd` with argument `arg` makes the driver allocate, in
/// whole pages (drivers round up, never down): the charge taken before the call. `None` if
/// the request overflows or is unreadable (the driver refuses those).
pub fn least_buffer_size(cmd: u32, arg: &[u8]) -> Option<u64> {
    let pages = |size: u64| size.checked_next_multiple_of(4096);
    let word = |at: usize| {
        arg.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_ne_bytes)
    };
    match cmd {
        DRM_IOCTL_MODE_CREATE_DUMB => {
            // The DRM core's pitch (width times whole bytes per pixel) times the height.
            let (height, width, bpp) = (word(0)?, word(4)?, word(8)?);
            let cpp = u64::from(bpp).div_ceil(8);
            pages(
                u64::from(width)
                    .checked_mul(cpp)?
                    .checked_mul(u64::from(height))?,
            )
        }
        // A zero size asks for one page.
        DRM_IOCTL_VIRTGPU_RESOURCE_CREATE => pages(u64::from(word(48)?).max(1)),
        DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB => {
            let size = u64::from(word(16)?) | u64::from(word(20)?) << 32;
            pages(size)
        }
        _ => None,
    }
}

/// The DRM core's syncobj ioctls that take an array of handles, by ioctl number: where the
/// handle count (u32) sits in their argument (`drm_syncobj_wait`, `drm_syncobj_array`,
/// `drm_syncobj_timeline_wait`, `drm_syncobj_timeline_array`). The core matches its own
/// ioctls by number alone and zero-fills a shorter argument, so the number is what counts.
pub const SYNCOBJ_ARRAY_COUNT_AT: [(u8, usize); 6] = [
    (0xc3, 16), // SYNCOBJ_WAIT
    (0xc4, 8),  // SYNCOBJ_RESET
    (0xc5, 8),  // SYNCOBJ_SIGNAL
    (0xca, 24), // SYNCOBJ_TIMELINE_WAIT
    (0xcb, 16), // SYNCOBJ_QUERY
    (0xcd, 16), // SYNCOBJ_TIMELINE_SIGNAL
];

/// Where ioctl `cmd`'s handle count sits, if it is a syncobj array ioctl.
pub fn syncobj_count_at(cmd: u32) -> Option<usize> {
    let parts = super::ioc::decode(cmd);
    if parts.ty != DRM_IOCTL_BASE {
        return None;
    }
    SYNCOBJ_ARRAY_COUNT_AT
        .iter()
        .find(|(nr, _)| *nr == parts.nr)
        .map(|&(_, at)| at)
}

/// `DRM_IOCTL_MODE_CREATE_DUMB`.
pub const DRM_IOCTL_MODE_CREATE_DUMB: u32 = iowr::<DrmModeCreateDumb>(DRM_IOCTL_BASE, 0xb2);
/// `DRM_IOCTL_MODE_MAP_DUMB`.
pub const DRM_IOCTL_MODE_MAP_DUMB: u32 = iowr::<DrmModeMapDumb>(DRM_IOCTL_BASE, 0xb3);
/// `DRM_IOCTL_MODE_DESTROY_DUMB`.
pub const DRM_IOCTL_MODE_DESTROY_DUMB: u32 = iowr::<DrmModeDestroyDumb>(DRM_IOCTL_BASE, 0xb4);

/// `DRM_CAP_DUMB_BUFFER`.
pub const DRM_CAP_DUMB_BUFFER: u64 = 0x1;
/// `DRM_CAP_PRIME`.
pub const DRM_CAP_PRIME: u64 = 0x5;
/// `DRM_CLOEXEC` (= `O_CLOEXEC`).
pub const DRM_CLOEXEC: u32 = 0o2000000;
/// `DRM_RDWR` (= `O_RDWR`).
pub const DRM_RDWR: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_uapi_headers() {
        assert_eq!(DRM_IOCTL_VERSION, 0xc040_6400);
        assert_eq!(DRM_IOCTL_GEM_CLOSE, 0x4008_6409);
        assert_eq!(DRM_IOCTL_GET_CAP, 0xc010_640c);
        assert_eq!(DRM_IOCTL_PRIME_HANDLE_TO_FD, 0xc00c_642d);
        assert_eq!(DRM_IOCTL_MODE_CREATE_DUMB, 0xc020_64b2);
        assert_eq!(DRM_IOCTL_MODE_MAP_DUMB, 0xc010_64b3);
        assert_eq!(DRM_IOCTL_MODE_DESTROY_DUMB, 0xc004_64b4);
        assert_eq!(DRM_IOCTL_VIRTGPU_EXECBUFFER, 0xc040_6442);
        assert!(is_submission(b"virtio_gpu", DRM_IOCTL_VIRTGPU_EXECBUFFER));
        assert!(!is_submission(b"vgem", DRM_IOCTL_VIRTGPU_EXECBUFFER));
    }

    #[test]
    fn buffer_sizes_charged_before_the_call() {
        let mut dumb = [0u8; 32];
        for (at, v) in [(0, 64u32), (4, 100), (8, 24)] {
            dumb[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        }
        // 100 x 3 bytes x 64 rows = 19200 bytes: five pages.
        assert_eq!(
            least_buffer_size(DRM_IOCTL_MODE_CREATE_DUMB, &dumb),
            Some(5 * 4096)
        );
        let mut rc = [0u8; 56];
        assert_eq!(
            least_buffer_size(DRM_IOCTL_VIRTGPU_RESOURCE_CREATE, &rc),
            Some(4096),
            "size 0 is one page"
        );
        rc[48..52].copy_from_slice(&(1u32 << 20 | 1).to_ne_bytes());
        assert_eq!(
            least_buffer_size(DRM_IOCTL_VIRTGPU_RESOURCE_CREATE, &rc),
            Some((1 << 20) + 4096)
        );
        let mut blob = [0u8; 48];
        blob[16..24].copy_from_slice(&u64::MAX.to_ne_bytes());
        assert_eq!(
            least_buffer_size(DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB, &blob),
            None
        );
        assert_eq!(
            least_buffer_size(DRM_IOCTL_VIRTGPU_RESOURCE_CREATE, &[0; 8]),
            None
        );
        assert_eq!(DRM_IOCTL_VIRTGPU_RESOURCE_CREATE, 0xc038_6444);
        assert_eq!(DRM_IOCTL_VIRTGPU_RESOURCE_CREATE_BLOB, 0xc030_644a);
        assert!(buffer_creation(b"vgem", DRM_IOCTL_VIRTGPU_RESOURCE_CREATE).is_none());
        assert!(buffer_creation(b"vgem", DRM_IOCTL_MODE_CREATE_DUMB).is_some());
    }
}
