//! The report of one incident: a serde model written as
//! `target/incidents/<incident>/report.json` (with the history), and its
//! stable view for insta snapshots: verdicts, anomaly counts and budget
//! outcomes; never raw milliseconds, ids, ports or addresses.
//!
//! One concept, one file: the report's model and its snapshot view, which
//! must change together; writers of other formats are siblings (`junit`,
//! `html`, `svg`).

pub mod ablation;
pub mod bisect;
pub mod gate;
pub mod html;
pub mod junit;
pub mod replay;
pub mod svg;

use crate::checker::latency::LatencySummary;
use crate::paths::artifacts_root;
use crate::record::{FaultRecord, RunIdentity, RunRecord, TopologyEntry};
use crate::spec::{IncidentSpec, Variant};
use crate::timeline::{Event, PhaseSpan, Timeline};
use crate::verdict::{Check, CheckKind, UnknownPolicy, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::checker::availability::RECOVERY_CHECK;

/// How the incident ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// The body completed; the verdict decides pass or fail.
    Completed,
    /// The body returned an error.
    Error,
    /// The body panicked.
    Panicked,
    /// The incident ran past its timeout.
    TimedOut,
    /// A requirement was missing.
    Skipped,
}

/// The full, run-dependent report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The incident (test function) name.
    pub incident: String,
    /// The test's path inside its binary, as libtest and nextest name it
    /// (`incidents::chat::weibo_2017_after`); empty in reports written
    /// before it was recorded (see [`Report::test_name`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub test_path: String,
    /// The test binary's nextest binary id (`incident-suite::incidents`);
    /// empty when unknown (older reports, specs built by hand).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub binary_id: String,
    /// The postmortem dossier id.
    pub postmortem: String,
    /// Before or after.
    pub variant: Variant,
    /// The seed (replaying with it reproduces the fault plan).
    pub seed: u64,
    /// The run id in labels and container names.
    pub run_id: String,
    /// Identifies one `cargo test` process, to group reports into a suite.
    pub suite_run: String,
    /// Unix time the lab started.
    pub started_at_unix: f64,
    /// Seconds the incident ran.
    pub duration_secs: f64,
    /// The recovery budget in seconds.
    pub budget_secs: f64,
    /// How it ended.
    pub outcome: RunOutcome,
    /// The error, panic message or skip reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The overall verdict for this variant (see [`Report::judge`]).
    pub verdict: Verdict,
    /// What ran where.
    pub topology: Vec<TopologyEntry>,
    /// Image references and their ids (`sha256:..`, resolved at
    /// [`LabCtx::finish`](crate::lab::LabCtx::finish); reports of failed runs keep the reference).
    pub images: BTreeMap<String, String>,
    /// Named spans of the timeline.
    pub phases: Vec<PhaseSpan>,
    /// The fault plan as executed (replay re-runs it).
    pub faults: Vec<FaultRecord>,
    /// Every event.
    pub timeline: Vec<Event>,
    /// Checker results.
    pub checks: Vec<Check>,
    /// Latency percentiles per phase of the main workload.
    pub latency: Vec<LatencySummary>,
    /// Measured figures (peaks, ratios, sizes).
    pub figures: BTreeMap<String, f64>,
    /// Time series for the picture: name → (seconds, value).
    pub series: BTreeMap<String, Vec<(f64, f64)>>,
    /// Things a reader must know.
    pub notes: Vec<String>,
    /// Operation counts: ok, fail, unknown.
    pub ops: OpCounts,
    /// The mitigations in force (the variant's own set unless `ablated`).
    #[serde(default)]
    pub mitigations: crate::mitigations::Mitigations,
    /// The mitigations the scenario asked about while it ran.
    #[serde(default)]
    pub mitigations_asked: std::collections::BTreeSet<String>,
    /// Images run at another release than the variant's own (`incident
    /// bisect`; see [`IncidentSpec::other_releases`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_releases: Vec<String>,
}

/// Operation counts of the recorded history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpCounts {
    /// Acknowledged.
    pub ok: u64,
    /// Definitely failed.
    pub fail: u64,
    /// Outcome unknown.
    pub unknown: u64,
}

/// The part of a report that is identical from run to run: what
/// `insta::assert_yaml_snapshot!(report.stable())` records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StableReport {
    /// The incident name.
    pub incident: String,
    /// The postmortem dossier id.
    pub postmortem: String,
    /// Before or after.
    pub variant: Variant,
    /// The overall verdict.
    pub verdict: Verdict,
    /// The budget, as written (`90s`).
    pub budget: String,
    /// `within budget`, `over budget`, `not recovered`, or `not measured`.
    pub recovery: String,
    /// Phase names in order.
    pub phases: Vec<String>,
    /// Fault kinds in injection order.
    pub faults: Vec<String>,
    /// Every check: name, kind, verdict and stable counts.
    pub checks: Vec<StableCheck>,
}

/// A check in the stable view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StableCheck {
    /// Its name.
    pub name: String,
    /// How it counts.
    pub kind: CheckKind,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its stable counts (anomalies).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// For an undecided check: what was not reproduced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_reproduced: Option<String>,
    /// For an undecided check: whether the incident passes with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<UnknownPolicy>,
}

/// An id for this test process, shared by every report it writes.
pub fn suite_run_id() -> String {
    crate::labels::owner_token()
}

impl Report {
    /// The verdict of `checks` for `variant`:
    /// - before: signature and always-checks must hold; at least one
    ///   signature check is needed (reproducing nothing is not a pass);
    /// - after: requirement and always-checks must hold; at least one
    ///   requirement check is needed.
    pub fn judge(variant: Variant, checks: &[Check]) -> Verdict {
        let needed = needed_kind(variant);
        if !checks.iter().any(|c| c.kind == needed) {
            return Verdict::Unknown;
        }
        Verdict::all(
            checks
                .iter()
                .filter(|c| counted(variant, c.kind))
                .map(|c| c.verdict),
        )
    }

    /// Whether an incident with these `checks` passes for `variant`: its
    /// verdict is valid, or it is unknown only through checks that state
    /// [`UnknownPolicy::Pass`] ([`Check::inconclusive`]) while at least one
    /// signature (before) or requirement (after) was decided valid. Any
    /// other unknown fails: undecided is not a pass unless the scenario
    /// says so for that check.
    pub fn passes(variant: Variant, checks: &[Check]) -> bool {
        match Report::judge(variant, checks) {
            Verdict::Valid => true,
            Verdict::Invalid => false,
            Verdict::Unknown => {
                let needed = needed_kind(variant);
                checks
                    .iter()
                    .filter(|c| counted(variant, c.kind))
                    .all(Check::passes)
                    && checks
                        .iter()
                        .any(|c| c.kind == needed && c.verdict == Verdict::Valid)
            }
        }
    }

    /// Whether this run passes: it completed and [`Report::passes`].
    pub fn passed(&self) -> bool {
        self.outcome == RunOutcome::Completed
            && self.verdict != Verdict::Invalid
            && Report::passes(self.variant, &self.checks)
    }

    /// The checks left undecided at this scale, one line each: what was
    /// not reproduced, the measured ratio, what it would need.
    pub fn not_reproduced(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| c.verdict == Verdict::Unknown)
            .filter_map(|c| {
                let i = c.inconclusive.as_ref()?;
                Some(format!("{}: {}", c.name, i.describe()))
            })
            .collect()
    }

    /// Builds the report of a run from its record as it stands, ended by
    /// `outcome` (with `error`, the error, panic message or timeout).
    pub fn build(
        run: &RunIdentity,
        record: &RunRecord,
        timeline: &Timeline,
        outcome: RunOutcome,
        error: Option<String>,
    ) -> Report {
        let spec = &run.spec;
        let end = timeline.now();
        let history = &record.history;
        let judged = Report::judge(spec.variant, &record.checks);
        let verdict = match outcome {
            RunOutcome::Completed => judged,
            RunOutcome::Skipped => Verdict::Unknown,
            _ => Verdict::Invalid,
        };
        let (ok, fail, unknown) = history.counts();
        let latency = if history.is_empty() {
            Vec::new()
        } else {
            crate::checker::latency::per_phase(history, |_| true)
        };
        Report {
            incident: spec.name.clone(),
            test_path: spec.test_path(),
            binary_id: spec.binary.clone(),
            postmortem: spec.postmortem.clone(),
            variant: spec.variant,
            seed: run.seed,
            run_id: run.run_id.clone(),
            suite_run: suite_run_id(),
            started_at_unix: run.started_at_unix(),
            duration_secs: end.as_secs_f64(),
            budget_secs: spec.budget.as_secs_f64(),
            outcome,
            error,
            verdict,
            topology: record.topology.clone(),
            images: record
                .topology
                .iter()
                .map(|t| (t.image.clone(), t.image.clone()))
                .collect(),
            phases: timeline.phases(end),
            faults: record.faults.clone(),
            timeline: timeline.events(),
            checks: record.checks.clone(),
            latency,
            figures: record.figures.clone(),
            series: record.series.clone(),
            notes: record.notes.clone(),
            ops: OpCounts {
                ok: ok as u64,
                fail: fail as u64,
                unknown: unknown as u64,
            },
            mitigations: spec.mitigations.clone(),
            mitigations_asked: record.mitigations_asked.clone(),
            other_releases: spec.other_releases.clone(),
        }
    }

    /// The report of an incident that was skipped.
    pub fn skipped(spec: &IncidentSpec, seed: u64, reason: &str) -> Report {
        Report {
            incident: spec.name.clone(),
            test_path: spec.test_path(),
            binary_id: spec.binary.clone(),
            postmortem: spec.postmortem.clone(),
            variant: spec.variant,
            seed,
            run_id: String::new(),
            suite_run: suite_run_id(),
            started_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
            duration_secs: 0.0,
            budget_secs: spec.budget.as_secs_f64(),
            outcome: RunOutcome::Skipped,
            error: Some(reason.to_string()),
            verdict: Verdict::Unknown,
            topology: Vec::new(),
            images: Default::default(),
            phases: Vec::new(),
            faults: Vec::new(),
            timeline: Vec::new(),
            checks: Vec::new(),
            latency: Vec::new(),
            figures: Default::default(),
            series: Default::default(),
            notes: Vec::new(),
            ops: Default::default(),
            mitigations: spec.mitigations.clone(),
            mitigations_asked: Default::default(),
            other_releases: spec.other_releases.clone(),
        }
    }

    /// The test's name as libtest and nextest give it: its path inside the
    /// binary, or the incident name for reports that do not record it.
    pub fn test_name(&self) -> &str {
        if self.test_path.is_empty() {
            &self.incident
        } else {
            &self.test_path
        }
    }

    /// Whether this run's snapshot is the variant's: `false` for a run
    /// with another set of mitigations than its variant's own (an
    /// ablation run, `INCIDENT_MITIGATIONS`) or with an image at another
    /// release (a bisection step), whose checks judge it but whose stable
    /// view is not the committed one. Says so in one line when `false`.
    pub fn snapshot_applies(&self) -> bool {
        if self.mitigations.ablated {
            crate::console::loud(&format!(
                "incident {}: snapshot not asserted: mitigations {} are not the {} variant's own",
                self.incident,
                self.mitigations.label(),
                self.variant
            ));
        }
        if !self.other_releases.is_empty() {
            crate::console::loud(&format!(
                "incident {}: snapshot not asserted: {} is not the {} variant's own release",
                self.incident,
                self.other_releases.join(", "),
                self.variant
            ));
        }
        !self.mitigations.ablated && self.other_releases.is_empty()
    }

    /// The stable view, for snapshots.
    pub fn stable(&self) -> StableReport {
        let recovery = match self.checks.iter().find(|c| c.name == RECOVERY_CHECK) {
            None => "not measured".to_string(),
            Some(c) if c.verdict == Verdict::Valid => "within budget".to_string(),
            Some(c) if c.figures.contains_key("recovery_secs") => "over budget".to_string(),
            Some(_) => "not recovered".to_string(),
        };
        StableReport {
            incident: self.incident.clone(),
            postmortem: self.postmortem.clone(),
            variant: self.variant,
            verdict: self.verdict,
            budget: crate::duration::format(std::time::Duration::from_secs_f64(self.budget_secs)),
            recovery,
            phases: dedup(self.phases.iter().map(|p| p.name.clone())),
            faults: self.faults.iter().map(|f| f.kind.clone()).collect(),
            checks: self
                .checks
                .iter()
                .map(|c| StableCheck {
                    name: c.name.clone(),
                    kind: c.kind,
                    verdict: c.verdict,
                    counts: c.counts.clone(),
                    not_reproduced: c.inconclusive.as_ref().map(|i| i.cause.clone()),
                    unknown: c.inconclusive.as_ref().map(|i| i.policy),
                })
                .collect(),
        }
    }

    /// The recovery time in seconds, if it was measured.
    pub fn recovery_secs(&self) -> Option<f64> {
        self.checks
            .iter()
            .find(|c| c.name == RECOVERY_CHECK)
            .and_then(|c| c.figures.get("recovery_secs").copied())
    }

    /// The checks that made the verdict not valid, one line each.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .checks
            .iter()
            .filter(|c| counted(self.variant, c.kind) && !c.passes())
            .map(|c| format!("{} ({:?}): {}", c.name, c.verdict, c.detail))
            .collect();
        if out.is_empty() && !self.passed() && self.outcome == RunOutcome::Completed {
            let recorded = self
                .checks
                .iter()
                .any(|c| c.kind == needed_kind(self.variant));
            out.push(match (self.variant, recorded) {
                (Variant::Before, false) => "no signature check was recorded: a before variant must show the outage's signature".into(),
                (Variant::After, false) => "no requirement check was recorded: an after variant must check recovery and integrity".into(),
                // Recorded, but each undecided (passing by its policy).
                (Variant::Before, true) => "no signature was reproduced: every signature check is undecided at this scale".into(),
                (Variant::After, true) => "no requirement was decided: every requirement check is undecided at this scale".into(),
            });
        }
        out
    }

    /// The directory of this incident's artifacts.
    pub fn dir(&self) -> PathBuf {
        artifacts_root().join(&self.incident)
    }

    /// Writes `report.json` into `dir` (the history is written beside it by
    /// [`LabCtx::finish`](crate::lab::LabCtx::finish)), draws `timeline.svg` from both, then refreshes
    /// the suite's JUnit file and HTML index.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        self.write_with_root(dir, &artifacts_root())
    }

    /// [`Report::write`] into `root/<incident>`, refreshing `root`'s JUnit
    /// file and index (tests render suites into temporary directories).
    pub fn write_to(&self, root: &Path) -> std::io::Result<()> {
        self.write_with_root(&root.join(&self.incident), root)
    }

    fn write_with_root(&self, dir: &Path, root: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("report.json"), json)?;
        junit::refresh(root)?;
        if self.outcome != RunOutcome::Skipped {
            // A picture that cannot be drawn must not hide the verdict.
            if let Err(e) = svg::write(self, dir) {
                tracing::warn!("{}: no timeline picture: {e:#}", self.incident);
            }
        }
        html::refresh(root)?;
        Ok(())
    }

    /// Reads a `report.json`.
    pub fn read(path: &Path) -> anyhow::Result<Report> {
        let text = std::fs::read_to_string(path)?;
        Ok(serde_json::from_str(&text)?)
    }
}

/// Whether a check of `kind` counts towards `variant`'s verdict.
fn counted(variant: Variant, kind: CheckKind) -> bool {
    match variant {
        Variant::Before => matches!(kind, CheckKind::Signature | CheckKind::Always),
        Variant::After => matches!(kind, CheckKind::Requirement | CheckKind::Always),
    }
}

/// The kind a variant needs at least one of.
fn needed_kind(variant: Variant) -> CheckKind {
    match variant {
        Variant::Before => CheckKind::Signature,
        Variant::After => CheckKind::Requirement,
    }
}

fn dedup(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if out.last() != Some(&i) {
            out.push(i);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bisection that fooled the run path: at a release without the
    /// signature, the before variant's snapshot (signature valid) failed,
    /// the run counted as panicked, and bisect called the release unable
    /// to say. A run at another release is judged by its checks alone.
    #[test]
    fn a_run_at_another_release_or_mitigation_set_is_not_snapshotted() {
        let spec = IncidentSpec::new("cloudflare_2020_before", "cloudflare", Variant::Before);
        let mut r = Report::skipped(&spec, 1, "");
        assert!(r.snapshot_applies());
        r.other_releases = vec!["consul-legacy at 1.22.6 (its own: 1.10.12)".into()];
        assert!(!r.snapshot_applies());
        r.other_releases.clear();
        r.mitigations.ablated = true;
        assert!(!r.snapshot_applies());
    }

    #[test]
    fn before_needs_a_reproduced_signature() {
        let sig = Check::signature("backlog.unbounded", true, "grew");
        let lost = Check::requirement("integrity.delivery", false, "lost 3");
        assert_eq!(
            Report::judge(Variant::Before, &[sig.clone(), lost.clone()]),
            Verdict::Valid
        );
        assert_eq!(
            Report::judge(Variant::Before, std::slice::from_ref(&lost)),
            Verdict::Unknown
        );
        let not = Check::signature("backlog.unbounded", false, "flat");
        assert_eq!(Report::judge(Variant::Before, &[not]), Verdict::Invalid);
    }

    /// The history the default policy let through: a before variant that
    /// reproduced its signature *and* lost an acknowledged write passed,
    /// because integrity is a requirement and before variants judge only
    /// signatures. With `always = [integrity]` the loss fails it.
    #[test]
    fn always_makes_a_before_variant_fail_on_lost_writes() {
        let sig = Check::signature("log_store.slow_leader", true, "x6");
        let lost = Check::requirement("integrity.kv", false, "1 acknowledged write lost");
        let default = [sig.clone(), lost.clone()];
        assert!(Report::passes(Variant::Before, &default), "the old policy");
        let mut strict = lost.clone();
        strict.kind = strict.kind_under(&["integrity".to_string()]);
        assert_eq!(strict.kind, CheckKind::Always);
        assert!(!Report::passes(Variant::Before, &[sig, strict]));
    }

    /// The report that fooled the index (issue 12): roblox before recorded
    /// the streaming contention it did not reproduce on 2 cores as a valid
    /// requirement, beside the reproduced freelist signature: plain valid.
    /// Recorded as an inconclusive signature it is unknown, and passes only
    /// because the check states `unknown = pass`.
    #[test]
    fn an_unreproduced_cause_is_unknown_and_passes_only_by_its_policy() {
        use crate::verdict::tests::reproduced_and_not;
        let checks = reproduced_and_not(UnknownPolicy::Pass);
        let [freelist, contention] = checks.clone();

        assert_eq!(Report::judge(Variant::Before, &checks), Verdict::Unknown);
        assert!(Report::passes(Variant::Before, &checks));
        let strict = reproduced_and_not(UnknownPolicy::Fail);
        assert!(!Report::passes(Variant::Before, &strict));
        // Nothing reproduced at all is never a pass.
        assert!(!Report::passes(Variant::Before, &[contention]));
        // An unknown with no stated policy fails, as before.
        let bare = Check::new("x", CheckKind::Always, Verdict::Unknown, "too few ops");
        assert!(!Report::passes(Variant::Before, &[freelist, bare]));
    }

    #[test]
    fn after_needs_every_requirement() {
        let ok = Check::requirement("integrity.set", true, "");
        let late = Check::requirement(RECOVERY_CHECK, false, "120s > 90s");
        let sig = Check::signature("sig", false, "");
        assert_eq!(
            Report::judge(Variant::After, &[ok.clone(), sig.clone()]),
            Verdict::Valid
        );
        assert_eq!(Report::judge(Variant::After, &[ok, late]), Verdict::Invalid);
        assert_eq!(Report::judge(Variant::After, &[sig]), Verdict::Unknown);
        let phantom = Check::new(
            "integrity.phantoms",
            CheckKind::Always,
            Verdict::Invalid,
            "",
        );
        let sig_ok = Check::signature("sig", true, "");
        assert_eq!(
            Report::judge(Variant::Before, &[sig_ok, phantom]),
            Verdict::Invalid
        );
    }
}

pub mod repeat {
    //! `INCIDENT_REPEAT=N`: the spread of recovery times over N runs.

    /// Prints and records (`<incident>/repeat.json`) the spread.
    pub fn record_spread(incident: &str, recoveries: &[Option<f64>]) {
        let measured: Vec<f64> = recoveries.iter().flatten().copied().collect();
        let line = if measured.is_empty() {
            format!(
                "incident {incident}: {} runs, recovery not measured",
                recoveries.len()
            )
        } else {
            let min = measured.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = measured.iter().cloned().fold(0.0, f64::max);
            let mean = measured.iter().sum::<f64>() / measured.len() as f64;
            format!(
                "incident {incident}: {} runs, recovery min {min:.1}s, mean {mean:.1}s, max {max:.1}s",
                recoveries.len()
            )
        };
        crate::console::loud(&line);
        let dir = crate::paths::artifacts_root().join(incident);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            dir.join("repeat.json"),
            serde_json::json!({ "incident": incident, "recovery_secs": recoveries }).to_string(),
        );
        // The index shows the spread.
        let _ = super::html::refresh(&crate::paths::artifacts_root());
    }
}

/// Debian's Chromium, if installed.
pub fn chromium_path() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}
