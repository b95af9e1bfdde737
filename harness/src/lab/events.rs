//! Docker's event stream for one run, onto the timeline: starts, deaths
//! (with exit codes), OOM kills, pauses.

use crate::labels;
use crate::timeline::{EventKind, Timeline};
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Follows container events labelled with `run_id` until aborted.
pub(crate) async fn follow(docker: Docker, run_id: String, timeline: Timeline) {
    // The timeline's origin in wall-clock nanoseconds, to place each event
    // at the time Docker saw it rather than when we read it.
    let origin_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(timeline.now());
    let filters: HashMap<String, Vec<String>> = HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "label".to_string(),
            vec![format!("{}={run_id}", labels::RUN)],
        ),
    ]);
    let opts = EventsOptionsBuilder::default().filters(&filters).build();
    let mut stream = docker.events(Some(opts));
    let prefix = format!("inc-{run_id}-");
    while let Some(Ok(ev)) = stream.next().await {
        let Some(action) = ev.action.as_deref() else {
            continue;
        };
        let attrs = ev.actor.and_then(|a| a.attributes).unwrap_or_default();
        if attrs.get(labels::ROLE).map(String::as_str) == Some("sidecar") {
            continue;
        }
        let node = attrs
            .get("name")
            .map(|n| n.strip_prefix(&prefix).unwrap_or(n).to_string());
        let kind = match action {
            "start" => EventKind::NodeStarted,
            "die" => EventKind::NodeDied {
                exit_code: attrs.get("exitCode").and_then(|c| c.parse().ok()),
            },
            "oom" => EventKind::OomKilled,
            "pause" => EventKind::NodePaused,
            "unpause" => EventKind::NodeUnpaused,
            _ => continue,
        };
        let at = ev
            .time_nano
            .map(|n| Duration::from_nanos(n.max(0) as u64).saturating_sub(origin_unix))
            .unwrap_or_else(|| timeline.now());
        timeline.record_at(at, node.as_deref(), kind);
    }
}
