//! The text of nvsim's /proc/driver/nvidia files, which NVIDIA's userspace reads as it reads
//! the real driver's: `version`, `params` (NVML and libcuda honour `ModifyDeviceFiles`; the
//! fakegpu hook gives containers a copy with it set to 0) and `gpus/<bus id>/information`.
//! The formats follow the 535 driver's `nv-procfs.c`.

use super::frontend::SimGpu;
use core::fmt::{self, Write};

/// Which file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcFile {
    /// `version`.
    Version,
    /// `params`.
    Params,
    /// `gpus/<bus id>/information` of the GPU at this index.
    Information(usize),
}

impl ProcFile {
    /// The file a number from the C side names (0 version, 1 params, 2+N GPU N).
    pub fn from_number(n: u32) -> Option<Self> {
        match n {
            0 => Some(Self::Version),
            1 => Some(Self::Params),
            n => Some(Self::Information((n - 2) as usize)),
        }
    }
}

/// The driver's parameters as the real driver lists them, at its defaults (device files made
/// by the driver's userspace, root-owned, mode 0666).
const PARAMS: &str = "ResmanDebugLevel: 4294967295
RmLogonRC: 1
ModifyDeviceFiles: 1
DeviceFileUID: 0
DeviceFileGID: 0
DeviceFileMode: 438
InitializeSystemMemoryAllocations: 1
UsePageAttributeTable: 4294967295
EnableMSI: 1
EnablePCIeGen3: 0
MemoryPoolSize: 0
KMallocHeapMaxSize: 0
VMallocHeapMaxSize: 0
IgnoreMMIOCheck: 0
TCEBypassMode: 0
EnableStreamMemOPs: 0
EnableUserNUMAManagement: 1
NvLinkDisable: 0
RmProfilingAdminOnly: 1
PreserveVideoMemoryAllocations: 0
EnableS0ixPowerManagement: 0
S0ixPowerManagementVideoMemoryThreshold: 256
DynamicPowerManagement: 3
DynamicPowerManagementVideoMemoryThreshold: 200
RegisterPCIDriver: 1
EnablePCIERelaxedOrderingMode: 0
EnableResizableBar: 0
EnableGpuFirmware: 18
EnableGpuFirmwareLogs: 2
EnableDbgBreakpoint: 0
OpenRmEnableUnsupportedGpus: 0
DmaRemapPeerMmio: 1
RegistryDwords: \"\"
RegistryDwordsPerDevice: \"\"
RmMsg: \"\"
GpuBlacklist: \"\"
TemporaryFilePath: \"\"
ExcludedGpus: \"\"
";

/// The bus id NVIDIA's userspace names a GPU by, `0000:BB:00.0`.
pub fn bus_id(gpu: &SimGpu) -> BusId {
    BusId(gpu.bus)
}

/// A GPU's PCI bus id, formatted as the driver's /proc directory names it.
pub struct BusId(u8);

impl fmt::Display for BusId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0000:{:02x}:00.0", self.0)
    }
}

/// Writes `file`'s text; `Err` if the GPU does not exist or `out` is full.
pub fn format(file: ProcFile, gpus: &[SimGpu], version: &str, out: &mut impl Write) -> fmt::Result {
    match file {
        ProcFile::Version => write!(
            out,
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  {version}  (nvsim)\nGCC version:  nvsim\n"
        ),
        ProcFile::Params => out.write_str(PARAMS),
        ProcFile::Information(i) => {
            let gpu = gpus.get(i).ok_or(fmt::Error)?;
            write!(
                out,
                "Model: \t\t {}\nIRQ:   \t\t 0\nGPU UUID: \t {}\nVideo BIOS: \t ??.??.??.??.??\n\
                 Bus Type: \t PCIe\nDMA Size: \t 47 bits\nDMA Mask: \t 0x7fffffffffff\n\
                 Bus Location: \t {}\nDevice Minor: \t {}\nGPU Excluded:\t No\n",
                SimGpu::NAME,
                gpu.uuid_text().as_str(),
                bus_id(gpu),
                gpu.minor
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpus() -> [SimGpu; 2] {
        SimGpu::test_pair()
    }

    fn text(file: ProcFile) -> Result<String, fmt::Error> {
        let mut s = String::new();
        format(file, &gpus(), "535.309.01", &mut s).map(|()| s)
    }

    #[test]
    fn params_let_the_driver_modify_device_files_by_default() {
        let p = text(ProcFile::Params).unwrap();
        assert!(p.lines().any(|l| l == "ModifyDeviceFiles: 1"));
        assert!(
            p.lines().all(|l| l.contains(": ")),
            "every line is Name: value"
        );
    }

    #[test]
    fn version_and_information_name_the_simulated_gpus() {
        assert!(text(ProcFile::Version)
            .unwrap()
            .contains("Kernel Module  535.309.01 "));
        let info = text(ProcFile::Information(1)).unwrap();
        assert!(info.contains("Bus Location: \t 0000:02:00.0\n"), "{info}");
        assert!(info.contains("Device Minor: \t 1\n"));
        assert!(info.contains("GPU UUID: \t GPU-6e767369-6d67-7075-0000-000000000001\n"));
        assert!(text(ProcFile::Information(2)).is_err());
        assert_eq!(ProcFile::from_number(3), Some(ProcFile::Information(1)));
    }
}
