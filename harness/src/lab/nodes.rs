//! The lab's Docker driver for nodes: start a container (through
//! testcontainers) and wait for it; read its logs; run commands in it;
//! stop, start, restart, kill and inspect it (through bollard: live
//! changes testcontainers has no call for).

use super::exec::{exec_in, ExecOutput};
use super::held::{on_testcontainers_runtime, Held};
use super::proc_net::listening;
use super::{lock, ContainerSpec, LabCtx, Node, WaitFor};
use crate::docker::DockerError;
use crate::labels;
use crate::record::TopologyEntry;
use crate::timeline::EventKind;
use anyhow::{bail, Context, Result};
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest,
    PortBinding,
};
use bollard::query_parameters::{
    KillContainerOptionsBuilder, LogsOptionsBuilder, RestartContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use testcontainers::runners::AsyncRunner;

/// Each TCP port published on 127.0.0.1 at a port Docker picks: the lab
/// reaches containers only through the loopback.
pub(super) fn loopback_bindings(ports: &[u16]) -> HashMap<String, Option<Vec<PortBinding>>> {
    ports
        .iter()
        .map(|p| {
            (
                format!("{p}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )
        })
        .collect()
}

impl LabCtx {
    /// The Docker container name for a lab-local name.
    pub fn container_name(&self, name: &str) -> String {
        format!("inc-{}-{}", self.inner.identity.run_id, name)
    }

    /// Starts one container through testcontainers' `AsyncRunner` (the
    /// spec's [`ContainerSpec::request`]), holds its handle until it is
    /// removed, and waits for the spec's readiness condition.
    pub async fn container(&self, spec: ContainerSpec) -> Result<Node> {
        let cname = self.container_name(&spec.name);
        // testcontainers pulls an image it does not find; the lab reaches
        // no registry (only 127.0.0.1 and its own networks), so a missing
        // image is one line naming the fix instead.
        self.require_image(&spec.image).await?;
        let mut labels: HashMap<String, String> = labels::for_run(
            &self.inner.identity.run_id,
            &self.inner.identity.spec.name,
            &spec.role,
        );
        labels.extend(spec.labels.clone());
        let request = spec.request(&cname, &self.inner.network, labels);
        let container = on_testcontainers_runtime(request.start())
            .await?
            .with_context(|| {
                format!(
                    "testcontainers could not start `{}` ({})",
                    spec.name, spec.image
                )
            })?;
        let id = container.id().to_string();
        self.hold(Held::new(id.clone(), spec.role == "sidecar", container));
        let node = self.describe(&spec.name, &id, &spec.image).await?;
        self.wait_ready(&node, &spec.wait, spec.startup_timeout)
            .await
            .with_context(|| format!("`{}` ({}) did not become ready", spec.name, spec.image))?;
        if spec.network_mode.is_none() {
            lock(&self.inner.nodes).insert(spec.name.clone(), node.clone());
            lock(&self.inner.record).place(TopologyEntry {
                name: spec.name.clone(),
                image: spec.image.clone(),
                role: spec.role.clone(),
            });
        }
        Ok(node)
    }

    /// Fails with one line naming the fix when `image` is not present.
    pub(super) async fn require_image(&self, image: &str) -> Result<()> {
        match self.inner.docker.inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Err(missing_image(image)),
            Err(e) => Err(DockerError::api(format!("inspect_image {image}"), e).into()),
        }
    }

    pub(super) async fn describe(&self, name: &str, id: &str, image: &str) -> Result<Node> {
        let info = self
            .inner
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::api(format!("inspect_container {name}"), e))?;
        let mut ports = BTreeMap::new();
        let ip = info
            .network_settings
            .as_ref()
            .and_then(|n| {
                n.networks
                    .as_ref()?
                    .get(&self.inner.network)?
                    .ip_address
                    .clone()
            })
            .filter(|ip| !ip.is_empty());
        if let Some(map) = info.network_settings.and_then(|n| n.ports) {
            for (k, v) in map {
                let Some(cport) = k.split('/').next().and_then(|p| p.parse::<u16>().ok()) else {
                    continue;
                };
                if let Some(hp) = v
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|b| b.host_port.as_ref()?.parse::<u16>().ok())
                    .next()
                {
                    ports.insert(cport, hp);
                }
            }
        }
        Ok(Node {
            name: name.to_string(),
            id: id.to_string(),
            container_name: self.container_name(name),
            image: image.to_string(),
            ports,
            ip,
        })
    }

    /// Waits until `wait` holds for `node`, or fails after `timeout` with
    /// the container's last output lines.
    pub async fn wait_ready(&self, node: &Node, wait: &WaitFor, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.probe(node, wait).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => return Err(e),
            }
            if tokio::time::Instant::now() >= deadline {
                let logs = self.logs_tail(node, 20).await.unwrap_or_default();
                bail!(
                    "not ready after {:?} waiting for {wait:?}; last output:\n{logs}",
                    timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn probe(&self, node: &Node, wait: &WaitFor) -> Result<bool> {
        let info = self
            .inner
            .docker
            .inspect_container(&node.id, None)
            .await
            .map_err(|e| DockerError::api(format!("inspect_container {}", node.name), e))?;
        let state = info.state.unwrap_or_default();
        if state.running != Some(true) {
            let logs = self.logs_tail(node, 20).await.unwrap_or_default();
            bail!(
                "`{}` exited (code {:?}, oom killed: {:?}) before it was ready; last output:\n{logs}",
                node.name,
                state.exit_code,
                state.oom_killed
            );
        }
        Ok(match wait {
            WaitFor::Nothing => true,
            WaitFor::Tcp(port) => match state.pid {
                Some(pid) if pid > 0 => listening(pid as u32, *port),
                _ => false,
            },
            WaitFor::Http { port, path } => {
                let url = format!("{}{}", node.http(*port), path);
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()?;
                matches!(client.get(&url).send().await, Ok(r) if r.status().is_success())
            }
            WaitFor::Log(text) => self.logs_tail(node, 10_000).await?.contains(text.as_str()),
            WaitFor::Exec(cmd) => {
                let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
                self.exec(node, &cmd)
                    .await
                    .map(|o| o.success())
                    .unwrap_or(false)
            }
        })
    }

    /// The last `lines` lines of a node's stdout and stderr.
    pub async fn logs_tail(&self, node: &Node, lines: usize) -> Result<String> {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&lines.to_string())
            .build();
        let mut stream = self.inner.docker.logs(&node.id, Some(opts));
        let mut out = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => out.push_str(&String::from_utf8_lossy(&c.into_bytes())),
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// Runs a command inside a node and collects its output.
    pub async fn exec(&self, node: &Node, cmd: &[&str]) -> Result<ExecOutput> {
        exec_in(&self.inner.docker, &node.id, cmd).await
    }

    /// Stops a node (SIGTERM, then SIGKILL after `grace`).
    ///
    /// `NodeStopped` is recorded at the request, on the lab's own clock:
    /// the node is going from then on, and Docker's `die` event for it
    /// carries Docker's wall clock, which a checker must not compare with
    /// a client's sessions (see `fixtures::chat::node_deaths`).
    pub async fn stop_node(&self, node: &Node, grace: Duration) -> Result<()> {
        let opts = StopContainerOptionsBuilder::default()
            .t(grace.as_secs() as i32)
            .build();
        self.inner
            .timeline
            .record(Some(&node.name), EventKind::NodeStopped);
        self.inner
            .docker
            .stop_container(&node.id, Some(opts))
            .await
            .map_err(|e| DockerError::api(format!("stop_container {}", node.name), e))?;
        Ok(())
    }

    /// Starts a stopped node again, on the address it had (as a real
    /// server keeps its address across a restart), and waits for `wait`.
    pub async fn start_node(&self, node: &Node, wait: &WaitFor, timeout: Duration) -> Result<Node> {
        if let Some(ip) = &node.ip {
            self.keep_address(node, ip).await;
        }
        self.inner
            .docker
            .start_container(&node.id, None::<StartContainerOptions>)
            .await
            .map_err(|e| DockerError::api(format!("start_container {}", node.name), e))?;
        // Published host ports change across a restart.
        let fresh = self.refresh_node(node).await?;
        self.wait_ready(&fresh, wait, timeout).await?;
        Ok(fresh)
    }

    /// Asks Docker to give a stopped node `ip` again when it starts (a
    /// real server keeps its address across a restart; Docker would hand
    /// out the lowest free one, see `create_network`): it is reconnected
    /// to the lab network with that address and its alias. Best effort: if
    /// the address was taken meanwhile it rejoins with any, as before.
    async fn keep_address(&self, node: &Node, ip: &str) {
        let docker = &self.inner.docker;
        let network = &self.inner.network;
        let endpoint = |ip: Option<&str>| EndpointSettings {
            aliases: Some(vec![node.name.clone()]),
            ipam_config: ip.map(|ip| EndpointIpamConfig {
                ipv4_address: Some(ip.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let connect = |ip| NetworkConnectRequest {
            container: node.id.clone(),
            endpoint_config: Some(endpoint(ip)),
        };
        let leave = NetworkDisconnectRequest {
            container: node.id.clone(),
            force: Some(true),
        };
        if docker.disconnect_network(network, leave).await.is_err() {
            return; // not on the network (e.g. a Disconnect fault holds it off)
        }
        if let Err(e) = docker.connect_network(network, connect(Some(ip))).await {
            tracing::warn!(node = %node.name, %ip, error = %e, "address taken; rejoining with any");
            if let Err(e) = docker.connect_network(network, connect(None)).await {
                // Off the network now: say so here, not as a later readiness timeout.
                tracing::error!(node = %node.name, error = %e, "could not rejoin the lab network");
            }
        }
    }

    /// Re-reads a node's published host ports (they change when it restarts
    /// or rejoins the network) and updates the lab's record of it.
    pub async fn refresh_node(&self, node: &Node) -> Result<Node> {
        let fresh = self.describe(&node.name, &node.id, &node.image).await?;
        lock(&self.inner.nodes).insert(node.name.clone(), fresh.clone());
        Ok(fresh)
    }

    /// Restarts a node (stop with `grace`, start) and waits for `wait`.
    /// Records `NodeStopped` at the request, on the lab's clock (see
    /// [`LabCtx::stop_node`]); Docker's events add the start.
    pub async fn restart_node(
        &self,
        node: &Node,
        grace: Duration,
        wait: &WaitFor,
        timeout: Duration,
    ) -> Result<Node> {
        let opts = RestartContainerOptionsBuilder::default()
            .t(grace.as_secs() as i32)
            .build();
        self.inner
            .timeline
            .record(Some(&node.name), EventKind::NodeStopped);
        self.inner
            .docker
            .restart_container(&node.id, Some(opts))
            .await
            .map_err(|e| DockerError::api(format!("restart_container {}", node.name), e))?;
        let fresh = self.refresh_node(node).await?;
        self.wait_ready(&fresh, wait, timeout).await?;
        Ok(fresh)
    }

    /// Sends `signal` (e.g. `SIGKILL`, `SIGSTOP`) to a node's main process.
    pub async fn kill_node(&self, node: &Node, signal: &str) -> Result<()> {
        let opts = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        self.inner
            .docker
            .kill_container(&node.id, Some(opts))
            .await
            .map_err(|e| DockerError::api(format!("kill_container {} {signal}", node.name), e))?;
        Ok(())
    }

    /// The latest state of a node's container.
    pub async fn inspect(&self, node: &Node) -> Result<bollard::models::ContainerInspectResponse> {
        Ok(self
            .inner
            .docker
            .inspect_container(&node.id, None)
            .await
            .map_err(|e| DockerError::api(format!("inspect_container {}", node.name), e))?)
    }
}

fn missing_image(image: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "image `{image}` is not present: build it with `cargo run -p harness --bin incident -- images build`, or provide it (see `incident doctor`)"
    )
}
