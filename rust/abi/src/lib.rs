//! Logic of fakegpu that needs no kernel: device numbers, the `devices=` parameter, node
//! names, ioctl number decoding and the driver ABIs (DRM, NVIDIA frontend and UVM).
//!
//! Every file here is compiled twice: into the kernel modules (each module includes the files
//! it needs with `#[path]`, since an out-of-tree Rust module is a single crate) and into this
//! userspace crate, where `cargo test` exercises it. So the files use `core` only, never
//! `alloc` or `std`, and refer to each other through `super::`.
#![cfg_attr(not(test), no_std)]

pub mod cgroup_control;
pub mod devnum;
pub mod drm_abi;
pub mod fronts;
pub mod gpu_set;
pub mod ioc;
pub mod ledger;
pub mod namebuf;
pub mod nv_discovery;
pub mod nv_frontend_abi;
pub mod nv_meter;
pub mod nv_proxy;
pub mod nv_rm_abi;
pub mod nv_status;
pub mod nv_trace;
pub mod nv_uvm_abi;
pub mod nv_visibility;
pub mod nvsim_ctrl;
pub mod nvsim_frontend;
pub mod nvsim_procfs;
pub mod nvsim_rm;
pub mod pod;
pub mod proc_devices;
pub mod rate;
