//! nvsim's frontend, as pure logic: which escapes the NVIDIA driver's frontend
//! (`nvidia_ioctl`) handles itself, on which node, with which size rules and errors, and the
//! answers of CARD_INFO and CHECK_VERSION_STR. The kernel module does the copying; this
//! decides. Behaviour follows the 535 driver's `kernel-open/nvidia/nv.c`.

use super::abi::nv_family::DriverFamily;
use super::abi::nv_frontend::*;
use super::abi::pod::write_pod;

/// `EINVAL`.
pub const EINVAL: i32 = 22;
/// `EBUSY`.
pub const EBUSY: i32 = 16;

/// Which node an ioctl arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// `/dev/nvidiactl`.
    Ctl,
    /// `/dev/nvidiaN`, by minor.
    Gpu(u32),
}

/// What to do with an escape whose parameters (`size` bytes) are copied in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontendCall {
    /// Fill `entries` card-info records.
    CardInfo {
        /// How many records fit in the parameters.
        entries: usize,
    },
    /// Attach `count` GPU ids to the file.
    AttachGpus {
        /// How many ids.
        count: usize,
    },
    /// The RM's version check.
    CheckVersion,
    /// Record the system's memory block size.
    SysParams,
    /// Read the GPU's interrupt status.
    QueryDeviceIntr,
    /// dma-buf export of RM memory.
    ExportToDmabuf,
    /// The GPU's NUMA memory (none: nvsim's GPUs are not coherent with the CPU).
    NumaInfo,
    /// The result of the file's open (550 on; nvsim finishes every open before it returns).
    WaitOpenComplete,
    /// Anything else goes to the RM (`rm_ioctl`): RM escapes, REGISTER_FD, OS events.
    Rm,
}

/// Decides how the frontend of a driver of `family` treats escape `nr` with `size` bytes of
/// parameters on `node`, or the errno it returns (the real driver answers EINVAL for a wrong
/// node or size).
pub fn classify(
    nr: u8,
    size: usize,
    node: Node,
    family: &DriverFamily,
) -> Result<FrontendCall, i32> {
    let is_ctl = node == Node::Ctl;
    let ctl_only = |call: FrontendCall| if is_ctl { Ok(call) } else { Err(EINVAL) };
    let device_only = |call: FrontendCall| if is_ctl { Err(EINVAL) } else { Ok(call) };
    match nr {
        esc::QUERY_DEVICE_INTR => {
            if size < core::mem::size_of::<NvIoctlQueryDeviceIntr>() {
                return Err(EINVAL);
            }
            device_only(FrontendCall::QueryDeviceIntr)
        }
        esc::CARD_INFO => ctl_only(FrontendCall::CardInfo {
            entries: size / core::mem::size_of::<NvIoctlCardInfo>(),
        }),
        esc::ATTACH_GPUS_TO_FD => {
            // A whole number of u32 GPU ids.
            if !is_ctl || size == 0 || size & 3 != 0 {
                return Err(EINVAL);
            }
            Ok(FrontendCall::AttachGpus { count: size / 4 })
        }
        esc::CHECK_VERSION_STR => ctl_only(FrontendCall::CheckVersion),
        esc::SYS_PARAMS => {
            if !is_ctl || size != core::mem::size_of::<NvIoctlSysParams>() {
                return Err(EINVAL);
            }
            Ok(FrontendCall::SysParams)
        }
        esc::NUMA_INFO => {
            if size != numa_info::SIZE {
                return Err(EINVAL);
            }
            device_only(FrontendCall::NumaInfo)
        }
        esc::EXPORT_TO_DMABUF_FD => {
            if size != core::mem::size_of::<NvIoctlExportToDmaBufFd>() {
                return Err(EINVAL);
            }
            device_only(FrontendCall::ExportToDmabuf)
        }
        // Answered on any node, before the driver looks at the GPU (`nvidia_ioctl`).
        esc::WAIT_OPEN_COMPLETE if family.wait_open_complete => {
            if size != core::mem::size_of::<NvIoctlWaitOpenComplete>() {
                return Err(EINVAL);
            }
            Ok(FrontendCall::WaitOpenComplete)
        }
        _ => Ok(FrontendCall::Rm),
    }
}

pub use super::abi::nv_frontend::unwrap_xfer;

/// A simulated GPU, as the frontend describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimGpu {
    /// Minor of `/dev/nvidiaN`.
    pub minor: u32,
    /// PCI bus (domain 0, slot 0, function 0).
    pub bus: u8,
    /// PCI device id.
    pub device_id: u16,
    /// Framebuffer size in bytes.
    pub fb_size: u64,
}

/// NVIDIA's PCI vendor id.
pub const NV_PCI_VENDOR_ID: u16 = 0x10de;

impl SimGpu {
    /// The RM's id of the GPU: PCI domain, bus and slot packed as the driver does
    /// (`(domain << 16) | (bus << 8) | slot`).
    pub const fn gpu_id(&self) -> u32 {
        (self.bus as u32) << 8
    }

    /// The GPU's UUID (`GPU-6e7673696d677075-0000-...-<minor>` in nvidia-smi's spelling):
    /// "nvsimgpu" followed by zeros and the minor, so tests can name GPUs without asking.
    pub fn uuid(&self) -> [u8; 16] {
        let mut uuid = *b"nvsimgpu\0\0\0\0\0\0\0\0";
        uuid[15] = self.minor as u8;
        uuid
    }

    /// Two GPUs as nvsim makes them with its defaults (minors 0 and 1 on buses 1 and 2, 4 GiB
    /// each), for tests.
    #[cfg(test)]
    pub fn test_pair() -> [SimGpu; 2] {
        core::array::from_fn(|i| SimGpu {
            minor: i as u32,
            bus: i as u8 + 1,
            device_id: 0x2331,
            fb_size: 4 << 30,
        })
    }

    /// The GPU's marketing name (GPU_GET_NAME_STRING).
    pub const NAME: &'static str = "NVIDIA nvsim GPU";

    /// The UUID as nvidia-smi prints it: `GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub fn uuid_text(&self) -> super::abi::namebuf::NameBuf {
        use core::fmt::Write;
        let mut out = super::abi::namebuf::NameBuf::new();
        let u = self.uuid();
        let _ = write!(out, "GPU-");
        for (i, b) in u.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                let _ = write!(out, "-");
            }
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    /// The GPU's CARD_INFO record.
    pub fn card_info(&self) -> NvIoctlCardInfo {
        NvIoctlCardInfo {
            valid: 1,
            pci_info: NvPciInfo {
                domain: 0,
                bus: self.bus,
                slot: 0,
                function: 0,
                pad: 0,
                vendor_id: NV_PCI_VENDOR_ID,
                device_id: self.device_id,
            },
            gpu_id: self.gpu_id(),
            interrupt_line: 0,
            reg_address: 0xf000_0000 + u64::from(self.bus) * 0x0100_0000,
            reg_size: 0x0100_0000,
            fb_address: 0x0000_0040_0000_0000 + u64::from(self.bus) * 0x0010_0000_0000,
            fb_size: self.fb_size,
            minor_number: self.minor,
            ..Default::default()
        }
    }
}

/// CARD_INFO on the copied-in parameters `buf`: zeroes it, then writes one record per GPU;
/// EINVAL (with `buf` zeroed, as the driver copies it back) if it holds fewer records than
/// there are GPUs.
pub fn fill_card_info(buf: &mut [u8], gpus: &[SimGpu]) -> Result<(), i32> {
    buf.fill(0);
    let record = core::mem::size_of::<NvIoctlCardInfo>();
    if buf.len() / record < gpus.len() {
        return Err(EINVAL);
    }
    for (chunk, gpu) in buf.chunks_mut(record).zip(gpus) {
        write_pod(chunk, &gpu.card_info());
    }
    Ok(())
}

/// The NUL-terminated prefix of a fixed C string buffer.
fn c_str(buf: &[u8]) -> &[u8] {
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf.get(..end).unwrap_or(buf)
}

/// Whether `client` and `driver` agree up to the first '.' both have (the major version).
fn same_major(client: &[u8], driver: &[u8]) -> bool {
    for (c, d) in client.iter().zip(driver) {
        if c != d {
            return false;
        }
        if *c == b'.' {
            return true;
        }
    }
    client.len() == driver.len()
}

/// CHECK_VERSION_STR against the driver's `version` (535 `RmPerformVersionCheck`). Returns
/// whether the call succeeds (ioctl 0; otherwise EINVAL). The reply is always RECOGNIZED; a
/// query, and any mismatch, write the driver's version back into `version_string`.
/// RELAXED accepts the same major version; STRICT, and any other command, an exact match.
pub fn check_version(params: &mut NvIoctlRmApiVersion, version: &str) -> bool {
    // The driver NUL-terminates the client's copy at its last byte first.
    if let Some(last) = params.version_string.last_mut() {
        *last = 0;
    }
    let client = c_str(&params.version_string);
    let ok = match params.cmd {
        NV_RM_API_VERSION_CMD_QUERY => false,
        NV_RM_API_VERSION_CMD_RELAXED => same_major(client, version.as_bytes()),
        _ => client == version.as_bytes(),
    };
    if !ok {
        params.version_string = [0; NV_RM_API_VERSION_STRING_LENGTH];
        let n = version.len().min(NV_RM_API_VERSION_STRING_LENGTH - 1);
        if let (Some(dst), Some(src)) = (
            params.version_string.get_mut(..n),
            version.as_bytes().get(..n),
        ) {
            dst.copy_from_slice(src);
        }
    }
    params.reply = NV_RM_API_VERSION_REPLY_RECOGNIZED;
    ok || params.cmd == NV_RM_API_VERSION_CMD_QUERY
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::nv_family::{R535, R550};
    use crate::abi::pod::read_pod;
    use proptest::prelude::*;

    #[test]
    fn wait_open_complete_is_550s() {
        let call = |family| classify(esc::WAIT_OPEN_COMPLETE, 8, Node::Gpu(0), family);
        assert_eq!(call(&R550), Ok(FrontendCall::WaitOpenComplete));
        assert_eq!(
            classify(esc::WAIT_OPEN_COMPLETE, 8, Node::Ctl, &R550),
            Ok(FrontendCall::WaitOpenComplete)
        );
        assert_eq!(
            classify(esc::WAIT_OPEN_COMPLETE, 4, Node::Gpu(0), &R550),
            Err(EINVAL)
        );
        // 535 has no such escape: the RM's dispatch refuses it.
        assert_eq!(call(&R535), Ok(FrontendCall::Rm));
    }

    #[test]
    fn ctl_only_escapes_refuse_gpu_nodes() {
        for nr in [
            esc::CARD_INFO,
            esc::CHECK_VERSION_STR,
            esc::ATTACH_GPUS_TO_FD,
        ] {
            assert_eq!(
                classify(nr, 72, Node::Gpu(0), &R535),
                Err(EINVAL),
                "nr {nr}"
            );
            assert!(classify(nr, 72, Node::Ctl, &R535).is_ok(), "nr {nr}");
        }
        assert_eq!(
            classify(esc::SYS_PARAMS, 8, Node::Gpu(1), &R535),
            Err(EINVAL)
        );
        assert_eq!(
            classify(esc::QUERY_DEVICE_INTR, 8, Node::Ctl, &R535),
            Err(EINVAL)
        );
        assert_eq!(
            classify(esc::QUERY_DEVICE_INTR, 8, Node::Gpu(0), &R535),
            Ok(FrontendCall::QueryDeviceIntr)
        );
    }

    #[test]
    fn size_rules() {
        assert_eq!(classify(esc::SYS_PARAMS, 16, Node::Ctl, &R535), Err(EINVAL));
        assert_eq!(
            classify(esc::ATTACH_GPUS_TO_FD, 0, Node::Ctl, &R535),
            Err(EINVAL)
        );
        assert_eq!(
            classify(esc::ATTACH_GPUS_TO_FD, 6, Node::Ctl, &R535),
            Err(EINVAL)
        );
        assert_eq!(
            classify(esc::ATTACH_GPUS_TO_FD, 8, Node::Ctl, &R535),
            Ok(FrontendCall::AttachGpus { count: 2 })
        );
        assert_eq!(
            classify(esc::CARD_INFO, 72 * 3 + 5, Node::Ctl, &R535),
            Ok(FrontendCall::CardInfo { entries: 3 })
        );
        assert_eq!(
            classify(esc::EXPORT_TO_DMABUF_FD, 2608, Node::Gpu(0), &R535),
            Err(EINVAL)
        );
        assert_eq!(classify(0x2b, 32, Node::Ctl, &R535), Ok(FrontendCall::Rm));
    }

    #[test]
    fn xfer_limits() {
        let x = |cmd, size| NvIoctlXfer {
            cmd,
            size,
            ptr: 0x1000,
        };
        assert_eq!(unwrap_xfer(16, &x(0x2a, 32)), Ok((0x2a, 32, 0x1000)));
        assert_eq!(unwrap_xfer(8, &x(0x2a, 32)), Err(EINVAL));
        assert_eq!(unwrap_xfer(16, &x(0x2a, NV_XFER_MAX_SIZE + 1)), Err(EINVAL));
        assert_eq!(unwrap_xfer(16, &x(0x12a, 32)), Err(EINVAL));
    }

    #[test]
    fn card_info_needs_room_for_every_gpu() {
        let gpus = [
            SimGpu {
                minor: 0,
                bus: 1,
                device_id: 0x2330,
                fb_size: 1 << 32,
            },
            SimGpu {
                minor: 1,
                bus: 2,
                device_id: 0x2330,
                fb_size: 1 << 32,
            },
        ];
        let mut one = [0xffu8; 72 + 10];
        assert_eq!(fill_card_info(&mut one, &gpus), Err(EINVAL));
        assert!(one.iter().all(|&b| b == 0));
        let mut three = [0xffu8; 72 * 3];
        fill_card_info(&mut three, &gpus).unwrap();
        let second: NvIoctlCardInfo = read_pod(&three[72..]).unwrap();
        assert_eq!(second.minor_number, 1);
        assert_eq!(second.gpu_id, 0x200);
        assert_eq!(second.pci_info.vendor_id, 0x10de);
        let third: NvIoctlCardInfo = read_pod(&three[144..]).unwrap();
        assert_eq!(third.valid, 0);
    }

    fn version_params(cmd: u32, v: &str) -> NvIoctlRmApiVersion {
        let mut p = NvIoctlRmApiVersion {
            cmd,
            ..Default::default()
        };
        p.version_string[..v.len()].copy_from_slice(v.as_bytes());
        p
    }

    #[test]
    fn uuid_text_is_nvidia_smi_shaped() {
        let g = SimGpu {
            minor: 1,
            bus: 2,
            device_id: 0x2331,
            fb_size: 1,
        };
        assert_eq!(
            g.uuid_text().as_str(),
            "GPU-6e767369-6d67-7075-0000-000000000001"
        );
    }

    #[test]
    fn version_check() {
        let mut p = version_params(NV_RM_API_VERSION_CMD_STRICT, "535.309.01");
        assert!(check_version(&mut p, "535.309.01"));
        assert_eq!(p.reply, NV_RM_API_VERSION_REPLY_RECOGNIZED);
        let mut p = version_params(NV_RM_API_VERSION_CMD_STRICT, "550.1");
        assert!(!check_version(&mut p, "535.309.01"));
        assert_eq!(p.reply, NV_RM_API_VERSION_REPLY_RECOGNIZED);
        assert_eq!(c_str(&p.version_string), b"535.309.01");
        let mut p = version_params(NV_RM_API_VERSION_CMD_QUERY, "");
        assert!(check_version(&mut p, "535.309.01"));
        assert_eq!(c_str(&p.version_string), b"535.309.01");
        let mut p = version_params(NV_RM_API_VERSION_CMD_RELAXED, "535.54.03");
        assert!(check_version(&mut p, "535.309.01"));
        let mut p = version_params(NV_RM_API_VERSION_CMD_RELAXED, "550.54.03");
        assert!(!check_version(&mut p, "535.309.01"));
        let mut p = version_params(7, "535.309.01");
        assert!(
            check_version(&mut p, "535.309.01"),
            "unknown commands are strict"
        );
    }

    proptest! {
        #[test]
        fn classify_never_panics(nr: u8, size in 0usize..20000, ctl: bool, minor in 0u32..8) {
            let node = if ctl { Node::Ctl } else { Node::Gpu(minor) };
            let _ = classify(nr, size, node, &R535);
        }

        #[test]
        fn version_check_never_overflows(cmd in 0u32..100, bytes in proptest::collection::vec(any::<u8>(), 64)) {
            let mut p = NvIoctlRmApiVersion { cmd, ..Default::default() };
            p.version_string.copy_from_slice(&bytes);
            let _ = check_version(&mut p, "535.309.01");
            prop_assert!(p.reply <= 1);
        }
    }
}
