//! Driver capabilities per cgroup, with NVIDIA_DRIVER_CAPABILITIES' meanings: `compute`
//! (CUDA), `utility` (nvidia-smi and NVML's monitoring), `graphics` (3D) and `video`
//! (decode, encode, JPEG, optical flow). NVIDIA's container toolkit only chooses which
//! libraries it mounts by them, which a static binary or a raw ioctl walks around; fakegpu
//! holds each cgroup to its capabilities in the kernel: an allocation of an engine's class, or
//! a monitoring control, the cgroup has no capability for is refused with
//! `NV_ERR_INSUFFICIENT_PERMISSIONS`.
//!
//! What needs what:
//! - a compute object needs `compute`, a 3D object `graphics`, a video object `video`;
//! - what any engine's work needs (memory, VA spaces, channels and channel groups, context
//!   shares, copy engines, usermode, the debugger) needs one of `compute`, `graphics` or
//!   `video`;
//! - clients, devices, subdevices, OS events and every query NVIDIA's compute libraries send
//!   need nothing;
//! - the process list of a GPU (GET_PIDS, GET_PID_INFO) and the queries only NVML and
//!   nvidia-smi send (ECC configuration, the InfoROM, persistence) need `utility`, as the
//!   control table says (`nv_controls::control_need`).

use super::abi::nv_rm::class;
use core::fmt;

/// A set of capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities(u8);

/// Each capability's name and bit, in the order they are shown.
const NAMES: [(&str, Capabilities); 4] = [
    ("compute", Capabilities::COMPUTE),
    ("utility", Capabilities::UTILITY),
    ("graphics", Capabilities::GRAPHICS),
    ("video", Capabilities::VIDEO),
];

impl Capabilities {
    /// None at all.
    pub const NONE: Self = Capabilities(0);
    /// CUDA's compute engine.
    pub const COMPUTE: Self = Capabilities(1);
    /// Monitoring: nvidia-smi and NVML.
    pub const UTILITY: Self = Capabilities(2);
    /// The 3D engine.
    pub const GRAPHICS: Self = Capabilities(4);
    /// The video engines.
    pub const VIDEO: Self = Capabilities(8);
    /// Every capability (`all`).
    pub const ALL: Self = Capabilities(15);
    /// What an entry starts with, and NVIDIA's default: `compute,utility`.
    pub const DEFAULT: Self = Capabilities(1 | 2);
    /// Any engine's work.
    const ENGINES: Self = Capabilities(1 | 4 | 8);

    /// Both sets' capabilities.
    pub const fn union(self, other: Self) -> Self {
        Capabilities(self.0 | other.0)
    }

    /// The capabilities in both sets.
    pub const fn intersection(self, other: Self) -> Self {
        Capabilities(self.0 & other.0)
    }

    /// Whether every capability of `other` is in this set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether a call that needs `need` (one of its capabilities; nothing if empty) is
    /// allowed with this set.
    pub const fn allows(self, need: Self) -> bool {
        need.0 == 0 || self.0 & need.0 != 0
    }

    /// Parses a list as NVIDIA_DRIVER_CAPABILITIES has it: names separated by commas (and
    /// blanks), `all`, or `none` (an empty list is none too). A trailing newline is allowed.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        if text.trim() == "none" {
            return Ok(Capabilities::NONE);
        }
        let mut caps = Capabilities::NONE;
        for word in text.split([',', ' ']).filter(|w| !w.is_empty()) {
            caps = caps.union(match word {
                "all" => Capabilities::ALL,
                w => {
                    NAMES
                        .iter()
                        .find(|(name, _)| *name == w)
                        .ok_or("expected compute, utility, graphics, video, all or none")?
                        .1
                }
            });
        }
        Ok(caps)
    }
}

/// `compute,utility,graphics,video` (those in the set, in that order), or `none`.
impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Capabilities::NONE {
            return f.write_str("none");
        }
        let mut first = true;
        for (name, cap) in NAMES {
            if self.contains(cap) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// 3D classes, Turing to Hopper (`clc597.h` TURING_A to `clcb97.h` HOPPER_A).
const GRAPHICS_3D: [u32; 5] = [0xc597, 0xc697, 0xc797, 0xc997, 0xcb97];
/// Video classes, Turing to Hopper, as the 535 headers have them: decoders (`cl*b0.h`),
/// encoders (`cl*b7.h`), JPEG (`cl*d1.h`) and optical flow (`cl*fa.h`).
const VIDEO_CLASSES: [u32; 15] = [
    0xc4b0, 0xc6b0, 0xc7b0, 0xc9b0, 0xb8b0, // decoders
    0xc4b7, 0xc7b7, 0xc9b7, // encoders
    0xc4d1, 0xc9d1, 0xb8d1, // JPEG
    0xc6fa, 0xc7fa, 0xc9fa, 0xb8fa, // optical flow
];

/// What an RM_ALLOC of `class_id` needs: one of the returned capabilities (none if empty).
/// Every class it names is one the filter lets through (to a cgroup with the capability);
/// the 3D and video objects are not metered by size, like the compute objects.
pub fn alloc_need(class_id: u32) -> Capabilities {
    match class_id {
        c if class::COMPUTE.contains(&c) => Capabilities::COMPUTE,
        c if GRAPHICS_3D.contains(&c) => Capabilities::GRAPHICS,
        c if VIDEO_CLASSES.contains(&c) => Capabilities::VIDEO,
        class::NV01_MEMORY_LOCAL_USER
        | class::NV01_MEMORY_SYSTEM
        | class::NV01_MEMORY_SYSTEM_OS_DESCRIPTOR
        | class::NV01_MEMORY_VIRTUAL
        | class::NV50_MEMORY_VIRTUAL
        | class::FERMI_VASPACE_A
        | class::FERMI_CONTEXT_SHARE_A
        | class::GT200_DEBUGGER
        | class::KEPLER_CHANNEL_GROUP_A => Capabilities::ENGINES,
        c if class::GPFIFO_CHANNELS.contains(&c)
            || class::DMA_COPY.contains(&c)
            || class::USERMODE.contains(&c) =>
        {
            Capabilities::ENGINES
        }
        _ => Capabilities::NONE,
    }
}

/// Why a call is refused for a missing capability, for the log.
pub const MISSING_CAPABILITY: &str = "needs a capability the cgroup lacks (its capabilities file)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_show() {
        for (text, shown) in [
            ("compute,utility", "compute,utility"),
            ("utility, compute\n", "compute,utility"),
            ("video", "video"),
            ("all", "compute,utility,graphics,video"),
            ("graphics,all", "compute,utility,graphics,video"),
            ("none", "none"),
            ("", "none"),
            ("\n", "none"),
        ] {
            assert_eq!(
                Capabilities::parse(text).unwrap().to_string(),
                shown,
                "{text:?}"
            );
        }
        for bad in [
            "compute;utility",
            "display",
            "compat32",
            "COMPUTE",
            "none,video",
        ] {
            assert!(Capabilities::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Capabilities::DEFAULT.to_string(), "compute,utility");
    }

    #[test]
    fn what_needs_what() {
        let utility = Capabilities::UTILITY;
        let video = Capabilities::VIDEO;
        // A channel needs an engine: utility alone is not one.
        let channel = class::GPFIFO_CHANNELS[0];
        assert!(!utility.allows(alloc_need(channel)));
        assert!(video.allows(alloc_need(channel)));
        assert!(Capabilities::COMPUTE.allows(alloc_need(channel)));
        // A compute object needs compute.
        assert!(!video.allows(alloc_need(class::COMPUTE[0])));
        // HOPPER_A, NVB8B0_VIDEO_DECODER.
        assert_eq!(alloc_need(0xcb97), Capabilities::GRAPHICS);
        assert_eq!(alloc_need(0xb8b0), Capabilities::VIDEO);
        // Clients, devices and subdevices need nothing.
        for c in [
            class::NV01_ROOT_CLIENT,
            class::NV01_DEVICE_0,
            class::NV20_SUBDEVICE_0,
        ] {
            assert!(Capabilities::NONE.allows(alloc_need(c)));
        }
    }
}
