//! cgroup v2: replacing the device program attached to the container's cgroup with one
//! built from the rules, without leaving the cgroup less restricted on the way.

use super::bpf::{
    attach_detach, load_program, program_by_id, query_programs, BPF_F_ALLOW_MULTI,
    BPF_F_ALLOW_OVERRIDE, BPF_PROG_ATTACH, BPF_PROG_DETACH, MAX_INSNS,
};
use super::errors::{io_errno, step_err};
use super::program::build_program;
use super::rules::{validate, Rule};
use nix::errno::Errno;
use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;

/// Replaces the device program of cgroup v2 directory `cgroup` with one enforcing `rules`
/// (the runtime's semantics: default deny, the last matching rule decides).
///
/// Needs CAP_SYS_ADMIN in the initial user namespace (taking over the old programs by id
/// does; loading, querying and attaching need CAP_BPF and CAP_NET_ADMIN). The new program
/// is attached before the old ones go, so the cgroup is never less restricted than both:
/// while both are attached a device must pass each.
///
/// - No program attached: ours is attached with BPF_F_ALLOW_MULTI (as runc does).
/// - Programs attached with BPF_F_ALLOW_MULTI (runc, youki, systemd): ours is attached with
///   it too, then each old one is detached by fd (one that vanished meanwhile is fine).
/// - One program attached without it (flags 0 or BPF_F_ALLOW_OVERRIDE, as crun may do):
///   ours is attached with the same flags, which the kernel treats as an atomic swap of
///   the one program. BPF_F_REPLACE is no use there (the kernel takes it only with
///   ALLOW_MULTI), and switching the cgroup to ALLOW_MULTI would need a detach first,
///   leaving a moment with no program, and would make the runtime's own later attaches in
///   its mode fail with EPERM.
///
/// If an old program can't be detached, ours stays attached next to it (both restrict)
/// and this returns the error.
pub fn apply_v2(cgroup: &std::path::Path, rules: &[Rule]) -> Result<(), String> {
    validate(rules).map_err(|e| step_err(cgroup, "rules", e))?;
    let insns = build_program(rules);
    if insns.len() > MAX_INSNS {
        return Err(step_err(
            cgroup,
            "rules",
            format!(
                "{} rules make a program of {} instructions, more than the kernel's {MAX_INSNS}",
                rules.len(),
                insns.len()
            ),
        ));
    }
    let dir: OwnedFd = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(cgroup)
        .map(OwnedFd::from)
        .map_err(|e| step_err(cgroup, "open", io_errno(&e)))?;
    let (flags, old_ids) = query_programs(&dir).map_err(|e| match e {
        Errno::EBADF => step_err(
            cgroup,
            "BPF_PROG_QUERY",
            format!("{e} (not a cgroup v2 directory?)"),
        ),
        e => step_err(cgroup, "BPF_PROG_QUERY", e),
    })?;
    let prog = load_program(&insns).map_err(|e| step_err(cgroup, "BPF_PROG_LOAD", e))?;

    if !old_ids.is_empty() && flags & BPF_F_ALLOW_MULTI == 0 {
        // Single-program mode: attaching with the cgroup's own flags swaps atomically.
        let flags = flags & BPF_F_ALLOW_OVERRIDE;
        return attach_detach(BPF_PROG_ATTACH, &dir, &prog, flags).map_err(|e| {
            step_err(
                cgroup,
                &format!(
                    "BPF_PROG_ATTACH (replacing program {}, flags {flags})",
                    old_ids[0]
                ),
                e,
            )
        });
    }

    attach_detach(BPF_PROG_ATTACH, &dir, &prog, BPF_F_ALLOW_MULTI)
        .map_err(|e| step_err(cgroup, "BPF_PROG_ATTACH (BPF_F_ALLOW_MULTI)", e))?;
    for id in old_ids {
        let old = match program_by_id(id) {
            Ok(fd) => fd,
            // Unloaded since the query: nothing to detach.
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                return Err(step_err(
                    cgroup,
                    &format!(
                        "BPF_PROG_GET_FD_BY_ID (old program {id}; the new one is attached too)"
                    ),
                    e,
                ))
            }
        };
        match attach_detach(BPF_PROG_DETACH, &dir, &old, 0) {
            Ok(()) | Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(step_err(
                    cgroup,
                    &format!("BPF_PROG_DETACH (old program {id}; the new one is attached too)"),
                    e,
                ))
            }
        }
    }
    Ok(())
}
