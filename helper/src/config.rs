//! The operator's host configuration, `/etc/fakegpu/config.toml`: what a container gets when
//! it asks for nothing, the most it may ask for, and whether its requests are read at all.
//! (A tenant controls its image's environment; annotations usually come from the
//! orchestrator.) A missing file means the defaults below.
//!
//! Every key is optional. Sizes are strings such as `4G` or `max` (as fakegpu's sysfs files
//! take them), or a TOML integer of bytes; counts are integers or `"max"`. An unknown key is
//! an error, so a typo does not pass silently.

use crate::request::devices::{Devices, GpuRef};
use policy::ledger;
use policy::nv_caps::Capabilities;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the hook reads its configuration unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/fakegpu/config.toml";

/// Where a container's requests may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sources {
    /// Read `fakegpu.io/*` annotations (default: yes).
    pub annotations: bool,
    /// Read `FAKEGPU_*`, `NVIDIA_VISIBLE_DEVICES` and HAMi's `CUDA_DEVICE_MEMORY_LIMIT*` from
    /// the container's environment (default: no: the image's author controls it).
    pub env: bool,
}

/// The host configuration, parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Requests honoured from these sources.
    pub sources: Sources,
    /// GPU memory limit per visible GPU for a container that asks for none (`None`: no limit).
    pub default_memory: Option<u64>,
    /// The largest GPU memory limit per GPU a container may ask for; a larger request is cut
    /// down to it (`None`: any).
    pub max_memory: Option<u64>,
    /// Channel limit per visible GPU for a container that asks for none.
    pub default_channels: Option<u64>,
    /// The largest channel limit a container may ask for.
    pub max_channels: Option<u64>,
    /// Compute cap (percent of each visible GPU) for a container that asks for none.
    pub default_compute: Option<u64>,
    /// The largest compute cap a container may ask for, in percent.
    pub max_compute: Option<u64>,
    /// GPUs a container that names none gets: `all` unless set. Checked when parsed and kept
    /// in canonical form: `all`, `none`, `void` or minors such as `0,1`.
    pub default_devices: String,
    /// `allow` or `deny` UVM managed memory (written to the entry's `uvm.policy`).
    pub uvm_policy: String,
    /// The driver capabilities of a container that asks for none (NVIDIA's default:
    /// `compute,utility`).
    pub default_capabilities: Capabilities,
    /// The most a container may ask for; capabilities outside are dropped (default: all).
    pub max_capabilities: Capabilities,
    /// The file this configuration was read from, named in the plan's notes (`None`: the
    /// defaults, or text given to [`HostConfig::parse`]).
    pub path: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            sources: Sources {
                annotations: true,
                env: false,
            },
            default_memory: None,
            max_memory: None,
            default_channels: None,
            max_channels: None,
            default_compute: None,
            max_compute: None,
            default_devices: "all".into(),
            uvm_policy: "allow".into(),
            default_capabilities: Capabilities::DEFAULT,
            max_capabilities: Capabilities::ALL,
            path: None,
        }
    }
}

/// The file as written; values are checked and converted by [`HostConfig::parse`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    requests_from: Option<Vec<String>>,
    default_memory: Option<toml::Value>,
    max_memory: Option<toml::Value>,
    default_channels: Option<toml::Value>,
    max_channels: Option<toml::Value>,
    default_compute: Option<toml::Value>,
    max_compute: Option<toml::Value>,
    default_devices: Option<toml::Value>,
    uvm_policy: Option<String>,
    default_capabilities: Option<String>,
    max_capabilities: Option<String>,
}

/// `key = value` as the file has it, for error messages.
fn shown(key: &str, value: &toml::Value) -> String {
    format!("{key} = {value}")
}

/// A limit: `None` for unlimited (`max`, or a value of [`ledger::UNLIMITED`]).
fn limit(value: u64) -> Option<u64> {
    (value != ledger::UNLIMITED).then_some(value)
}

/// A size: a string through [`ledger::parse_size`] (as the kernel parses it), or bytes.
fn size(key: &str, value: &toml::Value) -> Result<Option<u64>, String> {
    let bytes = match value {
        toml::Value::String(s) => ledger::parse_size(s),
        toml::Value::Integer(n) => u64::try_from(*n).map_err(|_| "a size cannot be negative"),
        _ => Err("expected a size such as \"64M\", \"8G\" or \"max\", or bytes"),
    };
    bytes
        .map(limit)
        .map_err(|e| format!("{}: {e}", shown(key, value)))
}

/// A share of a GPU: `"30%"`, an integer of percent, or `"max"`.
fn share(key: &str, value: &toml::Value) -> Result<Option<u64>, String> {
    let pct = match value {
        toml::Value::String(s) => crate::units::check_percent(s),
        toml::Value::Integer(n) => crate::units::check_percent(&n.to_string()),
        _ => Err("expected a percent such as \"30%\", or \"max\""),
    };
    pct.map(limit)
        .map_err(|e| format!("{}: {e}", shown(key, value)))
}

/// A count: an integer, or a string through [`ledger::parse_count`] (`"max"`).
fn count(key: &str, value: &toml::Value) -> Result<Option<u64>, String> {
    let n = match value {
        toml::Value::String(s) => ledger::parse_count(s),
        toml::Value::Integer(n) => u64::try_from(*n).map_err(|_| "a count cannot be negative"),
        _ => Err("expected a number or \"max\""),
    };
    n.map(limit)
        .map_err(|e| format!("{}: {e}", shown(key, value)))
}

/// `default-devices`: `all`, `none`, `void`, GPU indices or UUIDs as a string (`"0,1"`) or
/// indices as an array of integers; returned in canonical form.
fn default_devices(value: &toml::Value) -> Result<String, String> {
    const KEY: &str = "default-devices";
    const EXPECTED: &str =
        "expected \"all\", \"none\", \"void\" or GPU indices or UUIDs such as \"0,1\"";
    let devices = match value {
        // An empty string means `void` to NVIDIA's tools; here it is more likely a slip.
        toml::Value::String(s) if s.trim().is_empty() => Err(EXPECTED.to_string()),
        toml::Value::String(s) => Devices::parse(s),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_integer()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| EXPECTED.to_string())
            })
            .collect::<Result<Vec<u32>, String>>()
            .map(|indices| {
                let mut unique = Vec::new();
                for i in indices.into_iter().map(GpuRef::Index) {
                    if !unique.contains(&i) {
                        unique.push(i);
                    }
                }
                Devices::List(unique)
            }),
        _ => Err(EXPECTED.to_string()),
    };
    devices
        .map(|d| d.to_string())
        .map_err(|e| format!("{}: {e}", shown(KEY, value)))
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.get(..at).map_or(0, |t| t.matches('\n').count()) + 1
}

impl HostConfig {
    /// Parses the TOML text of a configuration file; the error names the bad key or value.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| match e.span() {
            // toml's own rendering spans several lines; the hook reports in one.
            Some(span) => format!("line {}: {}", line_of(text, span.start), e.message()),
            None => e.message().to_string(),
        })?;
        let mut config = HostConfig::default();
        if let Some(list) = raw.requests_from {
            config.sources = Sources {
                annotations: false,
                env: false,
            };
            for source in list {
                match source.as_str() {
                    "annotations" => config.sources.annotations = true,
                    "env" => config.sources.env = true,
                    _ => {
                        return Err(format!(
                            "requests-from: unknown source {source:?}; expected \"annotations\" or \"env\""
                        ))
                    }
                }
            }
        }
        if let Some(v) = &raw.default_memory {
            config.default_memory = size("default-memory", v)?;
        }
        if let Some(v) = &raw.max_memory {
            config.max_memory = size("max-memory", v)?;
        }
        if let Some(v) = &raw.default_channels {
            config.default_channels = count("default-channels", v)?;
        }
        if let Some(v) = &raw.max_channels {
            config.max_channels = count("max-channels", v)?;
        }
        if let Some(v) = &raw.default_compute {
            config.default_compute = share("default-compute", v)?;
        }
        if let Some(v) = &raw.max_compute {
            config.max_compute = share("max-compute", v)?;
        }
        if let Some(v) = &raw.default_devices {
            config.default_devices = default_devices(v)?;
        }
        if let Some(policy) = raw.uvm_policy {
            if policy != "allow" && policy != "deny" {
                return Err(format!(
                    "uvm-policy = {policy:?}: expected \"allow\" or \"deny\""
                ));
            }
            config.uvm_policy = policy;
        }
        let caps = |key: &str, text: &str| {
            Capabilities::parse(text).map_err(|e| format!("{key} = {text:?}: {e}"))
        };
        if let Some(text) = &raw.default_capabilities {
            config.default_capabilities = caps("default-capabilities", text)?;
        }
        if let Some(text) = &raw.max_capabilities {
            config.max_capabilities = caps("max-capabilities", text)?;
        }
        Ok(config)
    }

    /// Reads `path`; a missing file gives the defaults, any other problem an error naming
    /// the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HostConfig::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut config = Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// How notes name this configuration: its file, or "the host configuration".
    pub fn name(&self) -> String {
        self.path.as_ref().map_or_else(
            || "the host configuration".into(),
            |p| p.display().to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: u64 = 1 << 30;

    #[test]
    fn empty_text_gives_the_defaults() {
        let c = HostConfig::parse("").unwrap();
        assert_eq!(c, HostConfig::default());
        assert!(c.sources.annotations && !c.sources.env);
        assert_eq!((c.default_memory, c.max_memory), (None, None));
        assert_eq!((c.default_channels, c.max_channels), (None, None));
        assert_eq!(c.default_devices, "all");
        assert_eq!(c.uvm_policy, "allow");
        assert_eq!(c.default_capabilities.to_string(), "compute,utility");
        assert_eq!(c.max_capabilities, Capabilities::ALL);
    }

    #[test]
    fn every_key() {
        let c = HostConfig::parse(
            r#"
            requests-from = ["env", "annotations"]
            default-memory = "4G"
            max-memory = 17179869184
            default-channels = 8
            max-channels = "max"
            default-devices = " 1, 0 ,1"
            uvm-policy = "deny"
            default-capabilities = "compute"
            max-capabilities = "compute,utility,video"
            "#,
        )
        .unwrap();
        assert_eq!(
            c.sources,
            Sources {
                annotations: true,
                env: true
            }
        );
        assert_eq!(c.default_memory, Some(4 * G));
        assert_eq!(c.max_memory, Some(16 * G));
        assert_eq!(c.default_channels, Some(8));
        assert_eq!(c.max_channels, None);
        assert_eq!(c.default_devices, "1,0");
        assert_eq!(c.uvm_policy, "deny");
        assert_eq!(c.default_capabilities, Capabilities::COMPUTE);
        assert_eq!(c.max_capabilities.to_string(), "compute,utility,video");
        let bad = HostConfig::parse("max-capabilities = \"display\"").unwrap_err();
        assert!(bad.contains("max-capabilities"), "{bad}");
    }

    #[test]
    fn other_forms() {
        let c = HostConfig::parse(
            "requests-from = []\ndefault-memory = \"max\"\ndefault-devices = [2, 0]",
        )
        .unwrap();
        assert_eq!(
            c.sources,
            Sources {
                annotations: false,
                env: false
            }
        );
        assert_eq!(c.default_memory, None);
        assert_eq!(c.default_devices, "2,0");
        for d in ["none", "void", "all"] {
            let c = HostConfig::parse(&format!("default-devices = {d:?}")).unwrap();
            assert_eq!(c.default_devices, d);
        }
        let c = HostConfig::parse("default-compute = \"25%\"\nmax-compute = 60").unwrap();
        assert_eq!((c.default_compute, c.max_compute), (Some(25), Some(60)));
        let c = HostConfig::parse("max-compute = \"max\"").unwrap();
        assert_eq!(c.max_compute, None);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("requests_from = []", "requests_from"),
            (
                "\n\nmax-memroy = \"4G\"",
                "line 3: unknown field `max-memroy`",
            ),
            (
                "max-memory = \"16X\"",
                "max-memory = \"16X\": expected a size such as 64M, 8G or max",
            ),
            (
                "max-memory = -1",
                "max-memory = -1: a size cannot be negative",
            ),
            ("default-memory = 1.5", "default-memory = 1.5"),
            (
                "max-channels = \"lots\"",
                "max-channels = \"lots\": expected a number or max",
            ),
            ("default-channels = -3", "default-channels = -3"),
            (
                "requests-from = [\"labels\"]",
                "requests-from: unknown source \"labels\"",
            ),
            ("requests-from = \"env\"", "line 1"),
            (
                "default-devices = \"MIG-1234\"",
                "default-devices = \"MIG-1234\": \"MIG-1234\" is a MIG device",
            ),
            ("default-devices = \"\"", "default-devices = \"\": expected"),
            ("default-devices = [-1]", "default-devices = [-1]: expected"),
            (
                "uvm-policy = \"maybe\"",
                "uvm-policy = \"maybe\": expected \"allow\" or \"deny\"",
            ),
            ("max-memory = ", "line 1"),
            (
                "max-compute = \"130%\"",
                "max-compute = \"130%\": expected a percent",
            ),
            ("default-compute = true", "default-compute = true"),
        ];
        for (text, expected) in cases {
            let e = HostConfig::parse(text).unwrap_err();
            assert!(
                e.contains(expected),
                "{text:?} gave {e:?}, expected {expected:?}"
            );
            assert!(!e.contains('\n'), "{text:?} gave a multi-line error {e:?}");
        }
    }

    #[test]
    fn load_missing_unreadable_and_bad_files() {
        let dir = std::env::temp_dir().join(format!("fakegpu-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(
            HostConfig::load(&dir.join("absent.toml")).unwrap(),
            HostConfig::default()
        );
        // A directory cannot be read as a file.
        let e = HostConfig::load(&dir).unwrap_err();
        assert!(e.starts_with(&format!("{}: ", dir.display())), "{e}");
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "max-memory = \"lots\"\n").unwrap();
        let e = HostConfig::load(&bad).unwrap_err();
        assert!(
            e.starts_with(&format!("{}: max-memory", bad.display())),
            "{e}"
        );
        let good = dir.join("good.toml");
        std::fs::write(&good, "max-memory = \"1G\"\n").unwrap();
        let c = HostConfig::load(&good).unwrap();
        assert_eq!(
            (c.max_memory, c.path.as_deref()),
            (Some(G), Some(good.as_path()))
        );
        assert_eq!(c.name(), good.display().to_string());
        assert_eq!(HostConfig::default().name(), "the host configuration");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// container-hooks/config.toml parses and says what its comments say.
    #[test]
    fn example_config() {
        let c = HostConfig::parse(include_str!("../../container-hooks/config.toml")).unwrap();
        assert_eq!(
            c.sources,
            Sources {
                annotations: true,
                env: false
            }
        );
        assert_eq!(c.default_memory, Some(4 * G));
        assert_eq!(c.max_memory, Some(16 * G));
        assert_eq!(c.default_channels, None);
        assert_eq!(c.max_channels, Some(64));
        assert_eq!(c.default_devices, "all");
        assert_eq!(c.uvm_policy, "allow");
    }
}
