//! The `#[incident]` attribute (placeholder until the macro lands).
use proc_macro::TokenStream;

/// Turns an `async fn(lab: &mut Lab) -> Outcome` into an incident test.
#[proc_macro_attribute]
pub fn incident(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
