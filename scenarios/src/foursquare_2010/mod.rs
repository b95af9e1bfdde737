//! Foursquare, 2010-10-04: an 11-hour outage from an unbalanced MongoDB
//! shard (`shared/postmortems/foursquare-2010-mongodb-shards.md`).
//!
//! One concept, one file: one postmortem's scenario, its phases in
//! timeline order.
//!
//! The timeline, scaled down:
//!
//! 1. **setup**: a config server, a mongos and 2 shards, each member with a
//!    small WiredTiger cache (0.25 GB) and memory limit; `app.checkins`
//!    sharded on `uid`, split in the middle of the user-id space (the
//!    balancer off, as chunks were placed by range on the day).
//! 2. **steady / load**: ~300-byte check-ins of Zipf-skewed users (a
//!    bulk fill for volume plus recorded inserts for integrity), so the
//!    shard holding the low ids (`shA`) grows much faster; readers fetch a
//!    uniformly chosen user's recent check-ins (the working set is the whole
//!    data set). Every few seconds: per-shard data + index size against the
//!    memory budget (the **capacity alarm**) and the hot shard's cache miss
//!    ratio and read latency against the other shard's (the **cliff**: it
//!    holds from the hot p99 passing [`Scale::cliff_ratio`] times the
//!    other's until the hot p99 is back under the restore threshold,
//!    [`cliff_holds`], judged at each sample and every second while the
//!    scenario waits; during a mitigation step it stays as last judged).
//! 3. **mitigate**: the operators' move, at the alarm or at the cliff
//!    ([`relieve_at`]; at the end of the load if no cliff showed).
//! 4. *before*: **after-move**, two latency windows; *after*: **recover**,
//!    until the hot shard is fast again or the budget is spent.
//!
//! The variants are sets of the dossier's named mitigations
//! ([`MITIGATIONS`], asked of the lab where each changes what runs):
//!
//! | mitigation | in force | not in force |
//! | --- | --- | --- |
//! | `capacity_alarm` | raised (a timeline mark) when a shard's data + indexes pass [`Scale::alarm_threshold`] of its cache; [`Relief::AddShard`] acts on it | nobody watches: no alarm (the crossing is still a figure, `alarm_at_secs`); the operators learn at the cliff |
//! | `shard_early_or_compact` | the [`Relief`] the incident chose: half the hot range to a new shard, and for [`Relief::CompactThenFailover`] the donor compacted secondary by secondary, then failed over | the day's attempt: a third shard and [`Scale::migrate_fraction`] (5%) of the hot shard moved, at the cliff |
//! | `shed_non_core_reads` | while the cliff holds, [`Scale::shed_share`] of the reads of the hot shard's users are shed ([`READ_SHED`] ops, failed, never served) | every read is sent |
//!
//! *Non-core*, from the postmortem's "turning off features is better than a
//! full outage": the check-in (the recorded insert) is the service and is
//! never shed; the readers, who browse a uniformly chosen user's check-in
//! history (friends', venues'), are a feature ([`Service::NonCore`]).
//!
//! [`Relief::AddShard`] without `capacity_alarm` acts at the cliff: with no
//! watch on size against memory, the cliff (the outage) is the first signal
//! the operators get, as on the day, so the same move is then the capacity
//! "added late" the postmortem warns about; the ablation shows what the
//! alarm buys. With the alarm but without `shard_early_or_compact` the alarm
//! is raised and nothing is done before the cliff: acting early *is* that
//! mitigation.
//!
//! *before* (none in force). Signatures: the cliff showed (hot p99 / cold
//! p99 past the ratio); the day's move did not restore the hot shard's
//! latency; the donor's fragmentation (`freeStorageSize / storageSize`)
//! rose.
//!
//! *after* (all three). Required: the alarm before the cliff
//! (`capacity.alarm_before_cliff`); the hot shard's latency back under the
//! restore threshold within the budget (`latency.hot_shard.recovery`; a
//! window with shed reads does not count: the shard must serve its whole
//! read load); the core service kept: no window of [`Scale::window`] in
//! which under [`Scale::core_ratio`] of the hot shard's check-ins were
//! acknowledged, from the load to the end of the recovery
//! (`availability.core_checkins`); every acknowledged check-in present
//! (`integrity.set`). `Relief::CompactThenFailover` is the follow-up the
//! postmortem describes, online since 4.4.
//!
//! Whether the cliff shows at a given scale depends on the host's disk and
//! page cache; the numbers it saw are in the report's figures.

use anyhow::{Context, Result};
use fixtures::mongo::bson::{doc, Bson};
use fixtures::mongo::sharded::shard_name;
use fixtures::mongo::shed::{Service, Shedding, READ_SHED};
use fixtures::mongo::stats::{CacheStats, CapacityAlarm, CollStorage};
use fixtures::mongo::workload::{
    final_read, uniform, zipf, zipf_tail_start, BulkFill, FillSpec, InsertWorkload, KeyGroup,
    ReadByKeyWorkload,
};
use fixtures::mongo::{MongoShardedCluster, MongoShardedClusterHandle};
use harness::checker::integrity;
use harness::checker::latency;
use harness::checker::Check;
use harness::history::History;
use harness::lab::LabCtx;
use harness::report::Report;
use harness::spec::Variant;
use harness::workload::{RunningWorkload, WorkloadRunner};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

mod measures;
pub use measures::{
    cliff_holds, core_service, latency_recovered_at, read_p99, CoreService, MIN_READS,
};

/// Database and collection of the check-ins.
pub const DB: &str = "app";
/// See [`DB`].
pub const COLL: &str = "checkins";
/// `DB.COLL`.
pub const NS: &str = "app.checkins";
/// The hot shard.
pub const HOT: &str = "shA";
/// The other original shard.
pub const COLD: &str = "shB";
/// The readers' function: one user's recent check-ins.
pub const READ: &str = "read-user";
/// The check-ins' function (the recorded inserts): the core service.
pub const CHECKIN: &str = "add";

/// The mitigations this scenario switches, by the dossier's names and in
/// its order (see the module documentation for what each does on and off).
pub const MITIGATIONS: [&str; 3] = [
    "capacity_alarm",
    "shard_early_or_compact",
    "shed_non_core_reads",
];

/// The share of the hot shard's documents `shard_early_or_compact` moves
/// to a new shard: half its range by check-in mass.
pub const RELIEF_FRACTION: f64 = 0.5;

/// How `shard_early_or_compact` relieves the hot shard: the dossier names
/// one mitigation with two ways of doing it, and each *after* incident
/// picks one. Whether it happens at all is the mitigation's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relief {
    /// Add a shard and move half the hot range: at the capacity alarm, or
    /// at the cliff when the alarm is not in force.
    AddShard,
    /// At the cliff: add a shard, move half the hot range, compact the
    /// donor's secondaries, step its primary down, compact the old primary.
    CompactThenFailover,
}

/// When the operators move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// When the capacity alarm fires (before the cliff).
    Alarm,
    /// At the cliff (or at the end of the load if none showed).
    Cliff,
}

/// When the operators move, given the relief chosen and which of
/// `capacity_alarm` and `shard_early_or_compact` are in force: only
/// [`Relief::AddShard`] with both acts at the alarm. Without the alarm
/// there is nothing to act on before the cliff; without
/// `shard_early_or_compact` the operators do what they did on the day, at
/// the cliff; compacting is for a shard already past it.
pub fn relieve_at(relief: Relief, alarm: bool, shard_early_or_compact: bool) -> Moment {
    if relief == Relief::AddShard && alarm && shard_early_or_compact {
        Moment::Alarm
    } else {
        Moment::Cliff
    }
}

/// Sizes and times of one run (the scale knobs).
#[derive(Clone, Debug)]
pub struct Scale {
    /// Members per shard replica set (compact-then-failover needs 2+).
    pub shard_members: usize,
    /// Distinct users.
    pub users: usize,
    /// Zipf exponent of check-ins per user.
    pub zipf_s: f64,
    /// Check-in document size (bytes).
    pub doc_bytes: usize,
    /// WiredTiger cache per shard member (GB).
    pub cache_gb: f64,
    /// Memory limit per shard member (bytes).
    pub shard_memory: i64,
    /// The capacity alarm's threshold, as a share of the cache.
    pub alarm_threshold: f64,
    /// Stop loading once the hot shard's data + indexes reach this many
    /// times its cache (the working set no longer fits).
    pub overload: f64,
    /// Hot p99 / cold p99 that counts as the cliff.
    pub cliff_ratio: f64,
    /// Hot p99 within this many times its steady p99 counts as restored
    /// (and ends the cliff).
    pub restore_factor: f64,
    /// Share of the hot shard's documents moved on the day.
    pub migrate_fraction: f64,
    /// Share of the non-core reads of the hot shard's users shed while the
    /// cliff holds (`shed_non_core_reads`).
    pub shed_share: f64,
    /// Share of the hot shard's check-ins to be acknowledged in every
    /// window (the core service kept).
    pub core_ratio: f64,
    /// Documents per bulk-fill batch (the data volume, not recorded).
    pub fill_batch: usize,
    /// Recorded inserting clients and their total rate (integrity).
    pub writers: u32,
    /// See [`Scale::writers`].
    pub write_rate: f64,
    /// Reading clients and their total rate.
    pub readers: u32,
    /// See [`Scale::readers`].
    pub read_rate: f64,
    /// Undisturbed load before the watch starts.
    pub steady: Duration,
    /// How often sizes, cache and latency are sampled.
    pub sample_every: Duration,
    /// The latency window of the cliff and recovery measures.
    pub window: Duration,
    /// Longest load phase.
    pub max_load: Duration,
}

impl Scale {
    /// A CI-sized run: 2x2 members, 0.25 GB caches, 640 MiB limits.
    pub fn ci() -> Self {
        Scale {
            shard_members: 2,
            users: 100_000,
            zipf_s: 1.1,
            doc_bytes: 300,
            cache_gb: 0.25,
            shard_memory: 640 << 20,
            alarm_threshold: 0.7,
            overload: 2.0,
            cliff_ratio: 5.0,
            restore_factor: 3.0,
            migrate_fraction: 0.05,
            shed_share: 0.5,
            core_ratio: 0.9,
            fill_batch: 1000,
            writers: 4,
            write_rate: 200.0,
            readers: 8,
            read_rate: 200.0,
            steady: Duration::from_secs(10),
            sample_every: Duration::from_secs(5),
            window: Duration::from_secs(10),
            max_load: Duration::from_secs(600),
        }
    }

    /// Closer to the day: 3-member shards, 1 GB caches.
    pub fn full() -> Self {
        Scale {
            shard_members: 3,
            users: 1_000_000,
            cache_gb: 1.0,
            shard_memory: 2 << 30,
            max_load: Duration::from_secs(3600),
            ..Scale::ci()
        }
    }

    fn cache_bytes(&self) -> f64 {
        self.cache_gb * (1u64 << 30) as f64
    }

    fn split(&self) -> i64 {
        (self.users / 2) as i64
    }
}

/// Which shard holds a user id: range starts to shard names.
#[derive(Clone, Default)]
pub struct Routing(Arc<RwLock<BTreeMap<i64, String>>>);

impl Routing {
    /// Ranges from `i64::MIN` to `shard`, until moved.
    pub fn new(first: &str) -> Self {
        let r = Routing::default();
        r.assign(i64::MIN, first);
        r
    }

    /// From `start` up to the next range start, `shard` holds the ids.
    pub fn assign(&self, start: i64, shard: &str) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(start, shard.to_string());
    }

    /// Records `[lo, hi)` moving to `shard` (what follows `hi` keeps its owner).
    pub fn move_range(&self, lo: i64, hi: i64, shard: &str) {
        let after = self.shard_of(hi);
        self.assign(lo, shard);
        self.assign(hi, &after);
    }

    /// The shard of `uid`.
    pub fn shard_of(&self, uid: i64) -> String {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .range(..=uid)
            .next_back()
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    }

    /// As a workload key group.
    pub fn group(&self) -> KeyGroup {
        let r = self.clone();
        Arc::new(move |u| r.shard_of(u))
    }
}

/// The incident, as the lab's spec names its variant, with the mitigations
/// the lab has in force: see the module documentation. `relief` is how
/// `shard_early_or_compact` relieves the hot shard when it is in force
/// (unused otherwise, as in *before*).
pub async fn run(lab: &LabCtx, scale: Scale, relief: Relief) -> Result<Report> {
    let variant = lab.spec().variant;
    let cluster = lab
        .start(
            MongoShardedCluster::new(2, scale.shard_members)
                .with_cache_gb(scale.cache_gb)
                .with_memory_limit(scale.shard_memory),
        )
        .await?;
    cluster.shard_collection(NS, doc! {"uid": 1}).await?;
    cluster.balancer_stop().await?;
    let split = scale.split();
    cluster.split(NS, doc! {"uid": split}).await?;
    cluster
        .move_range(NS, doc! {"uid": split}, doc! {"uid": Bson::MaxKey}, COLD)
        .await?;
    let routing = Routing::new(HOT);
    routing.assign(split, COLD);
    let alarm = CapacityAlarm::new(scale.cache_bytes(), scale.alarm_threshold)?;
    lab.figure("memory_budget_bytes", scale.cache_bytes());

    lab.phase("steady").await;
    let client = cluster.client().await?;
    let writes = WorkloadRunner::new(
        InsertWorkload::new(client.clone(), DB, COLL)
            .payload(scale.doc_bytes)
            .key("uid", zipf(scale.users, scale.zipf_s))
            .group_by(routing.group())
            .seed(lab.seed()),
    )
    .clients(scale.writers)
    .rate(scale.write_rate)
    .start(lab)
    .await?;
    let shedding = read_shedding(lab, &scale);
    let mut reader = ReadByKeyWorkload::new(
        client.clone(),
        DB,
        COLL,
        "uid",
        uniform(0, scale.users as i64),
    )
    .group_by(routing.group())
    .seed(lab.seed() ^ 1);
    if let Some(gate) = &shedding {
        reader = reader.shed(gate.clone(), Service::NonCore);
    }
    let reads = WorkloadRunner::new(reader)
        .clients(scale.readers)
        .rate(scale.read_rate)
        .start(lab)
        .await?;
    let fill = BulkFill::start(
        &client,
        DB,
        COLL,
        FillSpec {
            key: "uid".into(),
            gen: zipf(scale.users, scale.zipf_s),
            doc_bytes: scale.doc_bytes,
            batch: scale.fill_batch,
            seed: lab.seed() ^ 2,
        },
    );
    tokio::time::sleep(scale.steady).await;
    let steady_end = lab.now();
    let (steady_hot_p99, _) = read_p99(&reads.snapshot(), HOT, Duration::ZERO, steady_end);
    lab.figure("p99_ms.shA.steady", steady_hot_p99);
    let restore_ms = scale.restore_factor * steady_hot_p99.max(1.0);

    lab.phase("load").await;
    let mut watch = Watch::new(lab, restore_ms, shedding);
    let moment = relieve_at(
        relief,
        watch.alarm_on,
        lab.mitigated("shard_early_or_compact"),
    );
    let load_end = lab.now() + scale.max_load;
    let mut mitigated_at = None;
    loop {
        tokio::time::sleep(scale.sample_every).await;
        let hot_ws = sample(lab, &cluster, &reads, &alarm, &scale, &mut watch).await;
        if moment == Moment::Alarm && watch.alarm_at.is_some() && mitigated_at.is_none() {
            mitigated_at = Some(mitigate(lab, &cluster, &routing, &scale, relief).await?.0);
            lab.phase("load").await;
        }
        let overloaded = hot_ws >= scale.overload * scale.cache_bytes();
        if watch.cliff_at.is_some() || overloaded || lab.now() >= load_end {
            break;
        }
    }
    // The data volume is reached: only the recorded clients write on.
    let filled = fill.stop().await?;
    lab.figure("bulk_documents", filled as f64);
    lab.figure(
        "alarm_at_secs",
        watch
            .crossed_at
            .map(|d| d.as_secs_f64())
            .unwrap_or(f64::NAN),
    );
    lab.figure(
        "cliff_at_secs",
        watch.cliff_at.map(|d| d.as_secs_f64()).unwrap_or(f64::NAN),
    );

    let storage_before = hot_storage(&cluster).await;
    match variant {
        Variant::Before => lab.check(Check::signature(
            "latency.hot_shard_cliff",
            watch.cliff_at.is_some(),
            match watch.cliff_at {
                Some(t) => format!(
                    "the hot shard's read p99 passed {}x the other shard's at {:.0}s",
                    scale.cliff_ratio,
                    t.as_secs_f64()
                ),
                None => format!(
                    "no cliff: the hot shard's p99 stayed under {}x the other's (raise Scale::overload or lower the cache)",
                    scale.cliff_ratio
                ),
            },
        )),
        Variant::After => lab.check(alarm_check(&watch)),
    }
    // The operators' turn at the cliff (or at the end of the load), unless
    // they moved at the alarm.
    let (mitigated_at, moved) = match mitigated_at {
        Some(t) => (t, RELIEF_FRACTION),
        None => mitigate(lab, &cluster, &routing, &scale, relief).await?,
    };

    match variant {
        Variant::Before => {
            lab.phase("after-move").await;
            watch_for(lab, &reads, &scale, &mut watch, scale.window * 2).await;
            let (p99, n) = read_p99(&reads.snapshot(), HOT, mitigated_at, lab.now());
            let still = n > 0 && p99 > scale.restore_factor * steady_hot_p99.max(0.001);
            lab.check(
                Check::signature(
                    "latency.migration_did_not_restore",
                    still,
                    format!(
                        "after moving {:.0}% of the hot shard: p99 {p99:.1} ms vs {steady_hot_p99:.1} ms steady",
                        moved * 100.0
                    ),
                )
                .with_figure("p99_ms_after_move", p99)
                .with_figure("p99_ms_steady", steady_hot_p99),
            );
            let storage_after = hot_storage(&cluster).await;
            let (fb, fa) = (
                storage_before.as_ref().map(|s| s.fragmentation()),
                storage_after.as_ref().map(|s| s.fragmentation()),
            );
            lab.check(
                Check::signature(
                    "storage.donor_fragmentation_rose",
                    matches!((fb, fa), (Some(b), Some(a)) if a > b),
                    format!("donor freeStorageSize/storageSize {fb:?} -> {fa:?}"),
                )
                .with_figure("fragmentation_before", fb.unwrap_or(f64::NAN))
                .with_figure("fragmentation_after", fa.unwrap_or(f64::NAN)),
            );
        }
        Variant::After => {
            lab.phase("recover").await;
            let give_up = mitigated_at + lab.spec().budget + scale.window + Duration::from_secs(1);
            let mut at = None;
            while at.is_none() && lab.now() < give_up {
                watch_for(lab, &reads, &scale, &mut watch, Duration::from_secs(1)).await;
                at = latency_recovered_at(
                    &reads.snapshot(),
                    HOT,
                    mitigated_at,
                    scale.window,
                    restore_ms,
                    MIN_READS,
                );
            }
            let secs = at.map(|t| t.saturating_sub(mitigated_at).as_secs_f64());
            let within = secs.is_some_and(|s| s <= lab.spec().budget.as_secs_f64());
            let mut check = Check::requirement(
                "latency.hot_shard.recovery",
                within,
                format!(
                    "hot shard read p99 back under {restore_ms:.1} ms ({}x steady) with no read shed {} (budget {:?})",
                    scale.restore_factor,
                    secs.map(|s| format!("{s:.1}s after the mitigation"))
                        .unwrap_or_else(|| "never".into()),
                    lab.spec().budget
                ),
            );
            if let Some(s) = secs {
                check = check.with_figure("recovery_secs", s);
            }
            lab.check(check);
        }
    }
    let judged_to = lab.now();

    let mut history = stop(writes).await;
    history.merge(stop(reads).await);
    for (phase, s) in per_shard_latency(&history) {
        lab.figure(format!("p99_ms.{phase}"), s);
    }
    shed_figures(lab, &history);
    let core = core_service(
        &history,
        HOT,
        steady_end,
        judged_to,
        scale.window,
        scale.core_ratio,
    );
    lab.figure("core_checkins.down_secs", core.down.as_secs_f64());
    if variant == Variant::After {
        lab.check(core_check(&core, &scale));
    }
    let read = final_read(lab, &client, DB, COLL, Duration::from_secs(120)).await;
    history.merge(History::new(vec![read]));
    lab.record_history(&history);
    let checked = integrity::set(&history);
    match variant {
        Variant::Before => lab.checks_from(checked.presence_only()),
        Variant::After => lab.checks_from(checked),
    }
    lab.finish().await
}

async fn stop(w: RunningWorkload) -> History {
    w.stop().await
}

/// The readers' gate with `shed_non_core_reads`: [`Scale::shed_share`] of
/// the reads of an overloaded shard's users; none without it.
fn read_shedding(lab: &LabCtx, scale: &Scale) -> Option<Shedding> {
    lab.mitigated("shed_non_core_reads")
        .then(|| Shedding::new(scale.shed_share, lab.seed() ^ 3))
}

/// What the operators watch.
struct Watch {
    /// Whether the capacity alarm is watched and raised (`capacity_alarm`).
    alarm_on: bool,
    /// When a shard's data + indexes first passed the alarm threshold.
    crossed_at: Option<Duration>,
    /// When the alarm was raised: at the crossing, with `capacity_alarm`.
    alarm_at: Option<Duration>,
    /// When the cliff first showed.
    cliff_at: Option<Duration>,
    /// Whether it holds now ([`cliff_holds`]).
    cliff_holding: bool,
    /// The hot p99 (ms) that ends the cliff.
    restore_ms: f64,
    /// The readers' gate, with `shed_non_core_reads`.
    shedding: Option<Shedding>,
    last_cache: Option<CacheStats>,
}

impl Watch {
    fn new(lab: &LabCtx, restore_ms: f64, shedding: Option<Shedding>) -> Self {
        Watch {
            alarm_on: lab.mitigated("capacity_alarm"),
            crossed_at: None,
            alarm_at: None,
            cliff_at: None,
            cliff_holding: false,
            restore_ms,
            shedding,
            last_cache: None,
        }
    }
}

/// `capacity.alarm_before_cliff`: raised, and before the cliff if one
/// showed.
fn alarm_check(watch: &Watch) -> Check {
    let detail = if watch.alarm_on {
        format!(
            "alarm at {:?}, cliff at {:?} (lab time)",
            watch.alarm_at, watch.cliff_at
        )
    } else {
        format!(
            "capacity_alarm is not in force: no alarm was raised (data + indexes passed the threshold at {:?}, unwatched; cliff at {:?})",
            watch.crossed_at, watch.cliff_at
        )
    };
    Check::requirement(
        "capacity.alarm_before_cliff",
        match (watch.alarm_at, watch.cliff_at) {
            (Some(_), None) => true,
            (Some(a), Some(c)) => a < c,
            (None, _) => false,
        },
        detail,
    )
}

/// `availability.core_checkins`: the hot shard's check-ins kept.
fn core_check(core: &CoreService, scale: &Scale) -> Check {
    Check::requirement(
        "availability.core_checkins",
        core.kept(),
        format!(
            "{} of {} check-ins of {HOT}'s users acknowledged from the load to the end of the recovery; {:?} in windows of {:?} under {:.0}% acknowledged",
            core.acknowledged,
            core.total,
            core.down,
            scale.window,
            scale.core_ratio * 100.0
        ),
    )
    .with_figure("core_checkins_total", core.total as f64)
    .with_figure("core_checkins_acknowledged", core.acknowledged as f64)
}

/// The operators' move (phase `mitigate`): with `shard_early_or_compact`,
/// `relief`; without it, the day's (a shard added, a few percent moved).
/// Returns when it began and the share of the hot shard moved.
async fn mitigate(
    lab: &LabCtx,
    cluster: &MongoShardedClusterHandle,
    routing: &Routing,
    scale: &Scale,
    relief: Relief,
) -> Result<(Duration, f64)> {
    lab.phase("mitigate").await;
    let at = lab.now();
    if lab.mitigated("shard_early_or_compact") {
        rebalance(lab, cluster, routing, scale, RELIEF_FRACTION).await?;
        if relief == Relief::CompactThenFailover {
            cluster.compact_then_failover(HOT, DB, COLL).await?;
            lab.mitigation(format!(
                "{HOT} compacted secondary by secondary, its primary stepped down, the old primary compacted"
            ));
        }
        Ok((at, RELIEF_FRACTION))
    } else {
        rebalance(lab, cluster, routing, scale, scale.migrate_fraction).await?;
        Ok((at, scale.migrate_fraction))
    }
}

/// Waits `d`, judging the cliff (and so the shedding) every second.
async fn watch_for(
    lab: &LabCtx,
    reads: &RunningWorkload,
    scale: &Scale,
    watch: &mut Watch,
    d: Duration,
) {
    let until = lab.now() + d;
    while lab.now() < until {
        tokio::time::sleep(Duration::from_secs(1).min(until.saturating_sub(lab.now()))).await;
        watch_cliff(lab, reads, scale, watch);
    }
}

/// The read latency of both shards over the last window: the cliff's start
/// and end, and the readers' gate with them.
fn watch_cliff(lab: &LabCtx, reads: &RunningWorkload, scale: &Scale, watch: &mut Watch) {
    let now = lab.now();
    let from = now.saturating_sub(scale.window);
    let snap = reads.snapshot();
    let hot = read_p99(&snap, HOT, from, now);
    let cold = read_p99(&snap, COLD, from, now);
    lab.sample("shA.read_p99_ms", hot.0);
    lab.sample("shB.read_p99_ms", cold.0);
    let was = watch.cliff_holding;
    watch.cliff_holding = cliff_holds(was, hot, cold, scale.cliff_ratio, watch.restore_ms);
    if watch.cliff_holding && watch.cliff_at.is_none() {
        watch.cliff_at = Some(now);
        lab.mark(
            None,
            format!(
                "latency cliff: {HOT} p99 {:.1} ms vs {COLD} {:.1} ms",
                hot.0, cold.0
            ),
        );
    }
    if let Some(gate) = &watch.shedding {
        if gate.set_overloaded(HOT, watch.cliff_holding) {
            lab.mark(
                None,
                if watch.cliff_holding {
                    format!(
                        "shedding {:.0}% of the non-core reads of {HOT}'s users",
                        gate.share() * 100.0
                    )
                } else {
                    format!(
                        "{HOT} p99 {:.1} ms, under {:.1} ms: shedding stops",
                        hot.0, watch.restore_ms
                    )
                },
            );
        }
    }
}

/// Shed reads, in all and per phase (`reads_shed`, `reads_shed.<phase>`).
fn shed_figures(lab: &LabCtx, history: &History) {
    let mut per_phase: BTreeMap<String, u64> = BTreeMap::new();
    let mut all = 0u64;
    for o in history.of(READ_SHED) {
        all += 1;
        *per_phase
            .entry(o.phase.clone().unwrap_or_else(|| "none".into()))
            .or_default() += 1;
    }
    lab.figure("reads_shed", all as f64);
    for (phase, n) in per_phase {
        lab.figure(format!("reads_shed.{phase}"), n as f64);
    }
}

/// p99 of reads per `<shard>.<phase>`.
fn per_shard_latency(history: &History) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let shards: std::collections::BTreeSet<String> =
        history.of(READ).filter_map(|o| o.key.clone()).collect();
    for shard in shards {
        for s in latency::per_phase(history, |o| {
            o.f == READ && o.key.as_deref() == Some(shard.as_str())
        }) {
            out.insert(format!("{shard}.{}", s.phase), s.p99_ms);
        }
    }
    out
}

/// The hot shard's storage of the check-ins, if it can be read.
async fn hot_storage(cluster: &MongoShardedClusterHandle) -> Option<CollStorage> {
    cluster
        .storage(DB, COLL)
        .await
        .ok()?
        .into_iter()
        .find(|s| s.shard.as_deref() == Some(HOT))
}

/// One sample: sizes against the alarm, the hot shard's cache, and the
/// cliff over the last window. Returns the hot working set.
async fn sample(
    lab: &LabCtx,
    cluster: &MongoShardedClusterHandle,
    reads: &RunningWorkload,
    alarm: &CapacityAlarm,
    scale: &Scale,
    watch: &mut Watch,
) -> f64 {
    let mut hot_ws = 0.0;
    if let Ok(storage) = cluster.storage(DB, COLL).await {
        for s in &storage {
            let shard = s.shard.clone().unwrap_or_default();
            lab.sample(format!("{shard}.working_set_bytes"), s.working_set());
            lab.sample(format!("{shard}.fragmentation"), s.fragmentation());
            if shard == HOT {
                hot_ws = s.working_set();
            }
            if alarm.fires(s.working_set()) && watch.crossed_at.is_none() {
                watch.crossed_at = Some(lab.now());
                let usage = format!(
                    "{shard} data + indexes at {:.0}% of its memory budget",
                    alarm.usage(s.working_set()) * 100.0
                );
                if watch.alarm_on {
                    watch.alarm_at = watch.crossed_at;
                    lab.mark(None, format!("capacity alarm: {usage}"));
                } else {
                    lab.mark(None, format!("unwatched (no capacity alarm): {usage}"));
                }
            }
        }
    }
    if let Ok(cache) = cluster.cache_stats(HOT).await {
        lab.sample("shA.cache_fill", cache.fill());
        if let Some(prev) = &watch.last_cache {
            let act = cache.since(prev);
            lab.sample("shA.cache_miss_ratio", act.miss_ratio());
            lab.sample("shA.app_evictions", act.app_evictions);
        }
        watch.last_cache = Some(cache);
    }
    watch_cliff(lab, reads, scale, watch);
    hot_ws
}

/// Adds a shard and moves the coldest `fraction` of the hot shard's
/// documents (by the Zipf mass of its user-id range) to it.
async fn rebalance(
    lab: &LabCtx,
    cluster: &MongoShardedClusterHandle,
    routing: &Routing,
    scale: &Scale,
    fraction: f64,
) -> Result<()> {
    let new = cluster.add_shard().await?;
    let split = scale.split() as usize;
    let lo = zipf_tail_start(scale.users, scale.zipf_s, 0, split, fraction) as i64;
    cluster
        .move_range(NS, doc! {"uid": lo}, doc! {"uid": split as i64}, new.name())
        .await
        .with_context(|| format!("moving uid {lo}..{split} to {}", new.name()))?;
    routing.move_range(lo, split as i64, new.name());
    lab.mitigation(format!(
        "shard {} added; {:.0}% of {HOT}'s check-ins (uid {lo}..{split}) moved to it",
        new.name(),
        fraction * 100.0
    ));
    debug_assert_eq!(new.name(), shard_name(2));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_follows_moves() {
        let r = Routing::new(HOT);
        r.assign(500, COLD);
        assert_eq!(r.shard_of(0), HOT);
        assert_eq!(r.shard_of(499), HOT);
        assert_eq!(r.shard_of(500), COLD);
        r.move_range(400, 500, "shC");
        assert_eq!(r.shard_of(399), HOT);
        assert_eq!(r.shard_of(450), "shC");
        assert_eq!(r.shard_of(500), COLD);
        assert_eq!((r.group())(10), HOT);
    }

    #[test]
    fn the_mitigations_are_the_dossiers() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../postmortems/foursquare-2010-mongodb-shards.toml");
        let dossier = harness::postmortem::Dossier::load(&path).unwrap();
        assert_eq!(dossier.mitigation_names(), MITIGATIONS.to_vec());
    }

    #[test]
    fn only_adding_a_shard_with_the_alarm_acts_before_the_cliff() {
        use Moment::*;
        use Relief::*;
        assert_eq!(relieve_at(AddShard, true, true), Alarm);
        // No alarm: the cliff is the first signal.
        assert_eq!(relieve_at(AddShard, false, true), Cliff);
        // The alarm without the fix: raised, nothing done before the cliff.
        assert_eq!(relieve_at(AddShard, true, false), Cliff);
        assert_eq!(relieve_at(AddShard, false, false), Cliff);
        for alarm in [true, false] {
            for fix in [true, false] {
                assert_eq!(relieve_at(CompactThenFailover, alarm, fix), Cliff);
            }
        }
    }

    #[test]
    fn scales_overload_the_cache() {
        for s in [Scale::ci(), Scale::full()] {
            assert!(s.overload > 1.0);
            assert!(
                s.alarm_threshold < 1.0,
                "the alarm fires before the budget is full"
            );
            assert!((s.shard_memory as f64) > s.cache_bytes());
            assert!((250..=350).contains(&s.doc_bytes));
            assert!((0.0..1.0).contains(&s.shed_share) && s.shed_share > 0.0);
            assert!((0.0..=1.0).contains(&s.core_ratio));
            // The hot shard really is hot under this skew.
            let hot = fixtures::mongo::workload::zipf_share(s.users, s.zipf_s, 0, s.users / 2);
            assert!(hot > 0.8, "{hot}");
        }
    }
}
