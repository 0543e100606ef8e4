//! Per-GPU values (memory, channels) as a container asks for them, and fakegpu's way of
//! writing them: one `VALUE` for every GPU, or `gpuN=VALUE` pairs.

use std::collections::BTreeMap;

/// A per-GPU value as asked. Values are bytes or counts;
/// [`UNLIMITED`](policy::ledger::UNLIMITED) means `max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerGpu {
    /// One value for every visible GPU.
    Every(u64),
    /// Values per minor; GPUs not named get the operator's default.
    Each(BTreeMap<u32, u64>),
    /// HAMi's `CUDA_DEVICE_MEMORY_LIMIT_<i>`: values by position among the container's
    /// GPUs in ascending minor order (0 = its lowest minor), with `every`
    /// (`CUDA_DEVICE_MEMORY_LIMIT`) for the GPUs not named, else the operator's default.
    ByIndex {
        /// Values by position.
        each: BTreeMap<usize, u64>,
        /// The value for positions not in `each`.
        every: Option<u64>,
    },
}

/// A per-GPU value: `VALUE` for every GPU, or `gpuN=VALUE` pairs separated by commas
/// (spaces around them are fine). The error says what was expected, without the key.
pub(super) fn parse_per_gpu(
    text: &str,
    value: fn(&str) -> Result<u64, &'static str>,
) -> Result<PerGpu, String> {
    let text = text.trim();
    if !text.contains('=') {
        return value(text).map(PerGpu::Every).map_err(String::from);
    }
    let mut each = BTreeMap::new();
    for pair in text.split(',') {
        let (gpu, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{:?}: expected gpuN=VALUE", pair.trim()))?;
        let (gpu, v) = (gpu.trim(), v.trim());
        let minor: u32 = gpu
            .strip_prefix("gpu")
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| format!("{gpu:?}: expected gpuN, N a GPU's minor"))?;
        let v = value(v).map_err(|e| format!("{gpu}: {e}"))?;
        if each.insert(minor, v).is_some() {
            return Err(format!("{gpu} is given twice"));
        }
    }
    Ok(PerGpu::Each(each))
}
