//! The cgroup v2 `dmem` controller (Linux 6.14+, `CONFIG_CGROUP_DMEM`) for fakegpu's GPUs.
//!
//! fakegpu.ko charges each metered NVIDIA allocation to the allocating task's dmem cgroup in
//! its GPU's region, and lists the regions in `dmem_regions` (`gpuN REGION BYTES` lines;
//! absent on kernels without dmem). Both limits hold, so the helper mirrors the GPU memory
//! limits it writes to fakegpu's `memory.max` into the cgroup's `dmem.max`: the kernel's own
//! accounting then shows and enforces them too. fakegpu's limit is the one that always
//! applies; dmem is best effort, and its failures are the caller's warnings, not errors.

use crate::sysfs::Fakegpu;
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where the cgroup v2 hierarchy is mounted, unless `FAKEGPU_CGROUPFS` says otherwise (tests).
pub const DEFAULT_CGROUPFS: &str = "/sys/fs/cgroup";

/// fakegpu.ko's list of regions, in its sysfs directory.
pub const REGIONS_FILE: &str = "dmem_regions";

/// A GPU's dmem region, as fakegpu.ko registered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The region's name in the dmem files, e.g. `nvidia/0000:00:1e.0`.
    pub name: String,
    /// The GPU memory the region covers, bytes.
    pub capacity: u64,
}

/// Parses `dmem_regions`: `gpuN REGION CAPACITY_BYTES` per line (blank lines skipped).
pub fn parse_regions(text: &str) -> Result<BTreeMap<u32, Region>, String> {
    let region = |line: &str| -> Option<(u32, Region)> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [gpu, name, capacity] = words.as_slice() else {
            return None;
        };
        let gpu = gpu.strip_prefix("gpu")?;
        if gpu.is_empty() || !gpu.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let region = Region {
            name: (*name).to_string(),
            capacity: capacity.parse().ok()?,
        };
        Some((gpu.parse().ok()?, region))
    };
    let mut regions = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (gpu, r) = region(line).ok_or_else(|| {
            format!("unexpected line in fakegpu's {REGIONS_FILE}: {line:?} (expected gpuN REGION BYTES)")
        })?;
        if regions.insert(gpu, r).is_some() {
            return Err(format!(
                "fakegpu's {REGIONS_FILE} lists gpu{gpu} twice: {line:?}"
            ));
        }
    }
    Ok(regions)
}

/// Parses `dmem.current`, `dmem.max`, `dmem.min` or `dmem.low`: `REGION BYTES` or
/// `REGION max` per line, as region -> bytes (`None`: `max`).
pub fn parse_values(text: &str) -> Result<BTreeMap<String, Option<u64>>, String> {
    let value = |line: &str| -> Option<(String, Option<u64>)> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [region, value] = words.as_slice() else {
            return None;
        };
        let value = match *value {
            "max" => None,
            v => Some(v.parse().ok()?),
        };
        Some(((*region).to_string(), value))
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            value(line).ok_or_else(|| {
                format!("unexpected dmem line {line:?} (expected REGION BYTES or REGION max)")
            })
        })
        .collect()
}

/// `bytes` as the dmem files write it (`max` for `None`).
fn value_text(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "max".into(), |b| b.to_string())
}

/// The dmem controller as fakegpu's GPUs see it: the cgroup hierarchy and the regions.
#[derive(Debug)]
pub struct Dmem {
    cgroupfs: PathBuf,
    regions: BTreeMap<u32, Region>,
    /// The root's `cgroup.controllers` lists `dmem`.
    controller: bool,
}

impl Dmem {
    /// The host's (`FAKEGPU_CGROUPFS` or [`DEFAULT_CGROUPFS`], and fakegpu's sysfs
    /// directory). Only a region file that cannot be read or parsed is an error; a kernel
    /// without dmem gives a `Dmem` that is not [`available`](Self::available).
    pub fn open(fg: &Fakegpu) -> Result<Self, String> {
        let cgroupfs = std::env::var_os("FAKEGPU_CGROUPFS")
            .map_or_else(|| PathBuf::from(DEFAULT_CGROUPFS), PathBuf::from);
        Self::at(cgroupfs, fg.root())
    }

    /// [`open`](Self::open), or `None` after telling `warn` why: a bad region file must
    /// not stop a command whose fakegpu limits work without it.
    pub fn open_or_warn(fg: &Fakegpu, warn: impl FnOnce(&str)) -> Option<Self> {
        Self::open(fg)
            .map_err(|e| warn(&format!("warning: dmem not used: {e}")))
            .ok()
    }

    /// The controller under `cgroupfs`, with the regions fakegpu's sysfs directory `sysfs`
    /// lists.
    pub fn at(cgroupfs: PathBuf, sysfs: &Path) -> Result<Self, String> {
        let regions = match read_optional(&sysfs.join(REGIONS_FILE))? {
            Some(text) => parse_regions(&text)?,
            None => BTreeMap::new(),
        };
        let controller = read_optional(&cgroupfs.join("cgroup.controllers"))?
            .is_some_and(|t| t.split_whitespace().any(|c| c == "dmem"));
        Ok(Dmem {
            cgroupfs,
            regions,
            controller,
        })
    }

    /// The kernel has the controller and fakegpu registered at least one region.
    pub fn available(&self) -> bool {
        self.controller && !self.regions.is_empty()
    }

    /// GPU `gpu`'s region, if fakegpu registered one.
    pub fn region(&self, gpu: u32) -> Option<&Region> {
        self.regions.get(&gpu)
    }

    /// The GPUs with a region.
    pub fn gpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.regions.keys().copied()
    }

    /// The directory of `cgroup` (a path from the root of the hierarchy, `/a/b`).
    fn dir(&self, cgroup: &str) -> Result<PathBuf, String> {
        Ok(components(cgroup)?
            .iter()
            .fold(self.cgroupfs.clone(), |dir, c| dir.join(c)))
    }

    /// Enables `+dmem` in `cgroup.subtree_control` from the root down to `cgroup`'s parent,
    /// so `cgroup` gets the dmem files; ancestors that have it already are left alone.
    pub fn enable(&self, cgroup: &str) -> Result<(), String> {
        let parts = components(cgroup)?;
        let target = self.dir(cgroup)?;
        if !target.is_dir() {
            return Err(format!(
                "no cgroup {cgroup} ({} is absent)",
                target.display()
            ));
        }
        let mut dir = self.cgroupfs.clone();
        for part in std::iter::once("").chain(parts.iter().copied()) {
            if !part.is_empty() {
                dir.push(part);
            }
            if dir == target {
                break;
            }
            let file = dir.join("cgroup.subtree_control");
            let enabled = fs::read_to_string(&file)
                .map_err(|e| format!("{}: {e}", file.display()))?
                .split_whitespace()
                .any(|c| c == "dmem");
            if !enabled {
                append(&file, "+dmem").map_err(|e| enable_error(&dir, &file, &e))?;
            }
        }
        Ok(())
    }

    /// Limits `cgroup` in the regions of the GPUs in `limits` (bytes, `None`: max): enables
    /// the controller above it, then writes one `REGION VALUE` line per GPU to its
    /// `dmem.max`. Does nothing, successfully, where dmem is not available, for the root
    /// (which has no `dmem.max`), or when no GPU in `limits` has a region.
    pub fn set_max(&self, cgroup: &str, limits: &BTreeMap<u32, Option<u64>>) -> Result<(), String> {
        let lines: Vec<String> = limits
            .iter()
            .filter_map(|(gpu, bytes)| {
                let r = self.region(*gpu)?;
                Some(format!("{} {}", r.name, value_text(*bytes)))
            })
            .collect();
        if !self.available() || lines.is_empty() || components(cgroup)?.is_empty() {
            return Ok(());
        }
        self.enable(cgroup)?;
        self.write_max(cgroup, &lines)
    }

    /// Lifts `cgroup`'s limits in every region of fakegpu's (`REGION max`); `Ok(false)`
    /// if it has no `dmem.max`, so nothing was to lift.
    pub fn clear_max(&self, cgroup: &str) -> Result<bool, String> {
        if self.regions.is_empty() || !self.dir(cgroup)?.join("dmem.max").exists() {
            return Ok(false);
        }
        let lines: Vec<String> = self
            .regions
            .values()
            .map(|r| format!("{} max", r.name))
            .collect();
        self.write_max(cgroup, &lines).map(|()| true)
    }

    /// One write per line: the kernel takes one region per write.
    fn write_max(&self, cgroup: &str, lines: &[String]) -> Result<(), String> {
        let file = self.dir(cgroup)?.join("dmem.max");
        for line in lines {
            append(&file, line).map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) => format!(
                    "{} is absent: dmem is not enabled for cgroup {cgroup}",
                    file.display()
                ),
                Some(libc::EINVAL) => format!("{} refused {line:?}", file.display()),
                Some(libc::EPERM | libc::EACCES) => {
                    format!("{}: needs root on the host", file.display())
                }
                _ => format!("{}: writing {line:?}: {e}", file.display()),
            })?;
        }
        Ok(())
    }

    /// `cgroup`'s `file` (`dmem.current`, `dmem.max` ...) as region -> bytes (`None`:
    /// max); `Ok(None)` if the cgroup has no such file.
    pub fn read(
        &self,
        cgroup: &str,
        file: &str,
    ) -> Result<Option<BTreeMap<String, Option<u64>>>, String> {
        let path = self.dir(cgroup)?.join(file);
        read_optional(&path)?
            .map(|t| parse_values(&t).map_err(|e| format!("{}: {e}", path.display())))
            .transpose()
    }

    /// `cgroup`'s `file` as text; `Ok(None)` if it has no such file.
    pub fn read_text(&self, cgroup: &str, file: &str) -> Result<Option<String>, String> {
        read_optional(&self.dir(cgroup)?.join(file))
    }
}

/// The warning for a dmem limit that could not be set: fakegpu's limit is in place, so the
/// command goes on.
pub fn set_warning(cgroup: &str, reason: &str) -> String {
    format!(
        "warning: cgroup {cgroup}: dmem.max not set: {reason}; fakegpu's own memory.max still applies"
    )
}

/// The warning for a dmem limit that could not be lifted.
pub fn clear_warning(cgroup: &str, reason: &str) -> String {
    format!(
        "warning: cgroup {cgroup}: dmem.max not lifted: {reason}; the dmem controller still enforces its limit"
    )
}

/// A cgroup path's components; `..` and `.` are refused, so the path stays under the
/// hierarchy's root.
fn components(cgroup: &str) -> Result<Vec<&str>, String> {
    if !cgroup.starts_with('/') {
        return Err(format!(
            "cgroup {cgroup:?}: expected a path from the root of the hierarchy, such as /team-a"
        ));
    }
    let parts: Vec<&str> = cgroup.split('/').filter(|c| !c.is_empty()).collect();
    if parts.iter().any(|c| *c == ".." || *c == ".") {
        return Err(format!("cgroup {cgroup:?}: . and .. are not allowed"));
    }
    Ok(parts)
}

/// Why `+dmem` was refused in `dir`, in the operator's terms.
fn enable_error(dir: &Path, file: &Path, e: &io::Error) -> String {
    let dir = dir.display();
    match e.raw_os_error() {
        Some(libc::EBUSY) => format!(
            "enabling +dmem in {}: {dir} has processes of its own, and cgroup v2 enables \
             controllers for the children of a cgroup only without them (move them into a \
             child cgroup)",
            file.display()
        ),
        Some(libc::ENOENT) => format!(
            "enabling +dmem in {}: dmem is not in {dir}/cgroup.controllers",
            file.display()
        ),
        Some(libc::EOPNOTSUPP) => format!(
            "enabling +dmem in {}: {dir} is a threaded cgroup, which takes no domain controller",
            file.display()
        ),
        Some(libc::EPERM | libc::EACCES) => {
            format!(
                "enabling +dmem in {}: needs root on the host",
                file.display()
            )
        }
        _ => format!("enabling +dmem in {}: {e}", file.display()),
    }
}

/// The file's text, `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// One write(2) of the line `value` to an existing file. Appending is what `echo >>` does
/// to cgroup files (the kernel ignores the offset); in tests it keeps every line written.
fn append(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().append(true).open(path)?;
    f.write_all(format!("{value}\n").as_bytes())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A temporary directory standing for cgroupfs and fakegpu's sysfs: `cgroupfs/` with
    /// the root's `cgroup.controllers` and `sysfs/` with `regions`, if given.
    pub struct Tree {
        /// The directory; removed on drop.
        pub dir: PathBuf,
    }

    impl Tree {
        /// A fresh tree named after `test`.
        pub fn new(test: &str, controllers: &str, regions: Option<&str>) -> Tree {
            let dir =
                std::env::temp_dir().join(format!("fakegpu-dmem-{test}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("cgroupfs")).unwrap();
            fs::create_dir_all(dir.join("sysfs/cgroups")).unwrap();
            fs::write(dir.join("sysfs/cgroups/control"), "").unwrap();
            fs::write(dir.join("cgroupfs/cgroup.controllers"), controllers).unwrap();
            fs::write(dir.join("cgroupfs/cgroup.subtree_control"), "").unwrap();
            if let Some(r) = regions {
                fs::write(dir.join("sysfs").join(REGIONS_FILE), r).unwrap();
            }
            Tree { dir }
        }

        /// The cgroupfs directory.
        pub fn cgroupfs(&self) -> PathBuf {
            self.dir.join("cgroupfs")
        }

        /// The fake sysfs directory.
        pub fn sysfs(&self) -> PathBuf {
            self.dir.join("sysfs")
        }

        /// Makes cgroup `path` with `files` (name, text).
        pub fn cgroup(&self, path: &str, files: &[(&str, &str)]) -> PathBuf {
            let dir = self.cgroupfs().join(path.trim_start_matches('/'));
            fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                fs::write(dir.join(name), text).unwrap();
            }
            dir
        }

        /// The text of a file under cgroupfs.
        pub fn text(&self, path: &str) -> String {
            fs::read_to_string(self.cgroupfs().join(path)).unwrap()
        }

        /// The dmem view of this tree.
        pub fn dmem(&self) -> Dmem {
            Dmem::at(self.cgroupfs(), &self.sysfs()).unwrap()
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }

    /// Regions for gpu0 and gpu2.
    pub const TWO_GPUS: &str =
        "gpu0 nvidia/0000:00:1e.0 17179869184\ngpu2 nvidia/0000:00:1f.0 8589934592\n";

    #[test]
    fn region_lines_parse() {
        let r = parse_regions(TWO_GPUS).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[&0],
            Region {
                name: "nvidia/0000:00:1e.0".into(),
                capacity: 16 << 30
            }
        );
        assert_eq!(r[&2].name, "nvidia/0000:00:1f.0");
        assert!(parse_regions("").unwrap().is_empty());
        assert!(parse_regions("\n\n").unwrap().is_empty());
    }

    #[test]
    fn bad_region_lines_are_named() {
        for bad in [
            "gpu0 nvidia/x",
            "gpu0 nvidia/x 12 extra",
            "gpux nvidia/x 12",
            "gpu nvidia/x 12",
            "0 nvidia/x 12",
            "gpu0 nvidia/x -1",
            "gpu0 nvidia/x 4G",
        ] {
            let e = parse_regions(&format!("gpu1 nvidia/y 1\n{bad}\n")).unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
            assert!(e.contains("dmem_regions"), "{e}");
        }
        let e = parse_regions("gpu1 a 1\ngpu1 b 2\n").unwrap_err();
        assert!(
            e.contains("gpu1 twice") && e.contains("\"gpu1 b 2\""),
            "{e}"
        );
    }

    #[test]
    fn value_lines_parse() {
        let v = parse_values("nvidia/0000:00:1e.0 1073741824\nxe/0000:03:00.0 max\n").unwrap();
        assert_eq!(v["nvidia/0000:00:1e.0"], Some(1 << 30));
        assert_eq!(v["xe/0000:03:00.0"], None);
        let e = parse_values("nvidia/a 12\nnvidia/b lots\n").unwrap_err();
        assert!(e.contains("\"nvidia/b lots\""), "{e}");
        assert!(parse_values("nvidia/a\n").is_err());
    }

    #[test]
    fn available_needs_the_controller_and_a_region() {
        let t = Tree::new("available", "cpu memory dmem\n", Some(TWO_GPUS));
        let d = t.dmem();
        assert!(d.available());
        assert_eq!(d.gpus().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(d.region(2).map(|r| r.capacity), Some(8 << 30));
        assert!(d.region(1).is_none());
        // 6.12: no region file.
        let t = Tree::new("no-regions-file", "cpu memory dmem\n", None);
        assert!(!t.dmem().available());
        // Nothing registered.
        let t = Tree::new("empty-regions", "cpu memory dmem\n", Some(""));
        assert!(!t.dmem().available());
        // The kernel lacks the controller.
        let t = Tree::new("no-controller", "cpu memory\n", Some(TWO_GPUS));
        assert!(!t.dmem().available());
        // A bad region file is an error that names it.
        let t = Tree::new("bad-regions", "dmem\n", Some("gpu0 nvidia/x\n"));
        let e = Dmem::at(t.cgroupfs(), &t.sysfs()).unwrap_err();
        assert!(e.contains("\"gpu0 nvidia/x\""), "{e}");
    }

    #[test]
    fn enable_walks_from_the_root_to_the_parent() {
        let t = Tree::new("enable", "cpu memory dmem\n", Some(TWO_GPUS));
        t.cgroup("/kube", &[("cgroup.subtree_control", "cpu memory dmem\n")]);
        t.cgroup("/kube/pod1", &[("cgroup.subtree_control", "memory\n")]);
        t.cgroup("/kube/pod1/ctr", &[("cgroup.subtree_control", "")]);
        t.dmem().enable("/kube/pod1/ctr").unwrap();
        assert_eq!(t.text("cgroup.subtree_control"), "+dmem\n");
        // Already enabled: untouched.
        assert_eq!(t.text("kube/cgroup.subtree_control"), "cpu memory dmem\n");
        assert_eq!(
            t.text("kube/pod1/cgroup.subtree_control"),
            "memory\n+dmem\n"
        );
        // The target's own subtree_control is not its concern.
        assert_eq!(t.text("kube/pod1/ctr/cgroup.subtree_control"), "");
        let e = t.dmem().enable("/kube/absent").unwrap_err();
        assert!(e.contains("no cgroup /kube/absent"), "{e}");
        assert!(t.dmem().enable("/kube/../etc").is_err());
    }

    #[test]
    fn set_max_writes_a_line_per_region_of_the_limited_gpus() {
        let t = Tree::new("set-max", "dmem\n", Some(TWO_GPUS));
        t.cgroup(
            "/team-a",
            &[("cgroup.subtree_control", ""), ("dmem.max", "")],
        );
        let limits = BTreeMap::from([(0, Some(4 << 30)), (1, Some(1 << 30)), (2, None)]);
        t.dmem().set_max("/team-a", &limits).unwrap();
        assert_eq!(t.text("cgroup.subtree_control"), "+dmem\n");
        // gpu1 has no region: no line for it.
        assert_eq!(
            t.text("team-a/dmem.max"),
            "nvidia/0000:00:1e.0 4294967296\nnvidia/0000:00:1f.0 max\n"
        );
    }

    #[test]
    fn set_max_does_nothing_without_dmem_or_regions() {
        let limits = BTreeMap::from([(0, Some(1 << 30))]);
        let t = Tree::new("set-max-off", "cpu memory\n", Some(TWO_GPUS));
        t.cgroup("/a", &[("dmem.max", "")]);
        t.dmem().set_max("/a", &limits).unwrap();
        assert_eq!(t.text("a/dmem.max"), "");
        assert_eq!(t.text("cgroup.subtree_control"), "");
        // A GPU without a region, and the root: nothing to do either.
        let t = Tree::new("set-max-none", "dmem\n", Some(TWO_GPUS));
        t.cgroup("/a", &[("dmem.max", "")]);
        let d = t.dmem();
        d.set_max("/a", &BTreeMap::from([(5, Some(1))])).unwrap();
        d.set_max("/", &limits).unwrap();
        assert_eq!(t.text("a/dmem.max"), "");
        assert_eq!(t.text("cgroup.subtree_control"), "");
    }

    #[test]
    fn set_max_names_a_missing_dmem_max() {
        let t = Tree::new("set-max-missing", "dmem\n", Some(TWO_GPUS));
        t.cgroup("/a", &[]);
        let e = t
            .dmem()
            .set_max("/a", &BTreeMap::from([(0, Some(1 << 30))]))
            .unwrap_err();
        assert!(
            e.contains("dmem.max is absent") && e.contains("cgroup /a"),
            "{e}"
        );
    }

    #[test]
    fn clear_max_lifts_every_region_when_the_file_exists() {
        let t = Tree::new("clear-max", "dmem\n", Some(TWO_GPUS));
        t.cgroup("/a", &[("dmem.max", "")]);
        t.cgroup("/b", &[]);
        let d = t.dmem();
        assert!(d.clear_max("/a").unwrap());
        assert_eq!(
            t.text("a/dmem.max"),
            "nvidia/0000:00:1e.0 max\nnvidia/0000:00:1f.0 max\n"
        );
        assert!(!d.clear_max("/b").unwrap());
        assert!(!t.cgroupfs().join("b/dmem.max").exists());
    }

    #[test]
    fn read_gives_region_values_or_none_without_the_file() {
        let t = Tree::new("read", "dmem\n", Some(TWO_GPUS));
        t.cgroup(
            "/a",
            &[
                ("dmem.current", "nvidia/0000:00:1e.0 1073741824\n"),
                ("dmem.max", "nvidia/0000:00:1e.0 max\n"),
            ],
        );
        t.cgroup("/bad", &[("dmem.current", "nvidia/0000:00:1e.0 x\n")]);
        let d = t.dmem();
        let current = d.read("/a", "dmem.current").unwrap().unwrap();
        assert_eq!(current["nvidia/0000:00:1e.0"], Some(1 << 30));
        let max = d.read("/a", "dmem.max").unwrap().unwrap();
        assert_eq!(max["nvidia/0000:00:1e.0"], None);
        assert_eq!(d.read("/b", "dmem.max").unwrap(), None);
        let e = d.read("/bad", "dmem.current").unwrap_err();
        assert!(
            e.contains("bad/dmem.current") && e.contains("\"nvidia/0000:00:1e.0 x\""),
            "{e}"
        );
    }
}
