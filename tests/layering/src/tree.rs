//! The module tree of a crate, found from its root file the way rustc finds it: `mod x;`
//! is `x.rs` or `x/mod.rs` (beside a crate root or a `mod.rs`, or in `a/b/` for a file
//! `a/b.rs`), `#[path]` is relative to the current folder, and an inline `mod m { ... }` is a
//! level of its own inside the same file (with `#[path = "dir"]`, its `mod f;` is
//! `dir/f.rs`). Anything under `#[cfg(test)]` is left out.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

use syn::Item;

use crate::attrs;
use crate::tokens::{line, name};

pub type ModId = usize;

/// The crate root's module.
pub const ROOT: ModId = 0;

pub struct Module {
    /// Its name in its parent (empty for the crate root).
    pub name: String,
    pub parent: Option<ModId>,
    pub children: BTreeMap<String, ModId>,
    /// The file that holds its items.
    pub file: PathBuf,
    /// The inline modules from the top of `file` down to this one (empty for a file's own
    /// module).
    pub inline: Vec<String>,
    /// For an inline module with `#[path]`: the folder of its `mod x;` children. Such a
    /// module is a node of the file graph of its own.
    pub folder: Option<PathBuf>,
    /// Its items except its `mod` items and anything under `#[cfg(test)]`.
    pub items: Vec<Item>,
}

pub struct Crate {
    /// Every module; the crate root is `ROOT`.
    pub modules: Vec<Module>,
    /// Every file of the crate, parsed.
    pub files: BTreeMap<PathBuf, syn::File>,
    /// The root file's folder: the crate's own folder.
    pub dir: PathBuf,
    /// Paths are shown relative to this folder.
    pub base: PathBuf,
}

/// Why a crate could not be read.
#[derive(Debug)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

impl Crate {
    /// Reads the crate whose root file is `root`; paths are shown relative to `base`.
    pub fn load(root: &Path, base: &Path) -> Result<Crate, LoadError> {
        let root = absolute(root);
        let dir = root.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut krate = Crate {
            modules: vec![Module {
                name: String::new(),
                parent: None,
                children: BTreeMap::new(),
                file: root.clone(),
                inline: Vec::new(),
                folder: None,
                items: Vec::new(),
            }],
            files: BTreeMap::new(),
            dir,
            base: absolute(base),
        };
        krate.load_file(ROOT, &root, None, &mut Vec::new())?;
        Ok(krate)
    }

    /// Parses `path` as the file of module `id`. `relative` is the module's name when the
    /// file is `a/name.rs` (its `mod x;` children are then in `a/name/`).
    fn load_file(
        &mut self,
        id: ModId,
        path: &Path,
        relative: Option<&str>,
        loading: &mut Vec<PathBuf>,
    ) -> Result<(), LoadError> {
        if loading.iter().any(|p| p == path) {
            return Err(LoadError(format!("{}: includes itself", self.show(path))));
        }
        let text =
            fs::read_to_string(path).map_err(|e| LoadError(format!("{}: {e}", self.show(path))))?;
        let file = syn::parse_file(&text)
            .map_err(|e| LoadError(format!("{}:{}: {e}", self.show(path), line(e.span()))))?;
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        loading.push(path.to_path_buf());
        self.add_items(id, &file.items, &dir, relative, loading)?;
        loading.pop();
        self.files.insert(path.to_path_buf(), file);
        Ok(())
    }

    /// Adds the items of one module level: `mod` items become child modules, the rest
    /// stays with the module. `dir` and `relative` say where its `mod x;` files are.
    fn add_items(
        &mut self,
        id: ModId,
        items: &[Item],
        dir: &Path,
        relative: Option<&str>,
        loading: &mut Vec<PathBuf>,
    ) -> Result<(), LoadError> {
        for item in items {
            if attrs::is_cfg_test(attrs::of_item(item)) {
                continue;
            }
            let Item::Mod(m) = item else {
                self.modules[id].items.push(item.clone());
                continue;
            };
            let child_name = name(&m.ident);
            let path_attr = attrs::path(&m.attrs);
            if let Some((_, inner)) = &m.content {
                let (child_dir, folder) = match path_attr {
                    Some(p) => {
                        let folder = normalize(&dir.join(p));
                        (folder.clone(), Some(folder))
                    }
                    None => {
                        let mut child_dir = dir.to_path_buf();
                        child_dir.extend(relative);
                        child_dir.push(&child_name);
                        (child_dir, None)
                    }
                };
                let mut inline = self.modules[id].inline.clone();
                inline.push(child_name.clone());
                let file = self.modules[id].file.clone();
                let child = self.add_module(id, child_name, file, inline, folder);
                self.add_items(child, inner, &child_dir, None, loading)?;
                continue;
            }
            let candidates: Vec<(PathBuf, Option<String>)> = match path_attr {
                // A `#[path]` file counts as a `mod.rs`: its children are beside it.
                Some(p) => vec![(normalize(&dir.join(p)), None)],
                None => {
                    let mut base = dir.to_path_buf();
                    base.extend(relative);
                    vec![
                        (
                            base.join(format!("{child_name}.rs")),
                            Some(child_name.clone()),
                        ),
                        (base.join(&child_name).join("mod.rs"), None),
                    ]
                }
            };
            match candidates.iter().find(|(path, _)| path.is_file()) {
                Some((path, child_relative)) => {
                    let child = self.add_module(id, child_name, path.clone(), Vec::new(), None);
                    self.load_file(child, path, child_relative.as_deref(), loading)?;
                }
                // Under a `#[cfg]` the file may be missing on purpose.
                None if attrs::has_cfg(&m.attrs) => {}
                None => {
                    let tried: Vec<String> =
                        candidates.iter().map(|(path, _)| self.show(path)).collect();
                    return Err(LoadError(format!(
                        "{}:{}: no file for `mod {child_name};` (looked for {})",
                        self.show(&self.modules[id].file),
                        line(m.ident.span()),
                        tried.join(" and ")
                    )));
                }
            }
        }
        Ok(())
    }

    fn add_module(
        &mut self,
        parent: ModId,
        name: String,
        file: PathBuf,
        inline: Vec<String>,
        folder: Option<PathBuf>,
    ) -> ModId {
        let id = self.modules.len();
        self.modules[parent].children.insert(name.clone(), id);
        self.modules.push(Module {
            name,
            parent: Some(parent),
            children: BTreeMap::new(),
            file,
            inline,
            folder,
            items: Vec::new(),
        });
        id
    }

    /// A path as shown: relative to `base` when inside it.
    pub fn show(&self, path: &Path) -> String {
        path.strip_prefix(&self.base)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The module's path from the crate root, e.g. `abi::nv_rm` (`crate` for the root).
    pub fn module_path(&self, id: ModId) -> String {
        let mut names = Vec::new();
        let mut cur = id;
        while let Some(parent) = self.modules[cur].parent {
            names.push(self.modules[cur].name.as_str());
            cur = parent;
        }
        if names.is_empty() {
            return "crate".to_string();
        }
        names.reverse();
        names.join("::")
    }

    /// Whether `id` is `ancestor` or inside it.
    pub fn is_within(&self, mut id: ModId, ancestor: ModId) -> bool {
        loop {
            if id == ancestor {
                return true;
            }
            match self.modules[id].parent {
                Some(parent) => id = parent,
                None => return false,
            }
        }
    }

    /// The node of the file graph that a module belongs to: its file's module, or the
    /// nearest inline module with `#[path]` (a folder of its own).
    pub fn node(&self, mut id: ModId) -> ModId {
        loop {
            let module = &self.modules[id];
            match module.parent {
                Some(parent) if !module.inline.is_empty() && module.folder.is_none() => id = parent,
                _ => return id,
            }
        }
    }

    /// A node's name: its file, with `::m` for an inline module with `#[path]`.
    pub fn node_name(&self, node: ModId) -> String {
        let module = &self.modules[node];
        let file = self.show(&module.file);
        if module.inline.is_empty() {
            file
        } else {
            format!("{file}::{}", module.inline.join("::"))
        }
    }

    /// Where a node lives: its folder for an inline module with `#[path]`, else its file.
    pub fn home(&self, node: ModId) -> &Path {
        let module = &self.modules[node];
        module.folder.as_deref().unwrap_or(&module.file)
    }

    /// The crate root's child that holds `id` (the root itself for the root).
    pub fn top(&self, mut id: ModId) -> ModId {
        while let Some(parent) = self.modules[id].parent {
            if parent == ROOT {
                return id;
            }
            id = parent;
        }
        id
    }
}

/// The path made absolute (from the current folder) and without `.` and `..`.
pub fn absolute(path: &Path) -> PathBuf {
    let joined = match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_path_buf(),
    };
    normalize(&joined)
}

/// Removes `.` and `..` components without looking at the file system (as rustc joins
/// `#[path]`s; symbolic links are not followed).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}
