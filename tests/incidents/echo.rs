//! The smallest real incident: a TCP echo service stopped and started again
//! (see `scenarios::echo`). It exercises the lab, a recorded workload, a
//! verified fault, the integrity and availability checkers and the report
//! on one container of `incident/base`.

use harness::prelude::*;

/// The service comes back within the budget, and no echo was altered or
/// invented.
#[incident(
    postmortem = "harness-echo",
    variant = after,
    budget = "30s",
    timeout = "3m",
    requires = [base],
    tags = [smoke]
)]
async fn echo_stopped_and_started(lab: &mut Lab) -> Outcome {
    let report = scenarios::echo::run(lab, scenarios::echo::Plan::ci()).await?;
    assert_stable_snapshot!("echo_stopped_and_started", report);
    Ok(())
}
