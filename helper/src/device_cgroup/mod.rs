//! The container's device cgroup: allow fakegpu's nodes, deny NVIDIA's real ones. On cgroup
//! v2 that means replacing the attached BPF_PROG_TYPE_CGROUP_DEVICE program with one built
//! from config.json's device rules plus ours; on v1, writing devices.allow/deny.
//!
//! - [`rules`]: the rules (config.json's `linux.resources.devices`), their checks, and what
//!   a list of them means.
//! - [`program`]: the cgroup v2 BPF program enforcing a rule list.
//! - [`bpf`]: the bpf(2) calls that load, query, attach and detach device programs.
//! - [`errors`]: how `v2` and `v1` word their failures.
//! - [`v2`]: cgroup v2, replacing the cgroup's program.
//! - [`v1`]: cgroup v1, writing devices.allow and devices.deny.
//!
//! Each file imports only from files above it in this list.

mod bpf;
mod errors;
pub mod program;
pub mod rules;
pub mod v1;
pub mod v2;
