//! Describing a container to start in the lab, and the handle to one that runs.
//!
//! [`ContainerSpec`] is a thin layer over testcontainers' builders: the
//! lab turns it into a `ContainerRequest<GenericImage>`
//! ([`ContainerSpec::request`]) and starts it through testcontainers'
//! `AsyncRunner`, like any testcontainers image ([`super::Testcontainer`]).
//! What it adds is the lab's defaults (memory and pids caps, ports on
//! 127.0.0.1 only, an init process) and the lab's own readiness probes
//! ([`WaitFor`]), which report a container that died before it was ready
//! with its last output. The API version is no reason to avoid
//! testcontainers: 0.28 talks through bollard 0.21, which sends no API
//! version at all, so it works against Debian's Docker Engine 20.10 (API
//! 1.41); see [`crate::docker`].
//!
//! The lab-local name is the container's hostname, and Docker makes a
//! container's hostname one of its DNS names on a user-defined network
//! (the engine API's `DNSNames`: "container name, network aliases,
//! container short ID, and hostname"; 20.10 lists it among the aliases).
//! That is how peers reach `consul-2` by name although testcontainers 0.28
//! cannot set a network alias.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use testcontainers::core::{ContainerPort, Mount};
use testcontainers::{ContainerRequest, CopyTargetOptions, GenericImage, ImageExt};

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

impl ContainerSpec {
    /// The testcontainers request that starts this spec as Docker container
    /// `container_name` on `network` with `labels` (the lab's and the
    /// spec's). Everything `ImageExt` has a knob for goes through it; the
    /// resources it has none for (memory, pids, CPUs, init, ports bound to
    /// 127.0.0.1, another container's network namespace) through its host
    /// config modifier. No ready condition is given to testcontainers: the
    /// lab probes readiness itself ([`WaitFor`]).
    pub fn request(
        &self,
        container_name: &str,
        network: &str,
        labels: HashMap<String, String>,
    ) -> ContainerRequest<GenericImage> {
        let (name, tag) = crate::images::split_reference(&self.image);
        let mut image = GenericImage::new(name, tag);
        // testcontainers takes one entrypoint word; the rest of ours go in
        // front of the command, which is the same argv.
        let mut cmd = self.cmd.clone();
        if let Some((first, rest)) = self.entrypoint.as_deref().and_then(<[String]>::split_first) {
            image = image.with_entrypoint(first);
            cmd.splice(0..0, rest.iter().cloned());
        }
        let sidecar_of = self.network_mode.clone();
        if sidecar_of.is_none() {
            for port in &self.exposed_ports {
                image = image.with_exposed_port(ContainerPort::Tcp(*port));
            }
        }
        let mut request = image
            .with_container_name(container_name)
            .with_labels(labels)
            .with_cmd(cmd)
            .with_startup_timeout(self.startup_timeout);
        if sidecar_of.is_none() {
            request = request.with_hostname(&self.name).with_network(network);
        }
        for (key, value) in &self.env {
            request = request.with_env_var(key, value);
        }
        if let Some(user) = &self.user {
            request = request.with_user(user);
        }
        for cap in &self.cap_add {
            request = request.with_cap_add(cap);
        }
        if let Some(n) = self.nofile {
            request = request.with_ulimit("nofile", n as i64, Some(n as i64));
        }
        for t in &self.tmpfs {
            request =
                request.with_mount(Mount::tmpfs_mount(&t.path).with_size_bytes(t.size as i64));
        }
        for (path, contents) in &self.files {
            request = request.with_copy_to(
                CopyTargetOptions::new(path.as_str()).with_mode(0o644),
                contents.clone(),
            );
        }
        let (memory, pids, cpus) = (self.memory, self.pids_limit, self.cpus);
        let ports = self.exposed_ports.clone();
        request.with_host_config_modifier(move |hc| {
            hc.memory = memory;
            hc.memory_swap = memory;
            hc.pids_limit = pids;
            hc.nano_cpus = cpus.map(|c| (c * 1e9) as i64);
            hc.init = Some(true);
            match &sidecar_of {
                Some(mode) => {
                    hc.network_mode = Some(mode.clone());
                    hc.publish_all_ports = None;
                    hc.port_bindings = None;
                }
                None => {
                    hc.publish_all_ports = Some(false);
                    hc.port_bindings = Some(super::nodes::loopback_bindings(&ports));
                }
            }
        })
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

    fn host_config_of(request: &ContainerRequest<GenericImage>) -> bollard::models::HostConfig {
        let mut hc = bollard::models::HostConfig::default();
        (request.host_config_modifier().expect("the lab's modifier"))(&mut hc);
        hc
    }

    #[test]
    fn a_spec_becomes_a_testcontainers_request_with_every_knob() {
        let spec = ContainerSpec::new("consul-1", "incident/consul:1.22.6")
            .with_entrypoint(["/bin/sh", "-c"])
            .with_cmd(["exec consul agent"])
            .with_env_var("A", "b")
            .with_exposed_port(8500)
            .with_memory_limit(1 << 30)
            .with_pids_limit(100)
            .with_cpus(0.5)
            .with_nofile(4096)
            .with_cap_add("NET_ADMIN")
            .with_user("consul")
            .with_tmpfs("/data", 64 << 20)
            .with_file("/etc/consul.json", b"{}".to_vec());
        let labels = HashMap::from([("io.incident-harness.run".to_string(), "r1".to_string())]);
        let request = spec.request("inc-r1-consul-1", "inc-r1", labels);
        assert_eq!(request.descriptor(), "incident/consul:1.22.6");
        assert_eq!(request.container_name().as_deref(), Some("inc-r1-consul-1"));
        // The lab-local name is the hostname: Docker's DNS name for peers.
        assert_eq!(request.hostname(), Some("consul-1"));
        assert_eq!(request.network().as_deref(), Some("inc-r1"));
        assert_eq!(request.labels()["io.incident-harness.run"], "r1");
        assert_eq!(request.entrypoint(), Some("/bin/sh"));
        let cmd: Vec<String> = request.cmd().map(|c| c.to_string()).collect();
        assert_eq!(
            cmd,
            vec!["-c", "exec consul agent"],
            "same argv as entrypoint + cmd"
        );
        let env: Vec<(String, String)> = request
            .env_vars()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(env, vec![("A".to_string(), "b".to_string())]);
        assert_eq!(request.expose_ports(), &[ContainerPort::Tcp(8500)]);
        assert_eq!(request.user(), Some("consul"));
        assert_eq!(request.cap_add(), Some(&vec!["NET_ADMIN".to_string()]));
        let tmpfs: Vec<_> = request
            .mounts()
            .map(|m| m.target().map(str::to_string))
            .collect();
        assert_eq!(tmpfs, vec![Some("/data".to_string())]);
        assert_eq!(
            request.copy_to_sources().count(),
            1,
            "the file is copied in"
        );
        let hc = host_config_of(&request);
        assert_eq!(hc.memory, Some(1 << 30));
        assert_eq!(hc.memory_swap, Some(1 << 30), "no swap");
        assert_eq!(hc.pids_limit, Some(100));
        assert_eq!(hc.nano_cpus, Some(500_000_000));
        assert_eq!(hc.init, Some(true));
        assert_eq!(hc.publish_all_ports, Some(false));
        let bound: Vec<String> = hc
            .port_bindings
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(port, b)| {
                b.unwrap_or_default()
                    .into_iter()
                    .map(move |b| format!("{port} on {}", b.host_ip.unwrap_or_default()))
            })
            .collect();
        assert_eq!(bound, vec!["8500/tcp on 127.0.0.1"]);
    }

    #[test]
    fn a_sidecar_request_shares_the_nodes_network_and_publishes_nothing() {
        let spec = ContainerSpec::new("consul-1-netadm", "incident/toolbox:bookworm")
            .with_network_of("abc123")
            .with_entrypoint(["sleep", "infinity"])
            .with_exposed_port(80);
        let request = spec.request("inc-r1-consul-1-netadm", "inc-r1", HashMap::new());
        assert_eq!(request.network(), &None, "not on the lab network");
        assert_eq!(request.hostname(), None);
        assert!(request.expose_ports().is_empty());
        let hc = host_config_of(&request);
        assert_eq!(hc.network_mode.as_deref(), Some("container:abc123"));
        assert_eq!(hc.port_bindings, None);
        assert_eq!(hc.publish_all_ports, None);
        // The default caps hold for sidecars too.
        assert_eq!(hc.memory, Some(ContainerSpec::DEFAULT_MEMORY));
        assert_eq!(hc.pids_limit, Some(ContainerSpec::DEFAULT_PIDS));
    }

    #[test]
    fn lifted_limits_stay_lifted_in_the_request() {
        let request = ContainerSpec::new("n", "incident/base:bookworm")
            .without_limits()
            .request("inc-r-n", "inc-r", HashMap::new());
        let hc = host_config_of(&request);
        assert_eq!(
            (hc.memory, hc.memory_swap, hc.pids_limit),
            (None, None, None)
        );
    }
}
