//! A node's cgroup (v1) as the kernel holds it, read from the Docker host's
//! `/sys/fs/cgroup`: the proof that a live limit change is in force, and
//! where a neighbour hog is moved to share a node's memory cgroup.
//!
//! The test process runs on the Docker host (the lab reads `/proc/<pid>`
//! for readiness too); a remote `DOCKER_HOST` gets a clear error.

use crate::lab::{LabCtx, Node};
use anyhow::{anyhow, bail, Context, Result};
use std::path::PathBuf;

/// The kernel's "no limit" for `memory.limit_in_bytes` on cgroup v1 (and
/// the value Docker's API accepts to restore it: it refuses 0 and -1).
pub const MEMORY_UNLIMITED: i64 = 9_223_372_036_854_771_712;

/// The main process id of a running node.
pub async fn pid_of(lab: &LabCtx, node: &Node) -> Result<u32> {
    let info = lab.inspect(node).await?;
    match info.state.and_then(|s| s.pid) {
        Some(p) if p > 0 => Ok(p as u32),
        _ => bail!("`{}` is not running: its cgroup cannot be read", node.name),
    }
}

/// The directory of `controller` (`memory`, `pids`) of a process's cgroup.
pub fn dir_of_pid(pid: u32, controller: &str) -> Result<PathBuf> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).with_context(|| {
        format!(
            "reading /proc/{pid}/cgroup: faults on cgroups need the test to run on the Docker host"
        )
    })?;
    for line in table.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
        if let (Some(ctrls), Some(path)) = (ctrls, path) {
            if ctrls.split(',').any(|c| c == controller) {
                let dir = PathBuf::from("/sys/fs/cgroup")
                    .join(controller)
                    .join(path.trim_start_matches('/'));
                if dir.exists() {
                    return Ok(dir);
                }
                bail!("cgroup directory {} is not visible here: faults on cgroups need the test to run on the Docker host with cgroup v1", dir.display());
            }
        }
    }
    Err(anyhow!(
        "process {pid} has no `{controller}` cgroup (cgroup v2 host?): this fault needs cgroup v1"
    ))
}

/// The directory of `controller` of a node's cgroup.
pub async fn dir_of(lab: &LabCtx, node: &Node, controller: &str) -> Result<PathBuf> {
    dir_of_pid(pid_of(lab, node).await?, controller)
}

/// Reads one cgroup file of a node, trimmed.
pub async fn read(lab: &LabCtx, node: &Node, controller: &str, file: &str) -> Result<String> {
    let path = dir_of(lab, node, controller).await?.join(file);
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}

/// The pids in a cgroup directory.
pub fn procs(dir: &std::path::Path) -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(dir.join("cgroup.procs"))
        .with_context(|| format!("reading {}/cgroup.procs", dir.display()))?;
    Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
}

/// Moves a process into a cgroup directory (one controller).
pub fn move_pid(pid: u32, dir: &std::path::Path) -> Result<()> {
    std::fs::write(dir.join("cgroup.procs"), pid.to_string()).with_context(|| {
        format!(
            "moving pid {pid} into {} (needs root on the Docker host)",
            dir.display()
        )
    })
}
