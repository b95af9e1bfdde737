//! The arguments of `#[incident(...)]`: parsed from tokens, checked, and
//! turned into the values the generated `IncidentSpec` holds. Every problem
//! becomes a spanned error that says what to write instead.

use crate::duration::{format_millis, parse_millis};
use crate::suggest::did_you_mean;
use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, Token};

/// Every key, in the order the documentation lists them.
pub const KEYS: &[&str] = &[
    "postmortem",
    "variant",
    "budget",
    "timeout",
    "seed",
    "tags",
    "requires",
];

/// The default hard limit when `timeout` is not given (6 minutes).
pub const DEFAULT_TIMEOUT_MS: u64 = 6 * 60 * 1000;

/// `variant = <name>` -> the `harness::Variant` variant.
pub const VARIANTS: &[(&str, &str)] = &[("before", "Before"), ("after", "After")];

/// `requires = [<name>]` -> the `harness::Requirement` variant.
pub const REQUIREMENTS: &[(&str, &str)] = &[
    ("docker", "Docker"),
    ("base", "Base"),
    ("toxiproxy", "Toxiproxy"),
    ("consul", "Consul"),
    ("consul_legacy", "ConsulLegacy"),
    ("mongo", "Mongo"),
    ("chat_gateway", "ChatGateway"),
    ("chromium", "Chromium"),
];

/// Requirements every incident has, whether or not `requires` names them.
pub const IMPLIED_REQUIREMENTS: &[&str] = &["docker", "base"];

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
        let value: Expr = input.parse()?;
        Ok(KeyValue { key, value })
    }
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
    fn add(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
}

/// Parses and checks the tokens inside `#[incident(...)]`.
pub fn parse(args: TokenStream) -> syn::Result<IncidentArgs> {
    let pairs = Punctuated::<KeyValue, Token![,]>::parse_terminated.parse2(args)?;
    check(pairs.into_iter().collect())
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
        Expr::Lit(_) => Err(syn::Error::new(
            value.span(),
            format!("`{key}` must be a string literal: write `{example}`"),
        )),
        _ => Err(syn::Error::new(
            value.span(),
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
        syn::Error::new(
            span,
            format!("`{key}`: {e}; for example `{}`", example(key)),
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
                "unknown variant `{name}`: write `variant = before` (the system as it was on the \
                 day, must reproduce the outage) or `variant = after` (with the postmortem's \
                 fixes, must recover within budget){}",
                did_you_mean(&name, &valid)
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
    Err(syn::Error::new(
        value.span(),
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
        Expr::Unary(u) if matches!(u.op, syn::UnOp::Neg(_)) => Err(syn::Error::new(
            value.span(),
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
        _ => Err(syn::Error::new(
            value.span(),
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
            Err(syn::Error::new(
                value.span(),
                format!("`{key}` must be a list in brackets: write `{example}`"),
            ))
        }
    }
}

fn tags(value: &Expr, errors: &mut Errors) -> Vec<String> {
    let items = match list_items("tags", value) {
        Ok(items) => items,
        Err(e) => {
            errors.add(e);
            return Vec::new();
        }
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let (tag, span) = if let Some(ident) = bare_ident(item) {
            (ident.to_string(), ident.span())
        } else if let Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) = item
        {
            (s.value(), s.span())
        } else {
            errors.push(
                item.span(),
                "a tag is a name or a string: write e.g. `tags = [heavy, \"chat\"]`",
            );
            continue;
        };
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
    }
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
    let valid = names(REQUIREMENTS);
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
            errors.push(item.span(), msg);
            continue;
        };
        let name = ident.to_string();
        match REQUIREMENTS.iter().find(|(n, _)| *n == name) {
            Some((_, variant)) => {
                if written.contains(&name) {
                    errors.push(
                        ident.span(),
                        format!("`{name}` is listed twice in `requires`: remove this one"),
                    );
                } else {
                    written.push(name);
                    out.push(variant);
                }
            }
            None => errors.push(
                ident.span(),
                format!(
                    "unknown requirement `{name}`{}; requirements are {} (`docker` and `base` are \
                     always implied)",
                    did_you_mean(&name, &valid),
                    list(&valid)
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
    let mut budget_span = None;
    for KeyValue { key, value } in &pairs {
        let name = key.unraw().to_string();
        if !KEYS.contains(&name.as_str()) {
            errors.push(
                key.span(),
                format!(
                    "unknown key `{name}`{}; the keys are {}",
                    did_you_mean(&name, KEYS),
                    list(KEYS)
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
            _ => unreachable!("every key in KEYS is handled"),
        };
        if let Err(e) = result {
            errors.add(e);
        }
    }
    let missing: Vec<&str> = ["postmortem", "variant", "budget"]
        .into_iter()
        .filter(|k| !seen.iter().any(|s| s == k))
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
                    format_millis(budget * 4)
                ),
            );
        }
    }
    if let Some(e) = errors.0 {
        return Err(e);
    }
    let mut requires = vec!["Docker", "Base"];
    debug_assert_eq!(IMPLIED_REQUIREMENTS.len(), requires.len());
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
    })
}
