//! The long-lived network sidecar of a node: a container from the toolbox
//! image (the base image if the toolbox is not built) that shares the
//! node's network namespace and alone holds NET_ADMIN, so iptables rules
//! can be added to a node whose own image has no tools (Consul is FROM
//! scratch) and without giving the node any capability.
//!
//! Started on first use, reused by every later fault on that node, and
//! replaced if the node was restarted into a new network namespace. It
//! carries the role `sidecar`; the lab's teardown removes it first.

use crate::images::{self, ImageId};
use crate::lab::{exec_in, ContainerSpec, ExecOutput, LabCtx, Node};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

struct Entry {
    sidecar: Node,
    /// The network namespace (inode) it joined.
    netns: String,
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

fn registry() -> &'static Mutex<HashMap<String, Slot>> {
    static REG: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

fn netns_of(pid: u32) -> Result<String> {
    Ok(std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .with_context(|| {
            format!("reading /proc/{pid}/ns/net (the test must run on the Docker host)")
        })?
        .display()
        .to_string())
}

/// The lab-local name of a node's sidecar.
pub fn sidecar_name(node: &Node) -> String {
    format!("{}-netadm", node.name)
}

/// The node's sidecar, started if there is none (or if the node moved to a
/// new network namespace since).
pub async fn sidecar_for(lab: &LabCtx, node: &Node) -> Result<Node> {
    let key = lab.container_name(&sidecar_name(node));
    let slot = registry()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default()
        .clone();
    let mut entry = slot.lock().await;
    let node_pid = super::cgroup::pid_of(lab, node).await?;
    let node_ns = netns_of(node_pid)?;
    if let Some(e) = entry.as_ref() {
        let alive = matches!(
            lab.inspect(&e.sidecar)
                .await
                .ok()
                .and_then(|i| i.state)
                .and_then(|s| s.running),
            Some(true)
        );
        if alive && e.netns == node_ns {
            return Ok(e.sidecar.clone());
        }
        let _ = lab.remove_container(&e.sidecar.id).await;
        *entry = None;
    }
    let image = sidecar_image(lab).await?;
    let spec = ContainerSpec::new(sidecar_name(node), image)
        .with_network_of(&node.id)
        .with_cap_add("NET_ADMIN")
        .with_role("sidecar")
        .with_entrypoint(["sleep", "infinity"]);
    let sidecar = lab
        .container(spec)
        .await
        .with_context(|| format!("starting the network sidecar of `{}`", node.name))?;
    let side_pid = super::cgroup::pid_of(lab, &sidecar).await?;
    // With --init the main pid is the init; its namespace is the same.
    let side_ns = netns_of(side_pid)?;
    if side_ns != node_ns {
        bail!(
            "the sidecar of `{}` is not in its network namespace ({side_ns} vs {node_ns})",
            node.name
        );
    }
    *entry = Some(Entry {
        sidecar: sidecar.clone(),
        netns: node_ns,
    });
    Ok(sidecar)
}

/// Whether the node is still in the network namespace its sidecar joined
/// (false after the node was restarted: rules made there no longer apply).
pub async fn same_netns(lab: &LabCtx, node: &Node, sidecar: &Node) -> bool {
    let (Ok(a), Ok(b)) = (
        super::cgroup::pid_of(lab, node).await,
        super::cgroup::pid_of(lab, sidecar).await,
    ) else {
        return false;
    };
    matches!((netns_of(a), netns_of(b)), (Ok(x), Ok(y)) if x == y)
}

/// The toolbox image, else the base image (both have iptables).
async fn sidecar_image(lab: &LabCtx) -> Result<String> {
    let toolbox = images::resolve(lab.docker(), ImageId::Toolbox).await;
    if toolbox.present {
        return Ok(toolbox.reference);
    }
    images::require(lab.docker(), ImageId::Base).await
}

/// Runs a bash script in the node's sidecar (in the node's network namespace).
pub async fn run(lab: &LabCtx, node: &Node, script: &str) -> Result<ExecOutput> {
    let sidecar = sidecar_for(lab, node).await?;
    exec_in(lab.docker(), &sidecar.id, &["bash", "-c", script]).await
}
