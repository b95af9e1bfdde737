//! What both chat incidents share: the simulated clients brought online
//! against the cluster (and sampled onto the lab's series while they run),
//! and what happens to their history once the run is over: put the lab's
//! record on it (node deaths, spans a node was unreachable), judge every
//! message (delivery and the always-check for phantoms and misdelivery),
//! and keep it as the run's history.

use anyhow::Result;
use fixtures::chat::{delivery_check, to_history, with_lab_record, ChatGatewayClusterHandle};
use gateway::sim::{Audit, Load, SimConfig, SimHistory, Simulator};
use harness::lab::LabCtx;
use harness::spec::Variant;
use std::time::Duration;

/// The simulated clients of a chat incident, online.
pub struct Clients {
    /// The simulator driving them.
    pub sim: Simulator,
    /// The lab time the simulator started at: its history's zero.
    pub offset: Duration,
}

impl Clients {
    /// Starts `config`'s clients against `chat` and waits until all are
    /// online (within `within`).
    pub async fn online(
        lab: &LabCtx,
        chat: &ChatGatewayClusterHandle,
        config: impl FnOnce(SimConfig) -> SimConfig,
        clients: usize,
        within: Duration,
    ) -> Result<Clients> {
        let mut cfg = config(chat.sim_config(clients));
        cfg.seed = lab.seed();
        let offset = lab.now();
        let sim = Simulator::try_start(cfg)?;
        sim.wait_online(clients, within).await?;
        Ok(Clients { sim, offset })
    }

    /// A lab time on the simulator's clock (seconds since it started).
    pub fn sim_secs(&self, lab_t: Duration) -> f64 {
        lab_t.saturating_sub(self.offset).as_secs_f64()
    }

    /// Puts the clients' counts on the lab's series: online, open sockets,
    /// failed connection attempts.
    pub fn sample(&self, lab: &LabCtx) {
        let s = self.sim.stats();
        lab.sample("clients.online", s.online as f64);
        lab.sample("clients.open_sockets", s.open_sockets as f64);
        lab.sample("clients.failed_attempts", s.failed_attempts as f64);
    }

    /// Stops sending, lets what is in flight arrive (3 s), and stops the
    /// clients: their whole history.
    pub async fn quiesce(self) -> SimHistory {
        self.sim.set_load(Load::default());
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.sim.stop().await
    }
}

/// How long a recipient must stay online after the ack to be owed the
/// message (seconds): delivery takes up to an RPC round trip and a write.
const OWED_AFTER_ACK: f64 = 1.0;

/// Judges the delivery of every message in `h` and records the checks,
/// figures and history on `lab`. `sim_offset` is the lab time the
/// simulator started at; `cut_off` lists (node, from, to) lab-time spans in
/// which the scenario's own faults made a node unreachable (a claim of
/// undeliverable is believed only then, or while the node was down).
/// Before the fixes, the loss is recorded as present or not (its size
/// varies from run to run); after them, exactly, with examples placed on
/// the timeline.
pub fn judge_delivery(
    lab: &LabCtx,
    mut h: SimHistory,
    sim_offset: Duration,
    cut_off: &[(String, Duration, Duration)],
) -> Audit {
    let events = lab.timeline().events();
    with_lab_record(&mut h, &events, sim_offset);
    let sim_secs = |t: Duration| t.saturating_sub(sim_offset).as_secs_f64();
    for (node, from, to) in cut_off {
        h.unreachable
            .push((node.clone(), sim_secs(*from), sim_secs(*to)));
    }
    let spans = lab.timeline().phases(lab.now());
    let history = to_history(&h, sim_offset, |t| {
        spans
            .iter()
            .rev()
            .find(|p| p.start <= t)
            .map(|p| p.name.clone())
    });
    let mut checks = delivery_check(&h, OWED_AFTER_ACK).check(&history);
    let fixed = lab.spec().variant == Variant::After;
    if !fixed {
        checks = checks.presence_only();
    }
    lab.checks_from(checks);
    let audit = h.audit(OWED_AFTER_ACK);
    if fixed && (audit.lost > 0 || audit.false_claims > 0) {
        // The checker names message and recipient; the audit also places
        // them: nodes, session spans, send and ack times.
        for example in &audit.examples {
            lab.note(format!("delivery audit: {example}"));
        }
        for (id, node) in h.false_claims(OWED_AFTER_ACK).iter().take(5) {
            lab.note(format!(
                "delivery audit: message {id} acknowledged with {node} undeliverable while the lab saw {node} reachable"
            ));
        }
    }
    lab.figure("chat.messages_acknowledged", audit.acked as f64);
    lab.figure("chat.deliveries_expected", audit.expected as f64);
    lab.figure("chat.lost", audit.lost as f64);
    lab.figure(
        "chat.reported_undeliverable",
        audit.reported_undeliverable as f64,
    );
    lab.figure("chat.false_undeliverable_claims", audit.false_claims as f64);
    lab.with_history(|hh| *hh = history);
    audit
}
