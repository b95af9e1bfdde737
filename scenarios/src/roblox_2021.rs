//! Roblox, 2021-10-28 to 10-31: a 73-hour outage of the Consul cluster
//! every backend service depended on (`roblox-2021-consul`).
//!
//! One concept, one file: one postmortem's scenario, its phases in
//! timeline order.
//!
//! Two causes, both reproduced on a real Consul cluster:
//! 1. **Streaming contention**: streaming (server-pushed health updates)
//!    had been enabled the day before for the busiest service; under heavy
//!    read and write load its single per-topic event buffer blocked
//!    writes. Disabling streaming everywhere brought KV write p50 back.
//! 2. **Slow leaders from the BoltDB freelist**: the Raft log lives in
//!    BoltDB, which never shrinks; after snapshots truncate the log, the
//!    freed pages go on a freelist that is written on *every* commit. A
//!    leader with a large freelist makes every Raft write slow; the team
//!    kept such servers from leading.
//!
//! `before` (the pre-fix Consul, `ConsulVersion::Legacy`):
//! `steady` (watchers on blocking queries, KV writers, health churn) →
//! `rollout` (streaming enabled on the agents: a configuration roll-out,
//! the fault of 10-27) → `streaming` (the same load through streaming) →
//! `bloat` (large values, then a snapshot truncating the leader's log: its
//! freelist grows) → `fault` (the same load on the degraded leader).
//! Signatures: the leader's log-store write time up several-fold with the
//! grown freelist; and streaming contention, measured in the same run (KV
//! write p50/p99 with streaming ÷ with blocking queries). On a 2-core
//! machine the contention does not reproduce (Roblox's needed 128 cores),
//! so its check is *unknown*, not valid: the report, index and JUnit file
//! name it as not reproduced, with the ratio and what it would need, and
//! the scenario states that the incident passes with it undecided
//! (`UnknownPolicy::Pass`; the incident's verdict is `unknown`).
//!
//! `after` (the current Consul): the same `steady` → `bloat` → `fault`,
//! then `mitigate` (leadership moved off the degraded server, then a
//! rolling restart disabling streaming and enabling `no_freelist_sync`) →
//! `recover`. The two fixes the dossier names ([`MITIGATIONS`]) are asked
//! of the lab, so an ablation can leave either out. Requirements: KV write p50 and the leader's log-store write
//! time back within a factor of the pre-bloat baseline of the same run, no
//! acknowledged write lost, no stale read, service recovered within the
//! budget; leader changes and time without a leader are reported.

use anyhow::{bail, Context, Result};
use fixtures::consul::workload::{
    list_kv, register_services, Bloat, BloatResult, CasRegister, HealthChurn, HealthWatch,
    KvWrites, ServiceRef, WatchStats,
};
use fixtures::consul::{
    ClusterConfig, ConfigRollout, ConsulCluster, ConsulClusterHandle, ConsulVersion, LogStore,
    FREELIST_GAUGE,
};
use harness::checker::availability::Recovery;
use harness::checker::integrity::{Register, Set};
use harness::checker::latency::{self, LatencySummary};
use harness::checker::{Check, CheckKind, Inconclusive, UnknownPolicy, Verdict};
use harness::history::{History, Op, OpStatus};
use harness::lab::LabCtx;
use harness::report::Report;
use harness::spec::Variant;
use harness::workload::{RunningWorkload, WorkloadRunner};
use std::sync::Arc;
use std::time::Duration;

/// The signature: the leader's log-store write time (Raft's
/// `raft.leader.dispatchLog`, which times the BoltDB `StoreLogs` call)
/// with the grown freelist ÷ before it, at the same load.
pub const FREELIST_SIGNATURE_RATIO: f64 = 2.0;

/// The streaming-contention threshold: KV write p50 with streaming ÷ with
/// blocking queries at the same load. Roblox saw seconds instead of
/// milliseconds; twice is a clear effect at any scale.
pub const STREAMING_CONTENTION_RATIO: f64 = 2.0;

/// Cores under which streaming contention not showing proves nothing:
/// Roblox's servers had 128. Below it, no contention is *unknown* (not
/// reproduced at this scale), never a pass of the signature or its absence.
pub const STREAMING_CONTENTION_CORES: usize = 128;

/// After the fixes, KV write p50 (and the leader's log-store write time)
/// must be within this factor of the pre-bloat baseline of the same run
/// (the recover phase follows a rolling restart and runs blocking queries
/// instead of streaming; on a shared 2-core machine its p50 measured
/// x1.4 of the baseline, while the grown freelist raised it x1.5-3.1)...
pub const RECOVERED_FACTOR: f64 = 2.0;

/// ...or within this many milliseconds of it (scheduling noise dominates
/// at millisecond baselines on a shared machine)...
pub const RECOVERED_SLACK_MS: f64 = 2.0;

/// For the leader's log-store write time, the share of what the freelist
/// added that must be gone (even with `no_freelist_sync`, BoltDB's array
/// freelist still costs O(free pages) of bookkeeping per commit).
pub const RECOVERED_SHARE: f64 = 0.6;

/// ...and, for the leader's log-store write time (a fraction of a
/// millisecond on tmpfs), within this many.
pub const RECOVERED_DISPATCH_SLACK_MS: f64 = 0.5;

/// The smallest freelist that counts as grown (bytes written per commit):
/// 128 KiB is 16,384 free pages, 64 MiB of freed log.
pub const MIN_FREELIST_BYTES: f64 = 128.0 * 1024.0;

/// BoltDB's page size on Linux/amd64.
const PAGE: f64 = 4096.0;

/// The KV prefix of the writers (a set) and the register key.
const KV_PREFIX: &str = "load";
const REGISTER_KEY: &str = "register";

/// How big a run is. Defaults fit a 2-core, 24 GB machine shared with other
/// work; see [`Scale::large`] for bigger machines.
#[derive(Clone, Debug)]
pub struct Scale {
    /// Consul servers (3 or 5).
    pub servers: usize,
    /// Client agents (the watchers' and the health checks' agents).
    pub agents: usize,
    /// Services with TTL checks, spread over the agents.
    pub services: usize,
    /// Concurrent watchers (blocking health queries through the agents).
    pub watchers: u32,
    /// Health-check flips per second (each a Raft write and an event).
    pub churn_rate: f64,
    /// Concurrent KV writers.
    pub writers: u32,
    /// KV writes per second, all writers together.
    pub write_rate: f64,
    /// Compare-and-set register clients, and their operations per second.
    pub cas_clients: u32,
    /// Register operations per second, all clients together.
    pub cas_rate: f64,
    /// Large values written to grow the Raft log.
    pub bloat_values: usize,
    /// Bytes per large value.
    pub bloat_value_size: usize,
    /// Raft entries kept after the snapshot truncates the log.
    pub trailing_logs: u64,
    /// How long each measured phase runs (at least 20 s: Consul's metrics
    /// come in 10-second intervals and a window needs a whole one).
    pub window: Duration,
}

impl Default for Scale {
    /// 3 servers, 2 agents, 32 services, 128 watchers, 10 flips/s, 4
    /// writers at 40 writes/s, 2 register clients at 4 ops/s, 2,000 values
    /// of 256 KiB (500 MiB of log; each server's data tmpfs about 1 GiB),
    /// 100 trailing logs, 20 s windows.
    fn default() -> Self {
        Scale {
            servers: 3,
            agents: 2,
            services: 32,
            watchers: 128,
            churn_rate: 10.0,
            writers: 4,
            write_rate: 40.0,
            cas_clients: 2,
            cas_rate: 4.0,
            bloat_values: 2000,
            bloat_value_size: 256 * 1024,
            trailing_logs: 100,
            window: Duration::from_secs(20),
        }
    }
}

impl Scale {
    /// The suite's scale: the defaults (each incident about 2-3 minutes here).
    pub fn ci() -> Self {
        Scale::default()
    }

    /// For a machine with 8+ cores and fast disks: 5 servers, 8 agents,
    /// 256 services, 2,000 watchers, 200 flips/s, 16 writers at 400/s,
    /// 4,000 values of 256 KiB (1 GiB of log), 30 s windows. The streaming
    /// contention grows with cores (Roblox ran 128); try this scale there.
    pub fn large() -> Self {
        Scale {
            servers: 5,
            agents: 8,
            services: 256,
            watchers: 2000,
            churn_rate: 200.0,
            writers: 16,
            write_rate: 400.0,
            cas_clients: 4,
            cas_rate: 20.0,
            bloat_values: 4000,
            bloat_value_size: 256 * 1024,
            trailing_logs: 100,
            window: Duration::from_secs(30),
        }
    }

    /// Fails with the fix on a scale that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.agents == 0 || self.services == 0 || self.watchers == 0 {
            bail!("Scale: the watch + write mix needs agents, services and watchers (all > 0)");
        }
        if self.writers == 0 || self.write_rate <= 0.0 {
            bail!("Scale: KV writers and a write rate are needed (writers > 0, write_rate > 0)");
        }
        if self.window < Duration::from_secs(20) {
            bail!(
                "Scale::window {:?} is too short: Consul's metrics come in 10 s intervals; use at least 20 s",
                self.window
            );
        }
        if self.trailing_logs as usize >= self.bloat_values {
            bail!("Scale: bloat_values ({}) must exceed trailing_logs ({}) or the snapshot frees nothing", self.bloat_values, self.trailing_logs);
        }
        Ok(())
    }

    /// The tmpfs each server keeps its data on: the whole Raft log of the
    /// bloat (followers never truncate) plus room.
    pub fn data_tmpfs_bytes(&self) -> u64 {
        (self.bloat_values as u64 * self.bloat_value_size as u64) * 3 / 2 + (256 << 20)
    }

    fn cluster(&self, version: ConsulVersion, config: ClusterConfig) -> ConsulCluster {
        ConsulCluster::servers(self.servers)
            .with_version(version)
            .with_config(config)
            .with_agents(self.agents)
            // fsync is free on tmpfs: a Raft write costs what the log store
            // itself does, not what a shared disk does (other tenants'
            // writes, the bloat's own writeback).
            .with_data_on_tmpfs(self.data_tmpfs_bytes())
    }

    fn cluster_config(&self) -> ClusterConfig {
        ClusterConfig {
            streaming: true,
            agent_streaming: None,
            // Set explicitly: fresh data dirs default to WAL from 1.20.
            log_store: LogStore::BOLTDB,
            // Only the explicit snapshot truncates the log.
            snapshot_threshold: Some(1_000_000),
            snapshot_interval: Some(Duration::from_secs(3600)),
            trailing_logs: Some(self.trailing_logs),
            log_level: "INFO".into(),
            prevote_disabled: false,
        }
    }
}

/// The mixed load of the postmortem, running.
struct Load {
    churn: RunningWorkload,
    watchers: RunningWorkload,
    writers: RunningWorkload,
    register: RunningWorkload,
    stats: Arc<WatchStats>,
}

/// The histories the load recorded.
struct Histories {
    kv: History,
    register: History,
    churn: History,
    watch: History,
}

impl Load {
    async fn start(
        lab: &LabCtx,
        consul: &ConsulClusterHandle,
        services: &[ServiceRef],
        scale: &Scale,
    ) -> Result<Load> {
        let churn = WorkloadRunner::new(HealthChurn::new(consul, services, 2))
            .clients(2)
            .rate(scale.churn_rate)
            .start(lab)
            .await?;
        let watch = HealthWatch::new(consul, services);
        let stats = watch.stats();
        let watchers = WorkloadRunner::new(watch)
            .clients(scale.watchers)
            .start(lab)
            .await?;
        let writers = WorkloadRunner::new(KvWrites::new(consul, KV_PREFIX))
            .clients(scale.writers)
            .rate(scale.write_rate)
            .start(lab)
            .await?;
        let register = WorkloadRunner::new(CasRegister::new(consul, REGISTER_KEY))
            .clients(scale.cas_clients.max(1))
            .rate(scale.cas_rate)
            .start(lab)
            .await?;
        Ok(Load {
            churn,
            watchers,
            writers,
            register,
            stats,
        })
    }

    async fn stop(self) -> Histories {
        let (kv, register, churn, watch) = tokio::join!(
            self.writers.stop(),
            self.register.stop(),
            self.churn.stop(),
            self.watchers.stop()
        );
        Histories {
            kv,
            register,
            churn,
            watch,
        }
    }
}

/// The freelist grown on the leader by the bloat and the snapshot.
#[derive(Clone, Debug)]
struct Freelist {
    leader: String,
    raft_db_before: u64,
    raft_db_after: u64,
    /// `raft.boltdb.freelistBytes` (Consul 1.11+), when exposed.
    gauge: Option<f64>,
    /// From the file size: pages beyond the retained log are free, 8 bytes
    /// of freelist each.
    estimate: f64,
    bloat: BloatResult,
}

impl Freelist {
    fn bytes(&self) -> f64 {
        self.gauge.unwrap_or(self.estimate)
    }
}

/// Writes the large values, truncates the leader's log by a snapshot, and
/// measures what it left.
async fn grow_freelist(
    lab: &LabCtx,
    consul: &ConsulClusterHandle,
    scale: &Scale,
) -> Result<Freelist> {
    let leader = consul.leader_name().await?;
    let raft_db_before = consul.raft_db_bytes(&leader).await?;
    lab.mark(
        Some(&leader),
        format!(
            "writing {} values of {} KiB over 8 keys",
            scale.bloat_values,
            scale.bloat_value_size / 1024
        ),
    );
    let bloat = Bloat {
        value_size: scale.bloat_value_size,
        count: scale.bloat_values,
        keys: 8,
        concurrency: 4,
    }
    .run(consul)
    .await?;
    if bloat.written < scale.trailing_logs * 2 {
        bail!(
            "only {} of {} large values were written ({} failed): the cluster could not take the bloat",
            bloat.written,
            scale.bloat_values,
            bloat.failed
        );
    }
    // The snapshot truncates the log of whoever leads now.
    let leader = consul.leader_name().await?;
    consul.snapshot().await?;
    let raft_db_after = consul.raft_db_bytes(&leader).await?;
    let retained = scale.trailing_logs as f64 * scale.bloat_value_size as f64;
    let free_bytes = (raft_db_after as f64 - raft_db_before as f64 - retained).max(0.0);
    let estimate = free_bytes / PAGE * 8.0;
    // The gauge is refreshed every 5 s.
    let mut gauge = None;
    if consul.features().boltdb_metrics {
        tokio::time::sleep(Duration::from_secs(6)).await;
        gauge = consul.gauge_now(&leader, FREELIST_GAUGE).await?;
    }
    let f = Freelist {
        leader,
        raft_db_before,
        raft_db_after,
        gauge,
        estimate,
        bloat,
    };
    lab.figure("freelist.bytes", f.bytes());
    lab.figure("freelist.estimated_bytes", f.estimate);
    if let Some(g) = f.gauge {
        lab.figure("freelist.gauge_bytes", g);
    }
    lab.figure("raft_db.bytes_before", f.raft_db_before as f64);
    lab.figure("raft_db.bytes_after", f.raft_db_after as f64);
    lab.figure("bloat.values_written", f.bloat.written as f64);
    lab.figure("bloat.secs", f.bloat.took.as_secs_f64());
    lab.mark(
        Some(&f.leader),
        format!(
            "freelist grown: {:.0} KiB written on every commit ({}); raft.db {} MiB",
            f.bytes() / 1024.0,
            if f.gauge.is_some() {
                "raft.boltdb.freelistBytes"
            } else {
                "estimated from raft.db: this Consul has no freelist metrics"
            },
            f.raft_db_after >> 20
        ),
    );
    Ok(f)
}

/// The span of phase `name` (its first occurrence).
fn span(lab: &LabCtx, name: &str) -> Result<(Duration, Duration)> {
    lab.timeline()
        .phases(lab.now())
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| (p.start, p.end))
        .with_context(|| format!("no phase `{name}` on the timeline"))
}

fn summary<'a>(s: &'a [LatencySummary], phase: &str) -> Result<&'a LatencySummary> {
    s.iter()
        .find(|x| x.phase == phase && x.count > 0)
        .with_context(|| format!("no acknowledged KV write in phase `{phase}`"))
}

/// Mean of a leader timer over a phase, in ms (`None` if nothing was observed).
fn timer_mean(
    consul: &ConsulClusterHandle,
    lab: &LabCtx,
    metric: &str,
    phase: &str,
) -> Result<Option<f64>> {
    let (from, to) = span(lab, phase)?;
    Ok(consul.metric_window(metric, from, to).mean())
}

const DISPATCH: &str = "consul.raft.leader.dispatchLog";
const COMMIT: &str = "consul.raft.commitTime";
const KVS_APPLY: &str = "consul.kvs.apply";

/// The signature check: the leader's log-store write time with the grown
/// freelist (`fault`) ÷ before it (`baseline`), at the same load.
fn slow_leader_check(
    lab: &LabCtx,
    consul: &ConsulClusterHandle,
    kv: &[LatencySummary],
    freelist: &Freelist,
    baseline: &str,
) -> Result<Check> {
    let before = timer_mean(consul, lab, DISPATCH, baseline)?;
    let after = timer_mean(consul, lab, DISPATCH, "fault")?;
    let mut check = match (before, after) {
        (Some(b), Some(a)) if b > 0.0 => {
            let ratio = a / b;
            let grown = freelist.bytes() >= MIN_FREELIST_BYTES;
            let reproduced = ratio >= FREELIST_SIGNATURE_RATIO && grown;
            Check::signature(
                "log_store.slow_leader",
                reproduced,
                format!(
                    "leader log-store write (raft.leader.dispatchLog) {b:.2} ms -> {a:.2} ms (x{ratio:.1}, needs x{FREELIST_SIGNATURE_RATIO}) with a {:.0} KiB freelist on {} (needs {:.0} KiB)",
                    freelist.bytes() / 1024.0,
                    freelist.leader,
                    MIN_FREELIST_BYTES / 1024.0
                ),
            )
            .with_figure("dispatch_ms_before", b)
            .with_figure("dispatch_ms_after", a)
            .with_figure("dispatch_ratio", ratio)
        }
        _ => Check::new(
            "log_store.slow_leader",
            CheckKind::Signature,
            Verdict::Unknown,
            format!(
                "no leader log-store timings in `{baseline}` or `fault` ({before:?}, {after:?})"
            ),
        ),
    };
    for (metric, key) in [(COMMIT, "commit_ms"), (KVS_APPLY, "kvs_apply_ms")] {
        if let Some(v) = timer_mean(consul, lab, metric, baseline)? {
            check = check.with_figure(format!("{key}_before"), v);
        }
        if let Some(v) = timer_mean(consul, lab, metric, "fault")? {
            check = check.with_figure(format!("{key}_after"), v);
        }
    }
    let (b, a) = (summary(kv, baseline)?, summary(kv, "fault")?);
    check = check
        .with_figure("kv_p50_ms_before", b.p50_ms)
        .with_figure("kv_p50_ms_after", a.p50_ms)
        .with_figure("kv_p99_ms_before", b.p99_ms)
        .with_figure("kv_p99_ms_after", a.p99_ms)
        .with_figure("freelist_bytes", freelist.bytes());
    if let Some(r) = check.figures.get("dispatch_ratio") {
        lab.figure("freelist.dispatch_ratio", *r);
    }
    lab.figure("freelist.kv_p50_ratio", a.p50_ms / b.p50_ms);
    Ok(check)
}

/// Whether every blocking answer came from the expected backend, per phase.
fn backend_check(stats: &WatchStats, expected: &[(&str, &str)]) -> Check {
    let mut mismatched = 0u64;
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    for (phase, backend) in expected {
        let seen = stats.backends(phase);
        let total: u64 = seen.values().sum();
        let right = seen.get(*backend).copied().unwrap_or(0);
        mismatched += total - right;
        if total == 0 {
            missing.push(*phase);
        }
        parts.push(format!("{phase}: {right}/{total} {backend}"));
    }
    let holds = mismatched == 0 && missing.is_empty();
    let mut detail = format!(
        "X-Consul-Query-Backend of blocking health queries: {}",
        parts.join(", ")
    );
    if !missing.is_empty() {
        detail.push_str(&format!("; no blocking answer in {missing:?}"));
    }
    let mut check = Check::new(
        "streaming.backend",
        CheckKind::Always,
        Verdict::from_bool(holds),
        detail,
    )
    .with_count("mismatched", mismatched);
    for (phase, _) in expected {
        check = check
            .with_figure(
                format!("answers_{phase}"),
                stats.backends(phase).values().sum::<u64>() as f64,
            )
            .with_figure(format!("events_{phase}"), stats.events(phase) as f64);
    }
    check
}

/// Checks the set of KV writes against a final consistent read, and the
/// register's reads.
async fn integrity(lab: &LabCtx, consul: &ConsulClusterHandle, h: &Histories) -> Result<()> {
    let invoke = lab.now();
    let values = list_kv(consul, KV_PREFIX).await?;
    let list = Op::ok("list").with_values(values).at(invoke, lab.now());
    let mut set = h.kv.clone();
    set.merge(History::new(vec![list]));
    lab.checks_from(
        Set::new()
            .named("integrity.kv")
            .ops("put", "list")
            .check(&set),
    );
    lab.checks_from(
        Register::new()
            .named("integrity.register")
            .check(&h.register),
    );
    Ok(())
}

fn leadership_figures(lab: &LabCtx, consul: &ConsulClusterHandle) {
    let l = consul.leadership();
    lab.figure("leader.changes", l.changes as f64);
    lab.figure("leader.elections", l.elections as f64);
    lab.figure("leader.leaderless_secs", consul.leaderless().as_secs_f64());
}

fn put_ops(h: &History) -> usize {
    h.ops.iter().filter(|o| o.f == "put").count()
}

/// Health flips and watch answers per phase and outcome, as figures
/// (`churn.ok.steady`, `watch.fail.fault`...): shows events kept flowing.
fn load_figures(lab: &LabCtx, h: &Histories) {
    for (name, hist) in [("churn", &h.churn), ("watch", &h.watch)] {
        let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
        for op in &hist.ops {
            let status = match op.status {
                OpStatus::Ok => "ok",
                OpStatus::Fail => "fail",
                OpStatus::Unknown => "unknown",
            };
            let phase = op.phase.as_deref().unwrap_or("none");
            *counts
                .entry(format!("{name}.{status}.{phase}"))
                .or_default() += 1;
        }
        for (k, v) in counts {
            lab.figure(k, v as f64);
        }
    }
}

/// The mitigations the after variant switches, by the dossier's names
/// (`incident ablate roblox_consul` runs it with each one removed).
pub const MITIGATIONS: [&str; 2] = ["disable_streaming", "leadership_transfer"];

/// The incident, as the lab's spec names its variant: `before` on the
/// pre-fix Consul, `after` on the current one with the mitigations. The
/// two follow different timelines (the roll-out of 10-27 happens only
/// before; the mitigation and recovery only after).
pub async fn run(lab: &LabCtx, scale: Scale) -> Result<Report> {
    match lab.spec().variant {
        Variant::Before => before(lab, scale).await,
        Variant::After => after(lab, scale).await,
    }
}

/// The pre-fix Consul on the day: see the module documentation.
async fn before(lab: &LabCtx, scale: Scale) -> Result<Report> {
    scale.validate()?;
    let cfg = scale.cluster_config().with_agent_streaming(false);
    let consul = lab
        .start(scale.cluster(ConsulVersion::Legacy, cfg.clone()))
        .await?;
    let services = register_services(&consul, scale.services).await?;

    lab.phase("steady").await;
    let load = Load::start(lab, &consul, &services, &scale).await?;
    tokio::time::sleep(scale.window).await;

    lab.phase("rollout").await;
    lab.mark(
        None,
        "10-27: streaming enabled for the busiest service (a configuration roll-out)",
    );
    let rollout = lab
        .inject(ConfigRollout::new(
            &consul,
            cfg.clone().with_agent_streaming(true),
        ))
        .await?;
    lab.phase("streaming").await;
    tokio::time::sleep(scale.window).await;

    lab.phase("bloat").await;
    let freelist = grow_freelist(lab, &consul, &scale).await?;

    lab.phase("fault").await;
    lab.mark(
        None,
        "10-28: leaders with a large BoltDB freelist, streaming on, the same load",
    );
    tokio::time::sleep(scale.window).await;
    let end = lab.now();
    let stats = load.stats.clone();
    let h = load.stop().await;
    // Streaming back off, so the roll-out's record is complete (healed).
    rollout.heal().await?;
    consul.metrics_settled(end).await;

    let kv = latency::per_phase(&h.kv, |o| o.f == "put");
    lab.check(backend_check(
        &stats,
        &[
            ("steady", "blocking-query"),
            ("streaming", "streaming"),
            ("fault", "streaming"),
        ],
    ));
    lab.check(streaming_contention(lab, &kv, &scale)?);
    lab.check(slow_leader_check(
        lab,
        &consul,
        &kv,
        &freelist,
        "streaming",
    )?);
    integrity(lab, &consul, &h).await?;
    leadership_figures(lab, &consul);
    load_figures(lab, &h);
    lab.figure("kv.puts", put_ops(&h.kv) as f64);
    lab.record_history(&h.kv);
    lab.finish().await
}

/// KV write latency with streaming ÷ with blocking queries, same load, same
/// run: the outage's second cause, a signature of *before* (see
/// [`contention_check`]); a note says whether it reproduced at this scale.
fn streaming_contention(lab: &LabCtx, kv: &[LatencySummary], scale: &Scale) -> Result<Check> {
    let off = summary(kv, "steady")?;
    let on = summary(kv, "streaming")?;
    let p50 = on.p50_ms / off.p50_ms;
    let p99 = on.p99_ms / off.p99_ms;
    lab.figure("streaming.kv_p50_ratio", p50);
    lab.figure("streaming.kv_p99_ratio", p99);
    let contention = p50 >= STREAMING_CONTENTION_RATIO;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    lab.note(format!(
        "streaming contention {} at this scale ({} watchers on {} services through {} agents, {} flips/s, {} writes/s, {cores} cores): KV write p50 {:.2} ms with streaming vs {:.2} ms with blocking queries (x{p50:.2}), p99 {:.2} vs {:.2} ms (x{p99:.2}); Roblox's needed 128-core servers",
        if contention { "reproduced" } else { "did not reproduce" },
        scale.watchers,
        scale.services,
        scale.agents,
        scale.churn_rate,
        scale.write_rate,
        on.p50_ms,
        off.p50_ms,
        on.p99_ms,
        off.p99_ms,
    ));
    Ok(contention_check(p50, p99, cores)
        .with_figure("p50_ms_blocking", off.p50_ms)
        .with_figure("p50_ms_streaming", on.p50_ms)
        .with_figure("p99_ms_blocking", off.p99_ms)
        .with_figure("p99_ms_streaming", on.p99_ms)
        .with_figure("p50_ratio", p50)
        .with_figure("p99_ratio", p99))
}

/// The signature `streaming.write_latency` from the KV write p50 and p99
/// ratios (streaming ÷ blocking queries) on a machine of `cores`:
/// reproduced (valid) at x[`STREAMING_CONTENTION_RATIO`] or more; else
/// not reproduced: unknown below [`STREAMING_CONTENTION_CORES`] cores,
/// with the policy `unknown = pass` (the freelist signature decides the
/// incident; this cause is reported as not reproduced, with its ratio),
/// invalid on a machine as large as Roblox's.
pub fn contention_check(p50: f64, p99: f64, cores: usize) -> Check {
    const NAME: &str = "streaming.write_latency";
    let measured = format!(
        "KV write p50 with streaming x{p50:.2} of blocking queries (p99 x{p99:.2}); contention is x{STREAMING_CONTENTION_RATIO} or more"
    );
    if p50 >= STREAMING_CONTENTION_RATIO {
        Check::signature(NAME, true, measured)
    } else if cores < STREAMING_CONTENTION_CORES {
        Check::inconclusive(
            NAME,
            CheckKind::Signature,
            Inconclusive {
                cause: "streaming contention".into(),
                measure: "KV write p50 with streaming / with blocking queries".into(),
                measured: p50,
                needed: STREAMING_CONTENTION_RATIO,
                needs: format!(
                    "servers like Roblox's ({STREAMING_CONTENTION_CORES} cores, thousands of subscribers); this machine has {cores} cores"
                ),
                policy: UnknownPolicy::Pass,
            },
        )
    } else {
        Check::signature(NAME, false, measured)
    }
}

/// The first `window` after `from` whose acknowledged writes have a p50 at
/// or under `limit_ms`: when write latency came back.
fn latency_recovered_at(
    h: &History,
    from: Duration,
    window: Duration,
    limit_ms: f64,
) -> Option<Duration> {
    let puts: Vec<&Op> = h
        .ops
        .iter()
        .filter(|o| o.f == "put" && o.status == OpStatus::Ok && o.invoke >= from)
        .collect();
    let end = puts.iter().map(|o| o.complete).max()?;
    let step = Duration::from_millis(500);
    let mut start = from;
    while start + window <= end {
        let in_window: Vec<&Op> = puts
            .iter()
            .copied()
            .filter(|o| o.invoke >= start && o.invoke < start + window)
            .collect();
        if in_window.len() >= 5 && latency::summarize("w", in_window).p50_ms <= limit_ms {
            return Some(start - from);
        }
        start += step;
    }
    None
}

fn within(baseline: f64, value: f64, slack_ms: f64) -> (bool, f64) {
    let limit = (baseline * RECOVERED_FACTOR).max(baseline + slack_ms);
    (value <= limit, limit)
}

/// The current Consul with the postmortem's fixes: see the module documentation.
async fn after(lab: &LabCtx, scale: Scale) -> Result<Report> {
    scale.validate()?;
    let cfg = scale.cluster_config();
    let consul = lab
        .start(scale.cluster(ConsulVersion::Current, cfg.clone()))
        .await?;
    let services = register_services(&consul, scale.services).await?;

    lab.phase("steady").await;
    let load = Load::start(lab, &consul, &services, &scale).await?;
    tokio::time::sleep(scale.window).await;

    lab.phase("bloat").await;
    let freelist = grow_freelist(lab, &consul, &scale).await?;
    lab.phase("fault").await;
    tokio::time::sleep(scale.window).await;

    lab.phase("mitigate").await;
    let mitigation_at = lab.now();
    // Keep the degraded server from leading: hand leadership to the
    // server with the smallest freelist (the others never truncated).
    let degraded = consul.leader_name().await?;
    let mut healthiest = None;
    for s in consul.server_names() {
        if *s == degraded {
            continue;
        }
        let bytes = consul.gauge_now(s, FREELIST_GAUGE).await?.unwrap_or(0.0);
        if healthiest.as_ref().is_none_or(|(_, b)| bytes < *b) {
            healthiest = Some((s.clone(), bytes));
        }
    }
    let (target, _) = healthiest.context("a one-server cluster cannot move leadership")?;
    let transfer = lab.mitigated("leadership_transfer");
    if transfer {
        lab.mitigation(format!(
            "move leadership off the degraded server {degraded} to {target}"
        ));
        consul
            .transfer_leadership(Some(&consul.node(&target)?))
            .await?;
    }
    let streaming_off = lab.mitigated("disable_streaming");
    lab.mitigation(if streaming_off {
        "roll out streaming off and BoltDB no_freelist_sync across the cluster"
    } else {
        "roll out BoltDB no_freelist_sync across the cluster (streaming left on)"
    });
    let fixed = cfg
        .clone()
        .with_streaming(!streaming_off)
        .with_log_store(LogStore::BoltDb {
            no_freelist_sync: true,
        });
    // Only a transfer keeps the degraded server from leading again: without
    // it the roll-out may hand leadership to it like to any other server.
    let avoid = if transfer {
        vec![degraded.clone()]
    } else {
        vec![]
    };
    let rollout = consul.rolling_restart_avoiding(fixed, &avoid).await?;
    let leader_after = consul.leader_name().await?;
    let leadership_moved = leader_after != degraded;
    lab.figure("mitigation.rollout_secs", rollout.took.as_secs_f64());
    lab.figure("mitigation.restarted_nodes", rollout.restarted.len() as f64);

    lab.phase("recover").await;
    tokio::time::sleep(scale.window).await;
    let end = lab.now();
    let stats = load.stats.clone();
    let h = load.stop().await;
    consul.metrics_settled(end).await;

    let kv = latency::per_phase(&h.kv, |o| o.f == "put");
    lab.check(backend_check(
        &stats,
        &[
            ("steady", "streaming"),
            ("fault", "streaming"),
            ("recover", "blocking-query"),
        ],
    ));
    // Reported in an after variant: the degradation the fixes must undo.
    lab.check(slow_leader_check(lab, &consul, &kv, &freelist, "steady")?);
    lab.check(Check::requirement(
        "leadership.moved_off_degraded",
        leadership_moved,
        if leadership_moved {
            format!("leadership moved from {degraded} (grown freelist) to {leader_after}")
        } else {
            format!("{degraded} (grown freelist) still leads after the mitigation")
        },
    ));

    let base = summary(&kv, "steady")?;
    let rec = summary(&kv, "recover")?;
    let (ok, limit) = within(base.p50_ms, rec.p50_ms, RECOVERED_SLACK_MS);
    let back_after = latency_recovered_at(&h.kv, mitigation_at, Duration::from_secs(5), limit);
    // Back, and back within the recovery budget: the first 5 s window
    // after the mitigation whose p50 is within the limit starts in time.
    let budget = lab.spec().budget;
    let in_budget = back_after.is_some_and(|d| d <= budget);
    let mut check = Check::requirement(
        "kv.write_p50_recovered",
        ok && in_budget,
        format!(
            "KV write p50 {:.2} ms after the fixes vs {:.2} ms before the bloat (limit {limit:.2} ms: x{RECOVERED_FACTOR} or +{RECOVERED_SLACK_MS} ms); {}",
            rec.p50_ms,
            base.p50_ms,
            match back_after {
                Some(d) => format!(
                    "back {:.1}s after the mitigation (budget {})",
                    d.as_secs_f64(),
                    harness::duration::format(budget)
                ),
                None => "never back within the limit for 5 s".into(),
            }
        ),
    )
    .with_figure("p50_ms_baseline", base.p50_ms)
    .with_figure("p50_ms_recovered", rec.p50_ms)
    .with_figure("p99_ms_baseline", base.p99_ms)
    .with_figure("p99_ms_recovered", rec.p99_ms)
    .with_figure("limit_ms", limit);
    if let Some(d) = back_after {
        check = check.with_figure("latency_recovery_secs", d.as_secs_f64());
        lab.figure("kv.latency_recovery_secs", d.as_secs_f64());
    }
    lab.check(check);

    let d_base = timer_mean(&consul, lab, DISPATCH, "steady")?;
    let d_fault = timer_mean(&consul, lab, DISPATCH, "fault")?;
    let d_rec = timer_mean(&consul, lab, DISPATCH, "recover")?;
    lab.check(match (d_base, d_fault, d_rec) {
        (Some(b), Some(f), Some(r)) => {
            // Within the usual factor of the baseline, or at least
            // RECOVERED_SHARE of what the freelist added is gone.
            let (near, limit) = within(b, r, RECOVERED_DISPATCH_SLACK_MS);
            let removed = if f > b { (f - r) / (f - b) } else { 0.0 };
            let ok = near || removed >= RECOVERED_SHARE;
            Check::requirement(
                "log_store.write_time_recovered",
                ok,
                format!("leader log-store write {r:.2} ms after the fixes vs {b:.2} ms before the bloat and {f:.2} ms with it: {:.0}% of the added time gone (needs under {limit:.2} ms or {:.0}% gone)", removed * 100.0, RECOVERED_SHARE * 100.0),
            )
            .with_figure("dispatch_ms_fault", f)
            .with_figure("removed_share", removed)
            .with_figure("dispatch_ms_baseline", b)
            .with_figure("dispatch_ms_recovered", r)
        }
        (d_base, _, d_rec) => Check::new(
            "log_store.write_time_recovered",
            CheckKind::Requirement,
            Verdict::Unknown,
            format!("no leader log-store timings in `steady` or `recover` ({d_base:?}, {d_rec:?})"),
        ),
    });

    lab.check(
        Recovery::after_mitigation(mitigation_at, "move leadership off the degraded server")
            .of(["put"])
            .budget(lab.spec().budget)
            .check(&h.kv),
    );
    integrity(lab, &consul, &h).await?;
    leadership_figures(lab, &consul);
    load_figures(lab, &h);
    lab.figure("kv.puts", put_ops(&h.kv) as f64);
    lab.record_history(&h.kv);
    lab.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check that fooled the index (issue 12): on 2 cores the
    /// contention did not reproduce (p50 x0.97) and was recorded as a
    /// valid requirement, so the incident showed plain valid. It is an
    /// unknown signature that names what it would need, passing by its
    /// stated policy.
    #[test]
    fn contention_not_reproduced_on_two_cores_is_unknown() {
        let c = contention_check(0.97, 2.98, 2);
        assert_eq!(
            (c.kind, c.verdict),
            (CheckKind::Signature, Verdict::Unknown)
        );
        let why = c.inconclusive.as_ref().expect("says why");
        assert_eq!(why.policy, UnknownPolicy::Pass);
        assert!(
            c.detail.contains("x0.97") && c.detail.contains("2 cores"),
            "{}",
            c.detail
        );
        assert!(c.passes());
        let reproduced = contention_check(2.5, 3.0, 2);
        assert_eq!(reproduced.verdict, Verdict::Valid);
        assert_eq!(contention_check(1.0, 1.0, 128).verdict, Verdict::Invalid);
    }

    fn put(at_ms: u64, lat_ms: u64) -> Op {
        let at = Duration::from_millis(at_ms);
        Op::ok("put").at(at, at + Duration::from_millis(lat_ms))
    }

    #[test]
    fn scales_validate_and_name_the_fix() {
        assert!(Scale::ci().validate().is_ok());
        assert!(Scale::large().validate().is_ok());
        let short = Scale {
            window: Duration::from_secs(5),
            ..Scale::ci()
        };
        assert!(short
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least 20 s"));
        let tiny = Scale {
            bloat_values: 50,
            ..Scale::ci()
        };
        assert!(tiny.validate().is_err());
        let cfg = Scale::ci().cluster_config();
        assert_eq!(cfg.log_store, LogStore::BOLTDB);
        assert_eq!(cfg.trailing_logs, Some(100));
    }

    #[test]
    fn recovery_limits_use_factor_or_slack() {
        assert_eq!(within(10.0, 19.0, 2.0), (true, 20.0));
        assert_eq!(within(10.0, 21.0, 2.0), (false, 20.0));
        assert_eq!(
            within(1.0, 2.9, 2.0),
            (true, 3.0),
            "slack dominates small baselines"
        );
        assert_eq!(within(0.2, 0.8, 0.5), (false, 0.7));
    }

    #[test]
    fn latency_recovery_finds_the_first_good_window() {
        // Slow (50 ms) until 10 s, fast (5 ms) after.
        let ops: Vec<Op> = (0..200u64)
            .map(|i| put(i * 100, if i < 100 { 50 } else { 5 }))
            .collect();
        let h = History::new(ops);
        let at = latency_recovered_at(&h, Duration::ZERO, Duration::from_secs(2), 10.0).unwrap();
        // A 2 s window has a p50 <= 10 ms once more than half its ops are fast.
        assert!(
            at >= Duration::from_secs(9) && at <= Duration::from_secs(10),
            "{at:?}"
        );
        assert_eq!(
            latency_recovered_at(&h, Duration::ZERO, Duration::from_secs(2), 1.0),
            None
        );
    }

    #[test]
    fn backend_check_counts_mismatches() {
        let stats = WatchStats::default();
        // WatchStats::record is private to the fixture; an empty one has
        // no answers in any phase.
        let c = backend_check(&stats, &[("steady", "blocking-query")]);
        assert_eq!(c.verdict, Verdict::Invalid);
        assert!(c.detail.contains("no blocking answer"));
        assert_eq!(c.counts["mismatched"], 0);
    }
}
