//! One per-GPU limit (memory or channels) as the plan settles it for each of the
//! container's GPUs: what the container asked, else the operator's default, cut down to the
//! operator's cap (with a note when a request was).

use super::devices::gpus_text;
use super::per_gpu::PerGpu;
use super::sources::ENV_HAMI_MEMORY;
use crate::config::HostConfig;
use policy::ledger::{self, UNLIMITED};
use std::collections::BTreeMap;

/// A size as people write it: `max`, `16G`, `512M`, or bytes when no unit divides it.
pub(super) fn size_text(bytes: u64) -> String {
    if bytes == UNLIMITED {
        return "max".into();
    }
    for (shift, unit) in [(40, 'T'), (30, 'G'), (20, 'M'), (10, 'K')] {
        if bytes != 0 && bytes.is_multiple_of(1u64 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A count as `channels.max` shows it: `max` or the number.
pub(super) fn count_text(n: u64) -> String {
    ledger::Shown(n).to_string()
}

/// A compute cap as notes show it: `max` or `30%`.
pub(super) fn percent_text(n: u64) -> String {
    if n == UNLIMITED {
        "max".into()
    } else {
        format!("{n}%")
    }
}

/// One per-GPU limit (memory, channels, compute) as the plan computes it.
pub(super) struct Limit<'a> {
    /// The sysfs file's name, for messages: `memory.max`.
    pub(super) file: &'a str,
    /// The host config key of the cap: `max-memory`.
    pub(super) cap_key: &'a str,
    /// What the container asked.
    pub(super) asked: Option<&'a PerGpu>,
    /// The operator's default (`None`: unlimited).
    pub(super) default: Option<u64>,
    /// The operator's cap (`None`: none).
    pub(super) cap: Option<u64>,
    /// Shows a value in notes.
    pub(super) show: fn(u64) -> String,
}

impl Limit<'_> {
    /// The limit of each of `gpus`, cut down to the cap (with a note when a request was).
    pub(super) fn resolve(
        &self,
        gpus: &[u32],
        config: &HostConfig,
        notes: &mut Vec<String>,
    ) -> Result<BTreeMap<u32, Option<u64>>, String> {
        match self.asked {
            Some(PerGpu::Each(each)) => {
                if let Some(g) = each.keys().find(|g| !gpus.contains(g)) {
                    return Err(format!(
                        "{} for gpu{g} asked, but the container gets {}",
                        self.file,
                        gpus_text(gpus)
                    ));
                }
            }
            Some(PerGpu::ByIndex { each, .. }) => {
                if let Some(i) = each.keys().find(|&&i| i >= gpus.len()) {
                    return Err(format!(
                        "{ENV_HAMI_MEMORY}_{i} set, but the container gets {} ({ENV_HAMI_MEMORY}_<i> counts its GPUs from 0)",
                        gpus_text(gpus)
                    ));
                }
            }
            Some(PerGpu::Every(_)) | None => {}
        }
        let default = self.default.unwrap_or(UNLIMITED);
        let mut out = BTreeMap::new();
        for (index, &gpu) in gpus.iter().enumerate() {
            let asked = match self.asked {
                Some(PerGpu::Every(v)) => Some(*v),
                Some(PerGpu::Each(each)) => each.get(&gpu).copied(),
                Some(PerGpu::ByIndex { each, every }) => each.get(&index).copied().or(*every),
                None => None,
            };
            let mut value = asked.unwrap_or(default);
            if let Some(cap) = self.cap.filter(|&cap| value > cap) {
                // A default above the cap is the operator's own doing: no note for it.
                if let Some(asked) = asked {
                    notes.push(format!(
                        "gpu{gpu}: {} {} asked, capped at {} by {} in {}",
                        self.file,
                        (self.show)(asked),
                        (self.show)(cap),
                        self.cap_key,
                        config.name()
                    ));
                }
                value = cap;
            }
            out.insert(gpu, (value != UNLIMITED).then_some(value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::sources::fixtures::{G, M};

    #[test]
    fn sizes_in_notes() {
        assert_eq!(size_text(UNLIMITED), "max");
        assert_eq!(size_text(0), "0");
        assert_eq!(size_text(16 * G), "16G");
        assert_eq!(size_text(1536 * M), "1536M");
        assert_eq!(size_text(1 << 40), "1T");
        assert_eq!(size_text(1000), "1000");
        assert_eq!(count_text(UNLIMITED), "max");
        assert_eq!(count_text(64), "64");
    }
}
