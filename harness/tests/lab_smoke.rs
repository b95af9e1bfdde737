//! The lab on real containers: two nodes, started through testcontainers'
//! `AsyncRunner`, reach each other by name on the lab network; the spec's
//! file, tmpfs and open-files limit are in force; a node removed through
//! the lab is gone; nothing of the run remains afterwards.

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
                        .with_file("/etc/greeting", b"hello".to_vec())
                        .with_tmpfs("/scratch", 16 << 20)
                        .with_nofile(2048)
                        .with_wait(WaitFor::Tcp(7000)),
                )
                .await?;
            let labels = lab
                .inspect(&server)
                .await?
                .config
                .and_then(|c| c.labels)
                .unwrap_or_default();
            lab.check(harness::checker::Check::requirement(
                "started_by_testcontainers",
                labels
                    .get("org.testcontainers.managed-by")
                    .map(String::as_str)
                    == Some("testcontainers")
                    && labels.get("io.incident-harness.run").map(String::as_str)
                        == Some(lab.run_id()),
                format!("{labels:?}"),
            ));
            let knobs = lab
                .exec(
                    &server,
                    &[
                        "bash",
                        "-c",
                        "cat /etc/greeting; echo; df -B1 --output=size /scratch | tail -1 | tr -d ' '; ulimit -n",
                    ],
                )
                .await?;
            let lines: Vec<&str> = knobs.stdout.lines().collect();
            lab.check(harness::checker::Check::requirement(
                "spec_in_force",
                lines == ["hello", &(16u64 << 20).to_string(), "2048"],
                format!("file, tmpfs bytes, nofile: {lines:?}"),
            ));
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
            // Removed through the lab (its testcontainers handle): gone at once.
            lab.remove_container(&client.id).await?;
            lab.check(harness::checker::Check::requirement(
                "removed_through_the_lab",
                lab.inspect(&client).await.is_err(),
                "inspect after remove_container".to_string(),
            ));
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
