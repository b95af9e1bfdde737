//! LeanCloud, 2015-06-06: a MongoDB shard without a primary for about
//! four hours (`shared/postmortems/leancloud-2015-06-mongodb.md`).
//!
//! The timeline, as the postmortem tells it, on a 5-member replica set:
//!
//! 1. **steady**: the set holds many databases with indexes (LeanCloud had
//!    ~10,000; scaled by [`Scale::databases`]); clients insert at
//!    `w: majority, j: true` through the real replica-set URI.
//! 2. **fault, 16:10**: a co-located process (a `mesos-slave` child) eats
//!    the memory of 3 of the 5 members, the primary among them
//!    (`MemoryExhaustion`, a hog in each member's memory cgroup).
//!    Operators kill the hogs. The primary's connection slots are full
//!    (`ConnectionFlood` up to `--maxConns`); two of the bad members are
//!    restarted under a process limit too low for a start with that many
//!    databases (`ProcessLimit`, the pids cgroup). All API traffic is
//!    blocked and the three members are restarted again: still under the
//!    limit.
//! 3. *before*: the signature is that no writable primary exists while the
//!    limits stand (3 of 5 votes are gone: no election can succeed).
//! 4. *after* (**mitigate**, 19:09): the process limit is raised, the three members restart with headroom; **recover**: traffic
//!    is let back in at a quarter of the rate, then in full. Required:
//!    recovery (a good window of writes) within the budget from the limit
//!    raise (`availability.recovery`), and every acknowledged majority
//!    write present at the end (`integrity.set`); no linearizable read of
//!    a register older than an acknowledged write (`integrity.register`).
//!
//! Report figures: time to detect, time without a writable primary,
//! elections, restarts per member, time to full traffic.

use anyhow::{Context, Result};
use fixtures::mongo::flood::ConnectionFlood;
use fixtures::mongo::workload::{create_databases, final_read, InsertWorkload, RegisterWorkload};
use fixtures::mongo::{DriverSettings, MemberSpec, MongoReplicaSet, MongoReplicaSetHandle};
use harness::checker::availability::{self, Recovery, ServiceFigures};
use harness::checker::integrity;
use harness::checker::Check;
use harness::fault::memory::{Hog, MemoryExhaustion, Placement};
use harness::fault::pids::ProcessLimit;
use harness::fault::FaultGuard;
use harness::history::History;
use harness::lab::{LabCtx, WaitFor};
use harness::report::Report;
use harness::spec::Variant;
use harness::workload::WorkloadRunner;
use std::collections::BTreeMap;
use std::time::Duration;

/// The mitigations this scenario switches, by the dossier's names: the
/// raised process limit, and traffic shed then ramped back in. The
/// *before* variant has neither; it still lifts the limit once the
/// signature is observed (not as a fix: so that what was acknowledged can
/// be read back and judged), and takes the full traffic back at once.
pub const MITIGATIONS: [&str; 2] = ["raise_pids_limit", "shed_then_ramp"];

/// The database and collection the clients write.
pub const DB: &str = "incident";
/// See [`DB`].
pub const COLL: &str = "writes";

/// Sizes and times of one run (the scale knobs).
#[derive(Clone, Debug)]
pub struct Scale {
    /// Members of the replica set (the postmortem's shard had 5).
    pub members: usize,
    /// Databases with indexes created before the fault (LeanCloud: ~10,000).
    pub databases: usize,
    /// `createIndexes` in flight while creating them.
    pub create_concurrency: usize,
    /// Memory limit of each member (bytes).
    pub memory: i64,
    /// WiredTiger cache of each member (GB).
    pub cache_gb: f64,
    /// `--maxConns` of each member: what the flood fills on the primary.
    pub max_conns: u32,
    /// The pids limit that a restart exceeds (mongod needs dozens of
    /// threads to start, plus one per connection).
    pub low_pids: i64,
    /// Writing clients and their total rate (ops/s).
    pub clients: u32,
    /// See [`Scale::clients`].
    pub rate: f64,
    /// Undisturbed traffic before the fault.
    pub steady: Duration,
    /// How long the hogs run before operators kill them.
    pub hog_for: Duration,
    /// How long the limits are watched standing (the signature window).
    pub observe: Duration,
    /// The first, reduced-traffic step of the ramp.
    pub ramp_step: Duration,
    /// How long members may take to start once the limits are raised.
    pub restart_timeout: Duration,
    /// The recovery window `W` and ratio `X`.
    pub window: Duration,
    /// See [`Scale::window`].
    pub ratio: f64,
}

impl Scale {
    /// A CI-sized run: 200 databases, 1 GiB per member, ~3 minutes.
    pub fn ci() -> Self {
        Scale {
            members: 5,
            databases: 200,
            create_concurrency: 32,
            memory: 1 << 30,
            cache_gb: 0.25,
            max_conns: 200,
            low_pids: 24,
            clients: 8,
            rate: 100.0,
            steady: Duration::from_secs(10),
            hog_for: Duration::from_secs(5),
            observe: Duration::from_secs(20),
            ramp_step: Duration::from_secs(5),
            restart_timeout: Duration::from_secs(120),
            window: Duration::from_secs(5),
            ratio: 0.95,
        }
    }

    /// Closer to the day: 10,000 databases, 2 GiB per member.
    pub fn full() -> Self {
        Scale {
            databases: 10_000,
            memory: 2 << 30,
            max_conns: 1000,
            clients: 32,
            rate: 500.0,
            observe: Duration::from_secs(60),
            restart_timeout: Duration::from_secs(600),
            ..Scale::ci()
        }
    }
}

/// The member names the memory hog hits: the primary and the next two.
pub fn bad_members(members: usize, primary: usize) -> Vec<usize> {
    let mut v = vec![primary];
    v.extend((0..members).filter(|i| *i != primary).take(2));
    v
}

/// The incident, as the lab's spec names its variant. *before*: the
/// limits stand and no writable primary exists. *after*: limits raised,
/// traffic shed then ramped; recovery within the budget and no
/// acknowledged write lost.
pub async fn run(lab: &LabCtx, scale: Scale) -> Result<Report> {
    let variant = lab.spec().variant;
    let set = lab
        .start(
            MongoReplicaSet::new("rs", scale.members)
                .with_member(0, MemberSpec::with_priority(2.0))
                .with_cache_gb(scale.cache_gb)
                .with_memory_limit(scale.memory)
                .with_max_conns(scale.max_conns),
        )
        .await?;
    let settings = DriverSettings::default();
    let client = set.workload_client(&settings).await?;
    let created = create_databases(&client, scale.databases, scale.create_concurrency)
        .await
        .context("creating the databases")?;
    lab.figure("databases", created as f64);
    lab.mark(None, format!("{created} databases with indexes"));

    lab.phase("steady").await;
    let writes = WorkloadRunner::new(
        InsertWorkload::new(client.clone(), DB, COLL).retry_writes(settings.retry_writes),
    )
    .clients(scale.clients)
    .rate(scale.rate)
    .start(lab)
    .await?;
    // Versioned registers with linearizable reads, for stale reads.
    let registers = WorkloadRunner::new(
        RegisterWorkload::new(client.clone(), DB, "registers")
            .writers(2)
            .retry_writes(settings.retry_writes)
            .seed(lab.seed()),
    )
    .clients(2)
    .rate(20.0)
    .start(lab)
    .await?;
    tokio::time::sleep(scale.steady).await;

    // 16:10: the memory alarm.
    lab.phase("fault").await;
    let fault_at = lab.now();
    let primary = set.wait_for_primary(Duration::from_secs(30)).await?;
    let bad = bad_members(set.len(), primary);
    let mut hogs: Vec<FaultGuard> = Vec::new();
    for &i in &bad {
        hogs.push(
            lab.inject(
                MemoryExhaustion::hog(&set.node(i)?, Hog::hold(scale.memory as u64))
                    .placed(Placement::Exec),
            )
            .await?,
        );
    }
    tokio::time::sleep(scale.hog_for).await;
    lab.mitigation("operators kill the leaking process on every member");
    for g in hogs {
        g.heal().await?;
    }

    // The primary's connection slots fill up (peak traffic on the two
    // healthy members), so members that restart cannot rejoin it.
    let mut flood = None;
    if let Some(p) = set.primary().await {
        match lab
            .inject(ConnectionFlood::new(
                &set.node(p)?,
                scale.max_conns as usize + 16,
            ))
            .await
        {
            Ok(g) => flood = Some(g),
            Err(e) => lab.note(format!("the connection flood did not take: {e:#}")),
        }
    }
    // Two of the three are restarted, under a process limit that a start
    // with this many databases exceeds.
    let mut limits: Vec<FaultGuard> = Vec::new();
    for &i in &bad[1..] {
        limits.push(
            lab.inject(ProcessLimit::new(&set.node(i)?, scale.low_pids))
                .await?,
        );
    }
    let mut restarts: BTreeMap<String, u32> = BTreeMap::new();
    for &i in &bad[1..] {
        restart(lab, &set, i, &mut restarts).await;
    }
    lab.mitigation("all API traffic blocked; the three bad members restarted");
    let mut history = writes.stop().await;
    let register_history = registers.stop().await;
    // Restarting the primary drops the flood's connections anyway.
    if let Some(g) = flood.take() {
        g.heal().await?;
    }
    limits.push(
        lab.inject(ProcessLimit::new(&set.node(bad[0])?, scale.low_pids))
            .await?,
    );
    for &i in &bad {
        restart(lab, &set, i, &mut restarts).await;
    }

    // While the limits stand: is there ever a writable primary?
    let (polls, with_primary) = watch_primary(lab, &set, scale.observe).await;
    lab.check(
        Check::signature(
            "availability.no_writable_primary",
            polls > 0 && with_primary == 0,
            format!(
                "{with_primary} of {polls} polls over {:?} found a writable primary while the pids limit ({}) stood on {} of {} members",
                scale.observe,
                scale.low_pids,
                bad.len(),
                set.len()
            ),
        )
        .with_figure("polls", polls as f64)
        .with_figure("polls_with_primary", with_primary as f64),
    );

    // 19:09: the limit is raised. The before variant lifts it too, once
    // the signature is seen, so that the integrity of what was
    // acknowledged can be judged; an after run without the fix (an
    // ablation) leaves it standing and does not recover.
    lab.phase("mitigate").await;
    let raised_at = lab.now();
    let raised = lab.mitigated("raise_pids_limit") || variant == Variant::Before;
    let standing = if raised {
        lab.mitigation("process limit raised");
        lift(lab, &set, &bad, limits, &scale, &mut restarts).await?;
        Vec::new()
    } else {
        lab.note("raise_pids_limit is not in force: the process limit stands");
        limits
    };

    lab.phase("recover").await;
    let ramp_back = lab.mitigated("shed_then_ramp");
    if variant == Variant::After {
        if ramp_back {
            // Traffic let back in gradually: a quarter, then all of it.
            let ramp = WorkloadRunner::new(
                InsertWorkload::new(client.clone(), DB, COLL).retry_writes(settings.retry_writes),
            )
            .clients(scale.clients.div_ceil(4))
            .rate(scale.rate / 4.0)
            .start(lab)
            .await?;
            tokio::time::sleep(scale.ramp_step).await;
            history.merge(ramp.stop().await);
            lab.mitigation("traffic ramped to full");
        }
        let full = WorkloadRunner::new(
            InsertWorkload::new(client.clone(), DB, COLL).retry_writes(settings.retry_writes),
        )
        .clients(scale.clients)
        .rate(scale.rate)
        .start(lab)
        .await?;
        let from = if raised {
            "process limit raised"
        } else {
            "the operators' turn (the process limit was not raised)"
        };
        let recovery = Recovery::after_mitigation(raised_at, from)
            .window(scale.window)
            .ratio(scale.ratio)
            .budget(lab.spec().budget)
            .of(["add"]);
        let give_up = raised_at + lab.spec().budget + scale.window + Duration::from_secs(1);
        while recovery
            .measure(&merged(&history, &full.snapshot()))
            .is_none()
            && lab.now() < give_up
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        history.merge(full.stop().await);
        lab.figure(
            "time_to_full_traffic_secs",
            availability::mitigation_time(&lab.timeline().events(), "traffic ramped")
                .map(|t| t.saturating_sub(raised_at).as_secs_f64())
                .unwrap_or(f64::NAN),
        );
        lab.check(recovery.check(&history));
    }
    if !standing.is_empty() {
        // Recovery is judged; now lift the limit that stood, so that what
        // was acknowledged can be read back and judged.
        lab.mark(
            None,
            "the standing process limit lifted to read back the writes",
        );
        lift(lab, &set, &bad, standing, &scale, &mut restarts).await?;
    }

    // Every acknowledged majority write must be there.
    let read = final_read(lab, &client, DB, COLL, Duration::from_secs(60)).await;
    history.merge(History::new(vec![read]));
    lab.record_history(&history);
    lab.record_history(&register_history);
    let checked = [
        integrity::set(&history),
        integrity::register(&register_history),
    ];
    for c in checked {
        match variant {
            Variant::Before => lab.checks_from(c.presence_only()),
            Variant::After => lab.checks_from(c),
        }
    }

    lab.figures_from(ServiceFigures::measure(&history, fault_at).figures());
    let log = set.election_log();
    lab.figure("elections", log.elections as f64);
    lab.figure("primary_changes", log.changes as f64);
    lab.figure("without_primary_secs", log.without_primary.as_secs_f64());
    for (member, n) in &restarts {
        lab.figure(format!("restarts.{member}"), *n as f64);
    }
    lab.finish().await
}

fn merged(a: &History, b: &History) -> History {
    let mut h = a.clone();
    h.merge(b.clone());
    h
}

/// Restarts member `i` (SIGTERM, 2 s grace) without requiring it to come
/// up: under the limit it may not.
async fn restart(
    lab: &LabCtx,
    set: &MongoReplicaSetHandle,
    i: usize,
    restarts: &mut BTreeMap<String, u32>,
) {
    let Ok(node) = set.node(i) else { return };
    *restarts.entry(node.name.clone()).or_default() += 1;
    if let Err(e) = lab
        .restart_node(
            &node,
            Duration::from_secs(2),
            &WaitFor::Tcp(27017),
            Duration::from_secs(20),
        )
        .await
    {
        lab.mark(
            Some(&node.name),
            format!("did not come back: {}", first_line(&format!("{e:#}"))),
        );
    }
}

/// Lifts the process limits, restarts the bad members with the headroom,
/// and waits for a healthy set (a note if it does not become one).
async fn lift(
    lab: &LabCtx,
    set: &MongoReplicaSetHandle,
    bad: &[usize],
    limits: Vec<FaultGuard>,
    scale: &Scale,
    restarts: &mut BTreeMap<String, u32>,
) -> Result<()> {
    for g in limits {
        g.heal().await?;
    }
    for &i in bad {
        restart(lab, set, i, restarts).await;
    }
    if let Err(e) = set.wait_ready(scale.restart_timeout).await {
        lab.note(format!("the set did not become healthy: {e:#}"));
    }
    Ok(())
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Polls for a writable primary every 500 ms for `span`: (polls, polls
/// that found one). Samples the series `writable_primary`.
async fn watch_primary(lab: &LabCtx, set: &MongoReplicaSetHandle, span: Duration) -> (u32, u32) {
    let end = tokio::time::Instant::now() + span;
    let (mut polls, mut found) = (0, 0);
    while tokio::time::Instant::now() < end {
        let p = set.primary().await.is_some();
        polls += 1;
        found += p as u32;
        lab.sample("writable_primary", p as u8 as f64);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (polls, found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_and_two_more_are_hit() {
        assert_eq!(bad_members(5, 0), vec![0, 1, 2]);
        assert_eq!(bad_members(5, 3), vec![3, 0, 1]);
        let b = bad_members(5, 4);
        assert_eq!(b.len(), 3);
        assert!(b.contains(&4));
    }

    #[test]
    fn scales_keep_a_majority_out() {
        for s in [Scale::ci(), Scale::full()] {
            // 3 of the members down leaves fewer than a majority of votes.
            assert!(s.members - 3 < s.members / 2 + 1);
            assert!(s.low_pids < 64, "low enough that mongod cannot start");
            assert!(s.cache_gb >= 0.25);
            assert!((s.cache_gb * (1u64 << 30) as f64) < s.memory as f64);
        }
        assert!(Scale::full().databases >= 10 * Scale::ci().databases);
    }
}
