//! The smallest real incident: a TCP echo service is stopped and started
//! again while clients keep talking to it.
//!
//! It exercises every part of the harness on a real container without any
//! system-specific fixture: the lab, a workload recording a history, a
//! fault with a verified inject and heal, the integrity and availability
//! checkers, and the report.
//!
//! Timeline: `steady` (clients echo numbers) → `fault` (the service's
//! container is stopped: connections are refused) → `recover` (it is
//! started again; the run continues until a full window of good service
//! after the heal, or the budget runs out).
//!
//! The service is a forking Perl echo server: `incident/base` (Debian
//! minbase) has `perl-base` with `IO::Socket::INET`, but neither `socat`
//! nor a netcat that can run a command per connection.

use anyhow::{bail, Context, Result};
use harness::checker::availability::{self, Recovery, ServiceFigures};
use harness::checker::{Check, CheckKind, Verdict};
use harness::fault::{Fault, Resolved, Target};
use harness::history::{History, Op, OpStatus};
use harness::images::{self, ImageId};
use harness::lab::{ContainerSpec, LabCtx, WaitFor};
use harness::report::Report;
use harness::workload::{Client, Invocation, Workload, WorkloadRunner};
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The port the echo service listens on inside its container.
pub const PORT: u16 = 7000;

/// The service's lab-local name.
pub const NODE: &str = "echo";

/// One line in, the same line out; one process per connection.
const SERVER: &str = r#"
use strict; use IO::Socket::INET;
$| = 1; $SIG{CHLD} = 'IGNORE'; $SIG{TERM} = sub { exit 0 };
my $s = IO::Socket::INET->new(LocalPort => 7000, Listen => 128, ReuseAddr => 1)
  or die "listen on 7000: $!";
print "echo listening on 7000\n";
while (1) {
  my $c = $s->accept or next;
  if (fork() == 0) { close $s; while (my $l = <$c>) { print $c $l } exit 0 }
  close $c;
}
"#;

/// The sizes and times of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Concurrent clients.
    pub clients: u32,
    /// Total offered load, echoes per second.
    pub rate: f64,
    /// How long the service runs undisturbed first.
    pub steady: Duration,
    /// How long it stays stopped.
    pub outage: Duration,
    /// The recovery window `W`.
    pub window: Duration,
    /// The success ratio `X` the window needs.
    pub ratio: f64,
    /// Per-echo limit (connect and answer each).
    pub op_timeout: Duration,
}

impl Plan {
    /// Small enough for any CI machine: 4 clients, 40 echoes/s, 5 s steady,
    /// 5 s stopped, recovery judged on a 5 s window at 95%.
    pub fn ci() -> Self {
        Plan {
            clients: 4,
            rate: 40.0,
            steady: Duration::from_secs(5),
            outage: Duration::from_secs(5),
            window: Duration::from_secs(5),
            ratio: 0.95,
            op_timeout: Duration::from_secs(2),
        }
    }
}

/// The echo service's container.
pub fn service(image: impl Into<String>) -> ContainerSpec {
    ContainerSpec::new(NODE, image)
        .with_cmd(["perl", "-e", SERVER])
        .with_exposed_port(PORT)
        .with_wait(WaitFor::Tcp(PORT))
        .with_startup_timeout(Duration::from_secs(30))
        .with_role("echo")
}

/// Runs the incident on `lab` and returns the finished report.
pub async fn run(lab: &LabCtx, plan: Plan) -> Result<Report> {
    let image = images::require(lab.docker(), ImageId::Base).await?;
    let node = lab.container(service(image)).await?;

    lab.phase("steady").await;
    let workload = WorkloadRunner::new(EchoWorkload {
        lab: lab.clone(),
        timeout: plan.op_timeout,
    })
    .clients(plan.clients)
    .rate(plan.rate)
    .start(lab)
    .await?;
    tokio::time::sleep(plan.steady).await;

    lab.phase("fault").await;
    let guard = lab.inject(StopService::new(&node)).await?;
    tokio::time::sleep(plan.outage).await;

    lab.phase("recover").await;
    guard.heal().await?;
    let healed_at = availability::heal_time(&lab.faults())?;
    let recovery = Recovery::after(healed_at)
        .window(plan.window)
        .ratio(plan.ratio)
        .budget(lab.spec().budget);
    // Keep the clients going until a full good window is seen, or the
    // budget (plus one window to see it) is spent.
    let give_up = healed_at + lab.spec().budget + plan.window + Duration::from_secs(1);
    while recovery.measure(&workload.snapshot()).is_none() && lab.now() < give_up {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let history = workload.stop().await;
    lab.record_history(&history);

    let fault_at = lab
        .faults()
        .first()
        .map(|f| f.invoked_at)
        .context("the stop fault is missing from the fault plan")?;
    lab.figures_from(ServiceFigures::measure(&history, fault_at).figures());
    for check in echo_integrity(&history) {
        lab.check(check);
    }
    lab.check(recovery.check(&history));
    lab.finish().await
}

/// Integrity of echoes: `integrity.echo` (requirement: every acknowledged
/// echo returned exactly what was sent; count `mismatched`) and
/// `integrity.echo.phantoms` (always: no answer carried a number that no
/// client sent; count `phantom`).
pub fn echo_integrity(history: &History) -> [Check; 2] {
    let sent: HashSet<i64> = history.of("echo").filter_map(|o| o.value).collect();
    let (mut acknowledged, mut mismatched, mut phantom) = (0u64, 0u64, 0u64);
    let mut examples = Vec::new();
    for op in history.of("echo").filter(|o| o.status == OpStatus::Ok) {
        acknowledged += 1;
        let got = op.values.as_deref().unwrap_or_default();
        if got != [op.value.unwrap_or(i64::MIN)] {
            mismatched += 1;
            if examples.len() < 5 {
                examples.push(format!(
                    "process {} sent {:?}, got {got:?}",
                    op.process, op.value
                ));
            }
        }
        phantom += got.iter().filter(|v| !sent.contains(v)).count() as u64;
    }
    let (ok, fail, unknown) = history.counts();
    let mut main = Check::requirement(
        "integrity.echo",
        mismatched == 0 && acknowledged > 0,
        if acknowledged == 0 {
            "no echo was acknowledged: the workload never reached the service".to_string()
        } else if mismatched == 0 {
            format!("all {acknowledged} acknowledged echoes returned what was sent")
        } else {
            format!("{mismatched} of {acknowledged} acknowledged echoes returned something else")
        },
    )
    .with_count("mismatched", mismatched)
    .with_figure("acknowledged", ok as f64)
    .with_figure("failed", fail as f64)
    .with_figure("unknown", unknown as f64);
    main.examples = examples;
    let phantoms = Check::new(
        "integrity.echo.phantoms",
        CheckKind::Always,
        Verdict::from_bool(phantom == 0),
        if phantom == 0 {
            "no answer carried a number that was never sent".to_string()
        } else {
            format!("{phantom} answers carried numbers no client sent")
        },
    )
    .with_count("phantom", phantom);
    [main, phantoms]
}

/// Clients that each open a connection per echo to the published port
/// (looked up per echo: the host port changes when the container restarts).
pub struct EchoWorkload {
    lab: LabCtx,
    timeout: Duration,
}

#[async_trait::async_trait]
impl Workload for EchoWorkload {
    type Client = EchoClient;
    async fn open(&self, process: u32) -> Result<EchoClient> {
        Ok(EchoClient {
            lab: self.lab.clone(),
            process,
            timeout: self.timeout,
        })
    }
}

/// One echo client.
pub struct EchoClient {
    lab: LabCtx,
    process: u32,
    timeout: Duration,
}

/// Why an echo did not complete, and whether it may have been served.
enum EchoError {
    /// Not connected: the service definitely did not see it.
    NotSent(String),
    /// Sent, but no complete answer came back.
    NoAnswer(String),
}

impl EchoClient {
    async fn echo(&self, n: i64) -> Result<String, EchoError> {
        let node = self
            .lab
            .node(NODE)
            .ok_or_else(|| EchoError::NotSent("no echo node in the lab".into()))?;
        let stream =
            match tokio::time::timeout(self.timeout, TcpStream::connect(node.addr(PORT))).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(EchoError::NotSent(format!("connect: {e}"))),
                Err(_) => return Err(EchoError::NotSent("connect timed out".into())),
            };
        let (read, mut write) = stream.into_split();
        write
            .write_all(format!("{n}\n").as_bytes())
            .await
            .map_err(|e| EchoError::NoAnswer(format!("send: {e}")))?;
        let mut line = String::new();
        let mut reader = BufReader::new(read);
        match tokio::time::timeout(self.timeout, reader.read_line(&mut line)).await {
            Ok(Ok(_)) if line.ends_with('\n') => Ok(line),
            // Docker's port proxy accepts, then closes, while nothing listens.
            Ok(Ok(_)) => Err(EchoError::NoAnswer(
                "connection closed before the answer".into(),
            )),
            Ok(Err(e)) => Err(EchoError::NoAnswer(format!("receive: {e}"))),
            Err(_) => Err(EchoError::NoAnswer("no answer in time".into())),
        }
    }
}

#[async_trait::async_trait]
impl Client for EchoClient {
    async fn step(&mut self, seq: u64, invocation: &Invocation) -> Op {
        // Unique per client and echo, so an answer names its request.
        let n = i64::from(self.process) * 1_000_000_000 + seq as i64;
        invocation.declare(Op::invoke("echo").with_value(n));
        match self.echo(n).await {
            Ok(line) => {
                let got: Vec<i64> = line.trim().parse().map(|v| vec![v]).unwrap_or_default();
                Op::ok("echo").with_value(n).with_values(got)
            }
            Err(EchoError::NotSent(e)) => Op::fail("echo", e).with_value(n),
            Err(EchoError::NoAnswer(e)) => Op::unknown("echo", e).with_value(n),
        }
    }
}

/// Stops a node's container (SIGTERM, then SIGKILL after a grace period)
/// and starts it again on heal, waiting until it listens.
pub struct StopService {
    target: Resolved,
    grace: Duration,
    ready: WaitFor,
    startup: Duration,
}

impl StopService {
    /// Stops `target` (a node or a role); heal waits for the echo port.
    pub fn new(target: impl Into<Target>) -> Self {
        StopService {
            target: Resolved::new(target),
            grace: Duration::from_secs(2),
            ready: WaitFor::Tcp(PORT),
            startup: Duration::from_secs(30),
        }
    }
}

#[async_trait::async_trait]
impl Fault for StopService {
    fn kind(&self) -> &'static str {
        "stop"
    }

    fn describe(&self) -> String {
        format!("stop {}", self.target.name())
    }

    async fn inject(&mut self, lab: &LabCtx) -> Result<()> {
        let node = self.target.get(lab).await?;
        lab.stop_node(&node, self.grace).await?;
        let state = lab.inspect(&node).await?.state.unwrap_or_default();
        if state.running == Some(true) {
            bail!("`{}` still runs after docker stop", node.name);
        }
        Ok(())
    }

    async fn heal(&mut self, lab: &LabCtx) -> Result<()> {
        let node = self.target.get(lab).await?;
        let state = lab.inspect(&node).await?.state.unwrap_or_default();
        if state.running == Some(true) {
            return Ok(());
        }
        lab.start_node(&node, &self.ready, self.startup).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrity_catches_wrong_and_invented_answers() {
        let h = History::new(vec![
            Op::ok("echo").with_value(1).with_values(vec![1]),
            Op::ok("echo").with_value(2).with_values(vec![1]),
            Op::ok("echo").with_value(3).with_values(vec![99]),
            Op::ok("echo").with_value(4).with_values(vec![]),
            Op::fail("echo", "refused").with_value(5),
        ]);
        let [main, phantoms] = echo_integrity(&h);
        assert_eq!(main.counts["mismatched"], 3);
        assert_eq!(main.verdict, Verdict::Invalid);
        assert_eq!(phantoms.counts["phantom"], 1);
        assert_eq!(phantoms.kind, CheckKind::Always);
        let good = History::new(vec![Op::ok("echo").with_value(1).with_values(vec![1])]);
        assert!(echo_integrity(&good).iter().all(|c| c.verdict.is_valid()));
        assert!(!echo_integrity(&History::default())[0].verdict.is_valid());
    }
}
