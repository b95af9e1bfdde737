//! AWS S3, 2017-02-28 (`postmortems/aws-s3-2017-us-east-1.md`): a command
//! removes more servers than intended. Three Consul servers stand for the
//! index subsystem. The worked example of `docs/from-postmortem-to-incident.md`.

use anyhow::{Context, Result};
use fixtures::consul::workload::{list_kv, KvWrites};
use fixtures::consul::{ConsulCluster, ConsulClusterHandle};
use harness::checker::availability::Recovery;
use harness::checker::{integrity::Set, Check};
use harness::fault::process::Kill;
use harness::prelude::*;

/// The fixes of the postmortem, by the dossier's names.
pub const MITIGATIONS: [&str; 2] = ["remove_capacity_slowly", "minimum_capacity_safeguard"];

/// The incident: steady writes, the removal, the restart, the checks.
pub async fn run(lab: &LabCtx) -> Result<Report> {
    let consul = lab.start(ConsulCluster::servers(3)).await?;
    let writes = WorkloadRunner::new(KvWrites::new(&consul, "index").failover(true));
    let writes = writes.clients(6).rate(60.0).start(lab).await?;
    lab.phase("steady").await;
    tokio::time::sleep(Duration::from_secs(5)).await;

    lab.phase("fault").await;
    lab.mark(None, "09:37 PST: more servers removed than intended");
    let removed = remove_servers(lab, &consul).await?;
    tokio::time::sleep(Duration::from_secs(15)).await;

    lab.phase("recover").await;
    lab.mark(None, "12:26 PST: the index subsystem restarted");
    futures::future::try_join_all(removed.into_iter().map(|s| s.heal())).await?;
    consul.wait_ready(Duration::from_secs(60)).await?;
    let removal = lab.faults()[0].invoked_at;
    let recovery = Recovery::after_event(removal, "removal").budget(lab.spec().budget);
    let give_up = removal + Duration::from_secs(60);
    while recovery.measure(&writes.snapshot()).is_none() && lab.now() < give_up {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let history = writes.stop().await;
    lab.check(recovery.check(&history));
    judge(lab, &consul, history).await?;
    lab.finish().await
}

/// The playbook command: remove the last two servers. With the fixes it
/// removes one at a time and refuses to go below Raft's quorum.
async fn remove_servers(lab: &LabCtx, consul: &ConsulClusterHandle) -> Result<Vec<FaultGuard>> {
    let servers = consul.server_names().to_vec();
    let (quorum, mut removed) = (servers.len() / 2 + 1, Vec::new());
    for name in &servers[1..] {
        if lab.mitigated("minimum_capacity_safeguard") && servers.len() - removed.len() <= quorum {
            lab.mitigation(format!("safeguard: {name} stays, {quorum} is the minimum"));
            break;
        }
        removed.push(lab.inject(Kill::sigkill(name.as_str())).await?);
        if lab.mitigated("remove_capacity_slowly") {
            lab.mitigation(format!("removed {name} alone, then waits"));
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
    Ok(removed)
}

/// Signature: no write acknowledged from 3 s into the removal to a restart.
async fn judge(lab: &LabCtx, consul: &ConsulClusterHandle, mut history: History) -> Result<()> {
    lab.record_history(&history);
    let back = lab.faults().iter().filter_map(|f| f.healed_at).min();
    let stopped =
        lab.faults()[0].invoked_at + Duration::from_secs(3)..back.context("not healed")?;
    let ok = history.of("put").filter(|o| o.status == OpStatus::Ok);
    let acked = ok.filter(|o| stopped.contains(&o.complete)).count();
    let detail = format!("{acked} writes acknowledged while servers were removed");
    lab.check(Check::signature("writes_stopped", acked == 0, detail));
    let invoked = lab.now();
    let list = Op::ok("list").with_values(list_kv(consul, "index").await?);
    history.merge(History::new(vec![list.at(invoked, lab.now())]));
    let set = Set::new().named("integrity.kv").ops("put", "list");
    lab.checks_from(set.check(&history));
    Ok(())
}
