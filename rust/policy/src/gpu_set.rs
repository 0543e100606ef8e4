//! A set of NVIDIA GPUs by minor (`/dev/nvidiaN`): which GPUs a cgroup may see, the `gpus`
//! file of its entry in `/sys/kernel/fakegpu/cgroups/`. Written as `all`, `none`, or a list
//! of minors and ranges such as `0,2-3` (the cpuset format); read back in that canonical form.

use super::abi::nv_frontend::NV_GPU_MINOR_MAX;
use core::fmt;

/// Words of the bitmap: minors 0..=247 fit in 256 bits.
const WORDS: usize = 4;

/// A set of GPU minors, each at most [`NV_GPU_MINOR_MAX`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuSet([u64; WORDS]);

/// What a cgroup may see: every GPU, or only some.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Visibility {
    /// No restriction (the default, also for cgroups fakegpu has no entry for).
    #[default]
    All,
    /// Only these GPUs.
    Only(GpuSet),
}

impl GpuSet {
    /// The empty set.
    pub const EMPTY: GpuSet = GpuSet([0; WORDS]);

    /// Whether `minor` is in the set.
    pub fn contains(&self, minor: u32) -> bool {
        let (word, bit) = (minor as usize / 64, minor % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Adds `minor`; false if it is no GPU minor.
    pub fn insert(&mut self, minor: u32) -> bool {
        if minor > NV_GPU_MINOR_MAX {
            return false;
        }
        let (word, bit) = (minor as usize / 64, minor % 64);
        match self.0.get_mut(word) {
            Some(w) => {
                *w |= 1 << bit;
                true
            }
            None => false,
        }
    }

    /// The minors in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..=NV_GPU_MINOR_MAX).filter(|&m| self.contains(m))
    }

    fn and(&self, other: &GpuSet) -> GpuSet {
        let mut out = *self;
        for (a, b) in out.0.iter_mut().zip(other.0.iter()) {
            *a &= b;
        }
        out
    }
}

impl Visibility {
    /// Whether GPU `minor` is visible.
    pub fn allows(&self, minor: u32) -> bool {
        match self {
            Visibility::All => true,
            Visibility::Only(set) => set.contains(minor),
        }
    }

    /// What is visible under both `self` and `other` (a cgroup sees what it and every
    /// ancestor allow).
    pub fn and(&self, other: &Visibility) -> Visibility {
        match (self, other) {
            (Visibility::All, v) | (v, Visibility::All) => *v,
            (Visibility::Only(a), Visibility::Only(b)) => Visibility::Only(a.and(b)),
        }
    }

    /// Parses what an operator writes to `gpus` (one trailing newline allowed).
    pub fn parse(text: &str) -> Result<Visibility, &'static str> {
        let text = text.strip_suffix('\n').unwrap_or(text).trim_matches(' ');
        match text {
            "all" => return Ok(Visibility::All),
            "none" => return Ok(Visibility::Only(GpuSet::EMPTY)),
            "" => return Err("expected all, none, or GPU minors such as 0,2-3"),
            _ => {}
        }
        let mut set = GpuSet::EMPTY;
        for item in text.split(',') {
            let (first, last) = match item.split_once('-') {
                Some((a, b)) => (parse_minor(a)?, parse_minor(b)?),
                None => {
                    let m = parse_minor(item)?;
                    (m, m)
                }
            };
            if first > last {
                return Err("a range must not run backwards");
            }
            for m in first..=last {
                set.insert(m);
            }
        }
        Ok(Visibility::Only(set))
    }
}

fn parse_minor(s: &str) -> Result<u32, &'static str> {
    let s = s.trim_matches(' ');
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected all, none, or GPU minors such as 0,2-3");
    }
    match s.parse::<u32>() {
        Ok(m) if m <= NV_GPU_MINOR_MAX => Ok(m),
        _ => Err("a GPU minor is at most 247"),
    }
}

/// `all`, `none`, or the minors with consecutive runs as ranges (`0,2-3`).
impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = match self {
            Visibility::All => return f.write_str("all"),
            Visibility::Only(set) if *set == GpuSet::EMPTY => return f.write_str("none"),
            Visibility::Only(set) => set,
        };
        let mut sep = "";
        let mut m = 0;
        while m <= NV_GPU_MINOR_MAX {
            if !set.contains(m) {
                m += 1;
                continue;
            }
            let start = m;
            while m < NV_GPU_MINOR_MAX && set.contains(m + 1) {
                m += 1;
            }
            if start == m {
                write!(f, "{sep}{start}")?;
            } else {
                write!(f, "{sep}{start}-{m}")?;
            }
            sep = ",";
            m += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn only(minors: &[u32]) -> Visibility {
        let mut set = GpuSet::EMPTY;
        for &m in minors {
            assert!(set.insert(m));
        }
        Visibility::Only(set)
    }

    #[test]
    fn parses_and_formats() {
        assert_eq!(Visibility::parse("all\n"), Ok(Visibility::All));
        assert_eq!(Visibility::parse("none"), Ok(only(&[])));
        assert_eq!(Visibility::parse("1"), Ok(only(&[1])));
        assert_eq!(Visibility::parse("0, 2-4,7\n"), Ok(only(&[0, 2, 3, 4, 7])));
        assert_eq!(only(&[0, 2, 3, 4, 7]).to_string(), "0,2-4,7");
        assert_eq!(only(&[247]).to_string(), "247");
        assert_eq!(only(&[]).to_string(), "none");
        assert_eq!(Visibility::All.to_string(), "all");
        for bad in [
            "", "\n", "x", "1,", "-1", "248", "3-1", "1-", "0x1", "+1", "1 2", "all,1", "1\n\n",
        ] {
            assert!(Visibility::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn intersects_down_the_hierarchy() {
        let parent = only(&[0, 1]);
        assert_eq!(Visibility::All.and(&parent), parent);
        assert_eq!(parent.and(&only(&[1, 2])), only(&[1]));
        assert!(!parent.and(&only(&[2])).allows(0));
        assert!(Visibility::All.allows(200));
    }

    proptest! {
        #[test]
        fn format_parses_back(minors in proptest::collection::vec(0u32..=247, 0..40)) {
            let v = only(&minors);
            prop_assert_eq!(Visibility::parse(&v.to_string()), Ok(v));
            for m in 0..=247 {
                prop_assert_eq!(v.allows(m), minors.contains(&m));
            }
        }

        #[test]
        fn parse_never_panics(text in "[0-9a-z,\\- \n]{0,60}") {
            if let Ok(Visibility::Only(set)) = Visibility::parse(&text) {
                prop_assert!(set.iter().all(|m| m <= 247));
            }
        }
    }
}
