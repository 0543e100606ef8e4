//! A process's GPU workspace on nvsim (or fakegpu's nodes in front of it), for the cases that
//! run work on the engine: a UVM VA space that translates `base..base + size` to one video
//! memory allocation (handle 0x400 under device 0xd0), the same memory mapped into the
//! process, and a channel group (0x10) for channels.

use crate::ensure;
use crate::nv_cases::{client_with_device, open, sim_uuid};
use crate::sys::Mapping;
use abi::nv_status::NV_OK;
use abi::nv_uvm::*;
use abi::pod::Pod;
use nv_client::rm as nv_rm;
use std::os::fd::{AsRawFd, OwnedFd};

/// UVM command `cmd` with `params`, which must succeed (ioctl and RM status).
fn uvm<T: Pod + HasStatus>(
    fd: &OwnedFd,
    cmd: u32,
    params: &mut T,
    what: &str,
) -> Result<(), String> {
    // SAFETY: `params` is a live, writable `T` of the size the command expects.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as libc::c_ulong, params as *mut T) };
    ensure(r == 0 && params.status() == NV_OK, || {
        format!("{what}: ioctl {r}, status {:#x}", params.status())
    })
}

/// The RM status of a UVM command's parameters.
trait HasStatus {
    fn status(&self) -> u32;
}
macro_rules! has_status {
    ($($t:ty),*) => { $(impl HasStatus for $t { fn status(&self) -> u32 { self.rm_status } })* };
}
has_status!(
    UvmInitializeParams,
    UvmRegisterGpuParams,
    UvmRegisterGpuVaspaceParams,
    UvmVaRangeParams,
    UvmMapExternalAllocationParams
);

/// See the module documentation.
/// `size` bytes of video memory `handle` (under device 0xd0) mapped into the process through
/// the GPU file `gpu` (the mapping outlives the file).
fn map_for_cpu(
    ctl: &OwnedFd,
    client: u32,
    handle: u32,
    size: u64,
    gpu: &OwnedFd,
) -> Result<Mapping, String> {
    nv_rm::map_memory(ctl, client, 0xd0, handle, 0, size, gpu.as_raw_fd())
        .ok()
        .map_err(|e| format!("RM_MAP_MEMORY of {handle:#x}: {e}"))?;
    Mapping::shared(gpu.as_raw_fd(), size as usize, 0).map_err(|e| format!("mmap: {e}"))
}

pub struct Workspace {
    _uvm: OwnedFd,
    pub ctl: OwnedFd,
    _gpu: OwnedFd,
    pub client: u32,
    cpu: Mapping,
    size: u64,
}

impl Workspace {
    /// A page of video memory `handle` of this client (for an error notifier), mapped into
    /// the process.
    pub fn cpu_page(&self, handle: u32) -> Result<Mapping, String> {
        nv_rm::alloc_memory(&self.ctl, self.client, 0xd0, handle, 0x40, 4096)
            .ok()
            .map_err(|e| format!("memory {handle:#x}: {e}"))?;
        map_for_cpu(&self.ctl, self.client, handle, 4096, &open("NV_GPU0")?)
    }

    /// `size` bytes of video memory at GPU VA `base`.
    pub fn new(base: u64, size: u64) -> Result<Self, String> {
        Self::on("", base, size)
    }

    /// The same on the nodes named by the environment variables `{prefix}NV_UVM`,
    /// `{prefix}NV_CTL` and `{prefix}NV_GPU0` (`FAKE_`: fakegpu's).
    pub fn on(prefix: &str, base: u64, size: u64) -> Result<Self, String> {
        let node = |name: &str| open(&format!("{prefix}{name}"));
        let va = node("NV_UVM")?;
        let mut init = UvmInitializeParams::default();
        uvm(&va, 0x3000_0001, &mut init, "INITIALIZE")?;
        let ctl = node("NV_CTL")?;
        let gpu = node("NV_GPU0")?;
        let client = client_with_device(&ctl)?;
        nv_rm::alloc_memory(&ctl, client, 0xd0, 0x400, 0x40, size)
            .ok()
            .map_err(|e| format!("video memory: {e}"))?;
        let fd = ctl.as_raw_fd();
        let mut reg = UvmRegisterGpuParams {
            gpu_uuid: sim_uuid(0),
            rm_ctrl_fd: fd,
            h_client: client,
            ..Default::default()
        };
        uvm(&va, 37, &mut reg, "REGISTER_GPU")?;
        let mut gva = UvmRegisterGpuVaspaceParams {
            gpu_uuid: sim_uuid(0),
            rm_ctrl_fd: fd,
            h_client: client,
            ..Default::default()
        };
        uvm(&va, 25, &mut gva, "REGISTER_GPU_VASPACE")?;
        let mut range = UvmVaRangeParams {
            base,
            length: size,
            ..Default::default()
        };
        uvm(&va, 73, &mut range, "CREATE_EXTERNAL_RANGE")?;
        let mut map = UvmMapExternalAllocationParams {
            base,
            length: size,
            gpu_attributes_count: 1,
            rm_ctrl_fd: fd,
            h_client: client,
            h_memory: 0x400,
            ..Default::default()
        };
        map.per_gpu_attributes[0].gpu_uuid = sim_uuid(0);
        uvm(&va, 33, &mut map, "MAP_EXTERNAL_ALLOCATION")?;
        // The CPU's view of the same memory.
        let cpu = map_for_cpu(&ctl, client, 0x400, size, &node("NV_GPU0")?)?;
        nv_rm::alloc(&ctl, client, 0xd0, 0x10, 0xa06c, None)
            .ok()
            .map_err(|e| format!("channel group: {e}"))?;
        Ok(Workspace {
            _uvm: va,
            ctl,
            _gpu: gpu,
            client,
            cpu,
            size,
        })
    }

    /// The fds it holds (a test that closes stray fds keeps these).
    pub fn fds(&self) -> [i32; 3] {
        [
            self._uvm.as_raw_fd(),
            self.ctl.as_raw_fd(),
            self._gpu.as_raw_fd(),
        ]
    }

    /// The CPU address of the memory's first byte.
    pub fn addr(&self) -> usize {
        self.cpu.addr()
    }

    /// Stores `v` at offset `off` of the memory (past its end: nothing).
    pub fn put32(&self, off: u64, v: u32) {
        if off.saturating_add(4) <= self.size {
            // SAFETY: `off..off + 4` is inside the mapping; the engine may read it
            // concurrently, as a GPU would, so the store is volatile.
            unsafe {
                std::ptr::write_volatile(self.cpu.addr().wrapping_add(off as usize) as *mut u32, v)
            }
        }
    }

    /// The word at offset `off` of the memory (past its end: 0).
    pub fn get32(&self, off: u64) -> u32 {
        if off.saturating_add(4) > self.size {
            return 0;
        }
        // SAFETY: as in `put32`; the engine writes these words, so the load is volatile.
        unsafe { std::ptr::read_volatile(self.cpu.addr().wrapping_add(off as usize) as *const u32) }
    }
}
