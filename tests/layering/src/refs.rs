//! The paths a module's code names: in code, in `use` trees, in attribute arguments and in
//! macro invocations' token streams. Anything under `#[cfg(test)]` is left out.

use proc_macro2::TokenStream;
use syn::visit::{self, Visit};
use syn::{Attribute, Block, Item, ItemUse, Macro, Meta, Path, UseTree, VisRestricted};

use crate::attrs;
use crate::tokens::{self, line, name};

/// How a path was written, which decides how it may start (see `Crate::resolve`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// A leaf of a `use` tree.
    Use,
    /// The prefix of a `use ...::*`.
    Glob,
    /// A path in code (types, expressions, patterns, attributes).
    Code,
    /// A run of `a::b` in a macro invocation's tokens.
    Macro,
}

/// One path, as written, with its line.
#[derive(Clone, Debug)]
pub struct PathRef {
    pub segments: Vec<String>,
    pub kind: Kind,
    pub line: usize,
}

impl PathRef {
    /// The path as written (without generic arguments).
    pub fn text(&self) -> String {
        let path = self.segments.join("::");
        if self.kind == Kind::Glob {
            format!("{path}::*")
        } else {
            path
        }
    }
}

/// A name that a module-level `use` brings into the module (`use a::b;` gives `b`,
/// `use a::b as c;` gives `c`, `use a::{self}` gives `a`), with the path it stands for.
#[derive(Clone, Debug)]
pub struct Alias {
    pub name: String,
    pub segments: Vec<String>,
}

/// The paths and the `use` names of one module's items.
#[derive(Default, Debug)]
pub struct Collected {
    pub refs: Vec<PathRef>,
    pub aliases: Vec<Alias>,
}

/// Collects from the items of one module level (its `mod` items are modules of their own
/// and must not be among them).
pub fn collect(items: &[Item]) -> Collected {
    let mut collector = Collector::default();
    for item in items {
        collector.visit_item(item);
    }
    collector.out
}

#[derive(Default)]
struct Collector {
    out: Collected,
    /// How many blocks deep we are: `use` in a function body names nothing for the module.
    depth: usize,
}

impl Collector {
    fn push(&mut self, segments: Vec<String>, kind: Kind, line: usize) {
        self.out.refs.push(PathRef {
            segments,
            kind,
            line,
        });
    }

    fn tokens(&mut self, tokens: TokenStream) {
        let mut found = Vec::new();
        tokens::paths(tokens, &mut found);
        for path in found {
            self.push(path.segments, Kind::Macro, path.line);
        }
    }

    fn use_tree(&mut self, tree: &UseTree, prefix: &mut Vec<String>) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(name(&p.ident));
                self.use_tree(&p.tree, prefix);
                prefix.pop();
            }
            UseTree::Name(n) => self.use_leaf(prefix, &n.ident, None),
            UseTree::Rename(r) => self.use_leaf(prefix, &r.ident, Some(name(&r.rename))),
            UseTree::Glob(g) => self.push(prefix.clone(), Kind::Glob, line(g.star_token.span)),
            UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(tree, prefix);
                }
            }
        }
    }

    fn use_leaf(&mut self, prefix: &[String], ident: &proc_macro2::Ident, rename: Option<String>) {
        let mut segments = prefix.to_vec();
        if ident != "self" {
            segments.push(name(ident));
        }
        let Some(last) = segments.last().cloned() else {
            return;
        };
        if self.depth == 0 && rename.as_deref() != Some("_") {
            self.out.aliases.push(Alias {
                name: rename.unwrap_or(last),
                segments: segments.clone(),
            });
        }
        self.push(segments, Kind::Use, line(ident.span()));
    }

    fn verbatim(&mut self, tokens: &TokenStream) {
        self.tokens(tokens.clone());
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast Item) {
        if attrs::is_cfg_test(attrs::of_item(item)) {
            return;
        }
        match item {
            // A module inside a function body: rare, and not a level of the tree; skipped.
            Item::Mod(_) => {}
            Item::Verbatim(tokens) => self.verbatim(tokens),
            _ => visit::visit_item(self, item),
        }
    }

    fn visit_item_use(&mut self, item: &'ast ItemUse) {
        for attr in &item.attrs {
            self.visit_attribute(attr);
        }
        // `use ::x::y` names the extern prelude only.
        if item.leading_colon.is_none() {
            self.use_tree(&item.tree, &mut Vec::new());
        }
    }

    crate::skip_tests_read_verbatim!();

    fn visit_block(&mut self, block: &'ast Block) {
        self.depth += 1;
        visit::visit_block(self, block);
        self.depth -= 1;
    }

    // `pub(crate)`, `pub(super)`, `pub(in crate::a)` say who may see an item, not what it uses.
    fn visit_vis_restricted(&mut self, _: &'ast VisRestricted) {}

    fn visit_path(&mut self, path: &'ast Path) {
        if path.leading_colon.is_none() {
            if let Some(first) = path.segments.first() {
                let segments = path.segments.iter().map(|s| name(&s.ident)).collect();
                self.push(segments, Kind::Code, line(first.ident.span()));
            }
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        visit::visit_macro(self, mac);
        self.tokens(mac.tokens.clone());
    }

    fn visit_attribute(&mut self, attr: &'ast Attribute) {
        visit::visit_attribute(self, attr);
        if let Meta::List(list) = &attr.meta {
            self.tokens(list.tokens.clone());
        }
    }
}
