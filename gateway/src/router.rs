//! The router: the front door. Clients ask it (HTTP) which node to connect
//! to; it picks one (least-loaded or random) and applies an admission
//! percentage for ramped reopening (15/30/50/70/100%), settable at runtime.
//!
//! With `await_convergence` on (the fixed build), it only sends clients to a
//! node whose membership view agrees with every other reachable node's: a
//! node that does not yet know a peer would acknowledge messages without
//! ever offering them to that peer's members (seen after a cluster restart).

use crate::membership::{Member, Membership};
use anyhow::{Context, Result};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// How the router picks a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The node with the fewest connections (polled, plus assigned since).
    LeastLoaded,
    /// Uniformly at random (what was switched on during the 2015 restart).
    Random,
}

/// The answer to `GET /assign?client=ID`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The node's name.
    pub node: String,
    /// Where to connect (`host:port`): the node's published address if the
    /// operator set one, else its lab-network address.
    pub addr: String,
}

/// The answer when a client is not admitted (HTTP 503).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotAdmitted {
    /// Come back after this long.
    pub retry_after_ms: u64,
    /// The admission percentage in force.
    pub admission: u32,
}

/// The router's metrics (`GET /metrics`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterMetrics {
    /// Admission percentage.
    pub admission: u32,
    /// Strategy in force.
    pub strategy: Option<Strategy>,
    /// Assignments given.
    pub assigned: u64,
    /// Requests turned away by admission.
    pub not_admitted: u64,
    /// Known nodes and their load estimate.
    pub nodes: BTreeMap<String, u64>,
    /// Published addresses set by the operator.
    pub public: BTreeMap<String, String>,
    /// Whether only converged nodes get clients.
    #[serde(default)]
    pub await_convergence: bool,
    /// Nodes whose membership view agrees with every other reachable node's.
    #[serde(default)]
    pub converged: Vec<String>,
}

/// The router's state.
pub struct Router {
    membership: Arc<dyn Membership>,
    admission: AtomicU32,
    strategy: Mutex<Strategy>,
    members: Mutex<Vec<Member>>,
    load: Mutex<BTreeMap<String, u64>>,
    public: Mutex<BTreeMap<String, String>>,
    await_convergence: AtomicBool,
    converged: Mutex<BTreeSet<String>>,
    assigned: AtomicU64,
    not_admitted: AtomicU64,
    http: reqwest::Client,
}

/// A client's admission bucket in 0..100: stable per client, so raising
/// the percentage admits more clients without churning the admitted ones.
pub fn bucket(client: &str) -> u32 {
    // FNV-1a: stable across processes and versions.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in client.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % 100) as u32
}

impl Router {
    /// A router over `membership`, admitting everyone, least-loaded.
    pub fn new(membership: Arc<dyn Membership>) -> Arc<Router> {
        Arc::new(Router {
            membership,
            admission: AtomicU32::new(100),
            strategy: Mutex::new(Strategy::LeastLoaded),
            members: Mutex::default(),
            load: Mutex::default(),
            public: Mutex::default(),
            await_convergence: AtomicBool::new(false),
            converged: Mutex::default(),
            assigned: AtomicU64::new(0),
            not_admitted: AtomicU64::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(800))
                .build()
                .expect("an HTTP client"),
        })
    }

    /// Sets the admission percentage (clamped to 0..=100).
    pub fn set_admission(&self, percent: u32) {
        self.admission.store(percent.min(100), Ordering::Relaxed);
    }

    /// Only assign clients to nodes whose membership view has converged
    /// (see the module docs).
    pub fn set_await_convergence(&self, on: bool) {
        self.await_convergence.store(on, Ordering::Relaxed);
    }

    /// Sets the strategy.
    pub fn set_strategy(&self, s: Strategy) {
        *self.strategy.lock().unwrap() = s;
    }

    /// Sets the address clients are told for `node`.
    pub fn set_public(&self, node: &str, addr: &str) {
        self.public
            .lock()
            .unwrap()
            .insert(node.to_string(), addr.to_string());
    }

    /// Picks a node for `client`, or says when to come back.
    pub fn assign(&self, client: &str) -> Result<Assignment, NotAdmitted> {
        let admission = self.admission.load(Ordering::Relaxed);
        if bucket(client) >= admission {
            self.not_admitted.fetch_add(1, Ordering::Relaxed);
            return Err(NotAdmitted {
                retry_after_ms: 1000,
                admission,
            });
        }
        let members = self.members.lock().unwrap().clone();
        let public = self.public.lock().unwrap().clone();
        let gate = self.await_convergence.load(Ordering::Relaxed);
        let converged = self.converged.lock().unwrap().clone();
        // With published addresses set, only nodes that have one are reachable.
        let candidates: Vec<&Member> = members
            .iter()
            .filter(|m| public.is_empty() || public.contains_key(&m.name))
            .filter(|m| !gate || converged.contains(&m.name))
            .collect();
        if candidates.is_empty() {
            return Err(NotAdmitted {
                retry_after_ms: 500,
                admission,
            });
        }
        let strategy = *self.strategy.lock().unwrap();
        let mut load = self.load.lock().unwrap();
        let chosen = match strategy {
            Strategy::Random => candidates[rand::random_range(0..candidates.len())],
            Strategy::LeastLoaded => candidates
                .iter()
                .min_by_key(|m| (load.get(&m.name).copied().unwrap_or(0), m.name.clone()))
                .copied()
                .expect("candidates is not empty"),
        };
        *load.entry(chosen.name.clone()).or_default() += 1;
        self.assigned.fetch_add(1, Ordering::Relaxed);
        Ok(Assignment {
            node: chosen.name.clone(),
            addr: public
                .get(&chosen.name)
                .cloned()
                .unwrap_or_else(|| chosen.ws_addr.clone()),
        })
    }

    /// The router's metrics.
    pub fn metrics(&self) -> RouterMetrics {
        RouterMetrics {
            admission: self.admission.load(Ordering::Relaxed),
            strategy: Some(*self.strategy.lock().unwrap()),
            assigned: self.assigned.load(Ordering::Relaxed),
            not_admitted: self.not_admitted.load(Ordering::Relaxed),
            nodes: self.load.lock().unwrap().clone(),
            public: self.public.lock().unwrap().clone(),
            await_convergence: self.await_convergence.load(Ordering::Relaxed),
            converged: self.converged.lock().unwrap().iter().cloned().collect(),
        }
    }

    /// Refreshes members and their connection counts.
    async fn refresh(&self) {
        let members = match self.membership.members().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("router membership: {e:#}");
                return;
            }
        };
        let mut fresh = BTreeMap::new();
        let mut views = BTreeMap::new();
        for m in &members {
            let url = format!("http://{}/metrics", m.http_addr);
            let metrics = match self.http.get(&url).send().await {
                Ok(r) => r.json::<crate::node::NodeMetrics>().await.ok(),
                Err(_) => None,
            };
            let prev = self.load.lock().unwrap().get(&m.name).copied().unwrap_or(0);
            fresh.insert(
                m.name.clone(),
                metrics.as_ref().map_or(prev, |x| x.connections),
            );
            if let Some(x) = metrics {
                // What the node offers sends to: its view and the departed
                // peers it still calls.
                views.insert(
                    m.name.clone(),
                    x.peers.into_iter().chain(x.departed).collect(),
                );
            }
        }
        *self.converged.lock().unwrap() = converged(&views);
        *self.members.lock().unwrap() = members;
        *self.load.lock().unwrap() = fresh;
    }
}

/// Of the reachable nodes (name -> the peers it knows), those that know
/// every other reachable node and are known by each of them.
pub fn converged(views: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    views
        .iter()
        .filter(|(me, peers)| {
            views
                .iter()
                .filter(|(other, _)| other != me)
                .all(|(other, theirs)| peers.contains(other) && theirs.contains(*me))
        })
        .map(|(me, _)| me.clone())
        .collect()
}

#[derive(Deserialize)]
struct AssignQuery {
    client: String,
}

#[derive(Deserialize)]
struct AdmissionBody {
    percent: u32,
}

#[derive(Deserialize)]
struct StrategyBody {
    strategy: Strategy,
}

#[derive(Deserialize)]
struct PublicBody {
    node: String,
    addr: String,
}

/// Handles to a started router.
pub struct RunningRouter {
    /// The router's state.
    pub router: Arc<Router>,
    /// The bound HTTP address.
    pub addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningRouter {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the router's HTTP API on `listen`.
pub async fn start(listen: SocketAddr, membership: Arc<dyn Membership>) -> Result<RunningRouter> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the router port {listen}"))?;
    let addr = listener.local_addr()?;
    let router = Router::new(membership);
    router.refresh().await;
    let r = router.clone();
    let poll = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            r.refresh().await;
        }
    });
    let app = axum::Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/assign",
            get(
                |State(r): State<Arc<Router>>, Query(q): Query<AssignQuery>| async move {
                    match r.assign(&q.client) {
                        Ok(a) => (StatusCode::OK, Json(serde_json::to_value(a).unwrap())),
                        Err(n) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            Json(serde_json::to_value(n).unwrap()),
                        ),
                    }
                },
            ),
        )
        .route(
            "/metrics",
            get(|State(r): State<Arc<Router>>| async move { Json(r.metrics()) }),
        )
        .route(
            "/admin/admission",
            post(
                |State(r): State<Arc<Router>>, Json(b): Json<AdmissionBody>| async move {
                    r.set_admission(b.percent);
                    Json(r.metrics())
                },
            ),
        )
        .route(
            "/admin/strategy",
            post(
                |State(r): State<Arc<Router>>, Json(b): Json<StrategyBody>| async move {
                    r.set_strategy(b.strategy);
                    Json(r.metrics())
                },
            ),
        )
        .route(
            "/admin/public",
            post(
                |State(r): State<Arc<Router>>, Json(b): Json<PublicBody>| async move {
                    r.set_public(&b.node, &b.addr);
                    Json(r.metrics())
                },
            ),
        )
        .route(
            "/admin/refresh",
            post(|State(r): State<Arc<Router>>| async move {
                r.refresh().await;
                Json(r.metrics())
            }),
        )
        .with_state(router.clone());
    let serve = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(RunningRouter {
        router,
        addr,
        tasks: vec![poll, serve],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::StaticMembership;

    fn member(n: &str) -> Member {
        Member {
            name: n.into(),
            rpc_addr: format!("{n}:9000"),
            http_addr: format!("{n}:8080"),
            ws_addr: format!("{n}:8443"),
        }
    }

    fn router_with(names: &[&str]) -> Arc<Router> {
        let r = Router::new(Arc::new(StaticMembership(vec![])));
        *r.members.lock().unwrap() = names.iter().map(|n| member(n)).collect();
        r
    }

    #[test]
    fn admission_admits_about_the_percentage_and_is_monotonic() {
        let r = router_with(&["a"]);
        let clients: Vec<String> = (0..2000).map(|i| format!("c{i}")).collect();
        let mut admitted_before: Vec<bool> = vec![false; clients.len()];
        for pct in [15u32, 30, 50, 70, 100] {
            r.set_admission(pct);
            let admitted: Vec<bool> = clients.iter().map(|c| r.assign(c).is_ok()).collect();
            let share = admitted.iter().filter(|a| **a).count() as f64 / clients.len() as f64;
            assert!(
                (share - pct as f64 / 100.0).abs() < 0.05,
                "{pct}%: admitted {share}"
            );
            for (b, a) in admitted_before.iter().zip(&admitted) {
                assert!(
                    !*b || *a,
                    "a client admitted at a lower step stays admitted"
                );
            }
            admitted_before = admitted;
        }
        r.set_admission(0);
        assert_eq!(r.assign("x").unwrap_err().admission, 0);
    }

    #[test]
    fn least_loaded_spreads_evenly_and_public_addresses_win() {
        let r = router_with(&["a", "b", "c"]);
        let mut counts = BTreeMap::new();
        for i in 0..300 {
            *counts
                .entry(r.assign(&format!("c{i}")).unwrap().node)
                .or_insert(0) += 1;
        }
        assert_eq!(
            counts.values().copied().collect::<Vec<_>>(),
            vec![100, 100, 100]
        );
        r.set_public("b", "127.0.0.1:4000");
        let a = r.assign("z").unwrap();
        assert_eq!((a.node.as_str(), a.addr.as_str()), ("b", "127.0.0.1:4000"));
        r.set_strategy(Strategy::Random);
        assert_eq!(
            r.assign("y").unwrap().node,
            "b",
            "only published nodes are reachable"
        );
    }

    fn views(v: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        v.iter()
            .map(|(n, ps)| (n.to_string(), ps.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    #[test]
    fn converged_needs_mutual_knowledge_of_every_reachable_node() {
        let all = views(&[("a", &["b", "c"]), ("b", &["a", "c"]), ("c", &["a", "b"])]);
        assert_eq!(converged(&all).len(), 3);
        // c just restarted and knows nobody yet: nobody who must reach c's
        // members (a, b) nor c itself may take clients.
        let fresh = views(&[("a", &["b", "c"]), ("b", &["a", "c"]), ("c", &[])]);
        assert!(converged(&fresh).is_empty());
        // a has not yet seen c register: a and c wait, b is fine.
        let lag = views(&[("a", &["b"]), ("b", &["a", "c"]), ("c", &["a", "b"])]);
        assert_eq!(
            converged(&lag).into_iter().collect::<Vec<_>>(),
            vec!["b".to_string()]
        );
        assert_eq!(converged(&views(&[("solo", &[])])).len(), 1);
    }

    #[test]
    fn with_the_gate_only_converged_nodes_get_clients() {
        let r = router_with(&["a", "b"]);
        r.set_await_convergence(true);
        assert!(r.assign("c1").is_err(), "nothing converged yet");
        *r.converged.lock().unwrap() = ["b".to_string()].into_iter().collect();
        for i in 0..20 {
            assert_eq!(r.assign(&format!("c{i}")).unwrap().node, "b");
        }
        r.set_await_convergence(false);
        assert_eq!(
            r.assign("c20").unwrap().node,
            "a",
            "without the gate the least-loaded node gets the client"
        );
    }
}
