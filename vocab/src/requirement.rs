//! What an incident can require: the names of `requires = [...]`.

use serde::{Deserialize, Serialize};

/// A system an incident needs; without it the incident skips with a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// A reachable Docker Engine.
    Docker,
    /// The `incident/base` image (local build).
    Base,
    /// A Toxiproxy image.
    Toxiproxy,
    /// A Consul image (current version).
    Consul,
    /// The pre-fix Consul image of the Roblox era.
    ConsulLegacy,
    /// A MongoDB image: cannot be built offline, see `incident doctor`.
    Mongo,
    /// The chat gateway image built from this workspace.
    ChatGateway,
    /// Debian's Chromium, for the report page test.
    Chromium,
}

impl Requirement {
    /// Every requirement, in the order `requires = [...]` documents them.
    pub const ALL: &'static [Requirement] = &[
        Requirement::Docker,
        Requirement::Base,
        Requirement::Toxiproxy,
        Requirement::Consul,
        Requirement::ConsulLegacy,
        Requirement::Mongo,
        Requirement::ChatGateway,
        Requirement::Chromium,
    ];

    /// What every incident requires, whether or not `requires` names it.
    pub const IMPLIED: &'static [Requirement] = &[Requirement::Docker, Requirement::Base];

    /// The name written in `requires = [...]` (and in a dossier's TOML).
    pub fn as_str(self) -> &'static str {
        match self {
            Requirement::Docker => "docker",
            Requirement::Base => "base",
            Requirement::Toxiproxy => "toxiproxy",
            Requirement::Consul => "consul",
            Requirement::ConsulLegacy => "consul_legacy",
            Requirement::Mongo => "mongo",
            Requirement::ChatGateway => "chat_gateway",
            Requirement::Chromium => "chromium",
        }
    }

    /// The requirement written `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Requirement> {
        Requirement::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == name)
    }

    /// The variant's name, as the code `#[incident]` generates spells it
    /// (`ConsulLegacy`).
    pub fn ident(self) -> &'static str {
        match self {
            Requirement::Docker => "Docker",
            Requirement::Base => "Base",
            Requirement::Toxiproxy => "Toxiproxy",
            Requirement::Consul => "Consul",
            Requirement::ConsulLegacy => "ConsulLegacy",
            Requirement::Mongo => "Mongo",
            Requirement::ChatGateway => "ChatGateway",
            Requirement::Chromium => "Chromium",
        }
    }

    /// Whether this system can be provided on the project's own machines
    /// (so `INCIDENT_REQUIRE_DOCKER=1` turns its absence into a failure).
    /// MongoDB cannot: it is required only under `INCIDENT_REQUIRE_MONGO=1`.
    pub fn buildable_here(self) -> bool {
        !matches!(self, Requirement::Mongo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_idents_and_serde_agree() {
        for r in Requirement::ALL {
            assert_eq!(r.ident(), format!("{r:?}"));
            assert_eq!(Requirement::from_name(r.as_str()), Some(*r));
        }
        assert_eq!(Requirement::from_name("redis"), None);
    }
}
