//! Cloudflare, 2020-11-02: a follower cut off from its leader inflates its
//! Raft term, and its rejoin deposes a healthy leader
//! (`scenarios::cloudflare_2020`). The demonstration incident of
//! `incident bisect` (`docs/bisect.md`): the before variant runs the
//! `consul_legacy` image, which bisect swaps release by release.
use harness::prelude::*;

/// Without pre-vote (Consul 1.10.12): the cut-off follower's term climbs,
/// and the heal deposes the leader. No acknowledged write is lost.
#[incident(postmortem = "cloudflare-2020-etcd-elections", variant = before, budget = "10s",
    requires = [consul_legacy], tags = [heavy, consul], always = [integrity])]
async fn cloudflare_2020_before(lab: &mut Lab) -> Outcome {
    let report = scenarios::cloudflare_2020::run(lab).await?;
    assert_stable_snapshot!(report);
    Ok(())
}

/// With pre-vote (Consul 1.22.6): the follower's term stays put, the
/// leader keeps leading through the heal, the majority's writes recover
/// within budget and the cut-off server's clients come back.
#[incident(postmortem = "cloudflare-2020-etcd-elections", variant = after, budget = "10s",
    requires = [consul], tags = [heavy, consul])]
async fn cloudflare_2020_after(lab: &mut Lab) -> Outcome {
    let report = scenarios::cloudflare_2020::run(lab).await?;
    assert_stable_snapshot!(report);
    Ok(())
}
