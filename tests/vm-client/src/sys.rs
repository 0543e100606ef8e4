//! Thin, checked wrappers over the system calls the tests make.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Opens `path` read-write.
pub fn open_rw(path: &str) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated path.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Issues `ioctl(fd, cmd, arg)` with a pointer to `arg`; returns the errno on failure.
pub fn ioctl<T>(fd: &impl AsRawFd, cmd: u32, arg: &mut T) -> Result<i32, i32> {
    // SAFETY: `arg` is a live, writable `T`, the size `cmd` encodes.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as libc::c_ulong, arg as *mut T) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// Issues `ioctl(fd, cmd, arg)` with a raw argument (possibly an invalid pointer on purpose).
pub fn ioctl_raw(fd: RawFd, cmd: u32, arg: usize) -> Result<i32, i32> {
    // SAFETY: the kernel validates `arg`; an invalid pointer yields EFAULT, not UB here.
    let r = unsafe { libc::ioctl(fd, cmd as libc::c_ulong, arg) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// The calling thread's errno.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A shared mapping, unmapped on drop.
pub struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset`, shared and read-write.
    pub fn shared(fd: RawFd, len: usize, offset: u64) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping chosen by the kernel; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Maps `len` bytes of fresh anonymous memory, private and read-write (page-aligned).
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh mapping chosen by the kernel; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is mapped readable for as long as `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The mapped bytes, writable.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and mapped writable.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// Start address, as /proc/self/maps shows it.
    pub fn addr(&self) -> usize {
        self.ptr as usize
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what `shared` mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Polls one fd for `events` with a timeout in ms; returns the revents.
pub fn poll_one(fd: RawFd, events: i16, timeout_ms: i32) -> io::Result<i16> {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(p.revents)
}

/// Device number (`st_rdev`) of the file behind `fd`.
pub fn fd_rdev(fd: RawFd) -> io::Result<u64> {
    // SAFETY: zeroed `stat` is a valid out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is writable.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.st_rdev)
}

/// Runs `command` (a path or a name on PATH, with its arguments) as root without
/// CAP_SYS_ADMIN: the capability leaves the bounding set, so the exec does not grant it
/// again, and the inheritable, permitted and effective sets. Returns only on failure.
pub fn exec_without_cap_sys_admin(command: &[String]) -> String {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = command.split_first() else {
        return "no command given".into();
    };
    // SAFETY: prctl with integer arguments only.
    if unsafe {
        libc::prctl(
            libc::PR_CAPBSET_DROP,
            CAP_SYS_ADMIN as libc::c_ulong,
            0,
            0,
            0,
        )
    } != 0
    {
        return format!("PR_CAPBSET_DROP: {}", io::Error::last_os_error());
    }
    if let Err(e) = set_caps(|d| {
        d.effective &= !(1 << CAP_SYS_ADMIN);
        d.permitted &= !(1 << CAP_SYS_ADMIN);
        d.inheritable &= !(1 << CAP_SYS_ADMIN);
    }) {
        return e;
    }
    let e = std::process::Command::new(program).args(args).exec();
    format!("{program}: {e}")
}

/// CAP_SYS_ADMIN's number (in the first capability word).
const CAP_SYS_ADMIN: u32 = 21;

/// Drops CAP_SYS_ADMIN from this process's effective set (capset).
pub fn drop_cap_sys_admin() -> Result<(), String> {
    set_caps(|d| d.effective &= !(1 << CAP_SYS_ADMIN))
}

/// Reads this process's capability sets (the first word: capabilities 0-31), lets `change`
/// edit them and sets them.
fn set_caps(change: impl FnOnce(&mut CapData)) -> Result<(), String> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    let mut header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget/capset with a valid header and two data words (version 3).
    unsafe {
        if libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        ) != 0
        {
            return Err("capget failed".into());
        }
        change(&mut data[0]);
        if libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) != 0 {
            return Err("capset failed".into());
        }
    }
    Ok(())
}

/// One word of capability sets (`struct __user_cap_data_struct`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
