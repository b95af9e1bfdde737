//! The floor under the reconnect benchmark: bare TLS handshakes (TCP
//! connect, TLS 1.3 with the gateway's own configurations, close) between
//! a client and a server in this one process over 127.0.0.1, with none of
//! the gateway's work (no router lookup, WebSocket, rooms).
//!
//! `cargo run --release -p gateway --example tls_floor -- [HANDSHAKES] [CONCURRENCY]`
//! (`TOKIO_WORKER_THREADS=1 taskset -c 0 ...` for one core).

use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let total: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(256);
    let server =
        tokio_rustls::TlsAcceptor::from(gateway::tls::server_config(&["localhost".into()])?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let server = server.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                if let Ok(mut tls) = server.accept(tcp).await {
                    // One byte each way proves the session works.
                    let mut b = [0u8; 1];
                    if tls.read_exact(&mut b).await.is_ok() {
                        let _ = tls.write_all(&b).await;
                        let _ = tls.flush().await;
                    }
                }
            });
        }
    });
    // Full handshakes: the lab client configuration keeps no tickets.
    let client = tokio_rustls::TlsConnector::from(gateway::tls::lab_client_config());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, next) = (client.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut ok = 0usize;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let tcp = TcpStream::connect(addr).await?;
                let _ = tcp.set_nodelay(true);
                let name = rustls::pki_types::ServerName::try_from("localhost")?;
                let mut tls = client.connect(name, tcp).await?;
                tls.write_all(b"x").await?;
                let mut b = [0u8; 1];
                tls.read_exact(&mut b).await?;
                ok += 1;
            }
            anyhow::Ok(ok)
        }));
    }
    let mut ok = 0;
    for w in workers {
        ok += w.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"handshakes\":{ok},\"seconds\":{secs:.3},\"handshakes_per_sec\":{:.0}}}",
        ok as f64 / secs
    );
    Ok(())
}
