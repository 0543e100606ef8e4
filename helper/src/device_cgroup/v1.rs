//! cgroup v1: the rules written, in order, to the cgroup's devices.allow and devices.deny,
//! with the extra denies v1 needs to revoke the narrower exceptions it already holds.

use super::errors::{io_errno, step_err};
use super::rules::{
    access_bits, access_string, effective_access, kernel_line, validate, Kind, Rule,
};
use std::fs::{File, OpenOptions};
use std::io::Write;

/// The lines `rule` is written as, to devices.allow or devices.deny. The kernel reads any
/// line starting with `a` as "reset to allow-all / deny-all" whatever follows, so an `a`
/// rule that isn't `a *:* rwm` becomes a `c` and a `b` line. A rule without access is no
/// line at all.
fn v1_lines(rule: &Rule, access: u16) -> Vec<(Kind, String)> {
    if access == 0 {
        return Vec::new();
    }
    let access = access_string(access);
    let kinds: &[Kind] = match rule.kind {
        Kind::All if rule.major.is_some() || rule.minor.is_some() || access != "rwm" => {
            &[Kind::Char, Kind::Block]
        }
        Kind::All => &[Kind::All],
        Kind::Char => &[Kind::Char],
        Kind::Block => &[Kind::Block],
    };
    kinds
        .iter()
        .map(|&k| (k, kernel_line(k, rule.major, rule.minor, &access)))
        .collect()
}

/// One entry of devices.list: `c 195:* rwm`.
fn parse_list_line(line: &str) -> Option<(Kind, Option<u32>, Option<u32>, u16)> {
    let mut fields = line.split_whitespace();
    let kind = match fields.next()? {
        "c" => Kind::Char,
        "b" => Kind::Block,
        "a" => Kind::All,
        _ => return None,
    };
    let (major, minor) = fields.next()?.split_once(':')?;
    let num = |s: &str| {
        if s == "*" {
            Some(None)
        } else {
            s.parse().ok().map(Some)
        }
    };
    let access = access_bits(fields.next()?).ok()?;
    Some((kind, num(major)?, num(minor)?, access))
}

/// Writes `rules` to cgroup v1 devices directory `cgroup` (devices.allow / devices.deny).
///
/// Each rule is written in order, one write per line. v1 removes only the exception with
/// exactly a deny's key, so after each deny this also denies its bits on every narrower
/// exception devices.list shows (`deny c 195:* rwm` then also revokes an earlier
/// `allow c 195:0 rw`). What v1 cannot do is carve a hole in a wider exception: with
/// `allow c *:* m` listed, `deny c 195:* rwm` leaves mknod of 195:* allowed (opening the
/// node stays denied unless another exception allows it).
pub fn apply_v1(cgroup: &std::path::Path, rules: &[Rule]) -> Result<(), String> {
    validate(rules).map_err(|e| step_err(cgroup, "rules", e))?;
    let open = |name: &str| {
        OpenOptions::new()
            .write(true)
            .open(cgroup.join(name))
            .map_err(|e| step_err(cgroup, &format!("open {name}"), io_errno(&e)))
    };
    let mut allow = open("devices.allow")?;
    let mut deny = open("devices.deny")?;
    let write = |file: &mut File, name: &str, line: &str| {
        file.write_all(line.as_bytes())
            .map_err(|e| step_err(cgroup, &format!("{name}: write {line:?}"), io_errno(&e)))
    };
    for rule in rules {
        let access = effective_access(rule);
        for (kind, line) in v1_lines(rule, access) {
            if rule.allow {
                write(&mut allow, "devices.allow", &line)?;
                continue;
            }
            write(&mut deny, "devices.deny", &line)?;
            if kind == Kind::All {
                // Deny-all: no exception is left.
                continue;
            }
            let list = std::fs::read_to_string(cgroup.join("devices.list"))
                .map_err(|e| step_err(cgroup, "read devices.list", io_errno(&e)))?;
            for (k, major, minor, bits) in list.lines().filter_map(parse_list_line) {
                let narrower = k == kind
                    && (rule.major.is_none() || rule.major == major)
                    && (rule.minor.is_none() || rule.minor == minor)
                    && (major, minor) != (rule.major, rule.minor);
                if narrower && bits & access != 0 {
                    write(
                        &mut deny,
                        "devices.deny",
                        &kernel_line(k, major, minor, &access_string(access)),
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_cgroup::rules::fixtures::{rule, typical};
    use crate::device_cgroup::rules::{ACC_ALL, ACC_MKNOD};

    #[test]
    fn v1_line_forms() {
        let lines = |r: &Rule| -> Vec<String> {
            v1_lines(r, effective_access(r))
                .into_iter()
                .map(|(_, l)| l)
                .collect()
        };
        assert_eq!(
            lines(&rule(false, Kind::All, None, None, "rwm")),
            ["a *:* rwm"]
        );
        assert_eq!(
            lines(&rule(false, Kind::All, None, None, "wr")),
            ["c *:* rw", "b *:* rw"]
        );
        assert_eq!(
            lines(&rule(true, Kind::All, Some(1), None, "rwm")),
            ["c 1:* rwm", "b 1:* rwm"]
        );
        assert_eq!(
            lines(&rule(true, Kind::Char, Some(195), None, "rwm")),
            ["c 195:* rwm"]
        );
        assert!(lines(&rule(true, Kind::Char, Some(1), Some(3), "")).is_empty());
        assert_eq!(
            parse_list_line("c 195:* rwm"),
            Some((Kind::Char, Some(195), None, ACC_ALL))
        );
        assert_eq!(
            parse_list_line("b 8:0 m"),
            Some((Kind::Block, Some(8), Some(0), ACC_MKNOD))
        );
        assert_eq!(parse_list_line("junk"), None);
    }

    #[test]
    fn v1_writes_in_order_and_narrows_denies() {
        let dir = std::env::temp_dir().join(format!("fakegpu-devcg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("devices.allow"), "").unwrap();
        std::fs::write(dir.join("devices.deny"), "").unwrap();
        // What the kernel would list after the allows below.
        std::fs::write(
            dir.join("devices.list"),
            "c *:* m\nc 1:3 rwm\nc 195:0 rw\nc 195:255 m\nc 240:0 rw\n",
        )
        .unwrap();
        let mut rules = typical();
        rules.insert(1, rule(true, Kind::All, Some(7), None, "r"));
        apply_v1(&dir, &rules).unwrap();
        let allow = std::fs::read_to_string(dir.join("devices.allow")).unwrap();
        let deny = std::fs::read_to_string(dir.join("devices.deny")).unwrap();
        assert!(
            allow.starts_with("c 7:* rb 7:* rc *:* mb *:* mc 1:3 rwm"),
            "{allow}"
        );
        assert!(allow.ends_with("c 195:0 rwc 240:0 rw"), "{allow}");
        // Deny-all, then the hook's deny and the narrower exceptions it covers.
        assert_eq!(deny, "a *:* rwmc 195:* rwmc 195:0 rwmc 195:255 rwm");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
