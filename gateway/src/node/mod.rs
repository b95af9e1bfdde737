//! A connection node: client sessions ([`session`]) join rooms and send;
//! a dispatcher fans each message out to the room's local members and, over
//! RPC, to the peers; [`admin`] serves its health, metrics and switches.
//!
//! This file is the node's shared state and its dispatcher, the part the
//! delivery guarantees live in.

mod admin;
mod session;

pub use admin::NodeMetrics;

use crate::membership::{Member, Membership};
use crate::peers::{Peers, DEPARTED_GRACE};
use crate::protocol::{AckStatus, Kind, RpcRequest, ServerFrame};
use crate::rpc::{self, LinkStats, PeerLink};
use crate::switches::Switches;
use crate::sys;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// How long a starting node waits for each peer to answer its greeting.
pub const GREETING_TIMEOUT: Duration = Duration::from_secs(1);

/// Everything a node is started with.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// How the node announces itself (name and addresses).
    pub me: Member,
    /// Client-facing WebSocket/TLS listen address.
    pub ws_listen: SocketAddr,
    /// RPC listen address.
    pub rpc_listen: SocketAddr,
    /// Admin/metrics HTTP listen address.
    pub http_listen: SocketAddr,
    /// Behaviour switches.
    pub switches: Switches,
    /// Modelled work per recipient of a fan-out (feed insert, counters):
    /// makes a node's delivery capacity a property of its configuration
    /// rather than of the shared machine. Zero: only the real cost.
    pub fanout_cost: Duration,
    /// Modelled server-side cost of one TLS handshake (2015 hardware, RSA
    /// keys, session setup), spent holding a handshake slot.
    pub handshake_cost: Duration,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    sessions: AtomicU64,
    shed: AtomicU64,
    delivered: AtomicU64,
    acked: AtomicU64,
    accepted: AtomicU64,
    refused_fd: AtomicU64,
    refused_not_ready: AtomicU64,
    accept_errors: AtomicU64,
    handshake_waiting: AtomicU64,
    handshakes_ok: AtomicU64,
    handshakes_failed: AtomicU64,
    handshakes_dropped: AtomicU64,
    rpc_delivers_received: AtomicU64,
}

type Outbox = mpsc::UnboundedSender<ServerFrame>;
/// Room -> connection id -> (client id, its send queue).
type Rooms = HashMap<String, HashMap<u64, (String, Outbox)>>;

struct Work {
    room: String,
    id: u64,
    from: String,
    kind: Kind,
    body: String,
    origin: Origin,
}

enum Origin {
    /// A local client's send: ack it on this outbox; skip this connection.
    Client { conn: u64, outbox: Outbox },
    /// A peer's RPC: answer with the local recipient count.
    Peer(oneshot::Sender<u32>),
}

/// A running node's shared state.
pub struct Node {
    config: NodeConfig,
    counters: Counters,
    rooms: Mutex<Rooms>,
    peers: RwLock<Peers>,
    /// Random per process start; sent in greetings (see [`crate::peers`]).
    boot: u64,
    ready: AtomicBool,
    fd_estimate: sys::FdEstimate,
    nofile: u64,
    core_tx: mpsc::UnboundedSender<Work>,
    extra_tx: mpsc::UnboundedSender<Work>,
    queued: AtomicUsize,
    next_conn: AtomicU64,
}

/// Handles to a started node.
pub struct RunningNode {
    /// The node's state (metrics).
    pub node: Arc<Node>,
    /// Bound addresses: WebSocket, RPC, HTTP.
    pub ws_addr: SocketAddr,
    /// The bound RPC address.
    pub rpc_addr: SocketAddr,
    /// The bound HTTP address.
    pub http_addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Node {
    /// The node's metrics now.
    pub fn metrics(&self) -> NodeMetrics {
        let c = &self.counters;
        let peers = self.peers.read().unwrap();
        let links: BTreeMap<String, LinkStats> = peers.stats();
        NodeMetrics {
            node: self.config.me.name.clone(),
            connections: c.connections.load(Ordering::Relaxed),
            sessions: c.sessions.load(Ordering::Relaxed),
            fds: sys::open_fds(),
            nofile: sys::nofile_limit(),
            rss_bytes: sys::rss_bytes(),
            pending_rpcs: links.iter().map(|(n, s)| (n.clone(), s.pending)).collect(),
            pending_total: links.values().map(|s| s.pending).sum(),
            evicted: links
                .iter()
                .filter(|(_, s)| s.evicted)
                .map(|(n, _)| n.clone())
                .collect(),
            links,
            shed: c.shed.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            acked: c.acked.load(Ordering::Relaxed),
            accepted: c.accepted.load(Ordering::Relaxed),
            refused_fd: c.refused_fd.load(Ordering::Relaxed),
            accept_errors: c.accept_errors.load(Ordering::Relaxed),
            handshake_waiting: c.handshake_waiting.load(Ordering::Relaxed),
            handshakes_ok: c.handshakes_ok.load(Ordering::Relaxed),
            handshakes_failed: c.handshakes_failed.load(Ordering::Relaxed),
            handshakes_dropped: c.handshakes_dropped.load(Ordering::Relaxed),
            dispatch_queue: self.queued.load(Ordering::Relaxed) as u64,
            peers: peers.view(),
            departed: peers.departed(),
            ready: self.ready.load(Ordering::Relaxed),
            refused_not_ready: c.refused_not_ready.load(Ordering::Relaxed),
            rpc_delivers_received: c.rpc_delivers_received.load(Ordering::Relaxed),
        }
    }

    fn enqueue(&self, work: Work) {
        // Only a client's own send is shed (its ack says so); work a peer
        // already acknowledged to its sender is never dropped here.
        if !work.kind.is_core() && matches!(work.origin, Origin::Client { .. }) {
            if let Some(limit) = self.config.switches.shed_above {
                if self.queued.load(Ordering::Relaxed) > limit {
                    self.counters.shed.fetch_add(1, Ordering::Relaxed);
                    match work.origin {
                        Origin::Client { outbox, .. } => {
                            let _ = outbox.send(ServerFrame::Ack {
                                id: work.id,
                                status: AckStatus::Shed,
                                undeliverable: vec![],
                            });
                        }
                        Origin::Peer(reply) => {
                            let _ = reply.send(0);
                        }
                    }
                    return;
                }
            }
        }
        self.queued.fetch_add(1, Ordering::Relaxed);
        let lane = if work.kind.is_core() || self.config.switches.shed_above.is_none() {
            &self.core_tx
        } else {
            &self.extra_tx
        };
        let _ = lane.send(work);
    }

    /// Hands a message to the local members of its room; returns how many.
    fn fan_out_locally(&self, w: &Work) -> u32 {
        let skip = match &w.origin {
            Origin::Client { conn, .. } => Some(*conn),
            Origin::Peer(_) => None,
        };
        let rooms = self.rooms.lock().unwrap();
        let Some(members) = rooms.get(&w.room) else {
            return 0;
        };
        let mut n = 0;
        for (conn, (_, outbox)) in members {
            if Some(*conn) == skip {
                continue;
            }
            let frame = ServerFrame::Deliver {
                room: w.room.clone(),
                id: w.id,
                from: w.from.clone(),
                kind: w.kind,
            };
            if outbox.send(frame).is_ok() {
                n += 1;
            }
        }
        self.counters
            .delivered
            .fetch_add(n as u64, Ordering::Relaxed);
        n
    }

    async fn dispatch(
        self: Arc<Self>,
        mut core: mpsc::UnboundedReceiver<Work>,
        mut extra: mpsc::UnboundedReceiver<Work>,
    ) {
        let mut debt = Duration::ZERO;
        loop {
            let work = tokio::select! {
                biased;
                Some(w) = core.recv() => w,
                Some(w) = extra.recv() => w,
                else => return,
            };
            self.queued.fetch_sub(1, Ordering::Relaxed);
            let n = self.fan_out_locally(&work);
            debt += self.config.fanout_cost * n;
            if debt >= Duration::from_millis(1) {
                tokio::time::sleep(debt).await;
                debt = Duration::ZERO;
            }
            match work.origin {
                Origin::Peer(reply) => {
                    let _ = reply.send(n);
                }
                Origin::Client { outbox, .. } => {
                    let peers: Vec<Arc<PeerLink>> = self.peers.read().unwrap().links();
                    let req = RpcRequest::Deliver {
                        room: work.room,
                        id: work.id,
                        from: work.from,
                        kind: work.kind,
                        body: work.body,
                    };
                    let node = self.clone();
                    // 2015: acknowledged once handed to the peer queues (fire and
                    // forget); fixed: once every peer answered or failed, naming
                    // the nodes it could not reach.
                    let waits = self.config.switches.rpc_timeout.is_some();
                    let id = work.id;
                    tokio::spawn(async move {
                        let calls = peers.iter().map(|p| {
                            let req = req.clone();
                            async move { (p.name.clone(), p.call(req).await) }
                        });
                        if waits {
                            let results = futures::future::join_all(calls).await;
                            let undeliverable: Vec<String> = results
                                .into_iter()
                                .filter(|(_, r)| r.is_err())
                                .map(|(n, _)| n)
                                .collect();
                            node.counters.acked.fetch_add(1, Ordering::Relaxed);
                            let _ = outbox.send(ServerFrame::Ack {
                                id,
                                status: AckStatus::Ok,
                                undeliverable,
                            });
                        } else {
                            node.counters.acked.fetch_add(1, Ordering::Relaxed);
                            let _ = outbox.send(ServerFrame::Ack {
                                id,
                                status: AckStatus::Ok,
                                undeliverable: vec![],
                            });
                            futures::future::join_all(calls).await;
                        }
                    });
                }
            }
        }
    }

    fn sync_peers(&self, members: &[Member]) {
        self.peers.write().unwrap().sync(
            &self.config.me.name,
            members,
            &self.config.switches,
            std::time::Instant::now(),
            DEPARTED_GRACE,
        );
    }

    /// Greets every known peer (at most [`GREETING_TIMEOUT`] each, all at
    /// once), then takes clients. A peer that does not answer is down or
    /// cut off; it learns of this node from membership or greets it when
    /// it comes back.
    async fn greet_peers_then_open(&self) {
        let links = self.peers.read().unwrap().links();
        let hello = RpcRequest::Hello {
            member: self.config.me.clone(),
            boot: self.boot,
        };
        let calls = links.iter().map(|l| {
            let hello = hello.clone();
            async move {
                let answered = tokio::time::timeout(GREETING_TIMEOUT, l.call(hello)).await;
                if !matches!(answered, Ok(Ok(_))) {
                    tracing::info!(peer = %l.name, "peer did not answer the greeting");
                }
            }
        });
        futures::future::join_all(calls).await;
        self.ready.store(true, Ordering::Relaxed);
        tracing::info!(peers = links.len(), "greeted the peers; taking clients");
    }

    fn over_fd_guard(&self) -> bool {
        match self.config.switches.fd_guard {
            Some(frac) => {
                let live = self.counters.connections.load(Ordering::Relaxed);
                self.fd_estimate
                    .reaches(live, (frac * self.nofile as f64).ceil() as u64)
            }
            None => false,
        }
    }
}

/// Starts a node: listeners, dispatcher, membership, admin HTTP.
pub async fn start(config: NodeConfig, membership: Arc<dyn Membership>) -> Result<RunningNode> {
    let ws = TcpListener::bind(config.ws_listen)
        .await
        .with_context(|| format!("binding the WebSocket port {}", config.ws_listen))?;
    let rpc_l = TcpListener::bind(config.rpc_listen)
        .await
        .with_context(|| format!("binding the RPC port {}", config.rpc_listen))?;
    let http = TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("binding the HTTP port {}", config.http_listen))?;
    let (ws_addr, rpc_addr, http_addr) =
        (ws.local_addr()?, rpc_l.local_addr()?, http.local_addr()?);
    let tls = crate::tls::server_config(&[config.me.name.clone(), "localhost".into()])?;
    let (core_tx, core_rx) = mpsc::unbounded_channel();
    let (extra_tx, extra_rx) = mpsc::unbounded_channel();
    let node = Arc::new(Node {
        config: config.clone(),
        counters: Counters::default(),
        rooms: Mutex::default(),
        peers: RwLock::default(),
        boot: rand::random(),
        ready: AtomicBool::new(false),
        fd_estimate: sys::FdEstimate::new(Duration::from_secs(1), Duration::from_millis(100)),
        nofile: sys::nofile_limit(),
        core_tx,
        extra_tx,
        queued: AtomicUsize::new(0),
        next_conn: AtomicU64::new(1),
    });
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(node.clone().dispatch(core_rx, extra_rx)));
    let n = node.clone();
    let handler: rpc::Handler = Arc::new(move |req| {
        let n = n.clone();
        Box::pin(async move {
            match req {
                RpcRequest::Ping => 0,
                RpcRequest::Hello { member, boot } => {
                    n.peers.write().unwrap().greeted(
                        &n.config.me.name,
                        &member,
                        boot,
                        &n.config.switches,
                    );
                    0
                }
                RpcRequest::Deliver {
                    room,
                    id,
                    from,
                    kind,
                    body,
                } => {
                    n.counters
                        .rpc_delivers_received
                        .fetch_add(1, Ordering::Relaxed);
                    let (tx, rx) = oneshot::channel();
                    n.enqueue(Work {
                        room,
                        id,
                        from,
                        kind,
                        body,
                        origin: Origin::Peer(tx),
                    });
                    rx.await.unwrap_or(0)
                }
            }
        })
    });
    tasks.push(tokio::spawn(rpc::serve(rpc_l, handler)));
    tasks.push(tokio::spawn(session::accept_loop(node.clone(), ws, tls)));
    tasks.push(tokio::spawn(admin::serve(node.clone(), http)));
    let n = node.clone();
    tasks.push(tokio::spawn(async move {
        let mut registered = false;
        loop {
            if !registered {
                match membership.register(&n.config.me).await {
                    Ok(()) => registered = true,
                    Err(e) => tracing::warn!("membership registration: {e:#}"),
                }
            }
            match membership.registered().await {
                Ok(members) => {
                    n.sync_peers(&members);
                    // Registered first, so that a peer starting later
                    // finds this node in membership and greets it.
                    if registered && !n.ready.load(Ordering::Relaxed) {
                        n.greet_peers_then_open().await;
                    }
                }
                Err(e) => tracing::warn!("membership: {e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }));
    Ok(RunningNode {
        node,
        ws_addr,
        rpc_addr,
        http_addr,
        tasks,
    })
}
