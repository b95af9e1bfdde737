//! The `incident` command-line tool's subcommands, one module each.

pub mod doctor;
pub mod images;
pub mod new;
