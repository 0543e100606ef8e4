//! Every identifier a file's code spells: item, field, method and variable names, path
//! segments, and the identifiers in macro invocations' and attributes' tokens. Comments,
//! doc comments and string literals are not code and hold none. Anything under
//! `#[cfg(test)]` is left out, as for imports.

use proc_macro2::{Ident, TokenStream};
use syn::visit::{self, Visit};
use syn::{Attribute, Expr, ForeignItem, ImplItem, Item, Macro, Meta, Pat, TraitItem, Type};

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
    fn tokens(&mut self, tokens: &TokenStream) {
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
            Item::Verbatim(tokens) => self.tokens(tokens),
            _ => visit::visit_item(self, item),
        }
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        match item {
            _ if attrs::is_cfg_test(attrs::of_impl_item(item)) => {}
            ImplItem::Verbatim(tokens) => self.tokens(tokens),
            _ => visit::visit_impl_item(self, item),
        }
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        match item {
            _ if attrs::is_cfg_test(attrs::of_trait_item(item)) => {}
            TraitItem::Verbatim(tokens) => self.tokens(tokens),
            _ => visit::visit_trait_item(self, item),
        }
    }

    fn visit_foreign_item(&mut self, item: &'ast ForeignItem) {
        match item {
            ForeignItem::Verbatim(tokens) => self.tokens(tokens),
            _ => visit::visit_foreign_item(self, item),
        }
    }

    fn visit_field(&mut self, field: &'ast syn::Field) {
        if !attrs::is_cfg_test(&field.attrs) {
            visit::visit_field(self, field);
        }
    }

    fn visit_variant(&mut self, variant: &'ast syn::Variant) {
        if !attrs::is_cfg_test(&variant.attrs) {
            visit::visit_variant(self, variant);
        }
    }

    fn visit_expr(&mut self, expr: &'ast Expr) {
        match expr {
            Expr::Verbatim(tokens) => self.tokens(tokens),
            _ => visit::visit_expr(self, expr),
        }
    }

    fn visit_type(&mut self, ty: &'ast Type) {
        match ty {
            Type::Verbatim(tokens) => self.tokens(tokens),
            _ => visit::visit_type(self, ty),
        }
    }

    fn visit_pat(&mut self, pat: &'ast Pat) {
        match pat {
            Pat::Verbatim(tokens) => self.tokens(tokens),
            _ => visit::visit_pat(self, pat),
        }
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        visit::visit_macro(self, mac);
        self.tokens(&mac.tokens);
    }

    fn visit_attribute(&mut self, attr: &'ast Attribute) {
        visit::visit_attribute(self, attr);
        if let Meta::List(list) = &attr.meta {
            self.tokens(&list.tokens);
        }
    }
}
