//! The tables the `#[incident]` attribute (a proc-macro crate, which cannot
//! depend on `harness`) and the harness both read, kept once:
//! - [`duration`]: the grammar of `"90s"`, `"6m"`, `"1m30s"`, `"250ms"`;
//! - [`Requirement`]: the names written in `requires = [...]`.

pub mod duration;
mod requirement;

pub use requirement::Requirement;
