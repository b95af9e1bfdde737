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

/// Partitions aimed by Raft role on a real three-server Consul cluster:
/// "cut the leader from one follower while the third sees both", then a
/// bridge through the leader, then the two followers cut from each other
/// (a role named twice takes its next holder). Each shape is measured with
/// TCP connects to the server RPC port (8300) and recorded with the nodes
/// the roles resolved to.
#[incident(
    postmortem = "harness-faults",
    variant = after,
    budget = "30s",
    timeout = "4m",
    requires = [consul],
    tags = [faults]
)]
async fn partitions_aimed_by_raft_role(lab: &mut Lab) -> Outcome {
    use fixtures::consul::raft::RaftState;
    use fixtures::consul::ConsulCluster;
    let consul = lab.start(ConsulCluster::servers(3)).await?;
    let servers = consul.server_names().to_vec();
    // Row a, column b: can a open a connection to b's RPC port?
    let measure = |lab: LabCtx, servers: Vec<String>| async move {
        let mut rows = Vec::new();
        for a in &servers {
            let node = lab.node(a).expect("a Consul server");
            let mut row = String::new();
            for b in &servers {
                let probe = format!("timeout 1.5 bash -c '</dev/tcp/{b}/8300'");
                let open = a == b || lab.exec(&node, &["bash", "-c", &probe]).await?.success();
                row.push(if open { '1' } else { '.' });
            }
            rows.push(row);
        }
        anyhow::Ok(rows)
    };
    let index = |name: &str| servers.iter().position(|s| s == name).expect("a server");
    let expect = |cut: &[(usize, usize)]| -> Vec<String> {
        (0..3)
            .map(|a| {
                (0..3)
                    .map(|b| {
                        if cut.contains(&(a, b)) || cut.contains(&(b, a)) {
                            '.'
                        } else {
                            '1'
                        }
                    })
                    .collect()
            })
            .collect()
    };
    lab.phase("fault").await;
    for name in [
        "cut_leader_from_a_follower",
        "bridge_through_the_leader",
        "cut_a_follower_from_the_other",
    ] {
        // Healing a cut can depose the leader (the cut-off follower comes
        // back with a higher term): each shape is computed from the leader
        // of a settled cluster, just before it is injected.
        consul.wait_ready(Duration::from_secs(60)).await?;
        let leader = consul.leader_name().await?;
        let f: Vec<String> = servers.iter().filter(|s| **s != leader).cloned().collect();
        let (l, f1, f2) = (index(&leader), index(&f[0]), index(&f[1]));
        let (partition, expected, aimed) = match name {
            "cut_leader_from_a_follower" => (
                Partition::cut([Role::Leader], [Role::Follower]),
                expect(&[(l, f1)]),
                format!("the leader = {leader}, the follower = {}", f[0]),
            ),
            "bridge_through_the_leader" => (
                Partition::bridge().with_bridge(Role::Leader),
                expect(&[(f1, f2)]),
                format!("the leader = {leader}"),
            ),
            _ => (
                Partition::cut([Role::Follower], [Role::Follower]),
                expect(&[(f1, f2)]),
                format!("the follower = {}, the follower = {}", f[0], f[1]),
            ),
        };
        let guard = lab.inject(partition).await?;
        let got = measure(lab.clone(), servers.clone()).await?;
        if name == "cut_leader_from_a_follower" {
            // The cut-off follower's own view: no word from the leader for
            // longer than Raft's heartbeat timeout, so it campaigns (or is
            // about to), while the cluster as a whole still has its leader.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let cut_off = consul.raft_stats(&f[0]).await?;
            let silent = cut_off
                .last_contact
                .is_none_or(|c| c > Duration::from_secs(1));
            require(
                lab,
                "raft_view.cut_off_follower_lost_its_leader",
                silent || cut_off.state != RaftState::Follower,
                format!("{} sees {cut_off:?}", f[0]),
            );
        }
        let described = guard.describe();
        guard.heal().await?;
        require(
            lab,
            &format!("role_partition.{name}.shape"),
            got == expected,
            format!("measured {got:?}, expected {expected:?} ({described})"),
        );
        require(
            lab,
            &format!("role_partition.{name}.recorded"),
            described.contains(&aimed),
            format!("the fault plan says `{described}`, wanted `{aimed}`"),
        );
    }
    lab.phase("recover").await;
    consul.wait_ready(Duration::from_secs(60)).await?;
    let after = measure(lab.clone(), servers.clone()).await?;
    // Every server's view was polled, and at least the first leader's term
    // counts as an election won.
    let view = consul.raft_view();
    require(
        lab,
        "raft_view.every_server_polled",
        view.servers.len() == 3 && view.elections() >= 1,
        format!("{view:?}"),
    );
    let library = consul.raft_library();
    require(
        lab,
        "raft_view.library_read_from_the_binary",
        library
            .as_ref()
            .is_some_and(|l| l.version.starts_with("v1.")),
        format!("{library:?}"),
    );
    require(
        lab,
        "role_partition.healed",
        after == expect(&[]),
        format!("{after:?}"),
    );
    Ok(())
}

/// Toxiproxy accepts a connection first and dials its upstream after
/// (`proxy.go`), one connection at a time: a peer's connection is complete
/// and its requests are taken while the dial has not even started, and a
/// dial that completes once the upstream is back hands the new process
/// what was written before, by a peer that may have died since. A chat
/// node restarted that way got a dead peer's Deliver calls and handed a
/// client a message it already had (`leancloud_2015_08_before`, one run in
/// ten). The chat fixture closes a down node's relay
/// (`ChatGatewayClusterHandle::set_relay`); this checks the same on one
/// container-to-container link: while the relay is closed a peer is
/// refused and nothing reaches the restarted upstream, and the reopened
/// relay carries new traffic. (Whether an open relay hands on stale bytes
/// depends on when its dial completes; that run is recorded, not judged.)
#[incident(
    postmortem = "harness-faults",
    variant = after,
    budget = "30s",
    timeout = "3m",
    requires = [toxiproxy, base],
    tags = [faults]
)]
async fn a_closed_relay_holds_no_stale_bytes_for_a_restarted_upstream(lab: &mut Lab) -> Outcome {
    let tp = lab.start(Toxiproxy::new()).await?;
    let image = images::require(lab.docker(), ImageId::Base).await?;
    let listen = WaitFor::Tcp(7000);
    let mut sink = lab
        .start(
            ContainerSpec::new("sink", &image)
                .with_cmd([
                    "bash",
                    "-c",
                    "touch /tmp/got; while true; do nc -l -p 7000 >> /tmp/got; done",
                ])
                .with_wait(listen.clone()),
        )
        .await?;
    let peer = lab
        .start(ContainerSpec::new("peer", &image).with_cmd(["sleep", "infinity"]))
        .await?;
    let route = tp.peer_route("sink", "sink:7000").await?;
    let ctx = lab.ctx();
    // The peer writes through the relay and goes away; `true` if its
    // connection was taken.
    let send = |text: &'static str| {
        let (ctx, peer, to) = (ctx.clone(), peer.clone(), route.peer_addr.clone());
        async move {
            let (host, port) = to.rsplit_once(':').expect("host:port");
            let script = format!("echo {text} | nc -q 1 -w 2 {host} {port}");
            anyhow::Ok(ctx.exec(&peer, &["bash", "-c", &script]).await?.success())
        }
    };
    let received = |sink: Node| {
        let ctx = ctx.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            let out = ctx.exec(&sink, &["cat", "/tmp/got"]).await?;
            anyhow::Ok(out.stdout)
        }
    };

    lab.phase("open relay").await;
    lab.stop_node(&sink, Duration::ZERO).await?;
    let taken = send("stale-open").await?;
    sink = lab
        .start_node(&sink, &listen, Duration::from_secs(20))
        .await?;
    let got = received(sink.clone()).await?;
    lab.figure(
        "stale_bytes_through_the_open_relay",
        f64::from(u8::from(got.contains("stale-open"))),
    );
    lab.note(format!(
        "open relay, upstream down: the peer's connection taken {taken}; the restarted upstream got {got:?}"
    ));

    lab.phase("closed relay").await;
    tp.client().set_enabled("sink", false).await?;
    lab.stop_node(&sink, Duration::ZERO).await?;
    let taken = send("stale-closed").await?;
    sink = lab
        .start_node(&sink, &listen, Duration::from_secs(20))
        .await?;
    tp.client().set_enabled("sink", true).await?;
    let got = received(sink.clone()).await?;
    require(
        lab,
        "relay.closed_refuses_and_holds_nothing",
        !taken && !got.contains("stale-closed"),
        format!("the peer's connection taken {taken}; the restarted upstream got {got:?}"),
    );
    let taken = send("fresh").await?;
    let got = received(sink).await?;
    require(
        lab,
        "relay.reopened_carries_traffic",
        taken && got.contains("fresh"),
        format!("taken {taken}; got {got:?}"),
    );
    Ok(())
}
