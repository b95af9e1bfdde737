//! Benchmark: time from `inject` to the effect verified, per fault kind,
//! beside the docker CLI floor for the same operation, measured in the
//! same run (20 rounds each, alternating, on one lab).
//!
//! Run: `cargo run -p harness --example fault_bench -- [rounds]`
//! (prints a markdown table; the results are kept in docs/benchmarks/faults.md).

use harness::fault::memory::{Hog, MemoryExhaustion};
use harness::fault::partition::Partition;
use harness::fault::pids::ProcessLimit;
use harness::fault::process::{Kill, Pause, Restart};
use harness::fault::{disconnect::Disconnect, toxic::LinkToxic, Fault};
use harness::images::{self, ImageId};
use harness::lab::{ContainerSpec, Lab, LabCtx, Node, WaitFor};
use harness::spec::{IncidentSpec, Variant};
use harness::toxiproxy::{Toxic, ToxiproxyClient};
use std::process::Command;
use std::time::{Duration, Instant};

fn cli(args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run CLI");
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn quiet(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).output();
}

struct Row {
    kind: &'static str,
    floor_op: &'static str,
    inject: Vec<f64>,
    heal: Vec<f64>,
    floor: Vec<f64>,
}

fn stats(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| s[((s.len() as f64 - 1.0) * p).round() as usize];
    (pct(0.5), pct(0.9))
}

async fn time_fault<F: Fault + 'static>(
    lab: &LabCtx,
    row: &mut Row,
    make: impl Fn() -> F,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let guard = lab.inject(make()).await?;
    row.inject.push(t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    guard.heal().await?;
    row.heal.push(t.elapsed().as_secs_f64() * 1e3);
    Ok(())
}

async fn node(lab: &LabCtx, name: &str, image: &str) -> anyhow::Result<Node> {
    lab.container(
        ContainerSpec::new(name, image)
            .with_cmd(["nc", "-lk", "-p", "7000"])
            .with_memory_limit(256 << 20),
    )
    .await
}

async fn bench(lab: &LabCtx, rounds: usize) -> anyhow::Result<Vec<Row>> {
    let base = images::require(lab.docker(), ImageId::Base).await?;
    let tp_image = images::require(lab.docker(), ImageId::Toxiproxy).await?;
    let a = node(lab, "a", &base).await?;
    let b = node(lab, "b", &base).await?;
    let c = node(lab, "c", &base).await?;
    let tp_node = lab
        .container(
            ContainerSpec::new("toxiproxy", tp_image)
                .with_role("proxy")
                .with_exposed_port(8474)
                .with_wait(WaitFor::Http {
                    port: 8474,
                    path: "/version".into(),
                }),
        )
        .await?;
    let tp = ToxiproxyClient::new(tp_node.addr(8474));
    tp.create_proxy("link", "0.0.0.0:20000", "a:7000").await?;
    tp.create_proxy("floor", "0.0.0.0:20001", "a:7000").await?;
    let api = format!("http://{}", tp_node.addr(8474));
    // Warm the sidecars (started once per node, then reused).
    let warm = lab
        .inject(Partition::isolate(&a).among(["a", "b", "c"]))
        .await?;
    warm.heal().await?;
    let sidecar_a = lab.container_name("a-netadm");
    let mut rows = Vec::new();
    let mk = |kind, floor_op| Row {
        kind,
        floor_op,
        inject: vec![],
        heal: vec![],
        floor: vec![],
    };

    let mut r = mk(
        "memory limit (live shrink)",
        "docker update --memory --memory-swap",
    );
    for i in 0..rounds {
        time_fault(lab, &mut r, || MemoryExhaustion::limit(&b, 128 << 20)).await?;
        let v = if i % 2 == 0 { "128m" } else { "256m" };
        r.floor.push(
            cli(&[
                "docker",
                "update",
                "--memory",
                v,
                "--memory-swap",
                v,
                &b.container_name,
            ])
            .as_secs_f64()
                * 1e3,
        );
    }
    quiet(&[
        "docker",
        "update",
        "--memory",
        "256m",
        "--memory-swap",
        "256m",
        &b.container_name,
    ]);
    rows.push(r);

    let mut r = mk(
        "memory hog (neighbour, 32 MiB)",
        "docker run -d (a container start)",
    );
    for i in 0..rounds {
        time_fault(lab, &mut r, || {
            MemoryExhaustion::hog(&b, Hog::hold(32 << 20))
        })
        .await?;
        let name = format!("inc-{}-floor{i}", lab.run_id());
        r.floor.push(
            cli(&[
                "docker",
                "run",
                "-d",
                "--label",
                &format!("{}={}", harness::labels::RUN, lab.run_id()),
                "--name",
                &name,
                &base,
                "true",
            ])
            .as_secs_f64()
                * 1e3,
        );
        quiet(&["docker", "rm", "-f", &name]);
    }
    rows.push(r);

    let mut r = mk("pids limit", "docker update --pids-limit");
    for i in 0..rounds {
        time_fault(lab, &mut r, || ProcessLimit::new(&b, 64)).await?;
        let v = if i % 2 == 0 { "64" } else { "-1" };
        r.floor.push(
            cli(&["docker", "update", "--pids-limit", v, &b.container_name]).as_secs_f64() * 1e3,
        );
    }
    quiet(&["docker", "update", "--pids-limit", "-1", &b.container_name]);
    rows.push(r);

    let mut r = mk(
        "partition (isolate 1 of 3: rules on 3 nodes)",
        "docker exec <sidecar> iptables -A (1 rule)",
    );
    for _ in 0..rounds {
        time_fault(lab, &mut r, || {
            Partition::isolate(&a).among(["a", "b", "c"])
        })
        .await?;
        r.floor.push(
            cli(&[
                "docker",
                "exec",
                &sidecar_a,
                "iptables",
                "-w",
                "-A",
                "INPUT",
                "-s",
                "192.0.2.1",
                "-j",
                "DROP",
            ])
            .as_secs_f64()
                * 1e3,
        );
        quiet(&[
            "docker",
            "exec",
            &sidecar_a,
            "iptables",
            "-w",
            "-D",
            "INPUT",
            "-s",
            "192.0.2.1",
            "-j",
            "DROP",
        ]);
    }
    rows.push(r);

    let mut r = mk("disconnect", "docker network disconnect");
    for _ in 0..rounds {
        time_fault(lab, &mut r, || Disconnect::new(&c)).await?;
        r.floor.push(
            cli(&[
                "docker",
                "network",
                "disconnect",
                lab.network(),
                &c.container_name,
            ])
            .as_secs_f64()
                * 1e3,
        );
        quiet(&[
            "docker",
            "network",
            "connect",
            "--alias",
            "c",
            lab.network(),
            &c.container_name,
        ]);
    }
    rows.push(r);

    let mut r = mk("kill (SIGKILL)", "docker kill");
    for _ in 0..rounds {
        time_fault(lab, &mut r, || Kill::sigkill(&c)).await?;
        r.floor
            .push(cli(&["docker", "kill", &c.container_name]).as_secs_f64() * 1e3);
        quiet(&["docker", "start", &c.container_name]);
    }
    rows.push(r);

    let mut r = mk("pause", "docker pause");
    for _ in 0..rounds {
        time_fault(lab, &mut r, || Pause::new(&c)).await?;
        r.floor
            .push(cli(&["docker", "pause", &c.container_name]).as_secs_f64() * 1e3);
        quiet(&["docker", "unpause", &c.container_name]);
    }
    rows.push(r);

    let mut r = mk("restart", "docker restart");
    for _ in 0..rounds {
        time_fault(lab, &mut r, || Restart::new(&c)).await?;
        r.floor
            .push(cli(&["docker", "restart", &c.container_name]).as_secs_f64() * 1e3);
    }
    rows.push(r);

    let mut r = mk("link toxic (latency)", "curl POST /proxies/x/toxics");
    for _ in 0..rounds {
        time_fault(lab, &mut r, || {
            LinkToxic::new(tp.clone(), "link", Toxic::latency(100, 0))
        })
        .await?;
        r.floor.push(
            cli(&[
                "curl",
                "-sf",
                "-XPOST",
                &format!("{api}/proxies/floor/toxics"),
                "-d",
                r#"{"type":"latency","stream":"downstream","attributes":{"latency":100}}"#,
            ])
            .as_secs_f64()
                * 1e3,
        );
        quiet(&[
            "curl",
            "-sf",
            "-XDELETE",
            &format!("{api}/proxies/floor/toxics/latency_downstream"),
        ]);
    }
    rows.push(r);
    Ok(rows)
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(async {
        let mut spec = IncidentSpec::new("fault_bench", "harness-faults", Variant::After);
        spec.timeout = Duration::from_secs(1800);
        let lab = Lab::create(spec, 1)
            .await
            .expect("a lab (is Docker running?)");
        let res = bench(&lab, rounds).await;
        lab.teardown().await;
        res.expect("benchmark")
    });
    println!("| fault | inject→verified median (ms) | p90 (ms) | heal median (ms) | docker CLI floor | floor median (ms) | p90 (ms) | median ratio |");
    println!("|---|---:|---:|---:|---|---:|---:|---:|");
    for r in rows {
        let (im, ip) = stats(&r.inject);
        let (hm, _) = stats(&r.heal);
        let (fm, fp) = stats(&r.floor);
        println!(
            "| {} | {im:.0} | {ip:.0} | {hm:.0} | `{}` | {fm:.0} | {fp:.0} | {:.2} |",
            r.kind,
            r.floor_op,
            im / fm
        );
    }
    println!("\n{rounds} rounds each, alternating fault and floor on the same containers.");
}
