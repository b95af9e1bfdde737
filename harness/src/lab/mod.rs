//! The lab: the containers, network and sidecars one incident runs on,
//! and the run's record ([`RunRecord`]) it fills while the run goes on.
//!
//! Everything a lab makes carries its run id as a label ([`crate::labels`]);
//! teardown removes by label, so whatever a fixture or fault created is
//! found and removed however the incident ends (see `cleanup`).
//!
//! One concept per file: `container` (what to start, as a testcontainers
//! request; the running node), `nodes` (the Docker driver for nodes),
//! `held` (the testcontainers handles the lab keeps, and the runtime
//! testcontainers calls run on), `exec`, `proc_net` (the listening-socket
//! probe), `roles`,
//! `recording` (writing the record), `finish` (the report), `events`
//! (Docker's events on the timeline), `cleanup`.

mod cleanup;
mod container;
mod events;
mod exec;
mod finish;
mod held;
mod nodes;
mod proc_net;
mod recording;
mod roles;
mod testcontainer;

pub use crate::paths::{artifacts_root, workspace_root};
pub use crate::record::TopologyEntry;
pub use cleanup::{sweep_orphans, teardown_run};
pub use container::{ContainerSpec, Node, Tmpfs, WaitFor};
pub use exec::{exec_in, ExecOutput};
pub use proc_net::{listening, tcp_table_has_listener};
pub use roles::{Role, RoleResolver};
pub use testcontainer::{Testcontainer, TestcontainerHandle};

use crate::docker::{self, DockerError};
use crate::labels;
use crate::record::{RunIdentity, RunRecord};
use crate::report::Report;
use crate::spec::IncidentSpec;
use crate::timeline::{EventKind, Timeline};
use anyhow::Result;
use bollard::models::{Ipam, NetworkCreateRequest};
use bollard::Docker;
use std::collections::{BTreeMap, HashMap};
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

/// The lab's state: the Docker side (connection, network, nodes, role
/// resolvers), the clock, and the run's record behind one lock.
struct Inner {
    docker: Docker,
    identity: RunIdentity,
    network: String,
    timeline: Timeline,
    nodes: Mutex<BTreeMap<String, Node>>,
    roles: Mutex<Vec<Arc<dyn RoleResolver>>>,
    record: Mutex<RunRecord>,
    finished: Mutex<Option<Report>>,
    progress: crate::console::IncidentProgress,
    held: Mutex<Vec<held::Held>>,
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

/// Creates the lab's bridge network with its subnet configured, so that a
/// node started again gets its own address back (see
/// `LabCtx::start_node`): Docker gives a stopped container's address to
/// whoever asks next, and two servers restarted together can come back
/// with each other's (Consul's membership then took over a minute to
/// untangle). Docker can only be asked for an address on a subnet the
/// user configured, so the network is created once to let Docker pick a
/// free subnet and created again with it; if another network took that
/// subnet in between, it tries again.
async fn create_network(
    docker: &Docker,
    network: &str,
    labels: HashMap<String, String>,
) -> Result<(), DockerError> {
    let request = |ipam: Option<Ipam>| NetworkCreateRequest {
        name: network.to_string(),
        driver: Some("bridge".into()),
        labels: Some(labels.clone()),
        ipam,
        ..Default::default()
    };
    let api = |what: &str, e| DockerError::api(format!("{what} {network}"), e);
    let mut attempt = 0;
    loop {
        attempt += 1;
        docker
            .create_network(request(None))
            .await
            .map_err(|e| api("create_network", e))?;
        let picked = docker
            .inspect_network(network, None)
            .await
            .map_err(|e| api("inspect_network", e))?
            .ipam
            .and_then(|i| i.config)
            .unwrap_or_default();
        docker
            .remove_network(network)
            .await
            .map_err(|e| api("remove_network", e))?;
        let pinned = Ipam {
            config: Some(picked),
            ..Default::default()
        };
        match docker.create_network(request(Some(pinned))).await {
            Ok(_) => return Ok(()),
            Err(_) if attempt < 3 => continue,
            Err(e) => return Err(api("create_network", e)),
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
        create_network(&docker, &network, labels).await?;
        let timeline = Timeline::new();
        let progress = crate::console::IncidentProgress::start(
            &spec.name,
            crate::console::ProgressMode::from_env(),
        );
        let ctx = LabCtx {
            inner: Arc::new(Inner {
                docker: docker.clone(),
                identity: RunIdentity::new(spec, seed, run_id.clone()),
                network,
                timeline: timeline.clone(),
                nodes: Mutex::new(BTreeMap::new()),
                roles: Mutex::new(Vec::new()),
                record: Mutex::new(RunRecord::default()),
                finished: Mutex::new(None),
                progress,
                held: Mutex::new(Vec::new()),
            }),
        };
        let events = tokio::spawn(events::follow(docker, run_id, timeline));
        Ok(Lab { ctx, events })
    }

    /// A cloneable handle to this lab.
    pub fn ctx(&self) -> LabCtx {
        self.ctx.clone()
    }

    /// Removes everything the lab made: the containers it started, through
    /// their testcontainers handles, then whatever else carries the run's
    /// label (a sweep that also checks nothing is left). Idempotent; never
    /// panics.
    pub async fn teardown(&self) -> Vec<String> {
        self.events.abort();
        self.ctx.inner.progress.done();
        let mut problems = self.ctx.remove_held().await;
        problems
            .extend(teardown_run(&self.ctx.inner.docker, &self.ctx.inner.identity.run_id).await);
        problems
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
        &self.inner.identity.spec
    }

    /// Whether the mitigation the dossier names `name` is in force in this
    /// run: none in a before variant, all in an after one, or the set
    /// `INCIDENT_MITIGATIONS` (`incident ablate`) names. Panics on a name
    /// the dossier does not give, so a misspelt fix cannot silently stay
    /// off.
    pub fn mitigated(&self, name: &str) -> bool {
        let on = self.spec().mitigations.has(name);
        lock(&self.inner.record)
            .mitigations_asked
            .insert(name.to_string());
        on
    }

    /// This run's id (also in every label and container name).
    pub fn run_id(&self) -> &str {
        &self.inner.identity.run_id
    }

    /// The name of the lab's own network.
    pub fn network(&self) -> &str {
        &self.inner.network
    }

    /// The seed of this run (printed at start, recorded in the report).
    pub fn seed(&self) -> u64 {
        self.inner.identity.seed
    }

    /// A deterministic RNG derived from the seed and a stream name, so each
    /// workload or fault draws its own reproducible sequence.
    pub fn rng(&self, stream: &str) -> rand::rngs::StdRng {
        use rand::SeedableRng;
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        stream.hash(&mut h);
        rand::rngs::StdRng::seed_from_u64(self.inner.identity.seed ^ h.finish())
    }

    /// Who this run is: spec, seed, run id, start time.
    pub fn identity(&self) -> &RunIdentity {
        &self.inner.identity
    }

    /// Wall-clock time the lab started.
    pub fn started_at(&self) -> std::time::SystemTime {
        self.inner.identity.started_at
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
        // Past libtest's capture, so a long run shows where it is: a live
        // line on a terminal, a plain line per phase in CI
        // (`INCIDENT_PROGRESS`, console::ProgressMode).
        self.inner.progress.phase(self.now(), name);
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

    /// A node by its lab-local name.
    pub fn node(&self, name: &str) -> Option<Node> {
        lock(&self.inner.nodes).get(name).cloned()
    }

    /// Every node on the lab network, by name.
    pub fn nodes(&self) -> Vec<Node> {
        lock(&self.inner.nodes).values().cloned().collect()
    }
}
