use harness::prelude::*;

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s", seed = "42")]
async fn quoted_seed(_lab: &mut Lab) -> Outcome {
    Ok(())
}

#[incident(postmortem = "roblox-2021-consul", variant = before, budget = "90s", seed = -1)]
async fn negative_seed(_lab: &mut Lab) -> Outcome {
    Ok(())
}

fn main() {}
