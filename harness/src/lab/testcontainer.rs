//! Any testcontainers image in the lab: a `testcontainers::Image` (a
//! `GenericImage`, your own `impl Image`) or a `ContainerRequest` built
//! with `ImageExt`, started by testcontainers' own `AsyncRunner` and then
//! made a lab node like the fixtures' containers:
//! - it carries the lab's labels (run, incident, owner), so the lab's
//!   teardown, the start-of-run sweep, `incident clean` and the leak check
//!   find it however the test ends;
//! - it joins the lab network with its lab-local name as hostname, which
//!   Docker makes one of its DNS names there (see [`super::ContainerSpec`]'s
//!   module docs): peers reach it by that name;
//! - its exposed ports are published on 127.0.0.1 only (testcontainers
//!   publishes on every interface by default);
//! - it gets the lab's default memory and pids caps unless the request
//!   set its own (`ContainerSpec::DEFAULT_MEMORY`, `DEFAULT_PIDS`);
//! - faults aim at it by name like at any node (`Target::node("web")`).
//!
//! The lab's request replaces any `with_host_config_modifier` of the
//! request's own. It starts on the process's testcontainers runtime (see
//! `held`), so the handle's calls never depend on a lab's runtime that
//! ended. testcontainers-modules 0.15 (its latest) still builds on
//! testcontainers 0.27, whose `Image` trait is a different type: its images
//! come in once the modules move to 0.28, or today as a `GenericImage`
//! with the same name, tag, ports and wait conditions.

use super::held::on_testcontainers_runtime;
use super::{lock, ContainerSpec, LabCtx, Node};
use crate::labels;
use crate::record::TopologyEntry;
use anyhow::{Context, Result};
use testcontainers::core::ContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, ContainerRequest, Image, ImageExt};

/// A testcontainers image or request to start as lab node `name`.
pub struct Testcontainer<I: Image> {
    name: String,
    request: ContainerRequest<I>,
}

impl<I: Image> Testcontainer<I> {
    /// `request` (an `Image`, or `ImageExt`'s `ContainerRequest`) as the
    /// lab node `name` (its hostname and DNS alias on the lab network).
    pub fn new(name: impl Into<String>, request: impl Into<ContainerRequest<I>>) -> Self {
        Testcontainer {
            name: name.into(),
            request: request.into(),
        }
    }
}

/// A running testcontainers container in the lab: its lab node, and the
/// testcontainers handle (ports, logs, exec the testcontainers way).
pub struct TestcontainerHandle<I: Image> {
    /// The lab node: what faults, `lab.exec` and the report know it by.
    pub node: Node,
    /// testcontainers' handle. Dropping it removes the container, as
    /// testcontainers does; the lab's teardown removes it regardless.
    pub container: ContainerAsync<I>,
}

/// The TCP ports an image exposes.
fn tcp_ports<I: Image>(image: &I) -> Vec<u16> {
    image
        .expose_ports()
        .iter()
        .filter_map(|p| match p {
            ContainerPort::Tcp(p) => Some(*p),
            ContainerPort::Udp(_) | ContainerPort::Sctp(_) => None,
        })
        .collect()
}

#[async_trait::async_trait]
impl<I: Image + Send + Sync + 'static> super::Fixture for Testcontainer<I> {
    type Handle = TestcontainerHandle<I>;

    async fn start(self, lab: &LabCtx) -> Result<TestcontainerHandle<I>> {
        let name = self.name;
        let image_ref = format!(
            "{}:{}",
            self.request.image().name(),
            self.request.image().tag()
        );
        let ports = tcp_ports(self.request.image());
        let labels = labels::for_run(lab.run_id(), &lab.spec().name, "node");
        let request = self
            .request
            .with_container_name(lab.container_name(&name))
            .with_hostname(name.clone())
            .with_network(lab.network())
            .with_labels(labels)
            .with_host_config_modifier(move |hc| {
                hc.publish_all_ports = Some(false);
                hc.port_bindings = Some(super::nodes::loopback_bindings(&ports));
                if hc.memory.is_none() {
                    hc.memory = Some(ContainerSpec::DEFAULT_MEMORY);
                    hc.memory_swap = Some(ContainerSpec::DEFAULT_MEMORY);
                }
                if hc.pids_limit.is_none() {
                    hc.pids_limit = Some(ContainerSpec::DEFAULT_PIDS);
                }
            });
        let container = on_testcontainers_runtime(request.start())
            .await?
            .with_context(|| format!("testcontainers could not start `{name}` ({image_ref})"))?;
        let id = container.id().to_string();
        let node = lab.describe(&name, &id, &image_ref).await?;
        lock(&lab.inner.nodes).insert(name.clone(), node.clone());
        lock(&lab.inner.record).place(TopologyEntry {
            name,
            image: image_ref,
            role: "node".into(),
        });
        Ok(TestcontainerHandle { node, container })
    }
}
