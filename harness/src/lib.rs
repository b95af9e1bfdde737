//! # incident-harness
//!
//! Executable postmortems: an [`incident`] test brings up real systems in
//! Docker containers (the [`Lab`]), drives a recorded workload
//! ([`workload`], [`history`]), injects the faults a postmortem documents
//! ([`fault`]), heals them, and judges the run ([`checker`]) into a
//! [`report::Report`] whose stable part is snapshot-asserted with insta.
//!
//! The vocabulary (incident, lab, fixture, fault, workload, checker, phase,
//! report) is the one of `docs/architecture.md` (its Vocabulary section);
//! each concept has one module.
//!
//! The public contract is [`prelude`] and the modules it names. The rest
//! is public only where the `incident` binary or tests outside
//! `#[incident]` need it, and hidden from the documentation: `cli`,
//! `runner`, `docker`, `labels`. The code `#[incident]` generates
//! names one path only, `__macro_support`.

pub mod catalog;
pub mod checker;
#[doc(hidden)]
pub mod cli;
mod console;
#[doc(hidden)]
pub mod docker;
pub mod duration;
pub mod fault;
pub mod history;
pub mod images;
pub mod lab;
#[doc(hidden)]
pub mod labels;
pub mod mitigations;
mod paths;
pub mod postmortem;
pub mod record;
pub mod report;
#[doc(hidden)]
pub mod runner;
pub mod spec;
pub mod timeline;
pub mod toxiproxy;
pub mod verdict;
pub mod workload;

pub use harness_macros::incident;
pub use lab::{ContainerSpec, Fixture, Lab, LabCtx, Node, WaitFor};
pub use spec::{IncidentSpec, Requirement, Variant};

/// What an incident body returns: `Ok(())`, or the error that ended it.
pub type Outcome = anyhow::Result<()>;

/// What the code `#[incident]` generates calls, and nothing else: the
/// harness's modules can move without the macro changing.
#[doc(hidden)]
pub mod __macro_support {
    pub use crate::lab::Lab;
    pub use crate::runner::run;
    pub use crate::spec::{binary_id, IncidentSpec, Requirement, Variant};
    pub use crate::Outcome;
}

/// Everything an incident test usually needs, in one import.
pub mod prelude {
    pub use crate::checker::{self, Verdict};
    pub use crate::fault::{self, Fault, FaultGuard, Role, Target};
    pub use crate::history::{History, Op, OpStatus};
    pub use crate::incident;
    pub use crate::lab::{
        ContainerSpec, Fixture, Lab, LabCtx, Node, Testcontainer, TestcontainerHandle, WaitFor,
    };
    pub use crate::report::Report;
    pub use crate::spec::{IncidentSpec, Requirement, Variant};
    pub use crate::workload::{Client, Invocation, Workload, WorkloadRunner};
    pub use crate::Outcome;
    pub use std::time::Duration;
}
