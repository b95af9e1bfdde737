//! `Partition`: Jepsen's network partitions as grudges, enforced by
//! iptables in each node's network [`sidecar`](super::sidecar).
//!
//! A [`Grudge`] maps a node to the nodes whose traffic it drops. Where two
//! nodes drop each other the rule drops everything from the peer; where
//! only one does (one-way), it drops only the flows the peer *originates*
//! (`-m conntrack --ctdir ORIGINAL`), so a→b is cut and b→a still works,
//! replies included. Each fault's rules live in their own chain
//! (`INC-<run>-P<n>`, jumped to from INPUT); heal removes exactly that chain.

use super::{Fault, Resolved, Target};
use crate::lab::{LabCtx, Node};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};

/// Node → the nodes it drops traffic from (Jepsen's grudge).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grudge(pub BTreeMap<String, BTreeSet<String>>);

impl Grudge {
    /// An empty grudge.
    pub fn new() -> Self {
        Self::default()
    }

    /// `dest` drops traffic from `src`.
    pub fn drop(mut self, dest: &str, src: &str) -> Self {
        self.0
            .entry(dest.to_string())
            .or_default()
            .insert(src.to_string());
        self
    }

    /// Every node drops every node outside its own component.
    pub fn complete(components: &[Vec<String>]) -> Self {
        let mut g = Grudge::new();
        for (i, c) in components.iter().enumerate() {
            for (j, other) in components.iter().enumerate() {
                if i != j {
                    for d in c {
                        for s in other {
                            g = g.drop(d, s);
                        }
                    }
                }
            }
        }
        g
    }

    /// Whether `dest` drops traffic from `src`.
    pub fn drops(&self, dest: &str, src: &str) -> bool {
        self.0.get(dest).is_some_and(|s| s.contains(src))
    }

    /// Whether a connection from `from` to `to` can be opened under this
    /// grudge (what a TCP connect measures): `to` must not drop `from`'s
    /// flows, and if `from` drops `to` both ways are cut.
    pub fn connects(&self, from: &str, to: &str) -> bool {
        from == to || !(self.drops(to, from) || (self.drops(from, to) && self.drops(to, from)))
    }
}

/// The shape of a partition, resolved against the partitioned nodes
/// (sorted by name) at inject time.
#[derive(Clone, Debug)]
pub enum Shape {
    /// One node cut off from all others.
    Isolate(Target),
    /// Two halves (the first ⌊n/2⌋ nodes, the rest).
    Halves,
    /// Each node sees a majority (itself and its ring neighbours), and no
    /// two nodes see the same majority (Jepsen's majorities-ring; exact up
    /// to 5 nodes, the same ring construction above).
    MajoritiesRing,
    /// Two halves and one node that sees both (Jepsen's bridge).
    Bridge,
    /// `from` cannot open connections to `to`; `to` can reach `from`.
    OneWay {
        /// The node whose flows are dropped.
        from: Target,
        /// The node that drops them.
        to: Target,
    },
    /// Explicit components: every node drops the nodes of other components.
    Components(Vec<Vec<String>>),
    /// Any grudge.
    Grudge(Grudge),
}

impl Shape {
    /// The shape's name, as on the timeline.
    pub fn name(&self) -> &'static str {
        match self {
            Shape::Isolate(_) => "isolate",
            Shape::Halves => "halves",
            Shape::MajoritiesRing => "majorities-ring",
            Shape::Bridge => "bridge",
            Shape::OneWay { .. } => "one-way",
            Shape::Components(_) => "components",
            Shape::Grudge(_) => "grudge",
        }
    }
}

/// The grudge of a shape over `nodes` (`isolated`, `from`, `to`: resolved names).
pub fn grudge_of(shape: &Shape, nodes: &[String], resolved: &[String]) -> Result<Grudge> {
    let n = nodes.len();
    let g = match shape {
        Shape::Isolate(_) => {
            let one = resolved[0].clone();
            let rest: Vec<String> = nodes.iter().filter(|x| **x != one).cloned().collect();
            Grudge::complete(&[vec![one], rest])
        }
        Shape::Halves => {
            if n < 2 {
                bail!("halves needs at least 2 nodes, got {n}");
            }
            let (a, b) = nodes.split_at(n / 2);
            Grudge::complete(&[a.to_vec(), b.to_vec()])
        }
        Shape::MajoritiesRing => {
            if n < 3 {
                bail!("majorities-ring needs at least 3 nodes, got {n}");
            }
            let m = n / 2 + 1;
            let all: BTreeSet<String> = nodes.iter().cloned().collect();
            let mut g = Grudge::new();
            for i in 0..n {
                let window: Vec<String> = (0..m).map(|k| nodes[(i + k) % n].clone()).collect();
                let center = window[m / 2].clone();
                let seen: BTreeSet<String> = window.into_iter().collect();
                for other in all.difference(&seen) {
                    g = g.drop(&center, other);
                }
            }
            g
        }
        Shape::Bridge => {
            if n < 3 {
                bail!("bridge needs at least 3 nodes, got {n}");
            }
            let (a, b) = nodes.split_at(n / 2);
            Grudge::complete(&[a.to_vec(), b[1..].to_vec()])
        }
        Shape::OneWay { .. } => Grudge::new().drop(&resolved[1], &resolved[0]),
        Shape::Components(c) => Grudge::complete(c),
        Shape::Grudge(g) => g.clone(),
    };
    for (d, srcs) in &g.0 {
        for x in std::iter::once(d).chain(srcs) {
            if !nodes.contains(x) {
                bail!(
                    "partition names `{x}`, which is not among the partitioned nodes ({})",
                    nodes.join(", ")
                );
            }
        }
    }
    Ok(g)
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A network partition in force between inject and heal.
pub struct Partition {
    shape: Shape,
    among: Option<Vec<String>>,
    chain: String,
    grudge: Option<Grudge>,
    /// The nodes whose sidecar holds our chain.
    applied: Vec<Node>,
}

impl Partition {
    /// A partition of `shape` among the lab's nodes (every node except
    /// proxies and hogs), unless narrowed with [`Partition::among`].
    pub fn new(shape: Shape) -> Self {
        Partition {
            shape,
            among: None,
            chain: String::new(),
            grudge: None,
            applied: Vec::new(),
        }
    }
    /// Cuts `node` off from all other nodes.
    pub fn isolate(node: impl Into<Target>) -> Self {
        Self::new(Shape::Isolate(node.into()))
    }
    /// Two halves.
    pub fn halves() -> Self {
        Self::new(Shape::Halves)
    }
    /// Jepsen's majorities ring.
    pub fn majorities_ring() -> Self {
        Self::new(Shape::MajoritiesRing)
    }
    /// Two halves joined by one bridge node.
    pub fn bridge() -> Self {
        Self::new(Shape::Bridge)
    }
    /// `from` cannot reach `to`; `to` can reach `from`.
    pub fn one_way(from: impl Into<Target>, to: impl Into<Target>) -> Self {
        Self::new(Shape::OneWay {
            from: from.into(),
            to: to.into(),
        })
    }
    /// Any grudge.
    pub fn grudge(g: Grudge) -> Self {
        Self::new(Shape::Grudge(g))
    }
    /// Only these nodes take part (and shapes are computed over them).
    pub fn among<I, S>(mut self, nodes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.among = Some(nodes.into_iter().map(Into::into).collect());
        self
    }

    /// The grudge in force (after inject).
    pub fn grudge_in_force(&self) -> Option<&Grudge> {
        self.grudge.as_ref()
    }

    fn nodes(&self, lab: &LabCtx) -> Vec<String> {
        let mut names: Vec<String> = match &self.among {
            Some(a) => a.clone(),
            None => lab
                .topology()
                .into_iter()
                .filter(|t| !matches!(t.role.as_str(), "proxy" | "hog" | "sidecar"))
                .map(|t| t.name)
                .collect(),
        };
        names.sort();
        names.dedup();
        names
    }
}

/// A node's IP on the lab network.
pub async fn lab_ip(lab: &LabCtx, node: &Node) -> Result<String> {
    let info = lab.inspect(node).await?;
    info.network_settings
        .and_then(|n| n.networks)
        .and_then(|m| m.get(lab.network()).cloned())
        .and_then(|e| e.ip_address)
        .filter(|ip| !ip.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "`{}` has no address on the lab network {} (disconnected or stopped?)",
                node.name,
                lab.network()
            )
        })
}

#[async_trait::async_trait]
impl Fault for Partition {
    fn kind(&self) -> &'static str {
        "partition"
    }

    fn describe(&self) -> String {
        match &self.grudge {
            Some(g) => {
                let parts: Vec<String> =
                    g.0.iter()
                        .map(|(d, s)| {
                            format!(
                                "{d} drops {}",
                                s.iter().cloned().collect::<Vec<_>>().join("+")
                            )
                        })
                        .collect();
                format!("{} ({})", self.shape.name(), parts.join("; "))
            }
            None => self.shape.name().to_string(),
        }
    }

    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        let nodes = self.nodes(lab);
        let targets: Vec<Target> = match &self.shape {
            Shape::Isolate(t) => vec![t.clone()],
            Shape::OneWay { from, to } => vec![from.clone(), to.clone()],
            _ => vec![],
        };
        let mut resolved = Vec::new();
        for t in targets {
            resolved.push(Resolved::new(t).get(lab).await?.name);
        }
        let grudge = grudge_of(&self.shape, &nodes, &resolved)?;
        let mut ips = BTreeMap::new();
        for name in &nodes {
            let node = lab
                .node(name)
                .ok_or_else(|| anyhow!("partition: no node `{name}` in this lab"))?;
            ips.insert(name.clone(), (node.clone(), lab_ip(lab, &node).await?));
        }
        self.chain = format!(
            "INC-{}-P{}",
            lab.run_id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        self.grudge = Some(grudge.clone());
        let chain = self.chain.clone();
        let mut work = Vec::new();
        for (dest, srcs) in &grudge.0 {
            if srcs.is_empty() {
                continue;
            }
            let (node, _) = ips[dest].clone();
            let mut rules = Vec::new();
            for src in srcs {
                let ip = &ips[src].1;
                if grudge.drops(src, dest) {
                    rules.push(format!("-A {chain} -s {ip}/32 -j DROP"));
                } else {
                    rules.push(format!(
                        "-A {chain} -s {ip}/32 -m conntrack --ctdir ORIGINAL -j DROP"
                    ));
                }
            }
            self.applied.push(node.clone());
            let lab = lab.clone();
            let chain = chain.clone();
            work.push(async move {
                let script = format!(
                    "set -e; iptables -w -N {chain}; {}; iptables -w -I INPUT 1 -j {chain}; iptables -w -S {chain}; iptables -w -S INPUT",
                    rules
                        .iter()
                        .map(|r| format!("iptables -w {r}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                let out = super::sidecar::run(&lab, &node, &script).await?;
                if !out.success() {
                    bail!("iptables on `{}` failed: {}", node.name, out.stderr.trim());
                }
                // Verified: the chain holds every rule and INPUT jumps to it.
                for r in &rules {
                    if !out.stdout.lines().any(|l| l.trim() == r) {
                        bail!("rule `{r}` not in force on `{}`:\n{}", node.name, out.stdout);
                    }
                }
                if !out.stdout.lines().any(|l| l.trim() == format!("-A INPUT -j {chain}")) {
                    bail!("INPUT does not jump to {chain} on `{}`", node.name);
                }
                Ok(())
            });
        }
        for r in futures::future::join_all(work).await {
            r?;
        }
        Ok(())
    }

    async fn heal(&mut self, lab: &LabCtx) -> Result<()> {
        let chain = self.chain.clone();
        let work = self.applied.iter().map(|node| {
            let lab = lab.clone();
            let chain = chain.clone();
            let node = node.clone();
            async move {
                // A node restarted meanwhile has a new namespace without our
                // rules; a stopped one has none.
                let Some(current) = lab.node(&node.name) else { return Ok(()) };
                if super::cgroup::pid_of(&lab, &current).await.is_err() {
                    return Ok(());
                }
                let script = format!(
                    "iptables -w -D INPUT -j {chain} 2>/dev/null; iptables -w -F {chain} 2>/dev/null; iptables -w -X {chain} 2>/dev/null; if iptables -w -S {chain} >/dev/null 2>&1 || iptables -w -S INPUT | grep -q -- '-j {chain}$'; then echo LEFT; exit 1; fi"
                );
                let out = super::sidecar::run(&lab, &current, &script)
                    .await
                    .with_context(|| format!("healing the partition on `{}`", node.name))?;
                if !out.success() {
                    bail!("chain {chain} still in force on `{}`: {}", node.name, out.stdout.trim());
                }
                Ok::<(), anyhow::Error>(())
            }
        });
        let mut first_err = None;
        for r in futures::future::join_all(work).await {
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => {
                self.applied.clear();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five() -> Vec<String> {
        (1..=5).map(|i| format!("n{i}")).collect()
    }

    fn matrix(g: &Grudge, nodes: &[String]) -> Vec<String> {
        nodes
            .iter()
            .map(|a| {
                nodes
                    .iter()
                    .map(|b| if g.connects(a, b) { '1' } else { '.' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn shapes_on_five_nodes_match_jepsen() {
        let n = five();
        let halves = grudge_of(&Shape::Halves, &n, &[]).unwrap();
        assert_eq!(
            matrix(&halves, &n),
            ["11...", "11...", "..111", "..111", "..111"]
        );
        let bridge = grudge_of(&Shape::Bridge, &n, &[]).unwrap();
        assert_eq!(
            matrix(&bridge, &n),
            ["111..", "111..", "11111", "..111", "..111"]
        );
        let ring = grudge_of(&Shape::MajoritiesRing, &n, &[]).unwrap();
        assert_eq!(
            matrix(&ring, &n),
            ["11..1", "111..", ".111.", "..111", "1..11"]
        );
        let iso = grudge_of(
            &Shape::Isolate(Target::Node("n3".into())),
            &n,
            &["n3".into()],
        )
        .unwrap();
        assert_eq!(
            matrix(&iso, &n),
            ["11.11", "11.11", "..1..", "11.11", "11.11"]
        );
        let one = grudge_of(
            &Shape::OneWay {
                from: Target::Node("n1".into()),
                to: Target::Node("n2".into()),
            },
            &n,
            &["n1".into(), "n2".into()],
        )
        .unwrap();
        assert_eq!(
            matrix(&one, &n),
            ["1.111", "11111", "11111", "11111", "11111"]
        );
    }

    #[test]
    fn every_node_of_the_ring_sees_a_distinct_majority() {
        let n = five();
        let ring = grudge_of(&Shape::MajoritiesRing, &n, &[]).unwrap();
        let seen: BTreeSet<Vec<String>> = n
            .iter()
            .map(|a| n.iter().filter(|b| !ring.drops(a, b)).cloned().collect())
            .collect();
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().all(|s| s.len() == 3));
    }

    #[test]
    fn unknown_nodes_are_refused() {
        let g = Grudge::new().drop("n1", "zz");
        assert!(grudge_of(&Shape::Grudge(g), &five(), &[]).is_err());
    }
}
