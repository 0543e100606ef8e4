//! DRM calls the tests make, on top of the shared ABI definitions.

use crate::sys::{ioctl, Mapping};
use abi::drm::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Result of a failed call: the errno.
pub type Errno = i32;

/// `DRM_IOCTL_VERSION`: (driver name, major, minor).
pub fn version(fd: &impl AsRawFd) -> Result<(String, i32, i32), Errno> {
    let mut name = [0u8; 64];
    let mut v = DrmVersion {
        name_len: name.len() as u64,
        name: name.as_mut_ptr() as u64,
        ..Default::default()
    };
    ioctl(fd, DRM_IOCTL_VERSION, &mut v)?;
    let len = (v.name_len as usize).min(name.len());
    let text = String::from_utf8_lossy(&name[..len]).into_owned();
    Ok((text, v.version_major, v.version_minor))
}

/// `DRM_IOCTL_GET_CAP`.
pub fn get_cap(fd: &impl AsRawFd, cap: u64) -> Result<u64, Errno> {
    let mut c = DrmGetCap {
        capability: cap,
        value: 0,
    };
    ioctl(fd, DRM_IOCTL_GET_CAP, &mut c)?;
    Ok(c.value)
}

/// A dumb buffer: (handle, pitch, size).
pub fn create_dumb(fd: &impl AsRawFd, width: u32, height: u32) -> Result<DrmModeCreateDumb, Errno> {
    let mut c = DrmModeCreateDumb {
        width,
        height,
        bpp: 32,
        ..Default::default()
    };
    ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &mut c)?;
    Ok(c)
}

/// The mmap offset of a dumb buffer.
pub fn map_dumb(fd: &impl AsRawFd, handle: u32) -> Result<u64, Errno> {
    let mut m = DrmModeMapDumb {
        handle,
        ..Default::default()
    };
    ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &mut m)?;
    Ok(m.offset)
}

/// Destroys a dumb buffer handle.
pub fn destroy_dumb(fd: &impl AsRawFd, handle: u32) -> Result<(), Errno> {
    let mut d = DrmModeDestroyDumb { handle };
    ioctl(fd, DRM_IOCTL_MODE_DESTROY_DUMB, &mut d).map(|_| ())
}

/// Exports a handle as a dma-buf fd.
pub fn prime_export(fd: &impl AsRawFd, handle: u32) -> Result<OwnedFd, Errno> {
    let mut p = DrmPrimeHandle {
        handle,
        flags: DRM_CLOEXEC | DRM_RDWR,
        fd: -1,
    };
    ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &mut p)?;
    // SAFETY: the kernel installed a new fd for us.
    Ok(unsafe { OwnedFd::from_raw_fd(p.fd) })
}

/// Imports a dma-buf fd as a handle.
pub fn prime_import(fd: &impl AsRawFd, dmabuf: &impl AsRawFd) -> Result<u32, Errno> {
    let mut p = DrmPrimeHandle {
        fd: dmabuf.as_raw_fd(),
        ..Default::default()
    };
    ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &mut p)?;
    Ok(p.handle)
}

/// Maps a dumb buffer of `fd` shared and read-write.
pub fn mmap_dumb(fd: &impl AsRawFd, handle: u32, size: usize) -> Result<Mapping, String> {
    let offset = map_dumb(fd, handle).map_err(|e| format!("MAP_DUMB: errno {e}"))?;
    Mapping::shared(fd.as_raw_fd(), size, offset).map_err(|e| format!("mmap: {e}"))
}
