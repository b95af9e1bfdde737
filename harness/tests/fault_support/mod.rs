//! Helpers shared by the fault tests: small labs of base-image nodes, the
//! TCP connectivity matrix measured from inside the nodes, a raw Toxiproxy
//! container (the fixtures crate depends on harness, so these tests use the
//! harness client directly).
#![allow(dead_code)]

use harness::checker::Check;
use harness::images::{self, ImageId};
use harness::lab::{ContainerSpec, LabCtx, Node, WaitFor};
use harness::spec::{IncidentSpec, Requirement, Variant};
use std::time::Duration;

/// The port every test node listens on.
pub const PORT: u16 = 7000;

/// A spec for a fault test (an `after` variant: its checks are requirements).
pub fn spec(name: &str, requires: &[Requirement]) -> IncidentSpec {
    let mut s = IncidentSpec::new(name, "harness-faults", Variant::After);
    s.timeout = Duration::from_secs(300);
    s.requires = [Requirement::Docker, Requirement::Base]
        .into_iter()
        .chain(requires.iter().copied())
        .collect();
    s
}

/// Records a requirement check and returns whether it holds.
pub fn require(lab: &LabCtx, name: &str, holds: bool, detail: impl Into<String>) -> bool {
    let detail = detail.into();
    lab.check(Check::requirement(name, holds, detail.clone()));
    assert!(holds, "{name}: {detail}");
    holds
}

/// A base-image node listening on [`PORT`].
pub async fn listener(lab: &LabCtx, name: &str) -> anyhow::Result<Node> {
    let image = images::require(lab.docker(), ImageId::Base).await?;
    lab.container(
        ContainerSpec::new(name, image)
            .with_cmd(["nc", "-lk", "-p", &PORT.to_string()])
            .with_wait(WaitFor::Tcp(PORT)),
    )
    .await
}

/// `n` listening nodes `n1..=n<n>`, started together.
pub async fn nodes(lab: &LabCtx, n: usize) -> anyhow::Result<Vec<Node>> {
    let all = futures::future::join_all((1..=n).map(|i| {
        let lab = lab.clone();
        async move { listener(&lab, &format!("n{i}")).await }
    }))
    .await;
    all.into_iter().collect()
}

/// Which node can reach which over TCP, measured from inside each node
/// (bash /dev/tcp to the peer's lab IP with a 1.5 s timeout): one row per
/// node, `1` when the handshake completed or the peer refused it (it is
/// reachable; its listener was between accepts), `.` otherwise (timed out:
/// packets dropped; unreachable: no network); the diagonal is `1`.
pub async fn matrix(lab: &LabCtx, nodes: &[Node]) -> anyhow::Result<Vec<String>> {
    let ips = ips(lab, nodes).await?;
    matrix_to(lab, nodes, &ips).await
}

/// The nodes' lab IPs, by name.
pub async fn ips(lab: &LabCtx, nodes: &[Node]) -> anyhow::Result<Vec<(String, String)>> {
    let mut ips = Vec::new();
    for n in nodes {
        ips.push((
            n.name.clone(),
            harness::fault::partition::lab_ip(lab, n).await?,
        ));
    }
    Ok(ips)
}

/// [`matrix`] against known IPs (a disconnected node has none).
pub async fn matrix_to(
    lab: &LabCtx,
    nodes: &[Node],
    ips: &[(String, String)],
) -> anyhow::Result<Vec<String>> {
    let rows = futures::future::join_all(nodes.iter().map(|from| {
        let lab = lab.clone();
        let ips = ips.to_vec();
        let from = from.clone();
        async move {
            let script = ips
                .iter()
                .map(|(to, ip)| {
                    format!(
                        "(e=$(timeout 1.5 bash -c '</dev/tcp/{ip}/{PORT}' 2>&1) && echo {to}=up || {{ case \"$e\" in *refused*) echo {to}=up;; *) echo {to}=down;; esac; }}) &"
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
                + " wait";
            let out = lab.exec(&from, &["bash", "-c", &script]).await?;
            let row: String = ips
                .iter()
                .map(|(to, _)| {
                    if *to == from.name || out.stdout.contains(&format!("{to}=up")) {
                        '1'
                    } else {
                        '.'
                    }
                })
                .collect();
            Ok::<String, anyhow::Error>(row)
        }
    }))
    .await;
    rows.into_iter().collect()
}

/// A Toxiproxy container named `toxiproxy` with link port 20000 published.
pub async fn toxiproxy(
    lab: &LabCtx,
) -> anyhow::Result<(Node, harness::toxiproxy::ToxiproxyClient)> {
    let image = images::require(lab.docker(), ImageId::Toxiproxy).await?;
    let node = lab
        .container(
            ContainerSpec::new("toxiproxy", image)
                .with_role("proxy")
                .with_exposed_port(8474)
                .with_exposed_port(20000)
                .with_wait(WaitFor::Http {
                    port: 8474,
                    path: "/version".into(),
                }),
        )
        .await?;
    let client = harness::toxiproxy::ToxiproxyClient::new(node.addr(8474));
    Ok((node, client))
}
