//! The register model: per-key `write`, `cas` and `read`, checked for
//! linearizability (the search is [`crate::checker::linearizable`]).

use super::*;

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

impl crate::checker::Checker for Register {
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
