//! `fakegpu cdi generate`: a CDI spec (Container Device Interface) that maps fakegpu's nodes
//! to NVIDIA's paths inside containers, for podman, containerd, CRI-O and Docker >= 25.
//!
//! The runtime creates each node at NVIDIA's path with the fake node's major:minor and
//! allows it in the container's device cgroup. The spec's hooks then run the helper:
//! `hook createRuntime --cdi` writes the limits for the GPUs the container got and binds
//! fakegpu's `fakegpu-nodes` nodes over the runtime's (NVIDIA's numbers in `stat`, which
//! NVML and libcuda check), and `hook poststop` removes the entry afterwards.

use crate::host_gpus::HostGpu;
use serde_json::{json, Value};
use std::path::Path;

/// The spec's kind: devices are named `fakegpu.io/gpu=0`, ..., `fakegpu.io/gpu=all`, and
/// `fakegpu.io/gpu=GPU-<uuid>` by UUID.
pub const KIND: &str = "fakegpu.io/gpu";

/// The CDI version the spec declares: the lowest with what it uses (device names starting
/// with a digit and `hostPath` came in 0.5.0), so older CDI libraries, which reject versions
/// they do not know, accept it too.
pub const CDI_VERSION: &str = "0.5.0";

/// Seconds the runtime lets a hook run: a hung hook would otherwise hold up the container
/// for good (poststop waits up to 3 s for charges to go).
pub const HOOK_TIMEOUT: u32 = 10;

/// A fake node the spec exposes: fakegpu's node on the host and the path the container sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// e.g. `/dev/fakegpu0`.
    pub host_path: String,
    /// e.g. `/dev/nvidia0`.
    pub container_path: String,
    /// The fake node's device number.
    pub major: u32,
    /// The fake node's device number.
    pub minor: u32,
}

/// The spec's inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// One per GPU: (minor, its node).
    pub gpus: Vec<(u32, Node)>,
    /// The driver's list of its GPUs (PCI order: NVML's indices), for names by index and
    /// UUID; empty without it (names are then minors).
    pub host: Vec<HostGpu>,
    /// The control node and, when present, the uvm node: every device gets them.
    pub common: Vec<Node>,
    /// The helper's absolute path, for the hooks the spec adds.
    pub helper: String,
}

/// A node as CDI's `deviceNodes` entry.
fn device_node(n: &Node) -> Value {
    json!({
        "path": n.container_path,
        "hostPath": n.host_path,
        "type": "c",
        "major": n.major,
        "minor": n.minor,
        "permissions": "rw",
    })
}

/// A CDI device: its GPU nodes plus the common ones.
fn device<'a>(name: String, gpus: impl Iterator<Item = &'a Node>, common: &'a [Node]) -> Value {
    let nodes: Vec<Value> = gpus.chain(common).map(device_node).collect();
    json!({ "name": name, "containerEdits": { "deviceNodes": nodes } })
}

/// The CDI spec as JSON text (kind `fakegpu.io/gpu`): each GPU by its NVML index and by its
/// UUID, as NVIDIA's own specs name them, and `all`.
pub fn generate(inputs: &Inputs) -> String {
    // (index, UUID if known, node), in index order.
    let mut gpus: Vec<(u32, Option<&str>, &Node)> = inputs
        .gpus
        .iter()
        .map(|(minor, node)| {
            let at = inputs.host.iter().position(|g| g.minor == *minor);
            let index = at.and_then(|i| u32::try_from(i).ok()).unwrap_or(*minor);
            let uuid = at.and_then(|i| inputs.host.get(i)).map(|g| g.uuid.as_str());
            (index, uuid, node)
        })
        .collect();
    gpus.sort_by_key(|(index, _, _)| *index);
    let mut devices: Vec<Value> = Vec::new();
    for (index, _, node) in &gpus {
        devices.push(device(
            index.to_string(),
            std::iter::once(*node),
            &inputs.common,
        ));
    }
    for (_, uuid, node) in &gpus {
        if let Some(uuid) = uuid {
            devices.push(device(
                uuid.to_string(),
                std::iter::once(*node),
                &inputs.common,
            ));
        }
    }
    devices.push(device(
        "all".into(),
        gpus.iter().map(|(_, _, n)| *n),
        &inputs.common,
    ));
    // args[0] is what the hook sees as its name; runtimes pass args as given.
    let name = Path::new(&inputs.helper).file_name().map_or_else(
        || inputs.helper.clone(),
        |n| n.to_string_lossy().into_owned(),
    );
    let spec = json!({
        "cdiVersion": CDI_VERSION,
        "kind": KIND,
        "devices": devices,
        "containerEdits": {
            "hooks": [
                {
                    "hookName": "createRuntime",
                    "path": inputs.helper,
                    "args": [name, "hook", "createRuntime", "--cdi"],
                    "timeout": HOOK_TIMEOUT,
                },
                {
                    "hookName": "poststop",
                    "path": inputs.helper,
                    "args": [name, "hook", "poststop"],
                    "timeout": HOOK_TIMEOUT,
                },
            ],
        },
    });
    // Serializing a Value cannot fail; the fallback keeps this free of panics regardless.
    serde_json::to_string_pretty(&spec).unwrap_or_else(|_| spec.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn node(host: &str, path: &str, major: u32, minor: u32) -> Node {
        Node {
            host_path: host.into(),
            container_path: path.into(),
            major,
            minor,
        }
    }

    fn inputs() -> Inputs {
        Inputs {
            gpus: vec![
                (1, node("/dev/fakegpu1", "/dev/nvidia1", 240, 1)),
                (0, node("/dev/fakegpu0", "/dev/nvidia0", 240, 0)),
            ],
            host: Vec::new(),
            common: vec![
                node("/dev/fakegpuctl", "/dev/nvidiactl", 240, 255),
                node("/dev/fakegpu-uvm", "/dev/nvidia-uvm", 239, 0),
            ],
            helper: "/usr/local/bin/fakegpu".into(),
        }
    }

    /// The `(hostPath, path, major, minor)` of a device's nodes.
    fn nodes(device: &Value) -> Vec<(String, String, u64, u64)> {
        device["containerEdits"]["deviceNodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                assert_eq!(n["type"], "c");
                assert_eq!(n["permissions"], "rw");
                (
                    n["hostPath"].as_str().unwrap().to_string(),
                    n["path"].as_str().unwrap().to_string(),
                    n["major"].as_u64().unwrap(),
                    n["minor"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    fn strings(v: &Value) -> Vec<&str> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect()
    }

    /// `args` run through the helper's own command line parser.
    fn parses(args: &[&str]) -> bool {
        crate::Cli::try_parse_from(args).is_ok()
    }

    #[test]
    fn spec_devices_nodes_and_hooks() {
        let text = generate(&inputs());
        let spec: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(spec["cdiVersion"], CDI_VERSION);
        assert_eq!(spec["kind"], "fakegpu.io/gpu");
        let devices = spec["devices"].as_array().unwrap();
        let names: Vec<&str> = devices
            .iter()
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["0", "1", "all"]);
        let ctl = (
            "/dev/fakegpuctl".to_string(),
            "/dev/nvidiactl".to_string(),
            240,
            255,
        );
        let uvm = (
            "/dev/fakegpu-uvm".to_string(),
            "/dev/nvidia-uvm".to_string(),
            239,
            0,
        );
        let gpu = |n: u64| {
            (
                format!("/dev/fakegpu{n}"),
                format!("/dev/nvidia{n}"),
                240,
                n,
            )
        };
        assert_eq!(nodes(&devices[0]), [gpu(0), ctl.clone(), uvm.clone()]);
        assert_eq!(nodes(&devices[1]), [gpu(1), ctl.clone(), uvm.clone()]);
        assert_eq!(nodes(&devices[2]), [gpu(0), gpu(1), ctl, uvm]);

        let hooks = spec["containerEdits"]["hooks"].as_array().unwrap();
        assert_eq!(hooks.len(), 2);
        assert_eq!(hooks[0]["hookName"], "createRuntime");
        assert_eq!(hooks[0]["path"], "/usr/local/bin/fakegpu");
        assert_eq!(
            strings(&hooks[0]["args"]),
            ["fakegpu", "hook", "createRuntime", "--cdi"]
        );
        assert_eq!(hooks[1]["hookName"], "poststop");
        assert_eq!(hooks[1]["path"], "/usr/local/bin/fakegpu");
        assert!(hooks.iter().all(|h| h["timeout"] == HOOK_TIMEOUT));
        assert_eq!(strings(&hooks[1]["args"]), ["fakegpu", "hook", "poststop"]);
        for h in hooks {
            assert!(parses(&strings(&h["args"])), "{h}");
        }
    }

    #[test]
    fn devices_by_index_and_uuid() {
        // The driver lists minor 1 first (PCI order): it is index 0.
        let host = |bus: &str, uuid: &str, minor| HostGpu {
            bus: bus.into(),
            uuid: uuid.into(),
            minor,
        };
        let spec: Value = serde_json::from_str(&generate(&Inputs {
            host: vec![
                host("0000:01:00.0", "GPU-aa", 1),
                host("0000:02:00.0", "GPU-bb", 0),
            ],
            ..inputs()
        }))
        .unwrap();
        let devices = spec["devices"].as_array().unwrap();
        let named: Vec<(&str, String)> = devices
            .iter()
            .map(|d| {
                let first = &nodes(d)[0].0;
                (d["name"].as_str().unwrap(), first.clone())
            })
            .collect();
        let want = [
            ("0", "/dev/fakegpu1"),
            ("1", "/dev/fakegpu0"),
            ("GPU-aa", "/dev/fakegpu1"),
            ("GPU-bb", "/dev/fakegpu0"),
            ("all", "/dev/fakegpu1"),
        ];
        let want: Vec<(&str, String)> = want.iter().map(|(n, p)| (*n, p.to_string())).collect();
        assert_eq!(named, want);
    }

    #[test]
    fn spec_without_gpus_or_uvm() {
        let spec: Value = serde_json::from_str(&generate(&Inputs {
            gpus: vec![],
            host: Vec::new(),
            common: vec![node("/dev/fakegpuctl", "/dev/nvidiactl", 240, 255)],
            helper: "/opt/fg/bin/fakegpu-helper".into(),
        }))
        .unwrap();
        let devices = spec["devices"].as_array().unwrap();
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0]["name"], "all");
        assert_eq!(nodes(&devices[0]).len(), 1);
        assert_eq!(
            spec["containerEdits"]["hooks"][1]["args"][0],
            "fakegpu-helper"
        );
    }

    /// container-hooks/hooks.d: podman/CRI-O hook files for createRuntime (which runc and
    /// crun both run before the container's root is pivoted; crun runs prestart after) and
    /// poststop.
    #[test]
    fn hooks_d_files() {
        for (text, stage) in [
            (
                include_str!("../../container-hooks/hooks.d/fakegpu.json"),
                "createRuntime",
            ),
            (
                include_str!("../../container-hooks/hooks.d/fakegpu-poststop.json"),
                "poststop",
            ),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["version"], "1.0.0");
            assert_eq!(v["hook"]["path"], "/usr/local/bin/fakegpu");
            let args = strings(&v["hook"]["args"]);
            assert_eq!(args, ["fakegpu", "hook", stage]);
            assert!(parses(&args));
            assert!(v["hook"]["timeout"].as_u64().is_some_and(|t| t > 3));
            assert_eq!(strings(&v["stages"]), [stage]);
            // Only containers with a fakegpu.io/ annotation (see container-hooks/README.md).
            let when = v["when"].as_object().unwrap();
            assert_eq!(when.len(), 1);
            assert_eq!(when["annotations"]["^fakegpu\\.io/"], ".*");
        }
    }

    /// container-hooks/runc-config-hooks.json: the `hooks` of a runc config.json.
    #[test]
    fn runc_config_hooks() {
        let v: Value =
            serde_json::from_str(include_str!("../../container-hooks/runc-config-hooks.json"))
                .unwrap();
        let hooks = v["hooks"].as_object().unwrap();
        assert_eq!(hooks.len(), 2);
        for stage in ["prestart", "poststop"] {
            let list = hooks[stage].as_array().unwrap();
            assert_eq!(list.len(), 1);
            assert_eq!(list[0]["path"], "/usr/local/bin/fakegpu");
            let args = strings(&list[0]["args"]);
            assert_eq!(args, ["fakegpu", "hook", stage]);
            assert!(parses(&args));
        }
    }
}
