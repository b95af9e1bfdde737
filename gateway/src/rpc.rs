//! Inter-node RPC: one link per peer, with its own queue, timeouts, a
//! backlog policy and a circuit breaker (eviction), all set by
//! [`Switches`].
//!
//! A link keeps one TCP connection to its peer; calls are written in
//! order and replies matched by request id. In the 2015 configuration a
//! call to a black-holed peer waits forever and its request stays in
//! memory: the backlog grows with the traffic, as it did that morning.
//!
//! The fixed timeout is on the link's *progress*: a call fails when no
//! reply to any call has arrived for [`Switches::rpc_timeout`]. A peer that
//! is slow but answering (a saturated dispatch queue, weibo_2017) is waited
//! for; only a silent one (black-holed, stopped) fails and is evicted. A
//! per-call timeout cannot tell the two apart, and named a live peer
//! undeliverable for every send until its breaker closed again.

use crate::protocol::{decode, encode, RpcFrame, RpcRequest};
use crate::switches::{Backlog, Switches};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Why a call did not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The per-peer backlog is full: failed fast without queueing.
    #[error("backlog to {0} is full")]
    BacklogFull(String),
    /// The peer is evicted (circuit open).
    #[error("{0} is evicted")]
    Evicted(String),
    /// No reply within the timeout.
    #[error("call to {0} timed out")]
    Timeout(String),
    /// The connection broke with the call in flight.
    #[error("connection to {0} lost")]
    Disconnected(String),
}

type Reply = oneshot::Sender<Result<u32, RpcError>>;
type PendingMap = Arc<Mutex<HashMap<u64, (RpcRequest, Reply)>>>;

/// Counters of one link, as the metrics endpoint shows them.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinkStats {
    /// Calls queued or in flight now.
    pub pending: u64,
    /// Calls answered.
    pub ok: u64,
    /// Calls that failed (any reason).
    pub failed: u64,
    /// Calls refused without being sent (full backlog or evicted).
    pub fast_failed: u64,
    /// Whether the circuit is open now.
    pub evicted: bool,
    /// How many times the peer was evicted.
    pub evictions: u64,
}

/// However much the link progresses, a call waits at most this long: a
/// request the peer answers for others but never for this one (it went
/// missing) must not hold its memory forever.
pub const MAX_CALL_WAIT: Duration = Duration::from_secs(30);

/// When the link last heard a reply, as nanoseconds since the link began.
#[derive(Debug)]
struct Progress {
    epoch: Instant,
    last_reply_ns: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Progress {
            epoch: Instant::now(),
            last_reply_ns: AtomicU64::new(0),
        }
    }

    fn heard(&self) {
        let ns = self.epoch.elapsed().as_nanos() as u64;
        self.last_reply_ns.fetch_max(ns, Ordering::Relaxed);
    }

    fn last_reply(&self) -> Instant {
        self.epoch + Duration::from_nanos(self.last_reply_ns.load(Ordering::Relaxed))
    }
}

/// One peer: its queue, pending calls and breaker.
pub struct PeerLink {
    /// The peer's node name.
    pub name: String,
    switches: Switches,
    queue: mpsc::UnboundedSender<(u64, RpcRequest, Reply)>,
    pending_map: PendingMap,
    progress: Arc<Progress>,
    next_rid: AtomicU64,
    pending: AtomicUsize,
    consecutive_failures: AtomicU32,
    evicted_until: Mutex<Option<Instant>>,
    ok: AtomicU64,
    failed: AtomicU64,
    fast_failed: AtomicU64,
    evictions: AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PeerLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct PendingGuard<'a>(&'a AtomicUsize);
impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PeerLink {
    /// A link to `name` at `addr` (`host:port`), connecting in the background.
    pub fn new(name: &str, addr: &str, switches: Switches) -> Arc<PeerLink> {
        let (tx, rx) = mpsc::unbounded_channel();
        let pending_map: PendingMap = Arc::default();
        let progress = Arc::new(Progress::new());
        let task = tokio::spawn(run_link(
            name.to_string(),
            addr.to_string(),
            rx,
            pending_map.clone(),
            progress.clone(),
        ));
        Arc::new(PeerLink {
            name: name.to_string(),
            switches,
            queue: tx,
            pending_map,
            progress,
            next_rid: AtomicU64::new(1),
            pending: AtomicUsize::new(0),
            consecutive_failures: AtomicU32::new(0),
            evicted_until: Mutex::new(None),
            ok: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            fast_failed: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            task,
        })
    }

    /// Whether the circuit is open now.
    pub fn is_evicted(&self) -> bool {
        matches!(*self.evicted_until.lock().unwrap(), Some(t) if Instant::now() < t)
    }

    /// Calls queued or in flight.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// The link's counters.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            pending: self.pending() as u64,
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            fast_failed: self.fast_failed.load(Ordering::Relaxed),
            evicted: self.is_evicted(),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    /// Calls the peer, applying backlog, timeout and eviction switches.
    pub async fn call(&self, req: RpcRequest) -> Result<u32, RpcError> {
        if self.is_evicted() {
            self.fast_failed.fetch_add(1, Ordering::Relaxed);
            self.failed.fetch_add(1, Ordering::Relaxed);
            return Err(RpcError::Evicted(self.name.clone()));
        }
        if let Backlog::Bounded(limit) = self.switches.backlog {
            if self.pending() >= limit {
                self.fast_failed.fetch_add(1, Ordering::Relaxed);
                self.record_failure();
                return Err(RpcError::BacklogFull(self.name.clone()));
            }
        }
        self.pending.fetch_add(1, Ordering::Relaxed);
        let _guard = PendingGuard(&self.pending);
        let rid = self.next_rid.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if self.queue.send((rid, req, tx)).is_err() {
            self.record_failure();
            return Err(RpcError::Disconnected(self.name.clone()));
        }
        let outcome = match self.switches.rpc_timeout {
            None => rx
                .await
                .unwrap_or_else(|_| Err(RpcError::Disconnected(self.name.clone()))),
            Some(limit) => match self.wait_while_progressing(rx, limit).await {
                Some(r) => r.unwrap_or_else(|_| Err(RpcError::Disconnected(self.name.clone()))),
                None => {
                    // Forget the request: a timed-out call must not stay in memory.
                    self.pending_map.lock().unwrap().remove(&rid);
                    Err(RpcError::Timeout(self.name.clone()))
                }
            },
        };
        match &outcome {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                self.consecutive_failures.store(0, Ordering::Relaxed);
            }
            Err(_) => self.record_failure(),
        }
        outcome
    }

    /// Waits for the reply while the link keeps answering: `None` once no
    /// reply to any call arrived for `silence` since this call began (or
    /// after [`MAX_CALL_WAIT`]).
    async fn wait_while_progressing(
        &self,
        mut rx: oneshot::Receiver<Result<u32, RpcError>>,
        silence: Duration,
    ) -> Option<Result<Result<u32, RpcError>, oneshot::error::RecvError>> {
        let start = Instant::now();
        let cap = tokio::time::Instant::from_std(start + MAX_CALL_WAIT);
        loop {
            let heard = self.progress.last_reply().max(start);
            let deadline = tokio::time::Instant::from_std(heard + silence).min(cap);
            match tokio::time::timeout_at(deadline, &mut rx).await {
                Ok(r) => return Some(r),
                Err(_) if deadline == cap => return None,
                Err(_) if self.progress.last_reply().max(start) + silence <= Instant::now() => {
                    return None
                }
                Err(_) => continue,
            }
        }
    }

    fn record_failure(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let n = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(limit) = self.switches.evict_after {
            if n >= limit {
                let mut until = self.evicted_until.lock().unwrap();
                let open = matches!(*until, Some(t) if Instant::now() < t);
                if !open {
                    *until = Some(Instant::now() + self.switches.evict_for);
                    self.evictions.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(peer = %self.name, failures = n, "peer evicted");
                }
            }
        }
    }
}

/// Keeps one connection to the peer: writes queued calls, matches replies,
/// reconnects after a failure (failing what was in flight).
async fn run_link(
    name: String,
    addr: String,
    mut queue: mpsc::UnboundedReceiver<(u64, RpcRequest, Reply)>,
    pending: PendingMap,
    progress: Arc<Progress>,
) {
    loop {
        let stream =
            match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&addr)).await {
                Ok(Ok(s)) => s,
                _ => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
        let _ = stream.set_nodelay(true);
        let framed = Framed::new(stream, LengthDelimitedCodec::new());
        let (mut sink, mut source) = framed.split();
        let reader_pending = pending.clone();
        let reader_progress = progress.clone();
        let mut reader = tokio::spawn(async move {
            while let Some(Ok(bytes)) = source.next().await {
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    break;
                };
                if let Ok(RpcFrame::Reply { rid, delivered }) = decode::<RpcFrame>(text) {
                    reader_progress.heard();
                    if let Some((_, reply)) = reader_pending.lock().unwrap().remove(&rid) {
                        let _ = reply.send(Ok(delivered));
                    }
                }
            }
        });
        loop {
            tokio::select! {
                next = queue.recv() => {
                    let Some((rid, req, reply)) = next else { reader.abort(); return };
                    if reply.is_closed() {
                        continue;
                    }
                    let frame = encode(&RpcFrame::Call { rid, req: req.clone() });
                    pending.lock().unwrap().insert(rid, (req, reply));
                    if sink.send(Bytes::from(frame)).await.is_err() {
                        break;
                    }
                }
                _ = &mut reader => break,
            }
        }
        reader.abort();
        for (_, (_, reply)) in pending.lock().unwrap().drain() {
            let _ = reply.send(Err(RpcError::Disconnected(name.clone())));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the RPC server does with a call: returns the local recipients count.
pub type Handler =
    Arc<dyn Fn(RpcRequest) -> Pin<Box<dyn Future<Output = u32> + Send>> + Send + Sync>;

/// Serves RPC calls on `listener`, each handled concurrently.
pub async fn serve(listener: TcpListener, handler: Handler) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let (mut sink, mut source) = Framed::new(stream, LengthDelimitedCodec::new()).split();
            let (tx, mut rx) = mpsc::unbounded_channel::<RpcFrame>();
            let writer = tokio::spawn(async move {
                while let Some(frame) = rx.recv().await {
                    if sink.send(Bytes::from(encode(&frame))).await.is_err() {
                        break;
                    }
                }
            });
            while let Some(Ok(bytes)) = source.next().await {
                let Ok(RpcFrame::Call { rid, req }) = std::str::from_utf8(&bytes)
                    .map_err(|_| ())
                    .and_then(|t| decode(t).map_err(|_| ()))
                else {
                    continue;
                };
                let handler = handler.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let delivered = handler(req).await;
                    let _ = tx.send(RpcFrame::Reply { rid, delivered });
                });
            }
            writer.abort();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Kind;

    fn deliver(id: u64) -> RpcRequest {
        RpcRequest::Deliver {
            room: "r".into(),
            id,
            from: "c".into(),
            kind: Kind::Message,
            body: "x".repeat(64),
        }
    }

    /// A TCP listener that accepts and never answers: a black hole.
    async fn black_hole() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s);
            }
        });
        addr
    }

    async fn echo_server() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(serve(l, Arc::new(|_req| Box::pin(async { 2u32 }))));
        addr
    }

    #[tokio::test]
    async fn healthy_peer_answers() {
        let link = PeerLink::new("p", &echo_server().await, Switches::fixed());
        assert_eq!(link.call(deliver(1)).await, Ok(2));
        assert_eq!(link.stats().ok, 1);
        assert_eq!(link.pending(), 0);
    }

    #[tokio::test]
    async fn unbounded_backlog_grows_against_a_black_hole() {
        let link = PeerLink::new("p", &black_hole().await, Switches::as_in_2015());
        for i in 0..500 {
            let l = link.clone();
            tokio::spawn(async move { l.call(deliver(i)).await });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(link.pending(), 500, "every call still waits");
        assert!(!link.is_evicted());
    }

    #[tokio::test]
    async fn bounded_backlog_fails_fast_and_evicts() {
        let mut s = Switches::fixed();
        s.backlog = Backlog::Bounded(10);
        s.rpc_timeout = Some(Duration::from_millis(300));
        s.evict_after = Some(20);
        let link = PeerLink::new("p", &black_hole().await, s);
        let mut calls = Vec::new();
        for i in 0..50 {
            let l = link.clone();
            calls.push(tokio::spawn(async move { l.call(deliver(i)).await }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            link.pending() <= 10,
            "pending {} above the bound",
            link.pending()
        );
        let mut fast = 0;
        for c in calls {
            if let Err(RpcError::BacklogFull(_) | RpcError::Evicted(_)) = c.await.unwrap() {
                fast += 1;
            }
        }
        assert_eq!(fast, 40, "calls beyond the bound fail fast");
        assert!(link.is_evicted(), "20 consecutive failures evict the peer");
        assert!(matches!(
            link.call(deliver(99)).await,
            Err(RpcError::Evicted(_))
        ));
        assert_eq!(link.pending(), 0, "timed-out calls are forgotten");
        assert!(link.pending_map.lock().unwrap().is_empty());
    }

    /// A peer that answers its calls one at a time, 30 ms each: a saturated
    /// dispatch queue.
    async fn serial_server() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let queue = Arc::new(tokio::sync::Mutex::new(()));
        tokio::spawn(serve(
            l,
            Arc::new(move |_req| {
                let queue = queue.clone();
                Box::pin(async move {
                    let _turn = queue.lock().await;
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    1u32
                })
            }),
        ));
        addr
    }

    #[tokio::test]
    async fn a_slow_peer_that_keeps_answering_is_waited_for() {
        let mut s = Switches::fixed();
        s.rpc_timeout = Some(Duration::from_millis(100));
        s.evict_after = Some(2);
        let link = PeerLink::new("p", &serial_server().await, s);
        // 20 calls at once: the last is answered after ~600 ms, six
        // timeouts, but a reply arrives every 30 ms.
        let calls: Vec<_> = (0..20)
            .map(|i| {
                let l = link.clone();
                tokio::spawn(async move { l.call(deliver(i)).await })
            })
            .collect();
        for c in calls {
            assert_eq!(c.await.unwrap(), Ok(1));
        }
        let st = link.stats();
        assert_eq!((st.ok, st.failed, st.evictions), (20, 0, 0), "{st:?}");
    }

    #[tokio::test]
    async fn kept_peer_is_never_evicted() {
        let mut s = Switches::as_in_2015();
        s.rpc_timeout = Some(Duration::from_millis(50));
        let link = PeerLink::new("p", &black_hole().await, s);
        for i in 0..10 {
            assert!(matches!(
                link.call(deliver(i)).await,
                Err(RpcError::Timeout(_))
            ));
        }
        assert!(!link.is_evicted());
        assert_eq!(link.stats().evictions, 0);
    }

    #[tokio::test]
    async fn evicted_peer_gets_a_probe_after_the_window() {
        let mut s = Switches::fixed();
        s.rpc_timeout = Some(Duration::from_millis(50));
        s.evict_after = Some(2);
        s.evict_for = Duration::from_millis(200);
        let link = PeerLink::new("p", &black_hole().await, s);
        let _ = link.call(deliver(1)).await;
        let _ = link.call(deliver(2)).await;
        assert!(link.is_evicted());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(!link.is_evicted(), "half-open after the window");
        assert!(matches!(
            link.call(deliver(3)).await,
            Err(RpcError::Timeout(_))
        ));
        assert!(link.is_evicted(), "a failed probe evicts again");
        assert_eq!(link.stats().evictions, 2);
    }
}
