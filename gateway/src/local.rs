//! A whole cluster in one process on 127.0.0.1 (router + N nodes with a
//! static membership): for tests without Docker and for benchmarks.

use crate::membership::{Member, Membership, StaticMembership};
use crate::node::{NodeConfig, RunningNode};
use crate::router::RunningRouter;
use crate::switches::Switches;
use anyhow::Result;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

/// A local cluster.
pub struct LocalCluster {
    /// The router.
    pub router: RunningRouter,
    /// The nodes.
    pub nodes: Vec<RunningNode>,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl LocalCluster {
    /// Starts `n` nodes with `switches` and a router, all on 127.0.0.1.
    /// `rpc_override` may replace a node's advertised RPC address (e.g. a
    /// black hole in front of it).
    pub async fn start(
        n: usize,
        switches: Switches,
        fanout_cost: Duration,
        rpc_override: impl Fn(usize, SocketAddr) -> Option<String>,
    ) -> Result<LocalCluster> {
        Self::start_with_views(n, switches, fanout_cost, rpc_override, |_, all| all).await
    }

    /// [`LocalCluster::start`] where node `i` sees the membership through
    /// `view(i, all)` (e.g. one that hides a peer, as a failed health
    /// check would); the router sees it whole.
    pub async fn start_with_views(
        n: usize,
        switches: Switches,
        fanout_cost: Duration,
        rpc_override: impl Fn(usize, SocketAddr) -> Option<String>,
        view: impl Fn(usize, Arc<dyn Membership>) -> Arc<dyn Membership>,
    ) -> Result<LocalCluster> {
        let mut plan = Vec::new();
        for i in 0..n {
            let (ws, rpc, http) = (free_port()?, free_port()?, free_port()?);
            let rpc_addr = SocketAddr::from(([127, 0, 0, 1], rpc));
            plan.push((
                Member {
                    name: format!("node-{}", i + 1),
                    rpc_addr: rpc_override(i, rpc_addr).unwrap_or_else(|| rpc_addr.to_string()),
                    http_addr: format!("127.0.0.1:{http}"),
                    ws_addr: format!("127.0.0.1:{ws}"),
                },
                ws,
                rpc,
                http,
            ));
        }
        let members: Arc<dyn Membership> =
            Arc::new(StaticMembership(plan.iter().map(|p| p.0.clone()).collect()));
        let mut nodes = Vec::new();
        for (i, (me, ws, rpc, http)) in plan.into_iter().enumerate() {
            let local = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
            nodes.push(
                crate::node::start(
                    NodeConfig {
                        me,
                        ws_listen: local(ws),
                        rpc_listen: local(rpc),
                        http_listen: local(http),
                        switches: switches.clone(),
                        fanout_cost,
                        handshake_cost: Duration::ZERO,
                    },
                    view(i, members.clone()),
                )
                .await?,
            );
        }
        let router = crate::router::start(SocketAddr::from(([127, 0, 0, 1], 0)), members).await?;
        // Every node greets its peers before it takes clients.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !nodes.iter().all(|n| n.node.metrics().ready) {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the local nodes were not ready within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(LocalCluster { router, nodes })
    }

    /// The router's address for the simulator.
    pub fn router_addr(&self) -> String {
        self.router.addr.to_string()
    }
}
