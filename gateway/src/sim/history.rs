//! What the simulator saw: every connect attempt, session, send,
//! acknowledgement and delivery, with times in seconds since the
//! simulator started; and the delivery audit over it.
//!
//! One concept, one file: the simulator's record and the audit that reads
//! only it; almost a third of it is tests.

use crate::protocol::{AckStatus, Kind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "e", rename_all = "snake_case")]
pub enum Event {
    /// A connect attempt ended (TLS + WebSocket handshake).
    Attempt {
        /// The client index.
        client: u32,
        /// When it ended.
        at: f64,
        /// Whether a session came of it.
        ok: bool,
        /// The node it aimed at.
        node: String,
        /// Why it failed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The router did not admit the client (admission ramp).
    NotAdmitted {
        /// The client index.
        client: u32,
        /// When.
        at: f64,
    },
    /// A session is up and has joined all its rooms.
    SessionUp {
        /// The client index.
        client: u32,
        /// The node.
        node: String,
        /// When the last join was confirmed.
        at: f64,
    },
    /// The session ended.
    SessionDown {
        /// The client index.
        client: u32,
        /// When.
        at: f64,
    },
    /// A message was sent.
    Sent {
        /// The sender.
        client: u32,
        /// The message id.
        id: u64,
        /// The room.
        room: String,
        /// Core or non-core.
        kind: Kind,
        /// When.
        at: f64,
    },
    /// The gateway acknowledged a send.
    Acked {
        /// The message id.
        id: u64,
        /// When.
        at: f64,
        /// Ok, shed or error.
        status: AckStatus,
        /// Nodes reported unreachable for this message.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        undeliverable: Vec<String>,
    },
    /// A message was delivered to a client.
    Delivered {
        /// The recipient.
        client: u32,
        /// The message id.
        id: u64,
        /// When.
        at: f64,
    },
}

/// Everything the simulator recorded, plus the room membership it used.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SimHistory {
    /// Rooms each client joins (index = client).
    pub rooms_of: Vec<Vec<String>>,
    /// The events, in recording order.
    pub events: Vec<Event>,
    /// When recording stopped (seconds since start).
    pub ended_at: f64,
    /// When node processes died or were stopped (node, seconds since
    /// start), as the container runtime saw it; see [`SimHistory::sessions`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_deaths: Vec<(String, f64)>,
    /// When each node was unreachable by the lab's own record (down, or cut
    /// off by a fault): (node, from, to), seconds since start. An ack that
    /// names a node undeliverable is believed only near these spans; see
    /// [`CLAIM_SLACK`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<(String, f64, f64)>,
}

/// How long after a node was last unreachable an ack may still name it
/// undeliverable (seconds): a call takes up to the fixed build's RPC
/// timeout (1 s) to fail, and its breaker then fails the peer fast for its
/// window (5 s). A claim outside this is false: the node was reachable, and
/// its members are owed the message.
///
/// This holds for core messages only. Non-core work (reactions, receipts)
/// is best effort in the fixed build, whose mitigation is to shed it under
/// load: a peer too busy to take a reaction in time is named in the ack,
/// and that names a shedding, not a lie.
pub const CLAIM_SLACK: f64 = 6.0;

/// Message id -> the clients it had to reach.
pub type Recipients = HashMap<u64, Vec<u32>>;

/// The delivery audit: every message acknowledged `ok` must reach every
/// recipient that was online throughout (session up before the send, still
/// up `grace` seconds after the ack) on a node not reported undeliverable,
/// exactly once; nothing may arrive that was not sent to that client.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// Messages sent.
    pub sent: u64,
    /// Messages acknowledged ok.
    pub acked: u64,
    /// Messages shed (acknowledged `shed`).
    pub shed: u64,
    /// Sends never acknowledged (session lost first).
    pub unacknowledged: u64,
    /// (message, recipient) pairs that had to be delivered.
    pub expected: u64,
    /// Of those, delivered exactly once.
    pub delivered: u64,
    /// Expected pairs never delivered.
    pub lost: u64,
    /// (message, recipient) pairs delivered more than once.
    pub duplicated: u64,
    /// Deliveries of a message never sent, shed, or to a non-member.
    pub invented: u64,
    /// Recipient pairs excused because the ack named their node undeliverable
    /// while it was unreachable.
    pub reported_undeliverable: u64,
    /// Recipient pairs whose node the ack named undeliverable although it
    /// was reachable then (not excused: counted as expected, so lost unless
    /// delivered anyway).
    pub false_claims: u64,
    /// A few examples of anomalies.
    pub examples: Vec<String>,
}

impl SimHistory {
    /// Session intervals per client: (node, up, down or +inf).
    ///
    /// A session ends when its client notices, or when its node died if
    /// that was earlier: a client can notice late (a starved task, a
    /// half-open socket) and must not count as online, and owed every
    /// message, while its node was already gone.
    pub fn sessions(&self) -> HashMap<u32, Vec<(String, f64, f64)>> {
        let mut out = self.sessions_as_seen();
        for spans in out.values_mut() {
            for (node, up, down) in spans.iter_mut() {
                for (dead, at) in &self.node_deaths {
                    if dead == node && *up < *at && *at < *down {
                        *down = *at;
                    }
                }
            }
        }
        out
    }

    /// Session intervals as the clients saw them.
    fn sessions_as_seen(&self) -> HashMap<u32, Vec<(String, f64, f64)>> {
        let mut out: HashMap<u32, Vec<(String, f64, f64)>> = HashMap::new();
        for e in &self.events {
            match e {
                Event::SessionUp { client, node, at } => {
                    out.entry(*client)
                        .or_default()
                        .push((node.clone(), *at, f64::INFINITY))
                }
                Event::SessionDown { client, at } => {
                    if let Some(last) = out.get_mut(client).and_then(|v| v.last_mut()) {
                        if last.2.is_infinite() {
                            last.2 = *at;
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Runs the delivery audit (see [`Audit`]).
    pub fn audit(&self, grace: f64) -> Audit {
        let mut a = Audit::default();
        let mut members: HashMap<&str, Vec<u32>> = HashMap::new();
        for (c, rooms) in self.rooms_of.iter().enumerate() {
            for r in rooms {
                members.entry(r.as_str()).or_default().push(c as u32);
            }
        }
        struct SentMsg<'a> {
            client: u32,
            room: &'a str,
            at: f64,
        }
        let mut sent: HashMap<u64, SentMsg> = HashMap::new();
        let mut acks: HashMap<u64, (f64, AckStatus, &Vec<String>)> = HashMap::new();
        let mut deliveries: HashMap<(u64, u32), u32> = HashMap::new();
        for e in &self.events {
            match e {
                Event::Sent {
                    client,
                    id,
                    room,
                    at,
                    ..
                } => {
                    sent.insert(
                        *id,
                        SentMsg {
                            client: *client,
                            room,
                            at: *at,
                        },
                    );
                }
                Event::Acked {
                    id,
                    at,
                    status,
                    undeliverable,
                } => {
                    acks.insert(*id, (*at, *status, undeliverable));
                }
                Event::Delivered { client, id, .. } => {
                    *deliveries.entry((*id, *client)).or_default() += 1;
                }
                _ => {}
            }
        }
        a.sent = sent.len() as u64;
        for ((id, client), n) in &deliveries {
            let legit = sent.get(id).is_some_and(|m| {
                m.client != *client
                    && self
                        .rooms_of
                        .get(*client as usize)
                        .is_some_and(|rs| rs.iter().any(|r| r == m.room))
                    && !matches!(
                        acks.get(id),
                        Some((_, AckStatus::Shed | AckStatus::Error, _))
                    )
            });
            if !legit {
                a.invented += 1;
                if a.examples.len() < 5 {
                    a.examples.push(format!(
                        "message {id} delivered to client {client}, which it was not sent to"
                    ));
                }
            }
            if *n > 1 {
                a.duplicated += 1;
                if a.examples.len() < 5 {
                    a.examples.push(format!(
                        "message {id} delivered {n} times to client {client}"
                    ));
                }
            }
        }
        let (expected, undeliverable) = self.expected_recipients(grace);
        a.false_claims = self.false_claims(grace).len() as u64;
        let undeliverable: HashSet<(u64, u32)> = undeliverable.into_iter().collect();
        let sessions = self.sessions();
        // Where a client was connected at `t`, with that session's span.
        let session_at = |client: u32, t: f64| {
            sessions.get(&client).and_then(|s| {
                s.iter()
                    .find(|(_, up, down)| *up <= t && t <= *down)
                    .map(|(node, up, down)| format!("on {node} ({up:.2}s-{down:.2}s)"))
            })
        };
        for (_, status, _) in acks.values() {
            match status {
                AckStatus::Shed => a.shed += 1,
                AckStatus::Ok => a.acked += 1,
                AckStatus::Error => {}
            }
        }
        a.unacknowledged = sent.keys().filter(|id| !acks.contains_key(id)).count() as u64;
        let mut ids: Vec<&u64> = expected.keys().collect();
        ids.sort();
        for id in ids {
            for r in &expected[id] {
                if undeliverable.contains(&(*id, *r)) {
                    a.reported_undeliverable += 1;
                    continue;
                }
                a.expected += 1;
                match deliveries.get(&(*id, *r)).copied().unwrap_or(0) {
                    0 => {
                        a.lost += 1;
                        if a.examples.len() < 5 {
                            // Everything needed to place the loss on the timeline.
                            let m = &sent[id];
                            let (ack_at, _, _) = acks[id];
                            let where_ =
                                |c, t| session_at(c, t).unwrap_or_else(|| "offline".into());
                            a.examples.push(format!(
                                "message {id} in {} from client {} {} sent {:.2}s, acknowledged {ack_at:.2}s, never reached client {r} {}",
                                m.room,
                                m.client,
                                where_(m.client, m.at),
                                m.at,
                                where_(*r, m.at),
                            ));
                        }
                    }
                    _ => a.delivered += 1,
                }
            }
        }
        a
    }

    /// Whether `node` was unreachable at some time in [`from`, `to`], or
    /// at most [`CLAIM_SLACK`] before `from`.
    fn unreachable_near(&self, node: &str, from: f64, to: f64) -> bool {
        self.unreachable
            .iter()
            .any(|(n, a, b)| n == node && *a <= to && b + CLAIM_SLACK >= from)
    }

    /// The (message, node) claims of undeliverable that the lab's record
    /// contradicts: the ack of a core message named the node, a client was
    /// online there, and the node was reachable throughout the send (see
    /// [`CLAIM_SLACK`]).
    pub fn false_claims(&self, grace: f64) -> Vec<(u64, String)> {
        let sessions = self.sessions();
        let mut sent: HashMap<u64, f64> = HashMap::new();
        for e in &self.events {
            // Non-core work a peer could not take in time is shed by design
            // (the fixed build's mitigation): its ack's names are true.
            if let Event::Sent { id, at, kind, .. } = e {
                if kind.is_core() {
                    sent.insert(*id, *at);
                }
            }
        }
        let mut out = Vec::new();
        for e in &self.events {
            let Event::Acked {
                id,
                at: ack_at,
                status: AckStatus::Ok,
                undeliverable,
            } = e
            else {
                continue;
            };
            let Some(at) = sent.get(id) else { continue };
            for node in undeliverable {
                let someone_there = sessions
                    .values()
                    .flatten()
                    .any(|(n, up, down)| n == node && up <= at && *down >= ack_at + grace);
                if someone_there && !self.unreachable_near(node, *at, *ack_at) {
                    out.push((*id, node.clone()));
                }
            }
        }
        out
    }

    /// Each room's members (client indices), from `rooms_of`.
    pub fn room_members(&self) -> HashMap<&str, Vec<u32>> {
        let mut members: HashMap<&str, Vec<u32>> = HashMap::new();
        for (c, rooms) in self.rooms_of.iter().enumerate() {
            for r in rooms {
                members.entry(r.as_str()).or_default().push(c as u32);
            }
        }
        members
    }

    /// For every message sent: the recipients it had to reach (members of
    /// its room other than the sender, online from before the send until
    /// `grace` seconds after the ack), and the (message, recipient) pairs
    /// among them excused because the ack named their node undeliverable
    /// *while it was unreachable* by [`SimHistory::unreachable`] (a claim
    /// the lab's record contradicts excuses nothing). Messages not
    /// acknowledged `ok`, or acknowledged too late to judge, have none.
    pub fn expected_recipients(&self, grace: f64) -> (Recipients, Vec<(u64, u32)>) {
        let sessions = self.sessions();
        let members = self.room_members();
        let mut acks: HashMap<u64, (f64, AckStatus, &Vec<String>)> = HashMap::new();
        for e in &self.events {
            if let Event::Acked {
                id,
                at,
                status,
                undeliverable,
            } = e
            {
                acks.insert(*id, (*at, *status, undeliverable));
            }
        }
        let mut recipients = HashMap::new();
        let mut undeliverable = Vec::new();
        for e in &self.events {
            let Event::Sent {
                client,
                id,
                room,
                at,
                kind,
            } = e
            else {
                continue;
            };
            let mut rs = Vec::new();
            if let Some((ack_at, AckStatus::Ok, nodes)) = acks.get(id) {
                if ack_at + grace <= self.ended_at {
                    for r in members.get(room.as_str()).into_iter().flatten() {
                        if r == client {
                            continue;
                        }
                        let online = sessions.get(r).and_then(|s| {
                            s.iter()
                                .find(|(_, up, down)| up <= at && *down >= ack_at + grace)
                        });
                        if let Some((node, _, _)) = online {
                            rs.push(*r);
                            if nodes.contains(node)
                                && (!kind.is_core() || self.unreachable_near(node, *at, *ack_at))
                            {
                                undeliverable.push((*id, *r));
                            }
                        }
                    }
                }
            }
            recipients.insert(*id, rs);
        }
        (recipients, undeliverable)
    }

    /// Successful and failed connect attempts per whole second.
    pub fn attempts_per_second(&self) -> BTreeMap<u64, (u64, u64)> {
        let mut out: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for e in &self.events {
            if let Event::Attempt { at, ok, .. } = e {
                let slot = out.entry(*at as u64).or_default();
                if *ok {
                    slot.0 += 1
                } else {
                    slot.1 += 1
                }
            }
        }
        out
    }

    /// Clients with a session up at time `t`.
    pub fn online_at(&self, t: f64) -> usize {
        self.sessions()
            .values()
            .filter(|s| s.iter().any(|(_, up, down)| *up <= t && *down > t))
            .count()
    }

    /// Send-to-deliver latencies (seconds) of deliveries whose message was
    /// sent in [from, to), grouped by room.
    pub fn latencies_by_room(&self, from: f64, to: f64) -> BTreeMap<String, Vec<f64>> {
        let mut sent: HashMap<u64, (&str, f64)> = HashMap::new();
        for e in &self.events {
            if let Event::Sent { id, room, at, .. } = e {
                sent.insert(*id, (room, *at));
            }
        }
        let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut seen = HashSet::new();
        for e in &self.events {
            if let Event::Delivered { client, id, at } = e {
                if let Some((room, s)) = sent.get(id) {
                    if *s >= from && *s < to && seen.insert((*id, *client)) {
                        out.entry(room.to_string()).or_default().push(at - s);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> SimHistory {
        SimHistory {
            rooms_of: vec![vec!["r".into()], vec!["r".into()], vec!["r".into()]],
            events: vec![
                Event::SessionUp {
                    client: 0,
                    node: "n1".into(),
                    at: 0.0,
                },
                Event::SessionUp {
                    client: 1,
                    node: "n1".into(),
                    at: 0.0,
                },
                Event::SessionUp {
                    client: 2,
                    node: "n2".into(),
                    at: 0.0,
                },
            ],
            ended_at: 100.0,
            node_deaths: Vec::new(),
            unreachable: Vec::new(),
        }
    }

    fn send(h: &mut SimHistory, id: u64, undeliverable: Vec<String>) {
        h.events.push(Event::Sent {
            client: 0,
            id,
            room: "r".into(),
            kind: Kind::Message,
            at: 1.0,
        });
        h.events.push(Event::Acked {
            id,
            at: 1.1,
            status: AckStatus::Ok,
            undeliverable,
        });
    }

    fn deliver(h: &mut SimHistory, id: u64, client: u32) {
        h.events.push(Event::Delivered {
            client,
            id,
            at: 1.2,
        });
    }

    #[test]
    fn clean_delivery_passes() {
        let mut h = base();
        send(&mut h, 1, vec![]);
        deliver(&mut h, 1, 1);
        deliver(&mut h, 1, 2);
        let a = h.audit(2.0);
        assert_eq!(
            (a.expected, a.delivered, a.lost, a.duplicated, a.invented),
            (2, 2, 0, 0, 0)
        );
    }

    #[test]
    fn loss_duplicates_and_inventions_are_counted() {
        let mut h = base();
        send(&mut h, 1, vec![]);
        deliver(&mut h, 1, 1);
        deliver(&mut h, 1, 1);
        deliver(&mut h, 99, 2);
        deliver(&mut h, 1, 0);
        let a = h.audit(2.0);
        assert_eq!(a.lost, 1, "client 2 never got it");
        assert!(
            a.examples
                .iter()
                .any(|e| e.contains("never reached client 2 on n2 (0.00s-infs)")
                    && e.contains("sent 1.00s, acknowledged 1.10s")),
            "the example places the loss: {:?}",
            a.examples
        );
        assert_eq!(a.duplicated, 1);
        assert_eq!(a.invented, 2, "an unknown id, and an echo to the sender");
    }

    #[test]
    fn reported_undeliverable_and_offline_recipients_are_excused() {
        let mut h = base();
        h.events.push(Event::SessionDown { client: 1, at: 1.5 });
        send(&mut h, 1, vec!["n2".into()]);
        h.unreachable.push(("n2".into(), 0.5, 0.9));
        let a = h.audit(2.0);
        assert_eq!(
            (a.expected, a.lost, a.reported_undeliverable, a.false_claims),
            (0, 0, 1, 0)
        );
    }

    /// The history that fooled the old audit: an ack naming every node
    /// undeliverable passed with nothing delivered, although the lab saw
    /// every node up and reachable.
    #[test]
    fn a_claim_of_undeliverable_the_lab_contradicts_excuses_nothing() {
        let mut h = base();
        send(&mut h, 1, vec!["n1".into(), "n2".into()]);
        let a = h.audit(2.0);
        assert_eq!(
            (a.expected, a.lost, a.reported_undeliverable, a.false_claims),
            (2, 2, 0, 2),
            "{a:?}"
        );
        // Unreachable long before the send: still a false claim.
        h.unreachable
            .push(("n2".into(), 0.0, 1.0 - CLAIM_SLACK - 0.1));
        assert_eq!(h.audit(2.0).false_claims, 2);
        // Within the slack of the send (a breaker still open): believed.
        h.unreachable
            .push(("n2".into(), 0.0, 1.0 - CLAIM_SLACK + 0.1));
        let a = h.audit(2.0);
        assert_eq!(
            (a.lost, a.reported_undeliverable, a.false_claims),
            (1, 1, 1)
        );
        assert_eq!(h.false_claims(2.0), vec![(1, "n1".to_string())]);
    }

    /// Shedding under load is the fixed build's answer for non-core work:
    /// a reaction's ack naming a busy but reachable peer excuses its pairs.
    #[test]
    fn a_non_core_claim_of_undeliverable_is_a_shedding() {
        let mut h = base();
        h.events.push(Event::Sent {
            client: 0,
            id: 7,
            room: "r".into(),
            kind: Kind::Reaction,
            at: 1.0,
        });
        h.events.push(Event::Acked {
            id: 7,
            at: 1.1,
            status: AckStatus::Ok,
            undeliverable: vec!["n2".into()],
        });
        deliver(&mut h, 7, 1);
        let a = h.audit(2.0);
        assert_eq!(
            (a.lost, a.reported_undeliverable, a.false_claims),
            (0, 1, 0),
            "{a:?}"
        );
    }

    #[test]
    fn a_session_ends_when_its_node_died_even_if_the_client_noticed_later() {
        let mut h = base();
        // Client 2 noticed the loss of n2 at 5.0s; n2 died at 1.05s, before
        // the ack (1.1s): the message was not owed to client 2.
        h.events.push(Event::SessionDown { client: 2, at: 5.0 });
        send(&mut h, 1, vec![]);
        deliver(&mut h, 1, 1);
        assert_eq!(h.audit(2.0).lost, 1, "as the client saw it: owed, lost");
        h.node_deaths.push(("n2".into(), 1.05));
        h.node_deaths.push(("n1".into(), 0.5));
        let a = h.audit(0.5);
        assert_eq!((a.expected, a.lost), (0, 0), "{a:?}");
        assert_eq!(
            h.sessions()[&1],
            vec![("n1".to_string(), 0.0, 0.5)],
            "n1 died at 0.5s too"
        );
        h.node_deaths = vec![("n2".into(), 50.0)];
        assert_eq!(
            h.audit(2.0).lost,
            1,
            "a death after the client noticed changes nothing"
        );
    }

    #[test]
    fn shed_messages_must_not_arrive() {
        let mut h = base();
        h.events.push(Event::Sent {
            client: 0,
            id: 5,
            room: "r".into(),
            kind: Kind::Reaction,
            at: 1.0,
        });
        h.events.push(Event::Acked {
            id: 5,
            at: 1.0,
            status: AckStatus::Shed,
            undeliverable: vec![],
        });
        deliver(&mut h, 5, 1);
        let a = h.audit(2.0);
        assert_eq!((a.shed, a.invented, a.expected), (1, 1, 0));
    }

    #[test]
    fn online_and_latency_views() {
        let mut h = base();
        send(&mut h, 1, vec![]);
        deliver(&mut h, 1, 1);
        assert_eq!(h.online_at(0.5), 3);
        let l = h.latencies_by_room(0.0, 10.0);
        assert!((l["r"][0] - 0.2).abs() < 1e-9);
    }
}
