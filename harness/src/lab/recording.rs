//! Writing to the run's record through the lab: what faults, workloads,
//! scenarios and the runner call while the run goes on. The record itself
//! is plain data ([`RunRecord`]); these methods only lock it, stamp the
//! lab's clock where a value needs a time, and log what a reader of CI
//! output must see.

use super::{lock, LabCtx};
use crate::history::History;
use crate::record::{FaultRecord, RunRecord, TopologyEntry};
use crate::verdict::Check;
use std::collections::BTreeMap;

impl LabCtx {
    /// A copy of the record as it stands.
    pub fn record(&self) -> RunRecord {
        lock(&self.inner.record).clone()
    }

    /// What ran where, for the report.
    pub fn topology(&self) -> Vec<TopologyEntry> {
        lock(&self.inner.record).topology.clone()
    }

    /// Records a fault for the report and the replay plan.
    pub fn record_fault(&self, record: FaultRecord) {
        lock(&self.inner.record).faults.push(record);
    }

    /// Updates the record of fault number `index` (set when it heals).
    pub fn update_fault(&self, index: usize, f: impl FnOnce(&mut FaultRecord)) {
        if let Some(r) = lock(&self.inner.record).faults.get_mut(index) {
            f(r);
        }
    }

    /// The number of faults recorded so far.
    pub fn fault_count(&self) -> usize {
        lock(&self.inner.record).faults.len()
    }

    /// Every fault injected so far.
    pub fn faults(&self) -> Vec<FaultRecord> {
        lock(&self.inner.record).faults.clone()
    }

    /// Adds a checker's result to the verdict, as the kind the incident's
    /// `always` list makes it ([`Check::kind_under`]).
    pub fn check(&self, mut check: Check) {
        // `#[incident(always = [..])]`: the incident's own check policy.
        check.kind = check.kind_under(&self.spec().always);
        tracing::info!(check = %check.name, verdict = ?check.verdict, "{}", check.detail);
        // CI logs are often all a failed run leaves: name the anomalies there.
        for example in &check.examples {
            tracing::info!(check = %check.name, "example: {example}");
        }
        lock(&self.inner.record).checks.push(check);
    }

    /// Adds every check a checker returned, in order (see [`LabCtx::check`]).
    pub fn checks_from(&self, checks: impl IntoIterator<Item = Check>) {
        for check in checks {
            self.check(check);
        }
    }

    /// Every check so far.
    pub fn checks(&self) -> Vec<Check> {
        lock(&self.inner.record).checks.clone()
    }

    /// Records a measured figure (peak pending RPCs, freelist bytes, ...):
    /// in the report, never in the stable snapshot.
    pub fn figure(&self, name: impl Into<String>, value: f64) {
        lock(&self.inner.record).figures.insert(name.into(), value);
    }

    /// Records every figure of `figures` (see [`LabCtx::figure`]).
    pub fn figures_from(&self, figures: impl IntoIterator<Item = (String, f64)>) {
        lock(&self.inner.record).figures.extend(figures);
    }

    /// Every figure so far.
    pub fn figures(&self) -> BTreeMap<String, f64> {
        lock(&self.inner.record).figures.clone()
    }

    /// Appends a point (seconds since lab start, value) to a named series
    /// (memory of a node, pending RPCs...), drawn in the timeline picture.
    /// Series named `<panel> · <line>` (`raft term · consul-1`) share one
    /// panel, a line each; any other name is a panel of its own.
    pub fn sample(&self, series: impl Into<String>, value: f64) {
        let at = self.now().as_secs_f64();
        lock(&self.inner.record).sample(series, at, value);
    }

    /// Every series so far.
    pub fn series(&self) -> BTreeMap<String, Vec<(f64, f64)>> {
        lock(&self.inner.record).series.clone()
    }

    /// Adds a note to the report: something a reader must know (e.g. "the
    /// streaming contention did not reproduce at this scale: ratio 1.1").
    pub fn note(&self, text: impl Into<String>) {
        let text = text.into();
        tracing::warn!("{text}");
        lock(&self.inner.record).notes.push(text);
    }

    /// Every note so far.
    pub fn notes(&self) -> Vec<String> {
        lock(&self.inner.record).notes.clone()
    }

    /// Runs `f` on the history attached to the report.
    pub fn with_history<T>(&self, f: impl FnOnce(&mut History) -> T) -> T {
        f(&mut lock(&self.inner.record).history)
    }

    /// Attaches a workload's history to the report (several merge).
    pub fn record_history(&self, history: &History) {
        self.with_history(|h| h.merge(history.clone()));
    }
}
