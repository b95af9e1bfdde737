//! Checker throughput, measured in one run beside Porcupine on the same
//! histories (machines are noisy: compare the ratios of one sitting).
//!
//! - registers: 200,000 ops over 100 keys, 5 concurrent clients per key
//!   (unique values and 5% unknown; then 5 values and 20% unknown),
//!   checked by `integrity::Register` and by Porcupine
//!   (`tools/porcupine-check`, its checking time only, parsing excluded);
//! - set-full: 10^6 ops (adds, and reads of the whole set) by
//!   `integrity::Set`.
//!
//! Run (the harness crate optimised, its dependencies as they are):
//! `cargo run -p harness --example checker_bench --config 'profile.dev.package.harness.opt-level=3'`
//! (or `--release`). Needs Go for the Porcupine side (skipped without it).

#[path = "../tests/support/registers.rs"]
mod registers;

use harness::checker::integrity::{self, Register};
use harness::history::{History, Op};
use registers::{Plant, Shape};
use std::time::{Duration, Instant};

const ROUNDS: usize = 3;

fn best_of(rounds: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..rounds).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("date: {}", date());
    println!("cores: {cores}");
    let tool = registers::go().map(|go| {
        let dir = std::env::temp_dir().join("incident-porcupine-check");
        std::fs::create_dir_all(&dir).expect("temp dir");
        registers::build_tool(&go, &dir).unwrap_or_else(|e| panic!("{e}"))
    });
    // Unique values (each write's value its own), then 5 values in turn
    // with more unknown outcomes: the search has more to try.
    for (domain, p_unknown) in [(0, 0.05), (5, 0.2)] {
        let shape = Shape {
            keys: 100,
            clients: 5,
            ops: 400,
            domain,
            p_unknown,
        };
        bench_registers(shape, tool.as_deref());
    }
    let (set, reads, adds) = set_history(1_000_000, 100);
    println!(
        "set-full: {} ops ({adds} adds, {reads} reads of the whole set)",
        set.len()
    );
    let spent = best_of(ROUNDS, || {
        let t = Instant::now();
        let c = integrity::set(&set);
        let spent = t.elapsed();
        assert!(c.verdict().is_valid(), "{:?}", c.main);
        spent
    });
    println!(
        "  ours:      {:>8.1} ms  {:>12.0} ops/s  (best of {ROUNDS}; goal <= 5000 ms)",
        spent.as_secs_f64() * 1e3,
        set.len() as f64 / spent.as_secs_f64()
    );
}

fn bench_registers(shape: Shape, tool: Option<&std::path::Path>) {
    let h = registers::generate(1, shape, Plant::None);
    let n = h.len();
    println!(
        "registers: {n} ops, {} keys, {} clients per key, values {}, {:.0}% unknown",
        shape.keys,
        shape.clients,
        if shape.domain == 0 {
            "unique".to_string()
        } else {
            format!("1..={}", shape.domain)
        },
        shape.p_unknown * 100.0
    );
    let mut verdict = None;
    let ours = best_of(ROUNDS, || {
        let t = Instant::now();
        let c = Register::new()
            .try_check(&h)
            .expect("a generated history is well formed");
        let spent = t.elapsed();
        verdict = Some(c.main.verdict);
        spent
    });
    let ours_rate = n as f64 / ours.as_secs_f64();
    println!(
        "  ours:      {:>8.1} ms  {:>12.0} ops/s  ({:?}, best of {ROUNDS})",
        ours.as_secs_f64() * 1e3,
        ours_rate,
        verdict.expect("ran")
    );
    let Some(bin) = tool else {
        println!("  porcupine: skipped (no Go toolchain)");
        return;
    };
    let mut result = String::new();
    let theirs = best_of(ROUNDS, || {
        let (r, spent) =
            registers::run_tool(bin, std::slice::from_ref(&h)).unwrap_or_else(|e| panic!("{e}"));
        result = r[0].clone();
        spent
    });
    let rate = n as f64 / theirs.as_secs_f64();
    println!(
        "  porcupine: {:>8.1} ms  {:>12.0} ops/s  ({result}, best of {ROUNDS})",
        theirs.as_secs_f64() * 1e3,
        rate
    );
    println!("  ratio ours/porcupine throughput: {:.2}", ours_rate / rate);
}

/// `total` ops: adds by 10 clients, and `reads` reads spread over the run,
/// each seeing every add acknowledged before it began (a correct set).
fn set_history(total: usize, reads: usize) -> (History, usize, usize) {
    let adds = total - reads;
    let us = Duration::from_micros;
    let mut ops: Vec<Op> = (0..adds)
        .map(|v| {
            Op::ok("add")
                .with_value(v as i64)
                .at(us(v as u64 * 10), us(v as u64 * 10 + 5))
                .by((v % 10) as u32)
        })
        .collect();
    for r in 0..reads {
        let at = ((r + 1) * adds / reads) as u64 * 10;
        let seen: Vec<i64> = (0..adds as i64)
            .filter(|v| (*v as u64) * 10 + 5 < at)
            .collect();
        ops.push(
            Op::ok("read")
                .with_values(seen)
                .at(us(at), us(at + 3))
                .by(10),
        );
    }
    (History::new(ops), reads, adds)
}

fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
