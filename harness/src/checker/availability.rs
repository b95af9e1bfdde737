//! Availability: did the service answer, and how soon after the fault was
//! healed did every client have service again?
//!
//! One concept, one file: availability, measured over the same served /
//! unserved classification of operations.
//!
//! An operation is *served* if it is `ok` and, unless the stall limit is
//! off, answered within it ([`Recovery::stall`], default 1 s): a request a
//! client waited on for seconds was not service, even if it ended `ok`.
//! Everything else (`fail`, `unknown`, slow) is unserved.
//!
//! - [`Recovery`]: the service is recovered at the start `s` (the
//!   invocation of a served op at or after the heal, or a named
//!   mitigation) of the first window `[s, s + W)` (default 5 s) such that
//!   - **every client is back** (client coverage): each client (process)
//!     alive at the heal, or a stated share of them ([`Recovery::clients`]),
//!     has completed a served op invoked at or after the heal by the
//!     window's end. A client hung across the heal is not back until an op
//!     it invoked after the heal is answered;
//!   - ops are placed by their whole span, invocation to completion: an op
//!     belongs to every window it overlaps, so one still in flight (hung)
//!     counts against every window it spans, not only the one it was
//!     invoked in;
//!   - the window holds at least `min_ops` ops (default: one per client
//!     alive at the heal), so one op cannot make a window;
//!   - with a settle period ([`Recovery::settle`]), the judged span runs
//!     to at least `heal + settle`, however early the window starts;
//!   - at least `X` of them are served (default 0.95), and none is a
//!     stall (unserved for longer than the stall limit): rare quick
//!     failures are tolerated, a client left waiting is not. Windows start
//!     at or after the heal and ops in flight across it count, so a loss
//!     of service the heal itself causes (an election it triggers, a
//!     latency spike) delays recovery rather than hiding inside it.
//!
//!   The recovery time is from the heal to the later of `s` and the
//!   completion that brought the last needed client back; both are
//!   reported (`recovery_invoked_secs`, `recovery_completed_secs`), judged
//!   against the budget: the check [`RECOVERY_CHECK`]
//!   (`availability.recovery`), with the figure `recovery_secs`.
//! - [`Watched`]: the same check for a condition the scenario watched
//!   itself (clients online, p99 within an SLO) when no history holds it.
//! - [`time_to_detect`]: from a fault to the first failure the clients saw.
//! - [`Downtime`]: time without service: buckets whose success ratio is
//!   below a threshold, or without any operation while the workload ran.
//!
//! A client-side history of any kind works: for sessions (chat clients
//! back online), record one op per client per attempt or probe (`f` e.g.
//! `online`, `process` = the client, invoked when it tried, completed when
//! it was online or gave up) and call `Recovery::after(t).of(["online"])`.
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
//! // The first good window starts at 3 s; its first answer came at 3.01 s.
//! assert_eq!(check.figures["recovery_invoked_secs"], 1.0);
//! assert_eq!(check.figures["recovery_secs"], 1.01);
//! ```

use super::Check;
use crate::history::{History, Op, OpStatus};
use crate::record::FaultRecord;
use crate::timeline::{Event, EventKind};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The name of the check that judges recovery time against the budget.
pub const RECOVERY_CHECK: &str = "availability.recovery";

fn secs(d: Duration) -> String {
    crate::duration::format(d)
}

fn is_success(op: &Op) -> bool {
    op.status == OpStatus::Ok
}

/// `x`, if it is a share (0..=1); else a panic naming `what` and an example.
fn share(what: &str, x: f64, example: f64) -> f64 {
    assert!(
        (0.0..=1.0).contains(&x),
        "{what} is within 0..=1 (e.g. {example}), not {x}"
    );
    x
}

/// Which operations an availability measure looks at: of some functions,
/// of some clients, or both (each `None` = all).
#[derive(Clone, Debug, Default)]
struct Selection {
    functions: Option<Vec<String>>,
    processes: Option<BTreeSet<u32>>,
}

impl Selection {
    fn select<'a>(&self, history: &'a History) -> Vec<&'a Op> {
        let mut ops: Vec<&Op> = history
            .ops
            .iter()
            .filter(|o| self.functions.as_ref().is_none_or(|fs| fs.contains(&o.f)))
            .filter(|o| {
                self.processes
                    .as_ref()
                    .is_none_or(|ps| ps.contains(&o.process))
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
    min_ops: Option<usize>,
    share: f64,
    stall: Option<Duration>,
    settle: Duration,
    budget: Option<Duration>,
    selection: Selection,
    name: String,
}

/// A measured recovery.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recovered {
    /// When the first good window starts: the invocation of a served op
    /// (time since the lab started).
    pub at: Duration,
    /// When the last client needed for coverage had its first served op
    /// invoked after the heal answered (time since the lab started).
    pub covered_at: Duration,
    /// From the heal to the later of `at` and `covered_at`.
    pub after: Duration,
    /// The served share of the window's ops.
    pub ratio: f64,
    /// The clients that had to come back (alive at the heal).
    pub clients: usize,
    /// How many of them were back by the end of the window.
    pub back: usize,
}

/// Why a history shows no recovery, for the check's detail.
#[derive(Clone, Debug, PartialEq)]
struct Coverage {
    /// Clients alive at the heal.
    clients: BTreeSet<u32>,
    /// Each one's first served op invoked at or after the heal: its
    /// completion.
    back_at: BTreeMap<u32, Duration>,
    /// How many must be back.
    needed: usize,
}

impl Coverage {
    /// The completion by which `needed` clients were back, if ever.
    fn covered_at(&self) -> Option<Duration> {
        let mut times: Vec<Duration> = self.back_at.values().copied().collect();
        times.sort();
        times.get(self.needed.checked_sub(1)?).copied()
    }
}

/// Counts of ops overlapping a window, from sorted invocation and
/// completion times: an op overlaps `[s, e)` iff it was invoked before `e`
/// and had not completed before `s`.
#[derive(Default)]
struct Spans {
    invoked: Vec<Duration>,
    completed: Vec<Duration>,
}

impl Spans {
    fn push(&mut self, op: &Op) {
        self.invoked.push(op.invoke);
        self.completed.push(op.complete.max(op.invoke));
    }

    fn sort(&mut self) {
        self.invoked.sort();
        self.completed.sort();
    }

    fn overlapping(&self, s: Duration, e: Duration) -> usize {
        self.invoked.partition_point(|t| *t < e) - self.completed.partition_point(|t| *t < s)
    }
}

impl super::Checker for Recovery {
    fn checks(&self, history: &History) -> Vec<Check> {
        vec![self.check(history)]
    }
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
            min_ops: None,
            share: 1.0,
            stall: Some(Duration::from_secs(1)),
            settle: Duration::ZERO,
            budget: None,
            selection: Selection::default(),
            name: RECOVERY_CHECK.into(),
        }
    }

    /// Recovery measured from the moment `what` happened, at `at`: the
    /// start of a fault the service should ride through (a removal, a
    /// crash), named in the check's detail (`what = "removal"`: "recovered
    /// 2.1s after the removal").
    pub fn after_event(at: Duration, what: impl Into<String>) -> Self {
        Recovery {
            from_what: what.into(),
            ..Recovery::after(at)
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

    /// The served share `X` of ops a window needs (default 0.95).
    ///
    /// # Panics
    /// If `x` is not within 0..=1.
    pub fn ratio(mut self, x: f64) -> Self {
        self.ratio = share("a success ratio", x, 0.95);
        self
    }

    /// The share of the clients alive at the heal that must be back
    /// (default 1.0: every one). At least one client is always needed.
    ///
    /// # Panics
    /// If `x` is not within 0..=1.
    pub fn clients(mut self, x: f64) -> Self {
        self.share = share("a share of clients", x, 0.9);
        self
    }

    /// The fewest ops a window needs to count (default: one per client
    /// alive at the heal): a window with fewer shows nothing either way.
    pub fn min_ops(mut self, n: usize) -> Self {
        self.min_ops = Some(n.max(1));
        self
    }

    /// How long a client may wait on one op and still count as served
    /// (default 1 s); `None` counts every `ok` as served, however slow.
    /// An unserved op longer than this is a stall: no window it overlaps
    /// is good. Ops that wait by design (long polls, blocking queries)
    /// are not service requests: leave them out with [`Recovery::of`].
    pub fn stall(mut self, limit: Option<Duration>) -> Self {
        self.stall = limit;
        self
    }

    /// The settle period from the heal. By default the judged span already
    /// runs to at least `heal + window` (windows start at the heal at the
    /// earliest, and ops in flight across it count), so a disruption the
    /// heal causes in its first seconds always counts; a longer settle
    /// stretches the span to at least `heal + settle`, so a loss of
    /// service the heal causes later on (a healed node forcing an election
    /// seconds after it rejoins) is inside it rather than after a window
    /// already called good.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
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
        self.selection.functions = Some(functions.into_iter().map(Into::into).collect());
        self
    }

    /// Looks only at operations of these clients (processes): the clients
    /// of one side of a partition, judged apart from the other's.
    pub fn of_clients(mut self, processes: impl IntoIterator<Item = u32>) -> Self {
        self.selection.processes = Some(processes.into_iter().collect());
        self
    }

    /// The check's name (default [`RECOVERY_CHECK`], which the report's
    /// `recovery:` line reads): a second recovery judged in the same run,
    /// e.g. of another side's clients, needs its own.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    fn served(&self, op: &Op) -> bool {
        is_success(op) && self.stall.is_none_or(|limit| op.latency() <= limit)
    }

    fn stalled(&self, op: &Op) -> bool {
        !self.served(op) && self.stall.is_some_and(|limit| op.latency() > limit)
    }

    /// The clients alive at the heal (an op invoked before it and one
    /// invoked or completing at or after it: a client that had finished
    /// before the heal is not waited for), or, if none, every client that
    /// invoked after it (a workload started after a mitigation).
    fn coverage(&self, ops: &[&Op]) -> Coverage {
        let before: BTreeSet<u32> = ops
            .iter()
            .filter(|o| o.invoke < self.from)
            .map(|o| o.process)
            .collect();
        let later: BTreeSet<u32> = ops
            .iter()
            .filter(|o| o.invoke >= self.from || o.complete >= self.from)
            .map(|o| o.process)
            .collect();
        let mut clients: BTreeSet<u32> = before.intersection(&later).copied().collect();
        if clients.is_empty() {
            clients = ops
                .iter()
                .filter(|o| o.invoke >= self.from)
                .map(|o| o.process)
                .collect();
        }
        let mut back_at = BTreeMap::new();
        for o in ops
            .iter()
            .filter(|o| o.invoke >= self.from && clients.contains(&o.process) && self.served(o))
        {
            let t = back_at.entry(o.process).or_insert(o.complete);
            *t = (*t).min(o.complete);
        }
        let needed =
            ((clients.len() as f64 * self.share).ceil() as usize).clamp(1, clients.len().max(1));
        Coverage {
            clients,
            back_at,
            needed,
        }
    }

    /// Finds the first good window starting at or after the heal (see the
    /// module documentation). A window must end before the last operation
    /// completed: a window the history does not cover shows nothing.
    pub fn measure(&self, history: &History) -> Option<Recovered> {
        let ops = self.selection.select(history);
        self.find(&ops, &self.coverage(&ops))
    }

    fn find(&self, ops: &[&Op], coverage: &Coverage) -> Option<Recovered> {
        let end = ops.iter().map(|o| o.complete).max()?;
        let covered_at = coverage.covered_at()?;
        let min_ops = self.min_ops.unwrap_or(coverage.clients.len().max(1));
        let (mut all, mut served, mut stalls) =
            (Spans::default(), Spans::default(), Spans::default());
        for o in ops {
            all.push(o);
            if self.served(o) {
                served.push(o);
            }
            if self.stalled(o) {
                stalls.push(o);
            }
        }
        for s in [&mut all, &mut served, &mut stalls] {
            s.sort();
        }
        let first = ops.partition_point(|o| o.invoke < self.from);
        let mut starts: Vec<Duration> = ops[first..]
            .iter()
            .filter(|o| self.served(o))
            .map(|o| o.invoke)
            .collect();
        starts.dedup();
        for start in starts {
            let stop = (start + self.window).max(self.from + self.settle);
            if stop > end {
                return None;
            }
            if covered_at > stop || stalls.overlapping(start, stop) > 0 {
                continue;
            }
            let n = all.overlapping(start, stop);
            if n < min_ops {
                continue;
            }
            let r = served.overlapping(start, stop) as f64 / n as f64;
            if r >= self.ratio {
                let back = coverage.back_at.values().filter(|t| **t <= stop).count();
                return Some(Recovered {
                    at: start,
                    covered_at,
                    after: start.max(covered_at) - self.from,
                    ratio: r,
                    clients: coverage.clients.len(),
                    back,
                });
            }
        }
        None
    }

    /// The check `availability.recovery` (kind requirement): valid iff the
    /// service recovered within the budget; figures `recovery_secs`,
    /// `recovery_invoked_secs` and `recovery_completed_secs` when it
    /// recovered at all, `clients` and `clients_back` always.
    pub fn check(&self, history: &History) -> Check {
        let ops = self.selection.select(history);
        let coverage = self.coverage(&ops);
        let rule = format!(
            "first {} window with every needed client back, at least {:.0}% of its operations served{}",
            secs(self.window),
            self.ratio * 100.0,
            match self.stall {
                Some(s) => format!(" and none stalled over {}", secs(s)),
                None => String::new(),
            }
        );
        let needed = format!(
            "{} of the {} clients alive at the {}",
            coverage.needed,
            coverage.clients.len(),
            self.from_what
        );
        let mut check = match self.find(&ops, &coverage) {
            Some(r) => {
                let within = self.budget.is_none_or(|b| r.after <= b);
                let judged = match self.budget {
                    Some(b) if within => format!("within the {} budget", secs(b)),
                    Some(b) => format!("over the {} budget", secs(b)),
                    None => "no budget set".to_string(),
                };
                Check::requirement(
                    &self.name,
                    within,
                    format!(
                        "recovered {:.1}s after the {} ({rule} starts at {:.1}s; {needed} back by {:.1}s): {judged}",
                        r.after.as_secs_f64(),
                        self.from_what,
                        r.at.as_secs_f64(),
                        r.covered_at.as_secs_f64(),
                    ),
                )
                .with_figure("recovery_secs", r.after.as_secs_f64())
                .with_figure("recovery_invoked_secs", (r.at - self.from).as_secs_f64())
                .with_figure(
                    "recovery_completed_secs",
                    r.covered_at.saturating_sub(self.from).as_secs_f64(),
                )
                .with_figure("window_ratio", r.ratio)
            }
            None => {
                let back = coverage.back_at.len();
                let why = if coverage.clients.is_empty() {
                    format!("no client invoked an op after the {}", self.from_what)
                } else if back < coverage.needed {
                    format!(
                        "{} of the {} clients alive at the {} had no op invoked after it served ({needed} needed)",
                        coverage.clients.len() - back,
                        coverage.clients.len(),
                        self.from_what,
                    )
                } else {
                    format!("no {rule}")
                };
                Check::requirement(
                    &self.name,
                    false,
                    format!(
                        "not recovered: {why} after the {} at {:.1}s",
                        self.from_what,
                        self.from.as_secs_f64()
                    ),
                )
            }
        };
        check = check
            .with_figure("from_secs", self.from.as_secs_f64())
            .with_figure("window_secs", self.window.as_secs_f64())
            .with_figure("ratio", self.ratio)
            .with_figure("clients", coverage.clients.len() as f64)
            .with_figure("clients_back", coverage.back_at.len() as f64);
        if let Some(b) = self.budget {
            check = check.with_figure("budget_secs", b.as_secs_f64());
        }
        check
    }
}

/// Recovery of a condition the scenario watched itself (clients back
/// online, a room's p99 back within its SLO), when no operation history
/// says what service is: from `from` (the restart, the end of the surge)
/// to the first time the condition held, judged against the budget. The
/// check is [`RECOVERY_CHECK`] with the figure `recovery_secs`, like
/// [`Recovery::check`]'s, so reports, baselines and gates treat both alike.
///
/// ```
/// use harness::checker::availability::Watched;
/// use std::time::Duration;
/// let s = Duration::from_secs;
/// let watch = Watched::from(s(10), "restart", "95% of clients back online")
///     .watched_for(s(45))
///     .budget(s(60));
/// assert!(watch.check(Some(s(32))).verdict.is_valid());
/// assert_eq!(watch.check(Some(s(32))).figures["recovery_secs"], 22.0);
/// assert!(!watch.check(None).verdict.is_valid());
/// ```
#[derive(Clone, Debug)]
pub struct Watched {
    from: Duration,
    from_what: String,
    condition: String,
    watched_for: Option<Duration>,
    budget: Option<Duration>,
}

impl Watched {
    /// Watching `condition` from `from`, the time of `from_what`.
    pub fn from(
        from: Duration,
        from_what: impl Into<String>,
        condition: impl Into<String>,
    ) -> Self {
        Watched {
            from,
            from_what: from_what.into(),
            condition: condition.into(),
            watched_for: None,
            budget: None,
        }
    }

    /// How long the scenario watched before giving up (said when the
    /// condition never held).
    pub fn watched_for(mut self, d: Duration) -> Self {
        self.watched_for = Some(d);
        self
    }

    /// The recovery budget (usually `lab.spec().budget`).
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The check, given when the condition first held (`None`: never
    /// within the watch). Valid iff it held within the budget.
    pub fn check(&self, held_at: Option<Duration>) -> Check {
        let after = held_at.map(|t| t.saturating_sub(self.from));
        let within = after.is_some_and(|a| self.budget.is_none_or(|b| a <= b));
        let budget = self
            .budget
            .map(|b| format!(" (budget {})", secs(b)))
            .unwrap_or_default();
        let details = match after {
            Some(a) => format!(
                "{} {:.1}s after the {}{budget}",
                self.condition,
                a.as_secs_f64(),
                self.from_what
            ),
            None => format!(
                "not recovered: {} not seen{} after the {}{budget}",
                self.condition,
                self.watched_for
                    .map(|w| format!(" within {}", secs(w)))
                    .unwrap_or_default(),
                self.from_what
            ),
        };
        let mut check = Check::requirement(RECOVERY_CHECK, within, details)
            .with_figure("from_secs", self.from.as_secs_f64());
        if let Some(a) = after {
            check = check.with_figure("recovery_secs", a.as_secs_f64());
        }
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

    /// Them as figures `time_to_detect_secs` (if detected) and
    /// `downtime_secs`, for `lab.figures_from` (report only: they vary run
    /// to run).
    pub fn figures(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        if let Some(d) = self.time_to_detect {
            out.push(("time_to_detect_secs".to_string(), d.as_secs_f64()));
        }
        out.push(("downtime_secs".to_string(), self.downtime.as_secs_f64()));
        out
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

    /// `clients` closed-loop clients, one 10 ms op every 100 ms each,
    /// from 0 to `total` ms; each client's ops are shaped by `f(process,
    /// invoke_ms)`: `None` for the usual ok op, or `Some(op)` (with its
    /// times set) to replace it; a replaced op's completion is when that
    /// client next invokes.
    fn clients(n: u32, total: u64, f: impl Fn(u32, u64) -> Option<Op>) -> History {
        let mut ops = Vec::new();
        for p in 0..n {
            let mut at = 0;
            while at < total {
                let op = f(p, at).unwrap_or_else(|| Op::ok("put").at(ms(at), ms(at + 10)));
                let next = (op.complete.as_millis() as u64).max(at) + 90;
                ops.push(op.by(p));
                at = next;
            }
        }
        History::new(ops)
    }

    /// Measured from a removal the service should ride through: the time
    /// counts from that moment and the detail names it, not "the heal".
    #[test]
    fn after_event_measures_from_the_event_and_names_it() {
        let h = service(20_000, 5_000..8_000);
        let c = Recovery::after_event(ms(5_000), "removal")
            .budget(Duration::from_secs(10))
            .check(&h);
        assert_eq!(c.verdict, Verdict::Valid, "{}", c.detail);
        assert!(c.detail.contains("3.0s after the removal"), "{}", c.detail);
        assert!(!c.detail.contains("heal"), "{}", c.detail);
        let late = Recovery::after_event(ms(5_000), "removal")
            .budget(Duration::from_secs(2))
            .check(&h);
        assert_eq!(late.verdict, Verdict::Invalid, "{}", late.detail);
    }

    /// The fault of these tests: every op from 5 s to the heal at 10 s
    /// fails fast.
    fn down(at: u64) -> Option<Op> {
        (5_000..10_000)
            .contains(&at)
            .then(|| Op::fail("put", "down").at(ms(at), ms(at + 10)))
    }

    /// The history that fooled the old checker (issue 12): 10 closed-loop
    /// clients; the fault from 5 s, healed at 10 s. Client 0 is served from
    /// the heal on; clients 1-9 each invoked a write at 9.9 s that hung
    /// until the workload stopped at 30 s (`unknown`). By invocation alone
    /// the window after the heal held only client 0's ops, all ok: 0 s
    /// recovery while 9 of 10 clients had no service.
    #[test]
    fn a_client_hung_across_the_heal_is_not_recovered() {
        let h = clients(10, 30_000, |p, at| {
            if p > 0 && at >= 9_900 {
                return Some(Op::unknown("put", "still running at stop").at(ms(at), ms(30_000)));
            }
            down(at)
        });
        let c = Recovery::after(ms(10_000))
            .budget(Duration::from_secs(60))
            .check(&h);
        assert_eq!(c.verdict, Verdict::Invalid, "{}", c.detail);
        assert!(c.detail.contains("9 of the 10 clients"), "{}", c.detail);
        assert_eq!(c.figures["clients"], 10.0);
        assert_eq!(c.figures["clients_back"], 1.0);
        // Only rules that say so call it recovered: 10% of the clients
        // back, half the ops served, hung ops not stalls.
        let one = Recovery::after(ms(10_000))
            .clients(0.1)
            .ratio(0.5)
            .stall(None);
        assert!(one.measure(&h).is_some());
    }

    /// The cloudflare_2020 run that asked for a split: 6 clients, the two
    /// of the cut-off server (1 and 4) refused for 10.5 s after the heal at
    /// 10 s ("Raft leader not found", Consul's gossip re-admitting the
    /// peers), the four of the majority served throughout. Judged as one,
    /// the run is 10.5 s over a 10 s budget, and which side failed is not
    /// said; judged by side, the majority's recovery is 0 s and the cut
    /// side's is its own check, under its own name.
    #[test]
    fn each_side_of_a_partition_is_judged_by_its_own_clients() {
        let cut_side = [1, 4];
        let h = clients(6, 40_000, |p, at| {
            (cut_side.contains(&p) && (5_000..20_500).contains(&at))
                .then(|| Op::unknown("put", "Raft leader not found").at(ms(at), ms(at + 10)))
        });
        let budget = Duration::from_secs(10);
        let all = Recovery::after(ms(10_000)).budget(budget).check(&h);
        assert_eq!(all.verdict, Verdict::Invalid, "{}", all.detail);
        let majority = Recovery::after(ms(10_000))
            .of_clients([0, 2, 3, 5])
            .budget(budget)
            .check(&h);
        assert_eq!(majority.verdict, Verdict::Valid, "{}", majority.detail);
        assert_eq!(majority.name, RECOVERY_CHECK);
        assert!(
            majority.figures["recovery_secs"] < 0.1,
            "{}",
            majority.detail
        );
        assert_eq!(majority.figures["clients"], 4.0);
        let cut = Recovery::after(ms(10_000))
            .of_clients(cut_side)
            .named("availability.recovery.cut_off")
            .check(&h);
        assert_eq!(cut.name, "availability.recovery.cut_off");
        assert_eq!(cut.verdict, Verdict::Valid, "{}", cut.detail);
        assert_eq!(cut.figures["clients"], 2.0);
        assert!(cut.figures["recovery_secs"] >= 10.5, "{}", cut.detail);
        let cut = Recovery::after(ms(10_000))
            .of_clients(cut_side)
            .budget(budget);
        assert_eq!(cut.check(&h).verdict, Verdict::Invalid);
    }

    /// The same clients hung until 20 s, then served again: recovery is
    /// not before their hung ops ended (it was 0 s by invocation).
    #[test]
    fn recovery_waits_for_the_last_hung_client() {
        let h = clients(10, 40_000, |p, at| {
            if p > 0 && (9_900..10_000).contains(&at) {
                return Some(Op::unknown("put", "timeout").at(ms(at), ms(20_000)));
            }
            down(at)
        });
        let r = Recovery::after(ms(10_000)).measure(&h).unwrap();
        assert!(r.at >= ms(20_000), "{r:?}");
        assert!(r.covered_at > ms(20_000), "{r:?}");
        assert_eq!((r.clients, r.back), (10, 10));
        assert!(r.after >= Duration::from_secs(10), "{r:?}");
    }

    /// Issue 17: the heal itself caused a loss of service, every client's
    /// write stalling 2.2 s from 10.5 s (no leader) and then answered ok.
    /// By invocation every op after the heal was ok: 0 s recovery.
    #[test]
    fn a_stall_the_heal_causes_delays_recovery() {
        let h = clients(10, 30_000, |_, at| {
            if (10_500..10_600).contains(&at) {
                return Some(Op::ok("put").at(ms(at), ms(at + 2_200)));
            }
            down(at)
        });
        let r = Recovery::after(ms(10_000)).measure(&h).unwrap();
        assert!(r.at >= ms(12_700), "after the stall ended: {r:?}");
        let c = Recovery::after(ms(10_000))
            .budget(Duration::from_secs(2))
            .check(&h);
        assert_eq!(c.verdict, Verdict::Invalid, "{}", c.detail);
        // Without a stall limit a slow ok is service, as before.
        let lax = Recovery::after(ms(10_000)).stall(None).measure(&h).unwrap();
        assert!(lax.at < ms(10_200), "{lax:?}");
    }

    /// Issue 17: the healed node forced an election 6 s after the heal,
    /// stalling every client for 2 s. The first window after the heal was
    /// already good, so the disruption the heal caused fell after the
    /// "recovery"; a settle period of 10 s judges it.
    #[test]
    fn a_settle_period_sees_a_disruption_the_heal_causes_later() {
        let h = clients(10, 40_000, |_, at| {
            if (16_000..16_100).contains(&at) {
                return Some(Op::unknown("put", "timeout").at(ms(at), ms(at + 2_000)));
            }
            down(at)
        });
        let early = Recovery::after(ms(10_000)).measure(&h).unwrap();
        assert_eq!(early.at, ms(10_000), "by the first window alone");
        let settled = Recovery::after(ms(10_000))
            .settle(Duration::from_secs(10))
            .measure(&h)
            .unwrap();
        assert!(settled.at >= ms(18_000), "{settled:?}");
    }

    /// A client silent since the heal (its retry backed off) is not back:
    /// 4 clients, down from 5 s, healed at 10 s; clients 1-3 wait until
    /// 20 s before trying again. By invocation the window after the heal
    /// held client 0's 50 ok ops, and one op was enough: 0 s recovery.
    #[test]
    fn a_client_silent_since_the_heal_is_not_back() {
        let h = clients(4, 30_000, |p, at| {
            if p > 0 && (9_900..10_000).contains(&at) {
                // The last attempt in the fault, then a backoff to 20 s.
                return Some(Op::fail("put", "refused").at(ms(at), ms(19_910)));
            }
            down(at)
        });
        let h = History::new(
            h.ops
                .into_iter()
                // Drop the backoff's long span: silence, not a hung op.
                .map(|o| {
                    if o.complete == ms(19_910) {
                        o.at(ms(19_900), ms(19_910))
                    } else {
                        o
                    }
                })
                .collect(),
        );
        let r = Recovery::after(ms(10_000)).measure(&h).unwrap();
        assert!(r.covered_at >= ms(20_000), "{r:?}");
        assert!(r.after >= Duration::from_secs(10), "{r:?}");
        let old_rule = Recovery::after(ms(10_000)).clients(0.25).min_ops(1);
        assert_eq!(old_rule.measure(&h).unwrap().at, ms(10_000));
    }

    #[test]
    fn a_watched_condition_is_judged_against_the_budget() {
        let s = Duration::from_secs;
        let w = Watched::from(s(100), "restart", "95% of clients back online")
            .watched_for(s(45))
            .budget(s(30));
        let late = w.check(Some(s(131)));
        assert!(!late.verdict.is_valid(), "{late:?}");
        assert_eq!(late.figures["recovery_secs"], 31.0);
        let on_budget = w.check(Some(s(130)));
        assert!(on_budget.verdict.is_valid(), "{on_budget:?}");
        let never = w.check(None);
        assert!(!never.verdict.is_valid());
        assert!(!never.figures.contains_key("recovery_secs"));
        assert!(never.detail.contains("within 45s"), "{}", never.detail);
        assert_eq!(never.name, RECOVERY_CHECK);
    }

    #[test]
    fn recovery_starts_at_the_first_good_window() {
        let h = service(20_000, 5_000..9_000);
        let r = Recovery::after(ms(7_000)).measure(&h).unwrap();
        assert_eq!(r.at, ms(9_000));
        // Until the first answer after the heal: its 20 ms included.
        assert_eq!(r.after, ms(2_020));
        let c = Recovery::after(ms(7_000))
            .budget(Duration::from_secs(1))
            .check(&h);
        assert_eq!(c.name, RECOVERY_CHECK);
        assert_eq!(c.verdict, Verdict::Invalid);
        assert_eq!(c.figures["recovery_secs"], 2.02);
        assert_eq!(c.figures["recovery_invoked_secs"], 2.0);
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
        let none = Recovery::after(ms(50_000)).check(&h);
        assert!(none.detail.contains("no client invoked"), "{}", none.detail);
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
