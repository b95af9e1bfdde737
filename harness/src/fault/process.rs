//! Process faults: [`Kill`] (any signal), [`Pause`] (SIGSTOP of the whole
//! container through the freezer cgroup), [`Restart`] (optionally into a
//! new command or environment: a configuration roll-out, which is both a
//! fault and a mitigation).
//!
//! Docker cannot change a container's command or environment in place, so
//! a roll-out recreates the container under the same name from its
//! inspected configuration (image, entrypoint, command, environment,
//! labels, limits, capabilities, tmpfs, published ports) with the changes
//! applied. Files written by `ContainerSpec::with_file` are not carried
//! over: pass them again with [`Restart::with_file`].

use super::{Fault, Resolved, Target};
use crate::docker::DockerError;
use crate::lab::{ContainerSpec, LabCtx, Node, WaitFor};
use anyhow::{bail, Context, Result};
use std::time::Duration;

async fn wait_state(
    lab: &LabCtx,
    node: &Node,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&bollard::models::ContainerState) -> bool,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let state = lab.inspect(node).await?.state.unwrap_or_default();
        if pred(&state) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "`{}` is not {what} after {timeout:?} (state {:?})",
                node.name,
                state.status
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends a signal to a node's main process. For SIGKILL, SIGTERM, SIGINT
/// and SIGQUIT inject waits until the container has exited; heal starts it
/// again (and waits for `wait`) unless [`Kill::leave_down`].
pub struct Kill {
    target: Resolved,
    signal: String,
    restart_on_heal: bool,
    wait: WaitFor,
    timeout: Duration,
}

impl Kill {
    /// `signal` (`SIGKILL`, `SIGTERM`, `SIGHUP`, ...) to the target.
    pub fn new(target: impl Into<Target>, signal: &str) -> Self {
        Kill {
            target: Resolved::new(target),
            signal: signal.to_string(),
            restart_on_heal: true,
            wait: WaitFor::Nothing,
            timeout: Duration::from_secs(60),
        }
    }
    /// SIGKILL.
    pub fn sigkill(target: impl Into<Target>) -> Self {
        Self::new(target, "SIGKILL")
    }
    /// Heal does not start the node again.
    pub fn leave_down(mut self) -> Self {
        self.restart_on_heal = false;
        self
    }
    /// After heal restarts it, waits for this (default: running).
    pub fn heal_waits_for(mut self, wait: WaitFor, timeout: Duration) -> Self {
        self.wait = wait;
        self.timeout = timeout;
        self
    }
    fn terminates(&self) -> bool {
        matches!(
            self.signal
                .trim_start_matches("SIG")
                .to_ascii_uppercase()
                .as_str(),
            "KILL" | "TERM" | "INT" | "QUIT" | "9" | "15" | "2" | "3"
        )
    }
}

#[async_trait::async_trait]
impl Fault for Kill {
    fn kind(&self) -> &'static str {
        "kill"
    }
    fn describe(&self) -> String {
        format!("{} to {}", self.signal, self.target.name())
    }
    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        let node = self.target.get(lab).await?;
        lab.kill_node(&node, &self.signal).await?;
        if self.terminates() {
            wait_state(lab, &node, "stopped", Duration::from_secs(30), |s| {
                s.running != Some(true)
            })
            .await?;
        }
        Ok(())
    }
    async fn heal(&mut self, lab: &LabCtx) -> Result<()> {
        let Some(node) = self.target.node().cloned() else {
            return Ok(());
        };
        if !self.restart_on_heal {
            return Ok(());
        }
        let running = lab.inspect(&node).await?.state.and_then(|s| s.running) == Some(true);
        if !running {
            lab.start_node(&node, &self.wait, self.timeout).await?;
        }
        Ok(())
    }
}

/// Freezes every process of a node (`docker pause`); heal unpauses.
pub struct Pause {
    target: Resolved,
}

impl Pause {
    /// Pauses the target.
    pub fn new(target: impl Into<Target>) -> Self {
        Pause {
            target: Resolved::new(target),
        }
    }
}

#[async_trait::async_trait]
impl Fault for Pause {
    fn kind(&self) -> &'static str {
        "pause"
    }
    fn describe(&self) -> String {
        format!("pause {}", self.target.name())
    }
    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        let node = self.target.get(lab).await?;
        lab.docker()
            .pause_container(&node.id)
            .await
            .map_err(|e| DockerError::api(format!("pause_container {}", node.name), e))?;
        wait_state(lab, &node, "paused", Duration::from_secs(10), |s| {
            s.paused == Some(true)
        })
        .await
    }
    async fn heal(&mut self, lab: &LabCtx) -> Result<()> {
        let Some(node) = self.target.node().cloned() else {
            return Ok(());
        };
        let paused = lab.inspect(&node).await?.state.and_then(|s| s.paused) == Some(true);
        if paused {
            lab.docker()
                .unpause_container(&node.id)
                .await
                .map_err(|e| DockerError::api(format!("unpause_container {}", node.name), e))?;
        }
        wait_state(lab, &node, "unpaused", Duration::from_secs(10), |s| {
            s.paused != Some(true)
        })
        .await
    }
}

/// Restarts a node, optionally into a new command or environment.
///
/// A plain restart has nothing to heal. A roll-out (new command or env)
/// is rolled back by heal unless [`Restart::keep`]: the original
/// configuration is restored the same way.
pub struct Restart {
    target: Resolved,
    grace: Duration,
    wait: WaitFor,
    timeout: Duration,
    cmd: Option<Vec<String>>,
    env: Vec<(String, String)>,
    files: Vec<(String, Vec<u8>)>,
    keep: bool,
    original: Option<ContainerSpec>,
}

impl Restart {
    /// Restarts the target (SIGTERM, 10 s grace) and waits until it runs.
    pub fn new(target: impl Into<Target>) -> Self {
        Restart {
            target: Resolved::new(target),
            grace: Duration::from_secs(10),
            wait: WaitFor::Nothing,
            timeout: Duration::from_secs(60),
            cmd: None,
            env: Vec::new(),
            files: Vec::new(),
            keep: false,
            original: None,
        }
    }
    /// How long the node may take to stop before SIGKILL.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
    /// Waits for `wait` after the restart (and after a roll-back).
    pub fn waits_for(mut self, wait: WaitFor, timeout: Duration) -> Self {
        self.wait = wait;
        self.timeout = timeout;
        self
    }
    /// Rolls out a new command.
    pub fn with_cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = Some(cmd.into_iter().map(Into::into).collect());
        self
    }
    /// Rolls out an environment variable.
    pub fn with_env_var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// Writes a file into the recreated container (roll-outs only).
    pub fn with_file(mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.into(), contents.into()));
        self
    }
    /// Heal keeps the new configuration (a mitigation).
    pub fn keep(mut self) -> Self {
        self.keep = true;
        self
    }
    fn rolls_out(&self) -> bool {
        self.cmd.is_some() || !self.env.is_empty() || !self.files.is_empty()
    }
}

/// The spec a running node was created with, read back from Docker.
pub async fn spec_of(lab: &LabCtx, node: &Node) -> Result<ContainerSpec> {
    let info = lab.inspect(node).await?;
    let config = info.config.unwrap_or_default();
    let host = info.host_config.unwrap_or_default();
    let labels = config.labels.unwrap_or_default();
    let role = labels
        .get(crate::labels::ROLE)
        .cloned()
        .unwrap_or_else(|| "node".into());
    let mut spec = ContainerSpec::new(
        &node.name,
        config.image.unwrap_or_else(|| node.image.clone()),
    )
    .with_role(role)
    .with_cmd(config.cmd.unwrap_or_default());
    spec.image = node.image.clone();
    spec.entrypoint = config.entrypoint;
    for kv in config.env.unwrap_or_default() {
        if let Some((k, v)) = kv.split_once('=') {
            spec = spec.with_env_var(k, v);
        }
    }
    for (k, v) in labels {
        // The lab's and testcontainers' own labels are set again at start.
        if !k.starts_with(crate::labels::HARNESS) && !k.starts_with("org.testcontainers.") {
            spec = spec.with_label(k, v);
        }
    }
    spec.memory = host.memory.filter(|m| *m > 0);
    spec.pids_limit = host.pids_limit.filter(|p| *p > 0);
    spec.cpus = host.nano_cpus.filter(|c| *c > 0).map(|c| c as f64 / 1e9);
    spec.cap_add = host.cap_add.unwrap_or_default();
    spec.user = config.user.filter(|u| !u.is_empty());
    spec.nofile = host
        .ulimits
        .unwrap_or_default()
        .iter()
        .find(|u| u.name.as_deref() == Some("nofile"))
        .and_then(|u| u.hard)
        .map(|h| h as u64);
    for mount in host.mounts.unwrap_or_default() {
        if mount.typ != Some(bollard::models::MountType::TMPFS) {
            continue;
        }
        let Some(path) = mount.target else { continue };
        let size = mount
            .tmpfs_options
            .and_then(|o| o.size_bytes)
            .filter(|s| *s > 0)
            .unwrap_or(64 << 20);
        spec = spec.with_tmpfs(path, size as u64);
    }
    for port in node.ports.keys() {
        spec = spec.with_exposed_port(*port);
    }
    Ok(spec)
}

async fn recreate(lab: &LabCtx, node: &Node, spec: ContainerSpec) -> Result<Node> {
    lab.stop_node(node, Duration::from_secs(10)).await.ok();
    lab.remove_container(&node.id)
        .await
        .with_context(|| format!("removing `{}` to create it again", node.name))?;
    lab.container(spec).await
}

#[async_trait::async_trait]
impl Fault for Restart {
    fn kind(&self) -> &'static str {
        "restart"
    }
    fn describe(&self) -> String {
        let mut d = format!("restart {}", self.target.name());
        if let Some(cmd) = &self.cmd {
            d.push_str(&format!(" with command {cmd:?}"));
        }
        for (k, v) in &self.env {
            d.push_str(&format!(" {k}={v}"));
        }
        d
    }
    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        let node = self.target.get(lab).await?;
        if !self.rolls_out() {
            lab.restart_node(&node, self.grace, &self.wait, self.timeout)
                .await?;
            return Ok(());
        }
        let original = spec_of(lab, &node).await?;
        let mut next = original.clone().with_wait(self.wait.clone());
        next.startup_timeout = self.timeout;
        if let Some(cmd) = &self.cmd {
            next.cmd = cmd.clone();
        }
        for (k, v) in &self.env {
            next = next.with_env_var(k, v);
        }
        for (p, c) in &self.files {
            next = next.with_file(p, c.clone());
        }
        self.original = Some(original);
        recreate(lab, &node, next).await?;
        Ok(())
    }
    async fn heal(&mut self, lab: &LabCtx) -> Result<()> {
        if self.keep {
            return Ok(());
        }
        let Some(original) = self.original.take() else {
            return Ok(());
        };
        let Some(node) = lab.node(&original.name) else {
            return Ok(());
        };
        let mut spec = original.with_wait(self.wait.clone());
        spec.startup_timeout = self.timeout;
        recreate(lab, &node, spec).await?;
        Ok(())
    }
}
