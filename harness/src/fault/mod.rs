//! Faults (Jepsen's nemesis): values with an `inject` and a `heal`.
//!
//! `inject` returns once the effect is verified in force; both ends land on
//! the timeline and in the report's fault plan (which replay re-runs);
//! a [`FaultGuard`] heals on drop, so a panicking test still heals, and the
//! lab's label-based teardown removes whatever a fault created.
//!
//! One fault kind per module: [`memory`], [`pids`], [`partition`] (with
//! its [`sidecar`]), [`disconnect`], [`process`] (kill, pause, restart),
//! [`toxic`]; [`cgroup`] reads a node's limits as the kernel holds them.
//!
//! Where a fault goes: a generic fault (it works on any node, through
//! Docker, cgroups, iptables or Toxiproxy) lives here, one kind per module.
//! A fault that knows one system (speaks its protocol, needs its handle:
//! Consul's configuration roll-out, MongoDB's connection flood) lives with
//! that system's fixture in `fixtures`, and a fault on a system a scenario
//! defines itself lives with the scenario. All implement [`Fault`], so all
//! are recorded, healed on drop and replayed alike.

pub mod cgroup;
pub mod disconnect;
pub mod memory;
pub mod partition;
pub mod pids;
pub mod process;
pub mod sidecar;
pub mod toxic;

use crate::lab::{LabCtx, Node};
pub use crate::lab::{Role, RoleResolver};
pub use crate::record::FaultRecord;
use crate::timeline::EventKind;
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

/// Who a fault is aimed at: a node, or a role resolved when it is injected.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A node by its lab-local name.
    Node(String),
    /// Whoever holds the role at inject time.
    Role(Role),
}

impl From<&Node> for Target {
    fn from(n: &Node) -> Self {
        Target::Node(n.name.clone())
    }
}

impl From<Node> for Target {
    fn from(n: Node) -> Self {
        Target::Node(n.name)
    }
}

impl From<Role> for Target {
    fn from(r: Role) -> Self {
        Target::Role(r)
    }
}

impl From<&str> for Target {
    fn from(name: &str) -> Self {
        Target::Node(name.to_string())
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Node(n) => f.write_str(n),
            Target::Role(r) => write!(f, "the {r}"),
        }
    }
}

impl Target {
    /// The node this target names now.
    pub async fn resolve(&self, lab: &LabCtx) -> Result<Node> {
        match self {
            Target::Node(name) => lab.node(name).ok_or_else(|| {
                anyhow!(
                    "no node named `{name}` in this lab (nodes: {})",
                    node_names(lab)
                )
            }),
            Target::Role(role) => {
                for r in lab.role_resolvers() {
                    if let Some(node) = r.resolve(lab, role).await? {
                        return Ok(node);
                    }
                }
                Err(anyhow!(
                    "no fixture in this lab resolves the role `{role}`: start a fixture that has one (ConsulCluster: leader; MongoReplicaSet: primary)"
                ))
            }
        }
    }
}

impl Target {
    /// Every node holding this target now, in the fixture's order of
    /// preference: a node is its own holder; `Role::Follower` of a
    /// three-server Consul cluster has two.
    pub async fn holders(&self, lab: &LabCtx) -> Result<Vec<Node>> {
        match self {
            Target::Node(_) => Ok(vec![self.resolve(lab).await?]),
            Target::Role(role) => {
                for r in lab.role_resolvers() {
                    if let Some(nodes) = r.holders(lab, role).await? {
                        if !nodes.is_empty() {
                            return Ok(nodes);
                        }
                    }
                }
                // Same error as a single resolution.
                Ok(vec![self.resolve(lab).await?])
            }
        }
    }
}

/// Resolves the targets of one fault to *distinct* nodes, in order: a role
/// named twice ("a follower", then "the other follower") takes its next
/// holder, so `[Role::Follower, Role::Follower]` is both followers.
pub async fn resolve_distinct(lab: &LabCtx, targets: &[Target]) -> Result<Vec<Node>> {
    let mut holders = Vec::with_capacity(targets.len());
    for t in targets {
        holders.push(t.holders(lab).await?);
    }
    let names: Vec<Vec<String>> = holders
        .iter()
        .map(|h| h.iter().map(|n| n.name.clone()).collect())
        .collect();
    let picks = pick_distinct(targets, &names)?;
    Ok(picks
        .into_iter()
        .zip(holders)
        .map(|(i, h)| h[i].clone())
        .collect())
}

/// The pure core of [`resolve_distinct`]: for each target, the index of the
/// first of its holders no earlier target took.
pub fn pick_distinct(targets: &[Target], holders: &[Vec<String>]) -> Result<Vec<usize>> {
    let mut taken: Vec<&str> = Vec::new();
    let mut picks = Vec::with_capacity(targets.len());
    for (t, h) in targets.iter().zip(holders) {
        let Some(i) = h.iter().position(|n| !taken.contains(&n.as_str())) else {
            bail!(
                "`{t}` is named {} times in one fault, but only {} node(s) hold it now ({}): name fewer, or aim at nodes by name",
                targets.iter().filter(|x| x.to_string() == t.to_string()).count(),
                h.len(),
                h.join(", ")
            );
        };
        taken.push(&h[i]);
        picks.push(i);
    }
    Ok(picks)
}

fn node_names(lab: &LabCtx) -> String {
    lab.nodes()
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Something done to the lab and undone.
#[async_trait::async_trait]
pub trait Fault: Send + Sync {
    /// The kind, as on the timeline: `memory`, `pids`, `partition`, `kill`,
    /// `pause`, `restart`, `toxic`, `disconnect`, ...
    fn kind(&self) -> &'static str;
    /// What is done to whom, in words (after targets are resolved).
    fn describe(&self) -> String;
    /// Applies the fault and returns once its effect is verified in force.
    async fn inject(&mut self, lab: &LabCtx) -> Result<()>;
    /// Undoes exactly what `inject` did and verifies it is undone.
    async fn heal(&mut self, lab: &LabCtx) -> Result<()>;
}

/// A fault in force. Heal it with [`FaultGuard::heal`]; if dropped unhealed
/// (a panic, an early `?`), it heals in the background.
pub struct FaultGuard {
    lab: LabCtx,
    fault: Option<Box<dyn Fault>>,
    index: usize,
}

impl FaultGuard {
    /// Heals the fault now and records it on the timeline.
    pub async fn heal(mut self) -> Result<()> {
        let Some(fault) = self.fault.take() else {
            return Ok(());
        };
        heal_and_record(&self.lab, fault, self.index).await
    }

    /// The fault's description.
    pub fn describe(&self) -> String {
        self.fault
            .as_ref()
            .map(|f| f.describe())
            .unwrap_or_default()
    }
}

async fn heal_and_record(lab: &LabCtx, mut fault: Box<dyn Fault>, index: usize) -> Result<()> {
    let result = fault.heal(lab).await;
    let at = lab.now();
    let description = fault.describe();
    match &result {
        Ok(()) => {
            lab.timeline().record(
                None,
                EventKind::FaultHealed {
                    fault: fault.kind().to_string(),
                    description: description.clone(),
                },
            );
            lab.update_fault(index, |r| r.healed_at = Some(at));
        }
        Err(e) => {
            let msg = format!("heal failed: {e:#}");
            lab.update_fault(index, |r| r.error = Some(msg));
        }
    }
    result
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        let Some(fault) = self.fault.take() else {
            return;
        };
        let lab = self.lab.clone();
        let index = self.index;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            tracing::warn!(fault = %fault.describe(), "fault guard dropped unhealed: healing in the background");
            handle.spawn(async move {
                if let Err(e) = heal_and_record(&lab, fault, index).await {
                    tracing::error!("background heal failed: {e:#}");
                }
            });
        }
        // Without a runtime the lab teardown (by label) removes the fault's
        // objects along with the containers.
    }
}

/// Injects `fault`, records it, and returns the guard that heals it.
pub async fn inject(lab: &LabCtx, fault: impl Fault + 'static) -> Result<FaultGuard> {
    inject_boxed(lab, Box::new(fault)).await
}

/// [`inject`] for a boxed fault (plans built at run time, replay).
pub async fn inject_boxed(lab: &LabCtx, mut fault: Box<dyn Fault>) -> Result<FaultGuard> {
    let invoked_at = lab.now();
    let index = lab.fault_count();
    lab.record_fault(FaultRecord {
        kind: fault.kind().to_string(),
        description: fault.describe(),
        invoked_at,
        injected_at: None,
        healed_at: None,
        phase: lab.timeline().current_phase(),
        error: None,
    });
    if let Err(e) = fault.inject(lab).await {
        let msg = format!("inject failed: {e:#}");
        lab.update_fault(index, |r| r.error = Some(msg));
        // Undo whatever part was applied before failing.
        let _ = fault.heal(lab).await;
        return Err(e.context(format!("injecting {} ({})", fault.kind(), fault.describe())));
    }
    let at = lab.now();
    let description = fault.describe();
    lab.update_fault(index, |r| {
        r.injected_at = Some(at);
        r.description = description.clone();
    });
    lab.timeline().record(
        None,
        EventKind::FaultInjected {
            fault: fault.kind().to_string(),
            description,
        },
    );
    Ok(FaultGuard {
        lab: lab.clone(),
        fault: Some(fault),
        index,
    })
}

impl LabCtx {
    /// Injects a fault; see [`inject`].
    pub async fn inject(&self, fault: impl Fault + 'static) -> Result<FaultGuard> {
        inject(self, fault).await
    }
}

/// Resolves a target into a node, then remembers the name so `heal` acts
/// on the same node even if the role moved meanwhile.
#[derive(Clone, Debug)]
pub struct Resolved {
    target: Target,
    node: Option<Node>,
}

impl Resolved {
    /// An unresolved target.
    pub fn new(target: impl Into<Target>) -> Self {
        Resolved {
            target: target.into(),
            node: None,
        }
    }

    /// Resolves (once) and returns the node.
    pub async fn get(&mut self, lab: &LabCtx) -> Result<Node> {
        if let Some(n) = &self.node {
            return Ok(lab.node(&n.name).unwrap_or_else(|| n.clone()));
        }
        let n = self.target.resolve(lab).await?;
        self.node = Some(n.clone());
        Ok(n)
    }

    /// The node, if resolved.
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
    }

    /// The resolved node's name, or the target in words.
    pub fn name(&self) -> String {
        match &self.node {
            Some(n) => n.name.clone(),
            None => self.target.to_string(),
        }
    }
}
