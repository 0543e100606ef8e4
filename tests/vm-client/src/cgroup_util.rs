//! Cgroups made by the tests, and their entries in `/sys/kernel/fakegpu/cgroups`.

use std::os::unix::fs::MetadataExt;

/// Where the guest mounts cgroup v2 (tests/vm/init).
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// fakegpu's per-cgroup entries.
pub const ENTRIES: &str = "/sys/kernel/fakegpu/cgroups";

/// Writes `text` to `path` in one write; Err is the errno.
pub fn write_file(path: &str, text: &str) -> Result<(), i32> {
    std::fs::write(path, text).map_err(|e| e.raw_os_error().unwrap_or(-1))
}

/// Reads `path`, or says why not.
pub fn read_file(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// Writes a command to `cgroups/control`; Err is the errno.
pub fn control(cmd: &str) -> Result<(), i32> {
    write_file(&format!("{ENTRIES}/control"), cmd)
}

/// A cgroup the test made, with a fakegpu entry; removed (entry and cgroup, with this
/// process moved back to the root) on drop.
pub struct TestCgroup {
    /// Its path below the cgroup root, starting with `/`.
    pub path: String,
    /// Its id (the directory's inode number).
    pub id: u64,
}

impl TestCgroup {
    /// Makes `/sys/fs/cgroup{path}` and its fakegpu entry.
    pub fn create(path: &str) -> Result<Self, String> {
        let dir = format!("{CGROUP_ROOT}{path}");
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir).map_err(|e| format!("mkdir {dir}: {e}"))?;
        let id = std::fs::metadata(&dir)
            .map_err(|e| format!("stat {dir}: {e}"))?
            .ino();
        control(&format!("add {path}\n")).map_err(|e| format!("add {path}: errno {e}"))?;
        Ok(TestCgroup {
            path: path.to_owned(),
            id,
        })
    }

    /// A file of the entry.
    pub fn entry_file(&self, name: &str) -> String {
        format!("{ENTRIES}/{}/{name}", self.id)
    }

    /// Writes a file of the entry.
    pub fn set(&self, name: &str, value: &str) -> Result<(), String> {
        write_file(&self.entry_file(name), value)
            .map_err(|e| format!("write {value:?} to {name}: errno {e}"))
    }

    /// Reads a file of the entry.
    pub fn get(&self, name: &str) -> Result<String, String> {
        read_file(&self.entry_file(name))
    }

    /// A single-valued entry file (`pinned.current`, `drm.memory.current`, `submissions`):
    /// its last word as a number.
    pub fn single(&self, name: &str) -> Result<u64, String> {
        let text = self.get(name)?;
        text.trim()
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} reads {text:?}"))
    }

    /// Moves this process into the cgroup.
    pub fn enter(&self) -> Result<(), String> {
        move_to(&self.path)
    }
}

/// Moves this process into the cgroup at `path` (`/` for the root).
pub fn move_to(path: &str) -> Result<(), String> {
    let procs = format!("{CGROUP_ROOT}{path}/cgroup.procs").replace("//", "/");
    write_file(&procs, &std::process::id().to_string())
        .map_err(|e| format!("move into {path}: errno {e}"))
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = move_to("/");
        let _ = control(&format!("remove {}\n", self.id));
        let _ = std::fs::remove_dir(format!("{CGROUP_ROOT}{}", self.path));
    }
}
