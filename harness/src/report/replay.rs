//! `INCIDENT_REPLAY=<report.json>`: run the same plan again.
//!
//! Every report records the seed, the fault plan as executed
//! ([`FaultRecord`]: what, to whom, when) and the image ids the lab ran.
//! With `INCIDENT_REPLAY` set, the runner takes the seed from the recorded
//! report (so `lab.rng(..)` draws the same choices), and at
//! [`LabCtx::finish`](crate::lab::LabCtx) the executed plan is compared with
//! the recorded one: kinds, descriptions and order must match, and each
//! injection must land within `INCIDENT_REPLAY_TOLERANCE` (default 10s) of
//! the recorded offset. A divergence is recorded as a failing
//! `replay.plan` check, so the test fails and says what differs.

use super::Report;
use crate::checker::{Check, CheckKind, Verdict};
use crate::record::FaultRecord;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The check a diverging replay records.
pub const PLAN_CHECK: &str = "replay.plan";

/// The default tolerance on injection offsets.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(10);

/// The report named by `INCIDENT_REPLAY`, if replay is on.
pub fn recorded() -> Option<(PathBuf, Report)> {
    let path = PathBuf::from(std::env::var("INCIDENT_REPLAY").ok()?);
    match Report::read(&path) {
        Ok(r) => Some((path, r)),
        Err(e) => {
            crate::console::loud(&format!(
                "INCIDENT_REPLAY={}: cannot read the report ({e:#}); point it at a report.json under target/incidents/",
                path.display()
            ));
            None
        }
    }
}

/// The seed recorded in the replayed report, if replay is on.
pub fn seed_for() -> Option<u64> {
    recorded().map(|(_, r)| r.seed)
}

/// The tolerance on injection offsets (`INCIDENT_REPLAY_TOLERANCE`, e.g. `5s`).
pub fn tolerance() -> Duration {
    std::env::var("INCIDENT_REPLAY_TOLERANCE")
        .ok()
        .and_then(|t| crate::duration::parse(&t).ok())
        .unwrap_or(DEFAULT_TOLERANCE)
}

/// A fault plan with what varies between runs taken out: the run id in
/// names becomes `<run>`.
fn normalise(description: &str, run_id: &str) -> String {
    if run_id.is_empty() {
        description.to_string()
    } else {
        description.replace(run_id, "<run>")
    }
}

fn offset(f: &FaultRecord) -> Duration {
    f.injected_at.unwrap_or(f.invoked_at)
}

/// The differences between a recorded plan and a replayed one, one line
/// each; empty when they match.
pub fn compare(
    recorded: &[FaultRecord],
    recorded_run: &str,
    replayed: &[FaultRecord],
    replayed_run: &str,
    tolerance: Duration,
) -> Vec<String> {
    let mut out = Vec::new();
    if recorded.len() != replayed.len() {
        out.push(format!(
            "{} faults recorded, {} replayed",
            recorded.len(),
            replayed.len()
        ));
    }
    for (i, (a, b)) in recorded.iter().zip(replayed).enumerate() {
        let n = i + 1;
        if a.kind != b.kind {
            out.push(format!(
                "fault {n}: recorded kind `{}`, replayed `{}`",
                a.kind, b.kind
            ));
            continue;
        }
        let (da, db) = (
            normalise(&a.description, recorded_run),
            normalise(&b.description, replayed_run),
        );
        if da != db {
            out.push(format!(
                "fault {n} ({}): recorded `{da}`, replayed `{db}`",
                a.kind
            ));
        }
        let (oa, ob) = (offset(a), offset(b));
        let gap = oa.abs_diff(ob);
        if gap > tolerance {
            out.push(format!(
                "fault {n} ({}): injected at {:.1}s, recorded {:.1}s (more than {} apart; INCIDENT_REPLAY_TOLERANCE sets the tolerance)",
                a.kind,
                ob.as_secs_f64(),
                oa.as_secs_f64(),
                crate::duration::format(tolerance)
            ));
        }
        if a.error.is_none() && b.error.is_some() {
            out.push(format!(
                "fault {n} ({}): failed in the replay: {}",
                a.kind,
                b.error.as_deref().unwrap_or_default()
            ));
        }
    }
    for (i, extra) in recorded.iter().skip(replayed.len()).enumerate() {
        out.push(format!(
            "fault {} ({}: {}) was recorded but not replayed",
            replayed.len() + i + 1,
            extra.kind,
            extra.description
        ));
    }
    for (i, extra) in replayed.iter().skip(recorded.len()).enumerate() {
        out.push(format!(
            "fault {} ({}: {}) was replayed but never recorded",
            recorded.len() + i + 1,
            extra.kind,
            extra.description
        ));
    }
    out
}

/// What replay adds to a run's report: a note when the plan matches, a
/// failing `replay.plan` check when it does not. `None` when replay is off
/// or the recorded report is of another incident.
pub enum Verdicts {
    /// The plans match.
    Same(String),
    /// They differ.
    Diverged(Check),
}

/// Compares this run's plan with the replayed report's.
pub fn judge(
    incident: &str,
    replayed: &[FaultRecord],
    run_id: &str,
    images: &BTreeMap<String, String>,
) -> Option<Verdicts> {
    let (path, recorded) = recorded()?;
    if recorded.incident != incident {
        return None;
    }
    Some(judge_against(
        &path,
        &recorded,
        replayed,
        run_id,
        images,
        tolerance(),
    ))
}

/// [`judge`] against a given recorded report.
pub fn judge_against(
    path: &Path,
    recorded: &Report,
    replayed: &[FaultRecord],
    run_id: &str,
    images: &BTreeMap<String, String>,
    tolerance: Duration,
) -> Verdicts {
    let mut diffs = compare(
        &recorded.faults,
        &recorded.run_id,
        replayed,
        run_id,
        tolerance,
    );
    let changed_images: Vec<String> = recorded
        .images
        .iter()
        .filter(|(image, id)| images.get(*image).is_some_and(|now| now != *id))
        .map(|(image, id)| format!("{image}: {id} then, {} now", images[image]))
        .collect();
    if diffs.is_empty() {
        let mut note = format!(
            "replayed {} (seed {}): the same fault plan ({} faults)",
            path.display(),
            recorded.seed,
            recorded.faults.len()
        );
        if !changed_images.is_empty() {
            note.push_str(&format!("; images differ: {}", changed_images.join("; ")));
        }
        return Verdicts::Same(note);
    }
    if !changed_images.is_empty() {
        diffs.push(format!("images differ: {}", changed_images.join("; ")));
    }
    let detail = format!(
        "the replay of {} diverged from its fault plan: {}",
        path.display(),
        diffs.join("; ")
    );
    Verdicts::Diverged(
        Check::new(PLAN_CHECK, CheckKind::Always, Verdict::Invalid, detail)
            .with_count("divergences", diffs.len() as u64),
    )
}

/// The image id (`sha256:..`, the digest of the image's configuration) of
/// each image reference, as Docker has it now.
pub async fn image_ids(
    docker: &bollard::Docker,
    references: impl IntoIterator<Item = String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for reference in references {
        if out.contains_key(&reference) {
            continue;
        }
        let id = match docker.inspect_image(&reference).await {
            Ok(info) => info.id.unwrap_or_else(|| "unknown".into()),
            Err(e) => format!("unknown ({e})"),
        };
        out.insert(reference, id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(kind: &str, what: &str, at: f64) -> FaultRecord {
        FaultRecord {
            kind: kind.into(),
            description: what.into(),
            invoked_at: Duration::from_secs_f64(at - 0.5),
            injected_at: Some(Duration::from_secs_f64(at)),
            healed_at: Some(Duration::from_secs_f64(at + 5.0)),
            phase: Some("fault".into()),
            error: None,
        }
    }

    const TOL: Duration = Duration::from_secs(2);

    #[test]
    fn the_same_plan_matches_despite_run_ids_and_jitter() {
        let a = vec![
            fault("kill", "SIGKILL echo-1 of run-aaa", 10.0),
            fault("pause", "pause echo-2", 20.0),
        ];
        let b = vec![
            fault("kill", "SIGKILL echo-1 of run-bbb", 11.5),
            fault("pause", "pause echo-2", 19.0),
        ];
        assert_eq!(
            compare(&a, "run-aaa", &b, "run-bbb", TOL),
            Vec::<String>::new()
        );
    }

    #[test]
    fn divergences_are_named() {
        let a = vec![
            fault("kill", "SIGKILL echo-1", 10.0),
            fault("pause", "pause echo-2", 20.0),
        ];
        let other_kind = vec![fault("restart", "SIGKILL echo-1", 10.0), a[1].clone()];
        let d = compare(&a, "", &other_kind, "", TOL);
        assert_eq!(d, vec!["fault 1: recorded kind `kill`, replayed `restart`"]);
        let other_target = vec![fault("kill", "SIGKILL echo-2", 10.0), a[1].clone()];
        let d = compare(&a, "", &other_target, "", TOL);
        assert!(
            d[0].contains("recorded `SIGKILL echo-1`, replayed `SIGKILL echo-2`"),
            "{d:?}"
        );
        let late = vec![a[0].clone(), fault("pause", "pause echo-2", 25.0)];
        let d = compare(&a, "", &late, "", TOL);
        assert!(
            d[0].starts_with("fault 2 (pause): injected at 25.0s, recorded 20.0s"),
            "{d:?}"
        );
        let swapped = vec![a[1].clone(), a[0].clone()];
        assert_eq!(compare(&a, "", &swapped, "", TOL).len(), 2);
        let missing = vec![a[0].clone()];
        let d = compare(&a, "", &missing, "", TOL);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[1].contains("was recorded but not replayed"));
    }

    #[test]
    fn a_diverged_replay_fails_the_run() {
        let mut recorded = Report::skipped(
            &crate::spec::IncidentSpec::new("x", "y", crate::spec::Variant::After),
            7,
            "",
        );
        recorded.faults = vec![fault("kill", "SIGKILL a", 3.0)];
        let same = judge_against(
            Path::new("r.json"),
            &recorded,
            &recorded.faults.clone(),
            "",
            &BTreeMap::new(),
            TOL,
        );
        assert!(matches!(same, Verdicts::Same(ref n) if n.contains("same fault plan")));
        let diverged = judge_against(
            Path::new("r.json"),
            &recorded,
            &[],
            "",
            &BTreeMap::new(),
            TOL,
        );
        let Verdicts::Diverged(check) = diverged else {
            panic!("an empty replay matched a one-fault plan")
        };
        assert_eq!(check.verdict, Verdict::Invalid);
        assert_eq!(check.kind, CheckKind::Always);
        assert!(check.detail.contains("was recorded but not replayed"));
    }
}
