//! Membership: which connection nodes exist and are healthy. The Consul
//! implementation registers each node as a service with an HTTP health
//! check and watches the passing instances; the static one serves a fixed
//! seed list (tests without Consul).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// The Consul service name nodes register under.
pub const SERVICE: &str = "chat-node";

/// One connection node as membership knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The node's name (unique).
    pub name: String,
    /// Where peers send RPCs (`host:port`; may be a proxy in front of the node).
    pub rpc_addr: String,
    /// The node's admin/metrics HTTP address (`host:port`).
    pub http_addr: String,
    /// The node's client-facing WebSocket address on the lab network.
    pub ws_addr: String,
}

/// A source of membership.
#[async_trait::async_trait]
pub trait Membership: Send + Sync {
    /// Announces `me` (no-op for a static list).
    async fn register(&self, me: &Member) -> Result<()>;
    /// The healthy members now: where clients may be sent.
    async fn members(&self) -> Result<Vec<Member>>;
    /// Every registered member, healthy or not: where room traffic must be
    /// offered. A failing health check says a node may be unhealthy, not
    /// that its clients are gone; a node that skips it acknowledges sends
    /// its members never get (see [`crate::peers`]).
    async fn registered(&self) -> Result<Vec<Member>> {
        self.members().await
    }
}

/// A fixed seed list.
pub struct StaticMembership(pub Vec<Member>);

#[async_trait::async_trait]
impl Membership for StaticMembership {
    async fn register(&self, _me: &Member) -> Result<()> {
        Ok(())
    }
    async fn members(&self) -> Result<Vec<Member>> {
        Ok(self.0.clone())
    }
}

/// Consul's agent and health APIs.
pub struct ConsulMembership {
    base: String,
    http: reqwest::Client,
}

impl ConsulMembership {
    /// Talks to the Consul agent at `addr` (`host:port`).
    pub fn new(addr: &str) -> Self {
        ConsulMembership {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()
                .expect("an HTTP client"),
        }
    }
}

#[derive(Deserialize)]
struct HealthEntry {
    #[serde(rename = "Service")]
    service: ServiceEntry,
}

#[derive(Deserialize)]
struct ServiceEntry {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Meta", default)]
    meta: HashMap<String, String>,
}

/// Parses Consul's `/v1/health/service/<name>` answer into members.
pub fn parse_health(body: &str) -> Result<Vec<Member>> {
    let entries: Vec<HealthEntry> =
        serde_json::from_str(body).context("parsing Consul's health answer")?;
    let mut out: Vec<Member> = entries
        .into_iter()
        .filter_map(|e| {
            let m = &e.service.meta;
            Some(Member {
                name: e.service.id.clone(),
                rpc_addr: m.get("rpc")?.clone(),
                http_addr: m.get("http")?.clone(),
                ws_addr: m.get("ws")?.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[async_trait::async_trait]
impl Membership for ConsulMembership {
    async fn register(&self, me: &Member) -> Result<()> {
        let body = serde_json::json!({
            "ID": me.name,
            "Name": SERVICE,
            "Meta": { "rpc": me.rpc_addr, "http": me.http_addr, "ws": me.ws_addr },
            "Check": {
                "HTTP": format!("http://{}/health", me.http_addr),
                "Interval": "1s",
                "Timeout": "1s",
                "DeregisterCriticalServiceAfter": "1m"
            }
        });
        let r = self
            .http
            .put(format!("{}/v1/agent/service/register", self.base))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("registering {} with Consul at {}", me.name, self.base))?;
        if !r.status().is_success() {
            bail!(
                "Consul refused the registration of {}: {} {}",
                me.name,
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn members(&self) -> Result<Vec<Member>> {
        self.health("?passing=true").await
    }

    async fn registered(&self) -> Result<Vec<Member>> {
        self.health("").await
    }
}

impl ConsulMembership {
    /// `/v1/health/service/<SERVICE><query>`, parsed.
    async fn health(&self, query: &str) -> Result<Vec<Member>> {
        let r = self
            .http
            .get(format!("{}/v1/health/service/{SERVICE}{query}", self.base))
            .send()
            .await
            .with_context(|| format!("asking Consul at {} for members", self.base))?;
        if !r.status().is_success() {
            bail!(
                "Consul at {} answered {} for members",
                self.base,
                r.status()
            );
        }
        parse_health(&r.text().await?)
    }
}

/// Builds membership from a command-line value: `consul:<host:port>`, or
/// `static:<name>=<rpc>|<http>|<ws>,...`.
pub fn from_spec(spec: &str) -> Result<Box<dyn Membership>> {
    if let Some(addr) = spec.strip_prefix("consul:") {
        return Ok(Box::new(ConsulMembership::new(addr)));
    }
    if let Some(list) = spec.strip_prefix("static:") {
        let mut members = Vec::new();
        for item in list.split(',').filter(|s| !s.is_empty()) {
            let (name, addrs) = item
                .split_once('=')
                .with_context(|| format!("`{item}`: expected name=rpc|http|ws"))?;
            let parts: Vec<&str> = addrs.split('|').collect();
            let [rpc, http, ws] = parts[..] else {
                bail!("`{item}`: expected name=rpc|http|ws (three addresses)");
            };
            members.push(Member {
                name: name.into(),
                rpc_addr: rpc.into(),
                http_addr: http.into(),
                ws_addr: ws.into(),
            });
        }
        return Ok(Box::new(StaticMembership(members)));
    }
    bail!("membership `{spec}`: use `consul:HOST:PORT` or `static:name=rpc|http|ws,...`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_consul_health() {
        let body = r#"[{"Node":{"Node":"c"},"Service":{"ID":"node-2","Service":"chat-node","Meta":{"rpc":"toxiproxy:21002","http":"node-2:8080","ws":"node-2:8443"}},"Checks":[]},
                      {"Service":{"ID":"node-1","Meta":{"rpc":"node-1:9000","http":"node-1:8080","ws":"node-1:8443"}}},
                      {"Service":{"ID":"odd","Meta":{}}}]"#;
        let m = parse_health(body).unwrap();
        assert_eq!(m.len(), 2, "entries without our metadata are ignored");
        assert_eq!(m[0].name, "node-1");
        assert_eq!(m[1].rpc_addr, "toxiproxy:21002");
    }

    #[tokio::test]
    async fn static_specs_parse_and_bad_ones_say_why() {
        let m = from_spec("static:a=a:1|a:2|a:3,b=b:1|b:2|b:3").unwrap();
        assert_eq!(m.members().await.unwrap().len(), 2);
        let err = from_spec("zk:1").err().unwrap().to_string();
        assert!(err.contains("consul:HOST:PORT"), "{err}");
        assert!(from_spec("static:a=1|2").is_err());
    }
}
