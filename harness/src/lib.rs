//! # incident-harness
//!
//! Executable postmortems: an [`incident`] test brings up real systems in
//! Docker containers (the [`Lab`]), drives a recorded workload
//! ([`workload`], [`history`]), injects the faults a postmortem documents
//! ([`fault`]), heals them, and judges the run ([`checker`]) into a
//! [`report::Report`] whose stable part is snapshot-asserted with insta.
//!
//! The vocabulary (incident, lab, fixture, fault, workload, checker, phase,
//! report) is the one of `design.md`; each concept has one module.

pub mod checker;
pub mod cli;
pub mod console;
pub mod docker;
pub mod duration;
pub mod fault;
pub mod history;
pub mod images;
pub mod lab;
pub mod labels;
pub mod paths;
pub mod postmortem;
pub mod record;
pub mod report;
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

/// Everything an incident test usually needs, in one import.
pub mod prelude {
    pub use crate::checker::{self, Verdict};
    pub use crate::fault::{self, Fault, FaultGuard, Role, Target};
    pub use crate::history::{History, Op, OpStatus};
    pub use crate::incident;
    pub use crate::lab::{ContainerSpec, Fixture, Lab, LabCtx, Node, WaitFor};
    pub use crate::report::Report;
    pub use crate::spec::{IncidentSpec, Requirement, Variant};
    pub use crate::workload::{Client, Invocation, Workload, WorkloadRunner};
    pub use crate::Outcome;
    pub use std::time::Duration;
}
