//! The container's side of the hook: bind-mounting fakegpu's nodes at NVIDIA's paths and
//! hiding fakegpu's sysfs directory, inside the container's mount namespace, before its
//! root is pivoted. Paths in the rootfs are resolved with openat2(RESOLVE_IN_ROOT), so a
//! symlink in the image can never lead a mount out of the rootfs. The work is done in a
//! child process (setns needs a single-threaded caller, and the hook itself stays in the
//! host's namespace); if any step fails, the child undoes the ones before it.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A host file to bind-mount at a path in the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind {
    /// The host path, e.g. `/dev/fakegpu0`.
    pub source: PathBuf,
    /// The path in the container, e.g. `/dev/nvidia0`.
    pub target: String,
    /// Create an empty file at `target` if there is none (device nodes); otherwise skip the
    /// bind when the target is absent (e.g. the driver's params file).
    pub create: bool,
}

/// A directory in the container covered with an empty tmpfs, into which some of the host's
/// subdirectories are bound back, read-only: what is not kept is not even listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    /// The directory in the container, e.g. `/proc/driver/nvidia/gpus`.
    pub dir: String,
    /// The host's directory whose entries are kept (`dir` as the host has it).
    pub source: PathBuf,
    /// The names of the entries of `source` kept, e.g. `0000:01:00.0`.
    pub keep: Vec<String>,
}

/// What to do in the container's mount namespace.
#[derive(Clone, Debug, Default)]
pub struct Work {
    /// Bind mounts, made read-only, nosuid and noexec (never nodev: they are devices).
    pub binds: Vec<Bind>,
    /// Directories to cover with an empty read-only tmpfs, if they exist.
    pub hide: Vec<String>,
    /// Directories to cover but for some of their entries, if they exist.
    pub masks: Vec<Mask>,
    /// Where to mount fakegpu's nodes filesystem ("fakegpu-nodes") while binding, if some
    /// sources are in it: mounted in the container's namespace only, detached afterwards
    /// (the binds keep its nodes).
    pub nodes_fs: Option<String>,
}

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2's RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT.
const RESOLVE: u64 = 0x02 | 0x10;

/// Opens `rel` (relative to the container's root `root`) as if `root` were `/`.
fn open_in_root(root: &OwnedFd, rel: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let path = std::ffi::CString::new(rel)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE,
    };
    // SAFETY: `path` is NUL-terminated, `how` is a valid open_how of the size passed; the
    // kernel reads both during the call only.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `/proc/self/fd/N`: how mount(2) is pointed at an opened file.
fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Splits a container path into its directory and file name, both relative.
fn split(target: &str) -> Result<(&str, &str), String> {
    let rel = target.trim_start_matches('/');
    match rel.rsplit_once('/') {
        Some((dir, name)) if !name.is_empty() && name != ".." && name != "." => Ok((dir, name)),
        _ => Err(format!("{target}: not a file path")),
    }
}

/// One mount made, for undoing it.
struct Made {
    rel: String,
    /// The empty target file the bind needed, to remove again.
    created: Option<(OwnedFd, String)>,
}

/// Does `work` in the mount namespace of process `pid`, whose root filesystem is `rootfs`
/// (a host path). Returns what failed, in one line.
pub fn apply(pid: i32, rootfs: &Path, work: &Work) -> Result<(), String> {
    let ns_path = format!("/proc/{pid}/ns/mnt");
    let ns = File::open(&ns_path).map_err(|e| format!("{ns_path}: {e}"))?;
    let (reader, writer) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    // SAFETY: the hook is single-threaded (it starts no threads), so the child may run
    // arbitrary code; it only makes system calls and exits with _exit.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Child => {
            drop(reader);
            let code = match in_namespace(&ns, rootfs, work) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = File::from(writer).write_all(e.as_bytes());
                    1
                }
            };
            // SAFETY: ends the child without running the parent's atexit handlers or
            // flushing its copied stdio buffers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(writer);
            let mut message = String::new();
            let _ = File::from(reader).read_to_string(&mut message);
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, 0)) => Ok(()),
                Ok(_) if !message.is_empty() => Err(message),
                other => Err(format!("the mount process ended with {other:?}")),
            }
        }
    }
}

/// The child's work: enter the namespace, then mount, undoing everything on failure.
fn in_namespace(ns: &File, rootfs: &Path, work: &Work) -> Result<(), String> {
    setns(ns, CloneFlags::CLONE_NEWNS).map_err(|e| format!("setns into the container: {e}"))?;
    // The sources are opened here, after setns: a bind mount's source must be a mount of
    // the caller's namespace. Before pivot_root the container's namespace is a copy of the
    // host's, so the host paths are there, and nothing in the container runs yet.
    if let Some(dir) = &work.nodes_fs {
        mount_nodes_fs(dir)?;
    }
    let result = open_and_mount(rootfs, work);
    if let Some(dir) = &work.nodes_fs {
        let _ = umount2(dir.as_str(), MntFlags::MNT_DETACH);
    }
    result
}

/// Mounts fakegpu's nodes filesystem on `dir` (made if missing) in the current namespace.
fn mount_nodes_fs(dir: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
    mount(
        Some("fakegpu"),
        dir,
        Some("fakegpu-nodes"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| {
        format!("mounting fakegpu's nodes filesystem on {dir}: {e} (is fakegpu.ko loaded?)")
    })
}

/// Opens the sources and the rootfs, then mounts, undoing everything on failure.
fn open_and_mount(rootfs: &Path, work: &Work) -> Result<(), String> {
    let mut sources = Vec::new();
    for b in &work.binds {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(&b.source)
            .map_err(|e| format!("{}: {e}", b.source.display()))?;
        sources.push(f);
    }
    // Opened after setns: the rootfs as the container's namespace has it.
    let root: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(rootfs)
        .map_err(|e| format!("{}: {e}", rootfs.display()))?
        .into();
    let mut made = Vec::new();
    let result = mount_all(&root, &sources, work, &mut made);
    if result.is_err() {
        for m in made.into_iter().rev() {
            if let Ok(fd) = open_in_root(&root, &m.rel, libc::O_PATH | libc::O_NOFOLLOW) {
                let _ = umount2(fd_path(&fd).as_str(), MntFlags::MNT_DETACH);
            }
            if let Some((dir, name)) = m.created {
                if let Ok(name) = std::ffi::CString::new(name) {
                    // SAFETY: `dir` is an open directory and `name` a NUL-terminated name.
                    unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
                }
            }
        }
    }
    result
}

fn mount_all(
    root: &OwnedFd,
    sources: &[File],
    work: &Work,
    made: &mut Vec<Made>,
) -> Result<(), String> {
    for (bind, source) in work.binds.iter().zip(sources) {
        let (dir_rel, name) = split(&bind.target)?;
        let rel = bind.target.trim_start_matches('/').to_string();
        let mut created = None;
        if bind.create {
            let dir = open_in_root(root, dir_rel, libc::O_PATH | libc::O_DIRECTORY)
                .map_err(|e| format!("/{dir_rel} in the container: {e}"))?;
            let cname = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
            // SAFETY: `dir` is an open directory, `cname` NUL-terminated; O_NOFOLLOW and
            // O_EXCL make this create a new regular file or fail, never follow a link.
            let fd = unsafe {
                libc::openat(
                    dir.as_raw_fd(),
                    cname.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if fd >= 0 {
                // SAFETY: a new descriptor nothing else owns; closed at once.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                created = Some((dir, name.to_string()));
            } else if std::io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST) {
                return Err(format!(
                    "creating {} in the container: {}",
                    bind.target,
                    std::io::Error::last_os_error()
                ));
            }
        }
        let target = match open_in_root(root, &rel, libc::O_PATH | libc::O_NOFOLLOW) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !bind.create => continue,
            Err(e) => return Err(format!("{} in the container: {e}", bind.target)),
        };
        let kind = nix::sys::stat::fstat(target.as_raw_fd())
            .map_err(|e| format!("{}: {e}", bind.target))?
            .st_mode
            & libc::S_IFMT;
        if kind != libc::S_IFREG && kind != libc::S_IFCHR {
            return Err(format!(
                "{} in the container is not a file or a device node: refusing to mount on it",
                bind.target
            ));
        }
        mount(
            Some(fd_path(source).as_str()),
            fd_path(&target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind {} on {}: {e}", bind.source.display(), bind.target))?;
        made.push(Made {
            rel: rel.clone(),
            created,
        });
        // Re-opened: now the path leads to the new mount, which is what the remount changes.
        let top = open_in_root(root, &rel, libc::O_PATH | libc::O_NOFOLLOW)
            .map_err(|e| format!("{}: {e}", bind.target))?;
        let flags = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NOEXEC;
        mount(
            None::<&str>,
            fd_path(&top).as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| format!("remount {} read-only: {e}", bind.target))?;
    }
    for m in &work.masks {
        mask(root, m, made)?;
    }
    for dir in &work.hide {
        let rel = dir.trim_start_matches('/');
        let fd = match open_in_root(root, rel, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(format!("{dir} in the container: {e}")),
        };
        let flags =
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(
            Some("tmpfs"),
            fd_path(&fd).as_str(),
            Some("tmpfs"),
            flags,
            Some("size=4k,mode=0555"),
        )
        .map_err(|e| format!("hiding {dir}: {e}"))?;
        made.push(Made {
            rel: rel.to_string(),
            created: None,
        });
    }
    Ok(())
}

/// Covers `m.dir` in the container with a tmpfs holding only `m.keep`, each a read-only bind
/// of the host's entry; the tmpfs is made read-only last. An absent `m.dir` is left alone.
fn mask(root: &OwnedFd, m: &Mask, made: &mut Vec<Made>) -> Result<(), String> {
    let rel = m.dir.trim_start_matches('/');
    let dir = match open_in_root(root, rel, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(format!("{} in the container: {e}", m.dir)),
    };
    let fs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(
        Some("tmpfs"),
        fd_path(&dir).as_str(),
        Some("tmpfs"),
        fs_flags,
        Some("size=16k,mode=0555"),
    )
    .map_err(|e| format!("masking {}: {e}", m.dir))?;
    made.push(Made {
        rel: rel.to_string(),
        created: None,
    });
    // The new tmpfs, as the path now leads to it.
    let top = open_in_root(root, rel, libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| format!("{}: {e}", m.dir))?;
    for name in &m.keep {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(format!("{}: {name:?} is not an entry name", m.dir));
        }
        let source = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(m.source.join(name))
            .map_err(|e| format!("{}: {e}", m.source.join(name).display()))?;
        let at = format!("{}/{name}", fd_path(&top));
        // The tmpfs is ours and new: the name cannot lead anywhere else.
        std::fs::create_dir(&at).map_err(|e| format!("{}/{name}: {e}", m.dir))?;
        mount(
            Some(fd_path(&source).as_str()),
            at.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind {} in {}: {e}", name, m.dir))?;
        mount(
            None::<&str>,
            at.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | fs_flags,
            None::<&str>,
        )
        .map_err(|e| format!("remount {}/{name} read-only: {e}", m.dir))?;
        made.push(Made {
            rel: format!("{rel}/{name}"),
            created: None,
        });
    }
    mount(
        None::<&str>,
        fd_path(&top).as_str(),
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | fs_flags,
        Some("size=16k,mode=0555"),
    )
    .map_err(|e| format!("remount {} read-only: {e}", m.dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_split() {
        assert_eq!(split("/dev/nvidia0").unwrap(), ("dev", "nvidia0"));
        assert_eq!(
            split("/proc/driver/nvidia/params").unwrap(),
            ("proc/driver/nvidia", "params")
        );
        assert!(split("/").is_err());
        assert!(split("/dev/..").is_err());
        assert!(split("nvidia0").is_err());
    }
}
