//! The commands of `/sys/kernel/fakegpu/cgroups/control`, which creates and removes the
//! per-cgroup entries: `add TARGET` or `remove TARGET`, where TARGET is a cgroup v2 path
//! (starting with `/`, resolved in the writer's cgroup namespace) or a cgroup id in decimal
//! (the inode number of the cgroup's directory, as `stat -c %i` prints it).

/// The cgroup a command names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// A path from the root of the writer's cgroup namespace.
    Path(&'a str),
    /// A cgroup id.
    Id(u64),
}

/// A command written to the control file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Create the entry of a cgroup (it then shows in sysfs and its limits apply).
    Add(Target<'a>),
    /// Remove it.
    Remove(Target<'a>),
}

/// Longest path accepted (the kernel's `PATH_MAX`, with its NUL).
pub const PATH_MAX: usize = 4095;

/// The message for any control write that is not a command.
pub const USAGE: &str =
    "expected 'add /cgroup/path', 'add ID', 'remove /cgroup/path' or 'remove ID'";

/// Parses one command (one trailing newline allowed).
pub fn parse(text: &str) -> Result<Command<'_>, &'static str> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let (verb, target) = text.split_once(' ').ok_or(USAGE)?;
    let target = target.trim_matches(' ');
    let target = if target.starts_with('/') {
        if target.len() > PATH_MAX || target.contains(['\0', '\n']) {
            return Err("not a cgroup path");
        }
        Target::Path(target)
    } else if !target.is_empty() && target.bytes().all(|b| b.is_ascii_digit()) {
        Target::Id(target.parse().map_err(|_| "cgroup id out of range")?)
    } else {
        return Err(USAGE);
    };
    match verb {
        "add" => Ok(Command::Add(target)),
        "remove" => Ok(Command::Remove(target)),
        _ => Err(USAGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse("add /team-a/job1\n"),
            Ok(Command::Add(Target::Path("/team-a/job1")))
        );
        assert_eq!(parse("add /"), Ok(Command::Add(Target::Path("/"))));
        assert_eq!(parse("remove 1234"), Ok(Command::Remove(Target::Id(1234))));
        for bad in [
            "",
            "add",
            "add ",
            "add x",
            "add -1",
            "add 99999999999999999999999",
            "delete /a",
            "ADD /a",
            "add /a\n\n",
            "add 12a",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse("add 99999999999999999999999"),
            Err("cgroup id out of range")
        );
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,80}") {
            let _ = parse(&text);
        }
    }
}
