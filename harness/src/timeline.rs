//! The timeline of one incident: a monotonic clock and the events on it.
//!
//! Everything that happens to the lab lands here (phases, faults, node
//! lifecycle from the Docker events stream, leader changes, custom marks),
//! so a report, a picture and a failed test's message all tell one story.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// A named phase began (`steady`, `fault`, `mitigate`, `recover`, ...).
    PhaseStarted {
        /// The phase's name.
        phase: String,
    },
    /// A phase ended.
    PhaseEnded {
        /// The phase's name.
        phase: String,
    },
    /// A fault is in force (its effect verified).
    FaultInjected {
        /// The fault's kind, e.g. `partition`.
        fault: String,
        /// What was done to whom.
        description: String,
    },
    /// A fault was healed.
    FaultHealed {
        /// The fault's kind.
        fault: String,
        /// What was undone.
        description: String,
    },
    /// A node's container started.
    NodeStarted,
    /// A node's container stopped on request.
    NodeStopped,
    /// A node's process died (exit code when known).
    NodeDied {
        /// The exit code.
        exit_code: Option<i64>,
    },
    /// The kernel OOM-killed a process in a node's memory cgroup.
    OomKilled,
    /// A node was paused (frozen).
    NodePaused,
    /// A node was unpaused.
    NodeUnpaused,
    /// The leader (Consul) or primary (MongoDB) changed.
    LeaderChanged {
        /// The old leader, if there was one.
        from: Option<String>,
        /// The new leader, or `None` while there is none.
        to: Option<String>,
    },
    /// A mitigation was applied (what operators did on the day).
    Mitigation {
        /// What was done.
        description: String,
    },
    /// Anything else worth a mark.
    Custom {
        /// A short label.
        label: String,
    },
}

/// One event at one instant of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Time since the lab started.
    #[serde(with = "crate::duration::serde_secs")]
    pub at: Duration,
    /// The node it concerns, by its lab name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// A named span of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseSpan {
    /// The phase's name.
    pub name: String,
    /// When it began.
    #[serde(with = "crate::duration::serde_secs")]
    pub start: Duration,
    /// When it ended (the end of the run if it never ended explicitly).
    #[serde(with = "crate::duration::serde_secs")]
    pub end: Duration,
}

#[derive(Debug)]
struct Inner {
    origin: Instant,
    events: Mutex<Vec<Event>>,
    current_phase: Mutex<Option<String>>,
}

/// A shared, append-only timeline; cloning shares it.
#[derive(Clone, Debug)]
pub struct Timeline {
    inner: Arc<Inner>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Timeline {
    /// A timeline whose clock starts now.
    pub fn new() -> Self {
        Timeline {
            inner: Arc::new(Inner {
                origin: Instant::now(),
                events: Mutex::new(Vec::new()),
                current_phase: Mutex::new(None),
            }),
        }
    }

    /// Time since the timeline started (monotonic).
    pub fn now(&self) -> Duration {
        self.inner.origin.elapsed()
    }

    /// The instant the timeline started.
    pub fn origin(&self) -> Instant {
        self.inner.origin
    }

    /// Records an event now.
    pub fn record(&self, node: Option<&str>, kind: EventKind) {
        self.record_at(self.now(), node, kind);
    }

    /// Records an event at a given time (events from Docker carry their own).
    pub fn record_at(&self, at: Duration, node: Option<&str>, kind: EventKind) {
        let mut events = self.inner.events.lock().unwrap_or_else(|p| p.into_inner());
        let event = Event {
            at,
            node: node.map(str::to_string),
            kind,
        };
        // Keep the list ordered even when a late event arrives.
        let pos = events.partition_point(|e| e.at <= at);
        events.insert(pos, event);
    }

    /// Ends the current phase (if any) and starts `name`.
    pub fn phase(&self, name: &str) {
        let mut current = self
            .inner
            .current_phase
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = self.now();
        if let Some(prev) = current.take() {
            self.record_at(now, None, EventKind::PhaseEnded { phase: prev });
        }
        self.record_at(
            now,
            None,
            EventKind::PhaseStarted {
                phase: name.to_string(),
            },
        );
        *current = Some(name.to_string());
    }

    /// The phase in force now, if any.
    pub fn current_phase(&self) -> Option<String> {
        self.inner
            .current_phase
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A copy of every event so far, in time order.
    pub fn events(&self) -> Vec<Event> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The phases as spans; a phase still open ends at `end`.
    pub fn phases(&self, end: Duration) -> Vec<PhaseSpan> {
        phases_of(&self.events(), end)
    }

    /// The phase in force at time `at`.
    pub fn phase_at(&self, at: Duration) -> Option<String> {
        self.phases(self.now().max(at))
            .into_iter()
            .rev()
            .find(|p| p.start <= at)
            .map(|p| p.name)
    }

    /// The timeline as text, one event a line, for a failing test's message.
    pub fn render(&self) -> String {
        render(&self.events())
    }
}

/// Turns phase start/end events into spans; an open phase ends at `end`.
pub fn phases_of(events: &[Event], end: Duration) -> Vec<PhaseSpan> {
    let mut spans: Vec<PhaseSpan> = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::PhaseStarted { phase } => spans.push(PhaseSpan {
                name: phase.clone(),
                start: e.at,
                end,
            }),
            EventKind::PhaseEnded { phase } => {
                if let Some(s) = spans.iter_mut().rev().find(|s| &s.name == phase) {
                    s.end = e.at;
                }
            }
            _ => {}
        }
    }
    spans
}

/// Renders events as `  12.345s  node  what` lines.
pub fn render(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        let what = match &e.kind {
            EventKind::PhaseStarted { phase } => format!("phase `{phase}` started"),
            EventKind::PhaseEnded { phase } => format!("phase `{phase}` ended"),
            EventKind::FaultInjected { fault, description } => {
                format!("fault {fault} injected: {description}")
            }
            EventKind::FaultHealed { fault, description } => {
                format!("fault {fault} healed: {description}")
            }
            EventKind::NodeStarted => "started".into(),
            EventKind::NodeStopped => "stopped".into(),
            EventKind::NodeDied { exit_code } => match exit_code {
                Some(c) => format!("died (exit {c})"),
                None => "died".into(),
            },
            EventKind::OomKilled => "OOM-killed".into(),
            EventKind::NodePaused => "paused".into(),
            EventKind::NodeUnpaused => "unpaused".into(),
            EventKind::LeaderChanged { from, to } => format!(
                "leader {} -> {}",
                from.as_deref().unwrap_or("none"),
                to.as_deref().unwrap_or("none")
            ),
            EventKind::Mitigation { description } => format!("mitigation: {description}"),
            EventKind::Custom { label } => label.clone(),
        };
        out.push_str(&format!(
            "  {:>9.3}s  {:<14} {}\n",
            e.at.as_secs_f64(),
            e.node.as_deref().unwrap_or("-"),
            what
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_each_other() {
        let t = Timeline::new();
        t.phase("steady");
        t.record(Some("n1"), EventKind::NodeStarted);
        t.phase("fault");
        let spans = t.phases(t.now());
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].name, "steady");
        assert_eq!(spans[1].name, "fault");
        assert!(spans[0].end <= spans[1].start);
        assert_eq!(t.current_phase().as_deref(), Some("fault"));
    }

    #[test]
    fn late_events_are_kept_in_order() {
        let t = Timeline::new();
        t.record_at(Duration::from_secs(5), None, EventKind::NodeStarted);
        t.record_at(Duration::from_secs(2), None, EventKind::NodeStopped);
        let ev = t.events();
        assert_eq!(ev[0].kind, EventKind::NodeStopped);
        assert!(t.render().contains("stopped"));
    }

    #[test]
    fn phase_at_finds_the_span() {
        let events = vec![
            Event {
                at: Duration::from_secs(0),
                node: None,
                kind: EventKind::PhaseStarted {
                    phase: "steady".into(),
                },
            },
            Event {
                at: Duration::from_secs(10),
                node: None,
                kind: EventKind::PhaseEnded {
                    phase: "steady".into(),
                },
            },
            Event {
                at: Duration::from_secs(10),
                node: None,
                kind: EventKind::PhaseStarted {
                    phase: "fault".into(),
                },
            },
        ];
        let spans = phases_of(&events, Duration::from_secs(20));
        assert_eq!(spans[0].end, Duration::from_secs(10));
        assert_eq!(spans[1].end, Duration::from_secs(20));
    }
}
