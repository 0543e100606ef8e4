//! nvsim's pure logic: the simulated NVIDIA driver's frontend rules, its RM object store,
//! the informational controls, the `/proc/driver/nvidia` text, a UVM VA space's
//! bookkeeping and the decoding of GPFIFO entries and method streams, tested by cargo.
//!
//! Used by nvsim.ko (which includes these files with `#[path]` as a module named
//! `nvsim_model`, beside `abi`; all but `pushbuf`, which waits for the engine that will
//! execute channels) and by the test clients, never by fakegpu.ko. It depends on the
//! ABI crate only, named `super::abi` in every file as in the policy crate.
#![cfg_attr(not(test), no_std)]

#[allow(clippy::single_component_path_imports)]
// it makes `super::abi` resolve as in the kernel build
use abi;

pub mod admin;
pub mod ctrl;
pub mod frontend;
pub mod methods;
pub mod procfs;
pub mod pushbuf;
pub mod rm;
pub mod sched;
pub mod util_samples;
pub mod uvm_va;
