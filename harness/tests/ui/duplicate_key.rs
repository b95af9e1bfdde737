use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s", budget = "2m")]
async fn budget_twice(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
