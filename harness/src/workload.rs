//! Workloads: concurrent clients that drive a system at a controlled rate
//! and record every operation into a [`History`].
//!
//! A [`Workload`] opens [`Client`]s; a client performs one operation per
//! [`Client::step`] and returns its record; the [`WorkloadRunner`] stamps
//! invocation and completion times and the phase, paces the clients, and
//! collects the history. Workload, nemesis and checker stay separate values,
//! as in Jepsen.

use crate::history::{History, Op};
use crate::lab::LabCtx;
use anyhow::Result;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One client of a workload.
#[async_trait::async_trait]
pub trait Client: Send + 'static {
    /// Performs the next operation (`seq` counts this client's operations
    /// from 0) and returns its record; times and phase are stamped by the
    /// runner. Must not panic on system errors: classify them into
    /// `fail` (definitely not done) or `unknown` (maybe done).
    async fn step(&mut self, seq: u64) -> Op;
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
}

impl<W: Workload> WorkloadRunner<W> {
    /// One client, as fast as it goes.
    pub fn new(workload: W) -> Self {
        WorkloadRunner {
            workload: Arc::new(workload),
            clients: 1,
            rate: None,
            max_ops: None,
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

    /// Opens the clients and starts them; returns once all are open.
    pub async fn start(self, lab: &LabCtx) -> Result<RunningWorkload> {
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
        for (p, mut client) in clients.into_iter().enumerate() {
            let lab = lab.clone();
            let ops = ops.clone();
            let mut stop = stop_rx.clone();
            let max_ops = self.max_ops;
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
                    let phase = lab.timeline().current_phase();
                    let mut op = tokio::select! {
                        op = client.step(seq) => op,
                        // A client stuck past the stop signal is given up on:
                        // its operation is not recorded, as it was never
                        // completed (and never acknowledged).
                        _ = wait_stopped(&mut stop) => break,
                    };
                    op.process = p as u32;
                    op.invoke = invoke;
                    op.complete = lab.now();
                    op.phase = phase;
                    ops.lock().unwrap_or_else(|e| e.into_inner()).push(op);
                    seq += 1;
                }
            }));
        }
        Ok(RunningWorkload {
            stop: stop_tx,
            tasks,
            ops,
        })
    }
}

async fn wait_stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            // Give an in-flight operation a moment to finish before giving up.
            tokio::time::sleep(Duration::from_secs(5)).await;
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
}

impl RunningWorkload {
    /// The operations completed so far (for live recovery detection).
    pub fn snapshot(&self) -> History {
        History::new(self.ops.lock().unwrap_or_else(|e| e.into_inner()).clone())
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
