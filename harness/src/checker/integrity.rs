//! Integrity checkers: what the system kept of what it acknowledged.
//!
//! Four models, one per kind of data a workload writes:
//! - [`Set`]: `add` operations and a final `read` of the whole set;
//! - [`Register`]: per-key `write`s of increasing versions and `read`s of
//!   the version seen;
//! - [`Queue`]: `enqueue` / `dequeue` (and an optional final `drain`);
//! - [`Delivery`]: chat messages `send` to a room and `deliver`ed to each
//!   recipient, against the recipients each message was meant for.
//!
//! Every checker is a pure function of the history (linear or `n log n` in
//! its length) and gives an [`IntegrityChecks`]: two [`Check`]s.
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

use super::{Check, CheckKind, Verdict};
use crate::history::{History, Op, OpStatus};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
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

    /// Adds both checks to the lab's verdict.
    pub fn record(&self, lab: &crate::lab::LabCtx) {
        lab.check(self.main.clone());
        lab.check(self.phantoms.clone());
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
            None if anomalies == 0 => (Verdict::Valid, format!("every acknowledged {what} kept")),
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

/// A set: `add` operations (value = element) and a final `read` (values =
/// the elements). The final read is the acknowledged read that completed
/// last.
///
/// - `lost`: acknowledged adds completed before the final read began but
///   absent from it (adds concurrent with the read may be either way);
/// - `failed_present`: present although every add of it failed;
/// - `duplicated`: elements the read holds more than once;
/// - `phantom`: elements no add was invoked for before the read completed.
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

    /// The operation names of adds and of the final read.
    pub fn ops(mut self, add: impl Into<String>, read: impl Into<String>) -> Self {
        self.add = add.into();
        self.read = read.into();
        self
    }

    /// Checks `history`.
    pub fn check(&self, history: &History) -> IntegrityChecks {
        let mut t = Tally::new(&self.name);
        let mut writes: HashMap<i64, Writes> = HashMap::new();
        let mut final_read: Option<(usize, &Op)> = None;
        let (mut acknowledged, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        for (i, op) in history.ops.iter().enumerate() {
            if op.f == self.add {
                let Some(v) = op.value else {
                    t.undecided = Some(missing_value(op, i, "value"));
                    return t.finish("add");
                };
                writes.entry(v).or_default().add(op);
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
                if final_read.is_none_or(|(_, r)| op.complete >= r.complete) {
                    final_read = Some((i, op));
                }
            }
        }
        t.figures = vec![
            ("attempted", (acknowledged + failed + unknown) as f64),
            ("acknowledged", acknowledged as f64),
            ("failed", failed as f64),
            ("unknown", unknown as f64),
        ];
        let Some((_, read)) = final_read else {
            t.undecided = Some(format!(
                "no acknowledged final `{}`: the workload must read the whole set once its adds are done",
                self.read
            ));
            return t.finish("add");
        };
        let values = read.values.as_deref().unwrap_or_default();
        t.figures.push(("read_size", values.len() as f64));

        let mut seen: HashMap<i64, u32> = HashMap::with_capacity(values.len());
        for v in values {
            *seen.entry(*v).or_insert(0) += 1;
        }
        let (mut lost, mut dup, mut failed_present, mut unknown_present) = (0, 0, 0, 0);
        let mut phantom = 0;
        // Sorted so that counts and examples do not depend on hash order.
        let mut present: Vec<(&i64, &u32)> = seen.iter().collect();
        present.sort_unstable();
        for (v, n) in present {
            if *n > 1 {
                dup += 1;
                t.example(|| format!("element {v} read {n} times"));
            }
            match writes.get(v) {
                Some(w) if w.first_invoke.is_some_and(|i| i < read.complete) => {
                    if w.all_failed() {
                        failed_present += 1;
                        t.example(|| format!("element {v} present although its add failed"));
                    } else if w.first_ok.is_none() {
                        unknown_present += 1;
                    }
                }
                _ => {
                    phantom += 1;
                    t.phantom_example(|| format!("element {v} read but never added"));
                }
            }
        }
        let mut absent: Vec<(i64, Duration)> = writes
            .iter()
            .filter_map(|(v, w)| Some((*v, w.first_ok?)))
            .filter(|(v, ok)| *ok < read.invoke && !seen.contains_key(v))
            .collect();
        absent.sort_unstable();
        for (v, ok) in absent {
            lost += 1;
            t.example(|| {
                format!(
                    "element {v} acknowledged at {} but absent from the read at {}",
                    secs(ok),
                    secs(read.invoke)
                )
            });
        }
        t.figures.push(("unknown_present", unknown_present as f64));
        t.counts = vec![
            ("lost", lost),
            ("duplicated", dup),
            ("failed_present", failed_present),
        ];
        t.phantom = phantom;
        t.finish("add")
    }
}

// ---------------------------------------------------------------- register

/// Registers, one per key: `write` (value = version; versions increase per
/// key in the order the writes take effect) and `read` (value = the version
/// seen, `None` for "never written").
///
/// A version is *known* from the moment its write was acknowledged or a
/// read returned it, whichever came first (a read of an `unknown` write
/// shows it happened).
/// - `stale_reads`: reads invoked after a version was known that return an
///   older one;
/// - `failed_present`: reads of a version whose every write failed;
/// - `phantom`: reads of a version no write was invoked for before the read
///   completed.
#[derive(Clone, Debug)]
pub struct Register {
    name: String,
    write: String,
    read: String,
}

impl Default for Register {
    fn default() -> Self {
        Register {
            name: "integrity.register".into(),
            write: "write".into(),
            read: "read".into(),
        }
    }
}

/// Checks a register history with the default names (`write`, `read`).
pub fn register(history: &History) -> IntegrityChecks {
    Register::default().check(history)
}

impl Register {
    /// The default checker (`integrity.register`, ops `write` and `read`).
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

    /// Checks `history`.
    pub fn check(&self, history: &History) -> IntegrityChecks {
        let mut t = Tally::new(&self.name);
        let none = String::new();
        // key -> version -> writes of it
        let mut writes: HashMap<&str, HashMap<i64, Writes>> = HashMap::new();
        let mut reads: Vec<&Op> = Vec::new();
        let (mut acknowledged, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        for (i, op) in history.ops.iter().enumerate() {
            let key = op.key.as_ref().unwrap_or(&none).as_str();
            if op.f == self.write {
                let Some(v) = op.value else {
                    t.undecided = Some(missing_value(op, i, "value"));
                    return t.finish("write");
                };
                writes.entry(key).or_default().entry(v).or_default().add(op);
                match op.status {
                    OpStatus::Ok => acknowledged += 1,
                    OpStatus::Fail => failed += 1,
                    OpStatus::Unknown => unknown += 1,
                }
            } else if op.f == self.read && op.status == OpStatus::Ok {
                reads.push(op);
            }
        }
        // When each version became known, per key: acknowledged writes...
        let mut known: HashMap<&str, Vec<(Duration, i64)>> = HashMap::new();
        for (key, versions) in &writes {
            let k = known.entry(key).or_default();
            for (v, w) in versions {
                if let Some(ok) = w.first_ok {
                    k.push((ok, *v));
                }
            }
        }
        // ...and reads that returned it (only versions that were written:
        // a phantom makes nothing known).
        let (mut phantom, mut failed_present) = (0u64, 0u64);
        for r in &reads {
            let key = r.key.as_ref().unwrap_or(&none).as_str();
            let Some(v) = r.value else { continue };
            match writes.get(key).and_then(|m| m.get(&v)) {
                Some(w) if w.first_invoke.is_some_and(|i| i < r.complete) => {
                    if w.all_failed() {
                        failed_present += 1;
                        t.example(|| format!("key {key:?}: read version {v} whose write failed"));
                    } else {
                        known.entry(key).or_default().push((r.complete, v));
                    }
                }
                _ => {
                    phantom += 1;
                    t.phantom_example(|| format!("key {key:?}: read version {v}, never written"));
                }
            }
        }
        // Running maximum of the known version over time, per key.
        let mut frontier: HashMap<&str, (Vec<Duration>, Vec<i64>)> = HashMap::new();
        for (key, mut list) in known {
            list.sort_unstable();
            let mut times = Vec::with_capacity(list.len());
            let mut max = Vec::with_capacity(list.len());
            let mut m = i64::MIN;
            for (at, v) in list {
                m = m.max(v);
                times.push(at);
                max.push(m);
            }
            frontier.insert(key, (times, max));
        }
        let mut stale = 0u64;
        for r in &reads {
            let key = r.key.as_ref().unwrap_or(&none).as_str();
            let Some((times, max)) = frontier.get(key) else {
                continue;
            };
            // Versions known strictly before the read was invoked.
            let n = times.partition_point(|t| *t < r.invoke);
            if n == 0 {
                continue;
            }
            let newest = max[n - 1];
            let got = r.value.unwrap_or(i64::MIN);
            if got < newest {
                stale += 1;
                t.example(|| {
                    format!(
                        "key {key:?}: read at {} returned {} but version {newest} was known",
                        secs(r.invoke),
                        r.value
                            .map_or("nothing".to_string(), |v| format!("version {v}"))
                    )
                });
            }
        }
        t.figures = vec![
            ("attempted", (acknowledged + failed + unknown) as f64),
            ("acknowledged", acknowledged as f64),
            ("failed", failed as f64),
            ("unknown", unknown as f64),
            ("reads", reads.len() as f64),
            ("keys", writes.len() as f64),
        ];
        t.counts = vec![("stale_reads", stale), ("failed_present", failed_present)];
        t.phantom = phantom;
        t.finish("write")
    }
}

// ---------------------------------------------------------------- queue

/// A queue: `enqueue` (value = item), `dequeue` (value = item taken, `None`
/// when empty) and optionally a final `drain` (values = items left).
/// Every item must be taken by a dequeue or the drain.
///
/// - `lost`: acknowledged enqueues never taken, beyond what the dequeues of
///   unknown outcome may have taken (each may have taken one item unseen);
/// - `duplicated`: items taken more than once;
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
        let mut writes: HashMap<i64, Writes> = HashMap::new();
        // item -> (times taken, earliest completion of a take)
        let mut taken: HashMap<i64, (u32, Duration)> = HashMap::new();
        let (mut acknowledged, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        let mut unknown_dequeues = 0u64;
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
                    OpStatus::Unknown => unknown_dequeues += 1,
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
            if *n > 1 {
                dup += 1;
                t.example(|| format!("item {v} taken {n} times"));
            }
            match writes.get(v) {
                Some(w) if w.first_invoke.is_some_and(|i| i < *at) => {
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
        let mut missing: Vec<i64> = writes
            .iter()
            .filter(|(v, w)| w.first_ok.is_some() && !taken.contains_key(v))
            .map(|(v, _)| *v)
            .collect();
        missing.sort_unstable();
        let lost = (missing.len() as u64).saturating_sub(unknown_dequeues);
        if lost > 0 {
            for v in missing.iter().take(MAX_EXAMPLES) {
                t.example(|| format!("item {v} acknowledged but never taken"));
            }
        }
        t.figures = vec![
            ("attempted", (acknowledged + failed + unknown) as f64),
            ("acknowledged", acknowledged as f64),
            ("failed", failed as f64),
            ("unknown", unknown as f64),
            ("unknown_dequeues", unknown_dequeues as f64),
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

    #[test]
    fn register_stale_and_phantom_reads() {
        let k = "k";
        let h = History::new(vec![
            Op::ok("write").with_key(k).with_value(1).at(s(0), s(1)),
            Op::ok("write").with_key(k).with_value(2).at(s(2), s(3)),
            Op::unknown("write", "t")
                .with_key(k)
                .with_value(3)
                .at(s(4), s(5)),
            Op::ok("read").with_key(k).with_value(1).at(s(4), s(5)), // stale
            Op::ok("read").with_key(k).with_value(3).at(s(6), s(7)), // unknown happened
            Op::ok("read").with_key(k).with_value(2).at(s(8), s(9)), // stale after 3 seen
            Op::ok("read").with_key(k).with_value(7).at(s(8), s(9)), // phantom
            Op::ok("read").with_key("other").at(s(8), s(9)),         // never written: fine
        ]);
        let c = register(&h);
        assert_eq!(c.count("stale_reads"), 2, "{:?}", c.main.examples);
        assert_eq!(c.count("phantom"), 1);
        assert_eq!(c.verdict(), Verdict::Invalid);
    }

    #[test]
    fn register_concurrent_reads_are_fine() {
        let h = History::new(vec![
            Op::ok("write").with_key("k").with_value(1).at(s(0), s(1)),
            Op::ok("write").with_key("k").with_value(2).at(s(2), s(5)),
            Op::ok("read").with_key("k").with_value(1).at(s(3), s(4)),
            Op::ok("read").with_key("k").with_value(2).at(s(3), s(4)),
            Op::ok("read").with_key("k").with_value(2).at(s(6), s(7)),
        ]);
        assert_eq!(register(&h).verdict(), Verdict::Valid);
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
