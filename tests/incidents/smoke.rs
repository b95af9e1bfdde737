//! Smoke: the substrate every incident stands on. Two containers from
//! `incident/base` on the lab's own network reach each other by name over
//! real TCP, and nothing of the run remains afterwards.

use harness::prelude::*;
use std::sync::{Arc, Mutex};

/// Starts a `pong` server and a client on the lab network; the client's
/// request by name must come back with the server's answer.
async fn two_nodes_talk(lab: &Lab) -> Outcome {
    let image = harness::images::require(lab.docker(), harness::images::ImageId::Base).await?;
    lab.start(
        ContainerSpec::new("server", &image)
            .with_cmd([
                "bash",
                "-c",
                "while true; do echo pong-from-server | nc -l -p 7000 -q 1; done",
            ])
            .with_exposed_port(7000)
            .with_wait(WaitFor::Tcp(7000)),
    )
    .await?;
    let client = lab
        .start(ContainerSpec::new("client", &image).with_cmd(["sleep", "infinity"]))
        .await?;
    let out = lab
        .exec(
            &client,
            &["bash", "-c", "echo ping | nc -w 5 -q 1 server 7000"],
        )
        .await?;
    lab.check(harness::checker::Check::requirement(
        "lab.connectivity",
        out.exit_code == 0 && out.stdout.contains("pong-from-server"),
        format!(
            "client -> server:7000 by name: exit {}, answer {:?}",
            out.exit_code,
            out.stdout.trim()
        ),
    ));
    Ok(())
}

/// Two containers from the base image reach each other by name.
#[incident(postmortem = "smoke", variant = after, budget = "30s", timeout = "2m", requires = [base], tags = [smoke])]
async fn smoke_two_nodes_reach_each_other(lab: &mut Lab) -> Outcome {
    two_nodes_talk(lab).await
}

/// The same run through `runner::run`, then Docker is asked for anything
/// carrying the run's id: no container and no network may remain.
#[test]
fn smoke_leaves_nothing_behind() {
    let mut spec = IncidentSpec::new("smoke_leaves_nothing_behind", "smoke", Variant::After);
    spec.requires = vec![Requirement::Docker, Requirement::Base];
    spec.budget = Duration::from_secs(30);
    spec.timeout = Duration::from_secs(120);
    let run_ids = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = run_ids.clone();
    harness::runner::run(spec, move |lab| {
        let seen = seen.clone();
        Box::pin(async move {
            seen.lock().unwrap().push(lab.run_id().to_string());
            two_nodes_talk(lab).await
        })
    });
    let ids = run_ids.lock().unwrap().clone();
    if ids.is_empty() {
        return; // skipped (the runner printed why)
    }
    for id in ids {
        let filter = format!("label=io.incident-harness.run={id}");
        for what in [&["ps", "-aq"][..], &["network", "ls", "-q"][..]] {
            let out = std::process::Command::new("docker")
                .args(what)
                .args(["--filter", &filter])
                .output()
                .expect("the docker CLI runs");
            assert!(out.status.success(), "docker {what:?} failed");
            assert!(
                out.stdout.is_empty(),
                "run {id} left {what:?}: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
    }
}
