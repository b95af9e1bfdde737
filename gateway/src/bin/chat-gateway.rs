//! `chat-gateway router ...` or `chat-gateway node ...`: the chat gateway's
//! processes (see the `gateway` crate).

use clap::{Parser, Subcommand, ValueEnum};
use gateway::membership::{self, Member};
use gateway::node::NodeConfig;
use gateway::switches::{Backlog, Switches};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "The chat gateway: router and connection nodes")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    /// As on 2015-08-07: unbounded backlog, no timeout, no eviction, no fd guard.
    As2015,
    /// With the postmortem's fixes.
    Fixed,
}

#[derive(Subcommand)]
enum Cmd {
    /// The router (HTTP: /assign, /metrics, /admin/*).
    Router {
        /// Listen address.
        #[arg(long, default_value = "0.0.0.0:8000")]
        listen: SocketAddr,
        /// `consul:HOST:PORT` or `static:name=rpc|http|ws,...`.
        #[arg(long)]
        membership: String,
        /// Send clients only to nodes whose membership view has converged
        /// with every other node's (the fix for acks after a restart that
        /// skipped peers a node did not know yet).
        #[arg(long)]
        await_convergence: bool,
    },
    /// A connection node.
    Node {
        /// The node's name (unique; its hostname on the lab network).
        #[arg(long)]
        name: String,
        /// `consul:HOST:PORT` or `static:name=rpc|http|ws,...`.
        #[arg(long)]
        membership: String,
        /// Behaviour preset; the flags below override single switches.
        #[arg(long, value_enum, default_value = "fixed")]
        preset: Preset,
        /// Address peers use for RPC to this node (default NAME:9000); may
        /// be a proxy in front of it.
        #[arg(long)]
        advertise_rpc: Option<String>,
        /// Address the node's three ports listen on (127.0.0.1 when the
        /// node shares the host's network namespace).
        #[arg(long, default_value = "0.0.0.0")]
        bind: std::net::IpAddr,
        /// WebSocket port.
        #[arg(long, default_value_t = 8443)]
        ws_port: u16,
        /// RPC port.
        #[arg(long, default_value_t = 9000)]
        rpc_port: u16,
        /// HTTP (metrics/health) port.
        #[arg(long, default_value_t = 8080)]
        http_port: u16,
        /// Per-peer backlog bound (0 = unbounded).
        #[arg(long)]
        backlog: Option<usize>,
        /// RPC timeout in ms (0 = none).
        #[arg(long)]
        rpc_timeout_ms: Option<u64>,
        /// Evict a peer after this many consecutive failures (0 = never).
        #[arg(long)]
        evict_after: Option<u32>,
        /// Refuse connections above this fraction of the fd limit (0 = off).
        #[arg(long)]
        fd_guard: Option<f64>,
        /// Concurrent TLS handshakes.
        #[arg(long)]
        handshake_slots: Option<usize>,
        /// Drop connections waiting longer than this for a handshake slot (0 = never).
        #[arg(long)]
        handshake_queue_timeout_ms: Option<u64>,
        /// Shed non-core work above this dispatch queue length (0 = never).
        #[arg(long)]
        shed_above: Option<usize>,
        /// Modelled per-recipient fan-out cost, microseconds.
        #[arg(long, default_value_t = 0)]
        fanout_cost_us: u64,
        /// Modelled server-side TLS handshake cost, milliseconds.
        #[arg(long, default_value_t = 0)]
        handshake_cost_ms: u64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().cmd {
        Cmd::Router {
            listen,
            membership,
            await_convergence,
        } => {
            let m: Arc<dyn membership::Membership> = membership::from_spec(&membership)?.into();
            let r = gateway::router::start(listen, m).await?;
            r.router.set_await_convergence(await_convergence);
            println!("router listening on {}", r.addr);
            std::future::pending::<()>().await;
        }
        Cmd::Node {
            name,
            membership,
            preset,
            advertise_rpc,
            bind,
            ws_port,
            rpc_port,
            http_port,
            backlog,
            rpc_timeout_ms,
            evict_after,
            fd_guard,
            handshake_slots,
            handshake_queue_timeout_ms,
            shed_above,
            fanout_cost_us,
            handshake_cost_ms,
        } => {
            let mut s = match preset {
                Preset::As2015 => Switches::as_in_2015(),
                Preset::Fixed => Switches::fixed(),
            };
            let ms = |v: u64| (v > 0).then(|| Duration::from_millis(v));
            if let Some(b) = backlog {
                s.backlog = if b == 0 {
                    Backlog::Unbounded
                } else {
                    Backlog::Bounded(b)
                };
            }
            if let Some(t) = rpc_timeout_ms {
                s.rpc_timeout = ms(t);
            }
            if let Some(e) = evict_after {
                s.evict_after = (e > 0).then_some(e);
            }
            if let Some(g) = fd_guard {
                s.fd_guard = (g > 0.0).then_some(g);
            }
            if let Some(h) = handshake_slots {
                s.handshake_slots = h.max(1);
            }
            if let Some(t) = handshake_queue_timeout_ms {
                s.handshake_queue_timeout = ms(t);
            }
            if let Some(t) = shed_above {
                s.shed_above = (t > 0).then_some(t);
            }
            let any = |p: u16| SocketAddr::new(bind, p);
            let config = NodeConfig {
                me: Member {
                    name: name.clone(),
                    rpc_addr: advertise_rpc.unwrap_or_else(|| format!("{name}:{rpc_port}")),
                    http_addr: format!("{name}:{http_port}"),
                    ws_addr: format!("{name}:{ws_port}"),
                },
                ws_listen: any(ws_port),
                rpc_listen: any(rpc_port),
                http_listen: any(http_port),
                switches: s.clone(),
                fanout_cost: Duration::from_micros(fanout_cost_us),
                handshake_cost: Duration::from_millis(handshake_cost_ms),
            };
            let m: Arc<dyn membership::Membership> = membership::from_spec(&membership)?.into();
            let _n = gateway::node::start(config, m).await?;
            println!(
                "node {name} ready: ws {ws_port}, rpc {rpc_port}, http {http_port}, nofile {}, switches {}",
                gateway::sys::nofile_limit(),
                serde_json::to_string(&s)?
            );
            std::future::pending::<()>().await;
        }
    }
    Ok(())
}
