// SPDX-License-Identifier: GPL-2.0

//! Finding NVIDIA's devices at load, without any node in `/dev` (the driver makes none):
//! the frontend and UVM majors from the driver's char registrations (`/proc/devices`), and
//! the GPU minors from the `nvidia_gpus=` parameter or, by default, from one CARD_INFO on
//! nvidiactl. That CARD_INFO is made in any case: its records are what cgroups limited to
//! some GPUs are shown. The driver's version comes from CHECK_VERSION_STR's query on
//! nvidiactl, and a driver of a family fakegpu has no tables for is not fronted. That
//! nvidiactl stays open while the driver is fronted, which pins the driver's module. No GPU
//! is opened: opening a GPU can power it up.

use crate::abi::devnum::DevNum;
use crate::abi::ioc::{ioc, IOC_READ, IOC_WRITE};
use crate::abi::nv_family::R535;
use crate::abi::nv_frontend::{
    esc as fe, NvIoctlCardInfo, NvIoctlRmApiVersion, NV_CTL_MINOR, NV_IOCTL_MAGIC, NV_MAJOR,
    NV_RM_API_VERSION_CMD_QUERY,
};
use crate::abi::nv_uvm::UVM_DEVICE_NAME;
use crate::abi::pod::{read_pod, write_pod};
use crate::abi::proc_devices::char_major;
use crate::policy::fronts::FrontTable;
use crate::policy::nv_discovery::{
    card_info_minors, fronting, known_versions, queried_version, Fronting, GpuSpec, CARD_INFO_SIZE,
    MAX_GPUS,
};
use crate::policy::nv_proxy::FilterMode;
use crate::proxy::real_devices::{RealDevices, RealFile};
use core::mem::size_of;
use kernel::bindings;
use kernel::prelude::*;

extern "C" {
    /// Reads `/proc/devices` into `buf`; returns the length or a negative errno (`shim.c`).
    fn fakegpu_read_proc_devices(buf: *mut u8, len: usize) -> isize;
    /// The `nvidia_gpus=` parameter (`shim.c`).
    fn fakegpu_nvidia_gpus_param() -> *const kernel::ffi::c_char;
    /// Maps `len` bytes of anonymous read-write memory in the calling process (`vm_mmap`);
    /// the address, or a negative errno.
    fn fakegpu_map_scratch(len: usize) -> usize;
}

/// The driver's name for its frontend major in `/proc/devices`.
const FRONTEND_NAME: &str = "nvidia-frontend";

/// The NVIDIA driver fakegpu fronts: its version as it reports it, how fakegpu fronts it,
/// and a file that pins it.
pub(crate) struct Driver {
    /// `versionString` of CHECK_VERSION_STR's query (NUL-padded).
    version: [u8; 64],
    /// Its family's tables, or the nearest family's as guesses (`filter=permissive`).
    pub(crate) fronting: Fronting,
    /// nvidiactl, open for as long as fakegpu fronts the driver: the file holds a reference
    /// on the driver's module, so `rmmod nvidia` fails with EBUSY and the driver fakegpu
    /// checked at load is the one it forwards to until it unloads.
    ctl: RealFile,
    /// The minors of the GPUs fakegpu fronts (`nvidia_gpus=`, or all the driver's).
    fronted: KVec<u32>,
}

impl Driver {
    /// Whether fakegpu fronts the GPU of minor `minor`: a GPU it leaves out is reached past
    /// fakegpu, so nothing of it is metered.
    pub(crate) fn fronts(&self, minor: u32) -> bool {
        self.fronted.contains(&minor)
    }

    /// nvidiactl, as fakegpu holds it open.
    pub(crate) fn ctl(&self) -> &RealFile {
        &self.ctl
    }

    /// The version, e.g. "535.309.01".
    pub(crate) fn version(&self) -> &str {
        queried_version(&self.version).unwrap_or("?")
    }
}

/// What discovery found of NVIDIA: the CARD_INFO records of the driver's GPUs, and the
/// driver (none and `None` when nothing of NVIDIA's is fronted).
pub(crate) type Found = (KVec<NvIoctlCardInfo>, Option<Driver>);

/// Adds NVIDIA's fronts to `table` if the driver is loaded, of a family fakegpu knows (or
/// any, with `filter=permissive`), and `nvidia_gpus=` is not `off`; returns the driver's
/// CARD_INFO records of all its GPUs (what cgroups limited to some GPUs are shown of them,
/// see `nv_visibility`, and the meter's GPU slots) and the driver, or no records and `None`
/// if nothing of NVIDIA's is fronted.
pub(crate) fn add_nvidia(table: &mut FrontTable, filter: FilterMode) -> Result<Found> {
    // SAFETY: the shim returns its NUL-terminated parameter buffer, written only at load.
    let param = unsafe { CStr::from_char_ptr(fakegpu_nvidia_gpus_param()) };
    let param = param.to_str().map_err(|_| EINVAL)?;
    let spec = GpuSpec::parse(param).map_err(|e| {
        pr_err!("nvidia_gpus=\"{}\": {}\n", param, e);
        EINVAL
    })?;
    if spec == GpuSpec::Off {
        return Ok((KVec::new(), None));
    }
    let mut text = KVec::from_elem(0u8, 8192, GFP_KERNEL)?;
    // SAFETY: `text` is writable for its length.
    let len = unsafe { fakegpu_read_proc_devices(text.as_mut_ptr(), text.len()) };
    let len = usize::try_from(len).map_err(|_| Error::from_errno(len as i32))?;
    let text = core::str::from_utf8(text.get(..len).unwrap_or(&[])).map_err(|_| EINVAL)?;
    match char_major(text, FRONTEND_NAME) {
        Some(NV_MAJOR) => {}
        Some(other) => {
            pr_err!("{} has major {}, not {}\n", FRONTEND_NAME, other, NV_MAJOR);
            return Err(ENODEV);
        }
        None if matches!(spec, GpuSpec::List(..)) => {
            pr_err!("nvidia_gpus= is set but no NVIDIA driver is loaded\n");
            return Err(ENODEV);
        }
        None => return Ok((KVec::new(), None)),
    }
    let mut driver = driver(open_ctl()?)?;
    let Some(version) = queried_version(&driver.version) else {
        pr_err!("the NVIDIA driver did not say its version: its devices are not fronted\n");
        return Ok((KVec::new(), None));
    };
    driver.fronting = match fronting(version, filter) {
        Some(f) => f,
        None => {
            let mut known = KVec::new();
            for v in known_versions() {
                known.extend_from_slice(v.as_bytes(), GFP_KERNEL)?;
                known.push(b' ', GFP_KERNEL)?;
            }
            pr_warn!(
                "NVIDIA driver {}: not a version fakegpu has checked ({}), so it does not front NVIDIA's devices (filter=permissive would, with limits refused)\n",
                version,
                core::str::from_utf8(&known).unwrap_or("?").trim_end()
            );
            return Ok((KVec::new(), None));
        }
    };
    if let Fronting::Guessed(family) = driver.fronting {
        pr_warn!(
            "NVIDIA driver {}: not a version fakegpu has checked; filter=permissive fronts it with the {} family's layouts as guesses, and refuses memory and channel limits\n",
            version,
            family.branch
        );
    }
    let uvm = char_major(text, UVM_DEVICE_NAME).and_then(|major| DevNum::new(major, 0));
    let records = card_info(&driver.ctl)?;
    let mut found = [0u32; MAX_GPUS];
    let minors = match spec {
        GpuSpec::List(..) => spec.minors(),
        _ => {
            let n = card_info_minors(&records, &mut found);
            found.get(..n).unwrap_or(&[])
        }
    };
    table.add_nvidia(minors, uvm).map_err(|e| {
        pr_err!(
            "cannot front NVIDIA's devices: {}\n",
            crate::compat::shown(&e)
        );
        EINVAL
    })?;
    driver.fronted.extend_from_slice(minors, GFP_KERNEL)?;
    // Every GPU the driver reports, fronted or not, in its order: the RM's device instance
    // N is the Nth of them (the meter's GPU slots).
    let mut cards = KVec::new();
    for record in records.chunks_exact(size_of::<NvIoctlCardInfo>()) {
        if let Some(card) = read_pod::<NvIoctlCardInfo>(record) {
            if card.valid != 0 {
                cards.push(card, GFP_KERNEL)?;
            }
        }
    }
    Ok((cards, Some(driver)))
}

/// Opens the driver's nvidiactl, as root (the loading process's credentials).
fn open_ctl() -> Result<RealFile> {
    let mut ctl_only = FrontTable::empty();
    ctl_only.add_nvidia(&[], None).map_err(|_| EINVAL)?;
    debug_assert_eq!(ctl_only.get(0).map(|f| f.real.minor), Some(NV_CTL_MINOR));
    // The file keeps its own reference on the private mount, which may go now.
    RealDevices::new(&ctl_only)?.open(0, bindings::O_RDWR)
}

/// Opens the driver's `/dev/nvidia<minor>`, as root (the loading process's credentials).
pub(crate) fn nv_gpu_file(minor: u32) -> Result<RealFile> {
    let mut gpu_only = FrontTable::empty();
    gpu_only.add_nvidia(&[minor], None).map_err(|_| EINVAL)?;
    // Entry 0 is nvidiactl, which every NVIDIA table has; the GPU follows.
    RealDevices::new(&gpu_only)?.open(1, bindings::O_RDWR)
}

/// Asks the driver on `ctl` its version: CHECK_VERSION_STR with
/// `NV_RM_API_VERSION_CMD_QUERY`; the driver keeps `ctl`.
fn driver(ctl: RealFile) -> Result<Driver> {
    let query = NvIoctlRmApiVersion {
        cmd: NV_RM_API_VERSION_CMD_QUERY,
        ..Default::default()
    };
    let mut params = [0u8; size_of::<NvIoctlRmApiVersion>()];
    write_pod(&mut params, &query);
    let answer = ctl_call(&ctl, fe::CHECK_VERSION_STR, &params)?;
    let answer = read_pod::<NvIoctlRmApiVersion>(&answer).ok_or(EINVAL)?;
    Ok(Driver {
        version: answer.version_string,
        // Until `add_nvidia` has read the version: nothing is known.
        fronting: Fronting::Guessed(&R535),
        ctl,
        fronted: KVec::new(),
    })
}

/// Asks the driver which GPUs it has: its answer to CARD_INFO on nvidiactl `ctl`.
fn card_info(ctl: &RealFile) -> Result<KVec<u8>> {
    ctl_call(ctl, fe::CARD_INFO, &[0u8; CARD_INFO_SIZE])
}

/// Makes frontend escape `nr` on nvidiactl `file` with the parameters `params` at load;
/// returns the parameters as the driver left them.
fn ctl_call(file: &RealFile, nr: u8, params: &[u8]) -> Result<KVec<u8>> {
    let size = params.len();
    // SAFETY: the file is open.
    let Some(ioctl) = (unsafe { crate::proxy::forward::real_fops(file) }).unlocked_ioctl else {
        return Err(ENODEV);
    };
    // The driver copies its parameters from user memory: borrow a page of the loading
    // process (insmod's), as any client would pass.
    // SAFETY: maps anonymous memory in the calling process, which has an mm (insmod).
    let addr = unsafe { fakegpu_map_scratch(size) };
    let signed = addr as isize;
    if (-(bindings::MAX_ERRNO as isize)..0).contains(&signed) {
        return Err(Error::from_errno(signed as i32));
    }
    let cmd = ioc(IOC_READ | IOC_WRITE, NV_IOCTL_MAGIC, nr, size);
    let mut buf = KVec::from_elem(0u8, size, GFP_KERNEL);
    let done = crate::compat::user_slice(addr, size)
        .writer()
        .write_slice(params)
        .and_then(|()| {
            // SAFETY: as the VFS would call it on the real file; `addr` is the caller's
            // memory.
            let ret = unsafe { ioctl(file.as_ptr(), cmd, addr as kernel::ffi::c_ulong) };
            match (&mut buf, ret) {
                (Ok(buf), 0) => crate::compat::user_slice(addr, size)
                    .reader()
                    .read_slice(buf),
                (Ok(_), ret) => Err(Error::from_errno(ret as i32)),
                (Err(_), _) => Err(ENOMEM),
            }
        });
    // SAFETY: unmaps what was mapped above.
    unsafe { bindings::vm_munmap(addr as kernel::ffi::c_ulong, size) };
    done.inspect_err(|e| pr_err!("escape {:#x} on nvidiactl failed: {:?}\n", nr, e))?;
    Ok(buf?)
}
