//! `fakegpu quota set|get|clear`: an operator's hand on a cgroup's entry.

use crate::sysfs::Fakegpu;
use crate::units::{
    check_count, check_percent, check_size, check_weight, per_gpu_map, per_gpu_spec,
};
use policy::compute_share::DEFAULT_PERIOD_US;
use policy::gpu_set::Visibility;
use policy::ledger::UNLIMITED;
use policy::nv_caps::Capabilities;

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
/// and writes them.
pub fn set(fg: &Fakegpu, cgroup: &str, limits: &Limits) -> Result<(), String> {
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
    Ok(())
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

/// The entry's settings, as text.
pub fn get(fg: &Fakegpu, cgroup: &str) -> Result<String, String> {
    let entry = fg
        .find(cgroup)?
        .ok_or_else(|| format!("{cgroup} has no fakegpu entry (no limits)"))?;
    let mut out = format!("cgroup {cgroup} (id {})\n", entry.id);
    for file in [
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
    ] {
        let text = entry.read(file)?;
        let value = text.trim().replace('\n', ", ");
        out.push_str(&format!("{file}: {value}\n"));
    }
    Ok(out)
}

/// Lifts every limit and removes the entry; if something is still charged, the limits are
/// lifted and the entry stays (it goes with its cgroup once the charges are freed).
pub fn clear(fg: &Fakegpu, cgroup: &str) -> Result<String, String> {
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
