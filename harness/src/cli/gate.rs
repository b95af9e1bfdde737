//! `incident baseline save <incident>` and `incident gate <incident>`:
//! the recovery-time regression gate (statistics in `report::gate`).
//! `baseline save` runs the incident N times and commits-to-be its
//! recovery times under `tests/snapshots/baselines/`; `gate` runs it N
//! times again and fails when recovery is slower with significance.
//!
//! Exit codes of `gate`: 0 not significantly slower, 1 slower, 2 too few
//! runs to decide (an honest "cannot tell", which CI should treat as a
//! failure to configure enough repeats, not as a pass).

use super::runs;
use crate::report::gate::{Baseline, GateVerdict, DEFAULT_ALPHA};
use anyhow::{bail, Result};
use std::path::Path;

/// `incident baseline ...`.
#[derive(clap::Subcommand, Debug)]
pub enum BaselineCommand {
    /// Runs an incident N times and stores its recovery times as the baseline.
    Save(RunsArgs),
}

/// The incident and how many runs.
#[derive(clap::Args, Debug)]
pub struct RunsArgs {
    /// The incident (`weibo_2017_after`, or its stem `weibo_2017`).
    pub incident: String,
    /// Runs to make (5 a side can reach p = 0.004; 3 a side only 0.05).
    #[arg(long, default_value_t = 5)]
    pub repeat: u32,
    /// Significance level of the one-sided Mann-Whitney U test (`gate` only).
    #[arg(long, default_value_t = DEFAULT_ALPHA)]
    pub alpha: f64,
}

/// Checks the arguments; returns the incident's name and libtest path.
fn check(args: &RunsArgs, root: &Path) -> Result<(String, String)> {
    if args.repeat == 0 {
        bail!("--repeat 0 runs nothing: give at least 3 (5 to be able to see a regression at alpha 0.05 with room)");
    }
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!(
            "--alpha {} is not a probability: give a level between 0 and 1, e.g. 0.05",
            args.alpha
        );
    }
    let e = runs::find_entry(root, &args.incident, "baseline and gate take any variant")?;
    Ok((e.name, e.test_path))
}

/// Runs the incident `repeat` times; the recovery seconds of runs that
/// measured one. A run without a recovery figure is an error, not a gap.
fn measure(
    args: &RunsArgs,
    root: &Path,
    incident: &str,
    test_path: &str,
    what: &str,
) -> Result<Vec<f64>> {
    runs::build_suite(root)?;
    let dir = crate::paths::artifacts_root().join(incident).join(what);
    let mut secs = Vec::new();
    for k in 0..args.repeat {
        println!("{what} {incident}: run {}/{}", k + 1, args.repeat);
        let (code, report) =
            runs::run_once(root, incident, test_path, "all", &dir.join(k.to_string()))?;
        match report.as_ref().and_then(|r| r.recovery_secs()) {
            Some(s) => {
                println!("{what} {incident}: recovery {s:.2}s (exit {code})");
                secs.push(s);
            }
            None => bail!(
                "{what} {incident}: run {} measured no recovery (exit {code}): see {} and fix the run first",
                k + 1,
                dir.join(k.to_string()).display()
            ),
        }
    }
    Ok(secs)
}

/// `incident baseline save`.
pub fn run_baseline(cmd: &BaselineCommand) -> Result<i32> {
    let BaselineCommand::Save(args) = cmd;
    let root = crate::paths::workspace_root();
    let (incident, test_path) = check(args, &root)?;
    let recovery_secs = measure(args, &root, &incident, &test_path, "baseline")?;
    let baseline = Baseline {
        incident,
        commit: head_commit(&root),
        recovery_secs,
    };
    let path = baseline.save(&root)?;
    println!("written: {} (commit it)", path.display());
    Ok(0)
}

/// The commit the runs are made at (`git rev-parse --short HEAD`), or
/// `unknown` outside a git checkout.
fn head_commit(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        })
}

/// `incident gate`.
pub fn run_gate(args: &RunsArgs) -> Result<i32> {
    let root = crate::paths::workspace_root();
    let (incident, test_path) = check(args, &root)?;
    // Refused before anything runs: no baseline, nothing to compare.
    let baseline = Baseline::load(&root, &incident)?;
    let candidate = measure(args, &root, &incident, &test_path, "gate")?;
    let Some(t) = baseline.test(&candidate, args.alpha) else {
        bail!(
            "{}'s baseline holds no recovery time: save it again",
            incident
        );
    };
    println!("gate {incident}: {}", t.summary());
    Ok(match t.verdict {
        GateVerdict::NotSlower => 0,
        GateVerdict::Slower => 1,
        GateVerdict::TooFewRuns => 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(incident: &str, repeat: u32, alpha: f64) -> RunsArgs {
        RunsArgs {
            incident: incident.into(),
            repeat,
            alpha,
        }
    }

    #[test]
    fn bad_input_is_one_line_naming_the_fix_before_anything_runs() {
        let root = crate::paths::workspace_root();
        let e = |a: RunsArgs| check(&a, &root).unwrap_err().to_string();
        for (a, want) in [
            (args("weibo_2018", 5, 0.05), "incident list"),
            (args("weibo_2017", 0, 0.05), "--repeat 0"),
            (args("weibo_2017", 5, 1.5), "--alpha 1.5"),
        ] {
            let msg = e(a);
            assert!(msg.contains(want) && !msg.contains('\n'), "{msg}");
        }
        assert_eq!(
            check(&args("weibo_2017", 5, 0.05), &root).unwrap(),
            (
                "weibo_2017_after".to_string(),
                "incidents::chat::weibo_2017_after".to_string()
            )
        );
        // An incident with no baseline is refused before it runs.
        let msg = run_gate(&args("weibo_2017_before", 5, 0.05))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("has no baseline")
                && msg.contains("incident baseline save weibo_2017_before"),
            "{msg}"
        );
    }
}
