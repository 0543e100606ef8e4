//! The checker on small crates written into a temporary folder.

use std::fs;
use std::path::PathBuf;

use regex::Regex;
use tempfile::TempDir;

use crate::check::{self, Options, Report, DEFAULT_FORBID};

/// Writes `files` (path, text) into a new temporary folder.
fn crate_of(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().expect("a parent")).expect("folders");
        fs::write(path, text).expect("a file");
    }
    dir
}

/// Checks the crate rooted at `root` in `dir`, with `core` folders.
fn check(dir: &TempDir, root: &str, core: &[&str]) -> Report {
    let options = Options {
        root: dir.path().join(root),
        core: core.iter().map(|c| dir.path().join(c)).collect(),
        forbid: DEFAULT_FORBID
            .iter()
            .map(|p| Regex::new(p).expect("a pattern"))
            .collect(),
        base: PathBuf::from(dir.path()),
    };
    check::run(&options).expect("the crate loads")
}

fn cycle_text(report: &Report) -> String {
    report
        .cycles
        .iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn clean_tree_passes() {
    let dir = crate_of(&[
        (
            "main.rs",
            "mod a;\nmod b;\nuse a::run;\npub struct State;\nfn main() { run(); b::helper(); }\n",
        ),
        (
            "a.rs",
            "mod inner;\nuse crate::b::helper;\npub fn run() { helper(); inner::go(crate::State); }\n",
        ),
        ("a/inner.rs", "pub fn go(_: crate::State) { super::super::b::helper() }\n"),
        (
            "b.rs",
            "pub(crate) fn helper() {}\npub(in crate::b) fn private() {}\n",
        ),
    ]);
    let report = check(&dir, "main.rs", &[]);
    assert!(report.passed(), "{}", cycle_text(&report));
    assert_eq!(report.files, 4);
    assert_eq!(
        report.table,
        [
            "a.rs -> a/inner.rs, b.rs, main.rs",
            "a/inner.rs -> b.rs, main.rs",
            "b.rs ->",
            "main.rs -> a.rs, b.rs",
        ]
    );
}

#[test]
fn cycle_through_a_macro_token_path_is_found() {
    let dir = crate_of(&[
        ("main.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "use crate::b::Thing;\npub fn count() -> u32 { 0 }\n",
        ),
        (
            "b.rs",
            "pub struct Thing;\n\nfn log() {\n    pr_info!(\"{}\\n\", crate::a::count());\n}\n",
        ),
    ]);
    let report = check(&dir, "main.rs", &[]);
    assert!(!report.passed());
    assert_eq!(
        report.cycles,
        [[
            "import cycle between 2 files: a.rs, b.rs",
            "  a.rs -> b.rs -> a.rs",
            "    a.rs:1: crate::b::Thing",
            "    b.rs:4: crate::a::count",
        ]]
    );
}

#[test]
fn cycle_through_super_in_an_inline_module_is_found() {
    let dir = crate_of(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "pub struct X;\nmod inner {\n    pub fn f() {\n        super::super::b::g();\n    }\n}\n",
        ),
        ("b.rs", "use crate::a::X;\npub fn g() {}\n"),
    ]);
    let report = check(&dir, "lib.rs", &[]);
    let text = cycle_text(&report);
    assert!(text.contains("  a.rs -> b.rs -> a.rs"), "{text}");
    assert!(text.contains("    a.rs:4: super::super::b::g"), "{text}");
    assert!(text.contains("    b.rs:1: crate::a::X"), "{text}");
}

#[test]
fn a_use_in_a_block_does_not_hide_a_cycle_and_self_paths_resolve() {
    let dir = crate_of(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "pub fn f() {\n    use crate::b;\n    b::g();\n}\n"),
        (
            "b.rs",
            "use self::super::a as other;\npub fn g() { other::f() }\n",
        ),
    ]);
    let text = cycle_text(&check(&dir, "lib.rs", &[]));
    assert!(text.contains("a.rs:2: crate::b"), "{text}");
    assert!(text.contains("b.rs:1: self::super::a"), "{text}");
}

#[test]
fn a_core_file_naming_nvidia_or_drm_items_fails() {
    let dir = crate_of(&[
        ("main.rs", "mod proxy;\nmod nvidia;\n"),
        ("proxy/mod.rs", "mod calls;\nmod quiet;\n"),
        (
            "proxy/calls.rs",
            "use crate::nvidia::NvFoo;\n\nfn f(x: NvFoo) {\n    pr_info!(\"{}\", drm_x(x));\n}\n",
        ),
        (
            "proxy/quiet.rs",
            "//! The core, which knows nothing of NVIDIA or DRM.\n\n// nvidia: not here\n/// drm and uvm live elsewhere\nfn f() -> &'static str {\n    \"nvidia\"\n}\nstruct Nvme;\nconst NVME: u32 = 0;\n",
        ),
        ("nvidia.rs", "pub struct NvFoo;\n"),
    ]);
    let report = check(&dir, "main.rs", &["proxy"]);
    assert!(report.cycles.is_empty());
    assert_eq!(
        report.core,
        [
            "proxy/calls.rs:1: core file names NvFoo",
            "proxy/calls.rs:1: core file names nvidia",
            "proxy/calls.rs:3: core file names NvFoo",
            "proxy/calls.rs:4: core file names drm_x",
        ]
    );
    assert!(!report.passed());
}

#[test]
fn a_core_folder_without_files_fails() {
    let dir = crate_of(&[("main.rs", "fn main() {}\n")]);
    let report = check(&dir, "main.rs", &["proxy"]);
    assert_eq!(
        report.core,
        ["proxy: no file of the crate is in this core folder"]
    );
}

#[test]
fn cfg_test_imports_are_ignored() {
    let dir = crate_of(&[
        ("main.rs", "mod a;\nmod b;\n"),
        ("a.rs", "use crate::b::X;\n"),
        (
            "b.rs",
            "pub struct X;\n#[cfg(test)]\nmod tests {\n    use crate::a::*;\n}\n#[cfg(all(test, feature = \"x\"))]\nfn t() { crate::a::f(); }\nimpl X {\n    #[cfg(test)]\n    fn u() { crate::a::f() }\n}\n",
        ),
        // A test-only module needs no file.
        ("c.rs", "#[cfg(test)]\nmod missing;\n"),
    ]);
    let report = check(&dir, "main.rs", &[]);
    assert!(report.passed(), "{}", cycle_text(&report));
}

#[test]
fn path_inline_modules_resolve() {
    let dir = crate_of(&[
        (
            "krate/main.rs",
            "#[path = \"../shared/src\"]\npub mod shared {\n    use super::abi;\n    pub mod rules;\n}\n#[path = \"../abi\"]\npub mod abi {\n    pub mod nv;\n}\n#[path = \"parts\"]\nmod parts {\n    mod f;\n}\nmod g;\n",
        ),
        ("shared/src/rules.rs", "use super::abi::nv::Call;\n"),
        ("abi/nv.rs", "pub struct Call;\n"),
        ("krate/parts/f.rs", "use crate::g::G;\n"),
        (
            "krate/g.rs",
            "use crate::shared::rules;\npub struct G;\nfn f() { crate::parts::f::h() }\n",
        ),
    ]);
    let report = check(&dir, "krate/main.rs", &[]);
    assert_eq!(
        report.table,
        [
            "krate/g.rs -> krate/parts/f.rs, shared",
            "krate/main.rs -> abi",
            "krate/parts/f.rs -> krate/g.rs",
        ]
    );
    let text = cycle_text(&report);
    assert!(
        text.contains("  krate/g.rs -> krate/parts/f.rs -> krate/g.rs"),
        "{text}"
    );
    // `use super::abi;` in `shared` makes the rules file import `abi::nv`, not `shared`.
    let krate =
        crate::tree::Crate::load(&dir.path().join("krate/main.rs"), dir.path()).expect("loads");
    let edges = crate::graph::edges(&krate);
    let rules: Vec<String> = edges
        .iter()
        .filter(|e| krate.module_path(e.from) == "shared::rules")
        .map(|e| krate.module_path(e.to))
        .collect();
    assert_eq!(rules, ["abi::nv"]);
}

#[test]
fn non_mod_rs_files_own_a_folder() {
    let dir = crate_of(&[
        ("lib.rs", "mod a;\n"),
        (
            "a.rs",
            "mod b;\nmod c {\n    mod d;\n}\n#[path = \"e_file.rs\"]\nmod e;\n",
        ),
        ("a/b/mod.rs", "pub fn x() { crate::a::c::d::y() }\n"),
        ("a/c/d.rs", "pub fn y() { crate::a::e::z() }\n"),
        ("e_file.rs", "pub fn z() { crate::a::b::x() }\n"),
    ]);
    let report = check(&dir, "lib.rs", &[]);
    let text = cycle_text(&report);
    assert!(
        text.contains("  a/b/mod.rs -> a/c/d.rs -> e_file.rs -> a/b/mod.rs"),
        "{text}"
    );
}

#[test]
fn a_missing_module_file_is_an_error() {
    let dir = crate_of(&[("main.rs", "mod gone;\n")]);
    let options = Options {
        root: dir.path().join("main.rs"),
        core: Vec::new(),
        forbid: Vec::new(),
        base: PathBuf::from(dir.path()),
    };
    let error = check::run(&options).err().expect("an error");
    assert_eq!(
        error.to_string(),
        "main.rs:1: no file for `mod gone;` (looked for gone.rs and gone/mod.rs)"
    );
}

#[test]
fn dollar_crate_paths_in_macro_rules_count() {
    let dir = crate_of(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            "pub struct X;\nmacro_rules! call {\n    () => {\n        $crate::b::f()\n    };\n}\n",
        ),
        ("b.rs", "use crate::a::X;\npub fn f() {}\n"),
    ]);
    let text = cycle_text(&check(&dir, "lib.rs", &[]));
    assert!(text.contains("    a.rs:4: $crate::b::f"), "{text}");
}

#[test]
fn a_core_with_personalities_on_top_passes() {
    let dir = crate_of(&[
        (
            "main.rs",
            "mod drm;\nmod nvidia;\nmod proxy;\nuse proxy::forward::Registry;\npub struct State(Registry);\nfn init() {\n    nvidia::register();\n    drm::register();\n}\n",
        ),
        ("proxy/mod.rs", "pub mod forward;\npub mod meter;\n"),
        (
            "proxy/forward.rs",
            "use super::meter::Meter;\npub trait Personality {\n    fn ioctl(&self, meter: &Meter);\n}\npub struct Registry;\npub fn state() -> &'static crate::State {\n    todo!()\n}\n",
        ),
        (
            "proxy/meter.rs",
            "pub struct Meter;\nimpl Meter {\n    pub fn charge(&self) {}\n}\n",
        ),
        (
            "nvidia/mod.rs",
            "use crate::proxy::forward::Personality;\nuse crate::proxy::meter::Meter;\nstruct Nvidia;\nimpl Personality for Nvidia {\n    fn ioctl(&self, meter: &Meter) { meter.charge() }\n}\npub fn register() {}\n",
        ),
        (
            "drm/mod.rs",
            "use crate::proxy::{forward::Personality, meter::Meter};\nstruct Drm;\nimpl Personality for Drm {\n    fn ioctl(&self, _: &Meter) {}\n}\npub fn register() {}\n",
        ),
    ]);
    let report = check(&dir, "main.rs", &["proxy"]);
    assert!(
        report.passed(),
        "{}\n{}",
        cycle_text(&report),
        report.core.join("\n")
    );
    assert_eq!(
        report.table,
        [
            "drm/mod.rs -> proxy/forward.rs, proxy/meter.rs",
            "main.rs -> drm/mod.rs, nvidia/mod.rs, proxy/forward.rs",
            "nvidia/mod.rs -> proxy/forward.rs, proxy/meter.rs",
            "proxy/forward.rs -> main.rs, proxy/meter.rs",
            "proxy/meter.rs ->",
            "proxy/mod.rs ->",
        ]
    );
}
