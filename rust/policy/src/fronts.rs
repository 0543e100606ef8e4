//! The table of fake device nodes ("fronts"): which real character devices fakegpu stands in
//! front of, parsed from the module's `devices=` parameter, and what each front is called.
//!
//! Fronts are grouped in families, one registered char major each, so node numbers stay
//! meaningful: a DRM front keeps the real DRM minor (`/dev/fakedri/renderD128` is minor 128),
//! and NVIDIA's nodes keep theirs (`/dev/fakegpu1` stands for `/dev/nvidia1`, minor 1;
//! `/dev/fakegpuctl` for `/dev/nvidiactl`, minor 255; `/dev/fakegpu-uvm` for `/dev/nvidia-uvm`).

use super::abi::devnum::DevNum;
use super::abi::namebuf::NameBuf;
use super::abi::nv_frontend::{NV_CTL_MINOR, NV_GPU_MINOR_MAX, NV_MAJOR};
use core::fmt::{self, Write};

/// Most fronts one module load can create.
pub const MAX_FRONTS: usize = 64;
/// Major number of DRM device nodes (`DRM_MAJOR`).
pub const DRM_MAJOR: u32 = 226;
/// Minors in each family's char region.
pub const FAMILY_MINORS: u32 = 256;

/// A group of fronts sharing one char major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// DRM nodes (`/dev/dri/*`), shown as `/dev/fakedri/*` with the real minor.
    Drm,
    /// Any other char device, shown as `/dev/fakechr/MAJOR.MINOR`, minors in table order.
    Generic,
    /// NVIDIA's frontend (major 195): `/dev/fakegpuctl` and `/dev/fakegpuN`, real minors.
    Nvidia,
    /// NVIDIA's UVM device, `/dev/fakegpu-uvm`, real minor.
    NvidiaUvm,
}

impl Family {
    /// Every family, in registration order.
    pub const ALL: [Family; 4] = [
        Family::Drm,
        Family::Generic,
        Family::Nvidia,
        Family::NvidiaUvm,
    ];

    /// Name of the family's char region in `/proc/devices`.
    pub const fn region_name(self) -> &'static str {
        match self {
            Family::Drm => "fakedri",
            Family::Generic => "fakechr",
            Family::Nvidia => "fakegpu",
            Family::NvidiaUvm => "fakegpu-uvm",
        }
    }

    /// [`Family::region_name`] as a C string, for registering the region.
    pub const fn region_c_name(self) -> &'static core::ffi::CStr {
        match self {
            Family::Drm => c"fakedri",
            Family::Generic => c"fakechr",
            Family::Nvidia => c"fakegpu",
            Family::NvidiaUvm => c"fakegpu-uvm",
        }
    }

    /// Index into per-family arrays.
    pub const fn index(self) -> usize {
        match self {
            Family::Drm => 0,
            Family::Generic => 1,
            Family::Nvidia => 2,
            Family::NvidiaUvm => 3,
        }
    }
}

/// One fake node and the real device behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Front {
    /// The real device every open of the front opens.
    pub real: DevNum,
    /// The family, hence the major, of the front.
    pub family: Family,
    /// The front's minor within its family's region.
    pub fake_minor: u32,
}

impl Front {
    /// The device name given to `device_create`, where `!` stands for `/` under `/dev`
    /// (devtmpfs makes the directory).
    pub fn node_name(&self) -> NameBuf {
        let mut name = NameBuf::new();
        // The longest name ("fakechr!511.1048575") fits NameBuf: writing cannot fail.
        let _ = match self.family {
            Family::Drm => match self.real.minor {
                0..=63 => write!(name, "fakedri!card{}", self.real.minor),
                128..=191 => write!(name, "fakedri!renderD{}", self.real.minor),
                m => write!(name, "fakedri!minor{}", m),
            },
            Family::Generic => write!(name, "fakechr!{}.{}", self.real.major, self.real.minor),
            Family::Nvidia if self.real.minor == NV_CTL_MINOR => write!(name, "fakegpuctl"),
            Family::Nvidia => write!(name, "fakegpu{}", self.real.minor),
            Family::NvidiaUvm => write!(name, "fakegpu-uvm"),
        };
        name
    }

    /// The path of the front under `/dev`.
    pub fn dev_path(&self) -> NameBuf {
        let mut path = NameBuf::new();
        let _ = write!(path, "/dev/");
        for c in self.node_name().as_str().chars() {
            let _ = path.write_char(if c == '!' { '/' } else { c });
        }
        path
    }
}

/// Why a `devices=` value was refused. `entry` counts from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing configured.
    Empty,
    /// An entry is not `MAJOR:MINOR` in decimal.
    Syntax {
        /// Which entry.
        entry: usize,
    },
    /// A number is beyond the kernel's range for char devices.
    OutOfRange {
        /// Which entry.
        entry: usize,
    },
    /// A DRM minor does not fit the fakedri region.
    DrmMinorTooLarge {
        /// Which entry.
        entry: usize,
    },
    /// The same real device is listed twice.
    Duplicate {
        /// Which entry.
        entry: usize,
    },
    /// More than [`MAX_FRONTS`] entries.
    TooMany,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ParseError::Empty => write!(f, "no device given (expected e.g. devices=226:128)"),
            ParseError::Syntax { entry } => {
                write!(f, "entry {entry} is not MAJOR:MINOR in decimal")
            }
            ParseError::OutOfRange { entry } => write!(
                f,
                "entry {entry} is out of range (major <= 511, minor < 1048576)"
            ),
            ParseError::DrmMinorTooLarge { entry } => write!(
                f,
                "entry {entry}: DRM minors above {} are not supported",
                FAMILY_MINORS - 1
            ),
            ParseError::Duplicate { entry } => {
                write!(f, "entry {entry} repeats a device listed before")
            }
            ParseError::TooMany => write!(f, "more than {MAX_FRONTS} devices"),
        }
    }
}

/// Why NVIDIA's nodes could not be added to a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NvidiaError {
    /// The minor is not one NVIDIA gives GPUs (0..=247).
    NotAGpuMinor(u32),
    /// The same GPU minor twice.
    Duplicate(u32),
    /// `devices=` already lists a major-195 or the UVM device.
    AlreadyListed,
    /// More than [`MAX_FRONTS`] fronts in all.
    TooMany,
}

impl fmt::Display for NvidiaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NvidiaError::NotAGpuMinor(m) => {
                write!(f, "minor {m} is not a GPU minor (0..={NV_GPU_MINOR_MAX})")
            }
            NvidiaError::Duplicate(m) => write!(f, "GPU minor {m} is listed twice"),
            NvidiaError::AlreadyListed => {
                write!(
                    f,
                    "NVIDIA devices are also listed in devices=; list them in one place"
                )
            }
            NvidiaError::TooMany => write!(f, "more than {MAX_FRONTS} devices in all"),
        }
    }
}

/// The fronts of one module load, in the order they were configured.
#[derive(Clone, Debug)]
pub struct FrontTable {
    fronts: [Front; MAX_FRONTS],
    len: usize,
}

fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FrontTable {
    /// Parses a `devices=` value: `MAJOR:MINOR` entries separated by commas or whitespace,
    /// e.g. `226:0,226:128`.
    pub fn parse(spec: &str) -> Result<Self, ParseError> {
        let unused = Front {
            real: DevNum { major: 0, minor: 0 },
            family: Family::Generic,
            fake_minor: 0,
        };
        let mut table = FrontTable {
            fronts: [unused; MAX_FRONTS],
            len: 0,
        };
        let mut generic_minor = 0;
        let entries = spec
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|e| !e.is_empty());
        for (i, text) in entries.enumerate() {
            let entry = i + 1;
            let (major, minor) = text.split_once(':').ok_or(ParseError::Syntax { entry })?;
            let major = parse_decimal(major).ok_or(ParseError::Syntax { entry })?;
            let minor = parse_decimal(minor).ok_or(ParseError::Syntax { entry })?;
            let real = DevNum::new(major, minor).ok_or(ParseError::OutOfRange { entry })?;
            if table.iter().any(|f| f.real == real) {
                return Err(ParseError::Duplicate { entry });
            }
            let front = if major == DRM_MAJOR {
                if minor >= FAMILY_MINORS {
                    return Err(ParseError::DrmMinorTooLarge { entry });
                }
                Front {
                    real,
                    family: Family::Drm,
                    fake_minor: minor,
                }
            } else {
                generic_minor += 1;
                Front {
                    real,
                    family: Family::Generic,
                    fake_minor: generic_minor - 1,
                }
            };
            let slot = table.fronts.get_mut(table.len).ok_or(ParseError::TooMany)?;
            *slot = front;
            table.len += 1;
        }
        if table.len == 0 {
            return Err(ParseError::Empty);
        }
        Ok(table)
    }

    /// A table with no front, to which [`FrontTable::add_nvidia`] adds.
    pub fn empty() -> Self {
        let unused = Front {
            real: DevNum { major: 0, minor: 0 },
            family: Family::Generic,
            fake_minor: 0,
        };
        FrontTable {
            fronts: [unused; MAX_FRONTS],
            len: 0,
        }
    }

    /// Adds NVIDIA's nodes: nvidiactl, the GPUs of `gpu_minors`, and the UVM device
    /// `uvm` if the driver has one. Minors that are not GPU minors, and devices already in
    /// the table, are refused.
    pub fn add_nvidia(
        &mut self,
        gpu_minors: &[u32],
        uvm: Option<DevNum>,
    ) -> Result<(), NvidiaError> {
        if self.uses(Family::Nvidia) || self.iter().any(|f| f.real.major == NV_MAJOR) {
            return Err(NvidiaError::AlreadyListed);
        }
        let mut fronts = [None; MAX_FRONTS];
        let mut n = 0;
        let mut add = |front: Front| -> Result<(), NvidiaError> {
            let slot = fronts.get_mut(n).ok_or(NvidiaError::TooMany)?;
            *slot = Some(front);
            n += 1;
            Ok(())
        };
        let nv = |minor| Front {
            real: DevNum {
                major: NV_MAJOR,
                minor,
            },
            family: Family::Nvidia,
            fake_minor: minor,
        };
        add(nv(NV_CTL_MINOR))?;
        for (i, &minor) in gpu_minors.iter().enumerate() {
            if minor > NV_GPU_MINOR_MAX {
                return Err(NvidiaError::NotAGpuMinor(minor));
            }
            if gpu_minors
                .get(..i)
                .is_some_and(|before| before.contains(&minor))
            {
                return Err(NvidiaError::Duplicate(minor));
            }
            add(nv(minor))?;
        }
        if let Some(uvm) = uvm {
            if self.iter().any(|f| f.real == uvm) {
                return Err(NvidiaError::AlreadyListed);
            }
            add(Front {
                real: uvm,
                family: Family::NvidiaUvm,
                fake_minor: 0,
            })?;
        }
        if self.len + n > MAX_FRONTS {
            return Err(NvidiaError::TooMany);
        }
        for front in fronts.iter().flatten() {
            if let Some(slot) = self.fronts.get_mut(self.len) {
                *slot = *front;
                self.len += 1;
            }
        }
        Ok(())
    }

    /// The fronts, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Front> {
        self.fronts.iter().take(self.len)
    }

    /// Number of fronts.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no front (never true for a parsed table).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether any front belongs to `family` (whose region must then be registered).
    pub fn uses(&self, family: Family) -> bool {
        self.iter().any(|f| f.family == family)
    }

    /// The index of the front a fake node `family`/`fake_minor` stands for.
    pub fn find(&self, family: Family, fake_minor: u32) -> Option<usize> {
        self.iter()
            .position(|f| f.family == family && f.fake_minor == fake_minor)
    }

    /// The front at `index`.
    pub fn get(&self, index: usize) -> Option<&Front> {
        self.fronts.get(..self.len)?.get(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn region_c_names_match_region_names() {
        for family in Family::ALL {
            assert_eq!(family.region_c_name().to_str(), Ok(family.region_name()));
        }
    }

    #[test]
    fn parses_drm_and_generic() {
        let t = FrontTable::parse("226:0, 226:128 1:3").unwrap();
        assert_eq!(t.len(), 3);
        let names: Vec<_> = t
            .iter()
            .map(|f| f.node_name().as_str().to_owned())
            .collect();
        assert_eq!(
            names,
            ["fakedri!card0", "fakedri!renderD128", "fakechr!1.3"]
        );
        assert_eq!(
            t.get(1).unwrap().dev_path().as_str(),
            "/dev/fakedri/renderD128"
        );
        assert_eq!(t.find(Family::Drm, 128), Some(1));
        assert_eq!(t.find(Family::Generic, 0), Some(2));
        assert_eq!(t.find(Family::Drm, 1), None);
        assert!(t.uses(Family::Drm) && t.uses(Family::Generic));
    }

    #[test]
    fn refuses_bad_input_with_the_entry_number() {
        assert_eq!(FrontTable::parse("").unwrap_err(), ParseError::Empty);
        assert_eq!(FrontTable::parse(" , ").unwrap_err(), ParseError::Empty);
        assert_eq!(
            FrontTable::parse("226").unwrap_err(),
            ParseError::Syntax { entry: 1 }
        );
        assert_eq!(
            FrontTable::parse("1:2,a:3").unwrap_err(),
            ParseError::Syntax { entry: 2 }
        );
        assert_eq!(
            FrontTable::parse("-1:3").unwrap_err(),
            ParseError::Syntax { entry: 1 }
        );
        assert_eq!(
            FrontTable::parse("+1:3").unwrap_err(),
            ParseError::Syntax { entry: 1 }
        );
        assert_eq!(
            FrontTable::parse("512:0").unwrap_err(),
            ParseError::OutOfRange { entry: 1 }
        );
        assert_eq!(
            FrontTable::parse("99999999999:0").unwrap_err(),
            ParseError::Syntax { entry: 1 }
        );
        assert_eq!(
            FrontTable::parse("226:300").unwrap_err(),
            ParseError::DrmMinorTooLarge { entry: 1 }
        );
        assert_eq!(
            FrontTable::parse("226:1,226:1").unwrap_err(),
            ParseError::Duplicate { entry: 2 }
        );
        let many: Vec<String> = (0..=MAX_FRONTS).map(|i| format!("1:{i}")).collect();
        assert_eq!(
            FrontTable::parse(&many.join(",")).unwrap_err(),
            ParseError::TooMany
        );
    }

    #[test]
    fn nvidia_nodes_keep_the_real_minors() {
        let mut t = FrontTable::parse("226:128").unwrap();
        let uvm = DevNum::new(510, 0);
        t.add_nvidia(&[0, 3], uvm).unwrap();
        let paths: Vec<_> = t.iter().map(|f| f.dev_path().as_str().to_owned()).collect();
        assert_eq!(
            paths,
            [
                "/dev/fakedri/renderD128",
                "/dev/fakegpuctl",
                "/dev/fakegpu0",
                "/dev/fakegpu3",
                "/dev/fakegpu-uvm"
            ]
        );
        assert_eq!(t.find(Family::Nvidia, 255), Some(1));
        assert_eq!(t.find(Family::Nvidia, 3), Some(3));
        assert_eq!(t.find(Family::NvidiaUvm, 0), Some(4));
        assert_eq!(t.add_nvidia(&[1], None), Err(NvidiaError::AlreadyListed));

        let mut e = FrontTable::empty();
        assert_eq!(
            e.add_nvidia(&[248], None),
            Err(NvidiaError::NotAGpuMinor(248))
        );
        assert_eq!(e.add_nvidia(&[1, 1], None), Err(NvidiaError::Duplicate(1)));
        assert!(e.is_empty(), "a refused add leaves the table unchanged");
        let mut listed = FrontTable::parse("195:0").unwrap();
        assert_eq!(
            listed.add_nvidia(&[], None),
            Err(NvidiaError::AlreadyListed)
        );
        let mut full = FrontTable::parse(
            &(0..60)
                .map(|i| format!("1:{i}"))
                .collect::<Vec<_>>()
                .join(","),
        )
        .unwrap();
        assert_eq!(
            full.add_nvidia(&[0, 1, 2, 3, 4], uvm),
            Err(NvidiaError::TooMany)
        );
        assert_eq!(full.len(), 60);
    }

    #[test]
    fn error_messages_name_the_entry() {
        let msg = FrontTable::parse("1:1,x").unwrap_err().to_string();
        assert_eq!(msg, "entry 2 is not MAJOR:MINOR in decimal");
    }

    proptest! {
        #[test]
        fn never_panics_and_fake_nodes_are_unique(spec in "[0-9:, a-z]{0,80}") {
            if let Ok(t) = FrontTable::parse(&spec) {
                for (i, f) in t.iter().enumerate() {
                    prop_assert_eq!(t.find(f.family, f.fake_minor), Some(i));
                    prop_assert!(f.fake_minor < FAMILY_MINORS);
                    prop_assert!(!f.node_name().as_str().is_empty());
                }
            }
        }

        #[test]
        fn accepts_every_valid_list(devs in proptest::collection::btree_set((0u32..512, 0u32..256), 1..MAX_FRONTS)) {
            let spec: Vec<String> = devs.iter().map(|(a, b)| format!("{a}:{b}")).collect();
            let t = FrontTable::parse(&spec.join(",")).unwrap();
            prop_assert_eq!(t.len(), devs.len());
        }
    }
}
