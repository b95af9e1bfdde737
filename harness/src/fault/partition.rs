//! `Partition`: Jepsen's network partitions as grudges, enforced by
//! iptables in each node's network [`sidecar`](super::sidecar).
//!
//! A [`Grudge`] maps a node to the nodes whose traffic it drops. Where two
//! nodes drop each other the rule drops everything from the peer; where
//! only one does (one-way), it drops only the flows the peer *originates*
//! (`-m conntrack --ctdir ORIGINAL`), so a→b is cut and b→a still works,
//! replies included. Each fault's rules live in their own chain
//! (`INC-<run>-P<n>`, jumped to from INPUT); heal removes exactly that chain.
//!
//! One concept, one file: the grudge (pure) and its enforcement as iptables
//! chains, which change together; a quarter of it is tests.

use super::{resolve_distinct, Fault, Target};
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
/// (sorted by name) at inject time. Every shape can be aimed: its
/// [`Target`]s (nodes or roles such as `Role::Leader`) resolve to distinct
/// nodes when it is injected (see [`super::resolve_distinct`]).
#[derive(Clone, Debug)]
pub enum Shape {
    /// One node cut off from all others.
    Isolate(Target),
    /// Two halves: the first ⌊n/2⌋ nodes (the minority), the rest. Nodes
    /// named in `minority` go in the minority first, the others follow by
    /// name.
    Halves {
        /// Placed in the minority half (at most ⌊n/2⌋).
        minority: Vec<Target>,
    },
    /// Each node sees a majority (itself and its ring neighbours), and no
    /// two nodes see the same majority (Jepsen's majorities-ring; exact up
    /// to 5 nodes, the same ring construction above). The ring runs through
    /// the nodes named in `order` first, then the others by name.
    MajoritiesRing {
        /// The ring's first positions.
        order: Vec<Target>,
    },
    /// Two halves and one node that sees both (Jepsen's bridge). Without a
    /// chosen `bridge` it is the middle node by name.
    Bridge {
        /// The node that sees both halves.
        bridge: Option<Target>,
    },
    /// `from` cannot open connections to `to`; `to` can reach `from`.
    OneWay {
        /// The node whose flows are dropped.
        from: Target,
        /// The node that drops them.
        to: Target,
    },
    /// The nodes of `a` and of `b` drop each other; every other node still
    /// sees both sides ("cut the leader from one follower while the third
    /// sees both": `a = [Role::Leader]`, `b = [Role::Follower]`).
    Cut {
        /// One side.
        a: Vec<Target>,
        /// The other side.
        b: Vec<Target>,
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
            Shape::Halves { .. } => "halves",
            Shape::MajoritiesRing { .. } => "majorities-ring",
            Shape::Bridge { .. } => "bridge",
            Shape::OneWay { .. } => "one-way",
            Shape::Cut { .. } => "cut",
            Shape::Components(_) => "components",
            Shape::Grudge(_) => "grudge",
        }
    }

    /// The targets to resolve at inject time, in the order [`grudge_of`]
    /// reads their resolved names.
    pub fn targets(&self) -> Vec<Target> {
        match self {
            Shape::Isolate(t) => vec![t.clone()],
            Shape::Halves { minority } => minority.clone(),
            Shape::MajoritiesRing { order } => order.clone(),
            Shape::Bridge { bridge } => bridge.iter().cloned().collect(),
            Shape::OneWay { from, to } => vec![from.clone(), to.clone()],
            Shape::Cut { a, b } => a.iter().chain(b).cloned().collect(),
            Shape::Components(_) | Shape::Grudge(_) => vec![],
        }
    }
}

/// `nodes` with `first` moved to the front, in `first`'s order.
fn placed_first(nodes: &[String], first: &[String]) -> Vec<String> {
    first
        .iter()
        .cloned()
        .chain(nodes.iter().filter(|n| !first.contains(n)).cloned())
        .collect()
}

/// The grudge of a shape over `nodes`; `resolved` holds the names of
/// [`Shape::targets`], in that order.
pub fn grudge_of(shape: &Shape, nodes: &[String], resolved: &[String]) -> Result<Grudge> {
    let n = nodes.len();
    if resolved.len() != shape.targets().len() {
        bail!(
            "{} has {} target(s) but {} resolved name(s)",
            shape.name(),
            shape.targets().len(),
            resolved.len()
        );
    }
    for r in resolved {
        if !nodes.contains(r) {
            bail!(
                "partition aims at `{r}`, which is not among the partitioned nodes ({})",
                nodes.join(", ")
            );
        }
    }
    let g = match shape {
        Shape::Isolate(_) => {
            let one = resolved[0].clone();
            let rest: Vec<String> = nodes.iter().filter(|x| **x != one).cloned().collect();
            Grudge::complete(&[vec![one], rest])
        }
        Shape::Halves { .. } => {
            if n < 2 {
                bail!("halves needs at least 2 nodes, got {n}");
            }
            if resolved.len() > n / 2 {
                bail!(
                    "halves of {n} nodes has a minority of {}, but {} nodes are placed in it ({}): place at most {}",
                    n / 2,
                    resolved.len(),
                    resolved.join(", "),
                    n / 2
                );
            }
            let order = placed_first(nodes, resolved);
            let (a, b) = order.split_at(n / 2);
            Grudge::complete(&[a.to_vec(), b.to_vec()])
        }
        Shape::MajoritiesRing { .. } => {
            if n < 3 {
                bail!("majorities-ring needs at least 3 nodes, got {n}");
            }
            let ring = placed_first(nodes, resolved);
            let m = n / 2 + 1;
            let all: BTreeSet<String> = ring.iter().cloned().collect();
            let mut g = Grudge::new();
            for i in 0..n {
                let window: Vec<String> = (0..m).map(|k| ring[(i + k) % n].clone()).collect();
                let center = window[m / 2].clone();
                let seen: BTreeSet<String> = window.into_iter().collect();
                for other in all.difference(&seen) {
                    g = g.drop(&center, other);
                }
            }
            g
        }
        Shape::Bridge { .. } => {
            if n < 3 {
                bail!("bridge needs at least 3 nodes, got {n}");
            }
            let bridge = resolved
                .first()
                .cloned()
                .unwrap_or_else(|| nodes[n / 2].clone());
            let others: Vec<String> = nodes.iter().filter(|x| **x != bridge).cloned().collect();
            let (a, b) = others.split_at(n / 2);
            Grudge::complete(&[a.to_vec(), b.to_vec()])
        }
        Shape::OneWay { .. } => Grudge::new().drop(&resolved[1], &resolved[0]),
        Shape::Cut { a, .. } => {
            let (a, b) = resolved.split_at(a.len());
            if a.is_empty() || b.is_empty() {
                bail!(
                    "a cut needs a node on each side, got [{}] and [{}]",
                    a.join(", "),
                    b.join(", ")
                );
            }
            let mut g = Grudge::new();
            for x in a {
                for y in b {
                    g = g.drop(x, y).drop(y, x);
                }
            }
            g
        }
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
    /// A `with_*` knob given to a shape it does not fit, reported at inject.
    misuse: Option<String>,
    /// Each target in words and the node it resolved to (after inject).
    aimed: Vec<(String, String)>,
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
            misuse: None,
            aimed: Vec::new(),
            chain: String::new(),
            grudge: None,
            applied: Vec::new(),
        }
    }
    /// Cuts `node` off from all other nodes.
    pub fn isolate(node: impl Into<Target>) -> Self {
        Self::new(Shape::Isolate(node.into()))
    }
    /// Two halves (the minority is the first ⌊n/2⌋ nodes by name; see
    /// [`Partition::with_minority`]).
    pub fn halves() -> Self {
        Self::new(Shape::Halves { minority: vec![] })
    }
    /// Jepsen's majorities ring (through the nodes by name; see
    /// [`Partition::with_ring_order`]).
    pub fn majorities_ring() -> Self {
        Self::new(Shape::MajoritiesRing { order: vec![] })
    }
    /// Two halves joined by one bridge node (the middle node by name; see
    /// [`Partition::with_bridge`]).
    pub fn bridge() -> Self {
        Self::new(Shape::Bridge { bridge: None })
    }
    /// `from` cannot reach `to`; `to` can reach `from`.
    pub fn one_way(from: impl Into<Target>, to: impl Into<Target>) -> Self {
        Self::new(Shape::OneWay {
            from: from.into(),
            to: to.into(),
        })
    }
    /// The nodes of `a` and of `b` drop each other; the rest see both.
    /// `Partition::cut([Role::Leader], [Role::Follower])` cuts the leader
    /// from one follower; a role named on both sides or twice resolves to
    /// distinct holders ("the other follower").
    pub fn cut<A, B>(a: A, b: B) -> Self
    where
        A: IntoIterator,
        A::Item: Into<Target>,
        B: IntoIterator,
        B::Item: Into<Target>,
    {
        Self::new(Shape::Cut {
            a: a.into_iter().map(Into::into).collect(),
            b: b.into_iter().map(Into::into).collect(),
        })
    }
    /// For [`Partition::bridge`]: the node that sees both halves
    /// (`Role::Leader`, a node); the other nodes split by name.
    pub fn with_bridge(mut self, bridge: impl Into<Target>) -> Self {
        match &mut self.shape {
            Shape::Bridge { bridge: b } => *b = Some(bridge.into()),
            other => self.misuse = Some(misuse("with_bridge", "Partition::bridge()", other)),
        }
        self
    }
    /// For [`Partition::halves`]: nodes placed in the minority half
    /// (`[Role::Leader]`: the leader ends up on the small side).
    pub fn with_minority<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Target>,
    {
        match &mut self.shape {
            Shape::Halves { minority } => minority.extend(nodes.into_iter().map(Into::into)),
            other => self.misuse = Some(misuse("with_minority", "Partition::halves()", other)),
        }
        self
    }
    /// For [`Partition::majorities_ring`]: the ring's first positions, in
    /// order; the other nodes follow by name.
    pub fn with_ring_order<I>(mut self, nodes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Target>,
    {
        match &mut self.shape {
            Shape::MajoritiesRing { order } => order.extend(nodes.into_iter().map(Into::into)),
            other => {
                self.misuse = Some(misuse(
                    "with_ring_order",
                    "Partition::majorities_ring()",
                    other,
                ))
            }
        }
        self
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

    /// Each target in words and the node it resolved to at inject
    /// (`("the leader", "consul-2")`), as the fault plan records it.
    pub fn aimed(&self) -> &[(String, String)] {
        &self.aimed
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

fn misuse(knob: &str, fits: &str, shape: &Shape) -> String {
    format!(
        "`{knob}` aims {fits}, not a {} partition: build it from {fits}",
        shape.name()
    )
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
                let aimed: Vec<String> = self
                    .aimed
                    .iter()
                    .map(|(t, n)| {
                        if t == n {
                            n.clone()
                        } else {
                            format!("{t} = {n}")
                        }
                    })
                    .collect();
                if aimed.is_empty() {
                    format!("{} ({})", self.shape.name(), parts.join("; "))
                } else {
                    format!(
                        "{} aimed at {} ({})",
                        self.shape.name(),
                        aimed.join(", "),
                        parts.join("; ")
                    )
                }
            }
            None => self.shape.name().to_string(),
        }
    }

    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        if let Some(m) = &self.misuse {
            bail!("{m}");
        }
        let nodes = self.nodes(lab);
        let targets = self.shape.targets();
        let resolved: Vec<String> = resolve_distinct(lab, &targets)
            .await?
            .into_iter()
            .map(|n| n.name)
            .collect();
        self.aimed = targets
            .iter()
            .map(|t| t.to_string())
            .zip(resolved.iter().cloned())
            .collect();
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
    use crate::fault::pick_distinct;
    use crate::lab::Role;

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
        let halves = grudge_of(&Shape::Halves { minority: vec![] }, &n, &[]).unwrap();
        assert_eq!(
            matrix(&halves, &n),
            ["11...", "11...", "..111", "..111", "..111"]
        );
        let bridge = grudge_of(&Shape::Bridge { bridge: None }, &n, &[]).unwrap();
        assert_eq!(
            matrix(&bridge, &n),
            ["111..", "111..", "11111", "..111", "..111"]
        );
        let ring = grudge_of(&Shape::MajoritiesRing { order: vec![] }, &n, &[]).unwrap();
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
        let ring = grudge_of(&Shape::MajoritiesRing { order: vec![] }, &n, &[]).unwrap();
        let seen: BTreeSet<Vec<String>> = n
            .iter()
            .map(|a| n.iter().filter(|b| !ring.drops(a, b)).cloned().collect())
            .collect();
        assert_eq!(seen.len(), 5);
        assert!(seen.iter().all(|s| s.len() == 3));
    }

    fn node(n: &str) -> Target {
        Target::Node(n.into())
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_shape_can_be_aimed_at_chosen_nodes() {
        let n = five();
        // The bridge is n1, not the middle node; n2+n3 | n4+n5.
        let bridge = Shape::Bridge {
            bridge: Some(node("n1")),
        };
        let g = grudge_of(&bridge, &n, &names(&["n1"])).unwrap();
        assert_eq!(
            matrix(&g, &n),
            ["11111", "111..", "111..", "1..11", "1..11"]
        );
        // n5 and n1 are the minority.
        let halves = Shape::Halves {
            minority: vec![node("n5"), node("n1")],
        };
        let g = grudge_of(&halves, &n, &names(&["n5", "n1"])).unwrap();
        assert_eq!(
            matrix(&g, &n),
            ["1...1", ".111.", ".111.", ".111.", "1...1"]
        );
        // The ring runs n3, n1, n2, n4, n5: still a distinct majority each.
        let ring = Shape::MajoritiesRing {
            order: vec![node("n3")],
        };
        let g = grudge_of(&ring, &n, &names(&["n3"])).unwrap();
        let seen: BTreeSet<Vec<String>> = n
            .iter()
            .map(|a| n.iter().filter(|b| !g.drops(a, b)).cloned().collect())
            .collect();
        assert_eq!(seen.len(), 5);
        assert_ne!(
            matrix(&g, &n),
            matrix(
                &grudge_of(&Shape::MajoritiesRing { order: vec![] }, &n, &[]).unwrap(),
                &n
            )
        );
        // Cut n1 from n2 only: everyone else sees both.
        let cut = Shape::Cut {
            a: vec![node("n1")],
            b: vec![node("n2")],
        };
        let g = grudge_of(&cut, &n, &names(&["n1", "n2"])).unwrap();
        assert_eq!(
            matrix(&g, &n),
            ["1.111", ".1111", "11111", "11111", "11111"]
        );
    }

    #[test]
    fn cutting_the_leader_from_one_follower_is_a_bridge_through_the_other() {
        // The user's hand-built grudge from the Raft postmortem, three nodes.
        let n = names(&["consul-1", "consul-2", "consul-3"]);
        let cut = Shape::Cut {
            a: vec![Target::Role(Role::Leader)],
            b: vec![Target::Role(Role::Follower)],
        };
        let g = grudge_of(&cut, &n, &names(&["consul-3", "consul-1"])).unwrap();
        let bridge = Shape::Bridge {
            bridge: Some(Target::Role(Role::Follower)),
        };
        let b = grudge_of(&bridge, &n, &names(&["consul-2"])).unwrap();
        assert_eq!(matrix(&g, &n), matrix(&b, &n));
        assert_eq!(matrix(&g, &n), ["11.", "111", ".11"]);
    }

    #[test]
    fn a_role_named_twice_takes_its_next_holder() {
        let follower = Target::Role(Role::Follower);
        let targets = [
            Target::Role(Role::Leader),
            follower.clone(),
            follower.clone(),
        ];
        let holders = [names(&["c2"]), names(&["c1", "c3"]), names(&["c1", "c3"])];
        assert_eq!(pick_distinct(&targets, &holders).unwrap(), [0, 0, 1]);
        // A third follower of a three-node cluster does not exist.
        let too_many = [follower.clone(), follower.clone(), follower];
        let err = pick_distinct(
            &too_many,
            &[
                names(&["c1", "c3"]),
                names(&["c1", "c3"]),
                names(&["c1", "c3"]),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`the follower` is named 3 times"), "{err}");
    }

    #[test]
    fn aiming_errors_name_the_fix() {
        let n = five();
        let halves = Shape::Halves {
            minority: vec![node("n1"), node("n2"), node("n3")],
        };
        let err = grudge_of(&halves, &n, &names(&["n1", "n2", "n3"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("place at most 2"), "{err}");
        let err = grudge_of(&Shape::Isolate(node("zz")), &n, &names(&["zz"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not among the partitioned nodes"), "{err}");
        let p = Partition::halves().with_bridge(node("n1"));
        assert!(p
            .misuse
            .unwrap()
            .contains("build it from Partition::bridge()"));
    }

    #[test]
    fn unknown_nodes_are_refused() {
        let g = Grudge::new().drop("n1", "zz");
        assert!(grudge_of(&Shape::Grudge(g), &five(), &[]).is_err());
    }
}
