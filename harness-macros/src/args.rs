//! The arguments of `#[incident(...)]`: parsed from tokens, checked, and
//! turned into the values the generated `IncidentSpec` holds. Every problem
//! becomes a spanned error that says what to write instead.
//!
//! One concept, one file: the attribute's keys, each parsed and checked
//! with the same spanned-error collector.

use crate::suggest::did_you_mean;
use incident_vocab::duration::{format_millis, parse_millis};
use incident_vocab::Requirement;
use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ExprLit, ExprPath, Ident, Lit, Token};

/// Every key, in the order the documentation lists them.
pub const KEYS: &[&str] = &[
    "postmortem",
    "variant",
    "budget",
    "timeout",
    "seed",
    "tags",
    "requires",
    "always",
];

/// The default hard limit when `timeout` is not given (6 minutes).
pub const DEFAULT_TIMEOUT_MS: u64 = 6 * 60 * 1000;

/// `variant = <name>` -> the `harness::Variant` variant.
pub const VARIANTS: &[(&str, &str)] = &[("before", "Before"), ("after", "After")];

/// The names `requires = [...]` accepts, from the shared table.
fn requirement_names() -> Vec<&'static str> {
    Requirement::ALL.iter().map(|r| r.as_str()).collect()
}

/// What a key's value looks like, for "write ..." hints.
pub fn example(key: &str) -> &'static str {
    match key {
        "postmortem" => "postmortem = \"leancloud-2015-08-chat\"",
        "variant" => "variant = before` or `variant = after",
        "budget" => "budget = \"90s\"",
        "timeout" => "timeout = \"6m\"",
        "seed" => "seed = 42",
        "tags" => "tags = [heavy, chat]",
        "requires" => "requires = [toxiproxy, consul]",
        "always" => "always = [integrity, \"availability.recovery\"]",
        _ => "key = value",
    }
}

fn names(table: &[(&'static str, &'static str)]) -> Vec<&'static str> {
    table.iter().map(|(n, _)| *n).collect()
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One `key = value` as written.
pub struct KeyValue {
    /// The key (any identifier, keywords included, so `type = ..` gets a
    /// helpful "unknown key" rather than a parse error).
    pub key: Ident,
    /// The value, any expression; checked per key afterwards.
    pub value: Expr,
}

impl Parse for KeyValue {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lookahead_lit = input.peek(syn::Lit);
        if lookahead_lit || !(input.peek(Ident::peek_any)) {
            return Err(input.error(format!(
                "expected `key = value`, e.g. `{}`; keys: {}",
                example("postmortem"),
                list(KEYS)
            )));
        }
        let key = Ident::parse_any(input)?;
        let name = key.unraw().to_string();
        if input.peek(Token![=]) && !input.peek(Token![==]) {
            input.parse::<Token![=]>()?;
        } else {
            let hint = if KEYS.contains(&name.as_str()) {
                format!("write `{}`", example(&name))
            } else {
                format!("write `key = value`; keys: {}", list(KEYS))
            };
            let what = if input.is_empty() || input.peek(Token![,]) {
                format!("`{name}` needs a value")
            } else if input.peek(Token![:]) {
                "use `=`, not `:`".to_string()
            } else if input.peek(syn::token::Paren) {
                format!("`{name}(...)` is not accepted")
            } else {
                format!("expected `=` after `{name}`")
            };
            let span = if input.is_empty() {
                key.span()
            } else {
                input.span()
            };
            return Err(syn::Error::new(span, format!("{what}: {hint}")));
        }
        if input.is_empty() || input.peek(Token![,]) {
            return Err(syn::Error::new(
                key.span(),
                format!("`{name}` needs a value: write `{}`", example(&name)),
            ));
        }
        let value = if input.peek(syn::token::Bracket) {
            parse_list(input)?
        } else {
            input.parse()?
        };
        Ok(KeyValue { key, value })
    }
}

/// `[a, "b", c]` as an array expression whose bare names may be keywords
/// (`tags = [async, type]`), which `Expr` alone would reject.
fn parse_list(input: ParseStream) -> syn::Result<Expr> {
    let content;
    let bracket_token = syn::bracketed!(content in input);
    let mut elems = Punctuated::new();
    while !content.is_empty() {
        let fork = content.fork();
        let bare_name =
            fork.call(Ident::parse_any).is_ok() && (fork.is_empty() || fork.peek(Token![,]));
        let item = if bare_name {
            let ident = Ident::parse_any(&content)?;
            Expr::Path(ExprPath {
                attrs: Vec::new(),
                qself: None,
                path: ident.into(),
            })
        } else {
            content.parse()?
        };
        elems.push_value(item);
        if content.is_empty() {
            break;
        }
        elems.push_punct(content.parse::<Token![,]>().map_err(|_| {
            content.error("separate the items of a list with commas, e.g. `[heavy, chat]`")
        })?);
    }
    Ok(Expr::Array(ExprArray {
        attrs: Vec::new(),
        bracket_token,
        elems,
    }))
}

/// Every `key = value` of the attribute, separated by commas.
fn parse_pairs(input: ParseStream) -> syn::Result<Vec<KeyValue>> {
    let mut pairs = Vec::new();
    while !input.is_empty() {
        pairs.push(input.parse::<KeyValue>()?);
        if input.is_empty() {
            break;
        }
        if !input.peek(Token![,]) {
            return Err(input.error(
                "expected `,` here: separate the arguments with commas, e.g. \
                 `variant = after, budget = \"90s\"`",
            ));
        }
        input.parse::<Token![,]>()?;
    }
    Ok(pairs)
}

/// The checked arguments, ready to become an `IncidentSpec`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentArgs {
    /// The postmortem dossier id.
    pub postmortem: String,
    /// `Before` or `After` (the `harness::Variant` variant name).
    pub variant: &'static str,
    /// The recovery budget in milliseconds.
    pub budget_ms: u64,
    /// The hard limit in milliseconds.
    pub timeout_ms: u64,
    /// A fixed seed, if given.
    pub seed: Option<u64>,
    /// Tags, in the order written.
    pub tags: Vec<String>,
    /// `harness::Requirement` variant names: the implied ones first, then
    /// those written, without duplicates.
    pub requires: Vec<&'static str>,
    /// Check names (or dotted prefixes) whose requirements must hold in
    /// both variants.
    pub always: Vec<String>,
}

/// Collects errors so one compile reports every problem at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, span: Span, msg: impl std::fmt::Display) {
        let e = syn::Error::new(span, msg);
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
    fn push_spanned(&mut self, tokens: impl quote::ToTokens, msg: impl std::fmt::Display) {
        self.add(syn::Error::new_spanned(tokens, msg));
    }
    fn add(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

/// Parses and checks the tokens inside `#[incident(...)]`.
pub fn parse(args: TokenStream) -> syn::Result<IncidentArgs> {
    let pairs = parse_pairs.parse2(args)?;
    check(pairs)
}

fn string_lit(key: &str, value: &Expr, example: &str) -> Result<(String, Span), syn::Error> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok((s.value(), s.span())),
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) if matches!(key, "budget" | "timeout") => Err(syn::Error::new(
            i.span(),
            format!(
                "`{key}` needs a unit and quotes: write `{key} = \"{}s\"` (units: ms, s, m, h)",
                i.base10_digits()
            ),
        )),
        Expr::Lit(_) => Err(syn::Error::new_spanned(
            value,
            format!("`{key}` must be a string literal: write `{example}`"),
        )),
        _ => Err(syn::Error::new_spanned(
            value,
            format!(
                "`{key}` must be a string literal, because the attribute reads it at compile time \
                 (constants and expressions cannot be used): write `{example}`"
            ),
        )),
    }
}

fn duration(key: &str, value: &Expr) -> syn::Result<u64> {
    let (text, span) = string_lit(key, value, example(key))?;
    let ms = parse_millis(&text).map_err(|e| {
        let write = match &e.fix {
            Some(fix) => format!("did you mean `{key} = \"{fix}\"`?"),
            None => format!("write e.g. `{}`", example(key)),
        };
        syn::Error::new(
            span,
            format!(
                "`{key} = {:?}`: {}; {write} (a duration is whole numbers with units ms, s, \
                 m, h: \"90s\", \"6m\", \"1m30s\", \"250ms\")",
                text, e.problem
            ),
        )
    })?;
    if ms == 0 {
        return Err(syn::Error::new(
            span,
            format!(
                "`{key}` must be longer than zero: write e.g. `{}`",
                example(key)
            ),
        ));
    }
    Ok(ms)
}

/// A bare name (`after`, `heavy`), if the expression is one.
fn bare_ident(value: &Expr) -> Option<&Ident> {
    match value {
        Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => p.path.get_ident(),
        _ => None,
    }
}

fn variant(value: &Expr) -> syn::Result<&'static str> {
    let valid = names(VARIANTS);
    if let Some(ident) = bare_ident(value) {
        let name = ident.to_string();
        if let Some((_, v)) = VARIANTS.iter().find(|(n, _)| *n == name) {
            return Ok(v);
        }
        return Err(syn::Error::new(
            ident.span(),
            format!(
                "unknown variant `{name}`: {}",
                did_you_mean(
                    &name,
                    &valid,
                    "write `variant = before` (the system as it was on the day, must reproduce \
                     the outage) or `variant = after` (with the postmortem's fixes, must recover \
                     within budget)"
                )
            ),
        ));
    }
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(s), ..
    }) = value
    {
        let v = s.value();
        if valid.contains(&v.as_str()) {
            return Err(syn::Error::new(
                s.span(),
                format!("write the variant without quotes: `variant = {v}`"),
            ));
        }
    }
    Err(syn::Error::new_spanned(
        value,
        "`variant` must be `before` or `after`: write `variant = before` or `variant = after`",
    ))
}

fn seed(value: &Expr) -> syn::Result<u64> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => {
            if !matches!(i.suffix(), "" | "u64" | "u32" | "u16" | "u8" | "usize") {
                return Err(syn::Error::new(
                    i.span(),
                    format!(
                        "`seed` is a u64: write `seed = {}` without the `{}` suffix",
                        i.base10_digits(),
                        i.suffix()
                    ),
                ));
            }
            i.base10_parse::<u64>().map_err(|_| {
                syn::Error::new(
                    i.span(),
                    "`seed` is too large for a u64: write e.g. `seed = 42`",
                )
            })
        }
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => Err(syn::Error::new_spanned(
            value,
            "`seed` cannot be negative (it is a u64): write e.g. `seed = 42`",
        )),
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) if s.value().parse::<u64>().is_ok() => Err(syn::Error::new(
            s.span(),
            format!(
                "write the seed as an integer, without quotes: `seed = {}`",
                s.value()
            ),
        )),
        _ => Err(syn::Error::new_spanned(
            value,
            "`seed` must be an integer literal: write e.g. `seed = 42` (or leave it out for a \
             random seed, which is printed and recorded)",
        )),
    }
}

/// The items of `[a, b]`, or an error asking for a list.
fn list_items<'e>(key: &str, value: &'e Expr) -> syn::Result<Vec<&'e Expr>> {
    match value {
        Expr::Array(a) => Ok(a.elems.iter().collect()),
        _ => {
            let written = match bare_ident(value) {
                Some(i) => i.to_string(),
                None => match value {
                    Expr::Lit(ExprLit {
                        lit: Lit::Str(s), ..
                    }) if key == "tags" => format!("\"{}\"", s.value()),
                    _ => String::new(),
                },
            };
            let example = if written.is_empty() {
                example(key).to_string()
            } else {
                format!("{key} = [{written}]")
            };
            Err(syn::Error::new_spanned(
                value,
                format!("`{key}` must be a list in brackets: write `{example}`"),
            ))
        }
    }
}

/// Calls `each` with every item of a list of names or strings (`[heavy,
/// "chat"]`) and its span, in order; any other item is an error saying
/// `hint`.
fn each_name_or_string(
    key: &str,
    value: &Expr,
    hint: &str,
    errors: &mut Errors,
    mut each: impl FnMut(String, Span, &mut Errors),
) {
    let items = match list_items(key, value) {
        Ok(items) => items,
        Err(e) => {
            errors.add(e);
            return;
        }
    };
    for item in items {
        if let Some(ident) = bare_ident(item) {
            each(ident.to_string(), ident.span(), errors);
        } else if let Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) = item
        {
            each(s.value(), s.span(), errors);
        } else {
            errors.push_spanned(item, hint);
        }
    }
}

fn tags(value: &Expr, errors: &mut Errors) -> Vec<String> {
    let hint = "a tag is a name or a string: write e.g. `tags = [heavy, \"chat\"]`";
    let mut out: Vec<String> = Vec::new();
    each_name_or_string("tags", value, hint, errors, |tag, span, errors| {
        if tag.trim().is_empty() {
            errors.push(span, "empty tag: remove it or write a name, e.g. `heavy`");
        } else if out.contains(&tag) {
            errors.push(
                span,
                format!("tag `{tag}` is listed twice: remove this one"),
            );
        } else {
            out.push(tag);
        }
    });
    out
}

/// `always = [integrity, "availability.recovery"]`: check names or dotted
/// prefixes (`integrity` covers `integrity.kv` and `integrity.register`).
fn always(value: &Expr, errors: &mut Errors) -> Vec<String> {
    let hint = "`always` lists check names: a name or a quoted dotted name, e.g. `always = [integrity, \"availability.recovery\"]`";
    let mut out: Vec<String> = Vec::new();
    each_name_or_string("always", value, hint, errors, |name, span, errors| {
        let well_formed = !name.is_empty()
            && name.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
        if !well_formed {
            errors.push(
                span,
                format!(
                    "`{name}` is not a check name: check names are lowercase words joined by dots, e.g. `integrity` or \"integrity.kv\""
                ),
            );
        } else if out.contains(&name) {
            errors.push(
                span,
                format!("`{name}` is listed twice in `always`: remove this one"),
            );
        } else {
            out.push(name);
        }
    });
    out
}

fn requires(value: &Expr, errors: &mut Errors) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let items = match list_items("requires", value) {
        Ok(items) => items,
        Err(e) => {
            errors.add(e);
            return out;
        }
    };
    let valid = requirement_names();
    let mut written: Vec<String> = Vec::new();
    for item in items {
        let Some(ident) = bare_ident(item) else {
            let msg = match item {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) if valid.contains(&s.value().as_str()) => {
                    format!("write the requirement without quotes: `{}`", s.value())
                }
                _ => format!("a requirement is one of the names {}", list(&valid)),
            };
            errors.push_spanned(item, msg);
            continue;
        };
        let name = ident.to_string();
        match Requirement::from_name(&name) {
            Some(requirement) => {
                if written.contains(&name) {
                    errors.push(
                        ident.span(),
                        format!("`{name}` is listed twice in `requires`: remove this one"),
                    );
                } else {
                    written.push(name);
                    out.push(requirement.ident());
                }
            }
            None => errors.push(
                ident.span(),
                format!(
                    "unknown requirement `{name}`: {}",
                    did_you_mean(
                        &name,
                        &valid,
                        &format!(
                            "the requirements are {} (`docker` and `base` are always implied)",
                            list(&valid)
                        )
                    )
                ),
            ),
        }
    }
    out
}

fn postmortem(value: &Expr) -> syn::Result<String> {
    let (id, span) = string_lit("postmortem", value, example("postmortem"))?;
    if id.trim().is_empty() {
        return Err(syn::Error::new(
            span,
            format!(
                "`postmortem` is empty: name the dossier, e.g. `{}`",
                example("postmortem")
            ),
        ));
    }
    if id.chars().any(char::is_whitespace) {
        return Err(syn::Error::new(
            span,
            format!(
                "a postmortem id has no spaces: write the dossier id, e.g. `{}`",
                example("postmortem")
            ),
        ));
    }
    Ok(id)
}

/// Checks the pairs as written, reporting every problem.
pub fn check(pairs: Vec<KeyValue>) -> syn::Result<IncidentArgs> {
    let mut errors = Errors::default();
    let mut seen: Vec<String> = Vec::new();
    let mut postmortem_v = None;
    let mut variant_v = None;
    let mut budget_v = None;
    let mut timeout_v = None;
    let mut seed_v = None;
    let mut tags_v = Vec::new();
    let mut requires_v = Vec::new();
    let mut always_v = Vec::new();
    let mut budget_span = None;
    // Keys an unknown key looks like a typo of: not reported missing again.
    let mut meant: Vec<&str> = Vec::new();
    for KeyValue { key, value } in &pairs {
        let name = key.unraw().to_string();
        if !KEYS.contains(&name.as_str()) {
            meant.extend(crate::suggest::closest(&name, KEYS));
            errors.push(
                key.span(),
                format!(
                    "unknown key `{name}`: {}",
                    did_you_mean(&name, KEYS, &format!("the keys are {}", list(KEYS)))
                ),
            );
            continue;
        }
        if seen.contains(&name) {
            errors.push(
                key.span(),
                format!("`{name}` is given twice: remove this one"),
            );
            continue;
        }
        seen.push(name.clone());
        let result = match name.as_str() {
            "postmortem" => postmortem(value).map(|v| postmortem_v = Some(v)),
            "variant" => variant(value).map(|v| variant_v = Some(v)),
            "budget" => {
                budget_span = Some(value.span());
                duration("budget", value).map(|v| budget_v = Some(v))
            }
            "timeout" => duration("timeout", value).map(|v| timeout_v = Some(v)),
            "seed" => seed(value).map(|v| seed_v = Some(v)),
            "tags" => {
                tags_v = tags(value, &mut errors);
                Ok(())
            }
            "requires" => {
                requires_v = requires(value, &mut errors);
                Ok(())
            }
            "always" => {
                always_v = always(value, &mut errors);
                Ok(())
            }
            _ => unreachable!("every key in KEYS is handled"),
        };
        if let Err(e) = result {
            errors.add(e);
        }
    }
    let missing: Vec<&str> = ["postmortem", "variant", "budget"]
        .into_iter()
        .filter(|k| !seen.iter().any(|s| s == k) && !meant.contains(k))
        .collect();
    if !missing.is_empty() {
        let add = missing
            .iter()
            .map(|k| example(k).replace("` or `variant = after", ""))
            .collect::<Vec<_>>()
            .join(", ");
        let what = if missing.len() == 1 {
            format!("missing key `{}`", missing[0])
        } else {
            format!("missing keys {}", list(&missing))
        };
        errors.push(
            Span::call_site(),
            format!(
                "{what}: add `{add}` to `#[incident(...)]` (postmortem, variant and budget are \
                 required; timeout defaults to \"6m\")"
            ),
        );
    }
    let timeout_ms = timeout_v.unwrap_or(DEFAULT_TIMEOUT_MS);
    if let (Some(budget), Some(span)) = (budget_v, budget_span) {
        if budget > timeout_ms {
            errors.push(
                span,
                format!(
                    "the budget ({}) is longer than the timeout ({}{}): the incident would be \
                     stopped before its recovery could be judged; lower `budget` or raise \
                     `timeout`, e.g. `timeout = \"{}\"`",
                    format_millis(budget),
                    format_millis(timeout_ms),
                    if timeout_v.is_none() {
                        ", the default"
                    } else {
                        ""
                    },
                    format_millis(budget * 2)
                ),
            );
        }
    }
    if let Some(e) = errors.0 {
        return Err(e);
    }
    let mut requires: Vec<&'static str> = Requirement::IMPLIED.iter().map(|r| r.ident()).collect();
    for r in requires_v {
        if !requires.contains(&r) {
            requires.push(r);
        }
    }
    Ok(IncidentArgs {
        postmortem: postmortem_v.expect("checked above"),
        variant: variant_v.expect("checked above"),
        budget_ms: budget_v.expect("checked above"),
        timeout_ms,
        seed: seed_v,
        tags: tags_v,
        requires,
        always: always_v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn messages(args: TokenStream) -> Vec<String> {
        match parse(args) {
            Ok(a) => panic!("expected errors, got {a:?}"),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn one_message(args: TokenStream) -> String {
        let all = messages(args);
        assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
        all.into_iter().next().unwrap()
    }

    #[test]
    fn every_key_is_read() {
        let a = parse(quote!(
            postmortem = "leancloud-2015-08-chat",
            variant = after,
            budget = "90s",
            timeout = "6m",
            seed = 42,
            tags = [heavy, "chat"],
            requires = [chat_gateway, toxiproxy],
            always = [integrity, "availability.recovery"]
        ))
        .unwrap();
        assert_eq!(
            a,
            IncidentArgs {
                postmortem: "leancloud-2015-08-chat".into(),
                variant: "After",
                budget_ms: 90_000,
                timeout_ms: 360_000,
                seed: Some(42),
                tags: vec!["heavy".into(), "chat".into()],
                requires: vec!["Docker", "Base", "ChatGateway", "Toxiproxy"],
                always: vec!["integrity".into(), "availability.recovery".into()],
            }
        );
    }

    #[test]
    fn defaults_and_implied_requirements() {
        let a = parse(quote!(postmortem = "p", variant = before, budget = "1m30s")).unwrap();
        assert_eq!(a.variant, "Before");
        assert_eq!(a.budget_ms, 90_000);
        assert_eq!(a.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(a.seed, None);
        assert!(a.tags.is_empty());
        assert_eq!(a.requires, vec!["Docker", "Base"]);
        let a = parse(quote!(
            postmortem = "p",
            variant = before,
            budget = "1s",
            requires = [base, docker, mongo],
        ))
        .unwrap();
        assert_eq!(a.requires, vec!["Docker", "Base", "Mongo"]);
    }

    #[test]
    fn order_trailing_comma_raw_keys_and_keyword_tags() {
        let a = parse(quote!(
            budget = "250ms", r#variant = after, tags = [async, type, heavy,], postmortem = "p",
        ))
        .unwrap();
        assert_eq!(a.budget_ms, 250);
        assert_eq!(a.tags, vec!["async", "type", "heavy"]);
        let a = parse(quote!(
            postmortem = "p",
            variant = after,
            budget = "1s",
            seed = 7u64
        ))
        .unwrap();
        assert_eq!(a.seed, Some(7));
        let a = parse(quote!(
            postmortem = "p",
            variant = after,
            budget = "1s",
            seed = 18446744073709551615
        ))
        .unwrap();
        assert_eq!(a.seed, Some(u64::MAX));
    }

    #[test]
    fn every_requirement_name_is_accepted() {
        for r in Requirement::ALL {
            let (name, variant) = (r.as_str(), r.ident());
            let ident = syn::Ident::new(name, Span::call_site());
            let a = parse(
                quote!(postmortem = "p", variant = after, budget = "1s", requires = [#ident]),
            )
            .unwrap();
            assert!(a.requires.contains(&variant), "{name}");
        }
    }

    #[test]
    fn unknown_key_lists_keys_and_suggests() {
        let m = one_message(quote!(
            postmortem = "p",
            variant = after,
            budgt = "90s",
            budget = "1s"
        ));
        assert!(m.contains("unknown key `budgt`"), "{m}");
        assert!(m.contains("did you mean `budget`?"), "{m}");
        assert!(
            m.contains("`postmortem`, `variant`, `budget`, `timeout`, `seed`, `tags`, `requires`"),
            "{m}"
        );
        let m = one_message(quote!(
            postmortem = "p",
            variant = after,
            budget = "1s",
            flavour = 1
        ));
        assert!(!m.contains("did you mean"), "{m}");
    }

    #[test]
    fn a_typo_of_a_missing_key_is_not_also_reported_missing() {
        let m = one_message(quote!(postmortem = "p", variant = after, budgt = "90s"));
        assert!(
            m.starts_with("unknown key `budgt`: did you mean `budget`? The keys are"),
            "{m}"
        );
    }

    #[test]
    fn missing_required_keys_are_named_with_examples() {
        let m = one_message(quote!());
        assert!(
            m.contains("missing keys `postmortem`, `variant`, `budget`"),
            "{m}"
        );
        assert!(m.contains("budget = \"90s\""), "{m}");
        let m = one_message(quote!(postmortem = "p", variant = after));
        assert!(m.starts_with("missing key `budget`"), "{m}");
    }

    #[test]
    fn always_takes_check_names_and_says_how_to_write_them() {
        let all = messages(quote!(
            postmortem = "p",
            variant = before,
            budget = "1s",
            always = [integrity, "Integrity.KV", integrity, 3]
        ));
        assert_eq!(all.len(), 3, "{all:#?}");
        assert!(
            all[0].contains("`Integrity.KV` is not a check name"),
            "{all:#?}"
        );
        assert!(
            all[1].contains("`integrity` is listed twice in `always`"),
            "{all:#?}"
        );
        assert!(all[2].contains("a quoted dotted name"), "{all:#?}");
        let m = one_message(quote!(
            postmortem = "p",
            variant = before,
            budget = "1s",
            always = integrity
        ));
        assert!(m.contains("`always` must be a list in brackets"), "{m}");
    }

    #[test]
    fn duplicates_are_rejected() {
        let m = one_message(quote!(
            postmortem = "p",
            variant = after,
            budget = "1s",
            budget = "2s"
        ));
        assert!(m.contains("`budget` is given twice"), "{m}");
        let m = one_message(quote!(
            postmortem = "p",
            variant = after,
            budget = "1s",
            tags = [a, a]
        ));
        assert!(m.contains("tag `a` is listed twice"), "{m}");
        let m = one_message(quote!(
            postmortem = "p",
            variant = after,
            budget = "1s",
            requires = [mongo, mongo]
        ));
        assert!(m.contains("`mongo` is listed twice"), "{m}");
    }

    #[test]
    fn durations_are_checked_at_compile_time() {
        let m = one_message(quote!(postmortem = "p", variant = after, budget = "90"));
        assert!(m.contains("no unit") && m.contains("\"90s\""), "{m}");
        let m = one_message(quote!(postmortem = "p", variant = after, budget = "1.5m"));
        assert!(m.contains("did you mean `budget = \"1m30s\"`?"), "{m}");
        let m = one_message(quote!(postmortem = "p", variant = after, budget = 90));
        assert!(m.contains("write `budget = \"90s\"`"), "{m}");
        let m = one_message(quote!(postmortem = "p", variant = after, budget = BUDGET));
        assert!(
            m.contains("must be a string literal") && m.contains("budget = \"90s\""),
            "{m}"
        );
        let m = one_message(quote!(postmortem = "p", variant = after, budget = "9x"));
        assert!(m.contains("write e.g. `budget = \"90s\"`"), "{m}");
        let m = one_message(quote!(postmortem = "p", variant = after, budget = "0s"));
        assert!(m.contains("longer than zero"), "{m}");
        let m = one_message(quote!(
            postmortem = "p",
            variant = after,
            budget = "1s",
            timeout = "5min"
        ));
        assert!(
            m.contains("unknown unit `min`") && m.contains("did you mean `timeout = \"5m\"`?"),
            "{m}"
        );
    }

    #[test]
    fn budget_must_fit_in_the_timeout() {
        let m = one_message(quote!(postmortem = "p", variant = after, budget = "7m"));
        assert!(
            m.contains("budget (7m) is longer than the timeout (6m, the default)"),
            "{m}"
        );
        let m = one_message(quote!(
            postmortem = "p",
            variant = after,
            budget = "2m",
            timeout = "1m"
        ));
        assert!(m.contains("timeout = \"4m\""), "{m}");
        assert!(parse(quote!(
            postmortem = "p",
            variant = after,
            budget = "1m",
            timeout = "1m"
        ))
        .is_ok());
    }

    #[test]
    fn variants_are_before_or_after() {
        let m = one_message(quote!(postmortem = "p", variant = during, budget = "1s"));
        assert!(
            m.contains("unknown variant `during`") && m.contains("`variant = before`"),
            "{m}"
        );
        let m = one_message(quote!(postmortem = "p", variant = aftr, budget = "1s"));
        assert!(m.contains("did you mean `after`?"), "{m}");
        let m = one_message(quote!(postmortem = "p", variant = "after", budget = "1s"));
        assert!(m.contains("without quotes: `variant = after`"), "{m}");
        let m = one_message(quote!(
            postmortem = "p",
            variant = Variant::After,
            budget = "1s"
        ));
        assert!(
            m.contains("write `variant = before` or `variant = after`"),
            "{m}"
        );
    }

    #[test]
    fn seeds_are_u64_literals() {
        for (args, want) in [
            (quote!(seed = "42"), "without quotes: `seed = 42`"),
            (quote!(seed = -1), "cannot be negative"),
            (quote!(seed = SEED), "must be an integer literal"),
            (quote!(seed = 1.5), "must be an integer literal"),
            (quote!(seed = 42i32), "without the `i32` suffix"),
            (quote!(seed = 18446744073709551616), "too large"),
        ] {
            let m = one_message(quote!(postmortem = "p", variant = after, budget = "1s", #args));
            assert!(m.contains(want), "{m} should contain {want}");
        }
    }

    #[test]
    fn lists_and_their_items() {
        for (args, want) in [
            (quote!(tags = heavy), "write `tags = [heavy]`"),
            (quote!(tags = "heavy"), "write `tags = [\"heavy\"]`"),
            (quote!(requires = mongo), "write `requires = [mongo]`"),
            (quote!(tags = [1]), "a tag is a name or a string"),
            (quote!(tags = [""]), "empty tag"),
            (quote!(requires = ["mongo"]), "without quotes: `mongo`"),
            (quote!(requires = [mongodb]), "did you mean `mongo`?"),
            (quote!(requires = [redis]), "`docker`, `base`, `toxiproxy`, `consul`, `consul_legacy`, `mongo`, `chat_gateway`, `chromium`"),
        ] {
            let m = one_message(quote!(postmortem = "p", variant = after, budget = "1s", #args));
            assert!(m.contains(want), "{m} should contain {want}");
        }
    }

    #[test]
    fn postmortem_is_a_non_empty_id() {
        let m = one_message(quote!(postmortem = "", variant = after, budget = "1s"));
        assert!(m.contains("`postmortem` is empty"), "{m}");
        let m = one_message(quote!(
            postmortem = "roblox 2021",
            variant = after,
            budget = "1s"
        ));
        assert!(m.contains("no spaces"), "{m}");
        let m = one_message(quote!(postmortem = ROBLOX, variant = after, budget = "1s"));
        assert!(
            m.contains("string literal") && m.contains("leancloud-2015-08-chat"),
            "{m}"
        );
    }

    #[test]
    fn syntax_mistakes_say_what_to_write() {
        let m = one_message(quote!(postmortem: "p"));
        assert!(m.contains("use `=`, not `:`"), "{m}");
        let m = one_message(quote!(budget("90s")));
        assert!(
            m.contains("`budget(...)` is not accepted: write `budget = \"90s\"`"),
            "{m}"
        );
        let m = one_message(quote!(budget, variant = after));
        assert!(
            m.contains("`budget` needs a value: write `budget = \"90s\"`"),
            "{m}"
        );
        let m = one_message(quote!(budget =));
        assert!(m.contains("`budget` needs a value"), "{m}");
        let m = one_message(quote!("90s"));
        assert!(m.contains("expected `key = value`"), "{m}");
        let m = one_message(quote!(variant = after budget = "1s"));
        assert!(m.contains("separate the arguments with commas"), "{m}");
        let m = one_message(quote!(tags = [a b]));
        assert!(
            m.contains("separate the items of a list with commas"),
            "{m}"
        );
    }

    #[test]
    fn all_problems_are_reported_at_once() {
        let all = messages(quote!(
            postmortem = "p",
            variant = during,
            budget = "9x",
            sed = 1
        ));
        assert_eq!(all.len(), 3, "{all:#?}");
    }
}
