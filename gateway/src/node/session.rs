//! A client's session on a node: accept (readiness and the fd guard), the
//! TLS and WebSocket handshake under the handshake slots, then the frames
//! (join, send) until it closes, and its rooms cleaned up after.

use super::{Node, Origin, Work};
use crate::protocol::{decode, encode, ClientFrame, ServerFrame};
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;

pub(super) async fn accept_loop(
    node: Arc<Node>,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
) {
    let slots = Arc::new(Semaphore::new(node.config.switches.handshake_slots.max(1)));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                node.counters.accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        node.counters.accepted.fetch_add(1, Ordering::Relaxed);
        if !node.ready.load(Ordering::Relaxed) {
            node.counters
                .refused_not_ready
                .fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        if node.over_fd_guard() {
            node.counters.refused_fd.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        // Counted here, not in the task, so the fd guard's estimate sees
        // every accepted socket at once, however far behind the tasks run.
        node.counters.connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(
            node.clone(),
            stream,
            slots.clone(),
            acceptor.clone(),
        ));
    }
}

struct ConnGuard<'a>(&'a AtomicU64);
impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

// tungstenite's header callback returns its large error type; not ours to shrink.
#[allow(clippy::result_large_err)]
async fn connection(
    node: Arc<Node>,
    stream: TcpStream,
    slots: Arc<Semaphore>,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    let c = &node.counters;
    let _conn = ConnGuard(&c.connections);
    c.handshake_waiting.fetch_add(1, Ordering::Relaxed);
    let permit = match node.config.switches.handshake_queue_timeout {
        None => slots.acquire_owned().await.ok(),
        Some(limit) => tokio::time::timeout(limit, slots.acquire_owned())
            .await
            .ok()
            .and_then(|p| p.ok()),
    };
    c.handshake_waiting.fetch_sub(1, Ordering::Relaxed);
    let Some(permit) = permit else {
        c.handshakes_dropped.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if !node.config.handshake_cost.is_zero() {
        tokio::time::sleep(node.config.handshake_cost).await;
    }
    let client_id = Arc::new(Mutex::new(String::new()));
    let cid = client_id.clone();
    let handshake = async {
        let tls = acceptor.accept(stream).await?;
        let ws = tokio_tungstenite::accept_hdr_async_with_config(
            tls,
            move |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
                let id = req
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("client=")))
                    .unwrap_or("anonymous");
                *cid.lock().unwrap() = id.to_string();
                Ok(resp)
            },
            Some(crate::protocol::ws_config()),
        )
        .await
        .map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(ws)
    };
    let ws = match tokio::time::timeout(Duration::from_secs(10), handshake).await {
        Ok(Ok(ws)) => ws,
        _ => {
            c.handshakes_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    drop(permit);
    c.handshakes_ok.fetch_add(1, Ordering::Relaxed);
    c.sessions.fetch_add(1, Ordering::Relaxed);
    let _session = ConnGuard(&c.sessions);
    let client = client_id.lock().unwrap().clone();
    let conn = node.next_conn.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut source) = ws.split();
    let (outbox, mut queue) = mpsc::unbounded_channel::<ServerFrame>();
    let _ = outbox.send(ServerFrame::Welcome {
        node: node.config.me.name.clone(),
        client: client.clone(),
    });
    let writer = tokio::spawn(async move {
        while let Some(frame) = queue.recv().await {
            if sink.send(Message::text(encode(&frame))).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut joined: Vec<String> = Vec::new();
    while let Some(Ok(msg)) = source.next().await {
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        match decode::<ClientFrame>(text.as_str()) {
            Ok(ClientFrame::Join { room }) => {
                node.rooms
                    .lock()
                    .unwrap()
                    .entry(room.clone())
                    .or_default()
                    .insert(conn, (client.clone(), outbox.clone()));
                joined.push(room.clone());
                let _ = outbox.send(ServerFrame::Joined { room });
            }
            Ok(ClientFrame::Send {
                room,
                id,
                kind,
                body,
            }) => node.enqueue(Work {
                room,
                id,
                from: client.clone(),
                kind,
                body,
                origin: Origin::Client {
                    conn,
                    outbox: outbox.clone(),
                },
            }),
            Err(e) => tracing::debug!("bad frame from {client}: {e}"),
        }
    }
    {
        let mut rooms = node.rooms.lock().unwrap();
        for room in joined {
            if let Some(m) = rooms.get_mut(&room) {
                m.remove(&conn);
                if m.is_empty() {
                    rooms.remove(&room);
                }
            }
        }
    }
    drop(outbox);
    writer.abort();
}
