//! What an OCI hook is given: the container's state on stdin and its bundle's config.json.
//! Read as loose JSON, so odd or newer runtimes (crun's extra fields, old Docker's
//! `bundlePath`) do not stop the hook.

use serde_json::Value;
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
    /// The whole config.json.
    pub config: Value,
    /// The root filesystem (config.json's `root.path`, made absolute against the bundle).
    pub rootfs: PathBuf,
    /// `process.env`.
    pub env: Vec<String>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `linux.devices`: (path in the container, major, minor) of character devices.
    pub devices: Vec<(String, u32, u32)>,
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses the state JSON.
pub fn parse_state(text: &str) -> Result<State, String> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("the container state on stdin: {e}"))?;
    let id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or("the container state on stdin has no id")?
        .to_string();
    let bundle = v
        .get("bundle")
        .or_else(|| v.get("bundlePath"))
        .and_then(Value::as_str)
        .ok_or("the container state on stdin has no bundle")?;
    let pid = v
        .get("pid")
        .and_then(Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .filter(|&p| p > 0);
    Ok(State {
        id,
        pid,
        bundle: PathBuf::from(bundle),
        annotations: string_map(v.get("annotations")),
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
    let config: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let root = config
        .pointer("/root/path")
        .and_then(Value::as_str)
        .ok_or("no root.path")?;
    let env = config
        .pointer("/process/env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let devices = config
        .pointer("/linux/devices")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|d| d.get("type").and_then(Value::as_str) == Some("c"))
                .filter_map(|d| {
                    let num = |k: &str| d.get(k)?.as_u64().and_then(|n| u32::try_from(n).ok());
                    Some((
                        d.get("path")?.as_str()?.to_string(),
                        num("major")?,
                        num("minor")?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Bundle {
        rootfs: bundle.join(root),
        env,
        annotations: string_map(config.get("annotations")),
        devices,
        config,
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
