//! Our register linearizability checker against an independent one,
//! Porcupine (`tools/porcupine-check`, Go), on generated histories: late
//! unknown writes, overlapping writers, CAS from the same value, planted
//! stale reads, lost writes, lost updates and never-written values. Any
//! disagreement fails the test; the counts are printed.
//!
//! Skips (one line) when Go is absent, unless `INCIDENT_REQUIRE_DOCKER=1`
//! (CI, where `scripts/setup` installs Go): then it fails.

#[path = "support/registers.rs"]
mod registers;

use harness::checker::integrity::Register;
use harness::checker::Verdict;
use registers::{Plant, Shape, PLANTS};
use std::collections::BTreeMap;

const HISTORIES: usize = 1_500;

fn shape(i: usize) -> Shape {
    Shape {
        keys: 1 + i % 3,
        clients: 2 + i % 4,
        ops: 3 + (i * 7) % 9,
        domain: [0, 3, 6][i % 3],
        p_unknown: [0.0, 0.15, 0.35][(i / 3) % 3],
    }
}

#[test]
fn our_register_checker_agrees_with_porcupine() {
    let Some(go) = registers::go() else {
        let msg =
            "porcupine cross-check skipped: no Go toolchain (go on PATH or /usr/local/go/bin/go)";
        if std::env::var("INCIDENT_REQUIRE_DOCKER").as_deref() == Ok("1") {
            panic!("{msg}, and INCIDENT_REQUIRE_DOCKER=1 requires it (scripts/setup installs golang-go)");
        }
        eprintln!("{msg}");
        return;
    };
    let bin = registers::build_tool(&go, std::path::Path::new(env!("CARGO_TARGET_TMPDIR")))
        .unwrap_or_else(|e| panic!("{e}"));
    let cases: Vec<(Plant, _)> = (0..HISTORIES)
        .map(|i| {
            let plant = PLANTS[i % PLANTS.len()];
            (plant, registers::generate(i as u64, shape(i), plant))
        })
        .collect();
    let histories: Vec<_> = cases.iter().map(|(_, h)| h.clone()).collect();
    let (theirs, _) = registers::run_tool(&bin, &histories).unwrap_or_else(|e| panic!("{e}"));

    let mut tally: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut disagreements = Vec::new();
    for (i, ((plant, h), porcupine)) in cases.iter().zip(&theirs).enumerate() {
        let ours = Register::new()
            .try_check(h)
            .unwrap_or_else(|e| panic!("history {i}: {e}"))
            .main;
        let ours_says = match ours.verdict {
            Verdict::Valid => "ok",
            Verdict::Invalid => "illegal",
            Verdict::Unknown => "unknown",
        };
        *tally.entry((format!("{plant:?}"), ours_says)).or_default() += 1;
        if ours_says != porcupine {
            disagreements.push(format!(
                "history {i} ({plant:?}, {:?}): ours {ours_says}, porcupine {porcupine}: {:?}\n{}",
                shape(i),
                ours.examples,
                registers::porcupine_line(i, h)
            ));
        }
    }
    eprintln!(
        "porcupine cross-check: {} histories, {} disagreements; ours by plant: {tally:?}",
        cases.len(),
        disagreements.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements with Porcupine, e.g.:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(3)].join("\n")
    );
    // Both verdicts must be well represented, or the cross-check proves little.
    let valid: usize = tally
        .iter()
        .filter(|((_, v), _)| *v == "ok")
        .map(|(_, n)| n)
        .sum();
    let invalid: usize = tally
        .iter()
        .filter(|((_, v), _)| *v == "illegal")
        .map(|(_, n)| n)
        .sum();
    assert!(
        valid >= HISTORIES / 5 && invalid >= HISTORIES / 5,
        "valid {valid}, invalid {invalid}: the generator is lopsided"
    );
    assert!(
        !tally.contains_key(&("None".to_string(), "illegal")),
        "a correct register called invalid: {tally:?}"
    );
}
