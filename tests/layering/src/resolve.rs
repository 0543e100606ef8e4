//! Which module a path names: the longest prefix of it that is a known module.
//!
//! `crate::` (and `$crate::`) start at the root, `self::` at the current module, each
//! `super::` one level up (inline modules are levels). A path that starts with a plain name
//! starts at the current module's child of that name, or at what a module-level `use` of
//! that name stands for (2018 uniform paths: `use nodes::Nodes;` in the root). Along the
//! path, a name is a child module or a module a `use` in that module brought in (the
//! policy module's `use super::abi;` makes `super::abi::nv_rm` name `abi::nv_rm`). Any
//! other name (an item, or what a `use` took from outside the crate, like `use
//! kernel::sync;`) ends the path at the module reached so far; a path that starts with one
//! names nothing of the crate.

use std::collections::BTreeMap;

use crate::refs::{Alias, Kind, PathRef};
use crate::tree::{Crate, ModId, ROOT};

/// Every module's `use` names: module -> name -> path.
pub struct Resolver<'a> {
    krate: &'a Crate,
    aliases: Vec<BTreeMap<String, Vec<String>>>,
}

/// `use` chains are followed this deep at most (`use a as b; use b as a;` ends).
const MAX_DEPTH: usize = 16;

impl<'a> Resolver<'a> {
    /// `aliases[id]` are module `id`'s `use` names.
    pub fn new(krate: &'a Crate, aliases: &[Vec<Alias>]) -> Self {
        let aliases = aliases
            .iter()
            .map(|list| {
                list.iter()
                    .map(|a| (a.name.clone(), a.segments.clone()))
                    .collect()
            })
            .collect();
        Resolver { krate, aliases }
    }

    /// The module that `path`, written in module `from`, names something in; `None` when
    /// it names nothing of the crate, or only a `crate`/`self`/`super` keyword itself.
    pub fn resolve(&self, from: ModId, path: &PathRef) -> Option<ModId> {
        let segments = &path.segments;
        let (start, used, keyword) = self.start(from, segments, None, 0)?;
        // A keyword must be followed by a name (`pub(crate)`, a `self` receiver), except in
        // `use super::*`; a plain name must be followed by one outside `use`.
        match path.kind {
            Kind::Glob => {}
            Kind::Use if keyword && used == segments.len() => return None,
            Kind::Code | Kind::Macro if segments.len() < 2 => return None,
            _ => {}
        }
        Some(self.walk(start, &segments[used..], 0).0)
    }

    /// Where a path starts: the module, how many segments that took, and whether they were
    /// keywords (`crate`, `self`, `super`). `skip` is the `use` name being resolved, which
    /// cannot stand for itself (`use abi;` names the extern crate `abi`).
    fn start(
        &self,
        from: ModId,
        segments: &[String],
        skip: Option<(ModId, &str)>,
        depth: usize,
    ) -> Option<(ModId, usize, bool)> {
        match segments.first()?.as_str() {
            "crate" | "$crate" => Some((ROOT, 1, true)),
            first @ ("self" | "super") => {
                // `self::super::a` is `super::a`.
                let mut id = from;
                let mut used = usize::from(first == "self");
                while segments.get(used).is_some_and(|s| s == "super") {
                    id = self.krate.modules[id].parent?;
                    used += 1;
                }
                Some((id, used, true))
            }
            name => {
                let id = match self.krate.modules[from].children.get(name) {
                    Some(&child) => child,
                    None if skip == Some((from, name)) => return None,
                    None => self.alias(from, name, depth)?,
                };
                Some((id, 1, false))
            }
        }
    }

    /// Follows `segments` down from module `id` while they name modules; returns the last
    /// module reached and how many segments that took.
    fn walk(&self, mut id: ModId, segments: &[String], depth: usize) -> (ModId, usize) {
        let mut used = 0;
        for segment in segments {
            match self.krate.modules[id].children.get(segment) {
                Some(&child) => id = child,
                None => match self.alias(id, segment, depth) {
                    Some(target) => id = target,
                    None => break,
                },
            }
            used += 1;
        }
        (id, used)
    }

    /// The module that the `use` name `name` of module `id` stands for, if it is one.
    fn alias(&self, id: ModId, name: &str, depth: usize) -> Option<ModId> {
        let segments = self.aliases[id].get(name)?;
        if depth >= MAX_DEPTH {
            return None;
        }
        let (start, used, _) = self.start(id, segments, Some((id, name)), depth + 1)?;
        let (target, walked) = self.walk(start, &segments[used..], depth + 1);
        (used + walked == segments.len()).then_some(target)
    }
}
