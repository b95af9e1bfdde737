use harness::prelude::*;

const BUDGET: &str = "90s";

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = BUDGET)]
async fn budget_from_a_const(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
