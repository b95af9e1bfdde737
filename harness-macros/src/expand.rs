//! The expansion: a `#[test]` that builds the `IncidentSpec` and hands the
//! user's body to `harness::runner::run`.

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
    let f = match signature::as_fn(item) {
        Ok(f) => f,
        Err((item, err)) => {
            let args_err = args::parse(args).err();
            let mut all = err;
            if let Some(e) = args_err {
                all.combine(e);
            }
            let errors = all.to_compile_error();
            return quote!(#item #errors);
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
    } = args;
    let variant = format_ident!("{}", variant);
    let seed = match seed {
        Some(s) => quote!(::std::option::Option::Some(#s)),
        None => quote!(::std::option::Option::None),
    };
    let requires = requires.iter().map(|r| format_ident!("{}", r));
    quote! {
        ::harness::IncidentSpec {
            name: ::std::string::String::from(#name),
            module: ::std::string::String::from(::std::module_path!()),
            postmortem: ::std::string::String::from(#postmortem),
            variant: ::harness::Variant::#variant,
            budget: ::std::time::Duration::from_millis(#budget_ms),
            timeout: ::std::time::Duration::from_millis(#timeout_ms),
            seed: #seed,
            tags: ::std::vec![#(::std::string::String::from(#tags)),*],
            requires: ::std::vec![#(::harness::Requirement::#requires),*],
        }
    }
}

/// The `#[test]` for a checked function.
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
    let mut body_sig = sig;
    body_sig.ident = format_ident!("__incident_body", span = body_sig.ident.span());
    let body_ident = &body_sig.ident;
    // Spanned at the user's `async fn` so that, e.g., a body whose future
    // is not `Send` is reported on the function rather than in the macro.
    let span = body_sig.fn_token.span;
    let entry = quote_spanned! {span=>
        fn __incident_entry<'lab>(
            lab: &'lab mut ::harness::Lab,
        ) -> ::std::pin::Pin<::std::boxed::Box<
            dyn ::std::future::Future<Output = ::harness::Outcome> + ::std::marker::Send + 'lab,
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
            ::harness::runner::run(#spec, __incident_entry);
        }
    }
}
