//! The pass-through test cases: fakegpu in front of vgem (and a generic char device).

use crate::drm::{self, Errno};
use crate::sys::{self, fd_rdev, ioctl_raw, open_rw, poll_one, Mapping};
use crate::{ensure, env, Case};
use abi::devnum::DevNum;
use abi::drm::*;
use abi::ioc::{io, iowr};
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::process::Command;

/// Every case, in the order the suite runs them.
pub const ALL: &[Case] = &[
    ("drm_version_reports_vgem", drm_version_reports_vgem),
    ("fake_node_numbers", fake_node_numbers),
    (
        "dumb_pattern_through_two_maps_and_prime",
        dumb_pattern_through_two_maps_and_prime,
    ),
    ("prime_export_yields_dmabuf", prime_export_yields_dmabuf),
    ("poll_matches_real_node", poll_matches_real_node),
    ("bad_input_gets_driver_errno", bad_input_gets_driver_errno),
    ("syncobj_arrays_capped", syncobj_arrays_capped),
    ("unconfigured_minor_is_enxio", unconfigured_minor_is_enxio),
    ("real_file_never_in_fd_table", real_file_never_in_fd_table),
    ("map_files_reopen_refused", map_files_reopen_refused),
    ("generic_front_reads_zero", generic_front_reads_zero),
    ("fdinfo_readable", fdinfo_readable),
    (
        "concurrent_open_ioctl_mmap_close",
        concurrent_open_ioctl_mmap_close,
    ),
    ("mapping_outlives_module", mapping_outlives_module),
];

fn open_fake() -> Result<OwnedFd, String> {
    let path = env("FAKE_CARD")?;
    open_rw(&path).map_err(|e| format!("open {path}: {e}"))
}

fn open_real() -> Result<OwnedFd, String> {
    let path = env("REAL_CARD")?;
    open_rw(&path).map_err(|e| format!("open {path}: {e}"))
}

fn errno_str(e: Errno) -> String {
    std::io::Error::from_raw_os_error(e).to_string()
}

fn drm_version_reports_vgem() -> Result<(), String> {
    let fake = open_fake()?;
    let real = open_real()?;
    let through = drm::version(&fake).map_err(|e| format!("VERSION on fake: {}", errno_str(e)))?;
    let direct = drm::version(&real).map_err(|e| format!("VERSION on real: {}", errno_str(e)))?;
    println!("fake node: {through:?}; real node: {direct:?}");
    ensure(through.0 == "vgem", || {
        format!("driver name {:?}, want vgem", through.0)
    })?;
    ensure(through == direct, || "fake and real answers differ".into())
}

/// The fake node has the fakedri major and the real minor, and fstat shows it (not the real).
fn fake_node_numbers() -> Result<(), String> {
    let fake = open_fake()?;
    let real = open_real()?;
    let fake_dev = DevNum::from_user_rdev(fd_rdev(fake.as_raw_fd()).map_err(|e| e.to_string())?);
    let real_dev = DevNum::from_user_rdev(fd_rdev(real.as_raw_fd()).map_err(|e| e.to_string())?);
    let major = proc_devices_major("fakedri")?;
    println!("fake {fake_dev}, real {real_dev}, fakedri major {major}");
    ensure(fake_dev.major == major, || {
        format!("fake major {} != fakedri {major}", fake_dev.major)
    })?;
    ensure(fake_dev.minor == real_dev.minor, || {
        "fake minor differs from the real minor".into()
    })?;
    ensure(real_dev.major == FAKE_DRM_REAL_MAJOR, || {
        "real node is not a DRM node".into()
    })
}

const FAKE_DRM_REAL_MAJOR: u32 = 226;

/// The major registered under `name` in /proc/devices.
fn proc_devices_major(name: &str) -> Result<u32, String> {
    let text = std::fs::read_to_string("/proc/devices").map_err(|e| e.to_string())?;
    text.lines()
        .filter_map(|l| l.trim().split_once(' '))
        .find(|(_, n)| *n == name)
        .and_then(|(m, _)| m.parse().ok())
        .ok_or_else(|| format!("{name} not in /proc/devices"))
}

pub(crate) fn fill_pattern(buf: &mut [u8], seed: u8) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
}

pub(crate) fn check_pattern(buf: &[u8], seed: u8, what: &str) -> Result<(), String> {
    let mut want = vec![0u8; buf.len()];
    fill_pattern(&mut want, seed);
    match buf.iter().zip(&want).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{what}: byte {i} is {:#x}, want {:#x}",
            buf[i], want[i]
        )),
    }
}

fn dumb_pattern_through_two_maps_and_prime() -> Result<(), String> {
    let fake = open_fake()?;
    let bo =
        drm::create_dumb(&fake, 64, 64).map_err(|e| format!("CREATE_DUMB: {}", errno_str(e)))?;
    let size = bo.size as usize;
    ensure(size >= 64 * 64 * 4, || {
        format!("dumb size {size} too small")
    })?;
    let mut first = drm::mmap_dumb(&fake, bo.handle, size)?;
    fill_pattern(first.bytes_mut(), 7);
    let second = drm::mmap_dumb(&fake, bo.handle, size)?;
    ensure(first.addr() != second.addr(), || {
        "second mapping is the first".into()
    })?;
    check_pattern(second.bytes(), 7, "second mapping through the fake node")?;

    // The same memory, seen straight through the real driver: PRIME export on the fake
    // node, import on a direct open of the real node, map it there.
    let dmabuf =
        drm::prime_export(&fake, bo.handle).map_err(|e| format!("export: {}", errno_str(e)))?;
    let real = open_real()?;
    let real_handle =
        drm::prime_import(&real, &dmabuf).map_err(|e| format!("import: {}", errno_str(e)))?;
    let direct = drm::mmap_dumb(&real, real_handle, size)?;
    check_pattern(direct.bytes(), 7, "mapping of the real node")?;
    // And the other way round: a write through the real node shows in the fake mapping.
    drop(direct);
    let mut direct = drm::mmap_dumb(&real, real_handle, size)?;
    fill_pattern(direct.bytes_mut(), 99);
    check_pattern(
        first.bytes(),
        99,
        "fake mapping after a write on the real node",
    )?;
    let via_dmabuf =
        Mapping::shared(dmabuf.as_raw_fd(), size, 0).map_err(|e| format!("mmap dma-buf: {e}"))?;
    check_pattern(via_dmabuf.bytes(), 99, "dma-buf mapping")?;
    drop((first, second, direct, via_dmabuf));
    drm::destroy_dumb(&real, real_handle)
        .map_err(|e| format!("destroy on real: {}", errno_str(e)))?;
    drm::destroy_dumb(&fake, bo.handle)
        .map_err(|e| format!("destroy on fake: {}", errno_str(e)))?;
    println!(
        "{size}-byte dumb buffer: pattern consistent across 2 fake maps, real node and dma-buf"
    );
    Ok(())
}

fn prime_export_yields_dmabuf() -> Result<(), String> {
    let fake = open_fake()?;
    let bo =
        drm::create_dumb(&fake, 32, 32).map_err(|e| format!("CREATE_DUMB: {}", errno_str(e)))?;
    let dmabuf =
        drm::prime_export(&fake, bo.handle).map_err(|e| format!("export: {}", errno_str(e)))?;
    let fd = dmabuf.as_raw_fd();
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|e| e.to_string())?;
    let info =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).map_err(|e| e.to_string())?;
    println!("exported fd -> {}\n{info}", link.display());
    ensure(link.to_string_lossy().contains("dmabuf"), || {
        format!("{} is not a dma-buf", link.display())
    })?;
    ensure(info.contains("exp_name:"), || {
        "fdinfo lacks exp_name".into()
    })?;
    let size_line = format!("size:\t{}", bo.size);
    ensure(info.contains(&size_line), || {
        format!("fdinfo lacks {size_line:?}")
    })?;
    drm::destroy_dumb(&fake, bo.handle).map_err(errno_str)
}

fn poll_matches_real_node() -> Result<(), String> {
    let fake = open_fake()?;
    let real = open_real()?;
    let ev = libc::POLLIN | libc::POLLOUT | libc::POLLPRI;
    let f = poll_one(fake.as_raw_fd(), ev, 50).map_err(|e| e.to_string())?;
    let r = poll_one(real.as_raw_fd(), ev, 50).map_err(|e| e.to_string())?;
    println!("DRM revents: fake {f:#x}, real {r:#x}");
    ensure(f == r, || format!("fake revents {f:#x} != real {r:#x}"))?;
    // A driver without poll: the default mask, as for the real file.
    let zf = open_rw(&env("FAKE_ZERO")?).map_err(|e| e.to_string())?;
    let zr = open_rw(&env("REAL_ZERO")?).map_err(|e| e.to_string())?;
    let f = poll_one(zf.as_raw_fd(), ev, 0).map_err(|e| e.to_string())?;
    let r = poll_one(zr.as_raw_fd(), ev, 0).map_err(|e| e.to_string())?;
    println!("/dev/zero revents: fake {f:#x}, real {r:#x}");
    ensure(f == r && f & libc::POLLIN != 0, || {
        format!("fake revents {f:#x} != real {r:#x}")
    })?;
    // epoll accepts the fake node like the real one.
    // SAFETY: plain syscalls on valid fds.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        let mut e = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 1,
        };
        let r = libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fake.as_raw_fd(), &mut e);
        let err = sys::errno();
        libc::close(ep);
        ensure(r == 0, || {
            format!("epoll_ctl on the fake node: {}", errno_str(err))
        })
    }
}

/// Calls the real driver treats as errors get the same errno through the fake node.
/// A syncobj array call naming more handles than `policy::drm_filter` passes gets EINVAL
/// through fakegpu (the DRM core would try to allocate it, and past 4 MiB warn), while one
/// at the cap reaches virtio-gpu's core and succeeds, as does the larger one directly.
fn syncobj_arrays_capped() -> Result<(), String> {
    use policy::drm_filter::SYNCOBJ_HANDLES_MAX;
    const CREATE: u32 = iowr::<[u32; 2]>(DRM_IOCTL_BASE, 0xbf);
    const SIGNAL: u32 = iowr::<[u64; 2]>(DRM_IOCTL_BASE, 0xc5);
    const WAIT: u32 = iowr::<[u64; 5]>(DRM_IOCTL_BASE, 0xc3);
    let open = |var: &str| -> Result<OwnedFd, String> {
        let path = env(var)?;
        open_rw(&path).map_err(|e| format!("open {path}: {e}"))
    };
    let (fake, real) = (open("FAKE_VIRTIO_CARD")?, open("REAL_VIRTIO_CARD")?);
    let signal = |fd: &OwnedFd, handles: &[u32], count: u32| {
        let mut create = [0u32; 2];
        sys::ioctl(fd, CREATE, &mut create)?;
        let handles: Vec<u32> = handles.iter().map(|_| create[0]).collect();
        let mut arg = [handles.as_ptr() as u64, u64::from(count)];
        sys::ioctl(fd, SIGNAL, &mut arg)
    };
    let many = vec![0u32; SYNCOBJ_HANDLES_MAX as usize + 1];
    let over = SYNCOBJ_HANDLES_MAX + 1;
    let results = [
        (
            "at the cap, fake",
            signal(&fake, &many, SYNCOBJ_HANDLES_MAX),
            Ok(0),
        ),
        (
            "one over, fake",
            signal(&fake, &many, over),
            Err(libc::EINVAL),
        ),
        ("one over, real", signal(&real, &many, over), Ok(0)),
        (
            "u32::MAX, fake",
            signal(&fake, &many, u32::MAX),
            Err(libc::EINVAL),
        ),
    ];
    for (what, got, want) in &results {
        println!("SIGNAL {what}: {got:?}");
        ensure(got == want, || {
            format!("SIGNAL {what}: {got:?}, want {want:?}")
        })?;
    }
    // WAIT carries its count further in: 2^31 handles would be an 8 GiB allocation.
    let mut wait = [many.as_ptr() as u64, 0, 1 << 31, 0, 0];
    let got = sys::ioctl(&fake, WAIT, &mut wait);
    ensure(got == Err(libc::EINVAL), || {
        format!("WAIT of 2^31 handles: {got:?}")
    })?;
    let log = Command::new("dmesg").output().map_err(|e| e.to_string())?;
    ensure(
        String::from_utf8_lossy(&log.stdout).contains("a syncobj array larger than fakegpu passes"),
        || "no refusal line in dmesg".into(),
    )
}

fn bad_input_gets_driver_errno() -> Result<(), String> {
    let fake = open_fake()?;
    let real = open_real()?;
    let kernel_ptr = 0xffff_8880_0000_0000usize;
    let calls: &[(&str, u32, usize)] = &[
        ("VERSION, null pointer", DRM_IOCTL_VERSION, 0),
        ("VERSION, unmapped pointer", DRM_IOCTL_VERSION, 0x10),
        ("VERSION, kernel pointer", DRM_IOCTL_VERSION, kernel_ptr),
        (
            "CREATE_DUMB, unmapped pointer",
            DRM_IOCTL_MODE_CREATE_DUMB,
            0x1000,
        ),
        (
            "unknown core ioctl",
            iowr::<[u8; 8]>(DRM_IOCTL_BASE, 0x3f),
            0,
        ),
        (
            "ioctl past the driver range",
            iowr::<[u8; 8]>(DRM_IOCTL_BASE, 0xff),
            0,
        ),
        ("foreign ioctl type", io(b'F', 0x2b), 0),
    ];
    let mut failures = Vec::new();
    for &(what, cmd, arg) in calls {
        let f = ioctl_raw(fake.as_raw_fd(), cmd, arg);
        let r = ioctl_raw(real.as_raw_fd(), cmd, arg);
        println!("{what}: fake {f:?}, real {r:?}");
        if f != r || f.is_ok() {
            failures.push(format!("{what}: fake {f:?}, real {r:?}"));
        }
    }
    // A VERSION whose name buffer is unmapped: the driver's EFAULT from inside the call.
    let mut v = DrmVersion {
        name_len: 16,
        name: 0x20,
        ..Default::default()
    };
    let f = sys::ioctl(&fake, DRM_IOCTL_VERSION, &mut v);
    let mut v = DrmVersion {
        name_len: 16,
        name: 0x20,
        ..Default::default()
    };
    let r = sys::ioctl(&real, DRM_IOCTL_VERSION, &mut v);
    println!("VERSION, unmapped name buffer: fake {f:?}, real {r:?}");
    if f != r || f != Err(libc::EFAULT) {
        failures.push(format!(
            "VERSION with bad name buffer: fake {f:?}, real {r:?}"
        ));
    }
    // Handles that do not exist.
    let f = drm::map_dumb(&fake, 0xdead);
    let r = drm::map_dumb(&real, 0xdead);
    println!("MAP_DUMB, unknown handle: fake {f:?}, real {r:?}");
    if f != r || f.is_ok() {
        failures.push(format!("MAP_DUMB unknown handle: fake {f:?}, real {r:?}"));
    }
    // A mapping at an offset no object owns.
    let bad_map = Mapping::shared(fake.as_raw_fd(), 4096, 0x7fff_0000_0000).err();
    let bad_real = Mapping::shared(real.as_raw_fd(), 4096, 0x7fff_0000_0000).err();
    let (f, r) = (
        bad_map.and_then(|e| e.raw_os_error()),
        bad_real.and_then(|e| e.raw_os_error()),
    );
    println!("mmap at an unowned offset: fake {f:?}, real {r:?}");
    if f != r || f.is_none() {
        failures.push(format!("mmap unowned offset: fake {f:?}, real {r:?}"));
    }
    ensure(failures.is_empty(), || failures.join("; "))
}

fn unconfigured_minor_is_enxio() -> Result<(), String> {
    let major = proc_devices_major("fakedri")?;
    let path = "/tmp/fakedri-unconfigured";
    let _ = std::fs::remove_file(path);
    let dev = libc::makedev(major, 77);
    let c = std::ffi::CString::new(path).map_err(|e| e.to_string())?;
    // SAFETY: valid path; creating a node in the guest's tmpfs.
    if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, dev) } != 0 {
        return Err(format!("mknod: {}", errno_str(sys::errno())));
    }
    let r = open_rw(path);
    let _ = std::fs::remove_file(path);
    match r {
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(()),
        other => Err(format!(
            "open of an unconfigured fake minor gave {other:?}, want ENXIO"
        )),
    }
}

/// After open, ioctls and mmap through the fake node, no fd of the process is a file on the
/// real device.
fn real_file_never_in_fd_table() -> Result<(), String> {
    let fake = open_fake()?;
    let bo = drm::create_dumb(&fake, 16, 16).map_err(errno_str)?;
    let map = drm::mmap_dumb(&fake, bo.handle, bo.size as usize)?;
    let dmabuf = drm::prime_export(&fake, bo.handle).map_err(errno_str)?;
    let real_rdev = std::fs::metadata(env("REAL_CARD")?)
        .map_err(|e| e.to_string())?
        .rdev();
    let mut seen = 0;
    for entry in std::fs::read_dir("/proc/self/fd").map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(rdev) = fd_rdev(fd) {
            let link = std::fs::read_link(entry.path()).unwrap_or_default();
            println!(
                "fd {fd} -> {} (rdev {})",
                link.display(),
                DevNum::from_user_rdev(rdev)
            );
            seen += 1;
            ensure(rdev != real_rdev, || {
                format!("fd {fd} ({}) is a file on the real device", link.display())
            })?;
        }
    }
    drop((map, dmabuf));
    ensure(seen >= 2, || "did not see the test's own fds".into())
}

/// The real file behind a mapping cannot be re-opened through /proc/self/map_files: its
/// private mount is nodev.
fn map_files_reopen_refused() -> Result<(), String> {
    let fake = open_fake()?;
    let bo = drm::create_dumb(&fake, 16, 16).map_err(errno_str)?;
    let map = drm::mmap_dumb(&fake, bo.handle, bo.size as usize)?;
    let maps = std::fs::read_to_string("/proc/self/maps").map_err(|e| e.to_string())?;
    let start = format!("{:x}-", map.addr());
    let line = maps
        .lines()
        .find(|l| l.starts_with(&start))
        .ok_or_else(|| format!("mapping {start} not in /proc/self/maps"))?;
    println!("maps: {line}");
    let range = line.split_whitespace().next().unwrap_or_default();
    let link = format!("/proc/self/map_files/{range}");
    let target = std::fs::read_link(&link).map_err(|e| format!("readlink {link}: {e}"))?;
    println!("{link} -> {}", target.display());
    ensure(!target.starts_with("/dev/fakedri"), || {
        "mapping still owned by the fake file".into()
    })?;
    match open_rw(&link) {
        Err(e) if e.raw_os_error() == Some(libc::EACCES) => Ok(()),
        Ok(_) => Err("re-opening the real file through map_files succeeded".into()),
        Err(e) => Err(format!("re-open through map_files gave {e}, want EACCES")),
    }
}

/// A generic front forwards read, and mmap hands the VMA to the real driver (here /dev/zero,
/// whose shared mmap replaces the file again).
fn generic_front_reads_zero() -> Result<(), String> {
    let path = env("FAKE_ZERO")?;
    let fd = open_rw(&path).map_err(|e| format!("open {path}: {e}"))?;
    let mut file = std::fs::File::from(fd);
    let mut buf = [0xffu8; 4096];
    let n = file.read(&mut buf).map_err(|e| format!("read: {e}"))?;
    ensure(n == buf.len() && buf.iter().all(|&b| b == 0), || {
        format!("read {n} bytes, not all zero")
    })?;
    let mut map = Mapping::shared(file.as_raw_fd(), 8192, 0).map_err(|e| format!("mmap: {e}"))?;
    ensure(map.bytes().iter().all(|&b| b == 0), || {
        "mapping not zero".into()
    })?;
    map.bytes_mut()[100] = 5;
    ensure(map.bytes()[100] == 5, || "mapping not writable".into())?;
    // write is not forwarded: the fake file is not writable through write(2).
    // SAFETY: writing one byte from a valid buffer.
    let w = unsafe { libc::write(file.as_raw_fd(), buf.as_ptr().cast(), 1) };
    ensure(w < 0 && sys::errno() == libc::EINVAL, || {
        format!("write returned {w}")
    })
}

fn fdinfo_readable() -> Result<(), String> {
    let fake = open_fake()?;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fake.as_raw_fd()))
        .map_err(|e| e.to_string())?;
    println!("{info}");
    ensure(info.contains("flags:"), || "fdinfo lacks flags".into())
}

/// Threads opening, calling, mapping and closing at once: the kernel must stay splat-free
/// (the harness checks the log) and every call must succeed.
fn concurrent_open_ioctl_mmap_close() -> Result<(), String> {
    const THREADS: usize = 4;
    const ROUNDS: usize = 60;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || -> Result<(), String> {
                for round in 0..ROUNDS {
                    let fake = open_fake()?;
                    drm::version(&fake)
                        .map_err(|e| format!("thread {t} round {round}: VERSION {e}"))?;
                    let bo = drm::create_dumb(&fake, 32, 8).map_err(errno_str)?;
                    let mut map = drm::mmap_dumb(&fake, bo.handle, bo.size as usize)?;
                    fill_pattern(map.bytes_mut(), t as u8);
                    check_pattern(map.bytes(), t as u8, "own mapping")?;
                    if round % 2 == 0 {
                        // Close with the buffer and mapping still alive.
                        drop(fake);
                        drop(map);
                    } else {
                        drm::destroy_dumb(&fake, bo.handle).map_err(errno_str)?;
                    }
                }
                Ok(())
            })
        })
        .collect();
    for h in handles {
        h.join().map_err(|_| "thread panicked".to_string())??;
    }
    println!("{} open/ioctl/mmap/close rounds", THREADS * ROUNDS);
    Ok(())
}

pub(crate) fn sh(cmd: &str) -> Result<(), String> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .map_err(|e| e.to_string())?;
    ensure(status.success(), || format!("`{cmd}` failed: {status}"))
}

/// A mapping made through the fake node belongs to the real driver: it stays usable after the
/// fake file is closed and fakegpu is unloaded.
fn mapping_outlives_module() -> Result<(), String> {
    let fake = open_fake()?;
    let bo = drm::create_dumb(&fake, 64, 16).map_err(errno_str)?;
    let mut map = drm::mmap_dumb(&fake, bo.handle, bo.size as usize)?;
    fill_pattern(map.bytes_mut(), 42);
    drop(fake);
    sh(&env("FAKEGPU_RMMOD")?)?;
    let gone = !std::path::Path::new(&env("FAKE_CARD")?).exists();
    check_pattern(map.bytes(), 42, "mapping after rmmod")?;
    fill_pattern(map.bytes_mut(), 43);
    check_pattern(map.bytes(), 43, "mapping rewritten after rmmod")?;
    drop(map);
    sh(&env("FAKEGPU_INSMOD")?)?;
    ensure(gone, || "fake node still present after rmmod".into())
}
