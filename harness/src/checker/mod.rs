//! Checkers: pure functions from histories (and final state) to verdicts,
//! all of one shape ([`Checker`]): they return checks, the caller records.
//!
//! - [`integrity`]: sets, registers, queues and deliveries: acknowledged
//!   writes lost, values never written, duplicates, stale reads;
//! - [`availability`]: time to detect, time without service, recovery time
//!   against a budget;
//! - [`latency`]: percentiles per phase.
//!
//! Verdicts merge like Jepsen's `:valid?`: false beats unknown beats true.
//!
//! A check that cannot be decided at this scale (a signature that needs
//! more cores than the machine has) is [`Verdict::Unknown`] with an
//! [`Inconclusive`] that says what was not reproduced, what was measured
//! and what deciding it would need, and states whether the incident passes
//! with it undecided ([`UnknownPolicy`]): [`Check::inconclusive`]. The
//! policy is the scenario's to state, per check, because only it knows the
//! check's scale limit; any other unknown (no policy) fails the incident,
//! as it always did. The report's verdict stays Jepsen's merge (unknown),
//! whatever the policy.

pub mod availability;
pub mod integrity;
pub mod latency;
pub mod linearizable;

pub use crate::verdict::{Check, CheckKind, Inconclusive, UnknownPolicy, Verdict};

use crate::history::History;

/// The one checker shape (Jepsen's `checker/check`): read a history, return
/// checks. A checker never writes into the lab; the caller records what it
/// returns (`lab.checks_from(checker.checks(&history))`).
///
/// Each checker also has an inherent `check` with its richer result
/// ([`integrity::IntegrityChecks`], one recovery [`Check`]); this trait is
/// what they have in common, so checkers compose ([`compose`]).
pub trait Checker {
    /// The checks this checker makes of `history`.
    fn checks(&self, history: &History) -> Vec<Check>;
}

/// Jepsen's `compose`: every checker's checks of one history, in order.
pub fn compose(checkers: &[&dyn Checker], history: &History) -> Vec<Check> {
    checkers.iter().flat_map(|c| c.checks(history)).collect()
}
