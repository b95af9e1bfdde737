//! The set model: `add`s and final `read`s of the whole set (Jepsen's
//! set-full).

use super::*;

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

impl crate::checker::Checker for Set {
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
