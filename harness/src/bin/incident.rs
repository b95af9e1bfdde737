//! `incident`: check a machine (`doctor`), build and list the images the
//! suite runs on (`images`), turn a postmortem into an incident (`new`),
//! and what users do after a run: see the suite (`list`), replay a run
//! (`replay`), open its report (`open`), clean up after a killed one
//! (`clean`), learn which fix bought the recovery (`ablate`), gate a
//! release on recovery time (`baseline save`, `gate`), and find the
//! release that introduced or removed a signature (`bisect`).

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
    /// Lists the suite's incidents, their requirements, and whether each can run here.
    List(cli::list::ListArgs),
    /// Runs the incident of a report.json again with the same seed and fault plan.
    Replay(cli::replay::ReplayArgs),
    /// Opens the HTML index, or one incident's timeline picture.
    Open(cli::open::OpenArgs),
    /// Removes what killed runs left behind (containers, networks).
    Clean(cli::clean::CleanArgs),
    /// Regenerates (or checks) the nextest test groups from the incidents' tags.
    Groups(cli::groups::GroupsArgs),
    /// Runs an after variant with each mitigation removed in turn: which fix bought what.
    Ablate(cli::ablate::AblateArgs),
    /// Stores an incident's recovery times from N runs as its baseline.
    #[command(subcommand)]
    Baseline(cli::gate::BaselineCommand),
    /// Runs an incident N times; fails when recovery is significantly slower than its baseline.
    Gate(cli::gate::RunsArgs),
    /// Builds the releases of a range and finds the first where the incident's signature appears or disappears.
    Bisect(cli::bisect::BisectArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Doctor(a) => cli::doctor::run(a),
        Command::Images(c) => cli::images::run(c),
        Command::New(a) => cli::new::run(a),
        Command::List(a) => cli::list::run(a),
        Command::Replay(a) => cli::replay::run(a),
        Command::Open(a) => cli::open::run(a),
        Command::Clean(a) => cli::clean::run(a),
        Command::Groups(a) => cli::groups::run(a),
        Command::Ablate(a) => cli::ablate::run(a),
        Command::Baseline(c) => cli::gate::run_baseline(c),
        Command::Gate(a) => cli::gate::run_gate(a),
        Command::Bisect(a) => cli::bisect::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("incident: {e:#}");
            std::process::exit(1);
        }
    }
}
