//! A container's requests, read from its annotations and environment (fakegpu's, NVIDIA's
//! and HAMi's variables), from the sources the host config allows.
//!
//! | what | annotation | environment (if the host config allows) |
//! |---|---|---|
//! | GPUs | `fakegpu.io/devices` | `FAKEGPU_VISIBLE_DEVICES`, then `NVIDIA_VISIBLE_DEVICES` |
//! | memory per GPU | `fakegpu.io/memory.max` | `FAKEGPU_MEMORY_LIMIT`, then HAMi's `CUDA_DEVICE_MEMORY_LIMIT(_i)` |
//! | channels per GPU | `fakegpu.io/channels.max` | - |
//! | compute cap per GPU | `fakegpu.io/compute.max` | `FAKEGPU_COMPUTE_LIMIT`, then HAMi's `CUDA_DEVICE_SM_LIMIT` |
//! | compute weight per GPU | `fakegpu.io/compute.weight` | - |
//! | driver capabilities | `fakegpu.io/capabilities` | `NVIDIA_DRIVER_CAPABILITIES` |
//!
//! NVIDIA's capability names with no meaning in the kernel (`compat32`, `display`, `ngx`:
//! which libraries the toolkit mounts) are dropped from the environment's list; the
//! annotation takes fakegpu's names only.
//!
//! For each item the first source in the table's order that is set wins; the others are not
//! read, so a value fakegpu does not understand (e.g. NVIDIA's device plugin putting UUIDs
//! in `NVIDIA_VISIBLE_DEVICES`) does no harm when a higher source is set.

use super::devices::Devices;
use super::per_gpu::{parse_per_gpu, PerGpu};
use crate::config::HostConfig;
use crate::units::{check_percent, check_weight};
use policy::ledger;
use policy::nv_caps::Capabilities;
use std::collections::BTreeMap;

/// The annotation naming the container's GPUs.
pub const ANNOTATION_DEVICES: &str = "fakegpu.io/devices";
/// The annotation with the container's GPU memory limit.
pub const ANNOTATION_MEMORY: &str = "fakegpu.io/memory.max";
/// The annotation with the container's channel limit.
pub const ANNOTATION_CHANNELS: &str = "fakegpu.io/channels.max";
/// The annotation with the container's compute cap (percent of each GPU).
pub const ANNOTATION_COMPUTE: &str = "fakegpu.io/compute.max";
/// The annotation with the container's compute weight.
pub const ANNOTATION_COMPUTE_WEIGHT: &str = "fakegpu.io/compute.weight";
/// fakegpu's variable with the container's compute cap.
pub const ENV_COMPUTE: &str = "FAKEGPU_COMPUTE_LIMIT";
/// HAMi's compute cap: percent of every GPU (HAMi-core throttles SMs to it).
pub const ENV_HAMI_COMPUTE: &str = "CUDA_DEVICE_SM_LIMIT";
/// The annotation with the container's driver capabilities.
pub const ANNOTATION_CAPABILITIES: &str = "fakegpu.io/capabilities";
/// NVIDIA's variable with the container's driver capabilities.
pub const ENV_NVIDIA_CAPABILITIES: &str = "NVIDIA_DRIVER_CAPABILITIES";
/// NVIDIA_DRIVER_CAPABILITIES' names that only choose libraries to mount.
const LIBRARY_ONLY_CAPABILITIES: [&str; 3] = ["compat32", "display", "ngx"];
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

/// A container's requests, as read from its annotations and environment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `fakegpu.io/devices`, `FAKEGPU_VISIBLE_DEVICES` or `NVIDIA_VISIBLE_DEVICES`.
    pub devices: Option<Devices>,
    /// `fakegpu.io/memory.max`, `FAKEGPU_MEMORY_LIMIT`, `CUDA_DEVICE_MEMORY_LIMIT(_i)`.
    pub memory: Option<PerGpu>,
    /// `fakegpu.io/channels.max`.
    pub channels: Option<PerGpu>,
    /// `fakegpu.io/compute.max`, `FAKEGPU_COMPUTE_LIMIT`, `CUDA_DEVICE_SM_LIMIT`: percent.
    pub compute: Option<PerGpu>,
    /// `fakegpu.io/compute.weight`.
    pub compute_weight: Option<PerGpu>,
    /// `fakegpu.io/capabilities` or `NVIDIA_DRIVER_CAPABILITIES`.
    pub capabilities: Option<Capabilities>,
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
            let known = [
                ANNOTATION_DEVICES,
                ANNOTATION_MEMORY,
                ANNOTATION_CHANNELS,
                ANNOTATION_COMPUTE,
                ANNOTATION_COMPUTE_WEIGHT,
                ANNOTATION_CAPABILITIES,
            ];
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
        let compute = pick(ANNOTATION_COMPUTE, &[ENV_COMPUTE, ENV_HAMI_COMPUTE])
            .map(|(kind, key, v)| {
                // HAMi's variable is a bare number of percent; fakegpu's take `30%` too.
                parse_per_gpu(v, check_percent)
                    .map_err(|e| format!("{}: {e}", origin(kind, key, v)))
            })
            .transpose()?;
        let compute_weight = pick(ANNOTATION_COMPUTE_WEIGHT, &[])
            .map(|(kind, key, v)| {
                parse_per_gpu(v, check_weight).map_err(|e| format!("{}: {e}", origin(kind, key, v)))
            })
            .transpose()?;
        let capabilities = pick(ANNOTATION_CAPABILITIES, &[ENV_NVIDIA_CAPABILITIES])
            .map(|(kind, key, v)| {
                let kept: Vec<&str> = if kind == "env" {
                    v.split(',')
                        .filter(|name| !LIBRARY_ONLY_CAPABILITIES.contains(&name.trim()))
                        .collect()
                } else {
                    vec![v]
                };
                Capabilities::parse(&kept.join(","))
                    .map_err(|e| format!("{}: {e}", origin(kind, key, v)))
            })
            .transpose()?;
        Ok(Request {
            devices,
            memory,
            channels,
            compute,
            compute_weight,
            capabilities,
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

#[cfg(test)]
pub(super) mod fixtures {
    //! What the tests of the request's files share: units, and requests read with both
    //! sources allowed.

    use super::Request;
    use crate::config::{HostConfig, Sources};
    use std::collections::BTreeMap;

    pub const G: u64 = 1 << 30;
    pub const M: u64 = 1 << 20;

    pub fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn env(vars: &[&str]) -> Vec<String> {
        vars.iter().map(|v| v.to_string()).collect()
    }

    pub fn both() -> HostConfig {
        HostConfig {
            sources: Sources {
                annotations: true,
                env: true,
            },
            ..HostConfig::default()
        }
    }

    pub fn read(a: &[(&str, &str)], e: &[&str], config: &HostConfig) -> Result<Request, String> {
        Request::read(&annotations(a), &env(e), config)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{annotations, both, read, G, M};
    use super::*;
    use crate::config::Sources;
    use crate::request::devices::GpuRef;
    use policy::ledger::UNLIMITED;
    use proptest::prelude::*;

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
        assert_eq!(r.devices, Some(Devices::List(vec![GpuRef::Index(0)])));
        assert_eq!(
            read(&[], &e, &both()).unwrap().devices,
            Some(Devices::List(vec![GpuRef::Index(1)]))
        );
        assert_eq!(
            read(&[], &e[..1], &both()).unwrap().devices,
            Some(Devices::List(vec![GpuRef::Index(2)]))
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
        assert_eq!(r.devices, Some(Devices::List(vec![GpuRef::Index(1)])));
        // Empty means void, as NVIDIA's tools read it.
        let r = read(&[], &["NVIDIA_VISIBLE_DEVICES="], &both()).unwrap();
        assert_eq!(r.devices, Some(Devices::Void));
    }

    #[test]
    fn capabilities_from_the_annotation_or_nvidias_variable() {
        let r = read(
            &[],
            &["NVIDIA_DRIVER_CAPABILITIES=compute,compat32,utility"],
            &both(),
        );
        assert_eq!(
            r.unwrap().capabilities.unwrap().to_string(),
            "compute,utility"
        );
        let r = read(&[], &["NVIDIA_DRIVER_CAPABILITIES=all"], &both()).unwrap();
        assert_eq!(r.capabilities, Some(Capabilities::ALL));
        // The annotation wins, and takes fakegpu's names only.
        let r = read(
            &[("fakegpu.io/capabilities", "video")],
            &["NVIDIA_DRIVER_CAPABILITIES=all"],
            &both(),
        );
        assert_eq!(r.unwrap().capabilities, Some(Capabilities::VIDEO));
        let bad = read(&[("fakegpu.io/capabilities", "display")], &[], &both()).unwrap_err();
        assert!(bad.contains("fakegpu.io/capabilities"), "{bad}");
        // Not read from the environment unless the host config says so.
        let r = read(
            &[],
            &["NVIDIA_DRIVER_CAPABILITIES=all"],
            &HostConfig::default(),
        );
        assert_eq!(r.unwrap().capabilities, None);
    }

    #[test]
    fn compute_forms() {
        let r = read(
            &[
                ("fakegpu.io/compute.max", "gpu0=30%, gpu1=max"),
                ("fakegpu.io/compute.weight", "300"),
            ],
            &["CUDA_DEVICE_SM_LIMIT=50"],
            &both(),
        )
        .unwrap();
        assert_eq!(
            r.compute,
            Some(PerGpu::Each([(0, 30), (1, ledger::UNLIMITED)].into()))
        );
        assert_eq!(r.compute_weight, Some(PerGpu::Every(300)));
        // HAMi's variable: percent of every GPU; 0 and 100 mean no cap, as in HAMi-core.
        let r = read(&[], &["CUDA_DEVICE_SM_LIMIT=50"], &both()).unwrap();
        assert_eq!(r.compute, Some(PerGpu::Every(50)));
        let r = read(&[], &["CUDA_DEVICE_SM_LIMIT=0"], &both()).unwrap();
        assert_eq!(r.compute, Some(PerGpu::Every(ledger::UNLIMITED)));
        // fakegpu's variable wins over HAMi's.
        let r = read(
            &[],
            &["FAKEGPU_COMPUTE_LIMIT=20%", "CUDA_DEVICE_SM_LIMIT=50"],
            &both(),
        )
        .unwrap();
        assert_eq!(r.compute, Some(PerGpu::Every(20)));
        // Not from the environment unless the host config allows it.
        let r = read(&[], &["CUDA_DEVICE_SM_LIMIT=50"], &HostConfig::default()).unwrap();
        assert_eq!(r.compute, None);
        for (key, bad) in [
            ("fakegpu.io/compute.max", "101%"),
            ("fakegpu.io/compute.max", "-5"),
            ("fakegpu.io/compute.max", "gpu0=30%,gpu0=20%"),
            ("fakegpu.io/compute.weight", "0"),
            ("fakegpu.io/compute.weight", "10001"),
        ] {
            let e = read(&[(key, bad)], &[], &both()).unwrap_err();
            assert!(e.contains(key), "{e}");
        }
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
                &[("fakegpu.io/devices", "MIG-abc")],
                &[],
                "annotation fakegpu.io/devices=\"MIG-abc\": \"MIG-abc\" is a MIG device: fakegpu gives containers whole GPUs",
            ),
            (
                &[],
                &["NVIDIA_VISIBLE_DEVICES=GPU-abc\nx"],
                "env NVIDIA_VISIBLE_DEVICES=\"GPU-abc\\nx\": \"GPU-abc\\nx\" is not a GPU UUID",
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

    proptest! {
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
    }
}
