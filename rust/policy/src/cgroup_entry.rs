//! What fakegpu decides and counts for one cgroup: the GPUs it may see, its counters and
//! limits (the ledger), and its policies. The kernel module's cgroup entry holds one of these
//! beside the kernel objects (the cgroup reference, the sysfs directory); the driver
//! personalities read and write the parts that are theirs, so the module's core never names
//! them.

use super::compute_share::Compute;
use super::gpu_set::Visibility;
use super::ledger::Usage;
use super::nv_caps::Capabilities;

/// One cgroup's share of fakegpu's state.
pub struct EntryState {
    /// Which GPUs the cgroup may see.
    pub gpus: Visibility,
    /// Its counters and limits.
    pub usage: Usage,
    /// Its compute limits and what was metered of them.
    pub compute: Compute,
    /// Whether managed (UVM) memory is refused: it is faulted in with no call to meter.
    pub uvm_deny: bool,
    /// What the cgroup may use the driver for (NVIDIA_DRIVER_CAPABILITIES' meanings).
    pub capabilities: Capabilities,
    /// Whether the process lists of its GPUs show every process, not only the cgroup's
    /// own (an operator's opt-in, for a monitoring agent).
    pub all_processes: bool,
}

impl Default for EntryState {
    /// A new entry: every GPU visible, nothing charged, no limit, managed memory allowed,
    /// NVIDIA's default capabilities (`compute,utility`), its own processes listed.
    fn default() -> Self {
        EntryState {
            gpus: Visibility::All,
            usage: Usage::default(),
            compute: Compute::default(),
            uvm_deny: false,
            capabilities: Capabilities::DEFAULT,
            all_processes: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_entry_sees_everything_and_holds_nothing() {
        let e = EntryState::default();
        assert_eq!(e.gpus, Visibility::All);
        assert!(e.usage.is_idle());
        assert!(!e.uvm_deny && !e.all_processes);
        assert_eq!(e.capabilities, Capabilities::DEFAULT);
    }
}
