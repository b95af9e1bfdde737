//! Compile-time behaviour of `#[incident]`: each misuse in `tests/ui/` is
//! an error pointing at the mistake and saying what to write (the expected
//! messages are the `.stderr` files next to each case); the cases in
//! `tests/ui/pass/` compile. (trybuild builds the cases as binaries, where
//! `#[test]` functions are compiled out, so the pass cases prove the
//! attribute accepts them; `macro_expand.rs` type-checks and runs the
//! generated tests against the real runner.)
//!
//! Regenerate expectations with `TRYBUILD=overwrite cargo test -p harness
//! --test macro_ui`, then read every `.stderr` before committing.

#[test]
fn incident_attribute_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
