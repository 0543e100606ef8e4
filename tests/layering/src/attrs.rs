//! The attributes the checker reads: `#[cfg(test)]` (skipped code) and `#[path]` (where a
//! module's file or folder is).

use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, ImplItem, Item, Lit, Meta, Token, TraitItem};

/// The attributes of an item (none for tokens syn does not interpret).
pub fn of_item(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The attributes of an associated item of an `impl` block.
pub fn of_impl_item(item: &ImplItem) -> &[Attribute] {
    match item {
        ImplItem::Const(i) => &i.attrs,
        ImplItem::Fn(i) => &i.attrs,
        ImplItem::Type(i) => &i.attrs,
        ImplItem::Macro(i) => &i.attrs,
        _ => &[],
    }
}

/// The attributes of an associated item of a trait.
pub fn of_trait_item(item: &TraitItem) -> &[Attribute] {
    match item {
        TraitItem::Const(i) => &i.attrs,
        TraitItem::Fn(i) => &i.attrs,
        TraitItem::Type(i) => &i.attrs,
        TraitItem::Macro(i) => &i.attrs,
        _ => &[],
    }
}

/// Whether the attributes compile their item for tests only: `#[cfg(test)]`, or a
/// `#[cfg(all(...))]` that requires `test`.
pub fn is_cfg_test(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .filter_map(|attr| attr.parse_args::<Meta>().ok())
        .any(|meta| requires_test(&meta))
}

fn requires_test(meta: &Meta) -> bool {
    match meta {
        Meta::Path(path) => path.is_ident("test"),
        Meta::List(list) if list.path.is_ident("all") => list
            .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            .is_ok_and(|all| all.iter().any(requires_test)),
        _ => false,
    }
}

/// Whether any `#[cfg(...)]` is present (a module under one may have no file in this build).
pub fn has_cfg(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| attr.path().is_ident("cfg"))
}

/// The string of `#[path = "..."]`, if present.
pub fn path(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) => Some(s.value()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

/// The `Visit` methods both of the checker's visitors share: code under `#[cfg(test)]` is
/// skipped, and tokens syn does not interpret (`Verbatim`) go to the visitor's own
/// `verbatim(&mut self, &TokenStream)`. Expanded inside an `impl Visit for ...` block.
#[macro_export]
macro_rules! skip_tests_read_verbatim {
    () => {
        fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
            match item {
                _ if $crate::attrs::is_cfg_test($crate::attrs::of_impl_item(item)) => {}
                syn::ImplItem::Verbatim(tokens) => self.verbatim(tokens),
                _ => syn::visit::visit_impl_item(self, item),
            }
        }

        fn visit_trait_item(&mut self, item: &'ast syn::TraitItem) {
            match item {
                _ if $crate::attrs::is_cfg_test($crate::attrs::of_trait_item(item)) => {}
                syn::TraitItem::Verbatim(tokens) => self.verbatim(tokens),
                _ => syn::visit::visit_trait_item(self, item),
            }
        }

        fn visit_foreign_item(&mut self, item: &'ast syn::ForeignItem) {
            match item {
                syn::ForeignItem::Verbatim(tokens) => self.verbatim(tokens),
                _ => syn::visit::visit_foreign_item(self, item),
            }
        }

        fn visit_field(&mut self, field: &'ast syn::Field) {
            if !$crate::attrs::is_cfg_test(&field.attrs) {
                syn::visit::visit_field(self, field);
            }
        }

        fn visit_variant(&mut self, variant: &'ast syn::Variant) {
            if !$crate::attrs::is_cfg_test(&variant.attrs) {
                syn::visit::visit_variant(self, variant);
            }
        }

        fn visit_expr(&mut self, expr: &'ast syn::Expr) {
            match expr {
                syn::Expr::Verbatim(tokens) => self.verbatim(tokens),
                _ => syn::visit::visit_expr(self, expr),
            }
        }

        fn visit_type(&mut self, ty: &'ast syn::Type) {
            match ty {
                syn::Type::Verbatim(tokens) => self.verbatim(tokens),
                _ => syn::visit::visit_type(self, ty),
            }
        }

        fn visit_pat(&mut self, pat: &'ast syn::Pat) {
            match pat {
                syn::Pat::Verbatim(tokens) => self.verbatim(tokens),
                _ => syn::visit::visit_pat(self, pat),
            }
        }
    };
}
