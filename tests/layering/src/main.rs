//! fakegpu-layering: `make lint`'s check of a kernel module crate's layering.
//!
//! A Rust-for-Linux module is one crate, so cargo cannot keep its parts apart: any file may
//! name any other. This checker reads the crate from its root file (following `mod x;`,
//! `#[path]` and inline modules as rustc does) and builds its import graph from every
//! `crate::`, `super::` and `self::` path and every `use` of a module in scope, in code,
//! in `use` trees and inside macro invocations' tokens (`pr_info!("{}", crate::x::y())`).
//! It fails
//!
//! - on an import cycle between files: files that need each other cannot be understood,
//!   tested or moved one at a time, so each cycle is printed as a chain with one example
//!   location per edge;
//! - when a file in a `--core` folder names an NVIDIA or DRM item (any identifier in code,
//!   not in comments or strings, matching a `--forbid` pattern): the core must stay free of
//!   driver personalities, which build on it and not the other way round.
//!
//! Imports of a module's own descendants, and anything under `#[cfg(test)]`, are allowed.
//! `--table` prints what each file of the crate's own folder imports.

mod attrs;
mod check;
mod graph;
mod names;
mod refs;
mod resolve;
mod tokens;
mod tree;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use regex::Regex;

use check::{Options, DEFAULT_FORBID};

/// Checks a kernel module crate's import graph: no cycle between files, and no NVIDIA or
/// DRM name in its core folders.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The crate root file, e.g. rust/fakegpu/fakegpu_main.rs.
    root: PathBuf,
    /// A folder of the core, whose files must name no forbidden identifier (repeatable).
    #[arg(long, value_name = "DIR")]
    core: Vec<PathBuf>,
    /// A regular expression for identifiers the core must not use (repeatable; replaces
    /// the default: (?i)nvidia, (?i)drm, (?i)uvm, ^nv_, ^NV_, ^Nv[A-Z]).
    #[arg(long, value_name = "REGEX")]
    forbid: Vec<Regex>,
    /// Also print the import table: each file of the crate's folder and what it imports.
    #[arg(long)]
    table: bool,
    /// Show paths relative to this folder [default: the git work tree holding ROOT, else
    /// the current folder].
    #[arg(long, value_name = "DIR")]
    base: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let forbid = if cli.forbid.is_empty() {
        DEFAULT_FORBID
            .iter()
            .map(|pattern| Regex::new(pattern).expect("the default patterns are valid"))
            .collect()
    } else {
        cli.forbid
    };
    let base = cli.base.unwrap_or_else(|| work_tree(&cli.root));
    let options = Options {
        root: cli.root,
        core: cli.core,
        forbid,
        base,
    };
    let report = match check::run(&options) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("fakegpu-layering: {error}");
            return ExitCode::from(2);
        }
    };
    if cli.table {
        for line in &report.table {
            println!("{line}");
        }
    }
    for line in report.cycles.iter().flatten().chain(&report.core) {
        println!("{line}");
    }
    let root = options.root.display();
    if report.passed() {
        println!(
            "layering: {root}: {} files, no import cycle{}",
            report.files,
            if options.core.is_empty() {
                ""
            } else {
                ", the core names no forbidden item"
            }
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "layering: {root}: FAILED: {}, {}",
            count(report.cycles.len(), "import cycle"),
            count(report.core.len(), "core finding")
        );
        ExitCode::FAILURE
    }
}

/// `n thing` or `n things`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// The nearest folder above `root` that holds `.git`, else the current folder.
fn work_tree(root: &Path) -> PathBuf {
    let root = tree::absolute(root);
    root.ancestors()
        .skip(1)
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default()
}
