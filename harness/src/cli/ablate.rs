//! `incident ablate <incident> [--repeat N]`: which fix bought what. Runs
//! the after variant with every mitigation the dossier names, then with
//! each one removed in turn, then with none (unless that is the one
//! removal), `N` times each (through `cargo test` with
//! `INCIDENT_MITIGATIONS`, like any run), and writes the
//! table, the findings and a picture (`report::ablation`) beside the
//! incident's report: `<artifacts>/<incident>/ablation.{md,json,svg}`,
//! linked from the HTML index. Each run keeps its own artifacts under
//! `<artifacts>/<incident>/ablation/<set>-<k>/`.
//!
//! Everything it is given is checked before anything runs: an incident
//! the suite does not have, a before variant, a dossier that names no
//! mitigation, or a `--only` name it does not give is one line naming the
//! fix.

use crate::catalog;
use crate::postmortem::Dossier;
use crate::report::ablation::{Ablation, Row, Run};
use crate::spec::Variant;
use anyhow::{bail, Context, Result};
use std::path::Path;

/// Options of `incident ablate`.
#[derive(clap::Args, Debug)]
pub struct AblateArgs {
    /// The after variant to ablate (`leancloud_2015_08_after`, or the
    /// incident's stem `leancloud_2015_08`).
    pub incident: String,
    /// Runs per set of mitigations.
    #[arg(long, default_value_t = 3)]
    pub repeat: u32,
    /// Ablate only these mitigations (comma-separated dossier names); the
    /// `all` and `none` sets run regardless.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// One set to run: its label, the mitigation it removes, and the value of
/// `INCIDENT_MITIGATIONS` that selects it.
#[derive(Clone, Debug, PartialEq)]
pub struct Set {
    /// `all`, `all - <name>` or `none`.
    pub label: String,
    /// The mitigation removed.
    pub removed: Option<String>,
    /// `INCIDENT_MITIGATIONS`.
    pub env: String,
}

/// What an ablation runs: the test, its budget, and the sets in order.
#[derive(Debug, PartialEq)]
pub struct Plan {
    /// The incident's name.
    pub incident: String,
    /// Its libtest path.
    pub test_path: String,
    /// Its budget, in seconds.
    pub budget_secs: f64,
    /// `all`, each `all - <name>`, `none`.
    pub sets: Vec<Set>,
}

/// Checks the arguments against the suite and the dossier; one line
/// naming the fix for each mistake.
pub fn plan(args: &AblateArgs, root: &Path) -> Result<Plan> {
    if args.repeat == 0 {
        bail!("--repeat 0 runs nothing: give at least 1");
    }
    let entry = super::runs::find_entry(
        root,
        &args.incident,
        "ablate takes an after variant, e.g. leancloud_2015_08_after",
    )?;
    if entry.variant != Variant::After {
        bail!(
            "`{}` is a before variant: ablate removes fixes from an after variant; pass its after variant",
            entry.name
        );
    }
    let dossier = Dossier::find(&entry.postmortem).with_context(|| {
        format!(
            "`{}`'s dossier postmortems/{}.toml is missing or malformed: `incident new --from` it to see why",
            entry.name, entry.postmortem
        )
    })?;
    let named = dossier.mitigation_names();
    if named.is_empty() {
        bail!(
            "postmortems/{}.toml names no after mitigation: give each `after = true` [[mitigations]] a `name`",
            entry.postmortem
        );
    }
    for o in &args.only {
        if !named.contains(o) {
            bail!(
                "--only {o}: postmortems/{}.toml names no such mitigation (it names: {})",
                entry.postmortem,
                named.join(", ")
            );
        }
    }
    let mut sets = vec![Set {
        label: "all".into(),
        removed: None,
        env: "all".into(),
    }];
    for n in named
        .iter()
        .filter(|n| args.only.is_empty() || args.only.contains(n))
    {
        sets.push(Set {
            label: format!("all - {n}"),
            removed: Some(n.clone()),
            env: format!("-{n}"),
        });
    }
    // With one named mitigation, removing it leaves none: the same set
    // would run twice under two names.
    if named.len() > 1 {
        sets.push(Set {
            label: "none".into(),
            removed: None,
            env: "none".into(),
        });
    }
    Ok(Plan {
        incident: entry.name.clone(),
        test_path: entry.test_path.clone(),
        budget_secs: dossier_budget(&entry, &dossier),
        sets,
    })
}

fn dossier_budget(entry: &catalog::Entry, dossier: &Dossier) -> f64 {
    crate::duration::parse(&entry.budget)
        .unwrap_or_else(|_| dossier.budget_duration())
        .as_secs_f64()
}

/// Runs the plan; prints and writes the result. Exits 0 when every run
/// ran (whatever the verdicts: an ablation measures, it does not gate).
pub fn run(args: &AblateArgs) -> Result<i32> {
    let root = crate::paths::workspace_root();
    let plan = plan(args, &root)?;
    let artifacts = crate::paths::artifacts_root();
    let dir = artifacts.join(&plan.incident);
    let kept = dir.join("ablation");
    std::fs::create_dir_all(&kept).with_context(|| format!("creating {}", kept.display()))?;
    super::runs::build_suite(&root)?;
    let total = plan.sets.len() * args.repeat as usize;
    let mut rows = Vec::new();
    for (i, set) in plan.sets.iter().enumerate() {
        let mut runs = Vec::new();
        for k in 0..args.repeat {
            println!(
                "ablate {}: {} ({}/{total})",
                plan.incident,
                set.label,
                i * args.repeat as usize + k as usize + 1
            );
            // Each run's artifacts go to their own directory: the
            // incident's own report stays the variant's, and every run's
            // report, timeline and picture are kept.
            let slug = set.label.replace(" - ", "-without-");
            let run_root = kept.join(format!("{slug}-{k}"));
            let (code, report) =
                super::runs::run_once(&root, &plan.incident, &plan.test_path, &set.env, &run_root)?;
            let run = report.as_ref().map_or(Run::missing(0), Run::from_report);
            println!(
                "ablate {}: {}: {} (exit {}), recovery {}",
                plan.incident,
                set.label,
                if run.passed { "passed" } else { "failed" },
                code,
                run.recovery_secs
                    .map_or("not measured".into(), |s| format!("{s:.1}s"))
            );
            runs.push(run);
        }
        rows.push(Row {
            set: set.label.clone(),
            removed: set.removed.clone(),
            runs,
        });
    }
    let ablation = Ablation::new(&plan.incident, plan.budget_secs, args.repeat, rows);
    let md = ablation.markdown();
    std::fs::write(dir.join(crate::report::html::ABLATION_MD), &md)?;
    std::fs::write(dir.join(crate::report::html::ABLATION_SVG), ablation.svg())?;
    std::fs::write(
        dir.join("ablation.json"),
        serde_json::to_string_pretty(&ablation)?,
    )?;
    let _ = crate::report::html::refresh(&artifacts);
    println!("{md}");
    println!(
        "written: {} (and .json, .svg)",
        dir.join("ablation.md").display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(incident: &str, only: &[&str]) -> AblateArgs {
        AblateArgs {
            incident: incident.into(),
            repeat: 2,
            only: only.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn root() -> std::path::PathBuf {
        crate::paths::workspace_root()
    }

    #[test]
    fn the_plan_is_all_then_each_removed_then_none() {
        let p = plan(&args("weibo_2017", &[]), &root()).unwrap();
        assert_eq!(p.incident, "weibo_2017_after");
        assert_eq!(p.test_path, "incidents::chat::weibo_2017_after");
        assert_eq!(p.budget_secs, 30.0);
        let labels: Vec<(&str, &str)> = p
            .sets
            .iter()
            .map(|s| (s.label.as_str(), s.env.as_str()))
            .collect();
        assert_eq!(
            labels,
            vec![
                ("all", "all"),
                ("all - shed_non_core", "-shed_non_core"),
                ("all - scale_out", "-scale_out"),
                ("none", "none")
            ]
        );
        let p = plan(
            &args("leancloud_2015_08_after", &["client_backoff"]),
            &root(),
        )
        .unwrap();
        assert_eq!(p.sets.len(), 3, "{:?}", p.sets);
        assert_eq!(p.sets[1].removed.as_deref(), Some("client_backoff"));
        // One named mitigation: `all - pre_vote` is already `none`, run once.
        let p = plan(&args("cloudflare_2020_after", &[]), &root()).unwrap();
        let labels: Vec<&str> = p.sets.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["all", "all - pre_vote"]);
    }

    #[test]
    fn bad_input_is_one_line_naming_the_fix() {
        let e = |a: AblateArgs| plan(&a, &root()).unwrap_err().to_string();
        let msg = e(args("weibo_2018", &[]));
        assert!(
            msg.contains("no incident `weibo_2018`") && msg.contains("incident list"),
            "{msg}"
        );
        let msg = e(args("weibo_2017_before", &[]));
        assert!(msg.contains("is a before variant"), "{msg}");
        let msg = e(args("weibo_2017", &["shed"]));
        assert!(
            msg.contains("--only shed") && msg.contains("shed_non_core, scale_out"),
            "{msg}"
        );
        let msg = e(AblateArgs {
            repeat: 0,
            ..args("weibo_2017", &[])
        });
        assert!(msg.contains("--repeat 0"), "{msg}");
        for m in [
            e(args("weibo_2018", &[])),
            e(args("weibo_2017_before", &[])),
        ] {
            assert!(!m.contains('\n'), "{m}");
        }
    }
}
