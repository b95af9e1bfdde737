//! The chat gateway incidents: LeanCloud 2015-08 (RPC black hole, backlog,
//! reconnect storm) and Weibo 2017 (hot room surge). The simulator runs in
//! this process and reaches the cluster only through 127.0.0.1.

use harness::prelude::*;

/// On the day: healthy nodes' backlog to the black-holed node and their
/// memory grow; the cluster restart drowns in naive reconnects.
#[incident(
    postmortem = "leancloud-2015-08-chat",
    variant = before,
    budget = "60s",
    timeout = "6m",
    requires = [chat_gateway, toxiproxy, consul],
    tags = [heavy, chat]
)]
async fn leancloud_2015_08_before(lab: &mut Lab) -> Outcome {
    let report =
        scenarios::leancloud_2015_08::run(lab, scenarios::leancloud_2015_08::Scale::ci()).await?;
    assert_stable_snapshot!("leancloud_2015_08_before", report);
    Ok(())
}

/// With the fixes: bounded backlog, eviction, backoff clients and the
/// admission ramp: back within budget, every acknowledged message delivered
/// once or reported undeliverable.
#[incident(
    postmortem = "leancloud-2015-08-chat",
    variant = after,
    budget = "60s",
    timeout = "6m",
    requires = [chat_gateway, toxiproxy, consul],
    tags = [heavy, chat]
)]
async fn leancloud_2015_08_after(lab: &mut Lab) -> Outcome {
    let report =
        scenarios::leancloud_2015_08::run(lab, scenarios::leancloud_2015_08::Scale::ci()).await?;
    assert_stable_snapshot!("leancloud_2015_08_after", report);
    Ok(())
}

/// Without degradation: the hot room's fan-out drags every other room's
/// core path past the SLO.
#[incident(
    postmortem = "weibo-2017-hot-key",
    variant = before,
    budget = "30s",
    timeout = "5m",
    requires = [chat_gateway, consul],
    tags = [heavy, chat]
)]
async fn weibo_2017_before(lab: &mut Lab) -> Outcome {
    let report = scenarios::weibo_2017::run(lab, scenarios::weibo_2017::Scale::ci()).await?;
    assert_stable_snapshot!("weibo_2017_before", report);
    Ok(())
}

/// Shedding reactions and scaling out keep other rooms within the SLO; the
/// hot room recovers within budget; nothing lost or duplicated.
///
/// The delivery audit checks the gateway's claims: a core message
/// acknowledged naming a live (saturated) peer undeliverable is a loss. The
/// fixed gateway waits for a peer that keeps answering (`gateway::rpc`).
#[incident(
    postmortem = "weibo-2017-hot-key",
    variant = after,
    budget = "30s",
    timeout = "5m",
    requires = [chat_gateway, consul],
    tags = [heavy, chat]
)]
async fn weibo_2017_after(lab: &mut Lab) -> Outcome {
    let report = scenarios::weibo_2017::run(lab, scenarios::weibo_2017::Scale::ci()).await?;
    assert_stable_snapshot!("weibo_2017_after", report);
    Ok(())
}
