//! The lab's Docker driver for nodes: create, start and wait for a
//! container; read its logs; run commands in it; stop, start, restart,
//! kill and inspect it.

use super::archive::tar_files;
use super::exec::{exec_in, ExecOutput};
use super::proc_net::listening;
use super::{lock, ContainerSpec, LabCtx, Node, WaitFor};
use crate::docker::DockerError;
use crate::labels;
use crate::record::TopologyEntry;
use crate::timeline::EventKind;
use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkConnectRequest,
    NetworkDisconnectRequest, NetworkingConfig, PortBinding, ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, LogsOptionsBuilder,
    RestartContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

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

    /// Creates, starts and waits for one container on the lab network.
    pub async fn container(&self, spec: ContainerSpec) -> Result<Node> {
        let docker = &self.inner.docker;
        let cname = self.container_name(&spec.name);
        let mut labels: HashMap<String, String> = labels::for_run(
            &self.inner.identity.run_id,
            &self.inner.identity.spec.name,
            &spec.role,
        );
        labels.extend(spec.labels.clone());
        let exposed: Vec<String> = spec
            .exposed_ports
            .iter()
            .map(|p| format!("{p}/tcp"))
            .collect();
        let port_bindings = loopback_bindings(&spec.exposed_ports);
        let joins_lab_network = spec.network_mode.is_none();
        let host_config = HostConfig {
            network_mode: Some(
                spec.network_mode
                    .clone()
                    .unwrap_or_else(|| self.inner.network.clone()),
            ),
            port_bindings: joins_lab_network.then_some(port_bindings),
            memory: spec.memory,
            memory_swap: spec.memory,
            pids_limit: spec.pids_limit,
            nano_cpus: spec.cpus.map(|c| (c * 1e9) as i64),
            cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
            tmpfs: (!spec.tmpfs.is_empty()).then(|| {
                spec.tmpfs
                    .iter()
                    .map(|t| (t.path.clone(), format!("rw,size={}", t.size)))
                    .collect()
            }),
            ulimits: spec.nofile.map(|n| {
                vec![ResourcesUlimits {
                    name: Some("nofile".into()),
                    soft: Some(n as i64),
                    hard: Some(n as i64),
                }]
            }),
            init: Some(true),
            ..Default::default()
        };
        let networking_config = joins_lab_network.then(|| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                self.inner.network.clone(),
                EndpointSettings {
                    aliases: Some(vec![spec.name.clone()]),
                    ..Default::default()
                },
            )])),
        });
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            hostname: joins_lab_network.then(|| spec.name.clone()),
            entrypoint: spec.entrypoint.clone(),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            exposed_ports: joins_lab_network.then_some(exposed),
            labels: Some(labels),
            user: spec.user.clone(),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default()
            .name(&cname)
            .build();
        let created = docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| {
                missing_image_hint(
                    &spec.image,
                    DockerError::api(format!("create_container {cname}"), e),
                )
            })?;
        if !spec.files.is_empty() {
            let archive = tar_files(&spec.files)?;
            docker
                .upload_to_container(
                    &created.id,
                    Some(UploadToContainerOptionsBuilder::default().path("/").build()),
                    bollard::body_full(archive.into()),
                )
                .await
                .map_err(|e| DockerError::api(format!("upload_to_container {cname}"), e))?;
        }
        docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .map_err(|e| DockerError::api(format!("start_container {cname}"), e))?;
        let node = self.describe(&spec.name, &created.id, &spec.image).await?;
        self.wait_ready(&node, &spec.wait, spec.startup_timeout)
            .await
            .with_context(|| format!("`{}` ({}) did not become ready", spec.name, spec.image))?;
        if joins_lab_network {
            lock(&self.inner.nodes).insert(spec.name.clone(), node.clone());
            lock(&self.inner.record).place(TopologyEntry {
                name: spec.name.clone(),
                image: spec.image.clone(),
                role: spec.role.clone(),
            });
        }
        Ok(node)
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

fn missing_image_hint(image: &str, err: DockerError) -> anyhow::Error {
    let text = err.to_string();
    if text.contains("No such image") || text.contains("404") {
        anyhow::anyhow!(
            "image `{image}` is not present: build it with `cargo run -p harness --bin incident -- images build`, or provide it (see `incident doctor`)"
        )
    } else {
        err.into()
    }
}
