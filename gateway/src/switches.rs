//! The switches that reproduce the 2015/2017 outages and their fixes.
//! `as_in_2015()` is the gateway as it was on the day; `fixed()` carries
//! every mitigation the postmortems promised.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a node treats a peer's backlog of pending RPCs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "limit")]
pub enum Backlog {
    /// Every call waits, however many are pending (2015).
    Unbounded,
    /// At most this many pending calls per peer; beyond, fail fast.
    Bounded(usize),
}

/// Every behaviour switch of a connection node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Switches {
    /// Per-peer backlog policy.
    pub backlog: Backlog,
    /// A call fails once the link has had no reply to any call for this
    /// long: the peer is silent, not merely slow (see `rpc`). `None` waits
    /// forever (2015).
    #[serde(with = "opt_millis")]
    pub rpc_timeout: Option<Duration>,
    /// Open the circuit to (evict) a peer after this many consecutive
    /// failed RPCs; `None` keeps it forever (2015).
    pub evict_after: Option<u32>,
    /// How long an evicted peer stays out before one probe call is let through.
    #[serde(with = "millis")]
    pub evict_for: Duration,
    /// Refuse new connections once open fds reach this fraction of the
    /// limit; `None` accepts until accept() fails with EMFILE (2015).
    pub fd_guard: Option<f64>,
    /// Concurrent TLS handshakes.
    pub handshake_slots: usize,
    /// Drop a connection that waited this long for a handshake slot;
    /// `None` lets it wait forever, holding its fd (2015).
    #[serde(with = "opt_millis")]
    pub handshake_queue_timeout: Option<Duration>,
    /// Shed non-core work (reactions, receipts) while the dispatch queue
    /// is longer than this; `None` never sheds (2017 before).
    pub shed_above: Option<usize>,
}

impl Switches {
    /// The gateway as it ran on 2015-08-07.
    pub fn as_in_2015() -> Self {
        Switches {
            backlog: Backlog::Unbounded,
            rpc_timeout: None,
            evict_after: None,
            evict_for: Duration::from_secs(5),
            fd_guard: None,
            handshake_slots: 4,
            handshake_queue_timeout: None,
            shed_above: None,
        }
    }

    /// With every promised mitigation.
    pub fn fixed() -> Self {
        Switches {
            backlog: Backlog::Bounded(256),
            rpc_timeout: Some(Duration::from_millis(1000)),
            evict_after: Some(5),
            evict_for: Duration::from_secs(5),
            fd_guard: Some(0.85),
            handshake_slots: 4,
            handshake_queue_timeout: Some(Duration::from_millis(500)),
            shed_above: Some(50),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&(d.as_millis() as u64)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switches_round_trip_as_json() {
        for s in [Switches::as_in_2015(), Switches::fixed()] {
            let text = serde_json::to_string(&s).unwrap();
            assert_eq!(serde_json::from_str::<Switches>(&text).unwrap(), s);
        }
        assert_ne!(Switches::as_in_2015(), Switches::fixed());
    }
}
