//! What a container asks for (GPUs, limits) from its annotations and environment, and the
//! plan the hook carries out once the operator's configuration has had its say.
//!
//! - [`devices`]: which GPUs a container asks for, and GPU lists as text.
//! - [`per_gpu`]: per-GPU values as asked, and their `gpuN=VALUE` syntax.
//! - [`sources`]: reading a request from annotations and environment variables, from the
//!   sources the host config allows; the table there says which source wins.
//! - [`limits`]: one per-GPU limit settled against the operator's default and cap.
//! - [`plan`]: the plan for a request: its GPUs, their limits, the UVM policy and notes.
//!
//! Each file imports only from files above it in this list.

pub mod devices;
mod limits;
pub mod per_gpu;
pub mod plan;
pub mod sources;
