//! The GPU drivers' userspace ABI as fakegpu and nvsim need it: ioctl numbers and layouts
//! (DRM; NVIDIA's frontend, RM and UVM), status codes, device numbers and `/proc/devices`,
//! plain-old-data reads and writes, and the names the trace decoder prints. Facts only: no
//! policy and no simulation. The NVIDIA layouts are checked against NVIDIA's own headers by
//! `make conformance` (`examples/nv_layout_claims.rs`).
//!
//! Used by every other crate: the policy crate (and through it fakegpu.ko and the helper),
//! the nvsim model (and nvsim.ko), the helper and the test clients.
//!
//! Every file here is compiled twice: into the kernel modules, which include it with
//! `#[path]` as a module named `abi` (an out-of-tree Rust module is a single crate), and into
//! this userspace crate, where `cargo test` exercises it. So the files use `core` only, never
//! `alloc` or `std`, and name each other through `super::` only.
#![cfg_attr(not(test), no_std)]

pub mod devnum;
pub mod drm;
pub mod ioc;
pub mod namebuf;
pub mod nv_family;
pub mod nv_frontend;
pub mod nv_gpumon;
pub mod nv_rm;
pub mod nv_status;
pub mod nv_trace;
pub mod nv_uvm;
pub mod pod;
pub mod proc_devices;
