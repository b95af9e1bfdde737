//! The integrity checkers' tests, one section per model.

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

fn w(v: i64, i: u64, c: u64) -> Op {
    Op::ok("write").with_key("k").with_value(v).at(s(i), s(c))
}

fn r(v: Option<i64>, i: u64, c: u64) -> Op {
    let op = Op::ok("read").with_key("k").at(s(i), s(c)).by(9);
    match v {
        Some(v) => op.with_value(v),
        None => op,
    }
}

fn cas(old: i64, new: i64, i: u64, c: u64, by: u32) -> Op {
    Op::ok("cas")
        .with_key("k")
        .with_expected(Some(old))
        .with_value(new)
        .at(s(i), s(c))
        .by(by)
}

#[test]
fn register_stale_and_phantom_reads() {
    let h = History::new(vec![
        w(1, 0, 1),
        w(2, 2, 3),
        r(Some(1), 4, 5),                                // stale
        r(Some(7), 8, 9),                                // phantom
        Op::ok("read").with_key("other").at(s(8), s(9)), // never written: fine
    ]);
    let c = register(&h);
    assert_eq!(c.count("nonlinearizable_keys"), 1, "{:?}", c.main);
    assert_eq!(c.count("phantom"), 1);
    assert_eq!(c.verdict(), Verdict::Invalid);
    let e = &c.main.examples[0];
    // The witness: the prefix, the value it leaves, the op that cannot follow.
    assert!(
        e.contains("after 2 ops")
            && e.contains("holds 2")
            && e.contains("#2 read 1 by p9 [4.000s, 5.000s]"),
        "{e}"
    );
}

#[test]
fn register_concurrent_reads_are_fine() {
    let h = History::new(vec![
        w(1, 0, 1),
        w(2, 2, 5),
        r(Some(1), 3, 4),
        r(Some(2), 3, 4),
        r(Some(2), 6, 7),
    ]);
    assert_eq!(register(&h).verdict(), Verdict::Valid);
}

/// The history that fooled the old checker (it assumed a timed-out write
/// lands before the writer's next one, and called the read stale): W1
/// ok, W2 unknown, W3 ok, then a read of 2 is linearizable: W1 W3 W2 R.
#[test]
fn register_a_late_unknown_write_is_no_stale_read() {
    let h = History::new(vec![
        w(1, 0, 1),
        Op::unknown("write", "timeout")
            .with_key("k")
            .with_value(2)
            .at(s(2), s(3)),
        w(3, 4, 5),
        r(Some(2), 6, 7),
    ]);
    let c = register(&h);
    assert_eq!(c.verdict(), Verdict::Valid, "{:?}", c.main);
}

/// Fooled the old checker (versions assumed to take effect in order):
/// two overlapping acknowledged writers, the lower version landing last.
#[test]
fn register_overlapping_writers_are_no_stale_read() {
    let h = History::new(vec![w(2, 0, 10), w(1, 1, 9).by(1), r(Some(1), 11, 12)]);
    let c = register(&h);
    assert_eq!(c.verdict(), Verdict::Valid, "{:?}", c.main);
    // But once both are done, the read must see one of them, not nothing.
    let h = History::new(vec![w(2, 0, 10), w(1, 1, 9).by(1), r(None, 11, 12)]);
    assert_eq!(register(&h).count("nonlinearizable_keys"), 1);
}

/// Passed the old checker (it knew no CAS; the Consul workload recorded
/// both as plain writes of 2): two acknowledged CAS from the same value
/// by two clients is a lost update.
#[test]
fn register_two_cas_from_one_value_is_a_lost_update() {
    let h = History::new(vec![w(1, 0, 1), cas(1, 2, 2, 5, 1), cas(1, 2, 3, 6, 2)]);
    let c = register(&h);
    assert_eq!(c.count("nonlinearizable_keys"), 1, "{:?}", c.main);
    assert!(
        c.main.examples[0].contains("cas 1 -> 2"),
        "{:?}",
        c.main.examples
    );
    // A CAS from the empty register, and one that lost (failed): fine.
    let h = History::new(vec![
        Op::ok("cas")
            .with_key("k")
            .with_expected(None)
            .with_value(1)
            .at(s(0), s(1)),
        cas(1, 2, 2, 5, 1),
        Op::fail("cas", "index changed")
            .with_key("k")
            .with_expected(Some(1))
            .with_value(2)
            .at(s(3), s(6)),
        r(Some(2), 7, 8),
    ]);
    assert_eq!(register(&h).verdict(), Verdict::Valid);
}

#[test]
fn register_search_bound_is_unknown_never_valid() {
    let mut ops: Vec<Op> = (0..14).map(|v| w(v, 0, 100).by(v as u32)).collect();
    ops.push(r(Some(3), 0, 100));
    let h = History::new(ops);
    let tight = Register::new().limits(Limits {
        max_steps: 3,
        max_memory: 1 << 30,
    });
    let c = tight.check(&h);
    assert_eq!(c.main.verdict, Verdict::Unknown, "{:?}", c.main);
    assert!(c.main.detail.contains("undecided"), "{}", c.main.detail);
    assert_eq!(register(&h).verdict(), Verdict::Valid);
}

#[test]
fn register_bad_input_names_the_op() {
    let backwards = History::new(vec![w(1, 0, 1), w(2, 5, 3).by(4)]);
    let e = Register::new().try_check(&backwards).unwrap_err();
    assert_eq!(e.index, 1);
    assert!(
        e.to_string().contains("completes before it was invoked"),
        "{e}"
    );
    assert!(e.to_string().contains("by process 4"), "{e}");
    let c = register(&backwards);
    assert_eq!(c.verdict(), Verdict::Unknown);
    assert!(c.main.detail.contains("operation #1"), "{}", c.main.detail);
    let odd = History::new(vec![
        w(1, 0, 1),
        Op::ok("append").with_key("k").at(s(2), s(3)),
    ]);
    let e = Register::new().try_check(&odd).unwrap_err();
    assert!(
        e.to_string().contains("`append`") && e.to_string().contains("not a register operation"),
        "{e}"
    );
    let no_expect = History::new(vec![Op::ok("cas").with_key("k").with_value(1)]);
    assert!(Register::new()
        .try_check(&no_expect)
        .unwrap_err()
        .problem
        .contains("with_expected"));
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

/// Passed the old checker (it judged only the last read): a loss seen
/// in an earlier read, and an element seen then gone.
#[test]
fn set_judges_every_read() {
    let add = |v: i64, i: u64, c: u64| Op::ok("add").with_value(v).at(s(i), s(c));
    let read = |vs: Vec<i64>, i: u64, c: u64| Op::ok("read").with_values(vs).at(s(i), s(c));
    // 2 acknowledged at 1, missed by the read at 2, back by the read at 4.
    let h = History::new(vec![
        add(1, 0, 1),
        add(2, 0, 1),
        read(vec![1], 2, 3),
        read(vec![1, 2], 4, 5),
    ]);
    let c = set(&h);
    assert_eq!(c.count("stale"), 1, "{:?}", c.main);
    assert_eq!(c.count("lost"), 0);
    assert_eq!(c.main.verdict, Verdict::Invalid);
    assert!(
        c.main.examples[0].contains("element 2 (acknowledged 1.000s, first seen 5.000s)"),
        "{:?}",
        c.main.examples
    );
    // Seen, missed, seen again (two runs of reads holding it).
    let h = History::new(vec![
        add(1, 0, 1),
        add(2, 0, 1),
        read(vec![1, 2], 2, 3),
        read(vec![1], 4, 5),
        read(vec![2, 1], 6, 7),
    ]);
    let c = set(&h);
    assert_eq!((c.count("stale"), c.count("lost")), (1, 0), "{:?}", c.main);
    assert!(
        c.main.examples[0].contains("missed by 1 of the 3 reads"),
        "{:?}",
        c.main.examples
    );
    // 3's add timed out, a read saw it, the last read did not: lost.
    let h = History::new(vec![
        add(1, 0, 1),
        Op::unknown("add", "timeout").with_value(3).at(s(0), s(1)),
        read(vec![1, 3], 2, 3),
        read(vec![1], 4, 5),
    ]);
    let c = set(&h);
    assert_eq!(c.count("lost"), 1, "{:?}", c.main);
    assert!(c.main.examples[0].contains("element 3 (not acknowledged, first seen 3.000s, last seen by the read completed 3.000s)"), "{:?}", c.main.examples);
    // Concurrent reads may miss it; an add nobody read after is never read.
    let h = History::new(vec![
        add(1, 0, 3),
        read(vec![], 2, 4),
        read(vec![1], 5, 6),
        add(2, 6, 7),
    ]);
    let c = set(&h);
    assert_eq!(c.verdict(), Verdict::Valid, "{:?}", c.main);
    assert_eq!(c.figure("never_read"), Some(1.0));
}

#[test]
fn set_bad_input_names_the_op() {
    let h = History::new(vec![
        Op::ok("add").with_value(1).at(s(5), s(2)),
        Op::ok("read").with_values(vec![1]).at(s(6), s(7)),
    ]);
    let c = set(&h);
    assert_eq!(c.verdict(), Verdict::Unknown);
    assert!(
        c.main.detail.contains("operation #0") && c.main.detail.contains("completes before"),
        "{}",
        c.main.detail
    );
}

/// Passed the old checker (any unknown dequeue excused any item): an
/// unknown dequeue that completed before the item was enqueued cannot
/// have taken it.
#[test]
fn queue_unknown_dequeue_excuses_only_earlier_items() {
    let h = History::new(vec![
        Op::unknown("dequeue", "t").at(s(0), s(3)),
        Op::ok("enqueue").with_value(4).at(s(5), s(6)),
        Op::ok("drain").with_values(vec![]).at(s(10), s(11)),
    ]);
    let c = queue(&h);
    assert_eq!(c.count("lost"), 1, "{:?}", c.main);
    assert!(
        c.main.examples[0].contains("item 4 enqueued at 5.000s"),
        "{:?}",
        c.main.examples
    );
    // Enqueued before it completed: excused.
    let h = History::new(vec![
        Op::ok("enqueue").with_value(4).at(s(0), s(1)),
        Op::unknown("dequeue", "t").at(s(0), s(3)),
        Op::ok("drain").with_values(vec![]).at(s(10), s(11)),
    ]);
    assert_eq!(queue(&h).verdict(), Verdict::Valid);
    // Two items, one unknown dequeue able to take either: one lost.
    let h = History::new(vec![
        Op::ok("enqueue").with_value(1).at(s(0), s(1)),
        Op::ok("enqueue").with_value(2).at(s(0), s(1)),
        Op::unknown("dequeue", "t").at(s(2), s(3)),
        Op::ok("drain").with_values(vec![]).at(s(10), s(11)),
    ]);
    assert_eq!(queue(&h).count("lost"), 1);
}

/// A retried enqueue (timed out, then sent again) may be taken twice:
/// each enqueue op counts. The old checker called it a duplicate.
#[test]
fn queue_retried_enqueues_are_told_apart() {
    let h = History::new(vec![
        Op::unknown("enqueue", "timeout")
            .with_value(1)
            .at(s(0), s(1)),
        Op::ok("enqueue").with_value(1).at(s(2), s(3)),
        Op::ok("dequeue").with_value(1).at(s(4), s(5)),
        Op::ok("drain").with_values(vec![1]).at(s(10), s(11)),
    ]);
    let c = queue(&h);
    assert_eq!(c.verdict(), Verdict::Valid, "{:?}", c.main);
    let h = History::new(vec![
        Op::ok("enqueue").with_value(1).at(s(2), s(3)),
        Op::ok("dequeue").with_value(1).at(s(4), s(5)),
        Op::ok("drain").with_values(vec![1]).at(s(10), s(11)),
    ]);
    assert_eq!(queue(&h).count("duplicated"), 1);
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
