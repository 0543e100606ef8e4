//! The plan: what the hook does for a container, made from its request and the host
//! config. It picks the GPUs (each one fakegpu fronts) and settles their limits.

use super::devices::{gpus_text, Devices};
use super::limits::{count_text, percent_text, size_text, Limit};
use super::sources::Request;
use crate::config::HostConfig;
use crate::host_gpus::HostGpu;
use policy::nv_caps::Capabilities;
use std::collections::BTreeMap;

/// What the hook does for a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The GPUs (minors) the container gets, ascending; may be empty (control node only).
    pub gpus: Vec<u32>,
    /// GPU memory limit per GPU of `gpus` (`None`: unlimited).
    pub memory_max: BTreeMap<u32, Option<u64>>,
    /// Channel limit per GPU of `gpus` (`None`: unlimited).
    pub channels_max: BTreeMap<u32, Option<u64>>,
    /// Compute cap per GPU of `gpus`, in percent (`None`: none).
    pub compute_max: BTreeMap<u32, Option<u64>>,
    /// Compute weight per GPU of `gpus` (`None`: the default, 100).
    pub compute_weight: BTreeMap<u32, Option<u64>>,
    /// `allow` or `deny`.
    pub uvm_policy: String,
    /// The driver capabilities (the entry's `capabilities`).
    pub capabilities: Capabilities,
    /// What the operator's caps changed, one line each, for the hook's log.
    pub notes: Vec<String>,
}

/// The plan for a request: `None` for `Void` (leave the container alone). `available` is
/// the GPUs (minors) fakegpu fronts; `host` the driver's list of its GPUs, which indices and
/// UUIDs name. Asking for a GPU that is not there is an error; limits above the operator's
/// maxima are cut down to them (with a note).
pub fn plan(
    request: &Request,
    config: &HostConfig,
    available: &[u32],
    host: &[HostGpu],
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
            let mut minors = Vec::new();
            for gpu in &list {
                let minor = gpu.minor(host).map_err(|e| format!("{e} ({asked_by})"))?;
                if !fronted.contains(&minor) {
                    return Err(format!(
                        "GPU {gpu} {asked_by}, but fakegpu fronts {}",
                        gpus_text(&fronted)
                    ));
                }
                minors.push(minor);
            }
            minors
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
    let compute = Limit {
        file: "compute.max",
        cap_key: "max-compute",
        asked: request.compute.as_ref(),
        default: config.default_compute,
        cap: config.max_compute,
        show: percent_text,
    };
    let weight = Limit {
        file: "compute.weight",
        cap_key: "",
        asked: request.compute_weight.as_ref(),
        default: None,
        cap: None,
        show: count_text,
    };
    let memory_max = memory.resolve(&gpus, config, &mut notes)?;
    let channels_max = channels.resolve(&gpus, config, &mut notes)?;
    let compute_max = compute.resolve(&gpus, config, &mut notes)?;
    let compute_weight = weight.resolve(&gpus, config, &mut notes)?;
    let asked = request.capabilities.unwrap_or(config.default_capabilities);
    let capabilities = asked.intersection(config.max_capabilities);
    if capabilities != asked {
        notes.push(format!(
            "capabilities {asked} asked, cut to {capabilities} by max-capabilities in {}",
            config.name()
        ));
    }
    Ok(Some(Plan {
        gpus,
        memory_max,
        channels_max,
        compute_max,
        compute_weight,
        uvm_policy: config.uvm_policy.clone(),
        capabilities,
        notes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::devices::{join, GpuRef};
    use crate::request::per_gpu::PerGpu;
    use crate::request::sources::fixtures::{both, read, G};
    use policy::ledger::UNLIMITED;
    use proptest::prelude::*;

    fn capped() -> HostConfig {
        HostConfig {
            default_memory: Some(4 * G),
            max_memory: Some(16 * G),
            default_channels: None,
            max_channels: Some(64),
            default_compute: Some(20),
            max_compute: Some(50),
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
        assert_eq!(plan(&void, &c, &[0, 1], &[]), Ok(None));
        let p = plan(&Request::default(), &c, &[1, 0], &[])
            .unwrap()
            .unwrap();
        assert_eq!(p.gpus, [0, 1]);
        assert_eq!(p.uvm_policy, "allow");
        let none = Request {
            devices: Some(Devices::None),
            memory: Some(PerGpu::Every(G)),
            ..Request::default()
        };
        let p = plan(&none, &c, &[0, 1], &[]).unwrap().unwrap();
        assert!(p.gpus.is_empty() && p.memory_max.is_empty() && p.channels_max.is_empty());
        let list = Request {
            devices: Some(Devices::List(vec![GpuRef::Index(1), GpuRef::Index(0)])),
            ..Request::default()
        };
        assert_eq!(
            plan(&list, &c, &[0, 1, 2], &[]).unwrap().unwrap().gpus,
            [0, 1]
        );
        let three = Request {
            devices: Some(Devices::List(vec![GpuRef::Index(3)])),
            ..Request::default()
        };
        assert_eq!(
            plan(&three, &c, &[0, 1], &[]),
            Err("GPU 3 requested, but fakegpu fronts GPUs 0,1".into())
        );
        assert_eq!(
            plan(&three, &c, &[], &[]),
            Err("GPU 3 requested, but fakegpu fronts no GPUs".into())
        );
        // The operator's default applies when the container names none.
        let c = HostConfig {
            default_devices: "1".into(),
            path: Some("/etc/fakegpu/config.toml".into()),
            ..HostConfig::default()
        };
        assert_eq!(
            plan(&Request::default(), &c, &[0, 1], &[])
                .unwrap()
                .unwrap()
                .gpus,
            [1]
        );
        assert_eq!(
            plan(&Request::default(), &c, &[0], &[]),
            Err(
                "GPU 1 in default-devices of /etc/fakegpu/config.toml, but fakegpu fronts GPU 0"
                    .into()
            )
        );
        let c = HostConfig {
            default_devices: "void".into(),
            ..HostConfig::default()
        };
        assert_eq!(plan(&Request::default(), &c, &[0], &[]), Ok(None));
    }

    #[test]
    fn plan_limits_defaults_and_caps() {
        let c = capped();
        // Nothing asked: the operator's defaults.
        let p = plan(&Request::default(), &c, &[0, 1], &[])
            .unwrap()
            .unwrap();
        assert_eq!(p.memory_max, [(0, Some(4 * G)), (1, Some(4 * G))].into());
        assert_eq!(p.channels_max, [(0, Some(64)), (1, Some(64))].into());
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        // Per-GPU values, unnamed GPUs get the default, too much is capped with a note.
        let r = Request {
            devices: None,
            memory: Some(PerGpu::Each([(0, 64 * G)].into())),
            channels: Some(PerGpu::Every(UNLIMITED)),
            compute: Some(PerGpu::Each([(1, 70)].into())),
            ..Request::default()
        };
        let p = plan(&r, &c, &[0, 1], &[]).unwrap().unwrap();
        assert_eq!(p.memory_max, [(0, Some(16 * G)), (1, Some(4 * G))].into());
        assert_eq!(p.channels_max, [(0, Some(64)), (1, Some(64))].into());
        assert_eq!(p.compute_max, [(0, Some(20)), (1, Some(50))].into());
        assert_eq!(p.compute_weight, [(0, None), (1, None)].into());
        assert_eq!(
            p.notes,
            [
                "gpu0: memory.max 64G asked, capped at 16G by max-memory in /etc/fakegpu/config.toml",
                "gpu0: channels.max max asked, capped at 64 by max-channels in /etc/fakegpu/config.toml",
                "gpu1: channels.max max asked, capped at 64 by max-channels in /etc/fakegpu/config.toml",
                "gpu1: compute.max 70% asked, capped at 50% by max-compute in /etc/fakegpu/config.toml",
            ]
        );
        // No caps: unlimited stays unlimited.
        let p = plan(&r, &HostConfig::default(), &[0, 1], &[])
            .unwrap()
            .unwrap();
        assert_eq!(p.memory_max, [(0, Some(64 * G)), (1, None)].into());
        assert_eq!(p.channels_max, [(0, None), (1, None)].into());
        // Per-GPU entries for GPUs the container does not get.
        let r = Request {
            devices: Some(Devices::List(vec![GpuRef::Index(1)])),
            memory: Some(PerGpu::Each([(0, G)].into())),
            ..Request::default()
        };
        assert_eq!(
            plan(&r, &c, &[0, 1], &[]),
            Err("memory.max for gpu0 asked, but the container gets GPU 1".into())
        );
    }

    #[test]
    fn plan_capabilities_default_and_cap() {
        let mut c = HostConfig::default();
        let mut r = Request::default();
        let p = plan(&r, &c, &[0], &[]).unwrap().unwrap();
        assert_eq!((p.capabilities, p.notes.len()), (Capabilities::DEFAULT, 0));
        r.capabilities = Some(Capabilities::ALL);
        c.max_capabilities = Capabilities::parse("compute,utility").unwrap();
        let p = plan(&r, &c, &[0], &[]).unwrap().unwrap();
        assert_eq!(p.capabilities, Capabilities::DEFAULT);
        assert_eq!(
            p.notes,
            ["capabilities compute,utility,graphics,video asked, cut to compute,utility by max-capabilities in the host configuration"]
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
        let p = plan(&r, &capped(), &[0, 1, 2, 3], &[]).unwrap().unwrap();
        // Index 0 is minor 1, index 1 is minor 3.
        assert_eq!(p.memory_max, [(1, Some(2 * G)), (3, Some(G))].into());
        let r = read(
            &[("fakegpu.io/devices", "1")],
            &["CUDA_DEVICE_MEMORY_LIMIT_1=1g"],
            &both(),
        )
        .unwrap();
        let e = plan(&r, &capped(), &[0, 1], &[]).unwrap_err();
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
        let p = plan(&r, &capped(), &[0, 1], &[]).unwrap().unwrap();
        assert_eq!(p.memory_max, [(0, Some(4 * G)), (1, Some(G))].into());
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
            let request = Request { devices, memory, channels, ..Request::default() };
            let config = HostConfig {
                default_memory, max_memory, default_channels, max_channels,
                ..HostConfig::default()
            };
            if let Ok(Some(p)) = plan(&request, &config, &available, &[]) {
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
    }
}
