//! Histories: every operation a workload performed, with its invocation
//! time, completion time and outcome, as Jepsen records them.
//!
//! Values are integers (set elements, register versions, message ids):
//! enough for every checker here and cheap to check at scale. Histories
//! export as JSON lines and as EDN that Jepsen's checkers (elle-cli,
//! knossos) read.
//!
//! One concept, one file: the operation record and its two export formats,
//! which are views of the same type; over a quarter of it is tests.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpStatus {
    /// It happened (acknowledged).
    Ok,
    /// It definitely did not happen.
    Fail,
    /// It may have happened (timeout, connection lost mid-flight).
    Unknown,
}

impl OpStatus {
    /// Jepsen's name for the completion type: `:ok`, `:fail`, `:info`.
    pub fn edn(self) -> &'static str {
        match self {
            OpStatus::Ok => ":ok",
            OpStatus::Fail => ":fail",
            OpStatus::Unknown => ":info",
        }
    }
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// The client (Jepsen's process) that performed it.
    pub process: u32,
    /// The operation's function: `add`, `read`, `write`, `cas`, `send`,
    /// `deliver`, `enqueue`, `dequeue`, ...
    pub f: String,
    /// The key (register, room, recipient...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value written, added or sent (or the version read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    /// For reads of a whole collection: the values seen. For a `cas`: the
    /// value it expected, `[old]`, or `[]` for an empty register (see
    /// [`Op::with_expected`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<i64>>,
    /// When it was invoked, since the lab started.
    #[serde(with = "crate::duration::serde_secs")]
    pub invoke: Duration,
    /// When it completed (or was given up on).
    #[serde(with = "crate::duration::serde_secs")]
    pub complete: Duration,
    /// How it ended.
    pub status: OpStatus,
    /// The error, for `fail` and `unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The phase in force at invocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
}

impl Op {
    /// A completed operation (times and phase are set by the runner).
    pub fn new(f: impl Into<String>, status: OpStatus) -> Self {
        Op {
            process: 0,
            f: f.into(),
            key: None,
            value: None,
            values: None,
            invoke: Duration::ZERO,
            complete: Duration::ZERO,
            status,
            error: None,
            phase: None,
        }
    }

    /// An acknowledged operation.
    pub fn ok(f: impl Into<String>) -> Self {
        Op::new(f, OpStatus::Ok)
    }

    /// A definitely failed operation.
    pub fn fail(f: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Op::new(f, OpStatus::Fail).with_error(error)
    }

    /// An operation with an unknown outcome.
    pub fn unknown(f: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Op::new(f, OpStatus::Unknown).with_error(error)
    }

    /// An operation as invoked, not yet completed: `unknown` until it is
    /// (what [`crate::workload::Invocation::declare`] takes).
    pub fn invoke(f: impl Into<String>) -> Self {
        Op::new(f, OpStatus::Unknown)
    }

    /// Sets the key.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    pub fn with_value(mut self, value: i64) -> Self {
        self.value = Some(value);
        self
    }

    /// Sets the values read.
    pub fn with_values(mut self, values: Vec<i64>) -> Self {
        self.values = Some(values);
        self
    }

    /// For a compare-and-set (`cas`, value = the value written): the value
    /// the register had to hold, `None` for empty (never written).
    pub fn with_expected(mut self, old: Option<i64>) -> Self {
        self.values = Some(old.into_iter().collect());
        self
    }

    /// Sets the error text.
    pub fn with_error(mut self, error: impl std::fmt::Display) -> Self {
        self.error = Some(error.to_string());
        self
    }

    /// Sets invoke and complete times.
    pub fn at(mut self, invoke: Duration, complete: Duration) -> Self {
        self.invoke = invoke;
        self.complete = complete;
        self
    }

    /// Sets the process.
    pub fn by(mut self, process: u32) -> Self {
        self.process = process;
        self
    }

    /// How long it took.
    pub fn latency(&self) -> Duration {
        self.complete.saturating_sub(self.invoke)
    }
}

/// An operation a checker cannot judge: the history is wrong, not the
/// system. It names the operation (its index in the history, function,
/// process and times).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadOp {
    /// Its index in [`History::ops`].
    pub index: usize,
    /// The operation, as a person reads it.
    pub op: String,
    /// What is wrong.
    pub problem: String,
}

impl BadOp {
    /// `problem` with operation `index` of a history.
    pub fn new(index: usize, op: &Op, problem: impl Into<String>) -> Self {
        BadOp {
            index,
            op: format!(
                "`{}`{} by process {} invoked at {:.6}s, completed at {:.6}s ({:?})",
                op.f,
                op.key
                    .as_deref()
                    .map_or(String::new(), |k| format!(" on key {k:?}")),
                op.process,
                op.invoke.as_secs_f64(),
                op.complete.as_secs_f64(),
                op.status
            ),
            problem: problem.into(),
        }
    }
}

impl std::fmt::Display for BadOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bad history: operation #{} ({}): {}",
            self.index, self.op, self.problem
        )
    }
}

impl std::error::Error for BadOp {}

/// An ordered list of operations (by invocation time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The operations.
    pub ops: Vec<Op>,
}

impl History {
    /// A history from operations, sorted by invocation time.
    pub fn new(mut ops: Vec<Op>) -> Self {
        ops.sort_by_key(|o| (o.invoke, o.process));
        History { ops }
    }

    /// Appends the operations of another history, keeping the order.
    pub fn merge(&mut self, other: History) {
        self.ops.extend(other.ops);
        self.ops.sort_by_key(|o| (o.invoke, o.process));
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Checks what every checker relies on: no operation completes before
    /// it was invoked.
    pub fn validate(&self) -> Result<(), BadOp> {
        match self.ops.iter().position(|o| o.complete < o.invoke) {
            Some(i) => Err(BadOp::new(
                i,
                &self.ops[i],
                "it completes before it was invoked",
            )),
            None => Ok(()),
        }
    }

    /// Operations of function `f`.
    pub fn of<'a>(&'a self, f: &'a str) -> impl Iterator<Item = &'a Op> + 'a {
        self.ops.iter().filter(move |o| o.f == f)
    }

    /// Counts by status.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for o in &self.ops {
            match o.status {
                OpStatus::Ok => c.0 += 1,
                OpStatus::Fail => c.1 += 1,
                OpStatus::Unknown => c.2 += 1,
            }
        }
        c
    }

    /// Writes one JSON object per line.
    pub fn write_jsonl(&self, mut w: impl Write) -> std::io::Result<()> {
        for op in &self.ops {
            serde_json::to_writer(&mut w, op)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    /// Reads JSON lines written by [`History::write_jsonl`].
    pub fn read_jsonl(text: &str) -> Result<History, serde_json::Error> {
        let ops = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<Vec<Op>, _>>()?;
        Ok(History { ops })
    }

    /// Writes the history as Jepsen EDN: for each operation an `:invoke`
    /// entry and a completion entry (`:ok`, `:fail`, `:info`), in time
    /// order, each with `:index`, `:time` (ns), `:process`, `:f` and `:value`,
    /// so that Jepsen's checkers read it as they are:
    ///
    /// - a collection read's value is `nil` at invocation, the elements (a
    ///   vector) at completion: `checker/set-full` reads them so;
    /// - a `cas` has `:value [old new]` (`nil` for an empty register), as
    ///   knossos' `cas-register` model reads it;
    /// - when every op has a key, the keys are independent objects (one
    ///   register or one set per key): values are `[key value]` pairs, the
    ///   form of `jepsen.independent` (`independent/checker`);
    /// - when only some ops have keys (set adds tagged with a shard key,
    ///   read back by one unkeyed read of the whole set), a key is an
    ///   attribute: it goes in `:key`, the value stays the element, and
    ///   `checker/set-full` reads the file as it is.
    ///
    /// EDN has no map-entry literal, so a `[key value]` pair reads back as
    /// a vector; `jepsen.independent` wants `independent/tuple`s. What a
    /// Jepsen user runs on a keyed file is in docs/jepsen.md.
    /// Processes follow Jepsen's rules (see [`History::jepsen_processes`]).
    pub fn write_edn(&self, mut w: impl Write) -> std::io::Result<()> {
        let processes = self.jepsen_processes();
        let keyed = !self.ops.is_empty() && self.ops.iter().all(|o| o.key.is_some());
        let mut entries: Vec<(Duration, u8, u32, &Op)> = Vec::with_capacity(self.ops.len() * 2);
        for (op, p) in self.ops.iter().zip(processes) {
            entries.push((op.invoke, 0, p, op));
            entries.push((op.complete, 1, p, op));
        }
        entries.sort_by_key(|(t, phase, p, _)| (*t, *phase, *p));
        for (index, (t, phase, process, op)) in entries.into_iter().enumerate() {
            let kind = if phase == 0 {
                ":invoke"
            } else {
                op.status.edn()
            };
            // A read's value is unknown at invocation, as Jepsen writes it.
            let collection_read = op.values.is_some() && op.value.is_none();
            let inner = if phase == 0 && collection_read {
                "nil".to_string()
            } else {
                edn_value(op)
            };
            let (value, attribute) = match (&op.key, keyed) {
                (Some(k), true) => (format!("[{} {inner}]", edn_string(k)), String::new()),
                (Some(k), false) => (inner, format!(", :key {}", edn_string(k))),
                (None, _) => (inner, String::new()),
            };
            writeln!(
                w,
                "{{:index {index}, :time {}, :type {kind}, :process {}, :f :{}, :value {value}{attribute}}}",
                t.as_nanos(),
                process,
                edn_keyword(&op.f),
            )?;
        }
        Ok(())
    }

    /// The process each operation has in Jepsen's terms, one per op.
    ///
    /// Jepsen's checkers (knossos, elle) require that a process has one
    /// operation outstanding at a time and never acts again after an
    /// indeterminate (`:info`) one: it may still be running. Our clients
    /// can overlap operations (a chat client receives while it sends) and
    /// go on after a timeout, so like Jepsen each client gets a fresh
    /// process when it must: client `c`'s k-th lane is `c + k * n`, `n`
    /// being one more than the highest client, so `process mod n` is still
    /// the client. A client doing one thing at a time keeps its own number.
    pub fn jepsen_processes(&self) -> Vec<u32> {
        let n = self
            .ops
            .iter()
            .map(|o| o.process)
            .max()
            .map_or(1, |m| m + 1);
        let mut order: Vec<usize> = (0..self.ops.len()).collect();
        order.sort_by_key(|&i| (self.ops[i].invoke, i));
        // Per client: each lane's (free from, crashed).
        let mut lanes: HashMap<u32, Vec<(Duration, bool)>> = HashMap::new();
        let mut out = vec![0; self.ops.len()];
        for i in order {
            let op = &self.ops[i];
            let mine = lanes.entry(op.process).or_default();
            let lane = match mine
                .iter()
                .position(|(free_from, crashed)| !crashed && *free_from < op.invoke)
            {
                Some(k) => k,
                None => {
                    mine.push((Duration::ZERO, false));
                    mine.len() - 1
                }
            };
            mine[lane] = (op.complete, op.status == OpStatus::Unknown);
            out[i] = op.process + lane as u32 * n;
        }
        out
    }

    /// Writes `history.jsonl` and `history.edn` into `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        self.write_jsonl(std::io::BufWriter::new(std::fs::File::create(
            dir.join("history.jsonl"),
        )?))?;
        self.write_edn(std::io::BufWriter::new(std::fs::File::create(
            dir.join("history.edn"),
        )?))?;
        Ok(())
    }
}

fn edn_keyword(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn edn_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn edn_value(op: &Op) -> String {
    let join = |vs: &[i64]| {
        vs.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match (&op.values, op.value) {
        // A cas: [old new], old nil for an empty register.
        (Some(old), Some(new)) if old.len() <= 1 => {
            format!(
                "[{} {new}]",
                old.first().map_or("nil".to_string(), |o| o.to_string())
            )
        }
        (Some(vs), _) => format!("[{}]", join(vs)),
        (None, Some(v)) => v.to_string(),
        (None, None) => "nil".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    #[test]
    fn jsonl_round_trips() {
        let h = History::new(vec![
            Op::ok("add").with_value(1).at(s(1), s(2)),
            Op::unknown("add", "timeout")
                .with_value(2)
                .at(s(3), s(9))
                .by(1),
            Op::ok("read").with_values(vec![1, 2]).at(s(10), s(11)),
        ]);
        let mut buf = Vec::new();
        h.write_jsonl(&mut buf).unwrap();
        let back = History::read_jsonl(std::str::from_utf8(&buf).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn edn_has_invoke_and_completion_in_time_order() {
        let h = History::new(vec![
            Op::ok("add").with_value(1).at(s(1), s(5)),
            Op::fail("add", "no primary")
                .with_value(2)
                .at(s(2), s(3))
                .by(1),
            Op::ok("read").with_values(vec![1]).at(s(6), s(7)),
            Op::ok("add").with_key("shA").with_value(3).at(s(8), s(9)),
        ]);
        let mut buf = Vec::new();
        h.write_edn(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8);
        assert!(lines[0].contains(":type :invoke") && lines[0].contains(":value 1"));
        assert!(lines[1].contains(":process 1") && lines[1].contains(":type :invoke"));
        assert!(lines[2].contains(":type :fail"));
        assert!(lines[3].contains(":type :ok") && lines[3].contains(":f :add"));
        assert!(lines[4].contains(":f :read") && lines[4].contains(":value nil"));
        assert!(lines[5].contains(":value [1]"));
        // Not every op is keyed: the key is an attribute, the value the element.
        assert!(
            lines[7].ends_with(":value 3, :key \"shA\"}"),
            "{}",
            lines[7]
        );
        for (i, l) in lines.iter().enumerate() {
            assert!(l.starts_with(&format!("{{:index {i}, ")));
        }
    }

    /// The old writer exported Foursquare's adds, keyed by shard, as
    /// `[key element]` tuples read back by an unkeyed read of the whole set:
    /// Jepsen's set checker would have called every element lost.
    #[test]
    fn edn_keyed_histories_use_independent_tuples() {
        let h = History::new(vec![
            Op::ok("write").with_key("r1").with_value(3).at(s(1), s(2)),
            Op::ok("cas")
                .with_key("r1")
                .with_expected(Some(3))
                .with_value(4)
                .at(s(3), s(4)),
            Op::ok("cas")
                .with_key("r2")
                .with_expected(None)
                .with_value(1)
                .at(s(3), s(4)),
            Op::ok("read").with_key("r1").with_value(4).at(s(5), s(6)),
            Op::ok("read")
                .with_key("s")
                .with_values(vec![1, 2])
                .at(s(7), s(8)),
        ]);
        let mut buf = Vec::new();
        h.write_edn(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].ends_with(":f :write, :value [\"r1\" 3]}"),
            "{}",
            lines[1]
        );
        assert!(text.contains(":f :cas, :value [\"r1\" [3 4]]}"), "{text}");
        assert!(text.contains(":f :cas, :value [\"r2\" [nil 1]]}"), "{text}");
        assert!(
            lines[8].contains(":type :invoke") && lines[8].ends_with(":value [\"s\" nil]}"),
            "{}",
            lines[8]
        );
        assert!(lines[9].ends_with(":value [\"s\" [1 2]]}"), "{}", lines[9]);
        assert!(!text.contains(":key"), "{text}");
    }

    #[test]
    fn validate_names_an_op_completing_before_its_invocation() {
        let h = History::new(vec![
            Op::ok("add").with_value(1).at(s(1), s(2)),
            Op::ok("add").with_value(2).at(s(5), s(3)).by(7),
        ]);
        let e = h.validate().unwrap_err();
        assert_eq!(e.index, 1);
        let text = e.to_string();
        assert!(
            text.contains("operation #1")
                && text.contains("by process 7")
                && text.contains("completes before"),
            "{text}"
        );
    }

    #[test]
    fn jepsen_processes_never_overlap_and_never_act_after_info() {
        let h = History::new(vec![
            // client 0: sequential, keeps its number
            Op::ok("add").with_value(1).at(s(1), s(2)),
            Op::ok("add").with_value(2).at(s(3), s(4)),
            // client 1: times out, then goes on: a fresh process
            Op::unknown("add", "timeout")
                .with_value(3)
                .at(s(1), s(5))
                .by(1),
            Op::ok("add").with_value(4).at(s(6), s(7)).by(1),
            Op::ok("add").with_value(5).at(s(8), s(9)).by(1),
            // client 0 again, overlapping its own op: a second lane
            Op::ok("read").with_values(vec![1]).at(s(10), s(20)),
            Op::ok("read").with_values(vec![1]).at(s(11), s(12)),
            // at the instant lane 0 frees it is not free yet: lane 1 is
            Op::ok("add").with_value(6).at(s(20), s(21)),
        ]);
        // History::new orders ops by invocation: c0, c1, c0, c1, c1, c0, c0, c0.
        assert_eq!(h.jepsen_processes(), vec![0, 1, 0, 3, 3, 0, 2, 2]);
        // The EDN: per process, invoke and completion alternate, nothing
        // follows an :info.
        let mut buf = Vec::new();
        h.write_edn(&mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let mut state: HashMap<String, &str> = HashMap::new();
        for l in text.lines() {
            let p = l
                .split(":process ")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            let kind = l.split(":type ").nth(1).unwrap().split(',').next().unwrap();
            let before = state.insert(p.to_string(), kind).unwrap_or(":ok");
            match kind {
                ":invoke" => assert!(
                    before != ":invoke" && before != ":info",
                    "process {p} invoked after {before}:\n{text}"
                ),
                _ => assert_eq!(before, ":invoke", "process {p}:\n{text}"),
            }
        }
    }

    #[test]
    fn counts_by_status() {
        let h = History::new(vec![
            Op::ok("a"),
            Op::fail("a", "x"),
            Op::unknown("a", "y"),
            Op::ok("a"),
        ]);
        assert_eq!(h.counts(), (2, 1, 1));
    }
}
