//! Device rules, as config.json's `linux.resources.devices` holds them: reading them from
//! config.json, checking their access strings, writing them as lines, and what a list of
//! them means. The two enforcers, the cgroup v2 program ([`program`](super::program)) and
//! the cgroup v1 files ([`v1`](super::v1)), both follow the semantics below.
//!
//! # Semantics
//!
//! Default deny; the last rule that matches a request decides. A rule matches a request
//! (device type, major, minor, access bits) when its type is the request's (`a`: any), its
//! major and minor are the request's (`None`: any), and:
//!
//! - an allow rule grants *every* requested access bit (the request's bits are a subset of
//!   the rule's), as runc's and youki's programs check;
//! - a deny rule forbids *any* requested access bit (the sets intersect).
//!
//! The second point is not a plain subset test, on purpose: the kernel asks about
//! `open(O_RDWR)` as one request with both `r` and `w`, so with a subset test
//! `allow c 1:3 rwm, deny c 1:3 w` would let O_RDWR through. runc gets that right another
//! way: its cgroup v1 emulator subtracts a deny's bits from the allow with the same key
//! before building an allow-only program.
//!
//! Compared with runc (whose emulator gives cgroup v1's results), this is stricter where
//! the two differ, except in two shapes of rule list runtimes don't write:
//!
//! - Stricter: a deny inside a wider allow (`allow c *:* m, deny c 195:* rwm` denies mknod
//!   of 195:*; runc refuses such a list), a deny wider than an earlier allow
//!   (`allow c 1:3 rwm, deny c *:* w` denies writing 1:3; runc only removes an exact key),
//!   and two allows with one key whose access only together covers a request.
//! - Looser: an allow wider than an earlier deny in allow-all mode (`allow a, deny c 1:3,
//!   allow c *:*` allows 1:3 here, denies it in runc), and `a` rules other than
//!   `a *:* rwm`, which runc treats as "reset to allow-all / deny-all" whatever their
//!   numbers and access, and this takes literally.

use std::fmt::Display;

/// Which device type a rule covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `a`: character and block.
    All,
    /// `c`.
    Char,
    /// `b`.
    Block,
}

impl Kind {
    /// The letter config.json and the v1 files use.
    fn letter(self) -> char {
        match self {
            Kind::All => 'a',
            Kind::Char => 'c',
            Kind::Block => 'b',
        }
    }
}

/// One device rule, as in config.json's `linux.resources.devices`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Allow or deny.
    pub allow: bool,
    /// Device type.
    pub kind: Kind,
    /// `None`: any major.
    pub major: Option<u32>,
    /// `None`: any minor.
    pub minor: Option<u32>,
    /// Any of `r`, `w`, `m`.
    pub access: String,
}

// Access bits, as in the high half of bpf_cgroup_dev_ctx.access_type (BPF_DEVCG_ACC_*).
pub(super) const ACC_MKNOD: u16 = 1;
pub(super) const ACC_READ: u16 = 2;
pub(super) const ACC_WRITE: u16 = 4;
pub(super) const ACC_ALL: u16 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// The access bits of a string of `r`, `w`, `m` (repeats allowed), or the first other
/// character.
pub(super) fn access_bits(access: &str) -> Result<u16, char> {
    access.chars().try_fold(0, |bits, c| match c {
        'r' => Ok(bits | ACC_READ),
        'w' => Ok(bits | ACC_WRITE),
        'm' => Ok(bits | ACC_MKNOD),
        other => Err(other),
    })
}

/// `bits` as an access string in the kernel's order (`rwm`).
pub(super) fn access_string(bits: u16) -> String {
    [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|&(_, c)| c)
        .collect()
}

/// The access bits `rule` stands for when a program has to be built whatever it holds:
/// unknown letters fail closed (an allow grants only the letters it spells right, a deny
/// denies everything). [`apply_v2`](super::v2::apply_v2) and
/// [`apply_v1`](super::v1::apply_v1) reject such rules before this is used.
pub(super) fn effective_access(rule: &Rule) -> u16 {
    match access_bits(&rule.access) {
        Ok(bits) => bits,
        Err(_) if rule.allow => {
            access_bits(&rule.access.replace(|c| !"rwm".contains(c), "")).unwrap_or(0)
        }
        Err(_) => ACC_ALL,
    }
}

/// Checks every rule's access string, so nothing is applied half-way.
pub(super) fn validate(rules: &[Rule]) -> Result<(), String> {
    for (i, rule) in rules.iter().enumerate() {
        if let Err(c) = access_bits(&rule.access) {
            return Err(format!(
                "rule {i} ({}): access {c:?} is not r, w or m",
                rule_line(rule)
            ));
        }
    }
    Ok(())
}

/// The rules of config.json's `linux.resources.devices`, `devices` (absent: none). A
/// malformed rule is an error naming it.
///
/// Each entry: `allow` (bool, required), `type` (`a`, `c` or `b`; absent or null: `a`),
/// `major` and `minor` (absent, null or -1: any; else 0..=u32::MAX), `access` (letters of
/// `rwm`; absent or null: `rwm`; stored in `rwm` order).
pub fn rules_from_config(devices: Option<&serde_json::Value>) -> Result<Vec<Rule>, String> {
    const WHERE: &str = "config.json linux.resources.devices";
    let entries = match devices {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(entries)) => entries,
        Some(other) => return Err(format!("{WHERE}: expected an array, got {other}")),
    };
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| rule_from_json(entry).map_err(|e| format!("{WHERE}[{i}]: {e}")))
        .collect()
}

/// One entry of `linux.resources.devices`.
fn rule_from_json(entry: &serde_json::Value) -> Result<Rule, String> {
    let obj = entry
        .as_object()
        .ok_or_else(|| format!("expected an object, got {entry}"))?;
    let allow = match obj.get("allow") {
        Some(serde_json::Value::Bool(b)) => *b,
        None => return Err("\"allow\" is missing".into()),
        Some(other) => return Err(format!("\"allow\": expected true or false, got {other}")),
    };
    let kind = match obj.get("type") {
        None | Some(serde_json::Value::Null) => Kind::All,
        Some(serde_json::Value::String(s)) => match s.as_str() {
            "a" => Kind::All,
            "c" => Kind::Char,
            "b" => Kind::Block,
            _ => {
                return Err(format!(
                    "\"type\": expected \"a\", \"c\" or \"b\", got {s:?}"
                ))
            }
        },
        Some(other) => return Err(format!("\"type\": expected a string, got {other}")),
    };
    let access = match obj.get("access") {
        None | Some(serde_json::Value::Null) => ACC_ALL,
        Some(serde_json::Value::String(s)) => {
            access_bits(s).map_err(|c| format!("\"access\": {c:?} in {s:?} is not r, w or m"))?
        }
        Some(other) => return Err(format!("\"access\": expected a string, got {other}")),
    };
    Ok(Rule {
        allow,
        kind,
        major: dev_number(obj.get("major")).map_err(|e| format!("\"major\": {e}"))?,
        minor: dev_number(obj.get("minor")).map_err(|e| format!("\"minor\": {e}"))?,
        access: access_string(access),
    })
}

/// A major or minor: absent, null or -1 is any.
fn dev_number(value: Option<&serde_json::Value>) -> Result<Option<u32>, String> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let out_of_range =
        |n: &dyn Display| format!("{n} is out of range (0..=4294967295, or -1 for any)");
    match (value.as_i64(), value.as_u64()) {
        (Some(-1), _) => Ok(None),
        (Some(n), _) => u32::try_from(n).map(Some).map_err(|_| out_of_range(&n)),
        (None, Some(n)) => Err(out_of_range(&n)),
        (None, None) => Err(format!("expected an integer, got {value}")),
    }
}

/// A rule as a log line, e.g. `allow c 195:* rwm`.
pub fn rule_line(rule: &Rule) -> String {
    format!(
        "{} {}",
        if rule.allow { "allow" } else { "deny" },
        kernel_line(rule.kind, rule.major, rule.minor, &rule.access)
    )
}

/// The v1 devices file format: `c 195:* rwm`.
pub(super) fn kernel_line(
    kind: Kind,
    major: Option<u32>,
    minor: Option<u32>,
    access: &str,
) -> String {
    let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
    format!("{} {}:{} {access}", kind.letter(), num(major), num(minor))
}

#[cfg(test)]
pub(super) mod fixtures {
    //! Rules the tests of the device cgroup's files share.

    use super::{Kind, Rule};

    /// A rule from its fields.
    pub fn rule(
        allow: bool,
        kind: Kind,
        major: Option<u32>,
        minor: Option<u32>,
        access: &str,
    ) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: access.into(),
        }
    }

    /// runc's default rules (as Docker writes them) plus what the hook appends.
    pub fn typical() -> Vec<Rule> {
        let rwm = |major, minor| rule(true, Kind::Char, Some(major), minor, "rwm");
        vec![
            rule(false, Kind::All, None, None, "rwm"),
            rule(true, Kind::Char, None, None, "m"),
            rule(true, Kind::Block, None, None, "m"),
            rwm(1, Some(3)),
            rwm(1, Some(5)),
            rwm(1, Some(7)),
            rwm(5, Some(0)),
            rwm(5, Some(1)),
            rwm(5, Some(2)),
            rwm(1, Some(8)),
            rwm(1, Some(9)),
            rwm(136, None),
            rwm(10, Some(200)),
            // A GPU the runtime was told to pass through.
            rule(true, Kind::Char, Some(195), Some(0), "rw"),
            // The hook's.
            rule(true, Kind::Char, Some(240), Some(0), "rw"),
            rule(false, Kind::Char, Some(195), None, "rwm"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::rule;
    use super::*;

    #[test]
    fn config_rules() {
        let config = serde_json::json!({"linux": {"resources": {"devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "mwr"},
            {"allow": true, "type": "c", "major": 136, "minor": -1, "access": "rwm"},
            {"allow": true, "type": "b", "major": null},
            {"allow": false, "type": "a", "major": 4294967295_u64, "minor": 0, "access": ""},
        ]}}});
        let rules = rules_from_config(config.pointer("/linux/resources/devices")).unwrap();
        assert_eq!(
            rules,
            [
                rule(false, Kind::All, None, None, "rwm"),
                rule(true, Kind::Char, Some(1), Some(3), "rwm"),
                rule(true, Kind::Char, Some(136), None, "rwm"),
                rule(true, Kind::Block, None, None, "rwm"),
                rule(false, Kind::All, Some(u32::MAX), Some(0), ""),
            ]
        );
        let lines: Vec<String> = rules.iter().map(rule_line).collect();
        assert_eq!(lines[0], "deny a *:* rwm");
        assert_eq!(lines[2], "allow c 136:* rwm");
        assert_eq!(lines[4], "deny a 4294967295:0 ");

        for absent in [
            serde_json::json!({}),
            serde_json::json!({"linux": {}}),
            serde_json::json!({"linux": {"resources": {}}}),
            serde_json::json!({"linux": {"resources": {"devices": null}}}),
        ] {
            assert_eq!(
                rules_from_config(absent.pointer("/linux/resources/devices")).unwrap(),
                []
            );
        }
    }

    #[test]
    fn config_errors() {
        let err = |devices: serde_json::Value| rules_from_config(Some(&devices)).unwrap_err();
        let ok = serde_json::json!({"allow": true});
        assert!(err(serde_json::json!({})).contains("expected an array"));
        for (bad, what) in [
            (serde_json::json!("c 1:3 rwm"), "[1]: expected an object"),
            (
                serde_json::json!({"type": "c"}),
                "[1]: \"allow\" is missing",
            ),
            (
                serde_json::json!({"allow": "yes"}),
                "[1]: \"allow\": expected true or false",
            ),
            (
                serde_json::json!({"allow": true, "type": "u"}),
                "[1]: \"type\"",
            ),
            (
                serde_json::json!({"allow": true, "major": -2}),
                "[1]: \"major\": -2 is out of range",
            ),
            (
                serde_json::json!({"allow": true, "minor": 4294967296_u64}),
                "[1]: \"minor\": 4294967296",
            ),
            (
                serde_json::json!({"allow": true, "minor": u64::MAX}),
                "[1]: \"minor\": 18446744073709551615 is out of range",
            ),
            (
                serde_json::json!({"allow": true, "minor": "3"}),
                "[1]: \"minor\": expected an integer",
            ),
            (
                serde_json::json!({"allow": true, "major": 1.5}),
                "[1]: \"major\": expected an integer",
            ),
            (
                serde_json::json!({"allow": true, "access": "rwx"}),
                "[1]: \"access\": 'x'",
            ),
        ] {
            let e = err(serde_json::json!([ok, bad]));
            assert!(e.contains(what), "{e:?} should contain {what:?}");
            assert!(
                e.starts_with("config.json linux.resources.devices[1]"),
                "{e}"
            );
        }
    }
}
