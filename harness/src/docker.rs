//! The Docker Engine connection.
//!
//! We talk to Docker through bollard 0.21, which sends **no API version**:
//! it builds each URL as `/v1.53/<path>` and then joins `<path>` (which
//! starts with `/`) onto it, and a join with an absolute path replaces the
//! whole path, so `/v1.53` is dropped (bollard issue #736). An unversioned
//! request is answered by the engine at its own API version, so Debian's
//! `docker.io` 20.10 (API 1.41), which refuses `/v1.53/...` ("client
//! version 1.53 is too new"), serves every call; so does testcontainers
//! 0.28, which talks through the same bollard. Nothing is negotiated:
//! `Docker::negotiate_version` would only lower a number that is never sent.
//! `harness/tests/docker_api_version.rs` checks this against the running
//! engine (the request paths on the wire), so a bollard that starts sending
//! its version again fails there rather than on an old engine.

use bollard::Docker;
use thiserror::Error;

/// Why Docker cannot be used; each message names the fix.
#[derive(Debug, Error)]
pub enum DockerError {
    /// The daemon does not answer.
    #[error("Docker Engine is not reachable at {endpoint}: {cause}. Start it with `dockerd >/var/log/dockerd.log 2>&1 &` (as root) or `systemctl start docker`, or point DOCKER_HOST at a running engine")]
    Unreachable {
        /// Where we looked.
        endpoint: String,
        /// What failed.
        cause: String,
    },
    /// A Docker API call failed.
    #[error("Docker API call `{call}` failed: {source}")]
    Api {
        /// The call, e.g. `create_container consul-1`.
        call: String,
        /// The bollard error.
        #[source]
        source: bollard::errors::Error,
    },
}

impl DockerError {
    /// Wraps a bollard error with the call that produced it.
    pub fn api(call: impl Into<String>, source: bollard::errors::Error) -> Self {
        DockerError::Api {
            call: call.into(),
            source,
        }
    }
}

/// Where [`connect`] looks: `DOCKER_HOST` or the default unix socket.
pub fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// Connects to the engine and pings it (10 s at most). No API version is
/// negotiated or sent: the engine answers at its own (see the module docs).
///
/// The lab starts and removes containers through testcontainers, and
/// makes the live changes testcontainers has no call for (memory, pids,
/// network connect/disconnect, signals, events) through this client. It is
/// configured as testcontainers' is (`DOCKER_HOST`, else the local
/// socket), but each lab makes its own instead of taking
/// `testcontainers::core::client::docker_client_instance()`: that one is
/// shared by every test of the process while any testcontainers container
/// lives, and a hyper connection dies with the tokio runtime that opened
/// it, so a request of one incident could fail when another incident's
/// runtime ends ("runtime dropped the dispatch task", bollard#387).
pub async fn connect() -> Result<Docker, DockerError> {
    let unreachable = |cause: String| DockerError::Unreachable {
        endpoint: endpoint(),
        cause,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
    tokio::time::timeout(std::time::Duration::from_secs(10), docker.ping())
        .await
        .map_err(|_| unreachable("no answer within 10 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    Ok(docker)
}

/// Connects from synchronous code (a CLI, a signal handler) on a private
/// current-thread runtime, runs `f`, and returns its result.
pub fn blocking<T>(
    f: impl for<'a> FnOnce(&'a Docker) -> futures::future::BoxFuture<'a, T>,
) -> Result<T, DockerError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async {
        let docker = connect().await?;
        Ok(f(&docker).await)
    })
}
