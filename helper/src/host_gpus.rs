//! The host's NVIDIA GPUs as the driver lists them under `/proc/driver/nvidia/gpus`: bus id,
//! UUID and minor of each. The hook resolves NVIDIA_VISIBLE_DEVICES' indices and UUIDs from
//! this, read in the host's mount namespace, never from anything in the container.

use std::path::Path;

/// The NVIDIA driver's procfs directory on the host.
pub const DRIVER_PROCFS: &str = "/proc/driver/nvidia";

/// One GPU the driver lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostGpu {
    /// Its directory under `gpus/`: the PCI address, e.g. `0000:01:00.0`.
    pub bus: String,
    /// `GPU UUID`, e.g. `GPU-6e767369-6d67-7075-0000-000000000000`.
    pub uuid: String,
    /// `Device Minor`: the N of `/dev/nvidiaN`.
    pub minor: u32,
}

/// The GPUs under `driver_procfs/gpus`, in PCI order, which is NVML's (and so
/// nvidia-smi's and NVIDIA_VISIBLE_DEVICES') index order; none if the directory is absent.
/// A GPU whose `information` cannot be read or parsed is left out.
pub fn read(driver_procfs: &Path) -> Vec<HostGpu> {
    let Ok(dir) = std::fs::read_dir(driver_procfs.join("gpus")) else {
        return Vec::new();
    };
    let mut gpus: Vec<HostGpu> = dir
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let bus = entry.file_name().into_string().ok()?;
            let text = std::fs::read_to_string(entry.path().join("information")).ok()?;
            let (uuid, minor) = parse_information(&text)?;
            Some(HostGpu { bus, uuid, minor })
        })
        .collect();
    // PCI addresses are fixed-width lowercase hex: text order is bus order.
    gpus.sort_by(|a, b| a.bus.cmp(&b.bus));
    gpus
}

/// The UUID and minor in the text of a GPU's `information` file (`GPU UUID: \t GPU-...`,
/// `Device Minor: \t N`).
pub fn parse_information(text: &str) -> Option<(String, u32)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    let uuid = field("GPU UUID").filter(|u| u.starts_with("GPU-"))?;
    let minor = field("Device Minor")?.parse().ok()?;
    Some((uuid.to_string(), minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "Model: \t\t NVIDIA nvsim GPU\nIRQ:   \t\t 0\n\
        GPU UUID: \t GPU-6e767369-6d67-7075-0000-000000000001\nVideo BIOS: \t ??\n\
        Bus Type: \t PCIe\nBus Location: \t 0000:02:00.0\nDevice Minor: \t 1\nGPU Excluded:\t No\n";

    #[test]
    fn information_gives_uuid_and_minor() {
        assert_eq!(
            parse_information(INFO),
            Some(("GPU-6e767369-6d67-7075-0000-000000000001".into(), 1))
        );
        assert_eq!(parse_information("GPU UUID: \t GPU-x\n"), None, "no minor");
        assert_eq!(parse_information("Device Minor: 3\nGPU UUID: x\n"), None);
    }

    #[test]
    fn gpus_are_read_in_bus_order() {
        let dir = std::env::temp_dir().join(format!("fakegpu-host-gpus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (bus, minor) in [
            ("0000:81:00.0", 0),
            ("0000:02:00.0", 3),
            ("0000:03:00.0", 9),
        ] {
            let d = dir.join("gpus").join(bus);
            std::fs::create_dir_all(&d).unwrap();
            let text = INFO
                .replace("0000-000000000001", &format!("0000-00000000000{minor}"))
                .replace("Device Minor: \t 1", &format!("Device Minor: \t {minor}"));
            if minor != 9 {
                std::fs::write(d.join("information"), text).unwrap();
            }
        }
        let gpus = read(&dir);
        let got: Vec<(&str, u32)> = gpus.iter().map(|g| (g.bus.as_str(), g.minor)).collect();
        assert_eq!(
            got,
            [("0000:02:00.0", 3), ("0000:81:00.0", 0)],
            "unreadable one left out"
        );
        assert!(gpus[0].uuid.ends_with("0000-000000000003"));
        assert!(read(&dir.join("absent")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
