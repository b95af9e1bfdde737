//! Integrity checkers: what the system kept of what it acknowledged.
//!
//! Four models, one per kind of data a workload writes:
//! - [`Set`]: `add` operations and a final `read` of the whole set;
//! - [`Register`]: per-key `write`, `cas` and `read`, checked for
//!   linearizability (the search is [`super::linearizable`]);
//! - [`Queue`]: `enqueue` / `dequeue` (and an optional final `drain`);
//! - [`Delivery`]: chat messages `send` to a room and `deliver`ed to each
//!   recipient, against the recipients each message was meant for.
//!
//! Every checker is a pure function of the history (linear or `n log n` in
//! its length, but for the register's bounded search) and gives an
//! [`IntegrityChecks`]: two [`Check`]s.
//!
//! - `integrity.<model>` ([`CheckKind::Requirement`]): what a fixed system
//!   must never do: lose an acknowledged write, duplicate one, serve a stale
//!   read, or show a write it reported as failed (`failed_present`: Jepsen's
//!   set-full reports definite failures that appear as unexpected too). A
//!   *before* variant may show these; an *after* variant must not.
//! - `integrity.<model>.phantoms` ([`CheckKind::Always`]): values no client
//!   ever wrote. No real system, fixed or not, invents data; a phantom means
//!   the workload, its recording or the system is broken beyond what the
//!   incident is about, so it invalidates both variants.
//!
//! Anomaly counts are stable counts (they go into the snapshot); totals
//! (acknowledged, unknown, attempted...) are figures. Operations with an
//! `unknown` outcome count either way: present or absent is fine.
//!
//! ```
//! use harness::checker::integrity;
//! use harness::history::{History, Op};
//! use std::time::Duration;
//! let s = Duration::from_secs;
//! let h = History::new(vec![
//!     Op::ok("add").with_value(1).at(s(0), s(1)),
//!     Op::ok("add").with_value(2).at(s(0), s(1)),
//!     Op::ok("read").with_values(vec![1]).at(s(2), s(3)),
//! ]);
//! let checked = integrity::set(&h);
//! assert_eq!(checked.count("lost"), 1);
//! assert!(!checked.verdict().is_valid());
//! ```

mod delivery;
mod queue;
mod register;
mod set;
#[cfg(test)]
mod tests;

pub use delivery::{delivery, Delivery};
pub use queue::{queue, Queue};
pub use register::{register, Register};
pub use set::{set, Set};

use super::linearizable::{self, Call, KeyOp, Limits, Outcome};
use super::{Check, CheckKind, Verdict};
use crate::history::{BadOp, History, Op, OpStatus};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::BuildHasherDefault;
use std::time::Duration;

/// How many anomalies are spelled out in a check's examples.
const MAX_EXAMPLES: usize = 5;

/// The result of one integrity checker: the requirement check and the
/// phantom check (see the module documentation for why they are two).
#[derive(Clone, Debug, PartialEq)]
pub struct IntegrityChecks {
    /// `integrity.<model>`: lost, duplicated, stale, failed but present.
    pub main: Check,
    /// `integrity.<model>.phantoms`: values never written.
    pub phantoms: Check,
}

impl IntoIterator for IntegrityChecks {
    type Item = Check;
    type IntoIter = std::array::IntoIter<Check, 2>;

    /// Both checks, requirement first: what the caller records.
    fn into_iter(self) -> Self::IntoIter {
        [self.main, self.phantoms].into_iter()
    }
}

impl IntegrityChecks {
    /// Both checks, requirement first.
    pub fn checks(&self) -> Vec<Check> {
        vec![self.main.clone(), self.phantoms.clone()]
    }

    /// The merged verdict of both checks.
    pub fn verdict(&self) -> Verdict {
        self.main.verdict.merge(self.phantoms.verdict)
    }

    /// An anomaly count of either check (`lost`, `phantom`, ...); 0 if absent.
    pub fn count(&self, key: &str) -> u64 {
        self.main
            .counts
            .get(key)
            .or_else(|| self.phantoms.counts.get(key))
            .copied()
            .unwrap_or(0)
    }

    /// A figure of the main check (`acknowledged`, `unknown`, ...).
    pub fn figure(&self, key: &str) -> Option<f64> {
        self.main.figures.get(key).copied()
    }

    /// Counts become 0 or 1 (anomaly seen or not) and the exact numbers
    /// move to figures. For *before* variants, where how many writes are
    /// lost varies from run to run but that some are lost does not.
    pub fn presence_only(mut self) -> Self {
        for check in [&mut self.main, &mut self.phantoms] {
            for (k, v) in check.counts.iter_mut() {
                check.figures.insert(k.clone(), *v as f64);
                *v = (*v).min(1);
            }
        }
        self
    }
}

/// Collects the anomalies of one checker and builds its checks.
struct Tally {
    name: String,
    counts: Vec<(&'static str, u64)>,
    phantom: u64,
    figures: Vec<(&'static str, f64)>,
    examples: Vec<String>,
    phantom_examples: Vec<String>,
    /// Set when the history cannot be judged (bad input, no final read).
    undecided: Option<String>,
    /// Set when part of it could not be decided (a search bound): unknown
    /// unless an anomaly was found.
    inconclusive: Option<String>,
}

impl Tally {
    fn new(name: &str) -> Self {
        Tally {
            name: name.to_string(),
            counts: Vec::new(),
            phantom: 0,
            figures: Vec::new(),
            examples: Vec::new(),
            phantom_examples: Vec::new(),
            undecided: None,
            inconclusive: None,
        }
    }

    fn example(&mut self, text: impl FnOnce() -> String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(text());
        }
    }

    fn phantom_example(&mut self, text: impl FnOnce() -> String) {
        if self.phantom_examples.len() < MAX_EXAMPLES {
            self.phantom_examples.push(text());
        }
    }

    fn finish(self, what: &str) -> IntegrityChecks {
        let anomalies: u64 = self.counts.iter().map(|(_, n)| n).sum();
        let (verdict, detail) = match &self.undecided {
            Some(why) => (Verdict::Unknown, why.clone()),
            None if anomalies == 0 => match &self.inconclusive {
                Some(why) => (Verdict::Unknown, why.clone()),
                None => (Verdict::Valid, format!("every acknowledged {what} kept")),
            },
            None => {
                let mut d = String::new();
                for (k, n) in self.counts.iter().filter(|(_, n)| *n > 0) {
                    let _ = write!(d, "{}{n} {}", if d.is_empty() { "" } else { ", " }, k);
                }
                (Verdict::Invalid, d)
            }
        };
        let mut main = Check::new(&self.name, CheckKind::Requirement, verdict, detail);
        for (k, n) in &self.counts {
            main = main.with_count(*k, *n);
        }
        for (k, v) in &self.figures {
            main = main.with_figure(*k, *v);
        }
        main.examples = self.examples;

        let (pv, pd) = match &self.undecided {
            Some(why) => (Verdict::Unknown, why.clone()),
            None if self.phantom == 0 => (Verdict::Valid, "no value that was never written".into()),
            None => (
                Verdict::Invalid,
                format!("{} values seen that no client ever wrote", self.phantom),
            ),
        };
        let mut phantoms = Check::new(format!("{}.phantoms", self.name), CheckKind::Always, pv, pd)
            .with_count("phantom", self.phantom);
        phantoms.examples = self.phantom_examples;
        IntegrityChecks { main, phantoms }
    }
}

/// A hash for integer keys that keeps their order in its low bits (which
/// pick the bucket) and mixes them into the top 7 (which tell a bucket's
/// keys apart): a set check looks up every element of every read, reads
/// list elements in runs of near ids, and neighbouring buckets stay in
/// cache where a uniform hash (or SipHash) misses it on every lookup.
#[derive(Default)]
struct Mix(u64);

impl std::hash::Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        let mixed = v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = (v & ((1 << 57) - 1)) | (mixed & !((1 << 57) - 1));
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}

fn set_values(r: &Op) -> &[i64] {
    r.values.as_deref().unwrap_or_default()
}

fn missing_value(op: &Op, index: usize, field: &str) -> String {
    format!(
        "operation #{index} (`{}` by process {}) has no {field}: record it with Op::{}",
        op.f,
        op.process,
        if field == "values" {
            "with_values(..)"
        } else {
            "with_value(..)"
        }
    )
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// Per-value outcome of the writes of one value (a value may be written
/// more than once when a client retries).
#[derive(Clone, Copy, Default)]
struct Writes {
    /// Earliest invocation.
    first_invoke: Option<Duration>,
    /// Earliest acknowledgement.
    first_ok: Option<Duration>,
    any_unknown: bool,
}

impl Writes {
    fn add(&mut self, op: &Op) {
        self.first_invoke = Some(self.first_invoke.map_or(op.invoke, |t| t.min(op.invoke)));
        match op.status {
            OpStatus::Ok => {
                self.first_ok = Some(self.first_ok.map_or(op.complete, |t| t.min(op.complete)))
            }
            OpStatus::Unknown => self.any_unknown = true,
            OpStatus::Fail => {}
        }
    }

    /// Every write of this value definitely failed.
    fn all_failed(&self) -> bool {
        self.first_ok.is_none() && !self.any_unknown
    }
}

// ---------------------------------------------------------------- set
