//! Kill, pause and restart (plain and as a configuration roll-out) on real
//! containers, each verified and healed.

mod fault_support;

use fault_support::*;
use harness::fault::process::{Kill, Pause, Restart};
use harness::runner;
use harness::timeline::EventKind;
use harness::Outcome;

#[test]
fn kill_pause_and_restart_act_and_heal() {
    runner::run(spec("fault_process", &[]), |lab| {
        Box::pin(async move {
            let nodes = nodes(lab, 2).await?;
            let (a, b) = (&nodes[0], &nodes[1]);
            let state = |n: harness::Node| {
                let lab = lab.ctx();
                async move { lab.inspect(&n).await.map(|i| i.state.unwrap_or_default()) }
            };

            let guard = lab.inject(Kill::sigkill(a)).await?;
            let s = state(a.clone()).await?;
            require(
                lab,
                "kill.stopped",
                s.running != Some(true) && s.exit_code == Some(137),
                format!("{:?} {:?}", s.status, s.exit_code),
            );
            guard.heal().await?;
            require(
                lab,
                "kill.healed",
                state(a.clone()).await?.running == Some(true),
                "running again",
            );

            let guard = lab.inject(Pause::new(b)).await?;
            // Frozen: nothing runs in it (the kernel still answers TCP
            // handshakes for its listening sockets, so a connect proves nothing).
            let exec = lab.exec(b, &["true"]).await;
            require(
                lab,
                "pause.frozen",
                state(b.clone()).await?.paused == Some(true) && exec.is_err(),
                format!("{exec:?}"),
            );
            guard.heal().await?;
            let m = matrix(lab, &nodes).await?;
            require(lab, "pause.healed", m == ["11", "11"], format!("{m:?}"));

            let id_before = lab.node("n2").unwrap().id;
            let guard = lab.inject(Restart::new(b)).await?;
            guard.heal().await?;
            let restarted = lab
                .timeline()
                .events()
                .iter()
                .filter(|e| {
                    matches!(e.kind, EventKind::NodeStarted) && e.node.as_deref() == Some("n2")
                })
                .count();
            require(
                lab,
                "restart.restarted",
                restarted >= 2 && lab.node("n2").unwrap().id == id_before,
                format!("{restarted} starts"),
            );

            // A roll-out: a new command and env; heal rolls it back.
            let guard = lab
                .inject(
                    Restart::new(b)
                        .with_cmd(["bash", "-c", "echo rolled-$MODE; exec nc -lk -p 7000"])
                        .with_env_var("MODE", "new"),
                )
                .await?;
            let n2 = lab.node("n2").unwrap();
            let logs = lab.logs_tail(&n2, 5).await?;
            require(
                lab,
                "restart.rolled_out",
                logs.contains("rolled-new") && n2.id != id_before,
                logs.clone(),
            );
            guard.heal().await?;
            let n2 = lab.node("n2").unwrap();
            let info = lab.inspect(&n2).await?;
            let cmd = info.config.and_then(|c| c.cmd).unwrap_or_default();
            require(
                lab,
                "restart.rolled_back",
                cmd == ["nc", "-lk", "-p", "7000"],
                format!("{cmd:?}"),
            );
            let m = matrix(lab, &[a.clone(), n2]).await?;
            require(
                lab,
                "restart.reachable",
                m == ["11", "11"],
                format!("{m:?}"),
            );
            Outcome::Ok(())
        })
    });
}

/// Two nodes killed together and started again keep their addresses.
/// Docker hands a freed address to whoever starts next, so the node with
/// the higher address, started first, used to come back on the other's
/// (two Consul servers swapped addresses this way, and membership took
/// over a minute to untangle it). Healing in descending address order
/// makes that swap certain without the lab's pinning.
#[test]
fn nodes_killed_together_come_back_on_their_own_addresses() {
    runner::run(spec("fault_process_addresses", &[]), |lab| {
        Box::pin(async move {
            let nodes = nodes(lab, 2).await?;
            let ip = |name: &str| lab.node(name).and_then(|n| n.ip);
            let before: Vec<_> = nodes.iter().map(|n| ip(&n.name)).collect();
            require(
                lab,
                "addresses.known",
                before.iter().all(Option::is_some),
                format!("{before:?}"),
            );
            let mut guards = Vec::new();
            for n in &nodes {
                guards.push((ip(&n.name), lab.inject(Kill::sigkill(n)).await?));
            }
            let as_number = |ip: &Option<String>| {
                ip.as_deref()
                    .and_then(|s| s.parse::<std::net::Ipv4Addr>().ok())
                    .map(u32::from)
            };
            guards.sort_by_key(|(ip, _)| std::cmp::Reverse(as_number(ip)));
            for (_, guard) in guards {
                guard.heal().await?;
            }
            let after: Vec<_> = nodes.iter().map(|n| ip(&n.name)).collect();
            require(
                lab,
                "addresses.kept",
                after == before,
                format!("before {before:?}, after {after:?}"),
            );
            let m = matrix(lab, &nodes).await?;
            require(
                lab,
                "addresses.reachable",
                m == ["11", "11"],
                format!("{m:?}"),
            );
            Outcome::Ok(())
        })
    });
}
