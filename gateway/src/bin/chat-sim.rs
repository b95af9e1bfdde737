//! `chat-sim`: drives a chat gateway with simulated TLS WebSocket clients
//! and prints what it measured as JSON (the gateway benchmarks).
//!
//! Against a running cluster: `chat-sim --router 127.0.0.1:PORT ...`.
//! Without `--router`, it starts a router and `--local-nodes` nodes in
//! this process on 127.0.0.1 (both ends then share the CPU).

use clap::{Parser, ValueEnum};
use gateway::local::LocalCluster;
use gateway::sim::{Delay, Load, ReconnectPolicy, SimConfig, Simulator};
use gateway::switches::Switches;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, ValueEnum)]
enum Policy {
    Naive,
    Backoff,
}

#[derive(Parser)]
#[command(about = "Simulated chat clients against the gateway; prints measurements as JSON")]
struct Cli {
    /// The router's address; omit to start a local cluster in this process.
    #[arg(long)]
    router: Option<String>,
    /// Nodes of the local cluster (without --router).
    #[arg(long, default_value_t = 2)]
    local_nodes: usize,
    /// Clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Members per room.
    #[arg(long, default_value_t = 20)]
    room_size: usize,
    /// New connections per second while starting.
    #[arg(long, default_value_t = 1000)]
    ramp: usize,
    /// Reconnect policy.
    #[arg(long, value_enum, default_value = "backoff")]
    policy: Policy,
    /// Messages per second once everyone is online.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// How long to send (and hold the connections), seconds.
    #[arg(long, default_value_t = 10)]
    hold_secs: u64,
    /// After holding, drop every session and time the reconnection.
    #[arg(long)]
    reconnect: bool,
    /// Message payload bytes.
    #[arg(long, default_value_t = 64)]
    body_bytes: usize,
    /// Full TLS handshakes only: clients keep no session tickets.
    #[arg(long)]
    no_tls_resumption: bool,
    /// Host PIDs of the gateway's processes (nodes, router): their CPU time
    /// per connect and per reconnect is reported beside the simulator's.
    #[arg(long, value_delimiter = ',')]
    account_pids: Vec<u32>,
}

/// CPU seconds used so far by the simulator and by the gateway's processes.
#[derive(Clone, Copy)]
struct Cpu {
    sim: f64,
    gateway: f64,
}

impl Cpu {
    fn now(pids: &[u32]) -> Cpu {
        Cpu {
            sim: gateway::sys::cpu_seconds(None).unwrap_or(0.0),
            gateway: pids
                .iter()
                .filter_map(|p| gateway::sys::cpu_seconds(Some(*p)))
                .sum(),
        }
    }

    /// Milliseconds of CPU per operation since `before`.
    fn per_op_ms(self, before: Cpu, ops: usize, pids: &[u32]) -> serde_json::Value {
        // Clock ticks are 10 ms: three decimals say all there is to say.
        let ms = |a: f64, b: f64| ((a - b) * 1e6 / ops.max(1) as f64).round() / 1000.0;
        let mut v = serde_json::json!({ "sim": ms(self.sim, before.sim) });
        if !pids.is_empty() {
            v["gateway"] = ms(self.gateway, before.gateway).into();
        }
        v
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let nofile = gateway::sys::raise_nofile();
    let started = Instant::now();
    let local = match &cli.router {
        Some(_) => None,
        None => Some(
            LocalCluster::start(
                cli.local_nodes,
                Switches::fixed(),
                Duration::ZERO,
                |_, _| None,
            )
            .await?,
        ),
    };
    let router = cli
        .router
        .clone()
        .unwrap_or_else(|| local.as_ref().expect("local cluster").router_addr());
    let mut cfg = SimConfig::new(router, cli.clients);
    cfg.rooms = (cli.clients / cli.room_size.max(1)).max(1);
    cfg.ramp_per_sec = cli.ramp;
    cfg.body_bytes = cli.body_bytes;
    cfg.connect_timeout = Duration::from_secs(10);
    cfg.tls_resumption = !cli.no_tls_resumption;
    let cfg = cfg.with_policy(match cli.policy {
        Policy::Naive => ReconnectPolicy::naive(),
        Policy::Backoff => ReconnectPolicy::backoff().with_delay(Delay::Exponential {
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
        }),
    });
    let pids = &cli.account_pids;
    if let Some(p) = pids
        .iter()
        .find(|p| gateway::sys::cpu_seconds(Some(**p)).is_none())
    {
        anyhow::bail!("--account-pids: no process {p} on this host");
    }
    let cpu0 = Cpu::now(pids);
    let sim = Simulator::start(cfg);
    let t0 = Instant::now();
    sim.wait_online(cli.clients, Duration::from_secs(300))
        .await?;
    let connect_secs = t0.elapsed().as_secs_f64();
    let connect_cpu = Cpu::now(pids).per_op_ms(cpu0, cli.clients, pids);
    sim.set_load(Load {
        rate: cli.rate,
        ..Load::default()
    });
    let before = sim.stats();
    let t1 = Instant::now();
    tokio::time::sleep(Duration::from_secs(cli.hold_secs)).await;
    let after = sim.stats();
    let hold = t1.elapsed().as_secs_f64();
    sim.set_load(Load::default());
    let mut reconnect = serde_json::Value::Null;
    if cli.reconnect {
        let s0 = sim.stats();
        let cpu0 = Cpu::now(pids);
        sim.disconnect_all();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t2 = Instant::now();
        sim.wait_online(cli.clients, Duration::from_secs(300))
            .await?;
        let secs = t2.elapsed().as_secs_f64() + 0.1;
        let s1 = sim.stats();
        let cpu = Cpu::now(pids).per_op_ms(cpu0, cli.clients, pids);
        reconnect = serde_json::json!({
            "cpu_ms_per_reconnect": cpu,
            "seconds": secs,
            "attempts": s1.attempts - s0.attempts,
            "resumed_handshakes": s1.resumed_handshakes - s0.resumed_handshakes,
            "reconnects_per_sec": cli.clients as f64 / secs,
        });
    }
    let online = sim.stats().online;
    let h = sim.stop().await;
    let audit = h.audit(1.0);
    let out = serde_json::json!({
        "clients": cli.clients,
        "online_at_end": online,
        "nofile": nofile,
        "connect_secs": connect_secs,
        "connects_per_sec": cli.clients as f64 / connect_secs,
        "cpu_ms_per_connect": connect_cpu,
        "tls_resumption": !cli.no_tls_resumption,
        "held_secs": hold,
        "sent_per_sec": (after.sent - before.sent) as f64 / hold,
        "delivered_per_sec": (after.delivered - before.delivered) as f64 / hold,
        "reconnect": reconnect,
        "audit": { "acked": audit.acked, "expected": audit.expected, "lost": audit.lost, "duplicated": audit.duplicated, "invented": audit.invented, "reported_undeliverable": audit.reported_undeliverable, "false_claims": audit.false_claims, "examples": audit.examples },
        "total_secs": started.elapsed().as_secs_f64(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
