//! The Docker Engine connection.
//!
//! We talk to Docker through bollard with a *negotiated* API version:
//! Debian's `docker.io` (20.10) speaks API 1.41, and a client that insists
//! on a newer version (testcontainers 0.28 pins 1.53) is refused by it.

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

/// Connects to the engine, negotiates the API version and pings it.
///
/// A connection is bound to the tokio runtime it was made on; each lab
/// makes its own.
pub async fn connect() -> Result<Docker, DockerError> {
    let unreachable = |cause: String| DockerError::Unreachable {
        endpoint: endpoint(),
        cause,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
    let docker = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        docker.negotiate_version(),
    )
    .await
    .map_err(|_| unreachable("no answer within 10 s".into()))?
    .map_err(|e| unreachable(e.to_string()))?;
    docker
        .ping()
        .await
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
