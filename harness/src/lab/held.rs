//! The testcontainers handles of the lab's containers, and the one runtime
//! every testcontainers call of the process runs on.
//!
//! testcontainers removes a container when its `ContainerAsync` is
//! dropped, so the lab holds each handle until the container is removed on
//! purpose ([`LabCtx::remove_container`]) or the lab is torn down.
//!
//! testcontainers keeps one Docker client per process while any of its
//! containers lives, and a hyper connection dies with the runtime that
//! opened it ("runtime dropped the dispatch task", bollard#387). Each
//! incident runs on its own runtime (so a failed run's stray tasks die
//! with it), and labs may overlap (`INCIDENT_PARALLEL`): so testcontainers
//! calls run on [`on_testcontainers_runtime`], which lives as long as the
//! process, and never on a lab's runtime that may end mid-request.

use super::{lock, LabCtx};
use crate::docker::DockerError;
use anyhow::{anyhow, Result};
use bollard::query_parameters::RemoveContainerOptionsBuilder;
use std::future::Future;
use std::sync::OnceLock;
use testcontainers::{ContainerAsync, GenericImage};

/// The process's runtime for testcontainers calls (see the module docs).
fn testcontainers_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lab-testcontainers")
            .enable_all()
            .build()
            .expect("a tokio runtime for testcontainers")
    })
}

/// Runs `call` (a testcontainers call) on the process's testcontainers
/// runtime and waits for it from whatever runtime the caller is on.
pub(crate) async fn on_testcontainers_runtime<T, F>(call: F) -> Result<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    testcontainers_runtime()
        .spawn(call)
        .await
        .map_err(|e| anyhow!("a testcontainers call did not finish: {e}"))
}

/// One container's testcontainers handle, held by the lab.
pub(super) struct Held {
    /// The Docker container id.
    pub(super) id: String,
    /// A sidecar shares a node's network namespace: removed before it.
    pub(super) sidecar: bool,
    container: Option<ContainerAsync<GenericImage>>,
}

impl Held {
    pub(super) fn new(id: String, sidecar: bool, container: ContainerAsync<GenericImage>) -> Self {
        Held {
            id,
            sidecar,
            container: Some(container),
        }
    }

    /// Removes the container the testcontainers way (forced, with its
    /// anonymous volumes). A container already gone (removed by a test
    /// through Docker itself) is no failure.
    pub(super) async fn remove(mut self, docker: &bollard::Docker) -> Result<()> {
        let Some(container) = self.container.take() else {
            return Ok(());
        };
        let removed = on_testcontainers_runtime(container.rm()).await?;
        match removed {
            Ok(()) => Ok(()),
            Err(_) if docker.inspect_container(&self.id, None).await.is_err() => Ok(()),
            Err(e) => Err(anyhow!("removing container {}: {e}", self.id)),
        }
    }
}

impl Drop for Held {
    /// A lab dropped without its teardown (which removes every held
    /// container first) still removes its containers: testcontainers' own
    /// drop, run on the testcontainers runtime, since it needs one and the
    /// lab's may be gone.
    fn drop(&mut self) {
        if let Some(container) = self.container.take() {
            testcontainers_runtime().spawn(async move { drop(container) });
        }
    }
}

impl LabCtx {
    /// Keeps a started container's testcontainers handle until the
    /// container is removed.
    pub(super) fn hold(&self, held: Held) {
        lock(&self.inner.held).push(held);
    }

    /// Removes a container of this lab by id (a node being replaced, a
    /// fault's helper container): through its testcontainers handle when
    /// the lab started it, else directly (forced).
    pub async fn remove_container(&self, id: &str) -> Result<()> {
        let held = {
            let mut all = lock(&self.inner.held);
            all.iter()
                .position(|h| h.id == id)
                .map(|i| all.swap_remove(i))
        };
        match held {
            Some(held) => held.remove(&self.inner.docker).await,
            None => Ok(self
                .inner
                .docker
                .remove_container(
                    id,
                    Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                )
                .await
                .map_err(|e| DockerError::api(format!("remove_container {id}"), e))?),
        }
    }

    /// Removes every held container, sidecars first; returns what failed
    /// (the teardown's label sweep then removes what is left).
    pub(super) async fn remove_held(&self) -> Vec<String> {
        let all: Vec<Held> = std::mem::take(&mut *lock(&self.inner.held));
        let (sidecars, rest): (Vec<Held>, Vec<Held>) = all.into_iter().partition(|h| h.sidecar);
        let mut problems = Vec::new();
        for group in [sidecars, rest] {
            let docker = &self.inner.docker;
            let results =
                futures::future::join_all(group.into_iter().map(|h| h.remove(docker))).await;
            problems.extend(
                results
                    .into_iter()
                    .filter_map(|r| r.err().map(|e| e.to_string())),
            );
        }
        problems
    }
}
