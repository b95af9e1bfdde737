//! Memory and pids faults on real containers: a hog past the limit is
//! OOM-killed and the kill is on the timeline; heal restores the original
//! limit. Forking past a pids limit fails inside the node; after heal it
//! succeeds.

mod fault_support;

use fault_support::*;
use harness::fault::cgroup;
use harness::fault::memory::{Hog, MemoryExhaustion, Placement};
use harness::fault::pids::ProcessLimit;
use harness::runner;
use harness::timeline::EventKind;
use harness::Outcome;
use std::time::Duration;

const MIB: i64 = 1 << 20;

async fn limit_of(lab: &harness::LabCtx, node: &harness::Node) -> anyhow::Result<String> {
    cgroup::read(lab, node, "memory", "memory.limit_in_bytes").await
}

#[test]
fn a_hog_past_a_shrunk_limit_is_oom_killed_and_heal_restores_the_limit() {
    runner::run(spec("fault_memory_hog", &[]), |lab| {
        Box::pin(async move {
            let image =
                harness::images::require(lab.docker(), harness::images::ImageId::Base).await?;
            let node = lab
                .container(
                    harness::ContainerSpec::new("mem", image)
                        .with_cmd(["sleep", "infinity"])
                        .with_memory_limit(256 * MIB),
                )
                .await?;
            let original = limit_of(lab, &node).await?;
            require(
                lab,
                "memory.original",
                original == (256 * MIB).to_string(),
                original.clone(),
            );
            // Shrink to 64 MiB and hold 160 MiB in a neighbour charged to the node.
            let fault = MemoryExhaustion::limit(&node, 64 * MIB).with_hog(Hog::hold(160 << 20));
            let guard = lab.inject(fault).await?;
            let shrunk = limit_of(lab, &node).await?;
            require(
                lab,
                "memory.shrunk",
                shrunk == (64 * MIB).to_string(),
                shrunk.clone(),
            );
            // The kernel's OOM killer ends the hog; Docker reports it.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let oom_on_timeline = loop {
                let events = lab.timeline().events();
                let oom = events.iter().any(|e| {
                    matches!(e.kind, EventKind::OomKilled) && e.node.as_deref() == Some("mem")
                });
                let hog_died = events.iter().any(|e| {
                    matches!(
                        e.kind,
                        EventKind::NodeDied {
                            exit_code: Some(137)
                        }
                    ) && e.node.as_deref().is_some_and(|n| n.starts_with("mem-hog"))
                });
                if (oom && hog_died) || tokio::time::Instant::now() >= deadline {
                    break (oom, hog_died);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            require(
                lab,
                "memory.oom_on_timeline",
                oom_on_timeline.0,
                "an `oom` event for the node",
            );
            require(
                lab,
                "memory.hog_killed",
                oom_on_timeline.1,
                "the hog died with 137",
            );
            let running = lab.inspect(&node).await?.state.and_then(|s| s.running) == Some(true);
            require(
                lab,
                "memory.node_survives",
                running,
                "the OOM killer chose the hog",
            );
            guard.heal().await?;
            let restored = limit_of(lab, &node).await?;
            require(
                lab,
                "memory.restored",
                restored == original,
                format!("{restored} vs {original}"),
            );
            let host = lab.inspect(&node).await?.host_config.unwrap_or_default();
            require(
                lab,
                "memory.restored_in_docker",
                host.memory == Some(256 * MIB),
                format!("{:?}", host.memory),
            );

            // An unlimited node gets the kernel's own "no limit" back.
            let image =
                harness::images::require(lab.docker(), harness::images::ImageId::Base).await?;
            let free = lab
                .container(
                    harness::ContainerSpec::new("free", image)
                        .without_limits()
                        .with_cmd(["sleep", "infinity"]),
                )
                .await?;
            let before = limit_of(lab, &free).await?;
            let guard = lab
                .inject(
                    MemoryExhaustion::limit(&free, 32 * MIB)
                        .with_hog(Hog::hold(8 << 20))
                        .placed(Placement::Exec),
                )
                .await?;
            guard.heal().await?;
            let after = limit_of(lab, &free).await?;
            require(
                lab,
                "memory.unlimited_restored",
                after == before,
                format!("{after} vs {before}"),
            );
            Outcome::Ok(())
        })
    });
}

async fn fork(lab: &harness::LabCtx, node: &harness::Node, n: usize) -> anyhow::Result<bool> {
    // Starts n sleeping children at once; bash reports a fork failure.
    let script = format!(
        "for i in $(seq 1 {n}); do sleep 3 & done 2>/tmp/fork.err; wait; ! grep -q 'fork' /tmp/fork.err"
    );
    Ok(lab.exec(node, &["bash", "-c", &script]).await?.success())
}

#[test]
fn forking_past_a_live_pids_limit_fails_and_heal_lifts_it() {
    runner::run(spec("fault_pids_limit", &[]), |lab| {
        Box::pin(async move {
            let image =
                harness::images::require(lab.docker(), harness::images::ImageId::Base).await?;
            let node = lab
                .container(
                    harness::ContainerSpec::new("procs", image)
                        .without_limits()
                        .with_cmd(["sleep", "infinity"]),
                )
                .await?;
            require(
                lab,
                "pids.before",
                fork(lab, &node, 40).await?,
                "40 children fork without a limit",
            );
            let guard = lab.inject(ProcessLimit::new(&node, 20)).await?;
            let max = cgroup::read(lab, &node, "pids", "pids.max").await?;
            require(lab, "pids.in_force", max == "20", max.clone());
            require(
                lab,
                "pids.fork_fails",
                !fork(lab, &node, 40).await?,
                "40 children under a limit of 20",
            );
            guard.heal().await?;
            let max = cgroup::read(lab, &node, "pids", "pids.max").await?;
            require(lab, "pids.restored", max == "max", max.clone());
            require(
                lab,
                "pids.fork_after",
                fork(lab, &node, 40).await?,
                "40 children after heal",
            );
            // Restart under the limit: the node comes back with it in force.
            let guard = lab
                .inject(
                    ProcessLimit::new(&node, 15)
                        .restart_under_limit(harness::WaitFor::Nothing, Duration::from_secs(30)),
                )
                .await?;
            let max = cgroup::read(lab, &node, "pids", "pids.max").await?;
            require(lab, "pids.restarted_under_limit", max == "15", max.clone());
            require(
                lab,
                "pids.fork_fails_after_restart",
                !fork(lab, &node, 30).await?,
                "30 children under 15",
            );
            guard.heal().await?;
            require(
                lab,
                "pids.fork_after_restart_heal",
                fork(lab, &node, 30).await?,
                "after heal",
            );
            Outcome::Ok(())
        })
    });
}
