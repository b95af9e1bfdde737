//! Cloudflare, 2020-11-02 (`postmortems/cloudflare-2020-etcd-elections.md`):
//! a half-failed switch cut one member of a three-member Raft cluster off
//! from its leader, and that member kept calling elections. Here the
//! cluster is three Consul servers (hashicorp/raft, not etcd), and what is
//! shown is hashicorp/raft's version of the same term inflation: the cut-off
//! follower's term climbs while the leader keeps its majority, and when the
//! cut heals its first reply to the leader carries the higher term, which
//! deposes a healthy leader. Raft pre-vote (hashicorp/raft v1.7.0, Consul
//! 1.20.2, hashicorp/consul#21758) keeps the term flat: the demonstration
//! incident of `incident bisect` (`docs/bisect.md`).
//!
//! `before`: the Consul of `consul_legacy` (the image `incident bisect`
//! swaps release by release). `after`: the current Consul with its
//! pre-vote left on (`pre_vote`; without it, `raft_prevote_disabled`).

use anyhow::{Context, Result};
use fixtures::consul::raft::{RaftState, RaftStats, RaftView};
use fixtures::consul::workload::{list_kv, KvWrites};
use fixtures::consul::{ClusterConfig, ConsulCluster, ConsulClusterHandle, ConsulVersion};
use harness::checker::availability::Recovery;
use harness::checker::integrity::Set;
use harness::checker::{Check, CheckKind};
use harness::fault::partition::Partition;
use harness::prelude::*;

/// The fixes of the dossier, by name.
pub const MITIGATIONS: [&str; 1] = ["pre_vote"];

/// The signature's name.
pub const SIGNATURE: &str = "raft.rejoin_deposed_leader";

/// How long the follower stays cut off: at `raft_multiplier = 1` Raft's
/// heartbeat and election timeouts are 1 s (randomised to 1-2 s), so
/// without pre-vote the cut-off follower campaigns about ten times.
pub const CUT: Duration = Duration::from_secs(15);

/// How long after the heal the leader is watched. The leader learns the
/// higher term from its next replication reply, and hashicorp/raft backs a
/// failing follower's replication off up to 10.24 s (10 ms × 2^10), and
/// Consul's Raft transport times a hung request out after 10 s.
pub const OBSERVE: Duration = Duration::from_secs(15);

/// A follower counts as cut off when it had not heard from the leader
/// for this long at the heal (or campaigned, or its term rose): twice the
/// 1-s heartbeat timeout, plus the 1-s poll.
pub const SILENCE: Duration = Duration::from_secs(3);

const PREFIX: &str = "rejoin";

/// The incident: steady writes, one follower cut off, the heal, the checks.
pub async fn run(lab: &LabCtx) -> Result<Report> {
    let consul = lab.start(cluster(lab)).await?;
    raft_library_note(lab, &consul);
    let writes = KvWrites::new(&consul, PREFIX).timeout(Duration::from_secs(2));
    let sides = Sides::of(&writes, CLIENTS);
    let writes = WorkloadRunner::new(writes).clients(CLIENTS).rate(60.0);
    let writes = writes.start(lab).await?;
    lab.phase("steady").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    lab.phase("fault").await;
    lab.mark(None, "14:43 UTC: a switch half fails");
    lab.mark(
        None,
        "one member cut off from the leader keeps calling elections",
    );
    let (cut, readings) = cut_one_follower(lab, &consul).await?;

    lab.phase("recover").await;
    lab.mark(None, "the switch recovers");
    let (readings, heal) = heal_and_watch(lab, &consul, cut, readings).await?;
    let recovery = sides.recovery(lab, heal, &readings.cut);
    let give_up = heal + Duration::from_secs(60);
    while !recovery.measured(&writes.snapshot()) && lab.now() < give_up {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let history = writes.stop().await;
    recovery.judge(lab, &history);
    lab.figure("leader.leaderless_secs", consul.leaderless().as_secs_f64());
    judge(lab, &consul, &readings, history).await?;
    lab.finish().await
}

/// Writing clients, spread over the three servers in turn.
const CLIENTS: u32 = 6;

/// Which server each writing client writes to.
struct Sides(Vec<String>);

impl Sides {
    fn of(writes: &KvWrites, clients: u32) -> Self {
        Sides((0..clients).map(|p| writes.server_of(p)).collect())
    }

    /// The recoveries to judge after the heal at `heal`, `cut` being the
    /// server cut off.
    fn recovery(&self, lab: &LabCtx, heal: Duration, cut: &str) -> SideRecovery {
        let on_cut = |p: &u32| self.0[*p as usize] == cut;
        let (cut_off, majority): (Vec<u32>, Vec<u32>) = (0..self.0.len() as u32).partition(on_cut);
        let from_heal = || Recovery::after(heal).settle(OBSERVE).of(["put"]);
        SideRecovery {
            majority: from_heal().of_clients(majority).budget(lab.spec().budget),
            cut_off: from_heal()
                .of_clients(cut_off)
                .named("availability.recovery.cut_off"),
        }
    }
}

/// Writes after the heal, judged by side. The majority's clients are the
/// ones a deposed leader takes service from, so their recovery is the one
/// judged against the budget. The cut-off server's clients come back only
/// when Consul's gossip (Serf) re-admits the peers it marked failed during
/// the cut, about 10 s after the heal with or without pre-vote: required to
/// happen, not budgeted, because pre-vote does not change it.
struct SideRecovery {
    majority: Recovery,
    cut_off: Recovery,
}

impl SideRecovery {
    fn measured(&self, history: &History) -> bool {
        self.majority.measure(history).is_some() && self.cut_off.measure(history).is_some()
    }

    /// After: both are checks. Before: how long the majority's writes
    /// took to come back is a figure, because when the rejoin deposes the
    /// leader (0-10 s after the heal) decides whether it is over the
    /// budget, so as a check it would make the snapshot flaky.
    fn judge(&self, lab: &LabCtx, history: &History) {
        let cut_off = self.cut_off.check(history);
        if let Some(secs) = cut_off.figures.get("recovery_secs") {
            lab.figure("kv.cut_off_recovery_secs", *secs);
        }
        match lab.spec().variant {
            Variant::After => {
                lab.check(self.majority.check(history));
                lab.check(cut_off);
            }
            Variant::Before => {
                if let Some(r) = self.majority.measure(history) {
                    lab.figure("kv.recovery_secs", r.after.as_secs_f64());
                }
            }
        }
    }
}

/// Three servers on the release of the variant. `pre_vote` is the current
/// Consul as it ships; without it the current Consul runs with pre-vote
/// switched off, and the before variant runs the legacy image (whose Raft
/// predates pre-vote, or whichever release `incident bisect` put there).
fn cluster(lab: &LabCtx) -> ConsulCluster {
    let servers = ConsulCluster::servers(3).with_raft_poll(Duration::from_secs(1));
    match lab.spec().variant {
        Variant::Before => servers.with_version(ConsulVersion::Legacy),
        Variant::After if lab.mitigated("pre_vote") => {
            lab.mitigation("pre-vote on (hashicorp/raft v1.7+)");
            servers.with_version(ConsulVersion::Current)
        }
        Variant::After => servers
            .with_version(ConsulVersion::Current)
            .with_config(ClusterConfig::default().with_prevote_disabled(true)),
    }
}

/// The Raft library the binary was built with, so a surprise (pre-vote in
/// the binary and the signature still present) shows in the report.
fn raft_library_note(lab: &LabCtx, consul: &ConsulClusterHandle) {
    let raft = consul.raft_library();
    let described = raft.as_ref().map(|r| r.describe());
    let described = described.unwrap_or_else(|| "raft version unknown".into());
    lab.note(format!("consul {}: {described}", consul.image()));
    if let Some(r) = raft {
        lab.figure("raft.pre_vote", if r.pre_vote { 1.0 } else { 0.0 });
    }
}

/// Every server's Raft view just before the cut, just before the heal, and
/// [`OBSERVE`] after it, with the leader of before the cut and the cut-off
/// follower.
#[derive(Clone, Debug, Default)]
pub struct Readings {
    /// The leader just before the cut.
    pub leader: String,
    /// The follower cut off.
    pub cut: String,
    /// Just before the cut.
    pub before_cut: RaftView,
    /// Just before the heal.
    pub at_heal: RaftView,
    /// [`OBSERVE`] after the heal.
    pub after_heal: RaftView,
}

/// The switch: a follower in the minority half, cut from both others for
/// [`CUT`]. It is named from the leader of a settled cluster just before
/// the cut, so the readings know whom to watch.
async fn cut_one_follower(
    lab: &LabCtx,
    consul: &ConsulClusterHandle,
) -> Result<(FaultGuard, Readings)> {
    consul.wait_ready(Duration::from_secs(30)).await?;
    let leader = consul.leader_name().await?;
    let servers = consul.server_names();
    let cut = servers
        .iter()
        .find(|s| **s != leader)
        .context("no follower")?;
    // Two polls, so the view before the cut has the settled leader.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_cut = consul.raft_view();
    let partition = Partition::halves().with_minority([cut.as_str()]);
    let guard = lab.inject(partition).await?;
    tokio::time::sleep(CUT).await;
    let readings = Readings {
        leader,
        cut: cut.clone(),
        before_cut,
        ..Readings::default()
    };
    Ok((guard, readings))
}

/// Heals the cut and watches the leader for [`OBSERVE`]; returns the
/// readings and when the heal took effect.
async fn heal_and_watch(
    lab: &LabCtx,
    consul: &ConsulClusterHandle,
    cut: FaultGuard,
    mut readings: Readings,
) -> Result<(Readings, Duration)> {
    readings.at_heal = consul.raft_view();
    cut.heal().await?;
    let heal = lab.now();
    tokio::time::sleep(OBSERVE).await;
    readings.after_heal = consul.raft_view();
    Ok((readings, heal))
}

/// The signature (before) or the leader kept (after), and integrity.
async fn judge(
    lab: &LabCtx,
    consul: &ConsulClusterHandle,
    readings: &Readings,
    mut history: History,
) -> Result<()> {
    lab.record_history(&history);
    let signature = rejoin_check(readings);
    for (name, value) in &signature.figures {
        lab.figure(format!("raft.{name}"), *value);
    }
    if lab.spec().variant == Variant::After {
        lab.check(leader_kept(&signature));
    }
    lab.check(signature);
    let invoked = lab.now();
    let list = Op::ok("list").with_values(list_kv(consul, PREFIX).await?);
    history.merge(History::new(vec![list.at(invoked, lab.now())]));
    let set = Set::new().named("integrity.kv").ops("put", "list");
    lab.checks_from(set.check(&history));
    Ok(())
}

/// `raft.rejoin_deposed_leader` from the three readings (a pure function):
/// - **present** (valid): the leader of before the cut led the same term
///   through it (no election won meanwhile), the cut-off follower's term
///   rose past the leader's, and [`OBSERVE`] after the heal the leader no
///   longer leads, or its term rose, or an election was won;
/// - **absent** (invalid): the follower was cut off (silent for at least
///   [`SILENCE`], or it campaigned) but its term did not rise, and the
///   leader still led the same term after the heal: what pre-vote does;
/// - **unknown** otherwise, saying why: a reading missing, no leader before
///   the cut, leadership changed *during* the cut (not this signature),
///   the follower not cut off, its term risen but the leader not yet
///   deposed, or the leader deposed without a risen term.
///
/// Figures: `cut_term_rise`, `cut_term_at_heal`, `leader_term`,
/// `leader_term_after`, `elections_during_cut`, `elections_after_heal`,
/// `cut_silent_secs` (when it had heard from a leader at all).
pub fn rejoin_check(r: &Readings) -> Check {
    let unknown = |why: String| Check::new(SIGNATURE, CheckKind::Signature, Verdict::Unknown, why);
    let (l, c) = (r.leader.as_str(), r.cut.as_str());
    let mut read = Vec::new();
    for (view, when) in [
        (&r.before_cut, "before the cut"),
        (&r.at_heal, "at the heal"),
        (&r.after_heal, "after the heal"),
    ] {
        for server in [l, c] {
            match last(view, server) {
                Some(s) => read.push(s.clone()),
                None => return unknown(format!("no Raft reading of {server} {when}")),
            }
        }
    }
    let [l0, c0, l1, c1, l2, _] = <[RaftStats; 6]>::try_from(read).expect("six readings");
    if l == c {
        return unknown(format!("the cut isolated the leader {l} itself"));
    }
    let during = r
        .at_heal
        .elections()
        .saturating_sub(r.before_cut.elections());
    let after = r
        .after_heal
        .elections()
        .saturating_sub(r.at_heal.elections());
    let rise = c1.term.saturating_sub(c0.term);
    let silent = c1.last_contact;
    let figures = |check: Check| {
        let check = check
            .with_figure("cut_term_rise", rise as f64)
            .with_figure("cut_term_at_heal", c1.term as f64)
            .with_figure("leader_term", l0.term as f64)
            .with_figure("leader_term_after", l2.term as f64)
            .with_figure("elections_during_cut", during as f64)
            .with_figure("elections_after_heal", after as f64);
        match silent {
            Some(s) => check.with_figure("cut_silent_secs", s.as_secs_f64()),
            None => check,
        }
    };
    if l0.state != RaftState::Leader {
        return figures(unknown(format!(
            "{l} was not leading just before the cut ({} at term {})",
            l0.state, l0.term
        )));
    }
    if during > 0 || l1.state != RaftState::Leader || l1.term != l0.term {
        return figures(unknown(format!(
            "leadership changed during the cut ({l} {} at term {} then {}, {during} election(s) won): the cut of one follower leaves the leader its majority, so this is not the rejoin signature",
            l1.state, l0.term, l1.term
        )));
    }
    let campaigned = r.at_heal.servers[c].candidacies > r.before_cut.servers[c].candidacies;
    let cut_off = rise > 0 || campaigned || silent.is_none_or(|s| s >= SILENCE);
    let heard = match silent {
        Some(s) => format!("last heard from a leader {:.1}s before", s.as_secs_f64()),
        None => "never heard from a leader".into(),
    };
    if !cut_off {
        return figures(unknown(format!(
            "{c} was not cut off: term {} unchanged, no campaign, {heard} the heal (needs {}s)",
            c1.term,
            SILENCE.as_secs()
        )));
    }
    let inflated = c1.term > l1.term;
    let deposed = l2.state != RaftState::Leader || l2.term > l1.term || after > 0;
    let watched = OBSERVE.as_secs();
    let outcome = format!(
        "{l} {} at term {} {watched}s after the heal, {after} election(s) won",
        l2.state, l2.term
    );
    figures(match (inflated, deposed) {
        (true, true) => Check::signature(
            SIGNATURE,
            true,
            format!(
                "{l} led term {} through the cut; {c}'s term rose {} -> {} (+{rise}) while cut off; the rejoin deposed it: {outcome}",
                l0.term, c0.term, c1.term
            ),
        ),
        (false, false) => Check::signature(
            SIGNATURE,
            false,
            format!(
                "{c} was cut off ({heard} the heal{}) but its term stayed at {} (no term inflation: pre-vote); {outcome}",
                if campaigned { ", campaigned" } else { "" },
                c1.term
            ),
        ),
        (true, false) => unknown(format!(
            "{c}'s term rose {} -> {} (+{rise}) but {outcome}: the higher term had not reached the leader (watch longer)",
            c0.term, c1.term
        )),
        (false, true) => unknown(format!(
            "{c}'s term did not pass the leader's ({} vs {}) yet leadership changed after the heal: {outcome}; another cause, not this signature",
            c1.term, l1.term
        )),
    })
}

fn last<'a>(view: &'a RaftView, server: &str) -> Option<&'a RaftStats> {
    view.servers.get(server).and_then(|s| s.last.as_ref())
}

/// The after variant's requirement `raft.leader_kept`, read off the
/// signature: it holds where the signature is absent, fails where it is
/// present, and is unknown where the signature is.
pub fn leader_kept(signature: &Check) -> Check {
    let verdict = match signature.verdict {
        Verdict::Valid => Verdict::Invalid,
        Verdict::Invalid => Verdict::Valid,
        Verdict::Unknown => Verdict::Unknown,
    };
    let mut check = Check::new(
        "raft.leader_kept",
        CheckKind::Requirement,
        verdict,
        signature.detail.clone(),
    );
    check.figures = signature.figures.clone();
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: &str = "consul-1";
    const C: &str = "consul-2";
    const G: &str = "consul-3";

    fn stats(state: RaftState, term: u64, contact: Option<u64>) -> RaftStats {
        RaftStats {
            state,
            term,
            last_contact: contact.map(Duration::from_secs),
            commit_index: 10,
            applied_index: 10,
            last_log_index: 10,
            protocol_version: 3,
        }
    }

    /// A poller's view: each server's readings in order.
    fn view(history: &[(&str, RaftStats)]) -> RaftView {
        let mut v = RaftView::default();
        for (server, s) in history {
            v.observe(server, s.clone());
        }
        v
    }

    fn steady() -> Vec<(&'static str, RaftStats)> {
        vec![
            (L, stats(RaftState::Leader, 2, Some(0))),
            (C, stats(RaftState::Follower, 2, Some(0))),
            (G, stats(RaftState::Follower, 2, Some(0))),
        ]
    }

    /// The views before the cut, at the heal (steady + `cut`) and after it
    /// (that + `healed`): cumulative, as the poller keeps them.
    fn readings(
        cut: &[(&'static str, RaftStats)],
        healed: &[(&'static str, RaftStats)],
    ) -> Readings {
        let mut h = steady();
        let before_cut = view(&h);
        h.extend_from_slice(cut);
        let at_heal = view(&h);
        h.extend_from_slice(healed);
        Readings {
            leader: L.into(),
            cut: C.into(),
            before_cut,
            at_heal,
            after_heal: view(&h),
        }
    }

    /// (a) No pre-vote: consul-2 campaigns at terms 3..9 while consul-1
    /// leads term 2; after the heal consul-1 steps down to term 9 and
    /// consul-3 wins term 10.
    fn deposed() -> Readings {
        let mut cut: Vec<_> = (3..=9)
            .map(|t| (C, stats(RaftState::Candidate, t, Some(t * 2))))
            .collect();
        cut.push((L, stats(RaftState::Leader, 2, Some(0))));
        readings(
            &cut,
            &[
                (L, stats(RaftState::Follower, 10, Some(0))),
                (C, stats(RaftState::Follower, 10, Some(0))),
                (G, stats(RaftState::Leader, 10, Some(0))),
            ],
        )
    }

    #[test]
    fn a_rejoin_that_deposes_the_leader_is_the_signature() {
        let c = rejoin_check(&deposed());
        assert_eq!((c.kind, c.verdict), (CheckKind::Signature, Verdict::Valid));
        assert!(c.detail.contains("rose 2 -> 9 (+7)"), "{}", c.detail);
        assert_eq!(c.figures["cut_term_rise"], 7.0);
        assert_eq!(c.figures["leader_term"], 2.0);
        assert_eq!(c.figures["leader_term_after"], 10.0);
        assert_eq!(c.figures["elections_after_heal"], 1.0);
        assert_eq!(c.figures["elections_during_cut"], 0.0);
        assert_eq!(leader_kept(&c).verdict, Verdict::Invalid);
        // The deposed leader elected again at the higher term counts too.
        let mut r = deposed();
        let mut h = steady();
        h.extend((3..=9).map(|t| (C, stats(RaftState::Candidate, t, Some(t * 2)))));
        h.push((L, stats(RaftState::Leader, 10, Some(0))));
        r.after_heal = view(&h);
        assert_eq!(rejoin_check(&r).verdict, Verdict::Valid);
    }

    /// (b) Pre-vote: consul-2 campaigns (pre-vote) but its term stays 2;
    /// consul-1 still leads term 2 after the heal.
    #[test]
    fn a_flat_term_and_a_kept_leader_is_its_absence() {
        let r = readings(
            &[(C, stats(RaftState::Candidate, 2, Some(14)))],
            &[
                (C, stats(RaftState::Follower, 2, Some(0))),
                (L, stats(RaftState::Leader, 2, Some(0))),
            ],
        );
        let c = rejoin_check(&r);
        assert_eq!(c.verdict, Verdict::Invalid, "{}", c.detail);
        assert!(c.detail.contains("pre-vote"), "{}", c.detail);
        assert_eq!(c.figures["cut_term_rise"], 0.0);
        assert_eq!(c.figures["cut_silent_secs"], 14.0);
        assert_eq!(leader_kept(&c).verdict, Verdict::Valid);
        // Silence alone (not seen campaigning between polls) is enough.
        let quiet = readings(
            &[(C, stats(RaftState::Follower, 2, Some(14)))],
            &[(C, stats(RaftState::Follower, 2, Some(0)))],
        );
        assert_eq!(rejoin_check(&quiet).verdict, Verdict::Invalid);
    }

    /// (c) The partition did not isolate consul-2: it kept hearing from
    /// the leader and its term stayed put. Nothing to judge.
    #[test]
    fn a_cut_that_did_not_isolate_is_unknown() {
        let r = readings(
            &[(C, stats(RaftState::Follower, 2, Some(0)))],
            &[(L, stats(RaftState::Leader, 2, Some(0)))],
        );
        let c = rejoin_check(&r);
        assert_eq!(
            (c.kind, c.verdict),
            (CheckKind::Signature, Verdict::Unknown)
        );
        assert!(c.detail.contains("was not cut off"), "{}", c.detail);
        assert_eq!(leader_kept(&c).verdict, Verdict::Unknown);
    }

    /// (d) The leader lost its leadership during the cut (consul-3 won
    /// term 3): not the rejoin signature, however the heal went.
    #[test]
    fn a_leader_change_during_the_cut_is_not_the_signature() {
        let r = readings(
            &[
                (C, stats(RaftState::Candidate, 5, Some(10))),
                (L, stats(RaftState::Follower, 3, Some(1))),
                (G, stats(RaftState::Leader, 3, Some(0))),
            ],
            &[
                (G, stats(RaftState::Follower, 6, Some(0))),
                (L, stats(RaftState::Leader, 6, Some(0))),
            ],
        );
        let c = rejoin_check(&r);
        assert_eq!(c.verdict, Verdict::Unknown, "{}", c.detail);
        assert!(c.detail.contains("during the cut"), "{}", c.detail);
        assert_eq!(c.figures["elections_during_cut"], 1.0);
    }

    #[test]
    fn a_risen_term_that_has_not_reached_the_leader_yet_is_unknown() {
        let r = readings(
            &[(C, stats(RaftState::Candidate, 6, Some(12)))],
            &[(L, stats(RaftState::Leader, 2, Some(0)))],
        );
        let c = rejoin_check(&r);
        assert_eq!(c.verdict, Verdict::Unknown);
        assert!(c.detail.contains("watch longer"), "{}", c.detail);
    }

    #[test]
    fn missing_readings_and_no_leader_are_unknown() {
        let mut r = deposed();
        r.after_heal.servers.remove(C);
        let c = rejoin_check(&r);
        assert_eq!(c.verdict, Verdict::Unknown);
        assert!(c
            .detail
            .contains("no Raft reading of consul-2 after the heal"));
        let mut r = deposed();
        r.leader = G.into();
        assert!(rejoin_check(&r).detail.contains("not leading"));
    }
}
