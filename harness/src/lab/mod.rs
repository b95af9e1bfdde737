//! The lab: the containers, network and sidecars one incident runs on.
//!
//! Everything a lab makes carries its run id as a label ([`crate::labels`]);
//! teardown removes by label, so whatever a fixture or fault created is
//! found and removed however the incident ends (see [`cleanup`]).

mod cleanup;
mod container;
mod events;

pub use cleanup::{sweep_orphans, teardown_run};
pub use container::{ContainerSpec, Node, Tmpfs, WaitFor};

use crate::checker::Check;
use crate::docker::{self, DockerError};
use crate::fault::{FaultRecord, RoleResolver};
use crate::labels;
use crate::spec::IncidentSpec;
use crate::timeline::{EventKind, Timeline};
use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding, ResourcesUlimits,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, LogsOptionsBuilder,
    RestartContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A real system brought up in the lab and handed to the test ready to use.
#[async_trait::async_trait]
pub trait Fixture: Send {
    /// What the test gets back: a handle to the running system.
    type Handle: Send;
    /// Starts the system and returns once it is ready.
    async fn start(self, lab: &LabCtx) -> Result<Self::Handle>;
}

#[async_trait::async_trait]
impl Fixture for ContainerSpec {
    type Handle = Node;
    async fn start(self, lab: &LabCtx) -> Result<Node> {
        lab.container(self).await
    }
}

/// What ran where: one entry per node, for the report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TopologyEntry {
    /// The node's lab-local name.
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Its role label.
    pub role: String,
}

/// A command's result inside a container.
#[derive(Clone, Debug)]
pub struct ExecOutput {
    /// The exit code.
    pub exit_code: i64,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl ExecOutput {
    /// Whether the command exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

struct Inner {
    docker: Docker,
    spec: IncidentSpec,
    run_id: String,
    network: String,
    timeline: Timeline,
    seed: u64,
    started_at: std::time::SystemTime,
    nodes: Mutex<BTreeMap<String, Node>>,
    topology: Mutex<Vec<TopologyEntry>>,
    roles: Mutex<Vec<Arc<dyn RoleResolver>>>,
    faults: Mutex<Vec<FaultRecord>>,
    checks: Mutex<Vec<Check>>,
    figures: Mutex<BTreeMap<String, f64>>,
    notes: Mutex<Vec<String>>,
    series: Mutex<BTreeMap<String, Vec<(f64, f64)>>>,
    history: Mutex<crate::history::History>,
    finished: Mutex<Option<crate::report::Report>>,
}

/// A cheap, cloneable handle to a lab: what fixtures, faults and workloads
/// hold. [`Lab`] derefs to it.
#[derive(Clone)]
pub struct LabCtx {
    inner: Arc<Inner>,
}

/// One incident's lab. Created and torn down by the `#[incident]` runner;
/// the test body borrows it.
pub struct Lab {
    ctx: LabCtx,
    events: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for Lab {
    type Target = LabCtx;
    fn deref(&self) -> &LabCtx {
        &self.ctx
    }
}

/// The directory incident artifacts are written to: `$INCIDENT_ARTIFACTS`,
/// else `<target dir>/incidents`.
pub fn artifacts_root() -> PathBuf {
    if let Ok(dir) = std::env::var("INCIDENT_ARTIFACTS") {
        return PathBuf::from(dir);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    target.join("incidents")
}

/// The workspace root: the nearest ancestor of the current directory with a
/// `Cargo.lock` (cargo runs tests from the package directory).
pub fn workspace_root() -> PathBuf {
    let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut dir = start.as_path();
    loop {
        if dir.join("Cargo.lock").exists() {
            return dir.to_path_buf();
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return start,
        }
    }
}

impl Lab {
    /// Connects to Docker, sweeps what dead runs left behind, and creates the
    /// lab's own network.
    pub async fn create(spec: IncidentSpec, seed: u64) -> Result<Lab, DockerError> {
        let docker = docker::connect().await?;
        cleanup::sweep_once(&docker).await;
        let run_id = format!("{:08x}", rand::random::<u32>());
        let network = format!("inc-{run_id}");
        cleanup::register_live(&run_id);
        let labels = labels::for_run(&run_id, &spec.name, "network");
        docker
            .create_network(NetworkCreateRequest {
                name: network.clone(),
                driver: Some("bridge".into()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .map_err(|e| DockerError::api(format!("create_network {network}"), e))?;
        let timeline = Timeline::new();
        let ctx = LabCtx {
            inner: Arc::new(Inner {
                docker: docker.clone(),
                spec,
                run_id: run_id.clone(),
                network,
                timeline: timeline.clone(),
                seed,
                started_at: std::time::SystemTime::now(),
                nodes: Mutex::new(BTreeMap::new()),
                topology: Mutex::new(Vec::new()),
                roles: Mutex::new(Vec::new()),
                faults: Mutex::new(Vec::new()),
                checks: Mutex::new(Vec::new()),
                figures: Mutex::new(BTreeMap::new()),
                notes: Mutex::new(Vec::new()),
                series: Mutex::new(BTreeMap::new()),
                history: Mutex::new(crate::history::History::default()),
                finished: Mutex::new(None),
            }),
        };
        let events = tokio::spawn(events::follow(docker, run_id, timeline));
        Ok(Lab { ctx, events })
    }

    /// A cloneable handle to this lab.
    pub fn ctx(&self) -> LabCtx {
        self.ctx.clone()
    }

    /// Removes everything the lab made. Idempotent; never panics.
    pub async fn teardown(&self) -> Vec<String> {
        self.events.abort();
        teardown_run(&self.ctx.inner.docker, &self.ctx.inner.run_id).await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LabCtx {
    /// The Docker connection.
    pub fn docker(&self) -> &Docker {
        &self.inner.docker
    }

    /// The incident's static description.
    pub fn spec(&self) -> &IncidentSpec {
        &self.inner.spec
    }

    /// This run's id (also in every label and container name).
    pub fn run_id(&self) -> &str {
        &self.inner.run_id
    }

    /// The name of the lab's own network.
    pub fn network(&self) -> &str {
        &self.inner.network
    }

    /// The seed of this run (printed at start, recorded in the report).
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// A deterministic RNG derived from the seed and a stream name, so each
    /// workload or fault draws its own reproducible sequence.
    pub fn rng(&self, stream: &str) -> rand::rngs::StdRng {
        use rand::SeedableRng;
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        stream.hash(&mut h);
        rand::rngs::StdRng::seed_from_u64(self.inner.seed ^ h.finish())
    }

    /// Wall-clock time the lab started.
    pub fn started_at(&self) -> std::time::SystemTime {
        self.inner.started_at
    }

    /// The timeline.
    pub fn timeline(&self) -> &Timeline {
        &self.inner.timeline
    }

    /// Time since the lab started.
    pub fn now(&self) -> Duration {
        self.inner.timeline.now()
    }

    /// Ends the current phase and starts `name` (`steady`, `fault`,
    /// `mitigate`, `recover`).
    pub async fn phase(&self, name: &str) {
        tracing::info!(phase = name, "phase");
        self.inner.timeline.phase(name);
    }

    /// Marks a mitigation on the timeline (what operators did on the day).
    pub fn mitigation(&self, description: impl Into<String>) {
        self.inner.timeline.record(
            None,
            EventKind::Mitigation {
                description: description.into(),
            },
        );
    }

    /// Marks anything else on the timeline.
    pub fn mark(&self, node: Option<&str>, label: impl Into<String>) {
        self.inner.timeline.record(
            node,
            EventKind::Custom {
                label: label.into(),
            },
        );
    }

    /// Starts a fixture (or a bare [`ContainerSpec`]) and returns its handle.
    pub async fn start<F: Fixture>(&self, fixture: F) -> Result<F::Handle> {
        fixture.start(self).await
    }

    /// The Docker container name for a lab-local name.
    pub fn container_name(&self, name: &str) -> String {
        format!("inc-{}-{}", self.inner.run_id, name)
    }

    /// Creates, starts and waits for one container on the lab network.
    pub async fn container(&self, spec: ContainerSpec) -> Result<Node> {
        let docker = &self.inner.docker;
        let cname = self.container_name(&spec.name);
        let mut labels: HashMap<String, String> =
            labels::for_run(&self.inner.run_id, &self.inner.spec.name, &spec.role);
        labels.extend(spec.labels.clone());
        let exposed: Vec<String> = spec
            .exposed_ports
            .iter()
            .map(|p| format!("{p}/tcp"))
            .collect();
        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
            .exposed_ports
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
            .collect();
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
            let mut topo = lock(&self.inner.topology);
            topo.retain(|t| t.name != spec.name);
            topo.push(TopologyEntry {
                name: spec.name.clone(),
                image: spec.image.clone(),
                role: spec.role.clone(),
            });
        }
        Ok(node)
    }

    async fn describe(&self, name: &str, id: &str, image: &str) -> Result<Node> {
        let info = self
            .inner
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| DockerError::api(format!("inspect_container {name}"), e))?;
        let mut ports = BTreeMap::new();
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

    /// A node by its lab-local name.
    pub fn node(&self, name: &str) -> Option<Node> {
        lock(&self.inner.nodes).get(name).cloned()
    }

    /// Every node on the lab network, by name.
    pub fn nodes(&self) -> Vec<Node> {
        lock(&self.inner.nodes).values().cloned().collect()
    }

    /// What ran where, for the report.
    pub fn topology(&self) -> Vec<TopologyEntry> {
        lock(&self.inner.topology).clone()
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

    /// Starts a stopped node again and waits for `wait`.
    pub async fn start_node(&self, node: &Node, wait: &WaitFor, timeout: Duration) -> Result<Node> {
        self.inner
            .docker
            .start_container(&node.id, None::<StartContainerOptions>)
            .await
            .map_err(|e| DockerError::api(format!("start_container {}", node.name), e))?;
        // Published host ports change across a restart.
        let fresh = self.describe(&node.name, &node.id, &node.image).await?;
        lock(&self.inner.nodes).insert(node.name.clone(), fresh.clone());
        self.wait_ready(&fresh, wait, timeout).await?;
        Ok(fresh)
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
        let fresh = self.describe(&node.name, &node.id, &node.image).await?;
        lock(&self.inner.nodes).insert(node.name.clone(), fresh.clone());
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

    /// Registers a fixture's role resolver (`Role::Leader`, `Role::Primary`).
    pub fn register_roles(&self, resolver: Arc<dyn RoleResolver>) {
        lock(&self.inner.roles).push(resolver);
    }

    /// The registered role resolvers.
    pub fn role_resolvers(&self) -> Vec<Arc<dyn RoleResolver>> {
        lock(&self.inner.roles).clone()
    }

    /// Records a fault for the report and the replay plan.
    pub fn record_fault(&self, record: FaultRecord) {
        lock(&self.inner.faults).push(record);
    }

    /// Updates the record of fault number `index` (set when it heals).
    pub fn update_fault(&self, index: usize, f: impl FnOnce(&mut FaultRecord)) {
        if let Some(r) = lock(&self.inner.faults).get_mut(index) {
            f(r);
        }
    }

    /// The number of faults recorded so far.
    pub fn fault_count(&self) -> usize {
        lock(&self.inner.faults).len()
    }

    /// Every fault injected so far.
    pub fn faults(&self) -> Vec<FaultRecord> {
        lock(&self.inner.faults).clone()
    }

    /// Adds a checker's result to the verdict.
    pub fn check(&self, check: Check) {
        tracing::info!(check = %check.name, verdict = ?check.verdict, "{}", check.detail);
        // CI logs are often all a failed run leaves: name the anomalies there.
        for example in &check.examples {
            tracing::info!(check = %check.name, "example: {example}");
        }
        lock(&self.inner.checks).push(check);
    }

    /// Every check so far.
    pub fn checks(&self) -> Vec<Check> {
        lock(&self.inner.checks).clone()
    }

    /// Records a measured figure (peak pending RPCs, freelist bytes, ...):
    /// in the report, never in the stable snapshot.
    pub fn figure(&self, name: impl Into<String>, value: f64) {
        lock(&self.inner.figures).insert(name.into(), value);
    }

    /// Every figure so far.
    pub fn figures(&self) -> BTreeMap<String, f64> {
        lock(&self.inner.figures).clone()
    }

    /// Appends a point (seconds since lab start, value) to a named series
    /// (memory of a node, pending RPCs...), drawn in the timeline picture.
    pub fn sample(&self, series: impl Into<String>, value: f64) {
        let at = self.now().as_secs_f64();
        lock(&self.inner.series)
            .entry(series.into())
            .or_default()
            .push((at, value));
    }

    /// Every series so far.
    pub fn series(&self) -> BTreeMap<String, Vec<(f64, f64)>> {
        lock(&self.inner.series).clone()
    }

    /// Adds a note to the report: something a reader must know (e.g. "the
    /// streaming contention did not reproduce at this scale: ratio 1.1").
    pub fn note(&self, text: impl Into<String>) {
        let text = text.into();
        tracing::warn!("{text}");
        lock(&self.inner.notes).push(text);
    }

    /// Runs `f` on the history attached to the report.
    pub fn with_history<T>(&self, f: impl FnOnce(&mut crate::history::History) -> T) -> T {
        f(&mut lock(&self.inner.history))
    }

    pub(crate) fn set_finished(&self, report: crate::report::Report) {
        *lock(&self.inner.finished) = Some(report);
    }

    /// The report written by [`LabCtx::finish`], if it was called.
    pub fn finished(&self) -> Option<crate::report::Report> {
        lock(&self.inner.finished).clone()
    }

    /// Every note so far.
    pub fn notes(&self) -> Vec<String> {
        lock(&self.inner.notes).clone()
    }
}

/// Runs a command in a container and collects its output and exit code.
pub async fn exec_in(docker: &Docker, container: &str, cmd: &[&str]) -> Result<ExecOutput> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    let created = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(cmd.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| DockerError::api(format!("create_exec {container} {cmd:?}"), e))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&created.id, None)
        .await
        .map_err(|e| DockerError::api(format!("start_exec {container}"), e))?
    {
        while let Some(msg) = output.next().await {
            match msg {
                Ok(bollard::container::LogOutput::StdErr { message }) => {
                    stderr.push_str(&String::from_utf8_lossy(&message))
                }
                Ok(other) => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
                Err(_) => break,
            }
        }
    }
    let inspect = docker
        .inspect_exec(&created.id)
        .await
        .map_err(|e| DockerError::api(format!("inspect_exec {container}"), e))?;
    Ok(ExecOutput {
        exit_code: inspect.exit_code.unwrap_or(-1),
        stdout,
        stderr,
    })
}

/// Whether a process's network namespace has a TCP socket listening on
/// `port`. Read from the host's `/proc/<pid>/net/tcp{,6}`: a connect to the
/// published port is no proof, since Docker's userland proxy accepts it
/// before the server listens.
pub fn listening(pid: u32, port: u16) -> bool {
    ["tcp", "tcp6"].iter().any(|f| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{f}"))
            .map(|t| tcp_table_has_listener(&t, port))
            .unwrap_or(false)
    })
}

/// Parses a `/proc/net/tcp` table for a LISTEN (state `0A`) entry on `port`.
pub fn tcp_table_has_listener(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or("");
        let state = fields.nth(1).unwrap_or("");
        let lport = local
            .rsplit(':')
            .next()
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        state == "0A" && lport == Some(port)
    })
}

fn tar_files(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(
            &mut header,
            path.trim_start_matches('/'),
            contents.as_slice(),
        )?;
    }
    Ok(builder.into_inner()?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listeners_in_proc_tables() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:0050 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0\n";
        assert!(tcp_table_has_listener(table, 8080));
        assert!(
            !tcp_table_has_listener(table, 80),
            "an established socket is not a listener"
        );
        assert!(!tcp_table_has_listener(table, 9999));
    }

    #[test]
    fn container_specs_build_up() {
        let s = ContainerSpec::new("n1", "incident/base")
            .with_cmd(["sleep", "1"])
            .with_exposed_port(80)
            .with_exposed_port(80)
            .with_memory_limit(1 << 20)
            .with_env_var("A", "b");
        assert_eq!(s.exposed_ports, vec![80]);
        assert_eq!(s.cmd, vec!["sleep", "1"]);
        assert_eq!(s.env["A"], "b");
    }

    #[test]
    fn tar_archives_hold_the_files() {
        let bytes = tar_files(&[("/etc/x.conf".into(), b"hello".to_vec())]).unwrap();
        let mut ar = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, vec!["etc/x.conf"]);
    }
}
