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
//!    ratio and latency against the other shard's (the **cliff**).
//! 3. *before* (**mitigate**, the day's attempt): a third shard is added and
//!    5% of the hot shard's documents (its coldest users) are moved there.
//!    Signatures: the cliff showed (hot p99 / cold p99 past the ratio); the
//!    move did not restore the hot shard's latency; the donor's
//!    fragmentation (`freeStorageSize / storageSize`) rose.
//! 4. *after*: the alarm must fire before the cliff; at the alarm
//!    ([`Mitigation::AddShardEarly`]) a shard is added and half of the hot
//!    range moved, or at the cliff ([`Mitigation::CompactThenFailover`]) the
//!    same move is followed by `compact` on the donor's secondaries, a
//!    step-down and `compact` on the old primary (the follow-up the
//!    postmortem describes, online since 4.4). Required: the hot shard's
//!    latency back under the restore threshold within the budget
//!    (`latency.hot_shard.recovery`) and every acknowledged check-in
//!    present (`integrity.set`).
//!
//! Whether the cliff shows at a given scale depends on the host's disk and
//! page cache; the numbers it saw are in the report's figures.

use anyhow::{Context, Result};
use fixtures::mongo::bson::{doc, Bson};
use fixtures::mongo::sharded::shard_name;
use fixtures::mongo::stats::{CacheStats, CapacityAlarm, CollStorage};
use fixtures::mongo::workload::{
    final_read, uniform, zipf, zipf_tail_start, BulkFill, FillSpec, InsertWorkload, KeyGroup,
    ReadByKeyWorkload,
};
use fixtures::mongo::{MongoShardedCluster, MongoShardedClusterHandle};
use harness::checker::integrity;
use harness::checker::latency;
use harness::checker::Check;
use harness::history::{History, Op, OpStatus};
use harness::lab::LabCtx;
use harness::report::Report;
use harness::spec::Variant;
use harness::workload::{RunningWorkload, WorkloadRunner};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

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

/// What the operators do in an *after* run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mitigation {
    /// At the capacity alarm: add a shard and move half the hot range.
    AddShardEarly,
    /// At the cliff: add a shard, move half the hot range, compact the
    /// donor's secondaries, step its primary down, compact the old primary.
    CompactThenFailover,
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
    /// Hot p99 within this many times its steady p99 counts as restored.
    pub restore_factor: f64,
    /// Share of the hot shard's documents moved on the day.
    pub migrate_fraction: f64,
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

/// The 99th percentile (ms) of acknowledged reads of `shard` invoked in
/// `[from, to)`, and how many there were.
pub fn read_p99(history: &History, shard: &str, from: Duration, to: Duration) -> (f64, u64) {
    let s = latency::summarize(
        shard,
        history.ops.iter().filter(|o| {
            o.f == "read-user"
                && o.status == OpStatus::Ok
                && o.key.as_deref() == Some(shard)
                && o.invoke >= from
                && o.invoke < to
        }),
    );
    (s.p99_ms, s.count)
}

/// The first window of `window` starting at or after `from` (at an
/// acknowledged read of `shard`) whose reads of `shard` all succeeded, are
/// at least `min_ops`, and have a p99 at most `threshold_ms`; judged only
/// where the history covers the whole window. Returns its start. Candidate
/// starts are at least `window / 20` apart, so a poll over a long history
/// stays cheap (two pointers over the reads, sorted by invocation).
pub fn latency_recovered_at(
    history: &History,
    shard: &str,
    from: Duration,
    window: Duration,
    threshold_ms: f64,
    min_ops: u64,
) -> Option<Duration> {
    let reads: Vec<&Op> = history
        .ops
        .iter()
        .filter(|o| o.f == "read-user" && o.key.as_deref() == Some(shard) && o.invoke >= from)
        .collect();
    let end = history.ops.iter().map(|o| o.complete).max()?;
    let step = window / 20;
    let mut last: Option<Duration> = None;
    let mut j = 0;
    for i in 0..reads.len() {
        let t = reads[i].invoke;
        if reads[i].status != OpStatus::Ok || last.is_some_and(|l| t < l + step) {
            continue;
        }
        if t + window > end {
            return None;
        }
        last = Some(t);
        j = j.max(i);
        while j < reads.len() && reads[j].invoke < t + window {
            j += 1;
        }
        let in_window = &reads[i..j];
        // A failed read in the window is not a fast one.
        if in_window.iter().any(|o| o.status != OpStatus::Ok) {
            continue;
        }
        let s = latency::summarize(shard, in_window.iter().copied());
        if s.count >= min_ops && s.p99_ms <= threshold_ms {
            return Some(t);
        }
    }
    None
}

/// *before*: the cliff, a 5% move that does not help, fragmentation.
pub async fn before(lab: &LabCtx, scale: Scale) -> Result<Report> {
    run(lab, scale, Variant::Before, Mitigation::AddShardEarly).await
}

/// *after*: the alarm before the cliff and a mitigation that restores
/// latency within the budget.
pub async fn after(lab: &LabCtx, scale: Scale, mitigation: Mitigation) -> Result<Report> {
    run(lab, scale, Variant::After, mitigation).await
}

struct Watch {
    alarm_at: Option<Duration>,
    cliff_at: Option<Duration>,
    last_cache: Option<CacheStats>,
}

async fn run(
    lab: &LabCtx,
    scale: Scale,
    variant: Variant,
    mitigation: Mitigation,
) -> Result<Report> {
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
    let reads = WorkloadRunner::new(
        ReadByKeyWorkload::new(
            client.clone(),
            DB,
            COLL,
            "uid",
            uniform(0, scale.users as i64),
        )
        .group_by(routing.group())
        .seed(lab.seed() ^ 1),
    )
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

    lab.phase("load").await;
    let mut watch = Watch {
        alarm_at: None,
        cliff_at: None,
        last_cache: None,
    };
    let load_end = lab.now() + scale.max_load;
    let mut mitigated_at = None;
    loop {
        tokio::time::sleep(scale.sample_every).await;
        let hot_ws = sample(lab, &cluster, &reads, &alarm, &scale, &mut watch).await;
        if variant == Variant::After
            && mitigation == Mitigation::AddShardEarly
            && watch.alarm_at.is_some()
            && mitigated_at.is_none()
        {
            lab.phase("mitigate").await;
            mitigated_at = Some(lab.now());
            rebalance(lab, &cluster, &routing, &scale, 0.5).await?;
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
        watch.alarm_at.map(|d| d.as_secs_f64()).unwrap_or(f64::NAN),
    );
    lab.figure(
        "cliff_at_secs",
        watch.cliff_at.map(|d| d.as_secs_f64()).unwrap_or(f64::NAN),
    );

    let storage_before = hot_storage(&cluster).await;
    match variant {
        Variant::Before => {
            lab.check(Check::signature(
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
            ));
            // The day's attempt: a third shard, 5% of the hot shard moved.
            lab.phase("mitigate").await;
            rebalance(lab, &cluster, &routing, &scale, scale.migrate_fraction).await?;
            let moved_at = lab.now();
            lab.phase("after-move").await;
            tokio::time::sleep(scale.window * 2).await;
            let (p99, n) = read_p99(&reads.snapshot(), HOT, moved_at, lab.now());
            let still = n > 0 && p99 > scale.restore_factor * steady_hot_p99.max(0.001);
            lab.check(
                Check::signature(
                    "latency.migration_did_not_restore",
                    still,
                    format!(
                        "after moving {:.0}% of the hot shard: p99 {p99:.1} ms vs {steady_hot_p99:.1} ms steady",
                        scale.migrate_fraction * 100.0
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
            lab.check(Check::requirement(
                "capacity.alarm_before_cliff",
                match (watch.alarm_at, watch.cliff_at) {
                    (Some(_), None) => true,
                    (Some(a), Some(c)) => a < c,
                    (None, _) => false,
                },
                format!(
                    "alarm at {:?}, cliff at {:?} (lab time)",
                    watch.alarm_at, watch.cliff_at
                ),
            ));
            if mitigation == Mitigation::CompactThenFailover {
                lab.phase("mitigate").await;
                mitigated_at = Some(lab.now());
                rebalance(lab, &cluster, &routing, &scale, 0.5).await?;
                cluster.compact_then_failover(HOT, DB, COLL).await?;
            }
            lab.phase("recover").await;
            let from = mitigated_at.unwrap_or_else(|| lab.now());
            let threshold = scale.restore_factor * steady_hot_p99.max(1.0);
            let give_up = from + lab.spec().budget + scale.window + Duration::from_secs(1);
            let mut at = None;
            while at.is_none() && lab.now() < give_up {
                tokio::time::sleep(Duration::from_secs(1)).await;
                at = latency_recovered_at(&reads.snapshot(), HOT, from, scale.window, threshold, 5);
            }
            let secs = at.map(|t| t.saturating_sub(from).as_secs_f64());
            let within = secs.is_some_and(|s| s <= lab.spec().budget.as_secs_f64());
            let mut check = Check::requirement(
                "latency.hot_shard.recovery",
                within,
                format!(
                    "hot shard read p99 back under {threshold:.1} ms ({}x steady) {} (budget {:?})",
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

    let mut history = stop(writes).await;
    history.merge(stop(reads).await);
    for (phase, s) in per_shard_latency(&history) {
        lab.figure(format!("p99_ms.{phase}"), s);
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

/// p99 of reads per `<shard>.<phase>`.
fn per_shard_latency(history: &History) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let shards: std::collections::BTreeSet<String> = history
        .of("read-user")
        .filter_map(|o| o.key.clone())
        .collect();
    for shard in shards {
        for s in latency::per_phase(history, |o| {
            o.f == "read-user" && o.key.as_deref() == Some(shard.as_str())
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
/// latency ratio over the last window. Returns the hot working set.
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
            if alarm.fires(s.working_set()) && watch.alarm_at.is_none() {
                watch.alarm_at = Some(lab.now());
                lab.mark(
                    None,
                    format!(
                        "capacity alarm: {shard} data + indexes at {:.0}% of its memory budget",
                        alarm.usage(s.working_set()) * 100.0
                    ),
                );
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
    let now = lab.now();
    let from = now.saturating_sub(scale.window);
    let snap = reads.snapshot();
    let (hot, nh) = read_p99(&snap, HOT, from, now);
    let (cold, nc) = read_p99(&snap, COLD, from, now);
    lab.sample("shA.read_p99_ms", hot);
    lab.sample("shB.read_p99_ms", cold);
    if nh >= 5 && nc >= 5 && hot >= scale.cliff_ratio * cold.max(0.001) && watch.cliff_at.is_none()
    {
        watch.cliff_at = Some(now);
        lab.mark(
            None,
            format!("latency cliff: {HOT} p99 {hot:.1} ms vs {COLD} {cold:.1} ms"),
        );
    }
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

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

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

    fn read(shard: &str, at: u64, took: u64) -> Op {
        Op::ok("read-user")
            .with_key(shard)
            .at(ms(at), ms(at + took))
    }

    #[test]
    fn p99_per_shard_and_window() {
        let mut ops = Vec::new();
        for i in 0..100 {
            ops.push(read(HOT, i * 10, 50));
            ops.push(read(COLD, i * 10, 2));
        }
        let h = History::new(ops);
        let (hot, n) = read_p99(&h, HOT, ms(0), ms(1000));
        let (cold, _) = read_p99(&h, COLD, ms(0), ms(1000));
        assert_eq!(n, 100);
        assert!(hot / cold > 10.0, "{hot} {cold}");
        assert_eq!(read_p99(&h, HOT, ms(2000), ms(3000)).1, 0);
    }

    #[test]
    fn latency_recovery_needs_a_whole_fast_window() {
        // Slow (200 ms) until 5 s, fast (5 ms) after, to 20 s.
        let mut ops = Vec::new();
        for i in 0..200u64 {
            let at = i * 100;
            ops.push(read(HOT, at, if at < 5000 { 200 } else { 5 }));
        }
        let h = History::new(ops);
        let t = latency_recovered_at(&h, HOT, ms(1000), Duration::from_secs(3), 20.0, 5).unwrap();
        assert!(t >= ms(5000) && t <= ms(5150), "{t:?}");
        assert!(
            latency_recovered_at(&h, HOT, ms(0), Duration::from_secs(3), 1.0, 5).is_none(),
            "never under 1 ms"
        );
        assert!(
            latency_recovered_at(&h, COLD, ms(0), Duration::from_secs(3), 100.0, 5).is_none(),
            "no reads of that shard"
        );
        // A failure inside the window spoils it.
        let mut ops = h.ops.clone();
        ops.push(
            Op::fail("read-user", "timeout")
                .with_key(HOT)
                .at(ms(6000), ms(6001)),
        );
        let t = latency_recovered_at(
            &History::new(ops),
            HOT,
            ms(1000),
            Duration::from_secs(3),
            20.0,
            5,
        )
        .unwrap();
        assert!(t > ms(6000), "{t:?}");
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
            // The hot shard really is hot under this skew.
            let hot = fixtures::mongo::workload::zipf_share(s.users, s.zipf_s, 0, s.users / 2);
            assert!(hot > 0.8, "{hot}");
        }
    }
}
