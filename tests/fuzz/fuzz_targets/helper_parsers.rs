//! The helper's parsers of what a container's author or the operator writes: the host
//! configuration (TOML), the devices, memory and channel requests in annotations and
//! environment variables, the plan made from them, and the per-GPU values of `fakegpu
//! quota`. The helper's own files, included by path (it is a binary crate).
#![no_main]
#![allow(dead_code)]

#[path = "../../../helper/src/config.rs"]
mod config;
#[path = "../../../helper/src/request/mod.rs"]
mod request;
#[path = "../../../helper/src/units.rs"]
mod units;

use config::HostConfig;
use libfuzzer_sys::fuzz_target;
use request::devices::Devices;
use request::sources::{self, Request};
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line picks the target's value, the rest is a configuration file.
    let (value, toml) = text.split_once('\n').unwrap_or((text, ""));
    if let Ok(Devices::List(minors)) = Devices::parse(value) {
        let mut sorted = minors.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), minors.len(), "repeated minors in {minors:?}");
    }
    let config = HostConfig::parse(toml).unwrap_or_default();
    let _ = HostConfig::parse(value);
    let mut annotations = BTreeMap::new();
    for key in [
        sources::ANNOTATION_DEVICES,
        sources::ANNOTATION_MEMORY,
        sources::ANNOTATION_CHANNELS,
    ] {
        annotations.insert(key.to_string(), value.to_string());
    }
    let env: Vec<String> = [
        sources::ENV_DEVICES,
        sources::ENV_NVIDIA_DEVICES,
        sources::ENV_MEMORY,
        sources::ENV_HAMI_MEMORY,
    ]
    .iter()
    .map(|k| format!("{k}={value}"))
    .chain(toml.lines().map(str::to_string))
    .collect();
    for (a, e) in [(&annotations, &env[..]), (&BTreeMap::new(), &env[..])] {
        if let Ok(req) = Request::read(a, e, &config) {
            let _ = request::plan::plan(&req, &config, &[0, 1]);
            let _ = request::plan::plan(&req, &config, &[]);
        }
    }
    for check in [units::check_size, units::check_count] {
        if let Ok(spec) = units::per_gpu_spec(value, check) {
            assert!(!spec.contains('='), "{spec:?}");
        }
    }
    let _ = units::human(u64::from_le_bytes(
        data.get(..8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or_default(),
    ));
});
