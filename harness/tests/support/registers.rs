//! Register histories for the cross-check with Porcupine
//! (`tests/porcupine_crosscheck.rs`) and the benchmark
//! (`examples/register_bench.rs`): a generator, the JSON lines that
//! `tools/porcupine-check` reads, and building and running that tool.
//!
//! The generator simulates registers with several clients each, ops taking
//! effect at a point inside their interval (unknown ones at any point after
//! their invocation, often after the client gave up, or never), then plants
//! anomalies in some histories. Whether a planted history is still
//! linearizable is for the checkers to say: they must agree.

#![allow(dead_code)] // each includer uses part of it

use harness::history::{History, Op, OpStatus};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A value no simulated client writes.
pub const NEVER_WRITTEN: i64 = 1_000_000_007;

/// What the generator varies.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Keys.
    pub keys: usize,
    /// Clients per key, each one op at a time.
    pub clients: usize,
    /// Ops per client.
    pub ops: usize,
    /// Values drawn from 1..=domain (small: the same value written again,
    /// which makes the search work); 0 for unique values.
    pub domain: i64,
    /// Chance an op's outcome is unknown.
    pub p_unknown: f64,
}

/// The anomalies planted, one per history (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plant {
    /// A correct register.
    None,
    /// A read returns an older value the register held.
    StaleRead,
    /// An acknowledged write that never took effect.
    LostWrite,
    /// A CAS that lost (failed) reported as acknowledged: two CAS from one
    /// value both acknowledged.
    LostUpdate,
    /// A read of a value nobody wrote.
    NeverWritten,
}

/// All kinds, in the order the cross-check cycles through them.
pub const PLANTS: [Plant; 5] = [
    Plant::None,
    Plant::StaleRead,
    Plant::LostWrite,
    Plant::LostUpdate,
    Plant::NeverWritten,
];

fn ms(x: u64) -> Duration {
    Duration::from_micros(x)
}

/// One generated history.
pub fn generate(seed: u64, shape: Shape, plant: Plant) -> History {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut all = Vec::new();
    for k in 0..shape.keys {
        all.extend(key_history(&mut rng, &format!("k{k}"), shape, plant));
    }
    History::new(all)
}

fn key_history(rng: &mut StdRng, key: &str, shape: Shape, plant: Plant) -> Vec<Op> {
    // Per op: (effect point if it takes effect, op); effects applied in
    // point order to a real register give reads their values and CAS
    // their outcomes.
    let mut ops: Vec<(Option<u64>, Op)> = Vec::new();
    let mut unique = 0i64;
    let mut value = |rng: &mut StdRng| {
        unique += 1;
        if shape.domain > 0 {
            rng.random_range(1..=shape.domain)
        } else {
            unique
        }
    };
    for c in 0..shape.clients {
        let mut t = rng.random_range(0..50u64);
        for _ in 0..shape.ops {
            let latency = rng.random_range(2..60u64);
            let (invoke, complete) = (t, t + latency);
            let point = rng.random_range(invoke + 1..complete);
            let unknown = rng.random_bool(shape.p_unknown);
            let kind = rng.random_range(0..3);
            let mut op = match kind {
                0 => Op::ok("read"),
                1 => Op::ok("write").with_value(value(rng)),
                // The expected value is filled in when effects are applied.
                _ => Op::ok("cas").with_value(value(rng)),
            };
            op = op.with_key(key).at(ms(invoke), ms(complete)).by(c as u32);
            let effect = if unknown && kind != 0 {
                op.status = OpStatus::Unknown;
                op.error = Some("timeout".into());
                // Late: often after the client gave up; or never.
                rng.random_bool(0.7)
                    .then(|| rng.random_range(invoke + 1..complete + 200))
            } else {
                Some(point)
            };
            ops.push((effect, op));
            t = complete + rng.random_range(0..20u64);
        }
    }
    // Each CAS expects what some client last read or the register's value
    // at its invocation; apply effects in point order.
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].0.unwrap_or(u64::MAX), i));
    let mut reg: Option<i64> = None;
    let mut history_of: Vec<(u64, Option<i64>)> = vec![(0, None)];
    for &i in &order {
        let (effect, op) = &mut ops[i];
        let Some(at) = *effect else { continue };
        match op.f.as_str() {
            "read" => op.value = reg,
            "write" => reg = op.value,
            _ => {
                // Usually the value held (a CAS that wins), sometimes one
                // held earlier (a CAS that loses).
                let expect = if rng.random_bool(0.7) {
                    reg
                } else {
                    history_of[rng.random_range(0..history_of.len())].1
                };
                *op = op.clone().with_expected(expect);
                if expect == reg {
                    reg = op.value;
                } else if op.status == OpStatus::Ok {
                    op.status = OpStatus::Fail;
                    op.error = Some("cas: value changed".into());
                }
            }
        }
        history_of.push((at, reg));
    }
    // CAS that never took effect still need an expected value.
    for (effect, op) in ops.iter_mut() {
        if op.f == "cas" && op.values.is_none() {
            let e = history_of[rng.random_range(0..history_of.len())].1;
            *op = op.clone().with_expected(e);
            if effect.is_none() && op.status == OpStatus::Ok {
                op.status = OpStatus::Fail;
            }
        }
    }
    let mut out: Vec<Op> = ops.into_iter().map(|(_, o)| o).collect();
    plant_in(rng, &mut out, &history_of, plant);
    out
}

fn plant_in(rng: &mut StdRng, ops: &mut [Op], held: &[(u64, Option<i64>)], plant: Plant) {
    let pick = |rng: &mut StdRng, ops: &[Op], f: &dyn Fn(&Op) -> bool| {
        let c: Vec<usize> = (0..ops.len()).filter(|&i| f(&ops[i])).collect();
        (!c.is_empty()).then(|| c[rng.random_range(0..c.len())])
    };
    match plant {
        Plant::None => {}
        Plant::StaleRead => {
            if let Some(i) = pick(rng, ops, &|o| o.f == "read" && o.status == OpStatus::Ok) {
                // The empty register (first) and every value held before it.
                let invoked = ops[i].invoke.as_micros() as u64;
                let before: Vec<Option<i64>> = std::iter::once(None)
                    .chain(held.iter().filter(|(at, _)| *at < invoked).map(|(_, v)| *v))
                    .collect();
                ops[i].value = before[rng.random_range(0..before.len())];
            }
        }
        Plant::LostWrite => {
            // An acknowledged write is replaced by one of a value nobody
            // reads: as if it never took effect, but acknowledged.
            if let Some(i) = pick(rng, ops, &|o| o.f == "write" && o.status == OpStatus::Ok) {
                ops[i].value = Some(NEVER_WRITTEN + 1);
            }
        }
        Plant::LostUpdate => {
            if let Some(i) = pick(rng, ops, &|o| o.f == "cas" && o.status == OpStatus::Fail) {
                ops[i].status = OpStatus::Ok;
                ops[i].error = None;
            }
        }
        Plant::NeverWritten => {
            if let Some(i) = pick(rng, ops, &|o| o.f == "read" && o.status == OpStatus::Ok) {
                ops[i].value = Some(NEVER_WRITTEN);
            }
        }
    }
}

/// The history as one JSON line for `tools/porcupine-check`: failed ops
/// and reads that did not succeed left out (they never took effect, and
/// tell nothing), unknown ones with `"ret": null`.
pub fn porcupine_line(id: usize, h: &History) -> String {
    let ops: Vec<serde_json::Value> = h
        .ops
        .iter()
        .filter(|o| o.status == OpStatus::Ok || (o.status == OpStatus::Unknown && o.f != "read"))
        .map(|o| {
            let expect = match o.values.as_deref() {
                Some([v]) => serde_json::json!(v),
                _ => serde_json::Value::Null,
            };
            serde_json::json!({
                "key": o.key.clone().unwrap_or_default(),
                "f": o.f,
                "value": o.value,
                "expect": expect,
                "call": o.invoke.as_nanos() as i64,
                "ret": (o.status == OpStatus::Ok).then_some(o.complete.as_nanos() as i64),
            })
        })
        .collect();
    serde_json::json!({"id": id, "ops": ops}).to_string()
}

/// The Go toolchain, if any: `go` on the PATH or /usr/local/go/bin/go.
pub fn go() -> Option<PathBuf> {
    let on_path = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if on_path {
        return Some(PathBuf::from("go"));
    }
    let local = PathBuf::from("/usr/local/go/bin/go");
    local.exists().then_some(local)
}

/// Builds `tools/porcupine-check` into `out_dir` (the module and its
/// dependency come through the Go module proxy, into Go's module cache).
pub fn build_tool(go: &Path, out_dir: &Path) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/porcupine-check");
    let bin = out_dir.join("porcupine-check");
    let out = Command::new(go)
        .args(["build", "-o"])
        .arg(&bin)
        .arg(".")
        .current_dir(&src)
        .output()
        .map_err(|e| format!("running {}: {e}", go.display()))?;
    if !out.status.success() {
        return Err(format!(
            "go build in {} failed: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(bin)
}

/// Porcupine's verdicts, one per history ("ok", "illegal", "unknown"), and
/// the time it spent checking (parsing excluded).
pub fn run_tool(bin: &Path, histories: &[History]) -> Result<(Vec<String>, Duration), String> {
    let mut child = Command::new(bin)
        .arg("-time")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {}: {e}", bin.display()))?;
    let mut input = String::new();
    for (i, h) in histories.iter().enumerate() {
        input.push_str(&porcupine_line(i, h));
        input.push('\n');
    }
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    writer
        .join()
        .expect("writer")
        .map_err(|e| format!("writing to porcupine-check: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "porcupine-check failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut results = vec![String::new(); histories.len()];
    let mut spent = Duration::ZERO;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if let Some(ns) = v["check_ns"].as_u64() {
            spent = Duration::from_nanos(ns);
        } else {
            let id = v["id"].as_u64().ok_or("no id")? as usize;
            results[id] = v["result"].as_str().ok_or("no result")?.to_string();
        }
    }
    Ok((results, spent))
}
