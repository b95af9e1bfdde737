//! Soundness of the checkers, by property tests.
//!
//! Each property simulates a *correct* system (a linearizable set,
//! register, FIFO queue, exactly-once chat delivery, a service that comes
//! back after a heal) with random concurrency, failures and `unknown`
//! outcomes resolved either way, and asserts the checker finds nothing.
//! Then it plants each kind of anomaly in turn into that same history and
//! asserts the checker catches exactly it.
//!
//! 5 properties x 250 cases = 1,250 generated histories, each also checked
//! with every anomaly kind planted (about 5,000 histories checked in all).

use harness::checker::availability::{time_to_detect, Recovery};
use harness::checker::integrity::{self, Delivery, IntegrityChecks};
use harness::checker::Verdict;
use harness::history::{History, Op, OpStatus};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::time::Duration;

const CASES: u32 = 250;
/// A value no simulated client ever writes.
const NEVER_WRITTEN: i64 = 1_000_000_007;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// A random outcome: ok, fail or unknown.
fn outcome(rng: &mut StdRng, p_fail: f64, p_unknown: f64) -> OpStatus {
    let x: f64 = rng.random();
    if x < p_fail {
        OpStatus::Fail
    } else if x < p_fail + p_unknown {
        OpStatus::Unknown
    } else {
        OpStatus::Ok
    }
}

fn op(f: &str, status: OpStatus) -> Op {
    match status {
        OpStatus::Ok => Op::ok(f),
        OpStatus::Fail => Op::fail(f, "refused"),
        OpStatus::Unknown => Op::unknown(f, "timed out"),
    }
}

/// An operation's span and the instant it takes effect, strictly inside.
fn span(rng: &mut StdRng, invoke: u64, max_latency: u64) -> (u64, u64, u64) {
    let complete = invoke + rng.random_range(2..max_latency.max(3));
    let point = rng.random_range(invoke + 1..complete);
    (invoke, complete, point)
}

/// Only the named count is non-zero and the merged verdict is invalid.
fn caught_exactly(c: &IntegrityChecks, key: &str, all: &[&str]) -> Result<(), TestCaseError> {
    prop_assert_eq!(c.verdict(), Verdict::Invalid, "{} not caught: {:?}", key, c);
    for k in all {
        let expected = u64::from(*k == key);
        prop_assert_eq!(
            c.count(k),
            expected,
            "count {} planting {}: {:?}",
            k,
            key,
            c
        );
    }
    Ok(())
}

fn clean(c: &IntegrityChecks) -> Result<(), TestCaseError> {
    prop_assert_eq!(c.main.verdict, Verdict::Valid, "{:?}", c.main);
    prop_assert_eq!(c.phantoms.verdict, Verdict::Valid, "{:?}", c.phantoms);
    prop_assert!(c.main.counts.values().all(|n| *n == 0), "{:?}", c.main);
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ set

struct SetSim {
    ops: Vec<Op>,
    read: Op,
    /// Acknowledged before the read began: must be present.
    must_be_present: Vec<i64>,
    failed: i64,
}

fn simulate_set(seed: u64, adds: usize, p_fail: f64, p_unknown: f64) -> SetSim {
    let mut rng = StdRng::seed_from_u64(seed);
    let (read_invoke, read_complete, read_point) = span(&mut rng, 9_000, 400);
    let mut ops = Vec::new();
    let mut present = Vec::new();
    let mut must = Vec::new();
    for v in 0..adds as i64 {
        // The first add is acknowledged early, the second fails: both kinds
        // of plant always have a target.
        let status = match v {
            0 => OpStatus::Ok,
            1 => OpStatus::Fail,
            _ => outcome(&mut rng, p_fail, p_unknown),
        };
        let invoke = if v < 2 {
            0
        } else {
            rng.random_range(0..10_000)
        };
        let (i, c, point) = span(&mut rng, invoke, 600);
        let applied = match status {
            OpStatus::Ok => true,
            OpStatus::Fail => false,
            OpStatus::Unknown => rng.random_bool(0.5),
        };
        if applied && point < read_point {
            present.push(v);
        }
        if status == OpStatus::Ok && c < read_invoke {
            must.push(v);
        }
        ops.push(
            op("add", status)
                .with_value(v)
                .at(ms(i), ms(c))
                .by(rng.random_range(0..5)),
        );
    }
    present.shuffle(&mut rng);
    let read = Op::ok("read")
        .with_values(present)
        .at(ms(read_invoke), ms(read_complete))
        .by(9);
    SetSim {
        ops,
        read,
        must_be_present: must,
        failed: 1,
    }
}

fn set_history(sim: &SetSim, read: Op) -> History {
    let mut ops = sim.ops.clone();
    ops.push(read);
    History::new(ops)
}

const SET_COUNTS: &[&str] = &["lost", "stale", "duplicated", "failed_present", "phantom"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn set_checker_is_sound(
        seed in any::<u64>(),
        adds in 2usize..150,
        p_fail in 0.0..0.3f64,
        p_unknown in 0.0..0.3f64,
    ) {
        let sim = simulate_set(seed, adds, p_fail, p_unknown);
        clean(&integrity::set(&set_history(&sim, sim.read.clone())))?;

        let mut rng = StdRng::seed_from_u64(seed ^ 1);
        let values = || sim.read.values.clone().unwrap();

        // Lost: drop one element acknowledged before the read began.
        let gone = *sim.must_be_present.choose(&mut rng).unwrap();
        let read = sim.read.clone().with_values(values().into_iter().filter(|v| *v != gone).collect());
        caught_exactly(&integrity::set(&set_history(&sim, read)), "lost", SET_COUNTS)?;

        // Duplicated: one element twice.
        let mut vs = values();
        let again = *vs.choose(&mut rng).unwrap();
        vs.push(again);
        vs.shuffle(&mut rng);
        caught_exactly(&integrity::set(&set_history(&sim, sim.read.clone().with_values(vs))), "duplicated", SET_COUNTS)?;

        // Failed but present.
        let mut vs = values();
        vs.push(sim.failed);
        caught_exactly(&integrity::set(&set_history(&sim, sim.read.clone().with_values(vs))), "failed_present", SET_COUNTS)?;

        // Phantom: never added.
        let mut vs = values();
        vs.insert(rng.random_range(0..=vs.len()), NEVER_WRITTEN);
        let c = integrity::set(&set_history(&sim, sim.read.clone().with_values(vs)));
        caught_exactly(&c, "phantom", SET_COUNTS)?;
        prop_assert_eq!(c.main.verdict, Verdict::Valid, "a phantom is the always-check's");
    }
}

// ------------------------------------------------------------------ register

struct RegisterSim {
    ops: Vec<Op>,
    /// Index in `ops` of each key's final read, and what it could return
    /// instead: an older version that was applied, if any.
    finals: Vec<(usize, Option<i64>)>,
    /// (key, version) of a write that failed.
    failed: (String, i64),
}

fn simulate_register(seed: u64, keys: usize, writes: usize, reads: usize) -> RegisterSim {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ops = Vec::new();
    let mut finals = Vec::new();
    let mut failed = None;
    for k in 0..keys {
        let key = format!("k{k}");
        // One writer per key, one write at a time: versions increase in the
        // order writes take effect. (instant, version) of applied writes:
        let mut applied: Vec<(u64, i64)> = Vec::new();
        let mut t = rng.random_range(0..200);
        for n in 0..writes {
            let version = n as i64 + 1;
            // The first write is acknowledged, the second fails.
            let status = match n {
                0 => OpStatus::Ok,
                1 => OpStatus::Fail,
                _ => outcome(&mut rng, 0.15, 0.15),
            };
            let (i, c, point) = span(&mut rng, t, 300);
            // An unknown write may take effect after the writer gave up,
            // but before its next write.
            let next = c + rng.random_range(1..200);
            let effect = match status {
                OpStatus::Ok => Some(point),
                OpStatus::Fail => None,
                OpStatus::Unknown => rng.random_bool(0.5).then(|| rng.random_range(i + 1..next)),
            };
            if let Some(at) = effect {
                applied.push((at, version));
            }
            if status == OpStatus::Fail && failed.is_none() {
                failed = Some((key.clone(), version));
            }
            ops.push(
                op("write", status)
                    .with_key(&key)
                    .with_value(version)
                    .at(ms(i), ms(c))
                    .by(0),
            );
            t = next;
        }
        let end = t;
        // Applied writes are in time and version order.
        let read_at = |point: u64| {
            let n = applied.partition_point(|(at, _)| *at <= point);
            n.checked_sub(1).map(|i| applied[i].1)
        };
        for _ in 0..reads {
            let (i, c, point) = {
                let start = rng.random_range(0..end);
                span(&mut rng, start, 300)
            };
            let mut r = Op::ok("read")
                .with_key(&key)
                .at(ms(i), ms(c))
                .by(rng.random_range(1..6));
            r.value = read_at(point);
            if rng.random_bool(0.1) {
                r = Op::unknown("read", "timed out")
                    .with_key(&key)
                    .at(ms(i), ms(c))
                    .by(r.process);
            }
            ops.push(r);
        }
        // A final read after everything, seeing the last applied version.
        let (i, c, point) = span(&mut rng, end + 10, 50);
        let last = read_at(point);
        // Older than the newest acknowledged version, known before this read.
        let acked = ops
            .iter()
            .filter(|o| {
                o.f == "write" && o.key.as_deref() == Some(&key) && o.status == OpStatus::Ok
            })
            .filter_map(|o| o.value)
            .max();
        // Of an acknowledged write: an unknown one may land any time after
        // its invocation, so reading its version late is no stale read
        // (the old checker said it was).
        let older = ops
            .iter()
            .filter(|o| {
                o.f == "write" && o.key.as_deref() == Some(&key) && o.status == OpStatus::Ok
            })
            .filter_map(|o| o.value)
            .filter(|v| Some(*v) < acked)
            .max();
        let mut r = Op::ok("read").with_key(&key).at(ms(i), ms(c)).by(7);
        r.value = last;
        finals.push((ops.len(), older));
        ops.push(r);
    }
    RegisterSim {
        ops,
        finals,
        failed: failed.expect("key 0's second write fails"),
    }
}

const REGISTER_COUNTS: &[&str] = &["nonlinearizable_keys", "failed_present", "phantom"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn register_checker_is_sound(
        seed in any::<u64>(),
        keys in 1usize..4,
        writes in 2usize..30,
        reads in 0usize..60,
    ) {
        let sim = simulate_register(seed, keys, writes, reads);
        clean(&integrity::register(&History::new(sim.ops.clone())))?;
        let mut rng = StdRng::seed_from_u64(seed ^ 2);

        // Stale: a final read returns a version (or nothing) older than one
        // acknowledged before it began.
        let (at, older) = *sim.finals.choose(&mut rng).unwrap();
        let mut ops = sim.ops.clone();
        ops[at].value = older;
        caught_exactly(&integrity::register(&History::new(ops)), "nonlinearizable_keys", REGISTER_COUNTS)?;

        // Phantom: a version nobody wrote (no order explains it either).
        let mut ops = sim.ops.clone();
        ops[at].value = Some(NEVER_WRITTEN);
        let c = integrity::register(&History::new(ops));
        prop_assert_eq!(c.count("phantom"), 1, "{:?}", c.phantoms);
        prop_assert_eq!(c.phantoms.verdict, Verdict::Invalid);
        prop_assert_eq!(c.count("nonlinearizable_keys"), 1, "{:?}", c.main);

        // Failed but present (also stale when newer versions were known).
        let (key, version) = sim.failed.clone();
        let mut ops = sim.ops.clone();
        let end = ops.iter().map(|o| o.complete).max().unwrap();
        ops.push(Op::ok("read").with_key(key).with_value(version).at(end + ms(1), end + ms(2)));
        let c = integrity::register(&History::new(ops));
        prop_assert_eq!(c.count("failed_present"), 1, "{:?}", c.main);
        prop_assert_eq!(c.count("phantom"), 0);
        prop_assert_eq!(c.verdict(), Verdict::Invalid);
    }
}

// ------------------------------------------------------------------ queue

struct QueueSim {
    ops: Vec<Op>,
    drain: Op,
    /// Acknowledged items that were taken (by a recorded dequeue or the drain).
    acked_taken: Vec<i64>,
    unknown_dequeues: usize,
    failed: i64,
}

fn simulate_queue(seed: u64, enqueues: usize, dequeues: usize) -> QueueSim {
    let mut rng = StdRng::seed_from_u64(seed);
    // (point, index in ops): every op applied in the order it takes effect.
    let mut ops = Vec::new();
    let mut events: Vec<(u64, usize, bool)> = Vec::new(); // (point, op, takes effect)
    for v in 0..enqueues as i64 {
        let status = match v {
            0 => OpStatus::Fail,
            _ => outcome(&mut rng, 0.1, 0.1),
        };
        let (i, c, point) = {
            let start = rng.random_range(0..5_000);
            span(&mut rng, start, 300)
        };
        let effect = match status {
            OpStatus::Ok => true,
            OpStatus::Fail => false,
            OpStatus::Unknown => rng.random_bool(0.5),
        };
        events.push((point, ops.len(), effect));
        ops.push(
            op("enqueue", status)
                .with_value(v)
                .at(ms(i), ms(c))
                .by(rng.random_range(0..3)),
        );
    }
    let mut unknown_dequeues = 0;
    for _ in 0..dequeues {
        let status = outcome(&mut rng, 0.05, 0.05);
        let (i, c, point) = {
            let start = rng.random_range(0..5_500);
            span(&mut rng, start, 300)
        };
        let effect = match status {
            OpStatus::Ok => true,
            OpStatus::Fail => false,
            OpStatus::Unknown => {
                unknown_dequeues += 1;
                rng.random_bool(0.5)
            }
        };
        events.push((point, ops.len(), effect));
        ops.push(
            op("dequeue", status)
                .at(ms(i), ms(c))
                .by(rng.random_range(3..6)),
        );
    }
    events.sort();
    let mut queue = std::collections::VecDeque::new();
    for (_, index, effect) in events {
        let o = &mut ops[index];
        if !effect {
            continue;
        }
        if o.f == "enqueue" {
            queue.push_back(o.value.unwrap());
        } else {
            let head = queue.pop_front();
            if o.status == OpStatus::Ok {
                o.value = head;
            }
        }
    }
    let drain = Op::ok("drain")
        .with_values(queue.into_iter().collect())
        .at(ms(6_000), ms(6_010))
        .by(9);
    let acked: std::collections::HashSet<i64> = ops
        .iter()
        .filter(|o| o.f == "enqueue" && o.status == OpStatus::Ok)
        .filter_map(|o| o.value)
        .collect();
    let acked_taken = ops
        .iter()
        .filter(|o| o.f == "dequeue" && o.status == OpStatus::Ok)
        .filter_map(|o| o.value)
        .chain(drain.values.clone().unwrap())
        .filter(|v| acked.contains(v))
        .collect();
    QueueSim {
        ops,
        drain,
        acked_taken,
        unknown_dequeues,
        failed: 0,
    }
}

fn queue_history(sim: &QueueSim, ops: Vec<Op>, drain: Op) -> History {
    let _ = sim;
    let mut ops = ops;
    ops.push(drain);
    History::new(ops)
}

const QUEUE_COUNTS: &[&str] = &["lost", "duplicated", "failed_present", "phantom"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn queue_checker_is_sound(
        seed in any::<u64>(),
        enqueues in 1usize..120,
        dequeues in 0usize..120,
    ) {
        let sim = simulate_queue(seed, enqueues, dequeues);
        clean(&integrity::queue(&queue_history(&sim, sim.ops.clone(), sim.drain.clone())))?;
        let mut rng = StdRng::seed_from_u64(seed ^ 3);
        let drained = || sim.drain.values.clone().unwrap();

        // Lost: more acknowledged items vanish than unknown dequeues can explain.
        if sim.acked_taken.len() > sim.unknown_dequeues {
            let mut gone = sim.acked_taken.clone();
            gone.shuffle(&mut rng);
            gone.truncate(sim.unknown_dequeues + 1);
            let mut ops = sim.ops.clone();
            for o in ops.iter_mut() {
                if o.f == "dequeue" && o.value.is_some_and(|v| gone.contains(&v)) {
                    o.value = None;
                }
            }
            let drain = sim.drain.clone().with_values(drained().into_iter().filter(|v| !gone.contains(v)).collect());
            let c = integrity::queue(&queue_history(&sim, ops, drain));
            prop_assert!(c.count("lost") >= 1, "{:?}", c.main);
            prop_assert_eq!(c.main.verdict, Verdict::Invalid);
        }

        // Duplicated: an item taken again by the drain.
        let taken: Vec<i64> = sim.ops.iter().filter(|o| o.f == "dequeue").filter_map(|o| o.value).chain(drained()).collect();
        if let Some(again) = taken.choose(&mut rng) {
            let mut vs = drained();
            vs.push(*again);
            caught_exactly(&integrity::queue(&queue_history(&sim, sim.ops.clone(), sim.drain.clone().with_values(vs))), "duplicated", QUEUE_COUNTS)?;
        }

        // Failed but present.
        let mut vs = drained();
        vs.push(sim.failed);
        caught_exactly(&integrity::queue(&queue_history(&sim, sim.ops.clone(), sim.drain.clone().with_values(vs))), "failed_present", QUEUE_COUNTS)?;

        // Phantom: a dequeue of an item never enqueued.
        let mut ops = sim.ops.clone();
        ops.push(Op::ok("dequeue").with_value(NEVER_WRITTEN).at(ms(5_900), ms(5_950)).by(3));
        caught_exactly(&integrity::queue(&queue_history(&sim, ops, sim.drain.clone())), "phantom", QUEUE_COUNTS)?;
    }
}

// ------------------------------------------------------------------ delivery

struct DeliverySim {
    ops: Vec<Op>,
    recipients: HashMap<i64, Vec<String>>,
    undeliverable: Vec<(i64, String)>,
    /// Indices of deliveries of acknowledged messages.
    acked_deliveries: Vec<usize>,
    failed: i64,
}

fn simulate_delivery(seed: u64, rooms: usize, messages: usize) -> DeliverySim {
    let mut rng = StdRng::seed_from_u64(seed);
    let members: Vec<Vec<String>> = (0..rooms)
        .map(|_| {
            let mut m: Vec<String> = (0..8).map(|u| format!("user-{u}")).collect();
            m.shuffle(&mut rng);
            m.truncate(rng.random_range(1..=8));
            m
        })
        .collect();
    let mut ops = Vec::new();
    let mut recipients = HashMap::new();
    let mut undeliverable = Vec::new();
    let mut acked_deliveries = Vec::new();
    for m in 0..messages as i64 {
        let room = rng.random_range(0..rooms);
        let status = match m {
            0 => OpStatus::Ok,
            1 => OpStatus::Fail,
            _ => outcome(&mut rng, 0.1, 0.15),
        };
        let (i, c, point) = {
            let start = rng.random_range(0..10_000);
            span(&mut rng, start, 400)
        };
        ops.push(
            op("send", status)
                .with_key(format!("room-{room}"))
                .with_value(m)
                .at(ms(i), ms(c))
                .by(rng.random_range(0..8)),
        );
        recipients.insert(m, members[room].clone());
        let partial = rng.random_bool(0.5);
        for r in &members[room] {
            let deliver = match status {
                // Message 0 reaches everyone, so a loss can always be planted.
                OpStatus::Ok if m > 0 && rng.random_bool(0.05) => {
                    undeliverable.push((m, r.clone()));
                    false
                }
                OpStatus::Ok => true,
                OpStatus::Fail => false,
                OpStatus::Unknown => partial && rng.random_bool(0.5),
            };
            if deliver {
                let at = point + rng.random_range(1..300);
                if status == OpStatus::Ok {
                    acked_deliveries.push(ops.len());
                }
                ops.push(
                    Op::ok("deliver")
                        .with_key(r.clone())
                        .with_value(m)
                        .at(ms(at), ms(at))
                        .by(100),
                );
            }
        }
    }
    DeliverySim {
        ops,
        recipients,
        undeliverable,
        acked_deliveries,
        failed: 1,
    }
}

fn check_delivery(sim: &DeliverySim, ops: Vec<Op>) -> IntegrityChecks {
    Delivery::new(sim.recipients.clone())
        .undeliverable(sim.undeliverable.clone())
        .check(&History::new(ops))
}

const DELIVERY_COUNTS: &[&str] = &["lost", "duplicated", "failed_delivered", "phantom"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn delivery_checker_is_sound(
        seed in any::<u64>(),
        rooms in 1usize..6,
        messages in 2usize..80,
    ) {
        let sim = simulate_delivery(seed, rooms, messages);
        clean(&check_delivery(&sim, sim.ops.clone()))?;
        let mut rng = StdRng::seed_from_u64(seed ^ 4);

        // Lost: one acknowledged delivery never happens.
        let gone = *sim.acked_deliveries.choose(&mut rng).unwrap();
        let mut ops = sim.ops.clone();
        ops.remove(gone);
        caught_exactly(&check_delivery(&sim, ops), "lost", DELIVERY_COUNTS)?;

        // Duplicated: one delivery twice.
        let mut ops = sim.ops.clone();
        let twice = ops.iter().filter(|o| o.f == "deliver").cloned().collect::<Vec<_>>().choose(&mut rng).cloned().unwrap();
        ops.push(twice.at(ms(20_000), ms(20_000)));
        caught_exactly(&check_delivery(&sim, ops), "duplicated", DELIVERY_COUNTS)?;

        // Delivered although its send failed.
        let mut ops = sim.ops.clone();
        let to = sim.recipients[&sim.failed][0].clone();
        ops.push(Op::ok("deliver").with_key(to).with_value(sim.failed).at(ms(20_000), ms(20_000)));
        caught_exactly(&check_delivery(&sim, ops), "failed_delivered", DELIVERY_COUNTS)?;

        // Phantom: a message nobody sent.
        let mut ops = sim.ops.clone();
        ops.push(Op::ok("deliver").with_key("user-0").with_value(NEVER_WRITTEN).at(ms(20_000), ms(20_000)));
        caught_exactly(&check_delivery(&sim, ops), "phantom", DELIVERY_COUNTS)?;
    }
}

// ------------------------------------------------------------------ availability

/// A service called every `period` ms for `total` ms, down from `fault_at`
/// to `back_at` (refusing), and otherwise failing one call in 50.
fn simulate_service(seed: u64, period: u64, total: u64, fault_at: u64, back_at: u64) -> History {
    let mut rng = StdRng::seed_from_u64(seed);
    let ops = (0..total / period)
        .map(|n| {
            let at = n * period + rng.random_range(0..period / 2);
            let latency = rng.random_range(1..20);
            let down = (fault_at..back_at).contains(&at);
            let noise = n % 50 == 49;
            let op = if down || noise {
                if rng.random_bool(0.5) {
                    Op::fail("call", "refused")
                } else {
                    Op::unknown("call", "timed out")
                }
            } else {
                Op::ok("call")
            };
            op.at(ms(at), ms(at + latency)).by((n % 4) as u32)
        })
        .collect();
    History::new(ops)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn recovery_is_judged_against_the_budget(
        seed in any::<u64>(),
        period in 20u64..200,
        fault_at in 2_000u64..5_000,
        outage in 500u64..4_000,
        delay in 0u64..6_000,
    ) {
        let heal_at = fault_at + outage;
        let back_at = heal_at + delay;
        let total = back_at + 12_000;
        let h = simulate_service(seed, period, total, fault_at, back_at);
        let recovery = |budget: u64| {
            Recovery::after(ms(heal_at))
                .window(Duration::from_secs(5))
                .ratio(0.9)
                .budget(ms(budget))
                .check(&h)
        };

        // Recovered means every client is served again: the truth is when
        // the last of the 4 clients completed its first ok call invoked
        // after the heal (each calls every 4th period, and may hit one of
        // the rare failures).
        let last_back_ms = (0..4u32)
            .map(|c| {
                h.ops
                    .iter()
                    .filter(|o| o.process == c && o.status == OpStatus::Ok && o.invoke >= ms(heal_at))
                    .map(|o| o.complete.as_secs_f64() * 1000.0)
                    .fold(f64::INFINITY, f64::min)
            })
            .fold(0.0, f64::max)
            - heal_at as f64;
        prop_assert!(last_back_ms.is_finite());

        // Back within budget: valid, measured from the truth to a few calls later.
        let within = recovery(last_back_ms as u64 + 1_000);
        prop_assert_eq!(within.verdict, Verdict::Valid, "{}", within.detail);
        let secs = within.figures["recovery_secs"];
        prop_assert!(secs * 1000.0 >= delay as f64 - 0.5, "{} < {}", secs, delay);
        prop_assert!(secs * 1000.0 >= last_back_ms - 0.5, "{} < last client back {}", secs, last_back_ms);
        prop_assert!(secs * 1000.0 <= last_back_ms + (3 * period) as f64 + 0.5, "{} > {}+3x{}", secs, last_back_ms, period);

        // A late recovery: over budget.
        if delay >= 200 {
            let late = recovery(delay - 200);
            prop_assert_eq!(late.verdict, Verdict::Invalid, "{}", late.detail);
            prop_assert!(late.figures.contains_key("recovery_secs"));
        }

        // Never back: not recovered.
        let down = simulate_service(seed, period, total, fault_at, total);
        let never = Recovery::after(ms(heal_at)).ratio(0.9).budget(ms(60_000)).check(&down);
        prop_assert_eq!(never.verdict, Verdict::Invalid, "{}", never.detail);
        prop_assert!(!never.figures.contains_key("recovery_secs"));

        // The fault is seen within one period (plus the call's latency).
        let seen = time_to_detect(&h, ms(fault_at)).expect("the outage is seen");
        prop_assert!(seen <= ms(2 * period + 20), "{:?}", seen);
    }
}

// ------------------------------------------------------------------ scale

/// How long each checker takes on a history of 10^6 operations (release:
/// `cargo test --release -p harness --test checker_props -- --ignored --nocapture`).
/// A measurement, not an assertion: the numbers go to the notes.
#[test]
#[ignore = "a measurement: run with --release --ignored --nocapture"]
fn checkers_scale_to_a_million_operations() {
    let n = 1_000_000u64;
    let timed = |name: &str, f: &dyn Fn() -> Verdict| {
        let t = std::time::Instant::now();
        let v = f();
        eprintln!(
            "{name:<12} {n} ops: {:>7.1} ms ({v:?})",
            t.elapsed().as_secs_f64() * 1e3
        );
    };
    let mut rng = StdRng::seed_from_u64(7);
    let set = {
        let sim = simulate_set(7, n as usize, 0.05, 0.05);
        set_history(&sim, sim.read.clone())
    };
    timed("set", &|| integrity::set(&set).verdict());
    let register =
        History::new(simulate_register(7, 100, (n / 200) as usize, (n / 200) as usize).ops);
    timed("register", &|| integrity::register(&register).verdict());
    let queue = {
        let sim = simulate_queue(7, (n / 2) as usize, (n / 2) as usize);
        queue_history(&sim, sim.ops.clone(), sim.drain.clone())
    };
    timed("queue", &|| integrity::queue(&queue).verdict());
    let delivery = simulate_delivery(7, 50, (n / 5) as usize);
    timed("delivery", &|| {
        check_delivery(&delivery, delivery.ops.clone()).verdict()
    });
    let service = simulate_service(rng.random(), 2, 2 * n, n / 2, n);
    timed("recovery", &|| {
        Recovery::after(ms(n / 2 + 1000))
            .ratio(0.9)
            .check(&service)
            .verdict
    });
}
