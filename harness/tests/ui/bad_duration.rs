use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90")]
async fn budget_without_unit(_lab: &mut Lab) -> Outcome {
    Ok(())
}

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s", timeout = "5min")]
async fn timeout_unknown_unit(_lab: &mut Lab) -> Outcome {
    Ok(())
}

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "1.5m")]
async fn fractional_budget(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
