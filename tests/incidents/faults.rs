//! The fault library on real containers, as incidents: links through the
//! Toxiproxy fixture with toxics, and a partition plus memory and pids
//! faults aimed by role at inject time. (The exhaustive acceptance tests
//! per fault kind are in `harness/tests/fault_*.rs`.)

use fixtures::toxiproxy::Toxiproxy;
use harness::checker::Check;
use harness::fault::memory::{Hog, MemoryExhaustion};
use harness::fault::partition::Partition;
use harness::fault::pids::ProcessLimit;
use harness::fault::RoleResolver;
use harness::images::{self, ImageId};
use harness::prelude::*;
use harness::toxiproxy::Toxic;
use std::sync::Arc;
use std::time::Instant;

fn require(lab: &LabCtx, name: &str, holds: bool, detail: String) {
    lab.check(Check::requirement(name, holds, detail));
}

/// One HTTP/1.0 GET on a fresh connection: the response, or an error.
async fn get(addr: std::net::SocketAddr, timeout: Duration) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::time::timeout(timeout, async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /version HTTP/1.0\r\n\r\n").await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        anyhow::ensure!(
            out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
            "answer: {out:?}"
        );
        Ok(out)
    })
    .await
    .map_err(|_| anyhow::anyhow!("timed out after {timeout:?}"))?
}

async fn median_ms(addr: std::net::SocketAddr) -> anyhow::Result<f64> {
    let mut v = Vec::new();
    for _ in 0..11 {
        let t = Instant::now();
        get(addr, Duration::from_secs(5)).await?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Ok(v[5])
}

/// A client link routed through the Toxiproxy fixture: 250 ms of
/// downstream latency is measured within 20 %, a black hole times out, and
/// healing leaves no toxic.
#[incident(
    postmortem = "harness-faults",
    variant = after,
    budget = "30s",
    timeout = "3m",
    requires = [toxiproxy],
    tags = [faults]
)]
async fn link_toxics_through_the_toxiproxy_fixture(lab: &mut Lab) -> Outcome {
    let tp = lab.start(Toxiproxy::new()).await?;
    let route = tp.route("api", "toxiproxy:8474").await?;
    let addr = route.host_addr.expect("a published route");
    let base = median_ms(addr).await?;
    let guard = lab.inject(tp.toxic(&route, Toxic::latency(250, 0))).await?;
    let added = median_ms(addr).await? - base;
    guard.heal().await?;
    lab.figure("latency_added_ms", added);
    require(
        lab,
        "toxic.latency_within_20pct",
        (added - 250.0).abs() <= 50.0,
        format!("+{added:.1} ms for 250 ms"),
    );
    let guard = lab.inject(tp.toxic(&route, Toxic::black_hole())).await?;
    let r = get(addr, Duration::from_secs(2)).await;
    guard.heal().await?;
    // No byte comes back: the request hangs, or (HTTP/1.0: the server
    // closes after answering, and the close still passes) ends empty.
    let holed = matches!(&r, Err(e) if e.to_string().contains("timed out") || e.to_string().contains("answer: \"\""));
    require(lab, "toxic.black_hole", holed, format!("{r:?}"));
    let left = tp.client().toxics("api").await?;
    require(lab, "toxic.none_left", left.is_empty(), format!("{left:?}"));
    Ok(())
}

/// Resolves `Role::Named("victim")` to whichever node the test says.
struct Victim(String);

// The trait is `#[async_trait]`; this is its expansion, written out (the
// suite does not depend on async-trait).
impl RoleResolver for Victim {
    fn resolve<'a, 'b, 'c, 'f>(
        &'a self,
        lab: &'b LabCtx,
        role: &'c Role,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<Option<Node>>> + Send + 'f>,
    >
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
    {
        Box::pin(async move {
            Ok(match role {
                Role::Named(n) if n == "victim" => lab.node(&self.0),
                _ => None,
            })
        })
    }
}

/// Faults aimed by role: the node holding the role at inject time is
/// isolated (measured with TCP connects from a peer), squeezed in memory
/// and pids, and everything is healed.
#[incident(
    postmortem = "harness-faults",
    variant = after,
    budget = "30s",
    timeout = "3m",
    requires = [base],
    tags = [faults]
)]
async fn faults_aimed_by_role_at_inject_time(lab: &mut Lab) -> Outcome {
    let image = images::require(lab.docker(), ImageId::Base).await?;
    let mut nodes = Vec::new();
    for name in ["n1", "n2", "n3"] {
        nodes.push(
            lab.container(
                ContainerSpec::new(name, image.clone())
                    .with_cmd(["nc", "-lk", "-p", "7000"])
                    .with_memory_limit(128 << 20)
                    .with_wait(WaitFor::Tcp(7000)),
            )
            .await?,
        );
    }
    lab.register_roles(Arc::new(Victim("n2".into())));
    let victim = Target::Role(Role::Named("victim".into()));
    let probe = |to: &str| format!("timeout 1.5 bash -c '</dev/tcp/{to}/7000'");
    lab.phase("fault").await;
    let p = lab.inject(Partition::isolate(victim.clone())).await?;
    let m = lab
        .inject(MemoryExhaustion::limit(victim.clone(), 64 << 20).with_hog(Hog::hold(16 << 20)))
        .await?;
    let l = lab.inject(ProcessLimit::new(victim.clone(), 32)).await?;
    let cut = !lab
        .exec(&nodes[0], &["bash", "-c", &probe("n2")])
        .await?
        .success();
    let other = lab
        .exec(&nodes[0], &["bash", "-c", &probe("n3")])
        .await?
        .success();
    require(
        lab,
        "role.partition_isolates_victim",
        cut && other,
        format!("n1->n2 cut {cut}, n1->n3 open {other}"),
    );
    let described = lab.faults().iter().all(|f| f.description.contains("n2"));
    require(
        lab,
        "role.resolved_to_n2",
        described,
        format!(
            "{:?}",
            lab.faults()
                .iter()
                .map(|f| f.description.clone())
                .collect::<Vec<_>>()
        ),
    );
    lab.phase("recover").await;
    l.heal().await?;
    m.heal().await?;
    p.heal().await?;
    let back = lab
        .exec(&nodes[0], &["bash", "-c", &probe("n2")])
        .await?
        .success();
    let limit =
        harness::fault::cgroup::read(lab, &nodes[1], "memory", "memory.limit_in_bytes").await?;
    require(
        lab,
        "role.healed",
        back && limit == (128u64 << 20).to_string(),
        format!("reachable {back}, limit {limit}"),
    );
    Ok(())
}
