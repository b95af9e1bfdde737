//! `MemoryExhaustion`: a node's memory limit shrunk live, and/or a memory
//! hog charged to the node's own memory cgroup (the LeanCloud case: a
//! leaking neighbour process takes the node's memory).
//!
//! Where the hog runs ([`Placement`]):
//! - `Neighbour` (default): a hog container from the base image whose
//!   processes are moved into the node's memory cgroup (by writing their
//!   pids to its `cgroup.procs` on the Docker host, as Pumba's
//!   `--inject-cgroup` does) before they allocate, so the memory is charged
//!   to the node. Works for images without a shell (Consul is FROM
//!   scratch). Needs the test to run as root on the Docker host with
//!   cgroup v1. (`--cgroup-parent` cannot do it: it makes a child cgroup,
//!   whose charges count against the node's limit only through hierarchy,
//!   and Docker's API cannot put a container into another's cgroup.)
//! - `Exec`: `docker exec` of the hog inside the node (needs bash in the
//!   node's image).
//!
//! When the cgroup is out of memory the kernel's OOM killer picks the
//! largest process (usually the hog); Docker reports `oom` for the node
//! and the hog container's death (exit 137) on the timeline.
//!
//! Heal ends the hog and restores the limit read at inject. Docker's API
//! refuses 0 and -1 for memory, so an originally unlimited node gets
//! [`MEMORY_UNLIMITED`], which is the
//! kernel's own "no limit" (Docker's inspect then shows that number, not 0).

use super::cgroup::{self, MEMORY_UNLIMITED};
use super::{Fault, Resolved, Target};
use crate::docker::DockerError;
use crate::images::{self, ImageId};
use crate::lab::{exec_in, ContainerSpec, LabCtx, Node};
use anyhow::{bail, Context, Result};
use bollard::models::ContainerUpdateBody;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// What the hog does with memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hog {
    /// Allocates `bytes` at once and holds them.
    Hold {
        /// Bytes.
        bytes: u64,
    },
    /// Leaks `bytes_per_sec` until killed (the OOM killer ends it once the
    /// cgroup is full).
    Leak {
        /// Bytes per second.
        bytes_per_sec: u64,
    },
}

impl Hog {
    /// Holds `bytes`.
    pub fn hold(bytes: u64) -> Self {
        Hog::Hold { bytes }
    }
    /// Leaks `bytes_per_sec`.
    pub fn leak(bytes_per_sec: u64) -> Self {
        Hog::Leak { bytes_per_sec }
    }
    /// The bash that allocates: `tail` keeps a newline-free stream in
    /// memory until EOF, which never comes.
    fn script(self) -> String {
        match self {
            Hog::Hold { bytes } => {
                format!("exec tail <(head -c {bytes} /dev/zero; exec sleep infinity)")
            }
            Hog::Leak { bytes_per_sec } => format!(
                "exec tail <(while :; do head -c {} /dev/zero; sleep 0.1; done)",
                (bytes_per_sec / 10).max(1)
            ),
        }
    }
    /// The growth that proves the hog is charged to the node.
    fn proof_bytes(self) -> u64 {
        match self {
            Hog::Hold { bytes } => bytes / 2,
            Hog::Leak { bytes_per_sec } => (bytes_per_sec / 10).max(1),
        }
    }
}

impl std::fmt::Display for Hog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hog::Hold { bytes } => write!(f, "a hog holding {} MiB", bytes >> 20),
            Hog::Leak { bytes_per_sec } => {
                write!(f, "a hog leaking {} MiB/s", bytes_per_sec >> 20)
            }
        }
    }
}

/// Where the hog runs; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// A hog container moved into the node's memory cgroup.
    #[default]
    Neighbour,
    /// `docker exec` inside the node (needs bash there).
    Exec,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Memory taken from a node: a lower limit, a hog, or both.
pub struct MemoryExhaustion {
    target: Resolved,
    limit: Option<i64>,
    hog: Option<Hog>,
    placement: Placement,
    original: Option<(i64, i64)>,
    hog_container: Option<Node>,
    hog_pid: Option<u32>,
    exec_marker: Option<String>,
}

fn page_align(bytes: i64) -> i64 {
    (bytes + 4095) / 4096 * 4096
}

impl MemoryExhaustion {
    fn base(target: impl Into<Target>) -> Self {
        MemoryExhaustion {
            target: Resolved::new(target),
            limit: None,
            hog: None,
            placement: Placement::default(),
            original: None,
            hog_container: None,
            hog_pid: None,
            exec_marker: None,
        }
    }
    /// Shrinks the target's memory limit to `bytes` (no swap), live.
    pub fn limit(target: impl Into<Target>, bytes: i64) -> Self {
        Self::base(target).with_limit(bytes)
    }
    /// Runs `hog` in the target's memory cgroup.
    pub fn hog(target: impl Into<Target>, hog: Hog) -> Self {
        Self::base(target).with_hog(hog)
    }
    /// Also shrinks the limit.
    pub fn with_limit(mut self, bytes: i64) -> Self {
        self.limit = Some(page_align(bytes));
        self
    }
    /// Also runs a hog.
    pub fn with_hog(mut self, hog: Hog) -> Self {
        self.hog = Some(hog);
        self
    }
    /// Where the hog runs.
    pub fn placed(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    async fn set_limit(&self, lab: &LabCtx, node: &Node, memory: i64, swap: i64) -> Result<()> {
        lab.docker()
            .update_container(
                &node.id,
                ContainerUpdateBody {
                    memory: Some(memory),
                    memory_swap: Some(swap),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| {
                DockerError::api(format!("update_container {} memory={memory}", node.name), e)
            })
            .with_context(|| {
                "the kernel refuses a limit below what the node already uses and cannot reclaim: choose a higher limit".to_string()
            })?;
        if cgroup::pid_of(lab, node).await.is_err() {
            return Ok(());
        }
        let got = cgroup::read(lab, node, "memory", "memory.limit_in_bytes").await?;
        if got != memory.to_string() {
            bail!(
                "`{}` memory.limit_in_bytes is {got}, not {memory}",
                node.name
            );
        }
        Ok(())
    }

    async fn start_hog(&mut self, lab: &LabCtx, node: &Node, hog: Hog) -> Result<()> {
        let node_dir = cgroup::dir_of(lab, node, "memory").await?;
        let usage = || -> Result<u64> {
            Ok(
                std::fs::read_to_string(node_dir.join("memory.usage_in_bytes"))?
                    .trim()
                    .parse()?,
            )
        };
        let ooms = || -> u64 {
            std::fs::read_to_string(node_dir.join("memory.oom_control"))
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse().ok())
                })
                .unwrap_or(0)
        };
        let baseline = usage()?;
        let ooms_before = ooms();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        match self.placement {
            Placement::Neighbour => {
                let image = images::require(lab.docker(), ImageId::Base).await?;
                let script = format!(
                    "until [ -e /tmp/go ]; do sleep 0.02; done; {}",
                    hog.script()
                );
                let spec = ContainerSpec::new(format!("{}-hog{seq}", node.name), image)
                    .with_role("hog")
                    .with_entrypoint(["bash", "-c", &script]);
                let c = lab.container(spec).await?;
                self.hog_container = Some(c.clone());
                let hog_dir = cgroup::dir_of(lab, &c, "memory").await?;
                for pid in cgroup::procs(&hog_dir)? {
                    // A short-lived `sleep` may be gone already.
                    let _ = cgroup::move_pid(pid, &node_dir);
                }
                let info = lab.inspect(&c).await?;
                let init = info.state.and_then(|s| s.pid).unwrap_or(0) as u32;
                let in_node = cgroup::procs(&node_dir)?;
                let bash = in_node
                    .iter()
                    .copied()
                    .find(|p| parent_of(*p) == Some(init))
                    .with_context(|| {
                        format!(
                            "the hog's processes did not move into `{}`'s memory cgroup",
                            node.name
                        )
                    })?;
                self.hog_pid = Some(bash);
                let go = exec_in(lab.docker(), &c.id, &["touch", "/tmp/go"]).await?;
                if !go.success() {
                    bail!("could not start the hog: {}", go.stderr);
                }
            }
            Placement::Exec => {
                let marker = format!("/tmp/.incident-hog-{seq}");
                let script = format!("echo $$ > {marker}; {}", hog.script());
                let created = lab
                    .docker()
                    .create_exec(
                        &node.id,
                        bollard::exec::CreateExecOptions {
                            cmd: Some(vec!["bash", "-c", &script]),
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| DockerError::api(format!("create_exec hog in {}", node.name), e))
                    .context(
                        "Placement::Exec needs bash in the node's image; use Placement::Neighbour",
                    )?;
                lab.docker()
                    .start_exec(
                        &created.id,
                        Some(bollard::exec::StartExecOptions {
                            detach: true,
                            ..Default::default()
                        }),
                    )
                    .await
                    .map_err(|e| DockerError::api(format!("start_exec hog in {}", node.name), e))?;
                self.exec_marker = Some(marker);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                loop {
                    let info = lab.docker().inspect_exec(&created.id).await.ok();
                    if let Some(pid) = info.and_then(|i| i.pid).filter(|p| *p > 0) {
                        self.hog_pid = Some(pid as u32);
                        break;
                    }
                    if tokio::time::Instant::now() >= deadline {
                        bail!("the hog exec in `{}` did not start", node.name);
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        // In force: the node's cgroup grew by the hog, or the hog already
        // hit the limit and the OOM killer acted.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let now = usage()?;
            if now >= baseline + hog.proof_bytes() || ooms() > ooms_before {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "the hog's memory is not charged to `{}` after 60 s (usage {} -> {now} bytes)",
                    node.name,
                    baseline
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn end_hog(&mut self, lab: &LabCtx, node: &Node) -> Result<()> {
        if let Some(c) = self.hog_container.take() {
            lab.remove_container(&c.id)
                .await
                .with_context(|| format!("removing the memory hog `{}`", c.name))?;
        }
        if let Some(marker) = self.exec_marker.take() {
            if cgroup::pid_of(lab, node).await.is_ok() {
                let _ = exec_in(
                    lab.docker(),
                    &node.id,
                    &[
                        "bash",
                        "-c",
                        &format!("kill -9 $(cat {marker}) 2>/dev/null; rm -f {marker}"),
                    ],
                )
                .await;
            }
        }
        if let Some(pid) = self.hog_pid.take() {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while std::path::Path::new(&format!("/proc/{pid}")).exists() && is_hog(pid) {
                if tokio::time::Instant::now() >= deadline {
                    bail!("the hog (pid {pid}) in `{}` is still alive", node.name);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn is_hog(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| matches!(c.trim(), "tail" | "bash"))
        .unwrap_or(false)
}

#[async_trait::async_trait]
impl Fault for MemoryExhaustion {
    fn kind(&self) -> &'static str {
        "memory"
    }
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(l) = self.limit {
            parts.push(format!("memory limit {} MiB", l >> 20));
        }
        if let Some(h) = self.hog {
            parts.push(h.to_string());
        }
        format!("{} on {}", parts.join(" and "), self.target.name())
    }
    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        if self.limit.is_none() && self.hog.is_none() {
            bail!("MemoryExhaustion needs a limit (MemoryExhaustion::limit) or a hog (MemoryExhaustion::hog)");
        }
        let node = self.target.get(lab).await?;
        if let Some(limit) = self.limit {
            if limit < 6 << 20 {
                bail!("Docker refuses memory limits under 6 MiB (asked {limit} bytes)");
            }
            let host = lab.inspect(&node).await?.host_config.unwrap_or_default();
            self.original = Some((host.memory.unwrap_or(0), host.memory_swap.unwrap_or(0)));
            self.set_limit(lab, &node, limit, limit).await?;
        }
        if let Some(hog) = self.hog {
            self.start_hog(lab, &node, hog).await?;
        }
        Ok(())
    }
    async fn heal(&mut self, lab: &LabCtx) -> Result<()> {
        let Some(node) = self.target.node().cloned() else {
            return Ok(());
        };
        let node = lab.node(&node.name).unwrap_or(node);
        self.end_hog(lab, &node).await?;
        if let Some((memory, swap)) = self.original.take() {
            if memory > 0 {
                self.set_limit(lab, &node, memory, swap).await?;
            } else {
                self.set_limit(lab, &node, MEMORY_UNLIMITED, MEMORY_UNLIMITED)
                    .await?;
            }
        }
        Ok(())
    }
}
