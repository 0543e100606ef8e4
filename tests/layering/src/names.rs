//! Every identifier a file's code spells: item, field, method and variable names, path
//! segments, and the identifiers in macro invocations' and attributes' tokens. Comments,
//! doc comments and string literals are not code and hold none. Anything under
//! `#[cfg(test)]` is left out, as for imports.

use proc_macro2::{Ident, TokenStream};
use syn::visit::{self, Visit};
use syn::{Attribute, Item, Macro, Meta};

use crate::attrs;
use crate::tokens::{self, line, name};

/// The identifiers of a parsed file, with their lines, in file order.
pub fn idents(file: &syn::File) -> Vec<(String, usize)> {
    let mut names = Names::default();
    names.visit_file(file);
    names.out
}

#[derive(Default)]
struct Names {
    out: Vec<(String, usize)>,
}

impl Names {
    fn verbatim(&mut self, tokens: &TokenStream) {
        tokens::idents(tokens.clone(), &mut self.out);
    }
}

impl<'ast> Visit<'ast> for Names {
    fn visit_ident(&mut self, ident: &'ast Ident) {
        self.out.push((name(ident), line(ident.span())));
    }

    fn visit_item(&mut self, item: &'ast Item) {
        match item {
            _ if attrs::is_cfg_test(attrs::of_item(item)) => {}
            Item::Verbatim(tokens) => self.verbatim(tokens),
            _ => visit::visit_item(self, item),
        }
    }

    crate::skip_tests_read_verbatim!();

    fn visit_macro(&mut self, mac: &'ast Macro) {
        visit::visit_macro(self, mac);
        self.verbatim(&mac.tokens);
    }

    fn visit_attribute(&mut self, attr: &'ast Attribute) {
        visit::visit_attribute(self, attr);
        if let Meta::List(list) = &attr.meta {
            self.verbatim(&list.tokens);
        }
    }
}
