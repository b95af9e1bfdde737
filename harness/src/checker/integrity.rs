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

/// A set: `add` operations (value = element) and `read`s of the whole set
/// (values = the elements), judged on every acknowledged read, as Jepsen's
/// `set-full` does.
///
/// An element is *known* from the moment its add was acknowledged or a read
/// returned it, whichever came first. Every read invoked after that must
/// hold it (reads concurrent with it may be either way).
/// - `lost`: known, missed by such a read, and absent from the last read
///   (by invocation): it was acknowledged or seen, then went away;
/// - `stale`: known, missed by such a read, but present in the last read:
///   a read served from behind;
/// - `duplicated`: elements a read holds more than once;
/// - `failed_present`: present although every add of it failed;
/// - `phantom`: elements no add was invoked for before the read completed.
///
/// Elements acknowledged but with no read invoked after that are *never
/// read*: nothing is known of them (a figure, as in Jepsen). Examples give
/// each element's times: acknowledged, first seen, the reads that missed it.
#[derive(Clone, Debug)]
pub struct Set {
    name: String,
    add: String,
    read: String,
}

impl Default for Set {
    fn default() -> Self {
        Set {
            name: "integrity.set".into(),
            add: "add".into(),
            read: "read".into(),
        }
    }
}

/// Checks a set history with the default names (`add`, `read`).
pub fn set(history: &History) -> IntegrityChecks {
    Set::default().check(history)
}

/// What the reads showed of one element (reads numbered by invocation).
#[derive(Clone, Copy, Default)]
struct Seen {
    /// Earliest completion of a read holding it.
    first_seen: Option<Duration>,
    /// The first and last reads holding it.
    first_read: Option<u32>,
    last_read: Option<u32>,
    /// Runs of consecutive reads holding it.
    runs: u32,
    /// Reads invoked after it was known that hold it.
    after_known: u32,
    duplicated: bool,
}

impl super::Checker for Set {
    fn checks(&self, history: &History) -> Vec<Check> {
        self.check(history).checks()
    }
}

impl Set {
    /// The default checker (`integrity.set`, ops `add` and `read`).
    pub fn new() -> Self {
        Set::default()
    }

    /// Names the check (`integrity.orders`); the phantom check is `<name>.phantoms`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The operation names of adds and of reads.
    pub fn ops(mut self, add: impl Into<String>, read: impl Into<String>) -> Self {
        self.add = add.into();
        self.read = read.into();
        self
    }

    /// Checks `history`; one whose ops complete before their invocation
    /// gives an unknown verdict naming the op.
    pub fn check(&self, history: &History) -> IntegrityChecks {
        let mut t = Tally::new(&self.name);
        if let Err(bad) = history.validate() {
            t.undecided = Some(bad.to_string());
            return t.finish("add");
        }
        // Elements numbered densely: the passes over the reads index arrays.
        let mut index: HashMap<i64, u32, BuildHasherDefault<Mix>> = HashMap::default();
        let mut elements: Vec<(i64, Writes)> = Vec::new();
        let mut reads: Vec<&Op> = Vec::new();
        let (mut acknowledged, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        for (i, op) in history.ops.iter().enumerate() {
            if op.f == self.add {
                let Some(v) = op.value else {
                    t.undecided = Some(missing_value(op, i, "value"));
                    return t.finish("add");
                };
                let n = *index.entry(v).or_insert_with(|| {
                    elements.push((v, Writes::default()));
                    elements.len() as u32 - 1
                });
                elements[n as usize].1.add(op);
                match op.status {
                    OpStatus::Ok => acknowledged += 1,
                    OpStatus::Fail => failed += 1,
                    OpStatus::Unknown => unknown += 1,
                }
            } else if op.f == self.read && op.status == OpStatus::Ok {
                if op.values.is_none() {
                    t.undecided = Some(missing_value(op, i, "values"));
                    return t.finish("add");
                }
                reads.push(op);
            }
        }
        t.figures = vec![
            ("attempted", (acknowledged + failed + unknown) as f64),
            ("acknowledged", acknowledged as f64),
            ("failed", failed as f64),
            ("unknown", unknown as f64),
        ];
        if reads.is_empty() {
            t.undecided = Some(format!(
                "no acknowledged `{}`: the workload must read the whole set (a final `{}` once its adds are done)",
                self.read, self.read
            ));
            return t.finish("add");
        }
        reads.sort_by_key(|r| (r.invoke, r.complete));
        let last = reads.len() as u32 - 1;
        t.figures.push(("reads", reads.len() as f64));
        t.figures
            .push(("read_size", set_values(reads[last as usize]).len() as f64));

        // One pass over the reads (by invocation): per element, the reads
        // holding it, as first and last index and the number of runs of
        // consecutive reads; phantoms.
        let mut seen = vec![Seen::default(); elements.len()];
        let mut phantoms: BTreeSet<i64> = BTreeSet::new();
        for (j, r) in reads.iter().enumerate() {
            let j = j as u32;
            for v in set_values(r) {
                let n = match index.get(v) {
                    Some(&n)
                        if elements[n as usize]
                            .1
                            .first_invoke
                            .is_some_and(|i| i <= r.complete) =>
                    {
                        n as usize
                    }
                    _ => {
                        phantoms.insert(*v);
                        continue;
                    }
                };
                let s = &mut seen[n];
                if s.last_read == Some(j) {
                    s.duplicated = true;
                    continue;
                }
                if s.last_read.is_none_or(|l| l + 1 != j) {
                    s.runs += 1;
                }
                s.first_read.get_or_insert(j);
                s.last_read = Some(j);
                s.first_seen = Some(s.first_seen.map_or(r.complete, |f| f.min(r.complete)));
            }
        }
        let invokes: Vec<Duration> = reads.iter().map(|r| r.invoke).collect();
        // The first read invoked after each element was known.
        let known_at: Vec<Option<u32>> = (0..elements.len())
            .map(|n| {
                let known = match (elements[n].1.first_ok, seen[n].first_seen) {
                    (Some(a), Some(b)) => a.min(b),
                    (a, b) => a.or(b)?,
                };
                Some(invokes.partition_point(|i| *i <= known) as u32)
            })
            .collect();
        // Reads after that holding it: from the run when there is one,
        // else (an element that came and went: rare) counted in a pass
        // over the reads for those elements alone.
        let mut irregular = vec![false; elements.len()];
        for (n, s) in seen.iter_mut().enumerate() {
            let (Some(p), Some(first), Some(last)) = (known_at[n], s.first_read, s.last_read)
            else {
                continue;
            };
            if s.runs == 1 {
                s.after_known = (last + 1).saturating_sub(first.max(p));
            } else {
                irregular[n] = true;
            }
        }
        if irregular.iter().any(|i| *i) {
            let mut counted_in = vec![u32::MAX; elements.len()];
            for (j, r) in reads.iter().enumerate() {
                let j = j as u32;
                for v in set_values(r) {
                    let Some(&n) = index.get(v) else { continue };
                    let n = n as usize;
                    if irregular[n] && known_at[n].is_some_and(|p| j >= p) && counted_in[n] != j {
                        counted_in[n] = j;
                        seen[n].after_known += 1;
                    }
                }
            }
        }
        let (mut lost, mut stale, mut dup, mut failed_present) = (0u64, 0u64, 0u64, 0u64);
        let (mut never_read, mut unknown_present) = (0u64, 0u64);
        let mut order: Vec<usize> = (0..elements.len()).collect();
        // Sorted so that counts and examples do not depend on input order.
        order.sort_unstable_by_key(|&n| elements[n].0);
        for n in order {
            let (v, w) = (elements[n].0, &elements[n].1);
            let s = seen[n];
            if s.duplicated {
                dup += 1;
                t.example(|| format!("element {v} held more than once by one read"));
            }
            if s.first_seen.is_some() {
                if w.all_failed() {
                    failed_present += 1;
                    t.example(|| format!("element {v} present although its add failed"));
                } else if w.first_ok.is_none() {
                    unknown_present += 1;
                }
            }
            let Some(p) = known_at[n] else { continue };
            // Reads invoked after it was known.
            let after = reads.len() - p as usize;
            if after == 0 {
                never_read += 1;
                continue;
            }
            let missed = after as u32 - s.after_known;
            if missed == 0 {
                continue;
            }
            let first = s.first_seen.map_or("never seen".to_string(), |f| {
                format!("first seen {}", secs(f))
            });
            let acked = w.first_ok.map_or("not acknowledged".to_string(), |a| {
                format!("acknowledged {}", secs(a))
            });
            if s.last_read == Some(last) {
                stale += 1;
                t.example(|| format!("element {v} ({acked}, {first}) missed by {missed} of the {after} reads invoked after it was known, then seen again: stale"));
            } else {
                lost += 1;
                let gone = reads[last as usize];
                let since = s.last_read.map_or(String::new(), |j| {
                    format!(
                        ", last seen by the read completed {}",
                        secs(reads[j as usize].complete)
                    )
                });
                t.example(|| format!("element {v} ({acked}, {first}{since}) absent from the last read [{}, {}]: lost", secs(gone.invoke), secs(gone.complete)));
            }
        }
        for v in phantoms.iter().take(MAX_EXAMPLES) {
            t.phantom_example(|| format!("element {v} read but never added"));
        }
        t.figures.push(("unknown_present", unknown_present as f64));
        t.figures.push(("never_read", never_read as f64));
        t.counts = vec![
            ("lost", lost),
            ("stale", stale),
            ("duplicated", dup),
            ("failed_present", failed_present),
        ];
        t.phantom = phantoms.len() as u64;
        t.finish("add")
    }
}

// ---------------------------------------------------------------- register

/// Registers, one per key, checked for linearizability (see
/// [`super::linearizable`]): `write` (value), `read` (value = what it
/// returned, `None` for a register never written) and `cas` (value = the
/// value written, [`Op::with_expected`] = the value it required). An
/// acknowledged operation took effect once inside its interval; a failed one
/// never did; one of unknown outcome may have at any point after its
/// invocation, or never. Reads that did not succeed tell nothing.
///
/// - `nonlinearizable_keys`: keys whose history no order of the operations
///   explains; each example gives the longest linearizable prefix found
///   (its last operations) and the operation that cannot follow, with their
///   times;
/// - `failed_present`: reads of a value whose every write failed;
/// - `phantom`: reads of a value no write was invoked for before the read
///   completed.
///
/// When the search bound is hit on a key (and no other key is invalid) the
/// verdict is unknown, never valid. Keys are checked in parallel.
#[derive(Clone, Debug)]
pub struct Register {
    name: String,
    write: String,
    read: String,
    cas: String,
    limits: Limits,
}

impl Default for Register {
    fn default() -> Self {
        Register {
            name: "integrity.register".into(),
            write: "write".into(),
            read: "read".into(),
            cas: "cas".into(),
            limits: Limits::default(),
        }
    }
}

/// Checks a register history with the default names (`write`, `read`, `cas`).
pub fn register(history: &History) -> IntegrityChecks {
    Register::default().check(history)
}

impl super::Checker for Register {
    fn checks(&self, history: &History) -> Vec<Check> {
        self.check(history).checks()
    }
}

impl Register {
    /// The default checker (`integrity.register`, ops `write`, `read`, `cas`).
    pub fn new() -> Self {
        Register::default()
    }

    /// Names the check; the phantom check is `<name>.phantoms`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The operation names of writes and reads.
    pub fn ops(mut self, write: impl Into<String>, read: impl Into<String>) -> Self {
        self.write = write.into();
        self.read = read.into();
        self
    }

    /// The operation name of compare-and-sets.
    pub fn cas_op(mut self, cas: impl Into<String>) -> Self {
        self.cas = cas.into();
        self
    }

    /// The bounds of each key's search.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Checks `history`. A history the checker cannot judge (see
    /// [`Register::try_check`]) gives an unknown verdict naming the op.
    pub fn check(&self, history: &History) -> IntegrityChecks {
        self.try_check(history).unwrap_or_else(|bad| {
            let mut t = Tally::new(&self.name);
            t.undecided = Some(bad.to_string());
            t.finish("write")
        })
    }

    /// Checks `history`, or names the operation that makes it unjudgeable:
    /// one that completes before its invocation, one that is not a read,
    /// write or cas, a write or cas without its value.
    pub fn try_check(&self, history: &History) -> Result<IntegrityChecks, BadOp> {
        history.validate()?;
        let mut t = Tally::new(&self.name);
        // key -> (history index, op) of everything that may have taken effect
        let mut keys: BTreeMap<&str, Vec<(usize, KeyOp)>> = BTreeMap::new();
        let mut writes: HashMap<(&str, i64), Writes> = HashMap::new();
        let mut reads: Vec<(usize, &Op)> = Vec::new();
        let (mut acknowledged, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        for (i, op) in history.ops.iter().enumerate() {
            let key = op.key.as_deref().unwrap_or("");
            let value = || {
                op.value.ok_or_else(|| {
                    BadOp::new(i, op, "it has no value: record it with Op::with_value(..)")
                })
            };
            let call = if op.f == self.read {
                if op.status != OpStatus::Ok {
                    continue;
                }
                reads.push((i, op));
                Call::Read(op.value)
            } else if op.f == self.write {
                Call::Write(value()?)
            } else if op.f == self.cas {
                let expect = match op.values.as_deref() {
                    Some([]) => None,
                    Some([old]) => Some(*old),
                    _ => {
                        return Err(BadOp::new(
                            i,
                            op,
                            "a cas needs the value it expected: Op::with_expected(Some(old)), or None for an empty register",
                        ))
                    }
                };
                Call::Cas {
                    expect,
                    new: value()?,
                }
            } else {
                return Err(BadOp::new(
                    i,
                    op,
                    format!(
                        "not a register operation (expected `{}`, `{}` or `{}`)",
                        self.read, self.write, self.cas
                    ),
                ));
            };
            if let Call::Write(v) | Call::Cas { new: v, .. } = call {
                writes.entry((key, v)).or_default().add(op);
                match op.status {
                    OpStatus::Ok => acknowledged += 1,
                    OpStatus::Fail => failed += 1,
                    OpStatus::Unknown => unknown += 1,
                }
            }
            if op.status == OpStatus::Fail {
                continue;
            }
            keys.entry(key).or_default().push((
                i,
                KeyOp {
                    call,
                    invoke: op.invoke,
                    complete: (op.status == OpStatus::Ok).then_some(op.complete),
                },
            ));
        }
        let (mut phantom, mut failed_present) = (0u64, 0u64);
        for (_, r) in &reads {
            let key = r.key.as_deref().unwrap_or("");
            let Some(v) = r.value else { continue };
            match writes.get(&(key, v)) {
                Some(w) if w.first_invoke.is_some_and(|i| i <= r.complete) => {
                    if w.all_failed() {
                        failed_present += 1;
                        t.example(|| {
                            format!("key {key:?}: read value {v} whose writes all failed")
                        });
                    }
                }
                _ => {
                    phantom += 1;
                    t.phantom_example(|| format!("key {key:?}: read value {v}, never written"));
                }
            }
        }
        let keyed: Vec<(&str, Vec<(usize, KeyOp)>)> = keys.into_iter().collect();
        let outcomes = check_keys(&keyed, &self.limits);
        let (mut bad, mut undecided, mut steps) = (0u64, 0u64, 0u64);
        let mut why_undecided = None;
        for ((key, ops), outcome) in keyed.iter().zip(&outcomes) {
            match outcome {
                Outcome::Linearizable { steps: s } => steps += s,
                Outcome::Undecided { steps: s, why } => {
                    steps += s;
                    undecided += 1;
                    why_undecided.get_or_insert_with(|| format!("key {key:?}: {why}"));
                }
                Outcome::Violation(w) => {
                    bad += 1;
                    t.example(|| describe_violation(key, ops, history, w));
                }
            }
        }
        if undecided > 0 {
            t.inconclusive = Some(format!(
                "linearizability of {undecided} of {} keys undecided (first: {})",
                keyed.len(),
                why_undecided.unwrap_or_default()
            ));
        }
        t.figures = vec![
            ("attempted", (acknowledged + failed + unknown) as f64),
            ("acknowledged", acknowledged as f64),
            ("failed", failed as f64),
            ("unknown", unknown as f64),
            ("reads", reads.len() as f64),
            ("keys", keyed.len() as f64),
            ("undecided_keys", undecided as f64),
            ("search_steps", steps as f64),
        ];
        t.counts = vec![
            ("nonlinearizable_keys", bad),
            ("failed_present", failed_present),
        ];
        t.phantom = phantom;
        Ok(t.finish("write"))
    }
}

/// Runs each key's search, spread over the machine's cores.
fn check_keys(keys: &[(&str, Vec<(usize, KeyOp)>)], limits: &Limits) -> Vec<Outcome> {
    let run = |ops: &Vec<(usize, KeyOp)>| {
        let ops: Vec<KeyOp> = ops.iter().map(|(_, o)| *o).collect();
        linearizable::check(&ops, limits)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(keys.len());
    if threads <= 1 {
        return keys.iter().map(|(_, ops)| run(ops)).collect();
    }
    // Keys go to threads round robin; results come back in key order.
    let mut out: Vec<Option<Outcome>> = vec![None; keys.len()];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..keys.len())
                        .step_by(threads)
                        .map(|i| (i, run(&keys[i].1)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, o) in h.join().expect("a key's search panicked") {
                out[i] = Some(o);
            }
        }
    });
    out.into_iter()
        .map(|o| o.expect("every key checked"))
        .collect()
}

/// The witness of one key, as a person reads it: the last operations of the
/// longest linearizable prefix, the value they leave, the operation that
/// cannot follow and the others still open then, each with its times.
fn describe_violation(
    key: &str,
    ops: &[(usize, KeyOp)],
    history: &History,
    w: &linearizable::Witness,
) -> String {
    let show = |i: usize| {
        let (index, o) = &ops[i];
        format!(
            "#{index} {} by p{} [{}, {}]",
            o.call,
            history.ops[*index].process,
            secs(o.invoke),
            o.complete.map_or("?".to_string(), secs)
        )
    };
    let mut d = format!("key {key:?}: not linearizable: ");
    if w.prefix_len == 0 {
        d.push_str("from the empty register, ");
    } else {
        let _ = write!(
            d,
            "after {} ops ({}{}) the register holds {}, ",
            w.prefix_len,
            if w.prefix_len > w.prefix_tail.len() {
                "..., "
            } else {
                ""
            },
            w.prefix_tail
                .iter()
                .map(|&i| show(i))
                .collect::<Vec<_>>()
                .join(", "),
            w.state.map_or("nil".to_string(), |v| v.to_string()),
        );
    }
    let _ = write!(d, "and {} cannot follow", show(w.blocked));
    if !w.pending.is_empty() {
        let _ = write!(
            d,
            "; nor can any other op open then: {}{}",
            w.pending
                .iter()
                .take(MAX_EXAMPLES)
                .map(|&i| show(i))
                .collect::<Vec<_>>()
                .join(", "),
            if w.pending.len() > MAX_EXAMPLES {
                ", ..."
            } else {
                ""
            }
        );
    }
    d
}

// ---------------------------------------------------------------- queue

/// A queue: `enqueue` (value = item), `dequeue` (value = item taken, `None`
/// when empty) and optionally a final `drain` (values = items left).
/// Every item must be taken by a dequeue or the drain.
///
/// - `lost`: acknowledged enqueues never taken, beyond what the dequeues of
///   unknown outcome may have taken: each may have taken one item unseen,
///   and only one enqueued before that dequeue completed (the most such
///   items they can excuse is a matching, found greedily: the options are
///   nested);
/// - `duplicated`: items taken more often than they were enqueued (every
///   enqueue op that may have taken effect, ok or unknown, counts: a
///   retried enqueue of the same item may be taken twice);
/// - `failed_present`: items taken although every enqueue of them failed;
/// - `phantom`: items taken that no enqueue was invoked for.
#[derive(Clone, Debug)]
pub struct Queue {
    name: String,
    enqueue: String,
    dequeue: String,
    drain: String,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            name: "integrity.queue".into(),
            enqueue: "enqueue".into(),
            dequeue: "dequeue".into(),
            drain: "drain".into(),
        }
    }
}

/// Checks a queue history with the default names (`enqueue`, `dequeue`, `drain`).
pub fn queue(history: &History) -> IntegrityChecks {
    Queue::default().check(history)
}

impl super::Checker for Queue {
    fn checks(&self, history: &History) -> Vec<Check> {
        self.check(history).checks()
    }
}

impl Queue {
    /// The default checker (`integrity.queue`).
    pub fn new() -> Self {
        Queue::default()
    }

    /// Names the check; the phantom check is `<name>.phantoms`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The operation names of enqueues, dequeues and the final drain.
    pub fn ops(
        mut self,
        enqueue: impl Into<String>,
        dequeue: impl Into<String>,
        drain: impl Into<String>,
    ) -> Self {
        self.enqueue = enqueue.into();
        self.dequeue = dequeue.into();
        self.drain = drain.into();
        self
    }

    /// Checks `history`.
    pub fn check(&self, history: &History) -> IntegrityChecks {
        let mut t = Tally::new(&self.name);
        if let Err(bad) = history.validate() {
            t.undecided = Some(bad.to_string());
            return t.finish("enqueue");
        }
        let mut writes: HashMap<i64, Writes> = HashMap::new();
        // item -> (times taken, earliest completion of a take)
        let mut taken: HashMap<i64, (u32, Duration)> = HashMap::new();
        let (mut acknowledged, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        let mut unknown_dequeues: Vec<Duration> = Vec::new();
        // item -> enqueue ops that may have taken effect
        let mut attempts: HashMap<i64, u32> = HashMap::new();
        let mut take = |v: i64, at: Duration| {
            let e = taken.entry(v).or_insert((0, at));
            e.0 += 1;
            e.1 = e.1.min(at);
        };
        for (i, op) in history.ops.iter().enumerate() {
            if op.f == self.enqueue {
                let Some(v) = op.value else {
                    t.undecided = Some(missing_value(op, i, "value"));
                    return t.finish("enqueue");
                };
                writes.entry(v).or_default().add(op);
                if op.status != OpStatus::Fail {
                    *attempts.entry(v).or_default() += 1;
                }
                match op.status {
                    OpStatus::Ok => acknowledged += 1,
                    OpStatus::Fail => failed += 1,
                    OpStatus::Unknown => unknown += 1,
                }
            } else if op.f == self.dequeue {
                match op.status {
                    OpStatus::Ok => {
                        if let Some(v) = op.value {
                            take(v, op.complete);
                        }
                    }
                    OpStatus::Unknown => unknown_dequeues.push(op.complete),
                    OpStatus::Fail => {}
                }
            } else if op.f == self.drain && op.status == OpStatus::Ok {
                let Some(vs) = &op.values else {
                    t.undecided = Some(missing_value(op, i, "values"));
                    return t.finish("enqueue");
                };
                for v in vs {
                    take(*v, op.complete);
                }
            }
        }
        let (mut dup, mut failed_present, mut phantom) = (0u64, 0u64, 0u64);
        let mut items: Vec<(&i64, &(u32, Duration))> = taken.iter().collect();
        items.sort_unstable_by_key(|(v, _)| **v);
        for (v, (n, at)) in items {
            let enqueued = attempts.get(v).copied().unwrap_or(0);
            if *n > enqueued.max(1) {
                dup += 1;
                t.example(|| format!("item {v} taken {n} times, enqueued {enqueued}"));
            }
            match writes.get(v) {
                Some(w) if w.first_invoke.is_some_and(|i| i <= *at) => {
                    if w.all_failed() {
                        failed_present += 1;
                        t.example(|| format!("item {v} taken although its enqueue failed"));
                    }
                }
                _ => {
                    phantom += 1;
                    t.phantom_example(|| format!("item {v} taken but never enqueued"));
                }
            }
        }
        let mut missing: Vec<(Duration, i64)> = writes
            .iter()
            .filter(|(v, w)| w.first_ok.is_some() && !taken.contains_key(v))
            .filter_map(|(v, w)| Some((w.first_invoke?, *v)))
            .collect();
        // Latest enqueued first: the fewest unknown dequeues can have taken
        // it (those that completed after it was invoked), and every dequeue
        // that can take it can take any item enqueued before.
        missing.sort_unstable_by(|a, b| b.cmp(a));
        unknown_dequeues.sort_unstable();
        let (mut excused, mut lost_items) = (0usize, Vec::new());
        for (invoked, v) in &missing {
            let able = unknown_dequeues.len() - unknown_dequeues.partition_point(|c| c < invoked);
            if able > excused {
                excused += 1;
            } else {
                lost_items.push((*invoked, *v));
            }
        }
        let lost = lost_items.len() as u64;
        lost_items.sort_unstable_by_key(|(_, v)| *v);
        for (invoked, v) in lost_items.iter().take(MAX_EXAMPLES) {
            t.example(|| {
                format!(
                    "item {v} enqueued at {} and acknowledged, never taken, and no unknown dequeue completed after it was left to excuse it",
                    secs(*invoked)
                )
            });
        }
        t.figures = vec![
            ("attempted", (acknowledged + failed + unknown) as f64),
            ("acknowledged", acknowledged as f64),
            ("failed", failed as f64),
            ("unknown", unknown as f64),
            ("unknown_dequeues", unknown_dequeues.len() as f64),
            ("never_taken", missing.len() as f64),
        ];
        t.counts = vec![
            ("lost", lost),
            ("duplicated", dup),
            ("failed_present", failed_present),
        ];
        t.phantom = phantom;
        t.finish("enqueue")
    }
}

// ---------------------------------------------------------------- delivery

/// Chat delivery: every message the gateway acknowledged to its sender
/// reaches every recipient it was meant for exactly once, or is reported
/// undeliverable to them.
///
/// Operations: `send` (key = room, value = message id, `ok` = acknowledged)
/// and `deliver` (key = recipient, value = message id). The caller supplies
/// the recipients of each message (the room's online members when it was
/// sent) and the (message, recipient) pairs the gateway reported
/// undeliverable.
///
/// - `lost`: (acknowledged message, recipient) pairs neither delivered nor
///   reported undeliverable;
/// - `duplicated`: pairs delivered more than once;
/// - `failed_delivered`: messages delivered although their send failed;
/// - `phantom`: deliveries of a message no send was invoked for;
/// - `misdelivered` (with [`Delivery::audience`]): deliveries to someone
///   outside the message's audience (a non-member of its room, or an echo
///   to its sender).
///
/// `phantom` and `misdelivered` are in the always-check `<name>.phantoms`:
/// no variant may deliver what was never sent, or to whom it was not sent.
#[derive(Clone, Debug)]
pub struct Delivery {
    name: String,
    send: String,
    deliver: String,
    recipients: HashMap<i64, Vec<String>>,
    undeliverable: HashSet<(i64, String)>,
    audience: Option<HashMap<i64, HashSet<String>>>,
}

/// Checks a delivery history with the default names (`send`, `deliver`)
/// and no pair reported undeliverable.
pub fn delivery(history: &History, recipients: HashMap<i64, Vec<String>>) -> IntegrityChecks {
    Delivery::new(recipients).check(history)
}

impl super::Checker for Delivery {
    fn checks(&self, history: &History) -> Vec<Check> {
        self.check(history).checks()
    }
}

impl Delivery {
    /// A checker for messages meant for `recipients` (message id ->
    /// recipients; every sent message needs an entry, empty if none).
    pub fn new(recipients: HashMap<i64, Vec<String>>) -> Self {
        Delivery {
            name: "integrity.delivery".into(),
            send: "send".into(),
            deliver: "deliver".into(),
            recipients,
            undeliverable: HashSet::new(),
            audience: None,
        }
    }

    /// Who may receive each message at all (message id -> recipients: its
    /// room's members but the sender, online or not). A delivery to anyone
    /// else, or of a message without an entry, is `misdelivered`.
    pub fn audience(mut self, audience: HashMap<i64, HashSet<String>>) -> Self {
        self.audience = Some(audience);
        self
    }

    /// The (message, recipient) pairs the gateway reported undeliverable.
    pub fn undeliverable(mut self, pairs: impl IntoIterator<Item = (i64, String)>) -> Self {
        self.undeliverable.extend(pairs);
        self
    }

    /// Names the check; the phantom check is `<name>.phantoms`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The operation names of sends and deliveries.
    pub fn ops(mut self, send: impl Into<String>, deliver: impl Into<String>) -> Self {
        self.send = send.into();
        self.deliver = deliver.into();
        self
    }

    /// Checks `history`.
    pub fn check(&self, history: &History) -> IntegrityChecks {
        let mut t = Tally::new(&self.name);
        let mut sends: HashMap<i64, Writes> = HashMap::new();
        // (message, recipient) -> deliveries
        let mut delivered: HashMap<(i64, &str), (u32, Duration)> = HashMap::new();
        let (mut acknowledged, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        for (i, op) in history.ops.iter().enumerate() {
            if op.f == self.send {
                let Some(m) = op.value else {
                    t.undecided = Some(missing_value(op, i, "value"));
                    return t.finish("message");
                };
                sends.entry(m).or_default().add(op);
                match op.status {
                    OpStatus::Ok => acknowledged += 1,
                    OpStatus::Fail => failed += 1,
                    OpStatus::Unknown => unknown += 1,
                }
            } else if op.f == self.deliver && op.status == OpStatus::Ok {
                let (Some(m), Some(r)) = (op.value, op.key.as_deref()) else {
                    t.undecided = Some(format!(
                        "operation #{i} (`{}`) needs the message id as value and the recipient as key: Op::ok(\"{}\").with_key(recipient).with_value(id)",
                        op.f, op.f
                    ));
                    return t.finish("message");
                };
                let e = delivered.entry((m, r)).or_insert((0, op.complete));
                e.0 += 1;
                e.1 = e.1.min(op.complete);
            }
        }
        let mut unplanned: Vec<i64> = sends
            .iter()
            .filter(|(m, w)| w.first_ok.is_some() && !self.recipients.contains_key(m))
            .map(|(m, _)| *m)
            .collect();
        if !unplanned.is_empty() {
            unplanned.sort_unstable();
            t.undecided = Some(format!(
                "{} acknowledged messages have no entry in the recipients map (e.g. message {}): give every sent message its recipients, an empty list if none",
                unplanned.len(),
                unplanned[0]
            ));
            return t.finish("message");
        }
        let (mut dup, mut failed_delivered, mut phantom, mut misdelivered) =
            (0u64, 0u64, 0u64, 0u64);
        let mut failed_messages: BTreeSet<i64> = BTreeSet::new();
        let mut pairs: Vec<_> = delivered.iter().collect();
        pairs.sort_unstable_by_key(|(k, _)| **k);
        for ((m, r), (n, at)) in pairs {
            if *n > 1 {
                dup += 1;
                t.example(|| format!("message {m} delivered {n} times to {r}"));
            }
            if let Some(audience) = &self.audience {
                if !audience.get(m).is_some_and(|a| a.contains(*r)) {
                    misdelivered += 1;
                    t.phantom_example(|| {
                        format!("message {m} delivered to {r}, which it was not sent to (not in its room, or its sender)")
                    });
                }
            }
            match sends.get(m) {
                Some(w) if w.first_invoke.is_some_and(|i| i < *at) => {
                    if w.all_failed() && failed_messages.insert(*m) {
                        failed_delivered += 1;
                        t.example(|| format!("message {m} delivered although its send failed"));
                    }
                }
                _ => {
                    phantom += 1;
                    t.phantom_example(|| format!("message {m} delivered to {r} but never sent"));
                }
            }
        }
        let mut acked: Vec<i64> = sends
            .iter()
            .filter(|(_, w)| w.first_ok.is_some())
            .map(|(m, _)| *m)
            .collect();
        acked.sort_unstable();
        let (mut lost, mut expected, mut reported) = (0u64, 0u64, 0u64);
        for m in acked {
            for r in &self.recipients[&m] {
                expected += 1;
                if delivered.contains_key(&(m, r.as_str())) {
                    continue;
                }
                if self.undeliverable.contains(&(m, r.clone())) {
                    reported += 1;
                    continue;
                }
                lost += 1;
                t.example(|| format!("message {m} acknowledged but never delivered to {r}"));
            }
        }
        t.figures = vec![
            ("attempted", (acknowledged + failed + unknown) as f64),
            ("acknowledged", acknowledged as f64),
            ("failed", failed as f64),
            ("unknown", unknown as f64),
            ("expected_deliveries", expected as f64),
            ("reported_undeliverable", reported as f64),
        ];
        t.counts = vec![
            ("lost", lost),
            ("duplicated", dup),
            ("failed_delivered", failed_delivered),
        ];
        t.phantom = phantom;
        let mut checks = t.finish("message");
        if self.audience.is_some() {
            let p = &mut checks.phantoms;
            p.counts.insert("misdelivered".into(), misdelivered);
            if misdelivered > 0 && p.verdict != Verdict::Unknown {
                p.detail = if p.verdict == Verdict::Valid {
                    format!("{misdelivered} deliveries to someone the message was not sent to")
                } else {
                    format!(
                        "{}; {misdelivered} deliveries to someone the message was not sent to",
                        p.detail
                    )
                };
                p.verdict = Verdict::Invalid;
            }
        }
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn set_counts_every_anomaly() {
        let h = History::new(vec![
            Op::ok("add").with_value(1).at(s(0), s(1)),
            Op::ok("add").with_value(2).at(s(0), s(1)),
            Op::fail("add", "no").with_value(3).at(s(0), s(1)),
            Op::unknown("add", "timeout").with_value(4).at(s(0), s(1)),
            Op::unknown("add", "timeout").with_value(5).at(s(0), s(1)),
            // Concurrent with the final read: may be absent.
            Op::ok("add").with_value(6).at(s(4), s(6)),
            Op::ok("read")
                .with_values(vec![1, 1, 3, 4, 99])
                .at(s(5), s(7)),
        ]);
        let c = set(&h);
        assert_eq!(c.count("lost"), 1, "{:?}", c.main);
        assert_eq!(c.count("duplicated"), 1);
        assert_eq!(c.count("failed_present"), 1);
        assert_eq!(c.count("phantom"), 1);
        assert_eq!(c.main.verdict, Verdict::Invalid);
        assert_eq!(c.main.kind, CheckKind::Requirement);
        assert_eq!(c.phantoms.kind, CheckKind::Always);
        assert_eq!(c.phantoms.name, "integrity.set.phantoms");
        assert_eq!(c.figure("unknown"), Some(2.0));
        assert!(c.main.examples.iter().any(|e| e.contains("element 2")));
    }

    #[test]
    fn set_without_final_read_is_undecided() {
        let h = History::new(vec![Op::ok("add").with_value(1)]);
        let c = set(&h);
        assert_eq!(c.verdict(), Verdict::Unknown);
        assert!(c.main.detail.contains("final `read`"));
        let bad = History::new(vec![Op::ok("add")]);
        assert!(set(&bad).main.detail.contains("with_value"));
    }

    #[test]
    fn presence_only_keeps_the_exact_numbers_as_figures() {
        let h = History::new(vec![
            Op::ok("add").with_value(1).at(s(0), s(1)),
            Op::ok("add").with_value(2).at(s(0), s(1)),
            Op::ok("read").with_values(vec![]).at(s(2), s(3)),
        ]);
        let c = set(&h).presence_only();
        assert_eq!(c.count("lost"), 1);
        assert_eq!(c.main.figures["lost"], 2.0);
    }

    fn w(v: i64, i: u64, c: u64) -> Op {
        Op::ok("write").with_key("k").with_value(v).at(s(i), s(c))
    }

    fn r(v: Option<i64>, i: u64, c: u64) -> Op {
        let op = Op::ok("read").with_key("k").at(s(i), s(c)).by(9);
        match v {
            Some(v) => op.with_value(v),
            None => op,
        }
    }

    fn cas(old: i64, new: i64, i: u64, c: u64, by: u32) -> Op {
        Op::ok("cas")
            .with_key("k")
            .with_expected(Some(old))
            .with_value(new)
            .at(s(i), s(c))
            .by(by)
    }

    #[test]
    fn register_stale_and_phantom_reads() {
        let h = History::new(vec![
            w(1, 0, 1),
            w(2, 2, 3),
            r(Some(1), 4, 5),                                // stale
            r(Some(7), 8, 9),                                // phantom
            Op::ok("read").with_key("other").at(s(8), s(9)), // never written: fine
        ]);
        let c = register(&h);
        assert_eq!(c.count("nonlinearizable_keys"), 1, "{:?}", c.main);
        assert_eq!(c.count("phantom"), 1);
        assert_eq!(c.verdict(), Verdict::Invalid);
        let e = &c.main.examples[0];
        // The witness: the prefix, the value it leaves, the op that cannot follow.
        assert!(
            e.contains("after 2 ops")
                && e.contains("holds 2")
                && e.contains("#2 read 1 by p9 [4.000s, 5.000s]"),
            "{e}"
        );
    }

    #[test]
    fn register_concurrent_reads_are_fine() {
        let h = History::new(vec![
            w(1, 0, 1),
            w(2, 2, 5),
            r(Some(1), 3, 4),
            r(Some(2), 3, 4),
            r(Some(2), 6, 7),
        ]);
        assert_eq!(register(&h).verdict(), Verdict::Valid);
    }

    /// The history that fooled the old checker (it assumed a timed-out write
    /// lands before the writer's next one, and called the read stale): W1
    /// ok, W2 unknown, W3 ok, then a read of 2 is linearizable: W1 W3 W2 R.
    #[test]
    fn register_a_late_unknown_write_is_no_stale_read() {
        let h = History::new(vec![
            w(1, 0, 1),
            Op::unknown("write", "timeout")
                .with_key("k")
                .with_value(2)
                .at(s(2), s(3)),
            w(3, 4, 5),
            r(Some(2), 6, 7),
        ]);
        let c = register(&h);
        assert_eq!(c.verdict(), Verdict::Valid, "{:?}", c.main);
    }

    /// Fooled the old checker (versions assumed to take effect in order):
    /// two overlapping acknowledged writers, the lower version landing last.
    #[test]
    fn register_overlapping_writers_are_no_stale_read() {
        let h = History::new(vec![w(2, 0, 10), w(1, 1, 9).by(1), r(Some(1), 11, 12)]);
        let c = register(&h);
        assert_eq!(c.verdict(), Verdict::Valid, "{:?}", c.main);
        // But once both are done, the read must see one of them, not nothing.
        let h = History::new(vec![w(2, 0, 10), w(1, 1, 9).by(1), r(None, 11, 12)]);
        assert_eq!(register(&h).count("nonlinearizable_keys"), 1);
    }

    /// Passed the old checker (it knew no CAS; the Consul workload recorded
    /// both as plain writes of 2): two acknowledged CAS from the same value
    /// by two clients is a lost update.
    #[test]
    fn register_two_cas_from_one_value_is_a_lost_update() {
        let h = History::new(vec![w(1, 0, 1), cas(1, 2, 2, 5, 1), cas(1, 2, 3, 6, 2)]);
        let c = register(&h);
        assert_eq!(c.count("nonlinearizable_keys"), 1, "{:?}", c.main);
        assert!(
            c.main.examples[0].contains("cas 1 -> 2"),
            "{:?}",
            c.main.examples
        );
        // A CAS from the empty register, and one that lost (failed): fine.
        let h = History::new(vec![
            Op::ok("cas")
                .with_key("k")
                .with_expected(None)
                .with_value(1)
                .at(s(0), s(1)),
            cas(1, 2, 2, 5, 1),
            Op::fail("cas", "index changed")
                .with_key("k")
                .with_expected(Some(1))
                .with_value(2)
                .at(s(3), s(6)),
            r(Some(2), 7, 8),
        ]);
        assert_eq!(register(&h).verdict(), Verdict::Valid);
    }

    #[test]
    fn register_search_bound_is_unknown_never_valid() {
        let mut ops: Vec<Op> = (0..14).map(|v| w(v, 0, 100).by(v as u32)).collect();
        ops.push(r(Some(3), 0, 100));
        let h = History::new(ops);
        let tight = Register::new().limits(Limits {
            max_steps: 3,
            max_memory: 1 << 30,
        });
        let c = tight.check(&h);
        assert_eq!(c.main.verdict, Verdict::Unknown, "{:?}", c.main);
        assert!(c.main.detail.contains("undecided"), "{}", c.main.detail);
        assert_eq!(register(&h).verdict(), Verdict::Valid);
    }

    #[test]
    fn register_bad_input_names_the_op() {
        let backwards = History::new(vec![w(1, 0, 1), w(2, 5, 3).by(4)]);
        let e = Register::new().try_check(&backwards).unwrap_err();
        assert_eq!(e.index, 1);
        assert!(
            e.to_string().contains("completes before it was invoked"),
            "{e}"
        );
        assert!(e.to_string().contains("by process 4"), "{e}");
        let c = register(&backwards);
        assert_eq!(c.verdict(), Verdict::Unknown);
        assert!(c.main.detail.contains("operation #1"), "{}", c.main.detail);
        let odd = History::new(vec![
            w(1, 0, 1),
            Op::ok("append").with_key("k").at(s(2), s(3)),
        ]);
        let e = Register::new().try_check(&odd).unwrap_err();
        assert!(
            e.to_string().contains("`append`")
                && e.to_string().contains("not a register operation"),
            "{e}"
        );
        let no_expect = History::new(vec![Op::ok("cas").with_key("k").with_value(1)]);
        assert!(Register::new()
            .try_check(&no_expect)
            .unwrap_err()
            .problem
            .contains("with_expected"));
    }

    #[test]
    fn queue_accounts_for_unknown_dequeues() {
        let h = History::new(vec![
            Op::ok("enqueue").with_value(1).at(s(0), s(1)),
            Op::ok("enqueue").with_value(2).at(s(0), s(1)),
            Op::ok("enqueue").with_value(3).at(s(0), s(1)),
            Op::unknown("dequeue", "t").at(s(2), s(3)),
            Op::ok("dequeue").with_value(1).at(s(2), s(3)),
            Op::ok("drain").with_values(vec![1, 9]).at(s(4), s(5)),
        ]);
        let c = queue(&h);
        // 2 and 3 never taken, one unknown dequeue may have taken one.
        assert_eq!(c.count("lost"), 1);
        assert_eq!(c.count("duplicated"), 1);
        assert_eq!(c.count("phantom"), 1);
    }

    /// Passed the old checker (it judged only the last read): a loss seen
    /// in an earlier read, and an element seen then gone.
    #[test]
    fn set_judges_every_read() {
        let add = |v: i64, i: u64, c: u64| Op::ok("add").with_value(v).at(s(i), s(c));
        let read = |vs: Vec<i64>, i: u64, c: u64| Op::ok("read").with_values(vs).at(s(i), s(c));
        // 2 acknowledged at 1, missed by the read at 2, back by the read at 4.
        let h = History::new(vec![
            add(1, 0, 1),
            add(2, 0, 1),
            read(vec![1], 2, 3),
            read(vec![1, 2], 4, 5),
        ]);
        let c = set(&h);
        assert_eq!(c.count("stale"), 1, "{:?}", c.main);
        assert_eq!(c.count("lost"), 0);
        assert_eq!(c.main.verdict, Verdict::Invalid);
        assert!(
            c.main.examples[0].contains("element 2 (acknowledged 1.000s, first seen 5.000s)"),
            "{:?}",
            c.main.examples
        );
        // Seen, missed, seen again (two runs of reads holding it).
        let h = History::new(vec![
            add(1, 0, 1),
            add(2, 0, 1),
            read(vec![1, 2], 2, 3),
            read(vec![1], 4, 5),
            read(vec![2, 1], 6, 7),
        ]);
        let c = set(&h);
        assert_eq!((c.count("stale"), c.count("lost")), (1, 0), "{:?}", c.main);
        assert!(
            c.main.examples[0].contains("missed by 1 of the 3 reads"),
            "{:?}",
            c.main.examples
        );
        // 3's add timed out, a read saw it, the last read did not: lost.
        let h = History::new(vec![
            add(1, 0, 1),
            Op::unknown("add", "timeout").with_value(3).at(s(0), s(1)),
            read(vec![1, 3], 2, 3),
            read(vec![1], 4, 5),
        ]);
        let c = set(&h);
        assert_eq!(c.count("lost"), 1, "{:?}", c.main);
        assert!(c.main.examples[0].contains("element 3 (not acknowledged, first seen 3.000s, last seen by the read completed 3.000s)"), "{:?}", c.main.examples);
        // Concurrent reads may miss it; an add nobody read after is never read.
        let h = History::new(vec![
            add(1, 0, 3),
            read(vec![], 2, 4),
            read(vec![1], 5, 6),
            add(2, 6, 7),
        ]);
        let c = set(&h);
        assert_eq!(c.verdict(), Verdict::Valid, "{:?}", c.main);
        assert_eq!(c.figure("never_read"), Some(1.0));
    }

    #[test]
    fn set_bad_input_names_the_op() {
        let h = History::new(vec![
            Op::ok("add").with_value(1).at(s(5), s(2)),
            Op::ok("read").with_values(vec![1]).at(s(6), s(7)),
        ]);
        let c = set(&h);
        assert_eq!(c.verdict(), Verdict::Unknown);
        assert!(
            c.main.detail.contains("operation #0") && c.main.detail.contains("completes before"),
            "{}",
            c.main.detail
        );
    }

    /// Passed the old checker (any unknown dequeue excused any item): an
    /// unknown dequeue that completed before the item was enqueued cannot
    /// have taken it.
    #[test]
    fn queue_unknown_dequeue_excuses_only_earlier_items() {
        let h = History::new(vec![
            Op::unknown("dequeue", "t").at(s(0), s(3)),
            Op::ok("enqueue").with_value(4).at(s(5), s(6)),
            Op::ok("drain").with_values(vec![]).at(s(10), s(11)),
        ]);
        let c = queue(&h);
        assert_eq!(c.count("lost"), 1, "{:?}", c.main);
        assert!(
            c.main.examples[0].contains("item 4 enqueued at 5.000s"),
            "{:?}",
            c.main.examples
        );
        // Enqueued before it completed: excused.
        let h = History::new(vec![
            Op::ok("enqueue").with_value(4).at(s(0), s(1)),
            Op::unknown("dequeue", "t").at(s(0), s(3)),
            Op::ok("drain").with_values(vec![]).at(s(10), s(11)),
        ]);
        assert_eq!(queue(&h).verdict(), Verdict::Valid);
        // Two items, one unknown dequeue able to take either: one lost.
        let h = History::new(vec![
            Op::ok("enqueue").with_value(1).at(s(0), s(1)),
            Op::ok("enqueue").with_value(2).at(s(0), s(1)),
            Op::unknown("dequeue", "t").at(s(2), s(3)),
            Op::ok("drain").with_values(vec![]).at(s(10), s(11)),
        ]);
        assert_eq!(queue(&h).count("lost"), 1);
    }

    /// A retried enqueue (timed out, then sent again) may be taken twice:
    /// each enqueue op counts. The old checker called it a duplicate.
    #[test]
    fn queue_retried_enqueues_are_told_apart() {
        let h = History::new(vec![
            Op::unknown("enqueue", "timeout")
                .with_value(1)
                .at(s(0), s(1)),
            Op::ok("enqueue").with_value(1).at(s(2), s(3)),
            Op::ok("dequeue").with_value(1).at(s(4), s(5)),
            Op::ok("drain").with_values(vec![1]).at(s(10), s(11)),
        ]);
        let c = queue(&h);
        assert_eq!(c.verdict(), Verdict::Valid, "{:?}", c.main);
        let h = History::new(vec![
            Op::ok("enqueue").with_value(1).at(s(2), s(3)),
            Op::ok("dequeue").with_value(1).at(s(4), s(5)),
            Op::ok("drain").with_values(vec![1]).at(s(10), s(11)),
        ]);
        assert_eq!(queue(&h).count("duplicated"), 1);
    }

    #[test]
    fn delivery_needs_every_recipient_once() {
        let recipients: HashMap<i64, Vec<String>> = [
            (1, vec!["a".to_string(), "b".to_string()]),
            (2, vec!["a".to_string()]),
        ]
        .into();
        let h = History::new(vec![
            Op::ok("send").with_key("room").with_value(1).at(s(0), s(1)),
            Op::ok("send").with_key("room").with_value(2).at(s(0), s(1)),
            Op::ok("deliver").with_key("a").with_value(1).at(s(1), s(1)),
            Op::ok("deliver").with_key("a").with_value(1).at(s(2), s(2)),
            Op::ok("deliver").with_key("b").with_value(7).at(s(2), s(2)),
        ]);
        let c = Delivery::new(recipients.clone())
            .undeliverable([(1, "b".to_string())])
            .check(&h);
        assert_eq!(c.count("lost"), 1, "{:?}", c.main.examples); // 2 -> a
        assert_eq!(c.count("duplicated"), 1);
        assert_eq!(c.count("phantom"), 1);
        let c = delivery(&h, recipients);
        assert_eq!(c.count("lost"), 2);
        let unplanned = delivery(&h, HashMap::new());
        assert_eq!(unplanned.verdict(), Verdict::Unknown);
        assert!(unplanned.main.detail.contains("recipients map"));
    }

    /// The history that fooled the old checker: a delivery to someone not
    /// in the room, and an echo to the sender, passed both checks.
    #[test]
    fn delivery_to_a_non_member_or_back_to_the_sender_fails_the_always_check() {
        let recipients: HashMap<i64, Vec<String>> = [(1, vec!["b".to_string()])].into();
        let h = History::new(vec![
            Op::ok("send")
                .with_key("room")
                .with_value(1)
                .by(0)
                .at(s(0), s(1)),
            Op::ok("deliver").with_key("b").with_value(1).at(s(1), s(1)),
            Op::ok("deliver").with_key("a").with_value(1).at(s(1), s(1)),
            Op::ok("deliver").with_key("z").with_value(1).at(s(1), s(1)),
        ]);
        let old = Delivery::new(recipients.clone()).check(&h);
        assert_eq!(
            old.verdict(),
            Verdict::Valid,
            "without an audience: not judged"
        );
        let audience: HashMap<i64, HashSet<String>> =
            [(1, ["b".to_string(), "c".to_string()].into())].into();
        let c = Delivery::new(recipients).audience(audience).check(&h);
        assert_eq!(c.main.verdict, Verdict::Valid, "b got it once");
        assert_eq!(c.phantoms.kind, CheckKind::Always);
        assert_eq!(c.phantoms.verdict, Verdict::Invalid);
        assert_eq!(c.phantoms.counts["misdelivered"], 2, "a (the sender) and z");
        assert!(
            c.phantoms.detail.contains("2 deliveries"),
            "{}",
            c.phantoms.detail
        );
    }
}
