//! Weibo, 2017-10-08: a celebrity post turns one key hot; writes (likes,
//! comments) surge 10x+ within seconds and fan out to every follower. Here:
//! a hot chat room, a surge of messages and reactions into it fanned out to
//! every member. Before: the core path (send -> deliver) of every *other*
//! room degrades past the SLO. After: non-core work (reactions) is shed
//! under load and a node is added during the surge (scale-out through
//! Consul membership): other rooms stay within the SLO, the hot room
//! recovers within budget, nothing lost or duplicated.

use anyhow::Result;
use fixtures::chat::ChatGatewayCluster;
use gateway::sim::{Load, ReconnectPolicy, Simulator};
use harness::checker::Check;
use harness::lab::Lab;
use harness::report::Report;
use harness::spec::Variant;
use std::time::Duration;

/// How big the incident is.
#[derive(Clone, Debug)]
pub struct Scale {
    /// Connection nodes at the start.
    pub nodes: usize,
    /// Simulated clients.
    pub clients: usize,
    /// Members per ordinary room.
    pub room_size: usize,
    /// Members of the hot room.
    pub hot_members: usize,
    /// Ordinary messages per second (all rooms).
    pub rate: f64,
    /// Sends per second into the hot room before the surge.
    pub hot_rate: f64,
    /// Sends per second into the hot room during the surge.
    pub surge_rate: f64,
    /// Share of the surge that is reactions (non-core).
    pub reaction_share: f64,
    /// Modelled per-recipient fan-out cost (µs): a node's delivery capacity.
    pub fanout_cost_us: u64,
    /// The core-path SLO: p99 send-to-deliver latency.
    pub slo: Duration,
    /// How long the surge lasts.
    pub surge: Duration,
    /// How long to wait for the hot room to recover after the surge.
    pub recover_watch: Duration,
}

impl Scale {
    /// Fits 2 cores.
    pub fn ci() -> Scale {
        Scale {
            nodes: 2,
            clients: 300,
            room_size: 10,
            hot_members: 200,
            rate: 20.0,
            hot_rate: 2.0,
            surge_rate: 250.0,
            reaction_share: 0.95,
            fanout_cost_us: 300,
            slo: Duration::from_millis(500),
            surge: Duration::from_secs(20),
            recover_watch: Duration::from_secs(30),
        }
    }
}

/// Without degradation or scale-out: must reproduce the SLO breach.
pub async fn before(lab: &mut Lab, scale: Scale) -> Result<Report> {
    run(lab, scale, Variant::Before).await
}

/// With shedding and scale-out: other rooms within SLO, hot room recovers.
pub async fn after(lab: &mut Lab, scale: Scale) -> Result<Report> {
    run(lab, scale, Variant::After).await
}

fn p99(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * 0.99).ceil() as usize)
        .saturating_sub(1)
        .min(v.len() - 1)]
}

async fn run(lab: &mut Lab, scale: Scale, variant: Variant) -> Result<Report> {
    let fixed = variant == Variant::After;
    let mut cluster = ChatGatewayCluster::nodes(scale.nodes)
        .fixed()
        .with_fanout_cost_us(scale.fanout_cost_us);
    if !fixed {
        cluster = cluster.with_node_arg("--shed-above=0");
    }
    let chat = lab.start(cluster).await?;
    let mut cfg = chat.sim_config(scale.clients);
    cfg.rooms = (scale.clients / scale.room_size).max(1);
    cfg.hot_members = scale.hot_members;
    cfg.seed = lab.seed();
    cfg.ramp_per_sec = 200;
    cfg.policy = ReconnectPolicy::backoff();
    let sim_offset = lab.now();
    let sim = Simulator::start(cfg);
    sim.wait_online(scale.clients, Duration::from_secs(60))
        .await?;
    let sim_t = |lab_t: Duration| (lab_t.saturating_sub(sim_offset)).as_secs_f64();

    lab.phase("steady").await;
    let steady = Load {
        rate: scale.rate,
        hot_rate: scale.hot_rate,
        hot_reaction_share: scale.reaction_share,
    };
    sim.set_load(steady);
    let steady_from = sim_t(lab.now());
    tokio::time::sleep(Duration::from_secs(8)).await;
    let steady_to = sim_t(lab.now());

    lab.phase("fault").await;
    lab.mark(
        None,
        format!(
            "hot room surge: {}/s into {} members",
            scale.surge_rate, scale.hot_members
        ),
    );
    sim.set_load(Load {
        hot_rate: scale.surge_rate,
        ..steady
    });
    let surge_from = sim_t(lab.now());
    let mut added = 0;
    let surge_end = tokio::time::Instant::now() + scale.surge;
    let mut peak_queue = 0u64;
    while tokio::time::Instant::now() < surge_end {
        let ms = chat.sample().await;
        peak_queue = peak_queue.max(ms.values().map(|m| m.dispatch_queue).max().unwrap_or(0));
        lab.sample("replicas", ms.len() as f64);
        if fixed && added == 0 && tokio::time::Instant::now() + scale.surge / 2 > surge_end {
            lab.mitigation("scale-out: one more node");
            chat.add_node().await?;
            added += 1;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let surge_to = sim_t(lab.now());
    lab.phase("recover").await;
    sim.set_load(steady);
    let recover_from = lab.now();
    // The hot room has recovered when its p99 over a 3 s window is back
    // within the SLO.
    let mut recovered_at = None;
    let watch_end = tokio::time::Instant::now() + scale.recover_watch;
    while tokio::time::Instant::now() < watch_end {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let ms = chat.sample().await;
        lab.sample("replicas", ms.len() as f64);
        let now = sim_t(lab.now());
        let h = sim.history();
        let hot = h
            .latencies_by_room(now - 3.0, now - 0.5)
            .remove("hot")
            .unwrap_or_default();
        let queues: u64 = ms.values().map(|m| m.dispatch_queue).sum();
        if !hot.is_empty() && p99(hot) <= scale.slo.as_secs_f64() && queues < 10 {
            recovered_at = Some(lab.now());
            lab.mark(None, "hot room back within SLO");
            break;
        }
    }
    sim.set_load(Load::default());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let shed: u64 = chat.all_metrics().await.values().map(|m| m.shed).sum();
    let h = sim.stop().await;

    let lat = |from: f64, to: f64| {
        let mut others = Vec::new();
        let mut hot = Vec::new();
        for (room, v) in h.latencies_by_room(from, to) {
            if room == "hot" {
                hot.extend(v)
            } else {
                others.extend(v)
            }
        }
        (p99(others), p99(hot))
    };
    let (steady_other, _) = lat(steady_from, steady_to);
    let (surge_other, surge_hot) = lat(surge_from, surge_to);
    lab.figure("chat.p99_other_rooms_steady_ms", steady_other * 1000.0);
    lab.figure("chat.p99_other_rooms_surge_ms", surge_other * 1000.0);
    lab.figure("chat.p99_hot_room_surge_ms", surge_hot * 1000.0);
    lab.figure("chat.shed", shed as f64);
    lab.figure("chat.peak_dispatch_queue", peak_queue as f64);
    lab.figure("chat.replicas_added", added as f64);
    let slo = scale.slo.as_secs_f64();
    let breached = surge_other > slo;
    lab.check(
        Check::signature(
            "chat.other_rooms_past_slo",
            breached,
            format!(
                "p99 send-to-deliver of other rooms: {:.0} ms steady, {:.0} ms during the surge (SLO {:.0} ms)",
                steady_other * 1000.0,
                surge_other * 1000.0,
                slo * 1000.0
            ),
        )
        .with_figure("p99_surge_ms", surge_other * 1000.0),
    );
    lab.check(
        Check::requirement(
            "chat.other_rooms_within_slo",
            !breached,
            format!("p99 of other rooms during the surge {:.0} ms (SLO {:.0} ms); {shed} reactions shed; {added} node(s) added", surge_other * 1000.0, slo * 1000.0),
        )
        .with_figure("p99_surge_ms", surge_other * 1000.0),
    );
    let budget = lab.spec().budget;
    let recovery = recovered_at.map(|t| t - recover_from);
    let mut check = Check::requirement(
        "availability.recovery",
        recovery.is_some_and(|r| r <= budget),
        match recovery {
            Some(r) => format!(
                "hot room p99 within SLO {:.1}s after the surge (budget {budget:?})",
                r.as_secs_f64()
            ),
            None => format!(
                "hot room not back within SLO {:?} after the surge",
                scale.recover_watch
            ),
        },
    );
    if let Some(r) = recovery {
        check = check.with_figure("recovery_secs", r.as_secs_f64());
    }
    lab.check(check);

    crate::chat::judge_delivery(lab, h, sim_offset, &[]);
    lab.finish().await
}
