//! `Disconnect`: takes a node off the lab network (`docker network
//! disconnect`), cutting every link at once; heal reconnects it with the
//! same DNS alias. Its IP and its published host ports may change on
//! reconnect: use `lab.node(name)` afterwards, which heal refreshes.

use super::{Fault, Resolved, Target};
use crate::docker::DockerError;
use crate::lab::LabCtx;
use anyhow::{bail, Result};
use bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest};
use std::time::Duration;

/// A node disconnected from the lab network.
pub struct Disconnect {
    target: Resolved,
    done: bool,
}

impl Disconnect {
    /// Disconnects the target.
    pub fn new(target: impl Into<Target>) -> Self {
        Disconnect {
            target: Resolved::new(target),
            done: false,
        }
    }
}

async fn connected(lab: &LabCtx, id: &str) -> Result<bool> {
    let info = lab
        .docker()
        .inspect_container(id, None)
        .await
        .map_err(|e| DockerError::api(format!("inspect_container {id}"), e))?;
    Ok(info
        .network_settings
        .and_then(|n| n.networks)
        .is_some_and(|m| m.contains_key(lab.network())))
}

#[async_trait::async_trait]
impl Fault for Disconnect {
    fn kind(&self) -> &'static str {
        "disconnect"
    }
    fn describe(&self) -> String {
        format!("disconnect {} from the lab network", self.target.name())
    }
    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        let node = self.target.get(lab).await?;
        lab.docker()
            .disconnect_network(
                lab.network(),
                NetworkDisconnectRequest {
                    container: node.id.clone(),
                    force: Some(true),
                },
            )
            .await
            .map_err(|e| DockerError::api(format!("disconnect_network {}", node.name), e))?;
        self.done = true;
        if connected(lab, &node.id).await? {
            bail!(
                "`{}` is still on the lab network after disconnect",
                node.name
            );
        }
        Ok(())
    }
    async fn heal(&mut self, lab: &LabCtx) -> Result<()> {
        if !self.done {
            return Ok(());
        }
        let Some(node) = self.target.node().cloned() else {
            return Ok(());
        };
        if !connected(lab, &node.id).await? {
            lab.docker()
                .connect_network(
                    lab.network(),
                    NetworkConnectRequest {
                        container: node.id.clone(),
                        endpoint_config: Some(EndpointSettings {
                            aliases: Some(vec![node.name.clone()]),
                            ..Default::default()
                        }),
                    },
                )
                .await
                .map_err(|e| DockerError::api(format!("connect_network {}", node.name), e))?;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !connected(lab, &node.id).await? {
            if tokio::time::Instant::now() >= deadline {
                bail!("`{}` did not rejoin the lab network", node.name);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        lab.refresh_node(&node).await?;
        self.done = false;
        Ok(())
    }
}
