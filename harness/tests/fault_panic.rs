//! A test that panics with faults in force leaves nothing behind: no
//! iptables rule, toxic, changed limit, sidecar, hog, container or network.
//!
//! The parent re-runs this test binary as a CHILD process that starts a lab,
//! injects a partition (sidecars with iptables rules), a memory limit and a
//! hog, a pids limit, a pause and a toxic, then panics. The parent then asks
//! Docker (CLI, by the run's label) for anything of that run.

mod fault_support;

use fault_support::*;
use harness::fault::memory::{Hog, MemoryExhaustion};
use harness::fault::partition::Partition;
use harness::fault::pids::ProcessLimit;
use harness::fault::process::Pause;
use harness::fault::toxic::LinkToxic;
use harness::labels;
use harness::runner;
use harness::spec::Requirement;
use harness::toxiproxy::Toxic;
use std::process::Command;

const CHILD_ENV: &str = "INCIDENT_FAULT_PANIC_CHILD";

/// The child: only does something when the parent sets CHILD_ENV.
#[test]
fn panicking_child_with_faults_in_force() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    runner::run(
        spec("fault_panic_child", &[Requirement::Toxiproxy]),
        |lab| {
            Box::pin(async move {
                eprintln!("CHILD_RUN={}", lab.run_id());
                let nodes = nodes(lab, 3).await?;
                let (_tp_node, tp) = toxiproxy(lab).await?;
                tp.create_proxy("link", "0.0.0.0:20000", "n1:7000").await?;
                let _p = lab
                    .inject(Partition::halves().among(["n1", "n2", "n3"]))
                    .await?;
                let _m = lab
                    .inject(
                        MemoryExhaustion::limit(&nodes[0], 128 << 20).with_hog(Hog::hold(16 << 20)),
                    )
                    .await?;
                let _l = lab.inject(ProcessLimit::new(&nodes[1], 50)).await?;
                let _z = lab.inject(Pause::new(&nodes[2])).await?;
                let _t = lab
                    .inject(LinkToxic::new(tp.clone(), "link", Toxic::latency(100, 0)))
                    .await?;
                for n in lab.nodes() {
                    eprintln!("CHILD_CONTAINER={}", n.id);
                }
                eprintln!("CHILD_FAULTS_IN_FORCE");
                panic!("the incident body panics with five faults in force");
            })
        },
    );
}

fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("docker CLI");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect()
}

#[test]
fn a_panicking_incident_leaves_nothing_behind() {
    if !runner::docker_or_skip("a_panicking_incident_leaves_nothing_behind") {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "panicking_child_with_faults_in_force",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("re-running the test binary");
    let stderr =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    if stderr.contains("SKIPPED incident") {
        runner::loud("SKIPPED a_panicking_incident_leaves_nothing_behind: the child skipped (toxiproxy image missing)");
        return;
    }
    assert!(!out.status.success(), "the child must fail:\n{stderr}");
    assert!(
        stderr.contains("CHILD_FAULTS_IN_FORCE"),
        "the child did not get its faults in force:\n{stderr}"
    );
    assert!(
        stderr.contains("five faults in force"),
        "the child did not panic as planned:\n{stderr}"
    );
    let run = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("CHILD_RUN="))
        .expect("the child printed its run id")
        .trim()
        .to_string();
    let filter = format!("label={}={run}", labels::RUN);
    let containers = docker_lines(&["ps", "-a", "-q", "--filter", &filter]);
    let networks = docker_lines(&["network", "ls", "-q", "--filter", &filter]);
    assert!(
        containers.is_empty(),
        "containers of run {run} left: {containers:?}"
    );
    assert!(
        networks.is_empty(),
        "networks of run {run} left: {networks:?}"
    );
    // Sidecars and hogs by role, across every run of this process tree.
    for role in ["sidecar", "hog", "proxy"] {
        let left = docker_lines(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &filter,
            "--filter",
            &format!("label={}={role}", labels::ROLE),
        ]);
        assert!(left.is_empty(), "{role} containers left: {left:?}");
    }
    // Iptables rules, toxics and cgroup limits lived in the run's
    // containers (the sidecars' shared namespaces, the toxiproxy server,
    // the nodes' cgroups): with every container gone, no network namespace
    // or cgroup of the run remains on the host.
    let ids: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("CHILD_CONTAINER="))
        .collect();
    assert!(ids.len() >= 4, "the child listed its containers: {ids:?}");
    for id in ids {
        for ctrl in ["memory", "pids"] {
            let dir = format!("/sys/fs/cgroup/{ctrl}/docker/{id}");
            assert!(
                !std::path::Path::new(&dir).exists(),
                "{dir} (a changed limit) is left"
            );
        }
    }
}
