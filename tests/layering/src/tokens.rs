//! What the checker reads from raw token streams (macro invocations, attribute arguments,
//! tokens syn leaves uninterpreted): identifiers and `a::b::c` paths.

use proc_macro2::{Ident, Spacing, Span, TokenStream, TokenTree};
use syn::ext::IdentExt;

/// An identifier as written, without `r#`.
pub fn name(ident: &Ident) -> String {
    ident.unraw().to_string()
}

/// The 1-based line a span starts on.
pub fn line(span: Span) -> usize {
    span.start().line
}

/// Every identifier in the tokens, groups included, with its line.
pub fn idents(tokens: TokenStream, out: &mut Vec<(String, usize)>) {
    for tt in tokens {
        match tt {
            TokenTree::Ident(ident) => out.push((name(&ident), line(ident.span()))),
            TokenTree::Group(group) => idents(group.stream(), out),
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
}

/// A path found in tokens: its segments (`$crate` kept as such) and the line of its start.
pub struct TokenPath {
    pub segments: Vec<String>,
    pub line: usize,
}

/// Every maximal `a::b::c` run of identifiers in the tokens (groups included), except runs
/// that start with `::` (paths from the extern prelude). A `$` right before `crate` makes
/// the first segment `$crate`.
pub fn paths(tokens: TokenStream, out: &mut Vec<TokenPath>) {
    let tts: Vec<TokenTree> = tokens.into_iter().collect();
    let mut i = 0;
    while i < tts.len() {
        match &tts[i] {
            TokenTree::Group(group) => {
                paths(group.stream(), out);
                i += 1;
            }
            TokenTree::Ident(first) => {
                let absolute = i >= 2 && is_colon2(&tts[i - 2], &tts[i - 1]);
                let dollar =
                    i >= 1 && matches!(&tts[i - 1], TokenTree::Punct(p) if p.as_char() == '$');
                let mut segments = vec![match name(first) {
                    n if dollar && n == "crate" => "$crate".to_string(),
                    n => n,
                }];
                let mut j = i + 1;
                while j + 2 < tts.len() && is_colon2(&tts[j], &tts[j + 1]) {
                    let TokenTree::Ident(next) = &tts[j + 2] else {
                        break;
                    };
                    segments.push(name(next));
                    j += 3;
                }
                if !absolute {
                    out.push(TokenPath {
                        segments,
                        line: line(first.span()),
                    });
                }
                i = j;
            }
            TokenTree::Punct(_) | TokenTree::Literal(_) => i += 1,
        }
    }
}

fn is_colon2(a: &TokenTree, b: &TokenTree) -> bool {
    matches!(
        (a, b),
        (TokenTree::Punct(a), TokenTree::Punct(b))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}
