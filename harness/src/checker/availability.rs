//! Availability: did the service answer, and how soon after the fault was
//! healed did it answer again?
//!
//! An operation is a success if it is `ok` and a failure if it is `fail` or
//! `unknown`. Operations are placed in time by their *invocation*: the
//! question is whether requests issued at a given moment were served.
//!
//! - [`Recovery`]: recovery time = from the heal (or a named mitigation) to
//!   the **start** of the first window of `W` seconds (default 5 s) whose
//!   success ratio is at least `X` (default 0.95), judged against the
//!   budget: the check [`crate::report::RECOVERY_CHECK`]
//!   (`availability.recovery`), with the figure `recovery_secs`.
//! - [`time_to_detect`]: from a fault to the first failure the clients saw.
//! - [`Downtime`]: time without service: buckets whose success ratio is
//!   below a threshold, or without any operation while the workload ran.
//!
//! ```
//! use harness::checker::availability::Recovery;
//! use harness::history::{History, Op};
//! use std::time::Duration;
//! let ms = Duration::from_millis;
//! // Down from 0 to 3 s, then up; healed at 2 s.
//! let ops = (0..100u64)
//!     .map(|i| {
//!         let at = ms(i * 100);
//!         let op = if at < ms(3000) { Op::fail("echo", "refused") } else { Op::ok("echo") };
//!         op.at(at, at + ms(10))
//!     })
//!     .collect();
//! let check = Recovery::after(ms(2000))
//!     .window(Duration::from_secs(5))
//!     .ratio(0.95)
//!     .budget(Duration::from_secs(30))
//!     .check(&History::new(ops));
//! assert!(check.verdict.is_valid());
//! assert_eq!(check.figures["recovery_secs"], 1.0);
//! ```

use super::Check;
use crate::fault::FaultRecord;
use crate::history::{History, Op, OpStatus};
use crate::report::RECOVERY_CHECK;
use crate::timeline::{Event, EventKind};
use anyhow::{bail, Result};
use std::time::Duration;

fn secs(d: Duration) -> String {
    crate::duration::format(d)
}

fn is_success(op: &Op) -> bool {
    op.status == OpStatus::Ok
}

/// Which operations an availability measure looks at.
#[derive(Clone, Debug, Default)]
enum Selection {
    #[default]
    All,
    Functions(Vec<String>),
}

impl Selection {
    fn select<'a>(&self, history: &'a History) -> Vec<&'a Op> {
        let mut ops: Vec<&Op> = history
            .ops
            .iter()
            .filter(|o| match self {
                Selection::All => true,
                Selection::Functions(fs) => fs.contains(&o.f),
            })
            .collect();
        // Histories are sorted by invocation; merged ones may not be.
        if !ops.is_sorted_by_key(|o| o.invoke) {
            ops.sort_by_key(|o| o.invoke);
        }
        ops
    }
}

/// When a service counts as recovered: see the module documentation.
#[derive(Clone, Debug)]
pub struct Recovery {
    from: Duration,
    from_what: String,
    window: Duration,
    ratio: f64,
    min_ops: usize,
    budget: Option<Duration>,
    selection: Selection,
}

/// A measured recovery.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recovered {
    /// When the first good window starts (time since the lab started).
    pub at: Duration,
    /// From the heal to `at`.
    pub after: Duration,
    /// The success ratio of that window.
    pub ratio: f64,
}

impl Recovery {
    /// Recovery measured from `heal_at` (time since the lab started), e.g.
    /// the fault record's `healed_at` (see [`heal_time`]).
    pub fn after(heal_at: Duration) -> Self {
        Recovery {
            from: heal_at,
            from_what: "heal".into(),
            window: Duration::from_secs(5),
            ratio: 0.95,
            min_ops: 1,
            budget: None,
            selection: Selection::All,
        }
    }

    /// Recovery measured from a mitigation (what operators did on the
    /// day) at `at`, named in the check's detail.
    pub fn after_mitigation(at: Duration, what: impl Into<String>) -> Self {
        Recovery {
            from_what: format!("mitigation `{}`", what.into()),
            ..Recovery::after(at)
        }
    }

    /// The window `W` that must be good (default 5 s).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The success ratio `X` a window needs (default 0.95).
    ///
    /// # Panics
    /// If `x` is not within 0..=1.
    pub fn ratio(mut self, x: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&x),
            "a success ratio is within 0..=1 (e.g. 0.95), not {x}"
        );
        self.ratio = x;
        self
    }

    /// The fewest operations a window needs to count (default 1): a window
    /// with fewer shows nothing either way.
    pub fn min_ops(mut self, n: usize) -> Self {
        self.min_ops = n.max(1);
        self
    }

    /// The recovery budget (usually the incident's: `lab.spec().budget`).
    /// Without one, the check only requires that the service recovered.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Looks only at operations of these functions (e.g. `["write"]`).
    pub fn of<S: Into<String>>(mut self, functions: impl IntoIterator<Item = S>) -> Self {
        self.selection = Selection::Functions(functions.into_iter().map(Into::into).collect());
        self
    }

    /// Finds the first good window starting at or after the heal. A window
    /// starts at the invocation of a *successful* operation (silence or a
    /// failure is never the moment service came back) and must end before
    /// the last operation completed (a window the history does not cover
    /// shows nothing).
    pub fn measure(&self, history: &History) -> Option<Recovered> {
        let ops = self.selection.select(history);
        let end = ops.iter().map(|o| o.complete).max()?;
        let first = ops.partition_point(|o| o.invoke < self.from);
        let starts = ops[first..]
            .iter()
            .filter(|o| is_success(o))
            .map(|o| o.invoke);
        let mut hi = first; // ops[first..hi] are in the current window
        let mut good = 0usize;
        let mut lo = first;
        for start in starts {
            if start + self.window > end {
                return None;
            }
            while lo < ops.len() && ops[lo].invoke < start {
                if lo < hi && is_success(ops[lo]) {
                    good -= 1;
                }
                lo += 1;
            }
            hi = hi.max(lo);
            while hi < ops.len() && ops[hi].invoke < start + self.window {
                if is_success(ops[hi]) {
                    good += 1;
                }
                hi += 1;
            }
            let n = hi - lo;
            if n >= self.min_ops {
                let r = good as f64 / n as f64;
                if r >= self.ratio {
                    return Some(Recovered {
                        at: start,
                        after: start - self.from,
                        ratio: r,
                    });
                }
            }
        }
        None
    }

    /// The check `availability.recovery` (kind requirement): valid iff the
    /// service recovered within the budget; figure `recovery_secs` when it
    /// recovered at all.
    pub fn check(&self, history: &History) -> Check {
        let rule = format!(
            "first {} window with at least {:.0}% of operations ok",
            secs(self.window),
            self.ratio * 100.0
        );
        let mut check = match self.measure(history) {
            Some(r) => {
                let within = self.budget.is_none_or(|b| r.after <= b);
                let judged = match self.budget {
                    Some(b) if within => format!("within the {} budget", secs(b)),
                    Some(b) => format!("over the {} budget", secs(b)),
                    None => "no budget set".to_string(),
                };
                Check::requirement(
                    RECOVERY_CHECK,
                    within,
                    format!(
                        "recovered {:.1}s after the {} ({rule} starts at {:.1}s): {judged}",
                        r.after.as_secs_f64(),
                        self.from_what,
                        r.at.as_secs_f64()
                    ),
                )
                .with_figure("recovery_secs", r.after.as_secs_f64())
                .with_figure("window_ratio", r.ratio)
            }
            None => Check::requirement(
                RECOVERY_CHECK,
                false,
                format!(
                    "not recovered: no {rule} after the {} at {:.1}s",
                    self.from_what,
                    self.from.as_secs_f64()
                ),
            ),
        };
        check = check
            .with_figure("from_secs", self.from.as_secs_f64())
            .with_figure("window_secs", self.window.as_secs_f64())
            .with_figure("ratio", self.ratio);
        if let Some(b) = self.budget {
            check = check.with_figure("budget_secs", b.as_secs_f64());
        }
        check
    }
}

/// When the last fault was healed: recovery is measured from the moment
/// every fault is gone. Fails, naming the fix, if a fault is still in force
/// or none was injected.
pub fn heal_time(faults: &[FaultRecord]) -> Result<Duration> {
    if faults.is_empty() {
        bail!("no fault was injected: inject one with lab.inject(..) before measuring recovery");
    }
    if let Some(open) = faults.iter().find(|f| f.healed_at.is_none()) {
        bail!(
            "fault {} ({}) was not healed: call guard.heal().await before measuring recovery{}",
            open.kind,
            open.description,
            open.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    Ok(faults
        .iter()
        .filter_map(|f| f.healed_at)
        .max()
        .unwrap_or_default())
}

/// When the first mitigation whose description contains `what` was
/// marked on the timeline (`lab.mitigation(..)`).
pub fn mitigation_time(events: &[Event], what: &str) -> Result<Duration> {
    events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Mitigation { description } if description.contains(what)))
        .map(|e| e.at)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no mitigation mentioning `{what}` on the timeline: mark it with lab.mitigation(\"{what} ...\")"
            )
        })
}

/// From `fault_at` to the completion of the first failed (`fail` or
/// `unknown`) operation that completed at or after it: how soon the clients
/// saw the fault. `None` if they never did.
pub fn time_to_detect(history: &History, fault_at: Duration) -> Option<Duration> {
    history
        .ops
        .iter()
        .filter(|o| !is_success(o) && o.complete >= fault_at)
        .map(|o| o.complete - fault_at)
        .min()
}

/// Time without service: the sum of buckets (by invocation time, from the
/// first invocation to the last) whose success ratio is below a threshold
/// or that hold no operation at all while the workload ran.
#[derive(Clone, Debug)]
pub struct Downtime {
    bucket: Duration,
    threshold: f64,
}

impl Downtime {
    /// Buckets of `width` (e.g. 1 s), down below a 0.5 success ratio.
    ///
    /// # Panics
    /// If `width` is zero.
    pub fn buckets(width: Duration) -> Self {
        assert!(!width.is_zero(), "a downtime bucket needs a width, e.g. 1s");
        Downtime {
            bucket: width,
            threshold: 0.5,
        }
    }

    /// A bucket is down when its success ratio is below `x`.
    pub fn below(mut self, x: f64) -> Self {
        self.threshold = x;
        self
    }

    /// The time without service in `history`.
    pub fn measure(&self, history: &History) -> Duration {
        let Some(start) = history.ops.iter().map(|o| o.invoke).min() else {
            return Duration::ZERO;
        };
        let last = history.ops.iter().map(|o| o.invoke).max().unwrap_or(start);
        let width = self.bucket.as_nanos();
        let n = ((last - start).as_nanos() / width) as usize + 1;
        let mut good = vec![0u32; n];
        let mut all = vec![0u32; n];
        for o in &history.ops {
            let i = ((o.invoke - start).as_nanos() / width) as usize;
            all[i] += 1;
            if is_success(o) {
                good[i] += 1;
            }
        }
        let down = all
            .iter()
            .zip(&good)
            .filter(|(a, g)| **a == 0 || (**g as f64 / **a as f64) < self.threshold)
            .count();
        self.bucket * down as u32
    }
}

/// Time to detect and time without service, for the report.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceFigures {
    /// From the fault to the first failure seen, if any was seen.
    pub time_to_detect: Option<Duration>,
    /// Time without service (1 s buckets, down below 50% ok).
    pub downtime: Duration,
}

impl ServiceFigures {
    /// Measures both: `fault_at` is when the fault was invoked.
    pub fn measure(history: &History, fault_at: Duration) -> Self {
        ServiceFigures {
            time_to_detect: time_to_detect(history, fault_at),
            downtime: Downtime::buckets(Duration::from_secs(1)).measure(history),
        }
    }

    /// Records them as the lab's figures `time_to_detect_secs` and
    /// `downtime_secs` (report only: they vary run to run).
    pub fn record(&self, lab: &crate::lab::LabCtx) {
        if let Some(d) = self.time_to_detect {
            lab.figure("time_to_detect_secs", d.as_secs_f64());
        }
        lab.figure("downtime_secs", self.downtime.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Verdict;

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    /// One op every 100 ms for `total` ms; down (failing) within `down`.
    fn service(total: u64, down: std::ops::Range<u64>) -> History {
        History::new(
            (0..total / 100)
                .map(|i| {
                    let at = i * 100;
                    let op = if down.contains(&at) {
                        Op::fail("echo", "refused")
                    } else {
                        Op::ok("echo")
                    };
                    op.at(ms(at), ms(at + 20))
                })
                .collect(),
        )
    }

    #[test]
    fn recovery_starts_at_the_first_good_window() {
        let h = service(20_000, 5_000..9_000);
        let r = Recovery::after(ms(7_000)).measure(&h).unwrap();
        assert_eq!(r.at, ms(9_000));
        assert_eq!(r.after, ms(2_000));
        let c = Recovery::after(ms(7_000))
            .budget(Duration::from_secs(1))
            .check(&h);
        assert_eq!(c.name, RECOVERY_CHECK);
        assert_eq!(c.verdict, Verdict::Invalid);
        assert_eq!(c.figures["recovery_secs"], 2.0);
        assert!(c.detail.contains("over the 1s budget"), "{}", c.detail);
    }

    #[test]
    fn a_ratio_below_one_tolerates_rare_failures() {
        // One failure in twenty after 9 s.
        let ops = (0..200u64)
            .map(|i| {
                let at = i * 100;
                let op = if (5_000..9_000).contains(&at) || (at >= 9_000 && i.is_multiple_of(20)) {
                    Op::fail("echo", "x")
                } else {
                    Op::ok("echo")
                };
                op.at(ms(at), ms(at + 20))
            })
            .collect();
        let h = History::new(ops);
        let strict = Recovery::after(ms(7_000)).ratio(1.0).measure(&h);
        let lenient = Recovery::after(ms(7_000)).ratio(0.9).measure(&h).unwrap();
        assert_eq!(lenient.at, ms(9_000));
        assert!(strict.is_none_or(|r| r.at > ms(9_000)));
    }

    #[test]
    fn no_full_window_after_heal_means_not_recovered() {
        let h = service(10_000, 0..8_000);
        let c = Recovery::after(ms(5_000))
            .budget(Duration::from_secs(60))
            .check(&h);
        assert_eq!(c.verdict, Verdict::Invalid);
        assert!(!c.figures.contains_key("recovery_secs"));
        assert!(c.detail.starts_with("not recovered"), "{}", c.detail);
    }

    #[test]
    fn silence_is_not_recovery() {
        // No operations at all between 5 s and 15 s.
        let mut ops: Vec<Op> = service(5_000, 0..0).ops;
        ops.extend(
            service(30_000, 0..0)
                .ops
                .into_iter()
                .filter(|o| o.invoke >= ms(15_000)),
        );
        let h = History::new(ops);
        let r = Recovery::after(ms(6_000)).measure(&h).unwrap();
        assert_eq!(r.at, ms(15_000), "service shows only when ops are served");
        let r = Recovery::after(ms(4_000)).min_ops(10).measure(&h).unwrap();
        assert_eq!(r.at, ms(4_000), "a window of 10 ops before the silence");
        let r = Recovery::after(ms(4_200)).min_ops(10).measure(&h).unwrap();
        assert_eq!(r.at, ms(15_000), "too few ops before the silence");
        assert_eq!(
            Downtime::buckets(Duration::from_secs(1)).measure(&h),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn detection_and_downtime() {
        let h = service(20_000, 5_000..9_000);
        assert_eq!(time_to_detect(&h, ms(4_950)), Some(ms(70)));
        assert_eq!(
            Downtime::buckets(Duration::from_secs(1)).measure(&h),
            Duration::from_secs(4)
        );
        assert_eq!(time_to_detect(&service(1_000, 0..0), ms(0)), None);
    }

    #[test]
    fn heal_time_needs_every_fault_healed() {
        let rec = |healed: Option<u64>| FaultRecord {
            kind: "stop".into(),
            description: "echo".into(),
            invoked_at: ms(1),
            injected_at: Some(ms(2)),
            healed_at: healed.map(ms),
            phase: None,
            error: None,
        };
        assert_eq!(heal_time(&[rec(Some(5)), rec(Some(9))]).unwrap(), ms(9));
        let err = heal_time(&[rec(Some(5)), rec(None)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("guard.heal()"), "{err}");
        assert!(heal_time(&[]).is_err());
    }

    #[test]
    fn mitigation_time_finds_the_mark() {
        let events = vec![Event {
            at: ms(42),
            node: None,
            kind: EventKind::Mitigation {
                description: "drain traffic".into(),
            },
        }];
        assert_eq!(mitigation_time(&events, "drain").unwrap(), ms(42));
        assert!(mitigation_time(&events, "restart").is_err());
    }
}
