//! Checkers: pure functions from histories (and final state) to verdicts.
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
