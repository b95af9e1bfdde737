//! Ending a run: judge the record against the replayed plan, build the
//! report, write it with the history, and keep it for the runner.

use super::{lock, LabCtx};
use crate::report::{replay, Report, RunOutcome};

impl LabCtx {
    /// Judges the run, writes `report.json`, `history.jsonl` and
    /// `history.edn`, and returns the report. The runner fails the test if
    /// the verdict is not valid; the body usually snapshots `report.stable()`.
    pub async fn finish(&self) -> anyhow::Result<Report> {
        let history = self.with_history(|h| h.clone());
        let images =
            replay::image_ids(self.docker(), self.topology().into_iter().map(|t| t.image)).await;
        match replay::judge(&self.spec().name, &self.faults(), self.run_id(), &images) {
            Some(replay::Verdicts::Same(note)) => self.note(note),
            Some(replay::Verdicts::Diverged(check)) => self.check(check),
            None => {}
        }
        let mut report = self.report(RunOutcome::Completed, None);
        report.images = images;
        let dir = report.dir();
        history.save(&dir)?;
        report.write(&dir)?;
        *lock(&self.inner.finished) = Some(report.clone());
        Ok(report)
    }

    /// The report of the run as it stands, ended by `outcome`.
    pub fn report(&self, outcome: RunOutcome, error: Option<String>) -> Report {
        Report::build(
            &self.inner.identity,
            &self.record(),
            self.timeline(),
            outcome,
            error,
        )
    }

    /// The report written by [`LabCtx::finish`], if it was called.
    pub fn finished(&self) -> Option<Report> {
        lock(&self.inner.finished).clone()
    }
}
