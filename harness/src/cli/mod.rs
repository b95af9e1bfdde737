//! The `incident` command-line tool's subcommands, one module each.

pub mod ablate;
pub mod bisect;
pub mod clean;
pub mod doctor;
pub mod gate;
pub mod groups;
pub mod images;
pub mod list;
pub mod new;
pub mod open;
pub mod replay;
pub mod runs;
