//! Calls on the NVIDIA driver's nodes as libcuda makes them, on the shared ABI definitions:
//! used by the `nv-client` scenarios and by the VM test cases.

pub mod rm;

use abi::pod::Pod;
use std::os::fd::AsRawFd;

/// `ioctl(fd, cmd, &mut params)`: the errno on failure.
pub fn ioctl<T: Pod>(fd: &impl AsRawFd, cmd: u32, params: &mut T) -> Result<i32, i32> {
    // SAFETY: `params` is a live, writable `T`, the size `cmd` encodes or the command expects.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as libc::c_ulong, params as *mut T) };
    if r < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}
