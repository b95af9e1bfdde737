//! Removing what a run made, however it ends.
//!
//! - normal end, failure, panic, timeout: the runner calls [`teardown_run`];
//! - Ctrl-C / SIGTERM / SIGHUP: a process-wide handler tears down every
//!   live run of this process, then exits;
//! - a process killed outright (SIGKILL): the next run's [`sweep_orphans`]
//!   removes objects whose owner process is gone.

use crate::labels;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, Once, OnceLock};

fn live() -> &'static Mutex<HashSet<String>> {
    static LIVE: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Marks a run as live in this process and makes sure the signal handler
/// that tears live runs down is installed.
pub(crate) fn register_live(run_id: &str) {
    install_signal_handler();
    live()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(run_id.to_string());
}

fn unregister_live(run_id: &str) {
    live()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(run_id);
}

fn install_signal_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        std::thread::Builder::new()
            .name("incident-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    let runs: Vec<String> = live()
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .cloned()
                        .collect();
                    eprintln!(
                        "incident: signal {sig}: tearing down {} live lab(s) before exiting",
                        runs.len()
                    );
                    let _ = crate::docker::blocking(|docker| {
                        Box::pin(async move {
                            for run in &runs {
                                teardown_run(docker, run).await;
                            }
                        })
                    });
                    std::process::exit(128 + sig);
                }
            })
            .ok();
    });
}

fn label_filter(key: &str, value: Option<&str>) -> HashMap<String, Vec<String>> {
    let f = match value {
        Some(v) => format!("{key}={v}"),
        None => key.to_string(),
    };
    HashMap::from([("label".to_string(), vec![f])])
}

/// Removes every container (force, with volumes) and then every network
/// labelled with `run_id`. Returns what could not be removed, as messages;
/// never panics.
pub async fn teardown_run(docker: &Docker, run_id: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let filters = label_filter(labels::RUN, Some(run_id));
    // Sidecars share a node's network namespace: remove them first.
    for pass in 0..2 {
        let list = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await;
        let containers = match list {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("listing containers of run {run_id}: {e}"));
                break;
            }
        };
        let (sidecars, rest): (Vec<_>, Vec<_>) = containers.into_iter().partition(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(labels::ROLE))
                .map(|r| r == "sidecar")
                .unwrap_or(false)
        });
        let removals = sidecars
            .into_iter()
            .chain(rest)
            .filter_map(|c| c.id)
            .map(|id| {
                let docker = docker.clone();
                async move {
                    let opts = RemoveContainerOptionsBuilder::default()
                        .force(true)
                        .v(true)
                        .build();
                    match docker.remove_container(&id, Some(opts)).await {
                        Ok(()) => None,
                        Err(bollard::errors::Error::DockerResponseServerError {
                            status_code: 404,
                            ..
                        }) => None,
                        Err(e) => Some(format!("removing container {id}: {e}")),
                    }
                }
            });
        let failed: Vec<String> = futures::future::join_all(removals)
            .await
            .into_iter()
            .flatten()
            .collect();
        if failed.is_empty() || pass == 1 {
            problems.extend(failed);
            break;
        }
    }
    match docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
    {
        Ok(nets) => {
            for n in nets {
                let Some(id) = n.id else { continue };
                if let Err(e) = docker.remove_network(&id).await {
                    problems.push(format!("removing network {id}: {e}"));
                }
            }
        }
        Err(e) => problems.push(format!("listing networks of run {run_id}: {e}")),
    }
    unregister_live(run_id);
    for p in &problems {
        eprintln!("incident: teardown of run {run_id}: {p}");
    }
    problems
}

/// Removes containers and networks of runs whose owner process is dead.
/// Returns the run ids swept.
pub async fn sweep_orphans(docker: &Docker) -> Vec<String> {
    let filters = label_filter(labels::HARNESS, None);
    let mut dead_runs: HashSet<String> = HashSet::new();
    let mut consider = |labels_of: Option<&HashMap<String, String>>| {
        let Some(l) = labels_of else { return };
        let (Some(run), Some(owner)) = (l.get(labels::RUN), l.get(labels::OWNER)) else {
            return;
        };
        if !labels::owner_alive(owner) {
            dead_runs.insert(run.clone());
        }
    };
    if let Ok(containers) = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
    {
        for c in &containers {
            consider(c.labels.as_ref());
        }
    }
    if let Ok(nets) = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::default()
                .filters(&filters)
                .build(),
        ))
        .await
    {
        for n in &nets {
            consider(n.labels.as_ref());
        }
    }
    let mut swept: Vec<String> = dead_runs.into_iter().collect();
    swept.sort();
    for run in &swept {
        eprintln!("incident: sweeping run {run} left behind by a process that is gone");
        teardown_run(docker, run).await;
    }
    swept
}

/// Sweeps once per process, before the first lab.
pub(crate) async fn sweep_once(docker: &Docker) {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    // Each test has its own runtime; a OnceCell completed on one is fine to
    // read from another (it holds no runtime resources).
    SWEPT
        .get_or_init(|| async {
            sweep_orphans(docker).await;
        })
        .await;
}
