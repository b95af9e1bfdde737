use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = after, budget = "5m", timeout = "2m")]
async fn budget_longer_than_timeout(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
