//! Which NVIDIA GPUs fakegpu stands in front of: the `nvidia_gpus=` parameter, the minors
//! the driver reports in CARD_INFO when the parameter says `auto`, and whether the driver's
//! version is of a family fakegpu knows.

use super::abi::nv_family::{DriverFamily, Match, FAMILIES};
use super::abi::nv_frontend::{NvIoctlCardInfo, NV_GPU_MINOR_MAX};
use super::abi::pod::read_pod;
use super::nv_proxy::FilterMode;
use core::mem::size_of;

/// Most GPUs one load fronts (the driver's limit of attached GPUs).
pub const MAX_GPUS: usize = 32;

/// What `nvidia_gpus=` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuSpec {
    /// Every GPU the driver reports (CARD_INFO on nvidiactl).
    Auto,
    /// No NVIDIA fronts at all.
    Off,
    /// These minors (`/dev/nvidiaN`), in this order.
    List([u32; MAX_GPUS], usize),
}

impl GpuSpec {
    /// Parses `auto`, `off`, or minors separated by commas, e.g. `0,1`.
    pub fn parse(spec: &str) -> Result<Self, &'static str> {
        match spec.trim() {
            "" | "auto" => return Ok(GpuSpec::Auto),
            "off" | "none" => return Ok(GpuSpec::Off),
            _ => {}
        }
        let mut minors = [0; MAX_GPUS];
        let mut len = 0;
        for entry in spec.split(',').map(str::trim) {
            let minor: u32 = entry
                .parse()
                .map_err(|_| "expected auto, off, or GPU minors such as 0,1")?;
            if minor > NV_GPU_MINOR_MAX {
                return Err("a GPU minor is at most 247");
            }
            if minors[..len].contains(&minor) {
                return Err("a GPU minor is listed twice");
            }
            *minors.get_mut(len).ok_or("more than 32 GPUs")? = minor;
            len += 1;
        }
        Ok(GpuSpec::List(minors, len))
    }

    /// The minors of a list (empty for `Auto` and `Off`).
    pub fn minors(&self) -> &[u32] {
        match self {
            GpuSpec::List(m, len) => m.get(..*len).unwrap_or(&[]),
            GpuSpec::Auto | GpuSpec::Off => &[],
        }
    }
}

/// Entries asked for in the CARD_INFO fakegpu makes at load.
pub const CARD_INFO_ENTRIES: usize = MAX_GPUS;
/// Size of that CARD_INFO's buffer.
pub const CARD_INFO_SIZE: usize = CARD_INFO_ENTRIES * size_of::<NvIoctlCardInfo>();

/// The minors of the valid entries of a CARD_INFO answer, into `out`; returns how many.
pub fn card_info_minors(buf: &[u8], out: &mut [u32; MAX_GPUS]) -> usize {
    let mut n = 0;
    for entry in buf.chunks_exact(size_of::<NvIoctlCardInfo>()) {
        let Some(info) = read_pod::<NvIoctlCardInfo>(entry) else {
            continue;
        };
        if info.valid == 0
            || info.minor_number > NV_GPU_MINOR_MAX
            || out[..n].contains(&info.minor_number)
        {
            continue;
        }
        if let Some(slot) = out.get_mut(n) {
            *slot = info.minor_number;
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::pod::write_pod;
    use proptest::prelude::*;

    #[test]
    fn parses_the_parameter() {
        assert_eq!(GpuSpec::parse("auto"), Ok(GpuSpec::Auto));
        assert_eq!(GpuSpec::parse(""), Ok(GpuSpec::Auto));
        assert_eq!(GpuSpec::parse("off"), Ok(GpuSpec::Off));
        assert_eq!(GpuSpec::parse("0, 3").unwrap().minors(), [0, 3]);
        assert!(GpuSpec::parse("1,1").is_err());
        assert!(GpuSpec::parse("248").is_err());
        assert!(GpuSpec::parse("x").is_err());
        assert!(GpuSpec::parse("0,").is_err());
        let many: Vec<String> = (0..33).map(|i| i.to_string()).collect();
        assert_eq!(GpuSpec::parse(&many.join(",")), Err("more than 32 GPUs"));
    }

    #[test]
    fn reads_the_valid_card_info_entries() {
        let mut buf = vec![0u8; CARD_INFO_SIZE];
        let entry = size_of::<NvIoctlCardInfo>();
        for (i, minor) in [(0, 2u32), (1, 0), (3, 2)] {
            let info = NvIoctlCardInfo {
                valid: 1,
                minor_number: minor,
                ..Default::default()
            };
            write_pod(&mut buf[i * entry..], &info);
        }
        let mut out = [0; MAX_GPUS];
        let n = card_info_minors(&buf, &mut out);
        assert_eq!(&out[..n], [2, 0], "invalid entries and repeats are skipped");
    }

    proptest! {
        #[test]
        fn never_panics(spec in "[0-9a-z, ]{0,120}", buf in proptest::collection::vec(any::<u8>(), 0..3000)) {
            if let Ok(s) = GpuSpec::parse(&spec) {
                prop_assert!(s.minors().iter().all(|&m| m <= NV_GPU_MINOR_MAX));
            }
            let mut out = [0; MAX_GPUS];
            prop_assert!(card_info_minors(&buf, &mut out) <= MAX_GPUS);
        }
    }
}

/// The driver version in a CHECK_VERSION_STR answer to `NV_RM_API_VERSION_CMD_QUERY`: its
/// NUL-terminated `versionString`, if that is text of digits and dots.
pub fn queried_version(version_string: &[u8]) -> Option<&str> {
    let end = version_string.iter().position(|&b| b == 0)?;
    let text = core::str::from_utf8(version_string.get(..end)?).ok()?;
    let plausible = !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_digit() || c == '.');
    plausible.then_some(text)
}

/// How fakegpu fronts a driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fronting {
    /// A version one of fakegpu's families lists: its tables were checked against that
    /// version's headers.
    Known(&'static DriverFamily),
    /// Any other version, fronted only because `filter=permissive` says so, with the tables
    /// of the family of its branch or else the nearest older one (the oldest if none is
    /// older) as guesses; limits that rest on them are refused.
    Guessed(&'static DriverFamily),
}

impl Fronting {
    /// The family whose tables are applied.
    pub fn family(self) -> &'static DriverFamily {
        match self {
            Fronting::Known(f) | Fronting::Guessed(f) => f,
        }
    }
}

/// How fakegpu fronts a driver of `version` in filter mode `mode`: `None` means not at all
/// (a version no family lists, in strict or audit mode: even within a known branch NVIDIA
/// has changed layouts, so an unchecked minor version is refused rather than trusted).
pub fn fronting(version: &str, mode: FilterMode) -> Option<Fronting> {
    match DriverFamily::lookup(version) {
        Match::Exact(family) => Some(Fronting::Known(family)),
        Match::SameBranch(_) | Match::Unknown if mode == FilterMode::Permissive => {
            Some(Fronting::Guessed(DriverFamily::nearest(version)))
        }
        Match::SameBranch(_) | Match::Unknown => None,
    }
}

/// The versions fakegpu knows, for log lines: "535.309.01 550.163.01".
pub fn known_versions() -> impl Iterator<Item = &'static str> {
    FAMILIES
        .into_iter()
        .flat_map(|f| f.versions.iter().copied())
}

#[cfg(test)]
mod version_tests {
    use super::*;
    use crate::abi::nv_family::{R535, R550};

    #[test]
    fn exact_versions_are_fronted_others_only_when_permissive() {
        let mut answer = [0u8; 64];
        answer[..10].copy_from_slice(b"535.309.01");
        let version = queried_version(&answer);
        assert_eq!(version, Some("535.309.01"));
        for (v, family) in [("535.309.01", &R535), ("550.163.01", &R550)] {
            assert_eq!(
                fronting(v, FilterMode::Strict),
                Some(Fronting::Known(family))
            );
        }
        for (v, guess) in [
            ("535.54.03", &R535),
            ("550.54.14", &R550),
            ("570.124.04", &R550),
            ("470.256.02", &R535),
        ] {
            assert_eq!(fronting(v, FilterMode::Strict), None, "{v}");
            assert_eq!(fronting(v, FilterMode::Audit), None, "{v}");
            assert_eq!(
                fronting(v, FilterMode::Permissive),
                Some(Fronting::Guessed(guess)),
                "{v}"
            );
        }
        assert_eq!(DriverFamily::nearest("garbage"), &R535);
        assert_eq!(
            known_versions().collect::<Vec<_>>(),
            ["535.309.01", "550.163.01"]
        );
        assert_eq!(queried_version(&[0u8; 64]), None);
        assert_eq!(queried_version(b"535.1"), None, "not terminated");
        assert_eq!(queried_version(b"abc\0"), None);
    }
}
