//! The images incidents run on, and how a reference is chosen for each.
//!
//! Resolution, for every fixture: `INCIDENT_IMAGE_<NAME>` override, else
//! the local build (`incident/...`, made offline by `incident images
//! build`) when present, else the official image. MongoDB has no local
//! build: it cannot be obtained on the project's machines.

pub mod build;
pub mod consul;
pub mod go;
pub mod inputs;

use bollard::Docker;
use serde::{Deserialize, Serialize};

/// An image the suite knows how to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum ImageId {
    /// Debian bookworm minbase with bash, iproute2, iptables, procps.
    Base,
    /// What fault sidecars and hogs need (built on the base).
    Toolbox,
    /// The Toxiproxy server.
    Toxiproxy,
    /// Consul, current version.
    Consul,
    /// Consul of the Roblox era (before the streaming and freelist fixes).
    ConsulLegacy,
    /// MongoDB (official image only).
    Mongo,
    /// The chat gateway from this workspace.
    ChatGateway,
}

/// Toxiproxy version built and pulled.
pub const TOXIPROXY_VERSION: &str = "2.12.0";
/// The current Consul version.
pub const CONSUL_VERSION: &str = "1.22.6";
/// The pre-fix Consul version of the Roblox era.
pub const CONSUL_LEGACY_VERSION: &str = "1.10.12";
/// The MongoDB image users pull.
pub const MONGO_OFFICIAL: &str = "mongo:7.0";

impl ImageId {
    /// Every image, in build order.
    pub const ALL: &'static [ImageId] = &[
        ImageId::Base,
        ImageId::Toolbox,
        ImageId::Toxiproxy,
        ImageId::Consul,
        ImageId::ConsulLegacy,
        ImageId::ChatGateway,
        ImageId::Mongo,
    ];

    /// The short name (`consul-legacy`), as in `--only NAME`.
    pub fn name(self) -> &'static str {
        match self {
            ImageId::Base => "base",
            ImageId::Toolbox => "toolbox",
            ImageId::Toxiproxy => "toxiproxy",
            ImageId::Consul => "consul",
            ImageId::ConsulLegacy => "consul-legacy",
            ImageId::Mongo => "mongo",
            ImageId::ChatGateway => "chat-gateway",
        }
    }

    /// Parses a short name.
    pub fn from_name(name: &str) -> Option<ImageId> {
        ImageId::ALL.iter().copied().find(|i| i.name() == name)
    }

    /// The override variable, e.g. `INCIDENT_IMAGE_CONSUL_LEGACY`.
    pub fn env_var(self) -> String {
        format!(
            "INCIDENT_IMAGE_{}",
            self.name().to_ascii_uppercase().replace('-', "_")
        )
    }

    /// The local build's reference, if we can build this image offline.
    pub fn local(self) -> Option<String> {
        match self {
            ImageId::Base => Some("incident/base:bookworm".into()),
            ImageId::Toolbox => Some("incident/toolbox:bookworm".into()),
            ImageId::Toxiproxy => Some(format!("incident/toxiproxy:{TOXIPROXY_VERSION}")),
            ImageId::Consul => Some(format!("incident/consul:{CONSUL_VERSION}")),
            ImageId::ConsulLegacy => Some(format!("incident/consul:{CONSUL_LEGACY_VERSION}")),
            ImageId::ChatGateway => Some(format!(
                "incident/chat-gateway:{}",
                env!("CARGO_PKG_VERSION")
            )),
            ImageId::Mongo => None,
        }
    }

    /// The official image users pull, if there is one.
    pub fn official(self) -> Option<String> {
        match self {
            ImageId::Toxiproxy => Some(format!("ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION}")),
            ImageId::Consul => Some(format!("hashicorp/consul:{CONSUL_VERSION}")),
            ImageId::ConsulLegacy => Some(format!("hashicorp/consul:{CONSUL_LEGACY_VERSION}")),
            ImageId::Mongo => Some(MONGO_OFFICIAL.into()),
            ImageId::Base | ImageId::Toolbox | ImageId::ChatGateway => None,
        }
    }

    /// How to get this image when it is missing, in one line.
    pub fn fix(self) -> String {
        let build = format!(
            "cargo run -p harness --bin incident -- images build --only {}",
            self.name()
        );
        match self {
            ImageId::Mongo => format!(
                "MongoDB cannot be built offline: `docker pull {MONGO_OFFICIAL}` where a registry is reachable (or `docker load` it), or set {} to an image you have",
                self.env_var()
            ),
            _ => match self.official() {
                Some(off) => format!("run `{build}`, or `docker pull {off}`, or set {}", self.env_var()),
                None => format!("run `{build}`"),
            },
        }
    }
}

/// Where a resolved reference came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `INCIDENT_IMAGE_<NAME>`.
    Override,
    /// Built locally by `incident images build`.
    Local,
    /// The official image.
    Official,
}

/// A resolved image reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// Which image.
    pub id: ImageId,
    /// The reference to run.
    pub reference: String,
    /// Where it came from.
    pub source: Source,
    /// Whether Docker has it.
    pub present: bool,
    /// Its image id (`sha256:...`), when present.
    pub digest: Option<String>,
    /// Its size in bytes, when present.
    pub size: Option<i64>,
}

/// An image reference as name and tag: the tag follows the last `:` after
/// the last `/` (a registry's port is not a tag), `latest` when there is
/// none (testcontainers takes the two apart).
pub fn split_reference(reference: &str) -> (&str, &str) {
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

impl ImageId {
    /// When `reference` (this image's override) is another release than
    /// the one the variant is written for (the local build's tag), says
    /// which, e.g. `consul-legacy at 1.22.6 (its own: 1.10.12)`: what
    /// `incident bisect` runs. The same release under another name (the
    /// official `hashicorp/consul:1.10.12`) is the variant's own.
    pub fn other_release(self, reference: &str) -> Option<String> {
        let own = self.local()?;
        let (_, own_tag) = split_reference(&own);
        let (_, tag) = split_reference(reference);
        (tag != own_tag).then(|| format!("{} at {tag} (its own: {own_tag})", self.name()))
    }
}

/// Resolves `id` against what Docker holds (override > local > official).
pub async fn resolve(docker: &Docker, id: ImageId) -> Resolved {
    if let Ok(over) = std::env::var(id.env_var()) {
        if !over.trim().is_empty() {
            return probe(docker, id, over, Source::Override).await;
        }
    }
    if let Some(local) = id.local() {
        let r = probe(docker, id, local, Source::Local).await;
        if r.present {
            return r;
        }
        if let Some(off) = id.official() {
            let o = probe(docker, id, off, Source::Official).await;
            if o.present {
                return o;
            }
        }
        return r;
    }
    let off = id
        .official()
        .expect("an image with neither a local build nor an official one");
    probe(docker, id, off, Source::Official).await
}

async fn probe(docker: &Docker, id: ImageId, reference: String, source: Source) -> Resolved {
    match docker.inspect_image(&reference).await {
        Ok(info) => Resolved {
            id,
            reference,
            source,
            present: true,
            digest: info.id,
            size: info.size,
        },
        Err(_) => Resolved {
            id,
            reference,
            source,
            present: false,
            digest: None,
            size: None,
        },
    }
}

/// Resolves `id` and fails with the one-line fix if it is missing.
pub async fn require(docker: &Docker, id: ImageId) -> anyhow::Result<String> {
    let r = resolve(docker, id).await;
    if r.present {
        Ok(r.reference)
    } else {
        anyhow::bail!("image `{}` is not present: {}", r.reference, id.fix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_env_vars_are_shouty() {
        for id in ImageId::ALL {
            assert_eq!(ImageId::from_name(id.name()), Some(*id));
        }
        assert_eq!(
            ImageId::ConsulLegacy.env_var(),
            "INCIDENT_IMAGE_CONSUL_LEGACY"
        );
        assert_eq!(
            ImageId::ChatGateway.env_var(),
            "INCIDENT_IMAGE_CHAT_GATEWAY"
        );
    }

    #[test]
    fn mongo_has_no_local_build_and_says_how_to_get_it() {
        assert!(ImageId::Mongo.local().is_none());
        assert!(ImageId::Mongo.fix().contains("docker pull mongo:7.0"));
        assert!(ImageId::Mongo.fix().contains("INCIDENT_IMAGE_MONGO"));
        assert!(ImageId::Consul.fix().contains("images build --only consul"));
    }

    #[test]
    fn image_references_split_into_testcontainers_name_and_tag() {
        assert_eq!(
            split_reference("incident/consul:1.22.6"),
            ("incident/consul", "1.22.6")
        );
        assert_eq!(split_reference("debian"), ("debian", "latest"));
        assert_eq!(
            split_reference("localhost:5000/gateway"),
            ("localhost:5000/gateway", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/gateway:0.1.0"),
            ("localhost:5000/gateway", "0.1.0")
        );
    }

    /// A bisected release is another release than the variant's own; the
    /// same release under the official name, or no tag change, is not.
    #[test]
    fn an_override_to_another_release_is_named() {
        let legacy = ImageId::ConsulLegacy;
        assert_eq!(
            legacy.other_release("incident/consul:1.22.6").as_deref(),
            Some("consul-legacy at 1.22.6 (its own: 1.10.12)")
        );
        assert_eq!(legacy.other_release("hashicorp/consul:1.10.12"), None);
        assert_eq!(legacy.other_release("incident/consul:1.10.12"), None);
        assert!(ImageId::Consul
            .other_release("localhost:5000/consul")
            .is_some());
        assert_eq!(ImageId::Mongo.other_release("mongo:6.0"), None);
    }
}
