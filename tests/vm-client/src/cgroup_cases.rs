//! fakegpu's per-cgroup entries in sysfs: created and removed through `cgroups/control`
//! by path or id, listed there, bad writes refused with EINVAL and no change, writes by
//! anyone but root with CAP_SYS_ADMIN refused, and entries of removed cgroups reaped.

use crate::cgroup_util::{control, read_file, write_file, TestCgroup, CGROUP_ROOT, ENTRIES};
use crate::{ensure, Case};
use std::time::{Duration, Instant};

/// Every entry case.
pub const ALL: &[Case] = &[
    ("cgroup_entries_in_sysfs", cgroup_entries_in_sysfs),
    ("cgroup_bad_writes_refused", cgroup_bad_writes_refused),
    (
        "cgroup_writes_need_cap_sys_admin",
        cgroup_writes_need_cap_sys_admin,
    ),
    (
        "cgroup_entry_reaped_after_rmdir",
        cgroup_entry_reaped_after_rmdir,
    ),
];

fn listing() -> Result<String, String> {
    read_file(&format!("{ENTRIES}/control"))
}

fn cgroup_entries_in_sysfs() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-entry")?;
    let path = cg.get("path")?;
    ensure(path == "/fakegpu-entry\n", || {
        format!("path reads {path:?}")
    })?;
    let gpus = cg.get("gpus")?;
    ensure(gpus == "all\n", || {
        format!("gpus reads {gpus:?} by default")
    })?;
    let line = format!("{} /fakegpu-entry", cg.id);
    ensure(listing()?.lines().any(|l| l == line), || {
        format!("control lists no `{line}`")
    })?;
    ensure(control("add /fakegpu-entry") == Err(libc::EEXIST), || {
        "a second add is not EEXIST".into()
    })?;
    cg.set("gpus", "0,1\n")?;
    let gpus = cg.get("gpus")?;
    ensure(gpus == "0-1\n", || format!("gpus reads {gpus:?} after 0,1"))?;

    // By id, and removed by path.
    let dir = format!("{CGROUP_ROOT}/fakegpu-entry2");
    let _ = std::fs::remove_dir(&dir);
    std::fs::create_dir(&dir).map_err(|e| format!("mkdir: {e}"))?;
    let id2 =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dir).map_err(|e| e.to_string())?);
    let by_id = control(&format!("add {id2}\n"));
    let entry2 = format!("{ENTRIES}/{id2}/path");
    let path2 = read_file(&entry2);
    let removed = control("remove /fakegpu-entry2");
    let gone = !std::path::Path::new(&entry2).exists();
    let _ = std::fs::remove_dir(&dir);
    ensure(by_id.is_ok(), || format!("add by id: {by_id:?}"))?;
    ensure(path2.as_deref() == Ok("/fakegpu-entry2\n"), || {
        format!("entry added by id: {path2:?}")
    })?;
    ensure(removed.is_ok() && gone, || {
        format!("remove by path: {removed:?}, directory gone: {gone}")
    })?;
    ensure(
        control("remove /fakegpu-entry2") == Err(libc::EINVAL),
        || "removing a removed cgroup's entry is not EINVAL".into(),
    )?;
    ensure(
        control(&format!("remove {id2}")) == Err(libc::ENOENT),
        || "removing an id without entry is not ENOENT".into(),
    )
}

fn cgroup_bad_writes_refused() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-bad")?;
    cg.set("gpus", "1\n")?;
    let before = listing()?;
    for bad in [
        "\n",
        "add",
        "add \n",
        "add fakegpu-bad",
        "add /no-such-cgroup",
        "add /fakegpu-bad/../..",
        "add 0",
        "add 18446744073709551616",
        "add -1",
        "frobnicate /fakegpu-bad",
        "remove",
        "add /fakegpu-bad\n\n",
    ] {
        let r = control(bad);
        ensure(r == Err(libc::EINVAL), || {
            format!("control {bad:?}: {r:?}, want EINVAL")
        })?;
    }
    ensure(listing()? == before, || {
        "a bad control write changed the entries".into()
    })?;
    for bad in [
        "\n",
        "248",
        "x",
        "3-1",
        "1,",
        "-1",
        "0x1",
        "all,1",
        "1 2",
        "99999999999",
    ] {
        let r = write_file(&cg.entry_file("gpus"), bad);
        ensure(r == Err(libc::EINVAL), || {
            format!("gpus {bad:?}: {r:?}, want EINVAL")
        })?;
    }
    let gpus = cg.get("gpus")?;
    ensure(gpus == "1\n", || {
        format!("gpus reads {gpus:?} after bad writes")
    })
}

/// Runs `f` in a child process and returns its exit code.
fn in_child(f: impl FnOnce() -> i32) -> Result<i32, String> {
    // SAFETY: the test process is single-threaded; the child only makes system calls and
    // exits.
    match unsafe { libc::fork() } {
        -1 => Err("fork failed".into()),
        0 => {
            let code = f();
            // SAFETY: leaves the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => {
            let mut status = 0;
            // SAFETY: waits for our child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            Ok(libc::WEXITSTATUS(status))
        }
    }
}

fn cgroup_writes_need_cap_sys_admin() -> Result<(), String> {
    let cg = TestCgroup::create("/fakegpu-priv")?;
    let gpus = cg.entry_file("gpus");
    // Root without CAP_SYS_ADMIN: fakegpu's own check.
    let g = gpus.clone();
    let code = in_child(move || {
        if crate::sys::drop_cap_sys_admin().is_err() {
            return 90;
        }
        match (write_file(&g, "0\n"), control("add /")) {
            (Err(libc::EPERM), Err(libc::EPERM)) => 0,
            _ => 1,
        }
    })?;
    ensure(code == 0, || {
        format!("root without CAP_SYS_ADMIN: child exit {code}")
    })?;
    // Another user: the files' modes already stop it.
    let g = gpus.clone();
    let code = in_child(move || {
        // SAFETY: changes this child's ids only.
        if unsafe { libc::setresuid(65534, 65534, 65534) } != 0 {
            return 90;
        }
        match (write_file(&g, "0\n"), control("add /")) {
            (Err(libc::EACCES), Err(libc::EACCES)) => 0,
            _ => 1,
        }
    })?;
    ensure(code == 0, || format!("nobody: child exit {code}"))?;
    let now = cg.get("gpus")?;
    ensure(now == "all\n", || {
        format!("gpus reads {now:?} after refused writes")
    })?;
    // Reading needs no privilege.
    let g = gpus.clone();
    let code = in_child(move || {
        // SAFETY: as above.
        if unsafe { libc::setresuid(65534, 65534, 65534) } != 0 {
            return 90;
        }
        i32::from(read_file(&g).is_err())
    })?;
    ensure(code == 0, || "nobody cannot read gpus".into())
}

fn cgroup_entry_reaped_after_rmdir() -> Result<(), String> {
    let dir = format!("{CGROUP_ROOT}/fakegpu-reap");
    let _ = std::fs::remove_dir(&dir);
    std::fs::create_dir(&dir).map_err(|e| format!("mkdir: {e}"))?;
    let id =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&dir).map_err(|e| e.to_string())?);
    control("add /fakegpu-reap").map_err(|e| format!("add: errno {e}"))?;
    let entry = format!("{ENTRIES}/{id}");
    ensure(std::path::Path::new(&entry).exists(), || {
        format!("{entry} missing")
    })?;
    std::fs::remove_dir(&dir).map_err(|e| format!("rmdir: {e}"))?;
    let t0 = Instant::now();
    while std::path::Path::new(&entry).exists() {
        if t0.elapsed() > Duration::from_secs(10) {
            return Err(format!("{entry} still there 10 s after rmdir"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "FIGURE entry of a removed cgroup reaped after {:?}",
        t0.elapsed()
    );
    ensure(!listing()?.contains(&format!("{id} ")), || {
        "control still lists the reaped entry".into()
    })
}
