//! What an OCI hook is given: the container's state on stdin and its bundle's config.json,
//! read into typed documents of the parts the hook uses. Unknown fields are ignored, so odd
//! or newer runtimes (crun's extra fields, old Docker's `bundlePath`) do not stop the hook.
//!
//! Not through the `oci-spec` crate: its `Spec` refuses a whole config.json over any enum
//! value it does not know (0.8 fails on an unknown capability name, namespace type or device
//! type), so a runtime newer than the crate would fail every container start over fields
//! fakegpu never reads. The device rules (`linux.resources.devices`) are checked entry by
//! entry by `device_cgroup::rules`, with messages naming the bad one.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The state the runtime passes on the hook's stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// The container's id.
    pub id: String,
    /// Its init process, in the host's pid namespace (absent after it exited).
    pub pid: Option<i32>,
    /// The bundle directory (absolute).
    pub bundle: PathBuf,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
}

/// The parts of config.json the hook uses.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The root filesystem (config.json's `root.path`, made absolute against the bundle).
    pub rootfs: PathBuf,
    /// `process.env`.
    pub env: Vec<String>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `linux.devices`: (path in the container, major, minor) of character devices.
    pub devices: Vec<(String, u32, u32)>,
    /// `linux.resources.devices`, as written (checked by `device_cgroup::rules`).
    pub device_rules: Option<serde_json::Value>,
}

/// The state document (runtime-spec `state.json`).
#[derive(Deserialize)]
struct StateDoc {
    id: Option<String>,
    pid: Option<i64>,
    bundle: Option<String>,
    /// Old Docker's name for `bundle`.
    #[serde(rename = "bundlePath")]
    bundle_path: Option<String>,
    annotations: Option<BTreeMap<String, String>>,
}

/// config.json (runtime-spec `config.json`): the parts the hook reads.
#[derive(Deserialize)]
struct ConfigDoc {
    root: Option<RootDoc>,
    process: Option<ProcessDoc>,
    annotations: Option<BTreeMap<String, String>>,
    linux: Option<LinuxDoc>,
}

#[derive(Deserialize)]
struct RootDoc {
    path: String,
}

#[derive(Deserialize)]
struct ProcessDoc {
    env: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct LinuxDoc {
    devices: Option<Vec<DeviceDoc>>,
    resources: Option<ResourcesDoc>,
}

/// A device node the runtime makes.
#[derive(Deserialize)]
struct DeviceDoc {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    major: Option<i64>,
    minor: Option<i64>,
}

#[derive(Deserialize)]
struct ResourcesDoc {
    devices: Option<serde_json::Value>,
}

/// Parses the state JSON.
pub fn parse_state(text: &str) -> Result<State, String> {
    let doc: StateDoc =
        serde_json::from_str(text).map_err(|e| format!("the container state on stdin: {e}"))?;
    let id = doc.id.ok_or("the container state on stdin has no id")?;
    let bundle = doc
        .bundle
        .or(doc.bundle_path)
        .ok_or("the container state on stdin has no bundle")?;
    Ok(State {
        id,
        pid: doc
            .pid
            .and_then(|p| i32::try_from(p).ok())
            .filter(|&p| p > 0),
        bundle: PathBuf::from(bundle),
        annotations: doc.annotations.unwrap_or_default(),
    })
}

/// Reads `<bundle>/config.json`.
pub fn read_bundle(bundle: &Path) -> Result<Bundle, String> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_bundle(bundle, &text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses config.json's text for the bundle at `bundle`.
pub fn parse_bundle(bundle: &Path, text: &str) -> Result<Bundle, String> {
    let doc: ConfigDoc = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let root = doc.root.ok_or("no root.path")?.path;
    let (devices, device_rules) = match doc.linux {
        Some(l) => (
            l.devices.unwrap_or_default(),
            l.resources.and_then(|r| r.devices),
        ),
        None => (Vec::new(), None),
    };
    Ok(Bundle {
        rootfs: bundle.join(root),
        env: doc.process.and_then(|p| p.env).unwrap_or_default(),
        annotations: doc.annotations.unwrap_or_default(),
        devices: devices
            .into_iter()
            .filter(|d| d.kind == "c")
            .filter_map(|d| {
                let num = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok());
                Some((d.path, num(d.major)?, num(d.minor)?))
            })
            .collect(),
        device_rules,
    })
}

/// Where process `pid` sits in the cgroup hierarchy: the v2 path (from the `0::` line of
/// /proc/PID/cgroup) and, on a v1 or hybrid host, the v1 devices controller's path.
pub fn cgroup_of(pid: i32) -> Result<(String, Option<String>), String> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    parse_proc_cgroup(&text).ok_or_else(|| format!("{path}: no cgroup v2 line"))
}

/// Parses /proc/PID/cgroup.
pub fn parse_proc_cgroup(text: &str) -> Option<(String, Option<String>)> {
    let mut v2 = None;
    let mut devices = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.is_empty() {
            v2 = Some(path.to_string());
        } else if controllers.split(',').any(|c| c == "devices") {
            devices = Some(path.to_string());
        }
    }
    Some((v2?, devices))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_from_runc_crun_and_old_docker() {
        let s = parse_state(
            r#"{"ociVersion":"1.0.2","id":"c1","status":"created","pid":42,
                "bundle":"/run/b","annotations":{"fakegpu.io/memory.max":"64M"}}"#,
        )
        .unwrap();
        assert_eq!((s.id.as_str(), s.pid), ("c1", Some(42)));
        assert_eq!(s.bundle, PathBuf::from("/run/b"));
        assert_eq!(s.annotations["fakegpu.io/memory.max"], "64M");
        let old = parse_state(r#"{"id":"c2","pid":0,"bundlePath":"/b","root":"/x"}"#).unwrap();
        assert_eq!((old.pid, old.bundle), (None, PathBuf::from("/b")));
        assert!(parse_state(r#"{"pid":1}"#).is_err());
        assert!(parse_state("not json").is_err());
        // Fields the hook does not read, of any shape, are ignored.
        let crun = parse_state(
            r#"{"id":"c3","bundle":"/b","pid":7,"status":"created","x-crun":{"a":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!((crun.id.as_str(), crun.pid), ("c3", Some(7)));
    }

    #[test]
    fn bundle_fields() {
        let b = parse_bundle(
            Path::new("/b"),
            r#"{"root":{"path":"rootfs"},"process":{"env":["A=1","NVIDIA_VISIBLE_DEVICES=0"]},
                "annotations":{"k":"v"},
                "linux":{"devices":[{"path":"/dev/nvidia0","type":"c","major":240,"minor":0},
                                    {"path":"/dev/sda","type":"b","major":8,"minor":0}]}}"#,
        )
        .unwrap();
        assert_eq!(b.rootfs, PathBuf::from("/b/rootfs"));
        assert_eq!(b.env.len(), 2);
        assert_eq!(b.annotations["k"], "v");
        assert_eq!(b.devices, vec![("/dev/nvidia0".to_string(), 240, 0)]);
        let abs = parse_bundle(Path::new("/b"), r#"{"root":{"path":"/r"}}"#).unwrap();
        assert_eq!(abs.rootfs, PathBuf::from("/r"));
        assert!(abs.device_rules.is_none());
        // What a newer runtime may write in fields the hook does not read (a capability or
        // namespace no crate knows yet) is no error; nulls read as absent.
        let newer = parse_bundle(
            Path::new("/b"),
            r#"{"ociVersion":"9.9","root":{"path":"r"},"process":{"env":null,
                "capabilities":{"bounding":["CAP_FROM_THE_FUTURE"]}},
                "linux":{"namespaces":[{"type":"futurens"}],"devices":null,
                         "resources":{"devices":[{"allow":false,"access":"rwm"}]}}}"#,
        )
        .unwrap();
        assert!(newer.env.is_empty() && newer.devices.is_empty());
        assert_eq!(
            newer.device_rules,
            Some(serde_json::json!([{"allow": false, "access": "rwm"}]))
        );
        // A field the hook reads, of the wrong type, is an error.
        assert!(parse_bundle(
            Path::new("/b"),
            r#"{"root":{"path":"r"},"process":{"env":"A=1"}}"#
        )
        .is_err());
        assert!(parse_bundle(Path::new("/b"), r#"{"process":{}}"#).is_err());
    }

    #[test]
    fn proc_cgroup_lines() {
        assert_eq!(
            parse_proc_cgroup("0::/system.slice/x.scope\n"),
            Some(("/system.slice/x.scope".into(), None))
        );
        assert_eq!(
            parse_proc_cgroup("4:devices:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n"),
            Some(("/".into(), Some("/docker/abc".into())))
        );
        assert_eq!(parse_proc_cgroup("4:devices:/x\n"), None);
    }
}
