//! The text parsers of rust/policy that take what users write: cgroups/control commands,
//! limit files (sizes, counts, per-GPU lists), visibility lists, the module parameters
//! (devices=, nvidia_gpus=), /proc/devices and the driver version. None may panic; what
//! they accept must be well formed.
#![no_main]

use policy::cgroup_control::{self, Command, PATH_MAX};
use policy::fronts::FrontTable;
use policy::gpu_set::Visibility;
use policy::ledger::{self, MAX_GPUS};
use policy::nv_discovery::GpuSpec;
use abi::nv_rm::DriverFamily;
use abi::proc_devices::char_major;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cmd) = cgroup_control::parse(text) {
        if let Command::Add(cgroup_control::Target::Path(p))
        | Command::Remove(cgroup_control::Target::Path(p)) = cmd
        {
            assert!(p.starts_with('/') && p.len() <= PATH_MAX && !p.contains(['\0', '\n']));
        }
    }
    // What sysfs shows for an accepted value reads back as the same value.
    if let Ok(size) = ledger::parse_size(text) {
        let shown = ledger::Shown(size).to_string();
        assert_eq!(ledger::parse_size(&shown), Ok(size), "{text:?}");
    }
    if let Ok(n) = ledger::parse_count(text) {
        let shown = ledger::Shown(n).to_string();
        assert_eq!(ledger::parse_count(&shown), Ok(n), "{text:?}");
    }
    for gpus in [1, 2, MAX_GPUS] {
        let mut set = Vec::new();
        let r = ledger::parse_per_gpu(
            text,
            gpus,
            |m| usize::try_from(m).ok().filter(|&m| m < gpus),
            ledger::parse_size,
            |slot, v| set.push((slot, v)),
        );
        // Nothing is set unless everything parsed.
        assert!(r.is_ok() || set.is_empty());
        assert!(set.iter().all(|&(slot, _)| slot < gpus));
    }
    if let Ok(v) = Visibility::parse(text) {
        let _ = v.allows(0);
    }
    let _ = FrontTable::parse(text);
    let _ = GpuSpec::parse(text);
    let _ = char_major(text, "nvidia-frontend");
    let _ = DriverFamily::from_version(text);
});
