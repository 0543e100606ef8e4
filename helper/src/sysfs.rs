//! fakegpu.ko's sysfs files, `/sys/kernel/fakegpu`: the fake nodes it made and the
//! per-cgroup entries (see the README's "Per-cgroup entries").

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the module's files are, unless `FAKEGPU_SYSFS` says otherwise (tests).
pub const DEFAULT_ROOT: &str = "/sys/kernel/fakegpu";

/// A fake node, as `/sys/kernel/fakegpu/devices` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeNode {
    /// Its path on the host, e.g. `/dev/fakegpu0`.
    pub path: String,
    /// Its device number.
    pub major: u32,
    /// Its device number.
    pub minor: u32,
    /// The real device it fronts.
    pub real: (u32, u32),
}

/// What a fake NVIDIA node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NvRole {
    /// `/dev/fakegpuN`, in front of `/dev/nvidiaN`.
    Gpu(u32),
    /// `/dev/fakegpuctl`, in front of `/dev/nvidiactl`.
    Ctl,
    /// `/dev/fakegpu-uvm`, in front of `/dev/nvidia-uvm`.
    Uvm,
}

impl FakeNode {
    /// Its NVIDIA role, if it is one of fakegpu's NVIDIA nodes.
    pub fn nv_role(&self) -> Option<NvRole> {
        let name = self.path.strip_prefix("/dev/")?;
        match name {
            "fakegpuctl" => Some(NvRole::Ctl),
            "fakegpu-uvm" => Some(NvRole::Uvm),
            _ => {
                let n = name.strip_prefix("fakegpu")?;
                let digits = !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
                digits.then(|| n.parse().ok()).flatten().map(NvRole::Gpu)
            }
        }
    }

    /// The path NVIDIA's userspace expects for it inside a container.
    pub fn nv_path(&self) -> Option<String> {
        Some(match self.nv_role()? {
            NvRole::Gpu(n) => format!("/dev/nvidia{n}"),
            NvRole::Ctl => "/dev/nvidiactl".into(),
            NvRole::Uvm => "/dev/nvidia-uvm".into(),
        })
    }
}

/// Parses `major:minor`.
fn devnum(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Parses the `devices` file: `PATH FAKE_MAJ:MIN REAL_MAJ:MIN` per line.
pub fn parse_devices(text: &str) -> Result<Vec<FakeNode>, String> {
    let node = |line: &str| -> Option<FakeNode> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [path, fake, real] = words.as_slice() else {
            return None;
        };
        let (major, minor) = devnum(fake)?;
        Some(FakeNode {
            path: (*path).to_string(),
            major,
            minor,
            real: devnum(real)?,
        })
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            node(line).ok_or_else(|| format!("unexpected line in fakegpu's devices file: {line:?}"))
        })
        .collect()
}

/// A per-GPU file (`memory.max`, `memory.current`, ...): `gpuN VALUE` lines; `None` for
/// `max`. `memory.events` lines (`gpu0 max=3`) give the number after `=`.
pub fn parse_per_gpu(text: &str) -> BTreeMap<u32, Option<u64>> {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once(' ')?;
            let gpu = key.strip_prefix("gpu")?.parse().ok()?;
            let value = value.rsplit('=').next()?.trim();
            let value = if value == "max" {
                None
            } else {
                Some(value.parse().ok()?)
            };
            Some((gpu, value))
        })
        .collect()
}

/// fakegpu.ko's sysfs directory.
pub struct Fakegpu {
    root: PathBuf,
}

/// One cgroup's entry directory.
pub struct Entry {
    /// The cgroup id.
    pub id: u64,
    dir: PathBuf,
}

impl Fakegpu {
    /// The module's directory (`FAKEGPU_SYSFS` or [`DEFAULT_ROOT`]); an error that says so
    /// if the module is not loaded.
    pub fn open() -> Result<Self, String> {
        let root = std::env::var_os("FAKEGPU_SYSFS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        Self::at(root)
    }

    /// The module's directory at `root` (a test's stand-in, or the host's).
    pub fn at(root: PathBuf) -> Result<Self, String> {
        if !root.join("cgroups/control").exists() {
            return Err(format!(
                "fakegpu.ko is not loaded ({} has no cgroups/control)",
                root.display()
            ));
        }
        Ok(Fakegpu { root })
    }

    /// The directory, for files other modules of the helper read (`dmem_regions`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The fake nodes the module made.
    pub fn devices(&self) -> Result<Vec<FakeNode>, String> {
        parse_devices(&read(&self.root.join("devices"))?)
    }

    /// The entries: (cgroup id, cgroup path).
    pub fn entries(&self) -> Result<Vec<(u64, String)>, String> {
        let text = read(&self.root.join("cgroups/control"))?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let (id, path) = l.split_once(' ')?;
                Some((id.parse().ok()?, path.to_string()))
            })
            .collect())
    }

    /// The entry of the cgroup at `path` (from the root of the v2 hierarchy), made if it
    /// does not exist.
    pub fn add(&self, path: &str) -> Result<Entry, String> {
        match write(&self.root.join("cgroups/control"), &format!("add {path}")) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(control_error("add", path, &e)),
        }
        self.find(path)?
            .ok_or_else(|| format!("fakegpu made no entry for cgroup {path}"))
    }

    /// The entry of the cgroup at `path`, if there is one.
    pub fn find(&self, path: &str) -> Result<Option<Entry>, String> {
        Ok(self
            .entries()?
            .into_iter()
            .find(|(_, p)| p == path)
            .map(|(id, _)| self.entry(id)))
    }

    /// The entry of cgroup `id` (which may not exist).
    pub fn entry(&self, id: u64) -> Entry {
        Entry {
            id,
            dir: self.root.join(format!("cgroups/{id}")),
        }
    }

    /// Removes the entry of cgroup `id`; `Ok(false)` if something is still charged to it.
    pub fn remove(&self, id: u64) -> Result<bool, String> {
        match write(&self.root.join("cgroups/control"), &format!("remove {id}")) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(true),
            Err(e) => Err(control_error("remove", &id.to_string(), &e)),
        }
    }
}

fn control_error(verb: &str, what: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => {
            format!("{verb} {what}: needs CAP_SYS_ADMIN (run as root on the host)")
        }
        Some(libc::EINVAL) => format!("{verb} {what}: fakegpu knows no such cgroup"),
        _ => format!("{verb} {what}: {e}"),
    }
}

impl Entry {
    /// The text of one of its files.
    pub fn read(&self, file: &str) -> Result<String, String> {
        read(&self.dir.join(file))
    }

    /// Writes `value` to one of its files; the error says what fakegpu refused.
    pub fn write(&self, file: &str, value: &str) -> Result<(), String> {
        write(&self.dir.join(file), value).map_err(|e| match e.raw_os_error() {
            Some(libc::EINVAL) => format!("fakegpu refused {value:?} for {file}"),
            Some(libc::EPERM) => format!("{file}: needs CAP_SYS_ADMIN (run as root on the host)"),
            _ => format!("{}: {e}", self.dir.join(file).display()),
        })
    }

    /// A per-GPU file, parsed.
    pub fn per_gpu(&self, file: &str) -> Result<BTreeMap<u32, Option<u64>>, String> {
        Ok(parse_per_gpu(&self.read(file)?))
    }
}

/// A single-valued file (`pinned.current`, `drm.memory.current`, `submissions`): its last
/// word as a number (`None` for `max`).
pub fn parse_single(text: &str) -> Option<u64> {
    text.split_whitespace().last()?.parse().ok()
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// One write(2) of `value`, as sysfs wants a whole value per write.
fn write(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_file_parses_and_names_nvidia_roles() {
        let text = "/dev/fakedri/card0 241:0 226:0\n/dev/fakegpuctl 240:255 195:255\n\
                    /dev/fakegpu1 240:1 195:1\n/dev/fakegpu-uvm 239:0 238:0\n";
        let nodes = parse_devices(text).unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0].nv_role(), None);
        assert_eq!(nodes[1].nv_role(), Some(NvRole::Ctl));
        assert_eq!(nodes[2].nv_role(), Some(NvRole::Gpu(1)));
        assert_eq!(nodes[2].nv_path().as_deref(), Some("/dev/nvidia1"));
        assert_eq!(
            (nodes[2].major, nodes[2].minor, nodes[2].real),
            (240, 1, (195, 1))
        );
        assert_eq!(nodes[3].nv_path().as_deref(), Some("/dev/nvidia-uvm"));
        assert!(parse_devices("/dev/x 1:2\n").is_err());
        assert!(parse_devices("/dev/x a:2 1:1\n").is_err());
    }

    #[test]
    fn per_gpu_files_parse() {
        let m = parse_per_gpu("gpu0 8589934592\ngpu1 max\n");
        assert_eq!(m[&0], Some(8 << 30));
        assert_eq!(m[&1], None);
        let e = parse_per_gpu("gpu0 max=3\n");
        assert_eq!(e[&0], Some(3));
        assert_eq!(parse_single("max 2\n"), Some(2));
        assert_eq!(parse_single("4096\n"), Some(4096));
    }
}
