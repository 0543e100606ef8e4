//! The checks on one crate, and what they found, as text.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::graph::{self, FileGraph};
use crate::names;
use crate::tree::{self, Crate, LoadError};

/// The identifiers a core file must not contain, by default: NVIDIA's and DRM's names.
pub const DEFAULT_FORBID: &[&str] = &[
    "(?i)nvidia",
    "(?i)drm",
    "(?i)uvm",
    "^nv_",
    "^NV_",
    "^Nv[A-Z]",
];

pub struct Options {
    /// The crate root file.
    pub root: PathBuf,
    /// Folders whose files are the core.
    pub core: Vec<PathBuf>,
    /// An identifier matching any of these fails a core file.
    pub forbid: Vec<Regex>,
    /// Paths are shown relative to this folder.
    pub base: PathBuf,
}

/// What the checks found.
pub struct Report {
    /// The import table, one line per file of the crate's own folder.
    pub table: Vec<String>,
    /// One block of lines per import cycle (strongly connected component).
    pub cycles: Vec<Vec<String>>,
    /// One line per forbidden identifier in a core file, or core folder without files.
    pub core: Vec<String>,
    /// How many files the crate has.
    pub files: usize,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.cycles.is_empty() && self.core.is_empty()
    }
}

pub fn run(options: &Options) -> Result<Report, LoadError> {
    let krate = Crate::load(&options.root, &options.base)?;
    let edges = graph::edges(&krate);
    let table = graph::table(&krate, &edges)
        .into_iter()
        .map(|(file, targets)| {
            let targets: Vec<String> = targets.into_iter().collect();
            format!("{file} -> {}", targets.join(", "))
                .trim_end()
                .to_string()
        })
        .collect();
    Ok(Report {
        table,
        cycles: cycles(&krate, &edges),
        core: core_names(&krate, options),
        files: krate.files.len(),
    })
}

fn cycles(krate: &Crate, edges: &[graph::Edge]) -> Vec<Vec<String>> {
    let graph = FileGraph::new(krate, edges);
    graph
        .cycles()
        .iter()
        .map(|scc| {
            let members: Vec<&str> = scc.iter().map(|&n| graph.names[n].as_str()).collect();
            let mut lines = vec![format!(
                "import cycle between {} files: {}",
                scc.len(),
                members.join(", ")
            )];
            for chain in graph.chains(scc) {
                let mut names: Vec<&str> = chain.iter().map(|&n| graph.names[n].as_str()).collect();
                names.push(names[0]);
                lines.push(format!("  {}", names.join(" -> ")));
                for (i, &from) in chain.iter().enumerate() {
                    let to = chain[(i + 1) % chain.len()];
                    let edge = graph.succ[from][&to];
                    lines.push(format!(
                        "    {}:{}: {}",
                        krate.show(&krate.modules[edge.from].file),
                        edge.line,
                        edge.text
                    ));
                }
            }
            lines
        })
        .collect()
}

fn core_names(krate: &Crate, options: &Options) -> Vec<String> {
    let mut found = Vec::new();
    let mut core_files: BTreeSet<&Path> = BTreeSet::new();
    for dir in &options.core {
        let dir = tree::absolute(dir);
        let before = core_files.len();
        core_files.extend(
            krate
                .files
                .keys()
                .filter(|file| file.starts_with(&dir))
                .map(PathBuf::as_path),
        );
        if core_files.len() == before {
            found.push(format!(
                "{}: no file of the crate is in this core folder",
                krate.show(&dir)
            ));
        }
    }
    for file in core_files {
        let hits: BTreeSet<(usize, String)> = names::idents(&krate.files[file])
            .into_iter()
            .filter(|(ident, _)| options.forbid.iter().any(|re| re.is_match(ident)))
            .map(|(ident, line)| (line, ident))
            .collect();
        for (line, ident) in hits {
            found.push(format!(
                "{}:{line}: core file names {ident}",
                krate.show(file)
            ));
        }
    }
    found
}
