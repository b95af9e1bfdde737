//! The queue model: `enqueue` / `dequeue`, and an optional final `drain`.

use super::*;

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

impl crate::checker::Checker for Queue {
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
