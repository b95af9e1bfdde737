//! The delivery model: chat messages `send` to a room and `deliver`ed to
//! each recipient, against the recipients each message was meant for.

use super::*;

/// Chat delivery: every message the gateway acknowledged to its sender
/// reaches every recipient it was meant for exactly once, or is reported
/// undeliverable to them.
///
/// Operations: `send` (key = room, value = message id, `ok` = acknowledged)
/// and `deliver` (key = recipient, value = message id). The caller supplies
/// the recipients of each message (the room's online members when it was
/// sent) and the (message, recipient) pairs the gateway reported
/// undeliverable.
///
/// - `lost`: (acknowledged message, recipient) pairs neither delivered nor
///   reported undeliverable;
/// - `duplicated`: pairs delivered more than once;
/// - `failed_delivered`: messages delivered although their send failed;
/// - `phantom`: deliveries of a message no send was invoked for;
/// - `misdelivered` (with [`Delivery::audience`]): deliveries to someone
///   outside the message's audience (a non-member of its room, or an echo
///   to its sender).
///
/// `phantom` and `misdelivered` are in the always-check `<name>.phantoms`:
/// no variant may deliver what was never sent, or to whom it was not sent.
#[derive(Clone, Debug)]
pub struct Delivery {
    name: String,
    send: String,
    deliver: String,
    recipients: HashMap<i64, Vec<String>>,
    undeliverable: HashSet<(i64, String)>,
    audience: Option<HashMap<i64, HashSet<String>>>,
}

/// Checks a delivery history with the default names (`send`, `deliver`)
/// and no pair reported undeliverable.
pub fn delivery(history: &History, recipients: HashMap<i64, Vec<String>>) -> IntegrityChecks {
    Delivery::new(recipients).check(history)
}

impl crate::checker::Checker for Delivery {
    fn checks(&self, history: &History) -> Vec<Check> {
        self.check(history).checks()
    }
}

impl Delivery {
    /// A checker for messages meant for `recipients` (message id ->
    /// recipients; every sent message needs an entry, empty if none).
    pub fn new(recipients: HashMap<i64, Vec<String>>) -> Self {
        Delivery {
            name: "integrity.delivery".into(),
            send: "send".into(),
            deliver: "deliver".into(),
            recipients,
            undeliverable: HashSet::new(),
            audience: None,
        }
    }

    /// Who may receive each message at all (message id -> recipients: its
    /// room's members but the sender, online or not). A delivery to anyone
    /// else, or of a message without an entry, is `misdelivered`.
    pub fn audience(mut self, audience: HashMap<i64, HashSet<String>>) -> Self {
        self.audience = Some(audience);
        self
    }

    /// The (message, recipient) pairs the gateway reported undeliverable.
    pub fn undeliverable(mut self, pairs: impl IntoIterator<Item = (i64, String)>) -> Self {
        self.undeliverable.extend(pairs);
        self
    }

    /// Names the check; the phantom check is `<name>.phantoms`.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The operation names of sends and deliveries.
    pub fn ops(mut self, send: impl Into<String>, deliver: impl Into<String>) -> Self {
        self.send = send.into();
        self.deliver = deliver.into();
        self
    }

    /// Checks `history`.
    pub fn check(&self, history: &History) -> IntegrityChecks {
        let mut t = Tally::new(&self.name);
        let mut sends: HashMap<i64, Writes> = HashMap::new();
        // (message, recipient) -> deliveries
        let mut delivered: HashMap<(i64, &str), (u32, Duration)> = HashMap::new();
        let (mut acknowledged, mut failed, mut unknown) = (0u64, 0u64, 0u64);
        for (i, op) in history.ops.iter().enumerate() {
            if op.f == self.send {
                let Some(m) = op.value else {
                    t.undecided = Some(missing_value(op, i, "value"));
                    return t.finish("message");
                };
                sends.entry(m).or_default().add(op);
                match op.status {
                    OpStatus::Ok => acknowledged += 1,
                    OpStatus::Fail => failed += 1,
                    OpStatus::Unknown => unknown += 1,
                }
            } else if op.f == self.deliver && op.status == OpStatus::Ok {
                let (Some(m), Some(r)) = (op.value, op.key.as_deref()) else {
                    t.undecided = Some(format!(
                        "operation #{i} (`{}`) needs the message id as value and the recipient as key: Op::ok(\"{}\").with_key(recipient).with_value(id)",
                        op.f, op.f
                    ));
                    return t.finish("message");
                };
                let e = delivered.entry((m, r)).or_insert((0, op.complete));
                e.0 += 1;
                e.1 = e.1.min(op.complete);
            }
        }
        let mut unplanned: Vec<i64> = sends
            .iter()
            .filter(|(m, w)| w.first_ok.is_some() && !self.recipients.contains_key(m))
            .map(|(m, _)| *m)
            .collect();
        if !unplanned.is_empty() {
            unplanned.sort_unstable();
            t.undecided = Some(format!(
                "{} acknowledged messages have no entry in the recipients map (e.g. message {}): give every sent message its recipients, an empty list if none",
                unplanned.len(),
                unplanned[0]
            ));
            return t.finish("message");
        }
        let (mut dup, mut failed_delivered, mut phantom, mut misdelivered) =
            (0u64, 0u64, 0u64, 0u64);
        let mut failed_messages: BTreeSet<i64> = BTreeSet::new();
        let mut pairs: Vec<_> = delivered.iter().collect();
        pairs.sort_unstable_by_key(|(k, _)| **k);
        for ((m, r), (n, at)) in pairs {
            if *n > 1 {
                dup += 1;
                t.example(|| format!("message {m} delivered {n} times to {r}"));
            }
            if let Some(audience) = &self.audience {
                if !audience.get(m).is_some_and(|a| a.contains(*r)) {
                    misdelivered += 1;
                    t.phantom_example(|| {
                        format!("message {m} delivered to {r}, which it was not sent to (not in its room, or its sender)")
                    });
                }
            }
            match sends.get(m) {
                Some(w) if w.first_invoke.is_some_and(|i| i < *at) => {
                    if w.all_failed() && failed_messages.insert(*m) {
                        failed_delivered += 1;
                        t.example(|| format!("message {m} delivered although its send failed"));
                    }
                }
                _ => {
                    phantom += 1;
                    t.phantom_example(|| format!("message {m} delivered to {r} but never sent"));
                }
            }
        }
        let mut acked: Vec<i64> = sends
            .iter()
            .filter(|(_, w)| w.first_ok.is_some())
            .map(|(m, _)| *m)
            .collect();
        acked.sort_unstable();
        let (mut lost, mut expected, mut reported) = (0u64, 0u64, 0u64);
        for m in acked {
            for r in &self.recipients[&m] {
                expected += 1;
                if delivered.contains_key(&(m, r.as_str())) {
                    continue;
                }
                if self.undeliverable.contains(&(m, r.clone())) {
                    reported += 1;
                    continue;
                }
                lost += 1;
                t.example(|| format!("message {m} acknowledged but never delivered to {r}"));
            }
        }
        t.figures = vec![
            ("attempted", (acknowledged + failed + unknown) as f64),
            ("acknowledged", acknowledged as f64),
            ("failed", failed as f64),
            ("unknown", unknown as f64),
            ("expected_deliveries", expected as f64),
            ("reported_undeliverable", reported as f64),
        ];
        t.counts = vec![
            ("lost", lost),
            ("duplicated", dup),
            ("failed_delivered", failed_delivered),
        ];
        t.phantom = phantom;
        let mut checks = t.finish("message");
        if self.audience.is_some() {
            let p = &mut checks.phantoms;
            p.counts.insert("misdelivered".into(), misdelivered);
            if misdelivered > 0 && p.verdict != Verdict::Unknown {
                p.detail = if p.verdict == Verdict::Valid {
                    format!("{misdelivered} deliveries to someone the message was not sent to")
                } else {
                    format!(
                        "{}; {misdelivered} deliveries to someone the message was not sent to",
                        p.detail
                    )
                };
                p.verdict = Verdict::Invalid;
            }
        }
        checks
    }
}
