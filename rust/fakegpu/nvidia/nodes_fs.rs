// SPDX-License-Identifier: GPL-2.0

//! The "fakegpu-nodes" filesystem (`nodes_fs.c`): fakegpu's NVIDIA nodes with NVIDIA's own
//! device numbers shown to `stat`, which NVML and libcuda insist on, and fakegpu's numbers
//! kept for opens and the device cgroup. This side lists the nodes.

use crate::abi::devnum::DevNum;
use crate::policy::fronts::{Family, FrontTable};
use crate::proxy::nodes::Regions;
use kernel::prelude::*;

/// One node of the filesystem (the C side's `struct fakegpu_node_entry`).
#[repr(C)]
struct NodeEntry {
    /// NUL-terminated file name, the `/dev` node's (`fakegpuctl`, `fakegpu0`, ...).
    name: [u8; 32],
    /// fakegpu's device number (kernel `dev_t`).
    fake: u32,
    /// The real device's number, which `stat` reports.
    shown: u32,
}

extern "C" {
    fn fakegpu_nodes_fs_register(
        entries: *const NodeEntry,
        count: kernel::ffi::c_uint,
    ) -> kernel::ffi::c_int;
    fn fakegpu_nodes_fs_unregister();
}

/// The registered filesystem.
pub(crate) struct NodesFs;

impl NodesFs {
    /// Registers the filesystem with a node per NVIDIA front of `table`.
    pub(crate) fn register(table: &FrontTable, regions: &Regions) -> Result<Self> {
        let mut entries = KVec::new();
        for front in table.iter() {
            if !matches!(front.family, Family::Nvidia | Family::NvidiaUvm) {
                continue;
            }
            let fake = DevNum::new(regions.major(front.family), front.fake_minor).ok_or(EINVAL)?;
            let mut entry = NodeEntry {
                name: [0; 32],
                fake: fake.to_kernel_dev_t(),
                shown: front.real.to_kernel_dev_t(),
            };
            let name = front.node_name();
            let name = name.as_bytes();
            // NVIDIA node names are short ("fakegpu-uvm-tools" at most); keep the NUL.
            entry
                .name
                .get_mut(..name.len())
                .filter(|_| name.len() < 32)
                .ok_or(EINVAL)?
                .copy_from_slice(name);
            entries.push(entry, GFP_KERNEL)?;
        }
        let count = u32::try_from(entries.len()).map_err(|_| EINVAL)?;
        // SAFETY: `entries` holds `count` entries of the C layout; the C side copies them.
        kernel::error::to_result(unsafe { fakegpu_nodes_fs_register(entries.as_ptr(), count) })?;
        Ok(NodesFs)
    }
}

impl Drop for NodesFs {
    fn drop(&mut self) {
        // SAFETY: registered in `register`. No superblock is left: a mounted one holds a
        // reference on the module, so the module cannot be unloading.
        unsafe { fakegpu_nodes_fs_unregister() };
    }
}
