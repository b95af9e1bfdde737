//! `incident replay <report.json>`: runs the incident a report is of
//! again, with the same seed and fault plan (`INCIDENT_REPLAY`, see
//! `report::replay`), through `cargo test` like any run.
//!
//! The report is first copied aside (`<artifacts>/replays/`), because the
//! replay writes its own report where the original was: replaying a CI
//! artifact in place would otherwise overwrite the evidence.

use crate::catalog;
use crate::report::Report;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `incident replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The `report.json` of the run to replay (e.g. from a CI artifact).
    pub report: PathBuf,
}

/// What a replay runs: the kept copy of the report and the test to run.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// The copy `INCIDENT_REPLAY` points at.
    pub kept: PathBuf,
    /// The libtest path of the incident (`incidents::chat::..`).
    pub test_path: String,
}

/// Checks the report and keeps a copy of it under `artifacts`; fails with
/// one line naming the fix for a missing or unreadable report, or one of
/// an incident this suite does not have.
pub fn prepare(report: &Path, root: &Path, artifacts: &Path) -> Result<Plan> {
    if !report.exists() {
        bail!(
            "{} does not exist: pass the report.json of the run to replay (target/incidents/<incident>/report.json, or the CI artifact's)",
            report.display()
        );
    }
    let r = Report::read(report).with_context(|| {
        format!(
            "{} is not an incident report: pass a report.json the suite wrote",
            report.display()
        )
    })?;
    let entries = catalog::read(root)?;
    let Some(entry) = entries.iter().find(|e| e.name == r.incident) else {
        bail!(
            "{} is a report of incident `{}`, which this suite does not have (`incident list` shows its incidents): replay it in the checkout it came from",
            report.display(),
            r.incident
        );
    };
    let dir = artifacts.join("replays");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let kept = dir.join(format!("{}-seed-{}.json", r.incident, r.seed));
    if report.canonicalize().ok() != kept.canonicalize().ok() {
        std::fs::copy(report, &kept)
            .with_context(|| format!("copying {} aside", report.display()))?;
    }
    Ok(Plan {
        kept,
        test_path: entry.test_path.clone(),
    })
}

/// Replays; returns `cargo test`'s exit code.
pub fn run(args: &ReplayArgs) -> Result<i32> {
    let root = crate::paths::workspace_root();
    let plan = prepare(&args.report, &root, &crate::paths::artifacts_root())?;
    println!(
        "replaying {} from {} (kept aside as {})",
        plan.test_path,
        args.report.display(),
        plan.kept.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "test",
            "--test",
            "incidents",
            "--",
            "--exact",
            "--nocapture",
        ])
        .arg(&plan.test_path)
        .env("INCIDENT_REPLAY", &plan.kept)
        .current_dir(&root)
        .status()
        .context("running cargo test")?;
    Ok(status.code().unwrap_or(1))
}
