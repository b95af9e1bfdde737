//! Workloads: concurrent clients that drive a system at a controlled rate
//! and record every operation into a [`History`].
//!
//! A [`Workload`] opens [`Client`]s; a client performs one operation per
//! [`Client::step`] and returns its record; the [`WorkloadRunner`] stamps
//! invocation and completion times and the phase, paces the clients, and
//! collects the history. Workload, nemesis and checker stay separate values,
//! as in Jepsen.
//!
//! Nothing is dropped from a history: a client declares each operation
//! ([`Invocation::declare`]) before it can take effect, and an operation
//! still running when the workload stops (past [`WorkloadRunner::stop_grace`])
//! is recorded as declared, `unknown`, completed when the runner gave up
//! on it, so checkers can excuse what it may have done (an insert that was
//! applied but never answered is not a phantom).

use crate::history::{History, Op, OpStatus};
use crate::lab::LabCtx;
use crate::timeline::Timeline;
use anyhow::Result;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One client of a workload.
///
/// ```
/// use harness::history::Op;
/// use harness::workload::{Client, Invocation};
/// struct Adder;
/// #[async_trait::async_trait]
/// impl Client for Adder {
///     async fn step(&mut self, seq: u64, invocation: &Invocation) -> Op {
///         let value = seq as i64;
///         invocation.declare(Op::invoke("add").with_value(value));
///         // ... send it; classify the answer:
///         Op::ok("add").with_value(value)
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait Client: Send + 'static {
    /// Performs the next operation (`seq` counts this client's operations
    /// from 0) and returns its record; times and phase are stamped by the
    /// runner. Declare the operation on `invocation` (its `f`, key and
    /// value) before anything of it can take effect: if the workload stops
    /// while it runs, the declared op is what the history records. Must
    /// not panic on system errors: classify them into `fail` (definitely
    /// not done) or `unknown` (maybe done).
    async fn step(&mut self, seq: u64, invocation: &Invocation) -> Op;
}

/// The operation a client is performing, as it declared it: what the
/// runner records (`unknown`) if the workload stops before it completes,
/// and what [`RunningWorkload::snapshot`] shows while it runs.
#[derive(Debug, Default)]
pub struct Invocation {
    slot: Mutex<Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    /// The running step's invocation time and phase.
    running: Option<(Duration, Option<String>)>,
    declared: Option<Op>,
}

/// The `f` recorded for an op still running at stop that its client never
/// declared (a client bug: the history shows it rather than hiding it).
pub const UNDECLARED: &str = "undeclared";

impl Invocation {
    /// Declares the operation about to run: its `f`, key and value (a read
    /// has none yet). Call it again if the step learns more (a
    /// read-then-write step declares the write once its value is chosen);
    /// the last declaration counts.
    pub fn declare(&self, op: Op) {
        self.lock().declared = Some(op);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A step starts: nothing declared yet.
    fn begin(&self, invoke: Duration, phase: Option<String>) {
        *self.lock() = Slot {
            running: Some((invoke, phase)),
            declared: None,
        };
    }

    /// The step ended (completed or given up on).
    fn end(&self) {
        *self.lock() = Slot::default();
    }

    /// The running step as an `unknown` op completed at `now`, with `why`
    /// as its error: as declared (nothing read), else as [`UNDECLARED`].
    fn pending(&self, process: u32, now: Duration, why: &str) -> Option<Op> {
        let slot = self.lock();
        let (invoke, phase) = slot.running.clone()?;
        let mut op = slot
            .declared
            .clone()
            .unwrap_or_else(|| Op::invoke(UNDECLARED));
        op.error = Some(if op.f == UNDECLARED {
            format!("{why}; the client never declared it (Invocation::declare)")
        } else {
            why.to_string()
        });
        op.status = OpStatus::Unknown;
        op.values = None;
        op.process = process;
        op.invoke = invoke;
        op.complete = now;
        op.phase = phase;
        Some(op)
    }
}

/// A source of clients against one system.
#[async_trait::async_trait]
pub trait Workload: Send + Sync + 'static {
    /// The client type.
    type Client: Client;
    /// Opens client number `process`.
    async fn open(&self, process: u32) -> Result<Self::Client>;
}

/// Configures and starts a workload.
pub struct WorkloadRunner<W: Workload> {
    workload: Arc<W>,
    clients: u32,
    rate: Option<f64>,
    max_ops: Option<u64>,
    grace: Duration,
}

impl<W: Workload> WorkloadRunner<W> {
    /// One client, as fast as it goes.
    pub fn new(workload: W) -> Self {
        WorkloadRunner {
            workload: Arc::new(workload),
            clients: 1,
            rate: None,
            max_ops: None,
            grace: Duration::from_secs(5),
        }
    }

    /// Number of concurrent clients.
    pub fn clients(mut self, n: u32) -> Self {
        self.clients = n.max(1);
        self
    }

    /// Total offered load in operations per second, spread over the clients.
    pub fn rate(mut self, ops_per_sec: f64) -> Self {
        self.rate = (ops_per_sec > 0.0).then_some(ops_per_sec);
        self
    }

    /// Stops each client after this many operations.
    pub fn max_ops_per_client(mut self, n: u64) -> Self {
        self.max_ops = Some(n);
        self
    }

    /// How long, once stopped, an operation in flight may still finish
    /// (default 5 s); after that it is recorded `unknown` (see the module
    /// documentation).
    pub fn stop_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Opens the clients and starts them; returns once all are open.
    pub async fn start(self, lab: &LabCtx) -> Result<RunningWorkload> {
        self.start_on(lab.timeline()).await
    }

    /// [`WorkloadRunner::start`] on a bare timeline: times and phases come
    /// from `timeline` (the lab's, or one a test made without Docker).
    pub async fn start_on(self, timeline: &Timeline) -> Result<RunningWorkload> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let ops = Arc::new(Mutex::new(Vec::<Op>::new()));
        let mut clients = Vec::with_capacity(self.clients as usize);
        for p in 0..self.clients {
            clients.push(self.workload.open(p).await?);
        }
        let interval = self
            .rate
            .map(|r| Duration::from_secs_f64(self.clients as f64 / r));
        let mut tasks = Vec::new();
        let invocations: Vec<Arc<Invocation>> = (0..self.clients).map(|_| Arc::default()).collect();
        for (p, mut client) in clients.into_iter().enumerate() {
            let invocation = invocations[p].clone();
            let lab = timeline.clone();
            let ops = ops.clone();
            let mut stop = stop_rx.clone();
            let max_ops = self.max_ops;
            let grace = self.grace;
            tasks.push(tokio::spawn(async move {
                let mut ticker = interval.map(|i| {
                    let mut t = tokio::time::interval(i);
                    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                    t
                });
                let mut seq = 0u64;
                loop {
                    if *stop.borrow() || max_ops.is_some_and(|m| seq >= m) {
                        break;
                    }
                    if let Some(t) = ticker.as_mut() {
                        tokio::select! {
                            _ = t.tick() => {}
                            _ = stop.changed() => break,
                        }
                    }
                    let invoke = lab.now();
                    let phase = lab.current_phase();
                    invocation.begin(invoke, phase.clone());
                    let done = tokio::select! {
                        op = client.step(seq, &invocation) => Some(op),
                        _ = wait_stopped(&mut stop, grace) => None,
                    };
                    let given_up = done.is_none();
                    let op = match done {
                        Some(mut op) => {
                            op.process = p as u32;
                            op.invoke = invoke;
                            op.complete = lab.now();
                            op.phase = phase;
                            Some(op)
                        }
                        // A client stuck past the stop signal is given up on,
                        // but its operation is recorded: it may have taken
                        // effect (Jepsen's `:info`).
                        None => invocation.pending(
                            p as u32,
                            lab.now(),
                            &format!(
                                "still running when the workload stopped (given up after {})",
                                crate::duration::format(grace)
                            ),
                        ),
                    };
                    // Recorded before the slot is cleared: a snapshot in
                    // between may show the op twice, never not at all.
                    ops.lock().unwrap_or_else(|e| e.into_inner()).extend(op);
                    invocation.end();
                    if given_up {
                        break;
                    }
                    seq += 1;
                }
            }));
        }
        Ok(RunningWorkload {
            stop: stop_tx,
            tasks,
            ops,
            invocations,
            timeline: timeline.clone(),
        })
    }
}

async fn wait_stopped(stop: &mut watch::Receiver<bool>, grace: Duration) {
    loop {
        if *stop.borrow() {
            // Give an in-flight operation a moment to finish before giving up.
            tokio::time::sleep(grace).await;
            return;
        }
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A workload in progress.
pub struct RunningWorkload {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    ops: Arc<Mutex<Vec<Op>>>,
    invocations: Vec<Arc<Invocation>>,
    timeline: Timeline,
}

impl RunningWorkload {
    /// The operations so far (for live recovery detection): those
    /// completed, and each one still running as `unknown`, completed now
    /// (a client hung across a heal must show as not served yet, not be
    /// missing).
    pub fn snapshot(&self) -> History {
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let now = self.timeline.now();
        ops.extend(
            self.invocations
                .iter()
                .enumerate()
                .filter_map(|(p, i)| i.pending(p as u32, now, "still running")),
        );
        History::new(ops)
    }

    /// Stops every client and returns the history.
    pub async fn stop(mut self) -> History {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        let ops = std::mem::take(&mut *self.ops.lock().unwrap_or_else(|e| e.into_inner()));
        History::new(ops)
    }
}

impl Drop for RunningWorkload {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpStatus;

    /// Adds `seq` to a set; the second add hangs (a write stuck in a
    /// failover, applied by the server but never answered). `declare:
    /// false` is a client that forgot to declare, hung from its first op.
    struct Hanging {
        declare: bool,
    }

    #[async_trait::async_trait]
    impl Workload for Hanging {
        type Client = Hanging;
        async fn open(&self, _process: u32) -> Result<Hanging> {
            Ok(Hanging {
                declare: self.declare,
            })
        }
    }

    #[async_trait::async_trait]
    impl Client for Hanging {
        async fn step(&mut self, seq: u64, invocation: &Invocation) -> Op {
            if !self.declare {
                std::future::pending::<()>().await;
            }
            invocation.declare(Op::invoke("add").with_key("set").with_value(seq as i64));
            if seq == 1 {
                std::future::pending::<()>().await;
            }
            Op::ok("add").with_key("set").with_value(seq as i64)
        }
    }

    /// The history that fooled the old runner (issue 12): `add 0` ok, then
    /// `add 1` still running at stop was dropped (the history held one op),
    /// so a final read holding 1 showed a phantom. It must be recorded
    /// `unknown`, with its key and value.
    #[tokio::test]
    async fn an_op_running_at_stop_is_recorded_unknown_not_dropped() {
        let timeline = Timeline::new();
        let running = WorkloadRunner::new(Hanging { declare: true })
            .stop_grace(Duration::from_millis(200))
            .start_on(&timeline)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let stopped_at = timeline.now();
        let h = running.stop().await;
        assert_eq!(h.len(), 2, "nothing dropped: {h:?}");
        let hung = &h.ops[1];
        assert_eq!(
            (
                hung.f.as_str(),
                hung.key.as_deref(),
                hung.value,
                hung.status
            ),
            ("add", Some("set"), Some(1), OpStatus::Unknown)
        );
        assert!(hung.invoke < stopped_at, "its invocation time is kept");
        assert!(hung.complete >= stopped_at, "completed when given up on");
        assert!(
            hung.error.as_deref().unwrap_or("").contains("stop"),
            "{hung:?}"
        );
    }

    /// While it runs, the hung op shows in a snapshot as not served yet.
    #[tokio::test]
    async fn a_snapshot_shows_the_ops_still_running() {
        let running = WorkloadRunner::new(Hanging { declare: true })
            .stop_grace(Duration::ZERO)
            .start_on(&Timeline::new())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let snap = running.snapshot();
        assert_eq!(snap.len(), 2, "{snap:?}");
        assert_eq!(
            (snap.ops[1].value, snap.ops[1].status),
            (Some(1), OpStatus::Unknown)
        );
        assert_eq!(running.stop().await.len(), 2);
    }

    /// A client that never declared its op still leaves a record, named
    /// as the bug it is, rather than a gap.
    #[tokio::test]
    async fn an_undeclared_op_at_stop_is_recorded_as_undeclared() {
        let running = WorkloadRunner::new(Hanging { declare: false })
            .stop_grace(Duration::ZERO)
            .start_on(&Timeline::new())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let h = running.stop().await;
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h.ops[0].f, UNDECLARED);
        assert_eq!(h.ops[0].status, OpStatus::Unknown);
        let e = h.ops[0].error.as_deref().unwrap_or("");
        assert!(e.contains("still running") && e.contains("declare"), "{e}");
    }
}
