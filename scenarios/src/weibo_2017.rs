//! Weibo, 2017-10-08: a celebrity post turns one key hot; writes (likes,
//! comments) surge 10x+ within seconds and fan out to every follower. Here:
//! a hot chat room, a surge of messages and reactions into it fanned out to
//! every member. Before: the core path (send -> deliver) of every *other*
//! room degrades past the SLO. After: non-core work (reactions) is shed
//! under load and a node is added during the surge (scale-out through
//! Consul membership): other rooms stay within the SLO, the hot room
//! recovers within budget, nothing lost or duplicated.
//!
//! Each fix is a mitigation the dossier names ([`MITIGATIONS`]), asked of
//! the lab where it changes what runs.

use crate::chat::Clients;
use anyhow::Result;
use fixtures::chat::{ChatGatewayCluster, ChatGatewayClusterHandle, Switches};
use gateway::sim::{Load, ReconnectPolicy, SimConfig, SimHistory};
use harness::checker::availability::Watched;
use harness::checker::Check;
use harness::lab::LabCtx;
use harness::report::Report;
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

/// The mitigations this scenario switches, by the dossier's names.
pub const MITIGATIONS: [&str; 2] = ["shed_non_core", "scale_out"];

/// The incident, with the mitigations the lab has in force: none
/// (*before*) neither degrades nor scales out; all (*after*) sheds
/// reactions under load and adds a node half-way through the surge. Its
/// phases follow the postmortem's timeline.
pub async fn run(lab: &LabCtx, scale: Scale) -> Result<Report> {
    let chat = lab.start(cluster(lab, &scale)).await?;
    let clients = connect(lab, &chat, &scale).await?;

    lab.phase("steady").await;
    let steady = Load {
        rate: scale.rate,
        hot_rate: scale.hot_rate,
        hot_reaction_share: scale.reaction_share,
    };
    clients.sim.set_load(steady);
    let steady_from = clients.sim_secs(lab.now());
    tokio::time::sleep(Duration::from_secs(8)).await;
    let steady_window = (steady_from, clients.sim_secs(lab.now()));

    lab.phase("fault").await;
    lab.mark(
        None,
        format!(
            "+5m: the celebrity post: a surge of {}/s into one room of {} members",
            scale.surge_rate, scale.hot_members
        ),
    );
    let surge = surge(lab, &chat, &clients, &scale, steady).await?;

    lab.phase("recover").await;
    lab.mark(None, "+30m: the peak flattens");
    clients.sim.set_load(steady);
    let recover_from = lab.now();
    let recovered_at = hot_room_recovered(lab, &chat, &clients, &scale).await;
    let offset = clients.offset;
    let h = clients.quiesce().await;
    let shed: u64 = chat.all_metrics().await.values().map(|m| m.shed).sum();

    other_rooms_checks(lab, &h, &scale, steady_window, &surge, shed);
    lab.check(
        Watched::from(recover_from, "surge", "hot room p99 within the SLO")
            .watched_for(scale.recover_watch)
            .budget(lab.spec().budget)
            .check(recovered_at),
    );
    crate::chat::judge_delivery(lab, h, offset, &[]);
    lab.finish().await
}

/// The cluster: today's gateway; without `shed_non_core`, nothing is shed
/// however long the dispatch queue grows.
fn cluster(lab: &LabCtx, scale: &Scale) -> ChatGatewayCluster {
    let mut switches = Switches::fixed();
    if !lab.mitigated("shed_non_core") {
        switches.shed_above = None;
    }
    ChatGatewayCluster::nodes(scale.nodes)
        .with_switches(switches)
        .with_fanout_cost_us(scale.fanout_cost_us)
}

/// Every client online: ordinary rooms of `room_size` and one hot room.
async fn connect(lab: &LabCtx, chat: &ChatGatewayClusterHandle, scale: &Scale) -> Result<Clients> {
    let (rooms, hot_members) = ((scale.clients / scale.room_size).max(1), scale.hot_members);
    let config = |mut cfg: SimConfig| {
        cfg.rooms = rooms;
        cfg.hot_members = hot_members;
        cfg.ramp_per_sec = 200;
        cfg.with_policy(ReconnectPolicy::backoff())
    };
    Clients::online(lab, chat, config, scale.clients, Duration::from_secs(60)).await
}

/// What the surge did: its span on the simulator's clock, the longest
/// dispatch queue seen, the nodes added.
struct Surge {
    window: (f64, f64),
    peak_queue: u64,
    added: usize,
}

/// The surge into the hot room for `scale.surge`. Fixed, a node is added
/// half-way through it (scale-out through Consul membership), as Weibo
/// added servers while the peak lasted.
async fn surge(
    lab: &LabCtx,
    chat: &ChatGatewayClusterHandle,
    clients: &Clients,
    scale: &Scale,
    steady: Load,
) -> Result<Surge> {
    clients.sim.set_load(Load {
        hot_rate: scale.surge_rate,
        ..steady
    });
    let from = clients.sim_secs(lab.now());
    let end = tokio::time::Instant::now() + scale.surge;
    let mut peak_queue = sample_until(lab, chat, end - scale.surge / 2).await;
    let mut added = 0;
    if lab.mitigated("scale_out") {
        lab.mark(None, "+15m: stateless tiers scaled out");
        lab.mitigation("scale-out: one more node");
        chat.add_node().await?;
        added += 1;
    }
    peak_queue = peak_queue.max(sample_until(lab, chat, end).await);
    Ok(Surge {
        window: (from, clients.sim_secs(lab.now())),
        peak_queue,
        added,
    })
}

/// Samples the replicas once a second until `end`: the longest dispatch
/// queue seen.
async fn sample_until(
    lab: &LabCtx,
    chat: &ChatGatewayClusterHandle,
    end: tokio::time::Instant,
) -> u64 {
    let mut peak = 0;
    while tokio::time::Instant::now() < end {
        let ms = chat.sample().await;
        peak = peak.max(ms.values().map(|m| m.dispatch_queue).max().unwrap_or(0));
        lab.sample("replicas", ms.len() as f64);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    peak
}

/// When the hot room was back: its p99 over a 3 s window within the SLO
/// and the dispatch queues drained, watched for `scale.recover_watch`.
async fn hot_room_recovered(
    lab: &LabCtx,
    chat: &ChatGatewayClusterHandle,
    clients: &Clients,
    scale: &Scale,
) -> Option<Duration> {
    let watch_end = tokio::time::Instant::now() + scale.recover_watch;
    while tokio::time::Instant::now() < watch_end {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let ms = chat.sample().await;
        lab.sample("replicas", ms.len() as f64);
        let now = clients.sim_secs(lab.now());
        let hot = clients
            .sim
            .history()
            .latencies_by_room(now - 3.0, now - 0.5)
            .remove("hot")
            .unwrap_or_default();
        let queues: u64 = ms.values().map(|m| m.dispatch_queue).sum();
        if !hot.is_empty() && p99(hot) <= scale.slo.as_secs_f64() && queues < 10 {
            lab.mark(None, "hot room back within SLO");
            return Some(lab.now());
        }
    }
    None
}

/// The core path of every other room: past the SLO during the surge is the
/// day's signature; within it, the fix's requirement.
fn other_rooms_checks(
    lab: &LabCtx,
    h: &SimHistory,
    scale: &Scale,
    steady: (f64, f64),
    surge: &Surge,
    shed: u64,
) {
    let lat = |(from, to): (f64, f64)| {
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
    let (steady_other, _) = lat(steady);
    let (surge_other, surge_hot) = lat(surge.window);
    let added = surge.added;
    lab.figure("chat.p99_other_rooms_steady_ms", steady_other * 1000.0);
    lab.figure("chat.p99_other_rooms_surge_ms", surge_other * 1000.0);
    lab.figure("chat.p99_hot_room_surge_ms", surge_hot * 1000.0);
    lab.figure("chat.shed", shed as f64);
    lab.figure("chat.peak_dispatch_queue", surge.peak_queue as f64);
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
