//! An async client for a Toxiproxy server (its HTTP API on `127.0.0.1:<published 8474>`).
//!
//! One concept, one file: the client of one HTTP API, whose workarounds
//! (below) apply to every call.
//!
//! Built on `toxiproxy_rust` 0.1.6, whose gaps we fill here:
//! - its calls block (reqwest's blocking client, which panics inside a
//!   runtime): one thread per server owns the crate's client for the
//!   handle's life and runs every call (see `Worker`);
//! - it panics on transport errors (`create_toxic`): every call is wrapped
//!   in `catch_unwind`, a panic becomes [`ToxiproxyError::Panicked`];
//! - it ignores HTTP status codes (a second toxic of the same type and
//!   stream is a silent 409): each create is verified with one GET, and
//!   an existing toxic of that name is refused up front, from the proxy
//!   record the crate fetches before it posts;
//! - it has no `reset_peer` toxic and cannot delete one toxic: those go
//!   through our own async reqwest calls, status-checked.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use thiserror::Error;

/// Why a Toxiproxy call failed; each message names the proxy or toxic.
#[derive(Debug, Error)]
pub enum ToxiproxyError {
    /// The server could not be reached.
    #[error("Toxiproxy at {api} is not reachable ({call}): {cause}. Is the toxiproxy fixture running (lab.start(Toxiproxy::new()))?")]
    Unreachable {
        /// The API address.
        api: SocketAddr,
        /// The call.
        call: String,
        /// What failed.
        cause: String,
    },
    /// The server answered with an error status.
    #[error("Toxiproxy {call} answered {status}: {body}")]
    Status {
        /// The call.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: String,
    },
    /// `toxiproxy_rust` reported an error.
    #[error("Toxiproxy {call} failed: {message}")]
    Client {
        /// The call.
        call: String,
        /// Its message.
        message: String,
    },
    /// `toxiproxy_rust` panicked (it does on transport errors); caught.
    #[error("Toxiproxy {call}: the toxiproxy_rust client panicked: {message}")]
    Panicked {
        /// The call.
        call: String,
        /// The panic message.
        message: String,
    },
    /// No proxy of that name.
    #[error("Toxiproxy has no proxy `{0}`: create it first (toxiproxy.route(name, upstream))")]
    NoSuchProxy(String),
    /// A toxic of the same name (type and stream) is already in force.
    #[error("proxy `{proxy}` already has a toxic `{toxic}`: heal it first, or give this one another stream")]
    ToxicExists {
        /// The proxy.
        proxy: String,
        /// The toxic's name.
        toxic: String,
    },
    /// A create or delete did not take effect (verified with a GET).
    #[error("Toxiproxy did not apply {what} on proxy `{proxy}` (verified with GET /proxies/{proxy}/toxics)")]
    NotApplied {
        /// The proxy.
        proxy: String,
        /// What was asked.
        what: String,
    },
    /// Bad input.
    #[error("invalid toxic: {0}")]
    Invalid(String),
}

/// Which direction of a link a toxic acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Client to server.
    Upstream,
    /// Server to client (Toxiproxy's default).
    Downstream,
}

impl Stream {
    /// `upstream` or `downstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// A toxic's type and attributes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToxicKind {
    /// Delays data by `latency` ± `jitter` ms.
    Latency {
        /// Added delay (ms).
        latency_ms: u32,
        /// Random variation (ms).
        jitter_ms: u32,
    },
    /// Limits throughput to `rate` KB/s.
    Bandwidth {
        /// KB/s.
        rate_kbps: u32,
    },
    /// Stops all data and closes the connection after `timeout_ms` (0: never
    /// closes: a black hole).
    Timeout {
        /// ms; 0 holds forever.
        timeout_ms: u32,
    },
    /// Resets the connection (TCP RST) after `timeout_ms`.
    ResetPeer {
        /// ms.
        timeout_ms: u32,
    },
    /// Delays the close by `delay_ms`.
    SlowClose {
        /// ms.
        delay_ms: u32,
    },
    /// Closes the connection after `bytes` bytes.
    LimitData {
        /// Bytes.
        bytes: u32,
    },
    /// Slices data into small packets with a delay between them.
    Slicer {
        /// Average slice size (bytes).
        average_size: u32,
        /// Variation of the size (bytes).
        size_variation: u32,
        /// Delay between slices (µs).
        delay_us: u32,
    },
}

impl ToxicKind {
    /// Toxiproxy's type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::Slicer { .. } => "slicer",
        }
    }

    /// The attributes, as Toxiproxy names them.
    pub fn attributes(&self) -> BTreeMap<String, u32> {
        let pairs: Vec<(&str, u32)> = match *self {
            ToxicKind::Latency {
                latency_ms,
                jitter_ms,
            } => vec![("latency", latency_ms), ("jitter", jitter_ms)],
            ToxicKind::Bandwidth { rate_kbps } => vec![("rate", rate_kbps)],
            ToxicKind::Timeout { timeout_ms } => vec![("timeout", timeout_ms)],
            ToxicKind::ResetPeer { timeout_ms } => vec![("timeout", timeout_ms)],
            ToxicKind::SlowClose { delay_ms } => vec![("delay", delay_ms)],
            ToxicKind::LimitData { bytes } => vec![("bytes", bytes)],
            ToxicKind::Slicer {
                average_size,
                size_variation,
                delay_us,
            } => vec![
                ("average_size", average_size),
                ("size_variation", size_variation),
                ("delay", delay_us),
            ],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// A toxic to add to a proxy: what, which direction, how often.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Toxic {
    /// Type and attributes.
    pub kind: ToxicKind,
    /// Direction.
    pub stream: Stream,
    /// Probability (0..=1) that a connection is affected.
    pub toxicity: f32,
}

impl Toxic {
    /// `kind` on the downstream (server to client), on every connection.
    pub fn new(kind: ToxicKind) -> Self {
        Toxic {
            kind,
            stream: Stream::Downstream,
            toxicity: 1.0,
        }
    }
    /// Latency of `ms` ± `jitter_ms`.
    pub fn latency(ms: u32, jitter_ms: u32) -> Self {
        Self::new(ToxicKind::Latency {
            latency_ms: ms,
            jitter_ms,
        })
    }
    /// Bandwidth limit in KB/s.
    pub fn bandwidth(rate_kbps: u32) -> Self {
        Self::new(ToxicKind::Bandwidth { rate_kbps })
    }
    /// A black hole: data stops, the connection stays open (`timeout 0`).
    pub fn black_hole() -> Self {
        Self::new(ToxicKind::Timeout { timeout_ms: 0 })
    }
    /// Data stops; the connection is closed after `ms`.
    pub fn timeout(ms: u32) -> Self {
        Self::new(ToxicKind::Timeout { timeout_ms: ms })
    }
    /// Connections are reset (RST) after `ms`.
    pub fn reset_peer(ms: u32) -> Self {
        Self::new(ToxicKind::ResetPeer { timeout_ms: ms })
    }
    /// Closes are delayed by `ms`.
    pub fn slow_close(ms: u32) -> Self {
        Self::new(ToxicKind::SlowClose { delay_ms: ms })
    }
    /// Connections close after `bytes`.
    pub fn limit_data(bytes: u32) -> Self {
        Self::new(ToxicKind::LimitData { bytes })
    }
    /// Data is sliced into `average_size` ± `size_variation` byte pieces,
    /// `delay_us` apart.
    pub fn slicer(average_size: u32, size_variation: u32, delay_us: u32) -> Self {
        Self::new(ToxicKind::Slicer {
            average_size,
            size_variation,
            delay_us,
        })
    }
    /// On the upstream (client to server).
    pub fn upstream(mut self) -> Self {
        self.stream = Stream::Upstream;
        self
    }
    /// On the downstream (server to client).
    pub fn downstream(mut self) -> Self {
        self.stream = Stream::Downstream;
        self
    }
    /// Affects a fraction (0..=1) of connections.
    pub fn with_toxicity(mut self, toxicity: f32) -> Self {
        self.toxicity = toxicity;
        self
    }
    /// The name Toxiproxy gives it: `<type>_<stream>` (one per type and
    /// direction on a proxy).
    pub fn name(&self) -> String {
        format!("{}_{}", self.kind.type_name(), self.stream.as_str())
    }

    /// Checks the toxicity is a probability.
    pub fn validate(&self) -> Result<(), ToxiproxyError> {
        if !(0.0..=1.0).contains(&self.toxicity) || self.toxicity.is_nan() {
            return Err(ToxiproxyError::Invalid(format!(
                "toxicity {} is not a probability: use a value in 0.0..=1.0",
                self.toxicity
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for Toxic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let attrs = self
            .kind
            .attributes()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        write!(
            f,
            "{} {} ({attrs})",
            self.kind.type_name(),
            self.stream.as_str()
        )?;
        if self.toxicity < 1.0 {
            write!(f, " toxicity {}", self.toxicity)?;
        }
        Ok(())
    }
}

/// A proxy as the server reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyInfo {
    /// Its name.
    pub name: String,
    /// `host:port` it listens on, inside the toxiproxy container.
    pub listen: String,
    /// `host:port` it forwards to.
    pub upstream: String,
    /// Whether it forwards at all.
    pub enabled: bool,
}

/// A toxic as the server reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToxicInfo {
    /// Its name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `upstream` or `downstream`.
    pub stream: String,
    /// Its toxicity.
    pub toxicity: f32,
    /// Its attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// An async handle to one Toxiproxy server. Cheap to clone: clones share
/// one HTTP client and one `toxiproxy_rust` worker.
#[derive(Clone, Debug)]
pub struct ToxiproxyClient {
    api: SocketAddr,
    http: reqwest::Client,
    worker: Arc<OnceLock<Worker>>,
}

/// A `toxiproxy_rust` call, run on the worker thread with its client;
/// `true` if it panicked.
type Job = Box<dyn FnOnce(&toxiproxy_rust::client::Client) -> bool + Send>;

/// The thread that owns the one `toxiproxy_rust` client of a server: the
/// crate is blocking (a `reqwest::blocking` client, whose creation starts a
/// runtime thread of its own), so it gets one thread for its life and
/// keeps its connection alive, instead of a fresh client and a blocking
/// task per call. The thread ends when the last handle is dropped.
#[derive(Debug)]
struct Worker {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl Worker {
    fn start(api: SocketAddr) -> Worker {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name(format!("toxiproxy-{api}"))
            .spawn(move || {
                let mut client = toxiproxy_rust::client::Client::new(api);
                for job in rx {
                    if job(&client) {
                        // The crate panics holding its client's lock, which
                        // would fail every later call: start afresh.
                        client = toxiproxy_rust::client::Client::new(api);
                    }
                }
            });
        if let Err(e) = spawned {
            // Every call then fails with this as its cause (see `run`).
            tracing::warn!("no toxiproxy client thread: {e}");
        }
        Worker {
            jobs: std::sync::Mutex::new(tx),
        }
    }
}

impl ToxiproxyClient {
    /// A client for the API at `api` (use `127.0.0.1:<published 8474>`).
    pub fn new(api: SocketAddr) -> Self {
        ToxiproxyClient {
            api,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            worker: Arc::default(),
        }
    }

    /// The API address.
    pub fn api(&self) -> SocketAddr {
        self.api
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.api, path.trim_start_matches('/'))
    }

    /// Runs a `toxiproxy_rust` call on the worker thread, with its panics
    /// caught (the crate panics where it could return an error).
    async fn blocking<T, F>(&self, call: &str, f: F) -> Result<T, ToxiproxyError>
    where
        T: Send + 'static,
        F: FnOnce(&toxiproxy_rust::client::Client) -> Result<T, String> + Send + 'static,
    {
        let worker = self.worker.get_or_init(|| Worker::start(self.api));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |client| {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(client)));
            let panicked = out.is_err();
            let _ = tx.send(out);
            panicked
        });
        let queued = worker
            .jobs
            .lock()
            .map_err(|e| e.to_string())
            .and_then(|jobs| jobs.send(job).map_err(|e| e.to_string()));
        let name = call.to_string();
        if let Err(cause) = queued {
            return Err(ToxiproxyError::Client {
                call: name,
                message: format!("the toxiproxy client thread is gone: {cause}"),
            });
        }
        match rx.await {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(message))) => Err(ToxiproxyError::Client {
                call: name,
                message,
            }),
            Ok(Err(payload)) => Err(ToxiproxyError::Panicked {
                call: name,
                message: panic_message(&payload),
            }),
            Err(_) => Err(ToxiproxyError::Client {
                call: name,
                message: "the toxiproxy client thread is gone".into(),
            }),
        }
    }

    async fn send(
        &self,
        call: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ToxiproxyError> {
        let resp = req.send().await.map_err(|e| ToxiproxyError::Unreachable {
            api: self.api,
            call: call.to_string(),
            cause: e.to_string(),
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        Err(ToxiproxyError::Status {
            call: call.to_string(),
            status: status.as_u16(),
            body: body.trim().to_string(),
        })
    }

    /// The server's version (also a liveness probe).
    pub async fn version(&self) -> Result<String, ToxiproxyError> {
        let resp = self
            .send("GET /version", self.http.get(self.url("version")))
            .await?;
        Ok(resp.text().await.unwrap_or_default().trim().to_string())
    }

    /// Every proxy.
    pub async fn proxies(&self) -> Result<BTreeMap<String, ProxyInfo>, ToxiproxyError> {
        let resp = self
            .send("GET /proxies", self.http.get(self.url("proxies")))
            .await?;
        resp.json().await.map_err(|e| ToxiproxyError::Client {
            call: "GET /proxies".into(),
            message: e.to_string(),
        })
    }

    /// One proxy.
    pub async fn proxy(&self, name: &str) -> Result<ProxyInfo, ToxiproxyError> {
        let call = format!("GET /proxies/{name}");
        match self
            .send(&call, self.http.get(self.url(&format!("proxies/{name}"))))
            .await
        {
            Ok(resp) => resp.json().await.map_err(|e| ToxiproxyError::Client {
                call,
                message: e.to_string(),
            }),
            Err(ToxiproxyError::Status { status: 404, .. }) => {
                Err(ToxiproxyError::NoSuchProxy(name.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// Creates (or, if one of that name exists with the same addresses,
    /// keeps) a proxy from `listen` (inside the toxiproxy container, e.g.
    /// `0.0.0.0:20000`) to `upstream` (`node-2:9000`), and verifies it.
    pub async fn create_proxy(
        &self,
        name: &str,
        listen: &str,
        upstream: &str,
    ) -> Result<ProxyInfo, ToxiproxyError> {
        let pack = toxiproxy_rust::proxy::ProxyPack::new(
            name.to_string(),
            listen.to_string(),
            upstream.to_string(),
        );
        // `populate` is idempotent; it changes an existing proxy's addresses.
        self.blocking("POST /populate", move |c| {
            c.populate(vec![pack]).map(|_| ())
        })
        .await?;
        let got = self.proxy(name).await?;
        if got.upstream != upstream {
            return Err(ToxiproxyError::NotApplied {
                proxy: name.into(),
                what: format!("the proxy to {upstream} (it forwards to {})", got.upstream),
            });
        }
        Ok(got)
    }

    /// Deletes a proxy (and its toxics).
    pub async fn delete_proxy(&self, name: &str) -> Result<(), ToxiproxyError> {
        let call = format!("DELETE /proxies/{name}");
        self.send(
            &call,
            self.http.delete(self.url(&format!("proxies/{name}"))),
        )
        .await?;
        Ok(())
    }

    /// Enables or disables a proxy (disabled: connections are refused and
    /// open ones closed).
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), ToxiproxyError> {
        let call = format!("POST /proxies/{name}");
        self.send(
            &call,
            self.http
                .post(self.url(&format!("proxies/{name}")))
                .json(&serde_json::json!({ "enabled": enabled })),
        )
        .await?;
        let got = self.proxy(name).await?;
        if got.enabled != enabled {
            return Err(ToxiproxyError::NotApplied {
                proxy: name.into(),
                what: format!("enabled={enabled}"),
            });
        }
        Ok(())
    }

    /// The toxics in force on a proxy.
    pub async fn toxics(&self, proxy: &str) -> Result<Vec<ToxicInfo>, ToxiproxyError> {
        let call = format!("GET /proxies/{proxy}/toxics");
        let resp = match self
            .send(
                &call,
                self.http.get(self.url(&format!("proxies/{proxy}/toxics"))),
            )
            .await
        {
            Ok(r) => r,
            Err(ToxiproxyError::Status { status: 404, .. }) => {
                return Err(ToxiproxyError::NoSuchProxy(proxy.to_string()))
            }
            Err(e) => return Err(e),
        };
        resp.json().await.map_err(|e| ToxiproxyError::Client {
            call,
            message: e.to_string(),
        })
    }

    /// Adds a toxic to a proxy and verifies the server holds it with the
    /// asked attributes. Refuses a second toxic of the same name.
    pub async fn add_toxic(&self, proxy: &str, toxic: &Toxic) -> Result<ToxicInfo, ToxiproxyError> {
        toxic.validate()?;
        let name = toxic.name();
        let stream = toxic.stream.as_str().to_string();
        let tox = toxic.toxicity;
        let p = proxy.to_string();
        let call = format!("POST /proxies/{proxy}/toxics ({toxic})");
        match toxic.kind.clone() {
            ToxicKind::ResetPeer { .. } => {
                // toxiproxy_rust has no reset_peer: our own request.
                let body = serde_json::json!({
                    "name": name,
                    "type": toxic.kind.type_name(),
                    "stream": stream,
                    "toxicity": tox,
                    "attributes": toxic.kind.attributes(),
                });
                let sent = self
                    .send(
                        &call,
                        self.http
                            .post(self.url(&format!("proxies/{proxy}/toxics")))
                            .json(&body),
                    )
                    .await;
                match sent {
                    Ok(_) => {}
                    Err(ToxiproxyError::Status { status: 409, .. }) => {
                        return Err(ToxiproxyError::ToxicExists {
                            proxy: proxy.into(),
                            toxic: name,
                        })
                    }
                    Err(ToxiproxyError::Status { status: 404, .. }) => {
                        return Err(ToxiproxyError::NoSuchProxy(proxy.into()))
                    }
                    Err(e) => return Err(e),
                }
            }
            kind => {
                let named = name.clone();
                let added = self.blocking(&call, move |c| {
                    let px = c.find_proxy(&p)?;
                    // The proxy's own record says whether the name is taken:
                    // no second request for it.
                    if px.proxy_pack.toxics.iter().any(|t| t.name == named) {
                        return Ok(false);
                    }
                    match kind {
                        ToxicKind::Latency {
                            latency_ms,
                            jitter_ms,
                        } => px.with_latency(stream, latency_ms, jitter_ms, tox),
                        ToxicKind::Bandwidth { rate_kbps } => {
                            px.with_bandwidth(stream, rate_kbps, tox)
                        }
                        ToxicKind::Timeout { timeout_ms } => {
                            px.with_timeout(stream, timeout_ms, tox)
                        }
                        ToxicKind::SlowClose { delay_ms } => {
                            px.with_slow_close(stream, delay_ms, tox)
                        }
                        ToxicKind::LimitData { bytes } => px.with_limit_data(stream, bytes, tox),
                        ToxicKind::Slicer {
                            average_size,
                            size_variation,
                            delay_us,
                        } => px.with_slicer(stream, average_size, size_variation, delay_us, tox),
                        ToxicKind::ResetPeer { .. } => unreachable!("handled above"),
                    };
                    Ok(true)
                });
                match added.await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(ToxiproxyError::ToxicExists {
                            proxy: proxy.into(),
                            toxic: name,
                        })
                    }
                    // The crate reads a missing proxy as a body it cannot
                    // parse, and a dead server as a string: say which.
                    Err(e) => {
                        return Err(match self.proxy(proxy).await {
                            Err(
                                known @ (ToxiproxyError::NoSuchProxy(_)
                                | ToxiproxyError::Unreachable { .. }),
                            ) => known,
                            _ => e,
                        })
                    }
                }
            }
        }
        // The crate ignores status codes: the GET is the proof.
        let held = self
            .toxics(proxy)
            .await?
            .into_iter()
            .find(|t| t.name == name);
        match held {
            Some(t) if attributes_match(&t, toxic) => Ok(t),
            Some(t) => Err(ToxiproxyError::NotApplied {
                proxy: proxy.into(),
                what: format!("{toxic} (the server holds {:?})", t.attributes),
            }),
            None => Err(ToxiproxyError::NotApplied {
                proxy: proxy.into(),
                what: toxic.to_string(),
            }),
        }
    }

    /// Removes one toxic (a missing toxic is not an error: the goal is that
    /// it is not in force).
    pub async fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ToxiproxyError> {
        let call = format!("DELETE /proxies/{proxy}/toxics/{name}");
        match self
            .send(
                &call,
                self.http
                    .delete(self.url(&format!("proxies/{proxy}/toxics/{name}"))),
            )
            .await
        {
            // Toxiproxy answers 204 once the toxic is out of every link's
            // chain (the handler returns after the removal): no GET to
            // confirm it. 404: not in force either.
            Ok(_) | Err(ToxiproxyError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes every toxic and re-enables every proxy (`POST /reset`).
    pub async fn reset(&self) -> Result<(), ToxiproxyError> {
        self.send("POST /reset", self.http.post(self.url("reset")))
            .await?;
        Ok(())
    }
}

fn attributes_match(held: &ToxicInfo, asked: &Toxic) -> bool {
    held.kind == asked.kind.type_name()
        && held.stream == asked.stream.as_str()
        && (held.toxicity - asked.toxicity).abs() < 1e-3
        && asked
            .kind
            .attributes()
            .iter()
            .all(|(k, v)| held.attributes.get(k).and_then(|x| x.as_u64()) == Some(*v as u64))
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toxics_are_named_by_type_and_stream() {
        assert_eq!(Toxic::latency(100, 10).name(), "latency_downstream");
        assert_eq!(
            Toxic::reset_peer(0).upstream().name(),
            "reset_peer_upstream"
        );
        assert_eq!(
            Toxic::slicer(10, 2, 50).kind.attributes()["delay"],
            50,
            "slicer delay is in microseconds"
        );
    }

    /// The crate's calls share one worker thread: a call that panics
    /// comes back as `Panicked` (the crate panics on transport errors),
    /// and the next call still runs, on a fresh crate client.
    #[tokio::test]
    async fn a_panicking_call_is_caught_and_the_worker_goes_on() {
        let c = ToxiproxyClient::new("127.0.0.1:9".parse().unwrap());
        let boom = c
            .blocking("boom", |_| -> Result<(), String> { panic!("crate panic") })
            .await;
        assert!(
            matches!(&boom, Err(ToxiproxyError::Panicked { message, .. }) if message == "crate panic"),
            "{boom:?}"
        );
        let clone = c.clone();
        assert_eq!(clone.blocking("after", |_| Ok(7)).await.unwrap(), 7);
        let err = c.blocking("fails", |_| Err::<(), _>("no".into())).await;
        assert!(matches!(err, Err(ToxiproxyError::Client { .. })), "{err:?}");
    }

    /// Nothing listens on the discard port: the add is refused in one
    /// error, not a hang, and names the server as unreachable.
    #[tokio::test]
    async fn an_unreachable_server_is_an_error_not_a_hang() {
        let c = ToxiproxyClient::new("127.0.0.1:9".parse().unwrap());
        let t = std::time::Instant::now();
        let r = c.add_toxic("p", &Toxic::latency(10, 0)).await;
        assert!(
            matches!(r, Err(ToxiproxyError::Unreachable { .. })),
            "{r:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }

    #[test]
    fn toxicity_must_be_a_probability() {
        assert!(Toxic::latency(1, 0).with_toxicity(1.5).validate().is_err());
        assert!(Toxic::latency(1, 0).with_toxicity(0.5).validate().is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_a_typed_error_not_a_panic() {
        // Port 1 on loopback: nothing listens. toxiproxy_rust panics on
        // this transport error; we must turn that into an error.
        let tp = ToxiproxyClient::new("127.0.0.1:1".parse().unwrap());
        let e = tp
            .create_proxy("p", "0.0.0.0:20000", "x:1")
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ToxiproxyError::Client { .. } | ToxiproxyError::Panicked { .. }
            ),
            "{e:?}"
        );
        let e = tp.toxics("p").await.unwrap_err();
        assert!(matches!(e, ToxiproxyError::Unreachable { .. }), "{e:?}");
    }
}
