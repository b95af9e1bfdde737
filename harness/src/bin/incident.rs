//! `incident`: check a machine (`doctor`), build and list the images the
//! suite runs on (`images`), and turn a postmortem into an incident test
//! skeleton (`new`).

use clap::{Parser, Subcommand};
use harness::cli;

#[derive(Parser, Debug)]
#[command(
    name = "incident",
    version,
    about = "incident-harness: executable postmortems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Checks Docker, cgroups, sidecars, images and host size.
    Doctor(cli::doctor::DoctorArgs),
    /// Builds or lists images.
    #[command(subcommand)]
    Images(cli::images::ImagesCommand),
    /// Generates a before/after incident test skeleton from a postmortem TOML.
    New(cli::new::NewArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Doctor(a) => cli::doctor::run(a),
        Command::Images(c) => cli::images::run(c),
        Command::New(a) => cli::new::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("incident: {e:#}");
            std::process::exit(1);
        }
    }
}
