//! Linearizability of one register: a search in the Wing–Gong family, as
//! Lowe refined it and Porcupine and Knossos run it.
//!
//! The history of one key is a list of operations (read, write,
//! compare-and-set), each with an invocation and a completion time. It is
//! linearizable when every acknowledged operation can be given a point
//! inside its interval so that, taken in that order, each behaves as on a
//! single register. An operation whose outcome is unknown may take effect
//! at any point after its invocation, or never (its completion is
//! +infinity); a failed one never took effect and is not given here.
//!
//! The search walks the call and return events in time order. At a call it
//! tries to linearize the operation next (if the register allows it); at a
//! return of an operation not yet linearized it backtracks. Each (set of
//! linearized operations, register value) reached is remembered, so no
//! configuration is explored twice: the bitset hash is updated per step
//! (Zobrist), never recomputed. The search is bounded in steps and in
//! memory; when a bound is hit the outcome is [`Outcome::Undecided`], never
//! linearizable.
//!
//! Intervals are closed, as in Porcupine: an operation completing at the
//! instant another is invoked is concurrent with it.
//!
//! One concept, one file: one search and the register model it runs; a
//! quarter of it is tests.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

/// What one operation did to the register. `None` is the empty register
/// (never written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// Read: the value it returned.
    Read(Option<i64>),
    /// Write of a value.
    Write(i64),
    /// Compare-and-set: write `new` only if the register holds `expect`.
    /// An acknowledged one succeeded; a failed one is not given here.
    Cas {
        /// The value the register must hold.
        expect: Option<i64>,
        /// The value written.
        new: i64,
    },
}

impl Call {
    /// The register after this call from `state`, or `None` if the call
    /// cannot take effect there (a read of another value, a CAS whose
    /// expected value is not held).
    fn step(self, state: Option<i64>) -> Option<Option<i64>> {
        match self {
            Call::Read(v) => (v == state).then_some(state),
            Call::Write(v) => Some(Some(v)),
            Call::Cas { expect, new } => (expect == state).then_some(Some(new)),
        }
    }

    /// Whether the call never changes the register where it can take
    /// effect: a read, or a CAS writing the value it expects.
    fn is_read_only(self) -> bool {
        match self {
            Call::Read(_) => true,
            Call::Write(_) => false,
            Call::Cas { expect, new } => expect == Some(new),
        }
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = |x: &Option<i64>| x.map_or("nil".to_string(), |v| v.to_string());
        match self {
            Call::Read(r) => write!(f, "read {}", v(r)),
            Call::Write(w) => write!(f, "write {w}"),
            Call::Cas { expect, new } => write!(f, "cas {} -> {new}", v(expect)),
        }
    }
}

/// One operation on the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOp {
    /// What it did.
    pub call: Call,
    /// When it was invoked.
    pub invoke: Duration,
    /// When it was acknowledged; `None` when its outcome is unknown (it may
    /// take effect at any point after `invoke`, or never).
    pub complete: Option<Duration>,
}

/// Bounds of one search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Events visited before giving up.
    pub max_steps: u64,
    /// Bytes of remembered configurations before giving up.
    pub max_memory: usize,
}

impl Default for Limits {
    /// 10^8 steps and 1 GiB: seconds on a key with thousands of operations
    /// and a handful of clients, where a real system's history decides in
    /// well under that.
    fn default() -> Self {
        Limits {
            max_steps: 100_000_000,
            max_memory: 1 << 30,
        }
    }
}

/// Why a history is not linearizable, as Porcupine and Knossos report it:
/// the longest linearizable prefix the search found and the operation that
/// cannot follow it. Indices are into the ops given to [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    /// How many operations the longest linearizable prefix has.
    pub prefix_len: usize,
    /// Its last operations (up to [`Witness::TAIL`]), in linearization order.
    pub prefix_tail: Vec<usize>,
    /// The register's value after the prefix.
    pub state: Option<i64>,
    /// The acknowledged operation whose completion was reached while it
    /// could not be linearized after the prefix.
    pub blocked: usize,
    /// The other operations not in the prefix and invoked before `blocked`
    /// completed: none of them, nor `blocked`, can go next.
    pub pending: Vec<usize>,
}

impl Witness {
    /// How many operations of the prefix are kept.
    pub const TAIL: usize = 6;
}

/// The result of one search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A linearization exists.
    Linearizable {
        /// Events visited.
        steps: u64,
    },
    /// None exists.
    Violation(Witness),
    /// A bound was hit: nothing is known.
    Undecided {
        /// Events visited.
        steps: u64,
        /// Which bound.
        why: String,
    },
}

const NIL: u32 = u32::MAX;

/// Checks the operations of one key, from an empty register.
pub fn check(ops: &[KeyOp], limits: &Limits) -> Outcome {
    check_from(ops, None, limits)
}

/// Checks the operations of one key, from a register holding `initial`.
///
/// Before the search, an operation of unknown outcome whose value nobody
/// observed (no read returned it, no CAS expected it) is left out: were it
/// linearized, the register would hold a value every later op but a write
/// is inconsistent with, so dropping it from any linearization leaves one.
/// Each such op would double the configurations to search.
pub fn check_from(ops: &[KeyOp], initial: Option<i64>, limits: &Limits) -> Outcome {
    let observed: std::collections::HashSet<i64> = ops
        .iter()
        .filter_map(|o| match o.call {
            Call::Read(v) => v,
            Call::Cas { expect, .. } => expect,
            Call::Write(_) => None,
        })
        .collect();
    let kept: Vec<usize> = (0..ops.len())
        .filter(|&i| match (ops[i].complete, ops[i].call) {
            (None, Call::Write(v) | Call::Cas { new: v, .. }) => observed.contains(&v),
            _ => true,
        })
        .collect();
    if kept.len() == ops.len() {
        return Search::new(ops, initial).run(limits);
    }
    let sub: Vec<KeyOp> = kept.iter().map(|&i| ops[i]).collect();
    match Search::new(&sub, initial).run(limits) {
        Outcome::Violation(mut w) => {
            w.blocked = kept[w.blocked];
            w.prefix_tail.iter_mut().for_each(|i| *i = kept[*i]);
            w.pending.iter_mut().for_each(|i| *i = kept[*i]);
            Outcome::Violation(w)
        }
        other => other,
    }
}

/// The event list, as a doubly linked list over event indices, with a head
/// sentinel at index `events.len()`.
struct Search<'a> {
    ops: &'a [KeyOp],
    initial: Option<i64>,
    /// (op, is return), in time order.
    events: Vec<(u32, bool)>,
    next: Vec<u32>,
    prev: Vec<u32>,
    call_of: Vec<u32>,
    return_of: Vec<u32>,
    returns: usize,
}

impl<'a> Search<'a> {
    fn new(ops: &'a [KeyOp], initial: Option<i64>) -> Self {
        let mut timed: Vec<(Duration, bool, u32)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            timed.push((op.invoke, false, i as u32));
            if let Some(c) = op.complete {
                timed.push((c, true, i as u32));
            }
        }
        // Calls before returns at the same instant: closed intervals.
        timed.sort_unstable();
        let m = timed.len() as u32;
        // Event e links to e + 1; the head (index m) to event 0.
        let mut next: Vec<u32> = (1..=m).collect();
        next.push(0);
        next[m as usize] = if m == 0 { NIL } else { 0 };
        if m > 0 {
            next[m as usize - 1] = NIL;
        }
        let mut prev: Vec<u32> = Vec::with_capacity(m as usize + 1);
        if m > 0 {
            prev.push(m);
            prev.extend(0..m - 1);
        }
        prev.push(NIL);
        let mut s = Search {
            ops,
            initial,
            events: timed.iter().map(|&(_, r, op)| (op, r)).collect(),
            next,
            prev,
            call_of: vec![NIL; ops.len()],
            return_of: vec![NIL; ops.len()],
            returns: 0,
        };
        for (e, &(op, ret)) in s.events.iter().enumerate() {
            if ret {
                s.return_of[op as usize] = e as u32;
                s.returns += 1;
            } else {
                s.call_of[op as usize] = e as u32;
            }
        }
        s
    }

    fn head(&self) -> u32 {
        self.events.len() as u32
    }

    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NIL {
            self.prev[n as usize] = e;
        }
    }

    /// Takes an operation's call (and return) out of the list.
    fn lift(&mut self, op: usize) {
        self.unlink(self.call_of[op]);
        if self.return_of[op] != NIL {
            self.unlink(self.return_of[op]);
        }
    }

    /// Puts them back, in the reverse order (the list is a stack of lifts).
    fn unlift(&mut self, op: usize) {
        if self.return_of[op] != NIL {
            self.relink(self.return_of[op]);
        }
        self.relink(self.call_of[op]);
    }

    fn run(mut self, limits: &Limits) -> Outcome {
        let n = self.ops.len();
        let words = n.div_ceil(64).max(1);
        let zobrist: Vec<u64> = (0..n as u64).map(|i| splitmix(i ^ 0x5eed)).collect();
        let mut bits = vec![0u64; words];
        let mut hash = 0u64;
        let mut memo = Memo::new(words);
        let mut state = self.initial;
        // The linearized operations, with the register before each.
        let mut calls: Vec<(u32, Option<i64>)> = Vec::new();
        let mut remaining = self.returns;
        let mut best: Option<Witness> = None;
        let mut steps = 0u64;
        let mut e = self.next[self.head() as usize];
        while remaining > 0 {
            steps += 1;
            if steps > limits.max_steps {
                return Outcome::Undecided {
                    steps,
                    why: format!("search bound of {} steps hit", limits.max_steps),
                };
            }
            if memo.bytes() > limits.max_memory {
                return Outcome::Undecided {
                    steps,
                    why: format!(
                        "memory bound of {} MiB hit ({} configurations)",
                        limits.max_memory >> 20,
                        memo.len()
                    ),
                };
            }
            // The list always holds a return after the scan point while
            // any remain (see `lift`): reaching its end is a bug.
            debug_assert!(e != NIL);
            if e == NIL {
                return Outcome::Undecided {
                    steps,
                    why: "internal: event list ended early".into(),
                };
            }
            let (op, is_return) = self.events[e as usize];
            let opu = op as usize;
            if !is_return {
                let call = self.ops[opu].call;
                let Some(after) = call.step(state) else {
                    e = self.next[e as usize];
                    continue;
                };
                bits[opu / 64] |= 1 << (opu % 64);
                hash ^= zobrist[opu];
                if memo.insert(hash ^ state_hash(after), &bits, after) {
                    calls.push((op, state));
                    state = after;
                    self.lift(opu);
                    if self.return_of[opu] != NIL {
                        remaining -= 1;
                    }
                    e = self.next[self.head() as usize];
                    continue;
                }
                bits[opu / 64] &= !(1 << (opu % 64));
                hash ^= zobrist[opu];
                if !is_dominated(call) {
                    e = self.next[e as usize];
                    continue;
                }
                // This configuration plus a read it allows was refuted, so
                // this one is too (see `is_dominated`): backtrack.
            } else if best.as_ref().is_none_or(|b| calls.len() > b.prefix_len) {
                // `op` must have been linearized by now and was not.
                best = Some(self.witness(&calls, state, opu, &bits));
            }
            // Backtrack: undo the newest linearized op, and go on undoing
            // while it was a read, whose alternatives are dominated.
            loop {
                let Some((top, before)) = calls.pop() else {
                    let w = best.unwrap_or_else(|| self.witness(&calls, state, opu, &bits));
                    return Outcome::Violation(w);
                };
                let top = top as usize;
                state = before;
                bits[top / 64] &= !(1 << (top % 64));
                hash ^= zobrist[top];
                self.unlift(top);
                if self.return_of[top] != NIL {
                    remaining += 1;
                }
                if !is_dominated(self.ops[top].call) {
                    e = self.next[self.call_of[top] as usize];
                    break;
                }
            }
        }
        Outcome::Linearizable { steps }
    }

    fn witness(
        &self,
        calls: &[(u32, Option<i64>)],
        state: Option<i64>,
        blocked: usize,
        bits: &[u64],
    ) -> Witness {
        let limit = self.ops[blocked].complete;
        let pending = (0..self.ops.len())
            .filter(|&i| i != blocked && bits[i / 64] & (1 << (i % 64)) == 0)
            .filter(|&i| limit.is_none_or(|c| self.ops[i].invoke <= c))
            .collect();
        Witness {
            prefix_len: calls.len(),
            prefix_tail: calls[calls.len().saturating_sub(Witness::TAIL)..]
                .iter()
                .map(|(op, _)| *op as usize)
                .collect(),
            state,
            blocked,
            pending,
        }
    }
}

/// The configurations seen: (linearized bitset, register value), keyed by
/// their Zobrist hash; bitsets live in one arena, collisions chain.
struct Memo {
    words: usize,
    heads: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    arena: Vec<u64>,
    states: Vec<Option<i64>>,
    chain: Vec<u32>,
}

impl Memo {
    fn new(words: usize) -> Self {
        Memo {
            words,
            heads: HashMap::default(),
            arena: Vec::new(),
            states: Vec::new(),
            chain: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.states.len()
    }

    fn bytes(&self) -> usize {
        self.arena.capacity() * 8
            + self.states.capacity() * 16
            + self.chain.capacity() * 4
            + self.heads.capacity() * 16
    }

    /// Whether (bits, state) is new; remembers it if so.
    fn insert(&mut self, key: u64, bits: &[u64], state: Option<i64>) -> bool {
        let first = self.heads.get(&key).copied().unwrap_or(NIL);
        let mut at = first;
        while at != NIL {
            let i = at as usize;
            if self.states[i] == state && self.arena[i * self.words..(i + 1) * self.words] == *bits
            {
                return false;
            }
            at = self.chain[i];
        }
        let id = self.states.len() as u32;
        self.arena.extend_from_slice(bits);
        self.states.push(state);
        self.chain.push(first);
        self.heads.insert(key, id);
        true
    }
}

/// The keys are already uniform hashes: hashing them again is waste.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Whether, once an op with this call has been linearized at a
/// configuration and that was refuted, the configuration itself is refuted,
/// so the search need not try the op's alternatives there.
///
/// True of read-only calls. The search only linearizes an op whose call it
/// has reached before any pending return, so "now" lies inside the op's
/// interval; a read-only op leaves the register as it found it. Take any
/// linearization of the remaining ops from the configuration, and move the
/// op to the front: every other op sees the same register as before. So if
/// one exists without the op first, one exists with it first. Without this,
/// k overlapping reads of one value are 2^k configurations to refute
/// (`concurrent_reads_do_not_multiply_the_search`).
fn is_dominated(call: Call) -> bool {
    call.is_read_only()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn state_hash(s: Option<i64>) -> u64 {
    match s {
        None => 0x6e69_6c00,
        Some(v) => splitmix(v as u64 ^ 0xa5a5_a5a5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(call: Call, invoke: u64, complete: Option<u64>) -> KeyOp {
        KeyOp {
            call,
            invoke: Duration::from_millis(invoke),
            complete: complete.map(Duration::from_millis),
        }
    }

    fn linearizable(ops: &[KeyOp]) -> bool {
        match check(ops, &Limits::default()) {
            Outcome::Linearizable { .. } => true,
            Outcome::Violation(_) => false,
            Outcome::Undecided { why, .. } => panic!("undecided: {why}"),
        }
    }

    use Call::*;

    #[test]
    fn sequential_histories() {
        assert!(linearizable(&[]));
        assert!(linearizable(&[op(Read(None), 0, Some(1))]));
        assert!(linearizable(&[
            op(Write(1), 0, Some(1)),
            op(Read(Some(1)), 2, Some(3)),
        ]));
        assert!(!linearizable(&[
            op(Write(1), 0, Some(1)),
            op(Read(None), 2, Some(3)),
        ]));
    }

    #[test]
    fn a_late_unknown_write_can_land_after_the_next_write() {
        // W1 ok, W2 unknown, W3 ok, then a read of 2: W1 W3 W2 R.
        let h = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, None),
            op(Write(3), 4, Some(5)),
            op(Read(Some(2)), 6, Some(7)),
        ];
        assert!(linearizable(&h));
        // But not before its invocation.
        let h = [
            op(Write(1), 0, Some(1)),
            op(Write(3), 2, Some(3)),
            op(Read(Some(2)), 4, Some(5)),
            op(Write(2), 6, None),
        ];
        assert!(!linearizable(&h));
    }

    #[test]
    fn touching_intervals_are_concurrent() {
        let h = [op(Write(1), 0, Some(5)), op(Read(None), 5, Some(6))];
        assert!(linearizable(&h));
        let h = [op(Write(1), 0, Some(5)), op(Read(None), 6, Some(7))];
        assert!(!linearizable(&h));
    }

    fn cas(expect: i64, new: i64, invoke: u64, complete: Option<u64>) -> KeyOp {
        let expect = Some(expect);
        op(Cas { expect, new }, invoke, complete)
    }

    #[test]
    fn two_cas_from_one_value_is_a_lost_update() {
        let h = [
            op(Write(1), 0, Some(1)),
            cas(1, 2, 2, Some(5)),
            cas(1, 2, 3, Some(6)),
        ];
        let Outcome::Violation(w) = check(&h, &Limits::default()) else {
            panic!("lost update accepted");
        };
        assert_eq!(w.prefix_len, 2, "{w:?}");
        assert_eq!(w.state, Some(2));
        assert!(w.blocked == 1 || w.blocked == 2, "{w:?}");
        // One of them unknown: it may never have happened.
        let h = [
            op(Write(1), 0, Some(1)),
            cas(1, 2, 2, Some(5)),
            cas(1, 2, 3, None),
        ];
        assert!(linearizable(&h));
    }

    #[test]
    fn the_witness_names_the_op_that_cannot_follow() {
        let h = [
            op(Write(1), 0, Some(1)),
            op(Write(2), 2, Some(3)),
            op(Read(Some(1)), 4, Some(5)),
        ];
        let Outcome::Violation(w) = check(&h, &Limits::default()) else {
            panic!("stale read accepted");
        };
        assert_eq!(w.prefix_tail, vec![0, 1]);
        assert_eq!(w.blocked, 2);
        assert_eq!(w.state, Some(2));
        assert!(w.pending.is_empty());
    }

    #[test]
    fn unobserved_unknown_writes_cost_nothing() {
        // 40 unknown writes nobody reads, then a stale read: without the
        // pruning, 2^40 configurations to refute.
        let mut h = vec![op(Write(1), 0, Some(1)), op(Write(2), 2, Some(3))];
        for v in 0..40 {
            h.push(op(Write(100 + v), 4, None));
        }
        h.push(op(Read(Some(1)), 5, Some(6)));
        let tight = Limits {
            max_steps: 10_000,
            max_memory: 1 << 30,
        };
        let Outcome::Violation(w) = check(&h, &tight) else {
            panic!("not refuted within the bound");
        };
        assert_eq!(w.blocked, 42);
        // One that is read is kept: it may land late.
        h[10] = op(Write(1), 4, None);
        assert!(matches!(check(&h, &tight), Outcome::Linearizable { .. }));
    }

    #[test]
    fn concurrent_reads_do_not_multiply_the_search() {
        // The history that fooled the search (CI, 2026-12-01, proptest seed
        // 15569124702936931190): dozens of overlapping reads of one value,
        // then a stale read. Every subset of the reads is a configuration,
        // so refuting it took 2^40 steps and the key came out undecided.
        let mut h = vec![op(Write(1), 0, Some(1)), op(Write(2), 2, Some(3))];
        for i in 0..40 {
            h.push(op(Read(Some(2)), 4 + i, Some(100 + i)));
        }
        h.push(op(Read(Some(1)), 200, Some(201)));
        let tight = Limits {
            max_steps: 10_000,
            max_memory: 1 << 30,
        };
        let Outcome::Violation(w) = check(&h, &tight) else {
            panic!("not refuted within the bound");
        };
        assert_eq!(w.blocked, 42, "{w:?}");
        assert_eq!(w.state, Some(2));
        // Reads of two values interleaved with the write between them still
        // decide, both ways.
        let mut h = vec![op(Write(1), 0, Some(1)), op(Write(2), 2, Some(60))];
        for i in 0..40 {
            let v = if i % 2 == 0 { 1 } else { 2 };
            h.push(op(Read(Some(v)), 4 + i, Some(50 + i)));
        }
        assert!(matches!(check(&h, &tight), Outcome::Linearizable { .. }));
        // A read of 1 that began after one of 2 ended: stale.
        h.push(op(Read(Some(1)), 95, Some(96)));
        assert!(matches!(check(&h, &tight), Outcome::Violation(_)));
    }

    #[test]
    fn a_bound_gives_undecided_never_linearizable() {
        let mut h = Vec::new();
        for i in 0..12 {
            h.push(op(Write(i), 0, Some(100)));
        }
        h.push(op(Read(Some(7)), 0, Some(100)));
        let tight = Limits {
            max_steps: 5,
            max_memory: 1 << 30,
        };
        assert!(matches!(check(&h, &tight), Outcome::Undecided { .. }));
        let small = Limits {
            max_steps: u64::MAX,
            max_memory: 1,
        };
        assert!(matches!(check(&h, &small), Outcome::Undecided { .. }));
        assert!(linearizable(&h));
    }
}
