//! Reading `/proc/devices`: which char major a driver registered under a name. This is how
//! fakegpu finds NVIDIA's UVM device (a dynamic major) without any node in `/dev`, the way
//! `nvidia-modprobe` does.

/// The major of the character device registered as `name`, if any.
///
/// `text` is the content of `/proc/devices`: a "Character devices:" section of
/// `"%3d %s"` lines, then a "Block devices:" section, which is not searched.
pub fn char_major(text: &str, name: &str) -> Option<u32> {
    let mut in_char = false;
    for line in text.lines() {
        let line = line.trim();
        if line.ends_with(':') {
            in_char = line == "Character devices:";
            continue;
        }
        if !in_char {
            continue;
        }
        let Some((major, rest)) = line.split_once(" ") else {
            continue;
        };
        if rest.trim() == name {
            return major.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SAMPLE: &str = "Character devices:\n  1 mem\n195 nvidia-frontend\n226 drm\n\
        510 nvidia-uvm\n\nBlock devices:\n  8 sd\n511 nvidia-uvm-block\n";

    #[test]
    fn finds_char_majors_by_exact_name() {
        assert_eq!(char_major(SAMPLE, "nvidia-uvm"), Some(510));
        assert_eq!(char_major(SAMPLE, "nvidia-frontend"), Some(195));
        assert_eq!(char_major(SAMPLE, "mem"), Some(1));
        assert_eq!(char_major(SAMPLE, "nvidia"), None);
        assert_eq!(
            char_major(SAMPLE, "sd"),
            None,
            "block devices are not char devices"
        );
        assert_eq!(char_major("", "mem"), None);
    }

    proptest! {
        #[test]
        fn never_panics(text in "[0-9a-z :\n-]{0,200}", name in "[a-z-]{0,12}") {
            let _ = char_major(&text, &name);
        }
    }
}
