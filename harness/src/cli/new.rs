//! `incident new <name> --from postmortem.toml`.

use std::path::PathBuf;

/// Options of `incident new`.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The incident's name (snake_case), e.g. `acme_2024_cache_stampede`.
    pub name: String,
    /// The postmortem as TOML.
    #[arg(long)]
    pub from: PathBuf,
    /// Where to write the generated files (default: the workspace root).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Generates the incident skeleton; returns the process exit code.
pub fn run(_args: &NewArgs) -> anyhow::Result<i32> {
    anyhow::bail!("incident new is not built yet")
}
