//! `fakegpu quota set|get|clear`: an operator's hand on a cgroup's entry.

use crate::dmem::{self, Dmem};
use crate::sysfs::{parse_per_gpu, Fakegpu};
use crate::units::{
    check_count, check_percent, check_size, check_weight, per_gpu_map, per_gpu_spec,
};
use policy::compute_share::DEFAULT_PERIOD_US;
use policy::gpu_set::Visibility;
use policy::ledger::UNLIMITED;
use policy::nv_caps::Capabilities;
use std::collections::BTreeMap;

/// The cgroup path fakegpu's control file takes: from the root of the v2 hierarchy.
/// `/sys/fs/cgroup/a/b` and `/a/b` name the same cgroup.
pub fn cgroup_path(arg: &str) -> Result<String, String> {
    let path = arg.strip_prefix("/sys/fs/cgroup").unwrap_or(arg);
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with('/') {
        return Err(format!(
            "--cgroup {arg:?}: give the path from the root of the cgroup v2 hierarchy, such as /team-a"
        ));
    }
    Ok(path.trim_end_matches('/').to_string()).map(|p| if p.is_empty() { "/".into() } else { p })
}

/// The limits `quota set` writes; `None` leaves a file as it is.
#[derive(Debug, Default)]
pub struct Limits {
    /// `8G`, `max` or `gpu0=8G,gpu1=4G`.
    pub memory: Option<String>,
    /// `16`, `max` or `gpu0=16,gpu1=8`.
    pub channels: Option<String>,
    /// `all`, `none` or `0,2-3`.
    pub gpus: Option<String>,
    /// `allow` or `deny`.
    pub uvm: Option<String>,
    /// `compute,utility`, `all`, `none` ...
    pub capabilities: Option<String>,
    /// `own` or `all`.
    pub processes: Option<String>,
    /// `30%`, `max` or `gpu0=30%,gpu1=50%`.
    pub compute: Option<String>,
    /// `300` or `gpu0=300,gpu1=100` (1-10000).
    pub compute_weight: Option<String>,
}

/// Checks every value first, so a bad one changes nothing; then makes the entry if needed
/// and writes them. A GPU memory limit is also written to the cgroup's `dmem.max` for the
/// GPUs with a dmem region (`dmem`: the controller, if the host has it read); that failing
/// is one of the returned warnings, not an error, as fakegpu's own limit is in place.
pub fn set(
    fg: &Fakegpu,
    dmem: Option<&Dmem>,
    cgroup: &str,
    limits: &Limits,
) -> Result<Vec<String>, String> {
    let memory = limits
        .memory
        .as_deref()
        .map(|m| per_gpu_spec(m, check_size).map_err(|e| format!("--memory {e}")))
        .transpose()?;
    let channels = limits
        .channels
        .as_deref()
        .map(|c| per_gpu_spec(c, check_count).map_err(|e| format!("--channels {e}")))
        .transpose()?;
    if let Some(g) = &limits.gpus {
        Visibility::parse(g).map_err(|e| format!("--gpus {g:?}: {e}"))?;
    }
    if let Some(u) = &limits.uvm {
        if u != "allow" && u != "deny" {
            return Err(format!("--uvm {u:?}: expected allow or deny"));
        }
    }
    let capabilities = limits
        .capabilities
        .as_deref()
        .map(|c| {
            Capabilities::parse(c)
                .map(|caps| caps.to_string())
                .map_err(|e| format!("--capabilities {c:?}: {e}"))
        })
        .transpose()?;
    if let Some(p) = &limits.processes {
        if p != "own" && p != "all" {
            return Err(format!("--processes {p:?}: expected own or all"));
        }
    }
    let compute = limits
        .compute
        .as_deref()
        .map(|c| compute_spec(c).map_err(|e| format!("--compute {e}")))
        .transpose()?;
    let compute_weight = limits
        .compute_weight
        .as_deref()
        .map(|w| per_gpu_spec(w, check_weight).map_err(|e| format!("--compute-weight {e}")))
        .transpose()?;
    let entry = fg.add(cgroup)?;
    for (file, value) in [
        ("compute.max", compute),
        ("compute.weight", compute_weight),
        ("gpus", limits.gpus.clone()),
        ("memory.max", memory),
        ("channels.max", channels),
        ("uvm.policy", limits.uvm.clone()),
        ("capabilities", capabilities),
        ("processes", limits.processes.clone()),
    ] {
        if let Some(v) = value {
            entry.write(file, &v)?;
        }
    }
    let mut warnings = Vec::new();
    if let (Some(text), Some(dmem)) = (&limits.memory, dmem) {
        let bytes = memory_by_gpu(text, dmem.gpus()).map_err(|e| format!("--memory {e}"))?;
        if let Err(e) = dmem.set_max(cgroup, &bytes) {
            warnings.push(dmem::set_warning(cgroup, &e));
        }
    }
    Ok(warnings)
}

/// The bytes a `--memory` value gives each GPU (`None`: max): a single value every GPU of
/// `all`, `gpuN=` entries the GPUs they name.
fn memory_by_gpu(
    text: &str,
    all: impl Iterator<Item = u32>,
) -> Result<BTreeMap<u32, Option<u64>>, String> {
    let bytes = |v: &str| check_size(v).map(|b| (b != UNLIMITED).then_some(b));
    let text = text.trim();
    if !text.contains('=') {
        let b = bytes(text).map_err(|e| format!("{text:?}: {e}"))?;
        return Ok(all.map(|gpu| (gpu, b)).collect());
    }
    let line = |v: &str| bytes(v).map(|b| b.map_or_else(|| "max".into(), |b| b.to_string()));
    Ok(parse_per_gpu(&per_gpu_map(text, line, "\n")?))
}

/// A compute cap as the command line takes it (`30%`, `max`, `gpu0=30%,gpu1=max`) as
/// `compute.max` takes it: `QUOTA PERIOD` in us over the default period, per GPU or for all.
fn compute_spec(text: &str) -> Result<String, String> {
    let period = u64::from(DEFAULT_PERIOD_US);
    let line = |value: &str| {
        check_percent(value).map(|pct| {
            if pct == UNLIMITED {
                format!("max {period}")
            } else {
                format!("{} {period}", period * pct / 100)
            }
        })
    };
    per_gpu_map(text, line, "\n")
}

/// The files of an entry that `get` shows, in its order.
const ENTRY_FILES: [&str; 10] = [
    "gpus",
    "memory.max",
    "channels.max",
    "uvm.policy",
    "capabilities",
    "processes",
    "compute.max",
    "compute.weight",
    "drm.memory.max",
    "submissions.max_rate",
];

/// The entry's settings, as text; with the cgroup's `dmem.max` and `dmem.current` if it
/// has them.
pub fn get(fg: &Fakegpu, dmem: Option<&Dmem>, cgroup: &str) -> Result<String, String> {
    let entry = fg
        .find(cgroup)?
        .ok_or_else(|| format!("{cgroup} has no fakegpu entry (no limits)"))?;
    let mut out = format!("cgroup {cgroup} (id {})\n", entry.id);
    for file in ENTRY_FILES {
        let text = entry.read(file)?;
        out.push_str(&line(file, &text));
    }
    for file in ["dmem.max", "dmem.current"] {
        if let Some(text) = dmem
            .map(|d| d.read_text(cgroup, file))
            .transpose()?
            .flatten()
        {
            out.push_str(&line(file, &text));
        }
    }
    Ok(out)
}

/// `FILE: VALUE, VALUE` for `get`.
fn line(file: &str, text: &str) -> String {
    format!("{file}: {}\n", text.trim().replace('\n', ", "))
}

/// Lifts every limit and removes the entry, and lifts the cgroup's `dmem.max` in fakegpu's
/// regions if it has one. Returns what was done, and warnings (a `dmem.max` that could not
/// be lifted).
pub fn clear(
    fg: &Fakegpu,
    dmem: Option<&Dmem>,
    cgroup: &str,
) -> Result<(String, Vec<String>), String> {
    let mut message = clear_entry(fg, cgroup)?;
    let mut warnings = Vec::new();
    match dmem.map(|d| d.clear_max(cgroup)) {
        Some(Ok(true)) => message.push_str("; dmem.max lifted"),
        Some(Err(e)) => warnings.push(dmem::clear_warning(cgroup, &e)),
        Some(Ok(false)) | None => {}
    }
    Ok((message, warnings))
}

/// Lifts every limit and removes the entry; if something is still charged, the limits are
/// lifted and the entry stays (it goes with its cgroup once the charges are freed).
fn clear_entry(fg: &Fakegpu, cgroup: &str) -> Result<String, String> {
    let Some(entry) = fg.find(cgroup)? else {
        return Ok(format!("{cgroup} had no fakegpu entry"));
    };
    if fg.remove(entry.id)? {
        return Ok(format!("{cgroup}: entry removed"));
    }
    for (file, value) in [
        ("gpus", "all"),
        ("memory.max", "max"),
        ("channels.max", "max"),
        ("uvm.policy", "allow"),
        ("capabilities", "all"),
        ("processes", "own"),
        ("compute.max", "max"),
        ("compute.weight", "100"),
        ("drm.memory.max", "max"),
        ("submissions.max_rate", "max"),
    ] {
        entry.write(file, value)?;
    }
    Ok(format!(
        "{cgroup}: limits lifted; the entry stays while GPU memory is still charged to it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dmem::tests::{Tree, TWO_GPUS};
    use std::fs;
    use std::path::PathBuf;

    /// fakegpu's entry 7 for /team-a in the tree's sysfs, its files empty.
    fn entry(t: &Tree) -> (Fakegpu, PathBuf) {
        // Writes go over a regular file from its start: the first line takes the helper's
        // `add /team-a`, the second is the entry the module would list.
        fs::write(
            t.sysfs().join("cgroups/control"),
            "add /team-a\n7 /team-a\n",
        )
        .unwrap();
        let dir = t.sysfs().join("cgroups/7");
        fs::create_dir_all(&dir).unwrap();
        for file in ENTRY_FILES {
            fs::write(dir.join(file), "").unwrap();
        }
        (Fakegpu::at(t.sysfs()).unwrap(), dir)
    }

    fn memory(text: &str) -> Limits {
        Limits {
            memory: Some(text.into()),
            ..Limits::default()
        }
    }

    #[test]
    fn set_mirrors_the_memory_limit_into_dmem_max() {
        let t = Tree::new("quota-set", "cpu memory dmem\n", Some(TWO_GPUS));
        t.cgroup(
            "/team-a",
            &[("cgroup.subtree_control", ""), ("dmem.max", "")],
        );
        let (fg, dir) = entry(&t);
        let dmem = t.dmem();
        let warnings = set(&fg, Some(&dmem), "/team-a", &memory("gpu0=4G,gpu1=2G")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            fs::read_to_string(dir.join("memory.max")).unwrap(),
            "gpu0 4G gpu1 2G"
        );
        assert_eq!(t.text("cgroup.subtree_control"), "+dmem\n");
        // gpu1 has no region.
        assert_eq!(
            t.text("team-a/dmem.max"),
            "nvidia/0000:00:1e.0 4294967296\n"
        );
        // A single value limits every GPU with a region; max lifts.
        set(&fg, Some(&dmem), "/team-a", &memory("max")).unwrap();
        assert_eq!(
            t.text("team-a/dmem.max"),
            "nvidia/0000:00:1e.0 4294967296\nnvidia/0000:00:1e.0 max\nnvidia/0000:00:1f.0 max\n"
        );
    }

    #[test]
    fn set_leaves_dmem_alone_without_a_memory_limit_or_the_controller() {
        let t = Tree::new("quota-set-none", "cpu memory\n", Some(TWO_GPUS));
        t.cgroup("/team-a", &[("dmem.max", "")]);
        let (fg, dir) = entry(&t);
        let warnings = set(&fg, Some(&t.dmem()), "/team-a", &memory("1G")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(fs::read_to_string(dir.join("memory.max")).unwrap(), "1G");
        assert_eq!(t.text("team-a/dmem.max"), "");
        assert_eq!(t.text("cgroup.subtree_control"), "");
        let t = Tree::new("quota-set-channels", "dmem\n", Some(TWO_GPUS));
        t.cgroup("/team-a", &[("dmem.max", "")]);
        let (fg, _) = entry(&t);
        let channels = Limits {
            channels: Some("16".into()),
            ..Limits::default()
        };
        assert!(set(&fg, Some(&t.dmem()), "/team-a", &channels)
            .unwrap()
            .is_empty());
        assert_eq!(t.text("team-a/dmem.max"), "");
    }

    #[test]
    fn a_dmem_failure_is_a_warning_and_fakegpus_limit_stays() {
        let t = Tree::new("quota-set-warn", "dmem\n", Some(TWO_GPUS));
        t.cgroup("/team-a", &[]);
        let (fg, dir) = entry(&t);
        let warnings = set(&fg, Some(&t.dmem()), "/team-a", &memory("8G")).unwrap();
        assert_eq!(fs::read_to_string(dir.join("memory.max")).unwrap(), "8G");
        let [w] = warnings.as_slice() else {
            panic!("{warnings:?}");
        };
        assert!(
            w.starts_with("warning: cgroup /team-a: dmem.max not set: "),
            "{w}"
        );
        assert!(w.contains("dmem.max is absent"), "{w}");
        assert!(w.ends_with("fakegpu's own memory.max still applies"), "{w}");
        // An ancestor that refuses +dmem is named.
        let t = Tree::new("quota-set-refused", "dmem\n", Some(TWO_GPUS));
        t.cgroup("/team-a/job", &[("dmem.max", "")]);
        fs::create_dir(t.cgroupfs().join("team-a/cgroup.subtree_control")).unwrap();
        fs::write(
            t.sysfs().join("cgroups/control"),
            "add /team-a/job\n7 /team-a/job\n",
        )
        .unwrap();
        let dir = t.sysfs().join("cgroups/7");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("memory.max"), "").unwrap();
        let fg = Fakegpu::at(t.sysfs()).unwrap();
        let warnings = set(&fg, Some(&t.dmem()), "/team-a/job", &memory("8G")).unwrap();
        let [w] = warnings.as_slice() else {
            panic!("{warnings:?}");
        };
        assert!(w.contains("cgroup /team-a/job"), "{w}");
        assert!(w.contains("team-a/cgroup.subtree_control"), "{w}");
        assert_eq!(t.text("team-a/job/dmem.max"), "");
    }

    #[test]
    fn get_shows_dmem_files_the_cgroup_has() {
        let t = Tree::new("quota-get", "dmem\n", Some(TWO_GPUS));
        t.cgroup(
            "/team-a",
            &[
                (
                    "dmem.max",
                    "nvidia/0000:00:1e.0 4294967296\nnvidia/0000:00:1f.0 max\n",
                ),
                (
                    "dmem.current",
                    "nvidia/0000:00:1e.0 1048576\nnvidia/0000:00:1f.0 0\n",
                ),
            ],
        );
        let (fg, dir) = entry(&t);
        fs::write(dir.join("memory.max"), "gpu0 4294967296\ngpu2 max\n").unwrap();
        let out = get(&fg, Some(&t.dmem()), "/team-a").unwrap();
        assert!(
            out.contains("memory.max: gpu0 4294967296, gpu2 max\n"),
            "{out}"
        );
        assert!(
            out.contains("dmem.max: nvidia/0000:00:1e.0 4294967296, nvidia/0000:00:1f.0 max\n"),
            "{out}"
        );
        assert!(
            out.contains("dmem.current: nvidia/0000:00:1e.0 1048576, nvidia/0000:00:1f.0 0\n"),
            "{out}"
        );
        let t = Tree::new("quota-get-none", "cpu\n", None);
        t.cgroup("/team-a", &[]);
        let (fg, _) = entry(&t);
        let out = get(&fg, Some(&t.dmem()), "/team-a").unwrap();
        assert!(!out.contains("dmem"), "{out}");
    }

    #[test]
    fn clear_lifts_dmem_max_in_every_region() {
        let t = Tree::new("quota-clear", "dmem\n", Some(TWO_GPUS));
        t.cgroup("/team-a", &[("dmem.max", "")]);
        let (fg, _) = entry(&t);
        let (message, warnings) = clear(&fg, Some(&t.dmem()), "/team-a").unwrap();
        assert_eq!(message, "/team-a: entry removed; dmem.max lifted");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            t.text("team-a/dmem.max"),
            "nvidia/0000:00:1e.0 max\nnvidia/0000:00:1f.0 max\n"
        );
        // No dmem.max: nothing to lift, nothing said.
        let t = Tree::new("quota-clear-none", "cpu\n", None);
        t.cgroup("/team-a", &[]);
        let (fg, _) = entry(&t);
        let (message, _) = clear(&fg, Some(&t.dmem()), "/team-a").unwrap();
        assert_eq!(message, "/team-a: entry removed");
    }

    #[test]
    fn memory_values_by_gpu() {
        let g = 1u64 << 30;
        assert_eq!(
            memory_by_gpu("4G", [0, 2].into_iter()).unwrap(),
            BTreeMap::from([(0, Some(4 * g)), (2, Some(4 * g))])
        );
        assert_eq!(
            memory_by_gpu("gpu1=1G,gpu3=max", [0].into_iter()).unwrap(),
            BTreeMap::from([(1, Some(g)), (3, None)])
        );
        assert!(memory_by_gpu("gpu1=lots", [0].into_iter()).is_err());
    }

    #[test]
    fn compute_specs() {
        assert_eq!(compute_spec("30%").unwrap(), "30000 100000");
        assert_eq!(compute_spec("max").unwrap(), "max 100000");
        assert_eq!(
            compute_spec("gpu0=25,gpu1=max").unwrap(),
            "gpu0 25000 100000\ngpu1 max 100000"
        );
        for bad in ["150%", "x", "gpu0", "gpux=5%", "0.5"] {
            assert!(compute_spec(bad).is_err(), "{bad} taken");
        }
    }

    #[test]
    fn cgroup_paths() {
        assert_eq!(cgroup_path("/team-a").unwrap(), "/team-a");
        assert_eq!(cgroup_path("/sys/fs/cgroup/team-a/").unwrap(), "/team-a");
        assert_eq!(cgroup_path("/sys/fs/cgroup").unwrap(), "/");
        assert!(cgroup_path("team-a").is_err());
    }
}
