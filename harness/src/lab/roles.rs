//! Roles a fixture resolves to a node when a fault is injected
//! (`Role::Leader` of a Consul cluster, `Role::Primary` of a replica set).
//!
//! They live with the lab, which keeps each fixture's resolver, so the
//! faults above can aim at a role without the lab knowing any fault.

use super::{lock, LabCtx, Node};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A role a fixture can resolve to a node at inject time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The Raft leader (Consul).
    Leader,
    /// The replica-set primary (MongoDB); with a set name for sharded clusters.
    Primary(Option<String>),
    /// Any node that is not the leader/primary.
    Follower,
    /// A fixture-specific role (`router`, `hot-shard-primary`).
    Named(String),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Leader => f.write_str("leader"),
            Role::Primary(None) => f.write_str("primary"),
            Role::Primary(Some(set)) => write!(f, "primary of {set}"),
            Role::Follower => f.write_str("follower"),
            Role::Named(n) => f.write_str(n),
        }
    }
}

/// Implemented by fixtures that know which node holds a role.
#[async_trait::async_trait]
pub trait RoleResolver: Send + Sync {
    /// The node holding `role` now, `Ok(None)` if this fixture does not
    /// know the role, or an error if it should but cannot tell.
    async fn resolve(&self, lab: &LabCtx, role: &Role) -> Result<Option<Node>>;

    /// Every node holding `role` now, preferred first (`Role::Follower`:
    /// each follower), for faults that name a role more than once. The
    /// default is [`RoleResolver::resolve`]'s one node.
    async fn holders(&self, lab: &LabCtx, role: &Role) -> Result<Option<Vec<Node>>> {
        Ok(self.resolve(lab, role).await?.map(|n| vec![n]))
    }
}

impl LabCtx {
    /// Registers a fixture's role resolver (`Role::Leader`, `Role::Primary`).
    pub fn register_roles(&self, resolver: Arc<dyn RoleResolver>) {
        lock(&self.inner.roles).push(resolver);
    }

    /// The registered role resolvers.
    pub fn role_resolvers(&self) -> Vec<Arc<dyn RoleResolver>> {
        lock(&self.inner.roles).clone()
    }
}
