//! A testcontainers image in the lab: a `GenericImage` described the
//! testcontainers way (name, tag, exposed port, a ready condition on its
//! output) starts through testcontainers' own runner, becomes a lab node
//! (labels, the lab network and its name as DNS alias, 127.0.0.1-only
//! ports, the default caps), takes a fault, and leaves nothing behind
//! whether the body passes or panics.

use harness::checker::Check;
use harness::fault::process::Pause;
use harness::lab::{ContainerSpec, Testcontainer};
use harness::prelude::*;
use harness::runner;
use std::process::Command;
use std::sync::{Arc, Mutex};
use testcontainers::core::{ContainerPort, WaitFor as TcWaitFor};
use testcontainers::{GenericImage, ImageExt};

const SERVE: &str = "echo listening; while true; do echo pong | nc -l -p 7000 -q 1; done";

fn left_behind(run_id: &str) -> (String, String) {
    let run = |args: &[&str]| {
        String::from_utf8_lossy(&Command::new("docker").args(args).output().unwrap().stdout)
            .trim()
            .to_string()
    };
    let filter = format!("label=io.incident-harness.run={run_id}");
    (
        run(&["ps", "-aq", "--filter", &filter]),
        run(&["network", "ls", "-q", "--filter", &filter]),
    )
}

fn spec(name: &str) -> IncidentSpec {
    let mut spec = IncidentSpec::new(name, "harness-testcontainers", Variant::After);
    spec.requires = vec![Requirement::Docker, Requirement::Base];
    spec
}

/// The lab's base image (`name:tag`), described the testcontainers way.
fn base_image(reference: &str) -> GenericImage {
    let (name, tag) = reference.split_once(':').expect("name:tag");
    GenericImage::new(name, tag)
        .with_exposed_port(ContainerPort::Tcp(7000))
        .with_wait_for(TcWaitFor::message_on_stdout("listening"))
}

/// The one-line server as lab node `web`, and the base image's reference.
async fn start_web(
    lab: &LabCtx,
) -> anyhow::Result<(harness::lab::TestcontainerHandle<GenericImage>, String)> {
    let image = harness::images::require(lab.docker(), harness::images::ImageId::Base).await?;
    let web = lab
        .start(Testcontainer::new(
            "web",
            base_image(&image).with_cmd(["bash", "-c", SERVE]),
        ))
        .await?;
    Ok((web, image))
}

#[test]
fn a_generic_image_joins_the_lab_takes_a_fault_and_leaves_nothing() {
    let runs = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = runs.clone();
    runner::run(spec("lab_testcontainers"), move |lab| {
        let seen = seen.clone();
        Box::pin(async move {
            seen.lock().unwrap().push(lab.run_id().to_string());
            let (web, image) = start_web(lab).await?;
            let node = web.node.clone();
            assert_eq!(lab.node("web").map(|n| n.id), Some(node.id.clone()));

            // Ports on 127.0.0.1 only, the default caps, the lab's labels.
            let info = lab.inspect(&node).await?;
            let host = info.host_config.clone().unwrap_or_default();
            let bindings = host.port_bindings.clone().unwrap_or_default();
            let ips: Vec<String> = bindings
                .values()
                .flatten()
                .flatten()
                .filter_map(|b| b.host_ip.clone())
                .collect();
            lab.check(Check::requirement(
                "testcontainers.loopback_only",
                !ips.is_empty() && ips.iter().all(|ip| ip == "127.0.0.1"),
                format!("{ips:?}"),
            ));
            lab.check(Check::requirement(
                "testcontainers.default_caps",
                host.memory == Some(ContainerSpec::DEFAULT_MEMORY)
                    && host.pids_limit == Some(ContainerSpec::DEFAULT_PIDS),
                format!("memory {:?}, pids {:?}", host.memory, host.pids_limit),
            ));
            let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
            lab.check(Check::requirement(
                "testcontainers.labelled",
                labels.get("io.incident-harness.run").map(String::as_str) == Some(lab.run_id()),
                format!("{labels:?}"),
            ));

            // Reached by its lab name from another node, then not while paused.
            let client = lab
                .start(ContainerSpec::new("client", &image).with_cmd(["sleep", "infinity"]))
                .await?;
            // The one-connection-at-a-time server may be between two
            // `nc -l`s (or answering a connection queued while paused):
            // retried for a few seconds, so only a server that stays away
            // counts as unreachable.
            let retried = "for i in $(seq 10); do r=$(echo ping | timeout 2 nc -q 1 web 7000); [ \"$r\" = pong ] && { echo pong; exit 0; }; sleep 0.5; done";
            let once = "echo ping | timeout 3 nc -q 1 web 7000";
            let before = lab.exec(&client, &["bash", "-c", retried]).await?;
            let guard = lab.inject(Pause::new(&node)).await?;
            let paused = lab.exec(&client, &["bash", "-c", once]).await?;
            guard.heal().await?;
            let after = lab.exec(&client, &["bash", "-c", retried]).await?;
            lab.check(Check::requirement(
                "testcontainers.fault",
                before.stdout.contains("pong")
                    && !paused.stdout.contains("pong")
                    && after.stdout.contains("pong"),
                format!(
                    "before {:?}, paused {:?}, after {:?}",
                    before.stdout.trim(),
                    paused.stdout.trim(),
                    after.stdout.trim()
                ),
            ));
            Ok(())
        })
    });
    let ids = runs.lock().unwrap().clone();
    if let Some(id) = ids.first() {
        assert_eq!(left_behind(id), (String::new(), String::new()));
    }
}

/// A panic in the body after the container started: still nothing left.
#[test]
fn a_panicking_body_leaves_no_testcontainer_behind() {
    let runs = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = runs.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner::run(spec("lab_testcontainers_panic"), move |lab| {
            let seen = seen.clone();
            Box::pin(async move {
                seen.lock().unwrap().push(lab.run_id().to_string());
                let _web = start_web(lab).await?;
                panic!("the body panics with a testcontainer running");
            })
        })
    }));
    let ids = runs.lock().unwrap().clone();
    let Some(id) = ids.first() else {
        return; // skipped: no Docker
    };
    assert!(result.is_err(), "the panic reaches the test");
    assert_eq!(left_behind(id), (String::new(), String::new()));
}
