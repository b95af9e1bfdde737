use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = 90)]
async fn budget_as_integer(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
