//! What a container asks for (GPUs, limits) from its annotations and environment, and the
//! plan the hook carries out once the operator's configuration has had its say.
//!
//! | what | annotation | environment (if the host config allows) |
//! |---|---|---|
//! | GPUs | `fakegpu.io/devices` | `FAKEGPU_VISIBLE_DEVICES`, then `NVIDIA_VISIBLE_DEVICES` |
//! | memory per GPU | `fakegpu.io/memory.max` | `FAKEGPU_MEMORY_LIMIT`, then HAMi's `CUDA_DEVICE_MEMORY_LIMIT(_i)` |
//! | channels per GPU | `fakegpu.io/channels.max` | - |
//!
//! For each item the first source in the table's order that is set wins; the others are not
//! read, so a value fakegpu does not understand (e.g. NVIDIA's device plugin putting UUIDs
//! in `NVIDIA_VISIBLE_DEVICES`) does no harm when a higher source is set.

use crate::config::HostConfig;
use policy::ledger::{self, UNLIMITED};
use std::collections::BTreeMap;
use std::fmt;

/// The annotation naming the container's GPUs.
pub const ANNOTATION_DEVICES: &str = "fakegpu.io/devices";
/// The annotation with the container's GPU memory limit.
pub const ANNOTATION_MEMORY: &str = "fakegpu.io/memory.max";
/// The annotation with the container's channel limit.
pub const ANNOTATION_CHANNELS: &str = "fakegpu.io/channels.max";
/// The prefix of fakegpu's annotations; any other annotation under it is an error.
pub const ANNOTATION_PREFIX: &str = "fakegpu.io/";
/// fakegpu's own variable naming the container's GPUs.
pub const ENV_DEVICES: &str = "FAKEGPU_VISIBLE_DEVICES";
/// NVIDIA's variable naming the container's GPUs (read after [`ENV_DEVICES`]).
pub const ENV_NVIDIA_DEVICES: &str = "NVIDIA_VISIBLE_DEVICES";
/// fakegpu's variable with the container's GPU memory limit.
pub const ENV_MEMORY: &str = "FAKEGPU_MEMORY_LIMIT";
/// HAMi's memory limit for every GPU; `CUDA_DEVICE_MEMORY_LIMIT_<i>` for the i-th GPU.
pub const ENV_HAMI_MEMORY: &str = "CUDA_DEVICE_MEMORY_LIMIT";

/// Which GPUs a container asks for (NVIDIA_VISIBLE_DEVICES conventions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Devices {
    /// Every GPU.
    All,
    /// No GPU, but the container still gets the control node (NVIDIA's `none`).
    None,
    /// Nothing at all: the hook leaves the container alone (NVIDIA's `void`, or empty).
    Void,
    /// These GPUs, by minor (`/dev/nvidiaN`'s N), in the order asked, without repeats.
    List(Vec<u32>),
}

impl Devices {
    /// Parses `all`, `none`, `void`, an empty string (`void`) or minors separated by commas
    /// (`0, 2`; repeats collapse). The error says what was expected, without the key.
    pub fn parse(text: &str) -> Result<Self, String> {
        const EXPECTED: &str = "expected all, none, void or GPU minors such as 0,2";
        match text.trim() {
            "" | "void" => return Ok(Devices::Void),
            "all" => return Ok(Devices::All),
            "none" => return Ok(Devices::None),
            _ => {}
        }
        let mut minors = Vec::new();
        for item in text.split(',').map(str::trim) {
            // NVIDIA's tools also take UUIDs (GPU-..., MIG-...) and MIG indices (0:1).
            if item.starts_with("GPU-") || item.starts_with("MIG-") || item.contains(':') {
                return Err("GPU UUIDs are not supported yet; use indices".into());
            }
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(EXPECTED.into());
            }
            let minor: u32 = item
                .parse()
                .map_err(|_| format!("GPU {item} is out of range"))?;
            if !minors.contains(&minor) {
                minors.push(minor);
            }
        }
        Ok(Devices::List(minors))
    }
}

impl fmt::Display for Devices {
    /// The form [`Devices::parse`] takes back: `all`, `none`, `void` or `0,2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Devices::All => f.write_str("all"),
            Devices::None => f.write_str("none"),
            Devices::Void => f.write_str("void"),
            Devices::List(minors) => f.write_str(&join(minors)),
        }
    }
}

/// A per-GPU value as asked. Values are bytes or counts; [`UNLIMITED`] means `max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerGpu {
    /// One value for every visible GPU.
    Every(u64),
    /// Values per minor; GPUs not named get the operator's default.
    Each(BTreeMap<u32, u64>),
    /// HAMi's `CUDA_DEVICE_MEMORY_LIMIT_<i>`: values by position among the container's
    /// GPUs in ascending minor order (0 = its lowest minor), with `every`
    /// (`CUDA_DEVICE_MEMORY_LIMIT`) for the GPUs not named, else the operator's default.
    ByIndex {
        /// Values by position.
        each: BTreeMap<usize, u64>,
        /// The value for positions not in `each`.
        every: Option<u64>,
    },
}

/// A container's requests, as read from its annotations and environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `fakegpu.io/devices`, `FAKEGPU_VISIBLE_DEVICES` or `NVIDIA_VISIBLE_DEVICES`.
    pub devices: Option<Devices>,
    /// `fakegpu.io/memory.max`, `FAKEGPU_MEMORY_LIMIT`, `CUDA_DEVICE_MEMORY_LIMIT(_i)`.
    pub memory: Option<PerGpu>,
    /// `fakegpu.io/channels.max`.
    pub channels: Option<PerGpu>,
}

/// What the hook does for a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The GPUs (minors) the container gets, ascending; may be empty (control node only).
    pub gpus: Vec<u32>,
    /// GPU memory limit per GPU of `gpus` (`None`: unlimited).
    pub memory_max: BTreeMap<u32, Option<u64>>,
    /// Channel limit per GPU of `gpus` (`None`: unlimited).
    pub channels_max: BTreeMap<u32, Option<u64>>,
    /// `allow` or `deny`.
    pub uvm_policy: String,
    /// What the operator's caps changed, one line each, for the hook's log.
    pub notes: Vec<String>,
}

/// Minors as `0,2`.
fn join(minors: &[u32]) -> String {
    minors
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A size as people write it: `max`, `16G`, `512M`, or bytes when no unit divides it.
fn size_text(bytes: u64) -> String {
    if bytes == UNLIMITED {
        return "max".into();
    }
    for (shift, unit) in [(40, 'T'), (30, 'G'), (20, 'M'), (10, 'K')] {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A count as `channels.max` shows it: `max` or the number.
fn count_text(n: u64) -> String {
    ledger::Shown(n).to_string()
}

/// A per-GPU value: `VALUE` for every GPU, or `gpuN=VALUE` pairs separated by commas
/// (spaces around them are fine). The error says what was expected, without the key.
fn parse_per_gpu(
    text: &str,
    value: fn(&str) -> Result<u64, &'static str>,
) -> Result<PerGpu, String> {
    let text = text.trim();
    if !text.contains('=') {
        return value(text).map(PerGpu::Every).map_err(String::from);
    }
    let mut each = BTreeMap::new();
    for pair in text.split(',') {
        let (gpu, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{:?}: expected gpuN=VALUE", pair.trim()))?;
        let (gpu, v) = (gpu.trim(), v.trim());
        let minor: u32 = gpu
            .strip_prefix("gpu")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("{gpu:?}: expected gpuN, N a GPU's minor"))?;
        let v = value(v).map_err(|e| format!("{gpu}: {e}"))?;
        if each.insert(minor, v).is_some() {
            return Err(format!("{gpu} is given twice"));
        }
    }
    Ok(PerGpu::Each(each))
}

/// A HAMi size: bytes, or a number with a k, m or g suffix in either case (powers of 1024),
/// as HAMi-core's `get_limit_from_env` reads it. `None` for empty or zero, which HAMi-core
/// treats as unset.
fn parse_hami_size(text: &str) -> Result<Option<u64>, &'static str> {
    const EXPECTED: &str = "expected bytes or a number with a k, m or g suffix, such as 4g";
    if text.is_empty() {
        return Ok(None);
    }
    let (digits, shift) = match text.as_bytes()[text.len() - 1] {
        b'k' | b'K' => (&text[..text.len() - 1], 10),
        b'm' | b'M' => (&text[..text.len() - 1], 20),
        b'g' | b'G' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EXPECTED);
    }
    let n: u64 = digits.parse().map_err(|_| "size out of range")?;
    let bytes = n.checked_mul(1 << shift).ok_or("size out of range")?;
    Ok((bytes != 0).then_some(bytes))
}

/// Where a value came from, for error messages: `annotation fakegpu.io/devices="x"`.
fn origin(kind: &str, key: &str, value: &str) -> String {
    format!("{kind} {key}={value:?}")
}

impl Request {
    /// Reads the requests from `annotations` and `env` (`KEY=VALUE` strings, as in
    /// config.json's `process.env`; for a key given twice the last wins), from the sources
    /// `config` allows. A malformed value in an allowed source is an error naming the key
    /// and the value, as is an unknown `fakegpu.io/` annotation (a typo would otherwise pass
    /// silently).
    pub fn read(
        annotations: &BTreeMap<String, String>,
        env: &[String],
        config: &HostConfig,
    ) -> Result<Self, String> {
        let no_annotations = BTreeMap::new();
        let annotations = if config.sources.annotations {
            annotations
        } else {
            &no_annotations
        };
        let env: BTreeMap<&str, &str> = if config.sources.env {
            env.iter().filter_map(|e| e.split_once('=')).collect()
        } else {
            BTreeMap::new()
        };
        for key in annotations.keys() {
            let known = [ANNOTATION_DEVICES, ANNOTATION_MEMORY, ANNOTATION_CHANNELS];
            if key.starts_with(ANNOTATION_PREFIX) && !known.contains(&key.as_str()) {
                return Err(format!(
                    "annotation {key}: unknown; fakegpu reads {}",
                    known.join(", ")
                ));
            }
        }
        // The first source set wins, in the order of the module's table.
        let pick = |key: &'static str, env_keys: &[&'static str]| {
            annotations
                .get(key)
                .map(|v| ("annotation", key, v.as_str()))
                .or_else(|| {
                    env_keys
                        .iter()
                        .find_map(|&k| env.get(k).map(|&v| ("env", k, v)))
                })
        };

        let devices = pick(ANNOTATION_DEVICES, &[ENV_DEVICES, ENV_NVIDIA_DEVICES])
            .map(|(kind, key, v)| {
                Devices::parse(v).map_err(|e| format!("{}: {e}", origin(kind, key, v)))
            })
            .transpose()?;
        let memory = match pick(ANNOTATION_MEMORY, &[ENV_MEMORY]) {
            Some((kind, key, v)) => Some(
                parse_per_gpu(v, ledger::parse_size)
                    .map_err(|e| format!("{}: {e}", origin(kind, key, v)))?,
            ),
            None => hami_memory(&env)?,
        };
        let channels = pick(ANNOTATION_CHANNELS, &[])
            .map(|(kind, key, v)| {
                parse_per_gpu(v, ledger::parse_count)
                    .map_err(|e| format!("{}: {e}", origin(kind, key, v)))
            })
            .transpose()?;
        Ok(Request {
            devices,
            memory,
            channels,
        })
    }
}

/// HAMi's `CUDA_DEVICE_MEMORY_LIMIT` and `CUDA_DEVICE_MEMORY_LIMIT_<i>` (i written as
/// HAMi-core's `%d` writes it; other suffixes are not HAMi's and are ignored).
fn hami_memory(env: &BTreeMap<&str, &str>) -> Result<Option<PerGpu>, String> {
    let mut every = None;
    let mut each = BTreeMap::new();
    for (&key, &value) in env.range(ENV_HAMI_MEMORY..) {
        let Some(rest) = key.strip_prefix(ENV_HAMI_MEMORY) else {
            break;
        };
        let index = if rest.is_empty() {
            None
        } else {
            let digits = rest.strip_prefix('_').unwrap_or("");
            let canonical = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && (digits == "0" || !digits.starts_with('0'));
            match digits.parse::<usize>() {
                Ok(i) if canonical => Some(i),
                _ => continue,
            }
        };
        let bytes =
            parse_hami_size(value).map_err(|e| format!("{}: {e}", origin("env", key, value)))?;
        match (index, bytes) {
            (_, None) => {}
            (None, Some(b)) => every = Some(b),
            (Some(i), Some(b)) => {
                each.insert(i, b);
            }
        }
    }
    Ok((every.is_some() || !each.is_empty()).then_some(PerGpu::ByIndex { each, every }))
}

/// GPUs as messages name them: `GPUs 0,1`, `GPU 0`, `no GPUs`.
fn gpus_text(gpus: &[u32]) -> String {
    match gpus {
        [] => "no GPUs".into(),
        [one] => format!("GPU {one}"),
        _ => format!("GPUs {}", join(gpus)),
    }
}

/// One per-GPU limit (memory or channels) as the plan computes it.
struct Limit<'a> {
    /// The sysfs file's name, for messages: `memory.max`.
    file: &'a str,
    /// The host config key of the cap: `max-memory`.
    cap_key: &'a str,
    /// What the container asked.
    asked: Option<&'a PerGpu>,
    /// The operator's default (`None`: unlimited).
    default: Option<u64>,
    /// The operator's cap (`None`: none).
    cap: Option<u64>,
    /// Shows a value in notes.
    show: fn(u64) -> String,
}

impl Limit<'_> {
    /// The limit of each of `gpus`, cut down to the cap (with a note when a request was).
    fn resolve(
        &self,
        gpus: &[u32],
        config: &HostConfig,
        notes: &mut Vec<String>,
    ) -> Result<BTreeMap<u32, Option<u64>>, String> {
        match self.asked {
            Some(PerGpu::Each(each)) => {
                if let Some(g) = each.keys().find(|g| !gpus.contains(g)) {
                    return Err(format!(
                        "{} for gpu{g} asked, but the container gets {}",
                        self.file,
                        gpus_text(gpus)
                    ));
                }
            }
            Some(PerGpu::ByIndex { each, .. }) => {
                if let Some(i) = each.keys().find(|&&i| i >= gpus.len()) {
                    return Err(format!(
                        "{ENV_HAMI_MEMORY}_{i} set, but the container gets {} ({ENV_HAMI_MEMORY}_<i> counts its GPUs from 0)",
                        gpus_text(gpus)
                    ));
                }
            }
            Some(PerGpu::Every(_)) | None => {}
        }
        let default = self.default.unwrap_or(UNLIMITED);
        let mut out = BTreeMap::new();
        for (index, &gpu) in gpus.iter().enumerate() {
            let asked = match self.asked {
                Some(PerGpu::Every(v)) => Some(*v),
                Some(PerGpu::Each(each)) => each.get(&gpu).copied(),
                Some(PerGpu::ByIndex { each, every }) => each.get(&index).copied().or(*every),
                None => None,
            };
            let mut value = asked.unwrap_or(default);
            if let Some(cap) = self.cap.filter(|&cap| value > cap) {
                // A default above the cap is the operator's own doing: no note for it.
                if let Some(asked) = asked {
                    notes.push(format!(
                        "gpu{gpu}: {} {} asked, capped at {} by {} in {}",
                        self.file,
                        (self.show)(asked),
                        (self.show)(cap),
                        self.cap_key,
                        config.name()
                    ));
                }
                value = cap;
            }
            out.insert(gpu, (value != UNLIMITED).then_some(value));
        }
        Ok(out)
    }
}

/// The plan for a request: `None` for `Void` (leave the container alone). `available` is
/// the GPUs (minors) fakegpu fronts. Asking for a GPU that is not there is an error;
/// limits above the operator's maxima are cut down to them (with a note).
pub fn plan(
    request: &Request,
    config: &HostConfig,
    available: &[u32],
) -> Result<Option<Plan>, String> {
    let (devices, asked_by) = match &request.devices {
        Some(d) => (d.clone(), "requested".to_string()),
        None => {
            let d = Devices::parse(&config.default_devices)
                .map_err(|e| format!("{}: default-devices: {e}", config.name()))?;
            (d, format!("in default-devices of {}", config.name()))
        }
    };
    let mut fronted = available.to_vec();
    fronted.sort_unstable();
    fronted.dedup();
    let mut gpus = match devices {
        Devices::Void => return Ok(None),
        Devices::None => Vec::new(),
        Devices::All => fronted.clone(),
        Devices::List(list) => {
            if let Some(g) = list.iter().find(|g| !fronted.contains(g)) {
                return Err(format!(
                    "GPU {g} {asked_by}, but fakegpu fronts {}",
                    gpus_text(&fronted)
                ));
            }
            list
        }
    };
    gpus.sort_unstable();
    gpus.dedup();

    let mut notes = Vec::new();
    let memory = Limit {
        file: "memory.max",
        cap_key: "max-memory",
        asked: request.memory.as_ref(),
        default: config.default_memory,
        cap: config.max_memory,
        show: size_text,
    };
    let channels = Limit {
        file: "channels.max",
        cap_key: "max-channels",
        asked: request.channels.as_ref(),
        default: config.default_channels,
        cap: config.max_channels,
        show: count_text,
    };
    let memory_max = memory.resolve(&gpus, config, &mut notes)?;
    let channels_max = channels.resolve(&gpus, config, &mut notes)?;
    Ok(Some(Plan {
        gpus,
        memory_max,
        channels_max,
        uvm_policy: config.uvm_policy.clone(),
        notes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Sources;
    use proptest::prelude::*;

    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn env(vars: &[&str]) -> Vec<String> {
        vars.iter().map(|v| v.to_string()).collect()
    }

    fn both() -> HostConfig {
        HostConfig {
            sources: Sources {
                annotations: true,
                env: true,
            },
            ..HostConfig::default()
        }
    }

    fn read(a: &[(&str, &str)], e: &[&str], config: &HostConfig) -> Result<Request, String> {
        Request::read(&annotations(a), &env(e), config)
    }

    #[test]
    fn devices_forms() {
        assert_eq!(Devices::parse("all"), Ok(Devices::All));
        assert_eq!(Devices::parse(" none "), Ok(Devices::None));
        assert_eq!(Devices::parse("void"), Ok(Devices::Void));
        assert_eq!(Devices::parse(""), Ok(Devices::Void));
        assert_eq!(
            Devices::parse("2, 0 ,2,1"),
            Ok(Devices::List(vec![2, 0, 1]))
        );
        for bad in ["0,", ",", "0;1", "-1", "0-2", "all,0", "x", "99999999999"] {
            assert!(Devices::parse(bad).is_err(), "{bad}");
        }
        for uuid in [
            "GPU-4a1f0c2e-0000",
            "0,GPU-1",
            "MIG-GPU-1/0/0",
            "MIG-5c1d",
            "0:1",
        ] {
            assert_eq!(
                Devices::parse(uuid),
                Err("GPU UUIDs are not supported yet; use indices".into())
            );
        }
        for d in [
            Devices::All,
            Devices::None,
            Devices::Void,
            Devices::List(vec![3, 1]),
        ] {
            assert_eq!(Devices::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn sources_and_precedence() {
        let annotation_only = HostConfig::default();
        // Env is not read by default.
        let r = read(
            &[],
            &["NVIDIA_VISIBLE_DEVICES=0", "FAKEGPU_MEMORY_LIMIT=1G"],
            &annotation_only,
        )
        .unwrap();
        assert_eq!(r, Request::default());
        // Annotations, then FAKEGPU_VISIBLE_DEVICES, then NVIDIA_VISIBLE_DEVICES.
        let e = ["NVIDIA_VISIBLE_DEVICES=2", "FAKEGPU_VISIBLE_DEVICES=1"];
        let r = read(&[("fakegpu.io/devices", "0")], &e, &both()).unwrap();
        assert_eq!(r.devices, Some(Devices::List(vec![0])));
        assert_eq!(
            read(&[], &e, &both()).unwrap().devices,
            Some(Devices::List(vec![1]))
        );
        assert_eq!(
            read(&[], &e[..1], &both()).unwrap().devices,
            Some(Devices::List(vec![2]))
        );
        // A lower source is not read, so NVIDIA's UUIDs there do no harm.
        let r = read(
            &[],
            &[
                "NVIDIA_VISIBLE_DEVICES=GPU-1234",
                "FAKEGPU_VISIBLE_DEVICES=all",
            ],
            &both(),
        )
        .unwrap();
        assert_eq!(r.devices, Some(Devices::All));
        // Annotations can be switched off.
        let env_only = HostConfig {
            sources: Sources {
                annotations: false,
                env: true,
            },
            ..HostConfig::default()
        };
        let r = read(
            &[("fakegpu.io/devices", "bad"), ("fakegpu.io/typo", "")],
            &["FAKEGPU_VISIBLE_DEVICES=none"],
            &env_only,
        )
        .unwrap();
        assert_eq!(r.devices, Some(Devices::None));
        // The last of a repeated variable wins; entries without '=' are skipped.
        let r = read(
            &[],
            &[
                "FAKEGPU_VISIBLE_DEVICES=0",
                "JUNK",
                "FAKEGPU_VISIBLE_DEVICES=1",
            ],
            &both(),
        )
        .unwrap();
        assert_eq!(r.devices, Some(Devices::List(vec![1])));
        // Empty means void, as NVIDIA's tools read it.
        let r = read(&[], &["NVIDIA_VISIBLE_DEVICES="], &both()).unwrap();
        assert_eq!(r.devices, Some(Devices::Void));
    }

    #[test]
    fn memory_and_channels_forms() {
        let r = read(
            &[
                ("fakegpu.io/memory.max", "gpu0=8G, gpu2 = max"),
                ("fakegpu.io/channels.max", "16"),
            ],
            &["FAKEGPU_MEMORY_LIMIT=1G"],
            &both(),
        )
        .unwrap();
        assert_eq!(
            r.memory,
            Some(PerGpu::Each([(0, 8 * G), (2, UNLIMITED)].into()))
        );
        assert_eq!(r.channels, Some(PerGpu::Every(16)));
        let r = read(
            &[],
            &["FAKEGPU_MEMORY_LIMIT=max", "CUDA_DEVICE_MEMORY_LIMIT=1g"],
            &both(),
        )
        .unwrap();
        assert_eq!(r.memory, Some(PerGpu::Every(UNLIMITED)));
        let r = read(
            &[("fakegpu.io/channels.max", "gpu1=max,gpu0=4")],
            &[],
            &both(),
        )
        .unwrap();
        assert_eq!(
            r.channels,
            Some(PerGpu::Each([(0, 4), (1, UNLIMITED)].into()))
        );
    }

    #[test]
    fn hami_variables() {
        let r = read(
            &[],
            &[
                "CUDA_DEVICE_MEMORY_LIMIT=4g",
                "CUDA_DEVICE_MEMORY_LIMIT_1=1024M",
                "CUDA_DEVICE_MEMORY_LIMIT_2=1048576k",
                "CUDA_DEVICE_MEMORY_LIMIT_3=1073741824",
                "CUDA_DEVICE_MEMORY_LIMIT_4=0",
                "CUDA_DEVICE_MEMORY_LIMIT_5=",
                "CUDA_DEVICE_MEMORY_LIMIT_01=5g",
                "CUDA_DEVICE_MEMORY_LIMIT_X=junk",
                "CUDA_DEVICE_MEMORY_LIMITS=junk",
                "CUDA_DEVICE_SM_LIMIT=50",
            ],
            &both(),
        )
        .unwrap();
        assert_eq!(
            r.memory,
            Some(PerGpu::ByIndex {
                each: [(1, G), (2, G), (3, G)].into(),
                every: Some(4 * G)
            })
        );
        // Zero or empty is unset to HAMi-core.
        let r = read(
            &[],
            &["CUDA_DEVICE_MEMORY_LIMIT=0", "CUDA_DEVICE_MEMORY_LIMIT_0="],
            &both(),
        )
        .unwrap();
        assert_eq!(r.memory, None);
        assert_eq!(parse_hami_size("2G"), Ok(Some(2 * G)));
        assert_eq!(parse_hami_size("512m"), Ok(Some(512 * M)));
        for bad in ["1t", "max", "g", " 1g", "1.5g", "-1", "99999999999g"] {
            assert!(parse_hami_size(bad).is_err(), "{bad}");
        }
    }

    /// Annotations, env, and the error expected.
    type Case = (
        &'static [(&'static str, &'static str)],
        &'static [&'static str],
        &'static str,
    );

    #[test]
    fn errors_name_the_key_and_the_value() {
        let cases: [Case; 10] = [
            (
                &[("fakegpu.io/memory.max", "8X")],
                &[],
                "annotation fakegpu.io/memory.max=\"8X\": expected a size such as 64M, 8G or max",
            ),
            (
                &[("fakegpu.io/memory.max", "gpu0=8G,gpu1=8X")],
                &[],
                "annotation fakegpu.io/memory.max=\"gpu0=8G,gpu1=8X\": gpu1: expected a size",
            ),
            (
                &[("fakegpu.io/memory.max", "gpu0=1G,gpu0=2G")],
                &[],
                "gpu0 is given twice",
            ),
            (&[("fakegpu.io/memory.max", "0=1G")], &[], "\"0\": expected gpuN"),
            (&[("fakegpu.io/memory.max", "gpu0=1G,")], &[], "\"\": expected gpuN=VALUE"),
            (
                &[("fakegpu.io/channels.max", "-1")],
                &[],
                "annotation fakegpu.io/channels.max=\"-1\": expected a number or max",
            ),
            (
                &[("fakegpu.io/devices", "GPU-abc")],
                &[],
                "annotation fakegpu.io/devices=\"GPU-abc\": GPU UUIDs are not supported yet; use indices",
            ),
            (
                &[],
                &["NVIDIA_VISIBLE_DEVICES=GPU-abc\nx"],
                "env NVIDIA_VISIBLE_DEVICES=\"GPU-abc\\nx\": GPU UUIDs",
            ),
            (
                &[],
                &["CUDA_DEVICE_MEMORY_LIMIT_0=4x"],
                "env CUDA_DEVICE_MEMORY_LIMIT_0=\"4x\": expected bytes or a number with a k, m or g suffix",
            ),
            (
                &[("fakegpu.io/memory", "8G")],
                &[],
                "annotation fakegpu.io/memory: unknown; fakegpu reads fakegpu.io/devices",
            ),
        ];
        for (a, e, expected) in cases {
            let err = read(a, e, &both()).unwrap_err();
            assert!(
                err.contains(expected),
                "{a:?} {e:?} gave {err:?}, expected {expected:?}"
            );
            assert!(!err.contains('\n'), "{err:?}");
        }
        // Other annotations are not fakegpu's business.
        assert!(read(
            &[("io.kubernetes.cri.container-type", "container")],
            &[],
            &both()
        )
        .is_ok());
    }

    fn capped() -> HostConfig {
        HostConfig {
            default_memory: Some(4 * G),
            max_memory: Some(16 * G),
            default_channels: None,
            max_channels: Some(64),
            path: Some("/etc/fakegpu/config.toml".into()),
            ..both()
        }
    }

    #[test]
    fn plan_devices() {
        let c = HostConfig::default();
        let void = Request {
            devices: Some(Devices::Void),
            ..Request::default()
        };
        assert_eq!(plan(&void, &c, &[0, 1]), Ok(None));
        let p = plan(&Request::default(), &c, &[1, 0]).unwrap().unwrap();
        assert_eq!(p.gpus, [0, 1]);
        assert_eq!(p.uvm_policy, "allow");
        let none = Request {
            devices: Some(Devices::None),
            memory: Some(PerGpu::Every(G)),
            ..Request::default()
        };
        let p = plan(&none, &c, &[0, 1]).unwrap().unwrap();
        assert!(p.gpus.is_empty() && p.memory_max.is_empty() && p.channels_max.is_empty());
        let list = Request {
            devices: Some(Devices::List(vec![1, 0])),
            ..Request::default()
        };
        assert_eq!(plan(&list, &c, &[0, 1, 2]).unwrap().unwrap().gpus, [0, 1]);
        let three = Request {
            devices: Some(Devices::List(vec![3])),
            ..Request::default()
        };
        assert_eq!(
            plan(&three, &c, &[0, 1]),
            Err("GPU 3 requested, but fakegpu fronts GPUs 0,1".into())
        );
        assert_eq!(
            plan(&three, &c, &[]),
            Err("GPU 3 requested, but fakegpu fronts no GPUs".into())
        );
        // The operator's default applies when the container names none.
        let c = HostConfig {
            default_devices: "1".into(),
            path: Some("/etc/fakegpu/config.toml".into()),
            ..HostConfig::default()
        };
        assert_eq!(
            plan(&Request::default(), &c, &[0, 1])
                .unwrap()
                .unwrap()
                .gpus,
            [1]
        );
        assert_eq!(
            plan(&Request::default(), &c, &[0]),
            Err(
                "GPU 1 in default-devices of /etc/fakegpu/config.toml, but fakegpu fronts GPU 0"
                    .into()
            )
        );
        let c = HostConfig {
            default_devices: "void".into(),
            ..HostConfig::default()
        };
        assert_eq!(plan(&Request::default(), &c, &[0]), Ok(None));
    }

    #[test]
    fn plan_limits_defaults_and_caps() {
        let c = capped();
        // Nothing asked: the operator's defaults.
        let p = plan(&Request::default(), &c, &[0, 1]).unwrap().unwrap();
        assert_eq!(p.memory_max, [(0, Some(4 * G)), (1, Some(4 * G))].into());
        assert_eq!(p.channels_max, [(0, Some(64)), (1, Some(64))].into());
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        // Per-GPU values, unnamed GPUs get the default, too much is capped with a note.
        let r = Request {
            devices: None,
            memory: Some(PerGpu::Each([(0, 64 * G)].into())),
            channels: Some(PerGpu::Every(UNLIMITED)),
        };
        let p = plan(&r, &c, &[0, 1]).unwrap().unwrap();
        assert_eq!(p.memory_max, [(0, Some(16 * G)), (1, Some(4 * G))].into());
        assert_eq!(p.channels_max, [(0, Some(64)), (1, Some(64))].into());
        assert_eq!(
            p.notes,
            [
                "gpu0: memory.max 64G asked, capped at 16G by max-memory in /etc/fakegpu/config.toml",
                "gpu0: channels.max max asked, capped at 64 by max-channels in /etc/fakegpu/config.toml",
                "gpu1: channels.max max asked, capped at 64 by max-channels in /etc/fakegpu/config.toml",
            ]
        );
        // No caps: unlimited stays unlimited.
        let p = plan(&r, &HostConfig::default(), &[0, 1]).unwrap().unwrap();
        assert_eq!(p.memory_max, [(0, Some(64 * G)), (1, None)].into());
        assert_eq!(p.channels_max, [(0, None), (1, None)].into());
        // Per-GPU entries for GPUs the container does not get.
        let r = Request {
            devices: Some(Devices::List(vec![1])),
            memory: Some(PerGpu::Each([(0, G)].into())),
            channels: None,
        };
        assert_eq!(
            plan(&r, &c, &[0, 1]),
            Err("memory.max for gpu0 asked, but the container gets GPU 1".into())
        );
    }

    #[test]
    fn plan_hami_indices_count_the_containers_gpus() {
        let r = read(
            &[("fakegpu.io/devices", "3,1")],
            &[
                "CUDA_DEVICE_MEMORY_LIMIT=2g",
                "CUDA_DEVICE_MEMORY_LIMIT_1=1g",
            ],
            &both(),
        )
        .unwrap();
        let p = plan(&r, &capped(), &[0, 1, 2, 3]).unwrap().unwrap();
        // Index 0 is minor 1, index 1 is minor 3.
        assert_eq!(p.memory_max, [(1, Some(2 * G)), (3, Some(G))].into());
        let r = read(
            &[("fakegpu.io/devices", "1")],
            &["CUDA_DEVICE_MEMORY_LIMIT_1=1g"],
            &both(),
        )
        .unwrap();
        let e = plan(&r, &capped(), &[0, 1]).unwrap_err();
        assert!(
            e.starts_with("CUDA_DEVICE_MEMORY_LIMIT_1 set, but the container gets GPU 1"),
            "{e}"
        );
        // Without the whole value, other indices get the operator's default.
        let r = read(
            &[("fakegpu.io/devices", "0,1")],
            &["CUDA_DEVICE_MEMORY_LIMIT_1=1g"],
            &both(),
        )
        .unwrap();
        let p = plan(&r, &capped(), &[0, 1]).unwrap().unwrap();
        assert_eq!(p.memory_max, [(0, Some(4 * G)), (1, Some(G))].into());
    }

    #[test]
    fn sizes_in_notes() {
        assert_eq!(size_text(UNLIMITED), "max");
        assert_eq!(size_text(0), "0");
        assert_eq!(size_text(16 * G), "16G");
        assert_eq!(size_text(1536 * M), "1536M");
        assert_eq!(size_text(1 << 40), "1T");
        assert_eq!(size_text(1000), "1000");
        assert_eq!(count_text(UNLIMITED), "max");
        assert_eq!(count_text(64), "64");
    }

    fn per_gpu() -> impl Strategy<Value = PerGpu> {
        let value = prop_oneof![Just(UNLIMITED), 0u64..=(64 * G), any::<u64>()];
        prop_oneof![
            value.clone().prop_map(PerGpu::Every),
            proptest::collection::btree_map(0u32..6, value.clone(), 0..4).prop_map(PerGpu::Each),
            (
                proptest::collection::btree_map(0usize..6, value.clone(), 0..4),
                proptest::option::of(value)
            )
                .prop_map(|(each, every)| PerGpu::ByIndex { each, every }),
        ]
    }

    fn devices() -> impl Strategy<Value = Devices> {
        prop_oneof![
            Just(Devices::All),
            Just(Devices::None),
            Just(Devices::Void),
            proptest::collection::vec(0u32..8, 0..5).prop_map(|v| {
                match Devices::parse(&join(&v)) {
                    Ok(d) => d,
                    Err(_) => Devices::Void,
                }
            }),
        ]
    }

    fn limit() -> impl Strategy<Value = Option<u64>> {
        proptest::option::of(prop_oneof![0u64..=(32 * G), any::<u64>()])
    }

    proptest! {
        #[test]
        fn plans_stay_within_caps_and_available_gpus(
            devices in proptest::option::of(devices()),
            memory in proptest::option::of(per_gpu()),
            channels in proptest::option::of(per_gpu()),
            available in proptest::collection::vec(0u32..8, 0..6),
            default_memory in limit(),
            max_memory in limit(),
            default_channels in limit(),
            max_channels in limit(),
        ) {
            let request = Request { devices, memory, channels };
            let config = HostConfig {
                default_memory, max_memory, default_channels, max_channels,
                ..HostConfig::default()
            };
            if let Ok(Some(p)) = plan(&request, &config, &available) {
                prop_assert!(p.gpus.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(p.gpus.iter().all(|g| available.contains(g)));
                prop_assert_eq!(p.memory_max.keys().copied().collect::<Vec<_>>(), p.gpus.clone());
                prop_assert_eq!(p.channels_max.keys().copied().collect::<Vec<_>>(), p.gpus.clone());
                for (values, cap) in [(&p.memory_max, max_memory), (&p.channels_max, max_channels)] {
                    if let Some(cap) = cap.filter(|&c| c != UNLIMITED) {
                        prop_assert!(values.values().all(|v| v.is_some_and(|v| v <= cap)));
                    }
                    prop_assert!(values.values().all(|v| *v != Some(UNLIMITED)));
                }
            }
        }

        #[test]
        fn read_never_panics(
            values in proptest::collection::vec(".*", 4),
            env in proptest::collection::vec("(FAKEGPU_|NVIDIA_|CUDA_DEVICE_MEMORY_LIMIT)?.*", 0..6),
        ) {
            let a = annotations(&[
                (ANNOTATION_DEVICES, &values[0]),
                (ANNOTATION_MEMORY, &values[1]),
                (ANNOTATION_CHANNELS, &values[2]),
            ]);
            let _ = Request::read(&a, &env, &both());
            let mut e = env.clone();
            e.push(format!("{ENV_HAMI_MEMORY}_0={}", values[3]));
            e.push(format!("{ENV_NVIDIA_DEVICES}={}", values[3]));
            let _ = Request::read(&BTreeMap::new(), &e, &both());
        }

        #[test]
        fn device_lists_read_back(minors in proptest::collection::vec(any::<u32>(), 1..6)) {
            let text = minors.iter().map(u32::to_string).collect::<Vec<_>>().join(" , ");
            let mut unique = Vec::new();
            for m in minors {
                if !unique.contains(&m) {
                    unique.push(m);
                }
            }
            prop_assert_eq!(Devices::parse(&text), Ok(Devices::List(unique)));
        }
    }
}
