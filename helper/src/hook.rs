//! `fakegpu hook STAGE`: the OCI hook. At prestart (or createRuntime) it gives the
//! container fakegpu's nodes at NVIDIA's paths, lets its device cgroup open them and not
//! the real ones, and writes its GPUs and limits into fakegpu's entry for its cgroup (and
//! its GPU memory limits into the cgroup's `dmem.max` where the kernel has dmem: a failure
//! there is only logged). At poststop it removes the entry once nothing is charged to it.
//! Any other failure undoes what was done and is reported in one line; the runtime then
//! aborts the container's creation.

use crate::config::HostConfig;
use crate::device_cgroup::program::build_program;
use crate::device_cgroup::rules::{rule_line, rules_from_config, Kind, Rule};
use crate::device_cgroup::{v1::apply_v1, v2::apply_v2};
use crate::dmem::{self, Dmem};
use crate::host_gpus::{self, HostGpu, DRIVER_PROCFS};
use crate::mounts::{self, Bind, Mask, Work};
use crate::oci::{self, Bundle, State};
use crate::request::devices::{Devices, GpuRef};
use crate::request::plan::{self, Plan};
use crate::request::sources::Request;
use crate::sysfs::{FakeNode, Fakegpu, NvRole};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the hook remembers, per container, which entry it made (for poststop, when the
/// container's process and its /proc/PID/cgroup are gone).
const RECORDS: &str = "/run/fakegpu/containers";
/// Where the hook mounts fakegpu's "fakegpu-nodes" filesystem, in the container's mount
/// namespace only and only while it binds the nodes (see `mounts.rs`).
const NODES_FS: &str = "/run/fakegpu/nodes";
/// The driver parameters file given to containers (see [`params_file`]).
const PARAMS: &str = "/run/fakegpu/params";
/// fakegpu's sysfs directory, hidden inside containers.
const HIDDEN: &str = "/sys/kernel/fakegpu";

/// The hook stages fakegpu acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// Runtime namespace, before pivot_root (runc, crun, Docker's path).
    Prestart,
    /// The same work, for runtimes configured with the newer stage.
    #[value(name = "createRuntime")]
    CreateRuntime,
    /// After the container is gone.
    Poststop,
}

impl Stage {
    /// The stage's name as OCI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prestart => "prestart",
            Stage::CreateRuntime => "createRuntime",
            Stage::Poststop => "poststop",
        }
    }
}

/// Options of `fakegpu hook`.
pub struct Options {
    /// The host configuration file.
    pub config: PathBuf,
    /// The runtime made the nodes and their cgroup rules from a CDI spec: only write the
    /// limits (the GPUs are the ones config.json's devices name).
    pub cdi: bool,
    /// Decide everything, change nothing, print what would be done.
    pub dry_run: bool,
}

/// What the hook made for a container, kept for poststop.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    cgroup: String,
    entry: u64,
    /// Whether the hook made the entry (an operator's own entry is left alone).
    created: bool,
}

/// Runs stage `stage` with the state on stdin.
pub fn run(stage: Stage, opts: &Options) -> Result<(), String> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
        .map_err(|e| format!("reading the container state: {e}"))?;
    let state = oci::parse_state(&text)?;
    check_id(&state.id)?;
    match stage {
        Stage::Prestart | Stage::CreateRuntime => create(&state, opts),
        Stage::Poststop => poststop(&state),
    }
}

/// Says `line` on stderr and in the kernel log: runtimes show a hook's stderr only when it
/// fails, and an operator should see what a successful hook changed (a capped request).
pub fn log(line: &str) {
    eprintln!("{line}");
    if let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        // Priority 5 (notice); one write is one record.
        let _ = std::io::Write::write_all(&mut kmsg, format!("<5>{line}\n").as_bytes());
    }
}

/// Container ids name record files: no separators, no dot files.
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    ok.then_some(())
        .ok_or_else(|| format!("container id {id:?} has characters fakegpu does not accept"))
}

/// The fake nodes a plan gives the container, with their container paths.
fn chosen_nodes<'a>(plan: &Plan, nodes: &'a [FakeNode]) -> Result<Vec<&'a FakeNode>, String> {
    let find = |role: NvRole| nodes.iter().find(|n| n.nv_role() == Some(role));
    let mut chosen = vec![find(NvRole::Ctl).ok_or(
        "fakegpu fronts no /dev/nvidiactl (is NVIDIA's driver loaded, and fakegpu.ko loaded after it?)",
    )?];
    for &gpu in &plan.gpus {
        chosen.push(
            find(NvRole::Gpu(gpu)).ok_or_else(|| format!("fakegpu has no /dev/fakegpu{gpu}"))?,
        );
    }
    // UVM is optional: not every host loads nvidia-uvm.
    chosen.extend(find(NvRole::Uvm));
    Ok(chosen)
}

/// What runc, crun and youki allow in every container on top of config.json's rules
/// (mknod of any node; null, zero, full, random, urandom, tty, ptmx and the pts): the
/// program the hook replaces had them, so the new one must too.
const RUNTIME_DEFAULTS: [(Kind, Option<u32>, Option<u32>, &str); 10] = [
    (Kind::Char, None, None, "m"),
    (Kind::Block, None, None, "m"),
    (Kind::Char, Some(1), Some(3), "rwm"),
    (Kind::Char, Some(1), Some(5), "rwm"),
    (Kind::Char, Some(1), Some(7), "rwm"),
    (Kind::Char, Some(1), Some(8), "rwm"),
    (Kind::Char, Some(1), Some(9), "rwm"),
    (Kind::Char, Some(5), Some(0), "rwm"),
    (Kind::Char, Some(5), Some(2), "rwm"),
    (Kind::Char, Some(136), None, "rwm"),
];

/// The device rules the runtime enforced: config.json's, then the runtime's defaults and
/// the nodes config.json's `linux.devices` lists (runtimes allow both).
fn runtime_rules(bundle: &Bundle) -> Result<Vec<Rule>, String> {
    let mut rules = rules_from_config(bundle.device_rules.as_ref())?;
    let allow = |kind, major, minor, access: &str| Rule {
        allow: true,
        kind,
        major,
        minor,
        access: access.into(),
    };
    for (kind, major, minor, access) in RUNTIME_DEFAULTS {
        rules.push(allow(kind, major, minor, access));
    }
    for (_, major, minor) in &bundle.devices {
        rules.push(allow(Kind::Char, Some(*major), Some(*minor), "rwm"));
    }
    Ok(rules)
}

/// The device rules: the runtime's, then ours, which come last and so decide: the chosen
/// fake nodes may be read and written; NVIDIA's real nodes may not be touched, even by a
/// root that makes its own device nodes.
fn device_rules(
    bundle: &Bundle,
    chosen: &[&FakeNode],
    nodes: &[FakeNode],
) -> Result<Vec<Rule>, String> {
    let mut rules = runtime_rules(bundle)?;
    for n in chosen {
        rules.push(Rule {
            allow: true,
            kind: Kind::Char,
            major: Some(n.major),
            minor: Some(n.minor),
            access: "rw".into(),
        });
    }
    let mut real_majors: Vec<u32> = nodes
        .iter()
        .filter(|n| n.nv_role().is_some())
        .map(|n| n.real.0)
        .collect();
    real_majors.sort_unstable();
    real_majors.dedup();
    for major in real_majors {
        rules.push(Rule {
            allow: false,
            kind: Kind::Char,
            major: Some(major),
            minor: None,
            access: "rwm".into(),
        });
    }
    Ok(rules)
}

/// The GPUs config.json's devices give the container when a CDI spec made them: fakegpu
/// GPU nodes at `/dev/nvidiaN` paths.
fn cdi_gpus(bundle: &Bundle, nodes: &[FakeNode]) -> Vec<u32> {
    let mut gpus: Vec<u32> = bundle
        .devices
        .iter()
        .filter_map(|(_, major, minor)| {
            nodes
                .iter()
                .find(|n| n.major == *major && n.minor == *minor)
                .and_then(FakeNode::nv_role)
        })
        .filter_map(|role| match role {
            NvRole::Gpu(g) => Some(g),
            _ => None,
        })
        .collect();
    gpus.sort_unstable();
    gpus.dedup();
    gpus
}

/// A `gpuN VALUE` line for a per-GPU file, `max` for unlimited.
fn per_gpu_line(values: &std::collections::BTreeMap<u32, Option<u64>>) -> String {
    values
        .iter()
        .map(|(gpu, v)| format!("gpu{gpu} {}", v.map_or("max".into(), |b| b.to_string())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compute caps in percent as `compute.max` takes them: `gpuN QUOTA PERIOD` lines over
/// the default period (`max` for no cap).
fn compute_lines(values: &std::collections::BTreeMap<u32, Option<u64>>) -> String {
    let period = u64::from(policy::compute_share::DEFAULT_PERIOD_US);
    values
        .iter()
        .map(|(gpu, v)| match v {
            Some(pct) => format!("gpu{gpu} {} {period}", period * pct / 100),
            None => format!("gpu{gpu} max {period}"),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The compute weights asked, as `compute.weight` takes them (empty if none was).
fn weight_lines(values: &std::collections::BTreeMap<u32, Option<u64>>) -> String {
    values
        .iter()
        .filter_map(|(gpu, v)| v.map(|w| format!("gpu{gpu} {w}")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The container's GPUs as the entry's `gpus` file takes them.
fn gpus_line(gpus: &[u32]) -> String {
    if gpus.is_empty() {
        "none".into()
    } else {
        gpus.iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What was done so far, undone in reverse on failure.
#[derive(Default)]
struct Undo {
    entry: Option<u64>,
    device_rules: Option<(PathBuf, Vec<Rule>, bool)>,
}

impl Undo {
    fn run(self, fg: &Fakegpu) {
        if let Some((dir, rules, v2)) = self.device_rules {
            let _ = if v2 {
                apply_v2(&dir, &rules)
            } else {
                apply_v1(&dir, &rules)
            };
        }
        if let Some(id) = self.entry {
            let _ = fg.remove(id);
        }
    }
}

fn create(state: &State, opts: &Options) -> Result<(), String> {
    let bundle = oci::read_bundle(&state.bundle)?;
    let config = HostConfig::load(&opts.config)?;
    let mut annotations = bundle.annotations.clone();
    annotations.extend(state.annotations.clone());
    let mut req = Request::read(&annotations, &bundle.env, &config)?;
    // A container that wants no GPU at all starts even where fakegpu.ko is not loaded.
    let void = match &req.devices {
        Some(d) => *d == Devices::Void,
        None => config.default_devices == "void",
    };
    if void && !opts.cdi {
        return Ok(());
    }
    let fg = Fakegpu::open()?;
    let nodes = fg.devices()?;
    let available: Vec<u32> = nodes
        .iter()
        .filter_map(|n| match n.nv_role() {
            Some(NvRole::Gpu(g)) => Some(g),
            _ => None,
        })
        .collect();
    if opts.cdi {
        let minors = cdi_gpus(&bundle, &nodes).into_iter().map(GpuRef::Minor);
        req.devices = Some(Devices::List(minors.collect()));
    }
    // The driver's own list of its GPUs, read here in the host's namespaces: what indices
    // and UUIDs in the request name.
    let host = host_gpus::read(Path::new(DRIVER_PROCFS));
    let Some(plan) = plan::plan(&req, &config, &available, &host)? else {
        return Ok(());
    };
    for note in &plan.notes {
        log(&format!("fakegpu hook: container {}: {note}", state.id));
    }
    let chosen = chosen_nodes(&plan, &nodes)?;
    let pid = state.pid.ok_or(
        "the container state has no pid: is this hook in the prestart or createRuntime stage?",
    )?;
    let (cgroup, v1_devices) = oci::cgroup_of(pid)?;
    let rules = device_rules(&bundle, &chosen, &nodes)?;
    // From fakegpu's nodes filesystem: the same nodes, but `stat` shows NVIDIA's numbers,
    // which NVML and libcuda require. With CDI they go over the nodes the runtime made from
    // the spec (fakegpu's numbers, which the runtime's device rules allow: a nodes-filesystem
    // node is checked as the fake node it opens).
    let mut work = Work {
        nodes_fs: Some(NODES_FS.into()),
        ..Work::default()
    };
    for n in &chosen {
        if let Some(path) = n.nv_path() {
            let name = Path::new(&n.path)
                .file_name()
                .ok_or_else(|| format!("fakegpu node {} has no file name", n.path))?;
            work.binds.push(Bind {
                source: Path::new(NODES_FS).join(name),
                target: path,
                create: true,
            });
        }
    }
    let params = params_file(opts.dry_run)?;
    if let Some(params) = &params {
        work.binds.push(Bind {
            source: params.clone(),
            target: "/proc/driver/nvidia/params".into(),
            create: false,
        });
    }
    // The driver's writable procfs files (its registry, suspend, a GPU's unbind lock ...)
    // act on the whole driver, and some check no capability beyond the file's owner, root:
    // each is covered by a read-only bind of itself, as runc covers /proc/sys.
    for path in writable_driver_files(Path::new(DRIVER_PROCFS)) {
        let target = path
            .to_str()
            .ok_or_else(|| format!("{} is not UTF-8", path.display()))?
            .to_string();
        work.binds.push(Bind {
            source: path,
            target,
            create: false,
        });
    }
    // The driver's per-GPU directories name every GPU's bus, UUID and minor: the container
    // lists only its own (NVIDIA's container library does the same).
    if !host.is_empty() {
        work.masks.push(Mask {
            dir: format!("{DRIVER_PROCFS}/gpus"),
            source: Path::new(DRIVER_PROCFS).join("gpus"),
            keep: kept_gpu_dirs(&host, &plan.gpus),
        });
    }
    work.hide.push(HIDDEN.into());
    if opts.dry_run {
        print_plan(&plan, &cgroup, &rules, &work);
        return Ok(());
    }

    let mut undo = Undo::default();
    let result = (|| -> Result<Record, String> {
        let existed = fg.find(&cgroup)?;
        let created = existed.is_none();
        let entry = match existed {
            Some(e) => e,
            None => fg.add(&cgroup)?,
        };
        if created {
            undo.entry = Some(entry.id);
        }
        entry.write("gpus", &gpus_line(&plan.gpus))?;
        if !plan.gpus.is_empty() {
            entry.write("memory.max", &per_gpu_line(&plan.memory_max))?;
            // The same limits in the dmem controller, where the kernel has it: best
            // effort, since fakegpu's memory.max is in place.
            let say = |w: &str| log(&format!("fakegpu hook: container {}: {w}", state.id));
            if let Some(d) = Dmem::open_or_warn(&fg, say) {
                if let Err(e) = d.set_max(&cgroup, &plan.memory_max) {
                    say(&dmem::set_warning(&cgroup, &e));
                }
            }
            entry.write("channels.max", &per_gpu_line(&plan.channels_max))?;
            entry.write("compute.max", &compute_lines(&plan.compute_max))?;
            let weights = weight_lines(&plan.compute_weight);
            // Unwritten, a weight is the default without making the GPU's groups fakegpu's
            // to schedule.
            if !weights.is_empty() {
                entry.write("compute.weight", &weights)?;
            }
        }
        entry.write("uvm.policy", &plan.uvm_policy)?;
        entry.write("capabilities", &plan.capabilities.to_string())?;
        if !opts.cdi {
            let (dir, v2) = device_cgroup_dir(&cgroup, v1_devices.as_deref());
            let own = runtime_rules(&bundle)?;
            undo.device_rules = Some((dir.clone(), own, v2));
            if v2 {
                apply_v2(&dir, &rules)?;
            } else {
                apply_v1(&dir, &rules)?;
            }
        }
        mounts::apply(pid, &bundle.rootfs, &work)?;
        Ok(Record {
            cgroup: cgroup.clone(),
            entry: entry.id,
            created,
        })
    })();
    if let Some(params) = &params {
        // The container's bind, if made, holds the file; the name is no longer needed.
        let _ = std::fs::remove_file(params);
    }
    match result {
        Ok(record) => save_record(&state.id, &record),
        Err(e) => {
            undo.run(&fg);
            Err(e)
        }
    }
}

/// The device cgroup directory of a container: its v2 directory on a unified host, else
/// its v1 devices directory.
fn device_cgroup_dir(v2: &str, v1_devices: Option<&str>) -> (PathBuf, bool) {
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    match (unified, v1_devices) {
        (false, Some(v1)) => (
            Path::new("/sys/fs/cgroup/devices").join(v1.trim_start_matches('/')),
            false,
        ),
        _ => (
            Path::new("/sys/fs/cgroup").join(v2.trim_start_matches('/')),
            true,
        ),
    }
}

/// The driver's parameters with `ModifyDeviceFiles: 0`, so NVIDIA's userspace in the
/// container never tries to re-create device nodes whose major is not 195: written to a file
/// of this hook's own beside [`PARAMS`] from the host's /proc/driver/nvidia/params. `None` if
/// the host has none.
fn params_file(dry_run: bool) -> Result<Option<PathBuf>, String> {
    let Ok(host) = std::fs::read_to_string("/proc/driver/nvidia/params") else {
        return Ok(None);
    };
    let text = params_text(&host);
    // One file per hook: a shared one replaced by a concurrent hook would be unlinked under
    // this hook's bind, which then fails with ENOENT (seen with two containers starting at
    // once). The bind keeps the file; `create` removes the name once the mounts are made.
    let path = PathBuf::from(format!("{PARAMS}.{}", std::process::id()));
    if !dry_run {
        std::fs::create_dir_all("/run/fakegpu").map_err(|e| format!("/run/fakegpu: {e}"))?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(Some(path))
}

/// The files under `dir` (the driver's procfs, three levels deep: `gpus/BDF/FILE`) that
/// someone may write, but `params`, which is replaced by [`params_file`]'s copy. Sorted.
fn writable_driver_files(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let mut found = Vec::new();
    let mut dirs = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = e.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() && depth < 2 {
                dirs.push((e.path(), depth + 1));
            } else if meta.is_file()
                && meta.permissions().mode() & 0o222 != 0
                && !(depth == 0 && e.file_name() == "params")
            {
                found.push(e.path());
            }
        }
    }
    found.sort();
    found
}

/// The host's driver parameters with `ModifyDeviceFiles` set to 0 in its own place: NVIDIA's
/// userspace stops reading the file at the first value that is not a number (the quoted
/// strings at its end), so a line appended after them would never be seen.
fn params_text(host: &str) -> String {
    let mut seen = false;
    let mut text: String = host
        .lines()
        .map(|l| {
            if l.starts_with("ModifyDeviceFiles:") {
                seen = true;
                "ModifyDeviceFiles: 0\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    if !seen {
        text.insert_str(0, "ModifyDeviceFiles: 0\n");
    }
    text
}

fn print_plan(plan: &Plan, cgroup: &str, rules: &[Rule], work: &Work) {
    println!("cgroup {cgroup}");
    println!("gpus {}", gpus_line(&plan.gpus));
    println!("memory.max {}", per_gpu_line(&plan.memory_max));
    println!("channels.max {}", per_gpu_line(&plan.channels_max));
    println!(
        "compute.max {}",
        compute_lines(&plan.compute_max).replace('\n', ", ")
    );
    println!(
        "compute.weight {}",
        weight_lines(&plan.compute_weight).replace('\n', ", ")
    );
    println!("uvm.policy {}", plan.uvm_policy);
    println!("capabilities {}", plan.capabilities);
    for r in rules {
        println!("device rule {}", rule_line(r));
    }
    // Built as apply_v2 would, so the dry run costs what the real decision costs.
    let program = build_program(rules);
    println!("device program {} instructions", program.len());
    for b in &work.binds {
        println!("bind {} -> {}", b.source.display(), b.target);
    }
    for m in &work.masks {
        println!("mask {} keeping {}", m.dir, m.keep.join(","));
    }
    for h in &work.hide {
        println!("hide {h}");
    }
}

/// The directories under the driver's `gpus/` of the GPUs (minors) a container gets.
fn kept_gpu_dirs(host: &[HostGpu], gpus: &[u32]) -> Vec<String> {
    host.iter()
        .filter(|g| gpus.contains(&g.minor))
        .map(|g| g.bus.clone())
        .collect()
}

fn save_record(id: &str, record: &Record) -> Result<(), String> {
    std::fs::create_dir_all(RECORDS).map_err(|e| format!("{RECORDS}: {e}"))?;
    let path = Path::new(RECORDS).join(id);
    let text = serde_json::to_string(record).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// poststop: the entry goes once the container's charges are gone (the module releases
/// them when the last file closes, which may lag the process's exit slightly); an entry
/// still in use is left to the module's reaper, which removes it once its cgroup is gone
/// and nothing is charged.
fn poststop(state: &State) -> Result<(), String> {
    let path = Path::new(RECORDS).join(&state.id);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let record: Record =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if record.created {
        if let Ok(fg) = Fakegpu::open() {
            let t0 = Instant::now();
            loop {
                if fg.remove(record.entry)? {
                    break;
                }
                if t0.elapsed() > Duration::from_secs(3) {
                    eprintln!(
                        "fakegpu hook: {} still has GPU memory charged; its entry goes once that is freed",
                        record.cgroup
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(path: &str, major: u32, minor: u32, real: (u32, u32)) -> FakeNode {
        FakeNode {
            path: path.into(),
            major,
            minor,
            real,
        }
    }

    #[test]
    fn params_keep_the_host_values_but_never_modify_device_files() {
        let host =
            "ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 1\nDeviceFileUID: 0\nRmMsg: \"\"\n";
        assert_eq!(
            params_text(host),
            "ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 0\nDeviceFileUID: 0\nRmMsg: \"\"\n"
        );
        assert_eq!(
            params_text("RmMsg: \"\"\n"),
            "ModifyDeviceFiles: 0\nRmMsg: \"\"\n",
            "first when the host has none, before any quoted value"
        );
        assert_eq!(params_text(""), "ModifyDeviceFiles: 0\n");
    }

    #[test]
    fn only_the_containers_gpus_are_kept_in_procfs() {
        let gpu = |bus: &str, minor| HostGpu {
            bus: bus.into(),
            uuid: format!("GPU-{minor}"),
            minor,
        };
        let host = [
            gpu("0000:01:00.0", 1),
            gpu("0000:02:00.0", 0),
            gpu("0000:03:00.0", 2),
        ];
        assert_eq!(
            kept_gpu_dirs(&host, &[0, 2]),
            ["0000:02:00.0", "0000:03:00.0"]
        );
        assert!(kept_gpu_dirs(&host, &[]).is_empty());
    }

    #[test]
    fn writable_driver_files_are_found_three_levels_deep() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("fakegpu-procfs-{}", std::process::id()));
        let gpu = dir.join("gpus/0000:01:00.0");
        std::fs::create_dir_all(&gpu).unwrap();
        let file = |rel: &str, mode: u32| {
            let p = dir.join(rel);
            std::fs::write(&p, "").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        file("version", 0o444);
        file("params", 0o644);
        file("registry", 0o644);
        file("suspend", 0o200);
        file("gpus/0000:01:00.0/information", 0o444);
        file("gpus/0000:01:00.0/unbindLock", 0o644);
        let found = writable_driver_files(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let rel: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            rel,
            ["gpus/0000:01:00.0/unbindLock", "registry", "suspend"],
            "params is replaced, not covered; read-only files are left"
        );
        assert!(writable_driver_files(Path::new("/nonexistent")).is_empty());
    }

    #[test]
    fn ids_and_lines() {
        assert!(check_id("abc-1_2.x").is_ok());
        assert!(check_id("../x").is_err());
        assert!(check_id(".hidden").is_err());
        assert!(check_id("").is_err());
        assert_eq!(gpus_line(&[]), "none");
        assert_eq!(gpus_line(&[0, 2]), "0,2");
        let m = [(0, Some(64 << 20)), (1, None)].into_iter().collect();
        assert_eq!(per_gpu_line(&m), "gpu0 67108864 gpu1 max");
    }

    #[test]
    fn rules_allow_the_chosen_fake_nodes_and_deny_the_real_majors_last() {
        let nodes = vec![
            node("/dev/fakegpuctl", 240, 255, (195, 255)),
            node("/dev/fakegpu0", 240, 0, (195, 0)),
            node("/dev/fakegpu1", 240, 1, (195, 1)),
            node("/dev/fakegpu-uvm", 239, 0, (238, 0)),
            node("/dev/fakedri/card0", 241, 0, (226, 0)),
        ];
        let plan = Plan {
            gpus: vec![1],
            memory_max: Default::default(),
            channels_max: Default::default(),
            compute_max: Default::default(),
            compute_weight: Default::default(),
            uvm_policy: "allow".into(),
            capabilities: policy::nv_caps::Capabilities::DEFAULT,
            notes: vec![],
        };
        let chosen = chosen_nodes(&plan, &nodes).unwrap();
        let paths: Vec<_> = chosen.iter().filter_map(|n| n.nv_path()).collect();
        assert_eq!(paths, ["/dev/nvidiactl", "/dev/nvidia1", "/dev/nvidia-uvm"]);
        let bundle = oci::parse_bundle(
            Path::new("/b"),
            r#"{"root":{"path":"r"},"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":195,"minor":0,"access":"rw"}]}}}"#,
        )
        .unwrap();
        let rules = device_rules(&bundle, &chosen, &nodes).unwrap();
        let base = 2 + RUNTIME_DEFAULTS.len();
        assert_eq!(rules.len(), base + 3 + 2);
        assert!(rules[2..base].iter().all(|r| r.allow));
        assert!(rules[base..base + 3]
            .iter()
            .all(|r| r.allow && matches!(r.major, Some(240 | 239))));
        assert_eq!(
            rules[base + 3..]
                .iter()
                .map(|r| (r.allow, r.major))
                .collect::<Vec<_>>(),
            [(false, Some(195)), (false, Some(238))]
        );
        let missing = Plan {
            gpus: vec![3],
            ..plan
        };
        assert!(chosen_nodes(&missing, &nodes).is_err());
    }

    #[test]
    fn cdi_gpus_come_from_config_devices() {
        let nodes = vec![
            node("/dev/fakegpu0", 240, 0, (195, 0)),
            node("/dev/fakegpu1", 240, 1, (195, 1)),
        ];
        let bundle = oci::parse_bundle(
            Path::new("/b"),
            r#"{"root":{"path":"r"},"linux":{"devices":[{"path":"/dev/nvidia1","type":"c","major":240,"minor":1},{"path":"/dev/nvidia0","type":"c","major":195,"minor":0}]}}"#,
        )
        .unwrap();
        assert_eq!(cdi_gpus(&bundle, &nodes), [1]);
    }
}
