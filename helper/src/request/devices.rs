//! Which GPUs a container asks for, in NVIDIA_VISIBLE_DEVICES's conventions (`all`, `none`,
//! `void` or minors), and lists of GPUs as values and messages write them.

use std::fmt;

/// Which GPUs a container asks for (NVIDIA_VISIBLE_DEVICES conventions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Devices {
    /// Every GPU.
    All,
    /// No GPU, but the container still gets the control node (NVIDIA's `none`).
    None,
    /// Nothing at all: the hook leaves the container alone (NVIDIA's `void`, or empty).
    Void,
    /// These GPUs, by minor (`/dev/nvidiaN`'s N), in the order asked, without repeats.
    List(Vec<u32>),
}

impl Devices {
    /// Parses `all`, `none`, `void`, an empty string (`void`) or minors separated by commas
    /// (`0, 2`; repeats collapse). The error says what was expected, without the key.
    pub fn parse(text: &str) -> Result<Self, String> {
        const EXPECTED: &str = "expected all, none, void or GPU minors such as 0,2";
        match text.trim() {
            "" | "void" => return Ok(Devices::Void),
            "all" => return Ok(Devices::All),
            "none" => return Ok(Devices::None),
            _ => {}
        }
        let mut minors = Vec::new();
        for item in text.split(',').map(str::trim) {
            // NVIDIA's tools also take UUIDs (GPU-..., MIG-...) and MIG indices (0:1).
            if item.starts_with("GPU-") || item.starts_with("MIG-") || item.contains(':') {
                return Err("GPU UUIDs are not supported yet; use indices".into());
            }
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(EXPECTED.into());
            }
            let minor: u32 = item
                .parse()
                .map_err(|_| format!("GPU {item} is out of range"))?;
            if !minors.contains(&minor) {
                minors.push(minor);
            }
        }
        Ok(Devices::List(minors))
    }
}

impl fmt::Display for Devices {
    /// The form [`Devices::parse`] takes back: `all`, `none`, `void` or `0,2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Devices::All => f.write_str("all"),
            Devices::None => f.write_str("none"),
            Devices::Void => f.write_str("void"),
            Devices::List(minors) => f.write_str(&join(minors)),
        }
    }
}

/// Minors as `0,2`.
pub(super) fn join(minors: &[u32]) -> String {
    minors
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// GPUs as messages name them: `GPUs 0,1`, `GPU 0`, `no GPUs`.
pub(super) fn gpus_text(gpus: &[u32]) -> String {
    match gpus {
        [] => "no GPUs".into(),
        [one] => format!("GPU {one}"),
        _ => format!("GPUs {}", join(gpus)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn devices_forms() {
        assert_eq!(Devices::parse("all"), Ok(Devices::All));
        assert_eq!(Devices::parse(" none "), Ok(Devices::None));
        assert_eq!(Devices::parse("void"), Ok(Devices::Void));
        assert_eq!(Devices::parse(""), Ok(Devices::Void));
        assert_eq!(
            Devices::parse("2, 0 ,2,1"),
            Ok(Devices::List(vec![2, 0, 1]))
        );
        for bad in ["0,", ",", "0;1", "-1", "0-2", "all,0", "x", "99999999999"] {
            assert!(Devices::parse(bad).is_err(), "{bad}");
        }
        for uuid in [
            "GPU-4a1f0c2e-0000",
            "0,GPU-1",
            "MIG-GPU-1/0/0",
            "MIG-5c1d",
            "0:1",
        ] {
            assert_eq!(
                Devices::parse(uuid),
                Err("GPU UUIDs are not supported yet; use indices".into())
            );
        }
        for d in [
            Devices::All,
            Devices::None,
            Devices::Void,
            Devices::List(vec![3, 1]),
        ] {
            assert_eq!(Devices::parse(&d.to_string()), Ok(d));
        }
    }

    proptest! {
        #[test]
        fn device_lists_read_back(minors in proptest::collection::vec(any::<u32>(), 1..6)) {
            let text = minors.iter().map(u32::to_string).collect::<Vec<_>>().join(" , ");
            let mut unique = Vec::new();
            for m in minors {
                if !unique.contains(&m) {
                    unique.push(m);
                }
            }
            prop_assert_eq!(Devices::parse(&text), Ok(Devices::List(unique)));
        }
    }
}
