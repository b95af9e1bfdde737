//! The `incident` command-line tool.
fn main() {}
