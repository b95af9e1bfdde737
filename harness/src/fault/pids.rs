//! `ProcessLimit`: a live limit on a node's tasks (the pids cgroup, not
//! `--ulimit nproc`, which counts per uid across all containers), and
//! optionally a restart under it. Verified in the kernel's `pids.max`; heal
//! restores the limit read at inject.

use super::{cgroup, Fault, Resolved, Target};
use crate::docker::DockerError;
use crate::lab::{LabCtx, WaitFor};
use anyhow::{bail, Result};
use bollard::models::ContainerUpdateBody;
use std::time::Duration;

/// A node's pids limit lowered live.
pub struct ProcessLimit {
    target: Resolved,
    pids: i64,
    restart: Option<(WaitFor, Duration)>,
    original: Option<i64>,
}

impl ProcessLimit {
    /// At most `pids` tasks (processes and threads) in the target.
    pub fn new(target: impl Into<Target>, pids: i64) -> Self {
        ProcessLimit {
            target: Resolved::new(target),
            pids,
            restart: None,
            original: None,
        }
    }

    /// Also restarts the node under the limit, waiting for `wait` (a node
    /// that needs more tasks to start fails here, as on the day).
    pub fn restart_under_limit(mut self, wait: WaitFor, timeout: Duration) -> Self {
        self.restart = Some((wait, timeout));
        self
    }
}

fn expected(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
    }
}

async fn set(lab: &LabCtx, target: &mut Resolved, limit: i64) -> Result<()> {
    let node = target.get(lab).await?;
    lab.docker()
        .update_container(
            &node.id,
            ContainerUpdateBody {
                // -1: unlimited (0 would mean "unchanged" to Docker).
                pids_limit: Some(if limit > 0 { limit } else { -1 }),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| DockerError::api(format!("update_container {} pids", node.name), e))?;
    if cgroup::pid_of(lab, &node).await.is_err() {
        // Not running (a restart under the limit failed): Docker holds the
        // limit and applies it at the next start.
        return Ok(());
    }
    let got = cgroup::read(lab, &node, "pids", "pids.max").await?;
    if got != expected(limit) {
        bail!("`{}` pids.max is {got}, not {}", node.name, expected(limit));
    }
    Ok(())
}

#[async_trait::async_trait]
impl Fault for ProcessLimit {
    fn kind(&self) -> &'static str {
        "pids"
    }
    fn describe(&self) -> String {
        let mut d = format!("pids limit {} on {}", self.pids, self.target.name());
        if self.restart.is_some() {
            d.push_str(", restarted under it");
        }
        d
    }
    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        if self.pids < 1 {
            bail!("a pids limit must be at least 1 (got {})", self.pids);
        }
        let node = self.target.get(lab).await?;
        let host = lab.inspect(&node).await?.host_config.unwrap_or_default();
        self.original = Some(host.pids_limit.unwrap_or(0));
        set(lab, &mut self.target, self.pids).await?;
        if let Some((wait, timeout)) = &self.restart {
            lab.restart_node(&node, Duration::from_secs(10), wait, *timeout)
                .await?;
            set(lab, &mut self.target, self.pids).await?;
        }
        Ok(())
    }
    async fn heal(&mut self, lab: &LabCtx) -> Result<()> {
        let Some(original) = self.original else {
            return Ok(());
        };
        set(lab, &mut self.target, original).await?;
        self.original = None;
        Ok(())
    }
}
