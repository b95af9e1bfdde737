//! The peers a node hands room traffic to: its membership view, the peers
//! that greeted it, and the peers that left that view recently.
//!
//! A send is acknowledged once every peer here answered or failed, and the
//! ack names the ones that failed; a node missing from here is skipped
//! *silently*. So this set must never lack a live node:
//! - membership can drop a node that is alive (a health check that timed
//!   out on a saturated machine is enough): a departed peer is still called
//!   for [`DEPARTED_GRACE`]; alive, it delivers; dead, its calls fail, the
//!   ack names it, and the breaker (where switched on) fails it fast. Back
//!   in the view within the grace, it is an ordinary peer again (with a
//!   fresh link if its breaker is open); after the grace, it is gone.
//! - membership can lag a node that just started: before it takes clients,
//!   a starting node greets every peer it knows ([`Peers::greeted`]), so
//!   they know it before its clients send or are sent anything.
//! - a restarted peer greets with a new boot id: its link is made anew, so
//!   it does not wait out a breaker its predecessor tripped.

use crate::membership::Member;
use crate::rpc::{LinkStats, PeerLink};
use crate::switches::Switches;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a peer that left the membership view is still called: Consul's
/// `DeregisterCriticalServiceAfter` for our registrations.
pub const DEPARTED_GRACE: Duration = Duration::from_secs(60);

struct Entry {
    link: Arc<PeerLink>,
    addr: String,
    /// The peer process's boot id, once it greeted us.
    boot: Option<u64>,
    departed: Option<Instant>,
}

/// A node's peer links.
#[derive(Default)]
pub struct Peers {
    entries: BTreeMap<String, Entry>,
}

impl Peers {
    /// Follows the membership view `members` (which may include `me`) at
    /// `now`: links new peers, re-links a peer whose RPC address changed,
    /// marks peers that left as departed, and drops those departed for
    /// longer than `grace`.
    pub fn sync(
        &mut self,
        me: &str,
        members: &[Member],
        switches: &Switches,
        now: Instant,
        grace: Duration,
    ) {
        for m in members.iter().filter(|m| m.name != me) {
            match self.entries.get_mut(&m.name) {
                // A peer back in the view keeps its link, unless its breaker
                // is open: a restarted node should not wait out a breaker
                // its predecessor tripped.
                Some(e)
                    if e.addr == m.rpc_addr && !(e.departed.is_some() && e.link.is_evicted()) =>
                {
                    if e.departed.take().is_some() {
                        tracing::info!(peer = %m.name, "peer back in the membership view");
                    }
                }
                _ => {
                    tracing::info!(peer = %m.name, addr = %m.rpc_addr, "peer joined");
                    self.link(m, None, switches);
                }
            }
        }
        for (name, e) in self.entries.iter_mut() {
            if e.departed.is_none() && !members.iter().any(|m| &m.name == name) {
                tracing::info!(peer = %name, grace = ?grace, "peer left the membership view; still called during the grace");
                e.departed = Some(now);
            }
        }
        self.entries.retain(|name, e| match e.departed {
            Some(at) if now.saturating_duration_since(at) >= grace => {
                tracing::info!(peer = %name, "departed peer dropped");
                false
            }
            _ => true,
        });
    }

    /// `peer` (process `boot`) greeted us: it is alive and about to take
    /// clients. Links it if unknown, moved, restarted (another boot id) or
    /// behind an open breaker; a departed peer that greets is back.
    pub fn greeted(&mut self, me: &str, peer: &Member, boot: u64, switches: &Switches) {
        if peer.name == me {
            return;
        }
        match self.entries.get_mut(&peer.name) {
            Some(e)
                if e.addr == peer.rpc_addr
                    && e.boot.is_none_or(|b| b == boot)
                    && !e.link.is_evicted() =>
            {
                e.boot = Some(boot);
                if e.departed.take().is_some() {
                    tracing::info!(peer = %peer.name, "departed peer greeted: back");
                }
            }
            _ => {
                tracing::info!(peer = %peer.name, addr = %peer.rpc_addr, boot, "peer greeted: linked anew");
                self.link(peer, Some(boot), switches);
            }
        }
    }

    fn link(&mut self, m: &Member, boot: Option<u64>, switches: &Switches) {
        self.entries.insert(
            m.name.clone(),
            Entry {
                link: PeerLink::new(&m.name, &m.rpc_addr, switches.clone()),
                addr: m.rpc_addr.clone(),
                boot,
                departed: None,
            },
        );
    }

    /// Every link a message goes to: the view and the departed.
    pub fn links(&self) -> Vec<Arc<PeerLink>> {
        self.entries.values().map(|e| e.link.clone()).collect()
    }

    /// The membership view: peers not departed.
    pub fn view(&self) -> Vec<String> {
        self.names(false)
    }

    /// Peers that left the view and are still called.
    pub fn departed(&self) -> Vec<String> {
        self.names(true)
    }

    fn names(&self, departed: bool) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.departed.is_some() == departed)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Each link's counters.
    pub fn stats(&self) -> BTreeMap<String, LinkStats> {
        self.entries
            .iter()
            .map(|(n, e)| (n.clone(), e.link.stats()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, rpc: &str) -> Member {
        Member {
            name: name.into(),
            rpc_addr: rpc.into(),
            http_addr: String::new(),
            ws_addr: String::new(),
        }
    }

    #[tokio::test]
    async fn a_peer_that_leaves_the_view_is_still_called_until_the_grace_ends() {
        let s = Switches::fixed();
        let grace = Duration::from_secs(60);
        let t0 = Instant::now();
        let (a, b) = (member("a", "127.0.0.1:1"), member("b", "127.0.0.1:2"));
        let mut p = Peers::default();
        p.sync(
            "me",
            &[member("me", "x:1"), a.clone(), b.clone()],
            &s,
            t0,
            grace,
        );
        assert_eq!(p.view(), ["a", "b"], "me is not its own peer");
        let b_link = p.links()[1].clone();

        // b's health check fails for a moment: still called.
        p.sync(
            "me",
            std::slice::from_ref(&a),
            &s,
            t0 + Duration::from_secs(1),
            grace,
        );
        assert_eq!(p.view(), ["a"]);
        assert_eq!(p.departed(), ["b"]);
        assert_eq!(p.links().len(), 2, "sends still go to b");

        // Back within the grace: the same link, not a new one.
        p.sync(
            "me",
            &[a.clone(), b.clone()],
            &s,
            t0 + Duration::from_secs(5),
            grace,
        );
        assert_eq!(p.view(), ["a", "b"]);
        assert!(p.departed().is_empty());
        assert!(Arc::ptr_eq(&p.links()[1], &b_link));

        // Gone for good: dropped once the grace has passed since it left.
        p.sync(
            "me",
            std::slice::from_ref(&a),
            &s,
            t0 + Duration::from_secs(10),
            grace,
        );
        p.sync(
            "me",
            std::slice::from_ref(&a),
            &s,
            t0 + Duration::from_secs(69),
            grace,
        );
        assert_eq!(p.links().len(), 2, "59 s after leaving: still called");
        p.sync(
            "me",
            std::slice::from_ref(&a),
            &s,
            t0 + Duration::from_secs(70),
            grace,
        );
        assert_eq!(p.links().len(), 1);
        assert!(p.departed().is_empty());
        assert_eq!(p.stats().keys().collect::<Vec<_>>(), ["a"]);
    }

    #[tokio::test]
    async fn a_peer_back_with_its_breaker_open_gets_a_fresh_link() {
        let mut s = Switches::fixed();
        s.evict_after = Some(1);
        s.rpc_timeout = Some(Duration::from_millis(50));
        let grace = Duration::from_secs(60);
        let t0 = Instant::now();
        // Nothing listens on port 1: the call fails and trips the breaker.
        let a = member("a", "127.0.0.1:1");
        let mut p = Peers::default();
        p.sync("me", std::slice::from_ref(&a), &s, t0, grace);
        p.sync("me", &[], &s, t0, grace);
        let old = p.links()[0].clone();
        let req = crate::protocol::RpcRequest::Deliver {
            room: "r".into(),
            id: 1,
            from: "c".into(),
            kind: crate::protocol::Kind::Message,
            body: String::new(),
        };
        assert!(old.call(req).await.is_err());
        assert!(old.is_evicted());
        p.sync("me", std::slice::from_ref(&a), &s, t0, grace);
        assert!(
            !Arc::ptr_eq(&p.links()[0], &old),
            "the restarted node gets a closed breaker"
        );
        assert!(!p.links()[0].is_evicted());
        assert_eq!(p.view(), ["a"]);
    }

    #[tokio::test]
    async fn a_peer_that_moved_gets_a_new_link() {
        let s = Switches::fixed();
        let grace = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut p = Peers::default();
        p.sync("me", &[member("a", "127.0.0.1:1")], &s, t0, grace);
        let old = p.links()[0].clone();
        p.sync("me", &[member("a", "127.0.0.1:2")], &s, t0, grace);
        assert!(
            !Arc::ptr_eq(&p.links()[0], &old),
            "restarted at a new address"
        );
        assert_eq!(p.view(), ["a"]);
    }

    #[tokio::test]
    async fn a_peer_that_greets_is_called_though_membership_lags() {
        let s = Switches::fixed();
        let mut p = Peers::default();
        let t0 = Instant::now();
        p.greeted("me", &member("a", "127.0.0.1:1"), 7, &s);
        assert_eq!(p.view(), ["a"]);
        p.greeted("me", &member("me", "x:1"), 7, &s);
        assert_eq!(p.links().len(), 1, "a node never greets itself");
        // Membership has not caught up: a is departed, still called.
        p.sync("me", &[], &s, t0, DEPARTED_GRACE);
        assert_eq!(p.departed(), ["a"]);
        assert_eq!(p.links().len(), 1);
        let link = p.links()[0].clone();
        // Greeting again (same process) keeps the link and brings it back.
        p.greeted("me", &member("a", "127.0.0.1:1"), 7, &s);
        assert_eq!(p.view(), ["a"]);
        assert!(Arc::ptr_eq(&p.links()[0], &link));
    }

    #[tokio::test]
    async fn a_restarted_peer_that_greets_gets_a_fresh_link_and_a_closed_breaker() {
        let mut s = Switches::fixed();
        s.evict_after = Some(1);
        s.rpc_timeout = Some(Duration::from_millis(50));
        let a = member("a", "127.0.0.1:1");
        let mut p = Peers::default();
        p.greeted("me", &a, 1, &s);
        let first = p.links()[0].clone();
        // The same process greets again: same link.
        p.greeted("me", &a, 1, &s);
        assert!(Arc::ptr_eq(&p.links()[0], &first));
        // Its predecessor died: the call fails and opens the breaker.
        let req = crate::protocol::RpcRequest::Ping;
        assert!(first.call(req).await.is_err());
        assert!(first.is_evicted());
        // The restarted process greets with a new boot id before it takes
        // clients: a fresh link, so its members are not named undeliverable
        // for the rest of the breaker's window.
        p.greeted("me", &a, 2, &s);
        assert!(!Arc::ptr_eq(&p.links()[0], &first));
        assert!(!p.links()[0].is_evicted());
        // Also when the boot id is the same but the breaker is open.
        let second = p.links()[0].clone();
        assert!(second
            .call(crate::protocol::RpcRequest::Ping)
            .await
            .is_err());
        p.greeted("me", &a, 2, &s);
        assert!(!Arc::ptr_eq(&p.links()[0], &second));
    }
}
