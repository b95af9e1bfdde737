//! Running one incident once from the CLI, as `cargo test` would: shared
//! by `ablate`, `baseline save`, `gate` and `bisect`, so each run is built, isolated
//! and read back the same way.

use crate::catalog;
use crate::report::Report;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Builds the incident suite once, so the runs after it measure the
/// incident and not the compiler.
pub fn build_suite(root: &Path) -> Result<()> {
    let built = Command::new(cargo())
        .args(["test", "--test", "incidents", "--no-run"])
        .current_dir(root)
        .status()
        .context("running cargo test --no-run")?;
    if !built.success() {
        bail!(
            "the incident suite does not build: fix `cargo test --test incidents --no-run` first"
        );
    }
    Ok(())
}

/// Runs `test_path` once with `INCIDENT_MITIGATIONS=mitigations`, its
/// artifacts under `run_root` (emptied first), and returns the exit code
/// and the report it wrote (`None` when it crashed before writing one).
pub fn run_once(
    root: &Path,
    incident: &str,
    test_path: &str,
    mitigations: &str,
    run_root: &Path,
) -> Result<(i32, Option<Report>)> {
    run_once_with(root, incident, test_path, mitigations, run_root, &[])
}

/// [`run_once`] with more environment for the test process (`incident
/// bisect` sets an image override, `INCIDENT_IMAGE_CONSUL=...`).
///
/// A run never writes into the source tree: a snapshot that does not match
/// (a bisected release without the signature, a gate run that regressed)
/// fails the run, which the report read back already says, and leaves no
/// `.snap.new` beside the committed snapshots (`INSTA_UPDATE=no`).
pub fn run_once_with(
    root: &Path,
    incident: &str,
    test_path: &str,
    mitigations: &str,
    run_root: &Path,
    env: &[(String, String)],
) -> Result<(i32, Option<Report>)> {
    let _ = std::fs::remove_dir_all(run_root);
    let status = Command::new(cargo())
        .args(["test", "--test", "incidents", "--", "--exact"])
        .arg(test_path)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(crate::mitigations::ENV, mitigations)
        .env("INCIDENT_ARTIFACTS", run_root)
        .env("INCIDENT_PROGRESS", "0")
        .env("INSTA_UPDATE", "no")
        .current_dir(root)
        .status()
        .context("running cargo test")?;
    let report = Report::read(&run_root.join(incident).join("report.json")).ok();
    Ok((status.code().unwrap_or(-1), report))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The suite's incident called `name`, or `<name>_after`; a name the
/// suite does not have is one line pointing at `incident list` (`hint`
/// says what this verb takes).
pub fn find_entry(root: &Path, name: &str, hint: &str) -> Result<catalog::Entry> {
    let wanted = [name.to_string(), format!("{name}_after")];
    match catalog::read(root)?
        .into_iter()
        .find(|e| wanted.contains(&e.name))
    {
        Some(e) => Ok(e),
        None => bail!("no incident `{name}` in this suite: `incident list` shows them ({hint})"),
    }
}
