//! Which GPUs a container asks for, in NVIDIA_VISIBLE_DEVICES's conventions (`all`, `none`,
//! `void`, indices or UUIDs), how they resolve to the host's GPUs, and lists of GPUs as
//! values and messages write them.

use crate::host_gpus::HostGpu;
use std::fmt;

/// One GPU as a request names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuRef {
    /// By NVML index (nvidia-smi's numbering: the driver's GPUs in PCI order).
    Index(u32),
    /// By UUID (`GPU-...`, as NVIDIA's device plugin and container toolkit pass them).
    Uuid(String),
    /// By minor (`/dev/nvidiaN`'s N): what fakegpu's own sources (CDI devices) name.
    Minor(u32),
}

impl GpuRef {
    /// The minor of the host GPU this names, from the driver's list `host` (PCI order). With
    /// no list (no NVIDIA procfs), an index is taken as the minor, which is what the driver
    /// numbers its GPUs by when it probes them in PCI order.
    pub fn minor(&self, host: &[HostGpu]) -> Result<u32, String> {
        match self {
            GpuRef::Minor(m) => Ok(*m),
            GpuRef::Index(i) if host.is_empty() => Ok(*i),
            GpuRef::Index(i) => host
                .get(*i as usize)
                .map(|g| g.minor)
                .ok_or_else(|| format!("GPU {i} is not one of the host's {} GPUs", host.len())),
            GpuRef::Uuid(u) => host
                .iter()
                .find(|g| g.uuid.eq_ignore_ascii_case(u))
                .map(|g| g.minor)
                .ok_or_else(|| format!("GPU {u} is not one of the host's GPUs")),
        }
    }
}

impl fmt::Display for GpuRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuRef::Index(i) => write!(f, "{i}"),
            GpuRef::Uuid(u) => f.write_str(u),
            GpuRef::Minor(m) => write!(f, "minor {m}"),
        }
    }
}

/// Which GPUs a container asks for (NVIDIA_VISIBLE_DEVICES conventions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Devices {
    /// Every GPU.
    All,
    /// No GPU, but the container still gets the control node (NVIDIA's `none`).
    None,
    /// Nothing at all: the hook leaves the container alone (NVIDIA's `void`, or empty).
    Void,
    /// These GPUs, in the order asked, without repeats.
    List(Vec<GpuRef>),
}

impl Devices {
    /// Parses `all`, `none`, `void`, an empty string (`void`) or GPU indices and UUIDs
    /// separated by commas (`0, GPU-6e76...`; repeats collapse). MIG devices are refused. The
    /// error says what was expected, without the key.
    pub fn parse(text: &str) -> Result<Self, String> {
        const EXPECTED: &str = "expected all, none, void, or GPU indices or UUIDs such as 0,2";
        match text.trim() {
            "" | "void" => return Ok(Devices::Void),
            "all" => return Ok(Devices::All),
            "none" => return Ok(Devices::None),
            _ => {}
        }
        let mut gpus = Vec::new();
        for item in text.split(',').map(str::trim) {
            // MIG devices: MIG-<uuid>, MIG-GPU-<uuid>/<gi>/<ci>, or <gpu>:<instance>.
            if item.starts_with("MIG-") || item.contains(':') {
                return Err(format!(
                    "{item:?} is a MIG device: fakegpu gives containers whole GPUs (by index or GPU- UUID)"
                ));
            }
            let gpu = if let Some(hex) = item.strip_prefix("GPU-") {
                if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                    return Err(format!("{item:?} is not a GPU UUID (GPU- and hex digits)"));
                }
                GpuRef::Uuid(item.to_string())
            } else {
                if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(EXPECTED.into());
                }
                GpuRef::Index(
                    item.parse()
                        .map_err(|_| format!("GPU {item} is out of range"))?,
                )
            };
            if !gpus.contains(&gpu) {
                gpus.push(gpu);
            }
        }
        Ok(Devices::List(gpus))
    }
}

impl fmt::Display for Devices {
    /// The form [`Devices::parse`] takes back: `all`, `none`, `void` or `0,2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Devices::All => f.write_str("all"),
            Devices::None => f.write_str("none"),
            Devices::Void => f.write_str("void"),
            Devices::List(gpus) => {
                let items: Vec<String> = gpus.iter().map(GpuRef::to_string).collect();
                f.write_str(&items.join(","))
            }
        }
    }
}

/// Minors as `0,2`.
pub(super) fn join(minors: &[u32]) -> String {
    minors
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// GPUs as messages name them: `GPUs 0,1`, `GPU 0`, `no GPUs`.
pub(super) fn gpus_text(gpus: &[u32]) -> String {
    match gpus {
        [] => "no GPUs".into(),
        [one] => format!("GPU {one}"),
        _ => format!("GPUs {}", join(gpus)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn indices(list: &[u32]) -> Devices {
        Devices::List(list.iter().map(|&i| GpuRef::Index(i)).collect())
    }

    fn host() -> Vec<HostGpu> {
        // The driver's order (PCI) need not be its minors' order.
        [("0000:01:00.0", 1), ("0000:02:00.0", 0)]
            .iter()
            .map(|&(bus, minor)| HostGpu {
                bus: bus.into(),
                uuid: format!("GPU-6e767369-0000-000{minor}"),
                minor,
            })
            .collect()
    }

    #[test]
    fn devices_forms() {
        assert_eq!(Devices::parse("all"), Ok(Devices::All));
        assert_eq!(Devices::parse(" none "), Ok(Devices::None));
        assert_eq!(Devices::parse("void"), Ok(Devices::Void));
        assert_eq!(Devices::parse(""), Ok(Devices::Void));
        assert_eq!(Devices::parse("2, 0 ,2,1"), Ok(indices(&[2, 0, 1])));
        assert_eq!(
            Devices::parse("0,GPU-6e767369-0000-0001, gpu-x"),
            Err("expected all, none, void, or GPU indices or UUIDs such as 0,2".into())
        );
        assert_eq!(
            Devices::parse("1,GPU-6E767369-0000-0000"),
            Ok(Devices::List(vec![
                GpuRef::Index(1),
                GpuRef::Uuid("GPU-6E767369-0000-0000".into())
            ]))
        );
        for bad in [
            "0,",
            ",",
            "0;1",
            "-1",
            "0-2",
            "all,0",
            "x",
            "99999999999",
            "GPU-",
            "GPU-zz",
        ] {
            assert!(Devices::parse(bad).is_err(), "{bad}");
        }
        for mig in ["MIG-GPU-1/0/0", "MIG-5c1d", "0:1", "0,MIG-5c1d"] {
            let e = Devices::parse(mig).unwrap_err();
            assert!(
                e.contains("is a MIG device: fakegpu gives containers whole GPUs"),
                "{e}"
            );
        }
        for d in [
            Devices::All,
            Devices::None,
            Devices::Void,
            indices(&[3, 1]),
            Devices::List(vec![GpuRef::Uuid("GPU-ab".into()), GpuRef::Index(0)]),
        ] {
            assert_eq!(Devices::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn references_resolve_from_the_host_list() {
        let host = host();
        // Index 0 is the first GPU in PCI order, whose minor is 1.
        assert_eq!(GpuRef::Index(0).minor(&host), Ok(1));
        assert_eq!(GpuRef::Index(1).minor(&host), Ok(0));
        assert_eq!(
            GpuRef::Index(2).minor(&host),
            Err("GPU 2 is not one of the host's 2 GPUs".into())
        );
        assert_eq!(
            GpuRef::Uuid("gpu-6E767369-0000-0000".into()).minor(&host),
            Ok(0)
        );
        assert_eq!(
            GpuRef::Uuid("GPU-1".into()).minor(&host),
            Err("GPU GPU-1 is not one of the host's GPUs".into())
        );
        assert_eq!(GpuRef::Minor(7).minor(&host), Ok(7));
        // Without the driver's list an index is the minor; a UUID cannot be resolved.
        assert_eq!(GpuRef::Index(3).minor(&[]), Ok(3));
        assert!(GpuRef::Uuid("GPU-1".into()).minor(&[]).is_err());
    }

    proptest! {
        #[test]
        fn device_lists_read_back(minors in proptest::collection::vec(any::<u32>(), 1..6)) {
            let text = minors.iter().map(u32::to_string).collect::<Vec<_>>().join(" , ");
            let mut unique = Vec::new();
            for m in minors {
                if !unique.contains(&m) {
                    unique.push(m);
                }
            }
            prop_assert_eq!(Devices::parse(&text), Ok(indices(&unique)));
        }
    }
}
