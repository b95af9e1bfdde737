//! A node's admin HTTP endpoint: `/health` (503 until the peers are
//! greeted), `/metrics` ([`NodeMetrics`]) and `/switches`.

use super::Node;
use crate::rpc::LinkStats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The node's metrics, as `GET /metrics` returns them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMetrics {
    /// The node's name.
    pub node: String,
    /// Open client connections (TCP accepted, not yet closed).
    pub connections: u64,
    /// Established WebSocket sessions.
    pub sessions: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// The fd limit.
    pub nofile: u64,
    /// Resident memory in bytes.
    pub rss_bytes: u64,
    /// Pending RPCs per peer.
    pub pending_rpcs: BTreeMap<String, u64>,
    /// Sum of `pending_rpcs`.
    pub pending_total: u64,
    /// Per-peer link counters.
    pub links: BTreeMap<String, LinkStats>,
    /// Peers evicted now.
    pub evicted: Vec<String>,
    /// Non-core sends shed.
    pub shed: u64,
    /// Messages handed to local recipients' send queues.
    pub delivered: u64,
    /// Sends acknowledged `ok`.
    pub acked: u64,
    /// Connections accepted by TCP.
    pub accepted: u64,
    /// Connections refused by the fd guard.
    pub refused_fd: u64,
    /// accept() failures (EMFILE...).
    pub accept_errors: u64,
    /// Connections waiting for a handshake slot.
    pub handshake_waiting: u64,
    /// Handshakes completed.
    pub handshakes_ok: u64,
    /// Handshakes that failed or timed out.
    pub handshakes_failed: u64,
    /// Connections dropped after waiting too long for a handshake slot.
    pub handshakes_dropped: u64,
    /// Work items waiting in the dispatcher.
    pub dispatch_queue: u64,
    /// Peers a send is offered to: the membership view and the peers that
    /// greeted this node (see [`crate::peers`]).
    pub peers: Vec<String>,
    /// Peers that left the membership view and are still called for the
    /// grace (see [`crate::peers`]).
    #[serde(default)]
    pub departed: Vec<String>,
    /// Whether the node takes clients: registered, and every known peer
    /// greeted (see [`crate::peers`]).
    #[serde(default)]
    pub ready: bool,
    /// Connections refused because the node was not ready yet.
    #[serde(default)]
    pub refused_not_ready: u64,
    /// Deliver calls this node's RPC server received from peers: what
    /// crossed the network into it (a black hole must hold it still).
    #[serde(default)]
    pub rpc_delivers_received: u64,
}

pub(super) async fn serve(node: Arc<Node>, listener: TcpListener) {
    use axum::routing::get;
    let n = node.clone();
    let h = node.clone();
    let app = axum::Router::new()
        .route(
            "/health",
            get(move || {
                let ready = h.ready.load(Ordering::Relaxed);
                async move {
                    if ready {
                        (axum::http::StatusCode::OK, "ok")
                    } else {
                        (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "greeting peers",
                        )
                    }
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let n = n.clone();
                async move { axum::Json(n.metrics()) }
            }),
        )
        .route(
            "/switches",
            get(move || {
                let s = node.config.switches.clone();
                async move { axum::Json(s) }
            }),
        );
    let _ = axum::serve(listener, app).await;
}
