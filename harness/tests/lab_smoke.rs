//! The lab on real containers: two nodes on the lab network reach each
//! other by name; nothing of the run remains afterwards.

use harness::lab::{ContainerSpec, WaitFor};
use harness::prelude::*;
use harness::runner;

#[test]
fn two_nodes_reach_each_other_and_nothing_remains() {
    let mut spec = IncidentSpec::new("lab_smoke", "smoke", Variant::After);
    spec.requires = vec![Requirement::Docker, Requirement::Base];
    let run_ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = run_ids.clone();
    runner::run(spec, move |lab| {
        let seen = seen.clone();
        Box::pin(async move {
            seen.lock().unwrap().push(lab.run_id().to_string());
            let image =
                harness::images::require(lab.docker(), harness::images::ImageId::Base).await?;
            let server = lab
                .start(
                    ContainerSpec::new("server", &image)
                        .with_cmd([
                            "bash",
                            "-c",
                            "while true; do echo pong | nc -l -p 7000 -q 1; done",
                        ])
                        .with_exposed_port(7000)
                        .with_wait(WaitFor::Tcp(7000)),
                )
                .await?;
            let client = lab
                .start(ContainerSpec::new("client", &image).with_cmd(["sleep", "infinity"]))
                .await?;
            let out = lab
                .exec(&client, &["bash", "-c", "echo ping | nc -q 1 server 7000"])
                .await?;
            let reached = out.stdout.contains("pong");
            lab.check(harness::checker::Check::requirement(
                "connectivity",
                reached,
                format!("client -> server: {:?}", out.stdout.trim()),
            ));
            assert!(server.ports.contains_key(&7000));
            Ok(())
        })
    });
    let ids = run_ids.lock().unwrap().clone();
    if ids.is_empty() {
        return; // skipped: no Docker
    }
    let leftovers = std::process::Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=io.incident-harness.run={}", ids[0]),
        ])
        .output()
        .unwrap();
    assert!(
        leftovers.stdout.is_empty(),
        "containers left: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
    let nets = std::process::Command::new("docker")
        .args([
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("label=io.incident-harness.run={}", ids[0]),
        ])
        .output()
        .unwrap();
    assert!(nets.stdout.is_empty(), "networks left");
}
