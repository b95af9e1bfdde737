//! The expansion: a `#[test]` that builds the `IncidentSpec` and hands the
//! user's body to `harness::__macro_support::run` (the one path the
//! generated code names, so the harness's modules can move freely).

use crate::args::{self, IncidentArgs};
use crate::signature;
use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{AttrStyle, Item, ItemFn};

/// Expands `#[incident(args)] item`. On any error, the function is still
/// emitted (without `#[test]`, so nothing cascades) next to the errors.
pub fn incident(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(item.clone()) {
        Ok(item) => item,
        // Not valid Rust: the compiler reports the syntax error itself.
        Err(_) => return item,
    };
    let f = match item {
        Item::Fn(f) => f,
        other => {
            let mut all = signature::not_a_fn(&other);
            if let Err(e) = args::parse(args) {
                all.combine(e);
            }
            let errors = all.to_compile_error();
            return quote!(#other #errors);
        }
    };
    let parsed = args::parse(args);
    let shape = signature::check(&f);
    match (parsed, shape) {
        (Ok(args), Ok(())) => generate(&args, f),
        (parsed, shape) => {
            let mut all: Option<syn::Error> = None;
            for e in [parsed.err(), shape.err()].into_iter().flatten() {
                match &mut all {
                    Some(a) => a.combine(e),
                    None => all = Some(e),
                }
            }
            let errors = all.map(|e| e.to_compile_error());
            let kept = fallback(f);
            quote!(#kept #errors)
        }
    }
}

/// The function as written, minus test attributes, kept quiet about
/// being unused, so editors still resolve its body.
fn fallback(mut f: ItemFn) -> TokenStream {
    f.attrs.retain(|a| !signature::is_test_attr(a));
    quote!(#[allow(dead_code)] #f)
}

/// The `IncidentSpec` literal the test passes to the runner.
pub fn spec_expr(args: &IncidentArgs, name: &str) -> TokenStream {
    let IncidentArgs {
        postmortem,
        variant,
        budget_ms,
        timeout_ms,
        seed,
        tags,
        requires,
        always,
    } = args;
    let variant = format_ident!("{}", variant);
    let seed = match seed {
        Some(s) => quote!(::std::option::Option::Some(#s)),
        None => quote!(::std::option::Option::None),
    };
    let requires = requires.iter().map(|r| format_ident!("{}", r));
    quote! {
        ::harness::__macro_support::IncidentSpec {
            name: ::std::string::String::from(#name),
            module: ::std::string::String::from(::std::module_path!()),
            binary: ::harness::__macro_support::binary_id(
                ::std::option_env!("CARGO_PKG_NAME"),
                ::std::option_env!("CARGO_CRATE_NAME"),
                ::std::option_env!("CARGO_TARGET_TMPDIR").is_some(),
                ::std::option_env!("CARGO_BIN_NAME"),
            ),
            postmortem: ::std::string::String::from(#postmortem),
            variant: ::harness::__macro_support::Variant::#variant,
            budget: ::std::time::Duration::from_millis(#budget_ms),
            timeout: ::std::time::Duration::from_millis(#timeout_ms),
            seed: #seed,
            tags: ::std::vec![#(::std::string::String::from(#tags)),*],
            requires: ::std::vec![#(::harness::__macro_support::Requirement::#requires),*],
            always: ::std::vec![#(::std::string::String::from(#always)),*],
            // The runner resolves them from the dossier (and `INCIDENT_MITIGATIONS`).
            mitigations: ::std::default::Default::default(),
            // The runner reads them from the `INCIDENT_IMAGE_*` overrides.
            other_releases: ::std::vec::Vec::new(),
        }
    }
}

/// The `#[test]` for a checked function: the user's `async fn`, unchanged,
/// nested inside a synchronous test of the same name.
fn generate(args: &IncidentArgs, f: ItemFn) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = f;
    let (outer, inner): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, AttrStyle::Outer));
    let name = sig.ident.unraw().to_string();
    let test_ident = sig.ident.clone();
    let spec = spec_expr(args, &name);
    // The body keeps the function's own name (an inner item shadows the
    // test fn), so compiler messages about it, e.g. "future returned by
    // `name` is not `Send`", name the user's function.
    let body_sig = sig;
    let body_ident = &body_sig.ident;
    // Spanned at the user's `async fn` so that, e.g., a body whose future
    // is not `Send` is reported on the function rather than in the macro.
    let span = body_sig.fn_token.span;
    let entry = quote_spanned! {span=>
        fn __incident_entry(
            lab: &mut ::harness::__macro_support::Lab,
        ) -> ::std::pin::Pin<::std::boxed::Box<
            dyn ::std::future::Future<Output = ::harness::__macro_support::Outcome> + ::std::marker::Send + '_,
        >> {
            ::std::boxed::Box::pin(#body_ident(lab))
        }
    };
    quote! {
        #(#outer)*
        #[test]
        #vis fn #test_ident() {
            #body_sig {
                #(#inner)*
                #block
            }
            #entry
            ::harness::__macro_support::run(#spec, __incident_entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn expand(args: TokenStream, item: TokenStream) -> syn::File {
        let out = incident(args, item);
        syn::parse2(out.clone())
            .unwrap_or_else(|e| panic!("expansion does not parse ({e}):\n{out}"))
    }

    fn only_fn(file: &syn::File) -> &ItemFn {
        let fns: Vec<&ItemFn> = file
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Fn(f) => Some(f),
                _ => None,
            })
            .collect();
        assert_eq!(fns.len(), 1, "one function expected");
        fns[0]
    }

    fn attr_names(f: &ItemFn) -> Vec<String> {
        f.attrs
            .iter()
            .map(|a| a.path().to_token_stream().to_string())
            .collect()
    }

    /// Compile errors in the expansion, as their messages.
    fn compile_errors(file: &syn::File) -> Vec<String> {
        file.items
            .iter()
            .filter_map(|i| match i {
                Item::Macro(m)
                    if m.mac
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "compile_error") =>
                {
                    Some(
                        syn::parse2::<syn::LitStr>(m.mac.tokens.clone())
                            .unwrap()
                            .value(),
                    )
                }
                _ => None,
            })
            .collect()
    }

    fn squash(t: impl ToTokens) -> String {
        t.to_token_stream().to_string().replace(' ', "")
    }

    #[test]
    fn a_checked_fn_becomes_a_test_calling_the_runner() {
        let file = expand(
            quote!(
                postmortem = "leancloud-2015-08-chat",
                variant = after,
                budget = "90s",
                timeout = "6m",
                seed = 42,
                tags = [heavy, chat],
                requires = [chat_gateway, toxiproxy]
            ),
            quote!(
                /// Docs stay.
                #[ignore]
                pub(crate) async fn partitioned(mut lab: &mut Lab) -> Outcome {
                    #![allow(unused_mut)]
                    lab.note("x");
                    Ok(())
                }
            ),
        );
        assert!(compile_errors(&file).is_empty());
        let f = only_fn(&file);
        assert_eq!(f.sig.ident, "partitioned");
        assert!(f.sig.asyncness.is_none() && f.sig.inputs.is_empty());
        assert!(matches!(f.sig.output, syn::ReturnType::Default));
        assert_eq!(squash(&f.vis), "pub(crate)");
        assert_eq!(attr_names(f), vec!["doc", "ignore", "test"]);
        let body = squash(&f.block);
        for want in [
            "asyncfnpartitioned(mutlab:&mutLab)->Outcome{#![allow(unused_mut)]{lab.note(\"x\");Ok(())}}",
            "name:::std::string::String::from(\"partitioned\")",
            "module:::std::string::String::from(::std::module_path!())",
            "binary:::harness::__macro_support::binary_id(::std::option_env!(\"CARGO_PKG_NAME\"),::std::option_env!(\"CARGO_CRATE_NAME\"),::std::option_env!(\"CARGO_TARGET_TMPDIR\").is_some(),::std::option_env!(\"CARGO_BIN_NAME\"),)",
            "postmortem:::std::string::String::from(\"leancloud-2015-08-chat\")",
            "variant:::harness::__macro_support::Variant::After",
            "budget:::std::time::Duration::from_millis(90000u64)",
            "timeout:::std::time::Duration::from_millis(360000u64)",
            "seed:::std::option::Option::Some(42u64)",
            "tags:::std::vec![::std::string::String::from(\"heavy\"),::std::string::String::from(\"chat\")]",
            "requires:::std::vec![::harness::__macro_support::Requirement::Docker,::harness::__macro_support::Requirement::Base,::harness::__macro_support::Requirement::ChatGateway,::harness::__macro_support::Requirement::Toxiproxy]",
            "::std::boxed::Box::pin(partitioned(lab))",
            "::harness::__macro_support::run(::harness::__macro_support::IncidentSpec{",
            "},__incident_entry);",
        ] {
            assert!(body.contains(want), "missing `{want}` in\n{body}");
        }
    }

    #[test]
    fn no_seed_is_none_and_raw_names_are_unraw() {
        let file = expand(
            quote!(postmortem = "p", variant = before, budget = "1s"),
            quote!(
                async fn r#match(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
        );
        let f = only_fn(&file);
        assert_eq!(f.sig.ident.to_string(), "r#match");
        let body = squash(&f.block);
        assert!(body.contains("seed:::std::option::Option::None"), "{body}");
        assert!(
            body.contains("name:::std::string::String::from(\"match\")"),
            "{body}"
        );
        assert!(body.contains("tags:::std::vec![]"), "{body}");
    }

    #[test]
    fn on_error_the_fn_is_kept_without_test_and_errors_follow() {
        let file = expand(
            quote!(postmortem = "p", variant = during, budget = "1s"),
            quote!(
                #[test]
                fn t(lab: &mut Lab) -> Outcome {
                    Ok(())
                }
            ),
        );
        let f = only_fn(&file);
        assert_eq!(f.sig.ident, "t");
        assert_eq!(
            attr_names(f),
            vec!["allow"],
            "no #[test], dead code allowed"
        );
        assert_eq!(squash(&f.block), "{Ok(())}", "the body is kept as written");
        let errors = compile_errors(&file);
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors[0].contains("unknown variant `during`"));
        assert!(errors[1].contains("remove this test attribute"));
        assert!(errors[2].contains("add `async` before `fn`"));
    }

    #[test]
    fn a_non_fn_item_is_kept_with_its_error() {
        let file = expand(
            quote!(postmortem = "p", variant = after, budget = "1s"),
            quote!(
                struct NotAFunction;
            ),
        );
        assert!(matches!(file.items[0], Item::Struct(_)));
        let errors = compile_errors(&file);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].contains("applies to a function, not to a struct"),
            "{errors:?}"
        );
    }

    #[test]
    fn unparsable_items_pass_through_for_the_compiler_to_report() {
        let item = quote!(async fn broken(lab) -> Outcome { let = ; });
        assert_eq!(
            incident(quote!(postmortem = "p"), item.clone()).to_string(),
            item.to_string()
        );
    }
}
