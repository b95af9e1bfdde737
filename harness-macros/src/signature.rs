//! Checks that the item under `#[incident]` is an
//! `async fn name(lab: &mut Lab) -> Outcome`, pointing at what is wrong.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, Item, ItemFn, ReturnType, Type};

/// The one shape the attribute accepts, quoted in every signature error.
pub const SHAPE: &str = "async fn name(lab: &mut Lab) -> Outcome";

fn push(errors: &mut Option<syn::Error>, span: Span, msg: impl std::fmt::Display) {
    let e = syn::Error::new(span, msg);
    match errors {
        Some(all) => all.combine(e),
        None => *errors = Some(e),
    }
}

/// Like [`push`], but covering every token of `tokens` (on stable Rust a
/// single `Span` cannot cover several tokens).
fn push_spanned(
    errors: &mut Option<syn::Error>,
    tokens: impl quote::ToTokens,
    msg: impl std::fmt::Display,
) {
    let e = syn::Error::new_spanned(tokens, msg);
    match errors {
        Some(all) => all.combine(e),
        None => *errors = Some(e),
    }
}

/// Whether an attribute is a test attribute (`#[test]`, `#[tokio::test]`, ...).
pub fn is_test_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "test")
}

fn is_incident_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "incident")
}

/// The error for an item that is not a function.
pub fn not_a_fn(item: &Item) -> syn::Error {
    let what = match item {
        Item::Struct(s) => Some(("a struct", s.struct_token.span)),
        Item::Enum(e) => Some(("an enum", e.enum_token.span)),
        Item::Mod(m) => Some(("a module", m.mod_token.span)),
        Item::Impl(i) => Some(("an impl block", i.impl_token.span)),
        Item::Trait(t) => Some(("a trait", t.trait_token.span)),
        Item::Const(c) => Some(("a const", c.const_token.span)),
        Item::Static(s) => Some(("a static", s.static_token.span)),
        Item::Use(u) => Some(("a use declaration", u.use_token.span)),
        Item::Type(t) => Some(("a type alias", t.type_token.span)),
        _ => None,
    };
    let (kind, span) = what.unwrap_or(("this item", item.span()));
    syn::Error::new(
        span,
        format!(
            "#[incident] applies to a function, not to {kind}: write \
             `#[incident(...)] {SHAPE} {{ ... }}`"
        ),
    )
}

/// Whether a type's last path segment is one of `names`.
fn type_named(ty: &Type, names: &[&str]) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .is_some_and(|s| names.iter().any(|n| s.ident == n)),
        Type::Group(g) => type_named(&g.elem, names),
        Type::Paren(p) => type_named(&p.elem, names),
        _ => false,
    }
}

/// Every problem with the function's shape and attributes.
pub fn check(f: &ItemFn) -> Result<(), syn::Error> {
    let mut errors = None;
    let sig = &f.sig;
    for attr in &f.attrs {
        if is_test_attr(attr) {
            push_spanned(
                &mut errors,
                attr,
                "remove this test attribute: #[incident] already makes the function a `#[test]` \
                 (with its own tokio runtime)",
            );
        } else if is_incident_attr(attr) {
            push_spanned(&mut errors, attr, "#[incident] is given twice: keep one");
        }
    }
    if sig.asyncness.is_none() {
        push(
            &mut errors,
            sig.fn_token.span,
            format!("an incident body must be async: add `async` before `fn` (`{SHAPE}`)"),
        );
    }
    if let Some(c) = &sig.constness {
        push(
            &mut errors,
            c.span,
            format!("remove `const`: write `{SHAPE}`"),
        );
    }
    if let Some(u) = &sig.unsafety {
        push(
            &mut errors,
            u.span,
            format!("remove `unsafe`: write `{SHAPE}`"),
        );
    }
    if let Some(abi) = &sig.abi {
        push_spanned(&mut errors, abi, format!("remove the ABI: write `{SHAPE}`"));
    }
    if !sig.generics.params.is_empty() {
        push_spanned(
            &mut errors,
            &sig.generics.params,
            format!(
                "an incident cannot be generic: remove the generic parameters and write `{SHAPE}`"
            ),
        );
    }
    if let Some(w) = &sig.generics.where_clause {
        push_spanned(
            &mut errors,
            w,
            format!("an incident cannot have a where clause: write `{SHAPE}`"),
        );
    }
    if let Some(v) = &sig.variadic {
        push_spanned(&mut errors, v, format!("remove `...`: write `{SHAPE}`"));
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        None => push(
            &mut errors,
            sig.paren_token.span.join(),
            format!("an incident takes the lab: write `{SHAPE}`"),
        ),
        Some(FnArg::Receiver(r)) => push_spanned(
            &mut errors,
            r,
            format!(
                "an incident is a free function, not a method: remove `self` and write `{SHAPE}`"
            ),
        ),
        Some(FnArg::Typed(arg)) => match &*arg.ty {
            Type::Reference(r) if r.mutability.is_some() && type_named(&r.elem, &["Lab"]) => {}
            Type::Reference(r) if r.mutability.is_none() && type_named(&r.elem, &["Lab"]) => {
                push_spanned(
                    &mut errors,
                    &arg.ty,
                    "the lab is taken by mutable reference: write `&mut Lab`",
                )
            }
            ty if type_named(ty, &["Lab"]) => push_spanned(
                &mut errors,
                ty,
                "the runner keeps the lab (to tear it down): take it as `&mut Lab`",
            ),
            ty => push_spanned(
                &mut errors,
                ty,
                format!("the parameter must be the lab, `&mut Lab`: write `{SHAPE}`"),
            ),
        },
    }
    let extra: Vec<&FnArg> = inputs.collect();
    if let Some(first) = extra.first() {
        push_spanned(
            &mut errors,
            first,
            format!(
                "an incident takes only the lab (other values come from it, e.g. `lab.seed()`, \
                 `lab.rng(..)`): remove this parameter and write `{SHAPE}`"
            ),
        );
    }
    match &sig.output {
        ReturnType::Default => push(
            &mut errors,
            sig.paren_token.span.close(),
            format!("an incident returns `Outcome`: add `-> Outcome` (`{SHAPE}`)"),
        ),
        ReturnType::Type(_, ty) => {
            if !type_named(ty, &["Outcome", "Result"]) {
                push_spanned(
                    &mut errors,
                    ty,
                    format!(
                        "an incident returns `Outcome` (= `anyhow::Result<()>`), so `?` works and \
                         errors fail the test: write `{SHAPE}`"
                    ),
                );
            }
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors(item: proc_macro2::TokenStream) -> Vec<String> {
        let f: ItemFn = syn::parse2(item).unwrap();
        match check(&f) {
            Ok(()) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    fn one(item: proc_macro2::TokenStream, want: &str) {
        let all = errors(item);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert!(
            all[0].contains(want),
            "{:?} should contain {want:?}",
            all[0]
        );
    }

    #[test]
    fn the_accepted_shapes() {
        for item in [
            quote!(
                async fn a(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
            quote!(
                pub async fn a(_: &mut harness::Lab) -> harness::Outcome {
                    Ok(())
                }
            ),
            quote!(
                async fn a(mut lab: &'_ mut Lab) -> anyhow::Result<()> {
                    Ok(())
                }
            ),
            quote!(
                #[doc = "x"]
                #[ignore]
                async fn a(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
        ] {
            assert_eq!(errors(item.clone()), Vec::<String>::new(), "{item}");
        }
    }

    #[test]
    fn each_misuse_names_the_fix() {
        one(
            quote!(
                fn a(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
            "add `async` before `fn`",
        );
        one(
            quote!(
                async fn a() -> Outcome {
                    Ok(())
                }
            ),
            "an incident takes the lab",
        );
        one(
            quote!(
                async fn a(lab: &mut Lab, n: u32) -> Outcome {
                    Ok(())
                }
            ),
            "takes only the lab",
        );
        one(
            quote!(
                async fn a(lab: &Lab) -> Outcome {
                    Ok(())
                }
            ),
            "write `&mut Lab`",
        );
        one(
            quote!(
                async fn a(lab: Lab) -> Outcome {
                    Ok(())
                }
            ),
            "take it as `&mut Lab`",
        );
        one(
            quote!(
                async fn a(lab: &mut String) -> Outcome {
                    Ok(())
                }
            ),
            "must be the lab",
        );
        one(
            quote!(
                async fn a(&mut self) -> Outcome {
                    Ok(())
                }
            ),
            "remove `self`",
        );
        one(
            quote!(
                async fn a(lab: &mut Lab) {}
            ),
            "add `-> Outcome`",
        );
        one(
            quote!(
                async fn a(lab: &mut Lab) -> bool {
                    true
                }
            ),
            "returns `Outcome`",
        );
        one(
            quote!(
                async fn a<T>(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
            "cannot be generic",
        );
        one(
            quote!(
                async fn a(lab: &mut Lab) -> Outcome
                where
                    u8: Copy,
                {
                    Ok(())
                }
            ),
            "where clause",
        );
        one(
            quote!(
                async unsafe fn a(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
            "remove `unsafe`",
        );
        one(
            quote!(
                async extern "C" fn a(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
            "remove the ABI",
        );
        one(
            quote!(
                #[test]
                async fn a(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
            "remove this test attribute",
        );
        one(
            quote!(
                #[tokio::test]
                async fn a(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
            "remove this test attribute",
        );
        one(
            quote!(
                #[incident(budget = "1s")]
                async fn a(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
            "given twice",
        );
    }

    #[test]
    fn several_problems_are_reported_together() {
        let all = errors(quote!(
            #[test]
            fn a() {}
        ));
        assert_eq!(all.len(), 4, "{all:#?}");
    }
}
