//! fakegpu's decisions that need no kernel: the front table, the NVIDIA call filter, what an
//! NVIDIA call charges, GPU sets and what a limited cgroup is shown, the ledger and limit
//! formats, submission rates, and the commands of the cgroup control file.
//!
//! Used by fakegpu.ko (which includes these files with `#[path]` as a module named `policy`,
//! beside `abi`) and by the helper, which parses and writes the same formats. It depends on
//! the ABI crate only, which every file names as `super::abi`: the crate root imports it
//! under that name here, and the kernel module's `policy` module does the same, so one
//! spelling builds in both and cargo refuses a path that points the other way.
#![cfg_attr(not(test), no_std)]

#[allow(clippy::single_component_path_imports)]
// it makes `super::abi` resolve as in the kernel build
use abi;

pub mod cgroup_control;
pub mod cgroup_entry;
pub mod compute_share;
pub mod drm_filter;
pub mod fronts;
pub mod gpu_set;
pub mod gpu_time;
pub mod ledger;
pub mod nv_caps;
pub mod nv_controls;
pub mod nv_discovery;
pub mod nv_meter;
pub mod nv_proxy;
pub mod nv_visibility;
pub mod rate;
pub mod submissions;
