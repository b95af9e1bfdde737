//! Describing a container to start in the lab, and the handle to one that runs.
//!
//! [`ContainerSpec`] follows the builder style of testcontainers'
//! `ImageExt` (`with_cmd`, `with_env_var`, `with_exposed_port`, ...). The
//! API version is no reason to avoid testcontainers: 0.28 talks through
//! bollard 0.21, which sends no API version at all, so it works against
//! Debian's Docker Engine 20.10 (API 1.41); see [`crate::docker`]. The
//! fixtures' containers start from a spec, not through testcontainers'
//! runner, because they need a DNS alias on the lab network at create
//! time, which testcontainers 0.28 cannot set; any testcontainers image
//! comes into the lab through [`super::Testcontainer`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// When a started container counts as ready.
#[derive(Clone, Debug, PartialEq)]
pub enum WaitFor {
    /// As soon as it runs.
    Nothing,
    /// A TCP connect to this container port (through its mapped host port) succeeds.
    Tcp(u16),
    /// An HTTP GET of `path` on this container port answers 2xx.
    Http {
        /// The container port.
        port: u16,
        /// The path, e.g. `/v1/status/leader`.
        path: String,
    },
    /// This text appears in the container's output.
    Log(String),
    /// This command, run inside the container, exits 0.
    Exec(Vec<String>),
}

/// A tmpfs mount (fixtures keep data in memory: fast, and charged to the
/// container's memory cgroup as on a real host's page cache).
#[derive(Clone, Debug, PartialEq)]
pub struct Tmpfs {
    /// Where it is mounted.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Everything needed to start one container in a lab.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    /// The lab-local name: the container's hostname and its DNS alias on the
    /// lab network (`consul-1`, `mongo-2`).
    pub name: String,
    /// The image reference.
    pub image: String,
    /// Overrides the image's entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// The command.
    pub cmd: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Container ports to publish on 127.0.0.1 (random host ports).
    pub exposed_ports: Vec<u16>,
    /// Extra labels (the lab adds its own).
    pub labels: BTreeMap<String, String>,
    /// Memory limit in bytes (swap is set equal: no swap); `None` is none.
    pub memory: Option<i64>,
    /// Pids (tasks) limit of the container's cgroup; `None` is none.
    pub pids_limit: Option<i64>,
    /// CPU limit in cores (e.g. 0.5).
    pub cpus: Option<f64>,
    /// Open-files limit (soft = hard).
    pub nofile: Option<u64>,
    /// Capabilities to add.
    pub cap_add: Vec<String>,
    /// `container:<id>` to share another container's network namespace
    /// (sidecars); `None` joins the lab network.
    pub network_mode: Option<String>,
    /// tmpfs mounts.
    pub tmpfs: Vec<Tmpfs>,
    /// Readiness condition.
    pub wait: WaitFor,
    /// How long readiness may take.
    pub startup_timeout: Duration,
    /// The role label (`node`, `sidecar`, `proxy`, `hog`).
    pub role: String,
    /// Run the container's process as this user.
    pub user: Option<String>,
    /// Files to write into the container before it starts: (path, contents).
    pub files: Vec<(String, Vec<u8>)>,
}

impl ContainerSpec {
    /// The memory cap of every container unless its spec sets one or lifts
    /// it (8 GiB): a before variant's runaway backlog fails its own
    /// container, not the host. Set with [`ContainerSpec::with_memory_limit`],
    /// lifted with [`ContainerSpec::without_limits`].
    pub const DEFAULT_MEMORY: i64 = 8 << 30;

    /// The pids cap of every container unless its spec sets or lifts one:
    /// a fork or thread storm stops at 4,096 tasks.
    pub const DEFAULT_PIDS: i64 = 4096;

    /// A container named `name` (lab-local) from `image`, with the default
    /// memory and pids caps.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            entrypoint: None,
            cmd: Vec::new(),
            env: BTreeMap::new(),
            exposed_ports: Vec::new(),
            labels: BTreeMap::new(),
            memory: Some(Self::DEFAULT_MEMORY),
            pids_limit: Some(Self::DEFAULT_PIDS),
            cpus: None,
            nofile: None,
            cap_add: Vec::new(),
            network_mode: None,
            tmpfs: Vec::new(),
            wait: WaitFor::Nothing,
            startup_timeout: Duration::from_secs(60),
            role: "node".into(),
            user: None,
            files: Vec::new(),
        }
    }

    /// Lifts the memory and pids caps (a test that needs an unlimited
    /// container, e.g. to check that a fault restores "no limit").
    pub fn without_limits(mut self) -> Self {
        self.memory = None;
        self.pids_limit = None;
        self
    }

    /// Sets the command.
    pub fn with_cmd<I, S>(mut self, cmd: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cmd = cmd.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the entrypoint.
    pub fn with_entrypoint<I, S>(mut self, entrypoint: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entrypoint = Some(entrypoint.into_iter().map(Into::into).collect());
        self
    }

    /// Adds an environment variable.
    pub fn with_env_var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Publishes a container port on 127.0.0.1.
    pub fn with_exposed_port(mut self, port: u16) -> Self {
        if !self.exposed_ports.contains(&port) {
            self.exposed_ports.push(port);
        }
        self
    }

    /// Adds a label.
    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Limits memory (bytes); swap is disabled.
    pub fn with_memory_limit(mut self, bytes: i64) -> Self {
        self.memory = Some(bytes);
        self
    }

    /// Limits the number of tasks (processes and threads).
    pub fn with_pids_limit(mut self, pids: i64) -> Self {
        self.pids_limit = Some(pids);
        self
    }

    /// Limits CPU (in cores).
    pub fn with_cpus(mut self, cpus: f64) -> Self {
        self.cpus = Some(cpus);
        self
    }

    /// Limits open files.
    pub fn with_nofile(mut self, n: u64) -> Self {
        self.nofile = Some(n);
        self
    }

    /// Adds a capability (e.g. `NET_ADMIN`).
    pub fn with_cap_add(mut self, cap: impl Into<String>) -> Self {
        self.cap_add.push(cap.into());
        self
    }

    /// Joins another container's network namespace instead of the lab network.
    pub fn with_network_of(mut self, container_id: &str) -> Self {
        self.network_mode = Some(format!("container:{container_id}"));
        self
    }

    /// Mounts a tmpfs of `size` bytes at `path`.
    pub fn with_tmpfs(mut self, path: impl Into<String>, size: u64) -> Self {
        self.tmpfs.push(Tmpfs {
            path: path.into(),
            size,
        });
        self
    }

    /// Sets the readiness condition.
    pub fn with_wait(mut self, wait: WaitFor) -> Self {
        self.wait = wait;
        self
    }

    /// Sets how long readiness may take (default 60 s).
    pub fn with_startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Sets the role label.
    pub fn with_role(mut self, role: impl Into<String>) -> Self {
        self.role = role.into();
        self
    }

    /// Runs as `user`.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Writes a file into the container before it starts.
    pub fn with_file(mut self, path: impl Into<String>, contents: impl Into<Vec<u8>>) -> Self {
        self.files.push((path.into(), contents.into()));
        self
    }
}

/// A running container of the lab.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    /// The lab-local name (hostname and DNS alias on the lab network).
    pub name: String,
    /// The Docker container id.
    pub id: String,
    /// The Docker container name (`inc-<run>-<name>`).
    pub container_name: String,
    /// The image it runs.
    pub image: String,
    /// Container port → host port on 127.0.0.1.
    pub ports: BTreeMap<u16, u16>,
    /// Its address on the lab network while it runs; a node started again
    /// is given this address back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl Node {
    /// The host port that container port `port` is published on.
    ///
    /// # Panics
    /// If the port was not exposed: that is a fixture bug, not a runtime condition.
    pub fn host_port(&self, port: u16) -> u16 {
        *self.ports.get(&port).unwrap_or_else(|| {
            panic!(
                "container port {port} of `{}` is not published; add .with_exposed_port({port}) to its ContainerSpec",
                self.name
            )
        })
    }

    /// `127.0.0.1:<host port>` for container port `port`: the only way the
    /// test process talks to a node (the network rule).
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.host_port(port)))
    }

    /// `http://127.0.0.1:<host port>` for container port `port`.
    pub fn http(&self, port: u16) -> String {
        format!("http://{}", self.addr(port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
