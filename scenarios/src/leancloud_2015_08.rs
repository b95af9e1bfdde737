//! LeanCloud, 2015-08-07: one realtime server's RPC black-holed while its
//! membership stayed up; healthy servers' pending RPCs and memory grew; the
//! cluster restart met a reconnect storm (SDK retrying without closing the
//! old connection, TLS handshakes the servers could not keep up with, the
//! fd limit filling). Fixed: bounded backlog with fast failure, eviction,
//! backoff clients that close first, and a 15/30/50/70/100% admission ramp.
//!
//! Each fix is a mitigation the dossier names ([`MITIGATIONS`]); the
//! phase helpers ask the lab which are in force, so `incident ablate` can
//! run the after variant with any of them removed.

use crate::chat::Clients;
use anyhow::Result;
use fixtures::chat::{ChatGatewayCluster, ChatGatewayClusterHandle, Switches};
use gateway::node::NodeMetrics;
use gateway::router::Strategy;
use gateway::sim::{Load, ReconnectPolicy, SimConfig};
use harness::checker::availability::Watched;
use harness::checker::{Check, CheckKind, Verdict};
use harness::fault::FaultGuard;
use harness::lab::LabCtx;
use harness::report::Report;
use std::collections::BTreeMap;
use std::time::Duration;

/// How big the incident is.
#[derive(Clone, Debug)]
pub struct Scale {
    /// Connection nodes.
    pub nodes: usize,
    /// Simulated clients.
    pub clients: usize,
    /// Members per room.
    pub room_size: usize,
    /// Messages per second in steady state.
    pub rate: f64,
    /// Payload bytes per message (what a pending RPC holds on to).
    pub body_bytes: usize,
    /// Each node's open-files limit.
    pub nofile: u64,
    /// Modelled server-side TLS handshake cost (ms) and concurrent handshakes.
    pub handshake_cost_ms: u64,
    /// Concurrent handshakes per node.
    pub handshake_slots: usize,
    /// How long the RPC black hole lasts.
    pub fault: Duration,
    /// How long operators watch the restart before giving up.
    pub restart_watch: Duration,
    /// Time between admission steps in the ramp.
    pub ramp_step: Duration,
}

impl Scale {
    /// Fits 2 cores: 3 nodes, 600 clients.
    pub fn ci() -> Scale {
        Scale {
            nodes: 3,
            clients: 600,
            room_size: 20,
            rate: 50.0,
            body_bytes: 16 * 1024,
            nofile: 320,
            handshake_cost_ms: 50,
            handshake_slots: 2,
            fault: Duration::from_secs(30),
            restart_watch: Duration::from_secs(45),
            ramp_step: Duration::from_secs(4),
        }
    }
}

/// The mitigations this scenario switches, by the dossier's names.
pub const MITIGATIONS: [&str; 5] = [
    "bounded_backlog",
    "evict_bad_peer",
    "client_backoff",
    "graduated_admission",
    "flow_control",
];

/// The admission steps of the 2015 reopening.
pub const RAMP: [u32; 5] = [15, 30, 50, 70, 100];

/// The incident, with the mitigations the lab has in force: none is the
/// gateway, router and clients as on the day (*before*); all of them is
/// *after*. Its phases follow the postmortem's timeline.
pub async fn run(lab: &LabCtx, scale: Scale) -> Result<Report> {
    let chat = lab.start(cluster(lab, &scale)).await?;
    let clients = connect(lab, &chat, &scale).await?;

    lab.phase("steady").await;
    clients.sim.set_load(Load {
        rate: scale.rate,
        ..Load::default()
    });
    watch(lab, &chat, &clients, Duration::from_secs(5)).await;

    lab.phase("fault").await;
    lab.mark(
        None,
        "07:57: one server's RPC in and out black-holed; its membership stays up",
    );
    let hole = black_hole(lab, &chat, &clients, &scale).await?;

    lab.phase("mitigate").await;
    lab.mark(
        None,
        "09:10: the faulty machine removed; the cluster restarted into the reconnect storm",
    );
    let cut_off = take_out(lab, &chat, hole).await?;
    restart(lab, &chat, &clients, &scale).await?;

    // Let the reconnected clients talk, then judge every message.
    lab.phase("recover").await;
    watch(lab, &chat, &clients, Duration::from_secs(5)).await;
    let offset = clients.offset;
    let h = clients.quiesce().await;
    crate::chat::judge_delivery(lab, h, offset, &[cut_off]);
    lab.finish().await
}

/// The cluster: every node's RPC behind Toxiproxy (to black-hole one), the
/// fd limit and the handshake cost of the day, and the gateway of 2015
/// with the switches of each mitigation in force.
fn cluster(lab: &LabCtx, scale: &Scale) -> ChatGatewayCluster {
    let fixed = Switches::fixed();
    let mut s = Switches {
        handshake_slots: scale.handshake_slots,
        ..Switches::as_in_2015()
    };
    if lab.mitigated("bounded_backlog") {
        s.backlog = fixed.backlog;
        s.rpc_timeout = fixed.rpc_timeout;
    }
    if lab.mitigated("evict_bad_peer") {
        s.evict_after = fixed.evict_after;
    }
    let flow_control = lab.mitigated("flow_control");
    if flow_control {
        s.fd_guard = fixed.fd_guard;
        s.handshake_queue_timeout = fixed.handshake_queue_timeout;
        s.shed_above = fixed.shed_above;
    }
    ChatGatewayCluster::nodes(scale.nodes)
        .with_switches(s)
        .with_router_awaiting_convergence(flow_control)
        .with_rpc_proxy()
        .with_nofile(scale.nofile)
        .with_handshake_cost_ms(scale.handshake_cost_ms)
}

/// Every client online, in rooms of `room_size`; the day's SDK retried
/// without closing the old connection, the fixed one backs off.
async fn connect(lab: &LabCtx, chat: &ChatGatewayClusterHandle, scale: &Scale) -> Result<Clients> {
    let (rooms, body_bytes) = ((scale.clients / scale.room_size).max(1), scale.body_bytes);
    let backoff = lab.mitigated("client_backoff");
    let config = |mut cfg: SimConfig| {
        cfg.rooms = rooms;
        cfg.body_bytes = body_bytes;
        cfg.ramp_per_sec = 100;
        cfg.with_policy(if backoff {
            ReconnectPolicy::backoff()
        } else {
            ReconnectPolicy::naive()
        })
    };
    Clients::online(lab, chat, config, scale.clients, Duration::from_secs(90)).await
}

/// Samples the nodes and the clients once a second for `d`.
async fn watch(
    lab: &LabCtx,
    chat: &ChatGatewayClusterHandle,
    clients: &Clients,
    d: Duration,
) -> Vec<BTreeMap<String, NodeMetrics>> {
    let mut out = Vec::new();
    let end = tokio::time::Instant::now() + d;
    while tokio::time::Instant::now() < end {
        out.push(chat.sample().await);
        clients.sample(lab);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    out
}

/// The fault: the last node's RPC black-holed for `scale.fault` while its
/// membership stays up. Checks the day's signature (the healthy nodes'
/// backlog to it and their memory growing without bound, the node still a
/// member) and the fix's bound. The black hole stays: [`take_out`] ends it.
async fn black_hole(
    lab: &LabCtx,
    chat: &ChatGatewayClusterHandle,
    clients: &Clients,
    scale: &Scale,
) -> Result<BlackHole> {
    let faulty = scale.nodes; // the last node
    let guard = lab.inject(chat.black_hole_rpc(faulty)?).await?;
    let cut_from = lab.now();
    let samples = watch(lab, chat, clients, scale.fault).await;
    let healthy: Vec<String> = (1..scale.nodes).map(|i| format!("node-{i}")).collect();
    let faulty_name = format!("node-{faulty}");
    let pending_at = |k: usize| -> u64 {
        healthy
            .iter()
            .filter_map(|n| samples[k].get(n))
            .map(|m| m.pending_rpcs.get(&faulty_name).copied().unwrap_or(0))
            .sum()
    };
    let rss_mb_at = |k: usize| -> f64 {
        healthy
            .iter()
            .filter_map(|n| samples[k].get(n))
            .map(|m| m.rss_bytes as f64)
            .sum::<f64>()
            / 1048576.0
    };
    let last = samples.len() - 1;
    let quarters = [last / 4, last / 2, 3 * last / 4, last];
    let pending: Vec<u64> = quarters.iter().map(|k| pending_at(*k)).collect();
    // Without bound: rising at every quarter, and the last quarter well past
    // the half-way mark. Steady growth from zero gives a ratio of 2 at the
    // end over the half; a bounded backlog flattens to about 1. The margin
    // sits between the two, not on the steady-growth value itself.
    let growth = pending[3] as f64 / pending[1].max(1) as f64;
    let growing = pending.windows(2).all(|w| w[1] > w[0]) && growth >= 1.5;
    let rss_growth = rss_mb_at(last) - rss_mb_at(0);
    // The largest backlog any node held for any one peer.
    let peak_pending = samples
        .iter()
        .flat_map(|m| m.values().flat_map(|x| x.pending_rpcs.values().copied()))
        .max()
        .unwrap_or(0);
    let still_member = chat
        .router_metrics()
        .await
        .map(|m| m.nodes.contains_key(&faulty_name))
        .unwrap_or(false);
    // The black hole itself: nothing may reach the faulty node's RPC
    // server (from 1 s in, past what was in flight at inject). Requests
    // that still crossed it would be delivered, and the run would judge a
    // fault that did not happen.
    let received_at = |k: usize| {
        samples
            .get(k)
            .and_then(|m| m.get(&faulty_name))
            .map(|m| m.rpc_delivers_received)
    };
    let crossed = match (received_at(1), received_at(last)) {
        (Some(from), Some(to)) => Some(to.saturating_sub(from)),
        _ => None,
    };
    let (held, detail) = match crossed {
        Some(n) => (
            Verdict::from_bool(n == 0),
            format!("RPC calls {faulty_name} received from its peers during the black hole: {n} (must be 0)"),
        ),
        None => (
            Verdict::Unknown,
            format!("{faulty_name}'s RPC counter was not read during the black hole"),
        ),
    };
    lab.check(
        Check::new("fault.black_hole_held", CheckKind::Always, held, detail)
            .with_figure("rpc_delivers_received", crossed.unwrap_or(0) as f64),
    );
    lab.figure("chat.peak_pending_rpcs", peak_pending as f64);
    lab.figure("chat.healthy_rss_growth_mb", rss_growth);
    lab.check(
        Check::signature(
            "chat.backlog_grows",
            growing && rss_growth > 4.0 && still_member,
            format!(
                "pending RPCs to {faulty_name} on healthy nodes at each quarter of the fault: {pending:?}; their memory grew {rss_growth:.1} MB; {faulty_name} still a member: {still_member}"
            ),
        )
        .with_figure("peak_pending", peak_pending as f64)
        .with_figure("rss_growth_mb", rss_growth)
        // Margins: the end-to-half backlog ratio against 1.5 (steady
        // growth gives 2, a bounded backlog about 1), memory against 4 MB.
        .with_figure("growth_end_over_half", growth),
    );
    lab.check(
        Check::requirement(
            "chat.backlog_bounded",
            peak_pending <= 256,
            format!("peak pending RPCs to one peer: {peak_pending} (fixed bound: 256)"),
        )
        .with_figure("peak_pending", peak_pending as f64),
    );
    Ok(BlackHole {
        faulty,
        guard,
        cut_from,
    })
}

/// The black-holed node, cut off since `cut_from`.
struct BlackHole {
    faulty: usize,
    guard: FaultGuard,
    cut_from: Duration,
}

/// Takes the faulty node out, then ends its black hole: out first, because
/// lifting it closes the black-holed connections and the peers reconnect
/// at once; with the node still up, their next calls would reach it (a
/// race with the restart). Returns the span the node was unreachable.
async fn take_out(
    lab: &LabCtx,
    chat: &ChatGatewayClusterHandle,
    hole: BlackHole,
) -> Result<(String, Duration, Duration)> {
    chat.stop_node(hole.faulty).await?;
    let name = format!("node-{}", hole.faulty);
    lab.mitigation(format!("{name} taken out"));
    hole.guard.heal().await?;
    Ok((name, hole.cut_from, lab.now()))
}

/// The restart: on the day the router switched to random assignment and
/// every client stormed back at once; fixed, admission opens 15/30/50/70/100%
/// and the clients back off. Checks the day's signature (reconnects failing,
/// fds filling) and recovery: 95% of the clients back within the budget.
async fn restart(
    lab: &LabCtx,
    chat: &ChatGatewayClusterHandle,
    clients: &Clients,
    scale: &Scale,
) -> Result<()> {
    let graduated = lab.mitigated("graduated_admission");
    if graduated {
        chat.set_admission(RAMP[0]).await?;
        lab.mitigation(format!("admission {}%", RAMP[0]));
    } else {
        chat.set_strategy(Strategy::Random).await?;
        lab.mitigation("router switched to random assignment");
    }
    lab.mitigation("cluster restarted");
    let restart_at = lab.now();
    chat.restart_all(Duration::from_secs(60)).await?;
    let ramp = {
        let chat = chat.clone();
        let lab = lab.clone();
        let step = scale.ramp_step;
        tokio::spawn(async move {
            if !graduated {
                return Ok::<(), anyhow::Error>(());
            }
            for pct in &RAMP[1..] {
                tokio::time::sleep(step).await;
                chat.set_admission(*pct).await?;
                lab.mitigation(format!("admission {pct}%"));
            }
            Ok(())
        })
    };
    let mut recovered_at = None;
    let mut peak_fds = 0u64;
    let mut peak_conns = 0u64;
    let mut accept_errors = 0u64;
    let watch_end = tokio::time::Instant::now() + scale.restart_watch;
    let threshold = (scale.clients as f64 * 0.95).ceil() as usize;
    let attempts_before = clients.sim.stats();
    while tokio::time::Instant::now() < watch_end {
        let ms = chat.sample().await;
        for m in ms.values() {
            peak_fds = peak_fds.max(m.fds);
            peak_conns = peak_conns.max(m.connections);
            accept_errors = accept_errors.max(m.accept_errors);
        }
        clients.sample(lab);
        if clients.sim.stats().online >= threshold && recovered_at.is_none() {
            recovered_at = Some(lab.now());
            lab.mark(None, "95% of clients back online");
            if graduated {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = ramp.await;
    let s = clients.sim.stats();
    let failed_connects = s.failed_attempts - attempts_before.failed_attempts;
    let reconnect_secs = (lab.now() - restart_at).as_secs_f64().max(1.0);
    lab.figure(
        "chat.reconnect_attempts_per_sec",
        (s.attempts - attempts_before.attempts) as f64 / reconnect_secs,
    );
    lab.figure("chat.failed_connects", failed_connects as f64);
    lab.figure("chat.peak_fds", peak_fds as f64);
    lab.figure("chat.peak_connections", peak_conns as f64);
    lab.figure("chat.accept_errors", accept_errors as f64);
    let fd_exhausted = peak_fds as f64 >= 0.9 * scale.nofile as f64 || accept_errors > 0;
    lab.check(
        Check::signature(
            "chat.restart_storm",
            recovered_at.is_none() && failed_connects > 0 && fd_exhausted,
            format!(
                "{} of {} clients online {:.0}s after the restart; {failed_connects} failed connects; peak fds {peak_fds} of {}; accept errors {accept_errors}",
                s.online,
                scale.clients,
                reconnect_secs,
                scale.nofile
            ),
        )
        .with_figure("failed_connects", failed_connects as f64)
        .with_figure("peak_fds", peak_fds as f64)
        // Margin: peak fds as a share of the limit, against 0.9.
        .with_figure("peak_fds_over_limit", peak_fds as f64 / scale.nofile as f64),
    );
    lab.check(
        Watched::from(restart_at, "restart", "95% of clients back online")
            .watched_for(scale.restart_watch)
            .budget(lab.spec().budget)
            .check(recovered_at),
    );
    Ok(())
}
